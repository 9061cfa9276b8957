/* cmd_generate.c — `lir generate`, and the sampling loop that `run` and `chat` share.
 *
 *   lir generate -m MODEL (--tokens 1,2,3 | -p TEXT) [-n N] [sampling] [--stop TEXT]... [--n-probs N]
 *                [--grammar-file F | --json | --json-schema-file F] [--threads N] [--ctx N] [--batch N]
 *                [--output text|json]
 *     sampling: --temp T (0 = greedy, the default) --top-k K --top-p P --min-p P --typical-p P
 *               --repeat-penalty R --repeat-last-n N --frequency-penalty F --presence-penalty F
 *               --mirostat 0|1|2 --mirostat-tau T --mirostat-eta E --seed S: the library's sampler
 *               chain (include/lir.h, lir_sampling_params) with every step off unless given, as
 *               before (top_p 1, repeat_penalty 1); ranges as the spec's, except --temp (up to
 *               100). Prompt tokens count for the penalties, as llama.cpp's.
 *     -l, --logit-bias ID(+|-)B  add B to token ID's logit before the chain (-inf bans it), as
 *               llama.cpp's flag; repeatable; range as lir_sampling_params' (|B| <= 100).
 *     --stop TEXT  end generation when the text contains TEXT (repeatable, up to 16); the stop
 *               text is not printed. Needs a vocabulary (the text is checked, not the tokens).
 *     --n-probs N  with --output json: "logprobs", per generated token its log-probability and
 *               the N most likely tokens (log-softmax of the model's logits, before sampling and
 *               before any grammar).
 *     --grammar-file F  constrain the text to the GBNF grammar in F (llama.cpp's format, root
 *               rule "root"); --json: to a JSON object (with -p; with --tokens, --json is the
 *               stable machine interface: the same as --output json); --json-schema-file F: to the JSON Schema
 *               in F (include/lir.h, lir_json_schema_to_gbnf, lists what is supported). At each
 *               step the token sampled from the raw logits is checked first (fast path); only
 *               when the grammar rejects it is the vocabulary filtered and the token sampled
 *               again. End-of-generation is allowed only where the grammar can end, and
 *               generation stops ("stop") once the grammar is complete and nothing may follow.
 *               A grammar or schema the library refuses: its message (line/column, the
 *               unsupported keywords) and exit 1. Needs a vocabulary.
 *     --tokens  continue these token ids, exactly as given (no BOS added)
 *     -p TEXT   tokenize TEXT as llama.cpp's llama-cli does for a prompt: BOS/EOS as the
 *               vocabulary asks, control tokens written in the text (<|eot_id|>) parsed
 *     With --output text (the default) the generated text is streamed to stdout (whole UTF-8
 *     characters, flushed as they complete; control tokens not shown), then a newline. With
 *     --output json one object:
 *     {"tokens":[…],"margins":[…],"n_prompt":N,"n_gen":N,"metrics":{"ttft_ms":…,"prompt_tok_s":…,
 *      "gen_tok_s":…},"finish_reason":"stop"|"length"} — a stable interface — plus "text" (the
 *     generated text) with -p, --stop or a grammar, "logprobs" with --n-probs, and with a grammar
 *     metrics.grammar_ms (time spent in it: fast-path check, filter, second draw, accept) and
 *     metrics.grammar_filtered (steps whose first draw it rejected, so the vocabulary was filtered).
 *     Generation stops after N tokens (default 64) or when the context is full ("length"), at an
 *     end-of-generation token or a stop string ("stop"). The context is prompt + N tokens unless
 *     --ctx gives it.
 * Exit 0 ok, 1 model/tokenizer/evaluation error, 2 usage. */
#include "cli/cli.h"
#include "sample/sample.h"
#include "util/util.h"
#include "model/forward.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- shared helpers */

_Noreturn void lir_cli_die(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fflush(stdout);
    fputs("lir: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(code);
}

char *lir_cli_read_file(const char *path, bool allow_stdin, size_t *len) {
    FILE *f = allow_stdin && !strcmp(path, "-") ? stdin : fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    errno = 0;
    while (b) {
        if (n + 1 == cap) { /* room for the NUL */
            char *p = realloc(b, cap * 2);
            if (!p) { free(b); b = NULL; errno = ENOMEM; break; }
            b = p;
            cap *= 2;
        }
        const size_t r = fread(b + n, 1, cap - 1 - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f)) { free(b); b = NULL; errno = errno ? errno : EIO; } /* e.g. EISDIR */
            break;
        }
    }
    if (f != stdin) fclose(f);
    if (b) b[n] = 0;
    if (b && len) *len = n;
    return b;
}

