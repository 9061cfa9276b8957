/* test_router.c — the request router against a scripted local HTTP server (mock_server.h, on
 * 127.0.0.1 only): correct OpenAI SSE and Ollama NDJSON streams with the exact request bodies,
 * paths and Authorization headers the server received; a stream cut into small TCP segments in
 * the middle of lines and UTF-8 characters; malformed and truncated streams; a slow first byte
 * (timeout); refused connections (retries, then fallback to a second backend, events recorded);
 * a dropped connection retried; HTTP 500 with an error body; cancellation mid-stream and while
 * waiting; embeddings over both APIs; the native engine as a backend; argument checks.
 * Timeouts are short so the whole suite stays within a few seconds. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include "lir.h"
#include "router/mock_server.h"

#define MAX_EVENTS 32

struct ev_rec {
    enum lir_route_event_type type;
    char backend[64], next[64], reason[256];
    int attempt, http;
    enum lir_route_failure failure;
    bool partial, final;
    int64_t time_us;
};

struct events {
    pthread_mutex_t mu;
    int n;
    struct ev_rec ev[MAX_EVENTS];
};

static void on_event(void *user, const struct lir_route_event *e) {
    struct events *E = user;
    pthread_mutex_lock(&E->mu);
    if (E->n < MAX_EVENTS) {
        struct ev_rec *x = &E->ev[E->n++];
        x->type = e->type;
        snprintf(x->backend, sizeof x->backend, "%s", e->backend ? e->backend : "");
        snprintf(x->next, sizeof x->next, "%s", e->next_backend ? e->next_backend : "");
        snprintf(x->reason, sizeof x->reason, "%s", e->reason);
        x->attempt = e->attempt;
        x->http = e->http_status;
        x->failure = e->failure;
        x->partial = e->partial;
        x->final = e->final;
        x->time_us = e->time_us;
    }
    pthread_mutex_unlock(&E->mu);
}

static struct events EV;

static lir_router *make_router(void) {
    memset(&EV, 0, sizeof EV);
    pthread_mutex_init(&EV.mu, NULL);
    struct lir_router_params p = lir_router_params_default();
    p.on_event = on_event;
    p.event_user = &EV;
    lir_router *r = NULL;
    char err[256];
    cr_assert_eq(lir_router_create(&p, &r, err, sizeof err), LIR_OK, "%s", err);
    return r;
}

static struct lir_remote_params remote(enum lir_remote_kind kind, int port, const char *name) {
    static char urls[8][64];
    static int k;
    char *u = urls[k++ % 8];
    snprintf(u, 64, "http://127.0.0.1:%d", port);
    struct lir_remote_params p = lir_remote_params_default();
    p.kind = kind;
    p.base_url = u;
    p.name = name;
    p.connect_timeout_ms = 1000;
    p.first_token_timeout_ms = 2000;
    p.idle_timeout_ms = 2000;
    p.total_timeout_ms = 5000;
    p.max_retries = 2;
    p.retry_backoff_ms = 10;
    return p;
}

static void add(lir_router *r, const char *model, const struct lir_remote_params *p) {
    char err[256];
    cr_assert_eq(lir_router_add_remote(r, model, p, err, sizeof err), LIR_OK, "%s", err);
}

struct chunks {
    char text[1024];
    int n;
    int cancel_at;
};
static int on_chunk(void *user, const char *s, size_t n) {
    struct chunks *c = user;
    strncat(c->text, s, n);
    c->n++;
    return c->cancel_at && c->n >= c->cancel_at;
}

#define HTTP_OK_SSE "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
#define HTTP_OK_NDJSON "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\n\r\n"

/* ---------------------------------------------------------------- success */

Test(router, openai_chat_stream_exact_request) {
    static const struct mock_seg S[] = {
        { HTTP_OK_SSE, 0, 0 },
        { "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n", 0, 0 },
        { "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"}}]}\n\n", 5, 0 },
        { "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" world\"},\"finish_reason\":\"stop\"}]}\n\n", 5, 0 },
        { "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"total_tokens\":11}}\n\n", 0, 0 },
        { "data: [DONE]\n\n", 0, 0 },
        { NULL, 0, 0 },
    };
    struct mock m;
    mock_start(&m, S);
    lir_router *r = make_router();
    struct lir_remote_params p = remote(LIR_REMOTE_OPENAI, m.port, "lmstudio");
    p.api_key = "sk-test-123";
    p.model = "qwen2.5-7b-instruct";
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/", m.port); /* trailing /v1/ is not doubled */
    p.base_url = url;
    add(r, "qwen", &p);
    cr_assert_eq(lir_router_n_backends(r, "qwen"), 1);
    struct lir_sampling_params sp = lir_sampling_params_default();
    sp.max_tokens = 32;
    sp.temperature = 0.5f;
    sp.top_k = 20;
    sp.seed = 7;
    struct chunks c = { 0 };
    struct lir_route_request req = { .op = LIR_ROUTE_CHAT, .model = "qwen",
                                     .messages_json = "[{\"role\":\"user\",\"content\":\"Hi\"}]",
                                     .sampling = &sp, .on_chunk = on_chunk, .chunk_user = &c };
    struct lir_route_result res;
    cr_assert_eq(lir_router_run(r, &req, &res), LIR_OK, "%s", res.error);
    cr_assert_str_eq(res.text, "Hello world");
    cr_assert_eq(res.text_len, 11);
    cr_assert_str_eq(c.text, "Hello world");
    cr_assert_eq(c.n, 2);
    cr_assert_eq(res.finish_reason, LIR_FINISH_STOP);
    cr_assert_eq(res.prompt_tokens, 9);
    cr_assert_eq(res.completion_tokens, 2);
    cr_assert_eq(res.failure, LIR_ROUTE_FAILURE_NONE);
    cr_assert_str_eq(res.error, "");
    cr_assert_str_eq(res.backend, "lmstudio");
    cr_assert_eq(res.attempts, 1);
    cr_assert_eq(res.http_status, 200);
    cr_assert(res.ttft_ms >= 0 && res.ttft_ms <= res.total_ms);
    cr_assert_eq(EV.n, 0);
    cr_assert_eq(mock_n_req(&m), 1);
    cr_assert_str_eq(m.path[0], "/v1/chat/completions");
    cr_assert_str_eq(m.auth[0], "Bearer sk-test-123");
    cr_assert_str_eq(m.body[0], "{\"model\":\"qwen2.5-7b-instruct\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                                "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"max_tokens\":32,"
                                "\"temperature\":0.5,\"top_p\":0.9,\"top_k\":20,\"repeat_penalty\":1.1,"
                                "\"repeat_last_n\":64,\"seed\":7}");
    lir_route_result_clear(&res);
    cr_assert_null(res.text);
    lir_router_free(r);
    mock_stop(&m);
}

