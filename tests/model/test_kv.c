/* test_kv.c — the paged multi-sequence KV cache (src/model/kv.c, forward.c):
 *  - a batch of several sequences decoded in one step gives each token the bits it gets when
 *    its sequence is decoded alone (blocks interleaved in the pool, several steps, 1 and 2
 *    threads, n_batch splitting the batch);
 *  - a copied prefix is stored once (blocks and bytes counted once), diverging continuations
 *    copy the shared partial block and each equals a fresh evaluation;
 *  - clear returns blocks (shared ones only when the last user lets go);
 *  - truncate (context shift) then decode ~ a fresh evaluation of the kept tokens at their new
 *    positions, for normal and NEOX RoPE and llama3 frequency factors; a sequence sharing the
 *    blocks is not disturbed;
 *  - Q8_0 KV close to F16 at 34/64 of the bytes;
 *  - status and lir_model_estimate_context agree with the allocation byte for byte;
 *  - snapshot accessors: rows read from one context and written to another continue bit for bit;
 *  - every error (bad sequence id, full pool, bad positions, bad counts) a clear status, and the
 *    cache unchanged after it. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include "lir.h"
#include "model/forward.h"
#include "model/kv.h"
#include "model/model_util.h"

static char path_kv[256];

static void cleanup(void) { unlink(path_kv); }

static lir_model *gen_model(enum lir_gen_arch arch, int32_t type, bool llama3) {
    lir_err e = { { 0 } };
    struct lir_gen_params p;
    cr_assert_eq(lir_gen_preset(&p, "tiny", arch, &e), LIR_OK);
    p.type = type;
    p.mix_m = false;
    p.seed = 11;
    p.n_threads = 1;
    if (llama3) { /* rope_freqs.weight: per-pair frequency divisors */
        p.rope_llama3 = true;
        p.rope_factor = 8.0f;
        p.rope_low = 1.0f;
        p.rope_high = 4.0f;
        p.rope_orig_ctx = 256;
    }
    tmp_model_path(path_kv, sizeof path_kv, "kv");
    cr_assert_eq(lir_gen_write(&p, path_kv, &e), LIR_OK, "generate: %s", e.msg);
    char err[512] = "";
    lir_model *m = NULL;
    cr_assert_eq(lir_model_load(path_kv, NULL, &m, err, sizeof err), LIR_OK, "%s", err);
    return m;
}

static lir_context *ctx_new(lir_model *m, int n_ctx, int n_batch, int n_threads, int n_seq, int kv_size,
                            enum lir_kv_type kt) {
    struct lir_context_params cp = lir_context_params_default();
    cp.n_ctx = n_ctx;
    cp.n_batch = n_batch;
    cp.n_threads = n_threads;
    cp.n_seq_max = n_seq;
    cp.kv_size = kv_size;
    cp.kv_type = kt;
    char err[512] = "";
    lir_context *c = NULL;
    cr_assert_eq(lir_context_create(m, &cp, &c, err, sizeof err), LIR_OK, "%s", err);
    return c;
}

static int n_vocab(const lir_model *m) {
    struct lir_model_info mi;
    lir_model_get_info(m, &mi);
    return mi.n_vocab;
}

static void fill_tokens(lir_token *t, int n, int seed, int nv) {
    for (int i = 0; i < n; i++) t[i] = (lir_token)(((i + 1) * 7919 + seed * 104729) % nv);
}

/* Max |a-b| / max|b| over n floats. */
static double rel_diff(const float *a, const float *b, int n) {
    double d = 0, mx = 1e-6;
    for (int i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        mx = fmax(mx, fabs((double)b[i]));
    }
    return d / mx;
}

static int argmax(const float *a, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (a[i] > a[b]) b = i;
    return b;
}

/* ------------------------------------------------------------------ batching */

enum { NS = 3 };

/* Sequences of different lengths (over several blocks), fed round-robin in one batch per step;
 * each step's logits of every token compared with the sequence decoded alone step by step. */
