/* test_profiler.c — the performance profiler: percentiles and standard deviation on known data
 * (numpy's linear interpolation), per-model aggregates and the rolling window, JSON/CSV export,
 * the tier gate, and the accuracy of the recorded times against the client's own stopwatch
 * around a streamed request on the default model (within ±5%). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "lir.h"
#include "profiler/profiler.h"

Test(profiler, percentiles_known_data) {
    double v[100];
    for (int i = 0; i < 100; i++) v[(i * 37) % 100] = i + 1; /* 1..100, shuffled */
    struct lir_percentiles p;
    cr_assert_eq(lir_percentiles_compute(v, 100, &p), LIR_OK);
    cr_assert_eq(p.n, 100);
    cr_assert_float_eq(p.min, 1.0, 0);
    cr_assert_float_eq(p.max, 100.0, 0);
    cr_assert_float_eq(p.mean, 50.5, 1e-12);
    /* numpy.percentile(range(1, 101), [50, 95, 99]) = 50.5, 95.05, 99.01; np.std(ddof=1) = 29.011491975882016 */
    cr_assert_float_eq(p.p50, 50.5, 1e-9);
    cr_assert_float_eq(p.p95, 95.05, 1e-9);
    cr_assert_float_eq(p.p99, 99.01, 1e-9);
    cr_assert_float_eq(p.stddev, 29.011491975882016, 1e-9);
    cr_assert_float_eq(v[0], 1.0, 0, "the input is not sorted in place");

    const double w[] = { 10, 2, 7, 4 }; /* sorted 2 4 7 10: p50 = 5.5, p95 = 7 + 0.85*3 = 9.55 */
    cr_assert_eq(lir_percentiles_compute(w, 4, &p), LIR_OK);
    cr_assert_float_eq(p.p50, 5.5, 1e-12);
    cr_assert_float_eq(p.p95, 9.55, 1e-12);
    cr_assert_float_eq(p.p99, 9.91, 1e-12);
    cr_assert_float_eq(p.stddev, sqrt(((10 - 5.75) * (10 - 5.75) + (2 - 5.75) * (2 - 5.75) + (7 - 5.75) * (7 - 5.75) +
                                       (4 - 5.75) * (4 - 5.75)) / 3.0), 1e-12);
    const double one = 3.5;
    cr_assert_eq(lir_percentiles_compute(&one, 1, &p), LIR_OK);
    cr_assert(p.p50 == 3.5 && p.p99 == 3.5 && p.stddev == 0.0 && p.n == 1);
    cr_assert_eq(lir_percentiles_compute(NULL, 0, &p), LIR_OK);
    cr_assert_eq(p.n, 0);
    cr_assert_eq(lir_percentiles_compute(NULL, 3, &p), LIR_EINVAL);
    cr_assert_eq(lir_percentiles_compute(w, -1, &p), LIR_EINVAL);
}

static struct lir_request_record rec(const char *id, const char *name, int64_t ts, double total, double ttft, float tps,
                                     int32_t pt, int32_t ct) {
    struct lir_request_record r;
    memset(&r, 0, sizeof r);
    r.timestamp_ms = ts;
    snprintf(r.loaded_model_id, sizeof r.loaded_model_id, "%s", id);
    snprintf(r.model_name, sizeof r.model_name, "%s", name);
    r.usage.prompt_tokens = pt;
    r.usage.completion_tokens = ct;
    r.usage.total_tokens = pt + ct;
    r.finish_reason = LIR_FINISH_LENGTH;
    r.metrics.total_ms = total;
    r.metrics.ttft_ms = ttft;
    r.metrics.generation_ms = total - ttft;
    r.metrics.tokens_per_second = tps;
    r.metrics.prompt_tokens_per_second = 2 * tps;
    return r;
}