Test(router, ollama_generate_stream_exact_request) {
    static const struct mock_seg S[] = {
        { HTTP_OK_NDJSON, 0, 0 },
        { "{\"model\":\"llama3.2\",\"response\":\"The\",\"done\":false}\n", 0, 0 },
        { "{\"model\":\"llama3.2\",\"response\":\" end\",\"done\":false}\n", 5, 0 },
        { "{\"model\":\"llama3.2\",\"response\":\"\",\"done\":true,\"done_reason\":\"length\",\"prompt_eval_count\":5,"
          "\"eval_count\":2}\n", 5, 0 },
        { NULL, 0, 0 },
    };
    struct mock m;
    mock_start(&m, S);
    lir_router *r = make_router();
    struct lir_remote_params p = remote(LIR_REMOTE_OLLAMA, m.port, "ollama");
    p.model = "llama3.2:1b";
    p.extra_body_json = "{\"keep_alive\":\"10m\",\"options\":{\"num_ctx\":4096}}";
    add(r, "*", &p); /* serves every model */
    struct lir_sampling_params sp = lir_sampling_params_default();
    sp.max_tokens = 2;
    const char *stop[] = { "END" };
    sp.stop = stop;
    sp.n_stop = 1;
    struct lir_route_request req = { .op = LIR_ROUTE_GENERATE, .model = "anything", .prompt = "Say",
                                     .sampling = &sp };
    struct lir_route_result res;
    cr_assert_eq(lir_router_run(r, &req, &res), LIR_OK, "%s", res.error);
    cr_assert_str_eq(res.text, "The end");
    cr_assert_eq(res.finish_reason, LIR_FINISH_LENGTH);
    cr_assert_eq(res.prompt_tokens, 5);
    cr_assert_eq(res.completion_tokens, 2);
    cr_assert_str_eq(m.path[0], "/api/generate");
    cr_assert_str_eq(m.auth[0], "");
    cr_assert_str_eq(m.body[0], "{\"model\":\"llama3.2:1b\",\"prompt\":\"Say\",\"stream\":true,\"raw\":true,"
                                "\"options\":{\"num_predict\":2,\"temperature\":0.7,\"top_p\":0.9,"
                                "\"repeat_penalty\":1.1,\"repeat_last_n\":64,\"stop\":[\"END\"],\"num_ctx\":4096},"
                                "\"keep_alive\":\"10m\"}");
    lir_route_result_clear(&res);
    lir_router_free(r);
    mock_stop(&m);
}

/* The SSE stream in segments sent 3 ms apart (TCP_NODELAY), cut inside "data:", inside JSON,
 * between "\r" and "\n", and inside 2-, 3- and 4-byte UTF-8 characters. */
Test(router, chunk_boundaries_mid_line_and_utf8) {
    static const struct mock_seg S[] = {
        { HTTP_OK_SSE, 0, 0 },
        { ": ping\r\n\r\nda", 0, 0 },
        { "ta: {\"choices\":[{\"text\":\"caf\xc3", 3, 0 },
        { "\xa9 \xe6", 3, 0 },
        { "\x97\xa5 \xf0\x9f", 3, 0 },
        { "\x98\x80\"}]}\r", 3, 0 },
        { "\n\r\n", 3, 0 },
        { "data: {\"choices\":[{\"text\":\"!\",\"finish_reason\":\"stop\"}]}\n", 3, 0 },
        { "\ndata: [DO", 3, 0 },
        { "NE]\n\n", 3, 0 },
        { NULL, 0, 0 },
    };
    struct mock m;
    mock_start(&m, S);
    lir_router *r = make_router();
    struct lir_remote_params p = remote(LIR_REMOTE_OPENAI, m.port, "llamacpp");
    add(r, "m", &p);
    struct chunks c = { 0 };
    struct lir_route_request req = { .op = LIR_ROUTE_GENERATE, .model = "m", .prompt = "x", .on_chunk = on_chunk,
                                     .chunk_user = &c };
    struct lir_route_result res;
    cr_assert_eq(lir_router_run(r, &req, &res), LIR_OK, "%s", res.error);
    cr_assert_str_eq(res.text, "caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80!");
    cr_assert_eq(c.n, 2);
    cr_assert_eq(res.prompt_tokens, -1); /* not reported */
    cr_assert_str_eq(m.body[0], "{\"model\":\"m\",\"prompt\":\"x\",\"stream\":true,"
                                "\"stream_options\":{\"include_usage\":true}}");
    lir_route_result_clear(&res);
    lir_router_free(r);
    mock_stop(&m);
}

