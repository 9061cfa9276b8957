/* cmd_quantize.c — `lir quantize`: requantize a GGUF model, as llama.cpp's llama-quantize.
 *
 *   lir quantize [options] IN OUT TYPE [THREADS]
 *     TYPE   F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M
 *            Q5_K_S Q5_K_M Q6_K (any case; Q3_K/Q4_K/Q5_K are llama-quantize's aliases of the
 *            _M mixes; the llama_ftype number works too)
 *     --allow-requantize          convert tensors that are already quantized (refused otherwise)
 *     --pure                      every quantizable tensor in TYPE's base type, no mix rules
 *     --leave-output-tensor       output.weight keeps its type
 *     --output-tensor-type T      type of output.weight (ggml names: q8_0, q6_K, f16, ...)
 *     --token-embedding-type T    type of token_embd.weight
 *     -t, --threads N             conversion threads (default: CPUs, at most 16)
 *     -q, --quiet                 no progress line, no summary
 * Progress goes to stderr when it is a terminal; the summary (sizes before/after, time) to
 * stdout. Exit 0 ok, 1 error (bad input file, output not writable, requantize refused), 2 usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lir.h"
#include "cli/cli.h"

int lir_cli_quantize(int argc, char **argv);

static const char *usage_line =
    "usage: lir quantize [--allow-requantize] [--pure] [--leave-output-tensor] [--output-tensor-type T]\n"
    "                    [--token-embedding-type T] [-t N] [-q] IN OUT TYPE [THREADS]\n";

static const char *help_text =
    "Requantizes the GGUF model IN to OUT, as llama.cpp's llama-quantize (without an imatrix):\n"
    "tensors get the types llama-quantize would give them, with the same bytes.\n"
    "\n"
    "  TYPE   F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M\n"
    "         Q5_K_S Q5_K_M Q6_K (any case; Q3_K, Q4_K, Q5_K are the _M mixes; or the number)\n"
    "  --allow-requantize          also convert tensors that are already quantized (lower quality)\n"
    "  --pure                      every quantizable tensor in TYPE's base type: no mix rules\n"
    "  --leave-output-tensor       output.weight keeps its type (bigger, better quality)\n"
    "  --output-tensor-type T      type of output.weight (f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1\n"
    "                              q2_K q3_K q4_K q5_K q6_K)\n"
    "  --token-embedding-type T    type of token_embd.weight\n"
    "  -t, --threads N             conversion threads (default: CPUs, at most 16); or THREADS\n"
    "  -q, --quiet                 no progress, no summary\n"
    "Norms and other 1-D tensors stay as they are. OUT is written as OUT.tmp, then renamed.\n";

static int usage_err(const char *fmt, const char *arg) {
    fputs("lir: ", stderr);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    fputs(usage_line, stderr);
    return 2;
}

static int32_t tensor_type_arg(const char *flag, const char *v) {
    int32_t t;
    if (!v) lir_cli_die(2, "%s needs a value", flag);
    if (lir_tensor_type_parse(v, &t))
        lir_cli_die(2, "%s: unknown tensor type '%s' (valid: f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q2_K q3_K q4_K "
                    "q5_K q6_K)", flag, v);
    return t;
}

struct progress {
    int64_t last_tensor;
    int last_pct;
};

static bool on_progress(void *user, const struct lir_quantize_progress *p) {
    struct progress *pr = user;
    int pct = p->bytes_total ? (int)(100.0 * (double)p->bytes_done / (double)p->bytes_total) : 100;
    if (p->i_tensor == pr->last_tensor && pct == pr->last_pct) return true;
    pr->last_tensor = p->i_tensor;
    pr->last_pct = pct;
    fprintf(stderr, "\r\033[K[%4lld/%4lld] %3d%%  %-40s %s -> %s", (long long)p->i_tensor + 1, (long long)p->n_tensors,
            pct, p->name, lir_tensor_type_name(p->type_in), lir_tensor_type_name(p->type_out));
    fflush(stderr);
    return true;
}

static void human(char *buf, size_t n, uint64_t bytes) {
    if (bytes >= (1ull << 30)) snprintf(buf, n, "%.2f GiB", (double)bytes / (1ull << 30));
    else snprintf(buf, n, "%.2f MiB", (double)bytes / (1ull << 20));
}

int lir_cli_quantize(int argc, char **argv) {
    struct lir_quantize_params p = lir_quantize_params_default();
    const char *pos[4] = {0};
    int n_pos = 0;
    bool quiet = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(usage_line, stdout); fputs(help_text, stdout); return 0; }
        else if (!strcmp(a, "--allow-requantize")) p.allow_requantize = true;
        else if (!strcmp(a, "--pure")) p.pure = true;
        else if (!strcmp(a, "--leave-output-tensor")) p.leave_output_tensor = true;
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) quiet = true;
        else if (!strcmp(a, "--output-tensor-type")) { p.output_tensor_type = tensor_type_arg(a, v); i++; }
        else if (!strcmp(a, "--token-embedding-type")) { p.token_embedding_type = tensor_type_arg(a, v); i++; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { p.n_threads = (int32_t)lir_cli_arg_long(a, v, 1, 64); i++; }
        else if (a[0] == '-' && a[1]) return usage_err("unknown option '%s'", a);
        else if (n_pos < 4) pos[n_pos++] = a;
        else return usage_err("unexpected argument '%s'", a);
    }
    if (n_pos < 3) return usage_err("quantize needs IN, OUT and TYPE%s", "");
    if (lir_ftype_parse(pos[2], &p.ftype)) {
        fprintf(stderr, "lir: unknown type '%s'; valid types: %s\n", pos[2], lir_ftype_names());
        return 2;
    }
    if (n_pos == 4) p.n_threads = (int32_t)lir_cli_arg_long("THREADS", pos[3], 1, 64);

    struct progress pr = {-1, -1};
    bool tty = !quiet && isatty(fileno(stderr));
    struct lir_quantize_result res;
    char err[512];
    enum lir_status s = lir_quantize_model(pos[0], pos[1], &p, tty ? on_progress : NULL, &pr, &res, err, sizeof err);
    if (tty) fputs("\r\033[K", stderr);
    if (s) {
        fprintf(stderr, "lir: %s\n", err);
        return 1;
    }
    if (!quiet) {
        char a[32], b[32];
        human(a, sizeof a, res.size_in);
        human(b, sizeof b, res.size_out);
        printf("%s (%s) -> %s (%s, %s) in %.2f s: %lld tensors, %lld converted, %lld copied",
               pos[0], a, pos[1], lir_ftype_name(p.ftype), b, res.seconds, (long long)res.n_tensors,
               (long long)res.n_converted, (long long)res.n_copied);
        if (res.n_fallback) printf(", %lld with rows that needed a fallback type", (long long)res.n_fallback);
        putchar('\n');
    }
    return 0;
}
