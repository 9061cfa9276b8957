/* cuda_forward.c — the GPU forward pass of the llama family (llama, qwen2, qwen3) for one share
 * of the model on one CUDA device (cuda.h), driving the kernels of kernels.h: the share's weight
 * upload, its VRAM buffers (sized by one function that lir_cuda_estimate shares), the layer loop
 * over its layers (the same graph as forward_llama in src/model/forward.c), the CUDA graph of the
 * one-token step, the copy-back of logits, and the step hooks (share.h) that a chain of shares
 * (cuda_split.c) uses. Without LIR_CUDA it compiles to stubs (see cuda.h), and the estimate. */
#include "backend/cuda/cuda.h"
#include "backend/cuda/share.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPLIT_MAX_TOK 16   /* batches up to this many tokens split attention rows (flash-decoding) */
#define SPLIT_MAX 128      /* most splits of the cache rows */
#define STAGE_BYTES ((size_t)64 << 20) /* each of the two pinned upload buffers */
#define SCRATCH16_MAX ((size_t)64 << 20) /* f16 elements of the prompt-GEMM dequantize buffer */

struct gt {                 /* a weight on the device */
    int32_t type;
    int64_t ne0, ne1;
    size_t row_size;
    void *d;                /* NULL when absent */
};

struct glayer {
    struct gt attn_norm, wq, wk, wv, wo, bq, bk, bv, q_norm, k_norm, ffn_norm, w_gate, w_up, w_down;
};

/* ---------------------------------------------------------------- a share's contents (every build) */

struct share {              /* lir_cuda_params' share, resolved */
    int32_t l0, l1;         /* layers [l0, l1) */
    bool embed, head;       /* holds the token embedding / the output head */
};

static enum lir_status share_of(const lir_model *m, const struct lir_cuda_params *p, struct share *s, const char *fn,
                                lir_err *e) {
    const int32_t nl = m->hp.n_layer;
    s->l0 = p->layer_begin;
    s->l1 = p->layer_end ? p->layer_end : nl;
    s->embed = !p->hidden_in;
    s->head = !p->hidden_out;
    if (s->l0 < 0 || s->l0 > s->l1 || s->l1 > nl)
        return lir__errf(e, LIR_EINVAL, "%s: layers [%d, %d) are not a range inside the model's [0, %d)", fn, s->l0,
                         s->l1, nl);
    if (s->embed && s->l0 != 0)
        return lir__errf(e, LIR_EINVAL, "%s: a share with the token embedding must begin at layer 0 (begins at %d)", fn,
                         s->l0);
    return LIR_OK;
}

static bool output_tied(const lir_model *m) { return m->tied_output || m->output.data == m->tok_embd.data; }
static size_t tensor_bytes(const struct lir_tensor *t) { return t->data ? t->row_size * (size_t)t->ne1 : 0; }

/* Each weight of a layer: its place in the model's layer and in the share's (one table for the
 * upload and the estimate). */
static const struct { size_t src, dst; } layer_weights[] = {
#define W(f) { offsetof(struct lir_layer, f), offsetof(struct glayer, f) }
    W(attn_norm), W(wq), W(wk), W(wv), W(wo), W(bq), W(bk), W(bv), W(q_norm), W(k_norm), W(ffn_norm),
    W(w_gate), W(w_up), W(w_down),
#undef W
};

/* Where a share's weights go (all NULL when only sizing); layers is indexed by layer. */
struct gdst {
    struct gt *tok_embd, *output_norm, *output, *rope_freqs;
    struct glayer *layers;
};

/* Calls fn(u, weight, its destination) for every weight share s holds, in upload order. A tied
 * output head held with the embedding is the same weight, visited once (as the embedding). */
static void share_weights(const lir_model *m, const struct share *s, const struct gdst *d,
                          void (*fn)(void *u, const struct lir_tensor *t, struct gt *dst), void *u) {
    if (s->embed) fn(u, &m->tok_embd, d->tok_embd);
    if (s->head) {
        fn(u, &m->output_norm, d->output_norm);
        if (!(s->embed && output_tied(m))) fn(u, &m->output, d->output);
    }
    if (s->l1 > s->l0) fn(u, &m->rope_freqs, d->rope_freqs);
    for (int32_t il = s->l0; il < s->l1; il++)
        for (size_t i = 0; i < sizeof layer_weights / sizeof *layer_weights; i++)
            fn(u, (const struct lir_tensor *)((const char *)&m->layers[il] + layer_weights[i].src),
               d->layers ? (struct gt *)((char *)&d->layers[il] + layer_weights[i].dst) : NULL);
}

struct wsum {
    uint64_t arena;         /* device bytes: each weight rounded up to 256 */
    uint64_t raw;           /* bytes copied (progress) */
};
static void sum_weight(void *u, const struct lir_tensor *t, struct gt *dst) {
    struct wsum *w = u;
    const size_t b = tensor_bytes(t);
    w->raw += b;
    w->arena += (b + 255) / 256 * 256;
}

/* The device buffers of a share besides its weights, in allocation order. */
enum {
    B_KC, B_VC, B_X, B_XB, B_XG, B_Q, B_K, B_V, B_ATT, B_HB, B_HB2, B_PART, B_LOGITS, B_SCRATCH16, B_X16, B_XQ,
    B_XQ8, B_XD, B_XS, B_TOK, B_POS, B_ROWS, B_TAB, B_COUNT
};

struct geom {
    int32_t kv_size;            /* rows a sequence may hold: n_ctx rounded up to 64 */
    int32_t max_blocks, n_blocks; /* blocks of 64 rows: of a sequence at most, in the cache */
    int32_t chunk, n_split;     /* attention rows per split block, splits for <= SPLIT_MAX_TOK tokens */
    size_t scratch_elems;       /* f16 elements of the prompt-GEMM dequantize buffer */
    size_t bytes[B_COUNT];
};

