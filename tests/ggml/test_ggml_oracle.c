/* test_ggml_oracle.c — the "ggml" kernel table (src/backend/cpu/ggml, LIR_CPU_ISA=ggml) against
 * ggml itself, op by op (ggml_oracle.h: llama.cpp's prebuilt CPU backend from node-llama-cpp): every
 * output must have ggml's bits.
 *   - matmul, all 13 weight types: the kernel gemm_pick chooses for (rows, tokens), over rows split
 *     in two calls as the worker threads split them, against ggml_mul_mat with the weights where
 *     llama.cpp puts them (the repack buffer for Q4_0/Q4_K/Q2_K with rows % 8 == 0); 1 token and
 *     2..64, rows 64, 40 and 63 (no repacking; tinyBLAS declines for rows % 4), k per block size;
 *   - attention's softmax weights x V^T over paged blocks (one token and a batch) against an f16
 *     mul_mat of the concatenated rows;
 *   - the attention softmax (f16 weights) against soft_max_ext with the causal -inf mask, and
 *     SwiGLU against ggml_swiglu_split.
 * Built only when the llama.cpp headers of node-llama-cpp's release are present (make ggml-check
 * extracts them from the package's source bundle); the whole forward pass is compared with
 * llama.cpp in tests/parity/ (LIR_CPU_ISA=ggml). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/kernels.h"
#include "ggml_oracle.h"
#include "quant/quant.h"

static const struct lir_cpu_kernels *K;

static void setup(void) {
    cr_assert_eq(ggo_init(LIR_GGML_BIN_DIR), 0, "ggml's CPU backend (with its repack buffer) from %s", LIR_GGML_BIN_DIR);
    K = lir_cpu_kernels_for("ggml");
    cr_assert_not_null(K);
}

static uint64_t rs = 0x9e3779b97f4a7c15ull;
static uint64_t xr(void) {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}
static float urand(void) { return (float)((xr() >> 11) * 0x1.0p-53) * 2.0f - 1.0f; }

/* floats in blocks of 32 of one magnitude each (0, 1e-6 .. 3e5; mostly 1..7), some blocks of
 * repeated values (exact ties for the quantizers) */
static void fill(float *x, int64_t n) {
    static const float mags[] = {0.0f, 1e-6f, 1e-3f, 1.0f, 7.0f, 1e3f, 3e5f};
    for (int64_t b = 0; b < n; b += 32) {
        const float m = xr() % 8 == 0 ? mags[xr() % 7] : mags[3 + xr() % 2];
        const bool ties = xr() % 5 == 0;
        for (int64_t j = b; j < b + 32 && j < n; j++) x[j] = ties ? (float)((int)(xr() % 9) - 4) * m * 0.25f : urand() * m;
    }
}

static int count_diff(const float *a, const float *b, size_t n) {
    int d = 0;
    for (size_t i = 0; i < n; i++) d += memcmp(&a[i], &b[i], sizeof(float)) != 0;
    return d;
}

