/* sample.h — choosing the next token from logits. For now greedy and plain temperature
 * sampling with a seeded generator; the full sampler chain (top-k/p, penalties, grammars)
 * builds on this in its own issue. */
#ifndef LIR_SAMPLE_H
#define LIR_SAMPLE_H

#include <stdint.h>

/* Index of the largest logit (lowest index on ties). */
int32_t lir_sample_greedy(const float *logits, int32_t n);
/* Top-2 margin: logit[best] - logit[second]. */
float lir_sample_margin(const float *logits, int32_t n);
/* Samples from softmax(logits / temp) with the xoshiro state *rng (seeded by lir_rng_seed). */
int32_t lir_sample_temp(const float *logits, int32_t n, float temp, uint64_t rng[4]);
void lir_rng_seed(uint64_t rng[4], uint64_t seed);
/* Uniform double in [0, 1). */
double lir_rng_uniform(uint64_t rng[4]);

/* The k best (id, logit) pairs by logit, descending, and log-softmax of each.
 * ids/logit/logprob have room for k entries; returns the number written (min(k, n)). */
int32_t lir_top_k(const float *logits, int32_t n, int32_t k, int32_t *ids, float *logit, double *logprob);

#endif
