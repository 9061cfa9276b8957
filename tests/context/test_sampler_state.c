/* test_sampler_state.c — lir_sampler_state_save / _load: a restored sampler draws exactly the
 * tokens the original would have drawn next (generator, mirostat mu, penalty window); a state is
 * refused (sampler unchanged) for other parameters, a corrupt or truncated blob, another version. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "lir.h"

#define NV 64

/* Deterministic logits that vary per step (so the penalties and mirostat matter). */
static void logits_at(int step, float *l) {
    for (int i = 0; i < NV; i++) l[i] = sinf((float)(i * 7 + step * 13) * 0.37f) * 3.0f + (float)(i % 5) * 0.2f;
}

/* Samples n tokens starting at step0, accepting each. */
static void run(lir_sampler *s, int step0, int n, lir_token *out) {
    float l[NV];
    for (int i = 0; i < n; i++) {
        logits_at(step0 + i, l);
        cr_assert_eq(lir_sampler_sample(s, l, NV, &out[i], NULL, NULL, NULL), LIR_OK, "%s", lir_sampler_last_error(s));
        cr_assert_eq(lir_sampler_accept(s, out[i]), LIR_OK);
    }
}

static struct lir_sampling_params params(int mirostat, int repeat_last_n) {
    struct lir_sampling_params p = lir_sampling_params_default();
    p.temperature = 0.9f;
    p.top_k = 20;
    p.repeat_penalty = 1.3f;
    p.frequency_penalty = 0.4f;
    p.repeat_last_n = repeat_last_n;
    p.mirostat = mirostat;
    p.seed = 1234;
    return p;
}

static void roundtrip(int mirostat, int repeat_last_n) {
    struct lir_sampling_params p = params(mirostat, repeat_last_n);
    lir_sampler *a = NULL, *b = NULL;
    cr_assert_eq(lir_sampler_create(&p, NV, &a, NULL, 0), LIR_OK);
    lir_token warm[40], want[40], got[40];
    run(a, 0, 40, warm);
    size_t len = 0;
    cr_assert_eq(lir_sampler_state_save(a, NULL, 0, &len), LIR_ERANGE);
    cr_assert_gt(len, 0);
    void *blob = malloc(len);
    size_t len2 = 0;
    cr_assert_eq(lir_sampler_state_save(a, blob, len, &len2), LIR_OK);
    cr_assert_eq(len2, len);
    run(a, 40, 40, want);

    p.seed = 99; /* another seed: the blob's generator and seed win */
    cr_assert_eq(lir_sampler_create(&p, NV, &b, NULL, 0), LIR_OK);
    cr_assert_eq(lir_sampler_state_load(b, blob, len), LIR_OK, "%s", lir_sampler_last_error(b));
    cr_assert_eq(lir_sampler_seed(b), 1234);
    run(b, 40, 40, got);
    cr_assert_arr_eq(got, want, sizeof want, "restored sampler drew other tokens (mirostat %d, last_n %d)", mirostat,
                     repeat_last_n);
    cr_assert_eq(lir_sampler_mirostat_mu(b), lir_sampler_mirostat_mu(a));
    free(blob);
    lir_sampler_free(a);
    lir_sampler_free(b);
}

Test(sampler_state, roundtrip_topk_penalties) { roundtrip(0, 16); }
Test(sampler_state, roundtrip_mirostat1) { roundtrip(1, 8); }
Test(sampler_state, roundtrip_mirostat2_whole_history) { roundtrip(2, -1); }

