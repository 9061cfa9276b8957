/* test_cuda.c — the CUDA backend (src/backend/cuda) against the CPU references. The GPU tests
 * (suite cuda) are compiled only with -DLIR_CUDA=ON and skip, saying why, when no CUDA device is
 * present (the Makefile's build-cuda note says how to run them); suite cuda_none runs in every
 * build without a usable GPU (gpu_layers, whole or partial, refused with the reason); suite
 * cuda_plan runs in every build (no device needed).
 *  - placement (cuda_plan): lir_cuda_plan_layers puts gpu_layers as llama.cpp (0 none, the last
 *    N layers for 1..n_layer with the head on the CPU, everything for -1 or > n_layer), the
 *    tensor_split fractions as llama.cpp's cumulative upper_bound (even and odd layer counts,
 *    zero fractions, 3 devices), the output head on main_gpu (its own stage when main_gpu does
 *    not hold the last layer); refusals name the value (negative, NaN, inf, all 0, more devices
 *    than present, main_gpu out of range, gpu_layers < -1). lir_model_estimate_context moves the
 *    GPU layers' weights and KV (and the head with full offload) from RAM to VRAM.
 *  - kernels: for every weight type with CUDA kernels, random rows quantized by the reference
 *    quantizer; the GPU mat-vec (1, 3, 8 columns), the dequantize + cuBLAS GEMM (5, 20 columns)
 *    and the default choice are checked against a double-precision dot of the reference
 *    dequantized rows with the input as the CPU converts it (Q8_0/Q8_1/Q8_K activation
 *    quantizer, f16, bf16: the GPU rounds it alike; the mat-vec with one and with two rows a
 *    warp, 67 rows so the last warp has one); the GPU row gather equals the reference
 *    dequantizer.
 *    Tolerance: |gpu - ref| <= tol * sum_k |w_k x_k| + 1e-6, tol = 1e-5 for the mat-vec (f32
 *    weights and sums), 2e-3 for the GEMM (weights and inputs rounded to f16: 2^-11 each).
 *  - whole model: generated tiny llama (every type), qwen2 and qwen3 models: a 20-token prompt
 *    (the GEMM path), a 5-token prompt (the mat-vec path) and 12 one-token steps (the CUDA
 *    graph), and two chosen rows of a prompt, give logits within NMSE sum(d^2)/sum(ref^2) <= 5e-4 of the CPU
 *    context's (ggml's test-backend-ops bound; both round activations as ggml's CPU does; prompts
 *    on the GPU go through f16 tensor cores); graph replay with programmatic dependent launch
 *    equals the ungraphed step without it bit for bit.
 *  - greedy decoding on the trained default model and on generated (peaked) llama/qwen3 models:
 *    64 teacher-forced steps, logits within 0.25 of the CPU's and the same top token wherever
 *    the CPU's top-2 margin is >= 0.05 (at most 8 near-ties; see greedy_vs_cpu); and
 *    through the public API (lir_context_params.gpu_layers = -1) 32 greedy tokens equal the CPU
 *    context's; a context shift and reading the KV cache for a snapshot are refused.
 *  - several sequences (n_seq_max 4, a pool smaller than 4 full sequences; whole and partial
 *    offload): a prompt copied to two sequences (shared blocks, copied on write in VRAM too), a
 *    batch over three sequences, 4-token decode steps, a cut; every row near the CPU's.
 *  - partial offload through lir_context_create: gpu_layers 1, n_layer/2, n_layer (the head on
 *    the CPU) and n_layer + 1 (all) on generated llama/qwen2/qwen3 models of 4 layers (an 80-token
 *    prompt in two batches with every row's logits, 12 one-token steps, chosen rows of a batch,
 *    hidden states) and on the trained default model (plus 32 greedy steps checked as above):
 *    within the NMSE bound of the CPU context; the CPU's KV pool and the shares' VRAM equal
 *    lir_model_estimate_context's RAM and VRAM figures; truncation and snapshots refused.
 *  - chains on one device: 3 shares (and 3 + an output-only stage, with and without the CUDA
 *    graph) equal the single whole-model share bit for bit (same kernels, same inputs), as does a
 *    chain that hands its residual stream to the host and a second chain that takes it from
 *    there; every share's VRAM equals lir_cuda_estimate.
 *  - with >= 2 devices (else skipped, saying so): tensor_split {1, 1} (head on main_gpu 0 as its
 *    own stage, or on main_gpu 1 with the last layers) and a split partial offload equal the
 *    one-device contexts bit for bit.
 *  - refusals: an encoder model (EUNSUPPORTED), a bad token and a position past n_ctx (EINVAL);
 *    bad tensor_split values, main_gpu out of range and gpu_layers < -1 through
 *    lir_context_create (EINVAL naming the value); bad share lists and ranges (EINVAL). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "backend/cuda/cuda.h"
#include "lir.h"
#include "model/forward.h"
#include "model/model_util.h"

static char path[256];
static void cleanup(void) { unlink(path); }

/* A generated tiny model (n_layer 0: the preset's 2 layers). */
static lir_model *gen_model_layers(enum lir_gen_arch arch, int32_t type, bool mix_m, int32_t n_layer) {
    struct lir_gen_params p;
    lir_err e = { { 0 } };
    cr_assert_eq(lir_gen_preset(&p, "tiny", arch, &e), LIR_OK, "%s", e.msg);
    p.type = type;
    p.mix_m = mix_m;
    p.seed = 5;
    p.n_threads = 2;
    if (n_layer > 0) p.n_layer = n_layer;
    tmp_model_path(path, sizeof path, "cuda");
    cr_assert_eq(lir_gen_write(&p, path, &e), LIR_OK, "generate: %s", e.msg);
    char err[512] = "";
    lir_model *m = NULL;
    cr_assert_eq(lir_model_load(path, NULL, &m, err, sizeof err), LIR_OK, "load: %s", err);
    return m;
}

static lir_model *load_default_model(void) {
    char mp[512], err[512] = "";
    snprintf(mp, sizeof mp, "%s/models/kjv-11m-q8_0.gguf", LIR_SOURCE_DIR);
    lir_model *m = NULL;
    cr_assert_eq(lir_model_load(mp, NULL, &m, err, sizeof err), LIR_OK, "load: %s", err);
    return m;
}

/* Every build: where no GPU can be used (no CUDA build, no device), gpu_layers = -1 is refused
 * with LIR_EUNSUPPORTED and the reason, and gpu_layers = 0 is the CPU context. */
Test(cuda_none, gpu_layers_refused_without_a_usable_gpu) {
    char why[200] = "", err[512] = "";
    if (lir_cuda_device_count(why, sizeof why) > 0) cr_skip_test("a CUDA device is present (tested by cuda/*)");
    cr_assert(why[0], "lir_cuda_device_count gives no reason");
    char mp[512];
    snprintf(mp, sizeof mp, "%s/models/kjv-11m-q8_0.gguf", LIR_SOURCE_DIR);
    lir_model *m = NULL;
    cr_assert_eq(lir_model_load(mp, NULL, &m, err, sizeof err), LIR_OK, "load: %s", err);
    struct lir_context_params cp = lir_context_params_default();
    cp.n_ctx = 64;
    cp.n_threads = 1;
    cp.gpu_layers = -1;
    lir_context *c = (lir_context *)1;
    cr_assert_eq(lir_context_create(m, &cp, &c, err, sizeof err), LIR_EUNSUPPORTED);
    cr_assert_null(c);
    cr_assert(strstr(err, why), "message '%s' does not say '%s'", err, why);
    cp.gpu_layers = 0;
    cr_assert_eq(lir_context_create(m, &cp, &c, err, sizeof err), LIR_OK, "%s", err);
    lir_context_free(c);
    lir_model_free(m);
}

/* Every build: partial offload (and a split) without a usable GPU is refused with the reason too;
 * gpu_layers < -1 is refused as a bad value before any device is looked for. */
Test(cuda_none, partial_offload_refused_without_a_usable_gpu) {
    char why[200] = "", err[512] = "";
    if (lir_cuda_device_count(why, sizeof why) > 0) cr_skip_test("a CUDA device is present (tested by cuda/*)");
    lir_model *m = load_default_model();
    struct lir_context_params cp = lir_context_params_default();
    cp.n_ctx = 64;
    cp.n_threads = 1;
    const float split[2] = { 1, 1 };
    const int32_t cases[][2] = { { 1, 0 }, { 4, 0 }, { 8, 0 }, { 9, 0 }, { -1, 2 }, { 4, 2 } };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cp.gpu_layers = cases[i][0];
        cp.tensor_split = cases[i][1] ? split : NULL;
        cp.n_tensor_split = cases[i][1];
        lir_context *c = (lir_context *)1;
        cr_assert_eq(lir_context_create(m, &cp, &c, err, sizeof err), LIR_EUNSUPPORTED, "gpu_layers %d", cp.gpu_layers);
        cr_assert_null(c);
        cr_assert(strstr(err, why), "gpu_layers %d: message '%s' does not say '%s'", cp.gpu_layers, err, why);
    }
    cp.gpu_layers = -2;
    cp.tensor_split = NULL;
    cp.n_tensor_split = 0;
    lir_context *c = NULL;
    cr_assert_eq(lir_context_create(m, &cp, &c, err, sizeof err), LIR_EINVAL);
    cr_assert(strstr(err, "gpu_layers -2"), "message: %s", err);
    lir_model_free(m);
}

