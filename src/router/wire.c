/* wire.c — what the router sends to and reads from remote servers, without any network:
 * request bodies for the OpenAI and Ollama APIs, the incremental decoder of their streams
 * (bytes in any chunking -> lines -> SSE events or NDJSON objects -> text, finish, usage),
 * embeddings responses and error bodies. All JSON goes through jansson. */
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "router/router.h"

/* ================================================================ line framing */

static bool lines_append(struct lir__lines *L, const char *p, size_t n) {
    if (L->len + n > L->cap) {
        size_t cap = L->cap ? L->cap : 256;
        while (cap < L->len + n) cap *= 2;
        char *b = realloc(L->buf, cap);
        if (!b) return false;
        L->buf = b;
        L->cap = cap;
    }
    memcpy(L->buf + L->len, p, n);
    L->len += n;
    return true;
}

/* ================================================================ decoder */

static void dec_fail(struct lir__decoder *d, enum lir_route_failure f, enum lir_status s, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void dec_fail(struct lir__decoder *d, enum lir_route_failure f, enum lir_status s, const char *fmt, ...) {
    (void)s;
    if (d->stopped) return;
    d->failure = f;
    d->stopped = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->err.msg, sizeof d->err.msg, fmt, ap);
    va_end(ap);
}

void lir__decoder_init(struct lir__decoder *d, enum lir_remote_kind kind, enum lir_route_op op,
                       lir__text_fn on_text, void *user) {
    memset(d, 0, sizeof *d);
    d->kind = kind;
    d->op = op;
    d->on_text = on_text;
    d->user = user;
    d->prompt_tokens = d->completion_tokens = -1;
    d->finish = LIR_FINISH_STOP;
}

void lir__decoder_free(struct lir__decoder *d) {
    if (!d) return;
    free(d->lines.buf);
    free(d->data);
    d->lines.buf = d->data = NULL;
}

static void emit_text(struct lir__decoder *d, const char *s, size_t n) {
    if (n == 0 || d->stopped) return;
    d->n_text++;
    if (d->on_text && d->on_text(d->user, s, n) != 0)
        dec_fail(d, LIR_ROUTE_FAILURE_CANCELLED, LIR_ECANCELLED, "cancelled by the caller");
}

static void set_finish(struct lir__decoder *d, const char *reason) {
    if (!reason) return;
    d->have_finish = true;
    d->finish = strcmp(reason, "length") == 0 ? LIR_FINISH_LENGTH : LIR_FINISH_STOP;
}

static int32_t get_count(json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v)) return -1;
    json_int_t x = json_integer_value(v);
    return x < 0 || x > INT32_MAX ? -1 : (int32_t)x;
}

/* A short excerpt of a bad line for messages (control bytes as '?'). */
static void excerpt(const char *s, size_t n, char *out, size_t cap) {
    size_t k = n < cap - 4 ? n : cap - 4;
    for (size_t i = 0; i < k; i++) out[i] = (unsigned char)s[i] < 0x20 ? '?' : s[i];
    if (k < n) { memcpy(out + k, "...", 3); k += 3; }
    out[k] = 0;
}

/* The message of an {"error": ...} value: a string, or an object with "message". */
static const char *error_value_message(json_t *err) {
    if (json_is_string(err)) return json_string_value(err);
    if (json_is_object(err)) {
        json_t *m = json_object_get(err, "message");
        if (json_is_string(m)) return json_string_value(m);
    }
    return NULL;
}

