/* snapshot_format.c — checking a snapshot file's bytes (format in snapshot.h). Pure: no
 * context, no file system, nothing allocated, so the fuzz target links it alone. Every count
 * is checked against the bytes that remain before it is used. */
#include "context/snapshot.h"

#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <xxhash.h>
#include <string.h>

/* ---------------------------------------------------------------- checksum */

/* A leaf: XXH3-128 (libxxhash) in its canonical (big-endian) form — a checksum against
 * corruption that runs at memory speed, where BLAKE2b took seconds per GB. XXH3's streaming
 * state gives the one-pass digest whatever the pieces. */
struct lir__snap_leaf {
    XXH3_state_t *st;
};

struct lir__snap_leaf *lir__snap_leaf_new(void) {
    struct lir__snap_leaf *l = malloc(sizeof *l);
    if (!l) return NULL;
    l->st = XXH3_createState();
    if (!l->st) {
        free(l);
        return NULL;
    }
    XXH3_128bits_reset(l->st);
    return l;
}

void lir__snap_leaf_update(struct lir__snap_leaf *l, const void *p, size_t n) { XXH3_128bits_update(l->st, p, n); }

static void canonical(XXH128_hash_t h, uint8_t out[LIR_SNAP_LEAF_DIGEST]) {
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, h);
    memcpy(out, c.digest, LIR_SNAP_LEAF_DIGEST);
}

void lir__snap_leaf_final(struct lir__snap_leaf *l, uint8_t out[LIR_SNAP_LEAF_DIGEST]) {
    canonical(XXH3_128bits_digest(l->st), out);
    XXH3_128bits_reset(l->st);
}

void lir__snap_leaf_free(struct lir__snap_leaf *l) {
    if (!l) return;
    XXH3_freeState(l->st);
    free(l);
}

void lir__snap_leaf_digest(const void *p, size_t n, uint8_t out[LIR_SNAP_LEAF_DIGEST]) {
    canonical(XXH3_128bits(p, n), out);
}

enum lir_status lir__snap_root(const uint8_t *dg, size_t n_leaves, uint64_t len, uint8_t out[LIR_SNAP_SUM]) {
    if (sodium_init() < 0) return LIR_EINTERNAL;
    crypto_generichash_state h;
    static const char dom[] = "LIRSNAP sum v2 xxh3";
    uint8_t lb[8];
    for (int i = 0; i < 8; i++) lb[i] = (uint8_t)(len >> (8 * i));
    crypto_generichash_init(&h, NULL, 0, LIR_SNAP_SUM);
    crypto_generichash_update(&h, (const uint8_t *)dom, sizeof dom - 1);
    crypto_generichash_update(&h, lb, sizeof lb);
    crypto_generichash_update(&h, dg, LIR_SNAP_LEAF_DIGEST * n_leaves);
    crypto_generichash_final(&h, out, LIR_SNAP_SUM);
    return LIR_OK;
}

struct sum_job {
    lir__snap_piece_fn piece;
    void *user;
    bool buffered;         /* piece needs a LIR_SNAP_PIECE buffer to read into */
    uint64_t len, first, leaf;
    size_t n_leaves;
    uint8_t *digests;      /* (n_leaves, LIR_SNAP_LEAF_DIGEST) */
    int ith, nth;
    bool failed, nomem;
};

static void *sum_leaves(void *arg) {
    struct sum_job *j = arg;
    uint8_t *buf = j->buffered ? malloc(LIR_SNAP_PIECE) : NULL;
    struct lir__snap_leaf *l = lir__snap_leaf_new();
    if ((j->buffered && !buf) || !l) {
        j->failed = j->nomem = true;
        free(buf);
        lir__snap_leaf_free(l);
        return NULL;
    }
    for (size_t i = (size_t)j->ith; i < j->n_leaves && !j->failed; i += (size_t)j->nth) {
        uint64_t off = i ? j->first + (uint64_t)(i - 1) * j->leaf : 0;
        const uint64_t end = i ? (j->len - off < j->leaf ? j->len : off + j->leaf) : j->first;
        while (off < end) {
            const size_t n = end - off < LIR_SNAP_PIECE ? (size_t)(end - off) : LIR_SNAP_PIECE;
            const uint8_t *p = j->piece(j->user, off, n, buf);
            if (!p) {
                j->failed = true;
                break;
            }
            lir__snap_leaf_update(l, p, n);
            off += n;
        }
        lir__snap_leaf_final(l, j->digests + LIR_SNAP_LEAF_DIGEST * i);
    }
    free(buf);
    lir__snap_leaf_free(l);
    return NULL;
}

