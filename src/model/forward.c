/* forward.c — the llama-family forward pass (llama, qwen2, qwen3), written once against
 * the backend op table (backend.h), and the inference context: paged multi-sequence KV cache
 * (kv.h), activation buffers, logits, batch decode in n_batch steps, sequence operations
 * (clear, copy, truncate with RoPE re-rotation), status, and the snapshot accessors.
 *
 * With gpu_layers (lir_context_params) the layers are split as lir_cuda_plan_layers places them:
 * the CPU runs the embedding gather and layers [0, n_cpu_layers) (forward_llama over that range,
 * its KV cache in the paged pool, which then holds those layers only), hands its residual stream
 * c->x to the chain of GPU shares (src/backend/cuda) for the other layers, and runs the output
 * head on the rows that chain sends back — or, with full offload, the chain does it all. */
#include "model/forward.h"
#include "backend/backend.h"
#include "backend/cuda/cuda.h"
#include "model/kv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct lir_context {
    lir_model *model;
    lir_cpu *cpu;
    lir_cuda_chain *gpu;         /* layers [n_cpu_layers, n_layer) on CUDA GPUs (gpu_layers), else NULL */
    int32_t n_cpu_layers;        /* layers [0, n_cpu_layers) run on the CPU (n_layer without gpu) */
    bool gpu_embed, gpu_head;    /* the chain gathers the embedding / runs the output head (full offload) */
    bool gpu_copy_failed;        /* a copy on write of a KV block in VRAM failed (message in err) */
    int32_t n_ctx, n_batch;
    int32_t kv_type;             /* enum lir_kv_type */
    struct lir_kv kv;            /* paged KV cache: blocks, tables, token ids (kv.h) */
    const int32_t **tok_table;   /* (n_batch) block table of each token's sequence in a step */
    int32_t *jobs;               /* (2 n_batch) attention jobs of a step: first token, count */
    int32_t *out_rows;           /* (n_batch) rows of a step that get logits */
    int32_t *iota;               /* (n_batch) 0, 1, 2, ... */
    int32_t *seq_next;           /* (n_seq) scratch: next position per sequence */
    int32_t *out_map;            /* (out_map_cap) token index of the last decode -> logits row, -1 */
    int32_t out_map_n, out_map_cap;
    /* activations, each n_batch rows */
    float *x;    /* (n_batch, n_embd) residual stream */
    float *xb;   /* (n_batch, n_embd) normed input / block output */
    float *q;    /* (n_batch, n_head*head_dim) */
    float *k;    /* (n_batch, n_head_kv*head_dim) */
    float *v;    /* (n_batch, n_head_kv*head_dim) */
    float *att;  /* (n_batch, n_head*head_dim) */
    float *hb;   /* (n_batch, n_ff) gate, then swiglu */
    float *hb2;  /* (n_batch, n_ff) up */
    int32_t *pos;/* (n_batch) */
    float *logits;           /* (logits_cap, n_vocab) */
    int64_t logits_cap, n_logits;
    lir_err err;
};

struct fwd_args {
    lir_context *ctx;
    const lir_token *tokens;
    int32_t n_tok;
    int32_t n_jobs;          /* attention jobs in ctx->jobs */
    int32_t n_out;           /* rows ctx->out_rows[0..n_out) get an output */
    int32_t l0, l1;          /* forward_llama runs layers [l0, l1) (the CPU's part) */
    bool embed;              /* forward_llama first gathers the token embeddings into ctx->x */
    bool head;               /* forward_llama ends with the output head (else ctx->x is the result) */
    float *logits;           /* (n_out, n_vocab) */
    float *embd;             /* if set: the output-normed hidden states of the out rows
                                (n_out, n_embd) instead of logits (embeddings) */
};

/* ---------------------------------------------------------------- the graph */

static void forward_llama(struct lir_exec *x, const struct lir_backend_ops *B, void *varg) {
    struct fwd_args *a = varg;
    lir_context *c = a->ctx;
    const lir_model *m = c->model;
    const struct lir_hparams *hp = &m->hp;
    int32_t n = a->n_tok;
    const int32_t E = hp->n_embd, hd = hp->head_dim;
    const int32_t *out_rows = c->out_rows; /* rows of x that get an output */
    const int32_t KD = hp->n_head_kv * hd, F = hp->n_ff;
    const struct lir_rope_params rp = {
        .mode = m->arch->rope, .n_rot = hp->n_rot, .base = hp->rope_base,
        .freq_scale = hp->rope_freq_scale, .freq_factors = m->rope_freqs.data,
    };

    if (a->embed) B->get_rows(x, &m->tok_embd, a->tokens, n, c->x);
    for (int32_t il = a->l0; il < a->l1; il++) {
        const struct lir_layer *L = &m->layers[il];
        const struct lir_kv_layer kvl = {
            .type = c->kv.type, .k = lir__kv_k(&c->kv, 0, il), .v = lir__kv_v(&c->kv, 0, il),
            .block_stride = c->kv.block_bytes, .row_bytes = c->kv.row_bytes, .tables = c->tok_table,
        };

        /* attention */
        B->rmsnorm(x, c->x, L->attn_norm.data, c->xb, n, E, hp->rms_eps);
        const struct lir_mm qkv[3] = {
            { &L->wq, L->bq.data, c->q }, { &L->wk, L->bk.data, c->k }, { &L->wv, L->bv.data, c->v },
        };
        B->matmul(x, qkv, 3, c->xb, n);
        if (m->arch->qk_norm) {
            B->rmsnorm(x, c->q, L->q_norm.data, c->q, (int64_t)n * hp->n_head, hd, hp->rms_eps);
            B->rmsnorm(x, c->k, L->k_norm.data, c->k, (int64_t)n * hp->n_head_kv, hd, hp->rms_eps);
        }
        B->rope(x, c->q, n, hp->n_head, hd, c->pos, &rp);
        B->rope(x, c->k, n, hp->n_head_kv, hd, c->pos, &rp);
        B->kv_store(x, &kvl, c->k, c->v, n, KD, c->pos);
        const struct lir_attn_args aa = {
            .q = c->q, .kv = &kvl, .pos = c->pos, .jobs = c->jobs, .n_jobs = a->n_jobs, .n_tok = n,
            .n_head = hp->n_head, .n_head_kv = hp->n_head_kv, .head_dim = hd, .scale = 1.0f / sqrtf((float)hd),
            .out = c->att,
        };
        B->attention(x, &aa);
        const struct lir_mm o = { &L->wo, NULL, c->xb };
        B->matmul(x, &o, 1, c->att, n);
        B->add(x, c->x, c->xb, (int64_t)n * E);
        if (il == hp->n_layer - 1 && a->head && a->n_out < n) {
            /* the last layer's feed-forward only for the rows that get an output (llama.cpp's
             * inp_out_ids): move them to rows [0, n_out) of x */
            B->copy_rows(x, c->x, c->out_rows, a->n_out, E, c->xb);
            B->copy_rows(x, c->xb, c->iota, a->n_out, E, c->x);
            n = a->n_out;
            out_rows = c->iota;
        }

        /* feed-forward (SwiGLU) */
        B->rmsnorm(x, c->x, L->ffn_norm.data, c->xb, n, E, hp->rms_eps);
        const struct lir_mm gu[2] = { { &L->w_gate, NULL, c->hb }, { &L->w_up, NULL, c->hb2 } };
        B->matmul(x, gu, 2, c->xb, n);
        B->swiglu(x, c->hb, c->hb2, c->hb, (int64_t)n * F);
        const struct lir_mm d = { &L->w_down, NULL, c->xb };
        B->matmul(x, &d, 1, c->hb, n);
        B->add(x, c->x, c->xb, (int64_t)n * E);
    }
    /* output head, only for the rows that need logits */
    const int32_t nr = a->n_out;
    if (!a->head || nr <= 0) return;
    B->copy_rows(x, c->x, out_rows, nr, E, c->xb);
    if (a->embd) { /* embeddings: llama.cpp's t_embd is the output norm's result */
        B->rmsnorm(x, c->xb, m->output_norm.data, a->embd, nr, E, hp->rms_eps);
        return;
    }
    B->rmsnorm(x, c->xb, m->output_norm.data, c->xb, nr, E, hp->rms_eps);
    const struct lir_mm out = { &m->output, NULL, a->logits };
    B->matmul(x, &out, 1, c->xb, nr);
}

