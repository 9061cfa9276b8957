/* writer.c — the store's writer: callers queue ops (never touching the disk), one thread takes
 * the queue every batch_ms and writes it in one transaction; the downsampler turns monitor
 * samples into 1 s and 1 min rows and applies retention (24 h / 30 days). Contract in store.h. */
#include "store/store.h"
#include "runtime/event_json.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum op_kind { OP_USAGE, OP_EVENT, OP_GEN, OP_RETENTION, OP_SNAPSHOT };

struct op {
    struct op *next;
    enum op_kind kind;
    union {
        struct { struct lir_resource_usage u; int32_t resolution_s, samples; } usage;
        struct { struct lir_event ev; struct lir_loaded_model lm; bool has_lm; } event;
        struct lir_request_record gen;
        struct lir__store_snapshot snap;
        int64_t now_ms;
    } v;
};

/* running sums of one bucket (1 s or 1 min) */
struct bucket {
    int64_t key;               /* timestamp_ms / width; -1 = empty */
    int32_t n;
    double ram_total, ram_used, proc_ram, models_ram, cpu, proc_cpu, models, requests, tok_s;
    struct lir_resource_usage last; /* GPUs are taken from the bucket's last sample */
};

struct lir__store_w {
    sqlite3 *db;
    struct lir__store_w_params p;
    int owner_pid;
    uint64_t owner_start;
    pthread_mutex_t mu;
    pthread_cond_t cv, done_cv;
    struct op *head, *tail;
    uint64_t queued, committed, errors;
    bool stop;
    pthread_t thread;
    struct bucket sec, min;
};

/* ---------------------------------------------------------------- queueing */

static void enqueue(lir__store_w *w, struct op *o) {
    /* mu held */
    o->next = NULL;
    if (w->tail) w->tail->next = o;
    else w->head = o;
    w->tail = o;
    w->queued++;
    pthread_cond_signal(&w->cv);
}

static void bucket_add(struct bucket *b, const struct lir_resource_usage *u, int64_t key) {
    if (b->n == 0) b->key = key;
    b->n++;
    b->ram_total += (double)u->system_ram_bytes;
    b->ram_used += (double)u->system_ram_used_bytes;
    b->proc_ram += (double)u->process_ram_bytes;
    b->models_ram += (double)u->models_ram_bytes;
    b->cpu += u->cpu_usage_percent;
    b->proc_cpu += u->process_cpu_percent;
    b->models += u->active_models;
    b->requests += u->active_requests;
    b->tok_s += u->current_tokens_per_second;
    b->last = *u;
}

/* folds a closed bucket into the average op (mu held) */
static struct op *bucket_close(struct bucket *b, int32_t width_s) {
    struct op *o = calloc(1, sizeof *o);
    if (o) {
        o->kind = OP_USAGE;
        struct lir_resource_usage *u = &o->v.usage.u;
        double n = b->n;
        *u = b->last;
        u->timestamp_ms = b->key * width_s * 1000; /* the start of the bucket */
        u->system_ram_bytes = (uint64_t)(b->ram_total / n + 0.5);
        u->system_ram_used_bytes = (uint64_t)(b->ram_used / n + 0.5);
        u->process_ram_bytes = (uint64_t)(b->proc_ram / n + 0.5);
        u->models_ram_bytes = (uint64_t)(b->models_ram / n + 0.5);
        u->cpu_usage_percent = (float)(b->cpu / n);
        u->process_cpu_percent = (float)(b->proc_cpu / n);
        u->active_models = (int32_t)(b->models / n + 0.5);
        u->active_requests = (int32_t)(b->requests / n + 0.5);
        u->current_tokens_per_second = (float)(b->tok_s / n);
        o->v.usage.resolution_s = width_s;
        o->v.usage.samples = b->n;
    }
    memset(b, 0, sizeof *b);
    return o;
}

void lir__store_w_usage(lir__store_w *w, const struct lir_resource_usage *u) {
    int64_t ks = u->timestamp_ms / 1000, km = u->timestamp_ms / 60000;
    pthread_mutex_lock(&w->mu);
    if (w->sec.n && ks != w->sec.key) {
        struct op *o = bucket_close(&w->sec, 1);
        if (o) enqueue(w, o);
    }
    if (w->min.n && km != w->min.key) {
        struct op *o = bucket_close(&w->min, 60);
        if (o) enqueue(w, o);
        struct op *r = calloc(1, sizeof *r);
        if (r) {
            r->kind = OP_RETENTION;
            r->v.now_ms = u->timestamp_ms;
            enqueue(w, r);
        }
    }
    bucket_add(&w->sec, u, ks);
    bucket_add(&w->min, u, km);
    pthread_mutex_unlock(&w->mu);
}