long lir_cli_arg_long(const char *flag, const char *v, long lo, long hi) {
    if (!v) lir_cli_die(2, "%s needs a value", flag);
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || end == v) lir_cli_die(2, "%s: '%s' is not an integer", flag, v);
    if (x < lo || x > hi) lir_cli_die(2, "%s: %ld is outside [%ld, %ld]", flag, x, lo, hi);
    return x;
}

float lir_cli_arg_float(const char *flag, const char *v, float lo, float hi) {
    if (!v) lir_cli_die(2, "%s needs a value", flag);
    char *end;
    errno = 0;
    float x = strtof(v, &end);
    if (errno || *end || end == v || isnan(x)) lir_cli_die(2, "%s: '%s' is not a number", flag, v);
    if (x < lo || x > hi) lir_cli_die(2, "%s: %g is outside [%g, %g]", flag, x, lo, hi);
    return x;
}

lir_model *lir_cli_load_model(const char *path) {
    if (!path) lir_cli_die(2, "no model given (-m MODEL)");
    char err[LIR_ERR_MAX];
    lir_model *m = NULL;
    struct lir_model_params mp = lir_model_params_default();
    if (lir_model_load(path, &mp, &m, err, sizeof err)) lir_cli_die(1, "cannot load '%s': %s", path, err);
    return m;
}

lir_token *lir_cli_text_tokens(const lir_model *m, const char *text, bool add_special, bool parse_special, int32_t *n) {
    size_t len = strlen(text);
    int32_t need = 0;
    enum lir_status s = lir_tokenize(m, text, len, add_special, parse_special, NULL, 0, &need);
    if (s != LIR_OK && s != LIR_ERANGE)
        lir_cli_die(1, "cannot tokenize: %s", s == LIR_ENOMEM ? "out of memory" : lir_model_vocab_error(m));
    lir_token *t = malloc(sizeof *t * (size_t)(need > 0 ? need : 1));
    if (!t) lir_cli_die(1, "out of memory");
    if (lir_tokenize(m, text, len, add_special, parse_special, t, need, n) != LIR_OK) lir_cli_die(1, "cannot tokenize");
    return t;
}

/* ---------------------------------------------------------------- the sampling loop */

/* What a generation needs besides model and context: the sampler (borrowed), a stop matcher
 * (borrowed, may be NULL: it sees the detokenized text, so txt must have a detokenizer), and
 * room for log-probabilities when n_probs > 0. */
struct gen_opts {
    lir_sampler *sampler;
    lir_stop_matcher *stop;
    lir_grammar_state *grammar;    /* may be NULL; with gvocab and masked */
    const lir_grammar_vocab *gvocab;
    float *masked;                 /* (n_vocab) scratch for the filtered logits */
    bool grammar_done;             /* out: the grammar is complete, nothing may follow */
    double grammar_ms;             /* out: time in the grammar (check, filter, resample, accept) */
    int32_t grammar_filtered;      /* out: steps whose first draw the grammar rejected (slow path) */
    int32_t n_probs;
    float *logprob;                /* (n_gen) log-probability of each sampled token, or NULL */
    struct lir_token_logprob *top; /* (n_gen * n_probs) the n_probs most likely, or NULL */
    bool stopped;                  /* out: a stop string matched */
};

/* The seed of the library's sampler, drawn from the CLI's generator (seeded by --seed): run,
 * chat and generate draw it the same way, so the same --seed gives the same tokens in each,
 * and chat turns (one generator for the session) differ from each other. */
static int32_t n_vocab_of(const lir_model *m) {
    struct lir_model_info mi;
    lir_model_get_info(m, &mi);
    return mi.n_vocab;
}

static uint64_t draw_seed(uint64_t rng[4]) {
    uint64_t s = (uint64_t)(lir_rng_uniform(rng) * 0x1p53);
    return s == LIR_SEED_RANDOM ? 0 : s;
}

static bool text_add(struct lir_cli_text *t, const char *s, size_t n) {
    if (!n) return true;
    if (t->out) {
        fwrite(s, 1, n, t->out);
        fflush(t->out);
    }
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + n + 1) cap *= 2;
        char *p = realloc(t->text, cap);
        if (!p) return false;
        t->text = p;
        t->cap = cap;
    }
    memcpy(t->text + t->len, s, n);
    t->len += n;
    t->text[t->len] = 0;
    return true;
}

