/* quantize_model.c — `lir quantize`: requantize a GGUF model to another storage type, as
 * llama.cpp's llama-quantize does (src/llama-quant.cpp), without an importance matrix.
 *
 * Contract (include/lir.h, lir_quantize_model): every key/value of the input is copied (split.*
 * keys dropped as llama.cpp does, general.file_type set to the target's llama_ftype,
 * general.quantization_version = 2 added), tensors keep their order, names and shapes, and the
 * input's alignment is kept. Each tensor's type follows llama.cpp's llama_tensor_get_type:
 *   - tensors llama.cpp never quantizes (1-D, names not ending in "weight", *_norm.weight,
 *     position_embd/token_types, ffn_gate_inp, ...: tensor_allows_quantization) are copied as
 *     they are;
 *   - for a quantized target, the mix rules of llama_tensor_get_type_impl (output / tied
 *     token_embd -> Q6_K, attn_v / ffn_down bumps of the _S/_M/_L mixes, Q2_K/Q3_K rules, GQA,
 *     8-expert and 70B cases) unless pure, then the fallback for rows that are not a multiple of
 *     the block size (Q2_K/Q3_K -> Q4_0, Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, then F16);
 *   - a float target (F32/F16/BF16) applies to every quantizable tensor, no rules.
 * The layer counters of the mix rules advance in llama.cpp's tensor order (by layer number,
 * then by name), not the file's. A tensor already in its target type is copied byte for byte;
 * any other is dequantized to f32 row by row and quantized with the scalar reference quantizers
 * (which are ggml's quantize_row_*_ref bit for bit: what llama-quantize writes without an
 * imatrix). Converting a tensor that is already quantized needs allow_requantize, as in
 * llama.cpp; all such refusals happen before anything is written.
 *
 * Memory: the input is mapped and its pages are released once read; the writer streams each
 * tensor in chunks of whole rows (at most about LIR_GGUF_WRITE_CHUNK bytes); each worker thread
 * holds one f32 row and one source row.
 * Output: the writer writes OUT.tmp.tmp and renames it to OUT.tmp; on success that is renamed to
 * OUT, on any failure or cancel it is removed, so OUT is either the old file or the whole new one. */
#include "lir.h"
#include "gguf/gguf.h"
#include "quant/quant.h"
#include "util/util.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_THREADS 64
#define MAX_NAME 63 /* ggml's GGML_MAX_NAME - 1 */

/* ---------------------------------------------------------------- names */

static const struct {
    const char *name;
    enum lir_ftype ftype;
    int32_t type; /* llama_ftype_get_default_type */
} ftypes[] = {
    {"F32", LIR_FTYPE_ALL_F32, LIR_TYPE_F32},       {"F16", LIR_FTYPE_MOSTLY_F16, LIR_TYPE_F16},
    {"BF16", LIR_FTYPE_MOSTLY_BF16, LIR_TYPE_BF16}, {"Q8_0", LIR_FTYPE_MOSTLY_Q8_0, LIR_TYPE_Q8_0},
    {"Q4_0", LIR_FTYPE_MOSTLY_Q4_0, LIR_TYPE_Q4_0}, {"Q4_1", LIR_FTYPE_MOSTLY_Q4_1, LIR_TYPE_Q4_1},
    {"Q5_0", LIR_FTYPE_MOSTLY_Q5_0, LIR_TYPE_Q5_0}, {"Q5_1", LIR_FTYPE_MOSTLY_Q5_1, LIR_TYPE_Q5_1},
    {"Q2_K", LIR_FTYPE_MOSTLY_Q2_K, LIR_TYPE_Q2_K}, {"Q3_K_S", LIR_FTYPE_MOSTLY_Q3_K_S, LIR_TYPE_Q3_K},
    {"Q3_K_M", LIR_FTYPE_MOSTLY_Q3_K_M, LIR_TYPE_Q3_K}, {"Q3_K_L", LIR_FTYPE_MOSTLY_Q3_K_L, LIR_TYPE_Q3_K},
    {"Q4_K_S", LIR_FTYPE_MOSTLY_Q4_K_S, LIR_TYPE_Q4_K}, {"Q4_K_M", LIR_FTYPE_MOSTLY_Q4_K_M, LIR_TYPE_Q4_K},
    {"Q5_K_S", LIR_FTYPE_MOSTLY_Q5_K_S, LIR_TYPE_Q5_K}, {"Q5_K_M", LIR_FTYPE_MOSTLY_Q5_K_M, LIR_TYPE_Q5_K},
    {"Q6_K", LIR_FTYPE_MOSTLY_Q6_K, LIR_TYPE_Q6_K},
};
#define N_FTYPES (sizeof ftypes / sizeof ftypes[0])

/* llama-quantize's aliases */
static const struct { const char *name; enum lir_ftype ftype; } aliases[] = {
    {"Q3_K", LIR_FTYPE_MOSTLY_Q3_K_M}, {"Q4_K", LIR_FTYPE_MOSTLY_Q4_K_M}, {"Q5_K", LIR_FTYPE_MOSTLY_Q5_K_M},
};

