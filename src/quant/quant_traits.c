/* quant_traits.c — the per-type table: names (as ggml spells them, also in GGUF tooling),
 * block geometry, which activation type each weight type is dotted with, and the scalar
 * reference kernels. Ids not in the table are types we do not support. */
#include "quant/quant.h"

#define TRAITS(T, id, nm, blck, tsize, quant, vdt, act)                                  \
    [id] = {.name = nm,                                                                 \
            .blck_size = blck,                                                          \
            .type_size = tsize,                                                         \
            .is_quantized = quant,                                                      \
            .vec_dot_type = vdt,                                                        \
            .quantize_row_ref = lir_quantize_row_##T##_ref,                             \
            .dequantize_row_ref = lir_dequantize_row_##T##_ref,                         \
            .vec_dot_ref = lir_vec_dot_##T##_ref,                                       \
            .quantize_row_act_ref = act}

/* vec_dot_type as in ggml's CPU backend: Q4_0/Q5_0/Q8_0 with Q8_0, Q4_1/Q5_1 with Q8_1, all
 * K-quants with Q8_K, float types with themselves. */
static const struct lir_type_traits traits[LIR_TYPE_COUNT] = {
    TRAITS(f32, LIR_TYPE_F32, "f32", 1, sizeof(float), false, LIR_TYPE_F32, lir_quantize_row_f32_ref),
    TRAITS(f16, LIR_TYPE_F16, "f16", 1, sizeof(lir_f16), false, LIR_TYPE_F16, lir_quantize_row_f16_ref),
    TRAITS(bf16, LIR_TYPE_BF16, "bf16", 1, sizeof(lir_bf16), false, LIR_TYPE_BF16, lir_quantize_row_bf16_ref),
    TRAITS(q4_0, LIR_TYPE_Q4_0, "q4_0", QK4_0, sizeof(block_q4_0), true, LIR_TYPE_Q8_0, lir_quantize_row_q4_0_ref),
    TRAITS(q4_1, LIR_TYPE_Q4_1, "q4_1", QK4_1, sizeof(block_q4_1), true, LIR_TYPE_Q8_1, lir_quantize_row_q4_1_ref),
    TRAITS(q5_0, LIR_TYPE_Q5_0, "q5_0", QK5_0, sizeof(block_q5_0), true, LIR_TYPE_Q8_0, lir_quantize_row_q5_0_ref),
    TRAITS(q5_1, LIR_TYPE_Q5_1, "q5_1", QK5_1, sizeof(block_q5_1), true, LIR_TYPE_Q8_1, lir_quantize_row_q5_1_ref),
    TRAITS(q8_0, LIR_TYPE_Q8_0, "q8_0", QK8_0, sizeof(block_q8_0), true, LIR_TYPE_Q8_0, lir_quantize_row_q8_0_act_ref),
    TRAITS(q8_1, LIR_TYPE_Q8_1, "q8_1", QK8_1, sizeof(block_q8_1), true, LIR_TYPE_Q8_1, lir_quantize_row_q8_1_act_ref),
    TRAITS(q2_K, LIR_TYPE_Q2_K, "q2_K", QK_K, sizeof(block_q2_K), true, LIR_TYPE_Q8_K, lir_quantize_row_q2_K_ref),
    TRAITS(q3_K, LIR_TYPE_Q3_K, "q3_K", QK_K, sizeof(block_q3_K), true, LIR_TYPE_Q8_K, lir_quantize_row_q3_K_ref),
    TRAITS(q4_K, LIR_TYPE_Q4_K, "q4_K", QK_K, sizeof(block_q4_K), true, LIR_TYPE_Q8_K, lir_quantize_row_q4_K_ref),
    TRAITS(q5_K, LIR_TYPE_Q5_K, "q5_K", QK_K, sizeof(block_q5_K), true, LIR_TYPE_Q8_K, lir_quantize_row_q5_K_ref),
    TRAITS(q6_K, LIR_TYPE_Q6_K, "q6_K", QK_K, sizeof(block_q6_K), true, LIR_TYPE_Q8_K, lir_quantize_row_q6_K_ref),
    TRAITS(q8_K, LIR_TYPE_Q8_K, "q8_K", QK_K, sizeof(block_q8_K), true, LIR_TYPE_Q8_K, lir_quantize_row_q8_K_ref),
};

const struct lir_type_traits *lir_type_traits_get(int32_t t) {
    if (t < 0 || t >= LIR_TYPE_COUNT || !traits[t].name) return NULL;
    return &traits[t];
}

const char *lir_type_name(int32_t t) {
    const struct lir_type_traits *tr = lir_type_traits_get(t);
    return tr ? tr->name : "unknown";
}

size_t lir_type_row_size(int32_t t, int64_t n) {
    const struct lir_type_traits *tr = lir_type_traits_get(t);
    if (!tr || n < 0 || n % tr->blck_size != 0) return 0;
    size_t bytes;
    if (!lir__mul_ok((size_t)(n / tr->blck_size), tr->type_size, &bytes)) return 0;
    return bytes;
}
