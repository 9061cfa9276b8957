/* test_jinja_limits.c — regressions from fuzzing the chat-template interpreter: hostile
 * templates get a clear error or a defined result, never a crash or a hang. Each case has its
 * reproducer under fuzz/repro/ (the first byte there is fuzz_chat's mode byte, not part of the
 * template). fuzz_chat found the int64 overflow and the repeated sort; the others were written
 * by hand while building the target (and fuzz_chat then ran over them and their mutations). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lir.h"

static char err[512];

static char *render(const char *tmpl) {
    char *out = NULL;
    err[0] = 0;
    enum lir_status s = lir_chat_apply(tmpl, "[{\"role\":\"user\",\"content\":\"hi\"}]", NULL, &out, NULL, err, sizeof err);
    if (s) cr_assert_null(out);
    return s ? NULL : out;
}

#define EXPECT(tmpl, want)                                                             \
    do {                                                                               \
        char *got_ = render(tmpl);                                                     \
        cr_assert_not_null(got_, "%s -> error: %s", tmpl, err);                        \
        cr_expect_str_eq(got_, want, "%s", tmpl);                                      \
        lir_chat_free(got_);                                                           \
    } while (0)

#define EXPECT_ERR(tmpl, substr)                                                       \
    do {                                                                               \
        char *got_ = render(tmpl);                                                     \
        cr_assert_null(got_, "%s rendered '%s', expected an error", tmpl, got_);       \
        cr_expect(strstr(err, substr) != NULL, "%s: error '%s' lacks '%s'", tmpl, err, substr); \
    } while (0)

/* fuzz/repro/chat-self-namespace-{print,tojson}.bin: printing a namespace that holds itself
 * recursed until the stack overflowed. */
Test(jinja_limits, self_referencing_namespace) {
    EXPECT_ERR("{% set ns = namespace(a=1) %}{% set ns.a = ns %}{{ ns.a.a.a.a }}", "nested deeper than");
    EXPECT_ERR("{% set ns = namespace(a=1) %}{% set ns.a = ns %}{{ ns|tojson }}", "contains itself");
    EXPECT_ERR("{% set ns = namespace(a=1) %}{% set ns.a = [ns] %}{{ ns.a|string }}", "nested deeper than");
    EXPECT("{% set ns = namespace(a=1) %}{% set ns.a = ns %}{{ ns.a.a.a is defined }}", "true");
}

/* Deep but finite JSON (jansson accepts up to 2048 levels) still prints. */
Test(jinja_limits, deep_json_prints) {
    size_t depth = 2000;
    char *j = malloc(2 * depth + 16);
    size_t k = 0;
    j[k++] = '[';
    for (size_t i = 0; i < depth; i++) j[k++] = '[';
    for (size_t i = 0; i < depth; i++) j[k++] = ']';
    j[k++] = ']';
    j[k] = 0;
    char *out = NULL;
    cr_assert_eq(lir_chat_apply("{{ messages|tojson|length }}", j, NULL, &out, NULL, err, sizeof err), LIR_OK, "%s", err);
    cr_expect_str_eq(out, "4002");
    lir_chat_free(out);
    free(j);
}

/* fuzz/repro/chat-int-overflow-mul.bin: `2 * 3666...6` overflowed int64 (undefined behaviour).
 * Integer results beyond 64 bits become floats, as the oracle's JavaScript numbers. */
Test(jinja_limits, integer_overflow_becomes_float) {
    EXPECT("{{ 9223372036854775807 + 1 }}", "9223372036854775808.0");
    EXPECT("{{ -9223372036854775807 - 2 }}", "-9223372036854775808.0");
    EXPECT("{{ 4611686018427387904 * 2 }}", "9223372036854775808.0");
    EXPECT("{{ 2 ** 70 }}", "1180591620717411303424.0");
    EXPECT("{{ 2 ** 62 }}", "4611686018427387904");
    EXPECT("{{ 99999999999999999999 }}", "100000000000000000000.0"); /* literal beyond int64 */
    EXPECT("{{ 1 + 2 * 36666666666666666666666666666666666666666 }}", "73333333333333336367048088207779673669632.0");
}

