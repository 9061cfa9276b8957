/* jinja_eval.c — evaluates a parsed template: statements, expressions, filters, tests,
 * string/dict methods and the globals chat templates use (raise_exception, namespace,
 * range, strftime_now). Semantics follow @huggingface/jinja, the parity oracle; a few
 * Python-Jinja features the oracle lacks are accepted too (noted where they are).
 * Scoping as the oracle: a for loop opens one scope for all its iterations, a macro call
 * opens a scope whose parent is the caller's, if/set do not open scopes. */
#include "chat/jinja.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

enum { FN_NAMESPACE = 1, FN_RAISE, FN_RANGE, FN_STRFTIME, FN_CALLER };

typedef struct env {
    struct env *parent;
    jdict vars;
} env;

typedef struct ev {
    jarena *a;
    jerr *e;
    int depth;
    uint64_t steps; /* loop iterations + macro calls: bounded (hostile templates cannot spin forever) */
    uint64_t work;  /* bytes and items that operators, filters and methods walk: bounded likewise */
} ev;

#define MAX_STEPS 1000000u
/* Steps alone do not bound the time: each step can scan a 16 MiB string or a long list. A real
 * template walks its messages a few times (megabytes, thousands of items); 64 Mi units (bytes,
 * or items at ITEM_COST each) is well under a second. */
#define MAX_WORK ((uint64_t)1 << 26)
/* What walking v costs in work units: a byte is one, a value handled one by one (an item of a
 * list, a comparison) ITEM_COST. */
#define ITEM_COST 16
static uint64_t vsize(jv v) {
    switch (v.t) {
    case JV_STR: return v.u.s.n + ITEM_COST;
    case JV_LIST: return ((uint64_t)v.u.l->n + 1) * ITEM_COST;
    case JV_DICT: case JV_NS: return ((uint64_t)v.u.d->n + 1) * ITEM_COST;
    default: return ITEM_COST;
    }
}

/* A macro or caller value: the node and, for caller(), the scope of the call block. */
typedef struct jclosure {
    jnode *n;
    env *scope;
} jclosure;

enum flow { FLOW_NORMAL, FLOW_BREAK, FLOW_CONTINUE };

static jv eval(ev *E, jnode *n, env *s);
static void charge(ev *E, jnode *n, uint64_t units);
static enum flow exec_block(ev *E, const jnodes *b, env *s, jbuf *out);

#define FAIL(n, ...) jfail(E->e, (n) ? (n)->line : 0, __VA_ARGS__)

/* ---------------------------------------------------------------- helpers */

static bool str_is(jv v, const char *s) { return v.t == JV_STR && v.u.s.n == strlen(s) && !memcmp(v.u.s.p, s, v.u.s.n); }

static env *env_new(ev *E, env *parent) {
    env *s = ja_alloc(E->a, sizeof *s);
    s->parent = parent;
    return s;
}

static void charge(ev *E, jnode *n, uint64_t units) {
    E->work += units;
    if (E->work > MAX_WORK)
        FAIL(n, "the template does too much work (more than %llu Mi bytes or %llu Mi items scanned; loops over large values?)",
             (unsigned long long)(MAX_WORK >> 20), (unsigned long long)(MAX_WORK >> 20) / ITEM_COST);
}

/* Scopes are scanned linearly; the globals can be large (extra variables come from the caller). */
static jv lookup(ev *E, jnode *n, env *s, const char *k, size_t kn) {
    jv v;
    for (; s; s = s->parent) {
        charge(E, n, s->vars.n + 1);
        if (jd_get(&s->vars, k, kn, &v)) return v;
    }
    return jv_undef();
}

static void setvar(ev *E, env *s, const char *k, size_t kn, jv v) { jd_set(E->a, &s->vars, jv_strn(k, kn), v); }

static jv to_str(ev *E, jv v) {
    if (v.t == JV_STR) return v;
    jbuf b = { .a = E->a };
    if (v.t == JV_UNDEF) jb_puts(&b, "undefined"); /* String(undefined) */
    else if (v.t == JV_NONE) jb_puts(&b, "null");
    else jv_print(&b, v);
    return jb_take(&b);
}

static bool is_num(jv v) { return v.t == JV_INT || v.t == JV_FLOAT; }
/* Integer arithmetic never overflows silently (that would be undefined behaviour in C): a
 * result outside 64 bits becomes a float, as the oracle's numbers (JavaScript doubles) would. */
static bool fits_i64(double x) { return x >= -9223372036854775808.0 && x < 9223372036854775808.0; }
static jv int_or_float(double x) { return fits_i64(x) ? jv_int((int64_t)x) : jv_float(x); }
static double num(jv v) { return v.t == JV_INT ? (double)v.u.i : v.t == JV_FLOAT ? v.u.f : v.t == JV_BOOL ? v.u.b : 0; }

/* JavaScript's String(x) for Array.prototype.join: numbers without ".0", null/undefined empty. */
static void js_join_item(jbuf *b, jv v) {
    if (v.t == JV_NONE || v.t == JV_UNDEF) return;
    if (v.t == JV_FLOAT) {
        char tmp[64];
        if (v.u.f == floor(v.u.f) && fabs(v.u.f) < 1e21) snprintf(tmp, sizeof tmp, "%.0f", v.u.f);
        else jv_format_float(v.u.f, tmp, sizeof tmp);
        jb_puts(b, tmp);
        return;
    }
    if (v.t == JV_DICT || v.t == JV_NS) { jb_puts(b, "[object Object]"); return; }
    if (v.t == JV_LIST) {
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i) jb_putc(b, ',');
            js_join_item(b, v.u.l->v[i]);
        }
        return;
    }
    jv_print(b, v);
}

/* An operand of string `+` / `~` as the oracle converts it (JavaScript String() of the
 * underlying value): floats without ".0", a list as its items' texts joined by "," without
 * brackets. A dict prints as JSON here (the oracle prints "[object Map]"; Python Jinja raises). */
static void concat_str(jbuf *b, jv v) {
    char tmp[64];
    if (v.t == JV_FLOAT) {
        if (v.u.f == floor(v.u.f) && fabs(v.u.f) < 1e21) snprintf(tmp, sizeof tmp, "%.0f", v.u.f);
        else jv_format_float(v.u.f, tmp, sizeof tmp);
        jb_puts(b, tmp);
        return;
    }
    if (v.t == JV_LIST) {
        for (size_t i = 0; i < v.u.l->n; i++) {
            jv x = v.u.l->v[i];
            if (i) jb_putc(b, ',');
            if (x.t == JV_NONE) jb_puts(b, "null");
            else if (x.t == JV_UNDEF) jb_puts(b, "undefined");
            else jv_print(b, x); /* each item's own toString: floats keep ".0", containers are JSON */
        }
        return;
    }
    jv_print(b, v);
}

/* The oracle's `==`: JavaScript loose equality of the underlying values. */
static bool loose_eq(jv a, jv b) {
    bool an = a.t == JV_NONE || a.t == JV_UNDEF, bn = b.t == JV_NONE || b.t == JV_UNDEF;
    if (an || bn) return an && bn;
    if ((is_num(a) || a.t == JV_BOOL) && (is_num(b) || b.t == JV_BOOL)) return num(a) == num(b);
    if (a.t == JV_STR && b.t == JV_STR) return a.u.s.n == b.u.s.n && !memcmp(a.u.s.p, b.u.s.p, a.u.s.n);
    if (a.t != b.t) return false;
    switch (a.t) {
    case JV_LIST: return a.u.l == b.u.l;
    case JV_DICT: case JV_NS: return a.u.d == b.u.d;
    default: return false;
    }
}

/* `===` on the underlying values (tests equalto, `in` over a list, unique). */
static bool strict_eq(jv a, jv b) {
    if (is_num(a) && is_num(b)) return num(a) == num(b);
    if (a.t != b.t) return false;
    switch (a.t) {
    case JV_UNDEF: case JV_NONE: return true;
    case JV_BOOL: return a.u.b == b.u.b;
    case JV_STR: return a.u.s.n == b.u.s.n && !memcmp(a.u.s.p, b.u.s.p, a.u.s.n);
    case JV_LIST: return a.u.l == b.u.l;
    case JV_DICT: case JV_NS: return a.u.d == b.u.d;
    default: return false;
    }
}

static bool contains(const char *h, size_t hn, const char *n, size_t nn) {
    if (nn == 0) return true;
    return memmem(h, hn, n, nn) != NULL; /* linear (two-way); a memcmp at each offset is quadratic */
}

