/* matvec.cu — decode-size weight products (1..8 input rows) and the activation rounding they
 * read. Every lane loads 8..16 contiguous weight bytes a step.
 *  - Q4_K, Q6_K, Q8_0, Q4_0 weights: integer dot products (__dp4a) of the weight quants with
 *    the input quantized to int8 as the CPU backend quantizes it (Q8_K blocks of 256 with sums
 *    per 16, or Q8_0 blocks of 32), scaled once per sub-block: ggml's vec_dot formulas, exact
 *    in the integer part.
 *  - every other type: the weights dequantized in registers (quant.cuh) times the rounded
 *    input as f32.
 * Two rows a warp for large launches (the inputs loaded once for both; a gate and an up row
 * for SwiGLU), a row split over a block's four warps for smaller ones. Epilogues: store
 * (+ bias), add into the output (the residual stream), or SwiGLU.
 * Launched with programmatic dependent launch when on (launch.cuh): a warp starts its weight
 * rows into L2 before waiting for the kernel that writes its input.
 * The activation rounding (lirk_act_quant, and the fused RMSNorm in ops.cu) writes both the
 * rounded values as f32 (the GEMM and f32 paths) and the int8 form. */
#include "backend/cuda/act.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/launch.cuh"
#include "backend/cuda/quant.cuh"

#include <cuda_runtime.h>
#include <string.h>

#define MV_WARPS 4
#define MV_MAX 3

struct mvm {
    const uint8_t *w;
    size_t rs;
    int ne1;
    const float *bias; /* NULL or ne1 */
    float *out;        /* [NC][ne1] */
};
struct mva {
    struct mvm m[MV_MAX];
    int n_mat, ne0, mode, rows;
    float *rout;       /* SwiGLU: the result also rounded (rmode) here, or NULL */
    int rmode;
    const float *xf;   /* [NC][ne0] rounded input */
    const int8_t *xq;  /* [NC][ne0] int8 input (Q8 modes) */
    const float *xd;   /* [NC][ne0 / QB] block scales */
    const int32_t *xs; /* [NC][ne0 / 16] sums of xq per 16 (Q8_K) */
};

thread_local int lirk_pdl = 0;

extern "C" void lirk_set_pdl(int on) { lirk_pdl = on; }

/* n 32-bit words from p, which is only 2-byte aligned: aligned loads and funnel shifts */
template <int N>
__device__ __forceinline__ void ld_words(const uint8_t *p, uint32_t out[N]) {
    const uintptr_t a = (uintptr_t)p;
    const uint32_t *b = (const uint32_t *)(a & ~(uintptr_t)3);
    const int sh = (int)(a & 3) * 8;
    if (sh == 0) {
#pragma unroll
        for (int i = 0; i < N; i++) out[i] = __ldg(b + i);
    } else {
        uint32_t t[N + 1];
#pragma unroll
        for (int i = 0; i <= N; i++) t[i] = __ldg(b + i);
#pragma unroll
        for (int i = 0; i < N; i++) out[i] = __funnelshift_r(t[i], t[i + 1], sh);
    }
}

/* 16 weight bytes (16-byte aligned), read once: not kept in L1, where the inputs live */
__device__ __forceinline__ uint4 ld_stream16(const void *p) {
    uint4 r;
    asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
        : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
        : "l"(p));
    return r;
}

/* byte k (0..11) of the 12 Q4_K/Q5_K scale bytes held in words s1, s2, s3 (block bytes 4..15) */
__device__ __forceinline__ int sc_byte(uint32_t s1, uint32_t s2, uint32_t s3, int k) {
    const uint32_t w = k < 4 ? s1 : k < 8 ? s2 : s3;
    return (int)((w >> (8 * (k & 3))) & 0xFFu);
}
/* the 6-bit scale and min of sub-block j, as lirk_scale_min_k4 */
__device__ __forceinline__ void sc_min(uint32_t s1, uint32_t s2, uint32_t s3, int j, int *d, int *m) {
    if (j < 4) {
        *d = sc_byte(s1, s2, s3, j) & 63;
        *m = sc_byte(s1, s2, s3, j + 4) & 63;
    } else {
        const int a = sc_byte(s1, s2, s3, j + 4);
        *d = (a & 0xF) | ((sc_byte(s1, s2, s3, j - 4) >> 6) << 4);
        *m = (a >> 4) | ((sc_byte(s1, s2, s3, j) >> 6) << 4);
    }
}

