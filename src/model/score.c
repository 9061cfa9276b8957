/* score.c — teacher-forced scoring of a token sequence: the log-likelihood of each next token
 * under the model, as llama.cpp's llama-perplexity computes it (perplexity = exp(mean NLL)).
 * Built on the public decode API: logits only for the scored rows, a bounded number of rows
 * at a time, so the memory does not grow with n_ctx * n_vocab. */
#include "model/forward.h"

#include <math.h>

/* Rows of logits held at once: about 64 MiB, at least 2 (a one-token decode takes the
 * single-token kernels, whose rounding differs from the batched ones), at most 512. */
static int32_t piece_rows(int32_t n_vocab) {
    int64_t r = ((int64_t)64 << 20) / ((int64_t)n_vocab * (int64_t)sizeof(float));
    return r < 2 ? 2 : r > 512 ? 512 : (int32_t)r;
}

double lir_logprob(const float *logits, int32_t n, lir_token token) {
    if (!logits || n < 1 || token < 0 || token >= n) return NAN;
    float mx = logits[0];
    for (int32_t i = 1; i < n; i++)
        if (logits[i] > mx) mx = logits[i];
    /* the sum in double, as llama-perplexity's log_softmax: with 10^5 terms a float sum loses
     * ~1e-3 of relative precision, which would show in the third digit of a perplexity */
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++) sum += exp((double)logits[i] - (double)mx);
    return ((double)logits[token] - (double)mx) - log(sum);
}

enum lir_status lir_context_score(lir_context *c, const lir_token *tokens, int32_t n, int32_t first, double *nll) {
    if (!c) return LIR_EINVAL;
    lir_err *e = lir__context_err(c);
    if (!tokens || !nll)
        return lir__errf(e, LIR_EINVAL, "lir_context_score: tokens and nll must not be NULL");
    if (n < 2 || first < 0 || first > n - 2)
        return lir__errf(e, LIR_EINVAL, "lir_context_score: need n >= 2 and first in [0, n-2] (n %d, first %d)", n,
                         first);
    struct lir_model_info mi;
    lir_model_get_info(lir__context_model(c), &mi);
    const int32_t nv = mi.n_vocab, rows = piece_rows(nv);
    /* the unscored prefix fills the KV cache; its one row of logits is not used. Fewer than
     * two tokens go with the scored part instead (see piece_rows). */
    int32_t i0 = first >= 2 ? first : 0;
    enum lir_status s;
    if (i0 > 0 && (s = lir_context_decode(c, tokens, i0, 0, false))) return s;
    while (i0 < n) {
        int32_t k = n - i0 <= rows ? n - i0 : rows;
        if (n - i0 - k == 1) k--; /* never leave a single token for the last piece */
        if ((s = lir_context_decode(c, tokens + i0, k, i0, true))) return s;
        for (int32_t j = 0; j < k; j++) {
            const int32_t i = i0 + j;
            if (i < first || i >= n - 1) continue;
            nll[i - first] = -lir_logprob(lir_context_logits(c, j), nv, tokens[i + 1]);
        }
        i0 += k;
    }
    return LIR_OK;
}
