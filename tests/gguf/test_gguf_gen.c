/* test_gguf_gen.c — the model generator (src/gguf/gguf_gen.c): written files open with our
 * reader, carry llama.cpp's metadata keys, tensor names, shapes and types for each
 * architecture and type mix, the synthetic vocab, rope_freqs for llama3 scaling, and are
 * byte-identical for a seed whatever the thread count. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "gguf/gguf_gen.h"
#include "quant/quant.h"

static void gen_path(char *buf, size_t n, const char *tag) {
    snprintf(buf, n, "/tmp/lir_test_gen_%d_%s.gguf", (int)getpid(), tag);
}

static lir_gguf *gen(struct lir_gen_params *p, const char *tag, char *path, size_t n) {
    gen_path(path, n, tag);
    lir_err e = {{0}};
    cr_assert_eq(lir_gen_write(p, path, &e), LIR_OK, "%s", e.msg);
    lir_gguf *g = NULL;
    cr_assert_eq(lir_gguf_open(path, &g, &e), LIR_OK, "%s", e.msg);
    return g;
}

static const struct lir_gguf_tensor *tensor(lir_gguf *g, const char *name, int64_t ne0, int64_t ne1, int32_t type) {
    const struct lir_gguf_tensor *t = lir_gguf_find_tensor(g, name);
    cr_assert(t, "missing tensor %s", name);
    cr_expect_eq(t->ne[0], ne0, "%s ne0 %" PRId64, name, t->ne[0]);
    cr_expect_eq(t->ne[1], ne1, "%s ne1 %" PRId64, name, t->ne[1]);
    cr_expect_eq(t->n_dims, ne1 == 1 ? 1u : 2u, "%s n_dims", name);
    if (type >= 0) cr_expect_eq(t->type, type, "%s type %s, expected %s", name, lir_type_name(t->type), lir_type_name(type));
    return t;
}

static uint32_t u32(lir_gguf *g, const char *key) {
    uint32_t v = 0;
    lir_err e = {{0}};
    cr_assert(lir_gguf_get_u32(g, key, &v, &e), "missing %s %s", key, e.msg);
    return v;
}

Test(gguf_gen, tiny_qwen3_q4_k_m) {
    struct lir_gen_params p;
    lir_err e = {{0}};
    cr_assert_eq(lir_gen_preset(&p, "tiny", LIR_GEN_QWEN3, &e), LIR_OK);
    cr_assert(lir_gen_parse_type("q4_k_m", &p));
    p.n_layer = 8;
    char path[256];
    lir_gguf *g = gen(&p, "q3", path, sizeof path);
    lir_gguf_str s;
    cr_assert(lir_gguf_get_str(g, "general.architecture", &s, &e));
    cr_assert(s.len == 5 && memcmp(s.ptr, "qwen3", 5) == 0);
    cr_expect_eq(u32(g, "qwen3.embedding_length"), 256);
    cr_expect_eq(u32(g, "qwen3.block_count"), 8);
    cr_expect_eq(u32(g, "qwen3.feed_forward_length"), 768);
    cr_expect_eq(u32(g, "qwen3.attention.head_count"), 4);
    cr_expect_eq(u32(g, "qwen3.attention.head_count_kv"), 2);
    cr_expect_eq(u32(g, "qwen3.attention.key_length"), 128);
    cr_expect_eq(u32(g, "qwen3.attention.value_length"), 128);
    cr_expect_eq(u32(g, "qwen3.rope.dimension_count"), 128);
    cr_expect_eq(u32(g, "qwen3.context_length"), 4096);
    cr_expect_eq(u32(g, "general.file_type"), 15);
    float f;
    cr_assert(lir_gguf_get_f32(g, "qwen3.rope.freq_base", &f, &e)); cr_expect_eq(f, 10000.0f);
    cr_assert(lir_gguf_get_f32(g, "qwen3.attention.layer_norm_rms_epsilon", &f, &e)); cr_expect_eq(f, 1e-6f);

    tensor(g, "token_embd.weight", 256, 512, LIR_TYPE_Q4_K);
    tensor(g, "output.weight", 256, 512, LIR_TYPE_Q6_K);
    tensor(g, "output_norm.weight", 256, 1, LIR_TYPE_F32);
    for (int il = 0; il < 8; il++) {
        char n[64];
        /* use_more_bits(i, 8): i < 1, i >= 7, (i - 1) % 3 == 2 -> layers 0, 3, 6, 7 */
        bool more = il == 0 || il == 3 || il == 6 || il == 7;
