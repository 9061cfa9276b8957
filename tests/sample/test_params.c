/* test_params.c — lir_sampling_params: the spec's defaults (§2.2, §5.2), and for every
 * parameter a value just inside its range that passes and one outside that fails with a
 * message naming the parameter and the value; contradictory inputs; finish_reason names. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include "lir.h"

Test(sample_params, defaults_are_the_spec) {
    struct lir_sampling_params p = lir_sampling_params_default();
    cr_assert_float_eq(p.temperature, 0.7f, 0);
    cr_assert_float_eq(p.top_p, 0.9f, 0);
    cr_assert_eq(p.top_k, 0); /* none */
    cr_assert_float_eq(p.repeat_penalty, 1.1f, 0);
    cr_assert_eq(p.repeat_last_n, 64);
    cr_assert_float_eq(p.frequency_penalty, 0.0f, 0);
    cr_assert_float_eq(p.presence_penalty, 0.0f, 0);
    cr_assert_float_eq(p.min_p, 0.0f, 0);     /* none */
    cr_assert_float_eq(p.typical_p, 1.0f, 0); /* none */
    cr_assert_eq(p.mirostat, 0);
    cr_assert_float_eq(p.mirostat_tau, 5.0f, 0);
    cr_assert_float_eq(p.mirostat_eta, 0.1f, 0);
    cr_assert_eq(p.seed, LIR_SEED_RANDOM);
    cr_assert_eq(p.max_tokens, 0);
    cr_assert_eq(p.n_probs, 0);
    cr_assert_eq(p.n_stop, 0);
    cr_assert_eq(p.n_logit_bias, 0);
    char msg[256] = "x";
    cr_assert_eq(lir_sampling_params_validate(&p, msg, sizeof msg), LIR_OK);
    cr_assert_str_empty(msg);
}

/* One case: set a field, expect a status and two substrings of the message. */
struct fcase {
    const char *name;
    void (*set)(struct lir_sampling_params *, double);
    double value;
    enum lir_status want;
    const char *text; /* the value as the message prints it */
};

#define SETTER(f, T) static void set_##f(struct lir_sampling_params *p, double v) { p->f = (T)v; }
SETTER(max_tokens, int32_t)
SETTER(temperature, float)
SETTER(top_p, float)
SETTER(top_k, int32_t)
SETTER(min_p, float)
SETTER(typical_p, float)
SETTER(repeat_penalty, float)
SETTER(repeat_last_n, int32_t)
SETTER(frequency_penalty, float)
SETTER(presence_penalty, float)
SETTER(mirostat, int32_t)
SETTER(mirostat_tau, float)
SETTER(mirostat_eta, float)
SETTER(n_probs, int32_t)

