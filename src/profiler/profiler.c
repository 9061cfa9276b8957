/* profiler.c — per-request records, per-model aggregates and percentiles, JSON/CSV export.
 * Contract in profiler.h and include/lir.h ("monitor, profiler, store"). */
#include "profiler/profiler.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct prof_model {
    struct lir_model_profile agg;      /* distributions filled on query */
    struct lir_request_record *win;    /* ring of the last LIR_PROF_WINDOW records */
    int32_t head, count;
    uint64_t last_use;
};

struct lir__prof {
    pthread_mutex_t mu;
    struct prof_model *models;         /* first-use order */
    int32_t n_models;
    uint64_t tick;
};

/* ---------------------------------------------------------------- percentiles */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* sorted v[0..n-1], q in [0, 1]: linear interpolation between closest ranks */
static double quantile(const double *v, int32_t n, double q) {
    double rank = q * (double)(n - 1);
    int32_t lo = (int32_t)floor(rank), hi = lo + 1 < n ? lo + 1 : lo;
    return v[lo] + (v[hi] - v[lo]) * (rank - (double)lo);
}

enum lir_status lir_percentiles_compute(const double *values, int32_t n, struct lir_percentiles *out) {
    if (!out || n < 0 || (n > 0 && !values)) return LIR_EINVAL;
    memset(out, 0, sizeof *out);
    if (n == 0) return LIR_OK;
    double *v = malloc((size_t)n * sizeof *v);
    if (!v) return LIR_ENOMEM;
    memcpy(v, values, (size_t)n * sizeof *v);
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double sum = 0;
    for (int32_t i = 0; i < n; i++) sum += v[i];
    double mean = sum / n, ss = 0;
    for (int32_t i = 0; i < n; i++) ss += (v[i] - mean) * (v[i] - mean);
    out->n = n;
    out->min = v[0];
    out->max = v[n - 1];
    out->mean = mean;
    out->stddev = n > 1 ? sqrt(ss / (n - 1)) : 0.0;
    out->p50 = quantile(v, n, 0.50);
    out->p95 = quantile(v, n, 0.95);
    out->p99 = quantile(v, n, 0.99);
    free(v);
    return LIR_OK;
}

/* ---------------------------------------------------------------- aggregates */

void lir__profile_accumulate(struct lir_model_profile *mp, const struct lir_request_record *r) {
    int64_t n0 = mp->requests;
    mp->requests++;
    mp->prompt_tokens += r->usage.prompt_tokens;
    mp->completion_tokens += r->usage.completion_tokens;
    mp->total_inference_ms += r->metrics.total_ms;
    /* the runtime's LoadedModel metrics average the per-request rates the same way */
    mp->average_tokens_per_second =
        (mp->average_tokens_per_second * (float)n0 + r->metrics.tokens_per_second) / (float)(n0 + 1);
    mp->average_ttft_ms = (mp->average_ttft_ms * (double)n0 + r->metrics.ttft_ms) / (double)(n0 + 1);
    if (r->metrics.tokens_per_second > mp->peak_tokens_per_second)
        mp->peak_tokens_per_second = r->metrics.tokens_per_second;
}

enum lir_status lir__profile_distributions(struct lir_model_profile *mp, const struct lir_request_record *recs,
                                           int32_t n) {
    double *v = n ? malloc((size_t)n * sizeof *v) : NULL;
    if (n && !v) return LIR_ENOMEM;
    struct { struct lir_percentiles *dst; int which; } d[] = {
        { &mp->ttft_ms, 0 }, { &mp->total_ms, 1 }, { &mp->generation_ms, 2 },
        { &mp->tokens_per_second, 3 }, { &mp->prompt_tokens_per_second, 4 },
    };
    enum lir_status s = LIR_OK;
    for (size_t k = 0; k < sizeof d / sizeof d[0] && !s; k++) {
        for (int32_t i = 0; i < n; i++) {
            const struct lir_generation_metrics *m = &recs[i].metrics;
            v[i] = d[k].which == 0 ? m->ttft_ms
                 : d[k].which == 1 ? m->total_ms
                 : d[k].which == 2 ? m->generation_ms
                 : d[k].which == 3 ? (double)m->tokens_per_second
                                   : (double)m->prompt_tokens_per_second;
        }
        s = lir_percentiles_compute(v, n, d[k].dst);
    }
    free(v);
    return s;
}

/* ---------------------------------------------------------------- the profiler */

lir__prof *lir__prof_create(void) {
    lir__prof *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->models = calloc(LIR_PROF_MODELS, sizeof *p->models);
    if (!p->models) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    return p;
}

