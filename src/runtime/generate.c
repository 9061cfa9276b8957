/* generate.c — generation and embeddings through the runtime (spec §3.3): resolve the model,
 * take the model's FIFO turn, render the chat template, tokenize, evaluate the prompt in
 * batch_size steps (lir_context_decode), then per token: sampler chain (lir_sampler) with an
 * optional grammar, end-of-generation check, UTF-8-safe detokenizer, stop-string matcher,
 * chunk to the caller. Each request starts from an empty context (no prefix reuse yet).
 * Metrics go to the request's result, the model's aggregates and the events. */
#include "runtime/runtime.h"
#include "model/forward.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lir_generate_request lir_generate_request_default(void) {
    struct lir_generate_request r;
    memset(&r, 0, sizeof r);
    r.sampling = lir_sampling_params_default();
    r.format = LIR_FORMAT_TEXT;
    return r;
}

struct lir_embed_request lir_embed_request_default(void) {
    struct lir_embed_request r;
    memset(&r, 0, sizeof r);
    r.normalize = true;
    r.pooling = LIR_POOLING_MODEL;
    return r;
}

void lir_generate_result_clear(struct lir_generate_result *r) {
    if (!r) return;
    free(r->text);
    memset(r, 0, sizeof *r);
}

void lir_embed_result_clear(struct lir_embed_result *r) {
    if (!r) return;
    free(r->embeddings);
    memset(r, 0, sizeof *r);
}

/* ---------------------------------------------------------------- request checks */

static const char *role_name(enum lir_chat_role r) {
    return r == LIR_ROLE_SYSTEM ? "system" : r == LIR_ROLE_USER ? "user" : r == LIR_ROLE_ASSISTANT ? "assistant" : NULL;
}

static enum lir_status check_request(lir_runtime *rt, const struct lir_generate_request *q, lir_err *e) {
    if (!q) return lir__errf(e, LIR_EINVAL, "generate: request must not be NULL");
    if (!q->prompt == !(q->n_messages > 0))
        return lir__errf(e, LIR_EINVAL, "generate: give either a prompt or messages (n_messages > 0)");
    if (q->n_messages < 0 || (q->n_messages > 0 && !q->messages))
        return lir__errf(e, LIR_EINVAL, "generate: messages is NULL with n_messages %d", q->n_messages);
    for (int32_t i = 0; i < q->n_messages; i++)
        if (!role_name(q->messages[i].role) || !q->messages[i].content)
            return lir__errf(e, LIR_EINVAL, "generate: message %d has an unknown role or no content", i);
    if ((unsigned)q->format > LIR_FORMAT_JSON_SCHEMA) return lir__errf(e, LIR_EINVAL, "generate: unknown format %d", q->format);
    if (q->format == LIR_FORMAT_JSON_SCHEMA && !q->json_schema)
        return lir__errf(e, LIR_EINVAL, "generate: format json_schema needs json_schema");
    if (q->grammar && q->format != LIR_FORMAT_TEXT)
        return lir__errf(e, LIR_EINVAL, "generate: give a grammar or a response format, not both");
    char msg[LIR_ERR_MAX];
    enum lir_status s = lir_sampling_params_validate(&q->sampling, msg, sizeof msg);
    if (s) return lir__errf(e, s, "generate: %s", msg);
    if ((s = lir_licence_check_sampling(rt->licence, &q->sampling, msg, sizeof msg)))
        return lir__errf(e, s, "generate: %s", msg);
    const char *extra = q->grammar ? "grammar" : q->format == LIR_FORMAT_JSON_SCHEMA ? "json_schema"
                      : q->format == LIR_FORMAT_JSON ? "response_format" : NULL;
    if (extra && (s = lir_licence_check_params(rt->licence, &extra, 1, msg, sizeof msg)))
        return lir__errf(e, s, "generate: %s", msg);
    return LIR_OK;
}

/* ---------------------------------------------------------------- prompt */

static char *piece_text(const lir_model *m, lir_token t) {
    char buf[256];
    size_t n = 0;
    if (t < 0 || lir_token_to_piece(m, t, true, buf, sizeof buf - 1, &n)) n = 0;
    buf[n] = 0;
    return strdup(buf);
}

