/* cmd_bench.c — `lir bench`, as llama-bench: prompt processing (pp: one batch of N random tokens
 * from an empty cache) and text generation (tg: N single-token steps from position 0), each
 * repeated, mean ± standard deviation of tokens per second, for each thread count asked.
 *
 *   lir bench MODEL [-p 512] [-n 128] [-t THREADS[,THREADS...]] [-r REPS] [-b BATCH] [--json]
 *             [--models-dir D]                    (-m MODEL also works)
 *     -p / -n  prompt and generation lengths (0 skips that test); -t a list runs each count;
 *     -b  prompt batch (default min(p, 512)). One warm-up pass pages the weights in first, as
 *     llama-bench does. Random token ids (fixed seed) over the whole vocabulary.
 *     Text: a llama-bench table (model, size, params, backend, threads, test, t/s).
 *     --json: one line per thread count, {"model","threads","isa","reps","pp":{"n","tok_s","std"},
 *     "tg":{"n","tok_s","std"}} (bench/run.sh reads it; with one -t value, one line as before),
 *     plus "size", "params", "type" (the model's quantization) and "pp"/"tg" "samples".
 * Exit 0 ok, 1 model or evaluation error, 2 usage. */
#include "cli/cli.h"
#include "model/forward.h"
#include "sample/sample.h"
#include "util/util.h"
#include "gguf/gguf.h"
#include "model/model.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void stats(const double *v, int n, double *mean, double *sd) {
    double s = 0, q = 0;
    for (int i = 0; i < n; i++) s += v[i];
    *mean = n ? s / n : 0;
    for (int i = 0; i < n; i++) q += (v[i] - *mean) * (v[i] - *mean);
    *sd = n > 1 ? sqrt(q / (n - 1)) : 0.0;
}

#define MAX_THREAD_SETS 16

static void samples_json(const double *v, int n) {
    printf("[");
    for (int i = 0; i < n; i++) printf("%s%.3f", i ? "," : "", v[i]);
    printf("]");
}

