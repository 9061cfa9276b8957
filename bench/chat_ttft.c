/* chat_ttft.c — benchmarks of the runtime's scheduler (src/runtime/sched.c), built and run by
 * bench/chat_ttft.sh:
 *   chat MODEL [TURNS] [REPLY_TOKENS]   a multi-turn chat through lir_runtime_generate (messages
 *       = the whole history each turn, as a chat client sends it): time to first token, prompt
 *       tokens, cached (prefix reuse) and evaluated tokens per turn; then the same chat with an
 *       unrelated request between turns (parallel 1: it takes the only sequence, so nothing is
 *       cached) for comparison. Target (issue 7): TTFT of the last turn <= 1.5x the first.
 *   long MODEL [TOKENS] [CTX]          one generation of TOKENS tokens through a CTX context with
 *       the overflow policy shift (end of generation banned): context shifts, tok/s and the
 *       process RSS every 10% — flat RSS means no leak per shift.
 * Output: one line per measurement, "key value" pairs, for bench/README.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "lir.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double rss_mib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0;
        fclose(f);
    }
    return (double)res * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

static lir_runtime *runtime(void) {
    struct lir_runtime_params p = lir_runtime_params_default();
    p.monitor_interval_ms = 0;
    p.ram_alert_percent = 0;
    lir_runtime *rt = NULL;
    char err[512];
    if (lir_runtime_create(&p, &rt, err, sizeof err)) {
        fprintf(stderr, "runtime: %s\n", err);
        exit(1);
    }
    return rt;
}

static int32_t n_threads; /* 0 = all CPUs; the long run uses 1 (env LIR_BENCH_THREADS overrides) */

static void load(lir_runtime *rt, const char *model, int32_t ctx, int32_t parallel, char *id) {
    struct lir_load_options o = lir_load_options_default();
    o.threads = n_threads;
    o.context_size = ctx;
    o.parallel = parallel;
    o.keep_alive_ms = LIR_KEEP_ALIVE_NEVER;
    char err[512];
    if (lir_runtime_load(rt, model, &o, NULL, NULL, id, NULL, err, sizeof err)) {
        fprintf(stderr, "load: %s\n", err);
        exit(1);
    }
}

static const char *const questions[] = {
    "Who was Moses?", "What did he do in Egypt?", "Tell me about the plagues.", "What happened at the sea?",
    "What did the people eat in the wilderness?", "What were the commandments?", "Who was Aaron?",
    "What was the tabernacle?", "How long did they wander?", "Who led them into the land afterwards?",
    "What happened at Jericho?", "Who were the judges?",
};

/* One chat of `turns` turns; with `evict`, an unrelated request runs between turns. Writes the
 * TTFT of each turn to ttft[turn]. */
static void chat(const char *model, int turns, int reply, bool evict, double *ttft) {
    lir_runtime *rt = runtime();
    char id[LIR_ID_LEN];
    load(rt, model, 4096, evict ? 1 : 4, id);
    struct lir_chat_message *msgs = calloc((size_t)turns * 2, sizeof *msgs);
    char **replies = calloc((size_t)turns, sizeof *replies);
    int n = 0;
    for (int t = 0; t < turns; t++) {
        msgs[n++] = (struct lir_chat_message){ LIR_ROLE_USER, questions[t % 12] };
        struct lir_generate_request q = lir_generate_request_default();
        q.model = id;
        q.system_prompt = "You are a helpful teacher who answers from the scriptures in plain words.";
        q.messages = msgs;
        q.n_messages = n;
        q.sampling.max_tokens = reply;
        q.sampling.seed = 42 + (uint64_t)t;
        struct lir_generate_result r;
        char err[512];
        if (lir_runtime_generate(rt, &q, &r, err, sizeof err)) {
            fprintf(stderr, "turn %d: %s\n", t + 1, err);
            exit(1);
        }
        printf("%s turn %d prompt_tokens %d cached %d evaluated %d ttft_ms %.1f gen_tok_s %.1f\n",
               evict ? "no-reuse" : "reuse", t + 1, r.usage.prompt_tokens, r.usage.cached_tokens,
               r.usage.prompt_tokens_evaluated, r.metrics.ttft_ms, r.metrics.tokens_per_second);
        fflush(stdout);
        ttft[t] = r.metrics.ttft_ms;
        replies[t] = r.text; /* owned until the end */
        msgs[n++] = (struct lir_chat_message){ LIR_ROLE_ASSISTANT, replies[t] };
        if (evict) { /* an unrelated request takes the only sequence */
            struct lir_generate_request u = lir_generate_request_default();
            u.model = id;
            u.prompt = "Zebras and giraffes";
            u.sampling.max_tokens = 1;
            struct lir_generate_result ru;
            if (!lir_runtime_generate(rt, &u, &ru, err, sizeof err)) lir_generate_result_clear(&ru);
        }
    }
    for (int t = 0; t < turns; t++) free(replies[t]);
    free(replies);
    free(msgs);
    lir_runtime_destroy(rt);
}

struct long_state {
    int64_t n, total;
    double t0;
    double rss[11];
};