/* ---- per-lane partial dot products of R weight rows (w[r]) with NC input rows ----
 * The inputs of a step are loaded once and used for every row. */

template <int T, int R, int NC, int NL>
__device__ __forceinline__ void dot_f32in(const uint8_t *const *w, const mva &a, int lane, float acc[R][NC]) {
    const int nsub = a.ne0 / 8;
#pragma unroll (R == 1 ? 4 : 2)
    for (int s = lane; s < nsub; s += NL) {
        float v[R][8];
#pragma unroll
        for (int r = 0; r < R; r++) deq<T>::get(w[r], s, v[r]);
#pragma unroll
        for (int c = 0; c < NC; c++) {
            const float4 *xp = (const float4 *)(a.xf + (size_t)c * a.ne0 + 8 * s);
            const float4 p = xp[0], q = xp[1];
#pragma unroll
            for (int r = 0; r < R; r++)
                acc[r][c] += v[r][0] * p.x + v[r][1] * p.y + v[r][2] * p.z + v[r][3] * p.w + v[r][4] * q.x +
                             v[r][5] * q.y + v[r][6] * q.z + v[r][7] * q.w;
        }
    }
}

/* Q4_K x Q8_K: lane = 8 * block-in-step + 2 * chunk j + half h: 16 quant bytes = elements
 * 64j + 16h + [0,16) (low nibbles, sub-block 2j) and 64j + 32 + 16h + [0,16) (high, 2j+1);
 * the block's first 16 bytes (d, dmin, 12 scale bytes) in one load */
template <int R, int NC, int NL>
__device__ __forceinline__ void dot_q4k(const uint8_t *const *w, const mva &a, int lane, float acc[R][NC]) {
    const int nb = a.ne0 / 256, bi = lane >> 3, j = (lane >> 1) & 3, h = lane & 1; /* lane < NL */
#pragma unroll (R == 1 ? 4 : 2)
    for (int b = bi; b < nb; b += NL / 8) {
        uint4 hd[R], q[R];
#pragma unroll
        for (int r = 0; r < R; r++) {
            const uint8_t *p = w[r] + (size_t)b * 144;
            hd[r] = __ldg((const uint4 *)p);
            q[r] = ld_stream16(p + 16 + 32 * j + 16 * h);
        }
#pragma unroll
        for (int c = 0; c < NC; c++) {
            const int8_t *xq = a.xq + (size_t)c * a.ne0 + (size_t)b * 256 + 64 * j + 16 * h;
            const int4 xl = *(const int4 *)xq, xh = *(const int4 *)(xq + 32);
            const int xlv[4] = { xl.x, xl.y, xl.z, xl.w }, xhv[4] = { xh.x, xh.y, xh.z, xh.w };
            const int32_t *xs = a.xs + (size_t)c * (a.ne0 / 16) + (size_t)b * 16 + 4 * j + h;
            const int s_lo = xs[0], s_hi = xs[2];
            const float dx = a.xd[(size_t)c * nb + b];
#pragma unroll
            for (int r = 0; r < R; r++) {
                const uint32_t qw[4] = { q[r].x, q[r].y, q[r].z, q[r].w };
                int sl = 0, sh = 0;
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    sl = __dp4a((int)(qw[i] & 0x0F0F0F0Fu), xlv[i], sl);
                    sh = __dp4a((int)((qw[i] >> 4) & 0x0F0F0F0Fu), xhv[i], sh);
                }
                int sc0, m0, sc1, m1;
                sc_min(hd[r].y, hd[r].z, hd[r].w, 2 * j, &sc0, &m0);
                sc_min(hd[r].y, hd[r].z, hd[r].w, 2 * j + 1, &sc1, &m1);
                const float2 dm = __half22float2(*(const __half2 *)&hd[r].x);
                acc[r][c] += dx * (dm.x * (float)(sc0 * sl + sc1 * sh) - dm.y * (float)(m0 * s_lo + m1 * s_hi));
            }
        }
    }
}

/* Q6_K x Q8_K: lane = 8 * block-in-step + 4 * half hh + k: elements 128hh + 32qt + 8k + [0,8)
 * for the four quarters qt (ql nibbles, qh bit pairs, one scale each) */
