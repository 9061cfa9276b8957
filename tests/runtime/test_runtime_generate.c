/* test_runtime_generate.c — generation and embeddings through the runtime on generated tiny
 * models: 8 threads at once on one model and on two models give what each request gives alone
 * (same seed); streaming chunks add up to the text and end with one complete chunk; a callback
 * that returns non-zero cancels; stop strings cut the text; a GBNF grammar and chat messages;
 * embeddings equal lir_embed's; status Busy while a request runs. */
#include "runtime/runtime_util.h"
#include <math.h>

static void fini(void) { rt_dir_remove(); }

struct job {
    lir_runtime *rt;
    const char *model;
    const char *prompt;
    uint64_t seed;
    float temp;
    char *text;
    size_t len;
    enum lir_finish_reason fr;
    enum lir_status s;
    bool ok;
    char err[512];
};

/* Runs j; no assertions here (they must not run on other threads): checked by check_job. */
static void run_job(struct job *j) {
    struct lir_generate_request q = lir_generate_request_default();
    q.model = j->model;
    q.prompt = j->prompt;
    q.sampling.max_tokens = 24;
    q.sampling.seed = j->seed;
    q.sampling.temperature = j->temp;
    struct lir_generate_result r;
    j->s = lir_runtime_generate(j->rt, &q, &r, j->err, sizeof j->err);
    if (j->s) return;
    j->ok = r.usage.completion_tokens > 0 && r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens &&
            r.metrics.total_ms >= r.metrics.ttft_ms && r.metrics.ttft_ms > 0.0 && r.seed == j->seed &&
            r.text[r.len] == 0;
    j->text = malloc(r.len + 1);
    memcpy(j->text, r.text, r.len + 1);
    j->len = r.len; /* generated text may hold NUL bytes (a byte token of the tiny vocabulary) */
    j->fr = r.finish_reason;
    lir_generate_result_clear(&r);
}

static void check_job(const struct job *j) {
    cr_assert_eq(j->s, LIR_OK, "%s", j->err);
    cr_assert(j->ok, "usage, metrics or seed of the result");
}

static void *job_thread(void *p) {
    run_job(p);
    return NULL;
}

static void concurrent(int n_models) {
    rt_dir_make(n_models == 1 ? "conc1" : "conc2");
    rt_model_make("m0", LIR_GEN_LLAMA, 1);
    rt_model_make("m1", LIR_GEN_QWEN2, 2);
    lir_runtime *rt = rt_new(NULL, NULL, NULL);
    char ids[2][LIR_ID_LEN];
    struct lir_load_options o = rt_opts(256);
    rt_load(rt, "m0", &o, ids[0]);
    rt_load(rt, "m1", &o, ids[1]);
    enum { T = 8 };
    static const char *prompts[] = { "Hello", "Once upon a time", "abc", "The quick brown fox" };
    struct job par[T], solo[T];
    pthread_t th[T];
    for (int i = 0; i < T; i++) {
        par[i] = (struct job){ .rt = rt, .model = ids[i % n_models], .prompt = prompts[i % 4], .seed = 100 + (uint64_t)i,
                               .temp = i % 3 ? 0.9f : 0.0f };
        solo[i] = par[i];
    }
    for (int i = 0; i < T; i++) pthread_create(&th[i], NULL, job_thread, &par[i]);
    for (int i = 0; i < T; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < T; i++) run_job(&solo[i]);
    for (int i = 0; i < T; i++) {
        check_job(&par[i]);
        check_job(&solo[i]);
        cr_assert(par[i].len == solo[i].len && !memcmp(par[i].text, solo[i].text, par[i].len),
                  "request %d differs when run with others", i);
        cr_assert_eq(par[i].fr, solo[i].fr);
        free(par[i].text);
        free(solo[i].text);
    }
    struct lir_loaded_model lm;
    cr_assert_eq(lir_runtime_get_loaded(rt, ids[0], &lm), LIR_OK);
    cr_assert_eq(lm.metrics.total_requests, n_models == 1 ? 2 * T : T);
    cr_assert_eq(lm.active_requests, 0);
    cr_assert_eq(lm.status, LIR_LOADED_READY);
    cr_assert_gt(lm.metrics.peak_tokens_per_second, 0.0f);
    cr_assert_geq(lm.metrics.peak_tokens_per_second, lm.metrics.average_tokens_per_second);
    cr_assert_gt(lm.metrics.average_ttft_ms, 0.0);
    lir_runtime_destroy(rt);
}

