/* monitor_overhead.c — the resource monitor's cost (spec §9: < 1% CPU at a 100 ms interval).
 *
 * Two measurements, each over SECONDS (default 10) of wall time:
 *   1. the monitor thread's own CPU time (/proc/self/task/<tid>/schedstat, nanoseconds; the
 *      thread is named "lir-monitor"), idle runtime and during generation: percent of one core;
 *   2. the same generation workload (the default model, greedy, one thread, back-to-back
 *      requests) with the monitor on (100 ms) and off: tokens/s of each and process CPU time
 *      per generated token.
 * Prints one JSON line. Usage: monitor_overhead MODEL [SECONDS]. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include "lir.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double proc_cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* CPU ns of the thread named name, 0 if none */
static unsigned long long thread_cpu_ns(const char *name) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return 0;
    struct dirent *e;
    unsigned long long ns = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[128], comm[64] = "";
        snprintf(p, sizeof p, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(p, "r");
        if (!f) continue;
        if (!fgets(comm, sizeof comm, f)) comm[0] = 0;
        fclose(f);
        comm[strcspn(comm, "\n")] = 0;
        if (strcmp(comm, name)) continue;
        snprintf(p, sizeof p, "/proc/self/task/%s/schedstat", e->d_name);
        if ((f = fopen(p, "r"))) {
            if (fscanf(f, "%llu", &ns) != 1) ns = 0;
            fclose(f);
        }
    }
    closedir(d);
    return ns;
}

struct run { double tok_s, cpu_per_tok_ms, mon_core_pct, wall; long tokens; };

static struct run workload(const char *model, double seconds, int monitor_ms, bool generate) {
    struct lir_runtime_params p = lir_runtime_params_default();
    p.monitor_interval_ms = monitor_ms;
    p.ram_alert_percent = 0;
    lir_runtime *rt = NULL;
    char err[512];
    if (lir_runtime_create(&p, &rt, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    struct lir_load_options o = lir_load_options_default();
    o.context_size = 512;
    o.threads = 1;
    char id[LIR_ID_LEN];
    if (generate && lir_runtime_load(rt, model, &o, NULL, NULL, id, NULL, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    struct lir_generate_request q = lir_generate_request_default();
    q.model = id;
    q.prompt = "And God said unto Moses,";
    q.sampling.max_tokens = 128;
    q.sampling.temperature = 0;
    unsigned long long m0 = thread_cpu_ns("lir-monitor");
    double c0 = proc_cpu_s(), t0 = now_s();
    long tokens = 0;
    while (now_s() - t0 < seconds) {
        if (generate) {
            struct lir_generate_result r;
            if (lir_runtime_generate(rt, &q, &r, err, sizeof err)) {
                fprintf(stderr, "%s\n", err);
                exit(1);
            }
            tokens += r.usage.completion_tokens;
            lir_generate_result_clear(&r);
        } else {
            struct timespec ts = { 0, 100000000 };
            nanosleep(&ts, NULL);
        }
    }
    struct run out;
    out.wall = now_s() - t0;
    double cpu = proc_cpu_s() - c0;
    unsigned long long m1 = thread_cpu_ns("lir-monitor");
    out.tokens = tokens;
    out.tok_s = tokens / out.wall;
    out.cpu_per_tok_ms = tokens ? cpu * 1e3 / tokens : 0;
    out.mon_core_pct = 100.0 * (double)(m1 - m0) / 1e9 / out.wall;
    lir_runtime_destroy(rt);
    return out;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: monitor_overhead MODEL [SECONDS]\n");
        return 2;
    }
    double secs = argc > 2 ? atof(argv[2]) : 10;
    struct run idle = workload(argv[1], secs, 100, false);
    struct run on = workload(argv[1], secs, 100, true);
    struct run off = workload(argv[1], secs, 0, true);
    struct run on2 = workload(argv[1], secs, 100, true); /* A/B/A: drift on a shared machine shows */
    printf("{\"seconds\":%.1f,\"idle_monitor_core_pct\":%.4f,\"busy_monitor_core_pct\":[%.4f,%.4f],"
           "\"tok_s_on\":[%.2f,%.2f],\"tok_s_off\":%.2f,\"cpu_ms_per_token_on\":[%.4f,%.4f],\"cpu_ms_per_token_off\":%.4f}\n",
           secs, idle.mon_core_pct, on.mon_core_pct, on2.mon_core_pct, on.tok_s, on2.tok_s, off.tok_s,
           on.cpu_per_tok_ms, on2.cpu_per_tok_ms, off.cpu_per_tok_ms);
    return 0;
}
