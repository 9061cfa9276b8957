/* snapshot.h — internals of context snapshots (public API: include/lir.h "snapshots").
 *
 * File format, version 1 (little-endian; every field written and read one by one):
 *   offset size
 *     0     8  magic "LIRSNAP\0"
 *     8     4  format version (1)
 *    12     4  header size (128: the fixed part, magic included)
 *    16    32  model fingerprint (lir_model_fingerprint)
 *    48     4  KV type (enum lir_kv_type)
 *    52     4  n_ctx of the context saved from
 *    56     4  n_vocab
 *    60     4  n_tokens
 *    64     8  token_bytes: K+V of one token over all layers in the KV type (lir__kv_token_bytes)
 *    72     4  chunk_tokens: tokens per KV chunk (>= 1)
 *    76     4  name length (<= 255, no NUL byte)
 *    80     8  created, Unix milliseconds
 *    88     4  n_logits: 0 or n_vocab (the last logits row)
 *    92     4  sampler state bytes (lir_sampler_state_save's blob; 0 = none)
 *    96     8  kv_bytes = n_tokens x token_bytes
 *   104    24  reserved, zero
 *   128        name, tokens (n_tokens x i32), logits (n_logits x f32), sampler state, KV data
 *   end-32 32  checksum of every byte before it (len bytes): a hash tree, so that many cores
 *              can hash one file: leaf i = XXH3-128 (libxxhash, canonical big-endian 16 bytes) of
 *              bytes [i x 1 MiB, min((i + 1) x 1 MiB, len)); sum = BLAKE2b-256 (libsodium) of
 *              "LIRSNAP sum v1 xxh3", len as u64 and the leaf digests in order (a file of a few
 *              bytes has one leaf). A checksum against corruption, not a signature.
 * KV data: the tokens in chunks of chunk_tokens (the last one shorter); each chunk as
 * lir__kv_seq_read writes it: for each layer, the chunk's K rows, then its V rows.
 * The file size must equal the sum exactly. */
#ifndef LIR_SNAPSHOT_H
#define LIR_SNAPSHOT_H

#include <stdint.h>
#include <stddef.h>
#include "lir.h"
#include "util/util.h"

#define LIR_SNAP_MAGIC "LIRSNAP"     /* 8 bytes with its NUL */
#define LIR_SNAP_HEADER 128u
#define LIR_SNAP_SUM 32u
#define LIR_SNAP_MAX_TOKENS (1 << 24) /* lir_context_create's n_ctx limit */
#define LIR_SNAP_MAX_VOCAB (1 << 24)
#define LIR_SNAP_MAX_SAMPLER (64u << 20)

/* A checked view of a snapshot in memory: pointers into the caller's buffer. */
struct lir__snap_view {
    struct lir_snapshot_info info;
    const uint8_t *tokens;      /* n_tokens x i32 LE */
    const uint8_t *logits;      /* n_logits x f32 LE, or NULL */
    const uint8_t *sampler;     /* sampler_len bytes, or NULL */
    size_t sampler_len;
    const uint8_t *kv;          /* kv_bytes */
    uint64_t token_bytes;
    uint32_t chunk_tokens;
    uint64_t prefix_len;        /* bytes before the KV data: header, name, tokens, logits, sampler */
    uint32_t name_len, n_logits;
};

/* Checks len bytes of data (borrowed) as a whole snapshot file: magic, version, header fields
 * and their ranges, sizes against len (exactly), token ids against n_vocab, logits not NaN or
 * +inf, and — when verify_sum — the checksum (on n_threads threads). Fills *out. Nothing is
 * allocated but the checksum's leaf digests.
 * Returns LIR_OK, LIR_EFORMAT (message names the field, its value and what was expected),
 * LIR_EUNSUPPORTED (another version), LIR_EINTERNAL (libsodium failed to start). */
enum lir_status lir__snap_parse(const void *data, size_t len, bool verify_sum, int n_threads,
                                struct lir__snap_view *out, lir_err *e);
/* lir__snap_parse in steps, for a reader that does not hold the whole file: parse_header checks
 * the header (LIR_SNAP_HEADER bytes) of a file of file_len bytes (the same checks and messages)
 * and fills out's header fields and prefix_len; parse_prefix checks the prefix_len bytes at b
 * (header first) and points out's tokens, logits and sampler into them. Neither sets kv. */
enum lir_status lir__snap_parse_header(const uint8_t *hdr, uint64_t file_len, struct lir__snap_view *out, lir_err *e);
enum lir_status lir__snap_parse_prefix(const uint8_t *b, struct lir__snap_view *out, lir_err *e);
/* The checksum above over data[0..len) (borrowed), on n_threads threads (>= 1; the caller's thread
 * is one of them). LIR_OK, LIR_ENOMEM, LIR_EINTERNAL (libsodium or a thread failed to start). */
#define LIR_SNAP_LEAF (1u << 20)
enum lir_status lir__snap_checksum(const uint8_t *data, size_t len, int n_threads, uint8_t out[LIR_SNAP_SUM]);
/* The same over bytes a callback gives: leaf(user, off, n, buf) returns the n bytes at off — a
 * pointer into memory, or buf after reading them there (LIR_SNAP_LEAF bytes, one per thread,
 * allocated only when buffered; else NULL) — or NULL when it cannot (the checksum then returns
 * LIR_EIO). Called from n_threads threads. */
typedef const uint8_t *(*lir__snap_leaf_fn)(void *user, uint64_t off, size_t n, uint8_t *buf);
enum lir_status lir__snap_checksum_by(lir__snap_leaf_fn leaf, void *user, bool buffered, uint64_t len, int n_threads,
                                      uint8_t out[LIR_SNAP_SUM]);
/* The same checksum over bytes given in pieces: begin (NULL: out of memory or libsodium failed),
 * update with consecutive pieces, end (the sum of everything given), free. Update and end return
 * false on out of memory. */
struct lir__snap_sum;
struct lir__snap_sum *lir__snap_sum_begin(void);
bool lir__snap_sum_update(struct lir__snap_sum *c, const void *data, size_t n);
bool lir__snap_sum_end(struct lir__snap_sum *c, uint8_t out[LIR_SNAP_SUM]);
void lir__snap_sum_free(struct lir__snap_sum *c);

/* Snapshot directories (the runtime's context manager, `lir chat`): files NAME.lirsnap. */
#define LIR_SNAP_EXT ".lirsnap"
#define LIR_SNAP_NAME_MAX 128
/* Whether name is 1..128 characters of A-Z a-z 0-9 '_' '-' '.' ' ', not starting with '.' or ' '
 * (so NAME.lirsnap never leaves its directory); else false with the message in e (fn: prefix). */
bool lir__snapshot_name_ok(const char *name, lir_err *e, const char *fn);
/* $XDG_DATA_HOME/lir/snapshots, or ~/.local/share/lir/snapshots, into buf (n bytes). */
void lir__snapshot_dir_default(char *buf, size_t n);
/* mkdir -p dir (mode 0755). LIR_OK, LIR_EINVAL (too long), LIR_EIO (message names the part). */
enum lir_status lir__mkdirs(const char *dir, lir_err *e, const char *fn);

/* Little-endian field helpers. */
static inline void lir__put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void lir__put_u64(uint8_t *p, uint64_t v) {
    lir__put_u32(p, (uint32_t)v);
    lir__put_u32(p + 4, (uint32_t)(v >> 32));
}
static inline uint32_t lir__get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t lir__get_u64(const uint8_t *p) {
    return lir__get_u32(p) | (uint64_t)lir__get_u32(p + 4) << 32;
}

#endif
