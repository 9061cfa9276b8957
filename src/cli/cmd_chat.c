/* cmd_chat.c — `lir chat`: a conversation with a model, one user message per line of stdin.
 *
 *   lir chat -m MODEL [--system TEXT] [--template NAME|FILE] [-n N] [--temp T] [--top-k K]
 *            [--seed S] [--threads N] [--ctx N] [--verbose]
 *
 * Each turn renders the whole conversation (system prompt, user and assistant messages) with the
 * model's chat template (tokenizer.chat_template), or with --template (a built-in name from
 * lir_chat_builtin, or a file), add_generation_prompt = true. A model without a template and no
 * --template is an error (exit 1) naming the built-ins: a guessed template gives wrong prompts
 * silently. As llama.cpp's chat code does, the template's leading bos_token is dropped when the
 * vocabulary adds BOS itself; the text is then tokenized with BOS as the vocabulary asks and with
 * control tokens parsed. Only the tokens after the longest prefix already in the KV cache are
 * evaluated (the cache is overwritten from where the new prompt differs). The reply streams to
 * stdout (whole UTF-8 characters, flushed as they come, control tokens not shown) and ends at an
 * end-of-generation token, after -n tokens (default: no limit) or when the context is full; then
 * a newline, and the reply joins the conversation.
 *
 * Input: a line is one message; a line ending in '\' continues on the next; empty lines are
 * skipped. Commands: /reset (forget the conversation, keep the system prompt), /system TEXT (set
 * the system prompt, none if TEXT is empty, and reset), /exit or end of input quits. A "> "
 * marker is printed only when stdin is a terminal, so stdout holds nothing but the replies when
 * stdin is a pipe. --verbose: one line per turn on stderr ([chat] prompt P tokens, R reused, ...).
 * A conversation that no longer fits the context (default min(training context, 4096)) is
 * refused with a message on stderr; /reset starts over.
 * Defaults as llama.cpp's: --temp 0.8, --top-k 40, --seed 0. Exit 0 at the end of input, 1 on
 * model/template errors, 2 on usage errors. */
#include "cli/cli.h"
#include "chat/chat.h"
#include "model/forward.h"
#include "sample/sample.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct chat {
    lir_model *model;
    lir_context *ctx;
    int32_t n_ctx;
    const char *tmpl;              /* the template source */
    char *bos_text, *eos_text;     /* bos_token / eos_token of the template (owned) */
    bool strip_bos;                /* the vocabulary adds BOS: drop the template's own */
    char *system;                  /* system prompt (owned) or NULL */
    json_t *history;               /* user/assistant messages, in order */
    lir_token *cache;              /* the tokens in the KV cache, positions 0..n_cache-1 */
    int32_t n_cache, cap_cache;
    int32_t n_gen;                 /* token limit per reply (n_ctx: none) */
    struct lir_cli_sampler smp;
    bool verbose;
};

/* The piece of a special token as the template sees it (llama.cpp: token_to_piece, special). */
static char *token_text(const lir_model *m, lir_token t) {
    char buf[256];
    size_t len = 0;
    if (t < 0 || lir_token_to_piece(m, t, true, buf, sizeof buf, &len) != LIR_OK) len = 0;
    char *s = malloc(len + 1);
    if (!s) lir_cli_die(1, "out of memory");
    memcpy(s, buf, len);
    s[len] = 0;
    return s;
}

/* Renders the conversation; returns the prompt (caller frees with lir_chat_free) or NULL after
 * printing why. */
static char *render(const struct chat *c) {
    json_t *msgs = json_array();
    if (!msgs) lir_cli_die(1, "out of memory");
    if (c->system) json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "system", "content", c->system));
    json_array_extend(msgs, c->history);
    char *mj = json_dumps(msgs, 0);
    json_decref(msgs);
    if (!mj) lir_cli_die(1, "out of memory");
    struct lir_chat_params p = lir_chat_params_default();
    p.add_generation_prompt = true;
    p.bos_token = c->bos_text;
    p.eos_token = c->eos_text;
    char *out = NULL, err[LIR_ERR_MAX > 600 ? LIR_ERR_MAX : 600];
    enum lir_status s = lir_chat_apply(c->tmpl, mj, &p, &out, NULL, err, sizeof err);
    free(mj);
    if (s == LIR_ENOMEM) lir_cli_die(1, "out of memory");
    if (s) fprintf(stderr, "lir: chat template: %s\n", err);
    return s ? NULL : out;
}

static void reset(struct chat *c) {
    json_array_clear(c->history);
    c->n_cache = 0; /* the KV cache is overwritten from position 0 next turn */
}

