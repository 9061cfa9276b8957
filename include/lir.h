/* lir.h — the public C API of lir, a local LLM inference runtime.
 *
 * This is the only public header. Everything under src/ is internal.
 * Conventions:
 *   - Functions return enum lir_status (0 = ok, negative = error). On error a message
 *     naming what was wrong is available from the handle (lir_context_last_error) or, for
 *     functions that create a handle, written to the caller's `err` buffer (may be NULL).
 *   - Each lir_x_create/load has one lir_x_free which accepts NULL.
 *   - Every pointer says who owns it: "borrowed" (the caller keeps it), "takes ownership",
 *     or "valid until ...".
 *   - The library never prints, exits or aborts on bad input.
 */
#ifndef LIR_H
#define LIR_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(LIR_STATIC) || !defined(__GNUC__)
#define LIR_API
#else
#define LIR_API __attribute__((visibility("default")))
#endif

#define LIR_VERSION_MAJOR 0
#define LIR_VERSION_MINOR 1
#define LIR_VERSION_PATCH 0

/* One table makes the enum, its names and messages so they never drift. */
#define LIR_STATUS_MAP(X)                                                   \
    X(OK,              0, "ok")                                             \
    X(EINVAL,         -1, "invalid argument")                               \
    X(ENOMEM,         -2, "out of memory")                                  \
    X(EIO,            -3, "i/o error")                                      \
    X(EFORMAT,        -4, "malformed file")                                 \
    X(EUNSUPPORTED,   -5, "unsupported")                                    \
    X(ENOTFOUND,      -6, "not found")                                      \
    X(ERANGE,         -7, "value out of range")                             \
    X(ECONTEXT,       -8, "context full")                                   \
    X(ECANCELLED,     -9, "cancelled")                                      \
    X(EINTERNAL,     -10, "internal error")                                 \
    X(ETIER,         -11, "feature not in licence tier")                    \
    X(ELICENCE,      -12, "licence rejected")                              \
    X(EBUSY,         -13, "busy: request queue full")                      \
    X(ETIMEDOUT,     -14, "timed out")

enum lir_status {
#define X(name, code, msg) LIR_##name = code,
    LIR_STATUS_MAP(X)
#undef X
};

/* Short description of a status ("invalid argument"). Never NULL; static storage. */
LIR_API const char *lir_status_str(enum lir_status s);
/* Name of a status ("LIR_EINVAL"). Never NULL; static storage. */
LIR_API const char *lir_status_name(enum lir_status s);

typedef int32_t lir_token;

/* ---------------------------------------------------------------- models */

typedef struct lir_model lir_model;

struct lir_model_params {
    bool use_mmap;      /* weights are used in place from the mapped file (default true) */
    bool check_tensors; /* validate tensor data ranges (always on; reserved) */
};
LIR_API struct lir_model_params lir_model_params_default(void);

/* Loads a GGUF model. On success *out owns the model (free with lir_model_free).
 * On error *out is NULL and a message is written to err (may be NULL, err_len bytes).
 * Returns LIR_OK, LIR_EINVAL, LIR_EIO, LIR_EFORMAT, LIR_EUNSUPPORTED, LIR_ENOMEM. */
LIR_API enum lir_status lir_model_load(const char *path, const struct lir_model_params *params,
                                       lir_model **out, char *err, size_t err_len);
LIR_API void lir_model_free(lir_model *model);

/* Hyper-parameters, read-only. The returned strings are valid until lir_model_free. */
struct lir_model_info {
    const char *arch;     /* "llama", "qwen2", "qwen3", "bert" */
    const char *name;     /* general.name or "" */
    int32_t n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff;
    uint64_t n_params;    /* parameter count over all tensors */
    uint64_t file_size;   /* bytes */
    int32_t bos_id, eos_id; /* -1 when absent */
};
LIR_API void lir_model_get_info(const lir_model *model, struct lir_model_info *out);

/* The model's own chat template (GGUF key tokenizer.chat_template), NUL-terminated, for
 * lir_chat_apply; NULL when the model has none (or model is NULL). A template holding a NUL
 * byte ends there. Valid until lir_model_free. */
LIR_API const char *lir_model_chat_template(const lir_model *model);

/* Memory a context of n_ctx tokens needs on the CPU: weights (mapped file), KV cache
 * (f16, one sequence: n_ctx rounded up to whole KV blocks, exactly what lir_context_create
 * allocates) and compute buffers for a batch of n_batch tokens. The loader's resource check
 * uses the same estimator. lir_model_estimate_context with gpu_layers moves what the GPUs hold
 * from the first four (RAM) to the vram_ ones (all devices together); else those are 0. */
struct lir_mem_estimate {
    uint64_t weights, kv_cache, compute, total;                     /* RAM */
    uint64_t vram_weights, vram_kv_cache, vram_compute, vram_total; /* VRAM */
};
LIR_API void lir_model_estimate_memory(const lir_model *model, int32_t n_ctx, int32_t n_batch,
                                       struct lir_mem_estimate *out);

/* --------------------------------------------------------------- contexts */

typedef struct lir_context lir_context;

/* KV cache element type. Q8_0 (blocks of 32 values with an f16 scale, 34 bytes per 32) needs
 * head_dim a multiple of 32 and stores about 53% of F16's bytes. */
enum lir_kv_type {
    LIR_KV_TYPE_F16 = 0,
    LIR_KV_TYPE_Q8_0 = 1,
};

/* Tokens per KV block: the cache is a pool of blocks of this many tokens (all layers, K and V);
 * each sequence has a table of blocks; blocks are shared (reference-counted) between sequences
 * after lir_context_seq_copy. 64 = the attention padding unit, so a sequence's attention runs
 * over whole blocks and a token's result does not depend on the rest of its batch. */
#define LIR_KV_BLOCK_TOKENS 64

/* A zeroed struct is the defaults except n_batch (use lir_context_params_default). */
struct lir_context_params {
    int32_t n_ctx;      /* the most tokens (positions) one sequence may hold; 0 = the model's
                           training context */
    int32_t n_batch;    /* tokens per forward step (default 256) */
    int32_t n_threads;  /* worker threads; 0 = number of CPUs */
    int32_t n_seq_max;  /* sequences, ids 0..n_seq_max-1; 0 = 1 */
    int32_t kv_size;    /* tokens of KV storage shared by all sequences, rounded up to whole blocks;
                           0 = n_seq_max x n_ctx (each sequence can fill its context). Less lets
                           sequences that share prefixes, or are short, use less memory; a decode
                           that needs more blocks than are free fails with LIR_ECONTEXT */
    enum lir_kv_type kv_type; /* LIR_KV_TYPE_F16 */
    int32_t gpu_layers; /* layers on CUDA GPUs, as llama.cpp's n_gpu_layers: 0 = CPU only (default);
                           -1 (all) or > n_layer: every layer, the token embedding and the output head
                           (output norm + matmul); 1..n_layer: the LAST gpu_layers layers, the CPU
                           running the first n_layer - gpu_layers, the embedding and the output head
                           (llama.cpp offloads the output only when n_gpu_layers > n_layer). A GPU
                           layer's weights and KV cache live in its device's VRAM; the CPU's KV pool
                           holds the CPU layers only, and the VRAM cache mirrors its blocks (any
                           n_seq_max; shared prefixes stored once there too). Needs a -DLIR_CUDA=ON
                           build with a device and llama/qwen2/qwen3 (else LIR_EUNSUPPORTED, saying
                           why); such a context refuses lir_context_seq_truncate and KV snapshots
                           (LIR_EUNSUPPORTED). < -1: LIR_EINVAL */
    int32_t main_gpu;   /* CUDA device ordinal (default 0): without tensor_split every GPU layer goes
                           there; it runs the output head when that is offloaded. Outside the devices
                           present: LIR_EINVAL */
    const float *tensor_split; /* borrowed, read during lir_context_create only; NULL = no split.
                           n_tensor_split proportions, one per CUDA device ordinal (finite, >= 0,
                           not all 0, at most LIR_TENSOR_SPLIT_MAX and no more than the devices
                           present, else LIR_EINVAL naming the value): as llama.cpp, the GPU layers
                           go to the devices in ordinal order, device i taking GPU layer j (of N)
                           while j / N < the normalized cumulative sum up to i; {1, 1} halves them.
                           Ignored when gpu_layers is 0 */
    int32_t n_tensor_split;    /* entries of tensor_split; 0 = none */
};
LIR_API struct lir_context_params lir_context_params_default(void);
/* Memory a context with params p (NULL: defaults) needs: weights, KV pool (exactly the bytes
 * lir_context_create allocates for it), compute buffers. With gpu_layers, split by
 * where lir_context_create would put the layers: RAM keeps the CPU layers' weights and KV pool
 * (and the embedding and output head unless fully offloaded); vram_* get the GPU layers' weights
 * and f16 KV cache (and the head and embedding with full offload) plus each GPU share's buffers,
 * exactly what the shares allocate. No device is asked (tensor_split is taken to name devices
 * 0..n_tensor_split-1); parameters lir_context_create would refuse give the CPU-only estimate. */
LIR_API void lir_model_estimate_context(const lir_model *model, const struct lir_context_params *p,
                                        struct lir_mem_estimate *out);

/* Creates an inference context (KV cache + worker pool) over a model, borrowed: the model
 * must outlive the context. Returns LIR_OK, LIR_EINVAL, LIR_ENOMEM. */
LIR_API enum lir_status lir_context_create(lir_model *model, const struct lir_context_params *params,
                                           lir_context **out, char *err, size_t err_len);
LIR_API void lir_context_free(lir_context *ctx);

/* Evaluates n tokens (borrowed) at positions pos..pos+n-1 of sequence 0, in steps of n_batch.
 * pos must be at most the sequence's length; tokens from pos on are dropped first (so decoding
 * at 0 starts the sequence afresh). Logits are kept for the last token, or for every token if
 * all_logits. Returns LIR_OK, LIR_EINVAL (bad token id, n < 1, pos past the sequence's end),
 * LIR_ECONTEXT (past n_ctx, or the KV pool has too few free blocks), LIR_ENOMEM; on error the
 * cache is unchanged. */
LIR_API enum lir_status lir_context_decode(lir_context *ctx, const lir_token *tokens, int32_t n,
                                           int32_t pos, bool all_logits);

/* A batch for lir_context_decode_batch (llama.cpp's llama_batch): token i goes to sequence
 * seq_id[i] at position pos[i]. All arrays borrowed, n_tokens entries each. */
struct lir_batch {
    int32_t n_tokens;
    const lir_token *token;
    const int32_t *pos;     /* NULL: each sequence's next positions in order */
    const int32_t *seq_id;  /* NULL: all sequence 0 */
    const int8_t *logits;   /* non-zero: keep this token's logits; NULL: only the last token's */
};
/* Evaluates every token of the batch, of any number of sequences, in one forward step per
 * n_batch tokens (sequences interleaved freely). The tokens of one sequence must continue it
 * in batch order: its k-th token in the batch at position length + k. A token's logits are
 * bit-identical whatever else shares its batch. Everything is checked before the cache
 * changes. Returns LIR_OK, LIR_EINVAL (n_tokens < 1, NULL token, bad token id, sequence id
 * outside [0, n_seq_max), a position that does not continue its sequence), LIR_ECONTEXT (a
 * sequence past n_ctx, or too few free KV blocks), LIR_EUNSUPPORTED (encoder models), LIR_ENOMEM. */
LIR_API enum lir_status lir_context_decode_batch(lir_context *ctx, const struct lir_batch *batch);
/* Logits (n_vocab floats) of the i-th token of the last decode call (i = -1: the last token with
 * logits). Valid until the next decode call or lir_context_free. NULL if i has no logits. */
LIR_API const float *lir_context_logits(const lir_context *ctx, int32_t i);

/* Sequence operations. seq is in [0, n_seq_max); LIR_EINVAL names a bad one. */
/* Drops every token of seq and releases its blocks (shared ones live on in other sequences). */
LIR_API enum lir_status lir_context_seq_clear(lir_context *ctx, int32_t seq);
/* Makes dst a copy of src (dst's old tokens dropped) sharing src's blocks: the prefix is stored
 * once; the first write into a shared partly filled block copies that block. Returns LIR_OK,
 * LIR_EINVAL. src == dst is a no-op. */
LIR_API enum lir_status lir_context_seq_copy(lir_context *ctx, int32_t src, int32_t dst);
/* Tokens held by seq; -1 for a bad ctx or seq. */
LIR_API int32_t lir_context_seq_length(const lir_context *ctx, int32_t seq);
/* The token ids of seq (positions 0..length-1), *n (may be NULL) gets the length. Valid until
 * the next call that changes seq. NULL for a bad ctx or seq. */
LIR_API const lir_token *lir_context_seq_tokens(const lir_context *ctx, int32_t seq, int32_t *n);
/* Context shift: keeps the first n_keep tokens of seq and the tokens after n_keep + n_discard,
 * which move n_discard positions down; their keys are re-rotated (RoPE) to the new positions,
 * so decoding continues at length - n_discard as if the kept tokens had been evaluated there
 * (up to f16/Q8_0 rounding of the rotated keys). n_keep >= 0, n_discard >= 0,
 * n_keep + n_discard <= length. Logits of the last decode are dropped. Returns LIR_OK,
 * LIR_EINVAL (bad seq or counts), LIR_ECONTEXT (too few free blocks to copy a shared block
 * that must change; the sequence is then unchanged). */
LIR_API enum lir_status lir_context_seq_truncate(lir_context *ctx, int32_t seq, int32_t n_keep, int32_t n_discard);

/* KV cache status. Bytes are exact: a block holds LIR_KV_BLOCK_TOKENS tokens of K and V over all
 * layers in the cache's type; shared blocks are counted once in the whole-cache figures. */
struct lir_context_status {
    int32_t n_ctx;              /* the most tokens one sequence may hold */
    int32_t n_seq_max;
    enum lir_kv_type kv_type;
    int32_t n_blocks, n_blocks_used;
    int64_t max_tokens;         /* n_blocks x LIR_KV_BLOCK_TOKENS */
    int64_t used_tokens;        /* distinct cells holding a token (a shared prefix once) */
    int64_t available_tokens;   /* max_tokens - used_tokens */
    double usage_percent;       /* 100 x used_tokens / max_tokens */
    uint64_t kv_bytes;          /* the whole pool (allocated; with gpu_layers the CPU layers' only,
                                   the GPU layers' cache being in VRAM) */
    uint64_t kv_bytes_used;     /* blocks in use */
    uint64_t block_bytes;       /* one block */
};
struct lir_context_seq_status {
    int32_t n_tokens;
    int32_t max_tokens;         /* n_ctx */
    int32_t available_tokens;   /* tokens seq can still take: n_ctx - n_tokens, or fewer when the
                                   pool's free blocks (and room in its last block) are fewer */
    double usage_percent;       /* 100 x n_tokens / n_ctx */
    int32_t n_blocks;           /* blocks in its table */
    uint64_t kv_bytes;          /* n_blocks x block_bytes */
    uint64_t kv_bytes_shared;   /* of which in blocks shared with other sequences */
};
/* Fills *out (borrowed). Returns LIR_OK, LIR_EINVAL. */
LIR_API enum lir_status lir_context_get_status(const lir_context *ctx, struct lir_context_status *out);
LIR_API enum lir_status lir_context_seq_status(const lir_context *ctx, int32_t seq, struct lir_context_seq_status *out);
/* Message of the last error on this context; "" when none. Valid until the next call. */
LIR_API const char *lir_context_last_error(const lir_context *ctx);

/* Teacher-forced scoring (perplexity): evaluates tokens (borrowed, n >= 2) at positions
 * 0..n-1, overwriting whatever the context held, and writes to nll (borrowed, n-1-first
 * doubles) the negative log-likelihood of each next token from position first on:
 *   nll[i - first] = -log softmax(logits_i)[tokens[i+1]],  i = first .. n-2
 * (log-softmax summed in double, as lir_logprob). Logits are computed for the scored rows only,
 * a bounded number at a time. lir_context_logits is unspecified afterwards.
 * Returns LIR_OK, LIR_EINVAL (NULL arguments, n < 2, first outside [0, n-2], bad token id),
 * LIR_ECONTEXT (n > the context size), LIR_ENOMEM. */
LIR_API enum lir_status lir_context_score(lir_context *ctx, const lir_token *tokens, int32_t n, int32_t first,
                                          double *nll);
/* log softmax(logits)[token] over n logits (borrowed): logits[token] - max - log(sum exp(logits - max)),
 * the sum in double. NAN when logits is NULL, n < 1 or token is outside [0, n). */
LIR_API double lir_logprob(const float *logits, int32_t n, lir_token token);

