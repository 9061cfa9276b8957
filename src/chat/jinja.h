/* jinja.h — internals of the Jinja-subset interpreter used for chat templates.
 *
 * Pipeline: jinja_lex.c (preprocess with trim_blocks + lstrip_blocks, tokens with source
 * lines) -> jinja_parse.c (AST) -> jinja_eval.c (values, filters, tests, methods).
 * The semantics follow @huggingface/jinja (the parity oracle, what transformers.js and many
 * runtimes use) where it differs from Python Jinja2: e.g. `none` renders as "", booleans as
 * "true"/"false", tojson defaults to ensure_ascii=false with Python's separators.
 *
 * Memory: everything a parse or a render allocates comes from one arena (jarena) and is
 * freed at once; values are small structs passed by value, containers are shared by pointer.
 */
#ifndef LIR_CHAT_JINJA_H
#define LIR_CHAT_JINJA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>

/* ---------------------------------------------------------------- arena */

typedef struct jchunk jchunk;
struct jerr;
typedef struct jarena {
    jchunk *head;
    size_t used, cap, total;
    struct jerr *e; /* where an allocation failure unwinds to */
} jarena;

#define JA_MAX_BYTES ((size_t)256 << 20) /* per parse+render: beyond it, "out of memory" */
void *ja_alloc(jarena *a, size_t n);              /* zeroed; never NULL (unwinds through a->e on OOM) */
char *ja_strndup(jarena *a, const char *s, size_t n);
void ja_free(jarena *a);

/* ---------------------------------------------------------------- errors */

