/* test_elementwise.c — the elementwise kernel slots (softmax_f16, silu_mul) of every CPU table
 * this machine can run, against the scalar references of the generic table (libm's expf, the
 * softmax sum in double).
 *
 * The SIMD versions use a polynomial exp (a few ulp from expf) and a float sum, so:
 *   - softmax: each f16 weight within 1 f16 ulp of the reference's (the f32 values differ by
 *     ~1e-7 relative and may round to the neighbouring f16), the padding exactly 0, and the
 *     f32 scratch (exp values) within 4e-7 relative;
 *   - silu_mul: within 4e-7 relative of the reference plus 1e-30 absolute (flush of tiny
 *     values: silu(-90) underflows to ~-7e-38 in expf, to 0 in the polynomial version).
 * Lengths cover the vector body, the scalar tail and n = 1; inputs span 0, ±1e-3 .. ±100 and
 * huge magnitudes (overflow of exp(-g) must give silu = -0, never NaN). The "ggml" table (llama.cpp's
 * exp polynomial) is held to the same bounds. rope_head must give the same bits in every table. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/kernels.h"

static uint64_t st = 0x2545f4914f6cdd1dull;
static float frand(float lo, float hi) {
    st ^= st << 13, st ^= st >> 7, st ^= st << 17;
    return lo + (hi - lo) * (float)((st >> 40) & 0xffffff) / 16777216.0f;
}

static const char *const isas[] = {"avx2", "avx512", "ggml"}; /* ggml: llama.cpp's exp polynomial */

static int f16_ulps(lir_f16 a, lir_f16 b) { return abs((int)a - (int)b); } /* both non-negative */

Test(elementwise, softmax_f16_matches_reference) {
    const struct lir_cpu_kernels *ref = lir_cpu_kernels_for("generic");
    static const int lens[] = {1, 2, 7, 8, 9, 15, 16, 17, 31, 64, 100, 513, 2048};
    int tested = 0;
    for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
        const struct lir_cpu_kernels *k = lir_cpu_kernels_for(isas[i]);
        if (!k) continue;
        tested++;
        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++)
            for (int range = 0; range < 3; range++) {
                const int n = lens[l], pad = n + 13;
                const float span = range == 0 ? 1.0f : range == 1 ? 30.0f : 400.0f;
                float *s0 = malloc(sizeof(float) * pad), *s1 = malloc(sizeof(float) * pad);
                lir_f16 *p0 = malloc(sizeof(lir_f16) * pad), *p1 = malloc(sizeof(lir_f16) * pad);
                for (int j = 0; j < n; j++) s0[j] = s1[j] = frand(-span, span);
                for (int j = 0; j < pad; j++) p0[j] = p1[j] = 0x7777;
                ref->softmax_f16(n, pad, s0, 0.125f, p0);
                k->softmax_f16(n, pad, s1, 0.125f, p1);
                for (int j = 0; j < n; j++) {
                    cr_assert(f16_ulps(p0[j], p1[j]) <= 1, "%s n=%d span=%g j=%d: f16 %04x vs reference %04x", isas[i],
                              n, span, j, p1[j], p0[j]);
                    cr_assert(fabsf(s1[j] - s0[j]) <= 4e-7f * s0[j] + 1e-37f, "%s n=%d j=%d: exp %g vs %g", isas[i], n,
                              j, s1[j], s0[j]);
                }
                for (int j = n; j < pad; j++) cr_assert_eq(p1[j], 0, "%s: padding %d not zeroed", isas[i], j);
                free(s0), free(s1), free(p0), free(p1);
            }
    }
    cr_log_info("softmax_f16: %d SIMD table(s) checked", tested);
}

Test(elementwise, silu_mul_matches_reference) {
    const struct lir_cpu_kernels *ref = lir_cpu_kernels_for("generic");
    enum { N = 4099 };
    float *g = malloc(sizeof(float) * N), *u = malloc(sizeof(float) * N);
    float *o0 = malloc(sizeof(float) * N), *o1 = malloc(sizeof(float) * N);
    for (int i = 0; i < N; i++) {
        const int kind = i % 5;
        g[i] = kind == 0 ? frand(-1e-3f, 1e-3f) : kind == 1 ? frand(-8, 8) : kind == 2 ? frand(-100, 100)
             : kind == 3 ? frand(-1e30f, 1e30f) : 0.0f;
        u[i] = frand(-3, 3);
    }
    for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
        const struct lir_cpu_kernels *k = lir_cpu_kernels_for(isas[i]);
        if (!k) continue;
        static const int64_t lens[] = {1, 7, 8, 9, 33, N};
        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
            const int64_t n = lens[l];
            ref->silu_mul(n, g, u, o0);
            k->silu_mul(n, g, u, o1);
            for (int64_t j = 0; j < n; j++) {
                cr_assert(!isnan(o1[j]), "%s: silu(%g) is NaN", isas[i], g[j]);
                cr_assert(fabsf(o1[j] - o0[j]) <= 4e-7f * fabsf(o0[j]) + 1e-30f, "%s n=%lld j=%lld: silu(%g)*%g = %g, reference %g",
                          isas[i], (long long)n, (long long)j, g[j], u[j], o1[j], o0[j]);
            }
        }
    }
    free(g), free(u), free(o0), free(o1);
}

/* rope_head: every table computes x0' = fma(x0, c, -(x1 s)), x1' = fma(x0, s, x1 c) (ggml's
 * rounding), so all give the same bits; both layouts (step 2: interleaved pairs, step 1: halves). */
Test(elementwise, rope_head_same_bits_in_every_table) {
    static const char *const all[] = {"generic", "avx2", "avx512", "ggml"};
    enum { N = 64 };
    float cs[2 * N], x0[2 * N];
    for (int i = 0; i < N; i++) {
        const float th = frand(-40.0f, 40.0f);
        cs[2 * i] = cosf(th);
        cs[2 * i + 1] = sinf(th);
    }
    for (int i = 0; i < 2 * N; i++) x0[i] = frand(-8.0f, 8.0f);
    for (int step = 1; step <= 2; step++) {
        float want[2 * N];
        memcpy(want, x0, sizeof want);
        for (int i = 0; i < N; i++) { /* the formula, spelled out */
            float *a = step == 2 ? want + 2 * i : want + i, *b = step == 2 ? want + 2 * i + 1 : want + N + i;
            const float u = *a, v = *b;
            *a = fmaf(u, cs[2 * i], -(v * cs[2 * i + 1]));
            *b = fmaf(u, cs[2 * i + 1], v * cs[2 * i]);
        }
        for (size_t t = 0; t < sizeof all / sizeof all[0]; t++) {
            const struct lir_cpu_kernels *k = lir_cpu_kernels_for(all[t]);
            if (!k) continue;
            float x[2 * N];
            memcpy(x, x0, sizeof x);
            k->rope_head(2 * N, cs, x, step == 1); /* neox: pairs are the halves */
            for (int i = 0; i < 2 * N; i++)
                cr_assert(x[i] == want[i], "%s step %d: x[%d] = %.9g, want %.9g", all[t], step, i, x[i], want[i]);
        }
    }
}