static void share_geom(const lir_model *m, const struct share *s, int32_t n_ctx, int32_t n_batch, int32_t kv_blocks,
                       struct geom *z) {
    const struct lir_hparams *hp = &m->hp;
    z->kv_size = (n_ctx + 63) / 64 * 64;
    z->max_blocks = z->kv_size / 64;
    z->n_blocks = kv_blocks > 0 ? kv_blocks : z->max_blocks;
    z->chunk = 32; /* rows per attention block in decode: more blocks, shorter walks */
    while ((z->kv_size + z->chunk - 1) / z->chunk > SPLIT_MAX) z->chunk += 32;
    z->n_split = (z->kv_size + z->chunk - 1) / z->chunk;
    const size_t KD = (size_t)hp->n_head_kv * hp->head_dim, QD = (size_t)hp->n_head * hp->head_dim;
    const size_t B = (size_t)n_batch, E = (size_t)hp->n_embd, F = (size_t)hp->n_ff;
    const size_t kv_elems = (size_t)(s->l1 - s->l0) * (size_t)z->n_blocks * 64 * KD;
    size_t maxd = E > F ? E : F;
    if (QD > maxd) maxd = QD;
    size_t maxw = 0; /* largest weight matrix needing the dequantize buffer */
    for (int32_t il = s->l0; il < s->l1; il++) {
        const struct lir_layer *L = &m->layers[il];
        const struct lir_tensor *w[] = { &L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down };
        for (size_t i = 0; i < sizeof w / sizeof *w; i++)
            if ((size_t)(w[i]->ne0 * w[i]->ne1) > maxw) maxw = (size_t)(w[i]->ne0 * w[i]->ne1);
    }
    if (s->head && (size_t)(m->output.ne0 * m->output.ne1) > maxw) maxw = (size_t)(m->output.ne0 * m->output.ne1);
    z->scratch_elems = maxw < SCRATCH16_MAX ? maxw : SCRATCH16_MAX;
    if (z->scratch_elems < maxd) z->scratch_elems = maxd;
    size_t *b = z->bytes;
    b[B_KC] = b[B_VC] = kv_elems * 2;
    b[B_X] = b[B_XB] = b[B_XG] = B * E * 4;
    b[B_Q] = b[B_ATT] = B * QD * 4;
    b[B_K] = b[B_V] = B * KD * 4;
    b[B_HB] = b[B_HB2] = B * F * 4;
    b[B_PART] = (size_t)SPLIT_MAX_TOK * hp->n_head * z->n_split * (hp->head_dim + 2) * 4;
    b[B_LOGITS] = s->head ? B * (size_t)hp->n_vocab * 4 : 0;
    b[B_SCRATCH16] = z->scratch_elems * 2;
    b[B_X16] = B * maxd * 2;
    b[B_XQ] = B * maxd * 4;        /* the rounded matmul input: f32 values, */
    b[B_XQ8] = B * maxd;           /* int8 quants, */
    b[B_XD] = B * maxd / 32 * 4 + 16; /* a scale per 32 or 256, */
    b[B_XS] = B * maxd / 16 * 4 + 16; /* sums per 16 */
    b[B_TOK] = b[B_POS] = b[B_ROWS] = B * 4;
    b[B_TAB] = B * (size_t)z->max_blocks * 4; /* each token's sequence's block table */
}

void lir_cuda_estimate(const struct lir_model *m, const struct lir_cuda_params *p, struct lir_cuda_bytes *out) {
    if (!out) return;
    memset(out, 0, sizeof *out);
    struct share s;
    if (!m || !p || p->n_ctx < 1 || p->n_batch < 1 || p->n_batch > 65536 || share_of(m, p, &s, "", NULL)) return;
    struct wsum w = { 0 };
    const struct gdst none = { 0 };
    share_weights(m, &s, &none, sum_weight, &w);
    struct geom z;
    if (p->kv_blocks < 0) return;
    share_geom(m, &s, p->n_ctx, p->n_batch, p->kv_blocks, &z);
    out->weights = w.arena;
    out->kv_cache = (uint64_t)z.bytes[B_KC] + z.bytes[B_VC];
    for (int i = B_X; i < B_COUNT; i++) out->compute += z.bytes[i];
}

#ifndef LIR_CUDA

static enum lir_status no_cuda(lir_err *e, const char *fn) {
    return lir__errf(e, LIR_EUNSUPPORTED, "%s: built without CUDA (configure with -DLIR_CUDA=ON)", fn);
}
int lir_cuda_device_count(char *why, size_t why_len) {
    if (why && why_len) snprintf(why, why_len, "built without CUDA (configure with -DLIR_CUDA=ON)");
    return 0;
}
enum lir_status lir_cuda_create(const struct lir_model *m, const struct lir_cuda_params *p, lir_cuda **out,
                                lir_err *e) {
    if (out) *out = NULL;
    return no_cuda(e, "lir_cuda_create");
}
void lir_cuda_free(lir_cuda *g) { (void)g; }
enum lir_status lir_cuda_eval(lir_cuda *g, const int32_t *tokens, int32_t n, int32_t pos, const int32_t *out_rows,
                              int32_t n_out, float *logits, float *embd, lir_err *e) {
    return no_cuda(e, "lir_cuda_eval");
}
uint64_t lir_cuda_vram_bytes(const lir_cuda *g) { return 0; }
const char *lir_cuda_device_name(const lir_cuda *g) { return ""; }
enum lir_status lir_cuda_profile(lir_cuda *g, int reps, char *buf, size_t len, lir_err *e) {
    return no_cuda(e, "lir_cuda_profile");
}
int32_t lir_cuda_device(const lir_cuda *g) { return -1; }
void *lir__cuda_share_stream(const lir_cuda *g) { return NULL; }
float *lir__cuda_share_x(const lir_cuda *g) { return NULL; }
bool lir__cuda_share_embeds(const lir_cuda *g) { return false; }
bool lir__cuda_share_head(const lir_cuda *g) { return false; }
enum lir_status lir__cuda_share_stage(lir_cuda *g, const int32_t *tokens, int32_t n, int32_t pos,
                                      const int32_t *pos_each, const int32_t *const *tables,
                                      const int32_t *out_rows, int32_t n_out, const char *fn, lir_err *e) {
    return no_cuda(e, fn);
}
enum lir_status lir__cuda_share_copy_block(lir_cuda *g, int32_t dst, int32_t src, lir_err *e) {
    return no_cuda(e, "lir__cuda_share_copy_block");
}
enum lir_status lir__cuda_share_run(lir_cuda *g, int32_t n, int32_t n_out, bool to_hidden, lir_err *e) {
    return no_cuda(e, "lir__cuda_share_run");
}
enum lir_status lir__cuda_share_fetch(lir_cuda *g, int32_t n_out, float *logits, float *embd, lir_err *e) {
    return no_cuda(e, "lir__cuda_share_fetch");
}
enum lir_status lir_cuda_matmul_test(int32_t type, const void *w, int64_t ne0, int64_t ne1, const float *x,
                                     int32_t n_tok, int force, float *out, float *rows_out, lir_err *e) {
    return no_cuda(e, "lir_cuda_matmul_test");
}

#else /* LIR_CUDA */

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include "backend/cuda/kernels.h"