/* Chunked transfer encoding (Ollama's), the body's chunks cut mid-line. */
Test(router, ollama_chat_chunked_encoding) {
    static const struct mock_seg S[] = {
        { "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 0 },
        { "1e\r\n{\"message\":{\"content\":\"Hi\"},\"d\r\n", 0, 0 },
        { "c\r\none\":false}\n\r\n", 3, 0 },
        { "15\r\n{\"done\":true,\"eval_co\r\n", 3, 0 },
        { "8\r\nunt\":1}\n\r\n0\r\n\r\n", 3, 0 },
        { NULL, 0, 0 },
    };
    struct mock m;
    mock_start(&m, S);
    lir_router *r = make_router();
    struct lir_remote_params p = remote(LIR_REMOTE_OLLAMA, m.port, "ollama");
    add(r, "m", &p);
    struct lir_route_request req = { .op = LIR_ROUTE_CHAT, .model = "m", .messages_json = "[]" };
    struct lir_route_result res;
    cr_assert_eq(lir_router_run(r, &req, &res), LIR_OK, "%s", res.error);
    cr_assert_str_eq(res.text, "Hi");
    cr_assert_eq(res.completion_tokens, 1);
    cr_assert_str_eq(m.path[0], "/api/chat");
    cr_assert_str_eq(m.body[0], "{\"model\":\"m\",\"messages\":[],\"stream\":true}");
    lir_route_result_clear(&res);
    lir_router_free(r);
    mock_stop(&m);
}

/* ---------------------------------------------------------------- failures in the stream */

Test(router, malformed_json_after_text_no_fallback) {
    static const struct mock_seg S[] = {
        { HTTP_OK_SSE, 0, 0 },
        { "data: {\"choices\":[{\"text\":\"partial\"}]}\n\n", 0, 0 },
        { "data: {\"choices\":[{\"text\":\"oops\"}\n\n", 5, 0 },
        { NULL, 0, 0 },
    };
    static const struct mock_seg OK[] = { { HTTP_OK_SSE "data: [DONE]\n\n", 0, 0 }, { NULL, 0, 0 } };
    struct mock m, m2;
    mock_start(&m, S);
    mock_start(&m2, OK);
    lir_router *r = make_router();
    struct lir_remote_params p = remote(LIR_REMOTE_OPENAI, m.port, "first");
    add(r, "m", &p);
    p = remote(LIR_REMOTE_OPENAI, m2.port, "second");
    add(r, "m", &p);
    struct lir_route_request req = { .op = LIR_ROUTE_GENERATE, .model = "m", .prompt = "x" };
    struct lir_route_result res;
    cr_assert_eq(lir_router_run(r, &req, &res), LIR_EFORMAT);
    cr_assert_eq(res.failure, LIR_ROUTE_FAILURE_PROTOCOL);
    cr_assert(strstr(res.error, "malformed JSON"), "%s", res.error);
    cr_assert_str_eq(res.text, "partial");
    cr_assert_eq(res.finish_reason, LIR_FINISH_ERROR);
    cr_assert_str_eq(res.backend, "first");
    cr_assert_eq(res.attempts, 1);
    cr_assert_eq(mock_n_req(&m2), 0); /* text was streamed: never another backend */
    cr_assert_eq(EV.n, 1);
    cr_assert_eq(EV.ev[0].type, LIR_ROUTE_EVENT_GENERATION_FAILED);
    cr_assert(EV.ev[0].partial && EV.ev[0].final);
    cr_assert_eq(EV.ev[0].failure, LIR_ROUTE_FAILURE_PROTOCOL);
    lir_route_result_clear(&res);
    lir_router_free(r);
    mock_stop(&m);
    mock_stop(&m2);
}

Test(router, truncated_streams) {
    static const struct mock_seg S1[] = {
        { HTTP_OK_NDJSON "{\"response\":\"half\",\"done\":false}\n{\"response\":\" a li", 0, 0 }, { NULL, 0, 0 },
    };
    /* chunked body cut before its last chunk */
    static const struct mock_seg S2[] = {
        { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 0 },
        { "21\r\n{\"response\":\"half\",\"done\":false}\n\r\n", 0, 0 },
        { NULL, 0, 0 },
    };
    const struct mock_seg *scripts[] = { S1, S2 };
    for (int i = 0; i < 2; i++) {
        struct mock m;
        mock_start(&m, scripts[i]);
        lir_router *r = make_router();
        struct lir_remote_params p = remote(LIR_REMOTE_OLLAMA, m.port, "ollama");
        add(r, "m", &p);
        struct lir_route_request req = { .op = LIR_ROUTE_GENERATE, .model = "m", .prompt = "x" };
        struct lir_route_result res;
        enum lir_status st = lir_router_run(r, &req, &res);
        cr_assert_eq(st, LIR_EFORMAT, "script %d: %d %s", i, st, res.error);
        cr_assert(strstr(res.error, i == 0 ? "malformed JSON" : "stream ended early"), "script %d: %s", i, res.error);
        cr_assert_eq(res.failure, i == 0 ? LIR_ROUTE_FAILURE_PROTOCOL : LIR_ROUTE_FAILURE_TRUNCATED);
        cr_assert_str_eq(res.text, "half");
        lir_route_result_clear(&res);
        lir_router_free(r);
        mock_stop(&m);
    }
    /* close-delimited SSE body without [DONE] */
    static const struct mock_seg S3[] = {
        { HTTP_OK_SSE "data: {\"choices\":[{\"text\":\"a\"}]}\n\n", 0, 0 }, { NULL, 0, 0 },
    };
    struct mock m;
    mock_start(&m, S3);
    lir_router *r = make_router();
    struct lir_remote_params p = remote(LIR_REMOTE_OPENAI, m.port, "o");
    add(r, "m", &p);
    struct lir_route_request req = { .op = LIR_ROUTE_GENERATE, .model = "m", .prompt = "x" };
    struct lir_route_result res;
    cr_assert_eq(lir_router_run(r, &req, &res), LIR_EFORMAT);
    cr_assert_eq(res.failure, LIR_ROUTE_FAILURE_TRUNCATED);
    cr_assert_str_eq(res.error, "stream ended early (no data: [DONE])");
    cr_assert_str_eq(res.text, "a");
    lir_route_result_clear(&res);
    lir_router_free(r);
    mock_stop(&m);
}

Test(router, http_500_message_surfaced) {
    static const struct mock_seg S[] = {
        { "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: 71\r\n\r\n"
          "{\"error\":{\"message\":\"CUDA error: out of memory\",\"type\":\"server_error\"}}", 0, 0 },
        { NULL, 0, 0 },
    };
    struct mock m;
    mock_start(&m, S);
    lir_router *r = make_router();
    struct lir_remote_params p = remote(LIR_REMOTE_OPENAI, m.port, "vllm");
    add(r, "m", &p);
    struct lir_route_request req = { .op = LIR_ROUTE_GENERATE, .model = "m", .prompt = "x" };
    struct lir_route_result res;
    cr_assert_eq(lir_router_run(r, &req, &res), LIR_EIO);
    cr_assert_eq(res.failure, LIR_ROUTE_FAILURE_HTTP);
    cr_assert_eq(res.http_status, 500);
    cr_assert_str_eq(res.error, "HTTP 500: CUDA error: out of memory");
    cr_assert_eq(res.attempts, 1); /* not a connection failure: no retry */
    cr_assert_eq(mock_n_req(&m), 1);
    cr_assert_eq(EV.n, 1);
    cr_assert_eq(EV.ev[0].http, 500);
    cr_assert(EV.ev[0].final);
    cr_assert_str_eq(EV.ev[0].reason, "HTTP 500: CUDA error: out of memory");
    lir_route_result_clear(&res);
    lir_router_free(r);
    mock_stop(&m);
}

Test(router, http_404_falls_back_to_next_backend) {
    static const struct mock_seg NF[] = {
        { "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 55\r\n\r\n"
          "{\"error\":\"model \\\"x\\\" not found, try pulling it first\"}", 0, 0 },
        { NULL, 0, 0 },
    };
    static const struct mock_seg OK[] = {
        { HTTP_OK_NDJSON "{\"message\":{\"content\":\"ok\"},\"done\":true}\n", 0, 0 }, { NULL, 0, 0 },
    };
    struct mock a, b;
    mock_start(&a, NF);
    mock_start(&b, OK);
    lir_router *r = make_router();
    struct lir_remote_params p = remote(LIR_REMOTE_OLLAMA, a.port, "a");
    add(r, "x", &p);
    p = remote(LIR_REMOTE_OLLAMA, b.port, "b");
    add(r, "x", &p);
    struct lir_route_request req = { .op = LIR_ROUTE_CHAT, .model = "x", .messages_json = "[]" };
    struct lir_route_result res;
    cr_assert_eq(lir_router_run(r, &req, &res), LIR_OK, "%s", res.error);
    cr_assert_str_eq(res.text, "ok");
    cr_assert_str_eq(res.backend, "b");
    cr_assert_eq(res.attempts, 2);
    cr_assert_eq(EV.n, 2);
    cr_assert_eq(EV.ev[0].type, LIR_ROUTE_EVENT_GENERATION_FAILED);
    cr_assert_str_eq(EV.ev[0].reason, "HTTP 404: model \"x\" not found, try pulling it first");
    cr_assert_not(EV.ev[0].final);
    cr_assert_eq(EV.ev[1].type, LIR_ROUTE_EVENT_FALLBACK);
    cr_assert_str_eq(EV.ev[1].backend, "a");
    cr_assert_str_eq(EV.ev[1].next, "b");
    lir_route_result_clear(&res);
    lir_router_free(r);
    mock_stop(&a);
    mock_stop(&b);
}

/* ---------------------------------------------------------------- timeouts, connections */

Test(router, slow_first_byte_times_out) {
    static const struct mock_seg S[] = {
        { HTTP_OK_SSE "data: {\"choices\":[{\"text\":\"late\"}]}\n\ndata: [DONE]\n\n", 3000, 0 }, { NULL, 0, 0 },
    };
    struct mock m;
    mock_start(&m, S);
    lir_router *r = make_router();
    struct lir_remote_params p = remote(LIR_REMOTE_OPENAI, m.port, "slow");
    p.first_token_timeout_ms = 200;
    add(r, "m", &p);
    struct lir_route_request req = { .op = LIR_ROUTE_GENERATE, .model = "m", .prompt = "x" };
    struct lir_route_result res;
    cr_assert_eq(lir_router_run(r, &req, &res), LIR_EIO);
    cr_assert_eq(res.failure, LIR_ROUTE_FAILURE_TIMEOUT);
    cr_assert_str_eq(res.error, "no token within 200 ms");
    cr_assert(res.total_ms >= 190 && res.total_ms < 2500, "%f", res.total_ms);
    cr_assert_eq(res.attempts, 1);
    cr_assert_str_eq(res.text, "");
    lir_route_result_clear(&res);
    lir_router_free(r);
    mock_stop(&m);
}

Test(router, idle_gap_after_first_token_times_out) {
    static const struct mock_seg S[] = {
        { HTTP_OK_NDJSON "{\"response\":\"a\",\"done\":false}\n", 0, 0 },
        { "{\"response\":\"b\",\"done\":true}\n", 3000, 0 },
        { NULL, 0, 0 },
    };
    struct mock m;
    mock_start(&m, S);
    lir_router *r = make_router();
    struct lir_remote_params p = remote(LIR_REMOTE_OLLAMA, m.port, "o");
    p.idle_timeout_ms = 200;
    add(r, "m", &p);
    struct lir_route_request req = { .op = LIR_ROUTE_GENERATE, .model = "m", .prompt = "x" };
    struct lir_route_result res;
    cr_assert_eq(lir_router_run(r, &req, &res), LIR_EIO);
    cr_assert_eq(res.failure, LIR_ROUTE_FAILURE_TIMEOUT);
    cr_assert_str_eq(res.error, "no data for 200 ms");
    cr_assert_str_eq(res.text, "a");
    cr_assert(res.total_ms < 2500);
    lir_route_result_clear(&res);
    lir_router_free(r);
    mock_stop(&m);
}

Test(router, refused_then_fallback_with_events) {
    static const struct mock_seg OK[] = {
        { HTTP_OK_SSE "data: {\"choices\":[{\"delta\":{\"content\":\"from b2\"}}]}\n\ndata: [DONE]\n\n", 0, 0 },
        { NULL, 0, 0 },
    };
    int dead_fd;
    int dead = refusing_port(&dead_fd);
    struct mock b2;
    mock_start(&b2, OK);
    lir_router *r = make_router();
    struct lir_remote_params p = remote(LIR_REMOTE_OLLAMA, dead, "b1");
    add(r, "m", &p);
    p = remote(LIR_REMOTE_OPENAI, b2.port, "b2");
    p.max_retries = 0;
    add(r, "m", &p);
    cr_assert_eq(lir_router_n_backends(r, "m"), 2);
    cr_assert_eq(lir_router_n_backends(r, "other"), 0);
    int64_t t0 = 0;
    struct lir_route_request req = { .op = LIR_ROUTE_CHAT, .model = "m", .messages_json = "[]" };
    struct lir_route_result res;
    cr_assert_eq(lir_router_run(r, &req, &res), LIR_OK, "%s", res.error);
    cr_assert_str_eq(res.text, "from b2");
    cr_assert_str_eq(res.backend, "b2");
    cr_assert_eq(res.attempts, 4); /* b1: 1 + 2 retries; b2: 1 */
    /* b1 failed (1), retry (2), failed (2), retry (3), failed (3), fallback to b2 */
    static const enum lir_route_event_type want[] = {
        LIR_ROUTE_EVENT_GENERATION_FAILED, LIR_ROUTE_EVENT_RETRY, LIR_ROUTE_EVENT_GENERATION_FAILED,
        LIR_ROUTE_EVENT_RETRY, LIR_ROUTE_EVENT_GENERATION_FAILED, LIR_ROUTE_EVENT_FALLBACK,
    };
    static const int want_attempt[] = { 1, 2, 2, 3, 3, 3 };
    cr_assert_eq(EV.n, 6);
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(EV.ev[i].type, want[i], "event %d", i);
        cr_assert_eq(EV.ev[i].attempt, want_attempt[i], "event %d", i);
        cr_assert_str_eq(EV.ev[i].backend, "b1");
        cr_assert_eq(EV.ev[i].failure, LIR_ROUTE_FAILURE_CONNECT);
        cr_assert_not(EV.ev[i].final);
        cr_assert_not(EV.ev[i].partial);
        cr_assert(EV.ev[i].time_us >= t0, "event %d", i);
        t0 = EV.ev[i].time_us;
    }
    cr_assert(EV.ev[2].time_us - EV.ev[0].time_us >= 10000); /* backoff 10 ms, then 20 ms */
    cr_assert(EV.ev[4].time_us - EV.ev[2].time_us >= 20000);
    cr_assert(strstr(EV.ev[0].reason, "onnect"), "%s", EV.ev[0].reason);
    cr_assert_str_eq(EV.ev[5].next, "b2");
    lir_route_result_clear(&res);

    /* the last backend refusing too: the request fails, the last event is final */
    lir_router *r2 = make_router();
    p = remote(LIR_REMOTE_OPENAI, dead, "only");
    p.max_retries = 1;
    add(r2, "m", &p);
    cr_assert_eq(lir_router_run(r2, &req, &res), LIR_EIO);
    cr_assert_eq(res.failure, LIR_ROUTE_FAILURE_CONNECT);
    cr_assert_eq(res.attempts, 2);
    cr_assert_eq(EV.n, 3);
    cr_assert(EV.ev[2].final);
    lir_route_result_clear(&res);
    lir_router_free(r2);
    lir_router_free(r);
    mock_stop(&b2);
    close(dead_fd);
}

