/* json_schema.c — JSON Schema to GBNF, for structured output (response_format json_schema).
 *
 * Each schema node becomes a rule whose strings are exactly the JSON texts the node accepts
 * (each followed by `space`, at most one space or a newline plus 20 indentation characters),
 * as far as a context-free grammar can say it:
 *   type (one or several), enum, const, anyOf/oneOf (alternation: oneOf's exclusivity is not
 *   enforced), allOf (keywords merged; properties present in several branches become allOf of
 *   their schemas; conflicting scalar keywords are an error), local $ref (JSON pointers into
 *   the document; a referenced node is one named rule, so recursive schemas work).
 *   object: properties in their declared order; required ones always, optional ones may be
 *   left out; additionalProperties true/schema adds any number of further members after them
 *   whose keys are not the declared names; absent additionalProperties means none when
 *   properties are given (llama.cpp's choice: faster, fewer invented keys) and any object when
 *   nothing is said about members.
 *   array: items, prefixItems (all present, in order), minItems, maxItems.
 *   string: minLength, maxLength (in characters, an escape counting one), format date, time,
 *   date-time, uuid, email.
 *   integer: minimum, maximum, exclusiveMinimum, exclusiveMaximum (numbers, or draft-4 booleans),
 *   expressed digit by digit; unbounded sides allow up to 16 digits.
 * Every other keyword is an error; all of them are collected and listed with their paths.
 * Annotations (title, description, default, examples, $comment, ...) and x-* extensions are
 * ignored. */
#include "grammar/grammar.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

/* ================================================================ string builder */

struct sb {
    char *p;
    size_t n, cap;
    bool oom;
};

static void sb_addn(struct sb *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < b->n + n + 1) c *= 2;
        char *q = realloc(b->p, c);
        if (!q) { b->oom = true; return; }
        b->p = q;
        b->cap = c;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_add(struct sb *b, const char *s) { sb_addn(b, s, strlen(s)); }

__attribute__((format(printf, 2, 3)))
static void sb_addf(struct sb *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    if ((size_t)k < sizeof tmp) { sb_addn(b, tmp, (size_t)k); return; }
    char *big = malloc((size_t)k + 1);
    if (!big) { b->oom = true; return; }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)k + 1, fmt, ap);
    va_end(ap);
    sb_addn(b, big, (size_t)k);
    free(big);
}

/* A GBNF string literal for len bytes of UTF-8 text. */
static void sb_lit(struct sb *b, const char *s, size_t len) {
    sb_add(b, "\"");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') sb_add(b, "\\\"");
        else if (c == '\\') sb_add(b, "\\\\");
        else if (c == '\n') sb_add(b, "\\n");
        else if (c == '\r') sb_add(b, "\\r");
        else if (c == '\t') sb_add(b, "\\t");
        else if (c < 0x20 || c == 0x7f) sb_addf(b, "\\x%02X", c);
        else sb_addn(b, (const char *)&c, 1);
    }
    sb_add(b, "\"");
}

/* ================================================================ primitives */

struct prim {
    const char *name, *body;
    const char *deps[6];
};

static const struct prim prims[] = {
    { "space", "| \" \" | \"\\n\" [ \\t]{0,20}", { 0 } },
    { "hex", "[0-9a-fA-F]", { 0 } },
    { "uesc", "[0-9a-cA-Ce-fE-F] hex{3} | [dD] [0-7] hex{2} | [dD] [89abAB] hex{2} \"\\\\u\" [dD] [c-fC-F] hex{2}", { "hex" } },
    { "char", "[^\"\\\\\\x7F\\x00-\\x1F] | [\\\\] ([\"\\\\/bfnrt] | \"u\" uesc)", { "uesc" } },
    { "string", "\"\\\"\" char* \"\\\"\" space", { "char", "space" } },
    { "number", "\"-\"? (\"0\" | [1-9] [0-9]{0,15}) (\".\" [0-9]{1,16})? ([eE] [-+]? [0-9]{1,2})? space", { "space" } },
    { "integer", "\"-\"? (\"0\" | [1-9] [0-9]{0,15}) space", { "space" } },
    { "boolean", "(\"true\" | \"false\") space", { "space" } },
    { "null", "\"null\" space", { "space" } },
    { "value", "object | array | string | number | boolean | null",
      { "object", "array", "string", "number", "boolean", "null" } },
    { "object", "\"{\" space ( string \":\" space value (\",\" space string \":\" space value)* )? \"}\" space",
      { "string", "space", "value" } },
    { "array", "\"[\" space ( value (\",\" space value)* )? \"]\" space", { "value", "space" } },
    /* RFC 3339 full-date: the days each month has; 02-29 only in leap years (divisible by 4,
     * centuries only when divisible by 400), as validators (ajv-formats) check it */
    { "leap-year", "[0-9]{2} ( \"0\" [48] | [2468] [048] | [13579] [26] ) | ( [02468] [048] | [13579] [26] ) \"00\"", { 0 } },
    { "date", "[0-9]{4} \"-\" ( ( \"0\" [13578] | \"1\" [02] ) \"-\" ( \"0\" [1-9] | [12] [0-9] | \"3\" [01] ) "
              "| ( \"0\" [469] | \"11\" ) \"-\" ( \"0\" [1-9] | [12] [0-9] | \"30\" ) "
              "| \"02-\" ( \"0\" [1-9] | \"1\" [0-9] | \"2\" [0-8] ) ) | leap-year \"-02-29\"", { "leap-year" } },
    { "time", "( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] \":\" [0-5] [0-9] ( \".\" [0-9]{1,6} )? "
              "( \"Z\" | [+-] ( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] )", { 0 } },
    { "date-time", "date \"T\" time", { "date", "time" } },
    { "uuid", "hex{8} \"-\" hex{4} \"-\" hex{4} \"-\" hex{4} \"-\" hex{12}", { "hex" } },
    { "email-atom", "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+", { 0 } },
    { "email-label", "[A-Za-z0-9] ( [A-Za-z0-9-]{0,61} [A-Za-z0-9] )?", { 0 } },
    { "email", "email-atom (\".\" email-atom)* \"@\" email-label (\".\" email-label)+", { "email-atom", "email-label" } },
    { "date-string", "\"\\\"\" date \"\\\"\" space", { "date", "space" } },
    { "time-string", "\"\\\"\" time \"\\\"\" space", { "time", "space" } },
    { "date-time-string", "\"\\\"\" date-time \"\\\"\" space", { "date-time", "space" } },
    { "uuid-string", "\"\\\"\" uuid \"\\\"\" space", { "uuid", "space" } },
    { "email-string", "\"\\\"\" email \"\\\"\" space", { "email", "space" } },
};

