/* quant_ref.c — scalar reference kernels for every storage type: quantize, dequantize, dot.
 *
 * Contract: these are the truth that SIMD/CUDA kernels are tested against, and they are
 * themselves tested against ggml (tests/quant/test_quant_ref.c):
 *   - quantize_row_*_ref produce blocks byte-identical to ggml's quantize_row_*_ref (the
 *     quantizers llama-quantize uses without an importance matrix), so files we write equal
 *     files llama.cpp writes. The float operations are written in the same order as ggml's
 *     on purpose: reordering any of them changes which candidate scale wins and so the bytes.
 *   - dequantize_row_*_ref equal ggml's dequantize_row_* bit for bit.
 *   - vec_dot_*_ref take a weight row and an activation row already in the weight type's
 *     vec_dot_type and compute as ggml's portable CPU code (_generic) does: exact integer sums
 *     per (sub)block, then float scaling in ggml's order, F16/BF16/F32 accumulated in double.
 *   - quantize_row_q8_{0,1}_act_ref reproduce ggml's x86 (AVX/AVX2) CPU activation quantizers,
 *     which round differently from the _ref ones (see the Q8_0 section).
 * Lengths n are multiples of the type's block size (asserted); pointers must not alias. */
#include <assert.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "quant/quant.h"

#define GROUP_MAX_EPS 1e-15f

static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }
static inline float h2f(lir_f16 h) { return lir_f16_to_f32(h); }
static inline lir_f16 f2h(float f) { return lir_f32_to_f16(f); }

/* Round to nearest, ties to even, by adding 1.5*2^23 and reading the mantissa. Exactly what
 * ggml's nearest_int does (valid for |f| <= 2^22; outside that it returns the same garbage as
 * ggml, which keeps degenerate inputs byte-identical too). */
static inline int nearest_int(float f) {
    float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/* ======================================================================================
 * F32, F16, BF16
 * ====================================================================================== */

void lir_quantize_row_f32_ref(const float *x, void *y, int64_t n) { memcpy(y, x, (size_t)n * sizeof(float)); }
void lir_dequantize_row_f32_ref(const void *x, float *y, int64_t n) { memcpy(y, x, (size_t)n * sizeof(float)); }

void lir_quantize_row_f16_ref(const float *x, void *vy, int64_t n) {
    lir_f16 *y = vy;
    for (int64_t i = 0; i < n; i++) y[i] = lir_f32_to_f16(x[i]);
}
void lir_dequantize_row_f16_ref(const void *vx, float *y, int64_t n) {
    const lir_f16 *x = vx;
    for (int64_t i = 0; i < n; i++) y[i] = lir_f16_to_f32(x[i]);
}

void lir_quantize_row_bf16_ref(const float *x, void *vy, int64_t n) {
    lir_bf16 *y = vy;
    for (int64_t i = 0; i < n; i++) y[i] = lir_f32_to_bf16(x[i]);
}
void lir_dequantize_row_bf16_ref(const void *vx, float *y, int64_t n) {
    const lir_bf16 *x = vx;
    for (int64_t i = 0; i < n; i++) y[i] = lir_bf16_to_f32(x[i]);
}

/* ggml's scalar F32/F16/BF16 dots: each product in float, the sum in double. */
void lir_vec_dot_f32_ref(int n, float *s, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += (double)(x[i] * y[i]);
    *s = (float)sum;
}
void lir_vec_dot_f16_ref(int n, float *s, const void *vx, const void *vy) {
    const lir_f16 *x = vx, *y = vy;
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += (double)(h2f(x[i]) * h2f(y[i]));
    *s = (float)sum;
}
void lir_vec_dot_bf16_ref(int n, float *s, const void *vx, const void *vy) {
    const lir_bf16 *x = vx, *y = vy;
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += (double)(lir_bf16_to_f32(x[i]) * lir_bf16_to_f32(y[i]));
    *s = (float)sum;
}

/* ======================================================================================
 * Q4_0, Q4_1, Q5_0, Q5_1 — 32 weights per block.
 * Q4_0/Q5_0: d = (the value of largest magnitude, with its sign) / -8 (or -16), so that value
 * maps exactly to level 0 and the asymmetric range [-8, 7] is used fully.
 * Q4_1/Q5_1: d = (max - min) / 15 (or 31), m = min. Levels truncate x/d + 0.5.
 * ====================================================================================== */

/* Largest |v| in x[0..n) and the signed value that has it (first one on ties). */
static float signed_absmax(const float *x, int n, float *amax_out) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    if (amax_out) *amax_out = amax;
    return max;
}

static void min_max(const float *x, int n, float *min_out, float *max_out) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        if (x[j] < min) min = x[j];
        if (x[j] > max) max = x[j];
    }
    *min_out = min;
    *max_out = max;
}