Test(router, dropped_connection_is_retried) {
    static const struct mock_seg OK[] = {
        { HTTP_OK_NDJSON "{\"response\":\"second try\",\"done\":true}\n", 0, 0 }, { NULL, 0, 0 },
    };
    struct mock m;
    mock_start(&m, OK);
    m.drop_first = 1; /* set before the first connection: the thread reads it after accept */
    lir_router *r = make_router();
    struct lir_remote_params p = remote(LIR_REMOTE_OLLAMA, m.port, "o");
    add(r, "m", &p);
    struct lir_route_request req = { .op = LIR_ROUTE_GENERATE, .model = "m", .prompt = "x" };
    struct lir_route_result res;
    cr_assert_eq(lir_router_run(r, &req, &res), LIR_OK, "%s", res.error);
    cr_assert_str_eq(res.text, "second try");
    cr_assert_eq(res.attempts, 2);
    cr_assert_eq(mock_n_req(&m), 2);
    cr_assert_str_eq(m.body[0], m.body[1]);
    cr_assert_eq(EV.n, 2);
    cr_assert_eq(EV.ev[0].failure, LIR_ROUTE_FAILURE_CONNECT);
    cr_assert_eq(EV.ev[1].type, LIR_ROUTE_EVENT_RETRY);
    lir_route_result_clear(&res);
    lir_router_free(r);
    mock_stop(&m);
}

