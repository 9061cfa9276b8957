/* lir_kv_truncate.c — benchmark of the context shift (lir_context_seq_truncate): a sequence
 * filling a long context (default 32768 tokens) is cut to a shorter one (default 8192: the first
 * --n-keep tokens and the most recent rest), its kept keys re-rotated to their new positions.
 *
 *   lir-kv-truncate -m MODEL [--ctx 32768] [--keep 8192] [--n-keep 256] [--kv f16|q8_0]
 *                   [-t THREADS] [--reps 5] [--json]
 *
 * The KV cache is filled with random values (written through the snapshot accessor
 * lir__kv_seq_write) instead of evaluating 32K tokens: the shift's cost does not depend on the
 * values, and evaluating 32K tokens of a 1B model would take many minutes on this CPU. Each
 * repetition refills the dropped part, times the truncate alone, and checks the result (length,
 * one decode step afterwards). Prints the median and every run (ms), and the time to read the
 * whole sequence out through lir__kv_seq_read (a snapshot save's copy). Not a test: timing only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lir.h"
#include "model/forward.h"
#include "util/util.h"

static void die(const char *msg) {
    fprintf(stderr, "lir-kv-truncate: %s\n", msg);
    exit(1);
}

static uint64_t rs = 88172645463325252ull;
static uint32_t rnd(void) {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (uint32_t)(rs >> 32);
}

/* Random rows for n tokens in the cache's type: f16 values in [-2, 2); for Q8_0 blocks of an
 * f16 scale (~0.01) and random int8s. */
static void fill_random(void *buf, size_t bytes, int32_t kv_type) {
    uint8_t *b = buf;
    if (kv_type == LIR_KV_TYPE_F16) {
        lir_f16 *h = buf;
        for (size_t i = 0; i < bytes / 2; i++) h[i] = lir_f32_to_f16(((float)(rnd() >> 8) / (1 << 24)) * 4.0f - 2.0f);
        return;
    }
    for (size_t i = 0; i + 34 <= bytes; i += 34) {
        const lir_f16 d = lir_f32_to_f16(0.01f);
        memcpy(b + i, &d, 2);
        for (int j = 0; j < 32; j++) b[i + 2 + j] = (uint8_t)rnd();
    }
}