/* BERT-style encoder (llama.cpp's LLM_ARCH_BERT graph): token + token-type-0 + position
 * embeddings, LayerNorm; per layer non-causal attention over the batch (no KV cache), output
 * projection + residual, LayerNorm, GELU FFN + residual, LayerNorm (post-norm). The result,
 * every token's final hidden state, is written to a->embd. The whole input is one batch
 * (non-causal attention needs every token at once, as llama.cpp's n_ubatch >= n_tokens). */
static void forward_bert(struct lir_exec *x, const struct lir_backend_ops *B, void *varg) {
    /* callers: a->embd has n_tok rows, a->out_from is 0 */
    struct fwd_args *a = varg;
    lir_context *c = a->ctx;
    const lir_model *m = c->model;
    const struct lir_hparams *hp = &m->hp;
    const int32_t n = a->n_tok, E = hp->n_embd, hd = hp->head_dim;
    const float eps = hp->norm_eps;

    B->get_rows(x, &m->tok_embd, a->tokens, n, c->x);
    if (m->tok_types.data) { /* token types are all 0 ("sentence A"), as in llama.cpp */
        B->get_rows(x, &m->tok_types, (const int32_t[]){ 0 }, 1, c->xb);
        B->add_row(x, c->x, c->xb, n, E);
    }
    if (m->pos_embd.data) { /* bert; nomic-bert rotates q and k instead */
        B->get_rows(x, &m->pos_embd, c->pos, n, c->xb);
        B->add(x, c->x, c->xb, (int64_t)n * E);
    }
    const struct lir_rope_params rp = {
        .mode = m->arch->rope, .n_rot = hp->n_rot, .base = hp->rope_base, .freq_scale = hp->rope_freq_scale,
    };
    B->layernorm(x, c->x, m->tok_norm.data, m->tok_norm_b.data, c->x, n, E, eps);
    for (int32_t il = 0; il < hp->n_layer; il++) {
        const struct lir_layer *L = &m->layers[il];
        const struct lir_mm qkv[3] = {
            { &L->wq, L->bq.data, c->q }, { &L->wk, L->bk.data, c->k }, { &L->wv, L->bv.data, c->v },
        };
        B->matmul(x, qkv, 3, c->x, n);
        if (!m->pos_embd.data) {
            B->rope(x, c->q, n, hp->n_head, hd, c->pos, &rp);
            B->rope(x, c->k, n, hp->n_head_kv, hd, c->pos, &rp);
        }
        const struct lir_attn_full_args aa = {
            .q = c->q, .k = c->k, .v = c->v, .n_tok = n, .n_head = hp->n_head, .n_head_kv = hp->n_head_kv,
            .head_dim = hd, .scale = 1.0f / sqrtf((float)hd), .out = c->att,
        };
        B->attention_full(x, &aa);
        const struct lir_mm o = { &L->wo, L->bo.data, c->xb };
        B->matmul(x, &o, 1, c->att, n);
        B->add(x, c->xb, c->x, (int64_t)n * E);
        B->layernorm(x, c->xb, L->attn_out_norm.data, L->attn_out_norm_b.data, c->xb, n, E, eps);
        /* feed-forward: down(gelu(up(x))) (nomic-bert: down(silu(gate(x)) * up(x))), then the
         * residual and the output LayerNorm */
        if (L->w_gate.data) {
            const struct lir_mm gu[2] = { { &L->w_gate, NULL, c->hb }, { &L->w_up, NULL, c->hb2 } };
            B->matmul(x, gu, 2, c->xb, n);
            B->swiglu(x, c->hb, c->hb2, c->hb, (int64_t)n * hp->n_ff);
        } else {
            const struct lir_mm up = { &L->w_up, L->b_up.data, c->hb };
            B->matmul(x, &up, 1, c->xb, n);
            B->gelu(x, c->hb, c->hb, (int64_t)n * hp->n_ff);
        }
        const struct lir_mm down = { &L->w_down, L->b_down.data, c->x };
        B->matmul(x, &down, 1, c->hb, n);
        B->add(x, c->x, c->xb, (int64_t)n * E);
        float *dst = il == hp->n_layer - 1 ? a->embd : c->x; /* the last one straight to the output */
        B->layernorm(x, c->x, L->layer_out_norm.data, L->layer_out_norm_b.data, dst, n, E, eps);
    }
}

/* ---------------------------------------------------------------- context */

/* kv.c's copy on write of a shared block: the GPU layers' copy of it too */
static void gpu_copy_block(void *user, int32_t dst, int32_t src) {
    lir_context *c = user;
    if (!c->gpu_copy_failed && lir_cuda_chain_copy_block(c->gpu, dst, src, &c->err)) c->gpu_copy_failed = true;
}

struct lir_context_params lir_context_params_default(void) {
    struct lir_context_params p = { .n_ctx = 0, .n_batch = 256, .n_threads = 0, .n_seq_max = 1, .kv_size = 0,
                                     .kv_type = LIR_KV_TYPE_F16 };
    return p;
}

int lir__cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* The rows one sequence attends to at most: n_ctx in whole blocks (the attention scratch). */
static int32_t ctx_rows(int32_t n_ctx) { return (n_ctx + LIR_KV_PAD - 1) / LIR_KV_PAD * LIR_KV_PAD; }

