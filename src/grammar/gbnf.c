/* gbnf.c — the GBNF parser and grammar compiler (llama.cpp's grammar format).
 *
 *   rule    ::= name "::=" alts            (one rule per line; a newline continues the rule
 *   alts    ::= seq ("|" seq)*              inside parentheses and after "|" or "::=")
 *   seq     ::= (item repeat?)*
 *   item    ::= "literal" | [class] | [^class] | . | name | "(" alts ")"
 *   repeat  ::= * | + | ? | {m} | {m,} | {m,n}
 * Names are letters, digits, '-' and '_'. Escapes: \n \r \t \\ \" \' \[ \] \- \^ \/ \xHH \uHHHH
 * \UHHHHHHHH. '#' starts a comment to the end of the line. Terminals are Unicode code points.
 *
 * Repetitions become synthesized rules as llama.cpp does: x* is S ::= x S | "", x? is
 * O ::= x | "", x{m,n} is m copies of x followed by n-m nested optionals. A repeated item of more
 * than one element (a literal string) is first made a rule of its own so copies are one element.
 *
 * Compilation checks: every referenced rule is defined (once), the start rule exists, no rule is
 * left-recursive (directly or through rules that can match the empty string: the matcher's
 * expansion would never end), and every rule reachable from the start can finish. Sizes are
 * bounded (elements, rules, repetition counts, nesting) so a hostile grammar fails fast. */
#include "grammar/grammar.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ELEMS   (1u << 22) /* elements after expansion of repetitions */
#define MAX_RULES   (1u << 20)
#define MAX_REPEAT  100000u
#define MAX_NESTING 200

/* ================================================================ parse-time structures */

struct body {
    struct lir_gelem *e;
    uint32_t n, cap;
};

struct prule {
    char *name;
    struct body body;
    bool defined;
    const char *first_ref; /* where it was first referenced (for "undefined rule") */
    uint32_t n_synth;      /* counter for names of rules synthesized inside it */
};

struct parser {
    const char *src, *p, *end;
    lir_err *e;
    enum lir_status st;
    struct prule *rules;
    uint32_t n_rules, cap_rules;
    uint32_t *hash; /* open addressing over rule ids + 1, size hash_cap (power of 2) */
    uint32_t hash_cap;
    struct lir_gset *sets;
    uint32_t n_sets, cap_sets;
    uint32_t *ranges; /* lo, hi pairs */
    uint32_t n_ranges, cap_ranges;
    uint32_t total;   /* elements so far, over all rules */
    int depth;
};

/* ================================================================ errors */

static void line_col(const char *src, const char *at, int *line, int *col) {
    *line = 1;
    *col = 1;
    for (const char *q = src; q < at; q++) {
        if (*q == '\n') { (*line)++; *col = 1; }
        else if (((unsigned char)*q & 0xC0) != 0x80) (*col)++;
    }
}

static const char *describe(const struct parser *P, const char *at, char *buf, size_t n) {
    if (at >= P->end) return "end of input";
    if (*at == '\n' || *at == '\r') return "end of line";
    unsigned char c = (unsigned char)*at;
    if (c < 0x20 || c == 0x7f) snprintf(buf, n, "byte 0x%02x", c);
    else {
        size_t k = 1;
        while (k < 4 && at + k < P->end && ((unsigned char)at[k] & 0xC0) == 0x80) k++;
        snprintf(buf, n, "'%.*s'", (int)k, at);
    }
    return buf;
}

