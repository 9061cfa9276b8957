/* test_sampler.c — the public sampler (lir_sampler_*): chain order, greedy, logit bias,
 * penalties through accept, mirostat state, log-probabilities, seeded reproducibility, and
 * chi-square goodness-of-fit of sampled frequencies against the distribution the chain
 * should produce (computed by hand here). Seeds are fixed, so the statistical tests are
 * deterministic; the threshold p > 1e-3 is one a wrong transform fails by many orders (see
 * chi_square_rejects_a_wrong_distribution). */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include "lir.h"

/* ---------------------------------------------------------------- chi-square p-value */

/* Regularized upper incomplete gamma Q(a, x) (series for x < a + 1, else continued fraction). */
static double gamma_q(double a, double x) {
    if (x <= 0) return 1.0;
    const double gln = lgamma(a);
    if (x < a + 1) {
        double ap = a, sum = 1.0 / a, del = sum;
        for (int n = 0; n < 1000; n++) {
            del *= x / ++ap;
            sum += del;
            if (fabs(del) < fabs(sum) * 1e-15) break;
        }
        return 1.0 - sum * exp(-x + a * log(x) - gln);
    }
    double b = x + 1 - a, c = 1e300, d = 1 / b, h = d;
    for (int i = 1; i < 1000; i++) {
        double an = -i * (i - a);
        b += 2;
        d = an * d + b;
        if (fabs(d) < 1e-300) d = 1e-300;
        c = b + an / c;
        if (fabs(c) < 1e-300) c = 1e-300;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < 1e-15) break;
    }
    return exp(-x + a * log(x) - gln) * h;
}

/* p-value of Pearson's chi-square of counts against probabilities expect[0..k) (tokens with
 * expect 0 must have count 0: any draw there fails outright). */
static double chi_square_p(const int *counts, const double *expect, int k, int total) {
    double chi = 0;
    int df = -1;
    for (int i = 0; i < k; i++) {
        if (expect[i] == 0) {
            cr_assert_eq(counts[i], 0, "token %d has probability 0 but was drawn %d times", i, counts[i]);
            continue;
        }
        double e = expect[i] * total;
        chi += (counts[i] - e) * (counts[i] - e) / e;
        df++;
    }
    return gamma_q(df / 2.0, chi / 2.0);
}

static lir_sampler *make(const struct lir_sampling_params *p, int32_t n_vocab) {
    lir_sampler *s = NULL;
    char err[256];
    enum lir_status st = lir_sampler_create(p, n_vocab, &s, err, sizeof err);
    cr_assert_eq(st, LIR_OK, "lir_sampler_create: %s", err);
    return s;
}

static struct lir_sampling_params plain(void) { /* every step off, temperature 1 */
    struct lir_sampling_params p = lir_sampling_params_default();
    p.temperature = 1.0f;
    p.top_p = 1.0f;
    p.repeat_penalty = 1.0f;
    p.seed = 1234;
    return p;
}

static lir_token draw(lir_sampler *s, const float *l, int32_t n) {
    lir_token t;
    cr_assert_eq(lir_sampler_sample(s, l, n, &t, NULL, NULL, NULL), LIR_OK, "%s", lir_sampler_last_error(s));
    return t;
}

/* ---------------------------------------------------------------- statistics */

Test(sample_sampler, chi_square_default_chain) {
    /* ids 0..7, logits 1, 3, 0, 2.5, -1, 2, 1.5, .5. Chain order: 1, 3, 5, 6, 0, 7, 2, 4.
     * top_k 6 keeps 1 3 5 6 0 7; their softmax: e^3, e^2.5, e^2, e^1.5, e^1, e^.5 over 48.51 =
     * .414 .251 .152 .092 .056 .034, cumulative .414 .665 .818 .910: top_p .85 keeps 1 3 5 6.
     * min_p .25: logit >= 3 + ln .25 = 1.614 keeps 1 3 5. temperature .7 -> softmax(l / .7). */
    const float l[8] = { 1.0f, 3.0f, 0.0f, 2.5f, -1.0f, 2.0f, 1.5f, 0.5f };
    struct lir_sampling_params p = plain();
    p.top_k = 6;
    p.top_p = 0.85f;
    p.min_p = 0.25f;
    p.temperature = 0.7f;
    lir_sampler *s = make(&p, 8);
    double expect[8] = { 0 }, z = 0;
    const int keep[3] = { 1, 3, 5 };
    for (int i = 0; i < 3; i++) z += exp(l[keep[i]] / 0.7);
    for (int i = 0; i < 3; i++) expect[keep[i]] = exp(l[keep[i]] / 0.7) / z;
    enum { N = 30000 };
    int counts[8] = { 0 };
    for (int i = 0; i < N; i++) counts[draw(s, l, 8)]++;
    double pv = chi_square_p(counts, expect, 8, N);
    cr_assert(pv > 1e-3, "chi-square p = %g (counts %d %d %d)", pv, counts[1], counts[3], counts[5]);
    lir_sampler_free(s);
}

