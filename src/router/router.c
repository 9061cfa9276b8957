/* router.c — the request router's public API (lir.h, "request router"): backends per model in
 * fallback order, one request's walk over them (retries of connection failures, fallback before
 * any text reached the caller), events, results.
 *
 * Shared state: the route table, guarded by r->mu. A backend never changes once added; it is
 * reference-counted (one reference from the table, one per request using it), so a request
 * copies its model's list of backend pointers under the lock, runs without it, and a backend
 * removed meanwhile is freed when the last request using it ends. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "router/router.h"

#define RETRY_BACKOFF_MAX_MS 10000
#define MAX_BACKENDS_PER_MODEL 64

struct backend {
    atomic_int refs; /* the table's + one per request using it */
    char *name;
    bool native;
    /* remote */
    enum lir_remote_kind kind;
    char *base_url, *api_key, *model, *extra_json;
    bool openai_extensions;
    int32_t connect_timeout_ms, first_token_timeout_ms, idle_timeout_ms, total_timeout_ms;
    int32_t max_retries, retry_backoff_ms;
    /* native */
    lir_route_native_fn fn;
    void *user;
};

struct route {
    char *model;
    struct backend **b; /* owned, in fallback order */
    int32_t n, cap;
};

struct lir_router {
    struct lir_router_params params;
    pthread_mutex_t mu; /* guards routes, n_routes, cap_routes */
    struct route *routes;
    int32_t n_routes, cap_routes;
};

const char *lir_route_failure_str(enum lir_route_failure f) {
    switch (f) {
#define X(name, str) case LIR_ROUTE_FAILURE_##name: return str;
        LIR_ROUTE_FAILURE_MAP(X)
#undef X
    }
    return "unknown";
}

struct lir_remote_params lir_remote_params_default(void) {
    return (struct lir_remote_params){
        .kind = LIR_REMOTE_OPENAI,
        .openai_extensions = true,
        .connect_timeout_ms = 5000,
        .first_token_timeout_ms = 120000,
        .idle_timeout_ms = 60000,
        .total_timeout_ms = 0,
        .max_retries = 2,
        .retry_backoff_ms = 250,
    };
}

struct lir_router_params lir_router_params_default(void) { return (struct lir_router_params){ 0 }; }

void lir_route_result_clear(struct lir_route_result *res) {
    if (!res) return;
    free(res->text);
    free(res->embeddings);
    memset(res, 0, sizeof *res);
}

enum lir_status lir_router_create(const struct lir_router_params *params, lir_router **out, char *err,
                                  size_t err_len) {
    lir_err e = { "" };
    if (!out) {
        lir__errf(&e, LIR_EINVAL, "lir_router_create: out is NULL");
        lir__err_copy(&e, err, err_len);
        return LIR_EINVAL;
    }
    *out = NULL;
    if (!lir__http_global_init()) {
        lir__errf(&e, LIR_EINTERNAL, "lir_router_create: libcurl failed to start");
        lir__err_copy(&e, err, err_len);
        return LIR_EINTERNAL;
    }
    lir_router *r = calloc(1, sizeof *r);
    if (!r) {
        lir__errf(&e, LIR_ENOMEM, "lir_router_create: out of memory");
        lir__err_copy(&e, err, err_len);
        return LIR_ENOMEM;
    }
    r->params = params ? *params : lir_router_params_default();
    pthread_mutex_init(&r->mu, NULL);
    *out = r;
    return LIR_OK;
}

static void backend_free(struct backend *b) {
    if (!b) return;
    if (atomic_fetch_sub(&b->refs, 1) != 1) return; /* still used by a request */
    free(b->name);
    free(b->base_url);
    free(b->api_key);
    free(b->model);
    free(b->extra_json);
    free(b);
}