struct lir_cuda {
    const lir_model *m;
    int device;
    char dev_name[300];
    int32_t l0, l1;             /* the share's layers [l0, l1) */
    bool embed, head;           /* holds the token embedding / the output head */
    int32_t n_ctx, n_batch, kv_size;
    int32_t chunk, n_split;     /* attention rows per split block, splits for <= SPLIT_MAX_TOK tokens */
    cudaStream_t st;
    cublasHandle_t blas;
    void *arena;                /* all the share's weights, one allocation */
    size_t arena_bytes;
    struct gt tok_embd, output_norm, output, rope_freqs; /* d NULL when the share lacks them */
    struct glayer *layers;      /* n_layer, filled for [l0, l1) */
    uint16_t *kc, *vc;          /* (l1 - l0, kv_size, n_head_kv*head_dim) f16 each */
    float *x, *xb, *q, *k, *v, *att, *hb, *hb2; /* (n_batch, dim) like forward.c's */
    float *xg;                  /* (n_batch, n_embd) output rows gathered */
    float *part;                /* (SPLIT_MAX_TOK, n_head, n_split, head_dim+2) attention partials */
    float *logits;              /* (n_batch, n_vocab); head shares only */
    void *scratch16, *x16;      /* prompt GEMM: dequantized weight chunk, f16 input */
    struct lirk_act act;        /* (n_batch, widest input) matmul input rounded as the CPU's */
    size_t scratch_elems;
    int32_t *tok_d, *pos_d, *rows_d; /* (n_batch) tokens, positions, output rows */
    int32_t *tok_h, *pos_h, *rows_h; /* pinned (n_batch) */
    int32_t max_blocks, n_blocks; /* blocks of 64 cache rows: a sequence's most, the cache's */
    int32_t *tab_d, *tab_h;     /* (n_batch, max_blocks) each token's sequence's block table; tab_h pinned */
    bool tail;                  /* the staged step's outputs are its last n_out rows */
    uint64_t vram;
    bool no_graph;
    bool pdl;                   /* programmatic dependent launch (launch.cuh) */
    cudaGraphExec_t graph[LIRK_MV_MAX_TOK + 1]; /* [n]: the step of n tokens each wanting logits
                                                   (decode of n sequences); NULL until captured */
    int mm_err;                 /* first cuBLAS/launcher error of the current pass */
};


int lir_cuda_device_count(char *why, size_t why_len) {
    int n = 0;
    cudaError_t r = cudaGetDeviceCount(&n);
    if (r != cudaSuccess) {
        if (why && why_len) snprintf(why, why_len, "no usable CUDA device: %s", cudaGetErrorString(r));
        cudaGetLastError(); /* clear the sticky-free error state */
        return 0;
    }
    if (n == 0 && why && why_len) snprintf(why, why_len, "no CUDA device present");
    return n;
}

static enum lir_status dalloc(lir_cuda *g, void **p, size_t bytes, const char *what, lir_err *e) {
    cudaError_t r = cudaMalloc(p, bytes ? bytes : 16);
    if (r != cudaSuccess) {
        *p = NULL;
        cudaGetLastError();
        return lir__errf(e, r == cudaErrorMemoryAllocation ? LIR_ENOMEM : LIR_EINTERNAL,
                         "cuda: cannot allocate %zu bytes of device memory for %s: %s", bytes, what,
                         cudaGetErrorString(r));
    }
    g->vram += bytes;
    return LIR_OK;
}

/* what each buffer is, for allocation messages */
static const char *const buf_what[B_COUNT] = {
    "K cache", "V cache", "activations", "activations", "activations", "activations", "activations",
    "activations", "activations", "activations", "activations", "attention", "logits", "prompt GEMM",
    "prompt GEMM", "matmul input", "matmul input", "matmul input", "matmul input", "tokens", "positions",
    "output rows", "block tables",
};

/* ---------------------------------------------------------------- weight upload */

/* Weights go one after another into the arena (each at a 256-byte boundary, as sum_weight
 * counts), copied through the two pinned staging buffers. */
struct up_state {
    size_t off, total, done;
    char *base;
    void *stage[2];
    cudaEvent_t ev[2];
    int k;
    lir_cuda *g;
    const struct lir_cuda_params *p;
    lir_err *e;
    enum lir_status s;
};

static enum lir_status check_matrix(const struct lir_tensor *t, lir_err *e) {
    if (!lirk_type_supported(t->type))
        return lir__errf(e, LIR_EUNSUPPORTED, "cuda: tensor '%s' has type %s, which has no CUDA kernels", t->name,
                         lir_type_name(t->type));
    if (t->ne0 % 8 != 0)
        return lir__errf(e, LIR_EUNSUPPORTED, "cuda: tensor '%s' rows have %lld elements, not a multiple of 8",
                         t->name, (long long)t->ne0);
    return LIR_OK;
}

static void up_tensor(void *uu, const struct lir_tensor *t, struct gt *dst) {
    struct up_state *u = uu;
    memset(dst, 0, sizeof *dst);
    if (u->s || !t->data) return;
    const size_t bytes = tensor_bytes(t);
    const size_t off = u->off;
    u->off += (bytes + 255) / 256 * 256;
    dst->type = t->type;
    dst->ne0 = t->ne0;
    dst->ne1 = t->ne1;
    dst->row_size = t->row_size;
    dst->d = u->base + off;
    lir_err *e = u->e;
    for (size_t o = 0; o < bytes; o += STAGE_BYTES) {
        const size_t len = bytes - o < STAGE_BYTES ? bytes - o : STAGE_BYTES;
        const int b = u->k++ & 1;
        cudaError_t r = cudaEventSynchronize(u->ev[b]); /* the copy that used this buffer is done */
        if (r == cudaSuccess) {
            memcpy(u->stage[b], (const char *)t->data + o, len); /* overlaps the other buffer's copy */
            r = cudaMemcpyAsync((char *)dst->d + o, u->stage[b], len, cudaMemcpyHostToDevice, u->g->st);
        }
        if (r == cudaSuccess) r = cudaEventRecord(u->ev[b], u->g->st);
        if (r != cudaSuccess) {
            u->s = cu_err(e, r, "weight upload");
            return;
        }
        u->done += len;
        if (u->p->progress) u->p->progress(u->total ? (float)((double)u->done / (double)u->total) : 1.0f,
                                           u->p->progress_user);
    }
}

static enum lir_status check_model(const lir_model *m, const struct share *sh, lir_err *e) {
    const struct lir_hparams *hp = &m->hp;
    if (m->arch->bert)
        return lir__errf(e, LIR_EUNSUPPORTED, "cuda: architecture %s (an encoder) has no GPU forward pass",
                         m->arch->name);
    if (hp->head_dim % 32 != 0 || hp->head_dim > 256)
        return lir__errf(e, LIR_EUNSUPPORTED, "cuda: head_dim %d is not a multiple of 32 in [32, 256]", hp->head_dim);
    if (hp->n_head_kv < 1 || hp->n_head % hp->n_head_kv != 0)
        return lir__errf(e, LIR_EUNSUPPORTED, "cuda: n_head %d is not a multiple of n_head_kv %d", hp->n_head,
                         hp->n_head_kv);
    if (hp->n_rot > hp->head_dim || hp->n_rot % 2)
        return lir__errf(e, LIR_EUNSUPPORTED, "cuda: rope dimension %d (head_dim %d)", hp->n_rot, hp->head_dim);
    enum lir_status s;
    if ((sh->embed && (s = check_matrix(&m->tok_embd, e))) || (sh->head && (s = check_matrix(&m->output, e))))
        return s;
    for (int32_t il = sh->l0; il < sh->l1; il++) {
        const struct lir_layer *L = &m->layers[il];
        const struct lir_tensor *w[] = { &L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down };
        for (size_t i = 0; i < sizeof w / sizeof *w; i++)
            if ((s = check_matrix(w[i], e))) return s;
        const struct lir_tensor *f[] = { &L->attn_norm, &L->ffn_norm, &L->bq, &L->bk, &L->bv, &L->q_norm, &L->k_norm };
        for (size_t i = 0; i < sizeof f / sizeof *f; i++)
            if (f[i]->data && f[i]->type != LIR_TYPE_F32)
                return lir__errf(e, LIR_EUNSUPPORTED, "cuda: tensor '%s' is %s, expected f32", f[i]->name,
                                 lir_type_name(f[i]->type));
    }
    return LIR_OK;
}

