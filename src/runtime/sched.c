/* sched.c — the scheduler of a loaded native model: continuous batching, prefix reuse and the
 * context-overflow policy (issues 7 and 8; spec §2.2 IContextManager, §5.4).
 *
 * One thread per loaded model owns its lir_context (n_seq_max = `parallel` sequences, called
 * slots). A request thread prepares its job (generate.c: template, tokens, sampler, grammar,
 * stop matcher, detokenizer), queues it here and waits on the job's condition variable; the
 * text is handed back to it and the stream callback runs on that thread, never here.
 *
 * Every step the scheduler:
 *  1. drops jobs that were cancelled (a callback returned non-zero) or passed their deadline,
 *     clearing their sequence (KV freed);
 *  2. admits queued jobs (FIFO) into idle slots: the slot whose recorded tokens share the
 *     longest prefix with the prompt is taken, cut to that prefix (at most n_prompt - 1 tokens,
 *     so one token is evaluated for logits), and only the rest of the prompt is evaluated
 *     (prefix reuse; sequence 0, which the context manager restores snapshots into, is a slot
 *     like the others);
 *  3. builds one lir_batch: the pending token of every generating sequence, then prompt chunks
 *     of admitted jobs, at most n_batch tokens in all (at least one prompt token) — a running
 *     stream waits at most one chunk for a new prompt;
 *  4. calls lir_context_decode_batch once (a token's logits do not depend on its batch, so every
 *     output equals the same request run alone), then samples each sequence with logits
 *     (sampler, grammar fast path, end of generation, detokenizer, stop strings) and hands the
 *     text to its request thread.
 *
 * KV pool: context_size tokens shared by the slots (lir_context_params.kv_size = n_ctx), so a
 * loaded model needs the memory of one full sequence, as the load's resource check counts it
 * (runtime.c ctx_params + lir_model_estimate_context). A job is admitted only when the free blocks,
 * less what admitted prompts still need, hold its prompt (+1 token); idle slots' cached tokens
 * are evicted, least recently used first, to make room. A generating sequence whose context is
 * full (n_ctx tokens, or no free block in the pool) meets its overflow policy: SHIFT keeps
 * n_keep tokens and drops half of the rest (lir_context_seq_truncate re-rotates the keys) and
 * emits ContextTruncated; STOP ends it with "length"; ERROR fails it with LIR_ECONTEXT.
 *
 * The FIFO turn (embeddings, context manager; runtime.c) pauses the scheduler: no new job is
 * admitted, sequence 0 finishes its job, then the thread waits between steps until the turn ends.
 *
 * Locking: sc->mu guards the queue, the slot table's job pointers as seen by others, every job's
 * shared fields (pending text, cancel, done) and the counters. The scheduler holds it only for
 * bookkeeping; decode and sampling run without it. Lock order: sc->mu is never held while rt->mu
 * is taken, nor the other way round. */
#include "runtime/runtime.h"
#include "model/forward.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum job_phase { JOB_QUEUED, JOB_PROMPT, JOB_GEN };

struct rt_job {
    struct rt_job *next;        /* queue (sc->mu) */
    struct rt_job_spec sp;      /* owned */
    /* scheduler thread only */
    enum job_phase phase;
    int32_t slot, n_done;       /* n_done: prompt tokens in the sequence's KV */
    int32_t n_gen;
    lir_token next_tok;         /* JOB_GEN: the sampled token the next step evaluates */
    int64_t admit_order;
    uint64_t t_prompt0, t_prompt1;
    struct lir_generation_usage usage;
    double ttft_ms;
    /* shared with the request thread (sc->mu) */
    char *pending;              /* text not yet taken by the request thread */
    size_t pending_len, pending_cap;
    int32_t pending_index;      /* token index that completed the pending text */
    bool oom;                   /* the pending text could not grow */
    struct rt_lp_buf lp;        /* sp.logprobs: records not yet taken by the request thread */
    bool cancel, done;
    bool flow;                  /* streaming: the next token waits until the callback took this text */
    bool awaiting;              /* text handed on, its callback has not returned yet */
    bool skip;                  /* scheduler: not in this step (awaiting) */
    enum lir_status status;
    char err[LIR_ERR_MAX];
    enum lir_finish_reason fr;
    struct lir_generation_metrics metrics;
    int32_t ctx_used;
    pthread_cond_t cv;          /* the request thread waits here */
};

struct rt_sched {
    lir_runtime *rt;
    struct rt_entry *en;
    lir_context *ctx;
    const lir_model *m;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;          /* the scheduler waits here (CLOCK_MONOTONIC) */
    pthread_cond_t pcv;         /* pausers wait here */
    int32_t parallel, n_ctx, n_batch, n_vocab, max_queue;
    struct rt_job **slot;       /* running job per sequence; NULL = idle */
    uint64_t *slot_used;        /* lir__now_ns of the slot's last job end (eviction order) */
    struct rt_job *qhead, *qtail;
    int32_t n_queued, n_running;
    int64_t admit_counter;
    int pause_want;
    bool paused, stop;
    struct lir__sched_stats st;
    /* step buffers (scheduler thread) */
    lir_token *b_tok;
    int32_t *b_pos, *b_seq;
    int8_t *b_logits;
    struct rt_job **b_job;
    float *masked;
};