Test(sample_sampler, chi_square_temperature_full_vocab) {
    enum { V = 40, N = 60000 };
    float l[V];
    for (int i = 0; i < V; i++) l[i] = (float)sin(i * 1.7) * 3.0f;
    struct lir_sampling_params p = plain();
    p.temperature = 1.6f;
    p.seed = 99;
    lir_sampler *s = make(&p, V);
    double expect[V], z = 0;
    for (int i = 0; i < V; i++) z += exp(l[i] / 1.6);
    for (int i = 0; i < V; i++) expect[i] = exp(l[i] / 1.6) / z;
    int counts[V] = { 0 };
    for (int i = 0; i < N; i++) counts[draw(s, l, V)]++;
    double pv = chi_square_p(counts, expect, V, N);
    cr_assert(pv > 1e-3, "chi-square p = %g", pv);
    lir_sampler_free(s);
}

Test(sample_sampler, chi_square_typical_and_bias) {
    /* bias +ln 2 on token 2 of (.2 .4 .1 .3) gives weights .2 .4 .2 .3 over 1.1:
     * .1818 .3636 .1818 .2727. H = 1.3552; surprises 1.705 1.012 1.705 1.299, scores .350
     * .344 .350 .056: order 3, 1, 0, 2 (ties in score: chain order, and 0 before 2 by id);
     * typical .6: cumulative .273, .636 > .6 -> keep 3, 1 -> .4286, .5714 */
    const float l[4] = { logf(0.2f), logf(0.4f), logf(0.1f), logf(0.3f) };
    const struct lir_logit_bias b[1] = { { 2, logf(2.0f) } };
    struct lir_sampling_params p = plain();
    p.typical_p = 0.6f;
    p.logit_bias = b;
    p.n_logit_bias = 1;
    lir_sampler *s = make(&p, 4);
    const double expect[4] = { 0, 0.4 / 0.7, 0, 0.3 / 0.7 };
    enum { N = 20000 };
    int counts[4] = { 0 };
    for (int i = 0; i < N; i++) counts[draw(s, l, 4)]++;
    double pv = chi_square_p(counts, expect, 4, N);
    cr_assert(pv > 1e-3, "chi-square p = %g", pv);
    lir_sampler_free(s);
}

Test(sample_sampler, chi_square_rejects_a_wrong_distribution) {
    /* the power check: draws at temperature .7 tested against temperature 1 must fail hard */
    const float l[4] = { logf(0.2f), logf(0.4f), logf(0.1f), logf(0.3f) };
    struct lir_sampling_params p = plain();
    p.temperature = 0.7f;
    lir_sampler *s = make(&p, 4);
    enum { N = 20000 };
    int counts[4] = { 0 };
    for (int i = 0; i < N; i++) counts[draw(s, l, 4)]++;
    const double wrong[4] = { 0.2, 0.4, 0.1, 0.3 };
    double pv = chi_square_p(counts, wrong, 4, N);
    cr_assert(pv < 1e-9, "a sampler that ignored temperature would pass: p = %g", pv);
    double right[4], z = 0;
    for (int i = 0; i < 4; i++) z += pow(wrong[i], 1 / 0.7);
    for (int i = 0; i < 4; i++) right[i] = pow(wrong[i], 1 / 0.7) / z;
    cr_assert(chi_square_p(counts, right, 4, N) > 1e-3);
    lir_sampler_free(s);
}

/* ---------------------------------------------------------------- determinism */

