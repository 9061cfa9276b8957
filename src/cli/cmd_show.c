/* cmd_show.c — `lir show`, as `ollama show`: what a model file is (architecture, parameters,
 * quantization, context and embedding length), what it can do, its chat template, licence and
 * metadata; plus lir's own view (tensor types, memory needed at a context size).
 *
 *   lir show MODEL [--json] [--ctx N] [--batch N] [--gpu-layers N] [--models-dir D]
 *            [--template | --license | --metadata]   one section only, as `ollama show --template`
 *     MODEL: a GGUF path or a name/id in the models directory (lir run --help).
 *     --json: one object; the fields of earlier versions are kept (path, arch, name,
 *     gguf_version, file_size, n_params, n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_head_kv,
 *     head_dim, n_ff, rope_base, rms_eps, tied_output, types, memory) and Ollama's are added:
 *     architecture, parameters ("1.2B"), quantization (general.file_type's name, or the most
 *     common tensor type), context_length, embedding_length, block_count, capabilities,
 *     template (or null), license (or null), metadata (every GGUF key but the vocabulary's
 *     tables and the template: strings, numbers, booleans as such; arrays of up to 64 entries in
 *     full, longer ones as {"type": "array", "length": n}).
 *     --gpu-layers N: the memory as a context with gpu_layers N would split it (lir.h: the last
 *     N layers, everything for -1 or > n_layer) between RAM and VRAM on one GPU; "memory" then
 *     has gpu_layers and vram_weights, vram_kv_cache, vram_compute, vram_total (0 without).
 * Exit 0 ok, 1 the model cannot be read, 2 usage. */
#include "cli/cli.h"
#include "gguf/gguf.h"
#include "model/model.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static void fmt_bytes(uint64_t b, char *buf, size_t n) {
    const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    double v = (double)b;
    int i = 0;
    while (v >= 1024 && i < 4) { v /= 1024; i++; }
    snprintf(buf, n, i ? "%.2f %s" : "%.0f %s", v, u[i]);
}

/* "11.2M", "1.2B", as Ollama prints parameter counts. */
static void fmt_params(uint64_t p, char *buf, size_t n) {
    if (p >= 1000000000ull) snprintf(buf, n, "%.1fB", (double)p / 1e9);
    else if (p >= 1000000ull) snprintf(buf, n, "%.1fM", (double)p / 1e6);
    else if (p >= 1000ull) snprintf(buf, n, "%.1fK", (double)p / 1e3);
    else snprintf(buf, n, "%llu", (unsigned long long)p);
}

/* A string key, or NULL. The result points into the mapped file: copy it (len bytes). */
static bool str_key(const lir_gguf *g, const char *key, lir_gguf_str *out) { return lir_gguf_get_str(g, key, out, NULL); }

/* A metadata value as JSON: strings, numbers and booleans as themselves; arrays of up to 64
 * numbers or strings in full, longer ones as {"type": "array", "length": n}. */
