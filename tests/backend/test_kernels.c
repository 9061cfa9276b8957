/* test_kernels.c — every CPU kernel table this machine can run (generic, avx2, avx512) against
 * the scalar references of src/quant/quant_ref.c.
 *
 *   - vec_dot[T] and gemm[T] for every weight type T, n from one block to > 8192, gemm with
 *     odd row/column counts (1, 3, 5, 7, 13, 67 rows; 1..7, 13 columns) and padded strides;
 *     each output equals lir_vec_dot_T_ref within DOT_TOL relative to sum |w_i * a_i| of the
 *     dequantized rows (the natural scale of any float-reordering error); gemm must not write
 *     outside its outputs (canaries in the padding).
 *   - from_float[A] for every activation type byte-identical to the reference activation
 *     quantizer (traits->quantize_row_act_ref), on random rows and edge rows (zero blocks,
 *     ties, a negative extreme first, tiny and huge magnitudes).
 *   - mad_f16 and dot_f32 against scalar loops.
 *
 * The integer parts of the quantized dots are exact; only the order of float sums of block
 * results differs, so the tolerance is a few float ulps of the magnitude sum. Measured worst
 * (AMD EPYC Zen 4, avx2 and avx512 tables): see DOT_TOL below. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/kernels.h"
#include "quant/quant.h"

/* Relative tolerance of a dot, normalized by sum |w_i a_i|. Measured max over all tables and
 * shapes (AMD EPYC Zen 4): q5_1 7.2e-7, q4_1 6.9e-7 (their min * s terms are summed in
 * another order), every other type <= 2.0e-7 (q4_0 8.7e-8, q8_0 9.6e-8, q4_K 1.9e-7,
 * q6_K 1.4e-7, f16 1.2e-7). The integer parts are exact; only float sums are reordered. */
#define DOT_TOL 2e-6

/* "ggml" is the table that sums in llama.cpp's order (src/backend/cpu/ggml); its gemm slot is the
 * one-token order and gemm_pick adds the batch and unrepacked ones, each checked here too. */
static const char *const isas[] = {"generic", "avx2", "avx512", "ggml"};
static const enum lir_type wtypes[] = {LIR_TYPE_F32,  LIR_TYPE_F16,  LIR_TYPE_BF16, LIR_TYPE_Q4_0, LIR_TYPE_Q4_1,
                                       LIR_TYPE_Q5_0, LIR_TYPE_Q5_1, LIR_TYPE_Q8_0, LIR_TYPE_Q2_K, LIR_TYPE_Q3_K,
                                       LIR_TYPE_Q4_K, LIR_TYPE_Q5_K, LIR_TYPE_Q6_K};
#define N_WTYPES (sizeof wtypes / sizeof wtypes[0])

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}
static float frand(void) { return (float)rnd() / 4294967296.0f * 2.0f - 1.0f; } /* [-1, 1) */
/* weight-like values: roughly gaussian, a row scale, rare outliers */
static void fill_row(float *x, int n, float scale) {
    for (int i = 0; i < n; i++) {
        float v = (frand() + frand() + frand()) * scale;
        if (rnd() % 97 == 0) v *= 8.0f;
        x[i] = v;
    }
}

static double dequant_absdot(enum lir_type wt, const void *w, enum lir_type at, const void *a, int n) {
    float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
    lir_type_traits_get(wt)->dequantize_row_ref(w, x, n);
    lir_type_traits_get(at)->dequantize_row_ref(a, y, n);
    double s = 0;
    for (int i = 0; i < n; i++) s += fabs((double)x[i] * (double)y[i]);
    free(x);
    free(y);
    return s;
}

/* relative error of got vs want, normalized by the magnitude sum (tiny floor for all-zero) */
static double rel_err(float got, float want, double absdot) {
    return fabs((double)got - (double)want) / (absdot > 1e-30 ? absdot : 1e-30);
}

/* ---------------------------------------------------------------- vec_dot + gemm */