/* Records the first error only; returns false so callers can `return fail(...)`. */
__attribute__((format(printf, 4, 5)))
static bool fail_at(struct parser *P, enum lir_status st, const char *at, const char *fmt, ...) {
    if (P->st) return false;
    P->st = st;
    char what[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    int line, col;
    line_col(P->src, at, &line, &col);
    lir__errf(P->e, st, "gbnf: line %d, column %d: %s", line, col, what);
    return false;
}

/* "expected X, found Y" at the current position. */
static bool expected(struct parser *P, const char *what) {
    char buf[16];
    return fail_at(P, LIR_EINVAL, P->p, "expected %s, found %s", what, describe(P, P->p, buf, sizeof buf));
}

static bool oom(struct parser *P) {
    if (!P->st) { P->st = LIR_ENOMEM; lir__errf(P->e, LIR_ENOMEM, "gbnf: out of memory"); }
    return false;
}

static bool grow(void **p, uint32_t *cap, uint32_t need, size_t elem) {
    if (need <= *cap) return true;
    uint32_t c = *cap ? *cap : 16;
    while (c < need) {
        if (c > UINT32_MAX / 2) return false;
        c *= 2;
    }
    void *q = realloc(*p, (size_t)c * elem);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

/* ================================================================ rules */

static uint32_t hash_str(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static bool hash_insert(struct parser *P, uint32_t id);

static bool hash_rebuild(struct parser *P, uint32_t cap) {
    uint32_t *h = calloc(cap, sizeof *h);
    if (!h) return false;
    free(P->hash);
    P->hash = h;
    P->hash_cap = cap;
    for (uint32_t i = 0; i < P->n_rules; i++) hash_insert(P, i);
    return true;
}

static bool hash_insert(struct parser *P, uint32_t id) {
    const char *s = P->rules[id].name;
    uint32_t m = P->hash_cap - 1, i = hash_str(s, strlen(s)) & m;
    while (P->hash[i]) i = (i + 1) & m;
    P->hash[i] = id + 1;
    return true;
}

static int64_t find_rule(const struct parser *P, const char *s, size_t n) {
    if (!P->hash_cap) return -1;
    uint32_t m = P->hash_cap - 1, i = hash_str(s, n) & m;
    while (P->hash[i]) {
        const char *r = P->rules[P->hash[i] - 1].name;
        if (strlen(r) == n && !memcmp(r, s, n)) return P->hash[i] - 1;
        i = (i + 1) & m;
    }
    return -1;
}

/* Adds a rule named s[0..n) (not yet defined). Returns its id or -1 (error recorded). */
static int64_t add_rule(struct parser *P, const char *s, size_t n) {
    if (P->n_rules >= MAX_RULES)
        return fail_at(P, LIR_ERANGE, P->p, "more than %u rules", MAX_RULES), -1;
    if (!grow((void **)&P->rules, &P->cap_rules, P->n_rules + 1, sizeof *P->rules)) return oom(P), -1;
    if ((P->n_rules + 1) * 2 > P->hash_cap && !hash_rebuild(P, P->hash_cap ? P->hash_cap * 2 : 64))
        return oom(P), -1;
    struct prule *r = &P->rules[P->n_rules];
    memset(r, 0, sizeof *r);
    r->name = malloc(n + 1);
    if (!r->name) return oom(P), -1;
    memcpy(r->name, s, n);
    r->name[n] = 0;
    hash_insert(P, P->n_rules);
    return P->n_rules++;
}

/* A new rule named "<parent>_<k>". */
static int64_t synth_rule(struct parser *P, uint32_t parent) {
    char name[160];
    for (;;) {
        int k = snprintf(name, sizeof name, "%.120s_%u", P->rules[parent].name, ++P->rules[parent].n_synth);
        if (find_rule(P, name, (size_t)k) < 0) {
            int64_t id = add_rule(P, name, (size_t)k);
            if (id >= 0) P->rules[id].defined = true;
            return id;
        }
    }
}

static bool emit(struct parser *P, uint32_t rule, uint32_t type, uint32_t val) {
    if (P->total >= MAX_ELEMS)
        return fail_at(P, LIR_ERANGE, P->p, "grammar too large (more than %u elements after expanding repetitions)",
                       MAX_ELEMS);
    struct body *b = &P->rules[rule].body;
    if (!grow((void **)&b->e, &b->cap, b->n + 1, sizeof *b->e)) return oom(P);
    b->e[b->n++] = (struct lir_gelem){ type, val };
    P->total++;
    return true;
}

/* ================================================================ character sets */

static int cmp_range(const void *a, const void *b) {
    const uint32_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : (x[1] < y[1] ? -1 : x[1] > y[1]);
}

/* Finishes the set whose ranges are ranges[first..n_ranges): sort, merge, bitmap. */
static uint32_t close_set(struct parser *P, uint32_t first, bool negated) {
    uint32_t *r = P->ranges ? P->ranges + 2 * first : NULL, n = P->n_ranges - first; /* NULL: no set yet */
    if (n > 1) qsort(r, n, 2 * sizeof *r, cmp_range);
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (k && r[2 * i] <= r[2 * (k - 1) + 1] + 1) {
            if (r[2 * i + 1] > r[2 * (k - 1) + 1]) r[2 * (k - 1) + 1] = r[2 * i + 1];
        } else {
            r[2 * k] = r[2 * i];
            r[2 * k + 1] = r[2 * i + 1];
            k++;
        }
    }
    P->n_ranges = first + k;
    if (!grow((void **)&P->sets, &P->cap_sets, P->n_sets + 1, sizeof *P->sets)) return oom(P), UINT32_MAX;
    struct lir_gset *s = &P->sets[P->n_sets];
    memset(s, 0, sizeof *s);
    s->first = first;
    s->n = k;
    s->negated = negated;
    for (uint32_t i = 0; i < k; i++)
        for (uint32_t c = r[2 * i]; c <= r[2 * i + 1] && c < 128; c++) s->ascii[c >> 6] |= 1ull << (c & 63);
    if (negated) { s->ascii[0] = ~s->ascii[0]; s->ascii[1] = ~s->ascii[1]; }
    return P->n_sets++;
}

static bool add_range(struct parser *P, uint32_t lo, uint32_t hi) {
    if (!grow((void **)&P->ranges, &P->cap_ranges, 2 * (P->n_ranges + 1), sizeof *P->ranges)) return oom(P);
    P->ranges[2 * P->n_ranges] = lo;
    P->ranges[2 * P->n_ranges + 1] = hi;
    P->n_ranges++;
    return true;
}

bool lir__gset_has(const struct lir_grammar *g, uint32_t set, uint32_t cp) {
    const struct lir_gset *s = &g->sets[set];
    if (cp < 128) return (s->ascii[cp >> 6] >> (cp & 63)) & 1;
    const uint32_t *r = g->ranges ? g->ranges + 2 * s->first : NULL; /* NULL: sets without ranges only */
    uint32_t lo = 0, hi = s->n; /* binary search: first range with hi >= cp */
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (r[2 * mid + 1] < cp) lo = mid + 1;
        else hi = mid;
    }
    bool in = lo < s->n && r[2 * lo] <= cp;
    return in != s->negated;
}

bool lir__gset_meets(const struct lir_grammar *g, uint32_t set, uint32_t lo, uint32_t hi) {
    const struct lir_gset *s = &g->sets[set];
    const uint32_t *r = g->ranges ? g->ranges + 2 * s->first : NULL; /* NULL: sets without ranges only */
    if (!s->negated) {
        for (uint32_t i = 0; i < s->n; i++)
            if (r[2 * i] <= hi && r[2 * i + 1] >= lo) return true;
        return false;
    }
    /* negated: is some point of [lo, hi] outside every range? ranges are sorted and merged */
    uint32_t x = lo;
    for (uint32_t i = 0; i < s->n && x <= hi; i++) {
        if (r[2 * i + 1] < x) continue;
        if (r[2 * i] > x) return true;
        if (r[2 * i + 1] >= hi) return false;
        x = r[2 * i + 1] + 1;
    }
    return x <= hi;
}

/* ================================================================ lexing */

static bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Skips blanks and comments; newlines too when newline_ok. */
static void skip_space(struct parser *P, bool newline_ok) {
    while (P->p < P->end) {
        char c = *P->p;
        if (c == ' ' || c == '\t') P->p++;
        else if (c == '#') {
            while (P->p < P->end && *P->p != '\n' && *P->p != '\r') P->p++;
        } else if ((c == '\n' || c == '\r') && newline_ok) P->p++;
        else break;
    }
}

/* Decodes one UTF-8 code point of the grammar text. */
static bool utf8_char(struct parser *P, uint32_t *cp) {
    const unsigned char *s = (const unsigned char *)P->p;
    size_t left = (size_t)(P->end - P->p);
    unsigned char c = s[0];
    uint32_t v, n;
    if (c < 0x80) { *cp = c; P->p++; return true; }
    if (c >= 0xC2 && c <= 0xDF) { v = c & 0x1F; n = 1; }
    else if (c >= 0xE0 && c <= 0xEF) { v = c & 0x0F; n = 2; }
    else if (c >= 0xF0 && c <= 0xF4) { v = c & 0x07; n = 3; }
    else return fail_at(P, LIR_EINVAL, P->p, "invalid UTF-8 byte 0x%02x", c);
    if (left <= n) return fail_at(P, LIR_EINVAL, P->p, "truncated UTF-8 character");
    for (uint32_t i = 1; i <= n; i++) {
        if ((s[i] & 0xC0) != 0x80) return fail_at(P, LIR_EINVAL, P->p, "invalid UTF-8 sequence");
        v = (v << 6) | (s[i] & 0x3F);
    }
    static const uint32_t min[4] = { 0, 0x80, 0x800, 0x10000 };
    if (v < min[n] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return fail_at(P, LIR_EINVAL, P->p, "invalid UTF-8 sequence");
    P->p += n + 1;
    *cp = v;
    return true;
}

static bool hex_digits(struct parser *P, int n, uint32_t *cp) {
    uint32_t v = 0;
    const char *at = P->p;
    for (int i = 0; i < n; i++, P->p++) {
        char c = P->p < P->end ? *P->p : 0;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) {
            char buf[16];
            return fail_at(P, LIR_EINVAL, P->p, "expected %d hex digits after '\\%c', found %s", n, at[-1],
                           describe(P, P->p, buf, sizeof buf));
        }
        v = v * 16 + (uint32_t)d;
    }
    if (v > 0x10FFFF) return fail_at(P, LIR_EINVAL, at - 2, "code point U+%X is beyond U+10FFFF", v);
    *cp = v;
    return true;
}

/* One character of a literal or class, escapes decoded. */
static bool parse_char(struct parser *P, uint32_t *cp) {
    if (P->p >= P->end) return expected(P, "a character");
    if (*P->p != '\\') return utf8_char(P, cp);
    P->p++;
    char c = P->p < P->end ? *P->p : 0;
    P->p++;
    switch (c) {
    case 'n': *cp = '\n'; return true;
    case 'r': *cp = '\r'; return true;
    case 't': *cp = '\t'; return true;
    case '\\': case '"': case '\'': case '[': case ']': case '-': case '^': case '/': *cp = (uint32_t)c; return true;
    case 'x': return hex_digits(P, 2, cp);
    case 'u': return hex_digits(P, 4, cp);
    case 'U': return hex_digits(P, 8, cp);
    default: {
        P->p--;
        char buf[16];
        return fail_at(P, LIR_EINVAL, P->p - 1, "unknown escape '\\' followed by %s", describe(P, P->p, buf, sizeof buf));
    }
    }
}

static bool parse_uint(struct parser *P, uint32_t *v) {
    if (P->p >= P->end || *P->p < '0' || *P->p > '9') return expected(P, "a number");
    uint64_t x = 0;
    const char *at = P->p;
    while (P->p < P->end && *P->p >= '0' && *P->p <= '9') {
        x = x * 10 + (uint64_t)(*P->p++ - '0');
        if (x > MAX_REPEAT) return fail_at(P, LIR_ERANGE, at, "repetition count over %u", MAX_REPEAT);
    }
    *v = (uint32_t)x;
    return true;
}

/* ================================================================ grammar */

static bool parse_alternates(struct parser *P, uint32_t rule, bool nested);

/* Rewrites the item at body[start..] (one or more elements) repeated min..max times
 * (max UINT32_MAX: unbounded). */
static bool repeat(struct parser *P, uint32_t rule, uint32_t start, uint32_t min, uint32_t max, const char *at) {
    struct body *b = &P->rules[rule].body;
    if (b->n == start) return fail_at(P, LIR_EINVAL, at, "repetition operator without an item before it");
    if (b->n - start > 1) { /* a literal string: make it a rule */
        int64_t sub = synth_rule(P, rule);
        if (sub < 0) return false;
        b = &P->rules[rule].body;
        for (uint32_t i = start; i < b->n; i++)
            if (!emit(P, (uint32_t)sub, b->e[i].type, b->e[i].val)) return false;
        b = &P->rules[rule].body;
        P->total -= b->n - start;
        b->n = start;
        if (!emit(P, rule, LIR_GE_REF, (uint32_t)sub)) return false;
        b = &P->rules[rule].body;
    }
    struct lir_gelem item = b->e[start];
    b->n = start;
    P->total--;
    if ((uint64_t)min * 1 > MAX_ELEMS - P->total)
        return fail_at(P, LIR_ERANGE, at, "grammar too large (more than %u elements after expanding repetitions)",
                       MAX_ELEMS);
    for (uint32_t i = 0; i < min; i++)
        if (!emit(P, rule, item.type, item.val)) return false;
    if (max == UINT32_MAX) { /* S ::= item S | "" */
        int64_t s = synth_rule(P, rule);
        if (s < 0) return false;
        if (!emit(P, (uint32_t)s, item.type, item.val) || !emit(P, (uint32_t)s, LIR_GE_REF, (uint32_t)s) ||
            !emit(P, (uint32_t)s, LIR_GE_ALT, 0))
            return false;
        return emit(P, rule, LIR_GE_REF, (uint32_t)s);
    }
    int64_t prev = -1; /* R_k ::= item R_{k-1} | "" */
    for (uint32_t k = min; k < max; k++) {
        int64_t s = synth_rule(P, rule);
        if (s < 0) return false;
        if (!emit(P, (uint32_t)s, item.type, item.val)) return false;
        if (prev >= 0 && !emit(P, (uint32_t)s, LIR_GE_REF, (uint32_t)prev)) return false;
        if (!emit(P, (uint32_t)s, LIR_GE_ALT, 0)) return false;
        prev = s;
    }
    return prev < 0 || emit(P, rule, LIR_GE_REF, (uint32_t)prev);
}

static bool parse_sequence(struct parser *P, uint32_t rule, bool nested) {
    for (;;) {
        uint32_t start = P->rules[rule].body.n;
        const char *at = P->p;
        if (P->p >= P->end) return true;
        char c = *P->p;
        if (c == '"') {
            P->p++;
            for (;;) {
                if (P->p >= P->end || *P->p == '\n' || *P->p == '\r')
                    return fail_at(P, LIR_EINVAL, at, "unterminated string literal");
                if (*P->p == '"') { P->p++; break; }
                uint32_t cp;
                if (!parse_char(P, &cp)) return false;
                uint32_t first = P->n_ranges;
                if (!add_range(P, cp, cp)) return false;
                uint32_t set = close_set(P, first, false);
                if (set == UINT32_MAX || !emit(P, rule, LIR_GE_SET, set)) return false;
            }
            if (P->rules[rule].body.n == start) { /* "" matches the empty string: nothing to emit */
                skip_space(P, nested);
                continue;
            }
        } else if (c == '[') {
            P->p++;
            bool neg = P->p < P->end && *P->p == '^';
            if (neg) P->p++;
            uint32_t first = P->n_ranges;
            for (;;) {
                if (P->p >= P->end || *P->p == '\n' || *P->p == '\r')
                    return fail_at(P, LIR_EINVAL, at, "unterminated character class");
                if (*P->p == ']') { P->p++; break; }
                uint32_t lo, hi;
                const char *rat = P->p;
                if (!parse_char(P, &lo)) return false;
                hi = lo;
                if (P->p + 1 < P->end && *P->p == '-' && P->p[1] != ']') {
                    P->p++;
                    if (!parse_char(P, &hi)) return false;
                    if (hi < lo) return fail_at(P, LIR_EINVAL, rat, "character range is reversed (U+%04X > U+%04X)", lo, hi);
                }
                if (!add_range(P, lo, hi)) return false;
            }
            if (P->n_ranges == first && !neg) return fail_at(P, LIR_EINVAL, at, "empty character class []");
            uint32_t set = close_set(P, first, neg);
            if (set == UINT32_MAX || !emit(P, rule, LIR_GE_SET, set)) return false;
        } else if (c == '.') {
            P->p++;
            uint32_t set = close_set(P, P->n_ranges, true);
            if (set == UINT32_MAX || !emit(P, rule, LIR_GE_SET, set)) return false;
        } else if (c == '(') {
            P->p++;
            if (++P->depth > MAX_NESTING) return fail_at(P, LIR_ERANGE, at, "parentheses nested deeper than %d", MAX_NESTING);
            int64_t sub = synth_rule(P, rule);
            if (sub < 0) return false;
            skip_space(P, true);
            if (!parse_alternates(P, (uint32_t)sub, true)) return false;
            if (P->p >= P->end || *P->p != ')') return expected(P, "')' to close the group, '|' or an item");
            P->p++;
            P->depth--;
            if (!emit(P, rule, LIR_GE_REF, (uint32_t)sub)) return false;
        } else if (is_name_char(c)) {
            const char *s = P->p;
            while (P->p < P->end && is_name_char(*P->p)) P->p++;
            size_t n = (size_t)(P->p - s);
            /* a name followed by ::= starts the next rule: the sequence ended at the newline before */
            int64_t id = find_rule(P, s, n);
            if (id < 0) {
                id = add_rule(P, s, n);
                if (id < 0) return false;
                P->rules[id].first_ref = s;
            }
            if (!emit(P, rule, LIR_GE_REF, (uint32_t)id)) return false;
        } else if (c == '<' || c == '!') {
            return fail_at(P, LIR_EUNSUPPORTED, at, "token references (<...>, !<...>) are not supported");
        } else {
            return true; /* end of the sequence: the caller checks what follows */
        }
        skip_space(P, nested);
        /* repetition operators, possibly several (x?* is legal, if odd) */
        for (;;) {
            const char *rat = P->p;
            if (P->p >= P->end) break;
            char r = *P->p;
            uint32_t min, max;
            if (r == '*') { min = 0; max = UINT32_MAX; P->p++; }
            else if (r == '+') { min = 1; max = UINT32_MAX; P->p++; }
            else if (r == '?') { min = 0; max = 1; P->p++; }
            else if (r == '{') {
                P->p++;
                skip_space(P, nested);
                if (!parse_uint(P, &min)) return false;
                skip_space(P, nested);
                max = min;
                if (P->p < P->end && *P->p == ',') {
                    P->p++;
                    skip_space(P, nested);
                    if (P->p < P->end && *P->p == '}') max = UINT32_MAX;
                    else {
                        if (!parse_uint(P, &max)) return false;
                        if (max < min) return fail_at(P, LIR_EINVAL, rat, "repetition {%u,%u}: maximum below minimum", min, max);
                    }
                    skip_space(P, nested);
                }
                if (P->p >= P->end || *P->p != '}') return expected(P, "'}' to close the repetition count");
                P->p++;
            } else break;
            if (!repeat(P, rule, start, min, max, rat)) return false;
            skip_space(P, nested);
        }
    }
}

static bool parse_alternates(struct parser *P, uint32_t rule, bool nested) {
    if (!parse_sequence(P, rule, nested)) return false;
    while (P->p < P->end && *P->p == '|') {
        P->p++;
        if (!emit(P, rule, LIR_GE_ALT, 0)) return false;
        skip_space(P, true);
        if (!parse_sequence(P, rule, nested)) return false;
    }
    return true;
}

static bool parse_rules(struct parser *P) {
    skip_space(P, true);
    while (P->p < P->end) {
        const char *at = P->p;
        if (!is_name_char(*P->p)) return expected(P, "a rule name");
        while (P->p < P->end && is_name_char(*P->p)) P->p++;
        size_t n = (size_t)(P->p - at);
        skip_space(P, false);
        if (P->end - P->p < 3 || memcmp(P->p, "::=", 3)) return expected(P, "'::=' after the rule name");
        P->p += 3;
        int64_t id = find_rule(P, at, n);
        if (id >= 0 && P->rules[id].defined)
            return fail_at(P, LIR_EINVAL, at, "rule '%.*s' is defined twice", (int)n, at);
        if (id < 0 && (id = add_rule(P, at, n)) < 0) return false;
        P->rules[id].defined = true;
        skip_space(P, true);
        if (!parse_alternates(P, (uint32_t)id, false)) return false;
        if (P->p < P->end && *P->p != '\n' && *P->p != '\r') {
            if (*P->p == ')') return fail_at(P, LIR_EINVAL, P->p, "unmatched ')'");
            return expected(P, "an item, '|' or the end of the line");
        }
        skip_space(P, true);
    }
    return true;
}

/* ================================================================ compile */

void lir__grammar_free(struct lir_grammar *g) {
    if (!g) return;
    if (g->names)
        for (uint32_t i = 0; i < g->n_rules; i++) free(g->names[i]);
    free(g->names);
    free(g->alt_off);
    free(g->alts);
    free(g->elems);
    free(g->min_suffix);
    free(g->min_len);
    free(g->sets);
    free(g->ranges);
    free(g);
}

static uint32_t sat_add(uint32_t a, uint32_t b) {
    uint32_t s = a + b;
    return s > LIR_GRAMMAR_INF || s < a ? LIR_GRAMMAR_INF : s;
}

static bool is_end(const struct lir_gelem *e) { return e->type == LIR_GE_END || e->type == LIR_GE_ALT; }

/* Left recursion: rule r "starts with" rule s when s appears in an alternative of r preceded
 * only by nullable items. A cycle in that relation would make the matcher's expansion loop. */
static enum lir_status check_left_recursion(struct lir_grammar *g, lir_err *e) {
    uint32_t n = g->n_rules;
    uint8_t *color = calloc(n, 1);       /* 0 new, 1 on the path, 2 done */
    uint32_t *stk = malloc(n * sizeof *stk);  /* rule on the DFS path */
    uint32_t *pos = malloc(n * sizeof *pos);  /* next alternative-element cursor for it */
    uint32_t *alt = malloc(n * sizeof *alt);
    enum lir_status st = LIR_OK;
    if (!color || !stk || !pos || !alt) { st = lir__errf(e, LIR_ENOMEM, "gbnf: out of memory"); goto out; }
    for (uint32_t r0 = 0; r0 < n && !st; r0++) {
        if (color[r0]) continue;
        uint32_t d = 0;
        stk[d] = r0; alt[d] = g->alt_off[r0]; pos[d] = g->alts[alt[d]]; color[r0] = 1; d++;
        while (d && !st) {
            uint32_t r = stk[d - 1];
            /* next leftmost reference of r */
            int64_t next = -1;
            while (alt[d - 1] < g->alt_off[r + 1]) {
                const struct lir_gelem *el = &g->elems[pos[d - 1]];
                if (is_end(el) || el->type == LIR_GE_SET) {
                    alt[d - 1]++;
                    if (alt[d - 1] < g->alt_off[r + 1]) pos[d - 1] = g->alts[alt[d - 1]];
                    continue;
                }
                /* a reference: visit it; move past it only if it is nullable */
                next = el->val;
                if (g->min_len[el->val] == 0) pos[d - 1]++;
                else {
                    alt[d - 1]++;
                    if (alt[d - 1] < g->alt_off[r + 1]) pos[d - 1] = g->alts[alt[d - 1]];
                }
                break;
            }
            if (next < 0) { color[r] = 2; d--; continue; }
            if (color[next] == 1) {
                char path[400];
                size_t k = 0;
                uint32_t i = 0;
                while (stk[i] != (uint32_t)next) i++;
                for (; i < d && k < sizeof path - 80; i++)
                    k += (size_t)snprintf(path + k, sizeof path - k, "%s -> ", g->names[stk[i]]);
                snprintf(path + k, sizeof path - k, "%s", g->names[next]);
                st = lir__errf(e, LIR_EINVAL, "gbnf: left recursion: %s (a rule must consume a character "
                               "before it can refer back to itself; repeating something that can match the "
                               "empty string does this too)", path);
                break;
            }
            if (color[next] == 2) continue;
            stk[d] = (uint32_t)next; alt[d] = g->alt_off[next]; pos[d] = g->alts[alt[d]]; color[next] = 1; d++;
        }
    }
out:
    free(color); free(stk); free(pos); free(alt);
    return st;
}

/* Shortest derivation (in code points) of each rule, by Knuth's generalization of Dijkstra's
 * algorithm: an alternative becomes a candidate for its rule once every rule it refers to is
 * final; the smallest candidate overall is final next. O(E log E), whatever the rule order (a
 * plain fixed point can take one pass per rule on a chain written backwards). Rules that are
 * never final have no finite derivation: LIR_GRAMMAR_INF. Returns false when out of memory. */
struct heap_item { uint32_t len, rule; };

static void heap_push(struct heap_item *h, uint32_t *n, struct heap_item x) {
    uint32_t i = (*n)++;
    while (i && h[(i - 1) / 2].len > x.len) { h[i] = h[(i - 1) / 2]; i = (i - 1) / 2; }
    h[i] = x;
}

static struct heap_item heap_pop(struct heap_item *h, uint32_t *n) {
    struct heap_item top = h[0], x = h[--(*n)];
    uint32_t i = 0;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && h[c + 1].len < h[c].len) c++;
        if (h[c].len >= x.len) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = x;
    return top;
}

