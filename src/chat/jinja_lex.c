/* jinja_lex.c — template preprocessing and tokens.
 *
 * As transformers' apply_chat_template (and @huggingface/jinja) configure Jinja:
 * trim_blocks=True, lstrip_blocks=True; one trailing newline of the template is dropped;
 * {%- -%} {{- -}} {#- -#} strip whitespace on their side; the transformers-only
 * {% generation %} / {% endgeneration %} tags are removed. Each output byte keeps the line
 * it came from so that errors name the line of the original template. */
#include "chat/jinja.h"

#include <ctype.h>
#include <string.h>

typedef struct pp {
    char *s;
    int *line;
    size_t n;
} pp;

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

static void preprocess(jarena *a, const char *src, size_t len, pp *out) {
    char *s = ja_alloc(a, len + 1);
    int *ln = ja_alloc(a, (len + 1) * sizeof *ln);
    int line = 1;
    for (size_t i = 0; i < len; i++) {
        s[i] = src[i];
        ln[i] = line;
        if (src[i] == '\n') line++;
    }
    size_t n = len;
    if (n && s[n - 1] == '\n') n--;

    /* lstrip_blocks: /^[ \t]*({[#%-])/gm -> $1 */
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        /* here i is always at a line start (the copy below stops after each newline) */
        {
            size_t j = i;
            while (j < n && (s[j] == ' ' || s[j] == '\t')) j++;
            if (j > i && j + 1 < n && s[j] == '{' && (s[j + 1] == '#' || s[j + 1] == '%' || s[j + 1] == '-')) {
                i = j;
            }
        }
        /* copy through the end of this line */
        while (i < n) {
            char c = s[i];
            ln[w] = ln[i];
            s[w++] = c;
            i++;
            if (c == '\n') break;
        }
    }
    n = w;

    /* trim_blocks: /([#%-]})\n/g -> $1 */
    w = 0;
    char p1 = 0, p2 = 0; /* the two original characters before i (s is compacted in place) */
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool drop = c == '\n' && p1 == '}' && (p2 == '#' || p2 == '%' || p2 == '-');
        p2 = p1;
        p1 = c;
        if (drop) continue;
        ln[w] = ln[i];
        s[w++] = c;
    }
    n = w;

    /* {% generation %} / {% endgeneration %}: /(\s*){%(-?)\s*(?:end)?generation\s*(-?)%}(\s*)/gs */
    w = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] == '{' && i + 1 < n && s[i + 1] == '%') {
            size_t j = i + 2;
            bool lstrip = j < n && s[j] == '-';
            if (lstrip) j++;
            while (j < n && is_ws(s[j])) j++;
            if (j + 3 <= n && !memcmp(s + j, "end", 3)) j += 3;
            if (j + 10 <= n && !memcmp(s + j, "generation", 10)) {
                j += 10;
                while (j < n && is_ws(s[j])) j++;
                bool rstrip = j < n && s[j] == '-';
                if (rstrip) j++;
                if (j + 2 <= n && s[j] == '%' && s[j + 1] == '}') {
                    j += 2;
                    if (lstrip) while (w > 0 && is_ws(s[w - 1])) w--;
                    size_t k = j;
                    while (k < n && is_ws(s[k])) k++;
                    i = rstrip ? k : j;
                    continue;
                }
            }
        }
        ln[w] = ln[i];
        s[w++] = s[i++];
    }
    n = w;
    s[n] = 0;
    out->s = s;
    out->line = ln;
    out->n = n;
}

/* ---------------------------------------------------------------- tokens */

typedef struct lx {
    jarena *a;
    jerr *e;
    pp src;
    size_t pos;
    jtoken *t;
    size_t n, cap;
} lx;

static void push(lx *L, enum jtok t, const char *s, size_t n, int line) {
    if (L->n == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 256;
        jtoken *nt = ja_alloc(L->a, cap * sizeof *nt);
        if (L->n) memcpy(nt, L->t, L->n * sizeof *nt);
        L->t = nt;
        L->cap = cap;
    }
    L->t[L->n++] = (jtoken){ t, s, n, line };
}

static enum jtok last_type(const lx *L) { return L->n ? L->t[L->n - 1].t : JT_EOF; }

static int line_at(const lx *L, size_t pos) {
    if (pos < L->src.n) return L->src.line[pos];
    return L->src.n ? L->src.line[L->src.n - 1] : 1;
}

