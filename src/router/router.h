/* router.h — internal interface of the request router (src/router/).
 *
 * wire.c    what travels: request bodies per API and operation, the incremental decoder of
 *           streamed responses (line framing, SSE events, NDJSON lines, the JSON in them),
 *           embeddings responses, error bodies. Pure functions: no network, testable on bytes.
 * http.c    one HTTP attempt over libcurl's multi interface, with lir's deadlines
 *           (first token, idle, overall) and cancellation polled every 50 ms.
 * router.c  the public API: backends per model, retries, fallbacks, events, results. */
#ifndef LIR_ROUTER_H
#define LIR_ROUTER_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "lir.h"
#include "util/util.h"

#define LIR__ROUTE_LINE_MAX (8u << 20)   /* longest SSE/NDJSON line accepted (bytes) */
#define LIR__ROUTE_BODY_MAX (256u << 20) /* longest non-streamed body (embeddings) */
#define LIR__ROUTE_ERRBODY_MAX (64u << 10) /* bytes of an error body kept */

/* ---- line framing: bytes in any chunking -> lines without "\n" / "\r\n" ---- */
struct lir__lines {
    char *buf; /* an unfinished line */
    size_t len, cap;
};

/* ---- streamed-response decoder ---- */

/* Receives each piece of text; non-zero cancels. */
typedef int (*lir__text_fn)(void *user, const char *text, size_t len);

struct lir__decoder {
    enum lir_remote_kind kind;
    enum lir_route_op op;
    lir__text_fn on_text;
    void *user;
    struct lir__lines lines;
    /* SSE event being assembled (OpenAI): its data lines joined by "\n" */
    char *data;
    size_t data_len, data_cap;
    bool has_data, event_error;
    /* outputs */
    bool done;                 /* [DONE] / "done": true seen */
    bool stopped;              /* no more input is wanted (done, failed or cancelled) */
    bool have_finish;
    enum lir_finish_reason finish;
    int32_t prompt_tokens, completion_tokens; /* -1 = not reported */
    uint64_t n_text;           /* pieces of text passed to on_text */
    enum lir_route_failure failure; /* NONE, PROTOCOL, TRUNCATED, BACKEND, CANCELLED */
    lir_err err;
};

void lir__decoder_init(struct lir__decoder *d, enum lir_remote_kind kind, enum lir_route_op op,
                       lir__text_fn on_text, void *user);
void lir__decoder_free(struct lir__decoder *d);
/* Feeds n bytes of the response body. Returns false once the decoder wants nothing more
 * (d->stopped: done, failure or cancel); later calls are ignored. */
bool lir__decoder_push(struct lir__decoder *d, const char *data, size_t n);
/* End of the body: decodes a last line without newline, then a stream without its end marker
 * is TRUNCATED ("stream ended early"). */
void lir__decoder_finish(struct lir__decoder *d);

/* ---- requests ---- */

/* The URL path of op for kind ("/v1/chat/completions", "/api/chat", ...). Static storage. */
const char *lir__wire_path(enum lir_remote_kind kind, enum lir_route_op op);
/* The JSON body of req for a backend: model is the server's name for the model; extra (may be
 * NULL) is merged recursively into it. On success *out is malloc'd and NUL-terminated.
 * Returns LIR_OK, LIR_EINVAL (named in e), LIR_ENOMEM. */
enum lir_status lir__wire_body(enum lir_remote_kind kind, const struct lir_route_request *req, const char *model,
                               bool openai_extensions, const char *extra_json, char **out, lir_err *e);
/* Parses an embeddings response body (len bytes). On success *out (malloc'd) holds n x *dim
 * floats in input order; *prompt_tokens is -1 when not reported.
 * Returns LIR_OK or LIR_EFORMAT (named in e), LIR_ENOMEM. */
enum lir_status lir__wire_embeddings(enum lir_remote_kind kind, const char *body, size_t len, int32_t n,
                                     float **out, int32_t *dim, int32_t *prompt_tokens, lir_err *e);
/* The message of an error body: {"error": {"message": ...}} (OpenAI), {"error": "..."} (Ollama),
 * {"message": ...}, else the text itself (control characters as spaces, cut to fit). */
void lir__wire_error_message(const char *body, size_t len, char *out, size_t cap);

/* ---- one HTTP attempt ---- */
struct lir__http_attempt {
    const char *url, *body, *api_key;  /* borrowed */
    int32_t connect_timeout_ms, first_token_timeout_ms, idle_timeout_ms, total_timeout_ms;
    struct lir__decoder *dec;          /* streamed: the 2xx body goes here; NULL = collect it */
    bool (*is_cancelled)(void *user);
    void *cancel_user;
    /* results */
    long http_status;                  /* 0 when no reply */
    char *body_out;                    /* dec == NULL: the 2xx body (malloc'd, NUL-terminated) */
    size_t body_out_len;
    enum lir_route_failure failure;
    lir_err err;
};
/* Runs one attempt; fills the result fields. Returns the failure (NONE on success). */
enum lir_route_failure lir__http_run(struct lir__http_attempt *a);
/* curl_global_init, once. False when libcurl failed to start. */
bool lir__http_global_init(void);

#endif /* LIR_ROUTER_H */
