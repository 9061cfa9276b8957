/* test_json_schema.c — the built-in JSON grammar and JSON Schema → GBNF: generated strings
 * (constrained random generation over the small vocabulary of grammar_gen.h) parse with
 * jansson and satisfy the schema, checked by a small validator written here for the keywords
 * the converter supports; integer ranges checked value by value; errors and the list of
 * unsupported keywords. */
#include "grammar_gen.h"
#include <jansson.h>

/* ================================================================ a validator for the subset */

static size_t utf8_len(const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

static bool digits(const char *s, int n) {
    for (int i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return false;
    return true;
}

static bool check_date(const char *s) {
    static const int days[13] = { 0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int y, m, d;
    if (!(strlen(s) == 10 && digits(s, 4) && s[4] == '-' && s[7] == '-' && sscanf(s, "%4d-%2d-%2d", &y, &m, &d) == 3 &&
          m >= 1 && m <= 12 && d >= 1))
        return false;
    const bool leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    return d <= (m == 2 && leap ? 29 : days[m]);
}

static bool check_time(const char *s) {
    int h, mi, se;
    if (strlen(s) < 9 || sscanf(s, "%2d:%2d:%2d", &h, &mi, &se) != 3 || s[2] != ':' || s[5] != ':') return false;
    if (h > 23 || mi > 59 || se > 59) return false;
    const char *p = s + 8;
    if (*p == '.') { p++; int k = 0; while (*p >= '0' && *p <= '9') { p++; k++; } if (k < 1 || k > 6) return false; }
    if (!strcmp(p, "Z")) return true;
    int oh, om;
    return (p[0] == '+' || p[0] == '-') && strlen(p) == 6 && sscanf(p + 1, "%2d:%2d", &oh, &om) == 2 && oh <= 23 && om <= 59;
}

static bool check_format(const char *f, const char *s) {
    if (!strcmp(f, "date")) return check_date(s);
    if (!strcmp(f, "time")) return check_time(s);
    if (!strcmp(f, "date-time")) {
        char d[11];
        if (strlen(s) < 11 || s[10] != 'T') return false;
        memcpy(d, s, 10);
        d[10] = 0;
        return check_date(d) && check_time(s + 11);
    }
    if (!strcmp(f, "uuid")) {
        if (strlen(s) != 36) return false;
        for (int i = 0; i < 36; i++) {
            bool dash = i == 8 || i == 13 || i == 18 || i == 23;
            if (dash ? s[i] != '-' : !strchr("0123456789abcdefABCDEF", s[i])) return false;
        }
        return true;
    }
    if (!strcmp(f, "email")) {
        const char *at = strchr(s, '@');
        return at && at > s && strchr(at + 1, '.') && !strchr(at + 1, '@') && at[1] != '.' && s[strlen(s) - 1] != '.';
    }
    return false;
}

static json_t *deref(json_t *root, json_t *s) {
    json_t *r = json_object_get(s, "$ref");
    if (!json_is_string(r)) return s;
    const char *p = json_string_value(r);
    cr_assert_eq(p[0], '#');
    json_t *cur = root;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", p + 1);
    for (char *seg = strtok(buf, "/"); seg; seg = strtok(NULL, "/")) cur = json_object_get(cur, seg);
    cr_assert_not_null(cur);
    return cur;
}

static bool validate(json_t *root, json_t *s, json_t *v);

static bool validate_type(json_t *root, json_t *s, const char *t, json_t *v) {
    if (!strcmp(t, "null")) return json_is_null(v);
    if (!strcmp(t, "boolean")) return json_is_boolean(v);
    if (!strcmp(t, "number")) return json_is_number(v);
    if (!strcmp(t, "integer")) {
        if (!json_is_integer(v)) return false;
        json_int_t x = json_integer_value(v);
        json_t *b;
        if ((b = json_object_get(s, "minimum")) && x < json_number_value(b)) return false;
        if ((b = json_object_get(s, "maximum")) && x > json_number_value(b)) return false;
        if ((b = json_object_get(s, "exclusiveMinimum")) && x <= json_number_value(b)) return false;
        if ((b = json_object_get(s, "exclusiveMaximum")) && x >= json_number_value(b)) return false;
        return true;
    }
    if (!strcmp(t, "string")) {
        if (!json_is_string(v)) return false;
        size_t n = utf8_len(json_string_value(v), json_string_length(v));
        json_t *b;
        if ((b = json_object_get(s, "minLength")) && n < (size_t)json_integer_value(b)) return false;
        if ((b = json_object_get(s, "maxLength")) && n > (size_t)json_integer_value(b)) return false;
        if ((b = json_object_get(s, "format")) && !check_format(json_string_value(b), json_string_value(v))) return false;
        return true;
    }
    if (!strcmp(t, "array")) {
        if (!json_is_array(v)) return false;
        size_t n = json_array_size(v), np = 0;
        json_t *b;
        if ((b = json_object_get(s, "minItems")) && n < (size_t)json_integer_value(b)) return false;
        if ((b = json_object_get(s, "maxItems")) && n > (size_t)json_integer_value(b)) return false;
        json_t *prefix = json_object_get(s, "prefixItems"), *items = json_object_get(s, "items");
        if (prefix) {
            np = json_array_size(prefix);
            if (n < np) return false;
            for (size_t i = 0; i < np; i++)
                if (!validate(root, json_array_get(prefix, i), json_array_get(v, i))) return false;
        }
        for (size_t i = np; i < n; i++)
            if (items && !validate(root, items, json_array_get(v, i))) return false;
        return true;
    }
    if (!strcmp(t, "object")) {
        if (!json_is_object(v)) return false;
        json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required");
        json_t *addl = json_object_get(s, "additionalProperties");
        size_t i;
        json_t *r;
        json_array_foreach(req, i, r) if (!json_object_get(v, json_string_value(r))) return false;
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) {
            json_t *ps = props ? json_object_get(props, k) : NULL;
            if (ps) { if (!validate(root, ps, x)) return false; }
            else if (props && !addl) return false; /* llama.cpp's default: no extra members */
            else if (json_is_false(addl)) return false;
            else if (addl && json_is_object(addl) && !validate(root, addl, x)) return false;
        }
        return true;
    }
    cr_assert_fail("validator: unknown type %s", t);
    return false;
}

static bool validate(json_t *root, json_t *s, json_t *v) {
    if (json_is_true(s)) return true;
    s = deref(root, s);
    json_t *a;
    size_t i;
    json_t *sub;
    if ((a = json_object_get(s, "allOf"))) { /* merged as the converter does: members and required united */
        json_t *m = json_object(), *props = json_object(), *req = json_array();
        json_t *parts = json_copy(a);
        json_t *self = json_copy(s);
        json_object_del(self, "allOf");
        json_array_append_new(parts, self);
        json_array_foreach(parts, i, sub) {
            json_t *d = deref(root, sub);
            json_object_update(m, d);
            if (json_object_get(d, "properties")) json_object_update(props, json_object_get(d, "properties"));
            if (json_object_get(d, "required")) json_array_extend(req, json_object_get(d, "required"));
        }
        json_object_set(m, "properties", props);
        json_object_set(m, "required", req);
        json_object_del(m, "$ref");
        bool ok = validate(root, m, v);
        json_decref(m); json_decref(props); json_decref(req); json_decref(parts);
        return ok;
    }
    if ((a = json_object_get(s, "anyOf")) || (a = json_object_get(s, "oneOf"))) {
        json_array_foreach(a, i, sub) if (validate(root, sub, v)) return true;
        return false;
    }
    if ((a = json_object_get(s, "const"))) return json_equal(a, v);
    if ((a = json_object_get(s, "enum"))) {
        json_array_foreach(a, i, sub) if (json_equal(sub, v)) return true;
        return false;
    }
    json_t *t = json_object_get(s, "type");
    if (json_is_string(t)) return validate_type(root, s, json_string_value(t), v);
    if (json_is_array(t)) {
        json_array_foreach(t, i, sub) if (validate_type(root, s, json_string_value(sub), v)) return true;
        return false;
    }
    if (json_object_get(s, "properties")) return validate_type(root, s, "object", v);
    return true;
}

/* ================================================================ helpers */

static lir_grammar *schema_grammar(const char *schema) {
    lir_grammar *g = NULL;
    char err[1024] = "";
    enum lir_status s = lir_grammar_from_json_schema(schema, &g, err, sizeof err);
    if (s) {
        char *text = NULL;
        lir_json_schema_to_gbnf(schema, &text, NULL, 0);
        cr_assert_fail("schema failed (%d): %s\n%s\n%s", s, err, schema, text ? text : "");
    }
    return g;
}

static json_t *parse_json(const char *s, size_t n) {
    json_error_t je;
    json_t *v = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    cr_assert_not_null(v, "generated text is not JSON (%s): \"%s\"", je.text, s);
    return v;
}

static void check_schema_generation(const char *schema, int n, int soft) {
    lir_grammar *g = schema_grammar(schema);
    json_t *root = json_loads(schema, 0, NULL);
    cr_assert_not_null(root);
    struct gen_vocab gv;
    gen_vocab_init(&gv);
    for (int i = 0; i < n; i++) {
        size_t len;
        char *s = gen_string(g, &gv, (uint64_t)i * 7 + 3, soft, 6000, &len);
        json_t *v = parse_json(s, len);
        cr_assert(validate(root, root, v), "generated JSON does not satisfy the schema:\n%s\nschema: %s", s, schema);
        cr_assert(gen_accepts(g, s, len));
        json_decref(v);
        free(s);
    }
    gen_vocab_free(&gv);
    json_decref(root);
    lir_grammar_free(g);
}

static bool accepts_str(const lir_grammar *g, const char *s) { return gen_accepts(g, s, strlen(s)); }

/* ================================================================ tests */

Test(grammar_json, builtin_json_generates_parseable_json) {
    for (int obj = 0; obj < 2; obj++) {
        lir_grammar *g;
        cr_assert_eq(lir_grammar_json(obj, &g), LIR_OK);
        struct gen_vocab gv;
        gen_vocab_init(&gv);
        for (int i = 0; i < 30; i++) {
            size_t len;
            char *s = gen_string(g, &gv, (uint64_t)i + 100 * obj, 80, 6000, &len);
            json_t *v = parse_json(s, len);
            if (obj) cr_assert(json_is_object(v), "%s", s);
            json_decref(v);
            free(s);
        }
        gen_vocab_free(&gv);
        lir_grammar_free(g);
    }
}

Test(grammar_json, builtin_json_accepts_and_rejects) {
    lir_grammar *g;
    cr_assert_eq(lir_grammar_json(false, &g), LIR_OK);
    cr_assert(accepts_str(g, "{\"a\": [1, 2.5e3, -0.25, true, null, \"x\\u00e9\\ud83d\\ude00\\n\", {}]}"));
    cr_assert(accepts_str(g, "[\n  1,\n  2\n]"));
    cr_assert(accepts_str(g, "\"日本\""));
    cr_assert(accepts_str(g, "0"));
    cr_assert(!accepts_str(g, "{\"a\" 1}"));
    cr_assert(!accepts_str(g, "[1,]"));
    cr_assert(!accepts_str(g, "01"));
    cr_assert(!accepts_str(g, "\"\\ud800\""));    /* lone surrogate */
    cr_assert(!accepts_str(g, "\"a\tb\""));       /* raw control character */
    cr_assert(!accepts_str(g, "[1]   "));         /* bounded whitespace */
    cr_assert(!accepts_str(g, "1e999"));          /* exponents stay finite */
    lir_grammar_free(g);
    cr_assert_eq(lir_grammar_json(true, &g), LIR_OK);
    cr_assert(accepts_str(g, "{}"));
    cr_assert(!accepts_str(g, "[]"));
    lir_grammar_free(g);
}

Test(grammar_json, schema_object_with_required_optional_and_formats) {
    check_schema_generation(
        "{\"type\":\"object\",\"properties\":{"
        "\"name\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":12},"
        "\"age\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":150},"
        "\"id\":{\"type\":\"string\",\"format\":\"uuid\"},"
        "\"born\":{\"type\":\"string\",\"format\":\"date\"},"
        "\"at\":{\"type\":\"string\",\"format\":\"date-time\"},"
        "\"wake\":{\"type\":\"string\",\"format\":\"time\"},"
        "\"mail\":{\"type\":\"string\",\"format\":\"email\"},"
        "\"ok\":{\"type\":\"boolean\"},"
        "\"tags\":{\"type\":\"array\",\"items\":{\"enum\":[\"red\",\"green\",3,null]},\"minItems\":1,\"maxItems\":3}"
        "},\"required\":[\"name\",\"age\",\"tags\"]}",
        25, 60);
}

