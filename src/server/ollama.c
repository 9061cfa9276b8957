/* ollama.c — the Ollama-compatible API of `lir serve`: /api/generate and /api/chat (NDJSON
 * streams, on by default as Ollama's; `options` mapped to lir's sampling and load options;
 * keep_alive; format "json" or a JSON schema; logprobs + top_logprobs, per chunk and whole, in
 * the entry shape OpenAI's chat uses; counts and durations in nanoseconds), /api/embed,
 * /api/embeddings, /api/tags, /api/ps, /api/show, /api/version. An empty prompt (or no messages)
 * loads the model; with keep_alive 0 it unloads it, as Ollama does. Errors are {"error": "..."}. */
#include "server/server.h"
#include "util/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const enum api_kind API = API_OLLAMA;

static json_t *now_rfc3339(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char b[64];
    snprintf(b, sizeof b, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec);
    return json_string(b);
}

static json_t *time_rfc3339(int64_t ms) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char b[64];
    snprintf(b, sizeof b, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    return json_string(b);
}

/* ---------------------------------------------------------------- keep_alive */

/* keep_alive: a number of seconds or a Go duration ("5m", "1h30m", "10s", "0", "-1"); negative =
 * never unload. Returns true with *ms set; false on a malformed value. */
static bool parse_keep_alive(json_t *v, int64_t *ms) {
    if (json_is_number(v)) {
        double s = json_number_value(v);
        if (!isfinite(s) || fabs(s) > 1e12) return false;
        *ms = s < 0 ? LIR_KEEP_ALIVE_NEVER : (int64_t)(s * 1000);
        return true;
    }
    if (!json_is_string(v)) return false;
    const char *p = json_string_value(v);
    bool neg = *p == '-';
    if (neg || *p == '+') p++;
    if (!*p) return false;
    double total = 0;
    char *end;
    double x = strtod(p, &end);
    if (end != p && !*end) { /* a bare number: seconds */
        total = x * 1000;
    } else {
        while (*p) {
            x = strtod(p, &end);
            if (end == p) return false;
            p = end;
            double unit;
            if (!strncmp(p, "ns", 2)) unit = 1e-6, p += 2;
            else if (!strncmp(p, "us", 2)) unit = 1e-3, p += 2;
            else if (!strncmp(p, "ms", 2)) unit = 1, p += 2;
            else if (*p == 's') unit = 1000, p++;
            else if (*p == 'm') unit = 60000, p++;
            else if (*p == 'h') unit = 3600000, p++;
            else return false;
            total += x * unit;
        }
    }
    if (!isfinite(total) || total > 1e15) return false;
    *ms = neg ? (total > 0 ? LIR_KEEP_ALIVE_NEVER : 0) : (int64_t)total;
    return true;
}

/* ---------------------------------------------------------------- options */

struct load_req {
    bool any;                 /* a load option or keep_alive was given */
    bool has_keep_alive;
    struct lir_load_options o;
};

