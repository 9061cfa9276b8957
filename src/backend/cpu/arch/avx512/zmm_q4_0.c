/* zmm_q4_0.c — Q4_0 × Q8_0 gemm with 512-bit VNNI, on the native 18-byte blocks.
 *
 * One "quad" = 4 consecutive blocks (128 weights, 72 bytes). Per quad and weight row:
 * a 64-byte load and a masked 8-byte load cover the quad; a VBMI two-source byte permute
 * gathers its 4 × 16 nibble bytes into one zmm (block b in bytes 16b..16b+15); AND gives
 * the low nibbles (elements 0..15 of each block), a GFNI affine transform the high ones
 * (16..31); a word permute + vcvtph2ps spread the 4 f16 scales over the 4 int32 lanes of
 * their block. Two vpdpbusd (unsigned nibble × signed activation) give 4 partial sums per
 * block; the -8 offset is folded into the accumulator's start value (−8 · the activation's
 * byte sums, per lane). Per (row, column, quad): 2 vpdpbusd, 1 conversion, 1 mul, 1 FMA.
 *
 * The activation columns are rearranged once per call into that order (alo/ahi/aoff/da per
 * quad); rows then stream through: decode (nc == 1) 4 rows at a time with prefetch, prompt
 * (nc > 1) in 4 × 3 register tiles over 64-row blocks so the rows stay in L2.
 * Blocks past the last whole quad (n/32 not a multiple of 4) use the scalar reference. */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/arch/avx512/zmm.h"

#define AI static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")
#define QUAD_W (4 * sizeof(block_q4_0))   /* 72 bytes of weights */
#define QUAD_A (4 * sizeof(block_q8_0))   /* 136 bytes of activations */
#define TR 4                               /* rows per tile */
#define TC 3                               /* columns per prompt tile */
#define ROWBLK 64                          /* rows kept in L2 while column tiles pass */
#define COLCHUNK 48                        /* activation columns prepared at once */

/* One activation quad in the weights' order. */
struct aquad {
    __m512i lo, hi;   /* bytes 16b..16b+15: elements 0..15 / 16..31 of block b */
    __m512i off;      /* int32 lanes: −8 · (sum of the 8 activation bytes this lane multiplies) */
    __m512 d;         /* f32 lanes 4b..4b+3: the activation scale of block b */
};

static __m512i idx_qs, idx_d, idx_aqs_lo, idx_aqs_hi, idx_ad;
static int idx_ready;

static void init_idx(void) {
    uint8_t q[64], alo[64], ahi[64];
    uint16_t d[32], ad[32];
    for (int b = 0; b < 4; b++)
        for (int k = 0; k < 16; k++) {
            q[16 * b + k] = (uint8_t)(18 * b + 2 + k);   /* from the 72 weight bytes (A|B) */
            alo[16 * b + k] = (uint8_t)(34 * b + 2 + k); /* from 128 of the 136 activation bytes */
            ahi[16 * b + k] = (uint8_t)(34 * b + 18 + k);
        }
    for (int j = 0; j < 32; j++) {
        d[j] = (uint16_t)(9 * ((j / 4) & 3));   /* word index of block j/4's scale */
        ad[j] = (uint16_t)(17 * ((j / 4) & 3));
    }
    memcpy(&idx_qs, q, 64);
    memcpy(&idx_aqs_lo, alo, 64);
    memcpy(&idx_aqs_hi, ahi, 64);
    memcpy(&idx_d, d, 64);
    memcpy(&idx_ad, ad, 64);
    __atomic_store_n(&idx_ready, 1, __ATOMIC_RELEASE);
}

/* (x >> 4) & 15 per byte as one GF(2) affine transform: result bit i = input bit i+4. */
#define GF_HI_NIBBLE 0x1020408000000000ll

