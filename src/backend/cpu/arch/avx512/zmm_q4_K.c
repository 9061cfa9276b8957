/* zmm_q4_K.c — Q4_K x Q8_K gemm with 512-bit registers (AVX-512 BW/VL + VNNI + VBMI + GFNI).
 *
 * Q4_K block (144 bytes): f16 d, dmin; 12 bytes of 6-bit scales/mins (8 sub-blocks of 32);
 * qs[128]: group g (32 bytes at 32g) holds sub-block 2g in its low nibbles, 2g+1 in its high.
 * One zmm load of qs[64p..64p+64) gives, after the nibble split (and / one gf2p8affine):
 *   lo: bytes 0..31 = sub-block 4p, bytes 32..63 = sub-block 4p+2
 *   hi: bytes 0..31 = sub-block 4p+1, bytes 32..63 = sub-block 4p+3
 * The activation columns are prepared once per call in that order (q4k_act: the 256 bytes
 * permuted, sums of 32 from bsums, d), so each row needs per 64 weight bytes 2 x (split,
 * vpmaddubsw, vpdpwssd with the int16 sub-block scales) — the integer sum per block is exact.
 * Mins: sum_j min_j * bsum32_j, for 4 rows at once (one zmm, 128-bit lane per row).
 * Scales and mins of up to 4 rows are unpacked together: each row's 16 bytes at offset 4
 * (12 scale bytes + 4 qs bytes, all inside the block) in one 128-bit lane.
 *
 * Decode (nc == 1): 4 rows interleaved, prefetching the rows one group ahead.
 * Prompt: tiles of 4 rows x 2 columns, 64-row blocks (weights stay in L2). */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "zmm.h"

#define AI static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

#define Q4K_BS 144
#define Q4K_MAXB 64 /* blocks per pass (n <= 16384); longer rows: several passes, accumulated */
#define Q4K_ROWBLK 64
#ifndef Q4K_RMP /* prompt tile: rows x columns */
#define Q4K_RMP 4
#endif
#ifndef Q4K_RNP
#define Q4K_RNP 2
#endif
#ifndef Q4K_PF_GROUPS
#define Q4K_PF_GROUPS 1
#endif

struct q4k_act {
    int8_t q[256]; /* lo0 (qs 0..31, 64..95), hi0 (32..63, 96..127), lo1, hi1 (same + 128) */
    int16_t bs[8]; /* sums of 32 activations per sub-block */
    float d;
    int32_t pad[11];
} __attribute__((aligned(64)));

static void q4k_prep(int nb, const block_q8_K *y, struct q4k_act *qa) {
    for (int b = 0; b < nb; b++) {
        const int8_t *s = y[b].qs;
        UNROLL for (int p = 0; p < 2; p++) {
            const __m256i g0 = _mm256_loadu_si256((const __m256i *)(s + 128 * p));
            const __m256i g1 = _mm256_loadu_si256((const __m256i *)(s + 128 * p + 32));
            const __m256i g2 = _mm256_loadu_si256((const __m256i *)(s + 128 * p + 64));
            const __m256i g3 = _mm256_loadu_si256((const __m256i *)(s + 128 * p + 96));
            _mm512_store_si512(qa[b].q + 128 * p, _mm512_inserti64x4(_mm512_castsi256_si512(g0), g2, 1));
            _mm512_store_si512(qa[b].q + 128 * p + 64, _mm512_inserti64x4(_mm512_castsi256_si512(g1), g3, 1));
        }
        const __m128i b0 = _mm_loadu_si128((const __m128i *)y[b].bsums);
        const __m128i b1 = _mm_loadu_si128((const __m128i *)(y[b].bsums + 8));
        _mm_storeu_si128((__m128i *)qa[b].bs, _mm_hadd_epi16(b0, b1));
        qa[b].d = y[b].d;
    }
}

/* unpack the scales of up to 4 rows: lane r bytes 0..7 = scales of row r, 8..15 = mins */
AI __m512i q4k_scales(const char *x0, const char *x1, const char *x2, const char *x3) {
    __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(x0 + 4)));
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(x1 + 4)), 1);
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(x2 + 4)), 2);
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(x3 + 4)), 3);
    const __m512i a = _mm512_shuffle_epi8(
        v, _mm512_broadcast_i32x4(_mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11)));
    const __m512i b = _mm512_shuffle_epi8(
        v, _mm512_broadcast_i32x4(_mm_setr_epi8(-1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7)));
    const __m512i lo = _mm512_mask_blend_epi32(0x8888, a, _mm512_srli_epi16(a, 4));
    const __m512i m = _mm512_broadcast_i32x4(_mm_setr_epi8(63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 15, 15, 15, 15));
    /* (lo & m) | ((b >> 2) & 0x30) */
    return _mm512_ternarylogic_epi32(_mm512_and_si512(lo, m), _mm512_srli_epi16(b, 2), _mm512_set1_epi8(0x30), 0xF8);
}

