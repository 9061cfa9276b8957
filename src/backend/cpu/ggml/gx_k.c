/* gx_k.c — the "ggml" table's gemms for the K-quants Q2_K, Q3_K, Q4_K, Q5_K, Q6_K: llama.cpp's
 * CPU sums (AVX-512 "zen4" build of node-llama-cpp 3.21.1's ggml, GCC 11.4) reproduced bit for
 * bit in plain C (gx.h). Compiled with -ffp-contract=off: fmaf() stands exactly where ggml's
 * code has an FMA instruction, nothing else fuses.
 *
 * All five dot Q8_K activations (vec_dot_type Q8_K). Which kernel ggml runs:
 *   Q4_K  weights with ne1 % 8 == 0 are repacked (q4_K_8x8, whenever AVX2), Q2_K weights with
 *         ne1 % 8 == 0 too (q2_K_8x8, whenever AVX-512F). repack.cpp's forward_mul_mat then runs,
 *         for the N token columns: ggml_gemm_*_8x8_q8_K on columns 0 .. N - N%4 - 1 (only when
 *         N > 3) and ggml_gemv_*_8x8_q8_K on each of the last N % 4 columns (all N when N <= 3;
 *         N == 1 is the gemv). gemv and gemm sum differently (arch/x86/repack.cpp):
 *           gemv: per super-block one exact int isum (all sub-blocks: scale * dot) and one imin
 *                 (mins * bsums); acc = fma((float)isum, dw * da, acc),
 *                 accm = fma((float)imin, dminw * da, accm); result acc - accm.
 *           gemm: the same two fmas, but per 64 elements (Q4_K: two sub-blocks of 32) or per
 *                 128 elements (Q2_K: eight sub-blocks of 16): 4 (Q4_K) or 2 (Q2_K) fmas per
 *                 super-block into each accumulator; result acc - accm.
 *         (AVX-512 16-column tiles, AVX2 8-column tiles and 16- or 4-row tiles all do this
 *         same per-output arithmetic.) Gemm columns' activations come from
 *         ggml_quantize_mat_q8_K_4x8, gemv columns' from quantize_row_q8_K (= _ref on x86). The
 *         4x8 quantizer picks iscale = -127/amax when some element equals +amax, else
 *         +127/amax, where the _ref one takes the sign of the FIRST element of largest |x|: they
 *         differ only when that is negative and +amax occurs too, and then the 4x8 block is the
 *         exact negation (d, qs, bsums) of the _ref block, which gives the same bits in every
 *         formula above (isum and d both change sign). So lir's per-row q8_K bytes serve both.
 *         Unrepacked Q4_K / Q2_K (ne1 % 8 != 0, or Q2_K without AVX-512) sum as vec_dot below:
 *         lir__gx_gemm_q4_K_norepack / lir__gx_gemm_q2_K_norepack.
 *   Q3_K, Q5_K, Q6_K are never repacked on x86 and tinyBLAS (llamafile_sgemm) takes no K-quant,
 *         so one token or many it is ggml_vec_dot_*_q8_K (arch/x86/quants.c, the __AVX2__
 *         branch): per block 8 int32 lanes, lane l = the exact sum over the elements e with
 *         (e % 32) / 4 == l of scale(e) * q(e) * a(e) (32-byte loads, maddubs + madd pairs), then
 *         acc[l] = fma(d, (float)lane_l, acc[l]) with d = da * dw, and hsum_float_8 at the end:
 *           Q3_K: q = low 2 bits - (high bit ? 0 : 4), scale - 32.
 *           Q5_K: q = 5-bit unsigned; the mins go to a scalar: summs = fma((float)sum_j
 *                 m_j * bsum32_j, dmin, summs) with dmin = (-da) * dminw (GCC contracted
 *                 summs += dmin * x into vfmadd231ss); result hsum8(acc) + summs.
 *           Q6_K: q = 6-bit unsigned; each lane l first loses 32 * (bsum[2l] * sc[2l] +
 *                 bsum[2l+1] * sc[2l+1]) (integer, before the float conversion).
 *           Q4_K (unrepacked): lanes as Q5_K; mins in 4 float lanes accm[l] = fma(dmin,
 *                 (float)(m[2l] bsum32[2l] + m[2l+1] bsum32[2l+1]), accm[l]); result
 *                 hsum8(acc) + ((accm0 + accm2) + (accm1 + accm3)).
 *           Q2_K (unrepacked): per block first acc[l] = fma(dmin, (float)(m[2l] bsum[2l] +
 *                 m[2l+1] bsum[2l+1]), acc[l]) (dmin = (-da) * dminw), then the d fma; hsum8.
 * All integer sums are exact (no int16 saturation is reachable with q8 in [-127, 127]), so only
 * which integers become floats, and the float ops on them, are followed. */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "backend/cpu/ggml/gx.h"

