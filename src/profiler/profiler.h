/* profiler.h — the performance profiler (spec §2.1): per-request records fed by the runtime when
 * a generation ends, per-model aggregates over every request and distributions (percentiles,
 * standard deviation) over the most recent ones. One mutex (p->mu) guards everything; records
 * are copied in and out, so no pointer into the profiler escapes. */
#ifndef LIR_PROFILER_H
#define LIR_PROFILER_H

#include <stdint.h>
#include "lir.h"

#define LIR_PROF_WINDOW 1000   /* records kept per model */
#define LIR_PROF_MODELS 256    /* models kept; the least recently used is dropped beyond */

typedef struct lir__prof lir__prof;

lir__prof *lir__prof_create(void);   /* NULL: out of memory */
void lir__prof_destroy(lir__prof *p); /* accepts NULL */
/* Records one finished request (copied). Out of memory drops the record from the window only. */
void lir__prof_record(lir__prof *p, const struct lir_request_record *r);
enum lir_status lir__prof_models(lir__prof *p, struct lir_model_profile **out, int32_t *n);
enum lir_status lir__prof_records(lir__prof *p, const char *loaded_id, struct lir_request_record **out, int32_t *n);

/* Adds r to the running aggregates of *mp (requests, tokens, time, averages, peak). */
void lir__profile_accumulate(struct lir_model_profile *mp, const struct lir_request_record *r);
/* Fills the distributions of *mp from n records (borrowed). Returns LIR_OK, LIR_ENOMEM. */
enum lir_status lir__profile_distributions(struct lir_model_profile *mp, const struct lir_request_record *recs,
                                           int32_t n);

#endif
