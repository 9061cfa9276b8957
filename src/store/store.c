/* store.c — the store's database: where it lives (XDG data directory), how it is opened (WAL,
 * foreign keys on, a busy timeout for the reader next to the writer), the schema of spec §4.1
 * in SQLite types and its migrations by PRAGMA user_version, and the stale marking of rows
 * left by a process that is gone.
 *
 * SQLite types: UUIDs are TEXT, times are INTEGER Unix milliseconds, JSONB is TEXT, durations
 * REAL milliseconds. The append-only tables (resource_usage_history, generation_metrics,
 * inference_events) key rows by INTEGER PRIMARY KEY (the rowid) instead of a UUID: cheaper, and
 * nothing refers to their rows. installed_models is not a table of ours (installed models are
 * the GGUF files), so installed_model_id is a plain column. Snapshot data stays in files:
 * context_snapshots rows hold the path and checksum. Columns beyond the spec: loaded_models
 * model_name (for reports after the model is gone) and owner_pid/owner_start (the process that
 * loaded it, for stale marking); resource_usage_history resolution_s (1 or 60) and samples (how
 * many monitor samples the row averages). */
#include "store/store.h"
#include "context/snapshot.h" /* lir__mkdirs */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Migration i brings user_version from i to i + 1. Append, never edit a released one. */
static const char *const migrations[] = {
    /* 0 -> 1: the tables of spec §4.1 */
    "CREATE TABLE loaded_models ("
    " id TEXT PRIMARY KEY,"
    " installed_model_id TEXT NOT NULL,"
    " model_name TEXT NOT NULL DEFAULT '',"
    " backend_type TEXT NOT NULL,"
    " status TEXT NOT NULL DEFAULT 'Loading',"
    " loaded_at INTEGER NOT NULL,"
    " last_used_at INTEGER,"
    " active_requests INTEGER NOT NULL DEFAULT 0,"
    " total_requests INTEGER NOT NULL DEFAULT 0,"
    " total_tokens_generated INTEGER NOT NULL DEFAULT 0,"
    " total_inference_time_ms INTEGER NOT NULL DEFAULT 0,"
    " average_tokens_per_second REAL,"
    " peak_tokens_per_second REAL,"
    " average_ttft_ms INTEGER,"
    " load_options_json TEXT,"
    " error_message TEXT,"
    " owner_pid INTEGER NOT NULL,"
    " owner_start INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL);"
    "CREATE INDEX idx_loaded_models_installed ON loaded_models(installed_model_id);"
    "CREATE INDEX idx_loaded_models_status ON loaded_models(status);"
    "CREATE INDEX idx_loaded_models_active ON loaded_models(status) WHERE status = 'Ready';"
    "CREATE TABLE loaded_model_resources ("
    " id TEXT PRIMARY KEY,"
    " loaded_model_id TEXT NOT NULL UNIQUE REFERENCES loaded_models(id) ON DELETE CASCADE,"
    " ram_bytes INTEGER NOT NULL,"
    " vram_bytes INTEGER,"
    " loaded_layers INTEGER NOT NULL,"
    " gpu_layers INTEGER NOT NULL,"
    " cpu_layers INTEGER NOT NULL,"
    " context_size INTEGER NOT NULL,"
    " context_used INTEGER NOT NULL,"
    " last_updated_at INTEGER NOT NULL);"
    "CREATE TABLE context_snapshots ("
    " id TEXT PRIMARY KEY,"
    " loaded_model_id TEXT NOT NULL REFERENCES loaded_models(id) ON DELETE CASCADE,"
    " token_count INTEGER NOT NULL,"
    " size_bytes INTEGER NOT NULL,"
    " data_path TEXT NOT NULL,"
    " checksum TEXT NOT NULL,"
    " created_at INTEGER NOT NULL);"
    "CREATE INDEX idx_snapshots_model ON context_snapshots(loaded_model_id);"
    "CREATE INDEX idx_snapshots_created ON context_snapshots(created_at DESC);"
    "CREATE TABLE resource_usage_history ("
    " id INTEGER PRIMARY KEY,"
    " timestamp INTEGER NOT NULL,"
    " resolution_s INTEGER NOT NULL,"
    " samples INTEGER NOT NULL,"
    " system_ram_bytes INTEGER NOT NULL,"
    " system_ram_used_bytes INTEGER NOT NULL,"
    " process_ram_bytes INTEGER NOT NULL,"
    " models_ram_bytes INTEGER NOT NULL,"
    " cpu_usage_percent REAL NOT NULL,"
    " process_cpu_percent REAL NOT NULL,"
    " active_models INTEGER NOT NULL,"
    " active_requests INTEGER NOT NULL,"
    " current_tokens_per_second REAL NOT NULL,"
    " gpu_usage_json TEXT);"
    "CREATE INDEX idx_usage_history_timestamp ON resource_usage_history(resolution_s, timestamp DESC);"
    "CREATE TABLE generation_metrics ("
    " id INTEGER PRIMARY KEY,"
    " loaded_model_id TEXT NOT NULL REFERENCES loaded_models(id) ON DELETE CASCADE,"
    " request_id TEXT,"
    " timestamp INTEGER NOT NULL,"
    " total_time_ms REAL NOT NULL,"
    " time_to_first_token_ms REAL NOT NULL,"
    " generation_time_ms REAL NOT NULL,"
    " tokens_per_second REAL NOT NULL,"
    " prompt_eval_tokens_per_second REAL NOT NULL,"
    " prompt_tokens INTEGER NOT NULL,"
    " completion_tokens INTEGER NOT NULL,"
    " finish_reason TEXT);"
    "CREATE INDEX idx_metrics_model ON generation_metrics(loaded_model_id);"
    "CREATE INDEX idx_metrics_timestamp ON generation_metrics(timestamp DESC);"
    "CREATE TABLE inference_events ("
    " id INTEGER PRIMARY KEY,"
    " timestamp INTEGER NOT NULL,"
    " event_type TEXT NOT NULL,"
    " loaded_model_id TEXT REFERENCES loaded_models(id) ON DELETE CASCADE,"
    " event_data_json TEXT);"
    "CREATE INDEX idx_events_timestamp ON inference_events(timestamp DESC);"
    "CREATE INDEX idx_events_model ON inference_events(loaded_model_id);"
    "CREATE INDEX idx_events_type ON inference_events(event_type);",
};
_Static_assert(sizeof migrations / sizeof migrations[0] == LIR_STORE_SCHEMA_VERSION,
               "one migration per schema version");

