/* chain.c — the steps of the sampler chain over a candidate list (sample.h), written after
 * llama.cpp's src/llama-sampling.cpp so that the same parameters mean the same thing, but
 * O(n) where llama.cpp sorts: top_k selects, top_p sorts only the prefix it keeps, min_p and
 * mirostat 2.0 compare against a logit threshold. Ties are broken by the lower token id so
 * that results never depend on the sort's internals. */
#include "sample/sample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* p = exp(logit - mx) for every candidate; returns their sum. Summed in blocks of 8 floats
 * added to a double: a single double accumulator is a 4-cycle dependency per element, which
 * on a 128k vocabulary costs as much as the exponentials. */
static double exp_sum(lir__tok *d, int32_t n, float mx) {
    double sum = 0.0;
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float b = 0.0f;
        for (int32_t j = 0; j < 8; j++) d[i + j].p = expf(d[i + j].logit - mx);
        for (int32_t j = 0; j < 8; j++) b += d[i + j].p;
        sum += b;
    }
    for (; i < n; i++) sum += d[i].p = expf(d[i].logit - mx);
    return sum;
}

float lir__cands_softmax(lir__cands *c) {
    const float mx = max_logit(c);
    const float inv = (float)(1.0 / exp_sum(c->d, c->n, mx));
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

/* ---------------------------------------------------------------- shortest prefix by score */

/* Order of typical_p and top_p: score s ascending, then chain order. */
static inline bool score_before(const lir__tok *a, const lir__tok *b) {
    return a->s < b->s || (a->s == b->s && lir__tok_before(a, b));
}

static int cmp_score(const void *a, const void *b) {
    const lir__tok *x = a, *y = b;
    return score_before(x, y) ? -1 : score_before(y, x) ? 1 : 0;
}

enum { N_BUCKETS = 1024 };

static inline int32_t bucket_of(float s, float smin, float scale) {
    if (!(s < INFINITY)) return N_BUCKETS - 1;
    int32_t b = (int32_t)((s - smin) * scale);
    return b < 0 ? 0 : b >= N_BUCKETS ? N_BUCKETS - 1 : b;
}

static inline bool reached(double cum, double target, bool strict) { return strict ? cum > target : cum >= target; }

/* Walks the non-empty buckets in order, from a mass of cum: the first whose mass brings the sum
 * to target (strict: past it), or -1 when none does (rounding kept the sum below); *before is
 * the sum ahead of that bucket (cum included). */
static int32_t crossing_bucket(const int32_t *count, const double *mass, double cum, double target, bool strict,
                               double *before) {
    for (int32_t b = 0; b < N_BUCKETS; b++) {
        if (!count[b]) continue;
        if (reached(cum + mass[b], target, strict)) {
            *before = cum;
            return b;
        }
        cum += mass[b];
    }
    *before = cum;
    return -1;
}

/* The shortest prefix of d[0..n) in score order whose mass (sum of p) reaches target
 * (strict: exceeds it), at least one token: moves it to d[0..k) (unordered) and returns k.
 * Without sorting the list: bucket the scores linearly between their min and max, keep the
 * buckets before the one where the mass crosses the target, and repeat inside that bucket
 * until it is small enough to sort. Each round keeps the min and the max of its region in
 * different buckets, so the region shrinks every round. O(n) for any spread of scores. */
static int32_t prefix_by_score(lir__tok *d, int32_t n, double target, bool strict) {
    int32_t lo = 0, hi = n; /* d[0..lo) kept, d[lo..hi) undecided, the rest dropped */
    double cum = 0.0;
    int32_t count[N_BUCKETS];
    double mass[N_BUCKETS];
    while (hi - lo > 64) {
        float smin = INFINITY, smax = -INFINITY;
        for (int32_t i = lo; i < hi; i++) {
            const float s = d[i].s;
            if (s < INFINITY) {
                if (s < smin) smin = s;
                if (s > smax) smax = s;
            }
        }
        if (!(smax > smin)) break; /* one score (or none finite): sort what is left */
        const float scale = (float)(N_BUCKETS - 1) / (smax - smin);
        for (int32_t b = 0; b < N_BUCKETS; b++) count[b] = 0, mass[b] = 0.0;
        for (int32_t i = lo; i < hi; i++) {
            const int32_t b = bucket_of(d[i].s, smin, scale);
            count[b]++;
            mass[b] += d[i].p;
        }
        double before;
        const int32_t cross = crossing_bucket(count, mass, cum, target, strict, &before);
        if (cross < 0) return hi; /* rounding kept the mass below target: keep the region */
        /* d[lo..) = buckets before cross, then bucket cross, then the rest */
        int32_t w = lo;
        for (int32_t i = lo; i < hi; i++)
            if (bucket_of(d[i].s, smin, scale) < cross) swap_tok(&d[i], &d[w++]);
        const int32_t mid = w;
        for (int32_t i = mid; i < hi; i++)
            if (bucket_of(d[i].s, smin, scale) == cross) swap_tok(&d[i], &d[w++]);
        lo = mid;
        hi = w;
        cum = before;
    }
    qsort(d + lo, (size_t)(hi - lo), sizeof *d, cmp_score);
    for (int32_t i = lo; i < hi; i++) {
        cum += d[i].p;
        if (reached(cum, target, strict)) return i + 1;
    }
    return hi > 0 ? hi : 1;
}

/* ---------------------------------------------------------------- truncation by mass */

/* p = softmax(logit) over the list; returns log(sum exp(logit)) (so -ln p_i = lse - logit_i). */
static double softmax_lse(lir__cands *c) {
    const float mx = max_logit(c);
    const double sum = exp_sum(c->d, c->n, mx);
    const float inv = (float)(1.0 / sum);
    for (int32_t i = 0; i < c->n; i++) c->d[i].p *= inv;
    return (double)mx + log(sum);
}

/* Locally typical sampling (llama_sampler_typical_apply): keep the tokens whose surprise
 * -ln p is closest to the entropy H, in that order, until their mass exceeds p. */
void lir__sample_typical(lir__cands *c, float p) {
    if (p >= 1.0f || c->n <= 1) return;
    const double lse = softmax_lse(c);
    double h = 0.0; /* H = sum p (lse - logit) */
    for (int32_t i = 0; i < c->n; i++) h += (double)c->d[i].p * (lse - (double)c->d[i].logit);
    for (int32_t i = 0; i < c->n; i++)
        c->d[i].s = c->d[i].p > 0.0f ? (float)fabs(lse - (double)c->d[i].logit - h) : INFINITY;
    c->n = prefix_by_score(c->d, c->n, p, true); /* strictly more than p, as llama.cpp */
    c->sorted = false;
}

/* Nucleus sampling (llama_sampler_top_p_apply): the shortest prefix in chain order whose
 * mass reaches p. The first round of prefix_by_score is done here on the logits themselves
 * (key -logit), fused with the exponentials, so a 128k list is read three times: min/max,
 * exp + buckets, partition. p is left unnormalized (exp(logit - max)) for the survivors. */
void lir__sample_top_p(lir__cands *c, float p) {
    if (p >= 1.0f || c->n <= 1) return;
    if (c->sorted) {
        lir__cands_softmax(c);
        double cum = 0.0;
        for (int32_t i = 0; i < c->n; i++) {
            cum += c->d[i].p;
            if (cum >= p) {
                c->n = i + 1;
                return;
            }
        }
        return;
    }
    lir__tok *d = c->d;
    const int32_t n = c->n;
    float mx = -INFINITY, mn = INFINITY;
    for (int32_t i = 0; i < n; i++) {
        const float l = d[i].logit;
        mx = l > mx ? l : mx;
        mn = l < mn && l > -INFINITY ? l : mn;
    }
    if (n <= 64 || !(mx > mn)) {
        lir__cands_softmax(c);
        for (int32_t i = 0; i < n; i++) d[i].s = -d[i].logit;
        c->n = prefix_by_score(d, n, p, false);
        return;
    }
    int32_t count[N_BUCKETS] = { 0 };
    double mass[N_BUCKETS] = { 0 };
    const float scale = (float)(N_BUCKETS - 1) / (mx - mn);
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++) {
        const float e = expf(d[i].logit - mx);
        const int32_t b = bucket_of(mx - d[i].logit, 0.0f, scale);
        d[i].p = e;
        sum += e;
        count[b]++;
        mass[b] += e;
    }
    const double target = (double)p * sum;
    double before;
    const int32_t cross = crossing_bucket(count, mass, 0.0, target, false, &before);
    if (cross < 0) return; /* rounding: keep everything */
    /* three-way partition: buckets before cross, cross, after */
    int32_t lo = 0, mid = 0, hi = n;
    while (mid < hi) {
        const int32_t b = bucket_of(mx - d[mid].logit, 0.0f, scale);
        if (b < cross) swap_tok(&d[lo++], &d[mid++]);
        else if (b == cross) mid++;
        else swap_tok(&d[mid], &d[--hi]);
    }
    for (int32_t i = lo; i < hi; i++) d[i].s = -d[i].logit;
    c->n = lo + prefix_by_score(d + lo, hi - lo, target - before, false);
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

/* Draws an index with probability d[i].p / sum(p). The running sum advances by the same
 * blocks of 8 floats as exp_sum added them (so u < total always lands in a block), then
 * walks the block: one double add per 8 candidates instead of one per candidate. */
static int32_t draw(const lir__cands *c, uint64_t rng[4]) {
    const lir__tok *d = c->d;
    const int32_t n = c->n;
    double total = 0.0;
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float b = 0.0f;
        for (int32_t j = 0; j < 8; j++) b += d[i + j].p;
        total += b;
    }
    for (; i < n; i++) total += d[i].p;
    const double u = lir_rng_uniform(rng) * total;
    double acc = 0.0;
    int32_t last = -1;
    for (i = 0; i + 8 <= n; i += 8) {
        float b = 0.0f;
        for (int32_t j = 0; j < 8; j++) b += d[i + j].p;
        if (u < acc + b) {
            for (int32_t j = 0; j < 8; j++) {
                if (d[i + j].p <= 0.0f) continue;
                acc += d[i + j].p;
                last = i + j;
                if (u < acc) return last;
            }
            return last; /* rounding inside the block: its last candidate with p > 0 */
        }
        acc += b;
        for (int32_t j = 0; j < 8; j++) last = d[i + j].p > 0.0f ? i + j : last;
    }
    for (; i < n; i++) {
        if (d[i].p <= 0.0f) continue;
        acc += d[i].p;
        last = i;
        if (u < acc) return i;
    }
    return last >= 0 ? last : 0;
}

