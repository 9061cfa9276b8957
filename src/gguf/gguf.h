/* gguf.h — GGUF v2/v3 reader (mmap, every count checked) and writer.
 *
 * Reader contract: lir_gguf_open maps the file and validates header, every metadata
 * key/value (all value types incl. nested arrays), every tensor info, the alignment and
 * that every tensor's data lies inside the file. After a successful open, every accessor
 * below is safe: no later call reads outside the mapping. A malformed file gives
 * LIR_EFORMAT with a message naming the field, its file offset and what was expected.
 * Nothing is allocated in proportion to a count before that count is checked against
 * the bytes remaining. */
#ifndef LIR_GGUF_H
#define LIR_GGUF_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "util/util.h"

#define LIR_GGUF_MAGIC 0x46554747u /* "GGUF" little-endian */
#define LIR_GGUF_DEFAULT_ALIGNMENT 32
#define LIR_GGUF_MAX_DIMS 4

enum lir_gguf_vtype {
    LIR_GGUF_UINT8 = 0, LIR_GGUF_INT8 = 1, LIR_GGUF_UINT16 = 2, LIR_GGUF_INT16 = 3,
    LIR_GGUF_UINT32 = 4, LIR_GGUF_INT32 = 5, LIR_GGUF_FLOAT32 = 6, LIR_GGUF_BOOL = 7,
    LIR_GGUF_STRING = 8, LIR_GGUF_ARRAY = 9, LIR_GGUF_UINT64 = 10, LIR_GGUF_INT64 = 11,
    LIR_GGUF_FLOAT64 = 12, LIR_GGUF_VTYPE_COUNT
};

/* A string inside the mapping: not NUL-terminated. */
typedef struct { const char *ptr; uint64_t len; } lir_gguf_str;

typedef struct lir_gguf lir_gguf;

struct lir_gguf_tensor {
    lir_gguf_str name;
    uint32_t n_dims;
    int64_t ne[LIR_GGUF_MAX_DIMS]; /* ne[0] is the innermost (row) dimension; unused dims = 1 */
    int32_t type;                  /* enum lir_type */
    uint64_t offset;               /* relative to the data section */
    uint64_t size;                 /* bytes */
    const void *data;              /* inside the mapping */
};

/* Opens and validates path. On success *out owns the mapping. */
enum lir_status lir_gguf_open(const char *path, lir_gguf **out, lir_err *e);
/* Same over a caller buffer (borrowed; must outlive the handle). Used by the fuzzer. */
enum lir_status lir_gguf_open_memory(const void *data, size_t size, lir_gguf **out, lir_err *e);
void lir_gguf_close(lir_gguf *g);

uint32_t lir_gguf_version(const lir_gguf *g);
uint64_t lir_gguf_file_size(const lir_gguf *g);
uint32_t lir_gguf_alignment(const lir_gguf *g);
uint64_t lir_gguf_data_offset(const lir_gguf *g);

/* ---- metadata ---- */
int64_t lir_gguf_n_kv(const lir_gguf *g);
/* Index of key, or -1. */
int64_t lir_gguf_find_key(const lir_gguf *g, const char *key);
lir_gguf_str lir_gguf_key(const lir_gguf *g, int64_t i);
enum lir_gguf_vtype lir_gguf_kv_type(const lir_gguf *g, int64_t i);

/* Typed getters by key. Each returns false when the key is absent (out untouched) and
 * false with a message in e when present with another type or out of range. Integer
 * getters accept any integer vtype whose value fits. */
bool lir_gguf_get_u32(const lir_gguf *g, const char *key, uint32_t *out, lir_err *e);
bool lir_gguf_get_i32(const lir_gguf *g, const char *key, int32_t *out, lir_err *e);
bool lir_gguf_get_u64(const lir_gguf *g, const char *key, uint64_t *out, lir_err *e);
bool lir_gguf_get_f32(const lir_gguf *g, const char *key, float *out, lir_err *e);
bool lir_gguf_get_bool(const lir_gguf *g, const char *key, bool *out, lir_err *e);
bool lir_gguf_get_str(const lir_gguf *g, const char *key, lir_gguf_str *out, lir_err *e);

/* Arrays: element type and count; elements by index. For arrays of strings,
 * lir_gguf_arr_str is O(1) after open (offsets are indexed at open time).
 * Nested arrays: lir_gguf_arr_elem_type returns LIR_GGUF_ARRAY; the raw bytes are
 * validated but the API exposes only the outer level. */
bool lir_gguf_get_arr(const lir_gguf *g, const char *key, enum lir_gguf_vtype *elem_type,
                      uint64_t *n, lir_err *e);
