/* static.c — the dashboard of `lir serve`: serves the web page embedded in the binary (web/…
 * and uPlot, turned into a C array at build time by cmake/embed.cmake) at / and /static/…, with
 * content types, ETag / If-None-Match (304) and cache headers, and the live resource stream
 * (GET /lir/v1/resources/live, SSE) that feeds the page's resources panel once a second. */
#include "server/static.h"
#include "server/server.h"
#include "util/util.h"

#include <microhttpd.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- static files */

const struct lir__web_asset *lir__web_asset_find(const char *path) {
    if (!path) return NULL;
    if (!strcmp(path, "/") || !strcmp(path, "/index.html")) path = "/static/index.html";
    for (int i = 0; i < lir__web_asset_count; i++)
        if (!strcmp(lir__web_assets[i].path, path)) return &lir__web_assets[i];
    return NULL;
}

/* True when an If-None-Match header value lists etag (or is "*"). */
static bool etag_matches(const char *inm, const char *etag) {
    if (!inm) return false;
    size_t n = strlen(etag);
    for (const char *p = inm; *p;) {
        while (*p == ' ' || *p == ',') p++;
        if (!strncmp(p, "W/", 2)) p += 2;
        if (*p == '*') return true;
        if (!strncmp(p, etag, n) && (p[n] == 0 || p[n] == ',' || p[n] == ' ')) return true;
        while (*p && *p != ',') p++;
    }
    return false;
}

int lir__static_serve(struct MHD_Connection *c, const char *method, const char *path, int *ok) {
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) return 0;
    bool root = !strcmp(path, "/");
    if (root) { /* API clients asking for / keep getting the JSON status */
        const char *acc = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept");
        if (!acc || !strstr(acc, "text/html")) return 0;
    } else if (strncmp(path, "/static/", 8) && strcmp(path, "/index.html")) {
        return 0;
    }
    const struct lir__web_asset *a = lir__web_asset_find(path);
    if (!a) return 0; /* the router answers 404 */
    int status = 200;
    struct MHD_Response *resp;
    if (etag_matches(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match"), a->etag)) {
        status = 304;
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    } else {
        resp = MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    }
    if (!resp) {
        *ok = MHD_NO;
        return 500;
    }
    MHD_add_response_header(resp, "Content-Type", a->type);
    MHD_add_response_header(resp, "ETag", a->etag);
    /* the page itself is revalidated every time (a new binary may bring new files); the files it
     * loads are revalidated after an hour */
    MHD_add_response_header(resp, "Cache-Control", root || !strcmp(a->path, "/static/index.html")
                                                       ? "no-cache" : "public, max-age=3600");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    *ok = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return status;
}

/* ---------------------------------------------------------------- live resources (SSE) */

struct live {
    lir__server *srv;
    int fd;
    int64_t interval_ms;
    uint64_t next_ns;             /* when the next event is due */
    char *buf;                    /* bytes not yet sent: buf[off..len) */
    size_t len, off;
};

/* The system's page cache ("Cached:" of /proc/meminfo) in bytes; 0 where unknown. */
static uint64_t cached_bytes(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Cached: %llu kB", &kb) == 1) break;
    fclose(f);
    return (uint64_t)kb * 1024u;
}

