/* main.c — the `lir` command line: show, eval, bench, run; dispatch to the other cmd_*.c.
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
    "  show MODEL [--ctx N] [--batch N] [--json]   architecture, tensors, memory needed\n"
    "  eval -m MODEL --tokens 1,2,3 [--top K] [--all] [--threads N] [--ctx N]\n"
    "                                               top-K next-token logits/log-probs (JSON)\n"
    "  generate -m MODEL (--tokens 1,2,3 | -p TEXT) [-n N] [--temp T] [--top-k K] [--seed S] [--output json]\n"
    "           [--grammar-file F | --json | --json-schema-file F] [--threads N] [--ctx N]\n"
    "                                               continue token ids, or stream the text after a prompt\n"
    "  chat -m MODEL [--system TEXT] [--template NAME|FILE] [-n N] [--temp T] [--seed S] [--ctx N]\n"
    "                                               interactive chat from stdin (/reset, /system TEXT, /exit)\n"
    "  bench -m MODEL [-p 512] [-n 128] [-t THREADS] [-r REPS] [--json]\n"
    "                                               prompt (pp) and generation (tg) speed\n"
    "  run MODEL [PROMPT] [-n N] [--temp T] [--seed S]\n"
    "                                               stream a generation as text (from BOS if no prompt)\n"
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
    "  models [--dir D] [--json]                    installed models (GGUF files in D, default $LIR_MODELS)\n"
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

/* ---------------------------------------------------------------- show */

static void fmt_bytes(uint64_t b, char *buf, size_t n) {
    const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    double v = (double)b;
    int i = 0;
    while (v >= 1024 && i < 4) { v /= 1024; i++; }
    snprintf(buf, n, i ? "%.2f %s" : "%.0f %s", v, u[i]);
}

