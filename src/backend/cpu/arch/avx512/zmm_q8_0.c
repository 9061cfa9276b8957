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
 * Two groups A, B make a super-group of 8 blocks: dword permutes fold their X/Y into
 * Z0..Z3, where block j owns int32 lanes 2j, 2j+1, so four dpbusd then one cvt + mul + FMA
 * per 8 blocks and tile cell finish it (the float part is what limits a 4-lane layout).
 *
 * vpdpbusd is unsigned x signed: the weights are biased, w ^ 0x80 = w + 128, and the
 * activation side's -128 * sum(a) per lane is the accumulator's start value.
 * Activations are prepared in Z order (bytes, offsets, scales per lane; 64 KB on the stack)
 * once per column tile and K chunk of 28 super-groups; each row's weights are unpacked once
 * per super-group and reused across the tile's columns.
 *
 * Decode (nc == 1): 4 rows interleaved, software prefetch of all 5 lines of each super-group
 * 8 rows ahead. Prompt: 2 rows x 6 columns tiles, rows in blocks of 64 so a block stays in
 * L2 while all column tiles pass over it. Every (row, column) is summed in the same order
 * whatever the tile and column count, so decode and batched prompt give identical bits
 * (tests/model batching test).
 *
 * Measured with lir-kbench on the Zen 4 dev box (2 cores, shared and noisy: best of 3-4,
 * alternating with the shared 256-bit VNNI kernel of kernels_x86_impl.h), n = 2048:
 *   decode, 256 MB pass from DRAM    ~ memory bandwidth (10.6 vs 8.7 GB/s; membw 7.7-12.8)
 *   decode, 17 MB resident in L3     65 vs 55 GB/s
 *   decode, 557 KB resident in L2    71 vs 62 GB/s
 *   prompt 64-row x 64-col calls     300 / 197 / 107 vs 53 / 56 / 59 GOP/s (nc 64 / 256 / 512) */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>
#include "backend/cpu/arch/avx512/zmm.h"

#define AI static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

#define BS 34          /* sizeof(block_q8_0) */
#define GBYTES (4 * BS) /* bytes per group of 4 blocks */

#define BUF_BYTES (64 * 1024)

#define DEC_RM 4      /* decode: rows interleaved */
#ifndef PF_ROWS
#define PF_ROWS 8     /* decode: prefetch this many rows ahead */
#endif
#define ROWBLK 64     /* prompt: rows per block (L2 reuse across column tiles) */

/* X/Y byte indexes into (x[0..63], x[64..127]): byte s of the group is index s; Y's last 8
 * bytes (x[128..135]) come from a masked qword broadcast */
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

/* ---- super-groups of 8 blocks (groups A and B), 2 int32 lanes per block */
struct q8s {
    __m512i z[4];  /* activation bytes in Z order */
    __m512i off;   /* -128 * sum of the lane's bytes over z[0..3] */
    __m512 da;     /* scale of block j in lanes 2j, 2j+1 */
};
#define BUF_SGROUPS (BUF_BYTES / (int)sizeof(struct q8s)) /* 170 */
#ifndef S_RM
#define S_RM 2
#endif
#ifndef S_RN
#define S_RN 6
#endif

/* Z lanes 2k, 2k+1 <- A lanes 4k+h, 4k+h+1; lanes 8+2k, 9+2k <- B lanes 4k+h, 4k+h+1 */
static const uint32_t iz_tab[2][16] = {
    {0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29},
    {2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31},
};