/* ---------------------------------------------------------------- lifetime */

enum lir_status lir_cuda_create(const struct lir_model *m, const struct lir_cuda_params *p, lir_cuda **out,
                                lir_err *e) {
    if (!out) return lir__errf(e, LIR_EINVAL, "lir_cuda_create: out must not be NULL");
    *out = NULL;
    if (!m || !p) return lir__errf(e, LIR_EINVAL, "lir_cuda_create: model and params must not be NULL");
    if (p->n_ctx < 1 || p->n_batch < 1 || p->n_batch > 65536)
        return lir__errf(e, LIR_EINVAL, "lir_cuda_create: n_ctx %d must be >= 1 and n_batch %d in [1, 65536]",
                         p->n_ctx, p->n_batch);
    struct share sh;
    enum lir_status s = share_of(m, p, &sh, "lir_cuda_create", e);
    if (s) return s;
    char why[160];
    const int ndev = lir_cuda_device_count(why, sizeof why);
    if (ndev == 0) return lir__errf(e, LIR_EUNSUPPORTED, "lir_cuda_create: %s", why);
    if (p->device < 0 || p->device >= ndev)
        return lir__errf(e, LIR_EINVAL, "lir_cuda_create: device %d is outside [0, %d)", p->device, ndev);
    if ((s = check_model(m, &sh, e))) return s;
    CK(cudaSetDevice(p->device), "cudaSetDevice");
    lir_cuda *g = calloc(1, sizeof *g);
    if (!g) return lir__errf(e, LIR_ENOMEM, "lir_cuda_create: out of memory");
    const struct lir_hparams *hp = &m->hp;
    g->m = m;
    g->device = p->device;
    g->l0 = sh.l0;
    g->l1 = sh.l1;
    g->embed = sh.embed;
    g->head = sh.head;
    g->no_graph = p->no_graph;
    g->n_ctx = p->n_ctx;
    g->n_batch = p->n_batch;
    struct geom z;
    share_geom(m, &sh, p->n_ctx, p->n_batch, p->kv_blocks, &z);
    g->kv_size = z.kv_size;
    g->max_blocks = z.max_blocks;
    g->n_blocks = z.n_blocks;
    g->chunk = z.chunk;
    g->n_split = z.n_split;
    g->scratch_elems = z.scratch_elems;
    struct cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, p->device) == cudaSuccess) {
        snprintf(g->dev_name, sizeof g->dev_name, "%s (sm_%d%d)", prop.name, prop.major, prop.minor);
        g->pdl = !p->no_pdl && prop.major >= 9;
    }
    g->layers = calloc((size_t)(hp->n_layer > 0 ? hp->n_layer : 1), sizeof *g->layers);
    if (!g->layers) {
        s = lir__errf(e, LIR_ENOMEM, "lir_cuda_create: out of memory");
        goto fail;
    }
    cudaError_t r = cudaStreamCreateWithFlags(&g->st, cudaStreamNonBlocking);
    if (r != cudaSuccess) {
        s = cu_err(e, r, "cudaStreamCreate");
        goto fail;
    }
    if (cublasCreate(&g->blas) != CUBLAS_STATUS_SUCCESS) {
        g->blas = NULL;
        s = lir__errf(e, LIR_EINTERNAL, "cuda: cublasCreate failed");
        goto fail;
    }

    /* weights: size the arena, allocate, copy through the two staging buffers */
    struct wsum ws = { 0 };
    const struct gdst none = { 0 };
    share_weights(m, &sh, &none, sum_weight, &ws);
    if ((s = dalloc(g, &g->arena, ws.arena, "weights", e))) goto fail;
    g->arena_bytes = ws.arena;
    struct up_state u = { .total = ws.raw, .base = g->arena, .g = g, .p = p, .e = e };
    for (int b = 0; b < 2; b++) {
        r = cudaHostAlloc(&u.stage[b], STAGE_BYTES, cudaHostAllocDefault);
        if (r == cudaSuccess) r = cudaEventCreateWithFlags(&u.ev[b], cudaEventDisableTiming);
        if (r != cudaSuccess) {
            s = cu_err(e, r, "pinned staging buffers");
            break;
        }
        cudaEventRecord(u.ev[b], g->st);
    }
    if (!s) {
        const struct gdst d = { &g->tok_embd, &g->output_norm, &g->output, &g->rope_freqs, g->layers };
        share_weights(m, &sh, &d, up_tensor, &u);
        if (sh.embed && sh.head && output_tied(m)) g->output = g->tok_embd;
        s = u.s;
        r = cudaStreamSynchronize(g->st);
        if (!s && r != cudaSuccess) s = cu_err(e, r, "weight upload");
    }
    for (int b = 0; b < 2; b++) {
        if (u.stage[b]) cudaFreeHost(u.stage[b]);
        if (u.ev[b]) cudaEventDestroy(u.ev[b]);
    }
    if (s) goto fail;

    /* KV cache and activations, as share_geom sized them */
    void **dst[B_COUNT] = {
        (void **)&g->kc, (void **)&g->vc, (void **)&g->x, (void **)&g->xb, (void **)&g->xg, (void **)&g->q,
        (void **)&g->k, (void **)&g->v, (void **)&g->att, (void **)&g->hb, (void **)&g->hb2, (void **)&g->part,
        (void **)&g->logits, &g->scratch16, &g->x16, (void **)&g->act.f, (void **)&g->act.q, (void **)&g->act.d,
        (void **)&g->act.s, (void **)&g->tok_d, (void **)&g->pos_d, (void **)&g->rows_d, (void **)&g->tab_d,
    };
    for (int i = 0; i < B_COUNT; i++)
        if ((s = dalloc(g, dst[i], z.bytes[i], buf_what[i], e))) goto fail;
    const size_t B = (size_t)p->n_batch;
    r = cudaHostAlloc((void **)&g->tok_h, B * 4, cudaHostAllocDefault);
    if (r == cudaSuccess) r = cudaHostAlloc((void **)&g->pos_h, B * 4, cudaHostAllocDefault);
    if (r == cudaSuccess) r = cudaHostAlloc((void **)&g->rows_h, B * 4, cudaHostAllocDefault);
    if (r == cudaSuccess) r = cudaHostAlloc((void **)&g->tab_h, z.bytes[B_TAB], cudaHostAllocDefault);
    /* never-written cache rows are never read (attention stops at pos), but keep them finite */
    if (r == cudaSuccess) r = cudaMemsetAsync(g->vc, 0, z.bytes[B_VC], g->st);
    if (r == cudaSuccess) r = cudaMemsetAsync(g->kc, 0, z.bytes[B_KC], g->st);
    if (r == cudaSuccess) r = cudaStreamSynchronize(g->st);
    if (r != cudaSuccess) {
        s = cu_err(e, r, "buffer setup");
        goto fail;
    }
    *out = g;
    return LIR_OK;
