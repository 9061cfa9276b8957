/* test_cuda.c — the CUDA backend (src/backend/cuda) against the CPU references. The GPU tests
 * (suite cuda) are compiled only with -DLIR_CUDA=ON and skip, saying why, when no CUDA device is
 * present; suite cuda_none runs in every build without a usable GPU (gpu_layers refused, with
 * the reason).
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
 *    context's; partial offload and n_seq_max > 1 are refused, as are a context shift and
 *    reading the KV cache for a snapshot.
 *  - refusals: an encoder model (EUNSUPPORTED), a bad token and a position past n_ctx (EINVAL). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "backend/cuda/cuda.h"
#include "lir.h"
#include "model/forward.h"
#include "model/model_util.h"

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

#ifdef LIR_CUDA

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

static char path[256];
static void cleanup(void) { unlink(path); }

static lir_model *gen_model(enum lir_gen_arch arch, int32_t type, bool mix_m) {
    struct lir_gen_params p;
    lir_err e = { { 0 } };
    cr_assert_eq(lir_gen_preset(&p, "tiny", arch, &e), LIR_OK, "%s", e.msg);
    p.type = type;
    p.mix_m = mix_m;
    p.seed = 5;
    p.n_threads = 2;
    tmp_model_path(path, sizeof path, "cuda");
    cr_assert_eq(lir_gen_write(&p, path, &e), LIR_OK, "generate: %s", e.msg);
    char err[512] = "";
    lir_model *m = NULL;
    cr_assert_eq(lir_model_load(path, NULL, &m, err, sizeof err), LIR_OK, "load: %s", err);
    return m;
}

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
    /* refused: partial offload, several sequences */
    cp.gpu_layers = 1;
    cr_assert_eq(lir_context_create(m, &cp, &gc, err, sizeof err), LIR_EUNSUPPORTED);
    cr_assert(strstr(err, "partial offload"), "message: %s", err);
    cp.gpu_layers = -1;
    cp.n_seq_max = 2;
    cr_assert_eq(lir_context_create(m, &cp, &gc, err, sizeof err), LIR_EUNSUPPORTED);
    cr_assert(strstr(err, "n_seq_max"), "message: %s", err);
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
#endif /* LIR_CUDA */