/* One JSON payload: an SSE event's data (OpenAI) or an NDJSON line (Ollama). */
static void dec_json(struct lir__decoder *d, const char *s, size_t n) {
    json_error_t je;
    json_t *root = json_loadb(s, n, JSON_ALLOW_NUL, &je);
    if (!root || !json_is_object(root)) {
        char ex[80];
        excerpt(s, n, ex, sizeof ex);
        dec_fail(d, LIR_ROUTE_FAILURE_PROTOCOL, LIR_EFORMAT, "malformed JSON in the stream (%s): %s",
                 root ? "not an object" : je.text, ex);
        json_decref(root);
        return;
    }
    json_t *err = json_object_get(root, "error");
    if (err && !json_is_null(err)) {
        const char *m = error_value_message(err);
        dec_fail(d, LIR_ROUTE_FAILURE_BACKEND, LIR_EFORMAT, "server error in the stream: %s",
                 m ? m : "(no message)");
        json_decref(root);
        return;
    }
    if (d->kind == LIR_REMOTE_OPENAI) {
        json_t *choices = json_object_get(root, "choices");
        if (choices && !json_is_array(choices)) {
            dec_fail(d, LIR_ROUTE_FAILURE_PROTOCOL, LIR_EFORMAT, "malformed chunk: \"choices\" is not an array");
            goto out;
        }
        size_t i;
        json_t *c;
        json_array_foreach(choices, i, c) {
            if (!json_is_object(c)) continue;
            json_t *idx = json_object_get(c, "index");
            if (json_is_integer(idx) && json_integer_value(idx) != 0) continue; /* n > 1 is not asked for */
            json_t *t = NULL;
            if (d->op == LIR_ROUTE_CHAT) {
                json_t *delta = json_object_get(c, "delta");
                if (json_is_object(delta)) t = json_object_get(delta, "content");
            } else {
                t = json_object_get(c, "text");
            }
            if (t && !json_is_null(t) && !json_is_string(t)) {
                dec_fail(d, LIR_ROUTE_FAILURE_PROTOCOL, LIR_EFORMAT, "malformed chunk: the text is not a string");
                goto out;
            }
            if (json_is_string(t)) emit_text(d, json_string_value(t), json_string_length(t));
            json_t *fr = json_object_get(c, "finish_reason");
            if (json_is_string(fr)) set_finish(d, json_string_value(fr));
        }
        json_t *usage = json_object_get(root, "usage");
        if (json_is_object(usage)) {
            int32_t p = get_count(usage, "prompt_tokens"), c2 = get_count(usage, "completion_tokens");
            if (p >= 0) d->prompt_tokens = p;
            if (c2 >= 0) d->completion_tokens = c2;
        }
    } else {
        json_t *t = NULL;
        if (d->op == LIR_ROUTE_CHAT) {
            json_t *msg = json_object_get(root, "message");
            if (json_is_object(msg)) t = json_object_get(msg, "content");
        } else {
            t = json_object_get(root, "response");
        }
        if (t && !json_is_null(t) && !json_is_string(t)) {
            dec_fail(d, LIR_ROUTE_FAILURE_PROTOCOL, LIR_EFORMAT, "malformed line: the text is not a string");
            goto out;
        }
        if (json_is_string(t)) emit_text(d, json_string_value(t), json_string_length(t));
        json_t *done = json_object_get(root, "done");
        if (done && !json_is_boolean(done)) {
            dec_fail(d, LIR_ROUTE_FAILURE_PROTOCOL, LIR_EFORMAT, "malformed line: \"done\" is not a boolean");
            goto out;
        }
        if (json_is_true(done) && !d->stopped) {
            json_t *dr = json_object_get(root, "done_reason");
            set_finish(d, json_is_string(dr) ? json_string_value(dr) : "stop");
            int32_t p = get_count(root, "prompt_eval_count"), c2 = get_count(root, "eval_count");
            if (p >= 0) d->prompt_tokens = p;
            if (c2 >= 0) d->completion_tokens = c2;
            d->done = d->stopped = true;
        }
    }
out:
    json_decref(root);
}

