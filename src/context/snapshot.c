/* snapshot.c — saving a context sequence to a snapshot file and restoring it (public API in
 * include/lir.h "snapshots"; file format in snapshot.h).
 *
 * Save streams the file: header, name, tokens, logits, sampler state, then the KV cache in
 * chunks of about SNAP_CHUNK_BYTES read through lir__kv_seq_read into staging buffers (small
 * enough to stay in cache between the copy, the hash and the write; with two threads or more a
 * second thread reads and hashes the next chunk while this one writes), to "path.tmp", hashing
 * the checksum tree's leaves as the bytes go out (no second pass); appends the checksum and
 * renames the file over path. Restore reads the file with pread (no mapping): the header against the
 * file's size, the checksum of the whole file (leaves on the context's threads), the sections
 * before the KV data (lir__snap_parse_header/_prefix: sizes, contents); then checks it against
 * the context (fingerprint, vocabulary, KV type and token size, room) and the sampler's state
 * against the sampler; only then does it clear the sequence and read the KV chunks into it
 * (lir__kv_seq_write).
 * Known limit: the KV bytes are read a second time after the checksum; another process
 * rewriting the file in place between the two reads is not detected (truncating it is: the
 * sequence is then left empty). Files written by lir_snapshot_save are replaced by rename, never
 * rewritten in place, and an open descriptor keeps reading the file it opened. */
#include "context/snapshot.h"
#include "model/forward.h"
#include "model/model.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SNAP_CHUNK_BYTES (1u << 20)

struct lir_snapshot_params lir_snapshot_params_default(void) {
    struct lir_snapshot_params p = { .name = NULL, .sampler = NULL, .logits = NULL, .fsync = false };
    return p;
}

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- names and directories */

bool lir__snapshot_name_ok(const char *name, lir_err *e, const char *fn) {
    if (!name || !name[0]) {
        lir__errf(e, LIR_EINVAL, "%s: snapshot name is empty", fn);
        return false;
    }
    size_t n = strlen(name);
    if (n > LIR_SNAP_NAME_MAX) {
        lir__errf(e, LIR_EINVAL, "%s: snapshot name of %zu characters (at most %d)", fn, n, LIR_SNAP_NAME_MAX);
        return false;
    }
    if (name[0] == '.' || name[0] == ' ') {
        lir__errf(e, LIR_EINVAL, "%s: snapshot name '%s' starts with '%c'", fn, name, name[0]);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        const unsigned char c = (unsigned char)name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              c == '.' || c == ' ')) {
            lir__errf(e, LIR_EINVAL,
                      "%s: snapshot name has '%c' (0x%02x) at %zu; allowed: letters, digits, '_', '-', '.', ' '", fn,
                      c >= 0x20 && c < 0x7f ? c : '?', c, i);
            return false;
        }
    }
    return true;
}

void lir__snapshot_dir_default(char *buf, size_t n) {
    const char *x = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    if (x && x[0] == '/') snprintf(buf, n, "%s/lir/snapshots", x);
    else snprintf(buf, n, "%s/.local/share/lir/snapshots", home && home[0] ? home : "/tmp");
}

enum lir_status lir__mkdirs(const char *dir, lir_err *e, const char *fn) {
    char p[4096];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p) return lir__errf(e, LIR_EINVAL, "%s: directory path too long", fn);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) return lir__errf(e, LIR_EIO, "%s: mkdir %s: %s", fn, p, strerror(errno));
        *s = '/';
    }
    if (mkdir(p, 0755) != 0 && errno != EEXIST) return lir__errf(e, LIR_EIO, "%s: mkdir %s: %s", fn, p, strerror(errno));
    return LIR_OK;
}

/* ---------------------------------------------------------------- save */

struct wr {
    int fd;
    const char *path; /* for messages */
    lir_err *e;
    struct lir__snap_sum *sum; /* the checksum of everything written */
};

