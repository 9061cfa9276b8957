/* cuda.h — the CUDA backend's internal interface: a llama-family model (llama, qwen2, qwen3)
 * offloaded whole to one GPU. Weights are uploaded once at create (staged through two pinned
 * buffers so the copy of one piece overlaps the host read of the next, with progress); the
 * KV cache and every activation live in VRAM; a one-token evaluation is captured once in a
 * CUDA graph and replayed; only logits (or hidden states) come back to the host.
 *
 * Built with -DLIR_CUDA=ON (kernels in the .cu files beside this one, the driver in cuda_forward.c).
 * Without it every function exists and reports LIR_EUNSUPPORTED ("built without CUDA"), so
 * callers need no #ifdef. A lir_cuda is used by one thread at a time (the context's). */
#ifndef LIR_CUDA_H
#define LIR_CUDA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "model/model.h"

typedef struct lir_cuda lir_cuda;

struct lir_cuda_params {
    int32_t n_ctx;       /* KV cache rows (>= 1) */
    int32_t n_batch;     /* most tokens per lir_cuda_eval (>= 1) */
    int32_t device;      /* CUDA device ordinal (0 = first) */
    bool no_graph;       /* run one-token steps without the CUDA graph (tests compare both) */
    bool no_pdl;         /* no programmatic dependent launch (else on, on sm_90 and later) */
    /* called on the creating thread with the fraction of weight bytes uploaded (0..1]; may be NULL */
    void (*progress)(float fraction, void *user);
    void *progress_user; /* borrowed, passed to progress */
};

/* Number of CUDA devices usable now; 0 when there is none, the driver fails, or the library was
 * built without LIR_CUDA — then why (may be NULL) gets a sentence saying which. */
int lir_cuda_device_count(char *why, size_t why_len);

/* Uploads m (borrowed; must outlive the result) to device p->device and allocates the KV cache
 * and buffers there. Returns LIR_OK with *out set, LIR_EUNSUPPORTED (no CUDA build or device,
 * an encoder architecture, a weight type without kernels, head_dim not a multiple of 32 or over
 * 256, rows not a multiple of 8; message names which), LIR_ENOMEM (VRAM or pinned memory:
 * message says how many bytes), LIR_EINVAL (bad params), LIR_EINTERNAL (another CUDA error). */
enum lir_status lir_cuda_create(const struct lir_model *m, const struct lir_cuda_params *p, lir_cuda **out, lir_err *e);
void lir_cuda_free(lir_cuda *g); /* accepts NULL */

/* Evaluates tokens (borrowed, n in [1, n_batch], ids valid) at positions pos..pos+n-1
 * (pos + n <= n_ctx), storing their K and V (cache rows from pos on are overwritten; attention
 * reads rows [0, pos+i] only). Outputs go to the n_out rows out_rows[0..n_out) (borrowed,
 * indices into tokens; NULL = the last n_out tokens): if embd is NULL, their logits to logits
 * (n_out x n_vocab floats, borrowed); else their output-normed hidden states to embd
 * (n_out x n_embd). n_out == 0: nothing is written. Returns LIR_OK, LIR_EINVAL (bad argument,
 * named), LIR_EINTERNAL (a CUDA or cuBLAS error, named). */
enum lir_status lir_cuda_eval(lir_cuda *g, const int32_t *tokens, int32_t n, int32_t pos, const int32_t *out_rows,
                              int32_t n_out, float *logits, float *embd, lir_err *e);

/* Device bytes held: weights + KV cache + buffers. */
uint64_t lir_cuda_vram_bytes(const lir_cuda *g);
/* "NVIDIA H200 (sm_90)" etc.; "" without a device. */
const char *lir_cuda_device_name(const lir_cuda *g);

/* Benchmark hook (bench/cuda_bench.c): after at least one one-token lir_cuda_eval (the graph is
 * captured), times reps back-to-back replays of the one-token step and, per weight kind (q, k,
 * v, o, gate+up with SwiGLU, down; every layer in turn, so nothing stays in L2) and for the
 * output, the decode mat-vec alone; writes one JSON object (the kinds' microseconds per layer
 * and GB/s of weight bytes) to buf. */
enum lir_status lir_cuda_profile(lir_cuda *g, int reps, char *buf, size_t len, lir_err *e);

/* Kernel test hook: out[t][r] = row r of w (ne1 rows of ne0 elements of type, host memory)
 * times x[t] (host, n_tok rows) on device 0, through the mat-vec kernels (force 1; 3: two rows
 * a warp; n_tok <= 8), the dequantize + cuBLAS GEMM path (force 2) or the default choice (0).
 * Also checks get_rows: rows_out (may be NULL) gets the dequantized rows 0..min(ne1,4)-1 by
 * the GPU gather. */
enum lir_status lir_cuda_matmul_test(int32_t type, const void *w, int64_t ne0, int64_t ne1, const float *x,
                                     int32_t n_tok, int force, float *out, float *rows_out, lir_err *e);

#endif /* LIR_CUDA_H */