enum lir_status lir_context_create(lir_model *m, const struct lir_context_params *params, lir_context **out, char *err,
                                   size_t err_len) {
    lir_err e = { { 0 } };
    struct lir_context_params p = params ? *params : lir_context_params_default();
    enum lir_status s = LIR_OK;
    if (!m || !out) {
        lir__errf(&e, LIR_EINVAL, "lir_context_create: model and out must not be NULL");
        lir__err_copy(&e, err, err_len);
        return LIR_EINVAL;
    }
    *out = NULL;
    const struct lir_hparams *hp = &m->hp;
    if (p.n_ctx == 0) p.n_ctx = hp->n_ctx_train;
    if (p.n_batch == 0) p.n_batch = 256;
    if (p.n_threads == 0) p.n_threads = lir__cpu_count();
    if (p.n_seq_max == 0) p.n_seq_max = 1;
    if (p.n_ctx < 1 || p.n_ctx > (1 << 24)) {
        s = lir__errf(&e, LIR_EINVAL, "lir_context_create: n_ctx %d is outside [1, %d]", p.n_ctx, 1 << 24);
        goto fail;
    }
    if (p.n_batch < 1 || p.n_batch > 1 << 16) {
        s = lir__errf(&e, LIR_EINVAL, "lir_context_create: n_batch %d is outside [1, 65536]", p.n_batch);
        goto fail;
    }
    if (p.n_threads < 1 || p.n_threads > 1024) {
        s = lir__errf(&e, LIR_EINVAL, "lir_context_create: n_threads %d is outside [1, 1024]", p.n_threads);
        goto fail;
    }
    if (p.n_seq_max < 1 || p.n_seq_max > 4096) {
        s = lir__errf(&e, LIR_EINVAL, "lir_context_create: n_seq_max %d is outside [1, 4096]", p.n_seq_max);
        goto fail;
    }
    if (p.kv_size < 0 || p.kv_size > (1 << 30)) {
        s = lir__errf(&e, LIR_EINVAL, "lir_context_create: kv_size %d is outside [0, %d]", p.kv_size, 1 << 30);
        goto fail;
    }
    if (p.n_batch > p.n_ctx) p.n_batch = p.n_ctx;
    if (m->arch->bert) p.n_batch = p.n_ctx; /* non-causal: an input is always one batch */
    /* where the layers go, before anything is allocated (the CPU's KV cache holds its layers) */
    struct lir_cuda_plan plan;
    memset(&plan, 0, sizeof plan);
    plan.n_cpu_layers = hp->n_layer;
    if (p.gpu_layers != 0) {
        char why[200];
        int ndev = 0;
        if (p.gpu_layers < -1)
            s = lir__errf(&e, LIR_EINVAL, "lir_context_create: gpu_layers %d must be >= -1 (-1 = all, 0 = none)",
                          p.gpu_layers);
        else if ((ndev = lir_cuda_device_count(why, sizeof why)) == 0)
            s = lir__errf(&e, LIR_EUNSUPPORTED, "lir_context_create: gpu_layers %d: %s", p.gpu_layers, why);
        else
            s = lir_cuda_plan_layers(hp->n_layer, p.gpu_layers, p.main_gpu, p.tensor_split, p.n_tensor_split, ndev,
                                     "lir_context_create", &plan, &e);
        if (s) goto fail;
    }
    lir_context *c = calloc(1, sizeof *c);
    if (!c) {
        s = lir__errf(&e, LIR_ENOMEM, "lir_context_create: out of memory");
        goto fail;
    }
    c->model = m;
    c->n_ctx = p.n_ctx;
    c->n_batch = p.n_batch;
    c->kv_type = p.kv_type;
    c->n_cpu_layers = plan.n_cpu_layers;
    const size_t KD = (size_t)hp->n_head_kv * hp->head_dim, QD = (size_t)hp->n_head * hp->head_dim;
    if ((s = lir__kv_init(&c->kv, p.kv_type, plan.n_cpu_layers, (int32_t)KD, hp->head_dim, p.n_ctx, p.n_seq_max,
                          p.kv_size, &e))) {
        free(c);
        goto fail;
    }
    const size_t B = (size_t)p.n_batch;
    c->x = lir__alloc_aligned(B * hp->n_embd * sizeof(float));
    c->xb = lir__alloc_aligned(B * hp->n_embd * sizeof(float));
    c->q = lir__alloc_aligned(B * QD * sizeof(float));
    c->k = lir__alloc_aligned(B * KD * sizeof(float));
    c->v = lir__alloc_aligned(B * KD * sizeof(float));
    c->att = lir__alloc_aligned(B * QD * sizeof(float));
    c->hb = lir__alloc_aligned(B * hp->n_ff * sizeof(float));
    c->hb2 = lir__alloc_aligned(B * hp->n_ff * sizeof(float));
    c->pos = lir__alloc_aligned(B * sizeof(int32_t));
    c->tok_table = malloc(B * sizeof *c->tok_table);
    c->jobs = malloc(2 * B * sizeof *c->jobs);
    c->out_rows = malloc(B * sizeof *c->out_rows);
    c->iota = malloc(B * sizeof *c->iota);
    c->seq_next = malloc((size_t)p.n_seq_max * sizeof *c->seq_next);
    for (size_t i = 0; c->iota && i < B; i++) c->iota[i] = (int32_t)i;
    c->logits_cap = 1;
    c->logits = lir__alloc_aligned((size_t)hp->n_vocab * sizeof(float));
    if (!c->x || !c->xb || !c->q || !c->k || !c->v || !c->att || !c->hb || !c->hb2 || !c->pos || !c->logits ||
        !c->tok_table || !c->jobs || !c->out_rows || !c->iota || !c->seq_next) {
        s = lir__errf(&e, LIR_ENOMEM, "lir_context_create: out of memory for activation buffers (n_batch %d)",
                      p.n_batch);
        lir_context_free(c);
        goto fail;
    }
    c->cpu = lir_cpu_create(m, ctx_rows(p.n_ctx), p.n_batch, p.n_threads, &e);
    if (!c->cpu) {
        s = LIR_ENOMEM;
        lir_context_free(c);
        goto fail;
    }
    if (plan.n_shares > 0) { /* layers [n_cpu_layers, n_layer) run in src/backend/cuda */
        /* the GPU layers' KV in VRAM in blocks mirroring the context's pool (same ids, tables, copies) */
        const struct lir_cuda_chain_params gp = { .n_ctx = p.n_ctx, .n_batch = p.n_batch, .embed = plan.embed,
                                                  .output = plan.output, .kv_blocks = c->kv.n_blocks };
        if ((s = lir_cuda_chain_create(m, plan.shares, plan.n_shares, &gp, &c->gpu, &e))) {
            lir_context_free(c);
            goto fail;
        }
        c->kv.on_copy = gpu_copy_block;
        c->kv.on_copy_user = c;
        c->gpu_embed = plan.embed;
        c->gpu_head = plan.output;
    }
    *out = c;
    return LIR_OK;
fail:
    lir__err_copy(&e, err, err_len);
    return s;
}

