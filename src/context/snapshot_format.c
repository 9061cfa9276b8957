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

struct sum_job {
    lir__snap_leaf_fn leaf;
    void *user;
    bool buffered;         /* leaf needs a LIR_SNAP_LEAF buffer to read into */
    uint64_t len;
    size_t n_leaves;
    uint8_t *digests;      /* (n_leaves, LEAF_DIGEST) */
    int ith, nth;
    bool failed, nomem;
};

/* A leaf: XXH3-128 (libxxhash) in its canonical (big-endian) form — a checksum against
 * corruption that runs at memory speed, where BLAKE2b took seconds per GB. */
#define LEAF_DIGEST 16
static void leaf_digest(const uint8_t *p, size_t n, uint8_t out[LEAF_DIGEST]) {
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits(p, n));
    memcpy(out, c.digest, LEAF_DIGEST);
}

/* The root over the leaf digests: BLAKE2b-256 of a domain string, the length (LE u64) and the digests. */
static void root_digest(const uint8_t *dg, size_t n_leaves, uint64_t len, uint8_t out[LIR_SNAP_SUM]) {
    crypto_generichash_state h;
    static const char dom[] = "LIRSNAP sum v1 xxh3";
    uint8_t lb[8];
    for (int i = 0; i < 8; i++) lb[i] = (uint8_t)(len >> (8 * i));
    crypto_generichash_init(&h, NULL, 0, LIR_SNAP_SUM);
    crypto_generichash_update(&h, (const uint8_t *)dom, sizeof dom - 1);
    crypto_generichash_update(&h, lb, sizeof lb);
    crypto_generichash_update(&h, dg, LEAF_DIGEST * n_leaves);
    crypto_generichash_final(&h, out, LIR_SNAP_SUM);
}

static void *sum_leaves(void *arg) {
    struct sum_job *j = arg;
    uint8_t *buf = j->buffered ? malloc(LIR_SNAP_LEAF) : NULL;
    if (j->buffered && !buf) {
        j->failed = j->nomem = true;
        return NULL;
    }
    for (size_t i = (size_t)j->ith; i < j->n_leaves; i += (size_t)j->nth) {
        const uint64_t off = (uint64_t)i * LIR_SNAP_LEAF;
        const size_t n = j->len - off < LIR_SNAP_LEAF ? (size_t)(j->len - off) : LIR_SNAP_LEAF;
        const uint8_t *p = j->leaf(j->user, off, n, buf);
        if (!p) {
            j->failed = true;
            break;
        }
        leaf_digest(p, n, j->digests + LEAF_DIGEST * i);
    }
    free(buf);
    return NULL;
}

enum lir_status lir__snap_checksum_by(lir__snap_leaf_fn leaf, void *user, bool buffered, uint64_t len, int n_threads,
                                      uint8_t out[LIR_SNAP_SUM]) {
    if (sodium_init() < 0) return LIR_EINTERNAL;
    if (len > (uint64_t)SIZE_MAX - LIR_SNAP_LEAF) return LIR_ENOMEM;
    const size_t n_leaves = len ? (size_t)((len + LIR_SNAP_LEAF - 1) / LIR_SNAP_LEAF) : 1;
    uint8_t *dg = malloc(LEAF_DIGEST * n_leaves);
    if (!dg) return LIR_ENOMEM;
    int nth = n_threads < 1 ? 1 : n_threads > 64 ? 64 : n_threads;
    if ((size_t)nth > n_leaves) nth = (int)n_leaves;
    struct sum_job jobs[64];
    pthread_t tid[64];
    int started = 1;
    for (int t = 0; t < nth; t++) jobs[t] = (struct sum_job){ leaf, user, buffered, len, len ? n_leaves : 0, dg, t, nth, false, false };
    if (!len) leaf_digest((const uint8_t *)"", 0, dg);
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
    if (!failed) root_digest(dg, n_leaves, len, out);
    free(dg);
    return nomem ? LIR_ENOMEM : failed ? LIR_EIO : LIR_OK;
}

static const uint8_t *leaf_in_memory(void *user, uint64_t off, size_t n, uint8_t *buf) {
    (void)n, (void)buf;
    return (const uint8_t *)user + off;
}

enum lir_status lir__snap_checksum(const uint8_t *data, size_t len, int n_threads, uint8_t out[LIR_SNAP_SUM]) {
    return lir__snap_checksum_by(leaf_in_memory, (void *)data, false, len, n_threads, out);
}

/* The streamed form: leaves hashed as the bytes come (XXH3's streaming state gives the same
 * digest as the one-shot call), so a writer needs no second pass over what it wrote. */
struct lir__snap_sum {
    XXH3_state_t *st;
    size_t fill;   /* bytes in the open leaf */
    uint64_t len;  /* bytes so far */
    uint8_t *dg;   /* closed leaves' digests */
    size_t n_dg, cap_dg;
};

struct lir__snap_sum *lir__snap_sum_begin(void) {
    if (sodium_init() < 0) return NULL;
    struct lir__snap_sum *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->st = XXH3_createState();
    if (!c->st || XXH3_128bits_reset(c->st) != XXH_OK) {
        lir__snap_sum_free(c);
        return NULL;
    }
    return c;
}

