/* main.c — the `lir` command line: eval; dispatch to the cmd_*.c of the other commands.
 * Machine-readable commands print JSON on stdout; errors go to stderr with exit code 1
 * (2 for usage errors). This layer parses and validates; the library computes. */
#include "lir.h"
#include "cli/cli.h"
#include "model/forward.h"
#include "model/model.h"
#include "gguf/gguf.h"
#include "sample/sample.h"
#include "util/util.h"

#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *usage_text =
    "usage: lir <command> [options]\n"
    "\n"
    "commands:\n"
    "  run MODEL [PROMPT] [-n N] [--temp T] [--seed S] [--verbose] [sampling] [--remote KIND:URL]\n"
    "                                               load and stream a completion, or chat (stdin a terminal)\n"
    "  show MODEL [--json] [--template|--license|--metadata]\n"
    "                                               architecture, parameters, quantization, template, memory\n"
    "  eval -m MODEL --tokens 1,2,3 [--top K] [--all] [--threads N] [--ctx N]\n"
    "                                               top-K next-token logits/log-probs (JSON)\n"
    "  generate -m MODEL (--tokens 1,2,3 | -p TEXT) [-n N] [--temp T] [--top-k K] [--seed S] [--output json]\n"
    "           [--grammar-file F | --json | --json-schema-file F] [--threads N] [--ctx N]\n"
    "                                               continue token ids, or stream the text after a prompt\n"
    "  chat -m MODEL [--system TEXT] [--template NAME|FILE] [-n N] [--temp T] [--seed S] [--ctx N]\n"
    "                                               interactive chat from stdin (/reset, /system TEXT, /exit)\n"
    "  bench MODEL [-p 512] [-n 128] [-t THREADS[,..]] [-r REPS] [--json]\n"
    "                                               prompt (pp) and generation (tg) speed, as llama-bench\n"
    "  ps [--json]                                  models loaded on the running server (LIR_HOST)\n"
    "  load MODEL [--ctx N] [--keep-alive D] ...    load on the server, or check and load in-process\n"
    "  unload MODEL | --all                         unload on the running server\n"
    "  template (-m MODEL | --template NAME|FILE) --messages FILE.json [--add-generation-prompt]\n"
    "                                               print the chat-template-rendered prompt\n"
    "  tokenize -m MODEL [--ids|--pieces] [--special] [--no-add-special] (TEXT | --file PATH|-)\n"
    "                                               text to token ids (JSON array by default)\n"
    "  detokenize -m MODEL [--special] [--no-strip] IDS\n"
    "                                               token ids (\"1,2,3\") to text\n"
    "  perplexity -m MODEL -f TEXT [--ctx 512] [--batch N] [--threads N] [--chunks N] [--json]\n"
    "                                               perplexity of a text file (as llama-perplexity)\n"
    "  embed -m MODEL [--pooling mean|cls|last] [--no-normalize] TEXT...   embedding vectors as JSON\n"
    "  quantize [--allow-requantize] [--pure] [--output-tensor-type T] [-t N] IN OUT TYPE\n"
    "                                               requantize a model (as llama-quantize; TYPE e.g. Q4_K_M)\n"
    "  models [--models-dir D] [--json]             installed models (GGUF files in D: $LIR_MODELS, ./models)\n"
    "  top [--interval MS] [--once] [--json]        live models, RAM/CPU/GPU, tok/s, TTFT, alerts (server or local)\n"
    "  stats [--period 1h] [--data-dir D] [--json|--csv]\n"
    "                                               request statistics and resource history from the store\n"
    "  serve [--host H] [--port P] [--models-dir D] [--api-key K] [--cors-origin O]\n"
    "                                               OpenAI/Ollama-compatible HTTP server (default 127.0.0.1:7373)\n"
    "  version\n";

static int die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int die(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("lir: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(code);
}

/* ---------------------------------------------------------------- options */

struct opts {
    const char *model;
    const char *tokens;
    int top, n_threads, n_ctx, n_batch, n_gen, n_prompt, reps;
    float temp;
    uint64_t seed;
    bool all, json;
};

static long parse_long(const char *flag, const char *v, long lo, long hi) {
    if (!v) die(2, "%s needs a value", flag);
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || end == v) die(2, "%s: '%s' is not an integer", flag, v);
    if (x < lo || x > hi) die(2, "%s: %ld is outside [%ld, %ld]", flag, x, lo, hi);
    return x;
}

