/* openai.c — the OpenAI-compatible API of `lir serve`: POST /v1/chat/completions and
 * /v1/completions (streamed as SSE ending with "data: [DONE]", usage with
 * stream_options.include_usage, finish_reason, response_format json_object / json_schema, stop,
 * seed, logit_bias, logprobs: chat's logprobs + top_logprobs and the legacy completions' logprobs
 * N, each in OpenAI's shape; n = 1 only), POST /v1/embeddings (float or base64), GET /v1/models[/{id}].
 * Sampling fields OpenAI lacks are read as llama.cpp's server reads them (top_k, min_p,
 * typical_p, repeat_penalty, repeat_last_n, mirostat*). Errors in OpenAI's shape
 * {"error": {"message", "type", "param", "code"}}. Values are checked here for type and by
 * lir_sampling_params_validate for range; the runtime does the rest. */
#include "server/server.h"
#include "util/util.h"

#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

struct oa_fmt {
    char id[64];
    int64_t created;
    bool chat;
    bool logprobs;          /* the request asked for them */
    size_t text_offset;     /* legacy completions: bytes of completion text before the next token */
};

/* ---------------------------------------------------------------- log-probabilities */

/* A token's text as a JSON string: bytes that are not UTF-8 (a byte-level token may hold part of
 * a character) become U+FFFD; the exact bytes go in "bytes". */
static json_t *piece_string(const char *s, size_t n) {
    char *buf = malloc(3 * n + 1), *o = buf;
    if (!buf) return NULL;
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t l = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (l <= 0) {
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(o, s + i, (size_t)l);
            o += l;
            i += (size_t)l;
        }
    }
    json_t *j = json_stringn(buf, (size_t)(o - buf));
    free(buf);
    return j;
}

static json_t *piece_bytes(const char *s, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) json_array_append_new(a, json_integer((unsigned char)s[i]));
    return a;
}

/* -inf (a token a grammar excluded) as OpenAI writes it: JSON has no infinity */
static double lp_value(float lp) { return isfinite(lp) ? lp : -9999.0; }

static json_t *alt_json(const struct lir_token_alt *a) {
    return json_pack("{so sf so}", "token", piece_string(a->piece, a->piece_len), "logprob", lp_value(a->logprob),
                     "bytes", piece_bytes(a->piece, a->piece_len));
}

json_t *srv_logprob_entries(const struct lir_token_logprobs *v, int32_t n) {
    json_t *content = json_array();
    for (int32_t i = 0; content && i < n; i++) {
        json_t *e = alt_json(&v[i].chosen), *top = json_array();
        for (int32_t k = 0; top && k < v[i].n_top; k++) json_array_append_new(top, alt_json(&v[i].top[k]));
        if (e) json_object_set_new(e, "top_logprobs", top);
        else json_decref(top);
        json_array_append_new(content, e);
    }
    return content;
}

/* Chat: {"content": [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}], "refusal": null} */
static json_t *chat_logprobs(const struct lir_token_logprobs *v, int32_t n) {
    return json_pack("{so sn}", "content", srv_logprob_entries(v, n), "refusal");
}

/* Legacy completions: {"tokens", "token_logprobs", "top_logprobs": [{token: logprob}], "text_offset"}
 * (offsets in bytes of the completion text). */
static json_t *legacy_logprobs(const struct lir_token_logprobs *v, int32_t n, size_t *offset) {
    json_t *toks = json_array(), *lps = json_array(), *tops = json_array(), *offs = json_array();
    for (int32_t i = 0; i < n; i++) {
        json_array_append_new(toks, piece_string(v[i].chosen.piece, v[i].chosen.piece_len));
        json_array_append_new(lps, json_real(lp_value(v[i].chosen.logprob)));
        json_t *t = json_object();
        for (int32_t k = 0; t && k < v[i].n_top; k++) {
            json_t *key = piece_string(v[i].top[k].piece, v[i].top[k].piece_len);
            if (key && !json_object_get(t, json_string_value(key))) /* two ids, one text: the first */
                json_object_set_new(t, json_string_value(key), json_real(lp_value(v[i].top[k].logprob)));
            json_decref(key);
        }
        json_array_append_new(tops, t);
        json_array_append_new(offs, json_integer((json_int_t)*offset));
        *offset += v[i].chosen.piece_len;
    }
    return json_pack("{so so so so}", "tokens", toks, "token_logprobs", lps, "top_logprobs", tops, "text_offset", offs);
}