enum lir_status lir_ftype_parse(const char *s, enum lir_ftype *out) {
    if (!s || !out) return LIR_EINVAL;
    for (size_t i = 0; i < N_FTYPES; i++)
        if (strcasecmp(s, ftypes[i].name) == 0) { *out = ftypes[i].ftype; return LIR_OK; }
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcasecmp(s, aliases[i].name) == 0) { *out = aliases[i].ftype; return LIR_OK; }
    /* llama-quantize also takes the number */
    char *end;
    errno = 0;
    long v = *s >= '0' && *s <= '9' ? strtol(s, &end, 10) : -1;
    if (v >= 0 && !errno && *end == '\0')
        for (size_t i = 0; i < N_FTYPES; i++)
            if ((long)ftypes[i].ftype == v) { *out = ftypes[i].ftype; return LIR_OK; }
    return LIR_EINVAL;
}

const char *lir_ftype_name(enum lir_ftype t) {
    for (size_t i = 0; i < N_FTYPES; i++)
        if (ftypes[i].ftype == t) return ftypes[i].name;
    return "unknown";
}

const char *lir_ftype_names(void) {
    return "F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K "
           "(aliases Q3_K = Q3_K_M, Q4_K = Q4_K_M, Q5_K = Q5_K_M)";
}

static int32_t ftype_default_type(enum lir_ftype t) {
    for (size_t i = 0; i < N_FTYPES; i++)
        if (ftypes[i].ftype == t) return ftypes[i].type;
    return -1;
}

/* Types a tensor can be written in (Q8_1/Q8_K are activation types only). */
static bool storable(int32_t t) {
    return lir_type_traits_get(t) && t != LIR_TYPE_Q8_1 && t != LIR_TYPE_Q8_K;
}

enum lir_status lir_tensor_type_parse(const char *s, int32_t *out) {
    if (!s || !out) return LIR_EINVAL;
    for (int32_t t = 0; t < LIR_TYPE_COUNT; t++)
        if (storable(t) && strcasecmp(s, lir_type_name(t)) == 0) { *out = t; return LIR_OK; }
    return LIR_EINVAL;
}

const char *lir_tensor_type_name(int32_t t) { return lir_type_name(t); }

struct lir_quantize_params lir_quantize_params_default(void) {
    return (struct lir_quantize_params){
        .ftype = LIR_FTYPE_MOSTLY_Q4_K_M,
        .n_threads = 0,
        .allow_requantize = false,
        .pure = false,
        .output_tensor_type = -1,
        .token_embedding_type = -1,
    };
}

/* ---------------------------------------------------------------- type rules (llama-quant.cpp) */

enum category {
    CAT_OUTPUT, CAT_TOKEN_EMBD, CAT_ATTN_QKV, CAT_ATTN_KV_B, CAT_ATTN_V, CAT_ATTN_K, CAT_ATTN_Q, CAT_ATTN_OUTPUT,
    CAT_FFN_UP, CAT_FFN_GATE, CAT_FFN_DOWN, CAT_OTHER
};

/* tensor_get_category: first match wins, substrings as llama.cpp's find() */
static enum category category_of(const char *n) {
    if (!strcmp(n, "output.weight")) return CAT_OUTPUT;
    if (!strcmp(n, "token_embd.weight") || !strcmp(n, "per_layer_token_embd.weight")) return CAT_TOKEN_EMBD;
    if (strstr(n, "attn_qkv.weight")) return CAT_ATTN_QKV;
    if (strstr(n, "attn_kv_b.weight")) return CAT_ATTN_KV_B;
    if (strstr(n, "attn_v.weight")) return CAT_ATTN_V;
    if (strstr(n, "attn_k.weight")) return CAT_ATTN_K;
    if (strstr(n, "attn_q.weight")) return CAT_ATTN_Q;
    if (strstr(n, "attn_output.weight")) return CAT_ATTN_OUTPUT;
    if (strstr(n, "ffn_up")) return CAT_FFN_UP;
    if (strstr(n, "ffn_gate")) return CAT_FFN_GATE;
    if (strstr(n, "ffn_down")) return CAT_FFN_DOWN;
    return CAT_OTHER;
}

static bool is_attn_v(enum category c) { return c == CAT_ATTN_V || c == CAT_ATTN_QKV || c == CAT_ATTN_KV_B; }

/* ggml_n_dims: dimensions up to the last one that is not 1 (at least 1). */
static int ggml_n_dims(const struct lir_gguf_tensor *t) {
    for (int d = LIR_GGUF_MAX_DIMS - 1; d >= 1; d--)
        if (t->ne[d] > 1) return d + 1;
    return 1;
}

/* tensor_allows_quantization (params->only_copy is not offered; leave_output is
 * !quantize_output_tensor). */
static bool allows_quantization(const char *n, const struct lir_gguf_tensor *t, bool leave_output) {
    static const char *const never[] = {
        "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel", "per_layer_model_proj",
        "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight", "indexer.q_proj.weight",
        "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight",
        "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight", "time_mix_a0.weight",
        "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight", "time_mix_g2.weight",
        "time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight", "attn_rel_b.weight",
        ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd", ".patch_merger",
        "a.rvq.codebook", "mm.a.code_embd",
    };
    if (ggml_n_dims(t) < 2) return false;
    size_t len = strlen(n);
    if (len < 6 || strcmp(n + len - 6, "weight") != 0) return false;
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        if (strstr(n, never[i])) return false;
    if (!strcmp(n, "position_embd.weight") || !strcmp(n, "token_types.weight")) return false;
    if (leave_output && !strcmp(n, "output.weight")) return false;
    return true;
}