/* Writes n bytes; false with errno set on failure (0: the device took nothing). */
static bool write_all(int fd, const void *p, size_t n) {
    const uint8_t *b = p;
    while (n) {
        ssize_t k = write(fd, b, n > (1u << 30) ? (1u << 30) : n);
        if (k < 0 && errno == EINTR) continue;
        if (k == 0) errno = 0;
        if (k <= 0) return false;
        b += k;
        n -= (size_t)k;
    }
    return true;
}

static enum lir_status write_failed(struct wr *w, int err) {
    return lir__errf(w->e, LIR_EIO, "lir_snapshot_save: writing %s: %s", w->path, err ? strerror(err) : "nothing written");
}

static enum lir_status wr_all(struct wr *w, const void *p, size_t n) {
    if (!lir__snap_sum_update(w->sum, p, n)) return lir__errf(w->e, LIR_ENOMEM, "lir_snapshot_save: out of memory");
    return write_all(w->fd, p, n) ? LIR_OK : write_failed(w, errno);
}

/* Chunks through two staging buffers on two threads: produce(u, k, buf) fills chunk k on a
 * second thread, one chunk ahead of consume(u, k, buf) on the caller's; each stops the run by
 * returning non-zero. Returns the first failure (produce's or consume's), or LIR_OK; false in
 * *ran when no thread could be started (then nothing was called). */
typedef enum lir_status (*chunk_fn)(void *u, int32_t k, uint8_t *buf);

struct pipe {
    chunk_fn produce;
    void *u;
    int32_t n_chunks;
    uint8_t *buf[2];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int32_t produced, consumed; /* chunks filled; chunks consumed */
    bool stop;                  /* consume failed: the producer ends */
    enum lir_status ps;         /* produce's failure */
};

static void *pipe_producer(void *arg) {
    struct pipe *p = arg;
    for (int32_t k = 0; k < p->n_chunks; k++) {
        pthread_mutex_lock(&p->mu);
        while (k - p->consumed >= 2 && !p->stop) pthread_cond_wait(&p->cv, &p->mu);
        const bool stop = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stop) break;
        const enum lir_status s = p->produce(p->u, k, p->buf[k & 1]);
        pthread_mutex_lock(&p->mu);
        if (s) p->ps = s;
        else p->produced = k + 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (s) break;
    }
    return NULL;
}

static enum lir_status run_pipe(int32_t n_chunks, uint8_t *buf0, uint8_t *buf1, chunk_fn produce, chunk_fn consume,
                                void *u, bool *ran) {
    struct pipe p = { .produce = produce, .u = u, .n_chunks = n_chunks, .buf = { buf0, buf1 } };
    pthread_t tid;
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    *ran = pthread_create(&tid, NULL, pipe_producer, &p) == 0;
    enum lir_status cs = LIR_OK;
    if (*ran) {
        for (int32_t k = 0; k < n_chunks && !cs; k++) {
            pthread_mutex_lock(&p.mu);
            while (p.produced <= k && !p.ps) pthread_cond_wait(&p.cv, &p.mu);
            const bool failed = p.produced <= k;
            pthread_mutex_unlock(&p.mu);
            if (failed) break;
            cs = consume(u, k, p.buf[k & 1]);
            pthread_mutex_lock(&p.mu);
            p.consumed = k + 1;
            if (cs) p.stop = true;
            pthread_cond_broadcast(&p.cv);
            pthread_mutex_unlock(&p.mu);
        }
        pthread_join(tid, NULL);
    }
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.cv);
    return cs ? cs : p.ps;
}

/* Save's KV chunks: the producer copies a chunk out of the cache and hashes it, the caller's
 * thread writes it (the write into fresh page-cache pages is the largest part of a save).
 * Only the producer touches the context while both run; a failed write's message is written
 * after the join. */
struct save_kv {
    struct wr *w;
    lir_context *ctx;
    int32_t seq, n_tok, chunk;
    uint64_t token_bytes;
    bool wfailed; /* a write failed, with errno werr */
    int werr;
};

static int32_t chunk_len(int32_t n_tok, int32_t chunk, int32_t k) {
    return n_tok - k * chunk < chunk ? n_tok - k * chunk : chunk;
}