static json_t *logprobs_json(struct oa_fmt *f, const struct lir_token_logprobs *v, int32_t n) {
    if (!f->logprobs) return json_null();
    return f->chat ? chat_logprobs(v, n) : legacy_logprobs(v, n, &f->text_offset);
}

static json_t *chunk_base(struct srv_stream *st, const struct oa_fmt *f) {
    return json_pack("{ss ss sI ss ss}", "id", f->id, "object", f->chat ? "chat.completion.chunk" : "text_completion",
                     "created", (json_int_t)f->created, "model", st->model_name, "system_fingerprint", "lir");
}

static json_t *usage_json(const struct lir_generate_result *r) {
    return json_pack("{si si si s{si}}", "prompt_tokens", r->usage.prompt_tokens, "completion_tokens",
                     r->usage.completion_tokens, "total_tokens", r->usage.total_tokens, "prompt_tokens_details",
                     "cached_tokens", r->usage.cached_tokens);
}

static const char *finish_str(enum lir_finish_reason f) { return f == LIR_FINISH_LENGTH ? "length" : "stop"; }

static void put_choice(struct srv_stream *st, const struct oa_fmt *f, json_t *delta_or_text, const char *finish,
                       json_t *logprobs) {
    json_t *j = chunk_base(st, f);
    json_t *ch = json_pack("{si}", "index", 0);
    if (f->chat) json_object_set_new(ch, "delta", delta_or_text);
    else json_object_set_new(ch, "text", delta_or_text);
    json_object_set_new(ch, "logprobs", logprobs ? logprobs : json_null());
    json_object_set_new(ch, "finish_reason", finish ? json_string(finish) : json_null());
    json_object_set_new(j, "choices", json_pack("[o]", ch));
    if (st->include_usage) json_object_set_new(j, "usage", json_null());
    srv_stream_sse(st, j);
}

static void oa_chunk(struct srv_stream *st, const struct lir_generate_chunk *c) {
    struct oa_fmt *f = st->fmt_user;
    /* the last chunk carries no text, but may carry the log-probabilities of tokens whose text
     * a stop string held back: they go out in a delta of their own */
    bool lp_only = f->logprobs && c->n_logprobs > 0 && !c->len;
    if ((c->is_complete || (!c->len && st->started)) && !lp_only) return;
    json_t *text = json_stringn(c->text, c->len);
    json_t *lp = f->logprobs ? logprobs_json(f, c->logprobs, c->n_logprobs) : NULL;
    if (f->chat) {
        json_t *d = json_object();
        if (!st->started) json_object_set_new(d, "role", json_string("assistant"));
        json_object_set_new(d, "content", text);
        put_choice(st, f, d, NULL, lp);
    } else {
        put_choice(st, f, text, NULL, lp);
    }
}

static void oa_end(struct srv_stream *st) {
    struct oa_fmt *f = st->fmt_user;
    put_choice(st, f, f->chat ? json_object() : json_string(""), finish_str(st->result.finish_reason), NULL);
    if (st->include_usage) {
        json_t *j = chunk_base(st, f);
        json_object_set_new(j, "choices", json_array());
        json_object_set_new(j, "usage", usage_json(&st->result));
        srv_stream_sse(st, j);
    }
    srv_stream_put(st, "data: [DONE]\n\n", 14);
}

static void oa_fail(struct srv_stream *st) {
    srv_stream_sse(st, json_pack("{s{ss ss sn ss}}", "error", "message", st->err, "type", "server_error", "param",
                                 "code", lir_status_name(st->status)));
}

