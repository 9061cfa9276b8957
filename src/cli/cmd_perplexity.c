/* cmd_perplexity.c — `lir perplexity`: the perplexity of a model on a text file, computed the
 * way llama.cpp's llama-perplexity does, so the two numbers can be compared.
 *
 *   lir perplexity -m MODEL -f TEXT [--ctx N] [--batch N] [--threads N] [--chunks N] [--json]
 *
 * The whole file is tokenized (BOS first if the vocabulary asks for it; control tokens written
 * in the text are plain text) and cut into chunks of n_ctx tokens (default 512; the incomplete
 * tail is dropped; --chunks caps the count). Each chunk is evaluated from an empty context, its
 * first token replaced by BOS when the vocabulary adds BOS, and only its second half is scored:
 * the logits at positions n_ctx/2 .. n_ctx-2 against the next token (llama-perplexity's
 * `first = n_ctx/2`: every scored token sees at least half a context of history).
 * Progress goes to stderr as the running estimate after each chunk, "[1]5.1234,[2]5.0871,...";
 * then stdout gets "Final estimate: PPL = X +/- E", E being llama-perplexity's error estimate
 * (the standard error of the mean NLL, times PPL), or with --json one object:
 *   {"ppl":..,"ppl_err":..,"n_chunks":..,"n_ctx":..,"n_tokens":..,"n_tokens_scored":..,"nll_mean":..}
 * Unlike llama-perplexity (which asks for 2*n_ctx tokens) one full chunk is enough.
 * Exit 0 ok, 1 file/model error, 2 usage (bad option, text too short, context too large). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lir.h"
#include "cli/cli.h"

int lir_cli_perplexity(int argc, char **argv);

#define USAGE "usage: lir perplexity -m MODEL -f TEXT [--ctx N] [--batch N] [--threads N] [--chunks N] [--json]\n"

static int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("lir: perplexity: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

/* a usage error: the message, then the usage line; exit code 2 */
#define usage_fail(...) (fail(2, __VA_ARGS__), fputs(USAGE, stderr), 2)

/* an integer option value in [lo, hi]; false (and a message) otherwise */
static bool int_arg(const char *flag, const char *v, long lo, long hi, int32_t *out) {
    char *end;
    errno = 0;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || errno || *end || end == v || x < lo || x > hi) {
        fail(2, "%s needs an integer in [%ld, %ld]%s%s%s", flag, lo, hi, v ? " (got '" : "", v ? v : "", v ? "')" : "");
        fputs(USAGE, stderr);
        return false;
    }
    *out = (int32_t)x;
    return true;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* the file's tokens, BOS first when the vocabulary asks for it; NULL after a message */
static lir_token *tokenize_file(lir_model *m, const char *text, size_t len, int32_t *n) {
    int32_t cap = len + 16 > (size_t)INT32_MAX / 2 ? INT32_MAX / 2 : (int32_t)(len + 16);
    lir_token *t = malloc((size_t)cap * sizeof *t);
    enum lir_status s = t ? lir_tokenize(m, text, len, true, false, t, cap, n) : LIR_ENOMEM;
    if (s == LIR_ERANGE) {
        free(t);
        cap = *n;
        t = malloc((size_t)cap * sizeof *t);
        s = t ? lir_tokenize(m, text, len, true, false, t, cap, n) : LIR_ENOMEM;
    }
    if (s) {
        fail(1, "cannot tokenize: %s%s%s", lir_status_str(s), lir_model_vocab_error(m)[0] ? ": " : "",
             lir_model_vocab_error(m));
        free(t);
        return NULL;
    }
    return t;
}

