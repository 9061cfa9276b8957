/* metrics.c — what `lir serve` counts, and GET /metrics in the Prometheus text format (0.0.4):
 * HTTP requests by API and status, histograms of time to first token, inter-token latency,
 * request duration, prompt and generated tokens per request; and, read from the runtime at
 * scrape time, gauges of loaded models, KV cache use per model, RAM/VRAM, active requests and
 * the server's queue length. One mutex guards the counters; it is never held while computing. */
#include "server/server.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NB_MAX 16

struct histo {
    const char *name, *help;
    int nb;
    double le[NB_MAX];
    uint64_t count[NB_MAX]; /* per bucket (not cumulative) */
    uint64_t n;
    double sum;
};

struct req_count {
    char api[8];
    int status;
    uint64_t n;
};

struct lir__metrics {
    pthread_mutex_t mu;
    struct histo ttft, itl, dur, http, ptok, gtok;
    struct req_count req[64];
    int n_req;
    uint64_t prompt_tokens, gen_tokens, generations, cancelled;
};

static void histo_init(struct histo *h, const char *name, const char *help, int nb, const double *le) {
    memset(h, 0, sizeof *h);
    h->name = name;
    h->help = help;
    h->nb = nb;
    memcpy(h->le, le, sizeof *le * (size_t)nb);
}

static void histo_add(struct histo *h, double v) {
    int i = 0;
    while (i < h->nb && v > h->le[i]) i++;
    if (i < h->nb) h->count[i]++;
    h->n++;
    h->sum += v;
}

struct lir__metrics *lir__metrics_new(void) {
    struct lir__metrics *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    pthread_mutex_init(&m->mu, NULL);
    static const double secs[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120 };
    static const double itl[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5 };
    static const double toks[] = { 1, 4, 16, 64, 256, 1024, 4096, 16384, 65536 };
    histo_init(&m->ttft, "lir_time_to_first_token_seconds", "Time from the request to its first generated token",
               14, secs);
    histo_init(&m->itl, "lir_inter_token_latency_seconds", "Time between consecutive generated tokens of a request",
               11, itl);
    histo_init(&m->dur, "lir_generation_duration_seconds", "Duration of generations, queueing included", 14, secs);
    histo_init(&m->http, "lir_http_request_duration_seconds", "Duration of HTTP requests, streams included", 14,
               secs);
    histo_init(&m->ptok, "lir_prompt_tokens", "Prompt tokens per generation", 9, toks);
    histo_init(&m->gtok, "lir_generated_tokens", "Generated tokens per generation", 9, toks);
    return m;
}

void lir__metrics_free(struct lir__metrics *m) {
    if (!m) return;
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void lir__metrics_request(struct lir__metrics *m, const char *api, int status, double seconds) {
    pthread_mutex_lock(&m->mu);
    histo_add(&m->http, seconds);
    int i = 0;
    while (i < m->n_req && (m->req[i].status != status || strcmp(m->req[i].api, api))) i++;
    if (i == m->n_req && m->n_req < 64) {
        snprintf(m->req[i].api, sizeof m->req[i].api, "%s", api);
        m->req[i].status = status;
        m->n_req++;
    }
    if (i < m->n_req) m->req[i].n++;
    pthread_mutex_unlock(&m->mu);
}

void lir__metrics_generation(struct lir__metrics *m, const struct lir_generate_result *r) {
    pthread_mutex_lock(&m->mu);
    m->generations++;
    if (r->usage.completion_tokens > 0) histo_add(&m->ttft, r->metrics.ttft_ms / 1e3);
    histo_add(&m->dur, r->metrics.total_ms / 1e3);
    histo_add(&m->ptok, r->usage.prompt_tokens);
    histo_add(&m->gtok, r->usage.completion_tokens);
    m->prompt_tokens += (uint64_t)r->usage.prompt_tokens;
    m->gen_tokens += (uint64_t)r->usage.completion_tokens;
    pthread_mutex_unlock(&m->mu);
}

void lir__metrics_itl(struct lir__metrics *m, double seconds) {
    pthread_mutex_lock(&m->mu);
    histo_add(&m->itl, seconds);
    pthread_mutex_unlock(&m->mu);
}

void lir__metrics_cancel(struct lir__metrics *m) {
    pthread_mutex_lock(&m->mu);
    m->cancelled++;
    pthread_mutex_unlock(&m->mu);
}

/* ---------------------------------------------------------------- text */

struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void put(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + (size_t)n + 1) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
}

static void put_histo(struct sbuf *b, const struct histo *h) {
    put(b, "# HELP %s %s\n# TYPE %s histogram\n", h->name, h->help, h->name);
    uint64_t cum = 0;
    for (int i = 0; i < h->nb; i++) {
        cum += h->count[i];
        put(b, "%s_bucket{le=\"%g\"} %llu\n", h->name, h->le[i], (unsigned long long)cum);
    }
    put(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9g\n%s_count %llu\n", h->name, (unsigned long long)h->n, h->name,
        h->sum, h->name, (unsigned long long)h->n);
}

static void put_gauge(struct sbuf *b, const char *name, const char *help, double v) {
    put(b, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name, help, name, name, v);
}

/* A label value with \, " and newline escaped, as the format asks. */
static void label(char *out, size_t cap, const char *s) {
    size_t k = 0;
    for (; *s && k + 3 < cap; s++) {
        if (*s == '\\' || *s == '"') out[k++] = '\\', out[k++] = *s;
        else if (*s == '\n') out[k++] = '\\', out[k++] = 'n';
        else out[k++] = *s;
    }
    out[k] = 0;
}

