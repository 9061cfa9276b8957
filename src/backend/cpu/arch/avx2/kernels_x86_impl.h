/* kernels_x86_impl.h — the x86 SIMD kernels, written once and compiled twice: by
 * arch/avx2/kernels_avx2.c (AVX2+FMA+F16C) and arch/avx512/kernels_avx512.c (adds AVX-512
 * VL/BW + VNNI). Not a public header: include it only from those two files, after defining
 *
 *   KX_VNNI        1 when AVX-512 VNNI (256-bit forms, via VL) may be used
 *   KX_TABLE       the table's symbol, KX_ISA its name
 *   KX_RMD         rows per tile for decode (nc == 1)
 *   KX_RMP, KX_RNP rows x columns per tile for prompt processing
 *
 * Work on the native (ggml) block layouts, in place: weights are never repacked. All vectors
 * are 256-bit: on Zen 4, 512-bit ops are double-pumped, so ymm costs the same per byte and
 * leaves 32 registers (with AVX-512VL) for tiles.
 *
 * Tiling: a tile is RM weight rows x RN activation columns. Per block, each row's weights are
 * unpacked once and dotted against RN columns; each column's activation is loaded once per
 * RM rows. The integer part of each dot is exact; float sums are reordered (per-lane
 * partial sums), which is the only difference from the references. */

#include <immintrin.h>
#include <math.h>
#include <string.h>
#include "backend/cpu/kernels.h"

#define AI static inline __attribute__((always_inline))
/* tile loops have constant trip counts: unroll them fully so tiles live in registers */
#define UNROLL _Pragma("GCC unroll 16")

/* ---------------------------------------------------------------- ISA primitives */

#if KX_VNNI
/* acc + sum of 4 products u8*s8 per 32-bit lane */
#define DPBUSD(acc, u, s) _mm256_dpbusd_epi32((acc), (u), (s))
/* acc + sum of 2 products i16*i16 per lane */
#define DPWSSD(acc, a, b) _mm256_dpwssd_epi32((acc), (a), (b))
/* 32 bits -> 32 bytes: byte i = v if bit i set, else 0 */
AI __m256i bits_to_bytes(uint32_t bits, __m256i v) { return _mm256_maskz_mov_epi8((__mmask32)bits, v); }
#else
/* maddubs saturates int16 pairs: callers keep u*|s|*2 <= 32767 (u <= 128) */
#define DPBUSD(acc, u, s) _mm256_add_epi32((acc), _mm256_madd_epi16(_mm256_maddubs_epi16((u), (s)), _mm256_set1_epi16(1)))
#define DPWSSD(acc, a, b) _mm256_add_epi32((acc), _mm256_madd_epi16((a), (b)))
AI __m256i bits_to_bytes(uint32_t bits, __m256i v) {
    const __m256i shuf = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3,
                                          3, 3, 3, 3, 3, 3);
    const __m256i sel = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), shuf);
    b = _mm256_cmpeq_epi8(_mm256_and_si256(b, sel), sel);
    return _mm256_and_si256(b, v);
}
#endif

/* ---------------------------------------------------------------- small helpers */

/* Decode (nc == 1) streams the weights from memory with little compute per byte: the
 * hardware prefetcher alone leaves the core waiting (measured: Q4_0 ~11 GB/s of ~28). Each
 * row group prefetches the same blocks KX_PF_GROUPS row groups further down. */
#ifndef KX_PF_GROUPS
#define KX_PF_GROUPS 2
#endif
#define PF_AHEAD(RM, ws) ((size_t)KX_PF_GROUPS * (size_t)(RM) * (ws))
#define TILE_DIM KX_RNP                                   /* max columns per tile */
#define KX_RMAX (KX_RMD > KX_RMP ? KX_RMD : KX_RMP)       /* max rows per tile */

AI float h2f(lir_f16 h) { return _cvtsh_ss(h); }

AI float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AI int hsum_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

AI __m128i ld128(const void *p) { return _mm_loadu_si128((const __m128i *)p); }
AI __m256i ld256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* 16 bytes at lo in lanes 0..15, 16 bytes at hi in lanes 16..31; hi absent (two == 0): zeros */
AI __m256i ld_pair(const void *lo, const void *hi, const int two) {
    if (!two) return _mm256_zextsi128_si256(ld128(lo));
    return _mm256_inserti128_si256(_mm256_castsi128_si256(ld128(lo)), ld128(hi), 1);
}

/* f16 scales h0, h1 -> 8 floats laid out by idx (lane i gets h[idx[i]]) */
AI __m256 pair_scale(lir_f16 h0, lir_f16 h1, __m256i idx) {
    const __m128 f = _mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)h0 | (uint32_t)h1 << 16)));
    return _mm256_permutevar8x32_ps(_mm256_castps128_ps256(f), idx);
}

/* store the horizontal sums of a RM x RN tile of accumulators */
#define STORE_TILE(acc, out, os, RM, RN)                                          \
    UNROLL for (int r_ = 0; r_ < (RM); r_++)                                             \
        UNROLL for (int c_ = 0; c_ < (RN); c_++) (out)[(size_t)c_ * (os) + r_] = hsum_ps((acc)[r_][c_]);

/* gemm driver: tile T##_tile(nb, w, ws, a, as, out, os, RM, RN) with constant RM, RN.
 * Decode (nc == 1): RMD rows at a time straight down the rows (streaming the weights once).
 * Prompt: RMP x RNP tiles; blocks of KX_ROWBLK rows so the rows stay in L2 while every
 * column tile passes over them. */
#ifndef KX_ROWBLK
#define KX_ROWBLK 64
#endif
#define GEMM_DRIVER(T, BLK) GEMM_DRIVER_DEC(T, BLK, no_decode)
#define GEMM_DRIVER_DEC(T, BLK, DEC) GEMM_DRIVER_X(T, BLK, DEC, KX_RMP, KX_RNP)
/* decode hook: a type may handle nc == 1 itself (returns 1), or decline (returns 0) */
AI int no_decode(int nb, const char *W, size_t ws, const char *A, float *out, int nr) { return 0; }
/* RMP x RNP: the prompt tile wanted for this type, capped at what this ISA's arrays hold */
#define KX_CAPM(m) ((m) < KX_RMAX ? (m) : KX_RMAX)
#define KX_CAPN(n) ((n) < TILE_DIM ? (n) : TILE_DIM)
#define GEMM_DRIVER_X(T, BLK, DEC, RMP_, RNP_) GEMM_DRIVER_Y(T, BLK, DEC, KX_CAPM(RMP_), KX_CAPN(RNP_))
#define GEMM_DRIVER_Y(T, BLK, DEC, RMP, RNP)                                                        \
    AI void T##_rows(int nb, const char *W, size_t ws, const char *A, size_t as, float *out,    \
                         size_t os, int r0, int r1, const int RN) {                                 \
        int r = r0;                                                                                  \
        for (; r + (RMP) <= r1; r += (RMP)) T##_tile(nb, W + (size_t)r * ws, ws, A, as, out + r, os, (RMP), RN); \
        for (; r < r1; r++) T##_tile(nb, W + (size_t)r * ws, ws, A, as, out + r, os, 1, RN);        \
    }                                                                                               \
    static __attribute__((unused)) void gemm_##T(int n, const void *w, size_t ws, const void *a,    \
                                                size_t as, float *out,                         \
                         size_t os, int nr, int nc) {                                               \
        const int nb = n / (BLK);                                                                   \
        const char *W = w, *A = a;                                                                  \
        if (nc == 1) {                                                                              \
            if (DEC(nb, W, ws, A, out, nr)) return;                                                 \
            int r = 0;                                                                              \
            for (; r + KX_RMD <= nr; r += KX_RMD) T##_tile(nb, W + (size_t)r * ws, ws, A, as, out + r, os, KX_RMD, 1); \
            for (; r < nr; r++) T##_tile(nb, W + (size_t)r * ws, ws, A, as, out + r, os, 1, 1);     \
            return;                                                                                 \
        }                                                                                           \
        for (int r0 = 0; r0 < nr; r0 += KX_ROWBLK) {                                                \
            const int r1 = nr - r0 < KX_ROWBLK ? nr : r0 + KX_ROWBLK;                               \
            int c = 0;                                                                              \
            for (; c + (RNP) <= nc; c += (RNP))                                                   \
                T##_rows(nb, W, ws, A + (size_t)c * as, as, out + (size_t)c * os, os, r0, r1, (RNP)); \
            for (; c < nc; c++) T##_rows(nb, W, ws, A + (size_t)c * as, as, out + (size_t)c * os, os, r0, r1, 1); \
        }                                                                                           \
    }                                                                                               \
    static void vec_dot_##T(int n, float *s, const void *x, const void *y) {                        \
        T##_tile(n / (BLK), x, 0, y, 0, s, 0, 1, 1);                                                \
    }