/* The prompt's tokens (malloc'd) from a raw prompt or chat messages. */
static enum lir_status build_prompt(const lir_model *m, const struct lir_generate_request *q, lir_token **out,
                                    int32_t *n_out, lir_err *e) {
    enum lir_status s;
    char *text = NULL;
    bool chat = q->n_messages > 0 || q->system_prompt;
    bool add_special = true;
    if (chat) {
        json_t *arr = json_array();
        if (!arr) return lir__errf(e, LIR_ENOMEM, "generate: out of memory");
        if (q->system_prompt) json_array_append_new(arr, json_pack("{s:s,s:s}", "role", "system", "content", q->system_prompt));
        for (int32_t i = 0; i < q->n_messages; i++)
            json_array_append_new(arr, json_pack("{s:s,s:s}", "role", role_name(q->messages[i].role), "content",
                                                 q->messages[i].content));
        if (q->prompt) json_array_append_new(arr, json_pack("{s:s,s:s}", "role", "user", "content", q->prompt));
        char *js = json_dumps(arr, JSON_COMPACT);
        json_decref(arr);
        if (!js) return lir__errf(e, LIR_EINVAL, "generate: messages are not valid UTF-8");
        const char *tmpl = lir_model_chat_template(m);
        if (!tmpl) tmpl = lir_chat_builtin("chatml");
        struct lir_chat_params cp = lir_chat_params_default();
        cp.add_generation_prompt = true;
        char *bos = piece_text(m, lir_vocab_bos(m)), *eos = piece_text(m, lir_vocab_eos(m));
        cp.bos_token = bos;
        cp.eos_token = eos;
        char msg[LIR_ERR_MAX];
        s = lir_chat_apply(tmpl, js, &cp, &text, NULL, msg, sizeof msg);
        free(js);
        /* a template that writes BOS itself: do not add a second one */
        if (!s && bos && bos[0] && !strncmp(text, bos, strlen(bos))) add_special = false;
        free(bos);
        free(eos);
        if (s) return lir__errf(e, s, "generate: chat template: %s", msg);
    }
    const char *src = chat ? text : q->prompt;
    size_t len = strlen(src);
    int32_t need = 0;
    s = lir_tokenize(m, src, len, add_special, true, NULL, 0, &need);
    lir_token *t = NULL;
    if (s == LIR_OK || s == LIR_ERANGE) {
        t = malloc(sizeof *t * (size_t)(need > 0 ? need : 1));
        s = t ? lir_tokenize(m, src, len, add_special, true, t, need, n_out) : LIR_ENOMEM;
    }
    if (chat) lir_chat_free(text);
    if (s) {
        free(t);
        return lir__errf(e, s, "generate: cannot tokenize the prompt: %s",
                         s == LIR_ENOMEM ? "out of memory" : lir_model_vocab_error(m));
    }
    if (*n_out < 1) {
        free(t);
        return lir__errf(e, LIR_EINVAL, "generate: the prompt gives no tokens");
    }
    *out = t;
    return LIR_OK;
}

/* ---------------------------------------------------------------- the loop */

struct textbuf {
    char *p;
    size_t len, cap;
};

static bool tb_add(struct textbuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return false;
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return true;
}

struct gen {
    lir_runtime *rt;
    struct rt_entry *en;
    const struct lir_generate_request *q;
    lir_stream_fn cb;
    void *user;
    struct textbuf text;
    struct lir_generate_result *r;
    bool cancelled;
};

/* Passes text to the result and the stream. Returns false when the callback cancels. */
static bool deliver(struct gen *g, const char *s, size_t n, int32_t index, bool complete, enum lir_finish_reason fr,
                    lir_err *e, enum lir_status *st) {
    if (!tb_add(&g->text, s, n)) {
        *st = lir__errf(e, LIR_ENOMEM, "generate: out of memory");
        return false;
    }
    if (!g->cb || (!n && !complete)) return true;
    struct lir_generate_chunk c = { .text = s ? s : "", .len = n, .token_index = index, .is_complete = complete,
                                    .finish_reason = fr };
    if (g->cb(&c, g->user) && !complete) {
        g->cancelled = true;
        return false;
    }
    return true;
}