/* ---------------------------------------------------------------- placement (every build) */

static struct lir_cuda_plan plan_ok(int32_t n_layer, int32_t gpu_layers, int32_t main_gpu, const float *split,
                                    int32_t n_split, int32_t n_dev) {
    struct lir_cuda_plan pl;
    lir_err e = { { 0 } };
    cr_assert_eq(lir_cuda_plan_layers(n_layer, gpu_layers, main_gpu, split, n_split, n_dev, "plan", &pl, &e), LIR_OK,
                 "gpu_layers %d: %s", gpu_layers, e.msg);
    return pl;
}

/* shares as {device, begin, end} triples */
static void expect_shares(const struct lir_cuda_plan *pl, int32_t n_cpu, bool full, int n, const int32_t (*sh)[3],
                          const char *what) {
    cr_assert_eq(pl->n_cpu_layers, n_cpu, "%s: %d CPU layers, expected %d", what, pl->n_cpu_layers, n_cpu);
    cr_assert_eq(pl->embed, full, "%s: embed", what);
    cr_assert_eq(pl->output, full, "%s: output", what);
    cr_assert_eq(pl->n_shares, n, "%s: %d shares, expected %d", what, pl->n_shares, n);
    for (int i = 0; i < n; i++)
        cr_assert(pl->shares[i].device == sh[i][0] && pl->shares[i].layer_begin == sh[i][1] &&
                      pl->shares[i].layer_end == sh[i][2],
                  "%s: share %d is device %d [%d, %d), expected device %d [%d, %d)", what, i, pl->shares[i].device,
                  pl->shares[i].layer_begin, pl->shares[i].layer_end, sh[i][0], sh[i][1], sh[i][2]);
}

Test(cuda_plan, gpu_layers_as_llama_cpp) {
    struct lir_cuda_plan pl = plan_ok(32, 0, 0, NULL, 0, 1);
    expect_shares(&pl, 32, false, 0, NULL, "gpu_layers 0");
    pl = plan_ok(32, -1, 0, NULL, 0, 1);
    expect_shares(&pl, 0, true, 1, (const int32_t[][3]){ { 0, 0, 32 } }, "gpu_layers -1");
    pl = plan_ok(32, 33, 0, NULL, 0, 1);
    expect_shares(&pl, 0, true, 1, (const int32_t[][3]){ { 0, 0, 32 } }, "gpu_layers 33");
    pl = plan_ok(32, 32, 0, NULL, 0, 1); /* every layer, but the head (and embedding) on the CPU */
    expect_shares(&pl, 0, false, 1, (const int32_t[][3]){ { 0, 0, 32 } }, "gpu_layers 32");
    pl = plan_ok(32, 1, 0, NULL, 0, 1);
    expect_shares(&pl, 31, false, 1, (const int32_t[][3]){ { 0, 31, 32 } }, "gpu_layers 1");
    pl = plan_ok(32, 10, 2, NULL, 0, 3); /* no split: main_gpu */
    expect_shares(&pl, 22, false, 1, (const int32_t[][3]){ { 2, 22, 32 } }, "gpu_layers 10 main_gpu 2");
    pl = plan_ok(32, -1, 1, NULL, 0, 2);
    expect_shares(&pl, 0, true, 1, (const int32_t[][3]){ { 1, 0, 32 } }, "gpu_layers -1 main_gpu 1");
}

Test(cuda_plan, tensor_split_as_llama_cpp) {
    const float even[2] = { 1, 1 }, three_one[2] = { 3, 1 }, zero_one[2] = { 0, 1 }, gap[3] = { 1, 0, 1 };
    /* {1,1}, everything: halves; the head on main_gpu 0, its own stage after device 1 */
    struct lir_cuda_plan pl = plan_ok(32, -1, 0, even, 2, 2);
    expect_shares(&pl, 0, true, 3, (const int32_t[][3]){ { 0, 0, 16 }, { 1, 16, 32 }, { 0, 32, 32 } }, "{1,1} main 0");
    pl = plan_ok(32, -1, 1, even, 2, 2); /* main_gpu 1 holds the last layers: the head goes with them */
    expect_shares(&pl, 0, true, 2, (const int32_t[][3]){ { 0, 0, 16 }, { 1, 16, 32 } }, "{1,1} main 1");
    /* an odd count: GPU layer j to device 0 while j / 7 < 0.5, i.e. j = 0..3 */
    pl = plan_ok(7, 7, 0, even, 2, 2);
    expect_shares(&pl, 0, false, 2, (const int32_t[][3]){ { 0, 0, 4 }, { 1, 4, 7 } }, "{1,1} 7 layers");
    /* partial: the last 8 of 32, 3:1 -> j / 8 < 0.75: 6 and 2 */
    pl = plan_ok(32, 8, 0, three_one, 2, 2);
    expect_shares(&pl, 24, false, 2, (const int32_t[][3]){ { 0, 24, 30 }, { 1, 30, 32 } }, "{3,1} gpu_layers 8");
    pl = plan_ok(32, -1, 1, zero_one, 2, 2);
    expect_shares(&pl, 0, true, 1, (const int32_t[][3]){ { 1, 0, 32 } }, "{0,1}");
    pl = plan_ok(10, -1, 2, gap, 3, 4); /* device 1 gets nothing; 4 devices present, split names 3 */
    expect_shares(&pl, 0, true, 2, (const int32_t[][3]){ { 0, 0, 5 }, { 2, 5, 10 } }, "{1,0,1}");
    pl = plan_ok(32, 0, 0, even, 2, 2); /* no GPU layers: the split is not used */
    expect_shares(&pl, 32, false, 0, NULL, "{1,1} gpu_layers 0");
}

