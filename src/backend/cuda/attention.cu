/* attention.cu — causal GQA attention over the KV cache on the GPU, flash style: one block
 * per (split of the cache rows, KV head, query token); its warps walk the rows, each keeping
 * an online softmax (running max, sum, weighted V) for every query head of the KV head's
 * group, so K and V rows are loaded once per group, never a full score row. The warps merge
 * through shared memory; with n_split > 1 (decode: few tokens, many rows) the splits write
 * partial (max, sum, V-sum) triples that a second kernel merges (flash-decoding), which also
 * rounds the output for the output projection. A warp takes two rows a step, so the shuffles
 * of their two dot products overlap.
 * Numerics: f32 q and softmax, f16 K/V widened to f32; exp by expf. */
#include "backend/cuda/act.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/launch.cuh"

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>

#define AT_WARPS 4
#define AT_GMAX 8 /* query heads per block (larger groups use more blocks) */

/* DPL: head dims per lane (head_dim / 32) */
template <int DPL>
__global__ void __launch_bounds__(AT_WARPS * 32)
k_attn(const float *__restrict__ q, const __half *__restrict__ kc, const __half *__restrict__ vc,
       const int32_t *__restrict__ pos, const int32_t *__restrict__ tab, int mb, int n_head, int n_head_kv, int n_gc,
       float scale, int chunk, int n_split, float *__restrict__ part, float *__restrict__ out) {
    constexpr int HD = DPL * 32;
    lirk_pdl_trigger();
    lirk_pdl_wait();
    const int split = blockIdx.x, t = blockIdx.z;
    const int kvh = blockIdx.y / n_gc, gc = blockIdx.y % n_gc;
    const int G = n_head / n_head_kv, g0 = gc * AT_GMAX;
    const int ng = G - g0 < AT_GMAX ? G - g0 : AT_GMAX;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int kv_dim = n_head_kv * HD, qd = n_head * HD;
    const int n = pos[t] + 1;
    const int j0 = split * chunk, j1 = min(n, j0 + chunk);
    const int32_t *tb = tab + (size_t)t * mb;

    float qr[AT_GMAX][DPL], acc[AT_GMAX][DPL], m[AT_GMAX], l[AT_GMAX];
#pragma unroll
    for (int g = 0; g < AT_GMAX; g++) {
        m[g] = -INFINITY;
        l[g] = 0.0f;
#pragma unroll
        for (int i = 0; i < DPL; i++) {
            acc[g][i] = 0.0f;
            qr[g][i] = g < ng ? q[(size_t)t * qd + (size_t)(kvh * G + g0 + g) * HD + lane + 32 * i] * scale : 0.0f;
        }
    }
    for (int j = j0 + warp; j < j1; j += 2 * AT_WARPS) {
        const int ja = j + AT_WARPS;
        const bool two = ja < j1;
        const int jb = two ? ja : j; /* rows of the token's sequence: block tb[row / 64], row % 64 in it */
        const size_t ro = ((size_t)tb[j >> 6] * 64 + (j & 63)) * kv_dim + (size_t)kvh * HD;
        const size_t roa = ((size_t)tb[jb >> 6] * 64 + (jb & 63)) * kv_dim + (size_t)kvh * HD;
        const __half *kr = kc + ro, *vr = vc + ro, *kra = kc + roa, *vra = vc + roa;
        float kf[DPL], vf[DPL], kfa[DPL], vfa[DPL];
#pragma unroll
        for (int i = 0; i < DPL; i++) {
            kf[i] = __half2float(kr[lane + 32 * i]);
            vf[i] = __half2float(vr[lane + 32 * i]);
            kfa[i] = __half2float(kra[lane + 32 * i]);
            vfa[i] = __half2float(vra[lane + 32 * i]);
        }
#pragma unroll
        for (int g = 0; g < AT_GMAX; g++) {
            if (g >= ng) break;
            float s = 0.0f, sa = 0.0f;
#pragma unroll
            for (int i = 0; i < DPL; i++) s += qr[g][i] * kf[i], sa += qr[g][i] * kfa[i];
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) {
                s += __shfl_xor_sync(0xffffffffu, s, o);
                sa += __shfl_xor_sync(0xffffffffu, sa, o);
            }
            if (!two) sa = -INFINITY;
            const float mn = fmaxf(m[g], fmaxf(s, sa));
            const float c = expf(m[g] - mn), p = expf(s - mn), pa = expf(sa - mn);
            l[g] = l[g] * c + p + pa;
#pragma unroll
            for (int i = 0; i < DPL; i++) acc[g][i] = acc[g][i] * c + p * vf[i] + pa * vfa[i];
            m[g] = mn;
        }
    }
    /* merge the warps: shared [warp][g] (m, l) and [warp][g][HD] acc */
    extern __shared__ float sm[];
    float *sm_ml = sm;                               /* AT_WARPS * AT_GMAX * 2 */
    float *sm_acc = sm + AT_WARPS * AT_GMAX * 2;     /* AT_WARPS * AT_GMAX * HD */