/* unpack super-group at x with nbk blocks present (8: full) into z[0..3], d */
AI void unpack8(const char *x, const int nbk, __m512i z[4], __m512 *d) {
    __m512i XA, YA, XB, YB;
    __m512 dA, dB;
    if (nbk == 8) {
        unpack(x, 4, &XA, &YA, &dA);
        unpack(x + GBYTES, 4, &XB, &YB, &dB);
    } else {
        unpack(x, nbk >= 4 ? 4 : nbk, &XA, &YA, &dA);
        unpack(x + GBYTES, nbk >= 4 ? nbk - 4 : 0, &XB, &YB, &dB);
    }
    const __m512i i0 = _mm512_loadu_si512(iz_tab[0]), i1 = _mm512_loadu_si512(iz_tab[1]);
    z[0] = _mm512_permutex2var_epi32(XA, i0, XB);
    z[1] = _mm512_permutex2var_epi32(XA, i1, XB);
    z[2] = _mm512_permutex2var_epi32(YA, i0, YB);
    z[3] = _mm512_permutex2var_epi32(YA, i1, YB);
    *d = _mm512_permutex2var_ps(dA, i0, dB);
}

static void prep8(const char *a, size_t as, int rn, int s0, int s1, int ns, int nbl, struct q8s *buf) {
    const __m512i x80 = _mm512_set1_epi8((char)0x80);
    const int ks = s1 - s0;
    /* activation rows may come from L3 (many columns, long rows): prefetch the next
     * column's range while this one is unpacked */
    const size_t lo = (size_t)s0 * 2 * GBYTES, hi = (size_t)s1 * 2 * GBYTES;
    for (size_t o = lo; o < hi; o += 64) _mm_prefetch(a + o, _MM_HINT_T0);
    for (int c = 0; c < rn; c++) {
        const char *y = a + (size_t)c * as;
        struct q8s *p = buf + (size_t)c * ks;
        if (c + 1 < rn)
            for (size_t o = lo; o < hi; o += 64) _mm_prefetch(y + as + o, _MM_HINT_T0);
        for (int g = s0; g < s1; g++) {
            __m512i z[4];
            __m512 d;
            if (g == ns - 1 && nbl != 8)
                unpack8(y + (size_t)g * 2 * GBYTES, nbl, z, &d);
            else
                unpack8(y + (size_t)g * 2 * GBYTES, 8, z, &d);
            __m512i sum = _mm512_setzero_si512();
            for (int k = 0; k < 4; k++) {
                p[g - s0].z[k] = z[k];
                sum = _mm512_dpbusd_epi32(sum, x80, z[k]);
            }
            p[g - s0].off = _mm512_sub_epi32(_mm512_setzero_si512(), sum);
            p[g - s0].da = d;
        }
    }
}

#define T_RM (S_RM > DEC_RM ? S_RM : DEC_RM)
AI void step8(const char *w, size_t ws, const struct q8s *ca, int ks, int gi, const int nbk, const int RM,
              const int RN, size_t pf, __m512 acc[][S_RN]) {
    const __m512i x80 = _mm512_set1_epi8((char)0x80);
    __m512i zu[T_RM][4];
    __m512 dw[T_RM];
    UNROLL for (int r = 0; r < RM; r++) {
        if (pf) /* decode: the 5 lines of this super-group, PF_ROWS rows ahead */
            UNROLL for (int l = 0; l < 5; l++) _mm_prefetch(w + (size_t)r * ws + pf + 64 * l, _MM_HINT_T0);
        unpack8(w + (size_t)r * ws, nbk, zu[r], &dw[r]);
        UNROLL for (int k = 0; k < 4; k++) zu[r][k] = _mm512_xor_si512(zu[r][k], x80);
    }
    UNROLL for (int c = 0; c < RN; c++) {
        const struct q8s *p = ca + (size_t)c * ks + gi;
        UNROLL for (int r = 0; r < RM; r++) {
            __m512i i = _mm512_dpbusd_epi32(p->off, zu[r][0], p->z[0]);
            i = _mm512_dpbusd_epi32(i, zu[r][1], p->z[1]);
            i = _mm512_dpbusd_epi32(i, zu[r][2], p->z[2]);
            i = _mm512_dpbusd_epi32(i, zu[r][3], p->z[3]);
            acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i), _mm512_mul_ps(dw[r], p->da), acc[r][c]);
        }
    }
}

