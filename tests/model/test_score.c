/* test_score.c — teacher-forced scoring (lir_context_score, lir_logprob) and lir_vocab_add_bos,
 * the library side of `lir perplexity`:
 *  - lir_logprob is log-softmax: it matches a long-double computation, stays finite for logits
 *    far from 0, its exponentials sum to 1, and it refuses bad arguments with NAN;
 *  - lir_context_score gives exactly -lir_logprob of one all-logits decode at every scored
 *    position, for any first (prefix decoded apart or not) and when the scored rows are split
 *    into pieces (a large vocabulary);
 *  - it rejects bad arguments with a message, and a sequence longer than the context.
 * The perplexity itself is compared with llama.cpp in tests/parity/perplexity.test.mjs. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include "lir.h"
#include "model/model_util.h"

static char score_path[256];

static void cleanup(void) { unlink(score_path); }

static lir_model *make_model(int64_t n_vocab, int32_t type) {
    lir_err e = { { 0 } };
    struct lir_gen_params p;
    cr_assert_eq(lir_gen_preset(&p, "tiny", LIR_GEN_LLAMA, &e), LIR_OK, "%s", e.msg);
    p.type = type;
    p.seed = 11;
    p.n_threads = 1;
    if (n_vocab) p.n_vocab = n_vocab;
    tmp_model_path(score_path, sizeof score_path, "score");
    cr_assert_eq(lir_gen_write(&p, score_path, &e), LIR_OK, "generate: %s", e.msg);
    char err[512] = "";
    lir_model *m = NULL;
    cr_assert_eq(lir_model_load(score_path, NULL, &m, err, sizeof err), LIR_OK, "load: %s", err);
    return m;
}

static lir_context *ctx_new(lir_model *m, int n_ctx, int n_batch) {
    struct lir_context_params cp = lir_context_params_default();
    cp.n_ctx = n_ctx;
    cp.n_batch = n_batch;
    cp.n_threads = 2;
    char err[512] = "";
    lir_context *c = NULL;
    cr_assert_eq(lir_context_create(m, &cp, &c, err, sizeof err), LIR_OK, "%s", err);
    return c;
}

/* log(sum(exp(l))), in long double */
static long double ref_logsumexp(const float *l, int n) {
    long double mx = l[0], s = 0;
    for (int i = 1; i < n; i++) mx = fmaxl(mx, l[i]);
    for (int i = 0; i < n; i++) s += expl((long double)l[i] - mx);
    return mx + logl(s);
}

Test(score, logprob_is_log_softmax) {
    enum { N = 2000 };
    static float l[N];
    uint64_t x = 42;
    for (float offset = -1000.0f; offset <= 1000.0f; offset += 1000.0f) {
        for (int i = 0; i < N; i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            l[i] = offset + (float)((double)(x >> 11) / 9007199254740992.0 * 40.0 - 20.0);
        }
        const long double lse = ref_logsumexp(l, N);
        double total = 0;
        for (int t = 0; t < N; t++) {
            const double lp = lir_logprob(l, N, t);
            const long double want = (long double)l[t] - lse;
            cr_assert(isfinite(lp) && lp <= 0, "token %d: %g", t, lp);
            cr_assert(fabsl(lp - want) < 1e-12L, "token %d (offset %g): %.17g vs %.17Lg", t, offset, lp, want);
            total += exp(lp);
        }
        cr_assert(fabs(total - 1.0) < 1e-12, "probabilities sum to %.17g", total);
    }
    const float one[1] = { 3.5f };
    cr_assert_eq(lir_logprob(one, 1, 0), 0.0);
    const float two[2] = { 0.0f, 0.0f };
    cr_assert(fabs(lir_logprob(two, 2, 1) + log(2.0)) < 1e-15);
}

Test(score, logprob_refuses_bad_arguments) {
    const float l[3] = { 1, 2, 3 };
    cr_assert(isnan(lir_logprob(NULL, 3, 0)));
    cr_assert(isnan(lir_logprob(l, 0, 0)));
    cr_assert(isnan(lir_logprob(l, 3, -1)));
    cr_assert(isnan(lir_logprob(l, 3, 3)));
}