/* ------------------------------------------------------------- embeddings */

/* How the final hidden states of an input's tokens become one vector. The values are llama.cpp's
 * enum llama_pooling_type (GGUF key <arch>.pooling_type). */
enum lir_pooling {
    LIR_POOLING_MODEL = -1, /* (request) the model's own; MEAN for a model without one */
    LIR_POOLING_NONE = 0,   /* (model) no pooling type in the GGUF, e.g. a chat model: embedding it
                               uses MEAN (as a request: the same as MODEL) */
    LIR_POOLING_MEAN = 1,   /* average over the tokens */
    LIR_POOLING_CLS = 2,    /* the first token's ([CLS] for BERT, else BOS) */
    LIR_POOLING_LAST = 3,   /* the last token's (e.g. Qwen3-Embedding) */
};

struct lir_embed_params {
    enum lir_pooling pooling; /* LIR_POOLING_MODEL */
    bool normalize;           /* scale to unit L2 norm (the spec's default: true); a zero vector stays zero */
};
LIR_API struct lir_embed_params lir_embed_params_default(void);

/* Width of the model's embeddings (its hidden size); 0 when model is NULL. */
LIR_API int32_t lir_model_n_embd(const lir_model *model);
/* The model's pooling type from its GGUF (LIR_POOLING_NONE when it has none). */
LIR_API enum lir_pooling lir_model_pooling(const lir_model *model);

/* Embeds n tokens (borrowed) as one input: evaluates them at positions 0..n-1 — overwriting the
 * context's KV cache; lir_context_logits has nothing afterwards — and pools the final hidden
 * states (after the output norm of decoders; after the last LayerNorm of BERT encoders, whose
 * attention sees every token) as params says (NULL: defaults), as llama.cpp's embeddings do.
 * Writes dim (= lir_model_n_embd) floats to out (borrowed).
 * Returns LIR_OK, LIR_EINVAL (NULL arguments, n < 1, bad token id, dim != n_embd, unknown
 * pooling), LIR_ECONTEXT (n over the context size, or over a BERT model's position table),
 * LIR_EUNSUPPORTED (a decoder with non-causal attention), LIR_ENOMEM; message from
 * lir_context_last_error. */
LIR_API enum lir_status lir_embed_tokens(lir_context *ctx, const lir_token *tokens, int32_t n,
                                         const struct lir_embed_params *params, float *out, int32_t dim);
/* Tokenizes len bytes of text (borrowed) as llama.cpp's embedding paths do — with the
 * vocabulary's special tokens added ([CLS] text [SEP] for BERT, BOS for most decoders), special
 * tokens in the text not parsed — and embeds it as lir_embed_tokens. *n_tokens (may be NULL)
 * receives the token count. Same statuses, plus the tokenizer's (no usable vocabulary). */
LIR_API enum lir_status lir_embed(lir_context *ctx, const char *text, size_t len, const struct lir_embed_params *params,
                                  float *out, int32_t dim, int32_t *n_tokens);

/* -------------------------------------------------------------- tokenizer */

/* The model's vocabulary is read from its GGUF tokenizer.ggml.* keys at lir_model_load. A model
 * whose tokenizer metadata is missing or unusable still loads (token ids work everywhere);
 * then every function below returns LIR_ENOTFOUND (no tokenizer metadata) or
 * LIR_EUNSUPPORTED / LIR_EFORMAT (for example an unknown tokenizer.ggml.pre), and
 * lir_model_vocab_error says why. All of them are safe to call from several threads. */

/* Why the model has no usable vocabulary ("" when it has one). Valid until lir_model_free. */
LIR_API const char *lir_model_vocab_error(const lir_model *model);

/* Tokenizes len bytes of text (borrowed; any bytes, invalid UTF-8 included).
 * add_special: add BOS/EOS as the vocabulary asks (tokenizer.ggml.add_bos_token/add_eos_token).
 * parse_special: match control tokens such as "<|eot_id|>" written in the text (otherwise
 * they are tokenized as plain text; user-defined tokens always match).
 * Writes at most cap ids to out (borrowed) and the full count to *n_out (may exceed cap).
 * Returns LIR_OK, LIR_ERANGE (cap too small: nothing useful in out, *n_out is the size
 * needed), LIR_EINVAL (NULL model/n_out, NULL out with cap > 0, NULL text with len > 0),
 * LIR_ENOTFOUND / LIR_EUNSUPPORTED / LIR_EFORMAT (no usable vocabulary, see above), LIR_ENOMEM. */
LIR_API enum lir_status lir_tokenize(const lir_model *model, const char *text, size_t len, bool add_special,
                                     bool parse_special, lir_token *out, int32_t cap, int32_t *n_out);

/* The bytes of one token: SentencePiece's U+2581 as ' ', <0xNN> tokens as that byte, byte-level
 * BPE decoded. A piece may be part of a UTF-8 character; use the streaming detokenizer to get
 * whole characters. Control/unknown tokens give their text only when special is true.
 * Writes at most cap bytes (no NUL) to buf and the piece length to *len.
 * Returns LIR_OK, LIR_ERANGE (cap too small; *len is the size needed), LIR_EINVAL (bad token
 * id, NULL arguments), or the no-vocabulary statuses above. */
LIR_API enum lir_status lir_token_to_piece(const lir_model *model, lir_token token, bool special, char *buf,
                                           size_t cap, size_t *len);

/* Special ids of the vocabulary, -1 when absent or when there is no vocabulary. */
LIR_API lir_token lir_vocab_bos(const lir_model *model);
LIR_API lir_token lir_vocab_eos(const lir_model *model);
LIR_API lir_token lir_vocab_eot(const lir_model *model);
/* Number of tokens in the vocabulary (0 when none). */
LIR_API int32_t lir_vocab_n_tokens(const lir_model *model);
/* Whether the vocabulary asks for BOS (tokenizer.ggml.add_bos_token, or the vocabulary type's
 * default), as llama.cpp's llama_vocab_get_add_bos. False when there is no vocabulary. */
LIR_API bool lir_vocab_add_bos(const lir_model *model);
/* True for tokens that end generation: EOS, EOT, EOM and the end tokens llama.cpp recognizes
 * by their text (<|eot_id|>, <|im_end|>, <|endoftext|>, <end_of_turn>, ...). */
LIR_API bool lir_vocab_is_eog(const lir_model *model, lir_token token);

/* Streaming detokenizer: push generated tokens one at a time; each push returns only complete
 * UTF-8 characters (a character split over several tokens comes out whole, with the token
 * that completes it); invalid byte sequences come out as U+FFFD, so every chunk is valid UTF-8.
 * show_special: control tokens appear as their text (e.g. "<|eot_id|>"), else as nothing.
 * strip_leading_space: drop one space at the start of the first token (what llama.cpp's
 * detokenizer does for SentencePiece vocabularies, whose tokenizer adds that space; pass
 * lir_vocab_add_space_prefix's value for a sequence tokenized without BOS).
 * The model is borrowed and must outlive the handle. Returns LIR_OK, LIR_EINVAL, LIR_ENOMEM,
 * or the no-vocabulary statuses above. */
typedef struct lir_detok lir_detok;
LIR_API enum lir_status lir_detok_create(const lir_model *model, bool show_special, bool strip_leading_space,
                                         lir_detok **out);
/* text and len receive the newly completed text (possibly empty), valid until the next call on d.
 * Returns LIR_OK, LIR_EINVAL (bad token id), LIR_ENOMEM. */
LIR_API enum lir_status lir_detok_push(lir_detok *d, lir_token token, const char **text, size_t *len);
/* Emits what is held back (an incomplete character at the end comes out as U+FFFD). */
LIR_API enum lir_status lir_detok_flush(lir_detok *d, const char **text, size_t *len);
LIR_API void lir_detok_free(lir_detok *d);
/* Whether the vocabulary prefixes a space to the text it tokenizes (SentencePiece). */
LIR_API bool lir_vocab_add_space_prefix(const lir_model *model);

/* ---------------------------------------------------------- chat templates */

/* Variables a chat template sees besides `messages`. Strings are borrowed for the call. */
struct lir_chat_params {
    bool add_generation_prompt; /* end with the assistant header (default false) */
    const char *bos_token;      /* "" when NULL */
    const char *eos_token;      /* "" when NULL */
    const char *tools_json;     /* JSON array bound to `tools`, or NULL (then `tools` is undefined) */
    const char *extra_json;     /* JSON object of further variables (e.g. enable_thinking), or NULL */
};
LIR_API struct lir_chat_params lir_chat_params_default(void);

/* Renders a Jinja chat template (tokenizer.chat_template, or a built-in from
 * lir_chat_builtin) over messages_json, a JSON array of {"role", "content", ...} objects,
 * as transformers' apply_chat_template does (trim_blocks, lstrip_blocks), byte for byte
 * equal to @huggingface/jinja. tmpl and messages_json are borrowed. On success *out is a
 * NUL-terminated string the caller owns (free with lir_chat_free) and *out_len (may be NULL)
 * its length. On error *out is NULL and err (may be NULL) names the template line and the
 * construct, or the template's own raise_exception message.
 * Returns LIR_OK, LIR_EINVAL (bad JSON, template syntax, unsupported construct, runtime
 * error), LIR_ENOMEM. */
LIR_API enum lir_status lir_chat_apply(const char *tmpl, const char *messages_json,
                                       const struct lir_chat_params *params, char **out, size_t *out_len,
                                       char *err, size_t err_len);
LIR_API void lir_chat_free(char *s);
/* Source of a built-in template by name ("chatml", "llama2", "llama3", "mistral", "zephyr",
 * "gemma", "phi3", ...); static storage; NULL when there is none of that name. */
LIR_API const char *lir_chat_builtin(const char *name);

/* ---------------------------------------------------------------- sampling */

/* Why a generation ended, with the names of OpenAI's finish_reason:
 *   STOP      an end-of-generation token or a stop string
 *   LENGTH    max_tokens reached or the context is full
 *   CANCELLED the client cancelled (went away)
 *   ERROR     evaluation failed */
#define LIR_FINISH_MAP(X) \
    X(STOP, "stop")       \
    X(LENGTH, "length")   \
    X(CANCELLED, "cancelled") \
    X(ERROR, "error")

enum lir_finish_reason {
#define X(name, str) LIR_FINISH_##name,
    LIR_FINISH_MAP(X)
#undef X
};
/* "stop", "length", "cancelled", "error"; "unknown" for other values. Static storage. */
LIR_API const char *lir_finish_reason_str(enum lir_finish_reason r);
/* The reason named s (borrowed, NUL-terminated); LIR_OK, or LIR_EINVAL for NULL or an unknown name. */
LIR_API enum lir_status lir_finish_reason_parse(const char *s, enum lir_finish_reason *out);

/* A logit bias entry: bias is added to the token's logit before the chain runs;
 * -INFINITY bans the token. */
struct lir_logit_bias {
    lir_token token;
    float bias;
};

/* One entry of the top log-probabilities reported per sampled token. */
struct lir_token_logprob {
    lir_token token;
    float logprob;
};

#define LIR_SEED_RANDOM UINT64_MAX /* seed: draw one from the OS at lir_sampler_create */
#define LIR_MAX_TOKENS_MAX 32768   /* spec §5.2: max_tokens 1-32K */
#define LIR_N_PROBS_MAX 20         /* as OpenAI's top_logprobs */
#define LIR_STOP_MAX 16            /* stop strings per request */
#define LIR_STOP_LEN_MAX 1024      /* bytes per stop string */
#define LIR_REPEAT_LAST_N_MAX 1048576
#define LIR_LOGIT_BIAS_ABS_MAX 100.0f /* finite biases lie in [-100, 100], as OpenAI's */

/* Generation parameters (spec §2.2 LocalGenerationRequest, ranges from §5.2). The names are
 * the wire names (llama.cpp server / Ollama / OpenAI), and lir_sampling_params_validate's
 * messages use them. Pointers are borrowed: the caller keeps them alive until
 * lir_sampler_create / lir_stop_matcher_create returns (both copy what they need).
 *
 * The sampler chain, in llama.cpp's default order (common_params_sampling.samplers):
 *   1. logit_bias                    logit += bias (-INFINITY bans)
 *   2. penalties                     over the last repeat_last_n accepted tokens, each distinct
 *                                    token seen c times: logit <= 0 ? logit *= repeat_penalty
 *                                    : logit /= repeat_penalty; then
 *                                    logit -= c * frequency_penalty + presence_penalty
 *      (DRY, top-n-sigma: not implemented, skipped)
 *   3. top_k                         keep the k largest logits
 *   4. typical_p                     locally typical sampling (Meister et al.)
 *   5. top_p                         smallest set of largest probabilities summing to >= top_p
 *   6. min_p                         keep p >= min_p * p_max
 *      (XTC: not implemented, skipped)
 *   7. temperature                   logit /= temperature
 *   8. dist                          draw from softmax of what is left
 * Steps 3-6 see the probabilities before temperature ("temperature last", as llama.cpp).
 * Each truncation keeps at least one token. Ties are broken by the lower token id.
 * temperature == 0: greedy — the largest logit after steps 1-2 (lowest id on ties), no draw.
 * mirostat 1/2: steps 3-6 are replaced by Mirostat (Basu et al.) after temperature:
 *   1-2 → temperature → mirostat v1 (k from the Zipf estimate over the top 100) or v2
 *   (keep surprise -log2 p <= mu) → draw; then mu -= eta * (surprise of the drawn token - tau),
 *   mu starting at 2 * tau. (llama.cpp's current chain drops penalties under mirostat; lir keeps
 *   logit_bias and penalties, as llama.cpp did before, since a client that sets them wants them.) */
struct lir_sampling_params {
    int32_t max_tokens;        /* 0 = until end of generation or a full context; else 1..32768 */
    float temperature;         /* 0.7; [0, 2] (lir_sampler_create: any finite >= 0); 0 = greedy */
    float top_p;               /* 0.9; [0, 1]; 1 = off, 0 keeps the best token only */
    int32_t top_k;             /* 0 = off (spec: none); else >= 1 (>= n_vocab keeps everything) */
    float min_p;               /* 0 = off; [0, 1] */
    float typical_p;           /* 1 = off; [0, 1] */
    float repeat_penalty;      /* 1.1; (0, 2]; 1 = off (0 would divide by zero: an error) */
    int32_t repeat_last_n;     /* 64; tokens of history the penalties look at; 0 = off,
                                  -1 = every token accepted since create/reset; <= 1048576 */
    float frequency_penalty;   /* 0; [0, 2] */
    float presence_penalty;    /* 0; [0, 2] */
    int32_t mirostat;          /* 0 = off, 1 = Mirostat, 2 = Mirostat 2.0 */
    float mirostat_tau;        /* 5.0; (0, 20]: target surprise in bits */
    float mirostat_eta;        /* 0.1; (0, 1]: learning rate */
    uint64_t seed;             /* LIR_SEED_RANDOM (spec: null = random); any other value is used as is */
    const struct lir_logit_bias *logit_bias; /* borrowed; n_logit_bias entries; each token at most once */
    int32_t n_logit_bias;      /* 0 */
    int32_t n_probs;           /* 0; [0, 20]: top log-probabilities reported per token */
    const char *const *stop;   /* borrowed; n_stop NUL-terminated strings of 1..1024 bytes */
    int32_t n_stop;            /* 0; [0, 16] */
};
/* The spec's defaults (above). */
LIR_API struct lir_sampling_params lir_sampling_params_default(void);
/* Checks every field against its range, without clamping anything. On error writes to msg
 * (may be NULL; msg_len bytes) one line naming the parameter, its value and what is allowed,
 * e.g. "temperature: 2.5 is outside [0, 2]" — fit to show a client as is — and returns
 * LIR_ERANGE (a value out of range) or LIR_EINVAL (NULL p, NULL arrays with counts, a token
 * listed twice in logit_bias, an empty stop string). Token ids are checked against the
 * vocabulary by lir_sampler_create. Returns LIR_OK otherwise. */
LIR_API enum lir_status lir_sampling_params_validate(const struct lir_sampling_params *p, char *msg, size_t msg_len);

/* A sampler: the chain above, its history (penalties) and state (generator, mirostat mu).
 * Deterministic: the same seed and the same logits and accepted tokens give the same tokens
 * (own xoshiro256** generator; nothing global). One sampler per sequence; not thread-safe. */
typedef struct lir_sampler lir_sampler;

