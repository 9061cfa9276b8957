/* forward.c — the llama-family forward pass (llama, qwen2, qwen3), written once against
 * the backend op table (backend.h), and the inference context: KV cache, activation
 * buffers, logits, decode in n_batch steps. */
#include "model/forward.h"
#include "backend/backend.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct lir_context {
    lir_model *model;
    lir_cpu *cpu;
    int32_t n_ctx, n_batch;
    int32_t kv_size;             /* n_ctx rounded up to LIR_KV_PAD: rows per layer in the cache */
    lir_f16 *k_cache;            /* (n_layer, kv_size, n_head_kv*head_dim) */
    lir_f16 *v_cache;            /* (n_layer, n_head_kv*head_dim, kv_size): transposed, zeroed */
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
    int32_t logits_first;    /* token index (within the last decode call) of logits row 0 */
    lir_err err;
};

struct fwd_args {
    lir_context *ctx;
    const lir_token *tokens;
    int32_t n_tok;
    int32_t out_from;        /* logits for tokens [out_from, n_tok) */
    float *logits;           /* (n_tok - out_from, n_vocab) */
    float *embd;             /* if set: the output-normed hidden states of tokens [out_from, n_tok)
                                (n_tok - out_from, n_embd) instead of logits (embeddings) */
};

/* ---------------------------------------------------------------- the graph */

