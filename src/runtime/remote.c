/* remote.c — remote models in the runtime: models served by an Ollama or OpenAI-compatible
 * server (lir_runtime_add_remote), and native models with remote fallbacks, routed through
 * lir_router (timeouts, retries before the first text, fallback order; src/router/).
 *
 * A remote model is a name with a list of backends in the runtime's router. When the name is
 * also an installed (native) model, the native engine is its first backend and the remote ones
 * are its fallbacks: a native request that fails before any text (e.g. the model does not fit
 * in memory) goes on to them. The runtime's native path (generate.c) is unchanged: the native
 * backend calls it.
 *
 * Events: each failed remote attempt is a GenerationFailed event naming the backend and the
 * reason; a request answered by a remote backend emits GenerationStarted (before routing, for
 * a model without a native backend) and GenerationCompleted. The native backend emits its own.
 *
 * Locking: rt->mu guards rt->remotes and rt->router's creation; the router has its own lock and
 * may be used without mu once created (it lives until lir_runtime_destroy). */
#include "runtime/runtime.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rt_remote {
    struct rt_remote *next;
    char name[256];              /* the name requests use (the router's model name) */
    char id[LIR_ID_LEN];         /* installed id: from the name, as a file's */
    bool native;                 /* an installed model of that name: the native engine goes first */
    char native_name[256], native_id[LIR_ID_LEN], native_path[4096]; /* its installed name, id, path */
    enum lir_remote_kind kind;   /* of the first remote backend */
    char base_url[512];          /* of the first remote backend */
    char server_model[128];      /* the server's name for it ("" = name) */
    int32_t n_remote;            /* remote backends added */
};

/* One routed request. rq comes first: the native backend receives &rq from the router (the
 * same pointer lir_router_run got) and finds the rest of the request from it. */
struct routed {
    struct lir_route_request rq;
    lir_runtime *rt;
    const struct lir_generate_request *q;   /* GENERATE/CHAT */
    const struct lir_embed_request *eq;     /* EMBED */
    lir_stream_fn cb;
    void *user;
    int32_t n_chunks, token_index;
    bool native_answered;
    struct lir_generate_result native_res;  /* the native engine's result when it answered */
    char native_path[4096];                 /* the native model's file (how its backend asks for it) */
    char loaded_id[LIR_ID_LEN];             /* embeddings: the loaded model that answered */
};

static const char *kind_str(enum lir_remote_kind k) { return k == LIR_REMOTE_OLLAMA ? "ollama" : "openai"; }

/* mu held */
static struct rt_remote *find(lir_runtime *rt, const char *model) {
    for (struct rt_remote *r = rt->remotes; r; r = r->next)
        if (!strcmp(r->name, model) || !strcmp(r->id, model) ||
            (r->native && (!strcmp(r->native_name, model) || !strcmp(r->native_id, model) ||
                           !strcmp(r->native_path, model))))
            return r;
    return NULL;
}

/* ---------------------------------------------------------------- router events -> runtime events */

static void on_route_event(void *user, const struct lir_route_event *ev) {
    lir_runtime *rt = user;
    /* the native engine reports its own failures; retries and fallbacks are not spec events */
    if (ev->type != LIR_ROUTE_EVENT_GENERATION_FAILED || !strcmp(ev->backend, "native")) return;
    struct lir_event e;
    memset(&e, 0, sizeof e);
    e.type = LIR_EVENT_GENERATION_FAILED;
    e.finish_reason = LIR_FINISH_ERROR;
    pthread_mutex_lock(&rt->mu);
    const struct rt_remote *r = find(rt, ev->model);
    if (r) snprintf(e.model_id, sizeof e.model_id, "%s", r->native ? r->native_id : r->id);
    pthread_mutex_unlock(&rt->mu);
    snprintf(e.model_name, sizeof e.model_name, "%s", ev->model);
    snprintf(e.message, sizeof e.message, "model '%s': remote backend '%s' attempt %d failed (%s%s%s)%s%s",
             ev->model, ev->backend, ev->attempt, lir_route_failure_str(ev->failure), ev->reason[0] ? ": " : "",
             ev->reason, ev->final ? "; no backend left" : "", ev->partial ? " after partial text" : "");
    lir__rt_emit(rt, &e);
}

