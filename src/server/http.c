/* http.c — the HTTP side of `lir serve`: the libmicrohttpd daemon (one thread per connection),
 * request bodies under a size limit, JSON depth check, API-key check (constant time), CORS
 * allow-list, routing to the API files, error bodies in each API's shape, the bounded queue of
 * generation requests, and the generation stream: a thread runs lir_runtime_generate_stream, its
 * chunk callback formats bytes into a buffer that the connection's thread sends (SSE/NDJSON) —
 * or, not streaming, the whole answer when it ends. A client that goes away (seen on the socket
 * while waiting, or when a write fails) cancels the generation at its next token; so does the
 * per-request timeout. */
#include "server/server.h"
#include "server/static.h"
#include "util/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

struct lir__server {
    struct lir__server_params p;
    char host[256];
    char *api_key;                /* owned; NULL = none */
    char *cors[LIR_SERVER_MAX_CORS]; /* owned */
    struct MHD_Daemon *d;
    int32_t port;
    atomic_bool stopping;
    pthread_mutex_t mu;           /* guards inflight */
    int32_t inflight;
    struct lir__metrics *metrics;
};

struct lir__server_params lir__server_params_default(void) {
    struct lir__server_params p;
    memset(&p, 0, sizeof p);
    p.host = "127.0.0.1";
    p.port = LIR_SERVER_DEFAULT_PORT;
    p.max_body = 8u << 20;
    p.max_json_depth = 64;
    p.max_queue = 256;
    p.timeout_s = 600;
    p.idle_timeout_s = 30;
    p.max_connections = 1024;
    return p;
}

lir_runtime *srv_runtime(lir__server *s) { return s->p.rt; }
bool srv_stopping(lir__server *s) { return atomic_load(&s->stopping); }
struct lir__metrics *srv_metrics(lir__server *s) { return s->metrics; }

static void logf_(lir__server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(lir__server *s, const char *fmt, ...) {
    if (!s->p.log) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    s->p.log(s->p.log_user, line);
}

/* ---------------------------------------------------------------- queue */

bool srv_admit(lir__server *s) {
    pthread_mutex_lock(&s->mu);
    bool ok = s->inflight < s->p.max_queue;
    if (ok) s->inflight++;
    pthread_mutex_unlock(&s->mu);
    return ok;
}

void srv_leave(lir__server *s) {
    pthread_mutex_lock(&s->mu);
    s->inflight--;
    pthread_mutex_unlock(&s->mu);
}

int32_t srv_inflight(lir__server *s) {
    pthread_mutex_lock(&s->mu);
    int32_t n = s->inflight;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* ---------------------------------------------------------------- errors and fields */

int srv_http_status(enum lir_status s) {
    switch (s) {
    case LIR_OK: return 200;
    case LIR_EINVAL: case LIR_ERANGE: case LIR_ECONTEXT: case LIR_EUNSUPPORTED: return 400;
    case LIR_ENOTFOUND: return 404;
    case LIR_ETIER: case LIR_ELICENCE: return 403;
    case LIR_ENOMEM: case LIR_EBUSY: return 503;
    case LIR_ETIMEDOUT: return 504;
    case LIR_ECANCELLED: return 499;
    default: return 500;
    }
}

static const char *openai_type(int status) {
    if (status == 401) return "authentication_error";
    if (status == 403) return "permission_error";
    if (status == 404) return "not_found_error";
    if (status == 429 || status == 503) return "server_overloaded";
    if (status >= 500) return "server_error";
    return "invalid_request_error";
}

int srv_error(struct srv_resp *r, enum api_kind api, int status, const char *code, const char *param,
              const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_decref(r->json);
    r->status = status;
    if (api == API_OLLAMA) {
        r->json = json_pack("{ss}", "error", msg);
    } else {
        json_t *e = json_pack("{ss ss}", "message", msg, "type", openai_type(status));
        json_object_set_new(e, "param", param ? json_string(param) : json_null());
        json_object_set_new(e, "code", code ? json_string(code) : json_null());
        r->json = json_pack("{so}", "error", e);
    }
    return status;
}

json_t *srv_body_object(struct srv_req *q, struct srv_resp *r) {
    json_error_t je;
    json_t *j = json_loadb(q->body, q->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        srv_error(r, q->api, 400, "invalid_json", NULL, "request body is not valid JSON: %s (line %d, column %d)",
                  je.text, je.line, je.column);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        srv_error(r, q->api, 400, "invalid_json", NULL, "request body must be a JSON object");
        return NULL;
    }
    return j;
}

static bool wrong(struct srv_resp *r, enum api_kind api, bool *bad, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static bool wrong(struct srv_resp *r, enum api_kind api, bool *bad, const char *key, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    srv_error(r, api, 400, "invalid_value", key, "%s: %s", key, msg);
    *bad = true;
    return false;
}

bool srv_get_str(json_t *o, const char *key, const char **out, struct srv_resp *r, enum api_kind api, bool *bad) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return false;
    if (!json_is_string(v)) return wrong(r, api, bad, key, "must be a string");
    if (strlen(json_string_value(v)) != json_string_length(v)) return wrong(r, api, bad, key, "must not contain NUL");
    *out = json_string_value(v);
    return true;
}

bool srv_get_bool(json_t *o, const char *key, bool *out, struct srv_resp *r, enum api_kind api, bool *bad) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return false;
    if (!json_is_boolean(v)) return wrong(r, api, bad, key, "must be true or false");
    *out = json_is_true(v);
    return true;
}

bool srv_get_int(json_t *o, const char *key, int64_t lo, int64_t hi, int64_t *out, struct srv_resp *r,
                 enum api_kind api, bool *bad) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return false;
    int64_t x;
    if (json_is_integer(v)) {
        x = (int64_t)json_integer_value(v);
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= (double)lo && d <= (double)hi) || d != (double)(int64_t)d)
            return wrong(r, api, bad, key, "%g is not an integer in [%lld, %lld]", d, (long long)lo, (long long)hi);
        x = (int64_t)d;
    } else {
        return wrong(r, api, bad, key, "must be an integer");
    }
    if (x < lo || x > hi) return wrong(r, api, bad, key, "%lld is outside [%lld, %lld]", (long long)x, (long long)lo, (long long)hi);
    *out = x;
    return true;
}