static void check_batch_equals_alone(enum lir_gen_arch arch, int32_t type, int n_threads, int n_batch) {
    lir_model *m = gen_model(arch, type, false);
    const int nv = n_vocab(m);
    const int len0[NS] = { 70, 131, 9 }, step[NS] = { 2, 3, 2 };
    enum { STEPS = 3, MAXT = 160 };
    lir_token toks[NS][MAXT];
    for (int s = 0; s < NS; s++) fill_tokens(toks[s], MAXT, s + 1, nv);

    /* alone: each sequence in its own context, prompt then STEPS steps of step[s] tokens */
    float *alone[NS];
    int total[NS];
    for (int s = 0; s < NS; s++) {
        total[s] = len0[s] + STEPS * step[s];
        alone[s] = malloc(sizeof(float) * (size_t)total[s] * nv);
        lir_context *c = ctx_new(m, 256, 64, n_threads, 1, 0, LIR_KV_TYPE_F16);
        int p = 0;
        for (int k = 0; k <= STEPS; k++) {
            const int n = k == 0 ? len0[s] : step[s];
            cr_assert_eq(lir_context_decode(c, toks[s] + p, n, p, true), LIR_OK, "%s", lir_context_last_error(c));
            for (int j = 0; j < n; j++)
                memcpy(alone[s] + (size_t)(p + j) * nv, lir_context_logits(c, j), sizeof(float) * nv);
            p += n;
        }
        lir_context_free(c);
    }
    /* together: one context of NS sequences, each step one batch with every sequence's tokens
     * interleaved (so their blocks interleave in the pool too) */
    lir_context *c = ctx_new(m, 256, n_batch, n_threads, NS, 0, LIR_KV_TYPE_F16);
    int pos[NS] = { 0 };
    for (int k = 0; k <= STEPS; k++) {
        lir_token bt[512];
        int32_t bs[512], bp[512];
        int8_t bl[512];
        int owner[512], opos[512], n = 0;
        int left[NS];
        for (int s = 0; s < NS; s++) left[s] = k == 0 ? len0[s] : step[s];
        for (bool more = true; more;) {
            more = false;
            for (int s = 0; s < NS; s++) {
                if (!left[s]) continue;
                bt[n] = toks[s][pos[s]];
                bs[n] = s;
                bp[n] = pos[s];
                bl[n] = 1;
                owner[n] = s;
                opos[n] = pos[s];
                pos[s]++;
                left[s]--;
                n++;
                more = true;
            }
        }
        const struct lir_batch b = { .n_tokens = n, .token = bt, .pos = bp, .seq_id = bs, .logits = bl };
        cr_assert_eq(lir_context_decode_batch(c, &b), LIR_OK, "%s", lir_context_last_error(c));
        for (int i = 0; i < n; i++) {
            const float *l = lir_context_logits(c, i);
            cr_assert_not_null(l);
            cr_assert(memcmp(l, alone[owner[i]] + (size_t)opos[i] * nv, sizeof(float) * nv) == 0,
                      "step %d: sequence %d position %d differs from the sequence alone (rel %g)", k, owner[i],
                      opos[i], rel_diff(l, alone[owner[i]] + (size_t)opos[i] * nv, nv));
        }
    }
    for (int s = 0; s < NS; s++) {
        int32_t n;
        const lir_token *t = lir_context_seq_tokens(c, s, &n);
        cr_assert_eq(n, total[s]);
        cr_assert_eq(lir_context_seq_length(c, s), total[s]);
        cr_assert(memcmp(t, toks[s], sizeof(lir_token) * (size_t)n) == 0, "sequence %d records its tokens", s);
        free(alone[s]);
    }
    lir_context_free(c);
    lir_model_free(m);
}

/* Each step gives every sequence at least 2 tokens: a single-token step alone would take the
 * matmul kernels' decode path, whose sums are ordered differently (test_model.c) — the batch
 * itself never changes a token's bits, which is what is tested here. */
Test(kv, batch_equals_alone_llama_f32, .fini = cleanup) { check_batch_equals_alone(LIR_GEN_LLAMA, LIR_TYPE_F32, 1, 64); }
Test(kv, batch_equals_alone_qwen2_q4_0_2threads_small_batch, .fini = cleanup) {
    check_batch_equals_alone(LIR_GEN_QWEN2, LIR_TYPE_Q4_0, 2, 24);
}
Test(kv, batch_equals_alone_qwen3_q8_0, .fini = cleanup) { check_batch_equals_alone(LIR_GEN_QWEN3, LIR_TYPE_Q8_0, 2, 256); }

Test(kv, batch_logits_flags_and_defaults, .fini = cleanup) {
    lir_model *m = gen_model(LIR_GEN_LLAMA, LIR_TYPE_F32, false);
    const int nv = n_vocab(m);
    lir_context *c = ctx_new(m, 64, 64, 1, 2, 0, LIR_KV_TYPE_F16);
    lir_token t[6];
    fill_tokens(t, 6, 3, nv);
    /* NULL pos and seq_id: sequence 0 at its next positions; NULL logits: the last token only */
    const struct lir_batch b = { .n_tokens = 6, .token = t };
    cr_assert_eq(lir_context_decode_batch(c, &b), LIR_OK, "%s", lir_context_last_error(c));
    cr_assert_eq(lir_context_seq_length(c, 0), 6);
    cr_assert_eq(lir_context_seq_length(c, 1), 0);
    cr_assert_not_null(lir_context_logits(c, 5));
    cr_assert_eq(lir_context_logits(c, -1), lir_context_logits(c, 5));
    cr_assert_null(lir_context_logits(c, 4));
    cr_assert_null(lir_context_logits(c, 6));
    /* only flagged rows, in batch order */
    const int32_t seq[2] = { 0, 1 };
    const int8_t fl[2] = { 1, 0 };
    const struct lir_batch b2 = { .n_tokens = 2, .token = t, .seq_id = seq, .logits = fl };
    cr_assert_eq(lir_context_decode_batch(c, &b2), LIR_OK, "%s", lir_context_last_error(c));
    cr_assert_not_null(lir_context_logits(c, 0));
    cr_assert_null(lir_context_logits(c, 1));
    cr_assert_eq(lir_context_logits(c, -1), lir_context_logits(c, 0));
    lir_context_free(c);
    lir_model_free(m);
}

/* ------------------------------------------------------------------ sharing */