Test(grammar_json, schema_additional_properties_and_nesting) {
    check_schema_generation(
        "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"},\"ab\":{\"const\":{\"x\":[1,2]}}},"
        "\"additionalProperties\":{\"type\":\"integer\",\"exclusiveMinimum\":-5,\"exclusiveMaximum\":5}}",
        25, 40);
    check_schema_generation("{\"type\":\"object\",\"additionalProperties\":{\"type\":\"array\",\"items\":{\"type\":\"null\"}}}",
                            15, 40);
    check_schema_generation("{\"type\":\"object\",\"properties\":{\"p\":{\"type\":\"object\",\"properties\":"
                            "{\"q\":{\"type\":[\"string\",\"null\"]}},\"required\":[\"q\"]}},"
                            "\"required\":[\"p\"],\"additionalProperties\":false}",
                            15, 40);
    lir_grammar *g = schema_grammar(
        "{\"properties\":{\"a\":{\"type\":\"string\"},\"ab\":{\"type\":\"string\"}},\"additionalProperties\":{\"type\":\"integer\"}}");
    cr_assert(accepts_str(g, "{\"a\": \"x\", \"abc\": 1, \"b\": 2}"));
    cr_assert(accepts_str(g, "{\"ab\": \"y\"}"));
    cr_assert(!accepts_str(g, "{\"a\": \"x\", \"a\": 1}"));  /* a declared key is not "additional" */
    cr_assert(!accepts_str(g, "{\"ab\": 1}"));
    cr_assert(!accepts_str(g, "{\"ab\": \"y\", \"a\": \"x\"}")); /* declared order */
    lir_grammar_free(g);
}

