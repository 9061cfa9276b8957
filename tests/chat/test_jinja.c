/* test_jinja.c — the chat-template interpreter through lir_chat_apply: expressions, operators,
 * filters, tests, string/dict methods, loops, macros, namespaces, whitespace control
 * (trim_blocks, lstrip_blocks, {%- -%}), tojson formats, errors with template line numbers.
 * Expected strings are what @huggingface/jinja 0.5.11 renders (checked with the oracle; the
 * cases marked "Python Jinja" are constructs the oracle lacks). Whole real templates are
 * covered by tests/parity/chat_template.test.mjs. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lir.h"
#include "chat/chat.h"

static char err[512];

/* Renders tmpl with messages [{"role":"user","content":"hi"}] plus vars (a JSON object or NULL). */
static char *render_vars(const char *tmpl, const char *vars) {
    struct lir_chat_params p = lir_chat_params_default();
    p.bos_token = "<s>";
    p.eos_token = "</s>";
    p.extra_json = vars;
    char *out = NULL;
    err[0] = 0;
    enum lir_status s = lir_chat_apply(tmpl, "[{\"role\":\"user\",\"content\":\"hi\"}]", &p, &out, NULL, err, sizeof err);
    if (s) cr_assert_null(out);
    return s ? NULL : out;
}
static char *render(const char *tmpl) { return render_vars(tmpl, NULL); }

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

Test(jinja, literals_and_printing) {
    EXPECT("{{ 'a' }}{{ \"b\" }}{{ 1 }}{{ 2.5 }}{{ 3.0 }}{{ true }}{{ none }}{{ undefined_var }}", "ab12.53.0true");
    EXPECT("{{ [1, 'x', none, true] }}", "[1, \"x\", null, true]");
    EXPECT("{{ {'a': 1, 'b': [2]} }}", "{\"a\": 1, \"b\": [2]}");
    EXPECT("{{ 'it''s' }}", "its"); /* adjacent string literals concatenate */
    EXPECT("{{ '\\n\\t\\\\\\'' }}", "\n\t\\'");
    EXPECT("{{ -3 }} {{ - 3 }} {{ -(2) }} {{ -1.5 }}", "-3 -3 -2 -1.5");
}

Test(jinja, arithmetic_and_comparison) {
    EXPECT("{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ 7 % 3 }} {{ 7 / 2 }} {{ 2 ** 3 }}", "7 9 3 1 3.5 8");
    EXPECT("{{ 1 + 1.5 }} {{ 4 / 2 }} {{ 3 - 5 }}", "2.5 2.0 -2");
    EXPECT("{{ 1 < 2 }} {{ 2 <= 1 }} {{ 1 == 1.0 }} {{ 'a' != 'b' }} {{ none == none }}", "true false true true true");
}

Test(jinja, concat_none_is_error) {
    EXPECT_ERR("{{ 'a' ~ none }}", "none");
    EXPECT_ERR("{{ 'a' + none }}", "none");
}

Test(jinja, string_concat_and_membership) {
    EXPECT("{{ 'a' + 'b' }} {{ 'x' ~ 2 }} {{ 'n=' + 3 }}", "ab x2 n=3");
    EXPECT("{{ 'b' in 'abc' }} {{ 'z' not in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }}", "true true true true");
    EXPECT("{{ 'x' in undefined_thing }} {{ 'x' not in undefined_thing }}", "false true");
    EXPECT("{{ [1] + [2, 3] }}", "[1, 2, 3]");
    /* string + list joins the items with "," (JavaScript String() of the oracle's array) */
    EXPECT("{{ 'a' + [1, 'b', [2]] }} {{ 'x' ~ 1.0 }} {{ 1.0 }}", "a1,b,[2] x1 1.0");
}

Test(jinja, logic) {
    EXPECT("{{ true and 'yes' }} {{ false or 'fallback' }} {{ not 0 }} {{ not [] }} {{ [] or 'empty' }}", "yes fallback true true empty");
    EXPECT("{{ 'a' if 1 > 2 else 'b' }} {{ 'c' if true }}|{{ 'd' if false }}|", "b c||");
}

Test(jinja, member_index_slice) {
    EXPECT("{% set l = [1, 2, 3, 4, 5] %}{{ l[0] }}{{ l[-1] }}{{ l[1:3] }}{{ l[::-1] }}{{ l[::2] }}{{ l[-2:] }}",
           "15[2, 3][5, 4, 3, 2, 1][1, 3, 5][4, 5]");
    EXPECT("{% set s = 'hello' %}{{ s[1] }}{{ s[-1] }}{{ s[1:4] }}{{ s[::-1] }}{{ s[10] }}", "eoellolleh");
    EXPECT("{{ messages[0].role }} {{ messages[0]['content'] }} {{ messages[0].missing is defined }}", "user hi false");
    EXPECT("{{ messages[5] is defined }} {{ messages.length }} {{ 'abc'.length }}", "false 1 3");
}

