/* store.h — the SQLite store (spec §4.1): schema and migrations (store.c), the writer thread
 * that batches inserts so inference never waits on disk, with the 1 s / 1 min downsampler and
 * retention (writer.c), and the read side behind lir_store_* (reader.c).
 *
 * Writer locking: w->mu guards the op queue, the downsampler buckets and the sequence numbers;
 * the SQLite connection is used by the writer thread only (and by open/close around it). */
#ifndef LIR_STORE_H
#define LIR_STORE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include "lir.h"
#include "util/util.h"

#define LIR_STORE_SCHEMA_VERSION 1
#define LIR_STORE_RETAIN_1S_MS (24LL * 3600 * 1000)       /* 1 s rows: 24 h */
#define LIR_STORE_RETAIN_1M_MS (30LL * 24 * 3600 * 1000)  /* 1 min rows: 30 days */

/* store.c */
/* "<dir>/lir.db" into buf. Returns LIR_OK or LIR_EINVAL (too long). */
enum lir_status lir__store_path(const char *dir, char *buf, size_t n, lir_err *e);
/* Opens (creating dir and file when create) with WAL, foreign keys on, busy timeout, and brings the
 * schema to LIR_STORE_SCHEMA_VERSION (create only; read-only opens check it). */
enum lir_status lir__store_db_open(const char *dir, bool create, sqlite3 **out, lir_err *e);
/* Marks rows of loaded_models whose owning process is gone as 'Stale'; returns how many. */
int lir__store_mark_stale(sqlite3 *db);
/* This process's identity for stale marking: pid and start time (/proc/self/stat field 22). */
uint64_t lir__proc_start_time(int pid);

/* writer.c */
typedef struct lir__store_w lir__store_w;
struct lir__store_w_params {
    int32_t batch_ms;          /* how long the writer gathers before a transaction (50) */
};
enum lir_status lir__store_w_open(const char *dir, const struct lir__store_w_params *p, lir__store_w **out,
                                  lir_err *e);
/* Commits what is queued, stops the thread, closes. Accepts NULL. */
void lir__store_w_close(lir__store_w *w);
/* Feeds the downsampler (1 s and 1 min buckets closed by the samples' own timestamps; the
 * closing of a minute also applies retention relative to that sample's time). Never blocks on disk. */
void lir__store_w_usage(lir__store_w *w, const struct lir_resource_usage *u);
/* An event (copied); lm (may be NULL) is the loaded model's state for load / unload / generation
 * events (loaded_models and loaded_model_resources rows). */
void lir__store_w_event(lir__store_w *w, const struct lir_event *ev, const struct lir_loaded_model *lm);
void lir__store_w_generation(lir__store_w *w, const struct lir_request_record *r);
/* A context_snapshots row (upsert by id): the snapshot file at path (borrowed strings, copied)
 * with its BLAKE2b-256 checksum (the file's last 32 bytes, hex). */
struct lir__store_snapshot {
    char id[LIR_ID_LEN], loaded_model_id[LIR_ID_LEN];
    int32_t token_count;
    uint64_t size_bytes;
    int64_t created_at_ms;
    char path[4096];
    char checksum[65];
};
void lir__store_w_snapshot(lir__store_w *w, const struct lir__store_snapshot *sn);
/* Waits until every op queued before the call is committed; returns the number of ops committed
 * so far (the writer's sequence). */
uint64_t lir__store_w_flush(lir__store_w *w);
/* Number of failed transactions (the writer keeps going; a failed batch is dropped). */
uint64_t lir__store_w_errors(lir__store_w *w);

#endif