/* One user message: render, evaluate what the cache lacks, stream the reply. */
static void turn(struct chat *c, const char *user) {
    json_t *um = json_pack("{s:s,s:s}", "role", "user", "content", user);
    if (!um) {
        fprintf(stderr, "lir: the message is not valid UTF-8; ignored\n");
        return;
    }
    json_array_append_new(c->history, um);
    char *prompt = render(c);
    if (!prompt) {
        json_array_remove(c->history, json_array_size(c->history) - 1);
        return;
    }
    const char *text = prompt;
    if (c->strip_bos && c->bos_text[0] && !strncmp(text, c->bos_text, strlen(c->bos_text))) text += strlen(c->bos_text);
    int32_t n = 0;
    lir_token *toks = lir_cli_text_tokens(c->model, text, true, true, &n);
    lir_chat_free(prompt);
    if (n < 1 || n >= c->n_ctx) {
        fprintf(stderr,
                "lir: context full: the conversation is %d tokens and the context holds %d; "
                "the message is dropped (/reset to start over, or a larger --ctx)\n",
                n, c->n_ctx);
        json_array_remove(c->history, json_array_size(c->history) - 1);
        free(toks);
        return;
    }
    int32_t keep = 0; /* longest common prefix with the cache; at least one token is evaluated */
    while (keep < c->n_cache && keep < n && c->cache[keep] == toks[keep]) keep++;
    if (keep == n) keep--;

    lir_detok *dt = NULL;
    if (lir_detok_create(c->model, false, false, &dt)) lir_cli_die(1, "cannot print text: %s", lir_model_vocab_error(c->model));
    struct lir_cli_text txt = { .detok = dt, .out = stdout };
    struct lir_cli_gen r;
    char err[LIR_ERR_MAX];
    if (lir_cli_generate_tokens(c->model, c->ctx, toks + keep, n - keep, keep, c->n_gen, &c->smp, &txt, &r, err,
                                sizeof err))
        lir_cli_die(1, "%s", err);
    fputc('\n', stdout);
    fflush(stdout);
    lir_detok_free(dt);

    /* the cache now holds the prompt and every reply token but the last (never evaluated) */
    int32_t n_new = n + r.n_decode;
    if (n_new > c->cap_cache) {
        lir_token *nc = realloc(c->cache, sizeof *nc * (size_t)n_new);
        if (!nc) lir_cli_die(1, "out of memory");
        c->cache = nc;
        c->cap_cache = n_new;
    }
    memcpy(c->cache, toks, sizeof *toks * (size_t)n);
    memcpy(c->cache + n, r.tokens, sizeof *toks * (size_t)r.n_decode);
    c->n_cache = n_new;
    if (c->verbose)
        fprintf(stderr, "[chat] prompt %d tokens, %d reused, %d generated (%s), %.1f ms to first token, %.1f tok/s\n", n,
                keep, r.n_gen, r.eog ? "end of generation" : r.ctx_full ? "context full" : "limit", r.ttft_ms,
                r.gen_ms > 0 ? r.n_decode / (r.gen_ms / 1e3) : 0.0);
    if (r.ctx_full)
        fprintf(stderr, "lir: context full (%d tokens): the reply is cut; /reset to start over\n", c->n_ctx);
    json_t *am = json_pack("{s:s,s:s%}", "role", "assistant", "content", txt.text ? txt.text : "", txt.len);
    if (!am) lir_cli_die(1, "out of memory");
    json_array_append_new(c->history, am);
    free(txt.text);
    free(r.tokens);
    free(r.margins);
    free(toks);
}

/* Reads one message: lines ending in '\' continue. Returns NULL at the end of input (cli.h). */
char *lir_cli_read_message(FILE *in, bool tty) {
    char *msg = NULL, *line = NULL;
    size_t len = 0, lcap = 0;
    ssize_t k;
    if (tty) {
        fputs("> ", stdout);
        fflush(stdout);
    }
    while ((k = getline(&line, &lcap, in)) >= 0) {
        while (k > 0 && (line[k - 1] == '\n' || line[k - 1] == '\r')) line[--k] = 0;
        bool more = k > 0 && line[k - 1] == '\\';
        if (more) line[--k] = 0;
        char *nm = realloc(msg, len + (size_t)k + 2);
        if (!nm) lir_cli_die(1, "out of memory");
        msg = nm;
        if (len) msg[len++] = '\n';
        memcpy(msg + len, line, (size_t)k + 1);
        len += (size_t)k;
        if (!more) break;
        if (tty) {
            fputs(". ", stdout);
            fflush(stdout);
        }
    }
    free(line);
    return msg;
}

