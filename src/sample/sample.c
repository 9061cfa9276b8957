/* sample.c — greedy, temperature sampling, top-k with log-probabilities. */
#include "sample/sample.h"

#include <math.h>
#include <stdlib.h>

int32_t lir_sample_greedy(const float *l, int32_t n) {
    int32_t b = 0;
    for (int32_t i = 1; i < n; i++)
        if (l[i] > l[b]) b = i;
    return b;
}

float lir_sample_margin(const float *l, int32_t n) {
    if (n < 2) return INFINITY;
    float a = -INFINITY, b = -INFINITY;
    for (int32_t i = 0; i < n; i++) {
        if (l[i] > a) { b = a; a = l[i]; }
        else if (l[i] > b) b = l[i];
    }
    return a - b;
}

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void lir_rng_seed(uint64_t s[4], uint64_t seed) {
    for (int i = 0; i < 4; i++) s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next(uint64_t s[4]) { /* xoshiro256** */
    const uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45);
    return r;
}

double lir_rng_uniform(uint64_t s[4]) { return (double)(next(s) >> 11) * 0x1.0p-53; }

int32_t lir_sample_temp(const float *l, int32_t n, float temp, uint64_t rng[4]) {
    if (!(temp > 0.0f)) return lir_sample_greedy(l, n);
    float mx = l[lir_sample_greedy(l, n)];
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++) sum += exp((double)(l[i] - mx) / temp);
    double u = lir_rng_uniform(rng) * sum, acc = 0.0;
    for (int32_t i = 0; i < n; i++) {
        acc += exp((double)(l[i] - mx) / temp);
        if (acc > u) return i;
    }
    return n - 1;
}

int32_t lir_top_k(const float *l, int32_t n, int32_t k, int32_t *ids, float *logit, double *logprob) {
    if (k > n) k = n;
    int32_t m = 0;
    for (int32_t i = 0; i < n; i++) { /* insertion into a sorted list of k */
        if (m == k && l[i] <= logit[m - 1]) continue;
        int32_t j = m < k ? m++ : k - 1;
        while (j > 0 && logit[j - 1] < l[i]) {
            logit[j] = logit[j - 1];
            ids[j] = ids[j - 1];
            j--;
        }
        logit[j] = l[i];
        ids[j] = i;
    }
    double mx = m ? logit[0] : 0.0, sum = 0.0;
    for (int32_t i = 0; i < n; i++) sum += exp((double)l[i] - mx);
    const double lse = mx + log(sum);
    for (int32_t i = 0; i < m; i++) logprob[i] = (double)logit[i] - lse;
    return m;
}
