/* runtime.h — internals of the runtime (include/lir.h "runtime"): the loaded-model table,
 * shared file mappings, the event queue and the installed-model registry.
 *
 * Locking: one mutex, rt->mu, guards the table, every entry's fields below "guarded by mu",
 * the shared mappings, the active id and the counters; one condition variable, rt->cv, is
 * broadcast on every state change (load finished, request finished, FIFO turn, unload), and
 * waiters re-check their condition. No model computation and no callback runs under mu.
 * The event queue has its own leaf mutex (events.c); it may be taken while mu is held.
 *
 * Per-model FIFO turn (embeddings, the context manager): a caller takes a ticket
 * (e->next_ticket++) and waits until e->serving equals it, then pauses the model's scheduler
 * (sched.c) and owns e->ctx without mu until it passes the turn on. Generations do not take the
 * turn: they go through the scheduler's queue (continuous batching, sched.c). */
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
    lir_context *ctx;        /* owned; used by the scheduler thread (sched.c), or by the FIFO turn
                                holder while the scheduler is paused */
    struct rt_sched *sched;  /* owned; the model's scheduler (sched.c), set before READY */
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
    int32_t parallel, max_queue; /* scheduler defaults (lir_runtime_params), resolved */
    enum lir_overflow_policy overflow;
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
    /* monitor, profiler, store (src/monitor/runtime_glue.c); each has its own lock */
    struct lir__mon *mon;    /* NULL: monitor_interval_ms was 0 */
    struct lir__prof *prof;
    struct lir__store_w *store; /* NULL: no data_dir */
    lir_store *store_read;   /* read side of the store (history beyond memory) */
    int64_t store_sub;       /* event subscription feeding the store, 0 = none */
    /* remote models (remote.c), guarded by mu; the router is created with the first one and
     * lives until lir_runtime_destroy */
    lir_router *router;
    struct rt_remote *remotes;
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
/* A generation's bookkeeping without the turn (the scheduler's requests): takes a tier slot
 * (waits for one), gives it back with the metrics as lir__rt_end_turn does. */
void lir__rt_begin_request(lir_runtime *rt, struct rt_entry *en);
void lir__rt_end_request(lir_runtime *rt, struct rt_entry *en, const struct lir_generate_result *r,
                         int32_t context_used);
/* Ends the turn; records metrics (NULL: no generation metrics) and last use. */
void lir__rt_end_turn(lir_runtime *rt, struct rt_entry *en, const struct lir_generate_result *r,
                      int32_t context_used);
/* Drops the request's hold (after lir__rt_end_turn); keep_alive 0 unloads here. */
void lir__rt_release(lir_runtime *rt, struct rt_entry *en);
void lir__rt_set_rate(lir_runtime *rt, struct rt_entry *en, float tok_s);

/* ---- monitor/runtime_glue.c: the runtime's monitor, profiler and store */
/* Starts them from the create params (p validated there). On error they are stopped again. */
enum lir_status lir__rt_monitor_start(lir_runtime *rt, const struct lir_runtime_params *p, lir_err *e);
/* Stops the monitor, delivers pending events to the store, closes it. Before events stop. */
void lir__rt_monitor_stop(lir_runtime *rt);
/* A finished generation (after lir__rt_end_turn, no lock held): profiler record, store row. */
void lir__rt_observe_generation(lir_runtime *rt, const struct rt_entry *en, const struct lir_generate_result *r);
/* The same for a generation a remote backend answered (id: the remote model's id, name: its name). */
void lir__rt_observe_remote(lir_runtime *rt, const char *id, const char *name, const struct lir_generate_result *r);
/* runtime.c: active models and requests, models' RAM, current tok/s into u (takes mu). */
void lir__rt_counters(lir_runtime *rt, struct lir_resource_usage *u);
/* runtime.c: RAM free for a new load as the load check counts it (the mem_available hook or
 * MemAvailable, less what loads in progress reserve). Takes mu. */
uint64_t lir__rt_ram_free(lir_runtime *rt);

/* ---- sched.c: one scheduler thread per loaded native model (continuous batching) */
/* Starts en's scheduler (sets en->sched) over ctx (borrowed; en->ctx once READY), created with
 * n_seq_max = parallel. No lock held. */
enum lir_status lir__sched_start(lir_runtime *rt, struct rt_entry *en, lir_context *ctx, int32_t parallel,
                                 lir_err *e);
