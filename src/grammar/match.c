/* match.c — the incremental grammar matcher, token tables and logit filtering.
 *
 * State: a set of parse stacks (see grammar.h) plus a pending partial UTF-8 character. Accepting a
 * code point maps each stack whose top set holds it to its successor and expands rule references
 * until every top is a set again (a worklist; a node already expanded in this step is skipped,
 * so shared sub-stacks cost once). Stacks live in a per-state pool of hash-consed nodes
 * (pos, parent): identical stacks get identical ids, so the set needs no deep comparison and
 * cloning a state is one copy of the pool. The pool is compacted after accepts when it has grown
 * well past what the live stacks use.
 *
 * Bytes, not characters, come from tokens: a token may end inside a UTF-8 character (byte-level
 * BPE, <0xNN> byte tokens). The pending lead bytes are kept; a partial character is allowed when
 * some live stack's set holds a code point that could still complete it.
 *
 * Filtering a vocabulary walks a trie of the token pieces (built once per vocabulary, in preorder,
 * so a dead prefix skips its whole subtree) from the current state: each trie edge is one byte
 * step, shared by every token with that prefix. Cost: the live part of the trie times the number
 * of stacks; never the length of the output so far. Sets of stacks are interned (sorted ids,
 * hashed) and each state caches "set x byte -> set" transitions, so in the common case (inside
 * a JSON string, any character leads back to the same set) a trie step is one table lookup.
 * Interned sets and the cache are dropped when the pool is compacted (node ids change) or when
 * they grow past a bound.
 *
 * Limits: at most MAX_STACKS stacks in a set (an ambiguous grammar fails with LIR_ERANGE instead
 * of slowing down without bound) and MAX_NODES pool nodes. */
#include "grammar/grammar.h"
#include "tokenizer/tokenizer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STACKS 4096u
#define MAX_NODES  (1u << 22) /* 64 MiB of nodes + 16 MiB of stamps at most */
#define NONE       UINT32_MAX

struct gnode {
    uint32_t pos;    /* element index of the top (a SET or a REF before expansion); NONE for node 0 */
    uint32_t parent; /* node id of the rest of the stack; node 0 = the empty stack */
    uint32_t hnext;  /* next node id in the same hash bucket (0 = none) */
    uint32_t minrem; /* fewest code points to empty this stack */
};

/* A point of a walk: an interned set of stacks plus a pending partial UTF-8 character. */
struct wstate {
    uint32_t set;     /* interned set id */
    uint32_t acc;     /* bits of the pending character so far */
    uint32_t need;    /* continuation bytes still expected (0 = none pending) */
    uint32_t lo;      /* smallest code point a sequence of this length may encode */
};

struct sset {
    uint32_t off, n; /* set_data[off .. off+n): node ids, ascending */
    uint32_t hash;
    bool can_end;    /* holds the empty stack */
};

struct lir_grammar_state {
    const struct lir_grammar *g; /* borrowed */
    struct gnode *nodes;
    uint32_t *stamp;             /* per node: last step that visited it */
    uint32_t n_nodes, cap_nodes, cur_stamp, live_after_compact;
    uint32_t *buckets;           /* heads of hash chains; 0 = empty (node 0 is never hashed) */
    uint32_t n_buckets;
    uint32_t *stacks, n_stacks, cap_stacks; /* the current set (ascending ids) */
    uint32_t acc, need, lo;      /* pending partial character */
    uint32_t cur_set;            /* the current set interned, or NONE until needed */
    /* interned sets and the transition cache (scratch: rebuilt on demand) */
    struct sset *sets;
    uint32_t n_sets, cap_sets;
    uint32_t *set_data, n_set_data, cap_set_data;
    uint32_t *set_ht, cap_set_ht;   /* set id + 1, open addressing */
    uint64_t *tc_key;               /* 0 = empty */
    uint32_t *tc_val;
    uint32_t n_tc, cap_tc;
    /* scratch */
    uint32_t *work, cap_work;
    uint32_t *buf, n_buf, cap_buf;
    struct wstate *ws;
    uint32_t cap_ws;
    uint8_t *allowed;
    size_t cap_allowed;
    enum lir_status scratch_err; /* first failure inside a walk (ENOMEM, ERANGE) */
    char err[256];
};

enum { TOK_NORMAL = 0, TOK_EOG = 1, TOK_NEVER = 2 };

struct tnode {
    uint32_t end;       /* preorder index one past this node's subtree */
    uint32_t tok_first; /* tokens ending here: sorted[tok_first .. tok_first+tok_n) */
    uint32_t tok_n;
    uint32_t depth;     /* 1 + depth of the parent (the root is implicit, depth 0) */
    uint8_t byte;
};

struct lir_grammar_vocab {
    int32_t n_tokens;
    uint8_t *kind;       /* TOK_* per token */
    uint32_t *piece_off; /* n_tokens + 1 */
    uint8_t *bytes;
    int32_t *sorted;     /* normal tokens by piece bytes */
    struct tnode *trie;
    uint32_t n_trie, max_depth;
};

/* ================================================================ pool */

static uint32_t node_hash(uint32_t pos, uint32_t parent) {
    uint64_t x = ((uint64_t)pos << 32 | parent) * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(x >> 32);
}

