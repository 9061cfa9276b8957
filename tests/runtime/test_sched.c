/* test_sched.c — the runtime's scheduler (src/runtime/sched.c): concurrent requests batched in
 * one forward step give exactly what each gives alone; a cancelled stream frees its sequence
 * while the others go on; a full queue answers LIR_EBUSY; timeouts; prefix reuse evaluates only
 * the new tokens and changes nothing in the output; the overflow policies (shift past n_ctx with
 * ContextTruncated, stop with "length", error) and a prompt too long (error, or truncated when
 * asked); a long prompt evaluated in chunks of at most batch_size tokens, interleaved with a
 * running stream. Tiny generated models, a few seconds in all. */
#include "runtime_util.h"
#include "runtime/runtime.h"

#include <math.h>
#include <semaphore.h>
#include <time.h>

static void fini(void) { rt_dir_remove(); }

static lir_runtime *rt_new_p(int32_t parallel, int32_t max_queue) {
    struct lir_runtime_params p = lir_runtime_params_default();
    p.models_dir = rt_dir;
    p.ram_alert_percent = 0;
    p.monitor_interval_ms = 0;
    p.parallel = parallel;
    p.max_queue = max_queue;
    lir_runtime *rt = NULL;
    char err[512] = "";
    cr_assert_eq(lir_runtime_create(&p, &rt, err, sizeof err), LIR_OK, "%s", err);
    return rt;
}

/* The tokens that end generation, banned so a random model runs as long as asked. */
static struct lir_logit_bias no_eog[8];
static int32_t n_no_eog;

static void ban_eog(const char *name) {
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/%s.gguf", rt_dir, name);
    lir_model *m = NULL;
    cr_assert_eq(lir_model_load(path, NULL, &m, err, sizeof err), LIR_OK, "%s", err);
    n_no_eog = 0;
    for (lir_token t = 0; t < lir_vocab_n_tokens(m) && n_no_eog < 8; t++)
        if (lir_vocab_is_eog(m, t)) no_eog[n_no_eog++] = (struct lir_logit_bias){ t, -INFINITY };
    lir_model_free(m);
    cr_assert_gt(n_no_eog, 0, "the model has an end-of-generation token");
}

/* ------------------------------------------------------------ concurrent = alone */

struct job {
    lir_runtime *rt;
    struct lir_generate_request q;
    char prompt[128];
    struct lir_generate_result r;
    enum lir_status s;
    char err[512];
    int chunks, cancel_after;
    pthread_barrier_t *start;
};

static int job_chunk(const struct lir_generate_chunk *c, void *user) {
    struct job *j = user;
    if (c->is_complete) return 0;
    j->chunks++;
    return j->cancel_after && j->chunks >= j->cancel_after;
}

static void *job_main(void *arg) {
    struct job *j = arg;
    if (j->start) pthread_barrier_wait(j->start);
    j->s = lir_runtime_generate_stream(j->rt, &j->q, job_chunk, j, &j->r, j->err, sizeof j->err);
    return NULL;
}

static void job_init(struct job *j, lir_runtime *rt, int i, int32_t max_tokens) {
    memset(j, 0, sizeof *j);
    j->rt = rt;
    j->q = lir_generate_request_default();
    snprintf(j->prompt, sizeof j->prompt, "Request %d: once upon a time there was a %s", i,
             i % 2 ? "king" : "small village by the sea");
    j->q.prompt = j->prompt;
    j->q.sampling.seed = 100 + (uint64_t)i;
    j->q.sampling.temperature = 1.0f;
    j->q.sampling.max_tokens = max_tokens;
    j->q.sampling.logit_bias = no_eog;
    j->q.sampling.n_logit_bias = n_no_eog;
}