Test(jinja, string_methods) {
    EXPECT("{{ '  a b  '.strip() }}|{{ '  a'.lstrip() }}|{{ 'a  '.rstrip() }}|", "a b|a|a|");
    EXPECT("{{ 'Hello World'.upper() }} {{ 'Hello'.lower() }} {{ 'hello world'.title() }} {{ 'hello'.capitalize() }}",
           "HELLO WORLD hello Hello World Hello");
    EXPECT("{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a-b-c'.split('-', 1) }}",
           "[\"a\", \"b\", \"\", \"c\"] [\"a\", \"b\"] [\"a\", \"b-c\"]");
    EXPECT("{{ 'abc'.startswith('ab') }} {{ 'abc'.endswith(('x', 'bc')) }} {{ 'aaa'.replace('a', 'b', 2) }}", "true true bba");
    EXPECT("{{ '<think>x</think>\\n\\nanswer'.split('</think>')[-1].lstrip('\\n') }}", "answer");
}

Test(jinja, filters) {
    EXPECT("{{ '  x  ' | trim }}|{{ [1, 2] | length }}|{{ 'abc' | length }}|{{ 'ab' | upper }}|{{ 'AB' | lower }}", "x|2|3|AB|ab");
    EXPECT("{{ undefined_var | default('d') }} {{ '' | default('e', true) }} {{ 'v' | d('x') }}", "d e v");
    EXPECT("{{ ['a', 'b'] | join(', ') }} {{ [1, 2] | join }} {{ [3, 1, 2] | sort }} {{ [1, 2] | reverse }}", "a, b 12 [1, 2, 3] [2, 1]");
    EXPECT("{{ [1, 2] | first }}{{ [1, 2] | last }} {{ [1, 1, 2] | unique }} {{ {'a': 1} | items }}", "12 [1, 2] [[\"a\", 1]]");
    EXPECT("{{ '3' | int + 1 }} {{ 2.7 | int }} {{ '1.5' | float }} {{ 'x' | int }} {{ 5 | string }}", "4 2 1.5 0 5");
    EXPECT("{{ 'a\\nb\\n\\nc' | indent(2) }}|{{ 'a\\nb' | indent(2, true) }}", "a\n  b\n\n  c|  a\n  b");
    EXPECT("{{ 'aXbX' | replace('X', '-') }} {{ 'x' | safe }} {{ -3 | abs }}", "a-b- x 3");
    EXPECT("{{ 2.5 | round }} {{ 2.567 | round(2) }}", "3.0 2.57"); /* Python Jinja */
    EXPECT("{{ ['b', 'A', 'c'] | sort }} {{ ['b', 'A', 'c'] | sort(reverse=true) }} {{ [1, 2, 3, 4] | select('even') | list }}", /* select: Python Jinja */
           "[\"A\", \"b\", \"c\"] [\"c\", \"b\", \"A\"] [2, 4]");
}

Test(jinja, selectattr_map) {
    const char *m = "{\"msgs\":[{\"role\":\"system\",\"c\":1},{\"role\":\"user\",\"c\":2},{\"role\":\"user\",\"c\":3}]}";
    char *got = render_vars("{{ msgs | selectattr('role', 'equalto', 'user') | map(attribute='c') | list }}"
                            "{{ msgs | rejectattr('role', 'eq', 'user') | list | length }}"
                            "{{ msgs | selectattr('c') | list | length }}", m);
    cr_assert_not_null(got, "%s", err);
    cr_expect_str_eq(got, "[2, 3]13");
    lir_chat_free(got);
}

Test(jinja, tests) {
    EXPECT("{{ x is defined }}{{ x is undefined }}{{ none is none }}{{ 'a' is string }}{{ 1 is number }}{{ 1.5 is number }}",
           "falsetruetruetruetruetrue");
    EXPECT("{{ {} is mapping }}{{ [] is sequence }}{{ [] is iterable }}{{ true is boolean }}{{ false is false }}{{ 1 is not string }}",
           "truetruetruetruetruetrue");
    EXPECT("{{ 3 is odd }}{{ 4 is even }}{{ 'a' is equalto 'a' }}", "truetruetrue");
}