/* ---------------------------------------------------------------- the native backend */

/* The router's emit function and its context are only known inside the native call. */
struct native_emit {
    struct routed *r;
    int (*emit)(void *ctx, const char *text, size_t len);
    void *ctx;
};

static int native_forward(const struct lir_generate_chunk *c, void *user) {
    struct native_emit *ne = user;
    if (!c->len) return 0; /* the final chunk is sent once routing ends */
    ne->r->token_index = c->token_index;
    return ne->emit(ne->ctx, c->text, c->len);
}

static enum lir_status native_backend(void *user, const struct lir_route_request *req,
                                      int (*emit)(void *emit_ctx, const char *text, size_t len), void *emit_ctx,
                                      struct lir_route_result *res) {
    lir_runtime *rt = user;
    struct routed *r = (struct routed *)req; /* rq is routed's first member: see struct routed */
    char msg[LIR_ERR_MAX] = "";
    enum lir_status s;
    if (req->op == LIR_ROUTE_EMBED) {
        struct lir_embed_request eq = *r->eq;
        eq.model = r->native_path;
        struct lir_embed_result er;
        s = lir__rt_embed_native(rt, &eq, &er, msg, sizeof msg);
        if (s) {
            snprintf(res->error, sizeof res->error, "%s", msg);
            return s;
        }
        res->embeddings = er.embeddings; /* the router takes it */
        res->n_embeddings = er.n;
        res->dim = er.dimensions;
        res->prompt_tokens = er.total_tokens;
        res->completion_tokens = 0;
        snprintf(r->loaded_id, sizeof r->loaded_id, "%s", er.loaded_model_id);
        r->native_answered = true;
        return LIR_OK;
    }
    struct lir_generate_request q = *r->q;
    q.model = r->native_path;
    struct native_emit ne = { r, emit, emit_ctx };
    lir_generate_result_clear(&r->native_res);
    s = lir__rt_generate_native(rt, &q, native_forward, &ne, &r->native_res, msg, sizeof msg);
    if (s) {
        snprintf(res->error, sizeof res->error, "%s", msg);
        return s;
    }
    res->prompt_tokens = r->native_res.usage.prompt_tokens;
    res->completion_tokens = r->native_res.usage.completion_tokens;
    res->finish_reason = r->native_res.finish_reason;
    r->native_answered = true;
    return LIR_OK;
}

/* ---------------------------------------------------------------- add / remove / list */

enum lir_status lir_runtime_add_remote(lir_runtime *rt, const char *name, const struct lir_remote_params *p, char *err,
                                       size_t err_len) {
    lir_err e = { { 0 } };
    enum lir_status s = LIR_OK;
    if (!rt || !name || !p) s = lir__errf(&e, LIR_EINVAL, "lir_runtime_add_remote: rt, name and params must not be NULL");
    else if (!name[0] || strlen(name) >= sizeof((struct rt_remote *)0)->name || !strcmp(name, "*"))
        s = lir__errf(&e, LIR_EINVAL, "lir_runtime_add_remote: name '%.40s' must be 1..255 bytes and not \"*\"", name);
    else if (!p->base_url || (strncmp(p->base_url, "http://", 7) && strncmp(p->base_url, "https://", 8)))
        s = lir__errf(&e, LIR_EINVAL, "lir_runtime_add_remote: base_url '%.200s' must start with http:// or https://",
                      p->base_url ? p->base_url : "(null)");
    if (s) {
        lir__err_copy(&e, err, err_len);
        return s;
    }
    /* an installed model of that name (its file found now) gets the native engine first */
    struct lir_installed_model im;
    bool native = lir__rt_resolve_installed(rt->models_dir, name, &im, NULL) == LIR_OK;
    char msg[LIR_ERR_MAX] = "";
    pthread_mutex_lock(&rt->mu);
    if (!rt->router) {
        struct lir_router_params rp = lir_router_params_default();
        rp.on_event = on_route_event;
        rp.event_user = rt;
        s = lir_router_create(&rp, &rt->router, msg, sizeof msg);
    }
    struct rt_remote *r = s ? NULL : find(rt, name);
    bool fresh = false;
    if (!s && !r) {
        if (!(r = calloc(1, sizeof *r))) {
            s = LIR_ENOMEM;
            snprintf(msg, sizeof msg, "out of memory");
        } else {
            fresh = true;
            snprintf(r->name, sizeof r->name, "%s", name);
            lir__rt_uuid_from_name(r->name, r->id);
            r->kind = p->kind;
            snprintf(r->base_url, sizeof r->base_url, "%s", p->base_url);
            snprintf(r->server_model, sizeof r->server_model, "%s", p->model ? p->model : "");
            if (native) {
                r->native = true;
                snprintf(r->native_name, sizeof r->native_name, "%s", im.name);
                snprintf(r->native_id, sizeof r->native_id, "%s", im.id);
                snprintf(r->native_path, sizeof r->native_path, "%s", im.path);
                s = lir_router_add_native(rt->router, r->name, "native", native_backend, rt);
                if (s) snprintf(msg, sizeof msg, "cannot add the native backend: %s", lir_status_str(s));
            }
        }
    }
    if (!s) s = lir_router_add_remote(rt->router, r->name, p, msg, sizeof msg);
    if (!s) {
        r->n_remote++;
        if (fresh) {
            r->next = rt->remotes;
            rt->remotes = r;
        }
    } else if (fresh) {
        if (r) lir_router_remove(rt->router, r->name, NULL);
        free(r);
    }
    pthread_mutex_unlock(&rt->mu);
    if (s) {
        lir__errf(&e, s, "lir_runtime_add_remote '%s': %s", name, msg);
        lir__err_copy(&e, err, err_len);
    }
    return s;
}