static inline float h2f(lir_f16 h) { return lir_f16_to_f32(h); }

/* One K-quant super-block decoded: q[e] the integer quant of element e (Q3_K signed with its
 * -4, the others unsigned), sc[g] / mn[g] the integer scale / min of element group g = e / 16
 * (Q4_K/Q5_K's 32-element sub-block values repeated for both of its 16-groups), d and dmin. */
typedef struct {
    int8_t q[256];
    int16_t sc[16];
    int16_t mn[16];
    float d, dmin;
} kblk;

static void dec_q2_K(const block_q2_K *b, kblk *o) {
    for (int e = 0; e < 256; e++) {
        const int h = e / 128, j = (e % 128) / 32, l = e % 32;
        o->q[e] = (int8_t)((b->qs[h * 32 + l] >> (2 * j)) & 3);
    }
    for (int g = 0; g < 16; g++) {
        o->sc[g] = (int16_t)(b->scales[g] & 15);
        o->mn[g] = (int16_t)(b->scales[g] >> 4);
    }
    o->d = h2f(b->d);
    o->dmin = h2f(b->dmin);
}

static void dec_q3_K(const block_q3_K *b, kblk *o) {
    for (int e = 0; e < 256; e++) {
        const int h = e / 128, j = (e % 128) / 32, l = e % 32;
        const int lo = (b->qs[h * 32 + l] >> (2 * j)) & 3;
        const int hb = (b->hmask[l] >> (4 * h + j)) & 1;
        o->q[e] = (int8_t)(lo - (hb ? 0 : 4));
    }
    uint32_t aux[4];
    memcpy(aux, b->scales, 12);
    const uint32_t km1 = 0x03030303, km2 = 0x0f0f0f0f, tmp = aux[2];
    aux[2] = ((aux[0] >> 4) & km2) | (((tmp >> 4) & km1) << 4);
    aux[3] = ((aux[1] >> 4) & km2) | (((tmp >> 6) & km1) << 4);
    aux[0] = (aux[0] & km2) | (((tmp >> 0) & km1) << 4);
    aux[1] = (aux[1] & km2) | (((tmp >> 2) & km1) << 4);
    int8_t s8[16];
    memcpy(s8, aux, 16);
    for (int g = 0; g < 16; g++) {
        o->sc[g] = (int16_t)(s8[g] - 32);
        o->mn[g] = 0;
    }
    o->d = h2f(b->d);
    o->dmin = 0.0f;
}

/* get_scale_min_k4: 8 six-bit scales and mins packed in 12 bytes */
static void scale_min_k4(const uint8_t *q, int16_t sc[16], int16_t mn[16]) {
    for (int j = 0; j < 8; j++) {
        int s, m;
        if (j < 4) {
            s = q[j] & 63;
            m = q[j + 4] & 63;
        } else {
            s = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
            m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        }
        sc[2 * j] = sc[2 * j + 1] = (int16_t)s;
        mn[2 * j] = mn[2 * j + 1] = (int16_t)m;
    }
}

static void dec_q4_K(const block_q4_K *b, kblk *o) {
    for (int e = 0; e < 256; e++) {
        const int c = e / 64, l = e % 64;
        o->q[e] = (int8_t)(l < 32 ? b->qs[c * 32 + l] & 15 : b->qs[c * 32 + l - 32] >> 4);
    }
    scale_min_k4(b->scales, o->sc, o->mn);
    o->d = h2f(b->d);
    o->dmin = h2f(b->dmin);
}

static void dec_q5_K(const block_q5_K *b, kblk *o) {
    for (int e = 0; e < 256; e++) {
        const int c = e / 64, l = e % 64;
        const int lo = l < 32 ? b->qs[c * 32 + l] & 15 : b->qs[c * 32 + l - 32] >> 4;
        const int hb = (b->qh[e % 32] >> (e / 32)) & 1;
        o->q[e] = (int8_t)(lo | hb << 4);
    }
    scale_min_k4(b->scales, o->sc, o->mn);
    o->d = h2f(b->d);
    o->dmin = h2f(b->dmin);
}

