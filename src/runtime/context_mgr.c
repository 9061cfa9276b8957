/* context_mgr.c — the runtime's context manager (spec §2.2 IContextManager, §5.4; include/lir.h
 * "runtime: context manager"): status, clear, truncate (context shift) and snapshots of a loaded
 * model's context, and the snapshot directory (save, restore, list, delete).
 *
 * Every operation on a context takes the model's FIFO turn (runtime.h) as a request does, so it
 * owns e->ctx without the runtime lock and never runs during a generation. Requests use sequence
 * 0 of the context; so does the manager. Snapshot files are lir_snapshot_save's, named
 * <dir>/<name>.lirsnap with the name checked against a strict alphabet, so no name can reach
 * outside the directory. Events: ContextTruncated, SnapshotSaved, SnapshotRestored (§12). */
#include "runtime/runtime.h"
#include "model/forward.h"
#include "context/snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SNAP_EXT LIR_SNAP_EXT
#define SNAP_NAME_MAX LIR_SNAP_NAME_MAX
#define SEQ 0

/* ---------------------------------------------------------------- helpers */

/* The snapshot directory (owned string; NULL when out of memory). */
static char *snap_dir(const lir_runtime *rt) {
    if (rt->snapshots_dir) return strdup(rt->snapshots_dir);
    char buf[4096];
    lir__snapshot_dir_default(buf, sizeof buf);
    return strdup(buf);
}

/* A UUID (RFC 9562 version 8 layout) from the snapshot's name. */
static void snap_id(const char *name, char out[LIR_ID_LEN]) {
    uint8_t h[16];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof h);
    static const char dom[] = "lir snapshot id:";
    crypto_generichash_update(&st, (const uint8_t *)dom, sizeof dom - 1);
    crypto_generichash_update(&st, (const uint8_t *)name, strlen(name));
    crypto_generichash_final(&st, h, sizeof h);
    h[6] = (uint8_t)((h[6] & 0x0f) | 0x80);
    h[8] = (uint8_t)((h[8] & 0x3f) | 0x80);
    snprintf(out, LIR_ID_LEN, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", h[0], h[1], h[2],
             h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]);
}

static void fill_entry(struct lir_snapshot_entry *o, const char *name, const struct lir_snapshot_info *in,
                       const char *loaded_id) {
    memset(o, 0, sizeof *o);
    snap_id(name, o->id);
    snprintf(o->name, sizeof o->name, "%s", name);
    if (loaded_id) snprintf(o->loaded_model_id, sizeof o->loaded_model_id, "%s", loaded_id);
    lir_fingerprint_hex(in->fingerprint, o->model_fingerprint);
    o->token_count = in->n_tokens;
    o->size_bytes = in->size_bytes;
    o->created_at_ms = in->created_at_ms;
}

/* Holds a loaded model for a context operation: licence feature, the entry (never loading one),
 * the FIFO turn. */
static enum lir_status hold(lir_runtime *rt, const char *loaded_id, enum lir_feature f, struct rt_entry **out,
                            lir_err *e, const char *fn) {
    char msg[LIR_ERR_MAX];
    enum lir_status s = lir_licence_check(rt->licence, f, msg, sizeof msg);
    if (s) return lir__errf(e, s, "%s: %s", fn, msg);
    char id[LIR_ID_LEN];
    pthread_mutex_lock(&rt->mu);
    const char *want = loaded_id ? loaded_id : rt->active;
    bool found = false;
    for (struct rt_entry *en = rt->entries; en && want[0]; en = en->next)
        if (!strcmp(en->info.id, want) && en->ctx) found = true;
    snprintf(id, sizeof id, "%s", want);
    pthread_mutex_unlock(&rt->mu);
    if (!found)
        return lir__errf(e, LIR_ENOTFOUND, "%s: %s", fn,
                         loaded_id ? "no loaded model has that id" : "no active model");
    lir_err ae = { { 0 } };
    if ((s = lir__rt_acquire(rt, id, out, &ae))) return lir__errf(e, s, "%s: %s", fn, ae.msg);
    lir__rt_begin_turn(rt, *out);
    return LIR_OK;
}

static void unhold(lir_runtime *rt, struct rt_entry *en) {
    lir__rt_end_turn(rt, en, NULL, lir_context_seq_length(en->ctx, SEQ));
    lir__rt_release(rt, en);
}

static void usage_of(const struct rt_entry *en, struct lir_context_usage *o) {
    memset(o, 0, sizeof *o);
    snprintf(o->loaded_model_id, sizeof o->loaded_model_id, "%s", en->info.id);
    struct lir_context_seq_status ss;
    struct lir_context_status cs;
    if (lir_context_seq_status(en->ctx, SEQ, &ss) || lir_context_get_status(en->ctx, &cs)) return;
    o->max_context_size = ss.max_tokens;
    o->used_tokens = ss.n_tokens;
    o->available_tokens = ss.available_tokens;
    o->usage_percent = (float)ss.usage_percent;
    o->kv_cache_bytes = ss.kv_bytes;
    o->kv_cache_capacity_bytes = cs.kv_bytes;
    o->kv_cache_used_bytes = cs.kv_bytes_used;
}

