/* model.h — loaded model: architecture table entry, hyper-parameters, weight tensors
 * (pointers into the mapped GGUF, never copied) and the vocabulary (src/tokenizer).
 * The forward pass lives in forward.c against the op table in src/backend/backend.h. */
#ifndef LIR_MODEL_H
#define LIR_MODEL_H

#include <stdint.h>
#include <stdbool.h>
#include "lir.h"
#include "gguf/gguf.h"
#include "quant/quant.h"

enum lir_rope_mode { LIR_ROPE_NORM = 0, LIR_ROPE_NEOX = 2 };

/* One architecture = a table entry (this struct) + its graph in forward.c. */
struct lir_arch {
    const char *name;          /* general.architecture */
    enum lir_rope_mode rope;
    bool qkv_bias;             /* qwen2 */
    bool qk_norm;              /* qwen3: RMSNorm over each head of q and k */
    bool bert;                 /* BERT-style encoder: learned positions + token types, LayerNorm
                                  with bias after each block (post-norm), GELU FFN, non-causal
                                  attention, no output head (embeddings only) */
};
const struct lir_arch *lir_arch_find(const char *name, size_t len);

/* A 2-D weight view: ne0 elements per row (contiguous), ne1 rows. */
struct lir_tensor {
    int32_t type;
    int64_t ne0, ne1;
    size_t row_size;           /* bytes per row */
    const void *data;          /* inside the mapping */
    const char *name;          /* valid while the model lives */
};

struct lir_layer {
    struct lir_tensor attn_norm;   /* (n_embd) f32 */
    struct lir_tensor wq;          /* (n_embd -> n_head*head_dim) */
    struct lir_tensor wk;          /* (n_embd -> n_head_kv*head_dim) */
    struct lir_tensor wv;          /* (n_embd -> n_head_kv*head_dim) */
    struct lir_tensor wo;          /* (n_head*head_dim -> n_embd) */
    struct lir_tensor bq, bk, bv;  /* qwen2 biases, f32; data NULL when absent */
    struct lir_tensor q_norm, k_norm; /* qwen3 (head_dim) f32; data NULL when absent */
    struct lir_tensor ffn_norm;    /* (n_embd) f32 */
    struct lir_tensor w_gate;      /* (n_embd -> n_ff) */
    struct lir_tensor w_up;        /* (n_embd -> n_ff) */
    struct lir_tensor w_down;      /* (n_ff -> n_embd) */
    /* bert only (data NULL otherwise) */
    struct lir_tensor bo;          /* (n_embd) f32 attention output bias */
    struct lir_tensor attn_out_norm, attn_out_norm_b;   /* (n_embd) f32 LayerNorm after attention */
    struct lir_tensor b_up;        /* (n_ff) f32 */
    struct lir_tensor b_down;      /* (n_embd) f32 */
    struct lir_tensor layer_out_norm, layer_out_norm_b; /* (n_embd) f32 LayerNorm after the FFN */
};

/* <arch>.pooling_type, llama.cpp's numbering (enum lir_pooling in lir.h). */
enum { LIR_POOL_UNSET = -1, LIR_POOL_NONE = 0, LIR_POOL_MEAN = 1, LIR_POOL_CLS = 2, LIR_POOL_LAST = 3 };

struct lir_hparams {
    int32_t n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff;
    int32_t n_rot;             /* rope.dimension_count (defaults to head_dim) */
    float rms_eps, rope_base, rope_freq_scale;
    float norm_eps;            /* bert: attention.layer_norm_epsilon (LayerNorm) */
    int32_t pooling;           /* <arch>.pooling_type (LIR_POOL_*; NONE when absent) */
    bool causal;               /* <arch>.attention.causal (default true; bert false) */
};

struct lir_model {
    lir_gguf *gguf;
    const struct lir_arch *arch;
    struct lir_hparams hp;
    char arch_name[32];
    char name[128];
    struct lir_tensor tok_embd;    /* (n_embd) x n_vocab rows */
    struct lir_tensor output_norm; /* (n_embd) f32 */
    struct lir_tensor output;      /* (n_embd -> n_vocab); == tok_embd when tied */
    struct lir_tensor rope_freqs;  /* (n_rot/2) f32 frequency divisors; data NULL when absent */
    bool tied_output;
    /* bert only (data NULL otherwise) */
    struct lir_tensor tok_types;   /* (n_embd) x n_token_types rows; row 0 is added to every token */
    struct lir_tensor pos_embd;    /* (n_embd) x n_ctx_train rows */
    struct lir_tensor tok_norm, tok_norm_b; /* (n_embd) f32 LayerNorm of the summed embeddings */
    struct lir_layer *layers;      /* n_layer */
    uint64_t n_params, weight_bytes;
    int32_t bos_id, eos_id;
    struct lir_vocab *vocab;       /* NULL when the tokenizer metadata is missing or unusable */
    enum lir_status vocab_status;  /* why vocab is NULL (LIR_OK when it is not) */
    char vocab_err[LIR_ERR_MAX];   /* ... and the message */
    char *chat_template;           /* tokenizer.chat_template, NUL-terminated copy; NULL when absent */
};

/* Memory estimate shared by `lir show` and the loader's resource check. */
void lir__model_estimate(const struct lir_model *m, int32_t n_ctx, int32_t n_batch,
                         struct lir_mem_estimate *out);

#endif /* LIR_MODEL_H */
