/* zmm_q8_0.c — Q8_0 x Q8_0 gemm with 512-bit VNNI (vpdpbusd zmm) on the native block layout.
 *
 * Group = 4 consecutive blocks (136 bytes). Per group, two VBMI two-source byte permutes
 * gather its 128 quant bytes into two zmm:
 *   X: lanes 4k..4k+3 (bytes 16k..16k+15) = bytes 0..15 of block k
 *   Y: the same lanes                      = bytes 16..31 of block k
 * from the group's bytes 0..63 and 64..127 (each loaded as two ymm halves) plus one qword
 * (bytes 128..135) merged into Y; the last, partial group of a row uses masked loads
 * (nothing past the row end is touched). A word permute of the same two registers gathers
 * the 4 f16 scales into lanes 4k..4k+3.
 * So dpbusd(dpbusd(., X, aX), Y, aY) leaves 4 int32 lanes per block and one cvt + FMA per
 * 4 blocks finishes the float part.
 *
 * vpdpbusd is unsigned x signed: the weights are biased, w ^ 0x80 = w + 128, and the
 * activation side's -128 * sum(a) per lane is the accumulator's start value.
 * Activations are prepared once per column tile (X/Y order, offsets, scales per lane); the
 * weights of each row are unpacked once per group and reused across the tile's columns. */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>
#include "backend/cpu/arch/avx512/zmm.h"

#define AI static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

#define BS 34          /* sizeof(block_q8_0) */
#define GBYTES (4 * BS) /* bytes per group of 4 blocks */

/* prepared activation, per column per group */
struct q8g {
    __m512i ax, ay;  /* activation bytes in X / Y order */
    __m512i off;     /* -128 * (sum of the lane's 4 bytes of ax and of ay) */
    __m512 da;       /* scale of block k in lanes 4k..4k+3 */
};

#define BUF_BYTES (64 * 1024)
#define BUF_GROUPS (BUF_BYTES / (int)sizeof(struct q8g)) /* 256 */

#define DEC_RM 4      /* decode: rows interleaved */
#ifndef PF_ROWS
#define PF_ROWS 8     /* decode: prefetch this many rows ahead */
#endif
#ifndef P_RM
#define P_RM 4
#endif
#ifndef P_RN
#define P_RN 4
#endif
#define ROWBLK 64     /* prompt: rows per block (L2 reuse across column tiles) */

/* X/Y byte indexes into (x[0..63], x[64..127]): byte s of the group is index s; Y's last 8
 * bytes (x[128..135]) come from a merge-masked load */
#define R16(s) s, s + 1, s + 2, s + 3, s + 4, s + 5, s + 6, s + 7, s + 8, s + 9, s + 10, s + 11, s + 12, s + 13, s + 14, s + 15
static const uint8_t ix_tab[64] = {R16(2), R16(36), R16(70), R16(104)};
static const uint8_t iy_tab[64] = {R16(18), R16(52), R16(86), 120, 121, 122, 123, 124, 125, 126, 127, 0, 0, 0, 0, 0, 0, 0, 0};
static const uint16_t id_tab[32] = {0, 0, 0, 0, 17, 17, 17, 17, 34, 34, 34, 34, 51, 51, 51, 51};

/* bytes [o, o+64) of a group whose first len bytes are valid */
AI __m512i ld_part(const char *x, int o, int len) {
    const int k = len - o;
    const __mmask64 m = k >= 64 ? ~(__mmask64)0 : k <= 0 ? 0 : (((__mmask64)1 << k) - 1);
    return _mm512_maskz_loadu_epi8(m, x + o);
}

