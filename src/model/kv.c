/* kv.c — the paged KV cache's bookkeeping (kv.h): block pool with reference counts, block
 * tables and token records per sequence, copy-on-write of shared blocks, and the row moves of
 * a context shift (keys re-rotated) and of snapshot reads and writes. */
#include "model/kv.h"
#include "backend/backend.h"
#include "quant/quant.h"

#include <stdlib.h>
#include <string.h>

int64_t lir__kv_pool_blocks(int32_t n_ctx, int32_t n_seq, int32_t kv_size) {
    if (n_ctx < 1 || n_seq < 1 || kv_size < 0) return 0;
    const int64_t per = ((int64_t)n_ctx + LIR_KV_BS - 1) / LIR_KV_BS;
    if (kv_size == 0) return per * n_seq;
    return ((int64_t)kv_size + LIR_KV_BS - 1) / LIR_KV_BS;
}

size_t lir__kv_row_bytes(int32_t kv_type, int32_t kv_dim) {
    if (kv_type == LIR_KV_TYPE_F16) return (size_t)kv_dim * sizeof(lir_f16);
    if (kv_type == LIR_KV_TYPE_Q8_0) return lir_type_row_size(LIR_TYPE_Q8_0, kv_dim);
    return 0;
}

enum lir_status lir__kv_init(struct lir_kv *kv, int32_t kv_type, int32_t n_layer, int32_t kv_dim, int32_t head_dim,
                             int32_t n_ctx, int32_t n_seq, int32_t kv_size, lir_err *e) {
    memset(kv, 0, sizeof *kv);
    if (kv_type != LIR_KV_TYPE_F16 && kv_type != LIR_KV_TYPE_Q8_0)
        return lir__errf(e, LIR_EINVAL, "lir_context_create: kv_type %d is not LIR_KV_TYPE_F16 (0) or LIR_KV_TYPE_Q8_0 (1)",
                         kv_type);
    if (kv_type == LIR_KV_TYPE_Q8_0 && head_dim % 32 != 0)
        return lir__errf(e, LIR_EUNSUPPORTED,
                         "lir_context_create: kv_type Q8_0 needs head_dim a multiple of 32 (the model's is %d)",
                         head_dim);
    const int64_t nb = lir__kv_pool_blocks(n_ctx, n_seq, kv_size);
    if (nb < 1 || nb > INT32_MAX / 2)
        return lir__errf(e, LIR_EINVAL, "lir_context_create: kv_size %d gives %lld KV blocks (allowed 1..%d)", kv_size,
                         (long long)nb, INT32_MAX / 2);
    kv->type = kv_type == LIR_KV_TYPE_F16 ? LIR_TYPE_F16 : LIR_TYPE_Q8_0;
    kv->n_layer = n_layer;
    kv->kv_dim = kv_dim;
    kv->n_ctx = n_ctx;
    kv->n_seq = n_seq;
    kv->max_blocks = (n_ctx + LIR_KV_BS - 1) / LIR_KV_BS;
    kv->n_blocks = (int32_t)nb;
    kv->row_bytes = lir__kv_row_bytes(kv_type, kv_dim);
    kv->layer_bytes = 2 * (size_t)LIR_KV_BS * kv->row_bytes;
    kv->block_bytes = (size_t)n_layer * kv->layer_bytes;
    if (kv->block_bytes && (size_t)nb > SIZE_MAX / kv->block_bytes)
        return lir__errf(e, LIR_ENOMEM, "lir_context_create: a KV pool of %lld blocks overflows", (long long)nb);
    kv->pool = lir__alloc_aligned((size_t)nb * kv->block_bytes);
    kv->refs = calloc((size_t)nb, sizeof *kv->refs);
    kv->free_ids = malloc((size_t)nb * sizeof *kv->free_ids);
    kv->seqs = calloc((size_t)n_seq, sizeof *kv->seqs);
    if (!kv->pool || !kv->refs || !kv->free_ids || !kv->seqs) goto oom;
    for (int32_t s = 0; s < n_seq; s++) {
        kv->seqs[s].blocks = malloc((size_t)kv->max_blocks * sizeof(int32_t));
        if (!kv->seqs[s].blocks) goto oom;
    }
    /* popped from the top: block 0 first, so one sequence gets ascending blocks */
    for (int32_t i = 0; i < kv->n_blocks; i++) kv->free_ids[i] = kv->n_blocks - 1 - i;
    kv->n_free = kv->n_blocks;
    return LIR_OK;
oom:
    lir__errf(e, LIR_ENOMEM, "lir_context_create: out of memory for the KV cache (%lld blocks of %zu bytes)",
              (long long)nb, kv->block_bytes);
    lir__kv_free(kv);
    return LIR_ENOMEM;
}