/* A prepared generation (generate.c) for the scheduler. */
struct rt_job_spec {
    lir_token *prompt;                 /* owned (malloc'd), n_prompt >= 1 tokens, < n_ctx */
    int32_t n_prompt, n_keep;          /* n_keep resolved: tokens a shift keeps at the start */
    int32_t max_tokens;                /* 0 = until end of generation */
    enum lir_overflow_policy overflow; /* resolved: SHIFT, STOP or ERROR */
    uint64_t t_call_ns, deadline_ns;   /* lir__now_ns clock; deadline 0 = none */
    lir_sampler *smp;                  /* owned; prompt already accepted */
    lir_stop_matcher *stop;            /* owned */
    lir_detok *dt;                     /* owned */
    lir_grammar *gr;                   /* owned, NULL = none */
    lir_grammar_state *gs;             /* owned, NULL = none */
    lir_grammar_vocab *gvocab;         /* borrowed (the entry's); with gs */
    bool logprobs;                     /* record per-token log-probabilities (request.logprobs) */
    int32_t n_probs;                   /* alternatives per token then (sampling.n_probs) */
};
/* ---- logprobs.c: per-token log-probability records (request.logprobs) */
struct rt_lp_buf {
    struct lir_token_logprobs *v;            /* n entries; piece pointers set by lir__lp_pointers */
    uint32_t (*off)[1 + LIR_N_PROBS_MAX];    /* per entry: offsets of the chosen and top pieces in text */
    int32_t n, cap;
    char *text;                              /* the pieces */
    size_t len, cap_text;
    bool oom;                                /* an add failed: the records are incomplete */
};
/* Appends one token's record (its piece and the pieces of top[0..n_top) from m). False: out of
 * memory (b->oom stays set). */
bool lir__lp_add(struct rt_lp_buf *b, const lir_model *m, lir_token tok, float logprob,
                 const struct lir_token_logprob *top, int32_t n_top);
/* Appends src's records to dst (offsets moved). False: out of memory (dst->oom set). */
bool lir__lp_append(struct rt_lp_buf *dst, const struct rt_lp_buf *src);
/* Points every entry's pieces into b->text (after the last change to b). */
void lir__lp_pointers(struct rt_lp_buf *b);
void lir__lp_free(struct rt_lp_buf *b);

/* Frees what a spec owns and zeroes it (generate.c; the scheduler's jobs end here too). */
void lir__rt_spec_free(struct rt_job_spec *sp);
/* Runs spec on en's scheduler, taking ownership of its parts (also on error): queues it
 * (LIR_EBUSY when max_queue wait already), delivers text to cb (may be NULL) on this thread, and
 * fills *r: text (malloc'd: what was delivered), usage, metrics, finish_reason. *cancelled: the
 * callback cancelled (the call then returns LIR_OK with finish_reason CANCELLED).
 * *ctx_used: the sequence's tokens at the end. */
enum lir_status lir__sched_run(lir_runtime *rt, struct rt_entry *en, struct rt_job_spec *spec, lir_stream_fn cb,
                               void *user, struct lir_generate_result *r, bool *cancelled, int32_t *ctx_used,
                               lir_err *e);
/* Stops and frees it (no request may be queued or running: unload waited for them). */
void lir__sched_stop(struct rt_entry *en);
/* The FIFO turn: stops admitting requests, waits until sequence 0 is idle and the thread is
 * between steps, and keeps it there until lir__sched_resume (other sequences wait). */
void lir__sched_pause(struct rt_entry *en);
void lir__sched_resume(struct rt_entry *en);
/* Counters for tests and metrics. */
struct lir__sched_stats {
    int64_t steps;            /* lir_context_decode_batch calls */
    int64_t decode_tokens;    /* one-token decodes of generating sequences, over all steps */
    int64_t prompt_tokens;    /* prompt tokens evaluated, over all steps */
    int32_t max_seqs_in_step; /* most sequences in one step */
    int32_t max_tokens_in_step; /* most tokens in one step */
    int64_t mixed_steps;      /* steps with both generating sequences and prompt tokens */
    int32_t running, queued;  /* now */
    int32_t parallel;
    int32_t seq_len[64];      /* tokens held by each sequence after the last step or job end */
};
/* Of the loaded model loaded_id (NULL: active). LIR_OK, LIR_ENOTFOUND. */
enum lir_status lir__sched_get_stats(lir_runtime *rt, const char *loaded_id, struct lir__sched_stats *out);

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

#endif