bool srv_get_num(json_t *o, const char *key, double lo, double hi, double *out, struct srv_resp *r,
                 enum api_kind api, bool *bad) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return false;
    if (!json_is_number(v)) return wrong(r, api, bad, key, "must be a number");
    double d = json_number_value(v);
    if (!(d >= lo && d <= hi)) return wrong(r, api, bad, key, "%g is outside [%g, %g]", d, lo, hi);
    *out = d;
    return true;
}

/* The sampling fields OpenAI and Ollama spell alike (Ollama inside "options"), each into the
 * matching lir_sampling_params field; ranges are the library's (lir_sampling_params_validate
 * names a bad value later), here only the JSON types. seed < 0 = random, as llama.cpp. */
bool srv_get_sampling(json_t *o, struct lir_sampling_params *sp, struct srv_resp *r, enum api_kind api, bool *bad) {
    static const struct { const char *key; size_t off; } nums[] = {
        { "temperature", offsetof(struct lir_sampling_params, temperature) },
        { "top_p", offsetof(struct lir_sampling_params, top_p) },
        { "min_p", offsetof(struct lir_sampling_params, min_p) },
        { "typical_p", offsetof(struct lir_sampling_params, typical_p) },
        { "repeat_penalty", offsetof(struct lir_sampling_params, repeat_penalty) },
        { "frequency_penalty", offsetof(struct lir_sampling_params, frequency_penalty) },
        { "presence_penalty", offsetof(struct lir_sampling_params, presence_penalty) },
        { "mirostat_tau", offsetof(struct lir_sampling_params, mirostat_tau) },
        { "mirostat_eta", offsetof(struct lir_sampling_params, mirostat_eta) },
    };
    static const struct { const char *key; size_t off; } ints[] = {
        { "top_k", offsetof(struct lir_sampling_params, top_k) },
        { "repeat_last_n", offsetof(struct lir_sampling_params, repeat_last_n) },
        { "mirostat", offsetof(struct lir_sampling_params, mirostat) },
    };
    double d;
    int64_t i;
    for (size_t k = 0; k < sizeof nums / sizeof nums[0] && !*bad; k++)
        if (srv_get_num(o, nums[k].key, -1e9, 1e9, &d, r, api, bad)) *(float *)((char *)sp + nums[k].off) = (float)d;
    for (size_t k = 0; k < sizeof ints / sizeof ints[0] && !*bad; k++)
        if (srv_get_int(o, ints[k].key, INT32_MIN, INT32_MAX, &i, r, api, bad))
            *(int32_t *)((char *)sp + ints[k].off) = (int32_t)i;
    if (!*bad && srv_get_int(o, "seed", INT64_MIN, INT64_MAX, &i, r, api, bad))
        sp->seed = i < 0 ? LIR_SEED_RANDOM : (uint64_t)i;
    return !*bad;
}