fail:
    lir_cuda_free(g);
    return s;
}

void lir_cuda_free(lir_cuda *g) {
    if (!g) return;
    cudaSetDevice(g->device);
    if (g->st) cudaStreamSynchronize(g->st);
    for (int i = 0; i <= LIRK_MV_MAX_TOK; i++)
        if (g->graph[i]) cudaGraphExecDestroy(g->graph[i]);
    void *dev[] = { g->arena, g->kc, g->vc, g->x, g->xb, g->xg, g->q, g->k, g->v, g->att, g->hb, g->hb2, g->part,
                    g->logits, g->scratch16, g->x16, g->act.f, g->act.q, g->act.d, g->act.s, g->tok_d, g->pos_d, g->rows_d,
                    g->tab_d };
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++)
        if (dev[i]) cudaFree(dev[i]);
    if (g->tok_h) cudaFreeHost(g->tok_h);
    if (g->pos_h) cudaFreeHost(g->pos_h);
    if (g->rows_h) cudaFreeHost(g->rows_h);
    if (g->tab_h) cudaFreeHost(g->tab_h);
    if (g->blas) cublasDestroy(g->blas);
    if (g->st) cudaStreamDestroy(g->st);
    free(g->layers);
    free(g);
}

uint64_t lir_cuda_vram_bytes(const lir_cuda *g) { return g ? g->vram : 0; }
const char *lir_cuda_device_name(const lir_cuda *g) { return g ? g->dev_name : ""; }
int32_t lir_cuda_device(const lir_cuda *g) { return g ? g->device : -1; }

/* ---------------------------------------------------------------- the graph */

static void mm_fail(lir_cuda *g, int r) {
    if (r && !g->mm_err) g->mm_err = r;
}

static void mm(lir_cuda *g, const struct gt *w, const struct gt *bias, const float *in, int32_t n, float *out) {
    mm_fail(g, lirk_matmul(g->st, g->blas, w->type, w->d, w->row_size, w->ne0, w->ne1, in, n,
                           bias && bias->d ? bias->d : NULL, out, g->scratch16, g->scratch_elems, g->x16, &g->act, 0));
}

/* Whether the k weights read one rounded input (equal row length and activation rounding). */
static bool same_act(int k, const struct gt *const *w) {
    for (int i = 1; i < k; i++)
        if (w[i]->ne0 != w[0]->ne0 || lirk_act_mode(w[i]->type) != lirk_act_mode(w[0]->type)) return false;
    return true;
}

/* Decode products of k weights (same_act) from the input already rounded in g->act: one launch
 * per run of weights of one type. */
static void mv(lir_cuda *g, int k, const struct gt *const *w, const struct gt *const *bias, int32_t n,
               float *const *out, int mode) {
    for (int i = 0; i < k;) {
        int j = i + 1;
        while (j < k && w[j]->type == w[i]->type) j++;
        const void *dw[3];
        size_t rs[3];
        int64_t ne1[3];
        const float *db[3];
        for (int t = i; t < j; t++) {
            dw[t - i] = w[t]->d;
            rs[t - i] = w[t]->row_size;
            ne1[t - i] = w[t]->ne1;
            db[t - i] = bias && bias[t] && bias[t]->d ? bias[t]->d : NULL;
        }
        mm_fail(g, lirk_matvec(g->st, w[i]->type, j - i, dw, rs, ne1, db, out + i, w[i]->ne0, &g->act, n, mode));
        i = j;
    }
}

/* Enqueues the forward pass of the share's layers for the n tokens in tok_d (embedding share; else
 * the residual stream already in g->x) at positions pos_d; a head share's n_out rows rows_d (or,
 * if all_tail, the last n_out rows) get logits in g->logits, or, if to_hidden, their
 * output-normed states in g->xb. Without the head the result is the residual stream in g->x. Up to LIRK_MV_MAX_TOK tokens
 * (decode) take the mat-vec kernels with the norms fused into the rounding of their outputs, the
 * residual adds into the products and SwiGLU into the gate/up product; more (a prompt) the GEMM
 * path. */
