/* bench_filter.c — cost of grammar filtering over a real vocabulary (not a test: not built by
 * CMake, whose glob takes tests/ **​/test_*.c only; it belongs with the benchmarks in bench/).
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -Isrc tests/grammar/bench_filter.c build/liblir.a \
 *      -ljansson -lpcre2-8 -lutf8proc -lcurl -lsodium -lmicrohttpd -lsqlite3 -lm -lpthread -o /tmp/bench_filter
 *   /tmp/bench_filter model.gguf [n_tokens] [SCHEMA [steps]]
 * Builds the token table (all of the model's tokens, or the first n_tokens), then times, for the
 * built-in JSON-object grammar at several points of a document, one full filter of the logits and
 * the fast path (lir_grammar_token_allowed on one token). With SCHEMA (JSON Schema text), also a
 * worst case: a random walk of `steps` (64) tokens through the schema's grammar in which every
 * step is filtered (the next token drawn uniformly among the allowed ones), mean and max per filter. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "lir.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU time: the machine may be shared */
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s model.gguf [n_tokens]\n", argv[0]); return 2; }
    lir_model *m;
    char err[512];
    if (lir_model_load(argv[1], NULL, &m, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    int32_t n = lir_vocab_n_tokens(m);
    if (argc > 2 && atoi(argv[2]) > 0 && atoi(argv[2]) < n) n = atoi(argv[2]);
    char **pieces = calloc((size_t)n, sizeof *pieces);
    size_t *lens = calloc((size_t)n, sizeof *lens);
    bool *eog = calloc((size_t)n, 1);
    for (int32_t t = 0; t < n; t++) {
        char buf[512];
        size_t len = 0;
        if (lir_token_to_piece(m, t, false, buf, sizeof buf, &len)) len = 0;
        pieces[t] = malloc(len + 1);
        memcpy(pieces[t], buf, len);
        lens[t] = len;
        eog[t] = lir_vocab_is_eog(m, t);
    }
    double t0 = now_ms();
    lir_grammar_vocab *v;
    if (lir_grammar_vocab_create_pieces((const char *const *)pieces, lens, eog, n, &v)) return 1;
    printf("vocab %d tokens: token table built in %.1f ms\n", n, now_ms() - t0);
    lir_grammar *g;
    lir_grammar_json(true, &g);
    const char *points[] = { "", "{\"name\": \"ab", "{\"name\": 12", "{\"a\": [1, {\"b\": ", "{\"a\": tr" };
    const char *probe[] = { "{", "cd", "3", "\"", "ue" };
    float *logits = malloc((size_t)n * sizeof *logits);
    for (size_t p = 0; p < sizeof points / sizeof *points; p++) {
        lir_grammar_state *st;
        lir_grammar_state_create(g, &st);
        lir_grammar_accept_bytes(st, points[p], strlen(points[p]));
        double times[21], cold;
        int allowed = 0;
        { /* a fresh copy of the state: no cached transitions yet */
            lir_grammar_state *c;
            lir_grammar_state_clone(st, &c);
            double a = now_ms();
            lir_grammar_filter_logits(c, v, logits);
            cold = now_ms() - a;
            lir_grammar_state_free(c);
        }
        for (int r = 0; r < 21; r++) {
            for (int32_t t = 0; t < n; t++) logits[t] = 0;
            double a = now_ms();
            lir_grammar_filter_logits(st, v, logits);
            times[r] = now_ms() - a;
            if (!r) for (int32_t t = 0; t < n; t++) allowed += logits[t] == 0;
        }
        qsort(times, 21, sizeof *times, cmp_d);
        /* fast path: a token whose piece is the probe text */
        int32_t tok = -1;
        for (int32_t t = 0; t < n && tok < 0; t++)
            if (lens[t] == strlen(probe[p]) && !memcmp(pieces[t], probe[p], lens[t])) tok = t;
        double fa = 0;
        int reps = 200000, ok = 0;
        if (tok >= 0) {
            double a = now_ms();
            for (int r = 0; r < reps; r++) ok += lir_grammar_token_allowed(st, v, tok);
            fa = (now_ms() - a) / reps * 1e3;
        }
        printf("after %-22s filter: cold %.3f ms, warm median %.3f ms (min %.3f), %d tokens allowed; fast path (\"%s\" %s) %.2f us\n",
               points[p][0] ? points[p] : "(start)", cold, times[10], times[0], allowed, probe[p],
               ok ? "allowed" : tok < 0 ? "absent" : "rejected", fa);
        lir_grammar_state_free(st);
    }
    lir_grammar_free(g);
    if (argc > 3) { /* the walk */
        int steps = argc > 4 && atoi(argv[4]) > 0 ? atoi(argv[4]) : 64, done = 0;
        if (lir_grammar_from_json_schema(argv[3], &g, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
        lir_grammar_state *st;
        lir_grammar_state_create(g, &st);
        srand(1);
        double tot = 0, mx = 0;
        for (; done < steps; done++) {
            for (int32_t t = 0; t < n; t++) logits[t] = 0;
            double a = now_ms();
            lir_grammar_filter_logits(st, v, logits);
            double d = now_ms() - a;
            tot += d;
            mx = d > mx ? d : mx;
            int32_t cnt = 0, tok = -1;
            for (int32_t t = 0; t < n; t++) cnt += logits[t] == 0;
            if (!cnt) break;
            for (int32_t t = 0, k = rand() % cnt; t < n && tok < 0; t++)
                if (logits[t] == 0 && k-- == 0) tok = t;
            if (eog[tok] || lir_grammar_accept_token(st, v, tok) || lir_grammar_is_done(st)) { done++; break; }
        }
        printf("walk through %.60s: %d steps, every one filtered: mean %.3f ms, max %.3f ms\n", argv[3], done,
               done ? tot / done : 0, mx);
        lir_grammar_state_free(st);
        lir_grammar_free(g);
    }
    free(logits);
    lir_grammar_vocab_free(v);
    lir_model_free(m);
    return 0;
}
