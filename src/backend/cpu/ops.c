/* ops.c — the CPU backend: the op table of backend.h on the worker pool, using the SIMD
 * kernel table chosen at run time (kernels.h). Numerics follow ggml's CPU backend so that
 * results match llama.cpp closely: matmul inputs converted to the weight's vec_dot_type
 * (Q8_0/Q8_1/Q8_K/F16/BF16), RMSNorm sums in double, RoPE angles by repeated float
 * multiplication and the rotation with ggml's fused multiply-adds (rope_head), attention with
 * q rounded to f16 for K·q, softmax summed in double and its weights rounded to f16 before V. */
#include "backend/backend.h"
#include "backend/cpu/kernels.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define ATT_TB LIR_ATT_TOKENS /* query tokens per attention job */

struct lir_exec {
    const struct lir_pool_thread *t;
    lir_cpu *cpu;
    float *scores;     /* (ATT_TB*group, n_ctx) attention scores */
    lir_f16 *p16;      /* (ATT_TB*group, n_ctx) softmax weights in f16 */
    lir_f16 *q16;      /* (ATT_TB*group, head_dim) q in f16 (or Q8_0 rows for a Q8_0 cache) */
    float *acc;        /* (ATT_TB*group, head_dim) */
    float *tmp;        /* (ATT_TB*group, head_dim) Q8_0 V: one dequantized row */
    const lir_f16 **vblk; /* (n_ctx / LIR_KV_PAD) V^T blocks of the job's sequence and KV head */
};

struct lir_cpu {
    lir_pool *pool;
    const struct lir_cpu_kernels *k;
    int32_t n_ctx;             /* cache rows per layer: the V stride and score row length */
    void *act;                 /* quantized activations: n_batch rows of the widest input */
    struct lir_exec *execs;    /* one per thread */
    float *scratch;            /* per-thread attention scratch, one block */
    const lir_f16 **vblk;      /* per-thread V block pointers, one block */
    /* run state */
    lir_exec_fn fn;
    void *arg;
};

static void barrier(struct lir_exec *x) { lir_pool_barrier(x->t); }
static int ith(const struct lir_exec *x) { return x->t->ith; }
static int nth(const struct lir_exec *x) { return x->t->nth; }
int lir_exec_ith(const struct lir_exec *x) { return x->t->ith; }
int lir_exec_nth(const struct lir_exec *x) { return x->t->nth; }

/* ---------------------------------------------------------------- get_rows */

static void cpu_get_rows(struct lir_exec *x, const struct lir_tensor *w, const int32_t *ids, int32_t n, float *out) {
    const struct lir_type_traits *tr = lir_type_traits_get(w->type);
    int64_t lo, hi;
    lir_pool_split(n, 1, ith(x), nth(x), &lo, &hi);
    for (int64_t i = lo; i < hi; i++)
        tr->dequantize_row_ref((const char *)w->data + (size_t)ids[i] * w->row_size, out + i * w->ne0, w->ne0);
    barrier(x);
}

/* ---------------------------------------------------------------- rmsnorm */

static void cpu_rmsnorm(struct lir_exec *x, const float *in, const float *w, float *out, int64_t rows, int32_t dim,
                        float eps) {
    int64_t lo, hi;
    lir_pool_split(rows, 1, ith(x), nth(x), &lo, &hi);
    for (int64_t r = lo; r < hi; r++) {
        const float *a = in + r * dim;
        float *o = out + r * dim;
        double sum = 0.0;
        for (int32_t i = 0; i < dim; i++) sum += (double)(a[i] * a[i]);
        const float mean = (float)(sum / dim);
        const float scale = 1.0f / sqrtf(mean + eps);
        for (int32_t i = 0; i < dim; i++) o[i] = a[i] * scale;
        if (w)
            for (int32_t i = 0; i < dim; i++) o[i] *= w[i];
    }
    barrier(x);
}

/* ---------------------------------------------------------------- matmul */