static enum lir_status save_produce(void *u, int32_t k, uint8_t *buf) {
    struct save_kv *v = u;
    const int32_t n = chunk_len(v->n_tok, v->chunk, k);
    enum lir_status s = lir__kv_seq_read(v->ctx, v->seq, k * v->chunk, n, buf); /* message on the context */
    if (!s && !lir__snap_sum_update(v->w->sum, buf, (size_t)n * v->token_bytes)) s = LIR_ENOMEM;
    return s;
}

static enum lir_status save_consume(void *u, int32_t k, uint8_t *buf) {
    struct save_kv *v = u;
    if (write_all(v->w->fd, buf, (size_t)chunk_len(v->n_tok, v->chunk, k) * v->token_bytes)) return LIR_OK;
    v->wfailed = true;
    v->werr = errno;
    return LIR_EIO;
}

/* The KV chunks of seq after what w has written: on two threads when the context has two or
 * more, there are two chunks or more and a second buffer can be had; else in turn with stage. */
static enum lir_status write_kv(struct wr *w, lir_context *ctx, int32_t seq, int32_t n_tok, uint32_t chunk,
                                uint64_t token_bytes, uint8_t *stage) {
    struct save_kv v = { w, ctx, seq, n_tok, (int32_t)chunk, token_bytes, false, 0 };
    const int32_t n_chunks = (int32_t)(((int64_t)n_tok + chunk - 1) / chunk);
    uint8_t *buf1 = lir__context_n_threads(ctx) >= 2 && n_chunks >= 2 ? malloc((size_t)chunk * token_bytes) : NULL;
    bool ran = false;
    enum lir_status s = buf1 ? run_pipe(n_chunks, stage, buf1, save_produce, save_consume, &v, &ran) : LIR_OK;
    free(buf1);
    for (int32_t k = 0; !ran && !s && k < n_chunks; k++)
        if (!(s = save_produce(&v, k, stage))) s = save_consume(&v, k, stage);
    if (v.wfailed) return write_failed(w, v.werr);
    if (s == LIR_ENOMEM) return lir__errf(w->e, LIR_ENOMEM, "lir_snapshot_save: out of memory");
    return s; /* LIR_OK, or lir__kv_seq_read's status with its message on the context */
}

static enum lir_status fsync_dir(const char *path, lir_err *e) {
    char *d = strdup(path);
    if (!d) return lir__errf(e, LIR_ENOMEM, "lir_snapshot_save: out of memory");
    int fd = open(dirname(d), O_RDONLY | O_DIRECTORY);
    enum lir_status s = LIR_OK;
    if (fd < 0 || fsync(fd) != 0) s = lir__errf(e, LIR_EIO, "lir_snapshot_save: fsync of the directory of %s: %s", path, strerror(errno));
    if (fd >= 0) close(fd);
    free(d);
    return s;
}

