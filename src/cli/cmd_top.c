/* cmd_top.c — `lir top`: a live terminal view of models, RAM/CPU/GPU use, throughput, TTFT and
 * resource alerts, as `top`/`nvtop` show them.
 *
 *   lir top [--interval MS] [--once] [--count N] [--json] [--local] [--data-dir D]
 *     Source: the running server at $LIR_HOST (GET /lir/v1/resources and /lir/v1/models/loaded,
 *     JSON field names = include/lir.h struct fields; its ResourceAlert events from the SSE stream
 *     GET /lir/v1/events while the view runs); with none there (or --local), this machine
 *     in-process (a runtime with its monitor: resources only, no models).
 *     --interval: refresh period, 100..1000 ms (default 1000: at least once a second).
 *     On a terminal: full-screen, refreshed until q, Esc or Ctrl-C (the terminal is restored).
 *     --once, or stdout not a terminal: plain frames, no escapes; --once prints one and exits,
 *     otherwise --count N frames (default: until killed). --json (with --once): one JSON object
 *     {"source", "resources", "models", "alerts"}. --data-dir (in-process only): the samples
 *     are also kept in D's store (as `lir serve --data-dir` keeps them; see `lir stats`).
 * Exit 0; 1 when the server answers with an error; 2 for usage errors. */
#include "cli/cli.h"

#include <curl/curl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- the server */

/* GET base+path as JSON (lir_cli_request, 1 s to connect, 5 s in all): 0 ok (*out set), 1 no
 * server, 2 error (err says why). */
static int get_json(const char *base, const char *path, json_t **out, char *err, size_t err_len) {
    enum lir_cli_reply r = lir_cli_request(base, path, NULL, 1000L, 5L, out, err, err_len);
    return r == LIR_CLI_REPLY_OK ? 0 : r == LIR_CLI_NO_SERVER ? 1 : 2;
}

static int64_t jint(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : (int64_t)json_number_value(v);
}
static double jnum(json_t *o, const char *k) { return json_number_value(json_object_get(o, k)); }
static void jstr(json_t *o, const char *k, char *buf, size_t n) {
    const char *s = json_string_value(json_object_get(o, k));
    snprintf(buf, n, "%s", s ? s : "");
}

static void parse_usage(json_t *j, struct lir_resource_usage *u) {
    memset(u, 0, sizeof *u);
    u->timestamp_ms = jint(j, "timestamp_ms");
    u->system_ram_bytes = (uint64_t)jint(j, "system_ram_bytes");
    u->system_ram_used_bytes = (uint64_t)jint(j, "system_ram_used_bytes");
    u->process_ram_bytes = (uint64_t)jint(j, "process_ram_bytes");
    u->models_ram_bytes = (uint64_t)jint(j, "models_ram_bytes");
    u->cpu_usage_percent = (float)jnum(j, "cpu_usage_percent");
    u->process_cpu_percent = (float)jnum(j, "process_cpu_percent");
    u->active_models = (int32_t)jint(j, "active_models");
    u->active_requests = (int32_t)jint(j, "active_requests");
    u->current_tokens_per_second = (float)jnum(j, "current_tokens_per_second");
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(j, "gpus"), i, g) {
        if (u->n_gpus >= LIR_MAX_GPUS) break;
        struct lir_gpu_usage *d = &u->gpus[u->n_gpus++];
        d->id = (int32_t)jint(g, "id");
        jstr(g, "name", d->name, sizeof d->name);
        d->vram_total_bytes = (uint64_t)jint(g, "vram_total_bytes");
        d->vram_used_bytes = (uint64_t)jint(g, "vram_used_bytes");
        d->vram_held_bytes = (uint64_t)jint(g, "vram_held_bytes");
        d->utilization_percent = (float)jnum(g, "utilization_percent");
        d->temperature_c = (float)jnum(g, "temperature_c");
        d->power_w = (float)jnum(g, "power_w");
    }
}

