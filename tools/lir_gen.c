/* lir_gen.c — `lir-gen`: writes a random-weight GGUF model (llama family or bert).
 *
 *   lir-gen [--arch llama|qwen2|qwen3|bert|nomic-bert] [--pooling none|mean|cls|last] [--preset NAME] [--type TYPE] [--seed N] -o PATH
 *           [--n-embd N] [--n-layer N] [--n-head N] [--n-head-kv N] [--head-dim N] [--n-ff N]
 *           [--n-vocab N] [--n-ctx N] [--rope-base F] [--rms-eps F] [--tied | --untied]
 *           [--rope-scaling llama3|none] [--threads N] [-v]
 *
 * A thin CLI over src/gguf/gguf_gen.c: presets first, then explicit overrides. Prints
 * nothing but errors unless -v. Exit 0 on success, 1 on a write error, 2 on bad usage. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf_gen.h"
#include "quant/quant.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: lir-gen [options] -o PATH\n"
            "  --arch A                     llama (default), qwen2, qwen3, bert, nomic-bert (real presets\n"
            "                               set their own)\n"
            "  --pooling none|mean|cls|last writes <arch>.pooling_type (embeddings; bert default mean,\n"
            "                               others: no key)\n"
            "  --preset NAME                tiny (default), llama-3.2-1b, llama-3-8b, qwen2.5-0.5b,\n"
            "                               qwen2.5-7b, qwen3-0.6b, qwen3-8b\n"
            "  --type T                     F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K Q4_K Q5_K\n"
            "                               Q6_K Q4_K_M Q5_K_M (default F32)\n"
            "  --seed N                     random seed (default 1)\n"
            "  --n-embd --n-layer --n-head --n-head-kv --head-dim --n-ff --n-vocab --n-ctx N\n"
            "  --rope-base F  --rms-eps F   --tied | --untied   --rope-scaling llama3|none\n"
            "                               (bert: --rms-eps is the LayerNorm epsilon)\n"
            "  --threads N                  quantization threads (default 2)\n"
            "  -v                           print a summary\n");
}

static int bad(const char *opt, const char *val) {
    fprintf(stderr, "lir-gen: bad value '%s' for %s\n", val ? val : "(missing)", opt);
    return 2;
}

static bool parse_i64(const char *s, int64_t *out) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v <= 0) return false;
    *out = v;
    return true;
}

static bool parse_f32(const char *s, float *out) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || *end || !(v > 0)) return false;
    *out = v;
    return true;
}

int main(int argc, char **argv) {
    const char *preset = "tiny", *arch_s = NULL, *type_s = "F32", *out = NULL;
    bool verbose = false;
    /* first pass: preset and arch, which the overrides apply on top of */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--preset") == 0 && i + 1 < argc) preset = argv[++i];
        else if (strcmp(argv[i], "--arch") == 0 && i + 1 < argc) arch_s = argv[++i];
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) { usage(stdout); return 0; }
    }
    enum lir_gen_arch arch = LIR_GEN_LLAMA;
    if (arch_s && !lir_gen_parse_arch(arch_s, &arch)) return bad("--arch", arch_s);
    struct lir_gen_params p;
    lir_err e = {{0}};
    if (lir_gen_preset(&p, preset, arch, &e) != LIR_OK) { fprintf(stderr, "lir-gen: %s\n", e.msg); return 2; }
    if (arch_s && p.arch != arch) {
        fprintf(stderr, "lir-gen: preset '%s' is architecture %s, not %s\n", preset, lir_gen_arch_name(p.arch), arch_s);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t *iv = NULL;
        if (strcmp(o, "--preset") == 0 || strcmp(o, "--arch") == 0) { i++; continue; }
        if (strcmp(o, "-v") == 0) { verbose = true; continue; }
        if (strcmp(o, "--tied") == 0) { p.tied = true; continue; }
        if (strcmp(o, "--untied") == 0) { p.tied = false; continue; }
        if (strcmp(o, "-o") == 0 || strcmp(o, "--output") == 0) { if (!v) return bad(o, v); out = v; i++; continue; }
        if (strcmp(o, "--type") == 0) { if (!v) return bad(o, v); type_s = v; i++; continue; }
        if (strcmp(o, "--seed") == 0) {
            char *end;
            if (!v || !*v) return bad(o, v);
            errno = 0;
            p.seed = strtoull(v, &end, 0);
            if (errno || *end) return bad(o, v);
            i++;
            continue;
        }
        if (strcmp(o, "--rope-scaling") == 0) {
            if (v && strcmp(v, "llama3") == 0) p.rope_llama3 = true;
            else if (v && strcmp(v, "none") == 0) p.rope_llama3 = false;
            else return bad(o, v);
            i++;
            continue;
        }
        if (strcmp(o, "--pooling") == 0) { if (!lir_gen_parse_pooling(v, &p.pooling)) return bad(o, v); i++; continue; }
        if (strcmp(o, "--rope-base") == 0) { if (!parse_f32(v, &p.rope_base)) return bad(o, v); i++; continue; }
        if (strcmp(o, "--rms-eps") == 0) { if (!parse_f32(v, &p.rms_eps)) return bad(o, v); i++; continue; }
        if (strcmp(o, "--threads") == 0) {
            int64_t t;
            if (!parse_i64(v, &t) || t > 64) return bad(o, v);
            p.n_threads = (int)t;
            i++;
            continue;
        }
        if (strcmp(o, "--n-embd") == 0) iv = &p.n_embd;
        else if (strcmp(o, "--n-layer") == 0) iv = &p.n_layer;
        else if (strcmp(o, "--n-head") == 0) iv = &p.n_head;
        else if (strcmp(o, "--n-head-kv") == 0) iv = &p.n_head_kv;
        else if (strcmp(o, "--head-dim") == 0) iv = &p.head_dim;
        else if (strcmp(o, "--n-ff") == 0) iv = &p.n_ff;
        else if (strcmp(o, "--n-vocab") == 0) iv = &p.n_vocab;
        else if (strcmp(o, "--n-ctx") == 0) iv = &p.n_ctx;
        else {
            fprintf(stderr, "lir-gen: unknown option '%s'\n", o);
            usage(stderr);
            return 2;
        }
        if (!parse_i64(v, iv)) return bad(o, v);
        i++;
    }
    /* --n-embd/--n-head without --head-dim: keep head_dim = n_embd / n_head for llama and
     * qwen2 (their GGUFs carry no key_length), as the shapes of those families do */
    bool hd_given = false, shape_given = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--head-dim") == 0) hd_given = true;
        if (strcmp(argv[i], "--n-embd") == 0 || strcmp(argv[i], "--n-head") == 0) shape_given = true;
    }
    if (shape_given && !hd_given) {
        if (p.n_embd % p.n_head != 0) {
            fprintf(stderr, "lir-gen: n_embd %" PRId64 " is not a multiple of n_head %" PRId64 "; give --head-dim\n",
                    p.n_embd, p.n_head);
            return 2;
        }
        p.head_dim = p.n_embd / p.n_head;
    }
    if (p.arch >= LIR_GEN_BERT) p.n_head_kv = p.n_head; /* no grouped-query attention in BERT */
    if (!lir_gen_parse_type(type_s, &p)) return bad("--type", type_s);
    if (!out) { fprintf(stderr, "lir-gen: -o PATH is required\n"); usage(stderr); return 2; }
    uint64_t t0 = lir__now_ns();
    enum lir_status s = lir_gen_write(&p, out, &e);
    if (s != LIR_OK) { fprintf(stderr, "lir-gen: %s\n", e.msg); return s == LIR_EINVAL ? 2 : 1; }
    if (verbose)
        fprintf(stderr, "lir-gen: wrote %s (%s, %s%s, n_embd %" PRId64 ", n_layer %" PRId64 ", n_head %" PRId64 "/%" PRId64
                ", head_dim %" PRId64 ", n_ff %" PRId64 ", n_vocab %" PRId64 "%s%s, seed %" PRIu64 ") in %.1f s\n",
                out, lir_gen_arch_name(p.arch), lir_type_name(p.type), p.mix_m ? " _M mix" : "", p.n_embd, p.n_layer,
                p.n_head, p.n_head_kv, p.head_dim, p.n_ff, p.n_vocab, p.tied ? ", tied" : "",
                p.rope_llama3 ? ", llama3 rope" : "", p.seed, (double)(lir__now_ns() - t0) / 1e9);
    return 0;
}
