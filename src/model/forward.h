/* forward.h — internal accessors of the inference context (the public API is in lir.h). */
#ifndef LIR_FORWARD_H
#define LIR_FORWARD_H

#include "lir.h"
#include "model/model.h"

int lir__cpu_count(void);
int lir__context_n_threads(const lir_context *c);
const char *lir__context_isa(const lir_context *c);
int32_t lir__context_n_ctx(const lir_context *c);
const lir_model *lir__context_model(const lir_context *c);
/* Evaluates tokens (borrowed) as a fresh sequence at positions 0..n-1 and writes every token's
 * final hidden state to hidden (borrowed, n x n_embd floats): after the output norm for decoders
 * (llama.cpp's t_embd), after the last LayerNorm for bert. Overwrites the KV cache; no logits
 * afterwards. Errors (message on the context, prefixed "lir_embed"): LIR_EINVAL (bad token,
 * n < 1), LIR_ECONTEXT (n over the context or bert's position table), LIR_EUNSUPPORTED. */
enum lir_status lir__context_hidden(lir_context *c, const lir_token *tokens, int32_t n, float *hidden);
/* The context's last-error buffer, for context functions defined outside forward.c. */
lir_err *lir__context_err(lir_context *c);

#endif
