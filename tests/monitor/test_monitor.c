/* test_monitor.c — the resource monitor: the sampling thread runs and stops, CPU percentages
 * from counters, the ring and history with an injected clock, alerts with hysteresis, live
 * subscribers, parameter checks; and the runtime's side (usage, history, subscription,
 * CheckResources, SetAlerts gated by tier, a ResourceAlert event from a real sample). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "lir.h"
#include "monitor/monitor.h"

/* ---------------------------------------------------------------- fake system */

struct fake {
    int64_t now;                 /* injected clock, ms */
    struct lir__mon_raw raw;     /* what read_system reports */
    atomic_int reads;
    struct lir_event ev[64];
    int n_ev;
    int collected;
};

static void fake_read(void *user, struct lir__mon_raw *raw) {
    struct fake *f = user;
    *raw = f->raw;
    atomic_fetch_add(&f->reads, 1);
}
static int64_t fake_now(void *user) { return ((struct fake *)user)->now; }
static void fake_emit(void *user, const struct lir_event *ev) {
    struct fake *f = user;
    if (f->n_ev < 64) f->ev[f->n_ev++] = *ev;
}
static void fake_collect(void *user, struct lir_resource_usage *u) {
    struct fake *f = user;
    f->collected++;
    u->active_models = 2;
    u->active_requests = 1;
    u->models_ram_bytes = 12345;
    u->current_tokens_per_second = 42.5f;
}

static struct lir__mon_params fake_params(struct fake *f, bool thread) {
    struct lir__mon_params p;
    memset(&p, 0, sizeof p);
    p.interval_ms = 100;
    p.history_seconds = 2; /* 20 samples */
    p.start_thread = thread;
    p.alerts.hysteresis_percent = 5;
    p.hooks.user = f;
    p.hooks.read_system = fake_read;
    p.hooks.now_ms = fake_now;
    p.hooks.emit = fake_emit;
    p.hooks.collect = fake_collect;
    return p;
}

static void set_ram(struct fake *f, double used_percent) {
    f->raw.ram_total = 1000000;
    f->raw.ram_available = (uint64_t)(1000000 * (100.0 - used_percent) / 100.0 + 0.5);
}

