/* forward.h — internal accessors of the inference context (the public API is in lir.h). */
#ifndef LIR_FORWARD_H
#define LIR_FORWARD_H

#include "lir.h"
#include "model/model.h"

int lir__cpu_count(void);
int lir__context_n_threads(const lir_context *c);
const char *lir__context_isa(const lir_context *c);
int32_t lir__context_n_ctx(const lir_context *c);
const lir_model *lir__context_model(const lir_context *c);
/* Evaluates tokens (borrowed) as a fresh sequence at positions 0..n-1 and writes every token's
 * final hidden state to hidden (borrowed, n x n_embd floats): after the output norm for decoders
 * (llama.cpp's t_embd), after the last LayerNorm for bert. Overwrites the KV cache; no logits
 * afterwards. Errors (message on the context, prefixed "lir_embed"): LIR_EINVAL (bad token,
 * n < 1), LIR_ECONTEXT (n over the context or bert's position table), LIR_EUNSUPPORTED. */
enum lir_status lir__context_hidden(lir_context *c, const lir_token *tokens, int32_t n, float *hidden);
/* The context's last-error buffer, for context functions defined outside forward.c. */
lir_err *lir__context_err(lir_context *c);

/* ---- snapshot accessors (the KV cache in its own type, sequence by sequence) ---- */
/* Bytes of K+V of one token over all layers, in the cache's type. */
size_t lir__kv_token_bytes(const lir_context *c);
/* Copies tokens p0..p0+n-1 of sequence seq: for each layer il: K rows (n x KD in the cache type),
 * then V rows (n x KD, row per token, NOT transposed); buf holds n * lir__kv_token_bytes(c) bytes.
 * LIR_EINVAL (bad seq, range outside [0, length)). */
enum lir_status lir__kv_seq_read(lir_context *c, int32_t seq, int32_t p0, int32_t n, void *buf);
/* Appends n tokens (ids in tokens, KV in buf as above) to sequence seq whose length must be p0.
 * Checked before anything changes: LIR_EINVAL (bad seq, p0 != length, bad token id), LIR_ECONTEXT
 * (past n_ctx, or too few free blocks), LIR_ENOMEM. Logits are not touched. */
enum lir_status lir__kv_seq_write(lir_context *c, int32_t seq, int32_t p0, int32_t n, const lir_token *tokens,
                                  const void *buf);
/* The paged KV cache itself (model/kv.h), for snapshots of whole blocks; NULL with gpu_layers
 * (the cache is in VRAM: snapshots of it are not supported yet). */
struct lir_kv;
struct lir_kv *lir__context_kv(lir_context *c);
/* Runs fn(ith, nth, arg) on every thread of the context's worker pool (the caller is thread 0)
 * and returns when all have returned; between forward steps, as the context's other calls. */
typedef void (*lir__context_task)(int ith, int nth, void *arg);
void lir__context_parallel(lir_context *c, lir__context_task fn, void *arg);
/* Sets the logits row that lir_context_logits(c, -1) returns (n_vocab floats, copied). */
enum lir_status lir__context_set_logits(lir_context *c, const float *row);
/* The enum lir_kv_type value of the KV type. */
int32_t lir__context_kv_type(const lir_context *c);
/* The GPU part of a context created with gpu_layers (src/backend/cuda/cuda.h: its shares, their
 * devices and VRAM); NULL for a CPU context. Valid until lir_context_free. */
struct lir_cuda_chain;
const struct lir_cuda_chain *lir__context_gpu(const lir_context *c);
/* Layers [0, n) run on the CPU (n_layer for a CPU context, 0 with every layer on GPUs). */
int32_t lir__context_n_cpu_layers(const lir_context *c);

#endif
