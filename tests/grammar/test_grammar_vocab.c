/* test_grammar_vocab.c — token tables from a real vocabulary (SentencePiece-style: U+2581 as
 * space, <0xNN> byte tokens that split UTF-8 characters, control and user-defined tokens, EOS as
 * end of generation), and the fast path agreeing with the filter on them. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "grammar/grammar.h"
#include "tokenizer/tokenizer.h"

static lir_vocab *spm_vocab(void) {
    static char bytes[256][8];
    const char *text[256 + 8];
    int32_t types[256 + 8];
    int n = 0;
    text[n] = "<unk>"; types[n++] = LIR_TOKEN_TYPE_UNKNOWN;   /* 0 */
    text[n] = "<s>"; types[n++] = LIR_TOKEN_TYPE_CONTROL;     /* 1 */
    text[n] = "</s>"; types[n++] = LIR_TOKEN_TYPE_CONTROL;    /* 2 */
    for (int b = 0; b < 256; b++) {                           /* 3 + b */
        snprintf(bytes[b], sizeof bytes[b], "<0x%02X>", b);
        text[n] = bytes[b]; types[n++] = LIR_TOKEN_TYPE_BYTE;
    }
    text[n] = "\xe2\x96\x81" "a"; types[n++] = LIR_TOKEN_TYPE_NORMAL;  /* 259 " a" */
    text[n] = "b"; types[n++] = LIR_TOKEN_TYPE_NORMAL;                 /* 260 */
    text[n] = "\xe6\x97\xa5" "b"; types[n++] = LIR_TOKEN_TYPE_NORMAL;  /* 261 "日b" */
    text[n] = "<tool>"; types[n++] = LIR_TOKEN_TYPE_USER_DEFINED;      /* 262 */
    lir_gguf_str toks[256 + 8];
    for (int i = 0; i < n; i++) toks[i] = (lir_gguf_str){ text[i], strlen(text[i]) };
    struct lir_vocab_desc d = lir_vocab_desc_default();
    d.model = "llama";
    d.n_tokens = n;
    d.tokens = toks;
    d.types = types;
    lir_vocab *v = NULL;
    lir_err e = { { 0 } };
    cr_assert_eq(lir_vocab_build(&d, &v, &e), LIR_OK, "%s", e.msg);
    return v;
}

static void check_agree(lir_grammar_state *st, lir_grammar_vocab *gv, int32_t n) {
    float logits[300];
    for (int32_t t = 0; t < n; t++) logits[t] = 1.0f;
    cr_assert_eq(lir_grammar_filter_logits(st, gv, logits), LIR_OK);
    for (int32_t t = 0; t < n; t++)
        cr_assert_eq(logits[t] == 1.0f, lir_grammar_token_allowed(st, gv, t), "token %d", t);
}