/* ======================================================================================
 * Q4_0, Q4_1, Q5_0, Q5_1 (x Q8_0 / Q8_1): two blocks per step. A ymm holds the low
 * nibbles (elements 0..15) of block b and b+1, another the high nibbles (16..31); the
 * activations are loaded in the same order. Lanes 0..3 are block b, 4..7 block b+1.
 * Offsets (-8 for Q4_0, -16 for Q5_0) are folded into the integer accumulator's start value,
 * -off * (sum of the activation's 4 bytes in that lane), computed once per column.
 * ====================================================================================== */

/* ---- Q4_0 decode (nc == 1): the one activation column is prepared once per call, per quad
 * of blocks (128 elements): nibble-ordered bytes, the -8 offsets, and its scales; then each
 * row streams through with only its own work: per quad one gather of the 4 f16 scales (two
 * of them read with their neighbour bytes, see quad_scales), 2 x (unpack, 2 vpdpbusd, FMA). */
#define DEC_MAX_QUADS 128 /* n <= 16384 on the decode path; longer rows use the tiles */

/* f16 scales of 4 consecutive blocks of bs bytes (scale first in the block) -> f32 lanes
 * 0, 3, 4, 7 (the other lanes hold neighbouring bytes; callers discard them) */
AI __m256 quad_scales(const char *x0, size_t bs) {
    uint32_t u0, u1, u2, u3;
    memcpy(&u0, x0, 4);
    memcpy(&u1, x0 + bs - 2, 4);
    memcpy(&u2, x0 + 2 * bs, 4);
    memcpy(&u3, x0 + 3 * bs - 2, 4);
    return _mm256_cvtph_ps(_mm_setr_epi32((int)u0, (int)u1, (int)u2, (int)u3));
}

struct q4_0_dquad { __m256i alo[2], ahi[2], aoff[2]; __m256 da; };

AI void q4_0_dec_rows(const int RM, int nq, const struct q4_0_dquad *qa, const char *W, size_t ws, float *out) {
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    const __m256i iq = _mm256_setr_epi32(0, 0, 4, 4, 3, 3, 7, 7);
    __m256 acc[KX_RMAX];
    UNROLL for (int r = 0; r < KX_RMAX; r++) acc[r] = _mm256_setzero_ps();
    for (int q = 0; q < nq; q++) {
        UNROLL for (int r = 0; r < RM; r++) {
            const char *x0 = W + (size_t)r * ws + (size_t)q * 4 * sizeof(block_q4_0);
            _mm_prefetch(x0 + PF_AHEAD(RM, ws), _MM_HINT_T0);
            const __m256 sc = _mm256_mul_ps(quad_scales(x0, sizeof(block_q4_0)), qa[q].da);
            __m256i i[2];
            UNROLL for (int p = 0; p < 2; p++) {
                const char *xp = x0 + 2 * p * sizeof(block_q4_0);
                const __m256i v = ld_pair(xp + 2, xp + sizeof(block_q4_0) + 2, 1);
                const __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
                i[p] = DPBUSD(DPBUSD(qa[q].aoff[p], lo, qa[q].alo[p]), hi, qa[q].ahi[p]);
            }
            /* lanes [b0 b0 b2 b2 | b1 b1 b3 b3]: one conversion and FMA per quad */
            acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_hadd_epi32(i[0], i[1])), _mm256_permutevar8x32_ps(sc, iq), acc[r]);
        }
    }
    UNROLL for (int r = 0; r < RM; r++) out[r] = hsum_ps(acc[r]);
}

AI void q4_0_tile(int nb, const char *w, size_t ws, const char *a, size_t as, float *out, size_t os, const int RM,
                  const int RN);

static int q4_0_decode(int nb, const char *W, size_t ws, const char *A, float *out, int nr) {
    const int nq = nb / 4;
    if (nq == 0 || nq > DEC_MAX_QUADS) return 0;
    struct q4_0_dquad qa[DEC_MAX_QUADS];
    const __m256i off = _mm256_set1_epi8(8);
    for (int q = 0; q < nq; q++) {
        const char *y = A + (size_t)q * 4 * sizeof(block_q8_0);
        for (int p = 0; p < 2; p++) {
            const char *y0 = y + 2 * p * sizeof(block_q8_0), *y1 = y0 + sizeof(block_q8_0);
            qa[q].alo[p] = ld_pair(y0 + 2, y1 + 2, 1);
            qa[q].ahi[p] = ld_pair(y0 + 18, y1 + 18, 1);
            const __m256i sum = DPBUSD(DPBUSD(_mm256_setzero_si256(), off, qa[q].alo[p]), off, qa[q].ahi[p]);
            qa[q].aoff[p] = _mm256_sub_epi32(_mm256_setzero_si256(), sum);
        }
        qa[q].da = quad_scales(y, sizeof(block_q8_0));
    }
    const int tail = nb - 4 * nq;
    const size_t wt = (size_t)nq * 4 * sizeof(block_q4_0);
    const char *At = A + (size_t)nq * 4 * sizeof(block_q8_0);
    int r = 0;
    for (; r + KX_RMD <= nr; r += KX_RMD) q4_0_dec_rows(KX_RMD, nq, qa, W + (size_t)r * ws, ws, out + r);
    for (; r < nr; r++) q4_0_dec_rows(1, nq, qa, W + (size_t)r * ws, ws, out + r);
    if (tail)
        for (r = 0; r < nr; r++) {
            float t;
            q4_0_tile(tail, W + (size_t)r * ws + wt, ws, At, 0, &t, 0, 1, 1);
            out[r] += t;
        }
    return 1;
}

