/* test_gbnf.c — the GBNF parser (errors with line and column), the matcher on strings
 * (acceptance, rejection, partial UTF-8, clones), and llama.cpp's example grammars: each parses
 * and constrained random generation over a small vocabulary produces strings the matcher
 * accepts to completion. */
#include "grammar_gen.h"

static lir_grammar *parse_ok(const char *src) {
    lir_grammar *g = NULL;
    char err[512] = "";
    enum lir_status s = lir_grammar_parse(src, NULL, &g, err, sizeof err);
    cr_assert_eq(s, LIR_OK, "parse failed: %s\n%s", err, src);
    return g;
}

static void parse_err(const char *src, enum lir_status want, const char *msg) {
    lir_grammar *g = (lir_grammar *)1;
    char err[512] = "";
    enum lir_status s = lir_grammar_parse(src, NULL, &g, err, sizeof err);
    cr_assert_eq(s, want, "status %d for %s (err: %s)", s, src, err);
    cr_assert_null(g);
    cr_assert(strstr(err, msg), "error \"%s\" lacks \"%s\"", err, msg);
}

static bool accepts(const lir_grammar *g, const char *s) { return gen_accepts(g, s, strlen(s)); }

/* prefix of some string of the grammar (may not be complete) */
static bool prefix_ok(const lir_grammar *g, const char *s) {
    lir_grammar_state *st;
    cr_assert_eq(lir_grammar_state_create(g, &st), LIR_OK);
    bool ok = lir_grammar_accept_bytes(st, s, strlen(s)) == LIR_OK;
    lir_grammar_state_free(st);
    return ok;
}

Test(grammar_gbnf, syntax_errors_name_line_column_and_expectation) {
    parse_err("root ::= \"a\"\nfoo ::= (\"b\" | \"c\" ]\n", LIR_EINVAL, "line 2, column 20: expected ')' to close the group, '|' or an item, found ']'");
    parse_err("root ::= (\"b\"\n", LIR_EINVAL, "line 2, column 1: expected ')' to close the group, '|' or an item, found end of input");
    parse_err("root ::= \"abc\n", LIR_EINVAL, "line 1, column 10: unterminated string literal");
    parse_err("root ::= [a-z\n", LIR_EINVAL, "line 1, column 10: unterminated character class");
    parse_err("root = \"a\"\n", LIR_EINVAL, "line 1, column 6: expected '::=' after the rule name, found '='");
    parse_err("root ::= \"a\" )\n", LIR_EINVAL, "line 1, column 14: unmatched ')'");
    parse_err("root ::= \"a\" @\n", LIR_EINVAL, "line 1, column 14: expected an item, '|' or the end of the line, found '@'");
    parse_err("root ::= x{3,1}\nx ::= \"a\"\n", LIR_EINVAL, "line 1, column 11: repetition {3,1}");
    parse_err("root ::= x{2\nx ::= \"a\"\n", LIR_EINVAL, "line 1, column 13: expected '}'");
    parse_err("root ::= \"\\q\"\n", LIR_EINVAL, "line 1, column 11: unknown escape");
    parse_err("root ::= \"\\x4\"\n", LIR_EINVAL, "expected 2 hex digits after '\\x'");
    parse_err("root ::= [z-a]\n", LIR_EINVAL, "character range is reversed");
    parse_err("root ::= *\n", LIR_EINVAL, "line 1, column 10: expected an item");
    parse_err("  # comment\n\nroot ::= item\n", LIR_EINVAL, "line 3, column 10: undefined rule 'item'");
    parse_err("root ::= \"a\"\nroot ::= \"b\"\n", LIR_EINVAL, "line 2, column 1: rule 'root' is defined twice");
    parse_err("item ::= \"a\"\n", LIR_EINVAL, "no rule 'root'");
    parse_err("root ::= <think>\n", LIR_EUNSUPPORTED, "token references");
    parse_err("root ::= \"a\"{200000}\n", LIR_ERANGE, "repetition count over");
}

