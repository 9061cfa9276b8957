/* gguf_read.c — GGUF v2/v3 reader over an mmap'd file or a caller buffer.
 *
 * Contract (see gguf.h): open validates everything up front — header, every key/value
 * (nested arrays recursively, depth-limited), general.alignment, every tensor info and
 * that each tensor's bytes lie inside the file — so accessors never read outside the
 * buffer afterwards. Every count, length, offset and size is checked against the bytes
 * remaining and SIZE_MAX before it is used to allocate or to read; every loop is bounded
 * by the bytes remaining (each element consumes at least one byte). Allocations are at
 * most a small multiple of the file size. Errors are LIR_EFORMAT (malformed file),
 * LIR_EIO (open/stat/mmap failed), LIR_ENOMEM; messages name the field, its file offset
 * and what was expected. Keys and tensor names are indexed in open-addressing hash
 * tables; duplicates are rejected. Big-endian GGUF and GGUF v1 are not supported. */
#include "gguf/gguf.h"
#include "quant/quant.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_ARRAY_DEPTH 8        /* nesting levels of arrays of arrays */
#define MAX_KEY_LEN 65535        /* GGUF spec: keys at most 2^16-1 bytes */
#define MAX_TENSOR_NAME_LEN 65535
#define MIN_KV_BYTES 13          /* key len u64 + type u32 + 1-byte value */
#define MIN_TENSOR_INFO_BYTES 32 /* name len u64 + n_dims u32 + one ne i64 + type u32 + offset u64 */

struct kv {
    lir_gguf_str key;
    uint64_t key_off;           /* file offset of the key length field */
    enum lir_gguf_vtype type;
    const uint8_t *val;         /* scalar value, or first array element */
    uint64_t val_off;           /* file offset of val */
    /* arrays only */
    enum lir_gguf_vtype elem_type;
    uint64_t n;
    uint64_t *str_off;          /* string arrays: offset of each element's length field, relative to val */
};

struct lir_gguf {
    const uint8_t *base;
    size_t size;
    bool mapped;
    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset;
    int64_t n_kv;
    struct kv *kv;
    int64_t n_tensors;
    struct lir_gguf_tensor *tensors;
    uint32_t *kv_hash;          /* open addressing: index+1, 0 = empty; size kv_hash_mask+1 */
    size_t kv_hash_mask;
    uint32_t *t_hash;
    size_t t_hash_mask;
    uint64_t hash_seed;         /* per handle: heap address and clock */
};

/* ---------------------------------------------------------------- cursor */

struct cur {
    const uint8_t *base;
    size_t size;
    size_t pos;
    lir_err *e;
    char ctx[200];              /* "kv 3 'general.name' (at offset 120)" — prefix of messages */
};

static size_t remaining(const struct cur *c) { return c->size - c->pos; }

static uint32_t rd_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd_u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* Writes a printable, truncated rendering of s into buf (for messages). */
static void sanitize(const char *s, uint64_t len, char *buf, size_t n) {
    size_t j = 0;
    uint64_t lim = len > 64 ? 64 : len;
    for (uint64_t i = 0; i < lim && j + 5 < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '\'' && ch != '\\') buf[j++] = (char)ch;
        else j += (size_t)snprintf(buf + j, n - j, "\\x%02x", ch);
    }
    if (len > lim && j + 4 < n) { memcpy(buf + j, "...", 3); j += 3; }
    buf[j < n ? j : n - 1] = '\0';
}

static enum lir_status fmt_err(struct cur *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static enum lir_status fmt_err(struct cur *c, const char *fmt, ...) {
    char tail[LIR_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tail, sizeof tail, fmt, ap);
    va_end(ap);
    if (c->ctx[0]) return lir__errf(c->e, LIR_EFORMAT, "gguf: %s: %s", c->ctx, tail);
    return lir__errf(c->e, LIR_EFORMAT, "gguf: %s", tail);
}

/* Fails unless n bytes remain for `what`. */
static enum lir_status need(struct cur *c, uint64_t n, const char *what) {
    if (n > remaining(c))
        return fmt_err(c, "%s at offset %zu: needs %" PRIu64 " bytes but only %zu remain (file size %zu)",
                       what, c->pos, n, remaining(c), c->size);
    return LIR_OK;
}

static enum lir_status get_u32(struct cur *c, const char *what, uint32_t *v) {
    enum lir_status s = need(c, 4, what);
    if (s) return s;
    *v = rd_u32(c->base + c->pos);
    c->pos += 4;
    return LIR_OK;
}

static enum lir_status get_u64(struct cur *c, const char *what, uint64_t *v) {
    enum lir_status s = need(c, 8, what);
    if (s) return s;
    *v = rd_u64(c->base + c->pos);
    c->pos += 8;
    return LIR_OK;
}

/* Reads a GGUF string (u64 length + bytes); checks the length against the bytes left and max. */
static enum lir_status get_str(struct cur *c, const char *what, uint64_t max, lir_gguf_str *out) {
    size_t at = c->pos;
    uint64_t len;
    enum lir_status s = get_u64(c, what, &len);
    if (s) return s;
    if (len > max)
        return fmt_err(c, "%s at offset %zu: length %" PRIu64 " exceeds the maximum %" PRIu64,
                       what, at, len, max);
    if (len > remaining(c))
        return fmt_err(c, "%s at offset %zu: length %" PRIu64 " exceeds the %zu bytes remaining (file size %zu)",
                       what, at, len, remaining(c), c->size);
    out->ptr = (const char *)c->base + c->pos;
    out->len = len;
    c->pos += (size_t)len;
    return LIR_OK;
}

static size_t vtype_size(enum lir_gguf_vtype t) {
    switch (t) {
    case LIR_GGUF_UINT8: case LIR_GGUF_INT8: case LIR_GGUF_BOOL: return 1;
    case LIR_GGUF_UINT16: case LIR_GGUF_INT16: return 2;
    case LIR_GGUF_UINT32: case LIR_GGUF_INT32: case LIR_GGUF_FLOAT32: return 4;
    case LIR_GGUF_UINT64: case LIR_GGUF_INT64: case LIR_GGUF_FLOAT64: return 8;
    default: return 0; /* string, array: variable */
    }
}

static const char *vtype_name(uint32_t t) {
    static const char *names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool",
                                  "string", "array", "u64", "i64", "f64"};
    return t < LIR_GGUF_VTYPE_COUNT ? names[t] : "unknown";
}