static int cmd_show(int argc, char **argv) {
    struct opts o = { 0 };
    const char *path = NULL;
    parse_opts(argc, argv, 2, &o, &path);
    if (!path) path = o.model;
    lir_model *m = load_model(path);
    struct lir_model_info mi;
    lir_model_get_info(m, &mi);
    int32_t n_ctx = o.n_ctx ? o.n_ctx : mi.n_ctx_train;
    int32_t n_batch = o.n_batch ? o.n_batch : 256;
    struct lir_mem_estimate me;
    lir_model_estimate_memory(m, n_ctx, n_batch, &me);
    /* tensor type mix */
    uint64_t cnt[LIR_TYPE_COUNT] = { 0 }, bytes[LIR_TYPE_COUNT] = { 0 };
    const lir_gguf *g = m->gguf;
    for (int64_t i = 0; i < lir_gguf_n_tensors(g); i++) {
        const struct lir_gguf_tensor *t = lir_gguf_tensor(g, i);
        if (t->type >= 0 && t->type < LIR_TYPE_COUNT) { cnt[t->type]++; bytes[t->type] += t->size; }
    }
    if (o.json) {
        printf("{\"path\":\"%s\",\"arch\":\"%s\",\"name\":\"%s\",\"gguf_version\":%u,\"file_size\":%llu,"
               "\"n_params\":%llu,\"n_vocab\":%d,\"n_ctx_train\":%d,\"n_embd\":%d,\"n_layer\":%d,\"n_head\":%d,"
               "\"n_head_kv\":%d,\"head_dim\":%d,\"n_ff\":%d,\"rope_base\":%g,\"rms_eps\":%g,\"tied_output\":%s,"
               "\"types\":{",
               path, mi.arch, mi.name, lir_gguf_version(g), (unsigned long long)mi.file_size,
               (unsigned long long)mi.n_params, mi.n_vocab, mi.n_ctx_train, mi.n_embd, mi.n_layer, mi.n_head,
               mi.n_head_kv, mi.head_dim, mi.n_ff, m->hp.rope_base, m->hp.rms_eps, m->tied_output ? "true" : "false");
        bool first = true;
        for (int t = 0; t < LIR_TYPE_COUNT; t++)
            if (cnt[t]) {
                printf("%s\"%s\":{\"tensors\":%llu,\"bytes\":%llu}", first ? "" : ",", lir_type_name(t),
                       (unsigned long long)cnt[t], (unsigned long long)bytes[t]);
                first = false;
            }
        printf("},\"memory\":{\"n_ctx\":%d,\"n_batch\":%d,\"weights\":%llu,\"kv_cache\":%llu,\"compute\":%llu,"
               "\"total\":%llu}}\n",
               n_ctx, n_batch, (unsigned long long)me.weights, (unsigned long long)me.kv_cache,
               (unsigned long long)me.compute, (unsigned long long)me.total);
    } else {
        char b1[32], b2[32], b3[32], b4[32], b5[32];
        fmt_bytes(mi.file_size, b1, sizeof b1);
        printf("model        %s\n", path);
        printf("name         %s\n", mi.name[0] ? mi.name : "(none)");
        printf("architecture %s (GGUF v%u)\n", mi.arch, lir_gguf_version(g));
        printf("parameters   %.3f B (%llu)\n", (double)mi.n_params / 1e9, (unsigned long long)mi.n_params);
        printf("file size    %s\n", b1);
        printf("vocab        %d\n", mi.n_vocab);
        printf("context      %d (training)\n", mi.n_ctx_train);
        printf("embedding    %d, %d layers, feed-forward %d\n", mi.n_embd, mi.n_layer, mi.n_ff);
        printf("attention    %d heads, %d KV heads, head dim %d, rope base %g%s\n", mi.n_head, mi.n_head_kv,
               mi.head_dim, m->hp.rope_base, m->rope_freqs.data ? " (llama3 frequency factors)" : "");
        printf("output       %s\n", m->tied_output ? "tied to token embeddings" : "separate matrix");
        printf("tensor types");
        for (int t = 0; t < LIR_TYPE_COUNT; t++)
            if (cnt[t]) {
                fmt_bytes(bytes[t], b2, sizeof b2);
                printf("  %s: %llu (%s)", lir_type_name(t), (unsigned long long)cnt[t], b2);
            }
        printf("\n");
        fmt_bytes(me.weights, b2, sizeof b2);
        fmt_bytes(me.kv_cache, b3, sizeof b3);
        fmt_bytes(me.compute, b4, sizeof b4);
        fmt_bytes(me.total, b5, sizeof b5);
        printf("memory at context %d, batch %d (CPU):\n", n_ctx, n_batch);
        printf("  weights    %s (mapped from the file)\n  KV cache   %s (f16)\n  compute    %s\n  total      %s\n", b2,
               b3, b4, b5);
    }
    lir_model_free(m);
    return 0;
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

/* ---------------------------------------------------------------- run */

static int cmd_run(int argc, char **argv) {
    struct opts o = { .n_gen = 128, .temp = 0.0f };
    const char *pos[2] = { NULL, NULL }; /* lir run MODEL [PROMPT], or -m MODEL [PROMPT] */
    parse_opts_n(argc, argv, 2, &o, pos, 2);
    const char *path = o.model ? o.model : pos[0];
    const char *prompt = o.model ? pos[0] : pos[1];
    if (o.model && pos[1]) die(2, "unexpected argument '%s'", pos[1]);
    lir_model *m = load_model(path);
    struct lir_model_info mi;
    lir_model_get_info(m, &mi);
    int32_t start = mi.bos_id >= 0 ? mi.bos_id : 0, *toks = &start, n_tok = 1;
    if (prompt) {
        int32_t need = 0;
        enum lir_status s = lir_tokenize(m, prompt, strlen(prompt), true, false, NULL, 0, &need);
        if (s != LIR_OK && s != LIR_ERANGE) die(1, "cannot tokenize the prompt: %s", lir_model_vocab_error(m));
        toks = malloc(sizeof(int32_t) * (size_t)(need > 0 ? need : 1));
        if (!toks) die(1, "out of memory");
        if (lir_tokenize(m, prompt, strlen(prompt), true, false, toks, need, &n_tok) != LIR_OK || n_tok < 1)
            die(1, "the prompt gives no tokens");
        fputs(prompt, stdout);
    }
    lir_context *c = make_context(m, &o, ctx_for(m, &o, n_tok + (int64_t)o.n_gen));
    struct lir_cli_sampler smp = { .temp = o.temp };
    lir_rng_seed(smp.rng, o.seed);
    struct lir_cli_text txt = { .out = stdout };
    if (lir_detok_create(m, false, false, &txt.detok) != LIR_OK) die(1, "cannot print text: %s", lir_model_vocab_error(m));
    struct lir_cli_gen r;
    char err[LIR_ERR_MAX];
    if (lir_cli_generate_tokens(m, c, toks, n_tok, 0, o.n_gen, &smp, &txt, &r, err, sizeof err)) die(1, "%s", err);
    lir_detok_free(txt.detok);
    free(txt.text);
    if (toks != &start) free(toks);
    fprintf(stderr, "\n[%d tokens, %.1f tok/s, first token %.1f ms, %d threads, %s]\n", r.n_gen,
            r.gen_ms > 0 ? r.n_decode / (r.gen_ms / 1e3) : 0.0, r.ttft_ms, lir__context_n_threads(c),
            lir__context_isa(c));
    printf("\n");
    free(r.tokens);
    free(r.margins);
    lir_context_free(c);
    lir_model_free(m);
    return 0;
}

/* ---------------------------------------------------------------- bench */

static void stats(const double *v, int n, double *mean, double *sd) {
    double s = 0, q = 0;
    for (int i = 0; i < n; i++) s += v[i];
    *mean = s / n;
    for (int i = 0; i < n; i++) q += (v[i] - *mean) * (v[i] - *mean);
    *sd = n > 1 ? sqrt(q / (n - 1)) : 0.0;
}

static int cmd_bench(int argc, char **argv) {
    struct opts o = { .n_prompt = 512, .n_gen = 128, .reps = 5 };
    parse_opts(argc, argv, 2, &o, NULL);
    lir_model *m = load_model(o.model);
    struct lir_model_info mi;
    lir_model_get_info(m, &mi);
    int32_t need = o.n_prompt > o.n_gen ? o.n_prompt : o.n_gen;
    if (need < 1) die(2, "nothing to measure: -p and -n are both 0");
    if (!o.n_batch) o.n_batch = o.n_prompt > 0 ? (o.n_prompt < 512 ? o.n_prompt : 512) : 1;
    lir_context *c = make_context(m, &o, ctx_for(m, &o, need));
    int32_t *toks = malloc(sizeof(int32_t) * (size_t)need);
    if (!toks) die(1, "out of memory");
    uint64_t rng[4];
    lir_rng_seed(rng, 1234);
    for (int32_t i = 0; i < need; i++) toks[i] = (int32_t)(lir_rng_uniform(rng) * mi.n_vocab);
    double *pp = calloc((size_t)o.reps, sizeof(double)), *tg = calloc((size_t)o.reps, sizeof(double));
    if (!pp || !tg) die(1, "out of memory");
    /* warm-up (pages in the weights, as llama-bench does) */
    if (lir_context_decode(c, toks, o.n_prompt > 0 ? (o.n_prompt < 16 ? o.n_prompt : 16) : 1, 0, false))
        die(1, "%s", lir_context_last_error(c));
    if (lir_context_decode(c, toks, 1, 0, false)) die(1, "%s", lir_context_last_error(c));
    for (int r = 0; r < o.reps; r++) {
        if (o.n_prompt > 0) {
            uint64_t t0 = lir__now_ns();
            if (lir_context_decode(c, toks, o.n_prompt, 0, false)) die(1, "%s", lir_context_last_error(c));
            pp[r] = o.n_prompt / ((double)(lir__now_ns() - t0) / 1e9);
        }
        if (o.n_gen > 0) {
            uint64_t t0 = lir__now_ns();
            for (int32_t i = 0; i < o.n_gen; i++)
                if (lir_context_decode(c, &toks[i], 1, i, false)) die(1, "%s", lir_context_last_error(c));
            tg[r] = o.n_gen / ((double)(lir__now_ns() - t0) / 1e9);
        }
    }
    double ppm, pps, tgm, tgs;
    stats(pp, o.reps, &ppm, &pps);
    stats(tg, o.reps, &tgm, &tgs);
    if (o.json) {
        printf("{\"model\":\"%s\",\"threads\":%d,\"isa\":\"%s\",\"reps\":%d,\"pp\":{\"n\":%d,\"tok_s\":%.3f,\"std\":%.3f},"
               "\"tg\":{\"n\":%d,\"tok_s\":%.3f,\"std\":%.3f}}\n",
               o.model, lir__context_n_threads(c), lir__context_isa(c), o.reps, o.n_prompt, ppm, pps, o.n_gen, tgm,
               tgs);
    } else {
        printf("model %s, %d threads, %s kernels, %d reps\n", o.model, lir__context_n_threads(c), lir__context_isa(c),
               o.reps);
        if (o.n_prompt) printf("pp%-5d %10.2f ± %.2f tok/s\n", o.n_prompt, ppm, pps);
        if (o.n_gen) printf("tg%-5d %10.2f ± %.2f tok/s\n", o.n_gen, tgm, tgs);
    }
    free(pp);
    free(tg);
    free(toks);
    lir_context_free(c);
    lir_model_free(m);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "show")) return cmd_show(argc, argv);
    if (!strcmp(cmd, "eval")) return cmd_eval(argc, argv);
    if (!strcmp(cmd, "generate")) return lir_cli_generate(argc, argv);
    if (!strcmp(cmd, "chat")) return lir_cli_chat(argc, argv);
    if (!strcmp(cmd, "bench")) return cmd_bench(argc, argv);
    if (!strcmp(cmd, "run")) return cmd_run(argc, argv);
    if (!strcmp(cmd, "template")) { int lir_cli_template(int, char **); return lir_cli_template(argc, argv); }
    if (!strcmp(cmd, "tokenize")) { int lir_cli_tokenize(int, char **); return lir_cli_tokenize(argc, argv); }
    if (!strcmp(cmd, "perplexity")) { int lir_cli_perplexity(int, char **); return lir_cli_perplexity(argc, argv); }
    if (!strcmp(cmd, "embed")) { int lir_cli_embed(int, char **); return lir_cli_embed(argc, argv); }
    if (!strcmp(cmd, "models")) { int lir_cli_models(int, char **); return lir_cli_models(argc, argv); }
    if (!strcmp(cmd, "quantize")) { int lir_cli_quantize(int, char **); return lir_cli_quantize(argc, argv); }
    if (!strcmp(cmd, "detokenize")) { int lir_cli_detokenize(int, char **); return lir_cli_detokenize(argc, argv); }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("lir %d.%d.%d\n", LIR_VERSION_MAJOR, LIR_VERSION_MINOR, LIR_VERSION_PATCH);
        return 0;
    }
    fprintf(stderr, "lir: unknown command '%s'\n\n%s", cmd, usage_text);
    return 2;
}