Test(grammar_gbnf, left_recursion_and_endless_rules_are_rejected) {
    parse_err("root ::= expr\nexpr ::= expr \"+\" num | num\nnum ::= [0-9]+\n", LIR_EINVAL,
              "left recursion: expr -> expr");
    parse_err("root ::= a\na ::= b \"x\"\nb ::= c | \"y\"\nc ::= a \"z\"\n", LIR_EINVAL, "left recursion: a -> b -> c -> a");
    /* through a rule that can match the empty string */
    parse_err("root ::= e root \"x\" | \"y\"\ne ::= \"\" | \"q\"\n", LIR_EINVAL, "left recursion: root -> root");
    parse_err("root ::= (\"a\"?)*\n", LIR_EINVAL, "left recursion");
    parse_err("root ::= \"a\" | loop\nloop ::= \"b\" loop\n", LIR_EINVAL, "rule 'loop' can never finish");
    /* right recursion is fine */
    lir_grammar *g = parse_ok("root ::= \"(\" root \")\" | \"x\"\n");
    cr_assert(accepts(g, "((x))"));
    cr_assert(!accepts(g, "((x)"));
    lir_grammar_free(g);
}

Test(grammar_gbnf, literals_classes_escapes_and_repetitions) {
    lir_grammar *g = parse_ok(
        "root ::= greet \" \" num{2,3} tail? sep* end  # a comment\n"
        "greet ::= \"hi\" | \"h\\u00e9llo\" | [\\x41-\\x43]+\n"
        "num ::= [0-9]\n"
        "tail ::= (\"-\" | \"+\"){1,}\n"
        "sep ::= [^a-z0-9\\n\\]]\n"
        "end ::= \"!\" | \"\\U0001F600\"\n");
    cr_assert(accepts(g, "hi 12!"));
    cr_assert(accepts(g, "h\xc3\xa9llo 123-+-!"));
    cr_assert(accepts(g, "ABCA 99 ,;\xf0\x9f\x98\x80"));
    cr_assert(accepts(g, "hi 12   !"));
    cr_assert(!accepts(g, "hi 1!"));       /* {2,3} */
    cr_assert(!accepts(g, "hi 1234!"));
    cr_assert(!accepts(g, "hi 12a!"));     /* sep excludes a-z */
    cr_assert(!accepts(g, "hi 12]!"));     /* and ] */
    cr_assert(!accepts(g, "hi 12"));       /* incomplete */
    cr_assert(prefix_ok(g, "hi 12"));
    cr_assert(!accepts(g, "D 12!"));
    cr_assert(!prefix_ok(g, "hx"));
    lir_grammar_free(g);

    g = parse_ok("root ::= ( \"a\" |\n  \"b\" )\n  # newlines inside groups and after |\nx ::= \"q\" |\n \"r\"\n");
    cr_assert(accepts(g, "a"));
    cr_assert(accepts(g, "b"));
    lir_grammar_free(g);

    g = parse_ok("root ::= . \"x\"{0,2} [^x]\n");
    cr_assert(accepts(g, "\xe6\x97\xa5y"));
    cr_assert(accepts(g, "axxy"));
    cr_assert(!accepts(g, "axxxy"));
    cr_assert(!accepts(g, "axx"));
    lir_grammar_free(g);
}

Test(grammar_gbnf, custom_root_and_empty_alternatives) {
    lir_grammar *g = NULL;
    char err[256];
    cr_assert_eq(lir_grammar_parse("a ::= \"x\" b\nb ::= | \"y\"\n", "a", &g, err, sizeof err), LIR_OK, "%s", err);
    cr_assert(accepts(g, "x"));
    cr_assert(accepts(g, "xy"));
    cr_assert(!accepts(g, "xyy"));
    lir_grammar_free(g);
}

