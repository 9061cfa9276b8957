/* sampler.c — lir_sampler: the public sampler chain (order and semantics in include/lir.h)
 * over the steps of chain.c, with its history for the penalties, mirostat's mu and a seeded
 * xoshiro256** generator. One sampler per sequence; nothing global. */
#include "sample/sample.h"
#include "util/util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

struct lir_sampler {
    struct lir_sampling_params p;   /* copy; the borrowed arrays are not kept (NULL here) */
    struct lir_logit_bias *bias;    /* (n_bias) own copy of p.logit_bias */
    int32_t n_bias;
    int32_t n_vocab;
    uint64_t seed;                  /* the seed in use (drawn when p.seed is LIR_SEED_RANDOM) */
    uint64_t rng[4];
    float mu;                       /* mirostat: 2 * tau at start */

    /* history for the penalties: the window is hist[n_hist - w .. n_hist), kept contiguous
     * by moving the last window to the front when the buffer fills */
    bool penalties;                 /* any penalty active */
    lir_token *hist;                /* (cap_hist) */
    int32_t n_hist, cap_hist;
    int32_t *counts;                /* (n_vocab) zeros: scratch for lir__sample_penalties */

    float *work;                    /* (n_vocab) logits after bias and penalties */
    float *prob;                    /* (n_vocab) scratch of lir__sample_dist_raw */
    lir__tok *cand;                 /* (n_vocab) candidates */
    char err[LIR_ERR_MAX];
};

static uint64_t draw_seed(void) {
    uint64_t s = 0;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s) {
        struct timespec ts; /* no entropy source: time and an address, good enough to vary */
        clock_gettime(CLOCK_REALTIME, &ts);
        s = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&ts;
    }
    return s == LIR_SEED_RANDOM ? 0 : s;
}

