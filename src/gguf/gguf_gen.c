/* gguf_gen.c — random-weight llama-family GGUF models (see gguf_gen.h).
 *
 * Layout and metadata follow llama.cpp's converter (convert_hf_to_gguf.py) so llama.cpp
 * loads the files: ne[0] is the input (row) dimension, ne[1] the output one.
 *
 * Weights: every element is mean + std * z with z from an approximately normal
 * distribution (sum of four 16-bit uniforms, variance 1, |z| <= 3.47), drawn from a
 * splitmix64 stream seeded per (seed, tensor name, row), so the bytes do not depend on the
 * thread count or the chunking. Scales keep activations O(1) through the network:
 * projections std 1/sqrt(fan_in), norm weights 1 +- 0.1, biases 0.2, token embeddings
 * std 1; the output projection has std LOGIT_STD/sqrt(n_embd) so logits spread over several
 * units and top-1/top-2 margins are typically well above 0.5 (checked with `lir eval`).
 * With a tied output, token_embd has the output's scale (it is the output matrix).
 *
 * Storage types: plain types (F32 ... Q6_K) store every 2-D weight in that type (like
 * llama-quantize --pure; note llama-quantize proper would put output.weight in Q6_K).
 * Q4_K_M / Q5_K_M follow llama.cpp's llama_tensor_get_type for dense llama-family models:
 * base Q4_K / Q5_K; output.weight (token_embd.weight when tied) Q6_K; attn_v.weight and
 * ffn_down.weight Q6_K in the layers where use_more_bits(i, n) holds (first and last
 * eighth, every third in between). Simplification: no 70B/MoE/GQA special cases. Rows
 * whose length is not a multiple of 256 fall back as llama.cpp does (Q4_K -> Q5_0,
 * Q5_K -> Q5_1, Q6_K -> Q8_0; Q2_K/Q3_K -> Q4_0 where llama.cpp uses IQ4_NL, which lir does
 * not support), then to F16 if the row is not a multiple of 32. 1-D tensors (norms,
 * biases, rope_freqs) are F32. */
#include "gguf/gguf_gen.h"
#include "gguf/gguf.h"
#include "quant/quant.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LOGIT_STD 6.0f
/* Residual-branch gain (attn_output and ffn_down scaled by it): random transformers whose
 * blocks add as much as the embedding to the residual stream are chaotic — one rounding
 * difference anywhere (a Q8 activation quantum, an f16 K/V bit) moves later log-probs by
 * 0.1 or more, which even llama.cpp shows between its own batched and one-by-one runs. With
 * the blocks adding a quarter, differences stay proportional to their cause, so parity
 * tolerances can be tight and still every block contributes visibly to the logits. */
#define RESID_GAIN 0.25f
#define MAX_THREADS 64

/* ---------------------------------------------------------------- presets */

struct preset {
    const char *name;
    enum lir_gen_arch arch;
    int64_t n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_vocab, n_ctx;
    float rope_base, rms_eps;
    bool tied, rope_llama3;
};

static const struct preset presets[] = {
    /* name            arch           embd  layer head kv  hd   ff     vocab   ctx     rope    eps   tied  llama3 */
    {"llama-3.2-1b", LIR_GEN_LLAMA, 2048, 16, 32, 8, 64, 8192, 128256, 131072, 500000.0f, 1e-5f, true, true},
    {"llama-3-8b", LIR_GEN_LLAMA, 4096, 32, 32, 8, 128, 14336, 128256, 8192, 500000.0f, 1e-5f, false, false},
    {"qwen2.5-0.5b", LIR_GEN_QWEN2, 896, 24, 14, 2, 64, 4864, 151936, 32768, 1000000.0f, 1e-6f, true, false},
    {"qwen2.5-7b", LIR_GEN_QWEN2, 3584, 28, 28, 4, 128, 18944, 152064, 32768, 1000000.0f, 1e-6f, false, false},
    {"qwen3-0.6b", LIR_GEN_QWEN3, 1024, 28, 16, 8, 128, 3072, 151936, 40960, 1000000.0f, 1e-6f, true, false},
    {"qwen3-8b", LIR_GEN_QWEN3, 4096, 36, 32, 8, 128, 12288, 151936, 40960, 1000000.0f, 1e-6f, false, false},
};

static const char *arch_names[] = {"llama", "qwen2", "qwen3", "bert", "nomic-bert"};
#define N_ARCH ((int)(sizeof arch_names / sizeof arch_names[0]))

const char *lir_gen_arch_name(enum lir_gen_arch a) {
    return (unsigned)a < N_ARCH ? arch_names[a] : "unknown";
}

bool lir_gen_parse_arch(const char *s, enum lir_gen_arch *out) {
    for (int i = 0; i < N_ARCH; i++)
        if (s && strcmp(s, arch_names[i]) == 0) { *out = (enum lir_gen_arch)i; return true; }
    return false;
}

static const char *pooling_names[] = {"none", "mean", "cls", "last"};

