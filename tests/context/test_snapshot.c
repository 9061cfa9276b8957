/* test_snapshot.c — context snapshots (lir_snapshot_*) and the model fingerprint.
 *
 * The core property: save a sequence, free everything (context AND model, as a process restart
 * would), load the model again, restore into a fresh context: the last logits equal the
 * pre-save logits bit for bit and a greedy continuation is identical, token for token and
 * logits for logits (F16 and Q8_0 caches). A restore that fails — corrupt byte, truncated file,
 * another model, another version, another KV type, too small a context, a sampler with other
 * parameters — names the problem and leaves the sequence as it was (its tokens and the logits
 * of its next decode unchanged). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "lir.h"
#include "model/model_util.h"
#include "context/snapshot.h"
#include "model/forward.h"
#include <sodium.h>
#include <xxhash.h>

#define N_PROMPT 70 /* more than one KV block (64) */
#define N_CONT 12

static char model_a[256], model_b[256], snap_path[256];
static int32_t n_vocab;

static void setup(void) {
    lir_err e = { { 0 } };
    tmp_model_path(model_a, sizeof model_a, "snap-a");
    tmp_model_path(model_b, sizeof model_b, "snap-b");
    snprintf(snap_path, sizeof snap_path, "/tmp/lir-test-%d-snap.lirsnap", (int)getpid());
    cr_assert_eq(make_tiny(model_a, LIR_GEN_LLAMA, LIR_TYPE_Q8_0, 11, &e), LIR_OK, "%s", e.msg);
    cr_assert_eq(make_tiny(model_b, LIR_GEN_LLAMA, LIR_TYPE_Q8_0, 12, &e), LIR_OK, "%s", e.msg); /* other weights */
}
static void teardown(void) {
    unlink(model_a);
    unlink(model_b);
    unlink(snap_path);
}

static lir_model *load(const char *path) {
    lir_model *m = NULL;
    char err[512];
    cr_assert_eq(lir_model_load(path, NULL, &m, err, sizeof err), LIR_OK, "%s", err);
    struct lir_model_info mi;
    lir_model_get_info(m, &mi);
    n_vocab = mi.n_vocab;
    return m;
}

static lir_context *ctx_new(lir_model *m, int32_t n_ctx, enum lir_kv_type kvt, int32_t n_seq) {
    struct lir_context_params cp = lir_context_params_default();
    cp.n_ctx = n_ctx;
    cp.n_threads = 1;
    cp.kv_type = kvt;
    cp.n_seq_max = n_seq;
    lir_context *c = NULL;
    char err[512];
    cr_assert_eq(lir_context_create(m, &cp, &c, err, sizeof err), LIR_OK, "%s", err);
    return c;
}

static void prompt(lir_token *t, int n) {
    for (int i = 0; i < n; i++) t[i] = (lir_token)((i * 37 + 5) % 500 + 1);
}

static int32_t argmax(const float *l) {
    int32_t b = 0;
    for (int32_t i = 1; i < n_vocab; i++)
        if (l[i] > l[b]) b = i;
    return b;
}

/* Greedy continuation of sequence 0 from position pos: tokens and every step's logits. */
static void continue_greedy(lir_context *c, int32_t pos, int n, lir_token *toks, float *logits) {
    for (int i = 0; i < n; i++) {
        const float *l = lir_context_logits(c, -1);
        cr_assert(l, "no logits at step %d", i);
        memcpy(logits + (size_t)i * n_vocab, l, sizeof *l * (size_t)n_vocab);
        toks[i] = argmax(l);
        cr_assert_eq(lir_context_decode(c, &toks[i], 1, pos + i, false), LIR_OK, "%s", lir_context_last_error(c));
    }
}

static void roundtrip(enum lir_kv_type kvt) {
    lir_model *m = load(model_a);
    lir_context *c = ctx_new(m, 256, kvt, 1);
    lir_token p[N_PROMPT];
    prompt(p, N_PROMPT);
    cr_assert_eq(lir_context_decode(c, p, N_PROMPT, 0, false), LIR_OK, "%s", lir_context_last_error(c));
    struct lir_snapshot_params sp = lir_snapshot_params_default();
    sp.name = "round trip";
    struct lir_snapshot_info info;
    cr_assert_eq(lir_snapshot_save(c, 0, snap_path, &sp, &info), LIR_OK, "%s", lir_context_last_error(c));
    cr_assert_eq(info.n_tokens, N_PROMPT);
    cr_assert(info.has_logits);
    struct stat st;
    cr_assert_eq(stat(snap_path, &st), 0);
    cr_assert_eq((uint64_t)st.st_size, info.size_bytes);
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", snap_path);
    cr_assert_neq(access(tmp, F_OK), 0, "the .tmp file was left behind");

    lir_token want[N_CONT];
    float *want_l = malloc(sizeof(float) * (size_t)n_vocab * N_CONT);
    continue_greedy(c, N_PROMPT, N_CONT, want, want_l);
    lir_context_free(c);
    lir_model_free(m); /* as a process restart: nothing survives but the files */

    m = load(model_a);
    c = ctx_new(m, 256, kvt, 1);
    struct lir_snapshot_info ri;
    cr_assert_eq(lir_snapshot_restore(c, 0, snap_path, NULL, &ri), LIR_OK, "%s", lir_context_last_error(c));
    cr_assert_str_eq(ri.name, "round trip");
    cr_assert_eq(ri.created_at_ms, info.created_at_ms);
    int32_t n = 0;
    const lir_token *got_t = lir_context_seq_tokens(c, 0, &n);
    cr_assert_eq(n, N_PROMPT);
    cr_assert_arr_eq(got_t, p, sizeof p);
    lir_token got[N_CONT];
    float *got_l = malloc(sizeof(float) * (size_t)n_vocab * N_CONT);
    continue_greedy(c, N_PROMPT, N_CONT, got, got_l);
    cr_assert_eq(memcmp(got_l, want_l, sizeof(float) * (size_t)n_vocab), 0, "restored logits differ from pre-save");
    cr_assert_arr_eq(got, want, sizeof want, "greedy continuation differs after restore");
    cr_assert_eq(memcmp(got_l, want_l, sizeof(float) * (size_t)n_vocab * N_CONT), 0,
                 "continuation logits differ after restore");
    free(want_l);
    free(got_l);
    lir_context_free(c);
    lir_model_free(m);
}

