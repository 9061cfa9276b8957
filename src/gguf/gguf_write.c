/* gguf_write.c — GGUF v2/v3 writer.
 *
 * Contract (see gguf.h): setters record key/values (a repeated key replaces the earlier
 * value, as ggml's gguf_set_* do) and tensors (name, type, shape, and where the bytes come
 * from); nothing is written until lir_gguf_writer_finish, which writes header, metadata,
 * tensor infos, alignment padding and then every tensor's data, streamed in bounded chunks
 * through the fill callbacks, to PATH.tmp and renames it to PATH on success. Setters never
 * fail loudly: the first failure (bad argument, allocation) is recorded and returned by
 * finish. general.alignment is written automatically when the alignment is not 32. */
#include "gguf/gguf.h"
#include "quant/quant.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_WRITE_NAME 63 /* ggml's GGML_MAX_NAME - 1: longer names do not load in llama.cpp */

struct wkv {
    char *key;
    uint8_t *val;  /* serialized: u32 type, then the value */
    size_t len;
};

struct wtensor {
    char *name;
    int32_t type;
    uint32_t n_dims;
    int64_t ne[LIR_GGUF_MAX_DIMS];
    uint64_t size, row_size, offset;
    const void *data;
    lir_gguf_fill_fn fill;
    lir_gguf_fill_range_fn fill_range;
    void *user;
};

struct lir_gguf_writer {
    uint32_t version, alignment;
    struct wkv *kv;
    size_t n_kv, cap_kv;
    struct wtensor *t;
    size_t n_t, cap_t;
    enum lir_status err;        /* first setter failure */
    lir_err err_msg;
    bool finished;
};

static void fail(lir_gguf_writer *w, enum lir_status s, const char *fmt, const char *arg) {
    if (!w || w->err) return;
    w->err = s;
    lir__errf(&w->err_msg, s, fmt, arg ? arg : "(null)");
}

lir_gguf_writer *lir_gguf_writer_create(uint32_t version, uint32_t alignment) {
    lir_gguf_writer *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->version = version;
    w->alignment = alignment;
    if (version != 2 && version != 3) fail(w, LIR_EINVAL, "lir_gguf_writer: version must be 2 or 3%s", "");
    if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > (1u << 30))
        fail(w, LIR_EINVAL, "lir_gguf_writer: alignment must be a nonzero power of two <= 2^30%s", "");
    return w;
}

void lir_gguf_writer_free(lir_gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) { free(w->kv[i].key); free(w->kv[i].val); }
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

/* ---------------------------------------------------------------- metadata */

/* Stores key -> serialized (u32 type + payload). Takes ownership of val. */
static void put_kv(lir_gguf_writer *w, const char *key, uint8_t *val, size_t len) {
    if (!w) { free(val); return; }
    if (!key || !key[0] || strlen(key) > 65535) {
        free(val);
        fail(w, LIR_EINVAL, "lir_gguf_writer: invalid key '%s'", key);
        return;
    }
    if (!val) { fail(w, LIR_ENOMEM, "lir_gguf_writer: out of memory setting '%s'", key); return; }
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0) {
            free(w->kv[i].val);
            w->kv[i].val = val;
            w->kv[i].len = len;
            return;
        }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? w->cap_kv * 2 : 16;
        struct wkv *kv = realloc(w->kv, cap * sizeof *kv);
        if (!kv) { free(val); fail(w, LIR_ENOMEM, "lir_gguf_writer: out of memory setting '%s'", key); return; }
        w->kv = kv;
        w->cap_kv = cap;
    }
    char *k = strdup(key);
    if (!k) { free(val); fail(w, LIR_ENOMEM, "lir_gguf_writer: out of memory setting '%s'", key); return; }
    w->kv[w->n_kv++] = (struct wkv){k, val, len};
}