int32_t lir__sample_dist(lir__cands *c, uint64_t rng[4]) {
    exp_sum(c->d, c->n, max_logit(c)); /* weights exp(logit - max): no need to normalize */
    return draw(c, rng);
}

/* Mirostat (Basu et al. 2021, Algorithm 1; llama_sampler_mirostat_apply). */
int32_t lir__sample_mirostat(lir__cands *c, float tau, float eta, int32_t m, int32_t n_vocab, float *mu,
                             uint64_t rng[4]) {
    int32_t head = m < c->n ? m : c->n;
    lir__cands_partial_sort(c, head);
    /* Zipf exponent s_hat by least squares over the m most probable tokens. It needs only
     * ln(p_i / p_i+1) = logit_i - logit_i+1, so no softmax over the whole list. */
    double sum_tb = 0.0, sum_tt = 0.0;
    for (int32_t i = 0; i + 1 < head; i++) {
        if (!(c->d[i + 1].logit > -INFINITY)) break;
        double t = log((double)(i + 2) / (double)(i + 1));
        double b = (double)c->d[i].logit - (double)c->d[i + 1].logit;
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

/* ---------------------------------------------------------------- on the raw logits */

int32_t lir__sample_dist_raw(const float *l, int32_t n, float t, float *w, uint64_t rng[4]) {
    float m8[8];
    for (int j = 0; j < 8; j++) m8[j] = -INFINITY;
    int32_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) m8[j] = l[i + j] > m8[j] ? l[i + j] : m8[j];
    for (; i < n; i++) m8[0] = l[i] > m8[0] ? l[i] : m8[0];
    float mx = m8[0];
    for (int j = 1; j < 8; j++) mx = m8[j] > mx ? m8[j] : mx;
    if (mx == -INFINITY) return -1;
    const float inv = 1.0f / t;
    double total = 0.0;
    for (i = 0; i + 8 <= n; i += 8) {
        float b = 0.0f;
        for (int j = 0; j < 8; j++) w[i + j] = expf((l[i + j] - mx) * inv);
        for (int j = 0; j < 8; j++) b += w[i + j];
        total += b;
    }
    for (; i < n; i++) total += w[i] = expf((l[i] - mx) * inv);
    const double u = lir_rng_uniform(rng) * total;
    double acc = 0.0;
    int32_t last = -1;
    for (i = 0; i + 8 <= n; i += 8) { /* as draw(): blocks first, then inside the block */
        float b = 0.0f;
        for (int j = 0; j < 8; j++) b += w[i + j];
        if (u < acc + b) {
            for (int j = 0; j < 8; j++) {
                if (w[i + j] <= 0.0f) continue;
                acc += w[i + j];
                last = i + j;
                if (u < acc) return last;
            }
            return last;
        }
        acc += b;
        for (int j = 0; j < 8; j++) last = w[i + j] > 0.0f ? i + j : last;
    }
    for (; i < n; i++) {
        if (w[i] <= 0.0f) continue;
        acc += w[i];
        last = i;
        if (u < acc) return i;
    }
    return last;
}

/* Largest logit, and smallest one above -inf (+inf when none): 8 running extremes, which
 * the compiler can keep in vector registers; a second pass only when some logit is -inf. */
static void min_max(const float *l, int32_t n, float *mx_out, float *mn_out) {
    float mx[8], mn[8];
    for (int j = 0; j < 8; j++) mx[j] = -INFINITY, mn[j] = INFINITY;
    int32_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) {
            mx[j] = l[i + j] > mx[j] ? l[i + j] : mx[j];
            mn[j] = l[i + j] < mn[j] ? l[i + j] : mn[j];
        }
    for (; i < n; i++) {
        mx[0] = l[i] > mx[0] ? l[i] : mx[0];
        mn[0] = l[i] < mn[0] ? l[i] : mn[0];
    }
    for (int j = 1; j < 8; j++) {
        mx[0] = mx[j] > mx[0] ? mx[j] : mx[0];
        mn[0] = mn[j] < mn[0] ? mn[j] : mn[0];
    }
    if (mn[0] == -INFINITY) {
        mn[0] = INFINITY;
        for (i = 0; i < n; i++)
            if (l[i] < mn[0] && l[i] > -INFINITY) mn[0] = l[i];
    }
    *mx_out = mx[0];
    *mn_out = mn[0];
}

