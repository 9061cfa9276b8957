/* threadpool.c — persistent workers, condition-variable wake-up, spinning barrier. */
#include "util/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

struct lir_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;        /* guards gen/stop for sleeping workers */
    pthread_cond_t cv;
    atomic_uint gen;           /* bumped per run */
    atomic_int stop;
    lir_pool_task_fn fn;
    void *arg;
    atomic_int n_done;         /* workers finished with the current run */
    /* barrier */
    atomic_int bar_count;
    atomic_uint bar_phase;
};

struct worker_arg { lir_pool *p; int ith; };

static void run_one(lir_pool *p, int ith) {
    struct lir_pool_thread t = { ith, p->n, p };
    p->fn(&t, p->arg);
}

static void *worker_main(void *varg) {
    struct worker_arg *wa = varg;
    lir_pool *p = wa->p;
    int ith = wa->ith;
    free(wa);
    unsigned seen = 0;
    for (;;) {
        /* spin briefly for the next run (decode steps come back to back), then sleep */
        unsigned g = atomic_load_explicit(&p->gen, memory_order_acquire);
        for (int i = 0; g == seen && i < 20000 && !atomic_load(&p->stop); i++) {
            cpu_relax();
            g = atomic_load_explicit(&p->gen, memory_order_acquire);
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            while ((g = atomic_load(&p->gen)) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = g;
        run_one(p, ith);
        atomic_fetch_add_explicit(&p->n_done, 1, memory_order_acq_rel);
    }
}

lir_pool *lir_pool_create(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    lir_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->threads = calloc((size_t)n_threads, sizeof *p->threads);
    if (!p->threads) { free(p); return NULL; }
    for (int i = 1; i < n_threads; i++) {
        struct worker_arg *wa = malloc(sizeof *wa);
        if (wa) {
            wa->p = p; /* set before the thread starts reading it */
            wa->ith = i;
        }
        if (!wa || pthread_create(&p->threads[i], NULL, worker_main, wa) != 0) {
            free(wa);
            p->n = i; /* only i-1 workers exist */
            lir_pool_free(p);
            return NULL;
        }
    }
    return p;
}

void lir_pool_free(lir_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p);
}

int lir_pool_n_threads(const lir_pool *p) { return p->n; }

void lir_pool_run(lir_pool *p, lir_pool_task_fn fn, void *arg) {
    p->fn = fn;
    p->arg = arg;
    atomic_store(&p->n_done, 0);
    atomic_store(&p->bar_count, 0);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    run_one(p, 0);
    while (atomic_load_explicit(&p->n_done, memory_order_acquire) != p->n - 1) cpu_relax();
}

void lir_pool_barrier(const struct lir_pool_thread *t) {
    lir_pool *p = t->pool;
    if (p->n == 1) return;
    unsigned phase = atomic_load_explicit(&p->bar_phase, memory_order_acquire);
    if (atomic_fetch_add_explicit(&p->bar_count, 1, memory_order_acq_rel) == p->n - 1) {
        atomic_store_explicit(&p->bar_count, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->bar_phase, 1, memory_order_acq_rel);
        return;
    }
    unsigned spins = 0;
    while (atomic_load_explicit(&p->bar_phase, memory_order_acquire) == phase) {
        cpu_relax();
        if (++spins > 100000) { sched_yield(); spins = 0; } /* oversubscribed: let others run */
    }
}

void lir_pool_split(int64_t n, int64_t align, int ith, int nth, int64_t *lo, int64_t *hi) {
    if (align < 1) align = 1;
    int64_t units = (n + align - 1) / align;
    int64_t per = units / nth, rem = units % nth;
    int64_t a = ith * per + (ith < rem ? ith : rem);
    int64_t b = a + per + (ith < rem ? 1 : 0);
    *lo = a * align < n ? a * align : n;
    *hi = b * align < n ? b * align : n;
}
