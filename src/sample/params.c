/* params.c — generation parameters: the spec's defaults (§2.2, §5.2), range checks that name
 * the parameter, its value and what is allowed (nothing is clamped), and the finish_reason
 * vocabulary. */
#include "sample/sample.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- finish reasons */

const char *lir_finish_reason_str(enum lir_finish_reason r) {
    switch (r) {
#define X(name, str) case LIR_FINISH_##name: return str;
        LIR_FINISH_MAP(X)
#undef X
    }
    return "unknown";
}

enum lir_status lir_finish_reason_parse(const char *s, enum lir_finish_reason *out) {
    if (!s || !out) return LIR_EINVAL;
#define X(name, str) if (!strcmp(s, str)) { *out = LIR_FINISH_##name; return LIR_OK; }
    LIR_FINISH_MAP(X)
#undef X
    return LIR_EINVAL;
}

/* ---------------------------------------------------------------- defaults */

struct lir_sampling_params lir_sampling_params_default(void) {
    return (struct lir_sampling_params){
        .max_tokens = 0,
        .temperature = 0.7f,
        .top_p = 0.9f,
        .top_k = 0,
        .min_p = 0.0f,
        .typical_p = 1.0f,
        .repeat_penalty = 1.1f,
        .repeat_last_n = 64,
        .frequency_penalty = 0.0f,
        .presence_penalty = 0.0f,
        .mirostat = 0,
        .mirostat_tau = 5.0f,
        .mirostat_eta = 0.1f,
        .seed = LIR_SEED_RANDOM,
        .logit_bias = NULL,
        .n_logit_bias = 0,
        .n_probs = 0,
        .stop = NULL,
        .n_stop = 0,
    };
}

/* ---------------------------------------------------------------- validation */

static enum lir_status fail(char *msg, size_t n, enum lir_status s, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static enum lir_status fail(char *msg, size_t n, enum lir_status s, const char *fmt, ...) {
    if (msg && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, n, fmt, ap);
        va_end(ap);
    }
    return s;
}

/* lo/hi inclusive unless the open flags say otherwise; NaN always fails. */
static bool in_range(float x, float lo, bool lo_open, float hi) {
    if (isnan(x)) return false;
    return (lo_open ? x > lo : x >= lo) && x <= hi;
}

#define CHECK_F(field, lo, lo_open, hi)                                                           \
    if (!in_range(p->field, lo, lo_open, hi))                                                    \
        return fail(msg, msg_len, LIR_ERANGE, #field ": %g is outside %s%g, %g]", (double)p->field, \
                    (lo_open) ? "(" : "[", (double)(lo), (double)(hi))