void lir_quantize_row_q4_0_ref(const float *x, void *vy, int64_t n) {
    assert(n % QK4_0 == 0);
    block_q4_0 *y = vy;
    for (int64_t i = 0; i < n / QK4_0; i++, x += QK4_0) {
        const float max = signed_absmax(x, QK4_0, NULL);
        const float d = max / -8;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = f2h(d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            /* truncation toward zero of a value in [0.5, 16.5]: the +8.5 rounds to nearest */
            const int q0 = imin(15, (int)(x[j] * id + 8.5f));
            const int q1 = imin(15, (int)(x[j + QK4_0 / 2] * id + 8.5f));
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void lir_dequantize_row_q4_0_ref(const void *vx, float *y, int64_t n) {
    assert(n % QK4_0 == 0);
    const block_q4_0 *x = vx;
    for (int64_t i = 0; i < n / QK4_0; i++, y += QK4_0) {
        const float d = h2f(x[i].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            y[j] = ((x[i].qs[j] & 0x0F) - 8) * d;
            y[j + QK4_0 / 2] = ((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

void lir_vec_dot_q4_0_ref(int n, float *s, const void *vx, const void *vy) {
    assert(n % QK4_0 == 0);
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    float sumf = 0;
    for (int i = 0; i < n / QK4_0; i++) {
        int sumi = 0;
        for (int j = 0; j < QK4_0 / 2; j++) {
            sumi += ((x[i].qs[j] & 0x0F) - 8) * y[i].qs[j];
            sumi += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + QK4_0 / 2];
        }
        sumf += sumi * h2f(x[i].d) * h2f(y[i].d);
    }
    *s = sumf;
}

void lir_quantize_row_q4_1_ref(const float *x, void *vy, int64_t n) {
    assert(n % QK4_1 == 0);
    block_q4_1 *y = vy;
    for (int64_t i = 0; i < n / QK4_1; i++, x += QK4_1) {
        float min, max;
        min_max(x, QK4_1, &min, &max);
        const float d = (max - min) / 15;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = f2h(d);
        y[i].m = f2h(min);
        for (int j = 0; j < QK4_1 / 2; j++) {
            const int q0 = imin(15, (int)((x[j] - min) * id + 0.5f));
            const int q1 = imin(15, (int)((x[j + QK4_1 / 2] - min) * id + 0.5f));
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void lir_dequantize_row_q4_1_ref(const void *vx, float *y, int64_t n) {
    assert(n % QK4_1 == 0);
    const block_q4_1 *x = vx;
    for (int64_t i = 0; i < n / QK4_1; i++, y += QK4_1) {
        const float d = h2f(x[i].d), m = h2f(x[i].m);
        for (int j = 0; j < QK4_1 / 2; j++) {
            y[j] = (x[i].qs[j] & 0x0F) * d + m;
            y[j + QK4_1 / 2] = (x[i].qs[j] >> 4) * d + m;
        }
    }
}

void lir_vec_dot_q4_1_ref(int n, float *s, const void *vx, const void *vy) {
    assert(n % QK4_1 == 0);
    const block_q4_1 *x = vx;
    const block_q8_1 *y = vy;
    float sumf = 0;
    for (int i = 0; i < n / QK4_1; i++) {
        int sumi = 0;
        for (int j = 0; j < QK4_1 / 2; j++) {
            sumi += (x[i].qs[j] & 0x0F) * y[i].qs[j];
            sumi += (x[i].qs[j] >> 4) * y[i].qs[j + QK4_1 / 2];
        }
        /* the min term uses the activation block's precomputed s = d * sum(qs) */
        sumf += (h2f(x[i].d) * h2f(y[i].d)) * sumi + h2f(x[i].m) * h2f(y[i].s);
    }
    *s = sumf;
}

/* Q5: the low 4 bits in qs (like Q4), the 5th bit of weight j in bit j of the 32-bit qh. */
static inline int q5_level(const uint8_t *qs, uint32_t qh, int j) {
    const int lo = j < 16 ? (qs[j] & 0x0F) : (qs[j - 16] >> 4);
    return lo | (int)(((qh >> j) & 1u) << 4);
}

void lir_quantize_row_q5_0_ref(const float *x, void *vy, int64_t n) {
    assert(n % QK5_0 == 0);
    block_q5_0 *y = vy;
    for (int64_t i = 0; i < n / QK5_0; i++, x += QK5_0) {
        const float max = signed_absmax(x, QK5_0, NULL);
        const float d = max / -16;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = f2h(d);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_0 / 2; j++) {
            const int q0 = imin(31, (int)(x[j] * id + 16.5f));
            const int q1 = imin(31, (int)(x[j + QK5_0 / 2] * id + 16.5f));
            y[i].qs[j] = (uint8_t)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
            qh |= (uint32_t)((q0 >> 4) & 1) << j;
            qh |= (uint32_t)((q1 >> 4) & 1) << (j + QK5_0 / 2);
        }
        memcpy(y[i].qh, &qh, sizeof qh);
    }
}

void lir_dequantize_row_q5_0_ref(const void *vx, float *y, int64_t n) {
    assert(n % QK5_0 == 0);
    const block_q5_0 *x = vx;
    for (int64_t i = 0; i < n / QK5_0; i++, y += QK5_0) {
        const float d = h2f(x[i].d);
        uint32_t qh;
        memcpy(&qh, x[i].qh, sizeof qh);
        for (int j = 0; j < QK5_0; j++) y[j] = (q5_level(x[i].qs, qh, j) - 16) * d;
    }
}

void lir_vec_dot_q5_0_ref(int n, float *s, const void *vx, const void *vy) {
    assert(n % QK5_0 == 0);
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    float sumf = 0;
    for (int i = 0; i < n / QK5_0; i++) {
        uint32_t qh;
        memcpy(&qh, x[i].qh, sizeof qh);
        int sumi = 0;
        for (int j = 0; j < QK5_0; j++) sumi += (q5_level(x[i].qs, qh, j) - 16) * y[i].qs[j];
        sumf += (h2f(x[i].d) * h2f(y[i].d)) * sumi;
    }
    *s = sumf;
}

void lir_quantize_row_q5_1_ref(const float *x, void *vy, int64_t n) {
    assert(n % QK5_1 == 0);
    block_q5_1 *y = vy;
    for (int64_t i = 0; i < n / QK5_1; i++, x += QK5_1) {
        float min, max;
        min_max(x, QK5_1, &min, &max);
        const float d = (max - min) / 31;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = f2h(d);
        y[i].m = f2h(min);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_1 / 2; j++) {
            /* no clamp here (ggml has none): (x - min)/d + 0.5 < 31.5 always truncates to <= 31 */
            const int q0 = (uint8_t)((x[j] - min) * id + 0.5f);
            const int q1 = (uint8_t)((x[j + QK5_1 / 2] - min) * id + 0.5f);
            y[i].qs[j] = (uint8_t)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
            qh |= (uint32_t)((q0 >> 4) & 1) << j;
            qh |= (uint32_t)((q1 >> 4) & 1) << (j + QK5_1 / 2);
        }
        memcpy(y[i].qh, &qh, sizeof qh);
    }
}

void lir_dequantize_row_q5_1_ref(const void *vx, float *y, int64_t n) {
    assert(n % QK5_1 == 0);
    const block_q5_1 *x = vx;
    for (int64_t i = 0; i < n / QK5_1; i++, y += QK5_1) {
        const float d = h2f(x[i].d), m = h2f(x[i].m);
        uint32_t qh;
        memcpy(&qh, x[i].qh, sizeof qh);
        for (int j = 0; j < QK5_1; j++) y[j] = q5_level(x[i].qs, qh, j) * d + m;
    }
}

void lir_vec_dot_q5_1_ref(int n, float *s, const void *vx, const void *vy) {
    assert(n % QK5_1 == 0);
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    float sumf = 0;
    for (int i = 0; i < n / QK5_1; i++) {
        uint32_t qh;
        memcpy(&qh, x[i].qh, sizeof qh);
        int sumi = 0;
        for (int j = 0; j < QK5_1; j++) sumi += q5_level(x[i].qs, qh, j) * y[i].qs[j];
        sumf += (h2f(x[i].d) * h2f(y[i].d)) * sumi + h2f(x[i].m) * h2f(y[i].s);
    }
    *s = sumf;
}

/* ======================================================================================
 * Q8_0, Q8_1 — 32 weights per block, d = amax / 127.
 * Two quantizers each:
 *   _ref:     id = 1/d, q = roundf(x*id)  (ties away from zero) — ggml's quantize_row_q8_0_ref,
 *             used for weights (files).
 *   _act_ref: id = 127/amax, q = round-half-even(x*id) — ggml's x86 AVX/AVX2 quantize_row_q8_0
 *             (_mm256_round_ps(_MM_ROUND_NEAREST)), which is the CPU backend's from_float and so
 *             what llama.cpp's forward pass uses for activations. 1/(amax/127) and 127/amax can
 *             differ in the last bit, and ties round differently, so the two can disagree by
 *             one level on some elements.
 * ====================================================================================== */

static float absmax(const float *x, int n) {
    float amax = 0.0f;
    for (int j = 0; j < n; j++) amax = fmaxf(amax, fabsf(x[j]));
    return amax;
}

void lir_quantize_row_q8_0_ref(const float *x, void *vy, int64_t n) {
    assert(n % QK8_0 == 0);
    block_q8_0 *y = vy;
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        const float d = absmax(x, QK8_0) / 127;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = f2h(d);
        for (int j = 0; j < QK8_0; j++) y[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

void lir_quantize_row_q8_0_act_ref(const float *x, void *vy, int64_t n) {
    assert(n % QK8_0 == 0);
    block_q8_0 *y = vy;
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        const float amax = absmax(x, QK8_0);
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        y[i].d = f2h(amax / 127.f);
        for (int j = 0; j < QK8_0; j++) y[i].qs[j] = (int8_t)rintf(x[j] * id); /* default mode: ties to even */
    }
}

void lir_dequantize_row_q8_0_ref(const void *vx, float *y, int64_t n) {
    assert(n % QK8_0 == 0);
    const block_q8_0 *x = vx;
    for (int64_t i = 0; i < n / QK8_0; i++, y += QK8_0) {
        const float d = h2f(x[i].d);
        for (int j = 0; j < QK8_0; j++) y[j] = x[i].qs[j] * d;
    }
}

void lir_vec_dot_q8_0_ref(int n, float *s, const void *vx, const void *vy) {
    assert(n % QK8_0 == 0);
    const block_q8_0 *x = vx, *y = vy;
    float sumf = 0;
    for (int i = 0; i < n / QK8_0; i++) {
        int sumi = 0;
        for (int j = 0; j < QK8_0; j++) sumi += x[i].qs[j] * y[i].qs[j];
        sumf += sumi * (h2f(x[i].d) * h2f(y[i].d));
    }
    *s = sumf;
}

void lir_quantize_row_q8_1_ref(const float *x, void *vy, int64_t n) {
    assert(n % QK8_1 == 0);
    block_q8_1 *y = vy;
    for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
        const float d = absmax(x, QK8_1) / 127;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = f2h(d);
        int sum = 0;
        for (int j = 0; j < QK8_1; j++) {
            y[i].qs[j] = (int8_t)roundf(x[j] * id);
            sum += y[i].qs[j];
        }
        y[i].s = f2h(sum * d);
    }
}

void lir_quantize_row_q8_1_act_ref(const float *x, void *vy, int64_t n) {
    assert(n % QK8_1 == 0);
    block_q8_1 *y = vy;
    for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
        const float amax = absmax(x, QK8_1);
        const float d = amax / 127.f;
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        y[i].d = f2h(d);
        int sum = 0;
        for (int j = 0; j < QK8_1; j++) {
            y[i].qs[j] = (int8_t)rintf(x[j] * id);
            sum += y[i].qs[j];
        }
        y[i].s = f2h(d * sum);
    }
}

/* ggml has no Q8_1 to_float; this is the obvious one (d * q), for tests and tools. */
void lir_dequantize_row_q8_1_ref(const void *vx, float *y, int64_t n) {
    assert(n % QK8_1 == 0);
    const block_q8_1 *x = vx;
    for (int64_t i = 0; i < n / QK8_1; i++, y += QK8_1) {
        const float d = h2f(x[i].d);
        for (int j = 0; j < QK8_1; j++) y[j] = x[i].qs[j] * d;
    }
}

/* ggml has no Q8_1 x Q8_1 dot (Q8_1 is only an activation type); same shape as Q8_0's. */
void lir_vec_dot_q8_1_ref(int n, float *s, const void *vx, const void *vy) {
    assert(n % QK8_1 == 0);
    const block_q8_1 *x = vx, *y = vy;
    float sumf = 0;
    for (int i = 0; i < n / QK8_1; i++) {
        int sumi = 0;
        for (int j = 0; j < QK8_1; j++) sumi += x[i].qs[j] * y[i].qs[j];
        sumf += sumi * (h2f(x[i].d) * h2f(y[i].d));
    }
    *s = sumf;
}

/* ======================================================================================
 * K-quants: super-blocks of 256 weights split into sub-blocks of 16 or 32, each sub-block
 * with its own 4/6/8-bit scale (and min), themselves scaled by the block's f16 d (and dmin).
 * The scale searches below are ggml's, operation for operation.
 * ====================================================================================== */

/* Symmetric levels in [-nmax, nmax) for a group of n: start from scale max/-nmax, refine the
 * scale by weighted least squares (weights x^2), then try 18 nearby starting scales and keep
 * the best. Returns the scale; L gets levels + nmax. (ggml: make_qx_quants, rmse_type 1, no
 * external weights — the only way the reference quantizers call it.) */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L) {
    float amax = 0;
    const float max = signed_absmax(x, n, &amax);
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        const int l = imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i])));
        L[i] = (int8_t)(l + nmax);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            const int l = imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i])));
            const float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) {
                L[i] = (int8_t)(nmax + imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i]))));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Q3_K's sub-block search: start from max/-nmax, then up to 5 passes of coordinate descent
 * that move one level at a time when that improves the weighted (x^2) fit. */