static void parse_model(json_t *j, struct lir_loaded_model *m) {
    memset(m, 0, sizeof *m);
    jstr(j, "id", m->id, sizeof m->id);
    json_t *mm = json_object_get(j, "model");
    jstr(mm, "name", m->model.name, sizeof m->model.name);
    json_t *st = json_object_get(j, "status");
    if (json_is_integer(st)) m->status = (enum lir_loaded_status)json_integer_value(st);
    else {
        const char *s = json_string_value(st);
        for (int k = 0; s && k <= LIR_LOADED_ERROR; k++)
            if (!strcasecmp(s, lir_loaded_status_str((enum lir_loaded_status)k))) m->status = (enum lir_loaded_status)k;
    }
    m->active_requests = (int32_t)jint(j, "active_requests");
    json_t *mt = json_object_get(j, "metrics");
    m->metrics.total_requests = jint(mt, "total_requests");
    m->metrics.total_tokens_generated = jint(mt, "total_tokens_generated");
    m->metrics.average_tokens_per_second = (float)jnum(mt, "average_tokens_per_second");
    m->metrics.peak_tokens_per_second = (float)jnum(mt, "peak_tokens_per_second");
    m->metrics.average_ttft_ms = jnum(mt, "average_ttft_ms");
    json_t *rs = json_object_get(j, "resources");
    m->resources.ram_bytes = (uint64_t)jint(rs, "ram_bytes");
    m->resources.vram_bytes = (uint64_t)jint(rs, "vram_bytes");
    m->resources.context_size = (int32_t)jint(rs, "context_size");
    m->resources.context_used = (int32_t)jint(rs, "context_used");
}

/* ---------------------------------------------------------------- state of one frame */

#define MAX_ALERTS 5
struct view {
    bool remote;
    char source[700];
    struct lir_resource_usage u;
    struct lir_loaded_model *models;
    int32_t n_models;
    pthread_mutex_t mu;          /* alerts arrive on the runtime's event thread */
    struct lir_event alerts[MAX_ALERTS];
    int n_alerts;
};

static void push_alert(struct view *v, const struct lir_event *ev) {
    pthread_mutex_lock(&v->mu);
    if (v->n_alerts == MAX_ALERTS) memmove(v->alerts, v->alerts + 1, (MAX_ALERTS - 1) * sizeof v->alerts[0]);
    else v->n_alerts++;
    v->alerts[v->n_alerts - 1] = *ev;
    pthread_mutex_unlock(&v->mu);
}

static void on_event(const struct lir_event *ev, void *user) {
    if (ev->type == LIR_EVENT_RESOURCE_ALERT) push_alert(user, ev);
}

/* ---------------------------------------------------------------- a server's alerts (SSE) */

struct sse {
    struct view *v;
    char url[700];
    char line[8192];
    size_t len;
    atomic_int stop;            /* set by the main thread; the transfer aborts on its next progress call */
};

static void sse_line(struct sse *x, const char *line) {
    if (strncmp(line, "data: ", 6)) return;
    json_t *j = json_loads(line + 6, 0, NULL);
    const char *type = json_string_value(json_object_get(j, "type"));
    if (type && !strcmp(type, "ResourceAlert")) {
        struct lir_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = LIR_EVENT_RESOURCE_ALERT;
        ev.timestamp_ms = jint(j, "timestamp_ms");
        ev.usage_percent = (float)jnum(j, "usage_percent");
        const char *r = json_string_value(json_object_get(j, "resource"));
        for (int k = LIR_RESOURCE_RAM; r && k <= LIR_RESOURCE_CPU; k++)
            if (!strcmp(r, lir_resource_type_str((enum lir_resource_type)k))) ev.resource = (enum lir_resource_type)k;
        jstr(j, "message", ev.message, sizeof ev.message);
        push_alert(x->v, &ev);
    }
    json_decref(j);
}

static size_t sse_data(char *d, size_t sz, size_t nm, void *user) {
    struct sse *x = user;
    size_t n = sz * nm;
    for (size_t i = 0; i < n; i++) {
        if (d[i] == '\n') {
            x->line[x->len] = 0;
            sse_line(x, x->line);
            x->len = 0;
        } else if (x->len + 1 < sizeof x->line) {
            x->line[x->len++] = d[i];
        }
    }
    return atomic_load(&x->stop) ? 0 : n;
}

static int sse_progress(void *user, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d) {
    (void)a, (void)b, (void)c, (void)d;
    return atomic_load(&((struct sse *)user)->stop) ? 1 : 0;
}