void lir__kv_free(struct lir_kv *kv) {
    if (kv->seqs)
        for (int32_t s = 0; s < kv->n_seq; s++) {
            free(kv->seqs[s].blocks);
            free(kv->seqs[s].tokens);
        }
    free(kv->seqs);
    free(kv->refs);
    free(kv->free_ids);
    lir__free_aligned(kv->pool);
    memset(kv, 0, sizeof *kv);
}

/* ---------------------------------------------------------------- blocks */

static int32_t block_alloc(struct lir_kv *kv) {
    const int32_t b = kv->free_ids[--kv->n_free];
    kv->refs[b] = 1;
    /* F16 attention multiplies the transposed V rows of a whole block by the weights, zero past
     * the sequence's end: cells never written must be finite. Rows of a reused block are. */
    if (kv->type == LIR_TYPE_F16)
        for (int32_t il = 0; il < kv->n_layer; il++)
            memset(lir__kv_v(kv, b, il), 0, (size_t)LIR_KV_BS * kv->row_bytes);
    return b;
}

static void block_release(struct lir_kv *kv, int32_t b) {
    if (--kv->refs[b] == 0) kv->free_ids[kv->n_free++] = b;
}

static int32_t n_blocks_of(int32_t len) { return (len + LIR_KV_BS - 1) / LIR_KV_BS; }

int32_t lir__kv_blocks_needed(const struct lir_kv *kv, int32_t seq, int32_t p0, int32_t n) {
    const struct lir_kv_seq *s = &kv->seqs[seq];
    int32_t need = n_blocks_of(p0 + n) - n_blocks_of(p0);
    if (p0 % LIR_KV_BS != 0 && kv->refs[s->blocks[p0 / LIR_KV_BS]] > 1) need++; /* copy on write */
    return need;
}

int32_t lir__kv_blocks_freed(const struct lir_kv *kv, int32_t seq, int32_t p0) {
    const struct lir_kv_seq *s = &kv->seqs[seq];
    int32_t n = 0;
    for (int32_t j = n_blocks_of(p0); j < n_blocks_of(s->len); j++) n += kv->refs[s->blocks[j]] == 1;
    return n;
}

enum lir_status lir__kv_reserve_tokens(struct lir_kv *kv, int32_t seq, int32_t n, lir_err *e) {
    struct lir_kv_seq *s = &kv->seqs[seq];
    if (n <= s->cap) return LIR_OK;
    int32_t cap = s->cap ? s->cap : 256;
    while (cap < n) cap = cap > kv->n_ctx / 2 ? kv->n_ctx : cap * 2;
    lir_token *t = realloc(s->tokens, (size_t)cap * sizeof *t);
    if (!t) return lir__errf(e, LIR_ENOMEM, "KV cache: out of memory for %d token ids of sequence %d", cap, seq);
    s->tokens = t;
    s->cap = cap;
    return LIR_OK;
}

void lir__kv_seq_cut(struct lir_kv *kv, int32_t seq, int32_t p0) {
    struct lir_kv_seq *s = &kv->seqs[seq];
    for (int32_t j = n_blocks_of(p0); j < n_blocks_of(s->len); j++) block_release(kv, s->blocks[j]);
    if (p0 < s->len) s->len = p0;
}

void lir__kv_seq_own_block(struct lir_kv *kv, int32_t seq, int32_t j) {
    struct lir_kv_seq *s = &kv->seqs[seq];
    const int32_t old = s->blocks[j];
    if (kv->refs[old] == 1) return;
    const int32_t b = block_alloc(kv);
    memcpy(kv->pool + (size_t)b * kv->block_bytes, kv->pool + (size_t)old * kv->block_bytes, kv->block_bytes);
    if (kv->on_copy) kv->on_copy(kv->on_copy_user, b, old);
    block_release(kv, old);
    s->blocks[j] = b;
}

