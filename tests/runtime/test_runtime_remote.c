/* test_runtime_remote.c — remote models in the runtime (lir_runtime_add_remote), against the
 * router tests' scripted local HTTP server (router/mock_server.h, 127.0.0.1 only):
 *  - a remote Ollama model is listed (source "remote", backend "ollama"), streams its text in
 *    chunks ending with one complete chunk, reports the server's usage, emits GenerationStarted
 *    and GenerationCompleted, and sent the request to /api/generate with the server's model name;
 *  - messages go to /api/chat (OpenAI: /v1/chat/completions) as a JSON array, system first;
 *  - fallback order: a refusing first backend (retried, then left) and an OpenAI second one; each
 *    failed attempt is a GenerationFailed event naming the backend and "connect";
 *  - a native model with a remote fallback: answered natively when it fits (the server sees
 *    nothing), by the server when the native load is refused for memory (generation, embeddings);
 *  - remote embeddings normalized; removal; argument checks; grammars refused for remote models;
 *  - a stream callback cancels a remote request at once; four threads at once on a remote model
 *    while a fallback backend is added. */
#include "runtime/runtime_util.h"
#include "router/mock_server.h"
#include <math.h>

static void fini(void) { rt_dir_remove(); }

#define HTTP_OK_SSE "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
#define HTTP_OK_NDJSON "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\n\r\n"

static const struct mock_seg OLLAMA_GEN[] = {
    { HTTP_OK_NDJSON, 0, 0 },
    { "{\"model\":\"llama3\",\"response\":\"Hello\",\"done\":false}\n", 0, 0 },
    { "{\"model\":\"llama3\",\"response\":\" there\",\"done\":false}\n", 5, 0 },
    { "{\"model\":\"llama3\",\"response\":\"\",\"done\":true,\"done_reason\":\"stop\",\"prompt_eval_count\":4,"
      "\"eval_count\":2}\n", 5, 0 },
    { NULL, 0, 0 },
};

static const struct mock_seg OLLAMA_CHAT[] = {
    { HTTP_OK_NDJSON, 0, 0 },
    { "{\"message\":{\"role\":\"assistant\",\"content\":\"Short.\"},\"done\":false}\n", 0, 0 },
    { "{\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"length\","
      "\"prompt_eval_count\":12,\"eval_count\":1}\n", 3, 0 },
    { NULL, 0, 0 },
};

static const struct mock_seg OPENAI_CHAT[] = {
    { HTTP_OK_SSE, 0, 0 },
    { "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n", 0, 0 },
    { "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" you\"},\"finish_reason\":\"stop\"}]}\n\n", 3, 0 },
    { "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2,\"total_tokens\":9}}\n\n", 0, 0 },
    { "data: [DONE]\n\n", 0, 0 },
    { NULL, 0, 0 },
};

static struct lir_remote_params remote_at(enum lir_remote_kind kind, int port, char *url, size_t n) {
    snprintf(url, n, "http://127.0.0.1:%d", port);
    struct lir_remote_params p = lir_remote_params_default();
    p.kind = kind;
    p.base_url = url;
    p.connect_timeout_ms = 1000;
    p.first_token_timeout_ms = 5000;
    p.max_retries = 1;
    p.retry_backoff_ms = 10;
    return p;
}

struct srec {
    char text[1024];
    size_t len;
    int chunks, complete;
    int32_t last_index;
    enum lir_finish_reason fr;
};

static int on_chunk(const struct lir_generate_chunk *c, void *user) {
    struct srec *s = user;
    if (s->complete || s->len + c->len >= sizeof s->text) return 1;
    memcpy(s->text + s->len, c->text, c->len);
    s->len += c->len;
    s->chunks++;
    if (c->token_index < s->last_index) s->last_index = -1000; /* checked below */
    else s->last_index = c->token_index;
    if (c->is_complete) {
        s->complete++;
        s->fr = c->finish_reason;
    }
    return 0;
}

static int count_events(struct rec *r, enum lir_event_type t, const char *needle) {
    int n = 0;
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->n; i++)
        if (r->ev[i].type == t && (!needle || strstr(r->ev[i].message, needle))) n++;
    pthread_mutex_unlock(&r->mu);
    return n;
}

