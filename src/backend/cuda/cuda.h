/* cuda.h — the CUDA backend's internal interface: a llama-family model (llama, qwen2, qwen3) on
 * one or more GPUs, whole or in part (the CPU running the first layers and the output head).
 *
 * A lir_cuda is one device's share of the model: a range of layers [layer_begin, layer_end), with
 * or without the token embedding (input: token ids, or the residual stream before its first
 * layer) and with or without the output head (output: logits or output-normed hidden states, or
 * the residual stream after its last layer). Only its weights (uploaded once at create, staged
 * through two pinned buffers so the copy of one piece overlaps the host read of the next, with
 * progress) and the KV cache of its layers live in its VRAM, with its activations; a one-token
 * evaluation is captured once per share in a CUDA graph and replayed. A zeroed share range is the
 * whole model, evaluated by lir_cuda_eval.
 *
 * A lir_cuda_chain is an ordered list of shares running layers [l0, n_layer) of one forward pass:
 * the residual stream goes from share to share (cudaMemcpyPeerAsync ordered by events between the
 * shares' streams; shares may sit on the same device), and from and to the CPU through a pinned
 * buffer. It is partial offload (l0 > 0, or the output head on the CPU) and the multi-GPU layer
 * split; lir_cuda_plan_layers places gpu_layers/main_gpu/tensor_split (as llama.cpp) on shares.
 *
 * Built with -DLIR_CUDA=ON (kernels in the .cu files beside this one, the driver in cuda_forward.c,
 * the chain in cuda_split.c). Without it every function exists: those needing a device report
 * LIR_EUNSUPPORTED ("built without CUDA"), the planner and the byte estimate work, so callers need
 * no #ifdef. A lir_cuda or lir_cuda_chain is used by one thread at a time (the context's). */
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
    /* The share (a zeroed struct: the whole model). Layers [layer_begin, layer_end) (layer_end 0 =
     * n_layer; layer_begin == layer_end: none, an output-only stage). hidden_in: no token
     * embedding, the input is the residual stream before layer_begin (else layer_begin must be 0).
     * hidden_out: no output head, the output is the residual stream after layer_end - 1. */
    int32_t layer_begin, layer_end;
    bool hidden_in, hidden_out;
    /* KV cache blocks of 64 rows (0: n_ctx's worth, one sequence, block j of positions 64j..);
     * more or fewer serve several sequences through block tables (lir_cuda_chain_eval), the
     * context's KV pool mirrored block for block */
    int32_t kv_blocks;
};

/* Number of CUDA devices usable now; 0 when there is none, the driver fails, or the library was
 * built without LIR_CUDA — then why (may be NULL) gets a sentence saying which. */
int lir_cuda_device_count(char *why, size_t why_len);

/* Uploads share p of m (borrowed; must outlive the result) to device p->device and allocates its
 * KV cache and buffers there. Returns LIR_OK with *out set, LIR_EUNSUPPORTED (no CUDA build or
 * device, an encoder architecture, a weight type without kernels, head_dim not a multiple of 32
 * or over 256, rows not a multiple of 8; message names which), LIR_ENOMEM (VRAM or pinned memory:
 * message says how many bytes), LIR_EINVAL (bad params, a bad layer range: named),
 * LIR_EINTERNAL (another CUDA error). */
enum lir_status lir_cuda_create(const struct lir_model *m, const struct lir_cuda_params *p, lir_cuda **out, lir_err *e);
void lir_cuda_free(lir_cuda *g); /* accepts NULL */

/* Evaluates tokens (borrowed, n in [1, n_batch], ids valid) at positions pos..pos+n-1
 * (pos + n <= n_ctx) through a share with the embedding and the output head (the whole model;
 * other shares: LIR_EINVAL, evaluate them in a lir_cuda_chain), storing their K and V (cache
 * rows from pos on are overwritten; attention reads rows [0, pos+i] only). Outputs go to the
 * n_out rows out_rows[0..n_out) (borrowed, indices into tokens; NULL = the last n_out tokens): if
 * embd is NULL, their logits to logits (n_out x n_vocab floats, borrowed); else their
 * output-normed hidden states to embd (n_out x n_embd). n_out == 0: nothing is written. Returns
 * LIR_OK, LIR_EINVAL (bad argument, named), LIR_EINTERNAL (a CUDA or cuBLAS error, named). */
