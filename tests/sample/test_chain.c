/* test_chain.c — each step of the sampler chain (src/sample/chain.c) on hand-built logits,
 * held to survivors and probabilities computed by hand here.
 *
 * The base vector P4: ids 0..3 with probabilities 0.2, 0.4, 0.1, 0.3 (logits ln p), so the
 * chain order is id1 (.4), id3 (.3), id0 (.2), id2 (.1). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "sample/sample.h"

static lir__tok buf[8192];

static lir__cands make(const float *l, int32_t n) {
    for (int32_t i = 0; i < n; i++) buf[i] = (lir__tok){ .logit = l[i], .id = i };
    return (lir__cands){ buf, n, false };
}

static lir__cands p4(void) {
    static float l[4];
    l[0] = logf(0.2f), l[1] = logf(0.4f), l[2] = logf(0.1f), l[3] = logf(0.3f);
    return make(l, 4);
}

/* The survivors' ids, in any order, must be exactly want[0..n). */
static void expect_ids(const lir__cands *c, const int32_t *want, int32_t n) {
    cr_assert_eq(c->n, n, "survivors: %d, expected %d", c->n, n);
    for (int32_t i = 0; i < n; i++) {
        bool found = false;
        for (int32_t j = 0; j < c->n; j++) found |= c->d[j].id == want[i];
        cr_assert(found, "token %d should survive", want[i]);
    }
}

static float p_of(const lir__cands *c, int32_t id) {
    for (int32_t j = 0; j < c->n; j++)
        if (c->d[j].id == id) return c->d[j].p;
    return -1.0f;
}

Test(sample_chain, softmax_and_sort) {
    lir__cands c = p4();
    lir__cands_softmax(&c);
    cr_assert_float_eq(p_of(&c, 0), 0.2f, 1e-6);
    cr_assert_float_eq(p_of(&c, 1), 0.4f, 1e-6);
    lir__cands_sort(&c);
    const int32_t order[] = { 1, 3, 0, 2 };
    for (int i = 0; i < 4; i++) cr_assert_eq(c.d[i].id, order[i]);
}

Test(sample_chain, sort_and_select_large_with_ties) {
    /* 5000 logits with many ties: the order must be (logit desc, id asc) exactly */
    enum { N = 5000 };
    static float l[N];
    uint64_t rng[4];
    lir_rng_seed(rng, 7);
    for (int i = 0; i < N; i++) l[i] = (float)(int)(lir_rng_uniform(rng) * 50);
    lir__cands c = make(l, N);
    lir__cands_partial_sort(&c, 100);
    for (int i = 1; i < 100; i++) cr_assert(lir__tok_before(&c.d[i - 1], &c.d[i]));
    for (int i = 100; i < N; i++) cr_assert(lir__tok_before(&c.d[99], &c.d[i]), "head must beat the rest");
    lir__cands_sort(&c);
    for (int i = 1; i < N; i++) cr_assert(lir__tok_before(&c.d[i - 1], &c.d[i]));
}

Test(sample_chain, top_k) {
    lir__cands c = p4();
    lir__sample_top_k(&c, 2);
    const int32_t want[] = { 1, 3 };
    expect_ids(&c, want, 2);
    cr_assert(c.sorted);
    lir__cands_softmax(&c); /* renormalized: .4/.7, .3/.7 */
    cr_assert_float_eq(p_of(&c, 1), 4.0f / 7, 1e-6);
    cr_assert_float_eq(p_of(&c, 3), 3.0f / 7, 1e-6);

    c = p4();
    lir__sample_top_k(&c, 0); /* off */
    cr_assert_eq(c.n, 4);
    lir__sample_top_k(&c, 9); /* >= n: everything */
    cr_assert_eq(c.n, 4);
    lir__sample_top_k(&c, 1);
    cr_assert_eq(c.n, 1);
    cr_assert_eq(c.d[0].id, 1);

    /* a tie at the boundary keeps the lower id */
    const float t[] = { 1, 5, 5, 0 };
    c = make(t, 4);
    lir__sample_top_k(&c, 1);
    cr_assert_eq(c.d[0].id, 1);
}