Test(snapshot, roundtrip_f16_across_reload, .init = setup, .fini = teardown) { roundtrip(LIR_KV_TYPE_F16); }
Test(snapshot, roundtrip_q8_0_across_reload, .init = setup, .fini = teardown) { roundtrip(LIR_KV_TYPE_Q8_0); }

Test(snapshot, sampler_state_and_other_sequence, .init = setup, .fini = teardown) {
    /* saved from sequence 1 of a two-sequence context with a sampler, restored into sequence 0
     * of another context that held other tokens: same sampled continuation */
    lir_model *m = load(model_a);
    lir_context *c = ctx_new(m, 128, LIR_KV_TYPE_F16, 2);
    lir_token p[40];
    prompt(p, 40);
    int32_t seq1[40];
    for (int i = 0; i < 40; i++) seq1[i] = 1;
    struct lir_batch b = { .n_tokens = 40, .token = p, .seq_id = seq1 };
    cr_assert_eq(lir_context_decode_batch(c, &b), LIR_OK, "%s", lir_context_last_error(c));
    float *row = malloc(sizeof(float) * (size_t)n_vocab);
    memcpy(row, lir_context_logits(c, -1), sizeof(float) * (size_t)n_vocab);
    struct lir_sampling_params sp = lir_sampling_params_default();
    sp.temperature = 1.0f;
    sp.seed = 77;
    sp.repeat_last_n = 16;
    lir_sampler *s = NULL, *s2 = NULL;
    cr_assert_eq(lir_sampler_create(&sp, n_vocab, &s, NULL, 0), LIR_OK);
    for (int i = 0; i < 40; i++) lir_sampler_accept(s, p[i]);
    struct lir_snapshot_params pp = lir_snapshot_params_default();
    pp.sampler = s;
    pp.logits = row;
    cr_assert_eq(lir_snapshot_save(c, 1, snap_path, &pp, NULL), LIR_OK, "%s", lir_context_last_error(c));
    lir_token want[8];
    const float *l = row;
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(lir_sampler_sample(s, l, n_vocab, &want[i], NULL, NULL, NULL), LIR_OK);
        lir_sampler_accept(s, want[i]);
        int32_t one = 1;
        struct lir_batch bi = { .n_tokens = 1, .token = &want[i], .seq_id = &one };
        cr_assert_eq(lir_context_decode_batch(c, &bi), LIR_OK);
        l = lir_context_logits(c, -1);
    }
    lir_context_free(c);

    c = ctx_new(m, 128, LIR_KV_TYPE_F16, 1);
    lir_token other[10];
    prompt(other, 10);
    other[0] = 3;
    cr_assert_eq(lir_context_decode(c, other, 10, 0, false), LIR_OK);
    sp.seed = 1; /* another seed: the snapshot's generator wins */
    cr_assert_eq(lir_sampler_create(&sp, n_vocab, &s2, NULL, 0), LIR_OK);
    struct lir_snapshot_info info;
    cr_assert_eq(lir_snapshot_restore(c, 0, snap_path, s2, &info), LIR_OK, "%s", lir_context_last_error(c));
    cr_assert(info.has_sampler);
    cr_assert_eq(lir_context_seq_length(c, 0), 40);
    lir_token got[8];
    for (int i = 0; i < 8; i++) {
        l = lir_context_logits(c, -1);
        cr_assert_eq(lir_sampler_sample(s2, l, n_vocab, &got[i], NULL, NULL, NULL), LIR_OK);
        lir_sampler_accept(s2, got[i]);
        cr_assert_eq(lir_context_decode(c, &got[i], 1, 40 + i, false), LIR_OK);
    }
    cr_assert_arr_eq(got, want, sizeof want, "sampled continuation differs after restore");
    free(row);
    lir_sampler_free(s);
    lir_sampler_free(s2);
    lir_context_free(c);
    lir_model_free(m);
}

