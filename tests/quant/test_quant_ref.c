/* test_quant_ref.c — the scalar reference kernels (src/quant/quant_ref.c) against llama.cpp's
 * own kernels (tests/quant/ggml_oracle.h), and against themselves.
 *
 * Against ggml, for every type, on rows of several lengths and shapes (gaussian, weight-like,
 * outliers, zero blocks, all-equal, tiny and huge magnitudes, positive-only, sparse, exact ties):
 *   - quantize_row_ref: blocks byte-identical to ggml's quantize_row_*_ref and ggml_quantize_chunk
 *     (what llama-quantize writes without an imatrix);
 *   - dequantize_row_ref: floats bit-identical to ggml's dequantize_row_*;
 *   - activations: quantize_row_act_ref of each vec_dot_type byte-identical to the CPU backend's
 *     from_float (Q8_0/Q8_1: x86 AVX rounding, not the _ref rounding; Q8_K, F16, BF16, F32),
 *     and to the 4-row interleaved quantizers of ggml's repacked matmul path;
 *   - vec_dot_ref vs ggml's portable _generic kernel (same float order: tolerance DOT_TOL_GENERIC)
 *     and vs the SIMD kernel llama.cpp runs here (reordered float sums and FMA: DOT_TOL_SIMD).
 *     Dot errors are normalized by sum |w_i * a_i| of the dequantized rows, the scale of the
 *     rounding error of any summation order.
 * Without ggml: round-trip error bounds per type, vec_dot_ref vs a double-precision dot of the
 * dequantized rows, row sizes and names.
 * The oracle tests FAIL (never skip) when the libraries are missing: run `make deps`. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant.h"
#include "quant/ggml_oracle.h"

/* Measured max on AMD EPYC, Zen 4 variant, node-llama-cpp 3.21.1: vs generic 1.6e-6 (q4_K;
 * others <= 8e-7; ~50-65% of cases bit-exact — ggml's build contracts a*b+c into FMA, we do
 * not), vs SIMD 5.6e-6 (q4_1/q5_1; K-quants <= 3.9e-6, float types <= 2.3e-6). The min terms of
 * q4_1/q5_1/q4_K/q5_K are summed separately and cancel, so their error can exceed the
 * sum |w a| scale by a few ulps. Bounds ~2.5-3.5x the measured maxima. */
#define DOT_TOL_GENERIC 4e-6
#define DOT_TOL_SIMD 2e-5

/* ---------------------------------------------------------------- test data */