Test(sample_chain, top_p) {
    /* cumulative in chain order: .4, .7, .9, 1.0; keep the shortest prefix with sum >= p */
    lir__cands c = p4();
    lir__sample_top_p(&c, 0.65f);
    const int32_t w2[] = { 1, 3 };
    expect_ids(&c, w2, 2);
    c = p4();
    lir__sample_top_p(&c, 0.75f);
    const int32_t w3[] = { 1, 3, 0 };
    expect_ids(&c, w3, 3);
    lir__cands_softmax(&c); /* .4/.9, .3/.9, .2/.9 */
    cr_assert_float_eq(p_of(&c, 0), 0.2f / 0.9f, 1e-6);
    c = p4();
    lir__sample_top_p(&c, 0.3f);
    const int32_t w1[] = { 1 };
    expect_ids(&c, w1, 1);
    c = p4();
    lir__sample_top_p(&c, 0.0f); /* keeps the best one */
    expect_ids(&c, w1, 1);
    c = p4();
    lir__sample_top_p(&c, 1.0f); /* off */
    cr_assert_eq(c.n, 4);
}

Test(sample_chain, top_p_large_vocab_needs_several_rounds) {
    /* 1000 equal logits: p = .001 each; top_p .5 keeps 500 tokens (ids 0..499 by tie order),
     * which takes the 64 -> 256 -> 1000 rounds */
    enum { N = 1000 };
    static float l[N];
    for (int i = 0; i < N; i++) l[i] = 0.25f;
    lir__cands c = make(l, N);
    lir__sample_top_p(&c, 0.5f);
    cr_assert(c.n >= 499 && c.n <= 501, "kept %d", c.n); /* float sums at the boundary */
    for (int i = 0; i < c.n; i++) cr_assert_eq(c.d[i].id, i);
}

Test(sample_chain, min_p) {
    /* keep p >= min_p * p_max = min_p * .4 */
    lir__cands c = p4();
    lir__sample_min_p(&c, 0.6f); /* >= .24: .4, .3 */
    const int32_t w2[] = { 1, 3 };
    expect_ids(&c, w2, 2);
    c = p4();
    lir__sample_min_p(&c, 0.45f); /* >= .18: .4, .3, .2 */
    const int32_t w3[] = { 1, 3, 0 };
    expect_ids(&c, w3, 3);
    c = p4();
    lir__sample_min_p(&c, 1.0f); /* only the max */
    const int32_t w1[] = { 1 };
    expect_ids(&c, w1, 1);
    c = p4();
    lir__sample_min_p(&c, 0.0f);
    cr_assert_eq(c.n, 4);
}

Test(sample_chain, typical_p) {
    /* H = -sum p ln p over (.2,.4,.1,.3); scores |(-ln p) - H|, ascending: keep tokens in that
     * order until their mass exceeds typical_p. */
    const double p[4] = { 0.2, 0.4, 0.1, 0.3 };
    double h = 0;
    for (int i = 0; i < 4; i++) h -= p[i] * log(p[i]);
    cr_assert_float_eq(h, 1.279854, 1e-6);
    /* scores: id0 |1.609-1.280| = .330, id1 |.916-1.280| = .364, id2 1.023, id3 |1.204-1.280| = .076
     * order: id3 (.3), id0 (.2), id1 (.4), id2 (.1); cumulative .3, .5, .9, 1.0 */
    for (int i = 0; i < 4; i++) (void)p[i];
    lir__cands c = p4();
    lir__sample_typical(&c, 0.45f);
    const int32_t w2[] = { 3, 0 };
    expect_ids(&c, w2, 2);
    lir__cands_softmax(&c);
    cr_assert_float_eq(p_of(&c, 3), 0.6f, 1e-6);
    cr_assert_float_eq(p_of(&c, 0), 0.4f, 1e-6);
    c = p4();
    lir__sample_typical(&c, 0.25f);
    const int32_t w1[] = { 3 };
    expect_ids(&c, w1, 1);
    c = p4();
    lir__sample_typical(&c, 0.6f);
    const int32_t w3[] = { 3, 0, 1 };
    expect_ids(&c, w3, 3);
    c = p4();
    lir__sample_typical(&c, 1.0f);
    cr_assert_eq(c.n, 4);
}