/* What the rules read from the model (llama.cpp reads them from its hparams). */
struct mix {
    enum lir_ftype ftype;
    const struct lir_quantize_params *p;
    bool tied;           /* no output.weight */
    bool falcon, is_70b;
    int n_gqa, n_expert;
    int n_attn_v, i_attn_v, n_layer, i_ffn_down, i_ffn_gate, i_ffn_up;
    int n_fallback;
};

static bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

/* layer_info: the counter, or for MoE models the layer number in the name. */
static enum lir_status layer_info(const struct mix *m, int counter, const char *name, int *il, lir_err *e) {
    *il = counter;
    if (m->n_expert > 1) {
        if (sscanf(name, "blk.%d.", il) != 1)
            return lir__errf(e, LIR_EFORMAT, "lir_quantize_model: cannot find the layer of tensor '%s'", name);
        if (*il < 0 || *il >= m->n_layer)
            return lir__errf(e, LIR_EFORMAT, "lir_quantize_model: tensor '%s': layer %d outside [0, %d)", name, *il,
                             m->n_layer);
    }
    return LIR_OK;
}

/* llama_tensor_get_type_impl for the ftypes lir offers (no imatrix). */
static enum lir_status type_impl(struct mix *m, int32_t t, const char *name, const struct lir_gguf_tensor *ten,
                                 enum category cat, int32_t *out, lir_err *e) {
    const enum lir_ftype f = m->ftype;
    enum lir_status s;
    int il;
    if (cat == CAT_OUTPUT || (m->tied && cat == CAT_TOKEN_EMBD)) {
        if (m->p->output_tensor_type >= 0) t = m->p->output_tensor_type;
        else if (m->falcon || ten->ne[0] % lir_type_traits_get(t)->blck_size != 0) t = LIR_TYPE_Q8_0;
        else if (t != LIR_TYPE_Q8_0) t = LIR_TYPE_Q6_K;
    } else if (cat == CAT_TOKEN_EMBD) {
        if (m->p->token_embedding_type >= 0) t = m->p->token_embedding_type;
    } else if (is_attn_v(cat)) {
        if (f == LIR_FTYPE_MOSTLY_Q2_K) t = m->n_gqa >= 4 ? LIR_TYPE_Q4_K : LIR_TYPE_Q3_K;
        else if (f == LIR_FTYPE_MOSTLY_Q3_K_M) t = m->i_attn_v < 2 ? LIR_TYPE_Q5_K : LIR_TYPE_Q4_K;
        else if (f == LIR_FTYPE_MOSTLY_Q3_K_L) t = LIR_TYPE_Q5_K;
        else if ((f == LIR_FTYPE_MOSTLY_Q4_K_M || f == LIR_FTYPE_MOSTLY_Q5_K_M) && use_more_bits(m->i_attn_v, m->n_attn_v))
            t = LIR_TYPE_Q6_K;
        else if (f == LIR_FTYPE_MOSTLY_Q4_K_S && m->i_attn_v < 4) t = LIR_TYPE_Q5_K;
        if (m->is_70b && (t == LIR_TYPE_Q3_K || t == LIR_TYPE_Q4_K)) t = LIR_TYPE_Q5_K;
        if (m->n_expert == 8) t = LIR_TYPE_Q8_0;
        ++m->i_attn_v;
    } else if (cat == CAT_ATTN_K) {
        if (m->n_expert == 8) t = LIR_TYPE_Q8_0;
    } else if (cat == CAT_FFN_DOWN) {
        if ((s = layer_info(m, m->i_ffn_down, name, &il, e))) return s;
        const int n = m->n_layer;
        if (f == LIR_FTYPE_MOSTLY_Q2_K) t = LIR_TYPE_Q3_K;
        else if (f == LIR_FTYPE_MOSTLY_Q3_K_M)
            t = il < n / 16 ? LIR_TYPE_Q5_K : !m->falcon || use_more_bits(il, n) ? LIR_TYPE_Q4_K : LIR_TYPE_Q3_K;
        else if (f == LIR_FTYPE_MOSTLY_Q3_K_L) t = m->falcon ? LIR_TYPE_Q4_K : LIR_TYPE_Q5_K;
        else if (f == LIR_FTYPE_MOSTLY_Q4_K_M) {
            if (m->falcon) t = il < n / 16 ? LIR_TYPE_Q6_K : use_more_bits(il, n) ? LIR_TYPE_Q5_K : LIR_TYPE_Q4_K;
            else if (use_more_bits(il, n)) t = LIR_TYPE_Q6_K;
        } else if (f == LIR_FTYPE_MOSTLY_Q5_K_M && use_more_bits(il, n)) t = LIR_TYPE_Q6_K;
        else if (f == LIR_FTYPE_MOSTLY_Q4_K_S && !m->falcon && il < n / 8) t = LIR_TYPE_Q5_K;
        ++m->i_ffn_down;
    } else if (cat == CAT_ATTN_OUTPUT) {
        if (!m->falcon) {
            if (m->n_expert == 8) {
                if (f == LIR_FTYPE_MOSTLY_Q2_K || f == LIR_FTYPE_MOSTLY_Q3_K_S || f == LIR_FTYPE_MOSTLY_Q3_K_M ||
                    f == LIR_FTYPE_MOSTLY_Q4_K_S || f == LIR_FTYPE_MOSTLY_Q4_K_M)
                    t = LIR_TYPE_Q5_K;
            } else {
                if (f == LIR_FTYPE_MOSTLY_Q2_K) t = LIR_TYPE_Q3_K;
                else if (f == LIR_FTYPE_MOSTLY_Q3_K_M) t = LIR_TYPE_Q4_K;
                else if (f == LIR_FTYPE_MOSTLY_Q3_K_L) t = LIR_TYPE_Q5_K;
            }
        } else if (f == LIR_FTYPE_MOSTLY_Q3_K_L) t = LIR_TYPE_Q4_K;
    } else if (cat == CAT_FFN_GATE) {
        if ((s = layer_info(m, m->i_ffn_gate, name, &il, e))) return s;
        ++m->i_ffn_gate;
    } else if (cat == CAT_FFN_UP) {
        if ((s = layer_info(m, m->i_ffn_up, name, &il, e))) return s;
        ++m->i_ffn_up;
    }
    /* (llama.cpp's ATTN_QKV branch is unreachable: attn_qkv takes the attn_v rules above) */
    *out = t;
    return LIR_OK;
}

