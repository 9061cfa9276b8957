/* matmul.cu — weight × activation products on the GPU, for every weight storage type:
 *  - decode (n_tok <= 8): mat-vec kernels, one warp per weight row, weights dequantized in
 *    registers (quant.cuh) and dotted with each of the n_tok f32 input rows; the weights are
 *    read once for all columns, so the kernel runs at close to memory speed;
 *  - prompt (n_tok > 8): row chunks of the weight dequantized to f16 in a scratch buffer, the
 *    input converted to f16, and the product taken on tensor cores by cuBLAS (f32 accumulate,
 *    f32 output); F16 weights go to cuBLAS directly.
 * Also the row gather of the token embedding (get_rows), which shares the dequantizers. */
#include "backend/cuda/kernels.h"
#include "backend/cuda/quant.cuh"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#define MV_WARPS 4 /* rows (warps) per mat-vec block */

template <int T, int NC>
__global__ void __launch_bounds__(MV_WARPS * 32)
k_matvec(const uint8_t *__restrict__ w, size_t row_size, int ne0, int ne1, const float *__restrict__ x,
         const float *__restrict__ bias, float *__restrict__ out) {
    const int row = blockIdx.x * MV_WARPS + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= ne1) return;
    const uint8_t *r = w + (size_t)row * row_size;
    float acc[NC];
#pragma unroll
    for (int c = 0; c < NC; c++) acc[c] = 0.0f;
    const int nsub = ne0 / 8;
#pragma unroll 2
    for (int s = lane; s < nsub; s += 32) {
        float v[8];
        deq<T>::get(r, s, v);
#pragma unroll
        for (int c = 0; c < NC; c++) {
            const float4 *xp = (const float4 *)(x + (size_t)c * ne0 + 8 * s);
            const float4 a = __ldg(xp), b = __ldg(xp + 1);
            acc[c] += v[0] * a.x + v[1] * a.y + v[2] * a.z + v[3] * a.w + v[4] * b.x + v[5] * b.y + v[6] * b.z +
                      v[7] * b.w;
        }
    }
#pragma unroll
    for (int c = 0; c < NC; c++) {
        float a = acc[c];
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) a += __shfl_xor_sync(0xffffffffu, a, o);
        acc[c] = a;
    }
    if (lane == 0) {
        const float b = bias ? bias[row] : 0.0f;
#pragma unroll
        for (int c = 0; c < NC; c++) out[(size_t)c * ne1 + row] = acc[c] + b;
    }
}

/* rows [0, nrows) of w to f16, row-major [nrows][ne0]; one thread per 8 elements */
template <int T>
__global__ void k_dequant_f16(const uint8_t *__restrict__ w, size_t row_size, int ne0, int64_t nrows,
                              __half *__restrict__ out) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    const int nsub = ne0 / 8;
    if (i >= nrows * nsub) return;
    const int64_t r = i / nsub;
    const int s = (int)(i % nsub);
    float v[8];
    deq<T>::get(w + (size_t)r * row_size, s, v);
    __align__(16) __half h[8];
#pragma unroll
    for (int k = 0; k < 8; k++) h[k] = __float2half_rn(v[k]);
    *(uint4 *)(out + r * ne0 + 8 * s) = *(const uint4 *)h;
}

template <int T>
__global__ void k_get_rows(const uint8_t *__restrict__ w, size_t row_size, int ne0, const int32_t *__restrict__ ids,
                           int n, float *__restrict__ out) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    const int nsub = ne0 / 8;
    if (i >= (int64_t)n * nsub) return;
    const int t = (int)(i / nsub), s = (int)(i % nsub);
    float v[8];
    deq<T>::get(w + (size_t)ids[t] * row_size, s, v);
    float4 *o = (float4 *)(out + (size_t)t * ne0 + 8 * s);
    o[0] = make_float4(v[0], v[1], v[2], v[3]);
    o[1] = make_float4(v[4], v[5], v[6], v[7]);
}

__global__ void k_to_f16(const float *__restrict__ x, __half *__restrict__ y, int64_t n) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = __float2half_rn(x[i]);
}

__global__ void k_add_bias(float *__restrict__ y, const float *__restrict__ b, int64_t rows, int dim) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < rows * dim) y[i] += b[i % dim];
}

static unsigned blocks(int64_t n, int bs) { return (unsigned)((n + bs - 1) / bs); }