/* ================================================================ converter */

struct conv {
    json_t *doc;        /* the whole schema (for $ref) */
    json_t *names;      /* object used as a set of rule names taken */
    json_t *refs;       /* "$ref string" -> rule name */
    json_t *prims_done; /* set of primitives emitted */
    struct sb rules;
    struct sb unsup;    /* "path: keyword, ..." */
    int n_unsup;
    enum lir_status st; /* first hard error (EINVAL, ENOMEM) */
    lir_err *e;
};

__attribute__((format(printf, 3, 4)))
static void hard_error(struct conv *c, enum lir_status s, const char *fmt, ...) {
    if (c->st) return;
    c->st = s;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    lir__errf(c->e, s, "json schema: %s", msg);
}

static void unsupported(struct conv *c, const char *path, const char *what) {
    if (c->n_unsup++) sb_add(&c->unsup, ", ");
    sb_addf(&c->unsup, "%s: %s", *path ? path : "/", what);
}

/* Emits a primitive and what it uses, once; returns its name. */
static const char *need(struct conv *c, const char *name) {
    for (size_t i = 0; i < sizeof prims / sizeof *prims; i++) {
        if (strcmp(prims[i].name, name)) continue;
        if (json_object_get(c->prims_done, name)) return prims[i].name;
        json_object_set_new(c->prims_done, name, json_true());
        sb_addf(&c->rules, "%s ::= %s\n", prims[i].name, prims[i].body);
        for (int k = 0; k < 6 && prims[i].deps[k]; k++) need(c, prims[i].deps[k]);
        return prims[i].name;
    }
    return "value"; /* not reached: names are from the table */
}

/* A fresh rule name from a hint: letters, digits and '-' only; numbered when taken. */
static char *reserve_name(struct conv *c, const char *hint) {
    char base[96];
    size_t k = 0;
    for (const char *p = hint; *p && k < sizeof base - 12; p++) {
        char ch = *p;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        if (ok) base[k++] = ch;
        else if (k && base[k - 1] != '-') base[k++] = '-';
    }
    while (k && base[k - 1] == '-') k--;
    if (!k) { memcpy(base, "rule", 4); k = 4; }
    base[k] = 0;
    char name[112];
    snprintf(name, sizeof name, "%s", base);
    for (int i = 1; json_object_get(c->names, name); i++) snprintf(name, sizeof name, "%s-%d", base, i);
    json_object_set_new(c->names, name, json_true());
    char *r = strdup(name);
    if (!r) hard_error(c, LIR_ENOMEM, "out of memory");
    return r;
}

static void define(struct conv *c, const char *name, const char *body) {
    sb_addf(&c->rules, "%s ::= %s\n", name, body);
}

static char *visit(struct conv *c, json_t *s, const char *hint, const char *path, int depth);

static bool is_annotation(const char *k) {
    static const char *const a[] = { "title", "description", "default", "examples", "$schema", "$id", "$comment",
                                     "readOnly", "writeOnly", "deprecated", "$defs", "definitions",
                                     "contentMediaType", "contentEncoding", "$anchor" };
    if (!strncmp(k, "x-", 2)) return true;
    for (size_t i = 0; i < sizeof a / sizeof *a; i++)
        if (!strcmp(k, a[i])) return true;
    return false;
}

static bool is_known(const char *k) {
    static const char *const a[] = { "type", "properties", "required", "additionalProperties", "enum", "const",
                                     "items", "prefixItems", "minItems", "maxItems", "anyOf", "oneOf", "allOf",
                                     "minLength", "maxLength", "format", "minimum", "maximum", "exclusiveMinimum",
                                     "exclusiveMaximum", "$ref" };
    for (size_t i = 0; i < sizeof a / sizeof *a; i++)
        if (!strcmp(k, a[i])) return true;
    return is_annotation(k);
}