Test(profiler, aggregates_and_window) {
    lir__prof *p = lir__prof_create();
    cr_assert_not_null(p);
    /* model a: 1005 requests, ttft i ms, tok/s i; model b: 2 requests */
    for (int i = 1; i <= 1005; i++) {
        struct lir_request_record r = rec("a", "model-a", i, 10.0 * i, i, (float)i, 3, 5);
        lir__prof_record(p, &r);
        if (i == 500 || i == 501) {
            struct lir_request_record b = rec("b", "model, b", i, 100, 20 + (i - 500) * 10, 7.0f, 1, 1);
            lir__prof_record(p, &b);
        }
    }
    struct lir_model_profile *m;
    int32_t n;
    cr_assert_eq(lir__prof_models(p, &m, &n), LIR_OK);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(m[0].loaded_model_id, "a", "first-use order");
    cr_assert_eq(m[0].requests, 1005, "aggregates count every request");
    cr_assert_eq(m[0].prompt_tokens, 3 * 1005);
    cr_assert_eq(m[0].completion_tokens, 5 * 1005);
    cr_assert_float_eq(m[0].total_inference_ms, 10.0 * 1005 * 1006 / 2, 1e-6);
    cr_assert_float_eq(m[0].average_ttft_ms, 503.0, 1e-9);
    cr_assert_float_eq(m[0].average_tokens_per_second, 503.0f, 0.01f);
    cr_assert_float_eq(m[0].peak_tokens_per_second, 1005.0f, 0);
    /* distributions over the last 1000: ttft 6..1005 */
    cr_assert_eq(m[0].ttft_ms.n, LIR_PROF_WINDOW);
    cr_assert_float_eq(m[0].ttft_ms.min, 6.0, 0);
    cr_assert_float_eq(m[0].ttft_ms.max, 1005.0, 0);
    cr_assert_float_eq(m[0].ttft_ms.p50, 505.5, 1e-9);
    cr_assert_float_eq(m[0].ttft_ms.p95, 6 + 0.95 * 999, 1e-9);
    cr_assert_float_eq(m[0].total_ms.p99, 10 * (6 + 0.99 * 999), 1e-6);
    cr_assert_float_eq(m[0].prompt_tokens_per_second.p50, 2 * 505.5, 1e-3);
    cr_assert_str_eq(m[1].model_name, "model, b");
    cr_assert_eq(m[1].requests, 2);
    cr_assert_float_eq(m[1].ttft_ms.p50, 25.0, 1e-12);
    cr_assert_float_eq(m[1].ttft_ms.stddev, sqrt(50.0), 1e-12);
    struct lir_request_record *r;
    int32_t nr;
    cr_assert_eq(lir__prof_records(p, "b", &r, &nr), LIR_OK);
    cr_assert_eq(nr, 2);
    cr_assert_eq(r[0].timestamp_ms, 500);
    free(r);
    cr_assert_eq(lir__prof_records(p, NULL, &r, &nr), LIR_OK);
    cr_assert_eq(nr, 1002);
    for (int32_t i = 1; i < nr; i++) cr_assert_geq(r[i].timestamp_ms, r[i - 1].timestamp_ms, "oldest first");
    cr_assert_eq(r[0].timestamp_ms, 6);

    /* export: JSON parses back with the struct's field names; CSV quotes a name with a comma */
    char *js = NULL;
    size_t len = 0;
    cr_assert_eq(lir_profiles_export(m, n, r, nr, LIR_EXPORT_JSON, &js, &len), LIR_OK);
    cr_assert_eq(len, strlen(js));
    json_error_t je;
    json_t *root = json_loads(js, 0, &je);
    cr_assert_not_null(root, "%s", je.text);
    json_t *m0 = json_array_get(json_object_get(root, "models"), 0);
    cr_assert_eq(json_integer_value(json_object_get(m0, "requests")), 1005);
    cr_assert_float_eq(json_real_value(json_object_get(json_object_get(m0, "ttft_ms"), "p50")), 505.5, 1e-9);
    cr_assert_eq(json_array_size(json_object_get(root, "requests")), 1002);
    json_t *q0 = json_array_get(json_object_get(root, "requests"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(q0, "finish_reason")), "length");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(q0, "usage"), "completion_tokens")), 5);
    json_decref(root);
    free(js);
    char *csv = NULL;
    cr_assert_eq(lir_profiles_export(m, n, r, nr, LIR_EXPORT_CSV, &csv, &len), LIR_OK);
    int lines = 0;
    for (char *c = csv; *c; c++) lines += *c == '\n';
    cr_assert_eq(lines, 1 + 1002);
    cr_assert(!strncmp(csv, "timestamp_ms,loaded_model_id,model_name,", 40));
    cr_assert(strstr(csv, ",b,\"model, b\",1,1,2,length,100.000,20.000,80.000,7.000,14.000\n"), "%s", csv);
    free(csv);
    cr_assert_eq(lir_profiles_export(m, n, r, nr, (enum lir_export_format)7, &csv, &len), LIR_EINVAL);
    free(m);
    free(r);
    lir__prof_destroy(p);
}

/* ---------------------------------------------------------------- through the runtime */

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct stopwatch { double start, first; int chunks; };
static int on_chunk(const struct lir_generate_chunk *c, void *user) {
    struct stopwatch *s = user;
    if (!s->chunks++ && c->len) s->first = now_ms();
    return 0;
}