static void set_err(lir_sampler *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(lir_sampler *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    va_end(ap);
}

void lir_sampler_free(lir_sampler *s) {
    if (!s) return;
    free(s->bias);
    free(s->hist);
    free(s->counts);
    free(s->work);
    free(s->prob);
    free(s->cand);
    free(s);
}

enum lir_status lir_sampler_create(const struct lir_sampling_params *p, int32_t n_vocab, lir_sampler **out,
                                   char *err, size_t err_len) {
    lir_err e = { { 0 } };
    enum lir_status st;
    if (err && err_len) err[0] = 0;
    if (!out) return LIR_EINVAL;
    *out = NULL;
    if (n_vocab < 1) {
        lir__errf(&e, LIR_EINVAL, "lir_sampler_create: n_vocab %d (need >= 1)", n_vocab);
        lir__err_copy(&e, err, err_len);
        return LIR_EINVAL;
    }
    char msg[LIR_ERR_MAX];
    if ((st = lir__sampling_params_check(p, n_vocab, false, msg, sizeof msg))) {
        lir__errf(&e, st, "lir_sampler_create: %s", msg);
        lir__err_copy(&e, err, err_len);
        return st;
    }
    lir_sampler *s = calloc(1, sizeof *s);
    if (!s) goto oom;
    s->p = *p;
    s->p.logit_bias = NULL;
    s->p.stop = NULL; /* stop strings belong to lir_stop_matcher */
    s->p.n_stop = 0;
    s->n_vocab = n_vocab;
    s->n_bias = p->n_logit_bias;
    if (s->n_bias) {
        s->bias = malloc(sizeof *s->bias * (size_t)s->n_bias);
        if (!s->bias) goto oom;
        memcpy(s->bias, p->logit_bias, sizeof *s->bias * (size_t)s->n_bias);
    }
    s->penalties = p->repeat_last_n != 0 &&
                   (p->repeat_penalty != 1.0f || p->frequency_penalty != 0.0f || p->presence_penalty != 0.0f);
    if (s->penalties) {
        s->cap_hist = p->repeat_last_n > 0 ? 2 * p->repeat_last_n : 256;
        s->hist = malloc(sizeof *s->hist * (size_t)s->cap_hist);
        s->counts = calloc((size_t)n_vocab, sizeof *s->counts);
        if (!s->hist || !s->counts) goto oom;
    }
    s->work = malloc(sizeof *s->work * (size_t)n_vocab);
    s->prob = malloc(sizeof *s->prob * (size_t)n_vocab);
    s->cand = malloc(sizeof *s->cand * (size_t)n_vocab);
    if (!s->work || !s->prob || !s->cand) goto oom;
    s->seed = p->seed == LIR_SEED_RANDOM ? draw_seed() : p->seed;
    lir_sampler_reset(s);
    *out = s;
    return LIR_OK;
oom:
    lir_sampler_free(s);
    lir__errf(&e, LIR_ENOMEM, "lir_sampler_create: out of memory (n_vocab %d)", n_vocab);
    lir__err_copy(&e, err, err_len);
    return LIR_ENOMEM;
}

void lir_sampler_reset(lir_sampler *s) {
    if (!s) return;
    s->n_hist = 0;
    s->mu = s->p.mirostat ? 2.0f * s->p.mirostat_tau : 0.0f;
    lir_rng_seed(s->rng, s->seed);
    s->err[0] = 0;
}

uint64_t lir_sampler_seed(const lir_sampler *s) { return s ? s->seed : 0; }
float lir_sampler_mirostat_mu(const lir_sampler *s) { return s ? s->mu : 0.0f; }
const char *lir_sampler_last_error(const lir_sampler *s) { return s ? s->err : ""; }

enum lir_status lir_sampler_accept(lir_sampler *s, lir_token token) {
    if (!s) return LIR_EINVAL;
    if (token < 0 || token >= s->n_vocab) {
        set_err(s, "lir_sampler_accept: token %d is outside [0, %d]", token, s->n_vocab - 1);
        return LIR_EINVAL;
    }
    if (!s->penalties) return LIR_OK;
    const int32_t w = s->p.repeat_last_n;
    if (s->n_hist == s->cap_hist) {
        if (w > 0) { /* keep the last w - 1; room for w + 1 more */
            memmove(s->hist, s->hist + s->n_hist - (w - 1), sizeof *s->hist * (size_t)(w - 1));
            s->n_hist = w - 1;
        } else { /* -1: the whole history */
            if (s->cap_hist > INT32_MAX / 2) {
                set_err(s, "lir_sampler_accept: history too long");
                return LIR_ENOMEM;
            }
            lir_token *h = realloc(s->hist, sizeof *h * (size_t)s->cap_hist * 2);
            if (!h) {
                set_err(s, "lir_sampler_accept: out of memory");
                return LIR_ENOMEM;
            }
            s->hist = h;
            s->cap_hist *= 2;
        }
    }
    s->hist[s->n_hist++] = token;
    return LIR_OK;
}

/* Log-softmax of the raw logits for the chosen token and the n_probs best: one pass for the
 * max and the best n_probs (insertion into a short sorted list), one for the sum. */
static void raw_logprobs(const float *logits, int32_t n_vocab, int32_t n_probs, lir_token tok, float *tok_lp,
                         struct lir_token_logprob *top, int32_t *n_top) {
    lir__tok best[LIR_N_PROBS_MAX];
    const int32_t k = !top ? 0 : n_probs < n_vocab ? n_probs : n_vocab;
    int32_t m = 0;
    float mx = -INFINITY;
    for (int32_t i = 0; i < n_vocab; i++) {
        const float l = logits[i];
        if (l > mx) mx = l;
        if (k == 0 || (m == k && !(l > best[k - 1].logit))) continue; /* ties: the lower id stays */
        int32_t j = m < k ? m++ : k - 1;
        while (j > 0 && best[j - 1].logit < l) {
            best[j] = best[j - 1];
            j--;
        }
        best[j] = (lir__tok){ .logit = l, .id = i };
    }
    double sum = 0.0; /* in blocks of 8 floats: see exp_sum in chain.c */
    int32_t i = 0;
    for (; i + 8 <= n_vocab; i += 8) {
        float b = 0.0f;
        for (int32_t j = 0; j < 8; j++) b += expf(logits[i + j] - mx);
        sum += b;
    }
    for (; i < n_vocab; i++) sum += expf(logits[i] - mx);
    const double lse = (double)mx + log(sum);
    if (tok_lp) *tok_lp = (float)((double)logits[tok] - lse);
    for (int32_t i = 0; i < m; i++) top[i] = (struct lir_token_logprob){ best[i].id, (float)((double)best[i].logit - lse) };
    if (n_top) *n_top = m;
}

/* Index of the largest of l[0..n) (lowest index on ties; no NaN): a max pass without a
 * loop-carried index, then a search for the first equal value — several times faster on a
 * 128k vocabulary than a running argmax. */
static int32_t argmax(const float *l, int32_t n) {
    float mx = l[0];
    for (int32_t i = 1; i < n; i++) mx = l[i] > mx ? l[i] : mx;
    int32_t i = 0;
    while (l[i] != mx) i++;
    return i;
}

/* The first token whose logit is NaN or +inf, or -1 (a branch-free pass first). */
static int32_t find_bad(const float *l, int32_t n) {
    int bad = 0;
    for (int32_t i = 0; i < n; i++) bad |= !(l[i] < INFINITY);
    if (!bad) return -1;
    for (int32_t i = 0; i < n; i++)
        if (!(l[i] < INFINITY)) return i;
    return -1;
}

enum lir_status lir_sampler_sample(lir_sampler *s, const float *logits, int32_t n_vocab, lir_token *token,
                                   float *token_logprob, struct lir_token_logprob *top, int32_t *n_top) {
    if (token) *token = -1;
    if (n_top) *n_top = 0;
    if (!s) return LIR_EINVAL;
    if (!logits || !token) {
        set_err(s, "lir_sampler_sample: NULL %s", !logits ? "logits" : "token");
        return LIR_EINVAL;
    }
    if (n_vocab != s->n_vocab) {
        set_err(s, "lir_sampler_sample: %d logits for a sampler of %d tokens", n_vocab, s->n_vocab);
        return LIR_EINVAL;
    }
    const struct lir_sampling_params *p = &s->p;
    const int32_t bad = find_bad(logits, n_vocab);
    if (bad >= 0) {
        set_err(s, "lir_sampler_sample: logit of token %d is %g", bad, (double)logits[bad]);
        return LIR_EINVAL;
    }

    /* 1. logit bias, 2. penalties over the last repeat_last_n accepted tokens: on a copy */
    const float *l = logits;
    if (s->n_bias || (s->penalties && s->n_hist)) {
        float *w = s->work;
        memcpy(w, logits, sizeof *w * (size_t)n_vocab);
        for (int32_t i = 0; i < s->n_bias; i++) w[s->bias[i].token] += s->bias[i].bias;
        if (s->penalties && s->n_hist) {
            const int32_t nw = p->repeat_last_n > 0 && s->n_hist > p->repeat_last_n ? p->repeat_last_n : s->n_hist;
            lir__sample_penalties(w, s->hist + s->n_hist - nw, nw, p->repeat_penalty, p->frequency_penalty,
                                  p->presence_penalty, s->counts);
        }
        l = w;
    }

    lir_token tok;
    if (p->temperature == 0.0f) { /* greedy: largest logit, lowest id on ties */
        tok = argmax(l, n_vocab);
        if (l[tok] == -INFINITY) goto banned;
    } else if (!p->mirostat && p->typical_p >= 1.0f && (p->top_k <= 0 || p->top_k >= n_vocab) && p->top_p >= 1.0f &&
               p->min_p <= 0.0f) { /* nothing truncates (OpenAI's defaults): one pass over the floats */
        tok = lir__sample_dist_raw(l, n_vocab, p->temperature, s->prob, s->rng);
        if (tok < 0) goto banned;
    } else {
        /* The first truncation runs on the raw logits and builds candidates for its survivors
         * only (chain.c, lir__gather_*); banned (-inf) tokens are never candidates. */
        lir__tok *d = s->cand;
        int32_t n;
        bool did_top_p = false;
        if (p->mirostat || p->typical_p < 1.0f) n = lir__gather_all(l, n_vocab, 0.0f, d);
        else if (p->top_k > 0 && p->top_k < n_vocab) n = lir__gather_top_k(l, n_vocab, p->top_k, d);
        else if (p->top_p < 1.0f) n = lir__gather_top_p(l, n_vocab, p->top_p, d), did_top_p = true;
        else n = lir__gather_all(l, n_vocab, p->min_p, d);
        if (!n) goto banned;
        lir__cands c = { d, n, false };
        int32_t idx;
        if (p->mirostat == 0) {
            lir__sample_top_k(&c, p->top_k); /* exact k of lir__gather_top_k's buckets */
            lir__sample_typical(&c, p->typical_p);
            if (!did_top_p) lir__sample_top_p(&c, p->top_p);
            lir__sample_min_p(&c, p->min_p); /* idempotent after lir__gather_all's */
            lir__sample_temp(&c, p->temperature);
            idx = lir__sample_dist(&c, s->rng);
        } else {
            lir__sample_temp(&c, p->temperature);
            idx = p->mirostat == 1 ? lir__sample_mirostat(&c, p->mirostat_tau, p->mirostat_eta, 100, n_vocab, &s->mu, s->rng)
                                   : lir__sample_mirostat_v2(&c, p->mirostat_tau, p->mirostat_eta, &s->mu, s->rng);
        }
        tok = c.d[idx].id;
    }
    *token = tok;
    if (token_logprob || (top && p->n_probs > 0))
        raw_logprobs(logits, n_vocab, p->n_probs, tok, token_logprob, top, n_top);
    s->err[0] = 0;
    return LIR_OK;
banned:
    set_err(s, "lir_sampler_sample: every token is banned (logit_bias -inf)");
    return LIR_EINVAL;
}

/* ---------------------------------------------------------------- state blob (snapshots) */

/* Layout, little-endian, every field written one by one (never a struct):
 *   u32 magic "LSMP", u32 version (1), i32 n_vocab,
 *   the chain's parameters (f32 as bits, i32): temperature, top_p, top_k, min_p, typical_p,
 *   repeat_penalty, repeat_last_n, frequency_penalty, presence_penalty, mirostat, mirostat_tau,
 *   mirostat_eta, n_probs, n_logit_bias, then n_logit_bias x (i32 token, f32 bias),
 *   u64 seed, 4 x u64 rng, f32 mu, i32 n_hist, n_hist x i32 tokens (the penalty window only).
 * Loading compares every parameter bit for bit: a state only means something to the same chain. */
#define SMP_MAGIC 0x504d534cu /* "LSMP" */
#define SMP_VERSION 1u

static void put32(uint8_t **p, uint32_t v) {
    for (int i = 0; i < 4; i++) (*p)[i] = (uint8_t)(v >> (8 * i));
    *p += 4;
}
static void put64(uint8_t **p, uint64_t v) {
    put32(p, (uint32_t)v);
    put32(p, (uint32_t)(v >> 32));
}
static uint32_t get32(const uint8_t **p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)(*p)[i] << (8 * i);
    *p += 4;
    return v;
}
static uint64_t get64(const uint8_t **p) {
    uint64_t lo = get32(p);
    return lo | (uint64_t)get32(p) << 32;
}

