/* test_sched_turn.c — the scheduler and the model's FIFO turn (context manager): context calls
 * made while streams run wait for sequence 0, pause the others between steps and change none
 * of their outputs; a snapshot restored into sequence 0 is reused by the next generation of that
 * conversation (prefix reuse through sequence 0), with the output of a fresh evaluation. */
#include "runtime_util.h"
#include "runtime/runtime.h"

#include <math.h>

static void fini(void) { rt_dir_remove(); }

static lir_runtime *rt_mk(int32_t parallel, char *snapdir, size_t n) {
    snprintf(snapdir, n, "%s/snaps", rt_dir);
    struct lir_runtime_params p = lir_runtime_params_default();
    p.models_dir = rt_dir;
    p.ram_alert_percent = 0;
    p.monitor_interval_ms = 0;
    p.snapshots_dir = snapdir;
    p.parallel = parallel;
    lir_runtime *rt = NULL;
    char err[512] = "";
    cr_assert_eq(lir_runtime_create(&p, &rt, err, sizeof err), LIR_OK, "%s", err);
    return rt;
}

struct strm {
    lir_runtime *rt;
    struct lir_generate_request q;
    char prompt[96];
    struct lir_generate_result r;
    enum lir_status s;
    char err[512];
};

static int on_chunk(const struct lir_generate_chunk *c, void *user) {
    (void)c;
    (void)user;
    return 0;
}

static void *strm_main(void *arg) {
    struct strm *j = arg;
    j->s = lir_runtime_generate_stream(j->rt, &j->q, on_chunk, j, &j->r, j->err, sizeof j->err);
    return NULL;
}

static void strm_init(struct strm *j, lir_runtime *rt, int i, const struct lir_logit_bias *bias, int nb) {
    memset(j, 0, sizeof *j);
    j->rt = rt;
    j->q = lir_generate_request_default();
    snprintf(j->prompt, sizeof j->prompt, "Stream %d tells of %s", i, i ? "mountains and rivers" : "the sea");
    j->q.prompt = j->prompt;
    j->q.sampling.seed = 30 + (uint64_t)i;
    j->q.sampling.max_tokens = 96;
    j->q.sampling.logit_bias = bias;
    j->q.sampling.n_logit_bias = nb;
}

static int eog_bias(struct lir_logit_bias *b) {
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/m.gguf", rt_dir);
    lir_model *m = NULL;
    cr_assert_eq(lir_model_load(path, NULL, &m, err, sizeof err), LIR_OK, "%s", err);
    int n = 0;
    for (lir_token t = 0; t < lir_vocab_n_tokens(m) && n < 8; t++)
        if (lir_vocab_is_eog(m, t)) b[n++] = (struct lir_logit_bias){ .token = t, .bias = -INFINITY };
    lir_model_free(m);
    return n;
}

Test(sched_turn, context_calls_during_streams_change_nothing, .fini = fini) {
    rt_dir_make("sturn");
    rt_model_make("m", LIR_GEN_LLAMA, 13);
    struct lir_logit_bias bias[8];
    int nb = eog_bias(bias);
    char snapdir[300], err[512], id[LIR_ID_LEN];
    lir_runtime *rt = rt_mk(3, snapdir, sizeof snapdir);
    struct lir_load_options o = rt_opts(512);
    rt_load(rt, "m", &o, id);
    enum { N = 3 };
    struct strm alone[N], conc[N];
    for (int i = 0; i < N; i++) {
        strm_init(&alone[i], rt, i, bias, nb);
        strm_main(&alone[i]);
        cr_assert_eq(alone[i].s, LIR_OK, "%s", alone[i].err);
    }
    lir_runtime_context_clear(rt, id, err, sizeof err);
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        strm_init(&conc[i], rt, i, bias, nb);
        pthread_create(&th[i], NULL, strm_main, &conc[i]);
    }
    /* turn calls while they run: each waits for sequence 0, the others pause between steps */
    int calls = 0;
    for (int k = 0; k < 6; k++) {
        struct lir_context_usage u;
        cr_assert_eq(lir_runtime_context_status(rt, id, &u, err, sizeof err), LIR_OK, "%s", err);
        cr_assert_eq(u.max_context_size, 512);
        calls++;
        struct lir_snapshot_entry se;
        cr_assert_eq(lir_runtime_snapshot_save(rt, id, "during", &se, err, sizeof err), LIR_OK, "%s", err);
        calls++;
    }
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    cr_assert_eq(calls, 12);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(conc[i].s, LIR_OK, "%s", conc[i].err);
        cr_assert_str_eq(conc[i].r.text, alone[i].r.text, "stream %d changed by the turn calls", i);
        lir_generate_result_clear(&conc[i].r);
        lir_generate_result_clear(&alone[i].r);
    }
    lir_runtime_destroy(rt);
}