static void set_scalar(lir_gguf_writer *w, const char *key, enum lir_gguf_vtype t, const void *v, size_t n) {
    uint8_t *b = malloc(4 + n);
    if (b) {
        uint32_t tt = (uint32_t)t;
        memcpy(b, &tt, 4);
        memcpy(b + 4, v, n);
    }
    put_kv(w, key, b, 4 + n);
}

void lir_gguf_writer_set_u8(lir_gguf_writer *w, const char *key, uint8_t v) { set_scalar(w, key, LIR_GGUF_UINT8, &v, 1); }
void lir_gguf_writer_set_i8(lir_gguf_writer *w, const char *key, int8_t v) { set_scalar(w, key, LIR_GGUF_INT8, &v, 1); }
void lir_gguf_writer_set_u16(lir_gguf_writer *w, const char *key, uint16_t v) { set_scalar(w, key, LIR_GGUF_UINT16, &v, 2); }
void lir_gguf_writer_set_i16(lir_gguf_writer *w, const char *key, int16_t v) { set_scalar(w, key, LIR_GGUF_INT16, &v, 2); }
void lir_gguf_writer_set_u32(lir_gguf_writer *w, const char *key, uint32_t v) { set_scalar(w, key, LIR_GGUF_UINT32, &v, 4); }
void lir_gguf_writer_set_i32(lir_gguf_writer *w, const char *key, int32_t v) { set_scalar(w, key, LIR_GGUF_INT32, &v, 4); }
void lir_gguf_writer_set_u64(lir_gguf_writer *w, const char *key, uint64_t v) { set_scalar(w, key, LIR_GGUF_UINT64, &v, 8); }
void lir_gguf_writer_set_i64(lir_gguf_writer *w, const char *key, int64_t v) { set_scalar(w, key, LIR_GGUF_INT64, &v, 8); }
void lir_gguf_writer_set_f32(lir_gguf_writer *w, const char *key, float v) { set_scalar(w, key, LIR_GGUF_FLOAT32, &v, 4); }
void lir_gguf_writer_set_f64(lir_gguf_writer *w, const char *key, double v) { set_scalar(w, key, LIR_GGUF_FLOAT64, &v, 8); }
void lir_gguf_writer_set_bool(lir_gguf_writer *w, const char *key, bool v) {
    uint8_t b = v ? 1 : 0;
    set_scalar(w, key, LIR_GGUF_BOOL, &b, 1);
}

void lir_gguf_writer_set_str(lir_gguf_writer *w, const char *key, const char *v) {
    if (!v) { fail(w, LIR_EINVAL, "lir_gguf_writer: NULL string value for '%s'", key); return; }
    uint64_t len = strlen(v);
    uint8_t *b = malloc(12 + (size_t)len);
    if (b) {
        uint32_t t = LIR_GGUF_STRING;
        memcpy(b, &t, 4);
        memcpy(b + 4, &len, 8);
        memcpy(b + 12, v, (size_t)len);
    }
    put_kv(w, key, b, 12 + (size_t)len);
}

