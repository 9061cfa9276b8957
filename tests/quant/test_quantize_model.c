/* test_quantize_model.c — lir_quantize_model (src/quant/quantize_model.c), `lir quantize`.
 *
 * On generated F32 llama models (8 layers, GQA 4/2):
 *   - every target type: each output tensor has the type llama.cpp's rules give (written out
 *     below, independently of the library, from llama.cpp's src/llama-quant.cpp), and its bytes
 *     equal quantizing the input's f32 rows with our reference quantizer AND with ggml's own
 *     ggml_quantize_chunk (what llama-quantize calls; tests/quant/ggml_oracle.h) — the ggml part
 *     fails, never skips, when the libraries are missing (`make deps`); tensors that stay (norms)
 *     keep their bytes;
 *   - metadata: every key of the input is in the output with the same rendered value, plus
 *     general.file_type (llama_ftype) and general.quantization_version = 2;
 *   - mixes on other shapes: tied output, rows that need a fallback type, --pure, overrides;
 *   - requantize: refused without allow_requantize (nothing written, an existing OUT kept), with it
 *     equal to quantizing the dequantized rows; a tensor already in its type is copied as is;
 *   - errors: same file, unknown type, missing/malformed input, unwritable output, cancel;
 *   - thread count does not change the bytes;
 *   - against llama.cpp itself: llama_model_quantize from the prebuilt libllama that
 *     node-llama-cpp ships (dlopen), on the same inputs, for every target: the same type and the
 *     same bytes for every tensor, the same key/values, also --pure, overrides and requantizing
 *     (fails, never skips, without `make deps`). */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <dirent.h>
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lir.h"
#include "gguf/gguf.h"
#include "gguf/gguf_gen.h"
#include "quant/quant.h"
#include "quant/ggml_oracle.h" /* header-only, all static: safe in a second test file */

#define N_LAYER 8

static void path_of(char *buf, size_t n, const char *tag) {
    snprintf(buf, n, "/tmp/lir-test-%d-q-%s.gguf", (int)getpid(), tag);
}

static bool exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* An F32 llama model: n_embd 256 (K-quant rows), 8 layers, 4 heads / 2 KV heads. */
static void make_model_e(const char *path, bool tied, int64_t n_ff, int64_t n_embd) {
    struct lir_gen_params p;
    lir_err e;
    cr_assert_eq(lir_gen_preset(&p, "tiny", LIR_GEN_LLAMA, &e), LIR_OK);
    p.n_layer = N_LAYER;
    p.n_ff = n_ff;
    p.n_vocab = 300;
    p.n_embd = n_embd;
    p.tied = tied;
    p.type = LIR_TYPE_F32;
    p.n_threads = 2;
    p.seed = 7;
    cr_assert_eq(lir_gen_write(&p, path, &e), LIR_OK, "%s", e.msg);
}

static void make_model(const char *path, bool tied, int64_t n_ff) { make_model_e(path, tied, n_ff, 256); }

static enum lir_status quantize(const char *in, const char *out, enum lir_ftype ft, struct lir_quantize_params *pp,
                                char *err) {
    struct lir_quantize_params p = pp ? *pp : lir_quantize_params_default();
    p.ftype = ft;
    if (!p.n_threads) p.n_threads = 3;
    return lir_quantize_model(in, out, &p, NULL, NULL, NULL, err, 512);
}

/* ---------------------------------------------------------------- expected types */

/* llama.cpp's llama_tensor_get_type for a dense llama model with 8 layers, n_gqa 2, no
 * imatrix, written out per tensor class. Layers where use_more_bits holds for 8 layers:
 * i < 8/8, i >= 7*8/8, (i - 1) % 3 == 2 -> {0, 3, 6, 7}. */
static bool more_bits(int il) { return il == 0 || il == 3 || il == 6 || il == 7; }

static int32_t layer_of(const char *name) {
    int il = -1;
    sscanf(name, "blk.%d.", &il);
    return il;
}

static int32_t block_of(int32_t t) { return lir_type_traits_get(t)->blck_size; }

/* fallback for rows that are not a multiple of the block size (tensor_type_fallback) */
static int32_t fit(int32_t t, int64_t ne0) {
    if (ne0 % block_of(t) == 0) return t;
    int32_t f = t == LIR_TYPE_Q2_K || t == LIR_TYPE_Q3_K ? LIR_TYPE_Q4_0
              : t == LIR_TYPE_Q4_K ? LIR_TYPE_Q5_0
              : t == LIR_TYPE_Q5_K ? LIR_TYPE_Q5_1
              : t == LIR_TYPE_Q6_K ? LIR_TYPE_Q8_0 : t;
    return ne0 % block_of(f) == 0 ? f : LIR_TYPE_F16;
}

