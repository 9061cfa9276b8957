/* gguf_gen.h — random-weight model generator (the library part of lir-gen).
 *
 * Writes a GGUF file that llama.cpp loads as arch llama, qwen2, qwen3 or bert: the metadata
 * keys, tensor names and shapes of llama.cpp's converter (nomic-bert: rotary positions, fused
 * attn_qkv, SwiGLU FFN, no biases, as nomic-embed-text), a synthetic vocab (SentencePiece
 * style, tokenizer.ggml.model "llama"; for bert a WordPiece one, "bert", with [PAD] [UNK]
 * [CLS] [SEP] [MASK]), and seeded random weights scaled so that next-token distributions are
 * peaked. Same parameters + seed => same bytes (independent of threads).
 * Tensors are generated and quantized row by row while the file is written, so memory
 * stays bounded for real-size shapes. */
#ifndef LIR_GGUF_GEN_H
#define LIR_GGUF_GEN_H

#include <stdbool.h>
#include <stdint.h>
#include "util/util.h"

enum lir_gen_arch { LIR_GEN_LLAMA, LIR_GEN_QWEN2, LIR_GEN_QWEN3, LIR_GEN_BERT, LIR_GEN_NOMIC_BERT };

/* <arch>.pooling_type values (llama.cpp's enum llama_pooling_type). */
enum { LIR_GEN_POOLING_UNSET = -1, LIR_GEN_POOLING_NONE = 0, LIR_GEN_POOLING_MEAN = 1, LIR_GEN_POOLING_CLS = 2,
       LIR_GEN_POOLING_LAST = 3 };

struct lir_gen_params {
    enum lir_gen_arch arch;
    char name[64];           /* general.name */
    int64_t n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_vocab, n_ctx;
    float rope_base, rms_eps;  /* bert: rms_eps is written as attention.layer_norm_epsilon */
    int32_t pooling;         /* LIR_GEN_POOLING_*: writes <arch>.pooling_type unless UNSET */
    bool tied;               /* no output.weight: the output projection is token_embd */
    bool rope_llama3;        /* llama3 rope scaling: writes rope_freqs.weight */
    float rope_factor, rope_low, rope_high;
    int64_t rope_orig_ctx;
    int32_t type;            /* enum lir_type of the weight matrices */
    bool mix_m;              /* Q4_K_M / Q5_K_M rules on top of type (Q4_K or Q5_K) */
    uint64_t seed;
    int n_threads;           /* quantization threads (>= 1) */
};

/* Parses "none" | "mean" | "cls" | "last" into a LIR_GEN_POOLING_* value. */
bool lir_gen_parse_pooling(const char *s, int32_t *out);

/* Fills p from a preset: "tiny", "llama-3.2-1b", "llama-3-8b", "qwen2.5-0.5b", "qwen2.5-7b",
 * "qwen3-0.6b", "qwen3-8b". arch is used by "tiny" (the real presets set their own).
 * Returns LIR_OK or LIR_EINVAL (unknown preset) with a message. */
enum lir_status lir_gen_preset(struct lir_gen_params *p, const char *preset, enum lir_gen_arch arch, lir_err *e);
/* Parses "llama" | "qwen2" | "qwen3" | "bert" | "nomic-bert". */
bool lir_gen_parse_arch(const char *s, enum lir_gen_arch *out);
const char *lir_gen_arch_name(enum lir_gen_arch a);
/* Parses a storage type name: F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K..Q6_K, Q4_K_M, Q5_K_M
 * (case-insensitive). Sets p->type and p->mix_m. */
bool lir_gen_parse_type(const char *s, struct lir_gen_params *p);

/* Type that tensor `name` (row length ne0, layer il or -1) is stored in under p's rules. */
int32_t lir_gen_tensor_type(const struct lir_gen_params *p, const char *name, int64_t ne0, int64_t il);

/* Validates p and writes the model to path (via path.tmp). Returns LIR_OK, LIR_EINVAL (bad
 * shape: message names the parameter), LIR_EIO, LIR_ENOMEM. */
enum lir_status lir_gen_write(const struct lir_gen_params *p, const char *path, lir_err *e);

#endif /* LIR_GGUF_GEN_H */
