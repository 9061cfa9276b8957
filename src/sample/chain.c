/* chain.c — the steps of the sampler chain over a candidate list (sample.h), written after
 * llama.cpp's src/llama-sampling.cpp so that the same parameters mean the same thing, but
 * O(n) where llama.cpp sorts: top_k selects, top_p sorts only the prefix it keeps, min_p and
 * mirostat 2.0 compare against a logit threshold. Ties are broken by the lower token id so
 * that results never depend on the sort's internals. */
#include "sample/sample.h"

#include <math.h>
#include <stdlib.h>

/* ---------------------------------------------------------------- ordering */

static inline void swap_tok(lir__tok *a, lir__tok *b) {
    lir__tok t = *a;
    *a = *b;
    *b = t;
}

static void insertion_sort(lir__tok *d, int32_t n) {
    for (int32_t i = 1; i < n; i++) {
        lir__tok x = d[i];
        int32_t j = i;
        while (j > 0 && lir__tok_before(&x, &d[j - 1])) {
            d[j] = d[j - 1];
            j--;
        }
        d[j] = x;
    }
}

/* Median of three as pivot, moved to d[n-1]; Lomuto partition. The order is total (ids
 * differ), so there are no runs of equal keys to degrade it. Returns the pivot's final index. */
static int32_t partition(lir__tok *d, int32_t n) {
    int32_t a = 0, b = n / 2, c = n - 1;
    if (lir__tok_before(&d[b], &d[a])) swap_tok(&d[a], &d[b]);
    if (lir__tok_before(&d[c], &d[a])) swap_tok(&d[a], &d[c]);
    if (lir__tok_before(&d[c], &d[b])) swap_tok(&d[b], &d[c]);
    /* now d[a] <= d[b] <= d[c] in chain order; use the median d[b] as pivot */
    swap_tok(&d[b], &d[c]);
    const lir__tok piv = d[c];
    int32_t s = 0;
    for (int32_t i = 0; i < c; i++)
        if (lir__tok_before(&d[i], &piv)) swap_tok(&d[i], &d[s++]);
    swap_tok(&d[s], &d[c]);
    return s;
}

static void quick_sort(lir__tok *d, int32_t n) {
    while (n > 16) {
        int32_t s = partition(d, n);
        /* recurse into the smaller side, loop on the larger: O(log n) stack */
        if (s < n - s - 1) {
            quick_sort(d, s);
            d += s + 1;
            n -= s + 1;
        } else {
            quick_sort(d + s + 1, n - s - 1);
            n = s;
        }
    }
    insertion_sort(d, n);
}

/* Rearranges d so that d[0..k) are the k first in chain order (unordered). */
static void quick_select(lir__tok *d, int32_t n, int32_t k) {
    while (n > 16 && k > 0 && k < n) {
        int32_t s = partition(d, n);
        if (s == k || s + 1 == k) return;
        if (s > k) n = s;
        else {
            d += s + 1;
            n -= s + 1;
            k -= s + 1;
        }
    }
    if (k > 0 && k < n) insertion_sort(d, n);
}

void lir__cands_sort(lir__cands *c) {
    if (!c->sorted) quick_sort(c->d, c->n);
    c->sorted = true;
}

void lir__cands_partial_sort(lir__cands *c, int32_t k) {
    if (c->sorted) return;
    if (k >= c->n) {
        lir__cands_sort(c);
        return;
    }
    quick_select(c->d, c->n, k);
    quick_sort(c->d, k);
}

/* ---------------------------------------------------------------- softmax */

static float max_logit(const lir__cands *c) {
    if (c->sorted) return c->d[0].logit;
    float mx = -INFINITY;
    for (int32_t i = 0; i < c->n; i++)
        if (c->d[i].logit > mx) mx = c->d[i].logit;
    return mx;
}

float lir__cands_softmax(lir__cands *c) {
    const float mx = max_logit(c);
    double sum = 0.0;
    for (int32_t i = 0; i < c->n; i++) {
        float e = expf(c->d[i].logit - mx);
        c->d[i].p = e;
        sum += e;
    }
    const float inv = (float)(1.0 / sum);
    for (int32_t i = 0; i < c->n; i++) c->d[i].p *= inv;
    return mx;
}

