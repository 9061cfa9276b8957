/* jinja_parse.c — tokens to AST, a recursive-descent parser with the oracle's precedence:
 *   ternary (a if c else b; `a if c` alone selects) < or < and < not < comparison/in
 *   < additive (+ - ~) < multiplicative < ** < test (is) < filter (|) < unary sign
 *   < call/member < primary.
 * Node fields per kind:
 *   TEXT s | OUTPUT a | IF a=cond l1=body l2=else | FOR a=target b=iterable l1=body l2=else
 *   SET a=target b=value|NULL l1=block body | MACRO s=name l1=params l2=body
 *   CALLBLOCK a=call l1=caller params l2=body | FILTERBLOCK a=filter l1=body
 *   LIT lit | NAME s | LIST/TUPLE l1 | DICT l1=keys l2=values | MEMBER a=obj b=prop flag=computed
 *   SLICE a,b,c (start, stop, step; NULL when absent) | CALL a=callee l1=args | KWARG s a
 *   SPREAD a flag=** | FILTER a s l1=args flag=has parens | TEST a s flag=negated
 *   BINOP s a b | UNARY s a | TERNARY a=cond b=then c=else | SELECT a=value b=cond */
#include "chat/jinja.h"

#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct ps {
    jarena *a;
    jerr *e;
    const jtoken *t;
    size_t n, i;
    int depth; /* nesting of expressions and blocks: bounded so hostile input cannot overflow the stack */
} ps;

#define MAX_DEPTH 200

static const jtoken *cur(ps *P) { return &P->t[P->i < P->n ? P->i : P->n - 1]; }
static bool is(ps *P, enum jtok t) { return cur(P)->t == t; }
static bool is_id(ps *P, size_t off, const char *name) {
    if (P->i + off >= P->n) return false;
    const jtoken *t = &P->t[P->i + off];
    return t->t == JT_IDENT && t->n == strlen(name) && !memcmp(t->s, name, t->n);
}
static bool is_stmt(ps *P, const char *name) { return is(P, JT_OPEN_STMT) && is_id(P, 1, name); }

static const char *tok_desc(const jtoken *t) {
    switch (t->t) {
    case JT_EOF: return "end of template";
    case JT_TEXT: return "text";
    case JT_OPEN_STMT: return "'{%'";
    case JT_CLOSE_STMT: return "'%}'";
    case JT_OPEN_EXPR: return "'{{'";
    case JT_CLOSE_EXPR: return "'}}'";
    default: return NULL;
    }
}

_Noreturn static void fail_at(ps *P, const char *what) {
    const jtoken *t = cur(P);
    const char *d = tok_desc(t);
    if (d) jfail(P->e, t->line, "%s, got %s", what, d);
    jfail(P->e, t->line, "%s, got '%.*s'", what, (int)(t->n > 40 ? 40 : t->n), t->s);
}

static void expect(ps *P, enum jtok t, const char *what) {
    if (!is(P, t)) fail_at(P, what);
    P->i++;
}
static void expect_id(ps *P, const char *name) {
    if (!is_id(P, 0, name)) {
        char m[80];
        snprintf(m, sizeof m, "expected '%s'", name);
        fail_at(P, m);
    }
    P->i++;
}

static jnode *mk(ps *P, enum jkind k) {
    jnode *n = ja_alloc(P->a, sizeof *n);
    n->k = k;
    n->line = cur(P)->line;
    return n;
}

static void add(ps *P, jnodes *l, jnode *x) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        jnode **nv = ja_alloc(P->a, cap * sizeof *nv);
        if (l->n) memcpy(nv, l->v, l->n * sizeof *nv);
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = x;
}

static jnode *expr(ps *P);
static jnode *primary(ps *P);
static jnode *any(ps *P);

/* ---------------------------------------------------------------- expressions */