/* Every token of l with logit >= thr (and > -inf), in id order. */
static int32_t gather_above(const float *l, int32_t n, float thr, lir__tok *out) {
    int32_t k = 0;
    for (int32_t i = 0; i < n; i++)
        if (l[i] >= thr && l[i] > -INFINITY) out[k++] = (lir__tok){ .logit = l[i], .id = i };
    return k;
}

int32_t lir__gather_all(const float *l, int32_t n, float min_p, lir__tok *out) {
    if (!(min_p > 0.0f)) return gather_above(l, n, -INFINITY, out);
    float mx, mn;
    min_max(l, n, &mx, &mn);
    return gather_above(l, n, mx + logf(min_p), out); /* as lir__sample_min_p */
}

int32_t lir__gather_top_k(const float *l, int32_t n, int32_t k, lir__tok *out) {
    float mx, mn;
    min_max(l, n, &mx, &mn);
    if (mx == -INFINITY) return 0;
    if (!(mx > mn) || k >= n) return gather_above(l, n, -INFINITY, out);
    /* the bucket (by logit, from the top) where the count reaches k: keep it and those above */
    int32_t count[N_BUCKETS] = { 0 };
    const float scale = (float)(N_BUCKETS - 1) / (mx - mn);
    for (int32_t i = 0; i < n; i++) count[bucket_of(mx - l[i], 0.0f, scale)]++;
    int32_t cross = N_BUCKETS - 1, cum = 0;
    for (int32_t b = 0; b < N_BUCKETS; b++)
        if ((cum += count[b]) >= k) {
            cross = b;
            break;
        }
    int32_t m = 0;
    for (int32_t i = 0; i < n; i++)
        if (l[i] > -INFINITY && bucket_of(mx - l[i], 0.0f, scale) <= cross) out[m++] = (lir__tok){ .logit = l[i], .id = i };
    return m;
}

