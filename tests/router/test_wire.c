/* test_wire.c — the router's wire layer without a network: request bodies (exact bytes, per API
 * and operation), the stream decoder over every chunking of OpenAI SSE and Ollama NDJSON streams
 * (CRLF, comments, blank lines, UTF-8 split across chunks), its failures (malformed JSON,
 * truncation, errors reported in the stream, cancellation, an endless line), embeddings
 * responses and error bodies. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "lir.h"
#include "router/router.h"

/* ---------------------------------------------------------------- decoder */

struct sink {
    char text[4096];
    size_t len;
    int pieces;
    int cancel_after; /* 0 = never */
};

static int sink_text(void *user, const char *s, size_t n) {
    struct sink *k = user;
    cr_assert(n > 0);
    cr_assert(k->len + n < sizeof k->text);
    memcpy(k->text + k->len, s, n);
    k->len += n;
    k->text[k->len] = 0;
    k->pieces++;
    return k->cancel_after && k->pieces >= k->cancel_after;
}

/* Decodes s pushed in pieces of at most step bytes, starting with a first piece of first bytes. */
static void decode(struct lir__decoder *d, struct sink *k, enum lir_remote_kind kind, enum lir_route_op op,
                   const char *s, size_t first, size_t step) {
    memset(k, 0, sizeof *k);
    lir__decoder_init(d, kind, op, sink_text, k);
    size_t n = strlen(s), i = 0;
    if (first > n) first = n;
    if (first) { lir__decoder_push(d, s, first); i = first; }
    while (i < n) {
        size_t m = n - i < step ? n - i : step;
        lir__decoder_push(d, s + i, m);
        i += m;
    }
    lir__decoder_finish(d);
}

/* Completions stream as llama.cpp server / vLLM send it, with CRLF, a comment, stray blank
 * lines, text holding multi-byte UTF-8 and an escaped character, and usage in its own chunk. */
static const char OPENAI_COMPLETIONS[] =
    ": keep-alive\r\n\r\n"
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"text\":\"Hel\",\"finish_reason\":null}]}\r\n\r\n"
    "data: {\"choices\":[{\"index\":0,\"text\":\"lo, w\\u00f6rld \xe6\x97\xa5\xe6\x9c\xac\",\"finish_reason\":null}]}\n\n"
    "\n"
    "data: {\"choices\":[{\"index\":0,\"text\":\" \xf0\x9f\x98\x80!\",\"finish_reason\":\"length\"}]}\n\n"
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":4,\"total_tokens\":11}}\n\n"
    "data: [DONE]\n\n";
static const char OPENAI_COMPLETIONS_TEXT[] = "Hello, w\xc3\xb6rld \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80!";

Test(router_wire, openai_completions_every_chunking) {
    size_t n = strlen(OPENAI_COMPLETIONS);
    for (size_t step = 1; step <= 7; step += 6) {
        for (size_t first = 0; first <= n; first++) {
            struct lir__decoder d;
            struct sink k;
            decode(&d, &k, LIR_REMOTE_OPENAI, LIR_ROUTE_GENERATE, OPENAI_COMPLETIONS, first, step == 7 ? n : step);
            cr_assert_eq(d.failure, LIR_ROUTE_FAILURE_NONE, "first %zu step %zu: %s", first, step, d.err.msg);
            cr_assert(d.done);
            cr_assert_str_eq(k.text, OPENAI_COMPLETIONS_TEXT);
            cr_assert_eq(k.pieces, 3);
            cr_assert_eq(d.finish, LIR_FINISH_LENGTH);
            cr_assert_eq(d.prompt_tokens, 7);
            cr_assert_eq(d.completion_tokens, 4);
            lir__decoder_free(&d);
            if (step == 1) break; /* byte by byte once */
        }
    }
}

Test(router_wire, openai_chat_deltas) {
    const char *s =
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"hmm\"}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there\"},\"finish_reason\":\"stop\"}],"
        "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\n"
        "data: [DONE]\n"; /* no blank line before the end: dispatched at the end of the body */
    struct lir__decoder d;
    struct sink k;
    decode(&d, &k, LIR_REMOTE_OPENAI, LIR_ROUTE_CHAT, s, 0, 5);
    cr_assert_eq(d.failure, LIR_ROUTE_FAILURE_NONE, "%s", d.err.msg);
    cr_assert_str_eq(k.text, "Hi there");
    cr_assert_eq(d.finish, LIR_FINISH_STOP);
    cr_assert_eq(d.prompt_tokens, 3);
    lir__decoder_free(&d);
}