/* ---------------------------------------------------------------- values */

static enum lir_status check_type(struct cur *c, const char *what, size_t at, uint32_t t) {
    if (t >= LIR_GGUF_VTYPE_COUNT)
        return fmt_err(c, "%s at offset %zu: unknown value type %" PRIu32 " (expected 0..%d)",
                       what, at, t, LIR_GGUF_VTYPE_COUNT - 1);
    return LIR_OK;
}

static enum lir_status skip_value(struct cur *c, enum lir_gguf_vtype t, int depth);

/* Validates array body (elem type + count + elements) at the cursor. If kv is given,
 * fills its array fields and, for string arrays, the per-element offset index. */
static enum lir_status skip_array(struct cur *c, int depth, struct kv *kv) {
    if (depth >= MAX_ARRAY_DEPTH)
        return fmt_err(c, "array at offset %zu: arrays nested deeper than %d levels", c->pos, MAX_ARRAY_DEPTH);
    size_t at = c->pos;
    uint32_t et;
    uint64_t n;
    enum lir_status s = get_u32(c, "array element type", &et);
    if (s) return s;
    if ((s = check_type(c, "array element type", at, et))) return s;
    size_t at_n = c->pos;
    if ((s = get_u64(c, "array count", &n))) return s;
    size_t es = vtype_size((enum lir_gguf_vtype)et);
    /* every element takes at least min_bytes, which bounds n by the bytes left */
    size_t min_bytes = es ? es : et == LIR_GGUF_STRING ? 8 : 12;
    if (n > remaining(c) / min_bytes)
        return fmt_err(c, "array count at offset %zu: %" PRIu64 " elements of type %s need at least %" PRIu64
                       " bytes but only %zu remain", at_n, n, vtype_name(et),
                       (uint64_t)min_bytes * (n > UINT64_MAX / min_bytes ? 1 : n), remaining(c));
    const uint8_t *start = c->base + c->pos;
    if (kv) { kv->elem_type = (enum lir_gguf_vtype)et; kv->n = n; kv->val = start; kv->val_off = c->pos; }
    if (es) {
        if (et == LIR_GGUF_BOOL)
            for (uint64_t i = 0; i < n; i++)
                if (start[i] > 1)
                    return fmt_err(c, "bool array element %" PRIu64 " at offset %zu: value %u (expected 0 or 1)",
                                   i, c->pos + (size_t)i, start[i]);
        c->pos += (size_t)(n * es);
        return LIR_OK;
    }
    if (kv && et == LIR_GGUF_STRING && n > 0) {
        kv->str_off = malloc((size_t)n * sizeof *kv->str_off); /* n <= remaining/8: bounded by file size */
        if (!kv->str_off) return lir__errf(c->e, LIR_ENOMEM, "gguf: out of memory indexing a %" PRIu64 "-string array", n);
    }
    for (uint64_t i = 0; i < n; i++) {
        if (kv && kv->str_off) kv->str_off[i] = (uint64_t)(c->pos - kv->val_off);
        if ((s = skip_value(c, (enum lir_gguf_vtype)et, depth + 1))) return s;
    }
    return LIR_OK;
}

static enum lir_status skip_value(struct cur *c, enum lir_gguf_vtype t, int depth) {
    size_t at = c->pos;
    if (t == LIR_GGUF_STRING) {
        lir_gguf_str str;
        return get_str(c, "string value", UINT64_MAX, &str);
    }
    if (t == LIR_GGUF_ARRAY) return skip_array(c, depth, NULL);
    enum lir_status s = need(c, vtype_size(t), "value");
    if (s) return s;
    if (t == LIR_GGUF_BOOL && c->base[at] > 1)
        return fmt_err(c, "bool value at offset %zu: %u (expected 0 or 1)", at, c->base[at]);
    c->pos += vtype_size(t);
    return LIR_OK;
}

