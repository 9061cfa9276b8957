/* ops.cu — the small per-element and per-row ops of the GPU forward pass: RMSNorm (sum of
 * squares in f32, tree-reduced; alone, or fused with the rounding of the next matmul's input),
 * the attention inputs in one launch (per-head q/k RMSNorm, RoPE with the normal and neox
 * pairings and llama3 frequency factors, K and V stored to the f16 cache), SwiGLU and the
 * residual add. */
#include "backend/cuda/act.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/launch.cuh"

#include <cuda_runtime.h>
#include <math.h>

__global__ void k_rmsnorm(const float *__restrict__ in, const float *__restrict__ w, float *__restrict__ out, int dim,
                          float eps) {
    const float *a = in + (size_t)blockIdx.x * dim;
    float *o = out + (size_t)blockIdx.x * dim;
    float s = 0.0f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) s += a[i] * a[i];
    __shared__ float red[32];
#pragma unroll
    for (int k = 16; k > 0; k >>= 1) s += __shfl_xor_sync(0xffffffffu, s, k);
    if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = s;
    __syncthreads();
    if (threadIdx.x < 32) {
        s = threadIdx.x < blockDim.x / 32 ? red[threadIdx.x] : 0.0f;
#pragma unroll
        for (int k = 16; k > 0; k >>= 1) s += __shfl_xor_sync(0xffffffffu, s, k);
        if (threadIdx.x == 0) red[0] = s;
    }
    __syncthreads();
    const float scale = 1.0f / sqrtf(red[0] / (float)dim + eps);
    for (int i = threadIdx.x; i < dim; i += blockDim.x) o[i] = a[i] * scale * (w ? w[i] : 1.0f);
}

/* sum of v over the block (blockDim.x a multiple of 32, <= 1024); every thread gets it */
__device__ __forceinline__ float block_sum(float v) {
    __shared__ float red[32];
#pragma unroll
    for (int k = 16; k > 0; k >>= 1) v += __shfl_xor_sync(0xffffffffu, v, k);
    __syncthreads(); /* red may still be read from an earlier call */
    if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = v;
    __syncthreads();
    v = threadIdx.x < blockDim.x / 32 ? red[threadIdx.x] : 0.0f;
    if (threadIdx.x < 32) {
#pragma unroll
        for (int k = 16; k > 0; k >>= 1) v += __shfl_xor_sync(0xffffffffu, v, k);
        if (threadIdx.x == 0) red[0] = v;
    }
    __syncthreads();
    return red[0];
}

/* one block per row: the RMSNorm into a.f, then its warps round the row's quant blocks */
__global__ void k_rmsnorm_act(const float *__restrict__ in, const float *__restrict__ w, int dim, float eps, int mode,
                              struct lirk_act a) {
    lirk_pdl_trigger();
    lirk_pdl_wait();
    const float *x = in + (size_t)blockIdx.x * dim;
    float *o = a.f + (size_t)blockIdx.x * dim;
    float s = 0.0f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) s += x[i] * x[i];
    const float scale = 1.0f / sqrtf(block_sum(s) / (float)dim + eps);
    for (int i = threadIdx.x; i < dim; i += blockDim.x) o[i] = lirk_round_half(x[i] * scale * (w ? w[i] : 1.0f), mode);
    if (mode != LIRK_ACT_Q8_0 && mode != LIRK_ACT_Q8_K) return;
    __syncthreads();
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nw = blockDim.x / 32;
    if (mode == LIRK_ACT_Q8_0) {
        const int nb = dim / 32;
        for (int b = warp; b < nb; b += nw)
            lirk_quant_block<32>(o + b * 32, (int64_t)blockIdx.x * nb + b, lane, a);
    } else {
        const int nb = dim / 256;
        for (int b = warp; b < nb; b += nw)
            lirk_quant_block<256>(o + b * 256, (int64_t)blockIdx.x * nb + b, lane, a);
    }
}

/* block (head, token) of head_dim threads: heads [0, n_head) are q, then n_head_kv of k, then
 * n_head_kv of v */