/* ---------------------------------------------------------------- truncation */

void lir__sample_top_k(lir__cands *c, int32_t k) {
    if (k <= 0 || k >= c->n) return;
    lir__cands_partial_sort(c, k);
    c->n = k;
    c->sorted = true;
}

/* Locally typical sampling (llama_sampler_typical_apply): keep the tokens whose surprise
 * -log p is closest to the entropy H, in that order, until their mass exceeds p. */
static int cmp_score(const void *a, const void *b) {
    const lir__tok *x = a, *y = b;
    if (x->s != y->s) return x->s < y->s ? -1 : 1;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1; /* ties: chain order */
    return x->id < y->id ? -1 : (x->id > y->id);
}

void lir__sample_typical(lir__cands *c, float p) {
    if (p >= 1.0f || c->n <= 1) return;
    lir__cands_softmax(c);
    double h = 0.0;
    for (int32_t i = 0; i < c->n; i++)
        if (c->d[i].p > 0.0f) h -= (double)c->d[i].p * log((double)c->d[i].p);
    for (int32_t i = 0; i < c->n; i++)
        c->d[i].s = c->d[i].p > 0.0f ? fabsf(-logf(c->d[i].p) - (float)h) : INFINITY;
    qsort(c->d, (size_t)c->n, sizeof *c->d, cmp_score);
    double cum = 0.0;
    int32_t keep = c->n;
    for (int32_t i = 0; i < c->n; i++) {
        cum += c->d[i].p;
        if (cum > p) { /* strictly more than p, as llama.cpp; min_keep = 1 */
            keep = i + 1;
            break;
        }
    }
    c->n = keep;
    c->sorted = false;
}

/* Nucleus sampling (llama_sampler_top_p_apply): the shortest prefix in chain order whose
 * mass reaches p. The prefix is found by sorting ever larger heads (64, 256, ...) of the
 * list rather than the whole list: with real models it is short. */
void lir__sample_top_p(lir__cands *c, float p) {
    if (p >= 1.0f || c->n <= 1) return;
    lir__cands_softmax(c);
    int32_t done = 0, m = c->n < 64 ? c->n : 64;
    double cum = 0.0;
    for (;;) {
        if (!c->sorted) { /* sort d[done..m) as the next best after d[0..done) */
            lir__tok *d = c->d + done;
            int32_t n = c->n - done, k = m - done;
            if (k < n) quick_select(d, n, k);
            quick_sort(d, k);
        }
        for (int32_t i = done; i < m; i++) {
            cum += c->d[i].p;
            if (cum >= p) {
                c->n = i + 1;
                c->sorted = true;
                return;
            }
        }
        if (m == c->n) break; /* rounding kept the sum below p: keep everything */
        done = m;
        m = m > c->n / 4 ? c->n : m * 4;
    }
    c->sorted = true;
}

/* Min-p (llama_sampler_min_p_apply): keep p >= p_min * p_max, i.e. logit >= max + log(p_min).
 * Keeps the order, so a sorted list stays sorted. */
void lir__sample_min_p(lir__cands *c, float p) {
    if (p <= 0.0f || c->n <= 1) return;
    const float thr = max_logit(c) + logf(p);
    int32_t k = 0;
    for (int32_t i = 0; i < c->n; i++)
        if (c->d[i].logit >= thr) c->d[k++] = c->d[i];
    c->n = k > 0 ? k : 1; /* cannot happen (the max passes), but keep one */
}

void lir__sample_temp(lir__cands *c, float t) {
    if (t == 1.0f) return;
    const float inv = 1.0f / t;
    for (int32_t i = 0; i < c->n; i++) c->d[i].logit *= inv;
}

/* ---------------------------------------------------------------- drawing */

