/* manage.c — lir's management API over HTTP (/lir/v1/...; JSON field names are the C field
 * names of include/lir.h): installed and loaded models, load with options, unload, unload all,
 * activate, per-model context status / clear / truncate and snapshots (save, list, restore,
 * delete), resources now, history?period= and a resource check, alert thresholds (GET/PUT), the
 * profiler's export (JSON or CSV), the runtime's events as a live SSE stream, and GET /metrics
 * (Prometheus). Statuses map to HTTP as srv_http_status says (ETIER 403, ENOTFOUND 404, ...). */
#include "server/server.h"
#include "util/util.h"

#include <microhttpd.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const enum api_kind API = API_LIR;

/* ---------------------------------------------------------------- JSON of runtime structs */

json_t *lir__json_installed(const struct lir_installed_model *m) {
    return json_pack("{ss ss ss ss ss ss ss sI sI si si}", "id", m->id, "name", m->name, "path", m->path,
                     "display_name", m->display_name, "arch", m->arch, "source", m->source, "backend", m->backend,
                     "size_bytes", (json_int_t)m->size_bytes, "parameters", (json_int_t)m->parameters,
                     "context_length", m->context_length, "block_count", m->block_count);
}

json_t *lir__json_loaded(const struct lir_loaded_model *m) {
    json_t *metrics = json_pack("{sI sI sf sf sf sf}", "total_requests", (json_int_t)m->metrics.total_requests,
                                "total_tokens_generated", (json_int_t)m->metrics.total_tokens_generated,
                                "total_inference_ms", m->metrics.total_inference_ms, "average_tokens_per_second",
                                (double)m->metrics.average_tokens_per_second, "peak_tokens_per_second",
                                (double)m->metrics.peak_tokens_per_second, "average_ttft_ms", m->metrics.average_ttft_ms);
    json_t *res = json_pack("{sI sI si si si si si}", "ram_bytes", (json_int_t)m->resources.ram_bytes, "vram_bytes",
                            (json_int_t)m->resources.vram_bytes, "loaded_layers", m->resources.loaded_layers,
                            "gpu_layers", m->resources.gpu_layers, "cpu_layers", m->resources.cpu_layers,
                            "context_size", m->resources.context_size, "context_used", m->resources.context_used);
    return json_pack("{ss so so ss sI sI si so so}", "id", m->id, "model", lir__json_installed(&m->model), "options",
                     lir__json_load_options(&m->options), "status", lir_loaded_status_str(m->status), "loaded_at_ms",
                     (json_int_t)m->loaded_at_ms, "last_used_at_ms", (json_int_t)m->last_used_at_ms,
                     "active_requests", m->active_requests, "metrics", metrics, "resources", res);
}

static json_t *json_check(const struct lir_resource_check *c) {
    json_t *issues = json_array();
    for (int32_t i = 0; i < c->n_issues && i < 4; i++)
        json_array_append_new(issues, json_pack("{ss sI sI ss}", "resource", lir_resource_type_str(c->issues[i].resource),
                                                "required", (json_int_t)c->issues[i].required, "available",
                                                (json_int_t)c->issues[i].available, "message", c->issues[i].message));
    return json_pack("{sb so si ss}", "is_sufficient", c->is_sufficient, "issues", issues, "suggested_context_size",
                     c->suggested_context_size, "suggestion", c->suggestion);
}

/* ---------------------------------------------------------------- helpers */

static int ok_json(struct srv_resp *r, json_t *j) {
    r->status = 200;
    r->json = j;
    return 200;
}

