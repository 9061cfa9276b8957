/* monitor.c — the sampling thread, the ring of full-resolution samples, live subscribers and
 * alerts with hysteresis. Contract and locking in monitor.h. */
#include "monitor/monitor.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct mon_sub {
    struct mon_sub *next;
    int64_t id;
    lir_usage_fn fn;
    void *user;
};

/* alert slots: the three machine-wide ones, then VRAM and utilization per GPU */
enum { SLOT_RAM, SLOT_CPU, SLOT_GPU0 };
#define N_SLOTS (SLOT_GPU0 + 2 * LIR_MAX_GPUS)

struct lir__mon {
    struct lir__mon_params p;
    pthread_mutex_t mu;
    pthread_cond_t cv;          /* CLOCK_MONOTONIC; wakes the thread to stop */
    bool stop, started;
    pthread_t thread;
    clockid_t thread_clock;
    bool thread_clock_ok;
    /* guarded by mu */
    struct lir_resource_usage *ring;
    int32_t cap, head, count;   /* head: next slot to write */
    bool have_prev;
    uint64_t prev_total, prev_idle, prev_proc;
    struct lir_alert_config alerts;
    bool alert_on[N_SLOTS];
    /* subscribers */
    pthread_mutex_t sub_mu, deliver_mu;
    struct mon_sub *subs;
    int64_t next_sub_id;
};

/* the monitor whose samples this thread is delivering now (so unsubscribe from a callback
   does not wait on itself) */
static _Thread_local lir__mon *tl_delivering;

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t now_ms(const lir__mon *m) { return m->p.hooks.now_ms ? m->p.hooks.now_ms(m->p.hooks.user) : wall_ms(); }

static void read_raw(const lir__mon *m, struct lir__mon_raw *raw) {
    if (m->p.hooks.read_system) {
        memset(raw, 0, sizeof *raw);
        m->p.hooks.read_system(m->p.hooks.user, raw);
        if (raw->n_gpus < 0) raw->n_gpus = 0;
        if (raw->n_gpus > LIR_MAX_GPUS) raw->n_gpus = LIR_MAX_GPUS;
    } else {
        lir__sys_read(raw);
    }
}

