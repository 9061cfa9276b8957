/* runtime.h — internals of the runtime (include/lir.h "runtime"): the loaded-model table,
 * shared file mappings, the event queue and the installed-model registry.
 *
 * Locking: one mutex, rt->mu, guards the table, every entry's fields below "guarded by mu",
 * the shared mappings, the active id and the counters; one condition variable, rt->cv, is
 * broadcast on every state change (load finished, request finished, FIFO turn, unload), and
 * waiters re-check their condition. No model computation and no callback runs under mu.
 * The event queue has its own leaf mutex (events.c); it may be taken while mu is held.
 *
 * Per-model FIFO: a request takes a ticket (e->next_ticket++) and waits until e->serving equals
 * it; it then owns e->ctx (and the grammar vocabulary) without mu until it passes the turn on.
 * This is the simplest correct scheduler: one request at a time per model, in arrival order;
 * a later scheduler replaces it by continuous batching. */
#ifndef LIR_RUNTIME_INTERNAL_H
#define LIR_RUNTIME_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>
#include "lir.h"
#include "util/util.h"

/* One mapped GGUF file, shared by every loaded entry of that file (dev + inode). */
struct rt_shared {
    struct rt_shared *next;
    dev_t dev;
    ino_t ino;
    lir_model *model;        /* NULL while opening */
    bool opening;
    int refs;
    enum lir_status open_status;
    char open_err[LIR_ERR_MAX];
};

struct rt_entry {
    struct rt_entry *next;   /* table, load order */
    struct lir_loaded_model info; /* guarded by mu (status, metrics, times, active_requests) */
    struct lir_load_options req_opts; /* as the load asked (context_size 0 unresolved) */
    struct rt_shared *shared;/* set before READY */
    lir_context *ctx;        /* owned; used by the FIFO turn holder only */
    lir_grammar_vocab *gvocab; /* built on first grammar use by the turn holder */
    int refs;                /* callers holding the entry outside mu */
    bool removed;            /* out of the table; freed when refs drops to 0 */
    uint64_t next_ticket, serving;
    int64_t keep_alive_ms;
    uint64_t last_used_mono_ns;
    float current_tok_s;     /* rate of the running request, 0 when none */
    enum lir_status load_status;
    char load_err[LIR_ERR_MAX];
};

struct rt_sub {
    struct rt_sub *next;
    int64_t id;
    lir_event_fn fn;
    void *user;
};

struct rt_event_node {
    struct rt_event_node *next;
    struct lir_event ev;
};

struct lir_runtime {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct rt_entry *entries;
    struct rt_shared *shared;
    char active[LIR_ID_LEN];
    char *models_dir;        /* NULL = none */
    char *snapshots_dir;     /* NULL = the default (context_mgr.c) */
    const lir_licence *licence;
    lir_licence *own_licence;
    uint64_t (*mem_available)(void *);
    void *mem_user;
    float ram_alert_percent;
    uint64_t reserved;       /* bytes promised to loads in progress */
    int running;             /* requests holding a concurrency slot */
    bool stopping;
    /* idle unloader */
    pthread_t reaper;
    pthread_cond_t reaper_cv;
    bool reaper_started;
    /* cpu usage between resource_usage calls */
    uint64_t cpu_prev_total, cpu_prev_idle, proc_prev_ticks;
    /* events (events.c) */
    pthread_mutex_t ev_mu;
    pthread_cond_t ev_cv;
    struct rt_event_node *ev_head, *ev_tail;
    struct rt_sub *subs;
    int64_t next_sub_id;
    uint64_t ev_seq, ev_delivered;
    int64_t ev_running_sub;  /* subscription whose callback runs now, 0 = none */
    bool ev_stop, ev_started;
    pthread_t ev_thread;
    /* remote models (remote.c), guarded by mu; the router is created with the first one and
     * lives until lir_runtime_destroy */
    lir_router *router;
    struct rt_remote *remotes;
    /* monitor, profiler, store (src/monitor/runtime_glue.c); each has its own lock */
    struct lir__mon *mon;    /* NULL: monitor_interval_ms was 0 */
    struct lir__prof *prof;
    struct lir__store_w *store; /* NULL: no data_dir */
    lir_store *store_read;   /* read side of the store (history beyond memory) */
    int64_t store_sub;       /* event subscription feeding the store, 0 = none */
};

