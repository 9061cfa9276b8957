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
#include <string.h>

#define MV_THREADS 128 /* one block per weight row: its 4 warps split the row, then add up */
#define MV_MAX 3          /* weights of one launch (q, k, v or gate, up share the input) */

struct mv_mat {
    const uint8_t *w;
    size_t row_size;
    int ne1;
    const float *bias;    /* NULL or ne1 floats */
    float *out;           /* [NC][ne1] */
};
struct mv_args {
    struct mv_mat m[MV_MAX];
    int n_mat, ne0;
    const float *x;       /* [NC][ne0] */
};

/* Block b computes row b of the concatenated rows of the launch's weights for NC inputs. Four
 * warps per row keep enough loads in flight for decode-size matrices (a few thousand rows). */
template <int T, int NC>
__global__ void __launch_bounds__(MV_THREADS) k_matvec(const __grid_constant__ struct mv_args a) {
    int row = blockIdx.x, mi = 0;
    while (mi + 1 < a.n_mat && row >= a.m[mi].ne1) row -= a.m[mi++].ne1;
    const struct mv_mat *M = &a.m[mi];
    const int ne0 = a.ne0, nsub = ne0 / 8;
    const uint8_t *r = M->w + (size_t)row * M->row_size;
    float acc[NC];
#pragma unroll
    for (int c = 0; c < NC; c++) acc[c] = 0.0f;
#pragma unroll 4
    for (int s = threadIdx.x; s < nsub; s += MV_THREADS) {
        float v[8];
        deq<T>::get(r, s, v);
#pragma unroll
        for (int c = 0; c < NC; c++) {
            const float4 *xp = (const float4 *)(a.x + (size_t)c * ne0 + 8 * s);
            const float4 p = __ldg(xp), q = __ldg(xp + 1);
            acc[c] += v[0] * p.x + v[1] * p.y + v[2] * p.z + v[3] * p.w + v[4] * q.x + v[5] * q.y + v[6] * q.z +
                      v[7] * q.w;
        }
    }
    __shared__ float red[MV_THREADS / 32][NC];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
#pragma unroll
    for (int c = 0; c < NC; c++) {
        float v = acc[c];
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
        if (lane == 0) red[warp][c] = v;
    }
    __syncthreads();
    if (threadIdx.x < NC) {
        const int c = threadIdx.x;
        float v = 0.0f;
#pragma unroll
        for (int w = 0; w < MV_THREADS / 32; w++) v += red[w][c];
        M->out[(size_t)c * M->ne1 + row] = v + (M->bias ? M->bias[row] : 0.0f);
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

/* ---- activations rounded as the CPU backend converts them (its vec_dot_type) ----
 * The CPU multiplies a weight by its input converted to the weight type's vec_dot_type (ggml's
 * numerics): Q8_0 / Q8_1 blocks of 32 (x86 activation quantizer: id = 127/amax, round half to
 * even, d stored as f16), Q8_K blocks of 256 (iscale = -127/max with max the first element of
 * largest magnitude, nearest even, clamp 127, d = 1/iscale in f32), or f16 / bf16. The GPU feeds
 * its kernels those same values dequantized (q * d), so both backends see equal inputs and
 * differ only in the order of float sums: near ties in greedy decoding break alike. */
enum { ACT_F32, ACT_F16, ACT_BF16, ACT_Q8_0, ACT_Q8_K };

static int act_mode(int32_t type) {
    switch (type) {
    case LIR_TYPE_F16: return ACT_F16;
    case LIR_TYPE_BF16: return ACT_BF16;
    case LIR_TYPE_Q4_0: case LIR_TYPE_Q5_0: case LIR_TYPE_Q8_0:
    case LIR_TYPE_Q4_1: case LIR_TYPE_Q5_1: return ACT_Q8_0; /* Q8_1 rounds its values as Q8_0 does */
    case LIR_TYPE_Q2_K: case LIR_TYPE_Q3_K: case LIR_TYPE_Q4_K: case LIR_TYPE_Q5_K: case LIR_TYPE_Q6_K:
        return ACT_Q8_K;
    default: return ACT_F32;
    }
}

__global__ void k_act_half(const float *__restrict__ x, float *__restrict__ y, int64_t n, int bf) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    y[i] = bf ? __bfloat162float(__float2bfloat16_rn(x[i])) : __half2float(__float2half_rn(x[i]));
}

/* one warp per quant block of QB (32 or 256) elements; lane l holds elements l*QB/32 .. */
template <int QB>
__global__ void k_act_q8(const float *__restrict__ x, float *__restrict__ y, int64_t nblk) {
    constexpr int PER = QB / 32;
    const int64_t b = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (b >= nblk) return;
    const float *xb = x + b * QB + lane * PER;
    float v[PER];
    float amax = 0.0f;
    int at = 1 << 30; /* index of the first element of largest magnitude */
#pragma unroll
    for (int k = 0; k < PER; k++) {
        v[k] = xb[k];
        if (fabsf(v[k]) > amax) amax = fabsf(v[k]), at = lane * PER + k;
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float oa = __shfl_xor_sync(0xffffffffu, amax, o);
        const int oi = __shfl_xor_sync(0xffffffffu, at, o);
        if (oa > amax || (oa == amax && oi < at)) amax = oa, at = oi;
    }
    float *yb = y + b * QB + lane * PER;
    if (QB == 32) {
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        const float d = __half2float(__float2half_rn(amax / 127.f));
#pragma unroll
        for (int k = 0; k < PER; k++) yb[k] = (float)__float2int_rn(v[k] * id) * d;
    } else {
        if (amax == 0.0f) {
#pragma unroll
            for (int k = 0; k < PER; k++) yb[k] = 0.0f;
            return;
        }
        const float mx = x[b * QB + at];
        const float iscale = -127.f / mx, d = 1.0f / iscale;
#pragma unroll
        for (int k = 0; k < PER; k++) yb[k] = (float)min(127, __float2int_rn(iscale * v[k])) * d;
    }
}

/* x ([n_tok][ne0]) as the CPU would convert it for weights of type; returns x itself (f32
 * weights) or xq (n_tok*ne0 floats) */
static const float *act_round(cudaStream_t st, int32_t type, const float *x, int64_t n_tok, int64_t ne0, float *xq) {
    const int mode = act_mode(type);
    const int64_t n = n_tok * ne0;
    switch (mode) {
    case ACT_F16: case ACT_BF16: k_act_half<<<blocks(n, 256), 256, 0, st>>>(x, xq, n, mode == ACT_BF16); return xq;
    case ACT_Q8_0: k_act_q8<32><<<blocks(n / 32, 8), 256, 0, st>>>(x, xq, n / 32); return xq;
    case ACT_Q8_K:
        if (ne0 % 256) return x; /* cannot happen: K-quant rows are whole blocks */
        k_act_q8<256><<<blocks(n / 256, 8), 256, 0, st>>>(x, xq, n / 256);
        return xq;
    default: return x;
    }
}

template <int T>
static void launch_matvec(cudaStream_t st, const struct mv_args &a, int nc) {
    int rows = 0;
    for (int i = 0; i < a.n_mat; i++) rows += a.m[i].ne1;
    const dim3 g((unsigned)rows), b(MV_THREADS);
    switch (nc) {
    case 1: k_matvec<T, 1><<<g, b, 0, st>>>(a); break;
    case 2: k_matvec<T, 2><<<g, b, 0, st>>>(a); break;
    case 3: k_matvec<T, 3><<<g, b, 0, st>>>(a); break;
    case 4: k_matvec<T, 4><<<g, b, 0, st>>>(a); break;
    case 5: k_matvec<T, 5><<<g, b, 0, st>>>(a); break;
    case 6: k_matvec<T, 6><<<g, b, 0, st>>>(a); break;
    case 7: k_matvec<T, 7><<<g, b, 0, st>>>(a); break;
    default: k_matvec<T, 8><<<g, b, 0, st>>>(a); break;
    }
}

/* n_mat weights of one type sharing the input x ([n_tok][ne0]), in groups of 8 columns */
static int matvec_multi(cudaStream_t st, int32_t type, int n_mat, const void *const *w, const size_t *rs,
                        const int64_t *ne1, const float *const *bias, float *const *out, int64_t ne0,
                        const float *x, int32_t n_tok) {
    for (int32_t t0 = 0; t0 < n_tok; t0 += 8) {
        const int nc = n_tok - t0 < 8 ? n_tok - t0 : 8;
        struct mv_args a;
        memset(&a, 0, sizeof a);
        a.n_mat = n_mat;
        a.ne0 = (int)ne0;
        a.x = x + (size_t)t0 * ne0;
        for (int i = 0; i < n_mat; i++) {
            a.m[i].w = (const uint8_t *)w[i];
            a.m[i].row_size = rs[i];
            a.m[i].ne1 = (int)ne1[i];
            a.m[i].bias = bias[i];
            a.m[i].out = out[i] + (size_t)t0 * ne1[i];
        }
        switch (type) {
#define X(t) case t: launch_matvec<t>(st, a, nc); break;
            LIRK_TYPE_LIST(X)
#undef X
        default: return -1;
        }
    }
    return 0;
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
                           void *d_scratch16, size_t scratch_elems, void *d_x16, float *d_xq, int force) {
    cudaStream_t st = (cudaStream_t)stream;
    d_x = act_round(st, type, d_x, n_tok, ne0, d_xq);
    const bool mv = force == 1 || (force == 0 && n_tok <= 8);
    if (mv) return matvec_multi(st, type, 1, &d_w, &row_size, &ne1, &d_bias, &d_out, ne0, d_x, n_tok);
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

extern "C" int lirk_matvec_multi(void *stream, int32_t type, int n_mat, const void *const *d_w, const size_t *row_size,
                                 const int64_t *ne1, const float *const *d_bias, float *const *d_out, int64_t ne0,
                                 const float *d_x, int32_t n_tok, float *d_xq) {
    if (n_mat < 1 || n_mat > MV_MAX) return -3;
    cudaStream_t st = (cudaStream_t)stream;
    d_x = act_round(st, type, d_x, n_tok, ne0, d_xq);
    return matvec_multi(st, type, n_mat, d_w, row_size, ne1, d_bias, d_out, ne0, d_x, n_tok);
}