static int cmp_d(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    const char *model = NULL;
    int32_t n_ctx = 32768, keep = 8192, n_keep = 256, threads = 0, reps = 5;
    int32_t kv_type = LIR_KV_TYPE_F16;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json")) { json = true; continue; }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: lir-kv-truncate -m MODEL [--ctx 32768] [--keep 8192] [--n-keep 256] [--kv f16|q8_0] "
                   "[-t THREADS] [--reps 5] [--json]\n");
            return 0;
        }
        if (!v) die("an option is missing its value (see --help)");
        if (!strcmp(a, "-m")) model = v;
        else if (!strcmp(a, "--ctx")) n_ctx = atoi(v);
        else if (!strcmp(a, "--keep")) keep = atoi(v);
        else if (!strcmp(a, "--n-keep")) n_keep = atoi(v);
        else if (!strcmp(a, "-t")) threads = atoi(v);
        else if (!strcmp(a, "--reps")) reps = atoi(v);
        else if (!strcmp(a, "--kv")) {
            if (!strcmp(v, "f16")) kv_type = LIR_KV_TYPE_F16;
            else if (!strcmp(v, "q8_0")) kv_type = LIR_KV_TYPE_Q8_0;
            else die("--kv must be f16 or q8_0");
        } else {
            die("unknown option (see --help)");
        }
        i++;
    }
    if (!model) die("-m MODEL is required");
    if (n_ctx < 2 || keep < 1 || keep >= n_ctx || n_keep < 0 || n_keep > keep || reps < 1 || reps > 100)
        die("need 1 <= keep < ctx, 0 <= n-keep <= keep, 1 <= reps <= 100");
    char err[512];
    lir_model *m = NULL;
    if (lir_model_load(model, NULL, &m, err, sizeof err)) die(err);
    struct lir_model_info mi;
    lir_model_get_info(m, &mi);
    struct lir_context_params cp = lir_context_params_default();
    cp.n_ctx = n_ctx;
    cp.n_batch = 16;
    cp.n_threads = threads;
    cp.kv_type = (enum lir_kv_type)kv_type;
    lir_context *c = NULL;
    if (lir_context_create(m, &cp, &c, err, sizeof err)) die(err);
    const size_t tb = lir__kv_token_bytes(c);
    enum { CHUNK = 512 };
    void *buf = malloc(tb * CHUNK);
    lir_token *toks = malloc(sizeof(lir_token) * CHUNK);
    double *ms = malloc(sizeof(double) * (size_t)reps);
    if (!buf || !toks || !ms) die("out of memory");
    for (int i = 0; i < CHUNK; i++) toks[i] = (lir_token)(i % mi.n_vocab);
    const int32_t n_discard = n_ctx - keep;
    double read_ms = 0;
    for (int r = 0; r < reps; r++) {
        /* fill (or refill) the sequence to n_ctx tokens of random KV */
        for (int32_t p = lir_context_seq_length(c, 0); p < n_ctx; p += CHUNK) {
            const int32_t n = n_ctx - p < CHUNK ? n_ctx - p : CHUNK;
            fill_random(buf, tb * (size_t)n, kv_type);
            if (lir__kv_seq_write(c, 0, p, n, toks, buf)) die(lir_context_last_error(c));
        }
        if (r == 0) { /* by the way: reading the whole sequence out (what a snapshot save does) */
            const uint64_t t = lir__now_ns();
            for (int32_t p = 0; p < n_ctx; p += CHUNK)
                if (lir__kv_seq_read(c, 0, p, n_ctx - p < CHUNK ? n_ctx - p : CHUNK, buf)) die(lir_context_last_error(c));
            read_ms = (double)(lir__now_ns() - t) / 1e6;
        }
        const uint64_t t0 = lir__now_ns();
        if (lir_context_seq_truncate(c, 0, n_keep, n_discard)) die(lir_context_last_error(c));
        ms[r] = (double)(lir__now_ns() - t0) / 1e6;
        if (lir_context_seq_length(c, 0) != keep) die("wrong length after the truncate");
        if (!json) fprintf(stderr, "rep %d: %.1f ms\n", r + 1, ms[r]);
    }
    /* the shifted cache is usable: one decode step at the new end */
    const lir_token one = 1;
    if (lir_context_decode(c, &one, 1, keep, false)) die(lir_context_last_error(c));
    struct lir_context_status st;
    lir_context_get_status(c, &st);
    double *sorted = malloc(sizeof(double) * (size_t)reps);
    memcpy(sorted, ms, sizeof(double) * (size_t)reps);
    qsort(sorted, (size_t)reps, sizeof(double), cmp_d);
    const double med = reps % 2 ? sorted[reps / 2] : (sorted[reps / 2 - 1] + sorted[reps / 2]) / 2;
    if (json) {
        printf("{\"n_ctx\":%d,\"keep\":%d,\"n_keep\":%d,\"kv_type\":\"%s\",\"threads\":%d,\"n_layer\":%d,\"kv_dim\":%d,"
               "\"kv_bytes\":%llu,\"read_ms\":%.3f,\"median_ms\":%.3f,\"ms\":[",
               n_ctx, keep, n_keep, kv_type == LIR_KV_TYPE_F16 ? "f16" : "q8_0", lir__context_n_threads(c),
               mi.n_layer, mi.n_head_kv * mi.head_dim, (unsigned long long)st.kv_bytes, read_ms, med);
        for (int r = 0; r < reps; r++) printf("%s%.3f", r ? "," : "", ms[r]);
        printf("]}\n");
    } else {
        printf("truncate %d -> %d tokens (n_keep %d, %s KV, %d layers x %d dims, %d threads): median %.1f ms\n", n_ctx,
               keep, n_keep, kv_type == LIR_KV_TYPE_F16 ? "f16" : "q8_0", mi.n_layer, mi.n_head_kv * mi.head_dim,
               lir__context_n_threads(c), med);
        printf("reading the %d-token sequence out (lir__kv_seq_read, %d-token chunks): %.1f ms, %.2f GB/s\n", n_ctx,
               CHUNK, read_ms, (double)tb * n_ctx / (read_ms * 1e6));
    }
    free(sorted);
    free(ms);
    free(buf);
    free(toks);
    lir_context_free(c);
    lir_model_free(m);
    return 0;
}