static void forward(lir_cuda *g, int32_t n, int32_t n_out, bool all_tail, bool to_hidden) {
    const lir_model *m = g->m;
    const struct lir_hparams *hp = &m->hp;
    const int32_t E = hp->n_embd, hd = hp->head_dim, KD = hp->n_head_kv * hd, F = hp->n_ff;
    const float eps = hp->rms_eps;
    const int neox = m->arch->rope == LIR_ROPE_NEOX;
    const bool dec = n <= LIRK_MV_MAX_TOK;
    const int32_t split = n <= SPLIT_MAX_TOK ? g->n_split : 1, chunk = n <= SPLIT_MAX_TOK ? g->chunk : g->kv_size;
    if (g->embed) lirk_get_rows(g->st, g->tok_embd.type, g->tok_embd.d, g->tok_embd.row_size, E, g->tok_d, n, g->x);
    for (int32_t il = g->l0; il < g->l1; il++) {
        const struct glayer *L = &g->layers[il];
        const size_t kvo = (size_t)(il - g->l0) * g->n_blocks * 64 * KD; /* the share's cache: its layers only */
        uint16_t *kc = g->kc + kvo, *vc = g->vc + kvo;
        const struct gt *qkv[3] = { &L->wq, &L->wk, &L->wv }, *qkv_b[3] = { &L->bq, &L->bk, &L->bv };
        float *qkv_o[3] = { g->q, g->k, g->v };
        if (dec && same_act(3, qkv)) {
            lirk_rmsnorm_act(g->st, g->x, L->attn_norm.d, n, E, eps, L->wq.type, &g->act);
            mv(g, 3, qkv, qkv_b, n, qkv_o, LIRK_MV_STORE);
        } else {
            lirk_rmsnorm(g->st, g->x, L->attn_norm.d, g->xb, n, E, eps);
            for (int i = 0; i < 3; i++) mm(g, qkv[i], qkv_b[i], g->xb, n, qkv_o[i]);
        }
        lirk_rope_kv(g->st, g->q, g->k, g->v, m->arch->qk_norm ? L->q_norm.d : NULL,
                     m->arch->qk_norm ? L->k_norm.d : NULL, eps, kc, vc, g->pos_d, g->tab_d, g->max_blocks, n,
                     hp->n_head, hp->n_head_kv, hd,
                     hp->n_rot, neox, hp->rope_base, hp->rope_freq_scale, g->rope_freqs.d);
        const struct gt *wo = &L->wo, *down = &L->w_down;
        const struct gt *gu[2] = { &L->w_gate, &L->w_up }, *gu_b[2] = { NULL, NULL };
        lirk_attention(g->st, g->q, kc, vc, g->pos_d, g->tab_d, g->max_blocks, n, hp->n_head, hp->n_head_kv, hd, 1.0f / sqrtf((float)hd),
                       chunk, split, g->part, g->att, dec ? &g->act : NULL, wo->type);
        if (dec) {
            mv(g, 1, &wo, NULL, n, &g->x, LIRK_MV_ADD);
        } else {
            mm(g, wo, NULL, g->att, n, g->xb);
            lirk_add(g->st, g->x, g->xb, (int64_t)n * E);
        }
        bool hb_rounded = false; /* the SwiGLU product also wrote down's input, rounded, to hb2 */
        if (dec && same_act(2, gu)) {
            lirk_rmsnorm_act(g->st, g->x, L->ffn_norm.d, n, E, eps, L->w_gate.type, &g->act);
            if (L->w_gate.type == L->w_up.type && L->w_gate.ne1 == L->w_up.ne1) {
                const int dm = lirk_act_mode(down->type);
                hb_rounded = dm == LIRK_ACT_F32 || dm == LIRK_ACT_F16 || dm == LIRK_ACT_BF16;
                float *o[2] = { g->hb, hb_rounded ? g->hb2 : NULL };
                mv(g, 2, gu, gu_b, n, o, LIRK_MV_SWIGLU | (hb_rounded ? LIRK_MV_ROUND_OUT(dm) : 0));
            } else {
                float *o[2] = { g->hb, g->hb2 };
                mv(g, 2, gu, gu_b, n, o, LIRK_MV_STORE);
                lirk_swiglu(g->st, g->hb, g->hb2, g->hb, (int64_t)n * F);
            }
        } else {
            lirk_rmsnorm(g->st, g->x, L->ffn_norm.d, g->xb, n, E, eps);
            mm(g, gu[0], NULL, g->xb, n, g->hb);
            mm(g, gu[1], NULL, g->xb, n, g->hb2);
            lirk_swiglu(g->st, g->hb, g->hb2, g->hb, (int64_t)n * F);
        }
        if (dec) {
            if (hb_rounded) { /* down's input: the rounded SwiGLU output in hb2 */
                const struct lirk_act a2 = { g->hb2, NULL, NULL, NULL };
                mm_fail(g, lirk_matvec(g->st, down->type, 1, (const void *const *)&down->d, &down->row_size,
                                       &down->ne1, NULL, &g->x, down->ne0, &a2, n, LIRK_MV_ADD));
            } else {
                lirk_act_quant(g->st, down->type, g->hb, n, down->ne0, &g->act);
                mv(g, 1, &down, NULL, n, &g->x, LIRK_MV_ADD);
            }
        } else {
            mm(g, down, NULL, g->hb, n, g->xb);
            lirk_add(g->st, g->x, g->xb, (int64_t)n * E);
        }
    }
    if (n_out <= 0 || !g->head) return;
    const float *xo = g->x + (size_t)(n - n_out) * E;
    if (!all_tail) { /* gather the output rows */
        lirk_get_rows(g->st, LIR_TYPE_F32, g->x, (size_t)E * 4, E, g->rows_d, n_out, g->xg);
        xo = g->xg;
    }
    if (!to_hidden && n_out <= LIRK_MV_MAX_TOK) {
        const struct gt *w = &g->output;
        lirk_rmsnorm_act(g->st, xo, g->output_norm.d, n_out, E, eps, w->type, &g->act);
        mv(g, 1, &w, NULL, n_out, &g->logits, LIRK_MV_STORE);
        return;
    }
    lirk_rmsnorm(g->st, xo, g->output_norm.d, g->xb, n_out, E, eps);
    if (!to_hidden) mm(g, &g->output, NULL, g->xb, n_out, g->logits);
}

/* ---------------------------------------------------------------- a step (share.h hooks) */

void *lir__cuda_share_stream(const lir_cuda *g) { return g->st; }
float *lir__cuda_share_x(const lir_cuda *g) { return g->x; }
bool lir__cuda_share_embeds(const lir_cuda *g) { return g->embed; }
bool lir__cuda_share_head(const lir_cuda *g) { return g->head; }

enum lir_status lir__cuda_share_stage(lir_cuda *g, const int32_t *tokens, int32_t n, int32_t pos,
                                      const int32_t *pos_each, const int32_t *const *tables,
                                      const int32_t *out_rows, int32_t n_out, const char *fn, lir_err *e) {
    if (n < 1 || n > g->n_batch || (!pos_each && (pos < 0 || (int64_t)pos + n > g->n_ctx)) || n_out < 0 ||
        n_out > n || (g->embed && !tokens))
        return lir__errf(e, LIR_EINVAL, "%s: bad arguments (n %d, n_batch %d, pos %d, n_ctx %d, n_out %d%s)", fn, n,
                         g->n_batch, pos, g->n_ctx, n_out, g->embed && !tokens ? ", no tokens" : "");
    if (!tables && g->n_blocks < g->max_blocks)
        return lir__errf(e, LIR_EINVAL, "%s: a cache of %d blocks needs block tables (a sequence may use %d)", fn,
                         g->n_blocks, g->max_blocks);
    const struct lir_hparams *hp = &g->m->hp;
    bool tail = true; /* the outputs are the last n_out rows */
    for (int32_t i = 0; i < n_out && out_rows; i++) {
        if (out_rows[i] < 0 || out_rows[i] >= n)
            return lir__errf(e, LIR_EINVAL, "%s: output row %d is outside [0, %d)", fn, out_rows[i], n);
        g->rows_h[i] = out_rows[i];
        if (out_rows[i] != n - n_out + i) tail = false;
    }
    for (int32_t i = 0; i < n; i++) {
        if (g->embed) {
            if (tokens[i] < 0 || tokens[i] >= hp->n_vocab)
                return lir__errf(e, LIR_EINVAL, "%s: token %d at index %d is outside [0, %d)", fn, tokens[i], i,
                                 hp->n_vocab);
            g->tok_h[i] = tokens[i];
        }
        const int32_t p = pos_each ? pos_each[i] : pos + i;
        if (p < 0 || p >= g->n_ctx)
            return lir__errf(e, LIR_EINVAL, "%s: position %d at index %d is outside [0, %d)", fn, p, i, g->n_ctx);
        g->pos_h[i] = p;
        int32_t *row = g->tab_h + (size_t)i * g->max_blocks; /* the blocks of positions 0..p */
        for (int32_t j = 0; j <= p / 64; j++) {
            const int32_t b = tables ? tables[i][j] : j;
            if (b < 0 || b >= g->n_blocks)
                return lir__errf(e, LIR_EINVAL, "%s: block %d of token %d's table is %d, outside [0, %d)", fn, j, i,
                                 b, g->n_blocks);
            row[j] = b;
        }
    }
    g->tail = tail;
    CK(cudaSetDevice(g->device), "cudaSetDevice");
    if (g->embed)
        CK(cudaMemcpyAsync(g->tok_d, g->tok_h, (size_t)n * 4, cudaMemcpyHostToDevice, g->st), "token upload");
    CK(cudaMemcpyAsync(g->pos_d, g->pos_h, (size_t)n * 4, cudaMemcpyHostToDevice, g->st), "position upload");
    CK(cudaMemcpyAsync(g->tab_d, g->tab_h, (size_t)n * g->max_blocks * 4, cudaMemcpyHostToDevice, g->st),
       "block table upload");
    if (g->head && !tail)
        CK(cudaMemcpyAsync(g->rows_d, g->rows_h, (size_t)n_out * 4, cudaMemcpyHostToDevice, g->st), "row upload");
    return LIR_OK;
}