Test(grammar_vocab, spm_pieces_bytes_control_and_eog) {
    lir_vocab *v = spm_vocab();
    lir_grammar_vocab *gv = NULL;
    lir_err e = { { 0 } };
    cr_assert_eq(lir__grammar_vocab_from_vocab(v, &gv, &e), LIR_OK, "%s", e.msg);
    int32_t n = lir_grammar_vocab_n_tokens(gv);
    cr_assert_eq(n, 263);
    lir_grammar *g;
    char err[256];
    cr_assert_eq(lir_grammar_parse("root ::= \" a\" \"日\"? \"b\" \"<tool>\"?\n", NULL, &g, err, sizeof err), LIR_OK, "%s", err);
    lir_grammar_state *st;
    cr_assert_eq(lir_grammar_state_create(g, &st), LIR_OK);
    check_agree(st, gv, n);
    cr_assert(lir_grammar_token_allowed(st, gv, 259));   /* " a" */
    cr_assert(lir_grammar_token_allowed(st, gv, 3 + ' ')); /* <0x20> */
    cr_assert(!lir_grammar_token_allowed(st, gv, 1));    /* <s>: control, no text */
    cr_assert(!lir_grammar_token_allowed(st, gv, 2));    /* </s>: not complete yet */
    cr_assert(!lir_grammar_token_allowed(st, gv, 0));    /* <unk> */
    cr_assert_eq(lir_grammar_accept_token(st, gv, 259), LIR_OK);
    check_agree(st, gv, n);
    cr_assert(lir_grammar_token_allowed(st, gv, 261));   /* "日b" */
    cr_assert(lir_grammar_token_allowed(st, gv, 3 + 0xE6));
    cr_assert(!lir_grammar_token_allowed(st, gv, 3 + 0xE5)); /* U+5000.. is not 日 */
    /* 日 in three byte tokens */
    cr_assert_eq(lir_grammar_accept_token(st, gv, 3 + 0xE6), LIR_OK);
    check_agree(st, gv, n);
    cr_assert(!lir_grammar_token_allowed(st, gv, 260));  /* "b" mid-character */
    cr_assert_eq(lir_grammar_accept_token(st, gv, 3 + 0x97), LIR_OK);
    cr_assert_eq(lir_grammar_accept_token(st, gv, 3 + 0xA4), LIR_EINVAL); /* 旤, not 日 */
    cr_assert_eq(lir_grammar_accept_token(st, gv, 3 + 0xA5), LIR_OK);
    check_agree(st, gv, n);
    cr_assert_eq(lir_grammar_accept_token(st, gv, 2), LIR_EINVAL);
    cr_assert_eq(lir_grammar_accept_token(st, gv, 260), LIR_OK);
    check_agree(st, gv, n);
    cr_assert(lir_grammar_token_allowed(st, gv, 2));     /* complete: EOS allowed */
    cr_assert(lir_grammar_token_allowed(st, gv, 262));   /* user-defined tokens have text */
    cr_assert_eq(lir_grammar_accept_token(st, gv, 262), LIR_OK);
    cr_assert(lir_grammar_is_done(st));
    check_agree(st, gv, n);
    lir_grammar_state_free(st);
    lir_grammar_free(g);
    lir_grammar_vocab_free(gv);
    lir_vocab_free(v);
}

Test(grammar_vocab, argument_checks) {
    lir_grammar_vocab *gv = (lir_grammar_vocab *)1;
    cr_assert_eq(lir_grammar_vocab_create(NULL, &gv), LIR_EINVAL);
    cr_assert_null(gv);
    const char *p[] = { "a", "" };
    size_t l[] = { 1, 0 };
    cr_assert_eq(lir_grammar_vocab_create_pieces(p, l, NULL, -1, &gv), LIR_EINVAL);
    cr_assert_eq(lir_grammar_vocab_create_pieces(p, l, NULL, 2, &gv), LIR_OK);
    lir_grammar *g;
    cr_assert_eq(lir_grammar_parse("root ::= \"a\"+\n", NULL, &g, NULL, 0), LIR_OK);
    lir_grammar_state *st;
    cr_assert_eq(lir_grammar_state_create(g, &st), LIR_OK);
    cr_assert(!lir_grammar_token_allowed(st, gv, 1));  /* empty piece: never */
    cr_assert(!lir_grammar_token_allowed(st, gv, 2));  /* out of range */
    cr_assert(!lir_grammar_token_allowed(st, gv, -1));
    cr_assert_eq(lir_grammar_accept_token(st, gv, 5), LIR_EINVAL);
    cr_assert_eq(lir_grammar_filter_logits(st, gv, NULL), LIR_EINVAL);
    lir_grammar_state_free(st);
    cr_assert_eq(lir_grammar_state_create(NULL, &st), LIR_EINVAL);
    cr_assert_null(st);
    lir_grammar_state_free(NULL);
    lir_grammar_free(NULL);
    lir_grammar_vocab_free(NULL);
    lir_grammar_free(g);
    lir_grammar_vocab_free(gv);
    cr_assert_eq(lir_grammar_parse(NULL, NULL, &g, NULL, 0), LIR_EINVAL);
    cr_assert_null(g);
}