static float make_q3_quants(int n, int nmax, const float *x, int8_t *L) {
    float amax = 0;
    const float max = signed_absmax(x, n, &amax);
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    const float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        const int l = imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i])));
        L[i] = (int8_t)l;
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * L[i] * L[i];
                const int new_l = imax(-nmax, imin(nmax - 1, nearest_int(x[i] * sl2 / slx)));
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed++;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Asymmetric levels [0, nmax] with scale and min (x ~ scale*l - the_min): start from the
 * min/max fit, then try nstep+1 scales (rmin + rdelta*is + nmax)/(max - min), each fitted by
 * weighted least squares for scale and min, keeping the smallest weighted error (|.| if
 * use_mad, else squared). ggml: make_qkx2_quants. */
static float make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L,
                              float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                              bool use_mad) {
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)imax(0, imin(nmax, nearest_int(iscale * (x[i] - min))));
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_error += weights[i] * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            const int l = imax(0, imin(nmax, nearest_int(iscale * (x[i] - min))));
            Laux[i] = (uint8_t)l;
            const float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* Q4_K/Q5_K pack eight 6-bit scales and eight 6-bit mins into 12 bytes: sub-blocks 0-3 in the
 * low 6 bits of bytes 0-3 (scales) and 4-7 (mins); sub-blocks 4-7 as nibbles in bytes 8-11
 * with their top 2 bits in the top 2 bits of bytes 0-7. */