Test(grammar_gbnf, partial_utf8_and_invalid_bytes) {
    lir_grammar *g = parse_ok("root ::= [\\u3041-\\u309f]+ \"!\"\n"); /* hiragana */
    lir_grammar_state *st;
    cr_assert_eq(lir_grammar_state_create(g, &st), LIR_OK);
    /* ぁ = E3 81 81 fed in pieces */
    cr_assert(lir_grammar_bytes_allowed(st, "\xe3", 1));
    cr_assert(!lir_grammar_bytes_allowed(st, "\xe4", 1)); /* U+4000.. cannot be hiragana */
    cr_assert(!lir_grammar_bytes_allowed(st, "\xe3\x80", 2)); /* U+3000..U+303F */
    cr_assert(!lir_grammar_bytes_allowed(st, "\xc3", 1));
    cr_assert(!lir_grammar_bytes_allowed(st, "\xff", 1));
    cr_assert(!lir_grammar_bytes_allowed(st, "\x81", 1)); /* a stray continuation byte */
    cr_assert_eq(lir_grammar_accept_bytes(st, "\xe3", 1), LIR_OK);
    cr_assert(!lir_grammar_can_end(st));
    cr_assert_eq(lir_grammar_accept_bytes(st, "\x81", 1), LIR_OK);
    cr_assert(!lir_grammar_bytes_allowed(st, "!", 1)); /* the character is not finished */
    cr_assert_eq(lir_grammar_accept_bytes(st, "\x81\xe3\x81\x82", 4), LIR_OK);
    cr_assert_eq(lir_grammar_accept_bytes(st, "x", 1), LIR_EINVAL);
    cr_assert(strstr(lir_grammar_state_last_error(st), "not allowed"));
    cr_assert_eq(lir_grammar_accept_bytes(st, "!", 1), LIR_OK); /* the failed call changed nothing */
    cr_assert(lir_grammar_can_end(st));
    cr_assert(lir_grammar_is_done(st));
    lir_grammar_state_free(st);
    lir_grammar_free(g);
}

Test(grammar_gbnf, clone_is_independent) {
    lir_grammar *g = parse_ok("root ::= \"ab\" (\"c\" | \"d\")\n");
    lir_grammar_state *a, *b;
    cr_assert_eq(lir_grammar_state_create(g, &a), LIR_OK);
    cr_assert_eq(lir_grammar_accept_bytes(a, "a", 1), LIR_OK);
    cr_assert_eq(lir_grammar_state_clone(a, &b), LIR_OK);
    cr_assert_eq(lir_grammar_accept_bytes(a, "bc", 2), LIR_OK);
    cr_assert_eq(lir_grammar_accept_bytes(b, "bd", 2), LIR_OK);
    cr_assert(lir_grammar_can_end(a) && lir_grammar_can_end(b));
    cr_assert_eq(lir_grammar_accept_bytes(b, "c", 1), LIR_EINVAL);
    lir_grammar_state_free(a);
    lir_grammar_state_free(b);
    lir_grammar_free(g);
}

Test(grammar_gbnf, long_output_keeps_state_small) {
    /* a nested structure accepted a character at a time: stacks and pool stay bounded */
    lir_grammar *g = parse_ok("root ::= item+\nitem ::= \"- \" [^\\n]+ \"\\n\"\n");
    lir_grammar_state *st;
    cr_assert_eq(lir_grammar_state_create(g, &st), LIR_OK);
    for (int i = 0; i < 20000; i++) {
        const char *line = "- some words\n";
        cr_assert_eq(lir_grammar_accept_bytes(st, line, strlen(line)), LIR_OK);
    }
    cr_assert(lir_grammar_can_end(st));
    cr_assert_leq(lir__grammar_state_n_stacks(st), 4);
    lir_grammar_state_free(st);
    lir_grammar_free(g);
}

