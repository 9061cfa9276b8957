/* membw — main-memory bandwidth, for "generation as a fraction of the bandwidth limit".
 *
 *   gcc -O2 -pthread bench/membw.c -o out/bench/membw && out/bench/membw [threads] [MiB]
 *   -> {"threads":T,"mib":M,"copy_gb_s":..,"read_gb_s":..}
 *
 * copy: memcpy between two buffers of M MiB (default 512, far beyond any cache), split across T
 * threads; GB/s counts bytes read + bytes written (STREAM's Copy convention). read: a sum over
 * one buffer (8 independent 64-bit accumulators, so the loop is bound by loads, not adds): the
 * pattern of token generation, which streams the weights once per token. Best of 5 runs each.
 * 1 GB = 1e9 bytes. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct job {
    const uint64_t *src; // (n) words to read
    uint64_t *dst;       // (n) words to write, or NULL for the read test
    size_t n;
    uint64_t sum;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *work(void *p) {
    struct job *j = p;
    if (j->dst) {
        memcpy(j->dst, j->src, j->n * sizeof(uint64_t));
    } else {
        uint64_t a[8] = {0};
        size_t i = 0;
        for (; i + 8 <= j->n; i += 8)
            for (int k = 0; k < 8; k++) a[k] += j->src[i + k];
        for (; i < j->n; i++) a[0] += j->src[i];
        j->sum = a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
    }
    return NULL;
}

/* One timed pass over n words with t threads; returns seconds. */
static double pass(const uint64_t *src, uint64_t *dst, size_t n, int t, uint64_t *sink) {
    pthread_t th[256];
    struct job jobs[256];
    size_t per = n / (size_t)t;
    double t0 = now_s();
    for (int i = 0; i < t; i++) {
        jobs[i] = (struct job){src + (size_t)i * per, dst ? dst + (size_t)i * per : NULL,
                               i == t - 1 ? n - (size_t)i * per : per, 0};
        pthread_create(&th[i], NULL, work, &jobs[i]);
    }
    for (int i = 0; i < t; i++) {
        pthread_join(th[i], NULL);
        *sink += jobs[i].sum;
    }
    return now_s() - t0;
}

int main(int argc, char **argv) {
    int t = argc > 1 ? atoi(argv[1]) : 1;
    long mib = argc > 2 ? atol(argv[2]) : 512;
    if (t < 1 || t > 256 || mib < 1) {
        fprintf(stderr, "usage: membw [threads 1..256] [MiB]\n");
        return 2;
    }
    size_t n = (size_t)mib * 1024 * 1024 / sizeof(uint64_t);
    uint64_t *a = malloc(n * sizeof(uint64_t)), *b = malloc(n * sizeof(uint64_t));
    if (!a || !b) {
        fprintf(stderr, "membw: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++) a[i] = i, b[i] = 0; // touch every page before timing
    uint64_t sink = 0;
    double best_copy = 1e30, best_read = 1e30;
    for (int r = 0; r < 5; r++) {
        double c = pass(a, b, n, t, &sink), d = pass(a, NULL, n, t, &sink);
        if (c < best_copy) best_copy = c;
        if (d < best_read) best_read = d;
    }
    double bytes = (double)n * sizeof(uint64_t);
    printf("{\"threads\":%d,\"mib\":%ld,\"copy_gb_s\":%.2f,\"read_gb_s\":%.2f,\"sink\":%llu}\n", t, mib,
           2.0 * bytes / best_copy / 1e9, bytes / best_read / 1e9, (unsigned long long)(sink & 1));
    free(a);
    free(b);
    return 0;
}