Test(cuda_plan, refusals_name_the_value) {
    const float neg[2] = { -1, 1 }, nan_[2] = { 1, NAN }, inf_[1] = { INFINITY }, zeros[2] = { 0, 0 },
                three[3] = { 1, 1, 1 }, many[LIR_TENSOR_SPLIT_MAX + 1] = { 1 };
    const struct {
        int32_t gpu_layers, main_gpu;
        const float *split;
        int32_t n_split, n_dev;
        const char *says;
    } cases[] = {
        { -2, 0, NULL, 0, 1, "gpu_layers -2" },
        { -1, 0, neg, 2, 2, "tensor_split[0] = -1" },
        { -1, 0, nan_, 2, 2, "tensor_split[1] = nan" },
        { -1, 0, inf_, 1, 2, "tensor_split[0] = inf" },
        { -1, 0, zeros, 2, 2, "all 0" },
        { -1, 0, three, 3, 2, "tensor_split names 3 devices but 2 are present" },
        { 4, 0, many, LIR_TENSOR_SPLIT_MAX + 1, 32, "n_tensor_split 17" },
        { -1, 0, NULL, 2, 2, "tensor_split is NULL" },
        { -1, 2, NULL, 0, 2, "main_gpu 2 is outside [0, 2)" },
        { 3, -1, NULL, 0, 2, "main_gpu -1" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct lir_cuda_plan pl;
        lir_err e = { { 0 } };
        cr_assert_eq(lir_cuda_plan_layers(32, cases[i].gpu_layers, cases[i].main_gpu, cases[i].split, cases[i].n_split,
                                          cases[i].n_dev, "lir_context_create", &pl, &e),
                     LIR_EINVAL, "case %zu", i);
        cr_assert(strstr(e.msg, cases[i].says) && strstr(e.msg, "lir_context_create: "),
                  "case %zu: message '%s' does not say '%s'", i, e.msg, cases[i].says);
    }
}

static uint64_t layer_weight_bytes(const lir_model *m, int32_t l0, int32_t l1) {
    uint64_t b = 0;
    for (int32_t il = l0; il < l1; il++) {
        const struct lir_layer *L = &m->layers[il];
        const struct lir_tensor *t[] = { &L->attn_norm, &L->wq, &L->wk, &L->wv, &L->wo, &L->bq, &L->bk, &L->bv,
                                         &L->q_norm, &L->k_norm, &L->ffn_norm, &L->w_gate, &L->w_up, &L->w_down };
        for (size_t i = 0; i < sizeof t / sizeof *t; i++)
            if (t[i]->data) b += t[i]->row_size * (uint64_t)t[i]->ne1;
    }
    return b;
}

/* lir_model_estimate_context with gpu_layers: RAM keeps the CPU's part, VRAM gets the rest */
Test(cuda_plan, estimate_splits_ram_and_vram, .fini = cleanup) {
    lir_model *m = gen_model_layers(LIR_GEN_QWEN2, LIR_TYPE_Q8_0, false, 4);
    const struct lir_hparams *hp = &m->hp;
    struct lir_context_params cp = lir_context_params_default();
    cp.n_ctx = 200; /* 256 rows of KV */
    cp.n_batch = 64;
    struct lir_mem_estimate cpu, half, all, heads, split;
    lir_model_estimate_context(m, &cp, &cpu);
    cr_assert(cpu.vram_weights == 0 && cpu.vram_kv_cache == 0 && cpu.vram_compute == 0 && cpu.vram_total == 0);
    const uint64_t kv_layer = 2ull * 256 * hp->n_head_kv * hp->head_dim * 2; /* f16 K and V, one layer */
    cp.gpu_layers = 2;
    lir_model_estimate_context(m, &cp, &half);
    cr_assert_eq(half.kv_cache, cpu.kv_cache / 2);
    cr_assert_eq(half.vram_kv_cache, 2 * kv_layer);
    cr_assert_eq(half.weights, cpu.weights - layer_weight_bytes(m, 2, 4));
    cr_assert(half.vram_weights >= layer_weight_bytes(m, 2, 4) &&
              half.vram_weights < layer_weight_bytes(m, 2, 4) + 256 * 14 * 2 + 256); /* rounding to 256 each */
    cr_assert(half.vram_compute > 0 && half.vram_total == half.vram_weights + half.vram_kv_cache + half.vram_compute);
    cr_assert_eq(half.total, half.weights + half.kv_cache + half.compute);
    cp.gpu_layers = 4; /* every layer; the embedding and head stay on the CPU */
    lir_model_estimate_context(m, &cp, &heads);
    cr_assert_eq(heads.kv_cache, 0);
    cr_assert_eq(heads.weights, cpu.weights - layer_weight_bytes(m, 0, 4));
    cr_assert(heads.weights >= (uint64_t)m->tok_embd.row_size * m->tok_embd.ne1);
    cp.gpu_layers = -1; /* everything */
    lir_model_estimate_context(m, &cp, &all);
    cr_assert_eq(all.kv_cache, 0);
    cr_assert_eq(all.weights, 0, "RAM weights %llu with full offload", (unsigned long long)all.weights);
    cr_assert_eq(all.vram_kv_cache, 4 * kv_layer);
    cr_assert(all.vram_weights >= cpu.weights);
    cr_assert(all.vram_compute > heads.vram_compute); /* + logits */
    const float even[2] = { 1, 1 };
    cp.tensor_split = even;
    cp.n_tensor_split = 2; /* 3 shares: layers 0-1, 2-3, the head on main_gpu 0 */
    lir_model_estimate_context(m, &cp, &split);
    cr_assert_eq(split.vram_weights, all.vram_weights);
    cr_assert_eq(split.vram_kv_cache, all.vram_kv_cache);
    cr_assert(split.vram_compute > all.vram_compute); /* each share has its buffers */
    cr_assert_eq(split.weights, all.weights);
    cp.n_seq_max = 2; /* two sequences: the VRAM cache mirrors a pool of twice the blocks */
    lir_model_estimate_context(m, &cp, &split);
    cr_assert_eq(split.vram_kv_cache, 2 * all.vram_kv_cache);
    cr_assert_eq(split.vram_weights, all.vram_weights);
    lir_model_free(m);
}

#ifdef LIR_CUDA

static lir_model *gen_model(enum lir_gen_arch arch, int32_t type, bool mix_m) {
    return gen_model_layers(arch, type, mix_m, 0);
}

static void need_gpu(void) {
    char why[200] = "";
    if (lir_cuda_device_count(why, sizeof why) == 0) cr_skip_test("CUDA test skipped: %s", why);
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void) { /* uniform [-1, 1) */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

static const int32_t types[] = {
    LIR_TYPE_F32, LIR_TYPE_F16, LIR_TYPE_BF16, LIR_TYPE_Q8_0, LIR_TYPE_Q4_0, LIR_TYPE_Q4_1, LIR_TYPE_Q5_0,
    LIR_TYPE_Q5_1, LIR_TYPE_Q2_K, LIR_TYPE_Q3_K, LIR_TYPE_Q4_K, LIR_TYPE_Q5_K, LIR_TYPE_Q6_K,
};

static void check_matmul(int32_t type) {
    const int64_t ne0 = 1024, ne1 = 67; /* 67 rows: a partial block of warps */
    const struct lir_type_traits *tr = lir_type_traits_get(type);
    const size_t rs = lir_type_row_size(type, ne0);
    float *wf = malloc(sizeof(float) * ne0 * ne1), *wd = malloc(sizeof(float) * ne0 * ne1);
    char *wq = malloc(rs * ne1);
    float *x = malloc(sizeof(float) * ne0 * 20), *out = malloc(sizeof(float) * ne1 * 20);
    float *rows = malloc(sizeof(float) * ne0 * 4);
    for (int64_t i = 0; i < ne0 * ne1; i++) wf[i] = frand() * (1.0f + (float)(i % 7));
    for (int64_t r = 0; r < ne1; r++) {
        tr->quantize_row_ref(wf + r * ne0, wq + r * rs, ne0);
        tr->dequantize_row_ref(wq + r * rs, wd + r * ne0, ne0);
    }
    for (int64_t i = 0; i < ne0 * 20; i++) x[i] = frand();
    /* the reference input: x converted as the CPU converts it for this weight type (its
     * vec_dot_type's activation quantizer), dequantized; the GPU must round it the same way */
    float *xr = malloc(sizeof(float) * ne0 * 20);
    const struct lir_type_traits *vt = lir_type_traits_get(tr->vec_dot_type);
    char *xq = malloc(lir_type_row_size(tr->vec_dot_type, ne0) + 64);
    for (int t = 0; t < 20; t++) {
        if (tr->vec_dot_type == LIR_TYPE_F32) {
            memcpy(xr + t * ne0, x + t * ne0, sizeof(float) * ne0);
            continue;
        }
        (vt->quantize_row_act_ref ? vt->quantize_row_act_ref : vt->quantize_row_ref)(x + t * ne0, xq, ne0);
        vt->dequantize_row_ref(xq, xr + t * ne0, ne0);
    }
    const struct { int n, force; double tol; } cases[] = {
        { 1, 1, 1e-5 }, { 3, 1, 1e-5 }, { 8, 1, 1e-5 }, { 5, 2, 2e-3 }, { 20, 2, 2e-3 }, { 20, 0, 2e-3 }, { 1, 0, 1e-5 },
        { 1, 3, 1e-5 }, { 2, 3, 1e-5 }, { 8, 3, 1e-5 },
    };
    lir_err e = { { 0 } };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const int n = cases[c].n;
        cr_assert_eq(lir_cuda_matmul_test(type, wq, ne0, ne1, x, n, cases[c].force, out, rows, &e), LIR_OK, "%s: %s",
                     tr->name, e.msg);
        for (int t = 0; t < n; t++)
            for (int64_t r = 0; r < ne1; r++) {
                double ref = 0, mag = 0;
                for (int64_t k = 0; k < ne0; k++) {
                    ref += (double)wd[r * ne0 + k] * xr[t * ne0 + k];
                    mag += fabs((double)wd[r * ne0 + k] * xr[t * ne0 + k]);
                }
                const double got = out[t * ne1 + r];
                cr_assert(fabs(got - ref) <= cases[c].tol * mag + 1e-6,
                          "%s n_tok %d force %d: out[%d][%lld] = %.7g, reference %.7g (sum |wx| %.4g)", tr->name, n,
                          cases[c].force, t, (long long)r, got, ref, mag);
            }
    }
    for (int64_t i = 0; i < 4 * ne0; i++) {
        const float a = rows[i], b = wd[i];
        cr_assert(fabsf(a - b) <= 1e-6f * (1.0f + fabsf(b)), "%s get_rows[%lld] = %.9g, reference %.9g", tr->name,
                  (long long)i, a, b);
    }
    free(wf), free(wd), free(wq), free(x), free(xr), free(xq), free(out), free(rows);
}

Test(cuda, matmul_every_type) {
    need_gpu();
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) check_matmul(types[i]);
}

/* ---------------------------------------------------------------- whole model vs CPU */


static double nmse(const float *a, const float *ref, int n) {
    double d = 0, r = 0;
    for (int i = 0; i < n; i++) d += ((double)a[i] - ref[i]) * ((double)a[i] - ref[i]), r += (double)ref[i] * ref[i];
    return d / (r > 0 ? r : 1);
}

static lir_cuda *gpu_of(lir_model *m, int32_t n_ctx, int32_t n_batch, bool no_graph) {
    struct lir_cuda_params gp = { .n_ctx = n_ctx, .n_batch = n_batch, .device = 0, .no_graph = no_graph,
                                  .no_pdl = no_graph };
    lir_cuda *g = NULL;
    lir_err e = { { 0 } };
    cr_assert_eq(lir_cuda_create(m, &gp, &g, &e), LIR_OK, "lir_cuda_create: %s", e.msg);
    return g;
}

