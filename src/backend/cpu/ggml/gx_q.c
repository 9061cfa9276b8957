/* gx_q.c — the "ggml" table's gemms for the 32-element block types Q4_0, Q4_1, Q5_0, Q5_1 and
 * Q8_0: llama.cpp's CPU sums (AVX-512 "zen4" build of node-llama-cpp 3.21.1's ggml, GCC 11.4)
 * reproduced bit for bit in plain C (gx.h). Compiled with -ffp-contract=off: fmaf() stands
 * exactly where ggml's code has an FMA instruction, nothing else fuses.
 *
 * Which kernel ggml runs (ggml-cpu.c, repack.cpp, llamafile/sgemm.cpp):
 *   Q4_0  weights with ne1 % 8 == 0 are repacked (q4_0_8x8) and always go through
 *         ggml_gemv/gemm_q4_0_8x8_q8_0 (arch/x86/repack.cpp), one token or many:
 *         acc = fma((float)isum_block, dw * dx, acc), one scalar accumulator per output, blocks in
 *         order. Activations: ggml_quantize_mat_q8_0_4x8 for groups of 4 rows, whose bytes per
 *         row equal quantize_row_q8_0's (same max, d, 127/amax and rounding; only interleaved).
 *         Unrepacked Q4_0 (ne1 % 8 != 0) sums as Q5_0/Q8_0 below: lir__gx_gemm_q4_0_norepack.
 *   Q5_0, Q8_0 (vec_dot_type Q8_0): one token: ggml_vec_dot_{q5_0,q8_0}_q8_0 (the __AVX2__
 *         branch); two or more: tinyBLAS_Q0_AVX, which takes Q8_0, Q4_0, Q5_0, IQ4_NL on x86 and
 *         never declines them once B is Q8_0. Both sum the same way: per block 8 int32 lanes
 *         (lane i = the 4 products of elements 4i..4i+3, vpdpbusd on |w| and sign-adjusted a),
 *         each lane acc[i] = fma(dw * dx, (float)lane_i, acc[i]), then the 8-lane tree
 *         ((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7)) (hsum_float_8 / tinyBLAS hsum(__m256)).
 *   Q4_1, Q5_1 (vec_dot_type Q8_1): tinyBLAS declines them, so one token or many it is
 *         ggml_vec_dot_{q4_1,q5_1}_q8_1: the same 8 lanes over the unsigned quants,
 *         acc[i] = fma(dw * dx, lane_i, acc[i]), and a scalar summs = fma(m, s_a, summs) per
 *         block (GCC contracted summs += m * s into vfmadd231ss); result hsum8(acc) + summs.
 * (A product of two f16 values is exact in f32, so dw * dx and the fused m * s round nowhere;
 * the fmas on the int lanes do matter.)
 * The activations are lir_quantize_row_q8_0_act_ref / q8_1_act_ref's bytes (equal to ggml's
 * x86 quantize_row_q8_0 / q8_1, the s field of Q8_1 being f16(d * sum(qs))). */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "backend/cpu/ggml/gx.h"

static inline float h2f(lir_f16 h) { return lir_f16_to_f32(h); }

/* Quants of one block as 32 signed values in element order (element j < 16: low nibble of
 * qs[j]; element j + 16: its high nibble; Q5's fifth bit j of qh for element j). */
static inline void dec_q4_0(const block_q4_0 *b, int8_t q[32]) {
    for (int j = 0; j < 16; j++) {
        q[j] = (int8_t)((b->qs[j] & 15) - 8);
        q[j + 16] = (int8_t)((b->qs[j] >> 4) - 8);
    }
}
static inline void dec_q4_1(const block_q4_1 *b, int8_t q[32]) {
    for (int j = 0; j < 16; j++) {
        q[j] = (int8_t)(b->qs[j] & 15);
        q[j + 16] = (int8_t)(b->qs[j] >> 4);
    }
}
static inline uint32_t qh32(const uint8_t qh[4]) {
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}
static inline void dec_q5_0(const block_q5_0 *b, int8_t q[32]) {
    const uint32_t h = qh32(b->qh);
    for (int j = 0; j < 16; j++) {
        q[j] = (int8_t)(((b->qs[j] & 15) | ((h >> j) & 1) << 4) - 16);
        q[j + 16] = (int8_t)(((b->qs[j] >> 4) | ((h >> (j + 16)) & 1) << 4) - 16);
    }
}
static inline void dec_q5_1(const block_q5_1 *b, int8_t q[32]) {
    const uint32_t h = qh32(b->qh);
    for (int j = 0; j < 16; j++) {
        q[j] = (int8_t)((b->qs[j] & 15) | ((h >> j) & 1) << 4);
        q[j + 16] = (int8_t)((b->qs[j] >> 4) | ((h >> (j + 16)) & 1) << 4);
    }
}

/* vpdpbusd of one block into 8 zeroed int32 lanes: lane i sums elements 4i..4i+3 (exact) */
static inline void lanes8(const int8_t w[32], const int8_t a[32], int32_t l[8]) {
    for (int i = 0; i < 8; i++) {
        const int8_t *x = w + 4 * i, *y = a + 4 * i;
        l[i] = x[0] * y[0] + x[1] * y[1] + x[2] * y[2] + x[3] * y[3];
    }
}

