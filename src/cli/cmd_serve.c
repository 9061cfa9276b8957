/* cmd_serve.c — `lir serve`: the OpenAI- and Ollama-compatible HTTP server (src/server/) over a
 * runtime of the models directory, until SIGINT/SIGTERM.
 *
 *   lir serve [--host H] [--port P] [--models-dir D] [--api-key K] [--cors-origin O ...]
 *             [--max-body BYTES] [--max-queue N] [--timeout S] [--idle-timeout S] [--parallel N]
 *             [--data-dir D | --no-store] [--quiet]
 *     address: --host/--port, else $LIR_HOST ("http://127.0.0.1:7373", "0.0.0.0:7373", "::1"),
 *     else 127.0.0.1:7373; --port 0 picks a free port. A host beyond loopback needs an API key
 *     (--api-key or $LIR_API_KEY). Models: lir_cli_models_dir (--models-dir, $LIR_MODELS, ./models,
 *     ~/.local/share/lir/models). The store (history, metrics, events; `lir stats` reads it) and the
 *     snapshots live in --data-dir (default $XDG_DATA_HOME/lir, ~/.local/share/lir); --no-store keeps
 *     history in memory only.
 *     Prints "lir serve: listening on http://HOST:PORT" on stdout once ready; one line per
 *     request on stderr (unless --quiet).
 * Exit 0 after a signal, 1 when it cannot start, 2 usage. */
#include "cli/cli.h"
#include "server/server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { (void)sig; g_stop = 1; }

static void log_line(void *user, const char *line) {
    (void)user;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%02d:%02d:%02d.%03ld %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, line);
}

/* "http://host:port", "host:port", "[v6]:port", "host", ":port" into host (cap bytes) and *port. */
static void parse_host_env(const char *v, char *host, size_t cap, int32_t *port) {
    if (!strncmp(v, "http://", 7)) v += 7;
    else if (!strncmp(v, "https://", 8)) lir_cli_die(2, "LIR_HOST: https is not served (put a TLS proxy in front)");
    char buf[256];
    if (strlen(v) >= sizeof buf) lir_cli_die(2, "LIR_HOST: too long");
    memcpy(buf, v, strlen(v) + 1);
    char *slash = strchr(buf, '/');
    if (slash) *slash = 0;
    char *p = NULL;
    if (buf[0] == '[') { /* [v6]:port */
        char *e = strchr(buf, ']');
        if (!e) lir_cli_die(2, "LIR_HOST: '%s' has no closing ]", v);
        *e = 0;
        if (e[1] == ':') p = e + 2;
        snprintf(host, cap, "%.255s", buf + 1);
    } else {
        char *c = strrchr(buf, ':');
        if (c && strchr(buf, ':') == c) { /* one colon: host:port (several: a bare IPv6 address) */
            *c = 0;
            p = c + 1;
        }
        if (buf[0]) snprintf(host, cap, "%.255s", buf);
    }
    if (p && *p) *port = (int32_t)lir_cli_arg_long("LIR_HOST port", p, 0, 65535);
}

