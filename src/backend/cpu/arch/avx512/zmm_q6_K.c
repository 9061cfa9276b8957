/* zmm_q6_K.c — Q6_K x Q8_K gemm with 512-bit registers (AVX-512 BW/VL + VNNI + GFNI).
 *
 * Q6_K block (210 bytes): ql[128], qh[64], int8 scales[16] (sub-blocks of 16), f16 d.
 * Half h (128 elements): one zmm load of ql[64h..64h+64) and qh[32h..32h+32) broadcast to
 * both 256-bit halves give the 6-bit levels (0..63) of
 *   lo: elements 128h + 0..63   (low nibbles | qh bits 0-1 / 2-3 as bits 4-5)
 *   hi: elements 128h + 64..127 (high nibbles | qh bits 4-5 / 6-7)
 * in the activation's own order, so activations are read in place. The qh bit pairs are
 * moved with one gf2p8affine each (a different bit matrix per 256-bit half), the high
 * nibbles with another. Per 64 weights: vpmaddubsw (u6 x s8, no saturation) and vpdpwssd
 * with the int16 scales of its 4 sub-blocks. The -32 offset: the accumulator starts at
 * -sum_j (32 scale_j) bsum_j (one vpmaddwd; 32 * scale fits int16). Integer sums are exact.
 *
 * Decode (nc == 1): 4 rows interleaved, prefetching one row group ahead.
 * Prompt: tiles of 2 rows x 4 columns in 64-row blocks. */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "zmm.h"

#define AI static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

#define Q6K_BS 210
#define Q6K_ROWBLK 64
#ifndef Q6K_PF_GROUPS
#define Q6K_PF_GROUPS 1
#endif
#ifndef Q6K_RMP
#define Q6K_RMP 2
#endif
#ifndef Q6K_RNP
#define Q6K_RNP 4
#endif

AI float hsum_zmm(__m512 v) { return _mm512_reduce_add_ps(v); }

AI void q6k_tile(const int RM, const int RN, const int PF, int nb, const char *w, size_t ws, const char *a, size_t as,
                 float *out, size_t os) {
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    const __m512i shr4 = _mm512_set1_epi64(0x1020408000000000ll);
    /* qh -> bits 4-5: bits 0-1 (bytes 0..31), 2-3 (32..63); hi: bits 4-5, 6-7 */
    const __m512i mlo = _mm512_set_epi64(0x0000000004080000ll, 0x0000000004080000ll, 0x0000000004080000ll,
                                         0x0000000004080000ll, 0x0000000001020000ll, 0x0000000001020000ll,
                                         0x0000000001020000ll, 0x0000000001020000ll);
    const __m512i mhi = _mm512_set_epi64(0x0000000040800000ll, 0x0000000040800000ll, 0x0000000040800000ll,
                                         0x0000000040800000ll, 0x0000000010200000ll, 0x0000000010200000ll,
                                         0x0000000010200000ll, 0x0000000010200000ll);
    __m512 acc[4][4];
    UNROLL for (int r = 0; r < 4; r++) UNROLL for (int c = 0; c < 4; c++) acc[r][c] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const size_t bo = (size_t)b * Q6K_BS;
        if (PF) {
            UNROLL for (int r = 0; r < RM; r++) {
                const char *pf = w + (size_t)r * ws + bo + (size_t)PF * ws;
                _mm_prefetch(pf, _MM_HINT_T0);
                _mm_prefetch(pf + 64, _MM_HINT_T0);
                _mm_prefetch(pf + 128, _MM_HINT_T0);
                _mm_prefetch(pf + 192, _MM_HINT_T0);
            }
        }
        __m512i isum[4][4], sc16[4];
        UNROLL for (int r = 0; r < RM; r++) {
            const char *x = w + (size_t)r * ws + bo;
            const __m256i s = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(x + 192)));
            sc16[r] = _mm512_castsi256_si512(s);
            const __m256i s32 = _mm256_slli_epi16(s, 5);
            UNROLL for (int c = 0; c < RN; c++) {
                const block_q8_K *y = (const block_q8_K *)(a + (size_t)c * as) + b;
                const __m256i corr = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y->bsums), s32);
                isum[r][c] = _mm512_zextsi256_si512(_mm256_sub_epi32(_mm256_setzero_si256(), corr));
            }
        }
        UNROLL for (int h = 0; h < 2; h++) {
            __m512i lq[4], hq[4];
            UNROLL for (int r = 0; r < RM; r++) {
                const char *x = w + (size_t)r * ws + bo;
                const __m512i L = _mm512_loadu_si512(x + 64 * h);
                const __m512i H = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x + 128 + 32 * h)));
                /* (L & m4) | gf(H) */
                lq[r] = _mm512_ternarylogic_epi32(L, m4, _mm512_gf2p8affine_epi64_epi8(H, mlo, 0), 0xEA);
                hq[r] = _mm512_or_si512(_mm512_gf2p8affine_epi64_epi8(L, shr4, 0), _mm512_gf2p8affine_epi64_epi8(H, mhi, 0));
            }
            UNROLL for (int part = 0; part < 2; part++) {
                __m512i sv[4];
                const int s0 = 8 * h + 4 * part;
                const __m512i idx = _mm512_setr_epi32(
                    s0 | s0 << 16, s0 | s0 << 16, s0 | s0 << 16, s0 | s0 << 16, (s0 + 1) | (s0 + 1) << 16,
                    (s0 + 1) | (s0 + 1) << 16, (s0 + 1) | (s0 + 1) << 16, (s0 + 1) | (s0 + 1) << 16,
                    (s0 + 2) | (s0 + 2) << 16, (s0 + 2) | (s0 + 2) << 16, (s0 + 2) | (s0 + 2) << 16,
                    (s0 + 2) | (s0 + 2) << 16, (s0 + 3) | (s0 + 3) << 16, (s0 + 3) | (s0 + 3) << 16,
                    (s0 + 3) | (s0 + 3) << 16, (s0 + 3) | (s0 + 3) << 16);
                UNROLL for (int r = 0; r < RM; r++) sv[r] = _mm512_permutexvar_epi16(idx, sc16[r]);
                UNROLL for (int c = 0; c < RN; c++) {
                    const block_q8_K *y = (const block_q8_K *)(a + (size_t)c * as) + b;
                    const __m512i av = _mm512_loadu_si512(y->qs + 128 * h + 64 * part);
                    UNROLL for (int r = 0; r < RM; r++)
                        isum[r][c] = _mm512_dpwssd_epi32(isum[r][c], _mm512_maddubs_epi16(part ? hq[r] : lq[r], av), sv[r]);
                }
            }
        }
        UNROLL for (int r = 0; r < RM; r++) {
            lir_f16 hd;
            memcpy(&hd, w + (size_t)r * ws + bo + 208, 2);
            const float d = _cvtsh_ss(hd);
            UNROLL for (int c = 0; c < RN; c++) {
                const block_q8_K *y = (const block_q8_K *)(a + (size_t)c * as) + b;
                acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[r][c]), _mm512_set1_ps(d * y->d), acc[r][c]);
            }
        }
    }
    UNROLL for (int r = 0; r < RM; r++) UNROLL for (int c = 0; c < RN; c++) out[(size_t)c * os + r] = hsum_zmm(acc[r][c]);
}