enum lir_status lir_snapshot_save(lir_context *ctx, int32_t seq, const char *path, const struct lir_snapshot_params *pp,
                                  struct lir_snapshot_info *info) {
    if (!ctx) return LIR_EINVAL;
    lir_err *e = lir__context_err(ctx);
    const struct lir_snapshot_params p = pp ? *pp : lir_snapshot_params_default();
    if (!path || !path[0]) return lir__errf(e, LIR_EINVAL, "lir_snapshot_save: path is NULL or empty");
    int32_t n_tok = 0;
    const lir_token *toks = lir_context_seq_tokens(ctx, seq, &n_tok);
    if (!toks && lir_context_seq_length(ctx, seq) < 0)
        return lir__errf(e, LIR_EINVAL, "lir_snapshot_save: sequence %d does not exist", seq);
    const char *name = p.name ? p.name : "";
    const size_t name_len = strlen(name);
    if (name_len >= LIR_SNAPSHOT_NAME_MAX)
        return lir__errf(e, LIR_EINVAL, "lir_snapshot_save: name of %zu bytes (at most %d)", name_len,
                         LIR_SNAPSHOT_NAME_MAX - 1);
    const lir_model *m = lir__context_model(ctx);
    const int32_t n_vocab = m->hp.n_vocab;
    const float *logits = p.logits;
    if (!logits && n_tok > 0) logits = lir_context_logits(ctx, -1);
    if (n_tok == 0) logits = NULL;
    if (sodium_init() < 0) return lir__errf(e, LIR_EINTERNAL, "lir_snapshot_save: libsodium failed to start");

    uint8_t hdr[LIR_SNAP_HEADER] = { 0 };
    struct lir_snapshot_info in = { .version = LIR_SNAPSHOT_VERSION };
    enum lir_status s = lir_model_fingerprint(m, in.fingerprint);
    if (s) return lir__errf(e, s, "lir_snapshot_save: model fingerprint failed");
    const uint64_t token_bytes = lir__kv_token_bytes(ctx);
    uint32_t chunk = (uint32_t)(SNAP_CHUNK_BYTES / (token_bytes ? token_bytes : 1));
    if (chunk < 1) chunk = 1;
    if (n_tok > 0 && chunk > (uint32_t)n_tok) chunk = (uint32_t)n_tok;
    in.kv_type = lir__context_kv_type(ctx);
    in.n_ctx = lir__context_n_ctx(ctx);
    in.n_vocab = n_vocab;
    in.n_tokens = n_tok;
    in.kv_bytes = (uint64_t)n_tok * token_bytes;
    in.created_at_ms = wall_ms();
    in.has_logits = logits != NULL;
    memcpy(in.name, name, name_len + 1);

    uint8_t *smp = NULL;
    size_t smp_len = 0;
    if (p.sampler) {
        lir_sampler_state_save(p.sampler, NULL, 0, &smp_len);
        smp = malloc(smp_len ? smp_len : 1);
        if (!smp) return lir__errf(e, LIR_ENOMEM, "lir_snapshot_save: out of memory");
        if ((s = lir_sampler_state_save(p.sampler, smp, smp_len, &smp_len))) {
            free(smp);
            return lir__errf(e, s, "lir_snapshot_save: sampler state: %s", lir_status_str(s));
        }
        in.has_sampler = true;
    }
    memcpy(hdr, LIR_SNAP_MAGIC, 8);
    lir__put_u32(hdr + 8, LIR_SNAPSHOT_VERSION);
    lir__put_u32(hdr + 12, LIR_SNAP_HEADER);
    memcpy(hdr + 16, in.fingerprint, LIR_FINGERPRINT_LEN);
    lir__put_u32(hdr + 48, (uint32_t)in.kv_type);
    lir__put_u32(hdr + 52, (uint32_t)in.n_ctx);
    lir__put_u32(hdr + 56, (uint32_t)n_vocab);
    lir__put_u32(hdr + 60, (uint32_t)n_tok);
    lir__put_u64(hdr + 64, token_bytes);
    lir__put_u32(hdr + 72, chunk);
    lir__put_u32(hdr + 76, (uint32_t)name_len);
    lir__put_u64(hdr + 80, (uint64_t)in.created_at_ms);
    lir__put_u32(hdr + 88, logits ? (uint32_t)n_vocab : 0);
    lir__put_u32(hdr + 92, (uint32_t)smp_len);
    lir__put_u64(hdr + 96, in.kv_bytes);

    /* staging buffer: the tokens and logits as LE words, then each KV chunk */
    size_t stage_len = (size_t)chunk * token_bytes;
    const size_t words = (size_t)n_tok > (size_t)n_vocab ? (size_t)n_tok : (size_t)n_vocab;
    if (stage_len < 4 * words) stage_len = 4 * words;
    uint8_t *stage = malloc(stage_len);
    const size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!stage || !tmp) {
        free(stage), free(tmp), free(smp);
        return lir__errf(e, LIR_ENOMEM, "lir_snapshot_save: out of memory (%zu bytes)", stage_len);
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    struct lir__snap_sum *sum = lir__snap_sum_begin();
    if (!sum) {
        free(stage), free(tmp), free(smp);
        return lir__errf(e, LIR_ENOMEM, "lir_snapshot_save: out of memory");
    }
    struct wr w = { .fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), .path = tmp, .e = e, .sum = sum };
    if (w.fd < 0) {
        s = lir__errf(e, LIR_EIO, "lir_snapshot_save: cannot create %s: %s", tmp, strerror(errno));
        free(stage), free(tmp), free(smp);
        lir__snap_sum_free(sum);
        return s;
    }
    s = wr_all(&w, hdr, sizeof hdr);
    if (!s) s = wr_all(&w, name, name_len);
    if (!s && n_tok) {
        for (int32_t i = 0; i < n_tok; i++) lir__put_u32(stage + 4 * (size_t)i, (uint32_t)toks[i]);
        s = wr_all(&w, stage, 4 * (size_t)n_tok);
    }
    if (!s && logits) {
        for (int32_t i = 0; i < n_vocab; i++) lir__put_u32(stage + 4 * (size_t)i, lir__f32_bits(logits[i]));
        s = wr_all(&w, stage, 4 * (size_t)n_vocab);
    }
    if (!s && smp_len) s = wr_all(&w, smp, smp_len);
    if (!s && n_tok) s = write_kv(&w, ctx, seq, n_tok, chunk, token_bytes, stage);
    const size_t body = (size_t)LIR_SNAP_HEADER + name_len + 4 * (size_t)n_tok + (logits ? 4 * (size_t)n_vocab : 0) +
                        smp_len + (size_t)in.kv_bytes;
    if (!s) { /* the checksum of what was written, hashed as it went */
        uint8_t d[LIR_SNAP_SUM];
        if (!lir__snap_sum_end(sum, d)) s = lir__errf(e, LIR_ENOMEM, "lir_snapshot_save: out of memory");
        ssize_t k = s ? (ssize_t)sizeof d : write(w.fd, d, sizeof d);
        if (k != (ssize_t)sizeof d)
            s = lir__errf(e, LIR_EIO, "lir_snapshot_save: writing %s: %s", tmp, k < 0 ? strerror(errno) : "short write");
    }
    lir__snap_sum_free(sum);
    if (!s && p.fsync && fsync(w.fd) != 0)
        s = lir__errf(e, LIR_EIO, "lir_snapshot_save: fsync %s: %s", tmp, strerror(errno));
    if (close(w.fd) != 0 && !s) s = lir__errf(e, LIR_EIO, "lir_snapshot_save: closing %s: %s", tmp, strerror(errno));
    if (!s && rename(tmp, path) != 0)
        s = lir__errf(e, LIR_EIO, "lir_snapshot_save: renaming %s to %s: %s", tmp, path, strerror(errno));
    if (!s && p.fsync) s = fsync_dir(path, e);
    if (s) unlink(tmp);
    free(stage), free(tmp), free(smp);
    if (s) return s;
    in.size_bytes = (uint64_t)body + LIR_SNAP_SUM;
    if (info) *info = in;
    e->msg[0] = 0;
    return LIR_OK;
}