/* ---------------------------------------------------------------- models */

static bool name_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 200 || s[0] == '/' || s[0] == '.' || s[n - 1] == '/') return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '_' || c == '-' || c == '/' || c == ':' || c == '+' || c == '@';
        if (!ok) return false;
        if (c == '/' && (s[i + 1] == '.' || s[i + 1] == '/')) return false; /* no "/..", "//", "/." segments */
    }
    return !strstr(s, "..");
}

int srv_resolve_model(lir__server *s, const char *name, char *out, char *display, struct srv_resp *r,
                      enum api_kind api) {
    if (!name || !name[0])
        return srv_error(r, api, 400, "model_required", "model", "model: a model name is required");
    if (!name_ok(name))
        return srv_error(r, api, 400, "invalid_model", "model",
                         "model: '%.200s' is not a valid model name (letters, digits, . _ - + @ : and / between "
                         "folder names; no paths)", name);
    char want[256];
    snprintf(want, sizeof want, "%s", name);
    size_t n = strlen(want);
    if (n > 7 && !strcmp(want + n - 7, ":latest")) want[n - 7] = 0;
    struct lir_loaded_model *lm = NULL;
    int32_t nl = 0;
    if (!lir_runtime_list_loaded(s->p.rt, &lm, &nl)) {
        for (int32_t i = 0; i < nl; i++)
            if (!strcmp(lm[i].id, want) || !strcmp(lm[i].model.name, want) || !strcmp(lm[i].model.id, want)) {
                bool by_id = !strcmp(lm[i].id, want);
                snprintf(out, 256, "%s", by_id ? lm[i].id : lm[i].model.name);
                if (display) snprintf(display, 256, "%s", lm[i].model.name);
                lir_runtime_free(lm);
                return 0;
            }
        lir_runtime_free(lm);
    }
    struct lir_installed_model *im = NULL;
    int32_t ni = 0;
    if (!lir_runtime_list_installed(s->p.rt, &im, &ni)) {
        for (int32_t i = 0; i < ni; i++)
            if (!strcmp(im[i].name, want) || !strcmp(im[i].id, want)) {
                snprintf(out, 256, "%s", im[i].name);
                if (display) snprintf(display, 256, "%s", im[i].name);
                lir_runtime_free(im);
                return 0;
            }
        lir_runtime_free(im);
    }
    return srv_error(r, api, 404, "model_not_found", "model", "model '%.200s' not found", name);
}

/* ---------------------------------------------------------------- generation streams */

bool srv_client_gone(int fd) {
    if (fd < 0) return false;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static void deadline_in(struct timespec *ts, long ms) {
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_nsec += (ms % 1000) * 1000000L;
    ts->tv_sec += ms / 1000 + ts->tv_nsec / 1000000000L;
    ts->tv_nsec %= 1000000000L;
}

struct srv_stream *srv_stream_new(struct srv_req *q, json_t *body) {
    struct srv_stream *st = calloc(1, sizeof *st);
    if (!st) {
        json_decref(body);
        return NULL;
    }
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    st->srv = q->srv;
    st->body = body;
    st->req = lir_generate_request_default();
    st->t0_ns = q->t0_ns;
    st->client_fd = q->client_fd;
    st->last_index = -1;
    return st;
}

static void stream_unref(struct srv_stream *st) {
    pthread_mutex_lock(&st->mu);
    int left = --st->refs;
    pthread_mutex_unlock(&st->mu);
    if (left > 0) return;
    if (st->fmt && st->fmt->free) st->fmt->free(st->fmt_user);
    lir_generate_result_clear(&st->result);
    json_decref(st->body);
    free(st->messages);
    free(st->stop);
    free(st->bias);
    free(st->schema);
    free(st->buf);
    pthread_cond_destroy(&st->cv);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

void srv_stream_discard(struct srv_stream *st) {
    if (!st) return;
    st->refs = 1;
    stream_unref(st);
}

void srv_stream_put(struct srv_stream *st, const char *s, size_t n) {
    if (st->len + n > st->cap) {
        size_t cap = st->cap ? st->cap : 1024;
        while (cap < st->len + n) cap *= 2;
        char *b = realloc(st->buf, cap);
        if (!b) return; /* out of memory: the bytes are dropped; the stream goes on */
        st->buf = b;
        st->cap = cap;
    }
    memcpy(st->buf + st->len, s, n);
    st->len += n;
}

void srv_stream_sse(struct srv_stream *st, json_t *j) {
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s) return;
    srv_stream_put(st, "data: ", 6);
    srv_stream_put(st, s, strlen(s));
    srv_stream_put(st, "\n\n", 2);
    free(s);
}

void srv_stream_ndjson(struct srv_stream *st, json_t *j) {
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s) return;
    srv_stream_put(st, s, strlen(s));
    srv_stream_put(st, "\n", 1);
    free(s);
}