static jnode *binop(ps *P, const char *op, size_t opn, jnode *l, jnode *r, int line) {
    jnode *n = mk(P, JN_BINOP);
    n->line = line;
    n->s = op;
    n->sn = opn;
    n->a = l;
    n->b = r;
    return n;
}

static void args(ps *P, jnodes *out, bool params) {
    expect(P, JT_LPAREN, "expected '('");
    bool kw = false;
    while (!is(P, JT_RPAREN)) {
        if (is(P, JT_EOF)) fail_at(P, "expected ')'");
        jnode *x;
        if (!params && (is(P, JT_POW) || (is(P, JT_MUL) && cur(P)->n == 1 && cur(P)->s[0] == '*'))) {
            x = mk(P, JN_SPREAD);
            x->flag = is(P, JT_POW);
            P->i++;
            x->a = expr(P);
        } else {
            x = expr(P);
            if (is(P, JT_ASSIGN)) {
                if (x->k != JN_NAME) fail_at(P, "expected a name before '='");
                P->i++;
                jnode *k = mk(P, JN_KWARG);
                k->line = x->line;
                k->s = x->s;
                k->sn = x->sn;
                k->a = expr(P);
                x = k;
                kw = true;
            } else if (params && x->k != JN_NAME) {
                jfail(P->e, x->line, "expected a parameter name");
            } else if (kw) {
                jfail(P->e, x->line, params ? "non-default parameter follows a default one"
                                            : "positional argument follows keyword argument");
            }
        }
        add(P, out, x);
        if (is(P, JT_COMMA)) P->i++;
    }
    P->i++;
}

static jnode *call(ps *P, jnode *callee);

static jnode *member(ps *P, jnode *obj) {
    while (is(P, JT_DOT) || is(P, JT_LBRACKET)) {
        bool computed = is(P, JT_LBRACKET);
        int line = cur(P)->line;
        P->i++;
        jnode *m = mk(P, JN_MEMBER);
        m->line = line;
        m->a = obj;
        m->flag = computed;
        if (computed) {
            jnode *parts[3] = { 0 };
            int np = 0;
            bool slice = false;
            while (!is(P, JT_RBRACKET)) {
                if (is(P, JT_EOF) || np >= 3) fail_at(P, "expected ']'");
                if (is(P, JT_COLON)) {
                    parts[np++] = NULL;
                    P->i++;
                    slice = true;
                } else {
                    parts[np++] = expr(P);
                    if (is(P, JT_COLON)) { P->i++; slice = true; }
                }
            }
            if (!np) fail_at(P, "expected an index");
            P->i++;
            if (slice) {
                jnode *s = mk(P, JN_SLICE);
                s->a = parts[0];
                s->b = parts[1];
                s->c = parts[2];
                m->b = s;
            } else {
                m->b = parts[0];
            }
        } else {
            jnode *p = primary(P);
            if (p->k != JN_NAME && !(p->k == JN_LIT && p->lit.t == JV_INT))
                jfail(P->e, line, "expected a name or an integer after '.'");
            m->b = p;
        }
        obj = m;
    }
    return obj;
}

static jnode *call(ps *P, jnode *callee) {
    jnode *c = mk(P, JN_CALL);
    c->a = callee;
    args(P, &c->l1, false);
    jnode *x = member(P, c);
    if (is(P, JT_LPAREN)) x = call(P, x);
    return x;
}

static jnode *call_member(ps *P) {
    jnode *m = member(P, primary(P));
    if (is(P, JT_LPAREN)) return call(P, m);
    return m;
}

static jnode *unary_sign(ps *P) {
    if ((is(P, JT_UNARY) || is(P, JT_ADD)) && cur(P)->n == 1 && (cur(P)->s[0] == '-' || cur(P)->s[0] == '+')) {
        jnode *u = mk(P, JN_UNARY);
        u->s = cur(P)->s;
        u->sn = 1;
        P->i++;
        if (++P->depth > MAX_DEPTH) jfail(P->e, u->line, "expressions nested deeper than %d", MAX_DEPTH);
        u->a = unary_sign(P);
        P->depth--;
        return u;
    }
    return call_member(P);
}