template <int R, int NC, int NL>
__device__ __forceinline__ void dot_q6k(const uint8_t *const *w, const mva &a, int lane, float acc[R][NC]) {
    const int nb = a.ne0 / 256, bi = lane >> 3, hh = (lane >> 2) & 1, k = lane & 3;
#pragma unroll (R == 1 ? 4 : 2)
    for (int b = bi; b < nb; b += NL / 8) {
        int v[R][4][2], sc[R][4];
        float d[R];
#pragma unroll
        for (int r = 0; r < R; r++) {
            const uint8_t *p = w[r] + (size_t)b * 210;
            uint32_t l0[2], l1[2], qh[2], sw[2];
            ld_words<2>(p + 64 * hh + 8 * k, l0);
            ld_words<2>(p + 64 * hh + 32 + 8 * k, l1);
            ld_words<2>(p + 128 + 32 * hh + 8 * k, qh);
            ld_words<2>(p + 192 + 8 * hh, sw); /* scales 8hh .. 8hh+7 */
            d[r] = lirk_h2f(p + 208);
#pragma unroll
            for (int qt = 0; qt < 4; qt++) {
                const int sb = 2 * qt + (k >> 1); /* 0..7 */
                sc[r][qt] = (int)(int8_t)((sw[sb >> 2] >> (8 * (sb & 3))) & 0xFFu);
#pragma unroll
                for (int i = 0; i < 2; i++) {
                    const uint32_t lo = (qt & 1) ? l1[i] : l0[i];
                    const uint32_t nib = (qt < 2 ? lo : lo >> 4) & 0x0F0F0F0Fu;
                    const uint32_t hb = ((qh[i] >> (2 * qt)) & 0x03030303u) << 4;
                    v[r][qt][i] = (int)__vsub4(nib | hb, 0x20202020u);
                }
            }
        }
#pragma unroll
        for (int c = 0; c < NC; c++) {
            const int8_t *xq = a.xq + (size_t)c * a.ne0 + (size_t)b * 256 + 128 * hh + 8 * k;
            int2 xv[4];
#pragma unroll
            for (int qt = 0; qt < 4; qt++) xv[qt] = *(const int2 *)(xq + 32 * qt);
            const float dx = a.xd[(size_t)c * nb + b];
#pragma unroll
            for (int r = 0; r < R; r++) {
                int s = 0;
#pragma unroll
                for (int qt = 0; qt < 4; qt++) s += sc[r][qt] * __dp4a(v[r][qt][1], xv[qt].y, __dp4a(v[r][qt][0], xv[qt].x, 0));
                acc[r][c] += dx * d[r] * (float)s;
            }
        }
    }
}

/* the integer dot product of 32 int8 weights (v, 8 words) with 32 int8 inputs (x0, x1) */
__device__ __forceinline__ int dp4a8(const int *v, int4 x0, int4 x1) {
    int s = __dp4a(v[0], x0.x, 0);
    s = __dp4a(v[1], x0.y, s);
    s = __dp4a(v[2], x0.z, s);
    s = __dp4a(v[3], x0.w, s);
    s = __dp4a(v[4], x1.x, s);
    s = __dp4a(v[5], x1.y, s);
    s = __dp4a(v[6], x1.z, s);
    return __dp4a(v[7], x1.w, s);
}

/* Block b of Q8_0-like rows (Q8_0, and Q4_0 once its nibbles are unpacked): for each input c,
 * acc[r][c] += d[r] x input c's block scale x the integer dot product of row r's 32 int8 weights
 * (v[r], 8 words) with input c's 32 int8 values */
template <int R, int NC>
__device__ __forceinline__ void acc_q8_block(const mva &a, int b, int nb, const int (*v)[8], const float *d,
                                             float acc[R][NC]) {
#pragma unroll
    for (int c = 0; c < NC; c++) {
        const int4 *xp = (const int4 *)(a.xq + (size_t)c * a.ne0 + (size_t)b * 32);
        const int4 x0 = xp[0], x1 = xp[1];
        const float dx = a.xd[(size_t)c * nb + b];
#pragma unroll
        for (int r = 0; r < R; r++) acc[r][c] += d[r] * dx * (float)dp4a8(v[r], x0, x1);
    }
}

