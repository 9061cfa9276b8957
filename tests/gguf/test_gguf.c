/* test_gguf.c — GGUF reader/writer: round trips of every value type (v2, v3, custom
 * alignment, tensor data integrity), nested arrays built byte by byte, and a table of
 * mutations of a small valid file, each of which must give LIR_EFORMAT with a message
 * naming the field. Also opens every file of tests/gguf/corpus/ (malformed files that
 * must be rejected cleanly). Set LIR_GGUF_WRITE_CORPUS=DIR when running the suite to
 * (re)generate that corpus from the mutation table. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "quant/quant.h"

#ifndef LIR_SOURCE_DIR
#define LIR_SOURCE_DIR "."
#endif

/* ---------------------------------------------------------------- raw byte builder */

struct bb { uint8_t *p; size_t n, cap; };

static size_t bb_raw(struct bb *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        cr_assert(b->p);
    }
    size_t at = b->n;
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
    return at;
}
static size_t bb_u32(struct bb *b, uint32_t v) { return bb_raw(b, &v, 4); }
static size_t bb_u64(struct bb *b, uint64_t v) { return bb_raw(b, &v, 8); }
static size_t bb_str(struct bb *b, const char *s) { size_t at = bb_u64(b, strlen(s)); bb_raw(b, s, strlen(s)); return at; }
static void bb_pad(struct bb *b, size_t a) { static const uint8_t z[64]; while (b->n % a) bb_raw(b, z, 1); }

/* Offsets of the fields that the mutation table patches. */
struct layout {
    size_t magic, version, n_tensors, n_kv;
    size_t kv0_keylen, kv0_type, kv0_strlen;
    size_t kv1_val;                       /* general.alignment value */
    size_t kv2_elem_type, kv2_count, kv2_str0len;
    size_t kv3_key, kv3_count;
    size_t kv4_val;                       /* bool */
    size_t t0_namelen, t0_ndims, t0_ne0, t0_ne1, t0_type, t0_offset;
    size_t t1_name, t1_ne0, t1_offset;
    size_t infos_end, data, size;
};

/* A valid v3 file: 5 kvs, tensors "a" (f32 32x2) and "b" (q8_0 64). */
static struct bb build_base(struct layout *L) {
    struct bb b = {0};
    L->magic = bb_u32(&b, LIR_GGUF_MAGIC);
    L->version = bb_u32(&b, 3);
    L->n_tensors = bb_u64(&b, 2);
    L->n_kv = bb_u64(&b, 5);
    L->kv0_keylen = bb_str(&b, "general.architecture");
    L->kv0_type = bb_u32(&b, LIR_GGUF_STRING);
    L->kv0_strlen = bb_str(&b, "llama");
    bb_str(&b, "general.alignment");
    bb_u32(&b, LIR_GGUF_UINT32);
    L->kv1_val = bb_u32(&b, 32);
    bb_str(&b, "tok.arr");
    bb_u32(&b, LIR_GGUF_ARRAY);
    L->kv2_elem_type = bb_u32(&b, LIR_GGUF_STRING);
    L->kv2_count = bb_u64(&b, 2);
    L->kv2_str0len = bb_str(&b, "a");
    bb_str(&b, "bc");
    L->kv3_key = bb_str(&b, "numbers") + 8;
    bb_u32(&b, LIR_GGUF_ARRAY);
    bb_u32(&b, LIR_GGUF_UINT32);
    L->kv3_count = bb_u64(&b, 3);
    bb_u32(&b, 1); bb_u32(&b, 2); bb_u32(&b, 3);
    bb_str(&b, "flag");
    bb_u32(&b, LIR_GGUF_BOOL);
    uint8_t one = 1;
    L->kv4_val = bb_raw(&b, &one, 1);
    L->t0_namelen = bb_str(&b, "a");
    L->t0_ndims = bb_u32(&b, 2);
    L->t0_ne0 = bb_u64(&b, 32);
    L->t0_ne1 = bb_u64(&b, 2);
    L->t0_type = bb_u32(&b, LIR_TYPE_F32);
    L->t0_offset = bb_u64(&b, 0);
    L->t1_name = bb_str(&b, "b") + 8;
    bb_u32(&b, 1);
    L->t1_ne0 = bb_u64(&b, 64);
    bb_u32(&b, LIR_TYPE_Q8_0);
    L->t1_offset = bb_u64(&b, 256);
    L->infos_end = b.n;
    bb_pad(&b, 32);
    L->data = b.n;
    for (int i = 0; i < 256 + 68; i++) { uint8_t v = (uint8_t)i; bb_raw(&b, &v, 1); }
    bb_pad(&b, 32);
    L->size = b.n;
    return b;
}

static void write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    cr_assert(f, "cannot write %s", path);
    cr_assert_eq(fwrite(p, 1, n, f), n);
    fclose(f);
}