/* ---------------------------------------------------------------- hashing */

/* FNV-1a from a per-handle random start, then a 64-bit finalizer so that every bit
 * reaches the table index: a hostile file cannot precompute colliding names. */
static uint64_t hash_bytes(uint64_t seed, const char *p, size_t n) {
    uint64_t h = 1469598103934665603ull ^ seed;
    for (size_t i = 0; i < n; i++) { h ^= (unsigned char)p[i]; h *= 1099511628211ull; }
    h ^= h >> 33; h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33; h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

static bool str_eq(lir_gguf_str a, const char *b, size_t blen) {
    return a.len == blen && memcmp(a.ptr, b, blen) == 0;
}

static size_t table_size(int64_t n) {
    size_t sz = 8;
    while (sz < (size_t)n * 2) sz <<= 1;
    return sz;
}

/* Inserts index i named s; returns the existing index on a duplicate, or -1. */
static int64_t hash_insert(uint64_t seed, uint32_t *tab, size_t mask, lir_gguf_str (*name_of)(const void *, int64_t),
                           const void *obj, lir_gguf_str s, int64_t i) {
    size_t h = (size_t)hash_bytes(seed, s.ptr, (size_t)s.len) & mask;
    while (tab[h]) {
        int64_t j = (int64_t)tab[h] - 1;
        lir_gguf_str o = name_of(obj, j);
        if (o.len == s.len && memcmp(o.ptr, s.ptr, (size_t)s.len) == 0) return j;
        h = (h + 1) & mask;
    }
    tab[h] = (uint32_t)(i + 1);
    return -1;
}

static int64_t hash_find(uint64_t seed, const uint32_t *tab, size_t mask, lir_gguf_str (*name_of)(const void *, int64_t),
                         const void *obj, const char *key) {
    if (!tab || !key) return -1;
    size_t len = strlen(key);
    size_t h = (size_t)hash_bytes(seed, key, len) & mask;
    while (tab[h]) {
        int64_t j = (int64_t)tab[h] - 1;
        if (str_eq(name_of(obj, j), key, len)) return j;
        h = (h + 1) & mask;
    }
    return -1;
}

static lir_gguf_str kv_name(const void *g, int64_t i) { return ((const lir_gguf *)g)->kv[i].key; }
static lir_gguf_str t_name(const void *g, int64_t i) { return ((const lir_gguf *)g)->tensors[i].name; }

/* ---------------------------------------------------------------- parse */

static enum lir_status parse_header(lir_gguf *g, struct cur *c, uint64_t *n_tensors, uint64_t *n_kv) {
    uint32_t magic, version;
    enum lir_status s;
    if (c->size < 4) return fmt_err(c, "file is %zu bytes, too small for the 4-byte magic", c->size);
    magic = rd_u32(c->base);
    if (magic != LIR_GGUF_MAGIC) {
        char m[32];
        sanitize((const char *)c->base, 4, m, sizeof m);
        return fmt_err(c, "magic at offset 0: '%s' (expected 'GGUF'); not a GGUF file", m);
    }
    c->pos = 4;
    if ((s = get_u32(c, "version", &version))) return s;
    if (version == 1)
        return fmt_err(c, "version at offset 4: GGUF v1 is not supported (expected 2 or 3); re-convert the model");
    if ((version & 0xFFFFu) == 0 && __builtin_bswap32(version) >= 1 && __builtin_bswap32(version) <= 3)
        return fmt_err(c, "version at offset 4: 0x%08" PRIx32 " looks byte-swapped; big-endian GGUF files are not supported",
                       version);
    if (version != 2 && version != 3)
        return fmt_err(c, "version at offset 4: %" PRIu32 " (expected 2 or 3)", version);
    g->version = version;
    size_t at_t = c->pos;
    if ((s = get_u64(c, "tensor count", n_tensors))) return s;
    size_t at_kv = c->pos;
    if ((s = get_u64(c, "metadata kv count", n_kv))) return s;
    if (*n_kv > remaining(c) / MIN_KV_BYTES)
        return fmt_err(c, "metadata kv count at offset %zu: %" PRIu64 " entries cannot fit in the %zu bytes remaining",
                       at_kv, *n_kv, remaining(c));
    if (*n_tensors > remaining(c) / MIN_TENSOR_INFO_BYTES)
        return fmt_err(c, "tensor count at offset %zu: %" PRIu64 " tensor infos cannot fit in the %zu bytes remaining",
                       at_t, *n_tensors, remaining(c));
    return LIR_OK;
}

static enum lir_status parse_kvs(lir_gguf *g, struct cur *c, uint64_t n_kv) {
    enum lir_status s;
    if (n_kv > UINT32_MAX - 1) return fmt_err(c, "metadata kv count: %" PRIu64 " is too large", n_kv);
    g->kv = calloc(n_kv ? (size_t)n_kv : 1, sizeof *g->kv); /* n_kv <= size/13 */
    g->kv_hash_mask = table_size((int64_t)n_kv) - 1;
    g->kv_hash = calloc(g->kv_hash_mask + 1, sizeof *g->kv_hash);
    if (!g->kv || !g->kv_hash) return lir__errf(c->e, LIR_ENOMEM, "gguf: out of memory for %" PRIu64 " kv entries", n_kv);
    for (uint64_t i = 0; i < n_kv; i++) {
        struct kv *kv = &g->kv[i];
        kv->key_off = c->pos;
        snprintf(c->ctx, sizeof c->ctx, "kv %" PRIu64 " (at offset %zu)", i, c->pos);
        if ((s = get_str(c, "key", MAX_KEY_LEN, &kv->key))) return s;
        if (kv->key.len == 0) return fmt_err(c, "key at offset %" PRIu64 ": empty key", kv->key_off);
        char name[96];
        sanitize(kv->key.ptr, kv->key.len, name, sizeof name);
        snprintf(c->ctx, sizeof c->ctx, "kv %" PRIu64 " '%s' (at offset %" PRIu64 ")", i, name, kv->key_off);
        size_t at = c->pos;
        uint32_t t;
        if ((s = get_u32(c, "value type", &t))) return s;
        if ((s = check_type(c, "value type", at, t))) return s;
        kv->type = (enum lir_gguf_vtype)t;
        kv->val = c->base + c->pos;
        kv->val_off = c->pos;
        if (t == LIR_GGUF_ARRAY) s = skip_array(c, 0, kv);
        else s = skip_value(c, kv->type, 0);
        g->n_kv = (int64_t)i + 1; /* so close() frees str_off of this entry */
        if (s) return s;
        int64_t dup = hash_insert(g->hash_seed, g->kv_hash, g->kv_hash_mask, kv_name, g, kv->key, (int64_t)i);
        if (dup >= 0)
            return fmt_err(c, "duplicate key (first defined by kv %" PRId64 " at offset %" PRIu64 ")",
                           dup, g->kv[dup].key_off);
    }
    c->ctx[0] = '\0';
    return LIR_OK;
}

static enum lir_status parse_alignment(lir_gguf *g, struct cur *c) {
    g->alignment = LIR_GGUF_DEFAULT_ALIGNMENT;
    int64_t i = lir_gguf_find_key(g, "general.alignment");
    if (i < 0) return LIR_OK;
    const struct kv *kv = &g->kv[i];
    uint64_t v;
    switch (kv->type) {
    case LIR_GGUF_UINT8: v = kv->val[0]; break;
    case LIR_GGUF_UINT16: { uint16_t x; memcpy(&x, kv->val, 2); v = x; break; }
    case LIR_GGUF_UINT32: v = rd_u32(kv->val); break;
    case LIR_GGUF_UINT64: v = rd_u64(kv->val); break;
    case LIR_GGUF_INT32: { int32_t x; memcpy(&x, kv->val, 4); v = x < 0 ? 0 : (uint64_t)x; break; }
    default:
        return fmt_err(c, "general.alignment (value at offset %" PRIu64 "): type %s (expected u32)",
                       kv->val_off, vtype_name(kv->type));
    }
    if (v == 0 || (v & (v - 1)) != 0 || v > (1u << 30))
        return fmt_err(c, "general.alignment (value at offset %" PRIu64 "): %" PRIu64
                       " (expected a nonzero power of two <= 2^30)", kv->val_off, v);
    g->alignment = (uint32_t)v;
    return LIR_OK;
}

static enum lir_status parse_tensor_infos(lir_gguf *g, struct cur *c, uint64_t n_tensors) {
    enum lir_status s;
    if (n_tensors > remaining(c) / MIN_TENSOR_INFO_BYTES)
        return fmt_err(c, "tensor count: %" PRIu64 " tensor infos cannot fit in the %zu bytes left after metadata (offset %zu)",
                       n_tensors, remaining(c), c->pos);
    if (n_tensors > UINT32_MAX - 1) return fmt_err(c, "tensor count: %" PRIu64 " is too large", n_tensors);
    g->tensors = calloc(n_tensors ? (size_t)n_tensors : 1, sizeof *g->tensors);
    g->t_hash_mask = table_size((int64_t)n_tensors) - 1;
    g->t_hash = calloc(g->t_hash_mask + 1, sizeof *g->t_hash);
    if (!g->tensors || !g->t_hash) return lir__errf(c->e, LIR_ENOMEM, "gguf: out of memory for %" PRIu64 " tensors", n_tensors);
    uint64_t *info_off = malloc((n_tensors ? (size_t)n_tensors : 1) * sizeof *info_off);
    if (!info_off) return lir__errf(c->e, LIR_ENOMEM, "gguf: out of memory for %" PRIu64 " tensors", n_tensors);
    for (uint64_t i = 0; i < n_tensors; i++) {
        struct lir_gguf_tensor *t = &g->tensors[i];
        info_off[i] = c->pos;
        snprintf(c->ctx, sizeof c->ctx, "tensor %" PRIu64 " (info at offset %zu)", i, c->pos);
        if ((s = get_str(c, "tensor name", MAX_TENSOR_NAME_LEN, &t->name))) goto out;
        char name[96];
        sanitize(t->name.ptr, t->name.len, name, sizeof name);
        snprintf(c->ctx, sizeof c->ctx, "tensor '%s' (info at offset %" PRIu64 ")", name, info_off[i]);
        if (t->name.len == 0) { s = fmt_err(c, "tensor name: empty"); goto out; }
        size_t at = c->pos;
        if ((s = get_u32(c, "n_dims", &t->n_dims))) goto out;
        if (t->n_dims < 1 || t->n_dims > LIR_GGUF_MAX_DIMS) {
            s = fmt_err(c, "n_dims at offset %zu: %" PRIu32 " (expected 1..%d)", at, t->n_dims, LIR_GGUF_MAX_DIMS);
            goto out;
        }
        uint64_t nel = 1;
        for (uint32_t d = 0; d < LIR_GGUF_MAX_DIMS; d++) {
            t->ne[d] = 1;
            if (d >= t->n_dims) continue;
            at = c->pos;
            uint64_t v;
            if ((s = get_u64(c, "ne", &v))) goto out;
            memcpy(&t->ne[d], &v, 8);
            if (t->ne[d] <= 0) {
                s = fmt_err(c, "ne[%" PRIu32 "] at offset %zu: %" PRId64 " (expected > 0)", d, at, t->ne[d]);
                goto out;
            }
            if (__builtin_mul_overflow(nel, v, &nel) || nel > (uint64_t)INT64_MAX) {
                s = fmt_err(c, "ne[%" PRIu32 "] at offset %zu: element count overflows int64", d, at);
                goto out;
            }
        }
        at = c->pos;
        uint32_t type;
        if ((s = get_u32(c, "type", &type))) goto out;
        t->type = (int32_t)type;
        const struct lir_type_traits *tr = type < LIR_TYPE_COUNT ? lir_type_traits_get((int32_t)type) : NULL;
        if (!tr || !tr->name) {
            s = fmt_err(c, "type at offset %zu: %" PRIu32 " is not a supported tensor type", at, type);
            goto out;
        }
        if (t->ne[0] % tr->blck_size != 0) {
            s = fmt_err(c, "ne[0] = %" PRId64 " is not a multiple of the block size %d of type %s",
                        t->ne[0], tr->blck_size, tr->name);
            goto out;
        }
        uint64_t rows = nel / (uint64_t)t->ne[0];
        uint64_t row_bytes, size;
        if (__builtin_mul_overflow((uint64_t)t->ne[0] / (uint64_t)tr->blck_size, (uint64_t)tr->type_size, &row_bytes) ||
            __builtin_mul_overflow(row_bytes, rows, &size) || size > SIZE_MAX) {
            s = fmt_err(c, "data size of %" PRIu64 " elements of type %s overflows", nel, tr->name);
            goto out;
        }
        t->size = size;
        at = c->pos;
        if ((s = get_u64(c, "offset", &t->offset))) goto out;
        if (t->offset % g->alignment != 0) {
            s = fmt_err(c, "offset at offset %zu: %" PRIu64 " is not a multiple of the alignment %" PRIu32,
                        at, t->offset, g->alignment);
            goto out;
        }
        int64_t dup = hash_insert(g->hash_seed, g->t_hash, g->t_hash_mask, t_name, g, t->name, (int64_t)i);
        if (dup >= 0) {
            s = fmt_err(c, "duplicate tensor name (first defined by tensor %" PRId64 " at offset %" PRIu64 ")",
                        dup, info_off[dup]);
            goto out;
        }
    }
    /* data section: starts at the next multiple of the alignment */
    uint64_t pad = (g->alignment - c->pos % g->alignment) % g->alignment;
    g->data_offset = (uint64_t)c->pos + pad;
    for (uint64_t i = 0; i < n_tensors; i++) {
        struct lir_gguf_tensor *t = &g->tensors[i];
        char name[96];
        sanitize(t->name.ptr, t->name.len, name, sizeof name);
        snprintf(c->ctx, sizeof c->ctx, "tensor '%s' (info at offset %" PRIu64 ")", name, info_off[i]);
        uint64_t start, end;
        if (__builtin_add_overflow(g->data_offset, t->offset, &start) ||
            __builtin_add_overflow(start, t->size, &end) || end > c->size) {
            s = fmt_err(c, "data [offset %" PRIu64 ", size %" PRIu64 ") (data section at file offset %" PRIu64
                        ") extends past end of file (size %zu)", t->offset, t->size, g->data_offset, c->size);
            goto out;
        }
        t->data = c->base + start;
    }
    c->ctx[0] = '\0';
    s = LIR_OK;
out:
    g->n_tensors = (int64_t)n_tensors;
    free(info_off);
    return s;
}

static enum lir_status parse(lir_gguf *g, lir_err *e) {
    g->hash_seed = (uint64_t)(uintptr_t)g * 0x9E3779B97F4A7C15ull ^ lir__now_ns();
    struct cur c = {.base = g->base, .size = g->size, .pos = 0, .e = e};
    c.ctx[0] = '\0';
    uint64_t n_tensors, n_kv;
    enum lir_status s;
    if ((s = parse_header(g, &c, &n_tensors, &n_kv))) return s;
    if ((s = parse_kvs(g, &c, n_kv))) return s;
    if ((s = parse_alignment(g, &c))) return s;
    return parse_tensor_infos(g, &c, n_tensors);
}

/* ---------------------------------------------------------------- open/close */

enum lir_status lir_gguf_open_memory(const void *data, size_t size, lir_gguf **out, lir_err *e) {
    if (!out || (!data && size)) return lir__errf(e, LIR_EINVAL, "lir_gguf_open_memory: NULL argument");
    *out = NULL;
    lir_gguf *g = calloc(1, sizeof *g);
    if (!g) return lir__errf(e, LIR_ENOMEM, "lir_gguf_open_memory: out of memory");
    static const uint8_t empty[1];
    g->base = data ? data : empty;
    g->size = size;
    enum lir_status s = parse(g, e);
    if (s) { lir_gguf_close(g); return s; }
    *out = g;
    return LIR_OK;
}

enum lir_status lir_gguf_open(const char *path, lir_gguf **out, lir_err *e) {
    if (!path || !out) return lir__errf(e, LIR_EINVAL, "lir_gguf_open: NULL argument");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return lir__errf(e, LIR_EIO, "gguf: cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return lir__errf(e, LIR_EIO, "gguf: cannot stat '%s': %s", path, strerror(err));
    }
    if (!S_ISREG(st.st_mode)) { close(fd); return lir__errf(e, LIR_EIO, "gguf: '%s' is not a regular file", path); }
    if (st.st_size == 0) { close(fd); return lir__errf(e, LIR_EFORMAT, "gguf: '%s' is empty (expected a GGUF header)", path); }
    if ((uint64_t)st.st_size > SIZE_MAX) { close(fd); return lir__errf(e, LIR_EIO, "gguf: '%s' is too large to map", path); }
    size_t size = (size_t)st.st_size;
    void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    close(fd);
    if (p == MAP_FAILED) return lir__errf(e, LIR_EIO, "gguf: cannot map '%s': %s", path, strerror(err));
    lir_gguf *g = calloc(1, sizeof *g);
    if (!g) { munmap(p, size); return lir__errf(e, LIR_ENOMEM, "gguf: out of memory"); }
    g->base = p;
    g->size = size;
    g->mapped = true;
    enum lir_status s = parse(g, e);
    if (s) { lir_gguf_close(g); return s; }
    *out = g;
    return LIR_OK;
}

void lir_gguf_close(lir_gguf *g) {
    if (!g) return;
    if (g->kv)
        for (int64_t i = 0; i < g->n_kv; i++) free(g->kv[i].str_off);
    free(g->kv);
    free(g->kv_hash);
    free(g->tensors);
    free(g->t_hash);
    if (g->mapped) munmap((void *)g->base, g->size);
    free(g);
}

uint32_t lir_gguf_version(const lir_gguf *g) { return g->version; }
uint64_t lir_gguf_file_size(const lir_gguf *g) { return g->size; }
uint32_t lir_gguf_alignment(const lir_gguf *g) { return g->alignment; }
uint64_t lir_gguf_data_offset(const lir_gguf *g) { return g->data_offset; }

/* ---------------------------------------------------------------- metadata */

int64_t lir_gguf_n_kv(const lir_gguf *g) { return g->n_kv; }

int64_t lir_gguf_find_key(const lir_gguf *g, const char *key) {
    return hash_find(g->hash_seed, g->kv_hash, g->kv_hash_mask, kv_name, g, key);
}

lir_gguf_str lir_gguf_key(const lir_gguf *g, int64_t i) {
    if (i < 0 || i >= g->n_kv) return (lir_gguf_str){"", 0};
    return g->kv[i].key;
}

enum lir_gguf_vtype lir_gguf_kv_type(const lir_gguf *g, int64_t i) {
    if (i < 0 || i >= g->n_kv) return LIR_GGUF_VTYPE_COUNT;
    return g->kv[i].type;
}

/* Integer value of a scalar kv, as a sign flag + magnitude-preserving pair. */
static bool kv_int(const struct kv *kv, bool *neg, uint64_t *u) {
    *neg = false;
    const uint8_t *p = kv->val;
    int64_t sv;
    switch (kv->type) {
    case LIR_GGUF_UINT8: *u = p[0]; return true;
    case LIR_GGUF_UINT16: { uint16_t x; memcpy(&x, p, 2); *u = x; return true; }
    case LIR_GGUF_UINT32: *u = rd_u32(p); return true;
    case LIR_GGUF_UINT64: *u = rd_u64(p); return true;
    case LIR_GGUF_INT8: sv = (int8_t)p[0]; break;
    case LIR_GGUF_INT16: { int16_t x; memcpy(&x, p, 2); sv = x; break; }
    case LIR_GGUF_INT32: { int32_t x; memcpy(&x, p, 4); sv = x; break; }
    case LIR_GGUF_INT64: memcpy(&sv, p, 8); break;
    default: return false;
    }
    *neg = sv < 0;
    *u = sv < 0 ? (uint64_t)0 - (uint64_t)sv : (uint64_t)sv;
    return true;
}

static const struct kv *kv_get(const lir_gguf *g, const char *key) {
    int64_t i = lir_gguf_find_key(g, key);
    return i < 0 ? NULL : &g->kv[i];
}

static bool get_int(const lir_gguf *g, const char *key, bool *neg, uint64_t *u, lir_err *e, const char *want) {
    const struct kv *kv = kv_get(g, key);
    if (!kv) return false;
    if (!kv_int(kv, neg, u)) {
        lir__errf(e, LIR_EFORMAT, "gguf: key '%s' has type %s (expected %s)", key, vtype_name(kv->type), want);
        return false;
    }
    return true;
}

bool lir_gguf_get_u32(const lir_gguf *g, const char *key, uint32_t *out, lir_err *e) {
    bool neg;
    uint64_t u;
    if (!get_int(g, key, &neg, &u, e, "u32")) return false;
    if (neg || u > UINT32_MAX) {
        lir__errf(e, LIR_ERANGE, "gguf: key '%s': value %s%" PRIu64 " out of range for u32", key, neg ? "-" : "", u);
        return false;
    }
    *out = (uint32_t)u;
    return true;
}

bool lir_gguf_get_i32(const lir_gguf *g, const char *key, int32_t *out, lir_err *e) {
    bool neg;
    uint64_t u;
    if (!get_int(g, key, &neg, &u, e, "i32")) return false;
    if ((!neg && u > INT32_MAX) || (neg && u > (uint64_t)INT32_MAX + 1)) {
        lir__errf(e, LIR_ERANGE, "gguf: key '%s': value %s%" PRIu64 " out of range for i32", key, neg ? "-" : "", u);
        return false;
    }
    *out = neg ? (int32_t)(-(int64_t)u) : (int32_t)u;
    return true;
}

bool lir_gguf_get_u64(const lir_gguf *g, const char *key, uint64_t *out, lir_err *e) {
    bool neg;
    uint64_t u;
    if (!get_int(g, key, &neg, &u, e, "u64")) return false;
    if (neg) {
        lir__errf(e, LIR_ERANGE, "gguf: key '%s': negative value out of range for u64", key);
        return false;
    }
    *out = u;
    return true;
}

bool lir_gguf_get_f32(const lir_gguf *g, const char *key, float *out, lir_err *e) {
    const struct kv *kv = kv_get(g, key);
    if (!kv) return false;
    if (kv->type == LIR_GGUF_FLOAT32) { memcpy(out, kv->val, 4); return true; }
    if (kv->type == LIR_GGUF_FLOAT64) { double d; memcpy(&d, kv->val, 8); *out = (float)d; return true; }
    lir__errf(e, LIR_EFORMAT, "gguf: key '%s' has type %s (expected f32)", key, vtype_name(kv->type));
    return false;
}

bool lir_gguf_get_bool(const lir_gguf *g, const char *key, bool *out, lir_err *e) {
    const struct kv *kv = kv_get(g, key);
    if (!kv) return false;
    if (kv->type != LIR_GGUF_BOOL) {
        lir__errf(e, LIR_EFORMAT, "gguf: key '%s' has type %s (expected bool)", key, vtype_name(kv->type));
        return false;
    }
    *out = kv->val[0] != 0;
    return true;
}

bool lir_gguf_get_str(const lir_gguf *g, const char *key, lir_gguf_str *out, lir_err *e) {
    const struct kv *kv = kv_get(g, key);
    if (!kv) return false;
    if (kv->type != LIR_GGUF_STRING) {
        lir__errf(e, LIR_EFORMAT, "gguf: key '%s' has type %s (expected string)", key, vtype_name(kv->type));
        return false;
    }
    out->len = rd_u64(kv->val);
    out->ptr = (const char *)kv->val + 8;
    return true;
}

bool lir_gguf_get_arr(const lir_gguf *g, const char *key, enum lir_gguf_vtype *elem_type, uint64_t *n, lir_err *e) {
    const struct kv *kv = kv_get(g, key);
    if (!kv) return false;
    if (kv->type != LIR_GGUF_ARRAY) {
        lir__errf(e, LIR_EFORMAT, "gguf: key '%s' has type %s (expected array)", key, vtype_name(kv->type));
        return false;
    }
    if (elem_type) *elem_type = kv->elem_type;
    if (n) *n = kv->n;
    return true;
}

const void *lir_gguf_arr_data(const lir_gguf *g, const char *key) {
    const struct kv *kv = kv_get(g, key);
    if (!kv || kv->type != LIR_GGUF_ARRAY || vtype_size(kv->elem_type) == 0) return NULL;
    return kv->val;
}

static lir_gguf_str kv_arr_str(const struct kv *kv, uint64_t i) {
    if (kv->type != LIR_GGUF_ARRAY || kv->elem_type != LIR_GGUF_STRING || i >= kv->n || !kv->str_off)
        return (lir_gguf_str){"", 0};
    const uint8_t *p = kv->val + kv->str_off[i];
    return (lir_gguf_str){(const char *)p + 8, rd_u64(p)};
}

lir_gguf_str lir_gguf_arr_str(const lir_gguf *g, const char *key, uint64_t i) {
    const struct kv *kv = kv_get(g, key);
    if (!kv) return (lir_gguf_str){"", 0};
    return kv_arr_str(kv, i);
}

/* ---------------------------------------------------------------- rendering */

struct sbuf { char *p; size_t n, len; };

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...) {
    if (b->len + 1 >= b->n) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->p + b->len, b->n - b->len, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    b->len = (size_t)k >= b->n - b->len ? b->n - 1 : b->len + (size_t)k;
}

