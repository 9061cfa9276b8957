/* test_logprobs.c — request.logprobs: the per-token log-probabilities a generation reports (in
 * the stream's chunks and in the result) equal the log-softmax of the model's own logits for the
 * same tokens, computed here with a separate context; top lists are the true best, sorted, with
 * the right pieces; without the flag nothing is recorded. */
#include "runtime_util.h"

#include <math.h>

static void fini(void) { rt_dir_remove(); }

struct collect {
    struct lir_token_logprobs v[64];
    char pieces[64][64];
    int n;
    bool bad_pointer;
    bool complete_seen;
};
static int collect_chunk(const struct lir_generate_chunk *c, void *user) {
    struct collect *k = user;
    if (c->n_logprobs && !c->logprobs) k->bad_pointer = true;
    for (int32_t i = 0; i < c->n_logprobs && k->n < 64; i++) {
        k->v[k->n] = c->logprobs[i];
        size_t l = c->logprobs[i].chosen.piece_len < 63 ? c->logprobs[i].chosen.piece_len : 63;
        if (l && !c->logprobs[i].chosen.piece) k->bad_pointer = true;
        else if (l) memcpy(k->pieces[k->n], c->logprobs[i].chosen.piece, l);
        k->pieces[k->n][l] = 0;
        k->n++;
    }
    if (c->is_complete) k->complete_seen = true;
    return 0;
}

/* The piece of t as the model gives it. */
static size_t piece_of(const lir_model *m, lir_token t, char *buf, size_t cap) {
    size_t n = 0;
    cr_assert_eq(lir_token_to_piece(m, t, false, buf, cap, &n), LIR_OK);
    return n;
}