#define BLOCKS(n) (((int64_t)(n) + LIR_KV_BLOCK_TOKENS - 1) / LIR_KV_BLOCK_TOKENS)

/* ---------------------------------------------------------------- jobs */

/* sc->mu held. Appends text for the request thread. */
static void pending_add(struct rt_job *j, const char *s, size_t n, int32_t index) {
    j->pending_index = index;
    if (!n) return;
    if (j->pending_len + n + 1 > j->pending_cap) {
        size_t cap = j->pending_cap ? j->pending_cap : 256;
        while (cap < j->pending_len + n + 1) cap *= 2;
        char *p = realloc(j->pending, cap);
        if (!p) {
            j->oom = true;
            return;
        }
        j->pending = p;
        j->pending_cap = cap;
    }
    memcpy(j->pending + j->pending_len, s, n);
    j->pending_len += n;
    j->pending[j->pending_len] = 0;
}

static void push_text(struct rt_sched *sc, struct rt_job *j, const char *s, size_t n, int32_t index) {
    if (!n) return;
    pthread_mutex_lock(&sc->mu);
    pending_add(j, s, n, index);
    if (j->flow) j->awaiting = true;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&sc->mu);
}

/* Ends job j (scheduler thread, sc->mu held): frees its slot (the KV stays as a cached prefix
 * unless clear), fills the results and wakes its request thread, which may free j at once. */
static void finish_locked(struct rt_sched *sc, struct rt_job *j, enum lir_status s, enum lir_finish_reason fr,
                          bool clear, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void finish_locked(struct rt_sched *sc, struct rt_job *j, enum lir_status s, enum lir_finish_reason fr,
                          bool clear, const char *fmt, ...) {
    uint64_t t_end = lir__now_ns();
    if (j->phase != JOB_QUEUED) {
        if (clear) lir_context_seq_clear(sc->ctx, j->slot);
        j->ctx_used = lir_context_seq_length(sc->ctx, j->slot);
        sc->st.seq_len[j->slot] = j->ctx_used;
        sc->slot[j->slot] = NULL;
        sc->slot_used[j->slot] = t_end;
        sc->n_running--;
    } else {
        j->ctx_used = -1;
    }
    j->status = s;
    j->fr = fr;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(j->err, sizeof j->err, fmt, ap);
        va_end(ap);
    }
    struct lir_generation_metrics *mt = &j->metrics;
    mt->total_ms = (double)(t_end - j->sp.t_call_ns) / 1e6;
    mt->ttft_ms = j->ttft_ms;
    if (j->t_prompt1) {
        mt->generation_ms = (double)(t_end - j->t_prompt1) / 1e6;
        mt->tokens_per_second = mt->generation_ms > 0 ? (float)(j->n_gen / (mt->generation_ms / 1e3)) : 0;
        double p_ms = (double)(j->t_prompt1 - j->t_prompt0) / 1e6;
        mt->prompt_tokens_per_second = p_ms > 0 ? (float)(j->usage.prompt_tokens_evaluated / (p_ms / 1e3)) : 0;
    }
    j->usage.completion_tokens = j->n_gen;
    j->usage.total_tokens = j->usage.prompt_tokens + j->n_gen;
    j->done = true;
    pthread_cond_signal(&j->cv);
    pthread_cond_broadcast(&sc->cv);
}

/* ---------------------------------------------------------------- admission */

static int32_t common_prefix(const lir_token *a, int32_t na, const lir_token *b, int32_t nb) {
    int32_t n = na < nb ? na : nb, i = 0;
    while (i < n && a[i] == b[i]) i++;
    return i;
}

static int64_t free_blocks(struct rt_sched *sc) {
    struct lir_context_status cs;
    if (lir_context_get_status(sc->ctx, &cs)) return 0;
    return (int64_t)cs.n_blocks - cs.n_blocks_used;
}

/* Blocks that admitted prompts still need (their rest + one generated token). */
static int64_t prompt_reserve(struct rt_sched *sc, const struct rt_job *except) {
    int64_t r = 0;
    for (int32_t i = 0; i < sc->parallel; i++) {
        const struct rt_job *j = sc->slot[i];
        if (j && j != except && j->phase == JOB_PROMPT) r += BLOCKS(j->sp.n_prompt + 1) - BLOCKS(j->n_done);
    }
    return r;
}

/* Clears the idle slot with cached tokens used longest ago (not `keep`). Returns false if none. */
static bool evict_one(struct rt_sched *sc, int32_t keep) {
    int32_t best = -1;
    for (int32_t i = 0; i < sc->parallel; i++) {
        if (i == keep || sc->slot[i] || lir_context_seq_length(sc->ctx, i) < 1) continue;
        if (best < 0 || sc->slot_used[i] < sc->slot_used[best]) best = i;
    }
    if (best < 0) return false;
    lir_context_seq_clear(sc->ctx, best);
    return true;
}