static bool shortest_derivations(struct lir_grammar *g) {
    uint32_t n_alts = g->alt_off[g->n_rules], n_rules = g->n_rules;
    uint32_t *cnt = calloc(n_alts, sizeof *cnt), *acc = calloc(n_alts, sizeof *acc);
    uint32_t *alt_rule = malloc(n_alts * sizeof *alt_rule);
    uint32_t *occ_off = calloc((size_t)n_rules + 1, sizeof *occ_off), *occ = NULL;
    uint8_t *done = calloc(n_rules, 1);
    struct heap_item *heap = NULL;
    uint32_t n_occ = 0, hn = 0;
    bool ok = false;
    if (!cnt || !acc || !alt_rule || !occ_off || !done) goto out;
    for (uint32_t r = 0; r < n_rules; r++)
        for (uint32_t k = g->alt_off[r]; k < g->alt_off[r + 1]; k++) {
            alt_rule[k] = r;
            for (uint32_t p = g->alts[k]; !is_end(&g->elems[p]); p++) {
                if (g->elems[p].type == LIR_GE_SET) acc[k] = sat_add(acc[k], 1);
                else { cnt[k]++; occ_off[g->elems[p].val + 1]++; n_occ++; }
            }
        }
    for (uint32_t r = 0; r < n_rules; r++) occ_off[r + 1] += occ_off[r];
    occ = malloc(((size_t)n_occ + 1) * sizeof *occ);
    heap = malloc(((size_t)n_alts + 1) * sizeof *heap);
    if (!occ || !heap) goto out;
    {
        uint32_t *fill = calloc((size_t)n_rules + 1, sizeof *fill);
        if (!fill) goto out;
        for (uint32_t k = 0; k < n_alts; k++)
            for (uint32_t p = g->alts[k]; !is_end(&g->elems[p]); p++)
                if (g->elems[p].type == LIR_GE_REF) {
                    uint32_t r = g->elems[p].val;
                    occ[occ_off[r] + fill[r]++] = k;
                }
        free(fill);
    }
    for (uint32_t r = 0; r < n_rules; r++) g->min_len[r] = LIR_GRAMMAR_INF;
    for (uint32_t k = 0; k < n_alts; k++)
        if (!cnt[k]) heap_push(heap, &hn, (struct heap_item){ acc[k], alt_rule[k] });
    while (hn) {
        struct heap_item it = heap_pop(heap, &hn);
        if (done[it.rule]) continue;
        done[it.rule] = 1;
        g->min_len[it.rule] = it.len;
        for (uint32_t i = occ_off[it.rule]; i < occ_off[it.rule + 1]; i++) {
            uint32_t k = occ[i];
            acc[k] = sat_add(acc[k], it.len);
            if (--cnt[k] == 0 && !done[alt_rule[k]] && acc[k] < LIR_GRAMMAR_INF)
                heap_push(heap, &hn, (struct heap_item){ acc[k], alt_rule[k] });
        }
    }
    ok = true;
out:
    free(cnt); free(acc); free(alt_rule); free(occ_off); free(occ); free(done); free(heap);
    return ok;
}