/* ---------------------------------------------------------------- reading */

/* A snapshot file open for reading: read with pread, never mapped — on a VM the first touch of
 * each newly mapped 4 KiB page costs more than copying it (a 1 GB mapping took 240-420 ms to read
 * once, 40-70 ms the second time), while pread copies through the kernel's own mapping. */
struct rd {
    int fd;
    const char *path;          /* for messages */
    struct lir__snap_view v;
    uint8_t *prefix;           /* v.prefix_len bytes: header, name, tokens, logits, sampler */
};

static bool pread_all(int fd, void *buf, size_t n, uint64_t off) {
    uint8_t *b = buf;
    while (n) {
        ssize_t k = pread(fd, b, n > (1u << 30) ? (1u << 30) : n, (off_t)off);
        if (k < 0 && errno == EINTR) continue;
        if (k == 0) errno = 0; /* the file is shorter than its header said: changed while read */
        if (k <= 0) return false;
        b += k, off += (uint64_t)k, n -= (size_t)k;
    }
    return true;
}

/* A pread_all that failed: errno's message, or that the file got shorter than its header said. */
static enum lir_status read_failed(lir_err *e, const char *fn, const char *path) {
    return lir__errf(e, LIR_EIO, "%s: reading %s: %s", fn, path, errno ? strerror(errno) : "the file got shorter");
}