#pragma unroll
    for (int g = 0; g < AT_GMAX; g++) {
        if (g >= ng) break;
        if (lane == 0) {
            sm_ml[(warp * AT_GMAX + g) * 2] = m[g];
            sm_ml[(warp * AT_GMAX + g) * 2 + 1] = l[g];
        }
#pragma unroll
        for (int i = 0; i < DPL; i++) sm_acc[(warp * AT_GMAX + g) * HD + lane + 32 * i] = acc[g][i];
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < ng * HD; idx += blockDim.x) {
        const int g = idx / HD, d = idx % HD;
        float M = -INFINITY;
        for (int w = 0; w < AT_WARPS; w++) M = fmaxf(M, sm_ml[(w * AT_GMAX + g) * 2]);
        float L = 0.0f, A = 0.0f;
        if (M > -INFINITY)
            for (int w = 0; w < AT_WARPS; w++) {
                const float f = expf(sm_ml[(w * AT_GMAX + g) * 2] - M); /* 0 for an empty warp */
                L += sm_ml[(w * AT_GMAX + g) * 2 + 1] * f;
                A += sm_acc[(w * AT_GMAX + g) * HD + d] * f;
            }
        const int h = kvh * G + g0 + g;
        if (n_split == 1) {
            out[(size_t)t * qd + (size_t)h * HD + d] = A / L;
        } else {
            float *pp = part + (((size_t)t * n_head + h) * n_split + split) * (HD + 2);
            pp[2 + d] = A;
            if (d == 0) {
                pp[0] = M;
                pp[1] = L;
            }
        }
    }
}

/* the merged value of output element d of (token t, head h): the splits that hold rows of
 * [0, n) only */
__device__ __forceinline__ float merge_one(const float *__restrict__ p, int n_valid, int hd, int d) {
    float M = -INFINITY;
    for (int s = 0; s < n_valid; s++)
        if (p[(size_t)s * (hd + 2) + 1] > 0.0f) M = fmaxf(M, p[(size_t)s * (hd + 2)]);
    float L = 0.0f, A = 0.0f;
    for (int s = 0; s < n_valid; s++) {
        const float *ps = p + (size_t)s * (hd + 2);
        if (ps[1] > 0.0f) {
            const float f = expf(ps[0] - M);
            L += ps[1] * f;
            A += ps[2 + d] * f;
        }
    }
    return A / L;
}

/* one block of head_dim threads per (token, head): merges the n_split partials */
__global__ void k_attn_merge(const float *__restrict__ part, const int32_t *__restrict__ pos, int n_head, int n_split,
                             int chunk, int hd, float *__restrict__ out) {
    lirk_pdl_trigger();
    lirk_pdl_wait();
    const size_t th = blockIdx.x; /* t * n_head + h */
    const int nv = min(n_split, (pos[th / n_head] + chunk) / chunk);
    out[th * hd + threadIdx.x] = merge_one(part + th * n_split * (hd + 2), nv, hd, threadIdx.x);
}

/* one block of 256 threads per 256 output elements of a token (a whole number of heads or a
 * part of one): merged, written to out, and rounded into the activation for weights of mode */
__global__ void k_attn_merge_act(const float *__restrict__ part, const int32_t *__restrict__ pos, int n_head,
                                 int n_split, int chunk, int hd, float *__restrict__ out, int mode,
                                 struct lirk_act a) {
    lirk_pdl_trigger();
    lirk_pdl_wait();
    const int t = blockIdx.y, qd = n_head * hd;
    const int e = blockIdx.x * 256 + threadIdx.x, h = e / hd, d = e % hd;
    const int nv = min(n_split, (pos[t] + chunk) / chunk);
    const float v = merge_one(part + ((size_t)t * n_head + h) * n_split * (hd + 2), nv, hd, d);
    const size_t o = (size_t)t * qd + e;
    out[o] = v;
    if (mode != LIRK_ACT_Q8_0 && mode != LIRK_ACT_Q8_K) {
        a.f[o] = lirk_round_half(v, mode);
        return;
    }
    __shared__ float sm[256];
    sm[threadIdx.x] = v;
    __syncthreads();
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (mode == LIRK_ACT_Q8_0) lirk_quant_block<32>(sm + warp * 32, (int64_t)(o - threadIdx.x) / 32 + warp, lane, a);
    else if (warp == 0) lirk_quant_block<256>(sm, (int64_t)(o - threadIdx.x) / 256, lane, a);
}