static int long_chunk(const struct lir_generate_chunk *c, void *user) {
    struct long_state *s = user;
    if (c->is_complete) return 0;
    int64_t k = (int64_t)c->token_index + 1;
    int64_t step = s->total / 10;
    if (k / step > s->n / step && k / step <= 10) {
        s->rss[k / step] = rss_mib();
        printf("long tokens %lld rss_mib %.1f elapsed_s %.1f\n", (long long)k, s->rss[k / step],
               (now_ms() - s->t0) / 1e3);
        fflush(stdout);
    }
    s->n = k;
    return k >= s->total; /* max_tokens stops at 32768: the callback ends the run */
}

static int run_long(const char *model, int64_t tokens, int32_t ctx) {
    lir_runtime *rt = runtime();
    char id[LIR_ID_LEN];
    load(rt, model, ctx, 1, id);
    /* ban the end-of-generation tokens so the generation runs the whole length */
    lir_model *m = NULL;
    char err[512];
    if (lir_model_load(model, NULL, &m, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    struct lir_logit_bias bias[8];
    int nb = 0;
    for (lir_token t = 0; t < lir_vocab_n_tokens(m) && nb < 8; t++)
        if (lir_vocab_is_eog(m, t)) bias[nb++] = (struct lir_logit_bias){ .token = t, .bias = -INFINITY };
    lir_model_free(m);
    struct lir_generate_request q = lir_generate_request_default();
    q.model = id;
    q.prompt = "In the beginning God created the heaven and the earth.";
    q.sampling.max_tokens = 0;
    q.sampling.seed = 7;
    q.sampling.logit_bias = bias;
    q.sampling.n_logit_bias = nb;
    q.overflow = LIR_OVERFLOW_SHIFT;
    struct long_state s = { .total = tokens, .t0 = now_ms() };
    s.rss[0] = rss_mib();
    printf("long tokens 0 rss_mib %.1f\n", s.rss[0]);
    struct lir_generate_result r;
    enum lir_status st = lir_runtime_generate_stream(rt, &q, long_chunk, &s, &r, err, sizeof err);
    if (st && st != LIR_ECANCELLED) {
        fprintf(stderr, "long: %s\n", err);
        return 1;
    }
    double secs = (now_ms() - s.t0) / 1e3;
    double lo = 1e30, hi = 0;
    for (int i = 1; i <= 10; i++) {
        if (s.rss[i] <= 0) continue;
        if (s.rss[i] < lo) lo = s.rss[i];
        if (s.rss[i] > hi) hi = s.rss[i];
    }
    printf("long done tokens %d ctx %d shifts %d finish %s tok_s %.1f rss_10pct_to_100pct_mib %.1f..%.1f\n",
           r.usage.completion_tokens, ctx, r.usage.context_shifts, lir_finish_reason_str(r.finish_reason),
           r.usage.completion_tokens / secs, lo, hi);
    lir_generate_result_clear(&r);
    lir_runtime_destroy(rt);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3 || (strcmp(argv[1], "chat") && strcmp(argv[1], "long"))) {
        fprintf(stderr, "usage: %s chat MODEL [TURNS 10] [REPLY_TOKENS 48] [REPS 3]\n       %s long MODEL [TOKENS 120000] [CTX 4096]\n",
                argv[0], argv[0]);
        return 2;
    }
    n_threads = !strcmp(argv[1], "long") ? 1 : 0;
    if (getenv("LIR_BENCH_THREADS")) n_threads = atoi(getenv("LIR_BENCH_THREADS"));
    if (!strcmp(argv[1], "long"))
        return run_long(argv[2], argc > 3 ? atoll(argv[3]) : 120000, argc > 4 ? atoi(argv[4]) : 4096);
    int turns = argc > 3 ? atoi(argv[3]) : 10, reply = argc > 4 ? atoi(argv[4]) : 48;
    int reps = argc > 5 ? atoi(argv[5]) : 3;
    if (turns < 1 || turns > 64 || reps < 1 || reps > 15) return 2;
    /* the median over reps of each turn's TTFT (this machine is shared: single runs are noisy) */
    double med[2][64];
    for (int mode = 0; mode < 2; mode++) {
        double v[15][64];
        for (int k = 0; k < reps; k++) chat(argv[2], turns, reply, mode == 1, v[k]);
        for (int t = 0; t < turns; t++) {
            double c[15];
            for (int k = 0; k < reps; k++) c[k] = v[k][t];
            for (int a = 1; a < reps; a++)
                for (int b = a; b > 0 && c[b] < c[b - 1]; b--) {
                    double x = c[b];
                    c[b] = c[b - 1];
                    c[b - 1] = x;
                }
            med[mode][t] = reps % 2 ? c[reps / 2] : (c[reps / 2 - 1] + c[reps / 2]) / 2;
        }
    }
    printf("summary median of %d: reuse turn1_ttft_ms %.1f turn%d_ttft_ms %.1f ratio %.2f | no-reuse turn1 %.1f "
           "turn%d %.1f ratio %.2f\n", reps, med[0][0], turns, med[0][turns - 1], med[0][turns - 1] / med[0][0],
           med[1][0], turns, med[1][turns - 1], med[1][turns - 1] / med[1][0]);
    return 0;
}