/* tensor_type_fallback for the types lir has. */
static int32_t fallback(struct mix *m, int32_t t, int64_t ne0) {
    const struct lir_type_traits *tr = lir_type_traits_get(t);
    if (ne0 % tr->blck_size == 0) return t;
    m->n_fallback++;
    switch (t) {
    case LIR_TYPE_Q2_K: case LIR_TYPE_Q3_K: t = LIR_TYPE_Q4_0; break;
    case LIR_TYPE_Q4_K: t = LIR_TYPE_Q5_0; break;
    case LIR_TYPE_Q5_K: t = LIR_TYPE_Q5_1; break;
    case LIR_TYPE_Q6_K: t = LIR_TYPE_Q8_0; break;
    default: break; /* a 32-block type: F16 below */
    }
    if (ne0 % lir_type_traits_get(t)->blck_size != 0) t = LIR_TYPE_F16;
    return t;
}

/* llama_tensor_get_type: the type tensor `name` is written in. */
static enum lir_status tensor_type(struct mix *m, const char *name, const struct lir_gguf_tensor *ten, int32_t *out,
                                   lir_err *e) {
    const struct lir_quantize_params *p = m->p;
    const enum category cat = category_of(name);
    int32_t t = ftype_default_type(m->ftype);
    if (!allows_quantization(name, ten, p->leave_output_tensor)) { *out = ten->type; return LIR_OK; }
    if (p->token_embedding_type >= 0 && cat == CAT_TOKEN_EMBD) t = p->token_embedding_type;
    else if (p->output_tensor_type >= 0 && cat == CAT_OUTPUT) t = p->output_tensor_type;
    else if (lir_type_traits_get(t)->is_quantized) {
        if (!p->pure) {
            enum lir_status s = type_impl(m, t, name, ten, cat, &t, e);
            if (s) return s;
        }
        t = fallback(m, t, ten->ne[0]);
    }
    if (ten->ne[0] % lir_type_traits_get(t)->blck_size != 0) /* an override that does not fit */
        return lir__errf(e, LIR_EINVAL, "lir_quantize_model: tensor '%s': rows of %" PRId64 " are not a multiple of "
                         "the block size %d of %s", name, ten->ne[0], lir_type_traits_get(t)->blck_size,
                         lir_type_name(t));
    *out = t;
    return LIR_OK;
}

/* ---------------------------------------------------------------- metadata */

/* GGUF string (not NUL-terminated, may hold NUL bytes) as a C string; NULL if it holds a NUL
 * (the writer takes C strings) or on allocation failure (*nul tells which). */
static char *cstr(lir_gguf_str s, bool *nul) {
    *nul = s.len > 0 && memchr(s.ptr, '\0', (size_t)s.len) != NULL;
    return *nul ? NULL : strndup(s.ptr, (size_t)s.len);
}

static enum lir_status copy_array(const lir_gguf *g, lir_gguf_writer *w, const char *key, lir_err *e) {
    enum lir_gguf_vtype et;
    uint64_t n;
    lir_gguf_get_arr(g, key, &et, &n, NULL);
    if (et == LIR_GGUF_ARRAY || et >= LIR_GGUF_VTYPE_COUNT)
        return lir__errf(e, LIR_EUNSUPPORTED, "lir_quantize_model: key '%s': nested arrays are not supported "
                         "(llama.cpp refuses them too)", key);
    if (et != LIR_GGUF_STRING) {
        lir_gguf_writer_set_arr(w, key, et, lir_gguf_arr_data(g, key), n);
        return LIR_OK;
    }
    size_t total = 0;
    for (uint64_t i = 0; i < n; i++) {
        lir_gguf_str s = lir_gguf_arr_str(g, key, i);
        if (memchr(s.ptr, '\0', (size_t)s.len))
            return lir__errf(e, LIR_EUNSUPPORTED, "lir_quantize_model: key '%s': element %" PRIu64 " holds a NUL byte",
                             key, i);
        total += (size_t)s.len + 1; /* the strings lie in the file: no overflow */
    }
    char **v = malloc((n ? (size_t)n : 1) * sizeof *v);
    char *arena = malloc(total ? total : 1);
    if (!v || !arena) {
        free(v);
        free(arena);
        return lir__errf(e, LIR_ENOMEM, "lir_quantize_model: out of memory copying key '%s'", key);
    }
    char *a = arena;
    for (uint64_t i = 0; i < n; i++) {
        lir_gguf_str s = lir_gguf_arr_str(g, key, i);
        memcpy(a, s.ptr, (size_t)s.len);
        a[s.len] = '\0';
        v[i] = a;
        a += s.len + 1;
    }
    lir_gguf_writer_set_arr_str(w, key, (const char *const *)v, n);
    free(v);
    free(arena);
    return LIR_OK;
}