static void dec_q6_K(const block_q6_K *b, kblk *o) {
    for (int e = 0; e < 256; e++) {
        const int h = e / 128, j = (e % 128) / 32, l = e % 32;
        const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
        const int lo = (j & 1) ? ql[32 + l] : ql[l];
        const int low4 = (j & 2) ? lo >> 4 : lo & 15;
        const int hi2 = (qh[l] >> (2 * j)) & 3;
        o->q[e] = (int8_t)(low4 | hi2 << 4); /* unsigned 0..63, the -32 is applied via bsums */
    }
    for (int g = 0; g < 16; g++) {
        o->sc[g] = b->scales[g];
        o->mn[g] = 0;
    }
    o->d = h2f(b->d);
    o->dmin = 0.0f;
}

typedef void (*dec_fn)(const void *b, kblk *o);
static void dec2(const void *b, kblk *o) { dec_q2_K(b, o); }
static void dec3(const void *b, kblk *o) { dec_q3_K(b, o); }
static void dec4(const void *b, kblk *o) { dec_q4_K(b, o); }
static void dec5(const void *b, kblk *o) { dec_q5_K(b, o); }
static void dec6(const void *b, kblk *o) { dec_q6_K(b, o); }

/* One weight row's super-blocks, decoded once into cache when the row has at most KCACHE of
 * them (37 KiB of stack), else decoded again each time a dot visits a block: no allocation. */
#define KCACHE 64
struct krow {
    const char *raw;
    size_t bsz;
    dec_fn dec;
    kblk *cache; /* NULL: decode into tmp */
    kblk tmp;
};

/* Super-block b of the row (valid until the next call when not cached). */
static inline const kblk *kb(struct krow *r, int b) {
    if (r->cache) return &r->cache[b];
    r->dec(r->raw + (size_t)b * r->bsz, &r->tmp);
    return &r->tmp;
}

/* The 8 int32 lanes of a vec_dot block: lane l sums elements e with (e % 32) / 4 == l. */
static inline void lanes8(const kblk *w, const block_q8_K *a, int32_t l[8]) {
    for (int i = 0; i < 8; i++) l[i] = 0;
    for (int e = 0; e < 256; e++) l[(e % 32) / 4] += w->sc[e / 16] * w->q[e] * a->qs[e];
}

/* Exact integer sum of scale * q * a over elements [e0, e1). */
static inline int32_t isum_range(const kblk *w, const block_q8_K *a, int e0, int e1) {
    int32_t s = 0;
    for (int e = e0; e < e1; e++) s += w->sc[e / 16] * w->q[e] * a->qs[e];
    return s;
}

/* Exact integer sum of min * bsum over 16-groups [g0, g1). */
static inline int32_t imin_range(const kblk *w, const block_q8_K *a, int g0, int g1) {
    int32_t s = 0;
    for (int g = g0; g < g1; g++) s += w->mn[g] * a->bsums[g];
    return s;
}

/* ---- ggml_vec_dot_*_q8_K (x86 __AVX2__ branches) ---- */

static float vd_q2_K(int nb, struct krow *w, const block_q8_K *a) {
    float acc[8] = { 0 };
    int32_t l[8];
    for (int b = 0; b < nb; b++) {
        const kblk *wb = kb(w, b);
        const float d = a[b].d * wb->d;
        const float dmin = -a[b].d * wb->dmin;
        for (int i = 0; i < 8; i++) {
            const int32_t m = wb->mn[2 * i] * a[b].bsums[2 * i] + wb->mn[2 * i + 1] * a[b].bsums[2 * i + 1];
            acc[i] = fmaf(dmin, (float)m, acc[i]);
        }
        lanes8(wb, &a[b], l);
        for (int i = 0; i < 8; i++) acc[i] = fmaf(d, (float)l[i], acc[i]);
    }
    return lir__gx_hsum8(acc);
}

static float vd_q3_K(int nb, struct krow *w, const block_q8_K *a) {
    float acc[8] = { 0 };
    int32_t l[8];
    for (int b = 0; b < nb; b++) {
        const kblk *wb = kb(w, b);
        const float d = a[b].d * wb->d;
        lanes8(wb, &a[b], l);
        for (int i = 0; i < 8; i++) acc[i] = fmaf(d, (float)l[i], acc[i]);
    }
    return lir__gx_hsum8(acc);
}

