/* gx_float.c — llama.cpp's F32 / F16 / BF16 matmul arithmetic, bit for bit (gx.h says why).
 *
 * What ggml's CPU mul_mat runs for these weight types (node-llama-cpp 3.21.1, libggml-cpu-zen4.so:
 * AVX-512F, AVX512_BF16, no AVX512_FP16, GGML_USE_LLAMAFILE):
 *   - vec_dot_type is the weight type itself: F32 activations are used as they are, F16 / BF16
 *     activations are rounded by ggml_cpu_fp32_to_fp16 (F16C, nearest-even) / ggml_cpu_fp32_to_bf16
 *     (GGML_FP32_TO_BF16), which lir_quantize_row_f16_ref / bf16_ref reproduce byte for byte
 *     (NaN payloads aside).
 *   - one token column: ggml_vec_dot_<t> per output.
 *   - two or more: llamafile_sgemm (tinyBLAS). F32: tinyBLAS<16, __m512, __m512, float> on src1 as
 *     it is. F16 / BF16: the first attempt (src1 still f32) declines (Btype must be F16 / BF16),
 *     src1 is converted, then tinyBLAS<16, __m512, __m512, fp16> (each half widened by vcvtph2ps) /
 *     tinyBLAS<32, __m512, __m512bh, bf16> (vdpbf16ps). tinyBLAS declines, and vec_dot runs per
 *     output, when k % KN != 0 (KN 16, 16, 32) or m % 4 != 0 (m: all the weight's rows). The
 *     _many kernels test k; m is the whole weight's, which only the caller knows: gemm_pick
 *     (kernels_ggml.c) gives the _one kernel for it, and the paged V product tests its nr, the
 *     whole V^T.
 *   - tinyBLAS's tiles (RM x RN blocks, BM, threads) only decide which outputs are computed
 *     together: every output has its own accumulator vector, zeroed, one multiply-add per KN
 *     elements in order (lane j gets elements l + j), then hsum = _mm512_reduce_add_ps. So each
 *     output's value does not depend on the tile shape, the number of columns or of threads.
 *
 * Plain C, -ffp-contract=off: fmaf exactly where ggml's machine code has an FMA. */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>
#include "backend/cpu/ggml/gx.h"

/* GGML_F32x16_REDUCE / GGML_F32Cx16_REDUCE over GGML_F32_ARR = 4 accumulators: x0 += x2,
 * x1 += x3, x0 += x1, then _mm512_reduce_add_ps(x0). */
static float reduce4x16(float acc[4][16]) {
    for (int l = 0; l < 16; l++) acc[0][l] = acc[0][l] + acc[2][l];
    for (int l = 0; l < 16; l++) acc[1][l] = acc[1][l] + acc[3][l];
    for (int l = 0; l < 16; l++) acc[0][l] = acc[0][l] + acc[1][l];
    return lir__gx_hsum16(acc[0]);
}

/* out[c*os + r] = dot(n, row r of w, row c of a) for every row and column. */
typedef float (*dot_fn)(int n, const void *x, const void *y);
static void rows_dot(dot_fn dot, int n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                     int nr, int nc) {
    for (int c = 0; c < nc; c++)
        for (int r = 0; r < nr; r++)
            out[(size_t)c * os + r] = dot(n, (const char *)w + (size_t)r * ws, (const char *)a + (size_t)c * as);
}

/* ================================================================ F32 */

/* ggml_vec_dot_f32, AVX-512 (GGML_F32_STEP 64, GGML_F32_EPR 16): accumulator j (of 4) takes
 * elements i + 16 j .. i + 16 j + 15 of each 64-element step, lane l by fma; reduce4x16 gives the
 * float sum. The n % 64 leftovers `sumf += x[i]*y[i]` (float) are, as GCC 11 compiled them: in
 * order, the first (r & ~7) of the r leftovers as separately rounded products added one by one
 * (its vectorised 16- and 8-wide epilogue: vmulps, then vaddss lane by lane), the last r & 7 by
 * vfmadd231ss (contracted). */
static float vdot_f32(int n, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    float acc[4][16] = {{0}};
    const int np = n & ~63;
    for (int i = 0; i < np; i += 64)
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 16; l++) acc[j][l] = fmaf(x[i + 16 * j + l], y[i + 16 * j + l], acc[j][l]);
    float s = reduce4x16(acc);
    const int nv = np + ((n - np) & ~7);
    int i = np;
    for (; i < nv; i++) {
        const float p = x[i] * y[i];
        s = s + p;
    }
    for (; i < n; i++) s = fmaf(x[i], y[i], s);
    return s;
}

/* tinyBLAS<16, __m512, __m512, float, float, float>: 16 lanes, lane j gets elements l + j of each
 * 16-element step by _mm512_fmadd_ps, then hsum. n % 16 == 0. */
