/* runtime.c — the runtime's model manager (spec §2.2, §3.2): create/destroy, the loaded-model
 * table (load with a resource check, unload, list, active model), shared mappings of files,
 * the idle unloader (keep_alive), the per-model FIFO and the concurrency slots of the tier,
 * resource usage. Locking and the FIFO are described in runtime.h. */
#include "runtime/runtime.h"
#include "model/model.h"
#include "model/forward.h"
#include "gguf/gguf.h"
#include "monitor/monitor.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- names, defaults */

const char *lir_resource_type_str(enum lir_resource_type r) {
    static const char *const n[] = { "Ram", "Vram", "Disk", "Cpu" };
    return (unsigned)r < 4 ? n[r] : "unknown";
}

const char *lir_loaded_status_str(enum lir_loaded_status s) {
    static const char *const n[] = { "Loading", "Ready", "Busy", "Unloading", "Error" };
    return (unsigned)s < 5 ? n[s] : "unknown";
}

struct lir_load_options lir_load_options_default(void) {
    struct lir_load_options o;
    memset(&o, 0, sizeof o);
    o.gpu_layers = LIR_GPU_LAYERS_ALL;
    o.batch_size = 256;
    o.keep_alive_ms = LIR_KEEP_ALIVE_DEFAULT_MS;
    return o;
}

struct lir_runtime_params lir_runtime_params_default(void) {
    struct lir_runtime_params p;
    memset(&p, 0, sizeof p);
    p.ram_alert_percent = 90.0f;
    p.monitor_interval_ms = 100;
    p.history_seconds = 300;
    p.alerts.hysteresis_percent = 5.0f;
    p.parallel = 4;
    p.max_queue = 256;
    p.overflow = LIR_OVERFLOW_STOP;
    return p;
}

void lir_runtime_free(void *p) { free(p); }

/* ---------------------------------------------------------------- system memory */

/* A field of /proc/meminfo in bytes, 0 when absent. */
static uint64_t meminfo(const char *field) { return lir__sys_meminfo(field); }

static uint64_t mem_available(const lir_runtime *rt) {
    return rt->mem_available ? rt->mem_available(rt->mem_user) : meminfo("MemAvailable");
}

uint64_t lir__rt_ram_free(lir_runtime *rt) {
    pthread_mutex_lock(&rt->mu);
    uint64_t reserved = rt->reserved;
    pthread_mutex_unlock(&rt->mu);
    uint64_t avail = mem_available(rt);
    return avail > reserved ? avail - reserved : 0;
}

/* ---------------------------------------------------------------- create / destroy */

static void *reaper_main(void *arg);

enum lir_status lir_runtime_create(const struct lir_runtime_params *params, lir_runtime **out, char *err,
                                   size_t err_len) {
    lir_err e = { { 0 } };
    if (!out) {
        lir__errf(&e, LIR_EINVAL, "lir_runtime_create: out must not be NULL");
        lir__err_copy(&e, err, err_len);
        return LIR_EINVAL;
    }
    *out = NULL;
    struct lir_runtime_params p = params ? *params : lir_runtime_params_default();
    if (!(p.ram_alert_percent >= 0.0f && p.ram_alert_percent <= 100.0f)) {
        lir__errf(&e, LIR_EINVAL, "lir_runtime_create: ram_alert_percent %g is outside [0, 100]",
                  (double)p.ram_alert_percent);
        lir__err_copy(&e, err, err_len);
        return LIR_EINVAL;
    }
    if (p.parallel < 0 || p.parallel > 64 || p.max_queue < 0 || p.max_queue > 65536 ||
        (unsigned)p.overflow > LIR_OVERFLOW_ERROR) {
        lir__errf(&e, LIR_EINVAL, "lir_runtime_create: parallel %d (0..64), max_queue %d (0..65536) or overflow %d "
                  "(0..3) out of range", p.parallel, p.max_queue, (int)p.overflow);
        lir__err_copy(&e, err, err_len);
        return LIR_EINVAL;
    }
    lir_runtime *rt = calloc(1, sizeof *rt);
    if (!rt) return LIR_ENOMEM;
    rt->parallel = p.parallel ? p.parallel : 4;
    rt->max_queue = p.max_queue ? p.max_queue : 256;
    rt->overflow = p.overflow ? p.overflow : LIR_OVERFLOW_STOP;
    pthread_mutex_init(&rt->mu, NULL);
    pthread_mutex_init(&rt->ev_mu, NULL);
    pthread_cond_init(&rt->cv, NULL);
    pthread_cond_init(&rt->ev_cv, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&rt->reaper_cv, &ca);
    pthread_condattr_destroy(&ca);
    rt->mem_available = p.mem_available;
    rt->mem_user = p.mem_user;
    rt->ram_alert_percent = p.ram_alert_percent;
    enum lir_status s = LIR_OK;
    if (p.models_dir && !(rt->models_dir = strdup(p.models_dir))) s = LIR_ENOMEM;
    if (!s && p.snapshots_dir && !(rt->snapshots_dir = strdup(p.snapshots_dir))) s = LIR_ENOMEM;
    if (!s && p.licence) rt->licence = p.licence;
    else if (!s && !(s = lir_licence_create_static(LIR_TIER_DEFAULT, &rt->own_licence))) rt->licence = rt->own_licence;
    if (!s) s = lir__rt_events_start(rt);
    if (!s && (s = lir__rt_monitor_start(rt, &p, &e))) {
        lir__err_copy(&e, err, err_len);
        lir_runtime_destroy(rt);
        return s;
    }
    if (!s) {
        if (pthread_create(&rt->reaper, NULL, reaper_main, rt)) s = LIR_ENOMEM;
        else rt->reaper_started = true;
    }
    if (s) {
        lir__errf(&e, s, "lir_runtime_create: %s", s == LIR_ENOMEM ? "out of memory (or threads)" : "licence");
        lir__err_copy(&e, err, err_len);
        lir_runtime_destroy(rt);
        return s;
    }
    *out = rt;
    return LIR_OK;
}


