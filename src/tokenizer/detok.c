/* detok.c — streaming detokenizer: pieces go in token by token, and only complete UTF-8
 * sequences come out, so a multi-byte character split over byte tokens (or BPE pieces) is
 * never cut between two chunks. Invalid sequences come out as U+FFFD (the output is always
 * valid UTF-8); an incomplete tail is held back until the next piece or the flush. */
#include "tokenizer/vocab_impl.h"

#include <string.h>

struct lir_detok {
    const lir_vocab *v;
    bool show_special, strip_space, first;
    unsigned char hold[4];
    size_t n_hold;
    char *buf;
    size_t cap;
};

lir_detok *lir__detok_create(const lir_vocab *v, bool show_special, bool strip_leading_space) {
    if (!v) return NULL;
    lir_detok *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->v = v;
    d->show_special = show_special;
    d->strip_space = strip_leading_space;
    d->first = true;
    return d;
}

void lir__detok_free(lir_detok *d) {
    if (!d) return;
    free(d->buf);
    free(d);
}

/* Length of the valid sequence starting at s[0] given n bytes: >0 complete and valid,
 * 0 a valid but incomplete prefix, -1 invalid (the lead byte is to be replaced). */
static int seq_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    int L;
    unsigned lo = 0x80, hi = 0xbf;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) L = 2;
    else if (c >= 0xe0 && c <= 0xef) { L = 3; if (c == 0xe0) lo = 0xa0; if (c == 0xed) hi = 0x9f; }
    else if (c >= 0xf0 && c <= 0xf4) { L = 4; if (c == 0xf0) lo = 0x90; if (c == 0xf4) hi = 0x8f; }
    else return -1;
    for (int i = 1; i < L; i++) {
        if ((size_t)i >= n) return 0;
        unsigned x = s[i];
        if (i == 1 ? (x < lo || x > hi) : (x & 0xc0) != 0x80) return -1;
    }
    return L;
}

static bool reserve(lir_detok *d, size_t need) {
    if (need <= d->cap) return true;
    size_t nc = d->cap ? d->cap : 64;
    while (nc < need) nc *= 2;
    char *p = realloc(d->buf, nc);
    if (!p) return false;
    d->buf = p;
    d->cap = nc;
    return true;
}

/* Moves the complete part of hold+piece to d->buf; keeps an incomplete tail in hold. */
static enum lir_status feed(lir_detok *d, const char *piece, size_t plen, bool final, size_t *olen) {
    size_t n = d->n_hold + plen;
    /* every input byte gives at most 3 output bytes (U+FFFD) */
    if (!reserve(d, 3 * n + 4)) return LIR_ENOMEM;
    unsigned char stackbuf[256];
    unsigned char *s = n <= sizeof stackbuf ? stackbuf : malloc(n);
    if (!s) return LIR_ENOMEM;
    memcpy(s, d->hold, d->n_hold);
    if (plen) memcpy(s + d->n_hold, piece, plen);
    size_t o = 0, i = 0;
    d->n_hold = 0;
    while (i < n) {
        int L = seq_len(s + i, n - i);
        if (L > 0) { memcpy(d->buf + o, s + i, (size_t)L); o += (size_t)L; i += (size_t)L; continue; }
        if (L == 0 && !final) { memcpy(d->hold, s + i, n - i); d->n_hold = n - i; break; }
        memcpy(d->buf + o, "\xef\xbf\xbd", 3);
        o += 3;
        i += 1;
        if (L == 0) { /* final: an incomplete sequence is one replacement character */
            while (i < n && (s[i] & 0xc0) == 0x80) i++;
        }
    }
    if (s != stackbuf) free(s);
    *olen = o;
    return LIR_OK;
}

enum lir_status lir__detok_push(lir_detok *d, int32_t id, const char **text, size_t *len) {
    *text = "";
    *len = 0;
    size_t pl;
    const char *p = lir_vocab_piece(d->v, id, d->show_special, &pl);
    if (!p) return LIR_EINVAL;
    /* as llama_detokenize: only the sequence's first token loses a leading space (so a
     * sequence that starts with BOS keeps the space SPM put after it) */
    if (d->first && d->strip_space && pl && p[0] == ' ') { p++; pl--; }
    d->first = false;
    size_t o;
    enum lir_status s = feed(d, p, pl, false, &o);
    if (s) return s;
    *text = d->buf;
    *len = o;
    return LIR_OK;
}

enum lir_status lir__detok_flush(lir_detok *d, const char **text, size_t *len) {
    *text = "";
    *len = 0;
    size_t o;
    enum lir_status s = feed(d, NULL, 0, true, &o);
    if (s) return s;
    *text = d->buf ? d->buf : "";
    *len = o;
    return LIR_OK;
}