enum lir_status lir_data_dir_default(char *buf, size_t n) {
    if (!buf || !n) return LIR_EINVAL;
    const char *x = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    int k;
    /* XDG: a relative XDG_DATA_HOME is invalid and is ignored */
    if (x && x[0] == '/') k = snprintf(buf, n, "%s/lir", x);
    else if (home && home[0]) k = snprintf(buf, n, "%s/.local/share/lir", home);
    else return LIR_EINVAL;
    return k > 0 && (size_t)k < n ? LIR_OK : LIR_EINVAL;
}

enum lir_status lir__store_path(const char *dir, char *buf, size_t n, lir_err *e) {
    int k = snprintf(buf, n, "%s/lir.db", dir);
    if (k < 0 || (size_t)k >= n) return lir__errf(e, LIR_EINVAL, "store: data_dir '%.200s...' is too long", dir);
    return LIR_OK;
}

static int user_version(sqlite3 *db) {
    sqlite3_stmt *st;
    int v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    return v;
}

enum lir_status lir__store_db_open(const char *dir, bool create, sqlite3 **out, lir_err *e) {
    *out = NULL;
    char path[4200];
    enum lir_status s = lir__store_path(dir, path, sizeof path, e);
    if (s) return s;
    if (create && (s = lir__mkdirs(dir, e, "store"))) return s;
    if (!create && access(path, F_OK))
        return lir__errf(e, LIR_ENOTFOUND, "store: no database at '%s'", path);
    sqlite3 *db = NULL;
    int flags = (create ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY) | SQLITE_OPEN_FULLMUTEX;
    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
        s = lir__errf(e, LIR_EIO, "store: cannot open '%s': %s", path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return s;
    }
    sqlite3_busy_timeout(db, 5000);
    char *msg = NULL;
    /* synchronous=NORMAL in WAL mode: a commit survives the process being killed (the WAL is in
       the OS's hands at commit); only a power loss may lose the last transactions */
    const char *pragmas = create ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                                 : "PRAGMA foreign_keys=ON;";
    if (sqlite3_exec(db, pragmas, NULL, NULL, &msg) != SQLITE_OK) {
        s = lir__errf(e, LIR_EIO, "store: '%s': %s", path, msg ? msg : "pragma failed");
        goto fail;
    }
    int v = user_version(db);
    if (v < 0) {
        s = lir__errf(e, LIR_EFORMAT, "store: '%s' is not an SQLite database: %s", path, sqlite3_errmsg(db));
        goto fail;
    }
    if (v > LIR_STORE_SCHEMA_VERSION) {
        s = lir__errf(e, LIR_EFORMAT, "store: '%s' has schema version %d, newer than this lir's %d", path, v,
                      LIR_STORE_SCHEMA_VERSION);
        goto fail;
    }
    if (!create && v < LIR_STORE_SCHEMA_VERSION) {
        s = lir__errf(e, LIR_EFORMAT, "store: '%s' has schema version %d (not a lir store, or not migrated yet)", path,
                      v);
        goto fail;
    }
    for (; v < LIR_STORE_SCHEMA_VERSION; v++) {
        char set[64];
        snprintf(set, sizeof set, "PRAGMA user_version=%d;", v + 1);
        if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(db, migrations[v], NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(db, set, NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
            s = lir__errf(e, LIR_EIO, "store: migration %d -> %d of '%s' failed: %s", v, v + 1, path,
                          msg ? msg : sqlite3_errmsg(db));
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            goto fail;
        }
    }
    *out = db;
    return LIR_OK;
fail:
    sqlite3_free(msg);
    sqlite3_close(db);
    return s;
}

uint64_t lir__proc_start_time(int pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    unsigned long long st = 0;
    /* after the name: state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
       utime stime cutime cstime priority nice num_threads itrealvalue starttime(22) */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                     &st) != 1)
        return 0;
    return st;
}