void lir__store_w_event(lir__store_w *w, const struct lir_event *ev, const struct lir_loaded_model *lm) {
    struct op *o = malloc(sizeof *o);
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->kind = OP_EVENT;
    o->v.event.ev = *ev;
    if (lm) {
        o->v.event.lm = *lm;
        o->v.event.has_lm = true;
    }
    pthread_mutex_lock(&w->mu);
    enqueue(w, o);
    pthread_mutex_unlock(&w->mu);
}

void lir__store_w_generation(lir__store_w *w, const struct lir_request_record *r) {
    struct op *o = malloc(sizeof *o);
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->kind = OP_GEN;
    o->v.gen = *r;
    pthread_mutex_lock(&w->mu);
    enqueue(w, o);
    pthread_mutex_unlock(&w->mu);
}

void lir__store_w_snapshot(lir__store_w *w, const struct lir__store_snapshot *sn) {
    struct op *o = calloc(1, sizeof *o);
    if (!o) return;
    o->kind = OP_SNAPSHOT;
    o->v.snap = *sn;
    pthread_mutex_lock(&w->mu);
    enqueue(w, o);
    pthread_mutex_unlock(&w->mu);
}

uint64_t lir__store_w_flush(lir__store_w *w) {
    pthread_mutex_lock(&w->mu);
    uint64_t target = w->queued;
    pthread_cond_signal(&w->cv);
    while (w->committed < target && !w->stop) pthread_cond_wait(&w->done_cv, &w->mu);
    uint64_t c = w->committed;
    pthread_mutex_unlock(&w->mu);
    return c;
}

uint64_t lir__store_w_errors(lir__store_w *w) {
    pthread_mutex_lock(&w->mu);
    uint64_t n = w->errors;
    pthread_mutex_unlock(&w->mu);
    return n;
}

/* ---------------------------------------------------------------- writing */

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *gpus_json(const struct lir_resource_usage *u) {
    if (u->n_gpus <= 0) return NULL;
    json_t *a = json_array();
    for (int32_t i = 0; a && i < u->n_gpus; i++) {
        const struct lir_gpu_usage *g = &u->gpus[i];
        json_array_append_new(a, json_pack("{s:i,s:s,s:I,s:I,s:I,s:f,s:f,s:f}", "id", g->id, "name", g->name,
                                           "vram_total_bytes", (json_int_t)g->vram_total_bytes, "vram_used_bytes",
                                           (json_int_t)g->vram_used_bytes, "vram_held_bytes",
                                           (json_int_t)g->vram_held_bytes, "utilization_percent",
                                           (double)g->utilization_percent, "temperature_c", (double)g->temperature_c,
                                           "power_w", (double)g->power_w));
    }
    char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return s;
}

static int put_usage(sqlite3 *db, const struct op *o) {
    const struct lir_resource_usage *u = &o->v.usage.u;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO resource_usage_history(timestamp, resolution_s, samples, system_ram_bytes,"
                                " system_ram_used_bytes, process_ram_bytes, models_ram_bytes, cpu_usage_percent,"
                                " process_cpu_percent, active_models, active_requests, current_tokens_per_second,"
                                " gpu_usage_json) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) return rc;
    char *gj = gpus_json(u);
    sqlite3_bind_int64(st, 1, u->timestamp_ms);
    sqlite3_bind_int(st, 2, o->v.usage.resolution_s);
    sqlite3_bind_int(st, 3, o->v.usage.samples);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)u->system_ram_bytes);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)u->system_ram_used_bytes);
    sqlite3_bind_int64(st, 6, (sqlite3_int64)u->process_ram_bytes);
    sqlite3_bind_int64(st, 7, (sqlite3_int64)u->models_ram_bytes);
    sqlite3_bind_double(st, 8, u->cpu_usage_percent);
    sqlite3_bind_double(st, 9, u->process_cpu_percent);
    sqlite3_bind_int(st, 10, u->active_models);
    sqlite3_bind_int(st, 11, u->active_requests);
    sqlite3_bind_double(st, 12, u->current_tokens_per_second);
    if (gj) sqlite3_bind_text(st, 13, gj, -1, free);
    else sqlite3_bind_null(st, 13);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int exec_bind(sqlite3 *db, const char *sql, sqlite3_stmt **st) { return sqlite3_prepare_v2(db, sql, -1, st, NULL); }