/* Load options from a JSON object (absent = defaults). */
static bool read_load_options(json_t *o, struct lir_load_options *out, struct srv_resp *r) {
    *out = lir_load_options_default();
    if (!o || json_is_null(o)) return true;
    if (!json_is_object(o)) return srv_error(r, API, 400, "invalid_value", "options", "options: must be an object"), false;
    bool bad = false;
    int64_t i;
    const char *s;
    if (srv_get_int(o, "gpu_layers", -1, INT32_MAX, &i, r, API, &bad)) out->gpu_layers = (int32_t)i;
    if (!bad && srv_get_int(o, "context_size", 0, 16777216, &i, r, API, &bad)) out->context_size = (int32_t)i;
    if (!bad && srv_get_int(o, "batch_size", 1, 1 << 20, &i, r, API, &bad)) out->batch_size = (int32_t)i;
    if (!bad && srv_get_int(o, "threads", 0, 1024, &i, r, API, &bad)) out->threads = (int32_t)i;
    if (!bad && srv_get_int(o, "main_gpu", 0, 64, &i, r, API, &bad)) out->main_gpu = (int32_t)i;
    if (!bad && srv_get_int(o, "keep_alive_ms", -1, INT64_MAX / 2, &i, r, API, &bad)) out->keep_alive_ms = i;
    if (!bad && srv_get_int(o, "parallel", 0, 64, &i, r, API, &bad)) out->parallel = (int32_t)i;
    if (!bad && srv_get_str(o, "gpu_id", &s, r, API, &bad)) {
        if (strlen(s) >= sizeof out->gpu_id)
            return srv_error(r, API, 400, "invalid_value", "gpu_id", "gpu_id: at most %zu bytes", sizeof out->gpu_id - 1),
                   false;
        snprintf(out->gpu_id, sizeof out->gpu_id, "%s", s);
    }
    if (bad) return false;
    json_t *ts = json_object_get(o, "tensor_split");
    if (ts && !json_is_null(ts)) {
        if (!json_is_array(ts) || json_array_size(ts) > LIR_TENSOR_SPLIT_MAX)
            return srv_error(r, API, 400, "invalid_value", "tensor_split", "tensor_split: an array of at most %d numbers",
                             LIR_TENSOR_SPLIT_MAX), false;
        for (size_t k = 0; k < json_array_size(ts); k++) {
            json_t *v = json_array_get(ts, k);
            if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1e6)
                return srv_error(r, API, 400, "invalid_value", "tensor_split", "tensor_split[%zu]: a number in [0, 1e6]", k),
                       false;
            out->tensor_split[k] = (float)json_number_value(v);
        }
        out->n_tensor_split = (int32_t)json_array_size(ts);
    }
    return true;
}

static int status_error(struct srv_resp *r, enum lir_status s, const char *msg) {
    return srv_error(r, API, srv_http_status(s), lir_status_name(s), NULL, "%s", msg[0] ? msg : lir_status_str(s));
}

/* ---------------------------------------------------------------- models */

static int installed(struct srv_req *q, struct srv_resp *r) {
    struct lir_installed_model *v = NULL;
    int32_t n = 0;
    enum lir_status s = lir_runtime_list_installed(srv_runtime(q->srv), &v, &n);
    if (s) return status_error(r, s, "cannot list the installed models");
    json_t *a = json_array();
    for (int32_t i = 0; i < n; i++) json_array_append_new(a, lir__json_installed(&v[i]));
    lir_runtime_free(v);
    return ok_json(r, json_pack("{so}", "models", a));
}

static int loaded(struct srv_req *q, struct srv_resp *r) {
    struct lir_loaded_model *v = NULL;
    int32_t n = 0;
    enum lir_status s = lir_runtime_list_loaded(srv_runtime(q->srv), &v, &n);
    if (s) return status_error(r, s, "cannot list the loaded models");
    json_t *a = json_array();
    for (int32_t i = 0; i < n; i++) json_array_append_new(a, lir__json_loaded(&v[i]));
    lir_runtime_free(v);
    struct lir_loaded_model act;
    json_t *j = json_pack("{so}", "models", a);
    json_object_set_new(j, "active_id", lir_runtime_get_active(srv_runtime(q->srv), &act) ? json_null() : json_string(act.id));
    return ok_json(r, j);
}

static int load(struct srv_req *q, struct srv_resp *r, bool check_only) {
    json_t *o = srv_body_object(q, r);
    if (!o) return r->status;
    bool bad = false;
    const char *model = NULL;
    char arg[256];
    struct lir_load_options opt;
    srv_get_str(o, "model", &model, r, API, &bad);
    if (bad || srv_resolve_model(q->srv, model, arg, NULL, r, API) || !read_load_options(json_object_get(o, "options"), &opt, r)) {
        json_decref(o);
        return r->status;
    }
    json_decref(o);
    char err[512] = "", id[LIR_ID_LEN] = "";
    struct lir_resource_check chk;
    memset(&chk, 0, sizeof chk);
    enum lir_status s;
    if (check_only) {
        s = lir_runtime_check_resources(srv_runtime(q->srv), arg, &opt, &chk, err, sizeof err);
        if (s) return status_error(r, s, err);
        return ok_json(r, json_check(&chk));
    }
    s = lir_runtime_load(srv_runtime(q->srv), arg, &opt, NULL, NULL, id, &chk, err, sizeof err);
    if (s) {
        status_error(r, s, err);
        if (s == LIR_ENOMEM) json_object_set_new(json_object_get(r->json, "error"), "check", json_check(&chk));
        return r->status;
    }
    struct lir_loaded_model lm;
    if (lir_runtime_get_loaded(srv_runtime(q->srv), id, &lm)) /* unloaded at once (keep_alive 0) */
        return ok_json(r, json_pack("{ss sn}", "id", id, "model"));
    return ok_json(r, json_pack("{ss so}", "id", id, "model", lir__json_loaded(&lm)));
}

