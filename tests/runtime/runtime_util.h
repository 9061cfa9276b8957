/* runtime_util.h — test helpers for the runtime: a models directory of generated tiny models
 * (removed at the end), a runtime over it, an event recorder. */
#ifndef LIR_TEST_RUNTIME_UTIL_H
#define LIR_TEST_RUNTIME_UTIL_H

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "lir.h"
#include "model/model_util.h"

static char rt_dir[256];

/* /tmp/lir-rt-<pid>-<tag>/ with models named as given (arch per name). */
static inline void rt_dir_make(const char *tag) {
    snprintf(rt_dir, sizeof rt_dir, "/tmp/lir-rt-%d-%s", (int)getpid(), tag);
    mkdir(rt_dir, 0700);
}

static inline void rt_model_make(const char *name, enum lir_gen_arch arch, uint64_t seed) {
    char path[512], sub[512];
    snprintf(path, sizeof path, "%s/%s.gguf", rt_dir, name);
    const char *slash = strrchr(name, '/');
    if (slash) {
        snprintf(sub, sizeof sub, "%s/%.*s", rt_dir, (int)(slash - name), name);
        mkdir(sub, 0700);
    }
    lir_err e = { { 0 } };
    cr_assert_eq(make_tiny(path, arch, LIR_TYPE_Q8_0, seed, &e), LIR_OK, "%s", e.msg);
}

static inline void rt_dir_remove(void) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", rt_dir);
    if (rt_dir[0] && system(cmd) != 0) { /* best effort */ }
}

static inline lir_runtime *rt_new(const lir_licence *lic, uint64_t (*mem)(void *), void *mem_user) {
    struct lir_runtime_params p = lir_runtime_params_default();
    p.models_dir = rt_dir;
    p.licence = lic;
    p.mem_available = mem;
    p.mem_user = mem_user;
    p.ram_alert_percent = 0; /* the test machine's RAM is not the subject */
    lir_runtime *rt = NULL;
    char err[512] = "";
    cr_assert_eq(lir_runtime_create(&p, &rt, err, sizeof err), LIR_OK, "%s", err);
    return rt;
}

static inline struct lir_load_options rt_opts(int32_t ctx) {
    struct lir_load_options o = lir_load_options_default();
    o.context_size = ctx;
    o.threads = 1;
    return o;
}

static inline void rt_load(lir_runtime *rt, const char *model, const struct lir_load_options *o, char *id) {
    char err[512] = "";
    cr_assert_eq(lir_runtime_load(rt, model, o, NULL, NULL, id, NULL, err, sizeof err), LIR_OK, "load %s: %s", model,
                 err);
}

/* event recorder */
struct rec {
    pthread_mutex_t mu;
    struct lir_event ev[256];
    int n;
};
static inline void rec_fn(const struct lir_event *ev, void *user) {
    struct rec *r = user;
    pthread_mutex_lock(&r->mu);
    if (r->n < 256) r->ev[r->n++] = *ev;
    pthread_mutex_unlock(&r->mu);
}

#endif