#define T(x, a, b, ty) (snprintf(n, sizeof n, "blk.%d." x, il), tensor(g, n, a, b, ty))
        T("attn_norm.weight", 256, 1, LIR_TYPE_F32);
        T("attn_q.weight", 256, 512, LIR_TYPE_Q4_K);
        T("attn_k.weight", 256, 256, LIR_TYPE_Q4_K);
        T("attn_v.weight", 256, 256, more ? LIR_TYPE_Q6_K : LIR_TYPE_Q4_K);
        T("attn_q_norm.weight", 128, 1, LIR_TYPE_F32);
        T("attn_k_norm.weight", 128, 1, LIR_TYPE_F32);
        T("attn_output.weight", 512, 256, LIR_TYPE_Q4_K);
        T("ffn_norm.weight", 256, 1, LIR_TYPE_F32);
        T("ffn_gate.weight", 256, 768, LIR_TYPE_Q4_K);
        T("ffn_up.weight", 256, 768, LIR_TYPE_Q4_K);
        T("ffn_down.weight", 768, 256, more ? LIR_TYPE_Q6_K : LIR_TYPE_Q4_K);
#undef T
        snprintf(n, sizeof n, "blk.%d.attn_q.bias", il);
        cr_expect_null(lir_gguf_find_tensor(g, n));
    }
    cr_expect_eq(lir_gguf_n_tensors(g), 3 + 8 * 11);
    /* vocab */
    enum lir_gguf_vtype et;
    uint64_t nv;
    cr_assert(lir_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &nv, &e));
    cr_expect_eq(et, LIR_GGUF_STRING);
    cr_expect_eq(nv, 512);
    cr_assert(lir_gguf_get_str(g, "tokenizer.ggml.model", &s, &e));
    cr_expect(s.len == 5 && memcmp(s.ptr, "llama", 5) == 0);
    s = lir_gguf_arr_str(g, "tokenizer.ggml.tokens", 0); cr_expect(s.len == 5 && !memcmp(s.ptr, "<unk>", 5));
    s = lir_gguf_arr_str(g, "tokenizer.ggml.tokens", 1); cr_expect(s.len == 3 && !memcmp(s.ptr, "<s>", 3));
    s = lir_gguf_arr_str(g, "tokenizer.ggml.tokens", 3 + 0x0A); cr_expect(s.len == 6 && !memcmp(s.ptr, "<0x0A>", 6));
    s = lir_gguf_arr_str(g, "tokenizer.ggml.tokens", 259); cr_expect(s.len == 4 && !memcmp(s.ptr, "\xe2\x96\x81" "a", 4));
    s = lir_gguf_arr_str(g, "tokenizer.ggml.tokens", 260); cr_expect(s.len == 1 && s.ptr[0] == 'a');
    int32_t tt[260];
    memcpy(tt, lir_gguf_arr_data(g, "tokenizer.ggml.token_type"), sizeof tt);
    cr_expect_eq(tt[0], 2); cr_expect_eq(tt[1], 3); cr_expect_eq(tt[2], 3); cr_expect_eq(tt[3], 6);
    cr_expect_eq(tt[258], 6); cr_expect_eq(tt[259], 1);
    float sc[262];
    memcpy(sc, lir_gguf_arr_data(g, "tokenizer.ggml.scores"), sizeof sc);
    cr_expect_gt(sc[260], sc[261]);
    cr_expect_eq(u32(g, "tokenizer.ggml.bos_token_id"), 1);
    cr_expect_eq(u32(g, "tokenizer.ggml.eos_token_id"), 2);
    bool add_bos = false;
    cr_assert(lir_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &add_bos, &e));
    cr_expect(add_bos);
    /* every token distinct */
    char **seen = calloc(nv, sizeof *seen);
    for (uint64_t i = 0; i < nv; i++) {
        s = lir_gguf_arr_str(g, "tokenizer.ggml.tokens", i);
        seen[i] = strndup(s.ptr, (size_t)s.len);
    }
    for (uint64_t i = 0; i < nv; i++)
        for (uint64_t j = i + 1; j < nv; j++) cr_assert(strcmp(seen[i], seen[j]) != 0, "token %s twice", seen[i]);
    for (uint64_t i = 0; i < nv; i++) free(seen[i]);
    free(seen);
    lir_gguf_close(g);
    unlink(path);
}