void lir__zmm_gemm_q6_K(int n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os, int nr,
                        int nc) {
    const int nb = n / QK_K;
    const char *W = w, *A = a;
    if (nc == 1) {
        int r = 0;
        for (; r + 4 <= nr; r += 4) {
            if (r + 4 * (Q6K_PF_GROUPS + 1) <= nr)
                q6k_tile(4, 1, 4 * Q6K_PF_GROUPS, nb, W + (size_t)r * ws, ws, A, as, out + r, os);
            else
                q6k_tile(4, 1, 0, nb, W + (size_t)r * ws, ws, A, as, out + r, os);
        }
        for (; r < nr; r++) q6k_tile(1, 1, 0, nb, W + (size_t)r * ws, ws, A, as, out + r, os);
        return;
    }
    for (int r0 = 0; r0 < nr; r0 += Q6K_ROWBLK) {
        const int r1 = nr - r0 < Q6K_ROWBLK ? nr : r0 + Q6K_ROWBLK;
        int c = 0;
        for (; c + Q6K_RNP <= nc; c += Q6K_RNP) {
            int r = r0;
            for (; r + Q6K_RMP <= r1; r += Q6K_RMP)
                q6k_tile(Q6K_RMP, Q6K_RNP, 0, nb, W + (size_t)r * ws, ws, A + (size_t)c * as, as,
                         out + (size_t)c * os + r, os);
            for (; r < r1; r++)
                q6k_tile(1, Q6K_RNP, 0, nb, W + (size_t)r * ws, ws, A + (size_t)c * as, as, out + (size_t)c * os + r, os);
        }
        for (; c < nc; c++) {
            int r = r0;
            for (; r + 4 <= r1; r += 4)
                q6k_tile(4, 1, 0, nb, W + (size_t)r * ws, ws, A + (size_t)c * as, as, out + (size_t)c * os + r, os);
            for (; r < r1; r++) q6k_tile(1, 1, 0, nb, W + (size_t)r * ws, ws, A + (size_t)c * as, as, out + (size_t)c * os + r, os);
        }
    }
}