/* unpack the group at x: tb = number of its blocks present (4: full group, plain loads) */
AI void unpack(const char *x, const int tb, __m512i *X, __m512i *Y, __m512 *d) {
    __m512i P, Q;
    if (tb == 4) {
        /* ymm halves: a 64-byte load that crosses a cache line and misses costs far more
         * than two 32-byte ones on Zen 4 (decode from L3: ~30 vs ~43 GB/s) */
        P = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)x)),
                               _mm256_loadu_si256((const __m256i *)(x + 32)), 1);
        Q = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(x + 64))),
                               _mm256_loadu_si256((const __m256i *)(x + 96)), 1);
    } else {
        const int len = tb * BS;
        P = ld_part(x, 0, len);
        Q = ld_part(x, 64, len);
    }
    *X = _mm512_permutex2var_epi8(P, _mm512_loadu_si512(ix_tab), Q);
    *Y = _mm512_permutex2var_epi8(P, _mm512_loadu_si512(iy_tab), Q);
    if (tb == 4) {
        long long t; /* bytes 128..135 into Y's last qword */
        memcpy(&t, x + 128, 8);
        *Y = _mm512_mask_set1_epi64(*Y, 0x80, t);
    }
    *d = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutex2var_epi16(P, _mm512_loadu_si512(id_tab), Q)));
}

/* prepare columns [0, rn) of a, groups [g0, g1) of ng (last one has tbl blocks) into buf
 * (column c's groups at buf + c * (g1 - g0)) */
static void prep(const char *a, size_t as, int rn, int g0, int g1, int ng, int tbl, struct q8g *buf) {
    const __m512i x80 = _mm512_set1_epi8((char)0x80);
    const int kg = g1 - g0;
    for (int c = 0; c < rn; c++) {
        const char *y = a + (size_t)c * as;
        struct q8g *p = buf + (size_t)c * kg;
        for (int g = g0; g < g1; g++) {
            __m512i X, Y;
            __m512 d;
            if (g == ng - 1 && tbl != 4)
                unpack(y + (size_t)g * GBYTES, tbl, &X, &Y, &d);
            else
                unpack(y + (size_t)g * GBYTES, 4, &X, &Y, &d);
            const __m512i s = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), x80, X), x80, Y);
            p[g - g0].ax = X;
            p[g - g0].ay = Y;
            p[g - g0].off = _mm512_sub_epi32(_mm512_setzero_si512(), s);
            p[g - g0].da = d;
        }
    }
}

/* one group step of a RM x RN tile */
AI void step(const char *w, size_t ws, const struct q8g *ca, int kg, int gi, const int tb, const int RM, const int RN,
             size_t pf, __m512 acc[][P_RN]) {
    const __m512i x80 = _mm512_set1_epi8((char)0x80);
    __m512i xu[P_RM > DEC_RM ? P_RM : DEC_RM], yu[P_RM > DEC_RM ? P_RM : DEC_RM];
    __m512 dw[P_RM > DEC_RM ? P_RM : DEC_RM];
    UNROLL for (int r = 0; r < RM; r++) {
        const char *x = w + (size_t)r * ws;
        if (pf) {
            _mm_prefetch(x + pf, _MM_HINT_T0);
            _mm_prefetch(x + pf + 64, _MM_HINT_T0);
        }
        unpack(x, tb, &xu[r], &yu[r], &dw[r]);
        xu[r] = _mm512_xor_si512(xu[r], x80);
        yu[r] = _mm512_xor_si512(yu[r], x80);
    }
    UNROLL for (int c = 0; c < RN; c++) {
        const struct q8g *p = ca + (size_t)c * kg + gi;
        UNROLL for (int r = 0; r < RM; r++) {
            const __m512i i = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(p->off, xu[r], p->ax), yu[r], p->ay);
            acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i), _mm512_mul_ps(dw[r], p->da), acc[r][c]);
        }
    }
}

/* RM x RN tile over groups [g0, g1) (buffer ca holds exactly those); adds to out if add */
AI void tile(const char *w, size_t ws, const struct q8g *ca, int g0, int g1, int ng, int tbl, float *out, size_t os,
             const int RM, const int RN, int add, size_t pf) {
    __m512 acc[P_RM > DEC_RM ? P_RM : DEC_RM][P_RN];
    UNROLL for (int r = 0; r < RM; r++) UNROLL for (int c = 0; c < RN; c++) acc[r][c] = _mm512_setzero_ps();
    const int kg = g1 - g0;
    const int gf = (g1 == ng && tbl != 4) ? g1 - 1 : g1; /* full groups end */
    const char *x = w + (size_t)g0 * GBYTES;
    for (int g = g0; g < gf; g++, x += GBYTES) step(x, ws, ca, kg, g - g0, 4, RM, RN, pf, acc);
    if (gf < g1) step(x, ws, ca, kg, gf - g0, tbl, RM, RN, 0, acc);
    UNROLL for (int r = 0; r < RM; r++)
        UNROLL for (int c = 0; c < RN; c++) {
            const float s = _mm512_reduce_add_ps(acc[r][c]);
            float *o = out + (size_t)c * os + r;
            *o = add ? *o + s : s;
        }
}

