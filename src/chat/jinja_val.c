/* jinja_val.c — arena, errors, values, printing and JSON for the Jinja interpreter.
 * Printing and tojson reproduce @huggingface/jinja's output byte for byte (see jinja.h). */
#include "chat/jinja.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- arena */

struct jchunk {
    jchunk *next;
    size_t cap;
    _Alignas(16) unsigned char data[];
};

void *ja_alloc(jarena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (!a->head || a->used + n > a->cap) {
        size_t cap = n > 65536 ? n : 65536;
        /* a template is untrusted input (it comes with the model file): cap what one render uses */
        if (a->total + cap > JA_MAX_BYTES) {
            if (a->e) jfail(a->e, 0, "out of memory: the template needs more than %d MiB", (int)(JA_MAX_BYTES >> 20));
            abort();
        }
        a->total += cap;
        jchunk *c = malloc(sizeof *c + cap);
        if (!c) {
            if (a->e) jfail(a->e, 0, "out of memory");
            abort(); /* no unwind target: programmer error */
        }
        c->next = a->head;
        c->cap = cap;
        a->head = c;
        a->used = 0;
        a->cap = cap;
    }
    void *p = a->head->data + a->used;
    a->used += n;
    memset(p, 0, n);
    return p;
}

char *ja_strndup(jarena *a, const char *s, size_t n) {
    char *p = ja_alloc(a, n + 1);
    if (n) memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void ja_free(jarena *a) {
    jchunk *c = a->head;
    while (c) {
        jchunk *n = c->next;
        free(c);
        c = n;
    }
    a->head = NULL;
    a->used = a->cap = 0;
}

void jfail(jerr *e, int line, const char *fmt, ...) {
    char m[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    if (line > 0) snprintf(e->msg, sizeof e->msg, "template line %d: %s", line, m);
    else snprintf(e->msg, sizeof e->msg, "%s", m);
    longjmp(e->jb, 1);
}

/* ---------------------------------------------------------------- UTF-8 */

uint32_t ju_decode(const char *s, size_t n, size_t *adv) {
    const unsigned char *p = (const unsigned char *)s;
    if (n == 0) { *adv = 0; return 0; }
    unsigned c = p[0];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    if (len > n) len = 1;
    uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) { *adv = 1; return c; }
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    *adv = len;
    return cp;
}

/* ASCII bytes skip the decoder: `s|length` over a 16 MiB string in a loop is what a hostile
 * template does, and the work budget should end it quickly. */
size_t ju_len(const char *p, size_t n) {
    size_t k = 0, i = 0, adv;
    while (i < n) {
        if ((unsigned char)p[i] < 0x80) { i++; k++; continue; }
        ju_decode(p + i, n - i, &adv);
        i += adv;
        k++;
    }
    return k;
}

size_t ju_offset(const char *p, size_t n, size_t cp) {
    size_t i = 0, adv;
    while (i < n && cp) {
        if ((unsigned char)p[i] < 0x80) { i++; cp--; continue; }
        ju_decode(p + i, n - i, &adv);
        i += adv;
        cp--;
    }
    return i;
}

/* What JavaScript's trim() removes: WhiteSpace and LineTerminator. */
bool ju_is_space(uint32_t c) {
    return c == ' ' || (c >= 9 && c <= 13) || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
           c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000 || c == 0xfeff;
}

/* ---------------------------------------------------------------- containers */

jv jv_str(jarena *a, const char *s) {
    size_t n = strlen(s);
    return jv_strn(ja_strndup(a, s, n), n);
}

jv jv_list_new(jarena *a) {
    jv v = { .t = JV_LIST };
    v.u.l = ja_alloc(a, sizeof(jlist));
    return v;
}

jv jv_dict_new(jarena *a) {
    jv v = { .t = JV_DICT };
    v.u.d = ja_alloc(a, sizeof(jdict));
    return v;
}

void jl_push(jarena *a, jlist *l, jv x) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        jv *nv = ja_alloc(a, cap * sizeof *nv);
        if (l->n) memcpy(nv, l->v, l->n * sizeof *nv);
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = x;
}