void lir__prof_destroy(lir__prof *p) {
    if (!p) return;
    for (int32_t i = 0; i < p->n_models; i++) free(p->models[i].win);
    free(p->models);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

void lir__prof_record(lir__prof *p, const struct lir_request_record *r) {
    pthread_mutex_lock(&p->mu);
    struct prof_model *pm = NULL;
    for (int32_t i = 0; i < p->n_models && !pm; i++)
        if (!strcmp(p->models[i].agg.loaded_model_id, r->loaded_model_id)) pm = &p->models[i];
    if (!pm) {
        if (p->n_models == LIR_PROF_MODELS) { /* drop the least recently used model */
            int32_t lru = 0;
            for (int32_t i = 1; i < p->n_models; i++)
                if (p->models[i].last_use < p->models[lru].last_use) lru = i;
            free(p->models[lru].win);
            memmove(&p->models[lru], &p->models[lru + 1], (size_t)(p->n_models - lru - 1) * sizeof *p->models);
            p->n_models--;
        }
        pm = &p->models[p->n_models++];
        memset(pm, 0, sizeof *pm);
        snprintf(pm->agg.loaded_model_id, sizeof pm->agg.loaded_model_id, "%s", r->loaded_model_id);
        snprintf(pm->agg.model_name, sizeof pm->agg.model_name, "%s", r->model_name);
    }
    pm->last_use = ++p->tick;
    lir__profile_accumulate(&pm->agg, r);
    if (!pm->win) pm->win = malloc(LIR_PROF_WINDOW * sizeof *pm->win);
    if (pm->win) {
        pm->win[pm->head] = *r;
        pm->head = (pm->head + 1) % LIR_PROF_WINDOW;
        if (pm->count < LIR_PROF_WINDOW) pm->count++;
    }
    pthread_mutex_unlock(&p->mu);
}

/* window of pm in time order into v (count entries) */
static void window_copy(const struct prof_model *pm, struct lir_request_record *v) {
    int32_t first = (pm->head - pm->count + LIR_PROF_WINDOW) % LIR_PROF_WINDOW;
    for (int32_t i = 0; i < pm->count; i++) v[i] = pm->win[(first + i) % LIR_PROF_WINDOW];
}

enum lir_status lir__prof_models(lir__prof *p, struct lir_model_profile **out, int32_t *n) {
    *out = NULL;
    *n = 0;
    struct lir_request_record *tmp = malloc(LIR_PROF_WINDOW * sizeof *tmp);
    if (!tmp) return LIR_ENOMEM;
    pthread_mutex_lock(&p->mu);
    int32_t cnt = p->n_models;
    struct lir_model_profile *v = cnt ? calloc((size_t)cnt, sizeof *v) : NULL;
    enum lir_status s = cnt && !v ? LIR_ENOMEM : LIR_OK;
    for (int32_t i = 0; i < cnt && !s; i++) {
        v[i] = p->models[i].agg;
        window_copy(&p->models[i], tmp);
        s = lir__profile_distributions(&v[i], tmp, p->models[i].count);
    }
    pthread_mutex_unlock(&p->mu);
    free(tmp);
    if (s) {
        free(v);
        return s;
    }
    *out = v;
    *n = cnt;
    return LIR_OK;
}

static int cmp_record_time(const void *a, const void *b) {
    int64_t x = ((const struct lir_request_record *)a)->timestamp_ms;
    int64_t y = ((const struct lir_request_record *)b)->timestamp_ms;
    return x < y ? -1 : x > y;
}

enum lir_status lir__prof_records(lir__prof *p, const char *loaded_id, struct lir_request_record **out, int32_t *n) {
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&p->mu);
    int32_t cnt = 0;
    for (int32_t i = 0; i < p->n_models; i++)
        if (!loaded_id || !strcmp(loaded_id, p->models[i].agg.loaded_model_id)) cnt += p->models[i].count;
    struct lir_request_record *v = cnt ? malloc((size_t)cnt * sizeof *v) : NULL;
    if (cnt && !v) {
        pthread_mutex_unlock(&p->mu);
        return LIR_ENOMEM;
    }
    int32_t k = 0;
    for (int32_t i = 0; i < p->n_models; i++)
        if (!loaded_id || !strcmp(loaded_id, p->models[i].agg.loaded_model_id)) {
            window_copy(&p->models[i], v + k);
            k += p->models[i].count;
        }
    pthread_mutex_unlock(&p->mu);
    if (cnt > 1) qsort(v, (size_t)cnt, sizeof *v, cmp_record_time); /* stable enough: ties keep model order rarely */
    *out = v;
    *n = cnt;
    return LIR_OK;
}

/* ---------------------------------------------------------------- export */

static json_t *percentiles_json(const struct lir_percentiles *p) {
    return json_pack("{s:i,s:f,s:f,s:f,s:f,s:f,s:f,s:f}", "n", (json_int_t)p->n, "min", p->min, "max", p->max,
                     "mean", p->mean, "stddev", p->stddev, "p50", p->p50, "p95", p->p95, "p99", p->p99);
}