static const struct fcase cases[] = {
    { "max_tokens", set_max_tokens, 1, LIR_OK, NULL },
    { "max_tokens", set_max_tokens, 32768, LIR_OK, NULL },
    { "max_tokens", set_max_tokens, 32769, LIR_ERANGE, "32769" },
    { "max_tokens", set_max_tokens, -1, LIR_ERANGE, "-1" },
    { "temperature", set_temperature, 0, LIR_OK, NULL },
    { "temperature", set_temperature, 2, LIR_OK, NULL },
    { "temperature", set_temperature, 2.5, LIR_ERANGE, "2.5" },
    { "temperature", set_temperature, -0.1, LIR_ERANGE, "-0.1" },
    { "temperature", set_temperature, NAN, LIR_ERANGE, "nan" },
    { "top_p", set_top_p, 0, LIR_OK, NULL },
    { "top_p", set_top_p, 1, LIR_OK, NULL },
    { "top_p", set_top_p, 1.5, LIR_ERANGE, "1.5" },
    { "top_p", set_top_p, -0.5, LIR_ERANGE, "-0.5" },
    { "top_k", set_top_k, 1, LIR_OK, NULL },
    { "top_k", set_top_k, 100000, LIR_OK, NULL },
    { "top_k", set_top_k, -3, LIR_ERANGE, "-3" },
    { "min_p", set_min_p, 1, LIR_OK, NULL },
    { "min_p", set_min_p, 1.25, LIR_ERANGE, "1.25" },
    { "min_p", set_min_p, -0.25, LIR_ERANGE, "-0.25" },
    { "typical_p", set_typical_p, 0, LIR_OK, NULL },
    { "typical_p", set_typical_p, 2, LIR_ERANGE, "2" },
    { "typical_p", set_typical_p, -1, LIR_ERANGE, "-1" },
    { "repeat_penalty", set_repeat_penalty, 2, LIR_OK, NULL },
    { "repeat_penalty", set_repeat_penalty, 0.5, LIR_OK, NULL },
    { "repeat_penalty", set_repeat_penalty, 0, LIR_ERANGE, "0" },
    { "repeat_penalty", set_repeat_penalty, 2.25, LIR_ERANGE, "2.25" },
    { "repeat_penalty", set_repeat_penalty, -1, LIR_ERANGE, "-1" },
    { "repeat_last_n", set_repeat_last_n, -1, LIR_OK, NULL },
    { "repeat_last_n", set_repeat_last_n, 0, LIR_OK, NULL },
    { "repeat_last_n", set_repeat_last_n, -2, LIR_ERANGE, "-2" },
    { "repeat_last_n", set_repeat_last_n, 2000000, LIR_ERANGE, "2000000" },
    { "frequency_penalty", set_frequency_penalty, 2, LIR_OK, NULL },
    { "frequency_penalty", set_frequency_penalty, 2.5, LIR_ERANGE, "2.5" },
    { "frequency_penalty", set_frequency_penalty, -0.5, LIR_ERANGE, "-0.5" },
    { "presence_penalty", set_presence_penalty, 2, LIR_OK, NULL },
    { "presence_penalty", set_presence_penalty, 3, LIR_ERANGE, "3" },
    { "presence_penalty", set_presence_penalty, -2, LIR_ERANGE, "-2" },
    { "mirostat", set_mirostat, 2, LIR_OK, NULL },
    { "mirostat", set_mirostat, 3, LIR_ERANGE, "3" },
    { "mirostat", set_mirostat, -1, LIR_ERANGE, "-1" },
    { "mirostat_tau", set_mirostat_tau, 20, LIR_OK, NULL },
    { "mirostat_tau", set_mirostat_tau, 0, LIR_ERANGE, "0" },
    { "mirostat_tau", set_mirostat_tau, 25, LIR_ERANGE, "25" },
    { "mirostat_eta", set_mirostat_eta, 1, LIR_OK, NULL },
    { "mirostat_eta", set_mirostat_eta, 0, LIR_ERANGE, "0" },
    { "mirostat_eta", set_mirostat_eta, 1.5, LIR_ERANGE, "1.5" },
    { "n_probs", set_n_probs, 20, LIR_OK, NULL },
    { "n_probs", set_n_probs, 21, LIR_ERANGE, "21" },
    { "n_probs", set_n_probs, -1, LIR_ERANGE, "-1" },
};

Test(sample_params, every_field_range) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct fcase *c = &cases[i];
        struct lir_sampling_params p = lir_sampling_params_default();
        c->set(&p, c->value);
        char msg[256] = "";
        enum lir_status s = lir_sampling_params_validate(&p, msg, sizeof msg);
        cr_assert_eq(s, c->want, "%s = %g: status %d, expected %d (%s)", c->name, c->value, s, c->want, msg);
        if (c->want == LIR_OK) continue;
        cr_assert(!strncmp(msg, c->name, strlen(c->name)) && msg[strlen(c->name)] == ':',
                  "message should start with '%s:': %s", c->name, msg);
        cr_assert(strstr(msg, c->text), "message should show the value %s: %s", c->text, msg);
        cr_assert(strchr(msg, '[') || strchr(msg, '(') || strstr(msg, "not 0"),
                  "message should say what is allowed: %s", msg);
    }
}

Test(sample_params, range_message_text) {
    struct lir_sampling_params p = lir_sampling_params_default();
    p.temperature = 2.5f;
    char msg[256];
    cr_assert_eq(lir_sampling_params_validate(&p, msg, sizeof msg), LIR_ERANGE);
    cr_assert_str_eq(msg, "temperature: 2.5 is outside [0, 2]");
    p = lir_sampling_params_default();
    p.mirostat_eta = 0;
    lir_sampling_params_validate(&p, msg, sizeof msg);
    cr_assert_str_eq(msg, "mirostat_eta: 0 is outside (0, 1]");
    cr_assert_eq(lir_sampling_params_validate(&p, NULL, 0), LIR_ERANGE, "msg may be NULL");
    cr_assert_eq(lir_sampling_params_validate(NULL, msg, sizeof msg), LIR_EINVAL);
}