/* Creates a sampler for a vocabulary of n_vocab tokens (>= 1) from p (borrowed; validated as
 * lir_sampling_params_validate, and logit_bias tokens against n_vocab — except temperature,
 * which only has to be finite and >= 0: the spec's [0, 2] is for requests, which the server
 * checks with lir_sampling_params_validate; tools such as the CLI allow more, as llama.cpp
 * does). On success *out owns the
 * sampler (free with lir_sampler_free); on error *out is NULL and err (may be NULL) has the
 * message. Returns LIR_OK, LIR_EINVAL, LIR_ERANGE, LIR_ENOMEM. */
LIR_API enum lir_status lir_sampler_create(const struct lir_sampling_params *p, int32_t n_vocab, lir_sampler **out,
                                           char *err, size_t err_len);
/* Adds token to the history the penalties look at. Call it for every token appended to the
 * sequence — each sampled token once it is kept, and the prompt's tokens too if they should
 * count (llama.cpp's server and CLI do so). lir_sampler_sample does not call it.
 * Returns LIR_OK, LIR_EINVAL (token outside [0, n_vocab)), LIR_ENOMEM (repeat_last_n = -1). */
LIR_API enum lir_status lir_sampler_accept(lir_sampler *s, lir_token token);
/* Chooses the next token from logits (borrowed, n_vocab floats; not modified) and writes it
 * to *token. When top is non-NULL it receives min(n_probs, n_vocab) entries, *n_top (may be
 * NULL) their count, and when token_logprob is non-NULL it receives the chosen token's
 * log-probability. Those log-probabilities are log-softmax of the logits as given, before
 * logit_bias, penalties, truncation and temperature — what OpenAI's logprobs/top_logprobs and
 * llama.cpp server's n_probs report by default — largest first, lower id first on ties.
 * Updates the generator and mirostat's mu, not the history (see lir_sampler_accept).
 * Constraints such as grammars are the caller's: set the tokens they forbid to -INFINITY in
 * a copy of the logits and pass that (those tokens are then never drawn). Cost: a few passes
 * over the vocabulary (no full sort), see src/sample/chain.c.
 * Returns LIR_OK, LIR_EINVAL (NULL arguments, n_vocab other than the sampler's, a NaN or +inf
 * logit, every token at -INFINITY after logit_bias); on error *token is -1 and
 * lir_sampler_last_error says why. */
LIR_API enum lir_status lir_sampler_sample(lir_sampler *s, const float *logits, int32_t n_vocab, lir_token *token,
                                           float *token_logprob, struct lir_token_logprob *top, int32_t *n_top);
/* Forgets the history, sets mu back to 2 * tau and reseeds the generator with the same seed
 * (a sampler created with LIR_SEED_RANDOM keeps the seed it drew): afterwards it behaves as
 * a new one. */
LIR_API void lir_sampler_reset(lir_sampler *s);
/* The seed in use (the drawn one for LIR_SEED_RANDOM), to report and reproduce. */
LIR_API uint64_t lir_sampler_seed(const lir_sampler *s);
/* Mirostat's current mu (0 when mirostat is off). */
LIR_API float lir_sampler_mirostat_mu(const lir_sampler *s);
/* Message of the last error on s; "" when none. Valid until the next call on s. */
LIR_API const char *lir_sampler_last_error(const lir_sampler *s);
LIR_API void lir_sampler_free(lir_sampler *s);
/* The state the next sample depends on — generator, mirostat mu, the penalty window, the seed —
 * as a versioned byte blob (for snapshots). Writes it to buf (borrowed, cap bytes; NULL with
 * cap 0 to ask the size) and its size to *len. Returns LIR_OK, LIR_ERANGE (cap too small:
 * *len is the size needed), LIR_EINVAL (NULL s or len, NULL buf with cap > 0). */
LIR_API enum lir_status lir_sampler_state_save(const lir_sampler *s, void *buf, size_t cap, size_t *len);
/* Restores a blob of len bytes (borrowed) from lir_sampler_state_save into s, which must have been
 * created with the same parameters (every chain parameter and logit_bias entry is compared; the
 * seed need not match: the blob's is taken). Everything is checked before s changes; on error s
 * is unchanged and lir_sampler_last_error names the field. Returns LIR_OK, LIR_EINVAL (other
 * parameters or vocabulary), LIR_EFORMAT (bad magic, truncated, bad values), LIR_EUNSUPPORTED
 * (another version), LIR_ENOMEM. */
LIR_API enum lir_status lir_sampler_state_load(lir_sampler *s, const void *buf, size_t len);

/* Streaming stop-string matcher. Feed it the generated text as it comes (any chunking:
 * token pieces, whole characters); each push returns the bytes that are safe to show now.
 * It holds back only what could still turn out to be part of a stop string (the longest end
 * of the text that is a proper prefix of a stop string) and an incomplete UTF-8 character at
 * the end, so a stop string split across tokens is never shown, and chunks end on character
 * boundaries when the text is UTF-8. When a stop string completes, the text before it is
 * returned, the stop string and anything after it are dropped, and *matched is its index;
 * among the matches completed by one push the one that starts first wins (then the lower
 * index). After a match the matcher is done: further pushes return nothing. At the end of
 * generation lir_stop_matcher_flush returns what is held back. One matcher per sequence;
 * not thread-safe. */
typedef struct lir_stop_matcher lir_stop_matcher;
/* stops: n_stops (0..16) NUL-terminated strings of 1..1024 bytes, borrowed (copied).
 * Returns LIR_OK, LIR_EINVAL (NULL out, NULL stops with n_stops > 0, NULL or empty string),
 * LIR_ERANGE (too many, too long), LIR_ENOMEM. */
LIR_API enum lir_status lir_stop_matcher_create(const char *const *stops, int32_t n_stops, lir_stop_matcher **out);
/* Pushes len bytes of text (borrowed). *emit and *emit_len: the bytes to show now, valid until
 * the next call on m. *matched (may be NULL): the index of the stop string that matched in
 * this push, else -1. Returns LIR_OK, LIR_EINVAL (NULL arguments), LIR_ENOMEM. */
LIR_API enum lir_status lir_stop_matcher_push(lir_stop_matcher *m, const char *text, size_t len, const char **emit,
                                              size_t *emit_len, int32_t *matched);
/* The bytes held back (none after a match), valid until the next call on m; the matcher is
 * then empty. Returns LIR_OK, LIR_EINVAL. */
LIR_API enum lir_status lir_stop_matcher_flush(lir_stop_matcher *m, const char **emit, size_t *emit_len);
/* Whether a stop string has matched since create/reset. */
LIR_API bool lir_stop_matcher_done(const lir_stop_matcher *m);
/* Empties the matcher for a new generation (same stop strings). */
LIR_API void lir_stop_matcher_reset(lir_stop_matcher *m);
LIR_API void lir_stop_matcher_free(lir_stop_matcher *m);

/* -------------------------------------------------------------- snapshots */

/* A snapshot is one sequence of a context saved to a file: its tokens, its KV cache (in the
 * cache's type, bit for bit), the last logits row, optionally a sampler's state, a name and a
 * creation time, with the model's fingerprint, the format version and a checksum over everything
 * (an XXH3-128 / BLAKE2b hash tree; file format: src/context/snapshot.h). Restoring it into a context of the same model
 * (same fingerprint) and KV type gives the same logits, bit for bit, and the same continuation.
 * Snapshot files are untrusted input: every field is checked before anything is allocated or
 * the target sequence changes. */
#define LIR_FINGERPRINT_LEN 32
#define LIR_SNAPSHOT_VERSION 2
#define LIR_SNAPSHOT_NAME_MAX 256 /* bytes of a name, its NUL included */

/* A BLAKE2b-256 hash of the model's GGUF metadata (every key and value), tensor infos and
 * samples of every tensor's data (first, middle and last 4 KiB): another model, or the same
 * architecture with other weights, gives another fingerprint. Reads about 12 KiB per tensor.
 * Thread-safe. Returns LIR_OK, LIR_EINVAL (NULL arguments), LIR_EINTERNAL (libsodium failed). */
LIR_API enum lir_status lir_model_fingerprint(const lir_model *model, uint8_t out[LIR_FINGERPRINT_LEN]);
/* The fingerprint as 64 lowercase hex digits and a NUL. */
LIR_API void lir_fingerprint_hex(const uint8_t fp[LIR_FINGERPRINT_LEN], char out[2 * LIR_FINGERPRINT_LEN + 1]);

/* What a snapshot file holds (its header). */
struct lir_snapshot_info {
    uint32_t version;                      /* format version */
    uint8_t fingerprint[LIR_FINGERPRINT_LEN]; /* of the model it was saved from */
    int32_t kv_type;                       /* enum lir_kv_type of the cache it was saved from */
    int32_t n_ctx;                         /* n_ctx of that context */
    int32_t n_vocab;
    int32_t n_tokens;                      /* tokens of the sequence (0: an empty sequence) */
    uint64_t kv_bytes;                     /* bytes of KV data: the sequence's KV blocks, whole
                                              (LIR_KV_BLOCK_TOKENS tokens each), as the cache holds them */
    uint64_t size_bytes;                   /* the file's size */
    int64_t created_at_ms;                 /* Unix milliseconds */
    bool has_logits;                       /* the last logits row is stored */
    bool has_sampler;                      /* a sampler state is stored */
    char name[LIR_SNAPSHOT_NAME_MAX];      /* "" when none */
};

struct lir_snapshot_params {
    const char *name;           /* NULL = ""; at most 255 bytes, no NUL inside (borrowed for the call) */
    const lir_sampler *sampler; /* NULL = none; its state (lir_sampler_state_save) is stored (borrowed) */
    const float *logits;        /* the sequence's last logits row (n_vocab floats, borrowed); NULL =
                                   lir_context_logits(ctx, -1) when the sequence is not empty (right
                                   when the context's last decode ended with this sequence's last
                                   token, as in single-sequence use) */
    bool fsync;                 /* fsync the file and its directory before returning (default false:
                                   written to the page cache; the replacement is still atomic) */
};
LIR_API struct lir_snapshot_params lir_snapshot_params_default(void);

/* Saves sequence seq of ctx to path (borrowed): written to "path.tmp", then put at path in one
 * step (swapped with the old file, which is then removed, or renamed), so path is either the old
 * file or the complete new one; on error "path.tmp" is removed and path is untouched. Without
 * fsync a power loss soon after may leave a file whose checksum fails (the data was in the page
 * cache only); a process crash never does. p: NULL = defaults. info (may be NULL) receives the header written.
 * Returns LIR_OK, LIR_EINVAL (NULL ctx/path, bad seq, bad name), LIR_EIO (cannot write; message
 * names the file and errno's text), LIR_EUNSUPPORTED (a context with gpu_layers: its KV cache is
 * in VRAM), LIR_ENOMEM, LIR_EINTERNAL; the message is on the context
 * (lir_context_last_error). */
LIR_API enum lir_status lir_snapshot_save(lir_context *ctx, int32_t seq, const char *path,
                                          const struct lir_snapshot_params *p, struct lir_snapshot_info *info);
/* Replaces sequence seq of ctx with the snapshot at path (borrowed). Reads and checks the whole
 * file first — magic, version, every size against the file size, the checksum, the model's
 * fingerprint, n_vocab, the KV type and token size, that the tokens fit the context (n_ctx and
 * free KV blocks) — and the sampler's state when one is given; any failure returns an error
 * naming what is wrong and leaves the sequence (and sampler) unchanged. Then the sequence holds
 * the snapshot's tokens and KV, lir_context_logits(ctx, -1) returns the stored logits row (when
 * the snapshot has one), and sampler (may be NULL; borrowed) gets the stored state when the
 * snapshot has one (made with the same parameters: lir_sampler_state_load). An empty snapshot
 * empties the sequence. info (may be NULL) receives the header.
 * Returns LIR_OK, LIR_EINVAL (NULL ctx/path, bad seq; a sampler with other parameters),
 * LIR_EIO (cannot read), LIR_EFORMAT (not a snapshot, truncated, corrupt: checksum), LIR_EUNSUPPORTED
 * (another format version; a context with gpu_layers), LIR_ENOTFOUND (path does not exist), LIR_ERANGE (another model:
 * fingerprint; another vocabulary, KV type or token size), LIR_ECONTEXT (more tokens than the
 * context or its free KV blocks hold), LIR_ENOMEM; message from lir_context_last_error. */
LIR_API enum lir_status lir_snapshot_restore(lir_context *ctx, int32_t seq, const char *path, lir_sampler *sampler,
                                             struct lir_snapshot_info *info);
/* Reads a snapshot's header into *out (borrowed) without a context; verify: also read the whole
 * file and check every size and the checksum. Returns LIR_OK, LIR_EINVAL, LIR_ENOTFOUND, LIR_EIO,
 * LIR_EFORMAT, LIR_EUNSUPPORTED (err: why). */
LIR_API enum lir_status lir_snapshot_read_info(const char *path, bool verify, struct lir_snapshot_info *out, char *err,
                                               size_t err_len);

/* --------------------------------------------------------------- grammars */

/* Grammar-constrained generation: a GBNF grammar (llama.cpp's format), or JSON / a JSON Schema
 * turned into one, restricts which tokens may come next so that the generated text is always a
 * prefix of a string of the grammar, and end-of-generation is allowed only where the grammar can
 * end. Terminals are Unicode code points; token pieces are bytes and may split a character.
 *
 * Typical loop, per step: sample a token from the raw logits; if lir_grammar_token_allowed says
 * yes, take it (the fast path); otherwise lir_grammar_filter_logits and sample again; then
 * lir_grammar_accept_token. A grammar is immutable and may be shared by many states and threads;
 * a state is used by one thread at a time (the query functions use its scratch space). */

typedef struct lir_grammar lir_grammar;
typedef struct lir_grammar_state lir_grammar_state;
typedef struct lir_grammar_vocab lir_grammar_vocab;

/* Parses GBNF text (borrowed, NUL-terminated). root names the start rule (NULL = "root").
 * On error *out is NULL and err (may be NULL) says where and what, e.g.
 * "gbnf: line 3, column 14: expected ')' to close the group, '|' or an item, found end of line".
 * Left recursion, undefined or twice-defined rules and rules that can never finish are errors.
 * Returns LIR_OK, LIR_EINVAL, LIR_EUNSUPPORTED (token references <...>), LIR_ERANGE (over the
 * size limits: 4M elements, 1M rules, repetition counts up to 100000, nesting 200), LIR_ENOMEM. */
LIR_API enum lir_status lir_grammar_parse(const char *gbnf, const char *root, lir_grammar **out, char *err,
                                          size_t err_len);
/* The built-in JSON grammar: any JSON value (object_only false) or any JSON object, with at most
 * one space or a newline plus 20 indentation characters between tokens (so whitespace cannot run
 * on), numbers of at most 16 integer and 16 fraction digits and 2 exponent digits (always a finite
 * double), and no lone \uD800-\uDFFF escapes (so the output parses with strict parsers such as
 * jansson). Returns LIR_OK, LIR_EINVAL, LIR_ENOMEM. */
LIR_API enum lir_status lir_grammar_json(bool object_only, lir_grammar **out);
/* Its GBNF text (static storage). */
LIR_API const char *lir_grammar_json_gbnf(bool object_only);
/* Converts a JSON Schema (borrowed, NUL-terminated JSON text) to GBNF. On success *out is a
 * NUL-terminated string the caller owns (free with lir_grammar_text_free). Supported: type
 * (and type arrays), properties, required, additionalProperties (true, false or a schema;
 * absent means false when properties are given, as llama.cpp), enum, const, items, prefixItems,
 * minItems, maxItems, anyOf, oneOf (as anyOf), allOf of object schemas (merged), string
 * minLength/maxLength and format (date, time, date-time, uuid, email), integer minimum/maximum/
 * exclusiveMinimum/exclusiveMaximum, local $ref (#, #/$defs/..., #/definitions/..., any local
 * JSON pointer, recursion included). Annotations (title, description, default, examples,
 * $schema, $id, $comment, ...) are ignored. Anything else is an error that lists every
 * unsupported keyword with its path. Returns LIR_OK, LIR_EINVAL (not JSON, bad schema),
 * LIR_EUNSUPPORTED, LIR_ENOMEM. */
LIR_API enum lir_status lir_json_schema_to_gbnf(const char *schema, char **out, char *err, size_t err_len);
/* lir_json_schema_to_gbnf + lir_grammar_parse. Same statuses. */
LIR_API enum lir_status lir_grammar_from_json_schema(const char *schema, lir_grammar **out, char *err,
                                                     size_t err_len);
LIR_API void lir_grammar_text_free(char *text);
/* The grammar must outlive every state made from it. */
LIR_API void lir_grammar_free(lir_grammar *g);

/* A matcher at the start of the grammar. The grammar is borrowed. Returns LIR_OK, LIR_EINVAL,
 * LIR_ERANGE (the start is too ambiguous: over 4096 parse stacks), LIR_ENOMEM. */
