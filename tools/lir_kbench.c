/* lir_kbench.c — micro-benchmark of the CPU matmul kernels, one thread.
 *
 *   lir-kbench [--isa generic|avx2|avx512] [--type q4_0,...] [--n 2048] [--rows 8192] [--quick] [--hot]
 *
 * decode: gemm with nc = 1 over a (rows x n) weight matrix, cycling through enough copies
 *         that the weights come from memory, not cache (the way a decode step reads them);
 *         reports GB/s of weight bytes read (compare with the machine's memory bandwidth).
 *         --hot reuses one matrix (use a small --rows): the kernel's in-cache ceiling.
 * prompt: gemm with nc = 64, 256, 512 columns, called in 64 x 64 (rows x cols) chunks as the
 *         engine does; reports GOP/s (2 * rows * n * nc / time).
 * Weights are random, quantized with the reference quantizer; numbers are the best of a few
 * repetitions. Not a test: timing only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend/cpu/kernels.h"
#include "quant/quant.h"

static uint64_t rs = 88172645463325252ull;
static float frand(void) {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (float)(rs >> 40) / (float)(1 << 24) * 2.0f - 1.0f;
}

static double now_s(void) { return (double)lir__now_ns() * 1e-9; }

/* user-mode core cycles of this thread (-1 if perf events are unavailable): a measure of a
 * kernel that other load on a shared machine does not disturb, unlike wall time */
static int cyc_fd = -2;
static long long cycles_now(void) {
    if (cyc_fd == -2) {
        struct perf_event_attr pa;
        memset(&pa, 0, sizeof pa);
        pa.type = PERF_TYPE_HARDWARE;
        pa.size = sizeof pa;
        pa.config = PERF_COUNT_HW_CPU_CYCLES;
        pa.exclude_kernel = 1;
        pa.exclude_hv = 1;
        cyc_fd = (int)syscall(SYS_perf_event_open, &pa, 0, -1, -1, 0);
    }
    long long v = -1;
    if (cyc_fd < 0 || read(cyc_fd, &v, sizeof v) != (ssize_t)sizeof v) return -1;
    return v;
}