/* vpermb indices of the scale vectors: [row r][4p + h], words 0..15 = 16r + 4p + h, 16..31 =
 * 16r + 4p + 2 + h (odd bytes are zeroed by the mask). A table in memory: one load each,
 * where building them in registers costs four instructions. */
#define Q4K_I8(v) (v), 0, (v), 0, (v), 0, (v), 0, (v), 0, (v), 0, (v), 0, (v), 0
#define Q4K_IDX(r, s) {Q4K_I8(16 * (r) + (s)), Q4K_I8(16 * (r) + (s)), Q4K_I8(16 * (r) + (s) + 2), Q4K_I8(16 * (r) + (s) + 2)}
#define Q4K_IDXR(r) Q4K_IDX(r, 0), Q4K_IDX(r, 1), Q4K_IDX(r, 4), Q4K_IDX(r, 5)
static const uint8_t q4k_scidx[4][4][64] __attribute__((aligned(64))) = {
    {Q4K_IDXR(0)}, {Q4K_IDXR(1)}, {Q4K_IDXR(2)}, {Q4K_IDXR(3)}};

/* int16 scale vector for row r (lane r of S), half p, nibble h */
AI __m512i q4k_scv(__m512i S, int r, int p, int h) {
    const __m512i idx = _mm512_load_si512(q4k_scidx[r][2 * p + h]);
    return _mm512_maskz_permutexvar_epi8(0x5555555555555555ull, idx, S);
}

AI float hsum128(__m128 s) {
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* RM (1..4) rows x RN columns over nb blocks; qa: RN prepared columns, qas blocks apart.
 * acc_out: add to out instead of storing (passes after the first). */
AI void q4k_tile(const int RM, const int RN, const int PF, int nb, const char *w, size_t ws, const struct q4k_act *qa,
                 size_t qas, float *out, size_t os, int acc_out) {
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    const __m512i shr4 = _mm512_set1_epi64(0x1020408000000000ll);
    const char *xr[4];
    UNROLL for (int r = 0; r < 4; r++) xr[r] = w + (size_t)(r < RM ? r : 0) * ws;
    __m512 acc[4][4], accm[4];
    UNROLL for (int r = 0; r < 4; r++) UNROLL for (int c = 0; c < 4; c++) acc[r][c] = _mm512_setzero_ps();
    UNROLL for (int c = 0; c < 4; c++) accm[c] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const size_t bo = (size_t)b * Q4K_BS;
        if (PF) {
            UNROLL for (int r = 0; r < RM; r++) {
                const char *pf = xr[r] + bo + (size_t)PF * ws;
                _mm_prefetch(pf, _MM_HINT_T0);
                _mm_prefetch(pf + 64, _MM_HINT_T0);
                _mm_prefetch(pf + 128, _MM_HINT_T0);
            }
        }
        const __m512i S = q4k_scales(xr[0] + bo, xr[1] + bo, xr[2] + bo, xr[3] + bo);
        /* d, dmin of the 4 rows -> [d0 m0 d1 m1 d2 m2 d3 m3] */
        uint32_t u[4];
        UNROLL for (int r = 0; r < 4; r++) memcpy(&u[r], xr[r] + bo, 4);
        const __m256 dm = _mm256_cvtph_ps(_mm_setr_epi32((int)u[0], (int)u[1], (int)u[2], (int)u[3]));
        /* mins as int16: lane r words 0..7 */
        const __m512i mins = _mm512_maskz_shuffle_epi8(
            0x5555555555555555ull, S, _mm512_broadcast_i32x4(_mm_setr_epi16(8, 9, 10, 11, 12, 13, 14, 15)));
        __m512i isum[4][4];
        UNROLL for (int r = 0; r < 4; r++) UNROLL for (int c = 0; c < 4; c++) isum[r][c] = _mm512_setzero_si512();
        UNROLL for (int p = 0; p < 2; p++) {
            __m512i q[4];
            UNROLL for (int r = 0; r < RM; r++) q[r] = _mm512_loadu_si512(xr[r] + bo + 16 + 64 * p);
            UNROLL for (int h = 0; h < 2; h++) {
                __m512i wv[4], sc[4];
                UNROLL for (int r = 0; r < RM; r++) {
                    wv[r] = h ? _mm512_gf2p8affine_epi64_epi8(q[r], shr4, 0) : _mm512_and_si512(q[r], m4);
                    sc[r] = q4k_scv(S, r, p, h);
                }
                UNROLL for (int c = 0; c < RN; c++) {
                    const __m512i av = _mm512_load_si512(qa[(size_t)c * qas + b].q + 128 * p + 64 * h);
                    UNROLL for (int r = 0; r < RM; r++)
                        isum[r][c] = _mm512_dpwssd_epi32(isum[r][c], _mm512_maddubs_epi16(wv[r], av), sc[r]);
                }
            }
        }
        UNROLL for (int c = 0; c < RN; c++) {
            const struct q4k_act *A = &qa[(size_t)c * qas + b];
            const __m256 dmc = _mm256_mul_ps(dm, _mm256_set1_ps(A->d));
            const __m512 dmz = _mm512_castps256_ps512(dmc);
            const __m512i bs = _mm512_broadcast_i32x4(_mm_load_si128((const __m128i *)A->bs));
            const __m512 mn = _mm512_cvtepi32_ps(_mm512_madd_epi16(mins, bs));
            const __m512 dmin =
                _mm512_permutexvar_ps(_mm512_setr_epi32(1, 1, 1, 1, 3, 3, 3, 3, 5, 5, 5, 5, 7, 7, 7, 7), dmz);
            accm[c] = _mm512_fmadd_ps(mn, dmin, accm[c]);
            UNROLL for (int r = 0; r < RM; r++) {
                const __m512 d = _mm512_permutexvar_ps(_mm512_set1_epi32(2 * r), dmz);
                acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[r][c]), d, acc[r][c]);
            }
        }
    }
    UNROLL for (int c = 0; c < RN; c++) {
        __m128 m[4];
        m[0] = _mm512_castps512_ps128(accm[c]);
        m[1] = _mm512_extractf32x4_ps(accm[c], 1);
        m[2] = _mm512_extractf32x4_ps(accm[c], 2);
        m[3] = _mm512_extractf32x4_ps(accm[c], 3);
        UNROLL for (int r = 0; r < RM; r++) {
            const float v = _mm512_reduce_add_ps(acc[r][c]) - hsum128(m[r]);
            float *o = out + (size_t)c * os + r;
            if (acc_out) *o += v;
            else *o = v;
        }
    }
}