/* ---------------------------------------------------------------- events (SSE) */

struct ev_sub {
    lir__server *srv;
    lir_runtime *rt;
    int64_t sub_id;
    int fd;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *buf;
    size_t len, off, cap;
    bool overflow;
    uint64_t last_write_ns;
};

static void ev_put(struct ev_sub *e, const char *s, size_t n) {
    if (e->len + n > (4u << 20)) { /* a client that does not read: drop, and say so once */
        e->overflow = true;
        return;
    }
    if (e->len + n > e->cap) {
        size_t cap = e->cap ? e->cap : 4096;
        while (cap < e->len + n) cap *= 2;
        char *b = realloc(e->buf, cap);
        if (!b) return;
        e->buf = b;
        e->cap = cap;
    }
    memcpy(e->buf + e->len, s, n);
    e->len += n;
}

static void on_event(const struct lir_event *ev, void *user) {
    struct ev_sub *e = user;
    json_t *j = lir__json_event(ev);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s) return;
    char head[96];
    int hn = snprintf(head, sizeof head, "id: %llu\nevent: %s\ndata: ", (unsigned long long)ev->seq,
                      lir_event_type_str(ev->type));
    pthread_mutex_lock(&e->mu);
    ev_put(e, head, (size_t)hn);
    ev_put(e, s, strlen(s));
    ev_put(e, "\n\n", 2);
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    free(s);
}

static ssize_t ev_read(void *cls, uint64_t pos, char *buf, size_t max) {
    struct ev_sub *e = cls;
    pthread_mutex_lock(&e->mu);
    for (;;) {
        if (e->off < e->len) {
            size_t n = e->len - e->off < max ? e->len - e->off : max;
            memcpy(buf, e->buf + e->off, n);
            e->off += n;
            if (e->off == e->len) e->off = e->len = 0;
            e->last_write_ns = lir__now_ns();
            pthread_mutex_unlock(&e->mu);
            return (ssize_t)n;
        }
        if (e->overflow) {
            e->overflow = false;
            static const char msg[] = "event: error\ndata: {\"message\":\"events were dropped: the client reads too slowly\"}\n\n";
            ev_put(e, msg, sizeof msg - 1);
            continue;
        }
        if (srv_stopping(e->srv) || srv_client_gone(e->fd)) {
            pthread_mutex_unlock(&e->mu);
            return -2; /* MHD_CONTENT_READER_END_WITH_ERROR */
        }
        if (lir__now_ns() - e->last_write_ns > 15ull * 1000000000ull) { /* keep-alive comment */
            ev_put(e, ": ping\n\n", 8);
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&e->cv, &e->mu, &ts);
    }
}