/* Case mapping per code point (utf8proc), for upper/lower/title/capitalize. */
static jv map_case(ev *E, jv s, int mode /* 0 lower, 1 upper, 2 title, 3 capitalize */) {
    jbuf b = { .a = E->a };
    size_t i = 0, adv;
    bool prev_word = false, first = true;
    while (i < s.u.s.n) {
        uint32_t c = ju_decode(s.u.s.p + i, s.u.s.n - i, &adv);
        uint32_t o = c;
        if (mode == 0) o = (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
        else if (mode == 1) o = (uint32_t)utf8proc_toupper((utf8proc_int32_t)c);
        else if (mode == 2) {
            /* /\b\w/g -> upper: \w is ASCII [A-Za-z0-9_] in JavaScript */
            bool w = (c < 128) && (c == '_' || (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z'));
            if (w && !prev_word && c >= 'a' && c <= 'z') o = c - 32;
            prev_word = w;
        } else if (mode == 3 && first) {
            o = (uint32_t)utf8proc_toupper((utf8proc_int32_t)c);
        }
        first = false;
        utf8proc_uint8_t u[4];
        utf8proc_ssize_t k = utf8proc_encode_char((utf8proc_int32_t)o, u);
        jb_put(&b, (const char *)u, (size_t)k);
        i += adv;
    }
    return jb_take(&b);
}

static jv strip(jv s, bool left, bool right) {
    const char *p = s.u.s.p;
    size_t n = s.u.s.n, adv;
    if (left)
        while (n) {
            uint32_t c = ju_decode(p, n, &adv);
            if (!ju_is_space(c)) break;
            p += adv;
            n -= adv;
        }
    if (right)
        while (n) {
            size_t k = n - 1;
            while (k > 0 && ((unsigned char)p[k] & 0xc0) == 0x80) k--;
            uint32_t c = ju_decode(p + k, n - k, &adv);
            if (!ju_is_space(c)) break;
            n = k;
        }
    return jv_strn(p, n);
}

static jv str_replace(ev *E, jv s, jv old, jv new_, int64_t count) {
    if (count == 0) return s;
    jbuf b = { .a = E->a };
    size_t i = 0;
    int64_t left = count < 0 ? INT64_MAX : count;
    if (old.u.s.n == 0) {
        /* empty pattern: insert between code points and at both ends */
        size_t adv;
        while (true) {
            if (left > 0) { jb_put(&b, new_.u.s.p, new_.u.s.n); left--; }
            if (i >= s.u.s.n) break;
            ju_decode(s.u.s.p + i, s.u.s.n - i, &adv);
            jb_put(&b, s.u.s.p + i, adv);
            i += adv;
        }
        return jb_take(&b);
    }
    while (i < s.u.s.n) {
        if (left > 0) { /* copy up to the next match in one go */
            const char *m = memmem(s.u.s.p + i, s.u.s.n - i, old.u.s.p, old.u.s.n);
            size_t k = m ? (size_t)(m - (s.u.s.p + i)) : s.u.s.n - i;
            jb_put(&b, s.u.s.p + i, k);
            i += k;
            if (!m) break;
        }
        if (left > 0 && i + old.u.s.n <= s.u.s.n && !memcmp(s.u.s.p + i, old.u.s.p, old.u.s.n)) {
            jb_put(&b, new_.u.s.p, new_.u.s.n);
            i += old.u.s.n;
            left--;
        } else {
            jb_putc(&b, s.u.s.p[i++]);
        }
    }
    return jb_take(&b);
}

/* Python-style slice over n items; indices into the items. */
static size_t slice_idx(int64_t n, jv start, jv stop, jv step, int64_t *idx) {
    int64_t st = step.t == JV_INT ? step.u.i : 1;
    size_t k = 0;
    if (st >= 0) {
        if (st == 0) st = 1;
        int64_t a = start.t == JV_INT ? start.u.i : 0, b = stop.t == JV_INT ? stop.u.i : n;
        a = a < 0 ? (n + a > 0 ? n + a : 0) : (a < n ? a : n);
        b = b < 0 ? (n + b > 0 ? n + b : 0) : (b < n ? b : n);
        for (int64_t i = a; i < b; i = b - i > st ? i + st : b) idx[k++] = i; /* no overflow past b */
    } else {
        int64_t a = start.t == JV_INT ? start.u.i : n - 1, b = stop.t == JV_INT ? stop.u.i : -1;
        a = a < 0 ? (n + a > -1 ? n + a : -1) : (a < n - 1 ? a : n - 1);
        b = b < -1 ? (n + b > -1 ? n + b : -1) : (b < n - 1 ? b : n - 1);
        for (int64_t i = a; i > b; i += st) idx[k++] = i; /* i >= 0: i + st cannot overflow */
    }
    return k;
}

/* ---------------------------------------------------------------- arguments */

typedef struct jargs {
    jv pos[16];
    int npos;
    jdict kw;
} jargs;

static void eval_args(ev *E, const jnodes *l, env *s, jargs *A) {
    memset(A, 0, sizeof *A);
    for (size_t i = 0; i < l->n; i++) {
        jnode *x = l->v[i];
        if (x->k == JN_KWARG) continue;
        if (x->k == JN_SPREAD && !x->flag) {
            jv v = eval(E, x->a, s);
            if (v.t != JV_LIST) FAIL(x, "cannot unpack %s with '*'", jv_type_name(v));
            for (size_t j = 0; j < v.u.l->n; j++) {
                if (A->npos == 16) FAIL(x, "too many arguments");
                A->pos[A->npos++] = v.u.l->v[j];
            }
            continue;
        }
        if (x->k == JN_SPREAD) continue;
        if (A->npos == 16) FAIL(x, "too many arguments");
        A->pos[A->npos++] = eval(E, x, s);
    }
    for (size_t i = 0; i < l->n; i++) {
        jnode *x = l->v[i];
        if (x->k == JN_KWARG) {
            if (jd_get(&A->kw, x->s, x->sn, NULL)) FAIL(x, "multiple values for keyword argument '%.*s'", (int)x->sn, x->s);
            jd_set(E->a, &A->kw, jv_strn(x->s, x->sn), eval(E, x->a, s));
        } else if (x->k == JN_SPREAD && x->flag) {
            jv v = eval(E, x->a, s);
            if (v.t != JV_DICT) FAIL(x, "argument after ** must be a mapping, not %s", jv_type_name(v));
            for (size_t j = 0; j < v.u.d->n; j++) jd_set(E->a, &A->kw, v.u.d->k[j], v.u.d->v[j]);
        }
    }
}

/* positional i, else keyword name, else dflt */
static jv arg(const jargs *A, int i, const char *name, jv dflt) {
    jv v;
    if (i >= 0 && i < A->npos) return A->pos[i];
    if (name && jd_get(&A->kw, name, strlen(name), &v)) return v;
    return dflt;
}

/* ---------------------------------------------------------------- calls */

static jv call_closure(ev *E, jnode *site, jclosure *c, jargs *A, env *callsite) {
    jnode *m = c->n;
    const jnodes *params = &m->l1, *body = &m->l2;
    if (++E->depth > 200) FAIL(site, "macro recursion deeper than 200 calls");
    if (++E->steps > MAX_STEPS) FAIL(site, "the template runs more than %u loop iterations and macro calls", MAX_STEPS);
    env *s = env_new(E, c->scope ? c->scope : callsite);
    jdict kw = A->kw;
    int pending[64];
    int np = 0;
    for (size_t i = 0; i < params->n; i++) {
        jnode *p = params->v[i];
        jv v = jv_undef();
        bool have = false;
        if ((int)i < A->npos) { v = A->pos[i]; have = true; }
        else {
            for (size_t k = 0; k < kw.n; k++)
                if (kw.k[k].u.s.n == p->sn && !memcmp(kw.k[k].u.s.p, p->s, p->sn)) {
                    v = kw.v[k];
                    have = true;
                    kw.k[k] = jv_strn("", 0); /* consumed */
                    break;
                }
        }
        if (!have && p->k == JN_KWARG && np < 64) pending[np++] = (int)i;
        setvar(E, s, p->s, p->sn, v);
    }
    /* leftovers: Python Jinja's kwargs/varargs (a superset of the oracle, which rejects unused ones
     * only when the macro does not read them) */
    jv kwargs = jv_dict_new(E->a), varargs = jv_list_new(E->a);
    for (size_t k = 0; k < kw.n; k++)
        if (kw.k[k].u.s.n) jd_set(E->a, kwargs.u.d, kw.k[k], kw.v[k]);
    for (int i = (int)params->n; i < A->npos; i++) jl_push(E->a, varargs.u.l, A->pos[i]);
    setvar(E, s, "kwargs", 6, kwargs);
    setvar(E, s, "varargs", 7, varargs);
    for (int i = 0; i < np; i++) {
        jnode *p = params->v[pending[i]];
        setvar(E, s, p->s, p->sn, eval(E, p->a, s));
    }
    jbuf out = { .a = E->a };
    exec_block(E, body, s, &out);
    E->depth--;
    return jb_take(&out);
}

static void strftime_js(ev *E, jbuf *b, jv fmt) {
    static const char *mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    static const char *monl[] = { "January", "February", "March", "April", "May", "June", "July",
                                  "August", "September", "October", "November", "December" };
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char tmp[32];
    for (size_t i = 0; i < fmt.u.s.n; i++) {
        char c = fmt.u.s.p[i];
        if (c != '%' || i + 1 >= fmt.u.s.n) { jb_putc(b, c); continue; }
        char d = fmt.u.s.p[++i];
        switch (d) {
        case 'Y': snprintf(tmp, sizeof tmp, "%d", tm.tm_year + 1900); break;
        case 'm': snprintf(tmp, sizeof tmp, "%02d", tm.tm_mon + 1); break;
        case 'd': snprintf(tmp, sizeof tmp, "%02d", tm.tm_mday); break;
        case 'b': snprintf(tmp, sizeof tmp, "%s", mon[tm.tm_mon]); break;
        case 'B': snprintf(tmp, sizeof tmp, "%s", monl[tm.tm_mon]); break;
        case 'H': snprintf(tmp, sizeof tmp, "%02d", tm.tm_hour); break;
        case 'M': snprintf(tmp, sizeof tmp, "%02d", tm.tm_min); break;
        case '%': snprintf(tmp, sizeof tmp, "%%"); break;
        default: snprintf(tmp, sizeof tmp, "%%%c", d); break;
        }
        jb_puts(b, tmp);
    }
    (void)E;
}

static jv call_value(ev *E, jnode *site, jv fn, jargs *A, env *s) {
    if (fn.t == JV_MACRO) return call_closure(E, site, (jclosure *)fn.u.m, A, s);
    if (fn.t != JV_FUNC) FAIL(site, "cannot call a value of type %s", jv_type_name(fn));
    switch (fn.u.fn) {
    case FN_RAISE: {
        jv m = A->npos ? to_str(E, A->pos[0]) : jv_strn("", 0);
        FAIL(site, "raise_exception: %.*s", (int)m.u.s.n, m.u.s.p);
    }
    case FN_NAMESPACE: {
        jv ns = jv_dict_new(E->a);
        ns.t = JV_NS;
        if (A->npos > 1) FAIL(site, "namespace() takes at most one positional argument");
        if (A->npos == 1) {
            jv src = A->pos[0];
            if (src.t == JV_DICT)
                for (size_t i = 0; i < src.u.d->n; i++) jd_set(E->a, ns.u.d, src.u.d->k[i], src.u.d->v[i]);
            else FAIL(site, "namespace() expects a mapping");
        }
        for (size_t i = 0; i < A->kw.n; i++) jd_set(E->a, ns.u.d, A->kw.k[i], A->kw.v[i]);
        return ns;
    }
    case FN_RANGE: {
        int64_t a = 0, b, st = 1;
        if (A->npos < 1 || A->npos > 3) FAIL(site, "range() takes 1 to 3 arguments");
        for (int i = 0; i < A->npos; i++)
            if (A->pos[i].t != JV_INT) FAIL(site, "range() arguments must be integers");
        if (A->npos == 1) b = A->pos[0].u.i;
        else { a = A->pos[0].u.i; b = A->pos[1].u.i; if (A->npos == 3) st = A->pos[2].u.i; }
        if (st == 0) FAIL(site, "range() step must not be zero");
        jv l = jv_list_new(E->a);
        for (int64_t i = a; st > 0 ? i < b : i > b;) {
            if (l.u.l->n >= 1000000) FAIL(site, "range() longer than 1000000 items");
            jl_push(E->a, l.u.l, jv_int(i));
            if (__builtin_add_overflow(i, st, &i)) break; /* the next one would pass INT64_MAX/MIN */
        }
        return l;
    }
    case FN_STRFTIME: {
        if (A->npos < 1 || A->pos[0].t != JV_STR) FAIL(site, "strftime_now() expects a format string");
        jbuf b = { .a = E->a };
        strftime_js(E, &b, A->pos[0]);
        return jb_take(&b);
    }
    }
    FAIL(site, "unknown function");
}

/* ---------------------------------------------------------------- tests */

static bool run_test(ev *E, jnode *n, const char *name, jv v, jv arg0) {
    if (!strcmp(name, "defined")) return v.t != JV_UNDEF;
    if (!strcmp(name, "undefined")) return v.t == JV_UNDEF;
    if (!strcmp(name, "none")) return v.t == JV_NONE;
    if (!strcmp(name, "boolean")) return v.t == JV_BOOL;
    if (!strcmp(name, "true")) return v.t == JV_BOOL && v.u.b;
    if (!strcmp(name, "false")) return v.t == JV_BOOL && !v.u.b;
    if (!strcmp(name, "string")) return v.t == JV_STR;
    if (!strcmp(name, "number")) return is_num(v);
    if (!strcmp(name, "integer")) return v.t == JV_INT;
    if (!strcmp(name, "float")) return v.t == JV_FLOAT;
    if (!strcmp(name, "iterable")) return v.t == JV_LIST || v.t == JV_STR;
    if (!strcmp(name, "mapping")) return v.t == JV_DICT;
    if (!strcmp(name, "sequence")) return v.t == JV_LIST || v.t == JV_DICT || v.t == JV_STR;
    if (!strcmp(name, "callable")) return v.t == JV_FUNC || v.t == JV_MACRO;
    if (!strcmp(name, "odd") || !strcmp(name, "even")) {
        if (v.t != JV_INT) FAIL(n, "test '%s' needs an integer, got %s", name, jv_type_name(v));
        return (v.u.i % 2 != 0) == (name[0] == 'o');
    }
    if (!strcmp(name, "lower") || !strcmp(name, "upper")) {
        if (v.t != JV_STR) return false;
        jv m = map_case(E, v, name[0] == 'u');
        return m.u.s.n == v.u.s.n && !memcmp(m.u.s.p, v.u.s.p, v.u.s.n);
    }
    if (!strcmp(name, "equalto") || !strcmp(name, "eq") || !strcmp(name, "sameas")) return strict_eq(v, arg0);
    if (!strcmp(name, "ne")) return !strict_eq(v, arg0);
    FAIL(n, "unsupported construct: unknown test '%s'", name);
}

/* ---------------------------------------------------------------- member access */

static jv get_member(ev *E, jnode *n, jv obj, jv key) {
    charge(E, n, vsize(obj));
    if (obj.t == JV_DICT || obj.t == JV_NS) {
        if (key.t != JV_STR) FAIL(n, "cannot index a %s with a %s", jv_type_name(obj), jv_type_name(key));
        jv v;
        if (jd_get(obj.u.d, key.u.s.p, key.u.s.n, &v)) return v;
        return jv_undef();
    }
    if (obj.t == JV_LIST || obj.t == JV_STR) {
        if (key.t == JV_INT) {
            int64_t len = obj.t == JV_LIST ? (int64_t)obj.u.l->n : (int64_t)ju_len(obj.u.s.p, obj.u.s.n);
            int64_t i = key.u.i < 0 ? len + key.u.i : key.u.i;
            if (i < 0 || i >= len) return jv_undef();
            if (obj.t == JV_LIST) return obj.u.l->v[i];
            size_t off = ju_offset(obj.u.s.p, obj.u.s.n, (size_t)i), adv;
            ju_decode(obj.u.s.p + off, obj.u.s.n - off, &adv);
            return jv_strn(obj.u.s.p + off, adv);
        }
        if (key.t == JV_STR) {
            if (str_is(key, "length"))
                return jv_int(obj.t == JV_LIST ? (int64_t)obj.u.l->n : (int64_t)ju_len(obj.u.s.p, obj.u.s.n));
            return jv_undef();
        }
        FAIL(n, "cannot index a %s with a %s", jv_type_name(obj), jv_type_name(key));
    }
    if (key.t != JV_STR && key.t != JV_INT) FAIL(n, "cannot index a %s with a %s", jv_type_name(obj), jv_type_name(key));
    return jv_undef();
}

static jv eval_member(ev *E, jnode *n, env *s) {
    jv obj = eval(E, n->a, s);
    if (n->flag && n->b->k == JN_SLICE) {
        jnode *sl = n->b;
        jv a = sl->a ? eval(E, sl->a, s) : jv_undef(), b = sl->b ? eval(E, sl->b, s) : jv_undef(),
           c = sl->c ? eval(E, sl->c, s) : jv_undef();
        if ((a.t != JV_INT && a.t != JV_UNDEF && a.t != JV_NONE) || (b.t != JV_INT && b.t != JV_UNDEF && b.t != JV_NONE) ||
            (c.t != JV_INT && c.t != JV_UNDEF && c.t != JV_NONE))
            FAIL(n, "slice bounds must be integers");
        if (obj.t == JV_LIST) {
            int64_t *idx = ja_alloc(E->a, (obj.u.l->n + 1) * sizeof *idx);
            size_t k = slice_idx((int64_t)obj.u.l->n, a, b, c, idx);
            jv l = jv_list_new(E->a);
            for (size_t i = 0; i < k; i++) jl_push(E->a, l.u.l, obj.u.l->v[idx[i]]);
            return l;
        }
        if (obj.t == JV_STR) {
            size_t cps = ju_len(obj.u.s.p, obj.u.s.n);
            size_t *off = ja_alloc(E->a, (cps + 1) * sizeof *off);
            size_t i = 0, k = 0, adv;
            while (i < obj.u.s.n) { off[k++] = i; ju_decode(obj.u.s.p + i, obj.u.s.n - i, &adv); i += adv; }
            off[k] = obj.u.s.n;
            int64_t *idx = ja_alloc(E->a, (cps + 1) * sizeof *idx);
            size_t m = slice_idx((int64_t)cps, a, b, c, idx);
            jbuf out = { .a = E->a };
            for (size_t j = 0; j < m; j++) jb_put(&out, obj.u.s.p + off[idx[j]], off[idx[j] + 1] - off[idx[j]]);
            return jb_take(&out);
        }
        FAIL(n, "cannot slice a %s", jv_type_name(obj));
    }
    jv key;
    if (n->flag) key = eval(E, n->b, s);
    else if (n->b->k == JN_LIT) key = n->b->lit;
    else key = jv_strn(n->b->s, n->b->sn);
    return get_member(E, n, obj, key);
}

/* ---------------------------------------------------------------- filters */

static int cmp_values(ev *E, jnode *n, jv a, jv b, bool cs) {
    if (a.t == JV_NONE && b.t == JV_NONE) return 0;
    if ((is_num(a) || a.t == JV_BOOL) && (is_num(b) || b.t == JV_BOOL)) {
        double x = num(a), y = num(b);
        return x < y ? -1 : x > y;
    }
    if (a.t == JV_STR && b.t == JV_STR) {
        jv x = cs ? a : map_case(E, a, 0), y = cs ? b : map_case(E, b, 0);
        size_t k = x.u.s.n < y.u.s.n ? x.u.s.n : y.u.s.n;
        int c = memcmp(x.u.s.p, y.u.s.p, k);
        if (c) return c < 0 ? -1 : 1;
        return (x.u.s.n > y.u.s.n) - (x.u.s.n < y.u.s.n);
    }
    FAIL(n, "cannot compare %s with %s", jv_type_name(a), jv_type_name(b));
}

static jv attr_path(ev *E, jv item, jv path) {
    const char *p = path.u.s.p, *end = p + path.u.s.n;
    jv v = item;
    while (p <= end) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        if (!dot) dot = end;
        if (v.t == JV_DICT || v.t == JV_NS) {
            if (!jd_get(v.u.d, p, (size_t)(dot - p), &v)) return jv_undef();
        } else if (v.t == JV_LIST) {
            char *e2;
            char *tmp = ja_strndup(E->a, p, (size_t)(dot - p));
            long i = strtol(tmp, &e2, 10);
            if (e2 == tmp || i < 0 || (size_t)i >= v.u.l->n) return jv_undef();
            v = v.u.l->v[i];
        } else {
            return jv_undef();
        }
        p = dot + 1;
    }
    return v;
}

typedef struct sort_ctx { ev *E; jnode *n; jv attr; bool cs, rev, key0; } sort_ctx;
static int sort_cmp(const sort_ctx *c, jv a, jv b) {
    charge(c->E, c->n, vsize(a) + vsize(b));
    if (c->key0) { a = a.u.l->v[0]; b = b.u.l->v[0]; } /* dictsort: [key, value] pairs by key */
    if (c->attr.t == JV_STR) { a = attr_path(c->E, a, c->attr); b = attr_path(c->E, b, c->attr); }
    int r = cmp_values(c->E, c->n, a, b, c->cs);
    return c->rev ? -r : r;
}

/* Stable merge sort of v[0..n) (tmp: n scratch slots). An insertion sort is quadratic, which a
 * template sorting range(1000000) turns into minutes. */
static void merge_sort(const sort_ctx *c, jv *v, jv *tmp, size_t n) {
    if (n < 2) return;
    size_t h = n / 2;
    merge_sort(c, v, tmp, h);
    merge_sort(c, v + h, tmp, n - h);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) tmp[k++] = sort_cmp(c, v[j], v[i]) < 0 ? v[j++] : v[i++]; /* ties keep the left one first */
    while (i < h) tmp[k++] = v[i++];
    while (j < n) tmp[k++] = v[j++];
    memcpy(v, tmp, n * sizeof *v);
}
static void sort_list(const sort_ctx *c, jlist *l) {
    if (l->n < 2) return;
    merge_sort(c, l->v, ja_alloc(c->E->a, l->n * sizeof *l->v), l->n);
}

static jv apply_filter(ev *E, jnode *n, const char *name, jv v, jargs *A, env *s);

static jv filter_list_sort(ev *E, jnode *n, jv v, jargs *A) {
    sort_ctx c = { E, n, jv_none(), false, false, false };
    jv rev = arg(A, 0, "reverse", jv_bool(false)), cs = arg(A, 1, "case_sensitive", jv_bool(false));
    c.attr = arg(A, 2, "attribute", jv_none());
    if (c.attr.t == JV_INT) {
        char tmp[32];
        snprintf(tmp, sizeof tmp, "%lld", (long long)c.attr.u.i);
        c.attr = jv_str(E->a, tmp);
    }
    c.rev = jv_truthy(rev);
    c.cs = jv_truthy(cs);
    jv l = jv_list_new(E->a);
    for (size_t i = 0; i < v.u.l->n; i++) jl_push(E->a, l.u.l, v.u.l->v[i]);
    sort_list(&c, l.u.l); /* stable, as Python's sorted() (qsort is not) */
    return l;
}

static jv apply_filter(ev *E, jnode *n, const char *name, jv v, jargs *A, env *s) {
    static jargs none_args;
    if (!A) A = &none_args;
#define IS(x) (!strcmp(name, x))
    charge(E, n, vsize(v));
    if (IS("safe")) return v;
    if (IS("tojson")) {
        struct jjson_opts o = { .indent = -1, .undef_as_null = true };
        jv ind = arg(A, -1, "indent", jv_none());
        if (ind.t == JV_INT) o.indent = (int)ind.u.i;
        else if (ind.t != JV_NONE) FAIL(n, "tojson: indent must be an integer");
        o.ensure_ascii = jv_truthy(arg(A, -1, "ensure_ascii", jv_bool(false)));
        o.sort_keys = jv_truthy(arg(A, -1, "sort_keys", jv_bool(false)));
        jv seps = arg(A, -1, "separators", jv_none());
        if (seps.t == JV_LIST) {
            if (seps.u.l->n != 2 || seps.u.l->v[0].t != JV_STR || seps.u.l->v[1].t != JV_STR)
                FAIL(n, "tojson: separators must be two strings");
            o.item_sep = ja_strndup(E->a, seps.u.l->v[0].u.s.p, seps.u.l->v[0].u.s.n);
            o.key_sep = ja_strndup(E->a, seps.u.l->v[1].u.s.p, seps.u.l->v[1].u.s.n);
        }
        jbuf b = { .a = E->a };
        if (!jv_tojson(&b, v, &o, 0)) FAIL(n, "tojson: cannot serialize a %s", jv_type_name(v));
        return jb_take(&b);
    }
    if (IS("default") || IS("d")) {
        jv dflt = arg(A, 0, NULL, jv_strn("", 0));
        bool boolean = jv_truthy(arg(A, 1, "boolean", jv_bool(false)));
        if (v.t == JV_UNDEF || (boolean && !jv_truthy(v))) return dflt;
        return v;
    }
    if (IS("length") || IS("count")) {
        if (v.t == JV_LIST) return jv_int((int64_t)v.u.l->n);
        if (v.t == JV_STR) return jv_int((int64_t)ju_len(v.u.s.p, v.u.s.n));
        if (v.t == JV_DICT) return jv_int((int64_t)v.u.d->n);
        FAIL(n, "filter 'length' cannot be applied to %s", jv_type_name(v));
    }
    if (IS("string")) {
        if (v.t == JV_STR) return v;
        if (v.t == JV_LIST || v.t == JV_DICT) { jbuf b = { .a = E->a }; jv_print(&b, v); return jb_take(&b); }
        if (v.t == JV_BOOL || is_num(v)) return to_str(E, v);
        if (v.t == JV_NONE) return jv_strn("None", 4); /* Python Jinja; the oracle rejects it */
        FAIL(n, "filter 'string' cannot be applied to %s", jv_type_name(v));
    }
    if (IS("join")) {
        jv sep = arg(A, 0, "separator", jv_strn("", 0));
        if (sep.t != JV_STR) FAIL(n, "join: separator must be a string");
        jv attr = arg(A, -1, "attribute", jv_undef());
        jbuf b = { .a = E->a };
        if (v.t == JV_STR) {
            size_t i = 0, adv;
            bool first = true;
            while (i < v.u.s.n) {
                ju_decode(v.u.s.p + i, v.u.s.n - i, &adv);
                if (!first) jb_put(&b, sep.u.s.p, sep.u.s.n);
                jb_put(&b, v.u.s.p + i, adv);
                first = false;
                i += adv;
            }
            return jb_take(&b);
        }
        if (v.t != JV_LIST) FAIL(n, "filter 'join' cannot be applied to %s", jv_type_name(v));
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i) jb_put(&b, sep.u.s.p, sep.u.s.n);
            jv x = v.u.l->v[i];
            if (attr.t == JV_STR) x = attr_path(E, x, attr);
            js_join_item(&b, x);
        }
        return jb_take(&b);
    }
    if (IS("int") || IS("float")) {
        bool isint = IS("int");
        jv dflt = arg(A, 0, "default", isint ? jv_int(0) : jv_float(0));
        if (v.t == JV_STR) {
            char *tmp = ja_strndup(E->a, v.u.s.p, v.u.s.n), *end;
            while (*tmp == ' ' || *tmp == '\t' || *tmp == '\n') tmp++;
            if (isint) {
                long long x = strtoll(tmp, &end, 10);
                return end == tmp ? dflt : jv_int(x);
            }
            double x = strtod(tmp, &end);
            return end == tmp ? dflt : jv_float(x);
        }
        if (v.t == JV_INT) return isint ? v : jv_float((double)v.u.i);
        if (v.t == JV_FLOAT) return !isint ? v : fits_i64(floor(v.u.f)) ? jv_int((int64_t)floor(v.u.f)) : dflt; /* nan, inf, huge */
        if (v.t == JV_BOOL) return isint ? jv_int(v.u.b) : jv_float(v.u.b);
        FAIL(n, "filter '%s' cannot be applied to %s", name, jv_type_name(v));
    }
    if (IS("abs")) {
        if (v.t == JV_INT) return v.u.i == INT64_MIN ? jv_float(-(double)v.u.i) : jv_int(v.u.i < 0 ? -v.u.i : v.u.i);
        if (v.t == JV_FLOAT) return jv_float(fabs(v.u.f));
        FAIL(n, "filter 'abs' cannot be applied to %s", jv_type_name(v));
    }
    if (IS("round")) { /* Python Jinja (the oracle has no round): returns a float */
        if (!is_num(v)) FAIL(n, "filter 'round' cannot be applied to %s", jv_type_name(v));
        jv prec = arg(A, 0, "precision", jv_int(0));
        jv method = arg(A, 1, "method", jv_strn("common", 6));
        double p = pow(10, prec.t == JV_INT ? (double)prec.u.i : 0), x = num(v) * p;
        x = str_is(method, "floor") ? floor(x) : str_is(method, "ceil") ? ceil(x) : round(x);
        return jv_float(x / p);
    }
    if (IS("bool")) return jv_bool(jv_truthy(v));
    if (v.t == JV_STR) {
        if (IS("upper")) return map_case(E, v, 1);
        if (IS("lower")) return map_case(E, v, 0);
        if (IS("title")) return map_case(E, v, 2);
        if (IS("capitalize")) return map_case(E, v, 3);
        if (IS("trim")) return strip(v, true, true);
        if (IS("indent")) {
            jv w = arg(A, 0, "width", jv_int(4));
            bool first = jv_truthy(arg(A, 1, "first", jv_bool(false))), blank = jv_truthy(arg(A, 2, "blank", jv_bool(false)));
            jbuf pad = { .a = E->a };
            if (w.t == JV_INT) for (int64_t i = 0; i < w.u.i && i < 1000; i++) jb_putc(&pad, ' ');
            else if (w.t == JV_STR) jb_put(&pad, w.u.s.p, w.u.s.n);
            else FAIL(n, "indent: width must be an integer");
            jbuf b = { .a = E->a };
            size_t i = 0, line = 0;
            while (i <= v.u.s.n) {
                const char *nl = memchr(v.u.s.p + i, '\n', v.u.s.n - i);
                size_t e = nl ? (size_t)(nl - v.u.s.p) : v.u.s.n;
                if (line) jb_putc(&b, '\n');
                if (!((!first && line == 0) || (!blank && e == i))) jb_put(&b, pad.p ? pad.p : "", pad.n);
                jb_put(&b, v.u.s.p + i, e - i);
                line++;
                if (!nl) break;
                i = e + 1;
            }
            return jb_take(&b);
        }
        if (IS("replace")) {
            jv o = arg(A, 0, "old", jv_undef()), nw = arg(A, 1, "new", jv_undef()), c = arg(A, 2, "count", jv_none());
            if (o.t != JV_STR || nw.t != JV_STR) FAIL(n, "replace: arguments must be strings");
            return str_replace(E, v, o, nw, c.t == JV_INT ? c.u.i : -1);
        }
        if (IS("list")) { /* Python Jinja */
            jv l = jv_list_new(E->a);
            size_t i = 0, adv;
            while (i < v.u.s.n) { ju_decode(v.u.s.p + i, v.u.s.n - i, &adv); jl_push(E->a, l.u.l, jv_strn(v.u.s.p + i, adv)); i += adv; }
            return l;
        }
        if (IS("first") || IS("last")) {
            jv l = apply_filter(E, n, "list", v, NULL, s);
            if (!l.u.l->n) return jv_undef();
            return l.u.l->v[IS("first") ? 0 : l.u.l->n - 1];
        }
        if (IS("reverse")) {
            jv l = apply_filter(E, n, "list", v, NULL, s);
            jbuf b = { .a = E->a };
            for (size_t i = l.u.l->n; i-- > 0;) jb_put(&b, l.u.l->v[i].u.s.p, l.u.l->v[i].u.s.n);
            return jb_take(&b);
        }
    }
    if (v.t == JV_LIST) {
        jlist *l = v.u.l;
        if (IS("list")) return v;
        if (IS("first")) return l->n ? l->v[0] : jv_undef();
        if (IS("last")) return l->n ? l->v[l->n - 1] : jv_undef();
        if (IS("reverse")) {
            jv r = jv_list_new(E->a);
            for (size_t i = l->n; i-- > 0;) jl_push(E->a, r.u.l, l->v[i]);
            return r;
        }
        if (IS("sort")) return filter_list_sort(E, n, v, A);
        if (IS("unique")) {
            jv r = jv_list_new(E->a);
            for (size_t i = 0; i < l->n; i++) {
                bool seen = false;
                charge(E, n, r.u.l->n * ITEM_COST + vsize(l->v[i])); /* quadratic */
                for (size_t j = 0; j < r.u.l->n && !seen; j++) seen = strict_eq(r.u.l->v[j], l->v[i]);
                if (!seen) jl_push(E->a, r.u.l, l->v[i]);
            }
            return r;
        }
        if (IS("selectattr") || IS("rejectattr") || IS("select") || IS("reject")) {
            bool byattr = IS("selectattr") || IS("rejectattr");
            bool sel = name[0] == 's';
            int k = 0;
            jv attr = jv_undef();
            if (byattr) {
                attr = arg(A, k++, NULL, jv_undef());
                if (attr.t != JV_STR) FAIL(n, "%s: the attribute name must be a string", name);
            }
            jv test = arg(A, k++, NULL, jv_undef()), targ = arg(A, k, NULL, jv_undef());
            jv r = jv_list_new(E->a);
            for (size_t i = 0; i < l->n; i++) {
                jv item = l->v[i], x = item;
                bool res;
                if (byattr) {
                    if (item.t != JV_DICT && item.t != JV_NS) FAIL(n, "%s: items must be mappings, got %s", name, jv_type_name(item));
                    if (!jd_get(item.u.d, attr.u.s.p, attr.u.s.n, &x)) { res = false; goto decided; }
                }
                if (test.t == JV_STR) {
                    char *tn = ja_strndup(E->a, test.u.s.p, test.u.s.n);
                    res = run_test(E, n, tn, x, targ);
                } else {
                    res = jv_truthy(x);
                }
            decided:
                if (res == sel) jl_push(E->a, r.u.l, item);
            }
            return r;
        }
        if (IS("map")) {
            jv attr = arg(A, -1, "attribute", jv_undef());
            jv r = jv_list_new(E->a);
            if (attr.t == JV_STR) {
                jv dflt;
                bool has_d = jd_get(&A->kw, "default", 7, &dflt);
                for (size_t i = 0; i < l->n; i++) {
                    jv x = attr_path(E, l->v[i], attr);
                    jl_push(E->a, r.u.l, x.t == JV_UNDEF && has_d ? dflt : x);
                }
                return r;
            }
            jv fname = arg(A, 0, NULL, jv_undef());
            if (fname.t != JV_STR) FAIL(n, "map: expected attribute= or a filter name");
            jargs rest = { 0 };
            for (int i = 1; i < A->npos; i++) rest.pos[rest.npos++] = A->pos[i];
            char *fn = ja_strndup(E->a, fname.u.s.p, fname.u.s.n);
            for (size_t i = 0; i < l->n; i++) jl_push(E->a, r.u.l, apply_filter(E, n, fn, l->v[i], &rest, s));
            return r;
        }
        if (IS("batch") || IS("slice")) FAIL(n, "unsupported construct: filter '%s'", name);
    }
    if (v.t == JV_DICT) {
        if (IS("items") || IS("dictsort")) {
            jv r = jv_list_new(E->a);
            for (size_t i = 0; i < v.u.d->n; i++) {
                jv p = jv_list_new(E->a);
                jl_push(E->a, p.u.l, v.u.d->k[i]);
                jl_push(E->a, p.u.l, v.u.d->v[i]);
                jl_push(E->a, r.u.l, p);
            }
            if (IS("dictsort")) {
                /* by key, case-insensitive (Jinja's default) */
                sort_ctx c = { E, n, jv_none(), false, false, true };
                sort_list(&c, r.u.l);
            }
            return r;
        }
        if (IS("list") || IS("first")) {
            jv r = jv_list_new(E->a);
            for (size_t i = 0; i < v.u.d->n; i++) jl_push(E->a, r.u.l, v.u.d->k[i]);
            if (IS("first")) return r.u.l->n ? r.u.l->v[0] : jv_undef();
            return r;
        }
    }