static void strip_trailing(lx *L) {
    if (L->n && L->t[L->n - 1].t == JT_TEXT) {
        jtoken *t = &L->t[L->n - 1];
        /* JavaScript trimEnd(): Unicode white space */
        while (t->n) {
            size_t k = t->n - 1;
            while (k > 0 && ((unsigned char)t->s[k] & 0xc0) == 0x80) k--;
            size_t adv;
            uint32_t c = ju_decode(t->s + k, t->n - k, &adv);
            if (!ju_is_space(c)) break;
            t->n = k;
        }
        if (!t->n) L->n--;
    }
}

static void skip_leading(lx *L) {
    while (L->pos < L->src.n) {
        size_t adv;
        uint32_t c = ju_decode(L->src.s + L->pos, L->src.n - L->pos, &adv);
        if (!ju_is_space(c)) break;
        L->pos += adv;
    }
}

static bool at(const lx *L, const char *s) {
    size_t k = strlen(s);
    return L->pos + k <= L->src.n && !memcmp(L->src.s + L->pos, s, k);
}

static bool is_word(char c) { return isalnum((unsigned char)c) || c == '_'; }

/* String literal body with escapes, as the oracle's consumeWhile. */
static void lex_string(lx *L, char q) {
    int line = line_at(L, L->pos);
    L->pos++;
    jbuf b = { .a = L->a };
    const char *s = L->src.s;
    for (;;) {
        if (L->pos >= L->src.n) jfail(L->e, line, "unterminated string literal");
        char c = s[L->pos];
        if (c == q) break;
        if (c == '\\') {
            if (++L->pos >= L->src.n) jfail(L->e, line, "unexpected end of input in a string escape");
            char x = s[L->pos++];
            const char *rep = NULL;
            switch (x) {
            case 'n': rep = "\n"; break;
            case 't': rep = "\t"; break;
            case 'r': rep = "\r"; break;
            case 'b': rep = "\b"; break;
            case 'f': rep = "\f"; break;
            case 'v': rep = "\v"; break;
            case '\'': rep = "'"; break;
            case '"': rep = "\""; break;
            case '\\': rep = "\\"; break;
            case 'x': case 'u': {
                int len = x == 'x' ? 2 : 4;
                uint32_t cp = 0;
                for (int i = 0; i < len; i++) {
                    char h = L->pos < L->src.n ? s[L->pos] : 0;
                    if (!isxdigit((unsigned char)h)) jfail(L->e, line, "invalid \\%c escape in a string literal", x);
                    cp = cp * 16 + (uint32_t)(isdigit((unsigned char)h) ? h - '0' : (tolower((unsigned char)h) - 'a' + 10));
                    L->pos++;
                }
                char u[4];
                size_t un;
                if (cp < 0x80) { u[0] = (char)cp; un = 1; }
                else if (cp < 0x800) { u[0] = (char)(0xc0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3f)); un = 2; }
                else { u[0] = (char)(0xe0 | (cp >> 12)); u[1] = (char)(0x80 | ((cp >> 6) & 0x3f)); u[2] = (char)(0x80 | (cp & 0x3f)); un = 3; }
                jb_put(&b, u, un);
                continue;
            }
            default: jfail(L->e, line, "unexpected escaped character '\\%c' in a string literal", x);
            }
            jb_puts(&b, rep);
            continue;
        }
        jb_putc(&b, c);
        L->pos++;
    }
    L->pos++; /* closing quote */
    push(L, JT_STRING, b.p ? b.p : "", b.n, line);
}

static size_t digits(const lx *L, size_t p) {
    while (p < L->src.n && isdigit((unsigned char)L->src.s[p])) p++;
    return p;
}