void lir_runtime_destroy(lir_runtime *rt) {
    if (!rt) return;
    lir_runtime_unload_all(rt);
    lir__rt_remote_free(rt);
    pthread_mutex_lock(&rt->mu);
    rt->stopping = true;
    pthread_cond_broadcast(&rt->reaper_cv);
    pthread_cond_broadcast(&rt->cv);
    pthread_mutex_unlock(&rt->mu);
    if (rt->reaper_started) pthread_join(rt->reaper, NULL);
    if (rt->ev_started) lir__rt_monitor_stop(rt);
    lir__rt_events_stop(rt);
    /* entries left are failed loads that nobody holds any more */
    while (rt->entries) {
        struct rt_entry *en = rt->entries;
        rt->entries = en->next;
        free(en);
    }
    lir_licence_free(rt->own_licence);
    free(rt->models_dir);
    free(rt->snapshots_dir);
    pthread_cond_destroy(&rt->reaper_cv);
    pthread_cond_destroy(&rt->cv);
    pthread_cond_destroy(&rt->ev_cv);
    pthread_mutex_destroy(&rt->mu);
    pthread_mutex_destroy(&rt->ev_mu);
    free(rt);
}

enum lir_status lir_runtime_list_installed(lir_runtime *rt, struct lir_installed_model **out, int32_t *n) {
    if (!rt || !out || !n) return LIR_EINVAL;
    *out = NULL;
    *n = 0;
    enum lir_status s = rt->models_dir ? lir_models_scan(rt->models_dir, out, n) : LIR_OK;
    if (!s) s = lir__rt_remote_list(rt, out, n); /* remote models after the files */
    if (s) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return s;
}

/* ---------------------------------------------------------------- table helpers (mu held) */

static struct rt_entry *find_loaded(lir_runtime *rt, const char *id) {
    for (struct rt_entry *en = rt->entries; en; en = en->next)
        if (!en->removed && !strcmp(en->info.id, id)) return en;
    return NULL;
}

/* A live entry of the installed model named by its id, name or path (no directory scan). */
static struct rt_entry *find_by_model(lir_runtime *rt, const char *name) {
    for (struct rt_entry *en = rt->entries; en; en = en->next)
        if (!en->removed && en->info.status != LIR_LOADED_UNLOADING && en->info.status != LIR_LOADED_ERROR &&
            (!strcmp(en->info.model.id, name) || !strcmp(en->info.model.name, name) ||
             !strcmp(en->info.model.path, name)))
            return en;
    return NULL;
}

static int32_t n_loaded(const lir_runtime *rt) {
    int32_t n = 0;
    for (const struct rt_entry *en = rt->entries; en; en = en->next)
        if (!en->removed && en->info.status != LIR_LOADED_ERROR) n++;
    return n;
}

static void unlink_entry(lir_runtime *rt, struct rt_entry *en) {
    for (struct rt_entry **pp = &rt->entries; *pp; pp = &(*pp)->next)
        if (*pp == en) {
            *pp = en->next;
            break;
        }
    en->removed = true;
}

static void unload_entry(lir_runtime *rt, struct rt_entry *en);

/* Drops a request's hold on en; with keep_alive 0, the last request out unloads the model. */
void lir__rt_release(lir_runtime *rt, struct rt_entry *en) {
    pthread_mutex_lock(&rt->mu);
    bool unload_now = !en->removed && en->keep_alive_ms == 0 && en->info.active_requests == 0 &&
                      en->info.status == LIR_LOADED_READY;
    en->refs--;
    if (unload_now) unload_entry(rt, en); /* in the table: not freed by the line above */
    else if (en->refs == 0 && en->removed) free(en);
    pthread_cond_broadcast(&rt->cv);
    pthread_mutex_unlock(&rt->mu);
}

static bool options_equal(const struct lir_load_options *a, const struct lir_load_options *b) {
    if (a->gpu_layers != b->gpu_layers || a->context_size != b->context_size || a->batch_size != b->batch_size ||
        a->threads != b->threads || strcmp(a->gpu_id, b->gpu_id) || a->main_gpu != b->main_gpu ||
        a->n_tensor_split != b->n_tensor_split || a->parallel != b->parallel)
        return false;
    for (int32_t i = 0; i < a->n_tensor_split; i++)
        if (a->tensor_split[i] != b->tensor_split[i]) return false;
    return true; /* keep_alive is not a property of the loaded copy's contents */
}

/* ---------------------------------------------------------------- options and resources */

static enum lir_status check_options(const struct lir_load_options *o, lir_err *e) {
    if (o->gpu_layers < -1) return lir__errf(e, LIR_EINVAL, "load: gpu_layers %d must be >= -1 (-1 = all)", o->gpu_layers);
    if (o->context_size < 0 || o->context_size > (1 << 24))
        return lir__errf(e, LIR_EINVAL, "load: context_size %d is outside [0, %d] (0 = the model's maximum)",
                         o->context_size, 1 << 24);
    if (o->batch_size < 1 || o->batch_size > 65536)
        return lir__errf(e, LIR_EINVAL, "load: batch_size %d is outside [1, 65536]", o->batch_size);
    if (o->threads < 0 || o->threads > 1024)
        return lir__errf(e, LIR_EINVAL, "load: threads %d is outside [0, 1024] (0 = CPU count)", o->threads);
    if (o->main_gpu < 0) return lir__errf(e, LIR_EINVAL, "load: main_gpu %d must be >= 0", o->main_gpu);
    if (o->n_tensor_split < 0 || o->n_tensor_split > LIR_TENSOR_SPLIT_MAX)
        return lir__errf(e, LIR_EINVAL, "load: n_tensor_split %d is outside [0, %d]", o->n_tensor_split,
                         LIR_TENSOR_SPLIT_MAX);
    for (int32_t i = 0; i < o->n_tensor_split; i++)
        if (!(o->tensor_split[i] >= 0.0f) || isinf(o->tensor_split[i]))
            return lir__errf(e, LIR_EINVAL, "load: tensor_split[%d] = %g must be finite and >= 0", i,
                             (double)o->tensor_split[i]);
    if (memchr(o->gpu_id, 0, sizeof o->gpu_id) == NULL)
        return lir__errf(e, LIR_EINVAL, "load: gpu_id is not NUL-terminated");
    if (o->parallel < 0 || o->parallel > 64)
        return lir__errf(e, LIR_EINVAL, "load: parallel %d is outside [0, 64] (0 = the runtime's)", o->parallel);
    if (o->keep_alive_ms < -1)
        return lir__errf(e, LIR_EINVAL, "load: keep_alive_ms %lld must be >= -1 (-1 = never unload)",
                         (long long)o->keep_alive_ms);
    return LIR_OK;
}