/* Resolves a local $ref. NULL (error recorded) when it cannot. Borrowed. */
static json_t *resolve(struct conv *c, const char *ref, const char *path) {
    if (ref[0] != '#') {
        unsupported(c, path, "$ref to another document");
        return NULL;
    }
    json_t *cur = c->doc;
    const char *p = ref + 1;
    if (*p && *p != '/') {
        unsupported(c, path, "$ref to an anchor");
        return NULL;
    }
    while (*p == '/' && cur) {
        p++;
        char seg[256];
        size_t k = 0;
        while (*p && *p != '/' && k < sizeof seg - 1) {
            if (p[0] == '~' && p[1] == '1') { seg[k++] = '/'; p += 2; }
            else if (p[0] == '~' && p[1] == '0') { seg[k++] = '~'; p += 2; }
            else seg[k++] = *p++;
        }
        seg[k] = 0;
        if (json_is_object(cur)) cur = json_object_get(cur, seg);
        else if (json_is_array(cur)) {
            char *end;
            unsigned long i = strtoul(seg, &end, 10);
            cur = *end || !*seg ? NULL : json_array_get(cur, i);
        } else cur = NULL;
    }
    if (!cur) hard_error(c, LIR_EINVAL, "%s: $ref \"%s\" does not resolve in this document", *path ? path : "/", ref);
    return cur;
}

static char *path_join(const char *path, const char *seg) {
    size_t n = strlen(path) + strlen(seg) + 2;
    char *r = malloc(n);
    if (r) snprintf(r, n, "%s/%s", path, seg);
    return r;
}

/* ---------------------------------------------------------------- allOf */

/* Merges src's keywords into dst (a fresh object). */
static void merge_into(struct conv *c, json_t *dst, json_t *src, const char *path, int depth) {
    if (depth > MAX_DEPTH) { hard_error(c, LIR_EINVAL, "%s: $ref/allOf chain too deep", path); return; }
    if (json_is_true(src)) return;
    if (!json_is_object(src)) {
        if (json_is_false(src)) hard_error(c, LIR_EINVAL, "%s: allOf holds the schema false: nothing matches", path);
        else hard_error(c, LIR_EINVAL, "%s: allOf entries must be schemas", path);
        return;
    }
    json_t *ref = json_object_get(src, "$ref");
    if (json_is_string(ref)) {
        json_t *t = resolve(c, json_string_value(ref), path);
        if (t) merge_into(c, dst, t, path, depth + 1);
    }
    json_t *all = json_object_get(src, "allOf");
    if (json_is_array(all)) {
        size_t i;
        json_t *sub;
        json_array_foreach(all, i, sub) merge_into(c, dst, sub, path, depth + 1);
    }
    const char *k;
    json_t *v;
    json_object_foreach(src, k, v) {
        if (!strcmp(k, "$ref") || !strcmp(k, "allOf") || is_annotation(k)) continue;
        json_t *old = json_object_get(dst, k);
        if (!old) { json_object_set(dst, k, v); continue; }
        if (!strcmp(k, "properties") && json_is_object(old) && json_is_object(v)) {
            json_t *merged = json_deep_copy(old);
            const char *pk;
            json_t *pv;
            json_object_foreach(v, pk, pv) {
                json_t *o = json_object_get(merged, pk);
                if (!o || json_equal(o, pv)) json_object_set(merged, pk, pv);
                else json_object_set_new(merged, pk, json_pack("{s:[O,O]}", "allOf", o, pv));
            }
            json_object_set_new(dst, k, merged);
        } else if (!strcmp(k, "required") && json_is_array(old) && json_is_array(v)) {
            json_t *u = json_copy(old);
            size_t i, j;
            json_t *x, *y;
            json_array_foreach(v, i, x) {
                bool have = false;
                json_array_foreach(u, j, y) if (json_equal(x, y)) have = true;
                if (!have) json_array_append(u, x);
            }
            json_object_set_new(dst, k, u);
        } else if (!json_equal(old, v)) {
            char what[160];
            snprintf(what, sizeof what, "allOf with conflicting \"%s\"", k);
            unsupported(c, path, what);
        }
    }
}

/* ---------------------------------------------------------------- integers */

/* Digits a..b (same length, leading zeros allowed) as a GBNF expression. */
static void digits_range(struct sb *b, const char *a, const char *z, size_t n) {
    size_t i = 0;
    while (i < n && a[i] == z[i]) i++;
    if (i) sb_lit(b, a, i);
    if (i == n) return;
    if (i) sb_add(b, " ");
    size_t rest = n - i - 1;
    if (rest == 0) { sb_addf(b, "[%c-%c]", a[i], z[i]); return; }
    bool a0 = true, z9 = true;
    for (size_t k = i + 1; k < n; k++) { a0 &= a[k] == '0'; z9 &= z[k] == '9'; }
    if (a0 && z9) { sb_addf(b, "[%c-%c] [0-9]{%zu}", a[i], z[i], rest); return; }
    char nines[32], zeros[32];
    memset(nines, '9', rest);
    memset(zeros, '0', rest);
    sb_add(b, "(");
    sb_addf(b, "\"%c\" (", a[i]);
    digits_range(b, a + i + 1, nines, rest);
    sb_add(b, ")");
    if (z[i] - a[i] > 1) sb_addf(b, " | [%c-%c] [0-9]{%zu}", a[i] + 1, z[i] - 1, rest);
    sb_addf(b, " | \"%c\" (", z[i]);
    digits_range(b, zeros, z + i + 1, rest);
    sb_add(b, "))");
}

/* Non-negative integers lo..hi without leading zeros (hi < 0: unbounded, up to 16 digits). */
static void nonneg_range(struct sb *b, long long lo, long long hi) {
    char ls[32], hs[32];
    int ln = snprintf(ls, sizeof ls, "%lld", lo);
    int hn = hi >= 0 ? snprintf(hs, sizeof hs, "%lld", hi) : 16;
    if (ln > hn) hn = ln;
    sb_add(b, "(");
    for (int len = ln; len <= hn; len++) {
        if (len > ln) sb_add(b, " | ");
        char a[32], z[32];
        if (len == ln) memcpy(a, ls, (size_t)len);
        else { a[0] = '1'; memset(a + 1, '0', (size_t)len - 1); }
        if (hi >= 0 && len == hn) memcpy(z, hs, (size_t)len);
        else if (hi < 0 && len > ln) { /* unbounded: every longer length at once */
            sb_addf(b, "[1-9] [0-9]{%d,%d}", len - 1, hn - 1);
            break;
        } else memset(z, '9', (size_t)len);
        digits_range(b, a, z, (size_t)len);
    }
    sb_add(b, ")");
}