static void sb_str(struct sbuf *b, const char *s, uint64_t len, uint64_t max) {
    sb_printf(b, "\"");
    uint64_t lim = len > max ? max : len;
    for (uint64_t i = 0; i < lim && b->len + 1 < b->n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') sb_printf(b, "\\%c", ch);
        else if (ch >= 0x20 && ch != 0x7f) sb_printf(b, "%c", ch);
        else sb_printf(b, "\\x%02x", ch);
    }
    sb_printf(b, len > lim ? "\"..." : "\"");
}

static void sb_scalar(struct sbuf *b, enum lir_gguf_vtype t, const uint8_t *p) {
    switch (t) {
    case LIR_GGUF_UINT8: sb_printf(b, "%u", p[0]); break;
    case LIR_GGUF_INT8: sb_printf(b, "%d", (int8_t)p[0]); break;
    case LIR_GGUF_UINT16: { uint16_t x; memcpy(&x, p, 2); sb_printf(b, "%u", x); break; }
    case LIR_GGUF_INT16: { int16_t x; memcpy(&x, p, 2); sb_printf(b, "%d", x); break; }
    case LIR_GGUF_UINT32: sb_printf(b, "%" PRIu32, rd_u32(p)); break;
    case LIR_GGUF_INT32: { int32_t x; memcpy(&x, p, 4); sb_printf(b, "%" PRId32, x); break; }
    case LIR_GGUF_UINT64: sb_printf(b, "%" PRIu64, rd_u64(p)); break;
    case LIR_GGUF_INT64: { int64_t x; memcpy(&x, p, 8); sb_printf(b, "%" PRId64, x); break; }
    case LIR_GGUF_FLOAT32: { float x; memcpy(&x, p, 4); sb_printf(b, "%g", (double)x); break; }
    case LIR_GGUF_FLOAT64: { double x; memcpy(&x, p, 8); sb_printf(b, "%g", x); break; }
    case LIR_GGUF_BOOL: sb_printf(b, "%s", p[0] ? "true" : "false"); break;
    default: sb_printf(b, "?"); break;
    }
}