/* Q8_0 x Q8_0: one 34-byte block (32 elements) a lane */
template <int R, int NC, int NL>
__device__ __forceinline__ void dot_q80(const uint8_t *const *w, const mva &a, int lane, float acc[R][NC]) {
    const int nb = a.ne0 / 32;
    for (int b = lane; b < nb; b += NL) {
        uint32_t q[R][8];
        float d[R];
#pragma unroll
        for (int r = 0; r < R; r++) {
            const uint8_t *p = w[r] + (size_t)b * 34;
            ld_words<8>(p + 2, q[r]);
            d[r] = lirk_h2f(p);
        }
        acc_q8_block<R, NC>(a, b, nb, (const int (*)[8])q, d, acc);
    }
}

/* Q4_0 x Q8_0: one 18-byte block a lane; low nibbles are elements 0..15, high 16..31 */
template <int R, int NC, int NL>
__device__ __forceinline__ void dot_q40(const uint8_t *const *w, const mva &a, int lane, float acc[R][NC]) {
    const int nb = a.ne0 / 32;
    for (int b = lane; b < nb; b += NL) {
        int v[R][8]; /* the 32 quants less 8: low nibbles (elements 0..15), then high (16..31) */
        float d[R];
#pragma unroll
        for (int r = 0; r < R; r++) {
            const uint8_t *p = w[r] + (size_t)b * 18;
            uint32_t q[4];
            ld_words<4>(p + 2, q);
            d[r] = lirk_h2f(p);
#pragma unroll
            for (int i = 0; i < 4; i++) {
                v[r][i] = (int)__vsub4(q[i] & 0x0F0F0F0Fu, 0x08080808u);
                v[r][4 + i] = (int)__vsub4((q[i] >> 4) & 0x0F0F0F0Fu, 0x08080808u);
            }
        }
        acc_q8_block<R, NC>(a, b, nb, v, d, acc);
    }
}

/* the dot products of R rows with NC inputs by NL lanes (one warp, or KS = NL / 32 warps of a
 * block, each lane taking every NL-th piece); the warp sums are reduced; with several warps the
 * block total is in red (lane 0 of warp 0 reads it after the barrier) */
template <int T, int R, int NC, int NL>
__device__ __forceinline__ void dot_rows(const uint8_t *const *w, const mva &a, int lane, float acc[R][NC]) {
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int c = 0; c < NC; c++) acc[r][c] = 0.0f;
    if constexpr (T == LIR_TYPE_Q4_K) dot_q4k<R, NC, NL>(w, a, lane, acc);
    else if constexpr (T == LIR_TYPE_Q6_K) dot_q6k<R, NC, NL>(w, a, lane, acc);
    else if constexpr (T == LIR_TYPE_Q8_0) dot_q80<R, NC, NL>(w, a, lane, acc);
    else if constexpr (T == LIR_TYPE_Q4_0) dot_q40<R, NC, NL>(w, a, lane, acc);
    else dot_f32in<T, R, NC, NL>(w, a, lane, acc);
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int c = 0; c < NC; c++)
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) acc[r][c] += __shfl_xor_sync(0xffffffffu, acc[r][c], o);
    if constexpr (NL > 32) {
        __shared__ float red[NL / 32][R][NC];
        if (lane % 32 == 0)
#pragma unroll
            for (int r = 0; r < R; r++)
#pragma unroll
                for (int c = 0; c < NC; c++) red[lane / 32][r][c] = acc[r][c];
        __syncthreads();
        if (lane == 0)
#pragma unroll
            for (int r = 0; r < R; r++)
#pragma unroll
                for (int c = 0; c < NC; c++) {
                    float v = 0.0f;
#pragma unroll
                    for (int k = 0; k < NL / 32; k++) v += red[k][r][c];
                    acc[r][c] = v;
                }
    }
}

/* Warp-row i of a launch (a warp's rows, or with KS > 1 a block's: its KS warps split each row):
 * in SwiGLU mode row i of gate and of up; else rows R*i .. R*i+R-1 of the launch's weights one
 * after another (a row past the end repeats the last and is not written). */