static enum lir_status grammar_of(const struct lir_generate_request *q, lir_grammar **out, lir_err *e) {
    char msg[LIR_ERR_MAX] = "";
    enum lir_status s = LIR_OK;
    *out = NULL;
    if (q->grammar) s = lir_grammar_parse(q->grammar, NULL, out, msg, sizeof msg);
    else if (q->format == LIR_FORMAT_JSON) s = lir_grammar_json(true, out);
    else if (q->format == LIR_FORMAT_JSON_SCHEMA) s = lir_grammar_from_json_schema(q->json_schema, out, msg, sizeof msg);
    if (s) return lir__errf(e, s, "generate: grammar: %s", msg[0] ? msg : lir_status_str(s));
    return LIR_OK;
}

/* The generation proper, in the model's turn. Fills g->r. */
static enum lir_status run(struct gen *g, uint64_t t_call, int32_t *ctx_used, lir_err *e) {
    struct rt_entry *en = g->en;
    const struct lir_generate_request *q = g->q;
    lir_context *ctx = en->ctx;
    const lir_model *m = en->shared->model;
    struct lir_generate_result *r = g->r;
    const int32_t n_vocab = m->hp.n_vocab; /* logits rows; the vocabulary may have fewer tokens */
    const int32_t n_ctx = lir__context_n_ctx(ctx);
    enum lir_status s;
    lir_token *prompt = NULL;
    lir_sampler *smp = NULL;
    lir_stop_matcher *stop = NULL;
    lir_detok *dt = NULL;
    lir_grammar *gr = NULL;
    lir_grammar_state *gs = NULL;
    float *masked = NULL;
    int32_t n_prompt = 0;
    char msg[LIR_ERR_MAX];
    *ctx_used = -1;

