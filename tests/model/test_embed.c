/* test_embed.c — embeddings through the public API (lir_embed, lir_embed_tokens) on generated
 * models: a bert encoder and llama/qwen3 decoders.
 *  - bert loads with its pooling type; lir_context_decode refuses it (no output head);
 *  - argument checks: NULL, dim, token ids, inputs longer than bert's position table;
 *  - pooling: with causal attention the first token's state does not depend on what follows
 *    (CLS of [a b c] == LAST of [a]), mean is the mean of the per-prefix last states; a single
 *    token gives the same vector under every pooling; a model without a pooling type pools by
 *    mean; the model's type is used by default;
 *  - normalize gives unit vectors parallel to the raw ones;
 *  - the thread count does not change a bert / nomic-bert embedding; their attention is
 *    non-causal (the first token's state changes when a later token does); nomic-bert (RoPE)
 *    takes inputs up to the context size.
 * Equality with llama.cpp is tested in tests/parity/embed.test.mjs. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include "lir.h"
#include "model/model_util.h"

static char path[256];
static void cleanup(void) { unlink(path); }

static lir_model *gen_load(enum lir_gen_arch arch, int32_t pooling) {
    struct lir_gen_params p;
    lir_err e = { { 0 } };
    cr_assert_eq(lir_gen_preset(&p, "tiny", arch, &e), LIR_OK, "%s", e.msg);
    p.pooling = pooling;
    p.n_threads = 1;
    p.seed = 11;
    tmp_model_path(path, sizeof path, "embed");
    cr_assert_eq(lir_gen_write(&p, path, &e), LIR_OK, "generate: %s", e.msg);
    char err[512] = "";
    lir_model *m = NULL;
    cr_assert_eq(lir_model_load(path, NULL, &m, err, sizeof err), LIR_OK, "load: %s", err);
    return m;
}

static lir_context *ctx_of(lir_model *m, int32_t n_ctx, int32_t n_batch, int32_t n_threads) {
    struct lir_context_params cp = lir_context_params_default();
    cp.n_ctx = n_ctx;
    cp.n_batch = n_batch;
    cp.n_threads = n_threads;
    lir_context *c = NULL;
    char err[512] = "";
    cr_assert_eq(lir_context_create(m, &cp, &c, err, sizeof err), LIR_OK, "context: %s", err);
    return c;
}

static struct lir_embed_params raw(enum lir_pooling p) {
    struct lir_embed_params ep = lir_embed_params_default();
    ep.pooling = p;
    ep.normalize = false;
    return ep;
}

static double cosine(const float *a, const float *b, int n) {
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++) ab += (double)a[i] * b[i], aa += (double)a[i] * a[i], bb += (double)b[i] * b[i];
    return ab / sqrt(aa * bb);
}

static double max_abs_diff(const float *a, const float *b, int n) {
    double d = 0;
    for (int i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

Test(embed, bert_loads_and_checks_arguments, .fini = cleanup) {
    lir_model *m = gen_load(LIR_GEN_BERT, LIR_GEN_POOLING_CLS);
    struct lir_model_info mi;
    lir_model_get_info(m, &mi);
    cr_assert_str_eq(mi.arch, "bert");
    cr_assert_eq(lir_model_n_embd(m), 256);
    cr_assert_eq(lir_model_pooling(m), LIR_POOLING_CLS);
    cr_assert_eq(lir_embed_params_default().normalize, true);
    cr_assert_eq(lir_embed_params_default().pooling, LIR_POOLING_MODEL);

    lir_context *c = ctx_of(m, 1024, 64, 2); /* context above the 512 positions of the model */
    const lir_token toks[4] = { 2, 300, 301, 3 };
    cr_assert_eq(lir_context_decode(c, toks, 4, 0, false), LIR_EUNSUPPORTED);
    cr_assert(strstr(lir_context_last_error(c), "lir_embed"), "%s", lir_context_last_error(c));

    float v[256];
    struct lir_embed_params ep = raw(LIR_POOLING_MODEL);
    cr_assert_eq(lir_embed_tokens(c, toks, 4, &ep, v, 255), LIR_EINVAL);
    cr_assert(strstr(lir_context_last_error(c), "dim"), "%s", lir_context_last_error(c));
    cr_assert_eq(lir_embed_tokens(c, toks, 0, &ep, v, 256), LIR_EINVAL);
    cr_assert_eq(lir_embed_tokens(c, NULL, 4, &ep, v, 256), LIR_EINVAL);
    cr_assert_eq(lir_embed_tokens(c, toks, 4, &ep, NULL, 256), LIR_EINVAL);
    const lir_token bad[2] = { 2, 5000 };
    cr_assert_eq(lir_embed_tokens(c, bad, 2, &ep, v, 256), LIR_EINVAL);
    ep.pooling = (enum lir_pooling)7;
    cr_assert_eq(lir_embed_tokens(c, toks, 4, &ep, v, 256), LIR_EINVAL);
    ep.pooling = LIR_POOLING_MODEL;
    lir_token *many = malloc(sizeof *many * 600);
    for (int i = 0; i < 600; i++) many[i] = 100 + i % 500;
    cr_assert_eq(lir_embed_tokens(c, many, 600, &ep, v, 256), LIR_ECONTEXT);
    cr_assert(strstr(lir_context_last_error(c), "position"), "%s", lir_context_last_error(c));
    cr_assert_eq(lir_embed_tokens(c, many, 512, &ep, v, 256), LIR_OK, "%s", lir_context_last_error(c));
    free(many);

    /* text: [CLS] words [SEP] */
    int32_t n = 0;
    cr_assert_eq(lir_embed(c, "hello world", 11, NULL, v, 256, &n), LIR_OK, "%s", lir_context_last_error(c));
    cr_assert(n >= 4, "n_tokens %d", n);
    double norm = 0;
    for (int i = 0; i < 256; i++) norm += (double)v[i] * v[i];
    cr_assert(fabs(sqrt(norm) - 1) < 1e-6, "normalized by default: norm %g", sqrt(norm));
    lir_context_free(c);
    lir_model_free(m);
}

