/* backend.h — the op interface every compute backend implements (CPU now, CUDA later).
 * An architecture's forward pass (src/model/forward.c) is written once against it.
 *
 * Execution model (CPU): all worker threads run the forward pass together; every thread
 * calls every op with the same arguments, each op does this thread's share of the work
 * and ends with a barrier, so its outputs are complete when it returns. Activations are
 * row-major f32 [rows][dim]. The KV cache is paged (src/model/kv.h): blocks of LIR_KV_PAD
 * tokens; a sequence's block table maps its token p to row p % 64 of block table[p / 64]. */
#ifndef LIR_BACKEND_H
#define LIR_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include "model/model.h"
#include "util/threadpool.h"

struct lir_exec; /* per-thread execution state of a backend */

/* KV cache rows per layer are a multiple of this, and attention sums over cache rows run
 * over whole multiples of it (unused rows weighted by exact zeros), so that a token's
 * result does not depend on how many other tokens share its batch. */
#define LIR_KV_PAD 64

struct lir_rope_params {
    enum lir_rope_mode mode;
    int32_t n_rot;           /* rotated dims per head (the rest pass through) */
    float base, freq_scale;
    const float *freq_factors; /* n_rot/2 divisors (llama3 scaling) or NULL */
};

/* One weight × shared input: out = w · x (+ bias). Several share the input so it is
 * converted to the weights' activation type once. */
struct lir_mm {
    const struct lir_tensor *w;
    const float *bias;       /* w->ne1 floats or NULL */
    float *out;              /* [n_tok][w->ne1] */
};

/* One layer of the paged KV cache. Block b's K rows are at k + b * block_stride, [64][kv_dim] in
 * type; its V at v + b * block_stride: F16 transposed [kv_dim][64], Q8_0 rows [64][kv_dim]. */
struct lir_kv_layer {
    int32_t type;            /* LIR_TYPE_F16 or LIR_TYPE_Q8_0 */
    char *k, *v;
    size_t block_stride;
    size_t row_bytes;        /* one row of kv_dim values in type */
    const int32_t *const *tables; /* per batch token: its sequence's block table */
};

/* Query tokens per attention job (a job = one KV head x up to this many consecutive tokens of
 * one sequence). */
#define LIR_ATT_TOKENS 16

struct lir_attn_args {
    const float *q;          /* [n_tok][n_head*head_dim] */
    const struct lir_kv_layer *kv;
    const int32_t *pos;      /* n_tok positions; token i attends to rows [0, pos[i]] of its sequence */
    const int32_t *jobs;     /* n_jobs pairs (first token, count <= LIR_ATT_TOKENS), tokens of one sequence */
    int32_t n_jobs;
    int32_t n_tok, n_head, n_head_kv, head_dim;
    float scale;             /* 1/sqrt(head_dim) */
    float *out;              /* [n_tok][n_head*head_dim] */
};

/* Attention of every token over every token of the batch: no cache, no causal mask (BERT-style
 * encoders), all in f32 as ggml computes it when there is no KV cache: scores K·q in f32,
 * softmax in f32 with the sum in double, weights times V in f32. */
struct lir_attn_full_args {
    const float *q;          /* [n_tok][n_head*head_dim] */
    const float *k, *v;      /* [n_tok][n_head_kv*head_dim] */
    int32_t n_tok, n_head, n_head_kv, head_dim;
    float scale;             /* 1/sqrt(head_dim) */
    float *out;              /* [n_tok][n_head*head_dim] */
};

struct lir_backend_ops {
    const char *name;
    /* out[i] = dequantized row ids[i] of w */
    void (*get_rows)(struct lir_exec *x, const struct lir_tensor *w, const int32_t *ids, int32_t n, float *out);
    /* out[r] = x[r] / rms(x[r]) * w, for rows of dim elements (out may equal x) */
    void (*rmsnorm)(struct lir_exec *x, const float *in, const float *w, float *out, int64_t rows, int32_t dim,
                    float eps);
    /* n_mm matmuls sharing input in ([n_tok][ne0]) */
    void (*matmul)(struct lir_exec *x, const struct lir_mm *mm, int n_mm, const float *in, int32_t n_tok);
    /* rotates each head of x ([n_tok][n_head][head_dim]) in place at the given positions */
    void (*rope)(struct lir_exec *x, float *v, int32_t n_tok, int32_t n_head, int32_t head_dim, const int32_t *pos,
                 const struct lir_rope_params *rp);
    /* stores k, v rows ([n_tok][kv_dim]) in the cache's type at position pos[i] of token i's sequence */
    void (*kv_store)(struct lir_exec *x, const struct lir_kv_layer *kv, const float *k, const float *v, int32_t n_tok,
                     int32_t kv_dim, const int32_t *pos);
    /* causal attention over each token's sequence; sums run over whole blocks (weights past
     * pos exactly 0), so a token's result does not depend on the rest of its batch */
    void (*attention)(struct lir_exec *x, const struct lir_attn_args *a);
    /* dst[i] = src[rows[i]] for n rows of dim floats (src and dst distinct) */
    void (*copy_rows)(struct lir_exec *x, const float *src, const int32_t *rows, int32_t n, int32_t dim, float *dst);
    /* out = silu(gate) * up, n elements */
    void (*swiglu)(struct lir_exec *x, const float *gate, const float *up, float *out, int64_t n);
    /* y += v, n elements */
    void (*add)(struct lir_exec *x, float *y, const float *v, int64_t n);