/* sc->mu held. Takes queued jobs into idle slots while there is room. */
static void admit(struct rt_sched *sc) {
    while (sc->qhead && sc->n_running < sc->parallel && !sc->pause_want) {
        struct rt_job *j = sc->qhead;
        /* the idle slot keeping the longest prefix, among those where it is at least half of
         * what the slot holds; else an empty slot; else the one used longest ago */
        int32_t best = -1, best_c = 0, other = -1;
        for (int32_t i = 0; i < sc->parallel; i++) {
            if (sc->slot[i]) continue;
            int32_t len = 0;
            const lir_token *t = lir_context_seq_tokens(sc->ctx, i, &len);
            int32_t c = t ? common_prefix(t, len, j->sp.prompt, j->sp.n_prompt) : 0;
            if (c > 0 && 2 * (int64_t)c >= len && c > best_c) {
                best = i;
                best_c = c;
            }
            int32_t olen = other >= 0 ? lir_context_seq_length(sc->ctx, other) : 0;
            if (other < 0 || (len == 0 && olen > 0) ||
                ((len == 0) == (olen == 0) && sc->slot_used[i] < sc->slot_used[other]))
                other = i;
        }
        if (best < 0) {
            best = other;
            int32_t len = 0;
            const lir_token *t = lir_context_seq_tokens(sc->ctx, best, &len);
            best_c = t ? common_prefix(t, len, j->sp.prompt, j->sp.n_prompt) : 0;
        }
        int32_t keep = best_c < j->sp.n_prompt - 1 ? best_c : j->sp.n_prompt - 1;
        if (keep < 0) keep = 0;
        int32_t len = lir_context_seq_length(sc->ctx, best);
        if (len > keep && lir_context_seq_truncate(sc->ctx, best, keep, len - keep)) {
            lir_context_seq_clear(sc->ctx, best); /* a shared block could not be split: start afresh */
            keep = 0;
        }
        int64_t need = BLOCKS(j->sp.n_prompt + 1) - BLOCKS(keep);
        int64_t reserve = prompt_reserve(sc, NULL);
        while (free_blocks(sc) - reserve < need && evict_one(sc, best)) {}
        if (free_blocks(sc) - reserve < need) return; /* wait for running sequences to end */
        sc->qhead = j->next;
        if (!sc->qhead) sc->qtail = NULL;
        sc->n_queued--;
        j->next = NULL;
        j->slot = best;
        j->n_done = keep;
        j->usage.cached_tokens = keep;
        j->phase = JOB_PROMPT;
        j->admit_order = sc->admit_counter++;
        j->t_prompt0 = lir__now_ns();
        sc->slot[best] = j;
        sc->n_running++;
    }
}

/* sc->mu held. Ends queued jobs that were cancelled or are past their deadline. */
static void sweep_queue(struct rt_sched *sc, uint64_t now) {
    struct rt_job **pp = &sc->qhead, *prev = NULL;
    while (*pp) {
        struct rt_job *j = *pp;
        bool late = j->sp.deadline_ns && now >= j->sp.deadline_ns;
        if (!j->cancel && !late) {
            prev = j;
            pp = &j->next;
            continue;
        }
        *pp = j->next;
        if (sc->qtail == j) sc->qtail = prev;
        sc->n_queued--;
        if (j->cancel) finish_locked(sc, j, LIR_OK, LIR_FINISH_CANCELLED, false, NULL);
        else
            finish_locked(sc, j, LIR_ETIMEDOUT, LIR_FINISH_ERROR, false,
                          "generate: timed out after %.0f ms in the queue (timeout_ms)",
                          (double)(now - j->sp.t_call_ns) / 1e6);
    }
}

/* ---------------------------------------------------------------- one step */

static void finish(struct rt_sched *sc, struct rt_job *j, enum lir_status s, enum lir_finish_reason fr, bool clear,
                   const char *msg) {
    pthread_mutex_lock(&sc->mu);
    if (msg) finish_locked(sc, j, s, fr, clear, "%s", msg);
    else finish_locked(sc, j, s, fr, clear, NULL);
    pthread_mutex_unlock(&sc->mu);
}

/* Flushes what the detokenizer and the stop matcher hold back, then ends j normally. */
static void finish_ok(struct rt_sched *sc, struct rt_job *j, enum lir_finish_reason fr) {
    const char *piece, *emit;
    size_t plen, elen;
    int32_t matched = -1, idx = j->n_gen > 0 ? j->n_gen - 1 : 0;
    pthread_mutex_lock(&sc->mu);
    if (!lir_stop_matcher_done(j->sp.stop)) {
        if (!lir_detok_flush(j->sp.dt, &piece, &plen) && plen &&
            !lir_stop_matcher_push(j->sp.stop, piece, plen, &emit, &elen, &matched)) {
            pending_add(j, emit, elen, idx);
            if (matched >= 0) fr = LIR_FINISH_STOP;
        }
        if (!lir_stop_matcher_done(j->sp.stop) && !lir_stop_matcher_flush(j->sp.stop, &emit, &elen))
            pending_add(j, emit, elen, idx);
    }
    finish_locked(sc, j, LIR_OK, fr, false, NULL);
    pthread_mutex_unlock(&sc->mu);
}

/* The sequence of j is full (no room for its next token): the overflow policy. Returns true
 * when j goes on (after a shift), false when it ended. */