static void encoder_invariants(enum lir_gen_arch arch) {
    lir_model *m = gen_load(arch, LIR_GEN_POOLING_CLS);
    lir_context *c1 = ctx_of(m, 512, 0, 1), *c3 = ctx_of(m, 512, 0, 3);
    lir_token toks[40];
    for (int i = 0; i < 40; i++) toks[i] = 10 + (i * 37) % 900;
    float a[256], b[256];
    struct lir_embed_params ep = raw(LIR_POOLING_MEAN);
    cr_assert_eq(lir_embed_tokens(c1, toks, 40, &ep, a, 256), LIR_OK);
    cr_assert_eq(lir_embed_tokens(c3, toks, 40, &ep, b, 256), LIR_OK);
    cr_assert(max_abs_diff(a, b, 256) <= 1e-6, "1 vs 3 threads: %g", max_abs_diff(a, b, 256));
    /* CLS state of [t0 .. t39] vs with the last token changed: differs (it sees every token) */
    ep.pooling = LIR_POOLING_CLS;
    cr_assert_eq(lir_embed_tokens(c1, toks, 40, &ep, a, 256), LIR_OK);
    toks[39] = 777;
    cr_assert_eq(lir_embed_tokens(c1, toks, 40, &ep, b, 256), LIR_OK);
    cr_assert(max_abs_diff(a, b, 256) > 1e-4, "CLS did not change: attention looks causal");
    /* a single token: every pooling gives the same vector */
    float mean1[256], cls1[256], last1[256];
    ep.pooling = LIR_POOLING_MEAN;
    cr_assert_eq(lir_embed_tokens(c1, toks, 1, &ep, mean1, 256), LIR_OK);
    ep.pooling = LIR_POOLING_CLS;
    cr_assert_eq(lir_embed_tokens(c1, toks, 1, &ep, cls1, 256), LIR_OK);
    ep.pooling = LIR_POOLING_LAST;
    cr_assert_eq(lir_embed_tokens(c1, toks, 1, &ep, last1, 256), LIR_OK);
    cr_assert(max_abs_diff(mean1, cls1, 256) <= 1e-6 && max_abs_diff(cls1, last1, 256) == 0);
    lir_context_free(c1);
    lir_context_free(c3);
    lir_model_free(m);
}

Test(embed, bert_attention_is_not_causal_and_threads_do_not_matter, .fini = cleanup) {
    encoder_invariants(LIR_GEN_BERT);
}
/* nomic-bert: fused attn_qkv viewed as q, k, v; RoPE instead of a position table (so inputs
 * may exceed the 512 positions bert's table would allow, up to the context) */
Test(embed, nomic_bert_attention_is_not_causal_and_threads_do_not_matter, .fini = cleanup) {
    encoder_invariants(LIR_GEN_NOMIC_BERT);
    lir_model *m = gen_load(LIR_GEN_NOMIC_BERT, LIR_GEN_POOLING_MEAN);
    struct lir_model_info mi;
    lir_model_get_info(m, &mi);
    cr_assert_str_eq(mi.arch, "nomic-bert");
    lir_context *c = ctx_of(m, 700, 0, 2);
    lir_token *many = malloc(sizeof *many * 700);
    for (int i = 0; i < 700; i++) many[i] = 100 + i % 500;
    float v[256];
    cr_assert_eq(lir_embed_tokens(c, many, 700, NULL, v, 256), LIR_OK, "%s", lir_context_last_error(c));
    cr_assert_eq(lir_embed_tokens(c, many, 701, NULL, v, 256), LIR_ECONTEXT);
    free(many);
    lir_context_free(c);
    lir_model_free(m);
}