void lir_context_free(lir_context *c) {
    if (!c) return;
    lir_cpu_free(c->cpu);
    lir_cuda_chain_free(c->gpu);
    lir__kv_free(&c->kv);
    lir__free_aligned(c->x);
    lir__free_aligned(c->xb);
    lir__free_aligned(c->q);
    lir__free_aligned(c->k);
    lir__free_aligned(c->v);
    lir__free_aligned(c->att);
    lir__free_aligned(c->hb);
    lir__free_aligned(c->hb2);
    lir__free_aligned(c->pos);
    lir__free_aligned(c->logits);
    free(c->tok_table);
    free(c->jobs);
    free(c->out_rows);
    free(c->iota);
    free(c->seq_next);
    free(c->out_map);
    free(c);
}

/* ---------------------------------------------------------------- decode */

/* One checked batch: token i to sequence seq[i] (NULL: all 0) at that sequence's next position;
 * want[i] marks rows that get logits (NULL: the last token), or every token when all. Output
 * to logits, or to hidden (n_out x n_embd) for embeddings. fn names the caller in messages. */
struct batch_in {
    const lir_token *tok;
    const int32_t *seq, *pos;
    const int8_t *want;
    int32_t n;
    bool all;
    float *hidden;
    const char *fn;
};

static int32_t seq_of(const struct batch_in *b, int32_t i) { return b->seq ? b->seq[i] : 0; }
static bool wants(const struct batch_in *b, int32_t i) {
    return b->all || b->hidden || (b->want ? b->want[i] != 0 : i == b->n - 1);
}

/* Checks everything a batch needs (no change on error): ids, positions, room per sequence and
 * free blocks; sets *n_out. */
static enum lir_status batch_check(lir_context *c, const struct batch_in *b, int64_t *n_out) {
    const int32_t nv = c->model->hp.n_vocab, ns = c->kv.n_seq;
    if (c->model->arch->bert)
        return lir__errf(&c->err, LIR_EUNSUPPORTED, "%s: %s is an encoder without an output head (use lir_embed)",
                         b->fn, c->model->arch->name);
    if (!b->tok || b->n < 1)
        return lir__errf(&c->err, LIR_EINVAL, "%s: need at least one token (got %d)", b->fn, b->n);
    for (int32_t s = 0; s < ns; s++) c->seq_next[s] = c->kv.seqs[s].len;
    *n_out = 0;
    for (int32_t i = 0; i < b->n; i++) {
        const int32_t s = seq_of(b, i);
        if (s < 0 || s >= ns)
            return lir__errf(&c->err, LIR_EINVAL, "%s: sequence id %d at index %d is outside [0, %d) (n_seq_max)",
                             b->fn, s, i, ns);
        if (b->tok[i] < 0 || b->tok[i] >= nv)
            return lir__errf(&c->err, LIR_EINVAL, "%s: token %d at index %d is outside [0, %d)", b->fn, b->tok[i], i,
                             nv);
        if (b->pos && b->pos[i] != c->seq_next[s])
            return lir__errf(&c->err, LIR_EINVAL,
                             "%s: token at index %d has position %d but sequence %d continues at position %d", b->fn,
                             i, b->pos[i], s, c->seq_next[s]);
        if (c->seq_next[s] >= c->n_ctx)
            return lir__errf(&c->err, LIR_ECONTEXT,
                             "%s: sequence %d would exceed the context size %d (it holds %d tokens, the batch adds "
                             "more)",
                             b->fn, s, c->n_ctx, c->kv.seqs[s].len);
        c->seq_next[s]++;
        *n_out += wants(b, i);
    }
    int64_t need = 0;
    for (int32_t s = 0; s < ns; s++) {
        const int32_t len = c->kv.seqs[s].len;
        if (c->seq_next[s] > len) need += lir__kv_blocks_needed(&c->kv, s, len, c->seq_next[s] - len);
    }
    if (need > c->kv.n_free)
        return lir__errf(&c->err, LIR_ECONTEXT,
                         "%s: the KV pool is full: the batch needs %lld more blocks of %d tokens, %d of %d are free",
                         b->fn, (long long)need, LIR_KV_BS, c->kv.n_free, c->kv.n_blocks);
    return LIR_OK;
}

/* Runs a checked batch (batch_check passed, nothing changed since). */
static enum lir_status batch_run(lir_context *c, const struct batch_in *b, int64_t n_out) {
    const int32_t nv = c->model->hp.n_vocab, ns = c->kv.n_seq;
    /* allocations first: an error leaves the cache unchanged */
    if (!b->hidden && n_out > c->logits_cap) {
        float *nl = lir__alloc_aligned((size_t)n_out * (size_t)nv * sizeof(float));
        if (!nl)
            return lir__errf(&c->err, LIR_ENOMEM, "%s: out of memory for %lld rows of logits", b->fn,
                             (long long)n_out);
        lir__free_aligned(c->logits);
        c->logits = nl;
        c->logits_cap = n_out;
    }
    if (b->n > c->out_map_cap) {
        int32_t *nm = realloc(c->out_map, (size_t)b->n * sizeof *nm);
        if (!nm) return lir__errf(&c->err, LIR_ENOMEM, "%s: out of memory for %d tokens", b->fn, b->n);
        c->out_map = nm;
        c->out_map_cap = b->n;
    }
    for (int32_t s = 0; s < ns; s++) {
        enum lir_status st;
        if (c->seq_next[s] > c->kv.seqs[s].len &&
            (st = lir__kv_reserve_tokens(&c->kv, s, c->seq_next[s], &c->err)))
            return st;
    }
    /* blocks: every sequence's new positions get exclusive blocks */
    for (int32_t s = 0; s < ns; s++) {
        const int32_t len = c->kv.seqs[s].len;
        if (c->seq_next[s] > len) lir__kv_seq_prepare(&c->kv, s, c->seq_next[s] - len);
        c->seq_next[s] = len;
    }
    if (c->gpu_copy_failed) /* the first time err says which copy */
        return c->err.msg[0] ? LIR_EINTERNAL
                             : lir__errf(&c->err, LIR_EINTERNAL, "%s: a copy of a KV block in VRAM failed earlier; "
                                         "the GPU cache is inconsistent (create the context again)", b->fn);
    c->n_logits = b->hidden ? 0 : n_out;
    c->out_map_n = b->n;
    int64_t row = 0;
    for (int32_t i0 = 0; i0 < b->n; i0 += c->n_batch) {
        const int32_t nb = b->n - i0 < c->n_batch ? b->n - i0 : c->n_batch;
        int32_t n_jobs = 0, n_o = 0;
        const int64_t row0 = row;
        for (int32_t i = 0; i < nb; i++) {
            const int32_t s = seq_of(b, i0 + i);
            struct lir_kv_seq *sq = &c->kv.seqs[s];
            c->pos[i] = c->seq_next[s];
            sq->tokens[c->seq_next[s]++] = b->tok[i0 + i];
            c->tok_table[i] = sq->blocks;
            /* attention jobs: runs of consecutive tokens of one sequence, up to LIR_ATT_TOKENS */
            if (n_jobs > 0 && c->tok_table[c->jobs[2 * n_jobs - 2]] == sq->blocks &&
                c->jobs[2 * n_jobs - 1] < LIR_ATT_TOKENS) {
                c->jobs[2 * n_jobs - 1]++;
            } else {
                c->jobs[2 * n_jobs] = i;
                c->jobs[2 * n_jobs + 1] = 1;
                n_jobs++;
            }
            if (wants(b, i0 + i)) {
                c->out_rows[n_o++] = i;
                c->out_map[i0 + i] = (int32_t)row++;
            } else {
                c->out_map[i0 + i] = -1;
            }
        }
        struct fwd_args a = { .ctx = c, .tokens = b->tok + i0, .n_tok = nb, .n_jobs = n_jobs, .n_out = n_o,
                              .l0 = 0, .l1 = c->n_cpu_layers, .embed = !c->gpu_embed, .head = !c->gpu_head };
        if (b->hidden)
            a.embd = b->hidden + (size_t)row0 * c->model->hp.n_embd;
        else
            a.logits = c->logits + (size_t)row0 * nv;
        if (!c->gpu) {
            lir_cpu_run(c->cpu, forward_llama, &a);
            continue;
        }
        /* the CPU's layers, the GPU chain's (each token at its sequence's position, through its
         * sequence's block table), the CPU's head */
        if (a.embed) {
            a.head = false;
            lir_cpu_run(c->cpu, forward_llama, &a);
        }
        enum lir_status st = lir_cuda_chain_eval_seqs(c->gpu, a.tokens, c->x, nb, 0, c->pos, c->tok_table,
                                                      c->out_rows, n_o, a.logits, a.embd, &c->err);
        if (st) return st;
        if (!c->gpu_head && n_o > 0) {
            a.l0 = a.l1 = c->model->hp.n_layer;
            a.embed = false;
            a.head = true;
            lir_cpu_run(c->cpu, forward_llama, &a);
        }
    }
    for (int32_t s = 0; s < ns; s++) c->kv.seqs[s].len = c->seq_next[s];
    return LIR_OK;
}

