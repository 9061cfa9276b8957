/* kernels.h — the CUDA kernel launchers (the .cu files of src/backend/cuda) as a plain C interface, so the
 * CUDA forward pass (cuda_forward.c, C11) drives them without C++ headers. Every launcher
 * enqueues on the given stream (a cudaStream_t passed as void *) and returns at once; device
 * pointers are named d_*. Activations are row-major f32 [rows][dim]; the KV cache is f16,
 * per layer K and V both [kv_size][n_head_kv*head_dim]. Launch errors surface at the next
 * synchronisation (cuda_forward.c checks cudaGetLastError after every evaluation). */
#ifndef LIR_CUDA_KERNELS_H
#define LIR_CUDA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Weight types with CUDA kernels (mat-vec, dequantize-to-f16, row gather): every storage
 * type the CPU backend supports for weights (F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K..Q6_K). */
int lirk_type_supported(int32_t type);

/* out[t][r] = dot(row r of w, x[t]) (+ bias[r]) for t < n_tok, r < ne1; ne0 % 8 == 0.
 * n_tok <= 8 runs the mat-vec kernels (weights dequantized in registers); larger batches
 * dequantize row chunks of w to f16 in d_scratch16 (scratch_elems halves, >= ne0) and multiply
 * on tensor cores through cuBLAS (F16 weights directly), the input converted to f16 in d_x16
 * (>= n_tok*ne0 halves). The input is first rounded as the CPU backend converts it for w's type
 * (its vec_dot_type: Q8_0, Q8_K, f16, bf16; values dequantized into d_xq, n_tok*ne0 floats), so
 * both backends multiply equal inputs. force: 0 = choose, 1 = mat-vec (n_tok <= 8), 2 = GEMM.
 * Returns 0 or a cuBLAS status (a launch error shows later). */
int lirk_matmul(void *stream, void *cublas, int32_t type, const void *d_w, size_t row_size, int64_t ne0, int64_t ne1,
                const float *d_x, int32_t n_tok, const float *d_bias, float *d_out, void *d_scratch16,
                size_t scratch_elems, void *d_x16, float *d_xq, int force);

/* The mat-vec path for n_mat (1..3) weights of one type sharing the input x ([n_tok][ne0]), in
 * one launch per 8 columns (decode: q/k/v, gate/up): out[i][t][r] = dot(row r of w[i], x[t])
 * (+ bias[i][r]); bias entries may be NULL; x rounded into d_xq as lirk_matmul does. Returns 0,
 * or < 0 for a bad type or count. */
int lirk_matvec_multi(void *stream, int32_t type, int n_mat, const void *const *d_w, const size_t *row_size,
                      const int64_t *ne1, const float *const *d_bias, float *const *d_out, int64_t ne0,
                      const float *d_x, int32_t n_tok, float *d_xq);

/* out[i] = dequantized row ids[i] of w (ids on the device). */
void lirk_get_rows(void *stream, int32_t type, const void *d_w, size_t row_size, int64_t ne0, const int32_t *d_ids,
                   int32_t n, float *d_out);

/* out[r] = in[r] / sqrt(mean(in[r]^2) + eps) * w (w may be NULL; out may equal in). */
void lirk_rmsnorm(void *stream, const float *d_in, const float *d_w, float *d_out, int64_t rows, int32_t dim,
                  float eps);

/* Rotates the first n_rot dims of each head of v ([n_tok][n_head][head_dim]) in place at
 * positions pos (device): neox = pairs (i, i + n_rot/2), else (2i, 2i+1); angle
 * freq_scale * pos * base^(-2i/n_rot) / freq_factors[i] (freq_factors on the device or NULL). */
void lirk_rope(void *stream, float *d_v, int32_t n_tok, int32_t n_head, int32_t head_dim, const int32_t *d_pos,
               int32_t n_rot, int neox, float base, float freq_scale, const float *d_freq_factors);

/* Stores k, v rows ([n_tok][kv_dim] f32) as f16 at cache rows pos[t]. */
void lirk_kv_store(void *stream, uint16_t *d_kc, uint16_t *d_vc, const float *d_k, const float *d_v, int32_t n_tok,
                   int32_t kv_dim, const int32_t *d_pos);

/* Causal GQA attention over the cache: token t's head h attends rows [0, pos[t]] of KV head
 * h / (n_head / n_head_kv), online softmax over blocks of `chunk` rows (flash-decoding).
 * n_split > 1 splits each row range into n_split blocks of chunk rows computed in parallel
 * and merged after (d_part: n_tok*n_head*n_split*(head_dim+2) floats); n_split == 1 needs
 * chunk >= the longest range. head_dim % 32 == 0 and <= 256. */
void lirk_attention(void *stream, const float *d_q, const uint16_t *d_kc, const uint16_t *d_vc, const int32_t *d_pos,
                    int32_t n_tok, int32_t n_head, int32_t n_head_kv, int32_t head_dim, float scale, int32_t chunk,
                    int32_t n_split, float *d_part, float *d_out);

/* out = silu(g) * u; y += v (n elements). */
void lirk_swiglu(void *stream, const float *d_g, const float *d_u, float *d_out, int64_t n);
void lirk_add(void *stream, float *d_y, const float *d_v, int64_t n);

#ifdef __cplusplus
}
#endif

#endif /* LIR_CUDA_KERNELS_H */