Test(sched, concurrent_streams_equal_each_alone_and_batch, .fini = fini) {
    rt_dir_make("sched-conc");
    rt_model_make("m", LIR_GEN_LLAMA, 3);
    ban_eog("m");
    lir_runtime *rt = rt_new_p(4, 0), *rt1 = rt_new_p(1, 0);
    char id[LIR_ID_LEN], id1[LIR_ID_LEN];
    struct lir_load_options o = rt_opts(512);
    rt_load(rt, "m", &o, id);
    rt_load(rt1, "m", &o, id1);
    enum { N = 4, T = 48 };
    struct job alone[N], conc[N];
    for (int i = 0; i < N; i++) { /* each alone, one after the other, on another runtime */
        job_init(&alone[i], rt1, i, T);
        job_main(&alone[i]);
        cr_assert_eq(alone[i].s, LIR_OK, "%s", alone[i].err);
        cr_assert_eq(alone[i].r.usage.completion_tokens, T);
    }
    struct lir__sched_stats st0;
    cr_assert_eq(lir__sched_get_stats(rt, id, &st0), LIR_OK);
    cr_assert_eq(st0.parallel, 4);
    cr_assert_eq(st0.steps, 0);
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, N);
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        job_init(&conc[i], rt, i, T);
        conc[i].start = &bar;
        pthread_create(&th[i], NULL, job_main, &conc[i]);
    }
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&bar);
    struct lir__sched_stats st;
    cr_assert_eq(lir__sched_get_stats(rt, id, &st), LIR_OK);
    int distinct = 0;
    for (int i = 0; i < N; i++) {
        cr_assert_eq(conc[i].s, LIR_OK, "%s", conc[i].err);
        cr_assert_eq(conc[i].r.seed, alone[i].r.seed);
        cr_assert_eq(conc[i].r.len, alone[i].r.len, "request %d: '%s' vs alone '%s'", i, conc[i].r.text,
                     alone[i].r.text);
        cr_assert_eq(memcmp(conc[i].r.text, alone[i].r.text, alone[i].r.len), 0, "request %d differs", i);
        if (i > 0 && strcmp(alone[i].r.text, alone[0].r.text)) distinct++;
    }
    cr_assert_gt(distinct, 0, "different seeds and prompts give different texts (else the test shows nothing)");
    /* they ran together: several sequences in one step, fewer steps than tokens decoded */
    int64_t steps = st.steps - st0.steps, dec = st.decode_tokens - st0.decode_tokens;
    cr_assert_geq(st.max_seqs_in_step, 3, "most sequences in one step: %d", st.max_seqs_in_step);
    cr_assert_eq(dec, (int64_t)N * (T - 1), "every generated token but the last is decoded once");
    cr_assert_lt(steps, dec, "%lld steps for %lld decoded tokens: batched", (long long)steps, (long long)dec);
    cr_assert_eq(st.running, 0);
    cr_assert_eq(st.queued, 0);
    for (int i = 0; i < N; i++) {
        lir_generate_result_clear(&alone[i].r);
        lir_generate_result_clear(&conc[i].r);
    }
    lir_runtime_destroy(rt1);
    lir_runtime_destroy(rt);
}

