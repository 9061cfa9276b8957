/* gx.h — the "ggml" kernel table's kernels: llama.cpp's CPU arithmetic reproduced bit for bit.
 *
 * llama.cpp (node-llama-cpp 3.21.1's prebuilt ggml, the AVX-512 "zen4" CPU variant, GCC 11.4)
 * sums each dot product in an order fixed by its SIMD code: lane layouts, tree reductions, when
 * a block's integer sum becomes a float, which of vec_dot / tinyBLAS (llamafile sgemm) / the
 * repacked gemm runs. These kernels follow that order in plain C (fmaf where ggml fuses; built
 * with -ffp-contract=off so the compiler fuses nothing else), so lir's forward pass with
 * LIR_CPU_ISA=ggml gives llama.cpp's logits exactly. They are scalar and slow: a verification
 * mode, not a speed path.
 *
 * Every gemm has lir_gemm_fn's contract (kernels.h) and comes in two orders:
 *   _one:  llama.cpp's order when the matmul has ONE token column (decode: vec_dot / gemv);
 *   _many: its order when the matmul has two or more (prompt: tinyBLAS, repacked gemm, or
 *          vec_dot for types tinyBLAS does not take).
 * The activations `a` are what lir's from_float of the type's vec_dot_type writes (byte-identical
 * to ggml's quantize_row_* / fp32_to_fp16 / fp32_to_bf16). */
#ifndef LIR_CPU_GX_H
#define LIR_CPU_GX_H

#include <stddef.h>
#include <stdint.h>
#include "quant/quant.h"

/* Horizontal sums as GCC 11 compiles ggml's: hsum_float_8 / tinyBLAS's hsum(__m256) (high half
 * + low half, then lanes 0+2 and 1+3, then those two), and _mm512_reduce_add_ps (avx512fintrin.h's
 * __MM512_REDUCE_OP: upper 256 + lower 256, then the same on the 8 sums). */
static inline float lir__gx_hsum8(const float v[8]) {
    const float s0 = v[4] + v[0], s1 = v[5] + v[1], s2 = v[6] + v[2], s3 = v[7] + v[3];
    return (s0 + s2) + (s1 + s3);
}
static inline float lir__gx_hsum16(const float v[16]) {
    float a[8];
    for (int i = 0; i < 8; i++) a[i] = v[i + 8] + v[i];
    return lir__gx_hsum8(a);
}

#define LIR_GX_GEMM(T)                                                                                   \
    void lir__gx_gemm_##T##_one(int n, const void *w, size_t ws, const void *a, size_t as, float *out,  \
                                size_t os, int nr, int nc);                                             \
    void lir__gx_gemm_##T##_many(int n, const void *w, size_t ws, const void *a, size_t as, float *out, \
                                 size_t os, int nr, int nc);
LIR_GX_GEMM(f32)
LIR_GX_GEMM(f16)
LIR_GX_GEMM(bf16)
LIR_GX_GEMM(q4_0)
LIR_GX_GEMM(q4_1)
LIR_GX_GEMM(q5_0)
LIR_GX_GEMM(q5_1)
LIR_GX_GEMM(q8_0)
LIR_GX_GEMM(q2_K)
LIR_GX_GEMM(q3_K)
LIR_GX_GEMM(q4_K)
LIR_GX_GEMM(q5_K)
LIR_GX_GEMM(q6_K)
#undef LIR_GX_GEMM

/* Q4_0, Q4_K and Q2_K weights whose row count is not a multiple of 8: llama.cpp does not repack
 * them, so they sum in vec_dot's order (Q4_0: tinyBLAS's, the same) for any token count. */
void lir__gx_gemm_q4_0_norepack(int n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                                int nr, int nc);
void lir__gx_gemm_q4_K_norepack(int n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                                int nr, int nc);
void lir__gx_gemm_q2_K_norepack(int n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os,
                                int nr, int nc);

/* Attention's weights x V^T over paged KV blocks (kernels.h gemm_f16_paged's contract): the dot
 * over the nb * bs concatenated f16 elements in ggml's mul_mat order for an f16 row of that
 * length, one token (_one: vec_dot_f16) or several (_many: tinyBLAS). */
void lir__gx_gemm_f16_paged_one(int bs, int nb, const lir_f16 *const *w, size_t ws, const lir_f16 *a, size_t as,
                                float *out, size_t os, int nr, int nc);
void lir__gx_gemm_f16_paged_many(int bs, int nb, const lir_f16 *const *w, size_t ws, const lir_f16 *a, size_t as,
                                 float *out, size_t os, int nr, int nc);

#endif /* LIR_CPU_GX_H */
