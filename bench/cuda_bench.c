/* cuda_bench.c — speed of the CUDA backend on one GPU (bench/cuda_bench.sh runs it):
 * weight upload, prompt throughput at --prompt tokens (one batch), time to first token for a
 * --ttft-token prompt (prompt evaluation + logits copied back), and batch-1 decode tok/s over
 * --gen one-token steps (CUDA graph, logits copied back each step) against the HBM bound:
 * bytes read per token (every weight matrix, norms, one embedding row, the KV rows attended)
 * over --hbm bytes/s. Prints one JSON object; --profile adds a second: the step replayed alone and
 * each kind of decode mat-vec alone (microseconds per layer, GB/s). Built only with -DLIR_CUDA=ON. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "backend/cuda/cuda.h"
#include "lir.h"

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

int main(int argc, char **argv) {
    const char *path = NULL;
    int n_ctx = 4096, n_prompt = 512, n_ttft = 256, n_gen = 128, reps = 3;
    double hbm = 4.3e12;
    int profile = 0, no_pdl = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--n-ctx") && i + 1 < argc) n_ctx = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--prompt") && i + 1 < argc) n_prompt = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--ttft") && i + 1 < argc) n_ttft = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--gen") && i + 1 < argc) n_gen = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--hbm") && i + 1 < argc) hbm = atof(argv[++i]);
        else if (!strcmp(argv[i], "--profile")) profile = 1;
        else if (!strcmp(argv[i], "--no-pdl")) no_pdl = 1;
        else if (argv[i][0] != '-') path = argv[i];
        else {
            fprintf(stderr, "usage: lir-cuda-bench MODEL.gguf [--n-ctx N] [--prompt N] [--ttft N] [--gen N] [--reps N] [--hbm B/s] [--profile] [--no-pdl]\n");
            return 2;
        }
    }
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
    const struct lir_hparams *hp = &m->hp;
    const int nb = n_prompt > n_ttft ? n_prompt : n_ttft;
    int last = -1;
    struct lir_cuda_params gp = { .n_ctx = n_ctx, .n_batch = nb, .progress = progress, .progress_user = &last,
                                  .no_pdl = no_pdl };
    lir_cuda *g = NULL;
    lir_err e = { { 0 } };
    double t0 = now();
    if (lir_cuda_create(m, &gp, &g, &e)) {
        fprintf(stderr, "lir-cuda-bench: %s\n", e.msg);
        return 1;
    }
    const double t_upload = now() - t0;
    fprintf(stderr, "\n");
    int32_t *toks = malloc(sizeof(int32_t) * (size_t)(nb + n_gen));
    float *logits = malloc(sizeof(float) * (size_t)hp->n_vocab);
    for (int i = 0; i < nb + n_gen; i++) toks[i] = (int32_t)((i * 7919 + 13) % hp->n_vocab);
    /* warm-up: one prompt and a few steps (cuBLAS heuristics, graph capture) */
    if (lir_cuda_eval(g, toks, n_prompt, 0, NULL, 1, logits, NULL, &e)) goto fail;
    for (int i = 0; i < 4; i++)
        if (lir_cuda_eval(g, toks + i, 1, n_prompt + i, NULL, 1, logits, NULL, &e)) goto fail;
    double best_pp = 1e30, best_ttft = 1e30, best_tg = 1e30;
    for (int r = 0; r < reps; r++) {
        t0 = now();
        if (lir_cuda_eval(g, toks, n_prompt, 0, NULL, 0, NULL, NULL, &e)) goto fail;
        double t = now() - t0;
        if (t < best_pp) best_pp = t;
        t0 = now();
        if (lir_cuda_eval(g, toks, n_ttft, 0, NULL, 1, logits, NULL, &e)) goto fail;
        t = now() - t0;
        if (t < best_ttft) best_ttft = t;
        t0 = now();
        for (int i = 0; i < n_gen; i++)
            if (lir_cuda_eval(g, toks + n_ttft + i, 1, n_ttft + i, NULL, 1, logits, NULL, &e)) goto fail;
        t = now() - t0;
        if (t < best_tg) best_tg = t;
    }
    /* bytes read per decode token */
    double wbytes = 0;
    const struct lir_tensor *tok = &m->tok_embd;
    for (int il = 0; il < hp->n_layer; il++) {
        const struct lir_layer *L = &m->layers[il];
        const struct lir_tensor *w[] = { &L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down,
                                         &L->attn_norm, &L->ffn_norm, &L->bq, &L->bk, &L->bv, &L->q_norm, &L->k_norm };
        for (size_t i = 0; i < sizeof w / sizeof *w; i++)
            if (w[i]->data) wbytes += (double)w[i]->row_size * (double)w[i]->ne1;
    }
    wbytes += (double)m->output.row_size * (double)m->output.ne1 + (double)tok->row_size + 4.0 * hp->n_embd;
    const double avg_ctx = n_ttft + n_gen / 2.0;
    const double kvbytes = 2.0 * hp->n_layer * avg_ctx * hp->n_head_kv * hp->head_dim * 2.0;
    const double bound = hbm / (wbytes + kvbytes);
    const double tg = n_gen / best_tg;
    printf("{\"model\":\"%s\",\"device\":\"%s\",\"n_params\":%llu,\"weight_bytes_per_token\":%.0f,"
           "\"kv_bytes_per_token\":%.0f,\"upload_s\":%.3f,\"vram_bytes\":%llu,"
           "\"prompt_tokens\":%d,\"prompt_tok_s\":%.1f,\"ttft_tokens\":%d,\"ttft_ms\":%.2f,"
           "\"decode_tokens\":%d,\"decode_tok_s\":%.1f,\"hbm_bound_tok_s\":%.1f,\"fraction_of_hbm_bound\":%.3f}\n",
           path, lir_cuda_device_name(g), (unsigned long long)m->n_params, wbytes, kvbytes, t_upload,
           (unsigned long long)lir_cuda_vram_bytes(g), n_prompt, n_prompt / best_pp, n_ttft, best_ttft * 1e3, n_gen,
           tg, bound, tg / bound);
    if (profile) {
        char pj[1024];
        if (lir_cuda_profile(g, 20, pj, sizeof pj, &e)) goto fail;
        printf("%s\n", pj);
    }
    lir_cuda_free(g);
    lir_model_free(m);
    free(toks);
    free(logits);
    return 0;
fail:
    fprintf(stderr, "lir-cuda-bench: %s\n", e.msg);
    return 1;
}