static bool read_options(struct srv_stream *st, json_t *body, struct load_req *L, struct srv_resp *r) {
    bool bad = false;
    int64_t i;
    json_t *o = json_object_get(body, "options");
    L->o = lir_load_options_default();
    json_t *ka = json_object_get(body, "keep_alive");
    if (ka && !json_is_null(ka)) {
        if (!parse_keep_alive(ka, &L->o.keep_alive_ms)) {
            srv_error(r, API, 400, NULL, NULL, "keep_alive: a number of seconds or a duration such as \"5m\" or \"1h\"");
            return false;
        }
        L->any = L->has_keep_alive = true;
    }
    if (!o || json_is_null(o)) return true;
    if (!json_is_object(o)) {
        srv_error(r, API, 400, NULL, NULL, "options: must be an object");
        return false;
    }
    struct lir_sampling_params *sp = st ? &st->req.sampling : NULL;
    struct lir_sampling_params dummy = lir_sampling_params_default();
    if (!sp) sp = &dummy;
    if (srv_get_int(o, "num_predict", INT32_MIN, INT32_MAX, &i, r, API, &bad))
        sp->max_tokens = i < 0 ? 0 : (int32_t)i; /* -1 (infinite) and -2 (fill the context): until the end */
    if (!bad) srv_get_sampling(o, sp, r, API, &bad);
    if (!bad && srv_get_int(o, "num_keep", -1, INT32_MAX, &i, r, API, &bad) && st) st->req.n_keep = (int32_t)i;
    if (!bad && srv_get_int(o, "num_ctx", 1, 16777216, &i, r, API, &bad)) L->o.context_size = (int32_t)i, L->any = true;
    if (!bad && srv_get_int(o, "num_batch", 1, 1 << 20, &i, r, API, &bad)) L->o.batch_size = (int32_t)i, L->any = true;
    if (!bad && srv_get_int(o, "num_thread", 0, 1024, &i, r, API, &bad)) L->o.threads = (int32_t)i, L->any = true;
    if (!bad && srv_get_int(o, "num_gpu", -1, 1 << 20, &i, r, API, &bad)) L->o.gpu_layers = (int32_t)i, L->any = true;
    if (!bad && srv_get_int(o, "main_gpu", 0, 64, &i, r, API, &bad)) L->o.main_gpu = (int32_t)i, L->any = true;
    if (bad) return false;
    json_t *stop = json_object_get(o, "stop");
    if (st && stop && !json_is_null(stop)) {
        size_t n = json_is_array(stop) ? json_array_size(stop) : 1;
        if ((!json_is_array(stop) && !json_is_string(stop)) || n > LIR_STOP_MAX) {
            srv_error(r, API, 400, NULL, NULL, "options.stop: a string or an array of at most %d strings", LIR_STOP_MAX);
            return false;
        }
        if (!(st->stop = calloc(n ? n : 1, sizeof *st->stop))) return srv_error(r, API, 500, NULL, NULL, "out of memory"), false;
        for (size_t k = 0; k < n; k++) {
            json_t *s = json_is_array(stop) ? json_array_get(stop, k) : stop;
            if (!json_is_string(s)) {
                srv_error(r, API, 400, NULL, NULL, "options.stop[%zu]: not a string", k);
                return false;
            }
            st->stop[k] = json_string_value(s);
        }
        sp->stop = st->stop;
        sp->n_stop = (int32_t)n;
    }
    return true;
}

/* Loads (or finds) the model as the request's options and keep_alive ask; the loaded id goes to
 * st->model_arg. Without load options the loaded copy keeps its options (keep_alive updated). */
static int load_for(struct srv_req *q, const char *model_arg, struct load_req *L, char *loaded_id, uint64_t *load_ns,
                    struct srv_resp *r) {
    lir_runtime *rt = srv_runtime(q->srv);
    struct lir_load_options o = L->o;
    struct lir_loaded_model *lm = NULL;
    int32_t n = 0;
    bool found = false;
    if (!lir_runtime_list_loaded(rt, &lm, &n)) {
        for (int32_t i = 0; i < n && !found; i++)
            if (!strcmp(lm[i].id, model_arg) || !strcmp(lm[i].model.name, model_arg)) {
                struct lir_load_options cur = lm[i].options;
                struct lir_load_options want = L->o;
                want.keep_alive_ms = cur.keep_alive_ms;
                struct lir_load_options def = lir_load_options_default();
                def.keep_alive_ms = cur.keep_alive_ms;
                /* no load option other than keep_alive given: keep the loaded copy */
                if (!memcmp(&want, &def, sizeof want) || !memcmp(&want, &cur, sizeof want)) {
                    int64_t ka = L->has_keep_alive ? L->o.keep_alive_ms : cur.keep_alive_ms;
                    o = cur;
                    o.keep_alive_ms = ka;
                    found = true;
                }
            }
        lir_runtime_free(lm);
    }
    char err[512] = "";
    uint64_t t0 = lir__now_ns();
    struct lir_resource_check chk;
    enum lir_status s = lir_runtime_load(rt, model_arg, &o, NULL, NULL, loaded_id, &chk, err, sizeof err);
    *load_ns = found ? 0 : lir__now_ns() - t0;
    if (s) return srv_error(r, API, srv_http_status(s), NULL, NULL, "%s", err);
    return 0;
}

/* ---------------------------------------------------------------- streams */

struct ol_fmt {
    bool chat;
    bool logprobs; /* the request asked for them: "logprobs" on each chunk, all of them when whole */
};