#undef IS
    if (v.t == JV_UNDEF) FAIL(n, "filter '%s' applied to an undefined value", name);
    FAIL(n, "unsupported construct: filter '%s' on %s", name, jv_type_name(v));
}

static jv eval_filter(ev *E, jnode *n, jv v, env *s) {
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)(n->sn < 63 ? n->sn : 63), n->s);
    jargs A;
    eval_args(E, &n->l1, s, &A);
    return apply_filter(E, n, name, v, &A, s);
}

/* ---------------------------------------------------------------- methods */

/* obj.name(args) for strings and dicts; *handled=false when name is not a method. */
static jv call_method(ev *E, jnode *n, jv obj, jnode *namenode, jargs *A, bool *handled) {
    *handled = true;
    charge(E, n, vsize(obj));
    for (int i = 0; i < A->npos; i++) charge(E, n, vsize(A->pos[i]));
    char name[32];
    snprintf(name, sizeof name, "%.*s", (int)(namenode->sn < 31 ? namenode->sn : 31), namenode->s);
#define IS(x) (!strcmp(name, x))
    if (obj.t == JV_STR) {
        if (IS("upper")) return map_case(E, obj, 1);
        if (IS("lower")) return map_case(E, obj, 0);
        if (IS("title")) return map_case(E, obj, 2);
        if (IS("capitalize")) return map_case(E, obj, 3);
        /* the oracle ignores strip's argument (strips all white space): parity wins */
        if (IS("strip")) return strip(obj, true, true);
        if (IS("lstrip")) return strip(obj, true, false);
        if (IS("rstrip")) return strip(obj, false, true);
        if (IS("startswith") || IS("endswith")) {
            if (A->npos < 1) FAIL(n, "%s() requires an argument", name);
            jv p = A->pos[0];
            bool sw = name[0] == 's';
            jv one[1] = { p };
            jv *pats = p.t == JV_LIST ? p.u.l->v : one;
            size_t np = p.t == JV_LIST ? p.u.l->n : 1;
            for (size_t i = 0; i < np; i++) {
                if (pats[i].t != JV_STR) FAIL(n, "%s() arguments must be strings", name);
                size_t k = pats[i].u.s.n;
                if (k <= obj.u.s.n && !memcmp(sw ? obj.u.s.p : obj.u.s.p + obj.u.s.n - k, pats[i].u.s.p, k))
                    return jv_bool(true);
            }
            return jv_bool(false);
        }
        if (IS("split")) {
            jv sep = arg(A, 0, "sep", jv_none()), maxs = arg(A, 1, "maxsplit", jv_int(-1));
            if (maxs.t != JV_INT) FAIL(n, "split(): maxsplit must be an integer");
            jv r = jv_list_new(E->a);
            if (sep.t == JV_NONE) {
                jv t = strip(obj, true, false);
                size_t i = 0, adv;
                while (i < t.u.s.n) {
                    size_t st = i;
                    while (i < t.u.s.n && !ju_is_space(ju_decode(t.u.s.p + i, t.u.s.n - i, &adv))) i += adv;
                    if (maxs.u.i != -1 && (int64_t)r.u.l->n >= maxs.u.i) {
                        jl_push(E->a, r.u.l, jv_strn(t.u.s.p + st, t.u.s.n - st));
                        break;
                    }
                    jl_push(E->a, r.u.l, jv_strn(t.u.s.p + st, i - st));
                    while (i < t.u.s.n && ju_is_space(ju_decode(t.u.s.p + i, t.u.s.n - i, &adv))) i += adv;
                }
                return r;
            }
            if (sep.t != JV_STR) FAIL(n, "split(): separator must be a string or none");
            if (!sep.u.s.n) FAIL(n, "split(): empty separator");
            size_t i = 0, st = 0;
            while (i + sep.u.s.n <= obj.u.s.n && (maxs.u.i < 0 || (int64_t)r.u.l->n < maxs.u.i)) {
                const char *m = memmem(obj.u.s.p + i, obj.u.s.n - i, sep.u.s.p, sep.u.s.n);
                if (!m) break;
                i = (size_t)(m - obj.u.s.p);
                jl_push(E->a, r.u.l, jv_strn(obj.u.s.p + st, i - st));
                i += sep.u.s.n;
                st = i;
            }
            jl_push(E->a, r.u.l, jv_strn(obj.u.s.p + st, obj.u.s.n - st));
            return r;
        }
        if (IS("replace")) {
            if (A->npos < 2) FAIL(n, "replace() requires at least two arguments");
            jv o = A->pos[0], nw = A->pos[1], c = arg(A, 2, "count", jv_none());
            if (o.t != JV_STR || nw.t != JV_STR) FAIL(n, "replace() arguments must be strings");
            return str_replace(E, obj, o, nw, c.t == JV_INT ? c.u.i : -1);
        }
        if (IS("format")) FAIL(n, "unsupported construct: str.format()");
    }
    if (obj.t == JV_DICT) {
        jv own;
        if (jd_get(obj.u.d, namenode->s, namenode->sn, &own) && (own.t == JV_MACRO || own.t == JV_FUNC)) {
            *handled = false;
            return jv_undef();
        }
        if (IS("get")) {
            if (A->npos < 1 || A->pos[0].t != JV_STR) FAIL(n, "get(): the key must be a string");
            jv v;
            if (jd_get(obj.u.d, A->pos[0].u.s.p, A->pos[0].u.s.n, &v)) return v;
            return A->npos > 1 ? A->pos[1] : jv_none();
        }
        if (IS("items")) return apply_filter(E, n, "items", obj, NULL, NULL);
        if (IS("keys") || IS("values")) {
            jv r = jv_list_new(E->a);
            for (size_t i = 0; i < obj.u.d->n; i++) jl_push(E->a, r.u.l, IS("keys") ? obj.u.d->k[i] : obj.u.d->v[i]);
            return r;
        }
    }
#undef IS
    *handled = false;
    return jv_undef();
}