static void cpu_matmul(struct lir_exec *x, const struct lir_mm *mm, int n_mm, const float *in, int32_t n_tok) {
    lir_cpu *c = x->cpu;
    const int64_t n = mm[0].w->ne0;
    /* 1. convert the input once per distinct activation type (all weights of one call
     *    normally share it; if not, convert per weight group in turn). */
    int done = 0;
    while (done < n_mm) {
        const enum lir_type at = lir_type_traits_get(mm[done].w->type)->vec_dot_type;
        int end = done;
        while (end < n_mm && lir_type_traits_get(mm[end].w->type)->vec_dot_type == at) end++;
        const size_t ars = lir_type_row_size(at, n);
        const void *act;
        if (at == LIR_TYPE_F32) {
            act = in; /* f32 weights dot the f32 input directly */
        } else {
            int64_t lo, hi;
            lir_pool_split(n_tok, 1, ith(x), nth(x), &lo, &hi);
            for (int64_t r = lo; r < hi; r++) c->k->from_float[at](in + r * n, (char *)c->act + r * ars, n);
            barrier(x);
            act = c->act;
        }
        /* 2. each thread takes a contiguous share of every weight's rows */
        for (int i = done; i < end; i++) {
            const struct lir_tensor *w = mm[i].w;
            const int64_t m = w->ne1;
            const lir_gemm_fn gemm = c->k->gemm_pick ? c->k->gemm_pick(w->type, m, n_tok) : c->k->gemm[w->type];
            int64_t lo, hi;
            lir_pool_split(m, 16, ith(x), nth(x), &lo, &hi);
            /* one call for this thread's rows and all columns: the kernel does the cache
             * blocking (it knows its tile shapes) and prepares each activation column once */
            if (hi > lo)
                gemm((int)n, (const char *)w->data + (size_t)lo * w->row_size, w->row_size, act, ars,
                     mm[i].out + lo, (size_t)m, (int)(hi - lo), n_tok);
            if (mm[i].bias)
                for (int32_t t = 0; t < n_tok; t++)
                    for (int64_t r = lo; r < hi; r++) mm[i].out[(size_t)t * m + r] += mm[i].bias[r];
        }
        barrier(x); /* outputs complete; the act buffer may be reused */
        done = end;
    }
}

/* ---------------------------------------------------------------- rope */

static void cpu_rope(struct lir_exec *x, float *v, int32_t n_tok, int32_t n_head, int32_t head_dim, const int32_t *pos,
                     const struct lir_rope_params *rp) {
    const int32_t n_rot = rp->n_rot;
    void (*rope_head)(int, const float *, float *, bool) = x->cpu->k->rope_head;
    const bool neox = rp->mode == LIR_ROPE_NEOX;
    const float theta_scale = powf(rp->base, -2.0f / (float)n_rot);
    float cache[2 * 4096]; /* cos, sin per rotated pair; head_dim <= 4096 checked at load */
    int64_t lo, hi;
    lir_pool_split(n_tok, 1, ith(x), nth(x), &lo, &hi);
    for (int64_t t = lo; t < hi; t++) {
        float theta = (float)pos[t];
        for (int32_t i0 = 0; i0 < n_rot; i0 += 2) {
            const float ff = rp->freq_factors ? rp->freq_factors[i0 / 2] : 1.0f;
            const float th = rp->freq_scale * (theta / ff);
            cache[i0] = cosf(th);
            cache[i0 + 1] = sinf(th);
            theta *= theta_scale;
        }
        for (int32_t h = 0; h < n_head; h++) rope_head(n_rot, cache, v + ((size_t)t * n_head + h) * head_dim, neox);
    }
    barrier(x);
}

/* ---------------------------------------------------------------- KV + attention */

/* K rows are stored as [row][kv_dim] per block; F16 V transposed as [kv_dim][64] per block (as
 * ggml does without flash attention) so that both attention products are plain f16 gemms; Q8_0
 * V as rows, quantized along the head dimension like K. */
