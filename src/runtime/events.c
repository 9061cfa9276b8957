/* events.c — the runtime's event stream (spec §12): emitters queue a copy (seq and timestamp
 * assigned under ev_mu, so the queue order is the emission order); one event thread delivers
 * each event to every subscriber in that order, holding no lock while a callback runs.
 * Unsubscribe waits until the subscriber's callback is not running. */
#include "runtime/runtime.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const event_names[] = {
#define X(name, str) str,
    LIR_EVENT_MAP(X)
#undef X
};

const char *lir_event_type_str(enum lir_event_type t) {
    return (unsigned)t < LIR_EVENT_COUNT ? event_names[t] : "unknown";
}

int64_t lir__rt_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *event_thread(void *arg) {
    lir_runtime *rt = arg;
    pthread_mutex_lock(&rt->ev_mu);
    for (;;) {
        while (!rt->ev_head && !rt->ev_stop) pthread_cond_wait(&rt->ev_cv, &rt->ev_mu);
        struct rt_event_node *n = rt->ev_head;
        if (!n) break; /* stopping and drained */
        rt->ev_head = n->next;
        if (!rt->ev_head) rt->ev_tail = NULL;
        /* deliver to each subscriber; the list may change while a callback runs, so walk it by
         * id: find the first subscription with an id above the last one called */
        int64_t last = 0;
        for (;;) {
            struct rt_sub *s = NULL;
            for (struct rt_sub *q = rt->subs; q; q = q->next)
                if (q->id > last && (!s || q->id < s->id)) s = q;
            if (!s) break;
            last = s->id;
            lir_event_fn fn = s->fn;
            void *user = s->user;
            rt->ev_running_sub = s->id;
            pthread_mutex_unlock(&rt->ev_mu);
            fn(&n->ev, user);
            pthread_mutex_lock(&rt->ev_mu);
            rt->ev_running_sub = 0;
            pthread_cond_broadcast(&rt->ev_cv);
        }
        rt->ev_delivered = n->ev.seq;
        pthread_cond_broadcast(&rt->ev_cv);
        free(n);
    }
    pthread_mutex_unlock(&rt->ev_mu);
    return NULL;
}

enum lir_status lir__rt_events_start(lir_runtime *rt) {
    if (pthread_create(&rt->ev_thread, NULL, event_thread, rt)) return LIR_ENOMEM;
    rt->ev_started = true;
    return LIR_OK;
}

void lir__rt_events_stop(lir_runtime *rt) {
    if (!rt->ev_started) return;
    pthread_mutex_lock(&rt->ev_mu);
    rt->ev_stop = true;
    pthread_cond_broadcast(&rt->ev_cv);
    pthread_mutex_unlock(&rt->ev_mu);
    pthread_join(rt->ev_thread, NULL);
    rt->ev_started = false;
    while (rt->subs) {
        struct rt_sub *s = rt->subs;
        rt->subs = s->next;
        free(s);
    }
}

void lir__rt_emit(lir_runtime *rt, const struct lir_event *ev) {
    struct rt_event_node *n = malloc(sizeof *n);
    if (!n) return; /* an event lost to OOM is not worth failing the operation */
    n->ev = *ev;
    n->next = NULL;
    pthread_mutex_lock(&rt->ev_mu);
    n->ev.seq = ++rt->ev_seq;
    n->ev.timestamp_ms = lir__rt_now_ms();
    if (rt->ev_tail) rt->ev_tail->next = n;
    else rt->ev_head = n;
    rt->ev_tail = n;
    pthread_cond_broadcast(&rt->ev_cv);
    pthread_mutex_unlock(&rt->ev_mu);
}

enum lir_status lir_runtime_emit(lir_runtime *rt, const struct lir_event *ev) {
    if (!rt || !ev || (unsigned)ev->type >= LIR_EVENT_COUNT) return LIR_EINVAL;
    lir__rt_emit(rt, ev);
    return LIR_OK;
}

enum lir_status lir_runtime_subscribe(lir_runtime *rt, lir_event_fn fn, void *user, int64_t *sub_id) {
    if (!rt || !fn) return LIR_EINVAL;
    struct rt_sub *s = calloc(1, sizeof *s);
    if (!s) return LIR_ENOMEM;
    s->fn = fn;
    s->user = user;
    pthread_mutex_lock(&rt->ev_mu);
    s->id = ++rt->next_sub_id;
    /* append: delivery goes by id, so order in the list does not matter */
    s->next = rt->subs;
    rt->subs = s;
    /* "from now on": events already queued are delivered to it as well only if their
     * delivery has not begun; that is the natural reading of a queue and harmless */
    pthread_mutex_unlock(&rt->ev_mu);
    if (sub_id) *sub_id = s->id;
    return LIR_OK;
}

enum lir_status lir_runtime_unsubscribe(lir_runtime *rt, int64_t sub_id) {
    if (!rt || sub_id <= 0) return LIR_EINVAL;
    pthread_mutex_lock(&rt->ev_mu);
    struct rt_sub **pp = &rt->subs;
    while (*pp && (*pp)->id != sub_id) pp = &(*pp)->next;
    if (!*pp) {
        pthread_mutex_unlock(&rt->ev_mu);
        return LIR_ENOTFOUND;
    }
    struct rt_sub *s = *pp;
    *pp = s->next;
    bool self = rt->ev_started && pthread_equal(pthread_self(), rt->ev_thread);
    while (!self && rt->ev_running_sub == sub_id) pthread_cond_wait(&rt->ev_cv, &rt->ev_mu);
    pthread_mutex_unlock(&rt->ev_mu);
    free(s);
    return LIR_OK;
}

void lir_runtime_events_flush(lir_runtime *rt) {
    if (!rt) return;
    pthread_mutex_lock(&rt->ev_mu);
    uint64_t target = rt->ev_seq;
    while (rt->ev_delivered < target && rt->ev_started) pthread_cond_wait(&rt->ev_cv, &rt->ev_mu);
    pthread_mutex_unlock(&rt->ev_mu);
}