static int32_t expected_type(enum lir_ftype ft, const char *name, int n_dims, int64_t ne0, bool tied) {
    if (n_dims < 2) return LIR_TYPE_F32; /* norms stay as they are (F32 in these models) */
    const int il = layer_of(name);
    const bool output = !strcmp(name, "output.weight") || (tied && !strcmp(name, "token_embd.weight"));
    const bool attn_v = strstr(name, ".attn_v.weight") != NULL, ffn_down = strstr(name, ".ffn_down.weight") != NULL,
               attn_out = strstr(name, ".attn_output.weight") != NULL;
    int32_t base;
    switch (ft) {
    case LIR_FTYPE_ALL_F32: return LIR_TYPE_F32;
    case LIR_FTYPE_MOSTLY_F16: return LIR_TYPE_F16;
    case LIR_FTYPE_MOSTLY_BF16: return LIR_TYPE_BF16;
    case LIR_FTYPE_MOSTLY_Q8_0: base = LIR_TYPE_Q8_0; break;
    case LIR_FTYPE_MOSTLY_Q4_0: base = LIR_TYPE_Q4_0; break;
    case LIR_FTYPE_MOSTLY_Q4_1: base = LIR_TYPE_Q4_1; break;
    case LIR_FTYPE_MOSTLY_Q5_0: base = LIR_TYPE_Q5_0; break;
    case LIR_FTYPE_MOSTLY_Q5_1: base = LIR_TYPE_Q5_1; break;
    case LIR_FTYPE_MOSTLY_Q2_K: base = LIR_TYPE_Q2_K; break;
    case LIR_FTYPE_MOSTLY_Q3_K_S: case LIR_FTYPE_MOSTLY_Q3_K_M: case LIR_FTYPE_MOSTLY_Q3_K_L: base = LIR_TYPE_Q3_K; break;
    case LIR_FTYPE_MOSTLY_Q4_K_S: case LIR_FTYPE_MOSTLY_Q4_K_M: base = LIR_TYPE_Q4_K; break;
    case LIR_FTYPE_MOSTLY_Q5_K_S: case LIR_FTYPE_MOSTLY_Q5_K_M: base = LIR_TYPE_Q5_K; break;
    case LIR_FTYPE_MOSTLY_Q6_K: base = LIR_TYPE_Q6_K; break;
    default: cr_assert_fail("ftype %d", (int)ft); return -1;
    }
    int32_t t = base;
    if (output) {
        /* Q6_K unless the target is Q8_0; Q8_0 when the row does not fit the base type's blocks */
        t = ne0 % block_of(base) != 0 ? LIR_TYPE_Q8_0 : base == LIR_TYPE_Q8_0 ? LIR_TYPE_Q8_0 : LIR_TYPE_Q6_K;
    } else if (attn_v) {
        if (ft == LIR_FTYPE_MOSTLY_Q2_K) t = LIR_TYPE_Q3_K;            /* n_gqa 2 < 4 */
        else if (ft == LIR_FTYPE_MOSTLY_Q3_K_M) t = il < 2 ? LIR_TYPE_Q5_K : LIR_TYPE_Q4_K;
        else if (ft == LIR_FTYPE_MOSTLY_Q3_K_L) t = LIR_TYPE_Q5_K;
        else if ((ft == LIR_FTYPE_MOSTLY_Q4_K_M || ft == LIR_FTYPE_MOSTLY_Q5_K_M) && more_bits(il)) t = LIR_TYPE_Q6_K;
        else if (ft == LIR_FTYPE_MOSTLY_Q4_K_S && il < 4) t = LIR_TYPE_Q5_K;
    } else if (ffn_down) {
        if (ft == LIR_FTYPE_MOSTLY_Q2_K) t = LIR_TYPE_Q3_K;
        else if (ft == LIR_FTYPE_MOSTLY_Q3_K_M) t = LIR_TYPE_Q4_K; /* Q5_K only below n_layer/16 = 0 */
        else if (ft == LIR_FTYPE_MOSTLY_Q3_K_L) t = LIR_TYPE_Q5_K;
        else if ((ft == LIR_FTYPE_MOSTLY_Q4_K_M || ft == LIR_FTYPE_MOSTLY_Q5_K_M) && more_bits(il)) t = LIR_TYPE_Q6_K;
        else if (ft == LIR_FTYPE_MOSTLY_Q4_K_S && il < 1) t = LIR_TYPE_Q5_K;
    } else if (attn_out) {
        if (ft == LIR_FTYPE_MOSTLY_Q2_K) t = LIR_TYPE_Q3_K;
        else if (ft == LIR_FTYPE_MOSTLY_Q3_K_M) t = LIR_TYPE_Q4_K;
        else if (ft == LIR_FTYPE_MOSTLY_Q3_K_L) t = LIR_TYPE_Q5_K;
    }
    return fit(t, ne0);
}

/* ---------------------------------------------------------------- checks */

static char tname[128];
static const char *name_of(const struct lir_gguf_tensor *t) {
    snprintf(tname, sizeof tname, "%.*s", (int)t->name.len, t->name.ptr);
    return tname;
}

static int64_t n_rows(const struct lir_gguf_tensor *t) { return t->ne[1] * t->ne[2] * t->ne[3]; }

/* Output tensor types as llama.cpp's rules (check_types); copied tensors' bytes unchanged;
 * converted tensors' bytes (REF_BYTES) = reference quantization of the input's rows (dequantized
 * when not F32), and (GGML_BYTES) = ggml_quantize_chunk's. */
enum { TYPES_ONLY, REF_BYTES, GGML_BYTES };

static void check_file(const char *in, const char *out, enum lir_ftype ft, bool tied, bool check_types, int bytes) {
    const bool check_ggml = bytes == GGML_BYTES;
    lir_gguf *gi, *go;
    lir_err e;
    cr_assert_eq(lir_gguf_open(in, &gi, &e), LIR_OK, "%s", e.msg);
    cr_assert_eq(lir_gguf_open(out, &go, &e), LIR_OK, "%s", e.msg);
    struct ggml_oracle *o = ggml_oracle_get();
    if (check_ggml) cr_assert(o->ok, "%s", o->err);
    cr_assert_eq(lir_gguf_n_tensors(gi), lir_gguf_n_tensors(go));
    cr_assert_eq(lir_gguf_alignment(gi), lir_gguf_alignment(go));
    for (int64_t i = 0; i < lir_gguf_n_tensors(go); i++) {
        const struct lir_gguf_tensor *to = lir_gguf_tensor(go, i), *ti = lir_gguf_tensor(gi, i);
        const char *nm = name_of(to);
        cr_assert(to->name.len == ti->name.len && !memcmp(to->name.ptr, ti->name.ptr, to->name.len), "order kept");
        cr_assert_eq(to->n_dims, ti->n_dims);
        for (int d = 0; d < 4; d++) cr_assert_eq(to->ne[d], ti->ne[d]);
        if (check_types) {
            int32_t want = expected_type(ft, nm, (int)ti->n_dims, ti->ne[0], tied);
            cr_assert_eq(to->type, want, "%s %s: %s is %s, llama.cpp's rules give %s", lir_ftype_name(ft), out, nm,
                         lir_type_name(to->type), lir_type_name(want));
        }
        if (to->type == ti->type) {
            cr_assert(to->size == ti->size && !memcmp(to->data, ti->data, to->size), "%s: copied bytes differ", nm);
            continue;
        }
        if (bytes == TYPES_ONLY) continue;
        const int64_t n = ti->ne[0], rows = n_rows(ti);
        const size_t ri = lir_type_row_size(ti->type, n), ro = lir_type_row_size(to->type, n);
        float *x = malloc((size_t)(n * rows) * sizeof *x);
        uint8_t *y = malloc(ro * (size_t)rows), *yg = malloc(ro * (size_t)rows);
        cr_assert(x && y && yg);
        uint64_t *row = malloc(ri + 8); /* aligned copy: the input's data may sit at any offset (alignment 1) */
        cr_assert(row);
        for (int64_t r = 0; r < rows; r++) {
            memcpy(row, (const uint8_t *)ti->data + r * ri, ri);
            lir_type_traits_get(ti->type)->dequantize_row_ref(row, x + r * n, n);
        }
        free(row);
        for (int64_t r = 0; r < rows; r++) lir_type_traits_get(to->type)->quantize_row_ref(x + r * n, y + r * ro, n);
        cr_assert(!memcmp(to->data, y, ro * (size_t)rows), "%s: %s bytes differ from the reference quantizer", nm,
                  lir_type_name(to->type));
        if (check_ggml) {
            size_t got = o->quantize_chunk(to->type, x, yg, 0, rows, n, NULL);
            cr_assert_eq(got, ro * (size_t)rows);
            cr_assert(!memcmp(to->data, yg, got), "%s: %s bytes differ from ggml_quantize_chunk", nm,
                      lir_type_name(to->type));
        }
        free(x);
        free(y);
        free(yg);
    }
    lir_gguf_close(gi);
    lir_gguf_close(go);
}