/* Copies every key/value but split.* (llama.cpp drops them; a split input is refused earlier). */
static enum lir_status copy_metadata(const lir_gguf *g, lir_gguf_writer *w, lir_err *e) {
    for (int64_t i = 0; i < lir_gguf_n_kv(g); i++) {
        lir_gguf_str ks = lir_gguf_key(g, i);
        bool nul;
        char *key = cstr(ks, &nul);
        if (!key) {
            if (nul) return lir__errf(e, LIR_EUNSUPPORTED, "lir_quantize_model: key %" PRId64 " holds a NUL byte", i);
            return lir__errf(e, LIR_ENOMEM, "lir_quantize_model: out of memory");
        }
        enum lir_status s = LIR_OK;
        /* A scalar's value follows its key in the file: u32 type, then the value (GGUF layout;
         * the reader checked that it lies inside the mapping). Copied raw so f64 and i64 keep
         * every bit. */
        const uint8_t *raw = (const uint8_t *)ks.ptr + ks.len + 4;
        if (!strcmp(key, "split.no") || !strcmp(key, "split.count") || !strcmp(key, "split.tensors.count")) {
            free(key);
            continue;
        }
        switch (lir_gguf_kv_type(g, i)) {
        case LIR_GGUF_UINT8: lir_gguf_writer_set_u8(w, key, raw[0]); break;
        case LIR_GGUF_INT8: lir_gguf_writer_set_i8(w, key, (int8_t)raw[0]); break;
        case LIR_GGUF_BOOL: lir_gguf_writer_set_bool(w, key, raw[0] != 0); break;
        case LIR_GGUF_UINT16: { uint16_t v; memcpy(&v, raw, 2); lir_gguf_writer_set_u16(w, key, v); break; }
        case LIR_GGUF_INT16: { int16_t v; memcpy(&v, raw, 2); lir_gguf_writer_set_i16(w, key, v); break; }
        case LIR_GGUF_UINT32: { uint32_t v; memcpy(&v, raw, 4); lir_gguf_writer_set_u32(w, key, v); break; }
        case LIR_GGUF_INT32: { int32_t v; memcpy(&v, raw, 4); lir_gguf_writer_set_i32(w, key, v); break; }
        case LIR_GGUF_FLOAT32: { float v; memcpy(&v, raw, 4); lir_gguf_writer_set_f32(w, key, v); break; }
        case LIR_GGUF_UINT64: { uint64_t v; memcpy(&v, raw, 8); lir_gguf_writer_set_u64(w, key, v); break; }
        case LIR_GGUF_INT64: { int64_t v; memcpy(&v, raw, 8); lir_gguf_writer_set_i64(w, key, v); break; }
        case LIR_GGUF_FLOAT64: { double v; memcpy(&v, raw, 8); lir_gguf_writer_set_f64(w, key, v); break; }
        case LIR_GGUF_STRING: {
            lir_gguf_str v;
            lir_gguf_get_str(g, key, &v, NULL);
            char *c = cstr(v, &nul);
            if (c) lir_gguf_writer_set_str(w, key, c);
            else s = nul ? lir__errf(e, LIR_EUNSUPPORTED, "lir_quantize_model: key '%s': the string holds a NUL byte", key)
                         : lir__errf(e, LIR_ENOMEM, "lir_quantize_model: out of memory");
            free(c);
            break;
        }
        case LIR_GGUF_ARRAY: s = copy_array(g, w, key, e); break;
        default: s = lir__errf(e, LIR_EFORMAT, "lir_quantize_model: key '%s' has an unknown type", key); break;
        }
        free(key);
        if (s) return s;
    }
    return LIR_OK;
}

/* ---------------------------------------------------------------- conversion */

struct qtensor {
    char name[MAX_NAME + 1];
    const struct lir_gguf_tensor *t;
    int32_t type_out;
    size_t row_in, row_out;
    int64_t index;          /* in the file */
    struct run *run;
};

struct run {
    int64_t n;
    int n_threads;
    float *f32[MAX_THREADS]; /* one row each */
    uint8_t *src[MAX_THREADS]; /* one source row each, for sources not 4-byte aligned */
    lir_quantize_progress_fn progress;
    void *user;
    uint64_t bytes_done, bytes_total;
    bool cancelled;
    bool bad;                /* a row to convert holds NaN or infinity: the output is refused */
    char bad_name[MAX_NAME + 1];
    int64_t bad_row;
};

struct job {
    const struct qtensor *q;
    uint8_t *dst;
    int64_t row0, nrows;
    float *f32;
    uint8_t *src;
    int64_t bad_row;         /* first row holding NaN/inf, or -1 */
};

static void *run_job(void *arg) {
    struct job *j = arg;
    const struct qtensor *q = j->q;
    const int64_t n = q->t->ne[0];
    const struct lir_type_traits *ti = lir_type_traits_get(q->t->type), *to = lir_type_traits_get(q->type_out);
    for (int64_t r = 0; r < j->nrows; r++) {
        const uint8_t *src = (const uint8_t *)q->t->data + (size_t)(j->row0 + r) * q->row_in;
        if ((uintptr_t)src % 4 != 0) { memcpy(j->src, src, q->row_in); src = j->src; }
        const float *x = (const float *)(const void *)src;
        if (q->t->type != LIR_TYPE_F32) { ti->dequantize_row_ref(src, j->f32, n); x = j->f32; }
        /* llama.cpp refuses such input (its loader validates the data); the quantizers' float
         * to int conversions are undefined for it */
        for (int64_t k = 0; k < n; k++)
            if (!isfinite(x[k])) { j->bad_row = j->row0 + r; return NULL; }
        to->quantize_row_ref(x, j->dst + (size_t)r * q->row_out, n);
    }
    return NULL;
}

