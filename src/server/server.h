/* server.h — internal interface of `lir serve` (src/server/): an HTTP server on libmicrohttpd
 * that speaks the OpenAI API (/v1/...), the Ollama API (/api/...), lir's management API
 * (/lir/v1/...) and Prometheus metrics (/metrics) over a lir_runtime, which does all the work.
 *
 * Files: http.c (daemon, connections, limits, auth, CORS, routing, the generation stream that
 * feeds SSE/NDJSON responses), openai.c, ollama.c, manage.c (management API, events SSE, JSON of
 * the runtime's structs), metrics.c (counters and histograms, Prometheus text).
 *
 * Threads: libmicrohttpd runs one thread per connection. A generation runs on a thread of its own
 * (the runtime computes on the calling thread) and hands formatted bytes to the connection's
 * thread through a buffer guarded by the stream's mutex. Shared server state (in-flight count,
 * metrics) is guarded by the mutex next to it. Nothing here prints or exits: lines for the log
 * go to params.log. */
#ifndef LIR_SERVER_H
#define LIR_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/types.h>
#include <jansson.h>
#include "lir.h"
#include "runtime/event_json.h"

#define LIR_SERVER_DEFAULT_PORT 7373
#define LIR_SERVER_MAX_CORS 16

struct lir__server_params {
    lir_runtime *rt;              /* borrowed: must outlive the server */
    const char *host;             /* "127.0.0.1" (copied); an IPv4 or IPv6 literal, or "localhost" */
    int32_t port;                 /* 7373; 0 = any free port (see lir__server_port) */
    const char *api_key;          /* NULL = none (copied); required when host is not loopback */
    const char *cors_origins[LIR_SERVER_MAX_CORS]; /* allowed Origins (copied); "*" = any; none = CORS off */
    int32_t n_cors;
    size_t max_body;              /* 8 MiB: larger bodies get 413 */
    int32_t max_json_depth;       /* 64: deeper bodies get 400 */
    int32_t max_queue;            /* 256: generation/embedding requests in flight; more get 503 */
    int32_t timeout_s;            /* 600: per request, queueing included; then 504 / the stream ends */
    int32_t idle_timeout_s;       /* 30: a connection idle (no byte) this long is closed */
    int32_t max_connections;      /* 1024 */
    void (*log)(void *user, const char *line); /* access and error lines; NULL = none */
    void *log_user;
};
struct lir__server_params lir__server_params_default(void);

typedef struct lir__server lir__server;

/* Starts listening. Returns LIR_OK, LIR_EINVAL (bad host/port/limits, a non-loopback host without
 * an API key), LIR_EIO (cannot bind), LIR_ENOMEM; err names why. */
enum lir_status lir__server_start(const struct lir__server_params *p, lir__server **out, char *err, size_t err_len);
/* The port listened on. */
int32_t lir__server_port(const lir__server *s);
/* Ends every stream, stops the daemon, frees s. Accepts NULL. */
void lir__server_stop(lir__server *s);

/* ---------------------------------------------------------------- shared by the API files */

enum api_kind { API_OPENAI, API_OLLAMA, API_LIR };

/* One HTTP request as the handlers see it. */
struct srv_req {
    lir__server *srv;
    struct MHD_Connection *conn;
    const char *method, *path;    /* borrowed from MHD */
    const char *body;             /* NUL-terminated, body_len bytes; "" when none */
    size_t body_len;
    uint64_t t0_ns;               /* when the request started */
    int client_fd;                /* to notice a client that went away */
    enum api_kind api;
};

/* What a handler answers when it does not stream: a status and a JSON body (taken). */
struct srv_resp {
    int status;
    json_t *json;                 /* owned; NULL with a stream */
    struct srv_stream *stream;    /* a streaming response (see below) */
    const char *content_type;     /* NULL = application/json */
    char *text;                   /* owned (malloc): a body that is not JSON (metrics) */
    int retry_after;              /* > 0: Retry-After header */
    /* another streamed body (events): MHD content reader, its free, its argument */
    ssize_t (*read)(void *cls, uint64_t pos, char *buf, size_t max);
    void (*read_free)(void *cls);
    void *read_cls;
};
/* True once the server is stopping (readers end their streams). */
bool srv_stopping(lir__server *s);
/* True when the client of fd closed its side. */
bool srv_client_gone(int fd);