static json_t *base(struct srv_stream *st) {
    return json_pack("{ss so}", "model", st->model_name, "created_at", now_rfc3339());
}

static void ol_chunk(struct srv_stream *st, const struct lir_generate_chunk *c) {
    struct ol_fmt *f = st->fmt_user;
    /* the last chunk carries no text, but may carry the log-probabilities of tokens whose text a
     * stop string held back: they go out in a chunk of their own */
    const bool lp_only = f->logprobs && c->n_logprobs > 0 && !c->len;
    if ((c->is_complete || !c->len) && !lp_only) return;
    json_t *j = base(st);
    json_t *text = json_stringn(c->text, c->len);
    if (f->chat) json_object_set_new(j, "message", json_pack("{ss so}", "role", "assistant", "content", text));
    else json_object_set_new(j, "response", text);
    if (f->logprobs) json_object_set_new(j, "logprobs", srv_logprob_entries(c->logprobs, c->n_logprobs));
    json_object_set_new(j, "done", json_false());
    srv_stream_ndjson(st, j);
}

static void put_totals(struct srv_stream *st, json_t *j) {
    const struct lir_generate_result *res = &st->result;
    double total = res->metrics.total_ms * 1e6;
    double eval = res->metrics.generation_ms * 1e6;
    /* the runtime's prompt rate is over the tokens it evaluated (a reused prefix is not) */
    double pe = res->metrics.prompt_tokens_per_second > 0
                    ? res->usage.prompt_tokens_evaluated / res->metrics.prompt_tokens_per_second * 1e9 : 0;
    if (pe > total - eval) pe = total - eval > 0 ? total - eval : 0;
    json_object_set_new(j, "done_reason", json_string(res->finish_reason == LIR_FINISH_LENGTH ? "length" : "stop"));
    json_object_set_new(j, "total_duration", json_integer((json_int_t)(total + (double)st->load_ns)));
    json_object_set_new(j, "load_duration", json_integer((json_int_t)st->load_ns));
    json_object_set_new(j, "prompt_eval_count", json_integer(res->usage.prompt_tokens));
    json_object_set_new(j, "prompt_eval_duration", json_integer((json_int_t)pe));
    json_object_set_new(j, "eval_count", json_integer(res->usage.completion_tokens));
    json_object_set_new(j, "eval_duration", json_integer((json_int_t)eval));
}

static json_t *final_obj(struct srv_stream *st, const char *text, size_t len) {
    struct ol_fmt *f = st->fmt_user;
    json_t *j = base(st);
    json_t *t = json_stringn(text, len);
    if (f->chat) json_object_set_new(j, "message", json_pack("{ss so}", "role", "assistant", "content", t));
    else json_object_set_new(j, "response", t);
    json_object_set_new(j, "done", json_true());
    put_totals(st, j);
    return j;
}

static void ol_end(struct srv_stream *st) { srv_stream_ndjson(st, final_obj(st, "", 0)); }

static void ol_fail(struct srv_stream *st) { srv_stream_ndjson(st, json_pack("{ss}", "error", st->err)); }

static json_t *ol_whole(struct srv_stream *st) {
    struct ol_fmt *f = st->fmt_user;
    json_t *j = final_obj(st, st->result.text ? st->result.text : "", st->result.len);
    if (j && f->logprobs) json_object_set_new(j, "logprobs", srv_logprob_entries(st->result.logprobs, st->result.n_logprobs));
    return j;
}

static const struct srv_stream_fmt OL_FMT = { ol_chunk, ol_end, ol_fail, ol_whole, free };

static int unload_model(struct srv_req *q, const char *model_arg) {
    lir_runtime *rt = srv_runtime(q->srv);
    struct lir_loaded_model *lm = NULL;
    int32_t n = 0, k = 0;
    if (lir_runtime_list_loaded(rt, &lm, &n)) return 0;
    for (int32_t i = 0; i < n; i++)
        if (!strcmp(lm[i].id, model_arg) || !strcmp(lm[i].model.name, model_arg))
            k += lir_runtime_unload(rt, lm[i].id) == LIR_OK;
    lir_runtime_free(lm);
    return k;
}