Test(profiler, accuracy_against_client_stopwatch, .timeout = 120) {
    const char *model = LIR_SOURCE_DIR "/models/kjv-11m-q8_0.gguf";
    cr_assert_eq(access(model, R_OK), 0, "the default model is in the repository");
    struct lir_runtime_params p = lir_runtime_params_default();
    p.ram_alert_percent = 0;
    lir_runtime *rt = NULL;
    char err[512] = "";
    cr_assert_eq(lir_runtime_create(&p, &rt, err, sizeof err), LIR_OK, "%s", err);
    struct lir_load_options o = lir_load_options_default();
    o.context_size = 512;
    o.threads = 1;
    char id[LIR_ID_LEN];
    cr_assert_eq(lir_runtime_load(rt, model, &o, NULL, NULL, id, NULL, err, sizeof err), LIR_OK, "%s", err);
    struct lir_generate_request q = lir_generate_request_default();
    q.model = id;
    q.prompt = "In the beginning God created the heaven and the earth. And the earth was";
    q.sampling.max_tokens = 200;
    q.sampling.temperature = 0;
    for (int k = 0; k < 3; k++) {
        struct stopwatch sw = { 0 };
        struct lir_generate_result r;
        sw.start = now_ms();
        cr_assert_eq(lir_runtime_generate_stream(rt, &q, on_chunk, &sw, &r, err, sizeof err), LIR_OK, "%s", err);
        double client_total = now_ms() - sw.start;
        struct lir_request_record *v;
        int32_t n;
        cr_assert_eq(lir_runtime_profile_records(rt, id, &v, &n), LIR_OK);
        cr_assert_eq(n, k + 1);
        const struct lir_request_record *last = &v[n - 1];
        cr_assert_eq(last->usage.completion_tokens, r.usage.completion_tokens);
        cr_assert_geq(r.usage.completion_tokens, 20, "enough work to time");
        cr_assert_float_eq(last->metrics.total_ms, r.metrics.total_ms, 1e-9, "the profiler records the result's times");
        double dev = fabs(last->metrics.total_ms - client_total) / client_total;
        cr_log_info("request %d: %d tokens, profiler total %.3f ms, client stopwatch %.3f ms (%.3f%%)", k,
                    r.usage.completion_tokens, last->metrics.total_ms, client_total, dev * 100);
        cr_assert_leq(dev, 0.05, "profiler total %.3f ms vs client stopwatch %.3f ms (%.2f%%)", last->metrics.total_ms,
                      client_total, dev * 100);
        cr_assert_leq(last->metrics.total_ms, client_total, "the runtime's clock runs inside the client's");
        cr_assert_gt(last->metrics.ttft_ms, 0);
        cr_assert_leq(last->metrics.ttft_ms, sw.first - sw.start + 1.0,
                      "ttft %.3f ms is not after the client saw the first text (%.3f ms)", last->metrics.ttft_ms,
                      sw.first - sw.start);
        free(v);
        lir_generate_result_clear(&r);
    }
    struct lir_model_profile *m;
    int32_t n;
    cr_assert_eq(lir_runtime_profile_models(rt, &m, &n), LIR_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(m[0].requests, 3);
    cr_assert_eq(m[0].total_ms.n, 3);
    struct lir_loaded_model lm;
    cr_assert_eq(lir_runtime_get_loaded(rt, id, &lm), LIR_OK);
    cr_assert_eq(lm.metrics.total_requests, m[0].requests, "agrees with the runtime's LoadedModel metrics");
    cr_assert_float_eq(lm.metrics.average_ttft_ms, m[0].average_ttft_ms, 1e-9);
    lir_runtime_free(m);
    char *js;
    cr_assert_eq(lir_runtime_profile_export(rt, LIR_EXPORT_JSON, &js, NULL), LIR_OK);
    cr_assert(strstr(js, id));
    lir_runtime_free(js);
    lir_runtime_destroy(rt);
}

Test(profiler, tier_gate) {
    lir_licence *lic = NULL;
    cr_assert_eq(lir_licence_create_static(LIR_TIER_TEAMS, &lic), LIR_OK);
    struct lir_runtime_params p = lir_runtime_params_default();
    p.licence = lic;
    p.monitor_interval_ms = 0;
    lir_runtime *rt = NULL;
    cr_assert_eq(lir_runtime_create(&p, &rt, NULL, 0), LIR_OK);
    struct lir_model_profile *m;
    struct lir_request_record *r;
    int32_t n;
    char *s;
    cr_assert_eq(lir_runtime_profile_models(rt, &m, &n), LIR_ETIER);
    cr_assert_eq(lir_runtime_profile_records(rt, NULL, &r, &n), LIR_ETIER);
    cr_assert_eq(lir_runtime_profile_export(rt, LIR_EXPORT_CSV, &s, NULL), LIR_ETIER);
    lir_runtime_destroy(rt);
    lir_licence_free(lic);
}