static enum lir_status finish(lir_err *e, enum lir_status s, char *err, size_t err_len) {
    if (err && err_len) err[0] = 0;
    if (s) lir__err_copy(e, err, err_len);
    return s;
}

/* ---------------------------------------------------------------- status, clear, truncate */

enum lir_status lir_runtime_context_status(lir_runtime *rt, const char *loaded_id, struct lir_context_usage *out,
                                           char *err, size_t err_len) {
    lir_err e = { { 0 } };
    if (!rt || !out) return finish(&e, lir__errf(&e, LIR_EINVAL, "lir_runtime_context_status: NULL argument"), err, err_len);
    struct rt_entry *en;
    enum lir_status s = hold(rt, loaded_id, LIR_FEATURE_CONTEXT_MANAGEMENT, &en, &e, "lir_runtime_context_status");
    if (s) return finish(&e, s, err, err_len);
    usage_of(en, out);
    unhold(rt, en);
    return finish(&e, LIR_OK, err, err_len);
}

enum lir_status lir_runtime_context_clear(lir_runtime *rt, const char *loaded_id, char *err, size_t err_len) {
    lir_err e = { { 0 } };
    if (!rt) return finish(&e, lir__errf(&e, LIR_EINVAL, "lir_runtime_context_clear: NULL runtime"), err, err_len);
    struct rt_entry *en;
    enum lir_status s = hold(rt, loaded_id, LIR_FEATURE_CONTEXT_MANAGEMENT, &en, &e, "lir_runtime_context_clear");
    if (s) return finish(&e, s, err, err_len);
    if ((s = lir_context_seq_clear(en->ctx, SEQ)))
        lir__errf(&e, s, "lir_runtime_context_clear: %s", lir_context_last_error(en->ctx));
    unhold(rt, en);
    return finish(&e, s, err, err_len);
}

enum lir_status lir_runtime_context_truncate(lir_runtime *rt, const char *loaded_id, int32_t keep_tokens, int32_t n_keep,
                                             struct lir_context_usage *out, char *err, size_t err_len) {
    lir_err e = { { 0 } };
    static const char fn[] = "lir_runtime_context_truncate";
    if (!rt) return finish(&e, lir__errf(&e, LIR_EINVAL, "%s: NULL runtime", fn), err, err_len);
    if (keep_tokens < 0)
        return finish(&e, lir__errf(&e, LIR_EINVAL, "%s: keep_tokens %d is negative", fn, keep_tokens), err, err_len);
    if (n_keep > keep_tokens)
        return finish(&e, lir__errf(&e, LIR_EINVAL, "%s: n_keep %d is more than keep_tokens %d", fn, n_keep, keep_tokens),
                      err, err_len);
    struct rt_entry *en;
    enum lir_status s = hold(rt, loaded_id, LIR_FEATURE_CONTEXT_MANAGEMENT, &en, &e, fn);
    if (s) return finish(&e, s, err, err_len);
    int32_t used = 0;
    const lir_token *t = lir_context_seq_tokens(en->ctx, SEQ, &used);
    const int32_t before = used;
    if (used > keep_tokens) {
        if (n_keep < 0) {
            const lir_token bos = lir_vocab_bos(lir__context_model(en->ctx));
            n_keep = used > 0 && bos >= 0 && t[0] == bos && keep_tokens > 0 ? 1 : 0;
        }
        if ((s = lir_context_seq_truncate(en->ctx, SEQ, n_keep, used - keep_tokens)))
            lir__errf(&e, s, "%s: %s", fn, lir_context_last_error(en->ctx));
    }
    const int32_t after = lir_context_seq_length(en->ctx, SEQ);
    if (out) usage_of(en, out);
    char id[LIR_ID_LEN];
    snprintf(id, sizeof id, "%s", en->info.id);
    unhold(rt, en);
    if (!s && after != before) {
        struct lir_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = LIR_EVENT_CONTEXT_TRUNCATED;
        snprintf(ev.loaded_model_id, sizeof ev.loaded_model_id, "%s", id);
        ev.tokens_before = before;
        ev.tokens_after = after;
        lir__rt_emit(rt, &ev);
    }
    return finish(&e, s, err, err_len);
}

/* ---------------------------------------------------------------- snapshots */