int lir_cli_serve(int argc, char **argv) {
    struct lir__server_params sp = lir__server_params_default();
    char host[256] = "127.0.0.1";
    int32_t port = LIR_SERVER_DEFAULT_PORT;
    const char *env = getenv("LIR_HOST");
    if (env && *env) parse_host_env(env, host, sizeof host, &port);
    const char *dir = NULL, *key = getenv("LIR_API_KEY"), *data_dir = NULL;
    bool quiet = false, no_store = false;
    int32_t parallel = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool has = v != NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            puts("usage: lir serve [--host H] [--port P] [--models-dir D] [--api-key K] [--cors-origin O ...]\n"
                 "                 [--max-body BYTES] [--max-queue N] [--timeout S] [--idle-timeout S] [--quiet]\n"
                 "  OpenAI (/v1/...), Ollama (/api/...) and management (/lir/v1/..., /metrics) HTTP API.\n"
                 "  address: --host/--port, else $LIR_HOST, else 127.0.0.1:7373 (--port 0: any free port);\n"
                 "  beyond loopback an API key is required (--api-key or $LIR_API_KEY; clients send\n"
                 "  Authorization: Bearer K). Models: GGUF files under D ($LIR_MODELS, ./models,\n"
                 "  ~/.local/share/lir/models).\n"
                 "  --cors-origin O  allow browser requests from origin O (repeatable; * = any); off by default\n"
                 "  --max-body       request body limit (default 8388608 bytes; larger: 413)\n"
                 "  --max-queue      generation/embedding requests in flight (default 256; more: 503)\n"
                 "  --timeout        seconds per request, queueing included (default 600)\n"
                 "  --idle-timeout   seconds a connection may stay silent (default 30)\n"
                 "  --parallel N     sequences decoded together per loaded model (default 4)\n"
                 "  --data-dir D     store (lir.db) and snapshots (default ~/.local/share/lir); --no-store: none");
            return 0;
        }
        if (!strcmp(a, "--quiet")) { quiet = true; continue; }
        if (!strcmp(a, "--no-store")) { no_store = true; continue; }
        if (!has) lir_cli_die(2, "%s needs a value", a);
        if (!strcmp(a, "--host")) {
            if (strlen(v) >= sizeof host) lir_cli_die(2, "--host: too long");
            snprintf(host, sizeof host, "%s", v);
        } else if (!strcmp(a, "--port") || !strcmp(a, "-p")) port = (int32_t)lir_cli_arg_long(a, v, 0, 65535);
        else if (!strcmp(a, "--models-dir") || !strcmp(a, "--dir")) dir = v;
        else if (!strcmp(a, "--api-key")) key = v;
        else if (!strcmp(a, "--cors-origin")) {
            if (sp.n_cors >= LIR_SERVER_MAX_CORS) lir_cli_die(2, "--cors-origin: at most %d", LIR_SERVER_MAX_CORS);
            sp.cors_origins[sp.n_cors++] = v;
        } else if (!strcmp(a, "--max-body")) sp.max_body = (size_t)lir_cli_arg_long(a, v, 1024, 1L << 32);
        else if (!strcmp(a, "--max-queue")) sp.max_queue = (int32_t)lir_cli_arg_long(a, v, 1, 1000000);
        else if (!strcmp(a, "--timeout")) sp.timeout_s = (int32_t)lir_cli_arg_long(a, v, 1, 86400 * 7);
        else if (!strcmp(a, "--idle-timeout")) sp.idle_timeout_s = (int32_t)lir_cli_arg_long(a, v, 1, 86400);
        else if (!strcmp(a, "--parallel")) parallel = (int32_t)lir_cli_arg_long(a, v, 1, 64);
        else if (!strcmp(a, "--data-dir")) data_dir = v;
        else lir_cli_die(2, "serve: unexpected argument '%s'", a);
        i++;
    }
    char dbuf[4096], ddir[4096], snaps[4200];
    dir = lir_cli_models_dir(dir, dbuf, sizeof dbuf);
    if (!data_dir && !no_store) {
        if (lir_data_dir_default(ddir, sizeof ddir)) lir_cli_die(1, "no data directory (set --data-dir, or HOME)");
        data_dir = ddir;
    }
    struct lir_runtime_params rp = lir_runtime_params_default();
    rp.models_dir = dir;
    if (parallel) rp.parallel = parallel;
    if (data_dir && !no_store) {
        rp.data_dir = data_dir;
        snprintf(snaps, sizeof snaps, "%s/snapshots", data_dir);
        rp.snapshots_dir = snaps;
    }
    lir_runtime *rt = NULL;
    char err[512] = "";
    if (lir_runtime_create(&rp, &rt, err, sizeof err)) lir_cli_die(1, "%s", err);
    sp.rt = rt;
    sp.host = host;
    sp.port = port;
    sp.api_key = key;
    sp.log = quiet ? NULL : log_line;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    lir__server *srv = NULL;
    enum lir_status s = lir__server_start(&sp, &srv, err, sizeof err);
    if (s) {
        lir_runtime_destroy(rt);
        lir_cli_die(s == LIR_EINVAL ? 2 : 1, "%s", err);
    }
    printf("lir serve: listening on http://%s%s%s:%d (models: %s)\n", strchr(host, ':') ? "[" : "", host,
           strchr(host, ':') ? "]" : "", lir__server_port(srv), dir);
    fflush(stdout);
    while (!g_stop) {
        struct timespec ts = { 0, 100 * 1000000L };
        nanosleep(&ts, NULL);
    }
    if (!quiet) log_line(NULL, "stopping");
    lir__server_stop(srv);
    lir_runtime_destroy(rt);
    return 0;
}
