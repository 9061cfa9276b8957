/* test_store.c — the SQLite store: migrations by user_version (fresh, idempotent, newer and
 * foreign databases refused), WAL and foreign keys, downsampling to 1 s / 1 min rows driven by
 * the samples' own (injected) timestamps, retention 24 h / 30 days, durability when a writer
 * in a write storm is killed with SIGKILL, stale marking of rows left by a dead process, and
 * the runtime writing loads, generations, events, history and snapshot rows into a data_dir. */
#include <criterion/criterion.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "lir.h"
#include "store/store.h"
#include "model/model_util.h"

static char dir[256];

static void dir_new(const char *tag) {
    snprintf(dir, sizeof dir, "/tmp/lir-store-%d-%s", (int)getpid(), tag);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) {}
}
static void dir_remove(void) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) {}
}

static sqlite3 *raw_open(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/lir.db", dir);
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}
static int64_t q_int(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sql);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}
static void q_text(sqlite3 *db, const char *sql, char *out, size_t n) {
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sql);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sql);
    snprintf(out, n, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

static lir__store_w *writer(void) {
    lir__store_w *w = NULL;
    lir_err e = { { 0 } };
    cr_assert_eq(lir__store_w_open(dir, NULL, &w, &e), LIR_OK, "%s", e.msg);
    return w;
}

/* ---------------------------------------------------------------- schema */

Test(store, migrations_and_pragmas) {
    dir_new("mig");
    char err[512] = "";
    lir_store *st = NULL;
    cr_assert_eq(lir_store_open(dir, &st, err, sizeof err), LIR_ENOTFOUND, "reading never creates");
    cr_assert(strstr(err, "no database"), "%s", err);
    lir__store_w *w = writer(); /* creates the directory and the schema */
    lir__store_w_close(w);
    w = writer(); /* idempotent */
    lir__store_w_close(w);
    sqlite3 *db = raw_open();
    cr_assert_eq(q_int(db, "PRAGMA user_version"), LIR_STORE_SCHEMA_VERSION);
    char mode[32];
    q_text(db, "PRAGMA journal_mode", mode, sizeof mode);
    cr_assert_str_eq(mode, "wal");
    const char *tables[] = { "loaded_models", "loaded_model_resources", "context_snapshots", "resource_usage_history",
                             "generation_metrics", "inference_events" };
    for (size_t i = 0; i < 6; i++) {
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='%s'", tables[i]);
        cr_assert_eq(q_int(db, sql), 1, "%s", tables[i]);
    }
    /* foreign keys are declared: a metrics row for no loaded model is refused with them on */
    sqlite3_exec(db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL);
    cr_assert_neq(sqlite3_exec(db,
                               "INSERT INTO generation_metrics(loaded_model_id, timestamp, total_time_ms,"
                               " time_to_first_token_ms, generation_time_ms, tokens_per_second,"
                               " prompt_eval_tokens_per_second, prompt_tokens, completion_tokens)"
                               " VALUES ('nope', 1, 1, 1, 1, 1, 1, 1, 1)",
                               NULL, NULL, NULL),
                  SQLITE_OK);
    cr_assert_eq(lir_store_open(dir, &st, err, sizeof err), LIR_OK, "%s", err);
    lir_store_close(st);
    /* a newer schema is refused by both sides */
    cr_assert_eq(sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    cr_assert_eq(lir_store_open(dir, &st, err, sizeof err), LIR_EFORMAT);
    cr_assert(strstr(err, "schema version 99"), "%s", err);
    lir_err e = { { 0 } };
    cr_assert_eq(lir__store_w_open(dir, NULL, &w, &e), LIR_EFORMAT);
    cr_assert(strstr(e.msg, "newer than"), "%s", e.msg);
    /* a file that is not SQLite */
    char path[512];
    snprintf(path, sizeof path, "%s/lir.db", dir);
    FILE *f = fopen(path, "w");
    fputs("this is not a database, just text that is long enough to be a header page.......\n", f);
    fclose(f);
    unlink(strcat(strcpy((char[600]){ 0 }, path), "-wal"));
    cr_assert_neq(lir_store_open(dir, &st, err, sizeof err), LIR_OK);
    cr_assert_null(st);
    dir_remove();
}

Test(store, data_dir_default) {
    char buf[512], *old_x = getenv("XDG_DATA_HOME") ? strdup(getenv("XDG_DATA_HOME")) : NULL;
    setenv("XDG_DATA_HOME", "/tmp/xdg-test", 1);
    cr_assert_eq(lir_data_dir_default(buf, sizeof buf), LIR_OK);
    cr_assert_str_eq(buf, "/tmp/xdg-test/lir");
    setenv("XDG_DATA_HOME", "relative/ignored", 1);
    cr_assert_eq(lir_data_dir_default(buf, sizeof buf), LIR_OK);
    char want[512];
    snprintf(want, sizeof want, "%s/.local/share/lir", getenv("HOME"));
    cr_assert_str_eq(buf, want);
    cr_assert_eq(lir_data_dir_default(buf, 4), LIR_EINVAL);
    if (old_x) setenv("XDG_DATA_HOME", old_x, 1);
    else unsetenv("XDG_DATA_HOME");
    free(old_x);
}

/* ---------------------------------------------------------------- downsampling, retention */

static void push(lir__store_w *w, int64_t ts, float cpu) {
    struct lir_resource_usage u;
    memset(&u, 0, sizeof u);
    u.timestamp_ms = ts;
    u.system_ram_bytes = 1000;
    u.system_ram_used_bytes = 500;
    u.cpu_usage_percent = cpu;
    u.active_models = 1;
    u.n_gpus = 1;
    snprintf(u.gpus[0].name, sizeof u.gpus[0].name, "Fake GPU");
    u.gpus[0].vram_total_bytes = 1 << 30;
    lir__store_w_usage(w, &u);
}

Test(store, downsampling_1s_1min, .timeout = 60) {
    dir_new("ds");
    lir__store_w *w = writer();
    const int64_t t0 = 1700000000000LL - 1700000000000LL % 60000; /* a minute boundary */
    /* 125 s of 100 ms samples; cpu = the sample's index within its second (0..9): mean 4.5 */
    for (int i = 0; i < 1250; i++) push(w, t0 + 100LL * i, (float)(i % 10));
    lir__store_w_close(w); /* writes the open buckets as partial rows */
    lir_store *st = NULL;
    char err[512];
    cr_assert_eq(lir_store_open(dir, &st, err, sizeof err), LIR_OK, "%s", err);
    struct lir_resource_usage *v;
    int32_t n;
    cr_assert_eq(lir_store_history(st, t0, t0 + 3600000, 1, &v, &n), LIR_OK);
    cr_assert_eq(n, 125, "one row per second");
    for (int32_t i = 0; i < n; i++) {
        cr_assert_eq(v[i].timestamp_ms, t0 + 1000LL * i);
        cr_assert_float_eq(v[i].cpu_usage_percent, 4.5f, 1e-5);
        cr_assert_eq(v[i].system_ram_used_bytes, 500);
        cr_assert_eq(v[i].n_gpus, 1, "GPUs kept as JSON");
        cr_assert_str_eq(v[i].gpus[0].name, "Fake GPU");
        cr_assert_eq(v[i].gpus[0].vram_total_bytes, 1u << 30);
    }
    free(v);
    cr_assert_eq(lir_store_history(st, t0, t0 + 3600000, 60, &v, &n), LIR_OK);
    cr_assert_eq(n, 3, "minutes 0, 1 and the partial 2");
    cr_assert_eq(v[1].timestamp_ms, t0 + 60000);
    cr_assert_float_eq(v[1].cpu_usage_percent, 4.5f, 1e-5);
    free(v);
    cr_assert_eq(lir_store_history(st, t0 + 10000, t0 + 19999, 1, &v, &n), LIR_OK);
    cr_assert_eq(n, 10, "a time range");
    free(v);
    cr_assert_eq(lir_store_history(st, 0, 1, 5, &v, &n), LIR_EINVAL, "resolution 1 or 60");
    sqlite3 *db = raw_open();
    cr_assert_eq(q_int(db, "SELECT samples FROM resource_usage_history WHERE resolution_s=1 ORDER BY timestamp LIMIT 1"), 10);
    cr_assert_eq(q_int(db, "SELECT samples FROM resource_usage_history WHERE resolution_s=60 ORDER BY timestamp LIMIT 1"), 600);
    sqlite3_close(db);
    lir_store_close(st);
    dir_remove();
}

Test(store, retention_24h_30d, .timeout = 60) {
    dir_new("ret");
    lir__store_w *w = writer();
    const int64_t t0 = 1700000000000LL - 1700000000000LL % 60000;
    const int64_t H = 3600000, D = 24 * H;
    for (int i = 0; i < 130; i++) push(w, t0 + 1000LL * i, 1); /* 2+ minutes at 1 s */
    lir__store_w_flush(w);
    sqlite3 *db = raw_open();
    cr_assert_eq(q_int(db, "SELECT count(*) FROM resource_usage_history WHERE resolution_s=1"), 129);
    cr_assert_eq(q_int(db, "SELECT count(*) FROM resource_usage_history WHERE resolution_s=60"), 2);
    /* 25 h later: the first day's second rows go at the next minute's close, its minute rows stay */
    for (int i = 0; i < 70; i++) push(w, t0 + 25 * H + 1000LL * i, 1);
    lir__store_w_flush(w);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM resource_usage_history WHERE resolution_s=1 AND timestamp < %lld",
             (long long)(t0 + D));
    cr_assert_eq(q_int(db, sql), 0, "1 s rows older than 24 h are gone");
    snprintf(sql, sizeof sql, "SELECT count(*) FROM resource_usage_history WHERE resolution_s=60 AND timestamp < %lld",
             (long long)(t0 + D));
    cr_assert_eq(q_int(db, sql), 3, "1 min rows are kept 30 days");
    /* 31 days later: those minute rows go too */
    for (int i = 0; i < 70; i++) push(w, t0 + 31 * D + 1000LL * i, 1);
    lir__store_w_flush(w);
    cr_assert_eq(q_int(db, sql), 0, "1 min rows older than 30 days are gone");
    cr_assert_eq(lir__store_w_errors(w), 0);
    sqlite3_close(db);
    lir__store_w_close(w);
    dir_remove();
}

/* ---------------------------------------------------------------- durability */

Test(store, durability_sigkill_in_write_storm, .timeout = 60) {
    dir_new("kill");
    int fd[2];
    cr_assert_eq(pipe(fd), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) { /* the child: events as fast as it can, reporting each committed batch */
        close(fd[0]);
        lir__store_w *w = NULL;
        if (lir__store_w_open(dir, NULL, &w, NULL)) _exit(3);
        for (uint64_t i = 1;; i++) {
            struct lir_event ev;
            memset(&ev, 0, sizeof ev);
            ev.type = LIR_EVENT_RESOURCE_ALERT;
            ev.seq = i;
            ev.timestamp_ms = (int64_t)i;
            snprintf(ev.message, sizeof ev.message, "storm %llu", (unsigned long long)i);
            lir__store_w_event(w, &ev, NULL);
            if (i % 97 == 0) {
                lir__store_w_flush(w); /* everything up to i is committed now */
                if (write(fd[1], &i, sizeof i) != sizeof i) _exit(4);
            }
        }
    }
    close(fd[1]);
    uint64_t last = 0, v;
    double t_end = 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    t_end = ts.tv_sec + ts.tv_nsec / 1e9 + 1.5;
    while (read(fd[0], &v, sizeof v) == sizeof v) { /* let it write for a while, then kill mid-storm */
        last = v;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        if (ts.tv_sec + ts.tv_nsec / 1e9 > t_end && last >= 97 * 5) break;
    }
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    close(fd[0]);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the child died by SIGKILL");
    cr_assert_geq(last, 97 * 5, "the child committed batches before the kill");
    sqlite3 *db = raw_open();
    char ok[64];
    q_text(db, "PRAGMA integrity_check", ok, sizeof ok);
    cr_assert_str_eq(ok, "ok");
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(DISTINCT json_extract(event_data_json, '$.seq')) FROM inference_events"
             " WHERE json_extract(event_data_json, '$.seq') <= %llu",
             (unsigned long long)last);
    cr_assert_eq(q_int(db, sql), (int64_t)last, "every row reported committed (1..%llu) is there",
                 (unsigned long long)last);
    cr_log_info("killed after %llu reported committed; %lld rows on disk", (unsigned long long)last,
                (long long)q_int(db, "SELECT count(*) FROM inference_events"));
    sqlite3_close(db);
    /* and the store opens again for writing and reading */
    lir__store_w *w = writer();
    lir__store_w_close(w);
    dir_remove();
}