static int generation(struct srv_req *q, struct srv_resp *r, bool chat) {
    json_t *o = srv_body_object(q, r);
    if (!o) return r->status;
    struct srv_stream *st = srv_stream_new(q, o);
    if (!st) return srv_error(r, API, 500, NULL, NULL, "out of memory");
    bool bad = false, stream = true, raw = false;
    const char *model = NULL, *prompt = NULL, *system = NULL;
    struct load_req L = { 0 };
    srv_get_str(o, "model", &model, r, API, &bad);
    if (!bad) srv_get_bool(o, "stream", &stream, r, API, &bad);
    if (!bad && !chat) srv_get_str(o, "prompt", &prompt, r, API, &bad);
    if (!bad && !chat) srv_get_str(o, "system", &system, r, API, &bad);
    if (!bad && !chat) srv_get_bool(o, "raw", &raw, r, API, &bad);
    if (bad || srv_resolve_model(q->srv, model, st->model_arg, st->model_name, r, API)) goto fail;
    if (!read_options(st, o, &L, r)) goto fail;
    size_t n_msgs = 0;
    if (chat) {
        json_t *msgs = json_object_get(o, "messages");
        if (msgs && !json_is_null(msgs) && !json_is_array(msgs)) {
            srv_error(r, API, 400, NULL, NULL, "messages: must be an array");
            goto fail;
        }
        n_msgs = json_is_array(msgs) ? json_array_size(msgs) : 0;
        if (n_msgs && !(st->messages = calloc(n_msgs, sizeof *st->messages))) {
            srv_error(r, API, 500, NULL, NULL, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < n_msgs; i++) {
            json_t *m = json_array_get(msgs, i);
            const char *role = NULL, *content = "";
            if (!json_is_object(m) || !srv_get_str(m, "role", &role, r, API, &bad)) {
                if (!bad) srv_error(r, API, 400, NULL, NULL, "messages[%zu]: needs a role", i);
                goto fail;
            }
            srv_get_str(m, "content", &content, r, API, &bad);
            if (bad) goto fail;
            if (!strcmp(role, "system")) st->messages[i].role = LIR_ROLE_SYSTEM;
            else if (!strcmp(role, "user")) st->messages[i].role = LIR_ROLE_USER;
            else if (!strcmp(role, "assistant")) st->messages[i].role = LIR_ROLE_ASSISTANT;
            else {
                srv_error(r, API, 400, NULL, NULL, "messages[%zu].role: '%.40s' is not system, user or assistant", i, role);
                goto fail;
            }
            st->messages[i].content = content;
        }
    }
    json_t *tools = json_object_get(o, "tools");
    if (json_is_array(tools) && json_array_size(tools) > 0) {
        srv_error(r, API, 400, NULL, NULL, "tools: tool calling is not supported");
        goto fail;
    }
    bool empty = chat ? n_msgs == 0 : (!prompt || !prompt[0]);
    if (empty) { /* load, or unload with keep_alive 0 */
        json_t *j = json_pack("{ss so}", "model", st->model_name, "created_at", now_rfc3339());
        if (L.has_keep_alive && L.o.keep_alive_ms == 0) {
            unload_model(q, st->model_arg);
            json_object_set_new(j, "done_reason", json_string("unload"));
        } else {
            char id[LIR_ID_LEN];
            uint64_t lns = 0;
            if (load_for(q, st->model_arg, &L, id, &lns, r)) {
                json_decref(j);
                goto fail;
            }
            json_object_set_new(j, "done_reason", json_string("load"));
        }
        if (chat) json_object_set_new(j, "message", json_pack("{ss ss}", "role", "assistant", "content", ""));
        else json_object_set_new(j, "response", json_string(""));
        json_object_set_new(j, "done", json_true());
        r->status = 200;
        r->json = j;
        r->content_type = stream ? "application/x-ndjson" : NULL;
        srv_stream_discard(st);
        return 200;
    }
    if (L.any) {
        char id[LIR_ID_LEN];
        if (load_for(q, st->model_arg, &L, id, &st->load_ns, r)) goto fail;
        snprintf(st->model_arg, sizeof st->model_arg, "%s", id);
    }
    st->req.model = st->model_arg;
    if (chat) {
        st->req.messages = st->messages;
        st->req.n_messages = (int32_t)n_msgs;
    } else {
        if (raw) {
            st->req.prompt = prompt;
        } else { /* Ollama applies the model's template to a prompt that is not raw */
            if (!(st->messages = calloc(1, sizeof *st->messages))) {
                srv_error(r, API, 500, NULL, NULL, "out of memory");
                goto fail;
            }
            st->messages[0].role = LIR_ROLE_USER;
            st->messages[0].content = prompt;
            st->req.messages = st->messages;
            st->req.n_messages = 1;
            st->req.system_prompt = system;
        }
    }
    json_t *fm = json_object_get(o, "format");
    if (json_is_string(fm) && !strcmp(json_string_value(fm), "json")) {
        st->req.format = LIR_FORMAT_JSON;
    } else if (json_is_object(fm)) {
        if (!(st->schema = json_dumps(fm, JSON_COMPACT))) {
            srv_error(r, API, 500, NULL, NULL, "out of memory");
            goto fail;
        }
        st->req.format = LIR_FORMAT_JSON_SCHEMA;
        st->req.json_schema = st->schema;
    } else if (fm && !json_is_null(fm) && !(json_is_string(fm) && !json_string_length(fm))) {
        srv_error(r, API, 400, NULL, NULL, "format: \"json\" or a JSON schema object");
        goto fail;
    }
    /* logprobs: bool; top_logprobs: 0..20 alternatives per token, only with logprobs (top level, as Ollama) */
    bool want_lp = false;
    int64_t n_top = 0;
    if (!srv_get_bool(o, "logprobs", &want_lp, r, API, &bad) && bad) goto fail;
    if (!srv_get_int(o, "top_logprobs", 0, LIR_N_PROBS_MAX, &n_top, r, API, &bad) && bad) goto fail;
    if (n_top > 0 && !want_lp) {
        srv_error(r, API, 400, NULL, NULL, "top_logprobs: %lld asked without logprobs; set logprobs to true to use it",
                  (long long)n_top);
        goto fail;
    }
    st->req.logprobs = want_lp;
    if (want_lp) st->req.sampling.n_probs = (int32_t)n_top;
    if (!srv_check_sampling(st, r, API)) goto fail;
    struct ol_fmt *f = calloc(1, sizeof *f);
    if (!f) {
        srv_error(r, API, 500, NULL, NULL, "out of memory");
        goto fail;
    }
    f->chat = chat;
    f->logprobs = want_lp;
    st->fmt = &OL_FMT;
    st->fmt_user = f;
    st->streaming = stream;
    st->content_type = stream ? "application/x-ndjson" : NULL;
    return srv_stream_run(q, st, r);
fail:
    srv_stream_discard(st);
    return r->status;
}

/* ---------------------------------------------------------------- embeddings */

static int embed(struct srv_req *q, struct srv_resp *r, bool legacy) {
    json_t *o = srv_body_object(q, r);
    if (!o) return r->status;
    bool bad = false;
    const char *model = NULL;
    char arg[256], name[256];
    const char **texts = NULL;
    struct lir_embed_result res = { 0 };
    struct load_req L = { 0 };
    srv_get_str(o, "model", &model, r, API, &bad);
    if (bad || srv_resolve_model(q->srv, model, arg, name, r, API)) goto out;
    if (!read_options(NULL, o, &L, r)) goto out;
    json_t *in = json_object_get(o, legacy ? "prompt" : "input");
    size_t n = json_is_string(in) ? 1 : json_is_array(in) ? json_array_size(in) : 0;
    if (!n || n > 2048) {
        srv_error(r, API, 400, NULL, NULL, legacy ? "prompt: a string is required"
                                                  : "input: a string or an array of 1 to 2048 strings");
        goto out;
    }
    if (!(texts = calloc(n, sizeof *texts))) { srv_error(r, API, 500, NULL, NULL, "out of memory"); goto out; }
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_is_string(in) ? in : json_array_get(in, i);
        if (!json_is_string(t) || strlen(json_string_value(t)) != json_string_length(t) || !json_string_length(t)) {
            srv_error(r, API, 400, NULL, NULL, "input[%zu]: must be a non-empty string", i);
            goto out;
        }
        texts[i] = json_string_value(t);
    }
    uint64_t lns = 0;
    if (L.any) {
        char id[LIR_ID_LEN];
        if (load_for(q, arg, &L, id, &lns, r)) goto out;
        snprintf(arg, sizeof arg, "%s", id);
    }
    if (!srv_admit(q->srv)) {
        r->retry_after = 1;
        srv_error(r, API, 503, NULL, NULL, "the server is busy; retry later");
        goto out;
    }
    struct lir_embed_request er = lir_embed_request_default();
    er.model = arg;
    er.texts = texts;
    er.n_texts = (int32_t)n;
    char err[512] = "";
    uint64_t t0 = lir__now_ns();
    enum lir_status s = lir_runtime_embed(srv_runtime(q->srv), &er, &res, err, sizeof err);
    uint64_t dt = lir__now_ns() - t0;
    srv_leave(q->srv);
    if (s) {
        srv_error(r, API, srv_http_status(s), NULL, NULL, "%s", err);
        goto out;
    }
    json_t *all = json_array();
    for (int32_t i = 0; i < res.n; i++) {
        json_t *e = json_array();
        for (int32_t k = 0; k < res.dimensions; k++)
            json_array_append_new(e, json_real(res.embeddings[(size_t)i * res.dimensions + k]));
        json_array_append_new(all, e);
    }
    r->status = 200;
    if (legacy) {
        r->json = json_pack("{so}", "embedding", json_incref(json_array_get(all, 0)));
        json_decref(all);
    } else {
        r->json = json_pack("{ss so sI sI si}", "model", name, "embeddings", all, "total_duration",
                            (json_int_t)(dt + lns), "load_duration", (json_int_t)lns, "prompt_eval_count",
                            res.total_tokens);
    }
out:
    lir_embed_result_clear(&res);
    free(texts);
    json_decref(o);
    return r->status;
}