/* Text of one token through the stop matcher (if any) to txt. Returns false on out of memory. */
static bool text_push(struct lir_cli_text *txt, struct gen_opts *o, const char *text, size_t len) {
    if (!o->stop) return text_add(txt, text, len);
    const char *e;
    size_t el;
    int32_t matched;
    if (lir_stop_matcher_push(o->stop, text, len, &e, &el, &matched) != LIR_OK) return false;
    if (matched >= 0) o->stopped = true;
    return text_add(txt, e, el);
}

/* log-softmax of logits[tok]: the raw log-probability of a token drawn from filtered logits. */
static float raw_logprob(const float *lg, int32_t n, lir_token tok) {
    float mx = -INFINITY;
    for (int32_t k = 0; k < n; k++) mx = lg[k] > mx ? lg[k] : mx;
    double sum = 0;
    for (int32_t k = 0; k < n; k++) sum += exp((double)(lg[k] - mx));
    return (float)((double)(lg[tok] - mx) - log(sum));
}

/* The grammar's fast path: tok (sampled from the raw logits lg) stands if the grammar allows
 * it; else the logits are filtered and the token is drawn again. */
static enum lir_status grammar_sample(struct gen_opts *o, const float *lg, int32_t n_vocab, int32_t i,
                                      lir_token *tok, char *err, size_t err_len) {
    if (lir_grammar_token_allowed(o->grammar, o->gvocab, *tok)) return LIR_OK;
    o->grammar_filtered++;
    memcpy(o->masked, lg, sizeof *o->masked * (size_t)n_vocab);
    for (int32_t k = lir_grammar_vocab_n_tokens(o->gvocab); k < n_vocab; k++) o->masked[k] = -INFINITY;
    enum lir_status s = lir_grammar_filter_logits(o->grammar, o->gvocab, o->masked);
    if (s && s != LIR_ERANGE) { /* ERANGE: too ambiguous somewhere; those tokens are out */
        snprintf(err, err_len, "grammar: %s", lir_status_str(s));
        return s;
    }
    if ((s = lir_sampler_sample(o->sampler, o->masked, n_vocab, tok, NULL, NULL, NULL))) {
        snprintf(err, err_len, "grammar: no token may follow the text so far (%s)", lir_sampler_last_error(o->sampler));
        return s;
    }
    if (o->logprob) o->logprob[i] = raw_logprob(lg, n_vocab, *tok);
    return LIR_OK;
}