/* The tokens of the penalty window that the next sample reads. */
static int32_t window_len(const lir_sampler *s) {
    if (!s->penalties) return 0;
    const int32_t w = s->p.repeat_last_n;
    return w > 0 && s->n_hist > w ? w : s->n_hist;
}

#define SMP_N_PARAMS 14
static void params_words(const lir_sampler *s, uint32_t w[SMP_N_PARAMS]) {
    const struct lir_sampling_params *p = &s->p;
    w[0] = lir__f32_bits(p->temperature);
    w[1] = lir__f32_bits(p->top_p);
    w[2] = (uint32_t)p->top_k;
    w[3] = lir__f32_bits(p->min_p);
    w[4] = lir__f32_bits(p->typical_p);
    w[5] = lir__f32_bits(p->repeat_penalty);
    w[6] = (uint32_t)p->repeat_last_n;
    w[7] = lir__f32_bits(p->frequency_penalty);
    w[8] = lir__f32_bits(p->presence_penalty);
    w[9] = (uint32_t)p->mirostat;
    w[10] = lir__f32_bits(p->mirostat_tau);
    w[11] = lir__f32_bits(p->mirostat_eta);
    w[12] = (uint32_t)p->n_probs;
    w[13] = (uint32_t)s->n_bias;
}
static const char *const smp_param_names[SMP_N_PARAMS] = {
    "temperature", "top_p", "top_k", "min_p", "typical_p", "repeat_penalty", "repeat_last_n",
    "frequency_penalty", "presence_penalty", "mirostat", "mirostat_tau", "mirostat_eta", "n_probs", "n_logit_bias",
};

