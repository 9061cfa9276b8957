/* test_encoder_ops.c — the CPU backend's encoder (BERT) ops, run through the op table on a
 * 3-thread pool (so the row splits and barriers are exercised), against references written
 * here independently of ops.c:
 *   - layernorm: in double, within 5e-6 relative to the output scale (ops.c follows ggml_norm's
 *     float/double mix); w and b optional; in place;
 *   - gelu: lir_gelu_ggml reproduces ggml's f16 table (input and output rounded to f16, identity
 *     / zero outside (-10, 10)); checked at every f16 input against the tanh formula in double
 *     (within one f16 ulp of the output, an f16 value), and the op equals lir_gelu_ggml bit for bit;
 *   - add_row: exact;
 *   - attention_full: non-causal softmax attention in double, with grouped heads, within 2e-5
 *     absolute (values O(1)), for batch sizes around the thread split (1, 2, 5, 17, 64).
 * Shapes: several row counts and widths, odd ones included. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"

static uint64_t st = 0x9e3779b97f4a7c15ull;
static float frand(float lo, float hi) {
    st ^= st << 13, st ^= st >> 7, st ^= st << 17;
    return lo + (hi - lo) * (float)((st >> 40) & 0xffffff) / 16777216.0f;
}

/* A backend sized for up to 64 tokens, width 256, 4 heads of 64 (2 KV heads). */
static lir_cpu *make_cpu(int n_threads) {
    static struct lir_model m;
    memset(&m, 0, sizeof m);
    m.hp.n_embd = 256;
    m.hp.n_ff = 512;
    m.hp.n_head = 4;
    m.hp.n_head_kv = 2;
    m.hp.head_dim = 64;
    lir_err e = { { 0 } };
    lir_cpu *c = lir_cpu_create(&m, LIR_KV_PAD, 64, n_threads, &e);
    cr_assert_not_null(c, "lir_cpu_create: %s", e.msg);
    return c;
}

/* ---------------------------------------------------------------- layernorm */

struct ln_args {
    const float *in, *w, *b;
    float *out;
    int64_t rows;
    int32_t dim;
    float eps;
};
static void run_ln(struct lir_exec *x, const struct lir_backend_ops *B, void *arg) {
    struct ln_args *a = arg;
    B->layernorm(x, a->in, a->w, a->b, a->out, a->rows, a->dim, a->eps);
}

Test(encoder_ops, layernorm_matches_double_reference) {
    lir_cpu *cpu = make_cpu(3);
    static const int dims[] = {1, 7, 64, 255, 384};
    static const int rows[] = {1, 3, 10};
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++)
        for (size_t ri = 0; ri < sizeof rows / sizeof rows[0]; ri++)
            for (int variant = 0; variant < 3; variant++) { /* w+b, none, in place with w+b */
                const int D = dims[di], R = rows[ri];
                float *in = malloc(sizeof(float) * R * D), *out = malloc(sizeof(float) * R * D);
                float *w = malloc(sizeof(float) * D), *b = malloc(sizeof(float) * D);
                const float off = frand(-3, 3), span = frand(0.5f, 20);
                for (int i = 0; i < R * D; i++) in[i] = off + span * frand(-1, 1);
                for (int i = 0; i < D; i++) w[i] = frand(0.5f, 1.5f), b[i] = frand(-0.5f, 0.5f);
                float *src = malloc(sizeof(float) * R * D);
                memcpy(src, in, sizeof(float) * R * D);
                const bool wb = variant != 1, inplace = variant == 2;
                struct ln_args a = { in, wb ? w : NULL, wb ? b : NULL, inplace ? in : out, R, D, 1e-12f };
                lir_cpu_run(cpu, run_ln, &a);
                for (int r = 0; r < R; r++) {
                    double mean = 0, var = 0;
                    for (int i = 0; i < D; i++) mean += src[r * D + i];
                    mean /= D;
                    for (int i = 0; i < D; i++) var += (src[r * D + i] - mean) * (src[r * D + i] - mean);
                    var /= D;
                    for (int i = 0; i < D; i++) {
                        double y = (src[r * D + i] - mean) / sqrt(var + 1e-12);
                        if (wb) y = y * w[i] + b[i];
                        const float got = a.out[r * D + i];
                        cr_assert(fabs(got - y) <= 5e-6 * (1 + fabs(y)),
                                  "D=%d R=%d variant=%d row %d col %d: %g vs %g", D, R, variant, r, i, got, y);
                    }
                }
                free(in), free(out), free(w), free(b), free(src);
            }
    lir_cpu_free(cpu);
}

/* ---------------------------------------------------------------- gelu */

struct gelu_args {
    const float *in;
    float *out;
    int64_t n;
};
static void run_gelu(struct lir_exec *x, const struct lir_backend_ops *B, void *arg) {
    struct gelu_args *a = arg;
    B->gelu(x, a->in, a->out, a->n);
}

