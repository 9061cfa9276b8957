/* chat.c — lir_chat_apply: messages (JSON) + a Jinja chat template -> prompt text.
 * Parses and renders in one arena; errors come back as a message naming the template line
 * and the construct (see jinja.h). The variables given to the template are those of
 * transformers' apply_chat_template: messages, add_generation_prompt, bos_token, eos_token,
 * tools (when given) and any extra variables the caller passes. */
#include "chat/chat.h"
#include "chat/jinja.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lir_chat_params lir_chat_params_default(void) {
    struct lir_chat_params p = { 0 };
    return p;
}

void lir_chat_free(char *s) { free(s); }

static void set_err(char *err, size_t err_len, const char *fmt, const char *a, const char *b) {
    if (err && err_len) snprintf(err, err_len, fmt, a, b);
}

/* Parses json text into a value; NULL text gives undefined. Returns false with err set. */
static bool parse_json(jarena *a, const char *what, const char *text, json_type want, jv *out, char *err, size_t err_len) {
    if (!text) { *out = jv_undef(); return true; }
    json_error_t je;
    json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!j) {
        char m[256];
        snprintf(m, sizeof m, "line %d: %s", je.line, je.text);
        set_err(err, err_len, "lir_chat_apply: %s is not valid JSON (%s)", what, m);
        return false;
    }
    if (json_typeof(j) != want) {
        json_decref(j);
        set_err(err, err_len, "lir_chat_apply: %s must be a JSON %s", what, want == JSON_ARRAY ? "array" : "object");
        return false;
    }
    *out = jv_from_json(a, j);
    json_decref(j);
    return true;
}

static enum lir_status render(jarena *ap, jerr *ep, const char *tmpl, const char *messages_json,
                              const struct lir_chat_params *pp, char **out, size_t *out_len, char *err, size_t err_len);

struct job {
    jarena *a;
    jerr *e;
    const char *tmpl, *messages_json;
    struct lir_chat_params p;
    char **out;
    size_t *out_len;
    char *err;
    size_t err_len;
};

/* The only frame with a setjmp: it reads nothing but *j (unchanged) after a longjmp. */
static enum lir_status guarded(struct job *j) {
    if (setjmp(j->e->jb)) {
        set_err(j->err, j->err_len, "lir_chat_apply: %s%s", j->e->msg, "");
        return strstr(j->e->msg, "out of memory") ? LIR_ENOMEM : LIR_EINVAL;
    }
    return render(j->a, j->e, j->tmpl, j->messages_json, &j->p, j->out, j->out_len, j->err, j->err_len);
}

enum lir_status lir_chat_apply(const char *tmpl, const char *messages_json, const struct lir_chat_params *params,
                               char **out, size_t *out_len, char *err, size_t err_len) {
    if (out) *out = NULL;
    if (out_len) *out_len = 0;
    if (!tmpl || !messages_json || !out) {
        set_err(err, err_len, "lir_chat_apply: %s%s", !tmpl ? "no template" : !out ? "no output pointer" : "no messages", "");
        return LIR_EINVAL;
    }
    struct job j = { .tmpl = tmpl, .messages_json = messages_json, .out = out, .out_len = out_len, .err = err,
                     .err_len = err_len };
    j.p = params ? *params : lir_chat_params_default();
    j.a = calloc(1, sizeof *j.a);
    j.e = calloc(1, sizeof *j.e);
    enum lir_status st;
    if (!j.a || !j.e) {
        set_err(err, err_len, "lir_chat_apply: %s%s", "out of memory", "");
        st = LIR_ENOMEM;
    } else {
        j.a->e = j.e;
        st = guarded(&j);
        ja_free(j.a);
    }
    free(j.a);
    free(j.e);
    return st;
}

static void set_default(jarena *a, jdict *d, const char *k, jv v) {
    if (!jd_get(d, k, strlen(k), NULL)) jd_push(a, d, jv_str(a, k), v);
}

static enum lir_status render(jarena *ap, jerr *ep, const char *tmpl, const char *messages_json,
                              const struct lir_chat_params *pp, char **out, size_t *out_len, char *err, size_t err_len) {
    struct lir_chat_params p = *pp;
    jv msgs, tools, extra;
    if (!parse_json(ap, "messages", messages_json, JSON_ARRAY, &msgs, err, err_len) ||
        !parse_json(ap, "tools", p.tools_json, JSON_ARRAY, &tools, err, err_len) ||
        !parse_json(ap, "extra variables", p.extra_json, JSON_OBJECT, &extra, err, err_len))
        return LIR_EINVAL;
    jtoken *toks;
    size_t ntok;
    jlex(ap, ep, tmpl, strlen(tmpl), &toks, &ntok);
    jnodes prog;
    jparse(ap, ep, toks, ntok, &prog);

    /* Extra variables override the standard ones. They go in first, unchecked (a JSON object's
     * keys are unique), so a large object costs linear time; then each standard variable the
     * caller did not set. */
    jv g = jv_dict_new(ap);
    if (extra.t == JV_DICT)
        for (size_t i = 0; i < extra.u.d->n; i++) jd_push(ap, g.u.d, extra.u.d->k[i], extra.u.d->v[i]);
    set_default(ap, g.u.d, "messages", msgs);
    set_default(ap, g.u.d, "add_generation_prompt", jv_bool(p.add_generation_prompt));
    set_default(ap, g.u.d, "bos_token", jv_str(ap, p.bos_token ? p.bos_token : ""));
    set_default(ap, g.u.d, "eos_token", jv_str(ap, p.eos_token ? p.eos_token : ""));
    if (tools.t == JV_LIST) set_default(ap, g.u.d, "tools", tools);

    jbuf o = { .a = ap };
    jrender(ap, ep, &prog, g.u.d, &o);
    char *r = malloc(o.n + 1);
    if (!r) {
        set_err(err, err_len, "lir_chat_apply: %s%s", "out of memory", "");
        return LIR_ENOMEM;
    }
    if (o.n) memcpy(r, o.p, o.n);
    r[o.n] = 0;
    *out = r;
    if (out_len) *out_len = o.n;
    return LIR_OK;
}

const char *lir_chat_builtin(const char *name) { return name ? lir__chat_builtin(name) : NULL; }