Test(grammar_json, schema_refs_anyof_allof_and_tuples) {
    /* recursive tree through $defs */
    check_schema_generation(
        "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},"
        "\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/node\"},\"maxItems\":2}},\"required\":[\"v\"]}},"
        "\"$ref\":\"#/$defs/node\"}",
        20, 40);
    check_schema_generation(
        "{\"anyOf\":[{\"type\":\"integer\",\"minimum\":10},{\"type\":\"string\",\"maxLength\":3},{\"type\":\"boolean\"}]}",
        20, 20);
    check_schema_generation(
        "{\"definitions\":{\"base\":{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"}},\"required\":[\"id\"]}},"
        "\"allOf\":[{\"$ref\":\"#/definitions/base\"},{\"properties\":{\"name\":{\"type\":\"string\"}},\"required\":[\"name\"]}]}",
        20, 30);
    check_schema_generation(
        "{\"type\":\"array\",\"prefixItems\":[{\"type\":\"string\",\"format\":\"date\"},{\"type\":\"number\"}],"
        "\"items\":{\"type\":\"boolean\"},\"maxItems\":4}",
        20, 30);
    check_schema_generation("{\"oneOf\":[{\"const\":\"a\\\"b\"},{\"enum\":[\"日本\",1.5,[true]]}]}", 10, 10);

    lir_grammar *g = schema_grammar("{\"type\":\"object\",\"properties\":{\"kind\":{\"type\":\"string\"}},\"required\":[\"kind\"],"
                                    "\"anyOf\":[{\"properties\":{\"kind\":{\"const\":\"a\"}}},{\"properties\":{\"kind\":{\"const\":\"b\"}}}]}");
    cr_assert(accepts_str(g, "{\"kind\": \"a\"}"));
    cr_assert(accepts_str(g, "{\"kind\":\"b\"}"));
    cr_assert(!accepts_str(g, "{\"kind\": \"c\"}"));
    lir_grammar_free(g);
}