static json_t *kv_json(const lir_gguf *g, int64_t i, const char *key) {
    enum lir_gguf_vtype t = lir_gguf_kv_type(g, i);
    lir_gguf_str sv;
    int32_t i32;
    uint64_t u64;
    float f;
    bool b;
    switch (t) {
    case LIR_GGUF_STRING:
        if (!lir_gguf_get_str(g, key, &sv, NULL)) return json_null();
        json_t *js = json_stringn(sv.ptr, sv.len);
        return js ? js : json_stringn_nocheck(sv.ptr, sv.len); /* not UTF-8: the bytes as they are */
    case LIR_GGUF_BOOL: return lir_gguf_get_bool(g, key, &b, NULL) ? json_boolean(b) : json_null();
    case LIR_GGUF_FLOAT32:
        return lir_gguf_get_f32(g, key, &f, NULL) ? json_real(f) : json_null();
    case LIR_GGUF_ARRAY: {
        enum lir_gguf_vtype et;
        uint64_t n = 0;
        if (!lir_gguf_get_arr(g, key, &et, &n, NULL)) return json_null();
        if (n > 64 || et == LIR_GGUF_ARRAY || et == LIR_GGUF_FLOAT64 || et == LIR_GGUF_BOOL)
            return json_pack("{s:s,s:I}", "type", "array", "length", (json_int_t)n);
        json_t *a = json_array();
        const unsigned char *d = lir_gguf_arr_data(g, key);
        for (uint64_t k = 0; a && k < n; k++) {
            json_t *e = NULL;
            if (et == LIR_GGUF_STRING) {
                lir_gguf_str es = lir_gguf_arr_str(g, key, k);
                e = json_stringn(es.ptr, es.len);
            } else if (d) {
                union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32; float f32;
                        uint64_t u64; int64_t i64; } v;
                static const size_t sz[] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };
                memcpy(&v, d + k * sz[et], sz[et]);
                e = et == LIR_GGUF_UINT8 ? json_integer(v.u8) : et == LIR_GGUF_INT8 ? json_integer(v.i8)
                  : et == LIR_GGUF_UINT16 ? json_integer(v.u16) : et == LIR_GGUF_INT16 ? json_integer(v.i16)
                  : et == LIR_GGUF_UINT32 ? json_integer(v.u32) : et == LIR_GGUF_INT32 ? json_integer(v.i32)
                  : et == LIR_GGUF_FLOAT32 ? json_real(v.f32) : et == LIR_GGUF_UINT64 ? json_integer((json_int_t)v.u64)
                  : json_integer(v.i64);
            }
            json_array_append_new(a, e ? e : json_null());
        }
        return a;
    }
    default:
        if (lir_gguf_get_i32(g, key, &i32, NULL)) return json_integer(i32);
        if (lir_gguf_get_u64(g, key, &u64, NULL)) return json_integer((json_int_t)u64);
        { /* other widths (f64, negative i64): the text form */
            char val[128];
            lir_gguf_kv_to_string(g, i, val, sizeof val);
            double x = strtod(val, NULL);
            return json_real(x);
        }
    }
}

/* Keys whose value is a large table (the vocabulary): left out of "metadata". */
static bool bulky(const char *key, size_t len) {
    static const char *const skip[] = { "tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type",
                                        "tokenizer.ggml.merges", "tokenizer.chat_template", NULL };
    for (const char *const *s = skip; *s; s++)
        if (strlen(*s) == len && !memcmp(*s, key, len)) return true;
    return false;
}

