/* act.cuh — device helpers that round an activation as the CPU backend converts it for a
 * weight type (its vec_dot_type; ggml's numerics), shared by the rounding kernels (matvec.cu)
 * and the fused RMSNorm (ops.cu):
 *   Q8_0 blocks of 32: id = 127/amax, q = round-half-even(x * id), d = f16(amax/127);
 *   Q8_K blocks of 256: iscale = -127/max (max = the first element of largest magnitude),
 *     q = min(127, round-half-even(iscale * x)), d = 1/iscale in f32, sums of q per 16;
 *   f16 / bf16: round to nearest even.
 * Each writes the rounded values as f32 (q * d) to a.f and, for Q8, the int8 form. */
#ifndef LIR_CUDA_ACT_CUH
#define LIR_CUDA_ACT_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include "backend/cuda/kernels.h"

__device__ __forceinline__ float lirk_round_half(float x, int mode) {
    if (mode == LIRK_ACT_F16) return __half2float(__float2half_rn(x));
    if (mode == LIRK_ACT_BF16) return __bfloat162float(__float2bfloat16_rn(x));
    return x;
}

/* One warp rounds quant block b (QB = 32 or 256 elements at x); lane l holds elements
 * l*QB/32 .. of it. x may alias a.f + b*QB (every value is read before any is written). */
template <int QB>
__device__ __forceinline__ void lirk_quant_block(const float *x, int64_t b, int lane, const struct lirk_act &a) {
    constexpr int PER = QB / 32;
    float v[PER];
    float amax = 0.0f;
    int at = 1 << 30; /* index of the first element of largest magnitude */
#pragma unroll
    for (int k = 0; k < PER; k++) {
        v[k] = x[lane * PER + k];
        if (fabsf(v[k]) > amax) amax = fabsf(v[k]), at = lane * PER + k;
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float oa = __shfl_xor_sync(0xffffffffu, amax, o);
        const int oi = __shfl_xor_sync(0xffffffffu, at, o);
        if (oa > amax || (oa == amax && oi < at)) amax = oa, at = oi;
    }
    int q[PER];
    float d;
    if (QB == 32) {
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        d = __half2float(__float2half_rn(amax / 127.f));
#pragma unroll
        for (int k = 0; k < PER; k++) q[k] = __float2int_rn(v[k] * id);
    } else if (amax == 0.0f) {
        d = 0.0f;
#pragma unroll
        for (int k = 0; k < PER; k++) q[k] = 0;
    } else {
        const float mx = x[at]; /* before any lane writes (x may alias a.f) */
        const float iscale = -127.f / mx;
        d = 1.0f / iscale;
#pragma unroll
        for (int k = 0; k < PER; k++) q[k] = min(127, __float2int_rn(iscale * v[k]));
    }
    __syncwarp();
    float *fb = a.f + b * QB + lane * PER;
    int8_t *qb = a.q + b * QB + lane * PER;
#pragma unroll
    for (int k = 0; k < PER; k++) {
        fb[k] = (float)q[k] * d;
        qb[k] = (int8_t)q[k];
    }
    if (lane == 0) a.d[b] = d;
    if (QB == 256) { /* sums per 16: lanes 2i and 2i+1 hold elements 16i .. 16i+15 */
        int s = 0;
#pragma unroll
        for (int k = 0; k < PER; k++) s += q[k];
        s += __shfl_xor_sync(0xffffffffu, s, 1);
        if ((lane & 1) == 0) a.s[b * 16 + lane / 2] = s;
    }
}

#endif /* LIR_CUDA_ACT_CUH */