static enum lir_status compile(struct parser *P, const char *root, struct lir_grammar **out) {
    lir_err *e = P->e;
    for (uint32_t i = 0; i < P->n_rules; i++)
        if (!P->rules[i].defined) {
            fail_at(P, LIR_EINVAL, P->rules[i].first_ref, "undefined rule '%s'", P->rules[i].name);
            return P->st;
        }
    int64_t r = find_rule(P, root, strlen(root));
    if (r < 0) return lir__errf(e, LIR_EINVAL, "gbnf: the grammar has no rule '%s' to start from", root);

    struct lir_grammar *g = calloc(1, sizeof *g);
    if (!g) return lir__errf(e, LIR_ENOMEM, "gbnf: out of memory");
    g->root = (uint32_t)r;
    g->n_rules = P->n_rules;
    uint32_t n_alts = 0, n_elems = 0;
    for (uint32_t i = 0; i < P->n_rules; i++) {
        struct body *b = &P->rules[i].body;
        n_alts++;
        for (uint32_t k = 0; k < b->n; k++) n_alts += b->e[k].type == LIR_GE_ALT;
        n_elems += b->n + 1;
    }
    g->names = calloc(g->n_rules, sizeof *g->names);
    g->alt_off = malloc((g->n_rules + 1) * sizeof *g->alt_off);
    g->alts = malloc(n_alts * sizeof *g->alts);
    g->elems = malloc(n_elems * sizeof *g->elems);
    g->min_suffix = malloc(n_elems * sizeof *g->min_suffix);
    g->min_len = malloc(g->n_rules * sizeof *g->min_len);
    if (!g->names || !g->alt_off || !g->alts || !g->elems || !g->min_suffix || !g->min_len) goto nomem;
    uint32_t a = 0, n = 0;
    for (uint32_t i = 0; i < P->n_rules; i++) {
        struct body *b = &P->rules[i].body;
        g->names[i] = P->rules[i].name;
        P->rules[i].name = NULL;
        g->alt_off[i] = a;
        g->alts[a++] = n;
        for (uint32_t k = 0; k < b->n; k++) {
            g->elems[n++] = b->e[k];
            if (b->e[k].type == LIR_GE_ALT) g->alts[a++] = n;
        }
        g->elems[n++] = (struct lir_gelem){ LIR_GE_END, 0 };
    }
    g->alt_off[g->n_rules] = a;
    g->n_elems = n;
    g->sets = P->sets; P->sets = NULL; g->n_sets = P->n_sets;
    g->ranges = P->ranges; P->ranges = NULL; g->n_ranges = P->n_ranges;

