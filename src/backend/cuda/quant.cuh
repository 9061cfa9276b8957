/* quant.cuh — dequantization in registers for the CUDA kernels: deq8<T>(row, s, v) writes
 * elements [8s, 8s+8) of a weight row of storage type T as floats. The block layouts are the
 * on-disk ones of src/quant/quant.h (ggml's), and each formula is the one of the scalar
 * reference dequantizer there (lir_dequantize_row_<T>_ref), so a kernel built on it computes
 * with exactly the reference's weights. In every type an aligned group of 8 elements comes
 * from 8 consecutive quant bytes, which the loads below take at the alignment the block
 * layout guarantees (rows start 16-byte aligned on the device). */
#ifndef LIR_CUDA_QUANT_CUH
#define LIR_CUDA_QUANT_CUH

#define _Static_assert static_assert
extern "C" {
#include "quant/quant.h"
}
#undef _Static_assert

#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <stdint.h>

__device__ __forceinline__ float lirk_h2f(const uint8_t *p) {
    return __half2float(__ushort_as_half(*(const uint16_t *)p));
}

/* 8 bytes from p, 2-byte aligned */
__device__ __forceinline__ void ld8_a2(const uint8_t *p, uint8_t b[8]) {
    const uint16_t *q = (const uint16_t *)p;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const uint16_t u = q[i];
        b[2 * i] = (uint8_t)u;
        b[2 * i + 1] = (uint8_t)(u >> 8);
    }
}
/* 8 bytes from p, 4-byte aligned */
__device__ __forceinline__ void ld8_a4(const uint8_t *p, uint8_t b[8]) {
    const uint32_t u0 = ((const uint32_t *)p)[0], u1 = ((const uint32_t *)p)[1];
#pragma unroll
    for (int i = 0; i < 4; i++) {
        b[i] = (uint8_t)(u0 >> (8 * i));
        b[4 + i] = (uint8_t)(u1 >> (8 * i));
    }
}
/* 8 bytes from p, 8-byte aligned */
__device__ __forceinline__ void ld8_a8(const uint8_t *p, uint8_t b[8]) {
    const uint2 u = *(const uint2 *)p;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        b[i] = (uint8_t)(u.x >> (8 * i));
        b[4 + i] = (uint8_t)(u.y >> (8 * i));
    }
}

template <int T> struct deq;