void lir__kv_seq_prepare(struct lir_kv *kv, int32_t seq, int32_t n) {
    struct lir_kv_seq *s = &kv->seqs[seq];
    if (s->len % LIR_KV_BS != 0) lir__kv_seq_own_block(kv, seq, s->len / LIR_KV_BS);
    for (int32_t j = n_blocks_of(s->len); j < n_blocks_of(s->len + n); j++) s->blocks[j] = block_alloc(kv);
}

void lir__kv_seq_copy(struct lir_kv *kv, int32_t src, int32_t dst) {
    if (src == dst) return;
    lir__kv_seq_cut(kv, dst, 0);
    struct lir_kv_seq *a = &kv->seqs[src], *b = &kv->seqs[dst];
    for (int32_t j = 0; j < n_blocks_of(a->len); j++) {
        b->blocks[j] = a->blocks[j];
        kv->refs[a->blocks[j]]++;
    }
    memcpy(b->tokens, a->tokens, (size_t)a->len * sizeof *a->tokens);
    b->len = a->len;
}

/* ---------------------------------------------------------------- snapshot blocks */

void lir__kv_take(struct lir_kv *kv, int32_t n, int32_t *ids) {
    for (int32_t i = 0; i < n; i++) {
        ids[i] = kv->free_ids[--kv->n_free];
        kv->refs[ids[i]] = 1;
    }
}

void lir__kv_give(struct lir_kv *kv, int32_t n, const int32_t *ids) {
    for (int32_t i = 0; i < n; i++) block_release(kv, ids[i]);
}

void lir__kv_seq_adopt(struct lir_kv *kv, int32_t seq, const int32_t *ids, int32_t n_tok, const lir_token *toks) {
    struct lir_kv_seq *s = &kv->seqs[seq];
    lir__kv_seq_cut(kv, seq, 0);
    memcpy(s->blocks, ids, sizeof *ids * (size_t)n_blocks_of(n_tok));
    if (n_tok) memcpy(s->tokens, toks, sizeof *toks * (size_t)n_tok);
    s->len = n_tok;
}

void lir__kv_block_zero_tail(const struct lir_kv *kv, char *b, int32_t m) {
    if (m >= LIR_KV_BS) return;
    const size_t rb = kv->row_bytes, tail = (size_t)(LIR_KV_BS - m);
    for (int32_t il = 0; il < kv->n_layer; il++) {
        char *k = b + (size_t)il * kv->layer_bytes, *v = k + (size_t)LIR_KV_BS * rb;
        memset(k + (size_t)m * rb, 0, tail * rb);
        if (kv->type == LIR_TYPE_F16)
            for (int32_t d = 0; d < kv->kv_dim; d++) memset((lir_f16 *)v + (size_t)d * LIR_KV_BS + m, 0, tail * sizeof(lir_f16));
        else
            memset(v + (size_t)m * rb, 0, tail * rb);
    }
}

/* ---------------------------------------------------------------- rows */

/* m rows (t) of a transposed V block segment vt ([D][64], column offset applied) to rows vr
 * ([m][D]) and back. The scalar forms are the reference: tiles of 8 dims so that every write is
 * 8 contiguous values (the last D % 8 dims one at a time). */
void lir__kv_transpose_out_ref(const lir_f16 *vt, lir_f16 *vr, int32_t m, int32_t D) {
    int32_t d = 0;
    for (; d + 8 <= D; d += 8) {
        const lir_f16 *s = vt + (size_t)d * LIR_KV_BS;
        for (int32_t t = 0; t < m; t++) {
            lir_f16 *o = vr + (size_t)t * D + d;
            for (int32_t k = 0; k < 8; k++) o[k] = s[(size_t)k * LIR_KV_BS + t];
        }
    }
    for (; d < D; d++)
        for (int32_t t = 0; t < m; t++) vr[(size_t)t * D + d] = vt[(size_t)d * LIR_KV_BS + t];
}
void lir__kv_transpose_in_ref(const lir_f16 *vr, lir_f16 *vt, int32_t m, int32_t D) {
    int32_t d = 0;
    for (; d + 8 <= D; d += 8) {
        lir_f16 *o = vt + (size_t)d * LIR_KV_BS;
        for (int32_t t = 0; t < m; t++) {
            const lir_f16 *s = vr + (size_t)t * D + d;
            for (int32_t k = 0; k < 8; k++) o[(size_t)k * LIR_KV_BS + t] = s[k];
        }
    }
    for (; d < D; d++)
        for (int32_t t = 0; t < m; t++) vt[(size_t)d * LIR_KV_BS + t] = vr[(size_t)t * D + d];
}