Test(snapshot, empty_sequence, .init = setup, .fini = teardown) {
    lir_model *m = load(model_a);
    lir_context *c = ctx_new(m, 128, LIR_KV_TYPE_F16, 1);
    struct lir_snapshot_info info;
    cr_assert_eq(lir_snapshot_save(c, 0, snap_path, NULL, &info), LIR_OK, "%s", lir_context_last_error(c));
    cr_assert_eq(info.n_tokens, 0);
    cr_assert_eq(info.kv_bytes, 0);
    cr_assert(!info.has_logits);
    lir_token p[20];
    prompt(p, 20);
    cr_assert_eq(lir_context_decode(c, p, 20, 0, false), LIR_OK);
    cr_assert_eq(lir_snapshot_restore(c, 0, snap_path, NULL, &info), LIR_OK, "%s", lir_context_last_error(c));
    cr_assert_eq(lir_context_seq_length(c, 0), 0);
    struct lir_snapshot_info ri;
    char err[512];
    cr_assert_eq(lir_snapshot_read_info(snap_path, true, &ri, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_eq(ri.n_tokens, 0);
    /* the emptied sequence works: decoding from 0 gives the fresh logits */
    cr_assert_eq(lir_context_decode(c, p, 20, 0, false), LIR_OK);
    lir_context_free(c);
    lir_model_free(m);
}

/* A save over an existing snapshot swaps the new file in (not a rename over it: see replace() in
 * snapshot.c) and removes the old one: path holds the new snapshot, no .tmp is left; a directory
 * at path is not swapped away but refused, and stays. */
/* Saves the first n tokens of prompt() on model_a (F16 cache) to path; the message in msg. */
static enum lir_status save_prompt(int n, const char *path, char *msg, size_t msg_len) {
    lir_model *m = load(model_a);
    lir_context *c = ctx_new(m, 128, LIR_KV_TYPE_F16, 1);
    lir_token p[128];
    prompt(p, n);
    cr_assert_eq(lir_context_decode(c, p, n, 0, false), LIR_OK);
    const enum lir_status s = lir_snapshot_save(c, 0, path, NULL, NULL);
    snprintf(msg, msg_len, "%s", lir_context_last_error(c));
    lir_context_free(c);
    lir_model_free(m);
    return s;
}

/* A save over an existing snapshot swaps the new file in (not a rename over it: see replace() in
 * snapshot.c) and removes the old one: path holds the new snapshot, no .tmp is left; a directory
 * at path is not swapped away but refused, and stays. */
Test(snapshot, save_over_existing, .init = setup, .fini = teardown) {
    char msg[512], tmp[300];
    cr_assert_eq(save_prompt(50, snap_path, msg, sizeof msg), LIR_OK, "%s", msg);
    cr_assert_eq(save_prompt(20, snap_path, msg, sizeof msg), LIR_OK, "%s", msg);
    snprintf(tmp, sizeof tmp, "%s.tmp", snap_path);
    cr_assert_neq(access(tmp, F_OK), 0, "the old snapshot was left at .tmp");
    struct lir_snapshot_info ri;
    cr_assert_eq(lir_snapshot_read_info(snap_path, true, &ri, msg, sizeof msg), LIR_OK, "%s", msg);
    cr_assert_eq(ri.n_tokens, 20);
    char dir[280];
    snprintf(dir, sizeof dir, "%s.d", snap_path);
    cr_assert_eq(mkdir(dir, 0755), 0);
    cr_assert_eq(save_prompt(20, dir, msg, sizeof msg), LIR_EIO);
    cr_assert(strstr(msg, "renaming"), "%s", msg);
    struct stat st;
    cr_assert(stat(dir, &st) == 0 && S_ISDIR(st.st_mode), "the directory is gone");
    snprintf(tmp, sizeof tmp, "%s.tmp", dir);
    cr_assert_neq(access(tmp, F_OK), 0, "the new file was left at .tmp");
    rmdir(dir);
}

/* ---------------------------------------------------------------- refusals */

static uint8_t *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    cr_assert(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*len);
    cr_assert_eq(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}
static void spit(const char *path, const uint8_t *b, size_t len) {
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    cr_assert_eq(fwrite(b, 1, len, f), len);
    fclose(f);
}

struct target {
    lir_model *m;
    lir_context *c;
    lir_token t[30];
    float *next; /* logits of decoding token 9 at position 30, before any refusal */
    int32_t blocks_used; /* KV blocks in use: a refused restore gives back what it took */
};

/* A context whose sequence 0 holds 30 tokens, and the logits its next decode gives. */
static void target_init(struct target *tg, int32_t n_ctx, enum lir_kv_type kvt) {
    tg->m = load(model_a);
    tg->c = ctx_new(tg->m, n_ctx, kvt, 1);
    prompt(tg->t, 30);
    tg->t[0] = 2;
    cr_assert_eq(lir_context_decode(tg->c, tg->t, 30, 0, false), LIR_OK);
    lir_token x = 9;
    cr_assert_eq(lir_context_decode(tg->c, &x, 1, 30, false), LIR_OK);
    tg->next = malloc(sizeof(float) * (size_t)n_vocab);
    memcpy(tg->next, lir_context_logits(tg->c, -1), sizeof(float) * (size_t)n_vocab);
    cr_assert_eq(lir_context_decode(tg->c, tg->t, 30, 0, false), LIR_OK); /* back to the 30 tokens */
    struct lir_context_status cs;
    lir_context_get_status(tg->c, &cs);
    tg->blocks_used = cs.n_blocks_used;
}
static void target_unchanged(struct target *tg) {
    int32_t n = 0;
    const lir_token *t = lir_context_seq_tokens(tg->c, 0, &n);
    cr_assert_eq(n, 30, "a refused restore changed the sequence's length (%d)", n);
    cr_assert_arr_eq(t, tg->t, sizeof tg->t, "a refused restore changed the sequence's tokens");
    struct lir_context_status cs;
    lir_context_get_status(tg->c, &cs);
    cr_assert_eq(cs.n_blocks_used, tg->blocks_used, "a refused restore kept KV blocks (%d used, %d before)",
                 cs.n_blocks_used, tg->blocks_used);
    lir_token x = 9;
    cr_assert_eq(lir_context_decode(tg->c, &x, 1, 30, false), LIR_OK);
    cr_assert_eq(memcmp(lir_context_logits(tg->c, -1), tg->next, sizeof(float) * (size_t)n_vocab), 0,
                 "a refused restore changed the sequence's KV cache");
    cr_assert_eq(lir_context_decode(tg->c, tg->t, 30, 0, false), LIR_OK);
}
static void target_free(struct target *tg) {
    free(tg->next);
    lir_context_free(tg->c);
    lir_model_free(tg->m);
}

static void expect_refused(struct target *tg, const char *path, enum lir_status want, const char *needle) {
    enum lir_status s = lir_snapshot_restore(tg->c, 0, path, NULL, NULL);
    const char *msg = lir_context_last_error(tg->c);
    cr_assert_eq(s, want, "status %s, want %s: %s", lir_status_name(s), lir_status_name(want), msg);
    cr_assert(strstr(msg, needle), "message '%s' lacks '%s'", msg, needle);
    target_unchanged(tg);
}

/* A good 50-token snapshot of model_a (F16) in snap_path. */
static void good_snapshot(void) {
    char msg[512];
    cr_assert_eq(save_prompt(50, snap_path, msg, sizeof msg), LIR_OK, "%s", msg);
}

/* Refusals of a damaged file, restoring into a context with a free block for the snapshot's
 * one (read once, into free blocks, hashed as read) and into one without (checksum first, then
 * into the sequence's own blocks): either way the sequence and the pool are as they were. */
static void corrupt_refused(int32_t n_ctx) {
    good_snapshot();
    size_t len;
    uint8_t *b = slurp(snap_path, &len);
    struct target tg;
    target_init(&tg, n_ctx, LIR_KV_TYPE_F16);
    struct lir_context_status cs;
    lir_context_get_status(tg.c, &cs);
    cr_assert_eq(cs.n_blocks - cs.n_blocks_used, n_ctx == 128 ? 1 : 0, "free blocks");
    char bad[300];
    snprintf(bad, sizeof bad, "%s.bad", snap_path);

    uint8_t *x = malloc(len);
    /* one flipped bit in the KV data (first and last block byte), the tokens, the logits, the
     * padding before the KV data, and the checksum itself */
    const size_t kv_off = (size_t)lir__get_u64(b + 104), pre = LIR_SNAP_HEADER + 50 * 4 + 4 * (size_t)n_vocab;
    cr_assert_lt(pre, kv_off, "no padding before the KV data (%zu, %zu)", pre, kv_off);
    const size_t at[] = { len - 1000, len - LIR_SNAP_SUM - 1, LIR_SNAP_HEADER + 7, LIR_SNAP_HEADER + 50 * 4 + 100,
                          kv_off - 1, len - 3 };
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        memcpy(x, b, len);
        x[at[i]] ^= 0x10;
        spit(bad, x, len);
        expect_refused(&tg, bad, LIR_EFORMAT, "checksum");
        if (at[i] == kv_off - 1) { /* behind the checksum, the padding is checked too */
            struct lir__snap_view v;
            lir_err pe = { { 0 } };
            cr_assert_eq(lir__snap_parse(x, len, false, 1, &v, &pe), LIR_EFORMAT);
            cr_assert(strstr(pe.msg, "padding"), "%s", pe.msg);
        }
    }
    spit(bad, b, len - 1); /* truncated by one byte, and by half */
    expect_refused(&tg, bad, LIR_EFORMAT, "truncated");
    spit(bad, b, len / 2);
    expect_refused(&tg, bad, LIR_EFORMAT, "truncated");
    spit(bad, b, 20);
    expect_refused(&tg, bad, LIR_EFORMAT, "shorter");
    memcpy(x, b, len); /* trailing garbage */
    spit(bad, x, len);
    FILE *f = fopen(bad, "ab");
    fputc(0, f);
    fclose(f);
    expect_refused(&tg, bad, LIR_EFORMAT, "trailing");
    memcpy(x, b, len);
    x[8] = 1; /* version 1: the format before the KV blocks were stored as the cache holds them */
    spit(bad, x, len);
    expect_refused(&tg, bad, LIR_EUNSUPPORTED, "version 1");
    memcpy(x, b, len);
    x[0] = 'X';
    spit(bad, x, len);
    expect_refused(&tg, bad, LIR_EFORMAT, "magic");
    memcpy(x, b, len); /* n_tokens claims a second block the file does not hold */
    x[60] = 65;
    spit(bad, x, len);
    expect_refused(&tg, bad, LIR_EFORMAT, "kv_bytes");
    memcpy(x, b, len); /* the KV data said to start elsewhere */
    x[105] ^= 0x20;
    spit(bad, x, len);
    expect_refused(&tg, bad, LIR_EFORMAT, "kv_offset");
    expect_refused(&tg, "/nonexistent/dir/x.lirsnap", LIR_ENOTFOUND, "cannot open");
    /* and the good file still restores into the same context */
    cr_assert_eq(lir_snapshot_restore(tg.c, 0, snap_path, NULL, NULL), LIR_OK, "%s", lir_context_last_error(tg.c));
    cr_assert_eq(lir_context_seq_length(tg.c, 0), 50);
    unlink(bad);
    free(x);
    free(b);
    target_free(&tg);
}

Test(snapshot, corrupt_truncated_version_refused_one_pass, .init = setup, .fini = teardown) { corrupt_refused(128); }
Test(snapshot, corrupt_truncated_version_refused_two_passes, .init = setup, .fini = teardown) { corrupt_refused(64); }

Test(snapshot, other_model_kv_type_context_refused, .init = setup, .fini = teardown) {
    /* a snapshot of model_b (same shape, other weights) */
    lir_model *mb = load(model_b);
    lir_context *cb = ctx_new(mb, 128, LIR_KV_TYPE_F16, 1);
    lir_token p[50];
    prompt(p, 50);
    cr_assert_eq(lir_context_decode(cb, p, 50, 0, false), LIR_OK);
    cr_assert_eq(lir_snapshot_save(cb, 0, snap_path, NULL, NULL), LIR_OK);
    lir_context_free(cb);
    lir_model_free(mb);
    struct target tg;
    target_init(&tg, 128, LIR_KV_TYPE_F16);
    expect_refused(&tg, snap_path, LIR_ERANGE, "another model");
    target_free(&tg);

    good_snapshot(); /* model_a, F16, 50 tokens */
    target_init(&tg, 128, LIR_KV_TYPE_Q8_0);
    expect_refused(&tg, snap_path, LIR_ERANGE, "KV cache");
    target_free(&tg);
    target_init(&tg, 40, LIR_KV_TYPE_F16); /* 50 tokens do not fit n_ctx 40 */
    expect_refused(&tg, snap_path, LIR_ECONTEXT, "n_ctx");
    target_free(&tg);
}

Test(snapshot, sampler_mismatch_refused, .init = setup, .fini = teardown) {
    lir_model *m = load(model_a);
    lir_context *c = ctx_new(m, 128, LIR_KV_TYPE_F16, 1);
    lir_token p[50];
    prompt(p, 50);
    cr_assert_eq(lir_context_decode(c, p, 50, 0, false), LIR_OK);
    struct lir_sampling_params sp = lir_sampling_params_default();
    lir_sampler *s = NULL;
    cr_assert_eq(lir_sampler_create(&sp, n_vocab, &s, NULL, 0), LIR_OK);
    struct lir_snapshot_params pp = lir_snapshot_params_default();
    pp.sampler = s;
    cr_assert_eq(lir_snapshot_save(c, 0, snap_path, &pp, NULL), LIR_OK);
    lir_context_free(c);
    lir_model_free(m);
    lir_sampler_free(s);

    struct target tg;
    target_init(&tg, 128, LIR_KV_TYPE_F16);
    sp.top_k = 5;
    cr_assert_eq(lir_sampler_create(&sp, n_vocab, &s, NULL, 0), LIR_OK);
    enum lir_status st = lir_snapshot_restore(tg.c, 0, snap_path, s, NULL);
    cr_assert_eq(st, LIR_EINVAL, "%s", lir_context_last_error(tg.c));
    cr_assert(strstr(lir_context_last_error(tg.c), "top_k"), "%s", lir_context_last_error(tg.c));
    target_unchanged(&tg);
    lir_sampler_free(s);
    target_free(&tg);
}

Test(snapshot, save_errors, .init = setup, .fini = teardown) {
    lir_model *m = load(model_a);
    lir_context *c = ctx_new(m, 64, LIR_KV_TYPE_F16, 1);
    cr_assert_eq(lir_snapshot_save(c, 0, "/nonexistent/dir/x.lirsnap", NULL, NULL), LIR_EIO);
    cr_assert(strstr(lir_context_last_error(c), "/nonexistent/dir/x.lirsnap.tmp"), "%s", lir_context_last_error(c));
    cr_assert_eq(lir_snapshot_save(c, 3, snap_path, NULL, NULL), LIR_EINVAL);
    cr_assert(strstr(lir_context_last_error(c), "sequence 3"), "%s", lir_context_last_error(c));
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    struct lir_snapshot_params pp = lir_snapshot_params_default();
    pp.name = longname;
    cr_assert_eq(lir_snapshot_save(c, 0, snap_path, &pp, NULL), LIR_EINVAL);
    cr_assert_neq(access(snap_path, F_OK), 0);
    lir_context_free(c);
    lir_model_free(m);
}

Test(fingerprint, same_model_same_fingerprint_other_weights_differ, .init = setup, .fini = teardown) {
    uint8_t a1[LIR_FINGERPRINT_LEN], a2[LIR_FINGERPRINT_LEN], b[LIR_FINGERPRINT_LEN], k[LIR_FINGERPRINT_LEN];
    lir_model *m = load(model_a);
    cr_assert_eq(lir_model_fingerprint(m, a1), LIR_OK);
    lir_model_free(m);
    m = load(model_a);
    cr_assert_eq(lir_model_fingerprint(m, a2), LIR_OK);
    lir_model_free(m);
    cr_assert_arr_eq(a1, a2, sizeof a1, "one file, two fingerprints");
    m = load(model_b);
    cr_assert_eq(lir_model_fingerprint(m, b), LIR_OK);
    lir_model_free(m);
    cr_assert_arr_neq(a1, b, sizeof a1, "other weights, same fingerprint");
    /* only a metadata string differs */
    char edited[256];
    tmp_model_path(edited, sizeof edited, "snap-edit");
    lir_err e = { { 0 } };
    struct model_edit ed = { .set_key_str = "general.name", .str_value = "renamed" };
    cr_assert_eq(copy_model(model_a, edited, &ed, &e), LIR_OK, "%s", e.msg);
    m = load(edited);
    cr_assert_eq(lir_model_fingerprint(m, k), LIR_OK);
    lir_model_free(m);
    unlink(edited);
    cr_assert_arr_neq(a1, k, sizeof a1, "other metadata, same fingerprint");
    char hex[2 * LIR_FINGERPRINT_LEN + 1];
    lir_fingerprint_hex(a1, hex);
    cr_assert_eq(strlen(hex), 64);
    cr_assert_eq(lir_model_fingerprint(NULL, k), LIR_EINVAL);
}

Test(snapshot, checksum_tree_any_thread_count) {
    /* a first leaf of 5000 bytes, then leaves of 2.5 pieces (each hashed in three pieces) and a
     * short last one: the sum equals the format's definition (computed here leaf by leaf, in one
     * call each) on 1, 2, 3 and 8 threads, and a changed byte in any leaf changes it */
    const size_t first = 5000, leaf = 2 * LIR_SNAP_PIECE + LIR_SNAP_PIECE / 2, len = first + 3 * leaf + 777;
    uint8_t *d = malloc(len);
    for (size_t i = 0; i < len; i++) d[i] = (uint8_t)(i * 2654435761u >> 13);
    cr_assert_geq(sodium_init(), 0);
    uint8_t leaves[5 * 16], want[32], lb[8];
    for (int i = 0; i < 5; i++) { /* leaf: XXH3-128 in canonical (big-endian) form */
        const size_t off = i ? first + (size_t)(i - 1) * leaf : 0;
        const size_t n = i == 0 ? first : len - off < leaf ? len - off : leaf;
        XXH128_hash_t x = XXH3_128bits(d + off, n);
        for (int k = 0; k < 8; k++) {
            leaves[16 * i + k] = (uint8_t)(x.high64 >> (56 - 8 * k));
            leaves[16 * i + 8 + k] = (uint8_t)(x.low64 >> (56 - 8 * k));
        }
    }
    for (int i = 0; i < 8; i++) lb[i] = (uint8_t)((uint64_t)len >> (8 * i));
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, 32);
    crypto_generichash_update(&h, (const uint8_t *)"LIRSNAP sum v2 xxh3", 19);
    crypto_generichash_update(&h, lb, 8);
    crypto_generichash_update(&h, leaves, sizeof leaves);
    crypto_generichash_final(&h, want, 32);
    const int nth[] = { 1, 2, 3, 8 };
    for (size_t t = 0; t < 4; t++) {
        uint8_t got[32];
        cr_assert_eq(lir__snap_checksum(d, len, first, leaf, nth[t], got), LIR_OK);
        cr_assert_arr_eq(got, want, 32, "%d threads", nth[t]);
    }
    const size_t at[] = { 0, first, first + LIR_SNAP_PIECE + 3, first + leaf, len - 1 };
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        uint8_t got[32];
        d[at[i]] ^= 1;
        cr_assert_eq(lir__snap_checksum(d, len, first, leaf, 2, got), LIR_OK);
        cr_assert_arr_neq(got, want, 32, "a change at %zu was not seen", at[i]);
        d[at[i]] ^= 1;
    }
    /* first = len: one leaf over everything */
    uint8_t one[32], got[32], dg[16];
    XXH128_hash_t x = XXH3_128bits(d, first);
    for (int k = 0; k < 8; k++) dg[k] = (uint8_t)(x.high64 >> (56 - 8 * k)), dg[8 + k] = (uint8_t)(x.low64 >> (56 - 8 * k));
    cr_assert_eq(lir__snap_root(dg, 1, first, one), LIR_OK);
    cr_assert_eq(lir__snap_checksum(d, first, first, 0, 2, got), LIR_OK);
    cr_assert_arr_eq(got, one, 32);
    free(d);
}

