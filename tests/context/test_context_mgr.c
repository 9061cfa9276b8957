/* test_context_mgr.c — the runtime's context manager (lir_runtime_context_*, lir_runtime_snapshot_*)
 * on generated tiny models: status after a generation, truncate (ContextTruncated with the token
 * counts), clear, snapshot save / list / restore / delete in a snapshots directory (events with the
 * snapshot's id), names that could leave the directory refused, a snapshot of another model refused
 * with the context unchanged, licence gates (Teams: context management but no snapshots). */
#include "runtime/runtime_util.h"
#include "context/snapshot.h"

static void fini(void) { rt_dir_remove(); }

static lir_runtime *rt_snap(const lir_licence *lic, char *snapdir, size_t n) {
    snprintf(snapdir, n, "%s/snaps", rt_dir);
    struct lir_runtime_params p = lir_runtime_params_default();
    p.models_dir = rt_dir;
    p.licence = lic;
    p.ram_alert_percent = 0;
    p.snapshots_dir = snapdir;
    p.monitor_interval_ms = 0;
    lir_runtime *rt = NULL;
    char err[512] = "";
    cr_assert_eq(lir_runtime_create(&p, &rt, err, sizeof err), LIR_OK, "%s", err);
    return rt;
}

static void gen(lir_runtime *rt, const char *id, const char *prompt, int n) {
    struct lir_generate_request q = lir_generate_request_default();
    q.model = id;
    q.prompt = prompt;
    q.sampling.max_tokens = n;
    q.sampling.temperature = 0;
    struct lir_generate_result r;
    char err[512];
    cr_assert_eq(lir_runtime_generate(rt, &q, &r, err, sizeof err), LIR_OK, "%s", err);
    lir_generate_result_clear(&r);
}

static int count_events(struct rec *r, enum lir_event_type t, struct lir_event *last) {
    int n = 0;
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->n; i++)
        if (r->ev[i].type == t) {
            n++;
            if (last) *last = r->ev[i];
        }
    pthread_mutex_unlock(&r->mu);
    return n;
}

