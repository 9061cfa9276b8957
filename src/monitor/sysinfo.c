/* sysinfo.c — readers of /proc for the monitor and the runtime: system memory, CPU tick
 * counters of the machine and of this process, resident set. Each opens, reads, closes; no
 * state, so any thread may call them. */
#include "monitor/monitor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

uint64_t lir__sys_meminfo(const char *field) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    uint64_t v = 0;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, field, n) && line[n] == ':') {
            v = strtoull(line + n + 1, NULL, 10) * 1024;
            break;
        }
    fclose(f);
    return v;
}

bool lir__sys_cpu(uint64_t *total, uint64_t *idle) {
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return false;
    unsigned long long v[8] = { 0 };
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                   &v[7]);
    fclose(f);
    if (n < 4) return false;
    *total = 0;
    for (int i = 0; i < 8; i++) *total += v[i];
    *idle = v[3] + v[4]; /* idle + iowait */
    return true;
}

uint64_t lir__sys_proc_ticks(void) {
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f) return 0;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* the name may hold spaces and ')' */
    if (!p) return 0;
    unsigned long long ut = 0, st = 0;
    /* fields after the name: state(3) ... utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return 0;
    return ut + st;
}

uint64_t lir__sys_rss(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long long sz = 0, rss = 0;
    int n = fscanf(f, "%llu %llu", &sz, &rss);
    fclose(f);
    return n == 2 ? rss * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

void lir__sys_read(struct lir__mon_raw *raw) {
    memset(raw, 0, sizeof *raw);
    raw->ram_total = lir__sys_meminfo("MemTotal");
    raw->ram_available = lir__sys_meminfo("MemAvailable");
    raw->process_rss = lir__sys_rss();
    raw->proc_ticks = lir__sys_proc_ticks();
    raw->cpu_ok = lir__sys_cpu(&raw->cpu_total, &raw->cpu_idle);
    raw->n_gpus = lir__nvml_read(raw->gpus, LIR_MAX_GPUS);
}