static enum lir_status generate(lir_model *m, lir_context *ctx, const lir_token *prompt, int32_t n_prompt,
                                int32_t pos, int32_t n_gen, struct gen_opts *o, struct lir_cli_text *txt,
                                struct lir_cli_gen *r, char *err, size_t err_len) {
    struct lir_model_info mi;
    lir_model_get_info(m, &mi);
    memset(r, 0, sizeof *r);
    r->tokens = malloc(sizeof(lir_token) * (size_t)(n_gen + 1));
    r->margins = malloc(sizeof(float) * (size_t)(n_gen + 1));
    if (!r->tokens || !r->margins) {
        snprintf(err, err_len, "out of memory");
        return LIR_ENOMEM;
    }
    const int32_t n_ctx = lir__context_n_ctx(ctx);
    const bool text = txt && txt->detok;
    enum lir_status s;
    uint64_t t0 = lir__now_ns();
    if ((s = lir_context_decode(ctx, prompt, n_prompt, pos, false))) {
        snprintf(err, err_len, "%s", lir_context_last_error(ctx));
        return s;
    }
    uint64_t t1 = lir__now_ns();
    r->prompt_ms = (double)(t1 - t0) / 1e6;
    pos += n_prompt;
    for (int32_t i = 0; i < n_gen; i++) {
        const float *lg = lir_context_logits(ctx, -1);
        lir_token tok;
        if ((s = lir_sampler_sample(o->sampler, lg, mi.n_vocab, &tok, o->logprob ? &o->logprob[i] : NULL,
                                    o->top ? o->top + (size_t)i * (size_t)o->n_probs : NULL, NULL))) {
            snprintf(err, err_len, "%s", lir_sampler_last_error(o->sampler));
            return s;
        }
        if (o->grammar) {
            const uint64_t tg = lir__now_ns();
            if ((s = grammar_sample(o, lg, mi.n_vocab, i, &tok, err, err_len))) return s;
            if ((s = lir_grammar_accept_token(o->grammar, o->gvocab, tok))) {
                snprintf(err, err_len, "grammar: %s", lir_grammar_state_last_error(o->grammar));
                return s;
            }
            o->grammar_ms += (double)(lir__now_ns() - tg) / 1e6;
        }
        lir_sampler_accept(o->sampler, tok);
        r->margins[i] = lir_sample_margin(lg, mi.n_vocab);
        r->tokens[r->n_gen++] = tok;
        if (i == 0) r->ttft_ms = (double)(lir__now_ns() - t0) / 1e6;
        if (text) {
            const char *piece;
            size_t len;
            if (lir_detok_push(txt->detok, tok, &piece, &len) == LIR_OK && !text_push(txt, o, piece, len)) {
                snprintf(err, err_len, "out of memory");
                return LIR_ENOMEM;
            }
            if (o->stopped) break; /* a stop string: "stop" */
        }
        if (lir_vocab_is_eog(m, tok)) { /* end of generation, as llama.cpp */
            r->eog = true;
            break;
        }
        if (o->grammar && lir_grammar_is_done(o->grammar)) { /* nothing more may follow: "stop" */
            o->grammar_done = true;
            break;
        }
        if (i + 1 == n_gen) break;
        if (pos >= n_ctx) { /* no room to evaluate this token: stop ("length") */
            r->ctx_full = true;
            break;
        }
        if ((s = lir_context_decode(ctx, &tok, 1, pos++, false))) {
            snprintf(err, err_len, "%s", lir_context_last_error(ctx));
            return s;
        }
        r->n_decode++;
    }
    r->gen_ms = (double)(lir__now_ns() - t1) / 1e6 - (r->ttft_ms - r->prompt_ms);
    if (text && !o->stopped) { /* what the detokenizer and then the stop matcher hold back */
        const char *rest;
        size_t len;
        bool ok = lir_detok_flush(txt->detok, &rest, &len) != LIR_OK || text_push(txt, o, rest, len);
        if (ok && o->stop && !o->stopped && lir_stop_matcher_flush(o->stop, &rest, &len) == LIR_OK)
            ok = text_add(txt, rest, len);
        if (!ok) {
            snprintf(err, err_len, "out of memory");
            return LIR_ENOMEM;
        }
    }
    return LIR_OK;
}

enum lir_status lir_cli_generate_tokens(lir_model *m, lir_context *ctx, const lir_token *prompt, int32_t n_prompt,
                                        int32_t pos, int32_t n_gen, struct lir_cli_sampler *smp,
                                        struct lir_cli_text *txt, struct lir_cli_gen *r, char *err, size_t err_len) {
    /* run and chat: temperature and top-k, every other step of the chain off */
    struct lir_sampling_params sp = lir_sampling_params_default();
    sp.temperature = smp->temp;
    sp.top_k = smp->top_k;
    sp.top_p = 1.0f;
    sp.repeat_penalty = 1.0f;
    sp.seed = draw_seed(smp->rng);
    struct gen_opts o = { 0 };
    enum lir_status s = lir_sampler_create(&sp, n_vocab_of(m), &o.sampler, err, err_len);
    if (s) {
        memset(r, 0, sizeof *r);
        return s;
    }
    s = generate(m, ctx, prompt, n_prompt, pos, n_gen, &o, txt, r, err, err_len);
    lir_sampler_free(o.sampler);
    return s;
}

/* ---------------------------------------------------------------- lir generate */

#define LIR_CLI_BIAS_MAX 64

/* "ID+B", "ID-B" or "ID-inf" (llama.cpp's --logit-bias): the bias range is the library's
 * (checked with the other parameters); the token id is checked against the vocabulary when the
 * sampler is made. */
static struct lir_logit_bias parse_bias(const char *flag, const char *v) {
    char *end;
    errno = 0;
    long id = strtol(v, &end, 10);
    if (end == v || errno || id < 0 || id > INT32_MAX || (*end != '+' && *end != '-'))
        lir_cli_die(2, "%s: '%s' is not TOKEN_ID(+|-)BIAS (e.g. 2+5, 13-inf)", flag, v);
    struct lir_logit_bias b = { .token = (lir_token)id };
    if (!strcmp(end, "-inf")) b.bias = -INFINITY;
    else {
        const char *num = end;
        errno = 0;
        double x = strtod(num, &end);
        if (end == num || *end || errno || !isfinite(x))
            lir_cli_die(2, "%s: bad bias in '%s' (a number, or -inf)", flag, v);
        b.bias = (float)x;
    }
    return b;
}