static void compare_model(enum lir_gen_arch arch, int32_t type, bool mix_m, const char *what) {
    lir_model *m = gen_model(arch, type, mix_m);
    const int32_t nv = m->hp.n_vocab, NP = 20, NS = 12;
    struct lir_context_params cp = lir_context_params_default();
    cp.n_ctx = 256;
    cp.n_batch = 64;
    cp.n_threads = 2;
    lir_context *c = NULL;
    char err[512] = "";
    cr_assert_eq(lir_context_create(m, &cp, &c, err, sizeof err), LIR_OK, "context: %s", err);
    lir_cuda *g = gpu_of(m, 256, 64, false), *g2 = gpu_of(m, 256, 64, true);
    lir_token toks[NP + NS];
    for (int i = 0; i < NP + NS; i++) toks[i] = (lir_token)((i * 37 + 11) % nv);
    float *gl = malloc(sizeof(float) * nv * NP), *gl2 = malloc(sizeof(float) * nv);
    lir_err e = { { 0 } };
    double worst = 0;
    /* prompt of NP tokens (GEMM path), every token's logits */
    cr_assert_eq(lir_context_decode(c, toks, NP, 0, true), LIR_OK, "cpu decode: %s", lir_context_last_error(c));
    cr_assert_eq(lir_cuda_eval(g, toks, NP, 0, NULL, NP, gl, NULL, &e), LIR_OK, "gpu eval: %s", e.msg);
    cr_assert_eq(lir_cuda_eval(g2, toks, NP, 0, NULL, 0, NULL, NULL, &e), LIR_OK, "gpu eval: %s", e.msg);
    for (int i = 0; i < NP; i++) {
        const double d = nmse(gl + (size_t)i * nv, lir_context_logits(c, i), nv);
        if (d > worst) worst = d;
        cr_assert(d <= 5e-4, "%s prompt token %d: NMSE %.3g > 5e-4", what, i, d);
    }
    /* one-token steps: the graph with programmatic dependent launch (g) and plain launches (g2)
     * agree exactly; both near the CPU */
    for (int s = 0; s < NS; s++) {
        const int32_t pos = NP + s;
        cr_assert_eq(lir_context_decode(c, toks + pos, 1, pos, false), LIR_OK, "cpu: %s", lir_context_last_error(c));
        cr_assert_eq(lir_cuda_eval(g, toks + pos, 1, pos, NULL, 1, gl, NULL, &e), LIR_OK, "gpu graph step: %s", e.msg);
        cr_assert_eq(lir_cuda_eval(g2, toks + pos, 1, pos, NULL, 1, gl2, NULL, &e), LIR_OK, "gpu step: %s", e.msg);
        cr_assert(memcmp(gl, gl2, sizeof(float) * nv) == 0, "%s step %d: graph replay (PDL) differs from plain launches",
                  what, s);
        const double d = nmse(gl, lir_context_logits(c, -1), nv);
        if (d > worst) worst = d;
        cr_assert(d <= 5e-4, "%s step %d: NMSE %.3g > 5e-4", what, s, d);
    }
    /* a 5-token prompt afresh (mat-vec path with several columns), last logits */
    cr_assert_eq(lir_context_decode(c, toks + 3, 5, 0, false), LIR_OK, "cpu: %s", lir_context_last_error(c));
    cr_assert_eq(lir_cuda_eval(g, toks + 3, 5, 0, NULL, 1, gl, NULL, &e), LIR_OK, "gpu: %s", e.msg);
    const double d = nmse(gl, lir_context_logits(c, -1), nv);
    if (d > worst) worst = d;
    cr_assert(d <= 5e-4, "%s 5-token prompt: NMSE %.3g > 5e-4", what, d);
    /* chosen output rows (gathered on the GPU): rows 0 and 2 of the same prompt */
    cr_assert_eq(lir_context_decode(c, toks + 3, 5, 0, true), LIR_OK, "cpu: %s", lir_context_last_error(c));
    const int32_t rows[2] = { 0, 2 };
    cr_assert_eq(lir_cuda_eval(g, toks + 3, 5, 0, rows, 2, gl, NULL, &e), LIR_OK, "gpu: %s", e.msg);
    for (int i = 0; i < 2; i++) {
        const double dr = nmse(gl + (size_t)i * nv, lir_context_logits(c, rows[i]), nv);
        if (dr > worst) worst = dr;
        cr_assert(dr <= 5e-4, "%s output row %d: NMSE %.3g > 5e-4", what, rows[i], dr);
    }
    cr_log_info("%s: worst NMSE %.3g", what, worst);
    free(gl), free(gl2);
    lir_cuda_free(g);
    lir_cuda_free(g2);
    lir_context_free(c);
    lir_model_free(m);
}

Test(cuda, llama_every_type_vs_cpu, .fini = cleanup) {
    need_gpu();
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        compare_model(LIR_GEN_LLAMA, types[i], false, lir_type_name(types[i]));
    compare_model(LIR_GEN_LLAMA, LIR_TYPE_Q4_K, true, "Q4_K_M");
}

Test(cuda, qwen2_qwen3_vs_cpu, .fini = cleanup) {
    need_gpu();
    compare_model(LIR_GEN_QWEN2, LIR_TYPE_F16, false, "qwen2 F16");
    compare_model(LIR_GEN_QWEN2, LIR_TYPE_Q8_0, false, "qwen2 Q8_0");
    compare_model(LIR_GEN_QWEN3, LIR_TYPE_Q4_K, true, "qwen3 Q4_K_M");
    compare_model(LIR_GEN_QWEN3, LIR_TYPE_BF16, false, "qwen3 BF16");
}

static int32_t argmax(const float *v, int n) {
    int32_t b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return b;
}

/* Greedy decoding, GPU against CPU, 64 steps after a prompt. The GPU's prompt pass multiplies on
 * f16 tensor cores, so its logits differ from the CPU's by up to about 0.1 on these models, and
 * where the top two tokens are nearly tied (the trained default model at its step 9: 9.7353
 * against 9.7322) it may pick the other one; a free-running comparison would then compare
 * different texts from there on. So both are fed the CPU's token each step (teacher forcing)
 * and every step is checked: every GPU logit within DLOGIT of the CPU's, and the GPU's top token
 * equal to the CPU's wherever the CPU's top-2 margin is at least TIE; at most 8 of the 64 steps
 * may be such near-ties (the models are peaked). GPU results are deterministic, so a pass is
 * not luck of one run. */
#define DLOGIT 0.25
#define TIE 0.05
static void greedy_vs_cpu(lir_model *m, const lir_token *prompt, int32_t np, const char *what) {
    const int32_t nv = m->hp.n_vocab;
    struct lir_context_params cp = lir_context_params_default();
    cp.n_ctx = 256;
    cp.n_threads = 2;
    lir_context *c = NULL;
    char err[512] = "";
    cr_assert_eq(lir_context_create(m, &cp, &c, err, sizeof err), LIR_OK, "context: %s", err);
    lir_cuda *g = gpu_of(m, 256, 64, false);
    float *gl = malloc(sizeof(float) * nv);
    lir_err e = { { 0 } };
    cr_assert_eq(lir_context_decode(c, prompt, np, 0, false), LIR_OK);
    cr_assert_eq(lir_cuda_eval(g, prompt, np, 0, NULL, 1, gl, NULL, &e), LIR_OK, "%s", e.msg);
    double worst = 0;
    int ties = 0;
    for (int i = 0; i < 64; i++) {
        const float *cl = lir_context_logits(c, -1);
        const lir_token cpu_t = argmax(cl, nv), gpu_t = argmax(gl, nv);
        float second = -INFINITY, d = 0;
        for (int32_t k = 0; k < nv; k++) {
            if (k != cpu_t && cl[k] > second) second = cl[k];
            if (fabsf(gl[k] - cl[k]) > d) d = fabsf(gl[k] - cl[k]);
        }
        if (d > worst) worst = d;
        cr_assert(d <= DLOGIT, "%s step %d: a GPU logit is %.4f from the CPU's (> %.2f)", what, i, d, DLOGIT);
        if (cl[cpu_t] - second >= TIE)
            cr_assert_eq(gpu_t, cpu_t, "%s step %d: GPU top token %d, CPU %d (CPU margin %.4f)", what, i, gpu_t,
                         cpu_t, cl[cpu_t] - second);
        else
            ties++;
        const int32_t pos = np + i;
        cr_assert_eq(lir_context_decode(c, &cpu_t, 1, pos, false), LIR_OK);
        cr_assert_eq(lir_cuda_eval(g, &cpu_t, 1, pos, NULL, 1, gl, NULL, &e), LIR_OK, "%s", e.msg);
    }
    cr_assert(ties <= 8, "%s: %d of 64 steps are near-ties (margin < %.2f): not a peaked model", what, ties, TIE);
    cr_log_info("%s: 64 steps, largest logit difference %.4f, %d near-ties (margin < %.2f)", what, worst, ties, TIE);
    free(gl);
    lir_cuda_free(g);
    lir_context_free(c);
}

Test(cuda, greedy_64_tokens_equal_cpu_on_default_model) {
    need_gpu();
    char mp[512], err[512] = "";
    snprintf(mp, sizeof mp, "%s/models/kjv-11m-q8_0.gguf", LIR_SOURCE_DIR);
    lir_model *m = NULL;
    cr_assert_eq(lir_model_load(mp, NULL, &m, err, sizeof err), LIR_OK, "load: %s", err);
    const char *text = "And God said, Let there be light: and there was light. And";
    lir_token prompt[64];
    int32_t np = 0;
    cr_assert_eq(lir_tokenize(m, text, strlen(text), true, false, prompt, 64, &np), LIR_OK);
    cr_assert(np > 4 && np < 64);
    greedy_vs_cpu(m, prompt, np, "default model");
    lir_model_free(m);
}

/* generated models: llama in Q8_0, Q4_K_M and F16, qwen3 in Q4_K, a 12-token prompt */
static void greedy_peaked(enum lir_gen_arch arch, int32_t type, bool mix_m, const char *what) {
    lir_model *m = gen_model(arch, type, mix_m);
    lir_token prompt[12];
    for (int i = 0; i < 12; i++) prompt[i] = (lir_token)((i * 53 + 7) % m->hp.n_vocab);
    greedy_vs_cpu(m, prompt, 12, what);
    lir_model_free(m);
}