LIR_API enum lir_status lir_grammar_state_create(const lir_grammar *g, lir_grammar_state **out);
/* An independent copy (for speculative decoding, beam search). Returns LIR_OK, LIR_EINVAL, LIR_ENOMEM. */
LIR_API enum lir_status lir_grammar_state_clone(const lir_grammar_state *st, lir_grammar_state **out);
LIR_API void lir_grammar_state_free(lir_grammar_state *st);
/* Advances over len bytes (borrowed; may end inside a UTF-8 character). Cost: O(len x live parse
 * stacks), independent of the text accepted before. On error the state is unchanged and
 * lir_grammar_state_last_error says why. Returns LIR_OK, LIR_EINVAL (the bytes are not allowed
 * here), LIR_ERANGE (too ambiguous), LIR_ENOMEM. */
LIR_API enum lir_status lir_grammar_accept_bytes(lir_grammar_state *st, const char *bytes, size_t len);
/* Whether accepting these bytes would succeed; the state is unchanged. */
LIR_API bool lir_grammar_bytes_allowed(lir_grammar_state *st, const char *bytes, size_t len);
/* Whether the text so far is a complete string of the grammar (end of generation allowed here). */
LIR_API bool lir_grammar_can_end(const lir_grammar_state *st);
/* Whether the text is complete and nothing more may follow (generation should stop). */
LIR_API bool lir_grammar_is_done(const lir_grammar_state *st);
/* Message of the last failed call on st ("" when none). Valid until the next call on st. */
LIR_API const char *lir_grammar_state_last_error(const lir_grammar_state *st);

/* Token table for filtering: every token's piece and whether it ends generation, with a trie
 * of the pieces; build it once per vocabulary and share it (read-only) between states.
 * From a model (borrowed, used only during the call): pieces as lir_token_to_piece without
 * special; control tokens have no text and are never allowed, except end-of-generation tokens
 * (lir_vocab_is_eog), which are allowed exactly where lir_grammar_can_end. Returns LIR_OK,
 * LIR_EINVAL, LIR_ENOMEM, or the no-vocabulary statuses of the tokenizer section. */
LIR_API enum lir_status lir_grammar_vocab_create(const lir_model *model, lir_grammar_vocab **out);
/* From n pieces (borrowed, lens[i] bytes each; an empty piece is never allowed) and is_eog
 * (borrowed, n flags, or NULL for none). Returns LIR_OK, LIR_EINVAL, LIR_ERANGE, LIR_ENOMEM. */
LIR_API enum lir_status lir_grammar_vocab_create_pieces(const char *const *pieces, const size_t *lens,
                                                        const bool *is_eog, int32_t n, lir_grammar_vocab **out);
LIR_API int32_t lir_grammar_vocab_n_tokens(const lir_grammar_vocab *v);
LIR_API void lir_grammar_vocab_free(lir_grammar_vocab *v);

/* Fast path: whether token may come next (its piece is allowed, or it ends generation and the
 * grammar can end). False for ids outside the table. State unchanged. */
LIR_API bool lir_grammar_token_allowed(lir_grammar_state *st, const lir_grammar_vocab *v, lir_token token);
/* Sets logits[t] = -INFINITY for every token t of v that may not come next; logits (borrowed)
 * has lir_grammar_vocab_n_tokens(v) floats. One walk of the piece trie from the state.
 * Returns LIR_OK, LIR_EINVAL, LIR_ERANGE (too ambiguous somewhere: the tokens there were
 * disallowed), LIR_ENOMEM. */
LIR_API enum lir_status lir_grammar_filter_logits(lir_grammar_state *st, const lir_grammar_vocab *v, float *logits);
/* Accepts a generated token: its piece, or for an end-of-generation token checks that the
 * grammar can end (the state is unchanged then). Returns as lir_grammar_accept_bytes. */
LIR_API enum lir_status lir_grammar_accept_token(lir_grammar_state *st, const lir_grammar_vocab *v, lir_token token);

/* --------------------------------------------------------------- licences */

/* Licence tiers (spec §8) and what each unlocks, from one policy table (src/licence/policy.c):
 *
 *   tier        loaded models  concurrent requests  generation parameters  embeddings  context mgmt
 *   Core        0 (none)       0                    none                   no          no
 *   WriterPro   1              1                    basic                  no          no
 *   Teams       unlimited      1                    all                    yes         yes
 *   Enterprise  unlimited      unlimited (>= 3)     all                    yes         yes
 *
 *   tier        context snapshots  performance profiling  advanced resource management
 *   Core..Teams no                 no                     no
 *   Enterprise  yes                yes                    yes
 *
 * Core has no inference at all ("Not available"). "basic" generation parameters are temperature
 * and top_p (the spec's list) plus max_tokens and stop, without which no client can bound its
 * output; every other parameter (top_k, min_p, typical_p, penalties, mirostat, seed, logit_bias,
 * n_probs, logprobs, grammar, json_schema, response_format) needs Teams. Where the spec is silent lir
 * chose: "multiple models" is no tier limit (memory decides); Enterprise's "3+" concurrent
 * requests is no tier limit (the scheduler's slot count decides); lower tiers run one request
 * at a time (spec §1.3 #8: queue the rest). "Advanced resource management" is multi-GPU
 * placement (tensor split, main GPU), resource limits and alert thresholds.
 *
 * The tier comes from a lir_licence: a static tier from configuration (a self-hosted runtime
 * defaults to LIR_TIER_DEFAULT, Enterprise), or a licence file signed with Ed25519 and checked
 * against configured public keys and a clock. A licence that is forged, expired, not yet valid
 * or malformed is an error AND a usable handle at the lowest tier (Core) that remembers why.
 *
 * Licence file (UTF-8 JSON, at most 64 KiB; `lir-licence sign` writes one):
 *   {"lir_licence": 1,
 *    "payload":   "<base64 of the payload JSON bytes>",
 *    "signature": "<base64 of the 64-byte Ed25519 detached signature of those bytes>"}
 * Payload (the bytes that are signed, so no JSON canonicalization is needed):
 *   {"licensee": "Acme Ltd",                  non-empty string, required
 *    "tier":     "Teams",                     Core | WriterPro | Teams | Enterprise (any case), required
 *    "issued":   "2026-01-01T00:00:00Z",      UTC, required; not valid before this instant
 *    "expires":  "2027-01-01T00:00:00Z",      UTC or null (perpetual), required; invalid from this instant
 *    "features": ["profiling"],               optional add-ons beyond the tier (lir_feature_str names)
 *    ...}                                     other keys (id, comment) are kept in the payload, unread
 * Base64 is the standard alphabet with padding; whitespace is ignored. Public keys are the
 * 32-byte Ed25519 keys in base64 (the one line of a `lir-licence keygen` .pub file).
 * An add-on feature lifts its limit to the value of the lowest tier that has it. */
#define LIR_TIER_MAP(X)          \
    X(CORE, "Core")              \
    X(WRITER_PRO, "WriterPro")   \
    X(TEAMS, "Teams")            \
    X(ENTERPRISE, "Enterprise")

enum lir_tier {
#define X(name, str) LIR_TIER_##name,
    LIR_TIER_MAP(X)
#undef X
    LIR_TIER_COUNT
};
#define LIR_TIER_LOWEST LIR_TIER_CORE
#define LIR_TIER_DEFAULT LIR_TIER_ENTERPRISE /* static tier of a self-hosted runtime */

/* Gated features: name (licence "features" entries) and label (messages), and the calls each
 * gates: inference (model load, generate, embed); multiple_models (a load while another model
 * is loaded: lir_licence_check_loaded_models); generation_parameters (request parameters beyond
 * the basic ones: lir_licence_check_params / _check_sampling); embeddings (embed); context_management
 * (context status, clear, truncate); context_snapshots (snapshot save, restore, list);
 * concurrent_requests (scheduler slots: lir_licence_check_concurrent_requests); profiling
 * (per-request metrics, aggregates, history); resource_management (tensor split, main GPU,
 * resource limits, alert thresholds). */
#define LIR_FEATURE_MAP(X)                                                          \
    X(INFERENCE, "inference", "inference")                                          \
    X(MULTIPLE_MODELS, "multiple_models", "multiple loaded models")                 \
    X(GENERATION_PARAMETERS, "generation_parameters", "all generation parameters")  \
    X(EMBEDDINGS, "embeddings", "embeddings")                                       \
    X(CONTEXT_MANAGEMENT, "context_management", "context management")               \
    X(CONTEXT_SNAPSHOTS, "context_snapshots", "context snapshots")                  \
    X(CONCURRENT_REQUESTS, "concurrent_requests", "concurrent requests")            \
    X(PROFILING, "profiling", "performance profiling")                              \
    X(RESOURCE_MANAGEMENT, "resource_management", "advanced resource management")

enum lir_feature {
#define X(name, str, label) LIR_FEATURE_##name,
    LIR_FEATURE_MAP(X)
#undef X
    LIR_FEATURE_COUNT
};

#define LIR_UNLIMITED INT32_MAX /* a limit with no tier cap */

/* One row of the policy table (or a licence's effective policy). */
struct lir_tier_policy {
    enum lir_tier tier;
    int32_t max_loaded_models;       /* 0, 1 or LIR_UNLIMITED */
    int32_t max_concurrent_requests; /* 0, 1 or LIR_UNLIMITED */
    bool features[LIR_FEATURE_COUNT];
};

/* "Core", "WriterPro", "Teams", "Enterprise"; "unknown" otherwise. Static storage. */
LIR_API const char *lir_tier_str(enum lir_tier t);
/* The tier named s (borrowed; spec spelling, any case). LIR_OK, or LIR_EINVAL for NULL/unknown. */
LIR_API enum lir_status lir_tier_parse(const char *s, enum lir_tier *out);
/* "embeddings", ...; "unknown" otherwise. Static storage. */
LIR_API const char *lir_feature_str(enum lir_feature f);
/* The feature named s (borrowed). LIR_OK, or LIR_EINVAL for NULL/unknown. */
LIR_API enum lir_status lir_feature_parse(const char *s, enum lir_feature *out);
/* The policy table's row for tier t. LIR_OK, LIR_EINVAL (NULL out, unknown tier). */
LIR_API enum lir_status lir_tier_policy_get(enum lir_tier t, struct lir_tier_policy *out);
/* The lowest tier that has feature f (LIR_TIER_COUNT for an unknown feature). */
LIR_API enum lir_tier lir_feature_min_tier(enum lir_feature f);
/* Whether generation parameter name (borrowed; the lir_sampling_params field names, plus
 * "grammar", "json_schema", "response_format") is "basic". LIR_OK and *basic, or LIR_EINVAL
 * for NULL/unknown names. */
LIR_API enum lir_status lir_generation_param_basic(const char *name, bool *basic);

typedef struct lir_licence lir_licence;

struct lir_licence_params {
    const char *const *public_keys; /* borrowed for the call; n_public_keys base64 Ed25519 keys */
    int32_t n_public_keys;          /* 0 */
    /* Unix seconds now, for issued/expires, called at load and by every check (a licence can
     * expire while the runtime runs). NULL = the system clock. Called from any thread. */
    int64_t (*clock)(void *user);
    void *clock_user;               /* passed to clock; borrowed for the handle's lifetime */
};
LIR_API struct lir_licence_params lir_licence_params_default(void);

/* A licence at a fixed tier, from configuration. On success *out is owned by the caller
 * (free with lir_licence_free). Returns LIR_OK, LIR_EINVAL (NULL out, unknown tier), LIR_ENOMEM. */
LIR_API enum lir_status lir_licence_create_static(enum lir_tier tier, lir_licence **out);
/* Loads a signed licence from path, or from len bytes of data (borrowed; copied).
 * p (borrowed; NULL = defaults, i.e. no keys) gives the public keys and the clock.
 * On LIR_OK *out holds the licence's tier. On a licence problem *out is STILL a handle the
 * caller owns, at LIR_TIER_LOWEST, and err (and lir_licence_status) says what is wrong:
 *   LIR_EIO       the file cannot be read
 *   LIR_EFORMAT   not a licence: bad JSON, base64, signature size, missing/ill-typed field,
 *                 unknown tier or feature, bad date, too large
 *   LIR_ELICENCE  the signature verifies with none of the configured keys (forged, tampered,
 *                 signed by another issuer; no keys configured; a key that is not 32 bytes
 *                 of base64), expired, not yet valid
 *   LIR_EINTERNAL libsodium failed to start
 * Expired / not yet valid are judged against the clock at every call, so such a handle comes
 * back to its tier if the clock enters its window; the other problems are for good.
 * Only LIR_EINVAL (NULL out/path/data) and LIR_ENOMEM leave *out NULL. */
LIR_API enum lir_status lir_licence_load_file(const char *path, const struct lir_licence_params *p,
                                              lir_licence **out, char *err, size_t err_len);
LIR_API enum lir_status lir_licence_load_memory(const char *data, size_t len, const struct lir_licence_params *p,
                                                lir_licence **out, char *err, size_t err_len);
LIR_API void lir_licence_free(lir_licence *lic);

/* The tier in force now: the static tier; the licence's tier while it is valid; else Core.
 * A handle is immutable after load, so every query and check is safe from any thread. */
LIR_API enum lir_tier lir_licence_tier(const lir_licence *lic);
/* LIR_OK while the handle is in force as loaded; else the reason it fell to Core
 * (LIR_EIO/LIR_EFORMAT/LIR_ELICENCE as at load, or LIR_ELICENCE once it expired), with the
 * message in msg (may be NULL; msg_len bytes). LIR_EINVAL for NULL lic. */
LIR_API enum lir_status lir_licence_status(const lir_licence *lic, char *msg, size_t msg_len);
/* The effective policy now: the tier's row plus the licence's add-on features. */
LIR_API void lir_licence_policy(const lir_licence *lic, struct lir_tier_policy *out);

/* What a licence says. licensee/issued/expires are set once the signature verified and the
 * payload parsed (zero/NULL for a static licence or a rejected one, whose licensed_tier is
 * Core); payload once the signature verified. Strings are valid until lir_licence_free. */
struct lir_licence_info {
    bool from_file;
    enum lir_tier licensed_tier; /* the payload's tier (the static tier for a static licence) */
    const char *licensee;        /* NULL when unknown */
    int64_t issued;              /* unix seconds */
    int64_t expires;             /* unix seconds; 0 = perpetual */
    const char *payload;         /* the signed payload JSON, NUL-terminated; NULL when unknown */
    bool features[LIR_FEATURE_COUNT]; /* add-ons the payload grants beyond its tier */
};
LIR_API void lir_licence_get_info(const lir_licence *lic, struct lir_licence_info *out);

/* Gates. Each returns LIR_OK, or LIR_ETIER with a message (may be NULL; msg_len bytes) naming
 * the feature, the tier in force and the tier that unlocks it, e.g.
 *   "embeddings: not in the WriterPro tier; needs the Teams tier or higher"
 * and, when the handle fell to Core, why (" (licence: expired at 2026-01-01T00:00:00Z)").
 * LIR_EINVAL for NULL lic or an unknown feature. */
LIR_API enum lir_status lir_licence_check(const lir_licence *lic, enum lir_feature f, char *msg, size_t msg_len);
/* Whether n models may be loaded at once (the one being loaded included). LIR_ETIER names
 * "multiple loaded models" (or "inference" on Core); LIR_EINVAL for n < 1. */
LIR_API enum lir_status lir_licence_check_loaded_models(const lir_licence *lic, int32_t n, char *msg,
                                                        size_t msg_len);
/* Whether n requests may run at once (the new one included); a scheduler queues past the limit.
 * LIR_ETIER names "concurrent requests" (or "inference"); LIR_EINVAL for n < 1. */
LIR_API enum lir_status lir_licence_check_concurrent_requests(const lir_licence *lic, int32_t n, char *msg,
                                                              size_t msg_len);
/* Whether a request may set the n generation parameters named (borrowed; names as
 * lir_generation_param_basic). LIR_ETIER names the first parameter the tier does not allow,
 * e.g. "top_k: all generation parameters (beyond temperature, top_p, max_tokens, stop) are not in
 * the WriterPro tier; needs the Teams tier or higher" (on Core the refusal names inference).
 * LIR_EINVAL for NULL arguments or an unknown name (named). */
LIR_API enum lir_status lir_licence_check_params(const lir_licence *lic, const char *const *names, int32_t n,
                                                 char *msg, size_t msg_len);
/* As lir_licence_check_params over the fields of p (borrowed) that differ from
 * lir_sampling_params_default(), in struct order (n_logit_bias > 0 is "logit_bias", n_stop > 0 "stop"). */
