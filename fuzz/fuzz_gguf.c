/* fuzz_gguf.c — libFuzzer target for the GGUF reader.
 *
 * Opens the input with lir_gguf_open_memory and, when it is accepted, walks every
 * accessor: every kv rendered with lir_gguf_kv_to_string, every typed getter, every
 * array element (strings through lir_gguf_arr_str, numbers through lir_gguf_arr_data),
 * every tensor's bytes. Any out-of-bounds read shows up under ASan; the input buffer is
 * a heap copy of exactly `size` bytes so reads past its end are caught. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"

static volatile uint64_t sink;

static void walk(const lir_gguf *g) {
    char buf[256], key[256];
    lir_err e;
    sink += lir_gguf_version(g) + lir_gguf_alignment(g) + lir_gguf_data_offset(g) + lir_gguf_file_size(g);
    for (int64_t i = 0; i < lir_gguf_n_kv(g); i++) {
        lir_gguf_kv_to_string(g, i, buf, sizeof buf);
        lir_gguf_kv_to_string(g, i, buf, 7);
        lir_gguf_str k = lir_gguf_key(g, i);
        size_t n = k.len < sizeof key - 1 ? (size_t)k.len : sizeof key - 1;
        memcpy(key, k.ptr, n);
        key[n] = '\0';
        if (lir_gguf_find_key(g, key) < 0 && n == k.len && !memchr(key, 0, n)) abort(); /* index lost a key */
        uint32_t u32; int32_t i32; uint64_t u64; float f; bool b; lir_gguf_str s;
        if (lir_gguf_get_u32(g, key, &u32, &e)) sink += u32;
        if (lir_gguf_get_i32(g, key, &i32, &e)) sink += (uint64_t)i32;
        if (lir_gguf_get_u64(g, key, &u64, &e)) sink += u64;
        if (lir_gguf_get_f32(g, key, &f, &e)) sink += (uint64_t)(f == f);
        if (lir_gguf_get_bool(g, key, &b, &e)) sink += b;
        if (lir_gguf_get_str(g, key, &s, &e) && s.len) sink += (uint8_t)s.ptr[s.len - 1];
        enum lir_gguf_vtype et;
        uint64_t cnt;
        if (!lir_gguf_get_arr(g, key, &et, &cnt, &e)) continue;
        if (et == LIR_GGUF_STRING) {
            for (uint64_t j = 0; j < cnt; j++) {
                lir_gguf_str x = lir_gguf_arr_str(g, key, j);
                if (x.len) sink += (uint8_t)x.ptr[0] + (uint8_t)x.ptr[x.len - 1];
            }
        } else {
            const uint8_t *p = lir_gguf_arr_data(g, key);
            static const size_t esz[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
            if (p && et < LIR_GGUF_VTYPE_COUNT && cnt && esz[et]) sink += p[0] + p[cnt * esz[et] - 1];
        }
    }
    for (int64_t i = 0; i < lir_gguf_n_tensors(g); i++) {
        const struct lir_gguf_tensor *t = lir_gguf_tensor(g, i);
        if (t->size) sink += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->size - 1];
        char name[256];
        size_t n = t->name.len < sizeof name - 1 ? (size_t)t->name.len : sizeof name - 1;
        memcpy(name, t->name.ptr, n);
        name[n] = '\0';
        if (n == t->name.len && !memchr(name, 0, n) && !lir_gguf_find_tensor(g, name)) abort();
    }
    sink += lir_gguf_find_tensor(g, "token_embd.weight") != NULL;
    sink += lir_gguf_find_key(g, "general.architecture") >= 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    lir_gguf *g = NULL;
    lir_err e;
    if (lir_gguf_open_memory(copy, size, &g, &e) == LIR_OK) {
        walk(g);
        lir_gguf_close(g);
    } else if (g) {
        abort(); /* a failed open must not hand out a handle */
    }
    free(copy);
    return 0;
}
