/* snapshot.c — saving a context sequence to a snapshot file and restoring it (public API in
 * include/lir.h "snapshots"; file format in snapshot.h).
 *
 * The file keeps the KV cache's own block layout, so neither side copies KV bytes through a
 * buffer. Save builds the bytes before the KV data (header, name, tokens, logits, sampler state,
 * padding) in memory and writes them to "path.tmp", then the sequence's blocks straight from the
 * cache (4 MiB writes; the last, partly filled block through a copy with the rows past the
 * sequence zeroed) while the context's other worker threads hash the blocks (one checksum leaf
 * each); appends the checksum and puts the file at path atomically (swapped with the old one,
 * which is then removed: replace()). Restore reads with pread (no mapping): the header against
 * the file's size and the sections before the KV data (lir__snap_parse_header/_prefix: sizes,
 * contents), then checks them against the context (fingerprint, vocabulary, KV type, token and
 * block size, room) and the sampler's state against the sampler. With enough free blocks it
 * reads the KV blocks into free blocks on the context's worker pool, hashing each piece as it lands,
 * and only when the checksum matches does the sequence take them (one pass; on any failure the
 * free blocks go back and the sequence is as it was). Otherwise it reads the checksum of the
 * whole file first, then clears the sequence and reads the blocks into it.
 * Known limit of that second path: the KV bytes are read a second time after the checksum;
 * another process rewriting the file in place between the two reads is not detected (truncating
 * it is: the sequence is then left empty). Files written by lir_snapshot_save are replaced by
 * rename, never rewritten in place, and an open descriptor keeps reading the file it opened. */
#include "context/snapshot.h"
#include "model/forward.h"
#include "model/kv.h"
#include "model/model.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdatomic.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

/* The KV blocks of a sequence as the file holds them: block j is the cache's block ids[j], but
 * the last one, when partly filled, is a copy with the rows past the sequence zeroed (last). */
struct blocks {
    const struct lir_kv *kv;
    const int32_t *ids;
    int32_t nb;
    const char *last; /* NULL: the last block is full */
};

static const char *block_at(const struct blocks *b, int32_t j) {
    return j == b->nb - 1 && b->last ? b->last : b->kv->pool + (size_t)b->ids[j] * b->kv->block_bytes;
}

/* Writes the blocks in order, adjacent ones in the pool as one range, in calls of at most
 * SAVE_WRITE bytes (a sequence's blocks are often one range of a GB or more): dd into fresh
 * page-cache pages measured 2-2.5x slower here with 64 MiB blocks than with 1-4 MiB ones. */
#define SAVE_WRITE (4u << 20)
static bool write_blocks(int fd, const struct blocks *b) {
    const size_t bb = b->kv->block_bytes;
    for (int32_t j = 0; j < b->nb;) {
        const char *p = block_at(b, j);
        size_t n = bb;
        for (j++; j < b->nb && block_at(b, j) == p + n && n < SAVE_WRITE; j++) n += bb;
        for (size_t o = 0; o < n; o += SAVE_WRITE)
            if (!write_all(fd, p + o, n - o < SAVE_WRITE ? n - o : SAVE_WRITE)) return false;
    }
    return true;
}

/* Save's KV part on the context's worker pool: thread 0 writes the blocks to fd while the others
 * hash them into dg (leaf 1 + j for block j), reading the cache's memory at once (the write into
 * fresh page-cache pages is the largest part of a save); on one thread, hashed then written. */
struct save_kv {
    int fd;
    const struct blocks *b;
    uint8_t *dg;
    bool ok;  /* thread 0: every write succeeded */
    int err;  /* errno of the failed write */
};

static void save_kv_task(int ith, int nth, void *arg) {
    struct save_kv *v = arg;
    const struct blocks *b = v->b;
    const int nh = nth > 1 ? nth - 1 : 1, h = nth > 1 ? ith - 1 : 0; /* hashers and this one's index */
    if (ith > 0 || nth == 1)
        for (int32_t j = h; j < b->nb; j += nh)
            lir__snap_leaf_digest(block_at(b, j), b->kv->block_bytes, v->dg + LIR_SNAP_LEAF_DIGEST * (1 + (size_t)j));
    if (ith == 0) {
        v->ok = write_blocks(v->fd, b);
        v->err = errno;
    }
}