#if defined(__SSE2__)
#include <emmintrin.h>
/* 8 x 8 tiles of 16-bit values transposed in registers (SSE2, x86-64's baseline): the scalar
 * form moves two bytes per load and store, which made the V half of a snapshot's KV bytes about
 * five times slower to save and restore than the K half's plain copy. */
static inline void tr8x8(__m128i r[8]) {
    const __m128i t0 = _mm_unpacklo_epi16(r[0], r[1]), t1 = _mm_unpackhi_epi16(r[0], r[1]);
    const __m128i t2 = _mm_unpacklo_epi16(r[2], r[3]), t3 = _mm_unpackhi_epi16(r[2], r[3]);
    const __m128i t4 = _mm_unpacklo_epi16(r[4], r[5]), t5 = _mm_unpackhi_epi16(r[4], r[5]);
    const __m128i t6 = _mm_unpacklo_epi16(r[6], r[7]), t7 = _mm_unpackhi_epi16(r[6], r[7]);
    const __m128i u0 = _mm_unpacklo_epi32(t0, t2), u1 = _mm_unpackhi_epi32(t0, t2);
    const __m128i u2 = _mm_unpacklo_epi32(t1, t3), u3 = _mm_unpackhi_epi32(t1, t3);
    const __m128i u4 = _mm_unpacklo_epi32(t4, t6), u5 = _mm_unpackhi_epi32(t4, t6);
    const __m128i u6 = _mm_unpacklo_epi32(t5, t7), u7 = _mm_unpackhi_epi32(t5, t7);
    r[0] = _mm_unpacklo_epi64(u0, u4), r[1] = _mm_unpackhi_epi64(u0, u4);
    r[2] = _mm_unpacklo_epi64(u1, u5), r[3] = _mm_unpackhi_epi64(u1, u5);
    r[4] = _mm_unpacklo_epi64(u2, u6), r[5] = _mm_unpackhi_epi64(u2, u6);
    r[6] = _mm_unpacklo_epi64(u3, u7), r[7] = _mm_unpackhi_epi64(u3, u7);
}

/* The tiles of whole 8 tokens x 8 dims, then the rest (m % 8 tokens, D % 8 dims) one value at a time. */
static void transpose_out(const lir_f16 *vt, lir_f16 *vr, int32_t m, int32_t D) {
    const int32_t m8 = m & ~7, D8 = D & ~7;
    for (int32_t d = 0; d < D8; d += 8) {
        /* the 8 rows of the group after next (1 KiB, contiguous): the tiles below read each row
         * in 16-byte steps, a pattern the hardware prefetcher does not follow */
        if (d + 16 < D8)
            for (int k = 0; k < 16; k++) _mm_prefetch((const char *)(vt + (size_t)(d + 16) * LIR_KV_BS) + 64 * k, _MM_HINT_T0);
        for (int32_t t = 0; t < m8; t += 8) {
            __m128i r[8];
            for (int k = 0; k < 8; k++) r[k] = _mm_loadu_si128((const __m128i *)(vt + (size_t)(d + k) * LIR_KV_BS + t));
            tr8x8(r);
            for (int k = 0; k < 8; k++) _mm_storeu_si128((__m128i *)(vr + (size_t)(t + k) * D + d), r[k]);
        }
    }
    for (int32_t d = 0; d < D; d++)
        for (int32_t t = d < D8 ? m8 : 0; t < m; t++) vr[(size_t)t * D + d] = vt[(size_t)d * LIR_KV_BS + t];
}
static void transpose_in(const lir_f16 *vr, lir_f16 *vt, int32_t m, int32_t D) {
    const int32_t m8 = m & ~7, D8 = D & ~7;
    for (int32_t d = 0; d < D8; d += 8)
        for (int32_t t = 0; t < m8; t += 8) {
            __m128i r[8];
            for (int k = 0; k < 8; k++) r[k] = _mm_loadu_si128((const __m128i *)(vr + (size_t)(t + k) * D + d));
            tr8x8(r);
            for (int k = 0; k < 8; k++) _mm_storeu_si128((__m128i *)(vt + (size_t)(d + k) * LIR_KV_BS + t), r[k]);
        }
    for (int32_t d = 0; d < D; d++)
        for (int32_t t = d < D8 ? m8 : 0; t < m; t++) vt[(size_t)d * LIR_KV_BS + t] = vr[(size_t)t * D + d];
}
#else
static void transpose_out(const lir_f16 *vt, lir_f16 *vr, int32_t m, int32_t D) { lir__kv_transpose_out_ref(vt, vr, m, D); }
static void transpose_in(const lir_f16 *vr, lir_f16 *vt, int32_t m, int32_t D) { lir__kv_transpose_in_ref(vr, vt, m, D); }
#endif
void lir__kv_transpose_out(const lir_f16 *vt, lir_f16 *vr, int32_t m, int32_t D) { transpose_out(vt, vr, m, D); }
void lir__kv_transpose_in(const lir_f16 *vr, lir_f16 *vt, int32_t m, int32_t D) { transpose_in(vr, vt, m, D); }

