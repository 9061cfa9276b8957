/* fuzz_grammar.c — libFuzzer target for the grammar layer (src/grammar/): the GBNF parser, the
 * JSON Schema → GBNF converter and the incremental matcher, all of which take request input.
 *
 * Input: one mode byte, then text split at the first NUL into a "grammar part" and a "text part".
 *   mode % 3 == 0: the grammar part is GBNF; parsed with root "root".
 *   mode % 3 == 1: the grammar part is a JSON Schema; converted to GBNF, which must then parse
 *                  (the converter must never emit GBNF its own parser rejects — a finding).
 *   mode % 3 == 2: the built-in JSON grammar (object-only when mode & 4).
 * With a grammar, the text part is fed to a matcher in chunks (sizes from the mode byte), with
 * lir_grammar_bytes_allowed checked to agree with lir_grammar_accept_bytes at every chunk, a
 * clone taken midway that must accept the rest exactly as the original does, and a token table
 * of a few fixed pieces filtered at the end (the filter must allow exactly the tokens the fast
 * path allows). Every error must come with a non-empty message.
 * Crashes, leaks (ASan), undefined behaviour (UBSan) and hangs are findings. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lir.h"

static const char *const pieces[] = {"{", "}", "\"", "a", " ", "\n", "1", "-", ",", ":", "[", "]", "true", "null",
                                     "\xe6\x97", "\xa5", "ab", "\"a\":"};
#define N_PIECES ((int32_t)(sizeof pieces / sizeof pieces[0]))
static lir_grammar_vocab *vocab;

static void check(int cond, const char *what) {
    if (!cond) {
        fprintf(stderr, "fuzz_grammar: %s\n", what);
        abort();
    }
}

static void run_matcher(const lir_grammar *g, const char *text, size_t len, unsigned mode) {
    lir_grammar_state *st = NULL;
    if (lir_grammar_state_create(g, &st) != LIR_OK) return; /* too ambiguous at the start: allowed */
    lir_grammar_state *clone = NULL;
    const size_t chunk = 1 + (mode >> 3) % 7;
    int clone_ok = 1;
    for (size_t i = 0; i < len; i += chunk) {
        const size_t n = len - i < chunk ? len - i : chunk;
        if (!clone && i >= len / 2) {
            if (lir_grammar_state_clone(st, &clone) != LIR_OK) clone = NULL;
        }
        const bool allowed = lir_grammar_bytes_allowed(st, text + i, n);
        const enum lir_status s = lir_grammar_accept_bytes(st, text + i, n);
        if (s == LIR_ERANGE || s == LIR_ENOMEM) break; /* bounded work: a clean refusal */
        check(allowed == (s == LIR_OK), "bytes_allowed disagrees with accept_bytes");
        if (clone) {
            const enum lir_status c = lir_grammar_accept_bytes(clone, text + i, n);
            if (c != s) clone_ok = 0;
        }
        if (s != LIR_OK) {
            check(lir_grammar_state_last_error(st)[0] != 0, "rejected bytes without a message");
            break;
        }
    }
    check(clone_ok, "a clone accepted differently from its original");
    if (clone) check(lir_grammar_can_end(clone) == lir_grammar_can_end(st), "clone and original differ at the end");
    float logits[N_PIECES + 1];
    for (int32_t t = 0; t <= N_PIECES; t++) logits[t] = 0.0f;
    if (lir_grammar_filter_logits(st, vocab, logits) == LIR_OK)
        for (int32_t t = 0; t <= N_PIECES; t++)
            check((logits[t] == 0.0f) == lir_grammar_token_allowed(st, vocab, t), "filter disagrees with fast path");
    lir_grammar_state_free(clone);
    lir_grammar_state_free(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!vocab) {
        size_t lens[N_PIECES + 1];
        const char *p[N_PIECES + 1];
        bool eog[N_PIECES + 1];
        for (int32_t i = 0; i < N_PIECES; i++) p[i] = pieces[i], lens[i] = strlen(pieces[i]), eog[i] = false;
        p[N_PIECES] = "", lens[N_PIECES] = 0, eog[N_PIECES] = true; /* an end-of-generation token */
        if (lir_grammar_vocab_create_pieces(p, lens, eog, N_PIECES + 1, &vocab) != LIR_OK) abort();
    }
    if (size < 1 || size > 65536) return 0;
    const unsigned mode = data[0];
    char *buf = malloc(size); /* the rest, NUL-terminated */
    if (!buf) return 0;
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = 0;
    const size_t glen = strlen(buf); /* grammar part; the text part follows its NUL */
    const char *text = glen + 1 < size - 1 ? buf + glen + 1 : "";
    const size_t tlen = glen + 1 < size - 1 ? size - 1 - glen - 1 : 0;

    lir_grammar *g = NULL;
    char err[512];
    enum lir_status s;
    err[0] = 0;
    if (mode % 3 == 0) {
        s = lir_grammar_parse(buf, NULL, &g, err, sizeof err);
    } else if (mode % 3 == 1) {
        char *gbnf = NULL;
        s = lir_json_schema_to_gbnf(buf, &gbnf, err, sizeof err);
        if (s == LIR_OK) {
            s = lir_grammar_parse(gbnf, NULL, &g, err, sizeof err);
            if (s != LIR_OK && s != LIR_ERANGE && s != LIR_ENOMEM) {
                fprintf(stderr, "schema:\n%s\ngbnf:\n%s\nerror: %s\n", buf, gbnf, err);
                check(0, "the schema converter produced GBNF that does not parse");
            }
            lir_grammar_text_free(gbnf);
        }
    } else {
        s = lir_grammar_json((mode & 4) != 0, &g);
        check(s == LIR_OK, "the built-in JSON grammar failed");
    }
    if (s != LIR_OK) check(g == NULL && (mode % 3 == 2 || err[0] != 0), "an error without a message, or a grammar with an error");
    if (g) run_matcher(g, text, tlen, mode);
    lir_grammar_free(g);
    free(buf);
    return 0;
}