Test(sample_chain, temperature) {
    /* softmax(ln p / 2) = sqrt(p) / sum sqrt(p) */
    lir__cands c = p4();
    lir__sample_temp(&c, 2.0f);
    lir__cands_softmax(&c);
    const double p[4] = { 0.2, 0.4, 0.1, 0.3 };
    double z = 0;
    for (int i = 0; i < 4; i++) z += sqrt(p[i]);
    for (int i = 0; i < 4; i++) cr_assert_float_eq(p_of(&c, i), sqrt(p[i]) / z, 1e-6);
    /* 0.5 sharpens: p^2 / sum p^2 = .04/.3, .16/.3, .01/.3, .09/.3 */
    c = p4();
    lir__sample_temp(&c, 0.5f);
    lir__cands_softmax(&c);
    cr_assert_float_eq(p_of(&c, 1), 0.16f / 0.30f, 1e-6);
    cr_assert_float_eq(p_of(&c, 2), 0.01f / 0.30f, 1e-6);
}

Test(sample_chain, penalties) {
    /* hist {0, 2, 0, 1, 3}: counts 0:2, 1:1, 2:1, 3:1 (logit 0 stays 0 under the multiply)
     * repeat 1.5, frequency .25, presence .5 */
    float l[6] = { 2.0f, -1.0f, 0.5f, 0.0f, 3.0f, -2.0f };
    const lir_token hist[] = { 0, 2, 0, 1, 3 };
    int32_t counts[6] = { 0 };
    lir__sample_penalties(l, hist, 5, 1.5f, 0.25f, 0.5f, counts);
    cr_assert_float_eq(l[0], 2.0 / 1.5 - 2 * 0.25 - 0.5, 1e-6);  /* 0.3333 */
    cr_assert_float_eq(l[1], -1.0 * 1.5 - 0.25 - 0.5, 1e-6);     /* -2.25 */
    cr_assert_float_eq(l[2], 0.5 / 1.5 - 0.25 - 0.5, 1e-6);      /* -0.4167 */
    cr_assert_float_eq(l[3], 0.0 - 0.25 - 0.5, 1e-6);            /* -0.75 */
    cr_assert_float_eq(l[4], 3.0, 0);                            /* unseen */
    cr_assert_float_eq(l[5], -2.0, 0);
    for (int i = 0; i < 6; i++) cr_assert_eq(counts[i], 0, "scratch handed back zeroed");
}

Test(sample_chain, dist_never_draws_zero_probability) {
    const float l[] = { -INFINITY, 0.0f, -INFINITY, 0.0f };
    uint64_t rng[4];
    lir_rng_seed(rng, 3);
    int seen[4] = { 0 };
    for (int i = 0; i < 2000; i++) {
        lir__cands c = make(l, 4);
        seen[c.d[lir__sample_dist(&c, rng)].id]++;
    }
    cr_assert_eq(seen[0] + seen[2], 0);
    cr_assert(seen[1] > 900 && seen[3] > 900);
}

Test(sample_chain, mirostat_v2_truncates_and_updates_mu) {
    /* p = .5, .25, .125, .125; mu = 2.5 keeps -log2 p <= 2.5, i.e. p >= .177: ids 0, 1, which
     * renormalize to 2/3, 1/3. mu' = mu - eta * (-log2 p'(drawn) - tau). */
    const float l[] = { logf(0.5f), logf(0.25f), logf(0.125f), logf(0.125f) };
    const float tau = 1.25f, eta = 0.1f;
    uint64_t rng[4];
    lir_rng_seed(rng, 11);
    int seen[4] = { 0 };
    for (int i = 0; i < 300; i++) {
        float mu = 2.5f;
        lir__cands c = make(l, 4);
        int32_t id = c.d[lir__sample_mirostat_v2(&c, tau, eta, &mu, rng)].id;
        cr_assert_eq(c.n, 2);
        seen[id]++;
        double p = id == 0 ? 2.0 / 3 : 1.0 / 3;
        cr_assert_float_eq(mu, 2.5 - 0.1 * (-log2(p) - 1.25), 1e-5);
    }
    cr_assert_eq(seen[2] + seen[3], 0);
    cr_assert(seen[0] > 150 && seen[1] > 60);
    /* mu below every surprise keeps the best token only */
    float mu = 0.5f;
    lir__cands c = make(l, 4);
    cr_assert_eq(c.d[lir__sample_mirostat_v2(&c, tau, eta, &mu, rng)].id, 0);
    cr_assert_float_eq(mu, 0.5 - 0.1 * (0.0 - 1.25), 1e-6);
}