    if ((s = build_prompt(m, q, &prompt, &n_prompt, e))) goto out;
    r->usage.prompt_tokens = n_prompt;
    if (n_prompt >= n_ctx) {
        s = lir__errf(e, LIR_ECONTEXT, "generate: the prompt has %d tokens; the context holds %d", n_prompt, n_ctx);
        goto out;
    }
    if ((s = lir_sampler_create(&q->sampling, n_vocab, &smp, msg, sizeof msg))) {
        lir__errf(e, s, "generate: %s", msg);
        goto out;
    }
    r->seed = lir_sampler_seed(smp);
    if ((s = lir_stop_matcher_create(q->sampling.stop, q->sampling.n_stop, &stop)) ||
        (s = lir_detok_create(m, false, false, &dt))) {
        lir__errf(e, s, "generate: %s", s == LIR_ENOMEM ? "out of memory" : lir_model_vocab_error(m));
        goto out;
    }
    if ((s = grammar_of(q, &gr, e))) goto out;
    if (gr) {
        if (!en->gvocab && (s = lir_grammar_vocab_create(m, &en->gvocab))) {
            lir__errf(e, s, "generate: grammar vocabulary: %s", lir_status_str(s));
            goto out;
        }
        if ((s = lir_grammar_state_create(gr, &gs)) || !(masked = malloc(sizeof *masked * (size_t)n_vocab))) {
            s = lir__errf(e, s ? s : LIR_ENOMEM, "generate: grammar: %s", lir_status_str(s ? s : LIR_ENOMEM));
            goto out;
        }
    }
    {
        struct lir_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = LIR_EVENT_GENERATION_STARTED;
        snprintf(ev.model_id, sizeof ev.model_id, "%s", en->info.model.id);
        snprintf(ev.loaded_model_id, sizeof ev.loaded_model_id, "%s", en->info.id);
        ev.prompt_tokens = n_prompt;
        lir__rt_emit(g->rt, &ev);
    }
    for (int32_t i = 0; i < n_prompt; i++) lir_sampler_accept(smp, prompt[i]); /* as llama.cpp's server */
    uint64_t t_prompt0 = lir__now_ns();
    if ((s = lir_context_decode(ctx, prompt, n_prompt, 0, false))) {
        lir__errf(e, s, "generate: %s", lir_context_last_error(ctx));
        goto out;
    }
    uint64_t t_prompt1 = lir__now_ns();
    int32_t pos = n_prompt;
    int32_t max = q->sampling.max_tokens > 0 ? q->sampling.max_tokens : INT32_MAX;
    enum lir_finish_reason fr = LIR_FINISH_LENGTH;
    int32_t n_gen = 0;
    for (;;) {
        if (n_gen >= max) { fr = LIR_FINISH_LENGTH; break; }
        const float *lg = lir_context_logits(ctx, -1);
        lir_token tok;
        if ((s = lir_sampler_sample(smp, lg, n_vocab, &tok, NULL, NULL, NULL))) {
            lir__errf(e, s, "generate: %s", lir_sampler_last_error(smp));
            goto out;
        }
        if (gs && !lir_grammar_token_allowed(gs, en->gvocab, tok)) {
            memcpy(masked, lg, sizeof *masked * (size_t)n_vocab);
            for (int32_t k = lir_grammar_vocab_n_tokens(en->gvocab); k < n_vocab; k++) masked[k] = -INFINITY;
            enum lir_status fs = lir_grammar_filter_logits(gs, en->gvocab, masked);
            if ((fs && fs != LIR_ERANGE) || (s = lir_sampler_sample(smp, masked, n_vocab, &tok, NULL, NULL, NULL))) {
                s = lir__errf(e, s ? s : fs, "generate: grammar: no token may follow (%s)",
                              s ? lir_sampler_last_error(smp) : lir_status_str(fs));
                goto out;
            }
        }
        if (n_gen == 0) r->metrics.ttft_ms = (double)(lir__now_ns() - t_call) / 1e6;
        n_gen++;
        lir_sampler_accept(smp, tok);
        if (lir_vocab_is_eog(m, tok)) { fr = LIR_FINISH_STOP; break; }
        if (gs && (s = lir_grammar_accept_token(gs, en->gvocab, tok))) {
            lir__errf(e, s, "generate: grammar: %s", lir_grammar_state_last_error(gs));
            goto out;
        }
        const char *piece;
        size_t plen;
        if ((s = lir_detok_push(dt, tok, &piece, &plen))) {
            lir__errf(e, s, "generate: detokenize: %s", lir_status_str(s));
            goto out;
        }
        const char *emit;
        size_t elen;
        int32_t matched = -1;
        if ((s = lir_stop_matcher_push(stop, piece, plen, &emit, &elen, &matched))) {
            lir__errf(e, s, "generate: out of memory");
            goto out;
        }
        if (!deliver(g, emit, elen, n_gen - 1, false, fr, e, &s)) {
            if (s) goto out;
            fr = LIR_FINISH_CANCELLED;
            break;
        }
        if (matched >= 0) { fr = LIR_FINISH_STOP; break; }
        if (gs && lir_grammar_is_done(gs)) { fr = LIR_FINISH_STOP; break; }
        if (n_gen >= max) { fr = LIR_FINISH_LENGTH; break; }
        if (pos >= n_ctx) { fr = LIR_FINISH_LENGTH; break; } /* no room to evaluate this token */
        if ((s = lir_context_decode(ctx, &tok, 1, pos++, false))) {
            lir__errf(e, s, "generate: %s", lir_context_last_error(ctx));
            goto out;
        }
        double gen_s = (double)(lir__now_ns() - t_prompt1) / 1e9;
        if (gen_s > 0) lir__rt_set_rate(g->rt, en, (float)(n_gen / gen_s));
    }
    *ctx_used = pos;
    if (fr != LIR_FINISH_CANCELLED && !lir_stop_matcher_done(stop)) {
        /* what the detokenizer and the matcher hold back */
        const char *piece, *emit;
        size_t plen, elen;
        int32_t matched = -1;
        if (!lir_detok_flush(dt, &piece, &plen) && plen) {
            lir_stop_matcher_push(stop, piece, plen, &emit, &elen, &matched);
            if (!deliver(g, emit, elen, n_gen - 1, false, fr, e, &s) && s) goto out;
            if (matched >= 0) fr = LIR_FINISH_STOP;
        }
        if (!g->cancelled && !lir_stop_matcher_flush(stop, &emit, &elen) &&
            !deliver(g, emit, elen, n_gen - 1, false, fr, e, &s) && s)
            goto out;
        if (g->cancelled) fr = LIR_FINISH_CANCELLED;
    }
    uint64_t t_end = lir__now_ns();
    r->finish_reason = fr;
    r->usage.completion_tokens = n_gen;
    r->usage.total_tokens = n_prompt + n_gen;
    r->metrics.total_ms = (double)(t_end - t_call) / 1e6;
    r->metrics.generation_ms = (double)(t_end - t_prompt1) / 1e6;
    r->metrics.tokens_per_second = r->metrics.generation_ms > 0 ? (float)(n_gen / (r->metrics.generation_ms / 1e3)) : 0;
    double p_ms = (double)(t_prompt1 - t_prompt0) / 1e6;
    r->metrics.prompt_tokens_per_second = p_ms > 0 ? (float)(n_prompt / (p_ms / 1e3)) : 0;
    if (!g->cancelled && !deliver(g, "", 0, n_gen > 0 ? n_gen - 1 : 0, true, fr, e, &s) && s) goto out;
    s = LIR_OK;
out:
    free(prompt);
    free(masked);
    lir_grammar_state_free(gs);
    lir_grammar_free(gr);
    lir_detok_free(dt);
    lir_stop_matcher_free(stop);
    lir_sampler_free(smp);
    return s;
}