static enum lir_status open_buf(const void *p, size_t n, lir_err *e) {
    lir_gguf *g = NULL;
    memset(e, 0, sizeof *e);
    enum lir_status s = lir_gguf_open_memory(p, n, &g, e);
    if (s == LIR_OK) cr_assert(g);
    else cr_assert_null(g);
    lir_gguf_close(g);
    return s;
}

Test(gguf_raw, base_file_is_valid) {
    struct layout L;
    struct bb b = build_base(&L);
    lir_gguf *g = NULL;
    lir_err e = {{0}};
    cr_assert_eq(lir_gguf_open_memory(b.p, b.n, &g, &e), LIR_OK, "%s", e.msg);
    cr_assert_eq(lir_gguf_n_kv(g), 5);
    cr_assert_eq(lir_gguf_n_tensors(g), 2);
    cr_assert_eq(lir_gguf_data_offset(g), L.data);
    const struct lir_gguf_tensor *t = lir_gguf_find_tensor(g, "b");
    cr_assert(t);
    cr_assert_eq(t->size, 68);
    cr_assert_eq((const uint8_t *)t->data - b.p, (ptrdiff_t)(L.data + 256));
    lir_gguf_str s = lir_gguf_arr_str(g, "tok.arr", 1);
    cr_assert_eq(s.len, 2);
    cr_assert(memcmp(s.ptr, "bc", 2) == 0);
    lir_gguf_close(g);
    const char *seed = getenv("LIR_GGUF_WRITE_SEED");
    if (seed) {
        char path[512];
        snprintf(path, sizeof path, "%s/base_v3.bin", seed);
        write_file(path, b.p, b.n);
    }
    free(b.p);
}

/* ---------------------------------------------------------------- mutation table */

struct mutation {
    const char *name;
    size_t field;       /* offsetof(struct layout, X) */
    int width;          /* 1, 4 or 8 bytes written at the field */
    uint64_t value;
    const char *expect; /* substring of the error message */
};

#define F(x) offsetof(struct layout, x)
static const struct mutation mutations[] = {
    {"bad_magic", F(magic), 4, 0x46554748u, "magic"},
    {"version_0", F(version), 4, 0, "version"},
    {"version_1", F(version), 4, 1, "v1"},
    {"version_4", F(version), 4, 4, "version"},
    {"version_byteswapped", F(version), 4, 0x03000000u, "big-endian"},
    {"n_kv_2p63", F(n_kv), 8, 1ull << 63, "kv count"},
    {"n_kv_max", F(n_kv), 8, UINT64_MAX, "kv count"},
    {"n_kv_plus1", F(n_kv), 8, 6, "offset"},
    {"n_tensors_2p63", F(n_tensors), 8, 1ull << 63, "tensor count"},
    {"n_tensors_max", F(n_tensors), 8, UINT64_MAX, "tensor count"},
    {"n_tensors_plus1", F(n_tensors), 8, 3, "tensor"},
    {"key_len_huge", F(kv0_keylen), 8, 1ull << 63, "key"},
    {"key_len_max", F(kv0_keylen), 8, UINT64_MAX, "key"},
    {"key_len_zero", F(kv0_keylen), 8, 0, "key"},
    {"string_len_huge", F(kv0_strlen), 8, UINT64_MAX, "string value"},
    {"string_len_past_end", F(kv0_strlen), 8, 100000, "string value"},
    {"value_type_unknown", F(kv0_type), 4, 13, "value type"},
    {"value_type_huge", F(kv0_type), 4, 0xFFFFFFFFu, "value type"},
    {"array_count_huge", F(kv2_count), 8, 1ull << 62, "array count"},
    {"array_count_max", F(kv2_count), 8, UINT64_MAX, "array count"},
    {"array_str_len_huge", F(kv2_str0len), 8, 1ull << 62, "string value"},
    {"array_elem_type_unknown", F(kv2_elem_type), 4, 99, "array element type"},
    {"array_u32_count_huge", F(kv3_count), 8, 1ull << 61, "array count"},
    {"duplicate_key", F(kv3_key), 8, 0, "duplicate key"}, /* value unused: special-cased */
    {"bool_value_2", F(kv4_val), 1, 2, "bool"},
    {"alignment_0", F(kv1_val), 4, 0, "general.alignment"},
    {"alignment_3", F(kv1_val), 4, 3, "general.alignment"},
    {"alignment_2p31", F(kv1_val), 4, 1u << 31, "general.alignment"},
    {"tensor_name_len_huge", F(t0_namelen), 8, 1ull << 63, "tensor name"},
    {"tensor_name_len_zero", F(t0_namelen), 8, 0, "tensor name"},
    {"n_dims_0", F(t0_ndims), 4, 0, "n_dims"},
    {"n_dims_5", F(t0_ndims), 4, 5, "n_dims"},
    {"ne_zero", F(t0_ne1), 8, 0, "ne[1]"},
    {"ne_negative", F(t0_ne1), 8, (uint64_t)-5, "ne[1]"},
    {"ne_product_overflow", F(t0_ne1), 8, 1ull << 62, "ne[1]"},
    {"ne_huge_size", F(t0_ne1), 8, 1ull << 57, "data size"},
    {"ne0_not_block_multiple", F(t1_ne0), 8, 48, "block size"},
    {"tensor_type_unknown", F(t0_type), 4, 99, "type"},
    {"tensor_type_removed", F(t0_type), 4, 4, "type"},
    {"offset_misaligned", F(t1_offset), 8, 257, "alignment"},
    {"offset_past_eof", F(t1_offset), 8, 4096, "past end of file"},
    {"offset_huge", F(t1_offset), 8, UINT64_MAX - 31, "past end of file"},
    {"duplicate_tensor_name", F(t1_name), 1, 'a', "duplicate tensor name"},
};
#undef F