static size_t elem_size(enum lir_gguf_vtype t) {
    switch (t) {
    case LIR_GGUF_UINT8: case LIR_GGUF_INT8: case LIR_GGUF_BOOL: return 1;
    case LIR_GGUF_UINT16: case LIR_GGUF_INT16: return 2;
    case LIR_GGUF_UINT32: case LIR_GGUF_INT32: case LIR_GGUF_FLOAT32: return 4;
    case LIR_GGUF_UINT64: case LIR_GGUF_INT64: case LIR_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

void lir_gguf_writer_set_arr(lir_gguf_writer *w, const char *key, enum lir_gguf_vtype elem_type,
                             const void *data, uint64_t n) {
    size_t es = elem_size(elem_type), bytes, total;
    if (!es) { fail(w, LIR_EINVAL, "lir_gguf_writer: '%s': set_arr takes numeric or bool elements only", key); return; }
    if (!data && n) { fail(w, LIR_EINVAL, "lir_gguf_writer: '%s': NULL array data", key); return; }
    if (n > SIZE_MAX || !lir__mul_ok((size_t)n, es, &bytes) || !lir__add_ok(bytes, 16, &total)) {
        fail(w, LIR_EINVAL, "lir_gguf_writer: '%s': array too large", key);
        return;
    }
    uint8_t *b = malloc(total);
    if (b) {
        uint32_t t = LIR_GGUF_ARRAY, et = (uint32_t)elem_type;
        memcpy(b, &t, 4);
        memcpy(b + 4, &et, 4);
        memcpy(b + 8, &n, 8);
        if (bytes) memcpy(b + 16, data, bytes);
    }
    put_kv(w, key, b, total);
}

void lir_gguf_writer_set_arr_str(lir_gguf_writer *w, const char *key, const char *const *v, uint64_t n) {
    if (!v && n) { fail(w, LIR_EINVAL, "lir_gguf_writer: '%s': NULL string array", key); return; }
    size_t total = 16;
    for (uint64_t i = 0; i < n; i++) {
        if (!v[i]) { fail(w, LIR_EINVAL, "lir_gguf_writer: '%s': NULL string in array", key); return; }
        if (!lir__add_ok(total, 8 + strlen(v[i]), &total)) {
            fail(w, LIR_EINVAL, "lir_gguf_writer: '%s': array too large", key);
            return;
        }
    }
    uint8_t *b = malloc(total);
    if (b) {
        uint32_t t = LIR_GGUF_ARRAY, et = LIR_GGUF_STRING;
        memcpy(b, &t, 4);
        memcpy(b + 4, &et, 4);
        memcpy(b + 8, &n, 8);
        size_t p = 16;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t len = strlen(v[i]);
            memcpy(b + p, &len, 8);
            memcpy(b + p + 8, v[i], (size_t)len);
            p += 8 + (size_t)len;
        }
    }
    put_kv(w, key, b, total);
}

/* ---------------------------------------------------------------- tensors */

static void add_tensor(lir_gguf_writer *w, const char *name, int32_t type, uint32_t n_dims, const int64_t *ne,
                       const void *data, lir_gguf_fill_fn fill, lir_gguf_fill_range_fn fill_range, void *user) {
    if (!w) return;
    if (!name || !name[0] || strlen(name) > MAX_WRITE_NAME) {
        fail(w, LIR_EINVAL, "lir_gguf_writer: tensor name '%s' must be 1..63 bytes", name);
        return;
    }
    if (n_dims < 1 || n_dims > LIR_GGUF_MAX_DIMS || !ne) {
        fail(w, LIR_EINVAL, "lir_gguf_writer: tensor '%s': n_dims must be 1..4", name);
        return;
    }
    if (!data && !fill && !fill_range) { fail(w, LIR_EINVAL, "lir_gguf_writer: tensor '%s': no data source", name); return; }
    const struct lir_type_traits *tr = lir_type_traits_get(type);
    if (!tr) { fail(w, LIR_EINVAL, "lir_gguf_writer: tensor '%s': unsupported type", name); return; }
    struct wtensor t = {.type = type, .n_dims = n_dims, .data = data, .fill = fill, .fill_range = fill_range, .user = user};
    uint64_t rows = 1;
    for (uint32_t d = 0; d < LIR_GGUF_MAX_DIMS; d++) {
        t.ne[d] = d < n_dims ? ne[d] : 1;
        if (t.ne[d] <= 0) { fail(w, LIR_EINVAL, "lir_gguf_writer: tensor '%s': every ne must be > 0", name); return; }
        if (d > 0 && __builtin_mul_overflow(rows, (uint64_t)t.ne[d], &rows)) {
            fail(w, LIR_EINVAL, "lir_gguf_writer: tensor '%s': size overflows", name);
            return;
        }
    }
    t.row_size = lir_type_row_size(type, t.ne[0]);
    if (t.row_size == 0) {
        fail(w, LIR_EINVAL, "lir_gguf_writer: tensor '%s': ne[0] is not a multiple of the type's block size", name);
        return;
    }
    if (__builtin_mul_overflow(t.row_size, rows, &t.size) || t.size > SIZE_MAX / 2) {
        fail(w, LIR_EINVAL, "lir_gguf_writer: tensor '%s': size overflows", name);
        return;
    }
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0) { fail(w, LIR_EINVAL, "lir_gguf_writer: duplicate tensor '%s'", name); return; }
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? w->cap_t * 2 : 64;
        struct wtensor *nt = realloc(w->t, cap * sizeof *nt);
        if (!nt) { fail(w, LIR_ENOMEM, "lir_gguf_writer: out of memory adding '%s'", name); return; }
        w->t = nt;
        w->cap_t = cap;
    }
    t.name = strdup(name);
    if (!t.name) { fail(w, LIR_ENOMEM, "lir_gguf_writer: out of memory adding '%s'", name); return; }
    w->t[w->n_t++] = t;
}

