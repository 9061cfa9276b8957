/* cpu_features.c — run-time CPU detection (cpuid + xgetbv) and the choice of kernel table.
 *
 * A feature counts only if the CPU has it AND the OS saves its register state on context
 * switches (XCR0 bits: SSE/YMM for AVX2, plus opmask/ZMM for AVX-512); otherwise using it
 * would fault or corrupt state. LIR_CPU_ISA=generic|avx2|avx512 picks a lower table (or the
 * same), LIR_CPU_ISA=ggml the bit-exact llama.cpp table (kernels.h); a value this CPU cannot
 * run, or an unknown one, is ignored. */
#include <stdlib.h>
#include <string.h>
#include "backend/cpu/kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0)); /* xgetbv */
    return ((uint64_t)hi << 32) | lo;
}

void lir_cpu_features_get(struct lir_cpu_features *out) {
    memset(out, 0, sizeof *out);
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    const bool osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
    if (!osxsave || !avx) return;
    const uint64_t xcr0 = xgetbv0();
    const bool ymm_os = (xcr0 & 0x6) == 0x6;          /* SSE + AVX state */
    const bool zmm_os = ymm_os && (xcr0 & 0xe0) == 0xe0; /* opmask + ZMM_Hi256 + Hi16_ZMM */
    if (!ymm_os) return;
    unsigned max_leaf = __get_cpuid_max(0, NULL);
    if (max_leaf < 7) return;
    __cpuid_count(7, 0, a, b, c, d);
    out->fma = fma;
    out->f16c = f16c;
    out->avx2 = (b >> 5) & 1;
    if (zmm_os) {
        out->avx512f = (b >> 16) & 1;
        out->avx512dq = (b >> 17) & 1;
        out->avx512bw = (b >> 30) & 1;
        out->avx512vl = (b >> 31) & 1;
        out->avx512vnni = (c >> 11) & 1;
        out->avx512vbmi = (c >> 1) & 1;
        out->gfni = (c >> 8) & 1;
        unsigned a1, b1, c1, d1;
        __cpuid_count(7, 1, a1, b1, c1, d1);
        out->avx512bf16 = (a1 >> 5) & 1;
    }
}
#else
void lir_cpu_features_get(struct lir_cpu_features *out) { memset(out, 0, sizeof *out); }
#endif

static bool can_avx2(const struct lir_cpu_features *f) { return f->avx2 && f->fma && f->f16c; }
static bool can_avx512(const struct lir_cpu_features *f) {
    /* the avx512 table does not use AVX-512 BF16 instructions (BF16 rows are widened to
     * f32 exactly), so that bit is reported but not required; its 512-bit kernels
     * (arch/avx512/zmm_*.c) gather block bytes with VBMI permutes and split nibbles with GFNI
     * (Ice Lake, Zen 4 and later) */
    return can_avx2(f) && f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq && f->avx512vnni &&
           f->avx512vbmi && f->gfni;
}

const struct lir_cpu_kernels *lir_cpu_kernels_for(const char *isa) {
    if (!isa) return NULL;
    struct lir_cpu_features f;
    lir_cpu_features_get(&f);
    if (strcmp(isa, "generic") == 0) return &lir_cpu_kernels_generic;
    if (strcmp(isa, "avx2") == 0) return can_avx2(&f) ? &lir_cpu_kernels_avx2 : NULL;
    if (strcmp(isa, "avx512") == 0) return can_avx512(&f) ? &lir_cpu_kernels_avx512 : NULL;
    if (strcmp(isa, "ggml") == 0) return lir_cpu_kernels_ggml_get();
    return NULL;
}

const struct lir_cpu_kernels *lir_cpu_kernels_best(void) {
    const char *env = getenv("LIR_CPU_ISA");
    if (env && *env) {
        const struct lir_cpu_kernels *k = lir_cpu_kernels_for(env);
        if (k) return k;
    }
    const struct lir_cpu_kernels *k = lir_cpu_kernels_for("avx512");
    if (!k) k = lir_cpu_kernels_for("avx2");
    return k ? k : &lir_cpu_kernels_generic;
}
