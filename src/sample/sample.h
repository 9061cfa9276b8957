/* sample.h — choosing the next token from logits: the internal interface of src/sample/.
 *
 * The public sampler (lir_sampler_*, include/lir.h) runs a chain of steps over a candidate
 * list; each step is a function here so tests can hold it to hand-computed survivors and
 * probabilities. Small helpers from before the chain (greedy, plain temperature sampling,
 * top-k log-probabilities, the xoshiro generator) stay for the CLI's debugging commands. */
#ifndef LIR_SAMPLE_H
#define LIR_SAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lir.h"

/* Index of the largest logit (lowest index on ties). */
int32_t lir_sample_greedy(const float *logits, int32_t n);
/* Top-2 margin: logit[best] - logit[second]. */
float lir_sample_margin(const float *logits, int32_t n);
/* Samples from softmax(logits / temp) with the xoshiro state *rng (seeded by lir_rng_seed). */
int32_t lir_sample_temp(const float *logits, int32_t n, float temp, uint64_t rng[4]);
void lir_rng_seed(uint64_t rng[4], uint64_t seed);
/* Uniform double in [0, 1) (53 random bits of xoshiro256**). */
double lir_rng_uniform(uint64_t rng[4]);

/* The k best (id, logit) pairs by logit, descending, and log-softmax of each.
 * ids/logit/logprob have room for k entries; returns the number written (min(k, n)). */
int32_t lir_top_k(const float *logits, int32_t n, int32_t k, int32_t *ids, float *logit, double *logprob);

/* ---------------------------------------------------------------- the chain's steps */

/* One candidate token. p: a probability after lir__cands_softmax (until logits change);
 * after lir__sample_top_p and lir__sample_dist only proportional to one (exp(logit - max)).
 * s: scratch (the score of typical_p and top_p's prefix search). */
typedef struct lir__tok {
    float logit;
    float p;
    float s;
    int32_t id;
} lir__tok;

/* The candidates still in the running: d[0..n). sorted: d is in chain order (logit
 * descending, lower id first on ties), which the steps keep when they can. */
typedef struct lir__cands {
    lir__tok *d;
    int32_t n;
    bool sorted;
} lir__cands;

/* Chain order of two candidates: larger logit first, lower id first on ties. */
static inline bool lir__tok_before(const lir__tok *a, const lir__tok *b) {
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

/* p = softmax(logit) over d[0..n) (sum in double). Returns the largest logit. */
float lir__cands_softmax(lir__cands *c);
/* Sorts d[0..n) in chain order. */
void lir__cands_sort(lir__cands *c);
/* Moves the k best (chain order) to d[0..k), sorted; the rest stay after them, unordered. */
void lir__cands_partial_sort(lir__cands *c, int32_t k);

/* Each truncation keeps at least one candidate; all are O(n) except where noted. */
void lir__sample_top_k(lir__cands *c, int32_t k);          /* k <= 0 or k >= n: no-op */
void lir__sample_typical(lir__cands *c, float p);          /* p >= 1: no-op; leaves the list unsorted */
void lir__sample_top_p(lir__cands *c, float p);            /* p >= 1: no-op; unsorted unless it was sorted */
void lir__sample_min_p(lir__cands *c, float p);            /* p <= 0: no-op */
void lir__sample_temp(lir__cands *c, float t);             /* logit /= t (t > 0) */
/* Draws from softmax over d[0..n); returns the index into d. */
int32_t lir__sample_dist(lir__cands *c, uint64_t rng[4]);
/* Mirostat (v1, with m = 100 tokens for the Zipf estimate, over a vocabulary of n_vocab) and
 * Mirostat 2.0: truncate, draw, update *mu. Return the index into d. */
int32_t lir__sample_mirostat(lir__cands *c, float tau, float eta, int32_t m, int32_t n_vocab, float *mu,
                             uint64_t rng[4]);
int32_t lir__sample_mirostat_v2(lir__cands *c, float tau, float eta, float *mu, uint64_t rng[4]);
/* Penalties on logits indexed by token id (logits[t] for t in [0, n_vocab)): for each distinct
 * token of hist[0..n_hist) seen c times: logit <= 0 ? *= repeat : /= repeat; -= c*freq + presence.
 * counts: n_vocab zeros on entry, zeros on return (scratch). */
void lir__sample_penalties(float *logits, const lir_token *hist, int32_t n_hist, float repeat, float freq,
                           float presence, int32_t *counts);

/* The first truncation step run on the raw logits l[0..n) (-inf: never kept), writing only
 * the survivors to out (room for n), unsorted; they return the count. Same survivors as
 * building the whole list and running the step (up to float rounding at the boundary):
 *   lir__gather_top_k  a superset of top_k's k (whole histogram buckets): run lir__sample_top_k on it
 *   lir__gather_top_p  top_p exactly (p of the survivors is exp(logit - max), unnormalized)
 *   lir__gather_all    every token, or min_p's survivors when min_p > 0 */
int32_t lir__gather_top_k(const float *l, int32_t n, int32_t k, lir__tok *out);
int32_t lir__gather_top_p(const float *l, int32_t n, float p, lir__tok *out);
int32_t lir__gather_all(const float *l, int32_t n, float min_p, lir__tok *out);
/* No truncation at all: draws from softmax(l / t) over l[0..n) directly (w: n floats of
 * scratch). Returns the token, or -1 when every logit is -inf. */
int32_t lir__sample_dist_raw(const float *l, int32_t n, float t, float *w, uint64_t rng[4]);

/* lir_sampling_params_validate, with logit_bias tokens also checked against n_vocab (> 0).
 * spec = false (lir_sampler_create): temperature only has to be finite and >= 0. */
enum lir_status lir__sampling_params_check(const struct lir_sampling_params *p, int32_t n_vocab, bool spec,
                                           char *msg, size_t msg_len);

#endif