static void fmt_bytes(char *buf, size_t n, uint64_t b) {
    if (b >= (1ull << 30)) snprintf(buf, n, "%.2f GiB", (double)b / (1ull << 30));
    else snprintf(buf, n, "%.1f MiB", (double)b / (1ull << 20));
}

/* The check of spec §3.2: the estimate (lir_model_estimate_memory) of model m at options o against
 * avail bytes; weights_resident: the file is already mapped by a loaded model (counted once). */
/* The context a load creates (estimates use the same): n_seq_max = parallel sequences sharing
 * a KV pool of n_ctx tokens (so memory is that of one full sequence), F16 KV. */
static struct lir_context_params ctx_params(const lir_model *m, const struct lir_load_options *o, int32_t n_ctx) {
    struct lir_context_params cp = lir_context_params_default();
    cp.n_ctx = n_ctx > 0 ? n_ctx : m->hp.n_ctx_train;
    cp.n_batch = o->batch_size;
    cp.n_threads = o->threads;
    cp.n_seq_max = o->parallel > 0 ? o->parallel : 1;
    cp.kv_size = cp.n_ctx;
    return cp;
}

static void resource_check(const lir_model *m, const struct lir_load_options *o, uint64_t avail,
                           bool weights_resident, struct lir_resource_check *c, uint64_t *required) {
    memset(c, 0, sizeof *c);
    struct lir_mem_estimate est;
    struct lir_context_params cp = ctx_params(m, o, o->context_size);
    lir_model_estimate_context(m, &cp, &est);
    uint64_t need = est.total - (weights_resident ? est.weights : 0);
    *required = need;
    c->is_sufficient = need <= avail;
    if (c->is_sufficient) return;
    struct lir_resource_issue *is = &c->issues[c->n_issues++];
    is->resource = LIR_RESOURCE_RAM;
    is->required = need;
    is->available = avail;
    char a[32], b[32];
    fmt_bytes(a, sizeof a, need);
    fmt_bytes(b, sizeof b, avail);
    snprintf(is->message, sizeof is->message, "needs %s of RAM (weights, KV cache for %d tokens, compute), %s available",
             a, o->context_size ? o->context_size : m->hp.n_ctx_train, b);
    int32_t ctx = o->context_size ? o->context_size : m->hp.n_ctx_train;
    int32_t fit = 0;
    for (int32_t c2 = 1 << 24; c2 >= 256; c2 >>= 1) {
        if (c2 >= ctx) continue;
        cp = ctx_params(m, o, c2);
        lir_model_estimate_context(m, &cp, &est);
        if (est.total - (weights_resident ? est.weights : 0) <= avail) {
            fit = c2;
            break;
        }
    }
    c->suggested_context_size = fit;
    if (fit) snprintf(c->suggestion, sizeof c->suggestion, "fits with context_size=%d", fit);
    else snprintf(c->suggestion, sizeof c->suggestion, "does not fit even with context_size=256: free memory or use a smaller model");
}

/* ---------------------------------------------------------------- shared mappings */

/* Returns the shared mapping of path (opened once; refs taken). mu held; may wait and unlock. */
static enum lir_status shared_get(lir_runtime *rt, const char *path, struct rt_shared **out, lir_err *e) {
    struct stat st;
    if (stat(path, &st)) return lir__errf(e, LIR_EIO, "load: cannot stat '%s': %s", path, strerror(errno));
    for (;;) {
        struct rt_shared *sh = rt->shared;
        while (sh && !(sh->dev == st.st_dev && sh->ino == st.st_ino)) sh = sh->next;
        if (!sh) break;
        if (sh->opening) {
            sh->refs++;
            while (sh->opening) pthread_cond_wait(&rt->cv, &rt->mu);
            sh->refs--;
            continue; /* look again: it may have failed and gone */
        }
        sh->refs++;
        *out = sh;
        return LIR_OK;
    }
    struct rt_shared *sh = calloc(1, sizeof *sh);
    if (!sh) return lir__errf(e, LIR_ENOMEM, "load: out of memory");
    sh->dev = st.st_dev;
    sh->ino = st.st_ino;
    sh->opening = true;
    sh->refs = 1;
    sh->next = rt->shared;
    rt->shared = sh;
    pthread_mutex_unlock(&rt->mu);
    char msg[LIR_ERR_MAX] = "";
    struct lir_model_params mp = lir_model_params_default();
    lir_model *m = NULL;
    enum lir_status s = lir_model_load(path, &mp, &m, msg, sizeof msg);
    pthread_mutex_lock(&rt->mu);
    sh->opening = false;
    sh->model = m;
    pthread_cond_broadcast(&rt->cv);
    if (s) {
        lir__errf(e, s, "load: %s", msg);
        sh->refs--;
        for (struct rt_shared **pp = &rt->shared; *pp; pp = &(*pp)->next)
            if (*pp == sh) {
                *pp = sh->next;
                break;
            }
        /* waiters hold refs only while opening, and re-look after it: nobody points at sh now */
        free(sh);
        return s;
    }
    *out = sh;
    return LIR_OK;
}

/* mu held; frees the model when the last user lets go (mu released meanwhile) */
static void shared_put(lir_runtime *rt, struct rt_shared *sh) {
    if (--sh->refs > 0) return;
    for (struct rt_shared **pp = &rt->shared; *pp; pp = &(*pp)->next)
        if (*pp == sh) {
            *pp = sh->next;
            break;
        }
    pthread_mutex_unlock(&rt->mu);
    lir_model_free(sh->model);
    free(sh);
    pthread_mutex_lock(&rt->mu);
}