Test(cuda, greedy_64_tokens_equal_cpu_on_peaked_models, .fini = cleanup) {
    need_gpu();
    greedy_peaked(LIR_GEN_LLAMA, LIR_TYPE_Q8_0, false, "llama Q8_0");
    greedy_peaked(LIR_GEN_LLAMA, LIR_TYPE_Q4_K, true, "llama Q4_K_M");
    greedy_peaked(LIR_GEN_LLAMA, LIR_TYPE_F16, false, "llama F16");
    greedy_peaked(LIR_GEN_QWEN3, LIR_TYPE_Q4_K, false, "qwen3 Q4_K");
}

/* the public API: lir_context_params.gpu_layers = -1 puts the whole model on the GPU; greedy
 * decoding through lir_context_decode equals the CPU context's */
Test(cuda, context_gpu_layers_all_equals_cpu) {
    need_gpu();
    char mp[512], err[512] = "";
    snprintf(mp, sizeof mp, "%s/models/kjv-11m-q8_0.gguf", LIR_SOURCE_DIR);
    lir_model *m = NULL;
    cr_assert_eq(lir_model_load(mp, NULL, &m, err, sizeof err), LIR_OK, "load: %s", err);
    const int32_t nv = m->hp.n_vocab;
    struct lir_context_params cp = lir_context_params_default();
    cp.n_ctx = 128;
    cp.n_threads = 2;
    lir_context *cc = NULL, *gc = NULL;
    cr_assert_eq(lir_context_create(m, &cp, &cc, err, sizeof err), LIR_OK, "cpu context: %s", err);
    cp.gpu_layers = -1;
    cr_assert_eq(lir_context_create(m, &cp, &gc, err, sizeof err), LIR_OK, "gpu context: %s", err);
    const char *text = "In the beginning God created";
    lir_token t[32];
    int32_t n = 0;
    cr_assert_eq(lir_tokenize(m, text, strlen(text), true, false, t, 32, &n), LIR_OK);
    cr_assert_eq(lir_context_decode(cc, t, n, 0, true), LIR_OK);
    cr_assert_eq(lir_context_decode(gc, t, n, 0, true), LIR_OK, "%s", lir_context_last_error(gc));
    for (int i = 0; i < n; i++) {
        const double d = nmse(lir_context_logits(gc, i), lir_context_logits(cc, i), nv);
        cr_assert(d <= 5e-4, "prompt token %d: NMSE %.3g", i, d);
    }
    int32_t pos = n;
    for (int i = 0; i < 32; i++, pos++) {
        const lir_token a = argmax(lir_context_logits(cc, -1), nv), b = argmax(lir_context_logits(gc, -1), nv);
        cr_assert_eq(b, a, "greedy token %d: GPU %d, CPU %d", i, b, a);
        cr_assert_eq(lir_context_decode(cc, &a, 1, pos, false), LIR_OK);
        cr_assert_eq(lir_context_decode(gc, &b, 1, pos, false), LIR_OK, "%s", lir_context_last_error(gc));
    }
    cr_assert_eq(lir_context_seq_truncate(gc, 0, 4, 4), LIR_EUNSUPPORTED);
    char kvbuf[64];
    cr_assert_eq(lir__kv_seq_read(gc, 0, 0, 0, kvbuf), LIR_EUNSUPPORTED); /* snapshots: not yet */
    lir_context_free(gc);
    lir_context_free(cc);
    lir_model_free(m);
}

/* Several sequences in one context, GPU against CPU (gpu_layers -1 and a partial 4 of 8): a
 * prompt in sequence 0, copied to 1 and 2 (the prefix shared, not stored again), one batch that
 * appends 3 tokens to 1 (copying the shared partly filled block on write), 1 to 2 and a fresh
 * 5-token prompt to 3, then 12 decode steps of one token per sequence (the 4-token step's CUDA
 * graph), then sequence 0 cut back and continued; every wanted row within the NMSE bound. The
 * pool holds 10 blocks, fewer than 4 sequences x 4, so sharing is what makes it fit. */
static void check_row(const float *got, const float *ref, int n, bool strict, const char *what, const char *where,
                      int i, double *worst);
static void several_sequences(lir_model *m, int32_t gpu_layers) {
    const int32_t nv = m->hp.n_vocab;
    struct lir_context_params cp = lir_context_params_default();
    cp.n_ctx = 256;
    cp.n_batch = 64;
    cp.n_threads = 2;
    cp.n_seq_max = 4;
    cp.kv_size = 640;
    lir_context *cc = NULL, *gc = NULL;
    char err[512] = "";
    cr_assert_eq(lir_context_create(m, &cp, &cc, err, sizeof err), LIR_OK, "%s", err);
    cp.gpu_layers = gpu_layers;
    cr_assert_eq(lir_context_create(m, &cp, &gc, err, sizeof err), LIR_OK, "gpu_layers %d: %s", gpu_layers, err);
    char what[64];
    snprintf(what, sizeof what, "4 sequences, gpu_layers %d", gpu_layers);
    lir_context *both[2] = { cc, gc };
    double worst = 0;
    lir_token toks[64];
    for (int i = 0; i < 64; i++) toks[i] = (lir_token)((i * 37 + 11) % nv);
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(lir_context_decode(both[k], toks, 40, 0, false), LIR_OK, "%s", lir_context_last_error(both[k]));
        cr_assert_eq(lir_context_seq_copy(both[k], 0, 1), LIR_OK);
        cr_assert_eq(lir_context_seq_copy(both[k], 0, 2), LIR_OK);
    }
    check_row(lir_context_logits(gc, -1), lir_context_logits(cc, -1), nv, false, what, "prompt", 0, &worst);
    /* one batch over three sequences, every row wanted */
    const lir_token bt[9] = { 5, 6, 7, 8, 9, 10, 11, 12, 13 };
    const int32_t bs[9] = { 1, 1, 1, 2, 3, 3, 3, 3, 3 };
    int8_t want[9];
    memset(want, 1, sizeof want);
    const struct lir_batch b = { .n_tokens = 9, .token = bt, .seq_id = bs, .logits = want };
    for (int k = 0; k < 2; k++)
        cr_assert_eq(lir_context_decode_batch(both[k], &b), LIR_OK, "%s", lir_context_last_error(both[k]));
    for (int i = 0; i < 9; i++)
        check_row(lir_context_logits(gc, i), lir_context_logits(cc, i), nv, false, what, "mixed batch row", i, &worst);
    /* decode steps: one token for each of the four sequences */
    const int32_t seqs[4] = { 0, 1, 2, 3 };
    for (int s = 0; s < 12; s++) {
        lir_token st[4];
        for (int q = 0; q < 4; q++) st[q] = toks[(s * 4 + q * 7) % 64];
        int8_t w4[4] = { 1, 1, 1, 1 };
        const struct lir_batch d = { .n_tokens = 4, .token = st, .seq_id = seqs, .logits = w4 };
        for (int k = 0; k < 2; k++)
            cr_assert_eq(lir_context_decode_batch(both[k], &d), LIR_OK, "step %d: %s", s,
                         lir_context_last_error(both[k]));
        for (int q = 0; q < 4; q++)
            check_row(lir_context_logits(gc, q), lir_context_logits(cc, q), nv, false, what, "4-sequence step", s,
                      &worst);
    }
    /* sequence 0 cut back to 20 tokens (its old blocks are reused), then 6 more */
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(lir_context_decode(both[k], toks + 40, 6, 20, false), LIR_OK, "%s",
                     lir_context_last_error(both[k]));
        cr_assert_eq(lir_context_seq_length(both[k], 0), 26);
    }
    check_row(lir_context_logits(gc, -1), lir_context_logits(cc, -1), nv, false, what, "after the cut", 0, &worst);
    cr_log_info("%s: worst NMSE %.3g", what, worst);
    lir_context_free(gc);
    lir_context_free(cc);
}

Test(cuda, several_sequences_equal_cpu) {
    need_gpu();
    lir_model *m = load_default_model();
    several_sequences(m, -1);
    several_sequences(m, 4);
    lir_model_free(m);
}

Test(cuda, refusals, .fini = cleanup) {
    need_gpu();
    lir_err e = { { 0 } };
    lir_model *b = gen_model(LIR_GEN_BERT, LIR_TYPE_F16, false);
    struct lir_cuda_params gp = { .n_ctx = 64, .n_batch = 8 };
    lir_cuda *g = (lir_cuda *)1;
    cr_assert_eq(lir_cuda_create(b, &gp, &g, &e), LIR_EUNSUPPORTED);
    cr_assert_null(g);
    cr_assert(strstr(e.msg, "bert"), "message: %s", e.msg);
    lir_model_free(b);
    lir_model *m = gen_model(LIR_GEN_LLAMA, LIR_TYPE_Q8_0, false);
    g = gpu_of(m, 64, 8, false);
    float *l = malloc(sizeof(float) * m->hp.n_vocab);
    const lir_token bad = m->hp.n_vocab, ok = 1;
    cr_assert_eq(lir_cuda_eval(g, &bad, 1, 0, NULL, 1, l, NULL, &e), LIR_EINVAL);
    cr_assert(strstr(e.msg, "outside"), "message: %s", e.msg);
    cr_assert_eq(lir_cuda_eval(g, &ok, 1, 64, NULL, 1, l, NULL, &e), LIR_EINVAL);
    cr_assert_eq(lir_cuda_eval(g, &ok, 1, 63, NULL, 1, l, NULL, &e), LIR_OK, "%s", e.msg);
    free(l);
    lir_cuda_free(g);
    lir_model_free(m);
}