Test(runtime_remote, ollama_model_listed_streamed_and_evented, .fini = fini) {
    rt_dir_make("remote1");
    rt_model_make("local0", LIR_GEN_LLAMA, 1);
    struct mock m;
    mock_start(&m, OLLAMA_GEN);
    lir_runtime *rt = rt_new(NULL, NULL, NULL);
    struct rec R = { .mu = PTHREAD_MUTEX_INITIALIZER };
    int64_t sub;
    cr_assert_eq(lir_runtime_subscribe(rt, rec_fn, &R, &sub), LIR_OK);
    char url[64], err[512] = "";
    struct lir_remote_params p = remote_at(LIR_REMOTE_OLLAMA, m.port, url, sizeof url);
    p.model = "llama3:8b";
    cr_assert_eq(lir_runtime_add_remote(rt, "office-llama", &p, err, sizeof err), LIR_OK, "%s", err);

    struct lir_installed_model *v = NULL;
    int32_t n = 0;
    cr_assert_eq(lir_runtime_list_installed(rt, &v, &n), LIR_OK);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(v[0].name, "local0");
    cr_assert_str_eq(v[0].source, "local");
    cr_assert_str_eq(v[1].name, "office-llama");
    cr_assert_str_eq(v[1].source, "remote");
    cr_assert_str_eq(v[1].backend, "ollama");
    cr_assert_str_eq(v[1].path, url);
    cr_assert_str_eq(v[1].display_name, "llama3:8b");
    char id[LIR_ID_LEN];
    snprintf(id, sizeof id, "%s", v[1].id);
    cr_assert_eq(strlen(id), 36);
    lir_runtime_free(v);

    struct lir_generate_request q = lir_generate_request_default();
    q.model = id; /* by its id */
    q.prompt = "Say hello";
    q.sampling.max_tokens = 8;
    struct srec s = { 0 };
    struct lir_generate_result r;
    cr_assert_eq(lir_runtime_generate_stream(rt, &q, on_chunk, &s, &r, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_str_eq(r.text, "Hello there");
    cr_assert_eq(s.len, 11);
    cr_assert(!memcmp(s.text, "Hello there", 11));
    cr_assert_eq(s.chunks, 3, "two text chunks and the complete one");
    cr_assert_eq(s.complete, 1);
    cr_assert_eq(s.fr, LIR_FINISH_STOP);
    cr_assert_geq(s.last_index, 0, "token_index never goes back");
    cr_assert_eq(r.usage.prompt_tokens, 4);
    cr_assert_eq(r.usage.completion_tokens, 2);
    cr_assert_eq(r.usage.total_tokens, 6);
    cr_assert_eq(r.finish_reason, LIR_FINISH_STOP);
    cr_assert_gt(r.metrics.total_ms, 0.0);
    cr_assert_geq(r.metrics.total_ms, r.metrics.ttft_ms);
    lir_generate_result_clear(&r);
    cr_assert_eq(mock_n_req(&m), 1);
    cr_assert_str_eq(m.path[0], "/api/generate");
    cr_assert(strstr(m.body[0], "\"model\":\"llama3:8b\""), "%s", m.body[0]);
    cr_assert(strstr(m.body[0], "\"prompt\":\"Say hello\""), "%s", m.body[0]);
    cr_assert(strstr(m.body[0], "\"num_predict\":8"), "%s", m.body[0]);

    /* blocking, with messages: /api/chat, system message first */
    struct mock mc;
    mock_start(&mc, OLLAMA_CHAT);
    char url2[64];
    struct lir_remote_params pc = remote_at(LIR_REMOTE_OLLAMA, mc.port, url2, sizeof url2);
    cr_assert_eq(lir_runtime_add_remote(rt, "office-chat", &pc, err, sizeof err), LIR_OK, "%s", err);
    struct lir_chat_message msgs[] = { { LIR_ROLE_USER, "Hi" } };
    q = lir_generate_request_default();
    q.model = "office-chat";
    q.messages = msgs;
    q.n_messages = 1;
    q.system_prompt = "Be brief.";
    cr_assert_eq(lir_runtime_generate(rt, &q, &r, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_str_eq(r.text, "Short.");
    cr_assert_eq(r.finish_reason, LIR_FINISH_LENGTH);
    cr_assert_eq(r.usage.prompt_tokens, 12);
    lir_generate_result_clear(&r);
    cr_assert_str_eq(mc.path[0], "/api/chat");
    cr_assert(strstr(mc.body[0], "\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                                 "{\"role\":\"user\",\"content\":\"Hi\"}]"),
              "%s", mc.body[0]);
    mock_stop(&mc);
    cr_assert_eq(lir_runtime_remove_remote(rt, "office-chat"), LIR_OK);

    /* the profiler records remote requests as it records native ones */
    struct lir_request_record *pr = NULL;
    int32_t npr = 0;
    cr_assert_eq(lir_runtime_profile_records(rt, NULL, &pr, &npr), LIR_OK);
    cr_assert_eq(npr, 2);
    cr_assert_str_eq(pr[0].model_name, "office-llama");
    cr_assert_str_eq(pr[0].loaded_model_id, id);
    cr_assert_eq(pr[0].usage.prompt_tokens, 4);
    cr_assert_eq(pr[0].usage.completion_tokens, 2);
    cr_assert_eq(pr[0].finish_reason, LIR_FINISH_STOP);
    cr_assert_gt(pr[0].metrics.total_ms, 0.0);
    cr_assert_str_eq(pr[1].model_name, "office-chat");
    cr_assert_eq(pr[1].usage.prompt_tokens, 12);
    cr_assert_eq(pr[1].finish_reason, LIR_FINISH_LENGTH);
    lir_runtime_free(pr);

    /* not loaded, never listed as loaded */
    struct lir_loaded_model *lv = NULL;
    cr_assert_eq(lir_runtime_list_loaded(rt, &lv, &n), LIR_OK);
    cr_assert_eq(n, 0);
    lir_runtime_events_flush(rt);
    cr_assert_eq(count_events(&R, LIR_EVENT_GENERATION_STARTED, NULL), 2);
    cr_assert_eq(count_events(&R, LIR_EVENT_GENERATION_COMPLETED, NULL), 2);
    cr_assert_eq(count_events(&R, LIR_EVENT_GENERATION_FAILED, NULL), 0);

    /* removed: the name is no model any more */
    cr_assert_eq(lir_runtime_remove_remote(rt, "office-llama"), LIR_OK);
    cr_assert_eq(lir_runtime_remove_remote(rt, "office-llama"), LIR_ENOTFOUND);
    q = lir_generate_request_default();
    q.model = "office-llama";
    q.prompt = "x";
    cr_assert_eq(lir_runtime_generate(rt, &q, &r, err, sizeof err), LIR_ENOTFOUND);
    cr_assert_eq(lir_runtime_list_installed(rt, &v, &n), LIR_OK);
    cr_assert_eq(n, 1);
    lir_runtime_free(v);
    lir_runtime_destroy(rt);
    mock_stop(&m);
}

Test(runtime_remote, fallback_order_and_failed_events, .fini = fini) {
    rt_dir_make("remote2");
    struct mock m;
    mock_start(&m, OPENAI_CHAT);
    int rfd;
    int rport = refusing_port(&rfd);
    lir_runtime *rt = rt_new(NULL, NULL, NULL);
    struct rec R = { .mu = PTHREAD_MUTEX_INITIALIZER };
    int64_t sub;
    cr_assert_eq(lir_runtime_subscribe(rt, rec_fn, &R, &sub), LIR_OK);
    char u1[64], u2[64], err[512] = "";
    struct lir_remote_params p1 = remote_at(LIR_REMOTE_OLLAMA, rport, u1, sizeof u1);
    p1.name = "down";
    struct lir_remote_params p2 = remote_at(LIR_REMOTE_OPENAI, m.port, u2, sizeof u2);
    p2.name = "lmstudio";
    cr_assert_eq(lir_runtime_add_remote(rt, "chat", &p1, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_eq(lir_runtime_add_remote(rt, "chat", &p2, err, sizeof err), LIR_OK, "%s", err);
    struct lir_installed_model *v = NULL;
    int32_t n = 0;
    cr_assert_eq(lir_runtime_list_installed(rt, &v, &n), LIR_OK);
    cr_assert_eq(n, 1, "one model, two backends");
    cr_assert_str_eq(v[0].backend, "ollama", "the first backend's kind");
    lir_runtime_free(v);

    struct lir_chat_message msgs[] = { { LIR_ROLE_USER, "Hello?" } };
    struct lir_generate_request q = lir_generate_request_default();
    q.model = "chat";
    q.messages = msgs;
    q.n_messages = 1;
    struct lir_generate_result r;
    cr_assert_eq(lir_runtime_generate(rt, &q, &r, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_str_eq(r.text, "Hi you");
    cr_assert_eq(r.usage.prompt_tokens, 7);
    cr_assert_eq(r.usage.completion_tokens, 2);
    lir_generate_result_clear(&r);
    cr_assert_str_eq(m.path[0], "/v1/chat/completions");
    lir_runtime_events_flush(rt);
    /* attempt 1 and its retry on "down", both connect failures; then "lmstudio" answered */
    cr_assert_eq(count_events(&R, LIR_EVENT_GENERATION_FAILED, "'down'"), 2);
    cr_assert_eq(count_events(&R, LIR_EVENT_GENERATION_FAILED, "connect"), 2);
    cr_assert_eq(count_events(&R, LIR_EVENT_GENERATION_FAILED, "no backend left"), 0);
    cr_assert_eq(count_events(&R, LIR_EVENT_GENERATION_COMPLETED, NULL), 1);

    /* only the refusing backend: the request fails, naming it; the last event is final */
    cr_assert_eq(lir_runtime_add_remote(rt, "lonely", &p1, err, sizeof err), LIR_OK, "%s", err);
    q.model = "lonely";
    cr_assert_eq(lir_runtime_generate(rt, &q, &r, err, sizeof err), LIR_EIO);
    cr_assert(strstr(err, "lonely") && strstr(err, "down"), "%s", err);
    lir_runtime_events_flush(rt);
    cr_assert_eq(count_events(&R, LIR_EVENT_GENERATION_FAILED, "no backend left"), 1);
    lir_runtime_destroy(rt);
    close(rfd);
    mock_stop(&m);
}

static uint64_t mem_small(void *u) { return *(uint64_t *)u; }

Test(runtime_remote, native_model_with_remote_fallback, .fini = fini) {
    rt_dir_make("remote3");
    rt_model_make("m0", LIR_GEN_LLAMA, 3);
    struct mock m;
    mock_start(&m, OLLAMA_GEN);
    uint64_t avail = 64ull << 30;
    lir_runtime *rt = rt_new(NULL, mem_small, &avail);
    char url[64], err[512] = "";
    struct lir_remote_params p = remote_at(LIR_REMOTE_OLLAMA, m.port, url, sizeof url);
    cr_assert_eq(lir_runtime_add_remote(rt, "m0", &p, err, sizeof err), LIR_OK, "%s", err);
    struct lir_installed_model *v = NULL;
    int32_t n = 0;
    cr_assert_eq(lir_runtime_list_installed(rt, &v, &n), LIR_OK);
    cr_assert_eq(n, 1, "the native model is listed once, as its file");
    cr_assert_str_eq(v[0].source, "local");
    lir_runtime_free(v);

    /* fits: the native engine answers, the server sees nothing */
    struct lir_generate_request q = lir_generate_request_default();
    q.model = "m0";
    q.prompt = "Hello";
    q.sampling.max_tokens = 6;
    q.sampling.temperature = 0.0f;
    struct srec s = { 0 };
    struct lir_generate_result r, direct;
    cr_assert_eq(lir_runtime_generate_stream(rt, &q, on_chunk, &s, &r, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_eq(mock_n_req(&m), 0);
    cr_assert_eq(s.complete, 1);
    cr_assert_eq(s.len, r.len);
    cr_assert(!memcmp(s.text, r.text, r.len));
    cr_assert_eq(r.usage.completion_tokens, 6);
    cr_assert_eq(strlen(r.loaded_model_id), 36, "the native result's loaded id");
    /* the same request on the loaded id (not routed) gives the same text */
    q.model = r.loaded_model_id;
    cr_assert_eq(lir_runtime_generate(rt, &q, &direct, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_eq(direct.len, r.len);
    cr_assert(!memcmp(direct.text, r.text, r.len));
    lir_generate_result_clear(&direct);
    lir_generate_result_clear(&r);

    /* does not fit: the native load is refused before any text, the server answers */
    cr_assert_eq(lir_runtime_unload_all(rt), LIR_OK);
    avail = 1024;
    q.model = "m0";
    cr_assert_eq(lir_runtime_generate(rt, &q, &r, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_str_eq(r.text, "Hello there");
    cr_assert_eq(mock_n_req(&m), 1);
    lir_generate_result_clear(&r);

    /* a grammar is not sent to servers: native only, so the memory refusal is the answer */
    q.grammar = "root ::= \"a\"";
    cr_assert_eq(lir_runtime_generate(rt, &q, &r, err, sizeof err), LIR_ENOMEM, "%s", err);
    cr_assert_eq(mock_n_req(&m), 1);
    lir_runtime_destroy(rt);
    mock_stop(&m);
}

Test(runtime_remote, embeddings_normalized, .fini = fini) {
    rt_dir_make("remote4");
    static const char BODY[] = "{\"model\":\"e\",\"embeddings\":[[3,4],[0,-2]],\"prompt_eval_count\":5}";
    static char resp[512];
    snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(BODY), BODY);
    const struct mock_seg S[] = { { resp, 0, 0 }, { NULL, 0, 0 } };
    struct mock m;
    mock_start(&m, S);
    lir_runtime *rt = rt_new(NULL, NULL, NULL);
    char url[64], err[512] = "";
    struct lir_remote_params p = remote_at(LIR_REMOTE_OLLAMA, m.port, url, sizeof url);
    cr_assert_eq(lir_runtime_add_remote(rt, "emb", &p, err, sizeof err), LIR_OK, "%s", err);
    const char *texts[] = { "a", "b" };
    struct lir_embed_request q = lir_embed_request_default();
    q.model = "emb";
    q.texts = texts;
    q.n_texts = 2;
    struct lir_embed_result r;
    cr_assert_eq(lir_runtime_embed(rt, &q, &r, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_eq(r.n, 2);
    cr_assert_eq(r.dimensions, 2);
    cr_assert_float_eq(r.embeddings[0], 0.6f, 1e-6);
    cr_assert_float_eq(r.embeddings[1], 0.8f, 1e-6);
    cr_assert_float_eq(r.embeddings[2], 0.0f, 1e-6);
    cr_assert_float_eq(r.embeddings[3], -1.0f, 1e-6);
    cr_assert_eq(r.total_tokens, 5);
    cr_assert_str_eq(m.path[0], "/api/embed");
    lir_embed_result_clear(&r);
    q.normalize = false;
    cr_assert_eq(lir_runtime_embed(rt, &q, &r, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_float_eq(r.embeddings[0], 3.0f, 1e-6);
    lir_embed_result_clear(&r);
    lir_runtime_destroy(rt);
    mock_stop(&m);
}

Test(runtime_remote, argument_checks, .fini = fini) {
    rt_dir_make("remote5");
    lir_runtime *rt = rt_new(NULL, NULL, NULL);
    char err[512] = "";
    struct lir_remote_params p = lir_remote_params_default();
    p.base_url = "ftp://example";
    cr_assert_eq(lir_runtime_add_remote(rt, "x", &p, err, sizeof err), LIR_EINVAL);
    cr_assert(strstr(err, "base_url"), "%s", err);
    p.base_url = "http://127.0.0.1:9";
    cr_assert_eq(lir_runtime_add_remote(rt, "", &p, err, sizeof err), LIR_EINVAL);
    cr_assert_eq(lir_runtime_add_remote(rt, "*", &p, err, sizeof err), LIR_EINVAL);
    cr_assert_eq(lir_runtime_add_remote(NULL, "x", &p, err, sizeof err), LIR_EINVAL);
    cr_assert_eq(lir_runtime_add_remote(rt, "x", NULL, err, sizeof err), LIR_EINVAL);
    p.max_retries = 1000; /* the router's range check */
    cr_assert_eq(lir_runtime_add_remote(rt, "x", &p, err, sizeof err), LIR_EINVAL);
    cr_assert(strstr(err, "max_retries"), "%s", err);
    struct lir_installed_model *v = NULL;
    int32_t n = 0;
    cr_assert_eq(lir_runtime_list_installed(rt, &v, &n), LIR_OK);
    cr_assert_eq(n, 0, "a refused backend leaves no model behind");
    p.max_retries = 0;
    cr_assert_eq(lir_runtime_add_remote(rt, "x", &p, err, sizeof err), LIR_OK, "%s", err);
    struct lir_generate_request q = lir_generate_request_default();
    q.model = "x";
    q.prompt = "a";
    q.grammar = "root ::= \"a\"";
    struct lir_generate_result r;
    cr_assert_eq(lir_runtime_generate(rt, &q, &r, err, sizeof err), LIR_EUNSUPPORTED);
    cr_assert(strstr(err, "remote"), "%s", err);
    q.grammar = NULL;
    q.sampling.temperature = -1.0f;
    cr_assert_eq(lir_runtime_generate(rt, &q, &r, err, sizeof err), LIR_ERANGE);
    cr_assert(strstr(err, "temperature"), "%s", err);
    cr_assert_eq(lir_runtime_remove_remote(rt, NULL), LIR_EINVAL);
    lir_runtime_destroy(rt);
}

/* ---------------------------------------------------------------- cancel, threads */

static const struct mock_seg OLLAMA_SLOW[] = {
    { HTTP_OK_NDJSON, 0, 0 },
    { "{\"response\":\"one \",\"done\":false}\n", 0, 0 },
    { "{\"response\":\"two \",\"done\":false}\n", 3000, 0 },
    { "{\"response\":\"three\",\"done\":false}\n", 10, 0 },
    { "{\"response\":\"\",\"done\":true,\"done_reason\":\"stop\"}\n", 10, 0 },
    { NULL, 0, 0 },
};

struct cancel_rec {
    int n;
    uint64_t t_cancel; /* when the callback cancelled */
};

static int cancel_first(const struct lir_generate_chunk *c, void *user) {
    struct cancel_rec *cr = user;
    cr->n++;
    if (c->len > 0 && !cr->t_cancel) cr->t_cancel = lir__now_ns();
    return c->len > 0; /* cancel at the first text */
}

struct rjob {
    lir_runtime *rt;
    enum lir_status s;
    char text[64];
};

static void *rjob_main(void *p) {
    struct rjob *j = p;
    struct lir_generate_request q = lir_generate_request_default();
    q.model = "fast";
    q.prompt = "count";
    struct lir_generate_result r;
    char err[256];
    j->s = lir_runtime_generate(j->rt, &q, &r, err, sizeof err);
    if (!j->s) {
        snprintf(j->text, sizeof j->text, "%s", r.text);
        lir_generate_result_clear(&r);
    }
    return NULL;
}

Test(runtime_remote, cancel_and_concurrent_requests, .fini = fini) {
    rt_dir_make("remote6");
    struct mock m;
    mock_start(&m, OLLAMA_SLOW);
    lir_runtime *rt = rt_new(NULL, NULL, NULL);
    char url[64], err[512] = "";
    struct lir_remote_params p = remote_at(LIR_REMOTE_OLLAMA, m.port, url, sizeof url);
    cr_assert_eq(lir_runtime_add_remote(rt, "slow", &p, err, sizeof err), LIR_OK, "%s", err);

    /* the stream callback cancels: the call ends without waiting for the rest */
    struct lir_generate_request q = lir_generate_request_default();
    q.model = "slow";
    q.prompt = "count";
    struct lir_generate_result r;
    struct cancel_rec cr = { 0 };
    cr_assert_eq(lir_runtime_generate_stream(rt, &q, cancel_first, &cr, &r, err, sizeof err), LIR_ECANCELLED, "%s", err);
    double ms = (double)(lir__now_ns() - cr.t_cancel) / 1e6;
    cr_assert_eq(cr.n, 1, "no chunk after the cancelling one");
    cr_assert_str_eq(r.text, "one ");
    cr_assert_eq(r.finish_reason, LIR_FINISH_CANCELLED);
    cr_assert_lt(ms, 2000.0, "returned at once after the cancel (the server's next line comes 3 s later): %.0f ms", ms);
    lir_generate_result_clear(&r);
    mock_stop(&m);

    struct mock f;
    mock_start(&f, OLLAMA_GEN);
    p = remote_at(LIR_REMOTE_OLLAMA, f.port, url, sizeof url);
    cr_assert_eq(lir_runtime_add_remote(rt, "fast", &p, err, sizeof err), LIR_OK, "%s", err);

    /* four threads at once, while another backend is added to the model's fallbacks */
    enum { T = 4 };
    struct rjob jobs[T];
    pthread_t th[T];
    for (int i = 0; i < T; i++) {
        jobs[i] = (struct rjob){ .rt = rt };
        pthread_create(&th[i], NULL, rjob_main, &jobs[i]);
    }
    struct lir_remote_params p2 = p;
    p2.name = "second";
    cr_assert_eq(lir_runtime_add_remote(rt, "fast", &p2, err, sizeof err), LIR_OK, "%s", err);
    for (int i = 0; i < T; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < T; i++) {
        cr_assert_eq(jobs[i].s, LIR_OK, "request %d", i);
        cr_assert_str_eq(jobs[i].text, "Hello there");
    }
    cr_assert_eq(mock_n_req(&f), T);
    lir_runtime_destroy(rt);
    mock_stop(&f);
}

Test(runtime_remote, native_embeddings_with_remote_fallback, .fini = fini) {
    rt_dir_make("remote7");
    rt_model_make("m0", LIR_GEN_LLAMA, 4);
    static const char BODY[] = "{\"model\":\"e\",\"embeddings\":[[1,0]],\"prompt_eval_count\":2}";
    static char resp[512];
    snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(BODY), BODY);
    const struct mock_seg S[] = { { resp, 0, 0 }, { NULL, 0, 0 } };
    struct mock m;
    mock_start(&m, S);
    uint64_t avail = 64ull << 30;
    lir_runtime *rt = rt_new(NULL, mem_small, &avail);
    char url[64], err[512] = "";
    struct lir_remote_params p = remote_at(LIR_REMOTE_OLLAMA, m.port, url, sizeof url);
    cr_assert_eq(lir_runtime_add_remote(rt, "m0", &p, err, sizeof err), LIR_OK, "%s", err);
    const char *texts[] = { "hello" };
    struct lir_embed_request q = lir_embed_request_default();
    q.model = "m0";
    q.texts = texts;
    q.n_texts = 1;
    struct lir_embed_result r;
    cr_assert_eq(lir_runtime_embed(rt, &q, &r, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_eq(mock_n_req(&m), 0, "answered natively");
    cr_assert_gt(r.dimensions, 2);
    cr_assert_eq(strlen(r.loaded_model_id), 36);
    double ss = 0;
    for (int32_t j = 0; j < r.dimensions; j++) ss += (double)r.embeddings[j] * r.embeddings[j];
    cr_assert_float_eq(ss, 1.0, 1e-4, "normalized by the native path");
    lir_embed_result_clear(&r);
    cr_assert_eq(lir_runtime_unload_all(rt), LIR_OK);
    avail = 1024; /* the native load is refused: the server answers */
    cr_assert_eq(lir_runtime_embed(rt, &q, &r, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_eq(mock_n_req(&m), 1);
    cr_assert_eq(r.dimensions, 2);
    cr_assert_str_eq(r.loaded_model_id, "");
    lir_embed_result_clear(&r);
    lir_runtime_destroy(rt);
    mock_stop(&m);
}