static bool num_value(json_t *v, double *out) {
    if (json_is_integer(v)) { *out = (double)json_integer_value(v); return true; }
    if (json_is_real(v)) { *out = json_real_value(v); return true; }
    return false;
}

/* integer with bounds: body text into b */
static void integer_body(struct conv *c, struct sb *b, json_t *s, const char *path) {
    const double LIM = 9e15; /* 16 digits: the unbounded sides' reach */
    bool has_lo = false, has_hi = false;
    double lo = 0, hi = 0, x;
    json_t *v;
    if ((v = json_object_get(s, "minimum")) && num_value(v, &x)) { has_lo = true; lo = ceil(x); }
    if ((v = json_object_get(s, "maximum")) && num_value(v, &x)) { has_hi = true; hi = floor(x); }
    if ((v = json_object_get(s, "exclusiveMinimum"))) {
        if (num_value(v, &x)) { double l = floor(x) + 1; if (!has_lo || l > lo) lo = l; has_lo = true; }
        else if (json_is_true(v) && has_lo && lo == floor(lo) && json_number_value(json_object_get(s, "minimum")) == lo) lo += 1;
    }
    if ((v = json_object_get(s, "exclusiveMaximum"))) {
        if (num_value(v, &x)) { double h = ceil(x) - 1; if (!has_hi || h < hi) hi = h; has_hi = true; }
        else if (json_is_true(v) && has_hi && json_number_value(json_object_get(s, "maximum")) == hi) hi -= 1;
    }
    if ((has_lo && fabs(lo) > LIM) || (has_hi && fabs(hi) > LIM)) {
        unsupported(c, path, "integer bounds beyond 16 digits");
        return;
    }
    if (has_lo && has_hi && lo > hi) {
        hard_error(c, LIR_EINVAL, "%s: no integer lies between minimum and maximum", *path ? path : "/");
        return;
    }
    long long L = (long long)lo, H = (long long)hi;
    sb_add(b, "(");
    bool any = false;
    /* negative part: magnitudes max(1, -H) .. -L */
    if (!has_lo || L < 0) {
        long long mlo = has_hi && H < 0 ? -H : 1, mhi = has_lo ? -L : -1;
        sb_add(b, "\"-\" ");
        nonneg_range(b, mlo, mhi);
        any = true;
    }
    if (!has_hi || H >= 0) {
        if (any) sb_add(b, " | ");
        nonneg_range(b, has_lo && L > 0 ? L : 0, has_hi ? H : -1);
    }
    sb_add(b, ") space");
    need(c, "space");
}

/* ---------------------------------------------------------------- objects */

/* "key not among the declared ones" as the inside of a JSON string (a trie of the declared keys,
 * each node allowing any other character). False when it cannot say it (too many distinct
 * characters at one point, a very long key): then the caller allows any key. */
static bool key_excluding(struct conv *c, struct sb *b, json_t *props, const char *prefix, size_t depth) {
    /* the set of next characters among keys that start with prefix */
    const char *k;
    json_t *v;
    char chars[512];
    size_t nch = 0;
    bool terminal = false;
    size_t plen = strlen(prefix);
    json_object_foreach(props, k, v) {
        if (strncmp(k, prefix, plen)) continue;
        if (!k[plen]) { terminal = true; continue; }
        size_t cl = 1;
        unsigned char lead = (unsigned char)k[plen];
        if (lead >= 0xF0) cl = 4; else if (lead >= 0xE0) cl = 3; else if (lead >= 0xC0) cl = 2;
        bool dup = false;
        for (size_t i = 0; i < nch;) {
            size_t il = 1;
            unsigned char l2 = (unsigned char)chars[i];
            if (l2 >= 0xF0) il = 4; else if (l2 >= 0xE0) il = 3; else if (l2 >= 0xC0) il = 2;
            if (il == cl && !memcmp(chars + i, k + plen, cl)) dup = true;
            i += il;
        }
        if (dup) continue;
        if (nch + cl >= sizeof chars) return false; /* too many: the caller allows any key */
        memcpy(chars + nch, k + plen, cl);
        nch += cl;
    }
    sb_add(b, "(");
    bool first = true;
    for (size_t i = 0; i < nch;) {
        size_t il = 1;
        unsigned char l2 = (unsigned char)chars[i];
        if (l2 >= 0xF0) il = 4; else if (l2 >= 0xE0) il = 3; else if (l2 >= 0xC0) il = 2;
        char next[1024];
        if (plen + il >= sizeof next) return false;
        memcpy(next, prefix, plen);
        memcpy(next + plen, chars + i, il);
        next[plen + il] = 0;
        if (!first) sb_add(b, " | ");
        first = false;
        sb_lit(b, chars + i, il);
        sb_add(b, " ");
        if (!key_excluding(c, b, props, next, depth + 1)) return false;
        i += il;
    }
    /* any other character, then anything */
    if (!first) sb_add(b, " | ");
    sb_add(b, "([^\"\\\\\\x7F\\x00-\\x1F");
    for (size_t i = 0; i < nch; i++) {
        unsigned char ch = (unsigned char)chars[i];
        if (ch == ']' || ch == '-' || ch == '^' || ch == '[') sb_addf(b, "\\%c", ch);
        else sb_addn(b, chars + i, 1);
    }
    sb_add(b, "] | [\\\\] ([\"\\\\/bfnrt] | \"u\" uesc)) char*");
    if (!terminal) sb_add(b, " | \"\"");
    sb_add(b, ")");
    need(c, "char");
    need(c, "uesc");
    return true;
}