bool lir_gen_parse_pooling(const char *s, int32_t *out) {
    for (int i = 0; i < 4; i++)
        if (s && strcmp(s, pooling_names[i]) == 0) { *out = i; return true; }
    return false;
}

enum lir_status lir_gen_preset(struct lir_gen_params *p, const char *preset, enum lir_gen_arch arch, lir_err *e) {
    memset(p, 0, sizeof *p);
    p->rope_factor = 32.0f;       /* Llama 3.2's rope_scaling */
    p->rope_low = 1.0f;
    p->rope_high = 4.0f;
    p->rope_orig_ctx = 8192;
    p->type = LIR_TYPE_F32;
    p->seed = 1;
    p->n_threads = 2;
    p->pooling = LIR_GEN_POOLING_UNSET;
    if ((!preset || strcmp(preset, "tiny") == 0) && (arch == LIR_GEN_BERT || arch == LIR_GEN_NOMIC_BERT)) {
        /* BERT-base proportions, shrunk: learned positions over n_ctx, LayerNorm eps 1e-12,
         * mean pooling (sentence-transformers' all-MiniLM style) */
        p->arch = arch;
        p->n_embd = 256; p->n_layer = 2; p->n_head = 4; p->n_head_kv = 4; p->head_dim = 64;
        p->n_ff = 1024; p->n_vocab = 1024; p->n_ctx = 512;
        p->rope_base = 10000.0f; p->rms_eps = 1e-12f;
        p->pooling = LIR_GEN_POOLING_MEAN;
        if (arch == LIR_GEN_NOMIC_BERT) { p->rope_base = 1000.0f; p->n_ctx = 2048; p->n_ff = 768; }
        snprintf(p->name, sizeof p->name, "lir-gen tiny %s", arch_names[arch]);
        return LIR_OK;
    }
    if (!preset || strcmp(preset, "tiny") == 0) {
        /* small enough for tests, every row a multiple of 256 so all types apply */
        p->arch = arch;
        p->n_embd = 256; p->n_layer = 2; p->n_head = 4; p->n_head_kv = 2; p->head_dim = 64;
        p->n_ff = 768; p->n_vocab = 512; p->n_ctx = 4096;
        p->rope_base = 10000.0f; p->rms_eps = 1e-5f;
        if (arch == LIR_GEN_QWEN3) p->head_dim = 128; /* != n_embd/n_head, as in real qwen3 */
        if (arch != LIR_GEN_LLAMA) p->rms_eps = 1e-6f;
        snprintf(p->name, sizeof p->name, "lir-gen tiny %s", arch_names[arch]);
        return LIR_OK;
    }
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        const struct preset *q = &presets[i];
        if (strcmp(preset, q->name) != 0) continue;
        p->arch = q->arch;
        p->n_embd = q->n_embd; p->n_layer = q->n_layer; p->n_head = q->n_head; p->n_head_kv = q->n_head_kv;
        p->head_dim = q->head_dim; p->n_ff = q->n_ff; p->n_vocab = q->n_vocab; p->n_ctx = q->n_ctx;
        p->rope_base = q->rope_base; p->rms_eps = q->rms_eps; p->tied = q->tied; p->rope_llama3 = q->rope_llama3;
        snprintf(p->name, sizeof p->name, "lir-gen %s", q->name);
        return LIR_OK;
    }
    return lir__errf(e, LIR_EINVAL, "lir_gen: unknown preset '%s' (tiny, llama-3.2-1b, llama-3-8b, qwen2.5-0.5b, "
                     "qwen2.5-7b, qwen3-0.6b, qwen3-8b)", preset);
}

/* ---------------------------------------------------------------- types */

static const struct { const char *name; int32_t type; bool mix; uint32_t ftype; } type_names[] = {
    {"F32", LIR_TYPE_F32, false, 0},    {"F16", LIR_TYPE_F16, false, 1},    {"BF16", LIR_TYPE_BF16, false, 32},
    {"Q4_0", LIR_TYPE_Q4_0, false, 2},  {"Q4_1", LIR_TYPE_Q4_1, false, 3},  {"Q8_0", LIR_TYPE_Q8_0, false, 7},
    {"Q5_0", LIR_TYPE_Q5_0, false, 8},  {"Q5_1", LIR_TYPE_Q5_1, false, 9},  {"Q2_K", LIR_TYPE_Q2_K, false, 10},
    {"Q3_K", LIR_TYPE_Q3_K, false, 11}, {"Q4_K", LIR_TYPE_Q4_K, false, 14}, {"Q5_K", LIR_TYPE_Q5_K, false, 16},
    {"Q6_K", LIR_TYPE_Q6_K, false, 18}, {"Q4_K_M", LIR_TYPE_Q4_K, true, 15}, {"Q5_K_M", LIR_TYPE_Q5_K, true, 17},
};
/* general.file_type is llama_ftype: plain K types map to the _S variants (Q3_K_S=11, Q4_K_S=14, Q5_K_S=16). */