/* Draws an index with probability d[i].p / sum(p): the first i whose running sum exceeds u. */
static int32_t draw(const lir__cands *c, uint64_t rng[4]) {
    double total = 0.0;
    for (int32_t i = 0; i < c->n; i++) total += c->d[i].p;
    const double u = lir_rng_uniform(rng) * total;
    double acc = 0.0;
    int32_t last = 0;
    for (int32_t i = 0; i < c->n; i++) {
        if (c->d[i].p <= 0.0f) continue;
        acc += c->d[i].p;
        last = i;
        if (u < acc) return i;
    }
    return last; /* u within rounding of total */
}

int32_t lir__sample_dist(lir__cands *c, uint64_t rng[4]) {
    lir__cands_softmax(c);
    return draw(c, rng);
}

/* Mirostat (Basu et al. 2021, Algorithm 1; llama_sampler_mirostat_apply). */
int32_t lir__sample_mirostat(lir__cands *c, float tau, float eta, int32_t m, int32_t n_vocab, float *mu,
                             uint64_t rng[4]) {
    lir__cands_softmax(c);
    int32_t head = m < c->n ? m : c->n;
    lir__cands_partial_sort(c, head);
    /* Zipf exponent s_hat by least squares over the m most probable tokens */
    double sum_tb = 0.0, sum_tt = 0.0;
    for (int32_t i = 0; i + 1 < head; i++) {
        if (!(c->d[i + 1].p > 0.0f)) break;
        double t = log((double)(i + 2) / (double)(i + 1));
        double b = log((double)c->d[i].p / (double)c->d[i + 1].p);
        sum_tb += t * b;
        sum_tt += t * t;
    }
    int32_t k = 1;
    if (sum_tt > 0.0) {
        const double s_hat = sum_tb / sum_tt, eps = s_hat - 1.0;
        const double kk = pow(eps * pow(2.0, (double)*mu) / (1.0 - pow((double)n_vocab, -eps)), 1.0 / s_hat);
        if (!(kk >= 1.0)) k = 1; /* NaN (s_hat <= 0 on a flat head) or < 1 */
        else if (kk >= (double)c->n) k = c->n;
        else k = (int32_t)kk;
    }
    lir__sample_top_k(c, k);
    lir__cands_softmax(c);
    const int32_t idx = draw(c, rng);
    const float surprise = -log2f(c->d[idx].p);
    *mu -= eta * (surprise - tau);
    return idx;
}

/* Mirostat 2.0 (Algorithm 2; llama_sampler_mirostat_v2_apply): keep -log2 p <= mu, at least
 * the best token, renormalize, draw, update mu. -log2 p_i <= mu  <=>  p_i >= 2^-mu. */
int32_t lir__sample_mirostat_v2(lir__cands *c, float tau, float eta, float *mu, uint64_t rng[4]) {
    lir__cands_softmax(c);
    const float pmin = exp2f(-*mu);
    int32_t k = 0, best = 0;
    for (int32_t i = 0; i < c->n; i++) {
        if (lir__tok_before(&c->d[i], &c->d[best])) best = i;
    }
    const lir__tok top = c->d[best];
    for (int32_t i = 0; i < c->n; i++)
        if (c->d[i].p >= pmin) c->d[k++] = c->d[i];
    if (k == 0) {
        c->d[0] = top;
        k = 1;
    }
    c->n = k;
    lir__cands_softmax(c);
    const int32_t idx = draw(c, rng);
    const float surprise = -log2f(c->d[idx].p);
    *mu -= eta * (surprise - tau);
    return idx;
}

/* ---------------------------------------------------------------- penalties */

void lir__sample_penalties(float *logits, const lir_token *hist, int32_t n_hist, float repeat, float freq,
                           float presence, int32_t *counts) {
    for (int32_t i = 0; i < n_hist; i++) counts[hist[i]]++;
    for (int32_t i = 0; i < n_hist; i++) {
        const lir_token t = hist[i];
        const int32_t n = counts[t];
        if (!n) continue; /* already done */
        counts[t] = 0;
        float l = logits[t];
        l = l <= 0.0f ? l * repeat : l / repeat;
        logits[t] = l - (float)n * freq - presence;
    }
}