int lir_cli_perplexity(int argc, char **argv) {
    const char *model_path = NULL, *text_path = NULL;
    int32_t n_ctx = 512, n_batch = 0, n_threads = 0, max_chunks = 0;
    bool json = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) { if (!v) return usage_fail("%s needs a value", a); model_path = v; i++; }
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) { if (!v) return usage_fail("%s needs a value", a); text_path = v; i++; }
        else if (!strcmp(a, "--ctx") || !strcmp(a, "-c")) { if (!int_arg(a, v, 4, 1 << 24, &n_ctx)) return 2; i++; }
        else if (!strcmp(a, "--batch") || !strcmp(a, "-b")) { if (!int_arg(a, v, 1, 65536, &n_batch)) return 2; i++; }
        else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) { if (!int_arg(a, v, 1, 1024, &n_threads)) return 2; i++; }
        else if (!strcmp(a, "--chunks")) { if (!int_arg(a, v, 1, INT32_MAX, &max_chunks)) return 2; i++; }
        else if (!strcmp(a, "--json")) json = true;
        else return usage_fail("unexpected argument '%s'", a);
    }
    if (!model_path) return usage_fail("no model given (-m MODEL)");
    if (!text_path) return usage_fail("no text given (-f TEXT)");

    size_t len = 0;
    char *text = lir_cli_read_file(text_path, false, &len);
    if (!text) return fail(1, "cannot read '%s': %s", text_path, strerror(errno));
    char err[512] = "";
    lir_model *m = NULL;
    struct lir_model_params mp = lir_model_params_default();
    if (lir_model_load(model_path, &mp, &m, err, sizeof err)) {
        free(text);
        return fail(1, "cannot load '%s': %s", model_path, err);
    }
    int rc = 1;
    lir_token *tok = NULL, *chunk = NULL;
    double *nll = NULL;
    lir_context *c = NULL;
    struct lir_model_info mi;
    lir_model_get_info(m, &mi);
    if (!lir_vocab_n_tokens(m)) { fail(1, "'%s' has no usable vocabulary: %s", model_path, lir_model_vocab_error(m)); goto out; }
    if (n_ctx > mi.n_ctx_train) {
        rc = fail(2, "--ctx %d exceeds the model's training context %d", n_ctx, mi.n_ctx_train);
        goto out;
    }
    int32_t n_tok = 0;
    double t0 = now_s();
    if (!(tok = tokenize_file(m, text, len, &n_tok))) goto out;
    const double t_tok = now_s() - t0;
    int32_t n_chunks = n_tok / n_ctx;
    if (n_chunks < 1) {
        rc = fail(2, "'%s' gives %d tokens, fewer than one chunk of --ctx %d", text_path, n_tok, n_ctx);
        goto out;
    }
    if (max_chunks && max_chunks < n_chunks) n_chunks = max_chunks;
    const int32_t first = n_ctx / 2, n_scored = n_ctx - 1 - first;
    struct lir_context_params cp = lir_context_params_default();
    cp.n_ctx = n_ctx;
    cp.n_batch = n_batch ? n_batch : (n_ctx < 512 ? n_ctx : 512);
    cp.n_threads = n_threads;
    if (lir_context_create(m, &cp, &c, err, sizeof err)) { fail(1, "%s", err); goto out; }
    chunk = malloc(sizeof *chunk * (size_t)n_ctx);
    nll = malloc(sizeof *nll * (size_t)n_scored);
    if (!chunk || !nll) { fail(1, "out of memory"); goto out; }
    const bool add_bos = lir_vocab_add_bos(m);
    const lir_token bos = lir_vocab_bos(m);
    fprintf(stderr, "perplexity: %d tokens (tokenized in %.2f s), %d chunks of %d, scoring %d tokens each, batch %d%s\n",
            n_tok, t_tok, n_chunks, n_ctx, n_scored, cp.n_batch, add_bos && bos >= 0 ? ", BOS first" : "");

    double sum = 0.0, sum2 = 0.0; /* of the NLLs, and of their squares (for the error) */
    int64_t count = 0;
    t0 = now_s();
    for (int32_t k = 0; k < n_chunks; k++) {
        memcpy(chunk, tok + (size_t)k * n_ctx, sizeof *chunk * (size_t)n_ctx);
        if (add_bos && bos >= 0) chunk[0] = bos; /* each chunk reads as a document start */
        if (lir_context_score(c, chunk, n_ctx, first, nll)) { fail(1, "%s", lir_context_last_error(c)); goto out; }
        for (int32_t j = 0; j < n_scored; j++) {
            sum += nll[j];
            sum2 += nll[j] * nll[j];
        }
        count += n_scored;
        if (k == 0) {
            const double dt = now_s() - t0;
            fprintf(stderr, "perplexity: %.2f s per chunk, about %.1f min for all\n", dt, dt * n_chunks / 60.0);
        }
        fprintf(stderr, "[%d]%.4f,", k + 1, exp(sum / (double)count));
        fflush(stderr);
    }
    fputc('\n', stderr);
    /* llama-perplexity's estimate: PPL = exp(mean), error = PPL * stddev(NLL) / sqrt(count - 1)
     * (first-order propagation of the mean's standard error through exp) */
    const double mean = sum / (double)count, ppl = exp(mean);
    const double var = sum2 / (double)count - mean * mean;
    const double ppl_err = var > 0 && count > 1 ? ppl * sqrt(var / (double)(count - 1)) : NAN;
    if (json) {
        char ebuf[32];
        if (isfinite(ppl_err)) snprintf(ebuf, sizeof ebuf, "%.9g", ppl_err);
        else snprintf(ebuf, sizeof ebuf, "null");
        printf("{\"ppl\":%.9g,\"ppl_err\":%s,\"n_chunks\":%d,\"n_ctx\":%d,\"n_tokens\":%d,\"n_tokens_scored\":%lld,"
               "\"nll_mean\":%.12g}\n",
               ppl, ebuf, n_chunks, n_ctx, n_tok, (long long)count, mean);
    } else if (isfinite(ppl_err)) {
        printf("Final estimate: PPL = %.4f +/- %.5f\n", ppl, ppl_err);
    } else {
        printf("Final estimate: PPL = %.4f (no error estimate: the NLL does not vary)\n", ppl);
    }
    rc = 0;
out:
    lir_context_free(c);
    free(nll);
    free(chunk);
    free(tok);
    free(text);
    lir_model_free(m);
    return rc;
}
