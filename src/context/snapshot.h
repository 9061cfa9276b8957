/* snapshot.h — internals of context snapshots (public API: include/lir.h "snapshots").
 *
 * File format, version 2 (little-endian; every field written and read one by one):
 *   offset size
 *     0     8  magic "LIRSNAP\0"
 *     8     4  format version (2)
 *    12     4  header size (128: the fixed part, magic included)
 *    16    32  model fingerprint (lir_model_fingerprint)
 *    48     4  KV type (enum lir_kv_type)
 *    52     4  n_ctx of the context saved from
 *    56     4  n_vocab
 *    60     4  n_tokens
 *    64     8  token_bytes: K+V of one token over all layers in the KV type (lir__kv_token_bytes)
 *    72     4  block_tokens: tokens per KV block (LIR_KV_BLOCK_TOKENS)
 *    76     4  name length (<= 255, no NUL byte)
 *    80     8  created, Unix milliseconds
 *    88     4  n_logits: 0 or n_vocab (the last logits row)
 *    92     4  sampler state bytes (lir_sampler_state_save's blob; 0 = none)
 *    96     8  kv_bytes = ceil(n_tokens / block_tokens) x block_tokens x token_bytes
 *   104     8  kv_offset: where the KV data starts, the end of the sampler state rounded up to
 *              a multiple of 4096 (the bytes between are zero)
 *   112    16  reserved, zero
 *   128        name, tokens (n_tokens x i32), logits (n_logits x f32), sampler state, zeros
 *   kv_offset  KV data: the sequence's KV blocks in order, each as the cache holds it (model/kv.h:
 *              for each layer, K [block_tokens][kv_dim] then V, F16 transposed [kv_dim]
 *              [block_tokens] or Q8_0 rows), so save writes and restore reads the cache's own
 *              memory with no copy between; in the last block the rows (V columns) past n_tokens
 *              are zero
 *   end-32 32  checksum of every byte before it (len bytes): a hash tree, so that many cores can
 *              hash one file: leaf 0 = XXH3-128 (libxxhash, canonical big-endian 16 bytes) of
 *              bytes [0, kv_offset), leaf 1 + j = XXH3-128 of KV block j; sum = BLAKE2b-256
 *              (libsodium) of "LIRSNAP sum v2 xxh3", len as u64 and the leaf digests in order.
 *              A checksum against corruption, not a signature.
 * The file size must equal kv_offset + kv_bytes + 32 exactly.
 * Version 1 (before 2026-12-01: KV as rows in 1 MiB chunks, V untransposed, 1 MiB leaves) is
 * refused with LIR_EUNSUPPORTED. */
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
#define LIR_SNAP_MAX_BLOCK 65536u    /* block_tokens */
#define LIR_SNAP_ALIGN 4096u         /* kv_offset's alignment */

/* A checked view of a snapshot in memory: pointers into the caller's buffer. */
struct lir__snap_view {
    struct lir_snapshot_info info;
    const uint8_t *tokens;      /* n_tokens x i32 LE */
    const uint8_t *logits;      /* n_logits x f32 LE, or NULL */
    const uint8_t *sampler;     /* sampler_len bytes, or NULL */
    size_t sampler_len;
    const uint8_t *kv;          /* kv_bytes */
    uint64_t token_bytes;
    uint32_t block_tokens;
    uint64_t block_bytes;       /* block_tokens x token_bytes: one KV block, one checksum leaf */
    uint64_t n_blocks;          /* KV blocks in the file */
    uint64_t prefix_len;        /* kv_offset: header, name, tokens, logits, sampler, zeros */
    uint32_t name_len, n_logits;
};

/* Checks len bytes of data (borrowed) as a whole snapshot file: magic, version, header fields
 * and their ranges, sizes against len (exactly), token ids against n_vocab, logits not NaN or
 * +inf, zero padding, and — when verify_sum — the checksum (on n_threads threads). Fills *out.
 * Nothing is allocated but the checksum's leaf digests.
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

/* The checksum. Leaves: leaf 0 is bytes [0, first), leaf i >= 1 bytes [first + (i - 1) x leaf,
 * first + i x leaf) cut at len (a snapshot: first = kv_offset, leaf = block_bytes; first = len
 * gives one leaf). A leaf digest is XXH3-128 in canonical form, hashed in pieces of at most
 * LIR_SNAP_PIECE bytes (the same digest as one pass); the root is BLAKE2b over the domain string,
 * len and the digests. */
#define LIR_SNAP_PIECE (1u << 20)
#define LIR_SNAP_LEAF_DIGEST 16
struct lir__snap_leaf; /* a leaf being hashed */
struct lir__snap_leaf *lir__snap_leaf_new(void); /* NULL: out of memory */
void lir__snap_leaf_update(struct lir__snap_leaf *l, const void *p, size_t n);
/* The digest of everything given since new (or the last final), and a fresh start. */
void lir__snap_leaf_final(struct lir__snap_leaf *l, uint8_t out[LIR_SNAP_LEAF_DIGEST]);
void lir__snap_leaf_free(struct lir__snap_leaf *l);
/* One leaf in one call. */
void lir__snap_leaf_digest(const void *p, size_t n, uint8_t out[LIR_SNAP_LEAF_DIGEST]);
/* The sum over n_leaves digests (n_leaves x 16 bytes) of a file whose checksum covers len bytes.
 * LIR_OK, or LIR_EINTERNAL when libsodium fails to start. */
enum lir_status lir__snap_root(const uint8_t *digests, size_t n_leaves, uint64_t len, uint8_t out[LIR_SNAP_SUM]);
/* The whole checksum over data[0..len) (borrowed), on n_threads threads (>= 1; the caller's
 * thread is one of them). LIR_OK, LIR_ENOMEM, LIR_EINTERNAL (libsodium or a thread failed to start). */
enum lir_status lir__snap_checksum(const uint8_t *data, uint64_t len, uint64_t first, uint64_t leaf, int n_threads,
                                   uint8_t out[LIR_SNAP_SUM]);
/* The same over bytes a callback gives: piece(user, off, n, buf) returns the n <= LIR_SNAP_PIECE
 * bytes at off — a pointer into memory, or buf after reading them there (LIR_SNAP_PIECE bytes, one
 * per thread, allocated only when buffered; else NULL) — or NULL when it cannot (the checksum then
 * returns LIR_EIO). Called from n_threads threads. */
typedef const uint8_t *(*lir__snap_piece_fn)(void *user, uint64_t off, size_t n, uint8_t *buf);
enum lir_status lir__snap_checksum_by(lir__snap_piece_fn piece, void *user, bool buffered, uint64_t len,
                                      uint64_t first, uint64_t leaf, int n_threads, uint8_t out[LIR_SNAP_SUM]);

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