/* Drops the mapped input pages of [p, p + n) that were read: they are clean pages of a private
 * read-only file mapping, so the kernel reads them again if touched. Without this the mapped
 * input counts whole in the resident set by the end; with it, memory stays at a few chunks. */
static void release_input(const void *p, size_t n) {
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)p + page - 1) / page * page, b = ((uintptr_t)p + n) / page * page;
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

static void report(struct run *rn, const struct qtensor *q, uint64_t bytes) {
    rn->bytes_done += bytes;
    if (!rn->progress || rn->cancelled) return;
    struct lir_quantize_progress pr = {
        .i_tensor = q->index, .n_tensors = rn->n, .name = q->name, .type_in = q->t->type, .type_out = q->type_out,
        .bytes_done = rn->bytes_done, .bytes_total = rn->bytes_total,
    };
    if (!rn->progress(rn->user, &pr)) rn->cancelled = true;
}

/* Writer callback: rows [off/row_out, (off+size)/row_out) of one tensor, split over the threads. */
static void fill_range(void *user, void *dst, uint64_t off, uint64_t size) {
    struct qtensor *q = user;
    struct run *rn = q->run;
    if (rn->cancelled || rn->bad) { memset(dst, 0, (size_t)size); return; }
    if (q->type_out == q->t->type) { /* same type: the bytes as they are */
        memcpy(dst, (const uint8_t *)q->t->data + off, (size_t)size);
        release_input((const uint8_t *)q->t->data + off, (size_t)size);
        report(rn, q, size);
        return;
    }
    const int64_t row0 = (int64_t)(off / q->row_out), nrows = (int64_t)(size / q->row_out);
    int nt = rn->n_threads;
    if (nrows < 2 * nt) nt = nrows < 1 ? 1 : (int)nrows < nt ? (int)nrows : nt;
    struct job jobs[MAX_THREADS];
    pthread_t th[MAX_THREADS];
    bool started[MAX_THREADS] = {false};
    for (int i = 0; i < nt; i++) {
        int64_t a = nrows * i / nt, b = nrows * (i + 1) / nt;
        jobs[i] = (struct job){q, (uint8_t *)dst + (size_t)a * q->row_out, row0 + a, b - a, rn->f32[i], rn->src[i], -1};
        if (i > 0) started[i] = pthread_create(&th[i], NULL, run_job, &jobs[i]) == 0;
    }
    run_job(&jobs[0]);
    for (int i = 1; i < nt; i++) {
        if (started[i]) pthread_join(th[i], NULL);
        else run_job(&jobs[i]); /* no thread: do it here */
    }
    for (int i = 0; i < nt && !rn->bad; i++)
        if (jobs[i].bad_row >= 0) {
            rn->bad = true;
            rn->bad_row = jobs[i].bad_row;
            memcpy(rn->bad_name, q->name, sizeof rn->bad_name);
        }
    release_input((const uint8_t *)q->t->data + (size_t)row0 * q->row_in, (size_t)nrows * q->row_in);
    report(rn, q, size);
}

/* ---------------------------------------------------------------- driver */

/* llama.cpp's weight_name_comparer: by layer number (-1 for tensors outside blk.N.), then name. */
static int layer_of(const char *name) {
    int l = -1;
    sscanf(name, "blk.%d.", &l);
    return l;
}

static int cmp_llama_order(const void *a, const void *b) {
    const struct qtensor *x = *(const struct qtensor *const *)a, *y = *(const struct qtensor *const *)b;
    int lx = layer_of(x->name), ly = layer_of(y->name);
    if (lx != ly) return lx < ly ? -1 : 1;
    return strcmp(x->name, y->name);
}

static uint32_t get_u32_or(const lir_gguf *g, const char *key, uint32_t def) {
    uint32_t v;
    if (lir_gguf_get_u32(g, key, &v, NULL)) return v;
    enum lir_gguf_vtype et;
    uint64_t n;
    /* per-layer arrays (e.g. head_count_kv of some models): llama.cpp's n_gqa() reads layer 0 */
    if (lir_gguf_get_arr(g, key, &et, &n, NULL) && n > 0 && (et == LIR_GGUF_UINT32 || et == LIR_GGUF_INT32)) {
        int32_t x;
        memcpy(&x, lir_gguf_arr_data(g, key), 4);
        return x < 0 ? def : (uint32_t)x;
    }
    return def;
}