Test(kv, prefix_copy_shares_blocks_and_diverges_correctly, .fini = cleanup) {
    lir_model *m = gen_model(LIR_GEN_LLAMA, LIR_TYPE_Q8_0, false);
    const int nv = n_vocab(m);
    enum { P = 100, D = 5 };
    lir_token pre[P], a[D], b[D], full[P + D];
    fill_tokens(pre, P, 1, nv);
    fill_tokens(a, D, 2, nv);
    fill_tokens(b, D, 3, nv);
    lir_context *c = ctx_new(m, 256, 64, 2, 3, 0, LIR_KV_TYPE_F16);
    cr_assert_eq(lir_context_decode(c, pre, P, 0, false), LIR_OK, "%s", lir_context_last_error(c));
    struct lir_context_status st;
    cr_assert_eq(lir_context_get_status(c, &st), LIR_OK);
    cr_assert_eq(st.n_blocks_used, 2);
    const uint64_t used1 = st.kv_bytes_used;
    cr_assert_eq(used1, 2 * st.block_bytes);
    cr_assert_eq(lir_context_seq_copy(c, 0, 1), LIR_OK);
    cr_assert_eq(lir_context_seq_copy(c, 0, 2), LIR_OK);
    cr_assert_eq(lir_context_get_status(c, &st), LIR_OK);
    cr_assert_eq(st.n_blocks_used, 2, "three sequences share the prefix's two blocks");
    cr_assert_eq(st.kv_bytes_used, used1, "shared bytes are counted once");
    cr_assert_eq(st.used_tokens, P);
    struct lir_context_seq_status ss;
    cr_assert_eq(lir_context_seq_status(c, 1, &ss), LIR_OK);
    cr_assert_eq(ss.n_tokens, P);
    cr_assert_eq(ss.kv_bytes, 2 * st.block_bytes);
    cr_assert_eq(ss.kv_bytes_shared, 2 * st.block_bytes);
    int32_t n;
    const lir_token *t1 = lir_context_seq_tokens(c, 1, &n);
    cr_assert_eq(n, P);
    cr_assert(memcmp(t1, pre, sizeof pre) == 0);

    /* diverge: each continuation first copies the shared partial block (rows 64..99) */
    float *lo_a = malloc(sizeof(float) * nv * D), *lo_b = malloc(sizeof(float) * nv * D);
    const int32_t s1[D] = { 1, 1, 1, 1, 1 }, s2[D] = { 2, 2, 2, 2, 2 };
    const int8_t all[D] = { 1, 1, 1, 1, 1 };
    const struct lir_batch ba = { .n_tokens = D, .token = a, .seq_id = s1, .logits = all };
    cr_assert_eq(lir_context_decode_batch(c, &ba), LIR_OK, "%s", lir_context_last_error(c));
    for (int j = 0; j < D; j++) memcpy(lo_a + (size_t)j * nv, lir_context_logits(c, j), sizeof(float) * nv);
    const struct lir_batch bb = { .n_tokens = D, .token = b, .seq_id = s2, .logits = all };
    cr_assert_eq(lir_context_decode_batch(c, &bb), LIR_OK, "%s", lir_context_last_error(c));
    for (int j = 0; j < D; j++) memcpy(lo_b + (size_t)j * nv, lir_context_logits(c, j), sizeof(float) * nv);
    cr_assert_eq(lir_context_get_status(c, &st), LIR_OK);
    cr_assert_eq(st.n_blocks_used, 4, "block 0 shared by all; block 1 kept by 0, copied by 1 and by 2");
    cr_assert_eq(lir_context_seq_status(c, 1, &ss), LIR_OK);
    cr_assert_eq(ss.kv_bytes_shared, st.block_bytes);
    cr_assert_eq(lir_context_seq_length(c, 0), P);

    /* each continuation equals a fresh evaluation of prefix + its tokens (same step sizes) */
    for (int w = 0; w < 2; w++) {
        memcpy(full, pre, sizeof pre);
        memcpy(full + P, w ? b : a, sizeof a);
        lir_context *f = ctx_new(m, 256, 64, 2, 1, 0, LIR_KV_TYPE_F16);
        cr_assert_eq(lir_context_decode(f, full, P, 0, false), LIR_OK);
        cr_assert_eq(lir_context_decode(f, full + P, D, P, true), LIR_OK);
        for (int j = 0; j < D; j++)
            cr_assert(memcmp(lir_context_logits(f, j), (w ? lo_b : lo_a) + (size_t)j * nv, sizeof(float) * nv) == 0,
                      "continuation %d token %d differs from a fresh evaluation", w, j);
        lir_context_free(f);
    }
    /* sequence 0 still continues as if never shared */
    const int32_t s0[D] = { 0, 0, 0, 0, 0 };
    const struct lir_batch b0 = { .n_tokens = D, .token = a, .seq_id = s0, .logits = all };
    cr_assert_eq(lir_context_decode_batch(c, &b0), LIR_OK, "%s", lir_context_last_error(c));
    for (int j = 0; j < D; j++)
        cr_assert(memcmp(lir_context_logits(c, j), lo_a + (size_t)j * nv, sizeof(float) * nv) == 0);

    /* clear: blocks go back only when no sequence uses them */
    cr_assert_eq(lir_context_seq_clear(c, 0), LIR_OK);
    cr_assert_eq(lir_context_get_status(c, &st), LIR_OK);
    cr_assert_eq(st.n_blocks_used, 3, "block 0 still held by 1 and 2");
    cr_assert_eq(lir_context_seq_clear(c, 1), LIR_OK);
    cr_assert_eq(lir_context_seq_clear(c, 2), LIR_OK);
    cr_assert_eq(lir_context_get_status(c, &st), LIR_OK);
    cr_assert_eq(st.n_blocks_used, 0);
    cr_assert_eq(st.used_tokens, 0);
    cr_assert_eq(st.available_tokens, st.max_tokens);
    cr_assert_eq(lir_context_seq_length(c, 1), 0);
    free(lo_a);
    free(lo_b);
    lir_context_free(c);
    lir_model_free(m);
}