/* ---------------------------------------------------------------- expressions */

static jv binop(ev *E, jnode *n, env *s) {
    const char *op = n->s;
    size_t on = n->sn;
#define OP(x) (on == strlen(x) && !memcmp(op, x, on))
    jv l = eval(E, n->a, s);
    if (OP("and")) return jv_truthy(l) ? eval(E, n->b, s) : l;
    if (OP("or")) return jv_truthy(l) ? l : eval(E, n->b, s);
    jv r = eval(E, n->b, s);
    /* comparisons and searches scan their operands; building a new value (+ ~ *) is bounded by
     * the arena instead */
    if (!OP("+") && !OP("~") && !OP("*")) charge(E, n, vsize(l) + vsize(r));
    if (OP("==")) return jv_bool(loose_eq(l, r));
    if (OP("!=")) return jv_bool(!loose_eq(l, r));
    if (l.t == JV_UNDEF || r.t == JV_UNDEF) {
        if (r.t == JV_UNDEF && (OP("in") || OP("not in"))) return jv_bool(OP("not in"));
        FAIL(n, "cannot apply '%.*s' to an undefined value", (int)on, op);
    }
    if (l.t == JV_NONE || r.t == JV_NONE) FAIL(n, "cannot apply '%.*s' to none", (int)on, op);
    if (OP("~")) {
        jbuf b = { .a = E->a };
        concat_str(&b, l);
        concat_str(&b, r);
        return jb_take(&b);
    }
    bool ln = is_num(l) || (OP("**") && l.t == JV_BOOL), rn = is_num(r) || (OP("**") && r.t == JV_BOOL);
    if (ln && rn) {
        bool fl = l.t == JV_FLOAT || r.t == JV_FLOAT;
        double a = num(l), b = num(r);
        int64_t x;
        if (OP("+")) return fl ? jv_float(a + b) : __builtin_add_overflow(l.u.i, r.u.i, &x) ? jv_float(a + b) : jv_int(x);
        if (OP("-")) return fl ? jv_float(a - b) : __builtin_sub_overflow(l.u.i, r.u.i, &x) ? jv_float(a - b) : jv_int(x);
        if (OP("*")) return fl ? jv_float(a * b) : __builtin_mul_overflow(l.u.i, r.u.i, &x) ? jv_float(a * b) : jv_int(x);
        if (OP("/")) return jv_float(a / b);
        if (OP("//")) {
            if (b == 0) FAIL(n, "division by zero");
            return fl ? jv_float(floor(a / b)) : int_or_float(floor(a / b));
        }
        if (OP("%")) {
            if (!fl) {
                if (r.u.i == 0) FAIL(n, "modulo by zero");
                return jv_int(r.u.i == -1 ? 0 : l.u.i % r.u.i); /* INT64_MIN % -1 traps */
            }
            return jv_float(fmod(a, b));
        }
        if (OP("**")) {
            double p = pow(a, b);
            return fl || b < 0 ? jv_float(p) : int_or_float(p);
        }
        if (OP("<")) return jv_bool(a < b);
        if (OP(">")) return jv_bool(a > b);
        if (OP("<=")) return jv_bool(a <= b);
        if (OP(">=")) return jv_bool(a >= b);
    }
    if (l.t == JV_LIST && r.t == JV_LIST && OP("+")) {
        jv x = jv_list_new(E->a);
        for (size_t i = 0; i < l.u.l->n; i++) jl_push(E->a, x.u.l, l.u.l->v[i]);
        for (size_t i = 0; i < r.u.l->n; i++) jl_push(E->a, x.u.l, r.u.l->v[i]);
        return x;
    }
    if (r.t == JV_LIST && (OP("in") || OP("not in"))) {
        bool m = false;
        for (size_t i = 0; i < r.u.l->n && !m; i++) {
            if (r.u.l->v[i].t == JV_STR && l.t == JV_STR) charge(E, n, l.u.s.n);
            m = strict_eq(r.u.l->v[i], l);
        }
        return jv_bool(OP("in") ? m : !m);
    }
    if ((l.t == JV_STR || r.t == JV_STR) && OP("+")) {
        jbuf b = { .a = E->a };
        concat_str(&b, l);
        concat_str(&b, r);
        return jb_take(&b);
    }
    if (l.t == JV_STR && r.t == JV_STR) {
        if (OP("in")) return jv_bool(contains(r.u.s.p, r.u.s.n, l.u.s.p, l.u.s.n));
        if (OP("not in")) return jv_bool(!contains(r.u.s.p, r.u.s.n, l.u.s.p, l.u.s.n));
        /* Python Jinja compares strings; the oracle does not */
        if (OP("<") || OP(">") || OP("<=") || OP(">=")) {
            int c = cmp_values(E, n, l, r, true);
            return jv_bool(OP("<") ? c < 0 : OP(">") ? c > 0 : OP("<=") ? c <= 0 : c >= 0);
        }
    }
    if (l.t == JV_STR && (r.t == JV_DICT) && (OP("in") || OP("not in"))) {
        bool m = jd_get(r.u.d, l.u.s.p, l.u.s.n, NULL);
        return jv_bool(OP("in") ? m : !m);
    }
    if (l.t == JV_STR && r.t == JV_INT && OP("*")) { /* Python string repetition */
        jbuf b = { .a = E->a };
        /* capped at 16 MiB; copied by doubling (one byte at a time is 16 M calls) */
        size_t want = 0;
        if (r.u.i > 0 && l.u.s.n) {
            uint64_t cnt = (uint64_t)r.u.i, cap = ((uint64_t)1 << 24) + l.u.s.n - 1;
            want = cnt > cap / l.u.s.n ? (size_t)(cap / l.u.s.n) * l.u.s.n : (size_t)(cnt * l.u.s.n);
        }
        if (want) jb_put(&b, l.u.s.p, l.u.s.n);
        while (b.n < want) jb_put(&b, b.p, b.n * 2 <= want ? b.n : want - b.n);
        return jb_take(&b);
    }
#undef OP
    FAIL(n, "unsupported operator '%.*s' between %s and %s", (int)on, op, jv_type_name(l), jv_type_name(r));
}