void jlex(jarena *a, jerr *e, const char *src, size_t len, jtoken **toks, size_t *ntok) {
    lx L = { .a = a, .e = e };
    preprocess(a, src, len, &L.src);
    const char *s = L.src.s;
    size_t n = L.src.n;
    int braces = 0;
    static const struct { const char *s; enum jtok t; } table[] = {
        { "{%", JT_OPEN_STMT }, { "%}", JT_CLOSE_STMT }, { "{{", JT_OPEN_EXPR }, { "}}", JT_CLOSE_EXPR },
        { "(", JT_LPAREN }, { ")", JT_RPAREN }, { "{", JT_LBRACE }, { "}", JT_RBRACE },
        { "[", JT_LBRACKET }, { "]", JT_RBRACKET }, { ",", JT_COMMA }, { ".", JT_DOT }, { ":", JT_COLON },
        { "|", JT_PIPE }, { "<=", JT_CMP }, { ">=", JT_CMP }, { "==", JT_CMP }, { "!=", JT_CMP },
        { "<", JT_CMP }, { ">", JT_CMP }, { "+", JT_ADD }, { "-", JT_ADD }, { "~", JT_ADD },
        { "**", JT_POW }, { "*", JT_MUL }, { "//", JT_MUL }, { "/", JT_MUL }, { "%", JT_MUL }, { "=", JT_ASSIGN },
    };
    while (L.pos < n) {
        enum jtok lt = last_type(&L);
        if (lt == JT_EOF || lt == JT_CLOSE_STMT || lt == JT_CLOSE_EXPR || lt == JT_COMMENT) {
            size_t st = L.pos;
            while (L.pos < n && !(s[L.pos] == '{' && L.pos + 1 < n &&
                                  (s[L.pos + 1] == '%' || s[L.pos + 1] == '{' || s[L.pos + 1] == '#')))
                L.pos++;
            if (L.pos > st) {
                push(&L, JT_TEXT, s + st, L.pos - st, line_at(&L, st));
                continue;
            }
        }
        if (at(&L, "{#")) {
            int line = line_at(&L, L.pos);
            L.pos += 2;
            bool before = L.pos < n && s[L.pos] == '-';
            if (before) L.pos++;
            size_t st = L.pos;
            while (!(L.pos + 1 < n && s[L.pos] == '#' && s[L.pos + 1] == '}')) {
                if (L.pos + 2 >= n) jfail(e, line, "missing end of comment tag '#}'");
                L.pos++;
            }
            bool after = L.pos > st && s[L.pos - 1] == '-';
            if (before) strip_trailing(&L);
            L.pos += 2;
            if (after) skip_leading(&L);
            push(&L, JT_COMMENT, "", 0, line);
            continue;
        }
        if (at(&L, "{%-")) { strip_trailing(&L); push(&L, JT_OPEN_STMT, "{%", 2, line_at(&L, L.pos)); L.pos += 3; continue; }
        if (at(&L, "{{-")) { strip_trailing(&L); push(&L, JT_OPEN_EXPR, "{{", 2, line_at(&L, L.pos)); braces = 0; L.pos += 3; continue; }
        while (L.pos < n && is_ws(s[L.pos])) L.pos++;
        if (L.pos >= n) break;
        int line = line_at(&L, L.pos);
        if (at(&L, "-%}")) { push(&L, JT_CLOSE_STMT, "%}", 2, line); L.pos += 3; skip_leading(&L); continue; }
        if (at(&L, "-}}")) { push(&L, JT_CLOSE_EXPR, "}}", 2, line); L.pos += 3; skip_leading(&L); continue; }
        char c = s[L.pos];
        if (c == '-' || c == '+') {
            lt = last_type(&L);
            if (lt == JT_TEXT || lt == JT_EOF) jfail(e, line, "unexpected character '%c'", c);
            if (!(lt == JT_IDENT || lt == JT_NUMBER || lt == JT_STRING || lt == JT_RPAREN || lt == JT_RBRACKET)) {
                size_t st = L.pos++;
                size_t p = digits(&L, L.pos);
                if (p > L.pos && p + 1 < n && s[p] == '.' && isdigit((unsigned char)s[p + 1])) p = digits(&L, p + 1);
                bool num = p > L.pos;
                L.pos = p;
                push(&L, num ? JT_NUMBER : JT_UNARY, s + st, p - st, line);
                continue;
            }
        }
        bool matched = false;
        for (size_t k = 0; k < sizeof table / sizeof table[0]; k++) {
            if (table[k].t == JT_CLOSE_EXPR && braces > 0) continue;
            if (at(&L, table[k].s)) {
                size_t kl = strlen(table[k].s);
                push(&L, table[k].t, s + L.pos, kl, line);
                if (table[k].t == JT_OPEN_EXPR) braces = 0;
                else if (table[k].t == JT_LBRACE) braces++;
                else if (table[k].t == JT_RBRACE) braces--;
                L.pos += kl;
                matched = true;
                break;
            }
        }
        if (matched) continue;
        if (c == '\'' || c == '"') { lex_string(&L, c); continue; }
        if (isdigit((unsigned char)c)) {
            size_t st = L.pos, p = digits(&L, L.pos);
            if (last_type(&L) != JT_DOT && p + 1 < n && s[p] == '.' && isdigit((unsigned char)s[p + 1])) p = digits(&L, p + 1);
            L.pos = p;
            push(&L, JT_NUMBER, s + st, p - st, line);
            continue;
        }
        if (is_word(c)) {
            size_t st = L.pos;
            while (L.pos < n && is_word(s[L.pos])) L.pos++;
            push(&L, JT_IDENT, s + st, L.pos - st, line);
            continue;
        }
        jfail(e, line, "unexpected character '%c'", c);
    }
    push(&L, JT_EOF, "", 0, line_at(&L, n));
    *toks = L.t;
    *ntok = L.n;
}
