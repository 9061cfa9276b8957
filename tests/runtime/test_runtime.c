/* test_runtime.c — the runtime's model manager on generated tiny models: installed models
 * (scan, stable ids), load/unload/list/status, the resource check refusing a load that does not
 * fit (fake MemAvailable) with a suggestion that does fit, double loads sharing one copy, loads
 * on demand happening once under concurrent requests, keep_alive (0 and short), tier limits
 * (WriterPro: one model, no embeddings, basic parameters), events in order with timestamps. */
#include "runtime/runtime_util.h"
#include "runtime/runtime.h" /* internals: the shared mappings */

static void fini(void) { rt_dir_remove(); }

Test(runtime, installed_models_and_stable_ids, .fini = fini) {
    rt_dir_make("inst");
    rt_model_make("alpha", LIR_GEN_LLAMA, 1);
    rt_model_make("family/beta-q8", LIR_GEN_QWEN2, 2);
    char junk[512];
    snprintf(junk, sizeof junk, "%s/junk.gguf", rt_dir);
    FILE *f = fopen(junk, "w");
    fputs("not a gguf", f);
    fclose(f);

    lir_runtime *rt = rt_new(NULL, NULL, NULL);
    struct lir_installed_model *v = NULL;
    int32_t n = 0;
    cr_assert_eq(lir_runtime_list_installed(rt, &v, &n), LIR_OK);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(v[0].name, "alpha");
    cr_assert_str_eq(v[1].name, "family/beta-q8");
    cr_assert_str_eq(v[0].arch, "llama");
    cr_assert_str_eq(v[1].arch, "qwen2");
    cr_assert_eq(v[0].context_length, 4096);
    cr_assert_eq(v[0].block_count, 2);
    cr_assert_gt(v[0].parameters, 100000);
    cr_assert_gt(v[0].size_bytes, 100000);
    cr_assert_eq(strlen(v[0].id), 36);
    cr_assert_str_neq(v[0].id, v[1].id);
    /* stable: a second scan, without a runtime, gives the same ids */
    struct lir_installed_model *w = NULL;
    int32_t n2 = 0;
    cr_assert_eq(lir_models_scan(rt_dir, &w, &n2), LIR_OK);
    cr_assert_eq(n2, 2);
    cr_assert_str_eq(w[0].id, v[0].id);
    cr_assert_str_eq(w[1].id, v[1].id);
    /* loading by id, by name and by path is the same model */
    char a[LIR_ID_LEN], b[LIR_ID_LEN], c[LIR_ID_LEN];
    struct lir_load_options o = rt_opts(512);
    rt_load(rt, v[0].id, &o, a);
    rt_load(rt, "alpha", &o, b);
    rt_load(rt, v[0].path, &o, c);
    cr_assert_str_eq(a, b);
    cr_assert_str_eq(a, c);
    char err[512];
    cr_assert_eq(lir_runtime_load(rt, "nope", &o, NULL, NULL, NULL, NULL, err, sizeof err), LIR_ENOTFOUND);
    cr_assert_eq(lir_runtime_load(rt, junk, &o, NULL, NULL, NULL, NULL, err, sizeof err), LIR_EFORMAT, "%s", err);
    lir_runtime_free(v);
    lir_runtime_free(w);
    lir_runtime_destroy(rt);
    struct lir_installed_model *e = NULL;
    cr_assert_eq(lir_models_scan("/nonexistent-lir-dir", &e, &n), LIR_OK);
    cr_assert_eq(n, 0);
}

static int progress_calls;
static float progress_last;
static int on_progress(float p, void *user) {
    (void)user;
    cr_assert_geq(p, progress_last);
    progress_last = p;
    progress_calls++;
    return 0;
}