struct case_data {
    int n, nr, nc;
    size_t ws, as, os;
    uint8_t *w, *a;
    float *want; /* [nc][nr] */
    double *absdot;
};

static void case_make(struct case_data *cd, enum lir_type wt, int n, int nr, int nc, int pad) {
    const struct lir_type_traits *tw = lir_type_traits_get(wt), *ta = lir_type_traits_get(tw->vec_dot_type);
    cd->n = n;
    cd->nr = nr;
    cd->nc = nc;
    cd->ws = lir_type_row_size(wt, n) + (size_t)pad * 64;
    cd->as = lir_type_row_size(tw->vec_dot_type, n) + (size_t)pad * 32;
    cd->os = (size_t)nr + (size_t)pad * 5;
    cd->w = calloc((size_t)nr, cd->ws);
    cd->a = calloc((size_t)nc, cd->as);
    float *x = malloc(sizeof(float) * (size_t)n);
    for (int r = 0; r < nr; r++) {
        fill_row(x, n, 0.05f + 0.1f * (float)(rnd() % 16));
        tw->quantize_row_ref(x, cd->w + (size_t)r * cd->ws, n);
    }
    for (int c = 0; c < nc; c++) {
        fill_row(x, n, 0.5f + (float)(rnd() % 8));
        ta->quantize_row_act_ref(x, cd->a + (size_t)c * cd->as, n);
    }
    free(x);
    cd->want = malloc(sizeof(float) * (size_t)nr * (size_t)nc);
    cd->absdot = malloc(sizeof(double) * (size_t)nr * (size_t)nc);
    for (int c = 0; c < nc; c++)
        for (int r = 0; r < nr; r++) {
            tw->vec_dot_ref(n, &cd->want[c * nr + r], cd->w + (size_t)r * cd->ws, cd->a + (size_t)c * cd->as);
            cd->absdot[c * nr + r] =
                dequant_absdot(wt, cd->w + (size_t)r * cd->ws, tw->vec_dot_type, cd->a + (size_t)c * cd->as, n);
        }
}

static void case_free(struct case_data *cd) {
    free(cd->w);
    free(cd->a);
    free(cd->want);
    free(cd->absdot);
}

static double worst_dot[LIR_TYPE_COUNT];

static void check_gemm(const struct lir_cpu_kernels *k, enum lir_type wt, struct case_data *cd, lir_gemm_fn gemm);

static void check_case(const struct lir_cpu_kernels *k, enum lir_type wt, struct case_data *cd) {
    const char *tn = lir_type_name(wt);
    cr_assert(k->vec_dot[wt] && k->gemm[wt], "%s: missing slot for %s", k->isa, tn);
    /* vec_dot on the first row/column pairs */
    for (int c = 0; c < cd->nc && c < 2; c++)
        for (int r = 0; r < cd->nr && r < 3; r++) {
            float got = NAN;
            k->vec_dot[wt](cd->n, &got, cd->w + (size_t)r * cd->ws, cd->a + (size_t)c * cd->as);
            const double e = rel_err(got, cd->want[c * cd->nr + r], cd->absdot[c * cd->nr + r]);
            if (e > worst_dot[wt]) worst_dot[wt] = e;
            cr_assert(e <= DOT_TOL, "%s vec_dot %s n=%d r=%d c=%d: got %.9g want %.9g (rel %.3g)", k->isa, tn, cd->n,
                      r, c, got, cd->want[c * cd->nr + r], e);
        }
    /* gemm over everything, canaries in the padding of out; with gemm_pick also the kernels it
     * picks for this shape as a batch and, for a row count not a multiple of 8, unrepacked */
    lir_gemm_fn gemms[3] = {k->gemm[wt], NULL, NULL};
    if (k->gemm_pick) {
        gemms[1] = k->gemm_pick(wt, 64, cd->nc < 2 ? 2 : cd->nc);
        gemms[2] = k->gemm_pick(wt, 63, cd->nc);
    }
    for (int g = 0; g < 3; g++)
        if (gemms[g]) check_gemm(k, wt, cd, gemms[g]);
}

