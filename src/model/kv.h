/* kv.h — the paged KV cache of a context: a pool of fixed-size blocks (LIR_KV_BLOCK_TOKENS
 * tokens of K and V over all layers), a block table and the token ids per sequence, and
 * reference counts so that sequences copied from one another share their common blocks.
 *
 * Block size: 64 tokens, the attention padding unit (LIR_KV_PAD): attention sums run over whole
 * blocks of a sequence, so a token's result never depends on its batch, and the tail a sequence
 * wastes is under 64 tokens. Larger blocks would waste more per sequence and share prefixes more
 * coarsely; smaller ones would break the 64-token padding and add per-block call overhead in
 * attention.
 *
 * Block layout (block b at pool + b * block_bytes), per layer il at il * layer_bytes:
 *   K: [64][kv_dim] in the cache type (one row per token)
 *   V: F16  [kv_dim][64], transposed (attention's weights x V is then a plain f16 gemm);
 *      Q8_0 [64][kv_dim], rows (quantized along the head dimension, as K).
 * Single-threaded: the context calls these between forward steps. */
#ifndef LIR_KV_H
#define LIR_KV_H

#include "lir.h"
#include "util/util.h"

#define LIR_KV_BS LIR_KV_BLOCK_TOKENS

struct lir_kv_seq {
    int32_t len;             /* tokens held, positions 0..len-1 */
    int32_t *blocks;         /* (max_blocks) block table: block of tokens [64 j, 64 j + 64) */
    lir_token *tokens;       /* (cap) token ids */
    int32_t cap;
};

struct lir_kv {
    int32_t type;            /* enum lir_type: LIR_TYPE_F16 or LIR_TYPE_Q8_0 */
    int32_t n_layer, kv_dim, n_ctx, n_seq;
    int32_t max_blocks;      /* per sequence: ceil(n_ctx / 64) */
    int32_t n_blocks, n_free;
    size_t row_bytes;        /* one token's K (or V) of one layer: kv_dim values in the type */
    size_t layer_bytes;      /* K + V of one layer in a block: 2 x 64 x row_bytes */
    size_t block_bytes;      /* n_layer x layer_bytes */
    char *pool;              /* (n_blocks, block_bytes) */
    int32_t *refs;           /* (n_blocks) sequences referencing each block */
    int32_t *free_ids;       /* (n_blocks) stack of free blocks, n_free on it */
    struct lir_kv_seq *seqs; /* (n_seq) */
    /* called after a shared block's data is copied to a new block (copy on write), so a cache
     * kept elsewhere with the same block ids (the GPU's) copies it too; may be NULL */
    void (*on_copy)(void *user, int32_t dst, int32_t src);
    void *on_copy_user;
};

/* Pool blocks for the given sizes (kv_size 0 = n_seq x n_ctx, per sequence rounded up to
 * blocks); 0 if a size is invalid. */
int64_t lir__kv_pool_blocks(int32_t n_ctx, int32_t n_seq, int32_t kv_size);
/* Bytes of one token's K or V row of one layer for kv_type (enum lir_kv_type); 0 if the type
 * does not fit kv_dim. */
size_t lir__kv_row_bytes(int32_t kv_type, int32_t kv_dim);

enum lir_status lir__kv_init(struct lir_kv *kv, int32_t kv_type, int32_t n_layer, int32_t kv_dim, int32_t head_dim,
                             int32_t n_ctx, int32_t n_seq, int32_t kv_size, lir_err *e);
void lir__kv_free(struct lir_kv *kv);

static inline char *lir__kv_k(const struct lir_kv *kv, int32_t block, int32_t il) {
    return kv->pool + (size_t)block * kv->block_bytes + (size_t)il * kv->layer_bytes;
}
static inline char *lir__kv_v(const struct lir_kv *kv, int32_t block, int32_t il) {
    return lir__kv_k(kv, block, il) + (size_t)LIR_KV_BS * kv->row_bytes;
}

/* Blocks that must come from the free list to append n tokens to seq after dropping its tokens
 * from p0 on (p0 <= len): new blocks plus a copy of a shared partly filled block written into. */
