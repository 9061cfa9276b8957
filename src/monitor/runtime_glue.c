/* runtime_glue.c — the runtime's side of the monitor, the profiler and the store: it creates
 * them with lir_runtime_create (hooks into the runtime's counters and event queue), feeds the
 * profiler and the store as generations finish and events flow, and implements the public
 * lir_runtime_* calls of the "monitor, profiler, store" section of include/lir.h. The runtime
 * owns all three; each has its own lock, none is taken under rt->mu. */
#include "runtime/runtime.h"
#include "monitor/monitor.h"
#include "profiler/profiler.h"
#include "store/store.h"
#include "context/snapshot.h"

#include <fcntl.h>
#include <unistd.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- hooks */

static void hook_collect(void *user, struct lir_resource_usage *u) { lir__rt_counters(user, u); }

static void hook_emit(void *user, const struct lir_event *ev) { lir__rt_emit(user, ev); }

static void hook_sample(void *user, const struct lir_resource_usage *u) {
    lir_runtime *rt = user;
    if (rt->store) lir__store_w_usage(rt->store, u);
}

/* A saved snapshot's context_snapshots row: its file (<snapshots_dir>/<name>.lirsnap, the name
 * is the event's message), header fields, and checksum (the file's last 32 bytes). */
static void store_snapshot(lir_runtime *rt, const struct lir_event *ev) {
    struct lir__store_snapshot sn;
    memset(&sn, 0, sizeof sn);
    char dir[4096];
    if (rt->snapshots_dir) snprintf(dir, sizeof dir, "%s", rt->snapshots_dir);
    else lir__snapshot_dir_default(dir, sizeof dir);
    if (!lir__snapshot_name_ok(ev->message, NULL, "store")) return;
    int k = snprintf(sn.path, sizeof sn.path, "%s/%s%s", dir, ev->message, LIR_SNAP_EXT);
    if (k < 0 || (size_t)k >= sizeof sn.path) return;
    struct lir_snapshot_info info;
    if (lir_snapshot_read_info(sn.path, false, &info, NULL, 0)) return; /* replaced or deleted since */
    uint8_t sum[LIR_SNAP_SUM];
    int fd = open(sn.path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    bool ok = info.size_bytes >= LIR_SNAP_SUM &&
              pread(fd, sum, sizeof sum, (off_t)(info.size_bytes - LIR_SNAP_SUM)) == (ssize_t)sizeof sum;
    close(fd);
    if (!ok) return;
    for (unsigned i = 0; i < LIR_SNAP_SUM; i++) snprintf(sn.checksum + 2 * i, 3, "%02x", sum[i]);
    snprintf(sn.id, sizeof sn.id, "%s", ev->snapshot_id);
    snprintf(sn.loaded_model_id, sizeof sn.loaded_model_id, "%s", ev->loaded_model_id);
    sn.token_count = info.n_tokens;
    sn.size_bytes = info.size_bytes;
    sn.created_at_ms = info.created_at_ms;
    lir__store_w_snapshot(rt->store, &sn);
}

/* Events into the store (on the event thread): load/generation events carry the loaded model's
 * state for the loaded_models rows; a saved snapshot adds its context_snapshots row. */
static void store_event(const struct lir_event *ev, void *user) {
    lir_runtime *rt = user;
    struct lir_loaded_model lm;
    bool has = false;
    if ((ev->type == LIR_EVENT_MODEL_LOAD_COMPLETED || ev->type == LIR_EVENT_GENERATION_COMPLETED) &&
        ev->loaded_model_id[0])
        has = lir_runtime_get_loaded(rt, ev->loaded_model_id, &lm) == LIR_OK;
    lir__store_w_event(rt->store, ev, has ? &lm : NULL);
    if (ev->type == LIR_EVENT_SNAPSHOT_SAVED && ev->loaded_model_id[0] && ev->snapshot_id[0]) store_snapshot(rt, ev);
}

/* ---------------------------------------------------------------- start / stop */

enum lir_status lir__rt_monitor_start(lir_runtime *rt, const struct lir_runtime_params *p, lir_err *e) {
    enum lir_status s;
    if (p->monitor_interval_ms < 0)
        return lir__errf(e, LIR_EINVAL,
                         "lir_runtime_create: monitor_interval_ms %d is outside [10, 60000] (0 = no monitor)",
                         p->monitor_interval_ms);
    if ((s = lir__alert_config_check(&p->alerts, e))) return s;
    if (!(rt->prof = lir__prof_create())) return lir__errf(e, LIR_ENOMEM, "lir_runtime_create: out of memory");
    if (p->data_dir) {
        if ((s = lir__store_w_open(p->data_dir, NULL, &rt->store, e))) return s;
        char err[LIR_ERR_MAX];
        if ((s = lir_store_open(p->data_dir, &rt->store_read, err, sizeof err)))
            return lir__errf(e, s, "%s", err);
        if ((s = lir_runtime_subscribe(rt, store_event, rt, &rt->store_sub)))
            return lir__errf(e, s, "lir_runtime_create: cannot subscribe the store to events");
    }
    if (p->monitor_interval_ms > 0) {
        struct lir__mon_params mp;
        memset(&mp, 0, sizeof mp);
        mp.interval_ms = p->monitor_interval_ms;
        mp.history_seconds = p->history_seconds;
        mp.alerts = p->alerts;
        if (!(mp.alerts.ram_percent > 0.0f)) mp.alerts.ram_percent = p->ram_alert_percent;
        mp.start_thread = true;
        mp.hooks.user = rt;
        mp.hooks.collect = hook_collect;
        mp.hooks.emit = hook_emit;
        mp.hooks.on_sample = hook_sample;
        if ((s = lir__mon_create(&mp, &rt->mon, e))) return s;
    }
    return LIR_OK;
}

void lir__rt_monitor_stop(lir_runtime *rt) {
    lir__mon_destroy(rt->mon); /* no more samples into the store */
    rt->mon = NULL;
    if (rt->store_sub) {
        lir_runtime_events_flush(rt); /* the unload events of destroy reach the store */
        lir_runtime_unsubscribe(rt, rt->store_sub);
        rt->store_sub = 0;
    }
    lir__store_w_close(rt->store);
    rt->store = NULL;
    lir_store_close(rt->store_read);
    rt->store_read = NULL;
    lir__prof_destroy(rt->prof);
    rt->prof = NULL;
}

/* The profiler record and store row of a finished generation of model (id, name). */
static void observe(lir_runtime *rt, const char *id, const char *name, const struct lir_generate_result *r) {
    struct lir_request_record rec;
    memset(&rec, 0, sizeof rec);
    rec.timestamp_ms = lir__rt_now_ms();
    snprintf(rec.loaded_model_id, sizeof rec.loaded_model_id, "%s", id);
    snprintf(rec.model_name, sizeof rec.model_name, "%s", name);
    rec.usage = r->usage;
    rec.finish_reason = r->finish_reason;
    rec.metrics = r->metrics;
    if (rt->prof) lir__prof_record(rt->prof, &rec);
    if (rt->store) lir__store_w_generation(rt->store, &rec);
}

void lir__rt_observe_generation(lir_runtime *rt, const struct rt_entry *en, const struct lir_generate_result *r) {
    observe(rt, en->info.id, en->info.model.name, r); /* fixed for the entry's life: no lock needed */
}

void lir__rt_observe_remote(lir_runtime *rt, const char *id, const char *name, const struct lir_generate_result *r) {
    observe(rt, id, name, r);
}

/* ---------------------------------------------------------------- public: monitor */

enum lir_status lir_runtime_usage_subscribe(lir_runtime *rt, lir_usage_fn fn, void *user, int64_t *sub_id) {
    if (!rt || !fn || !sub_id || !rt->mon) return LIR_EINVAL;
    return lir__mon_subscribe(rt->mon, fn, user, sub_id);
}

enum lir_status lir_runtime_usage_unsubscribe(lir_runtime *rt, int64_t sub_id) {
    if (!rt || !rt->mon || sub_id <= 0) return LIR_EINVAL;
    return lir__mon_unsubscribe(rt->mon, sub_id);
}

enum lir_status lir_runtime_resource_history(lir_runtime *rt, int64_t period_ms, struct lir_resource_usage **out,
                                             int32_t *n) {
    if (!rt || !out || !n || !rt->mon || period_ms <= 0) return LIR_EINVAL;
    bool covered;
    enum lir_status s = lir__mon_history(rt->mon, period_ms, out, n, &covered);
    if (s || covered || !rt->store_read) return s;
    /* beyond memory: the store's downsampled rows, made current first */
    lir__store_w_flush(rt->store);
    int64_t now = lir__rt_now_ms();
    struct lir_resource_usage *v;
    int32_t k;
    s = lir_store_history(rt->store_read, now - period_ms, now, period_ms <= LIR_STORE_RETAIN_1S_MS ? 1 : 60, &v, &k);
    if (s) {
        free(*out);
        *out = NULL;
        *n = 0;
        return s;
    }
    if (k == 0) return LIR_OK; /* nothing stored yet: memory's samples */
    free(*out);
    *out = v;
    *n = k;
    return LIR_OK;
}

static void fmt_bytes(char *buf, size_t n, uint64_t b) {
    if (b >= (1ull << 30)) snprintf(buf, n, "%.2f GiB", (double)b / (1ull << 30));
    else snprintf(buf, n, "%.1f MiB", (double)b / (1ull << 20));
}

static void add_issue(struct lir_resource_check *c, enum lir_resource_type r, uint64_t need, uint64_t avail,
                      const char *what) {
    if (c->n_issues >= 4) return;
    struct lir_resource_issue *is = &c->issues[c->n_issues++];
    is->resource = r;
    is->required = need;
    is->available = avail;
    char a[32], b[32];
    fmt_bytes(a, sizeof a, need);
    fmt_bytes(b, sizeof b, avail);
    snprintf(is->message, sizeof is->message, "needs %s of %s, %s available", a, what, b);
}

enum lir_status lir_runtime_check_requirements(lir_runtime *rt, const struct lir_resource_requirements *req,
                                               struct lir_resource_check *check) {
    if (!rt || !req || !check || req->gpu_layers < 0) return LIR_EINVAL;
    memset(check, 0, sizeof *check);
    uint64_t ram = lir__rt_ram_free(rt);
    if (req->ram_bytes > ram) add_issue(check, LIR_RESOURCE_RAM, req->ram_bytes, ram, "RAM");
    if (req->vram_bytes || req->gpu_layers > 0) {
        struct lir_resource_usage u;
        memset(&u, 0, sizeof u);
        if (rt->mon) lir__mon_current(rt->mon, &u);
        else u.n_gpus = lir__nvml_read(u.gpus, LIR_MAX_GPUS);
        uint64_t best = 0;
        for (int32_t g = 0; g < u.n_gpus; g++) {
            uint64_t f = u.gpus[g].vram_total_bytes > u.gpus[g].vram_used_bytes
                             ? u.gpus[g].vram_total_bytes - u.gpus[g].vram_used_bytes : 0;
            if (f > best) best = f;
        }
        if (u.n_gpus == 0) {
            add_issue(check, LIR_RESOURCE_VRAM, req->vram_bytes, 0, "VRAM (no GPU found)");
        } else if (req->vram_bytes > best) {
            add_issue(check, LIR_RESOURCE_VRAM, req->vram_bytes, best, "VRAM on one GPU");
        }
    }
    check->is_sufficient = check->n_issues == 0;
    if (check->is_sufficient) return LIR_OK;
    bool ram_short = req->ram_bytes > ram, vram_short = check->n_issues > (ram_short ? 1 : 0);
    uint64_t total = req->ram_bytes + req->vram_bytes;
    if (vram_short && !ram_short && total <= ram)
        snprintf(check->suggestion, sizeof check->suggestion,
                 "fits in RAM on the CPU: load with gpu_layers=0 (or fewer GPU layers)");
    else if (ram_short) {
        char a[32];
        fmt_bytes(a, sizeof a, req->ram_bytes - ram);
        snprintf(check->suggestion, sizeof check->suggestion,
                 "free %s of RAM (unload a model), or use a smaller context_size or a smaller quantization", a);
    } else {
        snprintf(check->suggestion, sizeof check->suggestion, "use fewer GPU layers or a smaller model");
    }
    return LIR_OK;
}

enum lir_status lir_runtime_set_alerts(lir_runtime *rt, const struct lir_alert_config *cfg, char *err, size_t err_len) {
    lir_err e = { { 0 } };
    enum lir_status s;
    if (!rt || !cfg || !rt->mon)
        s = lir__errf(&e, LIR_EINVAL, "lir_runtime_set_alerts: %s",
                      !rt || !cfg ? "rt and cfg must not be NULL" : "the runtime has no monitor (monitor_interval_ms 0)");
    else {
        char msg[LIR_ERR_MAX];
        if ((s = lir_licence_check(rt->licence, LIR_FEATURE_RESOURCE_MANAGEMENT, msg, sizeof msg)))
            lir__errf(&e, s, "lir_runtime_set_alerts: %s", msg);
        else
            s = lir__mon_set_alerts(rt->mon, cfg, &e);
    }
    if (s) lir__err_copy(&e, err, err_len);
    return s;
}

enum lir_status lir_runtime_get_alerts(lir_runtime *rt, struct lir_alert_config *out) {
    if (!rt || !out || !rt->mon) return LIR_EINVAL;
    lir__mon_get_alerts(rt->mon, out);
    return LIR_OK;
}

/* ---------------------------------------------------------------- public: profiler */

static enum lir_status profiling_allowed(lir_runtime *rt) {
    return lir_licence_check(rt->licence, LIR_FEATURE_PROFILING, NULL, 0);
}

enum lir_status lir_runtime_profile_models(lir_runtime *rt, struct lir_model_profile **out, int32_t *n) {
    if (!rt || !out || !n || !rt->prof) return LIR_EINVAL;
    enum lir_status s = profiling_allowed(rt);
    return s ? s : lir__prof_models(rt->prof, out, n);
}

enum lir_status lir_runtime_profile_records(lir_runtime *rt, const char *loaded_id, struct lir_request_record **out,
                                            int32_t *n) {
    if (!rt || !out || !n || !rt->prof) return LIR_EINVAL;
    enum lir_status s = profiling_allowed(rt);
    return s ? s : lir__prof_records(rt->prof, loaded_id, out, n);
}

enum lir_status lir_runtime_profile_export(lir_runtime *rt, enum lir_export_format fmt, char **out, size_t *len) {
    if (!rt || !out) return LIR_EINVAL;
    struct lir_model_profile *m = NULL;
    struct lir_request_record *r = NULL;
    int32_t nm = 0, nr = 0;
    enum lir_status s = lir_runtime_profile_models(rt, &m, &nm);
    if (!s) s = lir_runtime_profile_records(rt, NULL, &r, &nr);
    if (!s) s = lir_profiles_export(m, nm, r, nr, fmt, out, len);
    free(m);
    free(r);
    return s;
}

/* ---------------------------------------------------------------- JSON of a sample */

enum lir_status lir_resource_usage_json(const struct lir_resource_usage *u, char **out) {
    if (!u || !out) return LIR_EINVAL;
    *out = NULL;
    json_t *g = json_array();
    for (int32_t i = 0; g && i < u->n_gpus && i < LIR_MAX_GPUS; i++) {
        const struct lir_gpu_usage *x = &u->gpus[i];
        json_array_append_new(g, json_pack("{s:i,s:s,s:I,s:I,s:I,s:f,s:f,s:f}", "id", x->id, "name", x->name,
                                           "vram_total_bytes", (json_int_t)x->vram_total_bytes, "vram_used_bytes",
                                           (json_int_t)x->vram_used_bytes, "vram_held_bytes",
                                           (json_int_t)x->vram_held_bytes, "utilization_percent",
                                           (double)x->utilization_percent, "temperature_c", (double)x->temperature_c,
                                           "power_w", (double)x->power_w));
    }
    json_t *j = g ? json_pack("{s:I,s:I,s:I,s:I,s:I,s:i,s:f,s:f,s:i,s:i,s:f,s:o}", "timestamp_ms",
                              (json_int_t)u->timestamp_ms, "system_ram_bytes", (json_int_t)u->system_ram_bytes,
                              "system_ram_used_bytes", (json_int_t)u->system_ram_used_bytes, "process_ram_bytes",
                              (json_int_t)u->process_ram_bytes, "models_ram_bytes", (json_int_t)u->models_ram_bytes,
                              "n_gpus", u->n_gpus, "cpu_usage_percent", (double)u->cpu_usage_percent,
                              "process_cpu_percent", (double)u->process_cpu_percent, "active_models", u->active_models,
                              "active_requests", u->active_requests, "current_tokens_per_second",
                              (double)u->current_tokens_per_second, "gpus", g)
                  : NULL;
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s) return LIR_ENOMEM;
    *out = s;
    return LIR_OK;
}