static void ev_free(void *cls) {
    struct ev_sub *e = cls;
    if (e->sub_id > 0) lir_runtime_unsubscribe(e->rt, e->sub_id);
    free(e->buf);
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

static int events(struct srv_req *q, struct srv_resp *r) {
    struct ev_sub *e = calloc(1, sizeof *e);
    if (!e) return srv_error(r, API, 500, "internal_error", NULL, "out of memory");
    e->srv = q->srv;
    e->rt = srv_runtime(q->srv);
    e->fd = q->client_fd;
    e->last_write_ns = lir__now_ns();
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    ev_put(e, ": lir events\n\n", 14); /* the headers go out at once */
    enum lir_status s = lir_runtime_subscribe(e->rt, on_event, e, &e->sub_id);
    if (s) {
        ev_free(e);
        return status_error(r, s, "cannot subscribe to the events");
    }
    r->status = 200;
    r->read = ev_read;
    r->read_free = ev_free;
    r->read_cls = e;
    r->content_type = "text/event-stream";
    return 200;
}

/* ---------------------------------------------------------------- resources, profiler, metrics */

static json_t *usage_json(const struct lir_resource_usage *u) {
    char *txt = NULL;
    if (lir_resource_usage_json(u, &txt)) return NULL;
    json_t *j = json_loads(txt, 0, NULL);
    lir_runtime_free(txt);
    return j;
}

static int resources(struct srv_req *q, struct srv_resp *r) {
    struct lir_resource_usage u;
    enum lir_status s = lir_runtime_resource_usage(srv_runtime(q->srv), &u);
    if (s) return status_error(r, s, "cannot read the resource usage");
    json_t *j = usage_json(&u);
    return j ? ok_json(r, j) : srv_error(r, API, 500, "internal_error", NULL, "out of memory");
}

/* "1h", "30m", "90s", "7d", "500ms" or a number of seconds; 0 on a malformed value. */
static int64_t period_ms(const char *v) {
    if (!v || !*v) return 0;
    char *end;
    double x = strtod(v, &end);
    if (end == v || !(x > 0) || x > 1e9) return 0;
    double unit = !strcmp(end, "") || !strcmp(end, "s") ? 1000 : !strcmp(end, "ms") ? 1 : !strcmp(end, "m") ? 60000
                : !strcmp(end, "h") ? 3600000 : !strcmp(end, "d") ? 86400000 : 0;
    return (int64_t)(x * unit);
}

static int history(struct srv_req *q, struct srv_resp *r) {
    const char *pv = MHD_lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, "period");
    int64_t ms = pv ? period_ms(pv) : 3600000;
    if (ms <= 0)
        return srv_error(r, API, 400, "invalid_value", "period",
                         "period: '%.40s' is not a duration such as 5m, 1h, 24h, 7d", pv ? pv : "");
    struct lir_resource_usage *v = NULL;
    int32_t n = 0;
    enum lir_status s = lir_runtime_resource_history(srv_runtime(q->srv), ms, &v, &n);
    if (s) return status_error(r, s, s == LIR_EINVAL ? "resource history: the server runs without a monitor" : "");
    json_t *a = json_array();
    for (int32_t i = 0; i < n; i++) {
        json_t *j = usage_json(&v[i]);
        if (j) json_array_append_new(a, j);
    }
    lir_runtime_free(v);
    return ok_json(r, json_pack("{sI so}", "period_ms", (json_int_t)ms, "samples", a));
}

static json_t *alerts_json(const struct lir_alert_config *c) {
    return json_pack("{sf sf sf sf sf}", "ram_percent", (double)c->ram_percent, "vram_percent", (double)c->vram_percent,
                     "cpu_percent", (double)c->cpu_percent, "gpu_percent", (double)c->gpu_percent,
                     "hysteresis_percent", (double)c->hysteresis_percent);
}

static int alerts(struct srv_req *q, struct srv_resp *r, bool put) {
    lir_runtime *rt = srv_runtime(q->srv);
    struct lir_alert_config c;
    enum lir_status s = lir_runtime_get_alerts(rt, &c);
    if (s) return status_error(r, s, "cannot read the alert configuration");
    if (put) {
        json_t *o = srv_body_object(q, r);
        if (!o) return r->status;
        bool bad = false;
        double d;
        static const char *keys[] = { "ram_percent", "vram_percent", "cpu_percent", "gpu_percent", "hysteresis_percent" };
        float *dst[] = { &c.ram_percent, &c.vram_percent, &c.cpu_percent, &c.gpu_percent, &c.hysteresis_percent };
        for (int k = 0; k < 5 && !bad; k++)
            if (srv_get_num(o, keys[k], 0, 100, &d, r, API, &bad)) *dst[k] = (float)d;
        json_decref(o);
        if (bad) return r->status;
        char err[512] = "";
        if ((s = lir_runtime_set_alerts(rt, &c, err, sizeof err))) return status_error(r, s, err);
        lir_runtime_get_alerts(rt, &c);
    }
    return ok_json(r, alerts_json(&c));
}

static int profiler(struct srv_req *q, struct srv_resp *r) {
    const char *f = MHD_lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, "format");
    bool csv = f && !strcmp(f, "csv");
    if (f && !csv && strcmp(f, "json"))
        return srv_error(r, API, 400, "invalid_value", "format", "format: json or csv");
    char *text = NULL;
    size_t len = 0;
    enum lir_status s = lir_runtime_profile_export(srv_runtime(q->srv), csv ? LIR_EXPORT_CSV : LIR_EXPORT_JSON, &text, &len);
    if (s) return status_error(r, s, s == LIR_ETIER ? "profiling needs the Enterprise tier" : "");
    r->status = 200;
    r->text = strdup(text);
    lir_runtime_free(text);
    if (!r->text) return srv_error(r, API, 500, "internal_error", NULL, "out of memory");
    r->content_type = csv ? "text/csv; charset=utf-8" : NULL;
    return 200;
}