static jv eval(ev *E, jnode *n, env *s) {
    switch (n->k) {
    case JN_LIT: return n->lit;
    case JN_NAME: return lookup(E, n, s, n->s, n->sn);
    case JN_LIST: case JN_TUPLE: {
        jv l = jv_list_new(E->a);
        for (size_t i = 0; i < n->l1.n; i++) jl_push(E->a, l.u.l, eval(E, n->l1.v[i], s));
        return l;
    }
    case JN_DICT: {
        jv d = jv_dict_new(E->a);
        for (size_t i = 0; i < n->l1.n; i++) {
            jv k = eval(E, n->l1.v[i], s);
            if (k.t != JV_STR) FAIL(n, "dict keys must be strings, got %s", jv_type_name(k));
            jd_set(E->a, d.u.d, k, eval(E, n->l2.v[i], s));
        }
        return d;
    }
    case JN_MEMBER: return eval_member(E, n, s);
    case JN_CALL: {
        jargs A;
        eval_args(E, &n->l1, s, &A);
        jnode *c = n->a;
        if (c->k == JN_MEMBER && !c->flag && c->b->k == JN_NAME) {
            jv obj = eval(E, c->a, s);
            bool handled;
            jv r = call_method(E, n, obj, c->b, &A, &handled);
            if (handled) return r;
            jv fn = get_member(E, c, obj, jv_strn(c->b->s, c->b->sn));
            if (fn.t == JV_UNDEF)
                FAIL(n, "unsupported construct: no method '%.*s' on %s", (int)c->b->sn, c->b->s, jv_type_name(obj));
            return call_value(E, n, fn, &A, s);
        }
        jv fn = eval(E, c, s);
        if (fn.t == JV_UNDEF && c->k == JN_NAME)
            FAIL(n, "unsupported construct: unknown function '%.*s'", (int)c->sn, c->s);
        return call_value(E, n, fn, &A, s);
    }
    case JN_FILTER: return eval_filter(E, n, eval(E, n->a, s), s);
    case JN_TEST: {
        jv v = eval(E, n->a, s);
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(n->sn < 63 ? n->sn : 63), n->s);
        jv a0 = n->l1.n ? eval(E, n->l1.v[0], s) : jv_undef();
        bool r = run_test(E, n, name, v, a0);
        return jv_bool(n->flag ? !r : r);
    }
    case JN_BINOP: return binop(E, n, s);
    case JN_UNARY: {
        jv v = eval(E, n->a, s);
        if (n->s[0] == 'n') return jv_bool(!jv_truthy(v));
        int sign = n->s[0] == '-' ? -1 : 1;
        if (v.t == JV_INT) return v.u.i == INT64_MIN && sign < 0 ? jv_float(-(double)v.u.i) : jv_int(sign * v.u.i);
        if (v.t == JV_BOOL) return jv_int(sign * (int64_t)v.u.b);
        if (v.t == JV_FLOAT) return jv_float(sign * v.u.f);
        FAIL(n, "unary '%c' cannot be applied to %s", n->s[0], jv_type_name(v));
    }
    case JN_TERNARY: return jv_truthy(eval(E, n->a, s)) ? eval(E, n->b, s) : eval(E, n->c, s);
    case JN_SELECT: return jv_truthy(eval(E, n->b, s)) ? eval(E, n->a, s) : jv_undef();
    case JN_SLICE: FAIL(n, "a slice outside of []");
    case JN_KWARG: case JN_SPREAD: FAIL(n, "a keyword argument outside of a call");
    default: FAIL(n, "internal error: statement in an expression");
    }
}