int lir_cli_chat(int argc, char **argv) {
    const char *model = NULL, *tmpl_arg = NULL, *system = NULL;
    int32_t n_threads = 0, n_ctx = 0, n_gen = -1;
    uint64_t seed = 0;
    struct chat c = { .smp = { .temp = 0.8f, .top_k = 40 } };
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **dst = !strcmp(a, "-m") || !strcmp(a, "--model") ? &model
                         : !strcmp(a, "--template")                  ? &tmpl_arg
                         : !strcmp(a, "--system")                    ? &system
                                                                     : NULL;
        if (dst) { if (!v) lir_cli_die(2, "%s needs a value", a); *dst = v; i++; }
        else if (!strcmp(a, "-n")) { n_gen = (int32_t)lir_cli_arg_long(a, v, -1, 1 << 24); i++; }
        else if (!strcmp(a, "--temp")) { c.smp.temp = lir_cli_arg_float(a, v, 0.0f, 100.0f); i++; }
        else if (!strcmp(a, "--top-k")) { c.smp.top_k = (int32_t)lir_cli_arg_long(a, v, 0, 1000); i++; }
        else if (!strcmp(a, "--seed")) { seed = (uint64_t)lir_cli_arg_long(a, v, 0, 0x7fffffffffffffffL); i++; }
        else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) { n_threads = (int32_t)lir_cli_arg_long(a, v, 1, 1024); i++; }
        else if (!strcmp(a, "--ctx") || !strcmp(a, "-c")) { n_ctx = (int32_t)lir_cli_arg_long(a, v, 2, 1 << 24); i++; }
        else if (!strcmp(a, "--verbose")) c.verbose = true;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            puts("usage: lir chat -m MODEL [--system TEXT] [--template NAME|FILE] [-n N] [--temp T] [--top-k K]\n"
                 "                [--seed S] [--threads N] [--ctx N] [--verbose]\n"
                 "one message per line of stdin (end a line with \\ to continue it); /reset, /system TEXT, /exit");
            exit(0);
        }
        else lir_cli_die(2, "chat: unexpected argument '%s'", a);
    }
    c.model = lir_cli_load_model(model);
    if (!lir_vocab_n_tokens(c.model)) lir_cli_die(1, "'%s' has no usable vocabulary: %s", model, lir_model_vocab_error(c.model));

    char *tmpl_owned = NULL;
    if (tmpl_arg) {
        c.tmpl = lir_chat_builtin(tmpl_arg);
        if (!c.tmpl) c.tmpl = tmpl_owned = lir_cli_read_file(tmpl_arg, false, NULL);
    } else {
        c.tmpl = lir_model_chat_template(c.model);
    }
    if (!c.tmpl) {
        fprintf(stderr, tmpl_arg ? "lir: '%s' is neither a built-in chat template nor a readable file; built-ins:"
                                 : "lir: '%s' has no chat template (tokenizer.chat_template); choose one with "
                                   "--template NAME, built-ins:",
                tmpl_arg ? tmpl_arg : model);
        for (const char *const *nm = lir__chat_builtin_names(); *nm; nm++) fprintf(stderr, " %s", *nm);
        fputc('\n', stderr);
        return 1;
    }
    c.bos_text = token_text(c.model, lir_vocab_bos(c.model));
    c.eos_text = token_text(c.model, lir_vocab_eos(c.model));
    { /* does the vocabulary add BOS? (then the template's own is dropped, as llama.cpp does) */
        int32_t nb = 0;
        lir_token *t = lir_cli_text_tokens(c.model, "", true, false, &nb);
        c.strip_bos = nb > 0 && t[0] == lir_vocab_bos(c.model) && t[0] >= 0;
        free(t);
    }

    struct lir_model_info mi;
    lir_model_get_info(c.model, &mi);
    struct lir_context_params cp = lir_context_params_default();
    cp.n_ctx = n_ctx ? n_ctx : mi.n_ctx_train < 4096 ? mi.n_ctx_train : 4096;
    cp.n_threads = n_threads;
    char err[LIR_ERR_MAX];
    if (lir_context_create(c.model, &cp, &c.ctx, err, sizeof err)) lir_cli_die(1, "%s", err);
    c.n_ctx = lir__context_n_ctx(c.ctx);
    c.n_gen = n_gen < 0 || n_gen > c.n_ctx ? c.n_ctx : n_gen;
    lir_rng_seed(c.smp.rng, seed);
    if (system && *system && !(c.system = strdup(system))) lir_cli_die(1, "out of memory");
    if (!(c.history = json_array())) lir_cli_die(1, "out of memory");

    const bool tty = isatty(STDIN_FILENO);
    if (tty)
        fprintf(stderr, "lir chat: %s, context %d tokens. /reset, /system TEXT, /exit; end a line with \\ to continue it.\n",
                model, c.n_ctx);
    char *msg;
    while ((msg = lir_cli_read_message(stdin, tty))) {
        if (!strcmp(msg, "/exit") || !strcmp(msg, "/quit")) {
            free(msg);
            break;
        }
        if (!strcmp(msg, "/reset")) {
            reset(&c);
            if (tty || c.verbose) fprintf(stderr, "[chat] conversation cleared\n");
        } else if (!strcmp(msg, "/system") || !strncmp(msg, "/system ", 8)) {
            free(c.system);
            c.system = msg[7] && msg[8] ? strdup(msg + 8) : NULL;
            reset(&c);
            if (tty || c.verbose) fprintf(stderr, "[chat] system prompt %s; conversation cleared\n", c.system ? "set" : "removed");
        } else if (msg[0]) {
            turn(&c, msg);
        }
        free(msg);
    }
    if (tty) fputc('\n', stdout);
    json_decref(c.history);
    free(c.system);
    free(c.cache);
    free(c.bos_text);
    free(c.eos_text);
    free(tmpl_owned);
    lir_context_free(c.ctx);
    lir_model_free(c.model);
    return 0;
}
