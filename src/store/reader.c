/* reader.c — the read side of the store (lir_store_* in include/lir.h): resource history at
 * 1 s or 1 min resolution, request records and per-model profiles from generation_metrics.
 * A lir_store is one read-only SQLite connection (opened FULLMUTEX: callable from any thread). */
#include "store/store.h"
#include "profiler/profiler.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lir_store {
    sqlite3 *db;
};

enum lir_status lir_store_open(const char *data_dir, lir_store **out, char *err, size_t err_len) {
    lir_err e = { { 0 } };
    if (!out || !data_dir || !data_dir[0]) {
        lir__errf(&e, LIR_EINVAL, "lir_store_open: data_dir and out must not be NULL or empty");
        lir__err_copy(&e, err, err_len);
        return LIR_EINVAL;
    }
    *out = NULL;
    lir_store *st = calloc(1, sizeof *st);
    if (!st) return LIR_ENOMEM;
    enum lir_status s = lir__store_db_open(data_dir, false, &st->db, &e);
    if (s) {
        free(st);
        lir__err_copy(&e, err, err_len);
        return s;
    }
    *out = st;
    return LIR_OK;
}

void lir_store_close(lir_store *st) {
    if (!st) return;
    sqlite3_close(st->db);
    free(st);
}

/* grows *v (cap *cap elements of size sz) to hold n + 1 */
static bool grow(void **v, int32_t *cap, int32_t n, size_t sz) {
    if (n < *cap) return true;
    int32_t nc = *cap ? *cap * 2 : 64;
    void *p = realloc(*v, (size_t)nc * sz);
    if (!p) return false;
    *v = p;
    *cap = nc;
    return true;
}

static void gpus_parse(const char *txt, struct lir_resource_usage *u) {
    json_t *a = txt ? json_loads(txt, 0, NULL) : NULL;
    if (!json_is_array(a)) {
        json_decref(a);
        return;
    }
    size_t i;
    json_t *g;
    json_array_foreach(a, i, g) {
        if (u->n_gpus >= LIR_MAX_GPUS) break;
        struct lir_gpu_usage *d = &u->gpus[u->n_gpus++];
        d->id = (int32_t)json_integer_value(json_object_get(g, "id"));
        const char *name = json_string_value(json_object_get(g, "name"));
        snprintf(d->name, sizeof d->name, "%s", name ? name : "");
        d->vram_total_bytes = (uint64_t)json_integer_value(json_object_get(g, "vram_total_bytes"));
        d->vram_used_bytes = (uint64_t)json_integer_value(json_object_get(g, "vram_used_bytes"));
        d->vram_held_bytes = (uint64_t)json_integer_value(json_object_get(g, "vram_held_bytes"));
        d->utilization_percent = (float)json_number_value(json_object_get(g, "utilization_percent"));
        d->temperature_c = (float)json_number_value(json_object_get(g, "temperature_c"));
        d->power_w = (float)json_number_value(json_object_get(g, "power_w"));
    }
    json_decref(a);
}

enum lir_status lir_store_history(lir_store *st, int64_t since_ms, int64_t until_ms, int32_t resolution_s,
                                  struct lir_resource_usage **out, int32_t *n) {
    if (!st || !out || !n || (resolution_s != 1 && resolution_s != 60) || until_ms < since_ms) return LIR_EINVAL;
    *out = NULL;
    *n = 0;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT timestamp, system_ram_bytes, system_ram_used_bytes, process_ram_bytes,"
                           " models_ram_bytes, cpu_usage_percent, process_cpu_percent, active_models, active_requests,"
                           " current_tokens_per_second, gpu_usage_json FROM resource_usage_history"
                           " WHERE resolution_s = ? AND timestamp BETWEEN ? AND ? ORDER BY timestamp",
                           -1, &q, NULL) != SQLITE_OK)
        return LIR_EIO;
    sqlite3_bind_int(q, 1, resolution_s);
    sqlite3_bind_int64(q, 2, since_ms);
    sqlite3_bind_int64(q, 3, until_ms);
    struct lir_resource_usage *v = NULL;
    int32_t cnt = 0, cap = 0;
    int rc;
    enum lir_status s = LIR_OK;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (!grow((void **)&v, &cap, cnt, sizeof *v)) {
            s = LIR_ENOMEM;
            break;
        }
        struct lir_resource_usage *u = &v[cnt++];
        memset(u, 0, sizeof *u);
        u->timestamp_ms = sqlite3_column_int64(q, 0);
        u->system_ram_bytes = (uint64_t)sqlite3_column_int64(q, 1);
        u->system_ram_used_bytes = (uint64_t)sqlite3_column_int64(q, 2);
        u->process_ram_bytes = (uint64_t)sqlite3_column_int64(q, 3);
        u->models_ram_bytes = (uint64_t)sqlite3_column_int64(q, 4);
        u->cpu_usage_percent = (float)sqlite3_column_double(q, 5);
        u->process_cpu_percent = (float)sqlite3_column_double(q, 6);
        u->active_models = sqlite3_column_int(q, 7);
        u->active_requests = sqlite3_column_int(q, 8);
        u->current_tokens_per_second = (float)sqlite3_column_double(q, 9);
        gpus_parse((const char *)sqlite3_column_text(q, 10), u);
    }
    if (!s && rc != SQLITE_DONE) s = LIR_EIO;
    sqlite3_finalize(q);
    if (s) {
        free(v);
        return s;
    }
    *out = v;
    *n = cnt;
    return LIR_OK;
}

