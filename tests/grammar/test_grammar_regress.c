/* test_grammar_regress.c — inputs found by fuzz/fuzz_grammar.c, kept as regression tests
 * (run under ASan + UBSan in CI like every unit test). */
#include <criterion/criterion.h>
#include <string.h>

#include "lir.h"

/* "." (any character) closed a character set while no set had been stored yet: pointer
 * arithmetic on the NULL range array (UBSan: applying zero offset to null pointer). */
Test(grammar_regress, any_char_before_any_set) {
    static const char *const cases[] = {"rood ::= i.\"name\"A}", "root ::= .", "root ::= . [a-z]", "root ::= \"x\" ."};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lir_grammar *g = NULL;
        char err[256] = "";
        const enum lir_status s = lir_grammar_parse(cases[i], NULL, &g, err, sizeof err);
        if (s == LIR_OK) {
            cr_assert_not_null(g);
            lir_grammar_state *st = NULL;
            cr_assert_eq(lir_grammar_state_create(g, &st), LIR_OK);
            lir_grammar_state_free(st);
        } else {
            cr_assert_null(g, "case %zu", i);
            cr_assert(err[0] != 0, "case %zu: error without a message", i);
        }
        lir_grammar_free(g);
    }
    /* "." must accept any single character and nothing else */
    lir_grammar *g = NULL;
    cr_assert_eq(lir_grammar_parse("root ::= .", NULL, &g, NULL, 0), LIR_OK);
    lir_grammar_state *st = NULL;
    cr_assert_eq(lir_grammar_state_create(g, &st), LIR_OK);
    cr_assert(lir_grammar_bytes_allowed(st, "\xc3\xa9", 2));
    cr_assert_eq(lir_grammar_accept_bytes(st, "z", 1), LIR_OK);
    cr_assert(lir_grammar_can_end(st));
    cr_assert(!lir_grammar_bytes_allowed(st, "z", 1));
    lir_grammar_state_free(st);
    lir_grammar_free(g);
}