/* Rows [p0, p0 + n) of seq, layer il, a block segment at a time: K rows are contiguous within a
 * block (one memcpy); F16 V is transposed per block, so its segment is transposed to rows. */
void lir__kv_rows_read(const struct lir_kv *kv, int32_t seq, int32_t p0, int32_t n, void *buf) {
    const struct lir_kv_seq *s = &kv->seqs[seq];
    char *o = buf;
    const size_t rb = kv->row_bytes;
    const int32_t D = kv->kv_dim;
    for (int32_t il = 0; il < kv->n_layer; il++) {
        char *ko = o, *vo = o + (size_t)n * rb;
        for (int32_t i = 0; i < n;) {
            const int32_t p = p0 + i, b = s->blocks[p / LIR_KV_BS], off = p % LIR_KV_BS;
            const int32_t m = LIR_KV_BS - off < n - i ? LIR_KV_BS - off : n - i;
            memcpy(ko + (size_t)i * rb, lir__kv_k(kv, b, il) + (size_t)off * rb, (size_t)m * rb);
            if (kv->type == LIR_TYPE_F16) {
                const lir_f16 *vt = (const lir_f16 *)lir__kv_v(kv, b, il) + off;
                lir_f16 *vr = (lir_f16 *)(vo + (size_t)i * rb);
                transpose_out(vt, vr, m, D);
            } else {
                memcpy(vo + (size_t)i * rb, lir__kv_v(kv, b, il) + (size_t)off * rb, (size_t)m * rb);
            }
            i += m;
        }
        o += 2 * (size_t)n * rb;
    }
}

void lir__kv_rows_write(struct lir_kv *kv, int32_t seq, int32_t p0, int32_t n, const void *buf) {
    struct lir_kv_seq *s = &kv->seqs[seq];
    const char *in = buf;
    const size_t rb = kv->row_bytes;
    const int32_t D = kv->kv_dim;
    for (int32_t il = 0; il < kv->n_layer; il++) {
        const char *ki = in, *vi = in + (size_t)n * rb;
        for (int32_t i = 0; i < n;) {
            const int32_t p = p0 + i, b = s->blocks[p / LIR_KV_BS], off = p % LIR_KV_BS;
            const int32_t m = LIR_KV_BS - off < n - i ? LIR_KV_BS - off : n - i;
            memcpy(lir__kv_k(kv, b, il) + (size_t)off * rb, ki + (size_t)i * rb, (size_t)m * rb);
            if (kv->type == LIR_TYPE_F16) {
                lir_f16 *vt = (lir_f16 *)lir__kv_v(kv, b, il) + off;
                const lir_f16 *vr = (const lir_f16 *)(vi + (size_t)i * rb);
                transpose_in(vr, vt, m, D);
            } else {
                memcpy(lir__kv_v(kv, b, il) + (size_t)off * rb, vi + (size_t)i * rb, (size_t)m * rb);
            }
            i += m;
        }
        in += 2 * (size_t)n * rb;
    }
}

/* ---------------------------------------------------------------- context shift */

/* Rotates each head of a key row (f32, kv_dim) by the angles in cs (cos, sin per pair), rounded
 * as llama.cpp's K shift (a RoPE op) rounds it. */
static void rotate_row(float *a, int32_t kv_dim, const struct lir_kv_rot *r) {
    for (int32_t h0 = 0; h0 < kv_dim; h0 += r->head_dim) lir_rope_head_ref(r->n_rot, r->cs, a + h0, r->neox);
}