static void cpu_kv_store(struct lir_exec *x, const struct lir_kv_layer *kv, const float *k, const float *v,
                         int32_t n_tok, int32_t kv_dim, const int32_t *pos) {
    lir_cpu *c = x->cpu;
    const size_t bs = kv->block_stride, rb = kv->row_bytes;
    int64_t lo, hi;
    lir_pool_split(n_tok, 1, ith(x), nth(x), &lo, &hi);
    const lir_quantize_row_fn q = c->k->from_float[kv->type];
    for (int64_t t = lo; t < hi; t++) {
        const size_t b = (size_t)kv->tables[t][pos[t] / LIR_KV_PAD], off = (size_t)(pos[t] % LIR_KV_PAD);
        q(k + t * kv_dim, kv->k + b * bs + off * rb, kv_dim);
        if (kv->type != LIR_TYPE_F16) q(v + t * kv_dim, kv->v + b * bs + off * rb, kv_dim);
    }
    if (kv->type == LIR_TYPE_F16) {
        lir_pool_split(kv_dim, 1, ith(x), nth(x), &lo, &hi);
        for (int32_t t = 0; t < n_tok; t++) {
            lir_f16 *vt = (lir_f16 *)(kv->v + (size_t)kv->tables[t][pos[t] / LIR_KV_PAD] * bs) + pos[t] % LIR_KV_PAD;
            for (int64_t d = lo; d < hi; d++) vt[(size_t)d * LIR_KV_PAD] = lir_f32_to_f16(v[(size_t)t * kv_dim + d]);
        }
    }
    barrier(x);
}

/* One job = one KV head x up to ATT_TB consecutive query tokens of one sequence: its group of
 * query heads share the K and V rows, so scores for all (token, head) columns come from one
 * gemm per block of K, and the outputs from one gemm per block of V^T, summed in block order.
 * Blocks past a token's position get weight exactly 0 and add exact zeros, so a token's result
 * is the same whatever job (batch) it is in. */
static void cpu_attention(struct lir_exec *x, const struct lir_attn_args *a) {
    lir_cpu *c = x->cpu;
    const struct lir_kv_layer *kv = a->kv;
    const int32_t hd = a->head_dim, qd = a->n_head * hd;
    const int32_t group = a->n_head / a->n_head_kv, n_ctx = c->n_ctx;
    const bool f16 = kv->type == LIR_TYPE_F16;
    /* the "ggml" table sums a step of two or more tokens in another order than one token */
    const lir_gemm_fn gemm_k =
        c->k->gemm_pick ? c->k->gemm_pick(kv->type, LIR_KV_PAD, a->n_tok) : c->k->gemm[kv->type];
    void (*gemm_v)(int, int, const lir_f16 *const *, size_t, const lir_f16 *, size_t, float *, size_t, int, int) =
        a->n_tok >= 2 && c->k->gemm_f16_paged_many ? c->k->gemm_f16_paged_many : c->k->gemm_f16_paged;
    const size_t qrb = lir_type_row_size(kv->type, hd);          /* one head of q in K's dot type */
    const size_t khead = lir_type_row_size(kv->type, hd);        /* one head of a K row */
    const struct lir_type_traits *q8 = f16 ? NULL : lir_type_traits_get(LIR_TYPE_Q8_0);
    int64_t lo, hi;
    lir_pool_split((int64_t)a->n_head_kv * a->n_jobs, 1, ith(x), nth(x), &lo, &hi);
    for (int64_t job = lo; job < hi; job++) {
        const int32_t kvh = (int32_t)(job % a->n_head_kv), jb = (int32_t)(job / a->n_head_kv);
        const int32_t t0 = a->jobs[2 * jb], nt = a->jobs[2 * jb + 1];
        const int32_t ncol = nt * group;
        const int32_t *table = kv->tables[t0];
        int32_t n_kv = 0;
        for (int32_t t = t0; t < t0 + nt; t++)
            if (a->pos[t] + 1 > n_kv) n_kv = a->pos[t] + 1;
        const int32_t nb = (n_kv + LIR_KV_PAD - 1) / LIR_KV_PAD; /* whole blocks: batch-invariant sums */
        n_kv = nb * LIR_KV_PAD;
        /* q of (token, head) column c = (t - t0) * group + g, rounded to K's dot type */
        for (int32_t t = 0; t < nt; t++)
            for (int32_t g = 0; g < group; g++)
                c->k->from_float[kv->type](a->q + (size_t)(t0 + t) * qd + (size_t)(kvh * group + g) * hd,
                                           (char *)x->q16 + (size_t)(t * group + g) * qrb, hd);
        float *S = x->scores; /* [ncol][n_ctx] */
        for (int32_t b = 0; b < nb; b++)
            gemm_k(hd, kv->k + (size_t)table[b] * kv->block_stride + (size_t)kvh * khead, kv->row_bytes, x->q16, qrb,
                   S + (size_t)b * LIR_KV_PAD, (size_t)n_ctx, LIR_KV_PAD, ncol);
        for (int32_t col = 0; col < ncol; col++) {
            float *s = S + (size_t)col * n_ctx;
            lir_f16 *p16 = x->p16 + (size_t)col * n_ctx;
            const int32_t lim = a->pos[t0 + col / group] + 1; /* causal: rows [0, pos] */
            c->k->softmax_f16(lim, n_kv, s, a->scale, p16); /* ggml rounds V's weights to f16 */
        }
        if (f16) {
            /* O[col][d] = sum_j p16[col][j] * V^T[d][j] over the sequence's blocks in order (the
             * sums of one gemm over n_kv contiguous rows, bit for bit) */
            for (int32_t b = 0; b < nb; b++)
                x->vblk[b] = (const lir_f16 *)(kv->v + (size_t)table[b] * kv->block_stride) + (size_t)kvh * hd * LIR_KV_PAD;
            gemm_v(LIR_KV_PAD, nb, x->vblk, LIR_KV_PAD * sizeof(lir_f16), x->p16,
                   (size_t)n_ctx * sizeof(lir_f16), x->acc, (size_t)hd, hd, ncol);
        } else {
            /* Q8_0 V rows: O[col] = sum_j p[col][j] * V[j], j < lim of the column, ascending */
            memset(x->acc, 0, sizeof(float) * (size_t)ncol * hd);
            int32_t jmax = 0;
            for (int32_t t = t0; t < t0 + nt; t++)
                if (a->pos[t] + 1 > jmax) jmax = a->pos[t] + 1;
            for (int32_t j = 0; j < jmax; j++) {
                const char *vr = kv->v + (size_t)table[j / LIR_KV_PAD] * kv->block_stride +
                                 (size_t)(j % LIR_KV_PAD) * kv->row_bytes + (size_t)kvh * khead;
                q8->dequantize_row_ref(vr, x->tmp, hd);
                for (int32_t col = 0; col < ncol; col++) {
                    if (j > a->pos[t0 + col / group]) continue;
                    const float w = lir_f16_to_f32(x->p16[(size_t)col * n_ctx + j]);
                    float *o = x->acc + (size_t)col * hd;
                    for (int32_t d = 0; d < hd; d++) o[d] += w * x->tmp[d];
                }
            }
        }
        for (int32_t t = 0; t < nt; t++)
            memcpy(a->out + (size_t)(t0 + t) * qd + (size_t)kvh * group * hd, x->acc + (size_t)t * group * hd,
                   sizeof(float) * (size_t)group * hd);
    }
    barrier(x);
}