static json_t *oa_whole(struct srv_stream *st) {
    struct oa_fmt *f = st->fmt_user;
    json_t *j = json_pack("{ss ss sI ss ss}", "id", f->id, "object", f->chat ? "chat.completion" : "text_completion",
                          "created", (json_int_t)f->created, "model", st->model_name, "system_fingerprint", "lir");
    json_t *text = json_stringn(st->result.text ? st->result.text : "", st->result.len);
    json_t *ch = json_pack("{si}", "index", 0);
    if (f->chat) json_object_set_new(ch, "message", json_pack("{ss so sn}", "role", "assistant", "content", text, "refusal"));
    else json_object_set_new(ch, "text", text);
    f->text_offset = 0;
    json_object_set_new(ch, "logprobs", logprobs_json(f, st->result.logprobs, st->result.n_logprobs));
    json_object_set_new(ch, "finish_reason", json_string(finish_str(st->result.finish_reason)));
    json_object_set_new(j, "choices", json_pack("[o]", ch));
    json_object_set_new(j, "usage", usage_json(&st->result));
    return j;
}

static const struct srv_stream_fmt OA_FMT = { oa_chunk, oa_end, oa_fail, oa_whole, free };

/* ---------------------------------------------------------------- request fields */

/* stop: a string or an array of strings. */
static bool read_stop(struct srv_stream *st, json_t *o, struct srv_resp *r, enum api_kind api) {
    json_t *v = json_object_get(o, "stop");
    if (!v || json_is_null(v)) return true;
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    if (!json_is_string(v) && !json_is_array(v)) {
        srv_error(r, api, 400, "invalid_value", "stop", "stop: must be a string or an array of strings");
        return false;
    }
    if (n > LIR_STOP_MAX) {
        srv_error(r, api, 400, "invalid_value", "stop", "stop: %zu strings; at most %d are allowed", n, LIR_STOP_MAX);
        return false;
    }
    st->stop = calloc(n ? n : 1, sizeof *st->stop);
    if (!st->stop) {
        srv_error(r, api, 500, "internal_error", NULL, "out of memory");
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_string(s)) {
            srv_error(r, api, 400, "invalid_value", "stop", "stop: item %zu is not a string", i);
            return false;
        }
        st->stop[i] = json_string_value(s);
    }
    st->req.sampling.stop = st->stop;
    st->req.sampling.n_stop = (int32_t)n;
    return true;
}

bool srv_check_sampling(struct srv_stream *st, struct srv_resp *r, enum api_kind api) {
    char msg[512];
    enum lir_status s = lir_sampling_params_validate(&st->req.sampling, msg, sizeof msg);
    if (s) {
        srv_error(r, api, 400, "invalid_value", NULL, "%s", msg);
        return false;
    }
    return true;
}