static const char OLLAMA_CHAT[] =
    "{\"model\":\"m\",\"created_at\":\"2024-01-01T00:00:00Z\",\"message\":{\"role\":\"assistant\",\"content\":\"Bon\"},\"done\":false}\n"
    "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"jour \xc3\xa0 \xe4\xbd\xa0\"},\"done\":false}\r\n"
    "\n"
    "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\","
    "\"total_duration\":123,\"prompt_eval_count\":12,\"eval_count\":3}\n";

Test(router_wire, ollama_chat_every_chunking) {
    size_t n = strlen(OLLAMA_CHAT);
    for (size_t first = 0; first <= n; first++) {
        struct lir__decoder d;
        struct sink k;
        decode(&d, &k, LIR_REMOTE_OLLAMA, LIR_ROUTE_CHAT, OLLAMA_CHAT, first, 3);
        cr_assert_eq(d.failure, LIR_ROUTE_FAILURE_NONE, "first %zu: %s", first, d.err.msg);
        cr_assert_str_eq(k.text, "Bonjour \xc3\xa0 \xe4\xbd\xa0");
        cr_assert_eq(d.prompt_tokens, 12);
        cr_assert_eq(d.completion_tokens, 3);
        cr_assert_eq(d.finish, LIR_FINISH_STOP);
        lir__decoder_free(&d);
    }
}

Test(router_wire, ollama_generate_length_and_last_line_without_newline) {
    const char *s = "{\"response\":\"a\",\"done\":false}\n"
                    "{\"response\":\"b\",\"done\":true,\"done_reason\":\"length\",\"eval_count\":2}";
    struct lir__decoder d;
    struct sink k;
    decode(&d, &k, LIR_REMOTE_OLLAMA, LIR_ROUTE_GENERATE, s, 0, 1000);
    cr_assert_eq(d.failure, LIR_ROUTE_FAILURE_NONE, "%s", d.err.msg);
    cr_assert_str_eq(k.text, "ab");
    cr_assert_eq(d.finish, LIR_FINISH_LENGTH);
    cr_assert_eq(d.prompt_tokens, -1);
    cr_assert_eq(d.completion_tokens, 2);
    lir__decoder_free(&d);
}