int32_t lir__gather_top_p(const float *l, int32_t n, float p, lir__tok *out) {
    float mx, mn;
    min_max(l, n, &mx, &mn);
    if (mx == -INFINITY) return 0;
    if (n <= 64 || !(mx > mn) || p >= 1.0f) {
        lir__cands c = { out, gather_above(l, n, -INFINITY, out), false };
        lir__sample_top_p(&c, p);
        return c.n;
    }
    /* mass per bucket of logit (from the top); the bucket where it reaches p * sum is the
     * boundary: the tokens above it are kept, the boundary bucket is searched exactly */
    int32_t count[N_BUCKETS] = { 0 };
    double mass[N_BUCKETS] = { 0 }, mass2[N_BUCKETS] = { 0 }; /* two: neighbours often share a bucket */
    const float scale = (float)(N_BUCKETS - 1) / (mx - mn);
    int32_t i = 0;
    for (; i + 2 <= n; i += 2) {
        const int32_t b0 = bucket_of(mx - l[i], 0.0f, scale), b1 = bucket_of(mx - l[i + 1], 0.0f, scale);
        const float e0 = expf(l[i] - mx), e1 = expf(l[i + 1] - mx); /* 0 for -inf: no mass */
        count[b0] += l[i] > -INFINITY;
        count[b1] += l[i + 1] > -INFINITY;
        mass[b0] += e0;
        mass2[b1] += e1;
    }
    if (i < n) {
        count[bucket_of(mx - l[i], 0.0f, scale)] += l[i] > -INFINITY;
        mass[bucket_of(mx - l[i], 0.0f, scale)] += expf(l[i] - mx);
    }
    double sum = 0.0;
    for (int32_t b = 0; b < N_BUCKETS; b++) sum += mass[b] += mass2[b];
    const double target = (double)p * sum;
    double before;
    int32_t cross = crossing_bucket(count, mass, 0.0, target, false, &before);
    if (cross < 0) cross = N_BUCKETS - 1; /* rounding: the last bucket is the boundary */
    /* kept tokens from the front of out, the boundary bucket from the back */
    int32_t k = 0, back = n;
    for (i = 0; i < n; i++) {
        if (!(l[i] > -INFINITY)) continue;
        const int32_t b = bucket_of(mx - l[i], 0.0f, scale);
        if (b < cross) out[k++] = (lir__tok){ .logit = l[i], .p = expf(l[i] - mx), .id = i };
        else if (b == cross) out[--back] = (lir__tok){ .logit = l[i], .p = expf(l[i] - mx), .s = -l[i], .id = i };
    }
    const int32_t nb = n - back;
    memmove(out + k, out + back, sizeof *out * (size_t)nb);
    return k + prefix_by_score(out + k, nb, target - before, false);
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