static bool keys_plain(json_t *props) {
    const char *k;
    json_t *v;
    json_object_foreach(props, k, v)
        for (const unsigned char *p = (const unsigned char *)k; *p; p++)
            if (*p == '"' || *p == '\\' || *p < 0x20 || *p == 0x7f) return false;
    return true;
}

static void object_body(struct conv *c, struct sb *b, json_t *s, const char *name, const char *path, int depth) {
    json_t *props = json_object_get(s, "properties");
    json_t *req = json_object_get(s, "required");
    json_t *addl = json_object_get(s, "additionalProperties");
    if (props && !json_is_object(props)) { hard_error(c, LIR_EINVAL, "%s: properties must be an object", path); return; }
    if (req && !json_is_array(req)) { hard_error(c, LIR_EINVAL, "%s: required must be an array", path); return; }
    if (!props && !addl) { /* nothing said about members: any object */
        sb_add(b, need(c, "object"));
        return;
    }
    size_t np = props ? json_object_size(props) : 0;
    bool extra = addl && !json_is_false(addl);
    size_t ns = np + extra;
    char **kv = calloc(ns + 1, sizeof *kv);
    bool *required = calloc(ns + 1, 1);
    if (!kv || !required) { free(kv); free(required); hard_error(c, LIR_ENOMEM, "out of memory"); return; }
    /* required names must be declared (else the object could never be produced as required) */
    size_t i;
    json_t *r;
    json_array_foreach(req, i, r) {
        if (!json_is_string(r)) { hard_error(c, LIR_EINVAL, "%s: required holds a non-string", path); goto out; }
        if (!props || !json_object_get(props, json_string_value(r))) {
            char what[200];
            snprintf(what, sizeof what, "required \"%.120s\" without a schema in properties", json_string_value(r));
            unsupported(c, path, what);
        }
    }
    size_t k = 0;
    const char *key;
    json_t *ps;
    json_object_foreach(props, key, ps) {
        char hint[200], *ppath = NULL, *pp = path_join(path, "properties");
        snprintf(hint, sizeof hint, "%s-%s", name, key);
        if (pp) ppath = path_join(pp, key);
        free(pp);
        char *val = ppath ? visit(c, ps, hint, ppath, depth + 1) : NULL;
        free(ppath);
        if (!val) goto out;
        struct sb t = { 0 };
        json_t *js = json_string(key);
        char *quoted = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
        json_decref(js);
        if (quoted) sb_lit(&t, quoted, strlen(quoted));
        free(quoted);
        sb_addf(&t, " space \":\" space %s", val);
        free(val);
        char kvhint[210];
        snprintf(kvhint, sizeof kvhint, "%s-kv", hint);
        char *kvname = reserve_name(c, kvhint);
        if (!kvname || t.oom) { free(kvname); free(t.p); hard_error(c, LIR_ENOMEM, "out of memory"); goto out; }
        define(c, kvname, t.p);
        free(t.p);
        kv[k] = kvname;
        json_array_foreach(req, i, r) if (json_is_string(r) && !strcmp(json_string_value(r), key)) required[k] = true;
        k++;
    }
    if (extra) {
        char hint[200];
        snprintf(hint, sizeof hint, "%s-additional", name);
        char *ap = path_join(path, "additionalProperties");
        char *val = ap ? visit(c, addl, hint, ap, depth + 1) : NULL;
        free(ap);
        if (!val) goto out;
        struct sb t = { 0 };
        sb_add(&t, "\"\\\"\" ");
        struct sb kt = { 0 };
        if (np && keys_plain(props) && key_excluding(c, &kt, props, "", 0) && !kt.oom) sb_add(&t, kt.p);
        else { sb_add(&t, "char*"); need(c, "char"); }
        free(kt.p);
        sb_addf(&t, " \"\\\"\" space \":\" space %s", val);
        free(val);
        snprintf(hint, sizeof hint, "%s-additional-kv", name);
        char *kvname = reserve_name(c, hint);
        if (!kvname || t.oom) { free(kvname); free(t.p); hard_error(c, LIR_ENOMEM, "out of memory"); goto out; }
        define(c, kvname, t.p);
        free(t.p);
        kv[k++] = kvname;
    }
    need(c, "space");
    /* members in order: each alternative starts at one member (the first present), the rest
     * follow with commas; no alternative may skip a required member */
    sb_add(b, "\"{\" space");
    if (ns) {
        sb_add(b, " (");
        bool all_optional = true;
        for (size_t a = 0; a < ns; a++) {
            bool rep = extra && a == ns - 1;
            if (a) sb_add(b, " | ");
            sb_add(b, kv[a]);
            if (rep) sb_addf(b, " (\",\" space %s)*", kv[a]);
            for (size_t j = a + 1; j < ns; j++) {
                bool rj = extra && j == ns - 1;
                if (required[j]) sb_addf(b, " \",\" space %s", kv[j]);
                else sb_addf(b, " (\",\" space %s)%s", kv[j], rj ? "*" : "?");
            }
            if (required[a]) { all_optional = false; break; }
        }
        sb_add(b, all_optional ? ")?" : ")");
    }
    sb_add(b, " \"}\" space");
out:
    for (size_t j = 0; j < ns; j++) free(kv[j]);
    free(kv);
    free(required);
}