static json_t *metrics_json(const struct lir_generation_metrics *m) {
    return json_pack("{s:f,s:f,s:f,s:f,s:f}", "total_ms", m->total_ms, "ttft_ms", m->ttft_ms, "generation_ms",
                     m->generation_ms, "tokens_per_second", (double)m->tokens_per_second,
                     "prompt_tokens_per_second", (double)m->prompt_tokens_per_second);
}

static void csv_field(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

enum lir_status lir_profiles_export(const struct lir_model_profile *models, int32_t n_models,
                                    const struct lir_request_record *records, int32_t n_records,
                                    enum lir_export_format fmt, char **out, size_t *len) {
    if (!out || n_models < 0 || n_records < 0 || (n_models && !models) || (n_records && !records) ||
        (fmt != LIR_EXPORT_JSON && fmt != LIR_EXPORT_CSV))
        return LIR_EINVAL;
    *out = NULL;
    if (len) *len = 0;
    if (fmt == LIR_EXPORT_CSV) {
        char *buf = NULL;
        size_t sz = 0;
        FILE *f = open_memstream(&buf, &sz);
        if (!f) return LIR_ENOMEM;
        fputs("timestamp_ms,loaded_model_id,model_name,prompt_tokens,completion_tokens,total_tokens,finish_reason,"
              "total_ms,ttft_ms,generation_ms,tokens_per_second,prompt_tokens_per_second\n", f);
        for (int32_t i = 0; i < n_records; i++) {
            const struct lir_request_record *r = &records[i];
            fprintf(f, "%lld,%s,", (long long)r->timestamp_ms, r->loaded_model_id);
            csv_field(f, r->model_name);
            fprintf(f, ",%d,%d,%d,%s,%.3f,%.3f,%.3f,%.3f,%.3f\n", r->usage.prompt_tokens, r->usage.completion_tokens,
                    r->usage.total_tokens, lir_finish_reason_str(r->finish_reason), r->metrics.total_ms,
                    r->metrics.ttft_ms, r->metrics.generation_ms, (double)r->metrics.tokens_per_second,
                    (double)r->metrics.prompt_tokens_per_second);
        }
        if (fclose(f) || !buf) {
            free(buf);
            return LIR_ENOMEM;
        }
        *out = buf;
        if (len) *len = sz;
        return LIR_OK;
    }
    json_t *root = json_object(), *jm = json_array(), *jr = json_array();
    bool ok = root && jm && jr;
    for (int32_t i = 0; ok && i < n_models; i++) {
        const struct lir_model_profile *p = &models[i];
        json_t *o = json_pack("{s:s,s:s,s:I,s:I,s:I,s:f,s:f,s:f,s:f,s:o,s:o,s:o,s:o,s:o}", "loaded_model_id",
                              p->loaded_model_id, "model_name", p->model_name, "requests", (json_int_t)p->requests,
                              "prompt_tokens", (json_int_t)p->prompt_tokens, "completion_tokens",
                              (json_int_t)p->completion_tokens, "total_inference_ms", p->total_inference_ms,
                              "average_tokens_per_second", (double)p->average_tokens_per_second,
                              "peak_tokens_per_second", (double)p->peak_tokens_per_second, "average_ttft_ms",
                              p->average_ttft_ms, "ttft_ms", percentiles_json(&p->ttft_ms), "total_ms",
                              percentiles_json(&p->total_ms), "generation_ms", percentiles_json(&p->generation_ms),
                              "tokens_per_second", percentiles_json(&p->tokens_per_second),
                              "prompt_tokens_per_second", percentiles_json(&p->prompt_tokens_per_second));
        ok = o && !json_array_append_new(jm, o);
    }
    for (int32_t i = 0; ok && i < n_records; i++) {
        const struct lir_request_record *r = &records[i];
        json_t *o = json_pack("{s:I,s:s,s:s,s:{s:i,s:i,s:i},s:s,s:o}", "timestamp_ms", (json_int_t)r->timestamp_ms,
                              "loaded_model_id", r->loaded_model_id, "model_name", r->model_name, "usage",
                              "prompt_tokens", r->usage.prompt_tokens, "completion_tokens", r->usage.completion_tokens,
                              "total_tokens", r->usage.total_tokens, "finish_reason",
                              lir_finish_reason_str(r->finish_reason), "metrics", metrics_json(&r->metrics));
        ok = o && !json_array_append_new(jr, o);
    }
    char *txt = NULL;
    if (ok && !json_object_set(root, "models", jm) && !json_object_set(root, "requests", jr))
        txt = json_dumps(root, JSON_COMPACT);
    json_decref(jm);
    json_decref(jr);
    json_decref(root);
    if (!txt) return LIR_ENOMEM;
    /* jansson's allocator is malloc: the caller frees with lir_runtime_free (free) */
    *out = txt;
    if (len) *len = strlen(txt);
    return LIR_OK;
}