static int step_done(sqlite3_stmt *st) {
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* A loaded_models row for id if none exists (generation and event rows refer to it). */
static int ensure_model(lir__store_w *w, const char *id, const char *installed_id, const char *name, int64_t ts) {
    sqlite3_stmt *st;
    int rc = exec_bind(w->db,
                       "INSERT OR IGNORE INTO loaded_models(id, installed_model_id, model_name, backend_type, status,"
                       " loaded_at, owner_pid, owner_start, created_at) VALUES (?,?,?,'native','Ready',?,?,?,?)",
                       &st);
    if (rc != SQLITE_OK) return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, installed_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, ts);
    sqlite3_bind_int(st, 5, w->owner_pid);
    sqlite3_bind_int64(st, 6, (sqlite3_int64)w->owner_start);
    sqlite3_bind_int64(st, 7, ts);
    return step_done(st);
}

static char *options_json(const struct lir_load_options *o) {
    json_t *split = json_array();
    for (int32_t i = 0; split && i < o->n_tensor_split && i < LIR_TENSOR_SPLIT_MAX; i++)
        json_array_append_new(split, json_real(o->tensor_split[i]));
    json_t *j = json_pack("{s:i,s:i,s:i,s:i,s:s,s:i,s:o,s:I}", "gpu_layers", o->gpu_layers, "context_size",
                          o->context_size, "batch_size", o->batch_size, "threads", o->threads, "gpu_id", o->gpu_id,
                          "main_gpu", o->main_gpu, "tensor_split", split ? split : json_null(), "keep_alive_ms",
                          (json_int_t)o->keep_alive_ms);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

/* loaded_models + loaded_model_resources from a loaded model's state */
static int put_model_state(lir__store_w *w, const struct lir_loaded_model *lm, const char *status) {
    int rc = ensure_model(w, lm->id, lm->model.id, lm->model.name, lm->loaded_at_ms);
    if (rc) return rc;
    sqlite3_stmt *st;
    rc = exec_bind(w->db,
                   "UPDATE loaded_models SET installed_model_id=?2, model_name=?3, backend_type=?4, status=?5,"
                   " loaded_at=?6, last_used_at=?7, active_requests=?8, total_requests=?9, total_tokens_generated=?10,"
                   " total_inference_time_ms=?11, average_tokens_per_second=?12, peak_tokens_per_second=?13,"
                   " average_ttft_ms=?14, load_options_json=?15 WHERE id=?1",
                   &st);
    if (rc) return rc;
    char *oj = options_json(&lm->options);
    sqlite3_bind_text(st, 1, lm->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, lm->model.id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, lm->model.name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, lm->model.backend[0] ? lm->model.backend : "native", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, lm->loaded_at_ms);
    if (lm->last_used_at_ms) sqlite3_bind_int64(st, 7, lm->last_used_at_ms);
    else sqlite3_bind_null(st, 7);
    sqlite3_bind_int(st, 8, !strcmp(status, "Unloaded") ? 0 : lm->active_requests);
    sqlite3_bind_int64(st, 9, lm->metrics.total_requests);
    sqlite3_bind_int64(st, 10, lm->metrics.total_tokens_generated);
    sqlite3_bind_int64(st, 11, (sqlite3_int64)(lm->metrics.total_inference_ms + 0.5));
    sqlite3_bind_double(st, 12, lm->metrics.average_tokens_per_second);
    sqlite3_bind_double(st, 13, lm->metrics.peak_tokens_per_second);
    sqlite3_bind_int64(st, 14, (sqlite3_int64)(lm->metrics.average_ttft_ms + 0.5));
    if (oj) sqlite3_bind_text(st, 15, oj, -1, free);
    else sqlite3_bind_null(st, 15);
    if ((rc = step_done(st))) return rc;
    rc = exec_bind(w->db,
                   "INSERT INTO loaded_model_resources(id, loaded_model_id, ram_bytes, vram_bytes, loaded_layers,"
                   " gpu_layers, cpu_layers, context_size, context_used, last_updated_at) VALUES (?1,?1,?2,?3,?4,?5,?6,"
                   "?7,?8,?9) ON CONFLICT(loaded_model_id) DO UPDATE SET ram_bytes=?2, vram_bytes=?3,"
                   " loaded_layers=?4, gpu_layers=?5, cpu_layers=?6, context_size=?7, context_used=?8,"
                   " last_updated_at=?9",
                   &st);
    if (rc) return rc;
    /* one resources row per loaded model: its id is the loaded model's (both UUIDs) */
    sqlite3_bind_text(st, 1, lm->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)lm->resources.ram_bytes);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)lm->resources.vram_bytes);
    sqlite3_bind_int(st, 4, lm->resources.loaded_layers);
    sqlite3_bind_int(st, 5, lm->resources.gpu_layers);
    sqlite3_bind_int(st, 6, lm->resources.cpu_layers);
    sqlite3_bind_int(st, 7, lm->resources.context_size);
    sqlite3_bind_int(st, 8, lm->resources.context_used);
    sqlite3_bind_int64(st, 9, wall_ms());
    return step_done(st);
}