enum lir_status lir__alert_config_check(const struct lir_alert_config *c, lir_err *e) {
    const struct { const char *name; float v; } f[] = {
        { "ram_percent", c->ram_percent },   { "vram_percent", c->vram_percent },
        { "cpu_percent", c->cpu_percent },   { "gpu_percent", c->gpu_percent },
        { "hysteresis_percent", c->hysteresis_percent },
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (!(f[i].v >= 0.0f && f[i].v <= 100.0f))
            return lir__errf(e, LIR_EINVAL, "alerts: %s %g is outside [0, 100]", f[i].name, (double)f[i].v);
    return LIR_OK;
}

/* ---------------------------------------------------------------- sampling */

/* One alert slot: raise at >= thr once, re-arm below thr - hysteresis. mu held. */
static bool alert_step(lir__mon *m, int slot, float thr, float value) {
    if (!(thr > 0.0f)) {
        m->alert_on[slot] = false;
        return false;
    }
    if (m->alert_on[slot]) {
        if (value < thr - m->alerts.hysteresis_percent) m->alert_on[slot] = false;
        return false;
    }
    if (value >= thr) {
        m->alert_on[slot] = true;
        return true;
    }
    return false;
}

static void make_alert(struct lir_event *ev, enum lir_resource_type r, float value, float thr, const char *what) {
    memset(ev, 0, sizeof *ev);
    ev->type = LIR_EVENT_RESOURCE_ALERT;
    ev->resource = r;
    ev->usage_percent = value;
    snprintf(ev->message, sizeof ev->message, "%s %.1f%% used (alert at %.1f%%)", what, (double)value, (double)thr);
}

static void deliver(lir__mon *m, const struct lir_resource_usage *u) {
    pthread_mutex_lock(&m->deliver_mu);
    tl_delivering = m;
    pthread_mutex_lock(&m->sub_mu);
    int64_t last = m->next_sub_id;
    pthread_mutex_unlock(&m->sub_mu);
    /* by id, re-finding each under sub_mu: a callback may unsubscribe itself or another */
    for (int64_t id = 1; id <= last; id++) {
        lir_usage_fn fn = NULL;
        void *user = NULL;
        pthread_mutex_lock(&m->sub_mu);
        for (struct mon_sub *s = m->subs; s; s = s->next)
            if (s->id == id) {
                fn = s->fn;
                user = s->user;
            }
        pthread_mutex_unlock(&m->sub_mu);
        if (fn) fn(u, user);
    }
    tl_delivering = NULL;
    pthread_mutex_unlock(&m->deliver_mu);
}

void lir__mon_sample_now(lir__mon *m) {
    struct lir__mon_raw raw;
    read_raw(m, &raw);
    struct lir_resource_usage u;
    memset(&u, 0, sizeof u);
    u.system_ram_bytes = raw.ram_total;
    u.system_ram_used_bytes = raw.ram_total > raw.ram_available ? raw.ram_total - raw.ram_available : 0;
    u.process_ram_bytes = raw.process_rss;
    u.n_gpus = raw.n_gpus;
    memcpy(u.gpus, raw.gpus, sizeof u.gpus);
    if (m->p.hooks.collect) m->p.hooks.collect(m->p.hooks.user, &u);
    u.n_gpus = raw.n_gpus; /* the collector fills held bytes only */
    u.timestamp_ms = now_ms(m);

    struct lir_event evs[N_SLOTS];
    int n_ev = 0;
    pthread_mutex_lock(&m->mu);
    if (raw.cpu_ok && m->have_prev && raw.cpu_total > m->prev_total) {
        uint64_t dt = raw.cpu_total - m->prev_total;
        uint64_t di = raw.cpu_idle >= m->prev_idle ? raw.cpu_idle - m->prev_idle : 0;
        if (di > dt) di = dt;
        u.cpu_usage_percent = 100.0f * (float)(dt - di) / (float)dt;
        uint64_t dp = raw.proc_ticks >= m->prev_proc ? raw.proc_ticks - m->prev_proc : 0;
        u.process_cpu_percent = 100.0f * (float)dp / (float)dt; /* share of all CPUs, as /proc/stat sums them */
        if (u.process_cpu_percent > 100.0f) u.process_cpu_percent = 100.0f;
    }
    if (raw.cpu_ok) {
        m->have_prev = true;
        m->prev_total = raw.cpu_total;
        m->prev_idle = raw.cpu_idle;
        m->prev_proc = raw.proc_ticks;
    }
    m->ring[m->head] = u;
    m->head = (m->head + 1) % m->cap;
    if (m->count < m->cap) m->count++;

    const struct lir_alert_config *a = &m->alerts;
    if (u.system_ram_bytes) {
        float v = 100.0f * (float)u.system_ram_used_bytes / (float)u.system_ram_bytes;
        if (alert_step(m, SLOT_RAM, a->ram_percent, v)) make_alert(&evs[n_ev++], LIR_RESOURCE_RAM, v, a->ram_percent, "RAM");
    }
    if (alert_step(m, SLOT_CPU, a->cpu_percent, u.cpu_usage_percent))
        make_alert(&evs[n_ev++], LIR_RESOURCE_CPU, u.cpu_usage_percent, a->cpu_percent, "CPU");
    for (int32_t g = 0; g < u.n_gpus; g++) {
        const struct lir_gpu_usage *gu = &u.gpus[g];
        char what[128];
        if (gu->vram_total_bytes) {
            float v = 100.0f * (float)gu->vram_used_bytes / (float)gu->vram_total_bytes;
            if (alert_step(m, SLOT_GPU0 + 2 * g, a->vram_percent, v)) {
                snprintf(what, sizeof what, "GPU %d (%.60s) VRAM", gu->id, gu->name);
                make_alert(&evs[n_ev++], LIR_RESOURCE_VRAM, v, a->vram_percent, what);
            }
        }
        if (alert_step(m, SLOT_GPU0 + 2 * g + 1, a->gpu_percent, gu->utilization_percent)) {
            /* the spec's resource types have no "GPU compute": utilization alerts are Vram-typed
               and say so in the message */
            snprintf(what, sizeof what, "GPU %d (%.60s) utilization", gu->id, gu->name);
            make_alert(&evs[n_ev++], LIR_RESOURCE_VRAM, gu->utilization_percent, a->gpu_percent, what);
        }
    }
    pthread_mutex_unlock(&m->mu);

    for (int i = 0; i < n_ev; i++)
        if (m->p.hooks.emit) m->p.hooks.emit(m->p.hooks.user, &evs[i]);
    deliver(m, &u);
    if (m->p.hooks.on_sample) m->p.hooks.on_sample(m->p.hooks.user, &u);
}

static void *mon_main(void *arg) {
    lir__mon *m = arg;
    pthread_setname_np(pthread_self(), "lir-monitor"); /* top -H, /proc/self/task/N/comm, the overhead bench */
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    pthread_mutex_lock(&m->mu);
    while (!m->stop) {
        pthread_mutex_unlock(&m->mu);
        lir__mon_sample_now(m);
        pthread_mutex_lock(&m->mu);
        /* fixed-rate schedule; after a stall, restart from now instead of catching up */
        next.tv_nsec += (long)(m->p.interval_ms % 1000) * 1000000L;
        next.tv_sec += m->p.interval_ms / 1000 + next.tv_nsec / 1000000000L;
        next.tv_nsec %= 1000000000L;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > next.tv_sec || (now.tv_sec == next.tv_sec && now.tv_nsec > next.tv_nsec)) next = now;
        while (!m->stop && pthread_cond_timedwait(&m->cv, &m->mu, &next) != ETIMEDOUT) {}
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

/* ---------------------------------------------------------------- create / destroy */

enum lir_status lir__mon_create(const struct lir__mon_params *p, lir__mon **out, lir_err *e) {
    *out = NULL;
    if (p->interval_ms < 10 || p->interval_ms > 60000)
        return lir__errf(e, LIR_EINVAL, "monitor: monitor_interval_ms %d is outside [10, 60000] (0 = no monitor)",
                         p->interval_ms);
    if (p->history_seconds < 1 || p->history_seconds > 86400)
        return lir__errf(e, LIR_EINVAL, "monitor: history_seconds %d is outside [1, 86400]", p->history_seconds);
    enum lir_status s = lir__alert_config_check(&p->alerts, e);
    if (s) return s;
    lir__mon *m = calloc(1, sizeof *m);
    if (!m) return lir__errf(e, LIR_ENOMEM, "monitor: out of memory");
    m->p = *p;
    m->alerts = p->alerts;
    int64_t cap = (int64_t)p->history_seconds * 1000 / p->interval_ms;
    m->cap = (int32_t)(cap < 2 ? 2 : cap);
    m->ring = calloc((size_t)m->cap, sizeof *m->ring);
    if (!m->ring) {
        free(m);
        return lir__errf(e, LIR_ENOMEM, "monitor: out of memory for %d samples of history", (int)cap);
    }
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&m->sub_mu, NULL);
    pthread_mutex_init(&m->deliver_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cv, &ca);
    pthread_condattr_destroy(&ca);
    m->next_sub_id = 0;
    if (p->start_thread) {
        if (pthread_create(&m->thread, NULL, mon_main, m)) {
            lir__mon_destroy(m);
            return lir__errf(e, LIR_ENOMEM, "monitor: cannot start the sampling thread");
        }
        m->started = true;
        m->thread_clock_ok = pthread_getcpuclockid(m->thread, &m->thread_clock) == 0;
    }
    *out = m;
    return LIR_OK;
}

void lir__mon_destroy(lir__mon *m) {
    if (!m) return;
    if (m->started) {
        pthread_mutex_lock(&m->mu);
        m->stop = true;
        pthread_cond_broadcast(&m->cv);
        pthread_mutex_unlock(&m->mu);
        pthread_join(m->thread, NULL);
    }
    while (m->subs) {
        struct mon_sub *s = m->subs;
        m->subs = s->next;
        free(s);
    }
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    pthread_mutex_destroy(&m->sub_mu);
    pthread_mutex_destroy(&m->deliver_mu);
    free(m->ring);
    free(m);
}

uint64_t lir__mon_thread_cpu_ns(lir__mon *m) {
    if (!m || !m->thread_clock_ok) return 0;
    struct timespec ts;
    if (clock_gettime(m->thread_clock, &ts)) return 0;
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---------------------------------------------------------------- readers */

bool lir__mon_current(lir__mon *m, struct lir_resource_usage *out) {
    pthread_mutex_lock(&m->mu);
    bool ok = m->count > 0;
    if (ok) *out = m->ring[(m->head - 1 + m->cap) % m->cap];
    pthread_mutex_unlock(&m->mu);
    return ok;
}

enum lir_status lir__mon_history(lir__mon *m, int64_t period_ms, struct lir_resource_usage **out, int32_t *n,
                                 bool *covered) {
    *out = NULL;
    *n = 0;
    *covered = (int64_t)m->p.history_seconds * 1000 >= period_ms;
    int64_t since = now_ms(m) - period_ms;
    pthread_mutex_lock(&m->mu);
    int32_t first = (m->head - m->count + m->cap) % m->cap, k = 0;
    /* the ring is in time order: skip the samples older than since */
    while (k < m->count && m->ring[(first + k) % m->cap].timestamp_ms < since) k++;
    int32_t cnt = m->count - k;
    struct lir_resource_usage *v = cnt ? malloc((size_t)cnt * sizeof *v) : NULL;
    if (cnt && !v) {
        pthread_mutex_unlock(&m->mu);
        return LIR_ENOMEM;
    }
    for (int32_t i = 0; i < cnt; i++) v[i] = m->ring[(first + k + i) % m->cap];
    pthread_mutex_unlock(&m->mu);
    *out = v;
    *n = cnt;
    return LIR_OK;
}

/* ---------------------------------------------------------------- subscribers, alerts */

enum lir_status lir__mon_subscribe(lir__mon *m, lir_usage_fn fn, void *user, int64_t *id) {
    struct mon_sub *s = calloc(1, sizeof *s);
    if (!s) return LIR_ENOMEM;
    s->fn = fn;
    s->user = user;
    pthread_mutex_lock(&m->sub_mu);
    s->id = ++m->next_sub_id;
    s->next = m->subs;
    m->subs = s;
    pthread_mutex_unlock(&m->sub_mu);
    *id = s->id;
    return LIR_OK;
}

enum lir_status lir__mon_unsubscribe(lir__mon *m, int64_t id) {
    struct mon_sub *found = NULL;
    pthread_mutex_lock(&m->sub_mu);
    for (struct mon_sub **pp = &m->subs; *pp; pp = &(*pp)->next)
        if ((*pp)->id == id) {
            found = *pp;
            *pp = found->next;
            break;
        }
    pthread_mutex_unlock(&m->sub_mu);
    if (!found) return LIR_ENOTFOUND;
    free(found);
    /* wait for a delivery in progress, unless this thread is that delivery (a callback
       unsubscribing): its own deliver_mu hold must not be waited on */
    if (tl_delivering != m) {
        pthread_mutex_lock(&m->deliver_mu);
        pthread_mutex_unlock(&m->deliver_mu);
    }
    return LIR_OK;
}

enum lir_status lir__mon_set_alerts(lir__mon *m, const struct lir_alert_config *cfg, lir_err *e) {
    enum lir_status s = lir__alert_config_check(cfg, e);
    if (s) return s;
    pthread_mutex_lock(&m->mu);
    m->alerts = *cfg;
    memset(m->alert_on, 0, sizeof m->alert_on);
    pthread_mutex_unlock(&m->mu);
    return LIR_OK;
}

void lir__mon_get_alerts(lir__mon *m, struct lir_alert_config *out) {
    pthread_mutex_lock(&m->mu);
    *out = m->alerts;
    pthread_mutex_unlock(&m->mu);
}