static void check_gemm(const struct lir_cpu_kernels *k, enum lir_type wt, struct case_data *cd, lir_gemm_fn gemm) {
    const char *tn = lir_type_name(wt);
    const size_t out_n = cd->os * (size_t)cd->nc + 8;
    float *out = malloc(sizeof(float) * out_n);
    for (size_t i = 0; i < out_n; i++) out[i] = -1234.5f;
    gemm(cd->n, cd->w, cd->ws, cd->a, cd->as, out, cd->os, cd->nr, cd->nc);
    for (int c = 0; c < cd->nc; c++) {
        for (int r = 0; r < cd->nr; r++) {
            const float got = out[(size_t)c * cd->os + (size_t)r];
            const double e = rel_err(got, cd->want[c * cd->nr + r], cd->absdot[c * cd->nr + r]);
            if (e > worst_dot[wt]) worst_dot[wt] = e;
            cr_assert(e <= DOT_TOL, "%s gemm %s n=%d nr=%d nc=%d at r=%d c=%d: got %.9g want %.9g (rel %.3g)", k->isa,
                      tn, cd->n, cd->nr, cd->nc, r, c, got, cd->want[c * cd->nr + r], e);
        }
        for (size_t r = (size_t)cd->nr; r < cd->os; r++)
            cr_assert(out[(size_t)c * cd->os + r] == -1234.5f, "%s gemm %s wrote padding at c=%d r=%zu", k->isa, tn,
                      c, r);
    }
    for (size_t i = cd->os * (size_t)cd->nc; i < out_n; i++)
        cr_assert(out[i] == -1234.5f, "%s gemm %s wrote past the end", k->isa, tn);
    free(out);
}

static void run_type(enum lir_type wt) {
    const struct lir_type_traits *tw = lir_type_traits_get(wt);
    const int bs = tw->blck_size;
    int ns[8], nn = 0;
    if (bs == 1) {
        const int v[] = {1, 7, 8, 33, 256, 1000, 8200};
        for (int i = 0; i < 7; i++) ns[nn++] = v[i];
    } else if (bs == 32) {
        const int v[] = {32, 64, 96, 288, 2048, 8224};
        for (int i = 0; i < 6; i++) ns[nn++] = v[i];
    } else {
        const int v[] = {256, 512, 768, 2048, 8448};
        for (int i = 0; i < 5; i++) ns[nn++] = v[i];
    }
    static const int shapes[][2] = {{1, 1}, {3, 1}, {13, 1}, {67, 1}, {1, 2}, {5, 3}, {7, 4}, {4, 5}, {13, 7}, {67, 13}};
    for (int in = 0; in < nn; in++) {
        for (size_t is = 0; is < sizeof shapes / sizeof shapes[0]; is++) {
            const int n = ns[in], nr = shapes[is][0], nc = shapes[is][1];
            if (n > 4096 && nr * nc > 30) continue; /* keep the big rows cheap */
            struct case_data cd;
            case_make(&cd, wt, n, nr, nc, (int)(is % 3));
            for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
                const struct lir_cpu_kernels *k = lir_cpu_kernels_for(isas[i]);
                if (k) check_case(k, wt, &cd);
            }
            case_free(&cd);
        }
    }
    cr_log_info("kernels %s: worst relative dot error %.3g (tolerance %.1g)", tw->name, worst_dot[wt], DOT_TOL);
}

