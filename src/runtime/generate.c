/* generate.c — generation and embeddings through the runtime (spec §3.3): resolve the model,
 * take a tier slot, render the chat template, tokenize (a prompt that does not fit: an error or,
 * when asked, an explicit truncation), set up the sampler chain, grammar, stop-string matcher and
 * detokenizer, and hand the job to the model's scheduler (sched.c: continuous batching, prefix
 * reuse, overflow policy), which streams the text back to this thread. Embeddings take the
 * model's FIFO turn. Metrics go to the request's result, the model's aggregates and the events. */
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
    r.n_keep = -1;
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
    free(r->logprobs);
    free(r->logprob_text);
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
    if ((unsigned)q->overflow > LIR_OVERFLOW_ERROR)
        return lir__errf(e, LIR_EINVAL, "generate: overflow %d is outside [0, 3] (default, shift, stop, error)",
                         (int)q->overflow);
    if (q->n_keep < -1) return lir__errf(e, LIR_EINVAL, "generate: n_keep %d must be >= -1 (-1 = the system prompt)", q->n_keep);
    if (q->timeout_ms < 0)
        return lir__errf(e, LIR_EINVAL, "generate: timeout_ms %lld must be >= 0 (0 = none)", (long long)q->timeout_ms);
    char msg[LIR_ERR_MAX];
    enum lir_status s = lir_sampling_params_validate(&q->sampling, msg, sizeof msg);
    if (s) return lir__errf(e, s, "generate: %s", msg);
    if ((s = lir_licence_check_sampling(rt->licence, &q->sampling, msg, sizeof msg)))
        return lir__errf(e, s, "generate: %s", msg);
    const char *extra[2];
    int32_t n_extra = 0;
    if (q->grammar) extra[n_extra++] = "grammar";
    else if (q->format == LIR_FORMAT_JSON_SCHEMA) extra[n_extra++] = "json_schema";
    else if (q->format == LIR_FORMAT_JSON) extra[n_extra++] = "response_format";
    if (q->logprobs) extra[n_extra++] = "logprobs";
    if (n_extra && (s = lir_licence_check_params(rt->licence, extra, n_extra, msg, sizeof msg)))
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
static enum lir_status build_prompt(const lir_model *m, const struct lir_generate_request *q, bool gen_prompt,
                                    lir_token **out, int32_t *n_out, lir_err *e) {
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
        cp.add_generation_prompt = gen_prompt;
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

/* ---------------------------------------------------------------- the job */

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

/* The entry's grammar vocabulary, built by the first request that needs one. */
static pthread_mutex_t gvocab_mu = PTHREAD_MUTEX_INITIALIZER;

static enum lir_status gvocab_of(struct rt_entry *en, lir_grammar_vocab **out) {
    enum lir_status s = LIR_OK;
    pthread_mutex_lock(&gvocab_mu);
    if (!en->gvocab) s = lir_grammar_vocab_create(en->shared->model, &en->gvocab);
    *out = en->gvocab;
    pthread_mutex_unlock(&gvocab_mu);
    return s;
}

/* n_keep -1: the tokens of the system prompt (the chat rendered with the system message alone,
 * as far as it agrees with the prompt), else the BOS token when the prompt starts with it. */
static int32_t auto_keep(const lir_model *m, const struct lir_generate_request *q, const lir_token *t, int32_t n) {
    struct lir_generate_request s1 = *q;
    bool sys = false;
    s1.prompt = NULL;
    if (q->system_prompt) {
        s1.n_messages = 0;
        s1.messages = NULL;
        sys = true;
    } else if (q->n_messages > 0 && q->messages[0].role == LIR_ROLE_SYSTEM) {
        s1.n_messages = 1;
        sys = true;
    }
    if (sys) {
        lir_token *st = NULL;
        int32_t ns = 0;
        lir_err e = { { 0 } };
        if (!build_prompt(m, &s1, false, &st, &ns, &e)) {
            int32_t c = 0;
            while (c < ns && c < n && st[c] == t[c]) c++;
            free(st);
            if (c > 0) return c;
        }
    }
    return n > 0 && t[0] == lir_vocab_bos(m) ? 1 : 0;
}

/* Everything a request prepares before the scheduler runs it (no model computation). */
static enum lir_status prepare(lir_runtime *rt, struct rt_entry *en, const struct lir_generate_request *q,
                               uint64_t t_call, struct rt_job_spec *sp, struct lir_generate_result *r, lir_err *e) {
    const lir_model *m = en->shared->model;
    const int32_t n_vocab = m->hp.n_vocab; /* logits rows; the vocabulary may have fewer tokens */
    const int32_t n_ctx = lir__context_n_ctx(en->ctx);
    char msg[LIR_ERR_MAX];
    enum lir_status s;
    memset(sp, 0, sizeof *sp);
    if ((s = build_prompt(m, q, true, &sp->prompt, &sp->n_prompt, e))) return s;
    r->usage.prompt_tokens = sp->n_prompt;
    int32_t keep = q->n_keep >= 0 ? q->n_keep : auto_keep(m, q, sp->prompt, sp->n_prompt);
    if (keep > sp->n_prompt) keep = sp->n_prompt;
    if (sp->n_prompt >= n_ctx) {
        if (!q->truncate_prompt)
            return lir__errf(e, LIR_ECONTEXT, "generate: the prompt has %d tokens; the context holds %d "
                             "(context_size); shorten it or ask for truncate_prompt", sp->n_prompt, n_ctx);
        /* keep the first n_keep and the most recent tokens, up to half the context */
        int32_t target = n_ctx / 2 > 1 ? n_ctx / 2 : 1;
        if (keep > target - 1) keep = target - 1 > 0 ? target - 1 : 0;
        int32_t tail = target - keep, drop = sp->n_prompt - target;
        memmove(sp->prompt + keep, sp->prompt + sp->n_prompt - tail, sizeof *sp->prompt * (size_t)tail);
        sp->n_prompt = target;
        r->usage.truncated_tokens = drop;
    }
    sp->n_keep = keep;
    sp->max_tokens = q->sampling.max_tokens > 0 ? q->sampling.max_tokens : 0;
    sp->logprobs = q->logprobs;
    sp->n_probs = q->sampling.n_probs;
    sp->overflow = q->overflow != LIR_OVERFLOW_DEFAULT ? q->overflow : rt->overflow;
    sp->t_call_ns = t_call;
    sp->deadline_ns = q->timeout_ms > 0 ? t_call + (uint64_t)q->timeout_ms * 1000000ull : 0;
    if ((s = lir_sampler_create(&q->sampling, n_vocab, &sp->smp, msg, sizeof msg)))
        return lir__errf(e, s, "generate: %s", msg);
    r->seed = lir_sampler_seed(sp->smp);
    if ((s = lir_stop_matcher_create(q->sampling.stop, q->sampling.n_stop, &sp->stop)) ||
        (s = lir_detok_create(m, false, false, &sp->dt)))
        return lir__errf(e, s, "generate: %s", s == LIR_ENOMEM ? "out of memory" : lir_model_vocab_error(m));
    if ((s = grammar_of(q, &sp->gr, e))) return s;
    if (sp->gr) {
        if ((s = gvocab_of(en, &sp->gvocab)))
            return lir__errf(e, s, "generate: grammar vocabulary: %s", lir_status_str(s));
        if ((s = lir_grammar_state_create(sp->gr, &sp->gs)))
            return lir__errf(e, s, "generate: grammar: %s", lir_status_str(s));
    }
    for (int32_t i = 0; i < sp->n_prompt; i++) lir_sampler_accept(sp->smp, sp->prompt[i]); /* as llama.cpp's server */
    struct lir_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = LIR_EVENT_GENERATION_STARTED;
    snprintf(ev.model_id, sizeof ev.model_id, "%s", en->info.model.id);
    snprintf(ev.loaded_model_id, sizeof ev.loaded_model_id, "%s", en->info.id);
    ev.prompt_tokens = r->usage.prompt_tokens;
    lir__rt_emit(rt, &ev);
    return LIR_OK;
}

void lir__rt_spec_free(struct rt_job_spec *sp) {
    free(sp->prompt);
    lir_sampler_free(sp->smp);
    lir_stop_matcher_free(sp->stop);
    lir_detok_free(sp->dt);
    lir_grammar_state_free(sp->gs);
    lir_grammar_free(sp->gr);
    memset(sp, 0, sizeof *sp);
}

/* The native path: prepare, run on the model's scheduler (sched.c), account. */
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
    lir__rt_begin_request(rt, en);
    struct rt_job_spec sp;
    bool cancelled = false;
    int32_t used = -1;
    s = prepare(rt, en, q, t_call, &sp, &r, &e);
    if (s) lir__rt_spec_free(&sp);
    else s = lir__sched_run(rt, en, &sp, cb, user, &r, &cancelled, &used, &e);
    bool ok = s == LIR_OK;
    lir__rt_end_request(rt, en, ok ? &r : NULL, used);
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
        lir_generate_result_clear(&r);
        lir__err_copy(&e, err, err_len);
        return s;
    }
    if (out) *out = r;
    else lir_generate_result_clear(&r);
    if (cancelled) {
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