/* ---------------------------------------------------------------- partial offload, chains, splits */

static lir_context *ctx_gpu(lir_model *m, int32_t gpu_layers, const float *split, int32_t n_split, int32_t main_gpu,
                            struct lir_context_params *cp_out) {
    struct lir_context_params cp = lir_context_params_default();
    cp.n_ctx = 256;
    cp.n_batch = 64;
    cp.n_threads = 2;
    cp.gpu_layers = gpu_layers;
    cp.tensor_split = split;
    cp.n_tensor_split = n_split;
    cp.main_gpu = main_gpu;
    lir_context *c = NULL;
    char err[512] = "";
    cr_assert_eq(lir_context_create(m, &cp, &c, err, sizeof err), LIR_OK, "context with gpu_layers %d: %s", gpu_layers,
                 err);
    if (cp_out) *cp_out = cp;
    return c;
}

/* a row against its reference: bit for bit (strict) or within the NMSE bound */
static void check_row(const float *got, const float *ref, int n, bool strict, const char *what, const char *where,
                      int i, double *worst) {
    cr_assert(got && ref, "%s %s %d: no output", what, where, i);
    const double d = nmse(got, ref, n);
    if (d > *worst) *worst = d;
    if (strict)
        cr_assert(memcmp(got, ref, sizeof(float) * (size_t)n) == 0, "%s %s %d: not bit-identical (NMSE %.3g)", what,
                  where, i, d);
    else
        cr_assert(d <= 5e-4, "%s %s %d: NMSE %.3g > 5e-4", what, where, i, d);
}

/* The context gc (GPU layers) against rc (the CPU, or another GPU layout when strict): an
 * 80-token prompt in two batches of 64 + 16 with every row's logits, 12 one-token steps, a fresh
 * 5-token batch wanting rows 0 and 2 only (the residual stream comes back whole), and the hidden
 * states of 7 tokens (lir_embed's path). */
static void compare_ctx(lir_context *gc, lir_context *rc, const lir_model *m, bool strict, const char *what) {
    enum { NP = 80, NS = 12 };
    const int32_t nv = m->hp.n_vocab, E = m->hp.n_embd;
    lir_token toks[NP + NS];
    for (int i = 0; i < NP + NS; i++) toks[i] = (lir_token)((i * 37 + 11) % nv);
    double worst = 0;
    cr_assert_eq(lir_context_decode(rc, toks, NP, 0, true), LIR_OK, "%s", lir_context_last_error(rc));
    cr_assert_eq(lir_context_decode(gc, toks, NP, 0, true), LIR_OK, "%s: %s", what, lir_context_last_error(gc));
    for (int i = 0; i < NP; i++)
        check_row(lir_context_logits(gc, i), lir_context_logits(rc, i), nv, strict, what, "prompt token", i, &worst);
    for (int s = 0; s < NS; s++) {
        cr_assert_eq(lir_context_decode(rc, toks + NP + s, 1, NP + s, false), LIR_OK);
        cr_assert_eq(lir_context_decode(gc, toks + NP + s, 1, NP + s, false), LIR_OK, "%s step %d: %s", what, s,
                     lir_context_last_error(gc));
        check_row(lir_context_logits(gc, -1), lir_context_logits(rc, -1), nv, strict, what, "step", s, &worst);
    }
    const int8_t want[5] = { 1, 0, 1, 0, 0 };
    const struct lir_batch b = { .n_tokens = 5, .token = toks + 3, .logits = want };
    cr_assert_eq(lir_context_seq_clear(rc, 0), LIR_OK);
    cr_assert_eq(lir_context_seq_clear(gc, 0), LIR_OK);
    cr_assert_eq(lir_context_decode_batch(rc, &b), LIR_OK);
    cr_assert_eq(lir_context_decode_batch(gc, &b), LIR_OK, "%s: %s", what, lir_context_last_error(gc));
    for (int i = 0; i < 3; i += 2) /* the wanted rows 0 and 2 */
        check_row(lir_context_logits(gc, i), lir_context_logits(rc, i), nv, strict, what, "chosen row", i, &worst);
    cr_assert_null(lir_context_logits(gc, 1));
    cr_assert_null(lir_context_logits(gc, 4));
    float *h1 = malloc(sizeof(float) * 7 * E), *h2 = malloc(sizeof(float) * 7 * E);
    cr_assert_eq(lir__context_hidden(rc, toks + 5, 7, h1), LIR_OK);
    cr_assert_eq(lir__context_hidden(gc, toks + 5, 7, h2), LIR_OK, "%s: %s", what, lir_context_last_error(gc));
    for (int i = 0; i < 7; i++) check_row(h2 + i * E, h1 + i * E, E, strict, what, "hidden state", i, &worst);
    free(h1), free(h2);
    cr_log_info("%s: worst NMSE %.3g", what, worst);
}

/* The layout and memory of a GPU context: its CPU layers as placed, the CPU's KV pool and the
 * shares' VRAM exactly the estimate's RAM and VRAM figures. */
static void check_layout(lir_model *m, lir_context *gc, const struct lir_context_params *cp, const char *what) {
    const int32_t nl = m->hp.n_layer, gl = cp->gpu_layers;
    const bool all = gl < 0 || gl > nl;
    cr_assert_eq(lir__context_n_cpu_layers(gc), all ? 0 : nl - gl, "%s: %d CPU layers", what,
                 lir__context_n_cpu_layers(gc));
    const lir_cuda_chain *ch = lir__context_gpu(gc);
    cr_assert_not_null(ch, "%s: no GPU chain", what);
    struct lir_mem_estimate me;
    lir_model_estimate_context(m, cp, &me);
    struct lir_context_status st;
    cr_assert_eq(lir_context_get_status(gc, &st), LIR_OK);
    cr_assert_eq(st.kv_bytes, me.kv_cache, "%s: CPU KV pool %llu, estimate %llu", what,
                 (unsigned long long)st.kv_bytes, (unsigned long long)me.kv_cache);
    cr_assert_eq(lir_cuda_chain_vram_bytes(ch, -1), me.vram_total, "%s: VRAM %llu, estimate %llu", what,
                 (unsigned long long)lir_cuda_chain_vram_bytes(ch, -1), (unsigned long long)me.vram_total);
    cr_assert_eq(lir_context_seq_truncate(gc, 0, 1, 1), LIR_EUNSUPPORTED, "%s", what);
    char kvbuf[64];
    cr_assert_eq(lir__kv_seq_read(gc, 0, 0, 0, kvbuf), LIR_EUNSUPPORTED, "%s", what);
}

Test(cuda, partial_offload_equals_cpu, .fini = cleanup) {
    need_gpu();
    const struct { enum lir_gen_arch arch; int32_t type; bool mix; const char *name; } models[] = {
        { LIR_GEN_LLAMA, LIR_TYPE_Q8_0, false, "llama Q8_0" },
        { LIR_GEN_QWEN2, LIR_TYPE_F16, false, "qwen2 F16" },
        { LIR_GEN_QWEN3, LIR_TYPE_Q4_K, true, "qwen3 Q4_K_M" },
    };
    for (size_t k = 0; k < sizeof models / sizeof *models; k++) {
        lir_model *m = gen_model_layers(models[k].arch, models[k].type, models[k].mix, 4);
        lir_context *cc = ctx_gpu(m, 0, NULL, 0, 0, NULL);
        const int32_t gls[] = { 1, 2, 4, 5, -1 };
        for (size_t i = 0; i < sizeof gls / sizeof *gls; i++) {
            struct lir_context_params cp;
            lir_context *gc = ctx_gpu(m, gls[i], NULL, 0, 0, &cp);
            char what[96];
            snprintf(what, sizeof what, "%s gpu_layers %d", models[k].name, gls[i]);
            check_layout(m, gc, &cp, what);
            compare_ctx(gc, cc, m, false, what);
            lir_context_free(gc);
        }
        lir_context_free(cc);
        lir_model_free(m);
    }
}

/* the trained default model (8 layers): gpu_layers 1, 4, 8 (head on the CPU), 9 (all): prompt
 * logits within the bound, then 32 greedy steps as greedy_vs_cpu checks them (teacher-forced with
 * the CPU context's token; logits within DLOGIT and the same top token wherever the CPU's margin
 * is at least TIE: the model has a near-tie at step 9) */