AI void prep_column(const char *y, int nq, struct aquad *aq) {
    const __m512i eight = _mm512_set1_epi8(8);
    for (int q = 0; q < nq; q++) {
        const char *p = y + (size_t)q * QUAD_A;
        const __m512i a0 = _mm512_loadu_si512(p);
        const __m512i a1 = _mm512_loadu_si512(p + 64);
        const __m512i a2 = _mm512_maskz_loadu_epi8(0xFFull, p + 128); /* bytes 128..135 */
        /* block b's qs are bytes 34b+2..34b+33: blocks 0..2 lie in a0|a1, block 3 in a1|a2 */
        __m512i lo = _mm512_permutex2var_epi8(a0, idx_aqs_lo, a1);
        __m512i hi = _mm512_permutex2var_epi8(a0, idx_aqs_hi, a1);
        /* block 3 (bytes 104..135) sits at a1[40..63] | a2[0..7]: redo its 16-byte lanes */
        const __m512i i3lo = _mm512_add_epi8(idx_aqs_lo, _mm512_set1_epi8(-64));
        const __m512i i3hi = _mm512_add_epi8(idx_aqs_hi, _mm512_set1_epi8(-64));
        lo = _mm512_mask_blend_epi8(0xFFFF000000000000ull, lo, _mm512_permutex2var_epi8(a1, i3lo, a2));
        hi = _mm512_mask_blend_epi8(0xFFFF000000000000ull, hi, _mm512_permutex2var_epi8(a1, i3hi, a2));
        aq[q].lo = lo;
        aq[q].hi = hi;
        const __m512i s = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), eight, lo), eight, hi);
        aq[q].off = _mm512_sub_epi32(_mm512_setzero_si512(), s);
        aq[q].d = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutex2var_epi16(a0, idx_ad, a1)));
    }
}

/* Weight quad of one row: low/high nibbles and per-lane scales. */
AI void unpack(const char *x, __m512i iq, __m512i id, __m512i *lo, __m512i *hi, __m512 *dw) {
    const __m512i a = _mm512_loadu_si512(x);
    const __m512i b = _mm512_maskz_loadu_epi8(0xFFull, x + 64);
    const __m512i q = _mm512_permutex2var_epi8(a, iq, b);
    *lo = _mm512_and_si512(q, _mm512_set1_epi8(0x0f));
    *hi = _mm512_gf2p8affine_epi64_epi8(q, _mm512_set1_epi64(GF_HI_NIBBLE), 0);
    *dw = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(id, a)));
}

AI __m512 step(__m512 acc, __m512i lo, __m512i hi, __m512 dw, const struct aquad *a) {
    const __m512i i = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(a->off, lo, a->lo), hi, a->hi);
    return _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(i), a->d), dw, acc);
}

/* rows [0, RM) × columns [0, RN) of a tile; acc summed over nq quads. */
AI void tile(const int RM, const int RN, int nq, const char *w, size_t ws, const struct aquad *aq, size_t aqs,
             float *out, size_t os, size_t pf) {
    __m512 acc[TR][TC];
    const __m512i iq = idx_qs, id = idx_d;
    UNROLL for (int r = 0; r < RM; r++)
        UNROLL for (int c = 0; c < RN; c++) acc[r][c] = _mm512_setzero_ps();
    for (int q = 0; q < nq; q++) {
        UNROLL for (int r = 0; r < RM; r++) {
            const char *x = w + (size_t)r * ws + (size_t)q * QUAD_W;
            if (pf) { /* a quad is 72 bytes: prefetch its first and last byte, else every ninth line
                       * goes unfetched; NTA: the weights are read once (measured +5-15% over T0) */
                _mm_prefetch(x + pf, _MM_HINT_NTA);
                _mm_prefetch(x + pf + QUAD_W - 1, _MM_HINT_NTA);
            }
            __m512i lo, hi;
            __m512 dw;
            unpack(x, iq, id, &lo, &hi, &dw);
            UNROLL for (int c = 0; c < RN; c++) acc[r][c] = step(acc[r][c], lo, hi, dw, aq + (size_t)c * aqs + q);
        }
    }
    UNROLL for (int r = 0; r < RM; r++)
        UNROLL for (int c = 0; c < RN; c++) out[(size_t)c * os + r] = _mm512_reduce_add_ps(acc[r][c]);
}