bool lir_gen_parse_type(const char *s, struct lir_gen_params *p) {
    for (size_t i = 0; s && i < sizeof type_names / sizeof type_names[0]; i++)
        if (strcasecmp(s, type_names[i].name) == 0) {
            p->type = type_names[i].type;
            p->mix_m = type_names[i].mix;
            return true;
        }
    return false;
}

static uint32_t file_type(const struct lir_gen_params *p) {
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
        if (type_names[i].type == p->type && type_names[i].mix == p->mix_m) return type_names[i].ftype;
    return 0;
}

/* llama.cpp's use_more_bits: first and last eighth of the layers, and every third in between. */
static bool use_more_bits(int64_t i, int64_t n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* llama.cpp's fallback when a row is not a multiple of the type's block size. */
static int32_t fallback(int32_t t, int64_t ne0) {
    const struct lir_type_traits *tr = lir_type_traits_get(t);
    if (tr && ne0 % tr->blck_size == 0) return t;
    switch (t) {
    case LIR_TYPE_Q2_K: case LIR_TYPE_Q3_K: t = LIR_TYPE_Q4_0; break; /* llama.cpp: IQ4_NL */
    case LIR_TYPE_Q4_K: t = LIR_TYPE_Q5_0; break;
    case LIR_TYPE_Q5_K: t = LIR_TYPE_Q5_1; break;
    case LIR_TYPE_Q6_K: t = LIR_TYPE_Q8_0; break;
    default: break;
    }
    tr = lir_type_traits_get(t);
    if (!tr || ne0 % tr->blck_size != 0) t = LIR_TYPE_F16;
    return t;
}

int32_t lir_gen_tensor_type(const struct lir_gen_params *p, const char *name, int64_t ne0, int64_t il) {
    int32_t t = p->type;
    if (p->mix_m) {
        bool is_output = strcmp(name, "output.weight") == 0 || (p->tied && strcmp(name, "token_embd.weight") == 0);
        if (is_output) t = LIR_TYPE_Q6_K;
        else if (il >= 0 && (strstr(name, ".attn_v.weight") || strstr(name, ".ffn_down.weight")) &&
                 use_more_bits(il, p->n_layer))
            t = LIR_TYPE_Q6_K;
    }
    return fallback(t, ne0);
}

/* ---------------------------------------------------------------- random numbers */

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Approximately standard normal: Irwin-Hall sum of four 16-bit uniforms, variance 1. */
static float normalish(uint64_t r) {
    uint32_t s = (uint32_t)(r & 0xFFFF) + (uint32_t)((r >> 16) & 0xFFFF) + (uint32_t)((r >> 32) & 0xFFFF) +
                 (uint32_t)(r >> 48);
    return ((float)s - 131070.0f) * (1.7320508f / 65536.0f);
}

static uint64_t hash_name(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) { h ^= (unsigned char)*s; h *= 1099511628211ull; }
    return h;
}

/* ---------------------------------------------------------------- tensors */

enum gen_kind { GEN_GAUSS, GEN_ROPE_FREQS };

struct gen_tensor {
    char name[64];
    enum gen_kind kind;
    int32_t type;
    uint32_t n_dims;
    int64_t ne[2];
    float mean, std;
    uint64_t stream;           /* seed ^ hash(name) */
    size_t row_size;
    const struct lir_gen_params *p;
};

/* rope_freqs.weight as convert_hf_to_gguf.py computes it for rope_type "llama3" (float32). */
static void rope_freqs(const struct lir_gen_params *p, float *out, int64_t n) {
    const int64_t dim = p->head_dim;
    const float low_wavelen = (float)p->rope_orig_ctx / p->rope_low;
    const float high_wavelen = (float)p->rope_orig_ctx / p->rope_high;
    for (int64_t i = 0; i < n; i++) {
        float freq = 1.0f / powf(p->rope_base, (float)(2 * i) / (float)dim);
        float wavelen = (float)(2.0 * M_PI) / freq;
        if (wavelen < high_wavelen) out[i] = 1.0f;
        else if (wavelen > low_wavelen) out[i] = p->rope_factor;
        else {
            float smooth = ((float)p->rope_orig_ctx / wavelen - p->rope_low) / (p->rope_high - p->rope_low);
            out[i] = 1.0f / ((1.0f - smooth) / p->rope_factor + smooth);
        }
    }
}

static void gen_row(const struct gen_tensor *t, int64_t row, float *x) {
    if (t->kind == GEN_ROPE_FREQS) { rope_freqs(t->p, x, t->ne[0]); return; }
    uint64_t s = t->stream ^ ((uint64_t)(row + 1) * 0xD1B54A32D192ED03ull);
    splitmix64(&s);
    for (int64_t j = 0; j < t->ne[0]; j++) x[j] = t->mean + t->std * normalish(splitmix64(&s));
}

struct job {
    const struct gen_tensor *t;
    uint8_t *dst;
    int64_t row0, nrows;
    bool failed;
};