/* ---------------------------------------------------------------- stale marking */

static struct lir_loaded_model fake_loaded(const char *id) {
    struct lir_loaded_model lm;
    memset(&lm, 0, sizeof lm);
    snprintf(lm.id, sizeof lm.id, "%s", id);
    snprintf(lm.model.id, sizeof lm.model.id, "inst-%s", id);
    snprintf(lm.model.name, sizeof lm.model.name, "name-%s", id);
    lm.status = LIR_LOADED_READY;
    lm.loaded_at_ms = 1000;
    lm.resources.ram_bytes = 4096;
    lm.resources.context_size = 512;
    lm.options = lir_load_options_default();
    return lm;
}
static void put_loaded(lir__store_w *w, const char *id) {
    struct lir_loaded_model lm = fake_loaded(id);
    struct lir_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = LIR_EVENT_MODEL_LOAD_COMPLETED;
    snprintf(ev.loaded_model_id, sizeof ev.loaded_model_id, "%s", id);
    lir__store_w_event(w, &ev, &lm);
}

Test(store, stale_rows_of_a_dead_process) {
    dir_new("stale");
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) { /* loads a model and dies without unloading it */
        lir__store_w *w = NULL;
        if (lir__store_w_open(dir, NULL, &w, NULL)) _exit(3);
        put_loaded(w, "child-model");
        lir__store_w_flush(w);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    lir__store_w *w = writer(); /* this process's own model, left loaded */
    put_loaded(w, "own-model");
    lir__store_w_flush(w);
    sqlite3 *db = raw_open();
    char s[32];
    q_text(db, "SELECT status FROM loaded_models WHERE id='child-model'", s, sizeof s);
    cr_assert_str_eq(s, "Stale", "marked when the writer opened");
    q_text(db, "SELECT status FROM loaded_models WHERE id='own-model'", s, sizeof s);
    cr_assert_str_eq(s, "Ready");
    cr_assert_eq(q_int(db, "SELECT ram_bytes FROM loaded_model_resources WHERE loaded_model_id='own-model'"), 4096);
    lir__store_w_close(w);
    w = writer(); /* reopened by a live process: its rows stay */
    lir__store_w_close(w);
    q_text(db, "SELECT status FROM loaded_models WHERE id='own-model'", s, sizeof s);
    cr_assert_str_eq(s, "Ready", "the owner is alive");
    sqlite3_close(db);
    dir_remove();
}