enum lir_status lir__cuda_share_run(lir_cuda *g, int32_t n, int32_t n_out, bool to_hidden, lir_err *e) {
    if (!g->head) n_out = 0, to_hidden = false;
    CK(cudaSetDevice(g->device), "cudaSetDevice");
    lirk_set_pdl(g->pdl);
    g->mm_err = 0;
    /* a decode step of n <= LIRK_MV_MAX_TOK tokens (one per sequence), each wanting logits (a head
     * share; any such step of a share without the head): replayed from its graph */
    const bool step = n <= LIRK_MV_MAX_TOK && !g->no_graph && (!g->head || (n_out == n && g->tail && !to_hidden));
    if (step) {
        if (!g->graph[n]) { /* capture it once: it reads its inputs on the device */
            cudaGraph_t gr;
            CK(cudaStreamBeginCapture(g->st, cudaStreamCaptureModeThreadLocal), "graph capture");
            forward(g, n, g->head ? n : 0, true, false);
            cudaError_t r = cudaStreamEndCapture(g->st, &gr);
            if (r != cudaSuccess) return cu_err(e, r, "graph capture");
            if (g->mm_err) {
                cudaGraphDestroy(gr);
                return lir__errf(e, LIR_EINTERNAL, "cuda: matmul failed (status %d)", g->mm_err);
            }
            r = cudaGraphInstantiate(&g->graph[n], gr, 0);
            cudaGraphDestroy(gr);
            if (r != cudaSuccess) {
                g->graph[n] = NULL;
                return cu_err(e, r, "graph instantiate");
            }
        }
        CK(cudaGraphLaunch(g->graph[n], g->st), "graph launch");
    } else {
        forward(g, n, n_out, g->tail, to_hidden);
        if (g->mm_err) return lir__errf(e, LIR_EINTERNAL, "cuda: matmul failed (status %d)", g->mm_err);
    }
    return LIR_OK;
}

/* The cache block src copied to dst in every layer of the share (a shared block written into:
 * the context copies it on write). */
enum lir_status lir__cuda_share_copy_block(lir_cuda *g, int32_t dst, int32_t src, lir_err *e) {
    if (dst < 0 || dst >= g->n_blocks || src < 0 || src >= g->n_blocks)
        return lir__errf(e, LIR_EINVAL, "cuda: block copy %d -> %d outside [0, %d)", src, dst, g->n_blocks);
    if (g->l1 == g->l0 || dst == src) return LIR_OK;
    const size_t KD = (size_t)g->m->hp.n_head_kv * g->m->hp.head_dim, blk = 64 * KD * 2;
    const size_t pitch = (size_t)g->n_blocks * blk; /* one layer's cache */
    CK(cudaSetDevice(g->device), "cudaSetDevice");
    CK(cudaMemcpy2DAsync((char *)g->kc + (size_t)dst * blk, pitch, (char *)g->kc + (size_t)src * blk, pitch, blk,
                         (size_t)(g->l1 - g->l0), cudaMemcpyDeviceToDevice, g->st), "K block copy");
    CK(cudaMemcpy2DAsync((char *)g->vc + (size_t)dst * blk, pitch, (char *)g->vc + (size_t)src * blk, pitch, blk,
                         (size_t)(g->l1 - g->l0), cudaMemcpyDeviceToDevice, g->st), "V block copy");
    return LIR_OK;
}

enum lir_status lir__cuda_share_fetch(lir_cuda *g, int32_t n_out, float *logits, float *embd, lir_err *e) {
    if (!g->head || n_out <= 0) return LIR_OK;
    const struct lir_hparams *hp = &g->m->hp;
    CK(cudaSetDevice(g->device), "cudaSetDevice");
    if (embd)
        CK(cudaMemcpyAsync(embd, g->xb, (size_t)n_out * hp->n_embd * 4, cudaMemcpyDeviceToHost, g->st),
           "hidden-state copy");
    else
        CK(cudaMemcpyAsync(logits, g->logits, (size_t)n_out * hp->n_vocab * 4, cudaMemcpyDeviceToHost, g->st),
           "logits copy");
    return LIR_OK;
}

enum lir_status lir_cuda_eval(lir_cuda *g, const int32_t *tokens, int32_t n, int32_t pos, const int32_t *out_rows,
                              int32_t n_out, float *logits, float *embd, lir_err *e) {
    if (!g || !tokens || (n_out > 0 && !logits && !embd))
        return lir__errf(e, LIR_EINVAL, "lir_cuda_eval: bad arguments (share %s, tokens %s, n_out %d without output)",
                         g ? "set" : "NULL", tokens ? "set" : "NULL", n_out);
    if (!g->embed || !g->head)
        return lir__errf(e, LIR_EINVAL,
                         "lir_cuda_eval: the share of layers [%d, %d) lacks the token embedding or the output head "
                         "(evaluate it in a lir_cuda_chain)", g->l0, g->l1);
    enum lir_status s;
    if ((s = lir__cuda_share_stage(g, tokens, n, pos, NULL, NULL, out_rows, n_out, "lir_cuda_eval", e)) ||
        (s = lir__cuda_share_run(g, n, n_out, embd != NULL, e)) ||
        (s = lir__cuda_share_fetch(g, n_out, logits, embd, e)))
        return s;
    CK(cudaStreamSynchronize(g->st), "forward pass");
    CK(cudaGetLastError(), "forward pass kernels");
    return LIR_OK;
}

/* ---------------------------------------------------------------- benchmark hook */

