/* save_floor.c — the least an atomic snapshot save can take on this machine, without lir: writes
 * 1 GiB from memory into a new file (4 MiB write() calls), optionally with XXH3 hashing the same
 * memory on a second thread and optionally replacing an existing 1 GiB file the way
 * lir_snapshot_save does (renameat2 RENAME_EXCHANGE, then unlink of the old one). The four
 * combinations alternate, three times each, in one process; the first run pays for fresh memory.
 *
 *   gcc -O2 -o /tmp/save_floor bench/save_floor.c -lxxhash -lpthread && /tmp/save_floor DIR
 *
 * Prints ms per GB (1e9 bytes) for the write, the replacement and both. See bench/README.md
 * "Context snapshots". */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#define N (1u << 30)
#define PIECE (4u << 20)

static char *src;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void *hash_all(void *arg) {
    unsigned long long *out = arg;
    for (size_t o = 0; o < N; o += PIECE) *out += XXH3_128bits(src + o, PIECE).low64;
    return NULL;
}

static void write_file(const char *path) {
    const int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { perror(path); exit(1); }
    for (size_t o = 0; o < N; o += PIECE)
        if (write(fd, src + o, PIECE) != (ssize_t)PIECE) { perror("write"); exit(1); }
    close(fd);
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: save_floor DIR\n"); return 2; }
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/save-floor-%d.bin", argv[1], (int)getpid());
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    src = aligned_alloc(4096, N);
    if (!src) return 1;
    for (size_t i = 0; i < N; i += 8) *(unsigned long long *)(src + i) = i * 0x9E3779B97F4A7C15ull;
    write_file(path); /* the snapshot being replaced */
    unsigned long long sink = 0;
    const double gb = N / 1e9;
    for (int r = 0; r < 12; r++) {
        const int hash = r & 1, replace = (r >> 1) & 1;
        pthread_t th;
        const double t0 = now();
        if (hash && pthread_create(&th, NULL, hash_all, &sink) != 0) return 1;
        write_file(tmp);
        if (hash) pthread_join(th, NULL);
        const double t1 = now();
        if (replace) {
            if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_EXCHANGE) != 0) { perror("renameat2"); return 1; }
            unlink(tmp);
        }
        const double t2 = now();
        if (!replace) unlink(tmp);
        printf("hash %d replace %d: write %.0f  replace %.0f  total %.0f ms/GB\n", hash, replace, (t1 - t0) * 1e3 / gb,
               (t2 - t1) * 1e3 / gb, (t2 - t0) * 1e3 / gb);
    }
    unlink(path);
    return sink == 42; /* keeps the hashing */
}