/* The event's payload for the inference_events row: lir__json_event's object (type and
 * timestamp are also columns of their own). */
static char *event_json(const struct lir_event *ev) {
    json_t *j = lir__json_event(ev);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

static int put_event(lir__store_w *w, const struct op *o) {
    const struct lir_event *ev = &o->v.event.ev;
    const struct lir_loaded_model *lm = o->v.event.has_lm ? &o->v.event.lm : NULL;
    int rc = SQLITE_OK;
    const char *lid = ev->loaded_model_id[0] ? ev->loaded_model_id : NULL;
    if (lm) rc = put_model_state(w, lm, ev->type == LIR_EVENT_MODEL_UNLOADED ? "Unloaded"
                                        : lm->status == LIR_LOADED_BUSY   ? "Busy"
                                                                          : "Ready");
    else if (lid) rc = ensure_model(w, lid, ev->model_id, ev->model_name, ev->timestamp_ms);
    if (!rc && !lm && lid && ev->type == LIR_EVENT_MODEL_UNLOADED) {
        sqlite3_stmt *st;
        if (!(rc = exec_bind(w->db, "UPDATE loaded_models SET status='Unloaded', active_requests=0 WHERE id=?", &st))) {
            sqlite3_bind_text(st, 1, lid, -1, SQLITE_TRANSIENT);
            rc = step_done(st);
        }
    }
    if (rc) return rc;
    sqlite3_stmt *st;
    if ((rc = exec_bind(w->db,
                        "INSERT INTO inference_events(timestamp, event_type, loaded_model_id, event_data_json)"
                        " VALUES (?,?,?,?)",
                        &st)))
        return rc;
    char *dj = event_json(ev);
    sqlite3_bind_int64(st, 1, ev->timestamp_ms);
    sqlite3_bind_text(st, 2, lir_event_type_str(ev->type), -1, SQLITE_STATIC);
    if (lid) sqlite3_bind_text(st, 3, lid, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(st, 3);
    if (dj) sqlite3_bind_text(st, 4, dj, -1, free);
    else sqlite3_bind_null(st, 4);
    return step_done(st);
}

static int put_generation(lir__store_w *w, const struct lir_request_record *r) {
    int rc = ensure_model(w, r->loaded_model_id, "", r->model_name, r->timestamp_ms);
    if (rc) return rc;
    sqlite3_stmt *st;
    if ((rc = exec_bind(w->db,
                        "INSERT INTO generation_metrics(loaded_model_id, timestamp, total_time_ms,"
                        " time_to_first_token_ms, generation_time_ms, tokens_per_second, prompt_eval_tokens_per_second,"
                        " prompt_tokens, completion_tokens, finish_reason) VALUES (?,?,?,?,?,?,?,?,?,?)",
                        &st)))
        return rc;
    sqlite3_bind_text(st, 1, r->loaded_model_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, r->timestamp_ms);
    sqlite3_bind_double(st, 3, r->metrics.total_ms);
    sqlite3_bind_double(st, 4, r->metrics.ttft_ms);
    sqlite3_bind_double(st, 5, r->metrics.generation_ms);
    sqlite3_bind_double(st, 6, r->metrics.tokens_per_second);
    sqlite3_bind_double(st, 7, r->metrics.prompt_tokens_per_second);
    sqlite3_bind_int(st, 8, r->usage.prompt_tokens);
    sqlite3_bind_int(st, 9, r->usage.completion_tokens);
    sqlite3_bind_text(st, 10, lir_finish_reason_str(r->finish_reason), -1, SQLITE_STATIC);
    return step_done(st);
}

static int put_snapshot(lir__store_w *w, const struct lir__store_snapshot *sn) {
    int rc = ensure_model(w, sn->loaded_model_id, "", "", sn->created_at_ms);
    if (rc) return rc;
    sqlite3_stmt *st;
    if ((rc = exec_bind(w->db,
                        "INSERT INTO context_snapshots(id, loaded_model_id, token_count, size_bytes, data_path, checksum,"
                        " created_at) VALUES (?1,?2,?3,?4,?5,?6,?7) ON CONFLICT(id) DO UPDATE SET loaded_model_id=?2,"
                        " token_count=?3, size_bytes=?4, data_path=?5, checksum=?6, created_at=?7",
                        &st)))
        return rc;
    sqlite3_bind_text(st, 1, sn->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, sn->loaded_model_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 3, sn->token_count);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)sn->size_bytes);
    sqlite3_bind_text(st, 5, sn->path, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, sn->checksum, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 7, sn->created_at_ms);
    return step_done(st);
}