void lir__kv_shift_layer(struct lir_kv *kv, int32_t seq, int32_t il, int32_t n_keep, int32_t n_discard,
                         const struct lir_kv_rot *r, float *tmp) {
    const struct lir_kv_seq *s = &kv->seqs[seq];
    const int32_t len2 = s->len - n_discard, D = kv->kv_dim;
    const size_t rb = kv->row_bytes;
    const struct lir_type_traits *q8 = lir_type_traits_get(LIR_TYPE_Q8_0);
    /* dst rows [n_keep, len2) <- src rows + n_discard, ascending: a row is always read before
     * the (lower) row it lands on is written, even within one block */
    for (int32_t i = n_keep; i < len2;) {
        const int32_t p = i + n_discard;
        const int32_t db = s->blocks[i / LIR_KV_BS], doff = i % LIR_KV_BS;
        const int32_t sb = s->blocks[p / LIR_KV_BS], soff = p % LIR_KV_BS;
        int32_t m = LIR_KV_BS - doff;
        if (LIR_KV_BS - soff < m) m = LIR_KV_BS - soff;
        if (len2 - i < m) m = len2 - i;
        /* K: m rows, rotated by -n_discard positions */
        for (int32_t t = 0; t < m; t++) {
            const char *src = lir__kv_k(kv, sb, il) + (size_t)(soff + t) * rb;
            char *dst = lir__kv_k(kv, db, il) + (size_t)(doff + t) * rb;
            if (kv->type == LIR_TYPE_F16) {
                const lir_f16 *h = (const lir_f16 *)src;
                for (int32_t d = 0; d < D; d++) tmp[d] = lir_f16_to_f32(h[d]);
                rotate_row(tmp, D, r);
                r->to_f16(tmp, dst, D);
            } else {
                q8->dequantize_row_ref(src, tmp, D);
                rotate_row(tmp, D, r);
                q8->quantize_row_act_ref(tmp, dst, D);
            }
        }
        /* V: the same m rows moved */
        if (kv->type == LIR_TYPE_F16) {
            lir_f16 *dv = (lir_f16 *)lir__kv_v(kv, db, il);
            const lir_f16 *sv = (const lir_f16 *)lir__kv_v(kv, sb, il);
            for (int32_t d = 0; d < D; d++)
                memmove(dv + (size_t)d * LIR_KV_BS + doff, sv + (size_t)d * LIR_KV_BS + soff, (size_t)m * sizeof(lir_f16));
        } else {
            memmove(lir__kv_v(kv, db, il) + (size_t)doff * rb, lir__kv_v(kv, sb, il) + (size_t)soff * rb, (size_t)m * rb);
        }
        i += m;
    }
}

void lir__kv_rotate_rows(struct lir_kv *kv, int32_t dst, int32_t src, int32_t il, int32_t off, int32_t n,
                         const struct lir_kv_rot *r, float *tmp) {
    const int32_t D = kv->kv_dim;
    const size_t rb = kv->row_bytes;
    const struct lir_type_traits *q8 = lir_type_traits_get(LIR_TYPE_Q8_0);
    for (int32_t t = off; t < off + n; t++) {
        const char *s = lir__kv_k(kv, src, il) + (size_t)t * rb;
        char *d = lir__kv_k(kv, dst, il) + (size_t)t * rb;
        if (kv->type == LIR_TYPE_F16) {
            const lir_f16 *h = (const lir_f16 *)s;
            for (int32_t i = 0; i < D; i++) tmp[i] = lir_f16_to_f32(h[i]);
            rotate_row(tmp, D, r);
            r->to_f16(tmp, d, D);
        } else {
            q8->dequantize_row_ref(s, tmp, D);
            rotate_row(tmp, D, r);
            q8->quantize_row_act_ref(tmp, d, D);
        }
    }
    if (src == dst) return;
    if (kv->type == LIR_TYPE_F16) {
        lir_f16 *dv = (lir_f16 *)lir__kv_v(kv, dst, il);
        const lir_f16 *sv = (const lir_f16 *)lir__kv_v(kv, src, il);
        for (int32_t i = 0; i < D; i++)
            memcpy(dv + (size_t)i * LIR_KV_BS + off, sv + (size_t)i * LIR_KV_BS + off, (size_t)n * sizeof(lir_f16));
    } else {
        memcpy(lir__kv_v(kv, dst, il) + (size_t)off * rb, lir__kv_v(kv, src, il) + (size_t)off * rb, (size_t)n * rb);
    }
}
