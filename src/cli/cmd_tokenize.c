/* cmd_tokenize.c — `lir tokenize` and `lir detokenize`.
 *
 *   lir tokenize -m MODEL [--ids | --pieces] [--special] [--no-add-special] (TEXT | --file PATH|-)
 *     default   one JSON array of token ids: [128000, 9906, 1917]
 *     --ids     the ids, space-separated, on one line
 *     --pieces  one JSON object per line: {"id": 9906, "piece": "Hello"} (piece = the token's
 *               bytes; bytes that are not valid UTF-8 shown as \\u00XX escapes of each byte)
 *     --special       parse control tokens written in the text (<|eot_id|>, <s>, ...)
 *     --no-add-special  no BOS/EOS even if the vocabulary asks for them
 *     --file PATH     read the text from a file ('-' = stdin), byte for byte
 *     --time          also print to stderr the best of 3 tokenize calls (ms, MB/s), for bench/
 *     --batch PATH    each line of the file is a JSON string; prints one JSON array of ids per
 *                     line (for tests and scripts: one model load for many texts)
 *   lir detokenize -m MODEL [--special] [--no-strip] IDS
 *     IDS: "1,2,3", "1 2 3" or "[1, 2, 3]". Prints the text (streamed: complete UTF-8 only),
 *     control tokens shown only with --special; the first token loses one leading space on
 *     SentencePiece vocabularies (as llama.cpp's detokenizer) unless --no-strip.
 *     --batch PATH: each line a JSON array of ids; prints one JSON string of text per line.
 * Exit 0 ok, 1 model/tokenizer error, 2 usage. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "lir.h"
#include "cli/cli.h"

int lir_cli_tokenize(int argc, char **argv);
int lir_cli_detokenize(int argc, char **argv);

static int usage_err(const char *msg) {
    fprintf(stderr, "lir: %s\nusage: lir tokenize -m MODEL [--ids|--pieces] [--special] [--no-add-special] (TEXT | --file PATH|-)\n"
                    "       lir detokenize -m MODEL [--special] [--no-strip] IDS\n", msg);
    return 2;
}

static lir_model *open_model(const char *path) {
    lir_model *m = NULL;
    char err[512];
    struct lir_model_params mp = lir_model_params_default();
    if (lir_model_load(path, &mp, &m, err, sizeof err)) {
        fprintf(stderr, "lir: %s\n", err);
        return NULL;
    }
    if (!lir_vocab_n_tokens(m)) {
        fprintf(stderr, "lir: %s has no usable vocabulary: %s\n", path, lir_model_vocab_error(m));
        lir_model_free(m);
        return NULL;
    }
    return m;
}

/* JSON string of arbitrary bytes: valid UTF-8 kept, other bytes as \u00XX */
static void json_bytes(FILE *f, const char *s, size_t n) {
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c == '\r') fputs("\\r", f);
        else if (c < 0x20 || c == 0x7f) fprintf(f, "\\u%04x", c);
        else if (c < 0x80) fputc(c, f);
        else {
            size_t L = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c <= 0xdf ? 2 : 0;
            bool ok = L && i + L <= n && c < 0xf5;
            for (size_t k = 1; ok && k < L; k++) ok = ((unsigned char)s[i + k] & 0xc0) == 0x80;
            if (ok) { fwrite(s + i, 1, L, f); i += L - 1; }
            else fprintf(f, "\\u%04x", c);
        }
    }
    fputc('"', f);
}

/* one JSON string per line in, one JSON array of ids per line out */
static int tokenize_batch(const char *model, const char *path, bool add_special, bool special) {
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) { fprintf(stderr, "lir: cannot read %s: %s\n", path, strerror(errno)); return 1; }
    lir_model *m = open_model(model);
    if (!m) { if (f != stdin) fclose(f); return 1; }
    char *line = NULL;
    size_t lcap = 0, cap = 0;
    ssize_t ll;
    lir_token *tok = NULL;
    int rc = 0, lineno = 0;
    while (!rc && (ll = getline(&line, &lcap, f)) > 0) {
        lineno++;
        json_error_t je;
        json_t *j = json_loadb(line, (size_t)ll, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        if (!json_is_string(j)) { fprintf(stderr, "lir: %s:%d: not a JSON string\n", path, lineno); json_decref(j); rc = 2; break; }
        const char *t = json_string_value(j);
        size_t len = json_string_length(j);
        int32_t n = 0;
        enum lir_status s = lir_tokenize(m, t, len, add_special, special, tok, (int32_t)cap, &n);
        if (s == LIR_ERANGE) {
            free(tok);
            cap = (size_t)n;
            tok = malloc(cap * sizeof *tok);
            s = tok ? lir_tokenize(m, t, len, add_special, special, tok, (int32_t)cap, &n) : LIR_ENOMEM;
        }
        json_decref(j);
        if (s) { fprintf(stderr, "lir: tokenize failed: %s\n", lir_status_str(s)); rc = 1; break; }
        putchar('[');
        for (int32_t i = 0; i < n; i++) printf("%s%d", i ? "," : "", tok[i]);
        puts("]");
    }
    free(line);
    free(tok);
    if (f != stdin) fclose(f);
    lir_model_free(m);
    return rc;
}