Test(runtime_generate, eight_threads_one_model, .fini = fini) { concurrent(1); }
Test(runtime_generate, eight_threads_two_models, .fini = fini) { concurrent(2); }

/* ---------------------------------------------------------------- streaming */

struct stream_rec {
    char text[8192];
    size_t len;
    int chunks, complete, cancel_after;
    int32_t last_index;
    enum lir_finish_reason fr;
    lir_runtime *rt;
    enum lir_loaded_status status_seen;
};

static int on_chunk(const struct lir_generate_chunk *c, void *user) {
    struct stream_rec *s = user;
    cr_assert_eq(s->complete, 0, "nothing after the complete chunk");
    cr_assert_geq(c->token_index, s->last_index);
    s->last_index = c->token_index;
    cr_assert_lt(s->len + c->len, sizeof s->text);
    memcpy(s->text + s->len, c->text, c->len);
    s->len += c->len;
    s->chunks++;
    if (c->is_complete) {
        s->complete++;
        s->fr = c->finish_reason;
    }
    if (s->rt && s->chunks == 1) {
        struct lir_loaded_model *v;
        int32_t n;
        lir_runtime_list_loaded(s->rt, &v, &n); /* the runtime may be called from the callback */
        s->status_seen = v[0].status;
        lir_runtime_free(v);
    }
    return s->cancel_after && s->chunks >= s->cancel_after;
}