/* score tokens[0..n) from each first in firsts[] and compare with one all-logits decode */
static void check_score(lir_model *m, int n, int n_batch, const int *firsts, int n_firsts) {
    struct lir_model_info mi;
    lir_model_get_info(m, &mi);
    lir_token *t = malloc(sizeof *t * (size_t)n);
    for (int i = 0; i < n; i++) t[i] = (lir_token)((i * 7919 + 13) % mi.n_vocab);
    lir_context *c = ctx_new(m, n, n_batch);
    cr_assert_eq(lir_context_decode(c, t, n, 0, true), LIR_OK, "%s", lir_context_last_error(c));
    double *ref = malloc(sizeof *ref * (size_t)n), *nll = malloc(sizeof *nll * (size_t)n);
    for (int i = 0; i + 1 < n; i++) ref[i] = -lir_logprob(lir_context_logits(c, i), mi.n_vocab, t[i + 1]);
    for (int f = 0; f < n_firsts; f++) {
        const int first = firsts[f];
        for (int i = 0; i < n; i++) nll[i] = -1.0;
        cr_assert_eq(lir_context_score(c, t, n, first, nll), LIR_OK, "%s", lir_context_last_error(c));
        for (int i = first; i + 1 < n; i++)
            cr_assert_eq(nll[i - first], ref[i], "first %d, position %d: %.17g vs %.17g", first, i, nll[i - first],
                         ref[i]);
        cr_assert_eq(nll[n - 1 - first], -1.0, "first %d: wrote past n-1-first values", first);
    }
    free(ref);
    free(nll);
    free(t);
    lir_context_free(c);
}

Test(score, matches_all_logits_decode, .fini = cleanup) {
    lir_model *m = make_model(0, LIR_TYPE_Q8_0);
    const int firsts[] = { 0, 1, 2, 20, 38 };
    check_score(m, 40, 64, firsts, 5);
    check_score(m, 40, 7, firsts, 5); /* several batches per decode */
    lir_model_free(m);
}

/* 65536 logits a row: 256 rows per piece; 257 tokens from first 0 go as 255 + 2 (never a
 * lone token: one-token decodes take other kernels, which may round differently) */
Test(score, matches_all_logits_decode_in_pieces, .fini = cleanup) {
    lir_model *m = make_model(65536, LIR_TYPE_Q8_0);
    const int firsts[] = { 0, 5 };
    check_score(m, 257, 512, firsts, 2);
    lir_model_free(m);
}

Test(score, validates_input, .fini = cleanup) {
    lir_model *m = make_model(0, LIR_TYPE_F16);
    lir_context *c = ctx_new(m, 8, 8);
    lir_token t[10] = { 1, 5, 6, 7, 8, 9, 10, 11, 12, 13 };
    double nll[10];
    cr_assert_eq(lir_context_score(NULL, t, 4, 0, nll), LIR_EINVAL);
    cr_assert_eq(lir_context_score(c, NULL, 4, 0, nll), LIR_EINVAL);
    cr_assert_eq(lir_context_score(c, t, 4, 0, NULL), LIR_EINVAL);
    cr_assert(strstr(lir_context_last_error(c), "NULL") != NULL, "%s", lir_context_last_error(c));
    cr_assert_eq(lir_context_score(c, t, 1, 0, nll), LIR_EINVAL);
    cr_assert_eq(lir_context_score(c, t, 4, 3, nll), LIR_EINVAL);
    cr_assert_eq(lir_context_score(c, t, 4, -1, nll), LIR_EINVAL);
    cr_assert(strstr(lir_context_last_error(c), "first") != NULL, "%s", lir_context_last_error(c));
    cr_assert_eq(lir_context_score(c, t, 10, 4, nll), LIR_ECONTEXT);
    lir_token bad[4] = { 1, 2, 100000, 3 };
    cr_assert_eq(lir_context_score(c, bad, 4, 0, nll), LIR_EINVAL);
    cr_assert(strstr(lir_context_last_error(c), "outside") != NULL, "%s", lir_context_last_error(c));
    cr_assert_eq(lir_context_score(c, t, 8, 4, nll), LIR_OK, "%s", lir_context_last_error(c));
    for (int i = 0; i < 3; i++) cr_assert(isfinite(nll[i]) && nll[i] >= 0, "nll[%d] = %g", i, nll[i]);
    lir_context_free(c);
    lir_model_free(m);
}

Test(score, vocab_add_bos, .fini = cleanup) {
    lir_model *m = make_model(0, LIR_TYPE_F16); /* the generator's vocabulary sets add_bos_token */
    cr_assert(lir_vocab_add_bos(m));
    lir_token t[4];
    int32_t n = 0;
    cr_assert_eq(lir_tokenize(m, "ab", 2, true, false, t, 4, &n), LIR_OK);
    cr_assert(n >= 1 && t[0] == lir_vocab_bos(m), "tokenizing with add_special puts BOS first");
    cr_assert(!lir_vocab_add_bos(NULL));
    lir_model_free(m);
}