/* End of an SSE event (blank line): its data is one JSON chunk or [DONE]. */
static void sse_dispatch(struct lir__decoder *d) {
    if (!d->has_data) { d->event_error = false; return; }
    const char *s = d->data;
    size_t n = d->data_len;
    bool is_error = d->event_error;
    d->has_data = d->event_error = false;
    d->data_len = 0;
    if (is_error) { /* "event: error" */
        char m[LIR_ERR_MAX - 64];
        lir__wire_error_message(s, n, m, sizeof m);
        dec_fail(d, LIR_ROUTE_FAILURE_BACKEND, LIR_EFORMAT, "server error in the stream: %s", m);
        return;
    }
    if (n == 6 && memcmp(s, "[DONE]", 6) == 0) {
        d->done = d->stopped = true;
        return;
    }
    dec_json(d, s, n);
}

static void sse_line(struct lir__decoder *d, const char *s, size_t n) {
    if (n == 0) { sse_dispatch(d); return; }
    if (s[0] == ':') return; /* comment / keep-alive */
    const char *colon = memchr(s, ':', n);
    size_t flen = colon ? (size_t)(colon - s) : n;
    const char *v = colon ? colon + 1 : s + n;
    size_t vlen = (size_t)(s + n - v);
    if (vlen && v[0] == ' ') { v++; vlen--; }
    if (flen == 4 && memcmp(s, "data", 4) == 0) {
        size_t need = d->data_len + (d->has_data ? 1 : 0) + vlen;
        if (need > LIR__ROUTE_LINE_MAX) {
            dec_fail(d, LIR_ROUTE_FAILURE_PROTOCOL, LIR_EFORMAT, "SSE event over %u bytes", LIR__ROUTE_LINE_MAX);
            return;
        }
        if (need + 1 > d->data_cap) {
            size_t cap = d->data_cap ? d->data_cap : 256;
            while (cap < need + 1) cap *= 2;
            char *b = realloc(d->data, cap);
            if (!b) { dec_fail(d, LIR_ROUTE_FAILURE_PROTOCOL, LIR_ENOMEM, "out of memory"); return; }
            d->data = b;
            d->data_cap = cap;
        }
        if (d->has_data) d->data[d->data_len++] = '\n';
        memcpy(d->data + d->data_len, v, vlen);
        d->data_len += vlen;
        d->has_data = true;
    } else if (flen == 5 && memcmp(s, "event", 5) == 0) {
        d->event_error = vlen == 5 && memcmp(v, "error", 5) == 0;
    } else if (flen == 5 && memcmp(s, "error", 5) == 0) {
        /* not SSE, but what some llama.cpp server versions write: "error: {json}" */
        char m[LIR_ERR_MAX - 64];
        lir__wire_error_message(v, vlen, m, sizeof m);
        dec_fail(d, LIR_ROUTE_FAILURE_BACKEND, LIR_EFORMAT, "server error in the stream: %s", m);
    }
    /* id:, retry: and unknown fields are ignored, as SSE says */
}

static void dec_line(struct lir__decoder *d, const char *s, size_t n) {
    if (n && s[n - 1] == '\r') n--;
    if (d->stopped) return;
    if (d->kind == LIR_REMOTE_OPENAI) {
        sse_line(d, s, n);
    } else {
        size_t i = 0;
        while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
        if (i == n) return; /* blank line between objects */
        dec_json(d, s, n);
    }
}

bool lir__decoder_push(struct lir__decoder *d, const char *data, size_t n) {
    struct lir__lines *L = &d->lines;
    while (n > 0 && !d->stopped) {
        const char *nl = memchr(data, '\n', n);
        if (!nl) {
            if (L->len + n > LIR__ROUTE_LINE_MAX) {
                dec_fail(d, LIR_ROUTE_FAILURE_PROTOCOL, LIR_EFORMAT, "stream line over %u bytes",
                         LIR__ROUTE_LINE_MAX);
                break;
            }
            if (!lines_append(L, data, n)) dec_fail(d, LIR_ROUTE_FAILURE_PROTOCOL, LIR_ENOMEM, "out of memory");
            break;
        }
        size_t k = (size_t)(nl - data);
        if (L->len == 0) {
            dec_line(d, data, k); /* the whole line is in this chunk: no copy */
        } else {
            if (L->len + k > LIR__ROUTE_LINE_MAX) {
                dec_fail(d, LIR_ROUTE_FAILURE_PROTOCOL, LIR_EFORMAT, "stream line over %u bytes",
                         LIR__ROUTE_LINE_MAX);
                break;
            }
            if (!lines_append(L, data, k)) {
                dec_fail(d, LIR_ROUTE_FAILURE_PROTOCOL, LIR_ENOMEM, "out of memory");
                break;
            }
            size_t full = L->len;
            L->len = 0; /* reset before decoding: the buffer stays valid until the next append */
            dec_line(d, L->buf, full);
        }
        data += k + 1;
        n -= k + 1;
    }
    return !d->stopped;
}