/* Sampling and format fields shared by chat and completions. */
static bool read_common(struct srv_stream *st, json_t *o, struct srv_resp *r, bool chat) {
    enum api_kind api = API_OPENAI;
    bool bad = false, b;
    int64_t i;
    struct lir_sampling_params *sp = &st->req.sampling;
    if (srv_get_int(o, "max_completion_tokens", 0, INT32_MAX, &i, r, api, &bad)) sp->max_tokens = (int32_t)i;
    else if (!bad && srv_get_int(o, "max_tokens", 0, INT32_MAX, &i, r, api, &bad)) sp->max_tokens = (int32_t)i;
    if (!bad) srv_get_sampling(o, sp, r, api, &bad);
    if (!bad && srv_get_int(o, "n", INT32_MIN, INT32_MAX, &i, r, api, &bad) && i != 1) {
        srv_error(r, api, 400, "invalid_value", "n", "n: %lld choices asked; this server returns exactly 1 (n = 1)",
                  (long long)i);
        return false;
    }
    if (chat) { /* logprobs: bool; top_logprobs: 0..20 alternatives, only with logprobs */
        if (!bad && srv_get_bool(o, "logprobs", &b, r, api, &bad)) st->req.logprobs = b;
        if (!bad && srv_get_int(o, "top_logprobs", 0, LIR_N_PROBS_MAX, &i, r, api, &bad)) {
            if (i > 0 && !st->req.logprobs) {
                srv_error(r, api, 400, "invalid_value", "top_logprobs",
                          "top_logprobs: %lld asked without logprobs; set logprobs to true to use it", (long long)i);
                return false;
            }
            sp->n_probs = (int32_t)i;
        }
    } else { /* the legacy logprobs: N = the chosen token's and N alternatives (0..20) */
        if (!bad && srv_get_int(o, "logprobs", 0, LIR_N_PROBS_MAX, &i, r, api, &bad)) {
            st->req.logprobs = true;
            sp->n_probs = (int32_t)i;
        }
    }
    if (bad) return false;
    json_t *tools = json_object_get(o, "tools");
    if ((json_is_array(tools) && json_array_size(tools) > 0) || json_object_get(o, "functions")) {
        srv_error(r, api, 400, "unsupported_value", "tools", "tools: tool and function calling are not supported");
        return false;
    }
    if (!read_stop(st, o, r, api)) return false;
    json_t *lb = json_object_get(o, "logit_bias");
    if (lb && !json_is_null(lb)) {
        if (!json_is_object(lb)) {
            srv_error(r, api, 400, "invalid_value", "logit_bias", "logit_bias: must be an object of token id -> bias");
            return false;
        }
        size_t n = json_object_size(lb);
        st->bias = calloc(n ? n : 1, sizeof *st->bias);
        if (!st->bias) return srv_error(r, api, 500, "internal_error", NULL, "out of memory"), false;
        const char *k;
        json_t *v;
        size_t at = 0;
        json_object_foreach(lb, k, v) {
            char *end;
            long t = strtol(k, &end, 10);
            if (*end || end == k || t < 0 || t > INT32_MAX || !json_is_number(v)) {
                srv_error(r, api, 400, "invalid_value", "logit_bias",
                          "logit_bias: '%.40s' must map a token id to a number", k);
                return false;
            }
            double bv = json_number_value(v);
            st->bias[at].token = (lir_token)t;
            st->bias[at].bias = bv <= -100 ? -INFINITY : (float)bv; /* -100 bans, as OpenAI */
            at++;
        }
        sp->logit_bias = st->bias;
        sp->n_logit_bias = (int32_t)at;
    }
    json_t *rf = json_object_get(o, "response_format");
    if (rf && !json_is_null(rf)) {
        const char *type = NULL;
        if (!json_is_object(rf) || !srv_get_str(rf, "type", &type, r, api, &bad)) {
            srv_error(r, api, 400, "invalid_value", "response_format", "response_format: must be an object with a type");
            return false;
        }
        if (!strcmp(type, "json_object")) {
            st->req.format = LIR_FORMAT_JSON;
        } else if (!strcmp(type, "json_schema")) {
            json_t *js = json_object_get(rf, "json_schema");
            json_t *schema = json_is_object(js) ? json_object_get(js, "schema") : NULL;
            if (!json_is_object(schema)) {
                srv_error(r, api, 400, "invalid_value", "response_format",
                          "response_format: json_schema needs {\"json_schema\": {\"name\": ..., \"schema\": {...}}}");
                return false;
            }
            st->schema = json_dumps(schema, JSON_COMPACT);
            if (!st->schema) return srv_error(r, api, 500, "internal_error", NULL, "out of memory"), false;
            st->req.format = LIR_FORMAT_JSON_SCHEMA;
            st->req.json_schema = st->schema;
        } else if (strcmp(type, "text")) {
            srv_error(r, api, 400, "invalid_value", "response_format",
                      "response_format: type '%.40s' is not one of text, json_object, json_schema", type);
            return false;
        }
    }
    if (!srv_check_sampling(st, r, api)) return false;
    json_t *so = json_object_get(o, "stream_options");
    if (so && json_is_object(so)) {
        bool iu = false;
        if (srv_get_bool(so, "include_usage", &iu, r, api, &bad)) st->include_usage = iu;
        if (bad) return false;
    }
    return true;
}