Test(sched, cancel_frees_the_sequence_others_go_on, .fini = fini) {
    rt_dir_make("sched-cancel");
    rt_model_make("m", LIR_GEN_LLAMA, 5);
    ban_eog("m");
    lir_runtime *rt = rt_new_p(3, 0);
    char id[LIR_ID_LEN];
    struct lir_load_options o = rt_opts(512);
    rt_load(rt, "m", &o, id);
    enum { N = 3, T = 40 };
    struct job alone[N], conc[N];
    for (int i = 0; i < N; i++) {
        job_init(&alone[i], rt, i, T);
        job_main(&alone[i]);
        cr_assert_eq(alone[i].s, LIR_OK, "%s", alone[i].err);
    }
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, N);
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        job_init(&conc[i], rt, i, T);
        conc[i].start = &bar;
        if (i == 1) conc[i].cancel_after = 3;
        pthread_create(&th[i], NULL, job_main, &conc[i]);
    }
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&bar);
    cr_assert_eq(conc[1].s, LIR_ECANCELLED, "%s", conc[1].err);
    cr_assert_eq(conc[1].chunks, 3, "no chunk after the cancelling one");
    cr_assert_eq(conc[1].r.finish_reason, LIR_FINISH_CANCELLED);
    cr_assert_leq(conc[1].r.usage.completion_tokens, 8, "generation stopped at once: %d tokens",
                  conc[1].r.usage.completion_tokens);
    cr_assert_eq(memcmp(conc[1].r.text, alone[1].r.text, conc[1].r.len), 0, "a prefix of the full text");
    for (int i = 0; i < N; i += 2) {
        cr_assert_eq(conc[i].s, LIR_OK, "%s", conc[i].err);
        cr_assert_str_eq(conc[i].r.text, alone[i].r.text, "request %d", i);
    }
    struct lir__sched_stats st;
    cr_assert_eq(lir__sched_get_stats(rt, id, &st), LIR_OK);
    cr_assert_eq(st.running, 0);
    int cleared = 0, kept = 0;
    for (int i = 0; i < st.parallel; i++) {
        cleared += st.seq_len[i] == 0;
        kept += st.seq_len[i] > 0;
    }
    cr_assert_geq(cleared, 1, "the cancelled request's sequence was cleared");
    cr_assert_geq(kept, 2, "finished requests keep their tokens for prefix reuse");
    /* the freed slot serves again */
    struct job again;
    job_init(&again, rt, 1, T);
    job_main(&again);
    cr_assert_eq(again.s, LIR_OK, "%s", again.err);
    cr_assert_str_eq(again.r.text, alone[1].r.text);
    lir_generate_result_clear(&again.r);
    for (int i = 0; i < N; i++) {
        lir_generate_result_clear(&alone[i].r);
        lir_generate_result_clear(&conc[i].r);
    }
    lir_runtime_destroy(rt);
}

/* ------------------------------------------------------------ queue, timeout */

struct gate {
    sem_t entered, release;
    int n;
};
static int gate_chunk(const struct lir_generate_chunk *c, void *user) {
    struct gate *g = user;
    if (!c->is_complete && g->n++ == 0) {
        sem_post(&g->entered);
        sem_wait(&g->release); /* the first chunk holds the request (and its sequence) */
    }
    return 0;
}
struct held {
    lir_runtime *rt;
    struct lir_generate_request q;
    struct gate *g;
    enum lir_status s;
    char err[512];
    struct lir_generate_result r;
};
static void *held_main(void *arg) {
    struct held *h = arg;
    h->s = h->g ? lir_runtime_generate_stream(h->rt, &h->q, gate_chunk, h->g, &h->r, h->err, sizeof h->err)
                : lir_runtime_generate(h->rt, &h->q, &h->r, h->err, sizeof h->err);
    return NULL;
}