/* Applies mutation m to a fresh copy of the base file. */
static struct bb mutate(const struct mutation *m) {
    struct layout L;
    struct bb b = build_base(&L);
    size_t at = *(const size_t *)((const char *)&L + m->field);
    if (strcmp(m->name, "duplicate_key") == 0) {
        memcpy(b.p + at, "tok.arr", 7); /* "numbers" -> "tok.arr": same length */
        return b;
    }
    if (m->width == 1) { uint8_t v = (uint8_t)m->value; memcpy(b.p + at, &v, 1); }
    else if (m->width == 4) { uint32_t v = (uint32_t)m->value; memcpy(b.p + at, &v, 4); }
    else memcpy(b.p + at, &m->value, 8);
    return b;
}

Test(gguf_malformed, mutation_table) {
    const char *corpus = getenv("LIR_GGUF_WRITE_CORPUS");
    for (size_t i = 0; i < sizeof mutations / sizeof mutations[0]; i++) {
        const struct mutation *m = &mutations[i];
        struct bb b = mutate(m);
        lir_err e;
        enum lir_status s = open_buf(b.p, b.n, &e);
        cr_expect_eq(s, LIR_EFORMAT, "%s: status %d (%s)", m->name, s, e.msg);
        cr_expect(strstr(e.msg, m->expect) != NULL, "%s: message '%s' lacks '%s'", m->name, e.msg, m->expect);
        cr_expect(strncmp(e.msg, "gguf: ", 6) == 0, "%s: message '%s'", m->name, e.msg);
        if (corpus) {
            char path[512];
            snprintf(path, sizeof path, "%s/%s.bin", corpus, m->name);
            write_file(path, b.p, b.n);
        }
        free(b.p);
    }
}

Test(gguf_malformed, truncated_at_every_byte) {
    struct layout L;
    struct bb b = build_base(&L);
    for (size_t n = 0; n < L.size; n++) {
        lir_err e;
        /* a fresh heap copy of exactly n bytes so ASan catches any overread */
        uint8_t *p = malloc(n ? n : 1);
        memcpy(p, b.p, n);
        enum lir_status s = open_buf(p, n, &e);
        free(p);
        /* the last tensor's padding is not needed: cutting inside it is still valid */
        if (n >= L.data + 256 + 68) { cr_expect_eq(s, LIR_OK, "truncated at %zu: %s", n, e.msg); continue; }
        cr_expect_eq(s, LIR_EFORMAT, "truncated at %zu: status %d", n, s);
        cr_expect(strncmp(e.msg, "gguf: ", 6) == 0 && strlen(e.msg) > 20, "truncated at %zu: '%s'", n, e.msg);
        const char *corpus = getenv("LIR_GGUF_WRITE_CORPUS");
        if (corpus && n > 0 && (n < 8 || n % 37 == 0 || n == L.infos_end || n == L.data + 100)) {
            char path[512];
            snprintf(path, sizeof path, "%s/truncated_%03zu.bin", corpus, n);
            write_file(path, b.p, n);
        }
        if (n >= L.infos_end)
            cr_expect(strstr(e.msg, "past end of file"), "truncated at %zu: '%s'", n, e.msg);
        else if (n >= 24)
            cr_expect(strstr(e.msg, "remain") || strstr(e.msg, "cannot fit"), "truncated at %zu: '%s'", n, e.msg);
    }
    free(b.p);
}

Test(gguf_malformed, empty_and_tiny) {
    lir_err e;
    cr_assert_eq(open_buf(NULL, 0, &e), LIR_EFORMAT);
    cr_assert(strstr(e.msg, "magic"), "%s", e.msg);
    cr_assert_eq(open_buf("GGUF", 4, &e), LIR_EFORMAT);
    cr_assert(strstr(e.msg, "version"), "%s", e.msg);
}