Test(sample_chain, mirostat_v1_zipf_estimate) {
    /* p_i ∝ 1/(i+1)^2 over a vocabulary of 1000: the Zipf fit gives s_hat = 2 exactly, so
     * k = (eps * 2^mu / (1 - N^-eps))^(1/s_hat) with eps = 1, mu = 6: sqrt(64 / 0.999) = 8.004
     * -> the top 8 survive, renormalized by H8 = sum_{j<=8} 1/j^2. */
    enum { N = 1000 };
    static float l[N];
    for (int i = 0; i < N; i++) l[i] = -2.0f * logf((float)(i + 1));
    double h8 = 0;
    for (int j = 1; j <= 8; j++) h8 += 1.0 / (j * j);
    int seen[8] = { 0 };
    for (int s = 0; s < 400; s++) {
        uint64_t rng[4];
        lir_rng_seed(rng, (uint64_t)s);
        float mu = 6.0f;
        lir__cands c = make(l, N);
        int32_t id = c.d[lir__sample_mirostat(&c, 3.0f, 0.2f, 100, N, &mu, rng)].id;
        cr_assert_eq(c.n, 8, "k = %d", c.n);
        cr_assert(id >= 0 && id < 8, "drew %d", id);
        seen[id]++;
        double p = 1.0 / ((id + 1.0) * (id + 1.0)) / h8;
        cr_assert_float_eq(mu, 6.0 - 0.2 * (-log2(p) - 3.0), 1e-4);
    }
    for (int i = 0; i < 4; i++) cr_assert(seen[i] > 0, "token %d never drawn", i);
}

/* ---------------------------------------------------------------- large lists against a full sort */

static int cmp_chain(const void *a, const void *b) {
    return lir__tok_before(a, b) ? -1 : lir__tok_before(b, a) ? 1 : 0;
}

static double ref_score[8192];
static int cmp_ref_typical(const void *a, const void *b) {
    const lir__tok *x = a, *y = b;
    if (ref_score[x->id] != ref_score[y->id]) return ref_score[x->id] < ref_score[y->id] ? -1 : 1;
    return cmp_chain(a, b);
}

/* ours must be a prefix of ref (as a set), and its length where the cumulative mass crosses p
 * (within float rounding of the boundary) */
static void expect_prefix(const lir__cands *c, const lir__tok *ref, const double *pref, int32_t n, double p,
                          bool strict) {
    static bool in[8192];
    memset(in, 0, sizeof in);
    for (int32_t i = 0; i < c->n; i++) in[c->d[i].id] = true;
    for (int32_t i = 0; i < c->n; i++) cr_assert(in[ref[i].id], "kept set is not the prefix (at %d)", i);
    double cum = 0;
    int32_t k = n;
    for (int32_t i = 0; i < n; i++) {
        cum += pref[ref[i].id];
        if (strict ? cum > p : cum >= p) {
            k = i + 1;
            break;
        }
    }
    cr_assert(abs(c->n - k) <= 1, "kept %d, reference %d (p %g)", c->n, k, p);
}