/* Puts the complete file tmp at path atomically: path is the old file or the new one, never
 * neither. An old regular file (or link) at path is swapped with tmp (renameat2 RENAME_EXCHANGE)
 * and left at tmp for the caller to remove, rather than renamed over: ext4 (auto_da_alloc) starts
 * writing the whole new file to the disk inside a rename that replaces a file — measured 270 ms
 * to 1.1 s per GB here — which is what fsync is for, when asked. Where the file system cannot
 * exchange, a plain rename. */
static enum lir_status replace(const char *tmp, const char *path, lir_err *e) {
    struct stat st;
    if (lstat(path, &st) == 0 && (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) &&
        renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_EXCHANGE) == 0)
        return LIR_OK;
    if (rename(tmp, path) != 0)
        return lir__errf(e, LIR_EIO, "lir_snapshot_save: renaming %s to %s: %s", tmp, path, strerror(errno));
    return LIR_OK;
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
    const struct lir_kv *kv = lir__context_kv(ctx);
    if (!kv) return lir__errf(e, LIR_EUNSUPPORTED, "lir_snapshot_save: not supported with gpu_layers (the KV cache is in VRAM)");
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

    struct lir_snapshot_info in = { .version = LIR_SNAPSHOT_VERSION };
    enum lir_status s = lir_model_fingerprint(m, in.fingerprint);
    if (s) return lir__errf(e, s, "lir_snapshot_save: model fingerprint failed");
    const uint64_t token_bytes = lir__kv_token_bytes(ctx), bb = kv->block_bytes;
    const int32_t nb = (n_tok + LIR_KV_BLOCK_TOKENS - 1) / LIR_KV_BLOCK_TOKENS;
    in.kv_type = lir__context_kv_type(ctx);
    in.n_ctx = lir__context_n_ctx(ctx);
    in.n_vocab = n_vocab;
    in.n_tokens = n_tok;
    in.kv_bytes = (uint64_t)nb * bb;
    in.created_at_ms = wall_ms();
    in.has_logits = logits != NULL;
    memcpy(in.name, name, name_len + 1);

    size_t smp_len = 0;
    if (p.sampler) {
        lir_sampler_state_save(p.sampler, NULL, 0, &smp_len);
        in.has_sampler = true;
    }
    const size_t pre = LIR_SNAP_HEADER + name_len + 4 * (size_t)n_tok + (logits ? 4 * (size_t)n_vocab : 0) + smp_len;
    const size_t kv_off = (pre + LIR_SNAP_ALIGN - 1) / LIR_SNAP_ALIGN * LIR_SNAP_ALIGN;
    /* the bytes before the KV data, zero padding included; the leaf digests; the last block */
    uint8_t *b = calloc(kv_off, 1), *dg = malloc(LIR_SNAP_LEAF_DIGEST * (1 + (size_t)nb));
    char *last = n_tok % LIR_KV_BLOCK_TOKENS ? lir__alloc_aligned(bb) : NULL;
    const size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!b || !dg || !tmp || (n_tok % LIR_KV_BLOCK_TOKENS && !last)) {
        free(b), free(dg), free(tmp), lir__free_aligned(last);
        return lir__errf(e, LIR_ENOMEM, "lir_snapshot_save: out of memory (%zu bytes before the KV data)", kv_off);
    }
    memcpy(b, LIR_SNAP_MAGIC, 8);
    lir__put_u32(b + 8, LIR_SNAPSHOT_VERSION);
    lir__put_u32(b + 12, LIR_SNAP_HEADER);
    memcpy(b + 16, in.fingerprint, LIR_FINGERPRINT_LEN);
    lir__put_u32(b + 48, (uint32_t)in.kv_type);
    lir__put_u32(b + 52, (uint32_t)in.n_ctx);
    lir__put_u32(b + 56, (uint32_t)n_vocab);
    lir__put_u32(b + 60, (uint32_t)n_tok);
    lir__put_u64(b + 64, token_bytes);
    lir__put_u32(b + 72, LIR_KV_BLOCK_TOKENS);
    lir__put_u32(b + 76, (uint32_t)name_len);
    lir__put_u64(b + 80, (uint64_t)in.created_at_ms);
    lir__put_u32(b + 88, logits ? (uint32_t)n_vocab : 0);
    lir__put_u32(b + 92, (uint32_t)smp_len);
    lir__put_u64(b + 96, in.kv_bytes);
    lir__put_u64(b + 104, kv_off);
    uint8_t *q = b + LIR_SNAP_HEADER;
    memcpy(q, name, name_len);
    q += name_len;
    for (int32_t i = 0; i < n_tok; i++, q += 4) lir__put_u32(q, (uint32_t)toks[i]);
    for (int32_t i = 0; logits && i < n_vocab; i++, q += 4) lir__put_u32(q, lir__f32_bits(logits[i]));
    if (p.sampler && (s = lir_sampler_state_save(p.sampler, q, smp_len, &smp_len))) {
        lir__errf(e, s, "lir_snapshot_save: sampler state: %s", lir_status_str(s));
        free(b), free(dg), free(tmp), lir__free_aligned(last);
        return s;
    }
    lir__snap_leaf_digest(b, kv_off, dg);
    const int32_t *ids = nb ? kv->seqs[seq].blocks : NULL;
    if (last) {
        memcpy(last, kv->pool + (size_t)ids[nb - 1] * bb, bb);
        lir__kv_block_zero_tail(kv, last, n_tok % LIR_KV_BLOCK_TOKENS);
    }
    const struct blocks blk = { kv, ids, nb, last };

    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    const int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        s = lir__errf(e, LIR_EIO, "lir_snapshot_save: cannot create %s: %s", tmp, strerror(errno));
        free(b), free(dg), free(tmp), lir__free_aligned(last);
        return s;
    }
    struct save_kv sv = { fd, &blk, dg, false, 0 };
    if (write_all(fd, b, kv_off)) lir__context_parallel(ctx, save_kv_task, &sv);
    else sv.err = errno;
    if (!sv.ok)
        s = lir__errf(e, LIR_EIO, "lir_snapshot_save: writing %s: %s", tmp, sv.err ? strerror(sv.err) : "nothing written");
    uint8_t sum[LIR_SNAP_SUM];
    if (!s && (s = lir__snap_root(dg, 1 + (size_t)nb, kv_off + in.kv_bytes, sum)))
        lir__errf(e, s, "lir_snapshot_save: libsodium failed to start");
    if (!s && !write_all(fd, sum, sizeof sum))
        s = lir__errf(e, LIR_EIO, "lir_snapshot_save: writing %s: %s", tmp, errno ? strerror(errno) : "nothing written");
    if (!s && p.fsync && fsync(fd) != 0)
        s = lir__errf(e, LIR_EIO, "lir_snapshot_save: fsync %s: %s", tmp, strerror(errno));
    if (close(fd) != 0 && !s) s = lir__errf(e, LIR_EIO, "lir_snapshot_save: closing %s: %s", tmp, strerror(errno));
    if (!s) s = replace(tmp, path, e);
    if (!s && p.fsync) s = fsync_dir(path, e);
    unlink(tmp); /* on success the old snapshot, when there was one; on failure the new file */
    free(b), free(dg), free(tmp), lir__free_aligned(last);
    if (s) return s;
    in.size_bytes = kv_off + in.kv_bytes + LIR_SNAP_SUM;
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
    uint8_t *prefix;           /* v.prefix_len bytes: header, name, tokens, logits, sampler, zeros */
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