/* File whose single kv is an array nested `depth` levels (innermost: u8 [7]). */
static struct bb build_nested(int depth) {
    struct bb b = {0};
    bb_u32(&b, LIR_GGUF_MAGIC);
    bb_u32(&b, 3);
    bb_u64(&b, 0);
    bb_u64(&b, 1);
    bb_str(&b, "nested");
    bb_u32(&b, LIR_GGUF_ARRAY);
    for (int d = 1; d < depth; d++) { bb_u32(&b, LIR_GGUF_ARRAY); bb_u64(&b, 1); }
    bb_u32(&b, LIR_GGUF_UINT8);
    bb_u64(&b, 1);
    uint8_t v = 7;
    bb_raw(&b, &v, 1);
    return b;
}

Test(gguf_malformed, nested_arrays_too_deep) {
    lir_err e;
    struct bb ok = build_nested(8);
    cr_expect_eq(open_buf(ok.p, ok.n, &e), LIR_OK, "%s", e.msg);
    struct bb bad = build_nested(9);
    cr_expect_eq(open_buf(bad.p, bad.n, &e), LIR_EFORMAT);
    cr_expect(strstr(e.msg, "nested"), "%s", e.msg);
    struct bb deep = build_nested(100000);
    cr_expect_eq(open_buf(deep.p, deep.n, &e), LIR_EFORMAT);
    const char *corpus = getenv("LIR_GGUF_WRITE_CORPUS");
    if (corpus) {
        char path[512];
        snprintf(path, sizeof path, "%s/nested_depth_9.bin", corpus);
        write_file(path, bad.p, bad.n);
        snprintf(path, sizeof path, "%s/nested_depth_1000.bin", corpus);
        struct bb d1000 = build_nested(1000);
        write_file(path, d1000.p, d1000.n);
        free(d1000.p);
    }
    free(ok.p); free(bad.p); free(deep.p);
}

Test(gguf_malformed, corpus) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/gguf/corpus", LIR_SOURCE_DIR);
    DIR *d = opendir(dir);
    cr_assert(d, "cannot open %s", dir);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        lir_gguf *g = NULL;
        lir_err e = {{0}};
        enum lir_status s = lir_gguf_open(path, &g, &e);
        cr_expect_eq(s, LIR_EFORMAT, "%s: status %d (%s)", de->d_name, s, e.msg);
        cr_expect_null(g);
        cr_expect(strncmp(e.msg, "gguf: ", 6) == 0, "%s: '%s'", de->d_name, e.msg);
        n++;
    }
    closedir(d);
    cr_expect_geq(n, 24, "corpus has only %d files", n);
}

/* ---------------------------------------------------------------- nested arrays (valid) */

Test(gguf_raw, array_of_arrays) {
    struct bb b = {0};
    bb_u32(&b, LIR_GGUF_MAGIC);
    bb_u32(&b, 2);
    bb_u64(&b, 0);
    bb_u64(&b, 2);
    bb_str(&b, "merges.nested");
    bb_u32(&b, LIR_GGUF_ARRAY);
    bb_u32(&b, LIR_GGUF_ARRAY); /* array of 3 arrays */
    bb_u64(&b, 3);
    bb_u32(&b, LIR_GGUF_UINT32); bb_u64(&b, 2); bb_u32(&b, 10); bb_u32(&b, 20);
    bb_u32(&b, LIR_GGUF_STRING); bb_u64(&b, 2); bb_str(&b, "x"); bb_str(&b, "yz");
    bb_u32(&b, LIR_GGUF_ARRAY); bb_u64(&b, 1); bb_u32(&b, LIR_GGUF_INT8); bb_u64(&b, 0);
    bb_str(&b, "after");
    bb_u32(&b, LIR_GGUF_INT32);
    bb_u32(&b, (uint32_t)-42);
    lir_gguf *g = NULL;
    lir_err e = {{0}};
    cr_assert_eq(lir_gguf_open_memory(b.p, b.n, &g, &e), LIR_OK, "%s", e.msg);
    cr_assert_eq(lir_gguf_version(g), 2);
    enum lir_gguf_vtype et;
    uint64_t n;
    cr_assert(lir_gguf_get_arr(g, "merges.nested", &et, &n, &e));
    cr_assert_eq(et, LIR_GGUF_ARRAY);
    cr_assert_eq(n, 3);
    cr_assert_null(lir_gguf_arr_data(g, "merges.nested"));
    int32_t v;
    cr_assert(lir_gguf_get_i32(g, "after", &v, &e));
    cr_assert_eq(v, -42);
    char buf[128];
    lir_gguf_kv_to_string(g, 0, buf, sizeof buf);
    cr_assert(strstr(buf, "array x 3"), "%s", buf);
    lir_gguf_close(g);
    const char *seed = getenv("LIR_GGUF_WRITE_SEED");
    if (seed) {
        char path[512];
        snprintf(path, sizeof path, "%s/nested_arrays_v2.bin", seed);
        write_file(path, b.p, b.n);
    }
    free(b.p);
}