static int on_chunk(const struct lir_generate_chunk *c, void *u) {
    struct srv_stream *st = u;
    uint64_t now = lir__now_ns();
    pthread_mutex_lock(&st->mu);
    if (st->cancelled || atomic_load(&st->srv->stopping)) {
        st->cancelled = true;
        pthread_mutex_unlock(&st->mu);
        return 1;
    }
    if (now > st->deadline_ns) {
        st->timed_out = true;
        pthread_mutex_unlock(&st->mu);
        return 1;
    }
    if (c->token_index != st->last_index && !c->is_complete) {
        if (st->last_index >= 0) lir__metrics_itl(st->srv->metrics, (double)(now - st->last_tok_ns) / 1e9);
        st->last_index = c->token_index;
        st->last_tok_ns = now;
    }
    if (st->streaming && st->fmt->chunk) st->fmt->chunk(st, c);
    st->started = true;
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
    return 0;
}

static void *gen_thread(void *arg) {
    struct srv_stream *st = arg;
    lir__server *srv = st->srv;
    struct lir_generate_result res;
    memset(&res, 0, sizeof res);
    char err[512] = "";
    enum lir_status s = lir_runtime_generate_stream(srv->p.rt, &st->req, on_chunk, st, &res, err, sizeof err);
    if (s == LIR_OK) lir__metrics_generation(srv->metrics, &res);
    else if (s == LIR_ECANCELLED) lir__metrics_cancel(srv->metrics);
    int timeout_s = srv->p.timeout_s;
    /* leave before the client can see the end and send its next request; srv may be freed
     * (lir__server_stop) once every generation has left, so it is not used after this */
    srv_leave(srv);
    pthread_mutex_lock(&st->mu);
    st->status = s;
    snprintf(st->err, sizeof st->err, "%s", err);
    st->result = res;
    if ((s == LIR_ECANCELLED && st->timed_out) || s == LIR_ETIMEDOUT)
        snprintf(st->err, sizeof st->err, "the request took longer than the server's timeout of %d s", timeout_s);
    if (st->streaming && !st->cancelled) {
        if (s == LIR_OK) st->fmt->end(st); /* also when no chunk came: the stream still ends properly */
        else if (st->started && st->fmt->fail) st->fmt->fail(st);
    }
    st->done = true;
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
    stream_unref(st);
    return NULL;
}