static inline void get_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
    }
}

static void set_scale_min_k4(int j, uint8_t *q, uint8_t ls, uint8_t lm) {
    if (j < 4) {
        q[j] = ls;
        q[j + 4] = lm;
    } else {
        q[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
        q[j - 4] |= (uint8_t)((ls >> 4) << 6);
        q[j - 0] |= (uint8_t)((lm >> 4) << 6);
    }
}

/* Q3_K packs sixteen 6-bit scales (stored +32) into 12 bytes: low nibbles of 0-7 in bytes 0-7
 * low half, of 8-15 in bytes 0-7 high half; top 2 bits of scale j in bits 2*(j/4) of byte
 * 8 + j%4. Returns the 16 scales minus 32. */
static void q3k_unpack_scales(const uint8_t *packed, int8_t out[16]) {
    for (int j = 0; j < 16; j++) {
        const int lo = j < 8 ? (packed[j] & 0xF) : (packed[j - 8] >> 4);
        const int hi = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
        out[j] = (int8_t)((lo | (hi << 4)) - 32);
    }
}

/* ---- Q2_K: 16 sub-blocks of 16; 2-bit levels; 4-bit scale and 4-bit min per sub-block ---- */

void lir_quantize_row_q2_K_ref(const float *x, void *vy, int64_t n) {
    assert(n % QK_K == 0);
    block_q2_K *y = vy;
    uint8_t L[QK_K], Laux[16];
    float weights[16], mins[QK_K / 16], scales[QK_K / 16];
    const float q4scale = 15.f;

    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            for (int l = 0; l < 16; l++) weights[l] = fabsf(x[16 * j + l]);
            scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux,
                                         -0.5f, 0.1f, 15, true);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        if (max_scale > 0) {
            const float iscale = q4scale / max_scale;
            for (int j = 0; j < QK_K / 16; j++) y[i].scales[j] = (uint8_t)nearest_int(iscale * scales[j]);
            y[i].d = f2h(max_scale / q4scale);
        } else {
            memset(y[i].scales, 0, sizeof y[i].scales);
            y[i].d = f2h(0.f);
        }
        if (max_min > 0) {
            const float iscale = q4scale / max_min;
            for (int j = 0; j < QK_K / 16; j++) y[i].scales[j] |= (uint8_t)(nearest_int(iscale * mins[j]) << 4);
            y[i].dmin = f2h(max_min / q4scale);
        } else {
            y[i].dmin = f2h(0.f);
        }
        /* requantize against the rounded scales actually stored */
        for (int j = 0; j < QK_K / 16; j++) {
            const float d = h2f(y[i].d) * (y[i].scales[j] & 0xF);
            if (!d) continue;
            const float dm = h2f(y[i].dmin) * (y[i].scales[j] >> 4);
            for (int ii = 0; ii < 16; ii++) {
                L[16 * j + ii] = (uint8_t)imax(0, imin(3, nearest_int((x[16 * j + ii] + dm) / d)));
            }
        }
        for (int j = 0; j < QK_K; j += 128) {
            for (int l = 0; l < 32; l++) {
                y[i].qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
                                               (L[j + l + 96] << 6));
            }
        }
    }
}