/* ---------------------------------------------------------------- writer round trip */

static void fill_pattern(void *user, void *dst, uint64_t size) {
    uint8_t seed = (uint8_t)(uintptr_t)user;
    for (uint64_t i = 0; i < size; i++) ((uint8_t *)dst)[i] = (uint8_t)(i * 7 + seed);
}

static void fill_range_pattern(void *user, void *dst, uint64_t off, uint64_t size) {
    uint8_t seed = (uint8_t)(uintptr_t)user;
    for (uint64_t i = 0; i < size; i++) ((uint8_t *)dst)[i] = (uint8_t)((off + i) * 13 + seed);
}

static char *tmp_path(const char *tag) {
    static char buf[256];
    snprintf(buf, sizeof buf, "/tmp/lir_test_gguf_%d_%s.gguf", (int)getpid(), tag);
    return buf;
}

static void round_trip(uint32_t version, uint32_t alignment) {
    char path[256];
    snprintf(path, sizeof path, "%s", tmp_path("rt"));
    lir_gguf_writer *w = lir_gguf_writer_create(version, alignment);
    cr_assert(w);
    lir_gguf_writer_set_u8(w, "t.u8", 200);
    lir_gguf_writer_set_i8(w, "t.i8", -100);
    lir_gguf_writer_set_u16(w, "t.u16", 60000);
    lir_gguf_writer_set_i16(w, "t.i16", -30000);
    lir_gguf_writer_set_u32(w, "t.u32", 4000000000u);
    lir_gguf_writer_set_i32(w, "t.i32", -2000000000);
    lir_gguf_writer_set_u64(w, "t.u64", UINT64_MAX - 5);
    lir_gguf_writer_set_i64(w, "t.i64", INT64_MIN + 3);
    lir_gguf_writer_set_f32(w, "t.f32", 1.5f);
    lir_gguf_writer_set_f64(w, "t.f64", -2.25);
    lir_gguf_writer_set_bool(w, "t.bool", true);
    lir_gguf_writer_set_str(w, "t.str", "héllo \"q\"");
    lir_gguf_writer_set_str(w, "t.empty", "");
    lir_gguf_writer_set_u32(w, "t.replaced", 1);
    lir_gguf_writer_set_u32(w, "t.replaced", 2);
    float fa[5] = {1, -2, 3.5f, 0, 1e9f};
    lir_gguf_writer_set_arr(w, "t.arr.f32", LIR_GGUF_FLOAT32, fa, 5);
    int32_t ia[3] = {-1, 0, 7};
    lir_gguf_writer_set_arr(w, "t.arr.i32", LIR_GGUF_INT32, ia, 3);
    uint8_t ba[2] = {1, 0};
    lir_gguf_writer_set_arr(w, "t.arr.bool", LIR_GGUF_BOOL, ba, 2);
    double da[2] = {0.5, -0.25};
    lir_gguf_writer_set_arr(w, "t.arr.f64", LIR_GGUF_FLOAT64, da, 2);
    lir_gguf_writer_set_arr(w, "t.arr.empty", LIR_GGUF_UINT64, NULL, 0);
    const char *sa[4] = {"<unk>", "", "\xe2\x96\x81the", "x"};
    lir_gguf_writer_set_arr_str(w, "t.arr.str", sa, 4);

    float f32[64 * 3];
    for (int i = 0; i < 64 * 3; i++) f32[i] = (float)i * 0.25f - 3;
    int64_t ne_a[2] = {64, 3}, ne_b[1] = {96}, ne_c[3] = {256, 2, 3}, ne_d[4] = {32, 2, 2, 2};
    lir_gguf_writer_add_tensor(w, "a.f32", LIR_TYPE_F32, 2, ne_a, f32, NULL, NULL);
    lir_gguf_writer_add_tensor(w, "b.q8_0", LIR_TYPE_Q8_0, 1, ne_b, NULL, fill_pattern, (void *)(uintptr_t)5);
    lir_gguf_writer_add_tensor_stream(w, "c.q4_K", LIR_TYPE_Q4_K, 3, ne_c, fill_range_pattern, (void *)(uintptr_t)9);
    lir_gguf_writer_add_tensor(w, "d.f16", LIR_TYPE_F16, 4, ne_d, NULL, fill_pattern, (void *)(uintptr_t)1);
    lir_err e = {{0}};
    cr_assert_eq(lir_gguf_writer_finish(w, path, &e), LIR_OK, "%s", e.msg);
    lir_gguf_writer_free(w);

    lir_gguf *g = NULL;
    cr_assert_eq(lir_gguf_open(path, &g, &e), LIR_OK, "%s", e.msg);
    cr_assert_eq(lir_gguf_version(g), version);
    cr_assert_eq(lir_gguf_alignment(g), alignment);
    cr_assert_eq(lir_gguf_data_offset(g) % alignment, 0);
    uint32_t u32; int32_t i32; uint64_t u64; float f; bool bo; lir_gguf_str s;
    cr_assert(lir_gguf_get_u32(g, "t.u8", &u32, &e)); cr_assert_eq(u32, 200);
    cr_assert(lir_gguf_get_i32(g, "t.i8", &i32, &e)); cr_assert_eq(i32, -100);
    cr_assert(lir_gguf_get_u32(g, "t.u16", &u32, &e)); cr_assert_eq(u32, 60000);
    cr_assert(lir_gguf_get_i32(g, "t.i16", &i32, &e)); cr_assert_eq(i32, -30000);
    cr_assert(lir_gguf_get_u32(g, "t.u32", &u32, &e)); cr_assert_eq(u32, 4000000000u);
    cr_assert(!lir_gguf_get_i32(g, "t.u32", &i32, &e)); /* out of range */
    cr_assert(lir_gguf_get_i32(g, "t.i32", &i32, &e)); cr_assert_eq(i32, -2000000000);
    cr_assert(!lir_gguf_get_u32(g, "t.i32", &u32, &e));
    cr_assert(lir_gguf_get_u64(g, "t.u64", &u64, &e)); cr_assert_eq(u64, UINT64_MAX - 5);
    cr_assert_eq(lir_gguf_kv_type(g, lir_gguf_find_key(g, "t.i64")), LIR_GGUF_INT64);
    cr_assert(lir_gguf_get_f32(g, "t.f32", &f, &e)); cr_assert_eq(f, 1.5f);
    cr_assert(lir_gguf_get_f32(g, "t.f64", &f, &e)); cr_assert_eq(f, -2.25f);
    cr_assert(lir_gguf_get_bool(g, "t.bool", &bo, &e)); cr_assert(bo);
    cr_assert(lir_gguf_get_str(g, "t.str", &s, &e));
    cr_assert_eq(s.len, strlen("héllo \"q\""));
    cr_assert(memcmp(s.ptr, "héllo \"q\"", s.len) == 0);
    cr_assert(lir_gguf_get_str(g, "t.empty", &s, &e)); cr_assert_eq(s.len, 0);
    cr_assert(lir_gguf_get_u32(g, "t.replaced", &u32, &e)); cr_assert_eq(u32, 2);
    cr_assert(!lir_gguf_get_str(g, "t.u8", &s, &e));
    cr_assert(strstr(e.msg, "t.u8"), "%s", e.msg);
    cr_assert(!lir_gguf_get_u32(g, "absent", &u32, &e));
    cr_assert_eq(lir_gguf_find_key(g, "absent"), -1);

    enum lir_gguf_vtype et; uint64_t n;
    cr_assert(lir_gguf_get_arr(g, "t.arr.f32", &et, &n, &e));
    cr_assert_eq(et, LIR_GGUF_FLOAT32); cr_assert_eq(n, 5);
    float fb[5];
    memcpy(fb, lir_gguf_arr_data(g, "t.arr.f32"), sizeof fb);
    cr_assert(memcmp(fa, fb, sizeof fa) == 0);
    cr_assert(lir_gguf_get_arr(g, "t.arr.i32", &et, &n, &e));
    cr_assert_eq(et, LIR_GGUF_INT32); cr_assert_eq(n, 3);
    cr_assert(memcmp(lir_gguf_arr_data(g, "t.arr.i32"), ia, sizeof ia) == 0);
    cr_assert(memcmp(lir_gguf_arr_data(g, "t.arr.bool"), ba, 2) == 0);
    cr_assert(memcmp(lir_gguf_arr_data(g, "t.arr.f64"), da, sizeof da) == 0);
    cr_assert(lir_gguf_get_arr(g, "t.arr.empty", &et, &n, &e)); cr_assert_eq(n, 0);
    cr_assert(lir_gguf_get_arr(g, "t.arr.str", &et, &n, &e));
    cr_assert_eq(et, LIR_GGUF_STRING); cr_assert_eq(n, 4);
    for (int i = 0; i < 4; i++) {
        s = lir_gguf_arr_str(g, "t.arr.str", (uint64_t)i);
        cr_assert_eq(s.len, strlen(sa[i]));
        cr_assert(memcmp(s.ptr, sa[i], s.len) == 0);
    }
    cr_assert_eq(lir_gguf_arr_str(g, "t.arr.str", 4).len, 0);
    cr_assert_null(lir_gguf_arr_data(g, "t.arr.str"));

    char buf[256];
    for (int64_t i = 0; i < lir_gguf_n_kv(g); i++) {
        lir_gguf_kv_to_string(g, i, buf, sizeof buf);
        cr_assert(buf[0]);
        lir_gguf_kv_to_string(g, i, buf, 3); /* truncation is safe */
        cr_assert(strlen(buf) <= 2);
    }
    lir_gguf_kv_to_string(g, lir_gguf_find_key(g, "t.arr.str"), buf, sizeof buf);
    cr_assert(strstr(buf, "<unk>"), "%s", buf);

    cr_assert_eq(lir_gguf_n_tensors(g), 4);
    const struct lir_gguf_tensor *t = lir_gguf_find_tensor(g, "a.f32");
    cr_assert(t);
    cr_assert_eq(t->n_dims, 2); cr_assert_eq(t->ne[0], 64); cr_assert_eq(t->ne[1], 3); cr_assert_eq(t->ne[2], 1);
    cr_assert_eq(t->type, LIR_TYPE_F32);
    cr_assert(memcmp(t->data, f32, sizeof f32) == 0);
    t = lir_gguf_find_tensor(g, "b.q8_0");
    cr_assert_eq(t->size, 3 * 34);
    uint8_t *exp = malloc(4096);
    fill_pattern((void *)(uintptr_t)5, exp, t->size);
    cr_assert(memcmp(t->data, exp, t->size) == 0);
    t = lir_gguf_find_tensor(g, "c.q4_K");
    cr_assert_eq(t->size, 6 * 144);
    cr_assert_eq(t->n_dims, 3);
    fill_range_pattern((void *)(uintptr_t)9, exp, 0, t->size);
    cr_assert(memcmp(t->data, exp, t->size) == 0);
    t = lir_gguf_find_tensor(g, "d.f16");
    cr_assert_eq(t->size, 32 * 8 * 2);
    cr_assert_eq(t->ne[3], 2);
    fill_pattern((void *)(uintptr_t)1, exp, t->size);
    cr_assert(memcmp(t->data, exp, t->size) == 0);
    for (int64_t i = 0; i < 4; i++) {
        t = lir_gguf_tensor(g, i);
        cr_assert_eq(t->offset % alignment, 0);
        cr_assert_eq(((const uint8_t *)t->data - (const uint8_t *)lir_gguf_tensor(g, 0)->data) % alignment, 0);
    }
    cr_assert_null(lir_gguf_tensor(g, 4));
    cr_assert_null(lir_gguf_find_tensor(g, "nope"));
    free(exp);
    lir_gguf_close(g);
    const char *seed = getenv("LIR_GGUF_WRITE_SEED");
    if (seed) {
        char dst[512];
        snprintf(dst, sizeof dst, "%s/writer_v%u_align%u.bin", seed, version, alignment);
        cr_assert_eq(rename(path, dst), 0);
    }
    unlink(path);
}