static bool overflow(struct rt_sched *sc, struct rt_job *j, int32_t len, bool pool) {
    char msg[LIR_ERR_MAX];
    if (j->sp.overflow == LIR_OVERFLOW_STOP) {
        finish_ok(sc, j, LIR_FINISH_LENGTH);
        return false;
    }
    if (j->sp.overflow == LIR_OVERFLOW_ERROR) {
        snprintf(msg, sizeof msg, "generate: the context is full (%d tokens of %d%s) and the overflow policy is "
                 "error", len, sc->n_ctx, pool ? "; the shared KV pool has no free block" : "");
        finish(sc, j, LIR_ECONTEXT, LIR_FINISH_ERROR, true, msg);
        return false;
    }
    int32_t keep = j->sp.n_keep < len - 1 ? j->sp.n_keep : len - 1;
    if (keep < 0) keep = 0;
    int32_t discard = (len - keep) / 2;
    enum lir_status s = discard > 0 ? lir_context_seq_truncate(sc->ctx, j->slot, keep, discard) : LIR_ECONTEXT;
    if (s) {
        snprintf(msg, sizeof msg, "generate: the context is full (%d tokens of %d) and a shift keeping %d tokens "
                 "cannot free room (%s)", len, sc->n_ctx, keep, lir_context_last_error(sc->ctx));
        finish(sc, j, LIR_ECONTEXT, LIR_FINISH_ERROR, true, msg);
        return false;
    }
    j->usage.context_shifts++;
    struct lir_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = LIR_EVENT_CONTEXT_TRUNCATED;
    snprintf(ev.model_id, sizeof ev.model_id, "%s", sc->en->info.model.id);
    snprintf(ev.loaded_model_id, sizeof ev.loaded_model_id, "%s", sc->en->info.id);
    ev.tokens_before = len;
    ev.tokens_after = len - discard;
    snprintf(ev.message, sizeof ev.message, "context shift in sequence %d: kept the first %d tokens and the last %d, "
             "dropped %d", j->slot, keep, len - keep - discard, discard);
    lir__rt_emit(sc->rt, &ev);
    return true;
}

/* Samples j's next token from logits lg and hands its text on. */
static void sample(struct rt_sched *sc, struct rt_job *j, const float *lg) {
    const lir_model *m = sc->m;
    char msg[LIR_ERR_MAX];
    lir_token tok;
    float lp = 0;
    struct lir_token_logprob top[LIR_N_PROBS_MAX];
    int32_t n_top = 0;
    const bool want = j->sp.logprobs;
    enum lir_status s = lir_sampler_sample(j->sp.smp, lg, sc->n_vocab, &tok, want ? &lp : NULL,
                                           want && j->sp.n_probs > 0 ? top : NULL, want ? &n_top : NULL);
    if (s) {
        snprintf(msg, sizeof msg, "generate: %s", lir_sampler_last_error(j->sp.smp));
        finish(sc, j, s, LIR_FINISH_ERROR, true, msg);
        return;
    }
    if (j->sp.gs && !lir_grammar_token_allowed(j->sp.gs, j->sp.gvocab, tok)) {
        memcpy(sc->masked, lg, sizeof *sc->masked * (size_t)sc->n_vocab);
        for (int32_t k = lir_grammar_vocab_n_tokens(j->sp.gvocab); k < sc->n_vocab; k++) sc->masked[k] = -INFINITY;
        enum lir_status fs = lir_grammar_filter_logits(j->sp.gs, j->sp.gvocab, sc->masked);
        if ((fs && fs != LIR_ERANGE) ||
            (s = lir_sampler_sample(j->sp.smp, sc->masked, sc->n_vocab, &tok, want ? &lp : NULL,
                                    want && j->sp.n_probs > 0 ? top : NULL, want ? &n_top : NULL))) {
            snprintf(msg, sizeof msg, "generate: grammar: no token may follow (%s)",
                     s ? lir_sampler_last_error(j->sp.smp) : lir_status_str(fs));
            finish(sc, j, s ? s : fs, LIR_FINISH_ERROR, true, msg);
            return;
        }
    }
    if (j->n_gen == 0) j->ttft_ms = (double)(lir__now_ns() - j->sp.t_call_ns) / 1e6;
    j->n_gen++;
    lir_sampler_accept(j->sp.smp, tok);
    if (lir_vocab_is_eog(m, tok)) {
        finish_ok(sc, j, LIR_FINISH_STOP);
        return;
    }
    if (j->sp.gs && (s = lir_grammar_accept_token(j->sp.gs, j->sp.gvocab, tok))) {
        snprintf(msg, sizeof msg, "generate: grammar: %s", lir_grammar_state_last_error(j->sp.gs));
        finish(sc, j, s, LIR_FINISH_ERROR, true, msg);
        return;
    }
    if (want) { /* the record waits with the text for the request thread */
        pthread_mutex_lock(&sc->mu);
        lir__lp_add(&j->lp, m, tok, lp, top, j->sp.n_probs > 0 ? n_top : 0);
        pthread_mutex_unlock(&sc->mu);
    }
    const char *piece, *emit;
    size_t plen, elen;
    int32_t matched = -1;
    if ((s = lir_detok_push(j->sp.dt, tok, &piece, &plen)) ||
        (s = lir_stop_matcher_push(j->sp.stop, piece, plen, &emit, &elen, &matched))) {
        snprintf(msg, sizeof msg, "generate: detokenize: %s", lir_status_str(s));
        finish(sc, j, s, LIR_FINISH_ERROR, true, msg);
        return;
    }
    push_text(sc, j, emit, elen, j->n_gen - 1);
    if (matched >= 0 || (j->sp.gs && lir_grammar_is_done(j->sp.gs))) {
        finish_ok(sc, j, LIR_FINISH_STOP);
        return;
    }
    if (j->sp.max_tokens > 0 && j->n_gen >= j->sp.max_tokens) {
        finish_ok(sc, j, LIR_FINISH_LENGTH);
        return;
    }
    j->next_tok = tok;
    j->phase = JOB_GEN;
}