Test(sampler_state, penalty_window_matters) {
    /* A sampler with the same generator but an empty window draws differently: the window is
     * really part of the state (otherwise the round trip above would prove little). */
    struct lir_sampling_params p = params(0, 16);
    p.repeat_penalty = 2.0f;
    p.frequency_penalty = 2.0f;
    p.temperature = 0;
    lir_sampler *a = NULL, *b = NULL;
    cr_assert_eq(lir_sampler_create(&p, NV, &a, NULL, 0), LIR_OK);
    cr_assert_eq(lir_sampler_create(&p, NV, &b, NULL, 0), LIR_OK);
    /* the same logits every step: greedy repeats the best token unless the window penalizes it */
    float l[NV];
    logits_at(0, l);
    lir_token t, x[8], y[8];
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(lir_sampler_sample(a, l, NV, &t, NULL, NULL, NULL), LIR_OK);
        lir_sampler_accept(a, t);
    }
    size_t len = 0;
    lir_sampler_state_save(a, NULL, 0, &len);
    void *blob = malloc(len);
    cr_assert_eq(lir_sampler_state_save(a, blob, len, &len), LIR_OK);
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(lir_sampler_sample(a, l, NV, &x[i], NULL, NULL, NULL), LIR_OK);
        lir_sampler_accept(a, x[i]);
        cr_assert_eq(lir_sampler_sample(b, l, NV, &y[i], NULL, NULL, NULL), LIR_OK); /* b: no history */
        lir_sampler_accept(b, y[i]);
    }
    cr_assert(memcmp(x, y, sizeof x) != 0, "greedy with and without the penalty window agree: test is weak");
    free(blob);
    lir_sampler_free(a);
    lir_sampler_free(b);
}

/* Refusals: b keeps drawing what a fresh sampler draws. */
static void expect_refused(const void *blob, size_t len, const struct lir_sampling_params *pb, enum lir_status want,
                           const char *needle) {
    lir_sampler *b = NULL, *ref = NULL;
    cr_assert_eq(lir_sampler_create(pb, NV, &b, NULL, 0), LIR_OK);
    cr_assert_eq(lir_sampler_create(pb, NV, &ref, NULL, 0), LIR_OK);
    lir_token w0[3], w1[3];
    run(b, 0, 3, w0);
    run(ref, 0, 3, w1);
    enum lir_status s = lir_sampler_state_load(b, blob, len);
    cr_assert_eq(s, want, "status %s, want %s (%s)", lir_status_name(s), lir_status_name(want), lir_sampler_last_error(b));
    cr_assert(strstr(lir_sampler_last_error(b), needle), "message '%s' lacks '%s'", lir_sampler_last_error(b), needle);
    lir_token x[10], y[10];
    run(b, 3, 10, x);
    run(ref, 3, 10, y);
    cr_assert_arr_eq(x, y, sizeof x, "a refused state changed the sampler");
    lir_sampler_free(b);
    lir_sampler_free(ref);
}

Test(sampler_state, refusals_leave_the_sampler_unchanged) {
    struct lir_sampling_params p = params(2, 16);
    lir_sampler *a = NULL;
    cr_assert_eq(lir_sampler_create(&p, NV, &a, NULL, 0), LIR_OK);
    lir_token w[30];
    run(a, 0, 30, w);
    size_t len = 0;
    lir_sampler_state_save(a, NULL, 0, &len);
    uint8_t *blob = malloc(len), *bad = malloc(len);
    cr_assert_eq(lir_sampler_state_save(a, blob, len, &len), LIR_OK);

    struct lir_sampling_params q = p;
    q.mirostat_tau = 4.0f;
    expect_refused(blob, len, &q, LIR_EINVAL, "mirostat_tau");
    q = p;
    q.top_k = 21;
    expect_refused(blob, len, &q, LIR_EINVAL, "top_k");
    expect_refused(blob, len - 1, &p, LIR_EFORMAT, "history");
    expect_refused(blob, 10, &p, LIR_EFORMAT, "header");
    memcpy(bad, blob, len);
    bad[0] ^= 1;
    expect_refused(bad, len, &p, LIR_EFORMAT, "magic");
    memcpy(bad, blob, len);
    bad[4] = 2;
    expect_refused(bad, len, &p, LIR_EUNSUPPORTED, "version");
    memcpy(bad, blob, len);
    memset(bad + len - 4, 0x7f, 4); /* last history token out of the vocabulary */
    expect_refused(bad, len, &p, LIR_EFORMAT, "outside");

    lir_sampler *other = NULL; /* other vocabulary size */
    cr_assert_eq(lir_sampler_create(&p, NV + 1, &other, NULL, 0), LIR_OK);
    cr_assert_eq(lir_sampler_state_load(other, blob, len), LIR_EINVAL);
    cr_assert(strstr(lir_sampler_last_error(other), "vocabulary"));
    lir_sampler_free(other);
    free(blob);
    free(bad);
    lir_sampler_free(a);
}