/* Errors unwind with longjmp to the entry point (parse or render), which owns the arena. */
typedef struct jerr {
    jmp_buf jb;
    char msg[512];
} jerr;
_Noreturn void jfail(jerr *e, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---------------------------------------------------------------- values */

enum jtype { JV_UNDEF, JV_NONE, JV_BOOL, JV_INT, JV_FLOAT, JV_STR, JV_LIST, JV_DICT, JV_NS, JV_FUNC, JV_MACRO };

typedef struct jlist jlist;
typedef struct jdict jdict;
typedef struct jnode jnode;

typedef struct jv {
    uint8_t t;
    union {
        bool b;
        int64_t i;
        double f;
        struct { const char *p; size_t n; } s;
        jlist *l;
        jdict *d;       /* JV_DICT, JV_NS */
        int fn;         /* JV_FUNC: builtin global id */
        jnode *m;       /* JV_MACRO */
    } u;
} jv;

struct jlist { jv *v; size_t n, cap; };
struct jdict { jv *k; jv *v; size_t n, cap; }; /* keys are strings; insertion order kept */

static inline jv jv_undef(void) { jv v = { .t = JV_UNDEF }; return v; }
static inline jv jv_none(void) { jv v = { .t = JV_NONE }; return v; }
static inline jv jv_bool(bool b) { jv v = { .t = JV_BOOL, .u.b = b }; return v; }
static inline jv jv_int(int64_t i) { jv v = { .t = JV_INT, .u.i = i }; return v; }
static inline jv jv_float(double f) { jv v = { .t = JV_FLOAT, .u.f = f }; return v; }
static inline jv jv_strn(const char *p, size_t n) { jv v = { .t = JV_STR, .u.s = { p, n } }; return v; }

jv jv_str(jarena *a, const char *s);            /* copies */
jv jv_list_new(jarena *a);
jv jv_dict_new(jarena *a);
void jl_push(jarena *a, jlist *l, jv x);
void jd_set(jarena *a, jdict *d, jv key, jv val); /* replaces an existing key in place */
void jd_push(jarena *a, jdict *d, jv key, jv val); /* appends: the caller knows key is new */
bool jd_get(const jdict *d, const char *k, size_t kn, jv *out);

bool jv_truthy(jv v);
const char *jv_type_name(jv v);

/* growable byte buffer in the arena */
typedef struct jbuf { jarena *a; char *p; size_t n, cap; } jbuf;
void jb_put(jbuf *b, const char *s, size_t n);
void jb_puts(jbuf *b, const char *s);
void jb_putc(jbuf *b, char c);
jv jb_take(jbuf *b); /* the buffer as a string value */

/* Appends what `{{ v }}` prints (nothing for none/undefined). */
void jv_print(jbuf *b, jv v);
/* JSON as the oracle's toJSON: indent < 0 means none; seps NULL for the defaults. */
struct jjson_opts {
    int indent;
    bool ensure_ascii, sort_keys, undef_as_null;
    const char *item_sep, *key_sep;
};
/* false: not serializable. Fails (through b->a->e) on values nested deeper than JV_MAX_DEPTH. */
#define JV_MAX_DEPTH 2100
bool jv_tojson(jbuf *b, jv v, const struct jjson_opts *o, int depth);
void jv_format_float(double f, char *buf, size_t n);

/* jansson <-> values (defined in jinja_val.c; json_t kept opaque here) */
struct json_t;
jv jv_from_json(jarena *a, const struct json_t *j);

/* UTF-8 helpers */
size_t ju_len(const char *p, size_t n);                         /* code points */
size_t ju_offset(const char *p, size_t n, size_t cp);           /* byte offset of code point cp */
bool ju_is_space(uint32_t c);
uint32_t ju_decode(const char *p, size_t n, size_t *adv);

/* ---------------------------------------------------------------- lexer */

enum jtok {
    JT_EOF, JT_TEXT, JT_OPEN_STMT, JT_CLOSE_STMT, JT_OPEN_EXPR, JT_CLOSE_EXPR,
    JT_STRING, JT_NUMBER, JT_IDENT, JT_UNARY, /* unary +/- with no number after it */
    JT_LPAREN, JT_RPAREN, JT_LBRACE, JT_RBRACE, JT_LBRACKET, JT_RBRACKET,
    JT_COMMA, JT_DOT, JT_COLON, JT_PIPE, JT_CMP, JT_ADD, JT_POW, JT_MUL, JT_ASSIGN, JT_COMMENT
};

typedef struct jtoken {
    enum jtok t;
    const char *s; /* text (arena) */
    size_t n;
    int line;      /* 1-based line in the original template */
} jtoken;

/* Tokenizes src (len bytes) into *toks (arena). */
void jlex(jarena *a, jerr *e, const char *src, size_t len, jtoken **toks, size_t *ntok);

/* ---------------------------------------------------------------- AST */

enum jkind {
    /* statements */
    JN_TEXT, JN_OUTPUT, JN_IF, JN_FOR, JN_SET, JN_MACRO, JN_BREAK, JN_CONTINUE, JN_CALLBLOCK, JN_FILTERBLOCK,
    /* expressions */
    JN_LIT, JN_NAME, JN_LIST, JN_TUPLE, JN_DICT, JN_MEMBER, JN_SLICE, JN_CALL, JN_KWARG, JN_FILTER, JN_TEST,
    JN_BINOP, JN_UNARY, JN_TERNARY, JN_SELECT, JN_SPREAD
};

typedef struct jnodes { jnode **v; size_t n, cap; } jnodes;

struct jnode {
    enum jkind k;
    int line;
    const char *s; size_t sn; /* name / operator / text */
    jv lit;
    bool flag;                /* MEMBER: computed; TEST: negate */
    jnode *a, *b, *c;         /* operands: see jinja_parse.c for each kind */
    jnodes l1, l2;            /* bodies / args / items */
};

/* Parses tokens into a program (a JN_... statement list in *out). */
void jparse(jarena *a, jerr *e, const jtoken *toks, size_t ntok, jnodes *out);

/* ---------------------------------------------------------------- render */

/* Renders prog with globals (a dict, keys unique; they shadow the builtins) into out (arena string). */
void jrender(jarena *a, jerr *e, const jnodes *prog, jdict *globals, jbuf *out);

#endif
