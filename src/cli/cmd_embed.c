/* cmd_embed.c — `lir embed`: one embedding vector per text, as JSON.
 *
 *   lir embed -m MODEL [--pooling model|mean|cls|last] [--normalize | --no-normalize]
 *             [--ctx N] [--threads N] (TEXT... | --file PATH|-)
 *
 * Each TEXT (or each line of --file) is tokenized as llama.cpp's embedding paths do (the
 * vocabulary's special tokens added: [CLS] text [SEP] for BERT, BOS for most decoders) and
 * embedded with lir_embed. --pooling model (default) uses the GGUF's <arch>.pooling_type; a
 * model without one (a chat model) is pooled by mean. Vectors are scaled to unit length unless
 * --no-normalize (the spec's and llama-embedding's default). Prints one JSON object:
 *   {"model":"...","arch":"bert","dim":384,"pooling":"mean","normalize":true,
 *    "data":[{"index":0,"n_tokens":7,"embedding":[0.0123,...]},...]}
 * with every float at full precision (%.9g). Exit 0 ok, 1 model/run error, 2 usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int lir_cli_embed(int argc, char **argv);

static const char *usage =
    "usage: lir embed -m MODEL [--pooling model|mean|cls|last] [--normalize|--no-normalize]\n"
    "                 [--ctx N] [--threads N] (TEXT... | --file PATH|-)\n"
    "  --pooling model   the GGUF's pooling type (default); a model without one (a chat model) uses mean\n"
    "  --no-normalize    raw vectors (default: scaled to unit L2 norm)\n"
    "  --file PATH       one text per line ('-' = stdin)\n"
    "  prints {\"model\",\"arch\",\"dim\",\"pooling\",\"normalize\",\"data\":[{\"index\",\"n_tokens\",\"embedding\"}]}\n";

static const char *pooling_name(enum lir_pooling p) {
    switch (p) {
    case LIR_POOLING_MEAN: return "mean";
    case LIR_POOLING_CLS: return "cls";
    case LIR_POOLING_LAST: return "last";
    default: return "none";
    }
}

/* The lines of a file ('-' = stdin), without their newlines; empty lines kept out. */
static char **read_lines(const char *path, int *n_out) {
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) lir_cli_die(1, "embed: cannot open %s", path);
    char **lines = NULL, *line = NULL;
    size_t cap = 0;
    int n = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (len == 0) continue;
        char **l2 = realloc(lines, sizeof *lines * (size_t)(n + 1));
        if (!l2 || !(l2[n] = strdup(line))) lir_cli_die(1, "embed: out of memory");
        lines = l2;
        n++;
    }
    free(line);
    if (f != stdin) fclose(f);
    *n_out = n;
    return lines;
}

int lir_cli_embed(int argc, char **argv) {
    const char *model = NULL, *file = NULL;
    struct lir_embed_params ep = lir_embed_params_default();
    int32_t n_ctx = 0, n_threads = 0;
    char **texts = calloc((size_t)argc, sizeof *texts);
    int n_texts = 0;
    if (!texts) lir_cli_die(1, "embed: out of memory");
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(usage, stdout); free(texts); return 0; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) { if (!v) lir_cli_die(2, "embed: %s needs a value", a); model = v; i++; }
        else if (!strcmp(a, "--file") || !strcmp(a, "-f")) { if (!v) lir_cli_die(2, "embed: %s needs a value", a); file = v; i++; }
        else if (!strcmp(a, "--normalize")) ep.normalize = true;
        else if (!strcmp(a, "--no-normalize")) ep.normalize = false;
        else if (!strcmp(a, "--ctx") || !strcmp(a, "-c")) { n_ctx = (int32_t)lir_cli_arg_long(a, v, 1, 1 << 20); i++; }
        else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) { n_threads = (int32_t)lir_cli_arg_long(a, v, 1, 1024); i++; }
        else if (!strcmp(a, "--pooling")) {
            if (!v) lir_cli_die(2, "embed: --pooling needs a value");
            if (!strcmp(v, "model")) ep.pooling = LIR_POOLING_MODEL;
            else if (!strcmp(v, "mean")) ep.pooling = LIR_POOLING_MEAN;
            else if (!strcmp(v, "cls")) ep.pooling = LIR_POOLING_CLS;
            else if (!strcmp(v, "last")) ep.pooling = LIR_POOLING_LAST;
            else lir_cli_die(2, "embed: bad value '%s' for --pooling (model, mean, cls, last)", v);
            i++;
        } else if (a[0] == '-' && a[1]) lir_cli_die(2, "embed: unknown option '%s'\n%s", a, usage);
        else texts[n_texts++] = argv[i];
    }
    if (!model) lir_cli_die(2, "embed: -m MODEL is required\n%s", usage);
    if (file && n_texts) lir_cli_die(2, "embed: give TEXT arguments or --file, not both");
    char **owned = NULL;
    if (file) {
        free(texts);
        texts = owned = read_lines(file, &n_texts);
    }
    if (n_texts == 0) lir_cli_die(2, "embed: no text to embed\n%s", usage);

    lir_model *m = lir_cli_load_model(model);
    struct lir_model_info mi;
    lir_model_get_info(m, &mi);
    struct lir_context_params cp = lir_context_params_default();
    /* inputs to embed are short: the training context, at most 8192 tokens, unless --ctx */
    cp.n_ctx = n_ctx ? n_ctx : (mi.n_ctx_train < 8192 ? mi.n_ctx_train : 8192);
    cp.n_threads = n_threads;
    lir_context *ctx;
    char err[512];
    if (lir_context_create(m, &cp, &ctx, err, sizeof err)) lir_cli_die(1, "%s", err);
    const int32_t dim = lir_model_n_embd(m);
    float *v = malloc(sizeof(float) * (size_t)dim);
    if (!v) lir_cli_die(1, "embed: out of memory");
    enum lir_pooling used = ep.pooling == LIR_POOLING_MODEL ? lir_model_pooling(m) : ep.pooling;
    if (used == LIR_POOLING_NONE || used == LIR_POOLING_MODEL) used = LIR_POOLING_MEAN;

    printf("{\"model\":\"");
    for (const char *s = mi.name; *s; s++) { /* general.name: escape what JSON needs */
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') printf("\\%c", ch);
        else if (ch < 0x20) printf("\\u%04x", ch);
        else putchar(ch);
    }
    printf("\",\"arch\":\"%s\",\"dim\":%d,\"pooling\":\"%s\",\"normalize\":%s,\"data\":[", mi.arch, dim,
           pooling_name(used), ep.normalize ? "true" : "false");
    for (int t = 0; t < n_texts; t++) {
        int32_t n_tok = 0;
        enum lir_status s = lir_embed(ctx, texts[t], strlen(texts[t]), &ep, v, dim, &n_tok);
        if (s) {
            printf("]}\n");
            lir_cli_die(1, "%s (text %d)", lir_context_last_error(ctx), t);
        }
        printf("%s{\"index\":%d,\"n_tokens\":%d,\"embedding\":[", t ? "," : "", t, n_tok);
        for (int32_t i = 0; i < dim; i++) printf("%s%.9g", i ? "," : "", v[i]);
        printf("]}");
    }
    printf("]}\n");
    free(v);
    lir_context_free(ctx);
    lir_model_free(m);
    if (owned) {
        for (int t = 0; t < n_texts; t++) free(owned[t]);
        free(owned);
    } else {
        free(texts);
    }
    return 0;
}