void lir__decoder_finish(struct lir__decoder *d) {
    if (!d->stopped && d->lines.len > 0) {
        size_t n = d->lines.len;
        d->lines.len = 0;
        dec_line(d, d->lines.buf, n);
    }
    if (!d->stopped && d->kind == LIR_REMOTE_OPENAI) sse_dispatch(d); /* an event without its blank line */
    if (!d->stopped)
        dec_fail(d, LIR_ROUTE_FAILURE_TRUNCATED, LIR_EFORMAT, "stream ended early (no %s)",
                 d->kind == LIR_REMOTE_OPENAI ? "data: [DONE]" : "\"done\": true");
}

/* ================================================================ request bodies */

const char *lir__wire_path(enum lir_remote_kind kind, enum lir_route_op op) {
    if (kind == LIR_REMOTE_OLLAMA)
        return op == LIR_ROUTE_CHAT ? "/api/chat" : op == LIR_ROUTE_EMBED ? "/api/embed" : "/api/generate";
    return op == LIR_ROUTE_CHAT ? "/v1/chat/completions" : op == LIR_ROUTE_EMBED ? "/v1/embeddings" : "/v1/completions";
}

/* Sets obj[key] = v (stealing v); false when v is NULL (jansson refuses NaN/inf) or no memory. */
static bool put(json_t *obj, const char *key, json_t *v) { return v && json_object_set_new(obj, key, v) == 0; }

static bool put_real(json_t *obj, const char *key, float f, lir_err *e, enum lir_status *st) {
    if (!isfinite(f)) {
        *st = lir__errf(e, LIR_EINVAL, "lir_router_run: sampling %s is not a finite number", key);
        return false;
    }
    /* through the shortest decimal of the float, so 0.7f goes out as 0.7, not 0.69999998807907104 */
    char buf[32] = "0";
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if (strtof(buf, NULL) == f) break;
    }
    if (!put(obj, key, json_real(strtod(buf, NULL)))) {
        *st = lir__errf(e, LIR_ENOMEM, "lir_router_run: out of memory");
        return false;
    }
    return true;
}