static float parse_float(const char *flag, const char *v, float lo, float hi) {
    if (!v) die(2, "%s needs a value", flag);
    char *end;
    errno = 0;
    float x = strtof(v, &end);
    if (errno || *end || end == v || isnan(x)) die(2, "%s: '%s' is not a number", flag, v);
    if (x < lo || x > hi) die(2, "%s: %g is outside [%g, %g]", flag, x, lo, hi);
    return x;
}

/* Parses options from argv[first..]; up to max_pos positional arguments go to pos[] in order. */
static void parse_opts_n(int argc, char **argv, int first, struct opts *o, const char **pos, int max_pos) {
    int n_pos = 0;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) { if (!v) die(2, "%s needs a value", a); o->model = v; i++; }
        else if (!strcmp(a, "--tokens")) { if (!v) die(2, "--tokens needs a value"); o->tokens = v; i++; }
        else if (!strcmp(a, "--top")) { o->top = (int)parse_long(a, v, 1, 1000); i++; }
        else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) { o->n_threads = (int)parse_long(a, v, 1, 1024); i++; }
        else if (!strcmp(a, "--ctx") || !strcmp(a, "-c")) { o->n_ctx = (int)parse_long(a, v, 1, 1 << 24); i++; }
        else if (!strcmp(a, "--batch") || !strcmp(a, "-b")) { o->n_batch = (int)parse_long(a, v, 1, 65536); i++; }
        else if (!strcmp(a, "-n")) { o->n_gen = (int)parse_long(a, v, 0, 1 << 24); i++; }
        else if (!strcmp(a, "-p")) { o->n_prompt = (int)parse_long(a, v, 0, 1 << 24); i++; }
        else if (!strcmp(a, "-r")) { o->reps = (int)parse_long(a, v, 1, 1000); i++; }
        else if (!strcmp(a, "--temp")) { o->temp = parse_float(a, v, 0.0f, 100.0f); i++; }
        else if (!strcmp(a, "--seed")) { o->seed = (uint64_t)parse_long(a, v, 0, 0x7fffffffffffffffL); i++; }
        else if (!strcmp(a, "--all")) o->all = true;
        else if (!strcmp(a, "--json")) o->json = true;
        else if (a[0] == '-' && a[1]) die(2, "unknown option '%s'", a);
        else if (n_pos < max_pos) pos[n_pos++] = a;
        else die(2, "unexpected argument '%s'", a);
    }
}

static void parse_opts(int argc, char **argv, int first, struct opts *o, const char **positional) {
    parse_opts_n(argc, argv, first, o, positional, positional ? 1 : 0);
}

static int32_t *parse_tokens(const char *s, int32_t *n_out) {
    if (!s || !*s) die(2, "--tokens needs a comma-separated list of token ids");
    int32_t cap = 16, n = 0;
    int32_t *t = malloc(sizeof *t * (size_t)cap);
    if (!t) die(1, "out of memory");
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX) die(2, "--tokens: bad token id at '%.20s'", p);
        if (n == cap) {
            cap *= 2;
            t = realloc(t, sizeof *t * (size_t)cap);
            if (!t) die(1, "out of memory");
        }
        t[n++] = (int32_t)v;
        p = end;
        if (*p == ',') p++;
        else if (*p) die(2, "--tokens: expected ',' at '%.20s'", p);
    }
    *n_out = n;
    return t;
}

static lir_model *load_model(const char *path) {
    if (!path) die(2, "no model given (-m MODEL)");
    char err[LIR_ERR_MAX];
    lir_model *m = NULL;
    struct lir_model_params mp = lir_model_params_default();
    enum lir_status s = lir_model_load(path, &mp, &m, err, sizeof err);
    if (s) die(1, "cannot load '%s': %s", path, err);
    return m;
}

static lir_context *make_context(lir_model *m, const struct opts *o, int32_t n_ctx) {
    struct lir_context_params cp = lir_context_params_default();
    cp.n_ctx = n_ctx;
    cp.n_threads = o->n_threads;
    if (o->n_batch) cp.n_batch = o->n_batch;
    char err[LIR_ERR_MAX];
    lir_context *c = NULL;
    if (lir_context_create(m, &cp, &c, err, sizeof err)) die(1, "%s", err);
    return c;
}

/* Context size for n tokens: at least what is asked, never above the training context
 * unless --ctx says so. */