static void check_int_range(const char *schema, long lo, long hi) {
    lir_grammar *g = schema_grammar(schema);
    for (long x = -1100; x <= 11000; x++) {
        char buf[32];
        snprintf(buf, sizeof buf, "%ld", x);
        cr_assert_eq(accepts_str(g, buf), x >= lo && x <= hi, "%s: %ld", schema, x);
    }
    cr_assert(!accepts_str(g, "-0") || lo <= 0);
    cr_assert(!accepts_str(g, "007"));
    lir_grammar_free(g);
}

Test(grammar_json, schema_integer_ranges_value_by_value) {
    check_int_range("{\"type\":\"integer\",\"minimum\":-123,\"maximum\":4567}", -123, 4567);
    check_int_range("{\"type\":\"integer\",\"minimum\":7,\"maximum\":7}", 7, 7);
    check_int_range("{\"type\":\"integer\",\"minimum\":0,\"maximum\":150}", 0, 150);
    check_int_range("{\"type\":\"integer\",\"minimum\":-50,\"maximum\":-3}", -50, -3);
    check_int_range("{\"type\":\"integer\",\"minimum\":10}", 10, 1L << 40);
    check_int_range("{\"type\":\"integer\",\"maximum\":-20}", -(1L << 40), -20);
    check_int_range("{\"type\":\"integer\",\"exclusiveMinimum\":99,\"exclusiveMaximum\":1000}", 100, 999);
    check_int_range("{\"type\":\"integer\",\"minimum\":1.5,\"maximum\":9999.5}", 2, 9999);
    check_int_range("{\"type\":\"integer\",\"minimum\":5,\"exclusiveMinimum\":true,\"maximum\":10}", 6, 10);
}

