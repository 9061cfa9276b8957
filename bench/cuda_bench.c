/* cuda_bench.c — speed of the CUDA backend on one GPU (bench/cuda_bench.sh runs it):
 * weight upload, prompt throughput at --prompt tokens (one batch), time to first token for a
 * --ttft-token prompt (prompt evaluation + logits copied back), and batch-1 decode tok/s over
 * --gen one-token steps (CUDA graph, logits copied back each step) against the HBM bound:
 * bytes read per token (every weight matrix, norms, one embedding row, the KV rows attended)
 * over --hbm bytes/s. Prints one JSON object; --profile (whole model on one GPU) adds a second:
 * the step replayed alone and each kind of decode mat-vec alone (microseconds per layer, GB/s);
 * --no-pdl turns programmatic dependent launch off; --parallel N,.. measures aggregate decode of N
 * sequences in one context instead (run_parallel). Built only with -DLIR_CUDA=ON.
 * --gpu-layers N (and --tensor-split A,B,.. / --main-gpu I) runs through an inference context
 * instead (lir_context_params.gpu_layers: N <= n_layer keeps the first layers and the output head
 * on the CPU, partial offload; -1 or > n_layer is the whole model): the same timings through
 * lir_context_decode, the HBM bound then counting only what the GPUs hold (an upper bound for the
 * GPU part alone), "upload_s" the context's creation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "backend/cuda/cuda.h"
#include "lir.h"
#include "model/forward.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void progress(float f, void *u) {
    int *last = u;
    const int pct = (int)(f * 10.0f);
    if (pct != *last) {
        fprintf(stderr, "\rupload %3d%%", pct * 10);
        *last = pct;
    }
}

/* One evaluation, through the share (g) or the context (c): n tokens at pos, logits of the last
 * one when want. */
static int eval(lir_cuda *g, lir_context *c, const int32_t *t, int n, int pos, bool want, float *logits, char *err,
                size_t err_len) {
    if (g) {
        lir_err e = { { 0 } };
        const enum lir_status s = lir_cuda_eval(g, t, n, pos, NULL, want ? 1 : 0, want ? logits : NULL, NULL, &e);
        if (s) snprintf(err, err_len, "%s", e.msg);
        return s;
    }
    const enum lir_status s = lir_context_decode(c, t, n, pos, false);
    if (s) snprintf(err, err_len, "%s", lir_context_last_error(c));
    return s;
}

/* Aggregate decode: a context of n_seq sequences (gpu_layers, the whole context on the GPUs),
 * each given a 128-token prompt, then gen steps of one token for every sequence in one batch
 * (lir_context_decode_batch, every row's logits); prints one JSON line: tok/s summed over the
 * sequences, best of reps. */
static int run_parallel(lir_model *m, int n_seq, int gpu_layers, int n_ctx, int gen, int reps) {
    struct lir_context_params cp = lir_context_params_default();
    cp.n_ctx = n_ctx;
    cp.n_batch = 512;
    cp.n_seq_max = n_seq;
    cp.gpu_layers = gpu_layers;
    lir_context *c = NULL;
    char err[600] = "";
    if (lir_context_create(m, &cp, &c, err, sizeof err)) {
        fprintf(stderr, "lir-cuda-bench: %d sequences: %s\n", n_seq, err);
        return 1;
    }
    const int32_t nv = m->hp.n_vocab;
    int32_t *tok = malloc(sizeof(int32_t) * 128), *seq = malloc(sizeof(int32_t) * (size_t)n_seq);
    int8_t *want = malloc((size_t)n_seq);
    double best = 1e30;
    int rc = 0;
    for (int r = 0; r < reps && !rc; r++) {
        for (int q = 0; q < n_seq && !rc; q++) {
            for (int i = 0; i < 128; i++) tok[i] = (int32_t)((i * 7919 + q * 131 + 13) % nv);
            int32_t sid[128];
            for (int i = 0; i < 128; i++) sid[i] = q;
            const struct lir_batch b = { .n_tokens = 128, .token = tok, .seq_id = sid };
            if (lir_context_seq_clear(c, q) || lir_context_decode_batch(c, &b)) rc = 1;
        }
        for (int q = 0; q < n_seq; q++) seq[q] = q, want[q] = 1;
        /* one untimed step (graph capture), then gen timed steps */
        double t0 = 0;
        for (int s = 0; s <= gen && !rc; s++) {
            if (s == 1) t0 = now();
            int32_t st[1024];
            for (int q = 0; q < n_seq; q++) st[q] = (int32_t)((s * 31 + q * 17 + 5) % nv);
            const struct lir_batch d = { .n_tokens = n_seq, .token = st, .seq_id = seq, .logits = want };
            if (lir_context_decode_batch(c, &d)) rc = 1;
        }
        const double t = now() - t0;
        if (!rc && t < best) best = t;
    }
    if (rc) fprintf(stderr, "lir-cuda-bench: %d sequences: %s\n", n_seq, lir_context_last_error(c));
    else
        printf("{\"parallel\":%d,\"gpu_layers\":%d,\"decode_steps\":%d,\"aggregate_tok_s\":%.1f,"
               "\"step_ms\":%.3f}\n", n_seq, gpu_layers, gen, n_seq * gen / best, 1e3 * best / gen);
    free(tok), free(seq), free(want);
    lir_context_free(c);
    return rc;
}

