/* lir_snapbench.c — benchmark of context snapshots (issue 7: save <= 100 ms/GB to the page
 * cache, restore the same): fills one sequence of a context with n tokens of random KV data
 * (through the snapshot accessor lir__kv_seq_write, not by evaluating n tokens: the contents do
 * not matter to the I/O path), then times lir_snapshot_save (no fsync: to the page cache; with
 * --fsync also to the disk) and lir_snapshot_restore into a second context (into an empty
 * sequence — read once, hashed as read — and over the full one — no free blocks: the checksum
 * is read first), median of --reps
 * runs, and checks that the restored KV cache equals the saved one byte for byte. For scale it
 * also times the parts: plain BLAKE2b over the same bytes, the file's checksum tree on --threads
 * threads, a plain copy of them, and the machine's floors: write() of as many bytes from memory
 * into a new file in --dir, and pread() of the snapshot file into memory.
 *
 *   lir-snapbench -m MODEL [--tokens N] [--kv f16|q8_0] [--reps R] [--dir DIR] [--fsync] [--threads T]
 *
 * Prints one JSON line: sizes, save/restore milliseconds and ms/GB (GB = 1e9 bytes). */
#include "model/forward.h"
#include "util/util.h"
#include "context/snapshot.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>

static void die(const char *fmt, const char *a) {
    fprintf(stderr, "lir-snapbench: ");
    fprintf(stderr, fmt, a);
    fputc('\n', stderr);
    exit(1);
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static lir_context *make_ctx(lir_model *m, int32_t n, enum lir_kv_type kvt, int32_t threads) {
    struct lir_context_params cp = lir_context_params_default();
    cp.n_ctx = n;
    cp.kv_type = kvt;
    cp.n_threads = threads;
    lir_context *c = NULL;
    char err[512];
    if (lir_context_create(m, &cp, &c, err, sizeof err)) die("%s", err);
    return c;
}

int main(int argc, char **argv) {
    const char *model = NULL, *dir = "/tmp";
    int32_t n = 16384, reps = 5, threads = 1;
    enum lir_kv_type kvt = LIR_KV_TYPE_F16;
    bool do_fsync = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-m") && v) model = v, i++;
        else if (!strcmp(a, "--tokens") && v) n = atoi(v), i++;
        else if (!strcmp(a, "--reps") && v) reps = atoi(v), i++;
        else if (!strcmp(a, "--threads") && v) threads = atoi(v), i++;
        else if (!strcmp(a, "--dir") && v) dir = v, i++;
        else if (!strcmp(a, "--kv") && v) kvt = !strcmp(v, "q8_0") ? LIR_KV_TYPE_Q8_0 : LIR_KV_TYPE_F16, i++;
        else if (!strcmp(a, "--fsync")) do_fsync = true;
        else {
            fprintf(stderr, "usage: lir-snapbench -m MODEL [--tokens N] [--kv f16|q8_0] [--reps R] [--dir DIR] "
                            "[--fsync] [--threads T]\n");
            return 2;
        }
    }
    if (!model || n < 1 || reps < 1 || reps > 100) die("%s", "need -m MODEL, --tokens >= 1, --reps 1..100");
    if (sodium_init() < 0) die("%s", "libsodium failed");
    lir_model *m = NULL;
    char err[512];
    if (lir_model_load(model, NULL, &m, err, sizeof err)) die("%s", err);
    struct lir_model_info mi;
    lir_model_get_info(m, &mi);
    lir_context *a = make_ctx(m, n, kvt, threads), *b = make_ctx(m, n, kvt, threads);
    const size_t tb = lir__kv_token_bytes(a), kv_bytes = tb * (size_t)n;

    /* random tokens and KV, written in chunks */
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    const int32_t chunk = 256;
    uint8_t *buf = malloc(tb * (size_t)chunk);
    lir_token *toks = malloc(sizeof *toks * (size_t)chunk);
    float *row = malloc(sizeof *row * (size_t)mi.n_vocab);
    if (!buf || !toks || !row) die("%s", "out of memory");
    for (int32_t p0 = 0; p0 < n; p0 += chunk) {
        const int32_t k = n - p0 < chunk ? n - p0 : chunk;
        for (size_t i = 0; i < tb * (size_t)k; i += 8) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            memcpy(buf + i, &rng, tb * (size_t)k - i < 8 ? tb * (size_t)k - i : 8);
        }
        for (int32_t i = 0; i < k; i++) toks[i] = (lir_token)((p0 + i) % mi.n_vocab);
        if (lir__kv_seq_write(a, 0, p0, k, toks, buf)) die("fill: %s", lir_context_last_error(a));
    }
    for (int32_t i = 0; i < mi.n_vocab; i++) row[i] = (float)(i % 17) * 0.25f;
    lir__context_set_logits(a, row);

    char path[4096];
    snprintf(path, sizeof path, "%s/lir-snapbench-%d.lirsnap", dir, (int)getpid());
    double *ts = malloc(sizeof *ts * (size_t)reps), *tr = malloc(sizeof *tr * (size_t)reps),
           *tf = malloc(sizeof *tf * (size_t)reps), *tro = malloc(sizeof *tro * (size_t)reps);
    struct lir_snapshot_info info;
    struct lir_snapshot_params sp = lir_snapshot_params_default();
    sp.name = "bench";
    for (int r = 0; r < reps; r++) {
        uint64_t t0 = lir__now_ns();
        if (lir_snapshot_save(a, 0, path, &sp, &info)) die("save: %s", lir_context_last_error(a));
        ts[r] = (double)(lir__now_ns() - t0) / 1e6;
        lir_context_seq_clear(b, 0); /* into an empty sequence, as after a restart: read once */
        t0 = lir__now_ns();
        if (lir_snapshot_restore(b, 0, path, NULL, NULL)) die("restore: %s", lir_context_last_error(b));
        tr[r] = (double)(lir__now_ns() - t0) / 1e6;
        t0 = lir__now_ns(); /* over the full sequence: no free blocks, so the checksum is read first */
        if (lir_snapshot_restore(b, 0, path, NULL, NULL)) die("restore: %s", lir_context_last_error(b));
        tro[r] = (double)(lir__now_ns() - t0) / 1e6;
        tf[r] = 0;
        if (do_fsync) {
            sp.fsync = true;
            t0 = lir__now_ns();
            if (lir_snapshot_save(a, 0, path, &sp, &info)) die("save: %s", lir_context_last_error(a));
            tf[r] = (double)(lir__now_ns() - t0) / 1e6;
            sp.fsync = false;
        }
    }
    /* the restored cache equals the saved one */
    uint8_t *x = malloc(tb * (size_t)chunk), *y = malloc(tb * (size_t)chunk);
    if (!x || !y || lir_context_seq_length(b, 0) != n) die("%s", "restored length differs");
    for (int32_t p0 = 0; p0 < n; p0 += chunk) {
        const int32_t k = n - p0 < chunk ? n - p0 : chunk;
        if (lir__kv_seq_read(a, 0, p0, k, x) || lir__kv_seq_read(b, 0, p0, k, y) || memcmp(x, y, tb * (size_t)k))
            die("%s", "restored KV differs from the saved KV");
    }
    if (memcmp(lir_context_logits(b, -1), row, sizeof *row * (size_t)mi.n_vocab)) die("%s", "restored logits differ");

    /* the parts: BLAKE2b and a copy of the same number of bytes (from a warm buffer) */
    uint8_t *big = malloc(kv_bytes), *big2 = malloc(kv_bytes);
    double th[3], tc[3], tt[3];
    if (big && big2) {
        memset(big, 1, kv_bytes);
        memset(big2, 2, kv_bytes);
        for (int r = 0; r < 3; r++) {
            uint8_t sum[32];
            uint64_t t0 = lir__now_ns();
            crypto_generichash(sum, sizeof sum, big, kv_bytes, NULL, 0);
            th[r] = (double)(lir__now_ns() - t0) / 1e6;
            t0 = lir__now_ns();
            lir__snap_checksum(big, kv_bytes, 0, (uint64_t)LIR_KV_BLOCK_TOKENS * tb, threads, sum);
            tt[r] = (double)(lir__now_ns() - t0) / 1e6;
            t0 = lir__now_ns();
            memcpy(big2, big, kv_bytes);
            tc[r] = (double)(lir__now_ns() - t0) / 1e6 + (sum[0] & 0) + big2[kv_bytes / 2] * 0;
        }
    }
    /* the floors on this machine: write() of the same bytes from memory into a new file in the
     * same directory (4 MiB calls), and pread() of the snapshot file into memory (1 MiB calls) */
    double *tw = malloc(sizeof *tw * (size_t)reps), *trd = malloc(sizeof *trd * (size_t)reps);
    char fpath[4200];
    snprintf(fpath, sizeof fpath, "%s.floor", path);
    for (int r = 0; big && big2 && tw && trd && r < reps; r++) {
        uint64_t t0 = lir__now_ns();
        int fd = open(fpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        for (size_t o = 0; fd >= 0 && o < kv_bytes; o += 4u << 20)
            if (write(fd, big + o, kv_bytes - o < (4u << 20) ? kv_bytes - o : (4u << 20)) <= 0) die("%s", "floor write failed");
        if (fd < 0 || close(fd) != 0) die("%s", "floor write failed");
        tw[r] = (double)(lir__now_ns() - t0) / 1e6;
        unlink(fpath);
        t0 = lir__now_ns();
        fd = open(path, O_RDONLY);
        for (size_t o = 0; fd >= 0 && o < kv_bytes; o += 1u << 20)
            if (pread(fd, big2 + o, kv_bytes - o < (1u << 20) ? kv_bytes - o : (1u << 20), (off_t)o) <= 0) die("%s", "floor read failed");
        if (fd < 0 || close(fd) != 0) die("%s", "floor read failed");
        trd[r] = (double)(lir__now_ns() - t0) / 1e6;
    }
    const double gb = (double)info.size_bytes / 1e9, s_ms = median(ts, reps), r_ms = median(tr, reps);
    printf("{\"tokens\":%d,\"kv_type\":\"%s\",\"token_bytes\":%zu,\"file_bytes\":%llu,\"reps\":%d,"
           "\"save_ms\":%.1f,\"save_ms_per_gb\":%.1f,\"restore_ms\":%.1f,\"restore_ms_per_gb\":%.1f",
           n, kvt == LIR_KV_TYPE_Q8_0 ? "q8_0" : "f16", tb, (unsigned long long)info.size_bytes, reps, s_ms, s_ms / gb,
           r_ms, r_ms / gb);
    printf(",\"restore_over_ms_per_gb\":%.1f", median(tro, reps) / gb);
    if (do_fsync) printf(",\"save_fsync_ms_per_gb\":%.1f", median(tf, reps) / gb);
    if (big && big2)
        printf(",\"blake2b_ms_per_gb\":%.1f,\"checksum_tree_ms_per_gb\":%.1f,\"memcpy_ms_per_gb\":%.1f,\"threads\":%d",
               median(th, 3) / ((double)kv_bytes / 1e9), median(tt, 3) / ((double)kv_bytes / 1e9),
               median(tc, 3) / ((double)kv_bytes / 1e9), threads);
    if (big && big2 && tw && trd)
        printf(",\"write_floor_ms_per_gb\":%.1f,\"read_floor_ms_per_gb\":%.1f", median(tw, reps) / ((double)kv_bytes / 1e9),
               median(trd, reps) / ((double)kv_bytes / 1e9));
    printf("}\n");
    unlink(path);
    free(tw), free(trd), free(tro), free(big), free(big2), free(x), free(y), free(ts), free(tr), free(tf), free(buf), free(toks), free(row);
    lir_context_free(a);
    lir_context_free(b);
    lir_model_free(m);
    return 0;
}