enum lir_status lir__snap_checksum_by(lir__snap_piece_fn piece, void *user, bool buffered, uint64_t len, uint64_t first,
                                      uint64_t leaf, int n_threads, uint8_t out[LIR_SNAP_SUM]) {
    if (first > len || (first < len && leaf == 0)) return LIR_EINTERNAL; /* a caller's mistake */
    const uint64_t nl = first < len ? 1 + (len - first + leaf - 1) / leaf : 1;
    if (nl > SIZE_MAX / LIR_SNAP_LEAF_DIGEST) return LIR_ENOMEM;
    const size_t n_leaves = (size_t)nl;
    uint8_t *dg = malloc(LIR_SNAP_LEAF_DIGEST * n_leaves);
    if (!dg) return LIR_ENOMEM;
    int nth = n_threads < 1 ? 1 : n_threads > 64 ? 64 : n_threads;
    if ((size_t)nth > n_leaves) nth = (int)n_leaves;
    struct sum_job jobs[64];
    pthread_t tid[64];
    int started = 1;
    for (int t = 0; t < nth; t++)
        jobs[t] = (struct sum_job){ piece, user, buffered, len, first, leaf, n_leaves, dg, t, nth, false, false };
    for (int t = 1; t < nth; t++) {
        if (pthread_create(&tid[t], NULL, sum_leaves, &jobs[t]) != 0) break;
        started++;
    }
    if (started < nth) /* fewer threads than asked: the caller takes the rest */
        for (int t = started; t < nth; t++) sum_leaves(&jobs[t]);
    sum_leaves(&jobs[0]);
    for (int t = 1; t < started; t++) pthread_join(tid[t], NULL);
    bool failed = false, nomem = false;
    for (int t = 0; t < nth; t++) failed |= jobs[t].failed, nomem |= jobs[t].nomem;
    enum lir_status s = nomem ? LIR_ENOMEM : failed ? LIR_EIO : lir__snap_root(dg, n_leaves, len, out);
    free(dg);
    return s;
}

static const uint8_t *piece_in_memory(void *user, uint64_t off, size_t n, uint8_t *buf) {
    (void)n, (void)buf;
    return (const uint8_t *)user + off;
}

enum lir_status lir__snap_checksum(const uint8_t *data, uint64_t len, uint64_t first, uint64_t leaf, int n_threads,
                                   uint8_t out[LIR_SNAP_SUM]) {
    return lir__snap_checksum_by(piece_in_memory, (void *)data, false, len, first, leaf, n_threads, out);
}

/* ---------------------------------------------------------------- parse */

