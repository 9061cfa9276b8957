/* cli_http.c — the CLI's client side of a running `lir serve`: the server's base URL from
 * $LIR_HOST, and one JSON request over libcurl (lir ps/load/unload, lir top). */
#include "cli/cli.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

void lir_cli_server_url(char *buf, size_t n) {
    const char *h = getenv("LIR_HOST");
    if (!h || !*h) h = "127.0.0.1:7373";
    const char *scheme = "http://";
    if (!strncmp(h, "http://", 7)) h += 7;
    else if (!strncmp(h, "https://", 8)) h += 8, scheme = "https://";
    char host[512];
    snprintf(host, sizeof host, "%s", h);
    size_t k = strlen(host);
    while (k && host[k - 1] == '/') host[--k] = 0;
    const char *rb = strrchr(host, ']'), *colon = strrchr(host, ':');
    bool has_port = colon && (rb ? colon > rb : strchr(host, ':') == colon); /* "[::1]:7373", "host:7373" */
    if (!strncmp(host, "0.0.0.0", 7) && (host[7] == 0 || host[7] == ':')) /* every interface: this machine */
        snprintf(buf, n, "%s127.0.0.1%s%s", scheme, host + 7, has_port ? "" : ":7373");
    else snprintf(buf, n, "%s%s%s", scheme, host, has_port ? "" : ":7373");
}

struct body {
    char *p;
    size_t len;
};

static size_t on_data(char *d, size_t sz, size_t nm, void *user) {
    struct body *b = user;
    size_t n = sz * nm;
    if (b->len + n > (64u << 20)) return 0; /* a reply this large is not ours: abort */
    char *p = realloc(b->p, b->len + n + 1);
    if (!p) return 0;
    memcpy(p + b->len, d, n);
    b->p = p;
    b->len += n;
    b->p[b->len] = 0;
    return n;
}

enum lir_cli_reply lir_cli_request(const char *base, const char *path, const char *body, long connect_ms,
                                   long timeout_s, json_t **out, char *err, size_t err_len) {
    char url[1024];
    snprintf(url, sizeof url, "%s%s", base, path);
    *out = NULL;
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, err_len, "cannot start libcurl");
        return LIR_CLI_REPLY_ERROR;
    }
    struct body b = { 0 };
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
    if (body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hd);
    curl_easy_cleanup(c);
    enum lir_cli_reply r = LIR_CLI_REPLY_OK;
    json_t *j = NULL;
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST) {
        r = LIR_CLI_NO_SERVER;
    } else if (rc != CURLE_OK) {
        snprintf(err, err_len, "%.400s: %s", url, curl_easy_strerror(rc));
        r = LIR_CLI_REPLY_ERROR;
    } else {
        json_error_t je;
        j = b.p ? json_loadb(b.p, b.len, 0, &je) : NULL;
        if (status < 200 || status > 299) {
            json_t *e = json_object_get(j, "error");
            const char *msg = json_is_string(e) ? json_string_value(e)
                            : json_is_string(json_object_get(e, "message")) ? json_string_value(json_object_get(e, "message"))
                                                                             : NULL;
            snprintf(err, err_len, "%.400s: HTTP %ld%s%.300s", url, status, msg ? ": " : "", msg ? msg : "");
            r = LIR_CLI_REPLY_ERROR;
        } else if (!j) {
            snprintf(err, err_len, "%.400s: the reply is not JSON", url);
            r = LIR_CLI_REPLY_ERROR;
        }
    }
    free(b.p);
    if (r == LIR_CLI_REPLY_OK) *out = j;
    else json_decref(j);
    return r;
}