bool jd_get(const jdict *d, const char *k, size_t kn, jv *out) {
    for (size_t i = 0; i < d->n; i++)
        if (d->k[i].u.s.n == kn && !memcmp(d->k[i].u.s.p, k, kn)) {
            if (out) *out = d->v[i];
            return true;
        }
    return false;
}

void jd_set(jarena *a, jdict *d, jv key, jv val) {
    for (size_t i = 0; i < d->n; i++)
        if (d->k[i].u.s.n == key.u.s.n && !memcmp(d->k[i].u.s.p, key.u.s.p, key.u.s.n)) {
            d->v[i] = val;
            return;
        }
    jd_push(a, d, key, val);
}

void jd_push(jarena *a, jdict *d, jv key, jv val) {
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        jv *nk = ja_alloc(a, cap * sizeof *nk), *nv = ja_alloc(a, cap * sizeof *nv);
        if (d->n) {
            memcpy(nk, d->k, d->n * sizeof *nk);
            memcpy(nv, d->v, d->n * sizeof *nv);
        }
        d->k = nk;
        d->v = nv;
        d->cap = cap;
    }
    d->k[d->n] = key;
    d->v[d->n++] = val;
}

bool jv_truthy(jv v) {
    switch (v.t) {
    case JV_BOOL: return v.u.b;
    case JV_INT: return v.u.i != 0;
    case JV_FLOAT: return v.u.f != 0 && !isnan(v.u.f);
    case JV_STR: return v.u.s.n > 0;
    case JV_LIST: return v.u.l->n > 0;
    case JV_DICT: return v.u.d->n > 0;
    case JV_NS: case JV_FUNC: case JV_MACRO: return true;
    default: return false;
    }
}

const char *jv_type_name(jv v) {
    static const char *names[] = { "undefined", "none", "boolean", "integer", "float", "string",
                                   "list", "dict", "namespace", "function", "macro" };
    return names[v.t];
}

/* ---------------------------------------------------------------- buffers */