Test(gguf_gen, qwen2_biases_tied_and_llama3_rope) {
    struct lir_gen_params p;
    lir_err e = {{0}};
    cr_assert_eq(lir_gen_preset(&p, "tiny", LIR_GEN_QWEN2, &e), LIR_OK);
    p.tied = true;
    p.type = LIR_TYPE_Q8_0;
    char path[256];
    lir_gguf *g = gen(&p, "q2", path, sizeof path);
    cr_expect_null(lir_gguf_find_tensor(g, "output.weight"));
    cr_expect_null(lir_gguf_find_tensor(g, "rope_freqs.weight"));
    tensor(g, "token_embd.weight", 256, 512, LIR_TYPE_Q8_0);
    tensor(g, "blk.1.attn_q.bias", 256, 1, LIR_TYPE_F32);
    tensor(g, "blk.1.attn_k.bias", 128, 1, LIR_TYPE_F32);
    tensor(g, "blk.1.attn_v.bias", 128, 1, LIR_TYPE_F32);
    cr_expect_eq(lir_gguf_find_key(g, "qwen2.attention.key_length"), -1); /* head_dim == n_embd/n_head */
    cr_expect_eq(u32(g, "general.file_type"), 7);
    lir_gguf_close(g);
    unlink(path);

    cr_assert_eq(lir_gen_preset(&p, "tiny", LIR_GEN_LLAMA, &e), LIR_OK);
    p.rope_llama3 = true;
    p.rope_base = 500000.0f;
    g = gen(&p, "l3", path, sizeof path);
    const struct lir_gguf_tensor *t = tensor(g, "rope_freqs.weight", 32, 1, LIR_TYPE_F32);
    const float *rf = t->data;
    /* llama3 factors: 1 for short wavelengths, 32 for long, smooth in between, monotone */
    cr_expect_eq(rf[0], 1.0f);
    cr_expect_eq(rf[31], 32.0f);
    for (int i = 1; i < 32; i++) cr_expect_geq(rf[i], rf[i - 1]);
    bool smooth = false;
    for (int i = 0; i < 32; i++) smooth |= rf[i] > 1.0f && rf[i] < 32.0f;
    cr_expect(smooth);
    lir_gguf_close(g);
    unlink(path);
}