/* KIND: 0 = Q4_0, 1 = Q4_1, 2 = Q5_0, 3 = Q5_1 */
AI void qlegacy_step(const int KIND, int b, const int two, const char *w, size_t ws, const char *a, size_t as,
                     const int RM, const int RN, __m256 acc[][TILE_DIM], float accm[][TILE_DIM]) {
    const size_t wsz = KIND == 0 ? sizeof(block_q4_0) : KIND == 1 ? sizeof(block_q4_1) : KIND == 2 ? sizeof(block_q5_0) : sizeof(block_q5_1);
    const size_t qso = KIND == 0 ? 2 : KIND == 1 ? 4 : KIND == 2 ? 6 : 8;  /* offset of qs in the block */
    const size_t asz = (KIND & 1) ? sizeof(block_q8_1) : sizeof(block_q8_0);
    const size_t aqo = (KIND & 1) ? 4 : 2;
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    const __m256i idx = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1);
    __m256i alo[TILE_DIM], ahi[TILE_DIM], aoff[TILE_DIM];
    __m256 da[TILE_DIM];
    UNROLL for (int c = 0; c < RN; c++) {
        const char *y0 = a + (size_t)c * as + (size_t)b * asz, *y1 = y0 + asz;
        alo[c] = ld_pair(y0 + aqo, y1 + aqo, two);
        ahi[c] = ld_pair(y0 + aqo + 16, y1 + aqo + 16, two);
        if (KIND == 0 || KIND == 2) {
            const __m256i off = _mm256_set1_epi8(KIND == 0 ? 8 : 16);
            __m256i s = DPBUSD(_mm256_setzero_si256(), off, alo[c]);
            s = DPBUSD(s, off, ahi[c]);
            aoff[c] = _mm256_sub_epi32(_mm256_setzero_si256(), s);
        } else {
            aoff[c] = _mm256_setzero_si256();
        }
        lir_f16 d0, d1 = 0;
        memcpy(&d0, y0, 2);
        if (two) memcpy(&d1, y1, 2);
        da[c] = pair_scale(d0, d1, idx);
    }
    UNROLL for (int r = 0; r < RM; r++) {
        const char *x0 = w + (size_t)r * ws + (size_t)b * wsz, *x1 = x0 + wsz;
        const __m256i q = ld_pair(x0 + qso, x1 + qso, two);
        __m256i lo = _mm256_and_si256(q, m4);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        if (KIND >= 2) {
            uint32_t h0, h1 = 0;
            memcpy(&h0, x0 + qso - 4, 4);
            if (two) memcpy(&h1, x1 + qso - 4, 4);
            const __m256i v16 = _mm256_set1_epi8(0x10);
            lo = _mm256_or_si256(lo, bits_to_bytes((h0 & 0xffff) | h1 << 16, v16));
            hi = _mm256_or_si256(hi, bits_to_bytes(h0 >> 16 | (h1 & 0xffff0000u), v16));
        }
        lir_f16 d0, d1 = 0;
        memcpy(&d0, x0, 2);
        if (two) memcpy(&d1, x1, 2);
        const __m256 dw = pair_scale(d0, d1, idx);
        float m0 = 0, m1 = 0;
        if (KIND & 1) {
            lir_f16 h;
            memcpy(&h, x0 + 2, 2);
            m0 = h2f(h);
            if (two) { memcpy(&h, x1 + 2, 2); m1 = h2f(h); }
        }
        UNROLL for (int c = 0; c < RN; c++) {
            __m256i i = DPBUSD(aoff[c], lo, alo[c]);
            i = DPBUSD(i, hi, ahi[c]);
            acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i), _mm256_mul_ps(dw, da[c]), acc[r][c]);
            if (KIND & 1) {
                const char *y0 = a + (size_t)c * as + (size_t)b * asz;
                lir_f16 s;
                memcpy(&s, y0 + 2, 2);
                float t = m0 * h2f(s);
                if (two) { memcpy(&s, y0 + asz + 2, 2); t += m1 * h2f(s); }
                accm[r][c] += t;
            }
        }
    }
}

#define QLEGACY_TILE(T, KIND)                                                                      \
    AI void T##_tile(int nb, const char *w, size_t ws, const char *a, size_t as, float *out, size_t os, \
                     const int RM, const int RN) {                                                  \
        __m256 acc[KX_RMAX][TILE_DIM];                                                      \
        float accm[KX_RMAX][TILE_DIM];                                                      \
        UNROLL for (int r = 0; r < KX_RMAX; r++)                                                    \
            UNROLL for (int c = 0; c < TILE_DIM; c++) { acc[r][c] = _mm256_setzero_ps(); accm[r][c] = 0; } \
        int b = 0;                                                                                  \
        for (; b + 2 <= nb; b += 2) qlegacy_step(KIND, b, 1, w, ws, a, as, RM, RN, acc, accm);     \
        if (b < nb) qlegacy_step(KIND, b, 0, w, ws, a, as, RM, RN, acc, accm);                     \
        UNROLL for (int r = 0; r < RM; r++)                                                                \
            UNROLL for (int c = 0; c < RN; c++) out[(size_t)c * os + r] = hsum_ps(acc[r][c]) + accm[r][c]; \
    }
QLEGACY_TILE(q4_0, 0)
QLEGACY_TILE(q4_1, 1)
QLEGACY_TILE(q5_0, 2)
QLEGACY_TILE(q5_1, 3)
GEMM_DRIVER_DEC(q4_0, QK4_0, q4_0_decode)
GEMM_DRIVER(q4_1, QK4_1)
GEMM_DRIVER(q5_0, QK5_0)
GEMM_DRIVER(q5_1, QK5_1)

/* ======================================================================================
 * Q8_0 x Q8_0: one block per ymm, two blocks per step. With VNNI the signed weights are
 * biased to unsigned (w ^ 0x80 = w + 128) and 128 * sum(a) is taken back out through the
 * accumulator's start value (per column); without, |w| * sign(a, w) through maddubs.
 * The two blocks' 8-lane results are folded by hadd into [b, b, b+1, b+1] x 2 lanes.
 * ====================================================================================== */

AI void q8_0_step(int b, const int two, const char *w, size_t ws, const char *a, size_t as, const int RM,
                  const int RN, __m256 acc[][TILE_DIM]) {
    const size_t bs = sizeof(block_q8_0);
    const __m256i idx = _mm256_setr_epi32(0, 0, 1, 1, 0, 0, 1, 1);
    __m256i a0[TILE_DIM], a1[TILE_DIM];
    __m256 da[TILE_DIM];
#if KX_VNNI
    const __m256i x80 = _mm256_set1_epi8((char)0x80);
    __m256i n0[TILE_DIM], n1[TILE_DIM];
#endif
    UNROLL for (int c = 0; c < RN; c++) {
        const char *y0 = a + (size_t)c * as + (size_t)b * bs;
        a0[c] = ld256(y0 + 2);
        a1[c] = two ? ld256(y0 + bs + 2) : _mm256_setzero_si256();
#if KX_VNNI
        n0[c] = _mm256_sub_epi32(_mm256_setzero_si256(), DPBUSD(_mm256_setzero_si256(), x80, a0[c]));
        n1[c] = _mm256_sub_epi32(_mm256_setzero_si256(), DPBUSD(_mm256_setzero_si256(), x80, a1[c]));
#endif
        lir_f16 d0, d1 = 0;
        memcpy(&d0, y0, 2);
        if (two) memcpy(&d1, y0 + bs, 2);
        da[c] = pair_scale(d0, d1, idx);
    }
    UNROLL for (int r = 0; r < RM; r++) {
        const char *x0 = w + (size_t)r * ws + (size_t)b * bs;
        __m256i w0 = ld256(x0 + 2);
        __m256i w1 = two ? ld256(x0 + bs + 2) : _mm256_setzero_si256();
        lir_f16 d0, d1 = 0;
        memcpy(&d0, x0, 2);
        if (two) memcpy(&d1, x0 + bs, 2);
        const __m256 dw = pair_scale(d0, d1, idx);
#if KX_VNNI
        w0 = _mm256_xor_si256(w0, x80);
        w1 = _mm256_xor_si256(w1, x80);
#else
        const __m256i u0 = _mm256_sign_epi8(w0, w0), u1 = _mm256_sign_epi8(w1, w1);
#endif
        UNROLL for (int c = 0; c < RN; c++) {
#if KX_VNNI
            const __m256i i0 = DPBUSD(n0[c], w0, a0[c]);
            const __m256i i1 = DPBUSD(n1[c], w1, a1[c]);
#else
            const __m256i i0 = DPBUSD(_mm256_setzero_si256(), u0, _mm256_sign_epi8(a0[c], w0));
            const __m256i i1 = DPBUSD(_mm256_setzero_si256(), u1, _mm256_sign_epi8(a1[c], w1));
#endif
            const __m256i i = _mm256_hadd_epi32(i0, i1);
            acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i), _mm256_mul_ps(dw, da[c]), acc[r][c]);
        }
    }
}

AI void q8_0_tile(int nb, const char *w, size_t ws, const char *a, size_t as, float *out, size_t os, const int RM,
                  const int RN) {
    __m256 acc[KX_RMAX][TILE_DIM];
    UNROLL for (int r = 0; r < KX_RMAX; r++)
        UNROLL for (int c = 0; c < TILE_DIM; c++) acc[r][c] = _mm256_setzero_ps();
    int b = 0;
    for (; b + 2 <= nb; b += 2) q8_0_step(b, 1, w, ws, a, as, RM, RN, acc);
    if (b < nb) q8_0_step(b, 0, w, ws, a, as, RM, RN, acc);
    STORE_TILE(acc, out, os, RM, RN)
}
/* ---- Q8_0 decode: as Q4_0's; per quad of blocks the activation's 128 * sum and scales */
struct q8_0_dquad { __m256i a[4], aoff[4]; __m256 da; };

