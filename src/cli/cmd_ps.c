/* cmd_ps.c — `lir ps`, `lir load`, `lir unload`: the models loaded on a running server, through
 * its Ollama-compatible endpoints (libcurl), as `ollama ps` / `ollama stop` do; without a server,
 * what can be done in-process.
 *
 *   The server: $LIR_HOST ("http://127.0.0.1:7373", "0.0.0.0:7373", "myhost"; 0.0.0.0 means this
 *   machine; default 127.0.0.1:7373, port 7373 when none is given).
 *   lir ps [--json]          GET /api/ps: NAME, ID, SIZE, PROCESSOR, UNTIL. --json: {"server":URL,
 *                            "models":[the server's entries]}. No server: "no server running at
 *                            URL; nothing loaded" (--json: "server": null, "models": []), exit 0.
 *   lir load MODEL [--ctx N] [--threads N] [--batch N] [--gpu-layers N] [--keep-alive D]
 *            [--models-dir D] [--json]
 *                            POST /api/generate {"model", "keep_alive", "options"} without a
 *                            prompt: the server loads the model (Ollama's way). D: "5m", "1h",
 *                            "-1" (never unload), "0", or seconds. No server: the model is checked
 *                            against free memory and loaded in-process, the timing and memory are
 *                            reported, and it is unloaded when the command exits (a server keeps it).
 *   lir unload MODEL | --all [--json]
 *                            POST /api/generate {"model", "keep_alive": 0} for MODEL, or for every
 *                            model of GET /api/ps. No server: nothing is loaded: exit 1, saying so.
 * Errors: one line on stderr (the server's message for HTTP errors), exit 1; usage exit 2. */
#include "cli/cli.h"
#include "util/util.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- the server */

static void human_bytes(char *buf, size_t n, double v) {
    static const char *const u[] = { "B", "KB", "MB", "GB", "TB" };
    int i = 0;
    while (v >= 1000.0 && i < 4) v /= 1000.0, i++;
    snprintf(buf, n, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

static const char *str_of(json_t *o, const char *k, const char *def) {
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : def;
}

/* ---------------------------------------------------------------- lir ps */

int lir_cli_ps(int argc, char **argv) {
    bool json = false;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = true;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            puts("usage: lir ps [--json]\n"
                 "  the models loaded on the running server ($LIR_HOST, default 127.0.0.1:7373)");
            return 0;
        } else lir_cli_die(2, "ps: unexpected argument '%s' (lir ps --help)", argv[i]);
    }
    char base[600], err[1024];
    lir_cli_server_url(base, sizeof base);
    json_t *r = NULL;
    enum lir_cli_reply rp = lir_cli_request(base, "/api/ps", NULL, 2000L, 10, &r, err, sizeof err);
    if (rp == LIR_CLI_REPLY_ERROR) lir_cli_die(1, "%s", err);
    if (rp == LIR_CLI_NO_SERVER) {
        if (json) puts("{\"server\":null,\"models\":[]}");
        else printf("no server running at %s; nothing loaded (start one with `lir serve`)\n", base);
        return 0;
    }
    json_t *models = json_object_get(r, "models");
    if (!json_is_array(models)) lir_cli_die(1, "%s/api/ps: the reply has no \"models\" array", base);
    if (json) {
        json_t *o = json_pack("{s:s,s:O}", "server", base, "models", models);
        char *d = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (!d) lir_cli_die(1, "out of memory");
        puts(d);
        free(d);
        json_decref(o);
    } else {
        printf("%-32s %-14s %-10s %-12s %s\n", "NAME", "ID", "SIZE", "PROCESSOR", "UNTIL");
        size_t i;
        json_t *m;
        json_array_foreach(models, i, m) {
            char size[32], proc[32];
            double sz = json_number_value(json_object_get(m, "size"));
            double vram = json_number_value(json_object_get(m, "size_vram"));
            human_bytes(size, sizeof size, sz);
            if (vram <= 0) snprintf(proc, sizeof proc, "100%% CPU");
            else if (vram >= sz) snprintf(proc, sizeof proc, "100%% GPU");
            else snprintf(proc, sizeof proc, "%.0f%%/%.0f%% CPU/GPU", 100.0 * (sz - vram) / sz, 100.0 * vram / sz);
            const char *digest = str_of(m, "digest", "");
            printf("%-32s %-14.12s %-10s %-12s %s\n", str_of(m, "name", str_of(m, "model", "?")), digest, size, proc,
                   str_of(m, "expires_at", "Forever"));
        }
    }
    json_decref(r);
    return 0;
}