static void *xmalloc(size_t n) {
    void *p = lir__alloc_aligned(n);
    if (!p) {
        fprintf(stderr, "lir-kbench: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

static void bench_type(const struct lir_cpu_kernels *k, enum lir_type t, int n, int rows, int quick, int hot) {
    const struct lir_type_traits *tw = lir_type_traits_get(t);
    const enum lir_type at = tw->vec_dot_type;
    const size_t ws = lir_type_row_size(t, n), as = lir_type_row_size(at, n);
    const size_t mat = ws * (size_t)rows;
    /* copies so that one pass over all of them is >= 256 MB: out of any cache */
    int ncopy = (int)((256u << 20) / mat) + 1;
    if (quick) ncopy = (int)((64u << 20) / mat) + 1;
    if (hot) ncopy = 1; /* --hot: the same matrix again and again (cache-resident: compute ceiling) */
    char *w = xmalloc(mat * (size_t)ncopy);
    float *x = malloc(sizeof(float) * (size_t)n);
    for (int r = 0; r < rows; r++) {
        for (int i = 0; i < n; i++) x[i] = frand() * 0.1f;
        tw->quantize_row_ref(x, w + (size_t)r * ws, n);
    }
    for (int c = 1; c < ncopy; c++) memcpy(w + mat * (size_t)c, w, mat);
    const int ncmax = 512;
    char *a = xmalloc(as * (size_t)ncmax);
    for (int c = 0; c < ncmax; c++) {
        for (int i = 0; i < n; i++) x[i] = frand();
        k->from_float[at] ? k->from_float[at](x, a + (size_t)c * as, n) : (void)0;
    }
    float *out = xmalloc(sizeof(float) * (size_t)rows * ncmax);

    /* decode: whole rows range in one call (one thread owns them), each copy in turn */
    double best = 1e30;
    long long bestc = -1;
    const int reps = hot ? 200 : quick ? 2 : 4;
    for (int rep = 0; rep < reps; rep++) {
        const long long c0 = cycles_now();
        const double t0 = now_s();
        for (int c = 0; c < ncopy; c++) k->gemm[t](n, w + mat * (size_t)c, ws, a, as, out, (size_t)rows, rows, 1);
        const double dt = (now_s() - t0) / ncopy;
        const long long dc = c0 < 0 ? -1 : (cycles_now() - c0) / ncopy;
        if (dt < best) best = dt;
        if (dc >= 0 && (bestc < 0 || dc < bestc)) bestc = dc;
    }
    printf("%-7s %-5s %s n=%d rows=%d: %7.3f ms  %6.2f GB/s", k->isa, tw->name, hot ? "decode-hot" : "decode    ", n,
           rows, best * 1e3, (double)mat / best * 1e-9);
    if (bestc > 0) printf("  %5.2f B/cycle", (double)mat / (double)bestc); /* when perf events are available */
    printf("\n");

    /* prompt: 64-row x 64-column calls, rows outer (the engine's blocking) */
    const int ncs[] = {64, 256, 512};
    for (int ic = 0; ic < 3; ic++) {
        const int nc = ncs[ic];
        if (quick && nc > 64) break;
        const int prow = quick ? (rows < 1024 ? rows : 1024) : (rows < 2048 ? rows : 2048);
        double pb = 1e30;
        for (int rep = 0; rep < 2; rep++) {
            const double t0 = now_s();
            for (int r0 = 0; r0 < prow; r0 += 64)
                for (int c0 = 0; c0 < nc; c0 += 64)
                    k->gemm[t](n, w + (size_t)r0 * ws, ws, a + (size_t)c0 * as, as, out + (size_t)c0 * prow + r0,
                               (size_t)prow, prow - r0 < 64 ? prow - r0 : 64, nc - c0 < 64 ? nc - c0 : 64);
            const double dt = now_s() - t0;
            if (dt < pb) pb = dt;
        }
        printf("%-7s %-5s prompt  n=%d rows=%d nc=%d: %8.2f GOP/s\n", k->isa, tw->name, n, prow, nc,
               2.0 * prow * n * nc / pb * 1e-9);
    }
    fflush(stdout);
    lir__free_aligned(w);
    lir__free_aligned(a);
    lir__free_aligned(out);
    free(x);
}

int main(int argc, char **argv) {
    const char *isa = NULL, *types = "q4_0,q8_0,q4_K,q6_K,f16";
    int n = 2048, rows = 8192, quick = 0, hot = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--isa") && i + 1 < argc) isa = argv[++i];
        else if (!strcmp(argv[i], "--type") && i + 1 < argc) types = argv[++i];
        else if (!strcmp(argv[i], "--n") && i + 1 < argc) n = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rows") && i + 1 < argc) rows = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--hot")) hot = 1;
        else {
            fprintf(stderr, "usage: lir-kbench [--isa generic|avx2|avx512] [--type q4_0,q8_0,...] [--n N] [--rows R] [--quick] [--hot]\n");
            return 2;
        }
    }
    if (n <= 0 || n % 256 || rows <= 0) {
        fprintf(stderr, "lir-kbench: --n must be a positive multiple of 256, --rows positive\n");
        return 2;
    }
    const char *isas[] = {"avx512", "avx2", "generic"};
    for (int ii = 0; ii < 3; ii++) {
        if (isa && strcmp(isa, isas[ii])) continue;
        const struct lir_cpu_kernels *k = lir_cpu_kernels_for(isas[ii]);
        if (!k) {
            printf("%s: not supported on this CPU\n", isas[ii]);
            continue;
        }
        char buf[256];
        snprintf(buf, sizeof buf, "%s", types);
        for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
            int found = -1;
            for (int t = 0; t < LIR_TYPE_COUNT; t++) {
                const struct lir_type_traits *tr = lir_type_traits_get(t);
                if (tr && tr->name && !strcmp(tr->name, tok)) found = t;
            }
            if (found < 0 || !k->gemm[found]) {
                fprintf(stderr, "lir-kbench: unknown type %s\n", tok);
                return 2;
            }
            bench_type(k, (enum lir_type)found, n, rows, quick, hot);
        }
    }
    return 0;
}