Test(sample_chain, top_p_and_typical_match_a_full_sort) {
    enum { N = 8000 };
    static float l[N];
    static lir__tok ref[N];
    static double pr[N];
    for (int trial = 0; trial < 12; trial++) {
        uint64_t rng[4];
        lir_rng_seed(rng, 100 + (uint64_t)trial);
        const double spread = trial % 3 == 0 ? 0.5 : trial % 3 == 1 ? 3.0 : 8.0;
        for (int i = 0; i < N; i++) l[i] = (float)((lir_rng_uniform(rng) - 0.5) * spread);
        if (trial % 4 == 3) l[17] = 30.0f; /* one huge outlier: everything else in one bucket */
        double mx = -INFINITY, z = 0;
        for (int i = 0; i < N; i++) mx = l[i] > mx ? l[i] : mx;
        for (int i = 0; i < N; i++) z += exp(l[i] - mx);
        for (int i = 0; i < N; i++) pr[i] = exp(l[i] - mx) / z;
        const double p = 0.05 + 0.08 * trial;
        /* top_p: reference = chain order */
        lir__cands c = make(l, N);
        for (int i = 0; i < N; i++) ref[i] = c.d[i];
        qsort(ref, N, sizeof *ref, cmp_chain);
        lir__sample_top_p(&c, (float)p);
        expect_prefix(&c, ref, pr, N, p, false);
        /* typical: reference = |-ln p - H| then chain order */
        double h = 0;
        for (int i = 0; i < N; i++) h -= pr[i] * log(pr[i]);
        for (int i = 0; i < N; i++) ref_score[i] = fabs(-log(pr[i]) - h);
        c = make(l, N);
        qsort(ref, N, sizeof *ref, cmp_ref_typical);
        lir__sample_typical(&c, (float)p);
        expect_prefix(&c, ref, pr, N, p, true);
    }
}

Test(sample_chain, gathering_on_raw_logits_matches_the_steps) {
    enum { N = 8000 };
    static float l[N];
    static lir__tok ref[N], out[N];
    static double pr[N];
    for (int trial = 0; trial < 12; trial++) {
        uint64_t rng[4];
        lir_rng_seed(rng, 500 + (uint64_t)trial);
        const double spread = trial % 3 == 0 ? 0.5 : trial % 3 == 1 ? 3.0 : 8.0;
        for (int i = 0; i < N; i++) l[i] = (float)((lir_rng_uniform(rng) - 0.5) * spread);
        if (trial % 4 == 3) l[17] = 30.0f;
        if (trial % 2) l[5] = l[99] = -INFINITY; /* banned: never gathered */
        double mx = -INFINITY, z = 0;
        for (int i = 0; i < N; i++) mx = l[i] > mx ? l[i] : mx;
        for (int i = 0; i < N; i++) z += exp(l[i] - mx);
        for (int i = 0; i < N; i++) pr[i] = exp(l[i] - mx) / z;
        lir__cands all = make(l, N);
        for (int i = 0; i < N; i++) ref[i] = all.d[i];
        qsort(ref, N, sizeof *ref, cmp_chain);

        const double p = 0.05 + 0.08 * trial;
        lir__cands c = { out, lir__gather_top_p(l, N, (float)p, out), false };
        expect_prefix(&c, ref, pr, N, p, false);
        for (int i = 0; i < c.n; i++) cr_assert(out[i].logit > -INFINITY);

        const int32_t k = 1 + trial * 37;
        c = (lir__cands){ out, lir__gather_top_k(l, N, k, out), false };
        cr_assert(c.n >= k, "gathered %d < k %d", c.n, k);
        lir__sample_top_k(&c, k);
        for (int i = 0; i < k; i++) cr_assert_eq(c.d[i].id, ref[i].id, "top_k rank %d", i);

        const float mp = 0.02f * (float)(trial + 1);
        c = (lir__cands){ out, lir__gather_all(l, N, mp, out), false };
        lir__cands full = make(l, N);
        int32_t nf = 0; /* the step on the whole list, banned ones dropped */
        for (int i = 0; i < N; i++)
            if (full.d[i].logit > -INFINITY) full.d[nf++] = full.d[i];
        full.n = nf;
        lir__sample_min_p(&full, mp);
        cr_assert_eq(c.n, full.n, "min_p: %d vs %d", c.n, full.n);
    }
}
