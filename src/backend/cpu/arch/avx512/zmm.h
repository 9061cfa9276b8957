/* zmm.h — 512-bit kernels for the AVX-512 table (Zen 4 / Ice Lake class: VNNI, VBMI, GFNI).
 * Each zmm_<type>.c defines lir__zmm_gemm_<type> with the lir_gemm_fn contract of
 * kernels.h; kernels_avx512.c puts them in the table in place of the shared 256-bit ones.
 * They read the native GGUF block layouts in place (no repacking): VBMI byte permutes
 * gather the quantized bytes of several blocks into one register. */
#ifndef LIR_ZMM_H
#define LIR_ZMM_H

#include <stddef.h>
#include "backend/cpu/kernels.h"

void lir__zmm_gemm_q4_0(int n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os, int nr,
                        int nc);
void lir__zmm_gemm_q8_0(int n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os, int nr,
                        int nc);
void lir__zmm_gemm_q4_K(int n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os, int nr,
                        int nc);
void lir__zmm_gemm_q6_K(int n, const void *w, size_t ws, const void *a, size_t as, float *out, size_t os, int nr,
                        int nc);

#endif