Test(router_wire, failures) {
    static const struct {
        enum lir_remote_kind kind;
        const char *stream, *text, *msg;
        enum lir_route_failure f;
    } C[] = {
        { LIR_REMOTE_OPENAI, "data: {\"choices\":[{\"text\":\"x\"}]}\n\ndata: {\"choices\":[{\"text\":\"y\"}\n\n", "x",
          "malformed JSON in the stream", LIR_ROUTE_FAILURE_PROTOCOL },
        { LIR_REMOTE_OPENAI, "data: [1,2]\n\n", "", "not an object", LIR_ROUTE_FAILURE_PROTOCOL },
        { LIR_REMOTE_OPENAI, "data: {\"choices\":[{\"text\":7}]}\n\n", "", "not a string", LIR_ROUTE_FAILURE_PROTOCOL },
        { LIR_REMOTE_OPENAI, "data: {\"choices\":[{\"text\":\"x\"}]}\n\n", "x", "stream ended early (no data: [DONE])",
          LIR_ROUTE_FAILURE_TRUNCATED },
        { LIR_REMOTE_OPENAI, "data: {\"choices\":[{\"text\":\"x\"}]}\n\ndata: {\"choi", "x", "malformed JSON",
          LIR_ROUTE_FAILURE_PROTOCOL }, /* cut inside an event: its data is decoded at the end */
        { LIR_REMOTE_OPENAI, "data: {\"error\":{\"message\":\"context overflow\",\"code\":400}}\n\n", "",
          "server error in the stream: context overflow", LIR_ROUTE_FAILURE_BACKEND },
        { LIR_REMOTE_OPENAI, "event: error\ndata: {\"message\":\"slot died\"}\n\n", "",
          "server error in the stream: slot died", LIR_ROUTE_FAILURE_BACKEND },
        { LIR_REMOTE_OPENAI, "error: {\"message\":\"bad\"}\n", "", "server error in the stream: bad",
          LIR_ROUTE_FAILURE_BACKEND },
        { LIR_REMOTE_OPENAI, "", "", "stream ended early", LIR_ROUTE_FAILURE_TRUNCATED },
        { LIR_REMOTE_OLLAMA, "{\"response\":\"a\",\"done\":false}\n{oops}\n", "a", "malformed JSON",
          LIR_ROUTE_FAILURE_PROTOCOL },
        { LIR_REMOTE_OLLAMA, "{\"response\":\"a\",\"done\":false}\n", "a", "stream ended early (no \"done\": true)",
          LIR_ROUTE_FAILURE_TRUNCATED },
        { LIR_REMOTE_OLLAMA, "{\"response\":\"a\",\"done\":false}\n{\"response\":\"b\",\"do", "a", "malformed JSON",
          LIR_ROUTE_FAILURE_PROTOCOL },
        { LIR_REMOTE_OLLAMA, "{\"error\":\"model requires more system memory\"}\n", "",
          "server error in the stream: model requires more system memory", LIR_ROUTE_FAILURE_BACKEND },
        { LIR_REMOTE_OLLAMA, "{\"response\":\"a\",\"done\":\"yes\"}\n", "a", "\"done\" is not a boolean",
          LIR_ROUTE_FAILURE_PROTOCOL },
    };
    for (size_t i = 0; i < sizeof C / sizeof C[0]; i++) {
        struct lir__decoder d;
        struct sink k;
        decode(&d, &k, C[i].kind, LIR_ROUTE_GENERATE, C[i].stream, 0, 4);
        cr_assert_eq(d.failure, C[i].f, "case %zu: %d %s", i, d.failure, d.err.msg);
        cr_assert_str_eq(k.text, C[i].text, "case %zu", i);
        cr_assert(strstr(d.err.msg, C[i].msg), "case %zu: %s", i, d.err.msg);
        lir__decoder_free(&d);
    }
}

Test(router_wire, cancel_stops_decoding) {
    struct lir__decoder d;
    struct sink k;
    memset(&k, 0, sizeof k);
    k.cancel_after = 1;
    lir__decoder_init(&d, LIR_REMOTE_OPENAI, LIR_ROUTE_GENERATE, sink_text, &k);
    const char *s = "data: {\"choices\":[{\"text\":\"a\"}]}\n\ndata: {\"choices\":[{\"text\":\"b\"}]}\n\n";
    cr_assert_not(lir__decoder_push(&d, s, strlen(s)));
    cr_assert_eq(d.failure, LIR_ROUTE_FAILURE_CANCELLED);
    cr_assert_str_eq(k.text, "a");
    cr_assert_not(lir__decoder_push(&d, s, strlen(s)));
    lir__decoder_finish(&d);
    cr_assert_eq(d.failure, LIR_ROUTE_FAILURE_CANCELLED);
    lir__decoder_free(&d);
}

Test(router_wire, endless_line_is_refused) {
    struct lir__decoder d;
    lir__decoder_init(&d, LIR_REMOTE_OLLAMA, LIR_ROUTE_GENERATE, NULL, NULL);
    static char chunk[1 << 16];
    memset(chunk, 'x', sizeof chunk);
    size_t pushed = 0;
    while (lir__decoder_push(&d, chunk, sizeof chunk)) {
        pushed += sizeof chunk;
        cr_assert(pushed <= LIR__ROUTE_LINE_MAX + sizeof chunk);
    }
    cr_assert_eq(d.failure, LIR_ROUTE_FAILURE_PROTOCOL);
    cr_assert(strstr(d.err.msg, "line over"));
    lir__decoder_free(&d);
}

/* ---------------------------------------------------------------- bodies */

static char *body_of(enum lir_remote_kind kind, const struct lir_route_request *req, const char *model, bool ext,
                     const char *extra) {
    char *out = NULL;
    lir_err e = { "" };
    enum lir_status st = lir__wire_body(kind, req, model, ext, extra, &out, &e);
    cr_assert_eq(st, LIR_OK, "%s", e.msg);
    return out;
}