template <> struct deq<LIR_TYPE_F32> {
    static __device__ __forceinline__ void get(const uint8_t *r, int s, float v[8]) {
        const float4 a = ((const float4 *)r)[2 * s], b = ((const float4 *)r)[2 * s + 1];
        v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w; v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
    }
};
template <> struct deq<LIR_TYPE_F16> {
    static __device__ __forceinline__ void get(const uint8_t *r, int s, float v[8]) {
        const uint4 u = ((const uint4 *)r)[s];
        const __half2 *h = (const __half2 *)&u;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const float2 f = __half22float2(h[i]);
            v[2 * i] = f.x;
            v[2 * i + 1] = f.y;
        }
    }
};
template <> struct deq<LIR_TYPE_BF16> {
    static __device__ __forceinline__ void get(const uint8_t *r, int s, float v[8]) {
        const uint4 u = ((const uint4 *)r)[s];
        const uint32_t w[4] = { u.x, u.y, u.z, u.w };
#pragma unroll
        for (int i = 0; i < 4; i++) {
            v[2 * i] = __uint_as_float(w[i] << 16);
            v[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
        }
    }
};
template <> struct deq<LIR_TYPE_Q8_0> { /* 34 bytes: d, qs[32] */
    static __device__ __forceinline__ void get(const uint8_t *r, int s, float v[8]) {
        const uint8_t *p = r + (size_t)(s >> 2) * sizeof(block_q8_0);
        const float d = lirk_h2f(p);
        uint8_t b[8];
        ld8_a2(p + 2 + 8 * (s & 3), b);
#pragma unroll
        for (int i = 0; i < 8; i++) v[i] = (float)(int8_t)b[i] * d;
    }
};
template <> struct deq<LIR_TYPE_Q4_0> { /* 18 bytes: d, qs[16]; low nibbles 0..15, high 16..31 */
    static __device__ __forceinline__ void get(const uint8_t *r, int s, float v[8]) {
        const uint8_t *p = r + (size_t)(s >> 2) * sizeof(block_q4_0);
        const int w = s & 3;
        const float d = lirk_h2f(p);
        uint8_t b[8];
        ld8_a2(p + 2 + 8 * (w & 1), b);
        const int sh = w < 2 ? 0 : 4;
#pragma unroll
        for (int i = 0; i < 8; i++) v[i] = (float)(((b[i] >> sh) & 0xF) - 8) * d;
    }
};
template <> struct deq<LIR_TYPE_Q4_1> { /* 20 bytes: d, m, qs[16] */
    static __device__ __forceinline__ void get(const uint8_t *r, int s, float v[8]) {
        const uint8_t *p = r + (size_t)(s >> 2) * sizeof(block_q4_1);
        const int w = s & 3;
        const float d = lirk_h2f(p), m = lirk_h2f(p + 2);
        uint8_t b[8];
        ld8_a4(p + 4 + 8 * (w & 1), b);
        const int sh = w < 2 ? 0 : 4;
#pragma unroll
        for (int i = 0; i < 8; i++) v[i] = (float)((b[i] >> sh) & 0xF) * d + m;
    }
};
template <> struct deq<LIR_TYPE_Q5_0> { /* 22 bytes: d, qh[4], qs[16] */
    static __device__ __forceinline__ void get(const uint8_t *r, int s, float v[8]) {
        const uint8_t *p = r + (size_t)(s >> 2) * sizeof(block_q5_0);
        const int w = s & 3;
        const float d = lirk_h2f(p);
        const uint32_t qh = (uint32_t)p[2] | (uint32_t)p[3] << 8 | (uint32_t)p[4] << 16 | (uint32_t)p[5] << 24;
        uint8_t b[8];
        ld8_a2(p + 6 + 8 * (w & 1), b);
        const int sh = w < 2 ? 0 : 4;
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const int e = 8 * w + i;
            v[i] = (float)((((b[i] >> sh) & 0xF) | (int)(((qh >> e) & 1u) << 4)) - 16) * d;
        }
    }
};
template <> struct deq<LIR_TYPE_Q5_1> { /* 24 bytes: d, m, qh[4], qs[16] */
    static __device__ __forceinline__ void get(const uint8_t *r, int s, float v[8]) {
        const uint8_t *p = r + (size_t)(s >> 2) * sizeof(block_q5_1);
        const int w = s & 3;
        const float d = lirk_h2f(p), m = lirk_h2f(p + 2);
        const uint32_t qh = *(const uint32_t *)(p + 4);
        uint8_t b[8];
        ld8_a8(p + 8 + 8 * (w & 1), b);
        const int sh = w < 2 ? 0 : 4;
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const int e = 8 * w + i;
            v[i] = (float)(((b[i] >> sh) & 0xF) | (int)(((qh >> e) & 1u) << 4)) * d + m;
        }
    }
};
/* K-quants: 256 elements a block; e = element in the block of the group's first element */
template <> struct deq<LIR_TYPE_Q2_K> { /* 84 bytes: scales[16], qs[64], d, dmin */
    static __device__ __forceinline__ void get(const uint8_t *r, int s, float v[8]) {
        const uint8_t *p = r + (size_t)(s >> 5) * sizeof(block_q2_K);
        const int e = 8 * (s & 31);
        const uint8_t sc = p[e / 16];
        const float dl = lirk_h2f(p + 80) * (float)(sc & 0xF), ml = lirk_h2f(p + 82) * (float)(sc >> 4);
        uint8_t b[8];
        ld8_a4(p + 16 + (e / 128) * 32 + e % 32, b);
        const int sh = 2 * ((e % 128) / 32);
#pragma unroll
        for (int i = 0; i < 8; i++) v[i] = dl * (float)((b[i] >> sh) & 3) - ml;
    }
};
template <> struct deq<LIR_TYPE_Q3_K> { /* 110 bytes: hmask[32], qs[64], scales[12], d */
    static __device__ __forceinline__ void get(const uint8_t *r, int s, float v[8]) {
        const uint8_t *p = r + (size_t)(s >> 5) * sizeof(block_q3_K);
        const int e = 8 * (s & 31), sb = e / 16;
        const uint8_t *packed = p + 96;
        const int lo = sb < 8 ? (packed[sb] & 0xF) : (packed[sb - 8] >> 4);
        const int hi = (packed[8 + sb % 4] >> (2 * (sb / 4))) & 3;
        const float dl = lirk_h2f(p + 108) * (float)((lo | (hi << 4)) - 32);
        uint8_t q[8], h[8];
        ld8_a2(p + 32 + (e / 128) * 32 + e % 32, q);
        ld8_a2(p + e % 32, h);
        const int sh = 2 * ((e % 128) / 32), hb = e / 32;
#pragma unroll
        for (int i = 0; i < 8; i++) v[i] = dl * (float)(((q[i] >> sh) & 3) - (((h[i] >> hb) & 1) ? 0 : 4));
    }
};
__device__ __forceinline__ void lirk_scale_min_k4(int j, const uint8_t *q, int *d, int *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}
template <> struct deq<LIR_TYPE_Q4_K> { /* 144 bytes: d, dmin, scales[12], qs[128] */
    static __device__ __forceinline__ void get(const uint8_t *r, int s, float v[8]) {
        const uint8_t *p = r + (size_t)(s >> 5) * sizeof(block_q4_K);
        const int e = 8 * (s & 31);
        int sc, m;
        lirk_scale_min_k4(e / 32, p + 4, &sc, &m);
        const float d1 = lirk_h2f(p) * (float)sc, m1 = lirk_h2f(p + 2) * (float)m;
        uint8_t b[8];
        ld8_a8(p + 16 + (e / 64) * 32 + e % 32, b);
        const int sh = (e % 64) < 32 ? 0 : 4;
#pragma unroll
        for (int i = 0; i < 8; i++) v[i] = d1 * (float)((b[i] >> sh) & 0xF) - m1;
    }
};
template <> struct deq<LIR_TYPE_Q5_K> { /* 176 bytes: d, dmin, scales[12], qh[32], qs[128] */
    static __device__ __forceinline__ void get(const uint8_t *r, int s, float v[8]) {
        const uint8_t *p = r + (size_t)(s >> 5) * sizeof(block_q5_K);
        const int e = 8 * (s & 31);
        int sc, m;
        lirk_scale_min_k4(e / 32, p + 4, &sc, &m);
        const float d1 = lirk_h2f(p) * (float)sc, m1 = lirk_h2f(p + 2) * (float)m;
        uint8_t b[8], h[8];
        ld8_a8(p + 48 + (e / 64) * 32 + e % 32, b);
        ld8_a8(p + 16 + e % 32, h);
        const int sh = (e % 64) < 32 ? 0 : 4, hb = e / 32;
#pragma unroll
        for (int i = 0; i < 8; i++) v[i] = d1 * (float)(((b[i] >> sh) & 0xF) | (((h[i] >> hb) & 1) << 4)) - m1;
    }
};
template <> struct deq<LIR_TYPE_Q6_K> { /* 210 bytes: ql[128], qh[64], scales[16] (int8), d */
    static __device__ __forceinline__ void get(const uint8_t *r, int s, float v[8]) {
        const uint8_t *p = r + (size_t)(s >> 5) * sizeof(block_q6_K);
        const int e = 8 * (s & 31);
        const int hh = e / 128, rr = e % 128, l = rr % 32, quarter = rr / 32;
        const float dl = lirk_h2f(p + 208) * (float)(int8_t)p[192 + e / 16];
        uint8_t lo[8], hi[8];
        ld8_a2(p + 64 * hh + ((quarter & 1) ? 32 : 0) + l, lo);
        ld8_a2(p + 128 + 32 * hh + l, hi);
        const int sh = quarter < 2 ? 0 : 4;
#pragma unroll
        for (int i = 0; i < 8; i++)
            v[i] = dl * (float)((((lo[i] >> sh) & 0xF) | (((hi[i] >> (2 * quarter)) & 3) << 4)) - 32);
    }
};

/* Calls F::template run<T>(args...) for the runtime type t; returns false for a type without
 * kernels. */
#define LIRK_TYPE_LIST(X) \
    X(LIR_TYPE_F32) X(LIR_TYPE_F16) X(LIR_TYPE_BF16) X(LIR_TYPE_Q8_0) X(LIR_TYPE_Q4_0) X(LIR_TYPE_Q4_1) \
    X(LIR_TYPE_Q5_0) X(LIR_TYPE_Q5_1) X(LIR_TYPE_Q2_K) X(LIR_TYPE_Q3_K) X(LIR_TYPE_Q4_K) X(LIR_TYPE_Q5_K) \
    X(LIR_TYPE_Q6_K)

#endif /* LIR_CUDA_QUANT_CUH */
