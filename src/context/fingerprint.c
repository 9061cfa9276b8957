/* fingerprint.c — lir_model_fingerprint: a BLAKE2b-256 (libsodium) identity of a loaded model,
 * so a snapshot is restored only into the model it was saved from.
 *
 * Hashed, in order: a domain string with the scheme's version; the GGUF version and file size;
 * every metadata key with its type and full value (strings and arrays whole; scalars as text,
 * f32 by its bits); every tensor info (name, dims, type, offset, size); and samples of every
 * tensor's data: its first, middle and last FP_SAMPLE bytes (all of it when smaller). Different
 * weights almost always differ in those samples (a fine-tune touches every tensor); reading
 * 3 x 4 KiB per tensor keeps the cost at milliseconds even for a model that is not resident.
 * Thread-safe: it only reads the model. */
#include "context/snapshot.h"
#include "model/model.h"
#include "gguf/gguf.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define FP_SAMPLE 4096

static void upd(crypto_generichash_state *h, const void *p, size_t n) {
    crypto_generichash_update(h, p, n);
}
static void upd_u64(crypto_generichash_state *h, uint64_t v) {
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
    upd(h, b, 8);
}
static void upd_str(crypto_generichash_state *h, const char *p, uint64_t n) {
    upd_u64(h, n);
    if (n) upd(h, p, (size_t)n);
}

static size_t vtype_size(enum lir_gguf_vtype t) {
    switch (t) {
    case LIR_GGUF_UINT8: case LIR_GGUF_INT8: case LIR_GGUF_BOOL: return 1;
    case LIR_GGUF_UINT16: case LIR_GGUF_INT16: return 2;
    case LIR_GGUF_UINT32: case LIR_GGUF_INT32: case LIR_GGUF_FLOAT32: return 4;
    case LIR_GGUF_UINT64: case LIR_GGUF_INT64: case LIR_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

static void hash_kv(crypto_generichash_state *h, const lir_gguf *g, int64_t i) {
    const lir_gguf_str k = lir_gguf_key(g, i);
    const enum lir_gguf_vtype t = lir_gguf_kv_type(g, i);
    char key[512];
    upd_str(h, k.ptr, k.len);
    upd_u64(h, (uint64_t)t);
    if (k.len >= sizeof key) { /* cannot look it up by name: its rendering stands in */
        char buf[256];
        lir_gguf_kv_to_string(g, i, buf, sizeof buf);
        upd_str(h, buf, strlen(buf));
        return;
    }
    memcpy(key, k.ptr, (size_t)k.len);
    key[k.len] = 0;
    if (t == LIR_GGUF_STRING) {
        lir_gguf_str s = { 0 };
        lir_gguf_get_str(g, key, &s, NULL);
        upd_str(h, s.ptr, s.len);
    } else if (t == LIR_GGUF_FLOAT32) {
        float f = 0;
        lir_gguf_get_f32(g, key, &f, NULL);
        upd_u64(h, lir__f32_bits(f));
    } else if (t == LIR_GGUF_ARRAY) {
        enum lir_gguf_vtype et = LIR_GGUF_UINT8;
        uint64_t n = 0;
        lir_gguf_get_arr(g, key, &et, &n, NULL);
        upd_u64(h, (uint64_t)et);
        upd_u64(h, n);
        if (et == LIR_GGUF_STRING) {
            for (uint64_t j = 0; j < n; j++) {
                const lir_gguf_str s = lir_gguf_arr_str(g, key, j);
                upd_str(h, s.ptr, s.len);
            }
        } else if (vtype_size(et)) {
            const void *d = lir_gguf_arr_data(g, key);
            if (d) upd(h, d, (size_t)(n * vtype_size(et))); /* the reader checked n against the file */
        } else { /* nested arrays: the outer level's rendering */
            char buf[256];
            lir_gguf_kv_to_string(g, i, buf, sizeof buf);
            upd_str(h, buf, strlen(buf));
        }
    } else {
        char buf[64];
        lir_gguf_kv_to_string(g, i, buf, sizeof buf);
        upd_str(h, buf, strlen(buf));
    }
}

enum lir_status lir_model_fingerprint(const lir_model *model, uint8_t out[LIR_FINGERPRINT_LEN]) {
    if (!model || !out || !model->gguf) return LIR_EINVAL;
    if (sodium_init() < 0) return LIR_EINTERNAL;
    const lir_gguf *g = model->gguf;
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, LIR_FINGERPRINT_LEN);
    static const char domain[] = "lir model fingerprint v1";
    upd(&h, domain, sizeof domain);
    upd_u64(&h, lir_gguf_version(g));
    upd_u64(&h, lir_gguf_file_size(g));
    const int64_t n_kv = lir_gguf_n_kv(g);
    upd_u64(&h, (uint64_t)n_kv);
    for (int64_t i = 0; i < n_kv; i++) hash_kv(&h, g, i);
    const int64_t n_t = lir_gguf_n_tensors(g);
    upd_u64(&h, (uint64_t)n_t);
    for (int64_t i = 0; i < n_t; i++) {
        const struct lir_gguf_tensor *t = lir_gguf_tensor(g, i);
        upd_str(&h, t->name.ptr, t->name.len);
        upd_u64(&h, t->n_dims);
        for (int d = 0; d < LIR_GGUF_MAX_DIMS; d++) upd_u64(&h, (uint64_t)t->ne[d]);
        upd_u64(&h, (uint64_t)t->type);
        upd_u64(&h, t->offset);
        upd_u64(&h, t->size);
    }
    for (int64_t i = 0; i < n_t; i++) {
        const struct lir_gguf_tensor *t = lir_gguf_tensor(g, i);
        const uint8_t *d = t->data;
        if (t->size <= 3 * FP_SAMPLE) {
            upd(&h, d, (size_t)t->size);
        } else {
            upd(&h, d, FP_SAMPLE);
            upd(&h, d + (t->size / 2 - FP_SAMPLE / 2), FP_SAMPLE);
            upd(&h, d + (t->size - FP_SAMPLE), FP_SAMPLE);
        }
    }
    crypto_generichash_final(&h, out, LIR_FINGERPRINT_LEN);
    return LIR_OK;
}

void lir_fingerprint_hex(const uint8_t fp[LIR_FINGERPRINT_LEN], char out[2 * LIR_FINGERPRINT_LEN + 1]) {
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < LIR_FINGERPRINT_LEN; i++) {
        out[2 * i] = hx[fp[i] >> 4];
        out[2 * i + 1] = hx[fp[i] & 15];
    }
    out[2 * LIR_FINGERPRINT_LEN] = 0;
}