/* one JSON array of ids per line in, one JSON string per line out */
static int detokenize_batch(const char *model, const char *path, bool special, bool strip) {
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) { fprintf(stderr, "lir: cannot read %s: %s\n", path, strerror(errno)); return 1; }
    lir_model *m = open_model(model);
    if (!m) { if (f != stdin) fclose(f); return 1; }
    char *line = NULL, *out = NULL;
    size_t lcap = 0, ocap = 0;
    ssize_t ll;
    int rc = 0, lineno = 0;
    while (!rc && (ll = getline(&line, &lcap, f)) > 0) {
        lineno++;
        json_error_t je;
        json_t *j = json_loadb(line, (size_t)ll, 0, &je);
        if (!json_is_array(j)) { fprintf(stderr, "lir: %s:%d: not a JSON array\n", path, lineno); json_decref(j); rc = 2; break; }
        lir_detok *d = NULL;
        enum lir_status s = lir_detok_create(m, special, strip && lir_vocab_add_space_prefix(m), &d);
        size_t o = 0;
        for (size_t i = 0; !s && i <= json_array_size(j); i++) {
            const char *t;
            size_t l;
            s = i < json_array_size(j) ? lir_detok_push(d, (lir_token)json_integer_value(json_array_get(j, i)), &t, &l)
                                       : lir_detok_flush(d, &t, &l);
            if (s) break;
            if (o + l + 1 > ocap) {
                ocap = 2 * (o + l + 1);
                char *p = realloc(out, ocap);
                if (!p) { s = LIR_ENOMEM; break; }
                out = p;
            }
            memcpy(out + o, t, l);
            o += l;
        }
        lir_detok_free(d);
        json_decref(j);
        if (s) { fprintf(stderr, "lir: %s:%d: %s\n", path, lineno, lir_status_str(s)); rc = 1; break; }
        json_t *js = json_stringn(out ? out : "", o);
        char *enc = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
        if (!enc) { rc = 1; json_decref(js); break; }
        puts(enc);
        free(enc);
        json_decref(js);
    }
    free(line);
    free(out);
    if (f != stdin) fclose(f);
    lir_model_free(m);
    return rc;
}

