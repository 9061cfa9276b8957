/* ops.cu — the small per-element and per-row ops of the GPU forward pass: RMSNorm (sum of
 * squares in f32, tree-reduced), RoPE (normal and neox pairings, llama3 frequency factors),
 * SwiGLU and the residual add. */
#include "backend/cuda/kernels.h"

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

__global__ void k_rope(float *__restrict__ v, int n_tok, int n_head, int hd, const int32_t *__restrict__ pos,
                       int n_rot, int neox, float base, float freq_scale, const float *__restrict__ ff) {
    const int half = n_rot / 2;
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)n_tok * n_head * half) return;
    const int p = (int)(i % half);
    const int64_t th = i / half;
    const int t = (int)(th / n_head);
    float *a = v + th * hd;
    const float inv = powf(base, -2.0f * (float)p / (float)n_rot);
    float ang = (float)pos[t] * inv;
    if (ff) ang /= ff[p];
    ang *= freq_scale;
    float sn, cs;
    sincosf(ang, &sn, &cs);
    const int i0 = neox ? p : 2 * p, i1 = neox ? p + half : 2 * p + 1;
    const float x0 = a[i0], x1 = a[i1];
    a[i0] = x0 * cs - x1 * sn;
    a[i1] = x0 * sn + x1 * cs;
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

extern "C" void lirk_rope(void *stream, float *d_v, int32_t n_tok, int32_t n_head, int32_t head_dim,
                          const int32_t *d_pos, int32_t n_rot, int neox, float base, float freq_scale,
                          const float *d_ff) {
    const int64_t n = (int64_t)n_tok * n_head * (n_rot / 2);
    k_rope<<<blocks(n, 256), 256, 0, (cudaStream_t)stream>>>(d_v, n_tok, n_head, head_dim, d_pos, n_rot, neox, base,
                                                             freq_scale, d_ff);
}

extern "C" void lirk_swiglu(void *stream, const float *d_g, const float *d_u, float *d_out, int64_t n) {
    k_swiglu<<<blocks(n, 256), 256, 0, (cudaStream_t)stream>>>(d_g, d_u, d_out, n);
}

extern "C" void lirk_add(void *stream, float *d_y, const float *d_v, int64_t n) {
    k_add<<<blocks(n, 256), 256, 0, (cudaStream_t)stream>>>(d_y, d_v, n);
}