static lir_token *parse_ids(const char *s, int32_t *n_out) {
    if (!s || !*s) lir_cli_die(2, "--tokens needs a comma-separated list of token ids");
    int32_t cap = 16, n = 0;
    lir_token *t = malloc(sizeof *t * (size_t)cap);
    for (const char *p = s; t && *p;) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX) lir_cli_die(2, "--tokens: bad token id at '%.20s'", p);
        if (n == cap) {
            lir_token *nt = realloc(t, sizeof *t * (size_t)(cap *= 2));
            if (!nt) free(t);
            t = nt;
            if (!t) break;
        }
        t[n++] = (lir_token)v;
        p = end;
        if (*p == ',') p++;
        else if (*p) lir_cli_die(2, "--tokens: expected ',' at '%.20s'", p);
    }
    if (!t) lir_cli_die(1, "out of memory");
    *n_out = n;
    return t;
}

/* The grammar of --grammar-file F, --json-schema-file F, or --json (both NULL), or dies: exit 1
 * with the library's message (GBNF line and column; the unsupported schema keywords). */
static lir_grammar *load_grammar(const char *grammar_file, const char *schema_file) {
    const char *path = grammar_file ? grammar_file : schema_file;
    char err[LIR_ERR_MAX] = "";
    lir_grammar *g = NULL;
    enum lir_status s;
    if (!path) {
        if ((s = lir_grammar_json(true, &g))) lir_cli_die(1, "--json: %s", lir_status_str(s));
        return g;
    }
    char *body = lir_cli_read_file(path, false, NULL);
    if (!body) lir_cli_die(1, "cannot read '%s': %s", path, strerror(errno));
    s = grammar_file ? lir_grammar_parse(body, NULL, &g, err, sizeof err)
                     : lir_grammar_from_json_schema(body, &g, err, sizeof err);
    free(body);
    if (s) lir_cli_die(1, "%s '%s': %s", grammar_file ? "grammar" : "JSON schema", path, err[0] ? err : lir_status_str(s));
    return g;
}