Test(kernels, tables_available) {
    cr_assert_not_null(lir_cpu_kernels_for("generic"));
    cr_assert_null(lir_cpu_kernels_for("sse9"));
    cr_assert_null(lir_cpu_kernels_for(NULL));
    const struct lir_cpu_kernels *best = lir_cpu_kernels_best();
    cr_assert_not_null(best);
    struct lir_cpu_features f;
    lir_cpu_features_get(&f);
    if (f.avx2 && f.fma && f.f16c) cr_assert_not_null(lir_cpu_kernels_for("avx2"));
    if (f.avx512f && f.avx512bw && f.avx512vl && f.avx512vnni) cr_assert_not_null(lir_cpu_kernels_for("avx512"));
    cr_log_info("kernels: best table %s (avx2 %d avx512f %d vnni %d bf16 %d)", best->isa, f.avx2, f.avx512f,
                f.avx512vnni, f.avx512bf16);
    for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
        const struct lir_cpu_kernels *k = lir_cpu_kernels_for(isas[i]);
        if (!k) continue;
        cr_assert_str_eq(k->isa, isas[i]);
        cr_assert(k->mad_f16 && k->dot_f32);
        for (size_t t = 0; t < N_WTYPES; t++) {
            cr_assert(k->vec_dot[wtypes[t]] && k->gemm[wtypes[t]], "%s: %s", k->isa, lir_type_name(wtypes[t]));
            const enum lir_type at = lir_type_traits_get(wtypes[t])->vec_dot_type;
            cr_assert(k->from_float[at], "%s: from_float %s", k->isa, lir_type_name(at));
        }
    }
}

Test(kernels, isa_env_override) {
    setenv("LIR_CPU_ISA", "generic", 1);
    cr_assert_str_eq(lir_cpu_kernels_best()->isa, "generic");
    setenv("LIR_CPU_ISA", "nonsense", 1);
    cr_assert_not_null(lir_cpu_kernels_best());
    unsetenv("LIR_CPU_ISA");
}

#define TYPE_TEST(T, ID) \
    Test(kernels, dot_##T) { run_type(ID); }
TYPE_TEST(f32, LIR_TYPE_F32)
TYPE_TEST(f16, LIR_TYPE_F16)
TYPE_TEST(bf16, LIR_TYPE_BF16)
TYPE_TEST(q4_0, LIR_TYPE_Q4_0)
TYPE_TEST(q4_1, LIR_TYPE_Q4_1)
TYPE_TEST(q5_0, LIR_TYPE_Q5_0)
TYPE_TEST(q5_1, LIR_TYPE_Q5_1)
TYPE_TEST(q8_0, LIR_TYPE_Q8_0)
TYPE_TEST(q2_K, LIR_TYPE_Q2_K)
TYPE_TEST(q3_K, LIR_TYPE_Q3_K)
TYPE_TEST(q4_K, LIR_TYPE_Q4_K)
TYPE_TEST(q5_K, LIR_TYPE_Q5_K)
TYPE_TEST(q6_K, LIR_TYPE_Q6_K)

/* ---------------------------------------------------------------- from_float */

/* rows that stress the quantizers: random, zero block, exact ties after scaling, the
 * largest magnitude negative and first, repeated extremes of both signs, tiny, huge */
static void edge_row(float *x, int n, int kind) {
    for (int i = 0; i < n; i++) x[i] = frand();
    switch (kind) {
    case 1: memset(x, 0, sizeof(float) * (size_t)(n < 256 ? n : 256)); break;
    case 2: /* amax 127 -> scale 1: x.5 values are exact ties */
        for (int i = 0; i < n; i++) x[i] = (float)((int)(rnd() % 254) - 127) + ((i & 1) ? 0.5f : 0.0f);
        for (int i = 0; i < n; i += 32) x[i] = 127.0f;
        break;
    case 3:
        for (int i = 0; i < n; i += 16) { x[i] = -3.0f; if (i + 5 < n) x[i + 5] = 3.0f; }
        break;
    case 4: for (int i = 0; i < n; i++) x[i] *= 1e-30f; break;
    case 5: for (int i = 0; i < n; i++) x[i] *= 6e4f; break;
    default: break;
    }
}

static void check_from_float(enum lir_type at) {
    const struct lir_type_traits *ta = lir_type_traits_get(at);
    const int bs = ta->blck_size;
    const int ns[] = {bs == 1 ? 1 : bs, bs == 1 ? 15 : 2 * bs, bs == 1 ? 17 : 7 * bs, bs == 1 ? 4103 : 8448 / bs * bs};
    for (size_t in = 0; in < sizeof ns / sizeof ns[0]; in++) {
        const int n = ns[in];
        const size_t sz = lir_type_row_size(at, n);
        float *x = malloc(sizeof(float) * (size_t)n);
        uint8_t *want = malloc(sz), *got = malloc(sz);
        for (int kind = 0; kind < 6; kind++) {
            edge_row(x, n, kind);
            memset(want, 0xAB, sz);
            ta->quantize_row_act_ref(x, want, n);
            for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
                const struct lir_cpu_kernels *k = lir_cpu_kernels_for(isas[i]);
                if (!k) continue;
                cr_assert(k->from_float[at], "%s: no from_float for %s", k->isa, ta->name);
                memset(got, 0xCD, sz);
                k->from_float[at](x, got, n);
                size_t bad = 0;
                while (bad < sz && got[bad] == want[bad]) bad++;
                cr_assert(bad == sz, "%s from_float %s n=%d kind=%d: first differing byte %zu (%02x vs %02x)", k->isa,
                          ta->name, n, kind, bad, got[bad < sz ? bad : 0], want[bad < sz ? bad : 0]);
            }
        }
        free(x);
        free(want);
        free(got);
    }
}