Test(jinja, for_loops) {
    EXPECT("{% for x in [1, 2, 3] %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.revindex }}{{ loop.length }};{% endfor %}",
           "10truefalse33;21falsefalse23;32falsetrue13;");
    EXPECT("{% for x in [] %}a{% else %}empty{% endfor %}", "empty");
    EXPECT("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }},{% endfor %}", "a=1,b=2,");
    EXPECT("{% for k in {'a': 1, 'b': 2} %}{{ k }}{% endfor %}", "ab");
    EXPECT("{% for x in [1, 2, 3, 4] if x is even %}{{ x }}{{ loop.index }}{% endfor %}", "2142");
    EXPECT("{% for x in [1, 2, 3] %}{% if x == 2 %}{% continue %}{% endif %}{{ x }}{% endfor %}", "13");
    EXPECT("{% for x in [1, 2, 3] %}{% if x == 2 %}{% break %}{% endif %}{{ x }}{% endfor %}", "1");
    EXPECT("{% for x in range(3) %}{{ x }}{% endfor %}{% for x in range(1, 7, 2) %}{{ x }}{% endfor %}", "012135");
    EXPECT("{% for x in [1, 2] %}{{ loop.previtem is defined }}{{ loop.nextitem }}{% endfor %}", "false2true");
    /* Python Jinja: looping over an undefined value runs the else block (the oracle raises) */
    EXPECT("{% for x in messages[0].tool_calls %}{{ x }}{% else %}none{% endfor %}", "none");
}

Test(jinja, scoping_set_namespace) {
    EXPECT("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{% endfor %}{{ x }}", "1");
    EXPECT("{% set ns = namespace(x=1) %}{% for i in [1, 2] %}{% set ns.x = ns.x + i %}{% endfor %}{{ ns.x }}", "4");
    EXPECT("{% set a, b = [1, 2] %}{{ a }}{{ b }}", "12");
    EXPECT("{% set blk %}in {{ 'block' }}{% endset %}[{{ blk }}]", "[in block]");
    EXPECT("{% if true %}{% set y = 5 %}{% endif %}{{ y }}", "5");
}

Test(jinja, macros) {
    EXPECT("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bo', punct='?') }}",
           "Hi Ann! Hi Bo?");
    EXPECT("{% macro f(x) %}{{ x }}{% if x > 0 %}{{ f(x - 1) }}{% endif %}{% endmacro %}{{ f(3) }}", "3210");
    EXPECT("{% macro wrap() %}[{{ caller() }}]{% endmacro %}{% call wrap() %}inner{% endcall %}", "[inner]");
}

Test(jinja, dict_methods) {
    EXPECT("{% set d = {'a': 1} %}{{ d.get('a') }} {{ d.get('z', 'dflt') }} {{ d.get('z') }}| {{ d.keys() }} {{ d.values() }}",
           "1 dflt | [\"a\"] [1]");
}

Test(jinja, whitespace_control) {
    /* trim_blocks + lstrip_blocks, as apply_chat_template configures Jinja */
    EXPECT("{% if true %}\n  A\n  {% endif %}\nB", "  A\nB");
    EXPECT("x  {%- if true -%}  y  {%- endif -%}  z", "xyz");
    EXPECT("a {{- ' b ' -}} c", "a b c");
    EXPECT("a\n{# comment #}\nb", "a\nb");
    EXPECT("a  {#- comment -#}  b", "ab");
    EXPECT("line\n", "line"); /* one trailing newline of the template is dropped */
    EXPECT("{% generation %}gen{% endgeneration %}", "gen");
}

Test(jinja, tojson_formats) {
    EXPECT("{{ {'a': [1, 2.5, 'é\"'], 'b': {}} | tojson }}", "{\"a\": [1, 2.5, \"é\\\"\"], \"b\": {}}");
    EXPECT("{{ {'a': [1, {'b': none}], 'c': []} | tojson(indent=2) }}",
           "{\n  \"a\": [\n    1,\n    {\n      \"b\": null\n    }\n  ],\n  \"c\": []\n}");
    EXPECT("{{ {'b': 1, 'a': 'é'} | tojson(ensure_ascii=true, sort_keys=true) }}", "{\"a\": \"\\u00e9\", \"b\": 1}");
    EXPECT("{{ [1, 2] | tojson(separators=(',', ':')) }}", "[1,2]");
    EXPECT("{{ '\\n\\t\\u0001' | tojson }}", "\"\\n\\t\\u0001\"");
}

Test(jinja, globals_and_variables) {
    char *got = render_vars("{{ bos_token }}{{ eos_token }}{{ add_generation_prompt }}{{ custom }}{{ tools is defined }}",
                            "{\"custom\": \"C\"}");
    cr_assert_not_null(got, "%s", err);
    cr_expect_str_eq(got, "<s></s>falseCfalse");
    lir_chat_free(got);
    EXPECT("{{ True }}{{ False }}{{ None }}", "truefalse");
}