static int generation(struct srv_req *q, struct srv_resp *r, bool chat) {
    enum api_kind api = API_OPENAI;
    json_t *o = srv_body_object(q, r);
    if (!o) return r->status;
    struct srv_stream *st = srv_stream_new(q, o);
    if (!st) return srv_error(r, api, 500, "internal_error", NULL, "out of memory");
    bool bad = false, stream = false;
    const char *model = NULL;
    srv_get_str(o, "model", &model, r, api, &bad);
    if (!bad) srv_get_bool(o, "stream", &stream, r, api, &bad);
    if (bad || srv_resolve_model(q->srv, model, st->model_arg, st->model_name, r, api)) goto fail;
    st->req.model = st->model_arg;
    if (chat) {
        json_t *msgs = json_object_get(o, "messages");
        size_t n = json_is_array(msgs) ? json_array_size(msgs) : 0;
        if (!n) {
            srv_error(r, api, 400, "invalid_value", "messages", "messages: must be a non-empty array");
            goto fail;
        }
        if (n > 100000 || !(st->messages = calloc(n, sizeof *st->messages))) {
            srv_error(r, api, 400, "invalid_value", "messages", "messages: too many");
            goto fail;
        }
        /* content parts are joined into one string kept in the body as "lir_text" */
        for (size_t i = 0; i < n; i++) {
            json_t *m = json_array_get(msgs, i);
            const char *role = NULL;
            if (!json_is_object(m) || !srv_get_str(m, "role", &role, r, api, &bad)) {
                if (!bad) srv_error(r, api, 400, "invalid_value", "messages", "messages[%zu]: needs a role", i);
                goto fail;
            }
            enum lir_chat_role rl;
            if (!strcmp(role, "system") || !strcmp(role, "developer")) rl = LIR_ROLE_SYSTEM;
            else if (!strcmp(role, "user")) rl = LIR_ROLE_USER;
            else if (!strcmp(role, "assistant")) rl = LIR_ROLE_ASSISTANT;
            else {
                srv_error(r, api, 400, "invalid_value", "messages",
                          "messages[%zu].role: '%.40s' is not supported (system, developer, user, assistant)", i, role);
                goto fail;
            }
            json_t *c = json_object_get(m, "content");
            const char *text = NULL;
            if (json_is_string(c)) {
                text = json_string_value(c);
            } else if (!c || json_is_null(c)) {
                text = "";
            } else if (json_is_array(c)) {
                json_t *joined = json_string("");
                size_t k;
                json_t *part;
                json_array_foreach(c, k, part) {
                    json_t *t = json_is_object(part) ? json_object_get(part, "text") : NULL;
                    const char *ty = json_is_object(part) ? json_string_value(json_object_get(part, "type")) : NULL;
                    if (!ty || strcmp(ty, "text") || !json_is_string(t)) {
                        json_decref(joined);
                        srv_error(r, api, 400, "invalid_value", "messages",
                                  "messages[%zu].content[%zu]: only {\"type\": \"text\", \"text\": ...} parts are supported",
                                  i, k);
                        goto fail;
                    }
                    size_t a = json_string_length(joined), b = json_string_length(t);
                    char *buf = malloc(a + b + 1);
                    if (!buf) { json_decref(joined); srv_error(r, api, 500, "internal_error", NULL, "out of memory"); goto fail; }
                    memcpy(buf, json_string_value(joined), a);
                    memcpy(buf + a, json_string_value(t), b);
                    json_string_setn_nocheck(joined, buf, a + b);
                    free(buf);
                }
                json_object_set_new(m, "lir_text", joined);
                text = json_string_value(joined);
            } else {
                srv_error(r, api, 400, "invalid_value", "messages", "messages[%zu].content: must be a string or an array", i);
                goto fail;
            }
            if (strlen(text) != (json_is_string(c) ? json_string_length(c) : strlen(text))) {
                srv_error(r, api, 400, "invalid_value", "messages", "messages[%zu].content: contains NUL", i);
                goto fail;
            }
            st->messages[i].role = rl;
            st->messages[i].content = text;
        }
        st->req.messages = st->messages;
        st->req.n_messages = (int32_t)n;
    } else {
        json_t *p = json_object_get(o, "prompt");
        if (json_is_array(p) && json_array_size(p) == 1 && json_is_string(json_array_get(p, 0))) p = json_array_get(p, 0);
        if (!json_is_string(p)) {
            srv_error(r, api, 400, "invalid_value", "prompt",
                      json_is_array(p) ? "prompt: one prompt per request (a string, or an array of one string)"
                                       : "prompt: must be a string");
            goto fail;
        }
        if (strlen(json_string_value(p)) != json_string_length(p)) {
            srv_error(r, api, 400, "invalid_value", "prompt", "prompt: contains NUL");
            goto fail;
        }
        st->req.prompt = json_string_value(p);
        bool echo = false;
        int64_t best_of = 1;
        const char *suffix = NULL;
        if ((srv_get_bool(o, "echo", &echo, r, api, &bad) && echo) || bad) {
            if (!bad) srv_error(r, api, 400, "unsupported_value", "echo", "echo: not supported");
            goto fail;
        }
        if ((srv_get_int(o, "best_of", INT32_MIN, INT32_MAX, &best_of, r, api, &bad) && best_of != 1) || bad) {
            if (!bad) srv_error(r, api, 400, "unsupported_value", "best_of", "best_of: only 1 is supported");
            goto fail;
        }
        if ((srv_get_str(o, "suffix", &suffix, r, api, &bad) && suffix[0]) || bad) {
            if (!bad) srv_error(r, api, 400, "unsupported_value", "suffix", "suffix: not supported");
            goto fail;
        }
    }
    if (!read_common(st, o, r, chat)) goto fail;
    struct oa_fmt *f = calloc(1, sizeof *f);
    if (!f) {
        srv_error(r, api, 500, "internal_error", NULL, "out of memory");
        goto fail;
    }
    f->chat = chat;
    f->logprobs = st->req.logprobs;
    f->created = (int64_t)time(NULL);
    unsigned char rnd[12];
    randombytes_buf(rnd, sizeof rnd);
    char hex[25];
    sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
    snprintf(f->id, sizeof f->id, "%s-%s", chat ? "chatcmpl" : "cmpl", hex);
    st->fmt = &OA_FMT;
    st->fmt_user = f;
    st->streaming = stream;
    st->content_type = stream ? "text/event-stream" : NULL;
    return srv_stream_run(q, st, r);
fail:
    srv_stream_discard(st);
    return r->status;
}