/* ---------------------------------------------------------------- load */

static void emit_load_failed(lir_runtime *rt, const struct lir_installed_model *im, const char *msg) {
    struct lir_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = LIR_EVENT_MODEL_LOAD_FAILED;
    snprintf(ev.model_id, sizeof ev.model_id, "%s", im ? im->id : "");
    snprintf(ev.model_name, sizeof ev.model_name, "%s", im ? im->name : "");
    snprintf(ev.message, sizeof ev.message, "%s", msg);
    lir__rt_emit(rt, &ev);
}

static void ram_alert(lir_runtime *rt) {
    if (rt->mon || !(rt->ram_alert_percent > 0.0f)) return; /* the monitor alerts from its samples */
    uint64_t total = meminfo("MemTotal"), avail = mem_available(rt);
    if (!total || avail > total) return;
    float used = 100.0f * (float)(total - avail) / (float)total;
    if (used < rt->ram_alert_percent) return;
    struct lir_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = LIR_EVENT_RESOURCE_ALERT;
    ev.resource = LIR_RESOURCE_RAM;
    ev.usage_percent = used;
    snprintf(ev.message, sizeof ev.message, "RAM %.1f%% used (alert at %.1f%%)", (double)used,
             (double)rt->ram_alert_percent);
    lir__rt_emit(rt, &ev);
}

/* Pages the weights in (so a load is a load, and progress means something): one byte per page. */
static bool prefault(const lir_model *m, lir_load_progress_fn progress, void *user) {
    uint64_t total = 0, done = 0;
    int64_t nt = lir_gguf_n_tensors(m->gguf);
    for (int64_t i = 0; i < nt; i++) total += lir_gguf_tensor(m->gguf, i)->size;
    volatile unsigned char sink = 0;
    float last = 0.0f;
    for (int64_t i = 0; i < nt; i++) {
        const struct lir_gguf_tensor *t = lir_gguf_tensor(m->gguf, i);
        const unsigned char *p = t->data;
        for (uint64_t off = 0; off < t->size; off += 4096) sink ^= p[off];
        done += t->size;
        float f = total ? 0.1f + 0.8f * (float)done / (float)total : 0.9f;
        if (progress && (f - last >= 0.01f || i + 1 == nt)) {
            last = f;
            if (progress(f, user)) return false;
        }
    }
    (void)sink;
    return true;
}

/* Loads a new entry for im. mu held on entry and exit. On success *out holds a ref. */
static enum lir_status load_new(lir_runtime *rt, const struct lir_installed_model *im,
                                const struct lir_load_options *opt, lir_load_progress_fn progress, void *puser,
                                struct lir_resource_check *check, struct rt_entry **out, lir_err *e) {
    char msg[LIR_ERR_MAX];
    enum lir_status s;
    /* tier: how many models may be loaded at once, and multi-GPU placement */
    if ((s = lir_licence_check_loaded_models(rt->licence, n_loaded(rt) + 1, msg, sizeof msg)) ||
        ((opt->n_tensor_split > 0 || opt->main_gpu != 0) &&
         (s = lir_licence_check(rt->licence, LIR_FEATURE_RESOURCE_MANAGEMENT, msg, sizeof msg)))) {
        lir__errf(e, s, "load '%s': %s", im->name, msg);
        emit_load_failed(rt, im, e->msg);
        return s;
    }
    struct rt_entry *en = calloc(1, sizeof *en);
    if (!en) return lir__errf(e, LIR_ENOMEM, "load: out of memory");
    lir__rt_uuid_random(en->info.id);
    en->info.model = *im;
    en->info.options = *opt;
    en->req_opts = *opt;
    en->info.status = LIR_LOADED_LOADING;
    en->keep_alive_ms = opt->keep_alive_ms;
    en->refs = 1;
    /* in the table while loading, so a concurrent load of the same model waits for this one */
    struct rt_entry **tail = &rt->entries;
    while (*tail) tail = &(*tail)->next;
    *tail = en;

    uint64_t t0 = lir__now_ns();
    struct rt_shared *sh = NULL;
    bool resident = false;
    uint64_t required = 0;
    struct lir_resource_check rc;
    memset(&rc, 0, sizeof rc);
    for (struct rt_shared *q = rt->shared; q; q = q->next) {
        struct stat st;
        if (!q->opening && !stat(im->path, &st) && q->dev == st.st_dev && q->ino == st.st_ino) resident = true;
    }
    if ((s = shared_get(rt, im->path, &sh, e))) goto fail;
    en->shared = sh;
    const lir_model *m = sh->model;
    if (en->info.options.context_size == 0) en->info.options.context_size = m->hp.n_ctx_train;
    if (en->info.options.parallel == 0) en->info.options.parallel = rt->parallel;
    pthread_mutex_unlock(&rt->mu);
    uint64_t avail = mem_available(rt);
    pthread_mutex_lock(&rt->mu);
    avail = avail > rt->reserved ? avail - rt->reserved : 0;
    resource_check(m, &en->info.options, avail, resident, &rc, &required);
    if (check) *check = rc;
    if (!rc.is_sufficient) {
        s = lir__errf(e, LIR_ENOMEM, "load '%s': %s; %s", im->name, rc.issues[0].message, rc.suggestion);
        goto fail;
    }
    rt->reserved += required;
    {
        struct lir_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = LIR_EVENT_MODEL_LOAD_STARTED;
        snprintf(ev.model_id, sizeof ev.model_id, "%s", im->id);
        snprintf(ev.model_name, sizeof ev.model_name, "%s", im->name);
        snprintf(ev.loaded_model_id, sizeof ev.loaded_model_id, "%s", en->info.id);
        ev.options = en->info.options;
        lir__rt_emit(rt, &ev);
    }
    pthread_mutex_unlock(&rt->mu);
    bool go = !progress || !progress(0.1f, puser);
    if (go) go = prefault(m, progress, puser);
    lir_context *ctx = NULL;
    if (!go) {
        s = lir__errf(e, LIR_ECANCELLED, "load '%s': cancelled by the progress callback", im->name);
    } else {
        struct lir_context_params cp = ctx_params(sh->model, &en->info.options, en->info.options.context_size);
        if ((s = lir_context_create(sh->model, &cp, &ctx, msg, sizeof msg)))
            lir__errf(e, s, "load '%s': %s", im->name, msg);
        if (!s && (s = lir__sched_start(rt, en, ctx, cp.n_seq_max, e))) {
            lir_context_free(ctx);
            ctx = NULL;
        }
    }
    if (!s && progress) progress(1.0f, puser);
    pthread_mutex_lock(&rt->mu);
    rt->reserved -= required;
    if (s) goto fail;
    en->ctx = ctx;
    struct lir_model_info mi;
    lir_model_get_info(m, &mi);
    en->info.status = LIR_LOADED_READY;
    en->info.loaded_at_ms = lir__rt_now_ms();
    en->last_used_mono_ns = lir__now_ns();
    en->info.resources.ram_bytes = required;
    en->info.resources.loaded_layers = mi.n_layer;
    en->info.resources.cpu_layers = mi.n_layer; /* no GPU backend yet: every layer on the CPU */
    en->info.resources.context_size = en->info.options.context_size;
    if (!rt->active[0]) snprintf(rt->active, sizeof rt->active, "%s", en->info.id);
    {
        struct lir_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = LIR_EVENT_MODEL_LOAD_COMPLETED;
        snprintf(ev.model_id, sizeof ev.model_id, "%s", im->id);
        snprintf(ev.model_name, sizeof ev.model_name, "%s", im->name);
        snprintf(ev.loaded_model_id, sizeof ev.loaded_model_id, "%s", en->info.id);
        ev.duration_ms = (double)(lir__now_ns() - t0) / 1e6;
        lir__rt_emit(rt, &ev);
    }
    pthread_cond_broadcast(&rt->cv);
    pthread_cond_broadcast(&rt->reaper_cv);
    *out = en;
    return LIR_OK;
fail:
    en->info.status = LIR_LOADED_ERROR;
    en->load_status = s;
    snprintf(en->load_err, sizeof en->load_err, "%s", e->msg);
    unlink_entry(rt, en);
    if (en->shared) {
        en->shared = NULL;
        shared_put(rt, sh);
    }
    emit_load_failed(rt, im, e->msg);
    pthread_cond_broadcast(&rt->cv);
    if (--en->refs == 0) free(en);
    return s;
}