/* One "resources" event as text (malloc'd), NULL on failure. */
static char *live_event(lir__server *s) {
    lir_runtime *rt = srv_runtime(s);
    struct lir_resource_usage u;
    if (lir_runtime_resource_usage(rt, &u)) return NULL;
    char *txt = NULL;
    if (lir_resource_usage_json(&u, &txt)) return NULL;
    json_t *j = json_loads(txt, 0, NULL);
    lir_runtime_free(txt);
    if (!j) return NULL;
    int32_t inflight = srv_inflight(s);
    int32_t queued = inflight - u.active_requests;
    json_object_set_new(j, "cached_ram_bytes", json_integer((json_int_t)cached_bytes()));
    json_object_set_new(j, "inflight_requests", json_integer(inflight));
    json_object_set_new(j, "queued_requests", json_integer(queued > 0 ? queued : 0));
    struct lir_loaded_model *v = NULL;
    int32_t n = 0;
    json_t *models = json_array();
    double ttft_sum = 0, ttft_n = 0;
    if (!lir_runtime_list_loaded(rt, &v, &n)) {
        for (int32_t i = 0; i < n; i++) {
            json_array_append_new(models, lir__json_loaded(&v[i]));
            if (v[i].metrics.total_requests > 0) {
                ttft_sum += v[i].metrics.average_ttft_ms * (double)v[i].metrics.total_requests;
                ttft_n += (double)v[i].metrics.total_requests;
            }
        }
        lir_runtime_free(v);
    }
    json_object_set_new(j, "models", models);
    json_object_set_new(j, "avg_ttft_ms", json_real(ttft_n > 0 ? ttft_sum / ttft_n : 0));
    struct lir_loaded_model act;
    json_object_set_new(j, "active_id", lir_runtime_get_active(rt, &act) ? json_null() : json_string(act.id));
    char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!body) return NULL;
    size_t bn = strlen(body);
    char *ev = malloc(bn + 32);
    if (ev) snprintf(ev, bn + 32, "event: resources\ndata: %s\n\n", body);
    free(body);
    return ev;
}

static ssize_t live_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    struct live *l = cls;
    for (;;) {
        if (l->off < l->len) {
            size_t n = l->len - l->off < max ? l->len - l->off : max;
            memcpy(buf, l->buf + l->off, n);
            l->off += n;
            return (ssize_t)n;
        }
        if (srv_stopping(l->srv) || srv_client_gone(l->fd)) return MHD_CONTENT_READER_END_WITH_ERROR;
        uint64_t now = lir__now_ns();
        if (now >= l->next_ns) {
            free(l->buf);
            l->buf = live_event(l->srv);
            if (!l->buf) l->buf = strdup("event: error\ndata: {\"message\":\"cannot read the resource usage\"}\n\n");
            if (!l->buf) return MHD_CONTENT_READER_END_WITH_ERROR;
            l->len = strlen(l->buf);
            l->off = 0;
            l->next_ns += (uint64_t)l->interval_ms * 1000000u;
            if (l->next_ns < now) l->next_ns = now + (uint64_t)l->interval_ms * 1000000u; /* fell behind */
            continue;
        }
        /* wait in short steps so that a stopping server or a gone client is noticed */
        uint64_t wait = l->next_ns - now;
        if (wait > 100000000u) wait = 100000000u;
        struct timespec ts = { 0, (long)wait };
        nanosleep(&ts, NULL);
    }
}

static void live_free(void *cls) {
    struct live *l = cls;
    free(l->buf);
    free(l);
}

int lir__live_handle(struct srv_req *q, struct srv_resp *r) {
    if (strcmp(q->path, "/lir/v1/resources/live")) return 0;
    if (strcmp(q->method, "GET")) return 0;
    int64_t interval = 1000;
    const char *iv = MHD_lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, "interval_ms");
    if (iv) {
        char *end;
        long long x = strtoll(iv, &end, 10);
        if (end == iv || *end || x < 100 || x > 60000)
            return srv_error(r, API_LIR, 400, "invalid_value", "interval_ms",
                             "interval_ms: '%.40s' is not an integer in [100, 60000]", iv);
        interval = x;
    }
    struct live *l = calloc(1, sizeof *l);
    if (!l) return srv_error(r, API_LIR, 500, "internal_error", NULL, "out of memory");
    l->srv = q->srv;
    l->fd = q->client_fd;
    l->interval_ms = interval;
    l->next_ns = lir__now_ns(); /* the first event at once */
    r->status = 200;
    r->read = live_read;
    r->read_free = live_free;
    r->read_cls = l;
    r->content_type = "text/event-stream";
    return 200;
}