/* ---------------------------------------------------------------- embeddings, models */

static int embeddings(struct srv_req *q, struct srv_resp *r) {
    enum api_kind api = API_OPENAI;
    json_t *o = srv_body_object(q, r);
    if (!o) return r->status;
    bool bad = false;
    const char *model = NULL, *enc = "float";
    char arg[256], name[256];
    int64_t dims = 0;
    const char **texts = NULL;
    struct lir_embed_result res = { 0 };
    srv_get_str(o, "model", &model, r, api, &bad);
    if (!bad) srv_get_str(o, "encoding_format", &enc, r, api, &bad);
    if (!bad) srv_get_int(o, "dimensions", 1, INT32_MAX, &dims, r, api, &bad);
    if (bad || srv_resolve_model(q->srv, model, arg, name, r, api)) goto out;
    if (strcmp(enc, "float") && strcmp(enc, "base64")) {
        srv_error(r, api, 400, "invalid_value", "encoding_format", "encoding_format: '%.20s' is not float or base64", enc);
        goto out;
    }
    json_t *in = json_object_get(o, "input");
    size_t n = json_is_string(in) ? 1 : json_is_array(in) ? json_array_size(in) : 0;
    if (!n || n > 2048) {
        srv_error(r, api, 400, "invalid_value", "input", "input: a string or an array of 1 to 2048 strings");
        goto out;
    }
    texts = calloc(n, sizeof *texts);
    if (!texts) { srv_error(r, api, 500, "internal_error", NULL, "out of memory"); goto out; }
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_is_string(in) ? in : json_array_get(in, i);
        if (!json_is_string(t) || strlen(json_string_value(t)) != json_string_length(t) || !json_string_length(t)) {
            srv_error(r, api, 400, "invalid_value", "input",
                      "input[%zu]: must be a non-empty string (token arrays are not supported)", i);
            goto out;
        }
        texts[i] = json_string_value(t);
    }
    if (!srv_admit(q->srv)) {
        r->retry_after = 1;
        srv_error(r, api, 503, "queue_full", NULL, "the server is busy; retry later");
        goto out;
    }
    struct lir_embed_request er = lir_embed_request_default();
    er.model = arg;
    er.texts = texts;
    er.n_texts = (int32_t)n;
    char err[512] = "";
    enum lir_status s = lir_runtime_embed(srv_runtime(q->srv), &er, &res, err, sizeof err);
    srv_leave(q->srv);
    if (s) {
        srv_error(r, api, srv_http_status(s), lir_status_name(s), NULL, "%s", err);
        goto out;
    }
    if (dims && dims != res.dimensions) {
        srv_error(r, api, 400, "invalid_value", "dimensions", "dimensions: this model's embeddings have %d dimensions",
                  res.dimensions);
        goto out;
    }
    json_t *data = json_array();
    for (int32_t i = 0; i < res.n; i++) {
        const float *v = res.embeddings + (size_t)i * res.dimensions;
        json_t *e;
        if (!strcmp(enc, "base64")) {
            size_t bl = (size_t)res.dimensions * 4;
            size_t cap = sodium_base64_encoded_len(bl, sodium_base64_VARIANT_ORIGINAL);
            char *b64 = malloc(cap);
            unsigned char *raw = malloc(bl);
            if (b64 && raw) {
                for (int32_t k = 0; k < res.dimensions; k++) { /* little-endian float32, as OpenAI's */
                    uint32_t u;
                    memcpy(&u, &v[k], 4);
                    raw[4 * k] = (unsigned char)u, raw[4 * k + 1] = (unsigned char)(u >> 8);
                    raw[4 * k + 2] = (unsigned char)(u >> 16), raw[4 * k + 3] = (unsigned char)(u >> 24);
                }
                sodium_bin2base64(b64, cap, raw, bl, sodium_base64_VARIANT_ORIGINAL);
            }
            e = json_string(b64 ? b64 : "");
            free(b64);
            free(raw);
        } else {
            e = json_array();
            for (int32_t k = 0; k < res.dimensions; k++) json_array_append_new(e, json_real(v[k]));
        }
        json_array_append_new(data, json_pack("{ss si so}", "object", "embedding", "index", i, "embedding", e));
    }
    r->status = 200;
    r->json = json_pack("{ss so ss s{si si}}", "object", "list", "data", data, "model", name, "usage", "prompt_tokens",
                        res.total_tokens, "total_tokens", res.total_tokens);