/* Finds or loads model. mu held on entry and exit. On success *out holds a ref and is READY or BUSY. */
static enum lir_status get_or_load(lir_runtime *rt, const struct lir_installed_model *im,
                                   const struct lir_load_options *opt, bool any_options,
                                   lir_load_progress_fn progress, void *puser, struct lir_resource_check *check,
                                   struct rt_entry **out, lir_err *e) {
    for (;;) {
        struct rt_entry *hit = NULL;
        for (struct rt_entry *en = rt->entries; en; en = en->next) {
            if (en->removed || strcmp(en->info.model.path, im->path)) continue;
            /* the same options as requested, or the same once "model maximum" is resolved */
            bool same = options_equal(&en->req_opts, opt);
            if (!same && en->shared && en->shared->model) {
                struct lir_load_options want = *opt;
                if (!want.context_size) want.context_size = en->shared->model->hp.n_ctx_train;
                if (!want.parallel) want.parallel = rt->parallel;
                same = options_equal(&en->info.options, &want);
            }
            if (!any_options && !same) continue;
            hit = en;
            break;
        }
        if (!hit) return load_new(rt, im, opt, progress, puser, check, out, e);
        if (hit->info.status == LIR_LOADED_UNLOADING) { /* wait for it to go, then load afresh */
            hit->refs++;
            while (!hit->removed) pthread_cond_wait(&rt->cv, &rt->mu);
            if (--hit->refs == 0) free(hit);
            continue;
        }
        hit->refs++;
        while (hit->info.status == LIR_LOADED_LOADING) pthread_cond_wait(&rt->cv, &rt->mu);
        if (hit->info.status == LIR_LOADED_ERROR) {
            enum lir_status s = lir__errf(e, hit->load_status, "%s", hit->load_err);
            if (--hit->refs == 0 && hit->removed) free(hit);
            return s;
        }
        if (hit->info.status == LIR_LOADED_UNLOADING) {
            if (--hit->refs == 0 && hit->removed) free(hit);
            continue;
        }
        *out = hit;
        return LIR_OK;
    }
}

enum lir_status lir_runtime_load(lir_runtime *rt, const char *model, const struct lir_load_options *options,
                                 lir_load_progress_fn progress, void *progress_user, char *loaded_id,
                                 struct lir_resource_check *check, char *err, size_t err_len) {
    lir_err e = { { 0 } };
    enum lir_status s;
    if (check) {
        memset(check, 0, sizeof *check);
        check->is_sufficient = true;
    }
    if (!rt || !model) {
        lir__errf(&e, LIR_EINVAL, "lir_runtime_load: rt and model must not be NULL");
        lir__err_copy(&e, err, err_len);
        return LIR_EINVAL;
    }
    struct lir_load_options opt = options ? *options : lir_load_options_default();
    struct lir_installed_model im;
    char msg[LIR_ERR_MAX];
    if (!(s = check_options(&opt, &e)) && (s = lir_licence_check(rt->licence, LIR_FEATURE_INFERENCE, msg, sizeof msg)))
        lir__errf(&e, s, "load: %s", msg);
    if (s) {
        emit_load_failed(rt, NULL, e.msg);
        lir__err_copy(&e, err, err_len);
        return s;
    }
    pthread_mutex_lock(&rt->mu);
    struct rt_entry *en = find_loaded(rt, model);
    if (en) im = en->info.model;
    pthread_mutex_unlock(&rt->mu);
    if (!en && (s = lir__rt_resolve_installed(rt->models_dir, model, &im, &e))) {
        emit_load_failed(rt, NULL, e.msg);
        lir__err_copy(&e, err, err_len);
        return s;
    }
    pthread_mutex_lock(&rt->mu);
    s = get_or_load(rt, &im, &opt, false, progress, progress_user, check, &en, &e);
    if (!s) {
        if (loaded_id) snprintf(loaded_id, LIR_ID_LEN, "%s", en->info.id);
        en->keep_alive_ms = opt.keep_alive_ms;
        en->info.options.keep_alive_ms = opt.keep_alive_ms;
        en->last_used_mono_ns = lir__now_ns();
        en->refs--;
        pthread_cond_broadcast(&rt->reaper_cv);
    }
    pthread_mutex_unlock(&rt->mu);
    if (s) lir__err_copy(&e, err, err_len);
    else ram_alert(rt);
    return s;
}