/* fuzz/repro/chat-int-edges.bin: INT64_MIN edge cases that trapped or were undefined. */
Test(jinja_limits, int64_min_edges) {
    EXPECT("{{ (-9223372036854775807 - 1) % -1 }}", "0");
    EXPECT("{{ -(-9223372036854775807 - 1) }}", "9223372036854775808.0");
    EXPECT("{{ (-9223372036854775807 - 1)|abs }}", "9223372036854775808.0");
    EXPECT("{{ (10.0 ** 300)|int }}|{{ (0.0 / 0.0)|int(7) }}", "0|7"); /* not representable: the default */
    EXPECT("{{ -7 // 2 }} {{ 7 // 2 }}", "-4 3");
    EXPECT("{{ range(9223372036854775800, 9223372036854775807, 5)|list }}", "[9223372036854775800, 9223372036854775805]");
    EXPECT("{{ [1, 2, 3][0:3:9223372036854775807] }} {{ [1, 2, 3][::-9223372036854775807] }}", "[1] [3]");
}

/* A huge tojson indent runs into the render's memory cap instead of overflowing an int. */
Test(jinja_limits, huge_indent_is_bounded) {
    char *out = NULL;
    enum lir_status s = lir_chat_apply("{{ [1, [2]]|tojson(indent=2147483647) }}", "[]", NULL, &out, NULL, err, sizeof err);
    cr_expect_eq(s, LIR_ENOMEM, "%s", err);
    cr_expect_null(out);
    cr_expect(strstr(err, "MiB") != NULL, "%s", err);
}

/* A template must not run for minutes: loop iterations were bounded, but not the bytes and
 * items each iteration scans, and some filters were quadratic. Each of these ran for minutes
 * (fuzz/repro/chat-hang-*.bin); now each ends well under a few seconds, with an error naming
 * the cause or with the result. */
Test(jinja_limits, scans_in_loops_are_bounded, .timeout = 30) {
    EXPECT_ERR("{% set s = 'x' * 16000000 %}{% for i in range(1000000) %}{% if 'y' in s %}{% endif %}{% endfor %}",
               "too much work");
    EXPECT_ERR("{% set s = 'a' * 16000000 %}{% for i in range(1000000) %}{{ s|length }}{% endfor %}", "too much work");
    EXPECT_ERR("{{ range(1000000)|unique|length }}", "too much work");
    EXPECT_ERR("{{ range(1000000)|reverse|list|sort|sort|length }}", "too much work");
}

Test(jinja_limits, sort_and_search_are_not_quadratic, .timeout = 30) {
    EXPECT("{{ range(50000)|reverse|list|sort|first }}", "0");
    EXPECT("{% set s = 'a' * 16000000 %}{% set t = 'a' * 8000000 ~ 'b' %}{{ t in s }}", "false");
    EXPECT("{{ ('a' * 4000000 ~ 'b')|replace('a' * 1000 ~ 'b', 'c')|length }}", "3999001");
    EXPECT("{{ ('a' * 4000000 ~ 'b').split('a' * 1000 ~ 'b')|length }}", "2");
    EXPECT("{{ '' * 1000000000000000000 }}|{{ ('ab' * 3)|length }}|{{ ('xyz' * 9999999)|length }}", "|6|16777218");
    /* stability and order kept by the merge sort */
    EXPECT("{{ [3, 1, 2, 1.0, 3.0]|sort|map('string')|join(',') }}", "1,1.0,2,3,3.0");
    EXPECT("{{ {'b': 1, 'A': 2, 'a': 3}|dictsort }}", "[[\"A\", 2], [\"a\", 3], [\"b\", 1]]");
    EXPECT("{{ [{'k': 2, 'n': 'x'}, {'k': 1, 'n': 'y'}, {'k': 2, 'n': 'z'}]|sort(attribute='k', reverse=true)|map(attribute='n')|join }}",
           "xzy");
}

/* Extra variables override the standard ones; a large object of them is linear to set up. */
Test(jinja_limits, extra_variables, .timeout = 30) {
    struct lir_chat_params p = lir_chat_params_default();
    p.bos_token = "<s>";
    p.extra_json = "{\"bos_token\": \"B\", \"x\": 1}";
    char *out = NULL;
    cr_assert_eq(lir_chat_apply("{{ bos_token }}{{ x }}{{ messages|length }}", "[]", &p, &out, NULL, err, sizeof err), LIR_OK);
    cr_expect_str_eq(out, "B10");
    lir_chat_free(out);
    size_t nk = 300000, k = 0;
    char *j = malloc(nk * 24 + 16);
    j[k++] = '{';
    for (size_t i = 0; i < nk; i++) k += (size_t)sprintf(j + k, "%s\"k%zu\": %zu", i ? ", " : "", i, i);
    j[k++] = '}';
    j[k] = 0;
    p.extra_json = j;
    cr_assert_eq(lir_chat_apply("{{ k299999 }}{{ bos_token }}", "[]", &p, &out, NULL, err, sizeof err), LIR_OK, "%s", err);
    cr_expect_str_eq(out, "299999<s>");
    lir_chat_free(out);
    free(j);
}