/* Element e of a Q2_K/Q3_K block (0..255): byte (e/128)*32 + e%32 of qs, bits 2*((e%128)/32). */
static inline int q2k_bits(const uint8_t *qs, int e) {
    return (qs[(e / 128) * 32 + e % 32] >> (2 * ((e % 128) / 32))) & 3;
}

void lir_dequantize_row_q2_K_ref(const void *vx, float *y, int64_t n) {
    assert(n % QK_K == 0);
    const block_q2_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
        const float d = h2f(x[i].d), min = h2f(x[i].dmin);
        for (int sb = 0; sb < QK_K / 16; sb++) {
            const uint8_t sc = x[i].scales[sb];
            const float dl = d * (sc & 0xF), ml = min * (sc >> 4);
            for (int l = 0; l < 16; l++) {
                const int e = 16 * sb + l;
                y[e] = dl * q2k_bits(x[i].qs, e) - ml;
            }
        }
    }
}

void lir_vec_dot_q2_K_ref(int n, float *s, const void *vx, const void *vy) {
    assert(n % QK_K == 0);
    const block_q2_K *x = vx;
    const block_q8_K *y = vy;
    float sumf = 0;
    for (int i = 0; i < n / QK_K; i++) {
        int summs = 0; /* sum over sub-blocks of min level * activation sum */
        for (int j = 0; j < 16; j++) summs += y[i].bsums[j] * (x[i].scales[j] >> 4);
        const float dall = y[i].d * h2f(x[i].d);
        const float dmin = y[i].d * h2f(x[i].dmin);
        int isum = 0;
        for (int sb = 0; sb < QK_K / 16; sb++) {
            int isuml = 0;
            for (int l = 0; l < 16; l++) {
                const int e = 16 * sb + l;
                isuml += y[i].qs[e] * q2k_bits(x[i].qs, e);
            }
            isum += (x[i].scales[sb] & 0xF) * isuml;
        }
        sumf += dall * isum - dmin * summs;
    }
    *s = sumf;
}

/* ---- Q3_K: 16 sub-blocks of 16; 3-bit levels (2 in qs + 1 in hmask); 6-bit signed scales ---- */