/* ---------------------------------------------------------------- statements */

static void assign(ev *E, jnode *target, jv v, env *s, jnode *site) {
    if (target->k == JN_NAME) { setvar(E, s, target->s, target->sn, v); return; }
    if (target->k == JN_TUPLE) {
        if (v.t != JV_LIST) FAIL(site, "cannot unpack %s", jv_type_name(v));
        if (v.u.l->n != target->l1.n)
            FAIL(site, "too %s values to unpack (expected %zu, got %zu)", v.u.l->n < target->l1.n ? "few" : "many",
                 target->l1.n, v.u.l->n);
        for (size_t i = 0; i < target->l1.n; i++) {
            if (target->l1.v[i]->k != JN_NAME) FAIL(site, "cannot unpack into an expression");
            setvar(E, s, target->l1.v[i]->s, target->l1.v[i]->sn, v.u.l->v[i]);
        }
        return;
    }
    if (target->k == JN_MEMBER && !target->flag && target->b->k == JN_NAME) {
        jv obj = eval(E, target->a, s);
        if (obj.t != JV_NS) FAIL(site, "cannot set an attribute on %s (only on a namespace)", jv_type_name(obj));
        jd_set(E->a, obj.u.d, jv_strn(target->b->s, target->b->sn), v);
        return;
    }
    FAIL(site, "cannot assign to this expression");
}