enum lir_status lir_context_decode(lir_context *c, const lir_token *tokens, int32_t n, int32_t pos, bool all_logits) {
    if (!c) return LIR_EINVAL;
    c->err.msg[0] = 0;
    const struct batch_in b = { .tok = tokens, .n = n, .all = all_logits, .fn = "lir_context_decode" };
    if (pos < 0 || (int64_t)pos + (n > 0 ? n : 0) > c->n_ctx)
        return lir__errf(&c->err, LIR_ECONTEXT, "lir_context_decode: positions [%d, %lld) exceed the context size %d",
                         pos, (long long)pos + n, c->n_ctx);
    const int32_t len = c->kv.seqs[0].len;
    if (pos > len)
        return lir__errf(&c->err, LIR_EINVAL,
                         "lir_context_decode: position %d is past the end of sequence 0 (it holds %d tokens)", pos, len);
    if (pos == len) {
        int64_t n_out;
        enum lir_status s = batch_check(c, &b, &n_out);
        return s ? s : batch_run(c, &b, n_out);
    }
    /* re-evaluating from pos: check against the cache as it will be after dropping the tail */
    const int32_t freed = lir__kv_blocks_freed(&c->kv, 0, pos);
    const int32_t need = lir__kv_blocks_needed(&c->kv, 0, pos, n > 0 ? n : 0);
    if (need > c->kv.n_free + freed)
        return lir__errf(&c->err, LIR_ECONTEXT,
                         "lir_context_decode: the KV pool is full: %d more blocks needed, %d free", need,
                         c->kv.n_free + freed);
    if (!tokens || n < 1)
        return lir__errf(&c->err, LIR_EINVAL, "lir_context_decode: need at least one token (got %d)", n);
    for (int32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c->model->hp.n_vocab)
            return lir__errf(&c->err, LIR_EINVAL, "lir_context_decode: token %d at index %d is outside [0, %d)",
                             tokens[i], i, c->model->hp.n_vocab);
    lir__kv_seq_cut(&c->kv, 0, pos);
    int64_t n_out;
    enum lir_status s = batch_check(c, &b, &n_out);
    return s ? s : batch_run(c, &b, n_out);
}

enum lir_status lir_context_decode_batch(lir_context *c, const struct lir_batch *batch) {
    if (!c) return LIR_EINVAL;
    c->err.msg[0] = 0;
    if (!batch) return lir__errf(&c->err, LIR_EINVAL, "lir_context_decode_batch: batch must not be NULL");
    const struct batch_in b = { .tok = batch->token, .seq = batch->seq_id, .pos = batch->pos, .want = batch->logits,
                                .n = batch->n_tokens, .fn = "lir_context_decode_batch" };
    int64_t n_out;
    enum lir_status s = batch_check(c, &b, &n_out);
    return s ? s : batch_run(c, &b, n_out);
}

enum lir_status lir__context_hidden(lir_context *c, const lir_token *tokens, int32_t n, float *hidden) {
    const struct lir_hparams *hp = &c->model->hp;
    c->err.msg[0] = 0;
    if (!tokens || !hidden || n < 1)
        return lir__errf(&c->err, LIR_EINVAL, "lir_embed: need at least one token (got %d)", n);
    int32_t lim = c->n_ctx;
    if (c->model->pos_embd.data && hp->n_ctx_train < lim) lim = hp->n_ctx_train; /* learned positions */
    if (n > lim)
        return lir__errf(&c->err, LIR_ECONTEXT, "lir_embed: %d tokens exceed the %s %d", n,
                         lim == c->n_ctx ? "context size" : "model's position table", lim);
    for (int32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= hp->n_vocab)
            return lir__errf(&c->err, LIR_EINVAL, "lir_embed: token %d at index %d is outside [0, %d)", tokens[i], i,
                             hp->n_vocab);
    if (!c->model->arch->bert && !hp->causal)
        return lir__errf(&c->err, LIR_EUNSUPPORTED, "lir_embed: non-causal attention in %s models is not supported",
                         c->model->arch->name);
    if (c->model->arch->bert) {
        for (int32_t i0 = 0; i0 < n; i0 += c->n_batch) {
            const int32_t nb = n - i0 < c->n_batch ? n - i0 : c->n_batch;
            for (int32_t i = 0; i < nb; i++) c->pos[i] = i0 + i;
            struct fwd_args a = { .ctx = c, .tokens = tokens + i0, .n_tok = nb, .embd = hidden + (size_t)i0 * hp->n_embd };
            lir_cpu_run(c->cpu, forward_bert, &a);
        }
        c->n_logits = 0;
        return LIR_OK;
    }
    /* a decoder: the input as sequence 0 afresh (the KV cache of sequence 0 is overwritten) */
    const int32_t freed = lir__kv_blocks_freed(&c->kv, 0, 0);
    if (lir__kv_blocks_needed(&c->kv, 0, 0, n) > c->kv.n_free + freed)
        return lir__errf(&c->err, LIR_ECONTEXT, "lir_embed: the KV pool has too few free blocks for %d tokens", n);
    lir__kv_seq_cut(&c->kv, 0, 0);
    const struct batch_in b = { .tok = tokens, .n = n, .hidden = hidden, .fn = "lir_embed" };
    int64_t n_out;
    enum lir_status s = batch_check(c, &b, &n_out);
    if (!s) s = batch_run(c, &b, n_out);
    c->n_logits = 0; /* the KV cache now holds this input; no logits */
    return s;
}