static void cpu_copy_rows(struct lir_exec *x, const float *src, const int32_t *rows, int32_t n, int32_t dim,
                          float *dst) {
    int64_t lo, hi;
    lir_pool_split(n, 1, ith(x), nth(x), &lo, &hi);
    for (int64_t i = lo; i < hi; i++) memcpy(dst + i * dim, src + (size_t)rows[i] * dim, sizeof(float) * (size_t)dim);
    barrier(x);
}

/* ---------------------------------------------------------------- elementwise */

static void cpu_swiglu(struct lir_exec *x, const float *g, const float *u, float *out, int64_t n) {
    int64_t lo, hi;
    lir_pool_split(n, 64, ith(x), nth(x), &lo, &hi);
    if (hi > lo) x->cpu->k->silu_mul(hi - lo, g + lo, u + lo, out + lo);
    barrier(x);
}

static void cpu_add(struct lir_exec *x, float *y, const float *v, int64_t n) {
    int64_t lo, hi;
    lir_pool_split(n, 64, ith(x), nth(x), &lo, &hi);
    for (int64_t i = lo; i < hi; i++) y[i] += v[i];
    barrier(x);
}

/* ---------------------------------------------------------------- encoder ops */

void lir_layernorm_row_ref(const float *a, const float *w, const float *b, float *o, int32_t dim, float eps) {
    /* ggml_compute_forward_norm_f32: the mean from a double sum rounded to float, the
     * centered values stored, their variance summed in double; then ggml_mul and ggml_add */
    double sum = 0.0;
    for (int32_t i = 0; i < dim; i++) sum += (double)a[i];
    const float mean = (float)sum / (float)dim;
    double var = 0.0;
    for (int32_t i = 0; i < dim; i++) {
        const float d = a[i] - mean;
        o[i] = d;
        var += (double)(d * d);
    }
    const float scale = 1.0f / sqrtf((float)(var / dim) + eps);
    for (int32_t i = 0; i < dim; i++) o[i] *= scale;
    if (w)
        for (int32_t i = 0; i < dim; i++) o[i] *= w[i];
    if (b)
        for (int32_t i = 0; i < dim; i++) o[i] += b[i];
}