enum lir_status lir_runtime_check_resources(lir_runtime *rt, const char *model, const struct lir_load_options *options,
                                            struct lir_resource_check *check, char *err, size_t err_len) {
    lir_err e = { { 0 } };
    enum lir_status s;
    if (!rt || !model || !check) return LIR_EINVAL;
    struct lir_load_options opt = options ? *options : lir_load_options_default();
    struct lir_installed_model im;
    if ((s = check_options(&opt, &e)) || (s = lir__rt_resolve_installed(rt->models_dir, model, &im, &e))) {
        lir__err_copy(&e, err, err_len);
        return s;
    }
    pthread_mutex_lock(&rt->mu);
    struct rt_shared *sh = NULL;
    bool resident = false;
    for (struct rt_shared *q = rt->shared; q; q = q->next) {
        struct stat st;
        if (!q->opening && !stat(im.path, &st) && q->dev == st.st_dev && q->ino == st.st_ino) resident = true;
    }
    s = shared_get(rt, im.path, &sh, &e);
    uint64_t reserved = rt->reserved;
    pthread_mutex_unlock(&rt->mu);
    if (s) {
        lir__err_copy(&e, err, err_len);
        return s;
    }
    uint64_t avail = mem_available(rt), required;
    avail = avail > reserved ? avail - reserved : 0;
    resource_check(sh->model, &opt, avail, resident, check, &required);
    pthread_mutex_lock(&rt->mu);
    shared_put(rt, sh);
    pthread_mutex_unlock(&rt->mu);
    return LIR_OK;
}

/* ---------------------------------------------------------------- unload */

/* mu held. Marks en UNLOADING, waits for every holder (requests running or queued) to finish,
 * frees its context, drops the mapping, emits ModelUnloaded. Returns with mu held. */
static void unload_entry(lir_runtime *rt, struct rt_entry *en) {
    en->info.status = LIR_LOADED_UNLOADING;
    en->refs++;
    while (en->refs > 1) pthread_cond_wait(&rt->cv, &rt->mu);
    unlink_entry(rt, en);
    if (!strcmp(rt->active, en->info.id)) rt->active[0] = 0;
    lir_context *ctx = en->ctx;
    lir_grammar_vocab *gv = en->gvocab;
    en->ctx = NULL;
    en->gvocab = NULL;
    pthread_mutex_unlock(&rt->mu);
    lir__sched_stop(en);
    lir_context_free(ctx);
    lir_grammar_vocab_free(gv);
    pthread_mutex_lock(&rt->mu);
    if (en->shared) shared_put(rt, en->shared);
    struct lir_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = LIR_EVENT_MODEL_UNLOADED;
    snprintf(ev.model_id, sizeof ev.model_id, "%s", en->info.model.id);
    snprintf(ev.model_name, sizeof ev.model_name, "%s", en->info.model.name);
    snprintf(ev.loaded_model_id, sizeof ev.loaded_model_id, "%s", en->info.id);
    lir__rt_emit(rt, &ev);
    pthread_cond_broadcast(&rt->cv);
    if (--en->refs == 0) free(en);
}

enum lir_status lir_runtime_unload(lir_runtime *rt, const char *loaded_id) {
    if (!rt || !loaded_id) return LIR_EINVAL;
    pthread_mutex_lock(&rt->mu);
    struct rt_entry *en = find_loaded(rt, loaded_id);
    if (en) {
        en->refs++;
        while (en->info.status == LIR_LOADED_LOADING) pthread_cond_wait(&rt->cv, &rt->mu);
        bool ok = !en->removed && en->info.status != LIR_LOADED_UNLOADING && en->info.status != LIR_LOADED_ERROR;
        en->refs--;
        if (ok) unload_entry(rt, en);
        else if (en->refs == 0 && en->removed) free(en);
        if (!ok) en = NULL;
    }
    pthread_mutex_unlock(&rt->mu);
    return en ? LIR_OK : LIR_ENOTFOUND;
}

enum lir_status lir_runtime_unload_all(lir_runtime *rt) {
    if (!rt) return LIR_EINVAL;
    for (;;) {
        char id[LIR_ID_LEN] = "";
        pthread_mutex_lock(&rt->mu);
        for (struct rt_entry *en = rt->entries; en && !id[0]; en = en->next)
            if (!en->removed && en->info.status != LIR_LOADED_UNLOADING && en->info.status != LIR_LOADED_ERROR)
                snprintf(id, sizeof id, "%s", en->info.id);
        pthread_mutex_unlock(&rt->mu);
        if (!id[0]) return LIR_OK;
        lir_runtime_unload(rt, id);
    }
}

/* ---------------------------------------------------------------- idle unloader */