void lir__zmm_gemm_q4_K(int n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os, int nr,
                        int nc) {
    const int nbt = n / QK_K;
    struct q4k_act qa[Q4K_RNP * Q4K_MAXB];
    for (int b0 = 0; b0 < nbt; b0 += Q4K_MAXB) {
        const int nb = nbt - b0 < Q4K_MAXB ? nbt - b0 : Q4K_MAXB;
        const int acc_out = b0 > 0;
        const char *W = (const char *)w + (size_t)b0 * Q4K_BS;
        const char *A = (const char *)a + (size_t)b0 * sizeof(block_q8_K);
        if (nc == 1) {
            q4k_prep(nb, (const block_q8_K *)A, qa);
            int r = 0;
            for (; r + 4 <= nr; r += 4) {
                if (r + 4 * (Q4K_PF_GROUPS + 1) <= nr)
                    q4k_tile(4, 1, 4 * Q4K_PF_GROUPS, nb, W + (size_t)r * ws, ws, qa, 0, out + r, os, acc_out);
                else
                    q4k_tile(4, 1, 0, nb, W + (size_t)r * ws, ws, qa, 0, out + r, os, acc_out);
            }
            for (; r < nr; r++) q4k_tile(1, 1, 0, nb, W + (size_t)r * ws, ws, qa, 0, out + r, os, acc_out);
            continue;
        }
        for (int r0 = 0; r0 < nr; r0 += Q4K_ROWBLK) {
            const int r1 = nr - r0 < Q4K_ROWBLK ? nr : r0 + Q4K_ROWBLK;
            for (int c = 0; c < nc; c += Q4K_RNP) {
                const int rn = nc - c >= Q4K_RNP ? Q4K_RNP : 1;
                for (int k = 0; k < rn; k++)
                    q4k_prep(nb, (const block_q8_K *)(A + (size_t)(c + k) * as), qa + (size_t)k * Q4K_MAXB);
                float *o = out + (size_t)c * os;
                int r = r0;
                if (rn == Q4K_RNP) {
                    for (; r + Q4K_RMP <= r1; r += Q4K_RMP)
                        q4k_tile(Q4K_RMP, Q4K_RNP, 0, nb, W + (size_t)r * ws, ws, qa, Q4K_MAXB, o + r, os, acc_out);
                    for (; r < r1; r++)
                        q4k_tile(1, Q4K_RNP, 0, nb, W + (size_t)r * ws, ws, qa, Q4K_MAXB, o + r, os, acc_out);
                } else {
                    c -= Q4K_RNP - 1; /* one column at a time for the rest */
                    for (; r + 4 <= r1; r += 4)
                        q4k_tile(4, 1, 0, nb, W + (size_t)r * ws, ws, qa, Q4K_MAXB, o + r, os, acc_out);
                    for (; r < r1; r++) q4k_tile(1, 1, 0, nb, W + (size_t)r * ws, ws, qa, Q4K_MAXB, o + r, os, acc_out);
                }
            }
        }
    }
}