/* sum of the 32-element bsums (pairs of Q8_K's 16-element ones) times the 32-element mins */
static inline int32_t min32_pair(const kblk *w, const block_q8_K *a, int j0) {
    /* mins of sub-blocks j0, j0 + 1 (32 elements each) with their bsums */
    const int32_t b0 = a->bsums[2 * j0] + a->bsums[2 * j0 + 1];
    const int32_t b1 = a->bsums[2 * j0 + 2] + a->bsums[2 * j0 + 3];
    return w->mn[2 * j0] * b0 + w->mn[2 * j0 + 2] * b1;
}

static float vd_q4_K(int nb, struct krow *w, const block_q8_K *a) {
    float acc[8] = { 0 }, accm[4] = { 0 };
    int32_t l[8];
    for (int b = 0; b < nb; b++) {
        const kblk *wb = kb(w, b);
        const float d = a[b].d * wb->d;
        const float dmin = -a[b].d * wb->dmin;
        for (int i = 0; i < 4; i++) accm[i] = fmaf(dmin, (float)min32_pair(wb, &a[b], 2 * i), accm[i]);
        lanes8(wb, &a[b], l);
        for (int i = 0; i < 8; i++) acc[i] = fmaf(d, (float)l[i], acc[i]);
    }
    return lir__gx_hsum8(acc) + ((accm[0] + accm[2]) + (accm[1] + accm[3]));
}

static float vd_q5_K(int nb, struct krow *w, const block_q8_K *a) {
    float acc[8] = { 0 }, summs = 0.0f;
    int32_t l[8];
    for (int b = 0; b < nb; b++) {
        const kblk *wb = kb(w, b);
        const float d = a[b].d * wb->d;
        const float dmin = -a[b].d * wb->dmin;
        const int32_t m = min32_pair(wb, &a[b], 0) + min32_pair(wb, &a[b], 2) + min32_pair(wb, &a[b], 4) +
                          min32_pair(wb, &a[b], 6);
        summs = fmaf(dmin, (float)m, summs);
        lanes8(wb, &a[b], l);
        for (int i = 0; i < 8; i++) acc[i] = fmaf(d, (float)l[i], acc[i]);
    }
    return lir__gx_hsum8(acc) + summs;
}

static float vd_q6_K(int nb, struct krow *w, const block_q8_K *a) {
    float acc[8] = { 0 };
    int32_t l[8];
    for (int b = 0; b < nb; b++) {
        const kblk *wb = kb(w, b);
        const float d = a[b].d * wb->d;
        lanes8(wb, &a[b], l);
        for (int i = 0; i < 8; i++) {
            const int32_t sub = a[b].bsums[2 * i] * wb->sc[2 * i] + a[b].bsums[2 * i + 1] * wb->sc[2 * i + 1];
            acc[i] = fmaf(d, (float)(l[i] - sub * 32), acc[i]);
        }
    }
    return lir__gx_hsum8(acc);
}

/* ---- repacked ggml_gemv / ggml_gemm _q4_K_8x8 / _q2_K_8x8 _q8_K (arch/x86/repack.cpp) ---- */

/* gemv: one int isum and one imin per super-block. Q4_K and Q2_K alike. */
static float gemv_k(int nb, struct krow *w, const block_q8_K *a) {
    float acc = 0.0f, accm = 0.0f;
    for (int b = 0; b < nb; b++) {
        const kblk *wb = kb(w, b);
        const int32_t is = isum_range(wb, &a[b], 0, 256);
        const int32_t im = imin_range(wb, &a[b], 0, 16);
        acc = fmaf((float)is, wb->d * a[b].d, acc);
        accm = fmaf((float)im, wb->dmin * a[b].d, accm);
    }
    return acc - accm;
}

/* gemm: the same per span of `span` elements (Q4_K 64, Q2_K 128). */
static float gemm_k(int nb, struct krow *w, const block_q8_K *a, int span) {
    float acc = 0.0f, accm = 0.0f;
    for (int b = 0; b < nb; b++) {
        const kblk *wb = kb(w, b);
        const float dd = wb->d * a[b].d, dm = wb->dmin * a[b].d;
        for (int e0 = 0; e0 < 256; e0 += span) {
            const int32_t is = isum_range(wb, &a[b], e0, e0 + span);
            const int32_t im = imin_range(wb, &a[b], e0 / 16, (e0 + span) / 16);
            acc = fmaf((float)is, dd, acc);
            accm = fmaf((float)im, dm, accm);
        }
    }
    return acc - accm;
}