Test(sched_turn, snapshot_restored_into_sequence_0_is_reused, .fini = fini) {
    rt_dir_make("srestore");
    rt_model_make("m", LIR_GEN_LLAMA, 17);
    struct lir_logit_bias bias[8];
    int nb = eog_bias(bias);
    char snapdir[300], err[512], id[LIR_ID_LEN];
    lir_runtime *rt = rt_mk(2, snapdir, sizeof snapdir);
    struct lir_load_options o = rt_opts(512);
    rt_load(rt, "m", &o, id);
    struct lir_chat_message msgs[3] = { { LIR_ROLE_USER, "Describe an old harbour town." },
                                        { LIR_ROLE_ASSISTANT, NULL },
                                        { LIR_ROLE_USER, "Who lives there?" } };
    struct lir_generate_request q = lir_generate_request_default();
    q.model = id;
    q.messages = msgs;
    q.n_messages = 1;
    q.sampling.max_tokens = 12;
    q.sampling.seed = 8;
    q.sampling.logit_bias = bias;
    q.sampling.n_logit_bias = nb;
    struct lir_generate_result r1, r2, fresh;
    cr_assert_eq(lir_runtime_generate(rt, &q, &r1, err, sizeof err), LIR_OK, "%s", err);
    struct lir_snapshot_entry se;
    cr_assert_eq(lir_runtime_snapshot_save(rt, id, "conv", &se, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_eq(se.token_count, r1.usage.prompt_tokens + r1.usage.completion_tokens - 1,
                 "sequence 0 holds the conversation (the last token is never evaluated)");
    /* other requests take both sequences: the conversation is gone from the cache */
    const char *other[] = { "Zebras run", "Elephants walk slowly across the plain" };
    for (int i = 0; i < 4; i++) {
        struct lir_generate_request u = lir_generate_request_default();
        u.model = id;
        u.prompt = other[i % 2];
        u.sampling.max_tokens = 40;
        u.sampling.logit_bias = bias;
        u.sampling.n_logit_bias = nb;
        struct lir_generate_result ru;
        cr_assert_eq(lir_runtime_generate(rt, &u, &ru, err, sizeof err), LIR_OK, "%s", err);
        lir_generate_result_clear(&ru);
    }
    cr_assert_eq(lir_runtime_snapshot_restore(rt, id, "conv", NULL, err, sizeof err), LIR_OK, "%s", err);
    msgs[1].content = r1.text;
    q.n_messages = 3;
    cr_assert_eq(lir_runtime_generate(rt, &q, &r2, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_geq(r2.usage.cached_tokens, r1.usage.prompt_tokens, "the restored conversation is reused: %d cached",
                  r2.usage.cached_tokens);
    lir_runtime *rt2 = rt_mk(2, snapdir, sizeof snapdir);
    char id2[LIR_ID_LEN];
    rt_load(rt2, "m", &o, id2);
    q.model = id2;
    cr_assert_eq(lir_runtime_generate(rt2, &q, &fresh, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_eq(fresh.usage.cached_tokens, 0);
    cr_assert_str_eq(r2.text, fresh.text, "reuse of a restored sequence changes nothing in the output");
    lir_generate_result_clear(&r1);
    lir_generate_result_clear(&r2);
    lir_generate_result_clear(&fresh);
    lir_runtime_destroy(rt2);
    lir_runtime_destroy(rt);
}