/* ---- Q4_0: the repacked q4_0_8x8 gemv/gemm order (same for one token and many) ---- */

static float dot_q4_0_repack(int nb, const block_q4_0 *w, const block_q8_0 *a) {
    float acc = 0.0f;
    int8_t q[32];
    for (int b = 0; b < nb; b++) {
        dec_q4_0(&w[b], q);
        int32_t is = 0;
        for (int j = 0; j < 32; j++) is += q[j] * a[b].qs[j];
        acc = fmaf((float)is, h2f(w[b].d) * h2f(a[b].d), acc);
    }
    return acc;
}

/* ---- 8-lane vec_dot / tinyBLAS order, signed types (Q4_0 unrepacked, Q5_0, Q8_0) ---- */

#define DOT_Q0(T, DEC)                                                                      \
    static float dot8_##T(int nb, const block_##T *w, const block_q8_0 *a) {                \
        float acc[8] = { 0 };                                                               \
        int8_t q[32];                                                                       \
        int32_t l[8];                                                                       \
        for (int b = 0; b < nb; b++) {                                                      \
            DEC;                                                                            \
            lanes8(q, a[b].qs, l);                                                          \
            const float d = h2f(w[b].d) * h2f(a[b].d);                                      \
            for (int i = 0; i < 8; i++) acc[i] = fmaf(d, (float)l[i], acc[i]);              \
        }                                                                                   \
        return lir__gx_hsum8(acc);                                                                  \
    }
DOT_Q0(q4_0, dec_q4_0(&w[b], q))
DOT_Q0(q5_0, dec_q5_0(&w[b], q))
DOT_Q0(q8_0, memcpy(q, w[b].qs, 32))
#undef DOT_Q0

/* ---- Q4_1, Q5_1 against Q8_1: 8 lanes plus the fused scalar min term ---- */

#define DOT_Q1(T, DEC)                                                                      \
    static float dot8_##T(int nb, const block_##T *w, const block_q8_1 *a) {                \
        float acc[8] = { 0 }, summs = 0.0f;                                                 \
        int8_t q[32];                                                                       \
        int32_t l[8];                                                                       \
        for (int b = 0; b < nb; b++) {                                                      \
            summs = fmaf(h2f(w[b].m), h2f(a[b].s), summs);                                  \
            DEC;                                                                            \
            lanes8(q, a[b].qs, l);                                                          \
            const float d = h2f(w[b].d) * h2f(a[b].d);                                      \
            for (int i = 0; i < 8; i++) acc[i] = fmaf(d, (float)l[i], acc[i]);              \
        }                                                                                   \
        return lir__gx_hsum8(acc) + summs;                                                          \
    }
DOT_Q1(q4_1, dec_q4_1(&w[b], q))
DOT_Q1(q5_1, dec_q5_1(&w[b], q))
#undef DOT_Q1

/* ---- lir_gemm_fn wrappers: out[c*os + r] = dot(row r of w, row c of a) ---- */

#define GEMM(NAME, WT, AT, DOT)                                                                          \
    void lir__gx_gemm_##NAME(int n, const void *w, size_t ws, const void *a, size_t as, float *out,      \
                             size_t os, int nr, int nc) {                                               \
        const int nb = n / 32;                                                                          \
        for (int c = 0; c < nc; c++) {                                                                  \
            const AT *ac = (const AT *)((const char *)a + (size_t)c * as);                              \
            for (int r = 0; r < nr; r++)                                                                \
                out[(size_t)c * os + r] = DOT(nb, (const WT *)((const char *)w + (size_t)r * ws), ac);  \
        }                                                                                               \
    }

GEMM(q4_0_one, block_q4_0, block_q8_0, dot_q4_0_repack)
GEMM(q4_0_many, block_q4_0, block_q8_0, dot_q4_0_repack)
/* Q4_0 weights ggml does NOT repack (a tensor with ne1 % 8 != 0, e.g. an output matrix of an odd
 * vocabulary): vec_dot_q4_0_q8_0 for one token and tinyBLAS for many, both the 8-lane order.
 */
GEMM(q4_0_norepack, block_q4_0, block_q8_0, dot8_q4_0)
GEMM(q4_1_one, block_q4_1, block_q8_1, dot8_q4_1)
GEMM(q4_1_many, block_q4_1, block_q8_1, dot8_q4_1)
GEMM(q5_0_one, block_q5_0, block_q8_0, dot8_q5_0)
GEMM(q5_0_many, block_q5_0, block_q8_0, dot8_q5_0)
GEMM(q5_1_one, block_q5_1, block_q8_1, dot8_q5_1)
GEMM(q5_1_many, block_q5_1, block_q8_1, dot8_q5_1)
GEMM(q8_0_one, block_q8_0, block_q8_0, dot8_q8_0)
GEMM(q8_0_many, block_q8_0, block_q8_0, dot8_q8_0)
#undef GEMM