LIR_API enum lir_status lir_licence_check_sampling(const lir_licence *lic, const struct lir_sampling_params *p,
                                                   char *msg, size_t msg_len);

/* -------------------------------------------------------------- quantize */

/* Requantizing a model file, as llama.cpp's llama-quantize (without an importance matrix).
 * File types are llama.cpp's enum llama_ftype (written to general.file_type). */
enum lir_ftype {
    LIR_FTYPE_ALL_F32 = 0,
    LIR_FTYPE_MOSTLY_F16 = 1,
    LIR_FTYPE_MOSTLY_Q4_0 = 2,
    LIR_FTYPE_MOSTLY_Q4_1 = 3,
    LIR_FTYPE_MOSTLY_Q8_0 = 7,
    LIR_FTYPE_MOSTLY_Q5_0 = 8,
    LIR_FTYPE_MOSTLY_Q5_1 = 9,
    LIR_FTYPE_MOSTLY_Q2_K = 10,
    LIR_FTYPE_MOSTLY_Q3_K_S = 11,
    LIR_FTYPE_MOSTLY_Q3_K_M = 12,
    LIR_FTYPE_MOSTLY_Q3_K_L = 13,
    LIR_FTYPE_MOSTLY_Q4_K_S = 14,
    LIR_FTYPE_MOSTLY_Q4_K_M = 15,
    LIR_FTYPE_MOSTLY_Q5_K_S = 16,
    LIR_FTYPE_MOSTLY_Q5_K_M = 17,
    LIR_FTYPE_MOSTLY_Q6_K = 18,
    LIR_FTYPE_MOSTLY_BF16 = 32,
};
/* The file type named s (borrowed): llama-quantize's names, any case ("Q4_K_M"), its aliases
 * (Q3_K = Q3_K_M, Q4_K = Q4_K_M, Q5_K = Q5_K_M) or the number ("15"). LIR_OK or LIR_EINVAL. */
LIR_API enum lir_status lir_ftype_parse(const char *s, enum lir_ftype *out);
/* "Q4_K_M", ...; "unknown" otherwise. Static storage. */
LIR_API const char *lir_ftype_name(enum lir_ftype t);
/* The valid names, space-separated, for messages. Static storage. */
LIR_API const char *lir_ftype_names(void);
/* A tensor storage type by ggml's name, any case ("q8_0", "Q6_K", "f16", "bf16"): *out is the
 * ggml type id (as stored in GGUF). LIR_OK, or LIR_EINVAL for NULL/unknown names. */
LIR_API enum lir_status lir_tensor_type_parse(const char *s, int32_t *out);
/* ggml's name of type id t ("q4_K"), "unknown" otherwise. Static storage. */
LIR_API const char *lir_tensor_type_name(int32_t t);

struct lir_quantize_params {
    enum lir_ftype ftype;         /* target (LIR_FTYPE_MOSTLY_Q4_K_M) */
    int32_t n_threads;            /* rows are converted on this many threads; 0 = CPUs (at most 16) */
    bool allow_requantize;        /* convert tensors that are already quantized (false: refused) */
    bool pure;                    /* no mix rules: every quantizable tensor in the ftype's base type
                                     (row-size fallbacks still apply) */
    bool leave_output_tensor;     /* output.weight keeps its type (llama-quantize --leave-output-tensor) */
    int32_t output_tensor_type;   /* ggml type id for output.weight (and a tied token_embd); -1 = rules */
    int32_t token_embedding_type; /* ggml type id for token_embd.weight; -1 = rules */
};
LIR_API struct lir_quantize_params lir_quantize_params_default(void);

/* Progress of lir_quantize_model, after each chunk of a tensor is written. */
struct lir_quantize_progress {
    int64_t i_tensor, n_tensors;  /* index in the file; count */
    const char *name;             /* tensor name; valid during the call */
    int32_t type_in, type_out;    /* ggml type ids */
    uint64_t bytes_done, bytes_total; /* of the output's tensor data */
};
/* Called on the thread that called lir_quantize_model. Return false to cancel. */
typedef bool (*lir_quantize_progress_fn)(void *user, const struct lir_quantize_progress *p);

struct lir_quantize_result {
    uint64_t size_in, size_out;   /* file sizes in bytes */
    int64_t n_tensors, n_converted, n_copied; /* copied: already in their target type */
    int64_t n_fallback;           /* tensors whose rows did not fit the chosen type's blocks */
    double seconds;
};

/* Reads the GGUF model at path in (borrowed; any storage type lir supports) and writes it to
 * out (borrowed) with tensors in the types llama.cpp's llama-quantize would choose for p->ftype
 * (NULL p: defaults): tensors it never quantizes (norms and other 1-D tensors, token types,
 * position embeddings, ...) are copied; the mixes (Q2_K, Q3_K_S/M/L, Q4_K_S/M, Q5_K_S/M, and the
 * output.weight -> Q6_K rule of every quantized target) follow llama.cpp's per-tensor rules
 * unless p->pure; rows that are not a multiple of a type's block size fall back as in llama.cpp
 * (Q2_K/Q3_K -> Q4_0, Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, else F16). Tensors are converted
 * row by row through f32 with the reference quantizers (the bytes llama-quantize writes without
 * an imatrix), on p->n_threads threads, never holding a whole tensor in memory. Every key/value
 * is copied (split.* dropped), general.file_type set to p->ftype and general.quantization_version
 * to 2; tensor order, names, shapes and the alignment are kept. The file is written as out.tmp
 * and renamed to out, so out is never left half-written (nor removed on error).
 * progress (may be NULL) is called with user; returning false stops the work (LIR_ECANCELLED).
 * res (may be NULL) receives sizes and counts. On error a message is written to err (may be NULL).
 * Returns LIR_OK, LIR_EINVAL (NULL/empty path, in and out the same file, unknown ftype or type
 * id, an override type whose blocks do not fit a tensor's rows, n_threads outside [0, 64]),
 * LIR_EIO (cannot read in, cannot write out), LIR_EFORMAT (malformed in; NaN or infinity in a
 * tensor to convert, which llama.cpp refuses too; tensors copied as they are are not checked),
 * LIR_EUNSUPPORTED (a quantized tensor to convert without allow_requantize; a split model;
 * nested arrays, NUL bytes in strings or names over 63 bytes, which the writer cannot keep),
 * LIR_ECANCELLED, LIR_ENOMEM. */
LIR_API enum lir_status lir_quantize_model(const char *in, const char *out, const struct lir_quantize_params *p,
                                           lir_quantize_progress_fn progress, void *user,
                                           struct lir_quantize_result *res, char *err, size_t err_len);

/* ---------------------------------------------------------------- runtime */

/* The runtime (spec §2.2 ILocalInferenceManager): installed models (GGUF files in a models
 * directory, or any path), loaded models with their status, metrics and resources, an active
 * model, generation (blocking and streamed), embeddings, resource usage and events (§12).
 *
 * Every lir_runtime_* function may be called from any number of threads at once. Results are
 * copied out into caller structs (no pointer into the runtime survives a call) except where a
 * pointer says otherwise. Requests on one loaded model run one at a time in arrival order (FIFO);
 * requests on different models run in parallel. (A later scheduler replaces the per-model FIFO
 * by continuous batching.) Under a licence whose tier allows one concurrent request (WriterPro,
 * Teams), requests on all models queue for one slot.
 *
 * Ids are UUID strings (36 characters + NUL): an installed model's id is made from its name
 * (the same name gives the same id in every run); a loaded model's id is random per load. */
#define LIR_ID_LEN 37
#define LIR_KEEP_ALIVE_DEFAULT_MS (5 * 60 * 1000) /* Ollama's 5 minutes */
#define LIR_KEEP_ALIVE_NEVER (-1)
#define LIR_GPU_LAYERS_ALL (-1)
#define LIR_TENSOR_SPLIT_MAX 16

typedef struct lir_runtime lir_runtime;

/* A model file found in the models directory or given by path; metadata from its GGUF header. */
struct lir_installed_model {
    char id[LIR_ID_LEN];  /* from the name */
    char name[256];       /* path under the models directory without ".gguf" ("llama/3b-q4"); for a
                             file elsewhere, its absolute path without ".gguf" */
    char path[4096];      /* absolute path of the file */
    char display_name[128]; /* general.name or "" */
    char arch[32];        /* general.architecture */
    char source[16];      /* "local"; "remote" for lir_runtime_add_remote's models */
    char backend[16];     /* "native"; "ollama" or "openai" for remote models */
    uint64_t size_bytes;  /* file size */
    uint64_t parameters;  /* elements of all tensors */
    int32_t context_length; /* <arch>.context_length, 0 when absent */
    int32_t block_count;    /* <arch>.block_count, 0 when absent */
};

/* Spec §5.1 ModelLoadOptions. */
struct lir_load_options {
    int32_t gpu_layers;      /* LIR_GPU_LAYERS_ALL (spec: all); the runtime does not place layers on
                                a GPU yet (its scheduler needs context shifts, snapshots and
                                batch-invariant logits, which the CUDA backend lacks): every layer
                                runs on the CPU whatever this says (the request is kept in options);
                                lir_context_params.gpu_layers runs contexts on GPUs */
    int32_t context_size;    /* 0 = the model's maximum (context_length); else 1..16777216 */
    int32_t batch_size;      /* 256 */
    int32_t threads;         /* 0 = number of CPUs */
    char gpu_id[32];         /* "" = auto */
    int32_t main_gpu;        /* 0; != 0 needs resource management (Enterprise) */
    float tensor_split[LIR_TENSOR_SPLIT_MAX]; /* n_tensor_split proportions, finite, >= 0 */
    int32_t n_tensor_split;  /* 0 = none; > 0 needs resource management (Enterprise) */
    int64_t keep_alive_ms;   /* how long the model stays loaded when idle: LIR_KEEP_ALIVE_DEFAULT_MS;
                                0 = unload when its last request ends; LIR_KEEP_ALIVE_NEVER = never.
                                The idle clock starts at load and restarts at the end of each request. */
    int32_t parallel;        /* sequences decoded together by the model's scheduler (continuous
                                batching), 0..64; 0 = the runtime's (lir_runtime_params.parallel).
                                The KV pool stays context_size tokens, shared by the sequences
                                (memory as for one sequence); see lir_runtime_generate */
};
LIR_API struct lir_load_options lir_load_options_default(void);

enum lir_resource_type { LIR_RESOURCE_RAM, LIR_RESOURCE_VRAM, LIR_RESOURCE_DISK, LIR_RESOURCE_CPU };
/* "Ram", "Vram", "Disk", "Cpu" (the spec's names); "unknown" otherwise. Static storage. */
LIR_API const char *lir_resource_type_str(enum lir_resource_type r);

/* Spec ResourceCheck: whether a load fits, and if not, what would. */
struct lir_resource_issue {
    enum lir_resource_type resource;
    uint64_t required, available; /* bytes */
    char message[256];
};
struct lir_resource_check {
    bool is_sufficient;
    int32_t n_issues;
    struct lir_resource_issue issues[4];
    int32_t suggested_context_size; /* > 0: the largest power-of-two context (>= 256) that fits; 0: none */
    char suggestion[256];           /* e.g. "fits with context_size=4096", or "" */
};

/* Ready: loaded and idle; Busy: requests running or queued (a view: reported while
 * active_requests > 0). A load that fails leaves no entry behind (callers waiting on it get its
 * status and message), so LIR_LOADED_ERROR is not listed today; it is kept for the spec. */
enum lir_loaded_status {
    LIR_LOADED_LOADING, LIR_LOADED_READY, LIR_LOADED_BUSY, LIR_LOADED_UNLOADING, LIR_LOADED_ERROR
};
/* "Loading", "Ready", "Busy", "Unloading", "Error"; "unknown" otherwise. Static storage. */
LIR_API const char *lir_loaded_status_str(enum lir_loaded_status s);

/* Times are Unix milliseconds (UTC); durations milliseconds. */
struct lir_loaded_model {
    char id[LIR_ID_LEN];
    struct lir_installed_model model;
    struct lir_load_options options;   /* as requested (context_size 0 resolved to the model's maximum) */
    enum lir_loaded_status status;
    int64_t loaded_at_ms;
    int64_t last_used_at_ms;           /* 0 = never used */
    int32_t active_requests;           /* running or queued */
    struct {
        int64_t total_requests, total_tokens_generated;
        double total_inference_ms;
        float average_tokens_per_second, peak_tokens_per_second;
        double average_ttft_ms;
    } metrics;
    struct {
        uint64_t ram_bytes;            /* the estimate the load was checked with (weights + KV + compute) */
        uint64_t vram_bytes;           /* 0 without a GPU backend */
        int32_t loaded_layers, gpu_layers, cpu_layers;
        int32_t context_size, context_used; /* context_used: tokens in the KV cache after the last request */
    } resources;
};

/* Alert thresholds per resource, in percent of the resource (0 = off). An alert (a ResourceAlert
 * event) is raised when a sample reaches the threshold, and not again until the value has
 * fallen below threshold - hysteresis_percent (so a value hovering at the line alerts once).
 * vram_percent and gpu_percent apply to each GPU on its own. */
struct lir_alert_config {
    float ram_percent;            /* system RAM used */
    float vram_percent;           /* a GPU's VRAM used */
    float cpu_percent;            /* system CPU busy */
    float gpu_percent;            /* a GPU's utilization */
    float hysteresis_percent;     /* 0..100; lir_runtime_params_default() sets 5 */
};

/* Load progress in [0, 1]; return non-zero to cancel the load (it then fails with LIR_ECANCELLED).
 * Called on the loading thread, with no runtime lock held. */
typedef int (*lir_load_progress_fn)(float progress, void *user);

/* What happens when a sequence fills its context during generation (n_ctx tokens, or fewer when
 * the shared KV pool has no free block left: lir_context_seq_status.available_tokens 0).
 * SHIFT: keep the first n_keep tokens, drop half of the rest (keys re-rotated,
 * lir_context_seq_truncate), emit ContextTruncated (tokens_before, tokens_after) and go on;
 * STOP: finish with finish_reason "length"; ERROR: the request fails with LIR_ECONTEXT.
 * DEFAULT: the runtime's (lir_runtime_params.overflow; STOP when that is DEFAULT too). */
enum lir_overflow_policy { LIR_OVERFLOW_DEFAULT, LIR_OVERFLOW_SHIFT, LIR_OVERFLOW_STOP, LIR_OVERFLOW_ERROR };

struct lir_runtime_params {
    const char *models_dir;       /* borrowed for the call (copied); NULL = none (paths only) */
    const lir_licence *licence;   /* borrowed: must outlive the runtime; NULL = static LIR_TIER_DEFAULT */
    /* Bytes of RAM free for a new model, NULL = /proc/meminfo MemAvailable. A hook for tests and
     * for hosts that budget memory themselves. Called with no runtime lock held. */
    uint64_t (*mem_available)(void *user);
    void *mem_user;
    float ram_alert_percent;      /* 90: a ResourceAlert event when system RAM use passes it after a
                                     load or in lir_runtime_resource_usage; 0 = off. With the monitor
                                     running, this is the monitor's RAM threshold (alerts.ram_percent
                                     wins when set) and alerts come from its samples, with hysteresis */
    int32_t monitor_interval_ms;  /* 100: the resource monitor's sampling period, 10..60000; 0 = no monitor */
    int32_t history_seconds;      /* 300: full-resolution samples kept in memory, 1..86400 */
    const char *data_dir;         /* borrowed for the call (copied); NULL = no store. The store is
                                     <data_dir>/lir.db (see lir_data_dir_default) */
    struct lir_alert_config alerts; /* zeros = only ram_alert_percent; see lir_alert_config */
    const char *snapshots_dir;    /* borrowed for the call (copied); NULL = $XDG_DATA_HOME/lir/snapshots
                                     (~/.local/share/lir/snapshots): the context manager's snapshot files */
    int32_t parallel;             /* 4 (Ollama's OLLAMA_NUM_PARALLEL): sequences per loaded model whose
                                     options say 0, 1..64; 0 = 4 */
    int32_t max_queue;            /* 256: requests waiting per loaded model beyond the running ones;
                                     one more gets LIR_EBUSY. 1..65536; 0 = 256 */
    enum lir_overflow_policy overflow; /* requests' default overflow policy; DEFAULT = STOP */
};
LIR_API struct lir_runtime_params lir_runtime_params_default(void);

/* Creates a runtime (starts its idle-unload and event threads). On success *out is owned by the
 * caller (free with lir_runtime_destroy). Returns LIR_OK, LIR_EINVAL, LIR_ENOMEM (err: why). */
LIR_API enum lir_status lir_runtime_create(const struct lir_runtime_params *params, lir_runtime **out, char *err,
                                           size_t err_len);