Test(sample_sampler, seeded_reproducibility_and_reset) {
    enum { V = 50, T = 500 };
    float l[V];
    struct lir_sampling_params p = lir_sampling_params_default(); /* top_p .9, temp .7, repeat 1.1 */
    p.seed = 42;
    lir_sampler *a = make(&p, V), *b = make(&p, V);
    p.seed = 43;
    lir_sampler *c = make(&p, V);
    lir_token ta[T];
    int differ = 0;
    for (int t = 0; t < T; t++) {
        for (int i = 0; i < V; i++) l[i] = (float)sin(i * 0.37 + t * 0.11) * 2.0f;
        lir_token x = draw(a, l, V), y = draw(b, l, V), z = draw(c, l, V);
        cr_assert_eq(x, y, "step %d: same seed, same logits, different tokens", t);
        differ += x != z;
        ta[t] = x;
        lir_sampler_accept(a, x);
        lir_sampler_accept(b, y);
        lir_sampler_accept(c, z);
    }
    cr_assert(differ > 0, "another seed should give other tokens");
    lir_sampler_reset(a);
    for (int t = 0; t < T; t++) {
        for (int i = 0; i < V; i++) l[i] = (float)sin(i * 0.37 + t * 0.11) * 2.0f;
        lir_token x = draw(a, l, V);
        cr_assert_eq(x, ta[t], "after reset, step %d", t);
        lir_sampler_accept(a, x);
    }
    lir_sampler_free(a);
    lir_sampler_free(b);
    lir_sampler_free(c);
}

Test(sample_sampler, random_seed_is_reported_and_reproduces) {
    const float l[6] = { 0, 0, 0, 0, 0, 0 };
    struct lir_sampling_params p = plain();
    p.seed = LIR_SEED_RANDOM;
    lir_sampler *a = make(&p, 6);
    p.seed = lir_sampler_seed(a);
    cr_assert_neq(p.seed, LIR_SEED_RANDOM);
    lir_sampler *b = make(&p, 6);
    for (int i = 0; i < 100; i++) cr_assert_eq(draw(a, l, 6), draw(b, l, 6));
    lir_sampler_free(a);
    lir_sampler_free(b);
}

/* ---------------------------------------------------------------- greedy, bias, penalties */

Test(sample_sampler, greedy_after_bias_and_penalties) {
    struct lir_sampling_params p = plain();
    p.temperature = 0.0f;
    const float l[3] = { 3.0f, 2.9f, 1.0f };
    lir_sampler *s = make(&p, 3);
    cr_assert_eq(draw(s, l, 3), 0);
    lir_sampler_free(s);

    p.repeat_penalty = 1.1f; /* 3 / 1.1 = 2.727 < 2.9 once token 0 was seen */
    s = make(&p, 3);
    cr_assert_eq(draw(s, l, 3), 0);
    cr_assert_eq(lir_sampler_accept(s, 0), LIR_OK);
    cr_assert_eq(draw(s, l, 3), 1);
    lir_sampler_reset(s); /* history forgotten */
    cr_assert_eq(draw(s, l, 3), 0);
    cr_assert_eq(lir_sampler_accept(s, 3), LIR_EINVAL);
    cr_assert(strstr(lir_sampler_last_error(s), "token 3"));
    lir_sampler_free(s);

    const struct lir_logit_bias ban[1] = { { 0, -INFINITY } };
    p.repeat_penalty = 1.0f;
    p.logit_bias = ban;
    p.n_logit_bias = 1;
    s = make(&p, 3);
    cr_assert_eq(draw(s, l, 3), 1);
    lir_sampler_free(s);
    const struct lir_logit_bias up[1] = { { 2, 2.5f } }; /* 1 + 2.5 = 3.5 */
    p.logit_bias = up;
    s = make(&p, 3);
    cr_assert_eq(draw(s, l, 3), 2);
    lir_sampler_free(s);
}