enum lir_status lir_runtime_remove_remote(lir_runtime *rt, const char *name) {
    if (!rt || !name) return LIR_EINVAL;
    pthread_mutex_lock(&rt->mu);
    struct rt_remote *found = NULL;
    for (struct rt_remote **pp = &rt->remotes; *pp; pp = &(*pp)->next)
        if (!strcmp((*pp)->name, name) || !strcmp((*pp)->id, name)) {
            found = *pp;
            *pp = found->next;
            break;
        }
    /* requests already routed finish on their backends (the router counts references) */
    if (found) lir_router_remove(rt->router, found->name, NULL);
    pthread_mutex_unlock(&rt->mu);
    free(found);
    return found ? LIR_OK : LIR_ENOTFOUND;
}

enum lir_status lir__rt_remote_list(lir_runtime *rt, struct lir_installed_model **v, int32_t *n) {
    pthread_mutex_lock(&rt->mu);
    int32_t k = 0;
    for (struct rt_remote *r = rt->remotes; r; r = r->next) k += !r->native;
    if (!k) {
        pthread_mutex_unlock(&rt->mu);
        return LIR_OK;
    }
    struct lir_installed_model *nv = realloc(*v, sizeof *nv * (size_t)(*n + k));
    if (!nv) {
        pthread_mutex_unlock(&rt->mu);
        return LIR_ENOMEM;
    }
    *v = nv;
    for (struct rt_remote *r = rt->remotes; r; r = r->next) {
        if (r->native) continue; /* listed as its file, with the native backend */
        struct lir_installed_model *m = &nv[(*n)++];
        memset(m, 0, sizeof *m);
        snprintf(m->id, sizeof m->id, "%s", r->id);
        snprintf(m->name, sizeof m->name, "%s", r->name);
        snprintf(m->path, sizeof m->path, "%s", r->base_url);
        snprintf(m->display_name, sizeof m->display_name, "%.127s", r->server_model[0] ? r->server_model : r->name);
        snprintf(m->source, sizeof m->source, "remote");
        snprintf(m->backend, sizeof m->backend, "%s", kind_str(r->kind));
    }
    pthread_mutex_unlock(&rt->mu);
    return LIR_OK;
}

void lir__rt_remote_free(lir_runtime *rt) {
    pthread_mutex_lock(&rt->mu);
    struct rt_remote *r = rt->remotes;
    lir_router *router = rt->router;
    rt->remotes = NULL;
    rt->router = NULL;
    pthread_mutex_unlock(&rt->mu);
    while (r) {
        struct rt_remote *next = r->next;
        free(r);
        r = next;
    }
    lir_router_free(router);
}