/* ---------------------------------------------------------------- models */

static json_t *details(const struct lir_installed_model *m) {
    char ps[32];
    double p = (double)m->parameters;
    if (p >= 1e9) snprintf(ps, sizeof ps, "%.1fB", p / 1e9);
    else if (p >= 1e6) snprintf(ps, sizeof ps, "%.1fM", p / 1e6);
    else snprintf(ps, sizeof ps, "%.0fK", p / 1e3);
    return json_pack("{ss ss ss s[s] ss ss}", "parent_model", "", "format", "gguf", "family", m->arch, "families",
                     m->arch, "parameter_size", ps, "quantization_level", "");
}

static json_t *modified_at(const char *path) {
    struct stat sb;
    int64_t ms = stat(path, &sb) == 0 ? (int64_t)sb.st_mtime * 1000 : 0;
    return time_rfc3339(ms);
}

static int tags(struct srv_req *q, struct srv_resp *r) {
    struct lir_installed_model *v = NULL;
    int32_t n = 0;
    enum lir_status s = lir_runtime_list_installed(srv_runtime(q->srv), &v, &n);
    if (s) return srv_error(r, API, 500, NULL, NULL, "cannot list the models: %s", lir_status_str(s));
    json_t *a = json_array();
    for (int32_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{ss ss so sI ss so}", "name", v[i].name, "model", v[i].name, "modified_at",
                                           modified_at(v[i].path), "size", (json_int_t)v[i].size_bytes, "digest",
                                           v[i].id, "details", details(&v[i])));
    lir_runtime_free(v);
    r->status = 200;
    r->json = json_pack("{so}", "models", a);
    return 200;
}