/* Every input key has the same rendered value in the output; file type and version set. */
static void check_metadata(const char *in, const char *out, enum lir_ftype ft) {
    lir_gguf *gi, *go;
    lir_err e;
    cr_assert_eq(lir_gguf_open(in, &gi, &e), LIR_OK);
    cr_assert_eq(lir_gguf_open(out, &go, &e), LIR_OK);
    char key[256], a[512], b[512];
    for (int64_t i = 0; i < lir_gguf_n_kv(gi); i++) {
        lir_gguf_str k = lir_gguf_key(gi, i);
        snprintf(key, sizeof key, "%.*s", (int)k.len, k.ptr);
        if (!strcmp(key, "general.file_type")) continue;
        int64_t j = lir_gguf_find_key(go, key);
        cr_assert(j >= 0, "key %s missing", key);
        cr_assert_eq(lir_gguf_kv_type(gi, i), lir_gguf_kv_type(go, j), "key %s type", key);
        lir_gguf_kv_to_string(gi, i, a, sizeof a);
        lir_gguf_kv_to_string(go, j, b, sizeof b);
        cr_assert_str_eq(a, b, "key %s", key);
    }
    /* string arrays in full (the rendering summarizes) */
    uint64_t n1, n2;
    cr_assert(lir_gguf_get_arr(gi, "tokenizer.ggml.tokens", NULL, &n1, NULL));
    cr_assert(lir_gguf_get_arr(go, "tokenizer.ggml.tokens", NULL, &n2, NULL));
    cr_assert_eq(n1, n2);
    for (uint64_t i = 0; i < n1; i++) {
        lir_gguf_str s1 = lir_gguf_arr_str(gi, "tokenizer.ggml.tokens", i), s2 = lir_gguf_arr_str(go, "tokenizer.ggml.tokens", i);
        cr_assert(s1.len == s2.len && !memcmp(s1.ptr, s2.ptr, s1.len), "token %llu", (unsigned long long)i);
    }
    uint32_t v;
    cr_assert(lir_gguf_get_u32(go, "general.file_type", &v, NULL));
    cr_assert_eq(v, (uint32_t)ft);
    cr_assert(lir_gguf_get_u32(go, "general.quantization_version", &v, NULL));
    cr_assert_eq(v, 2);
    lir_gguf_close(gi);
    lir_gguf_close(go);
}

/* ---------------------------------------------------------------- tests */

static const enum lir_ftype all_ftypes[] = {
    LIR_FTYPE_ALL_F32, LIR_FTYPE_MOSTLY_F16, LIR_FTYPE_MOSTLY_BF16, LIR_FTYPE_MOSTLY_Q8_0, LIR_FTYPE_MOSTLY_Q4_0,
    LIR_FTYPE_MOSTLY_Q4_1, LIR_FTYPE_MOSTLY_Q5_0, LIR_FTYPE_MOSTLY_Q5_1, LIR_FTYPE_MOSTLY_Q2_K,
    LIR_FTYPE_MOSTLY_Q3_K_S, LIR_FTYPE_MOSTLY_Q3_K_M, LIR_FTYPE_MOSTLY_Q3_K_L, LIR_FTYPE_MOSTLY_Q4_K_S,
    LIR_FTYPE_MOSTLY_Q4_K_M, LIR_FTYPE_MOSTLY_Q5_K_S, LIR_FTYPE_MOSTLY_Q5_K_M, LIR_FTYPE_MOSTLY_Q6_K,
};
#define N_ALL (sizeof all_ftypes / sizeof all_ftypes[0])

Test(quantize_model, every_target_types_bytes_and_metadata, .timeout = 120) {
    char in[256], out[256], err[512];
    path_of(in, sizeof in, "f32");
    make_model(in, false, 256);
    for (size_t k = 0; k < N_ALL; k++) {
        path_of(out, sizeof out, lir_ftype_name(all_ftypes[k]));
        cr_assert_eq(quantize(in, out, all_ftypes[k], NULL, err), LIR_OK, "%s: %s", lir_ftype_name(all_ftypes[k]), err);
        cr_assert(!exists((strcat(strcpy(err, out), ".tmp"), err)), "temporary file left");
        check_file(in, out, all_ftypes[k], false, true, GGML_BYTES);
        check_metadata(in, out, all_ftypes[k]);
        unlink(out);
    }
    unlink(in);
}

Test(quantize_model, mixes_tied_fallback_pure_overrides, .timeout = 60) {
    char in[256], out[256], err[512];
    /* tied output: token_embd takes the output's rules */
    path_of(in, sizeof in, "tied");
    make_model(in, true, 256);
    path_of(out, sizeof out, "tied-out");
    const enum lir_ftype mixes[] = {LIR_FTYPE_MOSTLY_Q4_K_M, LIR_FTYPE_MOSTLY_Q5_K_M, LIR_FTYPE_MOSTLY_Q8_0};
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(quantize(in, out, mixes[k], NULL, err), LIR_OK, "%s", err);
        check_file(in, out, mixes[k], true, true, TYPES_ONLY);
    }
    unlink(in);

    /* n_ff 96: ffn_down rows (96) do not fit 256-blocks (Q4_K -> Q5_0, Q6_K -> Q8_0);
     * n_ff 80 does not fit 32-blocks either (-> F16) */
    const int64_t ffs[] = {96, 80};
    for (int f = 0; f < 2; f++) {
        path_of(in, sizeof in, "ff");
        make_model(in, false, ffs[f]);
        const enum lir_ftype fts[] = {LIR_FTYPE_MOSTLY_Q4_K_M, LIR_FTYPE_MOSTLY_Q5_K_S, LIR_FTYPE_MOSTLY_Q2_K,
                                      LIR_FTYPE_MOSTLY_Q6_K, LIR_FTYPE_MOSTLY_Q8_0, LIR_FTYPE_MOSTLY_Q4_1};
        for (int k = 0; k < 6; k++) {
            struct lir_quantize_result res;
            struct lir_quantize_params p = lir_quantize_params_default();
            p.ftype = fts[k];
            cr_assert_eq(lir_quantize_model(in, out, &p, NULL, NULL, &res, err, sizeof err), LIR_OK, "%s", err);
            const bool fits = ffs[f] % block_of(expected_type(fts[k], "blk.1.ffn_up.weight", 2, 256, false)) == 0;
            cr_assert_eq(res.n_fallback, fits ? 0 : N_LAYER, "%s n_ff %lld: %lld fallbacks", lir_ftype_name(fts[k]),
                         (long long)ffs[f], (long long)res.n_fallback);
            check_file(in, out, fts[k], false, true, f == 0 && k < 3 ? REF_BYTES : TYPES_ONLY);
        }
        unlink(in);
    }

    /* pure: every 2-D weight in the base type, output included; overrides */
    path_of(in, sizeof in, "pure");
    make_model(in, false, 256);
    struct lir_quantize_params p = lir_quantize_params_default();
    p.pure = true;
    cr_assert_eq(quantize(in, out, LIR_FTYPE_MOSTLY_Q4_K_M, &p, err), LIR_OK, "%s", err);
    lir_gguf *g;
    cr_assert_eq(lir_gguf_open(out, &g, NULL), LIR_OK);
    for (int64_t i = 0; i < lir_gguf_n_tensors(g); i++) {
        const struct lir_gguf_tensor *t = lir_gguf_tensor(g, i);
        cr_assert_eq(t->type, t->n_dims == 1 ? LIR_TYPE_F32 : LIR_TYPE_Q4_K, "pure: %s", name_of(t));
    }
    lir_gguf_close(g);
    check_file(in, out, LIR_FTYPE_MOSTLY_Q4_K_M, false, false, TYPES_ONLY);

    p = lir_quantize_params_default();
    cr_assert_eq(lir_tensor_type_parse("Q8_0", &p.output_tensor_type), LIR_OK);
    cr_assert_eq(lir_tensor_type_parse("q4_0", &p.token_embedding_type), LIR_OK);
    cr_assert_eq(quantize(in, out, LIR_FTYPE_MOSTLY_Q5_K_M, &p, err), LIR_OK, "%s", err);
    cr_assert_eq(lir_gguf_open(out, &g, NULL), LIR_OK);
    cr_assert_eq(lir_gguf_find_tensor(g, "output.weight")->type, LIR_TYPE_Q8_0);
    cr_assert_eq(lir_gguf_find_tensor(g, "token_embd.weight")->type, LIR_TYPE_Q4_0);
    cr_assert_eq(lir_gguf_find_tensor(g, "blk.0.attn_v.weight")->type, LIR_TYPE_Q6_K);
    cr_assert_eq(lir_gguf_find_tensor(g, "blk.1.attn_v.weight")->type, LIR_TYPE_Q5_K);
    lir_gguf_close(g);
    check_file(in, out, LIR_FTYPE_MOSTLY_Q5_K_M, false, false, REF_BYTES);
    unlink(out);
    unlink(in);
}