/* ------------------------------------------------------------------ truncate */

/* Evaluates T tokens, shifts (keep K, discard X), decodes G more; compares every new token's
 * logits with a fresh context evaluating kept tokens + the G new ones at positions 0... */
static void check_truncate(enum lir_gen_arch arch, bool llama3, enum lir_kv_type kt, int T, int K, int X, double tol) {
    lir_model *m = gen_model(arch, LIR_TYPE_F32, llama3);
    const int nv = n_vocab(m);
    enum { G = 4 };
    lir_token *t = malloc(sizeof(lir_token) * (size_t)(T + G)), *kept = malloc(sizeof(lir_token) * (size_t)(T + G));
    fill_tokens(t, T + G, 5, nv);
    lir_context *c = ctx_new(m, 512, 128, 2, 2, 0, kt);
    cr_assert_eq(lir_context_decode(c, t, T, 0, false), LIR_OK, "%s", lir_context_last_error(c));
    /* a second sequence sharing every block must not change */
    cr_assert_eq(lir_context_seq_copy(c, 0, 1), LIR_OK);
    cr_assert_eq(lir_context_seq_truncate(c, 0, K, X), LIR_OK, "%s", lir_context_last_error(c));
    cr_assert_eq(lir_context_seq_length(c, 0), T - X);
    cr_assert_null(lir_context_logits(c, -1), "logits of the evaluation before the shift are gone");
    memcpy(kept, t, sizeof(lir_token) * (size_t)K);
    memcpy(kept + K, t + K + X, sizeof(lir_token) * (size_t)(T - K - X));
    memcpy(kept + T - X, t + T, sizeof(lir_token) * G);
    int32_t n;
    const lir_token *rec = lir_context_seq_tokens(c, 0, &n);
    cr_assert_eq(n, T - X);
    cr_assert(memcmp(rec, kept, sizeof(lir_token) * (size_t)n) == 0, "the token record follows the shift");
    cr_assert_eq(lir_context_decode(c, t + T, G, T - X, true), LIR_OK, "%s", lir_context_last_error(c));
    lir_context *f = ctx_new(m, 512, 128, 2, 1, 0, kt);
    cr_assert_eq(lir_context_decode(f, kept, T - X, 0, false), LIR_OK);
    cr_assert_eq(lir_context_decode(f, kept + T - X, G, T - X, true), LIR_OK);
    double worst = 0;
    for (int j = 0; j < G; j++) {
        const double d = rel_diff(lir_context_logits(c, j), lir_context_logits(f, j), nv);
        worst = fmax(worst, d);
        cr_assert(d < tol, "token %d after the shift: rel diff %g over %g", j, d, tol);
        cr_assert_eq(argmax(lir_context_logits(c, j), nv), argmax(lir_context_logits(f, j), nv));
    }
    if (getenv("LIR_TEST_VERBOSE")) fprintf(stderr, "truncate T %d K %d X %d: worst %.3g\n", T, K, X, worst);
    /* the untouched twin: its next token equals the original sequence's next token */
    lir_context *g = ctx_new(m, 512, 128, 2, 1, 0, kt);
    cr_assert_eq(lir_context_decode(g, t, T, 0, false), LIR_OK);
    cr_assert_eq(lir_context_decode(g, t + T, G, T, true), LIR_OK);
    const int32_t s1[G] = { 1, 1, 1, 1 };
    const int8_t all[G] = { 1, 1, 1, 1 };
    const struct lir_batch b = { .n_tokens = G, .token = t + T, .seq_id = s1, .logits = all };
    cr_assert_eq(lir_context_decode_batch(c, &b), LIR_OK, "%s", lir_context_last_error(c));
    for (int j = 0; j < G; j++)
        cr_assert(memcmp(lir_context_logits(c, j), lir_context_logits(g, j), sizeof(float) * nv) == 0,
                  "the sequence sharing the blocks changed");
    lir_context_free(g);
    lir_context_free(f);
    lir_context_free(c);
    free(t);
    free(kept);
    lir_model_free(m);
}

/* Tolerance: a shifted key is the stored key (rounded to f16 at its old position) rotated in
 * f32 by the angle of -n_discard and rounded to f16 again, where a fresh evaluation rotates the
 * unrounded key by the angle of the new position directly. The two differ by about one f16
 * rounding of K (relative 2^-11) plus float error of the angles; over two layers of these
 * random models that moves logits by under 1e-2 relative (measured: 3e-3 to 7e-3). 1.5e-2 leaves
 * a little room; these small random models attend broadly, so a wrong rotation changes logits
 * less than a real model's would — the opposite angle measured 4.3e-2 on the first case — which
 * is why the bound is not looser. */
