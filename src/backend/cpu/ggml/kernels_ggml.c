/* kernels_ggml.c — the "ggml" kernel table (LIR_CPU_ISA=ggml): llama.cpp's CPU arithmetic bit
 * for bit (gx.h says why and how), for proving lir's forward pass equal to llama.cpp's.
 *
 * The matmuls are in gx_float.c, gx_q.c and gx_k.c. Here: the attention softmax and SwiGLU as
 * ggml's AVX-512 code computes them (ggml_vec_soft_max_f32, ggml_vec_swiglu_f32 with its
 * polynomial ggml_v_expf), and the table. Activation quantizers and the vec_dot slots are the
 * scalar references (kernels_generic.c's), which already give ggml's x86 bytes. */
#include <math.h>
#include <pthread.h>
#include <string.h>
#include "backend/cpu/ggml/gx.h"
#include "backend/cpu/kernels.h"

/* ggml_v_expf (vec.h, the __AVX512F__ version) on one lane: e^x = 2^n * p(b), n = round(x log2 e)
 * by the 1.5 * 2^23 trick, b = x - n ln 2 in two steps, p of degree 5 evaluated as ggml does;
 * |n| > 192 gives 0 or inf. */
static float v_expf(float x) {
    const float r = 0x1.8p23f;
    const float z = fmaf(x, 0x1.715476p+0f, r);
    const float n = z - r;
    const float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    const float u = b * b;
    const float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                         u, fmaf(0x1.ffffecp-1f, b, 1.0f));
    if (fabsf(n) > 192.0f) return n <= 0.0f ? 0.0f : INFINITY;
    return ldexpf(j, (int)n); /* _mm512_scalef_ps: j * 2^n, n integral */
}


/* ggml_compute_forward_soft_max_f32 on one row of ggml's length (a multiple of 16 past n is
 * all -inf there, whose exps are exact zeros: they add nothing to the 16-wide partial sums, so
 * our shorter row n_pad gives the same sum): x * scale, max, 16-lane v_expf chunks each
 * reduced and added to a double, a scalar expf tail, then times (float)(1 / sum). */
static void softmax_f16(int n, int n_pad, float *s, float scale, lir_f16 *p) {
    float mx = -INFINITY;
    for (int j = 0; j < n; j++) {
        s[j] *= scale;
        if (s[j] > mx) mx = s[j];
    }
    for (int j = n; j < n_pad; j++) s[j] = -INFINITY;
    double sum = 0.0;
    int j = 0;
    for (; j + 16 <= n_pad; j += 16) {
        for (int i = 0; i < 16; i++) s[j + i] = v_expf(s[j + i] - mx);
        sum += (double)lir__gx_hsum16(s + j);
    }
    for (; j < n_pad; j++) {
        s[j] = expf(s[j] - mx);
        sum += (double)s[j];
    }
    const float inv = (float)(1.0 / sum);
    for (j = 0; j < n; j++) p[j] = lir_f32_to_f16(s[j] * inv);
    for (; j < n_pad; j++) p[j] = 0;
}

/* ggml_vec_swiglu_f32: silu(g) * u with ggml_v_silu = g / (1 + v_expf(0 - g)). ggml takes the
 * scalar expf for the last n_ff % 16 elements of each row; every llama-family n_ff is a multiple
 * of 16, so all of ours take the vector form. */
static void silu_mul(int64_t n, const float *g, const float *u, float *out) {
    for (int64_t i = 0; i < n; i++) out[i] = g[i] / (1.0f + v_expf(0.0f - g[i])) * u[i];
}

#define GX_TYPES(X)                                                                                \
    X(LIR_TYPE_F32, f32) X(LIR_TYPE_F16, f16) X(LIR_TYPE_BF16, bf16) X(LIR_TYPE_Q4_0, q4_0)        \
    X(LIR_TYPE_Q4_1, q4_1) X(LIR_TYPE_Q5_0, q5_0) X(LIR_TYPE_Q5_1, q5_1) X(LIR_TYPE_Q8_0, q8_0)    \
    X(LIR_TYPE_Q2_K, q2_K) X(LIR_TYPE_Q3_K, q3_K) X(LIR_TYPE_Q4_K, q4_K) X(LIR_TYPE_Q5_K, q5_K)    \
    X(LIR_TYPE_Q6_K, q6_K)
#define ONE(ID, T) [ID] = lir__gx_gemm_##T##_one,
#define MANY(ID, T) [ID] = lir__gx_gemm_##T##_many,
static const lir_gemm_fn gemm_one[LIR_TYPE_COUNT] = { GX_TYPES(ONE) };
static const lir_gemm_fn gemm_many[LIR_TYPE_COUNT] = { GX_TYPES(MANY) };

/* llama.cpp's choice for a matmul of a weight (rows x k, type) and n_tok token columns (ggml-cpu.c
 * mul_mat, repack.cpp, llamafile/sgemm.cpp): Q4_0, Q4_K and Q2_K weights with rows % 8 == 0 are
 * repacked at load and use the repacked gemv (1 token) / gemm (more); other types use tinyBLAS
 * for 2+ tokens where it takes the type and shape (its _many kernels test the rest) and vec_dot
 * otherwise. F32/F16/BF16 tinyBLAS also declines when rows % 4 != 0: vec_dot for any count. */
static lir_gemm_fn gemm_pick(int type, int64_t rows, int32_t n_tok) {
    if (rows % 8) {
        if (type == LIR_TYPE_Q4_0) return lir__gx_gemm_q4_0_norepack;
        if (type == LIR_TYPE_Q4_K) return lir__gx_gemm_q4_K_norepack;
        if (type == LIR_TYPE_Q2_K) return lir__gx_gemm_q2_K_norepack;
    }
    if (rows % 4 && (type == LIR_TYPE_F32 || type == LIR_TYPE_F16 || type == LIR_TYPE_BF16)) return gemm_one[type];
    return n_tok >= 2 ? gemm_many[type] : gemm_one[type];
}

/* Built once from the generic table's scalar references plus the gx kernels (C cannot copy a
 * const struct's slots in an initializer). */
static struct lir_cpu_kernels table;
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_init(void) {
    table = lir_cpu_kernels_generic;
    table.isa = "ggml";
    memcpy(table.gemm, gemm_one, sizeof table.gemm);
    table.gemm_pick = gemm_pick;
    table.gemm_f16_paged = lir__gx_gemm_f16_paged_one;
    table.gemm_f16_paged_many = lir__gx_gemm_f16_paged_many;
    table.softmax_f16 = softmax_f16;
    table.silu_mul = silu_mul;
}

const struct lir_cpu_kernels *lir_cpu_kernels_ggml_get(void) {
    pthread_once(&table_once, table_init);
    return &table;
}