Test(quantize_model, requantize, .timeout = 60) {
    char in[256], q8[256], out[256], err[512];
    path_of(in, sizeof in, "rq-f32");
    path_of(q8, sizeof q8, "rq-q8");
    path_of(out, sizeof out, "rq-out");
    make_model(in, false, 256);
    cr_assert_eq(quantize(in, q8, LIR_FTYPE_MOSTLY_Q8_0, NULL, err), LIR_OK, "%s", err);

    /* refused, before anything is written: an existing OUT is kept as it was */
    FILE *f = fopen(out, "wb");
    fputs("old", f);
    fclose(f);
    cr_assert_eq(quantize(q8, out, LIR_FTYPE_MOSTLY_Q4_K_M, NULL, err), LIR_EUNSUPPORTED);
    cr_assert(strstr(err, "requantiz") && strstr(err, "q8_0"), "%s", err);
    struct stat st;
    cr_assert(stat(out, &st) == 0 && st.st_size == 3, "OUT changed");

    /* the same type needs no requantizing: bytes copied */
    cr_assert_eq(quantize(q8, out, LIR_FTYPE_MOSTLY_Q8_0, NULL, err), LIR_OK, "%s", err);
    check_file(q8, out, LIR_FTYPE_MOSTLY_Q8_0, false, true, TYPES_ONLY);

    /* allowed: quantization of the dequantized rows (and ggml's bytes from them) */
    struct lir_quantize_params p = lir_quantize_params_default();
    p.allow_requantize = true;
    cr_assert_eq(quantize(q8, out, LIR_FTYPE_MOSTLY_Q4_K_M, &p, err), LIR_OK, "%s", err);
    check_file(q8, out, LIR_FTYPE_MOSTLY_Q4_K_M, false, true, GGML_BYTES);

    /* F16 input is not "quantized" for llama.cpp: no refusal */
    char f16[256];
    path_of(f16, sizeof f16, "rq-f16");
    cr_assert_eq(quantize(in, f16, LIR_FTYPE_MOSTLY_F16, NULL, err), LIR_OK, "%s", err);
    cr_assert_eq(quantize(f16, out, LIR_FTYPE_MOSTLY_Q5_K_M, NULL, err), LIR_OK, "%s", err);
    check_file(f16, out, LIR_FTYPE_MOSTLY_Q5_K_M, false, true, GGML_BYTES);
    unlink(in);
    unlink(q8);
    unlink(f16);
    unlink(out);
}

static bool cancel_after_3(void *user, const struct lir_quantize_progress *p) {
    int *calls = user;
    cr_assert(p->bytes_done <= p->bytes_total && p->i_tensor < p->n_tensors && p->name);
    return ++*calls < 3;
}

static bool count_calls(void *user, const struct lir_quantize_progress *p) {
    ++*(int *)user;
    return true;
}