Test(kv, truncate_then_decode_llama_norm_rope, .fini = cleanup) {
    check_truncate(LIR_GEN_LLAMA, false, LIR_KV_TYPE_F16, 300, 10, 150, 1.5e-2);
}
Test(kv, truncate_then_decode_qwen2_neox_unaligned, .fini = cleanup) {
    check_truncate(LIR_GEN_QWEN2, false, LIR_KV_TYPE_F16, 250, 37, 71, 1.5e-2);
}
Test(kv, truncate_then_decode_llama3_freq_factors_block_aligned, .fini = cleanup) {
    check_truncate(LIR_GEN_LLAMA, true, LIR_KV_TYPE_F16, 320, 64, 128, 1.5e-2);
}
Test(kv, truncate_then_decode_qwen3_q8_0_kv, .fini = cleanup) {
    /* Q8_0 keys are re-quantized after the rotation: a Q8_0 step (~1/127 of the block's
     * largest value) instead of an f16 rounding (measured 6.4e-3), so a looser bound */
    check_truncate(LIR_GEN_QWEN3, false, LIR_KV_TYPE_Q8_0, 200, 5, 60, 3e-2);
}
Test(kv, truncate_block_aligned_discard_keep_inside_a_block, .fini = cleanup) {
    /* whole blocks dropped from the table; the kept head's last block gets its tail rows copied */
    check_truncate(LIR_GEN_QWEN2, false, LIR_KV_TYPE_F16, 300, 10, 192, 1.5e-2);
}
Test(kv, truncate_small_discard_within_a_block, .fini = cleanup) {
    check_truncate(LIR_GEN_LLAMA, false, LIR_KV_TYPE_F16, 90, 3, 7, 1.5e-2);
}

/* ------------------------------------------------------------------ Q8_0, bytes */

Test(kv, q8_0_close_to_f16_and_bytes_exact, .fini = cleanup) {
    lir_model *m = gen_model(LIR_GEN_QWEN2, LIR_TYPE_F32, false);
    const int nv = n_vocab(m);
    enum { T = 150 };
    lir_token t[T];
    fill_tokens(t, T, 9, nv);
    lir_context *a = ctx_new(m, 200, 64, 2, 1, 0, LIR_KV_TYPE_F16);
    lir_context *b = ctx_new(m, 200, 64, 2, 1, 0, LIR_KV_TYPE_Q8_0);
    cr_assert_eq(lir_context_decode(a, t, T, 0, true), LIR_OK);
    cr_assert_eq(lir_context_decode(b, t, T, 0, true), LIR_OK, "%s", lir_context_last_error(b));
    double worst = 0;
    int agree = 0;
    for (int i = 0; i < T; i++) {
        worst = fmax(worst, rel_diff(lir_context_logits(b, i), lir_context_logits(a, i), nv));
        agree += argmax(lir_context_logits(b, i), nv) == argmax(lir_context_logits(a, i), nv);
    }
    if (getenv("LIR_TEST_VERBOSE")) fprintf(stderr, "q8_0 vs f16: worst %.3g, argmax agree %d/%d\n", worst, agree, T);
    /* Q8_0 rounds K and V to ~1/254 of each 32-block's range (f16: 2^-11 relative) */
    cr_assert(worst < 0.1, "Q8_0 KV differs from F16 by %g", worst);
    cr_assert(agree >= T * 95 / 100, "argmax agrees at %d of %d positions", agree, T);
    struct lir_context_status sa, sb;
    cr_assert_eq(lir_context_get_status(a, &sa), LIR_OK);
    cr_assert_eq(lir_context_get_status(b, &sb), LIR_OK);
    cr_assert_eq(sb.kv_type, LIR_KV_TYPE_Q8_0);
    cr_assert_eq(sa.n_blocks, 4);
    cr_assert_eq(sb.block_bytes * 64, sa.block_bytes * 34, "Q8_0: 34 bytes per 32 values, F16 64");
    /* 2 layers x (K + V) x 64 tokens x 2 kv heads x 64 dims x 2 bytes */
    cr_assert_eq(sa.block_bytes, 2ull * 2 * 64 * 128 * 2);
    cr_assert_eq(sa.kv_bytes, 4 * sa.block_bytes);
    cr_assert_eq(sa.used_tokens, T);
    cr_assert_eq(sa.n_blocks_used, 3);
    cr_assert_eq(sa.kv_bytes_used, 3 * sa.block_bytes);
    cr_assert_eq(lir__kv_token_bytes(a) * 64, sa.block_bytes);
    cr_assert_eq(lir__kv_token_bytes(b) * 64, sb.block_bytes);
    cr_assert_eq(lir__context_kv_type(b), LIR_KV_TYPE_Q8_0);
    struct lir_context_seq_status ss;
    cr_assert_eq(lir_context_seq_status(a, 0, &ss), LIR_OK);
    cr_assert_eq(ss.available_tokens, 200 - T);
    cr_assert(fabs(ss.usage_percent - 75.0) < 1e-9);
    lir_context_free(a);
    lir_context_free(b);
    lir_model_free(m);
}