enum lir_status lir__rt_generate_native(lir_runtime *rt, const struct lir_generate_request *q, lir_stream_fn cb,
                                       void *user, struct lir_generate_result *out, char *err, size_t err_len) {
    lir_err e = { { 0 } };
    uint64_t t_call = lir__now_ns();
    struct lir_generate_result r;
    memset(&r, 0, sizeof r);
    if (out) memset(out, 0, sizeof *out);
    enum lir_status s = rt ? check_request(rt, q, &e) : lir__errf(&e, LIR_EINVAL, "generate: rt must not be NULL");
    struct rt_entry *en = NULL;
    if (!s) s = lir__rt_acquire(rt, q->model, &en, &e);
    if (s) {
        if (rt) {
            struct lir_event ev;
            memset(&ev, 0, sizeof ev);
            ev.type = LIR_EVENT_GENERATION_FAILED;
            snprintf(ev.message, sizeof ev.message, "%s", e.msg);
            lir__rt_emit(rt, &ev);
        }
        lir__err_copy(&e, err, err_len);
        return s;
    }
    snprintf(r.loaded_model_id, sizeof r.loaded_model_id, "%s", en->info.id);
    lir__rt_begin_turn(rt, en);
    struct gen g = { .rt = rt, .en = en, .q = q, .cb = cb, .user = user, .r = &r };
    int32_t used = -1;
    s = run(&g, t_call, &used, &e);
    bool ok = s == LIR_OK;
    lir__rt_end_turn(rt, en, ok ? &r : NULL, used);
    struct lir_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = ok ? LIR_EVENT_GENERATION_COMPLETED : LIR_EVENT_GENERATION_FAILED;
    snprintf(ev.model_id, sizeof ev.model_id, "%s", en->info.model.id);
    snprintf(ev.loaded_model_id, sizeof ev.loaded_model_id, "%s", en->info.id);
    lir__rt_release(rt, en);
    ev.prompt_tokens = r.usage.prompt_tokens;
    ev.completion_tokens = r.usage.completion_tokens;
    ev.finish_reason = r.finish_reason;
    ev.metrics = r.metrics;
    if (!ok) snprintf(ev.message, sizeof ev.message, "%s", e.msg);
    lir__rt_emit(rt, &ev);
    if (!ok) {
        free(g.text.p);
        lir__err_copy(&e, err, err_len);
        return s;
    }
    if (!g.text.p && !tb_add(&g.text, "", 0)) {
        lir__errf(&e, LIR_ENOMEM, "generate: out of memory");
        lir__err_copy(&e, err, err_len);
        return LIR_ENOMEM;
    }
    r.text = g.text.p;
    r.len = g.text.len;
    if (out) *out = r;
    else free(r.text);
    if (g.cancelled) {
        lir__errf(&e, LIR_ECANCELLED, "generate: cancelled by the stream callback");
        lir__err_copy(&e, err, err_len);
        return LIR_ECANCELLED;
    }
    return LIR_OK;
}