AI void q8_0_dec_rows(const int RM, int nq, const struct q8_0_dquad *qa, const char *W, size_t ws, float *out) {
    const __m256i i01 = _mm256_setr_epi32(0, 0, 3, 3, 0, 0, 3, 3), i23 = _mm256_setr_epi32(4, 4, 7, 7, 4, 4, 7, 7);
#if KX_VNNI
    const __m256i x80 = _mm256_set1_epi8((char)0x80);
#endif
    __m256 acc[KX_RMAX];
    UNROLL for (int r = 0; r < KX_RMAX; r++) acc[r] = _mm256_setzero_ps();
    for (int q = 0; q < nq; q++) {
        UNROLL for (int r = 0; r < RM; r++) {
            const char *x0 = W + (size_t)r * ws + (size_t)q * 4 * sizeof(block_q8_0);
            _mm_prefetch(x0 + PF_AHEAD(RM, ws), _MM_HINT_T0);
            _mm_prefetch(x0 + PF_AHEAD(RM, ws) + 64, _MM_HINT_T0);
            const __m256 sc = _mm256_mul_ps(quad_scales(x0, sizeof(block_q8_0)), qa[q].da);
            __m256i i[4];
            UNROLL for (int k = 0; k < 4; k++) {
                const __m256i wv = ld256(x0 + k * sizeof(block_q8_0) + 2);
#if KX_VNNI
                i[k] = DPBUSD(qa[q].aoff[k], _mm256_xor_si256(wv, x80), qa[q].a[k]);
#else
                i[k] = DPBUSD(_mm256_setzero_si256(), _mm256_sign_epi8(wv, wv), _mm256_sign_epi8(qa[q].a[k], wv));
#endif
            }
            acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_hadd_epi32(i[0], i[1])), _mm256_permutevar8x32_ps(sc, i01), acc[r]);
            acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_hadd_epi32(i[2], i[3])), _mm256_permutevar8x32_ps(sc, i23), acc[r]);
        }
    }
    UNROLL for (int r = 0; r < RM; r++) out[r] = hsum_ps(acc[r]);
}

AI void q8_0_tile(int nb, const char *w, size_t ws, const char *a, size_t as, float *out, size_t os, const int RM,
                  const int RN);

static int q8_0_decode(int nb, const char *W, size_t ws, const char *A, float *out, int nr) {
    const int nq = nb / 4;
    if (nq == 0 || nq > DEC_MAX_QUADS) return 0;
    struct q8_0_dquad qa[DEC_MAX_QUADS];
    for (int q = 0; q < nq; q++) {
        const char *y = A + (size_t)q * 4 * sizeof(block_q8_0);
        for (int k = 0; k < 4; k++) {
            qa[q].a[k] = ld256(y + k * sizeof(block_q8_0) + 2);
            const __m256i sum = DPBUSD(_mm256_setzero_si256(), _mm256_set1_epi8((char)0x80), qa[q].a[k]);
            qa[q].aoff[k] = _mm256_sub_epi32(_mm256_setzero_si256(), sum); /* unused without VNNI */
        }
        qa[q].da = quad_scales(y, sizeof(block_q8_0));
    }
    const int tail = nb - 4 * nq;
    const size_t wt = (size_t)nq * 4 * sizeof(block_q8_0);
    int r = 0;
    for (; r + KX_RMD <= nr; r += KX_RMD) q8_0_dec_rows(KX_RMD, nq, qa, W + (size_t)r * ws, ws, out + r);
    for (; r < nr; r++) q8_0_dec_rows(1, nq, qa, W + (size_t)r * ws, ws, out + r);
    if (tail)
        for (r = 0; r < nr; r++) {
            float t;
            q8_0_tile(tail, W + (size_t)r * ws + wt, ws, A + wt, 0, &t, 0, 1, 1);
            out[r] += t;
        }
    return 1;
}
GEMM_DRIVER_DEC(q8_0, QK8_0, q8_0_decode)

/* ======================================================================================
 * K-quants x Q8_K. Weights are widened to unsigned bytes (32 per ymm), multiplied with the
 * activation bytes by maddubs into 16 int16 pair sums (no saturation: |q| <= 63, |a| <= 127),
 * then dpwssd multiplies by the (sub-)block scales as int16 and accumulates in int32. Level
 * offsets and mins are taken out with the activation's bsums (sums of 16) times the scales.
 * ====================================================================================== */

/* shuffle index that broadcasts int16 element k of each 128-bit lane */
AI __m256i bcast16_idx(int k) { return _mm256_set1_epi16((short)((2 * k) | (2 * k + 1) << 8)); }

/* Q4_K / Q5_K scales: 12 bytes -> 8 six-bit scales (bytes 0..7) and 8 mins (bytes 8..15).
 *   j < 4:  scale = s[j] & 63,                      min = s[j+4] & 63
 *   j >= 4: scale = s[j+4] & 15 | (s[j-4] >> 6) << 4, min = s[j+4] >> 4 | (s[j] >> 6) << 4
 * In vector registers (reads 16 bytes: the 4 after the scales belong to the same block). */
AI __m128i unpack_scales_k4(const uint8_t *s12) {
    const __m128i v = _mm_loadu_si128((const __m128i *)s12);
    const __m128i a = _mm_shuffle_epi8(v, _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11));
    const __m128i b = _mm_shuffle_epi8(v, _mm_setr_epi8(-1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7));
    const __m128i lo = _mm_blend_epi32(a, _mm_srli_epi16(a, 4), 0x8); /* mins 4..7 from high nibbles */
    const __m128i m = _mm_setr_epi8(63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 15, 15, 15, 15);
    return _mm_or_si128(_mm_and_si128(lo, m), _mm_and_si128(_mm_srli_epi16(b, 2), _mm_set1_epi8(0x30)));
}

/* Q4_K (H5 = 0) and Q5_K (H5 = 1). Group g (0..3) covers 64 elements: low nibbles of
 * qs[32g..32g+32) are sub-block 2g, high nibbles 2g+1; Q5_K's fifth bit of element l of
 * sub-block j is bit j of qh[l]. */
AI void qk45_tile(const int H5, int nb, const char *w, size_t ws, const char *a, size_t as, float *out, size_t os,
                  const int RM, const int RN) {
    const size_t bs = H5 ? sizeof(block_q5_K) : sizeof(block_q4_K);
    const size_t qso = H5 ? 48 : 16;
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m256 acc[KX_RMAX][TILE_DIM];
    UNROLL for (int r = 0; r < KX_RMAX; r++)
        UNROLL for (int c = 0; c < TILE_DIM; c++) acc[r][c] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        __m256i isum[KX_RMAX][TILE_DIM];
        __m256i scv[KX_RMAX], mins[KX_RMAX];
        UNROLL for (int r = 0; r < RM; r++) {
            const char *x = w + (size_t)r * ws + (size_t)b * bs;
            if (RN == 1) /* decode */
                for (size_t o = 0; o < bs; o += 64) _mm_prefetch(x + PF_AHEAD(RM, ws) + o, _MM_HINT_T0);
            const __m128i sm = unpack_scales_k4((const uint8_t *)x + 4);
            scv[r] = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
            mins[r] = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm)); /* m0 m0 m1 m1 .. */
            UNROLL for (int c = 0; c < TILE_DIM; c++) isum[r][c] = _mm256_setzero_si256();
        }
        UNROLL for (int g = 0; g < 4; g++) {
            __m256i lo[KX_RMAX], hi[KX_RMAX], s0[KX_RMAX], s1[KX_RMAX];
            UNROLL for (int r = 0; r < RM; r++) {
                const char *x = w + (size_t)r * ws + (size_t)b * bs;
                const __m256i q = ld256(x + qso + 32 * g);
                lo[r] = _mm256_and_si256(q, m4);
                hi[r] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
                if (H5) {
                    const __m256i qh = ld256(x + 16);
                    const __m256i v16 = _mm256_set1_epi8(0x10);
                    const __m256i b0 = _mm256_set1_epi8((char)(1 << (2 * g))), b1 = _mm256_set1_epi8((char)(2 << (2 * g)));
                    lo[r] = _mm256_or_si256(lo[r], _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, b0), b0), v16));
                    hi[r] = _mm256_or_si256(hi[r], _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, b1), b1), v16));
                }
                s0[r] = _mm256_shuffle_epi8(scv[r], bcast16_idx(2 * g));
                s1[r] = _mm256_shuffle_epi8(scv[r], bcast16_idx(2 * g + 1));
            }
            UNROLL for (int c = 0; c < RN; c++) {
                const block_q8_K *y = (const block_q8_K *)(a + (size_t)c * as) + b;
                const __m256i a0 = ld256(y->qs + 64 * g), a1 = ld256(y->qs + 64 * g + 32);
                UNROLL for (int r = 0; r < RM; r++) {
                    isum[r][c] = DPWSSD(isum[r][c], _mm256_maddubs_epi16(lo[r], a0), s0[r]);
                    isum[r][c] = DPWSSD(isum[r][c], _mm256_maddubs_epi16(hi[r], a1), s1[r]);
                }
            }
        }
        UNROLL for (int r = 0; r < RM; r++) {
            const char *x = w + (size_t)r * ws + (size_t)b * bs;
            lir_f16 hd, hm;
            memcpy(&hd, x, 2);
            memcpy(&hm, x + 2, 2);
            const float d = h2f(hd), dmin = h2f(hm);
            UNROLL for (int c = 0; c < RN; c++) {
                const block_q8_K *y = (const block_q8_K *)(a + (size_t)c * as) + b;
                const __m256i mn = _mm256_madd_epi16(ld256(y->bsums), mins[r]);
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[r][c]), _mm256_set1_ps(d * y->d), acc[r][c]);
                acc[r][c] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(mn), _mm256_set1_ps(dmin * y->d), acc[r][c]);
            }
        }
    }
    STORE_TILE(acc, out, os, RM, RN)
}