static enum flow exec_for(ev *E, jnode *n, env *outer, jbuf *out) {
    env *s = env_new(E, outer);
    jnode *iter = n->b, *cond = NULL;
    if (iter->k == JN_SELECT) { cond = iter->b; iter = iter->a; }
    jv it = eval(E, iter, s);
    if (it.t == JV_DICT) it = apply_filter(E, n, "list", it, NULL, s); /* keys */
    else if (it.t == JV_STR) it = apply_filter(E, n, "list", it, NULL, s);
    else if (it.t == JV_UNDEF) it = jv_list_new(E->a); /* Python Jinja: an undefined iterable is empty
                                                         * (the oracle raises; Phi-4-mini needs this) */
    else if (it.t == JV_NONE) FAIL(n, "for loop over none");
    else if (it.t != JV_LIST) FAIL(n, "cannot iterate over %s", jv_type_name(it));
    jlist *src = it.u.l;
    jv *items = ja_alloc(E->a, (src->n + 1) * sizeof *items);
    size_t k = 0;
    for (size_t i = 0; i < src->n; i++) {
        if (cond) {
            env *ls = env_new(E, s);
            assign(E, n->a, src->v[i], ls, n);
            if (!jv_truthy(eval(E, cond, ls))) continue;
        }
        items[k++] = src->v[i];
    }
    bool any = false;
    /* one `loop` dict per for statement, updated in place (a template that keeps `loop` past an
     * iteration would see it change; none does, and a dict per iteration costs memory) */
    jv loop = jv_dict_new(E->a);
    jdict *d = loop.u.d;
    for (size_t i = 0; i < k; i++) {
        if (++E->steps > MAX_STEPS) FAIL(n, "the template runs more than %u loop iterations and macro calls", MAX_STEPS);
        jd_set(E->a, d, jv_strn("index", 5), jv_int((int64_t)i + 1));
        jd_set(E->a, d, jv_strn("index0", 6), jv_int((int64_t)i));
        jd_set(E->a, d, jv_strn("revindex", 8), jv_int((int64_t)(k - i)));
        jd_set(E->a, d, jv_strn("revindex0", 9), jv_int((int64_t)(k - i - 1)));
        jd_set(E->a, d, jv_strn("first", 5), jv_bool(i == 0));
        jd_set(E->a, d, jv_strn("last", 4), jv_bool(i == k - 1));
        jd_set(E->a, d, jv_strn("length", 6), jv_int((int64_t)k));
        jd_set(E->a, d, jv_strn("previtem", 8), i > 0 ? items[i - 1] : jv_undef());
        jd_set(E->a, d, jv_strn("nextitem", 8), i + 1 < k ? items[i + 1] : jv_undef());
        setvar(E, s, "loop", 4, loop);
        assign(E, n->a, items[i], s, n);
        jbuf body = { .a = E->a };
        enum flow f = exec_block(E, &n->l1, s, &body);
        if (f == FLOW_CONTINUE) continue; /* the oracle drops a body cut by continue/break */
        if (f == FLOW_BREAK) break;
        jb_put(out, body.p ? body.p : "", body.n);
        any = true;
    }
    if (!any) return exec_block(E, &n->l2, s, out);
    return FLOW_NORMAL;
}

