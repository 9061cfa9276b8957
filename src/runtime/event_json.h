/* event_json.h — JSON (jansson) of runtime events and load options, field names as in lir.h;
 * used by the server (src/server) and the store (src/store). */
#ifndef LIR_EVENT_JSON_H
#define LIR_EVENT_JSON_H

#include <jansson.h>
#include "lir.h"

/* {"gpu_layers", "context_size", "batch_size", "threads", "gpu_id", "main_gpu", "tensor_split",
 * "keep_alive_ms"}. New reference (NULL when out of memory). */
json_t *lir__json_load_options(const struct lir_load_options *o);
/* {"type", "seq", "timestamp_ms", model ids and message when set, then the fields of the event's
 * type}. New reference (NULL when out of memory). */
json_t *lir__json_event(const struct lir_event *ev);

#endif