Test(cuda, partial_offload_greedy_equals_cpu_on_default_model) {
    need_gpu();
    lir_model *m = load_default_model();
    const int32_t nv = m->hp.n_vocab, nl = m->hp.n_layer;
    cr_assert_eq(nl, 8);
    const char *text = "And God said, Let there be light: and there was light. And";
    lir_token prompt[64];
    int32_t np = 0;
    cr_assert_eq(lir_tokenize(m, text, strlen(text), true, false, prompt, 64, &np), LIR_OK);
    const int32_t gls[] = { 1, nl / 2, nl, nl + 1 };
    for (size_t k = 0; k < sizeof gls / sizeof *gls; k++) {
        lir_context *cc = ctx_gpu(m, 0, NULL, 0, 0, NULL);
        struct lir_context_params cp;
        lir_context *gc = ctx_gpu(m, gls[k], NULL, 0, 0, &cp);
        char what[64];
        snprintf(what, sizeof what, "default model gpu_layers %d", gls[k]);
        check_layout(m, gc, &cp, what);
        double worst = 0, dmax = 0;
        int ties = 0;
        cr_assert_eq(lir_context_decode(cc, prompt, np, 0, true), LIR_OK);
        cr_assert_eq(lir_context_decode(gc, prompt, np, 0, true), LIR_OK, "%s: %s", what, lir_context_last_error(gc));
        for (int i = 0; i < np; i++)
            check_row(lir_context_logits(gc, i), lir_context_logits(cc, i), nv, false, what, "prompt token", i, &worst);
        int32_t pos = np;
        for (int i = 0; i < 32; i++, pos++) {
            const float *cl = lir_context_logits(cc, -1), *gl = lir_context_logits(gc, -1);
            const lir_token a = argmax(cl, nv), b = argmax(gl, nv);
            float second = -INFINITY, d = 0;
            for (int32_t t = 0; t < nv; t++) {
                if (t != a && cl[t] > second) second = cl[t];
                if (fabsf(gl[t] - cl[t]) > d) d = fabsf(gl[t] - cl[t]);
            }
            if (d > dmax) dmax = d;
            cr_assert(d <= DLOGIT, "%s step %d: a GPU logit is %.4f from the CPU's (> %.2f)", what, i, d, DLOGIT);
            if (cl[a] - second >= TIE)
                cr_assert_eq(b, a, "%s step %d: GPU top token %d, CPU %d (CPU margin %.4f)", what, i, b, a,
                             cl[a] - second);
            else
                ties++;
            cr_assert_eq(lir_context_decode(cc, &a, 1, pos, false), LIR_OK);
            cr_assert_eq(lir_context_decode(gc, &a, 1, pos, false), LIR_OK, "%s", lir_context_last_error(gc));
            check_row(lir_context_logits(gc, -1), lir_context_logits(cc, -1), nv, false, what, "greedy step", i,
                      &worst);
        }
        cr_assert(ties <= 8, "%s: %d of 32 steps are near-ties", what, ties);
        cr_log_info("%s: worst NMSE %.3g, largest logit difference %.4f, %d near-ties", what, worst, dmax, ties);
        lir_context_free(gc);
        lir_context_free(cc);
    }
    lir_model_free(m);
}

static lir_cuda_chain *chain_of(lir_model *m, const int32_t (*sh)[3], int32_t n, bool embed, bool output,
                                bool no_graph) {
    struct lir_cuda_share_spec spec[LIR_CUDA_SHARES_MAX];
    for (int32_t i = 0; i < n; i++)
        spec[i] = (struct lir_cuda_share_spec){ .device = sh[i][0], .layer_begin = sh[i][1], .layer_end = sh[i][2] };
    const struct lir_cuda_chain_params p = { .n_ctx = 256, .n_batch = 64, .embed = embed, .output = output,
                                             .no_graph = no_graph };
    lir_cuda_chain *ch = NULL;
    lir_err e = { { 0 } };
    cr_assert_eq(lir_cuda_chain_create(m, spec, n, &p, &ch, &e), LIR_OK, "chain: %s", e.msg);
    /* every share holds what lir_cuda_estimate says */
    for (int32_t i = 0; i < n; i++) {
        const struct lir_cuda_params gp = { .n_ctx = 256, .n_batch = 64, .device = sh[i][0], .layer_begin = sh[i][1],
                                            .layer_end = sh[i][2], .hidden_in = !(embed && i == 0),
                                            .hidden_out = !(output && i == n - 1) };
        struct lir_cuda_bytes b;
        lir_cuda_estimate(m, &gp, &b);
        cr_assert_eq(lir_cuda_vram_bytes(lir_cuda_chain_share(ch, i)), b.weights + b.kv_cache + b.compute,
                     "share %d: VRAM %llu, estimate %llu", i,
                     (unsigned long long)lir_cuda_vram_bytes(lir_cuda_chain_share(ch, i)),
                     (unsigned long long)(b.weights + b.kv_cache + b.compute));
    }
    return ch;
}

/* Several shares on device 0 run the same kernels on the same inputs as one share: the logits,
 * chosen rows and hidden states are bit-identical, graphs or not; so is a pipeline of two chains
 * meeting through the host (the first hands its residual stream back, the second takes it). */
static void compare_chains(lir_model *m, const char *what) {
    enum { NP = 20, NS = 12 };
    const int32_t nv = m->hp.n_vocab, E = m->hp.n_embd, nl = m->hp.n_layer, a = nl / 3, b = 2 * nl / 3;
    cr_assert(a > 0 && b > a && nl > b, "%s: %d layers are too few", what, nl);
    lir_cuda *g = gpu_of(m, 256, 64, false);
    const struct lir_cuda_params whole = { .n_ctx = 256, .n_batch = 64 };
    struct lir_cuda_bytes wb;
    lir_cuda_estimate(m, &whole, &wb);
    cr_assert_eq(lir_cuda_vram_bytes(g), wb.weights + wb.kv_cache + wb.compute, "%s: whole-model VRAM", what);
    const int32_t three[3][3] = { { 0, 0, a }, { 0, a, b }, { 0, b, nl } };
    const int32_t four[4][3] = { { 0, 0, a }, { 0, a, b }, { 0, b, nl }, { 0, nl, nl } };
    const int32_t first[1][3] = { { 0, 0, a } }, rest[2][3] = { { 0, a, b }, { 0, b, nl } };
    lir_cuda_chain *ch[3] = { chain_of(m, three, 3, true, true, false), chain_of(m, four, 4, true, true, false),
                              chain_of(m, three, 3, true, true, true) };
    const char *names[3] = { "3 shares", "3 shares + head stage", "3 shares, no graph" };
    lir_cuda_chain *p1 = chain_of(m, first, 1, true, false, false), *p2 = chain_of(m, rest, 2, false, true, false);
    lir_token toks[NP + NS];
    for (int i = 0; i < NP + NS; i++) toks[i] = (lir_token)((i * 37 + 11) % nv);
    float *ref = malloc(sizeof(float) * nv * NP), *got = malloc(sizeof(float) * nv * NP);
    float *x = malloc(sizeof(float) * E * NP);
    lir_err e = { { 0 } };
    double worst = 0;
    char where[96];
    /* prompt: every row */
    cr_assert_eq(lir_cuda_eval(g, toks, NP, 0, NULL, NP, ref, NULL, &e), LIR_OK, "%s", e.msg);
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(lir_cuda_chain_eval(ch[k], toks, NULL, NP, 0, NULL, NP, got, NULL, &e), LIR_OK, "%s", e.msg);
        snprintf(where, sizeof where, "%s prompt row", names[k]);
        for (int i = 0; i < NP; i++) check_row(got + i * nv, ref + i * nv, nv, true, what, where, i, &worst);
    }
    cr_assert_eq(lir_cuda_chain_eval(p1, toks, x, NP, 0, NULL, NP, NULL, NULL, &e), LIR_OK, "%s", e.msg);
    cr_assert_eq(lir_cuda_chain_eval(p2, NULL, x, NP, 0, NULL, NP, got, NULL, &e), LIR_OK, "%s", e.msg);
    for (int i = 0; i < NP; i++)
        check_row(got + i * nv, ref + i * nv, nv, true, what, "pipeline prompt row", i, &worst);
    /* one-token steps */
    for (int s = 0; s < NS; s++) {
        const int32_t pos = NP + s;
        cr_assert_eq(lir_cuda_eval(g, toks + pos, 1, pos, NULL, 1, ref, NULL, &e), LIR_OK, "%s", e.msg);
        for (int k = 0; k < 3; k++) {
            cr_assert_eq(lir_cuda_chain_eval(ch[k], toks + pos, NULL, 1, pos, NULL, 1, got, NULL, &e), LIR_OK, "%s",
                         e.msg);
            snprintf(where, sizeof where, "%s step", names[k]);
            check_row(got, ref, nv, true, what, where, s, &worst);
        }
        cr_assert_eq(lir_cuda_chain_eval(p1, toks + pos, x, 1, pos, NULL, 1, NULL, NULL, &e), LIR_OK, "%s", e.msg);
        cr_assert_eq(lir_cuda_chain_eval(p2, NULL, x, 1, pos, NULL, 1, got, NULL, &e), LIR_OK, "%s", e.msg);
        check_row(got, ref, nv, true, what, "pipeline step", s, &worst);
    }
    /* chosen rows 0 and 2 of a fresh 5-token prompt, then hidden states of it */
    const int32_t rows[2] = { 0, 2 };
    cr_assert_eq(lir_cuda_eval(g, toks + 3, 5, 0, rows, 2, ref, NULL, &e), LIR_OK, "%s", e.msg);
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(lir_cuda_chain_eval(ch[k], toks + 3, NULL, 5, 0, rows, 2, got, NULL, &e), LIR_OK, "%s", e.msg);
        snprintf(where, sizeof where, "%s chosen row", names[k]);
        for (int i = 0; i < 2; i++) check_row(got + i * nv, ref + i * nv, nv, true, what, where, rows[i], &worst);
    }
    cr_assert_eq(lir_cuda_chain_eval(p1, toks + 3, x, 5, 0, rows, 2, NULL, NULL, &e), LIR_OK, "%s", e.msg);
    cr_assert_eq(lir_cuda_chain_eval(p2, NULL, x, 5, 0, rows, 2, got, NULL, &e), LIR_OK, "%s", e.msg);
    for (int i = 0; i < 2; i++)
        check_row(got + i * nv, ref + i * nv, nv, true, what, "pipeline chosen row", rows[i], &worst);
    cr_assert_eq(lir_cuda_eval(g, toks + 3, 5, 0, NULL, 5, NULL, ref, &e), LIR_OK, "%s", e.msg);
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(lir_cuda_chain_eval(ch[k], toks + 3, NULL, 5, 0, NULL, 5, NULL, got, &e), LIR_OK, "%s", e.msg);
        snprintf(where, sizeof where, "%s hidden state", names[k]);
        for (int i = 0; i < 5; i++) check_row(got + i * E, ref + i * E, E, true, what, where, i, &worst);
    }
    cr_log_info("%s: chains bit-identical to one share (worst NMSE %.3g)", what, worst);
    free(ref), free(got), free(x);
    for (int k = 0; k < 3; k++) lir_cuda_chain_free(ch[k]);
    lir_cuda_chain_free(p1);
    lir_cuda_chain_free(p2);
    lir_cuda_free(g);
}