static void decoder_pooling(enum lir_gen_arch arch) {
    lir_model *m = gen_load(arch, LIR_GEN_POOLING_UNSET); /* a chat model: no pooling key */
    cr_assert_eq(lir_model_pooling(m), LIR_POOLING_NONE);
    lir_context *c = ctx_of(m, 256, 4, 2); /* 4-token batches: 10 tokens take three steps */
    const int E = lir_model_n_embd(m), n = 10;
    lir_token toks[10];
    for (int i = 0; i < n; i++) toks[i] = 300 + i * 17;
    float *last_of_prefix = malloc(sizeof(float) * E * n), *v = malloc(sizeof(float) * E);
    float *w = malloc(sizeof(float) * E);
    struct lir_embed_params ep = raw(LIR_POOLING_LAST);
    for (int k = 1; k <= n; k++)
        cr_assert_eq(lir_embed_tokens(c, toks, k, &ep, last_of_prefix + (size_t)(k - 1) * E, E), LIR_OK, "%s",
                     lir_context_last_error(c));
    /* causal: the first token's state is that of the one-token input */
    ep.pooling = LIR_POOLING_CLS;
    cr_assert_eq(lir_embed_tokens(c, toks, n, &ep, v, E), LIR_OK);
    cr_assert(max_abs_diff(v, last_of_prefix, E) <= 1e-5, "CLS vs LAST of [t0]: %g", max_abs_diff(v, last_of_prefix, E));
    /* mean = mean of the prefixes' last states */
    ep.pooling = LIR_POOLING_MEAN;
    cr_assert_eq(lir_embed_tokens(c, toks, n, &ep, v, E), LIR_OK);
    for (int i = 0; i < E; i++) {
        double s = 0;
        for (int k = 0; k < n; k++) s += last_of_prefix[(size_t)k * E + i];
        w[i] = (float)(s / n);
    }
    cr_assert(max_abs_diff(v, w, E) <= 1e-4, "mean pooling: %g", max_abs_diff(v, w, E));
    /* no pooling type: MODEL and NONE are mean */
    ep.pooling = LIR_POOLING_MODEL;
    cr_assert_eq(lir_embed_tokens(c, toks, n, &ep, w, E), LIR_OK);
    cr_assert_eq(max_abs_diff(v, w, E), 0.0, "a chat model pools by mean");
    ep.pooling = LIR_POOLING_NONE;
    cr_assert_eq(lir_embed_tokens(c, toks, n, &ep, w, E), LIR_OK);
    cr_assert_eq(max_abs_diff(v, w, E), 0.0, "NONE is mean");
    /* normalize */
    ep.normalize = true;
    cr_assert_eq(lir_embed_tokens(c, toks, n, &ep, w, E), LIR_OK);
    double nn = 0;
    for (int i = 0; i < E; i++) nn += (double)w[i] * w[i];
    cr_assert(fabs(sqrt(nn) - 1) < 1e-6, "norm %g", sqrt(nn));
    cr_assert(cosine(v, w, E) > 1 - 1e-9);
    /* decoding still works after embedding (the KV cache is simply overwritten) */
    cr_assert_eq(lir_context_decode(c, toks, n, 0, false), LIR_OK);
    cr_assert_not_null(lir_context_logits(c, -1));
    free(last_of_prefix), free(v), free(w);
    lir_context_free(c);
    lir_model_free(m);
}

Test(embed, llama_pooling, .fini = cleanup) { decoder_pooling(LIR_GEN_LLAMA); }
Test(embed, qwen3_pooling, .fini = cleanup) { decoder_pooling(LIR_GEN_QWEN3); }

Test(embed, pooling_type_from_gguf, .fini = cleanup) {
    lir_model *m = gen_load(LIR_GEN_QWEN3, LIR_GEN_POOLING_LAST);
    cr_assert_eq(lir_model_pooling(m), LIR_POOLING_LAST);
    lir_context *c = ctx_of(m, 128, 0, 2);
    const int E = lir_model_n_embd(m);
    const lir_token toks[5] = { 1, 400, 401, 402, 403 };
    float *a = malloc(sizeof(float) * E), *b = malloc(sizeof(float) * E);
    struct lir_embed_params ep = raw(LIR_POOLING_MODEL);
    cr_assert_eq(lir_embed_tokens(c, toks, 5, &ep, a, E), LIR_OK);
    ep.pooling = LIR_POOLING_LAST;
    cr_assert_eq(lir_embed_tokens(c, toks, 5, &ep, b, E), LIR_OK);
    cr_assert_eq(max_abs_diff(a, b, E), 0.0, "the model's LAST is the default");
    ep.pooling = LIR_POOLING_MEAN;
    cr_assert_eq(lir_embed_tokens(c, toks, 5, &ep, b, E), LIR_OK);
    cr_assert(max_abs_diff(a, b, E) > 1e-3, "an explicit pooling overrides the model's");
    free(a), free(b);
    lir_context_free(c);
    lir_model_free(m);
}
