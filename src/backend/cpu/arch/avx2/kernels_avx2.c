/* kernels_avx2.c — the AVX2 + FMA + F16C kernel table (16 ymm registers: smaller tiles).
 * The kernels themselves are in kernels_x86_impl.h, shared with the AVX-512 table. */
#define KX_VNNI 0
#define KX_TABLE lir_cpu_kernels_avx2
#define KX_ISA "avx2"
#define KX_RMD 4
#define KX_RMP 2
#define KX_RNP 2
#include "kernels_x86_impl.h"
