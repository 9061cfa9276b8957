/* stop.c — lir_stop_matcher: stop strings over streamed text (contract in include/lir.h).
 *
 * The matcher keeps buf = the bytes held back + the new chunk. A push looks for the stop
 * string that starts first in buf; without one, it keeps the longest end of buf that is a
 * proper prefix of some stop string (or an incomplete UTF-8 character) and hands out the
 * rest in place: the held bytes move to the front at the start of the next call, so the
 * returned pointer stays valid until then. Cost per push: one memmem per stop string over
 * buf plus, per stop string, a comparison per candidate suffix length (< its length). */
#include "sample/sample.h"

#include <stdlib.h>
#include <string.h>

struct lir_stop_matcher {
    char **stop;     /* (n) copies */
    size_t *len;     /* (n) their lengths */
    int32_t n;
    char *buf;       /* held bytes, then the new chunk */
    size_t used;     /* bytes in buf */
    size_t consumed; /* bytes at the front of buf handed out by the last call */
    size_t cap;
    bool done;
};

void lir_stop_matcher_free(lir_stop_matcher *m) {
    if (!m) return;
    for (int32_t i = 0; i < m->n; i++) free(m->stop[i]);
    free(m->stop);
    free(m->len);
    free(m->buf);
    free(m);
}

enum lir_status lir_stop_matcher_create(const char *const *stops, int32_t n_stops, lir_stop_matcher **out) {
    if (!out) return LIR_EINVAL;
    *out = NULL;
    if (n_stops < 0 || n_stops > LIR_STOP_MAX) return LIR_ERANGE;
    if (n_stops > 0 && !stops) return LIR_EINVAL;
    for (int32_t i = 0; i < n_stops; i++) {
        if (!stops[i] || !stops[i][0]) return LIR_EINVAL;
        if (strnlen(stops[i], LIR_STOP_LEN_MAX + 1) > LIR_STOP_LEN_MAX) return LIR_ERANGE;
    }
    lir_stop_matcher *m = calloc(1, sizeof *m);
    if (!m) return LIR_ENOMEM;
    if (n_stops) {
        m->stop = calloc((size_t)n_stops, sizeof *m->stop);
        m->len = calloc((size_t)n_stops, sizeof *m->len);
        if (!m->stop || !m->len) goto oom;
    }
    for (int32_t i = 0; i < n_stops; i++, m->n++) {
        m->len[i] = strlen(stops[i]);
        if (!(m->stop[i] = malloc(m->len[i]))) goto oom;
        memcpy(m->stop[i], stops[i], m->len[i]);
    }
    *out = m;
    return LIR_OK;
oom:
    lir_stop_matcher_free(m);
    return LIR_ENOMEM;
}

void lir_stop_matcher_reset(lir_stop_matcher *m) {
    if (!m) return;
    m->used = m->consumed = 0;
    m->done = false;
}

bool lir_stop_matcher_done(const lir_stop_matcher *m) { return m && m->done; }

/* Length of an incomplete UTF-8 character at the end of s[0..n) (0 when it ends whole or
 * with bytes that are not UTF-8: those are not ours to fix). */
static size_t utf8_incomplete_tail(const unsigned char *s, size_t n) {
    for (size_t k = 1; k <= 3 && k <= n; k++) {
        unsigned char c = s[n - k];
        if ((c & 0xC0) == 0x80) continue; /* continuation: look further back */
        size_t need = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 && c < 0xF0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 1;
        return need > k ? k : 0;
    }
    return 0;
}

enum lir_status lir_stop_matcher_push(lir_stop_matcher *m, const char *text, size_t len, const char **emit,
                                      size_t *emit_len, int32_t *matched) {
    if (matched) *matched = -1;
    if (emit) *emit = "";
    if (emit_len) *emit_len = 0;
    if (!m || !emit || !emit_len || (!text && len)) return LIR_EINVAL;
    if (m->done) return LIR_OK;
    /* drop what the last call handed out */
    if (m->consumed) {
        memmove(m->buf, m->buf + m->consumed, m->used - m->consumed);
        m->used -= m->consumed;
        m->consumed = 0;
    }
    if (len > SIZE_MAX - m->used - 1) return LIR_ENOMEM;
    if (m->used + len > m->cap) {
        size_t cap = m->cap ? m->cap : 64;
        while (cap < m->used + len) cap = cap > SIZE_MAX / 2 ? m->used + len : cap * 2;
        char *b = realloc(m->buf, cap);
        if (!b) return LIR_ENOMEM;
        m->buf = b;
        m->cap = cap;
    }
    if (len) memcpy(m->buf + m->used, text, len);
    m->used += len;

    /* the stop string that starts first (lower index on ties) */
    size_t best_at = SIZE_MAX;
    int32_t best = -1;
    for (int32_t i = 0; i < m->n && m->used; i++) {
        const char *hit = memmem(m->buf, m->used, m->stop[i], m->len[i]);
        if (hit && (size_t)(hit - m->buf) < best_at) {
            best_at = (size_t)(hit - m->buf);
            best = i;
        }
    }
    if (best >= 0) {
        *emit = m->buf;
        *emit_len = best_at;
        if (matched) *matched = best;
        m->done = true;
        m->consumed = m->used; /* the stop string and what follows it are dropped */
        return LIR_OK;
    }

    /* hold back the longest end of buf that a stop string starts with */
    size_t hold = 0;
    for (int32_t i = 0; i < m->n; i++) {
        size_t h = m->len[i] - 1 < m->used ? m->len[i] - 1 : m->used;
        for (; h > hold; h--)
            if (!memcmp(m->buf + m->used - h, m->stop[i], h)) {
                hold = h;
                break;
            }
    }
    size_t u = utf8_incomplete_tail((const unsigned char *)m->buf, m->used);
    if (u > hold) hold = u;
    *emit = m->buf ? m->buf : "";
    *emit_len = m->used - hold;
    m->consumed = m->used - hold;
    return LIR_OK;
}

enum lir_status lir_stop_matcher_flush(lir_stop_matcher *m, const char **emit, size_t *emit_len) {
    if (emit) *emit = "";
    if (emit_len) *emit_len = 0;
    if (!m || !emit || !emit_len) return LIR_EINVAL;
    if (m->done) {
        m->used = m->consumed = 0;
        return LIR_OK;
    }
    if (m->buf) *emit = m->buf + m->consumed;
    *emit_len = m->used - m->consumed;
    m->consumed = m->used;
    return LIR_OK;
}