static int32_t ctx_for(const lir_model *m, const struct opts *o, int64_t n) {
    if (o->n_ctx) {
        if (n > o->n_ctx) die(2, "%lld tokens do not fit in --ctx %d", (long long)n, o->n_ctx);
        return o->n_ctx;
    }
    struct lir_model_info mi;
    lir_model_get_info(m, &mi);
    if (n > mi.n_ctx_train) die(2, "%lld tokens exceed the model's context %d (use --ctx)", (long long)n, mi.n_ctx_train);
    return (int32_t)n;
}

/* ---------------------------------------------------------------- eval */

static void print_top(const float *logits, int32_t nv, int k, int32_t pos) {
    int32_t ids[1000];
    float lg[1000];
    double lp[1000];
    int32_t got = lir_top_k(logits, nv, k, ids, lg, lp);
    printf("{\"pos\":%d,\"top\":[", pos);
    for (int32_t i = 0; i < got; i++)
        printf("%s{\"id\":%d,\"logit\":%.7g,\"logprob\":%.9g}", i ? "," : "", ids[i], lg[i], lp[i]);
    printf("]}");
}

static int cmd_eval(int argc, char **argv) {
    struct opts o = { .top = 10 };
    parse_opts(argc, argv, 2, &o, NULL);
    int32_t n;
    int32_t *toks = parse_tokens(o.tokens, &n);
    lir_model *m = load_model(o.model);
    lir_context *c = make_context(m, &o, ctx_for(m, &o, n));
    if (lir_context_decode(c, toks, n, 0, o.all)) die(1, "%s", lir_context_last_error(c));
    struct lir_model_info mi;
    lir_model_get_info(m, &mi);
    printf("{\"n_tokens\":%d,\"positions\":[", n);
    for (int32_t i = o.all ? 0 : n - 1; i < n; i++) {
        if (o.all && i) printf(",");
        print_top(lir_context_logits(c, i), mi.n_vocab, o.top, i);
    }
    printf("]}\n");
    lir_context_free(c);
    lir_model_free(m);
    free(toks);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "show")) return lir_cli_show(argc, argv);
    if (!strcmp(cmd, "eval")) return cmd_eval(argc, argv);
    if (!strcmp(cmd, "generate")) return lir_cli_generate(argc, argv);
    if (!strcmp(cmd, "chat")) return lir_cli_chat(argc, argv);
    if (!strcmp(cmd, "bench")) return lir_cli_bench(argc, argv);
    if (!strcmp(cmd, "run")) return lir_cli_run(argc, argv);
    if (!strcmp(cmd, "ps")) return lir_cli_ps(argc, argv);
    if (!strcmp(cmd, "load")) return lir_cli_load(argc, argv);
    if (!strcmp(cmd, "unload")) return lir_cli_unload(argc, argv);
    if (!strcmp(cmd, "template")) { int lir_cli_template(int, char **); return lir_cli_template(argc, argv); }
    if (!strcmp(cmd, "tokenize")) { int lir_cli_tokenize(int, char **); return lir_cli_tokenize(argc, argv); }
    if (!strcmp(cmd, "perplexity")) { int lir_cli_perplexity(int, char **); return lir_cli_perplexity(argc, argv); }
    if (!strcmp(cmd, "embed")) { int lir_cli_embed(int, char **); return lir_cli_embed(argc, argv); }
    if (!strcmp(cmd, "models")) { int lir_cli_models(int, char **); return lir_cli_models(argc, argv); }
    if (!strcmp(cmd, "quantize")) { int lir_cli_quantize(int, char **); return lir_cli_quantize(argc, argv); }
    if (!strcmp(cmd, "top")) { int lir_cli_top(int, char **); return lir_cli_top(argc, argv); }
    if (!strcmp(cmd, "stats")) { int lir_cli_stats(int, char **); return lir_cli_stats(argc, argv); }
    if (!strcmp(cmd, "serve")) { int lir_cli_serve(int, char **); return lir_cli_serve(argc, argv); }
    if (!strcmp(cmd, "detokenize")) { int lir_cli_detokenize(int, char **); return lir_cli_detokenize(argc, argv); }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("lir %d.%d.%d\n", LIR_VERSION_MAJOR, LIR_VERSION_MINOR, LIR_VERSION_PATCH);
        return 0;
    }
    fprintf(stderr, "lir: unknown command '%s'\n\n%s", cmd, usage_text);
    return 2;
}