void jb_put(jbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *np = ja_alloc(b->a, cap);
        if (b->n) memcpy(np, b->p, b->n);
        b->p = np;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
void jb_puts(jbuf *b, const char *s) { jb_put(b, s, strlen(s)); }
void jb_putc(jbuf *b, char c) { jb_put(b, &c, 1); }
jv jb_take(jbuf *b) {
    if (!b->p) return jv_strn("", 0);
    return jv_strn(b->p, b->n);
}

/* ---------------------------------------------------------------- numbers */

/* JavaScript's Number.prototype.toString for finite doubles: shortest round-trip digits,
 * exponent form only below 1e-6 or from 1e21. */
static void js_number(double f, char *buf, size_t n) {
    if (isnan(f)) { snprintf(buf, n, "NaN"); return; }
    if (isinf(f)) { snprintf(buf, n, f < 0 ? "-Infinity" : "Infinity"); return; }
    if (f == 0) { snprintf(buf, n, "0"); return; }
    char tmp[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, f);
        if (strtod(tmp, NULL) == f) break;
    }
    /* tmp = d.ddde±XX with prec significant digits */
    char digits[24];
    int nd = 0;
    const char *p = tmp;
    bool neg = *p == '-';
    if (neg) p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[nd++] = *p;
    digits[nd] = 0;
    int exp = atoi(p + 1);
    char out[64];
    size_t o = 0;
    if (neg) out[o++] = '-';
    if (exp >= 21 || exp < -6) {
        out[o++] = digits[0];
        if (nd > 1) { out[o++] = '.'; for (int i = 1; i < nd; i++) out[o++] = digits[i]; }
        o += (size_t)snprintf(out + o, sizeof out - o, "e%c%d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    } else if (exp < 0) {
        out[o++] = '0'; out[o++] = '.';
        for (int i = 0; i < -exp - 1; i++) out[o++] = '0';
        for (int i = 0; i < nd; i++) out[o++] = digits[i];
    } else {
        for (int i = 0; i <= exp; i++) out[o++] = i < nd ? digits[i] : '0';
        if (nd > exp + 1) { out[o++] = '.'; for (int i = exp + 1; i < nd; i++) out[o++] = digits[i]; }
    }
    out[o] = 0;
    snprintf(buf, n, "%s", out);
}

/* FloatValue.toString of the oracle: integral values print with ".0". */
void jv_format_float(double f, char *buf, size_t n) {
    if (f == 0 && signbit(f)) { snprintf(buf, n, "-0.0"); return; }
    if (isfinite(f) && f == floor(f)) { snprintf(buf, n, "%.1f", f); return; }
    js_number(f, buf, n);
}

/* ---------------------------------------------------------------- printing */

void jv_print(jbuf *b, jv v) {
    char tmp[64];
    switch (v.t) {
    case JV_UNDEF: case JV_NONE: return;
    case JV_BOOL: jb_puts(b, v.u.b ? "true" : "false"); return;
    case JV_INT: snprintf(tmp, sizeof tmp, "%lld", (long long)v.u.i); jb_puts(b, tmp); return;
    case JV_FLOAT: jv_format_float(v.u.f, tmp, sizeof tmp); jb_puts(b, tmp); return;
    case JV_STR: jb_put(b, v.u.s.p, v.u.s.n); return;
    case JV_LIST: case JV_DICT: case JV_NS: {
        struct jjson_opts o = { .indent = -1 };
        jv_tojson(b, v, &o, 0);
        return;
    }
    default: jb_puts(b, v.t == JV_MACRO ? "<macro>" : "<function>"); return;
    }
}

/* JSON.stringify of a string, then ensure_ascii's \uXXXX per UTF-16 unit from U+007F. */
static void json_str_out(jbuf *b, const char *s, size_t n, bool ascii) {
    jb_putc(b, '"');
    size_t i = 0, adv;
    char tmp[16];
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            switch (c) {
            case '"': jb_puts(b, "\\\""); break;
            case '\\': jb_puts(b, "\\\\"); break;
            case '\b': jb_puts(b, "\\b"); break;
            case '\f': jb_puts(b, "\\f"); break;
            case '\n': jb_puts(b, "\\n"); break;
            case '\r': jb_puts(b, "\\r"); break;
            case '\t': jb_puts(b, "\\t"); break;
            default:
                if (c < 0x20) { snprintf(tmp, sizeof tmp, "\\u%04x", c); jb_puts(b, tmp); }
                else if (c == 0x7f && ascii) jb_puts(b, "\\u007f");
                else jb_putc(b, (char)c);
            }
            i++;
            continue;
        }
        uint32_t cp = ju_decode(s + i, n - i, &adv);
        if (ascii) {
            if (cp >= 0x10000) {
                cp -= 0x10000;
                snprintf(tmp, sizeof tmp, "\\u%04x\\u%04x", 0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
            } else {
                snprintf(tmp, sizeof tmp, "\\u%04x", cp);
            }
            jb_puts(b, tmp);
        } else {
            jb_put(b, s + i, adv);
        }
        i += adv;
    }
    jb_putc(b, '"');
}

static void pad(jbuf *b, int indent, int depth) {
    static const char spaces[64] = "                                                                ";
    jb_putc(b, '\n');
    /* indent comes from the template: size_t so a huge one runs into the arena cap, not overflow */
    for (size_t left = (size_t)indent * (size_t)depth; left;) {
        size_t k = left < sizeof spaces ? left : sizeof spaces;
        jb_put(b, spaces, k);
        left -= k;
    }
}

static int key_cmp(const void *x, const void *y) {
    const jv *a = *(const jv *const *)x, *b = *(const jv *const *)y;
    size_t n = a->u.s.n < b->u.s.n ? a->u.s.n : b->u.s.n;
    int c = memcmp(a->u.s.p, b->u.s.p, n);
    return c ? c : (a->u.s.n > b->u.s.n) - (a->u.s.n < b->u.s.n);
}