__global__ void k_rope_kv(float *__restrict__ q, const float *__restrict__ k, const float *__restrict__ v,
                          const float *__restrict__ qn, const float *__restrict__ kn, float eps, __half *__restrict__ kc,
                          __half *__restrict__ vc, const int32_t *__restrict__ pos, const int32_t *__restrict__ tab,
                          int mb, int n_head, int n_head_kv, int hd, int n_rot, int neox, float base, float freq_scale,
                          const float *__restrict__ ff) {
    lirk_pdl_trigger();
    lirk_pdl_wait();
    const int t = blockIdx.y, h = blockIdx.x, d = threadIdx.x;
    const int kv_dim = n_head_kv * hd;
    const int p = pos[t];
    const size_t crow = ((size_t)tab[(size_t)t * mb + (p >> 6)] * 64 + (p & 63)) * kv_dim; /* its block's row */
    if (h >= n_head + n_head_kv) {
        const int vh = h - n_head - n_head_kv;
        vc[crow + (size_t)vh * hd + d] = __float2half_rn(v[(size_t)t * kv_dim + (size_t)vh * hd + d]);
        return;
    }
    const bool is_q = h < n_head;
    float *src = is_q ? q + ((size_t)t * n_head + h) * hd : (float *)k + (size_t)t * kv_dim + (size_t)(h - n_head) * hd;
    const float *nw = is_q ? qn : kn;
    float val = src[d];
    if (nw) { /* uniform per block: every thread takes part in the sum */
        const float ss = block_sum(val * val);
        val = val * (1.0f / sqrtf(ss / (float)hd + eps)) * nw[d];
    }
    __shared__ float sh[256];
    sh[d] = val;
    __syncthreads();
    float out = val;
    if (d < n_rot) {
        const int half = n_rot / 2;
        const int pr = neox ? (d < half ? d : d - half) : d / 2;
        const int i0 = neox ? pr : 2 * pr, i1 = neox ? pr + half : 2 * pr + 1;
        const float inv = powf(base, -2.0f * (float)pr / (float)n_rot);
        float ang = (float)p * inv;
        if (ff) ang /= ff[pr];
        ang *= freq_scale;
        float sn, cs;
        sincosf(ang, &sn, &cs);
        const float x0 = sh[i0], x1 = sh[i1];
        out = d == i0 ? x0 * cs - x1 * sn : x0 * sn + x1 * cs;
    }
    if (is_q) src[d] = out;
    else kc[crow + (size_t)(h - n_head) * hd + d] = __float2half_rn(out);
}

__global__ void k_swiglu(const float *__restrict__ g, const float *__restrict__ u, float *__restrict__ o, int64_t n) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) o[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

__global__ void k_add(float *__restrict__ y, const float *__restrict__ v, int64_t n) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] += v[i];
}

static unsigned blocks(int64_t n, int bs) { return (unsigned)((n + bs - 1) / bs); }

extern "C" void lirk_rmsnorm(void *stream, const float *d_in, const float *d_w, float *d_out, int64_t rows,
                             int32_t dim, float eps) {
    const int bs = dim >= 1024 ? 1024 : dim >= 256 ? 256 : dim >= 64 ? 64 : 32;
    k_rmsnorm<<<(unsigned)rows, bs, 0, (cudaStream_t)stream>>>(d_in, d_w, d_out, dim, eps);
}

extern "C" void lirk_rmsnorm_act(void *stream, const float *d_in, const float *d_w, int64_t rows, int32_t dim,
                                 float eps, int32_t type, const struct lirk_act *act) {
    int mode = lirk_act_mode(type);
    if (mode == LIRK_ACT_Q8_K && dim % 256) mode = LIRK_ACT_F32; /* cannot happen: K-quant rows are whole blocks */
    const int bs = dim >= 1024 ? 1024 : dim >= 256 ? 256 : dim >= 64 ? 64 : 32;
    lirk_launch(k_rmsnorm_act, dim3((unsigned)rows), dim3(bs), 0, (cudaStream_t)stream, d_in, d_w, dim, eps, mode,
                *act);
}

extern "C" void lirk_rope_kv(void *stream, float *d_q, const float *d_k, const float *d_v, const float *d_qn,
                             const float *d_kn, float eps, uint16_t *d_kc, uint16_t *d_vc, const int32_t *d_pos,
                             const int32_t *d_tab, int32_t max_blocks, int32_t n_tok, int32_t n_head,
                             int32_t n_head_kv, int32_t head_dim, int32_t n_rot, int neox, float base, float freq_scale,
                             const float *d_ff) {
    const dim3 grid((unsigned)(n_head + 2 * n_head_kv), (unsigned)n_tok);
    lirk_launch(k_rope_kv, grid, dim3((unsigned)head_dim), 0, (cudaStream_t)stream, d_q, d_k, d_v, d_qn, d_kn, eps,
                (__half *)d_kc, (__half *)d_vc, d_pos, d_tab, max_blocks, n_head, n_head_kv, head_dim, n_rot, neox,
                base, freq_scale, d_ff);
}

extern "C" void lirk_swiglu(void *stream, const float *d_g, const float *d_u, float *d_out, int64_t n) {
    k_swiglu<<<blocks(n, 256), 256, 0, (cudaStream_t)stream>>>(d_g, d_u, d_out, n);
}

extern "C" void lirk_add(void *stream, float *d_y, const float *d_v, int64_t n) {
    k_add<<<blocks(n, 256), 256, 0, (cudaStream_t)stream>>>(d_y, d_v, n);
}