/* ---------------------------------------------------------------- arrays */

static bool count_kw(struct conv *c, json_t *s, const char *k, const char *path, long long *out) {
    json_t *v = json_object_get(s, k);
    if (!v) return false;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100000) {
        hard_error(c, LIR_EINVAL, "%s: %s must be an integer in 0..100000", *path ? path : "/", k);
        return false;
    }
    *out = json_integer_value(v);
    return true;
}

static void array_body(struct conv *c, struct sb *b, json_t *s, const char *name, const char *path, int depth) {
    json_t *items = json_object_get(s, "items");
    json_t *prefix = json_object_get(s, "prefixItems");
    long long mn = 0, mx = -1;
    bool has_min = count_kw(c, s, "minItems", path, &mn);
    count_kw(c, s, "maxItems", path, &mx);
    if (c->st) return;
    if (mx >= 0 && mn > mx) { hard_error(c, LIR_EINVAL, "%s: minItems above maxItems", *path ? path : "/"); return; }
    if (items && json_is_array(items)) { unsupported(c, path, "items as an array (use prefixItems)"); return; }
    if (prefix && !json_is_array(prefix)) { hard_error(c, LIR_EINVAL, "%s: prefixItems must be an array", path); return; }
    size_t np = prefix ? json_array_size(prefix) : 0;
    if (np && has_min && (size_t)mn < np) { unsupported(c, path, "minItems below the number of prefixItems"); return; }
    if (np && mx >= 0 && (size_t)mx < np) { hard_error(c, LIR_EINVAL, "%s: maxItems below the number of prefixItems", path); return; }
    need(c, "space");
    sb_add(b, "\"[\" space");
    size_t i;
    json_t *ps;
    json_array_foreach(prefix, i, ps) {
        char hint[200], seg[32], *pp = path_join(path, "prefixItems"), *ppath = NULL;
        snprintf(hint, sizeof hint, "%s-%zu", name, i);
        snprintf(seg, sizeof seg, "%zu", i);
        if (pp) ppath = path_join(pp, seg);
        free(pp);
        char *val = ppath ? visit(c, ps, hint, ppath, depth + 1) : NULL;
        free(ppath);
        if (!val) return;
        sb_addf(b, i ? " \",\" space %s" : " %s", val);
        free(val);
    }
    /* the rest: items (absent or true: any value; false: none) */
    long long rmin = mn > (long long)np ? mn - (long long)np : 0, rmax = mx >= 0 ? mx - (long long)np : -1;
    if (json_is_false(items)) rmax = 0;
    if (rmax != 0 && rmin <= (rmax < 0 ? rmin : rmax)) {
        char hint[200];
        snprintf(hint, sizeof hint, "%s-item", name);
        char *ip = path_join(path, "items");
        char *val = ip ? (items ? visit(c, items, hint, ip, depth + 1) : strdup(need(c, "value"))) : NULL;
        free(ip);
        if (!val) return;
        if (np) { /* every further item follows a comma */
            if (rmax < 0) sb_addf(b, " (\",\" space %s){%lld,}", val, rmin);
            else sb_addf(b, " (\",\" space %s){%lld,%lld}", val, rmin, rmax);
        } else if (rmin == 0) {
            if (rmax < 0) sb_addf(b, " (%s (\",\" space %s)*)?", val, val);
            else sb_addf(b, " (%s (\",\" space %s){0,%lld})?", val, val, rmax - 1);
        } else {
            if (rmax < 0) sb_addf(b, " %s (\",\" space %s){%lld,}", val, val, rmin - 1);
            else sb_addf(b, " %s (\",\" space %s){%lld,%lld}", val, val, rmin - 1, rmax - 1);
        }
        free(val);
    } else if (rmin > 0) {
        hard_error(c, LIR_EINVAL, "%s: minItems asks for more items than items allows", *path ? path : "/");
        return;
    }
    sb_add(b, " \"]\" space");
}

/* ---------------------------------------------------------------- strings */

static void string_body(struct conv *c, struct sb *b, json_t *s, const char *path) {
    json_t *fmt = json_object_get(s, "format");
    long long mn = 0, mx = -1;
    bool has_min = count_kw(c, s, "minLength", path, &mn), has_max = count_kw(c, s, "maxLength", path, &mx);
    if (c->st) return;
    if (fmt) {
        static const char *const known[] = { "date", "time", "date-time", "uuid", "email" };
        const char *f = json_string_value(fmt);
        for (size_t i = 0; f && i < sizeof known / sizeof *known; i++)
            if (!strcmp(f, known[i])) {
                if (has_min || has_max) unsupported(c, path, "minLength/maxLength together with format");
                char nm[40];
                snprintf(nm, sizeof nm, "%s-string", f);
                sb_add(b, need(c, nm));
                return;
            }
        char what[160];
        snprintf(what, sizeof what, "format \"%.100s\"", f ? f : "(not a string)");
        unsupported(c, path, what);
        return;
    }
    if (!has_min && !has_max) { sb_add(b, need(c, "string")); return; }
    if (has_max && mn > mx) { hard_error(c, LIR_EINVAL, "%s: minLength above maxLength", *path ? path : "/"); return; }
    need(c, "char");
    need(c, "space");
    if (has_max) sb_addf(b, "\"\\\"\" char{%lld,%lld} \"\\\"\" space", mn, mx);
    else sb_addf(b, "\"\\\"\" char{%lld,} \"\\\"\" space", mn);
}