static int metrics(struct srv_req *q, struct srv_resp *r) {
    char *text = lir__metrics_text(srv_metrics(q->srv), srv_runtime(q->srv), srv_inflight(q->srv));
    if (!text) return srv_error(r, API, 500, "internal_error", NULL, "out of memory");
    r->status = 200;
    r->text = text;
    r->content_type = "text/plain; version=0.0.4; charset=utf-8";
    return 200;
}

static json_t *context_json(const struct lir_context_usage *u) {
    return json_pack("{ss si si si sf sI sI}", "loaded_model_id", u->loaded_model_id, "max_context_size",
                     u->max_context_size, "used_tokens", u->used_tokens, "available_tokens", u->available_tokens,
                     "usage_percent", (double)u->usage_percent, "kv_cache_bytes", (json_int_t)u->kv_cache_bytes,
                     "kv_cache_capacity_bytes", (json_int_t)u->kv_cache_capacity_bytes);
}

static json_t *snapshot_json(const struct lir_snapshot_entry *e) {
    return json_pack("{ss ss ss ss si sI sI}", "id", e->id, "name", e->name, "loaded_model_id", e->loaded_model_id,
                     "model_fingerprint", e->model_fingerprint, "token_count", e->token_count, "size_bytes",
                     (json_int_t)e->size_bytes, "created_at_ms", (json_int_t)e->created_at_ms);
}

/* models/{id}/context[/clear|/truncate] and models/{id}/snapshots[/{name}[/restore]]; id "active" =
 * the active model. */
static int context_routes(struct srv_req *q, struct srv_resp *r, const char *lid, const char *act) {
    lir_runtime *rt = srv_runtime(q->srv);
    const char *id = !strcmp(lid, "active") ? NULL : lid;
    bool get = !strcmp(q->method, "GET"), post = !strcmp(q->method, "POST"), del = !strcmp(q->method, "DELETE");
    char err[512] = "";
    enum lir_status s;
    struct lir_context_usage u;
    if (!strcmp(act, "context") && get) {
        if ((s = lir_runtime_context_status(rt, id, &u, err, sizeof err))) return status_error(r, s, err);
        return ok_json(r, context_json(&u));
    }
    if (!strcmp(act, "context/clear") && post) {
        if ((s = lir_runtime_context_clear(rt, id, err, sizeof err))) return status_error(r, s, err);
        if ((s = lir_runtime_context_status(rt, id, &u, err, sizeof err))) return status_error(r, s, err);
        return ok_json(r, context_json(&u));
    }
    if (!strcmp(act, "context/truncate") && post) {
        json_t *o = srv_body_object(q, r);
        if (!o) return r->status;
        bool bad = false;
        int64_t keep = 0, n_keep = -1;
        bool has = srv_get_int(o, "keep_tokens", 0, INT32_MAX, &keep, r, API, &bad);
        if (!bad) srv_get_int(o, "n_keep", -1, INT32_MAX, &n_keep, r, API, &bad);
        json_decref(o);
        if (bad) return r->status;
        if (!has) return srv_error(r, API, 400, "invalid_value", "keep_tokens", "keep_tokens: required (an integer >= 0)");
        if ((s = lir_runtime_context_truncate(rt, id, (int32_t)keep, (int32_t)n_keep, &u, err, sizeof err)))
            return status_error(r, s, err);
        return ok_json(r, context_json(&u));
    }
    if (!strcmp(act, "snapshots") && get) {
        struct lir_snapshot_entry *v = NULL;
        int32_t n = 0;
        if ((s = lir_runtime_snapshot_list(rt, id, &v, &n, err, sizeof err))) return status_error(r, s, err);
        json_t *a = json_array();
        for (int32_t i = 0; i < n; i++) json_array_append_new(a, snapshot_json(&v[i]));
        lir_runtime_free(v);
        return ok_json(r, json_pack("{so}", "snapshots", a));
    }
    struct lir_snapshot_entry e;
    memset(&e, 0, sizeof e);
    if (!strcmp(act, "snapshots") && post) {
        json_t *o = srv_body_object(q, r);
        if (!o) return r->status;
        bool bad = false;
        const char *name = NULL;
        if (!srv_get_str(o, "name", &name, r, API, &bad)) {
            json_decref(o);
            return bad ? r->status : srv_error(r, API, 400, "invalid_value", "name", "name: required");
        }
        s = lir_runtime_snapshot_save(rt, id, name, &e, err, sizeof err);
        json_decref(o);
        if (s) return status_error(r, s, err);
        return ok_json(r, snapshot_json(&e));
    }
    if (!strncmp(act, "snapshots/", 10)) {
        char name[LIR_SNAPSHOT_NAME_MAX];
        const char *nm = act + 10;
        size_t len = strlen(nm);
        bool restore = len > 8 && !strcmp(nm + len - 8, "/restore");
        if (restore) len -= 8;
        if (len == 0 || len >= sizeof name || memchr(nm, '/', len))
            return srv_error(r, API, 400, "invalid_value", "name", "snapshot name: 1..%d characters, no '/'",
                             LIR_SNAPSHOT_NAME_MAX - 1);
        memcpy(name, nm, len);
        name[len] = 0;
        if (restore && post) {
            if ((s = lir_runtime_snapshot_restore(rt, id, name, &e, err, sizeof err))) return status_error(r, s, err);
            return ok_json(r, snapshot_json(&e));
        }
        if (!restore && del) {
            if ((s = lir_runtime_snapshot_delete(rt, name, err, sizeof err))) return status_error(r, s, err);
            return ok_json(r, json_pack("{sb}", "ok", 1));
        }
    }
    return 0;
}