/* ---------------------------------------------------------------- generate */

/* Copies the routed name of model into key; false when the model has no remote backends. */
static bool route_of(lir_runtime *rt, const char *model, char key[256], bool *native, char native_id[LIR_ID_LEN],
                     char native_path[4096]) {
    if (!model) return false;
    pthread_mutex_lock(&rt->mu);
    const struct rt_remote *r = rt->remotes ? find(rt, model) : NULL;
    if (r) {
        snprintf(key, 256, "%s", r->name);
        *native = r->native;
        snprintf(native_id, LIR_ID_LEN, "%s", r->native_id);
        if (native_path) snprintf(native_path, 4096, "%s", r->native_path);
    }
    pthread_mutex_unlock(&rt->mu);
    return r != NULL;
}

bool lir__rt_is_routed(lir_runtime *rt, const struct lir_generate_request *req) {
    if (!rt || !req || !req->model) return false;
    char key[256], nid[LIR_ID_LEN];
    bool native = false;
    if (!route_of(rt, req->model, key, &native, nid, NULL)) return false;
    /* grammars and response formats are not sent to remote servers: such a request on a native
     * model with fallbacks runs on the native engine only */
    return !(native && (req->grammar || req->format != LIR_FORMAT_TEXT));
}

static int remote_chunk(void *user, const char *text, size_t len) {
    struct routed *r = user;
    if (!r->cb) return 0;
    /* the native engine's token index (set by native_forward), else the chunk's own index */
    struct lir_generate_chunk c = { .text = text, .len = len,
                                    .token_index = r->token_index > r->n_chunks ? r->token_index : r->n_chunks,
                                    .is_complete = false, .finish_reason = LIR_FINISH_LENGTH };
    r->n_chunks++;
    return r->cb(&c, r->user);
}

static const char *role_str(enum lir_chat_role role) {
    return role == LIR_ROLE_SYSTEM ? "system" : role == LIR_ROLE_USER ? "user" : role == LIR_ROLE_ASSISTANT ? "assistant" : NULL;
}

/* The request's messages as a JSON array (system prompt first, a prompt last as the user's). */
static char *messages_json(const struct lir_generate_request *q, lir_err *e) {
    json_t *a = json_array();
    bool ok = a != NULL;
    if (ok && q->system_prompt)
        ok = !json_array_append_new(a, json_pack("{s:s,s:s}", "role", "system", "content", q->system_prompt));
    for (int32_t i = 0; ok && i < q->n_messages; i++) {
        const char *role = role_str(q->messages[i].role);
        if (!role || !q->messages[i].content) {
            json_decref(a);
            lir__errf(e, LIR_EINVAL, "generate: message %d has an unknown role or no content", i);
            return NULL;
        }
        ok = !json_array_append_new(a, json_pack("{s:s,s:s}", "role", role, "content", q->messages[i].content));
    }
    if (ok && q->prompt) ok = !json_array_append_new(a, json_pack("{s:s,s:s}", "role", "user", "content", q->prompt));
    char *js = ok ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    if (!js) lir__errf(e, LIR_EINVAL, "generate: the messages are not valid UTF-8 (or out of memory)");
    return js;
}

static void emit_simple(lir_runtime *rt, enum lir_event_type t, const char *model_id, const struct lir_generate_result *res,
                        const char *message) {
    struct lir_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = t;
    snprintf(ev.model_id, sizeof ev.model_id, "%s", model_id);
    if (res) {
        ev.prompt_tokens = res->usage.prompt_tokens;
        ev.completion_tokens = res->usage.completion_tokens;
        ev.finish_reason = res->finish_reason;
        ev.metrics = res->metrics;
    }
    if (message) snprintf(ev.message, sizeof ev.message, "%s", message);
    lir__rt_emit(rt, &ev);
}

