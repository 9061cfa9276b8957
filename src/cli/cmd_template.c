/* cmd_template.c — `lir template`: render a chat template over messages and print the prompt.
 *   lir template -m MODEL --messages FILE.json [--add-generation-prompt] [--template NAME|FILE]
 *                [--tools FILE.json] [--vars FILE.json] [--bos TEXT] [--eos TEXT]
 * The template is the model's tokenizer.chat_template (lir_model_chat_template; read from the
 * GGUF keys when lir cannot load the file as a model) unless --template names a built-in
 * (lir_chat_builtin) or a file. bos_token/eos_token come from the model's vocabulary unless
 * --bos/--eos are given. --messages accepts a JSON array of messages, or an object with
 * "messages" (and optionally "tools", "add_generation_prompt", "bos_token", "eos_token" and
 * other variables), the shape transformers' apply_chat_template tests use.
 * The prompt goes to stdout exactly (no newline added); errors to stderr, exit 1 (2: usage). */
#include "lir.h"
#include "cli/cli.h"
#include "chat/chat.h"
#include "gguf/gguf.h"
#include "util/util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lir_cli_template(int argc, char **argv);

static int fail(int code, const char *fmt, const char *a, const char *b) {
    fputs("lir template: ", stderr);
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    return code;
}

/* Token text by id from the GGUF vocabulary ("" when absent). */
static char *vocab_token(const lir_gguf *g, const char *id_key) {
    uint32_t id;
    lir_err e;
    enum lir_gguf_vtype et;
    uint64_t n;
    if (!lir_gguf_get_u32(g, id_key, &id, &e)) return NULL;
    if (!lir_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, &e) || id >= n) return NULL;
    lir_gguf_str s = lir_gguf_arr_str(g, "tokenizer.ggml.tokens", id);
    char *r = malloc(s.len + 1);
    if (!r) return NULL;
    memcpy(r, s.ptr, s.len);
    r[s.len] = 0;
    return r;
}

/* The text of a special token (NULL when there is none). */
static char *token_piece(const lir_model *m, lir_token t) {
    char buf[256];
    size_t len = 0;
    if (t < 0 || lir_token_to_piece(m, t, true, buf, sizeof buf, &len) != LIR_OK) return NULL;
    return strndup(buf, len);
}