/* A listening socket whose accept queue is full (backlog 0 and one connection never accepted):
 * Linux drops further SYNs, so a connect hangs until the client's connect timeout. */
Test(router, connect_timeout_retried_then_fallback) {
    static const struct mock_seg OK[] = {
        { HTTP_OK_NDJSON "{\"response\":\"ok\",\"done\":true}\n", 0, 0 }, { NULL, 0, 0 },
    };
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    cr_assert_eq(listen(fd, 0), 0);
    int filler = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(connect(filler, (struct sockaddr *)&a, sizeof a), 0);
    struct mock m;
    mock_start(&m, OK);
    lir_router *r = make_router();
    struct lir_remote_params p = remote(LIR_REMOTE_OLLAMA, ntohs(a.sin_port), "hung");
    p.connect_timeout_ms = 150;
    p.max_retries = 1;
    add(r, "m", &p);
    p = remote(LIR_REMOTE_OLLAMA, m.port, "ok");
    add(r, "m", &p);
    struct lir_route_request req = { .op = LIR_ROUTE_GENERATE, .model = "m", .prompt = "x" };
    struct lir_route_result res;
    cr_assert_eq(lir_router_run(r, &req, &res), LIR_OK, "%s", res.error);
    cr_assert_str_eq(res.text, "ok");
    cr_assert_eq(res.attempts, 3);
    cr_assert(res.total_ms >= 290 && res.total_ms < 2500, "%f", res.total_ms);
    cr_assert_eq(EV.n, 4); /* failed, retry, failed, fallback */
    cr_assert_eq(EV.ev[0].failure, LIR_ROUTE_FAILURE_CONNECT, "%d %s", EV.ev[0].failure, EV.ev[0].reason);
    cr_assert_eq(EV.ev[2].failure, LIR_ROUTE_FAILURE_CONNECT);
    cr_assert(strstr(EV.ev[0].reason, "onnect"), "%s", EV.ev[0].reason); /* curl: "Failed to connect to ... after 150 ms: Timeout was reached" */
    cr_assert_eq(EV.ev[3].type, LIR_ROUTE_EVENT_FALLBACK);
    lir_route_result_clear(&res);
    lir_router_free(r);
    mock_stop(&m);
    close(filler);
    close(fd);
}