enum lir_status lir__rt_route_generate(lir_runtime *rt, const struct lir_generate_request *q, lir_stream_fn cb,
                                       void *user, struct lir_generate_result *out, char *err, size_t err_len) {
    lir_err e = { { 0 } };
    char key[256], nid[LIR_ID_LEN], msg[LIR_ERR_MAX];
    char npath[4096];
    bool native = false;
    if (out) memset(out, 0, sizeof *out);
    if (!route_of(rt, q->model, key, &native, nid, npath)) /* removed meanwhile: the native path says why */
        return lir__rt_generate_native(rt, q, cb, user, out, err, err_len);
    enum lir_status s = LIR_OK;
    if (!q->prompt == !(q->n_messages > 0))
        s = lir__errf(&e, LIR_EINVAL, "generate: give either a prompt or messages (n_messages > 0)");
    else if (q->n_messages < 0 || (q->n_messages > 0 && !q->messages))
        s = lir__errf(&e, LIR_EINVAL, "generate: messages is NULL with n_messages %d", q->n_messages);
    else if (q->grammar || q->format != LIR_FORMAT_TEXT)
        s = lir__errf(&e, LIR_EUNSUPPORTED,
                      "generate: model '%s' is remote: grammars and response formats are not sent to remote servers", key);
    else if ((s = lir_licence_check(rt->licence, LIR_FEATURE_INFERENCE, msg, sizeof msg)) ||
             (s = lir_sampling_params_validate(&q->sampling, msg, sizeof msg)) ||
             (s = lir_licence_check_sampling(rt->licence, &q->sampling, msg, sizeof msg)))
        lir__errf(&e, s, "generate: %s", msg);
    char *mj = NULL;
    bool chat = q->n_messages > 0 || q->system_prompt;
    if (!s && chat && !(mj = messages_json(q, &e))) s = LIR_EINVAL;
    char rid[LIR_ID_LEN];
    lir__rt_uuid_from_name(key, rid);
    if (s) {
        emit_simple(rt, LIR_EVENT_GENERATION_FAILED, native ? nid : rid, NULL, e.msg);
        lir__err_copy(&e, err, err_len);
        return s;
    }
    struct routed r;
    memset(&r, 0, sizeof r);
    r.rt = rt;
    r.q = q;
    r.cb = cb;
    r.user = user;
    snprintf(r.native_path, sizeof r.native_path, "%s", npath);
    r.rq.op = chat ? LIR_ROUTE_CHAT : LIR_ROUTE_GENERATE;
    r.rq.model = key;
    r.rq.prompt = chat ? NULL : q->prompt;
    r.rq.messages_json = mj;
    r.rq.sampling = &q->sampling;
    r.rq.on_chunk = remote_chunk;
    r.rq.chunk_user = &r;
    if (!native) emit_simple(rt, LIR_EVENT_GENERATION_STARTED, rid, NULL, NULL);
    struct lir_route_result res;
    memset(&res, 0, sizeof res);
    s = lir_router_run(rt->router, &r.rq, &res);
    free(mj);
    struct lir_generate_result gr;
    memset(&gr, 0, sizeof gr);
    if (r.native_answered && (s == LIR_OK || s == LIR_ECANCELLED)) {
        gr = r.native_res; /* its metrics, seed and loaded id; the text is the router's copy */
        free(gr.text);
        memset(&r.native_res, 0, sizeof r.native_res);
    } else {
        lir_generate_result_clear(&r.native_res);
        gr.usage.prompt_tokens = res.prompt_tokens > 0 ? res.prompt_tokens : 0;
        gr.usage.completion_tokens = res.completion_tokens > 0 ? res.completion_tokens : r.n_chunks;
        gr.usage.total_tokens = gr.usage.prompt_tokens + gr.usage.completion_tokens;
        gr.finish_reason = res.finish_reason;
        gr.metrics.total_ms = res.total_ms;
        gr.metrics.ttft_ms = res.ttft_ms > 0 ? res.ttft_ms : 0;
        gr.metrics.generation_ms = res.total_ms - gr.metrics.ttft_ms;
        gr.metrics.tokens_per_second =
            gr.metrics.generation_ms > 0 ? (float)(gr.usage.completion_tokens / (gr.metrics.generation_ms / 1e3)) : 0;
        gr.seed = q->sampling.seed;
    }
    gr.text = res.text;
    gr.len = res.text_len;
    res.text = NULL;
    if (s == LIR_ECANCELLED) gr.finish_reason = LIR_FINISH_CANCELLED;
    if (s && s != LIR_ECANCELLED) {
        lir__errf(&e, s, "generate: model '%s': %s%s%s", key, res.error, res.backend[0] ? " (backend " : "",
                  res.backend[0] ? res.backend : "");
        if (res.backend[0]) snprintf(e.msg + strlen(e.msg), sizeof e.msg - strlen(e.msg), ")");
        lir__err_copy(&e, err, err_len);
        lir_generate_result_clear(&gr);
        lir_route_result_clear(&res);
        return s;
    }
    if (!r.native_answered) {
        emit_simple(rt, LIR_EVENT_GENERATION_COMPLETED, rid, &gr, NULL);
        lir__rt_observe_remote(rt, rid, key, &gr); /* profiler and store, as a native request's */
    }
    if (s == LIR_OK && cb) { /* the last chunk, as the native path delivers it */
        struct lir_generate_chunk c = { .text = "", .len = 0,
                                        .token_index = r.native_answered ? r.token_index
                                                       : r.n_chunks > 0 ? r.n_chunks - 1 : 0,
                                        .is_complete = true, .finish_reason = gr.finish_reason };
        cb(&c, user);
    }
    lir_route_result_clear(&res);
    if (out) *out = gr;
    else lir_generate_result_clear(&gr);
    if (s == LIR_ECANCELLED) {
        lir__errf(&e, s, "generate: cancelled by the stream callback");
        lir__err_copy(&e, err, err_len);
    }
    return s;
}