static void init_mix(struct mix *m, const lir_gguf *g, const struct lir_quantize_params *p, struct qtensor *q,
                     int64_t n) {
    char arch[64] = "", key[160];
    lir_gguf_str a;
    if (lir_gguf_get_str(g, "general.architecture", &a, NULL) && a.len < sizeof arch)
        snprintf(arch, sizeof arch, "%.*s", (int)a.len, a.ptr);
    memset(m, 0, sizeof *m);
    m->ftype = p->ftype;
    m->p = p;
    m->tied = true;
    for (int64_t i = 0; i < n; i++) {
        enum category c = category_of(q[i].name);
        if (is_attn_v(c)) m->n_attn_v++;
        if (c == CAT_OUTPUT) m->tied = false;
    }
#define K(x) (snprintf(key, sizeof key, "%s.%s", arch, x), key)
    m->n_layer = (int)get_u32_or(g, K("block_count"), 0);
    uint32_t n_head = get_u32_or(g, K("attention.head_count"), 0);
    uint32_t n_head_kv = get_u32_or(g, K("attention.head_count_kv"), n_head);
    m->n_expert = (int)get_u32_or(g, K("expert_count"), 0);
#undef K
    m->n_gqa = n_head_kv ? (int)(n_head / n_head_kv) : 0;
    m->falcon = !strcmp(arch, "falcon");
    /* LLM_TYPE_70B, which the attn_v rule reads, as the loaders of these architectures set it */
    m->is_70b = (!strcmp(arch, "llama") && m->n_layer == 80 && n_head != n_head_kv) ||
                ((!strcmp(arch, "qwen2") || !strcmp(arch, "olmo") || !strcmp(arch, "deci")) && m->n_layer == 80) ||
                (!strcmp(arch, "jais2") && m->n_layer == 68);
}

static int n_cpus(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 16 ? 16 : (int)n;
}