static bool is_end(const struct lir_grammar *g, uint32_t pos) {
    return g->elems[pos].type == LIR_GE_END || g->elems[pos].type == LIR_GE_ALT;
}

static bool rehash(struct lir_grammar_state *st, uint32_t nb) {
    uint32_t *b = calloc(nb, sizeof *b);
    if (!b) return false;
    free(st->buckets);
    st->buckets = b;
    st->n_buckets = nb;
    for (uint32_t id = 1; id < st->n_nodes; id++) { /* ascending: the newest node heads its chain */
        uint32_t h = node_hash(st->nodes[id].pos, st->nodes[id].parent) & (nb - 1);
        st->nodes[id].hnext = b[h];
        b[h] = id;
    }
    return true;
}

/* The node (pos, parent), created if new. NONE on failure (scratch_err set). */
static uint32_t intern(struct lir_grammar_state *st, uint32_t pos, uint32_t parent) {
    uint32_t h = node_hash(pos, parent) & (st->n_buckets - 1);
    for (uint32_t id = st->buckets[h]; id; id = st->nodes[id].hnext)
        if (st->nodes[id].pos == pos && st->nodes[id].parent == parent) return id;
    if (st->n_nodes >= MAX_NODES) { if (!st->scratch_err) st->scratch_err = LIR_ERANGE; return NONE; }
    if (st->n_nodes == st->cap_nodes) {
        uint32_t c = st->cap_nodes * 2;
        struct gnode *n = realloc(st->nodes, (size_t)c * sizeof *n);
        if (n) st->nodes = n;
        uint32_t *s = n ? realloc(st->stamp, (size_t)c * sizeof *s) : NULL;
        if (!s) { if (!st->scratch_err) st->scratch_err = LIR_ENOMEM; return NONE; }
        st->stamp = s;
        st->cap_nodes = c;
    }
    uint32_t id = st->n_nodes++;
    uint32_t m = st->nodes[parent].minrem + st->g->min_suffix[pos];
    st->nodes[id] = (struct gnode){ pos, parent, st->buckets[h], m > LIR_GRAMMAR_INF ? LIR_GRAMMAR_INF : m };
    st->stamp[id] = 0;
    st->buckets[h] = id;
    if (st->n_nodes > st->n_buckets && !rehash(st, st->n_buckets * 2)) {
        if (!st->scratch_err) st->scratch_err = LIR_ENOMEM;
        return NONE;
    }
    return id;
}

static void next_stamp(struct lir_grammar_state *st) {
    if (++st->cur_stamp == 0) {
        memset(st->stamp, 0, (size_t)st->n_nodes * sizeof *st->stamp);
        st->cur_stamp = 1;
    }
}

/* ================================================================ scratch buffers */

static bool buf_push(struct lir_grammar_state *st, uint32_t v) {
    if (st->n_buf == st->cap_buf) {
        uint32_t c = st->cap_buf ? st->cap_buf * 2 : 256;
        uint32_t *b = realloc(st->buf, (size_t)c * sizeof *b);
        if (!b) { if (!st->scratch_err) st->scratch_err = LIR_ENOMEM; return false; }
        st->buf = b;
        st->cap_buf = c;
    }
    st->buf[st->n_buf++] = v;
    return true;
}

static bool work_push(struct lir_grammar_state *st, uint32_t *nw, uint32_t v) {
    if (v == NONE) return false;
    if (*nw == st->cap_work) {
        uint32_t c = st->cap_work ? st->cap_work * 2 : 256;
        uint32_t *w = realloc(st->work, (size_t)c * sizeof *w);
        if (!w) { if (!st->scratch_err) st->scratch_err = LIR_ENOMEM; return false; }
        st->work = w;
        st->cap_work = c;
    }
    st->work[(*nw)++] = v;
    return true;
}

/* Expands the nodes on the worklist into stacks whose tops are sets (or the empty stack),
 * appending each once to buf. Returns the number appended, or NONE on failure. */
static uint32_t expand(struct lir_grammar_state *st, uint32_t nw) {
    const struct lir_grammar *g = st->g;
    uint32_t added = 0;
    while (nw) {
        uint32_t id = st->work[--nw];
        if (st->stamp[id] == st->cur_stamp) continue;
        st->stamp[id] = st->cur_stamp;
        uint32_t pos = st->nodes[id].pos;
        if (id == 0 || g->elems[pos].type == LIR_GE_SET) {
            if (++added > MAX_STACKS) { if (!st->scratch_err) st->scratch_err = LIR_ERANGE; return NONE; }
            if (!buf_push(st, id)) return NONE;
            continue;
        }
        /* a reference: continue after it (unless it ends its alternative: a tail call), and
         * push each alternative of the referenced rule on top */
        uint32_t parent = st->nodes[id].parent, rule = g->elems[pos].val;
        uint32_t base = is_end(g, pos + 1) ? parent : intern(st, pos + 1, parent);
        if (base == NONE) return NONE;
        for (uint32_t k = g->alt_off[rule]; k < g->alt_off[rule + 1]; k++) {
            uint32_t a = g->alts[k];
            if (!work_push(st, &nw, is_end(g, a) ? base : intern(st, a, base))) return NONE;
        }
    }
    return added;
}