Test(sample_sampler, penalty_window_is_repeat_last_n) {
    /* logits 2, 2, 0: repeat 2 halves a seen positive logit. Window 2 over history 0, 1, 1:
     * only token 1 is in it, so token 0 (2.0) beats token 1 (1.0). */
    struct lir_sampling_params p = plain();
    p.temperature = 0.0f;
    p.repeat_penalty = 2.0f;
    p.repeat_last_n = 2;
    const float l[3] = { 2.0f, 2.0f, 0.0f };
    lir_sampler *s = make(&p, 3);
    lir_sampler_accept(s, 0);
    cr_assert_eq(draw(s, l, 3), 1);
    lir_sampler_accept(s, 1);
    lir_sampler_accept(s, 1);
    cr_assert_eq(draw(s, l, 3), 0);
    for (int i = 0; i < 1000; i++) lir_sampler_accept(s, 2); /* the buffer wraps many times */
    lir_sampler_accept(s, 0);
    cr_assert_eq(draw(s, l, 3), 1, "0 is in the window again");
    lir_sampler_free(s);

    /* -1: the whole history; frequency and presence: 2 - 3*.5 - .25 = .25 < 0.5 */
    p.repeat_penalty = 1.0f;
    p.repeat_last_n = -1;
    p.frequency_penalty = 0.5f;
    p.presence_penalty = 0.25f;
    const float m[3] = { 2.0f, 0.5f, 0.0f };
    s = make(&p, 3);
    for (int i = 0; i < 3; i++) lir_sampler_accept(s, 0);
    for (int i = 0; i < 5000; i++) lir_sampler_accept(s, 2);
    cr_assert_eq(draw(s, m, 3), 1);
    lir_sampler_free(s);

    p.repeat_last_n = 0; /* off */
    s = make(&p, 3);
    for (int i = 0; i < 3; i++) lir_sampler_accept(s, 0);
    cr_assert_eq(draw(s, m, 3), 0);
    lir_sampler_free(s);
}

Test(sample_sampler, every_token_banned_is_an_error) {
    const struct lir_logit_bias ban[2] = { { 0, -INFINITY }, { 1, -INFINITY } };
    struct lir_sampling_params p = plain();
    p.logit_bias = ban;
    p.n_logit_bias = 2;
    const float l[2] = { 1, 2 };
    for (int g = 0; g < 2; g++) {
        p.temperature = g ? 0.0f : 1.0f;
        lir_sampler *s = make(&p, 2);
        lir_token t = 5;
        cr_assert_eq(lir_sampler_sample(s, l, 2, &t, NULL, NULL, NULL), LIR_EINVAL);
        cr_assert_eq(t, -1);
        cr_assert(strstr(lir_sampler_last_error(s), "banned"));
        lir_sampler_free(s);
    }
}

Test(sample_sampler, bad_inputs) {
    struct lir_sampling_params p = plain();
    lir_sampler *s = make(&p, 3);
    const float nan3[3] = { 0, NAN, 1 };
    lir_token t;
    cr_assert_eq(lir_sampler_sample(s, nan3, 3, &t, NULL, NULL, NULL), LIR_EINVAL);
    cr_assert(strstr(lir_sampler_last_error(s), "token 1"));
    const float ok[3] = { 0, 1, 2 };
    cr_assert_eq(lir_sampler_sample(s, ok, 4, &t, NULL, NULL, NULL), LIR_EINVAL);
    cr_assert_eq(lir_sampler_sample(s, NULL, 3, &t, NULL, NULL, NULL), LIR_EINVAL);
    lir_sampler_free(s);
    lir_sampler_free(NULL);

    char err[256];
    cr_assert_eq(lir_sampler_create(&p, 0, &s, err, sizeof err), LIR_EINVAL);
    cr_assert_null(s);
    const struct lir_logit_bias far[1] = { { 3, 1.0f } };
    p.logit_bias = far;
    p.n_logit_bias = 1;
    cr_assert_eq(lir_sampler_create(&p, 3, &s, err, sizeof err), LIR_ERANGE);
    cr_assert(strstr(err, "logit_bias") && strstr(err, "token 3"), "%s", err);
    p.n_logit_bias = 0;
    p.temperature = 3.0f; /* above the spec's 2: a request error, but a sampler can run it */
    char msg[256];
    cr_assert_eq(lir_sampling_params_validate(&p, msg, sizeof msg), LIR_ERANGE);
    cr_assert_eq(lir_sampler_create(&p, 3, &s, err, sizeof err), LIR_OK, "%s", err);
    lir_sampler_free(s);
    p.temperature = INFINITY;
    cr_assert_eq(lir_sampler_create(&p, 3, &s, err, sizeof err), LIR_ERANGE);
    cr_assert(strstr(err, "temperature"), "%s", err);
    p.temperature = 1.0f;
    p.top_p = 1.5f; /* everything else keeps the spec's ranges */
    cr_assert_eq(lir_sampler_create(&p, 3, &s, err, sizeof err), LIR_ERANGE);
    cr_assert(strstr(err, "top_p: 1.5"), "%s", err);
}

