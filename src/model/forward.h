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
/* The context's last-error buffer, for context functions defined outside forward.c. */
lir_err *lir__context_err(lir_context *c);

#endif