enum lir_status lir_cuda_eval(lir_cuda *g, const int32_t *tokens, int32_t n, int32_t pos, const int32_t *out_rows,
                              int32_t n_out, float *logits, float *embd, lir_err *e);

/* Device bytes held: weights + KV cache + buffers (= the lir_cuda_estimate sum). */
uint64_t lir_cuda_vram_bytes(const lir_cuda *g);
/* "NVIDIA H200 (sm_90)" etc.; "" without a device. */
const char *lir_cuda_device_name(const lir_cuda *g);
/* The share's CUDA device ordinal; -1 for NULL. */
int32_t lir_cuda_device(const lir_cuda *g);

/* Device bytes lir_cuda_create(m, p) allocates, by pure arithmetic (every build, no device
 * needed): the share's weights (each rounded up to 256 bytes; a tied output head held with the
 * embedding once), the K and V cache of its layers (f16, n_ctx rounded up to 64 rows), and
 * compute (activations for n_batch tokens, attention partials, logits when it has the output
 * head, the prompt-GEMM scratch, index buffers). Bad params or range: all 0. */
struct lir_cuda_bytes {
    uint64_t weights, kv_cache, compute;
};
void lir_cuda_estimate(const struct lir_model *m, const struct lir_cuda_params *p, struct lir_cuda_bytes *out);

/* ---------------------------------------------------------------- chains (cuda_split.c) */

/* One share of a chain. */
struct lir_cuda_share_spec {
    int32_t device;                 /* CUDA device ordinal; shares may name the same device */
    int32_t layer_begin, layer_end; /* layers [layer_begin, layer_end); empty: an output-only stage */
};

/* At most this many shares: one per device of a tensor_split, plus an output-head stage on
 * main_gpu (LIR_TENSOR_SPLIT_MAX is lir.h's). */
#define LIR_CUDA_SHARES_MAX (LIR_TENSOR_SPLIT_MAX + 1)

/* Where the layers of a context go (lir_cuda_plan_layers). */
struct lir_cuda_plan {
    int32_t n_cpu_layers;     /* layers [0, n_cpu_layers) run on the CPU (with the embedding
                                 gather unless embed) */
    bool embed, output;       /* the chain gathers the token embedding / runs the output head
                                 (both only for full offload; else the CPU does both) */
    int32_t n_shares;         /* 0: CPU only */
    struct lir_cuda_share_spec shares[LIR_CUDA_SHARES_MAX];
};

/* Places gpu_layers of a model of n_layer layers on n_devices CUDA devices, as llama.cpp:
 * 0 = none (CPU only); -1 or > n_layer = every layer, the token embedding and the output head;
 * 1..n_layer = the last gpu_layers layers (the CPU keeps the first ones, the embedding and the
 * output head). Without a split (n_tensor_split 0) every GPU layer goes to main_gpu. With one,
 * tensor_split[i] (borrowed, n_tensor_split <= n_devices entries, finite, >= 0, not all 0) is
 * device i's proportion: with cum[i] the normalized cumulative sum, GPU layer j (0-based among
 * the N GPU layers) goes to the first device i with j / N < cum[i] (llama.cpp's upper_bound;
 * llama.cpp also counts the output head as layer N and places it so, we keep it on main_gpu).
 * Consecutive layers on one device are one share, in device order. The output head, when
 * offloaded, runs on main_gpu: with the last share when that is on main_gpu, else as an
 * output-only share on main_gpu after it. fn prefixes messages. Returns LIR_OK, LIR_EINVAL
 * (gpu_layers < -1, main_gpu outside [0, n_devices), a tensor_split naming more devices than
 * n_devices or LIR_TENSOR_SPLIT_MAX, a negative or non-finite fraction, all fractions 0; the
 * message names the parameter and value). n_devices must be >= 1 when gpu_layers != 0. */
enum lir_status lir_cuda_plan_layers(int32_t n_layer, int32_t gpu_layers, int32_t main_gpu, const float *tensor_split,
                                     int32_t n_tensor_split, int32_t n_devices, const char *fn,
                                     struct lir_cuda_plan *out, lir_err *e);