/* ---------------------------------------------------------------- mirostat through the API */

Test(sample_sampler, mirostat_v2_mu_follows_draws) {
    /* temperature 1, tau 1.25: mu starts at 2.5, keeps p >= 2^-2.5 of (.5 .25 .125 .125) -> 0, 1 */
    const float l[4] = { logf(0.5f), logf(0.25f), logf(0.125f), logf(0.125f) };
    struct lir_sampling_params p = plain();
    p.mirostat = 2;
    p.mirostat_tau = 1.25f;
    p.mirostat_eta = 0.1f;
    p.top_k = 1; /* ignored under mirostat */
    lir_sampler *s = make(&p, 4);
    cr_assert_float_eq(lir_sampler_mirostat_mu(s), 2.5f, 1e-6);
    lir_token t = draw(s, l, 4);
    cr_assert(t == 0 || t == 1);
    double pt = t == 0 ? 2.0 / 3 : 1.0 / 3;
    cr_assert_float_eq(lir_sampler_mirostat_mu(s), 2.5 - 0.1 * (-log2(pt) - 1.25), 1e-5);
    lir_sampler_reset(s);
    cr_assert_float_eq(lir_sampler_mirostat_mu(s), 2.5f, 1e-6);
    /* mu converges so that the average surprise approaches tau */
    double sum = 0;
    for (int i = 0; i < 4000; i++) {
        float before = lir_sampler_mirostat_mu(s);
        draw(s, l, 4);
        sum += (before - lir_sampler_mirostat_mu(s)) / 0.1; /* = surprise - tau */
    }
    cr_assert(fabs(sum / 4000) < 0.05, "mean surprise - tau = %g", sum / 4000);
    lir_sampler_free(s);
}

Test(sample_sampler, mirostat_v1_runs_through_the_api) {
    enum { V = 1000 };
    static float l[V];
    for (int i = 0; i < V; i++) l[i] = -2.0f * logf((float)(i + 1));
    struct lir_sampling_params p = plain();
    p.mirostat = 1;
    p.mirostat_tau = 3.0f;
    p.mirostat_eta = 0.2f;
    lir_sampler *s = make(&p, V);
    cr_assert_float_eq(lir_sampler_mirostat_mu(s), 6.0f, 1e-6);
    lir_token t = draw(s, l, V);
    cr_assert(t >= 0 && t < 8, "k = 8 at mu 6 (see test_chain.c), drew %d", t);
    double h8 = 0;
    for (int j = 1; j <= 8; j++) h8 += 1.0 / (j * j);
    double pt = 1.0 / ((t + 1.0) * (t + 1.0)) / h8;
    cr_assert_float_eq(lir_sampler_mirostat_mu(s), 6.0 - 0.2 * (-log2(pt) - 3.0), 1e-4);
    lir_sampler_free(s);
}

/* ---------------------------------------------------------------- log-probabilities */

Test(sample_sampler, n_probs_are_raw_log_softmax) {
    /* bias, penalties and temperature do not change what is reported */
    const float l[5] = { 0.5f, 2.0f, -1.0f, 2.0f, 1.0f };
    const struct lir_logit_bias b[1] = { { 2, 50.0f } };
    struct lir_sampling_params p = plain();
    p.temperature = 0.3f;
    p.logit_bias = b;
    p.n_logit_bias = 1;
    p.n_probs = 3;
    lir_sampler *s = make(&p, 5);
    double z = 0;
    for (int i = 0; i < 5; i++) z += exp(l[i]);
    struct lir_token_logprob top[3];
    int32_t n_top = -1;
    float lp = 0;
    lir_token t;
    cr_assert_eq(lir_sampler_sample(s, l, 5, &t, &lp, top, &n_top), LIR_OK);
    cr_assert_eq(t, 2, "the +50 bias wins");
    cr_assert_float_eq(lp, -1.0 - log(z), 1e-5);
    cr_assert_eq(n_top, 3);
    const int want[3] = { 1, 3, 4 }; /* 2.0 (id 1), 2.0 (id 3), 1.0 */
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(top[i].token, want[i]);
        cr_assert_float_eq(top[i].logprob, l[want[i]] - log(z), 1e-5);
    }
    lir_sampler_free(s);

    p.n_probs = 20; /* more than the vocabulary: all of it */
    s = make(&p, 5);
    struct lir_token_logprob all[20];
    cr_assert_eq(lir_sampler_sample(s, l, 5, &t, NULL, all, &n_top), LIR_OK);
    cr_assert_eq(n_top, 5);
    double sum = 0;
    for (int i = 0; i < 5; i++) sum += exp(all[i].logprob);
    cr_assert_float_eq(sum, 1.0, 1e-5);
    lir_sampler_free(s);
}