void lir_gguf_writer_add_tensor(lir_gguf_writer *w, const char *name, int32_t type, uint32_t n_dims,
                                const int64_t *ne, const void *data, lir_gguf_fill_fn fill, void *user) {
    add_tensor(w, name, type, n_dims, ne, data, fill, NULL, user);
}

void lir_gguf_writer_add_tensor_stream(lir_gguf_writer *w, const char *name, int32_t type, uint32_t n_dims,
                                       const int64_t *ne, lir_gguf_fill_range_fn fill, void *user) {
    if (!fill) { fail(w, LIR_EINVAL, "lir_gguf_writer: tensor '%s': NULL fill callback", name); return; }
    add_tensor(w, name, type, n_dims, ne, NULL, NULL, fill, user);
}

/* ---------------------------------------------------------------- finish */

struct out {
    FILE *f;
    uint64_t pos;
    bool bad;
};

static void out_write(struct out *o, const void *p, size_t n) {
    if (o->bad || n == 0) return;
    if (fwrite(p, 1, n, o->f) != n) o->bad = true;
    o->pos += n;
}

static void out_u32(struct out *o, uint32_t v) { out_write(o, &v, 4); }
static void out_u64(struct out *o, uint64_t v) { out_write(o, &v, 8); }

static void out_pad(struct out *o, uint32_t align) {
    static const uint8_t zeros[256];
    uint64_t pad = (align - o->pos % align) % align;
    while (pad > 0 && !o->bad) {
        size_t k = pad > sizeof zeros ? sizeof zeros : (size_t)pad;
        out_write(o, zeros, k);
        pad -= k;
    }
}

static uint64_t align_up(uint64_t x, uint32_t a) { return (x + a - 1) / a * a; }

/* Writes one tensor's bytes in chunks of whole rows. */
static enum lir_status write_tensor(struct out *o, const struct wtensor *t, lir_err *e) {
    if (t->data) { out_write(o, t->data, (size_t)t->size); return LIR_OK; }
    uint64_t chunk;
    if (t->fill) chunk = t->size;  /* the whole-tensor callback needs the whole tensor */
    else {
        uint64_t rows = LIR_GGUF_WRITE_CHUNK / t->row_size;
        chunk = (rows ? rows : 1) * t->row_size;
        if (chunk > t->size) chunk = t->size;
    }
    void *buf = lir__alloc_aligned((size_t)chunk);
    if (!buf) return lir__errf(e, LIR_ENOMEM, "lir_gguf_writer_finish: out of memory for %" PRIu64 " bytes of tensor '%s'",
                               chunk, t->name);
    if (t->fill) {
        memset(buf, 0, (size_t)chunk);
        t->fill(t->user, buf, t->size);
        out_write(o, buf, (size_t)t->size);
    } else {
        for (uint64_t off = 0; off < t->size && !o->bad; off += chunk) {
            uint64_t n = t->size - off < chunk ? t->size - off : chunk;
            t->fill_range(t->user, buf, off, n);
            out_write(o, buf, (size_t)n);
        }
    }
    lir__free_aligned(buf);
    return LIR_OK;
}

