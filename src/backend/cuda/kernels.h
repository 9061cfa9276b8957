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

/* Programmatic dependent launch (Hopper) for the kernels the calling thread launches next: on (1)
 * or off (0, the default); see launch.cuh. */
void lirk_set_pdl(int on);

/* Weight types with CUDA kernels (mat-vec, dequantize-to-f16, row gather): every storage
 * type the CPU backend supports for weights (F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K..Q6_K). */
int lirk_type_supported(int32_t type);

/* An activation rounded as the CPU backend converts it for a weight type (its vec_dot_type:
 * Q8_0 blocks of 32, Q8_K blocks of 256, f16, bf16, or f32 unchanged), so both backends multiply
 * equal inputs and differ only in the order of float sums (near ties in greedy decoding break
 * alike). f: the rounded values as f32 ([n_tok][ne0]); for Q8_0 / Q8_K also the int8 form the
 * integer mat-vec kernels read: q ([n_tok][ne0]), d (the scale of each block of 32 or 256) and,
 * for Q8_K, s (the sum of q over each 16 elements). Device buffers of n_tok*ne0 floats, bytes,
 * n_tok*ne0/32 floats and n_tok*ne0/16 ints. */
struct lirk_act {
    float *f;
    int8_t *q;
    float *d;
    int32_t *s;
};
enum { LIRK_ACT_F32, LIRK_ACT_F16, LIRK_ACT_BF16, LIRK_ACT_Q8_0, LIRK_ACT_Q8_K };
int lirk_act_mode(int32_t type);
/* act = x ([n_tok][ne0]) rounded for weights of type (ne0 % 32 == 0; % 256 for K-quants). */
void lirk_act_quant(void *stream, int32_t type, const float *d_x, int32_t n_tok, int64_t ne0,
                    const struct lirk_act *act);

/* The decode products: n_mat (1..3) weights of one type sharing the input act (n_tok <=
 * LIRK_MV_MAX_TOK rows, rounded for that type), one warp per weight row.
 * mode LIRK_MV_STORE: out[i][t][r] = dot(row r of w[i], x[t]) + bias[i][r];
 *      LIRK_MV_ADD:   out[i][t][r] += the same (the residual stream);
 *      LIRK_MV_SWIGLU: n_mat 2 (gate, up, equal ne1): out[0][t][r] = silu(g) * u.
 * d_bias may be NULL, as may its entries. mode | LIRK_MV_TWO_ROWS: two rows a warp whatever the
 * size (tests; by default large launches take two). LIRK_MV_SWIGLU | LIRK_MV_ROUND_OUT(m), m an
 * elementwise rounding (LIRK_ACT_F32, _F16, _BF16): the result is also written rounded to
 * d_out[1], the next product's input (saves a rounding launch). Returns 0, or < 0 for a bad type, count
 * or mode. */
#define LIRK_MV_MAX_TOK 8
enum { LIRK_MV_STORE, LIRK_MV_ADD, LIRK_MV_SWIGLU, LIRK_MV_TWO_ROWS = 8, LIRK_MV_ROUND = 16 };
#define LIRK_MV_ROUND_OUT(m) (LIRK_MV_ROUND | ((m) << 8))
int lirk_matvec(void *stream, int32_t type, int n_mat, const void *const *d_w, const size_t *row_size,
                const int64_t *ne1, const float *const *d_bias, float *const *d_out, int64_t ne0,
                const struct lirk_act *act, int32_t n_tok, int mode);

/* out[t][r] = dot(row r of w, x[t]) (+ bias[r]) for t < n_tok, r < ne1; ne0 % 8 == 0. The input
 * is first rounded into act (lirk_act_quant). n_tok <= LIRK_MV_MAX_TOK runs lirk_matvec; larger
 * batches dequantize row chunks of w to f16 in d_scratch16 (scratch_elems halves, >= ne0) and
 * multiply on tensor cores through cuBLAS (F16 weights directly), the rounded input converted
 * to f16 in d_x16 (>= n_tok*ne0 halves). force: 0 = choose, 1 = mat-vec, 2 = GEMM, 3 = mat-vec
 * with two rows a warp.
 * Returns 0 or a cuBLAS status (a launch error shows later). */