static const uint8_t *leaf_from_file(void *user, uint64_t off, size_t n, uint8_t *buf) {
    return pread_all(*(const int *)user, buf, n, off) ? buf : NULL;
}

static void rd_close(struct rd *r) {
    if (r->fd >= 0) close(r->fd);
    free(r->prefix);
    r->fd = -1;
    r->prefix = NULL;
}

/* Opens and checks path: the header against the file's size, the checksum when verify (on
 * n_threads threads), then the sections before the KV data. Messages are prefixed "fn: " and,
 * for the format, "path: ". */
static enum lir_status rd_open(struct rd *r, const char *path, bool verify, int n_threads, const char *fn, lir_err *e) {
    memset(r, 0, sizeof *r);
    r->path = path;
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0)
        return lir__errf(e, errno == ENOENT ? LIR_ENOTFOUND : LIR_EIO, "%s: cannot open %s: %s", fn, path,
                         strerror(errno));
    struct stat st;
    if (fstat(r->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rd_close(r);
        return lir__errf(e, LIR_EIO, "%s: %s is not a regular file", fn, path);
    }
    const uint64_t len = (uint64_t)st.st_size;
    uint8_t hdr[LIR_SNAP_HEADER] = { 0 };
    lir_err pe = { { 0 } };
    enum lir_status s = LIR_OK;
    if (len >= LIR_SNAP_HEADER && !pread_all(r->fd, hdr, sizeof hdr, 0))
        s = read_failed(e, fn, path);
    else if ((s = lir__snap_parse_header(hdr, len, &r->v, &pe)))
        lir__errf(e, s, "%s: %s: %s", fn, path, pe.msg);
    if (!s && verify) { /* the checksum before the contents, so a corrupt byte is reported as such */
        uint8_t sum[LIR_SNAP_SUM], want[LIR_SNAP_SUM];
        s = lir__snap_checksum_by(leaf_from_file, &r->fd, true, len - LIR_SNAP_SUM, n_threads, sum);
        if (!s && !pread_all(r->fd, want, sizeof want, len - LIR_SNAP_SUM)) s = LIR_EIO;
        if (s) lir__errf(e, s, "%s: %s: checksum: %s", fn, path, s == LIR_EIO ? "the file could not be read" : lir_status_str(s));
        else if (sodium_memcmp(sum, want, LIR_SNAP_SUM) != 0)
            s = lir__errf(e, LIR_EFORMAT, "%s: %s: snapshot: checksum mismatch (the file is corrupt)", fn, path);
    }
    if (!s) { /* prefix_len < 128 + 255 + 4 x 2^24 x 2 + 64 MiB: bounded, and the file holds it */
        r->prefix = malloc((size_t)r->v.prefix_len);
        if (!r->prefix) s = lir__errf(e, LIR_ENOMEM, "%s: out of memory (%llu bytes)", fn, (unsigned long long)r->v.prefix_len);
        else if (!pread_all(r->fd, r->prefix, (size_t)r->v.prefix_len, 0))
            s = read_failed(e, fn, path);
        else if ((s = lir__snap_parse_prefix(r->prefix, &r->v, &pe)))
            lir__errf(e, s, "%s: %s: %s", fn, path, pe.msg);
    }
    if (s) rd_close(r);
    return s;
}

enum lir_status lir_snapshot_read_info(const char *path, bool verify, struct lir_snapshot_info *out, char *err,
                                       size_t err_len) {
    lir_err e = { { 0 } };
    enum lir_status s;
    if (!path || !out) {
        s = lir__errf(&e, LIR_EINVAL, "lir_snapshot_read_info: path and out must not be NULL");
        lir__err_copy(&e, err, err_len);
        return s;
    }
    struct rd r;
    if ((s = rd_open(&r, path, verify, lir__cpu_count() < 8 ? lir__cpu_count() : 8, "lir_snapshot_read_info", &e))) {
        lir__err_copy(&e, err, err_len);
        return s;
    }
    *out = r.v.info;
    rd_close(&r);
    return LIR_OK;
}