Test(runtime, load_list_active_unload, .fini = fini) {
    rt_dir_make("load");
    rt_model_make("m1", LIR_GEN_LLAMA, 1);
    rt_model_make("m2", LIR_GEN_QWEN3, 2);
    lir_runtime *rt = rt_new(NULL, NULL, NULL);
    struct lir_loaded_model lm;
    cr_assert_eq(lir_runtime_get_active(rt, &lm), LIR_ENOTFOUND);

    struct lir_load_options o = lir_load_options_default();
    cr_assert_eq(o.gpu_layers, LIR_GPU_LAYERS_ALL);
    cr_assert_eq(o.batch_size, 256);
    cr_assert_eq(o.context_size, 0);
    cr_assert_eq(o.keep_alive_ms, 5 * 60 * 1000);
    o.threads = 1;
    char id1[LIR_ID_LEN], id2[LIR_ID_LEN], err[512];
    progress_calls = 0;
    progress_last = 0;
    cr_assert_eq(lir_runtime_load(rt, "m1", &o, on_progress, NULL, id1, NULL, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_geq(progress_calls, 2);
    cr_assert_float_eq(progress_last, 1.0f, 1e-6);
    cr_assert_eq(lir_runtime_get_loaded(rt, id1, &lm), LIR_OK);
    cr_assert_eq(lm.status, LIR_LOADED_READY);
    cr_assert_str_eq(lir_loaded_status_str(lm.status), "Ready");
    cr_assert_eq(lm.options.context_size, 4096, "context_size defaults to the model's maximum");
    cr_assert_eq(lm.resources.context_size, 4096);
    cr_assert_eq(lm.resources.loaded_layers, 2);
    cr_assert_eq(lm.resources.cpu_layers + lm.resources.gpu_layers, 2);
    cr_assert_gt(lm.resources.ram_bytes, 0);
    cr_assert_gt(lm.loaded_at_ms, 1700000000000LL);
    cr_assert_eq(lm.last_used_at_ms, 0);
    cr_assert_str_eq(lm.model.name, "m1");
    cr_assert_eq(lir_runtime_get_active(rt, &lm), LIR_OK, "the first loaded model becomes active");
    cr_assert_str_eq(lm.id, id1);

    struct lir_load_options o2 = rt_opts(1024);
    rt_load(rt, "m2", &o2, id2);
    struct lir_loaded_model *v = NULL;
    int32_t n = 0;
    cr_assert_eq(lir_runtime_list_loaded(rt, &v, &n), LIR_OK);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(v[0].id, id1);
    cr_assert_str_eq(v[1].id, id2);
    cr_assert_eq(v[1].options.context_size, 1024);
    lir_runtime_free(v);
    cr_assert_eq(lir_runtime_set_active(rt, id2), LIR_OK);
    cr_assert_eq(lir_runtime_get_active(rt, &lm), LIR_OK);
    cr_assert_str_eq(lm.id, id2);
    cr_assert_eq(lir_runtime_set_active(rt, "no-such-id"), LIR_ENOTFOUND);

    /* generation by the active model updates its metrics */
    struct lir_generate_request q = lir_generate_request_default();
    q.prompt = "Hello world";
    q.sampling.max_tokens = 8;
    q.sampling.seed = 1;
    struct lir_generate_result r;
    cr_assert_eq(lir_runtime_generate(rt, &q, &r, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_str_eq(r.loaded_model_id, id2);
    cr_assert_eq(lir_runtime_get_loaded(rt, id2, &lm), LIR_OK);
    cr_assert_eq(lm.metrics.total_requests, 1);
    cr_assert_eq(lm.metrics.total_tokens_generated, r.usage.completion_tokens);
    cr_assert_gt(lm.last_used_at_ms, 0);
    cr_assert_eq(lm.resources.context_used, r.usage.total_tokens - 1, "the last token is sampled, not evaluated");
    cr_assert_eq(lm.active_requests, 0);
    lir_generate_result_clear(&r);

    struct lir_resource_usage u;
    cr_assert_eq(lir_runtime_resource_usage(rt, &u), LIR_OK);
    cr_assert_eq(u.active_models, 2);
    cr_assert_gt(u.models_ram_bytes, 0);
    cr_assert_gt(u.system_ram_bytes, 0);
    cr_assert_gt(u.process_ram_bytes, 0);

    cr_assert_eq(lir_runtime_unload(rt, id2), LIR_OK);
    cr_assert_eq(lir_runtime_unload(rt, id2), LIR_ENOTFOUND);
    cr_assert_eq(lir_runtime_get_active(rt, &lm), LIR_ENOTFOUND, "the active model was unloaded");
    cr_assert_eq(lir_runtime_generate(rt, &q, &r, err, sizeof err), LIR_EINVAL, "no model and no active model");
    cr_assert_eq(lir_runtime_unload_all(rt), LIR_OK);
    cr_assert_eq(lir_runtime_list_loaded(rt, &v, &n), LIR_OK);
    cr_assert_eq(n, 0);
    cr_assert_null(v);
    lir_runtime_destroy(rt);
}

Test(runtime, options_are_checked) {
    rt_dir_make("opts");
    lir_runtime *rt = rt_new(NULL, NULL, NULL);
    char err[512];
    struct lir_load_options o = lir_load_options_default();
    o.batch_size = 0;
    cr_assert_eq(lir_runtime_load(rt, "x", &o, NULL, NULL, NULL, NULL, err, sizeof err), LIR_EINVAL);
    cr_assert(strstr(err, "batch_size"), "%s", err);
    o = lir_load_options_default();
    o.n_tensor_split = 2;
    o.tensor_split[1] = -1.0f;
    cr_assert_eq(lir_runtime_load(rt, "x", &o, NULL, NULL, NULL, NULL, err, sizeof err), LIR_EINVAL);
    cr_assert(strstr(err, "tensor_split[1]"), "%s", err);
    o = lir_load_options_default();
    o.keep_alive_ms = -5;
    cr_assert_eq(lir_runtime_load(rt, "x", &o, NULL, NULL, NULL, NULL, err, sizeof err), LIR_EINVAL);
    lir_runtime_destroy(rt);
    rt_dir_remove();
}

/* ---------------------------------------------------------------- resource check */

static uint64_t fake_avail;
static uint64_t fake_mem(void *user) {
    (void)user;
    return fake_avail;
}

Test(runtime, refuses_a_load_that_does_not_fit, .fini = fini) {
    rt_dir_make("oom");
    rt_model_make("big", LIR_GEN_LLAMA, 1);
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/big.gguf", rt_dir);
    lir_model *m = NULL;
    cr_assert_eq(lir_model_load(path, NULL, &m, err, sizeof err), LIR_OK);
    struct lir_mem_estimate full, small;
    lir_model_estimate_memory(m, 4096, 256, &full);
    lir_model_estimate_memory(m, 1024, 256, &small);
    lir_model_free(m);
    fake_avail = (small.total + full.total) / 2; /* 1024 fits (and 2048? only if under) */
    struct rec rec = { .mu = PTHREAD_MUTEX_INITIALIZER };
    lir_runtime *rt = rt_new(NULL, fake_mem, NULL);
    int64_t sub;
    cr_assert_eq(lir_runtime_subscribe(rt, rec_fn, &rec, &sub), LIR_OK);

    struct lir_load_options o = rt_opts(0);
    struct lir_resource_check c;
    cr_assert_eq(lir_runtime_check_resources(rt, "big", &o, &c, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_not(c.is_sufficient);
    char id[LIR_ID_LEN] = "";
    cr_assert_eq(lir_runtime_load(rt, "big", &o, NULL, NULL, id, &c, err, sizeof err), LIR_ENOMEM);
    cr_assert_not(c.is_sufficient);
    cr_assert_eq(c.n_issues, 1);
    cr_assert_eq(c.issues[0].resource, LIR_RESOURCE_RAM);
    cr_assert_eq(c.issues[0].required, full.total);
    cr_assert_eq(c.issues[0].available, fake_avail);
    cr_assert_geq(c.suggested_context_size, 1024);
    cr_assert_lt(c.suggested_context_size, 4096);
    char want[64];
    snprintf(want, sizeof want, "fits with context_size=%d", c.suggested_context_size);
    cr_assert_str_eq(c.suggestion, want);
    cr_assert(strstr(err, want), "the error carries the suggestion: %s", err);
    struct lir_loaded_model *v;
    int32_t n;
    cr_assert_eq(lir_runtime_list_loaded(rt, &v, &n), LIR_OK);
    cr_assert_eq(n, 0, "nothing stays loaded");
    lir_runtime_events_flush(rt);
    cr_assert_eq(rec.n, 1);
    cr_assert_eq(rec.ev[0].type, LIR_EVENT_MODEL_LOAD_FAILED, "no ModelLoadStarted before the check");
    cr_assert(strstr(rec.ev[0].message, "fits with context_size="));
    cr_assert_str_eq(rec.ev[0].model_name, "big");

    /* the suggestion does fit */
    o.context_size = c.suggested_context_size;
    cr_assert_eq(lir_runtime_load(rt, "big", &o, NULL, NULL, id, &c, err, sizeof err), LIR_OK, "%s", err);
    cr_assert(c.is_sufficient);
    /* nothing fits at all: no suggestion */
    fake_avail = 1000;
    o.context_size = 2048;
    lir_runtime_unload_all(rt);
    cr_assert_eq(lir_runtime_load(rt, "big", &o, NULL, NULL, id, &c, err, sizeof err), LIR_ENOMEM);
    cr_assert_eq(c.suggested_context_size, 0);
    cr_assert(strstr(c.suggestion, "does not fit"), "%s", c.suggestion);
    lir_runtime_destroy(rt);
}

/* ---------------------------------------------------------------- sharing, on-demand loads */

Test(runtime, double_load_is_one_copy, .fini = fini) {
    rt_dir_make("dbl");
    rt_model_make("m", LIR_GEN_LLAMA, 1);
    lir_runtime *rt = rt_new(NULL, NULL, NULL);
    char a[LIR_ID_LEN], b[LIR_ID_LEN], c[LIR_ID_LEN];
    struct lir_load_options o = rt_opts(512);
    rt_load(rt, "m", &o, a);
    rt_load(rt, "m", &o, b);
    cr_assert_str_eq(a, b, "the same model with the same options is loaded once");
    struct lir_loaded_model *v;
    int32_t n;
    cr_assert_eq(lir_runtime_list_loaded(rt, &v, &n), LIR_OK);
    cr_assert_eq(n, 1);
    uint64_t ram1 = v[0].resources.ram_bytes;
    lir_runtime_free(v);
    /* other options: a second loaded copy over the same mapping (weights counted once) */
    struct lir_load_options o2 = rt_opts(1024);
    rt_load(rt, "m", &o2, c);
    cr_assert_str_neq(a, c);
    struct lir_loaded_model lm;
    cr_assert_eq(lir_runtime_get_loaded(rt, c, &lm), LIR_OK);
    cr_assert_lt(lm.resources.ram_bytes, ram1, "the second copy does not count the weights again");
    int n_shared = 0;
    pthread_mutex_lock(&rt->mu);
    for (struct rt_shared *s = rt->shared; s; s = s->next) n_shared++;
    cr_assert_eq(rt->entries->shared, rt->entries->next->shared);
    pthread_mutex_unlock(&rt->mu);
    cr_assert_eq(n_shared, 1, "one mapping for the file");
    cr_assert_eq(lir_runtime_unload(rt, a), LIR_OK);
    pthread_mutex_lock(&rt->mu);
    cr_assert_not_null(rt->shared, "still mapped for the other copy");
    pthread_mutex_unlock(&rt->mu);
    cr_assert_eq(lir_runtime_unload(rt, c), LIR_OK);
    pthread_mutex_lock(&rt->mu);
    cr_assert_null(rt->shared, "unmapped with its last user");
    pthread_mutex_unlock(&rt->mu);
    lir_runtime_destroy(rt);
}

struct od_arg {
    lir_runtime *rt;
    enum lir_status s;
    char id[LIR_ID_LEN];
};
static void *on_demand(void *p) {
    struct od_arg *a = p;
    struct lir_generate_request q = lir_generate_request_default();
    q.model = "m";
    q.prompt = "Once";
    q.sampling.max_tokens = 4;
    q.sampling.seed = 5;
    struct lir_generate_result r;
    char err[512];
    a->s = lir_runtime_generate(a->rt, &q, &r, err, sizeof err);
    if (!a->s) {
        snprintf(a->id, sizeof a->id, "%s", r.loaded_model_id);
        lir_generate_result_clear(&r);
    }
    return NULL;
}

Test(runtime, concurrent_requests_for_an_unloaded_model_load_it_once, .fini = fini) {
    rt_dir_make("ondemand");
    rt_model_make("m", LIR_GEN_LLAMA, 3);
    struct rec rec = { .mu = PTHREAD_MUTEX_INITIALIZER };
    lir_runtime *rt = rt_new(NULL, NULL, NULL);
    cr_assert_eq(lir_runtime_subscribe(rt, rec_fn, &rec, NULL), LIR_OK);
    enum { T = 4 };
    pthread_t th[T];
    struct od_arg args[T];
    for (int i = 0; i < T; i++) {
        args[i] = (struct od_arg){ .rt = rt };
        pthread_create(&th[i], NULL, on_demand, &args[i]);
    }
    for (int i = 0; i < T; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < T; i++) {
        cr_assert_eq(args[i].s, LIR_OK);
        cr_assert_str_eq(args[i].id, args[0].id);
    }
    lir_runtime_events_flush(rt);
    int started = 0, completed = 0;
    for (int i = 0; i < rec.n; i++) {
        started += rec.ev[i].type == LIR_EVENT_MODEL_LOAD_STARTED;
        completed += rec.ev[i].type == LIR_EVENT_GENERATION_COMPLETED;
    }
    cr_assert_eq(started, 1);
    cr_assert_eq(completed, T);
    lir_runtime_destroy(rt);
}

/* ---------------------------------------------------------------- keep_alive */

static bool loaded_count_becomes(lir_runtime *rt, int32_t want, int ms) {
    for (int t = 0; t < ms; t += 10) {
        struct lir_loaded_model *v;
        int32_t n;
        lir_runtime_list_loaded(rt, &v, &n);
        lir_runtime_free(v);
        if (n == want) return true;
        usleep(10000);
    }
    return false;
}

Test(runtime, keep_alive, .fini = fini) {
    rt_dir_make("keep");
    rt_model_make("m", LIR_GEN_LLAMA, 1);
    lir_runtime *rt = rt_new(NULL, NULL, NULL);
    char id[LIR_ID_LEN], err[512];
    /* 0: unloaded as soon as its last request ends */
    struct lir_load_options o = rt_opts(512);
    o.keep_alive_ms = 0;
    rt_load(rt, "m", &o, id);
    struct lir_generate_request q = lir_generate_request_default();
    q.model = id;
    q.prompt = "Hi";
    q.sampling.max_tokens = 2;
    struct lir_generate_result r;
    cr_assert_eq(lir_runtime_generate(rt, &q, &r, err, sizeof err), LIR_OK, "%s", err);
    lir_generate_result_clear(&r);
    struct lir_loaded_model lm;
    cr_assert_eq(lir_runtime_get_loaded(rt, id, &lm), LIR_ENOTFOUND, "keep_alive 0 unloads at once");
    /* short: unloaded by the idle unloader */
    o.keep_alive_ms = 150;
    rt_load(rt, "m", &o, id);
    cr_assert_eq(lir_runtime_get_loaded(rt, id, &lm), LIR_OK);
    cr_assert(loaded_count_becomes(rt, 0, 3000), "unloaded after 150 ms idle");
    /* never */
    o.keep_alive_ms = LIR_KEEP_ALIVE_NEVER;
    rt_load(rt, "m", &o, id);
    usleep(300000);
    cr_assert_eq(lir_runtime_get_loaded(rt, id, &lm), LIR_OK);
    lir_runtime_destroy(rt);
}

/* ---------------------------------------------------------------- tiers */

Test(runtime, writer_pro_tier_limits, .fini = fini) {
    rt_dir_make("tier");
    rt_model_make("a", LIR_GEN_LLAMA, 1);
    rt_model_make("b", LIR_GEN_LLAMA, 2);
    lir_licence *lic = NULL;
    cr_assert_eq(lir_licence_create_static(LIR_TIER_WRITER_PRO, &lic), LIR_OK);
    struct rec rec = { .mu = PTHREAD_MUTEX_INITIALIZER };
    lir_runtime *rt = rt_new(lic, NULL, NULL);
    cr_assert_eq(lir_runtime_subscribe(rt, rec_fn, &rec, NULL), LIR_OK);
    char a[LIR_ID_LEN], err[512] = "";
    struct lir_load_options o = rt_opts(512);
    rt_load(rt, "a", &o, a);
    cr_assert_eq(lir_runtime_load(rt, "b", &o, NULL, NULL, NULL, NULL, err, sizeof err), LIR_ETIER);
    cr_assert(strstr(err, "WriterPro"), "%s", err);
    lir_runtime_events_flush(rt);
    cr_assert_eq(rec.ev[rec.n - 1].type, LIR_EVENT_MODEL_LOAD_FAILED);
    /* the same model again is no second model */
    char a2[LIR_ID_LEN];
    rt_load(rt, "a", &o, a2);
    cr_assert_str_eq(a, a2);
    /* basic parameters only, no embeddings, no grammar */
    struct lir_generate_request q = lir_generate_request_default();
    q.prompt = "Hi";
    q.sampling.max_tokens = 2;
    q.sampling.top_k = 5;
    struct lir_generate_result r;
    cr_assert_eq(lir_runtime_generate(rt, &q, &r, err, sizeof err), LIR_ETIER);
    cr_assert(strstr(err, "top_k"), "%s", err);
    q.sampling.top_k = 0;
    q.grammar = "root ::= \"a\"";
    cr_assert_eq(lir_runtime_generate(rt, &q, &r, err, sizeof err), LIR_ETIER);
    q.grammar = NULL;
    q.logprobs = true; /* log-probabilities are not basic generation either */
    cr_assert_eq(lir_runtime_generate(rt, &q, &r, err, sizeof err), LIR_ETIER);
    cr_assert(strstr(err, "logprobs"), "%s", err);
    q.logprobs = false;
    cr_assert_eq(lir_runtime_generate(rt, &q, &r, err, sizeof err), LIR_OK, "%s", err);
    lir_generate_result_clear(&r);
    const char *texts[] = { "x" };
    struct lir_embed_request eq = lir_embed_request_default();
    eq.texts = texts;
    eq.n_texts = 1;
    struct lir_embed_result er;
    cr_assert_eq(lir_runtime_embed(rt, &eq, &er, err, sizeof err), LIR_ETIER);
    /* unloading frees the slot */
    cr_assert_eq(lir_runtime_unload(rt, a), LIR_OK);
    rt_load(rt, "b", &o, a);
    /* multi-GPU placement is Enterprise */
    lir_runtime_unload_all(rt);
    o.n_tensor_split = 2;
    o.tensor_split[0] = o.tensor_split[1] = 1.0f;
    cr_assert_eq(lir_runtime_load(rt, "b", &o, NULL, NULL, NULL, NULL, err, sizeof err), LIR_ETIER);
    lir_runtime_destroy(rt);
    lir_licence_free(lic);
}

/* ---------------------------------------------------------------- events */

Test(runtime, events_in_order_with_timestamps, .fini = fini) {
    rt_dir_make("events");
    rt_model_make("m", LIR_GEN_LLAMA, 1);
    struct rec rec = { .mu = PTHREAD_MUTEX_INITIALIZER };
    lir_runtime *rt = rt_new(NULL, NULL, NULL);
    int64_t sub;
    cr_assert_eq(lir_runtime_subscribe(rt, rec_fn, &rec, &sub), LIR_OK);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t t0 = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    char id[LIR_ID_LEN], err[512];
    struct lir_load_options o = rt_opts(512);
    rt_load(rt, "m", &o, id);
    struct lir_generate_request q = lir_generate_request_default();
    q.prompt = "Hello";
    q.sampling.max_tokens = 3;
    struct lir_generate_result r;
    cr_assert_eq(lir_runtime_generate(rt, &q, &r, err, sizeof err), LIR_OK, "%s", err);
    q.prompt = NULL; /* a failing request */
    struct lir_generate_result r2;
    cr_assert_eq(lir_runtime_generate(rt, &q, &r2, err, sizeof err), LIR_EINVAL);
    struct lir_event alert = { .type = LIR_EVENT_CONTEXT_TRUNCATED, .tokens_before = 100, .tokens_after = 50 };
    snprintf(alert.loaded_model_id, sizeof alert.loaded_model_id, "%s", id);
    cr_assert_eq(lir_runtime_emit(rt, &alert), LIR_OK);
    cr_assert_eq(lir_runtime_unload(rt, id), LIR_OK);
    lir_runtime_events_flush(rt);
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t t1 = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    const enum lir_event_type want[] = {
        LIR_EVENT_MODEL_LOAD_STARTED, LIR_EVENT_MODEL_LOAD_COMPLETED, LIR_EVENT_GENERATION_STARTED,
        LIR_EVENT_GENERATION_COMPLETED, LIR_EVENT_GENERATION_FAILED, LIR_EVENT_CONTEXT_TRUNCATED,
        LIR_EVENT_MODEL_UNLOADED,
    };
    cr_assert_eq(rec.n, 7);
    for (int i = 0; i < 7; i++) {
        cr_assert_eq(rec.ev[i].type, want[i], "event %d is %s", i, lir_event_type_str(rec.ev[i].type));
        cr_assert_eq(rec.ev[i].seq, rec.ev[0].seq + (uint64_t)i);
        cr_assert_geq(rec.ev[i].timestamp_ms, t0);
        cr_assert_leq(rec.ev[i].timestamp_ms, t1);
        if (i) cr_assert_geq(rec.ev[i].timestamp_ms, rec.ev[i - 1].timestamp_ms);
    }
    cr_assert_str_eq(rec.ev[0].model_name, "m");
    cr_assert_eq(rec.ev[0].options.context_size, 512);
    cr_assert_str_eq(rec.ev[1].loaded_model_id, id);
    cr_assert_geq(rec.ev[1].duration_ms, 0.0);
    cr_assert_eq(rec.ev[2].prompt_tokens, r.usage.prompt_tokens);
    cr_assert_eq(rec.ev[3].completion_tokens, r.usage.completion_tokens);
    cr_assert_float_eq(rec.ev[3].metrics.total_ms, r.metrics.total_ms, 1e-9);
    cr_assert(strstr(rec.ev[4].message, "prompt"), "%s", rec.ev[4].message);
    cr_assert_eq(rec.ev[5].tokens_after, 50);
    cr_assert_str_eq(rec.ev[6].loaded_model_id, id);
    cr_assert_str_eq(lir_event_type_str(LIR_EVENT_RESOURCE_ALERT), "ResourceAlert");
    lir_generate_result_clear(&r);
    /* after unsubscribe nothing more arrives */
    cr_assert_eq(lir_runtime_unsubscribe(rt, sub), LIR_OK);
    cr_assert_eq(lir_runtime_unsubscribe(rt, sub), LIR_ENOTFOUND);
    rt_load(rt, "m", &o, id);
    lir_runtime_events_flush(rt);
    cr_assert_eq(rec.n, 7);
    lir_runtime_destroy(rt);
}

/* ---------------------------------------------------------------- cancel a load, unload under load */

static int cancel_progress(float p, void *user) {
    (void)user;
    return p > 0.5f;
}

Test(runtime, progress_callback_cancels_a_load, .fini = fini) {
    rt_dir_make("cancel");
    rt_model_make("m", LIR_GEN_LLAMA, 1);
    struct rec rec = { .mu = PTHREAD_MUTEX_INITIALIZER };
    lir_runtime *rt = rt_new(NULL, NULL, NULL);
    cr_assert_eq(lir_runtime_subscribe(rt, rec_fn, &rec, NULL), LIR_OK);
    struct lir_load_options o = rt_opts(512);
    char err[512] = "";
    cr_assert_eq(lir_runtime_load(rt, "m", &o, cancel_progress, NULL, NULL, NULL, err, sizeof err), LIR_ECANCELLED);
    struct lir_loaded_model *v;
    int32_t n;
    cr_assert_eq(lir_runtime_list_loaded(rt, &v, &n), LIR_OK);
    cr_assert_eq(n, 0);
    lir_runtime_events_flush(rt);
    cr_assert_eq(rec.n, 2);
    cr_assert_eq(rec.ev[0].type, LIR_EVENT_MODEL_LOAD_STARTED);
    cr_assert_eq(rec.ev[1].type, LIR_EVENT_MODEL_LOAD_FAILED);
    pthread_mutex_lock(&rt->mu);
    cr_assert_null(rt->shared, "the mapping is released");
    cr_assert_eq(rt->reserved, 0);
    pthread_mutex_unlock(&rt->mu);
    char id[LIR_ID_LEN];
    rt_load(rt, "m", &o, id); /* and a later load works */
    lir_runtime_destroy(rt);
}

static int slow_chunk(const struct lir_generate_chunk *c, void *user) {
    (void)c;
    (*(int *)user)++;
    usleep(20000);
    return 0;
}

struct slow_arg {
    lir_runtime *rt;
    const char *id;
    int chunks;
    enum lir_status s;
};

static void *slow_gen(void *p) {
    struct slow_arg *a = p;
    struct lir_generate_request q = lir_generate_request_default();
    q.model = a->id;
    q.prompt = "Once upon a time";
    q.sampling.max_tokens = 12;
    q.sampling.seed = 2;
    a->s = lir_runtime_generate_stream(a->rt, &q, slow_chunk, &a->chunks, NULL, NULL, 0);
    return NULL;
}

Test(runtime, unload_waits_for_running_requests, .fini = fini) {
    rt_dir_make("unl");
    rt_model_make("m", LIR_GEN_LLAMA, 1);
    lir_runtime *rt = rt_new(NULL, NULL, NULL);
    char id[LIR_ID_LEN];
    struct lir_load_options o = rt_opts(512);
    rt_load(rt, "m", &o, id);
    struct slow_arg a = { .rt = rt, .id = id };
    pthread_t th;
    pthread_create(&th, NULL, slow_gen, &a);
    struct lir_loaded_model lm;
    for (int i = 0; i < 500; i++) { /* until it runs */
        cr_assert_eq(lir_runtime_get_loaded(rt, id, &lm), LIR_OK);
        if (lm.active_requests) break;
        usleep(1000);
    }
    cr_assert_eq(lir_runtime_unload(rt, id), LIR_OK);
    pthread_join(th, NULL);
    cr_assert_eq(a.s, LIR_OK, "the running request finished first");
    cr_assert_gt(a.chunks, 1);
    cr_assert_eq(lir_runtime_get_loaded(rt, id, &lm), LIR_ENOTFOUND);
    lir_runtime_destroy(rt);
}

Test(runtime, inspect_one_file) {
    rt_dir_make("insp");
    rt_model_make("x", LIR_GEN_QWEN3, 1);
    char path[512], err[512] = "";
    snprintf(path, sizeof path, "%s/x.gguf", rt_dir);
    struct lir_installed_model m;
    cr_assert_eq(lir_model_inspect(path, &m, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_str_eq(m.arch, "qwen3");
    cr_assert_str_eq(m.display_name, "lir-gen tiny qwen3");
    cr_assert_eq(m.block_count, 2);
    cr_assert_eq(lir_model_inspect("/nonexistent.gguf", &m, err, sizeof err), LIR_EIO);
    rt_dir_remove();
}