template <int T>
static void launch_matvec(cudaStream_t st, const void *w, size_t rs, int ne0, int ne1, const float *x, int nc,
                          const float *bias, float *out) {
    const dim3 g(blocks(ne1, MV_WARPS)), b(MV_WARPS * 32);
    const uint8_t *wb = (const uint8_t *)w;
    switch (nc) {
    case 1: k_matvec<T, 1><<<g, b, 0, st>>>(wb, rs, ne0, ne1, x, bias, out); break;
    case 2: k_matvec<T, 2><<<g, b, 0, st>>>(wb, rs, ne0, ne1, x, bias, out); break;
    case 3: k_matvec<T, 3><<<g, b, 0, st>>>(wb, rs, ne0, ne1, x, bias, out); break;
    case 4: k_matvec<T, 4><<<g, b, 0, st>>>(wb, rs, ne0, ne1, x, bias, out); break;
    case 5: k_matvec<T, 5><<<g, b, 0, st>>>(wb, rs, ne0, ne1, x, bias, out); break;
    case 6: k_matvec<T, 6><<<g, b, 0, st>>>(wb, rs, ne0, ne1, x, bias, out); break;
    case 7: k_matvec<T, 7><<<g, b, 0, st>>>(wb, rs, ne0, ne1, x, bias, out); break;
    default: k_matvec<T, 8><<<g, b, 0, st>>>(wb, rs, ne0, ne1, x, bias, out); break;
    }
}

template <int T>
static void launch_dequant(cudaStream_t st, const void *w, size_t rs, int ne0, int64_t nrows, __half *out) {
    k_dequant_f16<T><<<blocks(nrows * (ne0 / 8), 256), 256, 0, st>>>((const uint8_t *)w, rs, ne0, nrows, out);
}

extern "C" int lirk_type_supported(int32_t type) {
    switch (type) {
#define X(t) case t:
        LIRK_TYPE_LIST(X)
#undef X
        return 1;
    default: return 0;
    }
}

extern "C" int lirk_matmul(void *stream, void *cublas, int32_t type, const void *d_w, size_t row_size, int64_t ne0,
                           int64_t ne1, const float *d_x, int32_t n_tok, const float *d_bias, float *d_out,
                           void *d_scratch16, size_t scratch_elems, void *d_x16, int force) {
    cudaStream_t st = (cudaStream_t)stream;
    const bool mv = force == 1 || (force == 0 && n_tok <= 8);
    if (mv) {
        for (int32_t t0 = 0; t0 < n_tok; t0 += 8) {
            const int nc = n_tok - t0 < 8 ? n_tok - t0 : 8;
            const float *x = d_x + (size_t)t0 * ne0;
            float *o = d_out + (size_t)t0 * ne1;
            switch (type) {
#define X(t) case t: launch_matvec<t>(st, d_w, row_size, (int)ne0, (int)ne1, x, nc, d_bias, o); break;
                LIRK_TYPE_LIST(X)
#undef X
            default: return -1;
            }
        }
        return 0;
    }
    cublasHandle_t h = (cublasHandle_t)cublas;
    cublasStatus_t cs = cublasSetStream(h, st);
    if (cs != CUBLAS_STATUS_SUCCESS) return (int)cs;
    __half *x16 = (__half *)d_x16;
    k_to_f16<<<blocks((int64_t)n_tok * ne0, 256), 256, 0, st>>>(d_x, x16, (int64_t)n_tok * ne0);
    const float one = 1.0f, zero = 0.0f;
    /* column-major view: C[ne1 x n_tok] = W^T (W stored [ne1][ne0] = col-major ne0 x ne1) * X */
    int64_t chunk = (int64_t)(scratch_elems / (size_t)ne0);
    if (type == LIR_TYPE_F16) chunk = ne1;
    if (chunk < 1) return -2;
    for (int64_t r0 = 0; r0 < ne1; r0 += chunk) {
        const int64_t nr = ne1 - r0 < chunk ? ne1 - r0 : chunk;
        const void *wa;
        if (type == LIR_TYPE_F16) {
            wa = d_w;
        } else {
            const uint8_t *wr = (const uint8_t *)d_w + (size_t)r0 * row_size;
            __half *s16 = (__half *)d_scratch16;
            switch (type) {
#define X(t) case t: launch_dequant<t>(st, wr, row_size, (int)ne0, nr, s16); break;
                LIRK_TYPE_LIST(X)
#undef X
            default: return -1;
            }
            wa = s16;
        }
        cs = cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, (int)nr, n_tok, (int)ne0, &one, wa, CUDA_R_16F, (int)ne0,
                          x16, CUDA_R_16F, (int)ne0, &zero, d_out + r0, CUDA_R_32F, (int)ne1, CUBLAS_COMPUTE_32F,
                          CUBLAS_GEMM_DEFAULT);
        if (cs != CUBLAS_STATUS_SUCCESS) return (int)cs;
    }
    if (d_bias) k_add_bias<<<blocks((int64_t)n_tok * ne1, 256), 256, 0, st>>>(d_out, d_bias, n_tok, (int)ne1);
    return 0;
}

extern "C" void lirk_get_rows(void *stream, int32_t type, const void *d_w, size_t row_size, int64_t ne0,
                              const int32_t *d_ids, int32_t n, float *d_out) {
    cudaStream_t st = (cudaStream_t)stream;
    const unsigned g = blocks((int64_t)n * (ne0 / 8), 256);
    switch (type) {
#define X(t) case t: k_get_rows<t><<<g, 256, 0, st>>>((const uint8_t *)d_w, row_size, (int)ne0, d_ids, n, d_out); break;
        LIRK_TYPE_LIST(X)
#undef X
    default: break;
    }
}