bool jv_tojson(jbuf *b, jv v, const struct jjson_opts *o, int depth) {
    char tmp[64];
    bool ind = o->indent > 0;
    const char *isep = o->item_sep ? o->item_sep : ind ? "," : ", ";
    const char *ksep = o->key_sep ? o->key_sep : ": ";
    /* A namespace can hold itself (`{% set ns.a = ns %}`): bound the walk instead of the stack.
     * The bound is above the nesting jansson accepts in messages (2048). */
    if (depth > JV_MAX_DEPTH && b->a->e)
        jfail(b->a->e, 0, "a value nested deeper than %d levels cannot be printed (a namespace that contains itself?)",
              JV_MAX_DEPTH);
    switch (v.t) {
    case JV_UNDEF: jb_puts(b, o->undef_as_null ? "null" : "undefined"); return true;
    case JV_NONE: jb_puts(b, "null"); return true;
    case JV_BOOL: jb_puts(b, v.u.b ? "true" : "false"); return true;
    case JV_INT: snprintf(tmp, sizeof tmp, "%lld", (long long)v.u.i); jb_puts(b, tmp); return true;
    case JV_FLOAT:
        if (!isfinite(v.u.f)) jb_puts(b, "null");
        else { js_number(v.u.f, tmp, sizeof tmp); jb_puts(b, tmp); }
        return true;
    case JV_STR: json_str_out(b, v.u.s.p, v.u.s.n, o->ensure_ascii); return true;
    case JV_LIST: {
        jlist *l = v.u.l;
        jb_putc(b, '[');
        for (size_t i = 0; i < l->n; i++) {
            if (i) jb_puts(b, isep);
            if (ind) pad(b, o->indent, depth + 1);
            if (!jv_tojson(b, l->v[i], o, depth + 1)) return false;
        }
        if (ind && l->n) pad(b, o->indent, depth);
        jb_putc(b, ']');
        return true;
    }
    case JV_DICT: case JV_NS: {
        jdict *d = v.u.d;
        const jv **order = NULL;
        if (d->n) {
            order = ja_alloc(b->a, d->n * sizeof *order);
            for (size_t i = 0; i < d->n; i++) order[i] = &d->k[i];
            if (o->sort_keys) qsort(order, d->n, sizeof *order, key_cmp);
        }
        jb_putc(b, '{');
        for (size_t i = 0; i < d->n; i++) {
            size_t k = (size_t)(order[i] - d->k);
            if (i) jb_puts(b, isep);
            if (ind) pad(b, o->indent, depth + 1);
            json_str_out(b, d->k[k].u.s.p, d->k[k].u.s.n, o->ensure_ascii);
            jb_puts(b, ksep);
            if (!jv_tojson(b, d->v[k], o, depth + 1)) return false;
        }
        if (ind && d->n) pad(b, o->indent, depth);
        jb_putc(b, '}');
        return true;
    }
    default: return false;
    }
}

/* ---------------------------------------------------------------- from JSON */

/* Numbers follow JavaScript: an integral real (1.0) becomes an integer, as JSON.parse would. */
jv jv_from_json(jarena *a, const struct json_t *cj) {
    json_t *j = (json_t *)cj;
    switch (json_typeof(j)) {
    case JSON_NULL: return jv_none();
    case JSON_TRUE: return jv_bool(true);
    case JSON_FALSE: return jv_bool(false);
    case JSON_INTEGER: return jv_int((int64_t)json_integer_value(j));
    case JSON_REAL: {
        double f = json_real_value(j);
        if (f == floor(f) && fabs(f) < 9007199254740992.0) return jv_int((int64_t)f);
        return jv_float(f);
    }
    case JSON_STRING: return jv_strn(ja_strndup(a, json_string_value(j), json_string_length(j)), json_string_length(j));
    case JSON_ARRAY: {
        jv l = jv_list_new(a);
        size_t i;
        json_t *x;
        json_array_foreach(j, i, x) jl_push(a, l.u.l, jv_from_json(a, x));
        return l;
    }
    case JSON_OBJECT: {
        jv d = jv_dict_new(a);
        const char *k;
        json_t *x;
        /* keys of a JSON object are unique (jansson keeps the last): no lookup, so a large
         * object costs linear time, not quadratic */
        json_object_foreach(j, k, x) jd_push(a, d.u.d, jv_str(a, k), jv_from_json(a, x));
        return d;
    }
    }
    return jv_undef();
}