/* ---------------------------------------------------------------- dispatch */

/* The body for one type name. */
static void type_body(struct conv *c, struct sb *b, json_t *s, const char *type, const char *name, const char *path,
                      int depth) {
    if (!strcmp(type, "string")) string_body(c, b, s, path);
    else if (!strcmp(type, "integer")) {
        if (json_object_get(s, "minimum") || json_object_get(s, "maximum") || json_object_get(s, "exclusiveMinimum") ||
            json_object_get(s, "exclusiveMaximum"))
            integer_body(c, b, s, path);
        else sb_add(b, need(c, "integer"));
    } else if (!strcmp(type, "number")) {
        if (json_object_get(s, "minimum") || json_object_get(s, "maximum") || json_object_get(s, "exclusiveMinimum") ||
            json_object_get(s, "exclusiveMaximum"))
            unsupported(c, path, "minimum/maximum on type number (only integers)");
        sb_add(b, need(c, "number"));
    } else if (!strcmp(type, "boolean")) sb_add(b, need(c, "boolean"));
    else if (!strcmp(type, "null")) sb_add(b, need(c, "null"));
    else if (!strcmp(type, "object")) object_body(c, b, s, name, path, depth);
    else if (!strcmp(type, "array")) array_body(c, b, s, name, path, depth);
    else hard_error(c, LIR_EINVAL, "%s: unknown type \"%s\"", *path ? path : "/", type);
}

/* Value keywords besides annotations. */
static bool has_value_keywords(json_t *s, const char *except1, const char *except2) {
    const char *k;
    json_t *v;
    json_object_foreach(s, k, v) {
        if (is_annotation(k) || !strcmp(k, except1) || !strcmp(k, except2)) continue;
        return true;
    }
    return false;
}

static void literal_value(struct conv *c, struct sb *b, json_t *v) {
    char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!t) { hard_error(c, LIR_ENOMEM, "out of memory"); return; }
    sb_lit(b, t, strlen(t));
    free(t);
}

/* Body of the rule for schema s. */
static void body(struct conv *c, struct sb *b, json_t *s, const char *name, const char *path, int depth) {
    if (depth > MAX_DEPTH) { hard_error(c, LIR_EINVAL, "%s: schema nested deeper than %d", path, MAX_DEPTH); return; }
    if (json_is_true(s)) { sb_add(b, need(c, "value")); return; }
    if (json_is_false(s)) { hard_error(c, LIR_EINVAL, "%s: the schema false matches nothing", *path ? path : "/"); return; }
    if (!json_is_object(s)) { hard_error(c, LIR_EINVAL, "%s: a schema must be an object or a boolean", *path ? path : "/"); return; }
    json_t *ref = json_object_get(s, "$ref");
    json_t *all = json_object_get(s, "allOf");
    if ((ref && has_value_keywords(s, "$ref", "")) || all) { /* merged, then checked as one schema */
        json_t *merged = json_object();
        if (!merged) { hard_error(c, LIR_ENOMEM, "out of memory"); return; }
        merge_into(c, merged, s, path, depth);
        char *r = c->st ? NULL : visit(c, merged, name, path, depth + 1);
        json_decref(merged);
        if (r) sb_add(b, r);
        free(r);
        return;
    }
    const char *k;
    json_t *v;
    json_object_foreach(s, k, v) if (!is_known(k)) unsupported(c, path, k);
    if (ref) {
        if (!json_is_string(ref)) { hard_error(c, LIR_EINVAL, "%s: $ref must be a string", path); return; }
        const char *rs = json_string_value(ref);
        json_t *known = json_object_get(c->refs, rs);
        if (known) { sb_add(b, json_string_value(known)); return; }
        json_t *t = resolve(c, rs, path);
        if (!t) return;
        const char *slash = strrchr(rs, '/');
        char *rn = reserve_name(c, slash && slash[1] ? slash + 1 : "ref-root");
        if (!rn) return;
        json_object_set_new(c->refs, rs, json_string(rn));
        struct sb rb = { 0 };
        char *rpath = strdup(rs);
        if (rpath) body(c, &rb, t, rn, rpath + 1, depth + 1);
        free(rpath);
        if (!c->st) define(c, rn, rb.p ? rb.p : "\"\"");
        free(rb.p);
        sb_add(b, rn);
        free(rn);
        return;
    }
    json_t *any = json_object_get(s, "anyOf");
    if (!any) any = json_object_get(s, "oneOf");
    if (any) {
        if (!json_is_array(any) || !json_array_size(any)) {
            hard_error(c, LIR_EINVAL, "%s: anyOf/oneOf must be a non-empty array", *path ? path : "/");
            return;
        }
        bool siblings = has_value_keywords(s, "anyOf", "oneOf");
        json_t *rest = NULL;
        if (siblings) {
            rest = json_deep_copy(s);
            json_object_del(rest, "anyOf");
            json_object_del(rest, "oneOf");
        }
        sb_add(b, "(");
        size_t i;
        json_t *alt;
        json_array_foreach(any, i, alt) {
            char hint[200], seg[48], *ap;
            snprintf(hint, sizeof hint, "%s-%zu", name, i);
            snprintf(seg, sizeof seg, "%s/%zu", json_object_get(s, "anyOf") ? "anyOf" : "oneOf", i);
            ap = path_join(path, seg);
            json_t *sub = siblings ? json_pack("{s:[O,O]}", "allOf", rest, alt) : json_incref(alt);
            char *r = ap && sub ? visit(c, sub, hint, ap, depth + 1) : NULL;
            json_decref(sub);
            free(ap);
            if (!r) break;
            sb_addf(b, i ? " | %s" : "%s", r);
            free(r);
        }
        sb_add(b, ")");
        json_decref(rest);
        return;
    }
    json_t *cst = json_object_get(s, "const");
    if (cst) {
        sb_add(b, "(");
        literal_value(c, b, cst);
        sb_add(b, ") ");
        sb_add(b, need(c, "space"));
        return;
    }
    json_t *en = json_object_get(s, "enum");
    if (en) {
        if (!json_is_array(en) || !json_array_size(en)) {
            hard_error(c, LIR_EINVAL, "%s: enum must be a non-empty array", *path ? path : "/");
            return;
        }
        sb_add(b, "(");
        size_t i;
        json_t *x;
        json_array_foreach(en, i, x) {
            if (i) sb_add(b, " | ");
            literal_value(c, b, x);
        }
        sb_add(b, ") ");
        sb_add(b, need(c, "space"));
        return;
    }
    json_t *type = json_object_get(s, "type");
    if (json_is_array(type)) {
        if (!json_array_size(type)) { hard_error(c, LIR_EINVAL, "%s: type is an empty array", path); return; }
        sb_add(b, "(");
        size_t i;
        json_t *t;
        json_array_foreach(type, i, t) {
            if (!json_is_string(t)) { hard_error(c, LIR_EINVAL, "%s: type entries must be strings", path); return; }
            if (i) sb_add(b, " | ");
            char hint[200];
            snprintf(hint, sizeof hint, "%s-%s", name, json_string_value(t));
            type_body(c, b, s, json_string_value(t), hint, path, depth);
        }
        sb_add(b, ")");
        return;
    }
    if (type && !json_is_string(type)) { hard_error(c, LIR_EINVAL, "%s: type must be a string or an array", path); return; }
    const char *tn = type ? json_string_value(type) : NULL;
    if (!tn) { /* infer from the keywords present */
        if (json_object_get(s, "properties") || json_object_get(s, "additionalProperties") || json_object_get(s, "required")) tn = "object";
        else if (json_object_get(s, "items") || json_object_get(s, "prefixItems") || json_object_get(s, "minItems") ||
                 json_object_get(s, "maxItems")) tn = "array";
        else if (json_object_get(s, "minLength") || json_object_get(s, "maxLength") || json_object_get(s, "format")) tn = "string";
        else if (json_object_get(s, "minimum") || json_object_get(s, "maximum") || json_object_get(s, "exclusiveMinimum") ||
                 json_object_get(s, "exclusiveMaximum")) tn = "integer";
    }
    if (!tn) { sb_add(b, need(c, "value")); return; }
    type_body(c, b, s, tn, name, path, depth);
}