/* ---------------------------------------------------------------- lir load */

/* Ollama's keep_alive: a number of seconds, or a duration string ("5m", "-1", "0s"). */
static json_t *keep_alive_json(const char *v) {
    char *end;
    long long x = strtoll(v, &end, 10);
    if (!*end && end != v) return json_integer(x);
    return json_string(v);
}

/* milliseconds of a keep-alive value, for the in-process report; -1 = never; dies when unreadable */
static int64_t keep_alive_ms(const char *v) {
    char *end;
    double x = strtod(v, &end);
    if (end == v) lir_cli_die(2, "--keep-alive: '%s' is not a duration (e.g. 5m, 1h, 30s, 0, -1)", v);
    if (x < 0) return LIR_KEEP_ALIVE_NEVER;
    double mul = !*end || !strcmp(end, "s") ? 1e3 : !strcmp(end, "ms") ? 1 : !strcmp(end, "m") ? 60e3
               : !strcmp(end, "h") ? 3600e3 : -1;
    if (mul < 0) lir_cli_die(2, "--keep-alive: unknown unit in '%s' (ms, s, m, h)", v);
    return (int64_t)(x * mul);
}

static int progress_bar(float p, void *user) {
    (void)user;
    int w = 30, k = (int)(p * (float)w + 0.5f);
    fprintf(stderr, "\rloading [%.*s%*s] %3d%%", k, "##############################", w - k, "", (int)(p * 100.0f + 0.5f));
    fflush(stderr);
    return 0;
}

static void mib(char *buf, size_t n, uint64_t b) { snprintf(buf, n, "%.1f MiB", (double)b / (1 << 20)); }