static void *reaper_main(void *arg) {
    lir_runtime *rt = arg;
    pthread_mutex_lock(&rt->mu);
    while (!rt->stopping) {
        uint64_t now = lir__now_ns(), next = UINT64_MAX;
        struct rt_entry *victim = NULL;
        for (struct rt_entry *en = rt->entries; en && !victim; en = en->next) {
            /* keep_alive 0 is the last request's job (lir__rt_release): a model loaded with it
             * stays until it has served a request */
            if (en->removed || en->info.status != LIR_LOADED_READY || en->keep_alive_ms <= 0 ||
                en->info.active_requests > 0)
                continue;
            uint64_t due = en->last_used_mono_ns + (uint64_t)en->keep_alive_ms * 1000000ull;
            if (due <= now) victim = en;
            else if (due < next) next = due;
        }
        if (victim) {
            unload_entry(rt, victim);
            continue;
        }
        if (next == UINT64_MAX) {
            pthread_cond_wait(&rt->reaper_cv, &rt->mu);
        } else {
            /* lir__now_ns is CLOCK_MONOTONIC, the clock of reaper_cv */
            struct timespec ts = { (time_t)(next / 1000000000ull), (long)(next % 1000000000ull) };
            pthread_cond_timedwait(&rt->reaper_cv, &rt->mu, &ts);
        }
    }
    pthread_mutex_unlock(&rt->mu);
    return NULL;
}

/* ---------------------------------------------------------------- list, active */

static void snapshot(const struct rt_entry *en, struct lir_loaded_model *o) {
    *o = en->info;
    if (o->status == LIR_LOADED_READY && o->active_requests > 0) o->status = LIR_LOADED_BUSY;
}

enum lir_status lir_runtime_list_loaded(lir_runtime *rt, struct lir_loaded_model **out, int32_t *n) {
    if (!rt || !out || !n) return LIR_EINVAL;
    pthread_mutex_lock(&rt->mu);
    int32_t k = 0;
    for (struct rt_entry *en = rt->entries; en; en = en->next) k += !en->removed;
    struct lir_loaded_model *v = k ? malloc(sizeof *v * (size_t)k) : NULL;
    if (k && !v) {
        pthread_mutex_unlock(&rt->mu);
        return LIR_ENOMEM;
    }
    int32_t i = 0;
    for (struct rt_entry *en = rt->entries; en; en = en->next)
        if (!en->removed) snapshot(en, &v[i++]);
    pthread_mutex_unlock(&rt->mu);
    *out = v;
    *n = k;
    return LIR_OK;
}

enum lir_status lir_runtime_get_loaded(lir_runtime *rt, const char *loaded_id, struct lir_loaded_model *out) {
    if (!rt || !loaded_id || !out) return LIR_EINVAL;
    pthread_mutex_lock(&rt->mu);
    struct rt_entry *en = find_loaded(rt, loaded_id);
    if (en) snapshot(en, out);
    pthread_mutex_unlock(&rt->mu);
    return en ? LIR_OK : LIR_ENOTFOUND;
}

enum lir_status lir_runtime_get_active(lir_runtime *rt, struct lir_loaded_model *out) {
    if (!rt || !out) return LIR_EINVAL;
    pthread_mutex_lock(&rt->mu);
    struct rt_entry *en = rt->active[0] ? find_loaded(rt, rt->active) : NULL;
    if (en) snapshot(en, out);
    pthread_mutex_unlock(&rt->mu);
    return en ? LIR_OK : LIR_ENOTFOUND;
}

enum lir_status lir_runtime_set_active(lir_runtime *rt, const char *loaded_id) {
    if (!rt || !loaded_id) return LIR_EINVAL;
    pthread_mutex_lock(&rt->mu);
    struct rt_entry *en = find_loaded(rt, loaded_id);
    bool ok = en && (en->info.status == LIR_LOADED_READY || en->info.status == LIR_LOADED_BUSY);
    if (ok) snprintf(rt->active, sizeof rt->active, "%s", en->info.id);
    pthread_mutex_unlock(&rt->mu);
    return ok ? LIR_OK : LIR_ENOTFOUND;
}

/* ---------------------------------------------------------------- requests */

enum lir_status lir__rt_acquire(lir_runtime *rt, const char *model, struct rt_entry **out, lir_err *e) {
    char msg[LIR_ERR_MAX];
    enum lir_status s = lir_licence_check(rt->licence, LIR_FEATURE_INFERENCE, msg, sizeof msg);
    if (s) return lir__errf(e, s, "%s", msg);
    pthread_mutex_lock(&rt->mu);
    const char *want = model ? model : rt->active;
    if (!want[0]) {
        pthread_mutex_unlock(&rt->mu);
        return lir__errf(e, LIR_EINVAL, "no model given and no active model");
    }
    struct rt_entry *en = find_loaded(rt, want);
    if (!en && model) en = find_by_model(rt, model); /* loaded already: no need to scan the directory */
    if (en) {
        en->refs++;
        while (en->info.status == LIR_LOADED_LOADING) pthread_cond_wait(&rt->cv, &rt->mu);
        if (en->info.status != LIR_LOADED_READY && en->info.status != LIR_LOADED_BUSY) {
            if (en->info.status == LIR_LOADED_ERROR) s = lir__errf(e, en->load_status, "%s", en->load_err);
            else s = lir__errf(e, LIR_ENOTFOUND, "model %s is being unloaded", want);
            if (--en->refs == 0 && en->removed) free(en);
            pthread_mutex_unlock(&rt->mu);
            return s;
        }
    } else {
        if (!model) {
            pthread_mutex_unlock(&rt->mu);
            return lir__errf(e, LIR_ENOTFOUND, "the active model is gone");
        }
        pthread_mutex_unlock(&rt->mu);
        struct lir_installed_model im;
        if ((s = lir__rt_resolve_installed(rt->models_dir, model, &im, e))) return s;
        struct lir_load_options opt = lir_load_options_default();
        pthread_mutex_lock(&rt->mu);
        s = get_or_load(rt, &im, &opt, true, NULL, NULL, NULL, &en, e);
        if (s) {
            pthread_mutex_unlock(&rt->mu);
            return s;
        }
    }
    en->info.active_requests++;
    pthread_mutex_unlock(&rt->mu);
    *out = en;
    return LIR_OK;
}