    /* ---- encoder (BERT-style) ops ---- */
    /* out[r] = (x[r] - mean) / sqrt(var + eps) * w + b for rows of dim elements (w, b may be
     * NULL; out may equal in); ggml_norm's numerics: sums in double */
    void (*layernorm)(struct lir_exec *x, const float *in, const float *w, const float *b, float *out, int64_t rows,
                      int32_t dim, float eps);
    /* out = gelu(in), n elements (out may equal in): ggml's, the tanh approximation looked up
     * at the input rounded to f16 and rounded to f16 (lir_gelu_ggml) */
    void (*gelu)(struct lir_exec *x, const float *in, float *out, int64_t n);
    /* y[r] += v for each of rows rows of dim elements (one row broadcast) */
    void (*add_row)(struct lir_exec *x, float *y, const float *v, int64_t rows, int32_t dim);
    /* n_tok <= the kv_size the backend was created with */
    void (*attention_full)(struct lir_exec *x, const struct lir_attn_full_args *a);
};

/* Scalar references of the encoder ops (the CPU ops are these, split over threads). */
/* ggml's GELU on the CPU: 0 for v <= -10, v for v >= 10, else the f16 rounding of
 * 0.5 h (1 + tanh(sqrt(2/pi) h (1 + 0.044715 h^2))) at h = v rounded to f16 (ggml's table). */
float lir_gelu_ggml(float v);
/* RoPE of one head x: its first n_rot values as n_rot/2 pairs, adjacent (x[2i], x[2i+1]) or, with
 * neox, halves (x[i], x[i + n_rot/2]); pair i turned by cs[2i] = cos, cs[2i+1] = sin with ggml's
 * rounding (its CPU build fuses the rotation): x0' = fma(x0, c, -(x1 s)), x1' = fma(x0, s, x1 c).
 * The kernel tables' rope_head slot is this (kernels.h's lir__rope_head, inlined where FMA is an
 * instruction). */
void lir_rope_head_ref(int n_rot, const float *cs, float *x, bool neox);
/* One row of layernorm (see the op above). */
void lir_layernorm_row_ref(const float *in, const float *w, const float *b, float *out, int32_t dim, float eps);

/* ---- CPU backend ---- */
typedef struct lir_cpu lir_cpu;

/* Scratch sized for n_batch tokens of the model's widest activation and n_ctx scores; n_ctx is
 * the most rows one sequence attends to (a multiple of LIR_KV_PAD). */
lir_cpu *lir_cpu_create(const struct lir_model *m, int32_t n_ctx, int32_t n_batch, int n_threads, lir_err *e);
void lir_cpu_free(lir_cpu *c);
const struct lir_backend_ops *lir_cpu_ops(void);
/* This thread's index and the thread count of a running exec. */
int lir_exec_ith(const struct lir_exec *x);
int lir_exec_nth(const struct lir_exec *x);
/* Runs fn on every thread of c's pool with a per-thread exec. */
typedef void (*lir_exec_fn)(struct lir_exec *x, const struct lir_backend_ops *ops, void *arg);
void lir_cpu_run(lir_cpu *c, lir_exec_fn fn, void *arg);
int lir_cpu_n_threads(const lir_cpu *c);
/* The selected kernels' f32 -> f16 row conversion (ggml's rounding). */
void (*lir_cpu_f16_row(const lir_cpu *c))(const float *x, void *y, int64_t n);
const char *lir_cpu_isa(const lir_cpu *c);

#endif /* LIR_BACKEND_H */