Test(quantize_model, errors_cancel_threads, .timeout = 60) {
    char in[256], out[256], out2[256], err[512];
    path_of(in, sizeof in, "err-f32");
    path_of(out, sizeof out, "err-out");
    path_of(out2, sizeof out2, "err-out2");
    make_model(in, false, 256);
    struct lir_quantize_params p = lir_quantize_params_default();

    enum lir_ftype ft;
    cr_assert_eq(lir_ftype_parse("q4_k_m", &ft), LIR_OK);
    cr_assert_eq(ft, LIR_FTYPE_MOSTLY_Q4_K_M);
    cr_assert_eq(lir_ftype_parse("Q4_K", &ft), LIR_OK);
    cr_assert_eq(ft, LIR_FTYPE_MOSTLY_Q4_K_M); /* llama-quantize's alias */
    cr_assert_eq(lir_ftype_parse("7", &ft), LIR_OK);
    cr_assert_eq(ft, LIR_FTYPE_MOSTLY_Q8_0);
    cr_assert_eq(lir_ftype_parse("Q7_K", &ft), LIR_EINVAL);
    cr_assert_eq(lir_ftype_parse("4", &ft), LIR_EINVAL); /* Q4_2, gone */
    cr_assert_eq(lir_ftype_parse(NULL, &ft), LIR_EINVAL);
    int32_t tt;
    cr_assert_eq(lir_tensor_type_parse("q8_K", &tt), LIR_EINVAL);
    cr_assert_eq(lir_tensor_type_parse("Q6_k", &tt), LIR_OK);
    cr_assert_eq(tt, LIR_TYPE_Q6_K);

    p.ftype = (enum lir_ftype)4;
    cr_assert_eq(lir_quantize_model(in, out, &p, NULL, NULL, NULL, err, sizeof err), LIR_EINVAL);
    cr_assert(strstr(err, "Q4_K_M"), "lists valid types: %s", err);
    p = lir_quantize_params_default();
    p.output_tensor_type = LIR_TYPE_Q8_K;
    cr_assert_eq(lir_quantize_model(in, out, &p, NULL, NULL, NULL, err, sizeof err), LIR_EINVAL);
    p = lir_quantize_params_default();
    cr_assert_eq(lir_quantize_model(in, in, &p, NULL, NULL, NULL, err, sizeof err), LIR_EINVAL);
    cr_assert(strstr(err, "same file"), "%s", err);
    cr_assert_eq(lir_quantize_model(NULL, out, &p, NULL, NULL, NULL, err, sizeof err), LIR_EINVAL);
    cr_assert_eq(lir_quantize_model("/nonexistent/x.gguf", out, &p, NULL, NULL, NULL, err, sizeof err), LIR_EIO);
    cr_assert_eq(lir_quantize_model(in, "/nonexistent/dir/x.gguf", &p, NULL, NULL, NULL, err, sizeof err), LIR_EIO);
    cr_assert(strstr(err, "/nonexistent/dir/x.gguf"), "%s", err);
    /* an override whose blocks do not fit the rows: n_embd 224 is not a multiple of 256 */
    char odd[256];
    path_of(odd, sizeof odd, "err-odd");
    make_model_e(odd, false, 256, 224);
    p.output_tensor_type = LIR_TYPE_Q4_K;
    cr_assert_eq(lir_quantize_model(odd, out, &p, NULL, NULL, NULL, err, sizeof err), LIR_EINVAL);
    cr_assert(strstr(err, "output.weight") && strstr(err, "q4_K"), "%s", err);
    p.output_tensor_type = LIR_TYPE_Q8_0; /* 224 = 7 x 32 */
    cr_assert_eq(lir_quantize_model(odd, out, &p, NULL, NULL, NULL, err, sizeof err), LIR_OK, "%s", err);
    unlink(odd);
    p = lir_quantize_params_default();

    /* malformed input: truncated */
    char bad[256];
    path_of(bad, sizeof bad, "err-trunc");
    FILE *fi = fopen(in, "rb"), *fo = fopen(bad, "wb");
    char buf[4096];
    size_t got = fread(buf, 1, sizeof buf, fi);
    fwrite(buf, 1, got, fo);
    fclose(fi);
    fclose(fo);
    cr_assert_eq(lir_quantize_model(bad, out2, &p, NULL, NULL, NULL, err, sizeof err), LIR_EFORMAT);
    cr_assert(!exists(out2));
    /* not a GGUF at all */
    fo = fopen(bad, "wb");
    fputs("not a model", fo);
    fclose(fo);
    cr_assert_eq(lir_quantize_model(bad, out2, &p, NULL, NULL, NULL, err, sizeof err), LIR_EFORMAT);
    unlink(bad);

    /* cancel from the progress callback: LIR_ECANCELLED, no output, no temporary file */
    int calls = 0;
    cr_assert_eq(lir_quantize_model(in, out2, &p, cancel_after_3, &calls, NULL, err, sizeof err), LIR_ECANCELLED);
    cr_assert_eq(calls, 3);
    cr_assert(!exists(out2));
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", out2);
    cr_assert(!exists(tmp));

    /* threads: 1 and 5 give the same file; progress reaches the total */
    struct lir_quantize_result r1, r2;
    p.ftype = LIR_FTYPE_MOSTLY_Q3_K_M;
    p.n_threads = 1;
    cr_assert_eq(lir_quantize_model(in, out, &p, NULL, NULL, &r1, err, sizeof err), LIR_OK, "%s", err);
    p.n_threads = 5;
    calls = 0;
    cr_assert_eq(lir_quantize_model(in, out2, &p, count_calls, &calls, &r2, err, sizeof err), LIR_OK, "%s", err);
    cr_assert(calls > 0);
    cr_assert_eq(r1.size_out, r2.size_out);
    cr_assert_eq(r1.n_converted + r1.n_copied, r1.n_tensors);
    cr_assert_lt(r1.size_out, r1.size_in);
    FILE *a = fopen(out, "rb"), *b = fopen(out2, "rb");
    char ba[1 << 16], bb[1 << 16];
    size_t na, nb;
    do {
        na = fread(ba, 1, sizeof ba, a);
        nb = fread(bb, 1, sizeof bb, b);
        cr_assert(na == nb && !memcmp(ba, bb, na), "thread counts give different files");
    } while (na > 0);
    fclose(a);
    fclose(b);
    unlink(in);
    unlink(out);
    unlink(out2);
}

/* ---------------------------------------------------------------- llama.cpp's llama-quantize */

/* struct llama_model_quantize_params of the llama.cpp that node-llama-cpp 3.21.1 ships
 * (include/llama.h of its bundled source); checked against the library's defaults below. */
struct llama_qparams {
    int32_t nthread;
    int ftype;                /* enum llama_ftype */
    int output_tensor_type;   /* enum ggml_type; GGML_TYPE_COUNT (43) = rules */
    int token_embedding_type;
    bool allow_requantize, quantize_output_tensor, only_copy, pure, keep_split, dry_run;
    const void *imatrix, *kv_overrides, *tt_overrides;
    const int32_t *prune_layers;
    size_t max_buf_size;
};

struct llama_lib {
    struct llama_qparams (*default_params)(void);
    uint32_t (*quantize)(const char *in, const char *out, const struct llama_qparams *p);
};

static void llama_log_quiet(int level, const char *text, void *user) {}

static struct llama_lib *llama_lib_get(void) {
    static struct llama_lib lib;
    static bool tried;
    if (tried) return lib.quantize ? &lib : NULL;
    tried = true;
    char dir[1024], path[1400];
    snprintf(dir, sizeof dir, "%s%s", LIR_SOURCE_DIR, GGML_ORACLE_SUBDIR);
    DIR *d = opendir(dir);
    if (!d) return NULL;
    struct dirent *de;
    path[0] = '\0';
    while ((de = readdir(d)))
        if (!strncmp(de->d_name, "libllama.", 9) && strstr(de->d_name, ".so")) {
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            break;
        }
    closedir(d);
    void *h = path[0] ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
    if (!h) return NULL;
    lib.default_params = (struct llama_qparams (*)(void))dlsym(h, "llama_model_quantize_default_params");
    lib.quantize = (uint32_t (*)(const char *, const char *, const struct llama_qparams *))dlsym(h, "llama_model_quantize");
    void (*log_set)(void (*)(int, const char *, void *), void *) =
        (void (*)(void (*)(int, const char *, void *), void *))dlsym(h, "llama_log_set");
    if (!lib.default_params || !lib.quantize || !log_set) { lib.quantize = NULL; return NULL; }
    log_set(llama_log_quiet, NULL);
    return &lib;
}