enum lir_status lir__sampling_params_check(const struct lir_sampling_params *p, int32_t n_vocab, bool spec,
                                           char *msg, size_t msg_len) {
    if (msg && msg_len) msg[0] = 0;
    if (!p) return fail(msg, msg_len, LIR_EINVAL, "sampling parameters: NULL");
    if (p->max_tokens < 0 || p->max_tokens > LIR_MAX_TOKENS_MAX)
        return fail(msg, msg_len, LIR_ERANGE, "max_tokens: %d is outside [1, %d] (0 = no limit)", p->max_tokens,
                    LIR_MAX_TOKENS_MAX);
    if (spec) {
        CHECK_F(temperature, 0.0f, false, 2.0f);
    } else if (!(p->temperature >= 0.0f && p->temperature < INFINITY)) { /* what the chain needs */
        return fail(msg, msg_len, LIR_ERANGE, "temperature: %g is not a finite number >= 0", (double)p->temperature);
    }
    CHECK_F(top_p, 0.0f, false, 1.0f);
    if (p->top_k < 0) return fail(msg, msg_len, LIR_ERANGE, "top_k: %d is negative (0 = off, else >= 1)", p->top_k);
    CHECK_F(min_p, 0.0f, false, 1.0f);
    CHECK_F(typical_p, 0.0f, false, 1.0f);
    if (p->repeat_penalty == 0.0f)
        return fail(msg, msg_len, LIR_ERANGE, "repeat_penalty: 0 is outside (0, 2] (1 = off; 0 would divide by zero)");
    CHECK_F(repeat_penalty, 0.0f, true, 2.0f);
    if (p->repeat_last_n < -1 || p->repeat_last_n > LIR_REPEAT_LAST_N_MAX)
        return fail(msg, msg_len, LIR_ERANGE, "repeat_last_n: %d is outside [-1, %d] (-1 = all, 0 = off)",
                    p->repeat_last_n, LIR_REPEAT_LAST_N_MAX);
    CHECK_F(frequency_penalty, 0.0f, false, 2.0f);
    CHECK_F(presence_penalty, 0.0f, false, 2.0f);
    if (p->mirostat < 0 || p->mirostat > 2)
        return fail(msg, msg_len, LIR_ERANGE, "mirostat: %d is not 0 (off), 1 or 2", p->mirostat);
    CHECK_F(mirostat_tau, 0.0f, true, 20.0f);
    CHECK_F(mirostat_eta, 0.0f, true, 1.0f);
    if (p->n_probs < 0 || p->n_probs > LIR_N_PROBS_MAX)
        return fail(msg, msg_len, LIR_ERANGE, "n_probs: %d is outside [0, %d]", p->n_probs, LIR_N_PROBS_MAX);

    if (p->n_logit_bias < 0)
        return fail(msg, msg_len, LIR_ERANGE, "logit_bias: count %d is negative", p->n_logit_bias);
    if (p->n_logit_bias > 0 && !p->logit_bias)
        return fail(msg, msg_len, LIR_EINVAL, "logit_bias: NULL with %d entries", p->n_logit_bias);
    for (int32_t i = 0; i < p->n_logit_bias; i++) {
        const struct lir_logit_bias *b = &p->logit_bias[i];
        if (b->token < 0 || (n_vocab > 0 && b->token >= n_vocab)) {
            if (n_vocab > 0)
                return fail(msg, msg_len, LIR_ERANGE, "logit_bias: token %d is outside [0, %d]", b->token, n_vocab - 1);
            return fail(msg, msg_len, LIR_ERANGE, "logit_bias: token %d is negative", b->token);
        }
        if (!(b->bias == -INFINITY || in_range(b->bias, -LIR_LOGIT_BIAS_ABS_MAX, false, LIR_LOGIT_BIAS_ABS_MAX)))
            return fail(msg, msg_len, LIR_ERANGE, "logit_bias: bias %g of token %d is outside [%g, %g] (or -inf to ban)",
                        (double)b->bias, b->token, -(double)LIR_LOGIT_BIAS_ABS_MAX, (double)LIR_LOGIT_BIAS_ABS_MAX);
        for (int32_t j = 0; j < i; j++) /* quadratic, but the list is short and checked once */
            if (p->logit_bias[j].token == b->token)
                return fail(msg, msg_len, LIR_EINVAL, "logit_bias: token %d is listed twice", b->token);
    }

    if (p->n_stop < 0 || p->n_stop > LIR_STOP_MAX)
        return fail(msg, msg_len, LIR_ERANGE, "stop: %d strings is outside [0, %d]", p->n_stop, LIR_STOP_MAX);
    if (p->n_stop > 0 && !p->stop) return fail(msg, msg_len, LIR_EINVAL, "stop: NULL with %d strings", p->n_stop);
    for (int32_t i = 0; i < p->n_stop; i++) {
        if (!p->stop[i]) return fail(msg, msg_len, LIR_EINVAL, "stop: string %d is NULL", i);
        size_t n = strnlen(p->stop[i], LIR_STOP_LEN_MAX + 1);
        if (n == 0) return fail(msg, msg_len, LIR_EINVAL, "stop: string %d is empty", i);
        if (n > LIR_STOP_LEN_MAX)
            return fail(msg, msg_len, LIR_ERANGE, "stop: string %d is longer than %d bytes", i, LIR_STOP_LEN_MAX);
    }
    return LIR_OK;
}

enum lir_status lir_sampling_params_validate(const struct lir_sampling_params *p, char *msg, size_t msg_len) {
    return lir__sampling_params_check(p, 0, true, msg, msg_len);
}