static jnode *filter_expr(ps *P) {
    jnode *x = unary_sign(P);
    while (is(P, JT_PIPE)) {
        P->i++;
        jnode *f = mk(P, JN_FILTER);
        jnode *name = primary(P);
        if (name->k != JN_NAME) jfail(P->e, f->line, "expected a filter name after '|'");
        f->s = name->s;
        f->sn = name->sn;
        f->a = x;
        if (is(P, JT_LPAREN)) {
            f->flag = true;
            args(P, &f->l1, false);
        }
        x = f;
    }
    return x;
}

static jnode *test_expr(ps *P) {
    jnode *x = filter_expr(P);
    while (is_id(P, 0, "is")) {
        P->i++;
        jnode *t = mk(P, JN_TEST);
        if (is_id(P, 0, "not")) { t->flag = true; P->i++; }
        jnode *name = primary(P);
        if (name->k != JN_NAME) {
            /* `is none` / `is true` lex as names too; a literal here is a syntax error */
            jfail(P->e, t->line, "expected a test name after 'is'");
        }
        t->s = name->s;
        t->sn = name->sn;
        t->a = x;
        /* one optional argument without parentheses: `x is equalto 'y'`, or with them */
        if (is(P, JT_LPAREN)) args(P, &t->l1, false);
        else if (is(P, JT_STRING) || is(P, JT_NUMBER)) add(P, &t->l1, primary(P));
        x = t;
    }
    return x;
}

static jnode *power(ps *P) {
    jnode *x = test_expr(P);
    while (is(P, JT_POW)) {
        const jtoken *op = cur(P);
        P->i++;
        x = binop(P, op->s, op->n, x, test_expr(P), op->line);
    }
    return x;
}

static jnode *mult(ps *P) {
    jnode *x = power(P);
    while (is(P, JT_MUL)) {
        const jtoken *op = cur(P);
        P->i++;
        x = binop(P, op->s, op->n, x, power(P), op->line);
    }
    return x;
}

static jnode *additive(ps *P) {
    jnode *x = mult(P);
    while (is(P, JT_ADD)) {
        const jtoken *op = cur(P);
        P->i++;
        x = binop(P, op->s, op->n, x, mult(P), op->line);
    }
    return x;
}

static jnode *comparison(ps *P) {
    jnode *x = additive(P);
    for (;;) {
        int line = cur(P)->line;
        if (is_id(P, 0, "not") && is_id(P, 1, "in")) {
            P->i += 2;
            x = binop(P, "not in", 6, x, additive(P), line);
        } else if (is_id(P, 0, "in")) {
            P->i++;
            x = binop(P, "in", 2, x, additive(P), line);
        } else if (is(P, JT_CMP)) {
            const jtoken *op = cur(P);
            P->i++;
            x = binop(P, op->s, op->n, x, additive(P), line);
        } else {
            return x;
        }
    }
}

static jnode *negation(ps *P) {
    if (is_id(P, 0, "not")) {
        jnode *u = mk(P, JN_UNARY);
        u->s = "not";
        u->sn = 3;
        P->i++;
        if (++P->depth > MAX_DEPTH) jfail(P->e, u->line, "expressions nested deeper than %d", MAX_DEPTH);
        u->a = negation(P);
        P->depth--;
        return u;
    }
    return comparison(P);
}

static jnode *and_expr(ps *P) {
    jnode *x = negation(P);
    while (is_id(P, 0, "and")) {
        int line = cur(P)->line;
        P->i++;
        x = binop(P, "and", 3, x, negation(P), line);
    }
    return x;
}