int lirk_matmul(void *stream, void *cublas, int32_t type, const void *d_w, size_t row_size, int64_t ne0, int64_t ne1,
                const float *d_x, int32_t n_tok, const float *d_bias, float *d_out, void *d_scratch16,
                size_t scratch_elems, void *d_x16, const struct lirk_act *act, int force);

/* out[i] = dequantized row ids[i] of w (ids on the device). */
void lirk_get_rows(void *stream, int32_t type, const void *d_w, size_t row_size, int64_t ne0, const int32_t *d_ids,
                   int32_t n, float *d_out);

/* out[r] = in[r] / sqrt(mean(in[r]^2) + eps) * w (w may be NULL; out may equal in). */
void lirk_rmsnorm(void *stream, const float *d_in, const float *d_w, float *d_out, int64_t rows, int32_t dim,
                  float eps);

/* RMSNorm of each row (as lirk_rmsnorm), its result rounded into act for weights of type: the
 * norm and the rounding of a decode step's matmul input in one launch (one block per row). */
void lirk_rmsnorm_act(void *stream, const float *d_in, const float *d_w, int64_t rows, int32_t dim, float eps,
                      int32_t type, const struct lirk_act *act);

/* The attention inputs of n_tok tokens in one launch: q ([n_tok][n_head][head_dim]) and k
 * ([n_tok][n_head_kv][head_dim]) RMS-normed per head when d_qn / d_kn are given (qwen3), then
 * the first n_rot dims of each head rotated at positions pos (device): neox = pairs (i, i +
 * n_rot/2), else (2i, 2i+1); angle freq_scale * pos * base^(-2i/n_rot) / freq_factors[i]
 * (freq_factors on the device or NULL). q is written back; k and v ([n_tok][n_head_kv*head_dim])
 * go to the f16 cache: the cache of a layer is blocks of 64 rows ([blocks][64][n_head_kv*head_dim]),
 * token t's sequence's block table is d_tab[t*max_blocks ..] (device), and position p is row
 * p % 64 of block table[p / 64]. head_dim <= 256. */
void lirk_rope_kv(void *stream, float *d_q, const float *d_k, const float *d_v, const float *d_qn, const float *d_kn,
                  float eps, uint16_t *d_kc, uint16_t *d_vc, const int32_t *d_pos, const int32_t *d_tab,
                  int32_t max_blocks, int32_t n_tok, int32_t n_head, int32_t n_head_kv, int32_t head_dim,
                  int32_t n_rot, int neox, float base, float freq_scale, const float *d_freq_factors);

/* Causal GQA attention over the cache (blocks and tables as lirk_rope_kv): token t's head h
 * attends positions [0, pos[t]] of its sequence, KV head h / (n_head / n_head_kv), online softmax over blocks of `chunk` rows (flash-decoding).
 * n_split > 1 splits each row range into n_split blocks of chunk rows computed in parallel
 * and merged after (d_part: n_tok*n_head*n_split*(head_dim+2) floats; the merge reads only
 * the blocks that hold rows); n_split == 1 needs chunk >= the longest range. head_dim % 32 ==
 * 0 and <= 256. act (may be NULL): the output also rounded into it for weights of act_type
 * (the output projection's input; fused into the merge when n_split > 1 and n_head*head_dim
 * is a multiple of 256). */
void lirk_attention(void *stream, const float *d_q, const uint16_t *d_kc, const uint16_t *d_vc, const int32_t *d_pos,
                    const int32_t *d_tab, int32_t max_blocks, int32_t n_tok, int32_t n_head, int32_t n_head_kv, int32_t head_dim, float scale, int32_t chunk,
                    int32_t n_split, float *d_part, float *d_out, const struct lirk_act *act, int32_t act_type);

/* out = silu(g) * u; y += v (n elements). */
void lirk_swiglu(void *stream, const float *d_g, const float *d_u, float *d_out, int64_t n);
void lirk_add(void *stream, float *d_y, const float *d_v, int64_t n);

#ifdef __cplusplus
}
#endif

#endif /* LIR_CUDA_KERNELS_H */