static const uint8_t *piece_from_file(void *user, uint64_t off, size_t n, uint8_t *buf) {
    return pread_all(*(const int *)user, buf, n, off) ? buf : NULL;
}

static void rd_close(struct rd *r) {
    if (r->fd >= 0) close(r->fd);
    free(r->prefix);
    r->fd = -1;
    r->prefix = NULL;
}

/* The checksum of the whole file, read from it on n_threads threads, against the one it ends with. */
static enum lir_status rd_verify(struct rd *r, int n_threads, const char *fn, lir_err *e) {
    const uint64_t len = r->v.info.size_bytes;
    uint8_t sum[LIR_SNAP_SUM], want[LIR_SNAP_SUM];
    enum lir_status s = lir__snap_checksum_by(piece_from_file, &r->fd, true, len - LIR_SNAP_SUM, r->v.prefix_len,
                                              r->v.block_bytes, n_threads, sum);
    if (!s && !pread_all(r->fd, want, sizeof want, len - LIR_SNAP_SUM)) s = LIR_EIO;
    if (s) return lir__errf(e, s, "%s: %s: checksum: %s", fn, r->path, s == LIR_EIO ? "the file could not be read" : lir_status_str(s));
    if (sodium_memcmp(sum, want, LIR_SNAP_SUM) != 0)
        return lir__errf(e, LIR_EFORMAT, "%s: %s: snapshot: checksum mismatch (the file is corrupt)", fn, r->path);
    return LIR_OK;
}