int lir__manage_handle(struct srv_req *q, struct srv_resp *r) {
    const char *p = q->path, *m = q->method;
    bool get = !strcmp(m, "GET"), post = !strcmp(m, "POST");
    if (!strcmp(p, "/metrics")) return get ? metrics(q, r) : 0;
    if (strncmp(p, "/lir/v1/", 8)) return 0;
    p += 8;
    if (!strcmp(p, "models/installed")) return get ? installed(q, r) : 0;
    if (!strcmp(p, "models/loaded")) return get ? loaded(q, r) : 0;
    if (!strcmp(p, "models/load")) return post ? load(q, r, false) : 0;
    if (!strcmp(p, "models/unload-all")) {
        if (!post) return 0;
        enum lir_status s = lir_runtime_unload_all(srv_runtime(q->srv));
        return s ? status_error(r, s, "unload-all failed") : ok_json(r, json_pack("{sb}", "ok", 1));
    }
    if (!strcmp(p, "resources")) return get ? resources(q, r) : 0;
    if (!strcmp(p, "resources/check")) return post ? load(q, r, true) : 0;
    if (!strcmp(p, "resources/history")) return get ? history(q, r) : 0;
    if (!strcmp(p, "alerts")) return get || !strcmp(m, "PUT") ? alerts(q, r, !get) : 0;
    if (!strcmp(p, "events")) return get ? events(q, r) : 0;
    if (!strcmp(p, "profiler")) return get ? profiler(q, r) : 0;
    if (!strncmp(p, "models/", 7)) {
        /* models/{id}[/action...] */
        const char *id = p + 7;
        const char *slash = strchr(id, '/');
        char lid[LIR_ID_LEN + 8];
        size_t idn = slash ? (size_t)(slash - id) : strlen(id);
        if (idn == 0 || idn >= sizeof lid) return srv_error(r, API, 404, "not_found", NULL, "no loaded model '%.*s'",
                                                           (int)(idn > 64 ? 64 : idn), id);
        memcpy(lid, id, idn);
        lid[idn] = 0;
        const char *act = slash ? slash + 1 : "";
        lir_runtime *rt = srv_runtime(q->srv);
        enum lir_status s;
        if (!strcmp(act, "") && get) {
            struct lir_loaded_model lm;
            if ((s = lir_runtime_get_loaded(rt, lid, &lm))) return status_error(r, s, "no such loaded model");
            return ok_json(r, lir__json_loaded(&lm));
        }
        if (!strcmp(act, "unload") && post) {
            if ((s = lir_runtime_unload(rt, lid))) return status_error(r, s, "no such loaded model");
            return ok_json(r, json_pack("{sb}", "ok", 1));
        }
        if (!strcmp(act, "activate") && post) {
            if ((s = lir_runtime_set_active(rt, lid))) return status_error(r, s, "no such loaded model");
            return ok_json(r, json_pack("{sb}", "ok", 1));
        }
        if (!strncmp(act, "context", 7) || !strncmp(act, "snapshots", 9)) return context_routes(q, r, lid, act);
    }
    return 0;
}