Test(gguf_write, round_trip_v3) { round_trip(3, 32); }
Test(gguf_write, round_trip_v2) { round_trip(2, 32); }
Test(gguf_write, round_trip_align_64) { round_trip(3, 64); }
Test(gguf_write, round_trip_align_1) { round_trip(2, 1); }
Test(gguf_write, round_trip_align_4096) { round_trip(3, 4096); }

Test(gguf_write, large_streamed_tensor_is_chunked) {
    /* 40 MiB f32 tensor: more than one LIR_GGUF_WRITE_CHUNK */
    char path[256];
    snprintf(path, sizeof path, "%s", tmp_path("big"));
    lir_gguf_writer *w = lir_gguf_writer_create(3, 32);
    int64_t ne[2] = {1024, 10240};
    lir_gguf_writer_add_tensor_stream(w, "big", LIR_TYPE_F32, 2, ne, fill_range_pattern, (void *)(uintptr_t)3);
    lir_err e = {{0}};
    cr_assert_eq(lir_gguf_writer_finish(w, path, &e), LIR_OK, "%s", e.msg);
    lir_gguf_writer_free(w);
    lir_gguf *g = NULL;
    cr_assert_eq(lir_gguf_open(path, &g, &e), LIR_OK, "%s", e.msg);
    const struct lir_gguf_tensor *t = lir_gguf_find_tensor(g, "big");
    const uint8_t *p = t->data;
    for (uint64_t i = 0; i < t->size; i += 4099) cr_assert_eq(p[i], (uint8_t)(i * 13 + 3), "byte %" PRIu64, i);
    cr_assert_eq(p[t->size - 1], (uint8_t)((t->size - 1) * 13 + 3));
    lir_gguf_close(g);
    unlink(path);
}