/* ---------------------------------------------------------------- embed */

enum lir_status lir_runtime_embed(lir_runtime *rt, const struct lir_embed_request *q, struct lir_embed_result *out,
                                  char *err, size_t err_len) {
    char key[256], nid[LIR_ID_LEN], msg[LIR_ERR_MAX];
    char npath[4096];
    bool native = false;
    if (!rt || !q || !out || !route_of(rt, q->model, key, &native, nid, npath))
        return lir__rt_embed_native(rt, q, out, err, err_len); /* it checks the arguments */
    lir_err e = { { 0 } };
    memset(out, 0, sizeof *out);
    enum lir_status s = LIR_OK;
    if (q->n_texts < 1 || !q->texts) s = lir__errf(&e, LIR_EINVAL, "embed: texts (n_texts >= 1) are required");
    for (int32_t i = 0; !s && i < q->n_texts; i++)
        if (!q->texts[i]) s = lir__errf(&e, LIR_EINVAL, "embed: text %d is NULL", i);
    if (!s && (s = lir_licence_check(rt->licence, LIR_FEATURE_EMBEDDINGS, msg, sizeof msg)))
        lir__errf(&e, s, "embed: %s", msg);
    if (s) {
        lir__err_copy(&e, err, err_len);
        return s;
    }
    struct routed r;
    memset(&r, 0, sizeof r);
    r.rt = rt;
    r.eq = q;
    snprintf(r.native_path, sizeof r.native_path, "%s", npath);
    r.rq.op = LIR_ROUTE_EMBED;
    r.rq.model = key;
    r.rq.texts = q->texts;
    r.rq.n_texts = q->n_texts;
    struct lir_route_result res;
    memset(&res, 0, sizeof res);
    s = lir_router_run(rt->router, &r.rq, &res);
    if (s) {
        lir__errf(&e, s, "embed: model '%s': %s", key, res.error);
        lir__err_copy(&e, err, err_len);
        lir_route_result_clear(&res);
        return s;
    }
    if (!r.native_answered && q->normalize) /* servers may or may not normalize: do it here */
        for (int32_t i = 0; i < res.n_embeddings; i++) {
            float *v = res.embeddings + (size_t)i * (size_t)res.dim;
            double ss = 0;
            for (int32_t j = 0; j < res.dim; j++) ss += (double)v[j] * v[j];
            if (ss > 0)
                for (int32_t j = 0; j < res.dim; j++) v[j] = (float)(v[j] / sqrt(ss));
        }
    out->embeddings = res.embeddings;
    out->n = res.n_embeddings;
    out->dimensions = res.dim;
    out->total_tokens = res.prompt_tokens > 0 ? res.prompt_tokens : 0;
    if (r.native_answered) snprintf(out->loaded_model_id, sizeof out->loaded_model_id, "%s", r.loaded_id);
    res.embeddings = NULL;
    lir_route_result_clear(&res);
    return LIR_OK;
}