struct par {
    lir_router *r;
    int ok;
};
static void *par_main(void *arg) {
    struct par *p = arg;
    for (int i = 0; i < 5; i++) {
        struct lir_route_request req = { .op = LIR_ROUTE_GENERATE, .model = "m", .prompt = "x" };
        struct lir_route_result res;
        if (lir_router_run(p->r, &req, &res) == LIR_OK && strcmp(res.text, "abc") == 0) p->ok++;
        lir_route_result_clear(&res);
    }
    return NULL;
}

Test(router, concurrent_requests) {
    static const struct mock_seg S[] = {
        { HTTP_OK_SSE "data: {\"choices\":[{\"text\":\"a\"}]}\n\n", 0, 0 },
        { "data: {\"choices\":[{\"text\":\"bc\"}]}\n\ndata: [DONE]\n\n", 1, 0 },
        { NULL, 0, 0 },
    };
    struct mock m;
    mock_start(&m, S);
    lir_router *r = make_router();
    struct lir_remote_params p = remote(LIR_REMOTE_OPENAI, m.port, "o");
    add(r, "m", &p);
    pthread_t th[4];
    struct par ps[4];
    for (int i = 0; i < 4; i++) {
        ps[i] = (struct par){ r, 0 };
        pthread_create(&th[i], NULL, par_main, &ps[i]);
    }
    /* backends may be added while requests run */
    struct lir_remote_params q = remote(LIR_REMOTE_OPENAI, m.port, "later");
    add(r, "m", &q);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(ps[i].ok, 5, "thread %d", i);
    }
    cr_assert_eq(mock_n_req(&m), 20);
    cr_assert_eq(EV.n, 0);
    lir_router_free(r);
    mock_stop(&m);
}

/* ---------------------------------------------------------------- cancellation */

Test(router, cancel_mid_stream) {
    static const struct mock_seg S[] = {
        { HTTP_OK_SSE, 0, 0 },
        { "data: {\"choices\":[{\"text\":\"one\"}]}\n\n", 0, 0 },
        { "data: {\"choices\":[{\"text\":\" two\"}]}\n\n", 5, 0 },
        { "data: {\"choices\":[{\"text\":\" three\"}]}\n\ndata: [DONE]\n\n", 3000, 0 },
        { NULL, 0, 0 },
    };
    struct mock m, m2;
    mock_start(&m, S);
    mock_start(&m2, S);
    lir_router *r = make_router();
    struct lir_remote_params p = remote(LIR_REMOTE_OPENAI, m.port, "o");
    add(r, "m", &p);
    p = remote(LIR_REMOTE_OPENAI, m2.port, "o2");
    add(r, "m", &p);
    struct chunks c = { .cancel_at = 2 };
    struct lir_route_request req = { .op = LIR_ROUTE_GENERATE, .model = "m", .prompt = "x", .on_chunk = on_chunk,
                                     .chunk_user = &c };
    struct lir_route_result res;
    cr_assert_eq(lir_router_run(r, &req, &res), LIR_ECANCELLED);
    cr_assert_eq(res.failure, LIR_ROUTE_FAILURE_CANCELLED);
    cr_assert_eq(res.finish_reason, LIR_FINISH_CANCELLED);
    cr_assert_str_eq(res.text, "one two");
    cr_assert(res.total_ms < 2500, "%f", res.total_ms);
    cr_assert_eq(mock_n_req(&m2), 0);
    cr_assert_eq(EV.n, 1);
    cr_assert(EV.ev[0].final);
    lir_route_result_clear(&res);
    lir_router_free(r);
    mock_stop(&m);
    mock_stop(&m2);
}

static bool cancel_now(void *user) { return *(int *)user != 0; }
static int flag_on_first(void *user, const char *s, size_t n) { return 0; }

Test(router, cancel_while_waiting_for_first_token) {
    static const struct mock_seg S[] = { { HTTP_OK_SSE "data: [DONE]\n\n", 3000, 0 }, { NULL, 0, 0 } };
    struct mock m;
    mock_start(&m, S);
    lir_router *r = make_router();
    struct lir_remote_params p = remote(LIR_REMOTE_OPENAI, m.port, "o");
    add(r, "m", &p);
    int flag = 1; /* already set: the first poll cancels */
    struct lir_route_request req = { .op = LIR_ROUTE_GENERATE, .model = "m", .prompt = "x",
                                     .on_chunk = flag_on_first, .is_cancelled = cancel_now, .cancel_user = &flag };
    struct lir_route_result res;
    cr_assert_eq(lir_router_run(r, &req, &res), LIR_ECANCELLED);
    cr_assert_eq(res.finish_reason, LIR_FINISH_CANCELLED);
    cr_assert(res.total_ms < 2500);
    lir_route_result_clear(&res);
    lir_router_free(r);
    mock_stop(&m);
}

/* ---------------------------------------------------------------- embeddings */