const float *lir_context_logits(const lir_context *c, int32_t i) {
    if (!c || c->n_logits == 0) return NULL;
    if (i == -1) return c->logits + (size_t)(c->n_logits - 1) * c->model->hp.n_vocab;
    if (i < 0 || i >= c->out_map_n || c->out_map[i] < 0) return NULL;
    return c->logits + (size_t)c->out_map[i] * c->model->hp.n_vocab;
}

const char *lir_context_last_error(const lir_context *c) { return c ? c->err.msg : ""; }

/* ---------------------------------------------------------------- sequences */

static enum lir_status check_seq(lir_context *c, int32_t seq, const char *fn) {
    if (seq < 0 || seq >= c->kv.n_seq)
        return lir__errf(&c->err, LIR_EINVAL, "%s: sequence id %d is outside [0, %d) (n_seq_max)", fn, seq,
                         c->kv.n_seq);
    return LIR_OK;
}

enum lir_status lir_context_seq_clear(lir_context *c, int32_t seq) {
    if (!c) return LIR_EINVAL;
    c->err.msg[0] = 0;
    enum lir_status s = check_seq(c, seq, "lir_context_seq_clear");
    if (s) return s;
    lir__kv_seq_cut(&c->kv, seq, 0);
    return LIR_OK;
}

enum lir_status lir_context_seq_copy(lir_context *c, int32_t src, int32_t dst) {
    if (!c) return LIR_EINVAL;
    c->err.msg[0] = 0;
    enum lir_status s;
    if ((s = check_seq(c, src, "lir_context_seq_copy")) || (s = check_seq(c, dst, "lir_context_seq_copy"))) return s;
    if (src == dst) return LIR_OK;
    if ((s = lir__kv_reserve_tokens(&c->kv, dst, c->kv.seqs[src].len, &c->err))) return s;
    lir__kv_seq_copy(&c->kv, src, dst);
    return LIR_OK;
}

int32_t lir_context_seq_length(const lir_context *c, int32_t seq) {
    if (!c || seq < 0 || seq >= c->kv.n_seq) return -1;
    return c->kv.seqs[seq].len;
}

const lir_token *lir_context_seq_tokens(const lir_context *c, int32_t seq, int32_t *n) {
    if (n) *n = 0;
    if (!c || seq < 0 || seq >= c->kv.n_seq) return NULL;
    static const lir_token none[1] = { 0 };
    if (n) *n = c->kv.seqs[seq].len;
    return c->kv.seqs[seq].tokens ? c->kv.seqs[seq].tokens : none;
}

/* Context shift on the worker pool: each thread takes whole layers (layers are independent).
 * General case: rows move down n_discard places, keys rotated (lir__kv_shift_layer). Block-aligned
 * n_discard (a multiple of 64): the block table drops whole blocks instead, rows stay where they
 * are and only their keys are rotated in place — plus, when n_keep ends inside a block, that
 * block's tail rows copied from the block that followed the dropped ones. */
struct shift_args {
    lir_context *ctx;
    int32_t seq, n_keep, n_discard;
    bool aligned;
    int32_t part_dst, part_src, part_off, part_n; /* aligned: partial block copy (part_n 0: none) */
    const int32_t *rot_blocks, *rot_rows;         /* aligned: blocks whose first rot_rows[i] keys rotate */
    int32_t n_rot_blocks;
    struct lir_kv_rot rot;
    float *tmp;              /* (n_threads, kv_dim) */
};

static void shift_layers(struct lir_exec *x, const struct lir_backend_ops *B, void *varg) {
    (void)B;
    struct shift_args *a = varg;
    lir_context *c = a->ctx;
    const int ith = lir_exec_ith(x), nth = lir_exec_nth(x);
    float *tmp = a->tmp + (size_t)ith * c->kv.kv_dim;
    for (int32_t il = ith; il < c->kv.n_layer; il += nth) {
        if (!a->aligned) {
            lir__kv_shift_layer(&c->kv, a->seq, il, a->n_keep, a->n_discard, &a->rot, tmp);
            continue;
        }
        if (a->part_n > 0)
            lir__kv_rotate_rows(&c->kv, a->part_dst, a->part_src, il, a->part_off, a->part_n, &a->rot, tmp);
        for (int32_t i = 0; i < a->n_rot_blocks; i++)
            lir__kv_rotate_rows(&c->kv, a->rot_blocks[i], a->rot_blocks[i], il, 0, a->rot_rows[i], &a->rot, tmp);
    }
}