int lir_cli_load(int argc, char **argv) {
    const char *model = NULL, *dir_flag = NULL, *keep = NULL;
    int32_t n_ctx = 0, n_threads = 0, n_batch = 0, gpu_layers = LIR_GPU_LAYERS_ALL;
    bool json = false, gpu_given = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            puts("usage: lir load MODEL [--ctx N] [--threads N] [--batch N] [--gpu-layers N] [--keep-alive D]\n"
                 "                [--models-dir D] [--json]\n"
                 "  loads MODEL on the running server ($LIR_HOST, default 127.0.0.1:7373); keep-alive D: 5m, 1h,\n"
                 "  -1 (never unload), 0, or seconds. Without a server: checks it against free memory, loads it\n"
                 "  in-process and reports timing and memory (it is unloaded when the command exits)");
            return 0;
        }
        if (!strcmp(a, "--models-dir")) { if (!v) lir_cli_die(2, "%s needs a value", a); dir_flag = v; i++; }
        else if (!strcmp(a, "--keep-alive")) { if (!v) lir_cli_die(2, "%s needs a value", a); keep = v; keep_alive_ms(v); i++; }
        else if (!strcmp(a, "--ctx") || !strcmp(a, "-c")) { n_ctx = (int32_t)lir_cli_arg_long(a, v, 1, 1 << 24); i++; }
        else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) { n_threads = (int32_t)lir_cli_arg_long(a, v, 1, 1024); i++; }
        else if (!strcmp(a, "--batch") || !strcmp(a, "-b")) { n_batch = (int32_t)lir_cli_arg_long(a, v, 1, 65536); i++; }
        else if (!strcmp(a, "--gpu-layers") || !strcmp(a, "-ngl")) { gpu_layers = (int32_t)lir_cli_arg_long(a, v, -1, 100000); gpu_given = true; i++; }
        else if (!strcmp(a, "--json")) json = true;
        else if (a[0] == '-' && a[1]) lir_cli_die(2, "load: unknown option '%s' (lir load --help)", a);
        else if (!model) model = a;
        else lir_cli_die(2, "load: unexpected argument '%s'", a);
    }
    if (!model) lir_cli_die(2, "load: no model given (lir load MODEL)");
    char base[600], err[1024];
    lir_cli_server_url(base, sizeof base);
    json_t *opts = json_object(), *req = json_object();
    if (!opts || !req) lir_cli_die(1, "out of memory");
    if (n_ctx) json_object_set_new(opts, "num_ctx", json_integer(n_ctx));
    if (n_threads) json_object_set_new(opts, "num_thread", json_integer(n_threads));
    if (n_batch) json_object_set_new(opts, "num_batch", json_integer(n_batch));
    if (gpu_given) json_object_set_new(opts, "num_gpu", json_integer(gpu_layers));
    json_object_set_new(req, "model", json_string(model));
    json_object_set_new(req, "stream", json_false());
    if (keep) json_object_set_new(req, "keep_alive", keep_alive_json(keep));
    if (json_object_size(opts)) json_object_set(req, "options", opts);
    json_decref(opts);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!body) lir_cli_die(1, "out of memory");
    json_t *r = NULL;
    uint64_t t0 = lir__now_ns();
    enum lir_cli_reply rp = lir_cli_request(base, "/api/generate", body, 2000L, 600, &r, err, sizeof err);
    free(body);
    if (rp == LIR_CLI_REPLY_ERROR) lir_cli_die(1, "load '%s': %s", model, err);
    if (rp == LIR_CLI_REPLY_OK) {
        double ms = (double)(lir__now_ns() - t0) / 1e6;
        if (json) {
            json_t *o = json_pack("{s:s,s:s,s:b,s:f,s:b}", "server", base, "model", model, "loaded", 1, "duration_ms", ms,
                                  "in_process", 0);
            char *d = o ? json_dumps(o, JSON_COMPACT) : NULL;
            if (!d) lir_cli_die(1, "out of memory");
            puts(d);
            free(d);
            json_decref(o);
        } else printf("loaded %s on %s in %.2f s\n", model, base, ms / 1e3);
        json_decref(r);
        return 0;
    }

    /* no server: check and load in-process */
    char dbuf[4096];
    const char *dir = lir_cli_models_dir(dir_flag, dbuf, sizeof dbuf);
    struct lir_installed_model im;
    lir_cli_find_model(model, dir, &im);
    struct lir_runtime_params rp2 = lir_runtime_params_default();
    rp2.models_dir = dir;
    rp2.ram_alert_percent = 0;
    rp2.monitor_interval_ms = 0; /* resource usage measured at the call, after the load */
    lir_runtime *rt = NULL;
    if (lir_runtime_create(&rp2, &rt, err, sizeof err)) lir_cli_die(1, "%s", err);
    struct lir_load_options lo = lir_load_options_default();
    lo.context_size = n_ctx;
    lo.threads = n_threads;
    if (n_batch) lo.batch_size = n_batch;
    lo.gpu_layers = gpu_layers;
    if (keep) lo.keep_alive_ms = keep_alive_ms(keep);
    struct lir_resource_check rc;
    if (lir_runtime_check_resources(rt, im.path, &lo, &rc, err, sizeof err)) lir_cli_die(1, "load '%s': %s", model, err);
    char id[LIR_ID_LEN];
    bool bar = isatty(STDERR_FILENO) && !json;
    t0 = lir__now_ns();
    enum lir_status s = lir_runtime_load(rt, im.path, &lo, bar ? progress_bar : NULL, NULL, id, &rc, err, sizeof err);
    double ms = (double)(lir__now_ns() - t0) / 1e6;
    if (bar) fputs("\r\033[K", stderr);
    if (s) lir_cli_die(1, "%s", err); /* a memory refusal names what would fit */
    struct lir_loaded_model lm;
    lir_runtime_get_loaded(rt, id, &lm);
    struct lir_resource_usage ru;
    lir_runtime_resource_usage(rt, &ru);
    if (json) {
        json_t *o = json_pack("{s:n,s:s,s:s,s:b,s:f,s:{s:I,s:I,s:I},s:{s:i,s:i,s:i,s:i},s:b}", "server", "model", im.name,
                              "path", im.path, "loaded", 1, "duration_ms", ms, "memory", "ram_bytes",
                              (json_int_t)lm.resources.ram_bytes, "process_ram_bytes", (json_int_t)ru.process_ram_bytes,
                              "system_ram_available_bytes",
                              (json_int_t)(ru.system_ram_bytes - ru.system_ram_used_bytes), "options", "context_size",
                              lm.options.context_size, "batch_size", lm.options.batch_size, "threads",
                              lm.options.threads, "layers", lm.resources.loaded_layers, "in_process", 1);
        char *d = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (!d) lir_cli_die(1, "out of memory");
        puts(d);
        free(d);
        json_decref(o);
    } else {
        char a[32], b[32], c[32];
        mib(a, sizeof a, lm.resources.ram_bytes);
        mib(b, sizeof b, ru.process_ram_bytes);
        mib(c, sizeof c, ru.system_ram_bytes - ru.system_ram_used_bytes);
        printf("no server at %s: loaded %s in-process to check it\n", base, im.name);
        printf("  load time      %.2f s\n", ms / 1e3);
        printf("  context        %d tokens, batch %d, %d layers on the CPU\n", lm.options.context_size,
               lm.options.batch_size, lm.resources.cpu_layers);
        printf("  memory         %s estimated (weights, KV cache, compute); process resident %s; %s still free\n", a, b,
               c);
        printf("it is unloaded when this command exits; start `lir serve` to keep models loaded\n");
    }
    lir_runtime_destroy(rt);
    return 0;
}