static void check_type(enum lir_type t, const int *ks, int nk) {
    const struct lir_type_traits *tw = lir_type_traits_get(t);
    const enum lir_type at = tw->vec_dot_type;
    static const int ns[] = {1, 2, 3, 4, 5, 8, 17, 64}, ms[] = {64, 40, 63};
    int cases = 0;
    for (int ik = 0; ik < nk; ik++)
        for (size_t in = 0; in < sizeof ns / sizeof ns[0]; in++)
            for (size_t im = 0; im < sizeof ms / sizeof ms[0]; im++) {
                const int k = ks[ik], n = ns[in], m = ms[im];
                const size_t ws = lir_type_row_size(t, k), as = lir_type_row_size(at, k);
                float *wf = malloc(sizeof(float) * (size_t)k * m), *x = malloc(sizeof(float) * (size_t)k * n);
                char *w = malloc(ws * m), *a = malloc(as * n);
                float *want = malloc(sizeof(float) * (size_t)m * n), *got = malloc(sizeof(float) * (size_t)m * n);
                fill(wf, (int64_t)k * m);
                fill(x, (int64_t)k * n);
                for (int r = 0; r < m; r++) tw->quantize_row_ref(wf + (size_t)r * k, w + (size_t)r * ws, k);
                for (int c = 0; c < n; c++) K->from_float[at](x + (size_t)c * k, a + (size_t)c * as, k);
                const bool repack = (t == LIR_TYPE_Q4_0 || t == LIR_TYPE_Q4_K || t == LIR_TYPE_Q2_K) && m % 8 == 0;
                cr_assert_eq(ggo_mul_mat(t, w, k, m, x, n, want, repack), 0, "ggml mul_mat %s", tw->name);
                const lir_gemm_fn gemm = K->gemm_pick(t, m, n);
                gemm(k, w, ws, a, as, got, (size_t)m, 16, n); /* rows [0, 16) and [16, m): two threads' shares */
                gemm(k, w + 16 * ws, ws, a, as, got + 16, (size_t)m, m - 16, n);
                const int d = count_diff(got, want, (size_t)m * n);
                cr_assert_eq(d, 0, "%s k=%d rows=%d tokens=%d: %d of %d outputs differ from ggml's", tw->name, k, m, n, d,
                             m * n);
                cases++;
                free(wf), free(x), free(w), free(a), free(want), free(got);
            }
    cr_log_info("ggml oracle %s: %d matmuls, all bits equal", tw->name, cases);
}

TestSuite(ggml_oracle, .init = setup);

static const int k1[] = {32, 40, 64, 100, 128, 256, 1056}, k32[] = {32, 96, 160, 256, 2144}, k256[] = {256, 512, 2304};
#define N_OF(a) ((int)(sizeof a / sizeof a[0]))
Test(ggml_oracle, matmul_f32) { check_type(LIR_TYPE_F32, k1, N_OF(k1)); }
Test(ggml_oracle, matmul_f16) { check_type(LIR_TYPE_F16, k1, N_OF(k1)); }
Test(ggml_oracle, matmul_bf16) { check_type(LIR_TYPE_BF16, k1, N_OF(k1)); }
Test(ggml_oracle, matmul_q4_0) { check_type(LIR_TYPE_Q4_0, k32, N_OF(k32)); }
Test(ggml_oracle, matmul_q4_1) { check_type(LIR_TYPE_Q4_1, k32, N_OF(k32)); }
Test(ggml_oracle, matmul_q5_0) { check_type(LIR_TYPE_Q5_0, k32, N_OF(k32)); }
Test(ggml_oracle, matmul_q5_1) { check_type(LIR_TYPE_Q5_1, k32, N_OF(k32)); }
Test(ggml_oracle, matmul_q8_0) { check_type(LIR_TYPE_Q8_0, k32, N_OF(k32)); }
Test(ggml_oracle, matmul_q2_K) { check_type(LIR_TYPE_Q2_K, k256, N_OF(k256)); }
Test(ggml_oracle, matmul_q3_K) { check_type(LIR_TYPE_Q3_K, k256, N_OF(k256)); }
Test(ggml_oracle, matmul_q4_K) { check_type(LIR_TYPE_Q4_K, k256, N_OF(k256)); }
Test(ggml_oracle, matmul_q5_K) { check_type(LIR_TYPE_Q5_K, k256, N_OF(k256)); }
Test(ggml_oracle, matmul_q6_K) { check_type(LIR_TYPE_Q6_K, k256, N_OF(k256)); }

/* V^T (hd rows of nb blocks of 64 f16, each block elsewhere in memory) x softmax weights (f16),
 * as llama.cpp's kqv mul_mat over the same nb * 64 cache rows. */
