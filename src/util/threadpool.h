/* threadpool.h — a persistent worker pool that runs one function on all threads at once
 * (the caller is thread 0), with a spinning barrier the function calls between steps.
 * This is how a whole forward pass runs with one wake-up: every thread walks the same op
 * list and takes its share of each op, then waits at the barrier (as ggml's graph
 * compute does). Workers sleep on a condition variable between runs. */
#ifndef LIR_THREADPOOL_H
#define LIR_THREADPOOL_H

#include <stdint.h>

typedef struct lir_pool lir_pool;

/* Per-thread view passed to the task. */
struct lir_pool_thread {
    int ith, nth;
    lir_pool *pool;
};

typedef void (*lir_pool_task_fn)(const struct lir_pool_thread *t, void *arg);

/* Creates a pool of n_threads (>= 1) including the caller; NULL on failure. */
lir_pool *lir_pool_create(int n_threads);
void lir_pool_free(lir_pool *p);
int lir_pool_n_threads(const lir_pool *p);

/* Runs fn(t, arg) on every thread and returns when all have returned. Not reentrant:
 * one run at a time per pool (the owner serializes). */
void lir_pool_run(lir_pool *p, lir_pool_task_fn fn, void *arg);

/* Waits until every thread of the current run has reached this barrier. Must be called
 * by all threads the same number of times. */
void lir_pool_barrier(const struct lir_pool_thread *t);

/* Splits [0, n) into nth near-equal contiguous parts; part ith is [*lo, *hi). Parts are
 * aligned to `align` items (the last part takes the remainder). */
void lir_pool_split(int64_t n, int64_t align, int ith, int nth, int64_t *lo, int64_t *hi);

#endif /* LIR_THREADPOOL_H */