void lir_quantize_row_q3_K_ref(const float *x, void *vy, int64_t n) {
    assert(n % QK_K == 0);
    block_q3_K *y = vy;
    int8_t L[QK_K];
    float scales[QK_K / 16];

    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max_scale = 0, amax = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
            const float scale = fabsf(scales[j]);
            if (scale > amax) {
                amax = scale;
                max_scale = scales[j];
            }
        }
        memset(y[i].scales, 0, 12);
        if (max_scale) {
            const float iscale = -32.f / max_scale;
            for (int j = 0; j < QK_K / 16; j++) {
                int8_t l8 = (int8_t)nearest_int(iscale * scales[j]);
                const int l = imax(-32, imin(31, l8)) + 32;
                if (j < 8) y[i].scales[j] = (uint8_t)(l & 0xF);
                else y[i].scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
                y[i].scales[j % 4 + 8] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
            }
            y[i].d = f2h(1 / iscale);
        } else {
            y[i].d = f2h(0.f);
        }
        int8_t sc[16];
        q3k_unpack_scales(y[i].scales, sc);
        for (int j = 0; j < QK_K / 16; j++) {
            const float d = h2f(y[i].d) * sc[j];
            if (!d) continue;
            for (int ii = 0; ii < 16; ii++) {
                L[16 * j + ii] = (int8_t)(imax(-4, imin(3, nearest_int(x[16 * j + ii] / d))) + 4);
            }
        }
        /* high bit of element j goes to hmask[j % 32], bit j / 32 */
        memset(y[i].hmask, 0, QK_K / 8);
        for (int j = 0; j < QK_K; j++) {
            if (L[j] > 3) {
                y[i].hmask[j % 32] |= (uint8_t)(1u << (j / 32));
                L[j] -= 4;
            }
        }
        for (int j = 0; j < QK_K; j += 128) {
            for (int l = 0; l < 32; l++) {
                y[i].qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
                                               (L[j + l + 96] << 6));
            }
        }
    }
}

/* Signed 3-bit level of element e: 2 low bits from qs, minus 4 unless the hmask bit is set. */
static inline int q3k_level(const block_q3_K *b, int e) {
    return q2k_bits(b->qs, e) - ((b->hmask[e % 32] >> (e / 32)) & 1 ? 0 : 4);
}

void lir_dequantize_row_q3_K_ref(const void *vx, float *y, int64_t n) {
    assert(n % QK_K == 0);
    const block_q3_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
        const float d_all = h2f(x[i].d);
        int8_t sc[16];
        q3k_unpack_scales(x[i].scales, sc);
        for (int sb = 0; sb < 16; sb++) {
            const float dl = d_all * sc[sb];
            for (int l = 0; l < 16; l++) {
                const int e = 16 * sb + l;
                y[e] = dl * q3k_level(&x[i], e);
            }
        }
    }
}

/* Q3_K..Q6_K dots share ggml's float order: integer partial sums aux32[l] over the elements
 * with index % 8 == l (each times its sub-block scale), then sums[l] += d * aux32[l] per
 * block, and the eight sums added in order at the end. */
void lir_vec_dot_q3_K_ref(int n, float *s, const void *vx, const void *vy) {
    assert(n % QK_K == 0);
    const block_q3_K *x = vx;
    const block_q8_K *y = vy;
    float sums[8] = {0};
    for (int i = 0; i < n / QK_K; i++) {
        int8_t sc[16];
        q3k_unpack_scales(x[i].scales, sc);
        int32_t aux32[8] = {0};
        for (int e = 0; e < QK_K; e++) aux32[e % 8] += sc[e / 16] * (y[i].qs[e] * q3k_level(&x[i], e));
        const float d = h2f(x[i].d) * y[i].d;
        for (int l = 0; l < 8; l++) sums[l] += d * aux32[l];
    }
    float sumf = 0;
    for (int l = 0; l < 8; l++) sumf += sums[l];
    *s = sumf;
}

/* ---- Q4_K: 8 sub-blocks of 32; 4-bit levels; 6-bit scale and min per sub-block ---- */

/* Shared by Q4_K and Q5_K: per-sub-block scale/min search, then 6-bit scales and mins
 * relative to the block's largest. Writes d, dmin, scales; L gets the final levels. */
static void qkx_block(const float *x, int nmax, float rmin, int nstep, lir_f16 *d_out, lir_f16 *dmin_out,
                      uint8_t *packed, uint8_t *L) {
    uint8_t Laux[32];
    float weights[32], mins[QK_K / 32], scales[QK_K / 32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < QK_K / 32; j++) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin,
                                     0.1f, nstep, false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    memset(packed, 0, K_SCALE_SIZE);
    for (int j = 0; j < QK_K / 32; j++) {
        /* ggml stores nearest_int into a uint8_t before clamping: keep that truncation */
        uint8_t ls = (uint8_t)nearest_int(inv_scale * scales[j]);
        uint8_t lm = (uint8_t)nearest_int(inv_min * mins[j]);
        ls = ls < 63 ? ls : 63;
        lm = lm < 63 ? lm : 63;
        set_scale_min_k4(j, packed, ls, lm);
    }
    *d_out = f2h(max_scale / 63.f);
    *dmin_out = f2h(max_min / 63.f);
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t sc, m;
        get_scale_min_k4(j, packed, &sc, &m);
        const float d = h2f(*d_out) * sc;
        if (!d) continue;
        const float dm = h2f(*dmin_out) * m;
        for (int ii = 0; ii < 32; ii++) {
            L[32 * j + ii] = (uint8_t)imax(0, imin(nmax, nearest_int((x[32 * j + ii] + dm) / d)));
        }
    }
}