template <int T, int R, int NC, int KS>
__global__ void __launch_bounds__(MV_WARPS * 32) k_mv(const __grid_constant__ struct mva a) {
    lirk_pdl_trigger();
    const int lane = KS > 1 ? (int)threadIdx.x : (int)threadIdx.x % 32;
    const int wr = KS > 1 ? (int)blockIdx.x : (int)(blockIdx.x * MV_WARPS + threadIdx.x / 32);
    const bool glu = a.mode == LIRK_MV_SWIGLU;
    const int n_wr = glu ? a.rows : (a.rows + R - 1) / R;
    if (wr >= n_wr) { /* (KS > 1: never; the grid has one block per warp-row) */
        lirk_pdl_wait();
        return;
    }
    const uint8_t *w[R];
    int mi[R], row[R];
#pragma unroll
    for (int r = 0; r < R; r++) {
        if (glu) {
            mi[r] = r;
            row[r] = wr;
        } else {
            int g = R * wr + r;
            if (g >= a.rows) g = a.rows - 1;
            int m = 0;
            while (m + 1 < a.n_mat && g >= a.m[m].ne1) g -= a.m[m++].ne1;
            mi[r] = m;
            row[r] = g;
        }
        w[r] = a.m[mi[r]].w + (size_t)row[r] * a.m[mi[r]].rs;
        /* start the weight rows into L2 while the kernel before this one finishes */
        const size_t line = (size_t)lane * 128;
        if (line < a.m[mi[r]].rs) asm volatile("prefetch.global.L2 [%0];" ::"l"(w[r] + line));
    }
    lirk_pdl_wait();
    float acc[R][NC];
    dot_rows<T, R, NC, 32 * KS>(w, a, lane, acc);
    if (lane != 0) return;
    if (glu) {
#pragma unroll
        for (int c = 0; c < NC; c++) {
            const float gv = acc[0][c] + (a.m[0].bias ? a.m[0].bias[wr] : 0.0f);
            const float uv = acc[1 % R][c] + (a.m[1].bias ? a.m[1].bias[wr] : 0.0f);
            const float v = gv / (1.0f + expf(-gv)) * uv;
            a.m[0].out[(size_t)c * a.m[0].ne1 + wr] = v;
            if (a.rout) a.rout[(size_t)c * a.m[0].ne1 + wr] = lirk_round_half(v, a.rmode);
        }
        return;
    }
#pragma unroll
    for (int r = 0; r < R; r++) {
        if (R * wr + r >= a.rows) break;
        const struct mvm *M = &a.m[mi[r]];
        const float b = M->bias ? M->bias[row[r]] : 0.0f;
#pragma unroll
        for (int c = 0; c < NC; c++) {
            float *o = M->out + (size_t)c * M->ne1 + row[r];
            if (a.mode == LIRK_MV_ADD) *o += acc[r][c] + b;
            else *o = acc[r][c] + b;
        }
    }
}

template <int T, int R, int KS>
static void launch_mv_r(cudaStream_t st, const struct mva &a, int nc) {
    const int n_wr = a.mode == LIRK_MV_SWIGLU ? a.rows : (a.rows + R - 1) / R;
    const dim3 g((unsigned)(KS > 1 ? n_wr : (n_wr + MV_WARPS - 1) / MV_WARPS)), b(MV_WARPS * 32);
    switch (nc) {
    case 1: lirk_launch(k_mv<T, R, 1, KS>, g, b, 0, st, a); break;
    case 2: lirk_launch(k_mv<T, R, 2, KS>, g, b, 0, st, a); break;
    case 3: lirk_launch(k_mv<T, R, 3, KS>, g, b, 0, st, a); break;
    case 4: lirk_launch(k_mv<T, R, 4, KS>, g, b, 0, st, a); break;
    case 5: lirk_launch(k_mv<T, R, 5, KS>, g, b, 0, st, a); break;
    case 6: lirk_launch(k_mv<T, R, 6, KS>, g, b, 0, st, a); break;
    case 7: lirk_launch(k_mv<T, R, 7, KS>, g, b, 0, st, a); break;
    default: lirk_launch(k_mv<T, R, 8, KS>, g, b, 0, st, a); break;
    }
}

/* Large launches (SwiGLU, or 8192 rows and more): two rows a warp (a gate and an up row for
 * SwiGLU), enough warps to fill the GPU. Smaller ones: one row a block of four warps, each
 * taking a quarter of the row, so that a few thousand rows still keep enough loads in flight. */
template <int T>
static void launch_mv(cudaStream_t st, const struct mva &a, int nc, bool two) {
    if (two || a.mode == LIRK_MV_SWIGLU || a.rows >= 8192) launch_mv_r<T, 2, 1>(st, a, nc);
    else launch_mv_r<T, 1, MV_WARPS>(st, a, nc);
}

