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
 * After each reply stderr shows the context's use: [context USED/N_CTX tokens, P%].
 * A conversation that no longer fits the context (default min(training context, 4096)) is
 * refused with a message on stderr; /truncate N or /reset go on.
 *
 * Context commands (issue 7): /truncate N keeps N tokens of KV cache — the system prompt's (or
 * BOS) and the most recent — and drops the turns between (lir_context_seq_truncate re-rotates the
 * kept keys), so the conversation continues past the context size; the text history is kept, and
 * the cache records which of its tokens were dropped (drop_lo..drop_hi) so the next turn appends
 * after them. /clear empties the conversation and the context. /save NAME writes NAME.lirsnap
 * (lir_snapshot_save: the KV cache) and NAME.chat.json (conversation, tokens, dropped range,
 * generator state) under --snapshots-dir (default $XDG_DATA_HOME/lir/snapshots); /restore NAME
 * checks both before anything changes (a corrupt or mismatched file leaves the chat as it was),
 * so a chat restored in another process continues exactly as the saved one would have.
 * Defaults as llama.cpp's: --temp 0.8, --top-k 40, --seed 0. Exit 0 at the end of input, 1 on
 * model/template errors, 2 on usage errors. */
#include "cli/cli.h"
#include "chat/chat.h"
#include "model/forward.h"
#include "sample/sample.h"

#include "context/snapshot.h"

#include <errno.h>
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
    lir_token *cache;              /* the conversation's tokens as evaluated: the KV cache holds
                                      cache[0..drop_lo) then cache[drop_hi..n_cache) */
    int32_t n_cache, cap_cache;
    int32_t drop_lo, drop_hi;      /* the part /truncate dropped (equal: none) */
    const char *snap_dir;          /* /save and /restore: NAME.lirsnap + NAME.chat.json there */
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
static char *render_msgs(const struct chat *c, const json_t *history, bool gen_prompt) {
    json_t *msgs = json_array();
    if (!msgs) lir_cli_die(1, "out of memory");
    if (c->system) json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "system", "content", c->system));
    if (history) json_array_extend(msgs, (json_t *)history);
    char *mj = json_dumps(msgs, 0);
    json_decref(msgs);
    if (!mj) lir_cli_die(1, "out of memory");
    struct lir_chat_params p = lir_chat_params_default();
    p.add_generation_prompt = gen_prompt;
    p.bos_token = c->bos_text;
    p.eos_token = c->eos_text;
    char *out = NULL, err[LIR_ERR_MAX > 600 ? LIR_ERR_MAX : 600];
    enum lir_status s = lir_chat_apply(c->tmpl, mj, &p, &out, NULL, err, sizeof err);
    free(mj);
    if (s == LIR_ENOMEM) lir_cli_die(1, "out of memory");
    if (s) fprintf(stderr, "lir: chat template: %s\n", err);
    return s ? NULL : out;
}
static char *render(const struct chat *c) { return render_msgs(c, c->history, true); }

/* The rendered text as the model sees it: tokens with BOS as the vocabulary asks (the template's
 * own BOS dropped when the vocabulary adds one). */
static lir_token *prompt_tokens(const struct chat *c, const char *prompt, int32_t *n) {
    const char *text = prompt;
    if (c->strip_bos && c->bos_text[0] && !strncmp(text, c->bos_text, strlen(c->bos_text))) text += strlen(c->bos_text);
    return lir_cli_text_tokens(c->model, text, true, true, n);
}

/* "[context 812/2048 tokens, 40%]" on stderr: what the KV cache holds now. */
static void show_usage(const struct chat *c) {
    const int32_t used = lir_context_seq_length(c->ctx, 0);
    fprintf(stderr, "[context %d/%d tokens, %d%%]\n", used, c->n_ctx, (int)(100.0 * used / c->n_ctx + 0.5));
}