/* sc->mu held. Flow control of streams: a sequence whose last text is still in its callback
 * does not take its next token (so a callback that cancels stops generation before the next
 * token, as lir_stream_fn promises). The step waits up to 2 ms for such callbacks to return, so
 * fast clients stay in the batch; a slow one only skips steps. Returns false when no sequence
 * can go (the caller returns to admit requests or pause). */
static bool wait_acks(struct rt_sched *sc) {
    uint64_t until = lir__now_ns() + 2000000ull;
    for (;;) {
        int32_t n_wait = 0, n_ready = 0;
        for (int32_t i = 0; i < sc->parallel; i++) {
            struct rt_job *j = sc->slot[i];
            if (!j) continue;
            if (j->phase == JOB_GEN && j->awaiting && !j->cancel) n_wait++;
            else n_ready++;
        }
        if (!n_wait) return true;
        uint64_t now = lir__now_ns();
        if (n_ready > 0 && now >= until) return true;
        if (n_ready == 0 && (sc->stop || sc->pause_want || (sc->qhead && sc->n_running < sc->parallel)))
            return false;
        uint64_t t = n_ready > 0 ? until : now + 20000000ull; /* 20 ms: deadlines are looked at */
        struct timespec ts = { (time_t)(t / 1000000000ull), (long)(t % 1000000000ull) };
        pthread_cond_timedwait(&sc->cv, &sc->mu, &ts);
        if (n_ready == 0 && lir__now_ns() >= t) return true; /* the step looks at deadlines */
    }
}

/* One forward step over every running sequence. Called without sc->mu. */
static void step(struct rt_sched *sc) {
    int32_t n = 0, n_dec = 0, n_prompt_tok = 0, n_seqs = 0;
    pthread_mutex_lock(&sc->mu);
    bool go = wait_acks(sc);
    uint64_t now = lir__now_ns();
    /* cancelled and late jobs first; their KV is freed */
    for (int32_t i = 0; i < sc->parallel; i++) {
        struct rt_job *j = sc->slot[i];
        if (!j) continue;
        if (j->cancel) finish_locked(sc, j, LIR_OK, LIR_FINISH_CANCELLED, true, NULL);
        else if (j->sp.deadline_ns && now >= j->sp.deadline_ns)
            finish_locked(sc, j, LIR_ETIMEDOUT, LIR_FINISH_ERROR, true,
                          "generate: timed out after %.0f ms (timeout_ms) with %d tokens generated",
                          (double)(now - j->sp.t_call_ns) / 1e6, j->n_gen);
        else j->skip = j->phase == JOB_GEN && j->awaiting;
    }
    pthread_mutex_unlock(&sc->mu);
    if (!go) return;
    /* generating sequences: one token each */
    int64_t reserve = prompt_reserve(sc, NULL), free_b = free_blocks(sc);
    for (int32_t i = 0; i < sc->parallel; i++) {
        struct rt_job *j = sc->slot[i];
        if (!j || j->phase != JOB_GEN || j->skip) continue;
        for (;;) {
            int32_t len = lir_context_seq_length(sc->ctx, i);
            bool need_block = len % LIR_KV_BLOCK_TOKENS == 0;
            while (need_block && free_b - reserve < 1 && evict_one(sc, -1)) free_b = free_blocks(sc);
            bool pool = need_block && free_b - reserve < 1;
            if (len < sc->n_ctx && !pool) {
                if (need_block) free_b--;
                break;
            }
            bool on = overflow(sc, j, len, pool);
            free_b = free_blocks(sc);
            if (!on) {
                j = NULL;
                break;
            }
        }
        if (!j) continue;
        sc->b_tok[n] = j->next_tok;
        sc->b_pos[n] = lir_context_seq_length(sc->ctx, i);
        sc->b_seq[n] = i;
        sc->b_logits[n] = 1;
        sc->b_job[n] = j;
        n++;
        n_dec++;
        n_seqs++;
    }
    /* prompt chunks, in admission order, within the step's budget */
    int32_t budget = sc->n_batch - n_dec;
    if (budget < 1) budget = 1;
    for (;;) {
        struct rt_job *j = NULL;
        for (int32_t i = 0; i < sc->parallel; i++) {
            struct rt_job *c = sc->slot[i];
            if (c && c->phase == JOB_PROMPT && (!j || c->admit_order < j->admit_order)) {
                bool in = false; /* already has a chunk in this step */
                for (int32_t k = n_dec; k < n && !in; k++) in = sc->b_job[k] == c;
                if (!in) j = c;
            }
        }
        if (!j || budget < 1) break;
        int32_t k = j->sp.n_prompt - j->n_done;
        if (k > budget) k = budget;
        for (int32_t t = 0; t < k; t++) {
            int32_t p = j->n_done + t;
            sc->b_tok[n] = j->sp.prompt[p];
            sc->b_pos[n] = p;
            sc->b_seq[n] = j->slot;
            sc->b_logits[n] = p == j->sp.n_prompt - 1;
            sc->b_job[n] = j;
            n++;
        }
        budget -= k;
        n_prompt_tok += k;
        n_seqs++;
    }
    if (n == 0) return;
    struct lir_batch b = { .n_tokens = n, .token = sc->b_tok, .pos = sc->b_pos, .seq_id = sc->b_seq,
                           .logits = sc->b_logits };
    uint64_t t0 = lir__now_ns();
    enum lir_status s = lir_context_decode_batch(sc->ctx, &b);
    pthread_mutex_lock(&sc->mu);
    sc->st.steps++;
    sc->st.decode_tokens += n_dec;
    sc->st.prompt_tokens += n_prompt_tok;
    if (n_seqs > sc->st.max_seqs_in_step) sc->st.max_seqs_in_step = n_seqs;
    if (n > sc->st.max_tokens_in_step) sc->st.max_tokens_in_step = n;
    if (n_dec > 0 && n_prompt_tok > 0) sc->st.mixed_steps++;
    pthread_mutex_unlock(&sc->mu);
    if (s) {
        char msg[LIR_ERR_MAX];
        snprintf(msg, sizeof msg, "generate: %s", lir_context_last_error(sc->ctx));
        for (int32_t i = 0; i < n; i++) {
            struct rt_job *j = sc->b_job[i];
            bool seen = false;
            for (int32_t k = 0; k < i && !seen; k++) seen = sc->b_job[k] == j;
            if (!seen) finish(sc, j, s == LIR_ECONTEXT ? LIR_ECONTEXT : LIR_EINTERNAL, LIR_FINISH_ERROR, true, msg);
        }
        return;
    }
    /* prompt progress, then sampling (a job appears once with logits) */
    for (int32_t i = n_dec; i < n; i++) {
        struct rt_job *j = sc->b_job[i];
        j->n_done++;
        j->usage.prompt_tokens_evaluated++;
        if (j->n_done == j->sp.n_prompt) j->t_prompt1 = lir__now_ns();
    }
    for (int32_t i = 0; i < n; i++) {
        if (!sc->b_logits[i]) continue;
        sample(sc, sc->b_job[i], lir_context_logits(sc->ctx, i));
    }
    pthread_mutex_lock(&sc->mu);
    for (int32_t i = 0; i < sc->parallel; i++) sc->st.seq_len[i] = lir_context_seq_length(sc->ctx, i);
    pthread_mutex_unlock(&sc->mu);
    double dt = (double)(lir__now_ns() - t0) / 1e9;
    if (n_dec > 0 && dt > 0) lir__rt_set_rate(sc->rt, sc->en, (float)(n_dec / dt));
}