/* dispatch to compile-time tile shapes */
static void tile_any(int RM, int RN, int nq, const char *w, size_t ws, const struct aquad *aq, size_t aqs, float *out,
                     size_t os, size_t pf) {
#define T(m, n) if (RM == m && RN == n) { tile(m, n, nq, w, ws, aq, aqs, out, os, pf); return; }
    T(4, 3) T(4, 2) T(4, 1) T(3, 3) T(3, 2) T(3, 1) T(2, 3) T(2, 2) T(2, 1) T(1, 3) T(1, 2) T(1, 1)
#undef T
}

void lir__zmm_gemm_q4_0(int n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os, int nr,
                        int nc) {
    if (!__atomic_load_n(&idx_ready, __ATOMIC_ACQUIRE)) init_idx();
    const int nb = n / QK4_0, nq = nb / 4, tail = nb - 4 * nq;
    const char *W = w, *A = a;
    if (nq > 0) {
        const int chunk = nc < COLCHUNK ? nc : COLCHUNK;
        struct aquad *aq = aligned_alloc(64, sizeof(struct aquad) * (size_t)nq * (size_t)chunk);
        if (!aq) { /* no scratch: the scalar reference still gives the right answer */
            for (int c = 0; c < nc; c++)
                for (int r = 0; r < nr; r++)
                    lir_vec_dot_q4_0_ref(n, &out[(size_t)c * os + r], W + (size_t)r * ws, A + (size_t)c * as);
            return;
        }
        for (int c0 = 0; c0 < nc; c0 += chunk) {
            const int ncc = nc - c0 < chunk ? nc - c0 : chunk;
            for (int c = 0; c < ncc; c++) prep_column(A + (size_t)(c0 + c) * as, nq, aq + (size_t)c * nq);
            float *oc = out + (size_t)c0 * os;
            if (ncc == 1) { /* decode: stream rows, prefetch 2 tiles ahead */
                const size_t pf = 2 * TR * ws;
                int r = 0;
                for (; r + TR <= nr; r += TR) tile(TR, 1, nq, W + (size_t)r * ws, ws, aq, nq, oc + r, os, pf);
                for (; r < nr; r++) tile(1, 1, nq, W + (size_t)r * ws, ws, aq, nq, oc + r, os, 0);
                continue;
            }
            for (int r0 = 0; r0 < nr; r0 += ROWBLK) {
                const int r1 = nr - r0 < ROWBLK ? nr : r0 + ROWBLK;
                for (int cc = 0; cc < ncc; cc += TC) {
                    const int rn = ncc - cc < TC ? ncc - cc : TC;
                    for (int r = r0; r < r1; r += TR) {
                        const int rm = r1 - r < TR ? r1 - r : TR;
                        tile_any(rm, rn, nq, W + (size_t)r * ws, ws, aq + (size_t)cc * nq, (size_t)nq,
                                 oc + (size_t)cc * os + r, os, 0);
                    }
                }
            }
        }
        free(aq);
    } else {
        for (int c = 0; c < nc; c++)
            for (int r = 0; r < nr; r++) out[(size_t)c * os + r] = 0.0f;
    }
    if (tail) {
        const size_t wo = (size_t)nq * QUAD_W, ao = (size_t)nq * QUAD_A;
        for (int c = 0; c < nc; c++)
            for (int r = 0; r < nr; r++) {
                float t;
                lir_vec_dot_q4_0_ref(tail * QK4_0, &t, W + (size_t)r * ws + wo, A + (size_t)c * as + ao);
                out[(size_t)c * os + r] += t;
            }
    }
}