void lir_quantize_row_q4_K_ref(const float *x, void *vy, int64_t n) {
    assert(n % QK_K == 0);
    block_q4_K *y = vy;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        qkx_block(x, 15, -1.f, 20, &y[i].d, &y[i].dmin, y[i].scales, L);
        /* 64 weights per 32 bytes: the first 32 in low nibbles, the next 32 in high */
        for (int j = 0; j < QK_K; j += 64) {
            for (int l = 0; l < 32; l++) y[i].qs[j / 2 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
        }
    }
}

static inline int q4k_level(const uint8_t *qs, int e) {
    const uint8_t b = qs[(e / 64) * 32 + e % 32];
    return (e % 64) < 32 ? (b & 0xF) : (b >> 4);
}

void lir_dequantize_row_q4_K_ref(const void *vx, float *y, int64_t n) {
    assert(n % QK_K == 0);
    const block_q4_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
        const float d = h2f(x[i].d), min = h2f(x[i].dmin);
        for (int sb = 0; sb < 8; sb++) {
            uint8_t sc, m;
            get_scale_min_k4(sb, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            for (int l = 0; l < 32; l++) y[32 * sb + l] = d1 * q4k_level(x[i].qs, 32 * sb + l) - m1;
        }
    }
}

void lir_vec_dot_q4_K_ref(int n, float *s, const void *vx, const void *vy) {
    assert(n % QK_K == 0);
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    float sums[8] = {0};
    float sumf = 0;
    for (int i = 0; i < n / QK_K; i++) {
        uint8_t sc[8], mn[8];
        for (int j = 0; j < 8; j++) get_scale_min_k4(j, x[i].scales, &sc[j], &mn[j]);
        int sumi = 0;
        for (int j = 0; j < QK_K / 16; j++) sumi += y[i].bsums[j] * mn[j / 2];
        int32_t aux32[8] = {0};
        for (int e = 0; e < QK_K; e++) aux32[e % 8] += sc[e / 32] * (y[i].qs[e] * q4k_level(x[i].qs, e));
        const float d = h2f(x[i].d) * y[i].d;
        for (int l = 0; l < 8; l++) sums[l] += d * aux32[l];
        const float dmin = h2f(x[i].dmin) * y[i].d;
        sumf -= dmin * sumi;
    }
    for (int l = 0; l < 8; l++) sumf += sums[l];
    *s = sumf;
}

/* ---- Q5_K: as Q4_K with a 5th bit per weight in qh ---- */

void lir_quantize_row_q5_K_ref(const float *x, void *vy, int64_t n) {
    assert(n % QK_K == 0);
    block_q5_K *y = vy;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        qkx_block(x, 31, -0.5f, 15, &y[i].d, &y[i].dmin, y[i].scales, L);
        /* element e: low nibble as in Q4_K; high bit in qh[e % 32], bit e / 32 */
        memset(y[i].qh, 0, QK_K / 8);
        for (int e = 0; e < QK_K; e++) {
            if (L[e] > 15) y[i].qh[e % 32] |= (uint8_t)(1u << (e / 32));
        }
        for (int j = 0; j < QK_K; j += 64) {
            for (int l = 0; l < 32; l++) {
                y[i].qs[j / 2 + l] = (uint8_t)((L[j + l] & 0xF) | ((L[j + l + 32] & 0xF) << 4));
            }
        }
    }
}

static inline int q5k_level(const block_q5_K *b, int e) {
    return q4k_level(b->qs, e) + (((b->qh[e % 32] >> (e / 32)) & 1) << 4);
}

void lir_dequantize_row_q5_K_ref(const void *vx, float *y, int64_t n) {
    assert(n % QK_K == 0);
    const block_q5_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
        const float d = h2f(x[i].d), min = h2f(x[i].dmin);
        for (int sb = 0; sb < 8; sb++) {
            uint8_t sc, m;
            get_scale_min_k4(sb, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            for (int l = 0; l < 32; l++) y[32 * sb + l] = d1 * q5k_level(&x[i], 32 * sb + l) - m1;
        }
    }
}

void lir_vec_dot_q5_K_ref(int n, float *s, const void *vx, const void *vy) {
    assert(n % QK_K == 0);
    const block_q5_K *x = vx;
    const block_q8_K *y = vy;
    float sums[8] = {0};
    float sumf = 0;
    for (int i = 0; i < n / QK_K; i++) {
        uint8_t sc[8], mn[8];
        for (int j = 0; j < 8; j++) get_scale_min_k4(j, x[i].scales, &sc[j], &mn[j]);
        int sumi = 0;
        for (int j = 0; j < QK_K / 16; j++) sumi += y[i].bsums[j] * mn[j / 2];
        int32_t aux32[8] = {0};
        for (int e = 0; e < QK_K; e++) aux32[e % 8] += sc[e / 32] * (y[i].qs[e] * q5k_level(&x[i], e));
        const float d = h2f(x[i].d) * y[i].d;
        for (int l = 0; l < 8; l++) sums[l] += d * aux32[l];
        const float dmin = h2f(x[i].dmin) * y[i].d;
        sumf -= dmin * sumi;
    }
    for (int l = 0; l < 8; l++) sumf += sums[l];
    *s = sumf;
}

/* ---- Q6_K: 16 sub-blocks of 16; 6-bit levels (4 in ql + 2 in qh); 8-bit signed scales ---- */