Test(grammar_json, schema_errors_and_unsupported_keywords_listed) {
    char *text = (char *)1;
    char err[1024];
    cr_assert_eq(lir_json_schema_to_gbnf("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"pattern\":\"^x\"},"
                                         "\"b\":{\"type\":\"array\",\"uniqueItems\":true}},\"not\":{}}",
                                         &text, err, sizeof err),
                 LIR_EUNSUPPORTED);
    cr_assert_null(text);
    cr_assert(strstr(err, "/properties/a: pattern"), "%s", err);
    cr_assert(strstr(err, "/properties/b: uniqueItems"), "%s", err);
    cr_assert(strstr(err, "/: not"), "%s", err);
    cr_assert_eq(lir_json_schema_to_gbnf("{\"type\":\"number\",\"minimum\":0}", &text, err, sizeof err), LIR_EUNSUPPORTED);
    cr_assert(strstr(err, "minimum/maximum on type number"), "%s", err);
    cr_assert_eq(lir_json_schema_to_gbnf("{\"type\":\"string\",\"format\":\"ipv4\"}", &text, err, sizeof err), LIR_EUNSUPPORTED);
    cr_assert(strstr(err, "format \"ipv4\""), "%s", err);
    cr_assert_eq(lir_json_schema_to_gbnf("{\"$ref\":\"https://example.com/s.json\"}", &text, err, sizeof err), LIR_EUNSUPPORTED);
    cr_assert_eq(lir_json_schema_to_gbnf("{\"type\":", &text, err, sizeof err), LIR_EINVAL);
    cr_assert(strstr(err, "not JSON"), "%s", err);
    cr_assert_eq(lir_json_schema_to_gbnf("{\"$ref\":\"#/$defs/missing\"}", &text, err, sizeof err), LIR_EINVAL);
    cr_assert(strstr(err, "does not resolve"), "%s", err);
    cr_assert_eq(lir_json_schema_to_gbnf("{\"type\":\"integer\",\"minimum\":5,\"maximum\":4}", &text, err, sizeof err), LIR_EINVAL);
    cr_assert_eq(lir_json_schema_to_gbnf("{\"type\":\"wat\"}", &text, err, sizeof err), LIR_EINVAL);
    cr_assert_eq(lir_json_schema_to_gbnf("false", &text, err, sizeof err), LIR_EINVAL);
    /* annotations and extensions are fine; true and {} mean any value */
    cr_assert_eq(lir_json_schema_to_gbnf("{\"title\":\"t\",\"description\":\"d\",\"x-foo\":1,\"$schema\":\"s\"}", &text, err,
                                         sizeof err), LIR_OK, "%s", err);
    lir_grammar_text_free(text);
    lir_grammar *g = schema_grammar("true");
    cr_assert(accepts_str(g, "[1, {\"a\": null}]"));
    lir_grammar_free(g);
}

