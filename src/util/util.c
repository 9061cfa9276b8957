/* util.c — status names, error buffers, clock and aligned allocation. */
#include "util/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

const char *lir_status_str(enum lir_status s) {
    switch (s) {
#define X(name, code, msg) case LIR_##name: return msg;
        LIR_STATUS_MAP(X)
#undef X
    }
    return "unknown status";
}

const char *lir_status_name(enum lir_status s) {
    switch (s) {
#define X(name, code, msg) case LIR_##name: return "LIR_" #name;
        LIR_STATUS_MAP(X)
#undef X
    }
    return "LIR_UNKNOWN";
}

enum lir_status lir__errf(lir_err *e, enum lir_status s, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return s;
}

void lir__err_copy(const lir_err *e, char *buf, size_t n) {
    if (!buf || n == 0) return;
    snprintf(buf, n, "%s", e ? e->msg : "");
}

uint64_t lir__now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Buffers of 4 MiB and more (the KV cache, batch activations) are 2 MiB aligned and asked for
 * transparent huge pages: the first touch of each 2 MiB is one fault instead of 512 (on a VM a
 * fault costs more than copying its 4 KiB; a snapshot restore into a fresh cache was mostly
 * faults), and attention over a long context walks fewer TLB entries. Only advice: where THP is
 * off, or none is free, the kernel gives 4 KiB pages as before. */
#define LIR_HUGE_PAGE ((size_t)2 << 20)

void *lir__alloc_aligned(size_t n) {
    void *p = NULL;
    if (n == 0) n = 64;
    n = (n + 63) & ~(size_t)63;
    const bool big = n >= 2 * LIR_HUGE_PAGE;
    if (posix_memalign(&p, big ? LIR_HUGE_PAGE : 64, n) != 0) return NULL;
#ifdef MADV_HUGEPAGE
    if (big) madvise(p, n & ~(LIR_HUGE_PAGE - 1), MADV_HUGEPAGE);
#endif
    return p;
}

void lir__free_aligned(void *p) { free(p); }