Test(gguf_write, setter_errors_reported_at_finish) {
    char path[256];
    snprintf(path, sizeof path, "%s", tmp_path("err"));
    lir_err e = {{0}};
    lir_gguf_writer *w = lir_gguf_writer_create(3, 32);
    int64_t ne[1] = {33};
    lir_gguf_writer_add_tensor(w, "bad", LIR_TYPE_Q8_0, 1, ne, NULL, fill_pattern, NULL);
    cr_assert_eq(lir_gguf_writer_finish(w, path, &e), LIR_EINVAL);
    cr_assert(strstr(e.msg, "block size"), "%s", e.msg);
    lir_gguf_writer_free(w);
    cr_assert_neq(access(path, F_OK), 0);

    w = lir_gguf_writer_create(3, 24);
    cr_assert_eq(lir_gguf_writer_finish(w, path, &e), LIR_EINVAL);
    cr_assert(strstr(e.msg, "alignment"), "%s", e.msg);
    lir_gguf_writer_free(w);

    w = lir_gguf_writer_create(1, 32);
    cr_assert_eq(lir_gguf_writer_finish(w, path, &e), LIR_EINVAL);
    lir_gguf_writer_free(w);

    w = lir_gguf_writer_create(3, 32);
    int64_t ne2[1] = {32};
    lir_gguf_writer_add_tensor(w, "x", LIR_TYPE_F32, 1, ne2, NULL, fill_pattern, NULL);
    lir_gguf_writer_add_tensor(w, "x", LIR_TYPE_F32, 1, ne2, NULL, fill_pattern, NULL);
    cr_assert_eq(lir_gguf_writer_finish(w, path, &e), LIR_EINVAL);
    cr_assert(strstr(e.msg, "duplicate"), "%s", e.msg);
    lir_gguf_writer_free(w);

    w = lir_gguf_writer_create(3, 32);
    lir_gguf_writer_set_str(w, "k", "v");
    cr_assert_eq(lir_gguf_writer_finish(w, "/nonexistent-dir/x.gguf", &e), LIR_EIO);
    cr_assert(strstr(e.msg, "nonexistent"), "%s", e.msg);
    lir_gguf_writer_free(w);
    lir_gguf_writer_free(NULL);
}