AI void tile8(const char *w, size_t ws, const struct q8s *ca, int s0, int s1, int ns, int nbl, float *out, size_t os,
              const int RM, const int RN, int add, size_t pf) {
    __m512 acc[T_RM][S_RN];
    UNROLL for (int r = 0; r < RM; r++) UNROLL for (int c = 0; c < RN; c++) acc[r][c] = _mm512_setzero_ps();
    const int ks = s1 - s0;
    const int sf = (s1 == ns && nbl != 8) ? s1 - 1 : s1;
    const char *x = w + (size_t)s0 * 2 * GBYTES;
    for (int g = s0; g < sf; g++, x += 2 * GBYTES) step8(x, ws, ca, ks, g - s0, 8, RM, RN, pf, acc);
    if (sf < s1) step8(x, ws, ca, ks, sf - s0, nbl, RM, RN, 0, acc);
    UNROLL for (int r = 0; r < RM; r++)
        UNROLL for (int c = 0; c < RN; c++) {
            const float v = _mm512_reduce_add_ps(acc[r][c]);
            float *o = out + (size_t)c * os + r;
            *o = add ? *o + v : v;
        }
}

/* K chunks of KC super-groups for every column count (decode too): each (row, column) is
 * summed in the same order whatever the tile, so decode and prompt give identical bits */
#define KC (BUF_SGROUPS / S_RN)
AI void cols8(const char *w, size_t ws, const char *a, size_t as, float *out, size_t os, int r0, int r1, int ns,
              int nbl, const int RN, const int RM, size_t pf, struct q8s *buf) {
    for (int s0 = 0; s0 < ns; s0 += KC) {
        const int s1 = ns - s0 < KC ? ns : s0 + KC;
        prep8(a, as, RN, s0, s1, ns, nbl, buf);
        int r = r0;
        for (; r + RM <= r1; r += RM)
            tile8(w + (size_t)r * ws, ws, buf, s0, s1, ns, nbl, out + r, os, RM, RN, s0 > 0, pf);
        for (; r < r1; r++) tile8(w + (size_t)r * ws, ws, buf, s0, s1, ns, nbl, out + r, os, 1, RN, s0 > 0, pf);
    }
}

/* columns [c0, c1) in tiles of up to S_RN (a switch keeps RN a constant) */
static void prompt8(const char *W, size_t ws, const char *A, size_t as, float *out, size_t os, int r0, int r1, int nb,
                    int nc, struct q8s *buf) {
    const int ns = (nb + 7) / 8, nbl = nb - 8 * (ns - 1);
    int c = 0;
    for (; c + S_RN <= nc; c += S_RN)
        cols8(W, ws, A + (size_t)c * as, as, out + (size_t)c * os, os, r0, r1, ns, nbl, S_RN, S_RM, 0, buf);
#define TAILC(k) case k: if (k < S_RN) cols8(W, ws, A + (size_t)c * as, as, out + (size_t)c * os, os, r0, r1, ns, nbl, k < S_RN ? k : 1, S_RM, 0, buf); break;
    switch (nc - c) {
        TAILC(1) TAILC(2) TAILC(3) TAILC(4) TAILC(5) TAILC(6) TAILC(7)
    default: break;
    }
#undef TAILC
}

void lir__zmm_gemm_q8_0(int n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os, int nr,
                        int nc) {
    const int nb = n / QK8_0;
    if (nb <= 0 || nr <= 0 || nc <= 0) {
        for (int c = 0; c < nc; c++)
            for (int r = 0; r < nr; r++) out[(size_t)c * os + r] = 0.0f;
        return;
    }
    const char *W = w, *A = a;
    struct q8s buf[BUF_SGROUPS];
    if (nc == 1) {
        const int ns = (nb + 7) / 8, nbl = nb - 8 * (ns - 1);
        cols8(W, ws, A, as, out, os, 0, nr, ns, nbl, 1, DEC_RM, (size_t)PF_ROWS * ws, buf);
        return;
    }
    for (int r0 = 0; r0 < nr; r0 += ROWBLK) {
        const int r1 = nr - r0 < ROWBLK ? nr : r0 + ROWBLK;
        prompt8(W, ws, A, as, out, os, r0, r1, nb, nc, buf);
    }
}