/* lir's and llama.cpp's outputs hold the same tensors (by name; llama.cpp writes them sorted
 * by layer) with the same types and bytes, and the same key/values. */
static void check_same_as_llama(const char *lir_out, const char *ll_out, const char *what) {
    lir_gguf *a, *b;
    lir_err e;
    cr_assert_eq(lir_gguf_open(lir_out, &a, &e), LIR_OK, "%s", e.msg);
    cr_assert_eq(lir_gguf_open(ll_out, &b, &e), LIR_OK, "%s", e.msg);
    cr_assert_eq(lir_gguf_n_tensors(a), lir_gguf_n_tensors(b), "%s", what);
    for (int64_t i = 0; i < lir_gguf_n_tensors(a); i++) {
        const struct lir_gguf_tensor *ta = lir_gguf_tensor(a, i);
        const char *nm = name_of(ta);
        const struct lir_gguf_tensor *tb = lir_gguf_find_tensor(b, nm);
        cr_assert(tb, "%s: %s missing in llama.cpp's file", what, nm);
        cr_assert_eq(ta->type, tb->type, "%s: %s is %s, llama-quantize writes %s", what, nm, lir_type_name(ta->type),
                     lir_type_name(tb->type));
        cr_assert(ta->size == tb->size && !memcmp(ta->data, tb->data, ta->size), "%s: %s (%s) bytes differ", what, nm,
                  lir_type_name(ta->type));
    }
    cr_assert_eq(lir_gguf_n_kv(a), lir_gguf_n_kv(b), "%s: key count", what);
    char key[256], va[512], vb[512];
    for (int64_t i = 0; i < lir_gguf_n_kv(a); i++) {
        lir_gguf_str k = lir_gguf_key(a, i);
        snprintf(key, sizeof key, "%.*s", (int)k.len, k.ptr);
        int64_t j = lir_gguf_find_key(b, key);
        cr_assert(j >= 0, "%s: key %s not in llama.cpp's file", what, key);
        cr_assert_eq(lir_gguf_kv_type(a, i), lir_gguf_kv_type(b, j), "%s: key %s type", what, key);
        lir_gguf_kv_to_string(a, i, va, sizeof va);
        lir_gguf_kv_to_string(b, j, vb, sizeof vb);
        cr_assert_str_eq(va, vb, "%s: key %s", what, key);
    }
    lir_gguf_close(a);
    lir_gguf_close(b);
}

Test(quantize_model, same_as_llama_quantize, .timeout = 180) {
    struct llama_lib *ll = llama_lib_get();
    cr_assert(ll, "llama.cpp's libllama not found in %s%s: run `make deps`", LIR_SOURCE_DIR, GGML_ORACLE_SUBDIR);
    struct llama_qparams lp = ll->default_params();
    cr_assert(lp.ftype == 7 && lp.output_tensor_type == 43 && lp.token_embedding_type == 43 &&
              lp.quantize_output_tensor && !lp.pure && lp.max_buf_size == (8ull << 30),
              "llama_model_quantize_params layout differs from this test's copy (llama.cpp version?)");
    char in[256], out[256], ref[256], err[512], what[128];
    path_of(out, sizeof out, "ll-lir");
    path_of(ref, sizeof ref, "ll-ref");
    /* untied GQA 2 with 8 layers; tied with GQA 4 (the Q2_K attn_v rule), 12 layers and
     * ffn_down rows of 96 (fallbacks) */
    for (int shape = 0; shape < 2; shape++) {
        struct lir_gen_params p;
        lir_err e;
        cr_assert_eq(lir_gen_preset(&p, "tiny", LIR_GEN_LLAMA, &e), LIR_OK);
        p.n_layer = shape ? 12 : N_LAYER;
        p.n_head = shape ? 8 : 4;
        p.head_dim = shape ? 32 : 64;
        p.n_head_kv = 2;
        p.n_ff = shape ? 96 : 256;
        p.n_vocab = 300;
        p.tied = shape == 1;
        p.seed = 11;
        path_of(in, sizeof in, "ll-in");
        cr_assert_eq(lir_gen_write(&p, in, &e), LIR_OK, "%s", e.msg);
        for (size_t k = 0; k < N_ALL; k++) {
            /* the second shape: the targets whose rules read GQA, tying, layer count or row width */
            const enum lir_ftype f = all_ftypes[k];
            if (shape == 1 && (f == LIR_FTYPE_ALL_F32 || f == LIR_FTYPE_MOSTLY_BF16 || f == LIR_FTYPE_MOSTLY_Q4_1 ||
                               f == LIR_FTYPE_MOSTLY_Q5_0 || f == LIR_FTYPE_MOSTLY_Q5_1 || f == LIR_FTYPE_MOSTLY_Q3_K_S))
                continue;
            snprintf(what, sizeof what, "%s shape %d", lir_ftype_name(all_ftypes[k]), shape);
            cr_assert_eq(quantize(in, out, all_ftypes[k], NULL, err), LIR_OK, "%s: %s", what, err);
            lp = ll->default_params();
            lp.ftype = (int)all_ftypes[k];
            lp.nthread = 2;
            cr_assert_eq(ll->quantize(in, ref, &lp), 0, "%s: llama_model_quantize failed", what);
            check_same_as_llama(out, ref, what);
        }
        /* pure and overrides */
        struct lir_quantize_params qp = lir_quantize_params_default();
        qp.pure = true;
        cr_assert_eq(quantize(in, out, LIR_FTYPE_MOSTLY_Q3_K_M, &qp, err), LIR_OK, "%s", err);
        lp = ll->default_params();
        lp.ftype = LIR_FTYPE_MOSTLY_Q3_K_M;
        lp.pure = true;
        cr_assert_eq(ll->quantize(in, ref, &lp), 0);
        check_same_as_llama(out, ref, "pure Q3_K_M");
        qp = lir_quantize_params_default();
        qp.output_tensor_type = LIR_TYPE_Q5_0;
        qp.token_embedding_type = LIR_TYPE_Q8_0;
        cr_assert_eq(quantize(in, out, LIR_FTYPE_MOSTLY_Q4_K_S, &qp, err), LIR_OK, "%s", err);
        lp = ll->default_params();
        lp.ftype = LIR_FTYPE_MOSTLY_Q4_K_S;
        lp.output_tensor_type = LIR_TYPE_Q5_0;
        lp.token_embedding_type = LIR_TYPE_Q8_0;
        cr_assert_eq(ll->quantize(in, ref, &lp), 0);
        check_same_as_llama(out, ref, "Q4_K_S with overrides");
        qp = lir_quantize_params_default();
        qp.leave_output_tensor = true;
        cr_assert_eq(quantize(in, out, LIR_FTYPE_MOSTLY_Q2_K, &qp, err), LIR_OK, "%s", err);
        lp = ll->default_params();
        lp.ftype = LIR_FTYPE_MOSTLY_Q2_K;
        lp.quantize_output_tensor = false;
        cr_assert_eq(ll->quantize(in, ref, &lp), 0);
        check_same_as_llama(out, ref, "Q2_K with the output tensor left");
        /* requantizing: refused by both without allow_requantize, the same bytes with it */
        char q8[256];
        path_of(q8, sizeof q8, "ll-q8");
        cr_assert_eq(quantize(in, q8, LIR_FTYPE_MOSTLY_Q8_0, NULL, err), LIR_OK, "%s", err);
        lp = ll->default_params();
        lp.ftype = LIR_FTYPE_MOSTLY_Q5_K_M;
        cr_assert_neq(ll->quantize(q8, ref, &lp), 0, "llama.cpp requantized without allow_requantize");
        cr_assert_eq(quantize(q8, out, LIR_FTYPE_MOSTLY_Q5_K_M, NULL, err), LIR_EUNSUPPORTED);
        lp.allow_requantize = true;
        cr_assert_eq(ll->quantize(q8, ref, &lp), 0);
        qp = lir_quantize_params_default();
        qp.allow_requantize = true;
        cr_assert_eq(quantize(q8, out, LIR_FTYPE_MOSTLY_Q5_K_M, &qp, err), LIR_OK, "%s", err);
        check_same_as_llama(out, ref, "Q5_K_M requantized from Q8_0");
        unlink(q8);
        unlink(in);
    }
    /* other architectures: qwen2 (1-D biases), qwen3 (q/k norms), bert (token types, position
     * embeddings, LayerNorm biases; attn_output_norm), nomic-bert (fused attn_qkv: the attn_v rules) */
    const enum lir_gen_arch archs[] = {LIR_GEN_QWEN2, LIR_GEN_QWEN3, LIR_GEN_BERT, LIR_GEN_NOMIC_BERT};
    const enum lir_ftype few[] = {LIR_FTYPE_MOSTLY_Q4_K_M, LIR_FTYPE_MOSTLY_Q3_K_L, LIR_FTYPE_MOSTLY_Q8_0};
    for (int a = 0; a < 4; a++) {
        struct lir_gen_params p;
        lir_err e;
        cr_assert_eq(lir_gen_preset(&p, "tiny", archs[a], &e), LIR_OK);
        p.n_vocab = 300;
        p.seed = 13;
        path_of(in, sizeof in, "ll-arch");
        cr_assert_eq(lir_gen_write(&p, in, &e), LIR_OK, "%s", e.msg);
        for (int k = 0; k < 3; k++) {
            snprintf(what, sizeof what, "%s %s", lir_ftype_name(few[k]), lir_gen_arch_name(archs[a]));
            cr_assert_eq(quantize(in, out, few[k], NULL, err), LIR_OK, "%s: %s", what, err);
            lp = ll->default_params();
            lp.ftype = (int)few[k];
            lp.nthread = 2;
            cr_assert_eq(ll->quantize(in, ref, &lp), 0, "%s: llama_model_quantize failed", what);
            check_same_as_llama(out, ref, what);
        }
        unlink(in);
    }
    unlink(out);
    unlink(ref);
}