static bool same_file(const char *a, const char *b) {
    struct stat sa, sb;
    if (strcmp(a, b) == 0) return true;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

enum lir_status lir_quantize_model(const char *in, const char *out, const struct lir_quantize_params *params,
                                   lir_quantize_progress_fn progress, void *user, struct lir_quantize_result *res,
                                   char *err, size_t err_len) {
    lir_err e = {{0}};
    enum lir_status s = LIR_OK;
    lir_gguf *g = NULL;
    lir_gguf_writer *w = NULL;
    struct qtensor *q = NULL, **order = NULL;
    struct run rn = {.progress = progress, .user = user};
    struct mix m;
    char *tmp = NULL;
    memset(&m, 0, sizeof m);
    const uint64_t t0 = lir__now_ns();
    if (res) memset(res, 0, sizeof *res);
    struct lir_quantize_params p = params ? *params : lir_quantize_params_default();

    if (!in || !out || !*in || !*out) { s = lir__errf(&e, LIR_EINVAL, "lir_quantize_model: NULL or empty path"); goto done; }
    if (ftype_default_type(p.ftype) < 0) {
        s = lir__errf(&e, LIR_EINVAL, "lir_quantize_model: unknown file type %d (valid: %s)", (int)p.ftype,
                      lir_ftype_names());
        goto done;
    }
    if ((p.output_tensor_type >= 0 && !storable(p.output_tensor_type)) ||
        (p.token_embedding_type >= 0 && !storable(p.token_embedding_type))) {
        s = lir__errf(&e, LIR_EINVAL, "lir_quantize_model: unsupported output or token-embedding tensor type %d",
                      p.output_tensor_type >= 0 && !storable(p.output_tensor_type) ? p.output_tensor_type
                                                                                  : p.token_embedding_type);
        goto done;
    }
    if (p.n_threads < 0 || p.n_threads > MAX_THREADS) {
        s = lir__errf(&e, LIR_EINVAL, "lir_quantize_model: n_threads %d outside [0, %d]", p.n_threads, MAX_THREADS);
        goto done;
    }
    if (same_file(in, out)) {
        s = lir__errf(&e, LIR_EINVAL, "lir_quantize_model: input and output are the same file '%s'", out);
        goto done;
    }
    if ((s = lir_gguf_open(in, &g, &e))) goto done;
    uint32_t split = 0;
    if (lir_gguf_get_u32(g, "split.count", &split, NULL) && split > 1) {
        s = lir__errf(&e, LIR_EUNSUPPORTED, "lir_quantize_model: '%s' is one part of a model split in %u files; "
                      "merge it first (llama-gguf-split --merge)", in, split);
        goto done;
    }

    /* tensors: names, target types (in llama.cpp's order for the layer counters), sizes */
    rn.n = lir_gguf_n_tensors(g);
    q = calloc(rn.n ? (size_t)rn.n : 1, sizeof *q);
    order = calloc(rn.n ? (size_t)rn.n : 1, sizeof *order);
    if (!q || !order) { s = lir__errf(&e, LIR_ENOMEM, "lir_quantize_model: out of memory"); goto done; }
    for (int64_t i = 0; i < rn.n; i++) {
        const struct lir_gguf_tensor *t = lir_gguf_tensor(g, i);
        if (t->name.len > MAX_NAME || memchr(t->name.ptr, '\0', (size_t)t->name.len)) {
            s = lir__errf(&e, LIR_EUNSUPPORTED, "lir_quantize_model: tensor %" PRId64 ": name of %" PRIu64
                          " bytes (llama.cpp takes at most %d, without NUL bytes)", i, t->name.len, MAX_NAME);
            goto done;
        }
        memcpy(q[i].name, t->name.ptr, (size_t)t->name.len);
        q[i].t = t;
        q[i].index = i;
        q[i].run = &rn;
        order[i] = &q[i];
    }
    init_mix(&m, g, &p, q, rn.n);
    qsort(order, (size_t)rn.n, sizeof *order, cmp_llama_order);
    for (int64_t i = 0; i < rn.n; i++)
        if ((s = tensor_type(&m, order[i]->name, order[i]->t, &order[i]->type_out, &e))) goto done;

    /* refusals before any work; sizes; scratch */
    size_t max_ne0 = 0, max_row_in = 0;
    int64_t n_requant = 0, first_requant = -1;
    for (int64_t i = 0; i < rn.n; i++) {
        struct qtensor *x = &q[i];
        const struct lir_type_traits *ti = lir_type_traits_get(x->t->type);
        x->row_in = lir_type_row_size(x->t->type, x->t->ne[0]);
        x->row_out = lir_type_row_size(x->type_out, x->t->ne[0]);
        if (!x->row_in || !x->row_out) {
            s = lir__errf(&e, LIR_EINTERNAL, "lir_quantize_model: tensor '%s': bad row size", x->name);
            goto done;
        }
        rn.bytes_total += x->row_out * (uint64_t)(x->t->size / x->row_in);
        if (x->type_out == x->t->type) continue;
        if (ti->is_quantized && !p.allow_requantize && n_requant++ == 0) first_requant = i;
        if (!ti->dequantize_row_ref) {
            s = lir__errf(&e, LIR_EUNSUPPORTED, "lir_quantize_model: tensor '%s': cannot convert from %s", x->name,
                          ti->name);
            goto done;
        }
        if ((size_t)x->t->ne[0] > max_ne0) max_ne0 = (size_t)x->t->ne[0];
        if (x->row_in > max_row_in) max_row_in = x->row_in;
    }
    if (n_requant) {
        const struct qtensor *x = &q[first_requant];
        s = lir__errf(&e, LIR_EUNSUPPORTED, "lir_quantize_model: tensor '%s' is %s and would become %s: requantizing "
                      "from a quantized type is disabled (%" PRId64 " tensor%s); allow it with allow_requantize "
                      "(lir quantize --allow-requantize) — quality is lower than quantizing from F32/F16/BF16",
                      x->name, lir_type_name(x->t->type), lir_type_name(x->type_out), n_requant,
                      n_requant == 1 ? "" : "s");
        goto done;
    }
    rn.n_threads = p.n_threads ? p.n_threads : n_cpus();
    for (int i = 0; i < rn.n_threads && max_ne0; i++) {
        rn.f32[i] = lir__alloc_aligned(max_ne0 * sizeof(float));
        rn.src[i] = lir__alloc_aligned(max_row_in);
        if (!rn.f32[i] || !rn.src[i]) {
            s = lir__errf(&e, LIR_ENOMEM, "lir_quantize_model: out of memory for rows of %zu elements", max_ne0);
            goto done;
        }
    }

    /* the output: fail early when it cannot be created */
    size_t olen = strlen(out);
    tmp = malloc(olen + 5);
    if (!tmp) { s = lir__errf(&e, LIR_ENOMEM, "lir_quantize_model: out of memory"); goto done; }
    memcpy(tmp, out, olen);
    memcpy(tmp + olen, ".tmp", 5);
    FILE *probe = fopen(tmp, "wb");
    if (!probe) {
        s = lir__errf(&e, LIR_EIO, "lir_quantize_model: cannot write '%s': %s", tmp, strerror(errno));
        goto done;
    }
    fclose(probe);

    w = lir_gguf_writer_create(3, lir_gguf_alignment(g));
    if (!w) { s = lir__errf(&e, LIR_ENOMEM, "lir_quantize_model: out of memory"); goto done; }
    if ((s = copy_metadata(g, w, &e))) goto done;
    lir_gguf_writer_set_u32(w, "general.quantization_version", 2); /* GGML_QNT_VERSION */
    lir_gguf_writer_set_u32(w, "general.file_type", (uint32_t)p.ftype);
    for (int64_t i = 0; i < rn.n; i++)
        lir_gguf_writer_add_tensor_stream(w, q[i].name, q[i].type_out, q[i].t->n_dims, q[i].t->ne, fill_range, &q[i]);
    s = lir_gguf_writer_finish(w, tmp, &e);
    if (!s && rn.bad)
        s = lir__errf(&e, LIR_EFORMAT, "lir_quantize_model: tensor '%s', row %" PRId64 ": NaN or infinite values "
                      "(llama.cpp refuses them too)", rn.bad_name, rn.bad_row);
    if (!s && rn.cancelled) s = lir__errf(&e, LIR_ECANCELLED, "lir_quantize_model: cancelled by the progress callback");
    if (!s && rename(tmp, out) != 0)
        s = lir__errf(&e, LIR_EIO, "lir_quantize_model: cannot rename '%s' to '%s': %s", tmp, out, strerror(errno));

    if (!s && res) {
        struct stat st;
        res->size_in = lir_gguf_file_size(g);
        res->size_out = stat(out, &st) == 0 ? (uint64_t)st.st_size : 0;
        res->n_tensors = rn.n;
        for (int64_t i = 0; i < rn.n; i++) {
            if (q[i].type_out == q[i].t->type) res->n_copied++;
            else res->n_converted++;
        }
        res->n_fallback = m.n_fallback;
    }
done:
    if (s && tmp) unlink(tmp);
    if (res) res->seconds = (double)(lir__now_ns() - t0) * 1e-9;
    for (int i = 0; i < MAX_THREADS; i++) { lir__free_aligned(rn.f32[i]); lir__free_aligned(rn.src[i]); }
    lir_gguf_writer_free(w);
    lir_gguf_close(g);
    free(tmp);
    free(q);
    free(order);
    if (s) lir__err_copy(&e, err, err_len);
    else if (err && err_len) err[0] = '\0';
    return s;
}