int lir__store_mark_stale(sqlite3 *db) {
    sqlite3_stmt *q = NULL, *u = NULL;
    int marked = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT DISTINCT owner_pid, owner_start FROM loaded_models"
                           " WHERE status IN ('Loading','Ready','Busy','Unloading')",
                           -1, &q, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "UPDATE loaded_models SET status='Stale', active_requests=0 WHERE owner_pid=?1 AND"
                           " owner_start=?2 AND status IN ('Loading','Ready','Busy','Unloading')",
                           -1, &u, NULL) != SQLITE_OK)
        goto done;
    /* a process is the same one when its pid is alive with the same start time (pids are reused) */
    struct { int64_t pid, start; } gone[64];
    int n_gone = 0;
    while (sqlite3_step(q) == SQLITE_ROW && n_gone < 64) {
        int64_t pid = sqlite3_column_int64(q, 0), start = sqlite3_column_int64(q, 1);
        bool alive = pid > 0 && pid <= INT32_MAX && (uint64_t)start == lir__proc_start_time((int)pid);
        if (!alive) {
            gone[n_gone].pid = pid;
            gone[n_gone++].start = start;
        }
    }
    sqlite3_finalize(q);
    q = NULL;
    for (int i = 0; i < n_gone; i++) {
        sqlite3_reset(u);
        sqlite3_bind_int64(u, 1, gone[i].pid);
        sqlite3_bind_int64(u, 2, gone[i].start);
        if (sqlite3_step(u) == SQLITE_DONE) marked += sqlite3_changes(db);
    }
done:
    sqlite3_finalize(q);
    sqlite3_finalize(u);
    return marked;
}