static void *run_job(void *arg) {
    struct job *j = arg;
    const struct gen_tensor *t = j->t;
    float *x = malloc((size_t)t->ne[0] * sizeof *x);
    if (!x) { j->failed = true; return NULL; }
    lir_quantize_row_fn q = lir_type_traits_get(t->type)->quantize_row_ref;
    for (int64_t r = 0; r < j->nrows; r++) {
        gen_row(t, j->row0 + r, x);
        q(x, j->dst + (size_t)r * t->row_size, t->ne[0]);
    }
    free(x);
    return NULL;
}

/* Writer callback: rows [off/row_size, (off+size)/row_size), split over the threads. */
static void fill_range(void *user, void *dst, uint64_t off, uint64_t size) {
    const struct gen_tensor *t = user;
    int64_t row0 = (int64_t)(off / t->row_size), nrows = (int64_t)(size / t->row_size);
    int nt = t->p->n_threads < 1 ? 1 : t->p->n_threads > MAX_THREADS ? MAX_THREADS : t->p->n_threads;
    if (nrows < 4 * nt) nt = 1;
    struct job jobs[MAX_THREADS];
    pthread_t th[MAX_THREADS];
    bool started[MAX_THREADS] = {false};
    for (int i = 0; i < nt; i++) {
        int64_t a = nrows * i / nt, b = nrows * (i + 1) / nt;
        jobs[i] = (struct job){t, (uint8_t *)dst + (size_t)a * t->row_size, row0 + a, b - a, false};
        if (i > 0) started[i] = pthread_create(&th[i], NULL, run_job, &jobs[i]) == 0;
    }
    run_job(&jobs[0]);
    for (int i = 1; i < nt; i++) {
        if (started[i]) pthread_join(th[i], NULL);
        else run_job(&jobs[i]); /* no thread: do it here */
    }
    /* the only failure is the row buffer's malloc: retry those rows once here (the fill
     * callback cannot report errors; a second failure leaves those rows unwritten) */
    for (int i = 0; i < nt; i++)
        if (jobs[i].failed) run_job(&jobs[i]);
}

struct builder {
    const struct lir_gen_params *p;
    struct gen_tensor *t;
    size_t n, cap;
    bool oom;
};