/* Sampling parameters into obj (the OpenAI body, or Ollama's "options"), as the table in lir.h. */
static enum lir_status put_sampling(json_t *obj, enum lir_remote_kind kind, const struct lir_sampling_params *p,
                                    bool ext, lir_err *e) {
    enum lir_status st = LIR_OK;
    const bool ol = kind == LIR_REMOTE_OLLAMA;
    const bool more = ol || ext; /* fields OpenAI lacks */
#define REAL(key, val) do { if (!put_real(obj, key, (val), e, &st)) return st; } while (0)
#define INT(key, val) do { if (!put(obj, key, json_integer(val))) goto nomem; } while (0)
    if (p->max_tokens > 0) INT(ol ? "num_predict" : "max_tokens", p->max_tokens);
    REAL("temperature", p->temperature);
    REAL("top_p", p->top_p);
    if (more && p->top_k > 0) INT("top_k", p->top_k);
    if (more && p->min_p != 0.0f) REAL("min_p", p->min_p);
    if (more && p->typical_p != 1.0f) REAL("typical_p", p->typical_p);
    if (more && p->repeat_penalty != 1.0f) REAL("repeat_penalty", p->repeat_penalty);
    bool penalties = p->repeat_penalty != 1.0f || p->frequency_penalty != 0.0f || p->presence_penalty != 0.0f;
    if (more && penalties) INT("repeat_last_n", p->repeat_last_n);
    if (p->frequency_penalty != 0.0f) REAL("frequency_penalty", p->frequency_penalty);
    if (p->presence_penalty != 0.0f) REAL("presence_penalty", p->presence_penalty);
    if (more && p->mirostat != 0) {
        INT("mirostat", p->mirostat);
        REAL("mirostat_tau", p->mirostat_tau);
        REAL("mirostat_eta", p->mirostat_eta);
    }
    if (p->seed != LIR_SEED_RANDOM) {
        if (p->seed > (uint64_t)INT64_MAX)
            return lir__errf(e, LIR_EINVAL, "lir_router_run: seed %llu is over 2^63-1, which JSON servers read",
                             (unsigned long long)p->seed);
        INT("seed", (json_int_t)p->seed);
    }
    if (p->n_stop > 0) {
        if (!p->stop) return lir__errf(e, LIR_EINVAL, "lir_router_run: stop is NULL with n_stop %d", p->n_stop);
        json_t *a = json_array();
        if (!put(obj, "stop", a)) goto nomem;
        for (int32_t i = 0; i < p->n_stop; i++) {
            if (!p->stop[i]) return lir__errf(e, LIR_EINVAL, "lir_router_run: stop[%d] is NULL", i);
            if (json_array_append_new(a, json_stringn(p->stop[i], strlen(p->stop[i]))) != 0)
                return lir__errf(e, LIR_EINVAL, "lir_router_run: stop[%d] is not UTF-8", i);
        }
    }
    if (!ol && p->n_logit_bias > 0) {
        if (!p->logit_bias)
            return lir__errf(e, LIR_EINVAL, "lir_router_run: logit_bias is NULL with n_logit_bias %d", p->n_logit_bias);
        json_t *b = json_object();
        if (!put(obj, "logit_bias", b)) goto nomem;
        for (int32_t i = 0; i < p->n_logit_bias; i++) {
            char key[16];
            snprintf(key, sizeof key, "%d", (int)p->logit_bias[i].token);
            float v = p->logit_bias[i].bias;
            if (isinf(v) && v < 0) v = -100.0f; /* OpenAI's ban */
            if (!put_real(b, key, v, e, &st)) return st;
        }
    }
    return LIR_OK;
#undef REAL
#undef INT
nomem:
    return lir__errf(e, LIR_ENOMEM, "lir_router_run: out of memory");
}