static int ps(struct srv_req *q, struct srv_resp *r) {
    struct lir_loaded_model *v = NULL;
    int32_t n = 0;
    enum lir_status s = lir_runtime_list_loaded(srv_runtime(q->srv), &v, &n);
    if (s) return srv_error(r, API, 500, NULL, NULL, "cannot list the loaded models: %s", lir_status_str(s));
    json_t *a = json_array();
    for (int32_t i = 0; i < n; i++) {
        int64_t ka = v[i].options.keep_alive_ms;
        int64_t last = v[i].last_used_at_ms > v[i].loaded_at_ms ? v[i].last_used_at_ms : v[i].loaded_at_ms;
        /* never: far in the future, as Ollama reports it */
        int64_t exp = ka < 0 ? INT64_C(253402300799000) : last + ka;
        json_array_append_new(a, json_pack("{ss ss sI ss so so sI ss si}", "name", v[i].model.name, "model",
                                           v[i].model.name, "size", (json_int_t)v[i].resources.ram_bytes, "digest",
                                           v[i].model.id, "details", details(&v[i].model), "expires_at",
                                           time_rfc3339(exp), "size_vram", (json_int_t)v[i].resources.vram_bytes,
                                           "id", v[i].id, "context_length", v[i].resources.context_size));
    }
    lir_runtime_free(v);
    r->status = 200;
    r->json = json_pack("{so}", "models", a);
    return 200;
}