void lir__rt_begin_turn(lir_runtime *rt, struct rt_entry *en) {
    struct lir_tier_policy pol;
    lir_licence_policy(rt->licence, &pol);
    pthread_mutex_lock(&rt->mu);
    uint64_t ticket = en->next_ticket++;
    while (en->serving != ticket) pthread_cond_wait(&rt->cv, &rt->mu);
    /* tier slots across models */
    while (rt->running >= pol.max_concurrent_requests && pol.max_concurrent_requests > 0)
        pthread_cond_wait(&rt->cv, &rt->mu);
    rt->running++;
    en->info.last_used_at_ms = lir__rt_now_ms();
    pthread_mutex_unlock(&rt->mu);
    lir__sched_pause(en); /* e->ctx is the turn's until lir__rt_end_turn */
}

void lir__rt_begin_request(lir_runtime *rt, struct rt_entry *en) {
    struct lir_tier_policy pol;
    lir_licence_policy(rt->licence, &pol);
    pthread_mutex_lock(&rt->mu);
    while (rt->running >= pol.max_concurrent_requests && pol.max_concurrent_requests > 0)
        pthread_cond_wait(&rt->cv, &rt->mu);
    rt->running++;
    en->info.last_used_at_ms = lir__rt_now_ms();
    pthread_mutex_unlock(&rt->mu);
}

void lir__rt_set_rate(lir_runtime *rt, struct rt_entry *en, float tok_s) {
    pthread_mutex_lock(&rt->mu);
    en->current_tok_s = tok_s;
    pthread_mutex_unlock(&rt->mu);
}

void lir__rt_end_turn(lir_runtime *rt, struct rt_entry *en, const struct lir_generate_result *r,
                      int32_t context_used) {
    lir__sched_resume(en);
    pthread_mutex_lock(&rt->mu);
    en->serving++;
    pthread_mutex_unlock(&rt->mu);
    lir__rt_end_request(rt, en, r, context_used);
}

void lir__rt_end_request(lir_runtime *rt, struct rt_entry *en, const struct lir_generate_result *r,
                         int32_t context_used) {
    pthread_mutex_lock(&rt->mu);
    rt->running--;
    en->info.active_requests--;
    en->current_tok_s = 0.0f;
    en->info.last_used_at_ms = lir__rt_now_ms();
    en->last_used_mono_ns = lir__now_ns();
    if (context_used >= 0) en->info.resources.context_used = context_used;
    if (r) {
        __typeof__(en->info.metrics) *mt = &en->info.metrics;
        int64_t n0 = mt->total_requests;
        mt->total_requests++;
        mt->total_tokens_generated += r->usage.completion_tokens;
        mt->total_inference_ms += r->metrics.total_ms;
        mt->average_ttft_ms = (mt->average_ttft_ms * (double)n0 + r->metrics.ttft_ms) / (double)(n0 + 1);
        mt->average_tokens_per_second =
            (mt->average_tokens_per_second * (float)n0 + r->metrics.tokens_per_second) / (float)(n0 + 1);
        if (r->metrics.tokens_per_second > mt->peak_tokens_per_second)
            mt->peak_tokens_per_second = r->metrics.tokens_per_second;
    }
    pthread_cond_broadcast(&rt->cv);
    pthread_cond_broadcast(&rt->reaper_cv);
    pthread_mutex_unlock(&rt->mu);
    if (r) lir__rt_observe_generation(rt, en, r);
}

/* ---------------------------------------------------------------- resource usage */

void lir__rt_counters(lir_runtime *rt, struct lir_resource_usage *out) {
    out->active_models = out->active_requests = 0;
    out->models_ram_bytes = 0;
    out->current_tokens_per_second = 0.0f;
    pthread_mutex_lock(&rt->mu);
    for (struct rt_entry *en = rt->entries; en; en = en->next) {
        if (en->removed || en->info.status == LIR_LOADED_ERROR) continue;
        out->active_models++;
        out->models_ram_bytes += en->info.resources.ram_bytes;
        out->active_requests += en->info.active_requests;
        out->current_tokens_per_second += en->current_tok_s;
        /* vram_held_bytes per GPU: no GPU backend yet, so nothing is held on any GPU */
    }
    pthread_mutex_unlock(&rt->mu);
}

enum lir_status lir_runtime_resource_usage(lir_runtime *rt, struct lir_resource_usage *out) {
    if (!rt || !out) return LIR_EINVAL;
    /* with a monitor: its latest sample for the system, the runtime's counters as of now */
    bool sampled = rt->mon && lir__mon_current(rt->mon, out);
    uint64_t total = 0, idle = 0, pt = 0;
    bool cpu_ok = false;
    if (!sampled) {
        memset(out, 0, sizeof *out);
        out->timestamp_ms = lir__rt_now_ms();
        out->system_ram_bytes = meminfo("MemTotal");
        uint64_t avail = meminfo("MemAvailable");
        out->system_ram_used_bytes = out->system_ram_bytes > avail ? out->system_ram_bytes - avail : 0;
        out->process_ram_bytes = lir__sys_rss();
        pt = lir__sys_proc_ticks();
        cpu_ok = lir__sys_cpu(&total, &idle);
    }
    lir__rt_counters(rt, out);
    pthread_mutex_lock(&rt->mu);
    if (cpu_ok && rt->cpu_prev_total && total > rt->cpu_prev_total) {
        uint64_t dt = total - rt->cpu_prev_total, di = idle - rt->cpu_prev_idle;
        out->cpu_usage_percent = 100.0f * (float)(dt - (di < dt ? di : dt)) / (float)dt;
        /* /proc/stat sums every CPU: a process using all of them is 100% */
        out->process_cpu_percent = 100.0f * (float)(pt - rt->proc_prev_ticks) / (float)dt;
        if (out->process_cpu_percent > 100.0f) out->process_cpu_percent = 100.0f;
    }
    if (cpu_ok) {
        rt->cpu_prev_total = total;
        rt->cpu_prev_idle = idle;
        rt->proc_prev_ticks = pt;
    }
    pthread_mutex_unlock(&rt->mu);
    ram_alert(rt);
    return LIR_OK;
}