AI void q4_K_tile(int nb, const char *w, size_t ws, const char *a, size_t as, float *out, size_t os, const int RM,
                  const int RN) {
    qk45_tile(0, nb, w, ws, a, as, out, os, RM, RN);
}
AI void q5_K_tile(int nb, const char *w, size_t ws, const char *a, size_t as, float *out, size_t os, const int RM,
                  const int RN) {
    qk45_tile(1, nb, w, ws, a, as, out, os, RM, RN);
}
GEMM_DRIVER_X(q4_K, QK_K, no_decode, 4, 4)
GEMM_DRIVER(q5_K, QK_K)

/* Q2_K, Q3_K, Q6_K: 16 scales per block, one per 16 elements. Element order in every one of
 * them: half h (128 elements) x part k (32 elements); part k of half h uses scales
 * 8h+2k (first 16) and 8h+2k+1 (next 16): lanes 0..7 of the maddubs result are the first 16
 * elements (lane 0..7 = low 128 bits), lanes 8..15 the next. sv = the 16 scales as int16,
 * with scales 8h..8h+7 in both 128-bit halves (built per half). */
AI __m256i scales16_part(__m256i sv_half, int k) {
    const __m256i idx = _mm256_setr_epi8(4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k,
                                         4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k + 2,
                                         4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3,
                                         4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2,
                                         4 * k + 3);
    return _mm256_shuffle_epi8(sv_half, idx);
}

/* Q6_K: part k of half h is (ql[64h + 32(k&1) + l] >> 4(k>>1)) & 15 | ((qh[32h + l] >> 2k) & 3) << 4,
 * minus 32. */
AI void q6_K_tile(int nb, const char *w, size_t ws, const char *a, size_t as, float *out, size_t os, const int RM,
                  const int RN) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30);
    __m256 acc[KX_RMAX][TILE_DIM];
    UNROLL for (int r = 0; r < KX_RMAX; r++)
        UNROLL for (int c = 0; c < TILE_DIM; c++) acc[r][c] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        __m256i isum[KX_RMAX][TILE_DIM];
        __m256i sv[KX_RMAX];
        UNROLL for (int r = 0; r < RM; r++) {
            const block_q6_K *x = (const block_q6_K *)(w + (size_t)r * ws) + b;
            if (RN == 1) /* decode */
                for (size_t o = 0; o < sizeof *x; o += 64) _mm_prefetch((const char *)x + PF_AHEAD(RM, ws) + o, _MM_HINT_T0);
            sv[r] = _mm256_cvtepi8_epi16(ld128(x->scales));
            UNROLL for (int c = 0; c < RN; c++) {
                /* -32 * sum_j scale_j * bsum_j, as the accumulator's start */
                const block_q8_K *y = (const block_q8_K *)(a + (size_t)c * as) + b;
                const __m256i corr = _mm256_madd_epi16(ld256(y->bsums), sv[r]);
                isum[r][c] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(corr, 5));
            }
        }
        UNROLL for (int h = 0; h < 2; h++) {
            __m256i svh[KX_RMAX];
            UNROLL for (int r = 0; r < RM; r++) svh[r] = (h ? _mm256_permute4x64_epi64(sv[r], 0xee) : _mm256_permute4x64_epi64(sv[r], 0x44));
            UNROLL for (int k = 0; k < 4; k++) {
                __m256i q[KX_RMAX], s[KX_RMAX];
                UNROLL for (int r = 0; r < RM; r++) {
                    const block_q6_K *x = (const block_q6_K *)(w + (size_t)r * ws) + b;
                    const __m256i l = ld256(x->ql + 64 * h + 32 * (k & 1));
                    const __m256i hb = ld256(x->qh + 32 * h);
                    const __m256i lq = (k >> 1) ? _mm256_and_si256(_mm256_srli_epi16(l, 4), m4) : _mm256_and_si256(l, m4);
                    __m256i hq;
                    if (k == 0) hq = _mm256_slli_epi16(hb, 4);
                    else if (k == 1) hq = _mm256_slli_epi16(hb, 2);
                    else if (k == 2) hq = hb;
                    else hq = _mm256_srli_epi16(hb, 2);
                    q[r] = _mm256_or_si256(lq, _mm256_and_si256(hq, m30));
                    s[r] = scales16_part(svh[r], k);
                }
                UNROLL for (int c = 0; c < RN; c++) {
                    const block_q8_K *y = (const block_q8_K *)(a + (size_t)c * as) + b;
                    const __m256i av = ld256(y->qs + 128 * h + 32 * k);
                    UNROLL for (int r = 0; r < RM; r++)
                        isum[r][c] = DPWSSD(isum[r][c], _mm256_maddubs_epi16(q[r], av), s[r]);
                }
            }
        }
        UNROLL for (int r = 0; r < RM; r++) {
            const block_q6_K *x = (const block_q6_K *)(w + (size_t)r * ws) + b;
            const float d = h2f(x->d);
            UNROLL for (int c = 0; c < RN; c++) {
                const block_q8_K *y = (const block_q8_K *)(a + (size_t)c * as) + b;
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[r][c]), _mm256_set1_ps(d * y->d), acc[r][c]);
            }
        }
    }
    STORE_TILE(acc, out, os, RM, RN)
}
GEMM_DRIVER_X(q6_K, QK_K, no_decode, 2, 4)