static float tb_f32(int n, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    float acc[16] = {0};
    for (int i = 0; i < n; i += 16)
        for (int l = 0; l < 16; l++) acc[l] = fmaf(x[i + l], y[i + l], acc[l]);
    return lir__gx_hsum16(acc);
}

void lir__gx_gemm_f32_one(int n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os, int nr,
                          int nc) {
    rows_dot(vdot_f32, n, w, ws, a, as, out, os, nr, nc);
}

void lir__gx_gemm_f32_many(int n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os, int nr,
                           int nc) {
    rows_dot(n % 16 ? vdot_f32 : tb_f32, n, w, ws, a, as, out, os, nr, nc); /* k % 16: tinyBLAS declines */
}

/* ================================================================ F16 */

/* An f16 row as blocks of bs elements: element i is at (const char *)blk[i / bs] + off, index
 * i % bs (a contiguous row is one block of n elements). */
struct f16row {
    const lir_f16 *const *blk;
    size_t off;
    int bs;
};

static inline float f16_at(const struct f16row *w, int i) {
    return lir_f16_to_f32(((const lir_f16 *)((const char *)w->blk[i / w->bs] + w->off))[i % w->bs]);
}

/* ggml_vec_dot_f16, AVX-512 without AVX512_FP16 (GGML_F16_STEP 64, GGML_F16_EPR 16): as
 * vdot_f32 with each half widened exactly (vcvtph2ps), the reduced float taken to double
 * (ggml_float), the n % 64 leftovers' float products (exact: f16 x f16 fits a float) added in
 * double, the sum rounded to float. */
static float vdot_f16(int n, const struct f16row *w, const lir_f16 *y) {
    float acc[4][16] = {{0}};
    const int np = n & ~63;
    for (int i = 0; i < np; i += 64)
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 16; l++) {
                const int e = i + 16 * j + l;
                acc[j][l] = fmaf(f16_at(w, e), lir_f16_to_f32(y[e]), acc[j][l]);
            }
    double s = (double)reduce4x16(acc);
    for (int i = np; i < n; i++) s += (double)(f16_at(w, i) * lir_f16_to_f32(y[i]));
    return (float)s;
}

/* tinyBLAS<16, __m512, __m512, ggml_fp16_t, ggml_fp16_t, float>: as tb_f32 on the widened halves.
 * n % 16 == 0. */
static float tb_f16(int n, const struct f16row *w, const lir_f16 *y) {
    float acc[16] = {0};
    for (int i = 0; i < n; i += 16)
        for (int l = 0; l < 16; l++) acc[l] = fmaf(f16_at(w, i + l), lir_f16_to_f32(y[i + l]), acc[l]);
    return lir__gx_hsum16(acc);
}

/* F16 rows of n = nb * bs elements, row r being the concatenation of block b's row r,
 * (const char *)w[b] + r * ws, summed in the order of a contiguous row of n (which is the case
 * nb = 1). Paged, for attention's softmax weights x V^T: ggml's row
 * is n_kv (a multiple of 256) long where ours is a multiple of bs = 64; past the sequence both
 * have weight exactly 0, whose products are ±0 and leave every accumulator lane unchanged (a lane
 * starts at +0 and f16 products never underflow, so it is never -0); lanes are i mod 16 (and
 * vec_dot's accumulators (i / 16) mod 4) counted from element 0 in both, and with bs a multiple
 * of 64 neither has vec_dot leftovers, so the extra zeros change no bit. (Both need finite V
 * there: ours reads whole blocks, and 0 * inf or NaN would be NaN.) */
static void f16_rows(int bs, int nb, const lir_f16 *const *w, size_t ws, const void *a, size_t as, float *out,
                     size_t os, int nr, int nc, bool many) {
    const int n = nb * bs;
    const bool tb = many && n % 16 == 0; /* else tinyBLAS declines: vec_dot */
    for (int c = 0; c < nc; c++) {
        const lir_f16 *y = (const lir_f16 *)((const char *)a + (size_t)c * as);
        for (int r = 0; r < nr; r++) {
            const struct f16row row = {w, (size_t)r * ws, bs};
            out[(size_t)c * os + r] = tb ? tb_f16(n, &row, y) : vdot_f16(n, &row, y);
        }
    }
}

void lir__gx_gemm_f16_one(int n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os, int nr,
                          int nc) {
    const lir_f16 *blk = w; /* a contiguous row: one block of n */
    f16_rows(n, 1, &blk, ws, a, as, out, os, nr, nc, false);
}

void lir__gx_gemm_f16_many(int n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os, int nr,
                           int nc) {
    const lir_f16 *blk = w;
    f16_rows(n, 1, &blk, ws, a, as, out, os, nr, nc, true);
}

void lir__gx_gemm_f16_paged_one(int bs, int nb, const lir_f16 *const *w, size_t ws, const lir_f16 *a, size_t as,
                                float *out, size_t os, int nr, int nc) {
    f16_rows(bs, nb, w, ws, a, as, out, os, nr, nc, false);
}