Test(context_mgr, status_truncate_clear_snapshots, .fini = fini) {
    rt_dir_make("ctxmgr");
    rt_model_make("a", LIR_GEN_LLAMA, 21);
    rt_model_make("b", LIR_GEN_LLAMA, 22);
    char snapdir[300], err[512], ida[LIR_ID_LEN], idb[LIR_ID_LEN];
    lir_runtime *rt = rt_snap(NULL, snapdir, sizeof snapdir);
    struct rec rec = { .mu = PTHREAD_MUTEX_INITIALIZER };
    int64_t sub;
    cr_assert_eq(lir_runtime_subscribe(rt, rec_fn, &rec, &sub), LIR_OK);
    struct lir_load_options o = rt_opts(256);
    rt_load(rt, "a", &o, ida);
    rt_load(rt, "b", &o, idb);

    struct lir_context_usage u;
    cr_assert_eq(lir_runtime_context_status(rt, ida, &u, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_eq(u.used_tokens, 0);
    cr_assert_eq(u.max_context_size, 256);
    gen(rt, ida, "In the beginning God created the heaven and the earth.", 16);
    cr_assert_eq(lir_runtime_context_status(rt, ida, &u, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_gt(u.used_tokens, 16);
    const int32_t used = u.used_tokens;
    cr_assert_eq(u.available_tokens, 256 - used);
    cr_assert_float_eq(u.usage_percent, 100.0f * (float)used / 256.0f, 1e-3);
    cr_assert_gt(u.kv_cache_bytes, 0);
    cr_assert_geq(u.kv_cache_capacity_bytes, u.kv_cache_used_bytes);
    cr_assert_geq(u.kv_cache_used_bytes, u.kv_cache_bytes);
    cr_assert_str_eq(u.loaded_model_id, ida);
    struct lir_loaded_model lm;
    cr_assert_eq(lir_runtime_get_loaded(rt, ida, &lm), LIR_OK);
    cr_assert_eq(lm.resources.context_used, used);

    /* save, list */
    struct lir_snapshot_entry se;
    cr_assert_eq(lir_runtime_snapshot_save(rt, ida, "chat 1", &se, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_eq(se.token_count, used);
    cr_assert_str_eq(se.name, "chat 1");
    char path[400];
    snprintf(path, sizeof path, "%s/chat 1.lirsnap", snapdir);
    struct lir_snapshot_info info;
    cr_assert_eq(lir_snapshot_read_info(path, true, &info, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_eq(info.n_tokens, used);
    cr_assert_eq(info.size_bytes, se.size_bytes);
    struct lir_snapshot_entry *v = NULL;
    int32_t n = 0;
    cr_assert_eq(lir_runtime_snapshot_list(rt, NULL, &v, &n, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(v[0].id, se.id);
    lir_runtime_free(v);
    cr_assert_eq(lir_runtime_snapshot_list(rt, idb, &v, &n, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_eq(n, 0, "model b lists model a's snapshot");
    lir_runtime_free(v);

    /* truncate: keep 10 of them (the first token and the last 9) */
    cr_assert_eq(lir_runtime_context_truncate(rt, ida, 10, 11, NULL, err, sizeof err), LIR_EINVAL);
    cr_assert(strstr(err, "n_keep"), "%s", err);
    cr_assert_eq(lir_runtime_context_truncate(rt, ida, 10, -1, &u, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_eq(u.used_tokens, 10);
    cr_assert_eq(lir_runtime_context_truncate(rt, ida, 20, -1, &u, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_eq(u.used_tokens, 10, "truncating to more than it holds changed it");
    /* clear */
    cr_assert_eq(lir_runtime_context_clear(rt, ida, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_eq(lir_runtime_context_status(rt, ida, &u, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_eq(u.used_tokens, 0);
    cr_assert_eq(u.kv_cache_bytes, 0);
    /* restore */
    struct lir_snapshot_entry re;
    cr_assert_eq(lir_runtime_snapshot_restore(rt, ida, "chat 1", &re, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_str_eq(re.id, se.id);
    cr_assert_eq(lir_runtime_context_status(rt, ida, &u, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_eq(u.used_tokens, used);
    /* another model's context refuses it and keeps what it holds */
    gen(rt, idb, "And the earth was without form", 4);
    struct lir_context_usage ub, ub2;
    cr_assert_eq(lir_runtime_context_status(rt, idb, &ub, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_eq(lir_runtime_snapshot_restore(rt, idb, "chat 1", NULL, err, sizeof err), LIR_ERANGE);
    cr_assert(strstr(err, "another model"), "%s", err);
    cr_assert_eq(lir_runtime_context_status(rt, idb, &ub2, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_eq(ub2.used_tokens, ub.used_tokens);
    /* missing snapshots, bad names, unknown models */
    cr_assert_eq(lir_runtime_snapshot_restore(rt, ida, "nope", NULL, err, sizeof err), LIR_ENOTFOUND);
    cr_assert(strstr(err, "nope"), "%s", err);
    const char *bad[] = { "../escape", "a/b", ".hidden", "", " lead", "tab\tname", "x\\y" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(lir_runtime_snapshot_save(rt, ida, bad[i], NULL, err, sizeof err), LIR_EINVAL, "name '%s'", bad[i]);
        cr_assert_eq(lir_runtime_snapshot_restore(rt, ida, bad[i], NULL, err, sizeof err), LIR_EINVAL);
        cr_assert_eq(lir_runtime_snapshot_delete(rt, bad[i], err, sizeof err), LIR_EINVAL);
    }
    char escaped[400];
    snprintf(escaped, sizeof escaped, "%s/escape.lirsnap", rt_dir);
    cr_assert_neq(access(escaped, F_OK), 0, "a name left the snapshots directory");
    cr_assert_eq(lir_runtime_context_status(rt, "00000000-0000-0000-0000-000000000000", &u, err, sizeof err),
                 LIR_ENOTFOUND);
    /* delete */
    cr_assert_eq(lir_runtime_snapshot_delete(rt, "chat 1", err, sizeof err), LIR_OK, "%s", err);
    cr_assert_eq(lir_runtime_snapshot_delete(rt, "chat 1", err, sizeof err), LIR_ENOTFOUND);
    cr_assert_eq(lir_runtime_snapshot_list(rt, NULL, &v, &n, err, sizeof err), LIR_OK, "%s", err);
    cr_assert_eq(n, 0);

    lir_runtime_events_flush(rt);
    struct lir_event ev;
    cr_assert_eq(count_events(&rec, LIR_EVENT_SNAPSHOT_SAVED, &ev), 1);
    cr_assert_str_eq(ev.snapshot_id, se.id);
    cr_assert_str_eq(ev.loaded_model_id, ida);
    cr_assert_eq(count_events(&rec, LIR_EVENT_SNAPSHOT_RESTORED, &ev), 1);
    cr_assert_str_eq(ev.snapshot_id, se.id);
    cr_assert_eq(count_events(&rec, LIR_EVENT_CONTEXT_TRUNCATED, &ev), 1, "a no-op truncate emitted an event");
    cr_assert_eq(ev.tokens_before, used);
    cr_assert_eq(ev.tokens_after, 10);
    lir_runtime_destroy(rt);
}

Test(context_mgr, licence_gates, .fini = fini) {
    rt_dir_make("ctxlic");
    rt_model_make("a", LIR_GEN_LLAMA, 21);
    char snapdir[300], err[512], id[LIR_ID_LEN];
    lir_licence *teams = NULL, *writer = NULL;
    cr_assert_eq(lir_licence_create_static(LIR_TIER_TEAMS, &teams), LIR_OK);
    cr_assert_eq(lir_licence_create_static(LIR_TIER_WRITER_PRO, &writer), LIR_OK);
    lir_runtime *rt = rt_snap(teams, snapdir, sizeof snapdir);
    struct lir_load_options o = rt_opts(128);
    rt_load(rt, "a", &o, id);
    struct lir_context_usage u;
    cr_assert_eq(lir_runtime_context_status(rt, NULL, &u, err, sizeof err), LIR_OK, "%s", err); /* active model */
    cr_assert_eq(lir_runtime_snapshot_save(rt, id, "s", NULL, err, sizeof err), LIR_ETIER);
    cr_assert(strstr(err, "Enterprise"), "%s", err);
    lir_runtime_destroy(rt);
    rt = rt_snap(writer, snapdir, sizeof snapdir);
    rt_load(rt, "a", &o, id);
    cr_assert_eq(lir_runtime_context_clear(rt, id, err, sizeof err), LIR_ETIER);
    cr_assert(strstr(err, "context management"), "%s", err);
    lir_runtime_destroy(rt);
    lir_licence_free(teams);
    lir_licence_free(writer);
}