/* ---------------------------------------------------------------- odd and malformed inputs */

/* A GGUF without an architecture, alignment 1 (tensor data at odd offsets), every scalar key
 * type, and tensors of each kind: F16 and Q8_0 matrices, a 3-D F32 tensor, rows of 33 (no
 * quantized type fits: F16), a 2-D *_norm.weight and a 1-D bias (both stay). */
Test(quantize_model, odd_input_alignment_1_every_key_type, .timeout = 30) {
    char in[256], out[256], err[512];
    path_of(in, sizeof in, "odd-in");
    path_of(out, sizeof out, "odd-out");
    lir_gguf_writer *w = lir_gguf_writer_create(3, 1);
    lir_gguf_writer_set_u8(w, "k.u8", 200);
    lir_gguf_writer_set_i8(w, "k.i8", -100);
    lir_gguf_writer_set_u16(w, "k.u16", 60000);
    lir_gguf_writer_set_i16(w, "k.i16", -30000);
    lir_gguf_writer_set_u32(w, "k.u32", 4000000000u);
    lir_gguf_writer_set_i32(w, "k.i32", -2000000000);
    lir_gguf_writer_set_u64(w, "k.u64", 18000000000000000000ull);
    lir_gguf_writer_set_i64(w, "k.i64", -9000000000000000000ll);
    lir_gguf_writer_set_f32(w, "k.f32", 1.25e-7f);
    lir_gguf_writer_set_f64(w, "k.f64", 0.1);
    lir_gguf_writer_set_bool(w, "k.bool", true);
    lir_gguf_writer_set_str(w, "k.str", "h\xc3\xa9llo");
    const bool bools[3] = {true, false, true};
    lir_gguf_writer_set_arr(w, "k.arr_bool", LIR_GGUF_BOOL, bools, 3);
    const double f64s[2] = {1.0 / 3.0, -2.5};
    lir_gguf_writer_set_arr(w, "k.arr_f64", LIR_GGUF_FLOAT64, f64s, 2);
    const char *strs[3] = {"", "a", "\xe2\x96\x81x"};
    lir_gguf_writer_set_arr_str(w, "k.arr_str", strs, 3);
    lir_gguf_writer_set_arr_str(w, "k.arr_empty", strs, 0);

    float f[4 * 64 * 3];
    for (int i = 0; i < 4 * 64 * 3; i++) f[i] = sinf((float)i * 0.37f) * (1.0f + (float)(i % 7));
    lir_f16 h[64 * 3];
    lir_quantize_row_f16_ref(f, h, 64 * 3);
    block_q8_0 q8[2 * 2];
    lir_quantize_row_q8_0_ref(f, q8, 64 * 2);
    const int64_t ne_a[2] = {64, 3}, ne_b[2] = {64, 2}, ne_c[1] = {7}, ne_d[3] = {32, 2, 2}, ne_e[2] = {33, 2},
                  ne_f[2] = {64, 2};
    lir_gguf_writer_add_tensor(w, "c.bias", LIR_TYPE_F32, 1, ne_c, f, NULL, NULL);
    lir_gguf_writer_add_tensor(w, "a.weight", LIR_TYPE_F16, 2, ne_a, h, NULL, NULL);
    lir_gguf_writer_add_tensor(w, "b.weight", LIR_TYPE_Q8_0, 2, ne_b, q8, NULL, NULL);
    lir_gguf_writer_add_tensor(w, "d.weight", LIR_TYPE_F32, 3, ne_d, f + 1, NULL, NULL);
    lir_gguf_writer_add_tensor(w, "e.weight", LIR_TYPE_F32, 2, ne_e, f + 3, NULL, NULL);
    lir_gguf_writer_add_tensor(w, "f_norm.weight", LIR_TYPE_F32, 2, ne_f, f, NULL, NULL);
    lir_err e;
    cr_assert_eq(lir_gguf_writer_finish(w, in, &e), LIR_OK, "%s", e.msg);
    lir_gguf_writer_free(w);

    struct lir_quantize_params p = lir_quantize_params_default();
    p.ftype = LIR_FTYPE_MOSTLY_Q4_0;
    p.n_threads = 4;
    cr_assert_eq(lir_quantize_model(in, out, &p, NULL, NULL, NULL, err, sizeof err), LIR_EUNSUPPORTED);
    cr_assert(strstr(err, "b.weight"), "%s", err);
    p.allow_requantize = true;
    cr_assert_eq(lir_quantize_model(in, out, &p, NULL, NULL, NULL, err, sizeof err), LIR_OK, "%s", err);

    lir_gguf *gi, *go;
    cr_assert_eq(lir_gguf_open(in, &gi, NULL), LIR_OK);
    cr_assert_eq(lir_gguf_open(out, &go, NULL), LIR_OK);
    cr_assert_eq(lir_gguf_alignment(go), 1);
    const struct { const char *name; int32_t type; } want[] = {
        {"c.bias", LIR_TYPE_F32}, {"a.weight", LIR_TYPE_Q4_0}, {"b.weight", LIR_TYPE_Q4_0},
        {"d.weight", LIR_TYPE_Q4_0}, {"e.weight", LIR_TYPE_F16}, {"f_norm.weight", LIR_TYPE_F32},
    };
    for (int i = 0; i < 6; i++) {
        const struct lir_gguf_tensor *t = lir_gguf_tensor(go, i);
        cr_assert_str_eq(name_of(t), want[i].name);
        cr_assert_eq(t->type, want[i].type, "%s: %s", want[i].name, lir_type_name(t->type));
    }
    /* raw values, not renderings: f64 and i64 keep every bit */
    for (int64_t i = 0; i < lir_gguf_n_kv(gi); i++) {
        lir_gguf_str k = lir_gguf_key(gi, i);
        char key[64], a[512], b[512];
        snprintf(key, sizeof key, "%.*s", (int)k.len, k.ptr);
        int64_t j = lir_gguf_find_key(go, key);
        cr_assert(j >= 0, "%s", key);
        lir_gguf_str kj = lir_gguf_key(go, j);
        enum lir_gguf_vtype vt = lir_gguf_kv_type(gi, i);
        cr_assert_eq(vt, lir_gguf_kv_type(go, j), "%s", key);
        static const size_t sz[LIR_GGUF_VTYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
        if (sz[vt]) cr_assert(!memcmp(k.ptr + k.len + 4, kj.ptr + kj.len + 4, sz[vt]), "%s raw value", key);
        lir_gguf_kv_to_string(gi, i, a, sizeof a);
        lir_gguf_kv_to_string(go, j, b, sizeof b);
        cr_assert_str_eq(a, b, "%s", key);
    }
    const double *d = lir_gguf_arr_data(go, "k.arr_f64");
    double d0;
    memcpy(&d0, d, 8);
    cr_assert(d0 == 1.0 / 3.0);
    cr_assert_eq(lir_gguf_arr_str(go, "k.arr_str", 2).len, 4);
    lir_gguf_close(gi);
    lir_gguf_close(go);
    check_file(in, out, LIR_FTYPE_MOSTLY_Q4_0, false, false, GGML_BYTES);

    /* a string holding a NUL byte cannot go through the writer: refused, nothing written */
    FILE *fp = fopen(in, "r+b");
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, fp);
    char *at = memmem(buf, n, "h\xc3\xa9llo", 6);
    cr_assert(at);
    fseek(fp, (long)(at - buf + 1), SEEK_SET);
    fputc(0, fp);
    fclose(fp);
    unlink(out);
    cr_assert_eq(lir_quantize_model(in, out, &p, NULL, NULL, NULL, err, sizeof err), LIR_EUNSUPPORTED);
    cr_assert(strstr(err, "k.str") && strstr(err, "NUL"), "%s", err);
    cr_assert(!exists(out));
    unlink(in);
}