Test(grammar_json, deep_nesting_compacts_and_keeps_working) {
    /* stacks as deep as the nesting; thousands of nodes created and dropped again, so the pool
     * is compacted (ids renumbered, caches dropped) several times along the way */
    lir_grammar *g;
    cr_assert_eq(lir_grammar_json(false, &g), LIR_OK);
    lir_grammar_state *st;
    cr_assert_eq(lir_grammar_state_create(g, &st), LIR_OK);
    struct gen_vocab gv;
    gen_vocab_init(&gv);
    float *logits = malloc((size_t)gv.n * sizeof *logits);
    cr_assert_eq(lir_grammar_accept_bytes(st, "[", 1), LIR_OK);
    for (int round = 0; round < 6; round++) {
        for (int i = 0; i < 3000; i++) cr_assert_eq(lir_grammar_accept_bytes(st, i % 2 ? "[" : "{\"k\":", i % 2 ? 1 : 5), LIR_OK);
        cr_assert_eq(lir_grammar_filter_logits(st, gv.v, logits), LIR_OK);
        for (int i = 2999; i >= 0; i--) {
            const char *close = i == 2999 ? "1]" : i % 2 ? "]" : "}";
            cr_assert_eq(lir_grammar_accept_bytes(st, close, strlen(close)), LIR_OK, "%d", i);
        }
        cr_assert_eq(lir_grammar_accept_bytes(st, ",", 1), LIR_OK);
        for (int32_t t = 0; t < gv.n; t++) logits[t] = 0;
        cr_assert_eq(lir_grammar_filter_logits(st, gv.v, logits), LIR_OK);
        for (int32_t t = 0; t < gv.n; t++) cr_assert_eq(logits[t] == 0, lir_grammar_token_allowed(st, gv.v, t));
        cr_assert(!lir_grammar_token_allowed(st, gv.v, gv.eog));
    }
    cr_assert_eq(lir_grammar_accept_bytes(st, "1]", 2), LIR_OK);
    cr_assert(lir_grammar_can_end(st));
    cr_assert(lir_grammar_token_allowed(st, gv.v, gv.eog));
    free(logits);
    gen_vocab_free(&gv);
    lir_grammar_state_free(st);
    lir_grammar_free(g);
}