Test(sched, full_queue_is_ebusy_and_timeouts, .fini = fini) {
    rt_dir_make("sched-busy");
    rt_model_make("m", LIR_GEN_LLAMA, 2);
    ban_eog("m");
    lir_runtime *rt = rt_new_p(1, 1);
    char id[LIR_ID_LEN], err[512] = "";
    struct lir_load_options o = rt_opts(256);
    rt_load(rt, "m", &o, id);
    struct lir_generate_request q = lir_generate_request_default();
    q.prompt = "The queue";
    q.sampling.seed = 3;
    q.sampling.max_tokens = 8;
    q.sampling.logit_bias = no_eog;
    q.sampling.n_logit_bias = n_no_eog;
    struct gate g;
    sem_init(&g.entered, 0, 0);
    sem_init(&g.release, 0, 0);
    g.n = 0;
    struct held a = { .rt = rt, .q = q, .g = &g }, b = { .rt = rt, .q = q };
    pthread_t ta, tb;
    pthread_create(&ta, NULL, held_main, &a);
    sem_wait(&g.entered); /* a runs (the only sequence), held in its first chunk */
    pthread_create(&tb, NULL, held_main, &b);
    struct lir__sched_stats st;
    for (int i = 0; i < 500; i++) { /* until b waits in the queue */
        cr_assert_eq(lir__sched_get_stats(rt, id, &st), LIR_OK);
        if (st.queued == 1) break;
        usleep(10000);
    }
    cr_assert_eq(st.queued, 1);
    cr_assert_eq(st.running, 1);
    struct lir_generate_result r;
    cr_assert_eq(lir_runtime_generate(rt, &q, &r, err, sizeof err), LIR_EBUSY);
    cr_assert(strstr(err, "queue") && strstr(err, "full"), "%s", err);
    cr_assert_str_eq(lir_status_str(LIR_EBUSY), "busy: request queue full");
    /* a request that cannot start within its timeout */
    struct lir_generate_request qt = q;
    qt.timeout_ms = 50;
    sem_post(&g.release);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    cr_assert_eq(a.s, LIR_OK, "%s", a.err);
    cr_assert_eq(b.s, LIR_OK, "%s", b.err);
    cr_assert_str_eq(a.r.text, b.r.text, "the same request, the same text");
    /* timeout while queued: hold a again, queue qt */
    g.n = 0;
    struct held a2 = { .rt = rt, .q = q, .g = &g };
    pthread_create(&ta, NULL, held_main, &a2);
    sem_wait(&g.entered);
    uint64_t t0 = lir__now_ns();
    cr_assert_eq(lir_runtime_generate(rt, &qt, &r, err, sizeof err), LIR_ETIMEDOUT, "%s", err);
    double ms = (double)(lir__now_ns() - t0) / 1e6;
    cr_assert(strstr(err, "timed out") && strstr(err, "timeout_ms"), "%s", err);
    cr_assert_lt(ms, 1000.0, "timed out after %.0f ms for 50", ms);
    sem_post(&g.release);
    pthread_join(ta, NULL);
    cr_assert_eq(a2.s, LIR_OK, "%s", a2.err);
    /* timeout while generating (no limit on tokens: only the clock stops it) */
    qt.sampling.max_tokens = 0;
    qt.overflow = LIR_OVERFLOW_SHIFT; /* never full */
    qt.timeout_ms = 100;
    cr_assert_eq(lir_runtime_generate(rt, &qt, &r, err, sizeof err), LIR_ETIMEDOUT, "%s", err);
    cr_assert(strstr(err, "tokens generated"), "%s", err);
    struct lir_generate_request bad = q;
    bad.timeout_ms = -1;
    cr_assert_eq(lir_runtime_generate(rt, &bad, &r, err, sizeof err), LIR_EINVAL);
    cr_assert(strstr(err, "timeout_ms"), "%s", err);
    lir_generate_result_clear(&a.r);
    lir_generate_result_clear(&b.r);
    lir_generate_result_clear(&a2.r);
    sem_destroy(&g.entered);
    sem_destroy(&g.release);
    lir_runtime_destroy(rt);
}

/* ------------------------------------------------------------ prefix reuse */

