/* mock_server.h — a scripted HTTP server on 127.0.0.1 (ephemeral port) in a thread, for the
 * router tests (included by test_router.c only). It serves connections one at a time: reads
 * the request (headers and Content-Length body) and records its path, Authorization header and
 * body, then plays a script of byte segments, each after a delay, and closes. Writes use
 * MSG_NOSIGNAL so a client that went away only ends the script. */
#ifndef LIR_TEST_MOCK_SERVER_H
#define LIR_TEST_MOCK_SERVER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MOCK_MAX_REQ 16

struct mock_seg {
    const char *data; /* NULL ends the script */
    int delay_ms;     /* before this segment */
    size_t len;       /* 0 = strlen(data) */
};

struct mock {
    int fd, port;
    pthread_t th;
    atomic_int stop;
    const struct mock_seg *script;
    int drop_first;   /* close this many connections at once after reading the request (no reply) */
    pthread_mutex_t mu;
    int n_req;        /* requests read (guarded by mu) */
    char path[MOCK_MAX_REQ][256];
    char auth[MOCK_MAX_REQ][256];
    char *body[MOCK_MAX_REQ];
};

static void mock_sleep(struct mock *m, int ms) {
    for (int t = 0; t < ms && !atomic_load(&m->stop); t += 5) {
        struct timespec ts = { 0, 5 * 1000000L };
        nanosleep(&ts, NULL);
    }
}

/* Reads one request from c; records it. False when the client went away. */
static int mock_read_request(struct mock *m, int c) {
    char buf[1 << 16];
    size_t len = 0;
    char *hend = NULL;
    while (!hend) {
        struct pollfd p = { c, POLLIN, 0 };
        if (atomic_load(&m->stop)) return 0;
        if (poll(&p, 1, 20) <= 0) continue;
        ssize_t k = recv(c, buf + len, sizeof buf - 1 - len, 0);
        if (k <= 0) return 0;
        len += (size_t)k;
        buf[len] = 0;
        hend = strstr(buf, "\r\n\r\n");
        if (!hend && len >= sizeof buf - 1) return 0;
    }
    size_t hlen = (size_t)(hend + 4 - buf);
    size_t clen = 0;
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    if (cl && cl < hend) clen = strtoul(cl + 17, NULL, 10);
    char *body = malloc(clen + 1);
    size_t have = len - hlen < clen ? len - hlen : clen;
    memcpy(body, buf + hlen, have);
    while (have < clen) {
        ssize_t k = recv(c, body + have, clen - have, 0);
        if (k <= 0) { free(body); return 0; }
        have += (size_t)k;
    }
    body[clen] = 0;
    pthread_mutex_lock(&m->mu);
    int i = m->n_req < MOCK_MAX_REQ ? m->n_req : MOCK_MAX_REQ - 1;
    free(m->body[i]);
    m->body[i] = body;
    sscanf(buf, "%*s %255s", m->path[i]);
    m->auth[i][0] = 0;
    const char *au = strcasestr(buf, "\r\nAuthorization: ");
    if (au && au < hend) {
        const char *e = strstr(au + 2, "\r\n");
        size_t n = (size_t)(e - (au + 17));
        if (n > 255) n = 255;
        memcpy(m->auth[i], au + 17, n);
        m->auth[i][n] = 0;
    }
    m->n_req++;
    pthread_mutex_unlock(&m->mu);
    return 1;
}

static void *mock_main(void *arg) {
    struct mock *m = arg;
    int served = 0;
    while (!atomic_load(&m->stop)) {
        struct pollfd p = { m->fd, POLLIN, 0 };
        if (poll(&p, 1, 20) <= 0) continue;
        int c = accept(m->fd, NULL, NULL);
        if (c < 0) continue;
        int one = 1;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (mock_read_request(m, c)) {
            if (served++ >= m->drop_first) {
                for (const struct mock_seg *s = m->script; s && s->data && !atomic_load(&m->stop); s++) {
                    if (s->delay_ms) mock_sleep(m, s->delay_ms);
                    size_t n = s->len ? s->len : strlen(s->data);
                    if (send(c, s->data, n, MSG_NOSIGNAL) != (ssize_t)n) break;
                }
            }
        }
        shutdown(c, SHUT_RDWR);
        close(c);
    }
    return NULL;
}

/* Starts a server playing script (borrowed; must outlive the server). */
static void mock_start(struct mock *m, const struct mock_seg *script) {
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
    m->script = script;
    m->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bind(m->fd, (struct sockaddr *)&a, sizeof a);
    socklen_t al = sizeof a;
    getsockname(m->fd, (struct sockaddr *)&a, &al);
    m->port = ntohs(a.sin_port);
    listen(m->fd, 16);
    pthread_create(&m->th, NULL, mock_main, m);
}

static void mock_stop(struct mock *m) {
    atomic_store(&m->stop, 1);
    pthread_join(m->th, NULL);
    close(m->fd);
    for (int i = 0; i < MOCK_MAX_REQ; i++) free(m->body[i]);
    pthread_mutex_destroy(&m->mu);
}

static int mock_n_req(struct mock *m) {
    pthread_mutex_lock(&m->mu);
    int n = m->n_req;
    pthread_mutex_unlock(&m->mu);
    return n;
}

/* A port that refuses connections: bound, never listening (Linux answers RST). Close it after. */
static int refusing_port(int *fd_out) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    *fd_out = fd;
    return ntohs(a.sin_port);
}

#endif /* LIR_TEST_MOCK_SERVER_H */