static int show(struct srv_req *q, struct srv_resp *r) {
    json_t *o = srv_body_object(q, r);
    if (!o) return r->status;
    bool bad = false;
    const char *model = NULL;
    char arg[256];
    if (!srv_get_str(o, "model", &model, r, API, &bad) && !bad) srv_get_str(o, "name", &model, r, API, &bad);
    if (bad || srv_resolve_model(q->srv, model, arg, NULL, r, API)) {
        json_decref(o);
        return r->status;
    }
    json_decref(o);
    struct lir_installed_model *v = NULL;
    int32_t n = 0;
    lir_runtime_list_installed(srv_runtime(q->srv), &v, &n);
    struct lir_installed_model m;
    bool found = false;
    for (int32_t i = 0; i < n && !found; i++)
        if (!strcmp(v[i].name, arg)) m = v[i], found = true;
    lir_runtime_free(v);
    if (!found) { /* a loaded id */
        struct lir_loaded_model lm;
        if (lir_runtime_get_loaded(srv_runtime(q->srv), arg, &lm))
            return srv_error(r, API, 404, NULL, NULL, "model '%.200s' not found", model);
        m = lm.model;
    }
    json_t *info = json_pack("{ss sI}", "general.architecture", m.arch, "general.parameter_count", (json_int_t)m.parameters);
    char key[96];
    snprintf(key, sizeof key, "%s.context_length", m.arch);
    json_object_set_new(info, key, json_integer(m.context_length));
    snprintf(key, sizeof key, "%s.block_count", m.arch);
    json_object_set_new(info, key, json_integer(m.block_count));
    if (m.display_name[0]) json_object_set_new(info, "general.name", json_string(m.display_name));
    r->status = 200;
    r->json = json_pack("{ss ss ss so so so s[ss]}", "modelfile", "", "parameters", "", "template", "", "details",
                        details(&m), "model_info", info, "modified_at", modified_at(m.path), "capabilities",
                        "completion", "embedding");
    return 200;
}

int lir__ollama_handle(struct srv_req *q, struct srv_resp *r) {
    bool post = !strcmp(q->method, "POST"), get = !strcmp(q->method, "GET") || !strcmp(q->method, "HEAD");
    const char *p = q->path;
    if (!strcmp(p, "/api/generate")) return post ? generation(q, r, false) : 0;
    if (!strcmp(p, "/api/chat")) return post ? generation(q, r, true) : 0;
    if (!strcmp(p, "/api/embed")) return post ? embed(q, r, false) : 0;
    if (!strcmp(p, "/api/embeddings")) return post ? embed(q, r, true) : 0;
    if (!strcmp(p, "/api/tags")) return get ? tags(q, r) : 0;
    if (!strcmp(p, "/api/ps")) return get ? ps(q, r) : 0;
    if (!strcmp(p, "/api/show")) return post ? show(q, r) : 0;
    if (!strcmp(p, "/api/version")) {
        if (!get) return 0;
        char v[32];
        snprintf(v, sizeof v, "%d.%d.%d", LIR_VERSION_MAJOR, LIR_VERSION_MINOR, LIR_VERSION_PATCH);
        r->status = 200;
        r->json = json_pack("{ss}", "version", v);
        return 200;
    }
    if (!strcmp(p, "/api/pull") || !strcmp(p, "/api/push") || !strcmp(p, "/api/create") || !strcmp(p, "/api/copy") ||
        !strcmp(p, "/api/delete") || !strncmp(p, "/api/blobs/", 11))
        return srv_error(r, API, 501, NULL, NULL,
                         "%s is not supported: lir serves the GGUF files of its models directory", p);
    return 0;
}