/* all rows [r0, r1) against RN prepared columns */
AI void rows(const char *w, size_t ws, const struct q8g *ca, int g0, int g1, int ng, int tbl, float *out, size_t os,
             int r0, int r1, const int RN, int add) {
    int r = r0;
    for (; r + P_RM <= r1; r += P_RM)
        tile(w + (size_t)r * ws, ws, ca, g0, g1, ng, tbl, out + r, os, P_RM, RN, add, 0);
    for (; r < r1; r++) tile(w + (size_t)r * ws, ws, ca, g0, g1, ng, tbl, out + r, os, 1, RN, add, 0);
}

AI void cols(const char *w, size_t ws, const char *a, size_t as, float *out, size_t os, int r0, int r1, int ng,
                 int tbl, const int RN, struct q8g *buf) {
    const int kc = BUF_GROUPS / RN;
    for (int g0 = 0; g0 < ng; g0 += kc) {
        const int g1 = ng - g0 < kc ? ng : g0 + kc;
        prep(a, as, RN, g0, g1, ng, tbl, buf);
        rows(w, ws, buf, g0, g1, ng, tbl, out, os, r0, r1, RN, g0 > 0);
    }
}

void lir__zmm_gemm_q8_0(int n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os, int nr,
                        int nc) {
    const int nb = n / QK8_0;
    if (nb <= 0 || nr <= 0 || nc <= 0) {
        for (int c = 0; c < nc; c++)
            for (int r = 0; r < nr; r++) out[(size_t)c * os + r] = 0.0f;
        return;
    }
    const int ng = (nb + 3) / 4, tbl = nb - 4 * (ng - 1);
    const char *W = w, *A = a;
    struct q8g buf[BUF_GROUPS];
    if (nc == 1) {
        const size_t pf = (size_t)PF_ROWS * ws;
        for (int g0 = 0; g0 < ng; g0 += BUF_GROUPS) {
            const int g1 = ng - g0 < BUF_GROUPS ? ng : g0 + BUF_GROUPS;
            prep(A, as, 1, g0, g1, ng, tbl, buf);
            int r = 0;
            for (; r + DEC_RM <= nr; r += DEC_RM)
                tile(W + (size_t)r * ws, ws, buf, g0, g1, ng, tbl, out + r, os, DEC_RM, 1, g0 > 0, pf);
            for (; r < nr; r++) tile(W + (size_t)r * ws, ws, buf, g0, g1, ng, tbl, out + r, os, 1, 1, g0 > 0, pf);
        }
        return;
    }
    for (int r0 = 0; r0 < nr; r0 += ROWBLK) {
        const int r1 = nr - r0 < ROWBLK ? nr : r0 + ROWBLK;
        int c = 0;
        for (; c + P_RN <= nc; c += P_RN)
            cols(W, ws, A + (size_t)c * as, as, out + (size_t)c * os, os, r0, r1, ng, tbl, P_RN, buf);
        switch (nc - c) {
        case 3: cols(W, ws, A + (size_t)c * as, as, out + (size_t)c * os, os, r0, r1, ng, tbl, 3, buf); break;
        case 2: cols(W, ws, A + (size_t)c * as, as, out + (size_t)c * os, os, r0, r1, ng, tbl, 2, buf); break;
        case 1: cols(W, ws, A + (size_t)c * as, as, out + (size_t)c * os, os, r0, r1, ng, tbl, 1, buf); break;
        default: break;
        }
    }
}