Test(logprobs, equal_the_log_softmax_of_the_models_logits, .fini = fini) {
    rt_dir_make("logprobs");
    rt_model_make("m", LIR_GEN_LLAMA, 23);
    lir_runtime *rt = rt_new(NULL, NULL, NULL);
    char id[LIR_ID_LEN], err[512] = "";
    struct lir_load_options o = rt_opts(256);
    rt_load(rt, "m", &o, id);

    const char *prompt = "the quick brown fox";
    struct lir_generate_request q = lir_generate_request_default();
    q.prompt = prompt;
    q.sampling.temperature = 0; /* greedy: the chosen token is the best of the raw logits */
    q.sampling.repeat_penalty = 1; /* (the default 1.1 would move it) */
    q.sampling.max_tokens = 12;
    q.sampling.n_probs = 5;
    q.logprobs = true;
    struct collect k = { .n = 0 };
    struct lir_generate_result r;
    cr_assert_eq(lir_runtime_generate_stream(rt, &q, collect_chunk, &k, &r, err, sizeof err), LIR_OK, "%s", err);
    cr_assert(!k.bad_pointer);
    cr_assert(k.complete_seen);
    /* one entry per generated token; an end-of-generation token has none */
    int32_t expect = r.usage.completion_tokens - (r.finish_reason == LIR_FINISH_STOP ? 1 : 0);
    cr_assert_gt(expect, 0);
    cr_assert_eq(r.n_logprobs, expect, "%d entries for %d generated tokens (finish %d)", r.n_logprobs,
                 r.usage.completion_tokens, (int)r.finish_reason);
    cr_assert_eq(k.n, r.n_logprobs, "the chunks carried %d entries, the result %d", k.n, r.n_logprobs);

    /* the same tokens through a context of our own */
    char path[512];
    snprintf(path, sizeof path, "%s/m.gguf", rt_dir);
    struct lir_model_params mp = lir_model_params_default();
    lir_model *m = NULL;
    cr_assert_eq(lir_model_load(path, &mp, &m, err, sizeof err), LIR_OK, "%s", err);
    struct lir_context_params cp = lir_context_params_default();
    cp.n_ctx = 256;
    cp.n_threads = 1;
    lir_context *ctx = NULL;
    cr_assert_eq(lir_context_create(m, &cp, &ctx, err, sizeof err), LIR_OK, "%s", err);
    lir_token toks[256];
    int32_t n = 0;
    cr_assert_eq(lir_tokenize(m, prompt, strlen(prompt), true, true, toks, 200, &n), LIR_OK);
    cr_assert_eq(n, r.usage.prompt_tokens);
    cr_assert_eq(lir_context_decode(ctx, toks, n, 0, false), LIR_OK);
    const int32_t nv = lir_vocab_n_tokens(m);
    for (int32_t i = 0; i < r.n_logprobs; i++) {
        const struct lir_token_logprobs *e = &r.logprobs[i];
        const float *lg = lir_context_logits(ctx, -1);
        cr_assert_not_null(lg);
        const lir_token t = e->chosen.token;
        cr_assert_eq(t, k.v[i].chosen.token, "token %d: chunk and result differ", i);
        cr_assert_eq(e->chosen.logprob, k.v[i].chosen.logprob);
        double want = lir_logprob(lg, nv, t);
        cr_assert(fabs(e->chosen.logprob - want) <= 1e-4 * (1 + fabs(want)), "token %d (id %d): logprob %.6f, "
                  "log-softmax of the logits %.6f", i, t, e->chosen.logprob, want);
        cr_assert_leq(e->chosen.logprob, 0.0f);
        /* the top list: 5 entries, largest first, the greedy choice first, each the true value,
         * and no token outside it above its last */
        cr_assert_eq(e->n_top, 5);
        cr_assert_eq(e->top[0].token, t, "greedy: the chosen token tops the list");
        for (int32_t j = 0; j < e->n_top; j++) {
            double w = lir_logprob(lg, nv, e->top[j].token);
            cr_assert(fabs(e->top[j].logprob - w) <= 1e-4 * (1 + fabs(w)), "token %d top %d", i, j);
            if (j) cr_assert_geq(e->top[j - 1].logprob, e->top[j].logprob);
            char pb[256];
            size_t pl = piece_of(m, e->top[j].token, pb, sizeof pb);
            cr_assert_eq(e->top[j].piece_len, pl);
            cr_assert(pl == 0 || !memcmp(e->top[j].piece, pb, pl), "token %d top %d: piece", i, j);
        }
        double last = e->top[e->n_top - 1].logprob;
        for (lir_token u = 0; u < nv; u++) {
            bool in = false;
            for (int32_t j = 0; j < e->n_top; j++) in = in || e->top[j].token == u;
            if (!in) cr_assert_leq(lir_logprob(lg, nv, u), last + 1e-6, "token %d: id %d beats the top list", i, u);
        }
        char pb[256];
        size_t pl = piece_of(m, t, pb, sizeof pb);
        cr_assert_eq(e->chosen.piece_len, pl);
        cr_assert(pl == 0 || !memcmp(e->chosen.piece, pb, pl));
        cr_assert_str_eq(k.pieces[i], (pl < 63 ? (pb[pl] = 0, pb) : k.pieces[i]));
        cr_assert_eq(lir_context_decode(ctx, &t, 1, n + i, false), LIR_OK);
    }
    lir_context_free(ctx);
    lir_model_free(m);
    lir_generate_result_clear(&r);
    cr_assert_null(r.logprobs);

    /* without the flag: nothing; with it and n_probs 0: the chosen token only */
    q.logprobs = false;
    cr_assert_eq(lir_runtime_generate(rt, &q, &r, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_eq(r.n_logprobs, 0);
    cr_assert_null(r.logprobs);
    lir_generate_result_clear(&r);
    q.logprobs = true;
    q.sampling.n_probs = 0;
    cr_assert_eq(lir_runtime_generate(rt, &q, &r, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_eq(r.n_logprobs, expect);
    for (int32_t i = 0; i < r.n_logprobs; i++) {
        cr_assert_eq(r.logprobs[i].n_top, 0);
        cr_assert_eq(r.logprobs[i].chosen.token, k.v[i].chosen.token, "the same greedy tokens");
        cr_assert_eq(r.logprobs[i].chosen.logprob, k.v[i].chosen.logprob);
    }
    lir_generate_result_clear(&r);
    lir_runtime_destroy(rt);
}

/* A stop string holds text back: its tokens' entries still arrive, in order, by the last chunk. */
Test(logprobs, every_token_reported_when_a_stop_string_holds_text_back, .fini = fini) {
    rt_dir_make("logprobs-stop");
    rt_model_make("m", LIR_GEN_LLAMA, 23);
    lir_runtime *rt = rt_new(NULL, NULL, NULL);
    char id[LIR_ID_LEN], err[512] = "";
    struct lir_load_options o = rt_opts(256);
    rt_load(rt, "m", &o, id);
    struct lir_generate_request q = lir_generate_request_default();
    q.prompt = "the quick brown fox";
    q.sampling.temperature = 0;
    q.sampling.repeat_penalty = 1;
    q.sampling.max_tokens = 12;
    q.sampling.n_probs = 2;
    q.logprobs = true;
    /* a stop string that begins as the greedy output does but never matches: the matcher holds
     * the first text back until it parts from the stop string */
    struct lir_generate_result r;
    cr_assert_eq(lir_runtime_generate(rt, &q, &r, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_geq(r.len, 2);
    char stop[8] = { r.text[0], r.text[1], '\x01', 'z', 0 };
    lir_generate_result_clear(&r);
    const char *stops[] = { stop };
    q.sampling.stop = stops;
    q.sampling.n_stop = 1;
    struct collect k = { .n = 0 };
    cr_assert_eq(lir_runtime_generate_stream(rt, &q, collect_chunk, &k, &r, err, sizeof err), LIR_OK, "%s", err);
    int32_t expect = r.usage.completion_tokens - (r.finish_reason == LIR_FINISH_STOP ? 1 : 0);
    cr_assert_eq(r.n_logprobs, expect);
    cr_assert_eq(k.n, expect);
    for (int32_t i = 0; i < k.n; i++) cr_assert_eq(k.v[i].chosen.token, r.logprobs[i].chosen.token);
    lir_generate_result_clear(&r);
    lir_runtime_destroy(rt);
}