int lir_cli_show(int argc, char **argv) {
    const char *model = NULL, *dir_flag = NULL, *only = NULL;
    int32_t n_ctx = 0, n_batch = 0, gpu_layers = 0;
    bool json = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            puts("usage: lir show MODEL [--json] [--ctx N] [--batch N] [--gpu-layers N] [--models-dir D]\n"
                 "                [--template|--license|--metadata]\n"
                 "  architecture, parameters, quantization, context and embedding length, capabilities,\n"
                 "  chat template, licence and metadata of a GGUF model; tensor types and the memory it\n"
                 "  needs at context N (default: its training context) with batch N (default 256), split\n"
                 "  between RAM and VRAM with N layers on a GPU (--gpu-layers: -1 = all; default 0)");
            return 0;
        }
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) { if (!v) lir_cli_die(2, "%s needs a value", a); model = v; i++; }
        else if (!strcmp(a, "--models-dir")) { if (!v) lir_cli_die(2, "%s needs a value", a); dir_flag = v; i++; }
        else if (!strcmp(a, "--ctx") || !strcmp(a, "-c")) { n_ctx = (int32_t)lir_cli_arg_long(a, v, 1, 1 << 24); i++; }
        else if (!strcmp(a, "--batch") || !strcmp(a, "-b")) { n_batch = (int32_t)lir_cli_arg_long(a, v, 1, 65536); i++; }
        else if (!strcmp(a, "--gpu-layers") || !strcmp(a, "-ngl")) { gpu_layers = (int32_t)lir_cli_arg_long(a, v, -1, 100000); i++; }
        else if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--template") || !strcmp(a, "--license") || !strcmp(a, "--metadata")) only = a + 2;
        else if (a[0] == '-' && a[1]) lir_cli_die(2, "show: unknown option '%s' (lir show --help)", a);
        else if (!model) model = a;
        else lir_cli_die(2, "show: unexpected argument '%s'", a);
    }
    if (!model) lir_cli_die(2, "show: no model given (lir show MODEL)");
    char dbuf[4096];
    struct lir_installed_model im;
    lir_cli_find_model(model, lir_cli_models_dir(dir_flag, dbuf, sizeof dbuf), &im);
    lir_model *m = lir_cli_load_model(im.path);
    const lir_gguf *g = m->gguf;
    struct lir_model_info mi;
    lir_model_get_info(m, &mi);
    if (!n_ctx) n_ctx = mi.n_ctx_train;
    if (!n_batch) n_batch = 256;
    struct lir_mem_estimate me;
    struct lir_context_params cp = lir_context_params_default();
    cp.n_ctx = n_ctx;
    cp.n_batch = n_batch;
    cp.gpu_layers = gpu_layers;
    lir_model_estimate_context(m, &cp, &me); /* without gpu_layers: lir_model_estimate_memory's figures */

    uint64_t cnt[LIR_TYPE_COUNT] = { 0 }, bytes[LIR_TYPE_COUNT] = { 0 };
    int top = -1;
    for (int64_t i = 0; i < lir_gguf_n_tensors(g); i++) {
        const struct lir_gguf_tensor *t = lir_gguf_tensor(g, i);
        if (t->type >= 0 && t->type < LIR_TYPE_COUNT) { cnt[t->type]++; bytes[t->type] += t->size; }
    }
    for (int t = 0; t < LIR_TYPE_COUNT; t++)
        if (cnt[t] && (top < 0 || bytes[t] > bytes[top])) top = t;
    char quant[32];
    uint32_t ft;
    if (lir_gguf_get_u32(g, "general.file_type", &ft, NULL) && strcmp(lir_ftype_name((enum lir_ftype)ft), "unknown"))
        snprintf(quant, sizeof quant, "%s", lir_ftype_name((enum lir_ftype)ft));
    else snprintf(quant, sizeof quant, "%s", top >= 0 ? lir_type_name(top) : "unknown");
    char params[32];
    fmt_params(mi.n_params, params, sizeof params);
    const char *tmpl = lir_model_chat_template(m);
    lir_gguf_str lic = { 0 };
    bool has_lic = str_key(g, "general.license", &lic);
    char key[96];
    int32_t pooling = 0;
    snprintf(key, sizeof key, "%s.pooling_type", mi.arch);
    uint32_t pu;
    if (lir_gguf_get_u32(g, key, &pu, NULL)) pooling = (int32_t)pu;
    bool encoder = !strcmp(mi.arch, "bert") || !strcmp(mi.arch, "nomic-bert");
    const char *caps[3];
    int n_caps = 0;
    if (!encoder) caps[n_caps++] = "completion";
    if (encoder || pooling > 0) caps[n_caps++] = "embedding";
    if (tmpl) caps[n_caps++] = "chat";

    if (only && !json) { /* one section, raw */
        if (!strcmp(only, "template")) { if (tmpl) fputs(tmpl, stdout); }
        else if (!strcmp(only, "license")) { if (has_lic) printf("%.*s\n", (int)lic.len, lic.ptr); }
        else {
            for (int64_t i = 0; i < lir_gguf_n_kv(g); i++) {
                lir_gguf_str k = lir_gguf_key(g, i);
                if (bulky(k.ptr, k.len)) continue;
                char val[512];
                lir_gguf_kv_to_string(g, i, val, sizeof val);
                printf("%-40.*s %s\n", (int)k.len, k.ptr, val);
            }
        }
        lir_model_free(m);
        return 0;
    }
    if (json) {
        json_t *o = json_object(), *types = json_object(), *meta = json_object(), *cap = json_array();
        if (!o || !types || !meta || !cap) lir_cli_die(1, "out of memory");
        for (int t = 0; t < LIR_TYPE_COUNT; t++)
            if (cnt[t])
                json_object_set_new(types, lir_type_name(t), json_pack("{s:I,s:I}", "tensors", (json_int_t)cnt[t], "bytes",
                                                                       (json_int_t)bytes[t]));
        for (int64_t i = 0; i < lir_gguf_n_kv(g); i++) {
            lir_gguf_str k = lir_gguf_key(g, i);
            if (bulky(k.ptr, k.len)) continue;
            char kz[256];
            snprintf(kz, sizeof kz, "%.*s", (int)(k.len < 255 ? k.len : 255), k.ptr);
            json_object_set_new(meta, kz, kv_json(g, i, kz));
        }
        for (int i = 0; i < n_caps; i++) json_array_append_new(cap, json_string(caps[i]));
        json_object_set_new(o, "path", json_string(im.path));
        json_object_set_new(o, "arch", json_string(mi.arch));
        json_object_set_new(o, "name", json_string(mi.name));
        json_object_set_new(o, "gguf_version", json_integer(lir_gguf_version(g)));
        json_object_set_new(o, "file_size", json_integer((json_int_t)mi.file_size));
        json_object_set_new(o, "n_params", json_integer((json_int_t)mi.n_params));
        json_object_set_new(o, "n_vocab", json_integer(mi.n_vocab));
        json_object_set_new(o, "n_ctx_train", json_integer(mi.n_ctx_train));
        json_object_set_new(o, "n_embd", json_integer(mi.n_embd));
        json_object_set_new(o, "n_layer", json_integer(mi.n_layer));
        json_object_set_new(o, "n_head", json_integer(mi.n_head));
        json_object_set_new(o, "n_head_kv", json_integer(mi.n_head_kv));
        json_object_set_new(o, "head_dim", json_integer(mi.head_dim));
        json_object_set_new(o, "n_ff", json_integer(mi.n_ff));
        json_object_set_new(o, "rope_base", json_real(m->hp.rope_base));
        json_object_set_new(o, "rms_eps", json_real(m->hp.rms_eps));
        json_object_set_new(o, "tied_output", json_boolean(m->tied_output));
        json_object_set_new(o, "types", types);
        json_t *mem = json_pack("{s:i,s:i,s:I,s:I,s:I,s:I}", "n_ctx", n_ctx, "n_batch", n_batch, "weights",
                                (json_int_t)me.weights, "kv_cache", (json_int_t)me.kv_cache, "compute",
                                (json_int_t)me.compute, "total", (json_int_t)me.total);
        json_object_set_new(mem, "gpu_layers", json_integer(gpu_layers));
        json_object_set_new(mem, "vram_weights", json_integer((json_int_t)me.vram_weights));
        json_object_set_new(mem, "vram_kv_cache", json_integer((json_int_t)me.vram_kv_cache));
        json_object_set_new(mem, "vram_compute", json_integer((json_int_t)me.vram_compute));
        json_object_set_new(mem, "vram_total", json_integer((json_int_t)me.vram_total));
        json_object_set_new(o, "memory", mem);
        json_object_set_new(o, "architecture", json_string(mi.arch));
        json_object_set_new(o, "parameters", json_string(params));
        json_object_set_new(o, "quantization", json_string(quant));
        json_object_set_new(o, "context_length", json_integer(mi.n_ctx_train));
        json_object_set_new(o, "embedding_length", json_integer(mi.n_embd));
        json_object_set_new(o, "block_count", json_integer(mi.n_layer));
        json_object_set_new(o, "capabilities", cap);
        json_object_set_new(o, "template", tmpl ? json_string(tmpl) : json_null());
        json_object_set_new(o, "license", has_lic ? json_stringn(lic.ptr, lic.len) : json_null());
        json_object_set_new(o, "metadata", meta);
        char *d = json_dumps(o, JSON_COMPACT);
        if (!d) lir_cli_die(1, "out of memory");
        puts(d);
        free(d);
        json_decref(o);
    } else {
        char b1[32], b2[32], b3[32], b4[32], b5[32];
        printf("  Model\n");
        printf("    %-20s %s\n", "architecture", mi.arch);
        printf("    %-20s %s\n", "name", mi.name[0] ? mi.name : "(none)");
        printf("    %-20s %s (%llu)\n", "parameters", params, (unsigned long long)mi.n_params);
        printf("    %-20s %s\n", "quantization", quant);
        printf("    %-20s %d\n", "context length", mi.n_ctx_train);
        printf("    %-20s %d\n", "embedding length", mi.n_embd);
        printf("    %-20s %d\n", "block count", mi.n_layer);
        printf("    %-20s %d heads, %d KV heads, head dim %d, rope base %g%s\n", "attention", mi.n_head, mi.n_head_kv,
               mi.head_dim, m->hp.rope_base, m->rope_freqs.data ? " (llama3 frequency factors)" : "");
        printf("    %-20s %d\n", "feed-forward length", mi.n_ff);
        printf("    %-20s %d\n", "vocabulary", mi.n_vocab);
        printf("    %-20s %s\n", "output", encoder ? "none (encoder: embeddings)"
                                              : m->tied_output ? "tied to token embeddings" : "separate matrix");
        fmt_bytes(mi.file_size, b1, sizeof b1);
        printf("    %-20s %s, GGUF v%u\n", "file", b1, lir_gguf_version(g));
        printf("    %-20s %s\n", "path", im.path);
        printf("\n  Capabilities\n");
        for (int i = 0; i < n_caps; i++) printf("    %s\n", caps[i]);
        printf("\n  Tensors\n");
        for (int t = 0; t < LIR_TYPE_COUNT; t++)
            if (cnt[t]) {
                fmt_bytes(bytes[t], b2, sizeof b2);
                printf("    %-20s %llu tensors, %s\n", lir_type_name(t), (unsigned long long)cnt[t], b2);
            }
        fmt_bytes(me.weights, b2, sizeof b2);
        fmt_bytes(me.kv_cache, b3, sizeof b3);
        fmt_bytes(me.compute, b4, sizeof b4);
        fmt_bytes(me.total, b5, sizeof b5);
        if (gpu_layers == 0) printf("\n  Memory at context %d, batch %d (CPU)\n", n_ctx, n_batch);
        else printf("\n  Memory at context %d, batch %d, %d GPU layers: RAM\n", n_ctx, n_batch, gpu_layers);
        printf("    %-20s %s (mapped from the file)\n    %-20s %s (f16)\n    %-20s %s\n    %-20s %s\n", "weights", b2,
               "KV cache", b3, "compute", b4, "total", b5);
        if (gpu_layers != 0) {
            fmt_bytes(me.vram_weights, b2, sizeof b2);
            fmt_bytes(me.vram_kv_cache, b3, sizeof b3);
            fmt_bytes(me.vram_compute, b4, sizeof b4);
            fmt_bytes(me.vram_total, b5, sizeof b5);
            printf("  VRAM\n    %-20s %s\n    %-20s %s (f16)\n    %-20s %s\n    %-20s %s\n", "weights", b2,
                   "KV cache", b3, "compute", b4, "total", b5);
        }
        if (tmpl) {
            size_t tl = strlen(tmpl);
            printf("\n  Template\n    %.*s%s\n", (int)(tl > 300 ? 300 : tl), tmpl, tl > 300 ? " …(lir show --template)" : "");
        }
        if (has_lic) {
            printf("\n  License\n    %.*s%s\n", (int)(lic.len > 300 ? 300 : lic.len), lic.ptr,
                   lic.len > 300 ? " …(lir show --license)" : "");
        }
        printf("\n");
    }
    lir_model_free(m);
    return 0;
}
