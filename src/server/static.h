/* static.h — the dashboard's side of `lir serve` (static.c): the embedded web assets (generated
 * into the build directory by cmake/embed.cmake from web/ and uPlot's dist files), their serving
 * with content types, ETag and cache headers, and the live resource stream the page reads. */
#ifndef LIR_SERVER_STATIC_H
#define LIR_SERVER_STATIC_H

#include <stddef.h>

/* One embedded file. All pointers are to static storage. */
struct lir__web_asset {
    const char *path;             /* URL path, "/static/app.js" */
    const char *type;             /* Content-Type */
    const unsigned char *data;    /* len bytes (followed by a NUL) */
    size_t len;
    const char *etag;             /* quoted, e.g. "\"0123456789abcdef\"" */
};
extern const struct lir__web_asset lir__web_assets[]; /* ends with an entry of NULL path */
extern const int lir__web_asset_count;

struct MHD_Connection;
struct srv_req;
struct srv_resp;

/* The embedded asset at path ("/" = index.html), or NULL. */
const struct lir__web_asset *lir__web_asset_find(const char *path);

/* Answers a GET or HEAD of the dashboard: "/" from a browser (Accept names text/html; other
 * clients keep the JSON status) and "/static/<file>". Queues the response (200, or 304 when
 * If-None-Match matches the ETag) on c and returns its status; *ok is MHD's result. Returns 0
 * and queues nothing when the request is not one of these. */
int lir__static_serve(struct MHD_Connection *c, const char *method, const char *path, int *ok);

/* GET /lir/v1/resources/live[?interval_ms=N]: Server-Sent Events, one "resources" event every
 * interval (1000 ms; 100..60000): the runtime's resource usage (lir_resource_usage fields) with
 * cached_ram_bytes (the system's page cache), inflight_requests, queued_requests (admitted, not
 * yet running), avg_ttft_ms (over the loaded models' requests) and models (the loaded models as
 * GET /lir/v1/models/loaded gives them) and active_id. Returns the HTTP status (0 = not this route). */
int lir__live_handle(struct srv_req *q, struct srv_resp *r);

#endif /* LIR_SERVER_STATIC_H */