Test(kv, estimate_is_exact, .fini = cleanup) {
    lir_model *m = gen_model(LIR_GEN_QWEN3, LIR_TYPE_Q8_0, false);
    const struct { int n_ctx, n_seq, kv_size; enum lir_kv_type kt; } cases[] = {
        { 100, 1, 0, LIR_KV_TYPE_F16 }, { 512, 4, 0, LIR_KV_TYPE_F16 }, { 300, 8, 1000, LIR_KV_TYPE_Q8_0 },
        { 64, 2, 1, LIR_KV_TYPE_Q8_0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct lir_context_params cp = lir_context_params_default();
        cp.n_ctx = cases[i].n_ctx;
        cp.n_seq_max = cases[i].n_seq;
        cp.kv_size = cases[i].kv_size;
        cp.kv_type = cases[i].kt;
        cp.n_threads = 1;
        struct lir_mem_estimate me;
        lir_model_estimate_context(m, &cp, &me);
        lir_context *c = NULL;
        char err[256];
        cr_assert_eq(lir_context_create(m, &cp, &c, err, sizeof err), LIR_OK, "%s", err);
        struct lir_context_status st;
        cr_assert_eq(lir_context_get_status(c, &st), LIR_OK);
        cr_assert_eq(me.kv_cache, st.kv_bytes, "case %zu: estimate %llu, allocated %llu", i,
                     (unsigned long long)me.kv_cache, (unsigned long long)st.kv_bytes);
        cr_assert_eq(me.total, me.weights + me.kv_cache + me.compute);
        lir_context_free(c);
    }
    /* the one-sequence estimator is the default-parameters case */
    struct lir_mem_estimate a, b;
    lir_model_estimate_memory(m, 100, 256, &a);
    struct lir_context_params cp = lir_context_params_default();
    cp.n_ctx = 100;
    lir_model_estimate_context(m, &cp, &b);
    cr_assert_eq(a.kv_cache, b.kv_cache);
    lir_model_free(m);
}

/* ------------------------------------------------------------------ snapshot accessors */

static void check_rows_round_trip(enum lir_kv_type kt) {
    lir_model *m = gen_model(LIR_GEN_QWEN2, LIR_TYPE_Q8_0, false);
    const int nv = n_vocab(m);
    enum { T = 140, G = 3 };
    lir_token t[T + G];
    fill_tokens(t, T + G, 4, nv);
    lir_context *a = ctx_new(m, 256, 64, 2, 2, 0, kt);
    cr_assert_eq(lir_context_decode(a, t, T, 0, false), LIR_OK);
    const size_t tb = lir__kv_token_bytes(a);
    char *buf = malloc(tb * T), *buf2 = malloc(tb * T);
    /* in two pieces, as a snapshot writer may */
    cr_assert_eq(lir__kv_seq_read(a, 0, 0, 100, buf), LIR_OK, "%s", lir_context_last_error(a));
    cr_assert_eq(lir__kv_seq_read(a, 0, 100, T - 100, buf + 100 * tb), LIR_OK);
    cr_assert_eq(lir__kv_seq_read(a, 0, 100, T, buf), LIR_EINVAL, "past the end");
    cr_assert_eq(lir__kv_seq_read(a, 5, 0, 1, buf), LIR_EINVAL);
    float *last = malloc(sizeof(float) * nv);
    memcpy(last, lir_context_logits(a, -1), sizeof(float) * nv);
    int32_t n;
    const lir_token *rec = lir_context_seq_tokens(a, 0, &n);
    cr_assert_eq(n, T);

    lir_context *b = ctx_new(m, 256, 64, 2, 2, 0, kt);
    cr_assert_eq(lir__kv_seq_write(b, 1, 1, T, rec, buf), LIR_EINVAL, "p0 must be the length");
    cr_assert_eq(lir__kv_seq_write(b, 1, 0, 100, rec, buf), LIR_OK, "%s", lir_context_last_error(b));
    cr_assert_eq(lir__kv_seq_write(b, 1, 100, T - 100, rec + 100, buf + 100 * tb), LIR_OK);
    cr_assert_eq(lir__context_set_logits(b, last), LIR_OK);
    cr_assert(memcmp(lir_context_logits(b, -1), last, sizeof(float) * nv) == 0);
    cr_assert_null(lir_context_logits(b, 0));
    /* (each piece is laid out per layer: its K rows then its V rows) */
    cr_assert_eq(lir__kv_seq_read(b, 1, 0, 100, buf2), LIR_OK);
    cr_assert_eq(lir__kv_seq_read(b, 1, 100, T - 100, buf2 + 100 * tb), LIR_OK);
    cr_assert(memcmp(buf, buf2, tb * T) == 0, "rows read back equal the rows written");
    rec = lir_context_seq_tokens(b, 1, &n);
    cr_assert_eq(n, T);
    cr_assert(memcmp(rec, t, sizeof(lir_token) * T) == 0);
    /* continuing both gives the same bits */
    cr_assert_eq(lir_context_decode(a, t + T, G, T, true), LIR_OK);
    const int32_t s1[G] = { 1, 1, 1 };
    const int8_t all[G] = { 1, 1, 1 };
    const struct lir_batch bb = { .n_tokens = G, .token = t + T, .seq_id = s1, .logits = all };
    cr_assert_eq(lir_context_decode_batch(b, &bb), LIR_OK, "%s", lir_context_last_error(b));
    for (int j = 0; j < G; j++)
        cr_assert(memcmp(lir_context_logits(a, j), lir_context_logits(b, j), sizeof(float) * nv) == 0,
                  "token %d after restore", j);
    free(buf);
    free(buf2);
    free(last);
    lir_context_free(a);
    lir_context_free(b);
    lir_model_free(m);
}
Test(kv, snapshot_rows_round_trip_f16, .fini = cleanup) { check_rows_round_trip(LIR_KV_TYPE_F16); }
Test(kv, snapshot_rows_round_trip_q8_0, .fini = cleanup) { check_rows_round_trip(LIR_KV_TYPE_Q8_0); }

/* ------------------------------------------------------------------ errors */

Test(kv, errors_are_clear_and_change_nothing, .fini = cleanup) {
    lir_model *m = gen_model(LIR_GEN_LLAMA, LIR_TYPE_Q8_0, false);
    const int nv = n_vocab(m);
    lir_token t[80];
    fill_tokens(t, 80, 2, nv);
    /* a pool of 2 blocks for 2 sequences of up to 128 tokens */
    lir_context *c = ctx_new(m, 128, 64, 1, 2, 100, LIR_KV_TYPE_F16);
    struct lir_context_status st;
    cr_assert_eq(lir_context_get_status(c, &st), LIR_OK);
    cr_assert_eq(st.n_blocks, 2);
    cr_assert_eq(lir_context_decode(c, t, 70, 0, false), LIR_OK);

    int32_t bad_seq[2] = { 0, 2 };
    struct lir_batch b = { .n_tokens = 2, .token = t, .seq_id = bad_seq };
    cr_assert_eq(lir_context_decode_batch(c, &b), LIR_EINVAL);
    cr_assert(strstr(lir_context_last_error(c), "sequence id 2") != NULL, "%s", lir_context_last_error(c));
    bad_seq[1] = -1;
    cr_assert_eq(lir_context_decode_batch(c, &b), LIR_EINVAL);

    int32_t seqs[2] = { 0, 0 }, pos[2] = { 70, 72 };
    b = (struct lir_batch){ .n_tokens = 2, .token = t, .seq_id = seqs, .pos = pos };
    cr_assert_eq(lir_context_decode_batch(c, &b), LIR_EINVAL);
    cr_assert(strstr(lir_context_last_error(c), "position 72") != NULL, "%s", lir_context_last_error(c));
    pos[0] = 69;
    cr_assert_eq(lir_context_decode_batch(c, &b), LIR_EINVAL, "a position already held");
    lir_token badtok[1] = { nv };
    b = (struct lir_batch){ .n_tokens = 1, .token = badtok };
    cr_assert_eq(lir_context_decode_batch(c, &b), LIR_EINVAL);
    b = (struct lir_batch){ .n_tokens = 0, .token = t };
    cr_assert_eq(lir_context_decode_batch(c, &b), LIR_EINVAL);
    cr_assert_eq(lir_context_decode_batch(c, NULL), LIR_EINVAL);

    /* full pool: sequence 1 needs a third block */
    int32_t s1[1] = { 1 };
    b = (struct lir_batch){ .n_tokens = 1, .token = t, .seq_id = s1 };
    cr_assert_eq(lir_context_decode_batch(c, &b), LIR_ECONTEXT);
    cr_assert(strstr(lir_context_last_error(c), "KV pool is full") != NULL, "%s", lir_context_last_error(c));
    /* past n_ctx */
    int32_t s0[60] = { 0 };
    b = (struct lir_batch){ .n_tokens = 60, .token = t, .seq_id = s0 };
    cr_assert_eq(lir_context_decode_batch(c, &b), LIR_ECONTEXT);
    cr_assert(strstr(lir_context_last_error(c), "context size 128") != NULL, "%s", lir_context_last_error(c));
    /* lir_context_decode past the sequence's end */
    cr_assert_eq(lir_context_decode(c, t, 1, 75, false), LIR_EINVAL);
    cr_assert(strstr(lir_context_last_error(c), "past the end") != NULL, "%s", lir_context_last_error(c));

    /* nothing changed by any of these */
    cr_assert_eq(lir_context_seq_length(c, 0), 70);
    cr_assert_eq(lir_context_seq_length(c, 1), 0);
    cr_assert_eq(lir_context_get_status(c, &st), LIR_OK);
    cr_assert_eq(st.n_blocks_used, 2);

    /* sequence ops */
    cr_assert_eq(lir_context_seq_clear(c, 2), LIR_EINVAL);
    cr_assert(strstr(lir_context_last_error(c), "sequence id 2") != NULL);
    cr_assert_eq(lir_context_seq_copy(c, 0, 7), LIR_EINVAL);
    cr_assert_eq(lir_context_seq_length(c, 9), -1);
    cr_assert_null(lir_context_seq_tokens(c, -1, NULL));
    cr_assert_eq(lir_context_seq_truncate(c, 0, 10, 61), LIR_EINVAL);
    cr_assert(strstr(lir_context_last_error(c), "n_discard 61") != NULL, "%s", lir_context_last_error(c));
    cr_assert_eq(lir_context_seq_truncate(c, 0, -1, 5), LIR_EINVAL);
    cr_assert_eq(lir_context_seq_truncate(c, 3, 0, 5), LIR_EINVAL);
    /* truncating a sequence whose blocks are shared needs free blocks to copy them into */
    cr_assert_eq(lir_context_seq_copy(c, 0, 1), LIR_OK);
    cr_assert_eq(lir_context_seq_truncate(c, 0, 4, 10), LIR_ECONTEXT);
    cr_assert(strstr(lir_context_last_error(c), "shared") != NULL, "%s", lir_context_last_error(c));
    cr_assert_eq(lir_context_seq_length(c, 0), 70);
    /* re-decoding from an earlier position drops the tail first (the old single-sequence use) */
    cr_assert_eq(lir_context_seq_clear(c, 1), LIR_OK);
    cr_assert_eq(lir_context_decode(c, t, 3, 0, false), LIR_OK);
    cr_assert_eq(lir_context_seq_length(c, 0), 3);
    cr_assert_eq(lir_context_get_status(c, &st), LIR_OK);
    cr_assert_eq(st.n_blocks_used, 1);
    lir_context_free(c);

    /* create-time checks */
    struct lir_context_params cp = lir_context_params_default();
    cp.n_ctx = 64;
    char err[256] = "";
    lir_context *x = NULL;
    cp.kv_type = (enum lir_kv_type)7;
    cr_assert_eq(lir_context_create(m, &cp, &x, err, sizeof err), LIR_EINVAL);
    cr_assert(strstr(err, "kv_type 7") != NULL, "%s", err);
    cp.kv_type = LIR_KV_TYPE_F16;
    cp.n_seq_max = -2;
    cr_assert_eq(lir_context_create(m, &cp, &x, err, sizeof err), LIR_EINVAL);
    cr_assert(strstr(err, "n_seq_max") != NULL, "%s", err);
    cp.n_seq_max = 1;
    cp.kv_size = -5;
    cr_assert_eq(lir_context_create(m, &cp, &x, err, sizeof err), LIR_EINVAL);
    cr_assert(strstr(err, "kv_size") != NULL, "%s", err);
    cr_assert_null(x);
    lir_model_free(m);
}

/* The V-block transposes against their scalar references: every token count of a block, column
 * offsets, head sizes with and without a multiple of 8; nothing outside the segment is written. */
Test(kv, v_transposes_equal_their_references) {
    static const int32_t dims[] = { 1, 3, 8, 9, 16, 63, 64, 200, 1024 };
    static const int32_t offs[] = { 0, 5, 37, 63 };
    for (size_t di = 0; di < sizeof dims / sizeof *dims; di++) {
        const int32_t D = dims[di];
        const size_t nb = (size_t)D * LIR_KV_BS;
        lir_f16 *vt = malloc(nb * 2), *a = malloc(nb * 2), *b = malloc(nb * 2);
        uint32_t x = 12345u + (uint32_t)D;
        for (size_t i = 0; i < nb; i++) vt[i] = (lir_f16)((x = x * 1664525u + 1013904223u) >> 16);
        for (size_t oi = 0; oi < sizeof offs / sizeof *offs; oi++)
            for (int32_t m = 1; offs[oi] + m <= LIR_KV_BS; m++) {
                const int32_t off = offs[oi];
                memset(a, 0xa5, nb * 2), memset(b, 0xa5, nb * 2);
                lir__kv_transpose_out(vt + off, a, m, D);
                lir__kv_transpose_out_ref(vt + off, b, m, D);
                cr_assert(memcmp(a, b, nb * 2) == 0, "out: D %d off %d m %d", D, off, m);
                /* and back into a block that holds other values: only the segment changes */
                lir_f16 *rows = malloc((size_t)m * D * 2), *blk1 = malloc(nb * 2), *blk2 = malloc(nb * 2);
                for (size_t i = 0; i < (size_t)m * D; i++) rows[i] = (lir_f16)((x = x * 1664525u + 1013904223u) >> 16);
                memcpy(blk1, vt, nb * 2), memcpy(blk2, vt, nb * 2);
                lir__kv_transpose_in(rows, blk1 + off, m, D);
                lir__kv_transpose_in_ref(rows, blk2 + off, m, D);
                cr_assert(memcmp(blk1, blk2, nb * 2) == 0, "in: D %d off %d m %d", D, off, m);
                for (int32_t d = 0; d < D; d++)
                    for (int32_t t = 0; t < LIR_KV_BS; t++)
                        if (t < off || t >= off + m)
                            cr_assert_eq(blk1[(size_t)d * LIR_KV_BS + t], vt[(size_t)d * LIR_KV_BS + t],
                                         "in: D %d off %d m %d wrote outside at d %d t %d", D, off, m, d, t);
                free(rows), free(blk1), free(blk2);
            }
        free(vt), free(a), free(b);
    }
}