static uint64_t rng_state;
static void rng_seed(uint64_t s) { rng_state = s * 0x9E3779B97F4A7C15ull + 1; }
static uint64_t rng_u64(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static float rng_unif(void) { return (float)((rng_u64() >> 40) * (1.0 / 16777216.0)); } /* [0,1) */
static float rng_gauss(void) {
    float u = rng_unif() + 1e-7f, v = rng_unif();
    return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}

enum { PAT_GAUSS, PAT_WEIGHTS, PAT_OUTLIERS, PAT_ZERO_BLOCKS, PAT_EQUAL, PAT_TINY, PAT_HUGE,
       PAT_POSITIVE, PAT_SPARSE, PAT_TIES, PAT_HALF, PAT_COUNT };
static const char *const pat_names[PAT_COUNT] = {"gauss", "weights", "outliers", "zero-blocks", "all-equal",
                                                 "tiny", "huge", "positive", "sparse", "ties", "half-127"};

static void fill_row(float *x, int n, int pat, uint64_t seed) {
    rng_seed(seed * 131 + (uint64_t)pat);
    for (int i = 0; i < n; i++) {
        switch (pat) {
        case PAT_GAUSS: x[i] = rng_gauss(); break;
        case PAT_WEIGHTS: x[i] = 0.02f * (2 * rng_unif() - 1); break;
        case PAT_OUTLIERS: x[i] = rng_gauss() * (rng_u64() % 37 == 0 ? 80.f : 1.f); break;
        case PAT_ZERO_BLOCKS: x[i] = ((i / 32) % 3 == 0 || (i / 256) % 4 == 1) ? 0.f : rng_gauss(); break;
        case PAT_EQUAL: x[i] = (i / 256) % 2 ? -0.37f : 0.37f; break;
        case PAT_TINY: x[i] = 1e-6f * rng_gauss(); break;
        case PAT_HUGE: x[i] = 1e4f * rng_gauss(); break;
        case PAT_POSITIVE: x[i] = 0.5f + rng_unif(); break;
        case PAT_SPARSE: x[i] = rng_u64() % 10 == 0 ? rng_gauss() : 0.f; break;
        case PAT_TIES: x[i] = (float)((int)(rng_u64() % 64) - 32) * 0.5f; break;
        /* amax 127 in every 32 makes Q8 scales exactly 1: x*id lands on exact .5 ties, where
         * roundf (ggml _ref) and round-half-even (ggml AVX, nearest_int) disagree */
        case PAT_HALF: x[i] = i % 32 == 5 ? ((i / 32) % 2 ? -127.f : 127.f) : (float)((int)(rng_u64() % 200) - 100) + 0.5f; break;
        }
    }
}

static const int lens_32[] = {32, 96, 256, 1024, 4096, 11008};
static const int lens_256[] = {256, 512, 1024, 4096, 11008};
static const int lens_1[] = {1, 7, 33, 256, 4096, 11008};

static int type_lens(int32_t t, const int **lens) {
    const struct lir_type_traits *tr = lir_type_traits_get(t);
    if (tr->blck_size == 1) { *lens = lens_1; return (int)(sizeof lens_1 / sizeof *lens_1); }
    if (tr->blck_size == 32) { *lens = lens_32; return (int)(sizeof lens_32 / sizeof *lens_32); }
    *lens = lens_256;
    return (int)(sizeof lens_256 / sizeof *lens_256);
}

static struct ggml_oracle *oracle(void) {
    struct ggml_oracle *o = ggml_oracle_get();
    cr_assert(o->ok, "%s", o->err);
    return o;
}

/* ---------------------------------------------------------------- checks against ggml */

/* quantize_row_ref byte-identical to ggml's ref quantizer; dequantize bit-identical. */
static void check_quantize_dequantize(int32_t t) {
    struct ggml_oracle *o = oracle();
    const struct lir_type_traits *tr = lir_type_traits_get(t);
    cr_assert_not_null(tr);
    const int *lens;
    const int nl = type_lens(t, &lens);
    int rows = 0, blocks_diff = 0, deq_diff = 0;
    for (int li = 0; li < nl; li++) {
        const int n = lens[li];
        const size_t rs = lir_type_row_size(t, n);
        float *x = malloc((size_t)n * 4), *ya = malloc((size_t)n * 4), *yb = malloc((size_t)n * 4);
        uint8_t *qa = malloc(rs), *qb = malloc(rs);
        for (int pat = 0; pat < PAT_COUNT; pat++) {
            for (uint64_t seed = 1; seed <= 2; seed++) {
                fill_row(x, n, pat, seed + (uint64_t)n);
                /* zero-filled: ggml leaves Q8_K bsums of an all-zero block unwritten */
                memset(qa, 0, rs);
                memset(qb, 0, rs);
                tr->quantize_row_ref(x, qa, n);
                o->quantize_ref[t](x, qb, n);
                rows++;
                if (memcmp(qa, qb, rs) != 0) {
                    size_t k = 0;
                    while (qa[k] == qb[k]) k++;
                    blocks_diff++;
                    cr_expect_fail("%s quantize n=%d pattern=%s seed=%d: first differing byte %zu "
                                   "(block %zu): ours 0x%02x, ggml 0x%02x",
                                   tr->name, n, pat_names[pat], (int)seed, k, k / tr->type_size, qa[k], qb[k]);
                    continue;
                }
                if (!o->dequantize[t]) continue;
                tr->dequantize_row_ref(qa, ya, n);
                o->dequantize[t](qb, yb, n);
                if (memcmp(ya, yb, (size_t)n * 4) != 0) {
                    int k = 0;
                    while (memcmp(&ya[k], &yb[k], 4) == 0) k++;
                    deq_diff++;
                    cr_expect_fail("%s dequantize n=%d pattern=%s: element %d ours %.9g ggml %.9g", tr->name,
                                   n, pat_names[pat], k, ya[k], yb[k]);
                }
            }
        }
        free(x); free(ya); free(yb); free(qa); free(qb);
    }
    cr_log_info("%s: %d rows quantized byte-identical to ggml (%d differ), dequantize differs on %d",
                tr->name, rows - blocks_diff, blocks_diff, deq_diff);
}

/* Several rows at once through ggml_quantize_chunk (llama-quantize's entry point). */
static void check_quantize_chunk(int32_t t) {
    struct ggml_oracle *o = oracle();
    const struct lir_type_traits *tr = lir_type_traits_get(t);
    const int n = 4096, nrows = 5;
    const size_t rs = lir_type_row_size(t, n);
    float *x = malloc((size_t)n * nrows * 4);
    uint8_t *qa = calloc(nrows, rs), *qb = calloc(nrows, rs);
    for (int r = 0; r < nrows; r++) fill_row(x + (size_t)r * n, n, r % PAT_COUNT, 7 + (uint64_t)r);
    for (int r = 0; r < nrows; r++) tr->quantize_row_ref(x + (size_t)r * n, qa + r * rs, n);
    const size_t got = o->quantize_chunk(t, x, qb, 0, nrows, n, NULL);
    cr_expect_eq(got, rs * nrows, "%s: ggml_quantize_chunk wrote %zu bytes, our row size says %zu", tr->name,
                 got, rs * nrows);
    cr_expect(memcmp(qa, qb, rs * nrows) == 0, "%s: ggml_quantize_chunk output differs", tr->name);
    free(x); free(qa); free(qb);
}

/* Activation conversion to a vec_dot_type: ours vs the CPU backend's from_float. ggml's CPU
 * variants without AVX (x64, sse42) quantize Q8_0/Q8_1 with the _ref rounding; every other
 * variant (and so llama.cpp on any AVX machine) with the AVX one our _act_ref reproduces. */
static void check_activation(int32_t vt) {
    struct ggml_oracle *o = oracle();
    const struct lir_type_traits *tr = lir_type_traits_get(vt);
    const bool ggml_avx = strcmp(o->cpu_variant, "x64") != 0 && strcmp(o->cpu_variant, "sse42") != 0;
    const lir_quantize_row_fn ours = ggml_avx ? tr->quantize_row_act_ref : tr->quantize_row_ref;
    const struct ggml_oracle_traits_cpu *ct = o->traits_cpu(vt);
    cr_assert(ct && ct->from_float, "ggml has no from_float for %s", tr->name);
    const int *lens;
    const int nl = type_lens(vt, &lens);
    int rows = 0, diff = 0, diff_vs_ref = 0;
    for (int li = 0; li < nl; li++) {
        const int n = lens[li];
        const size_t rs = lir_type_row_size(vt, n);
        float *x = malloc((size_t)n * 4);
        uint8_t *qa = malloc(rs), *qb = malloc(rs), *qr = malloc(rs);
        for (int pat = 0; pat < PAT_COUNT; pat++) {
            fill_row(x, n, pat, 1000 + (uint64_t)n);
            memset(qa, 0, rs);
            memset(qb, 0, rs);
            memset(qr, 0, rs);
            ours(x, qa, n);
            ct->from_float(x, qb, n);
            tr->quantize_row_ref(x, qr, n);
            rows++;
            if (memcmp(qr, qb, rs) != 0) diff_vs_ref++;
            if (memcmp(qa, qb, rs) != 0) {
                size_t k = 0;
                while (qa[k] == qb[k]) k++;
                diff++;
                cr_expect_fail("%s activation n=%d pattern=%s: byte %zu ours 0x%02x ggml cpu 0x%02x", tr->name, n,
                               pat_names[pat], k, qa[k], qb[k]);
            }
        }
        free(x); free(qa); free(qb); free(qr);
    }
    if (ggml_avx && (vt == LIR_TYPE_Q8_0 || vt == LIR_TYPE_Q8_1))
        cr_expect_gt(diff_vs_ref, 0, "%s: test rows no longer separate ggml's _ref and AVX rounding", tr->name);
    cr_log_info("%s activations (cpu variant %s): %d/%d rows identical to ggml from_float; "
                "the _ref quantizer differs from it on %d rows",
                tr->name, o->cpu_variant, rows - diff, rows, diff_vs_ref);
}

/* vec_dot_ref vs ggml's generic and SIMD kernels, on ggml-quantized weights and activations. */
static void check_vec_dot(int32_t t) {
    struct ggml_oracle *o = oracle();
    const struct lir_type_traits *tr = lir_type_traits_get(t);
    const struct lir_type_traits *vtr = lir_type_traits_get(tr->vec_dot_type);
    const struct ggml_oracle_traits_cpu *ct = o->traits_cpu(t);
    const struct ggml_oracle_traits_cpu *vct = o->traits_cpu(tr->vec_dot_type);
    cr_assert(ct && ct->vec_dot, "ggml has no vec_dot for %s", tr->name);
    cr_assert_eq(ct->vec_dot_type, (int)tr->vec_dot_type, "%s: ggml's vec_dot_type is %d, ours %d", tr->name,
                 ct->vec_dot_type, (int)tr->vec_dot_type);
    const int *lens;
    const int nl = type_lens(t, &lens);
    double max_gen = 0, max_simd = 0;
    int cases = 0, exact_gen = 0, exact_simd = 0;
    for (int li = 0; li < nl; li++) {
        const int n = lens[li];
        const size_t rs = lir_type_row_size(t, n), vrs = lir_type_row_size(tr->vec_dot_type, n);
        float *w = malloc((size_t)n * 4), *a = malloc((size_t)n * 4);
        float *wd = malloc((size_t)n * 4), *ad = malloc((size_t)n * 4);
        uint8_t *qw = calloc(1, rs), *qa = calloc(1, vrs);
        for (int pw = 0; pw < PAT_COUNT; pw++) {
            for (int pa = 0; pa < PAT_COUNT; pa += 3) {
                fill_row(w, n, pw, 55 + (uint64_t)n);
                fill_row(a, n, (pa + pw) % PAT_COUNT, 99 + (uint64_t)n);
                o->quantize_ref[t](w, qw, n);
                vct->from_float(a, qa, n);
                tr->dequantize_row_ref(qw, wd, n);
                vtr->dequantize_row_ref(qa, ad, n);
                double scale = 0;
                for (int i = 0; i < n; i++) scale += fabs((double)wd[i] * ad[i]);
                float ours = NAN, gen = NAN, simd = NAN;
                tr->vec_dot_ref(n, &ours, qw, qa);
                ct->vec_dot(n, &simd, 0, qw, 0, qa, 0, 1);
                if (o->vec_dot_generic[t]) o->vec_dot_generic[t](n, &gen, 0, qw, 0, qa, 0, 1);
                if (!isfinite(scale) || !isfinite(simd)) continue; /* huge*huge overflow: nothing to compare */
                cases++;
                const double den = scale > 0 ? scale : 1e-30;
                const double e_simd = fabs((double)ours - simd) / den;
                if (ours == simd) exact_simd++;
                if (e_simd > max_simd) max_simd = e_simd;
                cr_expect(e_simd <= DOT_TOL_SIMD, "%s dot n=%d w=%s a=%s: ours %.9g ggml simd %.9g (err %.3g)",
                          tr->name, n, pat_names[pw], pat_names[(pa + pw) % PAT_COUNT], ours, simd, e_simd);
                if (o->vec_dot_generic[t]) {
                    const double e_gen = fabs((double)ours - gen) / den;
                    if (ours == gen) exact_gen++;
                    if (e_gen > max_gen) max_gen = e_gen;
                    cr_expect(e_gen <= DOT_TOL_GENERIC, "%s dot n=%d w=%s: ours %.9g ggml generic %.9g (err %.3g)",
                              tr->name, n, pat_names[pw], ours, gen, e_gen);
                }
            }
        }
        free(w); free(a); free(wd); free(ad); free(qw); free(qa);
    }
    cr_assert_gt(cases, 0);
    cr_log_info("%s x %s dot (%s): %d cases; vs generic: %d exact, max err %.3g; vs simd: %d exact, max err %.3g",
                tr->name, vtr->name, o->cpu_variant, cases, exact_gen, max_gen, exact_simd, max_simd);
    if (getenv("LIR_QUANT_VERBOSE"))
        fprintf(stderr, "%-5s dot: %4d cases  generic exact %4d max %.3g  simd(%s) exact %4d max %.3g\n", tr->name,
                cases, exact_gen, max_gen, o->cpu_variant, exact_simd, max_simd);
}

#define ORACLE_TYPE_TESTS(T, ID)                                                        \
    Test(quant_ggml, T##_quantize_dequantize) { check_quantize_dequantize(ID); }        \
    Test(quant_ggml, T##_vec_dot) { check_vec_dot(ID); }

ORACLE_TYPE_TESTS(f32, LIR_TYPE_F32)
ORACLE_TYPE_TESTS(f16, LIR_TYPE_F16)
ORACLE_TYPE_TESTS(bf16, LIR_TYPE_BF16)
ORACLE_TYPE_TESTS(q4_0, LIR_TYPE_Q4_0)
ORACLE_TYPE_TESTS(q4_1, LIR_TYPE_Q4_1)
ORACLE_TYPE_TESTS(q5_0, LIR_TYPE_Q5_0)
ORACLE_TYPE_TESTS(q5_1, LIR_TYPE_Q5_1)
ORACLE_TYPE_TESTS(q8_0, LIR_TYPE_Q8_0)
ORACLE_TYPE_TESTS(q2_K, LIR_TYPE_Q2_K)
ORACLE_TYPE_TESTS(q3_K, LIR_TYPE_Q3_K)
ORACLE_TYPE_TESTS(q4_K, LIR_TYPE_Q4_K)
ORACLE_TYPE_TESTS(q5_K, LIR_TYPE_Q5_K)
ORACLE_TYPE_TESTS(q6_K, LIR_TYPE_Q6_K)

/* Q8_1 and Q8_K are activation-only types in ggml: quantize/dequantize where ggml has them. */
Test(quant_ggml, q8_1_quantize) { check_quantize_dequantize(LIR_TYPE_Q8_1); }
Test(quant_ggml, q8_K_quantize_dequantize) { check_quantize_dequantize(LIR_TYPE_Q8_K); }

Test(quant_ggml, act_q8_0) { check_activation(LIR_TYPE_Q8_0); }
Test(quant_ggml, act_q8_1) { check_activation(LIR_TYPE_Q8_1); }
Test(quant_ggml, act_q8_K) { check_activation(LIR_TYPE_Q8_K); }
Test(quant_ggml, act_f16) { check_activation(LIR_TYPE_F16); }
Test(quant_ggml, act_bf16) { check_activation(LIR_TYPE_BF16); }
Test(quant_ggml, act_f32) { check_activation(LIR_TYPE_F32); }

/* On CPUs where llama.cpp repacks weights (Q4_0, Q4_K, ... into interleaved 4x8/8x8 layouts;
 * this Zen 4 does), activations are quantized 4 rows at a time by ggml_quantize_mat_*_4x8 into
 * blocks interleaved 8 bytes per row: {d[4]; qs[4*bs] with row r's bytes 8j..8j+7 at (4j+r)*8;
 * ...}. Their d and qs must equal our per-row activation quantizers (Q8_0: the AVX rounding). */
static void check_repack_act(int32_t vt) {
    struct ggml_oracle *o = oracle();
    const bool k = vt == LIR_TYPE_Q8_K;
    ggml_from_float_fn mat = k ? o->quantize_mat_q8_K_4x8 : o->quantize_mat_q8_0_4x8;
    cr_assert_not_null(mat, "ggml cpu variant %s lacks ggml_quantize_mat_%s_4x8", o->cpu_variant, k ? "q8_K" : "q8_0");
    const struct lir_type_traits *tr = lir_type_traits_get(vt);
    const int n = 4096, bs = tr->blck_size;
    const size_t dsz = k ? 4 : 2, xbs = 4 * dsz + 4 * (size_t)bs + (k ? 4 * (QK_K / 16) * 2 : 0);
    float *x = malloc(4 * (size_t)n * 4);
    uint8_t *y = calloc((size_t)n / bs, xbs), *ours = calloc(1, lir_type_row_size(vt, n));
    static const int pats[4] = {PAT_GAUSS, PAT_HALF, PAT_OUTLIERS, PAT_TIES};
    for (int r = 0; r < 4; r++) fill_row(x + (size_t)r * n, n, pats[r], 77);
    mat(x, y, n);
    /* without AVX (x64, sse42 variants) ggml's generic 4x8 path rounds as the _ref quantizer */
    const bool ggml_avx = strcmp(o->cpu_variant, "x64") != 0 && strcmp(o->cpu_variant, "sse42") != 0;
    const lir_quantize_row_fn q = ggml_avx ? tr->quantize_row_act_ref : tr->quantize_row_ref;
    int bad = 0;
    for (int r = 0; r < 4; r++) {
        q(x + (size_t)r * n, ours, n);
        for (int b = 0; b < n / bs; b++) {
            const uint8_t *blk = y + (size_t)b * xbs;
            const uint8_t *ob = ours + (size_t)b * tr->type_size;
            /* block_q8_0: f16 d then qs; block_q8_K: f32 d then qs */
            if (memcmp(blk + dsz * r, ob, dsz) != 0) bad++;
            for (int e = 0; e < bs; e++)
                if (blk[4 * dsz + (size_t)((e / 8) * 4 + r) * 8 + e % 8] != ob[dsz + e]) bad++;
        }
    }
    cr_expect_eq(bad, 0, "%s: ggml_quantize_mat_*_4x8 differs from our activation quantizer in %d places", tr->name, bad);
    free(x); free(y); free(ours);
}

Test(quant_ggml, act_repack_q8_0_4x8) { check_repack_act(LIR_TYPE_Q8_0); }
Test(quant_ggml, act_repack_q8_K_4x8) { check_repack_act(LIR_TYPE_Q8_K); }

Test(quant_ggml, quantize_chunk) {
    static const int32_t ts[] = {LIR_TYPE_F16, LIR_TYPE_BF16, LIR_TYPE_Q4_0, LIR_TYPE_Q4_1, LIR_TYPE_Q5_0,
                                 LIR_TYPE_Q5_1, LIR_TYPE_Q8_0, LIR_TYPE_Q2_K, LIR_TYPE_Q3_K, LIR_TYPE_Q4_K,
                                 LIR_TYPE_Q5_K, LIR_TYPE_Q6_K};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) check_quantize_chunk(ts[i]);
}

Test(quant_ggml, traits_match_ggml) {
    struct ggml_oracle *o = oracle();
    for (int32_t t = 0; t < LIR_TYPE_COUNT; t++) {
        const struct lir_type_traits *tr = lir_type_traits_get(t);
        if (!tr) continue;
        cr_expect_str_eq(tr->name, o->type_name(t), "type %d", t);
        cr_expect_eq((int64_t)tr->blck_size, o->blck_size(t), "%s blck_size", tr->name);
        cr_expect_eq(tr->type_size, o->type_size(t), "%s type_size", tr->name);
        const int64_t n = tr->blck_size * 37;
        cr_expect_eq(lir_type_row_size(t, n), o->row_size(t, n), "%s row size", tr->name);
    }
}

/* ---------------------------------------------------------------- self-consistency (no ggml) */

/* Round-trip RMS error / RMS(x) on gaussian rows, bound per type (measured values in the
 * comments; bounds ~1.3x). */
Test(quant_self, roundtrip_error) {
    static const struct { int32_t t; double bound; } cases[] = {
        {LIR_TYPE_F32, 0},       {LIR_TYPE_F16, 3e-4},   /* 2.07e-4 */ {LIR_TYPE_BF16, 2.5e-3}, /* 1.68e-3 */
        {LIR_TYPE_Q8_0, 7e-3},   /* 5.33e-3 */ {LIR_TYPE_Q8_1, 7e-3}, /* 5.33e-3 */
        {LIR_TYPE_Q8_K, 9e-3},   /* 6.73e-3 */ {LIR_TYPE_Q6_K, 2.3e-2}, /* 1.77e-2 */
        {LIR_TYPE_Q5_0, 5.5e-2}, /* 4.22e-2 */ {LIR_TYPE_Q5_1, 5e-2}, /* 3.77e-2 */
        {LIR_TYPE_Q5_K, 4.7e-2}, /* 3.61e-2 */ {LIR_TYPE_Q4_0, 0.11}, /* 8.58e-2 */
        {LIR_TYPE_Q4_1, 0.10},   /* 7.76e-2 */ {LIR_TYPE_Q4_K, 9.2e-2}, /* 7.06e-2 */
        {LIR_TYPE_Q3_K, 0.20},   /* 0.152 */   {LIR_TYPE_Q2_K, 0.39}, /* 0.297 */
    };
    const int n = 8192;
    float *x = malloc(n * 4), *y = malloc(n * 4);
    void *q = malloc(lir_type_row_size(LIR_TYPE_F32, n));
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const struct lir_type_traits *tr = lir_type_traits_get(cases[c].t);
        fill_row(x, n, PAT_GAUSS, 3);
        tr->quantize_row_ref(x, q, n);
        tr->dequantize_row_ref(q, y, n);
        double se = 0, sx = 0;
        for (int i = 0; i < n; i++) {
            se += ((double)y[i] - x[i]) * ((double)y[i] - x[i]);
            sx += (double)x[i] * x[i];
        }
        const double rel = sqrt(se / sx);
        cr_log_info("%s round-trip rel rms %.3g", tr->name, rel);
        if (getenv("LIR_QUANT_VERBOSE")) fprintf(stderr, "%-5s roundtrip rel rms %.3g\n", tr->name, rel);
        cr_expect(rel <= cases[c].bound, "%s round-trip rel rms %.3g > %.3g", tr->name, rel, cases[c].bound);
        /* the all-equal and zero rows come back exactly for the float types and zero rows for all */
        memset(x, 0, n * 4);
        tr->quantize_row_ref(x, q, n);
        tr->dequantize_row_ref(q, y, n);
        for (int i = 0; i < n; i++) cr_expect(y[i] == 0.0f, "%s: zero row gives %g at %d", tr->name, y[i], i);
    }
    free(x); free(y); free(q);
}

/* vec_dot_ref equals a double-precision dot of the dequantized rows, up to float rounding
 * (measured max 1.3e-7 of sum |w a|, q4_K; bound 1e-6).
 * Q4_1/Q5_1 with Q8_1: the min term uses the activation block's stored s = f16(d * sum q),
 * not the sum of dequantized activations, so the exact value is built from that: weights
 * dequantized with m = 0, plus sum over blocks of m * s. */
Test(quant_self, vec_dot_vs_dequantized) {
    for (int32_t t = 0; t < LIR_TYPE_COUNT; t++) {
        const struct lir_type_traits *tr = lir_type_traits_get(t);
        if (!tr) continue;
        const struct lir_type_traits *vtr = lir_type_traits_get(tr->vec_dot_type);
        const int *lens;
        const int nl = type_lens(t, &lens);
        double max_err = 0;
        for (int li = 0; li < nl; li++) {
            const int n = lens[li];
            float *w = malloc((size_t)n * 4), *a = malloc((size_t)n * 4);
            float *wd = malloc((size_t)n * 4), *ad = malloc((size_t)n * 4);
            void *qw = malloc(lir_type_row_size(t, n)), *qa = malloc(lir_type_row_size(tr->vec_dot_type, n));
            for (int pat = 0; pat < PAT_COUNT; pat++) {
                const int apat = (pat + 1) % PAT_COUNT;
                if (pat == PAT_HUGE || apat == PAT_HUGE) continue; /* f16 scales overflow */
                fill_row(w, n, pat, 11);
                fill_row(a, n, apat, 12);
                tr->quantize_row_ref(w, qw, n);
                vtr->quantize_row_act_ref(a, qa, n);
                double exact = 0, scale = 0;
                if (t == LIR_TYPE_Q4_1 || t == LIR_TYPE_Q5_1) {
                    /* block_q4_1 and block_q5_1 both start with f16 d, f16 m */
                    for (int b = 0; b < n / 32; b++) {
                        lir_f16 *dm = (lir_f16 *)((uint8_t *)qw + (size_t)b * tr->type_size);
                        const block_q8_1 *ab = (const block_q8_1 *)qa + b;
                        const double ms = (double)lir_f16_to_f32(dm[1]) * lir_f16_to_f32(ab->s);
                        exact += ms;
                        scale += fabs(ms);
                        dm[1] = 0;
                    }
                }
                tr->dequantize_row_ref(qw, wd, n);
                vtr->dequantize_row_ref(qa, ad, n);
                for (int i = 0; i < n; i++) {
                    exact += (double)wd[i] * ad[i];
                    scale += fabs((double)wd[i] * ad[i]);
                }
                if (t == LIR_TYPE_Q4_1 || t == LIR_TYPE_Q5_1) tr->quantize_row_ref(w, qw, n); /* restore m */
                float got;
                tr->vec_dot_ref(n, &got, qw, qa);
                const double err = fabs(got - exact) / (scale > 0 ? scale : 1e-30);
                if (err > max_err) max_err = err;
                cr_expect(err <= 1e-6, "%s dot n=%d pattern=%s: %.9g vs exact %.9g (err %.3g)", tr->name, n,
                          pat_names[pat], got, exact, err);
            }
            free(w); free(a); free(wd); free(ad); free(qw); free(qa);
        }
        cr_log_info("%s dot vs dequantized: max normalized err %.3g", tr->name, max_err);
    }
}

Test(quant_self, row_sizes_and_names) {
    cr_expect_eq(lir_type_row_size(LIR_TYPE_Q4_0, 4096), 128u * 18);
    cr_expect_eq(lir_type_row_size(LIR_TYPE_Q4_K, 4096), 16u * 144);
    cr_expect_eq(lir_type_row_size(LIR_TYPE_Q6_K, 256), 210u);
    cr_expect_eq(lir_type_row_size(LIR_TYPE_Q8_K, 512), 2u * 292);
    cr_expect_eq(lir_type_row_size(LIR_TYPE_F16, 3), 6u);
    cr_expect_eq(lir_type_row_size(LIR_TYPE_BF16, 5), 10u);
    cr_expect_eq(lir_type_row_size(LIR_TYPE_F32, 0), 0u);
    cr_expect_eq(lir_type_row_size(LIR_TYPE_Q4_0, 33), 0u, "misaligned");
    cr_expect_eq(lir_type_row_size(LIR_TYPE_Q4_K, 4096 + 32), 0u, "misaligned");
    cr_expect_eq(lir_type_row_size(LIR_TYPE_Q8_0, -32), 0u, "negative");
    cr_expect_eq(lir_type_row_size(4, 32), 0u, "removed Q4_2");
    cr_expect_eq(lir_type_row_size(-1, 32), 0u);
    cr_expect_eq(lir_type_row_size(LIR_TYPE_COUNT, 32), 0u);
    cr_expect_eq(lir_type_row_size(LIR_TYPE_F32, (INT64_MAX / 4) * 4), 0u, "overflow");
    cr_expect_eq(lir_type_row_size(LIR_TYPE_F16, INT64_MAX), (size_t)INT64_MAX * 2, "largest that fits");
    cr_expect_str_eq(lir_type_name(LIR_TYPE_Q4_K), "q4_K");
    cr_expect_str_eq(lir_type_name(LIR_TYPE_BF16), "bf16");
    cr_expect_str_eq(lir_type_name(LIR_TYPE_Q8_0), "q8_0");
    cr_expect_str_eq(lir_type_name(5), "unknown");
    cr_expect_str_eq(lir_type_name(1000), "unknown");
    cr_expect_null(lir_type_traits_get(16));
    int supported = 0;
    for (int32_t t = 0; t < LIR_TYPE_COUNT; t++) {
        const struct lir_type_traits *tr = lir_type_traits_get(t);
        if (!tr) continue;
        supported++;
        cr_expect_not_null(tr->quantize_row_ref);
        cr_expect_not_null(tr->dequantize_row_ref);
        cr_expect_not_null(tr->vec_dot_ref);
        cr_expect_not_null(tr->quantize_row_act_ref);
        cr_expect_not_null(lir_type_traits_get(tr->vec_dot_type));
        cr_expect_eq(tr->is_quantized, tr->blck_size > 1, "%s", tr->name);
    }
    cr_expect_eq(supported, 15);
}
