/* event_json.c — JSON of the runtime's events and load options, field names as in include/lir.h:
 * one writer for the server's event stream (GET /lir/v1/events) and the store's
 * inference_events rows. */
#include "runtime/event_json.h"

json_t *lir__json_load_options(const struct lir_load_options *o) {
    json_t *ts = json_array();
    for (int32_t i = 0; i < o->n_tensor_split && i < LIR_TENSOR_SPLIT_MAX; i++)
        json_array_append_new(ts, json_real(o->tensor_split[i]));
    return json_pack("{si si si si ss si so sI si}", "gpu_layers", o->gpu_layers, "context_size", o->context_size,
                     "batch_size", o->batch_size, "threads", o->threads, "gpu_id", o->gpu_id, "main_gpu", o->main_gpu,
                     "tensor_split", ts, "keep_alive_ms", (json_int_t)o->keep_alive_ms, "parallel", o->parallel);
}

static json_t *json_gen_metrics(const struct lir_generation_metrics *g) {
    return json_pack("{sf sf sf sf sf}", "total_ms", g->total_ms, "ttft_ms", g->ttft_ms, "generation_ms",
                     g->generation_ms, "tokens_per_second", (double)g->tokens_per_second, "prompt_tokens_per_second",
                     (double)g->prompt_tokens_per_second);
}

json_t *lir__json_event(const struct lir_event *ev) {
    json_t *j = json_pack("{ss sI sI}", "type", lir_event_type_str(ev->type), "seq", (json_int_t)ev->seq,
                          "timestamp_ms", (json_int_t)ev->timestamp_ms);
    if (ev->model_id[0]) json_object_set_new(j, "model_id", json_string(ev->model_id));
    if (ev->model_name[0]) json_object_set_new(j, "model_name", json_string(ev->model_name));
    if (ev->loaded_model_id[0]) json_object_set_new(j, "loaded_model_id", json_string(ev->loaded_model_id));
    if (ev->message[0]) json_object_set_new(j, "message", json_string(ev->message));
    switch (ev->type) {
    case LIR_EVENT_MODEL_LOAD_STARTED: json_object_set_new(j, "options", lir__json_load_options(&ev->options)); break;
    case LIR_EVENT_MODEL_LOAD_COMPLETED: json_object_set_new(j, "duration_ms", json_real(ev->duration_ms)); break;
    case LIR_EVENT_GENERATION_STARTED: json_object_set_new(j, "prompt_tokens", json_integer(ev->prompt_tokens)); break;
    case LIR_EVENT_GENERATION_COMPLETED:
        json_object_set_new(j, "prompt_tokens", json_integer(ev->prompt_tokens));
        json_object_set_new(j, "completion_tokens", json_integer(ev->completion_tokens));
        json_object_set_new(j, "finish_reason", json_string(lir_finish_reason_str(ev->finish_reason)));
        json_object_set_new(j, "metrics", json_gen_metrics(&ev->metrics));
        break;
    case LIR_EVENT_RESOURCE_ALERT:
        json_object_set_new(j, "resource", json_string(lir_resource_type_str(ev->resource)));
        json_object_set_new(j, "usage_percent", json_real(ev->usage_percent));
        break;
    case LIR_EVENT_CONTEXT_TRUNCATED:
        json_object_set_new(j, "tokens_before", json_integer(ev->tokens_before));
        json_object_set_new(j, "tokens_after", json_integer(ev->tokens_after));
        break;
    case LIR_EVENT_SNAPSHOT_SAVED: case LIR_EVENT_SNAPSHOT_RESTORED:
        json_object_set_new(j, "snapshot_id", json_string(ev->snapshot_id));
        break;
    default: break;
    }
    return j;
}