/* A rule for s named after hint (or a primitive's name when s is just that); malloc'd name,
 * NULL on a hard error. */
static char *visit(struct conv *c, json_t *s, const char *hint, const char *path, int depth) {
    if (c->st) return NULL;
    struct sb b = { 0 };
    body(c, &b, s, hint, path, depth);
    if (c->st || b.oom) {
        free(b.p);
        if (!c->st) hard_error(c, LIR_ENOMEM, "out of memory");
        return NULL;
    }
    if (!b.p) b.p = strdup("\"\"");
    /* a bare name (a primitive or a $ref) needs no rule of its own */
    bool bare = true;
    for (const char *p = b.p; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-')) bare = false;
    if (bare && *b.p) return b.p;
    char *name = reserve_name(c, hint);
    if (name) define(c, name, b.p);
    free(b.p);
    return name;
}

enum lir_status lir__json_schema_to_gbnf(const char *schema, size_t len, char **out, lir_err *e) {
    *out = NULL;
    json_error_t je;
    json_t *doc = json_loadb(schema, len, JSON_DECODE_ANY, &je);
    if (!doc) return lir__errf(e, LIR_EINVAL, "json schema: not JSON: line %d, column %d: %s", je.line, je.column, je.text);
    struct conv c = { .doc = doc, .names = json_object(), .refs = json_object(), .prims_done = json_object(), .e = e };
    if (!c.names || !c.refs || !c.prims_done) hard_error(&c, LIR_ENOMEM, "out of memory");
    for (size_t i = 0; i < sizeof prims / sizeof *prims && !c.st; i++)
        json_object_set_new(c.names, prims[i].name, json_true());
    json_object_set_new(c.names, "root", json_true()); /* kept for the start rule */
    struct sb rb = { 0 };
    if (!c.st) body(&c, &rb, doc, "root", "", 0);
    enum lir_status st = c.st;
    if (!st && c.n_unsup) {
        st = lir__errf(e, LIR_EUNSUPPORTED, "json schema: unsupported: %s", c.unsup.p ? c.unsup.p : "");
    } else if (!st && (rb.oom || c.rules.oom || !rb.p)) {
        st = lir__errf(e, LIR_ENOMEM, "json schema: out of memory");
    }
    if (!st) {
        struct sb g = { 0 };
        sb_addf(&g, "root ::= %s\n", rb.p);
        sb_add(&g, c.rules.p ? c.rules.p : "");
        if (g.oom) { free(g.p); st = lir__errf(e, LIR_ENOMEM, "json schema: out of memory"); }
        else *out = g.p;
    }
    free(rb.p);
    free(c.rules.p);
    free(c.unsup.p);
    json_decref(c.names);
    json_decref(c.refs);
    json_decref(c.prims_done);
    json_decref(doc);
    return st;
}
