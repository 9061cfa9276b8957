/* kernels_generic.c — the portable kernel table: plain C11, no ISA flags. vec_dot and the
 * activation quantizers are the scalar references of quant.h; gemm is a loop over vec_dot.
 * This is the fallback on CPUs without AVX2 and the baseline the SIMD tables are tested
 * against (they share the references as truth). */
#include <math.h>
#include <string.h>
#include "backend/backend.h"
#include "backend/cpu/kernels.h"

/* gemm as out[c, r] = vec_dot(row r, col c); columns inner so one weight row stays in cache. */
#define GEMM_GENERIC(T)                                                                    \
    static void gemm_##T(int n, const void *w, size_t w_stride, const void *a,             \
                         size_t a_stride, float *out, size_t out_stride, int nr, int nc) { \
        for (int r = 0; r < nr; r++) {                                                     \
            const char *wr = (const char *)w + (size_t)r * w_stride;                       \
            for (int c = 0; c < nc; c++)                                                   \
                lir_vec_dot_##T##_ref(n, &out[(size_t)c * out_stride + r], wr,             \
                                      (const char *)a + (size_t)c * a_stride);             \
        }                                                                                  \
    }
GEMM_GENERIC(f32)
GEMM_GENERIC(f16)
GEMM_GENERIC(bf16)
GEMM_GENERIC(q4_0)
GEMM_GENERIC(q4_1)
GEMM_GENERIC(q5_0)
GEMM_GENERIC(q5_1)
GEMM_GENERIC(q8_0)
GEMM_GENERIC(q2_K)
GEMM_GENERIC(q3_K)
GEMM_GENERIC(q4_K)
GEMM_GENERIC(q5_K)
GEMM_GENERIC(q6_K)

/* f32 "activation type": a plain copy. */
static void from_float_f32(const float *x, void *y, int64_t n) { memcpy(y, x, (size_t)n * sizeof(float)); }

static void mad_f16(int n, float *y, const lir_f16 *x, float a) {
    for (int i = 0; i < n; i++) y[i] += a * lir_f16_to_f32(x[i]);
}

/* lir_vec_dot_f16_ref's order (products in float, summed in double) across the blocks */
static void gemm_f16_paged(int bs, int nb, const lir_f16 *const *w, size_t ws, const lir_f16 *a, size_t as,
                           float *out, size_t os, int nr, int nc) {
    for (int r = 0; r < nr; r++)
        for (int c = 0; c < nc; c++) {
            const lir_f16 *ac = (const lir_f16 *)((const char *)a + (size_t)c * as);
            double sum = 0.0;
            for (int b = 0; b < nb; b++) {
                const lir_f16 *wr = (const lir_f16 *)((const char *)w[b] + (size_t)r * ws);
                for (int i = 0; i < bs; i++)
                    sum += (double)(lir_f16_to_f32(wr[i]) * lir_f16_to_f32(ac[(size_t)b * bs + i]));
            }
            out[(size_t)c * os + r] = (float)sum;
        }
}

static float dot_f32(int n, const float *x, const float *y) {
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += x[i] * y[i];
    return s;
}

/* Scalar references of the two elementwise slots (libm's expf; the sum in double). */
static void softmax_f16(int n, int n_pad, float *s, float scale, lir_f16 *p) {
    float mx = -INFINITY;
    for (int j = 0; j < n; j++) {
        s[j] *= scale;
        if (s[j] > mx) mx = s[j];
    }
    double sum = 0.0;
    for (int j = 0; j < n; j++) {
        s[j] = expf(s[j] - mx);
        sum += (double)s[j];
    }
    const float inv = (float)(1.0 / sum);
    for (int j = 0; j < n; j++) p[j] = lir_f32_to_f16(s[j] * inv);
    for (int j = n; j < n_pad; j++) p[j] = 0;
}

static void silu_mul(int64_t n, const float *g, const float *u, float *out) {
    for (int64_t i = 0; i < n; i++) out[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

void lir_rope_head_ref(int n_rot, const float *cs, float *x, bool neox) { lir__rope_head(n_rot, cs, x, neox); }

#define GENERIC_TYPES(X)                                                                   \
    X(LIR_TYPE_F32, f32) X(LIR_TYPE_F16, f16) X(LIR_TYPE_BF16, bf16) X(LIR_TYPE_Q4_0, q4_0)     \
    X(LIR_TYPE_Q4_1, q4_1) X(LIR_TYPE_Q5_0, q5_0) X(LIR_TYPE_Q5_1, q5_1) X(LIR_TYPE_Q8_0, q8_0) \
    X(LIR_TYPE_Q2_K, q2_K) X(LIR_TYPE_Q3_K, q3_K) X(LIR_TYPE_Q4_K, q4_K) X(LIR_TYPE_Q5_K, q5_K) \
    X(LIR_TYPE_Q6_K, q6_K)
#define SLOTS(ID, T) [ID] = lir_vec_dot_##T##_ref,
#define GSLOTS(ID, T) [ID] = gemm_##T,
const struct lir_cpu_kernels lir_cpu_kernels_generic = {
    .isa = "generic",
    .vec_dot = { GENERIC_TYPES(SLOTS) },
    .gemm = { GENERIC_TYPES(GSLOTS) },
    .from_float = {
        [LIR_TYPE_F32] = from_float_f32,
        [LIR_TYPE_F16] = lir_quantize_row_f16_ref,
        [LIR_TYPE_BF16] = lir_quantize_row_bf16_ref,
        [LIR_TYPE_Q8_0] = lir_quantize_row_q8_0_act_ref,
        [LIR_TYPE_Q8_1] = lir_quantize_row_q8_1_act_ref,
        [LIR_TYPE_Q8_K] = lir_quantize_row_q8_K_ref,
    },
    .gemm_f16_paged = gemm_f16_paged,
    .mad_f16 = mad_f16,
    .dot_f32 = dot_f32,
    .softmax_f16 = softmax_f16,
    .silu_mul = silu_mul,
    .rope_head = lir_rope_head_ref,
};