static void add(struct builder *b, const char *name, int64_t il, uint32_t n_dims, int64_t ne0, int64_t ne1,
                enum gen_kind kind, float mean, float std) {
    if (b->n == b->cap) { b->oom = true; return; }
    struct gen_tensor *t = &b->t[b->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->kind = kind;
    t->n_dims = n_dims;
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    /* token_types stays F32 as llama.cpp's converter leaves it: its row 0 goes through ggml_add,
     * which takes no quantized operand */
    t->type = n_dims == 1 || strcmp(name, "token_types.weight") == 0 ? LIR_TYPE_F32
                                                                      : lir_gen_tensor_type(b->p, name, ne0, il);
    t->mean = mean;
    t->std = std;
    t->stream = b->p->seed ^ hash_name(name);
    t->row_size = lir_type_row_size(t->type, ne0);
    t->p = b->p;
}

static void add_layer(struct builder *b, int64_t il) {
    const struct lir_gen_params *p = b->p;
    const int64_t q_dim = p->n_head * p->head_dim, kv_dim = p->n_head_kv * p->head_dim;
    const float s_embd = 1.0f / sqrtf((float)p->n_embd);
    char n[64];
#define NAME(x) (snprintf(n, sizeof n, "blk.%" PRId64 ".%s", il, x), n)
    add(b, NAME("attn_norm.weight"), il, 1, p->n_embd, 1, GEN_GAUSS, 1.0f, 0.1f);
    add(b, NAME("attn_q.weight"), il, 2, p->n_embd, q_dim, GEN_GAUSS, 0.0f, s_embd);
    add(b, NAME("attn_k.weight"), il, 2, p->n_embd, kv_dim, GEN_GAUSS, 0.0f, s_embd);
    add(b, NAME("attn_v.weight"), il, 2, p->n_embd, kv_dim, GEN_GAUSS, 0.0f, s_embd);
    if (p->arch == LIR_GEN_QWEN2) {
        add(b, NAME("attn_q.bias"), il, 1, q_dim, 1, GEN_GAUSS, 0.0f, 0.2f);
        add(b, NAME("attn_k.bias"), il, 1, kv_dim, 1, GEN_GAUSS, 0.0f, 0.2f);
        add(b, NAME("attn_v.bias"), il, 1, kv_dim, 1, GEN_GAUSS, 0.0f, 0.2f);
    }
    if (p->arch == LIR_GEN_QWEN3) {
        add(b, NAME("attn_q_norm.weight"), il, 1, p->head_dim, 1, GEN_GAUSS, 1.0f, 0.1f);
        add(b, NAME("attn_k_norm.weight"), il, 1, p->head_dim, 1, GEN_GAUSS, 1.0f, 0.1f);
    }
    add(b, NAME("attn_output.weight"), il, 2, q_dim, p->n_embd, GEN_GAUSS, 0.0f, RESID_GAIN / sqrtf((float)q_dim));
    add(b, NAME("ffn_norm.weight"), il, 1, p->n_embd, 1, GEN_GAUSS, 1.0f, 0.1f);
    add(b, NAME("ffn_gate.weight"), il, 2, p->n_embd, p->n_ff, GEN_GAUSS, 0.0f, s_embd);
    add(b, NAME("ffn_up.weight"), il, 2, p->n_embd, p->n_ff, GEN_GAUSS, 0.0f, s_embd);
    add(b, NAME("ffn_down.weight"), il, 2, p->n_ff, p->n_embd, GEN_GAUSS, 0.0f, RESID_GAIN / sqrtf((float)p->n_ff));
#undef NAME
}

/* BERT layer (llama.cpp's LLM_ARCH_BERT): q/k/v/output with biases, post-norm LayerNorms
 * with biases after attention and after the GELU feed-forward (up, down, both biased).
 * Weights std 1/sqrt(fan_in): every LayerNorm brings the residual stream back to O(1), so no
 * residual gain is needed. */
static void add_layer_bert(struct builder *b, int64_t il) {
    const struct lir_gen_params *p = b->p;
    const int64_t E = p->n_embd;
    const float s_embd = 1.0f / sqrtf((float)E), s_ff = 1.0f / sqrtf((float)p->n_ff);
    char n[64];
#define NAME(x) (snprintf(n, sizeof n, "blk.%" PRId64 ".%s", il, x), n)
    if (p->arch == LIR_GEN_NOMIC_BERT) { /* nomic-embed-text: fused q|k|v rows, SwiGLU, no biases */
        add(b, NAME("attn_qkv.weight"), il, 2, E, 3 * E, GEN_GAUSS, 0.0f, s_embd);
        add(b, NAME("attn_output.weight"), il, 2, E, E, GEN_GAUSS, 0.0f, s_embd);
        add(b, NAME("attn_output_norm.weight"), il, 1, E, 1, GEN_GAUSS, 1.0f, 0.1f);
        add(b, NAME("attn_output_norm.bias"), il, 1, E, 1, GEN_GAUSS, 0.0f, 0.1f);
        add(b, NAME("ffn_up.weight"), il, 2, E, p->n_ff, GEN_GAUSS, 0.0f, s_embd);
        add(b, NAME("ffn_gate.weight"), il, 2, E, p->n_ff, GEN_GAUSS, 0.0f, s_embd);
        add(b, NAME("ffn_down.weight"), il, 2, p->n_ff, E, GEN_GAUSS, 0.0f, s_ff);
        add(b, NAME("layer_output_norm.weight"), il, 1, E, 1, GEN_GAUSS, 1.0f, 0.1f);
        add(b, NAME("layer_output_norm.bias"), il, 1, E, 1, GEN_GAUSS, 0.0f, 0.1f);
        return;
    }
    add(b, NAME("attn_q.weight"), il, 2, E, E, GEN_GAUSS, 0.0f, s_embd);
    add(b, NAME("attn_q.bias"), il, 1, E, 1, GEN_GAUSS, 0.0f, 0.1f);
    add(b, NAME("attn_k.weight"), il, 2, E, E, GEN_GAUSS, 0.0f, s_embd);
    add(b, NAME("attn_k.bias"), il, 1, E, 1, GEN_GAUSS, 0.0f, 0.1f);
    add(b, NAME("attn_v.weight"), il, 2, E, E, GEN_GAUSS, 0.0f, s_embd);
    add(b, NAME("attn_v.bias"), il, 1, E, 1, GEN_GAUSS, 0.0f, 0.1f);
    add(b, NAME("attn_output.weight"), il, 2, E, E, GEN_GAUSS, 0.0f, s_embd);
    add(b, NAME("attn_output.bias"), il, 1, E, 1, GEN_GAUSS, 0.0f, 0.1f);
    add(b, NAME("attn_output_norm.weight"), il, 1, E, 1, GEN_GAUSS, 1.0f, 0.1f);
    add(b, NAME("attn_output_norm.bias"), il, 1, E, 1, GEN_GAUSS, 0.0f, 0.1f);
    add(b, NAME("ffn_up.weight"), il, 2, E, p->n_ff, GEN_GAUSS, 0.0f, s_embd);
    add(b, NAME("ffn_up.bias"), il, 1, p->n_ff, 1, GEN_GAUSS, 0.0f, 0.1f);
    add(b, NAME("ffn_down.weight"), il, 2, p->n_ff, E, GEN_GAUSS, 0.0f, s_ff);
    add(b, NAME("ffn_down.bias"), il, 1, E, 1, GEN_GAUSS, 0.0f, 0.1f);
    add(b, NAME("layer_output_norm.weight"), il, 1, E, 1, GEN_GAUSS, 1.0f, 0.1f);
    add(b, NAME("layer_output_norm.bias"), il, 1, E, 1, GEN_GAUSS, 0.0f, 0.1f);
#undef NAME
}

/* ---------------------------------------------------------------- vocab */

/* Synthetic WordPiece vocab as llama.cpp stores BERT's (word starts carry U+2581, "##"
 * continuations are bare): [PAD] [UNK] [CLS] [SEP] [MASK], "\u2581" + each of .,!?'-:;() and
 * 0-9, digits as continuations, then for lengths 1, 2, ...: every lowercase word w as
 * "\u2581w" and "w". Words longer than the pieces split into several; anything else
 * (uppercase is lowercased by the tokenizer) that cannot be matched becomes [UNK]. */
static enum lir_status write_vocab_wpm(lir_gguf_writer *w, int64_t n_vocab, lir_err *e) {
    char **tok = calloc((size_t)n_vocab, sizeof *tok);
    float *score = calloc((size_t)n_vocab, sizeof *score);
    int32_t *type = calloc((size_t)n_vocab, sizeof *type);
    char *arena = malloc((size_t)n_vocab * 16);
    enum lir_status s = LIR_OK;
    if (!tok || !score || !type || !arena) { s = lir__errf(e, LIR_ENOMEM, "lir_gen: out of memory for the vocab"); goto out; }
    char *a = arena;
    int64_t i = 0;
#define PUT(t, fmt, ...) (tok[i] = a, a += snprintf(a, 16, fmt, __VA_ARGS__) + 1, type[i] = (t), i++)
    static const char *const special[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (int k = 0; k < 5; k++) PUT(k == 1 ? 2 : 3, "%s", special[k]);
    for (const char *c = ".,!?'-:;()0123456789"; *c && i < n_vocab; c++) PUT(1, "\xe2\x96\x81%c", *c);
    for (const char *c = "0123456789"; *c && i < n_vocab; c++) PUT(1, "%c", *c);
    char word[9];
    for (int len = 1; i < n_vocab && len <= 8; len++) {
        int idx[8] = {0};
        for (;;) {
            for (int k = 0; k < len; k++) word[k] = (char)('a' + idx[k]);
            word[len] = '\0';
            for (int pre = 1; pre >= 0 && i < n_vocab; pre--) PUT(1, "%s%s", pre ? "\xe2\x96\x81" : "", word);
            if (i >= n_vocab) break;
            int k = len - 1;
            while (k >= 0 && ++idx[k] == 26) idx[k--] = 0;
            if (k < 0) break;
        }
    }
#undef PUT
    lir_gguf_writer_set_str(w, "tokenizer.ggml.model", "bert");
    lir_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok, (uint64_t)n_vocab);
    lir_gguf_writer_set_arr(w, "tokenizer.ggml.scores", LIR_GGUF_FLOAT32, score, (uint64_t)n_vocab);
    lir_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", LIR_GGUF_INT32, type, (uint64_t)n_vocab);
    lir_gguf_writer_set_u32(w, "tokenizer.ggml.token_type_count", 2);
    lir_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 2); /* [CLS] */
    lir_gguf_writer_set_u32(w, "tokenizer.ggml.cls_token_id", 2);
    lir_gguf_writer_set_u32(w, "tokenizer.ggml.seperator_token_id", 3); /* llama.cpp's spelling */
    lir_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 1);
    lir_gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", 0);
    lir_gguf_writer_set_u32(w, "tokenizer.ggml.mask_token_id", 4);