void lir__gx_gemm_f16_paged_many(int bs, int nb, const lir_f16 *const *w, size_t ws, const lir_f16 *a, size_t as,
                                 float *out, size_t os, int nr, int nc) {
    f16_rows(bs, nb, w, ws, a, as, out, os, nr, nc, nr % 4 == 0); /* nr: all of V^T's rows */
}

/* ================================================================ BF16 */

/* bf16 -> float as vdpbf16ps reads it: subnormal inputs are zero (sign kept). */
static inline float bf16_daz(lir_bf16 h) {
    return (h & 0x7f80u) == 0 ? ((h & 0x8000u) ? -0.0f : 0.0f) : lir_bf16_to_f32(h);
}

/* One multiply-add of VDPBF16PS on an fp32 lane: round(acc + x * y) once (the product is exact,
 * its exponent range unbounded: fmaf), nearest-even, and a result that is tiny after rounding to
 * 24 bits with unbounded exponent (|r| < 2^-126) flushed to zero of its sign. fmaf rounds tiny
 * results on the subnormal grid instead, which can differ only when it returns something at or
 * below 2^-125: then the sum is recomputed scaled by 2^64 (exact: such a result needs |acc| <
 * 2^-100 and |x y| < 2^-99, and the smaller factor, at most 2^-49, is the one scaled). */
static inline float dp_step(float acc, float x, float y) {
    const float r = fmaf(x, y, acc);
    if (r != 0.0f && fabsf(r) <= 0x1p-125f) {
        float xs = x, ys = y;
        if (fabsf(x) <= fabsf(y))
            xs = x * 0x1p64f;
        else
            ys = y * 0x1p64f;
        const float r2 = fmaf(xs, ys, acc * 0x1p64f);
        return fabsf(r2) < 0x1p-62f ? copysignf(0.0f, r2) : r2 * 0x1p-64f;
    }
    return r;
}

/* _mm512_dpbf16_ps(acc, x, y) on one lane (Intel's pseudocode, checked against this Zen 4 on
 * 6M random and edge-case lanes): acc += x[2j+1] * y[2j+1], then acc += x[2j] * y[2j], each step
 * dp_step; denormal inputs (bf16, and the accumulator) read as zero. */
static inline float dpbf16_lane(float acc, const lir_bf16 *x, const lir_bf16 *y) {
    if (fabsf(acc) < FLT_MIN) acc = copysignf(0.0f, acc);
    acc = dp_step(acc, bf16_daz(x[1]), bf16_daz(y[1]));
    return dp_step(acc, bf16_daz(x[0]), bf16_daz(y[0]));
}

/* ggml_vec_dot_bf16, AVX512_BF16 path: two accumulators, c1 over elements i .. i + 31 and c2
 * over i + 32 .. i + 63 of each 64-element step (lane j of a 32-element half: its elements 2j,
 * 2j + 1); sumf = 0.0 (double) + reduce(c1), + reduce(c2); the n % 64 leftovers' float products
 * added in double; rounded to float. */
static float vdot_bf16(int n, const void *vx, const void *vy) {
    const lir_bf16 *x = vx, *y = vy;
    float c1[16] = {0}, c2[16] = {0};
    int i = 0;
    for (; i + 64 <= n; i += 64)
        for (int l = 0; l < 16; l++) {
            c1[l] = dpbf16_lane(c1[l], x + i + 2 * l, y + i + 2 * l);
            c2[l] = dpbf16_lane(c2[l], x + i + 32 + 2 * l, y + i + 32 + 2 * l);
        }
    double s = 0.0;
    s += (double)lir__gx_hsum16(c1);
    s += (double)lir__gx_hsum16(c2);
    for (; i < n; i++) s += (double)(lir_bf16_to_f32(x[i]) * lir_bf16_to_f32(y[i]));
    return (float)s;
}

/* tinyBLAS<32, __m512, __m512bh, ggml_bf16_t, ggml_bf16_t, float>: 16 fp32 lanes, one vdpbf16ps
 * per 32 elements (lane j: elements 2j, 2j + 1 of the step), then hsum. n % 32 == 0. */
static float tb_bf16(int n, const void *vx, const void *vy) {
    const lir_bf16 *x = vx, *y = vy;
    float acc[16] = {0};
    for (int i = 0; i < n; i += 32)
        for (int l = 0; l < 16; l++) acc[l] = dpbf16_lane(acc[l], x + i + 2 * l, y + i + 2 * l);
    return lir__gx_hsum16(acc);
}

void lir__gx_gemm_bf16_one(int n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os, int nr,
                           int nc) {
    rows_dot(vdot_bf16, n, w, ws, a, as, out, os, nr, nc);
}

void lir__gx_gemm_bf16_many(int n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os, int nr,
                            int nc) {
    rows_dot(n % 32 ? vdot_bf16 : tb_bf16, n, w, ws, a, as, out, os, nr, nc); /* k % 32: tinyBLAS declines */
}
