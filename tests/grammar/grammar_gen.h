/* grammar_gen.h — test helpers: a small hand-made vocabulary (every byte, multi-byte pieces,
 * pieces that split UTF-8 characters, an end-of-generation token, a control token with no text),
 * and constrained random generation over it with a seeded choice among the allowed tokens.
 * Every step also checks that the fast path (lir_grammar_token_allowed) and the full filter
 * (lir_grammar_filter_logits) agree on every token. */
#ifndef LIR_TEST_GRAMMAR_GEN_H
#define LIR_TEST_GRAMMAR_GEN_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lir.h"
#include "grammar/grammar.h"

#ifndef LIR_SOURCE_DIR
#define LIR_SOURCE_DIR "."
#endif

static const char *const gen_multi[] = {
    "true", "false", "null", "{\"", "\":", "\": ", "\",", "},", "}]", "]}", "[1", ", ", "  ", "\n  ", "\\n",
    "\\u00e9", "\\ud83d\\ude00", "\"", "abc", "the", " the", "1.", "0.5", "-1", "e+", "Nf3", "O-O", "O-O-O", "e4",
    "1. ", "int ", "return ", "while(", "//", "/*", "*/", "x = ", "- ", "é", "日本", "語", "ぁ", "ア", "、", "一",
    "\xe6\x97", "\xa5\xe6", "\x9c\xac", "😀", "\xf0\x9f", "\x98\x80", "2024-01-31", "T12:00:00Z", "@example.com",
    "\"name\"", "\"age\"", "\"tags\"", "\"id\"", "-4", "99", "123", "a@b.c",
};

struct gen_vocab {
    lir_grammar_vocab *v;
    int32_t n, eog, control;
    char **pieces;
    size_t *lens;
};

static void gen_vocab_init(struct gen_vocab *gv) {
    int32_t nm = (int32_t)(sizeof gen_multi / sizeof *gen_multi);
    gv->n = 255 + nm + 2;
    gv->pieces = calloc((size_t)gv->n, sizeof *gv->pieces);
    gv->lens = calloc((size_t)gv->n, sizeof *gv->lens);
    bool *eog = calloc((size_t)gv->n, 1);
    int32_t k = 0;
    for (int b = 1; b < 256; b++, k++) {
        gv->pieces[k] = malloc(1);
        gv->pieces[k][0] = (char)b;
        gv->lens[k] = 1;
    }
    for (int32_t i = 0; i < nm; i++, k++) {
        gv->pieces[k] = strdup(gen_multi[i]);
        gv->lens[k] = strlen(gen_multi[i]);
    }
    gv->eog = k++;
    eog[gv->eog] = true;
    gv->control = k++;
    cr_assert_eq(lir_grammar_vocab_create_pieces((const char *const *)gv->pieces, gv->lens, eog, gv->n, &gv->v), LIR_OK);
    free(eog);
}

static void gen_vocab_free(struct gen_vocab *gv) {
    lir_grammar_vocab_free(gv->v);
    for (int32_t i = 0; i < gv->n; i++) free(gv->pieces[i]);
    free(gv->pieces);
    free(gv->lens);
}

static uint64_t gen_rand(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Generates one string from g: random allowed tokens for `soft` steps, then the tokens that
 * bring the state closest to an end, until an end-of-generation token is taken. Returns the
 * text (malloc'd, NUL-terminated; *len its length). Fails the test if the fast path and the
 * filter disagree, if no token is allowed, or if it does not finish within `hard` steps. */
static char *gen_string(const lir_grammar *g, struct gen_vocab *gv, uint64_t seed, int soft, int hard, size_t *len) {
    lir_grammar_state *st;
    cr_assert_eq(lir_grammar_state_create(g, &st), LIR_OK);
    uint64_t rng = seed * 0x9E3779B97F4A7C15ull + 1;
    float *logits = malloc((size_t)gv->n * sizeof *logits);
    int32_t *cand = malloc((size_t)gv->n * sizeof *cand);
    size_t cap = 256, n = 0;
    char *out = malloc(cap);
    for (int stepi = 0;; stepi++) {
        cr_assert(stepi < hard, "generation did not finish in %d steps: \"%.*s\"", hard, (int)n, out);
        for (int32_t t = 0; t < gv->n; t++) logits[t] = 0.0f;
        cr_assert_eq(lir_grammar_filter_logits(st, gv->v, logits), LIR_OK, "%s", lir_grammar_state_last_error(st));
        int32_t nc = 0;
        for (int32_t t = 0; t < gv->n; t++) {
            bool ok = logits[t] == 0.0f;
            cr_assert_eq(ok, lir_grammar_token_allowed(st, gv->v, t),
                         "fast path and filter disagree on token %d (\"%.*s\") after \"%.*s\"", t,
                         (int)gv->lens[t], gv->pieces[t], (int)n, out);
            if (ok) cand[nc++] = t;
        }
        cr_assert(nc > 0, "no token allowed after \"%.*s\"", (int)n, out);
        cr_assert(!lir_grammar_token_allowed(st, gv->v, gv->control));
        int32_t pick;
        if (stepi < soft) {
            pick = cand[gen_rand(&rng) % (uint64_t)nc];
        } else if (lir_grammar_token_allowed(st, gv->v, gv->eog)) {
            pick = gv->eog;
        } else { /* the candidate leaving the fewest characters to go; ties at random */
            uint32_t best = UINT32_MAX;
            int32_t nb = 0;
            for (int32_t i = 0; i < nc; i++) {
                lir_grammar_state *c;
                cr_assert_eq(lir_grammar_state_clone(st, &c), LIR_OK);
                cr_assert_eq(lir_grammar_accept_token(c, gv->v, cand[i]), LIR_OK);
                uint32_t m = lir__grammar_state_min_remaining(c);
                lir_grammar_state_free(c);
                if (m < best) { best = m; nb = 0; }
                if (m == best) cand[nb++] = cand[i];
            }
            pick = cand[gen_rand(&rng) % (uint64_t)nb];
        }
        if (pick == gv->eog) {
            cr_assert(lir_grammar_can_end(st));
            cr_assert_eq(lir_grammar_accept_token(st, gv->v, pick), LIR_OK);
            break;
        }
        cr_assert_eq(lir_grammar_accept_token(st, gv->v, pick), LIR_OK, "%s", lir_grammar_state_last_error(st));
        while (n + gv->lens[pick] + 1 > cap) out = realloc(out, cap *= 2);
        memcpy(out + n, gv->pieces[pick], gv->lens[pick]);
        n += gv->lens[pick];
    }
    out[n] = 0;
    lir_grammar_state_free(st);
    free(logits);
    free(cand);
    *len = n;
    return out;
}

/* Whether the whole of s is a complete string of g (a fresh matcher, one call). */
static bool gen_accepts(const lir_grammar *g, const char *s, size_t len) {
    lir_grammar_state *st;
    cr_assert_eq(lir_grammar_state_create(g, &st), LIR_OK);
    bool ok = lir_grammar_accept_bytes(st, s, len) == LIR_OK && lir_grammar_can_end(st);
    lir_grammar_state_free(st);
    return ok;
}

__attribute__((unused)) static char *gen_read_file(const char *rel) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", LIR_SOURCE_DIR, rel);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = 0;
    fclose(f);
    return s;
}

#endif