extern "C" int lirk_matvec(void *stream, int32_t type, int n_mat, const void *const *d_w, const size_t *row_size,
                           const int64_t *ne1, const float *const *d_bias, float *const *d_out, int64_t ne0,
                           const struct lirk_act *act, int32_t n_tok, int mode) {
    const bool two = (mode & LIRK_MV_TWO_ROWS) != 0, round = (mode & LIRK_MV_ROUND) != 0;
    const int rmode = mode >> 8;
    mode &= 7;
    if (round && (mode != LIRK_MV_SWIGLU || !d_out[1] ||
                  (rmode != LIRK_ACT_F32 && rmode != LIRK_ACT_F16 && rmode != LIRK_ACT_BF16)))
        return -3;
    if (n_mat < 1 || n_mat > MV_MAX || n_tok < 1 || n_tok > LIRK_MV_MAX_TOK || ne0 % 8 ||
        (mode == LIRK_MV_SWIGLU && (n_mat != 2 || ne1[0] != ne1[1])))
        return -3;
    cudaStream_t st = (cudaStream_t)stream;
    struct mva a;
    memset(&a, 0, sizeof a);
    a.n_mat = n_mat;
    a.ne0 = (int)ne0;
    a.mode = mode;
    a.xf = act->f;
    a.xq = act->q;
    a.xd = act->d;
    a.xs = act->s;
    a.rout = round ? d_out[1] : NULL;
    a.rmode = rmode;
    for (int i = 0; i < n_mat; i++) {
        a.m[i].w = (const uint8_t *)d_w[i];
        a.m[i].rs = row_size[i];
        a.m[i].ne1 = (int)ne1[i];
        a.m[i].bias = d_bias ? d_bias[i] : NULL;
        a.m[i].out = d_out[i];
        if (mode != LIRK_MV_SWIGLU || i == 0) a.rows += (int)ne1[i];
    }
    switch (type) {
#define X(t) case t: launch_mv<t>(st, a, n_tok, two); break;
        LIRK_TYPE_LIST(X)
#undef X
    default: return -1;
    }
    return 0;
}

/* ---- activation rounding (the CPU backend's vec_dot_type conversion) ---- */

extern "C" int lirk_act_mode(int32_t type) {
    switch (type) {
    case LIR_TYPE_F16: return LIRK_ACT_F16;
    case LIR_TYPE_BF16: return LIRK_ACT_BF16;
    case LIR_TYPE_Q4_0: case LIR_TYPE_Q5_0: case LIR_TYPE_Q8_0:
    case LIR_TYPE_Q4_1: case LIR_TYPE_Q5_1: return LIRK_ACT_Q8_0; /* Q8_1 rounds its values as Q8_0 does */
    case LIR_TYPE_Q2_K: case LIR_TYPE_Q3_K: case LIR_TYPE_Q4_K: case LIR_TYPE_Q5_K: case LIR_TYPE_Q6_K:
        return LIRK_ACT_Q8_K;
    default: return LIRK_ACT_F32;
    }
}

__global__ void k_act_round(const float *__restrict__ x, int64_t n, int mode, struct lirk_act a) {
    lirk_pdl_trigger();
    lirk_pdl_wait();
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) a.f[i] = lirk_round_half(x[i], mode);
}

template <int QB>
__global__ void k_act_q8(const float *__restrict__ x, int64_t nblk, struct lirk_act a) {
    lirk_pdl_trigger();
    lirk_pdl_wait();
    const int64_t b = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (b < nblk) lirk_quant_block<QB>(x + b * QB, b, threadIdx.x % 32, a);
}

extern "C" void lirk_act_quant(void *stream, int32_t type, const float *d_x, int32_t n_tok, int64_t ne0,
                               const struct lirk_act *act) {
    cudaStream_t st = (cudaStream_t)stream;
    const int mode = lirk_act_mode(type);
    const int64_t n = (int64_t)n_tok * ne0;
    if (mode == LIRK_ACT_Q8_0)
        lirk_launch(k_act_q8<32>, dim3((unsigned)((n / 32 + 7) / 8)), dim3(256), 0, st, d_x, n / 32, *act);
    else if (mode == LIRK_ACT_Q8_K && ne0 % 256 == 0)
        lirk_launch(k_act_q8<256>, dim3((unsigned)((n / 256 + 7) / 8)), dim3(256), 0, st, d_x, n / 256, *act);
    else
        lirk_launch(k_act_round, dim3((unsigned)((n + 255) / 256)), dim3(256), 0, st, d_x, n, mode, *act);
}