Test(cuda, chain_of_shares_on_one_device_equals_one_share, .fini = cleanup) {
    need_gpu();
    lir_model *m = load_default_model();
    compare_chains(m, "default model");
    lir_model_free(m);
    m = gen_model_layers(LIR_GEN_QWEN3, LIR_TYPE_Q4_K, true, 3);
    compare_chains(m, "qwen3 Q4_K_M");
    lir_model_free(m);
    m = gen_model_layers(LIR_GEN_QWEN2, LIR_TYPE_BF16, false, 5);
    compare_chains(m, "qwen2 BF16");
    lir_model_free(m);
}

/* A real split over two devices: the same kernels on the same inputs as one device, so the
 * logits are bit-identical (the devices are alike: same architecture, same cuBLAS choices). */
Test(cuda, tensor_split_two_devices_equals_one) {
    need_gpu();
    char why[200] = "";
    const int ndev = lir_cuda_device_count(why, sizeof why);
    if (ndev < 2) cr_skip_test("tensor_split over 2 devices skipped: %d CUDA device(s) present", ndev);
    lir_model *m = load_default_model();
    const float even[2] = { 1, 1 };
    const struct { int32_t gl, main_gpu, n_shares; const char *name; } cases[] = {
        { -1, 0, 3, "{1,1} all, head on main_gpu 0 (own stage)" },
        { -1, 1, 2, "{1,1} all, head on main_gpu 1 (with the last layers)" },
        { 4, 0, 2, "{1,1} gpu_layers 4" },
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        struct lir_context_params cp;
        lir_context *one = ctx_gpu(m, cases[k].gl, NULL, 0, 0, NULL);
        lir_context *two = ctx_gpu(m, cases[k].gl, even, 2, cases[k].main_gpu, &cp);
        check_layout(m, two, &cp, cases[k].name);
        const lir_cuda_chain *ch = lir__context_gpu(two);
        cr_assert_eq(lir_cuda_chain_n_shares(ch), cases[k].n_shares, "%s", cases[k].name);
        cr_assert_eq(lir_cuda_device(lir_cuda_chain_share(ch, 0)), 0);
        cr_assert_eq(lir_cuda_device(lir_cuda_chain_share(ch, 1)), 1);
        cr_assert(lir_cuda_chain_vram_bytes(ch, 0) > 0 && lir_cuda_chain_vram_bytes(ch, 1) > 0);
        compare_ctx(two, one, m, true, cases[k].name);
        lir_context_free(two);
        lir_context_free(one);
    }
    lir_model_free(m);
}

Test(cuda, split_and_share_refusals, .fini = cleanup) {
    need_gpu();
    char why[200] = "", err[512] = "";
    const int ndev = lir_cuda_device_count(why, sizeof why);
    lir_model *m = load_default_model();
    const int32_t nl = m->hp.n_layer;
    float split[LIR_TENSOR_SPLIT_MAX + 1];
    for (int i = 0; i <= LIR_TENSOR_SPLIT_MAX; i++) split[i] = 1;
    const float neg[1] = { -1 }, nan_[1] = { NAN }, zeros[1] = { 0 };
    char names_more[64], main_out[64];
    snprintf(names_more, sizeof names_more, "tensor_split names %d devices", ndev + 1);
    snprintf(main_out, sizeof main_out, "main_gpu %d is outside [0, %d)", ndev, ndev);
    const struct { int32_t gl, main_gpu; const float *split; int32_t n_split; const char *says; } cases[] = {
        { -1, 0, neg, 1, "tensor_split[0] = -1" },
        { 4, 0, nan_, 1, "tensor_split[0] = nan" },
        { -1, 0, zeros, 1, "all 0" },
        { -1, 0, split, ndev + 1, names_more },
        { -1, ndev, NULL, 0, main_out },
        { 2, -1, NULL, 0, "main_gpu -1" },
        { -3, 0, NULL, 0, "gpu_layers -3" },
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        struct lir_context_params cp = lir_context_params_default();
        cp.n_ctx = 64;
        cp.n_threads = 1;
        cp.gpu_layers = cases[k].gl;
        cp.main_gpu = cases[k].main_gpu;
        cp.tensor_split = cases[k].split;
        cp.n_tensor_split = cases[k].n_split;
        lir_context *c = (lir_context *)1;
        cr_assert_eq(lir_context_create(m, &cp, &c, err, sizeof err), LIR_EINVAL, "case %zu: %s", k, err);
        cr_assert_null(c);
        cr_assert(strstr(err, cases[k].says), "case %zu: message '%s' does not say '%s'", k, err, cases[k].says);
    }
    /* share lists and ranges */
    lir_err e = { { 0 } };
    const struct lir_cuda_chain_params p = { .n_ctx = 64, .n_batch = 8, .embed = true, .output = true };
    lir_cuda_chain *ch = (lir_cuda_chain *)1;
    const struct lir_cuda_share_spec gap[2] = { { 0, 0, 3 }, { 0, 4, nl } }, shortc[1] = { { 0, 0, nl - 1 } },
                                     late[1] = { { 0, 2, nl } }, baddev[1] = { { ndev, 0, nl } };
    const struct { const struct lir_cuda_share_spec *s; int32_t n; enum lir_status st; const char *says; } lists[] = {
        { gap, 2, LIR_EINVAL, "share 1 begins at layer 4 but share 0 ends at 3" },
        { shortc, 1, LIR_EINVAL, "the last share ends at layer" },
        { late, 1, LIR_EINVAL, "with the embedding the first share must begin at layer 0" },
        { baddev, 1, LIR_EINVAL, "is outside" },
        { gap, 0, LIR_EINVAL, "0 shares" },
    };
    for (size_t k = 0; k < sizeof lists / sizeof *lists; k++) {
        cr_assert_eq(lir_cuda_chain_create(m, lists[k].s, lists[k].n, &p, &ch, &e), lists[k].st, "list %zu: %s", k,
                     e.msg);
        cr_assert_null(ch);
        cr_assert(strstr(e.msg, lists[k].says), "list %zu: message '%s' does not say '%s'", k, e.msg, lists[k].says);
        ch = (lir_cuda_chain *)1;
    }
    lir_cuda *g = (lir_cuda *)1;
    struct lir_cuda_params gp = { .n_ctx = 64, .n_batch = 8, .layer_begin = 2, .layer_end = nl };
    cr_assert_eq(lir_cuda_create(m, &gp, &g, &e), LIR_EINVAL);
    cr_assert(strstr(e.msg, "must begin at layer 0"), "message: %s", e.msg);
    gp.layer_end = nl + 1;
    gp.hidden_in = true;
    cr_assert_eq(lir_cuda_create(m, &gp, &g, &e), LIR_EINVAL);
    cr_assert(strstr(e.msg, "not a range"), "message: %s", e.msg);
    cr_assert_null(g);
    /* a share without the head is evaluated in a chain, not by lir_cuda_eval */
    gp.layer_begin = 0;
    gp.layer_end = 2;
    gp.hidden_in = false;
    gp.hidden_out = true;
    cr_assert_eq(lir_cuda_create(m, &gp, &g, &e), LIR_OK, "%s", e.msg);
    float *l = malloc(sizeof(float) * m->hp.n_vocab);
    const lir_token t = 1;
    cr_assert_eq(lir_cuda_eval(g, &t, 1, 0, NULL, 1, l, NULL, &e), LIR_EINVAL);
    cr_assert(strstr(e.msg, "lir_cuda_chain"), "message: %s", e.msg);
    lir_cuda_free(g);
    /* a chain taking the residual stream needs it */
    const struct lir_cuda_share_spec tail[1] = { { 0, 2, nl } };
    const struct lir_cuda_chain_params ph = { .n_ctx = 64, .n_batch = 8, .output = true };
    cr_assert_eq(lir_cuda_chain_create(m, tail, 1, &ph, &ch, &e), LIR_OK, "%s", e.msg);
    cr_assert_eq(lir_cuda_chain_eval(ch, &t, NULL, 1, 0, NULL, 1, l, NULL, &e), LIR_EINVAL);
    cr_assert(strstr(e.msg, "residual stream"), "message: %s", e.msg);
    lir_cuda_chain_free(ch);
    free(l);
    lir_model_free(m);
}
#endif /* LIR_CUDA */