static jnode *or_expr(ps *P) {
    jnode *x = and_expr(P);
    while (is_id(P, 0, "or")) {
        int line = cur(P)->line;
        P->i++;
        x = binop(P, "or", 2, x, and_expr(P), line);
    }
    return x;
}

static jnode *expr_inner(ps *P);
static jnode *expr(ps *P) {
    if (++P->depth > MAX_DEPTH) jfail(P->e, cur(P)->line, "expressions or blocks nested deeper than %d", MAX_DEPTH);
    jnode *x = expr_inner(P);
    P->depth--;
    return x;
}

static jnode *expr_inner(ps *P) {
    jnode *a = or_expr(P);
    if (is_id(P, 0, "if")) {
        int line = cur(P)->line;
        P->i++;
        jnode *cond = or_expr(P);
        if (is_id(P, 0, "else")) {
            P->i++;
            jnode *t = mk(P, JN_TERNARY);
            t->line = line;
            t->a = cond;
            t->b = a;
            t->c = expr(P);
            return t;
        }
        jnode *s = mk(P, JN_SELECT);
        s->line = line;
        s->a = a;
        s->b = cond;
        return s;
    }
    return a;
}

/* a, b, c -> TUPLE; a single expression otherwise */
static jnode *expr_seq(ps *P, bool prim) {
    jnode *first = prim ? primary(P) : expr(P);
    if (!is(P, JT_COMMA)) return first;
    jnode *t = mk(P, JN_TUPLE);
    t->line = first->line;
    add(P, &t->l1, first);
    while (is(P, JT_COMMA)) {
        P->i++;
        add(P, &t->l1, prim ? primary(P) : expr(P));
        if (!is(P, JT_COMMA)) break;
    }
    return t;
}

static jnode *primary(ps *P) {
    const jtoken *t = cur(P);
    jnode *n;
    switch (t->t) {
    case JT_NUMBER: {
        n = mk(P, JN_LIT);
        char *buf = ja_strndup(P->a, t->s, t->n);
        errno = 0;
        long long x = memchr(buf, '.', t->n) ? 0 : strtoll(buf, NULL, 10);
        /* a float literal, or an integer beyond 64 bits: a float, as the oracle's numbers */
        if (memchr(buf, '.', t->n) || errno == ERANGE) n->lit = jv_float(strtod(buf, NULL));
        else n->lit = jv_int(x);
        P->i++;
        return n;
    }
    case JT_STRING: {
        n = mk(P, JN_LIT);
        jbuf b = { .a = P->a };
        while (is(P, JT_STRING)) {
            jb_put(&b, cur(P)->s, cur(P)->n);
            P->i++;
        }
        n->lit = b.p ? jb_take(&b) : jv_strn("", 0);
        return n;
    }
    case JT_IDENT:
        n = mk(P, JN_NAME);
        n->s = t->s;
        n->sn = t->n;
        P->i++;
        return n;
    case JT_LPAREN:
        P->i++;
        n = expr_seq(P, false);
        expect(P, JT_RPAREN, "expected ')'");
        return n;
    case JT_LBRACKET:
        n = mk(P, JN_LIST);
        P->i++;
        while (!is(P, JT_RBRACKET)) {
            if (is(P, JT_EOF) || is(P, JT_CLOSE_EXPR) || is(P, JT_CLOSE_STMT)) fail_at(P, "expected ']'");
            add(P, &n->l1, expr(P));
            if (is(P, JT_COMMA)) P->i++;
        }
        P->i++;
        return n;
    case JT_LBRACE:
        n = mk(P, JN_DICT);
        P->i++;
        while (!is(P, JT_RBRACE)) {
            if (is(P, JT_EOF) || is(P, JT_CLOSE_EXPR) || is(P, JT_CLOSE_STMT)) fail_at(P, "expected '}'");
            add(P, &n->l1, expr(P));
            expect(P, JT_COLON, "expected ':' in a dict literal");
            add(P, &n->l2, expr(P));
            if (is(P, JT_COMMA)) P->i++;
        }
        P->i++;
        return n;
    default:
        fail_at(P, "unexpected token in an expression");
    }
}