Test(sched, prefix_reuse_evaluates_only_new_tokens, .fini = fini) {
    rt_dir_make("sched-prefix");
    rt_model_make("m", LIR_GEN_LLAMA, 7);
    ban_eog("m");
    lir_runtime *rt = rt_new_p(2, 0);
    char id[LIR_ID_LEN], err[512] = "";
    struct lir_load_options o = rt_opts(512);
    rt_load(rt, "m", &o, id);
    struct lir_generate_request q = lir_generate_request_default();
    q.sampling.max_tokens = 16;
    q.sampling.seed = 5;
    q.sampling.logit_bias = no_eog;
    q.sampling.n_logit_bias = n_no_eog;
    /* turn 1 */
    struct lir_chat_message msgs[3] = { { LIR_ROLE_USER, "Tell me a story about a lighthouse keeper." },
                                        { LIR_ROLE_ASSISTANT, NULL },
                                        { LIR_ROLE_USER, "And what happened next?" } };
    q.system_prompt = "You are a storyteller.";
    q.messages = msgs;
    q.n_messages = 1;
    struct lir_generate_result r1, r2, fresh;
    cr_assert_eq(lir_runtime_generate(rt, &q, &r1, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_eq(r1.usage.cached_tokens, 0);
    cr_assert_eq(r1.usage.prompt_tokens_evaluated, r1.usage.prompt_tokens);
    /* turn 2: the history again, plus the reply and a new question */
    msgs[1].content = r1.text;
    q.n_messages = 3;
    cr_assert_eq(lir_runtime_generate(rt, &q, &r2, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_geq(r2.usage.cached_tokens, r1.usage.prompt_tokens,
                  "turn 1's prompt (%d tokens) is reused: cached %d", r1.usage.prompt_tokens, r2.usage.cached_tokens);
    cr_assert_lt(r2.usage.cached_tokens, r2.usage.prompt_tokens);
    cr_assert_eq(r2.usage.prompt_tokens_evaluated, r2.usage.prompt_tokens - r2.usage.cached_tokens);
    /* the same turn 2 on a fresh model (nothing cached) gives the same text */
    lir_runtime *rt2 = rt_new_p(2, 0);
    char id2[LIR_ID_LEN];
    rt_load(rt2, "m", &o, id2);
    cr_assert_eq(lir_runtime_generate(rt2, &q, &fresh, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_eq(fresh.usage.cached_tokens, 0);
    cr_assert_eq(fresh.usage.prompt_tokens, r2.usage.prompt_tokens);
    cr_assert_str_eq(r2.text, fresh.text, "prefix reuse changes nothing in the output");
    /* an unrelated prompt does not reuse the conversation's sequence (the other one is idle) */
    struct lir_generate_request u = lir_generate_request_default();
    u.prompt = "Zebras";
    u.sampling.max_tokens = 2;
    struct lir_generate_result ru;
    cr_assert_eq(lir_runtime_generate(rt, &u, &ru, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_leq(ru.usage.cached_tokens, 1, "at most BOS in common");
    /* ... so turn 2 again is still almost all cached */
    struct lir_generate_result r3;
    cr_assert_eq(lir_runtime_generate(rt, &q, &r3, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_eq(r3.usage.cached_tokens, r3.usage.prompt_tokens - 1, "the whole prompt but its last token");
    cr_assert_str_eq(r3.text, fresh.text);
    lir_generate_result_clear(&r1);
    lir_generate_result_clear(&r2);
    lir_generate_result_clear(&r3);
    lir_generate_result_clear(&ru);
    lir_generate_result_clear(&fresh);
    lir_runtime_destroy(rt2);
    lir_runtime_destroy(rt);
}

/* ------------------------------------------------------------ overflow */

static struct rec trunc_rec = { .mu = PTHREAD_MUTEX_INITIALIZER };

Test(sched, overflow_shift_stop_error_and_long_prompts, .fini = fini) {
    rt_dir_make("sched-ovf");
    rt_model_make("m", LIR_GEN_LLAMA, 11);
    ban_eog("m");
    lir_runtime *rt = rt_new_p(2, 0);
    int64_t sub;
    cr_assert_eq(lir_runtime_subscribe(rt, rec_fn, &trunc_rec, &sub), LIR_OK);
    char id[LIR_ID_LEN], err[512] = "";
    enum { CTX = 128 };
    struct lir_load_options o = rt_opts(CTX);
    rt_load(rt, "m", &o, id);
    struct lir_generate_request q = lir_generate_request_default();
    q.prompt = "A long road";
    q.sampling.max_tokens = 300;
    q.sampling.temperature = 0;
    q.sampling.logit_bias = no_eog;
    q.sampling.n_logit_bias = n_no_eog;
    struct lir_generate_result r;
    /* stop (the runtime's default): "length" when the context is full */
    cr_assert_eq(lir_runtime_generate(rt, &q, &r, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_eq(r.finish_reason, LIR_FINISH_LENGTH);
    cr_assert_eq(r.usage.completion_tokens, CTX + 1 - r.usage.prompt_tokens, "prompt %d, generated %d",
                 r.usage.prompt_tokens, r.usage.completion_tokens);
    cr_assert_eq(r.usage.context_shifts, 0);
    lir_generate_result_clear(&r);
    /* error */
    q.overflow = LIR_OVERFLOW_ERROR;
    cr_assert_eq(lir_runtime_generate(rt, &q, &r, err, sizeof err), LIR_ECONTEXT);
    cr_assert(strstr(err, "context is full") && strstr(err, "overflow policy is error"), "%s", err);
    /* shift: goes on past n_ctx, ContextTruncated each time */
    q.overflow = LIR_OVERFLOW_SHIFT;
    q.n_keep = 4;
    lir_runtime_events_flush(rt);
    pthread_mutex_lock(&trunc_rec.mu);
    trunc_rec.n = 0;
    pthread_mutex_unlock(&trunc_rec.mu);
    cr_assert_eq(lir_runtime_generate(rt, &q, &r, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_eq(r.finish_reason, LIR_FINISH_LENGTH);
    cr_assert_eq(r.usage.completion_tokens, 300, "past the context of %d", CTX);
    cr_assert_geq(r.usage.context_shifts, 2);
    lir_runtime_events_flush(rt);
    pthread_mutex_lock(&trunc_rec.mu);
    int shifts = 0;
    for (int i = 0; i < trunc_rec.n; i++) {
        const struct lir_event *ev = &trunc_rec.ev[i];
        if (ev->type != LIR_EVENT_CONTEXT_TRUNCATED) continue;
        shifts++;
        cr_assert_eq(ev->tokens_before, CTX);
        cr_assert_eq(ev->tokens_after, 4 + (CTX - 4 + 1) / 2, "keeps n_keep and half the rest: %d", ev->tokens_after);
        cr_assert_str_eq(ev->loaded_model_id, id);
    }
    pthread_mutex_unlock(&trunc_rec.mu);
    cr_assert_eq(shifts, r.usage.context_shifts);
    lir_generate_result_clear(&r);
    /* a prompt longer than the context: an error naming the sizes, or an explicit truncation */
    char *big = malloc(4096);
    big[0] = 0;
    for (int i = 0; i < 60; i++) strcat(big, "many words here ");
    struct lir_generate_request p = lir_generate_request_default();
    p.prompt = big;
    p.sampling.max_tokens = 4;
    p.sampling.logit_bias = no_eog;
    p.sampling.n_logit_bias = n_no_eog;
    cr_assert_eq(lir_runtime_generate(rt, &p, &r, err, sizeof err), LIR_ECONTEXT);
    char want[64];
    snprintf(want, sizeof want, "the context holds %d", CTX);
    cr_assert(strstr(err, "the prompt has") && strstr(err, want), "%s", err);
    p.truncate_prompt = true;
    cr_assert_eq(lir_runtime_generate(rt, &p, &r, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_gt(r.usage.prompt_tokens, CTX);
    cr_assert_eq(r.usage.truncated_tokens, r.usage.prompt_tokens - CTX / 2);
    cr_assert_eq(r.usage.prompt_tokens_evaluated + r.usage.cached_tokens, CTX / 2);
    cr_assert_eq(r.usage.completion_tokens, 4);
    lir_generate_result_clear(&r);
    free(big);
    lir_runtime_unsubscribe(rt, sub);
    lir_runtime_destroy(rt);
}

/* ------------------------------------------------------------ chunked prompts */

/* The hand-off that makes the overlap certain on a loaded machine: the stream's second chunk
 * waits in its callback (so the stream takes no step) until a watcher thread has seen the long
 * prompt admitted beside it (running == 2); the stream then still has ~198 tokens to go, one per
 * step at most, while the prompt needs ~18 steps. */
struct gate1 {
    sem_t first, release;
    int n;
};
static int first_chunk(const struct lir_generate_chunk *c, void *user) {
    struct gate1 *g = user;
    if (c->is_complete) return 0;
    int k = g->n++;
    if (k == 0) sem_post(&g->first);
    if (k == 1) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 30; /* a bound, so a broken scheduler fails the test instead of hanging it */
        sem_timedwait(&g->release, &ts);
    }
    return 0;
}
struct streamer {
    lir_runtime *rt;
    struct lir_generate_request q;
    struct gate1 *g;
    enum lir_status s;
    char err[512];
    struct lir_generate_result r;
};
static void *streamer_main(void *arg) {
    struct streamer *h = arg;
    h->s = lir_runtime_generate_stream(h->rt, &h->q, first_chunk, h->g, &h->r, h->err, sizeof h->err);
    return NULL;
}
struct admit_watch {
    lir_runtime *rt;
    const char *id;
    struct gate1 *g;
    bool seen; /* running == 2 was observed */
};
static void *admit_watch_main(void *arg) {
    struct admit_watch *w = arg;
    for (int i = 0; i < 30000 && !w->seen; i++) { /* 30 s at most */
        struct lir__sched_stats st;
        if (lir__sched_get_stats(w->rt, w->id, &st) == LIR_OK && st.running == 2) w->seen = true;
        else usleep(1000);
    }
    sem_post(&w->g->release);
    return NULL;
}

Test(sched, long_prompt_is_chunked_between_running_steps, .fini = fini) {
    rt_dir_make("sched-chunk");
    rt_model_make("m", LIR_GEN_LLAMA, 19);
    ban_eog("m");
    lir_runtime *rt = rt_new_p(2, 0);
    char id[LIR_ID_LEN], err[512] = "";
    enum { B = 16 };
    struct lir_load_options o = rt_opts(1024);
    o.batch_size = B;
    rt_load(rt, "m", &o, id);
    struct gate1 g = { .n = 0 };
    sem_init(&g.first, 0, 0);
    sem_init(&g.release, 0, 0);
    struct streamer a = { .rt = rt, .g = &g };
    a.q = lir_generate_request_default();
    a.q.prompt = "A stream that runs";
    a.q.sampling.max_tokens = 200;
    a.q.sampling.seed = 1;
    a.q.sampling.logit_bias = no_eog;
    a.q.sampling.n_logit_bias = n_no_eog;
    pthread_t ta, tw;
    pthread_create(&ta, NULL, streamer_main, &a);
    sem_wait(&g.first); /* a is generating */
    struct admit_watch w = { .rt = rt, .id = id, .g = &g };
    pthread_create(&tw, NULL, admit_watch_main, &w);
    char *big = calloc(1, 4096);
    for (int i = 0; i < 40; i++) strcat(big, "words of a long prompt ");
    struct lir_generate_request q = lir_generate_request_default();
    q.prompt = big;
    q.sampling.max_tokens = 4;
    q.sampling.logit_bias = no_eog;
    q.sampling.n_logit_bias = n_no_eog;
    struct lir_generate_result r;
    cr_assert_eq(lir_runtime_generate(rt, &q, &r, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_gt(r.usage.prompt_tokens_evaluated, 4 * B, "a prompt of several chunks (%d tokens)",
                 r.usage.prompt_tokens_evaluated);
    struct lir__sched_stats st;
    cr_assert_eq(lir__sched_get_stats(rt, id, &st), LIR_OK);
    bool a_running = st.running == 1; /* a was still generating when the prompt was done */
    pthread_join(tw, NULL);
    pthread_join(ta, NULL);
    cr_assert(w.seen, "the long prompt was admitted while the stream was running");
    cr_assert_eq(a.s, LIR_OK, "%s", a.err);
    cr_assert_eq(a.r.usage.completion_tokens, 200);
    cr_assert(a_running, "the stream outlived the long prompt (200 tokens): the test shows the overlap");
    cr_assert_leq(st.max_tokens_in_step, B, "no step is more than one chunk: %d tokens", st.max_tokens_in_step);
    /* each prompt step carries the stream's token too (B - 1 prompt tokens), unless the stream's
     * callback was late (> 2 ms on a loaded machine): at least half of them */
    cr_assert_geq(st.mixed_steps, r.usage.prompt_tokens_evaluated / (2 * B),
                  "the running stream went on during the prompt: %lld mixed steps for %d prompt tokens",
                  (long long)st.mixed_steps, r.usage.prompt_tokens_evaluated);
    lir_generate_result_clear(&r);
    lir_generate_result_clear(&a.r);
    free(big);
    sem_destroy(&g.first);
    sem_destroy(&g.release);
    lir_runtime_destroy(rt);
}