Test(jinja, errors_name_line_and_construct) {
    EXPECT_ERR("line1\n{{ raise_exception('Only user and assistant roles are supported!') }}",
               "template line 2: raise_exception: Only user and assistant roles are supported!");
    EXPECT_ERR("a\nb\n{% if x %}", "template line 3: 'if' is never closed");
    EXPECT_ERR("{% for x in [1] %}\n{% endif %}", "template line 2");
    EXPECT_ERR("{{ 1 +  }}", "template line 1");
    EXPECT_ERR("\n\n{% include 'x.html' %}", "template line 3: unsupported statement '{% include %}'");
    EXPECT_ERR("{{ [1] | batch(2) }}", "unsupported construct: filter 'batch'");
    EXPECT_ERR("{{ x | nosuchfilter }}", "filter 'nosuchfilter'");
    EXPECT_ERR("{{ 1 is nosuchtest }}", "unknown test 'nosuchtest'");
    EXPECT_ERR("{{ nosuchfunction(1) }}", "unknown function 'nosuchfunction'");
    EXPECT_ERR("{{ 'unterminated }}", "unterminated string");
    EXPECT_ERR("{% for x in none %}{% endfor %}", "for loop over none");
    EXPECT_ERR("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "recursion");
}

Test(jinja, hostile_templates_are_bounded) {
    /* nesting beyond the parser's limit, runaway loops, huge output: clear errors, no crash */
    char deep[4096];
    size_t k = 0;
    k += (size_t)snprintf(deep + k, sizeof deep - k, "{{ ");
    for (int i = 0; i < 1000; i++) deep[k++] = '(';
    deep[k] = 0;
    EXPECT_ERR(deep, "nested deeper than");
    k = 0;
    for (int i = 0; i < 1000; i++) k += (size_t)snprintf(deep + k, sizeof deep - k, "-");
    char neg[4200];
    snprintf(neg, sizeof neg, "{{ %s1 }}", deep);
    EXPECT_ERR(neg, "nested deeper than");
    EXPECT_ERR("{% for i in range(1000000000) %}{% endfor %}", "range() longer than");
    EXPECT_ERR("{% for i in range(999999) %}{% for j in range(999999) %}{% endfor %}{% endfor %}", "loop iterations");
    EXPECT_ERR("{% set ns = namespace(s='xxxxxxxxxxxxxxxx') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}",
               "out of memory");
}

Test(jinja, bad_inputs) {
    char *out = (char *)1;
    cr_expect_eq(lir_chat_apply("x", "not json", NULL, &out, NULL, err, sizeof err), LIR_EINVAL);
    cr_expect_null(out);
    cr_expect(strstr(err, "messages is not valid JSON") != NULL, "%s", err);
    cr_expect_eq(lir_chat_apply("x", "{}", NULL, &out, NULL, err, sizeof err), LIR_EINVAL);
    cr_expect_eq(lir_chat_apply(NULL, "[]", NULL, &out, NULL, err, sizeof err), LIR_EINVAL);
    cr_expect_eq(lir_chat_apply("x", "[]", NULL, NULL, NULL, NULL, 0), LIR_EINVAL);
    size_t n = 0;
    cr_assert_eq(lir_chat_apply("{{ messages | length }}", "[]", NULL, &out, &n, NULL, 0), LIR_OK);
    cr_expect_str_eq(out, "0");
    cr_expect_eq(n, 1);
    lir_chat_free(out);
}

Test(jinja, builtins_by_name) {
    cr_expect_not_null(lir_chat_builtin("chatml"));
    cr_expect_not_null(lir_chat_builtin("llama3"));
    cr_expect_null(lir_chat_builtin("no-such-template"));
    cr_expect_null(lir_chat_builtin(NULL));
    int n = 0;
    for (const char *const *p = lir__chat_builtin_names(); *p; p++, n++) {
        char *out = NULL;
        struct lir_chat_params prm = lir_chat_params_default();
        prm.add_generation_prompt = true;
        enum lir_status s = lir_chat_apply(lir_chat_builtin(*p), "[{\"role\":\"user\",\"content\":\"hi\"}]", &prm, &out, NULL, err,
                                           sizeof err);
        cr_expect_eq(s, LIR_OK, "%s: %s", *p, err);
        cr_expect(out && strstr(out, "hi"), "%s", *p);
        lir_chat_free(out);
    }
    cr_expect_geq(n, 10);
}