/* Unloads every model (waiting for running requests to finish), delivers the pending events,
 * stops the threads and frees rt. Accepts NULL. No other call on rt may be running or start. */
LIR_API void lir_runtime_destroy(lir_runtime *rt);

/* Installed models: the *.gguf files under the models directory (up to 4 levels of folders;
 * files that are not valid GGUF are skipped), sorted by name. *out is a malloc'd array of *n
 * entries owned by the caller (free with lir_runtime_free); NULL when *n is 0.
 * Returns LIR_OK, LIR_EINVAL, LIR_ENOMEM. A missing directory gives an empty list. */
LIR_API enum lir_status lir_runtime_list_installed(lir_runtime *rt, struct lir_installed_model **out, int32_t *n);
/* Scans dir (borrowed) without a runtime, as lir_runtime_list_installed (for `lir models`). */
LIR_API enum lir_status lir_models_scan(const char *dir, struct lir_installed_model **out, int32_t *n);
/* Header metadata of one GGUF file (borrowed path) as an installed model outside any directory.
 * Returns LIR_OK, LIR_EINVAL, LIR_EIO, LIR_EFORMAT (err: why). */
LIR_API enum lir_status lir_model_inspect(const char *path, struct lir_installed_model *out, char *err,
                                          size_t err_len);
/* Frees an array returned by a lir_runtime_* / lir_models_scan call. Accepts NULL. */
LIR_API void lir_runtime_free(void *p);

/* Whether model (an installed id or name, a loaded id, or a path; borrowed) fits in free memory
 * with options (NULL = defaults), counting what is already reserved by loads in progress and
 * the weights of an already mapped file once. Fills *check. Returns LIR_OK (even when it does
 * not fit: see check->is_sufficient), LIR_EINVAL, LIR_ENOTFOUND, LIR_EIO, LIR_EFORMAT. */
LIR_API enum lir_status lir_runtime_check_resources(lir_runtime *rt, const char *model,
                                                    const struct lir_load_options *options,
                                                    struct lir_resource_check *check, char *err, size_t err_len);

/* Loads model (as above; borrowed) with options (borrowed; NULL = defaults) and writes the loaded
 * id to loaded_id (LIR_ID_LEN bytes; may be NULL). Flow (spec §3.2): metadata, options checked,
 * licence (inference; a model beyond the tier's loaded-model limit: LIR_ETIER; main_gpu/tensor_split:
 * resource management), resource check — if short, nothing is allocated, *check (may be NULL)
 * says why with a suggestion, ModelLoadFailed is emitted and LIR_ENOMEM returned — then
 * ModelLoadStarted, the weights are paged in (progress, may be NULL) and the context created,
 * ModelLoadCompleted. The same model with the same options already loaded (or loading: the call
 * waits for it) is not loaded again: its id is returned. Another load of the same file with other
 * options shares the file's mapping (weights once in memory). The first loaded model becomes the
 * active one when none is. Returns LIR_OK, LIR_EINVAL (options out of range), LIR_ENOTFOUND,
 * LIR_EIO, LIR_EFORMAT, LIR_EUNSUPPORTED, LIR_ENOMEM, LIR_ETIER, LIR_ECANCELLED (err: why). */
LIR_API enum lir_status lir_runtime_load(lir_runtime *rt, const char *model, const struct lir_load_options *options,
                                         lir_load_progress_fn progress, void *progress_user, char *loaded_id,
                                         struct lir_resource_check *check, char *err, size_t err_len);
/* Unloads a loaded model (loaded_id borrowed): new requests for it are refused, the running and
 * queued ones finish first, then its memory is returned and ModelUnloaded emitted.
 * Returns LIR_OK, LIR_EINVAL, LIR_ENOTFOUND. */
LIR_API enum lir_status lir_runtime_unload(lir_runtime *rt, const char *loaded_id);
/* Unloads every loaded model. Returns LIR_OK, LIR_EINVAL. */
LIR_API enum lir_status lir_runtime_unload_all(lir_runtime *rt);
/* Loaded models in load order: *out is a malloc'd array of *n (free with lir_runtime_free; NULL
 * when none). Returns LIR_OK, LIR_EINVAL, LIR_ENOMEM. */
LIR_API enum lir_status lir_runtime_list_loaded(lir_runtime *rt, struct lir_loaded_model **out, int32_t *n);
/* One loaded model by id (borrowed). Returns LIR_OK, LIR_EINVAL, LIR_ENOTFOUND. */
LIR_API enum lir_status lir_runtime_get_loaded(lir_runtime *rt, const char *loaded_id, struct lir_loaded_model *out);
/* The active model. Returns LIR_OK, LIR_EINVAL, LIR_ENOTFOUND (none). */
LIR_API enum lir_status lir_runtime_get_active(lir_runtime *rt, struct lir_loaded_model *out);
/* Makes a loaded model (loaded_id borrowed) the active one. Returns LIR_OK, LIR_EINVAL, LIR_ENOTFOUND. */
LIR_API enum lir_status lir_runtime_set_active(lir_runtime *rt, const char *loaded_id);

enum lir_chat_role { LIR_ROLE_SYSTEM, LIR_ROLE_USER, LIR_ROLE_ASSISTANT };
struct lir_chat_message {
    enum lir_chat_role role;
    const char *content; /* borrowed for the call; NUL-terminated UTF-8 */
};
enum lir_response_format { LIR_FORMAT_TEXT, LIR_FORMAT_JSON, LIR_FORMAT_JSON_SCHEMA };

/* Spec LocalGenerationRequest. Every pointer is borrowed for the call. */
struct lir_generate_request {
    const char *model;       /* a loaded id, an installed id or name, or a path; NULL = the active
                                model. A model that is not loaded is loaded with default options
                                (concurrent requests for it load it once). */
    const char *prompt;      /* raw text, tokenized as llama.cpp does for a prompt (BOS as the
                                vocabulary asks, control tokens written in the text parsed) */
    const struct lir_chat_message *messages; /* or: rendered with the model's chat template
                                (chatml when it has none) and an assistant header */
    int32_t n_messages;
    const char *system_prompt; /* NULL; with messages: a system message first; with a prompt: the
                                  pair is rendered as a chat [system, user: prompt] */
    struct lir_sampling_params sampling; /* lir_sampling_params_default(); max_tokens 0 = until
                                  end of generation or a full context */
    enum lir_response_format format; /* TEXT; JSON: any JSON object; JSON_SCHEMA: json_schema */
    const char *json_schema;  /* with LIR_FORMAT_JSON_SCHEMA */
    const char *grammar;      /* GBNF (root rule "root"); NULL = none; not with a format */
    enum lir_overflow_policy overflow; /* DEFAULT: the runtime's */
    int32_t n_keep;           /* tokens kept at the start by a shift or a prompt truncation;
                                 -1 (the default) = the system prompt's tokens (with messages or
                                 system_prompt), else 1 when the prompt starts with BOS, else 0 */
    bool truncate_prompt;     /* a prompt that does not fit the context: false (default) =
                                 LIR_ECONTEXT naming the sizes; true = keep its first n_keep tokens
                                 and its last ones up to half the context, report the dropped
                                 count in usage.truncated_tokens */
    int64_t timeout_ms;       /* 0 = none; else the request (queueing included) ends with
                                 LIR_ETIMEDOUT when it has not finished after this long */
    bool logprobs;            /* false; true: report each generated token's log-probability and
                                 its sampling.n_probs best alternatives (struct lir_token_logprobs,
                                 in the chunks and the result; OpenAI's logprobs/top_logprobs) */
};
LIR_API struct lir_generate_request lir_generate_request_default(void);

/* A token with its log-probability: log-softmax of the logits it was drawn from, before
 * logit_bias, penalties, truncation and temperature (as lir_sampler_sample reports them; under a
 * grammar, of the logits the grammar allowed when it had to filter). */
struct lir_token_alt {
    lir_token token;
    float logprob;
    const char *piece;         /* the token's text, piece_len bytes, not NUL-terminated (a byte-level
                                  token may hold part of a UTF-8 character; a control token none);
                                  owned by the chunk or result that holds the entry */
    size_t piece_len;
};
/* One generated token (request.logprobs): every sampled token but the end-of-generation one. */
struct lir_token_logprobs {
    struct lir_token_alt chosen;
    int32_t n_top;             /* min(sampling.n_probs, vocabulary size) */
    struct lir_token_alt top[LIR_N_PROBS_MAX]; /* largest first, lower id first on ties */
};

struct lir_generation_usage {
    int32_t prompt_tokens, completion_tokens, total_tokens;
    int32_t cached_tokens;            /* prompt tokens whose KV was reused (prefix reuse) */
    int32_t prompt_tokens_evaluated;  /* prompt tokens evaluated: prompt_tokens - cached - truncated */
    int32_t truncated_tokens;         /* prompt tokens dropped by truncate_prompt */
    int32_t context_shifts;           /* shifts done during generation (overflow SHIFT) */
};
/* Spec LocalGenerationMetrics, in milliseconds from the call (queueing included). */
struct lir_generation_metrics {
    double total_ms;
    double ttft_ms;            /* until the first token was sampled */
    double generation_ms;      /* from the end of prompt evaluation to the end */
    float tokens_per_second;   /* completion_tokens / generation time */
    float prompt_tokens_per_second;
};

struct lir_generate_result {
    char *text;                /* owned by the caller: free with lir_generate_result_clear;
                                  NUL-terminated UTF-8, len bytes */
    size_t len;
    struct lir_generation_usage usage;
    enum lir_finish_reason finish_reason;
    struct lir_generation_metrics metrics;
    char loaded_model_id[LIR_ID_LEN];
    uint64_t seed;             /* the seed used (the drawn one for LIR_SEED_RANDOM) */
    struct lir_token_logprobs *logprobs; /* request.logprobs: n_logprobs entries, one per generated
                                  token in order (remote models: none); owned, freed by clear */
    int32_t n_logprobs;
    char *logprob_text;        /* storage of the entries' pieces (owned, freed by clear) */
};
LIR_API void lir_generate_result_clear(struct lir_generate_result *r);

/* Runs a generation to its end. On LIR_OK *out is filled (clear it with lir_generate_result_clear).
 * Scheduling: each loaded model has a scheduler thread that decodes up to `parallel` requests
 * together (one forward step for all of them; a prompt is evaluated in chunks so running streams
 * wait at most one batch_size chunk); further requests wait in a queue of max_queue, in order.
 * A request reuses the KV of the idle sequence whose tokens share the longest prefix with its
 * prompt (usage.cached_tokens) and evaluates only the rest. The result does not depend on what
 * else runs (same seed, same output). The tier's concurrent-request limit counts running and
 * queued requests of all models.
 * Returns LIR_OK, LIR_EINVAL (no input, no model and no active model, bad parameters: message
 * names them), LIR_ERANGE, LIR_ENOTFOUND, LIR_ECONTEXT (the prompt does not fit the context),
 * LIR_ETIER (parameters, grammar or inference beyond the tier), the load statuses when the model
 * is loaded on demand, LIR_EBUSY (the model's queue is full), LIR_ETIMEDOUT (timeout_ms passed),
 * LIR_EINTERNAL (evaluation failed). GenerationStarted is emitted once the
 * prompt is tokenized, then GenerationCompleted or GenerationFailed. */
LIR_API enum lir_status lir_runtime_generate(lir_runtime *rt, const struct lir_generate_request *req,
                                             struct lir_generate_result *out, char *err, size_t err_len);

/* One streamed piece of text: whole UTF-8 characters, never any part of a stop string. */
struct lir_generate_chunk {
    const char *text;          /* valid during the callback only; may be empty on the last chunk */
    size_t len;
    int32_t token_index;       /* 0-based index of the generated token that completed this text */
    bool is_complete;          /* the last chunk: finish_reason is set */
    enum lir_finish_reason finish_reason;
    const struct lir_token_logprobs *logprobs; /* request.logprobs: the tokens sampled since the
                                  previous chunk (text held back by a stop string comes later,
                                  so a chunk may carry more or fewer tokens than its text shows;
                                  the last chunk carries the rest); valid during the callback */
    int32_t n_logprobs;
};
/* Return 0 to go on, non-zero to cancel: generation stops before the next token and the call
 * returns LIR_ECANCELLED (no further chunk is delivered). The return value of the last chunk is
 * ignored. Called on the calling thread with no runtime lock held. */
typedef int (*lir_stream_fn)(const struct lir_generate_chunk *chunk, void *user);
/* As lir_runtime_generate, delivering the text through cb (not NULL) as it is generated.
 * out (may be NULL) receives the whole result, also when cancelled (finish_reason CANCELLED).
 * Returns the statuses of lir_runtime_generate, and LIR_ECANCELLED. */
LIR_API enum lir_status lir_runtime_generate_stream(lir_runtime *rt, const struct lir_generate_request *req,
                                                    lir_stream_fn cb, void *user, struct lir_generate_result *out,
                                                    char *err, size_t err_len);

/* Spec LocalEmbeddingRequest. Pointers borrowed for the call. */
struct lir_embed_request {
    const char *model;         /* as lir_generate_request.model */
    const char *const *texts;  /* n_texts NUL-terminated strings */
    int32_t n_texts;           /* >= 1 */
    bool normalize;            /* true */
    enum lir_pooling pooling;  /* LIR_POOLING_MODEL */
};
LIR_API struct lir_embed_request lir_embed_request_default(void);
struct lir_embed_result {
    float *embeddings;         /* n x dimensions floats, row per text; owned by the caller:
                                  lir_embed_result_clear */
    int32_t n, dimensions;
    int32_t total_tokens;
    char loaded_model_id[LIR_ID_LEN];
};
LIR_API void lir_embed_result_clear(struct lir_embed_result *r);
/* Embeds each text as lir_embed. Returns LIR_OK, LIR_EINVAL, LIR_ENOTFOUND, LIR_ECONTEXT,
 * LIR_ETIER (embeddings need Teams), LIR_EUNSUPPORTED, the load statuses, LIR_ENOMEM. */
LIR_API enum lir_status lir_runtime_embed(lir_runtime *rt, const struct lir_embed_request *req,
                                          struct lir_embed_result *out, char *err, size_t err_len);

/* Spec GpuResourceUsage: one GPU as NVML reports it (the monitor loads libnvidia-ml.so.1 at run
 * time; without it, or without a GPU, the list is empty). Values NVML does not give are 0. */
#define LIR_MAX_GPUS 8
struct lir_gpu_usage {
    int32_t id;                   /* NVML index */
    char name[96];                /* e.g. "NVIDIA H200" */
    uint64_t vram_total_bytes, vram_used_bytes;
    uint64_t vram_held_bytes;     /* held by this runtime's models (0 without a GPU backend) */
    float utilization_percent, temperature_c, power_w;
};

/* Spec InferenceResourceUsage. With the monitor running (lir_runtime_params.monitor_interval_ms
 * > 0, the default) lir_runtime_resource_usage gives its latest sample (CPU percentages over the
 * last interval) with the runtime's counters (active models and requests, models' RAM, tok/s) as
 * of the call; with it off, everything is read by the call and CPU percentages are measured
 * between this call and the previous one on rt (0 on the first call). cpu_usage_percent: all CPUs busy = 100; process_cpu_percent: this process's share of
 * all CPUs (one core busy on an 8-core machine = 12.5). */
struct lir_resource_usage {
    int64_t timestamp_ms;
    uint64_t system_ram_bytes, system_ram_used_bytes, process_ram_bytes, models_ram_bytes;
    int32_t n_gpus;               /* entries of gpus used */
    float cpu_usage_percent, process_cpu_percent;
    int32_t active_models, active_requests;
    float current_tokens_per_second; /* sum over the running requests' rates */
    struct lir_gpu_usage gpus[LIR_MAX_GPUS];
};
LIR_API enum lir_status lir_runtime_resource_usage(lir_runtime *rt, struct lir_resource_usage *out);

/* Events (spec §12), delivered in emission order to every subscriber by one event thread of the
 * runtime, with no runtime lock held (a callback may call the runtime, but must not wait on a
 * generation that waits on events). */
#define LIR_EVENT_MAP(X)                              \
    X(MODEL_LOAD_STARTED, "ModelLoadStarted")         \
    X(MODEL_LOAD_COMPLETED, "ModelLoadCompleted")     \
    X(MODEL_LOAD_FAILED, "ModelLoadFailed")           \
    X(MODEL_UNLOADED, "ModelUnloaded")                \
    X(GENERATION_STARTED, "GenerationStarted")        \
    X(GENERATION_COMPLETED, "GenerationCompleted")    \
    X(GENERATION_FAILED, "GenerationFailed")          \
    X(RESOURCE_ALERT, "ResourceAlert")                \
    X(CONTEXT_TRUNCATED, "ContextTruncated")          \
    X(SNAPSHOT_SAVED, "SnapshotSaved")                \
    X(SNAPSHOT_RESTORED, "SnapshotRestored")