/* ---------------------------------------------------------------- the thread */

static bool queue_has_deadline(const struct rt_sched *sc) {
    for (const struct rt_job *j = sc->qhead; j; j = j->next)
        if (j->sp.deadline_ns) return true;
    return false;
}

static void *sched_main(void *arg) {
    struct rt_sched *sc = arg;
    pthread_mutex_lock(&sc->mu);
    for (;;) {
        sweep_queue(sc, lir__now_ns());
        if (sc->stop && !sc->qhead && !sc->n_running) break;
        if (sc->pause_want > 0 && !sc->slot[0]) {
            sc->paused = true;
            pthread_cond_broadcast(&sc->pcv);
            while (sc->pause_want > 0) pthread_cond_wait(&sc->cv, &sc->mu);
            sc->paused = false;
            continue;
        }
        admit(sc);
        if (!sc->n_running) {
            if (sc->qhead && queue_has_deadline(sc)) {
                uint64_t t = lir__now_ns() + 20000000ull;
                struct timespec ts = { (time_t)(t / 1000000000ull), (long)(t % 1000000000ull) };
                pthread_cond_timedwait(&sc->cv, &sc->mu, &ts);
            } else if (!sc->stop || sc->qhead) {
                pthread_cond_wait(&sc->cv, &sc->mu);
            }
            continue;
        }
        pthread_mutex_unlock(&sc->mu);
        step(sc);
        pthread_mutex_lock(&sc->mu);
    }
    pthread_mutex_unlock(&sc->mu);
    return NULL;
}

/* Frees a scheduler's buffers and the struct (its thread joined or never started). */
static void sched_free(struct rt_sched *sc) {
    free(sc->slot);
    free(sc->slot_used);
    free(sc->b_tok);
    free(sc->b_pos);
    free(sc->b_seq);
    free(sc->b_logits);
    free(sc->b_job);
    free(sc->masked);
    free(sc);
}