/* ---------------------------------------------------------------- interned sets */

#define MAX_SET_DATA (1u << 20) /* past this many ids or cached transitions, both start over */
#define DEAD   NONE             /* a transition to no stacks */
#define FAILED (NONE - 1)       /* a limit or allocation failure (scratch_err says which) */

static void sets_clear(struct lir_grammar_state *st) {
    st->n_sets = 0;
    st->n_set_data = 0;
    if (st->set_ht) memset(st->set_ht, 0, (size_t)st->cap_set_ht * sizeof *st->set_ht);
    if (st->tc_key) memset(st->tc_key, 0, (size_t)st->cap_tc * sizeof *st->tc_key);
    st->n_tc = 0;
    st->cur_set = NONE;
}

static uint32_t ids_hash(const uint32_t *ids, uint32_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    for (uint32_t i = 0; i < n; i++) h = (h ^ ids[i]) * 0xff51afd7ed558ccdull;
    return (uint32_t)(h ^ (h >> 32));
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static bool grow32(uint32_t **p, uint32_t *cap, uint64_t need) {
    if (need <= *cap) return true;
    uint64_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    if (c > UINT32_MAX) return false;
    uint32_t *q = realloc(*p, (size_t)c * sizeof *q);
    if (!q) return false;
    *p = q;
    *cap = (uint32_t)c;
    return true;
}

static bool set_ht_rebuild(struct lir_grammar_state *st, uint32_t cap) {
    uint32_t *h = calloc(cap, sizeof *h);
    if (!h) return false;
    free(st->set_ht);
    st->set_ht = h;
    st->cap_set_ht = cap;
    for (uint32_t i = 0; i < st->n_sets; i++) {
        uint32_t k = st->sets[i].hash & (cap - 1);
        while (h[k]) k = (k + 1) & (cap - 1);
        h[k] = i + 1;
    }
    return true;
}

/* Interns ids[0..n) (sorted here, in place). Returns the set id or FAILED. */
static uint32_t intern_set(struct lir_grammar_state *st, uint32_t *ids, uint32_t n) {
    if (n > 1) qsort(ids, n, sizeof *ids, cmp_u32);
    uint32_t h = ids_hash(ids, n);
    if (st->cap_set_ht) {
        for (uint32_t k = h & (st->cap_set_ht - 1); st->set_ht[k]; k = (k + 1) & (st->cap_set_ht - 1)) {
            const struct sset *x = &st->sets[st->set_ht[k] - 1];
            if (x->hash == h && x->n == n && !memcmp(st->set_data + x->off, ids, (size_t)n * sizeof *ids))
                return st->set_ht[k] - 1;
        }
    }
    if (st->n_sets == st->cap_sets) {
        uint32_t c = st->cap_sets ? st->cap_sets * 2 : 64;
        struct sset *q = realloc(st->sets, (size_t)c * sizeof *q);
        if (!q) goto nomem;
        st->sets = q;
        st->cap_sets = c;
    }
    if (!grow32(&st->set_data, &st->cap_set_data, (uint64_t)st->n_set_data + n)) goto nomem;
    if ((st->n_sets + 1) * 2 > st->cap_set_ht && !set_ht_rebuild(st, st->cap_set_ht ? st->cap_set_ht * 2 : 128))
        goto nomem;
    struct sset *x = &st->sets[st->n_sets];
    x->off = st->n_set_data;
    x->n = n;
    x->hash = h;
    x->can_end = n && ids[0] == 0;
    memcpy(st->set_data + x->off, ids, (size_t)n * sizeof *ids);
    st->n_set_data += n;
    uint32_t k = h & (st->cap_set_ht - 1);
    while (st->set_ht[k]) k = (k + 1) & (st->cap_set_ht - 1);
    st->set_ht[k] = st->n_sets + 1;
    return st->n_sets++;
nomem:
    if (!st->scratch_err) st->scratch_err = LIR_ENOMEM;
    return FAILED;
}

/* The transition cache: key -> value, key never 0. */
static bool tc_get(const struct lir_grammar_state *st, uint64_t key, uint32_t *val) {
    if (!st->cap_tc) return false;
    uint32_t m = st->cap_tc - 1;
    for (uint32_t k = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & m; st->tc_key[k]; k = (k + 1) & m)
        if (st->tc_key[k] == key) { *val = st->tc_val[k]; return true; }
    return false;
}

static void tc_put(struct lir_grammar_state *st, uint64_t key, uint32_t val) {
    if ((st->n_tc + 1) * 2 > st->cap_tc) { /* grow (a failure just leaves the entry out) */
        uint32_t c = st->cap_tc ? st->cap_tc * 2 : 1024;
        uint64_t *nk = calloc(c, sizeof *nk);
        uint32_t *nv = nk ? malloc((size_t)c * sizeof *nv) : NULL;
        if (!nv) { free(nk); return; }
        for (uint32_t i = 0; i < st->cap_tc; i++) {
            if (!st->tc_key[i]) continue;
            uint32_t k = (uint32_t)((st->tc_key[i] * 0x9E3779B97F4A7C15ull) >> 32) & (c - 1);
            while (nk[k]) k = (k + 1) & (c - 1);
            nk[k] = st->tc_key[i];
            nv[k] = st->tc_val[i];
        }
        free(st->tc_key);
        free(st->tc_val);
        st->tc_key = nk;
        st->tc_val = nv;
        st->cap_tc = c;
    }
    uint32_t m = st->cap_tc - 1;
    uint32_t k = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & m;
    while (st->tc_key[k]) k = (k + 1) & m;
    st->tc_key[k] = key;
    st->tc_val[k] = val;
    st->n_tc++;
}

/* The set after code point cp from set `set`: a set id, DEAD or FAILED. */
static uint32_t advance(struct lir_grammar_state *st, uint32_t set, uint32_t cp) {
    uint64_t key = (1ull << 63) | ((uint64_t)set << 21) | cp;
    uint32_t r;
    if (tc_get(st, key, &r)) return r;
    const struct lir_grammar *g = st->g;
    next_stamp(st);
    uint32_t nw = 0;
    const struct sset x = st->sets[set];
    for (uint32_t i = 0; i < x.n; i++) {
        uint32_t s = st->set_data[x.off + i];
        if (s == 0) continue;
        uint32_t pos = st->nodes[s].pos;
        if (!lir__gset_has(g, g->elems[pos].val, cp)) continue;
        uint32_t parent = st->nodes[s].parent;
        if (!work_push(st, &nw, is_end(g, pos + 1) ? parent : intern(st, pos + 1, parent))) return FAILED;
    }
    st->n_buf = 0;
    uint32_t n = expand(st, nw);
    if (n == NONE) return FAILED;
    r = n ? intern_set(st, st->buf, n) : DEAD;
    if (r != FAILED) tc_put(st, key, r);
    return r;
}

/* Whether some stack of `w` can take a character that completes its pending bytes. */
static bool partial_viable(struct lir_grammar_state *st, const struct wstate *w) {
    uint64_t key = (1ull << 62) | ((uint64_t)w->set << 24) | ((uint64_t)w->acc << 4) | ((uint64_t)w->need << 2) |
                   (w->lo == 0x80 ? 1u : w->lo == 0x800 ? 2u : 3u);
    uint32_t r;
    if (tc_get(st, key, &r)) return r;
    uint32_t lo = w->acc << (6 * w->need), hi = lo | ((1u << (6 * w->need)) - 1);
    if (lo < w->lo) lo = w->lo;
    if (hi > 0x10FFFF) hi = 0x10FFFF;
    bool ok = false;
    if (lo <= hi) {
        /* surrogates are not characters: look at the parts of [lo, hi] outside D800..DFFF */
        uint32_t lo2 = 1, hi2 = 0;
        bool none = false;
        if (lo <= 0xDFFF && hi >= 0xD800) {
            if (hi > 0xDFFF) { lo2 = 0xE000; hi2 = hi; }
            if (lo >= 0xD800) {
                if (lo2 > hi2) none = true;
                lo = lo2; hi = hi2; lo2 = 1; hi2 = 0;
            } else hi = 0xD7FF;
        }
        const struct sset x = st->sets[w->set];
        for (uint32_t i = 0; i < x.n && !none && !ok; i++) {
            uint32_t s = st->set_data[x.off + i];
            if (!s) continue;
            uint32_t set = st->g->elems[st->nodes[s].pos].val;
            ok = lir__gset_meets(st->g, set, lo, hi) || (lo2 <= hi2 && lir__gset_meets(st->g, set, lo2, hi2));
        }
    }
    tc_put(st, key, ok);
    return ok;
}

/* One byte. False: the byte is not allowed (or a limit was hit: scratch_err says so). */
static bool step(struct lir_grammar_state *st, const struct wstate *in, uint8_t b, struct wstate *out) {
    if (in->need == 0) {
        if (b < 0x80) {
            uint32_t r = advance(st, in->set, b);
            if (r >= FAILED) return false;
            *out = (struct wstate){ r, 0, 0, 0 };
            return true;
        }
        *out = *in;
        if (b >= 0xC2 && b <= 0xDF) { out->acc = b & 0x1F; out->need = 1; out->lo = 0x80; }
        else if (b >= 0xE0 && b <= 0xEF) { out->acc = b & 0x0F; out->need = 2; out->lo = 0x800; }
        else if (b >= 0xF0 && b <= 0xF4) { out->acc = b & 0x07; out->need = 3; out->lo = 0x10000; }
        else return false;
        return partial_viable(st, out);
    }
    if ((b & 0xC0) != 0x80) return false;
    *out = *in;
    out->acc = (in->acc << 6) | (b & 0x3F);
    out->need = in->need - 1;
    if (out->need) return partial_viable(st, out);
    uint32_t cp = out->acc;
    if (cp < in->lo || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    uint32_t r = advance(st, in->set, cp);
    if (r >= FAILED) return false;
    *out = (struct wstate){ r, 0, 0, 0 };
    return true;
}

/* The state's current point, its set interned. */
static bool walk_root(struct lir_grammar_state *st, struct wstate *w) {
    st->scratch_err = LIR_OK;
    if (st->n_set_data > MAX_SET_DATA || st->n_tc > MAX_SET_DATA) sets_clear(st);
    if (st->cur_set == NONE) {
        if (!grow32(&st->buf, &st->cap_buf, st->n_stacks + 1)) { st->scratch_err = LIR_ENOMEM; return false; }
        memcpy(st->buf, st->stacks, (size_t)st->n_stacks * sizeof *st->stacks);
        uint32_t r = intern_set(st, st->buf, st->n_stacks);
        if (r == FAILED) return false;
        st->cur_set = r;
    }
    *w = (struct wstate){ st->cur_set, st->acc, st->need, st->lo };
    return true;
}

/* Walks len bytes from the state; *end receives the result. */
static bool walk_bytes(struct lir_grammar_state *st, const uint8_t *p, size_t len, struct wstate *end) {
    struct wstate a, b;
    if (!walk_root(st, &a)) return false;
    for (size_t i = 0; i < len; i++) {
        if (!step(st, &a, p[i], &b)) return false;
        a = b;
    }
    *end = a;
    return true;
}

/* ================================================================ compaction */

/* Renumbers the nodes reachable from the current stacks (parents always have smaller ids than
 * their children, so one ascending pass keeps that order). */
static bool compact(struct lir_grammar_state *st) {
    uint32_t *map = malloc((size_t)st->n_nodes * sizeof *map);
    if (!map) return false;
    next_stamp(st);
    uint32_t c = st->cur_stamp;
    st->stamp[0] = c;
    for (uint32_t i = 0; i < st->n_stacks; i++)
        for (uint32_t id = st->stacks[i]; st->stamp[id] != c; id = st->nodes[id].parent) st->stamp[id] = c;
    uint32_t n = 0;
    for (uint32_t id = 0; id < st->n_nodes; id++) {
        if (st->stamp[id] != c) continue;
        map[id] = n;
        struct gnode x = st->nodes[id];
        if (id) x.parent = map[x.parent];
        st->nodes[n] = x;
        st->stamp[n] = 0;
        n++;
    }
    for (uint32_t i = 0; i < st->n_stacks; i++) st->stacks[i] = map[st->stacks[i]];
    free(map);
    st->n_nodes = n;
    st->live_after_compact = n;
    st->cur_stamp = 1;
    sets_clear(st); /* they hold old ids */
    uint32_t nb = 1024;
    while (nb < n) nb *= 2;
    return rehash(st, nb);
}

/* ================================================================ state API */

const char *lir_grammar_state_last_error(const lir_grammar_state *st) { return st ? st->err : "no state"; }

uint32_t lir__grammar_state_n_stacks(const struct lir_grammar_state *st) { return st->n_stacks; }

uint32_t lir__grammar_state_min_remaining(const struct lir_grammar_state *st) {
    uint32_t m = LIR_GRAMMAR_INF;
    for (uint32_t i = 0; i < st->n_stacks; i++)
        if (st->nodes[st->stacks[i]].minrem < m) m = st->nodes[st->stacks[i]].minrem;
    return m; /* a pending partial character is already counted: it is the top set's */
}

void lir_grammar_state_free(lir_grammar_state *st) {
    if (!st) return;
    free(st->nodes);
    free(st->stamp);
    free(st->buckets);
    free(st->stacks);
    free(st->work);
    free(st->buf);
    free(st->ws);
    free(st->allowed);
    free(st->sets);
    free(st->set_data);
    free(st->set_ht);
    free(st->tc_key);
    free(st->tc_val);
    free(st);
}

static bool set_stacks_raw(struct lir_grammar_state *st, const uint32_t *ids, uint32_t n) {
    if (!grow32(&st->stacks, &st->cap_stacks, n)) return false;
    if (n) memcpy(st->stacks, ids, (size_t)n * sizeof *st->stacks);
    st->n_stacks = n;
    return true;
}

/* Makes the walk's end point the state's own. */
static bool set_stacks(struct lir_grammar_state *st, const struct wstate *w) {
    const struct sset *x = &st->sets[w->set];
    if (!set_stacks_raw(st, st->set_data + x->off, x->n)) return false;
    st->cur_set = w->set;
    st->acc = w->acc;
    st->need = w->need;
    st->lo = w->lo;
    return true;
}

enum lir_status lir_grammar_state_create(const lir_grammar *g, lir_grammar_state **out) {
    if (!out) return LIR_EINVAL;
    *out = NULL;
    if (!g) return LIR_EINVAL;
    lir_grammar_state *st = calloc(1, sizeof *st);
    if (!st) return LIR_ENOMEM;
    st->g = g;
    st->cur_set = NONE;
    st->cap_nodes = 1024;
    st->nodes = malloc(st->cap_nodes * sizeof *st->nodes);
    st->stamp = calloc(st->cap_nodes, sizeof *st->stamp);
    st->n_buckets = 1024;
    st->buckets = calloc(st->n_buckets, sizeof *st->buckets);
    if (!st->nodes || !st->stamp || !st->buckets) { lir_grammar_state_free(st); return LIR_ENOMEM; }
    st->nodes[0] = (struct gnode){ NONE, 0, 0, 0 };
    st->n_nodes = 1;
    st->cur_stamp = 1;
    /* the start: a reference to the root rule, expanded */
    uint32_t nw = 0;
    st->scratch_err = LIR_OK;
    /* a synthetic REF element does not exist in the grammar; expand the root's alternatives */
    next_stamp(st);
    for (uint32_t k = g->alt_off[g->root]; k < g->alt_off[g->root + 1]; k++) {
        uint32_t a = g->alts[k];
        if (!work_push(st, &nw, is_end(g, a) ? 0 : intern(st, a, 0))) break;
    }
    uint32_t n = st->scratch_err ? NONE : expand(st, nw);
    if (n == NONE) {
        enum lir_status s = st->scratch_err ? st->scratch_err : LIR_ENOMEM;
        lir_grammar_state_free(st);
        return s;
    }
    if (n > 1) qsort(st->buf, n, sizeof *st->buf, cmp_u32);
    if (!set_stacks_raw(st, st->buf, n)) { lir_grammar_state_free(st); return LIR_ENOMEM; }
    st->live_after_compact = st->n_nodes;
    *out = st;
    return LIR_OK;
}

enum lir_status lir_grammar_state_clone(const lir_grammar_state *src, lir_grammar_state **out) {
    if (!out) return LIR_EINVAL;
    *out = NULL;
    if (!src) return LIR_EINVAL;
    lir_grammar_state *st = calloc(1, sizeof *st);
    if (!st) return LIR_ENOMEM;
    st->g = src->g;
    st->cur_set = NONE;
    st->n_nodes = src->n_nodes;
    st->cap_nodes = src->n_nodes + 1024;
    st->n_buckets = src->n_buckets;
    st->nodes = malloc((size_t)st->cap_nodes * sizeof *st->nodes);
    st->stamp = calloc(st->cap_nodes, sizeof *st->stamp);
    st->buckets = malloc((size_t)st->n_buckets * sizeof *st->buckets);
    st->stacks = malloc(((size_t)src->n_stacks + 1) * sizeof *st->stacks);
    if (!st->nodes || !st->stamp || !st->buckets || !st->stacks) { lir_grammar_state_free(st); return LIR_ENOMEM; }
    memcpy(st->nodes, src->nodes, (size_t)src->n_nodes * sizeof *st->nodes);
    memcpy(st->buckets, src->buckets, (size_t)src->n_buckets * sizeof *st->buckets);
    memcpy(st->stacks, src->stacks, (size_t)src->n_stacks * sizeof *st->stacks);
    st->n_stacks = src->n_stacks;
    st->cap_stacks = src->n_stacks + 1;
    st->cur_stamp = 1;
    st->acc = src->acc;
    st->need = src->need;
    st->lo = src->lo;
    st->live_after_compact = src->live_after_compact;
    *out = st;
    return LIR_OK;
}

static enum lir_status walk_failed(lir_grammar_state *st, const char *what, const uint8_t *p, size_t len) {
    if (st->scratch_err == LIR_ERANGE)
        snprintf(st->err, sizeof st->err, "grammar: %s: the grammar is too ambiguous here (over %u parse stacks "
                 "or %u nodes)", what, MAX_STACKS, MAX_NODES);
    else if (st->scratch_err == LIR_ENOMEM) snprintf(st->err, sizeof st->err, "grammar: %s: out of memory", what);
    else snprintf(st->err, sizeof st->err, "grammar: %s: \"%.*s\" is not allowed here", what,
                  (int)(len > 64 ? 64 : len), (const char *)p);
    return st->scratch_err ? st->scratch_err : LIR_EINVAL;
}

enum lir_status lir_grammar_accept_bytes(lir_grammar_state *st, const char *bytes, size_t len) {
    if (!st || (!bytes && len)) return LIR_EINVAL;
    struct wstate w;
    const uint8_t *p = (const uint8_t *)bytes;
    if (!walk_bytes(st, p, len, &w)) return walk_failed(st, "accept", p, len);
    if (!set_stacks(st, &w)) return LIR_ENOMEM;
    st->err[0] = 0;
    if (st->n_nodes > 2 * st->live_after_compact + 4096 && !compact(st)) return LIR_ENOMEM;
    return LIR_OK;
}

bool lir_grammar_bytes_allowed(lir_grammar_state *st, const char *bytes, size_t len) {
    if (!st || (!bytes && len)) return false;
    struct wstate w;
    return walk_bytes(st, (const uint8_t *)bytes, len, &w);
}

bool lir_grammar_can_end(const lir_grammar_state *st) {
    if (!st || st->need) return false;
    for (uint32_t i = 0; i < st->n_stacks; i++)
        if (st->stacks[i] == 0) return true;
    return false;
}

bool lir_grammar_is_done(const lir_grammar_state *st) {
    return st && !st->need && st->n_stacks == 1 && st->stacks[0] == 0;
}

/* ================================================================ vocabulary */

void lir_grammar_vocab_free(lir_grammar_vocab *v) {
    if (!v) return;
    free(v->kind);
    free(v->piece_off);
    free(v->bytes);
    free(v->sorted);
    free(v->trie);
    free(v);
}

static int cmp_piece(const void *a, const void *b, void *ctx) {
    const lir_grammar_vocab *v = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    uint32_t lx = v->piece_off[x + 1] - v->piece_off[x], ly = v->piece_off[y + 1] - v->piece_off[y];
    int c = memcmp(v->bytes + v->piece_off[x], v->bytes + v->piece_off[y], lx < ly ? lx : ly);
    if (c) return c;
    if (lx != ly) return lx < ly ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Builds the trie over the normal tokens (pieces already in v). */
static enum lir_status build_trie(lir_grammar_vocab *v) {
    int32_t n = 0;
    size_t total = 0;
    for (int32_t t = 0; t < v->n_tokens; t++)
        if (v->kind[t] == TOK_NORMAL) { n++; total += v->piece_off[t + 1] - v->piece_off[t]; }
    v->sorted = malloc(((size_t)n + 1) * sizeof *v->sorted);
    v->trie = malloc((total + 1) * sizeof *v->trie);
    uint32_t *path = malloc((total + 1) * sizeof *path);
    if (!v->sorted || !v->trie || !path) { free(path); return LIR_ENOMEM; }
    n = 0;
    for (int32_t t = 0; t < v->n_tokens; t++)
        if (v->kind[t] == TOK_NORMAL) v->sorted[n++] = t;
    qsort_r(v->sorted, (size_t)n, sizeof *v->sorted, cmp_piece, v);
    uint32_t depth = 0, nn = 0, max_depth = 0;
    const uint8_t *prev = NULL;
    uint32_t prev_len = 0;
    for (int32_t i = 0; i < n; i++) {
        int32_t t = v->sorted[i];
        const uint8_t *p = v->bytes + v->piece_off[t];
        uint32_t len = v->piece_off[t + 1] - v->piece_off[t], lcp = 0;
        while (lcp < len && lcp < prev_len && lcp < depth && p[lcp] == prev[lcp]) lcp++;
        while (depth > lcp) v->trie[path[--depth]].end = nn;
        for (; depth < len; depth++) {
            v->trie[nn] = (struct tnode){ 0, 0, 0, depth + 1, p[depth] };
            path[depth] = nn++;
        }
        struct tnode *tn = &v->trie[path[len - 1]];
        if (!tn->tok_n) tn->tok_first = (uint32_t)i;
        tn->tok_n++;
        if (len > max_depth) max_depth = len;
        prev = p;
        prev_len = len;
    }
    while (depth) v->trie[path[--depth]].end = nn;
    free(path);
    v->n_trie = nn;
    v->max_depth = max_depth;
    return LIR_OK;
}

enum lir_status lir_grammar_vocab_create_pieces(const char *const *pieces, const size_t *lens, const bool *is_eog,
                                                int32_t n, lir_grammar_vocab **out) {
    if (!out) return LIR_EINVAL;
    *out = NULL;
    if (n < 0 || (n && (!pieces || !lens))) return LIR_EINVAL;
    size_t total = 0;
    for (int32_t i = 0; i < n; i++) {
        if (lens[i] && !pieces[i]) return LIR_EINVAL;
        if (lens[i] > UINT32_MAX - total) return LIR_ERANGE;
        total += lens[i];
    }
    lir_grammar_vocab *v = calloc(1, sizeof *v);
    if (!v) return LIR_ENOMEM;
    v->n_tokens = n;
    v->kind = malloc((size_t)n + 1);
    v->piece_off = malloc(((size_t)n + 1) * sizeof *v->piece_off);
    v->bytes = malloc(total + 1);
    if (!v->kind || !v->piece_off || !v->bytes) { lir_grammar_vocab_free(v); return LIR_ENOMEM; }
    uint32_t off = 0;
    for (int32_t i = 0; i < n; i++) {
        v->piece_off[i] = off;
        if (lens[i]) memcpy(v->bytes + off, pieces[i], lens[i]);
        off += (uint32_t)lens[i];
        v->kind[i] = is_eog && is_eog[i] ? TOK_EOG : lens[i] ? TOK_NORMAL : TOK_NEVER;
    }
    v->piece_off[n] = off;
    enum lir_status s = build_trie(v);
    if (s) { lir_grammar_vocab_free(v); return s; }
    *out = v;
    return LIR_OK;
}

/* Pieces as generated text: control tokens give nothing (so they are never allowed, unless they
 * end generation). */
enum lir_status lir__grammar_vocab_from_vocab(const struct lir_vocab *voc, lir_grammar_vocab **out, lir_err *e) {
    int32_t n = lir__vocab_n_tokens(voc);
    const char **p = malloc(((size_t)n + 1) * sizeof *p);
    size_t *l = malloc(((size_t)n + 1) * sizeof *l);
    bool *eog = malloc((size_t)n + 1);
    enum lir_status s = LIR_ENOMEM;
    if (p && l && eog) {
        for (int32_t i = 0; i < n; i++) {
            p[i] = lir_vocab_piece(voc, i, false, &l[i]);
            if (!p[i]) l[i] = 0;
            eog[i] = lir__vocab_is_eog(voc, i);
        }
        s = lir_grammar_vocab_create_pieces(p, l, eog, n, out);
    }
    free(p);
    free(l);
    free(eog);
    return s ? lir__errf(e, s, "grammar: cannot build the token table: %s", lir_status_str(s)) : LIR_OK;
}

/* Through the public tokenizer functions, so this file needs nothing of the model's insides. */
enum lir_status lir_grammar_vocab_create(const lir_model *model, lir_grammar_vocab **out) {
    if (!out) return LIR_EINVAL;
    *out = NULL;
    if (!model) return LIR_EINVAL;
    int32_t n = lir_vocab_n_tokens(model);
    if (n <= 0) {
        size_t len;
        enum lir_status s = lir_token_to_piece(model, 0, false, NULL, 0, &len); /* why there is none */
        return s ? s : LIR_ENOTFOUND;
    }
    char **p = calloc((size_t)n, sizeof *p);
    size_t *l = calloc((size_t)n, sizeof *l);
    bool *eog = calloc((size_t)n, 1);
    enum lir_status s = LIR_ENOMEM;
    if (!p || !l || !eog) goto out;
    for (int32_t i = 0; i < n; i++) {
        char small[64];
        size_t len = 0;
        s = lir_token_to_piece(model, i, false, small, sizeof small, &len);
        if (s && s != LIR_ERANGE) goto out;
        p[i] = malloc(len + 1);
        if (!p[i]) { s = LIR_ENOMEM; goto out; }
        if (s == LIR_ERANGE) s = lir_token_to_piece(model, i, false, p[i], len, &len);
        else memcpy(p[i], small, len);
        if (s) goto out;
        l[i] = len;
        eog[i] = lir_vocab_is_eog(model, i);
    }
    s = lir_grammar_vocab_create_pieces((const char *const *)p, l, eog, n, out);
out:
    if (p)
        for (int32_t i = 0; i < n; i++) free(p[i]);
    free(p);
    free(l);
    free(eog);
    return s;
}

int32_t lir_grammar_vocab_n_tokens(const lir_grammar_vocab *v) { return v ? v->n_tokens : 0; }

/* ================================================================ tokens */

bool lir_grammar_token_allowed(lir_grammar_state *st, const lir_grammar_vocab *v, lir_token t) {
    if (!st || !v || t < 0 || t >= v->n_tokens) return false;
    if (v->kind[t] == TOK_EOG) return lir_grammar_can_end(st);
    if (v->kind[t] == TOK_NEVER) return false;
    struct wstate w;
    return walk_bytes(st, v->bytes + v->piece_off[t], v->piece_off[t + 1] - v->piece_off[t], &w);
}

enum lir_status lir_grammar_accept_token(lir_grammar_state *st, const lir_grammar_vocab *v, lir_token t) {
    if (!st || !v || t < 0 || t >= v->n_tokens) return LIR_EINVAL;
    if (v->kind[t] == TOK_EOG) {
        if (lir_grammar_can_end(st)) return LIR_OK;
        snprintf(st->err, sizeof st->err, "grammar: accept: end of generation (token %d) before the grammar "
                 "is complete", (int)t);
        return LIR_EINVAL;
    }
    if (v->kind[t] == TOK_NEVER) {
        snprintf(st->err, sizeof st->err, "grammar: accept: token %d has no text (a control token)", (int)t);
        return LIR_EINVAL;
    }
    return lir_grammar_accept_bytes(st, (const char *)v->bytes + v->piece_off[t], v->piece_off[t + 1] - v->piece_off[t]);
}

enum lir_status lir_grammar_filter_logits(lir_grammar_state *st, const lir_grammar_vocab *v, float *logits) {
    if (!st || !v || !logits) return LIR_EINVAL;
    if ((size_t)v->n_tokens > st->cap_allowed) {
        uint8_t *a = realloc(st->allowed, (size_t)v->n_tokens);
        if (!a) return LIR_ENOMEM;
        st->allowed = a;
        st->cap_allowed = (size_t)v->n_tokens;
    }
    if (v->max_depth + 1 > st->cap_ws) {
        struct wstate *w = realloc(st->ws, ((size_t)v->max_depth + 1) * sizeof *w);
        if (!w) return LIR_ENOMEM;
        st->ws = w;
        st->cap_ws = v->max_depth + 1;
    }
    memset(st->allowed, 0, (size_t)v->n_tokens);
    struct wstate *ws = st->ws;
    if (!walk_root(st, &ws[0])) return walk_failed(st, "filter", (const uint8_t *)"", 0);
    enum lir_status failed = LIR_OK;
    for (uint32_t i = 0; i < v->n_trie;) {
        const struct tnode *tn = &v->trie[i];
        uint32_t d = tn->depth;
        if (!step(st, &ws[d - 1], tn->byte, &ws[d])) {
            if (st->scratch_err && !failed) failed = st->scratch_err;
            st->scratch_err = LIR_OK;
            i = tn->end;
            continue;
        }
        for (uint32_t k = 0; k < tn->tok_n; k++) st->allowed[v->sorted[tn->tok_first + k]] = 1;
        i++;
    }
    bool can_end = lir_grammar_can_end(st);
    for (int32_t t = 0; t < v->n_tokens; t++) {
        bool ok = v->kind[t] == TOK_NORMAL ? st->allowed[t] : v->kind[t] == TOK_EOG ? can_end : false;
        if (!ok) logits[t] = -INFINITY;
    }
    if (failed) {
        st->scratch_err = failed;
        return walk_failed(st, "filter", (const uint8_t *)"", 0);
    }
    return LIR_OK;
}
