/* registry.c — installed models: the *.gguf files under a models directory (or any path), with
 * metadata read from their GGUF headers, and ids made from their names (UUID-formatted
 * 128-bit FNV-1a of the name, version nibble 8 "custom": the same name gives the same id in
 * every run and on every machine). */
#include "runtime/runtime.h"
#include "gguf/gguf.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void uuid_format(const uint8_t b[16], char out[LIR_ID_LEN]) {
    snprintf(out, LIR_ID_LEN, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

static void uuid_from_name(const char *name, char out[LIR_ID_LEN]) {
    uint64_t h[2] = { 0xcbf29ce484222325ull, 0x84222325cbf29ce4ull };
    for (int k = 0; k < 2; k++)
        for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
            h[k] ^= *p;
            h[k] *= 0x100000001b3ull;
        }
    uint8_t b[16];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(h[0] >> (8 * i)), b[8 + i] = (uint8_t)(h[1] >> (8 * i));
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x80); /* version 8: custom (RFC 9562) */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* variant 10 */
    uuid_format(b, out);
}

void lir__rt_uuid_from_name(const char *name, char out[LIR_ID_LEN]) { uuid_from_name(name, out); }

void lir__rt_uuid_random(char out[LIR_ID_LEN]) {
    uint8_t b[16] = { 0 };
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    bool ok = fd >= 0 && read(fd, b, sizeof b) == (ssize_t)sizeof b;
    if (fd >= 0) close(fd);
    if (!ok) { /* no urandom: time and a counter still make ids unique in this process */
        static uint64_t counter;
        uint64_t t = lir__now_ns(), c = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
        memcpy(b, &t, 8);
        memcpy(b + 8, &c, 8);
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    uuid_format(b, out);
}

/* Fills everything but name and id from the header of path. */
static enum lir_status inspect(const char *path, struct lir_installed_model *o, lir_err *e) {
    lir_gguf *g = NULL;
    enum lir_status s = lir_gguf_open(path, &g, e);
    if (s) return s;
    char *rp = realpath(path, NULL);
    snprintf(o->path, sizeof o->path, "%s", rp ? rp : path);
    free(rp);
    snprintf(o->source, sizeof o->source, "local");
    snprintf(o->backend, sizeof o->backend, "native");
    o->size_bytes = lir_gguf_file_size(g);
    lir_gguf_str a = { 0 };
    if (lir_gguf_get_str(g, "general.architecture", &a, NULL))
        snprintf(o->arch, sizeof o->arch, "%.*s", (int)(a.len < 31 ? a.len : 31), a.ptr);
    lir_gguf_str nm;
    if (lir_gguf_get_str(g, "general.name", &nm, NULL))
        snprintf(o->display_name, sizeof o->display_name, "%.*s", (int)(nm.len < 127 ? nm.len : 127), nm.ptr);
    char key[96];
    int32_t v;
    snprintf(key, sizeof key, "%s.context_length", o->arch);
    if (o->arch[0] && lir_gguf_get_i32(g, key, &v, NULL) && v > 0) o->context_length = v;
    snprintf(key, sizeof key, "%s.block_count", o->arch);
    if (o->arch[0] && lir_gguf_get_i32(g, key, &v, NULL) && v > 0) o->block_count = v;
    for (int64_t i = 0; i < lir_gguf_n_tensors(g); i++) {
        const struct lir_gguf_tensor *t = lir_gguf_tensor(g, i);
        uint64_t n = 1;
        for (uint32_t d = 0; d < t->n_dims && d < LIR_GGUF_MAX_DIMS; d++) n *= (uint64_t)t->ne[d];
        o->parameters += n;
    }
    lir_gguf_close(g);
    return LIR_OK;
}

static bool ends_with_gguf(const char *s) {
    size_t n = strlen(s);
    return n > 5 && strcmp(s + n - 5, ".gguf") == 0;
}

enum lir_status lir_model_inspect(const char *path, struct lir_installed_model *out, char *err, size_t err_len) {
    lir_err e = { { 0 } };
    if (!path || !out) {
        lir__errf(&e, LIR_EINVAL, "lir_model_inspect: path and out must not be NULL");
        lir__err_copy(&e, err, err_len);
        return LIR_EINVAL;
    }
    memset(out, 0, sizeof *out);
    enum lir_status s = inspect(path, out, &e);
    if (s) {
        lir__err_copy(&e, err, err_len);
        return s;
    }
    snprintf(out->name, sizeof out->name, "%.*s", (int)(strlen(out->path) - (ends_with_gguf(out->path) ? 5 : 0)),
             out->path);
    uuid_from_name(out->name, out->id);
    return LIR_OK;
}

/* ---------------------------------------------------------------- directory scan */

struct list {
    struct lir_installed_model *v;
    int32_t n, cap;
};

static enum lir_status scan(const char *root, const char *rel, int depth, struct list *l) {
    char dirpath[PATH_MAX];
    snprintf(dirpath, sizeof dirpath, "%s%s%s", root, rel[0] ? "/" : "", rel);
    DIR *d = opendir(dirpath);
    if (!d) return LIR_OK;
    struct dirent *de;
    enum lir_status s = LIR_OK;
    while (s == LIR_OK && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char sub[PATH_MAX], full[PATH_MAX];
        if ((size_t)snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", de->d_name) >= sizeof sub) continue;
        if ((size_t)snprintf(full, sizeof full, "%s/%s", root, sub) >= sizeof full) continue;
        struct stat st;
        if (stat(full, &st)) continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth < 4) s = scan(root, sub, depth + 1, l);
            continue;
        }
        if (!S_ISREG(st.st_mode) || !ends_with_gguf(de->d_name)) continue;
        struct lir_installed_model m;
        memset(&m, 0, sizeof m);
        if (inspect(full, &m, NULL)) continue; /* not a valid GGUF: not an installed model */
        size_t n = strlen(sub) - 5;
        if (n >= sizeof m.name) continue;
        memcpy(m.name, sub, n);
        m.name[n] = 0;
        uuid_from_name(m.name, m.id);
        if (l->n == l->cap) {
            int32_t cap = l->cap ? 2 * l->cap : 8;
            void *p = realloc(l->v, sizeof *l->v * (size_t)cap);
            if (!p) {
                s = LIR_ENOMEM;
                break;
            }
            l->v = p;
            l->cap = cap;
        }
        l->v[l->n++] = m;
    }
    closedir(d);
    return s;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const struct lir_installed_model *)a)->name, ((const struct lir_installed_model *)b)->name);
}