/* ---------------------------------------------------------------- through the runtime */

Test(store, runtime_writes_loads_generations_history, .timeout = 120) {
    dir_new("rt");
    char models[300], path[400];
    snprintf(models, sizeof models, "%s-models", dir);
    mkdir(models, 0700);
    snprintf(path, sizeof path, "%s/tiny.gguf", models);
    lir_err e = { { 0 } };
    cr_assert_eq(make_tiny(path, LIR_GEN_LLAMA, LIR_TYPE_Q8_0, 7, &e), LIR_OK, "%s", e.msg);
    struct lir_runtime_params p = lir_runtime_params_default();
    p.models_dir = models;
    p.data_dir = dir;
    char snaps[400];
    snprintf(snaps, sizeof snaps, "%s/snaps", dir);
    p.snapshots_dir = snaps;
    p.monitor_interval_ms = 20;
    p.ram_alert_percent = 0;
    lir_runtime *rt = NULL;
    char err[512] = "";
    cr_assert_eq(lir_runtime_create(&p, &rt, err, sizeof err), LIR_OK, "%s", err);
    struct lir_load_options o = lir_load_options_default();
    o.context_size = 64;
    o.threads = 1;
    char id[LIR_ID_LEN];
    cr_assert_eq(lir_runtime_load(rt, "tiny", &o, NULL, NULL, id, NULL, err, sizeof err), LIR_OK, "%s", err);
    struct lir_generate_request q = lir_generate_request_default();
    q.model = id;
    q.prompt = "hello";
    q.sampling.max_tokens = 8;
    q.sampling.seed = 1;
    for (int i = 0; i < 2; i++) {
        struct lir_generate_result r;
        cr_assert_eq(lir_runtime_generate(rt, &q, &r, err, sizeof err), LIR_OK, "%s", err);
        lir_generate_result_clear(&r);
    }
    struct lir_snapshot_entry se;
    cr_assert_eq(lir_runtime_snapshot_save(rt, id, "s1", &se, err, sizeof err), LIR_OK, "%s", err);
    struct timespec ts = { 1, 200000000 }; /* over a second of samples: at least one closed 1 s row */
    nanosleep(&ts, NULL);
    struct lir_resource_usage *v;
    int32_t n;
    cr_assert_eq(lir_runtime_resource_history(rt, 2 * 3600 * 1000, &v, &n), LIR_OK, "beyond memory: the store");
    cr_assert_geq(n, 1);
    cr_assert_gt(v[0].system_ram_bytes, 0);
    lir_runtime_free(v);
    lir_runtime_destroy(rt);

    lir_store *st = NULL;
    cr_assert_eq(lir_store_open(dir, &st, err, sizeof err), LIR_OK, "%s", err);
    struct lir_model_profile *m;
    cr_assert_eq(lir_store_profiles(st, 0, &m, &n), LIR_OK);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(m[0].loaded_model_id, id);
    cr_assert_str_eq(m[0].model_name, "tiny");
    cr_assert_eq(m[0].requests, 2);
    cr_assert_eq(m[0].completion_tokens > 0, true);
    cr_assert_eq(m[0].total_ms.n, 2);
    lir_runtime_free(m);
    struct lir_request_record *r;
    cr_assert_eq(lir_store_records(st, 0, &r, &n), LIR_OK);
    cr_assert_eq(n, 2);
    cr_assert_gt(r[0].metrics.total_ms, 0);
    lir_runtime_free(r);
    lir_store_close(st);
    sqlite3 *db = raw_open();
    char s[64], sql[256];
    snprintf(sql, sizeof sql, "SELECT status FROM loaded_models WHERE id='%s'", id);
    q_text(db, sql, s, sizeof s);
    cr_assert_str_eq(s, "Unloaded", "destroy unloads, and the store hears it");
    snprintf(sql, sizeof sql, "SELECT total_requests FROM loaded_models WHERE id='%s'", id);
    cr_assert_eq(q_int(db, sql), 2);
    snprintf(sql, sizeof sql, "SELECT context_size FROM loaded_model_resources WHERE loaded_model_id='%s'", id);
    cr_assert_eq(q_int(db, sql), 64);
    cr_assert_eq(q_int(db, "SELECT count(*) FROM inference_events WHERE event_type='GenerationCompleted'"), 2);
    cr_assert_eq(q_int(db, "SELECT count(*) FROM inference_events WHERE event_type='ModelLoadCompleted'"), 1);
    cr_assert_eq(q_int(db, "SELECT count(*) FROM inference_events WHERE event_type='ModelUnloaded'"), 1);
    cr_assert_geq(q_int(db, "SELECT count(*) FROM resource_usage_history WHERE resolution_s=1"), 1);
    char opts[512];
    snprintf(sql, sizeof sql, "SELECT load_options_json FROM loaded_models WHERE id='%s'", id);
    q_text(db, sql, opts, sizeof opts);
    cr_assert(strstr(opts, "\"context_size\":64"), "%s", opts);
    /* the snapshot's row points to its file, with the file's own checksum (its last 32 bytes) */
    snprintf(sql, sizeof sql, "SELECT data_path FROM context_snapshots WHERE id='%s' AND loaded_model_id='%s'", se.id, id);
    char sp[600], want[600];
    q_text(db, sql, sp, sizeof sp);
    snprintf(want, sizeof want, "%s/s1.lirsnap", snaps);
    cr_assert_str_eq(sp, want);
    snprintf(sql, sizeof sql, "SELECT token_count FROM context_snapshots WHERE id='%s'", se.id);
    cr_assert_eq(q_int(db, sql), se.token_count);
    snprintf(sql, sizeof sql, "SELECT size_bytes FROM context_snapshots WHERE id='%s'", se.id);
    struct stat fst;
    cr_assert_eq(stat(want, &fst), 0);
    cr_assert_eq(q_int(db, sql), (int64_t)fst.st_size);
    FILE *f = fopen(want, "rb");
    unsigned char sum[32];
    cr_assert_eq(fseek(f, -32, SEEK_END), 0);
    cr_assert_eq(fread(sum, 1, 32, f), 32);
    fclose(f);
    char hex[65];
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", sum[i]);
    snprintf(sql, sizeof sql, "SELECT checksum FROM context_snapshots WHERE id='%s'", se.id);
    char got[80];
    q_text(db, sql, got, sizeof got);
    cr_assert_str_eq(got, hex);
    sqlite3_close(db);
    dir_remove();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", models);
    if (system(cmd)) {}
}
