/* model_util.h — test helpers: generate tiny models with lir_gen_write, and copy a GGUF
 * with edits (drop or reshape a tensor, replace or drop a key) to build broken models. */
#ifndef LIR_TEST_MODEL_UTIL_H
#define LIR_TEST_MODEL_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "gguf/gguf.h"
#include "gguf/gguf_gen.h"
#include "quant/quant.h"

/* A temp path unique to this process: /tmp/lir-test-<pid>-<tag>.gguf */
static inline void tmp_model_path(char *buf, size_t n, const char *tag) {
    snprintf(buf, n, "/tmp/lir-test-%d-%s.gguf", (int)getpid(), tag);
}

/* Writes a tiny model of arch/type to path; returns LIR_OK. */
static inline enum lir_status make_tiny(const char *path, enum lir_gen_arch arch, int32_t type, uint64_t seed,
                                        lir_err *e) {
    struct lir_gen_params p;
    enum lir_status s = lir_gen_preset(&p, "tiny", arch, e);
    if (s) return s;
    p.type = type;
    p.mix_m = false;
    p.seed = seed;
    p.n_threads = 1;
    return lir_gen_write(&p, path, e);
}

struct model_edit {
    const char *drop_tensor;    /* tensor to leave out */
    const char *reshape_tensor; /* tensor whose ne[1] is halved (data truncated) */
    const char *drop_key;
    const char *set_key_str, *str_value;   /* replace or add a string key */
    const char *set_key_u32; uint32_t u32_value; /* replace or add a u32 key */
};

/* Copies the keys (string, integer, float, bool and arrays of them) and tensors of src into
 * dst, applying ed. Returns LIR_OK or the writer's error. */
static inline enum lir_status copy_model(const char *src, const char *dst, const struct model_edit *ed, lir_err *e) {
    lir_gguf *g;
    enum lir_status s = lir_gguf_open(src, &g, e);
    if (s) return s;
    lir_gguf_writer *w = lir_gguf_writer_create(3, lir_gguf_alignment(g));
    for (int64_t i = 0; i < lir_gguf_n_kv(g); i++) {
        lir_gguf_str ks = lir_gguf_key(g, i);
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)ks.len, ks.ptr);
        if (ed->drop_key && !strcmp(key, ed->drop_key)) continue;
        if (ed->set_key_str && !strcmp(key, ed->set_key_str)) continue; /* added below */
        if (ed->set_key_u32 && !strcmp(key, ed->set_key_u32)) continue; /* added below */
        switch (lir_gguf_kv_type(g, i)) {
        case LIR_GGUF_STRING: {
            lir_gguf_str v;
            lir_gguf_get_str(g, key, &v, NULL);
            char *c = strndup(v.ptr, v.len);
            lir_gguf_writer_set_str(w, key, c);
            free(c);
            break;
        }
        case LIR_GGUF_UINT32: case LIR_GGUF_INT32: case LIR_GGUF_UINT8: case LIR_GGUF_INT8:
        case LIR_GGUF_UINT16: case LIR_GGUF_INT16: {
            uint32_t v;
            if (lir_gguf_get_u32(g, key, &v, NULL)) lir_gguf_writer_set_u32(w, key, v);
            break;
        }
        case LIR_GGUF_UINT64: case LIR_GGUF_INT64: {
            uint64_t v;
            if (lir_gguf_get_u64(g, key, &v, NULL)) lir_gguf_writer_set_u64(w, key, v);
            break;
        }
        case LIR_GGUF_FLOAT32: case LIR_GGUF_FLOAT64: {
            float v;
            if (lir_gguf_get_f32(g, key, &v, NULL)) lir_gguf_writer_set_f32(w, key, v);
            break;
        }
        case LIR_GGUF_BOOL: {
            bool v;
            if (lir_gguf_get_bool(g, key, &v, NULL)) lir_gguf_writer_set_bool(w, key, v);
            break;
        }
        case LIR_GGUF_ARRAY: {
            enum lir_gguf_vtype et;
            uint64_t n;
            lir_gguf_get_arr(g, key, &et, &n, NULL);
            if (et == LIR_GGUF_STRING) {
                char **v = calloc(n ? n : 1, sizeof *v);
                for (uint64_t j = 0; j < n; j++) {
                    lir_gguf_str sj = lir_gguf_arr_str(g, key, j);
                    v[j] = strndup(sj.ptr, sj.len);
                }
                lir_gguf_writer_set_arr_str(w, key, (const char *const *)v, n);
                for (uint64_t j = 0; j < n; j++) free(v[j]);
                free(v);
            } else if (et != LIR_GGUF_ARRAY) {
                lir_gguf_writer_set_arr(w, key, et, lir_gguf_arr_data(g, key), n);
            }
            break;
        }
        default:
            break;
        }
    }
    if (ed->set_key_u32) lir_gguf_writer_set_u32(w, ed->set_key_u32, ed->u32_value);
    if (ed->set_key_str) lir_gguf_writer_set_str(w, ed->set_key_str, ed->str_value);
    for (int64_t i = 0; i < lir_gguf_n_tensors(g); i++) {
        const struct lir_gguf_tensor *t = lir_gguf_tensor(g, i);
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        if (ed->drop_tensor && !strcmp(name, ed->drop_tensor)) continue;
        int64_t ne[4] = { t->ne[0], t->ne[1], t->ne[2], t->ne[3] };
        if (ed->reshape_tensor && !strcmp(name, ed->reshape_tensor) && ne[1] > 1) ne[1] /= 2;
        lir_gguf_writer_add_tensor(w, name, t->type, t->n_dims, ne, t->data, NULL, NULL);
    }
    s = lir_gguf_writer_finish(w, dst, e);
    lir_gguf_writer_free(w);
    lir_gguf_close(g);
    return s;
}

#endif
