/* cmd_stats.c — `lir stats`: what the store remembers (spec §4.1): per-model request statistics
 * (requests, tokens, time, tok/s average and peak, TTFT and total time P50/P95/P99 ± std dev)
 * and a resource summary, over a period, from <data dir>/lir.db.
 *
 *   lir stats [--period 1h] [--data-dir D] [--json | --csv]
 *     --period: N followed by s, m, h or d (1h by default), or "all".
 *     --data-dir: default $XDG_DATA_HOME/lir (~/.local/share/lir), where `lir serve` keeps it.
 *     --json: {"period_ms", "since_ms", "models":[profile], "requests":[record], "resources":
 *             {"samples", "cpu_usage_percent":{avg,max}, "system_ram_used_bytes":{avg,max}}}
 *             (field names = include/lir.h struct fields); --csv: one line per request.
 * Exit 0; 1 when there is no store or it cannot be read; 2 for usage errors. */
#include "cli/cli.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* "90s", "30m", "1h", "7d" in ms; -1 = not a period */
static int64_t parse_period(const char *s) {
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || v <= 0 || v > 100000) return -1;
    int64_t unit = !strcmp(end, "s") ? 1000 : !strcmp(end, "m") ? 60000 : !strcmp(end, "h") ? 3600000
                 : !strcmp(end, "d") ? 86400000 : -1;
    return unit < 0 ? -1 : v * unit;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int lir_cli_stats(int argc, char **argv) {
    const char *period_s = "1h", *dir = NULL;
    bool json = false, csv = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--period") && i + 1 < argc) period_s = argv[++i];
        else if (!strcmp(a, "--data-dir") && i + 1 < argc) dir = argv[++i];
        else if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--csv")) csv = true;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            puts("usage: lir stats [--period 1h|30m|7d|all] [--data-dir D] [--json | --csv]");
            return 0;
        } else lir_cli_die(2, "stats: unknown or incomplete argument '%s' (see lir stats --help)", a);
    }
    if (json && csv) lir_cli_die(2, "stats: --json and --csv are exclusive");
    int64_t period = !strcmp(period_s, "all") ? 0 : parse_period(period_s);
    if (period < 0) lir_cli_die(2, "stats: --period '%s' is not N followed by s, m, h or d (e.g. 1h), or all", period_s);
    char dbuf[4096];
    if (!dir) {
        if (lir_data_dir_default(dbuf, sizeof dbuf)) lir_cli_die(1, "stats: no data directory (set HOME or --data-dir)");
        dir = dbuf;
    }
    lir_store *st = NULL;
    char err[512] = "";
    if (lir_store_open(dir, &st, err, sizeof err)) lir_cli_die(1, "stats: %s", err);
    int64_t now = now_ms(), since = period ? now - period : 0;
    struct lir_model_profile *m = NULL;
    struct lir_request_record *r = NULL;
    struct lir_resource_usage *h = NULL;
    int32_t nm = 0, nr = 0, nh = 0;
    enum lir_status s = lir_store_profiles(st, since, &m, &nm);
    if (!s) s = lir_store_records(st, since, &r, &nr);
    /* resources: 1 s rows for a day or less, else minutes */
    if (!s) s = lir_store_history(st, since, now, period && period <= 86400000 ? 1 : 60, &h, &nh);
    lir_store_close(st);
    if (s) lir_cli_die(1, "stats: reading the store in %s: %s", dir, lir_status_str(s));
    double cpu_sum = 0, cpu_max = 0, ram_sum = 0, ram_max = 0;
    for (int32_t i = 0; i < nh; i++) {
        cpu_sum += h[i].cpu_usage_percent;
        ram_sum += (double)h[i].system_ram_used_bytes;
        if (h[i].cpu_usage_percent > cpu_max) cpu_max = h[i].cpu_usage_percent;
        if ((double)h[i].system_ram_used_bytes > ram_max) ram_max = (double)h[i].system_ram_used_bytes;
    }
    char *out = NULL;
    if (csv || json) {
        if (lir_profiles_export(m, nm, r, nr, csv ? LIR_EXPORT_CSV : LIR_EXPORT_JSON, &out, NULL))
            lir_cli_die(1, "stats: out of memory");
    }
    if (csv) {
        fputs(out, stdout);
    } else if (json) {
        json_t *root = json_loads(out, 0, NULL);
        if (!root) lir_cli_die(1, "stats: internal JSON error");
        json_object_set_new(root, "period_ms", json_integer(period));
        json_object_set_new(root, "since_ms", json_integer(since));
        json_object_set_new(root, "resources",
                            json_pack("{s:i,s:{s:f,s:f},s:{s:f,s:f}}", "samples", nh, "cpu_usage_percent", "avg",
                                      nh ? cpu_sum / nh : 0.0, "max", cpu_max, "system_ram_used_bytes", "avg",
                                      nh ? ram_sum / nh : 0.0, "max", ram_max));
        char *txt = json_dumps(root, JSON_COMPACT);
        if (!txt) lir_cli_die(1, "stats: out of memory");
        puts(txt);
        free(txt);
        json_decref(root);
    } else {
        printf("lir stats - %s - %s%s - %d requests on %d models\n\n", dir, period ? "last " : "",
               period ? period_s : "all time", nr, nm);
        if (nm) printf("%-24s %6s %8s %9s %9s %9s %21s %21s\n", "MODEL", "REQ", "TOKENS", "TOK/S", "PEAK", "TTFT avg",
                       "TTFT p50/p95/p99 ms", "TOTAL p50/p95/p99 ms");
        for (int32_t i = 0; i < nm; i++) {
            char t1[64], t2[64];
            snprintf(t1, sizeof t1, "%.0f/%.0f/%.0f", m[i].ttft_ms.p50, m[i].ttft_ms.p95, m[i].ttft_ms.p99);
            snprintf(t2, sizeof t2, "%.0f/%.0f/%.0f", m[i].total_ms.p50, m[i].total_ms.p95, m[i].total_ms.p99);
            printf("%-24.24s %6lld %8lld %9.1f %9.1f %9.1f %21s %21s\n", m[i].model_name[0] ? m[i].model_name : m[i].loaded_model_id,
                   (long long)m[i].requests, (long long)m[i].completion_tokens, (double)m[i].average_tokens_per_second,
                   (double)m[i].peak_tokens_per_second, m[i].average_ttft_ms, t1, t2);
            printf("%-24s tok/s std dev %.1f, TTFT std dev %.1f ms, total std dev %.1f ms\n", "",
                   m[i].tokens_per_second.stddev, m[i].ttft_ms.stddev, m[i].total_ms.stddev);
        }
        if (nh)
            printf("\nresources: %d samples, CPU avg %.1f%% max %.1f%%, RAM used avg %.2f GiB max %.2f GiB\n", nh,
                   cpu_sum / nh, cpu_max, ram_sum / nh / (1 << 30), ram_max / (1 << 30));
        else printf("\nresources: no samples in the period\n");
    }
    free(out);
    lir_runtime_free(m);
    lir_runtime_free(r);
    lir_runtime_free(h);
    return 0;
}