static void reset(struct chat *c) {
    json_array_clear(c->history);
    c->n_cache = 0; /* the KV cache is overwritten from position 0 next turn */
    c->drop_lo = c->drop_hi = 0;
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
    int32_t n = 0;
    lir_token *toks = prompt_tokens(c, prompt, &n);
    lir_chat_free(prompt);
    int32_t keep = 0; /* longest common prefix with the cache; at least one token is evaluated */
    while (keep < c->n_cache && keep < n && c->cache[keep] == toks[keep]) keep++;
    if (keep == n) keep--;
    if (c->drop_hi > c->drop_lo && keep < c->drop_hi) {
        /* the prompt differs at or before the dropped part: evaluate it afresh from there */
        if (keep > c->drop_lo) keep = c->drop_lo;
        c->drop_lo = c->drop_hi = 0;
    }
    const int32_t gap = c->drop_hi - c->drop_lo; /* cache index i >= drop_hi is KV position i - gap */
    if (n < 1 || n - gap >= c->n_ctx) {
        fprintf(stderr,
                "lir: context full: the conversation is %d tokens and the context holds %d; "
                "the message is dropped (/truncate N to drop older turns, /reset to start over, or a larger --ctx)\n",
                n - gap, c->n_ctx);
        json_array_remove(c->history, json_array_size(c->history) - 1);
        free(toks);
        return;
    }

    lir_detok *dt = NULL;
    if (lir_detok_create(c->model, false, false, &dt)) lir_cli_die(1, "cannot print text: %s", lir_model_vocab_error(c->model));
    struct lir_cli_text txt = { .detok = dt, .out = stdout };
    struct lir_cli_gen r;
    char err[LIR_ERR_MAX];
    if (lir_cli_generate_tokens(c->model, c->ctx, toks + keep, n - keep, keep - gap, c->n_gen, &c->smp, &txt, &r, err,
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
        fprintf(stderr, "lir: context full (%d tokens): the reply is cut; /truncate N or /reset\n", c->n_ctx);
    show_usage(c);
    json_t *am = json_pack("{s:s,s:s%}", "role", "assistant", "content", txt.text ? txt.text : "", txt.len);
    if (!am) lir_cli_die(1, "out of memory");
    json_array_append_new(c->history, am);
    free(txt.text);
    free(r.tokens);
    free(r.margins);
    free(toks);
}

/* ---------------------------------------------------------------- context commands */

/* Tokens /truncate keeps at the start: the system prompt's (as rendered alone, where it matches
 * the cache), else BOS when the cache starts with it. */
static int32_t n_keep_tokens(const struct chat *c) {
    if (c->drop_hi > c->drop_lo) return c->drop_lo;
    if (!c->system) return c->n_cache > 0 && c->cache[0] == lir_vocab_bos(c->model) ? 1 : 0;
    char *sp = render_msgs(c, NULL, false);
    if (!sp) return 0;
    int32_t ns = 0;
    lir_token *st = prompt_tokens(c, sp, &ns);
    lir_chat_free(sp);
    int32_t k = 0;
    while (k < ns && k < c->n_cache && st[k] == c->cache[k]) k++;
    free(st);
    return k;
}

/* /truncate N: keep N tokens of KV cache — the system prompt's and the most recent — dropping the
 * turns between (their keys re-rotated by lir_context_seq_truncate); the conversation goes on. */
static void cmd_truncate(struct chat *c, const char *arg) {
    char *end = NULL;
    long n = strtol(arg, &end, 10);
    if (!arg[0] || *end || n < 1 || n > c->n_ctx) {
        fprintf(stderr, "lir: /truncate N: N is the tokens to keep, 1..%d (got '%s')\n", c->n_ctx, arg);
        return;
    }
    const int32_t used = lir_context_seq_length(c->ctx, 0);
    if (used <= n) {
        fprintf(stderr, "[chat] the context holds %d tokens: nothing to drop\n", used);
        show_usage(c);
        return;
    }
    const int32_t n_keep = n_keep_tokens(c), discard = used - (int32_t)n;
    if (n_keep > n) {
        fprintf(stderr, "lir: /truncate %ld: the system prompt alone is %d tokens; keep at least that many\n", n, n_keep);
        return;
    }
    if (lir_context_seq_truncate(c->ctx, 0, n_keep, discard)) {
        fprintf(stderr, "lir: /truncate: %s\n", lir_context_last_error(c->ctx));
        return;
    }
    c->drop_hi = (c->drop_hi > c->drop_lo ? c->drop_hi : n_keep) + discard;
    c->drop_lo = n_keep;
    fprintf(stderr, "[chat] dropped %d tokens after the first %d\n", discard, n_keep);
    show_usage(c);
}

static void cmd_clear(struct chat *c) {
    reset(c);
    lir_context_seq_clear(c->ctx, 0);
    fprintf(stderr, "[chat] conversation and context cleared\n");
    show_usage(c);
}

/* NAME.lirsnap (the KV cache: lir_snapshot_save) and NAME.chat.json (the conversation, the
 * cache's tokens and what /truncate dropped, the sampler's generator) under snap_dir. */
static bool snap_paths(const struct chat *c, const char *name, char **snap, char **side) {
    lir_err e;
    if (!lir__snapshot_name_ok(name, &e, "lir chat")) {
        fprintf(stderr, "lir: %s\n", e.msg);
        return false;
    }
    size_t n = strlen(c->snap_dir) + strlen(name) + 32;
    *snap = malloc(n);
    *side = malloc(n);
    if (!*snap || !*side) lir_cli_die(1, "out of memory");
    snprintf(*snap, n, "%s/%s%s", c->snap_dir, name, LIR_SNAP_EXT);
    snprintf(*side, n, "%s/%s.chat.json", c->snap_dir, name);
    return true;
}

static void cmd_save(struct chat *c, const char *name) {
    char *snap, *side;
    if (!snap_paths(c, name, &snap, &side)) return;
    lir_err e;
    if (lir__mkdirs(c->snap_dir, &e, "lir chat")) {
        fprintf(stderr, "lir: %s\n", e.msg);
        goto out;
    }
    struct lir_snapshot_params sp = lir_snapshot_params_default();
    sp.name = name;
    struct lir_snapshot_info info;
    if (lir_snapshot_save(c->ctx, 0, snap, &sp, &info)) {
        fprintf(stderr, "lir: /save: %s\n", lir_context_last_error(c->ctx));
        goto out;
    }
    json_t *toks = json_array(), *rng = json_array();
    for (int32_t i = 0; i < c->n_cache; i++) json_array_append_new(toks, json_integer(c->cache[i]));
    for (int i = 0; i < 4; i++) {
        char h[17];
        snprintf(h, sizeof h, "%016llx", (unsigned long long)c->smp.rng[i]);
        json_array_append_new(rng, json_string(h));
    }
    json_t *j = json_pack("{s:i,s:o,s:O,s:o,s:i,s:i,s:o}", "lir_chat", 1, "system",
                          c->system ? json_string(c->system) : json_null(), "history", c->history, "tokens", toks,
                          "drop_lo", c->drop_lo, "drop_hi", c->drop_hi, "rng", rng);
    size_t tl = strlen(side) + 5;
    char *tmp = malloc(tl);
    if (!j || !tmp) lir_cli_die(1, "out of memory");
    snprintf(tmp, tl, "%s.tmp", side);
    if (json_dump_file(j, tmp, JSON_COMPACT) != 0 || rename(tmp, side) != 0) {
        fprintf(stderr, "lir: /save: cannot write %s: %s\n", side, strerror(errno));
        unlink(tmp);
    } else {
        fprintf(stderr, "[chat] saved '%s': %d tokens, %llu bytes (%s)\n", name, info.n_tokens,
                (unsigned long long)info.size_bytes, snap);
    }
    free(tmp);
    json_decref(j);
out:
    free(snap);
    free(side);
}

/* Reads NAME.chat.json; every field checked. Returns the object or NULL after printing why. */
static json_t *read_side(const struct chat *c, const char *side, int32_t *n_tok, int32_t *lo, int32_t *hi) {
    json_error_t je;
    json_t *j = json_load_file(side, 0, &je);
    if (!j) {
        fprintf(stderr, "lir: /restore: %s: %s\n", side, je.text);
        return NULL;
    }
    json_t *sys = json_object_get(j, "system"), *hist = json_object_get(j, "history"), *toks = json_object_get(j, "tokens"),
           *rng = json_object_get(j, "rng");
    const char *bad = json_integer_value(json_object_get(j, "lir_chat")) != 1 ? "lir_chat (version 1)"
                      : !(json_is_null(sys) || json_is_string(sys))          ? "system"
                      : !json_is_array(hist)                                 ? "history"
                      : !json_is_array(toks)                                 ? "tokens"
                      : !json_is_array(rng) || json_array_size(rng) != 4     ? "rng"
                                                                             : NULL;
    size_t i;
    json_t *v;
    json_array_foreach(hist, i, v) {
        const char *role = json_string_value(json_object_get(v, "role"));
        if (!bad && (!role || !json_is_string(json_object_get(v, "content")))) bad = "history (role, content)";
    }
    *n_tok = bad ? 0 : (int32_t)json_array_size(toks);
    const int32_t nv = lir_vocab_n_tokens(c->model);
    json_array_foreach(toks, i, v) {
        if (!bad && (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= nv)) bad = "tokens (ids)";
    }
    json_array_foreach(rng, i, v) {
        const char *h = json_string_value(v);
        if (!bad && (!h || strlen(h) != 16 || strspn(h, "0123456789abcdef") != 16)) bad = "rng";
    }
    *lo = (int32_t)json_integer_value(json_object_get(j, "drop_lo"));
    *hi = (int32_t)json_integer_value(json_object_get(j, "drop_hi"));
    if (!bad && !(0 <= *lo && *lo <= *hi && *hi <= *n_tok)) bad = "drop_lo/drop_hi";
    if (bad) {
        fprintf(stderr, "lir: /restore: %s: bad field %s\n", side, bad);
        json_decref(j);
        return NULL;
    }
    return j;
}

static void cmd_restore(struct chat *c, const char *name) {
    char *snap, *side;
    if (!snap_paths(c, name, &snap, &side)) return;
    int32_t n_tok = 0, lo = 0, hi = 0;
    json_t *j = read_side(c, side, &n_tok, &lo, &hi);
    struct lir_snapshot_info info;
    char err[LIR_ERR_MAX];
    if (!j) goto out;
    if (lir_snapshot_read_info(snap, false, &info, err, sizeof err)) {
        fprintf(stderr, "lir: /restore: %s\n", err);
        goto out;
    }
    if (info.n_tokens != n_tok - (hi - lo)) {
        fprintf(stderr, "lir: /restore: %s holds %d tokens, %s describes %d: they do not belong together\n", snap,
                info.n_tokens, side, n_tok - (hi - lo));
        goto out;
    }
    json_t *toks = json_object_get(j, "tokens");
    /* everything the chat needs is read: restore the KV cache (checked in full, unchanged on error) */
    if (lir_snapshot_restore(c->ctx, 0, snap, NULL, &info)) {
        fprintf(stderr, "lir: /restore: %s\n", lir_context_last_error(c->ctx));
        goto out;
    }
    int32_t nk = 0;
    const lir_token *kv = lir_context_seq_tokens(c->ctx, 0, &nk);
    bool same = nk == n_tok - (hi - lo);
    for (int32_t i = 0; same && i < nk; i++)
        same = kv[i] == (lir_token)json_integer_value(json_array_get(toks, (size_t)(i < lo ? i : i + (hi - lo))));
    if (!same) { /* a snapshot and a conversation of other tokens: start over rather than mix them */
        reset(c);
        lir_context_seq_clear(c->ctx, 0);
        fprintf(stderr, "lir: /restore: %s and %s hold other tokens; the conversation is cleared\n", snap, side);
        goto out;
    }
    if (n_tok > c->cap_cache) {
        lir_token *nc = realloc(c->cache, sizeof *nc * (size_t)n_tok);
        if (!nc) lir_cli_die(1, "out of memory");
        c->cache = nc;
        c->cap_cache = n_tok;
    }
    for (int32_t i = 0; i < n_tok; i++) c->cache[i] = (lir_token)json_integer_value(json_array_get(toks, (size_t)i));
    c->n_cache = n_tok;
    c->drop_lo = lo;
    c->drop_hi = hi;
    for (int i = 0; i < 4; i++) c->smp.rng[i] = strtoull(json_string_value(json_array_get(json_object_get(j, "rng"), (size_t)i)), NULL, 16);
    free(c->system);
    const char *sys = json_string_value(json_object_get(j, "system"));
    c->system = sys ? strdup(sys) : NULL;
    json_array_clear(c->history);
    json_array_extend(c->history, json_object_get(j, "history"));
    fprintf(stderr, "[chat] restored '%s': %zu messages\n", name, json_array_size(c->history));
    show_usage(c);
out:
    json_decref(j);
    free(snap);
    free(side);
}

static const char chat_commands[] =
    "commands: /truncate N (keep N tokens of context: the system prompt's and the latest), /save NAME, /restore NAME\n"
    "  (snapshots of the context and the conversation in the snapshots directory), /clear (empty the conversation\n"
    "  and the context), /reset (same, the system prompt stays), /system TEXT, /help, /exit";

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
    const char *model = NULL, *tmpl_arg = NULL, *system = NULL, *snap_dir = NULL;
    int32_t n_threads = 0, n_ctx = 0, n_gen = -1;
    uint64_t seed = 0;
    struct chat c = { .smp = { .temp = 0.8f, .top_k = 40 } };
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **dst = !strcmp(a, "-m") || !strcmp(a, "--model") ? &model
                         : !strcmp(a, "--template")                  ? &tmpl_arg
                         : !strcmp(a, "--system")                    ? &system
                         : !strcmp(a, "--snapshots-dir")             ? &snap_dir
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
            printf("usage: lir chat -m MODEL [--system TEXT] [--template NAME|FILE] [-n N] [--temp T] [--top-k K]\n"
                   "                [--seed S] [--threads N] [--ctx N] [--snapshots-dir DIR] [--verbose]\n"
                   "one message per line of stdin (end a line with \\ to continue it); after each reply the context's\n"
                   "use goes to stderr, e.g. [context 812/2048 tokens, 40%%].\n%s\n"
                   "--snapshots-dir: where /save and /restore keep NAME.lirsnap and NAME.chat.json (default\n"
                   "$XDG_DATA_HOME/lir/snapshots, ~/.local/share/lir/snapshots)\n", chat_commands);
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
    char snap_buf[4096];
    if (!snap_dir) lir__snapshot_dir_default(snap_buf, sizeof snap_buf), snap_dir = snap_buf;
    c.snap_dir = snap_dir;

    const bool tty = isatty(STDIN_FILENO);
    if (tty)
        fprintf(stderr, "lir chat: %s, context %d tokens; end a line with \\ to continue it. /help for commands.\n",
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
        } else if (!strcmp(msg, "/help")) {
            fprintf(stderr, "%s\n", chat_commands);
        } else if (!strcmp(msg, "/clear")) {
            cmd_clear(&c);
        } else if (!strncmp(msg, "/truncate", 9) && (!msg[9] || msg[9] == ' ')) {
            cmd_truncate(&c, msg[9] ? msg + 10 : "");
        } else if (!strncmp(msg, "/save ", 6)) {
            cmd_save(&c, msg + 6);
        } else if (!strncmp(msg, "/restore ", 9)) {
            cmd_restore(&c, msg + 9);
        } else if (!strcmp(msg, "/save") || !strcmp(msg, "/restore")) {
            fprintf(stderr, "lir: %s NAME: a name is needed\n", msg);
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