/* The sections before the KV data (r->prefix): token ids, logits, padding. */
static enum lir_status rd_contents(struct rd *r, const char *fn, lir_err *e) {
    lir_err pe = { { 0 } };
    const enum lir_status s = lir__snap_parse_prefix(r->prefix, &r->v, &pe);
    return s ? lir__errf(e, s, "%s: %s: %s", fn, r->path, pe.msg) : LIR_OK;
}

/* Opens and checks path: the header against the file's size, the checksum when verify (on
 * n_threads threads), then reads the sections before the KV data and, when contents, checks
 * them (else the caller calls rd_contents). Messages are prefixed "fn: " and, for the format,
 * "path: ". */
static enum lir_status rd_open(struct rd *r, const char *path, bool verify, bool contents, int n_threads,
                               const char *fn, lir_err *e) {
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
    if (!s && verify) s = rd_verify(r, n_threads, fn, e); /* before the contents: a corrupt byte is reported as such */
    if (!s) { /* prefix_len < 128 + 255 + 4 x 2^24 x 2 + 64 MiB + 4 KiB: bounded, and the file holds it */
        r->prefix = malloc((size_t)r->v.prefix_len);
        if (!r->prefix) s = lir__errf(e, LIR_ENOMEM, "%s: out of memory (%llu bytes)", fn, (unsigned long long)r->v.prefix_len);
        else if (!pread_all(r->fd, r->prefix, (size_t)r->v.prefix_len, 0))
            s = read_failed(e, fn, path);
        else if (contents)
            s = rd_contents(r, fn, e);
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
    if ((s = rd_open(&r, path, verify, true, lir__cpu_count() < 8 ? lir__cpu_count() : 8, "lir_snapshot_read_info", &e))) {
        lir__err_copy(&e, err, err_len);
        return s;
    }
    *out = r.v.info;
    rd_close(&r);
    return LIR_OK;
}

/* ---------------------------------------------------------------- restore */

/* The file's KV blocks read straight into the cache's blocks ids[j] (pread in pieces) on the
 * context's worker pool, block j on thread j mod nth, each piece hashed while it is in that
 * core's cache when dg is given (leaves 1 + j). */
struct load_kv {
    const struct rd *r;
    struct lir_kv *kv;
    const int32_t *ids;
    uint8_t *dg;    /* NULL: not hashed */
    _Atomic int failed; /* 0, or LIR_EIO / LIR_ENOMEM of the first thread that failed */
    int err;        /* errno of that read */
};

static void load_kv_task(int ith, int nth, void *arg) {
    struct load_kv *L = arg;
    const size_t bb = L->kv->block_bytes;
    struct lir__snap_leaf *l = L->dg ? lir__snap_leaf_new() : NULL;
    int expect = 0;
    if (L->dg && !l) {
        atomic_compare_exchange_strong(&L->failed, &expect, LIR_ENOMEM);
        return;
    }
    for (uint64_t j = (uint64_t)ith; j < L->r->v.n_blocks && !atomic_load(&L->failed); j += (uint64_t)nth) {
        char *dst = L->kv->pool + (size_t)L->ids[j] * bb;
        const uint64_t at = L->r->v.prefix_len + j * bb;
        for (size_t o = 0; o < bb; o += LIR_SNAP_PIECE) {
            const size_t n = bb - o < LIR_SNAP_PIECE ? bb - o : LIR_SNAP_PIECE;
            if (!pread_all(L->r->fd, dst + o, n, at + o)) {
                const int err = errno;
                if (atomic_compare_exchange_strong(&L->failed, &expect, LIR_EIO)) L->err = err;
                break;
            }
            if (l) lir__snap_leaf_update(l, dst + o, n);
        }
        if (l) lir__snap_leaf_final(l, L->dg + LIR_SNAP_LEAF_DIGEST * (1 + (size_t)j));
    }
    lir__snap_leaf_free(l);
}

/* LIR_OK, LIR_EIO (errno in *err), LIR_ENOMEM. */
static enum lir_status load_kv(lir_context *ctx, const struct rd *r, struct lir_kv *kv, const int32_t *ids, uint8_t *dg,
                               int *err) {
    struct load_kv L = { .r = r, .kv = kv, .ids = ids, .dg = dg };
    atomic_init(&L.failed, 0);
    lir__context_parallel(ctx, load_kv_task, &L);
    *err = L.err;
    return (enum lir_status)atomic_load(&L.failed);
}

enum lir_status lir_snapshot_restore(lir_context *ctx, int32_t seq, const char *path, lir_sampler *sampler,
                                     struct lir_snapshot_info *info) {
    static const char fn[] = "lir_snapshot_restore";
    if (!ctx) return LIR_EINVAL;
    lir_err *e = lir__context_err(ctx);
    if (!path || !path[0]) return lir__errf(e, LIR_EINVAL, "%s: path is NULL or empty", fn);
    struct lir_context_seq_status ss;
    if (lir_context_seq_status(ctx, seq, &ss) != LIR_OK)
        return lir__errf(e, LIR_EINVAL, "%s: sequence %d does not exist", fn, seq);
    struct lir_kv *kv = lir__context_kv(ctx);
    if (!kv) return lir__errf(e, LIR_EUNSUPPORTED, "%s: not supported with gpu_layers (the KV cache is in VRAM)", fn);
    struct rd r;
    enum lir_status s = rd_open(&r, path, false, false, 1, fn, e);
    if (s) return s;
    const struct lir__snap_view *vp = &r.v; /* tokens, logits, sampler: set by rd_contents */
    const struct lir_snapshot_info *in = &r.v.info;
    const lir_model *m = lir__context_model(ctx);
    const int n_threads = lir__context_n_threads(ctx);
    uint8_t fp[LIR_FINGERPRINT_LEN];
    uint8_t *old_smp = NULL, *dg = NULL;
    size_t old_len = 0;
    int32_t *ids = NULL;
    lir_token *toks = NULL;
    float *row = NULL;
    bool taken = false;
    if ((s = lir_model_fingerprint(m, fp))) {
        lir__errf(e, s, "%s: model fingerprint failed", fn);
        goto out;
    }
    if (sodium_memcmp(fp, in->fingerprint, LIR_FINGERPRINT_LEN) != 0) {
        char a[2 * LIR_FINGERPRINT_LEN + 1], b[2 * LIR_FINGERPRINT_LEN + 1];
        lir_fingerprint_hex(in->fingerprint, a);
        lir_fingerprint_hex(fp, b);
        s = lir__errf(e, LIR_ERANGE, "%s: %s was saved from another model (fingerprint %.16s..., this model %.16s...)",
                      fn, path, a, b);
        goto out;
    }
    if (in->n_vocab != m->hp.n_vocab) { /* implied by the fingerprint; checked anyway (the sizes below rely on it) */
        s = lir__errf(e, LIR_ERANGE, "%s: %s has n_vocab %d, the model %d", fn, path, in->n_vocab, m->hp.n_vocab);
        goto out;
    }
    const int32_t kvt = lir__context_kv_type(ctx);
    if (in->kv_type != kvt) {
        s = lir__errf(e, LIR_ERANGE, "%s: %s holds a %s KV cache, the context's is %s", fn, path,
                      in->kv_type == LIR_KV_TYPE_Q8_0 ? "Q8_0" : "F16", kvt == LIR_KV_TYPE_Q8_0 ? "Q8_0" : "F16");
        goto out;
    }
    const uint64_t tb = lir__kv_token_bytes(ctx);
    if (in->n_tokens > 0 && (vp->token_bytes != tb || vp->block_tokens != LIR_KV_BLOCK_TOKENS)) {
        s = lir__errf(e, LIR_ERANGE, "%s: %s has %llu KV bytes per token in blocks of %u, the context %llu in blocks of %d",
                      fn, path, (unsigned long long)vp->token_bytes, vp->block_tokens, (unsigned long long)tb,
                      LIR_KV_BLOCK_TOKENS);
        goto out;
    }
    if (in->n_tokens > ss.max_tokens) {
        s = lir__errf(e, LIR_ECONTEXT, "%s: %s holds %d tokens, the context only %d (n_ctx)", fn, path, in->n_tokens,
                      ss.max_tokens);
        goto out;
    }
    /* room: the pool's free blocks plus those that clearing seq gives back (not its shared ones).
     * With enough free blocks the file is read once, into free blocks, and hashed as it goes: the
     * sequence changes only after the checksum matched. Else the checksum is read first, then the
     * sequence is cleared and its blocks filled. */
    const int32_t need = (int32_t)vp->n_blocks;
    const int32_t have = kv->n_free + lir__kv_blocks_freed(kv, seq, 0);
    const bool one_pass = need <= kv->n_free;
    if (need > have) {
        s = lir__errf(e, LIR_ECONTEXT, "%s: %s needs %d KV blocks, %d are free for sequence %d", fn, path, need, have,
                      seq);
        goto out;
    }
    if (!one_pass && ((s = rd_verify(&r, n_threads, fn, e)) || (s = rd_contents(&r, fn, e)))) goto out;
    ids = malloc(sizeof *ids * (size_t)(need ? need : 1));
    if (one_pass) dg = malloc(LIR_SNAP_LEAF_DIGEST * (1 + (size_t)need));
    if (in->n_tokens) toks = malloc(sizeof *toks * (size_t)in->n_tokens);
    if (vp->n_logits) row = malloc(sizeof *row * (size_t)in->n_vocab);
    if (!ids || (one_pass && !dg) || (in->n_tokens && !toks) || (vp->n_logits && !row)) {
        s = lir__errf(e, LIR_ENOMEM, "%s: out of memory (%d tokens)", fn, in->n_tokens);
        goto out;
    }
    if ((s = lir__kv_reserve_tokens(kv, seq, in->n_tokens, e))) goto out;
    int err = 0;
    if (one_pass) { /* into free blocks, hashed as read; then the checksum, then the contents */
        lir__kv_take(kv, need, ids);
        taken = true;
        if ((s = load_kv(ctx, &r, kv, ids, dg, &err))) goto load_failed;
        uint8_t sum[LIR_SNAP_SUM], want[LIR_SNAP_SUM];
        lir__snap_leaf_digest(r.prefix, vp->prefix_len, dg);
        if ((s = lir__snap_root(dg, 1 + (size_t)need, in->size_bytes - LIR_SNAP_SUM, sum))) {
            lir__errf(e, s, "%s: libsodium failed to start", fn);
            goto undo;
        }
        if (!pread_all(r.fd, want, sizeof want, in->size_bytes - LIR_SNAP_SUM)) {
            s = read_failed(e, fn, path);
            goto undo;
        }
        if (sodium_memcmp(sum, want, LIR_SNAP_SUM) != 0) {
            s = lir__errf(e, LIR_EFORMAT, "%s: %s: snapshot: checksum mismatch (the file is corrupt)", fn, path);
            goto undo;
        }
        if ((s = rd_contents(&r, fn, e))) goto undo;
    }
    for (int32_t i = 0; i < in->n_tokens; i++) toks[i] = (lir_token)lir__get_u32(vp->tokens + 4 * (size_t)i);
    for (int32_t i = 0; row && i < in->n_vocab; i++) row[i] = lir__bits_f32(lir__get_u32(vp->logits + 4 * (size_t)i));
    /* the sampler: its current state is kept so a later failure can put it back */
    if (sampler && vp->sampler) {
        lir_sampler_state_save(sampler, NULL, 0, &old_len);
        old_smp = malloc(old_len ? old_len : 1);
        if (!old_smp || lir_sampler_state_save(sampler, old_smp, old_len, &old_len) != LIR_OK) {
            free(old_smp);
            old_smp = NULL;
            s = lir__errf(e, LIR_ENOMEM, "%s: out of memory", fn);
            goto undo;
        }
        if ((s = lir_sampler_state_load(sampler, vp->sampler, vp->sampler_len))) {
            lir__errf(e, s, "%s: %s: %s", fn, path, lir_sampler_last_error(sampler));
            free(old_smp);
            old_smp = NULL;
            goto undo;
        }
    }
    if (!one_pass) { /* checked: the sequence's own blocks are filled */
        lir_context_seq_clear(ctx, seq);
        lir__kv_take(kv, need, ids);
        taken = true;
        if ((s = load_kv(ctx, &r, kv, ids, NULL, &err))) goto load_failed;
    }
    lir__kv_seq_adopt(kv, seq, ids, in->n_tokens, toks);
    taken = false;
    if (row) lir__context_set_logits(ctx, row);
    free(old_smp);
    old_smp = NULL;
    if (info) *info = *in;
    e->msg[0] = 0;
    goto out;
load_failed:
    errno = err;
    if (s == LIR_EIO) read_failed(e, fn, path);
    else lir__errf(e, s, "%s: out of memory", fn);
undo: /* one pass: the sequence is as it was; two passes (only a read error, the file changed under
       * us, after its checksum matched): the sequence is left empty, never half-written */
    if (taken) lir__kv_give(kv, need, ids);
    taken = false;
    if (old_smp) lir_sampler_state_load(sampler, old_smp, old_len);
out:
    if (taken) lir__kv_give(kv, need, ids);
    free(old_smp), free(dg), free(ids), free(toks), free(row);
    rd_close(&r);
    return s;
}
