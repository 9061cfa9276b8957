/* share.h — hooks of one share (a lir_cuda, cuda_forward.c) for the chain that drives several
 * (cuda_split.c), and the CUDA error helpers both use; private to src/backend/cuda, used in
 * -DLIR_CUDA=ON builds (stubs without, as for cuda.h). A step of a share is: stage (inputs to its
 * device), then whatever fills its residual stream x when it has no embedding, run (the layer
 * loop, the output head), then fetch (outputs to the host). Every hook makes the share's device
 * current and enqueues on the share's stream; nothing waits. */
#ifndef LIR_CUDA_SHARE_H
#define LIR_CUDA_SHARE_H

#include "backend/cuda/cuda.h"

#ifdef LIR_CUDA
#include <cuda_runtime_api.h>

/* A CUDA error as a status (LIR_ENOMEM for allocations, else LIR_EINTERNAL) with what failed. */
static inline enum lir_status cu_err(lir_err *e, cudaError_t r, const char *what) {
    return lir__errf(e, r == cudaErrorMemoryAllocation ? LIR_ENOMEM : LIR_EINTERNAL, "cuda: %s failed: %s (%s)", what,
                     cudaGetErrorString(r), cudaGetErrorName(r));
}
/* Returns cu_err's status from the enclosing function (which has lir_err *e) when call fails. */
#define CK(call, what)                                    \
    do {                                                  \
        cudaError_t r_ = (call);                          \
        if (r_ != cudaSuccess) return cu_err(e, r_, what); \
    } while (0)
#endif

void *lir__cuda_share_stream(const lir_cuda *g); /* its cudaStream_t */
float *lir__cuda_share_x(const lir_cuda *g);     /* device (n_batch, n_embd): the residual stream */
bool lir__cuda_share_embeds(const lir_cuda *g);  /* holds the token embedding */
bool lir__cuda_share_head(const lir_cuda *g);    /* holds the output head */

/* Checks the step's arguments (n in [1, n_batch], n_out in [0, n], out_rows inside [0, n);
 * tokens, when the share embeds, present and inside the vocabulary; positions inside [0, n_ctx):
 * pos_each[i] (NULL: pos + i); block tables: tables[i] is token i's sequence's (entries for
 * blocks 0..pos_i/64, each inside the cache's blocks; NULL: block j is j, one sequence) and
 * enqueues the upload of tokens (embedding share), positions, tables and output rows (head
 * share). fn prefixes messages. LIR_OK, LIR_EINVAL, LIR_EINTERNAL. */
enum lir_status lir__cuda_share_stage(lir_cuda *g, const int32_t *tokens, int32_t n, int32_t pos,
                                      const int32_t *pos_each, const int32_t *const *tables,
                                      const int32_t *out_rows, int32_t n_out, const char *fn, lir_err *e);
/* Enqueues the forward pass of the staged step (its CUDA graph for a one-token step); n_out and
 * to_hidden matter to a head share only. LIR_OK or LIR_EINTERNAL. */
enum lir_status lir__cuda_share_run(lir_cuda *g, int32_t n, int32_t n_out, bool to_hidden, lir_err *e);
/* Enqueues the copy of cache block src to dst in each of the share's layers. */
enum lir_status lir__cuda_share_copy_block(lir_cuda *g, int32_t dst, int32_t src, lir_err *e);
/* Enqueues the copy of a head share's n_out outputs to logits, or to embd when set (host). */
enum lir_status lir__cuda_share_fetch(lir_cuda *g, int32_t n_out, float *logits, float *embd, lir_err *e);

#endif /* LIR_CUDA_SHARE_H */