out:
    lir_embed_result_clear(&res);
    free(texts);
    json_decref(o);
    return r->status;
}

static json_t *model_obj(const struct lir_installed_model *m) {
    return json_pack("{ss ss sI ss}", "id", m->name, "object", "model", "created", (json_int_t)0, "owned_by", "lir");
}

static int models(struct srv_req *q, struct srv_resp *r, const char *one) {
    struct lir_installed_model *v = NULL;
    int32_t n = 0;
    enum lir_status s = lir_runtime_list_installed(srv_runtime(q->srv), &v, &n);
    if (s) return srv_error(r, API_OPENAI, 500, lir_status_name(s), NULL, "cannot list the models: %s", lir_status_str(s));
    json_t *data = json_array();
    for (int32_t i = 0; i < n; i++) {
        if (one && strcmp(one, v[i].name) && strcmp(one, v[i].id)) continue;
        if (one) {
            r->json = model_obj(&v[i]);
            r->status = 200;
            json_decref(data);
            lir_runtime_free(v);
            return 200;
        }
        json_array_append_new(data, model_obj(&v[i]));
    }
    lir_runtime_free(v);
    if (one) {
        json_decref(data);
        return srv_error(r, API_OPENAI, 404, "model_not_found", "model", "model '%.200s' not found", one);
    }
    r->status = 200;
    r->json = json_pack("{ss so}", "object", "list", "data", data);
    return 200;
}

int lir__openai_handle(struct srv_req *q, struct srv_resp *r) {
    bool post = !strcmp(q->method, "POST"), get = !strcmp(q->method, "GET");
    if (!strcmp(q->path, "/v1/chat/completions")) return post ? generation(q, r, true) : 0;
    if (!strcmp(q->path, "/v1/completions")) return post ? generation(q, r, false) : 0;
    if (!strcmp(q->path, "/v1/embeddings")) return post ? embeddings(q, r) : 0;
    if (!strcmp(q->path, "/v1/models")) return get ? models(q, r, NULL) : 0;
    if (!strncmp(q->path, "/v1/models/", 11) && get) return models(q, r, q->path + 11);
    return 0;
}