/* Pointer to the n packed elements of a numeric array (any alignment: use memcpy). */
const void *lir_gguf_arr_data(const lir_gguf *g, const char *key);
lir_gguf_str lir_gguf_arr_str(const lir_gguf *g, const char *key, uint64_t i);

/* Renders the value of kv i as short human text (arrays summarized) into buf. */
void lir_gguf_kv_to_string(const lir_gguf *g, int64_t i, char *buf, size_t n);

/* ---- tensors ---- */
int64_t lir_gguf_n_tensors(const lir_gguf *g);
const struct lir_gguf_tensor *lir_gguf_tensor(const lir_gguf *g, int64_t i);
/* Tensor by NUL-terminated name, or NULL. */
const struct lir_gguf_tensor *lir_gguf_find_tensor(const lir_gguf *g, const char *name);

/* ---- writer ----
 * Builds a file in memory order: header, kv, tensor infos, aligned data. Tensor data is
 * streamed to the file at lir_gguf_writer_finish, so large models need no full copy. */
typedef struct lir_gguf_writer lir_gguf_writer;

lir_gguf_writer *lir_gguf_writer_create(uint32_t version /* 2 or 3 */, uint32_t alignment);
void lir_gguf_writer_free(lir_gguf_writer *w);
void lir_gguf_writer_set_u8(lir_gguf_writer *w, const char *key, uint8_t v);
void lir_gguf_writer_set_i8(lir_gguf_writer *w, const char *key, int8_t v);
void lir_gguf_writer_set_u16(lir_gguf_writer *w, const char *key, uint16_t v);
void lir_gguf_writer_set_i16(lir_gguf_writer *w, const char *key, int16_t v);
void lir_gguf_writer_set_u32(lir_gguf_writer *w, const char *key, uint32_t v);
void lir_gguf_writer_set_i32(lir_gguf_writer *w, const char *key, int32_t v);
void lir_gguf_writer_set_u64(lir_gguf_writer *w, const char *key, uint64_t v);
void lir_gguf_writer_set_i64(lir_gguf_writer *w, const char *key, int64_t v);
void lir_gguf_writer_set_f32(lir_gguf_writer *w, const char *key, float v);
void lir_gguf_writer_set_f64(lir_gguf_writer *w, const char *key, double v);
void lir_gguf_writer_set_bool(lir_gguf_writer *w, const char *key, bool v);
void lir_gguf_writer_set_str(lir_gguf_writer *w, const char *key, const char *v);
/* Numeric array: n elements of elem_type copied from data. */
void lir_gguf_writer_set_arr(lir_gguf_writer *w, const char *key, enum lir_gguf_vtype elem_type,
                             const void *data, uint64_t n);
void lir_gguf_writer_set_arr_str(lir_gguf_writer *w, const char *key, const char *const *v, uint64_t n);
/* Adds a tensor whose bytes (lir_type_row_size(type, ne0) * rows) are produced by a
 * callback at finish time, or copied from `data` if fill is NULL (borrowed until finish). */
typedef void (*lir_gguf_fill_fn)(void *user, void *dst, uint64_t size);
void lir_gguf_writer_add_tensor(lir_gguf_writer *w, const char *name, int32_t type, uint32_t n_dims,
                                const int64_t *ne, const void *data, lir_gguf_fill_fn fill, void *user);
/* Streaming variant for tensors of any size: fill(user, dst, offset, size) is called at
 * finish with consecutive byte ranges [offset, offset + size) of the tensor's data, each a
 * whole number of rows of at most about LIR_GGUF_WRITE_CHUNK bytes (a single row may be
 * larger), so the writer's memory stays bounded. dst is 64-byte aligned. */
#define LIR_GGUF_WRITE_CHUNK (32u << 20)
typedef void (*lir_gguf_fill_range_fn)(void *user, void *dst, uint64_t offset, uint64_t size);
void lir_gguf_writer_add_tensor_stream(lir_gguf_writer *w, const char *name, int32_t type, uint32_t n_dims,
                                       const int64_t *ne, lir_gguf_fill_range_fn fill, void *user);
/* Writes the file to path + ".tmp", then renames it to path. Returns LIR_OK or
 * LIR_EIO/LIR_EINVAL/LIR_ENOMEM with a message. Any earlier setter failure (allocation,
 * bad argument) is reported here (the first one). A writer is finished at most once. */
enum lir_status lir_gguf_writer_finish(lir_gguf_writer *w, const char *path, lir_err *e);

#endif /* LIR_GGUF_H */