enum lir_status lir_runtime_generate(lir_runtime *rt, const struct lir_generate_request *req,
                                     struct lir_generate_result *out, char *err, size_t err_len) {
    if (!out) {
        lir_err e = { { 0 } };
        lir__errf(&e, LIR_EINVAL, "generate: out must not be NULL");
        lir__err_copy(&e, err, err_len);
        return LIR_EINVAL;
    }
    if (lir__rt_is_routed(rt, req)) return lir__rt_route_generate(rt, req, NULL, NULL, out, err, err_len); /* remote.c */
    return lir__rt_generate_native(rt, req, NULL, NULL, out, err, err_len);
}

enum lir_status lir_runtime_generate_stream(lir_runtime *rt, const struct lir_generate_request *req, lir_stream_fn cb,
                                            void *user, struct lir_generate_result *out, char *err, size_t err_len) {
    if (!cb) {
        lir_err e = { { 0 } };
        lir__errf(&e, LIR_EINVAL, "generate: the stream callback must not be NULL");
        lir__err_copy(&e, err, err_len);
        return LIR_EINVAL;
    }
    if (lir__rt_is_routed(rt, req)) return lir__rt_route_generate(rt, req, cb, user, out, err, err_len); /* remote.c */
    return lir__rt_generate_native(rt, req, cb, user, out, err, err_len);
}

/* ---------------------------------------------------------------- embeddings */

/* lir_runtime_embed on a native model (remote.c routes the others). */
enum lir_status lir__rt_embed_native(lir_runtime *rt, const struct lir_embed_request *q, struct lir_embed_result *out,
                                     char *err, size_t err_len) {
    lir_err e = { { 0 } };
    enum lir_status s = LIR_OK;
    char msg[LIR_ERR_MAX];
    if (out) memset(out, 0, sizeof *out);
    if (!rt || !q || !out || q->n_texts < 1 || !q->texts) {
        s = lir__errf(&e, LIR_EINVAL, "embed: rt, request, out and texts (n_texts >= 1) are required");
    } else {
        for (int32_t i = 0; i < q->n_texts && !s; i++)
            if (!q->texts[i]) s = lir__errf(&e, LIR_EINVAL, "embed: text %d is NULL", i);
    }
    if (!s && (s = lir_licence_check(rt->licence, LIR_FEATURE_EMBEDDINGS, msg, sizeof msg)))
        lir__errf(&e, s, "embed: %s", msg);
    struct rt_entry *en = NULL;
    if (!s) s = lir__rt_acquire(rt, q->model, &en, &e);
    if (s) {
        lir__err_copy(&e, err, err_len);
        return s;
    }
    lir__rt_begin_turn(rt, en);
    const lir_model *m = en->shared->model;
    int32_t dim = lir_model_n_embd(m), total = 0;
    float *v = malloc(sizeof *v * (size_t)dim * (size_t)q->n_texts);
    if (!v) s = lir__errf(&e, LIR_ENOMEM, "embed: out of memory");
    struct lir_embed_params ep = lir_embed_params_default();
    ep.normalize = q->normalize;
    ep.pooling = q->pooling;
    for (int32_t i = 0; i < q->n_texts && !s; i++) {
        int32_t nt = 0;
        if ((s = lir_embed(en->ctx, q->texts[i], strlen(q->texts[i]), &ep, v + (size_t)i * dim, dim, &nt)))
            lir__errf(&e, s, "embed: text %d: %s", i, lir_context_last_error(en->ctx));
        total += nt;
    }
    lir__rt_end_turn(rt, en, NULL, 0);
    if (!s) snprintf(out->loaded_model_id, sizeof out->loaded_model_id, "%s", en->info.id);
    lir__rt_release(rt, en);
    if (s) {
        free(v);
        lir__err_copy(&e, err, err_len);
        return s;
    }
    out->embeddings = v;
    out->n = q->n_texts;
    out->dimensions = dim;
    out->total_tokens = total;
    return LIR_OK;
}