enum lir_status lir__wire_body(enum lir_remote_kind kind, const struct lir_route_request *req, const char *model,
                               bool openai_extensions, const char *extra_json, char **out, lir_err *e) {
    *out = NULL;
    enum lir_status st = LIR_OK;
    json_t *body = json_object(), *tmp = NULL;
    if (!body) return lir__errf(e, LIR_ENOMEM, "lir_router_run: out of memory");
    if (!put(body, "model", json_string(model))) {
        st = lir__errf(e, LIR_EINVAL, "lir_router_run: model name is not UTF-8");
        goto done;
    }
    switch (req->op) {
    case LIR_ROUTE_GENERATE:
        if (!put(body, "prompt", json_string(req->prompt))) {
            st = lir__errf(e, LIR_EINVAL, "lir_router_run: prompt is not UTF-8");
            goto done;
        }
        break;
    case LIR_ROUTE_CHAT: {
        json_error_t je;
        json_t *m = json_loads(req->messages_json, 0, &je);
        if (!json_is_array(m)) {
            st = lir__errf(e, LIR_EINVAL, "lir_router_run: messages_json is not a JSON array%s%s",
                           m ? "" : ": ", m ? "" : je.text);
            json_decref(m);
            goto done;
        }
        json_object_set_new(body, "messages", m);
        break;
    }
    case LIR_ROUTE_EMBED: {
        json_t *a = json_array();
        if (!put(body, "input", a)) goto nomem;
        for (int32_t i = 0; i < req->n_texts; i++) {
            if (json_array_append_new(a, json_string(req->texts[i])) != 0) {
                st = lir__errf(e, LIR_EINVAL, "lir_router_run: texts[%d] is not UTF-8", i);
                goto done;
            }
        }
        if (kind == LIR_REMOTE_OPENAI && !put(body, "encoding_format", json_string("float"))) goto nomem;
        break;
    }
    default:
        st = lir__errf(e, LIR_EINVAL, "lir_router_run: unknown op %d", (int)req->op);
        goto done;
    }
    if (req->op != LIR_ROUTE_EMBED) {
        if (!put(body, "stream", json_true())) goto nomem;
        if (kind == LIR_REMOTE_OLLAMA && req->op == LIR_ROUTE_GENERATE && !put(body, "raw", json_true())) goto nomem;
        if (kind == LIR_REMOTE_OPENAI) {
            json_t *so = json_pack("{s:b}", "include_usage", 1);
            if (!put(body, "stream_options", so)) goto nomem;
        }
        if (req->sampling) {
            json_t *dst = body;
            if (kind == LIR_REMOTE_OLLAMA) {
                dst = json_object();
                if (!put(body, "options", dst)) goto nomem;
            }
            if ((st = put_sampling(dst, kind, req->sampling, openai_extensions, e)) != LIR_OK) goto done;
        }
    }
    if (extra_json) {
        json_error_t je;
        tmp = json_loads(extra_json, 0, &je);
        if (!json_is_object(tmp)) {
            st = lir__errf(e, LIR_EINVAL, "extra_body_json is not a JSON object");
            goto done;
        }
        if (json_object_update_recursive(body, tmp) != 0) goto nomem;
    }
    /* 15 significant digits: every float's shortest decimal comes out as written ("temperature":0.7,
     * not 0.69999999999999996); a double in messages/extra keeps 15 digits */
    *out = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    if (!*out) goto nomem;
done:
    json_decref(tmp);
    json_decref(body);
    return st;
nomem:
    st = lir__errf(e, LIR_ENOMEM, "lir_router_run: out of memory");
    goto done;
}

/* ================================================================ embeddings */

static enum lir_status put_vector(json_t *v, int32_t i, float *out, int32_t *dim, lir_err *e) {
    if (!json_is_array(v) || json_array_size(v) == 0)
        return lir__errf(e, LIR_EFORMAT, "embeddings response: embedding %d is not a non-empty array", i);
    size_t n = json_array_size(v);
    if (*dim == 0) {
        if (n > INT32_MAX) return lir__errf(e, LIR_EFORMAT, "embeddings response: embedding %d too long", i);
        *dim = (int32_t)n;
    }
    if (n != (size_t)*dim)
        return lir__errf(e, LIR_EFORMAT, "embeddings response: embedding %d has %zu values, the first %d", i, n,
                         *dim);
    for (size_t j = 0; j < n; j++) {
        json_t *x = json_array_get(v, j);
        if (!json_is_number(x))
            return lir__errf(e, LIR_EFORMAT, "embeddings response: embedding %d value %zu is not a number", i, j);
        out[j] = (float)json_number_value(x);
    }
    return LIR_OK;
}