/* Q2_K: part k of half h is (qs[32h + l] >> 2k) & 3; scales[j] = scale | min << 4. */
AI void q2_K_tile(int nb, const char *w, size_t ws, const char *a, size_t as, float *out, size_t os, const int RM,
                  const int RN) {
    const __m256i m3 = _mm256_set1_epi8(3), m4 = _mm256_set1_epi8(0x0f);
    __m256 acc[KX_RMAX][TILE_DIM];
    UNROLL for (int r = 0; r < KX_RMAX; r++)
        UNROLL for (int c = 0; c < TILE_DIM; c++) acc[r][c] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        UNROLL for (int r = 0; r < RM; r++) {
            const block_q2_K *x = (const block_q2_K *)(w + (size_t)r * ws) + b;
            const __m128i sm = ld128(x->scales);
            const __m256i sv = _mm256_cvtepu8_epi16(_mm_and_si128(sm, _mm256_castsi256_si128(m4)));
            const __m256i mv = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sm, 4), _mm256_castsi256_si128(m4)));
            __m256i isum[TILE_DIM];
            UNROLL for (int c = 0; c < TILE_DIM; c++) isum[c] = _mm256_setzero_si256();
            UNROLL for (int h = 0; h < 2; h++) {
                const __m256i svh = (h ? _mm256_permute4x64_epi64(sv, 0xee) : _mm256_permute4x64_epi64(sv, 0x44));
                const __m256i qv = ld256(x->qs + 32 * h);
                UNROLL for (int k = 0; k < 4; k++) {
                    const __m256i q = _mm256_and_si256(_mm256_srli_epi16(qv, 2 * k), m3);
                    const __m256i s = scales16_part(svh, k);
                    UNROLL for (int c = 0; c < RN; c++) {
                        const block_q8_K *y = (const block_q8_K *)(a + (size_t)c * as) + b;
                        isum[c] = DPWSSD(isum[c], _mm256_maddubs_epi16(q, ld256(y->qs + 128 * h + 32 * k)), s);
                    }
                }
            }
            const float d = h2f(x->d), dmin = h2f(x->dmin);
            UNROLL for (int c = 0; c < RN; c++) {
                const block_q8_K *y = (const block_q8_K *)(a + (size_t)c * as) + b;
                const __m256i mn = _mm256_madd_epi16(ld256(y->bsums), mv);
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), _mm256_set1_ps(d * y->d), acc[r][c]);
                acc[r][c] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(mn), _mm256_set1_ps(dmin * y->d), acc[r][c]);
            }
        }
    }
    STORE_TILE(acc, out, os, RM, RN)
}
GEMM_DRIVER(q2_K, QK_K)

/* Q3_K scales: 12 bytes -> 16 six-bit scales minus 32, as int8. Scale j's low 4 bits are
 * the low (j < 8) or high (j >= 8) nibble of byte j % 8; its high 2 bits are bits
 * 2*(j/4)..+1 of byte 8 + j % 4. Loads exactly 12 bytes (the block may end 2 bytes later). */
AI __m128i unpack_scales_k3(const uint8_t *s12) {
    uint32_t t;
    memcpy(&t, s12 + 8, 4);
    const __m128i v = _mm_insert_epi32(_mm_loadl_epi64((const __m128i *)s12), (int)t, 2);
    const __m128i a = _mm_shuffle_epi8(v, _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7));
    const __m128i lo = _mm_and_si128(_mm_unpacklo_epi64(a, _mm_srli_epi16(a, 4)), _mm_set1_epi8(0x0f));
    const __m128i h = _mm_shuffle_epi8(v, _mm_setr_epi8(8, 9, 10, 11, 8, 9, 10, 11, 8, 9, 10, 11, 8, 9, 10, 11));
    const __m128i h01 = _mm_blend_epi32(_mm_slli_epi16(h, 4), _mm_slli_epi16(h, 2), 0x2);
    const __m128i h23 = _mm_blend_epi32(h, _mm_srli_epi16(h, 2), 0x8);
    const __m128i hb = _mm_and_si128(_mm_blend_epi32(h01, h23, 0xc), _mm_set1_epi8(0x30));
    return _mm_sub_epi8(_mm_or_si128(lo, hb), _mm_set1_epi8(32));
}

/* Q3_K: part k of half h is ((qs[32h + l] >> 2k) & 3) + 4 * (bit 4h+k of hmask[l]) - 4;
 * 16 six-bit scales, minus 32. Computed as u = level + 4 (unsigned) and -4 * scale * bsum. */
AI void q3_K_tile(int nb, const char *w, size_t ws, const char *a, size_t as, float *out, size_t os, const int RM,
                  const int RN) {
    const __m256i m3 = _mm256_set1_epi8(3), v4 = _mm256_set1_epi8(4);
    __m256 acc[KX_RMAX][TILE_DIM];
    UNROLL for (int r = 0; r < KX_RMAX; r++)
        UNROLL for (int c = 0; c < TILE_DIM; c++) acc[r][c] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        UNROLL for (int r = 0; r < RM; r++) {
            const block_q3_K *x = (const block_q3_K *)(w + (size_t)r * ws) + b;
            const __m128i s8 = unpack_scales_k3(x->scales);
            const __m256i sv = _mm256_cvtepi8_epi16(s8);
            const __m256i hm = ld256(x->hmask);
            __m256i isum[TILE_DIM];
            UNROLL for (int c = 0; c < RN; c++) {
                const block_q8_K *y = (const block_q8_K *)(a + (size_t)c * as) + b;
                isum[c] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(ld256(y->bsums), sv), 2));
            }
            UNROLL for (int h = 0; h < 2; h++) {
                const __m256i svh = (h ? _mm256_permute4x64_epi64(sv, 0xee) : _mm256_permute4x64_epi64(sv, 0x44));
                const __m256i qv = ld256(x->qs + 32 * h);
                UNROLL for (int k = 0; k < 4; k++) {
                    const __m256i bit = _mm256_set1_epi8((char)(1 << (4 * h + k)));
                    __m256i q = _mm256_and_si256(_mm256_srli_epi16(qv, 2 * k), m3);
                    q = _mm256_or_si256(q, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hm, bit), bit), v4));
                    const __m256i s = scales16_part(svh, k);
                    UNROLL for (int c = 0; c < RN; c++) {
                        const block_q8_K *y = (const block_q8_K *)(a + (size_t)c * as) + b;
                        isum[c] = DPWSSD(isum[c], _mm256_maddubs_epi16(q, ld256(y->qs + 128 * h + 32 * k)), s);
                    }
                }
            }
            const float d = h2f(x->d);
            UNROLL for (int c = 0; c < RN; c++) {
                const block_q8_K *y = (const block_q8_K *)(a + (size_t)c * as) + b;
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), _mm256_set1_ps(d * y->d), acc[r][c]);
            }
        }
    }
    STORE_TILE(acc, out, os, RM, RN)
}
GEMM_DRIVER(q3_K, QK_K)

/* ======================================================================================
 * F32, F16, BF16 rows: widen to f32, FMA into 4 independent accumulators; the tail in
 * scalar. gemm: 4 rows at a time against one column (decode), columns inner.
 * ====================================================================================== */

AI __m256 ld_f16x8(const lir_f16 *p) { return _mm256_cvtph_ps(ld128(p)); }
AI __m256 ld_bf16x8(const lir_bf16 *p) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(ld128(p)), 16)); }
AI __m256 ld_f32x8(const float *p) { return _mm256_loadu_ps(p); }

#define FLOAT_TILE(T, ET, LD, CVT)                                                                  \
    AI void T##_tile(int n, const char *w, size_t ws, const char *a, size_t as, float *out, size_t os, \
                     const int RM, const int RN) {                                                  \
        __m256 acc[KX_RMAX][TILE_DIM];                                                      \
        UNROLL for (int r = 0; r < KX_RMAX; r++)                                                    \
            UNROLL for (int c = 0; c < TILE_DIM; c++) acc[r][c] = _mm256_setzero_ps();              \
        int i = 0;                                                                                  \
        if (RM == 1 && RN == 1) { /* one dot (attention K.q, n ~ 64..128): 4 FMA chains */        \
            __m256 s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();    \
            const ET *wr = (const ET *)w, *ar = (const ET *)a;                                      \
            for (; i + 32 <= n; i += 32) {                                                          \
                acc[0][0] = _mm256_fmadd_ps(LD(wr + i), LD(ar + i), acc[0][0]);                     \
                s1 = _mm256_fmadd_ps(LD(wr + i + 8), LD(ar + i + 8), s1);                           \
                s2 = _mm256_fmadd_ps(LD(wr + i + 16), LD(ar + i + 16), s2);                         \
                s3 = _mm256_fmadd_ps(LD(wr + i + 24), LD(ar + i + 24), s3);                         \
            }                                                                                       \
            acc[0][0] = _mm256_add_ps(_mm256_add_ps(acc[0][0], s1), _mm256_add_ps(s2, s3));         \
        }                                                                                           \
        for (; i + 8 <= n; i += 8) {                                                                \
            __m256 av[TILE_DIM];                                                                    \
            UNROLL for (int c = 0; c < RN; c++) av[c] = LD((const ET *)(a + (size_t)c * as) + i);          \
            UNROLL for (int r = 0; r < RM; r++) {                                                          \
                const __m256 wv = LD((const ET *)(w + (size_t)r * ws) + i);                         \
                UNROLL for (int c = 0; c < RN; c++) acc[r][c] = _mm256_fmadd_ps(wv, av[c], acc[r][c]);     \
            }                                                                                       \
        }                                                                                           \
        UNROLL for (int r = 0; r < RM; r++)                                                                \
            UNROLL for (int c = 0; c < RN; c++) {                                                          \
                float s = hsum_ps(acc[r][c]);                                                       \
                const ET *wr = (const ET *)(w + (size_t)r * ws), *ar = (const ET *)(a + (size_t)c * as); \
                for (int j = i; j < n; j++) s += CVT(wr[j]) * CVT(ar[j]);                           \
                out[(size_t)c * os + r] = s;                                                        \
            }                                                                                       \
    }
