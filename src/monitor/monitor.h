/* monitor.h — the resource monitor (spec §2.2 IInferenceResourceMonitor, §3.4): a thread that
 * samples the system (/proc, NVML) and the runtime every interval, keeps the last minutes of
 * samples in a ring, delivers each sample to live subscribers, and raises alert events with
 * hysteresis. It knows nothing of the runtime: what it needs comes through hooks, so tests can
 * drive it with an injected clock and injected readings (lir__mon_sample_now without a thread).
 *
 * Locking: m->mu guards the ring, the alert configuration and state, the CPU counters of the
 * previous sample; m->sub_mu guards the subscriber list; m->deliver_mu is held while a sample is
 * delivered to subscribers (unsubscribe waits on it). No hook and no callback runs under mu. */
#ifndef LIR_MONITOR_H
#define LIR_MONITOR_H

#include <stdbool.h>
#include <stdint.h>
#include "lir.h"
#include "util/util.h"

/* What the system says at one instant. CPU values are cumulative counters (/proc/stat ticks);
 * the monitor turns two of them into percentages. */
struct lir__mon_raw {
    uint64_t ram_total, ram_available, process_rss;
    bool cpu_ok;
    uint64_t cpu_total, cpu_idle, proc_ticks;
    int32_t n_gpus;
    struct lir_gpu_usage gpus[LIR_MAX_GPUS];
};

struct lir__mon_hooks {
    void *user;                                 /* borrowed, passed to every hook */
    /* System readings; NULL = /proc and NVML (lir__sys_read). */
    void (*read_system)(void *user, struct lir__mon_raw *raw);
    /* The runtime's share: active_models, active_requests, models_ram_bytes,
     * current_tokens_per_second, gpus[].vram_held_bytes. NULL = none. */
    void (*collect)(void *user, struct lir_resource_usage *u);
    /* A ResourceAlert event to emit (seq/timestamp are the emitter's). NULL = dropped. */
    void (*emit)(void *user, const struct lir_event *ev);
    /* Every sample, on the monitor thread after subscribers (the store's downsampler). NULL = none. */
    void (*on_sample)(void *user, const struct lir_resource_usage *u);
    /* Unix ms for timestamps; NULL = the system clock. */
    int64_t (*now_ms)(void *user);
};

struct lir__mon_params {
    int32_t interval_ms;        /* 10..60000 */
    int32_t history_seconds;    /* 1..86400 */
    struct lir_alert_config alerts;
    bool start_thread;          /* false: samples only through lir__mon_sample_now (tests) */
    struct lir__mon_hooks hooks;
};

typedef struct lir__mon lir__mon;

/* Validates p (messages name the field and range), allocates the ring, reads the first CPU
 * counters and starts the thread if asked. Returns LIR_OK, LIR_EINVAL, LIR_ENOMEM. */
enum lir_status lir__mon_create(const struct lir__mon_params *p, lir__mon **out, lir_err *e);
/* Stops and joins the thread, frees m. Accepts NULL. */
void lir__mon_destroy(lir__mon *m);
/* Takes one sample now: reads, computes, stores it in the ring, checks alerts, delivers. */
void lir__mon_sample_now(lir__mon *m);
/* The latest sample; false when none has been taken yet. */
bool lir__mon_current(lir__mon *m, struct lir_resource_usage *out);
/* Samples with timestamp >= now - period_ms, oldest first (malloc'd; NULL when *n is 0).
 * *covered: the ring spans the whole period (history_seconds * 1000 >= period_ms). */
enum lir_status lir__mon_history(lir__mon *m, int64_t period_ms, struct lir_resource_usage **out, int32_t *n,
                                 bool *covered);
enum lir_status lir__mon_subscribe(lir__mon *m, lir_usage_fn fn, void *user, int64_t *id);
enum lir_status lir__mon_unsubscribe(lir__mon *m, int64_t id);
/* Validates (LIR_EINVAL naming the field) and installs cfg; alert states are reset. */
enum lir_status lir__mon_set_alerts(lir__mon *m, const struct lir_alert_config *cfg, lir_err *e);
void lir__mon_get_alerts(lir__mon *m, struct lir_alert_config *out);
enum lir_status lir__alert_config_check(const struct lir_alert_config *cfg, lir_err *e);
/* CPU time (ns) the monitor thread has used since it started; 0 without a thread. */
uint64_t lir__mon_thread_cpu_ns(lir__mon *m);

/* ---- sysinfo.c: /proc readers shared with the runtime */
uint64_t lir__sys_meminfo(const char *field);       /* a /proc/meminfo field in bytes, 0 if absent */
bool lir__sys_cpu(uint64_t *total, uint64_t *idle);  /* /proc/stat "cpu" line, ticks */
uint64_t lir__sys_proc_ticks(void);                 /* utime + stime of this process, ticks */
uint64_t lir__sys_rss(void);                        /* resident set of this process, bytes */
/* Everything lir__mon_raw holds, from /proc and NVML. */
void lir__sys_read(struct lir__mon_raw *raw);

/* ---- nvml.c: GPUs through libnvidia-ml.so.1 loaded at run time */
/* Fills up to max GPUs; returns how many (0: no library, no driver or no GPU — not an error).
 * Loads and initialises NVML once per process; thread-safe. */
int32_t lir__nvml_read(struct lir_gpu_usage *gpus, int32_t max);

#endif