Test(kernels, from_float_q8_0) { check_from_float(LIR_TYPE_Q8_0); }
Test(kernels, from_float_q8_1) { check_from_float(LIR_TYPE_Q8_1); }
Test(kernels, from_float_q8_K) { check_from_float(LIR_TYPE_Q8_K); }
Test(kernels, from_float_f16) { check_from_float(LIR_TYPE_F16); }
Test(kernels, from_float_bf16) { check_from_float(LIR_TYPE_BF16); }
Test(kernels, from_float_f32) { check_from_float(LIR_TYPE_F32); }

/* ---------------------------------------------------------------- mad_f16, dot_f32 */

Test(kernels, mad_f16_dot_f32) {
    const int ns[] = {1, 7, 8, 15, 16, 64, 100, 4099};
    for (size_t in = 0; in < sizeof ns / sizeof ns[0]; in++) {
        const int n = ns[in];
        float *x = malloc(sizeof(float) * (size_t)n), *y0 = malloc(sizeof(float) * (size_t)n),
              *y = malloc(sizeof(float) * (size_t)n), *z = malloc(sizeof(float) * (size_t)n);
        lir_f16 *h = malloc(sizeof(lir_f16) * (size_t)n);
        fill_row(x, n, 1.0f);
        fill_row(y0, n, 1.0f);
        fill_row(z, n, 1.0f);
        for (int i = 0; i < n; i++) h[i] = lir_f32_to_f16(x[i]);
        double want_dot = 0, absdot = 0;
        for (int i = 0; i < n; i++) {
            want_dot += (double)x[i] * z[i];
            absdot += fabs((double)x[i] * z[i]);
        }
        for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
            const struct lir_cpu_kernels *k = lir_cpu_kernels_for(isas[i]);
            if (!k) continue;
            memcpy(y, y0, sizeof(float) * (size_t)n);
            k->mad_f16(n, y, h, 0.37f);
            for (int j = 0; j < n; j++) {
                const float want = y0[j] + 0.37f * lir_f16_to_f32(h[j]);
                /* FMA rounds once where the scalar rounds twice */
                cr_assert(fabsf(y[j] - want) <= 1e-6f * (fabsf(y0[j]) + fabsf(want) + 1e-6f), "%s mad_f16 n=%d j=%d",
                          k->isa, n, j);
            }
            const float d = k->dot_f32(n, x, z);
            cr_assert(fabs(d - want_dot) <= DOT_TOL * absdot + 1e-30, "%s dot_f32 n=%d: %.9g vs %.9g", k->isa, n, d,
                      want_dot);
        }
        free(x);
        free(y0);
        free(y);
        free(z);
        free(h);
    }
}