AI float f32_id(float x) { return x; }
FLOAT_TILE(f32, float, ld_f32x8, f32_id)
FLOAT_TILE(f16, lir_f16, ld_f16x8, h2f)
FLOAT_TILE(bf16, lir_bf16, ld_bf16x8, lir_bf16_to_f32)
GEMM_DRIVER(f32, 1)
GEMM_DRIVER(f16, 1)
GEMM_DRIVER(bf16, 1)

/* gemm_f16 over KV blocks: per output one 8-lane FMA chain over the elements in order and
 * hsum_ps, as f16_tile does for tiles of more than one row, so the bits equal gemm_f16 over
 * the same elements stored contiguously. Tiles of 4 rows x 1 column. */
static void gemm_f16_paged(int bs, int nb, const lir_f16 *const *w, size_t ws, const lir_f16 *a, size_t as,
                           float *out, size_t os, int nr, int nc) {
    for (int c = 0; c < nc; c++) {
        const lir_f16 *ac = (const lir_f16 *)((const char *)a + (size_t)c * as);
        int r = 0;
        for (; r + 4 <= nr; r += 4) {
            __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(),
                   s3 = _mm256_setzero_ps();
            for (int b = 0; b < nb; b++) {
                const lir_f16 *w0 = (const lir_f16 *)((const char *)w[b] + (size_t)r * ws);
                const lir_f16 *w1 = (const lir_f16 *)((const char *)w0 + ws), *w2 = (const lir_f16 *)((const char *)w1 + ws),
                              *w3 = (const lir_f16 *)((const char *)w2 + ws);
                const lir_f16 *ab = ac + (size_t)b * bs;
                for (int i = 0; i < bs; i += 8) {
                    const __m256 av = ld_f16x8(ab + i);
                    s0 = _mm256_fmadd_ps(ld_f16x8(w0 + i), av, s0);
                    s1 = _mm256_fmadd_ps(ld_f16x8(w1 + i), av, s1);
                    s2 = _mm256_fmadd_ps(ld_f16x8(w2 + i), av, s2);
                    s3 = _mm256_fmadd_ps(ld_f16x8(w3 + i), av, s3);
                }
            }
            out[(size_t)c * os + r] = hsum_ps(s0);
            out[(size_t)c * os + r + 1] = hsum_ps(s1);
            out[(size_t)c * os + r + 2] = hsum_ps(s2);
            out[(size_t)c * os + r + 3] = hsum_ps(s3);
        }
        for (; r < nr; r++) {
            __m256 s0 = _mm256_setzero_ps();
            for (int b = 0; b < nb; b++) {
                const lir_f16 *w0 = (const lir_f16 *)((const char *)w[b] + (size_t)r * ws);
                const lir_f16 *ab = ac + (size_t)b * bs;
                for (int i = 0; i < bs; i += 8) s0 = _mm256_fmadd_ps(ld_f16x8(w0 + i), ld_f16x8(ab + i), s0);
            }
            out[(size_t)c * os + r] = hsum_ps(s0);
        }
    }
}

static void mad_f16(int n, float *y, const lir_f16 *x, float a) {
    const __m256 av = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(ld_f16x8(x + i), av, _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * h2f(x[i]);
}

static float dot_f32(int n, const float *x, const float *y) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), s1);
    }
    float s = hsum_ps(_mm256_add_ps(s0, s1));
    for (; i < n; i++) s += x[i] * y[i];
    return s;
}

/* ======================================================================================
 * Elementwise: exp for softmax and SiLU. exp8(x) = 2^k * e^r with k = round(x·log2 e),
 * r = x − k·ln 2 (ln 2 split in two for exactness), e^r by its degree-6 Taylor polynomial
 * (|r| <= ln2/2: truncation error < 1.2e-7 relative, ~1 ulp); results for x < -86.6 are
 * flushed to 0 (e^-86.6 < 2.5e-38, at the bottom of f32's normal range), for x > ln(FLT_MAX)
 * set to +inf (as expf overflows).
 * Differences to libm's expf are a few ulp (tests/backend/test_elementwise.c).
 * ====================================================================================== */
static inline __m256 exp8(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-86.6f), hi = _mm256_set1_ps(88.72283935546875f); /* ln(FLT_MAX) */
    const __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    const __m256 over = _mm256_cmp_ps(x, hi, _CMP_GT_OQ);
    x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
    const __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), x);      /* ln2 hi (exact k·hi) */
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);             /* ln2 lo */
    __m256 q = _mm256_set1_ps(1.0f / 720);
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.0f / 120));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.0f / 24));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.0f / 6));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(0.5f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.0f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.0f));
    /* 2^k as 2^(k-1) · 2 so that k = 128 (x near ln FLT_MAX) still has a finite exponent */
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(126)), 23);
    q = _mm256_mul_ps(_mm256_mul_ps(q, _mm256_castsi256_ps(e)), _mm256_set1_ps(2.0f));
    return _mm256_blendv_ps(_mm256_andnot_ps(under, q),
                            _mm256_set1_ps(INFINITY), over);
}

static void softmax_f16(int n, int n_pad, float *s, float scale, lir_f16 *p) {
    const __m256 sc = _mm256_set1_ps(scale);
    __m256 vmx = _mm256_set1_ps(-INFINITY);
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(s + j), sc);
        _mm256_storeu_ps(s + j, v);
        vmx = _mm256_max_ps(vmx, v);
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(vmx), _mm256_extractf128_ps(vmx, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    float mx = _mm_cvtss_f32(m4);
    for (; j < n; j++) {
        s[j] *= scale;
        if (s[j] > mx) mx = s[j];
    }
    const __m256 vm = _mm256_set1_ps(mx);
    __m256 acc = _mm256_setzero_ps();
    j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + j), vm));
        _mm256_storeu_ps(s + j, e);
        acc = _mm256_add_ps(acc, e);
    }
    float sum = hsum_ps(acc);
    for (; j < n; j++) {
        s[j] = expf(s[j] - mx);
        sum += s[j];
    }
    const float inv = 1.0f / sum;
    const __m256 vi = _mm256_set1_ps(inv);
    j = 0;
    for (; j + 8 <= n; j += 8)
        _mm_storeu_si128((__m128i *)(p + j),
                         _mm256_cvtps_ph(_mm256_mul_ps(_mm256_loadu_ps(s + j), vi), _MM_FROUND_TO_NEAREST_INT));
    for (; j < n; j++) p[j] = lir_f32_to_f16(s[j] * inv);
    for (; j < n_pad; j++) p[j] = 0;
}

static void silu_mul(int64_t n, const float *g, const float *u, float *out) {
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(g + i);
        const __m256 e = exp8(_mm256_sub_ps(zero, x));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_div_ps(x, _mm256_add_ps(one, e)), _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++) out[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

/* lir_rope_head_ref with the FMA instruction inlined (this file is built with -mfma). */
static void rope_head(int n_rot, const float *cs, float *x, bool neox) { lir__rope_head(n_rot, cs, x, neox); }

/* ======================================================================================
 * Activation quantizers, byte-identical to quant_ref.c's act/ref quantizers: same float
 * operations in the same order per element (max of |x| is order-independent; products and
 * the round are per element); the f16 scale through lir_f32_to_f16.
 * ====================================================================================== */

AI float absmax8x4(const float *x) {
    const __m256 sm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 m = _mm256_and_ps(_mm256_loadu_ps(x), sm);
    m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(x + 8), sm));
    m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(x + 16), sm));
    m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(x + 24), sm));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* 4 x 8 int32 (each in [-127,127]) -> 32 int8 in order */