Test(grammar_gbnf, ambiguity_is_bounded) {
    /* every split of a run of a's is a separate parse: exponential without deduplication;
     * with hash-consed stacks it stays small */
    lir_grammar *g = parse_ok("root ::= (\"a\" | \"aa\" | \"aaa\")*\n");
    lir_grammar_state *st;
    cr_assert_eq(lir_grammar_state_create(g, &st), LIR_OK);
    for (int i = 0; i < 5000; i++) cr_assert_eq(lir_grammar_accept_bytes(st, "a", 1), LIR_OK);
    cr_assert_leq(lir__grammar_state_n_stacks(st), 8);
    lir_grammar_state_free(st);
    lir_grammar_free(g);
}

static void check_data_grammar(const char *file, int n_strings, int soft) {
    char rel[256];
    snprintf(rel, sizeof rel, "tests/grammar/data/%s", file);
    char *src = gen_read_file(rel);
    lir_grammar *g = parse_ok(src);
    struct gen_vocab gv;
    gen_vocab_init(&gv);
    for (int i = 0; i < n_strings; i++) {
        size_t len;
        char *s = gen_string(g, &gv, (uint64_t)i + 1, soft, 4000, &len);
        cr_assert(gen_accepts(g, s, len), "%s: generated string not accepted: \"%s\"", file, s);
        free(s);
    }
    gen_vocab_free(&gv);
    lir_grammar_free(g);
    free(src);
}

Test(grammar_gbnf, llama_cpp_json) { check_data_grammar("json.gbnf", 20, 60); }
Test(grammar_gbnf, llama_cpp_arithmetic) { check_data_grammar("arithmetic.gbnf", 20, 40); }
Test(grammar_gbnf, llama_cpp_list) { check_data_grammar("list.gbnf", 20, 40); }
Test(grammar_gbnf, llama_cpp_chess) { check_data_grammar("chess.gbnf", 20, 40); }
Test(grammar_gbnf, llama_cpp_japanese) { check_data_grammar("japanese.gbnf", 20, 40); }
Test(grammar_gbnf, llama_cpp_c) { check_data_grammar("c.gbnf", 20, 60); }

Test(grammar_gbnf, llama_cpp_grammars_known_strings) {
    char *src = gen_read_file("tests/grammar/data/chess.gbnf");
    lir_grammar *g = parse_ok(src);
    cr_assert(accepts(g, "1. e4 e5\n2. Nf3 Nc6\n3. Bb5 a6\n"));
    cr_assert(accepts(g, "1. e4 e5\n2. O-O O-O-O+\n"));
    cr_assert(!accepts(g, "1. e4 e5\n"));
    cr_assert(!accepts(g, "1. e9 e5\n2. d4 d5\n"));
    lir_grammar_free(g);
    free(src);

    src = gen_read_file("tests/grammar/data/arithmetic.gbnf");
    g = parse_ok(src);
    cr_assert(accepts(g, "(1 +x2)*y=3\n"));
    cr_assert(!accepts(g, "1 + = 2\n"));
    lir_grammar_free(g);
    free(src);

    src = gen_read_file("tests/grammar/data/c.gbnf");
    g = parse_ok(src);
    cr_assert(accepts(g, "int main(){int x = 1;return x;}"));
    cr_assert(!accepts(g, "int main(){int x = ;}"));
    lir_grammar_free(g);
    free(src);

    src = gen_read_file("tests/grammar/data/japanese.gbnf");
    g = parse_ok(src);
    cr_assert(accepts(g, "こんにちは 世界"));
    cr_assert(!accepts(g, "hello"));
    lir_grammar_free(g);
    free(src);
}