enum lir_status lir__sched_start(lir_runtime *rt, struct rt_entry *en, lir_context *ctx, int32_t parallel,
                                 lir_err *e) {
    struct rt_sched *sc = calloc(1, sizeof *sc);
    if (!sc) return lir__errf(e, LIR_ENOMEM, "scheduler: out of memory");
    const lir_model *m = en->shared->model;
    sc->rt = rt;
    sc->en = en;
    sc->ctx = ctx;
    sc->m = m;
    sc->parallel = parallel;
    sc->n_ctx = lir__context_n_ctx(ctx);
    sc->n_batch = en->info.options.batch_size;
    sc->n_vocab = m->hp.n_vocab;
    pthread_mutex_lock(&rt->mu);
    sc->max_queue = rt->max_queue;
    pthread_mutex_unlock(&rt->mu);
    size_t cap = (size_t)sc->n_batch + (size_t)parallel;
    sc->slot = calloc((size_t)parallel, sizeof *sc->slot);
    sc->slot_used = calloc((size_t)parallel, sizeof *sc->slot_used);
    sc->b_tok = malloc(cap * sizeof *sc->b_tok);
    sc->b_pos = malloc(cap * sizeof *sc->b_pos);
    sc->b_seq = malloc(cap * sizeof *sc->b_seq);
    sc->b_logits = malloc(cap * sizeof *sc->b_logits);
    sc->b_job = malloc(cap * sizeof *sc->b_job);
    sc->masked = malloc((size_t)sc->n_vocab * sizeof *sc->masked);
    sc->st.parallel = parallel;
    if (!sc->slot || !sc->slot_used || !sc->b_tok || !sc->b_pos || !sc->b_seq || !sc->b_logits || !sc->b_job ||
        !sc->masked) {
        en->sched = sc;
        sc->th = 0;
        goto oom;
    }
    pthread_mutex_init(&sc->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sc->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&sc->pcv, NULL);
    if (pthread_create(&sc->th, NULL, sched_main, sc)) {
        pthread_mutex_destroy(&sc->mu);
        pthread_cond_destroy(&sc->cv);
        pthread_cond_destroy(&sc->pcv);
        goto oom;
    }
    en->sched = sc;
    return LIR_OK;
oom:
    en->sched = NULL;
    sched_free(sc);
    return lir__errf(e, LIR_ENOMEM, "scheduler: out of memory (or threads) for %d sequences", parallel);
}

void lir__sched_stop(struct rt_entry *en) {
    struct rt_sched *sc = en->sched;
    if (!sc) return;
    pthread_mutex_lock(&sc->mu);
    sc->stop = true;
    pthread_cond_broadcast(&sc->cv);
    pthread_mutex_unlock(&sc->mu);
    pthread_join(sc->th, NULL);
    pthread_mutex_destroy(&sc->mu);
    pthread_cond_destroy(&sc->cv);
    pthread_cond_destroy(&sc->pcv);
    sched_free(sc);
    en->sched = NULL;
}

void lir__sched_pause(struct rt_entry *en) {
    struct rt_sched *sc = en->sched;
    if (!sc) return;
    pthread_mutex_lock(&sc->mu);
    sc->pause_want++;
    pthread_cond_broadcast(&sc->cv);
    while (!sc->paused) pthread_cond_wait(&sc->pcv, &sc->mu);
    pthread_mutex_unlock(&sc->mu);
}

void lir__sched_resume(struct rt_entry *en) {
    struct rt_sched *sc = en->sched;
    if (!sc) return;
    pthread_mutex_lock(&sc->mu);
    if (sc->pause_want > 0 && --sc->pause_want == 0) pthread_cond_broadcast(&sc->cv);
    pthread_mutex_unlock(&sc->mu);
}

enum lir_status lir__sched_get_stats(lir_runtime *rt, const char *loaded_id, struct lir__sched_stats *out) {
    memset(out, 0, sizeof *out);
    struct rt_entry *en = NULL;
    /* lir__rt_acquire counts a request; this only looks */
    pthread_mutex_lock(&rt->mu);
    const char *want = loaded_id ? loaded_id : rt->active;
    for (struct rt_entry *x = rt->entries; x; x = x->next)
        if (!x->removed && !strcmp(x->info.id, want) && x->sched) en = x;
    if (en) en->refs++;
    pthread_mutex_unlock(&rt->mu);
    if (!en) return LIR_ENOTFOUND;
    struct rt_sched *sc = en->sched;
    pthread_mutex_lock(&sc->mu);
    *out = sc->st;
    out->running = sc->n_running;
    out->queued = sc->n_queued;
    pthread_mutex_unlock(&sc->mu);
    pthread_mutex_lock(&rt->mu);
    en->refs--;
    pthread_cond_broadcast(&rt->cv);
    pthread_mutex_unlock(&rt->mu);
    return LIR_OK;
}

/* ---------------------------------------------------------------- the request's side */