enum lir_status lir_sampler_state_save(const lir_sampler *s, void *buf, size_t cap, size_t *len) {
    if (!s || !len || (!buf && cap)) return LIR_EINVAL;
    const int32_t nw = window_len(s);
    const size_t need = 4 * 3 + 4 * SMP_N_PARAMS + 8 * (size_t)s->n_bias + 8 * 5 + 4 + 4 + 4 * (size_t)nw;
    *len = need;
    if (cap < need) return LIR_ERANGE;
    uint8_t *p = buf;
    put32(&p, SMP_MAGIC);
    put32(&p, SMP_VERSION);
    put32(&p, (uint32_t)s->n_vocab);
    uint32_t w[SMP_N_PARAMS];
    params_words(s, w);
    for (int i = 0; i < SMP_N_PARAMS; i++) put32(&p, w[i]);
    for (int32_t i = 0; i < s->n_bias; i++) {
        put32(&p, (uint32_t)s->bias[i].token);
        put32(&p, lir__f32_bits(s->bias[i].bias));
    }
    put64(&p, s->seed);
    for (int i = 0; i < 4; i++) put64(&p, s->rng[i]);
    put32(&p, lir__f32_bits(s->mu));
    put32(&p, (uint32_t)nw);
    for (int32_t i = 0; i < nw; i++) put32(&p, (uint32_t)s->hist[s->n_hist - nw + i]);
    return LIR_OK;
}

