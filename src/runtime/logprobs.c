/* logprobs.c — per-token log-probability records of a generation (request.logprobs): the
 * scheduler adds one per sampled token, the request thread takes them in batches with the text,
 * hands them to the stream callback and keeps them for the result.
 *
 * Entries hold their pieces as offsets into one text buffer while they grow (realloc moves
 * it); lir__lp_pointers turns the offsets into the public pointers before anyone reads them. */
#include "runtime/runtime.h"

#include <stdlib.h>
#include <string.h>

/* Appends n bytes to b's text; returns the offset, or UINT32_MAX when out of memory or past 4 GiB. */
static uint32_t text_add(struct rt_lp_buf *b, const char *s, size_t n) {
    if (b->len + n > UINT32_MAX) return UINT32_MAX;
    if (b->len + n + 1 > b->cap_text) {
        size_t c = b->cap_text ? b->cap_text : 256;
        while (c < b->len + n + 1) c *= 2;
        char *t = realloc(b->text, c);
        if (!t) return UINT32_MAX;
        b->text = t;
        b->cap_text = c;
    }
    uint32_t off = (uint32_t)b->len;
    if (n) memcpy(b->text + off, s, n);
    b->len += n;
    b->text[b->len] = 0;
    return off;
}

static bool grow(struct rt_lp_buf *b, int32_t need) {
    if (need <= b->cap) return true;
    int32_t c = b->cap ? b->cap : 16;
    while (c < need) c *= 2;
    struct lir_token_logprobs *v = realloc(b->v, (size_t)c * sizeof *v);
    if (!v) return false;
    b->v = v;
    uint32_t(*off)[1 + LIR_N_PROBS_MAX] = realloc(b->off, (size_t)c * sizeof *off);
    if (!off) return false;
    b->off = off;
    b->cap = c;
    return true;
}

/* The piece of one token into b's text; its offset and length. */
static bool piece_add(struct rt_lp_buf *b, const lir_model *m, lir_token t, uint32_t *off, size_t *len) {
    char small[128];
    size_t n = 0;
    enum lir_status s = lir_token_to_piece(m, t, false, small, sizeof small, &n);
    if (s == LIR_OK) {
        *off = text_add(b, small, n);
    } else if (s == LIR_ERANGE) {
        char *big = malloc(n + 1);
        if (!big || lir_token_to_piece(m, t, false, big, n + 1, &n)) {
            free(big);
            return false;
        }
        *off = text_add(b, big, n);
        free(big);
    } else {
        n = 0; /* no text (cannot happen for a sampled id; kept empty rather than failing) */
        *off = text_add(b, "", 0);
    }
    *len = n;
    return *off != UINT32_MAX;
}

bool lir__lp_add(struct rt_lp_buf *b, const lir_model *m, lir_token tok, float logprob,
                 const struct lir_token_logprob *top, int32_t n_top) {
    if (b->oom) return false;
    if (!grow(b, b->n + 1)) goto oom;
    struct lir_token_logprobs *e = &b->v[b->n];
    uint32_t *off = b->off[b->n];
    memset(e, 0, sizeof *e);
    e->chosen.token = tok;
    e->chosen.logprob = logprob;
    if (!piece_add(b, m, tok, &off[0], &e->chosen.piece_len)) goto oom;
    if (n_top > LIR_N_PROBS_MAX) n_top = LIR_N_PROBS_MAX;
    for (int32_t k = 0; k < n_top; k++) {
        e->top[k].token = top[k].token;
        e->top[k].logprob = top[k].logprob;
        if (!piece_add(b, m, top[k].token, &off[1 + k], &e->top[k].piece_len)) goto oom;
    }
    e->n_top = n_top;
    b->n++;
    return true;
oom:
    b->oom = true;
    return false;
}

bool lir__lp_append(struct rt_lp_buf *dst, const struct rt_lp_buf *src) {
    if (dst->oom || src->oom) return !(dst->oom = true);
    if (!src->n) return true;
    if (!grow(dst, dst->n + src->n)) return !(dst->oom = true);
    uint32_t base = text_add(dst, src->text, src->len);
    if (base == UINT32_MAX) return !(dst->oom = true);
    for (int32_t i = 0; i < src->n; i++) {
        dst->v[dst->n + i] = src->v[i];
        for (int32_t k = 0; k <= LIR_N_PROBS_MAX; k++) dst->off[dst->n + i][k] = src->off[i][k] + base;
    }
    dst->n += src->n;
    return true;
}

void lir__lp_pointers(struct rt_lp_buf *b) {
    for (int32_t i = 0; i < b->n; i++) {
        struct lir_token_logprobs *e = &b->v[i];
        e->chosen.piece = b->text + b->off[i][0];
        for (int32_t k = 0; k < e->n_top; k++) e->top[k].piece = b->text + b->off[i][1 + k];
    }
}

void lir__lp_free(struct rt_lp_buf *b) {
    free(b->v);
    free(b->off);
    free(b->text);
    memset(b, 0, sizeof *b);
}