/* The last, partly filled block is stored with the rows past the sequence zeroed — never the
 * bytes another sequence left in a reused block — and the others as the cache holds them. */
Test(snapshot, last_block_tail_is_zero, .init = setup, .fini = teardown) {
    lir_model *m = load(model_a);
    const enum lir_kv_type types[] = { LIR_KV_TYPE_F16, LIR_KV_TYPE_Q8_0 };
    for (int ti = 0; ti < 2; ti++) {
        lir_context *c = ctx_new(m, 128, types[ti], 1);
        const size_t tb = lir__kv_token_bytes(c);
        uint8_t *junk = malloc(tb * 100);
        for (size_t i = 0; i < tb * 100; i++) junk[i] = (uint8_t)(i * 31 + 7) | 1; /* never zero */
        lir_token t[100];
        prompt(t, 100);
        cr_assert_eq(lir__kv_seq_write(c, 0, 0, 100, t, junk), LIR_OK, "%s", lir_context_last_error(c));
        lir_context_seq_clear(c, 0); /* its two blocks go back to the pool, junk and all */
        cr_assert_eq(lir_context_decode(c, t, 10, 0, false), LIR_OK); /* 10 tokens in a reused block */
        cr_assert_eq(lir_snapshot_save(c, 0, snap_path, NULL, NULL), LIR_OK, "%s", lir_context_last_error(c));
        size_t len;
        uint8_t *f = slurp(snap_path, &len);
        struct lir_model_info mi;
        lir_model_get_info(m, &mi);
        const size_t n_layer = (size_t)mi.n_layer, rb = tb / (2 * n_layer); /* tb = 2 x n_layer x row */
        const size_t kv_off = (size_t)lir__get_u64(f + 104), bb = 64 * tb;
        cr_assert_eq(len, kv_off + bb + LIR_SNAP_SUM, "one block");
        for (size_t il = 0; il < n_layer; il++) {
            const uint8_t *k = f + kv_off + il * 2 * 64 * rb, *v = k + 64 * rb;
            for (size_t i = 10 * rb; i < 64 * rb; i++) cr_assert_eq(k[i], 0, "K byte %zu of layer %zu", i, il);
            if (types[ti] == LIR_KV_TYPE_F16) {
                for (size_t d = 0; d < rb / 2; d++)
                    for (size_t col = 10; col < 64; col++) {
                        const uint8_t *h = v + 2 * (d * 64 + col);
                        cr_assert(h[0] == 0 && h[1] == 0, "V[%zu][%zu] of layer %zu", d, col, il);
                    }
            } else {
                for (size_t i = 10 * rb; i < 64 * rb; i++) cr_assert_eq(v[i], 0, "V byte %zu of layer %zu", i, il);
            }
            bool any = false; /* the 10 rows themselves are there */
            for (size_t i = 0; i < 10 * rb; i++) any |= k[i] != 0;
            cr_assert(any, "K rows of layer %zu are all zero", il);
        }
        free(f);
        free(junk);
        lir_context_free(c);
    }
    lir_model_free(m);
}