int lir_cli_template(int argc, char **argv) {
    const char *model = NULL, *messages = NULL, *tmpl_arg = NULL, *tools = NULL, *vars = NULL, *bos = NULL, *eos = NULL;
    bool agp = false, agp_given = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **dst = !strcmp(a, "-m") || !strcmp(a, "--model") ? &model
                         : !strcmp(a, "--messages")                  ? &messages
                         : !strcmp(a, "--template")                  ? &tmpl_arg
                         : !strcmp(a, "--tools")                     ? &tools
                         : !strcmp(a, "--vars")                      ? &vars
                         : !strcmp(a, "--bos")                       ? &bos
                         : !strcmp(a, "--eos")                       ? &eos
                                                                     : NULL;
        if (dst) {
            if (!v) return fail(2, "%s needs a value%s", a, "");
            *dst = v;
            i++;
        } else if (!strcmp(a, "--add-generation-prompt")) {
            agp = agp_given = true;
        } else {
            return fail(2, "unknown argument '%s'%s", a, "");
        }
    }
    if (!messages) return fail(2, "--messages FILE.json is required%s%s", "", "");
    if (!model && !tmpl_arg) return fail(2, "give -m MODEL or --template NAME|FILE%s%s", "", "");

    /* everything below is owned here and freed at `done` */
    char *tmpl = NULL, *bos_m = NULL, *eos_m = NULL, *msg_text = NULL, *tools_text = NULL, *vars_text = NULL;
    char *msgs_dump = NULL, *tools_dump = NULL, *extra_dump = NULL, *bos_j = NULL, *eos_j = NULL, *out = NULL;
    json_t *root = NULL;
    int rc = 1;
    lir_model *lm = NULL;
    struct lir_model_params mp = lir_model_params_default();
    if (model && lir_model_load(model, &mp, &lm, NULL, 0) == LIR_OK) {
        /* a model lir runs: its template and BOS/EOS text through the API (the pieces, as
         * llama.cpp's chat code takes them) */
        const char *t = lir_model_chat_template(lm);
        if (!tmpl_arg && !t) {
            lir_model_free(lm);
            fail(1, "'%s' has no tokenizer.chat_template; choose one with --template NAME|FILE", model, "");
            goto done;
        }
        if (!tmpl_arg) tmpl = strdup(t);
        bos_m = token_piece(lm, lir_vocab_bos(lm));
        eos_m = token_piece(lm, lir_vocab_eos(lm));
        lir_model_free(lm);
    } else if (model) { /* a GGUF lir cannot run (vocabulary only, another architecture): its keys */
        lir_gguf *g = NULL;
        lir_err e = { { 0 } };
        if (lir_gguf_open(model, &g, &e)) { fail(1, "cannot open '%s': %s", model, e.msg); goto done; }
        lir_gguf_str s;
        if (!tmpl_arg) {
            if (!lir_gguf_get_str(g, "tokenizer.chat_template", &s, &e)) {
                lir_gguf_close(g);
                fail(1, "'%s' has no tokenizer.chat_template; choose one with --template NAME|FILE", model, "");
                goto done;
            }
            tmpl = malloc(s.len + 1);
            if (tmpl) { memcpy(tmpl, s.ptr, s.len); tmpl[s.len] = 0; }
        }
        bos_m = vocab_token(g, "tokenizer.ggml.bos_token_id");
        eos_m = vocab_token(g, "tokenizer.ggml.eos_token_id");
        lir_gguf_close(g);
    }
    if (tmpl_arg) {
        const char *b = lir_chat_builtin(tmpl_arg);
        tmpl = b ? strdup(b) : lir_cli_read_file(tmpl_arg, false, NULL);
        if (!tmpl) {
            fprintf(stderr, "lir template: '%s' is neither a built-in template nor a readable file; built-ins:", tmpl_arg);
            for (const char *const *n = lir__chat_builtin_names(); *n; n++) fprintf(stderr, " %s", *n);
            fputc('\n', stderr);
            goto done;
        }
    }
    if (!tmpl) { fail(1, "out of memory%s%s", "", ""); goto done; }
    if (!(msg_text = lir_cli_read_file(messages, false, NULL))) { fail(1, "cannot read '%s'%s", messages, ""); goto done; }
    if (tools && !(tools_text = lir_cli_read_file(tools, false, NULL))) { fail(1, "cannot read '%s'%s", tools, ""); goto done; }
    if (vars && !(vars_text = lir_cli_read_file(vars, false, NULL))) { fail(1, "cannot read '%s'%s", vars, ""); goto done; }

    /* {"messages": [...], "tools": [...], other variables...} */
    const char *msgs_json = msg_text, *tools_json = tools_text, *extra_json = vars_text;
    json_error_t je;
    if (!(root = json_loads(msg_text, JSON_DECODE_ANY, &je))) { fail(1, "%s is not valid JSON: %s", messages, je.text); goto done; }
    if (json_is_object(root)) {
        json_t *m = json_object_get(root, "messages");
        if (!json_is_array(m)) { fail(1, "%s: an object needs a \"messages\" array%s", messages, ""); goto done; }
        msgs_json = msgs_dump = json_dumps(m, JSON_ENCODE_ANY);
        json_t *t = json_object_get(root, "tools");
        if (t && !tools_json) tools_json = tools_dump = json_dumps(t, JSON_ENCODE_ANY);
        json_t *ag = json_object_get(root, "add_generation_prompt");
        if (ag && !agp_given) agp = json_is_true(ag);
        json_t *bt = json_object_get(root, "bos_token"), *et = json_object_get(root, "eos_token");
        if (json_is_string(bt)) bos_j = strdup(json_string_value(bt));
        if (json_is_string(et)) eos_j = strdup(json_string_value(et));
        json_t *extra = json_deep_copy(root);
        json_object_del(extra, "messages");
        json_object_del(extra, "tools");
        json_object_del(extra, "add_generation_prompt");
        json_object_del(extra, "bos_token");
        json_object_del(extra, "eos_token");
        if (vars_text) {
            json_t *v = json_loads(vars_text, 0, &je);
            if (!json_is_object(v)) {
                json_decref(v);
                json_decref(extra);
                fail(1, "%s must hold a JSON object%s", vars, "");
                goto done;
            }
            json_object_update(extra, v);
            json_decref(v);
        }
        extra_json = extra_dump = json_object_size(extra) ? json_dumps(extra, 0) : NULL;
        json_decref(extra);
    }

    struct lir_chat_params p = lir_chat_params_default();
    p.add_generation_prompt = agp;
    p.bos_token = bos ? bos : bos_j ? bos_j : bos_m ? bos_m : "";
    p.eos_token = eos ? eos : eos_j ? eos_j : eos_m ? eos_m : "";
    p.tools_json = tools_json;
    p.extra_json = extra_json;
    char err[LIR_ERR_MAX > 600 ? LIR_ERR_MAX : 600];
    size_t n = 0;
    if (lir_chat_apply(tmpl, msgs_json, &p, &out, &n, err, sizeof err)) { fail(1, "%s%s", err, ""); goto done; }
    fwrite(out, 1, n, stdout);
    rc = 0;
done:
    lir_chat_free(out);
    json_decref(root);
    free(tmpl); free(bos_m); free(eos_m); free(msg_text); free(tools_text); free(vars_text);
    free(msgs_dump); free(tools_dump); free(extra_dump); free(bos_j); free(eos_j);
    return rc;
}
