/* test_threadpool.c — the worker pool runs a task on every thread, its barrier orders
 * steps, split covers ranges exactly, and pools come and go cleanly. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include "util/threadpool.h"

struct step_arg {
    atomic_int hits;
    int data[64];
    int ok;
};

static void steps(const struct lir_pool_thread *t, void *varg) {
    struct step_arg *a = varg;
    atomic_fetch_add(&a->hits, 1);
    for (int round = 0; round < 200; round++) {
        int64_t lo, hi;
        lir_pool_split(64, 1, t->ith, t->nth, &lo, &hi);
        for (int64_t i = lo; i < hi; i++) a->data[i] = round;
        lir_pool_barrier(t);
        /* after the barrier every slot must show this round, whoever wrote it */
        if (t->ith == 0)
            for (int i = 0; i < 64; i++)
                if (a->data[i] != round) a->ok = 0;
        lir_pool_barrier(t);
    }
}

Test(threadpool, every_thread_runs_and_barrier_orders_steps) {
    for (int n = 1; n <= 4; n++) {
        lir_pool *p = lir_pool_create(n);
        cr_assert_not_null(p);
        cr_assert_eq(lir_pool_n_threads(p), n);
        for (int run = 0; run < 20; run++) {
            struct step_arg a = { .ok = 1 };
            atomic_init(&a.hits, 0);
            lir_pool_run(p, steps, &a);
            cr_assert_eq(atomic_load(&a.hits), n, "run %d with %d threads", run, n);
            cr_assert(a.ok, "barrier let a thread read before all had written (%d threads)", n);
        }
        lir_pool_free(p);
    }
}

Test(threadpool, split_covers_range_without_overlap) {
    const int64_t ns[] = { 0, 1, 7, 64, 1000, 4097 };
    const int64_t aligns[] = { 1, 16, 64 };
    for (size_t a = 0; a < sizeof aligns / sizeof aligns[0]; a++)
        for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
            for (int nth = 1; nth <= 5; nth++) {
                int64_t next = 0;
                for (int i = 0; i < nth; i++) {
                    int64_t lo, hi;
                    lir_pool_split(ns[k], aligns[a], i, nth, &lo, &hi);
                    cr_assert_eq(lo, next, "n=%lld nth=%d part %d starts at %lld", (long long)ns[k], nth, i, (long long)lo);
                    cr_assert(hi >= lo);
                    if (hi < ns[k]) cr_assert_eq(hi % aligns[a], 0, "part end %lld not aligned", (long long)hi);
                    next = hi;
                }
                cr_assert_eq(next, ns[k]);
            }
}

Test(threadpool, free_null_is_noop) { lir_pool_free(NULL); }
