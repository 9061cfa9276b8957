/* kernels.h — the CPU kernel dispatch table. One table per instruction set (generic C,
 * AVX2, AVX-512 incl. VNNI), chosen once at run time from CPU detection; the environment
 * variable LIR_CPU_ISA=generic|avx2|avx512 forces a lower one (tests compare all of them
 * against the scalar references in quant.h).
 *
 * Every slot computes the same function as its reference; SIMD versions may reorder float
 * sums (tolerances in tests/backend/), but activation quantizers must be byte-identical to
 * the reference quantizer of the vec_dot_type. */
#ifndef LIR_CPU_KERNELS_H
#define LIR_CPU_KERNELS_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "quant/quant.h"

/* out[c*out_stride + r] = dot(row r of w, row c of a) for r < nr, c < nc.
 * w: nr rows of n elements of the weight type, w_stride bytes apart.
 * a: nc rows of n elements of the vec_dot_type, a_stride bytes apart.
 * Implementations tile over rows and columns to reuse loaded weights across columns
 * (prompt processing) and must also be fast for nc == 1 (decode). */
typedef void (*lir_gemm_fn)(int n, const void *w, size_t w_stride, const void *a, size_t a_stride,
                            float *out, size_t out_stride, int nr, int nc);

struct lir_cpu_kernels {
    const char *isa;                                   /* "generic", "avx2", "avx512" */
    lir_vec_dot_fn vec_dot[LIR_TYPE_COUNT];            /* weight type -> dot with vec_dot_type row */
    lir_gemm_fn gemm[LIR_TYPE_COUNT];                  /* weight type -> tiled multi-row/col dot */
    /* NULL (use gemm), or the gemm for a weight of this type with `rows` rows in an op of n_tok
     * tokens: the "ggml" table follows llama.cpp, whose sums differ between one token and a
     * batch, and with whether it repacked the weight (ggml/kernels_ggml.c) */
    lir_gemm_fn (*gemm_pick)(int type, int64_t rows, int32_t n_tok);
    lir_quantize_row_fn from_float[LIR_TYPE_COUNT];    /* f32 -> act type (q8_0,q8_1,q8_K,f16,bf16,f32) */
    /* Paged f16 gemm (attention's weights x V^T over KV blocks): out[c*os + r] = dot over the
     * n = nb * bs elements of row r of the concatenated blocks (block b's row r at
     * w[b] + r * ws bytes, bs f16) and row c of a (nb * bs f16, as bytes apart), for r < nr,
     * c < nc. Each sum runs in exactly the order gemm[LIR_TYPE_F16] uses for one contiguous row
     * of n (tiles of more than one row), so a sequence's blocks being scattered changes no bit;
     * bs a multiple of 8. */
    void (*gemm_f16_paged)(int bs, int nb, const lir_f16 *const *w, size_t ws, const lir_f16 *a, size_t as,
                           float *out, size_t os, int nr, int nc);
    /* NULL, or gemm_f16_paged's replacement when the step has two or more tokens (as gemm_many) */
    void (*gemm_f16_paged_many)(int bs, int nb, const lir_f16 *const *w, size_t ws, const lir_f16 *a, size_t as,
                                float *out, size_t os, int nr, int nc);
    /* y[i] += a * x[i], x in f16 (attention: weights times V rows) */
    void (*mad_f16)(int n, float *y, const lir_f16 *x, float a);
    /* dot of f32 rows (norms, small projections) */
    float (*dot_f32)(int n, const float *x, const float *y);
    /* attention softmax of one score row: s[j] = exp(scale * s[j] - max) for j < n (s is
     * scratch afterwards), p[j] = f16(s[j] / sum) for j < n, p[j] = 0 for n <= j < n_pad.
     * n >= 1. The f16 rounding of the weights is ggml's (it multiplies V by f16 weights). */
    void (*softmax_f16)(int n, int n_pad, float *s, float scale, lir_f16 *p);
    /* out[i] = silu(g[i]) * u[i] = g[i] / (1 + exp(-g[i])) * u[i] (SwiGLU's gate) */
    void (*silu_mul)(int64_t n, const float *g, const float *u, float *out);
    /* RoPE of one head, rounded as ggml's CPU backend (GCC contracts its rotation into FMAs
     * there): lir_rope_head_ref in backend.h */
    void (*rope_head)(int n_rot, const float *cs, float *x, bool neox);
};

/* lir_rope_head_ref's body (backend.h): each table instantiates it, so it compiles to the FMA
 * instruction in the files built with -mfma and to libm's fmaf in the generic one. */
static inline void lir__rope_head(int n_rot, const float *cs, float *x, bool neox) {
    const int half = n_rot / 2, step = neox ? 1 : 2;
    float *x1 = neox ? x + half : x + 1;
    for (int i = 0; i < half; i++) {
        const float c = cs[2 * i], s = cs[2 * i + 1], u = x[i * step], v = x1[i * step];
        x[i * step] = fmaf(u, c, -(v * s));
        x1[i * step] = fmaf(u, s, v * c);
    }
}

/* The best table for this CPU (or the one LIR_CPU_ISA names, if supported). Never NULL. */
const struct lir_cpu_kernels *lir_cpu_kernels_best(void);
/* The table for isa ("generic", "avx2", "avx512"), or NULL if this CPU cannot run it. */
const struct lir_cpu_kernels *lir_cpu_kernels_for(const char *isa);

/* Tables defined per ISA (arch/<isa>/); a table is complete: slots the ISA does not
 * speed up point to the generic version. */
extern const struct lir_cpu_kernels lir_cpu_kernels_generic;
extern const struct lir_cpu_kernels lir_cpu_kernels_avx2;
extern const struct lir_cpu_kernels lir_cpu_kernels_avx512;
/* "ggml": llama.cpp's CPU arithmetic bit for bit, scalar (ggml/gx.h); runs on any CPU. */
const struct lir_cpu_kernels *lir_cpu_kernels_ggml_get(void);

/* CPU feature bits from cpuid + xgetbv (OS support of the register state). */
struct lir_cpu_features {
    bool avx2, fma, f16c, avx512f, avx512bw, avx512vl, avx512dq, avx512vnni, avx512bf16, avx512vbmi, gfni;
};
void lir_cpu_features_get(struct lir_cpu_features *out);

#endif /* LIR_CPU_KERNELS_H */