Test(router, embeddings_both_apis) {
    static const char OA_BODY[] = "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":1,\"embedding\":[0.0,1.0]},"
                                  "{\"object\":\"embedding\",\"index\":0,\"embedding\":[0.6,-0.8]}],"
                                  "\"model\":\"e\",\"usage\":{\"prompt_tokens\":6,\"total_tokens\":6}}";
    static const char OL_BODY[] = "{\"model\":\"e\",\"embeddings\":[[0.25,0.5,1],[1,0,0]],\"prompt_eval_count\":3}";
    static char oa_resp[512], ol_resp[512];
    snprintf(oa_resp, sizeof oa_resp, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(OA_BODY), OA_BODY);
    snprintf(ol_resp, sizeof ol_resp, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(OL_BODY), OL_BODY);
    const struct mock_seg OA[] = { { oa_resp, 0, 0 }, { NULL, 0, 0 } };
    const struct mock_seg OL[] = { { ol_resp, 0, 0 }, { NULL, 0, 0 } };
    struct mock a, b;
    mock_start(&a, OA);
    mock_start(&b, OL);
    lir_router *r = make_router();
    struct lir_remote_params p = remote(LIR_REMOTE_OPENAI, a.port, "oa");
    p.api_key = "k";
    add(r, "e1", &p);
    p = remote(LIR_REMOTE_OLLAMA, b.port, "ol");
    p.model = "nomic-embed-text";
    add(r, "e2", &p);
    const char *texts[] = { "first", "second" };
    struct lir_route_request req = { .op = LIR_ROUTE_EMBED, .model = "e1", .texts = texts, .n_texts = 2 };
    struct lir_route_result res;
    cr_assert_eq(lir_router_run(r, &req, &res), LIR_OK, "%s", res.error);
    cr_assert_eq(res.n_embeddings, 2);
    cr_assert_eq(res.dim, 2);
    cr_assert(res.embeddings[0] == 0.6f && res.embeddings[1] == -0.8f && res.embeddings[2] == 0 &&
              res.embeddings[3] == 1);
    cr_assert_eq(res.prompt_tokens, 6);
    cr_assert_null(res.text);
    cr_assert_str_eq(a.path[0], "/v1/embeddings");
    cr_assert_str_eq(a.auth[0], "Bearer k");
    cr_assert_str_eq(a.body[0], "{\"model\":\"e1\",\"input\":[\"first\",\"second\"],\"encoding_format\":\"float\"}");
    lir_route_result_clear(&res);
    req.model = "e2";
    cr_assert_eq(lir_router_run(r, &req, &res), LIR_OK, "%s", res.error);
    cr_assert_eq(res.dim, 3);
    cr_assert(res.embeddings[2] == 1 && res.embeddings[3] == 1);
    cr_assert_eq(res.prompt_tokens, 3);
    cr_assert_str_eq(b.path[0], "/api/embed");
    cr_assert_str_eq(b.body[0], "{\"model\":\"nomic-embed-text\",\"input\":[\"first\",\"second\"]}");
    lir_route_result_clear(&res);
    /* three texts: the server's two vectors are a protocol failure */
    const char *three[] = { "a", "b", "c" };
    req.texts = three;
    req.n_texts = 3;
    cr_assert_eq(lir_router_run(r, &req, &res), LIR_EFORMAT);
    cr_assert_eq(res.failure, LIR_ROUTE_FAILURE_PROTOCOL);
    cr_assert(strstr(res.error, "2 embeddings for 3 texts"), "%s", res.error);
    cr_assert_null(res.embeddings);
    lir_route_result_clear(&res);
    lir_router_free(r);
    mock_stop(&a);
    mock_stop(&b);
}

/* ---------------------------------------------------------------- native backend */

struct fake_native {
    int calls;
    bool fail_first;
};

static enum lir_status fake_native(void *user, const struct lir_route_request *req,
                                   int (*emit)(void *, const char *, size_t), void *ctx, struct lir_route_result *res) {
    struct fake_native *f = user;
    f->calls++;
    if (f->fail_first) {
        snprintf(res->error, sizeof res->error, "model not loaded");
        return LIR_ENOTFOUND;
    }
    if (req->op == LIR_ROUTE_EMBED) {
        res->embeddings = calloc((size_t)req->n_texts * 4, sizeof(float));
        res->n_embeddings = req->n_texts;
        res->dim = 4;
        return LIR_OK;
    }
    if (emit(ctx, "nat", 3) || emit(ctx, "ive", 3)) return LIR_ECANCELLED;
    res->prompt_tokens = 3;
    res->completion_tokens = 2;
    res->finish_reason = LIR_FINISH_STOP;
    return LIR_OK;
}

Test(router, native_backend_and_fallback_from_it) {
    static const struct mock_seg OK[] = {
        { HTTP_OK_NDJSON "{\"response\":\"remote\",\"done\":true}\n", 0, 0 }, { NULL, 0, 0 },
    };
    struct mock m;
    mock_start(&m, OK);
    lir_router *r = make_router();
    struct fake_native good = { 0 }, bad = { .fail_first = true };
    cr_assert_eq(lir_router_add_native(r, "local", NULL, fake_native, &good), LIR_OK);
    cr_assert_eq(lir_router_add_native(r, "gone", "engine", fake_native, &bad), LIR_OK);
    struct lir_remote_params p = remote(LIR_REMOTE_OLLAMA, m.port, "ollama");
    add(r, "gone", &p);
    struct chunks c = { 0 };
    struct lir_route_request req = { .op = LIR_ROUTE_GENERATE, .model = "local", .prompt = "x", .on_chunk = on_chunk,
                                     .chunk_user = &c };
    struct lir_route_result res;
    cr_assert_eq(lir_router_run(r, &req, &res), LIR_OK, "%s", res.error);
    cr_assert_str_eq(res.text, "native");
    cr_assert_str_eq(c.text, "native");
    cr_assert_str_eq(res.backend, "native");
    cr_assert_eq(res.completion_tokens, 2);
    lir_route_result_clear(&res);
    req.model = "gone";
    cr_assert_eq(lir_router_run(r, &req, &res), LIR_OK, "%s", res.error);
    cr_assert_str_eq(res.text, "remote");
    cr_assert_str_eq(res.backend, "ollama");
    cr_assert_eq(EV.n, 2);
    cr_assert_str_eq(EV.ev[0].backend, "engine");
    cr_assert_str_eq(EV.ev[0].reason, "model not loaded");
    cr_assert_eq(EV.ev[0].failure, LIR_ROUTE_FAILURE_BACKEND);
    cr_assert_eq(EV.ev[1].type, LIR_ROUTE_EVENT_FALLBACK);
    lir_route_result_clear(&res);
    const char *texts[] = { "a" };
    struct lir_route_request e = { .op = LIR_ROUTE_EMBED, .model = "local", .texts = texts, .n_texts = 1 };
    cr_assert_eq(lir_router_run(r, &e, &res), LIR_OK, "%s", res.error);
    cr_assert_eq(res.dim, 4);
    lir_route_result_clear(&res);
    lir_router_free(r);
    mock_stop(&m);
}