Test(router_wire, bodies_with_every_parameter) {
    struct lir_sampling_params p = lir_sampling_params_default();
    const char *stops[] = { "\n\n", "User:" };
    struct lir_logit_bias lb[] = { { 15, 2.5f }, { 42, -INFINITY } };
    p.max_tokens = 64;
    p.temperature = 0.2f;
    p.top_p = 0.95f;
    p.top_k = 40;
    p.min_p = 0.05f;
    p.typical_p = 0.9f;
    p.repeat_penalty = 1.15f;
    p.repeat_last_n = 128;
    p.frequency_penalty = 0.5f;
    p.presence_penalty = 0.25f;
    p.mirostat = 2;
    p.mirostat_tau = 4.5f;
    p.mirostat_eta = 0.2f;
    p.seed = 1234;
    p.stop = stops;
    p.n_stop = 2;
    p.logit_bias = lb;
    p.n_logit_bias = 2;
    struct lir_route_request r = { .op = LIR_ROUTE_GENERATE, .model = "m", .prompt = "Once upon", .sampling = &p };
    char *b = body_of(LIR_REMOTE_OPENAI, &r, "served-m", true, NULL);
    cr_assert_str_eq(b, "{\"model\":\"served-m\",\"prompt\":\"Once upon\",\"stream\":true,"
                        "\"stream_options\":{\"include_usage\":true},\"max_tokens\":64,\"temperature\":0.2,"
                        "\"top_p\":0.95,\"top_k\":40,\"min_p\":0.05,\"typical_p\":0.9,\"repeat_penalty\":1.15,"
                        "\"repeat_last_n\":128,\"frequency_penalty\":0.5,\"presence_penalty\":0.25,\"mirostat\":2,"
                        "\"mirostat_tau\":4.5,\"mirostat_eta\":0.2,\"seed\":1234,\"stop\":[\"\\n\\n\",\"User:\"],"
                        "\"logit_bias\":{\"15\":2.5,\"42\":-100.0}}");
    free(b);
    /* plain OpenAI: no extension fields */
    b = body_of(LIR_REMOTE_OPENAI, &r, "served-m", false, NULL);
    cr_assert_str_eq(b, "{\"model\":\"served-m\",\"prompt\":\"Once upon\",\"stream\":true,"
                        "\"stream_options\":{\"include_usage\":true},\"max_tokens\":64,\"temperature\":0.2,"
                        "\"top_p\":0.95,\"frequency_penalty\":0.5,\"presence_penalty\":0.25,\"seed\":1234,"
                        "\"stop\":[\"\\n\\n\",\"User:\"],\"logit_bias\":{\"15\":2.5,\"42\":-100.0}}");
    free(b);
    b = body_of(LIR_REMOTE_OLLAMA, &r, "llama3.2:1b", true, NULL);
    cr_assert_str_eq(b, "{\"model\":\"llama3.2:1b\",\"prompt\":\"Once upon\",\"stream\":true,\"raw\":true,"
                        "\"options\":{\"num_predict\":64,\"temperature\":0.2,\"top_p\":0.95,\"top_k\":40,"
                        "\"min_p\":0.05,\"typical_p\":0.9,\"repeat_penalty\":1.15,\"repeat_last_n\":128,"
                        "\"frequency_penalty\":0.5,\"presence_penalty\":0.25,\"mirostat\":2,\"mirostat_tau\":4.5,"
                        "\"mirostat_eta\":0.2,\"seed\":1234,\"stop\":[\"\\n\\n\",\"User:\"]}}");
    free(b);
}