static char *snap_path(const lir_runtime *rt, const char *name, lir_err *e, const char *fn) {
    char *dir = snap_dir(rt);
    if (!dir) {
        lir__errf(e, LIR_ENOMEM, "%s: out of memory", fn);
        return NULL;
    }
    size_t n = strlen(dir) + 1 + strlen(name) + sizeof SNAP_EXT;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s%s", dir, name, SNAP_EXT);
    else lir__errf(e, LIR_ENOMEM, "%s: out of memory", fn);
    free(dir);
    return p;
}

static void emit_snap(lir_runtime *rt, enum lir_event_type type, const struct lir_snapshot_entry *en) {
    struct lir_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = type;
    snprintf(ev.loaded_model_id, sizeof ev.loaded_model_id, "%s", en->loaded_model_id);
    snprintf(ev.snapshot_id, sizeof ev.snapshot_id, "%s", en->id);
    snprintf(ev.message, sizeof ev.message, "%s", en->name);
    ev.tokens_after = en->token_count;
    lir__rt_emit(rt, &ev);
}

enum lir_status lir_runtime_snapshot_save(lir_runtime *rt, const char *loaded_id, const char *name,
                                          struct lir_snapshot_entry *out, char *err, size_t err_len) {
    lir_err e = { { 0 } };
    static const char fn[] = "lir_runtime_snapshot_save";
    if (!rt) return finish(&e, lir__errf(&e, LIR_EINVAL, "%s: NULL runtime", fn), err, err_len);
    if (!lir__snapshot_name_ok(name, &e, fn)) return finish(&e, LIR_EINVAL, err, err_len);
    char *path = snap_path(rt, name, &e, fn);
    if (!path) return finish(&e, LIR_ENOMEM, err, err_len);
    char *dir = strdup(path);
    enum lir_status s = dir ? LIR_OK : lir__errf(&e, LIR_ENOMEM, "%s: out of memory", fn);
    if (!s) {
        *strrchr(dir, '/') = 0;
        s = lir__mkdirs(dir, &e, fn);
    }
    free(dir);
    struct rt_entry *en = NULL;
    if (!s) s = hold(rt, loaded_id, LIR_FEATURE_CONTEXT_SNAPSHOTS, &en, &e, fn);
    if (s) {
        free(path);
        return finish(&e, s, err, err_len);
    }
    struct lir_snapshot_params p = lir_snapshot_params_default();
    p.name = name;
    struct lir_snapshot_info info;
    if ((s = lir_snapshot_save(en->ctx, SEQ, path, &p, &info))) lir__errf(&e, s, "%s: %s", fn, lir_context_last_error(en->ctx));
    struct lir_snapshot_entry ent;
    if (!s) fill_entry(&ent, name, &info, en->info.id);
    unhold(rt, en);
    free(path);
    if (!s) {
        emit_snap(rt, LIR_EVENT_SNAPSHOT_SAVED, &ent);
        if (out) *out = ent;
    }
    return finish(&e, s, err, err_len);
}

enum lir_status lir_runtime_snapshot_restore(lir_runtime *rt, const char *loaded_id, const char *name,
                                             struct lir_snapshot_entry *out, char *err, size_t err_len) {
    lir_err e = { { 0 } };
    static const char fn[] = "lir_runtime_snapshot_restore";
    if (!rt) return finish(&e, lir__errf(&e, LIR_EINVAL, "%s: NULL runtime", fn), err, err_len);
    if (!lir__snapshot_name_ok(name, &e, fn)) return finish(&e, LIR_EINVAL, err, err_len);
    char *path = snap_path(rt, name, &e, fn);
    if (!path) return finish(&e, LIR_ENOMEM, err, err_len);
    struct rt_entry *en = NULL;
    enum lir_status s = hold(rt, loaded_id, LIR_FEATURE_CONTEXT_SNAPSHOTS, &en, &e, fn);
    if (s) {
        free(path);
        return finish(&e, s, err, err_len);
    }
    struct lir_snapshot_info info;
    if ((s = lir_snapshot_restore(en->ctx, SEQ, path, NULL, &info))) {
        if (s == LIR_ENOTFOUND) lir__errf(&e, s, "%s: no snapshot named '%s'", fn, name);
        else lir__errf(&e, s, "%s: %s", fn, lir_context_last_error(en->ctx));
    }
    struct lir_snapshot_entry ent;
    if (!s) fill_entry(&ent, name, &info, en->info.id);
    unhold(rt, en);
    free(path);
    if (!s) {
        emit_snap(rt, LIR_EVENT_SNAPSHOT_RESTORED, &ent);
        if (out) *out = ent;
    }
    return finish(&e, s, err, err_len);
}

static int by_newest(const void *a, const void *b) {
    const struct lir_snapshot_entry *x = a, *y = b;
    if (x->created_at_ms != y->created_at_ms) return x->created_at_ms > y->created_at_ms ? -1 : 1;
    return strcmp(x->name, y->name);
}