static void sleep_ms(int ms) {
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* ---------------------------------------------------------------- thread */

Test(monitor, thread_samples_and_stops, .timeout = 20) {
    struct fake f;
    memset(&f, 0, sizeof f);
    set_ram(&f, 50);
    struct lir__mon_params p = fake_params(&f, true);
    p.interval_ms = 10;
    lir__mon *m = NULL;
    lir_err e = { { 0 } };
    cr_assert_eq(lir__mon_create(&p, &m, &e), LIR_OK, "%s", e.msg);
    sleep_ms(300);
    int seen = atomic_load(&f.reads);
    cr_assert_geq(seen, 5, "a 10 ms monitor took %d samples in 300 ms", seen);
    struct lir_resource_usage u;
    cr_assert(lir__mon_current(m, &u));
    cr_assert_eq(u.system_ram_bytes, 1000000);
    cr_assert_eq(u.active_models, 2, "the collector's counters are in the sample");
    cr_assert_gt(lir__mon_thread_cpu_ns(m), 0);
    lir__mon_destroy(m);
    int after = atomic_load(&f.reads);
    sleep_ms(50);
    cr_assert_eq(atomic_load(&f.reads), after, "no sample after destroy");
}

Test(monitor, real_system_readings) {
    struct lir__mon_raw raw;
    lir__sys_read(&raw);
    cr_assert_gt(raw.ram_total, 0);
    cr_assert_leq(raw.ram_available, raw.ram_total);
    cr_assert_gt(raw.process_rss, 0);
    cr_assert(raw.cpu_ok);
    cr_assert_gt(raw.cpu_total, 0);
    cr_assert(raw.n_gpus >= 0 && raw.n_gpus <= LIR_MAX_GPUS, "no NVML is an empty list, not an error");
    for (int32_t i = 0; i < raw.n_gpus; i++) {
        cr_assert_gt(raw.gpus[i].vram_total_bytes, 0);
        cr_assert_neq(raw.gpus[i].name[0], 0);
    }
}

/* ---------------------------------------------------------------- computation */

Test(monitor, cpu_percent_from_counters) {
    struct fake f;
    memset(&f, 0, sizeof f);
    set_ram(&f, 10);
    struct lir__mon_params p = fake_params(&f, false);
    lir__mon *m = NULL;
    cr_assert_eq(lir__mon_create(&p, &m, NULL), LIR_OK);
    f.raw.cpu_ok = true;
    f.raw.cpu_total = 1000;
    f.raw.cpu_idle = 500;
    f.raw.proc_ticks = 10;
    lir__mon_sample_now(m);
    struct lir_resource_usage u;
    cr_assert(lir__mon_current(m, &u));
    cr_assert_eq(u.cpu_usage_percent, 0.0f, "no interval yet");
    f.raw.cpu_total += 400; /* 300 busy, 100 idle; this process 40 */
    f.raw.cpu_idle += 100;
    f.raw.proc_ticks += 40;
    f.now += 100;
    lir__mon_sample_now(m);
    cr_assert(lir__mon_current(m, &u));
    cr_assert_float_eq(u.cpu_usage_percent, 75.0f, 1e-4);
    cr_assert_float_eq(u.process_cpu_percent, 10.0f, 1e-4);
    cr_assert_eq(u.system_ram_used_bytes, 100000);
    cr_assert_eq(u.timestamp_ms, 100, "timestamps come from the injected clock");
    cr_assert_float_eq(u.current_tokens_per_second, 42.5f, 1e-6);
    lir__mon_destroy(m);
}

Test(monitor, history_ring_with_injected_clock) {
    struct fake f;
    memset(&f, 0, sizeof f);
    set_ram(&f, 10);
    struct lir__mon_params p = fake_params(&f, false);
    lir__mon *m = NULL;
    cr_assert_eq(lir__mon_create(&p, &m, NULL), LIR_OK);
    struct lir_resource_usage *v;
    int32_t n;
    bool covered;
    cr_assert_eq(lir__mon_history(m, 1000, &v, &n, &covered), LIR_OK);
    cr_assert_eq(n, 0);
    cr_assert_null(v);
    for (int i = 0; i < 30; i++) { /* t = 0, 100, ..., 2900: the ring keeps the last 20 */
        f.now = i * 100;
        f.raw.process_rss = (uint64_t)i;
        lir__mon_sample_now(m);
    }
    cr_assert_eq(lir__mon_history(m, 1000, &v, &n, &covered), LIR_OK);
    cr_assert(covered);
    cr_assert_eq(n, 11, "samples at 1900..2900 are within the last second");
    for (int32_t i = 0; i < n; i++) {
        cr_assert_eq(v[i].timestamp_ms, 1900 + 100 * i, "oldest first");
        cr_assert_eq(v[i].process_ram_bytes, (uint64_t)(19 + i));
    }
    free(v);
    cr_assert_eq(lir__mon_history(m, 60000, &v, &n, &covered), LIR_OK);
    cr_assert_not(covered, "a minute is more than the 2 s of memory");
    cr_assert_eq(n, 20, "the whole ring");
    cr_assert_eq(v[0].timestamp_ms, 1000);
    cr_assert_eq(v[19].timestamp_ms, 2900);
    free(v);
    f.now = 100000; /* long after: nothing in the last second */
    cr_assert_eq(lir__mon_history(m, 1000, &v, &n, &covered), LIR_OK);
    cr_assert_eq(n, 0);
    lir__mon_destroy(m);
}

/* ---------------------------------------------------------------- alerts */

Test(monitor, alert_hysteresis) {
    struct fake f;
    memset(&f, 0, sizeof f);
    struct lir__mon_params p = fake_params(&f, false);
    p.alerts.ram_percent = 90;
    p.alerts.hysteresis_percent = 5;
    lir__mon *m = NULL;
    cr_assert_eq(lir__mon_create(&p, &m, NULL), LIR_OK);
    /* hovering at the line alerts once; it re-arms only below 85 */
    const double seq[] = { 89, 90, 91, 89.9, 90.1, 86, 85.5, 92, 84.9, 88, 90, 95 };
    const bool expect[] = { 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        int before = f.n_ev;
        set_ram(&f, seq[i]);
        lir__mon_sample_now(m);
        cr_assert_eq(f.n_ev - before, expect[i] ? 1 : 0, "sample %zu (%.1f%%)", i, seq[i]);
    }
    cr_assert_eq(f.ev[0].type, LIR_EVENT_RESOURCE_ALERT);
    cr_assert_eq(f.ev[0].resource, LIR_RESOURCE_RAM);
    cr_assert_float_eq(f.ev[0].usage_percent, 90.0f, 1e-3);
    cr_assert(strstr(f.ev[0].message, "RAM 90.0% used (alert at 90.0%)"), "%s", f.ev[0].message);
    lir__mon_destroy(m);
}

Test(monitor, alert_cpu_and_each_gpu) {
    struct fake f;
    memset(&f, 0, sizeof f);
    set_ram(&f, 10);
    struct lir__mon_params p = fake_params(&f, false);
    p.alerts.cpu_percent = 50;
    p.alerts.vram_percent = 80;
    p.alerts.gpu_percent = 70;
    p.alerts.hysteresis_percent = 0;
    lir__mon *m = NULL;
    cr_assert_eq(lir__mon_create(&p, &m, NULL), LIR_OK);
    f.raw.cpu_ok = true;
    f.raw.n_gpus = 2;
    for (int g = 0; g < 2; g++) {
        f.raw.gpus[g].id = g;
        snprintf(f.raw.gpus[g].name, sizeof f.raw.gpus[g].name, "Fake %d", g);
        f.raw.gpus[g].vram_total_bytes = 1000;
    }
    lir__mon_sample_now(m); /* CPU baseline */
    cr_assert_eq(f.n_ev, 0);
    f.raw.cpu_total += 100; /* 60% busy */
    f.raw.cpu_idle += 40;
    f.raw.gpus[1].vram_used_bytes = 900; /* GPU 1 VRAM 90% */
    f.raw.gpus[0].utilization_percent = 75; /* GPU 0 busy */
    lir__mon_sample_now(m);
    cr_assert_eq(f.n_ev, 3, "CPU, GPU 1 VRAM, GPU 0 utilization");
    bool cpu = false, vram1 = false, util0 = false;
    for (int i = 0; i < f.n_ev; i++) {
        if (f.ev[i].resource == LIR_RESOURCE_CPU) cpu = true;
        if (strstr(f.ev[i].message, "GPU 1 (Fake 1) VRAM 90.0%")) vram1 = true;
        if (strstr(f.ev[i].message, "GPU 0 (Fake 0) utilization 75.0%")) util0 = true;
    }
    cr_assert(cpu && vram1 && util0);
    /* with 0 hysteresis, any dip below the line re-arms */
    f.raw.cpu_total += 100;
    f.raw.cpu_idle += 60; /* 40% */
    lir__mon_sample_now(m);
    f.raw.cpu_total += 100;
    f.raw.cpu_idle += 40; /* 60% */
    lir__mon_sample_now(m);
    cr_assert_eq(f.n_ev, 4);
    cr_assert_eq(f.ev[3].resource, LIR_RESOURCE_CPU);
    /* new thresholds reset the states: GPU 1 VRAM alerts again at 95 */
    struct lir_alert_config c = { .vram_percent = 95, .hysteresis_percent = 5 };
    cr_assert_eq(lir__mon_set_alerts(m, &c, NULL), LIR_OK);
    struct lir_alert_config got;
    lir__mon_get_alerts(m, &got);
    cr_assert_float_eq(got.vram_percent, 95.0f, 0);
    f.raw.gpus[1].vram_used_bytes = 960;
    lir__mon_sample_now(m);
    cr_assert_eq(f.n_ev, 5);
    cr_assert_eq(f.ev[4].resource, LIR_RESOURCE_VRAM);
    lir__mon_destroy(m);
}

Test(monitor, params_checked) {
    struct fake f;
    memset(&f, 0, sizeof f);
    struct lir__mon_params p = fake_params(&f, false);
    lir__mon *m = NULL;
    lir_err e = { { 0 } };
    p.interval_ms = 5;
    cr_assert_eq(lir__mon_create(&p, &m, &e), LIR_EINVAL);
    cr_assert(strstr(e.msg, "monitor_interval_ms 5"), "%s", e.msg);
    p = fake_params(&f, false);
    p.history_seconds = 0;
    cr_assert_eq(lir__mon_create(&p, &m, &e), LIR_EINVAL);
    cr_assert(strstr(e.msg, "history_seconds 0"), "%s", e.msg);
    p = fake_params(&f, false);
    p.alerts.ram_percent = 120;
    cr_assert_eq(lir__mon_create(&p, &m, &e), LIR_EINVAL);
    cr_assert(strstr(e.msg, "ram_percent 120"), "%s", e.msg);
    p.alerts.ram_percent = 0;
    p.alerts.hysteresis_percent = -1;
    cr_assert_eq(lir__mon_create(&p, &m, &e), LIR_EINVAL);
    cr_assert(strstr(e.msg, "hysteresis_percent -1"), "%s", e.msg);
    cr_assert_null(m);
}

/* ---------------------------------------------------------------- subscribers */

struct subrec {
    lir__mon *m;
    int calls;
    int64_t id;
    bool unsub_self;
    int64_t last_ts;
};
static void sub_fn(const struct lir_resource_usage *u, void *user) {
    struct subrec *s = user;
    s->calls++;
    s->last_ts = u->timestamp_ms;
    if (s->unsub_self) cr_assert_eq(lir__mon_unsubscribe(s->m, s->id), LIR_OK);
}

Test(monitor, subscribers) {
    struct fake f;
    memset(&f, 0, sizeof f);
    set_ram(&f, 10);
    struct lir__mon_params p = fake_params(&f, false);
    lir__mon *m = NULL;
    cr_assert_eq(lir__mon_create(&p, &m, NULL), LIR_OK);
    struct subrec a = { .m = m }, b = { .m = m, .unsub_self = true };
    cr_assert_eq(lir__mon_subscribe(m, sub_fn, &a, &a.id), LIR_OK);
    cr_assert_eq(lir__mon_subscribe(m, sub_fn, &b, &b.id), LIR_OK);
    cr_assert_neq(a.id, b.id);
    f.now = 7;
    lir__mon_sample_now(m);
    f.now = 8;
    lir__mon_sample_now(m);
    cr_assert_eq(a.calls, 2);
    cr_assert_eq(a.last_ts, 8);
    cr_assert_eq(b.calls, 1, "b unsubscribed itself from its callback");
    cr_assert_eq(lir__mon_unsubscribe(m, b.id), LIR_ENOTFOUND);
    cr_assert_eq(lir__mon_unsubscribe(m, a.id), LIR_OK);
    lir__mon_sample_now(m);
    cr_assert_eq(a.calls, 2);
    lir__mon_destroy(m);
}

/* ---------------------------------------------------------------- through the runtime */

struct rt_sub { pthread_mutex_t mu; int n; struct lir_event alert; int alerts; };
static void usage_cb(const struct lir_resource_usage *u, void *user) {
    struct rt_sub *s = user;
    pthread_mutex_lock(&s->mu);
    if (u->system_ram_bytes > 0) s->n++;
    pthread_mutex_unlock(&s->mu);
}
static void event_cb(const struct lir_event *ev, void *user) {
    struct rt_sub *s = user;
    pthread_mutex_lock(&s->mu);
    if (ev->type == LIR_EVENT_RESOURCE_ALERT) {
        if (!s->alerts) s->alert = *ev;
        s->alerts++;
    }
    pthread_mutex_unlock(&s->mu);
}
static int sub_count(struct rt_sub *s) {
    pthread_mutex_lock(&s->mu);
    int n = s->n;
    pthread_mutex_unlock(&s->mu);
    return n;
}

Test(monitor, runtime_usage_history_subscription, .timeout = 30) {
    struct lir_runtime_params p = lir_runtime_params_default();
    cr_assert_eq(p.monitor_interval_ms, 100);
    cr_assert_eq(p.history_seconds, 300);
    p.monitor_interval_ms = 20;
    p.ram_alert_percent = 0;
    lir_runtime *rt = NULL;
    char err[512] = "";
    cr_assert_eq(lir_runtime_create(&p, &rt, err, sizeof err), LIR_OK, "%s", err);
    struct rt_sub s = { .mu = PTHREAD_MUTEX_INITIALIZER };
    int64_t id = 0;
    cr_assert_eq(lir_runtime_usage_subscribe(rt, usage_cb, &s, &id), LIR_OK);
    for (int i = 0; i < 200 && sub_count(&s) < 5; i++) sleep_ms(10);
    cr_assert_geq(sub_count(&s), 5, "live samples arrive");
    cr_assert_eq(lir_runtime_usage_unsubscribe(rt, id), LIR_OK);
    int n0 = sub_count(&s);
    sleep_ms(60);
    cr_assert_eq(sub_count(&s), n0, "none after unsubscribe");

    struct lir_resource_usage u;
    cr_assert_eq(lir_runtime_resource_usage(rt, &u), LIR_OK);
    cr_assert_gt(u.system_ram_bytes, 0);
    cr_assert_gt(u.process_ram_bytes, 0);
    cr_assert_eq(u.active_models, 0);
    struct lir_resource_usage *v = NULL;
    int32_t n = 0;
    cr_assert_eq(lir_runtime_resource_history(rt, 10000, &v, &n), LIR_OK);
    cr_assert_geq(n, 5);
    for (int32_t i = 1; i < n; i++) cr_assert_geq(v[i].timestamp_ms, v[i - 1].timestamp_ms);
    lir_runtime_free(v);
    cr_assert_eq(lir_runtime_resource_history(rt, 0, &v, &n), LIR_EINVAL);

    char *js = NULL;
    cr_assert_eq(lir_resource_usage_json(&u, &js), LIR_OK);
    cr_assert(strstr(js, "\"system_ram_bytes\":"), "%s", js);
    cr_assert(strstr(js, "\"gpus\":["), "%s", js);
    lir_runtime_free(js);
    lir_runtime_destroy(rt);
}

Test(monitor, runtime_without_monitor) {
    struct lir_runtime_params p = lir_runtime_params_default();
    p.monitor_interval_ms = 0;
    lir_runtime *rt = NULL;
    cr_assert_eq(lir_runtime_create(&p, &rt, NULL, 0), LIR_OK);
    struct lir_resource_usage u;
    cr_assert_eq(lir_runtime_resource_usage(rt, &u), LIR_OK, "measured on demand");
    cr_assert_gt(u.system_ram_bytes, 0);
    int64_t id;
    cr_assert_eq(lir_runtime_usage_subscribe(rt, usage_cb, NULL, &id), LIR_EINVAL);
    lir_runtime_destroy(rt);
    p.monitor_interval_ms = -1;
    char err[512] = "";
    cr_assert_eq(lir_runtime_create(&p, &rt, err, sizeof err), LIR_EINVAL);
    cr_assert(strstr(err, "monitor_interval_ms -1"), "%s", err);
}

Test(monitor, runtime_check_requirements) {
    struct lir_runtime_params p = lir_runtime_params_default();
    p.monitor_interval_ms = 20;
    lir_runtime *rt = NULL;
    cr_assert_eq(lir_runtime_create(&p, &rt, NULL, 0), LIR_OK);
    sleep_ms(60);
    struct lir_resource_check c;
    struct lir_resource_requirements r = { .ram_bytes = 1 << 20 };
    cr_assert_eq(lir_runtime_check_requirements(rt, &r, &c), LIR_OK);
    cr_assert(c.is_sufficient);
    cr_assert_eq(c.n_issues, 0);
    r.ram_bytes = UINT64_MAX / 2;
    cr_assert_eq(lir_runtime_check_requirements(rt, &r, &c), LIR_OK);
    cr_assert_not(c.is_sufficient);
    cr_assert_eq(c.n_issues, 1);
    cr_assert_eq(c.issues[0].resource, LIR_RESOURCE_RAM);
    cr_assert_eq(c.issues[0].required, UINT64_MAX / 2);
    cr_assert_lt(c.issues[0].available, c.issues[0].required);
    cr_assert(strstr(c.issues[0].message, "of RAM"), "%s", c.issues[0].message);
    cr_assert(strstr(c.suggestion, "free"), "%s", c.suggestion);
    struct lir_resource_usage u;
    cr_assert_eq(lir_runtime_resource_usage(rt, &u), LIR_OK);
    r.ram_bytes = 1 << 20;
    r.vram_bytes = 1ull << 50; /* a petabyte: no GPU has it */
    r.gpu_layers = 10;
    cr_assert_eq(lir_runtime_check_requirements(rt, &r, &c), LIR_OK);
    cr_assert_not(c.is_sufficient);
    cr_assert_eq(c.issues[0].resource, LIR_RESOURCE_VRAM);
    if (u.n_gpus == 0) cr_assert_eq(c.issues[0].available, 0, "no GPU: nothing available");
    r.gpu_layers = -1;
    cr_assert_eq(lir_runtime_check_requirements(rt, &r, &c), LIR_EINVAL);
    lir_runtime_destroy(rt);
}

Test(monitor, runtime_alerts_tier_and_event, .timeout = 30) {
    lir_licence *teams = NULL;
    cr_assert_eq(lir_licence_create_static(LIR_TIER_TEAMS, &teams), LIR_OK);
    struct lir_runtime_params p = lir_runtime_params_default();
    p.monitor_interval_ms = 20;
    p.ram_alert_percent = 0;
    p.licence = teams;
    lir_runtime *rt = NULL;
    cr_assert_eq(lir_runtime_create(&p, &rt, NULL, 0), LIR_OK);
    struct lir_alert_config c = { .ram_percent = 0.01f, .hysteresis_percent = 5 };
    char err[512] = "";
    cr_assert_eq(lir_runtime_set_alerts(rt, &c, err, sizeof err), LIR_ETIER);
    cr_assert(strstr(err, "lir_runtime_set_alerts"), "%s", err);
    lir_runtime_destroy(rt);
    lir_licence_free(teams);

    p.licence = NULL; /* the default static tier: Enterprise */
    cr_assert_eq(lir_runtime_create(&p, &rt, NULL, 0), LIR_OK);
    struct rt_sub s = { .mu = PTHREAD_MUTEX_INITIALIZER };
    int64_t id;
    cr_assert_eq(lir_runtime_subscribe(rt, event_cb, &s, &id), LIR_OK);
    c.ram_percent = 101;
    cr_assert_eq(lir_runtime_set_alerts(rt, &c, err, sizeof err), LIR_EINVAL);
    cr_assert(strstr(err, "ram_percent 101"), "%s", err);
    c.ram_percent = 0.01f; /* any machine's RAM use is above it: one alert, then silence */
    cr_assert_eq(lir_runtime_set_alerts(rt, &c, err, sizeof err), LIR_OK, "%s", err);
    struct lir_alert_config got;
    cr_assert_eq(lir_runtime_get_alerts(rt, &got), LIR_OK);
    cr_assert_float_eq(got.ram_percent, 0.01f, 0);
    sleep_ms(300);
    lir_runtime_events_flush(rt);
    pthread_mutex_lock(&s.mu);
    cr_assert_eq(s.alerts, 1, "hysteresis: %d alerts over ~15 samples above the line", s.alerts);
    cr_assert_eq(s.alert.resource, LIR_RESOURCE_RAM);
    cr_assert_gt(s.alert.usage_percent, 0.01f);
    cr_assert_gt(s.alert.seq, 0);
    pthread_mutex_unlock(&s.mu);
    lir_runtime_destroy(rt);
}