int srv_stream_run(struct srv_req *q, struct srv_stream *st, struct srv_resp *r) {
    lir__server *s = q->srv;
    if (!srv_admit(s)) {
        st->refs = 1;
        stream_unref(st);
        r->retry_after = 1;
        return srv_error(r, q->api, 503, "queue_full", NULL,
                         "the server is busy: %d requests are in flight (the queue's limit); retry later",
                         s->p.max_queue);
    }
    st->refs = 2;
    st->deadline_ns = st->t0_ns + (uint64_t)s->p.timeout_s * 1000000000ull;
    uint64_t now = lir__now_ns();
    /* the runtime ends the request itself when it is still queued or running at the deadline */
    st->req.timeout_ms = now < st->deadline_ns ? (int64_t)((st->deadline_ns - now) / 1000000) + 1 : 1;
    pthread_t th;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&th, &at, gen_thread, st);
    pthread_attr_destroy(&at);
    if (rc) {
        srv_leave(s);
        st->refs = 1;
        stream_unref(st);
        return srv_error(r, q->api, 500, "internal_error", NULL, "cannot start a generation thread");
    }
    pthread_mutex_lock(&st->mu);
    while (!st->done && !(st->streaming && st->started)) {
        struct timespec ts;
        deadline_in(&ts, 50);
        pthread_cond_timedwait(&st->cv, &st->mu, &ts);
        if (st->done || (st->streaming && st->started)) break;
        if (lir__now_ns() > st->deadline_ns) { st->timed_out = st->cancelled = true; break; }
        if (atomic_load(&s->stopping) || srv_client_gone(st->client_fd)) { st->cancelled = true; break; }
    }
    if (st->streaming && (st->started || (st->done && st->status == LIR_OK))) {
        /* 200 and the stream; the response's free releases st */
        pthread_mutex_unlock(&st->mu);
        r->status = 200;
        r->stream = st;
        r->content_type = st->content_type;
        return 200;
    }
    int status;
    if (!st->done) {
        if (st->timed_out)
            status = srv_error(r, q->api, 504, "timeout", NULL,
                               "the request took longer than the server's timeout of %d s", s->p.timeout_s);
        else
            status = srv_error(r, q->api, 499, "client_closed", NULL, "the client closed the connection");
    } else if (st->status == LIR_OK) {
        r->json = st->fmt->whole(st);
        status = r->status = r->json ? 200 : 500;
        if (!r->json) srv_error(r, q->api, 500, "internal_error", NULL, "out of memory");
    } else if (st->timed_out || st->status == LIR_ETIMEDOUT) {
        status = srv_error(r, q->api, 504, "timeout", NULL,
                           "the request took longer than the server's timeout of %d s", s->p.timeout_s);
    } else if (st->status == LIR_EBUSY) {
        r->retry_after = 1;
        status = srv_error(r, q->api, 503, "queue_full", NULL, "%s", st->err);
    } else {
        const char *code = st->status == LIR_ENOTFOUND ? "model_not_found"
                         : st->status == LIR_ECONTEXT ? "context_length_exceeded" : lir_status_name(st->status);
        status = srv_error(r, q->api, srv_http_status(st->status), code, NULL, "%s", st->err);
    }
    pthread_mutex_unlock(&st->mu);
    stream_unref(st);
    return status;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    struct srv_stream *st = cls;
    pthread_mutex_lock(&st->mu);
    for (;;) {
        if (st->off < st->len) {
            size_t n = st->len - st->off < max ? st->len - st->off : max;
            memcpy(buf, st->buf + st->off, n);
            st->off += n;
            if (st->off == st->len) st->off = st->len = 0;
            pthread_mutex_unlock(&st->mu);
            return (ssize_t)n;
        }
        if (st->done) {
            pthread_mutex_unlock(&st->mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        if (atomic_load(&st->srv->stopping) || srv_client_gone(st->client_fd)) {
            st->cancelled = true;
            pthread_mutex_unlock(&st->mu);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        struct timespec ts;
        deadline_in(&ts, 50);
        pthread_cond_timedwait(&st->cv, &st->mu, &ts);
    }
}

static void stream_free(void *cls) {
    struct srv_stream *st = cls;
    pthread_mutex_lock(&st->mu);
    if (!st->done) st->cancelled = true; /* the client went away or the write failed */
    pthread_mutex_unlock(&st->mu);
    stream_unref(st);
}

/* ---------------------------------------------------------------- connections */

struct conn {
    char *body;
    size_t len, cap, seen;
    bool rejected, too_big;
    int status;
    uint64_t t0_ns;
    enum api_kind api;
    char api_name[8];
    char what[200];               /* "METHOD /path" for the log */
};

#define DISCARD_MAX ((size_t)64 << 20) /* bodies over the limit are read and dropped up to this */

static enum MHD_Result send_resp(lir__server *s, struct MHD_Connection *c, struct conn *cs, struct srv_resp *r);

static enum MHD_Result reject_big(lir__server *s, struct MHD_Connection *c, struct conn *cs) {
    struct srv_resp r = { 0 };
    srv_error(&r, cs->api, 413, "body_too_large", NULL, "request body over the server's limit of %zu bytes",
              s->p.max_body);
    cs->rejected = true;
    free(cs->body);
    cs->body = NULL;
    return send_resp(s, c, cs, &r);
}

static enum api_kind api_of(const char *path) {
    if (!strncmp(path, "/api/", 5)) return API_OLLAMA;
    if (!strncmp(path, "/v1/", 4)) return API_OPENAI;
    return API_LIR;
}

static const char *cors_allowed(lir__server *s, const char *origin) {
    if (!origin) return NULL;
    for (int32_t i = 0; i < s->p.n_cors; i++)
        if (!strcmp(s->cors[i], "*") || !strcmp(s->cors[i], origin)) return origin;
    return NULL;
}

static enum MHD_Result send_resp(lir__server *s, struct MHD_Connection *c, struct conn *cs, struct srv_resp *r) {
    struct MHD_Response *resp;
    if (r->read) {
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, r->read,
                                                 r->read_cls, r->read_free);
        if (!resp) {
            r->read_free(r->read_cls);
            return MHD_NO;
        }
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    } else if (r->stream) {
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, r->stream, stream_free);
        if (!resp) {
            stream_free(r->stream);
            return MHD_NO;
        }
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    } else {
        char *text = r->text ? r->text : r->json ? json_dumps(r->json, JSON_COMPACT) : strdup("{}");
        r->text = NULL;
        json_decref(r->json);
        r->json = NULL;
        if (!text) return MHD_NO;
        size_t n = strlen(text);
        text[n] = 0;
        resp = MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
            free(text);
            return MHD_NO;
        }
    }
    MHD_add_response_header(resp, "Content-Type", r->content_type ? r->content_type : "application/json");
    if (r->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", r->retry_after);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    const char *origin = cors_allowed(s, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin"));
    if (origin) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header(resp, "Vary", "Origin");
    }
    cs->status = r->status;
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* Deepest nesting of arrays/objects in a JSON text (strings skipped); stops past limit. */
static int json_depth(const char *p, size_t n, int limit) {
    int d = 0, max = 0;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            if (++d > max) max = d;
            if (max > limit) return max;
        } else if (c == ']' || c == '}') {
            d--;
        }
    }
    return max;
}