static int put_retention(lir__store_w *w, int64_t now) {
    sqlite3_stmt *st;
    int rc = exec_bind(w->db,
                       "DELETE FROM resource_usage_history WHERE (resolution_s = 1 AND timestamp < ?1) OR"
                       " (resolution_s = 60 AND timestamp < ?2)",
                       &st);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, now - LIR_STORE_RETAIN_1S_MS);
    sqlite3_bind_int64(st, 2, now - LIR_STORE_RETAIN_1M_MS);
    return step_done(st);
}

static int write_batch(lir__store_w *w, struct op *list) {
    int rc = sqlite3_exec(w->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    for (struct op *o = list; o && rc == SQLITE_OK; o = o->next) {
        switch (o->kind) {
        case OP_USAGE: rc = put_usage(w->db, o); break;
        case OP_EVENT: rc = put_event(w, o); break;
        case OP_GEN: rc = put_generation(w, &o->v.gen); break;
        case OP_RETENTION: rc = put_retention(w, o->v.now_ms); break;
        case OP_SNAPSHOT: rc = put_snapshot(w, &o->v.snap); break;
        }
    }
    if (rc == SQLITE_OK) rc = sqlite3_exec(w->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static void *writer_main(void *arg) {
    lir__store_w *w = arg;
    pthread_setname_np(pthread_self(), "lir-store");
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->head && !w->stop) pthread_cond_wait(&w->cv, &w->mu);
        if (!w->head && w->stop) break;
        if (!w->stop && w->p.batch_ms > 0) { /* gather a batch, unless stopping */
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += (long)w->p.batch_ms * 1000000L;
            until.tv_sec += until.tv_nsec / 1000000000L;
            until.tv_nsec %= 1000000000L;
            while (!w->stop && pthread_cond_timedwait(&w->cv, &w->mu, &until) != ETIMEDOUT) {}
        }
        struct op *list = w->head;
        uint64_t n = 0;
        for (struct op *o = list; o; o = o->next) n++;
        w->head = w->tail = NULL;
        pthread_mutex_unlock(&w->mu);
        int rc = write_batch(w, list);
        while (list) {
            struct op *o = list;
            list = o->next;
            free(o);
        }
        pthread_mutex_lock(&w->mu);
        if (rc != SQLITE_OK) w->errors++;
        w->committed += n; /* a failed batch is dropped, not retried: it counts as done */
        pthread_cond_broadcast(&w->done_cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* ---------------------------------------------------------------- open / close */

enum lir_status lir__store_w_open(const char *dir, const struct lir__store_w_params *p, lir__store_w **out,
                                  lir_err *e) {
    *out = NULL;
    if (!dir || !dir[0]) return lir__errf(e, LIR_EINVAL, "store: data_dir must not be empty");
    lir__store_w *w = calloc(1, sizeof *w);
    if (!w) return lir__errf(e, LIR_ENOMEM, "store: out of memory");
    w->p.batch_ms = p ? p->batch_ms : 50;
    enum lir_status s = lir__store_db_open(dir, true, &w->db, e);
    if (s) {
        free(w);
        return s;
    }
    lir__store_mark_stale(w->db);
    w->owner_pid = (int)getpid();
    w->owner_start = lir__proc_start_time(w->owner_pid);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    pthread_cond_init(&w->done_cv, NULL);
    if (pthread_create(&w->thread, NULL, writer_main, w)) {
        sqlite3_close(w->db);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        pthread_cond_destroy(&w->done_cv);
        free(w);
        return lir__errf(e, LIR_ENOMEM, "store: cannot start the writer thread");
    }
    *out = w;
    return LIR_OK;
}

void lir__store_w_close(lir__store_w *w) {
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    /* the open buckets are written as partial rows (their samples count says so) */
    struct op *o;
    if (w->sec.n && (o = bucket_close(&w->sec, 1))) enqueue(w, o);
    if (w->min.n && (o = bucket_close(&w->min, 60))) enqueue(w, o);
    w->stop = true; /* the thread writes what is queued, then ends */
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    sqlite3_close(w->db);
    pthread_cond_destroy(&w->cv);
    pthread_cond_destroy(&w->done_cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