static enum flow exec_stmt(ev *E, jnode *n, env *s, jbuf *out) {
    switch (n->k) {
    case JN_TEXT: jb_put(out, n->s, n->sn); return FLOW_NORMAL;
    case JN_OUTPUT: jv_print(out, eval(E, n->a, s)); return FLOW_NORMAL;
    case JN_IF: {
        jbuf b = { .a = E->a };
        enum flow f = exec_block(E, jv_truthy(eval(E, n->a, s)) ? &n->l1 : &n->l2, s, &b);
        if (f != FLOW_NORMAL) return f; /* a cut block contributes nothing, as the oracle */
        jb_put(out, b.p ? b.p : "", b.n);
        return FLOW_NORMAL;
    }
    case JN_FOR: {
        jbuf b = { .a = E->a };
        exec_for(E, n, s, &b);
        jb_put(out, b.p ? b.p : "", b.n);
        return FLOW_NORMAL;
    }
    case JN_SET: {
        jv v;
        if (n->b) v = eval(E, n->b, s);
        else {
            jbuf b = { .a = E->a };
            exec_block(E, &n->l1, s, &b);
            v = jb_take(&b);
        }
        assign(E, n->a, v, s, n);
        return FLOW_NORMAL;
    }
    case JN_MACRO: {
        jclosure *c = ja_alloc(E->a, sizeof *c);
        c->n = n;
        jv m = { .t = JV_MACRO, .u.m = (jnode *)c };
        setvar(E, s, n->s, n->sn, m);
        return FLOW_NORMAL;
    }
    case JN_BREAK: return FLOW_BREAK;
    case JN_CONTINUE: return FLOW_CONTINUE;
    case JN_CALLBLOCK: {
        /* caller(): the call block body as a macro over the caller parameters */
        jnode *cm = ja_alloc(E->a, sizeof *cm);
        cm->k = JN_MACRO;
        cm->line = n->line;
        cm->l1 = n->l1;
        cm->l2 = n->l2;
        jclosure *c = ja_alloc(E->a, sizeof *c);
        c->n = cm;
        c->scope = s;
        jargs A;
        eval_args(E, &n->a->l1, s, &A);
        jv fn = eval(E, n->a->a, s);
        env *cs = env_new(E, s);
        jv callerv = { .t = JV_MACRO, .u.m = (jnode *)c };
        setvar(E, cs, "caller", 6, callerv);
        jv_print(out, call_value(E, n, fn, &A, cs));
        return FLOW_NORMAL;
    }
    case JN_FILTERBLOCK: {
        jbuf b = { .a = E->a };
        exec_block(E, &n->l1, s, &b);
        jv_print(out, eval_filter(E, n->a, jb_take(&b), s));
        return FLOW_NORMAL;
    }
    default:
        FAIL(n, "internal error: expression as a statement");
    }
}

static enum flow exec_block(ev *E, const jnodes *b, env *s, jbuf *out) {
    for (size_t i = 0; i < b->n; i++) {
        enum flow f = exec_stmt(E, b->v[i], s, out);
        if (f != FLOW_NORMAL) return f;
    }
    return FLOW_NORMAL;
}

void jrender(jarena *a, jerr *e, const jnodes *prog, jdict *globals, jbuf *out) {
    ev E = { .a = a, .e = e };
    env *root = env_new(&E, NULL);
    static const struct { const char *n; int fn; } fns[] = {
        { "namespace", FN_NAMESPACE }, { "raise_exception", FN_RAISE }, { "range", FN_RANGE }, { "strftime_now", FN_STRFTIME },
    };
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        jv f = { .t = JV_FUNC, .u.fn = fns[i].fn };
        setvar(&E, root, fns[i].n, strlen(fns[i].n), f);
    }
    setvar(&E, root, "true", 4, jv_bool(true));
    setvar(&E, root, "false", 5, jv_bool(false));
    setvar(&E, root, "none", 4, jv_none());
    setvar(&E, root, "True", 4, jv_bool(true));
    setvar(&E, root, "False", 5, jv_bool(false));
    setvar(&E, root, "None", 4, jv_none());
    /* the caller's variables in a scope of their own above the builtins, which they may shadow:
     * their keys are unique, so no lookups (a large set of extra variables stays linear) */
    env *top = env_new(&E, root);
    if (globals)
        for (size_t i = 0; i < globals->n; i++) jd_push(a, &top->vars, globals->k[i], globals->v[i]);
    out->a = a;
    exec_block(&E, prog, top, out);
}