static bool key_ok(lir__server *s, struct MHD_Connection *c) {
    if (!s->api_key) return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7)) return false;
    h += 7;
    while (*h == ' ') h++;
    /* compare fixed-size digests so that neither the length nor the content leaks through timing */
    unsigned char a[32], b[32];
    crypto_generichash(a, sizeof a, (const unsigned char *)h, strlen(h), NULL, 0);
    crypto_generichash(b, sizeof b, (const unsigned char *)s->api_key, strlen(s->api_key), NULL, 0);
    return sodium_memcmp(a, b, sizeof a) == 0;
}

static int route(struct srv_req *q, struct srv_resp *r) {
    int st = 0;
    if (q->api == API_OPENAI) st = lir__openai_handle(q, r);
    else if (q->api == API_OLLAMA) st = lir__ollama_handle(q, r);
    else st = lir__manage_handle(q, r);
    if (!st && q->api == API_LIR) st = lir__live_handle(q, r);
    if (st) return st;
    if (!strcmp(q->path, "/") && (!strcmp(q->method, "GET") || !strcmp(q->method, "HEAD"))) {
        r->status = 200;
        r->json = json_pack("{ss ss}", "name", "lir", "status", "running");
        return 200;
    }
    return srv_error(r, q->api, 404, "not_found", NULL, "no such endpoint: %s %.200s", q->method, q->path);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    lir__server *s = cls;
    struct conn *cs = *con_cls;
    if (!cs) {
        cs = calloc(1, sizeof *cs);
        if (!cs) return MHD_NO;
        cs->t0_ns = lir__now_ns();
        cs->api = api_of(url);
        snprintf(cs->api_name, sizeof cs->api_name, "%s", cs->api == API_OLLAMA ? "ollama" : cs->api == API_OPENAI ? "openai" : "lir");
        *con_cls = cs;
        snprintf(cs->what, sizeof cs->what, "%.16s %.160s", method, url);
        for (char *w = cs->what; *w; w++) /* a log line is one line, whatever the client sent */
            if ((unsigned char)*w < 0x20 || *w == '"' || *w == 0x7f) *w = '?';
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno || *end || n > s->p.max_body) {
                cs->too_big = true;
                /* far too big: answer now and close; else read it to the end so that the client,
                 * still sending, sees the 413 rather than a reset connection */
                if (errno || *end || n > DISCARD_MAX) return reject_big(s, c, cs);
            }
        }
        return MHD_YES;
    }
    if (cs->rejected) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        cs->seen += n;
        if (!cs->too_big && cs->len + n > s->p.max_body) {
            cs->too_big = true;
            free(cs->body);
            cs->body = NULL;
            cs->len = cs->cap = 0;
        }
        if (cs->too_big) return cs->seen > DISCARD_MAX ? reject_big(s, c, cs) : MHD_YES;
        if (cs->len + n + 1 > cs->cap) {
            size_t cap = cs->cap ? cs->cap : 4096;
            while (cap < cs->len + n + 1) cap *= 2;
            char *b = realloc(cs->body, cap);
            if (!b) return MHD_NO;
            cs->body = b;
            cs->cap = cap;
        }
        memcpy(cs->body + cs->len, upload, n);
        cs->len += n;
        cs->body[cs->len] = 0;
        return MHD_YES;
    }
    if (cs->too_big) return reject_big(s, c, cs);
    /* the whole request is here */
    struct srv_resp r = { 0 };
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct srv_req q = { .srv = s, .conn = c, .method = method, .path = url, .body = cs->body ? cs->body : "",
                         .body_len = cs->len, .t0_ns = cs->t0_ns, .client_fd = ci ? ci->connect_fd : -1,
                         .api = cs->api };
    if (!strcmp(method, "OPTIONS")) {
        const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
        if (!cors_allowed(s, origin)) {
            srv_error(&r, q.api, 403, "cors", NULL, "origin '%.200s' is not allowed", origin ? origin : "");
            return send_resp(s, c, cs, &r);
        }
        struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header(resp, "Vary", "Origin");
        MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS");
        MHD_add_response_header(resp, "Access-Control-Allow-Headers", "Authorization, Content-Type");
        MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
        cs->status = 204;
        enum MHD_Result ok = MHD_queue_response(c, 204, resp);
        MHD_destroy_response(resp);
        return ok;
    }
    int sok = MHD_YES; /* the dashboard's files (static.c) hold no data: served without the API key */
    int sst = lir__static_serve(c, method, url, &sok);
    if (sst) {
        cs->status = sst;
        return (enum MHD_Result)sok;
    }
    if (!key_ok(s, c)) {
        srv_error(&r, q.api, 401, "invalid_api_key", NULL, "missing or wrong API key (send Authorization: Bearer KEY)");
        return send_resp(s, c, cs, &r);
    }
    if (cs->len && json_depth(q.body, q.body_len, s->p.max_json_depth) > s->p.max_json_depth) {
        srv_error(&r, q.api, 400, "json_too_deep", NULL, "request body nests deeper than the server's limit of %d",
                  s->p.max_json_depth);
        return send_resp(s, c, cs, &r);
    }
    if (cs->len && strlen(q.body) != cs->len) {
        srv_error(&r, q.api, 400, "invalid_json", NULL, "request body contains a NUL byte");
        return send_resp(s, c, cs, &r);
    }
    route(&q, &r);
    return send_resp(s, c, cs, &r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    lir__server *s = cls;
    struct conn *cs = *con_cls;
    if (!cs) return;
    double secs = (double)(lir__now_ns() - cs->t0_ns) / 1e9;
    if (cs->status) {
        lir__metrics_request(s->metrics, cs->api_name, cs->status, secs);
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        char addr[64] = "?";
        if (ci && ci->client_addr) {
            if (ci->client_addr->sa_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, addr, sizeof addr);
            else if (ci->client_addr->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr, addr, sizeof addr);
        }
        logf_(s, "%s \"%s\" %d %.3fs%s", addr, cs->what, cs->status, secs,
              toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection closed early)");
    }
    free(cs->body);
    free(cs);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    lir__server *s = cls;
    if (!s->p.log) return;
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n') line[--n] = 0;
    s->p.log(s->p.log_user, line);
}

