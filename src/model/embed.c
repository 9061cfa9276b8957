/* embed.c — embeddings: an input's final hidden states (forward.c, lir__context_hidden)
 * pooled into one vector — mean, first token (CLS) or last token, as llama.cpp's
 * build_pooling — and optionally scaled to unit length (llama.cpp's common_embd_normalize with
 * the Euclidean norm). A model without a pooling type (a chat model) is pooled by mean. */
#include "model/forward.h"
#include "tokenizer/tokenizer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct lir_embed_params lir_embed_params_default(void) {
    struct lir_embed_params p = { .pooling = LIR_POOLING_MODEL, .normalize = true };
    return p;
}

int32_t lir_model_n_embd(const lir_model *m) { return m ? m->hp.n_embd : 0; }

enum lir_pooling lir_model_pooling(const lir_model *m) {
    return m ? (enum lir_pooling)m->hp.pooling : LIR_POOLING_NONE;
}

/* out = mean over rows of h (n rows of E): each product with 1/n, summed in double (llama.cpp:
 * a matmul of the transposed states with a column of 1/n). */
static void pool_mean(const float *h, int32_t n, int32_t E, float *out) {
    const float w = 1.0f / (float)n;
    for (int32_t e = 0; e < E; e++) {
        double s = 0.0;
        for (int32_t t = 0; t < n; t++) s += (double)(h[(size_t)t * E + e] * w);
        out[e] = (float)s;
    }
}

static void normalize_l2(float *v, int32_t E) {
    double s = 0.0;
    for (int32_t e = 0; e < E; e++) s += (double)v[e] * v[e];
    const double norm = sqrt(s);
    const float scale = norm > 0.0 ? (float)(1.0 / norm) : 0.0f;
    for (int32_t e = 0; e < E; e++) v[e] *= scale;
}

enum lir_status lir_embed_tokens(lir_context *c, const lir_token *tokens, int32_t n,
                                 const struct lir_embed_params *params, float *out, int32_t dim) {
    if (!c) return LIR_EINVAL;
    lir_err *e = lir__context_err(c);
    const lir_model *m = lir__context_model(c);
    const struct lir_embed_params p = params ? *params : lir_embed_params_default();
    const int32_t E = m->hp.n_embd;
    if (!out) return lir__errf(e, LIR_EINVAL, "lir_embed: out must not be NULL");
    if (dim != E) return lir__errf(e, LIR_EINVAL, "lir_embed: dim %d != the model's embedding width %d", dim, E);
    enum lir_pooling pool = p.pooling;
    if (pool < LIR_POOLING_MODEL || pool > LIR_POOLING_LAST)
        return lir__errf(e, LIR_EINVAL, "lir_embed: unknown pooling type %d", (int)pool);
    if (pool == LIR_POOLING_MODEL || pool == LIR_POOLING_NONE) pool = (enum lir_pooling)m->hp.pooling;
    if (pool == LIR_POOLING_NONE || pool == LIR_POOLING_MODEL) pool = LIR_POOLING_MEAN; /* chat models */
    if (!tokens || n < 1) return lir__errf(e, LIR_EINVAL, "lir_embed: need at least one token (got %d)", n);
    float *h = malloc((size_t)n * (size_t)E * sizeof(float));
    if (!h) return lir__errf(e, LIR_ENOMEM, "lir_embed: out of memory for %d x %d hidden states", n, E);
    enum lir_status s = lir__context_hidden(c, tokens, n, h);
    if (s == LIR_OK) {
        if (pool == LIR_POOLING_MEAN) pool_mean(h, n, E, out);
        else memcpy(out, h + (size_t)(pool == LIR_POOLING_CLS ? 0 : n - 1) * E, sizeof(float) * (size_t)E);
        if (p.normalize) normalize_l2(out, E);
    }
    free(h);
    return s;
}

enum lir_status lir_embed(lir_context *c, const char *text, size_t len, const struct lir_embed_params *params,
                          float *out, int32_t dim, int32_t *n_tokens) {
    if (!c) return LIR_EINVAL;
    lir_err *e = lir__context_err(c);
    const lir_model *m = lir__context_model(c);
    if (!text && len > 0) return lir__errf(e, LIR_EINVAL, "lir_embed: text is NULL");
    int32_t cap = 64, n = 0;
    lir_token *tok = NULL;
    enum lir_status s;
    for (;;) {
        lir_token *t2 = realloc(tok, (size_t)cap * sizeof *tok);
        if (!t2) { free(tok); return lir__errf(e, LIR_ENOMEM, "lir_embed: out of memory for %d tokens", cap); }
        tok = t2;
        s = lir_tokenize(m, text ? text : "", len, true, false, tok, cap, &n);
        if (s != LIR_ERANGE) break;
        cap = n;
    }
    if (s) {
        free(tok);
        return lir__errf(e, s, "lir_embed: %s", s == LIR_ENOMEM ? "out of memory while tokenizing"
                                                                 : lir_model_vocab_error(m));
    }
    if (n_tokens) *n_tokens = n;
    s = lir_embed_tokens(c, tok, n, params, out, dim);
    free(tok);
    return s;
}
