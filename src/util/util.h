/* util.h — small internal helpers shared by every layer: error buffers, checked
 * arithmetic, f16/bf16 conversion, monotonic time. Header-only where hot. */
#ifndef LIR_UTIL_H
#define LIR_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include "lir.h"

#define LIR_ERR_MAX 512

/* An error message destination. Functions that can fail take `lir_err *e` (may be NULL)
 * and fill it with "function: what was wrong". */
typedef struct lir_err {
    char msg[LIR_ERR_MAX];
} lir_err;

/* Formats a message into e (if non-NULL) and returns status s, so callers can write
 * `return lir__errf(e, LIR_EFORMAT, "gguf: ...", ...)`. */
enum lir_status lir__errf(lir_err *e, enum lir_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copies e's message into a caller buffer of n bytes (buf may be NULL). */
void lir__err_copy(const lir_err *e, char *buf, size_t n);

/* Checked arithmetic: return false on overflow, *out undefined then. */
static inline bool lir__mul_ok(size_t a, size_t b, size_t *out) { return !__builtin_mul_overflow(a, b, out); }
static inline bool lir__add_ok(size_t a, size_t b, size_t *out) { return !__builtin_add_overflow(a, b, out); }

/* ---- f16 / bf16 (IEEE half, bfloat16), bit-exact round-to-nearest-even ---- */
typedef uint16_t lir_f16;
typedef uint16_t lir_bf16;

static inline float lir__bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t lir__f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

static inline float lir_f16_to_f32(lir_f16 h) {
    /* exact: exponent rebias via a multiply (handles subnormals), as in FP16 reference code */
    const uint32_t w = (uint32_t)h << 16;
    const uint32_t sign = w & 0x80000000u;
    const uint32_t two_w = w + w;
    const uint32_t exp_offset = 0xE0u << 23;
    const float exp_scale = 0x1.0p-112f;
    const float normalized = lir__bits_f32((two_w >> 4) + exp_offset) * exp_scale;
    const uint32_t magic_mask = 126u << 23;
    const float magic_bias = 0.5f;
    const float denormalized = lir__bits_f32((two_w >> 17) | magic_mask) - magic_bias;
    const uint32_t denormalized_cutoff = 1u << 27;
    const uint32_t result = sign | (two_w < denormalized_cutoff ? lir__f32_bits(denormalized)
                                                                : lir__f32_bits(normalized));
    return lir__bits_f32(result);
}

static inline lir_f16 lir_f32_to_f16(float f) {
    const float scale_to_inf = 0x1.0p+112f;
    const float scale_to_zero = 0x1.0p-110f;
    float base = (__builtin_fabsf(f) * scale_to_inf) * scale_to_zero;
    const uint32_t w = lir__f32_bits(f);
    const uint32_t shl1_w = w + w;
    const uint32_t sign = w & 0x80000000u;
    uint32_t bias = shl1_w & 0xFF000000u;
    if (bias < 0x71000000u) bias = 0x71000000u;
    base = lir__bits_f32((bias >> 1) + 0x07800000u) + base;
    const uint32_t bits = lir__f32_bits(base);
    const uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
    const uint32_t mantissa_bits = bits & 0x00000FFFu;
    const uint32_t nonsign = exp_bits + mantissa_bits;
    return (lir_f16)((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

static inline float lir_bf16_to_f32(lir_bf16 h) { return lir__bits_f32((uint32_t)h << 16); }

static inline lir_bf16 lir_f32_to_bf16(float f) {
    uint32_t u = lir__f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (lir_bf16)((u >> 16) | 64); /* quiet NaN */
    return (lir_bf16)((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
}

/* Monotonic clock in nanoseconds. */
uint64_t lir__now_ns(void);

/* Allocation that is 64-byte aligned; free with lir__free_aligned. NULL on failure. */
void *lir__alloc_aligned(size_t n);
void lir__free_aligned(void *p);

#endif /* LIR_UTIL_H */
