/* ggml_oracle.h — llama.cpp's own ggml as a bit-exact reference for single ops: the CPU backend
 * of the prebuilt libraries node-llama-cpp 3.21.1 ships (node_modules/@node-llama-cpp/linux-x64,
 * the same llama.cpp the parity tests drive), run through ggml's graph API. ggml loads its CPU
 * variant for this machine (libggml-cpu-zen4.so on an AVX-512 Zen 4). Weight types are ggml_type
 * numbers (the same values as enum lir_type). */
#ifndef LIR_TEST_GGML_ORACLE_H
#define LIR_TEST_GGML_ORACLE_H

#include <stdbool.h>
#include <stdint.h>

/* Loads ggml's backends from dir (once) and creates a 1-thread CPU backend; 0 on success. */
int ggo_init(const char *dir);
/* out[j * m + i] = ggml_mul_mat(W, X): W is m rows of k elements of wtype (raw ggml blocks), X is
 * n rows of k floats. repack: W in the CPU_REPACK buffer, where llama.cpp puts Q4_0/Q4_K/Q2_K
 * weights with m % 8 == 0 (their repacked gemv/gemm then run). 0 on success. */
int ggo_mul_mat(int wtype, const void *w, int64_t k, int64_t m, const float *x, int64_t n, float *out, bool repack);
/* out = ggml_soft_max_ext(x, mask, scale, 0) over nrows rows of ne0 floats (mask as x, or NULL). */
int ggo_soft_max(const float *x, const float *mask, float scale, int64_t ne0, int64_t nrows, float *out);
/* out = ggml_swiglu_split(g, u) = silu(g) * u, n floats. */
int ggo_swiglu(const float *g, const float *u, int64_t n, float *out);

#endif