/* ---------------------------------------------------------------- restore */

enum lir_status lir_snapshot_restore(lir_context *ctx, int32_t seq, const char *path, lir_sampler *sampler,
                                     struct lir_snapshot_info *info) {
    if (!ctx) return LIR_EINVAL;
    lir_err *e = lir__context_err(ctx);
    if (!path || !path[0]) return lir__errf(e, LIR_EINVAL, "lir_snapshot_restore: path is NULL or empty");
    struct lir_context_seq_status ss;
    if (lir_context_seq_status(ctx, seq, &ss) != LIR_OK)
        return lir__errf(e, LIR_EINVAL, "lir_snapshot_restore: sequence %d does not exist", seq);
    struct rd r;
    enum lir_status s = rd_open(&r, path, true, lir__context_n_threads(ctx), "lir_snapshot_restore", e);
    if (s) return s;
    const struct lir__snap_view v = r.v;
    const struct lir_snapshot_info *in = &v.info;
    const lir_model *m = lir__context_model(ctx);
    uint8_t fp[LIR_FINGERPRINT_LEN];
    if ((s = lir_model_fingerprint(m, fp))) {
        lir__errf(e, s, "lir_snapshot_restore: model fingerprint failed");
        goto out;
    }
    if (sodium_memcmp(fp, in->fingerprint, LIR_FINGERPRINT_LEN) != 0) {
        char a[2 * LIR_FINGERPRINT_LEN + 1], b[2 * LIR_FINGERPRINT_LEN + 1];
        lir_fingerprint_hex(in->fingerprint, a);
        lir_fingerprint_hex(fp, b);
        s = lir__errf(e, LIR_ERANGE,
                      "lir_snapshot_restore: %s was saved from another model (fingerprint %.16s..., this model %.16s...)",
                      path, a, b);
        goto out;
    }
    if (in->n_vocab != m->hp.n_vocab) { /* implied by the fingerprint; checked anyway (the sizes below rely on it) */
        s = lir__errf(e, LIR_ERANGE, "lir_snapshot_restore: %s has n_vocab %d, the model %d", path, in->n_vocab,
                      m->hp.n_vocab);
        goto out;
    }
    const int32_t kvt = lir__context_kv_type(ctx);
    if (in->kv_type != kvt) {
        s = lir__errf(e, LIR_ERANGE, "lir_snapshot_restore: %s holds a %s KV cache, the context's is %s", path,
                      in->kv_type == LIR_KV_TYPE_Q8_0 ? "Q8_0" : "F16", kvt == LIR_KV_TYPE_Q8_0 ? "Q8_0" : "F16");
        goto out;
    }
    const uint64_t tb = lir__kv_token_bytes(ctx);
    if (in->n_tokens > 0 && v.token_bytes != tb) {
        s = lir__errf(e, LIR_ERANGE, "lir_snapshot_restore: %s has %llu KV bytes per token, the context %llu", path,
                      (unsigned long long)v.token_bytes, (unsigned long long)tb);
        goto out;
    }
    if (in->n_tokens > ss.max_tokens) {
        s = lir__errf(e, LIR_ECONTEXT, "lir_snapshot_restore: %s holds %d tokens, the context only %d (n_ctx)", path,
                      in->n_tokens, ss.max_tokens);
        goto out;
    }
    /* room: the pool's free blocks plus those that clearing seq gives back (not its shared ones) */
    struct lir_context_status cs;
    lir_context_get_status(ctx, &cs);
    const int64_t bb = cs.block_bytes ? (int64_t)cs.block_bytes : 1;
    const int64_t freed = ss.n_blocks - (int64_t)(ss.kv_bytes_shared / (uint64_t)bb);
    const int64_t have = (int64_t)(cs.n_blocks - cs.n_blocks_used) + freed;
    const int64_t need = ((int64_t)in->n_tokens + LIR_KV_BLOCK_TOKENS - 1) / LIR_KV_BLOCK_TOKENS;
    if (need > have) {
        s = lir__errf(e, LIR_ECONTEXT,
                      "lir_snapshot_restore: %s needs %lld KV blocks, %lld are free for sequence %d", path,
                      (long long)need, (long long)have, seq);
        goto out;
    }
    /* the sampler: its current state is kept so a later failure can put it back */
    uint8_t *old_smp = NULL;
    size_t old_len = 0;
    if (sampler && v.sampler) {
        lir_sampler_state_save(sampler, NULL, 0, &old_len);
        old_smp = malloc(old_len ? old_len : 1);
        if (!old_smp || lir_sampler_state_save(sampler, old_smp, old_len, &old_len) != LIR_OK) {
            free(old_smp);
            s = lir__errf(e, LIR_ENOMEM, "lir_snapshot_restore: out of memory");
            goto out;
        }
        if ((s = lir_sampler_state_load(sampler, v.sampler, v.sampler_len))) {
            lir__errf(e, s, "lir_snapshot_restore: %s: %s", path, lir_sampler_last_error(sampler));
            free(old_smp);
            goto out;
        }
    }
    /* everything checked: replace the sequence */
    lir_token *toks = NULL;
    if (in->n_tokens) {
        toks = malloc(sizeof *toks * (size_t)in->n_tokens);
        if (!toks) {
            s = lir__errf(e, LIR_ENOMEM, "lir_snapshot_restore: out of memory (%d tokens)", in->n_tokens);
            goto undo;
        }
        for (int32_t i = 0; i < in->n_tokens; i++) toks[i] = (lir_token)lir__get_u32(v.tokens + 4 * (size_t)i);
    }
    float *row = NULL;
    if (v.logits) {
        row = malloc(sizeof *row * (size_t)in->n_vocab);
        if (!row) {
            free(toks);
            s = lir__errf(e, LIR_ENOMEM, "lir_snapshot_restore: out of memory (%d logits)", in->n_vocab);
            goto undo;
        }
        for (int32_t i = 0; i < in->n_vocab; i++) row[i] = lir__bits_f32(lir__get_u32(v.logits + 4 * (size_t)i));
    }
    /* one chunk at a time through a buffer of one chunk (lir's own files: 1 MiB, it stays in
     * cache; reading the next one on a second thread measured no faster); a chunk is at most the
     * file's KV bytes, which the file holds */
    const uint32_t ck = in->n_tokens < (int32_t)v.chunk_tokens ? (uint32_t)in->n_tokens : v.chunk_tokens;
    uint8_t *kv = in->n_tokens ? malloc((size_t)ck * (size_t)v.token_bytes) : NULL;
    if (in->n_tokens && !kv) {
        free(toks), free(row);
        s = lir__errf(e, LIR_ENOMEM, "lir_snapshot_restore: out of memory (a KV chunk of %llu bytes)",
                      (unsigned long long)ck * v.token_bytes);
        goto undo;
    }
    lir_context_seq_clear(ctx, seq);
    uint64_t off = v.prefix_len;
    for (int32_t p0 = 0; !s && p0 < in->n_tokens; p0 += (int32_t)ck) {
        const int32_t n = in->n_tokens - p0 < (int32_t)ck ? in->n_tokens - p0 : (int32_t)ck;
        const size_t nb = (size_t)n * (size_t)v.token_bytes;
        if (!pread_all(r.fd, kv, nb, off))
            s = read_failed(e, "lir_snapshot_restore", path);
        else s = lir__kv_seq_write(ctx, seq, p0, n, toks + p0, kv);
        off += nb;
    }
    free(kv);
    if (!s && row) s = lir__context_set_logits(ctx, row);
    free(toks);
    free(row);
    if (s) { /* only a read error (the file changed under us) after the checks above: the sequence is
              * left empty, never half-written */
        lir_err keep = *e;
        lir_context_seq_clear(ctx, seq);
        *e = keep;
        goto undo;
    }
    free(old_smp);
    if (info) *info = *in;
    e->msg[0] = 0;
    goto out;
undo:
    if (old_smp) lir_sampler_state_load(sampler, old_smp, old_len);
    free(old_smp);
out:
    rd_close(&r);
    return s;
}
