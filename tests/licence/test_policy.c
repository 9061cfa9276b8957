/* test_policy.c — the licence policy table against spec §8, written out here independently of
 * src/licence/policy.c: every tier × every gate (features, loaded models, concurrent requests,
 * generation parameters), and the messages of refusals (feature, tier in force, tier needed). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>
#include "lir.h"

enum { CORE, WP, TEAMS, ENT, NT };
#define UNL LIR_UNLIMITED

/* spec §8:
 *   Core        Not available
 *   WriterPro   1 loaded model; basic generation only (Temperature, TopP); no embeddings
 *   Teams       Multiple models; all generation parameters; context management; embeddings
 *   Enterprise  + Concurrent requests (3+); performance profiling; context snapshots;
 *               advanced resource management
 * plus §1.3 #8: single-request below Enterprise. */
static const struct {
    const char *name;
    int inference, multiple_models, generation_parameters, embeddings, context_management, context_snapshots,
        concurrent_requests, profiling, resource_management;
    int32_t max_models, max_concurrent;
} SPEC[NT] = {
    [CORE] = { "Core", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
    [WP] = { "WriterPro", 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1 },
    [TEAMS] = { "Teams", 1, 1, 1, 1, 1, 0, 0, 0, 0, UNL, 1 },
    [ENT] = { "Enterprise", 1, 1, 1, 1, 1, 1, 1, 1, 1, UNL, UNL },
};

static int spec_has(int tier, enum lir_feature f) {
    switch (f) {
    case LIR_FEATURE_INFERENCE: return SPEC[tier].inference;
    case LIR_FEATURE_MULTIPLE_MODELS: return SPEC[tier].multiple_models;
    case LIR_FEATURE_GENERATION_PARAMETERS: return SPEC[tier].generation_parameters;
    case LIR_FEATURE_EMBEDDINGS: return SPEC[tier].embeddings;
    case LIR_FEATURE_CONTEXT_MANAGEMENT: return SPEC[tier].context_management;
    case LIR_FEATURE_CONTEXT_SNAPSHOTS: return SPEC[tier].context_snapshots;
    case LIR_FEATURE_CONCURRENT_REQUESTS: return SPEC[tier].concurrent_requests;
    case LIR_FEATURE_PROFILING: return SPEC[tier].profiling;
    case LIR_FEATURE_RESOURCE_MANAGEMENT: return SPEC[tier].resource_management;
    default: return -1;
    }
}

/* The tier that unlocks each feature, and the words a message must use for it. */
static const struct {
    const char *unlock, *label;
} FEAT[LIR_FEATURE_COUNT] = {
    [LIR_FEATURE_INFERENCE] = { "WriterPro", "inference" },
    [LIR_FEATURE_MULTIPLE_MODELS] = { "Teams", "multiple loaded models" },
    [LIR_FEATURE_GENERATION_PARAMETERS] = { "Teams", "all generation parameters" },
    [LIR_FEATURE_EMBEDDINGS] = { "Teams", "embeddings" },
    [LIR_FEATURE_CONTEXT_MANAGEMENT] = { "Teams", "context management" },
    [LIR_FEATURE_CONTEXT_SNAPSHOTS] = { "Enterprise", "context snapshots" },
    [LIR_FEATURE_CONCURRENT_REQUESTS] = { "Enterprise", "concurrent requests" },
    [LIR_FEATURE_PROFILING] = { "Enterprise", "performance profiling" },
    [LIR_FEATURE_RESOURCE_MANAGEMENT] = { "Enterprise", "advanced resource management" },
};

static lir_licence *at(int tier) {
    lir_licence *lic = NULL;
    cr_assert_eq(lir_licence_create_static((enum lir_tier)tier, &lic), LIR_OK);
    cr_assert_eq(lir_licence_tier(lic), (enum lir_tier)tier);
    return lic;
}

/* A refusal's message names the feature, the tier in force and the tier that unlocks it. */
static void expect_denial_msg(const char *msg, const char *feature, const char *tier, const char *unlock) {
    char want[96];
    cr_expect(strstr(msg, feature), "message \"%s\" should name \"%s\"", msg, feature);
    snprintf(want, sizeof want, "the %s tier", tier);
    cr_expect(strstr(msg, want), "message \"%s\" should name the tier in force (%s)", msg, tier);
    snprintf(want, sizeof want, "needs the %s tier", unlock);
    cr_expect(strstr(msg, want), "message \"%s\" should name the tier that unlocks it (%s)", msg, unlock);
}

/* ---------------------------------------------------------------- names */

Test(licence_policy, tier_and_feature_names) {
    for (int t = 0; t < NT; t++) {
        cr_expect_str_eq(lir_tier_str((enum lir_tier)t), SPEC[t].name);
        enum lir_tier p;
        cr_expect_eq(lir_tier_parse(SPEC[t].name, &p), LIR_OK);
        cr_expect_eq(p, (enum lir_tier)t);
    }
    enum lir_tier p;
    cr_expect_eq(lir_tier_parse("writerpro", &p), LIR_OK, "tier names match in any case");
    cr_expect_eq(p, LIR_TIER_WRITER_PRO);
    cr_expect_eq(lir_tier_parse("Gold", &p), LIR_EINVAL);
    cr_expect_eq(lir_tier_parse(NULL, &p), LIR_EINVAL);
    cr_expect_str_eq(lir_tier_str(LIR_TIER_COUNT), "unknown");
    cr_expect_eq(LIR_TIER_COUNT, NT);
    cr_expect_eq(LIR_TIER_LOWEST, LIR_TIER_CORE);
    cr_expect_eq(LIR_TIER_DEFAULT, LIR_TIER_ENTERPRISE, "a self-hosted runtime defaults to Enterprise");
    for (int f = 0; f < LIR_FEATURE_COUNT; f++) {
        enum lir_feature g;
        cr_expect_eq(lir_feature_parse(lir_feature_str((enum lir_feature)f), &g), LIR_OK);
        cr_expect_eq(g, (enum lir_feature)f);
        cr_expect_str_eq(lir_tier_str(lir_feature_min_tier((enum lir_feature)f)), FEAT[f].unlock, "feature %s",
                         lir_feature_str((enum lir_feature)f));
    }
    enum lir_feature g;
    cr_expect_eq(lir_feature_parse("teleportation", &g), LIR_EINVAL);
    cr_expect_eq(lir_feature_min_tier(LIR_FEATURE_COUNT), LIR_TIER_COUNT);
}

Test(licence_policy, status_codes_appended) {
    cr_expect_eq(LIR_EINTERNAL, -10, "existing codes keep their numbers");
    cr_expect_eq(LIR_ETIER, -11);
    cr_expect_eq(LIR_ELICENCE, -12);
    cr_expect_str_eq(lir_status_name(LIR_ETIER), "LIR_ETIER");
    cr_expect_str_eq(lir_status_str(LIR_ETIER), "feature not in licence tier");
    cr_expect_str_eq(lir_status_name(LIR_ELICENCE), "LIR_ELICENCE");
}

Test(licence_policy, table_rows_match_spec) {
    for (int t = 0; t < NT; t++) {
        struct lir_tier_policy p;
        cr_assert_eq(lir_tier_policy_get((enum lir_tier)t, &p), LIR_OK);
        cr_expect_eq(p.tier, (enum lir_tier)t);
        cr_expect_eq(p.max_loaded_models, SPEC[t].max_models, "%s max loaded models", SPEC[t].name);
        cr_expect_eq(p.max_concurrent_requests, SPEC[t].max_concurrent, "%s max concurrent", SPEC[t].name);
        for (int f = 0; f < LIR_FEATURE_COUNT; f++)
            cr_expect_eq(p.features[f], spec_has(t, (enum lir_feature)f) == 1, "%s × %s", SPEC[t].name,
                         lir_feature_str((enum lir_feature)f));
    }
    struct lir_tier_policy p;
    cr_expect_eq(lir_tier_policy_get(LIR_TIER_COUNT, &p), LIR_EINVAL);
    cr_expect_eq(lir_tier_policy_get(LIR_TIER_TEAMS, NULL), LIR_EINVAL);
}

/* ---------------------------------------------------------------- tier × feature gate */

struct gate_case {
    int tier;
    int feature;
};

ParameterizedTestParameters(licence_policy, feature_gate) {
    static struct gate_case cases[NT * LIR_FEATURE_COUNT];
    size_t n = 0;
    for (int t = 0; t < NT; t++)
        for (int f = 0; f < LIR_FEATURE_COUNT; f++) cases[n++] = (struct gate_case){ t, f };
    return cr_make_param_array(struct gate_case, cases, n);
}

ParameterizedTest(struct gate_case *c, licence_policy, feature_gate) {
    lir_licence *lic = at(c->tier);
    char msg[512] = "junk";
    enum lir_status s = lir_licence_check(lic, (enum lir_feature)c->feature, msg, sizeof msg);
    if (spec_has(c->tier, (enum lir_feature)c->feature)) {
        cr_expect_eq(s, LIR_OK, "%s should have %s: %s", SPEC[c->tier].name, FEAT[c->feature].label, msg);
        cr_expect_str_eq(msg, "");
    } else {
        cr_expect_eq(s, LIR_ETIER, "%s should not have %s", SPEC[c->tier].name, FEAT[c->feature].label);
        expect_denial_msg(msg, FEAT[c->feature].label, SPEC[c->tier].name, FEAT[c->feature].unlock);
        cr_expect(!strstr(msg, "licence:"), "a static licence has no licence problem to report: %s", msg);
    }
    lir_licence_free(lic);
}

Test(licence_policy, feature_gate_bad_arguments) {
    lir_licence *lic = at(ENT);
    cr_expect_eq(lir_licence_check(lic, LIR_FEATURE_COUNT, NULL, 0), LIR_EINVAL);
    cr_expect_eq(lir_licence_check(NULL, LIR_FEATURE_EMBEDDINGS, NULL, 0), LIR_EINVAL);
    cr_expect_eq(lir_licence_check(lic, LIR_FEATURE_EMBEDDINGS, NULL, 0), LIR_OK, "msg may be NULL");
    lir_licence_free(lic);
    lic = at(WP);
    cr_expect_eq(lir_licence_check(lic, LIR_FEATURE_EMBEDDINGS, NULL, 0), LIR_ETIER, "msg may be NULL");
    char tiny[8];
    cr_expect_eq(lir_licence_check(lic, LIR_FEATURE_EMBEDDINGS, tiny, sizeof tiny), LIR_ETIER);
    cr_expect_eq(strlen(tiny), sizeof tiny - 1, "truncated, terminated");
    lir_licence_free(lic);
    lir_licence_free(NULL);
    cr_expect_eq(lir_licence_create_static(LIR_TIER_COUNT, &lic), LIR_EINVAL);
    cr_expect_null(lic);
    cr_expect_eq(lir_licence_create_static(LIR_TIER_TEAMS, NULL), LIR_EINVAL);
}

/* ---------------------------------------------------------------- numeric limits */

Test(licence_policy, loaded_models_every_tier) {
    static const int32_t counts[] = { 1, 2, 3, 16, 1000 };
    for (int t = 0; t < NT; t++) {
        lir_licence *lic = at(t);
        for (size_t i = 0; i < sizeof counts / sizeof *counts; i++) {
            int32_t n = counts[i];
            char msg[512];
            enum lir_status s = lir_licence_check_loaded_models(lic, n, msg, sizeof msg);
            if (n <= SPEC[t].max_models) {
                cr_expect_eq(s, LIR_OK, "%s, %d models: %s", SPEC[t].name, n, msg);
            } else if (SPEC[t].max_models == 0) {
                cr_expect_eq(s, LIR_ETIER, "%s, %d models", SPEC[t].name, n);
                expect_denial_msg(msg, "inference", SPEC[t].name, "WriterPro");
            } else {
                cr_expect_eq(s, LIR_ETIER, "%s, %d models", SPEC[t].name, n);
                expect_denial_msg(msg, "multiple loaded models", SPEC[t].name, "Teams");
                cr_expect(strstr(msg, "allows 1 loaded model"), "%s", msg);
            }
        }
        cr_expect_eq(lir_licence_check_loaded_models(lic, 0, NULL, 0), LIR_EINVAL);
        lir_licence_free(lic);
    }
}

Test(licence_policy, concurrent_requests_every_tier) {
    static const int32_t counts[] = { 1, 2, 3, 8, 256 };
    for (int t = 0; t < NT; t++) {
        lir_licence *lic = at(t);
        for (size_t i = 0; i < sizeof counts / sizeof *counts; i++) {
            int32_t n = counts[i];
            char msg[512];
            enum lir_status s = lir_licence_check_concurrent_requests(lic, n, msg, sizeof msg);
            if (n <= SPEC[t].max_concurrent) {
                cr_expect_eq(s, LIR_OK, "%s, %d requests: %s", SPEC[t].name, n, msg);
            } else if (SPEC[t].max_concurrent == 0) {
                cr_expect_eq(s, LIR_ETIER);
                expect_denial_msg(msg, "inference", SPEC[t].name, "WriterPro");
            } else {
                cr_expect_eq(s, LIR_ETIER, "%s, %d requests", SPEC[t].name, n);
                expect_denial_msg(msg, "concurrent requests", SPEC[t].name, "Enterprise");
            }
        }
        cr_expect_eq(lir_licence_check_concurrent_requests(lic, -1, NULL, 0), LIR_EINVAL);
        lir_licence_free(lic);
    }
    /* spec: Enterprise "3+" */
    lir_licence *lic = at(ENT);
    cr_expect_eq(lir_licence_check_concurrent_requests(lic, 3, NULL, 0), LIR_OK);
    lir_licence_free(lic);
}

/* ---------------------------------------------------------------- generation parameters */

static const char *const PARAMS[] = { "max_tokens", "temperature", "top_p", "stop", "top_k", "min_p", "typical_p",
                                      "repeat_penalty", "repeat_last_n", "frequency_penalty", "presence_penalty",
                                      "mirostat", "mirostat_tau", "mirostat_eta", "seed", "logit_bias", "n_probs",
                                      "logprobs", "grammar", "json_schema", "response_format" };
/* spec: "basic generation only (Temperature, TopP)"; max_tokens and stop bound the output */
static bool spec_basic(const char *p) {
    return !strcmp(p, "temperature") || !strcmp(p, "top_p") || !strcmp(p, "max_tokens") || !strcmp(p, "stop");
}

Test(licence_policy, generation_params_every_tier) {
    for (int t = 0; t < NT; t++) {
        lir_licence *lic = at(t);
        for (size_t i = 0; i < sizeof PARAMS / sizeof *PARAMS; i++) {
            const char *name = PARAMS[i];
            bool basic;
            cr_assert_eq(lir_generation_param_basic(name, &basic), LIR_OK, "%s", name);
            cr_expect_eq(basic, spec_basic(name), "%s", name);
            char msg[512];
            enum lir_status s = lir_licence_check_params(lic, &name, 1, msg, sizeof msg);
            if (t == CORE) {
                cr_expect_eq(s, LIR_ETIER);
                expect_denial_msg(msg, "inference", "Core", "WriterPro");
            } else if (t >= TEAMS || spec_basic(name)) {
                cr_expect_eq(s, LIR_OK, "%s × %s: %s", SPEC[t].name, name, msg);
            } else {
                cr_expect_eq(s, LIR_ETIER, "%s × %s", SPEC[t].name, name);
                expect_denial_msg(msg, "all generation parameters", SPEC[t].name, "Teams");
                cr_expect(!strncmp(msg, name, strlen(name)) && msg[strlen(name)] == ':',
                          "message starts with the parameter: %s", msg);
            }
        }
        /* no parameters at all: fine wherever there is inference */
        cr_expect_eq(lir_licence_check_params(lic, NULL, 0, NULL, 0), t == CORE ? LIR_ETIER : LIR_OK);
        lir_licence_free(lic);
    }
}

Test(licence_policy, generation_params_first_disallowed_named) {
    lir_licence *lic = at(WP);
    const char *names[] = { "temperature", "top_p", "mirostat", "top_k" };
    char msg[512];
    cr_expect_eq(lir_licence_check_params(lic, names, 4, msg, sizeof msg), LIR_ETIER);
    cr_expect(!strncmp(msg, "mirostat:", 9), "the first disallowed one: %s", msg);
    cr_expect_eq(lir_licence_check_params(lic, names, 2, msg, sizeof msg), LIR_OK);
    const char *bad[] = { "temperature", "warp_factor" };
    cr_expect_eq(lir_licence_check_params(lic, bad, 2, msg, sizeof msg), LIR_EINVAL);
    cr_expect(strstr(msg, "warp_factor") && strstr(msg, "unknown generation parameter"), "%s", msg);
    cr_expect_eq(lir_licence_check_params(lic, NULL, 1, NULL, 0), LIR_EINVAL);
    bool b;
    cr_expect_eq(lir_generation_param_basic("warp_factor", &b), LIR_EINVAL);
    lir_licence_free(lic);
}

Test(licence_policy, sampling_params_against_defaults) {
    lir_licence *wp = at(WP), *teams = at(TEAMS), *core = at(CORE);
    char msg[512];
    struct lir_sampling_params p = lir_sampling_params_default();
    cr_expect_eq(lir_licence_check_sampling(wp, &p, msg, sizeof msg), LIR_OK, "defaults: %s", msg);
    cr_expect_eq(lir_licence_check_sampling(core, &p, msg, sizeof msg), LIR_ETIER);
    expect_denial_msg(msg, "inference", "Core", "WriterPro");
    p.temperature = 0.2f, p.top_p = 0.5f, p.max_tokens = 64;
    const char *stops[] = { "\n\n" };
    p.stop = stops, p.n_stop = 1;
    cr_expect_eq(lir_licence_check_sampling(wp, &p, msg, sizeof msg), LIR_OK, "basic ones: %s", msg);

    /* each advanced field set alone is refused on WriterPro, named, and allowed on Teams */
    static const struct lir_logit_bias lb[] = { { 3, -1.0f } };
    for (int k = 0; k < 15; k++) {
        struct lir_sampling_params q = lir_sampling_params_default();
        const char *name = NULL;
        switch (k) {
        case 0: q.top_k = 40, name = "top_k"; break;
        case 1: q.min_p = 0.05f, name = "min_p"; break;
        case 2: q.typical_p = 0.9f, name = "typical_p"; break;
        case 3: q.repeat_penalty = 1.3f, name = "repeat_penalty"; break;
        case 4: q.repeat_last_n = 128, name = "repeat_last_n"; break;
        case 5: q.frequency_penalty = 0.5f, name = "frequency_penalty"; break;
        case 6: q.presence_penalty = 0.5f, name = "presence_penalty"; break;
        case 7: q.mirostat = 2, name = "mirostat"; break;
        case 8: q.mirostat_tau = 3.0f, name = "mirostat_tau"; break;
        case 9: q.mirostat_eta = 0.2f, name = "mirostat_eta"; break;
        case 10: q.seed = 42, name = "seed"; break;
        case 11: q.logit_bias = lb, q.n_logit_bias = 1, name = "logit_bias"; break;
        case 12: q.n_probs = 5, name = "n_probs"; break;
        case 13: q.temperature = 1.0f, q.top_k = 10, name = "top_k"; break;
        case 14: q.min_p = 0.1f, q.seed = 1, name = "min_p"; break; /* struct order: first one named */
        }
        cr_expect_eq(lir_licence_check_sampling(wp, &q, msg, sizeof msg), LIR_ETIER, "%s", name);
        cr_expect(!strncmp(msg, name, strlen(name)) && msg[strlen(name)] == ':', "names %s: %s", name, msg);
        expect_denial_msg(msg, "all generation parameters", "WriterPro", "Teams");
        cr_expect_eq(lir_licence_check_sampling(teams, &q, msg, sizeof msg), LIR_OK, "%s on Teams: %s", name, msg);
    }
    cr_expect_eq(lir_licence_check_sampling(wp, NULL, NULL, 0), LIR_EINVAL);
    lir_licence_free(wp), lir_licence_free(teams), lir_licence_free(core);
}
