/* quant.h — tensor storage types: ids (equal to ggml's, as stored in GGUF), on-disk block
 * layouts (bit-exact with ggml, pinned by static asserts), per-type traits, and the scalar
 * reference kernels that are the truth in tests: quantize, dequantize, dot product.
 *
 * Dot products take a weight row of type T and an activation row already converted to
 * T's vec_dot_type (Q8_0, Q8_1, Q8_K, F16, BF16 or F32), as ggml's CPU backend does. */
#ifndef LIR_QUANT_H
#define LIR_QUANT_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "util/util.h"

enum lir_type {
    LIR_TYPE_F32  = 0,
    LIR_TYPE_F16  = 1,
    LIR_TYPE_Q4_0 = 2,
    LIR_TYPE_Q4_1 = 3,
    LIR_TYPE_Q5_0 = 6,
    LIR_TYPE_Q5_1 = 7,
    LIR_TYPE_Q8_0 = 8,
    LIR_TYPE_Q8_1 = 9,
    LIR_TYPE_Q2_K = 10,
    LIR_TYPE_Q3_K = 11,
    LIR_TYPE_Q4_K = 12,
    LIR_TYPE_Q5_K = 13,
    LIR_TYPE_Q6_K = 14,
    LIR_TYPE_Q8_K = 15,
    LIR_TYPE_BF16 = 30,
    LIR_TYPE_COUNT = 40 /* table size; ids in between are types we do not support */
};

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32
#define QK_K 256
#define K_SCALE_SIZE 12

typedef struct { lir_f16 d; uint8_t qs[QK4_0 / 2]; } block_q4_0;
typedef struct { lir_f16 d; lir_f16 m; uint8_t qs[QK4_1 / 2]; } block_q4_1;
typedef struct { lir_f16 d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; } block_q5_0;
typedef struct { lir_f16 d; lir_f16 m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; } block_q5_1;
typedef struct { lir_f16 d; int8_t qs[QK8_0]; } block_q8_0;
typedef struct { lir_f16 d; lir_f16 s; int8_t qs[QK8_1]; } block_q8_1; /* s = d * sum(qs) */
typedef struct { uint8_t scales[QK_K / 16]; uint8_t qs[QK_K / 4]; lir_f16 d; lir_f16 dmin; } block_q2_K;
typedef struct { uint8_t hmask[QK_K / 8]; uint8_t qs[QK_K / 4]; uint8_t scales[12]; lir_f16 d; } block_q3_K;
typedef struct { lir_f16 d; lir_f16 dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qs[QK_K / 2]; } block_q4_K;
typedef struct { lir_f16 d; lir_f16 dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; } block_q5_K;
typedef struct { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; lir_f16 d; } block_q6_K;
typedef struct { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; } block_q8_K;

_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0 layout");
_Static_assert(sizeof(block_q4_1) == 20, "block_q4_1 layout");
_Static_assert(sizeof(block_q5_0) == 22, "block_q5_0 layout");
_Static_assert(sizeof(block_q5_1) == 24, "block_q5_1 layout");
_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0 layout");
_Static_assert(sizeof(block_q8_1) == 36, "block_q8_1 layout");
_Static_assert(sizeof(block_q2_K) == 84, "block_q2_K layout");
_Static_assert(sizeof(block_q3_K) == 110, "block_q3_K layout");
_Static_assert(sizeof(block_q4_K) == 144, "block_q4_K layout");
_Static_assert(sizeof(block_q5_K) == 176, "block_q5_K layout");
_Static_assert(sizeof(block_q6_K) == 210, "block_q6_K layout");
_Static_assert(sizeof(block_q8_K) == 292, "block_q8_K layout");

typedef void (*lir_quantize_row_fn)(const float *x, void *y, int64_t n);
typedef void (*lir_dequantize_row_fn)(const void *x, float *y, int64_t n);
/* *s = dot(x[0..n), y[0..n)); x of the weight type, y of its vec_dot_type. */
typedef void (*lir_vec_dot_fn)(int n, float *s, const void *x, const void *y);

struct lir_type_traits {
    const char *name;          /* "q4_K" etc.; NULL for unsupported ids */
    int32_t blck_size;         /* elements per block */
    size_t type_size;          /* bytes per block */
    bool is_quantized;
    enum lir_type vec_dot_type;
    lir_quantize_row_fn quantize_row_ref;
    lir_dequantize_row_fn dequantize_row_ref;
    lir_vec_dot_fn vec_dot_ref;
    /* Converts f32 activations to this type the way ggml's x86 CPU backend does (its
     * type_traits_cpu from_float), for a type used as a vec_dot_type. Equals
     * quantize_row_ref except for Q8_0/Q8_1, whose CPU quantizers round differently. */
    lir_quantize_row_fn quantize_row_act_ref;
};

/* Traits of type t, or NULL when t is not a supported id. */
const struct lir_type_traits *lir_type_traits_get(int32_t t);
/* Name of type t ("q8_0") or "unknown". */
const char *lir_type_name(int32_t t);
/* Bytes for n elements of type t; 0 when n is not a multiple of the block size,
 * t unsupported, or the size overflows. */
size_t lir_type_row_size(int32_t t, int64_t n);

/* ---- scalar reference kernels (quant_ref.c) ---- */
#define LIR_QUANT_DECL(T)                                                       \
    void lir_quantize_row_##T##_ref(const float *x, void *y, int64_t n);        \
    void lir_dequantize_row_##T##_ref(const void *x, float *y, int64_t n);      \
    void lir_vec_dot_##T##_ref(int n, float *s, const void *x, const void *y);
LIR_QUANT_DECL(f32)
LIR_QUANT_DECL(f16)
LIR_QUANT_DECL(bf16)
LIR_QUANT_DECL(q4_0)
LIR_QUANT_DECL(q4_1)
LIR_QUANT_DECL(q5_0)
LIR_QUANT_DECL(q5_1)
LIR_QUANT_DECL(q8_0)
LIR_QUANT_DECL(q8_1)
LIR_QUANT_DECL(q2_K)
LIR_QUANT_DECL(q3_K)
LIR_QUANT_DECL(q4_K)
LIR_QUANT_DECL(q5_K)
LIR_QUANT_DECL(q6_K)
LIR_QUANT_DECL(q8_K)
#undef LIR_QUANT_DECL

/* Activation quantizers as ggml's x86 AVX/AVX2 quantize_row_q8_0/q8_1 (the CPU backend's
 * from_float): multiplier 127/amax and round-half-even, where the _ref ones use 1/(amax/127)
 * and roundf. llama.cpp's forward pass quantizes activations with these. */
void lir_quantize_row_q8_0_act_ref(const float *x, void *y, int64_t n);
void lir_quantize_row_q8_1_act_ref(const float *x, void *y, int64_t n);

#endif /* LIR_QUANT_H */