enum lir_status lir_gguf_writer_finish(lir_gguf_writer *w, const char *path, lir_err *e) {
    if (!w || !path) return lir__errf(e, LIR_EINVAL, "lir_gguf_writer_finish: NULL argument");
    if (w->finished) return lir__errf(e, LIR_EINVAL, "lir_gguf_writer_finish: already finished");
    w->finished = true;
    /* general.alignment: must agree with the writer's alignment; added when not the default */
    for (size_t i = 0; i < w->n_kv && !w->err; i++)
        if (strcmp(w->kv[i].key, "general.alignment") == 0) {
            uint32_t t, v;
            memcpy(&t, w->kv[i].val, 4);
            if (t != LIR_GGUF_UINT32 || (memcpy(&v, w->kv[i].val + 4, 4), v != w->alignment))
                fail(w, LIR_EINVAL, "lir_gguf_writer: general.alignment must be a u32 equal to the writer's alignment%s", "");
            goto aligned;
        }
    if (!w->err && w->alignment != LIR_GGUF_DEFAULT_ALIGNMENT) lir_gguf_writer_set_u32(w, "general.alignment", w->alignment);
aligned:
    if (w->err) return lir__errf(e, w->err, "%s", w->err_msg.msg);

    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        w->t[i].offset = off;
        off = align_up(off + w->t[i].size, w->alignment);
    }
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp) return lir__errf(e, LIR_ENOMEM, "lir_gguf_writer_finish: out of memory");
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    struct out o = {.f = fopen(tmp, "wb")};
    if (!o.f) {
        enum lir_status s = lir__errf(e, LIR_EIO, "lir_gguf_writer_finish: cannot create '%s': %s", tmp, strerror(errno));
        free(tmp);
        return s;
    }
    setvbuf(o.f, NULL, _IOFBF, 1 << 20);
    out_u32(&o, LIR_GGUF_MAGIC);
    out_u32(&o, w->version);
    out_u64(&o, (uint64_t)w->n_t);
    out_u64(&o, (uint64_t)w->n_kv);
    for (size_t i = 0; i < w->n_kv; i++) {
        uint64_t klen = strlen(w->kv[i].key);
        out_u64(&o, klen);
        out_write(&o, w->kv[i].key, (size_t)klen);
        out_write(&o, w->kv[i].val, w->kv[i].len);
    }
    for (size_t i = 0; i < w->n_t; i++) {
        const struct wtensor *t = &w->t[i];
        uint64_t nlen = strlen(t->name);
        out_u64(&o, nlen);
        out_write(&o, t->name, (size_t)nlen);
        out_u32(&o, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) out_u64(&o, (uint64_t)t->ne[d]);
        out_u32(&o, (uint32_t)t->type);
        out_u64(&o, t->offset);
    }
    out_pad(&o, w->alignment);
    enum lir_status s = LIR_OK;
    for (size_t i = 0; i < w->n_t && !o.bad && !s; i++) {
        s = write_tensor(&o, &w->t[i], e);
        out_pad(&o, w->alignment); /* ggml pads after every tensor, the last included */
    }
    int err = 0;
    if (!s && (o.bad || fflush(o.f) != 0)) err = errno ? errno : EIO;
    if (fclose(o.f) != 0 && !err && !s) err = errno ? errno : EIO;
    if (!s && err) s = lir__errf(e, LIR_EIO, "lir_gguf_writer_finish: writing '%s' failed: %s", tmp, strerror(err));
    if (!s && rename(tmp, path) != 0)
        s = lir__errf(e, LIR_EIO, "lir_gguf_writer_finish: cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
    if (s) unlink(tmp);
    free(tmp);
    return s;
}