Test(grammar_json, mutated_schemas_convert_to_grammars_that_parse) {
    /* byte mutations of schemas: conversion fails with a message, or its GBNF parses (only a
     * schema that refers to itself without consuming anything may fail there, as left recursion) */
    static const char *const schemas[] = {
        "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":12},"
        "\"age\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":150},\"tags\":{\"type\":\"array\",\"items\":"
        "{\"enum\":[\"red\",3,null]},\"minItems\":1,\"maxItems\":3}},\"required\":[\"name\"],"
        "\"additionalProperties\":{\"type\":\"number\"}}",
        "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},\"kids\":{\"type\":"
        "\"array\",\"items\":{\"$ref\":\"#/$defs/node\"}}},\"required\":[\"v\"]}},\"$ref\":\"#/$defs/node\"}",
        "{\"anyOf\":[{\"type\":\"integer\",\"minimum\":-10,\"exclusiveMaximum\":99},{\"type\":\"string\",\"format\":"
        "\"date-time\"},{\"allOf\":[{\"properties\":{\"a\":{\"const\":1}}},{\"properties\":{\"b\":{\"type\":\"null\"}}}]}]}",
    };
    uint64_t rng = 777;
    int ok = 0, bad = 0;
    for (size_t s = 0; s < sizeof schemas / sizeof *schemas; s++) {
        size_t n = strlen(schemas[s]);
        for (int it = 0; it < 600; it++) {
            char *m = strdup(schemas[s]);
            int edits = 1 + (int)(gen_rand(&rng) % 3);
            for (int e = 0; e < edits; e++) {
                static const char pool[] = "{}[]\":,0123456789-atrue ";
                m[gen_rand(&rng) % n] = pool[gen_rand(&rng) % (sizeof pool - 1)];
            }
            char *text = NULL;
            char err[1024] = "";
            enum lir_status st = lir_json_schema_to_gbnf(m, &text, err, sizeof err);
            if (st == LIR_OK) {
                ok++;
                lir_grammar *g = NULL;
                enum lir_status ps = lir_grammar_parse(text, NULL, &g, err, sizeof err);
                cr_assert(ps == LIR_OK || strstr(err, "left recursion") || strstr(err, "never finish"),
                          "schema %s\ngave GBNF that does not parse: %s\n%s", m, err, text);
                lir_grammar_free(g);
                lir_grammar_text_free(text);
            } else {
                bad++;
                cr_assert_null(text);
                cr_assert(strncmp(err, "json schema: ", 13) == 0, "%s", err);
            }
            free(m);
        }
    }
    cr_assert(ok > 50 && bad > 50, "ok %d, failed %d", ok, bad);
}

/* format "date" is a calendar date (RFC 3339, as ajv-formats checks it): each month's days,
 * 02-29 only in leap years. */
Test(grammar_json, schema_date_format_is_a_calendar_date) {
    lir_grammar *g = schema_grammar("{\"type\":\"string\",\"format\":\"date\"}");
    static const char *const good[] = { "\"2024-02-29\"", "\"2000-02-29\"", "\"0000-02-29\"", "\"1996-02-29\"",
                                        "\"2023-02-28\"", "\"2023-01-31\"", "\"2023-12-31\"", "\"2023-04-30\"",
                                        "\"2023-11-30\"", "\"2023-08-31\"", "\"1904-02-29\"", "\"2400-02-29\"" };
    static const char *const bad[] = { "\"2023-02-29\"", "\"1900-02-29\"", "\"2100-02-29\"", "\"2024-02-30\"",
                                       "\"2023-04-31\"", "\"2023-06-31\"", "\"2023-09-31\"", "\"2023-11-31\"",
                                       "\"2023-13-01\"", "\"2023-00-10\"", "\"2023-05-00\"", "\"2023-05-32\"" };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) cr_assert(accepts_str(g, good[i]), "%s refused", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) cr_assert(!accepts_str(g, bad[i]), "%s accepted", bad[i]);
    lir_grammar_free(g);
    /* every generated date is a real one (the test's own calendar check) */
    check_schema_generation("{\"type\":\"array\",\"items\":{\"type\":\"string\",\"format\":\"date\"},\"minItems\":8,"
                            "\"maxItems\":8}", 30, 10);
}