enum lir_status lir__snap_parse_header(const uint8_t *b, uint64_t len, struct lir__snap_view *out, lir_err *e) {
    memset(out, 0, sizeof *out);
    if (!b || len < LIR_SNAP_HEADER + LIR_SNAP_SUM)
        return lir__errf(e, LIR_EFORMAT, "snapshot: %llu bytes, shorter than a header and checksum (%u)",
                         (unsigned long long)len, LIR_SNAP_HEADER + LIR_SNAP_SUM);
    if (memcmp(b, LIR_SNAP_MAGIC, 8) != 0) return lir__errf(e, LIR_EFORMAT, "snapshot: bad magic (not a lir snapshot)");
    struct lir_snapshot_info *in = &out->info;
    in->version = lir__get_u32(b + 8);
    if (in->version != LIR_SNAPSHOT_VERSION)
        return lir__errf(e, LIR_EUNSUPPORTED, "snapshot: format version %u (this build reads version %u)", in->version,
                         LIR_SNAPSHOT_VERSION);
    const uint32_t hsize = lir__get_u32(b + 12);
    if (hsize != LIR_SNAP_HEADER)
        return lir__errf(e, LIR_EFORMAT, "snapshot: header size %u (expected %u)", hsize, LIR_SNAP_HEADER);
    memcpy(in->fingerprint, b + 16, LIR_FINGERPRINT_LEN);
    in->kv_type = (int32_t)lir__get_u32(b + 48);
    in->n_ctx = (int32_t)lir__get_u32(b + 52);
    in->n_vocab = (int32_t)lir__get_u32(b + 56);
    in->n_tokens = (int32_t)lir__get_u32(b + 60);
    out->token_bytes = lir__get_u64(b + 64);
    out->block_tokens = lir__get_u32(b + 72);
    const uint32_t name_len = lir__get_u32(b + 76);
    in->created_at_ms = (int64_t)lir__get_u64(b + 80);
    const uint32_t n_logits = lir__get_u32(b + 88);
    const uint32_t smp_len = lir__get_u32(b + 92);
    in->kv_bytes = lir__get_u64(b + 96);
    const uint64_t kv_off = lir__get_u64(b + 104);
    for (unsigned i = 112; i < LIR_SNAP_HEADER; i++)
        if (b[i]) return lir__errf(e, LIR_EFORMAT, "snapshot: reserved header byte %u is %u (expected 0)", i, b[i]);
    if (in->kv_type != LIR_KV_TYPE_F16 && in->kv_type != LIR_KV_TYPE_Q8_0)
        return lir__errf(e, LIR_EFORMAT, "snapshot: KV type %d (expected 0 = F16 or 1 = Q8_0)", in->kv_type);
    if (in->n_vocab < 1 || in->n_vocab > LIR_SNAP_MAX_VOCAB)
        return lir__errf(e, LIR_EFORMAT, "snapshot: n_vocab %d is outside [1, %d]", in->n_vocab, LIR_SNAP_MAX_VOCAB);
    if (in->n_ctx < 1 || in->n_ctx > LIR_SNAP_MAX_TOKENS)
        return lir__errf(e, LIR_EFORMAT, "snapshot: n_ctx %d is outside [1, %d]", in->n_ctx, LIR_SNAP_MAX_TOKENS);
    if (in->n_tokens < 0 || in->n_tokens > in->n_ctx)
        return lir__errf(e, LIR_EFORMAT, "snapshot: n_tokens %d is outside [0, n_ctx %d]", in->n_tokens, in->n_ctx);
    if (out->token_bytes < 1 || out->token_bytes > ((uint64_t)1 << 32))
        return lir__errf(e, LIR_EFORMAT, "snapshot: token_bytes %llu is outside [1, 2^32]",
                         (unsigned long long)out->token_bytes);
    if (out->block_tokens < 1 || out->block_tokens > LIR_SNAP_MAX_BLOCK)
        return lir__errf(e, LIR_EFORMAT, "snapshot: block_tokens %u is outside [1, %u]", out->block_tokens,
                         LIR_SNAP_MAX_BLOCK);
    if (name_len >= LIR_SNAPSHOT_NAME_MAX)
        return lir__errf(e, LIR_EFORMAT, "snapshot: name length %u (at most %d)", name_len, LIR_SNAPSHOT_NAME_MAX - 1);
    if (n_logits != 0 && n_logits != (uint32_t)in->n_vocab)
        return lir__errf(e, LIR_EFORMAT, "snapshot: %u logits (expected 0 or n_vocab %d)", n_logits, in->n_vocab);
    if (smp_len > LIR_SNAP_MAX_SAMPLER)
        return lir__errf(e, LIR_EFORMAT, "snapshot: sampler state of %u bytes (at most %u)", smp_len,
                         LIR_SNAP_MAX_SAMPLER);
    /* n_tokens <= 2^24, block_tokens <= 2^16, token_bytes <= 2^32: every product fits in 64 bits */
    out->block_bytes = (uint64_t)out->block_tokens * out->token_bytes;
    out->n_blocks = ((uint64_t)in->n_tokens + out->block_tokens - 1) / out->block_tokens;
    if (in->kv_bytes != out->n_blocks * out->block_bytes)
        return lir__errf(e, LIR_EFORMAT,
                         "snapshot: kv_bytes %llu != %llu blocks (n_tokens %d in blocks of %u) x %llu bytes",
                         (unsigned long long)in->kv_bytes, (unsigned long long)out->n_blocks, in->n_tokens,
                         out->block_tokens, (unsigned long long)out->block_bytes);
    /* every term is below 2^57: the sums cannot overflow 64 bits */
    const uint64_t pre = (uint64_t)LIR_SNAP_HEADER + name_len + 4ull * (uint64_t)in->n_tokens + 4ull * n_logits + smp_len;
    const uint64_t want_off = (pre + LIR_SNAP_ALIGN - 1) / LIR_SNAP_ALIGN * LIR_SNAP_ALIGN;
    if (kv_off != want_off)
        return lir__errf(e, LIR_EFORMAT, "snapshot: kv_offset %llu (expected %llu: %llu bytes before the KV data, rounded up to %u)",
                         (unsigned long long)kv_off, (unsigned long long)want_off, (unsigned long long)pre, LIR_SNAP_ALIGN);
    const uint64_t want = want_off + in->kv_bytes + LIR_SNAP_SUM;
    if (want != len)
        return lir__errf(e, LIR_EFORMAT, "snapshot: the header describes %llu bytes, the file has %llu (%s)",
                         (unsigned long long)want, (unsigned long long)len, want > len ? "truncated" : "trailing bytes");
    out->prefix_len = want_off;
    out->name_len = name_len;
    out->n_logits = n_logits;
    out->sampler_len = smp_len;
    in->has_logits = n_logits != 0;
    in->has_sampler = smp_len != 0;
    in->size_bytes = len;
    return LIR_OK;
}