out:
    free(tok); free(score); free(type); free(arena);
    return s;
}

/* Synthetic SentencePiece-style vocab: <unk> <s> </s>, 256 byte tokens, then for lengths
 * 1, 2, ...: every lowercase word w as "\u2581w" and "w", scores decreasing. */
static enum lir_status write_vocab(lir_gguf_writer *w, int64_t n_vocab, lir_err *e) {
    char **tok = calloc((size_t)n_vocab, sizeof *tok);
    float *score = calloc((size_t)n_vocab, sizeof *score);
    int32_t *type = calloc((size_t)n_vocab, sizeof *type);
    /* one arena for all pieces: each at most 3 ("\u2581") + 8 letters + NUL */
    char *arena = malloc((size_t)n_vocab * 16);
    enum lir_status s = LIR_OK;
    if (!tok || !score || !type || !arena) { s = lir__errf(e, LIR_ENOMEM, "lir_gen: out of memory for the vocab"); goto out; }
    char *a = arena;
    int64_t i = 0;
#define PUT(fmt, ...) (tok[i] = a, a += snprintf(a, 16, fmt, __VA_ARGS__) + 1)
    PUT("%s", "<unk>"); score[i] = 0; type[i] = 2; i++;
    PUT("%s", "<s>"); score[i] = 0; type[i] = 3; i++;
    PUT("%s", "</s>"); score[i] = 0; type[i] = 3; i++;
    for (int b = 0; b < 256; b++) { PUT("<0x%02X>", b); score[i] = 0; type[i] = 6; i++; }
    char word[9];
    for (int len = 1; i < n_vocab && len <= 8; len++) {
        int idx[8] = {0};
        for (;;) {
            for (int k = 0; k < len; k++) word[k] = (char)('a' + idx[k]);
            word[len] = '\0';
            for (int pre = 1; pre >= 0 && i < n_vocab; pre--) {
                PUT("%s%s", pre ? "\xe2\x96\x81" : "", word);
                score[i] = -(float)(i - 258);
                type[i] = 1;
                i++;
            }
            if (i >= n_vocab) break;
            int k = len - 1;
            while (k >= 0 && ++idx[k] == 26) idx[k--] = 0;
            if (k < 0) break;
        }
    }
#undef PUT
    lir_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    lir_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok, (uint64_t)n_vocab);
    lir_gguf_writer_set_arr(w, "tokenizer.ggml.scores", LIR_GGUF_FLOAT32, score, (uint64_t)n_vocab);
    lir_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", LIR_GGUF_INT32, type, (uint64_t)n_vocab);
    lir_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    lir_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    lir_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    lir_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
    lir_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", false);