/* Every malformed file of the GGUF reader's corpus: a clean error, nothing written. */
Test(quantize_model, malformed_corpus, .timeout = 60) {
    char dir[512], path[1024], out[256], err[512];
    snprintf(dir, sizeof dir, "%s/tests/gguf/corpus", LIR_SOURCE_DIR);
    path_of(out, sizeof out, "corpus-out");
    DIR *d = opendir(dir);
    cr_assert(d, "%s", dir);
    struct dirent *de;
    int n = 0;
    struct lir_quantize_params p = lir_quantize_params_default();
    p.allow_requantize = true;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        enum lir_status s = lir_quantize_model(path, out, &p, NULL, NULL, NULL, err, sizeof err);
        cr_assert(s != LIR_OK, "%s: accepted", de->d_name);
        cr_assert(err[0], "%s: no message", de->d_name);
        cr_assert(!exists(out), "%s: output written", de->d_name);
        n++;
    }
    closedir(d);
    cr_assert_gt(n, 50);
}

/* NaN or infinity in a tensor to convert: refused as llama.cpp's loader does, nothing written;
 * a tensor copied as it is (F32 target) is not looked at. */
Test(quantize_model, non_finite_input_refused, .timeout = 30) {
    char in[256], out[256], err[512];
    path_of(in, sizeof in, "nan-in");
    path_of(out, sizeof out, "nan-out");
    make_model(in, false, 256);
    const float bad[2] = {NAN, INFINITY};
    for (int k = 0; k < 2; k++) {
        lir_gguf *g;
        cr_assert_eq(lir_gguf_open(in, &g, NULL), LIR_OK);
        const struct lir_gguf_tensor *t = lir_gguf_find_tensor(g, "blk.5.ffn_up.weight");
        long off = (long)(lir_gguf_data_offset(g) + t->offset) + 4 * (256 * 17 + 3); /* row 17 */
        lir_gguf_close(g);
        FILE *f = fopen(in, "r+b");
        fseek(f, off, SEEK_SET);
        fwrite(&bad[k], 4, 1, f);
        fclose(f);
        cr_assert_eq(quantize(in, out, LIR_FTYPE_MOSTLY_Q4_K_M, NULL, err), LIR_EFORMAT);
        cr_assert(strstr(err, "blk.5.ffn_up.weight") && strstr(err, "row 17"), "%s", err);
        cr_assert(!exists(out));
        cr_assert_eq(quantize(in, out, LIR_FTYPE_ALL_F32, NULL, err), LIR_OK, "%s", err);
        unlink(out);
    }
    unlink(in);
    unlink(out);
}