/* ---------------------------------------------------------------- lir unload */

static void unload_one(const char *base, const char *model, bool json) {
    json_t *req = json_pack("{s:s,s:i,s:b}", "model", model, "keep_alive", 0, "stream", 0);
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (!body) lir_cli_die(1, "out of memory (or the name is not UTF-8)");
    char err[1024];
    json_t *r = NULL;
    enum lir_cli_reply rp = lir_cli_request(base, "/api/generate", body, 2000L, 120, &r, err, sizeof err);
    free(body);
    if (rp == LIR_CLI_NO_SERVER) lir_cli_die(1, "no server running at %s: nothing is loaded", base);
    if (rp == LIR_CLI_REPLY_ERROR) lir_cli_die(1, "unload '%s': %s", model, err);
    json_decref(r);
    if (!json) printf("unloaded %s\n", model);
}

int lir_cli_unload(int argc, char **argv) {
    const char *model = NULL;
    bool all = false, json = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            puts("usage: lir unload MODEL | --all [--json]\n"
                 "  unloads MODEL (or every model) on the running server ($LIR_HOST, default 127.0.0.1:7373)");
            return 0;
        }
        if (!strcmp(a, "--all")) all = true;
        else if (!strcmp(a, "--json")) json = true;
        else if (a[0] == '-' && a[1]) lir_cli_die(2, "unload: unknown option '%s' (lir unload --help)", a);
        else if (!model) model = a;
        else lir_cli_die(2, "unload: unexpected argument '%s'", a);
    }
    if (!model == !all) lir_cli_die(2, "unload: give a model or --all (lir unload MODEL | --all)");
    char base[600], err[1024];
    lir_cli_server_url(base, sizeof base);
    if (model) {
        unload_one(base, model, json);
        if (json) {
            json_t *o = json_pack("{s:s,s:[s]}", "server", base, "unloaded", model);
            char *d = o ? json_dumps(o, JSON_COMPACT) : NULL;
            if (d) puts(d);
            free(d);
            json_decref(o);
        }
        return 0;
    }
    json_t *r = NULL;
    enum lir_cli_reply rp = lir_cli_request(base, "/api/ps", NULL, 2000L, 10, &r, err, sizeof err);
    if (rp == LIR_CLI_NO_SERVER) lir_cli_die(1, "no server running at %s: nothing is loaded", base);
    if (rp == LIR_CLI_REPLY_ERROR) lir_cli_die(1, "%s", err);
    json_t *models = json_object_get(r, "models"), *done = json_array();
    if (!json_is_array(models)) lir_cli_die(1, "%s/api/ps: the reply has no \"models\" array", base);
    size_t i;
    json_t *m;
    json_array_foreach(models, i, m) {
        const char *name = str_of(m, "model", str_of(m, "name", NULL));
        if (!name) continue;
        unload_one(base, name, json);
        json_array_append_new(done, json_string(name));
    }
    if (json) {
        json_t *o = json_pack("{s:s,s:O}", "server", base, "unloaded", done);
        char *d = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (d) puts(d);
        free(d);
        json_decref(o);
    } else if (!json_array_size(done)) {
        printf("nothing loaded on %s\n", base);
    }
    json_decref(done);
    json_decref(r);
    return 0;
}