static void *sse_main(void *arg) {
    struct sse *x = arg;
    CURL *c = curl_easy_init();
    if (!c) return NULL;
    curl_easy_setopt(c, CURLOPT_URL, x->url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sse_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, sse_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_perform(c); /* until the view ends (or the server goes: no more alerts then) */
    curl_easy_cleanup(c);
    return NULL;
}

/* Refreshes v from the server or the runtime: 0 ok, else exits on a server error. */
static void refresh(struct view *v, lir_runtime *rt, const char *base) {
    free(v->models);
    v->models = NULL;
    v->n_models = 0;
    if (rt) {
        lir_runtime_resource_usage(rt, &v->u);
        lir_runtime_list_loaded(rt, &v->models, &v->n_models);
        return;
    }
    char err[512] = "";
    json_t *j = NULL;
    int r = get_json(base, "/lir/v1/resources", &j, err, sizeof err);
    if (r == 1) lir_cli_die(1, "the server at %s went away", base);
    if (r) lir_cli_die(1, "%s", err);
    parse_usage(j, &v->u);
    json_decref(j);
    r = get_json(base, "/lir/v1/models/loaded", &j, err, sizeof err);
    if (r) lir_cli_die(1, "%s", r == 1 ? "the server went away" : err);
    json_t *arr = json_is_array(j) ? j : json_object_get(j, "models");
    if (!json_is_array(arr)) arr = json_object_get(j, "data");
    size_t n = json_array_size(arr);
    if (n) {
        v->models = calloc(n, sizeof *v->models);
        if (!v->models) lir_cli_die(1, "out of memory");
        for (size_t i = 0; i < n; i++) parse_model(json_array_get(arr, i), &v->models[i]);
        v->n_models = (int32_t)n;
    }
    json_decref(j);
}

/* ---------------------------------------------------------------- drawing */

static void fmt_bytes(char *buf, size_t n, uint64_t b) {
    if (b >= (1ull << 30)) snprintf(buf, n, "%.1f GiB", (double)b / (1ull << 30));
    else if (b >= (1ull << 20)) snprintf(buf, n, "%.1f MiB", (double)b / (1ull << 20));
    else snprintf(buf, n, "%.0f KiB", (double)b / 1024);
}

static void bar(FILE *f, double pct, int width, bool color) {
    if (pct < 0) pct = 0;
    if (pct > 100) pct = 100;
    int fill = (int)(pct / 100.0 * width + 0.5);
    const char *c = !color ? "" : pct >= 90 ? "\x1b[31m" : pct >= 70 ? "\x1b[33m" : "\x1b[32m";
    fprintf(f, "[%s", c);
    for (int i = 0; i < width; i++) fputc(i < fill ? '|' : ' ', f);
    fprintf(f, "%s]", color ? "\x1b[0m" : "");
}

static void draw(FILE *f, struct view *v, bool tty, int interval_ms) {
    const struct lir_resource_usage *u = &v->u;
    char ts[32] = "";
    time_t t = u->timestamp_ms ? (time_t)(u->timestamp_ms / 1000) : time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%H:%M:%S", &tm);
    if (tty) fputs("\x1b[H\x1b[2J", f);
    fprintf(f, "lir top - %s - %s - every %d ms%s\n", v->source, ts, interval_ms, tty ? " - q to quit" : "");
    fprintf(f, "CPU  ");
    bar(f, u->cpu_usage_percent, 40, tty);
    fprintf(f, " %5.1f%%  lir %.1f%% of all CPUs\n", (double)u->cpu_usage_percent, (double)u->process_cpu_percent);
    double ram_pct = u->system_ram_bytes ? 100.0 * (double)u->system_ram_used_bytes / (double)u->system_ram_bytes : 0;
    char a[32], b[32], c[32], d[32];
    fmt_bytes(a, sizeof a, u->system_ram_used_bytes);
    fmt_bytes(b, sizeof b, u->system_ram_bytes);
    fmt_bytes(c, sizeof c, u->process_ram_bytes);
    fmt_bytes(d, sizeof d, u->models_ram_bytes);
    fprintf(f, "RAM  ");
    bar(f, ram_pct, 40, tty);
    fprintf(f, " %5.1f%%  %s / %s  lir %s  models %s\n", ram_pct, a, b, c, d);
    if (u->n_gpus == 0) fprintf(f, "GPU  none (no NVIDIA driver or GPU)\n");
    for (int32_t g = 0; g < u->n_gpus; g++) {
        const struct lir_gpu_usage *x = &u->gpus[g];
        double vp = x->vram_total_bytes ? 100.0 * (double)x->vram_used_bytes / (double)x->vram_total_bytes : 0;
        fmt_bytes(a, sizeof a, x->vram_used_bytes);
        fmt_bytes(b, sizeof b, x->vram_total_bytes);
        fmt_bytes(c, sizeof c, x->vram_held_bytes);
        fprintf(f, "GPU%d %s\n     VRAM ", x->id, x->name);
        bar(f, vp, 35, tty);
        fprintf(f, " %5.1f%%  %s / %s  models %s\n     util ", vp, a, b, c);
        bar(f, x->utilization_percent, 35, tty);
        fprintf(f, " %5.1f%%  %.0f C  %.0f W\n", (double)x->utilization_percent, (double)x->temperature_c,
                (double)x->power_w);
    }
    fprintf(f, "Models %d  requests %d  %.1f tok/s now\n\n", u->active_models, u->active_requests,
            (double)u->current_tokens_per_second);
    fprintf(f, "%-8s %-24s %-9s %4s %6s %9s %9s %10s %13s %10s\n", "ID", "NAME", "STATUS", "REQ", "DONE", "TOK/S",
            "PEAK", "TTFT ms", "CTX", "RAM");
    if (v->n_models == 0) fprintf(f, "(no models loaded)\n");
    for (int32_t i = 0; i < v->n_models; i++) {
        const struct lir_loaded_model *m = &v->models[i];
        char ctx[32];
        snprintf(ctx, sizeof ctx, "%d/%d", m->resources.context_used, m->resources.context_size);
        fmt_bytes(a, sizeof a, m->resources.ram_bytes);
        fprintf(f, "%-8.8s %-24.24s %-9s %4d %6lld %9.1f %9.1f %10.1f %13s %10s\n", m->id, m->model.name,
                lir_loaded_status_str(m->status), m->active_requests, (long long)m->metrics.total_requests,
                (double)m->metrics.average_tokens_per_second, (double)m->metrics.peak_tokens_per_second,
                m->metrics.average_ttft_ms, ctx, a);
    }
    pthread_mutex_lock(&v->mu);
    if (v->n_alerts) fprintf(f, "\nAlerts:\n");
    for (int i = v->n_alerts - 1; i >= 0; i--) {
        time_t at = (time_t)(v->alerts[i].timestamp_ms / 1000);
        localtime_r(&at, &tm);
        strftime(ts, sizeof ts, "%H:%M:%S", &tm);
        fprintf(f, "  %s %s %s\n", ts, lir_resource_type_str(v->alerts[i].resource), v->alerts[i].message);
    }
    pthread_mutex_unlock(&v->mu);
    if (!tty) fputc('\n', f);
    fflush(f);
}

static void print_json(struct view *v) {
    char *uj = NULL;
    if (lir_resource_usage_json(&v->u, &uj)) lir_cli_die(1, "out of memory");
    json_t *root = json_object();
    json_object_set_new(root, "source", json_string(v->remote ? "server" : "local"));
    json_object_set_new(root, "resources", json_loads(uj, 0, NULL));
    lir_runtime_free(uj);
    json_t *ms = json_array();
    for (int32_t i = 0; i < v->n_models; i++) {
        const struct lir_loaded_model *m = &v->models[i];
        json_array_append_new(ms, json_pack("{s:s,s:{s:s},s:s,s:i,s:{s:I,s:f,s:f},s:{s:I,s:i,s:i}}", "id", m->id,
                                            "model", "name", m->model.name, "status", lir_loaded_status_str(m->status),
                                            "active_requests", m->active_requests, "metrics", "total_requests",
                                            (json_int_t)m->metrics.total_requests, "average_tokens_per_second",
                                            (double)m->metrics.average_tokens_per_second, "average_ttft_ms",
                                            m->metrics.average_ttft_ms, "resources", "ram_bytes",
                                            (json_int_t)m->resources.ram_bytes, "context_size",
                                            m->resources.context_size, "context_used", m->resources.context_used));
    }
    json_object_set_new(root, "models", ms);
    json_t *al = json_array();
    pthread_mutex_lock(&v->mu);
    for (int i = 0; i < v->n_alerts; i++)
        json_array_append_new(al, json_pack("{s:s,s:f,s:s}", "resource", lir_resource_type_str(v->alerts[i].resource),
                                            "usage_percent", (double)v->alerts[i].usage_percent, "message",
                                            v->alerts[i].message));
    pthread_mutex_unlock(&v->mu);
    json_object_set_new(root, "alerts", al);
    char *s = json_dumps(root, JSON_COMPACT);
    if (!s) lir_cli_die(1, "out of memory");
    puts(s);
    free(s);
    json_decref(root);
}

/* ---------------------------------------------------------------- terminal */

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { (void)sig; g_stop = 1; }

static struct termios g_saved;
static bool g_raw, g_screen;
/* Puts the terminal back (keys, cursor, main screen); once, from the loop's end or atexit. */
static void term_restore(void) {
    if (g_raw) tcsetattr(STDIN_FILENO, TCSANOW, &g_saved);
    g_raw = false;
    if (g_screen) {
        fputs("\x1b[?25h\x1b[?1049l", stdout); /* cursor back, main screen back */
        fflush(stdout);
    }
    g_screen = false;
}

int lir_cli_top(int argc, char **argv) {
    int interval = 1000;
    long count = -1;
    bool once = false, json = false, local = false;
    const char *data_dir = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--interval") && i + 1 < argc) interval = (int)lir_cli_arg_long(a, argv[++i], 100, 1000);
        else if ((!strcmp(a, "--count") || !strcmp(a, "-n")) && i + 1 < argc) count = lir_cli_arg_long(a, argv[++i], 1, 1000000);
        else if (!strcmp(a, "--once")) once = true;
        else if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--local")) local = true;
        else if (!strcmp(a, "--data-dir") && i + 1 < argc) data_dir = argv[++i];
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            puts("usage: lir top [--interval MS (100..1000)] [--once] [--count N] [--json] [--local] [--data-dir D]\n"
                 "  the running server at $LIR_HOST, else this machine in-process; q or Ctrl-C quits");
            return 0;
        } else lir_cli_die(2, "top: unknown or incomplete argument '%s' (see lir top --help)", a);
    }
    if (json && !once) lir_cli_die(2, "top: --json needs --once");
    bool tty = !once && isatty(STDOUT_FILENO);
    struct view v;
    memset(&v, 0, sizeof v);
    pthread_mutex_init(&v.mu, NULL);
    char base[600];
    lir_cli_server_url(base, sizeof base);
    lir_runtime *rt = NULL;
    if (!local) {
        json_t *j = NULL;
        char err[512] = "";
        int r = get_json(base, "/lir/v1/resources", &j, err, sizeof err);
        json_decref(j);
        if (r == 2) lir_cli_die(1, "%s", err);
        v.remote = r == 0;
    }
    if (v.remote && data_dir) lir_cli_die(2, "top: --data-dir is for the in-process view (the server keeps its own store)");
    static struct sse sse; /* large line buffer: not on the stack */
    sse.v = &v;
    pthread_t sse_thread;
    bool sse_started = false;
    if (v.remote) {
        snprintf(v.source, sizeof v.source, "server %s", base);
        snprintf(sse.url, sizeof sse.url, "%s/lir/v1/events", base);
        if (!once) sse_started = pthread_create(&sse_thread, NULL, sse_main, &sse) == 0;
    } else {
        struct lir_runtime_params p = lir_runtime_params_default();
        p.monitor_interval_ms = interval < 250 ? interval : 250;
        p.data_dir = data_dir;
        char err[512] = "";
        if (lir_runtime_create(&p, &rt, err, sizeof err)) lir_cli_die(1, "%s", err);
        int64_t sub;
        lir_runtime_subscribe(rt, on_event, &v, &sub);
        snprintf(v.source, sizeof v.source, "this machine (no server at %s)", base);
        /* CPU percentages need two samples */
        struct timespec ts = { 0, (long)(2 * p.monitor_interval_ms + 20) * 1000000L };
        nanosleep(&ts, NULL);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    bool keys = tty && isatty(STDIN_FILENO);
    if (tty) {
        if (keys && !tcgetattr(STDIN_FILENO, &g_saved)) {
            struct termios raw = g_saved;
            raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
            raw.c_cc[VMIN] = 0;
            raw.c_cc[VTIME] = 0;
            g_raw = !tcsetattr(STDIN_FILENO, TCSANOW, &raw);
        }
        fputs("\x1b[?1049h\x1b[?25l", stdout); /* alternate screen, hidden cursor */
        g_screen = true;
        atexit(term_restore);
    }
    for (long frame = 0; !g_stop; frame++) {
        refresh(&v, rt, base);
        if (json) print_json(&v);
        else draw(stdout, &v, tty, interval);
        if (once || (count > 0 && frame + 1 >= count)) break;
        /* wait for the next frame, or a key */
        struct pollfd pf = { .fd = STDIN_FILENO, .events = POLLIN };
        int64_t waited = 0;
        while (!g_stop && waited < interval) {
            int r = poll(keys ? &pf : NULL, keys ? 1 : 0, 50);
            waited += 50;
            if (r > 0 && (pf.revents & POLLIN)) {
                char ch;
                if (read(STDIN_FILENO, &ch, 1) == 1 && (ch == 'q' || ch == 'Q' || ch == 27 || ch == 3)) g_stop = 1;
            }
        }
    }
    if (tty) term_restore();
    if (sse_started) { /* the transfer notices within a second (libcurl's progress calls) */
        atomic_store(&sse.stop, 1);
        pthread_join(sse_thread, NULL);
    }
    free(v.models);
    lir_runtime_destroy(rt);
    pthread_mutex_destroy(&v.mu);
    return 0;
}