static void forward_llama(struct lir_exec *x, const struct lir_backend_ops *B, void *varg) {
    struct fwd_args *a = varg;
    lir_context *c = a->ctx;
    const lir_model *m = c->model;
    const struct lir_hparams *hp = &m->hp;
    const int32_t n = a->n_tok, E = hp->n_embd, hd = hp->head_dim;
    const int32_t KD = hp->n_head_kv * hd, F = hp->n_ff;
    const struct lir_rope_params rp = {
        .mode = m->arch->rope, .n_rot = hp->n_rot, .base = hp->rope_base,
        .freq_scale = hp->rope_freq_scale, .freq_factors = m->rope_freqs.data,
    };

    B->get_rows(x, &m->tok_embd, a->tokens, n, c->x);
    for (int32_t il = 0; il < hp->n_layer; il++) {
        const struct lir_layer *L = &m->layers[il];
        lir_f16 *kc = c->k_cache + (size_t)il * c->kv_size * KD;
        lir_f16 *vc = c->v_cache + (size_t)il * c->kv_size * KD;

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
        B->kv_store(x, kc, vc, c->k, c->v, n, KD, c->pos);
        const struct lir_attn_args aa = {
            .q = c->q, .k_cache = kc, .v_cache = vc, .pos = c->pos, .n_tok = n, .n_head = hp->n_head,
            .n_head_kv = hp->n_head_kv, .head_dim = hd, .scale = 1.0f / sqrtf((float)hd), .out = c->att,
        };
        B->attention(x, &aa);
        const struct lir_mm o = { &L->wo, NULL, c->xb };
        B->matmul(x, &o, 1, c->att, n);
        B->add(x, c->x, c->xb, (int64_t)n * E);

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
    const int32_t r0 = a->out_from, nr = n - a->out_from;
    if (nr <= 0) return;
    if (a->embd) { /* embeddings: llama.cpp's t_embd is the output norm's result */
        B->rmsnorm(x, c->x + (size_t)r0 * E, m->output_norm.data, a->embd, nr, E, hp->rms_eps);
        return;
    }
    B->rmsnorm(x, c->x + (size_t)r0 * E, m->output_norm.data, c->xb, nr, E, hp->rms_eps);
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

struct lir_context_params lir_context_params_default(void) {
    struct lir_context_params p = { .n_ctx = 0, .n_batch = 256, .n_threads = 0 };
    return p;
}

int lir__cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

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
    if (p.n_batch > p.n_ctx) p.n_batch = p.n_ctx;
    if (m->arch->bert) p.n_batch = p.n_ctx; /* non-causal: an input is always one batch */
    lir_context *c = calloc(1, sizeof *c);
    if (!c) {
        s = lir__errf(&e, LIR_ENOMEM, "lir_context_create: out of memory");
        goto fail;
    }
    c->model = m;
    c->n_ctx = p.n_ctx;
    c->kv_size = (p.n_ctx + LIR_KV_PAD - 1) / LIR_KV_PAD * LIR_KV_PAD;
    c->n_batch = p.n_batch;
    const size_t KD = (size_t)hp->n_head_kv * hp->head_dim, QD = (size_t)hp->n_head * hp->head_dim;
    const size_t kv_elems = (size_t)hp->n_layer * (size_t)c->kv_size * KD;
    c->k_cache = lir__alloc_aligned(kv_elems * sizeof(lir_f16));
    c->v_cache = lir__alloc_aligned(kv_elems * sizeof(lir_f16));
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
    c->logits_cap = 1;
    c->logits = lir__alloc_aligned((size_t)hp->n_vocab * sizeof(float));
    if (!c->k_cache || !c->v_cache || !c->x || !c->xb || !c->q || !c->k || !c->v || !c->att || !c->hb || !c->hb2 ||
        !c->pos || !c->logits) {
        s = lir__errf(&e, LIR_ENOMEM, "lir_context_create: out of memory for KV cache (%zu bytes) and buffers",
                      2 * kv_elems * sizeof(lir_f16));
        lir_context_free(c);
        goto fail;
    }
    /* never-written V cells are read (times a zero weight) by padded attention sums:
     * zero them so they are finite */
    memset(c->v_cache, 0, kv_elems * sizeof(lir_f16));
    c->cpu = lir_cpu_create(m, c->kv_size, p.n_batch, p.n_threads, &e);
    if (!c->cpu) {
        s = LIR_ENOMEM;
        lir_context_free(c);
        goto fail;
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
    lir__free_aligned(c->k_cache);
    lir__free_aligned(c->v_cache);
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
    free(c);
}

enum lir_status lir_context_decode(lir_context *c, const lir_token *tokens, int32_t n, int32_t pos, bool all_logits) {
    if (!c) return LIR_EINVAL;
    const int32_t nv = c->model->hp.n_vocab;
    c->err.msg[0] = 0;
    if (c->model->arch->bert)
        return lir__errf(&c->err, LIR_EUNSUPPORTED,
                         "lir_context_decode: %s is an encoder without an output head (use lir_embed)",
                         c->model->arch->name);
    if (!tokens || n < 1)
        return lir__errf(&c->err, LIR_EINVAL, "lir_context_decode: need at least one token (got %d)", n);
    if (pos < 0 || (int64_t)pos + n > c->n_ctx)
        return lir__errf(&c->err, LIR_ECONTEXT,
                         "lir_context_decode: positions [%d, %lld) exceed the context size %d", pos,
                         (long long)pos + n, c->n_ctx);
    for (int32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= nv)
            return lir__errf(&c->err, LIR_EINVAL, "lir_context_decode: token %d at index %d is outside [0, %d)",
                             tokens[i], i, nv);
    const int64_t need = all_logits ? n : 1;
    if (need > c->logits_cap) {
        float *nl = lir__alloc_aligned((size_t)need * (size_t)nv * sizeof(float));
        if (!nl)
            return lir__errf(&c->err, LIR_ENOMEM, "lir_context_decode: out of memory for %lld rows of logits",
                             (long long)need);
        lir__free_aligned(c->logits);
        c->logits = nl;
        c->logits_cap = need;
    }
    c->n_logits = need;
    c->logits_first = all_logits ? 0 : n - 1;
    for (int32_t i0 = 0; i0 < n; i0 += c->n_batch) {
        const int32_t nb = n - i0 < c->n_batch ? n - i0 : c->n_batch;
        for (int32_t i = 0; i < nb; i++) c->pos[i] = pos + i0 + i;
        struct fwd_args a = { .ctx = c, .tokens = tokens + i0, .n_tok = nb };
        if (all_logits) {
            a.out_from = 0;
            a.logits = c->logits + (size_t)i0 * nv;
        } else {
            a.out_from = (i0 + nb == n) ? nb - 1 : nb; /* only the very last token */
            a.logits = c->logits;
        }
        lir_cpu_run(c->cpu, forward_llama, &a);
    }
    return LIR_OK;
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
    for (int32_t i0 = 0; i0 < n; i0 += c->n_batch) {
        const int32_t nb = n - i0 < c->n_batch ? n - i0 : c->n_batch;
        for (int32_t i = 0; i < nb; i++) c->pos[i] = i0 + i;
        struct fwd_args a = { .ctx = c, .tokens = tokens + i0, .n_tok = nb, .out_from = 0,
                              .embd = hidden + (size_t)i0 * hp->n_embd };
        lir_cpu_run(c->cpu, c->model->arch->bert ? forward_bert : forward_llama, &a);
    }
    c->n_logits = 0; /* the KV cache now holds this input; no logits */
    return LIR_OK;
}

const float *lir_context_logits(const lir_context *c, int32_t i) {
    if (!c || c->n_logits == 0) return NULL;
    if (i == -1) return c->logits + (size_t)(c->n_logits - 1) * c->model->hp.n_vocab;
    int64_t r = (int64_t)i - c->logits_first;
    if (r < 0 || r >= c->n_logits) return NULL;
    return c->logits + (size_t)r * c->model->hp.n_vocab;
}

const char *lir_context_last_error(const lir_context *c) { return c ? c->err.msg : ""; }

int lir__context_n_threads(const lir_context *c) { return lir_cpu_n_threads(c->cpu); }
const char *lir__context_isa(const lir_context *c) { return lir_cpu_isa(c->cpu); }
int32_t lir__context_n_ctx(const lir_context *c) { return c->n_ctx; }
const lir_model *lir__context_model(const lir_context *c) { return c->model; }
lir_err *lir__context_err(lir_context *c) { return &c->err; }