Test(gguf_read, open_errors) {
    lir_gguf *g = (lir_gguf *)1;
    lir_err e = {{0}};
    cr_assert_eq(lir_gguf_open("/nonexistent/file.gguf", &g, &e), LIR_EIO);
    cr_assert_null(g);
    cr_assert(strstr(e.msg, "/nonexistent/file.gguf"), "%s", e.msg);
    char path[256];
    snprintf(path, sizeof path, "%s", tmp_path("empty"));
    write_file(path, "", 0);
    cr_assert_eq(lir_gguf_open(path, &g, &e), LIR_EFORMAT);
    cr_assert(strstr(e.msg, "empty"), "%s", e.msg);
    unlink(path);
    lir_gguf_close(NULL);
}

Test(gguf_read, many_keys_and_tensors) {
    /* 40k keys and 20k tensors: lookups and duplicate checks go through the hash tables
     * (an O(n^2) duplicate check would take seconds here) */
    struct bb b = {0};
    char name[64];
    bb_u32(&b, LIR_GGUF_MAGIC);
    bb_u32(&b, 3);
    bb_u64(&b, 20000);
    bb_u64(&b, 40000);
    for (uint32_t i = 0; i < 40000; i++) {
        snprintf(name, sizeof name, "key.%u", i);
        bb_str(&b, name);
        bb_u32(&b, LIR_GGUF_UINT32);
        bb_u32(&b, i);
    }
    for (uint32_t i = 0; i < 20000; i++) {
        snprintf(name, sizeof name, "blk.%u.w", i);
        bb_str(&b, name);
        bb_u32(&b, 1);
        bb_u64(&b, 32);
        bb_u32(&b, LIR_TYPE_F32);
        bb_u64(&b, (uint64_t)i * 128);
    }
    bb_pad(&b, 32);
    size_t data = b.n;
    for (uint32_t i = 0; i < 20000 * 32; i++) { float f = (float)i; bb_raw(&b, &f, 4); }
    lir_gguf *g = NULL;
    lir_err e = {{0}};
    uint64_t t0 = lir__now_ns();
    enum lir_status s = lir_gguf_open_memory(b.p, b.n, &g, &e);
    uint64_t dt = lir__now_ns() - t0;
    cr_assert_eq(s, LIR_OK, "%s", e.msg);
    cr_expect_eq(lir_gguf_data_offset(g), data);
    cr_expect_eq(lir_gguf_n_kv(g), 40000);
    cr_expect_eq(lir_gguf_n_tensors(g), 20000);
    uint32_t v;
    cr_expect(lir_gguf_get_u32(g, "key.39999", &v, &e) && v == 39999);
    const struct lir_gguf_tensor *t = lir_gguf_find_tensor(g, "blk.19999.w");
    cr_assert(t);
    float f;
    memcpy(&f, t->data, 4);
    cr_expect_eq(f, 19999.0f * 32);
    cr_expect_lt(dt, 2000000000ull, "open took %.2f s", (double)dt / 1e9);
    lir_gguf_close(g);
    free(b.p);
}