int32_t lir__kv_blocks_needed(const struct lir_kv *kv, int32_t seq, int32_t p0, int32_t n);
/* Blocks that dropping seq's tokens from p0 on would return to the free list. */
int32_t lir__kv_blocks_freed(const struct lir_kv *kv, int32_t seq, int32_t p0);
/* Makes room for token ids up to n tokens in seq's record. LIR_OK or LIR_ENOMEM. */
enum lir_status lir__kv_reserve_tokens(struct lir_kv *kv, int32_t seq, int32_t n, lir_err *e);
/* Drops seq's tokens from p0 on (p0 <= len), releasing blocks no longer used. */
void lir__kv_seq_cut(struct lir_kv *kv, int32_t seq, int32_t p0);
/* Gives seq exclusive blocks for positions [len, len + n): allocates new blocks and copies a
 * shared block written into. The caller checked lir__kv_blocks_needed against n_free. Does not
 * change len. */
void lir__kv_seq_prepare(struct lir_kv *kv, int32_t seq, int32_t n);
/* Makes block j of seq exclusive (copying it if shared). Needs a free block when shared. */
void lir__kv_seq_own_block(struct lir_kv *kv, int32_t seq, int32_t j);
void lir__kv_seq_copy(struct lir_kv *kv, int32_t src, int32_t dst);

/* Snapshot blocks (the file keeps the cache's own block layout). take: pops n free blocks
 * (reference 1, contents left as they are: the caller fills every byte) into ids; the caller
 * checked n <= n_free. give: returns blocks from take that were not adopted. adopt: seq becomes
 * the n_tok tokens (ids copied) held by blocks ids[0 .. ceil(n_tok / 64)) from take, its old
 * blocks released; the caller reserved n_tok token ids (lir__kv_reserve_tokens). zero_tail:
 * zeroes the rows (columns of a transposed V) m..63 of a block's bytes at b, every layer. */
void lir__kv_take(struct lir_kv *kv, int32_t n, int32_t *ids);
void lir__kv_give(struct lir_kv *kv, int32_t n, const int32_t *ids);
void lir__kv_seq_adopt(struct lir_kv *kv, int32_t seq, const int32_t *ids, int32_t n_tok, const lir_token *toks);
void lir__kv_block_zero_tail(const struct lir_kv *kv, char *b, int32_t m);

/* Snapshot rows: n tokens of seq from p0 (written: blocks prepared, len not changed), per layer
 * n K rows then n V rows (not transposed) of row_bytes. */
void lir__kv_rows_read(const struct lir_kv *kv, int32_t seq, int32_t p0, int32_t n, void *buf);
void lir__kv_rows_write(struct lir_kv *kv, int32_t seq, int32_t p0, int32_t n, const void *buf);

/* A context shift's key rotation: by the angles of position delta, cos and sin per rotated pair
 * as the forward's RoPE computes them. */
struct lir_kv_rot {
    const float *cs;         /* (n_rot) cos, sin */
    int32_t n_rot, head_dim;
    bool neox;
    void (*to_f16)(const float *x, void *y, int64_t n); /* the backend's f32 -> f16 row */
};
/* Layer il of a context shift of seq (len = the old length): rows [n_keep + n_discard, len)
 * move to n_keep on, keys rotated by r. The blocks written must be exclusive (the caller made
 * them so); layers are independent (run them on several threads). tmp: kv_dim floats. */
void lir__kv_shift_layer(struct lir_kv *kv, int32_t seq, int32_t il, int32_t n_keep, int32_t n_discard,
                         const struct lir_kv_rot *r, float *tmp);

/* Rows [off, off + n) of block src, layer il, to the same rows of block dst (exclusive), keys
 * rotated by r (V copied unchanged); src == dst rotates the keys in place. tmp: kv_dim floats. */
void lir__kv_rotate_rows(struct lir_kv *kv, int32_t dst, int32_t src, int32_t il, int32_t off, int32_t n,
                         const struct lir_kv_rot *r, float *tmp);

/* Token p of seq: its block and row within it. */
static inline int32_t lir__kv_block_of(const struct lir_kv *kv, int32_t seq, int32_t p) {
    return kv->seqs[seq].blocks[p / LIR_KV_BS];
}

/* Scalar references of the V-block transposes used by the snapshot accessors (tests): m tokens
 * of a transposed F16 V block segment vt ([D][64], column offset applied) to rows vr ([m][D]),
 * and back. */
void lir__kv_transpose_out_ref(const lir_f16 *vt, lir_f16 *vr, int32_t m, int32_t D);
void lir__kv_transpose_in_ref(const lir_f16 *vr, lir_f16 *vt, int32_t m, int32_t D);
/* The ones the accessors use (SIMD where available). */
void lir__kv_transpose_out(const lir_f16 *vt, lir_f16 *vr, int32_t m, int32_t D);
void lir__kv_transpose_in(const lir_f16 *vr, lir_f16 *vt, int32_t m, int32_t D);

#endif