enum lir_status lir_runtime_snapshot_list(lir_runtime *rt, const char *loaded_id, struct lir_snapshot_entry **out,
                                          int32_t *n, char *err, size_t err_len) {
    lir_err e = { { 0 } };
    static const char fn[] = "lir_runtime_snapshot_list";
    if (!rt || !out || !n) return finish(&e, lir__errf(&e, LIR_EINVAL, "%s: NULL argument", fn), err, err_len);
    *out = NULL;
    *n = 0;
    char msg[LIR_ERR_MAX];
    enum lir_status s = lir_licence_check(rt->licence, LIR_FEATURE_CONTEXT_SNAPSHOTS, msg, sizeof msg);
    if (s) return finish(&e, lir__errf(&e, s, "%s: %s", fn, msg), err, err_len);
    uint8_t fp[LIR_FINGERPRINT_LEN];
    if (loaded_id) { /* the model's fingerprint, under its turn (the model stays loaded meanwhile) */
        struct rt_entry *en;
        if ((s = hold(rt, loaded_id, LIR_FEATURE_CONTEXT_SNAPSHOTS, &en, &e, fn))) return finish(&e, s, err, err_len);
        s = lir_model_fingerprint(lir__context_model(en->ctx), fp);
        unhold(rt, en);
        if (s) return finish(&e, lir__errf(&e, s, "%s: model fingerprint failed", fn), err, err_len);
    }
    char *dir = snap_dir(rt);
    if (!dir) return finish(&e, lir__errf(&e, LIR_ENOMEM, "%s: out of memory", fn), err, err_len);
    DIR *d = opendir(dir);
    if (!d) {
        s = errno == ENOENT ? LIR_OK : lir__errf(&e, LIR_EIO, "%s: cannot read %s: %s", fn, dir, strerror(errno));
        free(dir);
        return finish(&e, s, err, err_len);
    }
    struct lir_snapshot_entry *v = NULL;
    int32_t cnt = 0, cap = 0;
    struct dirent *de;
    while (!s && (de = readdir(d))) {
        const size_t len = strlen(de->d_name), xl = sizeof SNAP_EXT - 1;
        if (len <= xl || strcmp(de->d_name + len - xl, SNAP_EXT) != 0) continue;
        char name[SNAP_NAME_MAX + 1];
        if (len - xl > SNAP_NAME_MAX) continue;
        memcpy(name, de->d_name, len - xl);
        name[len - xl] = 0;
        lir_err ne;
        if (!lir__snapshot_name_ok(name, &ne, fn)) continue;
        char path[4096 + SNAP_NAME_MAX + 16];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct lir_snapshot_info info;
        if (lir_snapshot_read_info(path, false, &info, NULL, 0) != LIR_OK) continue;
        if (loaded_id && memcmp(info.fingerprint, fp, sizeof fp) != 0) continue;
        if (cnt == cap) {
            int32_t nc = cap ? 2 * cap : 16;
            struct lir_snapshot_entry *nv = realloc(v, sizeof *nv * (size_t)nc);
            if (!nv) {
                s = lir__errf(&e, LIR_ENOMEM, "%s: out of memory", fn);
                break;
            }
            v = nv;
            cap = nc;
        }
        fill_entry(&v[cnt++], name, &info, NULL);
    }
    closedir(d);
    free(dir);
    if (s) {
        free(v);
        return finish(&e, s, err, err_len);
    }
    if (cnt) qsort(v, (size_t)cnt, sizeof *v, by_newest);
    *out = v;
    *n = cnt;
    return finish(&e, LIR_OK, err, err_len);
}

enum lir_status lir_runtime_snapshot_delete(lir_runtime *rt, const char *name, char *err, size_t err_len) {
    lir_err e = { { 0 } };
    static const char fn[] = "lir_runtime_snapshot_delete";
    if (!rt) return finish(&e, lir__errf(&e, LIR_EINVAL, "%s: NULL runtime", fn), err, err_len);
    if (!lir__snapshot_name_ok(name, &e, fn)) return finish(&e, LIR_EINVAL, err, err_len);
    char msg[LIR_ERR_MAX];
    enum lir_status s = lir_licence_check(rt->licence, LIR_FEATURE_CONTEXT_SNAPSHOTS, msg, sizeof msg);
    if (s) return finish(&e, lir__errf(&e, s, "%s: %s", fn, msg), err, err_len);
    char *path = snap_path(rt, name, &e, fn);
    if (!path) return finish(&e, LIR_ENOMEM, err, err_len);
    if (unlink(path) != 0)
        s = errno == ENOENT ? lir__errf(&e, LIR_ENOTFOUND, "%s: no snapshot named '%s'", fn, name)
                            : lir__errf(&e, LIR_EIO, "%s: cannot delete %s: %s", fn, path, strerror(errno));
    free(path);
    return finish(&e, s, err, err_len);
}