out:
    free(tok); free(score); free(type); free(arena);
    return s;
}

/* ---------------------------------------------------------------- model */

static enum lir_status check(const struct lir_gen_params *p, lir_err *e) {
#define REQ(cond, ...) do { if (!(cond)) return lir__errf(e, LIR_EINVAL, "lir_gen: " __VA_ARGS__); } while (0)
    REQ(p->arch <= LIR_GEN_NOMIC_BERT, "unknown architecture");
    REQ(p->pooling >= LIR_GEN_POOLING_UNSET && p->pooling <= LIR_GEN_POOLING_LAST, "pooling type %d out of range",
        (int)p->pooling);
    REQ(p->arch < LIR_GEN_BERT || (p->n_head_kv == p->n_head && p->n_head * p->head_dim == p->n_embd),
        "bert needs n_head_kv == n_head and head_dim == n_embd / n_head");
    REQ(p->n_embd > 0 && p->n_embd <= (1 << 20), "n_embd %" PRId64 " out of range 1..2^20", p->n_embd);
    REQ(p->n_layer > 0 && p->n_layer <= 1024, "n_layer %" PRId64 " out of range 1..1024", p->n_layer);
    REQ(p->n_head > 0 && p->n_head <= 4096, "n_head %" PRId64 " out of range 1..4096", p->n_head);
    REQ(p->n_head_kv > 0 && p->n_head % p->n_head_kv == 0, "n_head_kv %" PRId64 " must divide n_head %" PRId64,
        p->n_head_kv, p->n_head);
    REQ(p->head_dim > 0 && p->head_dim % 2 == 0 && p->head_dim <= 4096, "head_dim %" PRId64 " must be even, 2..4096",
        p->head_dim);
    REQ(p->n_ff > 0 && p->n_ff <= (1 << 22), "n_ff %" PRId64 " out of range 1..2^22", p->n_ff);
    REQ(p->n_vocab >= (p->arch >= LIR_GEN_BERT ? 64 : 260) && p->n_vocab <= (1 << 22), "n_vocab %" PRId64 " out of range 260..2^22 (3 special + 256 byte tokens + pieces)",
        p->n_vocab);
    REQ(p->n_ctx > 0 && p->n_ctx <= (1 << 24), "n_ctx %" PRId64 " out of range", p->n_ctx);
    REQ(p->rope_base > 0, "rope base must be > 0");
    REQ(p->rms_eps > 0, "rms eps must be > 0");
    REQ(!p->rope_llama3 || (p->rope_factor > 0 && p->rope_high > p->rope_low && p->rope_low > 0 && p->rope_orig_ctx > 0),
        "bad llama3 rope scaling parameters");
    REQ(lir_type_traits_get(p->type) && lir_type_traits_get(p->type)->quantize_row_ref && p->type != LIR_TYPE_Q8_1 &&
        p->type != LIR_TYPE_Q8_K, "unsupported storage type %d", p->type);
    REQ(!p->mix_m || p->type == LIR_TYPE_Q4_K || p->type == LIR_TYPE_Q5_K, "_M mixes exist for Q4_K and Q5_K only");
    REQ((p->n_embd % 32 == 0 && p->n_ff % 32 == 0 && (p->n_head * p->head_dim) % 32 == 0) || p->type == LIR_TYPE_F32 ||
        p->type == LIR_TYPE_F16 || p->type == LIR_TYPE_BF16, "n_embd, n_ff and n_head*head_dim must be multiples of 32 for quantized types");
#undef REQ
    return LIR_OK;
}

enum lir_status lir_gen_write(const struct lir_gen_params *p, const char *path, lir_err *e) {
    enum lir_status s = check(p, e);
    if (s) return s;
    const char *arch = arch_names[p->arch];
    lir_gguf_writer *w = lir_gguf_writer_create(3, LIR_GGUF_DEFAULT_ALIGNMENT);
    struct builder b = {.p = p, .cap = (size_t)(16 * p->n_layer + 8)};
    b.t = calloc(b.cap, sizeof *b.t);
    if (!w || !b.t) { s = lir__errf(e, LIR_ENOMEM, "lir_gen: out of memory"); goto out; }