/* ---------------------------------------------------------------- arguments */

Test(router, argument_checks) {
    lir_router *r = make_router();
    char err[256] = "";
    struct lir_remote_params p = lir_remote_params_default();
    cr_assert_eq(lir_router_add_remote(r, "m", &p, err, sizeof err), LIR_EINVAL); /* no base_url */
    cr_assert(strstr(err, "base_url"), "%s", err);
    p.base_url = "ftp://x";
    cr_assert_eq(lir_router_add_remote(r, "m", &p, err, sizeof err), LIR_EINVAL);
    p.base_url = "http://127.0.0.1:1";
    p.extra_body_json = "[1]";
    cr_assert_eq(lir_router_add_remote(r, "m", &p, err, sizeof err), LIR_EINVAL);
    cr_assert(strstr(err, "extra_body_json"), "%s", err);
    p.extra_body_json = NULL;
    p.max_retries = -1;
    cr_assert_eq(lir_router_add_remote(r, "m", &p, err, sizeof err), LIR_EINVAL);
    cr_assert(strstr(err, "max_retries"), "%s", err);
    p.max_retries = 0;
    p.api_key = "a\r\nX-Evil: 1";
    cr_assert_eq(lir_router_add_remote(r, "m", &p, err, sizeof err), LIR_EINVAL);
    cr_assert_eq(lir_router_n_backends(r, "m"), 0);
    cr_assert_eq(lir_router_add_remote(NULL, "m", &p, err, sizeof err), LIR_EINVAL);
    cr_assert_eq(lir_router_add_native(r, "m", NULL, NULL, NULL), LIR_EINVAL);

    struct lir_route_result res;
    struct lir_route_request req = { .op = LIR_ROUTE_GENERATE, .model = "none", .prompt = "x" };
    cr_assert_eq(lir_router_run(r, &req, &res), LIR_ENOTFOUND);
    cr_assert_eq(res.failure, LIR_ROUTE_FAILURE_NO_BACKEND);
    cr_assert(strstr(res.error, "\"none\""), "%s", res.error);
    lir_route_result_clear(&res);
    req.prompt = NULL;
    cr_assert_eq(lir_router_run(r, &req, &res), LIR_EINVAL);
    req.op = LIR_ROUTE_CHAT;
    req.messages_json = "{}";
    cr_assert_eq(lir_router_run(r, &req, &res), LIR_EINVAL);
    cr_assert(strstr(res.error, "not a JSON array"), "%s", res.error);
    req.op = LIR_ROUTE_EMBED;
    cr_assert_eq(lir_router_run(r, &req, &res), LIR_EINVAL);
    cr_assert_eq(lir_router_run(r, NULL, &res), LIR_EINVAL);
    cr_assert_eq(lir_router_run(r, &req, NULL), LIR_EINVAL);
    lir_route_result_clear(&res);
    lir_route_result_clear(NULL);
    cr_assert_str_eq(lir_route_failure_str(LIR_ROUTE_FAILURE_TRUNCATED), "truncated");
    cr_assert_str_eq(lir_route_failure_str((enum lir_route_failure)99), "unknown");
    lir_router_free(r);
    lir_router_free(NULL);
    cr_assert_eq(lir_router_create(NULL, NULL, err, sizeof err), LIR_EINVAL);
}

/* ---------------------------------------------------------------- removal */

struct slow_run {
    lir_router *r;
    enum lir_status st;
    struct lir_route_result res;
};
static void *slow_main(void *arg) {
    struct slow_run *s = arg;
    struct lir_route_request req = { .op = LIR_ROUTE_GENERATE, .model = "m", .prompt = "x" };
    s->st = lir_router_run(s->r, &req, &s->res);
    return NULL;
}

Test(router, remove_while_a_request_uses_the_backend) {
    static const struct mock_seg S[] = {
        { HTTP_OK_NDJSON "{\"response\":\"a\",\"done\":false}\n", 0, 0 },
        { "{\"response\":\"b\",\"done\":true}\n", 300, 0 },
        { NULL, 0, 0 },
    };
    struct mock m;
    mock_start(&m, S);
    lir_router *r = make_router();
    struct lir_remote_params p = remote(LIR_REMOTE_OLLAMA, m.port, "slow");
    add(r, "m", &p);
    p = remote(LIR_REMOTE_OLLAMA, m.port, "other");
    add(r, "m", &p);
    struct slow_run s = { .r = r };
    pthread_t th;
    pthread_create(&th, NULL, slow_main, &s);
    while (mock_n_req(&m) == 0) {
        struct timespec ts = { 0, 2000000 };
        nanosleep(&ts, NULL);
    }
    cr_assert_eq(lir_router_remove(r, "m", "slow"), 1); /* while the request streams from it */
    cr_assert_eq(lir_router_n_backends(r, "m"), 1);
    pthread_join(th, NULL);
    cr_assert_eq(s.st, LIR_OK, "%s", s.res.error);
    cr_assert_str_eq(s.res.text, "ab");
    cr_assert_str_eq(s.res.backend, "slow");
    lir_route_result_clear(&s.res);
    cr_assert_eq(lir_router_remove(r, "m", "nope"), 0);
    cr_assert_eq(lir_router_remove(r, "m", NULL), 1);
    cr_assert_eq(lir_router_n_backends(r, "m"), 0);
    struct lir_route_request req = { .op = LIR_ROUTE_GENERATE, .model = "m", .prompt = "x" };
    cr_assert_eq(lir_router_run(r, &req, &s.res), LIR_ENOTFOUND);
    lir_route_result_clear(&s.res);
    lir_router_free(r);
    mock_stop(&m);
}