Test(router_wire, bodies_defaults_chat_embed_extra) {
    struct lir_sampling_params p = lir_sampling_params_default(); /* 0.7, 0.9, repeat_penalty 1.1 */
    p.repeat_penalty = 1.0f;
    struct lir_route_request r = { .op = LIR_ROUTE_CHAT, .model = "m",
                                   .messages_json = "[{\"role\":\"user\",\"content\":\"Hi \\u00e9\"}]",
                                   .sampling = &p };
    char *b = body_of(LIR_REMOTE_OPENAI, &r, "m", true, NULL);
    cr_assert_str_eq(b, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi \xc3\xa9\"}],"
                        "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"temperature\":0.7,\"top_p\":0.9}");
    free(b);
    b = body_of(LIR_REMOTE_OLLAMA, &r, "m", true, "{\"keep_alive\":\"5m\",\"options\":{\"num_ctx\":8192,\"top_p\":1}}");
    cr_assert_str_eq(b, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi \xc3\xa9\"}],"
                        "\"stream\":true,\"options\":{\"temperature\":0.7,\"top_p\":1,\"num_ctx\":8192},"
                        "\"keep_alive\":\"5m\"}");
    free(b);
    r.sampling = NULL;
    b = body_of(LIR_REMOTE_OLLAMA, &r, "m", true, NULL);
    cr_assert_str_eq(b, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi \xc3\xa9\"}],\"stream\":true}");
    free(b);
    const char *texts[] = { "a", "b c" };
    struct lir_route_request e = { .op = LIR_ROUTE_EMBED, .model = "m", .texts = texts, .n_texts = 2 };
    b = body_of(LIR_REMOTE_OPENAI, &e, "emb", true, NULL);
    cr_assert_str_eq(b, "{\"model\":\"emb\",\"input\":[\"a\",\"b c\"],\"encoding_format\":\"float\"}");
    free(b);
    b = body_of(LIR_REMOTE_OLLAMA, &e, "emb", true, NULL);
    cr_assert_str_eq(b, "{\"model\":\"emb\",\"input\":[\"a\",\"b c\"]}");
    free(b);
}

Test(router_wire, bodies_refused) {
    struct lir_sampling_params p = lir_sampling_params_default();
    struct lir_route_request r = { .op = LIR_ROUTE_GENERATE, .model = "m", .prompt = "x", .sampling = &p };
    char *out = NULL;
    lir_err e = { "" };
    p.temperature = NAN;
    cr_assert_eq(lir__wire_body(LIR_REMOTE_OPENAI, &r, "m", true, NULL, &out, &e), LIR_EINVAL);
    cr_assert(strstr(e.msg, "temperature"), "%s", e.msg);
    p = lir_sampling_params_default();
    p.seed = (uint64_t)INT64_MAX + 1;
    cr_assert_eq(lir__wire_body(LIR_REMOTE_OLLAMA, &r, "m", true, NULL, &out, &e), LIR_EINVAL);
    cr_assert(strstr(e.msg, "seed"), "%s", e.msg);
    r.sampling = NULL;
    r.prompt = "\xff\xfe";
    cr_assert_eq(lir__wire_body(LIR_REMOTE_OLLAMA, &r, "m", true, NULL, &out, &e), LIR_EINVAL);
    cr_assert(strstr(e.msg, "UTF-8"), "%s", e.msg);
    r.op = LIR_ROUTE_CHAT;
    r.messages_json = "{\"role\":\"user\"}";
    cr_assert_eq(lir__wire_body(LIR_REMOTE_OLLAMA, &r, "m", true, NULL, &out, &e), LIR_EINVAL);
    cr_assert(strstr(e.msg, "not a JSON array"), "%s", e.msg);
    cr_assert_null(out);
}

Test(router_wire, paths) {
    cr_assert_str_eq(lir__wire_path(LIR_REMOTE_OPENAI, LIR_ROUTE_GENERATE), "/v1/completions");
    cr_assert_str_eq(lir__wire_path(LIR_REMOTE_OPENAI, LIR_ROUTE_CHAT), "/v1/chat/completions");
    cr_assert_str_eq(lir__wire_path(LIR_REMOTE_OPENAI, LIR_ROUTE_EMBED), "/v1/embeddings");
    cr_assert_str_eq(lir__wire_path(LIR_REMOTE_OLLAMA, LIR_ROUTE_GENERATE), "/api/generate");
    cr_assert_str_eq(lir__wire_path(LIR_REMOTE_OLLAMA, LIR_ROUTE_CHAT), "/api/chat");
    cr_assert_str_eq(lir__wire_path(LIR_REMOTE_OLLAMA, LIR_ROUTE_EMBED), "/api/embed");
}