void lir_gguf_kv_to_string(const lir_gguf *g, int64_t i, char *buf, size_t n) {
    if (!buf || n == 0) return;
    buf[0] = '\0';
    if (i < 0 || i >= g->n_kv) return;
    struct sbuf b = {buf, n, 0};
    const struct kv *kv = &g->kv[i];
    if (kv->type == LIR_GGUF_STRING) {
        sb_str(&b, (const char *)kv->val + 8, rd_u64(kv->val), 120);
        return;
    }
    if (kv->type != LIR_GGUF_ARRAY) { sb_scalar(&b, kv->type, kv->val); return; }
    sb_printf(&b, "[%s x %" PRIu64 "]", vtype_name(kv->elem_type), kv->n);
    if (kv->n == 0 || kv->elem_type == LIR_GGUF_ARRAY) return;
    sb_printf(&b, " [");
    uint64_t show = kv->n < 6 ? kv->n : 6;
    size_t es = vtype_size(kv->elem_type);
    for (uint64_t k = 0; k < show; k++) {
        if (k) sb_printf(&b, ", ");
        if (kv->elem_type == LIR_GGUF_STRING) {
            lir_gguf_str s = kv_arr_str(kv, k);
            sb_str(&b, s.ptr, s.len, 24);
        } else {
            sb_scalar(&b, kv->elem_type, kv->val + k * es);
        }
    }
    sb_printf(&b, kv->n > show ? ", ...]" : "]");
}

/* ---------------------------------------------------------------- tensors */

int64_t lir_gguf_n_tensors(const lir_gguf *g) { return g->n_tensors; }

const struct lir_gguf_tensor *lir_gguf_tensor(const lir_gguf *g, int64_t i) {
    if (i < 0 || i >= g->n_tensors) return NULL;
    return &g->tensors[i];
}

const struct lir_gguf_tensor *lir_gguf_find_tensor(const lir_gguf *g, const char *name) {
    int64_t i = hash_find(g->hash_seed, g->t_hash, g->t_hash_mask, t_name, g, name);
    return i < 0 ? NULL : &g->tensors[i];
}