enum lir_status lir__sched_run(lir_runtime *rt, struct rt_entry *en, struct rt_job_spec *spec, lir_stream_fn cb,
                               void *user, struct lir_generate_result *r, bool *cancelled, int32_t *ctx_used,
                               lir_err *e) {
    struct rt_sched *sc = en->sched;
    *cancelled = false;
    *ctx_used = -1;
    struct rt_job *j = calloc(1, sizeof *j);
    if (!j) {
        lir__rt_spec_free(spec);
        return lir__errf(e, LIR_ENOMEM, "generate: out of memory");
    }
    j->sp = *spec;
    memset(spec, 0, sizeof *spec);
    j->phase = JOB_QUEUED;
    j->slot = -1;
    j->flow = cb != NULL;
    j->usage.prompt_tokens = r->usage.prompt_tokens; /* before any truncation (generate.c) */
    j->usage.truncated_tokens = r->usage.truncated_tokens;
    pthread_cond_init(&j->cv, NULL);
    pthread_mutex_lock(&sc->mu);
    if (sc->n_queued >= sc->max_queue) {
        int32_t q = sc->n_queued;
        pthread_mutex_unlock(&sc->mu);
        pthread_cond_destroy(&j->cv);
        lir__rt_spec_free(&j->sp);
        free(j);
        return lir__errf(e, LIR_EBUSY, "generate: busy: the request queue of model %s is full (%d waiting, "
                         "max_queue %d); retry later", en->info.model.name, q, sc->max_queue);
    }
    if (sc->qtail) sc->qtail->next = j;
    else sc->qhead = j;
    sc->qtail = j;
    sc->n_queued++;
    pthread_cond_broadcast(&sc->cv);
    (void)rt;

    char *text = NULL;
    size_t len = 0, cap = 0;
    bool oom = false;
    struct rt_lp_buf lp_all = { 0 }; /* every record, for the result */
    for (;;) {
        while (!j->pending_len && !j->done) pthread_cond_wait(&j->cv, &sc->mu);
        if (j->oom) oom = true;
        bool done = j->done;
        if (j->pending_len && !*cancelled) {
            /* take the pending text: it becomes ours */
            char *p = j->pending;
            size_t n = j->pending_len;
            int32_t idx = j->pending_index;
            j->pending = NULL;
            j->pending_len = j->pending_cap = 0;
            struct rt_lp_buf lpc = j->lp; /* the records so far: ours too */
            memset(&j->lp, 0, sizeof j->lp);
            pthread_mutex_unlock(&sc->mu);
            if (lpc.oom) oom = true;
            lir__lp_pointers(&lpc);
            if (len + n + 1 > cap) {
                size_t nc = cap ? cap : 256;
                while (nc < len + n + 1) nc *= 2;
                char *t = realloc(text, nc);
                if (t) {
                    text = t;
                    cap = nc;
                } else {
                    oom = true;
                }
            }
            if (!oom) {
                memcpy(text + len, p, n);
                len += n;
                text[len] = 0;
            }
            struct lir_generate_chunk c = { .text = p, .len = n, .token_index = idx, .is_complete = false,
                                            .logprobs = lpc.v, .n_logprobs = lpc.n };
            bool stop = cb && !oom && cb(&c, user);
            free(p);
            if (!oom && !lir__lp_append(&lp_all, &lpc)) oom = true;
            lir__lp_free(&lpc);
            pthread_mutex_lock(&sc->mu);
            j->awaiting = false;
            pthread_cond_broadcast(&sc->cv);
            if (stop || oom) {
                *cancelled = stop;
                j->cancel = true;
                pthread_cond_broadcast(&sc->cv);
            }
            continue; /* look again: more text may have come, or the end */
        }
        if (j->pending_len) { /* after a cancel: dropped */
            j->pending_len = 0;
        }
        if (done) break;
    }
    struct rt_lp_buf lp_rest = j->lp; /* records whose text came with the end (or none) */
    memset(&j->lp, 0, sizeof j->lp);
    pthread_mutex_unlock(&sc->mu);
    free(j->pending);
    if (lp_rest.oom) oom = true;
    enum lir_status s = j->status;
    if (oom) s = lir__errf(e, LIR_ENOMEM, "generate: out of memory for the text");
    else if (s) lir__errf(e, s, "%s", j->err);
    r->finish_reason = *cancelled ? LIR_FINISH_CANCELLED : j->fr;
    r->usage = j->usage;
    r->metrics = j->metrics;
    *ctx_used = j->ctx_used;
    int32_t last = j->n_gen > 0 ? j->n_gen - 1 : 0;
    enum lir_finish_reason fr = j->fr;
    pthread_cond_destroy(&j->cv);
    lir__rt_spec_free(&j->sp);
    free(j);
    if (!s && !text && !(text = strdup(""))) s = lir__errf(e, LIR_ENOMEM, "generate: out of memory");
    if (s) {
        free(text);
        lir__lp_free(&lp_rest);
        lir__lp_free(&lp_all);
        return s;
    }
    if (*cancelled) lp_rest.n = 0; /* nothing after a cancel, as for the text */
    lir__lp_pointers(&lp_rest);
    if (cb && !*cancelled) {
        struct lir_generate_chunk c = { .text = "", .len = 0, .token_index = last, .is_complete = true,
                                        .finish_reason = fr, .logprobs = lp_rest.v, .n_logprobs = lp_rest.n };
        cb(&c, user);
    }
    if (!lir__lp_append(&lp_all, &lp_rest)) {
        lir__lp_free(&lp_rest);
        lir__lp_free(&lp_all);
        free(text);
        return lir__errf(e, LIR_ENOMEM, "generate: out of memory for the log-probabilities");
    }
    lir__lp_free(&lp_rest);
    lir__lp_pointers(&lp_all);
    r->logprobs = lp_all.v;
    r->n_logprobs = lp_all.n;
    r->logprob_text = lp_all.text;
    free(lp_all.off);
    r->text = text;
    r->len = len;
    return LIR_OK;
}