Test(sample_params, logit_bias) {
    struct lir_sampling_params p = lir_sampling_params_default();
    char msg[256];
    struct lir_logit_bias b[3] = { { 5, -INFINITY }, { 7, 100.0f }, { 9, -100.0f } };
    p.logit_bias = b;
    p.n_logit_bias = 3;
    cr_assert_eq(lir_sampling_params_validate(&p, msg, sizeof msg), LIR_OK, "%s", msg);
    b[1].bias = 150.0f;
    cr_assert_eq(lir_sampling_params_validate(&p, msg, sizeof msg), LIR_ERANGE);
    cr_assert(strstr(msg, "logit_bias") && strstr(msg, "150") && strstr(msg, "token 7"), "%s", msg);
    b[1].bias = INFINITY;
    cr_assert_eq(lir_sampling_params_validate(&p, msg, sizeof msg), LIR_ERANGE, "+inf is not a bias");
    b[1].bias = NAN;
    cr_assert_eq(lir_sampling_params_validate(&p, msg, sizeof msg), LIR_ERANGE);
    b[1].bias = 1.0f;
    b[2].token = 5;
    cr_assert_eq(lir_sampling_params_validate(&p, msg, sizeof msg), LIR_EINVAL);
    cr_assert(strstr(msg, "logit_bias") && strstr(msg, "token 5") && strstr(msg, "twice"), "%s", msg);
    b[2].token = -4;
    cr_assert_eq(lir_sampling_params_validate(&p, msg, sizeof msg), LIR_ERANGE);
    cr_assert(strstr(msg, "logit_bias") && strstr(msg, "-4"), "%s", msg);
    p.logit_bias = NULL;
    cr_assert_eq(lir_sampling_params_validate(&p, msg, sizeof msg), LIR_EINVAL);
    cr_assert(strstr(msg, "logit_bias"), "%s", msg);
    p.n_logit_bias = -1;
    cr_assert_eq(lir_sampling_params_validate(&p, msg, sizeof msg), LIR_ERANGE);
}

Test(sample_params, stop) {
    struct lir_sampling_params p = lir_sampling_params_default();
    char msg[256];
    const char *ok[2] = { "\n\n", "</s>" };
    p.stop = ok;
    p.n_stop = 2;
    cr_assert_eq(lir_sampling_params_validate(&p, msg, sizeof msg), LIR_OK);
    const char *empty[2] = { "x", "" };
    p.stop = empty;
    cr_assert_eq(lir_sampling_params_validate(&p, msg, sizeof msg), LIR_EINVAL);
    cr_assert(strstr(msg, "stop") && strstr(msg, "string 1") && strstr(msg, "empty"), "%s", msg);
    const char *null[1] = { NULL };
    p.stop = null;
    p.n_stop = 1;
    cr_assert_eq(lir_sampling_params_validate(&p, msg, sizeof msg), LIR_EINVAL);
    static char big[LIR_STOP_LEN_MAX + 2];
    memset(big, 'a', sizeof big - 1);
    const char *longs[1] = { big };
    p.stop = longs;
    cr_assert_eq(lir_sampling_params_validate(&p, msg, sizeof msg), LIR_ERANGE);
    cr_assert(strstr(msg, "stop") && strstr(msg, "1024"), "%s", msg);
    p.stop = ok;
    p.n_stop = LIR_STOP_MAX + 1;
    cr_assert_eq(lir_sampling_params_validate(&p, msg, sizeof msg), LIR_ERANGE);
    cr_assert(strstr(msg, "stop") && strstr(msg, "17"), "%s", msg);
    p.stop = NULL;
    p.n_stop = 1;
    cr_assert_eq(lir_sampling_params_validate(&p, msg, sizeof msg), LIR_EINVAL);
}

Test(sample_params, finish_reasons) {
    cr_assert_str_eq(lir_finish_reason_str(LIR_FINISH_STOP), "stop");
    cr_assert_str_eq(lir_finish_reason_str(LIR_FINISH_LENGTH), "length");
    cr_assert_str_eq(lir_finish_reason_str(LIR_FINISH_CANCELLED), "cancelled");
    cr_assert_str_eq(lir_finish_reason_str(LIR_FINISH_ERROR), "error");
    cr_assert_str_eq(lir_finish_reason_str((enum lir_finish_reason)42), "unknown");
    enum lir_finish_reason r;
    cr_assert_eq(lir_finish_reason_parse("cancelled", &r), LIR_OK);
    cr_assert_eq(r, LIR_FINISH_CANCELLED);
    cr_assert_eq(lir_finish_reason_parse("length", &r), LIR_OK);
    cr_assert_eq(r, LIR_FINISH_LENGTH);
    cr_assert_eq(lir_finish_reason_parse("eos", &r), LIR_EINVAL);
    cr_assert_eq(lir_finish_reason_parse(NULL, &r), LIR_EINVAL);
}