Test(ggml_oracle, attention_v_paged) {
    static const int hds[] = {32, 64, 128}, nbs[] = {1, 2, 5}, ns[] = {1, 2, 7, 16};
    for (size_t ih = 0; ih < 3; ih++)
        for (size_t ib = 0; ib < 3; ib++)
            for (size_t in = 0; in < 4; in++) {
                const int hd = hds[ih], nb = nbs[ib], n = ns[in], len = nb * 64;
                lir_f16 *blocks = malloc(sizeof(lir_f16) * (size_t)hd * 64 * nb * 2), *row = malloc(sizeof(lir_f16) * (size_t)hd * len);
                const lir_f16 *bp[5];
                float *pf = malloc(sizeof(float) * (size_t)len * n), *want = malloc(sizeof(float) * (size_t)hd * n),
                      *got = malloc(sizeof(float) * (size_t)hd * n);
                lir_f16 *p16 = malloc(sizeof(lir_f16) * (size_t)len * n);
                for (int b = 0; b < nb; b++) { /* block b at slot (nb - 1 - b) * 2: scattered, reversed */
                    lir_f16 *blk = blocks + (size_t)(nb - 1 - b) * 2 * hd * 64;
                    bp[b] = blk;
                    for (int r = 0; r < hd; r++)
                        for (int j = 0; j < 64; j++) {
                            const lir_f16 v = lir_f32_to_f16(urand() * 4.0f);
                            blk[r * 64 + j] = v;
                            row[(size_t)r * len + b * 64 + j] = v;
                        }
                }
                for (int c = 0; c < n; c++) {
                    const int lim = 1 + (int)(xr() % (uint64_t)len); /* causal: weights past it are 0 */
                    for (int j = 0; j < len; j++) {
                        p16[(size_t)c * len + j] = j < lim ? lir_f32_to_f16((urand() + 1.0f) / (float)lim) : 0;
                        pf[(size_t)c * len + j] = lir_f16_to_f32(p16[(size_t)c * len + j]);
                    }
                }
                cr_assert_eq(ggo_mul_mat(LIR_TYPE_F16, row, len, hd, pf, n, want, false), 0);
                (n >= 2 ? K->gemm_f16_paged_many : K->gemm_f16_paged)(64, nb, bp, 64 * sizeof(lir_f16), p16,
                                                                       (size_t)len * sizeof(lir_f16), got, (size_t)hd, hd, n);
                const int d = count_diff(got, want, (size_t)hd * n);
                cr_assert_eq(d, 0, "head_dim %d, %d blocks, %d tokens: %d outputs differ from ggml's", hd, nb, n, d);
                free(blocks), free(row), free(pf), free(want), free(got), free(p16);
            }
}

Test(ggml_oracle, softmax_and_swiglu) {
    enum { NE = 256 };
    const float scale = 0.17677669f; /* 1/sqrt(32) */
    int weights = 0;
    for (int trial = 0; trial < 300; trial++) {
        const int n = 1 + (int)(xr() % NE), n_pad = (n + 63) / 64 * 64;
        const float amp = trial % 3 == 0 ? 100.0f : trial % 3 == 1 ? 10.0f : 1.0f;
        float x[NE], mask[NE], out[NE], s[NE];
        lir_f16 p[NE];
        for (int i = 0; i < NE; i++) {
            x[i] = s[i] = urand() * amp;
            mask[i] = i < n ? 0.0f : -INFINITY;
        }
        cr_assert_eq(ggo_soft_max(x, mask, scale, NE, 1, out), 0);
        K->softmax_f16(n, n_pad, s, scale, p);
        for (int i = 0; i < n; i++, weights++)
            cr_assert_eq(p[i], lir_f32_to_f16(out[i]), "softmax n=%d i=%d: f16 %04x, ggml's %g", n, i, p[i], out[i]);
        for (int i = n; i < n_pad; i++) cr_assert_eq(p[i], 0);
    }
    enum { N = 4096 };
    float *g = malloc(sizeof(float) * N), *u = malloc(sizeof(float) * N), *want = malloc(sizeof(float) * N),
          *got = malloc(sizeof(float) * N);
    for (int i = 0; i < N; i++) {
        g[i] = urand() * (i % 7 ? 8.0f : 120.0f);
        u[i] = urand() * 3.0f;
    }
    cr_assert_eq(ggo_swiglu(g, u, N, want), 0);
    K->silu_mul(N, g, u, got);
    cr_assert_eq(count_diff(got, want, N), 0, "swiglu differs from ggml's");
    cr_log_info("ggml oracle: %d softmax weights and %d swiglu values, all bits equal", weights, N);
    free(g), free(u), free(want), free(got);
}