template <int DPL>
static void launch_attn(cudaStream_t st, dim3 grid, const float *q, const uint16_t *kc, const uint16_t *vc,
                        const int32_t *pos, const int32_t *tab, int mb, int n_head, int n_head_kv, int n_gc, float scale, int chunk, int n_split,
                        float *part, float *out) {
    const size_t smem = sizeof(float) * AT_WARPS * AT_GMAX * (2 + DPL * 32);
    if (smem > 48 * 1024) cudaFuncSetAttribute(k_attn<DPL>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    lirk_launch(k_attn<DPL>, grid, dim3(AT_WARPS * 32), smem, st, q, (const __half *)kc, (const __half *)vc, pos,
                tab, mb, n_head, n_head_kv, n_gc, scale, chunk, n_split, part, out);
}

extern "C" void lirk_attention(void *stream, const float *d_q, const uint16_t *d_kc, const uint16_t *d_vc,
                               const int32_t *d_pos, const int32_t *d_tab, int32_t max_blocks, int32_t n_tok, int32_t n_head, int32_t n_head_kv,
                               int32_t head_dim, float scale, int32_t chunk, int32_t n_split, float *d_part,
                               float *d_out, const struct lirk_act *act, int32_t act_type) {
    cudaStream_t st = (cudaStream_t)stream;
    const int G = n_head / n_head_kv, n_gc = (G + AT_GMAX - 1) / AT_GMAX;
    const dim3 grid((unsigned)n_split, (unsigned)(n_head_kv * n_gc), (unsigned)n_tok);
    switch (head_dim / 32) {
    case 1: launch_attn<1>(st, grid, d_q, d_kc, d_vc, d_pos, d_tab, max_blocks, n_head, n_head_kv, n_gc, scale, chunk, n_split, d_part, d_out); break;
    case 2: launch_attn<2>(st, grid, d_q, d_kc, d_vc, d_pos, d_tab, max_blocks, n_head, n_head_kv, n_gc, scale, chunk, n_split, d_part, d_out); break;
    case 3: launch_attn<3>(st, grid, d_q, d_kc, d_vc, d_pos, d_tab, max_blocks, n_head, n_head_kv, n_gc, scale, chunk, n_split, d_part, d_out); break;
    case 4: launch_attn<4>(st, grid, d_q, d_kc, d_vc, d_pos, d_tab, max_blocks, n_head, n_head_kv, n_gc, scale, chunk, n_split, d_part, d_out); break;
    case 5: launch_attn<5>(st, grid, d_q, d_kc, d_vc, d_pos, d_tab, max_blocks, n_head, n_head_kv, n_gc, scale, chunk, n_split, d_part, d_out); break;
    case 6: launch_attn<6>(st, grid, d_q, d_kc, d_vc, d_pos, d_tab, max_blocks, n_head, n_head_kv, n_gc, scale, chunk, n_split, d_part, d_out); break;
    case 7: launch_attn<7>(st, grid, d_q, d_kc, d_vc, d_pos, d_tab, max_blocks, n_head, n_head_kv, n_gc, scale, chunk, n_split, d_part, d_out); break;
    default: launch_attn<8>(st, grid, d_q, d_kc, d_vc, d_pos, d_tab, max_blocks, n_head, n_head_kv, n_gc, scale, chunk, n_split, d_part, d_out); break;
    }
    const int qd = n_head * head_dim;
    int mode = act ? lirk_act_mode(act_type) : -1;
    if (mode == LIRK_ACT_Q8_K && qd % 256) mode = -1; /* cannot happen: K-quant rows are whole blocks */
    if (n_split > 1 && mode >= 0 && qd % 256 == 0) {
        lirk_launch(k_attn_merge_act, dim3((unsigned)(qd / 256), (unsigned)n_tok), dim3(256), 0, st, d_part, d_pos,
                    n_head, n_split, chunk, head_dim, d_out, mode, *act);
        return;
    }
    if (n_split > 1)
        lirk_launch(k_attn_merge, dim3((unsigned)(n_tok * n_head)), dim3((unsigned)head_dim), 0, st, d_part, d_pos,
                    n_head, n_split, chunk, head_dim, d_out);
    if (act) lirk_act_quant(st, act_type, d_out, n_tok, qd, act);
}
