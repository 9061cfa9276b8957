/* cmd_generate.c — `lir generate`, and the sampling loop that `run` and `chat` share.
 *
 *   lir generate -m MODEL (--tokens 1,2,3 | -p TEXT) [-n N] [--temp T] [--top-k K] [--seed S]
 *                [--threads N] [--ctx N] [--batch N] [--json]
 *     --tokens  continue these token ids, exactly as given (no BOS added)
 *     -p TEXT   tokenize TEXT as llama.cpp's llama-cli does for a prompt: BOS/EOS as the
 *               vocabulary asks, control tokens written in the text (<|eot_id|>) parsed
 *     Without --json the generated text is streamed to stdout (whole UTF-8 characters, flushed
 *     as they complete; control tokens not shown), then a newline. With --json one object:
 *     {"tokens":[…],"margins":[…],"n_prompt":N,"n_gen":N,"metrics":{"ttft_ms":…,"prompt_tok_s":…,
 *      "gen_tok_s":…}} — a stable interface — plus "text" (the generated text) with -p.
 *     Generation stops after N tokens (default 64), at an end-of-generation token, or when the
 *     context is full. The context is prompt + N tokens unless --ctx gives it.
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

static lir_token sample(const float *logits, int32_t n_vocab, struct lir_cli_sampler *s) {
    if (!(s->temp > 0.0f) || s->top_k <= 0 || s->top_k >= n_vocab) return lir_sample_temp(logits, n_vocab, s->temp, s->rng);
    /* top-k: temperature sampling among the k largest logits (lir_top_k sorts them) */
    enum { K_MAX = 1000 };
    int32_t ids[K_MAX];
    float lg[K_MAX];
    double lp[K_MAX];
    int32_t k = lir_top_k(logits, n_vocab, s->top_k < K_MAX ? s->top_k : K_MAX, ids, lg, lp);
    return ids[lir_sample_temp(lg, k, s->temp, s->rng)];
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

enum lir_status lir_cli_generate_tokens(lir_model *m, lir_context *ctx, const lir_token *prompt, int32_t n_prompt,
                                        int32_t pos, int32_t n_gen, struct lir_cli_sampler *smp,
                                        struct lir_cli_text *txt, struct lir_cli_gen *r, char *err, size_t err_len) {
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
        lir_token tok = sample(lg, mi.n_vocab, smp);
        r->margins[i] = lir_sample_margin(lg, mi.n_vocab);
        r->tokens[r->n_gen++] = tok;
        if (i == 0) r->ttft_ms = (double)(lir__now_ns() - t0) / 1e6;
        if (txt && txt->detok) {
            const char *text;
            size_t len;
            if (lir_detok_push(txt->detok, tok, &text, &len) == LIR_OK && !text_add(txt, text, len)) {
                snprintf(err, err_len, "out of memory");
                return LIR_ENOMEM;
            }
        }
        if (lir_vocab_is_eog(m, tok)) { /* end of generation, as llama.cpp */
            r->eog = true;
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
    if (txt && txt->detok) {
        const char *text;
        size_t len;
        if (lir_detok_flush(txt->detok, &text, &len) == LIR_OK && !text_add(txt, text, len)) {
            snprintf(err, err_len, "out of memory");
            return LIR_ENOMEM;
        }
    }
    return LIR_OK;
}

/* ---------------------------------------------------------------- lir generate */

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

int lir_cli_generate(int argc, char **argv) {
    const char *model = NULL, *ids = NULL, *prompt = NULL;
    int32_t n_gen = 64, n_threads = 0, n_ctx = 0, n_batch = 0;
    struct lir_cli_sampler smp = { .temp = 0.0f, .top_k = 0 };
    uint64_t seed = 0;
    bool json = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) { if (!v) lir_cli_die(2, "%s needs a value", a); model = v; i++; }
        else if (!strcmp(a, "--tokens")) { if (!v) lir_cli_die(2, "--tokens needs a value"); ids = v; i++; }
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) { if (!v) lir_cli_die(2, "%s needs a value", a); prompt = v; i++; }
        else if (!strcmp(a, "-n")) { n_gen = (int32_t)lir_cli_arg_long(a, v, 0, 1 << 24); i++; }
        else if (!strcmp(a, "--temp")) { smp.temp = lir_cli_arg_float(a, v, 0.0f, 100.0f); i++; }
        else if (!strcmp(a, "--top-k")) { smp.top_k = (int32_t)lir_cli_arg_long(a, v, 0, 1000); i++; }
        else if (!strcmp(a, "--seed")) { seed = (uint64_t)lir_cli_arg_long(a, v, 0, 0x7fffffffffffffffL); i++; }
        else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) { n_threads = (int32_t)lir_cli_arg_long(a, v, 1, 1024); i++; }
        else if (!strcmp(a, "--ctx") || !strcmp(a, "-c")) { n_ctx = (int32_t)lir_cli_arg_long(a, v, 1, 1 << 24); i++; }
        else if (!strcmp(a, "--batch") || !strcmp(a, "-b")) { n_batch = (int32_t)lir_cli_arg_long(a, v, 1, 65536); i++; }
        else if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            puts("usage: lir generate -m MODEL (--tokens 1,2,3 | -p TEXT) [-n N] [--temp T] [--top-k K] [--seed S]\n"
                 "                    [--threads N] [--ctx N] [--batch N] [--json]");
            exit(0);
        }
        else lir_cli_die(2, "generate: unexpected argument '%s'", a);
    }
    if (!ids == !prompt) lir_cli_die(2, "generate: give either --tokens IDS or -p TEXT");
    lir_token *toks = NULL;
    int32_t n = 0;
    if (ids) toks = parse_ids(ids, &n); /* usage errors before the model is loaded */
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
    if ((prompt || !json) && lir_detok_create(m, false, false, &txt.detok) != LIR_OK)
        lir_cli_die(1, "cannot print text: %s", lir_model_vocab_error(m));
    lir_rng_seed(smp.rng, seed);
    struct lir_cli_gen r;
    if (lir_cli_generate_tokens(m, c, toks, n, 0, n_gen, &smp, &txt, &r, err, sizeof err)) lir_cli_die(1, "%s", err);
    if (json) {
        printf("{\"tokens\":[");
        for (int32_t i = 0; i < r.n_gen; i++) printf("%s%d", i ? "," : "", r.tokens[i]);
        printf("],\"margins\":[");
        for (int32_t i = 0; i < r.n_gen; i++) printf("%s%.5g", i ? "," : "", r.margins[i]);
        printf("],\"n_prompt\":%d,\"n_gen\":%d,\"metrics\":{\"ttft_ms\":%.3f,\"prompt_tok_s\":%.3f,\"gen_tok_s\":%.3f}",
               n, r.n_gen, r.ttft_ms, r.prompt_ms > 0 ? n / (r.prompt_ms / 1e3) : 0.0,
               r.gen_ms > 0 ? r.n_decode / (r.gen_ms / 1e3) : 0.0);
        if (prompt) {
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
    free(r.tokens);
    free(r.margins);
    lir_context_free(c);
    lir_model_free(m);
    free(toks);
    return 0;
}