enum lir_status lir__snap_parse_prefix(const uint8_t *b, struct lir__snap_view *out, lir_err *e) {
    struct lir_snapshot_info *in = &out->info;
    const uint32_t name_len = out->name_len, n_logits = out->n_logits;
    const uint8_t *p = b + LIR_SNAP_HEADER;
    if (memchr(p, 0, name_len)) return lir__errf(e, LIR_EFORMAT, "snapshot: NUL byte in the name");
    memcpy(in->name, p, name_len);
    in->name[name_len] = 0;
    p += name_len;
    out->tokens = p;
    for (int32_t i = 0; i < in->n_tokens; i++) {
        const int32_t t = (int32_t)lir__get_u32(p + 4 * (size_t)i);
        if (t < 0 || t >= in->n_vocab)
            return lir__errf(e, LIR_EFORMAT, "snapshot: token %d is %d, outside [0, %d]", i, t, in->n_vocab - 1);
    }
    p += 4 * (size_t)in->n_tokens;
    if (n_logits) {
        out->logits = p;
        for (uint32_t i = 0; i < n_logits; i++) {
            const float f = lir__bits_f32(lir__get_u32(p + 4 * (size_t)i));
            if (!(f < INFINITY)) return lir__errf(e, LIR_EFORMAT, "snapshot: logit %u is %g", i, (double)f);
        }
        p += 4 * (size_t)n_logits;
    }
    if (out->sampler_len) out->sampler = p;
    p += out->sampler_len;
    for (const uint8_t *z = p; z < b + out->prefix_len; z++)
        if (*z) return lir__errf(e, LIR_EFORMAT, "snapshot: padding byte at %td is %u (expected 0)", z - b, *z);
    return LIR_OK;
}

enum lir_status lir__snap_parse(const void *data, size_t len, bool verify_sum, int n_threads,
                                struct lir__snap_view *out, lir_err *e) {
    const uint8_t *b = data;
    enum lir_status s = lir__snap_parse_header(b, len, out, e);
    if (s) return s;
    /* the checksum before the contents, so a corrupt byte is reported as such */
    if (verify_sum) {
        uint8_t sum[LIR_SNAP_SUM];
        const enum lir_status cs =
            lir__snap_checksum(b, len - LIR_SNAP_SUM, out->prefix_len, out->block_bytes, n_threads, sum);
        if (cs) return lir__errf(e, cs, "snapshot: checksum: %s", lir_status_str(cs));
        if (sodium_memcmp(sum, b + len - LIR_SNAP_SUM, LIR_SNAP_SUM) != 0)
            return lir__errf(e, LIR_EFORMAT, "snapshot: checksum mismatch (the file is corrupt)");
    }
    if ((s = lir__snap_parse_prefix(b, out, e))) return s;
    out->kv = b + out->prefix_len;
    return LIR_OK;
}