    if (!shortest_derivations(g)) goto nomem;
    for (uint32_t p = n; p-- > 0;) {
        const struct lir_gelem *el = &g->elems[p];
        g->min_suffix[p] = is_end(el) ? 0
                         : sat_add(g->min_suffix[p + 1], el->type == LIR_GE_SET ? 1 : g->min_len[el->val]);
    }
    /* every rule reachable from the start must be able to finish */
    {
        uint8_t *seen = calloc(g->n_rules, 1);
        uint32_t *q = malloc(g->n_rules * sizeof *q);
        if (!seen || !q) { free(seen); free(q); goto nomem; }
        uint32_t qn = 0;
        q[qn++] = g->root;
        seen[g->root] = 1;
        enum lir_status st = LIR_OK;
        while (qn && !st) {
            uint32_t i = q[--qn];
            if (g->min_len[i] >= LIR_GRAMMAR_INF) {
                st = lir__errf(e, LIR_EINVAL, "gbnf: rule '%s' can never finish (every alternative refers back "
                               "to it or to another rule that never finishes)", g->names[i]);
                break;
            }
            for (uint32_t p = g->alts[g->alt_off[i]]; p < (i + 1 < g->n_rules ? g->alts[g->alt_off[i + 1]] : n); p++)
                if (g->elems[p].type == LIR_GE_REF && !seen[g->elems[p].val]) {
                    seen[g->elems[p].val] = 1;
                    q[qn++] = g->elems[p].val;
                }
        }
        free(seen);
        free(q);
        if (st) { lir__grammar_free(g); return st; }
    }
    enum lir_status st = check_left_recursion(g, e);
    if (st) { lir__grammar_free(g); return st; }
    *out = g;
    return LIR_OK;
nomem:
    lir__grammar_free(g);
    return lir__errf(e, LIR_ENOMEM, "gbnf: out of memory");
}

enum lir_status lir__grammar_parse(const char *gbnf, size_t len, const char *root, struct lir_grammar **out,
                                   lir_err *e) {
    if (!out) return lir__errf(e, LIR_EINVAL, "gbnf: NULL argument");
    *out = NULL;
    if (!gbnf) return lir__errf(e, LIR_EINVAL, "gbnf: NULL argument");
    struct parser P = { .src = gbnf, .p = gbnf, .end = gbnf + len, .e = e };
    enum lir_status st;
    if (memchr(gbnf, 0, len)) {
        fail_at(&P, LIR_EINVAL, (const char *)memchr(gbnf, 0, len), "NUL byte in the grammar");
        st = P.st;
    } else if (!parse_rules(&P)) st = P.st;
    else st = compile(&P, root ? root : "root", out);
    for (uint32_t i = 0; i < P.n_rules; i++) {
        free(P.rules[i].name);
        free(P.rules[i].body.e);
    }
    free(P.rules);
    free(P.hash);
    free(P.sets);
    free(P.ranges);
    return st;
}