enum lir_event_type {
#define X(name, str) LIR_EVENT_##name,
    LIR_EVENT_MAP(X)
#undef X
    LIR_EVENT_COUNT
};
/* "ModelLoadStarted", ...; "unknown" otherwise. Static storage. */
LIR_API const char *lir_event_type_str(enum lir_event_type t);

/* One event. Fields that the type does not use are zero / "". Valid during the callback only. */
struct lir_event {
    enum lir_event_type type;
    uint64_t seq;                 /* 1, 2, 3... in emission order */
    int64_t timestamp_ms;         /* Unix milliseconds (UTC) at emission */
    char model_id[LIR_ID_LEN];    /* installed model: load started / failed */
    char model_name[256];         /* installed model name (load events), else "" */
    char loaded_model_id[LIR_ID_LEN]; /* load completed, unloaded, generation *, context, snapshot */
    struct lir_load_options options;  /* load started */
    double duration_ms;           /* load completed */
    char message[512];            /* load failed / generation failed: the error; resource alert: the text */
    int32_t prompt_tokens;        /* generation started / completed */
    int32_t completion_tokens;    /* generation completed */
    enum lir_finish_reason finish_reason; /* generation completed */
    struct lir_generation_metrics metrics; /* generation completed */
    enum lir_resource_type resource;      /* resource alert */
    float usage_percent;                  /* resource alert */
    int32_t tokens_before, tokens_after;  /* context truncated */
    char snapshot_id[LIR_ID_LEN];         /* snapshot saved / restored */
};
typedef void (*lir_event_fn)(const struct lir_event *ev, void *user);
/* Subscribes fn (with user, borrowed until unsubscribed) to every event emitted from now on and
 * writes a subscription id (> 0) to *sub_id. Returns LIR_OK, LIR_EINVAL, LIR_ENOMEM. */
LIR_API enum lir_status lir_runtime_subscribe(lir_runtime *rt, lir_event_fn fn, void *user, int64_t *sub_id);
/* Ends a subscription; when it returns, fn is not running and will not be called again (unless
 * called from fn itself, which is allowed). Returns LIR_OK, LIR_EINVAL, LIR_ENOTFOUND. */
LIR_API enum lir_status lir_runtime_unsubscribe(lir_runtime *rt, int64_t sub_id);
/* Waits until every event emitted before the call has been delivered. Not from a callback. */
LIR_API void lir_runtime_events_flush(lir_runtime *rt);
/* Emits an event (type, and the fields the type uses, from ev; seq and timestamp are set here);
 * for the runtime's components (context manager, monitor) and hosts. Returns LIR_OK, LIR_EINVAL,
 * LIR_ENOMEM. */
LIR_API enum lir_status lir_runtime_emit(lir_runtime *rt, const struct lir_event *ev);

/* ------------------------------------------------- runtime: context manager */

/* Spec IContextManager over a loaded model's context: the sequence its requests use (0).
 * loaded_id (borrowed) is a loaded model's id, or NULL for the active model; a model that is not
 * loaded is LIR_ENOTFOUND (these calls never load one). Each call takes the model's FIFO turn, which
 * pauses its scheduler between steps once sequence 0's running request has finished (so a call can
 * wait for that request), and never runs during a decode step. Licence: status, clear
 * and truncate need context management (Teams), snapshots need context snapshots (Enterprise):
 * LIR_ETIER otherwise. Errors are written to err (may be NULL; err_len bytes). */

/* Spec ContextStatus. */
struct lir_context_usage {
    char loaded_model_id[LIR_ID_LEN];
    int32_t max_context_size;     /* n_ctx */
    int32_t used_tokens;
    int32_t available_tokens;     /* max_context_size - used_tokens (fewer when the KV pool is short) */
    float usage_percent;          /* 100 x used / max */
    uint64_t kv_cache_bytes;      /* exact bytes of KV the sequence holds (whole blocks) */
    uint64_t kv_cache_capacity_bytes; /* the context's whole KV pool */
    uint64_t kv_cache_used_bytes; /* blocks in use by all its sequences (the scheduler's slots), shared ones once */
};
/* Returns LIR_OK, LIR_EINVAL, LIR_ENOTFOUND, LIR_ETIER. */
LIR_API enum lir_status lir_runtime_context_status(lir_runtime *rt, const char *loaded_id, struct lir_context_usage *out,
                                                   char *err, size_t err_len);
/* Empties the context. Returns LIR_OK, LIR_EINVAL, LIR_ENOTFOUND, LIR_ETIER. */
LIR_API enum lir_status lir_runtime_context_clear(lir_runtime *rt, const char *loaded_id, char *err, size_t err_len);
/* Context shift: leaves at most keep_tokens tokens — the first n_keep (the system prompt; n_keep < 0:
 * 1 when the context starts with BOS, else 0) and the most recent rest — dropping the middle; the kept
 * keys are re-rotated to their new positions (lir_context_seq_truncate), so generation continues
 * coherently. Nothing happens when the context holds at most keep_tokens. Emits ContextTruncated
 * (tokens_before, tokens_after). *out (may be NULL) receives the status afterwards.
 * Returns LIR_OK, LIR_EINVAL (keep_tokens < 0, n_keep > keep_tokens), LIR_ENOTFOUND, LIR_ETIER,
 * LIR_ECONTEXT. */
LIR_API enum lir_status lir_runtime_context_truncate(lir_runtime *rt, const char *loaded_id, int32_t keep_tokens,
                                                     int32_t n_keep, struct lir_context_usage *out, char *err,
                                                     size_t err_len);

/* Spec ContextSnapshot (without the data, which stays in the file). Snapshots are files
 * <snapshots_dir>/<name>.lirsnap (lir_snapshot_save's format); a name is 1..128 characters of
 * A-Z a-z 0-9 '_' '-' '.' ' ', not starting with '.' or ' ' (so it can never leave the directory). */
struct lir_snapshot_entry {
    char id[LIR_ID_LEN];          /* from the name (the same name gives the same id) */
    char name[LIR_SNAPSHOT_NAME_MAX];
    char loaded_model_id[LIR_ID_LEN]; /* save/restore: the model; list: "" */
    char model_fingerprint[2 * LIR_FINGERPRINT_LEN + 1]; /* hex */
    int32_t token_count;
    uint64_t size_bytes;
    int64_t created_at_ms;
};
/* Saves the model's context as snapshot name (borrowed), replacing one of that name (atomically:
 * the old file stays until the new one is complete). Emits SnapshotSaved (snapshot_id; message =
 * the name). out (may be NULL) receives the entry. Returns LIR_OK, LIR_EINVAL (bad name),
 * LIR_ENOTFOUND, LIR_ETIER, LIR_EIO, LIR_ENOMEM. */
LIR_API enum lir_status lir_runtime_snapshot_save(lir_runtime *rt, const char *loaded_id, const char *name,
                                                  struct lir_snapshot_entry *out, char *err, size_t err_len);
/* Restores snapshot name into the model's context (lir_snapshot_restore: everything is checked
 * first, the context is unchanged on any error). Emits SnapshotRestored. Returns LIR_OK, LIR_EINVAL,
 * LIR_ENOTFOUND (no model, no snapshot of that name), LIR_ETIER, and lir_snapshot_restore's
 * statuses (LIR_EFORMAT corrupt, LIR_ERANGE another model, LIR_ECONTEXT does not fit, ...). */
LIR_API enum lir_status lir_runtime_snapshot_restore(lir_runtime *rt, const char *loaded_id, const char *name,
                                                     struct lir_snapshot_entry *out, char *err, size_t err_len);
/* The snapshots in the directory, newest first; with loaded_id (borrowed, may be NULL) only those
 * of that model (same fingerprint). Files that are not valid snapshots are skipped (their headers
 * are read, not their checksums). *out: malloc'd array of *n (free with lir_runtime_free; NULL
 * when none). A missing directory gives an empty list. Returns LIR_OK, LIR_EINVAL, LIR_ENOTFOUND,
 * LIR_ETIER, LIR_EIO, LIR_ENOMEM. */
LIR_API enum lir_status lir_runtime_snapshot_list(lir_runtime *rt, const char *loaded_id,
                                                  struct lir_snapshot_entry **out, int32_t *n, char *err,
                                                  size_t err_len);
/* Deletes snapshot name. Returns LIR_OK, LIR_EINVAL (bad name), LIR_ENOTFOUND, LIR_ETIER, LIR_EIO. */
LIR_API enum lir_status lir_runtime_snapshot_delete(lir_runtime *rt, const char *name, char *err, size_t err_len);

/* ------------------------------------------------- monitor, profiler, store */

/* The resource monitor (spec §2.2 IInferenceResourceMonitor, §3.4) is a thread of the runtime
 * sampling /proc and NVML every monitor_interval_ms; the profiler (§2.1) keeps per-request
 * records and per-model aggregates; the store keeps history in SQLite (§4.1) when the runtime
 * has a data_dir. Every function here may be called from any thread. */

/* Live samples: fn is called on the monitor thread after each sample, with no runtime lock held
 * (u valid during the call only). user is borrowed until unsubscribed. Writes an id (> 0) to
 * *sub_id. Returns LIR_OK, LIR_EINVAL (no monitor: monitor_interval_ms was 0), LIR_ENOMEM. */
typedef void (*lir_usage_fn)(const struct lir_resource_usage *u, void *user);
LIR_API enum lir_status lir_runtime_usage_subscribe(lir_runtime *rt, lir_usage_fn fn, void *user, int64_t *sub_id);
/* When it returns, fn is not running and will not be called again (also from fn itself).
 * Returns LIR_OK, LIR_EINVAL, LIR_ENOTFOUND. */
LIR_API enum lir_status lir_runtime_usage_unsubscribe(lir_runtime *rt, int64_t sub_id);

/* Samples of the last period_ms (> 0), oldest first: full resolution from memory while the period
 * fits in history_seconds, else from the store (1 s averages up to 24 h, 1 min averages beyond),
 * else what memory holds. *out is malloc'd (free with lir_runtime_free; NULL when *n is 0).
 * Returns LIR_OK, LIR_EINVAL (no monitor, period_ms <= 0), LIR_ENOMEM, LIR_EIO (store). */
LIR_API enum lir_status lir_runtime_resource_history(lir_runtime *rt, int64_t period_ms,
                                                     struct lir_resource_usage **out, int32_t *n);

/* Spec ResourceRequirements. */
struct lir_resource_requirements {
    uint64_t ram_bytes;
    uint64_t vram_bytes;          /* 0 = none */
    int32_t gpu_layers;           /* 0 = none; > 0 needs vram_bytes on one GPU */
};
/* Spec CheckResources: whether req fits what is free now (RAM: what the load check counts as
 * free, less what loads in progress reserve; VRAM: the GPU with most free memory). Fills *check
 * (issues name resource, required and available bytes; suggestion says what would fit).
 * Returns LIR_OK (also when short), LIR_EINVAL. */
LIR_API enum lir_status lir_runtime_check_requirements(lir_runtime *rt, const struct lir_resource_requirements *req,
                                                       struct lir_resource_check *check);

/* Alert thresholds (spec SetAlerts). Setting needs resource management (Enterprise): LIR_ETIER
 * with err saying the tier. Thresholds and hysteresis in [0, 100]: LIR_EINVAL naming the field.
 * Returns LIR_OK, LIR_EINVAL (also: no monitor), LIR_ETIER. */
LIR_API enum lir_status lir_runtime_set_alerts(lir_runtime *rt, const struct lir_alert_config *cfg, char *err,
                                               size_t err_len);
LIR_API enum lir_status lir_runtime_get_alerts(lir_runtime *rt, struct lir_alert_config *out);

/* One finished generation as the profiler recorded it (times from the runtime's monotonic clock
 * around the real work, queueing included in total_ms and ttft_ms). */
struct lir_request_record {
    int64_t timestamp_ms;         /* Unix ms at completion */
    char loaded_model_id[LIR_ID_LEN];
    char model_name[256];         /* installed model name */
    struct lir_generation_usage usage;
    enum lir_finish_reason finish_reason;
    struct lir_generation_metrics metrics;
};
/* Distribution of one measure: percentiles by linear interpolation between the sorted values
 * (as numpy's default), mean and sample standard deviation (n - 1; 0 when n < 2). */
struct lir_percentiles {
    int32_t n;
    double min, max, mean, stddev, p50, p95, p99;
};
/* Fills *out from values (borrowed, n >= 0; n = 0 gives all zeros). Returns LIR_OK, LIR_EINVAL,
 * LIR_ENOMEM. */
LIR_API enum lir_status lir_percentiles_compute(const double *values, int32_t n, struct lir_percentiles *out);

/* Per-model aggregates (spec LoadedModel metrics) over every request since load, and
 * distributions over the most recent requests (the profiler keeps the last 1000 per model). */
struct lir_model_profile {
    char loaded_model_id[LIR_ID_LEN];
    char model_name[256];
    int64_t requests, prompt_tokens, completion_tokens;
    double total_inference_ms;
    float average_tokens_per_second, peak_tokens_per_second;
    double average_ttft_ms;
    struct lir_percentiles ttft_ms, total_ms, generation_ms, tokens_per_second, prompt_tokens_per_second;
};
/* Profiles of every model that has served a request (also unloaded ones), in first-use order.
 * Needs profiling (Enterprise). *out malloc'd (lir_runtime_free). Returns LIR_OK, LIR_EINVAL,
 * LIR_ENOMEM, LIR_ETIER. */
LIR_API enum lir_status lir_runtime_profile_models(lir_runtime *rt, struct lir_model_profile **out, int32_t *n);
/* Request records, oldest first (the last 1000 per model); loaded_id NULL = every model. Needs
 * profiling. *out malloc'd (lir_runtime_free). Returns LIR_OK, LIR_EINVAL, LIR_ENOMEM, LIR_ETIER. */
LIR_API enum lir_status lir_runtime_profile_records(lir_runtime *rt, const char *loaded_id,
                                                    struct lir_request_record **out, int32_t *n);
enum lir_export_format { LIR_EXPORT_JSON, LIR_EXPORT_CSV };
/* Export of records and profiles: JSON {"models":[profile...],"requests":[record...]} (field
 * names = the struct fields) or CSV (a header line, then one line per request record). *out is
 * malloc'd, NUL-terminated (free with lir_runtime_free). Needs profiling. Returns LIR_OK,
 * LIR_EINVAL, LIR_ENOMEM, LIR_ETIER. */
LIR_API enum lir_status lir_runtime_profile_export(lir_runtime *rt, enum lir_export_format fmt, char **out,
                                                   size_t *len);
/* The same export of given profiles and records (borrowed; e.g. from lir_store_profiles), for
 * callers without a runtime. Returns LIR_OK, LIR_EINVAL, LIR_ENOMEM. */
LIR_API enum lir_status lir_profiles_export(const struct lir_model_profile *models, int32_t n_models,
                                            const struct lir_request_record *records, int32_t n_records,
                                            enum lir_export_format fmt, char **out, size_t *len);

/* JSON of one sample, field names = the struct fields, gpus as an array of n_gpus objects.
 * *out malloc'd (lir_runtime_free). Returns LIR_OK, LIR_EINVAL, LIR_ENOMEM. */
LIR_API enum lir_status lir_resource_usage_json(const struct lir_resource_usage *u, char **out);

/* The store: <data_dir>/lir.db, SQLite in WAL mode with foreign keys on, the tables of spec §4.1
 * (loaded_models, loaded_model_resources, context_snapshots, resource_usage_history,
 * generation_metrics, inference_events). A runtime with a data_dir writes it from one writer
 * thread in batched transactions; lir_store_open opens it for reading (lir stats, servers). */
typedef struct lir_store lir_store;
/* $XDG_DATA_HOME/lir, else $HOME/.local/share/lir, into buf (n bytes). Returns LIR_OK, LIR_EINVAL
 * (no HOME, or buf too small). */
LIR_API enum lir_status lir_data_dir_default(char *buf, size_t n);
/* Opens <data_dir>/lir.db read-only (data_dir borrowed). Returns LIR_OK, LIR_EINVAL, LIR_ENOTFOUND
 * (no database), LIR_EIO, LIR_EFORMAT (not a lir store, or newer schema) (err: why). *out owned by
 * the caller: lir_store_close. */