Test(grammar_gbnf, long_rule_chains_compile_and_match) {
    /* 20000 rules, each referring to the next: shortest derivations, left-recursion and
     * reachability checks are linear or n log n, whatever the order the rules are written in */
    size_t cap = 20000 * 40, n = 0;
    char *src = malloc(cap);
    for (int i = 0; i < 20000; i++)
        n += (size_t)snprintf(src + n, cap - n, i < 19999 ? "r%d ::= \"a\" r%d\n" : "r%d ::= \"a\"\n", i, i + 1);
    lir_grammar *g = NULL;
    char err[256];
    cr_assert_eq(lir_grammar_parse(src, "r0", &g, err, sizeof err), LIR_OK, "%s", err);
    char *text = malloc(20001);
    memset(text, 'a', 20000);
    cr_assert(gen_accepts(g, text, 19999) == false);
    cr_assert(gen_accepts(g, text, 20000));
    lir_grammar_state *st;
    cr_assert_eq(lir_grammar_state_create(g, &st), LIR_OK);
    cr_assert_eq(lir__grammar_state_min_remaining(st), 20000);
    lir_grammar_state_free(st);
    lir_grammar_free(g);
    free(text);
    free(src);
}

Test(grammar_gbnf, mutated_grammars_fail_cleanly) {
    /* byte-level mutations of the example grammars: each either parses (and then the matcher
     * runs on random bytes) or fails with a message; nothing crashes (run under ASan too) */
    const char *files[] = { "json.gbnf", "arithmetic.gbnf", "c.gbnf", "chess.gbnf", "japanese.gbnf", "list.gbnf" };
    uint64_t rng = 12345;
    int parsed = 0, failed = 0;
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        char rel[256];
        snprintf(rel, sizeof rel, "tests/grammar/data/%s", files[f]);
        char *src = gen_read_file(rel);
        size_t n = strlen(src);
        for (int it = 0; it < 400; it++) {
            char *m = strdup(src);
            int edits = 1 + (int)(gen_rand(&rng) % 4);
            for (int e = 0; e < edits; e++) {
                size_t at = gen_rand(&rng) % n;
                static const char pool[] = "()[]{}|*+?\"\\-^#:=\n ax0,9\x80\xe3";
                m[at] = pool[gen_rand(&rng) % (sizeof pool - 1)];
            }
            lir_grammar *g = NULL;
            char err[512] = "";
            enum lir_status s = lir_grammar_parse(m, NULL, &g, err, sizeof err);
            if (s == LIR_OK) {
                parsed++;
                lir_grammar_state *st;
                if (lir_grammar_state_create(g, &st) == LIR_OK) {
                    for (int k = 0; k < 50; k++) {
                        char b = (char)(gen_rand(&rng) % 128);
                        (void)lir_grammar_accept_bytes(st, &b, 1);
                    }
                    lir_grammar_state_free(st);
                }
                lir_grammar_free(g);
            } else {
                failed++;
                cr_assert_null(g);
                cr_assert(strncmp(err, "gbnf: ", 6) == 0, "%s", err);
            }
            free(m);
        }
        free(src);
    }
    cr_assert(parsed > 100 && failed > 100, "parsed %d, failed %d", parsed, failed);
}

Test(grammar_gbnf, too_many_parse_stacks_is_a_clear_error) {
    /* after k a's, the split between a* and a{0,6000} is open: k + 1 live stacks. Past 4096 the
     * matcher stops with LIR_ERANGE (and the state stays as it was) instead of slowing down. */
    lir_grammar *g = parse_ok("root ::= \"a\"* \"a\"{0,6000} \"b\"\n");
    lir_grammar_state *st;
    cr_assert_eq(lir_grammar_state_create(g, &st), LIR_OK);
    enum lir_status s = LIR_OK;
    int i;
    for (i = 0; i < 6000 && s == LIR_OK; i++) s = lir_grammar_accept_bytes(st, "a", 1);
    cr_assert_eq(s, LIR_ERANGE);
    cr_assert_gt(i, 4000);
    cr_assert(strstr(lir_grammar_state_last_error(st), "too ambiguous"), "%s", lir_grammar_state_last_error(st));
    cr_assert_eq(lir_grammar_accept_bytes(st, "b", 1), LIR_OK); /* the state before the failure */
    cr_assert(lir_grammar_can_end(st));
    lir_grammar_state_free(st);
    lir_grammar_free(g);
}