/* ---------------------------------------------------------------- larger vocabulary */

static const float *cmp_logits;
static int cmp_by_logit(const void *a, const void *b) { /* chain order: logit desc, id asc */
    const int x = *(const int *)a, y = *(const int *)b;
    if (cmp_logits[x] != cmp_logits[y]) return cmp_logits[x] > cmp_logits[y] ? -1 : 1;
    return x - y;
}

/* The chain's distribution computed the slow way: sort everything, then top_k, top_p (on the
 * renormalized survivors), min_p, temperature. */
static void reference_chain(const float *l, int v, int top_k, double top_p, double min_p, double temp, double *out) {
    static int order[4096];
    for (int i = 0; i < v; i++) order[i] = i, out[i] = 0;
    cmp_logits = l;
    qsort(order, (size_t)v, sizeof *order, cmp_by_logit);
    int n = top_k > 0 && top_k < v ? top_k : v;
    double z = 0, cum = 0;
    for (int i = 0; i < n; i++) z += exp(l[order[i]] - l[order[0]]);
    if (top_p < 1)
        for (int i = 0; i < n; i++)
            if ((cum += exp(l[order[i]] - l[order[0]]) / z) >= top_p) {
                n = i + 1;
                break;
            }
    if (min_p > 0)
        for (int i = 0; i < n; i++)
            if (l[order[i]] < l[order[0]] + log(min_p)) {
                n = i;
                break;
            }
    z = 0;
    for (int i = 0; i < n; i++) z += exp((l[order[i]] - l[order[0]]) / temp);
    for (int i = 0; i < n; i++) out[order[i]] = exp((l[order[i]] - l[order[0]]) / temp) / z;
}

Test(sample_sampler, chi_square_fast_paths_on_a_larger_vocabulary) {
    enum { V = 3000, N = 60000 };
    static float l[V];
    static double expect[V];
    static int counts[V];
    uint64_t x = 777;
    for (int i = 0; i < V; i++) { /* a long tail and a few strong tokens */
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        l[i] = (float)((double)(x >> 11) * 0x1.0p-53 * 6.0 - 3.0);
    }
    for (int i = 0; i < 12; i++) l[(i * 251) % V] += 6.0f - 0.4f * i;
    const struct { int top_k; float top_p, min_p, temp; } cfg[] = {
        { 0, 0.8f, 0.0f, 0.9f },    /* lir__gather_top_p */
        { 0, 1.0f, 0.05f, 1.3f },   /* lir__gather_all with min_p */
        { 50, 0.95f, 0.02f, 0.7f }, /* lir__gather_top_k, then the steps on the survivors */
        { 0, 0.3f, 0.0f, 1.0f },
    };
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        struct lir_sampling_params p = plain();
        p.top_k = cfg[c].top_k;
        p.top_p = cfg[c].top_p;
        p.min_p = cfg[c].min_p;
        p.temperature = cfg[c].temp;
        p.seed = 1000 + c;
        lir_sampler *s = make(&p, V);
        reference_chain(l, V, cfg[c].top_k, cfg[c].top_p, cfg[c].min_p, cfg[c].temp, expect);
        memset(counts, 0, sizeof counts);
        for (int i = 0; i < N; i++) counts[draw(s, l, V)]++;
        int kept = 0;
        for (int i = 0; i < V; i++) kept += expect[i] > 0;
        double pv = chi_square_p(counts, expect, V, N);
        cr_assert(pv > 1e-3, "config %zu (%d survivors): chi-square p = %g", c, kept, pv);
        lir_sampler_free(s);
    }
}