enum lir_status lir_models_scan(const char *dir, struct lir_installed_model **out, int32_t *n) {
    if (!dir || !out || !n) return LIR_EINVAL;
    struct list l = { 0 };
    enum lir_status s = scan(dir, "", 0, &l);
    if (s) {
        free(l.v);
        *out = NULL;
        *n = 0;
        return s;
    }
    if (l.n) qsort(l.v, (size_t)l.n, sizeof *l.v, by_name);
    *out = l.v;
    *n = l.n;
    return LIR_OK;
}

/* An installed id, a name under dir, or a path (a file that exists). */
enum lir_status lir__rt_resolve_installed(const char *dir, const char *name, struct lir_installed_model *out,
                                          lir_err *e) {
    if (dir) {
        struct lir_installed_model *v = NULL;
        int32_t n = 0;
        enum lir_status s = lir_models_scan(dir, &v, &n);
        if (s) return lir__errf(e, s, "models: cannot scan '%s'", dir);
        for (int32_t i = 0; i < n; i++)
            if (!strcmp(v[i].id, name) || !strcmp(v[i].name, name)) {
                *out = v[i];
                free(v);
                return LIR_OK;
            }
        free(v);
    }
    struct stat st;
    if (stat(name, &st) == 0 && S_ISREG(st.st_mode)) {
        char msg[LIR_ERR_MAX];
        enum lir_status s = lir_model_inspect(name, out, msg, sizeof msg);
        if (s) return lir__errf(e, s, "%s", msg);
        /* a file inside the models directory keeps its installed name (same id either way) */
        if (dir) {
            char *rd = realpath(dir, NULL);
            size_t k = rd ? strlen(rd) : 0;
            if (rd && !strncmp(out->path, rd, k) && out->path[k] == '/' && ends_with_gguf(out->path)) {
                snprintf(out->name, sizeof out->name, "%.*s", (int)(strlen(out->path) - k - 6), out->path + k + 1);
                uuid_from_name(out->name, out->id);
            }
            free(rd);
        }
        return LIR_OK;
    }
    return lir__errf(e, LIR_ENOTFOUND, "model '%s' is neither an installed model%s nor a file", name,
                     dir ? "" : " (no models directory)");
}