char *lir__metrics_text(struct lir__metrics *m, lir_runtime *rt, int32_t queue_len) {
    struct sbuf b = { 0 };
    pthread_mutex_lock(&m->mu);
    put(&b, "# HELP lir_http_requests_total HTTP requests answered, by API and status\n"
            "# TYPE lir_http_requests_total counter\n");
    for (int i = 0; i < m->n_req; i++)
        put(&b, "lir_http_requests_total{api=\"%s\",code=\"%d\"} %llu\n", m->req[i].api, m->req[i].status,
            (unsigned long long)m->req[i].n);
    put(&b, "# HELP lir_generations_total Generations completed\n# TYPE lir_generations_total counter\n"
            "lir_generations_total %llu\n", (unsigned long long)m->generations);
    put(&b, "# HELP lir_generations_cancelled_total Generations cancelled (client gone, timeout)\n"
            "# TYPE lir_generations_cancelled_total counter\nlir_generations_cancelled_total %llu\n",
        (unsigned long long)m->cancelled);
    put(&b, "# HELP lir_prompt_tokens_total Prompt tokens evaluated\n# TYPE lir_prompt_tokens_total counter\n"
            "lir_prompt_tokens_total %llu\n", (unsigned long long)m->prompt_tokens);
    put(&b, "# HELP lir_generated_tokens_total Tokens generated\n# TYPE lir_generated_tokens_total counter\n"
            "lir_generated_tokens_total %llu\n", (unsigned long long)m->gen_tokens);
    put_histo(&b, &m->ttft);
    put_histo(&b, &m->itl);
    put_histo(&b, &m->dur);
    put_histo(&b, &m->http);
    put_histo(&b, &m->ptok);
    put_histo(&b, &m->gtok);
    pthread_mutex_unlock(&m->mu);

    put_gauge(&b, "lir_queue_length", "Generation and embedding requests in flight in the server", queue_len);
    struct lir_resource_usage u;
    if (!lir_runtime_resource_usage(rt, &u)) {
        put_gauge(&b, "lir_system_ram_bytes", "System RAM", (double)u.system_ram_bytes);
        put_gauge(&b, "lir_system_ram_used_bytes", "System RAM in use", (double)u.system_ram_used_bytes);
        put_gauge(&b, "lir_process_ram_bytes", "Resident memory of this process", (double)u.process_ram_bytes);
        put_gauge(&b, "lir_models_ram_bytes", "RAM reserved by loaded models", (double)u.models_ram_bytes);
        put_gauge(&b, "lir_active_requests", "Requests running or queued in the runtime", u.active_requests);
        put_gauge(&b, "lir_tokens_per_second", "Sum of the running requests' generation rates",
                  u.current_tokens_per_second);
        put_gauge(&b, "lir_gpus", "GPUs in use", u.n_gpus);
        put_gauge(&b, "lir_cpu_usage_percent", "System CPU busy (all CPUs = 100)", u.cpu_usage_percent);
        static const char *gn[] = { "lir_gpu_vram_total_bytes", "lir_gpu_vram_used_bytes", "lir_gpu_vram_held_bytes",
                                    "lir_gpu_utilization_percent" };
        static const char *gh[] = { "VRAM of a GPU", "VRAM in use on a GPU", "VRAM held by this runtime's models",
                                    "GPU utilization" };
        for (int k = 0; k < 4 && u.n_gpus > 0; k++) {
            put(&b, "# HELP %s %s\n# TYPE %s gauge\n", gn[k], gh[k], gn[k]);
            for (int32_t i = 0; i < u.n_gpus && i < LIR_MAX_GPUS; i++) {
                const struct lir_gpu_usage *g = &u.gpus[i];
                char name[200];
                label(name, sizeof name, g->name);
                double v = k == 0 ? (double)g->vram_total_bytes : k == 1 ? (double)g->vram_used_bytes
                         : k == 2 ? (double)g->vram_held_bytes : g->utilization_percent;
                put(&b, "%s{gpu=\"%d\",name=\"%s\"} %.17g\n", gn[k], g->id, name, v);
            }
        }
    }
    struct lir_loaded_model *lm = NULL;
    int32_t n = 0;
    if (!lir_runtime_list_loaded(rt, &lm, &n)) {
        put_gauge(&b, "lir_models_loaded", "Loaded models", n);
        static const char *names[] = { "lir_model_kv_used_tokens", "lir_model_kv_size_tokens", "lir_model_kv_usage_ratio",
                                       "lir_model_ram_bytes", "lir_model_vram_bytes", "lir_model_active_requests" };
        static const char *helps[] = { "Tokens in the KV cache after the last request", "KV cache size in tokens",
                                       "KV cache use (used / size)", "RAM of a loaded model (weights + KV + compute)",
                                       "VRAM of a loaded model", "Requests running or queued on a loaded model" };
        for (int k = 0; k < 6; k++) {
            put(&b, "# HELP %s %s\n# TYPE %s gauge\n", names[k], helps[k], names[k]);
            for (int32_t i = 0; i < n; i++) {
                char name[600];
                label(name, sizeof name, lm[i].model.name);
                double v = k == 0 ? lm[i].resources.context_used
                         : k == 1 ? lm[i].resources.context_size
                         : k == 2 ? (lm[i].resources.context_size > 0
                                         ? (double)lm[i].resources.context_used / lm[i].resources.context_size : 0)
                         : k == 3 ? (double)lm[i].resources.ram_bytes
                         : k == 4 ? (double)lm[i].resources.vram_bytes
                                  : lm[i].active_requests;
                put(&b, "%s{model=\"%s\",id=\"%s\"} %.17g\n", names[k], name, lm[i].id, v);
            }
        }
        lir_runtime_free(lm);
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p ? b.p : strdup("");
}