int lir_cli_generate(int argc, char **argv) {
    const char *model = NULL, *ids = NULL, *prompt = NULL;
    int32_t n_gen = 64, n_threads = 0, n_ctx = 0, n_batch = 0;
    /* the library's chain, every step off unless a flag turns it on (greedy by default) */
    struct lir_sampling_params sp = lir_sampling_params_default();
    sp.temperature = 0.0f;
    sp.top_p = 1.0f;
    sp.repeat_penalty = 1.0f;
    const char *stops[LIR_STOP_MAX];
    uint64_t seed = 0;
    bool json = false; /* --output json */
    const char *grammar_file = NULL, *schema_file = NULL;
    int n_constraints = 0;
    bool json_flag = false;
    struct lir_logit_bias biases[LIR_CLI_BIAS_MAX];
    int32_t n_bias = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) { if (!v) lir_cli_die(2, "%s needs a value", a); model = v; i++; }
        else if (!strcmp(a, "--tokens")) { if (!v) lir_cli_die(2, "--tokens needs a value"); ids = v; i++; }
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) { if (!v) lir_cli_die(2, "%s needs a value", a); prompt = v; i++; }
        else if (!strcmp(a, "-n")) { n_gen = (int32_t)lir_cli_arg_long(a, v, 0, 1 << 24); i++; }
        else if (!strcmp(a, "--temp")) { sp.temperature = lir_cli_arg_float(a, v, 0.0f, 100.0f); i++; }
        else if (!strcmp(a, "--top-k")) { sp.top_k = (int32_t)lir_cli_arg_long(a, v, 0, INT32_MAX); i++; }
        else if (!strcmp(a, "--top-p")) { sp.top_p = lir_cli_arg_float(a, v, 0.0f, 1.0f); i++; }
        else if (!strcmp(a, "--min-p")) { sp.min_p = lir_cli_arg_float(a, v, 0.0f, 1.0f); i++; }
        else if (!strcmp(a, "--typical-p")) { sp.typical_p = lir_cli_arg_float(a, v, 0.0f, 1.0f); i++; }
        else if (!strcmp(a, "--repeat-penalty")) { sp.repeat_penalty = lir_cli_arg_float(a, v, 0.0f, 2.0f); i++; }
        else if (!strcmp(a, "--repeat-last-n")) { sp.repeat_last_n = (int32_t)lir_cli_arg_long(a, v, -1, LIR_REPEAT_LAST_N_MAX); i++; }
        else if (!strcmp(a, "--frequency-penalty")) { sp.frequency_penalty = lir_cli_arg_float(a, v, 0.0f, 2.0f); i++; }
        else if (!strcmp(a, "--presence-penalty")) { sp.presence_penalty = lir_cli_arg_float(a, v, 0.0f, 2.0f); i++; }
        else if (!strcmp(a, "--mirostat")) { sp.mirostat = (int32_t)lir_cli_arg_long(a, v, 0, 2); i++; }
        else if (!strcmp(a, "--mirostat-tau")) { sp.mirostat_tau = lir_cli_arg_float(a, v, 0.0f, 20.0f); i++; }
        else if (!strcmp(a, "--mirostat-eta")) { sp.mirostat_eta = lir_cli_arg_float(a, v, 0.0f, 1.0f); i++; }
        else if (!strcmp(a, "--n-probs")) { sp.n_probs = (int32_t)lir_cli_arg_long(a, v, 0, LIR_N_PROBS_MAX); i++; }
        else if (!strcmp(a, "--stop")) {
            if (!v) lir_cli_die(2, "--stop needs a value");
            if (sp.n_stop == LIR_STOP_MAX) lir_cli_die(2, "--stop: at most %d stop strings", LIR_STOP_MAX);
            stops[sp.n_stop++] = v;
            i++;
        }
        else if (!strcmp(a, "-l") || !strcmp(a, "--logit-bias")) {
            if (!v) lir_cli_die(2, "%s needs TOKEN_ID(+|-)BIAS, e.g. 2+5 or 13-inf", a);
            if (n_bias == LIR_CLI_BIAS_MAX) lir_cli_die(2, "%s: at most %d entries", a, LIR_CLI_BIAS_MAX);
            biases[n_bias++] = parse_bias(a, v);
            i++;
        }
        else if (!strcmp(a, "--seed")) { seed = (uint64_t)lir_cli_arg_long(a, v, 0, 0x7fffffffffffffffL); i++; }
        else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) { n_threads = (int32_t)lir_cli_arg_long(a, v, 1, 1024); i++; }
        else if (!strcmp(a, "--ctx") || !strcmp(a, "-c")) { n_ctx = (int32_t)lir_cli_arg_long(a, v, 1, 1 << 24); i++; }
        else if (!strcmp(a, "--batch") || !strcmp(a, "-b")) { n_batch = (int32_t)lir_cli_arg_long(a, v, 1, 65536); i++; }
        else if (!strcmp(a, "--output")) {
            if (!v || (strcmp(v, "text") && strcmp(v, "json"))) lir_cli_die(2, "--output: give text or json");
            json = !strcmp(v, "json");
            i++;
        }
        else if (!strcmp(a, "--grammar-file")) { if (!v) lir_cli_die(2, "%s needs a value", a); grammar_file = v; n_constraints++; i++; }
        else if (!strcmp(a, "--json-schema-file")) { if (!v) lir_cli_die(2, "%s needs a value", a); schema_file = v; n_constraints++; i++; }
        else if (!strcmp(a, "--json")) json_flag = true; /* resolved below: it depends on the input */
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            puts("usage: lir generate -m MODEL (--tokens 1,2,3 | -p TEXT) [options]\n"
                 "  -m, --model MODEL        GGUF model\n"
                 "  --tokens 1,2,3           continue these token ids (no BOS added)\n"
                 "  -p, --prompt TEXT        tokenize TEXT as llama-cli does (BOS, control tokens parsed)\n"
                 "  -n N                     tokens to generate (default 64)\n"
                 "sampling (every step off unless given; greedy by default):\n"
                 "  --temp T                 temperature, 0 = greedy (0..100)\n"
                 "  --top-k K  --top-p P  --min-p P  --typical-p P\n"
                 "  --repeat-penalty R (0..2)  --repeat-last-n N (-1 = all, 0 = off)\n"
                 "  --frequency-penalty F  --presence-penalty F (0..2)\n"
                 "  --mirostat 0|1|2  --mirostat-tau T (0..20)  --mirostat-eta E (0..1)\n"
                 "  --seed S                 seed of the sampler (default 0)\n"
                 "  --stop TEXT              stop when the text contains TEXT (not printed; repeatable, up to 16)\n"
                 "  -l, --logit-bias ID(+|-)B add B to token ID's logit, -inf bans it (repeatable; llama.cpp's flag)\n"
                 "  --n-probs N              with --output json: each token's log-probability and the N most likely\n"
                 "constrained output (one of):\n"
                 "  --grammar-file F         GBNF grammar (llama.cpp's format, root rule \"root\")\n"
                 "  --json                   with -p: a JSON object (with --tokens: the same as --output json)\n"
                 "  --json-schema-file F     JSON conforming to the JSON Schema in F\n"
                 "evaluation and output:\n"
                 "  -t, --threads N  -c, --ctx N  -b, --batch N\n"
                 "  --output text|json       text: stream the generated text (default); json: one object with\n"
                 "                           tokens, margins, n_prompt, n_gen, metrics, finish_reason, text, logprobs");
            exit(0);
        }
        else lir_cli_die(2, "generate: unexpected argument '%s'", a);
    }
    if (!ids == !prompt) lir_cli_die(2, "generate: give either --tokens IDS or -p TEXT");
    /* --json: with --tokens (the machine interface of issue 2, kept stable) it prints one JSON
     * object, as --output json; with a text prompt it constrains the output to a JSON object. */
    if (json_flag) {
        if (ids) json = true;
        else n_constraints++; /* a JSON object: load_grammar(NULL, NULL) */
    }
    if (n_constraints > 1) lir_cli_die(2, "generate: give one of --grammar-file, --json, --json-schema-file");
    sp.stop = stops;
    sp.logit_bias = biases;
    sp.n_logit_bias = n_bias;
    {   /* the library names the parameter, its value and its range (temperature: see --temp) */
        char msg[LIR_ERR_MAX];
        const float temp = sp.temperature;
        sp.temperature = 0.0f;
        if (lir_sampling_params_validate(&sp, msg, sizeof msg)) lir_cli_die(2, "generate: %s", msg);
        sp.temperature = temp;
    }
    lir_token *toks = NULL;
    int32_t n = 0;
    if (ids) toks = parse_ids(ids, &n); /* usage errors before the model is loaded */
    lir_grammar *gr = n_constraints ? load_grammar(grammar_file, schema_file) : NULL; /* and grammar errors */
    lir_model *m = lir_cli_load_model(model);
    if (prompt) {
        if (!lir_vocab_n_tokens(m)) lir_cli_die(1, "'%s' has no usable vocabulary: %s", model, lir_model_vocab_error(m));
        toks = lir_cli_text_tokens(m, prompt, true, true, &n);
        if (n < 1) lir_cli_die(1, "the prompt gives no tokens");
        lir_token bos = lir_vocab_bos(m);
        if (n > 1 && bos >= 0 && toks[0] == bos && toks[1] == bos) /* what llama.cpp warns about too */
            fprintf(stderr, "lir: warning: the prompt starts with BOS and the vocabulary adds one: 2 BOS tokens\n");
    }

    /* context: prompt + n_gen, never above the training context unless --ctx says so */
    struct lir_model_info mi;
    lir_model_get_info(m, &mi);
    int64_t need = (int64_t)n + n_gen;
    if (n_ctx && need > n_ctx) lir_cli_die(2, "%lld tokens do not fit in --ctx %d", (long long)need, n_ctx);
    if (!n_ctx && need > mi.n_ctx_train)
        lir_cli_die(2, "%lld tokens exceed the model's context %d (use --ctx)", (long long)need, mi.n_ctx_train);
    struct lir_context_params cp = lir_context_params_default();
    cp.n_ctx = n_ctx ? n_ctx : (int32_t)need;
    cp.n_threads = n_threads;
    if (n_batch) cp.n_batch = n_batch;
    char err[LIR_ERR_MAX];
    lir_context *c = NULL;
    if (lir_context_create(m, &cp, &c, err, sizeof err)) lir_cli_die(1, "%s", err);

    struct lir_cli_text txt = { .out = json ? NULL : stdout };
    const bool text = prompt || !json || sp.n_stop > 0 || gr;
    if (text && lir_detok_create(m, false, false, &txt.detok) != LIR_OK)
        lir_cli_die(1, "cannot %s: %s", sp.n_stop ? "match --stop" : "print text", lir_model_vocab_error(m));
    uint64_t rng[4];
    lir_rng_seed(rng, seed);
    sp.seed = draw_seed(rng); /* as run and chat draw it (lir_cli_generate_tokens) */
    struct gen_opts o = { .n_probs = json ? sp.n_probs : 0 };
    if (lir_sampler_create(&sp, mi.n_vocab, &o.sampler, err, sizeof err)) lir_cli_die(2, "generate: %s", err);
    if (sp.n_stop && lir_stop_matcher_create(stops, sp.n_stop, &o.stop) != LIR_OK) lir_cli_die(1, "out of memory");
    lir_grammar_vocab *gv = NULL;
    if (gr) {
        enum lir_status gs = lir_grammar_vocab_create(m, &gv);
        if (gs) lir_cli_die(1, "grammar: cannot build the token table: %s", lir_status_str(gs));
        if ((gs = lir_grammar_state_create(gr, &o.grammar)))
            lir_cli_die(1, "grammar: cannot start the matcher: %s", lir_status_str(gs));
        o.gvocab = gv;
        if (!(o.masked = malloc(sizeof *o.masked * (size_t)mi.n_vocab))) lir_cli_die(1, "out of memory");
    }
    if (o.n_probs) {
        o.logprob = malloc(sizeof *o.logprob * (size_t)(n_gen + 1));
        o.top = malloc(sizeof *o.top * (size_t)(n_gen + 1) * (size_t)o.n_probs);
        if (!o.logprob || !o.top) lir_cli_die(1, "out of memory");
    }
    for (int32_t i = 0; i < n; i++) /* prompt tokens count for the penalties, as llama.cpp's */
        if (lir_sampler_accept(o.sampler, toks[i])) lir_cli_die(1, "%s", lir_sampler_last_error(o.sampler));
    struct lir_cli_gen r;
    if (generate(m, c, toks, n, 0, n_gen, &o, &txt, &r, err, sizeof err)) lir_cli_die(1, "%s", err);
    const enum lir_finish_reason fin = o.stopped || r.eog || o.grammar_done ? LIR_FINISH_STOP : LIR_FINISH_LENGTH;
    if (o.grammar && !o.stopped && !lir_grammar_can_end(o.grammar)) /* cut short: the text is not complete */
        fprintf(stderr, "lir: warning: generation ended (%s) before the grammar was complete\n", lir_finish_reason_str(fin));
    if (json) {
        printf("{\"tokens\":[");
        for (int32_t i = 0; i < r.n_gen; i++) printf("%s%d", i ? "," : "", r.tokens[i]);
        printf("],\"margins\":[");
        for (int32_t i = 0; i < r.n_gen; i++) printf("%s%.5g", i ? "," : "", r.margins[i]);
        printf("],\"n_prompt\":%d,\"n_gen\":%d,\"metrics\":{\"ttft_ms\":%.3f,\"prompt_tok_s\":%.3f,\"gen_tok_s\":%.3f",
               n, r.n_gen, r.ttft_ms, r.prompt_ms > 0 ? n / (r.prompt_ms / 1e3) : 0.0,
               r.gen_ms > 0 ? r.n_decode / (r.gen_ms / 1e3) : 0.0);
        if (gr) printf(",\"grammar_ms\":%.3f,\"grammar_filtered\":%d", o.grammar_ms, o.grammar_filtered);
        printf("}");
        printf(",\"finish_reason\":\"%s\"", lir_finish_reason_str(fin));
        if (o.n_probs) { /* as OpenAI's logprobs.content: per token its logprob and top_logprobs */
            printf(",\"logprobs\":[");
            for (int32_t i = 0; i < r.n_gen; i++) {
                printf("%s{\"token\":%d,\"logprob\":%.6g,\"top\":[", i ? "," : "", r.tokens[i], o.logprob[i]);
                const struct lir_token_logprob *t = o.top + (size_t)i * (size_t)o.n_probs;
                const int32_t k = o.n_probs < mi.n_vocab ? o.n_probs : mi.n_vocab;
                for (int32_t j = 0; j < k; j++)
                    printf("%s{\"token\":%d,\"logprob\":%.6g}", j ? "," : "", t[j].token, t[j].logprob);
                printf("]}");
            }
            printf("]");
        }
        if (prompt || sp.n_stop || gr) {
            json_t *js = json_stringn(txt.text ? txt.text : "", txt.len);
            char *d = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
            if (!d) lir_cli_die(1, "out of memory");
            printf(",\"text\":%s", d);
            free(d);
            json_decref(js);
        }
        printf("}\n");
    } else {
        printf("\n");
    }
    free(txt.text);
    lir_detok_free(txt.detok);
    lir_sampler_free(o.sampler);
    lir_stop_matcher_free(o.stop);
    lir_grammar_state_free(o.grammar);
    lir_grammar_vocab_free(gv);
    lir_grammar_free(gr);
    free(o.masked);
    free(o.logprob);
    free(o.top);
    free(r.tokens);
    free(r.margins);
    lir_context_free(c);
    lir_model_free(m);
    free(toks);
    return 0;
}
