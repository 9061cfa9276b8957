/* kernels_avx512.c — the AVX-512 (F/BW/VL/DQ + VNNI) kernel table: the shared x86 kernels of
 * arch/avx2/kernels_x86_impl.h with VNNI dot products (vpdpbusd / vpdpwssd on ymm) and the
 * 32 vector registers of AVX-512VL, which allow 4 x 4 tiles for prompt processing. */
#define KX_VNNI 1
#define KX_TABLE lir_cpu_kernels_avx512
#define KX_ISA "avx512"
#define KX_RMD 4
#define KX_RMP 4
#define KX_RNP 4
/* 512-bit kernels (zmm_*.c) that replace the shared ones for these types: */
#include "zmm.h"
#define KX_GEMM_q4_0 lir__zmm_gemm_q4_0
#define KX_GEMM_q8_0 lir__zmm_gemm_q8_0
#define KX_GEMM_q4_K lir__zmm_gemm_q4_K
#define KX_GEMM_q6_K lir__zmm_gemm_q6_K
#include "../avx2/kernels_x86_impl.h"