enum lir_status lir_store_records(lir_store *st, int64_t since_ms, struct lir_request_record **out, int32_t *n) {
    if (!st || !out || !n) return LIR_EINVAL;
    *out = NULL;
    *n = 0;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT g.timestamp, g.loaded_model_id, m.model_name, g.prompt_tokens, g.completion_tokens,"
                           " g.finish_reason, g.total_time_ms, g.time_to_first_token_ms, g.generation_time_ms,"
                           " g.tokens_per_second, g.prompt_eval_tokens_per_second FROM generation_metrics g"
                           " JOIN loaded_models m ON m.id = g.loaded_model_id WHERE g.timestamp >= ?"
                           " ORDER BY g.timestamp, g.id",
                           -1, &q, NULL) != SQLITE_OK)
        return LIR_EIO;
    sqlite3_bind_int64(q, 1, since_ms);
    struct lir_request_record *v = NULL;
    int32_t cnt = 0, cap = 0;
    int rc;
    enum lir_status s = LIR_OK;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (!grow((void **)&v, &cap, cnt, sizeof *v)) {
            s = LIR_ENOMEM;
            break;
        }
        struct lir_request_record *r = &v[cnt++];
        memset(r, 0, sizeof *r);
        r->timestamp_ms = sqlite3_column_int64(q, 0);
        const char *id = (const char *)sqlite3_column_text(q, 1), *name = (const char *)sqlite3_column_text(q, 2);
        snprintf(r->loaded_model_id, sizeof r->loaded_model_id, "%s", id ? id : "");
        snprintf(r->model_name, sizeof r->model_name, "%s", name ? name : "");
        r->usage.prompt_tokens = sqlite3_column_int(q, 3);
        r->usage.completion_tokens = sqlite3_column_int(q, 4);
        r->usage.total_tokens = r->usage.prompt_tokens + r->usage.completion_tokens;
        const char *fr = (const char *)sqlite3_column_text(q, 5);
        if (!fr || lir_finish_reason_parse(fr, &r->finish_reason)) r->finish_reason = LIR_FINISH_ERROR;
        r->metrics.total_ms = sqlite3_column_double(q, 6);
        r->metrics.ttft_ms = sqlite3_column_double(q, 7);
        r->metrics.generation_ms = sqlite3_column_double(q, 8);
        r->metrics.tokens_per_second = (float)sqlite3_column_double(q, 9);
        r->metrics.prompt_tokens_per_second = (float)sqlite3_column_double(q, 10);
    }
    if (!s && rc != SQLITE_DONE) s = LIR_EIO;
    sqlite3_finalize(q);
    if (s) {
        free(v);
        return s;
    }
    *out = v;
    *n = cnt;
    return LIR_OK;
}

enum lir_status lir_store_profiles(lir_store *st, int64_t since_ms, struct lir_model_profile **out, int32_t *n) {
    if (!st || !out || !n) return LIR_EINVAL;
    *out = NULL;
    *n = 0;
    struct lir_request_record *recs;
    int32_t nr;
    enum lir_status s = lir_store_records(st, since_ms, &recs, &nr);
    if (s) return s;
    /* group by loaded model in first-seen order */
    struct lir_model_profile *v = nr ? calloc((size_t)nr, sizeof *v) : NULL;
    struct lir_request_record *grp = nr ? malloc((size_t)nr * sizeof *grp) : NULL;
    if (nr && (!v || !grp)) {
        free(v);
        free(grp);
        free(recs);
        return LIR_ENOMEM;
    }
    int32_t nm = 0;
    for (int32_t i = 0; i < nr && !s; i++) {
        bool seen = false;
        for (int32_t k = 0; k < nm && !seen; k++) seen = !strcmp(v[k].loaded_model_id, recs[i].loaded_model_id);
        if (seen) continue;
        struct lir_model_profile *mp = &v[nm++];
        snprintf(mp->loaded_model_id, sizeof mp->loaded_model_id, "%s", recs[i].loaded_model_id);
        snprintf(mp->model_name, sizeof mp->model_name, "%s", recs[i].model_name);
        int32_t ng = 0;
        for (int32_t j = i; j < nr; j++)
            if (!strcmp(recs[j].loaded_model_id, mp->loaded_model_id)) {
                grp[ng++] = recs[j];
                lir__profile_accumulate(mp, &recs[j]);
            }
        s = lir__profile_distributions(mp, grp, ng);
    }
    free(grp);
    free(recs);
    if (s) {
        free(v);
        return s;
    }
    *out = v;
    *n = nm;
    return LIR_OK;
}