enum lir_status lir_cuda_profile(lir_cuda *g, int reps, char *buf, size_t len, lir_err *e) {
    if (!g || !g->graph[1] || !g->embed || !g->head || g->l1 == g->l0 || reps < 1 || !buf || !len)
        return lir__errf(e, LIR_EINVAL, "lir_cuda_profile: needs a whole-model share with a captured one-token "
                                        "step and reps >= 1");
    cudaEvent_t t0, t1;
    CK(cudaSetDevice(g->device), "cudaSetDevice");
    lirk_set_pdl(g->pdl);
    CK(cudaEventCreate(&t0), "event");
    CK(cudaEventCreate(&t1), "event");
    float ms = 0;
    size_t o = (size_t)snprintf(buf, len, "{");
    /* the whole step */
    cudaEventRecord(t0, g->st);
    for (int r = 0; r < reps; r++) cudaGraphLaunch(g->graph[1], g->st);
    cudaEventRecord(t1, g->st);
    CK(cudaEventSynchronize(t1), "profile");
    cudaEventElapsedTime(&ms, t0, t1);
    o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "\"step_us\":%.1f", 1e3 * ms / reps);
    static const char *const kinds[] = { "q", "k", "v", "o", "gate_up", "down", "output" };
    for (int kind = 0; kind < 7; kind++) {
        double bytes = 0;
        g->mm_err = 0;
        cudaEventRecord(t0, g->st);
        for (int r = 0; r < reps; r++)
            for (int32_t il = g->l0; il < (kind == 6 ? g->l0 + 1 : g->l1); il++) {
                const struct glayer *L = &g->layers[il];
                const struct gt *w[2] = { kind == 0 ? &L->wq : kind == 1 ? &L->wk : kind == 2 ? &L->wv
                                          : kind == 3 ? &L->wo : kind == 4 ? &L->w_gate : kind == 5 ? &L->w_down
                                          : &g->output, &L->w_up };
                float *out[2] = { kind == 4 ? g->hb : kind == 6 ? g->logits : g->xg, NULL };
                mv(g, kind == 4 ? 2 : 1, w, NULL, 1, out, kind == 4 ? LIRK_MV_SWIGLU : LIRK_MV_STORE);
                if (r == 0)
                    for (int i = 0; i < (kind == 4 ? 2 : 1); i++) bytes += (double)w[i]->row_size * (double)w[i]->ne1;
            }
        cudaEventRecord(t1, g->st);
        CK(cudaEventSynchronize(t1), "profile");
        cudaEventElapsedTime(&ms, t0, t1);
        const double us = 1e3 * ms / reps / (kind == 6 ? 1 : g->l1 - g->l0);
        o += (size_t)snprintf(buf + o, o < len ? len - o : 0, ",\"%s_us\":%.2f,\"%s_gbs\":%.0f", kinds[kind], us,
                              kinds[kind], bytes / (1e-3 * ms / reps) / 1e9);
    }
    if (o < len) snprintf(buf + o, len - o, "}");
    cudaEventDestroy(t0);
    cudaEventDestroy(t1);
    CK(cudaGetLastError(), "profile kernels");
    if (g->mm_err) return lir__errf(e, LIR_EINTERNAL, "lir_cuda_profile: matvec status %d", g->mm_err);
    return LIR_OK;
}

/* ---------------------------------------------------------------- kernel test hook */

enum lir_status lir_cuda_matmul_test(int32_t type, const void *w, int64_t ne0, int64_t ne1, const float *x,
                                     int32_t n_tok, int force, float *out, float *rows_out, lir_err *e) {
    char why[160];
    if (lir_cuda_device_count(why, sizeof why) == 0)
        return lir__errf(e, LIR_EUNSUPPORTED, "lir_cuda_matmul_test: %s", why);
    if (!lirk_type_supported(type) || ne0 % 8 || n_tok < 1 || ((force == 1 || force == 3) && n_tok > LIRK_MV_MAX_TOK))
        return lir__errf(e, LIR_EINVAL, "lir_cuda_matmul_test: bad arguments");
    CK(cudaSetDevice(0), "cudaSetDevice");
    const size_t rs = lir_type_row_size(type, ne0), wb = rs * (size_t)ne1;
    void *dw = NULL, *dx = NULL, *dout = NULL, *ds = NULL, *dx16 = NULL, *dids = NULL, *drows = NULL;
    struct lirk_act act = { 0 };
    cublasHandle_t h = NULL;
    enum lir_status s = LIR_OK;
    const int32_t ids[4] = { 0, 1, 2, 3 };
    const int32_t nrow = ne1 < 4 ? (int32_t)ne1 : 4;
    cudaError_t r = cudaMalloc(&dw, wb);
    if (!r) r = cudaMalloc(&dx, (size_t)n_tok * ne0 * 4);
    if (!r) r = cudaMalloc(&dout, (size_t)n_tok * ne1 * 4);
    if (!r) r = cudaMalloc(&ds, (size_t)ne0 * 64 * 2); /* small: several GEMM chunks */
    if (!r) r = cudaMalloc(&dx16, (size_t)n_tok * ne0 * 2);
    if (!r) r = cudaMalloc((void **)&act.f, (size_t)n_tok * ne0 * 4);
    if (!r) r = cudaMalloc((void **)&act.q, (size_t)n_tok * ne0);
    if (!r) r = cudaMalloc((void **)&act.d, (size_t)n_tok * ne0 / 32 * 4 + 16);
    if (!r) r = cudaMalloc((void **)&act.s, (size_t)n_tok * ne0 / 16 * 4 + 16);
    if (!r) r = cudaMalloc(&dids, sizeof ids);
    if (!r) r = cudaMalloc(&drows, (size_t)nrow * ne0 * 4);
    if (!r) r = cudaMemcpy(dw, w, wb, cudaMemcpyHostToDevice);
    if (!r) r = cudaMemcpy(dx, x, (size_t)n_tok * ne0 * 4, cudaMemcpyHostToDevice);
    if (!r) r = cudaMemcpy(dids, ids, sizeof ids, cudaMemcpyHostToDevice);
    if (r) {
        s = cu_err(e, r, "test setup");
        goto done;
    }
    if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) {
        h = NULL;
        s = lir__errf(e, LIR_EINTERNAL, "cuda: cublasCreate failed");
        goto done;
    }
    int rc = lirk_matmul(NULL, h, type, dw, rs, ne0, ne1, dx, n_tok, NULL, dout, ds, (size_t)ne0 * 64, dx16, &act,
                         force);
    if (rc) {
        s = lir__errf(e, LIR_EINTERNAL, "lir_cuda_matmul_test: matmul status %d", rc);
        goto done;
    }
    lirk_get_rows(NULL, type, dw, rs, ne0, dids, nrow, drows);
    r = cudaDeviceSynchronize();
    if (!r) r = cudaGetLastError();
    if (!r) r = cudaMemcpy(out, dout, (size_t)n_tok * ne1 * 4, cudaMemcpyDeviceToHost);
    if (!r && rows_out) r = cudaMemcpy(rows_out, drows, (size_t)nrow * ne0 * 4, cudaMemcpyDeviceToHost);
    if (r) s = cu_err(e, r, "test run");
done:
    if (h) cublasDestroy(h);
    void *all[] = { dw, dx, dout, ds, dx16, dids, drows, act.f, act.q, act.d, act.s };
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        if (all[i]) cudaFree(all[i]);
    return s;
}

#endif /* LIR_CUDA */