int lir_cli_bench(int argc, char **argv) {
    const char *model = NULL, *dir_flag = NULL;
    int32_t n_prompt = 512, n_gen = 128, reps = 5, n_batch = 0;
    int32_t threads[MAX_THREAD_SETS] = { 0 };
    int n_threads = 1;
    bool json = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            puts("usage: lir bench MODEL [-p 512] [-n 128] [-t THREADS[,THREADS...]] [-r REPS] [-b BATCH] [--json]\n"
                 "  prompt processing (pp) and generation (tg) speed, as llama-bench: mean ± std of tok/s\n"
                 "  over REPS runs (default 5) after a warm-up; -t 0 = all CPUs");
            return 0;
        }
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) { if (!v) lir_cli_die(2, "%s needs a value", a); model = v; i++; }
        else if (!strcmp(a, "--models-dir")) { if (!v) lir_cli_die(2, "%s needs a value", a); dir_flag = v; i++; }
        else if (!strcmp(a, "-p") || !strcmp(a, "--n-prompt")) { n_prompt = (int32_t)lir_cli_arg_long(a, v, 0, 1 << 20); i++; }
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-gen")) { n_gen = (int32_t)lir_cli_arg_long(a, v, 0, 1 << 20); i++; }
        else if (!strcmp(a, "-r") || !strcmp(a, "--repetitions")) { reps = (int32_t)lir_cli_arg_long(a, v, 1, 1000); i++; }
        else if (!strcmp(a, "-b") || !strcmp(a, "--batch")) { n_batch = (int32_t)lir_cli_arg_long(a, v, 1, 65536); i++; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!v || !*v) lir_cli_die(2, "%s needs a value", a);
            n_threads = 0;
            char buf[256];
            snprintf(buf, sizeof buf, "%s", v);
            for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                if (n_threads == MAX_THREAD_SETS) lir_cli_die(2, "%s: at most %d thread counts", a, MAX_THREAD_SETS);
                threads[n_threads++] = (int32_t)lir_cli_arg_long(a, tok, 0, 1024);
            }
            if (!n_threads) lir_cli_die(2, "%s needs a value", a);
            i++;
        }
        else if (!strcmp(a, "--json")) json = true;
        else if (a[0] == '-' && a[1]) lir_cli_die(2, "bench: unknown option '%s' (lir bench --help)", a);
        else if (!model) model = a;
        else lir_cli_die(2, "bench: unexpected argument '%s'", a);
    }
    if (!model) lir_cli_die(2, "bench: no model given (lir bench MODEL)");
    int32_t need = n_prompt > n_gen ? n_prompt : n_gen;
    if (need < 1) lir_cli_die(2, "bench: nothing to measure: -p and -n are both 0");
    char dbuf[4096];
    struct lir_installed_model im;
    lir_cli_find_model(model, lir_cli_models_dir(dir_flag, dbuf, sizeof dbuf), &im);
    lir_model *m = lir_cli_load_model(im.path);
    struct lir_model_info mi;
    lir_model_get_info(m, &mi);
    if (!strcmp(mi.arch, "bert") || !strcmp(mi.arch, "nomic-bert"))
        lir_cli_die(1, "bench: '%s' is an embedding model (%s): pp/tg measure text generation", model, mi.arch);
    if (need > mi.n_ctx_train) lir_cli_die(2, "bench: %d tokens exceed the model's context %d", need, mi.n_ctx_train);
    if (!n_batch) n_batch = n_prompt > 0 ? (n_prompt < 512 ? n_prompt : 512) : 1;
    char type[32] = "";
    uint32_t ft;
    if (lir_gguf_get_u32(m->gguf, "general.file_type", &ft, NULL)) snprintf(type, sizeof type, "%s", lir_ftype_name((enum lir_ftype)ft));

    lir_token *toks = malloc(sizeof *toks * (size_t)need);
    double *pp = calloc((size_t)reps, sizeof(double)), *tg = calloc((size_t)reps, sizeof(double));
    if (!toks || !pp || !tg) lir_cli_die(1, "out of memory");
    uint64_t rng[4];
    lir_rng_seed(rng, 1234);
    for (int32_t i = 0; i < need; i++) toks[i] = (lir_token)(lir_rng_uniform(rng) * mi.n_vocab);
    if (!json) {
        printf("| %-28s | %10s | %8s | %-10s | %7s | %8s | %20s |\n", "model", "size", "params", "backend", "threads",
               "test", "t/s");
        printf("| %.28s | %.10s:| %.8s:| %.10s | %.7s:| %.8s:| %.20s:|\n", "-----------------------------", "----------",
               "--------", "----------", "-------", "--------", "--------------------");
    }
    for (int ti = 0; ti < n_threads; ti++) {
        struct lir_context_params cp = lir_context_params_default();
        cp.n_ctx = need;
        cp.n_threads = threads[ti];
        cp.n_batch = n_batch;
        char err[LIR_ERR_MAX];
        lir_context *c = NULL;
        if (lir_context_create(m, &cp, &c, err, sizeof err)) lir_cli_die(1, "%s", err);
        /* warm-up (pages in the weights, as llama-bench does) */
        if (lir_context_decode(c, toks, n_prompt > 0 ? (n_prompt < 16 ? n_prompt : 16) : 1, 0, false) ||
            lir_context_decode(c, toks, 1, 0, false))
            lir_cli_die(1, "%s", lir_context_last_error(c));
        for (int r = 0; r < reps; r++) {
            if (n_prompt > 0) {
                uint64_t t0 = lir__now_ns();
                if (lir_context_decode(c, toks, n_prompt, 0, false)) lir_cli_die(1, "%s", lir_context_last_error(c));
                pp[r] = n_prompt / ((double)(lir__now_ns() - t0) / 1e9);
            }
            if (n_gen > 0) {
                uint64_t t0 = lir__now_ns();
                for (int32_t i = 0; i < n_gen; i++)
                    if (lir_context_decode(c, &toks[i], 1, i, false)) lir_cli_die(1, "%s", lir_context_last_error(c));
                tg[r] = n_gen / ((double)(lir__now_ns() - t0) / 1e9);
            }
        }
        double ppm, pps, tgm, tgs;
        stats(pp, reps, &ppm, &pps);
        stats(tg, reps, &tgm, &tgs);
        const int nt = lir__context_n_threads(c);
        if (json) {
            json_t *jm = json_string(model);
            char *qm = jm ? json_dumps(jm, JSON_ENCODE_ANY) : NULL;
            json_decref(jm);
            printf("{\"model\":%s,\"threads\":%d,\"isa\":\"%s\",\"reps\":%d,\"pp\":{\"n\":%d,\"tok_s\":%.3f,\"std\":%.3f,"
                   "\"samples\":",
                   qm ? qm : "null", nt, lir__context_isa(c), reps, n_prompt, ppm, pps);
            free(qm);
            samples_json(pp, n_prompt ? reps : 0);
            printf("},\"tg\":{\"n\":%d,\"tok_s\":%.3f,\"std\":%.3f,\"samples\":", n_gen, tgm, tgs);
            samples_json(tg, n_gen ? reps : 0);
            printf("},\"size\":%llu,\"params\":%llu,\"type\":\"%s\",\"n_batch\":%d}\n", (unsigned long long)mi.file_size,
                   (unsigned long long)mi.n_params, type, n_batch);
        } else {
            char name[64], size[32], params[32], backend[32], test[32], ts[40];
            snprintf(name, sizeof name, "%s %s", mi.arch, type[0] ? type : "");
            snprintf(size, sizeof size, "%.2f MiB", (double)mi.file_size / (1 << 20));
            if (mi.n_params >= 1000000000ull) snprintf(params, sizeof params, "%.2f B", (double)mi.n_params / 1e9);
            else snprintf(params, sizeof params, "%.2f M", (double)mi.n_params / 1e6);
            snprintf(backend, sizeof backend, "CPU %s", lir__context_isa(c));
            if (n_prompt) {
                snprintf(test, sizeof test, "pp%d", n_prompt);
                snprintf(ts, sizeof ts, "%.2f ± %.2f", ppm, pps);
                printf("| %-28s | %10s | %8s | %-10s | %7d | %8s | %20s |\n", name, size, params, backend, nt, test, ts);
            }
            if (n_gen) {
                snprintf(test, sizeof test, "tg%d", n_gen);
                snprintf(ts, sizeof ts, "%.2f ± %.2f", tgm, tgs);
                printf("| %-28s | %10s | %8s | %-10s | %7d | %8s | %20s |\n", name, size, params, backend, nt, test, ts);
            }
        }
        fflush(stdout);
        lir_context_free(c);
    }
    free(pp);
    free(tg);
    free(toks);
    lir_model_free(m);
    return 0;
}