void lir_quantize_row_q6_K_ref(const float *x, void *vy, int64_t n) {
    assert(n % QK_K == 0);
    block_q6_K *y = vy;
    int8_t L[QK_K];
    float scales[QK_K / 16];

    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < QK_K / 16; ib++) {
            scales[ib] = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
            const float abs_scale = fabsf(scales[ib]);
            if (abs_scale > max_abs_scale) {
                max_abs_scale = abs_scale;
                max_scale = scales[ib];
            }
        }
        if (max_abs_scale < GROUP_MAX_EPS) {
            memset(&y[i], 0, sizeof y[i]);
            y[i].d = f2h(0.f);
            continue;
        }
        const float iscale = -128.f / max_scale;
        y[i].d = f2h(1 / iscale);
        for (int ib = 0; ib < QK_K / 16; ib++) y[i].scales[ib] = (int8_t)imin(127, nearest_int(iscale * scales[ib]));
        for (int j = 0; j < QK_K / 16; j++) {
            const float d = h2f(y[i].d) * y[i].scales[j];
            if (!d) continue;
            for (int ii = 0; ii < 16; ii++) {
                L[16 * j + ii] = (int8_t)(imax(-32, imin(31, nearest_int(x[16 * j + ii] / d))) + 32);
            }
        }
        /* per 128 elements: ql[l] = e(l) | e(l+64) << 4, ql[l+32] = e(l+32) | e(l+96) << 4,
         * qh[l] = top 2 bits of e(l), e(l+32), e(l+64), e(l+96) */
        for (int j = 0; j < QK_K; j += 128) {
            uint8_t *ql = y[i].ql + j / 2, *qh = y[i].qh + j / 4;
            for (int l = 0; l < 32; l++) {
                const int q1 = L[j + l], q2 = L[j + l + 32], q3 = L[j + l + 64], q4 = L[j + l + 96];
                ql[l] = (uint8_t)((q1 & 0xF) | ((q3 & 0xF) << 4));
                ql[l + 32] = (uint8_t)((q2 & 0xF) | ((q4 & 0xF) << 4));
                qh[l] = (uint8_t)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
        }
    }
}

static inline int q6k_level(const block_q6_K *b, int e) {
    const int h = e / 128, r = e % 128, l = r % 32, quarter = r / 32;
    const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
    const int lo = (quarter & 1) ? ql[l + 32] : ql[l];
    const int low4 = quarter < 2 ? (lo & 0xF) : (lo >> 4);
    return (low4 | (((qh[l] >> (2 * quarter)) & 3) << 4)) - 32;
}

void lir_dequantize_row_q6_K_ref(const void *vx, float *y, int64_t n) {
    assert(n % QK_K == 0);
    const block_q6_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
        const float d = h2f(x[i].d);
        for (int e = 0; e < QK_K; e++) y[e] = d * x[i].scales[e / 16] * q6k_level(&x[i], e);
    }
}

void lir_vec_dot_q6_K_ref(int n, float *s, const void *vx, const void *vy) {
    assert(n % QK_K == 0);
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    float sums[8] = {0};
    for (int i = 0; i < n / QK_K; i++) {
        int32_t aux32[8] = {0};
        for (int e = 0; e < QK_K; e++) aux32[e % 8] += x[i].scales[e / 16] * (y[i].qs[e] * q6k_level(&x[i], e));
        const float d = h2f(x[i].d) * y[i].d;
        for (int l = 0; l < 8; l++) sums[l] += d * aux32[l];
    }
    float sumf = 0;
    for (int l = 0; l < 8; l++) sumf += sums[l];
    *s = sumf;
}

/* ---- Q8_K: activation type of the K-quants; f32 d = max/-127, sums of 16 in bsums ---- */

void lir_quantize_row_q8_K_ref(const float *x, void *vy, int64_t n) {
    assert(n % QK_K == 0);
    block_q8_K *y = vy;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float amax = 0;
        const float max = signed_absmax(x, QK_K, &amax);
        if (!amax) {
            /* ggml leaves bsums untouched here; we zero them so the block is fully defined */
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < QK_K; j++) y[i].qs[j] = (int8_t)imin(127, nearest_int(iscale * x[j]));
        for (int j = 0; j < QK_K / 16; j++) {
            int sum = 0;
            for (int ii = 0; ii < 16; ii++) sum += y[i].qs[16 * j + ii];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
    }
}

void lir_dequantize_row_q8_K_ref(const void *vx, float *y, int64_t n) {
    assert(n % QK_K == 0);
    const block_q8_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
        for (int j = 0; j < QK_K; j++) y[j] = x[i].d * x[i].qs[j];
    }
}

/* ggml has no Q8_K x Q8_K dot; the obvious one, for completeness of the traits table. */
void lir_vec_dot_q8_K_ref(int n, float *s, const void *vx, const void *vy) {
    assert(n % QK_K == 0);
    const block_q8_K *x = vx, *y = vy;
    float sumf = 0;
    for (int i = 0; i < n / QK_K; i++) {
        int sumi = 0;
        for (int j = 0; j < QK_K; j++) sumi += x[i].qs[j] * y[i].qs[j];
        sumf += sumi * (x[i].d * y[i].d);
    }
    *s = sumf;
}