Test(runtime_generate, stream_and_cancel, .fini = fini) {
    rt_dir_make("stream");
    rt_model_make("m", LIR_GEN_LLAMA, 1);
    lir_runtime *rt = rt_new(NULL, NULL, NULL);
    char id[LIR_ID_LEN], err[512] = "";
    struct lir_load_options o = rt_opts(512);
    rt_load(rt, "m", &o, id);
    struct lir_generate_request q = lir_generate_request_default();
    q.prompt = "Once upon a time";
    q.sampling.max_tokens = 40;
    q.sampling.seed = 9;
    struct lir_generate_result blocking, streamed;
    cr_assert_eq(lir_runtime_generate(rt, &q, &blocking, err, sizeof err), LIR_OK, "%s", err);

    struct stream_rec s = { .last_index = 0, .rt = rt };
    cr_assert_eq(lir_runtime_generate_stream(rt, &q, on_chunk, &s, &streamed, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_eq(s.complete, 1);
    cr_assert_eq(s.fr, blocking.finish_reason);
    cr_assert_eq(s.len, blocking.len);
    cr_assert_eq(memcmp(s.text, blocking.text, s.len), 0, "chunks add up to the blocking result");
    cr_assert(streamed.len == blocking.len && !memcmp(streamed.text, blocking.text, blocking.len));
    cr_assert_eq(s.status_seen, LIR_LOADED_BUSY, "Busy while generating");

    /* cancel after 3 chunks: no more chunks, ECANCELLED, the text so far */
    cr_assert_gt(s.chunks, 5, "the test needs a longer generation");
    struct stream_rec c = { .cancel_after = 3 };
    struct lir_generate_result cr;
    cr_assert_eq(lir_runtime_generate_stream(rt, &q, on_chunk, &c, &cr, err, sizeof err), LIR_ECANCELLED);
    cr_assert_eq(c.chunks, 3);
    cr_assert_eq(c.complete, 0);
    cr_assert_eq(cr.finish_reason, LIR_FINISH_CANCELLED);
    cr_assert_eq(cr.len, c.len);
    cr_assert_eq(memcmp(cr.text, blocking.text, cr.len), 0, "a prefix of the full text");
    cr_assert_lt(cr.usage.completion_tokens, blocking.usage.completion_tokens);
    lir_generate_result_clear(&cr);
    /* the model is free again */
    struct lir_loaded_model lm;
    cr_assert_eq(lir_runtime_get_loaded(rt, id, &lm), LIR_OK);
    cr_assert_eq(lm.status, LIR_LOADED_READY);
    cr_assert_eq(lm.active_requests, 0);
    cr_assert_eq(lir_runtime_generate_stream(rt, &q, NULL, NULL, NULL, err, sizeof err), LIR_EINVAL);

    /* stop strings: cut where the first occurrence starts */
    const char *full = blocking.text;
    cr_assert_gt(strlen(full), 12, "the test needs 12 bytes without NUL");
    char stop_s[5];
    memcpy(stop_s, full + 8, 4);
    stop_s[4] = 0;
    const char *stops[] = { stop_s };
    q.sampling.stop = stops;
    q.sampling.n_stop = 1;
    struct lir_generate_result st;
    cr_assert_eq(lir_runtime_generate(rt, &q, &st, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_eq(st.finish_reason, LIR_FINISH_STOP);
    size_t cut = (size_t)(strstr(full, stop_s) - full);
    cr_assert_eq(st.len, cut, "'%s' cut at %zu: got '%s'", stop_s, cut, st.text);
    cr_assert_eq(memcmp(st.text, full, cut), 0);
    lir_generate_result_clear(&st);
    lir_generate_result_clear(&blocking);
    lir_generate_result_clear(&streamed);
    lir_runtime_destroy(rt);
}

Test(runtime_generate, grammar_chat_and_errors, .fini = fini) {
    rt_dir_make("gram");
    rt_model_make("m", LIR_GEN_LLAMA, 4);
    lir_runtime *rt = rt_new(NULL, NULL, NULL);
    char id[LIR_ID_LEN], err[512] = "";
    struct lir_load_options o = rt_opts(256);
    rt_load(rt, "m", &o, id);
    struct lir_generate_request q = lir_generate_request_default();
    q.prompt = "Answer:";
    q.sampling.max_tokens = 20;
    q.sampling.seed = 3;
    q.grammar = "root ::= (\"yes\" | \"no\") \".\"";
    struct lir_generate_result r;
    for (int i = 0; i < 4; i++) {
        q.sampling.seed = (uint64_t)i;
        cr_assert_eq(lir_runtime_generate(rt, &q, &r, err, sizeof err), LIR_OK, "%s", err);
        cr_assert(!strcmp(r.text, "yes.") || !strcmp(r.text, "no."), "grammar output '%s'", r.text);
        cr_assert_eq(r.finish_reason, LIR_FINISH_STOP);
        lir_generate_result_clear(&r);
    }
    q.grammar = "root ::= (";
    cr_assert_eq(lir_runtime_generate(rt, &q, &r, err, sizeof err), LIR_EINVAL);
    cr_assert(strstr(err, "grammar"), "%s", err);
    q.grammar = NULL;
    q.format = LIR_FORMAT_JSON_SCHEMA;
    q.json_schema = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"]}";
    q.sampling.max_tokens = 0;
    cr_assert_eq(lir_runtime_generate(rt, &q, &r, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_eq(r.text[0], '{', "%s", r.text);
    lir_generate_result_clear(&r);
    q.format = LIR_FORMAT_TEXT;

    /* chat messages through the template (chatml for a model without one) */
    struct lir_chat_message msgs[] = { { LIR_ROLE_USER, "Hi there" } };
    q.prompt = NULL;
    q.messages = msgs;
    q.n_messages = 1;
    q.system_prompt = "Be brief.";
    q.sampling.max_tokens = 4;
    cr_assert_eq(lir_runtime_generate(rt, &q, &r, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_gt(r.usage.prompt_tokens, 20, "system + user + headers");
    lir_generate_result_clear(&r);

    /* errors */
    q.prompt = "x"; /* both */
    cr_assert_eq(lir_runtime_generate(rt, &q, &r, err, sizeof err), LIR_EINVAL);
    q.messages = NULL;
    q.n_messages = 0;
    q.system_prompt = NULL;
    q.sampling.temperature = 3.0f;
    cr_assert_eq(lir_runtime_generate(rt, &q, &r, err, sizeof err), LIR_ERANGE);
    cr_assert(strstr(err, "temperature"), "%s", err);
    q.sampling.temperature = 0.7f;
    q.model = "no-such-model";
    cr_assert_eq(lir_runtime_generate(rt, &q, &r, err, sizeof err), LIR_ENOTFOUND);
    q.model = id;
    char big[4000];
    for (size_t i = 0; i < sizeof big - 1; i++) big[i] = (char)('a' + i % 26);
    big[sizeof big - 1] = 0;
    q.prompt = big;
    cr_assert_eq(lir_runtime_generate(rt, &q, &r, err, sizeof err), LIR_ECONTEXT, "%s", err);
    lir_runtime_destroy(rt);
}

Test(runtime_generate, embed, .fini = fini) {
    rt_dir_make("embed");
    rt_model_make("enc", LIR_GEN_BERT, 7);
    lir_runtime *rt = rt_new(NULL, NULL, NULL);
    const char *texts[] = { "hello world", "another text here" };
    struct lir_embed_request q = lir_embed_request_default();
    cr_assert(q.normalize);
    q.model = "enc"; /* loaded on demand */
    q.texts = texts;
    q.n_texts = 2;
    struct lir_embed_result r;
    char err[512] = "";
    cr_assert_eq(lir_runtime_embed(rt, &q, &r, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_eq(r.n, 2);
    cr_assert_eq(r.dimensions, 256);
    cr_assert_gt(r.total_tokens, 4);
    for (int i = 0; i < 2; i++) {
        double n2 = 0;
        for (int k = 0; k < r.dimensions; k++) n2 += (double)r.embeddings[i * r.dimensions + k] * r.embeddings[i * r.dimensions + k];
        cr_assert_float_eq(n2, 1.0, 1e-4);
    }
    /* the same as lir_embed on a context of our own */
    char path[512];
    snprintf(path, sizeof path, "%s/enc.gguf", rt_dir);
    lir_model *m = NULL;
    cr_assert_eq(lir_model_load(path, NULL, &m, err, sizeof err), LIR_OK);
    lir_context *c = NULL;
    cr_assert_eq(lir_context_create(m, NULL, &c, err, sizeof err), LIR_OK);
    float ref[256];
    struct lir_embed_params ep = lir_embed_params_default();
    cr_assert_eq(lir_embed(c, texts[1], strlen(texts[1]), &ep, ref, 256, NULL), LIR_OK);
    for (int k = 0; k < 256; k++) cr_assert_float_eq(r.embeddings[256 + k], ref[k], 1e-5);
    lir_context_free(c);
    lir_model_free(m);
    lir_embed_result_clear(&r);
    q.normalize = false;
    q.n_texts = 1;
    cr_assert_eq(lir_runtime_embed(rt, &q, &r, err, sizeof err), LIR_OK, "%s", err);
    double n2 = 0;
    for (int k = 0; k < r.dimensions; k++) n2 += (double)r.embeddings[k] * r.embeddings[k];
    cr_assert(fabs(n2 - 1.0) > 1e-3, "not normalized");
    lir_embed_result_clear(&r);
    q.n_texts = 0;
    cr_assert_eq(lir_runtime_embed(rt, &q, &r, err, sizeof err), LIR_EINVAL);
    lir_runtime_destroy(rt);
}

/* ---------------------------------------------------------------- tier slots */

static int inside, max_inside;
static pthread_mutex_t inside_mu = PTHREAD_MUTEX_INITIALIZER;

static int overlap_chunk(const struct lir_generate_chunk *c, void *user) {
    (void)c;
    (void)user;
    pthread_mutex_lock(&inside_mu);
    if (++inside > max_inside) max_inside = inside;
    pthread_mutex_unlock(&inside_mu);
    usleep(3000);
    pthread_mutex_lock(&inside_mu);
    inside--;
    pthread_mutex_unlock(&inside_mu);
    return 0;
}

struct ov_arg {
    lir_runtime *rt;
    const char *id;
    enum lir_status s;
};

static void *overlap_gen(void *p) {
    struct ov_arg *a = p;
    struct lir_generate_request q = lir_generate_request_default();
    q.model = a->id;
    q.prompt = "Once upon a time";
    q.sampling.max_tokens = 10;
    a->s = lir_runtime_generate_stream(a->rt, &q, overlap_chunk, NULL, NULL, NULL, 0);
    return NULL;
}

Test(runtime_generate, teams_tier_runs_one_request_at_a_time, .fini = fini) {
    rt_dir_make("slots");
    rt_model_make("a", LIR_GEN_LLAMA, 1);
    rt_model_make("b", LIR_GEN_LLAMA, 2);
    lir_licence *lic = NULL;
    cr_assert_eq(lir_licence_create_static(LIR_TIER_TEAMS, &lic), LIR_OK);
    lir_runtime *rt = rt_new(lic, NULL, NULL);
    char ids[2][LIR_ID_LEN];
    struct lir_load_options o = rt_opts(256);
    rt_load(rt, "a", &o, ids[0]);
    rt_load(rt, "b", &o, ids[1]);
    enum { T = 4 };
    pthread_t th[T];
    struct ov_arg args[T];
    inside = max_inside = 0;
    for (int i = 0; i < T; i++) {
        args[i] = (struct ov_arg){ .rt = rt, .id = ids[i % 2] };
        pthread_create(&th[i], NULL, overlap_gen, &args[i]);
    }
    for (int i = 0; i < T; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < T; i++) cr_assert_eq(args[i].s, LIR_OK);
    cr_assert_eq(max_inside, 1, "requests on two models queued for the one slot of Teams");
    lir_runtime_destroy(rt);
    lir_licence_free(lic);
}
