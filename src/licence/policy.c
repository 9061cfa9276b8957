/* policy.c — the licence policy: one static table of what each tier (spec §8) unlocks, the
 * names of generation parameters, and the gates that check a licence
 * against it and say which tier would unlock what was refused. The table and the choices
 * made where the spec is silent are documented in include/lir.h, section "licences". */
#include "licence/licence.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- the table */

#define U LIR_UNLIMITED
#define F(name) [LIR_FEATURE_##name] = true

static const struct lir_tier_policy TABLE[LIR_TIER_COUNT] = {
    /* spec: "Not available" */
    [LIR_TIER_CORE] = { LIR_TIER_CORE, 0, 0, { 0 } },
    /* spec: "1 loaded model; basic generation only (Temperature, TopP); no embeddings" */
    [LIR_TIER_WRITER_PRO] = { LIR_TIER_WRITER_PRO, 1, 1, { F(INFERENCE) } },
    /* spec: "Multiple models; all generation parameters; context management; embeddings";
     * one request at a time (§1.3 #8: single-request below Enterprise) */
    [LIR_TIER_TEAMS] = { LIR_TIER_TEAMS, U, 1,
                         { F(INFERENCE), F(MULTIPLE_MODELS), F(GENERATION_PARAMETERS), F(EMBEDDINGS),
                           F(CONTEXT_MANAGEMENT) } },
    /* spec: "+ Concurrent requests (3+); performance profiling; context snapshots; advanced
     * resource management" */
    [LIR_TIER_ENTERPRISE] = { LIR_TIER_ENTERPRISE, U, U,
                              { F(INFERENCE), F(MULTIPLE_MODELS), F(GENERATION_PARAMETERS), F(EMBEDDINGS),
                                F(CONTEXT_MANAGEMENT), F(CONTEXT_SNAPSHOTS), F(CONCURRENT_REQUESTS),
                                F(PROFILING), F(RESOURCE_MANAGEMENT) } },
};

#undef F
#undef U

/* Generation parameters a request can set: the lir_sampling_params field names (the wire
 * names) plus the output-format ones. basic: allowed from WriterPro on (spec: Temperature,
 * TopP; max_tokens and stop bound the output and every client sends them). */
#define PARAM_MAP(X)                                   \
    X("max_tokens", true)                              \
    X("temperature", true)                             \
    X("top_p", true)                                   \
    X("stop", true)                                    \
    X("top_k", false)                                  \
    X("min_p", false)                                  \
    X("typical_p", false)                              \
    X("repeat_penalty", false)                         \
    X("repeat_last_n", false)                          \
    X("frequency_penalty", false)                      \
    X("presence_penalty", false)                       \
    X("mirostat", false)                               \
    X("mirostat_tau", false)                           \
    X("mirostat_eta", false)                           \
    X("seed", false)                                   \
    X("logit_bias", false)                             \
    X("n_probs", false)                                \
    X("logprobs", false)                               \
    X("grammar", false)                                \
    X("json_schema", false)                            \
    X("response_format", false)

const struct lir_tier_policy *lir__tier_row(enum lir_tier t) {
    if ((unsigned)t >= LIR_TIER_COUNT) return NULL;
    return &TABLE[t];
}

const char *lir__basic_params_list(void) { return "temperature, top_p, max_tokens, stop"; }

/* ---------------------------------------------------------------- names */

const char *lir__feature_label(enum lir_feature f) {
    switch (f) {
#define X(name, str, label) case LIR_FEATURE_##name: return label;
        LIR_FEATURE_MAP(X)
#undef X
    case LIR_FEATURE_COUNT: break;
    }
    return "unknown";
}

enum lir_status lir_tier_policy_get(enum lir_tier t, struct lir_tier_policy *out) {
    const struct lir_tier_policy *row = lir__tier_row(t);
    if (!row || !out) return LIR_EINVAL;
    *out = *row;
    return LIR_OK;
}

enum lir_tier lir_feature_min_tier(enum lir_feature f) {
    if ((unsigned)f >= LIR_FEATURE_COUNT) return LIR_TIER_COUNT;
    for (int t = 0; t < LIR_TIER_COUNT; t++)
        if (TABLE[t].features[f]) return (enum lir_tier)t;
    return LIR_TIER_COUNT;
}