static void cpu_layernorm(struct lir_exec *x, const float *in, const float *w, const float *b, float *out,
                          int64_t rows, int32_t dim, float eps) {
    int64_t lo, hi;
    lir_pool_split(rows, 1, ith(x), nth(x), &lo, &hi);
    for (int64_t r = lo; r < hi; r++) lir_layernorm_row_ref(in + r * dim, w, b, out + r * dim, dim, eps);
    barrier(x);
}

float lir_gelu_ggml(float v) {
    /* ggml_vec_gelu_f32 with GGML_GELU_FP16: a table of ggml_gelu_f32 over every f16 input,
     * stored as f16; outside (-10, 10) the identity or zero */
    if (v <= -10.0f) return 0.0f;
    if (v >= 10.0f) return v;
    const float h = lir_f16_to_f32(lir_f32_to_f16(v));
    const float g = 0.5f * h * (1.0f + tanhf(0.79788456080286535587989211986876f * h * (1.0f + 0.044715f * h * h)));
    return lir_f16_to_f32(lir_f32_to_f16(g));
}

static void cpu_gelu(struct lir_exec *x, const float *in, float *out, int64_t n) {
    int64_t lo, hi;
    lir_pool_split(n, 64, ith(x), nth(x), &lo, &hi);
    for (int64_t i = lo; i < hi; i++) out[i] = lir_gelu_ggml(in[i]);
    barrier(x);
}

static void cpu_add_row(struct lir_exec *x, float *y, const float *v, int64_t rows, int32_t dim) {
    int64_t lo, hi;
    lir_pool_split(rows, 1, ith(x), nth(x), &lo, &hi);
    for (int64_t r = lo; r < hi; r++)
        for (int32_t i = 0; i < dim; i++) y[r * dim + i] += v[i];
    barrier(x);
}

/* One job = one (query token, head) row: n_tok scores in the thread's score scratch (which
 * holds at least kv_size floats), softmax as ggml_soft_max_f32, then the weighted sum of V. */
static void cpu_attention_full(struct lir_exec *x, const struct lir_attn_full_args *a) {
    const int32_t hd = a->head_dim, n = a->n_tok, group = a->n_head / a->n_head_kv;
    const size_t qd = (size_t)a->n_head * hd, kvd = (size_t)a->n_head_kv * hd;
    float (*dot)(int, const float *, const float *) = x->cpu->k->dot_f32;
    int64_t lo, hi;
    lir_pool_split((int64_t)n * a->n_head, 1, ith(x), nth(x), &lo, &hi);
    float *s = x->scores;
    for (int64_t job = lo; job < hi; job++) {
        const int32_t t = (int32_t)(job / a->n_head), h = (int32_t)(job % a->n_head), kvh = h / group;
        const float *q = a->q + (size_t)t * qd + (size_t)h * hd;
        float mx = -INFINITY;
        for (int32_t j = 0; j < n; j++) {
            s[j] = dot(hd, a->k + (size_t)j * kvd + (size_t)kvh * hd, q) * a->scale;
            if (s[j] > mx) mx = s[j];
        }
        double sum = 0.0;
        for (int32_t j = 0; j < n; j++) {
            s[j] = expf(s[j] - mx);
            sum += (double)s[j];
        }
        const float inv = (float)(1.0 / sum);
        float *o = a->out + (size_t)t * qd + (size_t)h * hd;
        for (int32_t d = 0; d < hd; d++) o[d] = 0.0f;
        for (int32_t j = 0; j < n; j++) {
            const float p = s[j] * inv;
            const float *v = a->v + (size_t)j * kvd + (size_t)kvh * hd;
            for (int32_t d = 0; d < hd; d++) o[d] += p * v[d];
        }
    }
    barrier(x);
}