enum lir_status lir_sampler_state_load(lir_sampler *s, const void *buf, size_t len) {
    if (!s) return LIR_EINVAL;
    if (!buf && len) {
        set_err(s, "lir_sampler_state_load: NULL state with %zu bytes", len);
        return LIR_EINVAL;
    }
    const uint8_t *p = buf, *end = p + len;
    const size_t fixed = 4 * 3 + 4 * SMP_N_PARAMS;
    if (len < fixed) {
        set_err(s, "lir_sampler_state_load: %zu bytes, shorter than the %zu-byte header", len, fixed);
        return LIR_EFORMAT;
    }
    const uint32_t magic = get32(&p), version = get32(&p);
    if (magic != SMP_MAGIC) {
        set_err(s, "lir_sampler_state_load: bad magic 0x%08x (expected 0x%08x, \"LSMP\")", magic, SMP_MAGIC);
        return LIR_EFORMAT;
    }
    if (version != SMP_VERSION) {
        set_err(s, "lir_sampler_state_load: version %u (this build reads version %u)", version, SMP_VERSION);
        return LIR_EUNSUPPORTED;
    }
    const int32_t n_vocab = (int32_t)get32(&p);
    if (n_vocab != s->n_vocab) {
        set_err(s, "lir_sampler_state_load: state of a %d-token vocabulary, sampler has %d", n_vocab, s->n_vocab);
        return LIR_EINVAL;
    }
    uint32_t w[SMP_N_PARAMS];
    params_words(s, w);
    for (int i = 0; i < SMP_N_PARAMS; i++) {
        const uint32_t v = get32(&p);
        if (v != w[i]) {
            set_err(s, "lir_sampler_state_load: %s differs from the sampler's (state 0x%08x, sampler 0x%08x): "
                       "restore into a sampler made with the same parameters", smp_param_names[i], v, w[i]);
            return LIR_EINVAL;
        }
    }
    if ((size_t)(end - p) < 8 * (size_t)s->n_bias + 8 * 5 + 4 + 4) {
        set_err(s, "lir_sampler_state_load: truncated (%zu bytes)", len);
        return LIR_EFORMAT;
    }
    for (int32_t i = 0; i < s->n_bias; i++) {
        const int32_t t = (int32_t)get32(&p);
        const uint32_t b = get32(&p);
        if (t != s->bias[i].token || b != lir__f32_bits(s->bias[i].bias)) {
            set_err(s, "lir_sampler_state_load: logit_bias entry %d differs from the sampler's", i);
            return LIR_EINVAL;
        }
    }
    const uint64_t seed = get64(&p);
    uint64_t rng[4];
    for (int i = 0; i < 4; i++) rng[i] = get64(&p);
    const float mu = lir__bits_f32(get32(&p));
    const uint32_t nw = get32(&p);
    if ((size_t)(end - p) != 4 * (size_t)nw) {
        set_err(s, "lir_sampler_state_load: %u history tokens need %zu bytes, %zu remain", nw, 4 * (size_t)nw,
                (size_t)(end - p));
        return LIR_EFORMAT;
    }
    if (nw && !s->penalties) {
        set_err(s, "lir_sampler_state_load: %u history tokens for a sampler without penalties", nw);
        return LIR_EFORMAT;
    }
    if (s->p.repeat_last_n > 0 && nw > (uint32_t)s->p.repeat_last_n) {
        set_err(s, "lir_sampler_state_load: %u history tokens, more than repeat_last_n %d", nw, s->p.repeat_last_n);
        return LIR_EFORMAT;
    }
    if (!isfinite(mu) || (rng[0] | rng[1] | rng[2] | rng[3]) == 0) {
        set_err(s, "lir_sampler_state_load: %s", !isfinite(mu) ? "mirostat mu is not finite"
                                                                : "generator state is all zeros");
        return LIR_EFORMAT;
    }
    for (uint32_t i = 0; i < nw; i++) {
        const uint8_t *q = p + 4 * (size_t)i;
        const int32_t t = (int32_t)get32(&q);
        if (t < 0 || t >= s->n_vocab) {
            set_err(s, "lir_sampler_state_load: history token %u is %d, outside [0, %d]", i, t, s->n_vocab - 1);
            return LIR_EFORMAT;
        }
    }
    if (nw > (uint32_t)s->cap_hist) { /* repeat_last_n -1: the whole history */
        lir_token *h = realloc(s->hist, sizeof *h * (size_t)nw);
        if (!h) {
            set_err(s, "lir_sampler_state_load: out of memory (%u history tokens)", nw);
            return LIR_ENOMEM;
        }
        s->hist = h;
        s->cap_hist = (int32_t)nw;
    }
    for (uint32_t i = 0; i < nw; i++) s->hist[i] = (lir_token)get32(&p);
    s->n_hist = (int32_t)nw;
    s->seed = seed;
    memcpy(s->rng, rng, sizeof rng);
    s->mu = mu;
    s->err[0] = 0;
    return LIR_OK;
}