int lir_cli_tokenize(int argc, char **argv) {
    const char *model = NULL, *file = NULL, *text = NULL, *batch = NULL;
    bool ids = false, pieces = false, special = false, add_special = true, timing = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) { if (++i >= argc) return usage_err("-m needs a value"); model = argv[i]; }
        else if (!strcmp(a, "--file")) { if (++i >= argc) return usage_err("--file needs a value"); file = argv[i]; }
        else if (!strcmp(a, "--batch")) { if (++i >= argc) return usage_err("--batch needs a value"); batch = argv[i]; }
        else if (!strcmp(a, "--ids")) ids = true;
        else if (!strcmp(a, "--time")) timing = true;
        else if (!strcmp(a, "--pieces")) pieces = true;
        else if (!strcmp(a, "--special")) special = true;
        else if (!strcmp(a, "--no-add-special")) add_special = false;
        else if (!strcmp(a, "--")) { if (++i < argc) text = argv[i]; break; }
        else if (a[0] == '-' && a[1]) { fprintf(stderr, "lir: unknown option '%s'\n", a); return 2; }
        else if (!text) text = a;
        else return usage_err("give the text once (quote it)");
    }
    if (!model) return usage_err("tokenize needs -m MODEL");
    if (ids && pieces) return usage_err("--ids and --pieces exclude each other");
    if (batch) return tokenize_batch(model, batch, add_special, special);
    if (!text == !file) return usage_err("give TEXT or --file PATH (one of them)");
    size_t len = 0;
    char *buf = NULL;
    if (file) {
        if (!(buf = lir_cli_read_file(file, true, &len))) { fprintf(stderr, "lir: cannot read %s: %s\n", file, strerror(errno)); return 1; }
        text = buf;
    } else {
        len = strlen(text);
    }
    lir_model *m = open_model(model);
    if (!m) { free(buf); return 1; }
    int32_t n = 0, cap = (int32_t)(len + 16 > INT32_MAX / 2 ? INT32_MAX / 2 : len + 16);
    lir_token *tok = malloc((size_t)cap * sizeof *tok);
    enum lir_status s = tok ? lir_tokenize(m, text, len, add_special, special, tok, cap, &n) : LIR_ENOMEM;
    if (s == LIR_ERANGE) {
        free(tok);
        cap = n;
        tok = malloc((size_t)cap * sizeof *tok);
        s = tok ? lir_tokenize(m, text, len, add_special, special, tok, cap, &n) : LIR_ENOMEM;
    }
    if (!s && timing) {
        double best = 1e30;
        for (int r = 0; r < 3 && !s; r++) {
            struct timespec t0, t1;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            s = lir_tokenize(m, text, len, add_special, special, tok, cap, &n);
            clock_gettime(CLOCK_MONOTONIC, &t1);
            double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
            if (ms < best) best = ms;
        }
        fprintf(stderr, "{\"bytes\": %zu, \"tokens\": %d, \"best_ms\": %.3f, \"mb_per_s\": %.2f}\n", len, n, best,
                best > 0 ? (double)len / 1048576.0 / (best / 1e3) : 0.0);
    }
    if (s) {
        fprintf(stderr, "lir: tokenize failed: %s%s%s\n", lir_status_str(s), lir_model_vocab_error(m)[0] ? ": " : "",
                lir_model_vocab_error(m));
        free(tok); free(buf); lir_model_free(m);
        return 1;
    }
    if (pieces) {
        char pb[4096];
        for (int32_t i = 0; i < n; i++) {
            size_t pl = 0;
            lir_token_to_piece(m, tok[i], true, pb, sizeof pb, &pl);
            printf("{\"id\": %d, \"piece\": ", tok[i]);
            json_bytes(stdout, pb, pl > sizeof pb ? sizeof pb : pl);
            fputs("}\n", stdout);
        }
    } else {
        if (!ids) putchar('[');
        for (int32_t i = 0; i < n; i++) printf(ids ? "%s%d" : "%s%d", i ? (ids ? " " : ", ") : "", tok[i]);
        puts(ids ? "" : "]");
    }
    free(tok);
    free(buf);
    lir_model_free(m);
    return 0;
}

int lir_cli_detokenize(int argc, char **argv) {
    const char *model = NULL, *ids_s = NULL, *batch = NULL;
    bool special = false, strip = true;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) { if (++i >= argc) return usage_err("-m needs a value"); model = argv[i]; }
        else if (!strcmp(a, "--special")) special = true;
        else if (!strcmp(a, "--no-strip")) strip = false;
        else if (!strcmp(a, "--batch")) { if (++i >= argc) return usage_err("--batch needs a value"); batch = argv[i]; }
        else if (a[0] == '-' && a[1] && !(a[1] >= '0' && a[1] <= '9')) { fprintf(stderr, "lir: unknown option '%s'\n", a); return 2; }
        else if (!ids_s) ids_s = a;
        else return usage_err("give the ids as one argument (\"1,2,3\")");
    }
    if (model && batch) return detokenize_batch(model, batch, special, strip);
    if (!model || !ids_s) return usage_err("detokenize needs -m MODEL and IDS");
    /* parse ids first: a usage error should not need the model */
    size_t cap = strlen(ids_s) / 2 + 2, n = 0;
    lir_token *tok = malloc(cap * sizeof *tok);
    if (!tok) return 1;
    for (const char *p = ids_s; *p;) {
        if (*p == '[' || *p == ']' || *p == ',' || *p == ' ' || *p == '\n' || *p == '\t') { p++; continue; }
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX) { free(tok); fprintf(stderr, "lir: bad token id near '%.16s'\n", p); return 2; }
        tok[n++] = (lir_token)v;
        p = end;
    }
    lir_model *m = open_model(model);
    if (!m) { free(tok); return 1; }
    lir_detok *d = NULL;
    int rc = 0;
    enum lir_status s = lir_detok_create(m, special, strip && lir_vocab_add_space_prefix(m), &d);
    for (size_t i = 0; !s && i < n; i++) {
        const char *t;
        size_t l;
        if ((s = lir_detok_push(d, tok[i], &t, &l))) { fprintf(stderr, "lir: token %d: %s\n", tok[i], lir_status_str(s)); break; }
        fwrite(t, 1, l, stdout);
    }
    if (!s) {
        const char *t;
        size_t l;
        if (!(s = lir_detok_flush(d, &t, &l))) fwrite(t, 1, l, stdout);
    }
    if (s) rc = 1;
    fflush(stdout);
    lir_detok_free(d);
    lir_model_free(m);
    free(tok);
    return rc;
}
