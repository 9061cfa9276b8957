/* matmul.cu — prompt-size weight × activation products on the GPU, for every weight storage
 * type: row chunks of the weight dequantized to f16 in a scratch buffer, the (rounded) input
 * converted to f16, and the product taken on tensor cores by cuBLAS (f32 accumulate, f32
 * output); F16 weights go to cuBLAS directly. Batches of up to LIRK_MV_MAX_TOK rows go to the
 * mat-vec kernels of matvec.cu instead. Also the row gather of the token embedding (get_rows),
 * which shares the dequantizers. */
#include "backend/cuda/kernels.h"
#include "backend/cuda/quant.cuh"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <string.h>

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
                           void *d_scratch16, size_t scratch_elems, void *d_x16, const struct lirk_act *act,
                           int force) {
    cudaStream_t st = (cudaStream_t)stream;
    lirk_act_quant(st, type, d_x, n_tok, ne0, act);
    d_x = act->f;
    const bool mv = force == 1 || force == 3 || (force == 0 && n_tok <= LIRK_MV_MAX_TOK);
    if (mv)
        return lirk_matvec(st, type, 1, &d_w, &row_size, &ne1, &d_bias, &d_out, ne0, act, n_tok,
                           LIRK_MV_STORE | (force == 3 ? LIRK_MV_TWO_ROWS : 0));
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