void lir_router_free(lir_router *r) {
    if (!r) return;
    for (int32_t i = 0; i < r->n_routes; i++) {
        for (int32_t j = 0; j < r->routes[i].n; j++) backend_free(r->routes[i].b[j]);
        free(r->routes[i].b);
        free(r->routes[i].model);
    }
    free(r->routes);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static struct route *find_route(const lir_router *r, const char *model) {
    for (int32_t i = 0; i < r->n_routes; i++)
        if (strcmp(r->routes[i].model, model) == 0) return &r->routes[i];
    return NULL;
}

/* Appends b to model's order; takes ownership of b (freed on failure). */
static enum lir_status add_backend(lir_router *r, const char *model, struct backend *b, lir_err *e) {
    enum lir_status st = LIR_OK;
    pthread_mutex_lock(&r->mu);
    struct route *rt = find_route(r, model);
    if (!rt) {
        if (r->n_routes == r->cap_routes) {
            int32_t cap = r->cap_routes ? r->cap_routes * 2 : 8;
            struct route *nr = realloc(r->routes, (size_t)cap * sizeof *nr);
            if (!nr) { st = lir__errf(e, LIR_ENOMEM, "lir_router_add: out of memory"); goto out; }
            r->routes = nr;
            r->cap_routes = cap;
        }
        char *m = strdup(model);
        if (!m) { st = lir__errf(e, LIR_ENOMEM, "lir_router_add: out of memory"); goto out; }
        rt = &r->routes[r->n_routes++];
        *rt = (struct route){ .model = m };
    }
    if (rt->n >= MAX_BACKENDS_PER_MODEL) {
        st = lir__errf(e, LIR_EINVAL, "lir_router_add: model \"%s\" has %d backends already", model, rt->n);
        goto out;
    }
    if (rt->n == rt->cap) {
        int32_t cap = rt->cap ? rt->cap * 2 : 4;
        struct backend **nb = realloc(rt->b, (size_t)cap * sizeof *nb);
        if (!nb) { st = lir__errf(e, LIR_ENOMEM, "lir_router_add: out of memory"); goto out; }
        rt->b = nb;
        rt->cap = cap;
    }
    rt->b[rt->n++] = b;
    b = NULL;
out:
    pthread_mutex_unlock(&r->mu);
    backend_free(b);
    return st;
}

static bool dup_opt(char **dst, const char *src) {
    *dst = NULL;
    if (!src) return true;
    return (*dst = strdup(src)) != NULL;
}

enum lir_status lir_router_add_remote(lir_router *r, const char *model, const struct lir_remote_params *p,
                                      char *err, size_t err_len) {
    lir_err e = { "" };
    enum lir_status st = LIR_OK;
    struct backend *b = NULL;
#define FAIL(s, ...) do { st = lir__errf(&e, s, __VA_ARGS__); goto fail; } while (0)
    if (!r || !model || !p) FAIL(LIR_EINVAL, "lir_router_add_remote: NULL argument");
    if (p->kind != LIR_REMOTE_OLLAMA && p->kind != LIR_REMOTE_OPENAI)
        FAIL(LIR_EINVAL, "lir_router_add_remote: unknown kind %d", (int)p->kind);
    if (!p->base_url || (strncmp(p->base_url, "http://", 7) != 0 && strncmp(p->base_url, "https://", 8) != 0))
        FAIL(LIR_EINVAL, "lir_router_add_remote: base_url must start with http:// or https://");
    if (p->connect_timeout_ms <= 0) FAIL(LIR_EINVAL, "lir_router_add_remote: connect_timeout_ms %d is not > 0", p->connect_timeout_ms);
    if (p->first_token_timeout_ms < 0 || p->idle_timeout_ms < 0 || p->total_timeout_ms < 0)
        FAIL(LIR_EINVAL, "lir_router_add_remote: a timeout is negative");
    if (p->max_retries < 0 || p->max_retries > 100)
        FAIL(LIR_EINVAL, "lir_router_add_remote: max_retries %d is outside [0, 100]", p->max_retries);
    if (p->retry_backoff_ms < 0 || p->retry_backoff_ms > RETRY_BACKOFF_MAX_MS)
        FAIL(LIR_EINVAL, "lir_router_add_remote: retry_backoff_ms %d is outside [0, %d]", p->retry_backoff_ms,
             RETRY_BACKOFF_MAX_MS);
    if (p->api_key && strpbrk(p->api_key, "\r\n"))
        FAIL(LIR_EINVAL, "lir_router_add_remote: api_key holds a line break");
    if (p->api_key && strlen(p->api_key) > 900) FAIL(LIR_EINVAL, "lir_router_add_remote: api_key over 900 bytes");
    if (p->extra_body_json) {
        json_error_t je;
        json_t *x = json_loads(p->extra_body_json, 0, &je);
        bool ok = json_is_object(x);
        json_decref(x);
        if (!ok) FAIL(LIR_EINVAL, "lir_router_add_remote: extra_body_json is not a JSON object");
    }
    b = calloc(1, sizeof *b);
    if (!b) FAIL(LIR_ENOMEM, "lir_router_add_remote: out of memory");
    atomic_init(&b->refs, 1);
    b->kind = p->kind;
    b->openai_extensions = p->openai_extensions;
    b->connect_timeout_ms = p->connect_timeout_ms;
    b->first_token_timeout_ms = p->first_token_timeout_ms;
    b->idle_timeout_ms = p->idle_timeout_ms;
    b->total_timeout_ms = p->total_timeout_ms;
    b->max_retries = p->max_retries;
    b->retry_backoff_ms = p->retry_backoff_ms;
    /* base URL without trailing slashes; OpenAI's without a trailing /v1 (the paths carry it) */
    if (!dup_opt(&b->base_url, p->base_url)) FAIL(LIR_ENOMEM, "lir_router_add_remote: out of memory");
    size_t n = strlen(b->base_url);
    while (n > 8 && b->base_url[n - 1] == '/') b->base_url[--n] = 0;
    if (p->kind == LIR_REMOTE_OPENAI && n > 3 + 8 && strcmp(b->base_url + n - 3, "/v1") == 0) b->base_url[n - 3] = 0;
    if (!dup_opt(&b->name, p->name ? p->name : p->base_url) || !dup_opt(&b->api_key, p->api_key) ||
        !dup_opt(&b->model, p->model) || !dup_opt(&b->extra_json, p->extra_body_json))
        FAIL(LIR_ENOMEM, "lir_router_add_remote: out of memory");
    st = add_backend(r, model, b, &e);
    b = NULL;
    if (st != LIR_OK) goto fail;
    return LIR_OK;
#undef FAIL
fail:
    backend_free(b);
    lir__err_copy(&e, err, err_len);
    return st;
}

enum lir_status lir_router_add_native(lir_router *r, const char *model, const char *name, lir_route_native_fn fn,
                                      void *user) {
    if (!r || !model || !fn) return LIR_EINVAL;
    struct backend *b = calloc(1, sizeof *b);
    if (!b) return LIR_ENOMEM;
    atomic_init(&b->refs, 1);
    b->native = true;
    b->fn = fn;
    b->user = user;
    if (!dup_opt(&b->name, name ? name : "native")) {
        backend_free(b);
        return LIR_ENOMEM;
    }
    return add_backend(r, model, b, NULL);
}

/* Copies model's backend list (or "*"'s) into out (cap entries), each with a reference the
 * caller drops with backend_free; returns the count. */
static int32_t lookup(lir_router *r, const char *model, struct backend **out, int32_t cap) {
    pthread_mutex_lock(&r->mu);
    struct route *rt = find_route(r, model);
    if (!rt || rt->n == 0) rt = find_route(r, "*");
    int32_t n = 0;
    if (rt)
        for (; n < rt->n && n < cap; n++) {
            out[n] = rt->b[n];
            atomic_fetch_add(&out[n]->refs, 1);
        }
    pthread_mutex_unlock(&r->mu);
    return n;
}

int32_t lir_router_n_backends(const lir_router *r, const char *model) {
    if (!r || !model) return 0;
    struct backend *tmp[MAX_BACKENDS_PER_MODEL];
    int32_t n = lookup((lir_router *)r, model, tmp, MAX_BACKENDS_PER_MODEL);
    for (int32_t i = 0; i < n; i++) backend_free(tmp[i]);
    return n;
}

int32_t lir_router_remove(lir_router *r, const char *model, const char *name) {
    if (!r || !model) return 0;
    int32_t removed = 0;
    pthread_mutex_lock(&r->mu);
    struct route *rt = find_route(r, model);
    if (rt) {
        int32_t k = 0;
        for (int32_t i = 0; i < rt->n; i++) {
            if (!name || strcmp(rt->b[i]->name, name) == 0) {
                backend_free(rt->b[i]);
                removed++;
            } else {
                rt->b[k++] = rt->b[i];
            }
        }
        rt->n = k;
    }
    pthread_mutex_unlock(&r->mu);
    return removed;
}

/* ================================================================ one request */

struct run {
    lir_router *r;
    const struct lir_route_request *req;
    struct lir_route_result *res;
    uint64_t t0;
    /* text collected for the result */
    char *text;
    size_t len, cap;
    bool oom;
};

static int64_t wall_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Every piece of text, from a remote decoder or the native engine. */
static int on_text(void *user, const char *s, size_t n) {
    struct run *run = user;
    if (n == 0) return 0;
    if (run->res->ttft_ms < 0) run->res->ttft_ms = (double)(lir__now_ns() - run->t0) / 1e6;
    if (run->len + n + 1 > run->cap) {
        size_t cap = run->cap ? run->cap : 256;
        while (cap < run->len + n + 1) cap *= 2;
        char *b = realloc(run->text, cap);
        if (!b) { run->oom = true; return 1; }
        run->text = b;
        run->cap = cap;
    }
    memcpy(run->text + run->len, s, n);
    run->len += n;
    run->text[run->len] = 0;
    if (run->req->on_chunk) return run->req->on_chunk(run->req->chunk_user, s, n);
    return 0;
}

static void emit(struct run *run, enum lir_route_event_type type, const struct backend *b, const struct backend *next,
                 int32_t attempt, enum lir_route_failure f, const char *reason, int32_t http, bool final) {
    if (!run->r->params.on_event) return;
    struct lir_route_event ev = {
        .type = type,
        .time_us = wall_us(),
        .op = run->req->op,
        .model = run->req->model,
        .backend = b ? b->name : NULL,
        .next_backend = next ? next->name : NULL,
        .attempt = attempt,
        .failure = f,
        .reason = reason ? reason : "",
        .http_status = http,
        .partial = run->len > 0,
        .final = final,
    };
    run->r->params.on_event(run->r->params.event_user, &ev);
}

/* Sleeps ms, polling is_cancelled; true when cancelled. */
static bool wait_ms(const struct lir_route_request *req, int32_t ms) {
    uint64_t end = lir__now_ns() + (uint64_t)ms * 1000000u;
    for (;;) {
        if (req->is_cancelled && req->is_cancelled(req->cancel_user)) return true;
        uint64_t now = lir__now_ns();
        if (now >= end) return false;
        uint64_t step = end - now < 50000000u ? end - now : 50000000u;
        struct timespec ts = { (time_t)(step / 1000000000u), (long)(step % 1000000000u) };
        nanosleep(&ts, NULL);
    }
}

/* One attempt on a remote backend: fills res (failure, error, http_status, usage, finish, embeddings). */
static void attempt_remote(struct run *run, const struct backend *b, const char *body) {
    const struct lir_route_request *req = run->req;
    struct lir_route_result *res = run->res;
    char url[2048];
    snprintf(url, sizeof url, "%s%s", b->base_url, lir__wire_path(b->kind, req->op));
    struct lir__decoder dec;
    struct lir__http_attempt a = {
        .url = url, .body = body, .api_key = b->api_key,
        .connect_timeout_ms = b->connect_timeout_ms, .first_token_timeout_ms = b->first_token_timeout_ms,
        .idle_timeout_ms = b->idle_timeout_ms, .total_timeout_ms = b->total_timeout_ms,
        .is_cancelled = req->is_cancelled, .cancel_user = req->cancel_user,
    };
    const bool stream = req->op != LIR_ROUTE_EMBED;
    if (stream) {
        lir__decoder_init(&dec, b->kind, req->op, on_text, run);
        a.dec = &dec;
    }
    res->failure = lir__http_run(&a);
    res->http_status = (int32_t)a.http_status;
    snprintf(res->error, sizeof res->error, "%s", a.err.msg);
    if (stream) {
        if (res->failure == LIR_ROUTE_FAILURE_NONE) {
            res->finish_reason = dec.finish;
            res->prompt_tokens = dec.prompt_tokens;
            res->completion_tokens = dec.completion_tokens;
        }
        lir__decoder_free(&dec);
    } else if (res->failure == LIR_ROUTE_FAILURE_NONE) {
        lir_err e = { "" };
        if (lir__wire_embeddings(b->kind, a.body_out, a.body_out_len, req->n_texts, &res->embeddings, &res->dim,
                                 &res->prompt_tokens, &e) != LIR_OK) {
            res->failure = LIR_ROUTE_FAILURE_PROTOCOL;
            snprintf(res->error, sizeof res->error, "%s", e.msg);
        } else {
            res->n_embeddings = req->n_texts;
            res->finish_reason = LIR_FINISH_STOP;
        }
    }
    free(a.body_out);
    if (run->oom) {
        res->failure = LIR_ROUTE_FAILURE_BACKEND;
        snprintf(res->error, sizeof res->error, "out of memory collecting the text");
    }
}

static int native_emit(void *ctx, const char *s, size_t n) {
    struct run *run = ctx;
    if (run->req->is_cancelled && run->req->is_cancelled(run->req->cancel_user)) return 1;
    return on_text(ctx, s, n);
}

static enum lir_status attempt_native(struct run *run, const struct backend *b) {
    struct lir_route_result *res = run->res;
    res->error[0] = 0;
    enum lir_status st = b->fn(b->user, run->req, native_emit, run, res);
    if (st == LIR_OK) {
        res->failure = LIR_ROUTE_FAILURE_NONE;
        if (run->req->op == LIR_ROUTE_EMBED) {
            if (!res->embeddings || res->n_embeddings != run->req->n_texts || res->dim < 1) {
                res->failure = LIR_ROUTE_FAILURE_BACKEND;
                snprintf(res->error, sizeof res->error, "the native engine returned %d embeddings for %d texts",
                         res->n_embeddings, run->req->n_texts);
                return LIR_EINTERNAL;
            }
            res->finish_reason = LIR_FINISH_STOP;
        }
    } else {
        res->failure = st == LIR_ECANCELLED ? LIR_ROUTE_FAILURE_CANCELLED : LIR_ROUTE_FAILURE_BACKEND;
        if (!res->error[0]) snprintf(res->error, sizeof res->error, "native engine: %s", lir_status_str(st));
    }
    return st;
}

static enum lir_status failure_status(enum lir_route_failure f) {
    switch (f) {
    case LIR_ROUTE_FAILURE_NONE: return LIR_OK;
    case LIR_ROUTE_FAILURE_CONNECT:
    case LIR_ROUTE_FAILURE_TIMEOUT:
    case LIR_ROUTE_FAILURE_HTTP: return LIR_EIO;
    case LIR_ROUTE_FAILURE_CANCELLED: return LIR_ECANCELLED;
    case LIR_ROUTE_FAILURE_NO_BACKEND: return LIR_ENOTFOUND;
    default: return LIR_EFORMAT;
    }
}

static enum lir_status check_request(const struct lir_route_request *req, lir_err *e) {
    if (!req->model) return lir__errf(e, LIR_EINVAL, "lir_router_run: model is NULL");
    switch (req->op) {
    case LIR_ROUTE_GENERATE:
        if (!req->prompt) return lir__errf(e, LIR_EINVAL, "lir_router_run: prompt is NULL");
        return LIR_OK;
    case LIR_ROUTE_CHAT: {
        if (!req->messages_json) return lir__errf(e, LIR_EINVAL, "lir_router_run: messages_json is NULL");
        json_error_t je;
        json_t *m = json_loads(req->messages_json, 0, &je);
        bool ok = json_is_array(m);
        json_decref(m);
        if (!ok) return lir__errf(e, LIR_EINVAL, "lir_router_run: messages_json is not a JSON array");
        return LIR_OK;
    }
    case LIR_ROUTE_EMBED:
        if (req->n_texts < 1 || !req->texts) return lir__errf(e, LIR_EINVAL, "lir_router_run: no texts to embed");
        for (int32_t i = 0; i < req->n_texts; i++)
            if (!req->texts[i]) return lir__errf(e, LIR_EINVAL, "lir_router_run: texts[%d] is NULL", i);
        return LIR_OK;
    }
    return lir__errf(e, LIR_EINVAL, "lir_router_run: unknown op %d", (int)req->op);
}

enum lir_status lir_router_run(lir_router *r, const struct lir_route_request *req, struct lir_route_result *res) {
    if (!res) return LIR_EINVAL;
    memset(res, 0, sizeof *res);
    res->prompt_tokens = res->completion_tokens = -1;
    res->ttft_ms = -1;
    res->finish_reason = LIR_FINISH_ERROR;
    if (!r || !req) {
        res->failure = LIR_ROUTE_FAILURE_BACKEND;
        snprintf(res->error, sizeof res->error, "lir_router_run: NULL argument");
        return LIR_EINVAL;
    }
    struct run run = { .r = r, .req = req, .res = res, .t0 = lir__now_ns() };
    lir_err e = { "" };
    enum lir_status st = check_request(req, &e);
    if (st != LIR_OK) {
        res->failure = LIR_ROUTE_FAILURE_BACKEND;
        snprintf(res->error, sizeof res->error, "%s", e.msg);
        return st;
    }
    struct backend *bs[MAX_BACKENDS_PER_MODEL];
    int32_t nb = lookup(r, req->model, bs, MAX_BACKENDS_PER_MODEL); /* references dropped at the end */
    if (nb == 0) {
        res->failure = LIR_ROUTE_FAILURE_NO_BACKEND;
        snprintf(res->error, sizeof res->error, "lir_router_run: no backend serves model \"%s\"", req->model);
        res->total_ms = (double)(lir__now_ns() - run.t0) / 1e6;
        return LIR_ENOTFOUND;
    }
    st = LIR_EIO;
    for (int32_t i = 0; i < nb; i++) {
        const struct backend *b = bs[i];
        snprintf(res->backend, sizeof res->backend, "%s", b->name);
        char *body = NULL;
        if (!b->native) {
            if ((st = lir__wire_body(b->kind, req, b->model ? b->model : req->model, b->openai_extensions,
                                     b->extra_json, &body, &e)) != LIR_OK) {
                res->failure = LIR_ROUTE_FAILURE_BACKEND;
                snprintf(res->error, sizeof res->error, "%s", e.msg);
                goto end; /* the request itself is bad: no backend would take it */
            }
        }
        for (int32_t attempt = 1;; attempt++) {
            res->attempts++;
            free(res->embeddings);
            res->embeddings = NULL;
            res->n_embeddings = res->dim = 0;
            res->http_status = 0;
            if (b->native) {
                st = attempt_native(&run, b);
            } else {
                attempt_remote(&run, b, body);
                st = failure_status(res->failure);
            }
            if (res->failure == LIR_ROUTE_FAILURE_NONE) {
                free(body);
                goto end;
            }
            const bool cancelled = res->failure == LIR_ROUTE_FAILURE_CANCELLED;
            const bool partial = run.len > 0;
            const bool retry = !b->native && !partial && !cancelled &&
                               res->failure == LIR_ROUTE_FAILURE_CONNECT && attempt <= b->max_retries;
            const bool fallback = !retry && !partial && !cancelled && i + 1 < nb;
            emit(&run, LIR_ROUTE_EVENT_GENERATION_FAILED, b, NULL, attempt, res->failure, res->error,
                 res->http_status, !retry && !fallback);
            if (retry) {
                int64_t wait = (int64_t)b->retry_backoff_ms << (attempt - 1 < 20 ? attempt - 1 : 20);
                if (wait > RETRY_BACKOFF_MAX_MS) wait = RETRY_BACKOFF_MAX_MS;
                emit(&run, LIR_ROUTE_EVENT_RETRY, b, NULL, attempt + 1, res->failure, res->error, res->http_status,
                     false);
                if (wait_ms(req, (int32_t)wait)) {
                    res->failure = LIR_ROUTE_FAILURE_CANCELLED;
                    snprintf(res->error, sizeof res->error, "cancelled by the caller");
                    st = LIR_ECANCELLED;
                    free(body);
                    goto end;
                }
                continue;
            }
            free(body);
            if (fallback) {
                emit(&run, LIR_ROUTE_EVENT_FALLBACK, b, bs[i + 1], attempt, res->failure, res->error,
                     res->http_status, false);
                break;
            }
            goto end;
        }
    }
end:
    if (st == LIR_OK && res->failure != LIR_ROUTE_FAILURE_NONE) st = LIR_EINTERNAL;
    if (res->failure == LIR_ROUTE_FAILURE_CANCELLED) {
        st = LIR_ECANCELLED;
        res->finish_reason = LIR_FINISH_CANCELLED;
    } else if (res->failure != LIR_ROUTE_FAILURE_NONE) {
        res->finish_reason = LIR_FINISH_ERROR;
        if (st == LIR_OK) st = LIR_EINTERNAL;
    }
    if (req->op != LIR_ROUTE_EMBED) {
        if (!run.text) run.text = calloc(1, 1);
        res->text = run.text;
        res->text_len = run.len;
        if (!res->text && st == LIR_OK) st = LIR_ENOMEM;
    } else {
        free(run.text);
    }
    res->total_ms = (double)(lir__now_ns() - run.t0) / 1e6;
    for (int32_t i = 0; i < nb; i++) backend_free(bs[i]);
    return st;
}