enum lir_status lir_context_seq_truncate(lir_context *c, int32_t seq, int32_t n_keep, int32_t n_discard) {
    if (!c) return LIR_EINVAL;
    c->err.msg[0] = 0;
    enum lir_status s = check_seq(c, seq, "lir_context_seq_truncate");
    if (s) return s;
    if (c->gpu)
        return lir__errf(&c->err, LIR_EUNSUPPORTED, "lir_context_seq_truncate: not supported with gpu_layers");
    struct lir_kv *kv = &c->kv;
    struct lir_kv_seq *sq = &kv->seqs[seq];
    if (n_keep < 0 || n_discard < 0 || (int64_t)n_keep + n_discard > sq->len)
        return lir__errf(&c->err, LIR_EINVAL,
                         "lir_context_seq_truncate: n_keep %d and n_discard %d must be >= 0 with n_keep + n_discard <= "
                         "%d (the sequence's length)",
                         n_keep, n_discard, sq->len);
    if (n_discard == 0) return LIR_OK;
    const int32_t len2 = sq->len - n_discard, BS = LIR_KV_BS;
    if (n_keep == len2) { /* nothing after the dropped part */
        lir__kv_seq_cut(kv, seq, n_keep);
        c->n_logits = 0;
        return LIR_OK;
    }
    const struct lir_hparams *hp = &c->model->hp;
    const bool aligned = n_discard % BS == 0;
    const int32_t d = n_discard / BS, b0 = n_keep / BS, r0 = n_keep % BS, nb2 = (len2 + BS - 1) / BS;
    const int32_t nb_old = (sq->len + BS - 1) / BS;
    /* blocks that change must be exclusive: count the shared ones to copy */
    int32_t need = 0;
    if (aligned) {
        if (r0) need += kv->refs[sq->blocks[b0]] > 1;
        for (int32_t j = r0 ? b0 + 1 : b0; j < nb2; j++) need += kv->refs[sq->blocks[j + d]] > 1;
    } else {
        for (int32_t j = b0; j < nb2; j++) need += kv->refs[sq->blocks[j]] > 1;
    }
    if (need > kv->n_free)
        return lir__errf(&c->err, LIR_ECONTEXT,
                         "lir_context_seq_truncate: %d shared blocks must be copied before they change but only %d "
                         "blocks are free",
                         need, kv->n_free);
    const int nth = lir__context_n_threads(c);
    float *tmp = malloc(sizeof(float) * (size_t)nth * kv->kv_dim);
    int32_t *rb = aligned ? malloc(sizeof(int32_t) * 2 * (size_t)(nb2 + 1)) : NULL;
    if (!tmp || (aligned && !rb)) {
        free(tmp);
        free(rb);
        return lir__errf(&c->err, LIR_ENOMEM, "lir_context_seq_truncate: out of memory");
    }
    /* the angles of position -n_discard, as the forward's RoPE computes angles (repeated float
     * multiplication of theta_scale): a rotation by them takes a key from p to p - n_discard */
    float cs[4096];
    const int32_t n_rot = hp->n_rot;
    const float theta_scale = powf(hp->rope_base, -2.0f / (float)n_rot);
    const float *ffs = c->model->rope_freqs.data;
    float theta = (float)-n_discard;
    for (int32_t i0 = 0; i0 < n_rot; i0 += 2) {
        const float ff = ffs ? ffs[i0 / 2] : 1.0f;
        const float th = hp->rope_freq_scale * (theta / ff);
        cs[i0] = cosf(th);
        cs[i0 + 1] = sinf(th);
        theta *= theta_scale;
    }
    struct shift_args a = {
        .ctx = c, .seq = seq, .n_keep = n_keep, .n_discard = n_discard, .aligned = aligned, .tmp = tmp,
        .rot = { .cs = cs, .n_rot = n_rot, .head_dim = hp->head_dim, .neox = c->model->arch->rope == LIR_ROPE_NEOX,
                 .to_f16 = lir_cpu_f16_row(c->cpu) },
    };
    if (aligned) {
        if (r0) {
            lir__kv_seq_own_block(kv, seq, b0);
            a.part_dst = sq->blocks[b0];
            a.part_src = sq->blocks[b0 + d];
            a.part_off = r0;
            a.part_n = (len2 - b0 * BS < BS ? len2 - b0 * BS : BS) - r0;
        }
        const int32_t jf = r0 ? b0 + 1 : b0;
        for (int32_t j = jf; j < nb2; j++) {
            lir__kv_seq_own_block(kv, seq, j + d);
            rb[a.n_rot_blocks] = sq->blocks[j + d];
            rb[nb2 + 1 + a.n_rot_blocks] = len2 - j * BS < BS ? len2 - j * BS : BS;
            a.n_rot_blocks++;
        }
        a.rot_blocks = rb;
        a.rot_rows = rb + nb2 + 1;
        lir_cpu_run(c->cpu, shift_layers, &a);
        /* the table: drop the d blocks after the kept head, the rest move down */
        for (int32_t j = jf; j < jf + d; j++) {
            const int32_t b = sq->blocks[j];
            if (--kv->refs[b] == 0) kv->free_ids[kv->n_free++] = b;
        }
        memmove(sq->blocks + jf, sq->blocks + jf + d, sizeof(int32_t) * (size_t)(nb2 - jf));
    } else {
        for (int32_t j = b0; j < nb2; j++) lir__kv_seq_own_block(kv, seq, j);
        lir_cpu_run(c->cpu, shift_layers, &a);
        /* release the blocks past the new end (their rows moved down) */
        for (int32_t j = nb2; j < nb_old; j++) {
            const int32_t b = sq->blocks[j];
            if (--kv->refs[b] == 0) kv->free_ids[kv->n_free++] = b;
        }
    }
    free(tmp);
    free(rb);
    memmove(sq->tokens + n_keep, sq->tokens + n_keep + n_discard, sizeof(lir_token) * (size_t)(len2 - n_keep));
    sq->len = len2;
    c->n_logits = 0;
    return LIR_OK;
}

/* ---------------------------------------------------------------- status */

enum lir_status lir_context_get_status(const lir_context *c, struct lir_context_status *o) {
    if (!c || !o) return LIR_EINVAL;
    const struct lir_kv *kv = &c->kv;
    memset(o, 0, sizeof *o);
    o->n_ctx = c->n_ctx;
    o->n_seq_max = kv->n_seq;
    o->kv_type = (enum lir_kv_type)c->kv_type;
    o->n_blocks = kv->n_blocks;
    o->n_blocks_used = kv->n_blocks - kv->n_free;
    o->max_tokens = (int64_t)kv->n_blocks * LIR_KV_BS;
    /* a block's filled cells: the most any sequence referencing it uses */
    uint8_t *fill = calloc((size_t)kv->n_blocks, 1);
    if (fill) {
        for (int32_t s = 0; s < kv->n_seq; s++) {
            const struct lir_kv_seq *sq = &kv->seqs[s];
            for (int32_t j = 0; j * LIR_KV_BS < sq->len; j++) {
                const int32_t f = sq->len - j * LIR_KV_BS > LIR_KV_BS ? LIR_KV_BS : sq->len - j * LIR_KV_BS;
                if (f > fill[sq->blocks[j]]) fill[sq->blocks[j]] = (uint8_t)f;
            }
        }
        for (int32_t b = 0; b < kv->n_blocks; b++) o->used_tokens += fill[b];
        free(fill);
    } else { /* no memory for the exact count: whole used blocks */
        o->used_tokens = (int64_t)o->n_blocks_used * LIR_KV_BS;
    }
    o->available_tokens = o->max_tokens - o->used_tokens;
    o->usage_percent = 100.0 * (double)o->used_tokens / (double)o->max_tokens;
    o->block_bytes = kv->block_bytes;
    o->kv_bytes = (uint64_t)kv->n_blocks * kv->block_bytes;
    o->kv_bytes_used = (uint64_t)o->n_blocks_used * kv->block_bytes;
    return LIR_OK;
}

