/* http.c — one HTTP attempt of the router over libcurl's multi interface.
 *
 * libcurl does the connection (connect timeout, overall timeout); lir adds what libcurl has no
 * option for — the first-token deadline, the idle gap between bytes, cancellation polled while
 * waiting — by driving the transfer itself with curl_multi_poll in steps of at most 50 ms.
 * A 2xx body goes to the stream decoder (or is collected, for embeddings); another status
 * collects the body (up to 64 KiB) for its message. CURLOPT_NOSIGNAL: safe in threads. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include "router/router.h"

#define POLL_STEP_MS 50

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static bool g_ok;
static void global_init(void) { g_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }
bool lir__http_global_init(void) {
    pthread_once(&g_once, global_init);
    return g_ok;
}

struct xfer {
    struct lir__http_attempt *a;
    CURL *easy;
    uint64_t t_last_byte;
    bool status_known, ok_status, got_bytes;
    char *buf; /* collected body */
    size_t len, cap, limit;
    bool too_large;
};

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *user) {
    struct xfer *x = user;
    size_t n = size * nmemb;
    x->t_last_byte = lir__now_ns();
    x->got_bytes = true;
    if (!x->status_known) {
        long code = 0;
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
        x->a->http_status = code;
        x->status_known = true;
        x->ok_status = code >= 200 && code < 300;
        x->limit = x->ok_status ? LIR__ROUTE_BODY_MAX : LIR__ROUTE_ERRBODY_MAX;
    }
    if (x->ok_status && x->a->dec) {
        if (!lir__decoder_push(x->a->dec, ptr, n)) return 0; /* done or failed: stop reading */
        return n;
    }
    size_t keep = n;
    if (x->len + keep > x->limit) {
        keep = x->limit - x->len;
        if (x->ok_status) { x->too_large = true; return 0; }
    }
    if (x->len + keep + 1 > x->cap) {
        size_t cap = x->cap ? x->cap : 4096;
        while (cap < x->len + keep + 1) cap *= 2;
        char *b = realloc(x->buf, cap);
        if (!b) { x->too_large = true; return 0; }
        x->buf = b;
        x->cap = cap;
    }
    memcpy(x->buf + x->len, ptr, keep);
    x->len += keep;
    x->buf[x->len] = 0;
    return n; /* an error body past the limit: read on, keep the start */
}

static enum lir_route_failure fail(struct lir__http_attempt *a, enum lir_route_failure f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum lir_route_failure fail(struct lir__http_attempt *a, enum lir_route_failure f, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->err.msg, sizeof a->err.msg, fmt, ap);
    va_end(ap);
    return a->failure = f;
}

static bool connected(CURL *easy) {
    curl_off_t t = 0;
    return curl_easy_getinfo(easy, CURLINFO_CONNECT_TIME_T, &t) == CURLE_OK && t > 0;
}