/* ---------------------------------------------------------------- statements */

static void body_until(ps *P, jnodes *out, const char *const *ends, const char *opener, int line) {
    for (;;) {
        if (is(P, JT_EOF)) jfail(P->e, line, "'%s' is never closed (expected '{%% %s %%}')", opener, ends[0]);
        for (const char *const *e = ends; *e; e++)
            if (is_stmt(P, *e)) return;
        add(P, out, any(P));
    }
}

static void end_tag(ps *P, const char *name) {
    expect(P, JT_OPEN_STMT, "expected '{%'");
    expect_id(P, name);
    expect(P, JT_CLOSE_STMT, "expected '%}'");
}

static jnode *if_stmt(ps *P, int line) {
    jnode *n = mk(P, JN_IF);
    n->line = line;
    n->a = expr(P);
    expect(P, JT_CLOSE_STMT, "expected '%}' after the if condition");
    static const char *const ends[] = { "elif", "else", "endif", NULL };
    body_until(P, &n->l1, ends, "if", line);
    if (is_stmt(P, "elif")) {
        P->i += 2;
        add(P, &n->l2, if_stmt(P, cur(P)->line));
    } else if (is_stmt(P, "else")) {
        P->i += 2;
        expect(P, JT_CLOSE_STMT, "expected '%}' after else");
        static const char *const e2[] = { "endif", NULL };
        body_until(P, &n->l2, e2, "if", line);
    }
    return n;
}

static jnode *statement_inner(ps *P);
static jnode *statement(ps *P) {
    if (++P->depth > MAX_DEPTH) jfail(P->e, cur(P)->line, "expressions or blocks nested deeper than %d", MAX_DEPTH);
    jnode *x = statement_inner(P);
    P->depth--;
    return x;
}