Test(encoder_ops, gelu_is_ggml_table) {
    /* every finite f16 input: the table value is the tanh GELU of that input, rounded to f16 */
    for (uint32_t h = 0; h < 0x10000; h++) {
        const float v = lir_f16_to_f32((lir_f16)h);
        if (!isfinite(v)) continue;
        const float got = lir_gelu_ggml(v);
        if (v <= -10.0f) { cr_assert_eq(got, 0.0f); continue; }
        if (v >= 10.0f) { cr_assert_eq(got, v); continue; }
        const double x = v, g = 0.5 * x * (1.0 + tanh(0.7978845608028654 * x * (1.0 + 0.044715 * x * x)));
        /* the f16 rounding of g: half an f16 ulp of |g|, plus float noise, plus subnormal f16 step */
        /* one f16 ulp of g (float tanh may round to the neighbour of double's f16 rounding), plus
         * the float cancellation in 1 + tanh(.) for negative x (ggml computes the same float
         * expression): |x|/2 times a float ulp of 1 */
        const double ulp = fmax(ldexp(fabs(g), -9), ldexp(1.0, -24)) + fabs(x) * ldexp(1.0, -23);
        cr_assert(fabs(got - g) <= ulp, "gelu(%a) = %a, expected about %a", v, got, g);
        cr_assert_eq(lir_f16_to_f32(lir_f32_to_f16(got)), got, "gelu(%a) = %a is not an f16 value", v, got);
    }
    /* outside the table */
    cr_assert_eq(lir_gelu_ggml(-11.0f), 0.0f);
    cr_assert_eq(lir_gelu_ggml(12.5f), 12.5f);
    cr_assert_eq(lir_gelu_ggml(-10.0f), 0.0f);

    lir_cpu *cpu = make_cpu(3);
    static const int lens[] = {1, 63, 64, 65, 1000, 4097};
    for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
        const int n = lens[l];
        float *in = malloc(sizeof(float) * n), *out = malloc(sizeof(float) * n);
        for (int i = 0; i < n; i++) in[i] = frand(-12, 12);
        struct gelu_args a = { in, out, n };
        lir_cpu_run(cpu, run_gelu, &a);
        for (int i = 0; i < n; i++) cr_assert_eq(out[i], lir_gelu_ggml(in[i]), "n=%d i=%d", n, i);
        a.out = in; /* in place */
        float *copy = malloc(sizeof(float) * n);
        memcpy(copy, in, sizeof(float) * n);
        lir_cpu_run(cpu, run_gelu, &a);
        for (int i = 0; i < n; i++) cr_assert_eq(in[i], lir_gelu_ggml(copy[i]), "in place n=%d i=%d", n, i);
        free(in), free(out), free(copy);
    }
    lir_cpu_free(cpu);
}

/* ---------------------------------------------------------------- add_row */

struct add_row_args {
    float *y;
    const float *v;
    int64_t rows;
    int32_t dim;
};
static void run_add_row(struct lir_exec *x, const struct lir_backend_ops *B, void *arg) {
    struct add_row_args *a = arg;
    B->add_row(x, a->y, a->v, a->rows, a->dim);
}

Test(encoder_ops, add_row_is_exact) {
    lir_cpu *cpu = make_cpu(3);
    const int R = 11, D = 37;
    float y[11 * 37], y0[11 * 37], v[37];
    for (int i = 0; i < R * D; i++) y[i] = y0[i] = frand(-5, 5);
    for (int i = 0; i < D; i++) v[i] = frand(-1, 1);
    struct add_row_args a = { y, v, R, D };
    lir_cpu_run(cpu, run_add_row, &a);
    for (int r = 0; r < R; r++)
        for (int i = 0; i < D; i++) cr_assert_eq(y[r * D + i], y0[r * D + i] + v[i]);
    lir_cpu_free(cpu);
}

/* ---------------------------------------------------------------- attention_full */

static void run_attn(struct lir_exec *x, const struct lir_backend_ops *B, void *arg) {
    B->attention_full(x, arg);
}

Test(encoder_ops, attention_full_matches_double_reference) {
    lir_cpu *cpu = make_cpu(3);
    const int H = 4, HKV = 2, HD = 64, QD = H * HD, KD = HKV * HD;
    static const int ns[] = {1, 2, 5, 17, 64};
    for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
        const int n = ns[ni];
        float *q = malloc(sizeof(float) * n * QD), *k = malloc(sizeof(float) * n * KD);
        float *v = malloc(sizeof(float) * n * KD), *out = malloc(sizeof(float) * n * QD);
        for (int i = 0; i < n * QD; i++) q[i] = frand(-2, 2);
        for (int i = 0; i < n * KD; i++) k[i] = frand(-2, 2), v[i] = frand(-1, 1);
        const float scale = 1.0f / sqrtf((float)HD);
        struct lir_attn_full_args a = { .q = q, .k = k, .v = v, .n_tok = n, .n_head = H, .n_head_kv = HKV,
                                        .head_dim = HD, .scale = scale, .out = out };
        lir_cpu_run(cpu, run_attn, &a);
        double *s = malloc(sizeof(double) * n);
        for (int t = 0; t < n; t++)
            for (int h = 0; h < H; h++) {
                const int kvh = h / (H / HKV);
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < n; j++) { /* every token sees every token: no causal mask */
                    double d = 0;
                    for (int i = 0; i < HD; i++) d += (double)q[t * QD + h * HD + i] * k[j * KD + kvh * HD + i];
                    s[j] = d * scale;
                    if (s[j] > mx) mx = s[j];
                }
                for (int j = 0; j < n; j++) sum += (s[j] = exp(s[j] - mx));
                for (int i = 0; i < HD; i++) {
                    double o = 0;
                    for (int j = 0; j < n; j++) o += s[j] / sum * v[j * KD + kvh * HD + i];
                    const float got = out[t * QD + h * HD + i];
                    cr_assert(fabs(got - o) <= 2e-5, "n=%d t=%d h=%d i=%d: %g vs %g", n, t, h, i, got, o);
                }
            }
        free(q), free(k), free(v), free(out), free(s);
    }
    lir_cpu_free(cpu);
}