/* ---------------------------------------------------------------- embeddings, errors */

Test(router_wire, embeddings_responses) {
    float *v = NULL;
    int32_t dim = 0, pt = 0;
    lir_err e = { "" };
    /* OpenAI: items out of order are put back by index */
    const char *oa = "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":1,\"embedding\":[3,4.5]},"
                     "{\"object\":\"embedding\",\"index\":0,\"embedding\":[1,-2]}],\"usage\":{\"prompt_tokens\":5,\"total_tokens\":5}}";
    cr_assert_eq(lir__wire_embeddings(LIR_REMOTE_OPENAI, oa, strlen(oa), 2, &v, &dim, &pt, &e), LIR_OK, "%s", e.msg);
    cr_assert_eq(dim, 2);
    cr_assert_eq(pt, 5);
    cr_assert(v[0] == 1 && v[1] == -2 && v[2] == 3 && v[3] == 4.5f);
    free(v);
    const char *ol = "{\"model\":\"m\",\"embeddings\":[[0.5,0.25,0],[1,1,1]],\"prompt_eval_count\":4}";
    cr_assert_eq(lir__wire_embeddings(LIR_REMOTE_OLLAMA, ol, strlen(ol), 2, &v, &dim, &pt, &e), LIR_OK, "%s", e.msg);
    cr_assert_eq(dim, 3);
    cr_assert_eq(pt, 4);
    cr_assert(v[0] == 0.5f && v[5] == 1);
    free(v);
    static const struct { enum lir_remote_kind k; const char *body; int n; const char *msg; } bad[] = {
        { LIR_REMOTE_OLLAMA, "{\"embeddings\":[[1,2],[3]]}", 2, "has 1 values" },
        { LIR_REMOTE_OLLAMA, "{\"embeddings\":[[1,2]]}", 2, "1 embeddings for 2 texts" },
        { LIR_REMOTE_OLLAMA, "{\"embeddings\":[[1,\"x\"]]}", 1, "not a number" },
        { LIR_REMOTE_OLLAMA, "[1", 1, "embeddings response" },
        { LIR_REMOTE_OPENAI, "{\"data\":[{\"index\":0,\"embedding\":[1]},{\"index\":0,\"embedding\":[2]}]}", 2,
          "repeated index" },
        { LIR_REMOTE_OPENAI, "{\"data\":[{\"index\":5,\"embedding\":[1]}]}", 1, "bad or repeated index" },
        { LIR_REMOTE_OPENAI, "{\"object\":\"list\"}", 1, "no \"data\" array" },
        { LIR_REMOTE_OPENAI, "{\"data\":[{\"index\":0,\"embedding\":[]}]}", 1, "embedding 0" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = (float *)1;
        cr_assert_eq(lir__wire_embeddings(bad[i].k, bad[i].body, strlen(bad[i].body), bad[i].n, &v, &dim, &pt, &e),
                     LIR_EFORMAT, "case %zu", i);
        cr_assert_null(v);
        cr_assert(strstr(e.msg, bad[i].msg), "case %zu: %s", i, e.msg);
    }
}

Test(router_wire, error_messages) {
    char m[64];
    const char *a = "{\"error\":{\"message\":\"The model `x` does not exist\",\"type\":\"invalid_request_error\"}}";
    lir__wire_error_message(a, strlen(a), m, sizeof m);
    cr_assert_str_eq(m, "The model `x` does not exist");
    const char *b = "{\"error\":\"model 'x' not found\"}";
    lir__wire_error_message(b, strlen(b), m, sizeof m);
    cr_assert_str_eq(m, "model 'x' not found");
    const char *c = "\n<html>Bad\tGateway</html>\r\n";
    lir__wire_error_message(c, strlen(c), m, sizeof m);
    cr_assert_str_eq(m, "<html>Bad Gateway</html>");
    lir__wire_error_message("", 0, m, sizeof m);
    cr_assert_str_eq(m, "(empty body)");
    char big[200];
    memset(big, 'z', sizeof big);
    lir__wire_error_message(big, sizeof big, m, sizeof m);
    cr_assert_eq(strlen(m), sizeof m - 1);
}