static jnode *statement_inner(ps *P) {
    int line = cur(P)->line;
    expect(P, JT_OPEN_STMT, "expected '{%'");
    if (!is(P, JT_IDENT)) fail_at(P, "expected a statement name");
    const jtoken *kw = cur(P);
    char name[32];
    snprintf(name, sizeof name, "%.*s", (int)(kw->n < 31 ? kw->n : 31), kw->s);
    P->i++;
    jnode *n;
    if (!strcmp(name, "set")) {
        n = mk(P, JN_SET);
        n->line = line;
        n->a = expr_seq(P, false);
        if (is(P, JT_ASSIGN)) {
            P->i++;
            n->b = expr_seq(P, false);
        } else {
            expect(P, JT_CLOSE_STMT, "expected '=' or '%}' in set");
            static const char *const ends[] = { "endset", NULL };
            body_until(P, &n->l1, ends, "set", line);
            expect(P, JT_OPEN_STMT, "expected '{%'");
            expect_id(P, "endset");
        }
        expect(P, JT_CLOSE_STMT, "expected '%}' after set");
        if (n->a->k != JN_NAME && n->a->k != JN_TUPLE && !(n->a->k == JN_MEMBER && !n->a->flag))
            jfail(P->e, line, "cannot assign to this expression in set");
        return n;
    }
    if (!strcmp(name, "if")) {
        n = if_stmt(P, line);
        end_tag(P, "endif");
        return n;
    }
    if (!strcmp(name, "for")) {
        n = mk(P, JN_FOR);
        n->line = line;
        n->a = expr_seq(P, true);
        if (n->a->k != JN_NAME && n->a->k != JN_TUPLE) jfail(P->e, line, "expected a loop variable name");
        if (!is_id(P, 0, "in")) fail_at(P, "expected 'in' after the loop variable");
        P->i++;
        n->b = expr(P);
        if (is_id(P, 0, "recursive")) jfail(P->e, line, "unsupported construct: recursive for loops");
        expect(P, JT_CLOSE_STMT, "expected '%}' after for");
        static const char *const ends[] = { "endfor", "else", NULL };
        body_until(P, &n->l1, ends, "for", line);
        if (is_stmt(P, "else")) {
            P->i += 2;
            expect(P, JT_CLOSE_STMT, "expected '%}' after else");
            static const char *const e2[] = { "endfor", NULL };
            body_until(P, &n->l2, e2, "for", line);
        }
        end_tag(P, "endfor");
        return n;
    }
    if (!strcmp(name, "macro")) {
        n = mk(P, JN_MACRO);
        n->line = line;
        jnode *nm = primary(P);
        if (nm->k != JN_NAME) jfail(P->e, line, "expected a macro name");
        n->s = nm->s;
        n->sn = nm->sn;
        args(P, &n->l1, true);
        expect(P, JT_CLOSE_STMT, "expected '%}' after the macro signature");
        static const char *const ends[] = { "endmacro", NULL };
        body_until(P, &n->l2, ends, "macro", line);
        end_tag(P, "endmacro");
        return n;
    }
    if (!strcmp(name, "call")) {
        n = mk(P, JN_CALLBLOCK);
        n->line = line;
        if (is(P, JT_LPAREN)) args(P, &n->l1, true);
        jnode *callee = primary(P);
        if (callee->k != JN_NAME) jfail(P->e, line, "expected a macro name after call");
        jnode *c = mk(P, JN_CALL);
        c->a = callee;
        args(P, &c->l1, false);
        n->a = c;
        expect(P, JT_CLOSE_STMT, "expected '%}' after call");
        static const char *const ends[] = { "endcall", NULL };
        body_until(P, &n->l2, ends, "call", line);
        end_tag(P, "endcall");
        return n;
    }
    if (!strcmp(name, "filter")) {
        n = mk(P, JN_FILTERBLOCK);
        n->line = line;
        jnode *f = mk(P, JN_FILTER);
        jnode *nm = primary(P);
        if (nm->k != JN_NAME) jfail(P->e, line, "expected a filter name");
        f->s = nm->s;
        f->sn = nm->sn;
        if (is(P, JT_LPAREN)) { f->flag = true; args(P, &f->l1, false); }
        n->a = f;
        expect(P, JT_CLOSE_STMT, "expected '%}' after filter");
        static const char *const ends[] = { "endfilter", NULL };
        body_until(P, &n->l1, ends, "filter", line);
        end_tag(P, "endfilter");
        return n;
    }
    if (!strcmp(name, "break") || !strcmp(name, "continue")) {
        n = mk(P, name[0] == 'b' ? JN_BREAK : JN_CONTINUE);
        n->line = line;
        expect(P, JT_CLOSE_STMT, "expected '%}'");
        return n;
    }
    jfail(P->e, line, "unsupported statement '{%% %s %%}'", name);
}

static jnode *any(ps *P) {
    const jtoken *t = cur(P);
    jnode *n;
    switch (t->t) {
    case JT_COMMENT:
        P->i++;
        n = mk(P, JN_TEXT);
        n->s = "";
        return n;
    case JT_TEXT:
        n = mk(P, JN_TEXT);
        n->s = t->s;
        n->sn = t->n;
        P->i++;
        return n;
    case JT_OPEN_STMT:
        return statement(P);
    case JT_OPEN_EXPR:
        n = mk(P, JN_OUTPUT);
        P->i++;
        n->a = expr(P);
        expect(P, JT_CLOSE_EXPR, "expected '}}'");
        return n;
    default:
        fail_at(P, "unexpected token");
    }
}

void jparse(jarena *a, jerr *e, const jtoken *toks, size_t ntok, jnodes *out) {
    ps P = { .a = a, .e = e, .t = toks, .n = ntok };
    memset(out, 0, sizeof *out);
    while (!is(&P, JT_EOF)) add(&P, out, any(&P));
}