Test(gguf_gen, deterministic_for_a_seed) {
    struct lir_gen_params p;
    lir_err e = {{0}};
    cr_assert_eq(lir_gen_preset(&p, "tiny", LIR_GEN_LLAMA, &e), LIR_OK);
    p.type = LIR_TYPE_Q4_0;
    p.seed = 42;
    char a[256], b[256], c[256];
    p.n_threads = 1;
    lir_gguf *ga = gen(&p, "da", a, sizeof a);
    p.n_threads = 3;
    lir_gguf *gb = gen(&p, "db", b, sizeof b);
    p.seed = 43;
    lir_gguf *gc = gen(&p, "dc", c, sizeof c);
    cr_assert_eq(lir_gguf_file_size(ga), lir_gguf_file_size(gb));
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    size_t n = (size_t)lir_gguf_file_size(ga);
    char *ba = malloc(n), *bb = malloc(n);
    cr_assert_eq(fread(ba, 1, n, fa), n);
    cr_assert_eq(fread(bb, 1, n, fb), n);
    cr_expect(memcmp(ba, bb, n) == 0, "same seed, different bytes");
    fclose(fa); fclose(fb); free(ba); free(bb);
    const struct lir_gguf_tensor *ta = lir_gguf_find_tensor(ga, "blk.0.attn_q.weight");
    const struct lir_gguf_tensor *tc = lir_gguf_find_tensor(gc, "blk.0.attn_q.weight");
    cr_expect(memcmp(ta->data, tc->data, ta->size) != 0, "different seeds, same weights");
    /* weights look like N(0, 1/sqrt(n_embd)) after dequantization */
    const struct lir_gguf_tensor *tq = lir_gguf_find_tensor(ga, "blk.0.ffn_up.weight");
    float *x = malloc((size_t)tq->ne[0] * sizeof *x);
    double sum = 0, sq = 0;
    for (int64_t r = 0; r < tq->ne[1]; r++) {
        lir_type_traits_get(tq->type)->dequantize_row_ref((const uint8_t *)tq->data + r * lir_type_row_size(tq->type, tq->ne[0]),
                                                         x, tq->ne[0]);
        for (int64_t j = 0; j < tq->ne[0]; j++) { sum += x[j]; sq += (double)x[j] * x[j]; }
    }
    double cnt = (double)tq->ne[0] * (double)tq->ne[1], mean = sum / cnt, sd = sqrt(sq / cnt - mean * mean);
    cr_expect(fabs(mean) < 0.01, "mean %g", mean);
    cr_expect(fabs(sd - 1.0 / 16.0) < 0.01, "std %g", sd);
    free(x);
    lir_gguf_close(ga); lir_gguf_close(gb); lir_gguf_close(gc);
    unlink(a); unlink(b); unlink(c);
}

Test(gguf_gen, presets_and_fallbacks) {
    struct lir_gen_params p;
    lir_err e = {{0}};
    cr_assert_eq(lir_gen_preset(&p, "llama-3.2-1b", LIR_GEN_QWEN2, &e), LIR_OK);
    cr_expect_eq(p.arch, LIR_GEN_LLAMA);
    cr_expect(p.tied && p.rope_llama3);
    cr_expect_eq(p.n_embd, 2048); cr_expect_eq(p.n_vocab, 128256);
    cr_assert_eq(lir_gen_preset(&p, "qwen2.5-0.5b", LIR_GEN_LLAMA, &e), LIR_OK);
    cr_expect_eq(p.n_embd, 896);
    cr_assert(lir_gen_parse_type("Q4_K_M", &p));
    /* 896 is not a multiple of 256: llama.cpp's fallbacks */
    cr_expect_eq(lir_gen_tensor_type(&p, "blk.1.attn_q.weight", 896, 1), LIR_TYPE_Q5_0);
    cr_expect_eq(lir_gen_tensor_type(&p, "blk.0.attn_v.weight", 896, 0), LIR_TYPE_Q8_0);
    cr_expect_eq(lir_gen_tensor_type(&p, "token_embd.weight", 896, -1), LIR_TYPE_Q8_0); /* tied: output rules */
    cr_expect_eq(lir_gen_tensor_type(&p, "blk.0.ffn_down.weight", 4864, 0), LIR_TYPE_Q6_K);
    cr_assert_eq(lir_gen_preset(&p, "qwen3-8b", LIR_GEN_LLAMA, &e), LIR_OK);
    cr_expect_eq(p.head_dim, 128); cr_expect_eq(p.n_layer, 36); cr_expect(!p.tied);
    cr_assert_eq(lir_gen_preset(&p, "nope", LIR_GEN_LLAMA, &e), LIR_EINVAL);
    cr_expect(strstr(e.msg, "nope"));
    cr_assert_eq(lir_gen_preset(&p, "tiny", LIR_GEN_LLAMA, &e), LIR_OK);
    p.n_head_kv = 3;
    char path[256];
    gen_path(path, sizeof path, "bad");
    cr_expect_eq(lir_gen_write(&p, path, &e), LIR_EINVAL);
    cr_expect(strstr(e.msg, "n_head_kv"), "%s", e.msg);
    cr_expect(!lir_gen_parse_type("Q4_2", &p));
}