AI __m256i pack32(__m256i i0, __m256i i1, __m256i i2, __m256i i3) {
    const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* round half to even of x*id, as rintf under the default rounding mode */
AI __m256i q8_act32(const float *x, __m256 id) {
    __m256i v[4];
    UNROLL for (int k = 0; k < 4; k++) v[k] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), id));
    return pack32(v[0], v[1], v[2], v[3]);
}

static void from_float_q8_0(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        const float amax = absmax8x4(x);
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        y[i].d = lir_f32_to_f16(amax / 127.f);
        _mm256_storeu_si256((__m256i *)y[i].qs, q8_act32(x, _mm256_set1_ps(id)));
    }
}

static void from_float_q8_1(const float *x, void *vy, int64_t n) {
    block_q8_1 *y = vy;
    for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
        const float amax = absmax8x4(x);
        const float d = amax / 127.f;
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        y[i].d = lir_f32_to_f16(d);
        const __m256i q = q8_act32(x, _mm256_set1_ps(id));
        _mm256_storeu_si256((__m256i *)y[i].qs, q);
        const int sum = hsum_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q), _mm256_set1_epi16(1)));
        y[i].s = lir_f32_to_f16(d * sum);
    }
}

/* Q8_K: iscale = -127 / (the first element of largest magnitude), q = min(127, rne(iscale*x)) */
static void from_float_q8_K(const float *x, void *vy, int64_t n) {
    block_q8_K *y = vy;
    const __m256 sm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float amax = 0;
        for (int j = 0; j < QK_K; j += 32) { const float m = absmax8x4(x + j); if (m > amax) amax = m; }
        if (!amax) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float max = 0;
        const __m256 av = _mm256_set1_ps(amax);
        for (int j = 0; j < QK_K; j += 8) {
            const int m = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_and_ps(_mm256_loadu_ps(x + j), sm), av, _CMP_EQ_OQ));
            if (m) { max = x[j + __builtin_ctz((unsigned)m)]; break; }
        }
        const float iscale = -127.f / max;
        const __m256 is = _mm256_set1_ps(iscale);
        const __m256i m127 = _mm256_set1_epi32(127);
        for (int j = 0; j < QK_K; j += 32) {
            __m256i v[4];
            UNROLL for (int k = 0; k < 4; k++)
                v[k] = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + j + 8 * k), is)), m127);
            const __m256i q = pack32(v[0], v[1], v[2], v[3]);
            _mm256_storeu_si256((__m256i *)(y[i].qs + j), q);
            /* bsums of 16: pair sums (int16) then sums of 8 pairs */
            const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q), _mm256_set1_epi16(1));
            const __m128i s = _mm_add_epi32(_mm256_castsi256_si128(p), _mm_shuffle_epi32(_mm256_castsi256_si128(p), 0x4e));
            const __m128i t = _mm_add_epi32(_mm256_extracti128_si256(p, 1), _mm_shuffle_epi32(_mm256_extracti128_si256(p, 1), 0x4e));
            y[i].bsums[j / 16] = (int16_t)(_mm_cvtsi128_si32(s) + _mm_extract_epi32(s, 1));
            y[i].bsums[j / 16 + 1] = (int16_t)(_mm_cvtsi128_si32(t) + _mm_extract_epi32(t, 1));
        }
        y[i].d = 1 / iscale;
    }
}

static void from_float_f16(const float *x, void *vy, int64_t n) {
    lir_f16 *y = vy;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) y[i] = lir_f32_to_f16(x[i]);
}

/* bf16: round to nearest even on the bits, NaN -> quiet NaN (as lir_f32_to_bf16) */
static void from_float_bf16(const float *x, void *vy, int64_t n) {
    lir_bf16 *y = vy;
    int64_t i = 0;
    const __m256i absm = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
    const __m256i r7 = _mm256_set1_epi32(0x7fff), one = _mm256_set1_epi32(1), q = _mm256_set1_epi32(64);
    for (; i + 16 <= n; i += 16) {
        __m256i h[2];
        for (int k = 0; k < 2; k++) {
            const __m256i u = _mm256_loadu_si256((const __m256i *)(x + i + 8 * k));
            const __m256i rn = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(r7, _mm256_and_si256(_mm256_srli_epi32(u, 16), one))), 16);
            const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, absm), inf);
            h[k] = _mm256_blendv_epi8(rn, _mm256_or_si256(_mm256_srli_epi32(u, 16), q), nan);
        }
        const __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi32(h[0], h[1]), 0xd8);
        _mm256_storeu_si256((__m256i *)(y + i), p);
    }
    for (; i < n; i++) y[i] = lir_f32_to_bf16(x[i]);
}

static void from_float_f32(const float *x, void *y, int64_t n) { memcpy(y, x, (size_t)n * sizeof(float)); }

/* ---------------------------------------------------------------- the table */

/* An ISA file may supply its own gemm for a type (KX_GEMM_<type> defined before including
 * this file, e.g. the 512-bit kernels of arch/avx512/zmm_*.c); otherwise the shared one. */
#ifndef KX_GEMM_q4_0
#define KX_GEMM_q4_0 gemm_q4_0
#endif
#ifndef KX_GEMM_q8_0
#define KX_GEMM_q8_0 gemm_q8_0
#endif
#ifndef KX_GEMM_q4_K
#define KX_GEMM_q4_K gemm_q4_K
#endif
#ifndef KX_GEMM_q6_K
#define KX_GEMM_q6_K gemm_q6_K
#endif
#define KX_GEMM_f32 gemm_f32
#define KX_GEMM_f16 gemm_f16
#define KX_GEMM_bf16 gemm_bf16
#define KX_GEMM_q4_1 gemm_q4_1
#define KX_GEMM_q5_0 gemm_q5_0
#define KX_GEMM_q5_1 gemm_q5_1
#define KX_GEMM_q2_K gemm_q2_K
#define KX_GEMM_q3_K gemm_q3_K
#define KX_GEMM_q5_K gemm_q5_K
#define KX_SLOT(ID, T) [ID] = vec_dot_##T,
#define KX_GSLOT(ID, T) [ID] = KX_GEMM_##T,
#define KX_ALL(X)                                                                                  \
    X(LIR_TYPE_F32, f32) X(LIR_TYPE_F16, f16) X(LIR_TYPE_BF16, bf16) X(LIR_TYPE_Q4_0, q4_0)         \
    X(LIR_TYPE_Q4_1, q4_1) X(LIR_TYPE_Q5_0, q5_0) X(LIR_TYPE_Q5_1, q5_1) X(LIR_TYPE_Q8_0, q8_0)     \
    X(LIR_TYPE_Q2_K, q2_K) X(LIR_TYPE_Q3_K, q3_K) X(LIR_TYPE_Q4_K, q4_K) X(LIR_TYPE_Q5_K, q5_K)     \
    X(LIR_TYPE_Q6_K, q6_K)

const struct lir_cpu_kernels KX_TABLE = {
    .isa = KX_ISA,
    .vec_dot = { KX_ALL(KX_SLOT) },
    .gemm = { KX_ALL(KX_GSLOT) },
    .from_float = {
        [LIR_TYPE_F32] = from_float_f32,
        [LIR_TYPE_F16] = from_float_f16,
        [LIR_TYPE_BF16] = from_float_bf16,
        [LIR_TYPE_Q8_0] = from_float_q8_0,
        [LIR_TYPE_Q8_1] = from_float_q8_1,
        [LIR_TYPE_Q8_K] = from_float_q8_K,
    },
    .gemm_f16_paged = gemm_f16_paged,
    .mad_f16 = mad_f16,
    .dot_f32 = dot_f32,
    .softmax_f16 = softmax_f16,
    .silu_mul = silu_mul,
    .rope_head = rope_head,
};