enum lir_status lir__wire_embeddings(enum lir_remote_kind kind, const char *body, size_t len, int32_t n,
                                     float **out, int32_t *dim, int32_t *prompt_tokens, lir_err *e) {
    *out = NULL;
    *dim = 0;
    *prompt_tokens = -1;
    json_error_t je;
    json_t *root = json_loadb(body, len, 0, &je);
    enum lir_status st = LIR_OK;
    float *vec = NULL;
    if (!json_is_object(root)) {
        st = lir__errf(e, LIR_EFORMAT, "embeddings response: %s", root ? "not a JSON object" : je.text);
        goto done;
    }
    /* the vectors, as an array of n arrays in input order */
    json_t *list = NULL, *owned = NULL;
    if (kind == LIR_REMOTE_OLLAMA) {
        list = json_object_get(root, "embeddings");
        *prompt_tokens = get_count(root, "prompt_eval_count");
    } else {
        json_t *data = json_object_get(root, "data");
        if (!json_is_array(data)) {
            st = lir__errf(e, LIR_EFORMAT, "embeddings response: no \"data\" array");
            goto done;
        }
        owned = list = json_array();
        if (!list) { st = lir__errf(e, LIR_ENOMEM, "out of memory"); goto done; }
        for (int32_t i = 0; i < n; i++) json_array_append(list, json_null());
        size_t i;
        json_t *item;
        json_array_foreach(data, i, item) {
            json_t *ix = json_object_get(item, "index");
            size_t at = json_is_integer(ix) ? (size_t)json_integer_value(ix) : i;
            if (json_is_integer(ix) && (json_integer_value(ix) < 0 || json_integer_value(ix) >= n)) at = (size_t)n;
            if (at >= (size_t)n || !json_is_null(json_array_get(list, at))) {
                json_decref(owned);
                st = lir__errf(e, LIR_EFORMAT, "embeddings response: item %zu has a bad or repeated index", i);
                goto done;
            }
            json_array_set(list, at, json_object_get(item, "embedding"));
        }
        json_t *usage = json_object_get(root, "usage");
        if (json_is_object(usage)) *prompt_tokens = get_count(usage, "prompt_tokens");
    }
    if (!json_is_array(list) || json_array_size(list) != (size_t)n) {
        st = lir__errf(e, LIR_EFORMAT, "embeddings response: %zu embeddings for %d texts",
                       json_is_array(list) ? json_array_size(list) : 0, n);
        json_decref(owned);
        goto done;
    }
    for (int32_t i = 0; i < n; i++) {
        json_t *v = json_array_get(list, (size_t)i);
        if (i == 0) {
            if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > (1u << 20)) {
                st = lir__errf(e, LIR_EFORMAT, "embeddings response: embedding 0 is not an array of 1..2^20 values");
                break;
            }
            vec = malloc((size_t)n * json_array_size(v) * sizeof *vec);
            if (!vec) { st = lir__errf(e, LIR_ENOMEM, "out of memory"); break; }
        }
        if ((st = put_vector(v, i, vec + (size_t)i * (size_t)(*dim ? *dim : 0), dim, e)) != LIR_OK) break;
    }
    json_decref(owned);
    if (st == LIR_OK) { *out = vec; vec = NULL; }
done:
    free(vec);
    json_decref(root);
    if (st != LIR_OK) *dim = 0;
    return st;
}

/* ================================================================ error bodies */

void lir__wire_error_message(const char *body, size_t len, char *out, size_t cap) {
    if (cap == 0) return;
    out[0] = 0;
    json_t *root = json_loadb(body, len, 0, NULL);
    const char *m = NULL;
    if (json_is_object(root)) {
        m = error_value_message(json_object_get(root, "error"));
        if (!m) {
            json_t *mm = json_object_get(root, "message");
            if (json_is_string(mm)) m = json_string_value(mm);
        }
    }
    if (m) {
        snprintf(out, cap, "%s", m);
    } else {
        size_t k = 0;
        while (len && (body[0] == ' ' || body[0] == '\n' || body[0] == '\r' || body[0] == '\t')) body++, len--;
        for (size_t i = 0; i < len && k + 1 < cap; i++) out[k++] = (unsigned char)body[i] < 0x20 ? ' ' : body[i];
        while (k && out[k - 1] == ' ') k--;
        out[k] = 0;
        if (k == 0) snprintf(out, cap, "(empty body)");
    }
    json_decref(root);
}