typedef struct lir_cuda_chain lir_cuda_chain;

struct lir_cuda_chain_params {
    int32_t n_ctx, n_batch;   /* as lir_cuda_params */
    bool embed;               /* the first share gathers the token embedding (its layer_begin must
                                 be 0): the input is token ids; else the residual stream */
    bool output;              /* the last share runs the output head; else the output is the
                                 residual stream after the last share's last layer */
    bool no_graph;            /* as lir_cuda_params */
    int32_t kv_blocks;        /* as lir_cuda_params (0: one sequence of n_ctx) */
    /* fraction of all shares' weight bytes uploaded (0..1], on the creating thread; may be NULL */
    void (*progress)(float fraction, void *user);
    void *progress_user;      /* borrowed */
};

/* Creates the shares (n_shares in [1, LIR_CUDA_SHARES_MAX], specs borrowed) of model m
 * (borrowed, must outlive the chain): contiguous layer ranges in order (share i begins where
 * share i-1 ends), the last ending at n_layer when the chain runs the output head (without it a
 * chain may stop earlier and hand its residual stream to another: a pipeline). Enables peer access between the devices of
 * neighbouring shares where cudaDeviceCanAccessPeer allows (process-wide, left enabled; copies
 * work without it). Returns LIR_OK with *out set; LIR_EINVAL (a bad share list: named); else as
 * lir_cuda_create, the message naming the share. */
enum lir_status lir_cuda_chain_create(const struct lir_model *m, const struct lir_cuda_share_spec *shares,
                                      int32_t n_shares, const struct lir_cuda_chain_params *p, lir_cuda_chain **out,
                                      lir_err *e);
void lir_cuda_chain_free(lir_cuda_chain *ch); /* accepts NULL */

/* Evaluates n tokens (n in [1, n_batch]) at positions pos..pos+n-1 through every share, as
 * lir_cuda_eval. Input: tokens (borrowed, ids checked) when the chain has the embedding, else x
 * (borrowed, n x n_embd floats: the residual stream before the first share's first layer).
 * Output: with the output head, logits or embd of the n_out rows out_rows (NULL = the last n_out)
 * as lir_cuda_eval; without it, x is overwritten with the residual stream after the last layer —
 * the out_rows rows at least (the CPU runs the head on them); n_out 0: x is not written.
 * Returns LIR_OK, LIR_EINVAL (bad argument, named), LIR_EINTERNAL (a CUDA or cuBLAS error). */
enum lir_status lir_cuda_chain_eval(lir_cuda_chain *ch, const int32_t *tokens, float *x, int32_t n, int32_t pos,
                                    const int32_t *out_rows, int32_t n_out, float *logits, float *embd, lir_err *e);

/* lir_cuda_chain_eval for tokens of several sequences: token i at position pos_each[i] (NULL:
 * pos + i) of the sequence whose KV block table is tables[i] (borrowed, entries for blocks 0 ..
 * pos_each[i] / 64, each in [0, kv_blocks); NULL: block j is j, one sequence): its K and V go
 * to that row, its attention reads that sequence's rows [0, pos_each[i]]. */
enum lir_status lir_cuda_chain_eval_seqs(lir_cuda_chain *ch, const int32_t *tokens, float *x, int32_t n, int32_t pos,
                                         const int32_t *pos_each, const int32_t *const *tables,
                                         const int32_t *out_rows, int32_t n_out, float *logits, float *embd,
                                         lir_err *e);
/* Copies KV block src to dst in every share (the context's copy on write of a shared block);
 * ordered before the next evaluation. LIR_OK, LIR_EINVAL (a block outside the cache), or a CUDA
 * error. */
enum lir_status lir_cuda_chain_copy_block(lir_cuda_chain *ch, int32_t dst, int32_t src, lir_err *e);

int32_t lir_cuda_chain_n_shares(const lir_cuda_chain *ch);  /* 0 for NULL */
const lir_cuda *lir_cuda_chain_share(const lir_cuda_chain *ch, int32_t i); /* NULL when out of range */
/* Device bytes held by the shares on device (-1: all devices). */
uint64_t lir_cuda_chain_vram_bytes(const lir_cuda_chain *ch, int32_t device);

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