static bool close_leaf(struct lir__snap_sum *c) {
    if (c->n_dg == c->cap_dg) {
        size_t cap = c->cap_dg ? 2 * c->cap_dg : 1024;
        uint8_t *d = realloc(c->dg, cap * LEAF_DIGEST);
        if (!d) return false;
        c->dg = d;
        c->cap_dg = cap;
    }
    XXH128_canonical_t h;
    XXH128_canonicalFromHash(&h, XXH3_128bits_digest(c->st));
    memcpy(c->dg + LEAF_DIGEST * c->n_dg++, h.digest, LEAF_DIGEST);
    c->fill = 0;
    return XXH3_128bits_reset(c->st) == XXH_OK;
}

bool lir__snap_sum_update(struct lir__snap_sum *c, const void *data, size_t n) {
    const uint8_t *p = data;
    while (n) {
        size_t k = LIR_SNAP_LEAF - c->fill < n ? LIR_SNAP_LEAF - c->fill : n;
        if (XXH3_128bits_update(c->st, p, k) != XXH_OK) return false;
        c->fill += k;
        c->len += k;
        p += k;
        n -= k;
        if (c->fill == LIR_SNAP_LEAF && !close_leaf(c)) return false;
    }
    return true;
}

bool lir__snap_sum_end(struct lir__snap_sum *c, uint8_t out[LIR_SNAP_SUM]) {
    /* the last, partial leaf (or the one empty leaf of an empty input) */
    if ((c->fill || !c->len) && !close_leaf(c)) return false;
    root_digest(c->dg, c->n_dg, (size_t)c->len, out);
    return true;
}

void lir__snap_sum_free(struct lir__snap_sum *c) {
    if (!c) return;
    if (c->st) XXH3_freeState(c->st);
    free(c->dg);
    free(c);
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
    out->chunk_tokens = lir__get_u32(b + 72);
    const uint32_t name_len = lir__get_u32(b + 76);
    in->created_at_ms = (int64_t)lir__get_u64(b + 80);
    const uint32_t n_logits = lir__get_u32(b + 88);
    const uint32_t smp_len = lir__get_u32(b + 92);
    in->kv_bytes = lir__get_u64(b + 96);
    for (unsigned i = 104; i < LIR_SNAP_HEADER; i++)
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
    if (out->chunk_tokens < 1 || out->chunk_tokens > LIR_SNAP_MAX_TOKENS)
        return lir__errf(e, LIR_EFORMAT, "snapshot: chunk_tokens %u is outside [1, %d]", out->chunk_tokens,
                         LIR_SNAP_MAX_TOKENS);
    if (name_len >= LIR_SNAPSHOT_NAME_MAX)
        return lir__errf(e, LIR_EFORMAT, "snapshot: name length %u (at most %d)", name_len, LIR_SNAPSHOT_NAME_MAX - 1);
    if (n_logits != 0 && n_logits != (uint32_t)in->n_vocab)
        return lir__errf(e, LIR_EFORMAT, "snapshot: %u logits (expected 0 or n_vocab %d)", n_logits, in->n_vocab);
    if (smp_len > LIR_SNAP_MAX_SAMPLER)
        return lir__errf(e, LIR_EFORMAT, "snapshot: sampler state of %u bytes (at most %u)", smp_len,
                         LIR_SNAP_MAX_SAMPLER);
    /* n_tokens <= 2^24 and token_bytes <= 2^32: the product fits in 64 bits */
    if (in->kv_bytes != (uint64_t)in->n_tokens * out->token_bytes)
        return lir__errf(e, LIR_EFORMAT, "snapshot: kv_bytes %llu != n_tokens %d x token_bytes %llu",
                         (unsigned long long)in->kv_bytes, in->n_tokens, (unsigned long long)out->token_bytes);
    /* every term is below 2^57: the sum cannot overflow 64 bits */
    const uint64_t want = (uint64_t)LIR_SNAP_HEADER + name_len + 4ull * (uint64_t)in->n_tokens + 4ull * n_logits +
                          smp_len + in->kv_bytes + LIR_SNAP_SUM;
    if (want != len)
        return lir__errf(e, LIR_EFORMAT, "snapshot: the header describes %llu bytes, the file has %llu (%s)",
                         (unsigned long long)want, (unsigned long long)len, want > len ? "truncated" : "trailing bytes");
    out->prefix_len = want - in->kv_bytes - LIR_SNAP_SUM;
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
        const enum lir_status cs = lir__snap_checksum(b, len - LIR_SNAP_SUM, n_threads, sum);
        if (cs) return lir__errf(e, cs, "snapshot: checksum: %s", lir_status_str(cs));
        if (sodium_memcmp(sum, b + len - LIR_SNAP_SUM, LIR_SNAP_SUM) != 0)
            return lir__errf(e, LIR_EFORMAT, "snapshot: checksum mismatch (the file is corrupt)");
    }
    if ((s = lir__snap_parse_prefix(b, out, e))) return s;
    out->kv = b + out->prefix_len;
    return LIR_OK;
}