static const struct lir_backend_ops cpu_ops = {
    .name = "cpu",
    .get_rows = cpu_get_rows,
    .rmsnorm = cpu_rmsnorm,
    .matmul = cpu_matmul,
    .rope = cpu_rope,
    .kv_store = cpu_kv_store,
    .attention = cpu_attention,
    .copy_rows = cpu_copy_rows,
    .swiglu = cpu_swiglu,
    .add = cpu_add,
    .layernorm = cpu_layernorm,
    .gelu = cpu_gelu,
    .add_row = cpu_add_row,
    .attention_full = cpu_attention_full,
};

const struct lir_backend_ops *lir_cpu_ops(void) { return &cpu_ops; }

/* ---------------------------------------------------------------- lifetime */

lir_cpu *lir_cpu_create(const struct lir_model *m, int32_t n_ctx, int32_t n_batch, int n_threads, lir_err *e) {
    const struct lir_hparams *hp = &m->hp;
    if (hp->head_dim > 4096) {
        lir__errf(e, LIR_EUNSUPPORTED, "cpu: head dimension %d exceeds 4096", hp->head_dim);
        return NULL;
    }
    lir_cpu *c = calloc(1, sizeof *c);
    if (!c) goto oom;
    c->k = lir_cpu_kernels_best();
    c->n_ctx = n_ctx;
    int32_t md = hp->n_embd;
    if (hp->n_ff > md) md = hp->n_ff;
    if (hp->n_head * hp->head_dim > md) md = hp->n_head * hp->head_dim;
    c->act = lir__alloc_aligned((size_t)md * sizeof(float) * (size_t)n_batch); /* f32 is the widest act type */
    c->pool = lir_pool_create(n_threads);
    c->execs = calloc((size_t)n_threads, sizeof *c->execs);
    const size_t cols = (size_t)ATT_TB * (size_t)(hp->n_head / hp->n_head_kv);
    const size_t per = cols * ((size_t)n_ctx + (size_t)n_ctx / 2 + (size_t)hp->head_dim * 5 / 2) + 64;
    c->scratch = lir__alloc_aligned(per * sizeof(float) * (size_t)n_threads);
    c->vblk = malloc(sizeof(*c->vblk) * ((size_t)n_ctx / LIR_KV_PAD + 1) * (size_t)n_threads);
    if (!c->act || !c->pool || !c->execs || !c->scratch || !c->vblk) goto oom;
    for (int i = 0; i < n_threads; i++) {
        float *base = c->scratch + per * (size_t)i;
        c->execs[i].cpu = c;
        c->execs[i].scores = base;
        c->execs[i].acc = base + cols * (size_t)n_ctx;
        c->execs[i].p16 = (lir_f16 *)(c->execs[i].acc + cols * (size_t)hp->head_dim);
        c->execs[i].q16 = c->execs[i].p16 + cols * (size_t)n_ctx;
        c->execs[i].tmp = (float *)(c->execs[i].q16 + cols * (size_t)hp->head_dim);
        c->execs[i].vblk = c->vblk + ((size_t)n_ctx / LIR_KV_PAD + 1) * (size_t)i;
    }
    return c;
oom:
    lir__errf(e, LIR_ENOMEM, "cpu: out of memory for compute buffers (n_batch %d, n_ctx %d)", n_batch, n_ctx);
    lir_cpu_free(c);
    return NULL;
}

void lir_cpu_free(lir_cpu *c) {
    if (!c) return;
    lir_pool_free(c->pool);
    lir__free_aligned(c->act);
    lir__free_aligned(c->scratch);
    free(c->vblk);
    free(c->execs);
    free(c);
}

static void run_task(const struct lir_pool_thread *t, void *arg) {
    lir_cpu *c = arg;
    struct lir_exec *x = &c->execs[t->ith];
    x->t = t;
    c->fn(x, &cpu_ops, c->arg);
}

void lir_cpu_run(lir_cpu *c, lir_exec_fn fn, void *arg) {
    c->fn = fn;
    c->arg = arg;
    lir_pool_run(c->pool, run_task, c);
}

int lir_cpu_n_threads(const lir_cpu *c) { return lir_pool_n_threads(c->pool); }
const char *lir_cpu_isa(const lir_cpu *c) { return c->k->isa; }
void (*lir_cpu_f16_row(const lir_cpu *c))(const float *x, void *y, int64_t n) { return c->k->from_float[LIR_TYPE_F16]; }