enum lir_route_failure lir__http_run(struct lir__http_attempt *a) {
    a->http_status = 0;
    a->body_out = NULL;
    a->body_out_len = 0;
    a->failure = LIR_ROUTE_FAILURE_NONE;
    a->err.msg[0] = 0;
    struct xfer x = { .a = a };
    char curl_err[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdr = NULL;
    CURLM *multi = NULL;
    enum lir_route_failure res = LIR_ROUTE_FAILURE_NONE;
    char auth[1024];

    x.easy = curl_easy_init();
    multi = curl_multi_init();
    if (!x.easy || !multi) { res = fail(a, LIR_ROUTE_FAILURE_CONNECT, "libcurl: cannot create a handle"); goto out; }
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    hdr = curl_slist_append(hdr, a->dec ? (a->dec->kind == LIR_REMOTE_OPENAI ? "Accept: text/event-stream"
                                                                             : "Accept: application/x-ndjson")
                                        : "Accept: application/json");
    hdr = curl_slist_append(hdr, "Expect:"); /* no 100-continue round trip */
    if (a->api_key && a->api_key[0]) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", a->api_key);
        hdr = curl_slist_append(hdr, auth);
    }
    if (!hdr) { res = fail(a, LIR_ROUTE_FAILURE_CONNECT, "libcurl: out of memory"); goto out; }
    CURL *e = x.easy;
    curl_easy_setopt(e, CURLOPT_URL, a->url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, a->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(a->body));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)a->connect_timeout_ms);
    if (a->total_timeout_ms > 0) curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)a->total_timeout_ms);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1"); /* loopback servers never go through a proxy */
    curl_easy_setopt(e, CURLOPT_USERAGENT, "lir/0.1");
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""); /* whatever libcurl can decode */
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    if (curl_multi_add_handle(multi, e) != CURLM_OK) { res = fail(a, LIR_ROUTE_FAILURE_CONNECT, "libcurl: add handle"); goto out; }

    const uint64_t t0 = lir__now_ns();
    x.t_last_byte = t0;
    CURLcode result = CURLE_OK;
    bool finished = false;
    for (;;) {
        int running = 0;
        if (curl_multi_perform(multi, &running) != CURLM_OK) { res = fail(a, LIR_ROUTE_FAILURE_CONNECT, "libcurl: multi perform failed"); goto out; }
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left)))
            if (m->msg == CURLMSG_DONE) { result = m->data.result; finished = true; }
        if (finished || running == 0) break;
        const uint64_t now = lir__now_ns();
        const double since_start = (double)(now - t0) / 1e6, since_byte = (double)(now - x.t_last_byte) / 1e6;
        const bool have_token = a->dec ? a->dec->n_text > 0 : false;
        if (a->is_cancelled && a->is_cancelled(a->cancel_user)) {
            if (a->dec) { a->dec->failure = LIR_ROUTE_FAILURE_CANCELLED; a->dec->stopped = true; }
            res = fail(a, LIR_ROUTE_FAILURE_CANCELLED, "cancelled by the caller");
            goto out;
        }
        if (a->first_token_timeout_ms > 0 && !have_token && since_start >= a->first_token_timeout_ms) {
            if (!connected(e))
                res = fail(a, LIR_ROUTE_FAILURE_CONNECT, "connect to %s: timed out after %d ms", a->url, a->first_token_timeout_ms);
            else
                res = fail(a, LIR_ROUTE_FAILURE_TIMEOUT, "no %s within %d ms", a->dec ? "token" : "response",
                           a->first_token_timeout_ms);
            goto out;
        }
        if (a->idle_timeout_ms > 0 && connected(e) && since_byte >= a->idle_timeout_ms && x.got_bytes) {
            res = fail(a, LIR_ROUTE_FAILURE_TIMEOUT, "no data for %d ms", a->idle_timeout_ms);
            goto out;
        }
        if (curl_multi_poll(multi, NULL, 0, POLL_STEP_MS, NULL) != CURLM_OK) { res = fail(a, LIR_ROUTE_FAILURE_CONNECT, "libcurl: poll failed"); goto out; }
    }

    /* the decoder stopped the transfer on purpose (done, malformed data, cancel): its verdict */
    if (a->dec && x.ok_status && a->dec->stopped) {
        if (a->dec->failure != LIR_ROUTE_FAILURE_NONE) res = fail(a, a->dec->failure, "%s", a->dec->err.msg);
        goto out;
    }
    if (result != CURLE_OK && !(x.got_bytes && !x.ok_status && result == CURLE_PARTIAL_FILE)) {
        if (x.too_large) { res = fail(a, LIR_ROUTE_FAILURE_PROTOCOL, "response body over %u bytes", LIR__ROUTE_BODY_MAX); goto out; }
        const char *why = curl_err[0] ? curl_err : curl_easy_strerror(result);
        switch (result) {
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
            res = fail(a, LIR_ROUTE_FAILURE_CONNECT, "%s", why);
            goto out;
        case CURLE_OPERATION_TIMEDOUT:
            res = fail(a, connected(e) ? LIR_ROUTE_FAILURE_TIMEOUT : LIR_ROUTE_FAILURE_CONNECT, "%s", why);
            goto out;
        case CURLE_GOT_NOTHING:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
            if (!x.got_bytes) { /* dropped before any reply: as a connection failure */
                res = fail(a, LIR_ROUTE_FAILURE_CONNECT, "%s", why);
                goto out;
            }
            /* fall through */
        case CURLE_PARTIAL_FILE:
            if (x.ok_status && a->dec) break; /* the decoder says what was missing */
            res = fail(a, LIR_ROUTE_FAILURE_TRUNCATED, "response ended early: %s", why);
            goto out;
        default:
            res = fail(a, LIR_ROUTE_FAILURE_PROTOCOL, "%s", why);
            goto out;
        }
    }
    if (!x.status_known) curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &a->http_status);
    if (a->http_status < 200 || a->http_status >= 300) {
        char m[LIR_ERR_MAX - 32];
        lir__wire_error_message(x.buf ? x.buf : "", x.len, m, sizeof m);
        res = fail(a, LIR_ROUTE_FAILURE_HTTP, "HTTP %ld: %s", a->http_status, m);
        goto out;
    }
    if (a->dec) {
        lir__decoder_finish(a->dec);
        if (a->dec->failure != LIR_ROUTE_FAILURE_NONE) res = fail(a, a->dec->failure, "%s", a->dec->err.msg);
    } else {
        a->body_out = x.buf ? x.buf : strdup("");
        a->body_out_len = x.len;
        x.buf = NULL;
        if (!a->body_out) res = fail(a, LIR_ROUTE_FAILURE_PROTOCOL, "out of memory");
    }
out:
    if (multi && x.easy) curl_multi_remove_handle(multi, x.easy);
    curl_easy_cleanup(x.easy);
    curl_multi_cleanup(multi);
    curl_slist_free_all(hdr);
    free(x.buf);
    return res;
}