    char key[128];
#define K(x) (snprintf(key, sizeof key, "%s.%s", arch, x), key)
    lir_gguf_writer_set_str(w, "general.architecture", arch);
    lir_gguf_writer_set_str(w, "general.name", p->name[0] ? p->name : "lir-gen");
    lir_gguf_writer_set_u32(w, K("vocab_size"), (uint32_t)p->n_vocab);
    lir_gguf_writer_set_u32(w, K("context_length"), (uint32_t)p->n_ctx);
    lir_gguf_writer_set_u32(w, K("embedding_length"), (uint32_t)p->n_embd);
    lir_gguf_writer_set_u32(w, K("block_count"), (uint32_t)p->n_layer);
    lir_gguf_writer_set_u32(w, K("feed_forward_length"), (uint32_t)p->n_ff);
    lir_gguf_writer_set_u32(w, K("attention.head_count"), (uint32_t)p->n_head);
    lir_gguf_writer_set_u32(w, K("attention.head_count_kv"), (uint32_t)p->n_head_kv);
    if (p->head_dim * p->n_head != p->n_embd) {
        lir_gguf_writer_set_u32(w, K("attention.key_length"), (uint32_t)p->head_dim);
        lir_gguf_writer_set_u32(w, K("attention.value_length"), (uint32_t)p->head_dim);
    }
    if (p->pooling != LIR_GEN_POOLING_UNSET) lir_gguf_writer_set_u32(w, K("pooling_type"), (uint32_t)p->pooling);
    if (p->arch >= LIR_GEN_BERT) {
        lir_gguf_writer_set_f32(w, K("attention.layer_norm_epsilon"), p->rms_eps);
        lir_gguf_writer_set_bool(w, K("attention.causal"), false);
        if (p->arch == LIR_GEN_NOMIC_BERT) lir_gguf_writer_set_f32(w, K("rope.freq_base"), p->rope_base);
    } else {
        lir_gguf_writer_set_f32(w, K("rope.freq_base"), p->rope_base);
        lir_gguf_writer_set_u32(w, K("rope.dimension_count"), (uint32_t)p->head_dim);
        lir_gguf_writer_set_f32(w, K("attention.layer_norm_rms_epsilon"), p->rms_eps);
    }
#undef K
    lir_gguf_writer_set_u32(w, "general.file_type", file_type(p));
    if (lir_type_traits_get(p->type)->is_quantized) lir_gguf_writer_set_u32(w, "general.quantization_version", 2);
    if ((s = p->arch >= LIR_GEN_BERT ? write_vocab_wpm(w, p->n_vocab, e) : write_vocab(w, p->n_vocab, e))) goto out;

    if (p->arch >= LIR_GEN_BERT) {
        /* token, token-type (2 rows) and (bert) position embeddings, summed, then LayerNorm */
        add(&b, "token_embd.weight", -1, 2, p->n_embd, p->n_vocab, GEN_GAUSS, 0.0f, 1.0f);
        add(&b, "token_types.weight", -1, 2, p->n_embd, 2, GEN_GAUSS, 0.0f, 0.5f);
        if (p->arch == LIR_GEN_BERT)
            add(&b, "position_embd.weight", -1, 2, p->n_embd, p->n_ctx, GEN_GAUSS, 0.0f, 0.5f);
        add(&b, "token_embd_norm.weight", -1, 1, p->n_embd, 1, GEN_GAUSS, 1.0f, 0.1f);
        add(&b, "token_embd_norm.bias", -1, 1, p->n_embd, 1, GEN_GAUSS, 0.0f, 0.1f);
        for (int64_t il = 0; il < p->n_layer; il++) add_layer_bert(&b, il);
        goto tensors;
    }

    const float s_out = LOGIT_STD / sqrtf((float)p->n_embd);
    add(&b, "token_embd.weight", -1, 2, p->n_embd, p->n_vocab, GEN_GAUSS, 0.0f, p->tied ? s_out : 1.0f);
    if (p->rope_llama3) add(&b, "rope_freqs.weight", -1, 1, p->head_dim / 2, 1, GEN_ROPE_FREQS, 0, 0);
    for (int64_t il = 0; il < p->n_layer; il++) add_layer(&b, il);
    add(&b, "output_norm.weight", -1, 1, p->n_embd, 1, GEN_GAUSS, 1.0f, 0.1f);
    if (!p->tied) add(&b, "output.weight", -1, 2, p->n_embd, p->n_vocab, GEN_GAUSS, 0.0f, s_out);
tensors:
    if (b.oom) { s = lir__errf(e, LIR_EINTERNAL, "lir_gen: tensor table overflow"); goto out; }
    for (size_t i = 0; i < b.n; i++)
        lir_gguf_writer_add_tensor_stream(w, b.t[i].name, b.t[i].type, b.t[i].n_dims, b.t[i].ne, fill_range, &b.t[i]);
    s = lir_gguf_writer_finish(w, path, e);
out:
    lir_gguf_writer_free(w);
    free(b.t);
    return s;
}