LIR_API enum lir_status lir_store_open(const char *data_dir, lir_store **out, char *err, size_t err_len);
LIR_API void lir_store_close(lir_store *st);
/* Stored samples in [since_ms, until_ms] at resolution_s 1 or 60, oldest first. *out malloc'd
 * (lir_runtime_free). Returns LIR_OK, LIR_EINVAL, LIR_ENOMEM, LIR_EIO. */
LIR_API enum lir_status lir_store_history(lir_store *st, int64_t since_ms, int64_t until_ms, int32_t resolution_s,
                                          struct lir_resource_usage **out, int32_t *n);
/* Per-model profiles from the generation_metrics rows since since_ms (grouped by loaded model;
 * aggregates and distributions over those rows). *out malloc'd (lir_runtime_free). Returns
 * LIR_OK, LIR_EINVAL, LIR_ENOMEM, LIR_EIO. */
LIR_API enum lir_status lir_store_profiles(lir_store *st, int64_t since_ms, struct lir_model_profile **out,
                                           int32_t *n);
/* The stored request records since since_ms, oldest first. Returns as lir_store_profiles. */
LIR_API enum lir_status lir_store_records(lir_store *st, int64_t since_ms, struct lir_request_record **out,
                                          int32_t *n);

/* ----------------------------------------------------------- request router */

/* The request router sends each request to its model's backends in order: the native engine
 * (registered by the runtime with lir_router_add_native) or a remote server speaking the
 * Ollama API (/api/generate, /api/chat, /api/embed; NDJSON streams) or the OpenAI API
 * (/v1/completions, /v1/chat/completions, /v1/embeddings; SSE streams ending with
 * "data: [DONE]") — LM Studio, llama.cpp server, vLLM, Ollama's /v1 — over libcurl.
 *
 * Failures and what follows them, for one request:
 *   - a connection failure (refused, DNS, connect timeout, the connection dropped before any
 *     response byte) is retried on the same backend up to max_retries times, waiting
 *     retry_backoff_ms, doubled each time;
 *   - any failure before the caller received text (after the retries, or one that is not
 *     retried: timeouts, HTTP errors, malformed or truncated streams, an error the server
 *     reported) moves on to the next backend of the model, in the order they were added;
 *   - once text was streamed to the caller there is no retry and no fallback: the request
 *     fails with the partial text in the result;
 *   - cancellation (the chunk callback or is_cancelled) ends the request at once.
 * Every failed attempt, retry and fallback is reported to the router's event callback
 * (GenerationFailed in the spec's events). */

/* Kinds of failure (X-macro: enum and names). */
#define LIR_ROUTE_FAILURE_MAP(X)                                                  \
    X(NONE, "none")           /* no failure */                                    \
    X(CONNECT, "connect")     /* refused, DNS, connect timeout, dropped before a reply */ \
    X(TIMEOUT, "timeout")     /* first-token, idle or overall timeout */          \
    X(HTTP, "http")           /* a non-2xx status; the message is the server's */ \
    X(PROTOCOL, "protocol")   /* malformed JSON, an unexpected shape, a line too long */ \
    X(TRUNCATED, "truncated") /* the stream ended before [DONE] / "done": true */ \
    X(BACKEND, "backend")     /* the server reported an error in the stream; the native engine failed */ \
    X(CANCELLED, "cancelled") /* the caller cancelled */                         \
    X(NO_BACKEND, "no_backend") /* no backend serves the model */

enum lir_route_failure {
#define X(name, str) LIR_ROUTE_FAILURE_##name,
    LIR_ROUTE_FAILURE_MAP(X)
#undef X
};
/* "connect", ...; "unknown" for other values. Static storage. */
LIR_API const char *lir_route_failure_str(enum lir_route_failure f);

enum lir_remote_kind {
    LIR_REMOTE_OLLAMA, /* Ollama's native API */
    LIR_REMOTE_OPENAI, /* OpenAI-compatible: LM Studio, llama.cpp server, vLLM, Ollama's /v1 */
};

/* A remote backend. Strings are borrowed for lir_router_add_remote (which copies them). */
struct lir_remote_params {
    enum lir_remote_kind kind;       /* LIR_REMOTE_OPENAI */
    const char *base_url;            /* required: "http://127.0.0.1:11434" (Ollama), "http://127.0.0.1:1234"
                                        or ".../v1" (OpenAI: a trailing /v1 is not doubled) */
    const char *name;                /* label in events and results; NULL = base_url */
    const char *api_key;             /* NULL = none; else sent as "Authorization: Bearer <key>" */
    const char *model;               /* the server's name for the model; NULL = the request's model */
    const char *extra_body_json;     /* NULL, or a JSON object merged (recursively) into every request
                                        body, e.g. {"keep_alive": "5m", "options": {"num_ctx": 8192}};
                                        its keys win over lir's */
    bool openai_extensions;          /* true: send the sampling fields OpenAI lacks (top_k, min_p,
                                        typical_p, repeat_penalty, repeat_last_n, mirostat*) as
                                        llama.cpp server and LM Studio read them */
    int32_t connect_timeout_ms;      /* 5000; > 0 */
    int32_t first_token_timeout_ms;  /* 120000; from the start of an attempt to its first text
                                        (to the whole response for embeddings); 0 = none */
    int32_t idle_timeout_ms;         /* 60000; longest gap between received bytes; 0 = none */
    int32_t total_timeout_ms;        /* 0 = none; whole attempt */
    int32_t max_retries;             /* 2; retries of connection failures (0..100) */
    int32_t retry_backoff_ms;        /* 250; wait before the first retry, doubled after each (max 10 s) */
};
LIR_API struct lir_remote_params lir_remote_params_default(void);

enum lir_route_op {
    LIR_ROUTE_GENERATE, /* prompt completion: /v1/completions, /api/generate (raw: no template) */
    LIR_ROUTE_CHAT,     /* messages: /v1/chat/completions, /api/chat */
    LIR_ROUTE_EMBED,    /* texts: /v1/embeddings, /api/embed (not streamed) */
};

/* Called with each piece of generated text (len > 0, valid for the call), on the thread running
 * lir_router_run. Return non-zero to cancel: the transfer is aborted and the request ends with
 * LIR_ECANCELLED. */
typedef int (*lir_route_chunk_fn)(void *user, const char *text, size_t len);

/* One request. Every pointer is borrowed for the call.
 * sampling maps to each API as follows (NULL: none sent, the server's defaults); a field at its
 * "off" value (max_tokens 0, top_k 0, min_p 0, typical_p 1, repeat_penalty 1, penalties 0,
 * mirostat 0, seed LIR_SEED_RANDOM, no stop, no logit_bias) is not sent:
 *   lir             OpenAI body                         Ollama "options"
 *   max_tokens      max_tokens                          num_predict
 *   temperature     temperature                         temperature
 *   top_p           top_p                               top_p
 *   top_k           top_k (extension)                   top_k
 *   min_p           min_p (extension)                   min_p
 *   typical_p       typical_p (extension)               typical_p
 *   repeat_penalty  repeat_penalty (extension)          repeat_penalty
 *   repeat_last_n   repeat_last_n (extension; with a penalty) repeat_last_n (with a penalty)
 *   frequency_/presence_penalty  same names             same names
 *   mirostat, _tau, _eta  same names (extension)        same names
 *   seed            seed                                seed
 *   stop            stop                                stop
 *   logit_bias      logit_bias {"id": bias}, -inf as -100   (not sent)
 *   n_probs         (not sent)                          (not sent)
 * OpenAI streams ask for usage ("stream_options": {"include_usage": true}). The caller validates
 * the values (lir_sampling_params_validate); the router only refuses what JSON cannot carry. */
struct lir_route_request {
    enum lir_route_op op;
    const char *model;              /* required; the router's model name */
    const char *prompt;             /* GENERATE */
    const char *messages_json;      /* CHAT: JSON array of {"role", "content", ...}, sent as is */
    const char *const *texts;       /* EMBED: n_texts strings */
    int32_t n_texts;
    const struct lir_sampling_params *sampling; /* GENERATE/CHAT; NULL = none sent */
    lir_route_chunk_fn on_chunk;    /* may be NULL (the text is still collected in the result) */
    void *chunk_user;
    /* Polled about every 50 ms, also while connecting or waiting to retry; true cancels.
     * May be NULL. */
    bool (*is_cancelled)(void *user);
    void *cancel_user;
};

#define LIR_ROUTE_ERROR_MAX 512
#define LIR_ROUTE_NAME_MAX 128

/* What a request produced. Zero it (or use one that lir_route_result_clear emptied) before
 * lir_router_run; free what it owns with lir_route_result_clear. */
struct lir_route_result {
    char *text;                     /* owned (malloc), NUL-terminated; the generated text, partial on
                                       failure; NULL for EMBED */
    size_t text_len;
    float *embeddings;              /* owned (malloc); EMBED: n_embeddings x dim, in the order of texts */
    int32_t n_embeddings, dim;
    int32_t prompt_tokens;          /* as the server reported them; -1 when it did not */
    int32_t completion_tokens;      /* -1 when not reported */
    enum lir_finish_reason finish_reason; /* STOP, LENGTH, CANCELLED, ERROR */
    double ttft_ms;                 /* from lir_router_run's start to the first text; -1 when none */
    double total_ms;                /* lir_router_run's duration */
    char backend[LIR_ROUTE_NAME_MAX]; /* name of the backend that answered (or failed last), cut to
                                       fit; "" when none was tried */
    int32_t attempts;               /* attempts over all backends */
    enum lir_route_failure failure; /* NONE on success */
    int32_t http_status;            /* of the last attempt; 0 when none (native, no reply) */
    char error[LIR_ROUTE_ERROR_MAX]; /* "" on success, else why (the server's message for HTTP errors) */
};
LIR_API void lir_route_result_clear(struct lir_route_result *res);

/* Router events, reported synchronously on the thread running the request. */
enum lir_route_event_type {
    LIR_ROUTE_EVENT_GENERATION_FAILED, /* an attempt failed (final: the request failed) */
    LIR_ROUTE_EVENT_RETRY,             /* the same backend is tried again (attempt = the next one) */
    LIR_ROUTE_EVENT_FALLBACK,          /* the next backend is tried */
};
struct lir_route_event {
    enum lir_route_event_type type;
    int64_t time_us;                /* wall clock, microseconds since the Unix epoch */
    enum lir_route_op op;
    const char *model;              /* the request's model */
    const char *backend;            /* the backend that failed / is retried / is left */
    const char *next_backend;       /* FALLBACK: the backend tried next; else NULL */
    int32_t attempt;                /* 1-based attempt on backend */
    enum lir_route_failure failure;
    const char *reason;             /* the failure's message; "" for none */
    int32_t http_status;            /* 0 when there was no HTTP reply */
    bool partial;                   /* text had been streamed to the caller */
    bool final;                     /* GENERATION_FAILED: no retry or fallback follows */
};
/* Strings in ev are valid for the call. No lock is held: it may call lir_router_add_*, not lir_router_free. */
typedef void (*lir_route_event_fn)(void *user, const struct lir_route_event *ev);

struct lir_router_params {
    lir_route_event_fn on_event;    /* NULL = none */
    void *event_user;               /* borrowed for the router's lifetime */
};
LIR_API struct lir_router_params lir_router_params_default(void);

/* The native engine as a backend: runs req (borrowed) and streams its text through
 * emit(emit_ctx, text, len), which returns non-zero when the caller cancelled (then stop and
 * return LIR_ECANCELLED). Fills res->prompt_tokens, completion_tokens, finish_reason, and for
 * EMBED embeddings/n_embeddings/dim (malloc'd; the router takes ownership) — the router fills
 * text, metrics, backend and attempts. On failure return a negative status and set res->error;
 * a failure before any emitted text falls back to the next backend. */
typedef enum lir_status (*lir_route_native_fn)(void *user, const struct lir_route_request *req,
                                               int (*emit)(void *emit_ctx, const char *text, size_t len),
                                               void *emit_ctx, struct lir_route_result *res);

typedef struct lir_router lir_router;

/* Creates an empty router; params may be NULL (defaults). On success *out is owned by the caller
 * (free with lir_router_free). Returns LIR_OK, LIR_EINVAL, LIR_ENOMEM, LIR_EINTERNAL (libcurl
 * failed to start). */
LIR_API enum lir_status lir_router_create(const struct lir_router_params *params, lir_router **out, char *err,
                                          size_t err_len);
/* No request may be running. Accepts NULL. */
LIR_API void lir_router_free(lir_router *r);

/* Appends a remote backend to model's fallback order (model "*": every model without backends of
 * its own). p is borrowed (copied). Returns LIR_OK, LIR_EINVAL (NULL arguments, bad URL scheme,
 * bad extra_body_json, a value out of range — named in err), LIR_ENOMEM. */
LIR_API enum lir_status lir_router_add_remote(lir_router *r, const char *model, const struct lir_remote_params *p,
                                              char *err, size_t err_len);
/* Appends the native engine (fn with user, borrowed: valid until it is removed and the requests
 * using it have returned, or lir_router_free) to model's order under name (borrowed, copied;
 * NULL = "native"). Returns LIR_OK, LIR_EINVAL, LIR_ENOMEM. */
LIR_API enum lir_status lir_router_add_native(lir_router *r, const char *model, const char *name,
                                              lir_route_native_fn fn, void *user);
/* Number of backends model is routed to (those of "*" when it has none of its own). */
LIR_API int32_t lir_router_n_backends(const lir_router *r, const char *model);
/* Removes model's backends named name (borrowed; NULL = all of model's own backends), e.g. the
 * native engine when its model is unloaded. Requests already using a removed backend finish on
 * it (it is freed when the last one ends); later requests no longer see it. Returns how many
 * were removed (0 for NULL arguments or none). */
LIR_API int32_t lir_router_remove(lir_router *r, const char *model, const char *name);

/* Runs req (borrowed) on the model's backends as described at the top of this section; blocks
 * until it ends. res (borrowed) receives the result, also on failure. Safe to call from several
 * threads at once; lir_router_add_* and lir_router_remove may run concurrently with requests.
 * Returns LIR_OK, LIR_EINVAL (NULL arguments, a missing prompt/messages/texts, messages_json not
 * a JSON array, a sampling value JSON cannot carry), LIR_ENOTFOUND (no backend for the model),
 * LIR_ECANCELLED, LIR_EIO (connect/timeout/HTTP failures), LIR_EFORMAT (malformed or truncated
 * responses, an error reported by the server), LIR_ENOMEM, or the native engine's status. */
LIR_API enum lir_status lir_router_run(lir_router *r, const struct lir_route_request *req,
                                       struct lir_route_result *res);

/* ---------------------------------------------------- runtime: remote models */

/* Remote models on a runtime: requests for name go through the runtime's router to an Ollama or
 * OpenAI-compatible server (p: base_url, kind, the server's model name, timeouts, retries; see
 * lir_remote_params), with the router's retries of connection failures before the first text
 * and its fallback order. Calling it again with the same name appends a fallback backend.
 *   - A name that is no installed model is a remote model: listed by lir_runtime_list_installed
 *     after the files (source "remote", backend "ollama" or "openai", path = base_url, id from the
 *     name); lir_runtime_generate / _stream / lir_runtime_embed with model = name (or that id) go
 *     to its backends. It is never "loaded" (lir_runtime_list_loaded does not show it).
 *   - A name (or id, or path) of an installed model found when the first backend is added keeps
 *     the native engine first: the remote backends are its fallbacks, used when the native path
 *     fails before any text (e.g. the model does not fit in memory). Requests with a grammar or a
 *     response format run on the native engine only (they are not sent to remote servers).
 * Each failed remote attempt emits GenerationFailed (message: model, backend, attempt, failure
 * kind and reason); a remote answer emits GenerationCompleted (usage as the server reported it;
 * metrics measured here). Remote requests with a grammar or response format fail with
 * LIR_EUNSUPPORTED. For routed requests, a chunk's token_index is the index of the chunk when
 * a remote server answered. Remote embeddings are L2-normalized here when normalize is set;
 * pooling is the server's.
 * p is borrowed (copied). Returns LIR_OK, LIR_EINVAL (NULL arguments, an empty name or "*", a
 * base_url that is not http(s), a parameter out of range: named in err), LIR_ENOMEM,
 * LIR_EINTERNAL (libcurl failed to start). */
LIR_API enum lir_status lir_runtime_add_remote(lir_runtime *rt, const char *name, const struct lir_remote_params *p,
                                               char *err, size_t err_len);
/* Removes every remote backend of name (borrowed; the name or its id). Requests already routed
 * finish on their backends. Returns LIR_OK, LIR_EINVAL, LIR_ENOTFOUND. */
LIR_API enum lir_status lir_runtime_remove_remote(lir_runtime *rt, const char *name);

#ifdef __cplusplus
}
#endif
#endif /* LIR_H */