int main(int argc, char **argv) {
    const char *path = NULL;
    int n_ctx = 4096, n_prompt = 512, n_ttft = 256, n_gen = 128, reps = 3, gpu_layers = 0, main_gpu = 0;
    bool use_ctx = false;
    float split[LIR_TENSOR_SPLIT_MAX];
    int n_split = 0;
    double hbm = 4.3e12;
    int profile = 0, no_pdl = 0;
    const char *parallel = NULL; /* --parallel 1,8,32,64: aggregate decode of that many sequences */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--gpu-layers") && i + 1 < argc) gpu_layers = atoi(argv[++i]), use_ctx = true;
        else if (!strcmp(argv[i], "--main-gpu") && i + 1 < argc) main_gpu = atoi(argv[++i]), use_ctx = true;
        else if (!strcmp(argv[i], "--tensor-split") && i + 1 < argc) {
            use_ctx = true;
            for (char *q = argv[++i]; *q && n_split < LIR_TENSOR_SPLIT_MAX; q += *q == ',') {
                char *end;
                split[n_split++] = strtof(q, &end);
                if (end == q) {
                    fprintf(stderr, "lir-cuda-bench: --tensor-split takes numbers separated by commas\n");
                    return 2;
                }
                q = end;
            }
        } else if (!strcmp(argv[i], "--n-ctx") && i + 1 < argc) n_ctx = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--prompt") && i + 1 < argc) n_prompt = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--ttft") && i + 1 < argc) n_ttft = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--gen") && i + 1 < argc) n_gen = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--hbm") && i + 1 < argc) hbm = atof(argv[++i]);
        else if (!strcmp(argv[i], "--profile")) profile = 1;
        else if (!strcmp(argv[i], "--no-pdl")) no_pdl = 1;
        else if (!strcmp(argv[i], "--parallel") && i + 1 < argc) parallel = argv[++i];
        else if (argv[i][0] != '-') path = argv[i];
        else {
            fprintf(stderr, "usage: lir-cuda-bench MODEL.gguf [--n-ctx N] [--prompt N] [--ttft N] [--gen N] [--reps N] "
                            "[--hbm B/s] [--profile] [--no-pdl] [--gpu-layers N [--tensor-split A,B,..] [--main-gpu I]] "
                            "[--parallel N,N,..]\n");
            return 2;
        }
    }
    if (use_ctx && gpu_layers == 0) gpu_layers = -1; /* --tensor-split / --main-gpu alone: everything */
    if (!path || n_prompt < 1 || n_ttft < 1 || n_gen < 1 || reps < 1 || n_prompt + 1 > n_ctx ||
        n_ttft + n_gen > n_ctx) {
        fprintf(stderr, "lir-cuda-bench: need a model and --prompt/--ttft/--gen within --n-ctx\n");
        return 2;
    }
    char err[512] = "";
    lir_model *m = NULL;
    if (lir_model_load(path, NULL, &m, err, sizeof err)) {
        fprintf(stderr, "lir-cuda-bench: %s\n", err);
        return 1;
    }
    if (parallel) { /* only the aggregate runs */
        int rc = 0;
        for (const char *p = parallel; *p && !rc;) {
            const int n = atoi(p);
            if (n < 1 || n > 1024) {
                fprintf(stderr, "lir-cuda-bench: --parallel: %d is outside [1, 1024]\n", n);
                return 2;
            }
            rc = run_parallel(m, n, gpu_layers ? gpu_layers : -1, n_ctx, n_gen, reps);
            while (*p && *p != ',') p++;
            if (*p == ',') p++;
        }
        lir_model_free(m);
        return rc;
    }
    const struct lir_hparams *hp = &m->hp;
    const int nb = n_prompt > n_ttft ? n_prompt : n_ttft;
    int last = -1;
    struct lir_cuda_params gp = { .n_ctx = n_ctx, .n_batch = nb, .progress = progress, .progress_user = &last,
                                  .no_pdl = no_pdl };
    lir_cuda *g = NULL;
    lir_context *c = NULL;
    lir_err e = { { 0 } };
    char err2[600] = "";
    double t0 = now();
    if (use_ctx) {
        struct lir_context_params cp = lir_context_params_default();
        cp.n_ctx = n_ctx;
        cp.n_batch = nb;
        cp.gpu_layers = gpu_layers;
        cp.main_gpu = main_gpu;
        cp.tensor_split = n_split ? split : NULL;
        cp.n_tensor_split = n_split;
        if (lir_context_create(m, &cp, &c, err2, sizeof err2)) {
            fprintf(stderr, "lir-cuda-bench: %s\n", err2);
            return 1;
        }
    } else if (lir_cuda_create(m, &gp, &g, &e)) {
        fprintf(stderr, "lir-cuda-bench: %s\n", e.msg);
        return 1;
    }
    const double t_upload = now() - t0;
    fprintf(stderr, "\n");
    int32_t *toks = malloc(sizeof(int32_t) * (size_t)(nb + n_gen));
    float *logits = malloc(sizeof(float) * (size_t)hp->n_vocab);
    for (int i = 0; i < nb + n_gen; i++) toks[i] = (int32_t)((i * 7919 + 13) % hp->n_vocab);
    /* warm-up: one prompt and a few steps (cuBLAS heuristics, graph capture) */
    if (eval(g, c, toks, n_prompt, 0, true, logits, err2, sizeof err2)) goto fail;
    for (int i = 0; i < 4; i++)
        if (eval(g, c, toks + i, 1, n_prompt + i, true, logits, err2, sizeof err2)) goto fail;
    double best_pp = 1e30, best_ttft = 1e30, best_tg = 1e30;
    for (int r = 0; r < reps; r++) {
        t0 = now();
        if (eval(g, c, toks, n_prompt, 0, false, NULL, err2, sizeof err2)) goto fail;
        double t = now() - t0;
        if (t < best_pp) best_pp = t;
        t0 = now();
        if (eval(g, c, toks, n_ttft, 0, true, logits, err2, sizeof err2)) goto fail;
        t = now() - t0;
        if (t < best_ttft) best_ttft = t;
        t0 = now();
        for (int i = 0; i < n_gen; i++)
            if (eval(g, c, toks + n_ttft + i, 1, n_ttft + i, true, logits, err2, sizeof err2)) goto fail;
        t = now() - t0;
        if (t < best_tg) best_tg = t;
    }
    /* bytes read per decode token (on the GPUs: their layers, the head when offloaded) */
    const int l_gpu = c ? lir__context_n_cpu_layers(c) : 0;
    const bool head_gpu = !c || gpu_layers < 0 || gpu_layers > hp->n_layer;
    double wbytes = 0;
    const struct lir_tensor *tok = &m->tok_embd;
    for (int il = l_gpu; il < hp->n_layer; il++) {
        const struct lir_layer *L = &m->layers[il];
        const struct lir_tensor *w[] = { &L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down,
                                         &L->attn_norm, &L->ffn_norm, &L->bq, &L->bk, &L->bv, &L->q_norm, &L->k_norm };
        for (size_t i = 0; i < sizeof w / sizeof *w; i++)
            if (w[i]->data) wbytes += (double)w[i]->row_size * (double)w[i]->ne1;
    }
    if (head_gpu)
        wbytes += (double)m->output.row_size * (double)m->output.ne1 + (double)tok->row_size + 4.0 * hp->n_embd;
    const double avg_ctx = n_ttft + n_gen / 2.0;
    const double kvbytes = 2.0 * (hp->n_layer - l_gpu) * avg_ctx * hp->n_head_kv * hp->head_dim * 2.0;
    const double bound = hbm / (wbytes + kvbytes);
    const double tg = n_gen / best_tg;
    const lir_cuda_chain *ch = c ? lir__context_gpu(c) : NULL;
    const lir_cuda *dev0 = g ? g : lir_cuda_chain_share(ch, 0);
    const uint64_t vram = g ? lir_cuda_vram_bytes(g) : lir_cuda_chain_vram_bytes(ch, -1);
    printf("{\"model\":\"%s\",\"device\":\"%s\",\"gpu_layers\":%d,\"gpu_shares\":%d,\"n_params\":%llu,"
           "\"weight_bytes_per_token\":%.0f,"
           "\"kv_bytes_per_token\":%.0f,\"upload_s\":%.3f,\"vram_bytes\":%llu,"
           "\"prompt_tokens\":%d,\"prompt_tok_s\":%.1f,\"ttft_tokens\":%d,\"ttft_ms\":%.2f,"
           "\"decode_tokens\":%d,\"decode_tok_s\":%.1f,\"hbm_bound_tok_s\":%.1f,\"fraction_of_hbm_bound\":%.3f}\n",
           path, lir_cuda_device_name(dev0), c ? gpu_layers : -1, g ? 1 : lir_cuda_chain_n_shares(ch),
           (unsigned long long)m->n_params, wbytes, kvbytes, t_upload, (unsigned long long)vram, n_prompt,
           n_prompt / best_pp, n_ttft, best_ttft * 1e3, n_gen, tg, bound, tg / bound);
    if (profile && g) {
        char pj[1024];
        if (lir_cuda_profile(g, 20, pj, sizeof pj, &e)) {
            fprintf(stderr, "lir-cuda-bench: %s\n", e.msg);
            return 1;
        }
        printf("%s\n", pj);
    }
    lir_cuda_free(g);
    lir_context_free(c);
    lir_model_free(m);
    free(toks);
    free(logits);
    return 0;
fail:
    fprintf(stderr, "lir-cuda-bench: %s\n", err2);
    return 1;
}