enum lir_status lir_generation_param_basic(const char *name, bool *basic) {
    if (!name || !basic) return LIR_EINVAL;
#define X(str, b) if (!strcmp(name, str)) { *basic = b; return LIR_OK; }
    PARAM_MAP(X)
#undef X
    return LIR_EINVAL;
}

/* ---------------------------------------------------------------- gates */

/* Writes the message of a refusal: prefix (formatted), then "; needs the T tier or higher"
 * for feature f, then why the handle fell to Core when it did. Returns LIR_ETIER. */
static enum lir_status deny(const lir_licence *lic, enum lir_feature f, char *msg, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static enum lir_status deny(const lir_licence *lic, enum lir_feature f, char *msg, size_t n, const char *fmt, ...) {
    if (!msg || n == 0) return LIR_ETIER;
    char head[256], why[LIR_ERR_MAX + 8] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    char reason[LIR_ERR_MAX];
    if (lir_licence_status(lic, reason, sizeof reason) != LIR_OK) snprintf(why, sizeof why, " (%s)", reason);
    snprintf(msg, n, "%s; needs the %s tier or higher%s", head, lir_tier_str(lir_feature_min_tier(f)), why);
    return LIR_ETIER;
}

static enum lir_status deny_feature(const lir_licence *lic, enum lir_feature f, enum lir_tier t, char *msg,
                                    size_t n) {
    return deny(lic, f, msg, n, "%s: not in the %s tier", lir__feature_label(f), lir_tier_str(t));
}

static void ok_msg(char *msg, size_t n) {
    if (msg && n) msg[0] = '\0';
}

enum lir_status lir_licence_check(const lir_licence *lic, enum lir_feature f, char *msg, size_t msg_len) {
    ok_msg(msg, msg_len);
    if (!lic || (unsigned)f >= LIR_FEATURE_COUNT) return LIR_EINVAL;
    struct lir_tier_policy p;
    lir_licence_policy(lic, &p);
    if (p.features[f]) return LIR_OK;
    return deny_feature(lic, f, p.tier, msg, msg_len);
}

/* A numeric limit: n of something where the policy allows max. Zero means the tier has no
 * inference at all, which is the refusal to name then. */
static enum lir_status check_limit(const lir_licence *lic, enum lir_feature f, int32_t n, bool models, char *msg,
                                   size_t msg_len) {
    ok_msg(msg, msg_len);
    if (!lic || n < 1) return LIR_EINVAL;
    struct lir_tier_policy p;
    lir_licence_policy(lic, &p);
    int32_t max = models ? p.max_loaded_models : p.max_concurrent_requests;
    if (n <= max) return LIR_OK;
    if (max == 0 || !p.features[LIR_FEATURE_INFERENCE]) return deny_feature(lic, LIR_FEATURE_INFERENCE, p.tier, msg, msg_len);
    if (models)
        return deny(lic, f, msg, msg_len, "%s: the %s tier allows %d loaded model%s, %d requested",
                    lir__feature_label(f), lir_tier_str(p.tier), max, max == 1 ? "" : "s", n);
    return deny(lic, f, msg, msg_len, "%s: the %s tier allows %d request%s at a time, %d requested",
                lir__feature_label(f), lir_tier_str(p.tier), max, max == 1 ? "" : "s", n);
}

enum lir_status lir_licence_check_loaded_models(const lir_licence *lic, int32_t n, char *msg, size_t msg_len) {
    return check_limit(lic, LIR_FEATURE_MULTIPLE_MODELS, n, true, msg, msg_len);
}

enum lir_status lir_licence_check_concurrent_requests(const lir_licence *lic, int32_t n, char *msg, size_t msg_len) {
    return check_limit(lic, LIR_FEATURE_CONCURRENT_REQUESTS, n, false, msg, msg_len);
}

/* The check of one parameter name against an effective policy. */
static enum lir_status check_param(const lir_licence *lic, const struct lir_tier_policy *p, const char *name,
                                   char *msg, size_t msg_len) {
    bool basic;
    if (lir_generation_param_basic(name, &basic) != LIR_OK) {
        if (msg && msg_len) snprintf(msg, msg_len, "%.64s: unknown generation parameter", name ? name : "(null)");
        return LIR_EINVAL;
    }
    if (basic || p->features[LIR_FEATURE_GENERATION_PARAMETERS]) return LIR_OK;
    return deny(lic, LIR_FEATURE_GENERATION_PARAMETERS, msg, msg_len,
                "%s: %s (beyond %s) are not in the %s tier", name,
                lir__feature_label(LIR_FEATURE_GENERATION_PARAMETERS), lir__basic_params_list(),
                lir_tier_str(p->tier));
}

/* Gate common to both parameter checks: no inference, no parameters. */
static bool inference_denied(const lir_licence *lic, struct lir_tier_policy *p, char *msg, size_t msg_len) {
    lir_licence_policy(lic, p);
    if (p->features[LIR_FEATURE_INFERENCE]) return false;
    deny_feature(lic, LIR_FEATURE_INFERENCE, p->tier, msg, msg_len);
    return true;
}

enum lir_status lir_licence_check_params(const lir_licence *lic, const char *const *names, int32_t n, char *msg,
                                         size_t msg_len) {
    ok_msg(msg, msg_len);
    if (!lic || n < 0 || (!names && n > 0)) return LIR_EINVAL;
    struct lir_tier_policy p;
    if (inference_denied(lic, &p, msg, msg_len)) return LIR_ETIER;
    for (int32_t i = 0; i < n; i++) {
        enum lir_status s = check_param(lic, &p, names[i], msg, msg_len);
        if (s != LIR_OK) return s;
    }
    return LIR_OK;
}

/* Float fields compare by bits so that a NaN set by a client counts as set. */
static bool differs(float a, float b) { return memcmp(&a, &b, sizeof a) != 0; }

enum lir_status lir_licence_check_sampling(const lir_licence *lic, const struct lir_sampling_params *sp, char *msg,
                                           size_t msg_len) {
    ok_msg(msg, msg_len);
    if (!lic || !sp) return LIR_EINVAL;
    struct lir_tier_policy p;
    if (inference_denied(lic, &p, msg, msg_len)) return LIR_ETIER;
    const struct lir_sampling_params d = lir_sampling_params_default();
    const char *set[20];
    int32_t n = 0;
    if (sp->max_tokens != d.max_tokens) set[n++] = "max_tokens";
    if (differs(sp->temperature, d.temperature)) set[n++] = "temperature";
    if (differs(sp->top_p, d.top_p)) set[n++] = "top_p";
    if (sp->top_k != d.top_k) set[n++] = "top_k";
    if (differs(sp->min_p, d.min_p)) set[n++] = "min_p";
    if (differs(sp->typical_p, d.typical_p)) set[n++] = "typical_p";
    if (differs(sp->repeat_penalty, d.repeat_penalty)) set[n++] = "repeat_penalty";
    if (sp->repeat_last_n != d.repeat_last_n) set[n++] = "repeat_last_n";
    if (differs(sp->frequency_penalty, d.frequency_penalty)) set[n++] = "frequency_penalty";
    if (differs(sp->presence_penalty, d.presence_penalty)) set[n++] = "presence_penalty";
    if (sp->mirostat != d.mirostat) set[n++] = "mirostat";
    if (differs(sp->mirostat_tau, d.mirostat_tau)) set[n++] = "mirostat_tau";
    if (differs(sp->mirostat_eta, d.mirostat_eta)) set[n++] = "mirostat_eta";
    if (sp->seed != d.seed) set[n++] = "seed";
    if (sp->n_logit_bias > 0) set[n++] = "logit_bias";
    if (sp->n_probs != d.n_probs) set[n++] = "n_probs";
    if (sp->n_stop > 0) set[n++] = "stop";
    for (int32_t i = 0; i < n; i++) {
        enum lir_status s = check_param(lic, &p, set[i], msg, msg_len);
        if (s != LIR_OK) return s;
    }
    return LIR_OK;
}