/* ---- events.c */
enum lir_status lir__rt_events_start(lir_runtime *rt);
void lir__rt_events_stop(lir_runtime *rt); /* delivers what is queued, then stops */
/* Queues a copy of ev (seq and timestamp set here). Never blocks on callbacks. */
void lir__rt_emit(lir_runtime *rt, const struct lir_event *ev);
int64_t lir__rt_now_ms(void);

/* ---- registry.c */
/* Resolves name (installed id, installed name under dir, or a path) to its metadata. */
enum lir_status lir__rt_resolve_installed(const char *dir, const char *name, struct lir_installed_model *out,
                                          lir_err *e);
void lir__rt_uuid_random(char out[LIR_ID_LEN]);
/* The installed id of a name (also of remote models). */
void lir__rt_uuid_from_name(const char *name, char out[LIR_ID_LEN]);

/* ---- runtime.c: acquire a loaded entry for a request (loading it on demand) */
enum lir_status lir__rt_acquire(lir_runtime *rt, const char *model, struct rt_entry **out, lir_err *e);
/* Waits for this request's FIFO turn and a concurrency slot (after lir__rt_acquire). */
void lir__rt_begin_turn(lir_runtime *rt, struct rt_entry *en);
/* Ends the turn; records metrics (NULL: no generation metrics) and last use. */
void lir__rt_end_turn(lir_runtime *rt, struct rt_entry *en, const struct lir_generate_result *r,
                      int32_t context_used);
/* Drops the request's hold (after lir__rt_end_turn); keep_alive 0 unloads here. */
void lir__rt_release(lir_runtime *rt, struct rt_entry *en);
void lir__rt_set_rate(lir_runtime *rt, struct rt_entry *en, float tok_s);

/* ---- generate.c: the native engine's paths (remote.c routes the other requests) */
enum lir_status lir__rt_generate_native(lir_runtime *rt, const struct lir_generate_request *q, lir_stream_fn cb,
                                       void *user, struct lir_generate_result *out, char *err, size_t err_len);
enum lir_status lir__rt_embed_native(lir_runtime *rt, const struct lir_embed_request *q, struct lir_embed_result *out,
                                     char *err, size_t err_len);

/* ---- remote.c: remote models and native models with remote fallbacks, through lir_router */
struct rt_remote;
/* Whether req names a model with remote backends (never for a NULL model: the active one). */
bool lir__rt_is_routed(lir_runtime *rt, const struct lir_generate_request *req);
enum lir_status lir__rt_route_generate(lir_runtime *rt, const struct lir_generate_request *q, lir_stream_fn cb,
                                       void *user, struct lir_generate_result *out, char *err, size_t err_len);
/* Appends the remote models to an installed list (*v, *n: malloc'd, may be NULL / 0). */
enum lir_status lir__rt_remote_list(lir_runtime *rt, struct lir_installed_model **v, int32_t *n);
/* Frees the remote table and the router (lir_runtime_destroy: no request running). */
void lir__rt_remote_free(lir_runtime *rt);

/* ---- monitor/runtime_glue.c: the runtime's monitor, profiler and store */
/* Starts them from the create params (p validated there). On error they are stopped again. */
enum lir_status lir__rt_monitor_start(lir_runtime *rt, const struct lir_runtime_params *p, lir_err *e);
/* Stops the monitor, delivers pending events to the store, closes it. Before events stop. */
void lir__rt_monitor_stop(lir_runtime *rt);
/* A finished generation (after lir__rt_end_turn, no lock held): profiler record, store row. */
void lir__rt_observe_generation(lir_runtime *rt, const struct rt_entry *en, const struct lir_generate_result *r);
/* runtime.c: active models and requests, models' RAM, current tok/s into u (takes mu). */
void lir__rt_counters(lir_runtime *rt, struct lir_resource_usage *u);
/* runtime.c: RAM free for a new load as the load check counts it (the mem_available hook or
 * MemAvailable, less what loads in progress reserve). Takes mu. */
uint64_t lir__rt_ram_free(lir_runtime *rt);

#endif