Test(snapshot, pool_too_small_refused, .init = setup, .fini = teardown) {
    /* two sequences over a pool of 3 blocks (192 tokens): sequence 0 holds 130 tokens (3 blocks),
     * sequence 1 shares them (seq_copy); clearing 1 would free none, so a 100-token snapshot
     * (2 blocks) does not fit: refused before anything changes, both sequences intact */
    lir_model *m = load(model_a);
    lir_token p[100];
    prompt(p, 100);
    lir_context *c = ctx_new(m, 128, LIR_KV_TYPE_F16, 1);
    cr_assert_eq(lir_context_decode(c, p, 100, 0, false), LIR_OK);
    char big[300];
    snprintf(big, sizeof big, "%s.big", snap_path);
    cr_assert_eq(lir_snapshot_save(c, 0, big, NULL, NULL), LIR_OK, "%s", lir_context_last_error(c));
    lir_context_free(c);

    struct lir_context_params cp = lir_context_params_default();
    cp.n_ctx = 192;
    cp.n_threads = 1;
    cp.n_seq_max = 2;
    cp.kv_size = 192;
    char err[512];
    cr_assert_eq(lir_context_create(m, &cp, &c, err, sizeof err), LIR_OK, "%s", err);
    lir_token q[130];
    prompt(q, 130);
    cr_assert_eq(lir_context_decode(c, q, 130, 0, false), LIR_OK, "%s", lir_context_last_error(c));
    cr_assert_eq(lir_context_seq_copy(c, 0, 1), LIR_OK);
    enum lir_status s = lir_snapshot_restore(c, 1, big, NULL, NULL);
    cr_assert_eq(s, LIR_ECONTEXT, "%s: %s", lir_status_name(s), lir_context_last_error(c));
    cr_assert(strstr(lir_context_last_error(c), "KV blocks"), "%s", lir_context_last_error(c));
    int32_t n0 = 0, n1 = 0;
    const lir_token *t0 = lir_context_seq_tokens(c, 0, &n0), *t1 = lir_context_seq_tokens(c, 1, &n1);
    cr_assert_eq(n0, 130);
    cr_assert_eq(n1, 130);
    cr_assert_arr_eq(t0, q, sizeof q);
    cr_assert_arr_eq(t1, q, sizeof q);
    /* with both sequences cleared the 2 blocks are free: it fits */
    lir_context_seq_clear(c, 0);
    lir_context_seq_clear(c, 1);
    cr_assert_eq(lir_snapshot_restore(c, 1, big, NULL, NULL), LIR_OK, "%s", lir_context_last_error(c));
    cr_assert_eq(lir_context_seq_length(c, 1), 100);
    unlink(big);
    lir_context_free(c);
    lir_model_free(m);
}