/* Error response in the API's shape. Returns status. */
int srv_error(struct srv_resp *r, enum api_kind api, int status, const char *code, const char *param,
              const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* HTTP status for a runtime status. */
int srv_http_status(enum lir_status s);
/* Parses the body as a JSON object (depth already checked). On failure fills r with 400. */
json_t *srv_body_object(struct srv_req *q, struct srv_resp *r);

/* Typed field readers: return true when present and valid (written to *out), false when absent;
 * on a wrong type or range they fill r with a 400 naming the field and set *bad. */
bool srv_get_str(json_t *o, const char *key, const char **out, struct srv_resp *r, enum api_kind api, bool *bad);
bool srv_get_bool(json_t *o, const char *key, bool *out, struct srv_resp *r, enum api_kind api, bool *bad);
bool srv_get_int(json_t *o, const char *key, int64_t lo, int64_t hi, int64_t *out, struct srv_resp *r,
                 enum api_kind api, bool *bad);
bool srv_get_num(json_t *o, const char *key, double lo, double hi, double *out, struct srv_resp *r,
                 enum api_kind api, bool *bad);

/* The sampling fields both APIs name alike (temperature, top_p, top_k, min_p, typical_p,
 * repeat_penalty, repeat_last_n, frequency_penalty, presence_penalty, mirostat, mirostat_tau,
 * mirostat_eta, seed) from o into sp. Returns false (r filled, *bad set) on a wrong type. */
bool srv_get_sampling(json_t *o, struct lir_sampling_params *sp, struct srv_resp *r, enum api_kind api, bool *bad);

/* A client's model name checked (no paths: names and ids of the models directory, loaded ids)
 * and resolved: writes to out (256 bytes) the loaded id or installed name to pass to the runtime,
 * and to display (256 bytes, may be NULL) the installed name. ":latest" is dropped. Returns 0,
 * or fills r (400 bad name, 404 unknown) and returns its status. */
int srv_resolve_model(lir__server *s, const char *name, char *out, char *display, struct srv_resp *r,
                      enum api_kind api);
lir_runtime *srv_runtime(lir__server *s);

/* ---- generation streams ---- */

/* Formats what a generation produces for one API (openai.c, ollama.c). Called with the stream's
 * lock held, on the generation thread (chunk) or the connection thread (error, whole). */
struct srv_stream_fmt {
    void (*chunk)(struct srv_stream *st, const struct lir_generate_chunk *c); /* streaming: append bytes */
    void (*end)(struct srv_stream *st);   /* streaming: after the last chunk (result is set) */
    void (*fail)(struct srv_stream *st);  /* streaming: the generation failed after the first byte */
    json_t *(*whole)(struct srv_stream *st); /* not streaming: the whole answer */
    void (*free)(void *fmt_user);
};

struct srv_stream {
    lir__server *srv;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *buf;                    /* formatted bytes not yet sent: buf[off..len) */
    size_t len, off, cap;
    bool started, done, cancelled, timed_out, streaming;
    int refs;                     /* the generation thread + the connection */
    enum lir_status status;
    char err[512];
    struct lir_generate_result result;
    struct lir_generate_request req; /* strings borrowed from body / owned arrays below */
    json_t *body;                 /* owned: the request body the strings point into */
    struct lir_chat_message *messages; /* owned */
    const char **stop;            /* owned array (strings borrowed from body) */
    struct lir_logit_bias *bias;  /* owned */
    char *schema;                 /* owned: response format schema text */
    char model_arg[256];          /* what is passed to the runtime */
    char model_name[256];         /* what is reported to the client */
    const struct srv_stream_fmt *fmt;
    void *fmt_user;               /* owned through fmt->free */
    uint64_t t0_ns, deadline_ns, last_tok_ns, load_ns;
    int32_t last_index;
    int client_fd;
    bool include_usage;
    const char *content_type;
};

/* A new stream over body (takes ownership). NULL on out of memory. */
struct srv_stream *srv_stream_new(struct srv_req *q, json_t *body);
/* Frees a stream that was never run. */
void srv_stream_discard(struct srv_stream *st);
/* Appends bytes / a "data: <json>\n\n" SSE event / a "<json>\n" NDJSON line (takes j). Lock held. */
void srv_stream_put(struct srv_stream *st, const char *s, size_t n);
void srv_stream_sse(struct srv_stream *st, json_t *j);
void srv_stream_ndjson(struct srv_stream *st, json_t *j);
/* Runs st->req on a thread of its own and fills r: a streamed response, the whole JSON, or an
 * error. Takes ownership of st. Returns r->status. */
int srv_stream_run(struct srv_req *q, struct srv_stream *st, struct srv_resp *r);
/* Sampling parameters and their validation: fills r with 400 on error (returns false). */
bool srv_check_sampling(struct srv_stream *st, struct srv_resp *r, enum api_kind api);
/* Per-token log-probabilities as OpenAI's chat and Ollama write them (openai.c): an array of
 * {token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}; a token's text that is not
 * UTF-8 becomes U+FFFD in "token", its exact bytes are in "bytes"; -inf is written -9999. */
json_t *srv_logprob_entries(const struct lir_token_logprobs *v, int32_t n);

/* Admission of generation and embedding requests (the bounded queue). */
bool srv_admit(lir__server *s);
void srv_leave(lir__server *s);

/* ---- the APIs ---- */
int lir__openai_handle(struct srv_req *q, struct srv_resp *r);  /* 0 = no such route */
int lir__ollama_handle(struct srv_req *q, struct srv_resp *r);
int lir__manage_handle(struct srv_req *q, struct srv_resp *r);

/* JSON of runtime structs, field names as in lir.h. */
json_t *lir__json_installed(const struct lir_installed_model *m);
json_t *lir__json_loaded(const struct lir_loaded_model *m);

/* ---- metrics (metrics.c) ---- */
struct lir__metrics;
struct lir__metrics *lir__metrics_new(void);
void lir__metrics_free(struct lir__metrics *m);
void lir__metrics_request(struct lir__metrics *m, const char *api, int status, double seconds);
void lir__metrics_generation(struct lir__metrics *m, const struct lir_generate_result *res);
void lir__metrics_itl(struct lir__metrics *m, double seconds);
void lir__metrics_cancel(struct lir__metrics *m);
struct lir__metrics *srv_metrics(lir__server *s);
int32_t srv_inflight(lir__server *s);
/* Prometheus text of the server's metrics and the runtime's gauges (malloc'd). */
char *lir__metrics_text(struct lir__metrics *m, lir_runtime *rt, int32_t queue_len);

#endif /* LIR_SERVER_H */