/* ---------------------------------------------------------------- start / stop */

static enum lir_status fail(char *err, size_t err_len, enum lir_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static enum lir_status fail(char *err, size_t err_len, enum lir_status st, const char *fmt, ...) {
    if (err && err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return st;
}

enum lir_status lir__server_start(const struct lir__server_params *p, lir__server **out, char *err, size_t err_len) {
    if (!p || !out || !p->rt) return fail(err, err_len, LIR_EINVAL, "serve: params, out and rt are required");
    *out = NULL;
    if (p->port < 0 || p->port > 65535) return fail(err, err_len, LIR_EINVAL, "serve: port %d is outside [0, 65535]", p->port);
    if (p->max_body < 1024 || p->max_json_depth < 2 || p->max_queue < 1 || p->timeout_s < 1 || p->idle_timeout_s < 1 ||
        p->max_connections < 1 || p->n_cors < 0 || p->n_cors > LIR_SERVER_MAX_CORS)
        return fail(err, err_len, LIR_EINVAL, "serve: a limit is out of range (body >= 1024, depth >= 2, queue, timeouts "
                    "and connections >= 1, at most %d CORS origins)", LIR_SERVER_MAX_CORS);
    if (sodium_init() < 0) return fail(err, err_len, LIR_EINTERNAL, "serve: libsodium failed to start");
    const char *host = p->host && p->host[0] ? p->host : "127.0.0.1";
    if (!strcmp(host, "localhost")) host = "127.0.0.1";
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    memset(&a4, 0, sizeof a4);
    memset(&a6, 0, sizeof a6);
    bool v6 = false, loopback;
    if (inet_pton(AF_INET, host, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)p->port);
        loopback = (ntohl(a4.sin_addr.s_addr) >> 24) == 127;
    } else if (inet_pton(AF_INET6, host, &a6.sin6_addr) == 1) {
        v6 = true;
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)p->port);
        loopback = IN6_IS_ADDR_LOOPBACK(&a6.sin6_addr);
    } else {
        return fail(err, err_len, LIR_EINVAL, "serve: host '%.200s' is not an IP address (or localhost)", host);
    }
    if (!loopback && !(p->api_key && p->api_key[0]))
        return fail(err, err_len, LIR_EINVAL,
                    "serve: listening on %s (beyond loopback) needs an API key (--api-key or LIR_API_KEY)", host);
    lir__server *s = calloc(1, sizeof *s);
    if (!s) return fail(err, err_len, LIR_ENOMEM, "serve: out of memory");
    s->p = *p;
    snprintf(s->host, sizeof s->host, "%s", host);
    s->p.host = s->host;
    pthread_mutex_init(&s->mu, NULL);
    atomic_init(&s->stopping, false);
    s->api_key = p->api_key && p->api_key[0] ? strdup(p->api_key) : NULL;
    s->p.api_key = s->api_key;
    bool oom = p->api_key && p->api_key[0] && !s->api_key;
    for (int32_t i = 0; i < p->n_cors; i++) {
        s->cors[i] = strdup(p->cors_origins[i] ? p->cors_origins[i] : "");
        s->p.cors_origins[i] = s->cors[i];
        oom |= !s->cors[i];
    }
    s->metrics = lir__metrics_new();
    if (oom || !s->metrics) {
        lir__server_stop(s);
        return fail(err, err_len, LIR_ENOMEM, "serve: out of memory");
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (v6) flags |= MHD_USE_IPv6;
    s->d = MHD_start_daemon(flags, (uint16_t)p->port, NULL, NULL, on_request, s,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
                            MHD_OPTION_SOCK_ADDR, v6 ? (struct sockaddr *)&a6 : (struct sockaddr *)&a4,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)p->idle_timeout_s,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)p->max_connections,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_END);
    if (!s->d) {
        int e = errno;
        lir__server_stop(s);
        return fail(err, err_len, LIR_EIO, "serve: cannot listen on %s port %d: %s", host, p->port,
                    e ? strerror(e) : "libmicrohttpd failed to start");
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : p->port;
    *out = s;
    return LIR_OK;
}

int32_t lir__server_port(const lir__server *s) { return s ? s->port : 0; }

void lir__server_stop(lir__server *s) {
    if (!s) return;
    atomic_store(&s->stopping, true);
    if (s->d) MHD_stop_daemon(s->d);
    /* generation threads still running see `stopping` at their next token (or end at their
     * timeout_ms while queued); they use s until they leave, so wait for every one */
    while (srv_inflight(s) > 0) {
        struct timespec ts = { 0, 50 * 1000000L };
        nanosleep(&ts, NULL);
    }
    lir__metrics_free(s->metrics);
    free(s->api_key);
    for (int32_t i = 0; i < LIR_SERVER_MAX_CORS; i++) free(s->cors[i]);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