/* A sequence of many KV blocks: saved from a one-thread context (blocks hashed, then written)
 * and from a two-thread one (hashed on a second thread while written), the files are the same
 * bytes but for the creation time and the checksum that covers it; both checksums verify, and
 * the two-thread file restores the exact KV rows. */
Test(snapshot, multi_block_save_same_bytes_with_one_and_two_threads, .init = setup, .fini = teardown) {
    lir_model *m = load(model_a);
    struct lir_context_params cp = lir_context_params_default();
    cp.n_ctx = 64;
    cp.n_threads = 1;
    lir_context *probe = NULL;
    char err[512];
    cr_assert_eq(lir_context_create(m, &cp, &probe, err, sizeof err), LIR_OK, "%s", err);
    const size_t tb = lir__kv_token_bytes(probe);
    lir_context_free(probe);
    const int32_t per_chunk = (int32_t)((1u << 20) / tb), n = 3 * per_chunk + 17;
    cp.n_ctx = n + 64;
    lir_context *c[3];
    for (int k = 0; k < 3; k++) {
        cp.n_threads = k == 1 ? 2 : 1;
        cr_assert_eq(lir_context_create(m, &cp, &c[k], err, sizeof err), LIR_OK, "%s", err);
    }
    uint8_t *kv = malloc(tb * (size_t)n), *back = malloc(tb * (size_t)n);
    lir_token *toks = malloc(sizeof *toks * (size_t)n);
    uint64_t x = 0x1234567u;
    for (size_t i = 0; i < tb * (size_t)n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        kv[i] = (uint8_t)x;
    }
    for (int32_t i = 0; i < n; i++) toks[i] = (lir_token)(i % 500 + 1);
    float *row = malloc(sizeof *row * (size_t)n_vocab);
    for (int32_t i = 0; i < n_vocab; i++) row[i] = (float)(i % 13) - 6.0f;
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(lir__kv_seq_write(c[k], 0, 0, n, toks, kv), LIR_OK, "%s", lir_context_last_error(c[k]));
        cr_assert_eq(lir__context_set_logits(c[k], row), LIR_OK);
    }
    char p2[300];
    snprintf(p2, sizeof p2, "%s.two", snap_path);
    const char *paths[2] = { snap_path, p2 };
    uint8_t *file[2];
    size_t len[2];
    for (int k = 0; k < 2; k++) {
        struct lir_snapshot_info info;
        cr_assert_eq(lir_snapshot_save(c[k], 0, paths[k], NULL, &info), LIR_OK, "%s", lir_context_last_error(c[k]));
        cr_assert_gt(info.kv_bytes, 3u << 20, "three chunks and more");
        FILE *f = fopen(paths[k], "rb");
        cr_assert_not_null(f);
        fseek(f, 0, SEEK_END);
        len[k] = (size_t)ftell(f);
        fseek(f, 0, SEEK_SET);
        file[k] = malloc(len[k]);
        cr_assert_eq(fread(file[k], 1, len[k], f), len[k]);
        fclose(f);
        struct lir_snapshot_info ri;
        cr_assert_eq(lir_snapshot_read_info(paths[k], true, &ri, err, sizeof err), LIR_OK, "%s", err);
        memset(file[k] + 80, 0, 8); /* created_at */
    }
    cr_assert_eq(len[0], len[1]);
    cr_assert(memcmp(file[0], file[1], len[0] - LIR_SNAP_SUM) == 0, "the two saves differ");
    cr_assert_eq(lir_snapshot_restore(c[2], 0, p2, NULL, NULL), LIR_OK, "%s", lir_context_last_error(c[2]));
    cr_assert_eq(lir__kv_seq_read(c[2], 0, 0, n, back), LIR_OK);
    cr_assert(memcmp(back, kv, tb * (size_t)n) == 0, "restored KV rows differ");
    cr_assert(memcmp(lir_context_logits(c[2], -1), row, sizeof *row * (size_t)n_vocab) == 0);
    unlink(p2);
    for (int k = 0; k < 2; k++) free(file[k]);
    for (int k = 0; k < 3; k++) lir_context_free(c[k]);
    free(kv), free(back), free(toks), free(row);
    lir_model_free(m);
}