/* ---- drivers ---- */

enum order { VD2, VD3, VD4, VD5, VD6, GEMV, GEMM64, GEMM128 };

static float dot_order(enum order o, int nb, struct krow *w, const block_q8_K *a) {
    switch (o) {
    case VD2: return vd_q2_K(nb, w, a);
    case VD3: return vd_q3_K(nb, w, a);
    case VD4: return vd_q4_K(nb, w, a);
    case VD5: return vd_q5_K(nb, w, a);
    case VD6: return vd_q6_K(nb, w, a);
    case GEMV: return gemv_k(nb, w, a);
    case GEMM64: return gemm_k(nb, w, a, 64);
    case GEMM128: return gemm_k(nb, w, a, 128);
    }
    return 0.0f;
}

/* Columns c < c_split in order o_lo, the rest in o_hi. */
static void run(dec_fn dec, size_t bsz, enum order o_lo, enum order o_hi, int c_split, int n, const void *w, size_t ws,
                const void *a, size_t as, float *out, size_t os, int nr, int nc) {
    const int nb = n / QK_K;
    kblk cache[KCACHE];
    for (int r = 0; r < nr; r++) {
        struct krow row = { .raw = (const char *)w + (size_t)r * ws, .bsz = bsz, .dec = dec,
                            .cache = nb <= KCACHE ? cache : NULL };
        for (int b = 0; row.cache && b < nb; b++) dec(row.raw + (size_t)b * bsz, &cache[b]);
        for (int c = 0; c < nc; c++) {
            const block_q8_K *ar = (const block_q8_K *)((const char *)a + (size_t)c * as);
            out[(size_t)c * os + r] = dot_order(c < c_split ? o_lo : o_hi, nb, &row, ar);
        }
    }
}

/* repacked types: gemm for the first nc - nc % 4 columns when nc > 3, gemv for the rest */
static inline int gemm_cols(int nc) { return nc > 3 ? nc - nc % 4 : 0; }

void lir__gx_gemm_q4_K_one(int n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os, int nr,
                           int nc) {
    run(dec4, sizeof(block_q4_K), GEMV, GEMV, 0, n, w, ws, a, as, out, os, nr, nc);
}
void lir__gx_gemm_q4_K_many(int n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os, int nr,
                            int nc) {
    run(dec4, sizeof(block_q4_K), GEMM64, GEMV, gemm_cols(nc), n, w, ws, a, as, out, os, nr, nc);
}
void lir__gx_gemm_q2_K_one(int n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os, int nr,
                           int nc) {
    run(dec2, sizeof(block_q2_K), GEMV, GEMV, 0, n, w, ws, a, as, out, os, nr, nc);
}
void lir__gx_gemm_q2_K_many(int n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os, int nr,
                            int nc) {
    run(dec2, sizeof(block_q2_K), GEMM128, GEMV, gemm_cols(nc), n, w, ws, a, as, out, os, nr, nc);
}

/* Unrepacked Q4_K / Q2_K (weight ne1 % 8 != 0): vec_dot for one token or many. */
void lir__gx_gemm_q4_K_norepack(int n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                                int nr, int nc) {
    run(dec4, sizeof(block_q4_K), VD4, VD4, 0, n, w, ws, a, as, out, os, nr, nc);
}
void lir__gx_gemm_q2_K_norepack(int n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                                int nr, int nc) {
    run(dec2, sizeof(block_q2_K), VD2, VD2, 0, n, w, ws, a, as, out, os, nr, nc);
}

#define VD_GEMM(T, DEC, O)                                                                                    \
    void lir__gx_gemm_##T##_one(int n, const void *w, size_t ws, const void *a, size_t as, float *out,       \
                                size_t os, int nr, int nc) {                                                 \
        run(DEC, sizeof(block_##T), O, O, 0, n, w, ws, a, as, out, os, nr, nc);                              \
    }                                                                                                        \
    void lir__gx_gemm_##T##_many(int n, const void *w, size_t ws, const void *a, size_t as, float *out,      \
                                 size_t os, int nr, int nc) {                                                \
        run(DEC, sizeof(block_##T), O, O, 0, n, w, ws, a, as, out, os, nr, nc);                              \
    }
VD_GEMM(q3_K, dec3, VD3)
VD_GEMM(q5_K, dec5, VD5)
VD_GEMM(q6_K, dec6, VD6)
#undef VD_GEMM