enum lir_status lir_context_seq_status(const lir_context *cc, int32_t seq, struct lir_context_seq_status *o) {
    if (!cc || !o) return LIR_EINVAL;
    lir_context *c = (lir_context *)cc; /* the last-error buffer only */
    enum lir_status s = check_seq(c, seq, "lir_context_seq_status");
    if (s) return s;
    const struct lir_kv *kv = &c->kv;
    const struct lir_kv_seq *sq = &kv->seqs[seq];
    memset(o, 0, sizeof *o);
    o->n_tokens = sq->len;
    o->max_tokens = c->n_ctx;
    o->n_blocks = (sq->len + LIR_KV_BS - 1) / LIR_KV_BS;
    int64_t room = (int64_t)kv->n_free * LIR_KV_BS;
    const int32_t tail = sq->len % LIR_KV_BS; /* cells used in a partly filled last block */
    if (tail && kv->refs[sq->blocks[o->n_blocks - 1]] == 1)
        room += LIR_KV_BS - tail;  /* its own last block has room */
    else if (tail && kv->n_free > 0)
        room -= tail;              /* a shared last block is first copied into a free one */
    int64_t avail = c->n_ctx - sq->len;
    if (room < avail) avail = room < 0 ? 0 : room;
    o->available_tokens = (int32_t)avail;
    o->usage_percent = 100.0 * (double)sq->len / (double)c->n_ctx;
    o->kv_bytes = (uint64_t)o->n_blocks * kv->block_bytes;
    for (int32_t j = 0; j < o->n_blocks; j++)
        if (kv->refs[sq->blocks[j]] > 1) o->kv_bytes_shared += kv->block_bytes;
    return LIR_OK;
}

/* ---------------------------------------------------------------- internal accessors */

int lir__context_n_threads(const lir_context *c) { return lir_cpu_n_threads(c->cpu); }
const char *lir__context_isa(const lir_context *c) { return lir_cpu_isa(c->cpu); }
int32_t lir__context_n_ctx(const lir_context *c) { return c->n_ctx; }
const lir_model *lir__context_model(const lir_context *c) { return c->model; }
lir_err *lir__context_err(lir_context *c) { return &c->err; }
int32_t lir__context_kv_type(const lir_context *c) { return c->kv_type; }
const struct lir_cuda_chain *lir__context_gpu(const lir_context *c) { return c ? c->gpu : NULL; }
int32_t lir__context_n_cpu_layers(const lir_context *c) { return c ? c->n_cpu_layers : 0; }
struct lir_kv *lir__context_kv(lir_context *c) { return c && !c->gpu ? &c->kv : NULL; }

struct par_args {
    lir__context_task fn;
    void *arg;
};
static void par_task(struct lir_exec *x, const struct lir_backend_ops *B, void *varg) {
    (void)B;
    const struct par_args *a = varg;
    a->fn(lir_exec_ith(x), lir_exec_nth(x), a->arg);
}
void lir__context_parallel(lir_context *c, lir__context_task fn, void *arg) {
    struct par_args a = { fn, arg };
    lir_cpu_run(c->cpu, par_task, &a);
}
/* over every layer of the model (the snapshot format's), also where the CPU's pool holds fewer */
size_t lir__kv_token_bytes(const lir_context *c) { return 2 * (size_t)c->model->hp.n_layer * c->kv.row_bytes; }

enum lir_status lir__kv_seq_read(lir_context *c, int32_t seq, int32_t p0, int32_t n, void *buf) {
    c->err.msg[0] = 0;
    enum lir_status s = check_seq(c, seq, "lir__kv_seq_read");
    if (s) return s;
    if (c->gpu) /* the cache is in VRAM (src/backend/cuda); snapshots of it are not supported yet */
        return lir__errf(&c->err, LIR_EUNSUPPORTED, "lir__kv_seq_read: not supported with gpu_layers");
    const int32_t len = c->kv.seqs[seq].len;
    if (p0 < 0 || n < 0 || (int64_t)p0 + n > len)
        return lir__errf(&c->err, LIR_EINVAL, "lir__kv_seq_read: tokens [%d, %lld) are outside sequence %d's [0, %d)",
                         p0, (long long)p0 + n, seq, len);
    if (n > 0 && !buf) return lir__errf(&c->err, LIR_EINVAL, "lir__kv_seq_read: buf must not be NULL");
    if (n > 0) lir__kv_rows_read(&c->kv, seq, p0, n, buf);
    return LIR_OK;
}

enum lir_status lir__kv_seq_write(lir_context *c, int32_t seq, int32_t p0, int32_t n, const lir_token *tokens,
                                  const void *buf) {
    c->err.msg[0] = 0;
    enum lir_status s = check_seq(c, seq, "lir__kv_seq_write");
    if (s) return s;
    if (c->gpu) /* the cache is in VRAM (src/backend/cuda); snapshots of it are not supported yet */
        return lir__errf(&c->err, LIR_EUNSUPPORTED, "lir__kv_seq_write: not supported with gpu_layers");
    struct lir_kv_seq *sq = &c->kv.seqs[seq];
    if (p0 != sq->len)
        return lir__errf(&c->err, LIR_EINVAL, "lir__kv_seq_write: p0 %d must be sequence %d's length %d", p0, seq,
                         sq->len);
    if (n < 0 || (int64_t)p0 + n > c->n_ctx)
        return lir__errf(&c->err, LIR_ECONTEXT, "lir__kv_seq_write: %d tokens at %d exceed the context size %d", n, p0,
                         c->n_ctx);
    if (n == 0) return LIR_OK;
    if (!tokens || !buf) return lir__errf(&c->err, LIR_EINVAL, "lir__kv_seq_write: tokens and buf must not be NULL");
    for (int32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c->model->hp.n_vocab)
            return lir__errf(&c->err, LIR_EINVAL, "lir__kv_seq_write: token %d at index %d is outside [0, %d)",
                             tokens[i], i, c->model->hp.n_vocab);
    const int32_t need = lir__kv_blocks_needed(&c->kv, seq, p0, n);
    if (need > c->kv.n_free)
        return lir__errf(&c->err, LIR_ECONTEXT, "lir__kv_seq_write: the KV pool is full: %d blocks needed, %d free",
                         need, c->kv.n_free);
    if ((s = lir__kv_reserve_tokens(&c->kv, seq, p0 + n, &c->err))) return s;
    lir__kv_seq_prepare(&c->kv, seq, n);
    lir__kv_rows_write(&c->kv, seq, p0, n, buf);
    memcpy(sq->tokens + p0, tokens, sizeof(lir_token) * (size_t)n);
    sq->len = p0 + n;
    return LIR_OK;
}

enum lir_status lir__context_set_logits(lir_context *c, const float *row) {
    c->err.msg[0] = 0;
    if (!row) return lir__errf(&c->err, LIR_EINVAL, "lir__context_set_logits: row must not be NULL");
    memcpy(c->logits, row, sizeof(float) * (size_t)c->model->hp.n_vocab); /* logits_cap >= 1 always */
    c->n_logits = 1;
    c->out_map_n = 0; /* only lir_context_logits(c, -1) */
    return LIR_OK;
}
