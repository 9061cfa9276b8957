/* model.c — loading a llama-family model from GGUF: the architecture table,
 * hyper-parameters, every tensor looked up and its shape and type checked, memory
 * estimate, token text. Weights stay in the mapping. */
#include "model/model.h"
#include "model/kv.h"
#include "backend/cuda/cuda.h"
#include "tokenizer/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct lir_arch archs[] = {
    { "llama", LIR_ROPE_NORM, false, false, false },
    { "qwen2", LIR_ROPE_NEOX, true,  false, false },
    { "qwen3", LIR_ROPE_NEOX, false, true,  false },
    { "bert",  LIR_ROPE_NORM, true,  false, true  },
    { "nomic-bert", LIR_ROPE_NEOX, false, false, true }, /* bert graph: rotary positions, SwiGLU */
};

const struct lir_arch *lir_arch_find(const char *name, size_t len) {
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (strlen(archs[i].name) == len && memcmp(archs[i].name, name, len) == 0) return &archs[i];
    return NULL;
}

struct lir_model_params lir_model_params_default(void) {
    struct lir_model_params p = { .use_mmap = true, .check_tensors = true };
    return p;
}

/* ---------------------------------------------------------------- hparams */

static enum lir_status get_i32_key(const lir_model *m, const char *suffix, int32_t *out, bool required,
                                   int32_t lo, int32_t hi, lir_err *e) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", m->arch_name, suffix);
    lir_err ge = { { 0 } };
    int32_t v;
    if (!lir_gguf_get_i32(m->gguf, key, &v, &ge)) {
        if (ge.msg[0]) return lir__errf(e, LIR_EFORMAT, "model: %s", ge.msg);
        if (required) return lir__errf(e, LIR_EFORMAT, "model: missing required key '%s'", key);
        return LIR_OK;
    }
    if (v < lo || v > hi)
        return lir__errf(e, LIR_EFORMAT, "model: key '%s' = %d is outside [%d, %d]", key, v, lo, hi);
    *out = v;
    return LIR_OK;
}

static enum lir_status get_f32_key(const lir_model *m, const char *suffix, float *out, bool required,
                                   float lo, float hi, lir_err *e) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", m->arch_name, suffix);
    lir_err ge = { { 0 } };
    float v;
    if (!lir_gguf_get_f32(m->gguf, key, &v, &ge)) {
        if (ge.msg[0]) return lir__errf(e, LIR_EFORMAT, "model: %s", ge.msg);
        if (required) return lir__errf(e, LIR_EFORMAT, "model: missing required key '%s'", key);
        return LIR_OK;
    }
    if (!(v >= lo && v <= hi))
        return lir__errf(e, LIR_EFORMAT, "model: key '%s' = %g is outside [%g, %g]", key, v, lo, hi);
    *out = v;
    return LIR_OK;
}

/* Embedding keys: pooling type, causal attention, and bert's LayerNorm epsilon. */
static enum lir_status load_hparams_embd(lir_model *m, lir_err *e) {
    struct lir_hparams *hp = &m->hp;
    enum lir_status s;
    hp->pooling = LIR_POOL_NONE;
    hp->causal = !m->arch->bert;
    if ((s = get_i32_key(m, "pooling_type", &hp->pooling, false, LIR_POOL_NONE, LIR_POOL_LAST, e))) return s;
    char key[128];
    snprintf(key, sizeof key, "%s.attention.causal", m->arch_name);
    lir_err ge = { { 0 } };
    if (!lir_gguf_get_bool(m->gguf, key, &hp->causal, &ge) && ge.msg[0])
        return lir__errf(e, LIR_EFORMAT, "model: %s", ge.msg);
    if (m->arch->bert) {
        if (hp->causal)
            return lir__errf(e, LIR_EUNSUPPORTED, "model: %s = true is not supported for bert", key);
        if (hp->n_head_kv != hp->n_head || hp->head_dim * hp->n_head != hp->n_embd)
            return lir__errf(e, LIR_EFORMAT, "model: bert needs head_count_kv == head_count and n_embd = heads x head dim");
        if ((s = get_f32_key(m, "attention.layer_norm_epsilon", &hp->norm_eps, true, 0.0f, 1.0f, e))) return s;
    }
    return LIR_OK;
}

static enum lir_status load_hparams(lir_model *m, lir_err *e) {
    struct lir_hparams *hp = &m->hp;
    enum lir_status s;
    const int32_t BIG = 1 << 24;
    hp->n_ctx_train = 4096;
    hp->rms_eps = 1e-5f;
    hp->rope_base = 10000.0f;
    hp->rope_freq_scale = 1.0f;
    if ((s = get_i32_key(m, "context_length", &hp->n_ctx_train, false, 1, BIG, e))) return s;
    if ((s = get_i32_key(m, "embedding_length", &hp->n_embd, true, 1, 1 << 17, e))) return s;
    if ((s = get_i32_key(m, "block_count", &hp->n_layer, true, 1, 4096, e))) return s;
    if ((s = get_i32_key(m, "feed_forward_length", &hp->n_ff, true, 1, 1 << 20, e))) return s;
    if ((s = get_i32_key(m, "attention.head_count", &hp->n_head, true, 1, 4096, e))) return s;
    hp->n_head_kv = hp->n_head;
    if ((s = get_i32_key(m, "attention.head_count_kv", &hp->n_head_kv, false, 1, 4096, e))) return s;
    if (hp->n_head % hp->n_head_kv != 0)
        return lir__errf(e, LIR_EFORMAT, "model: attention.head_count %d is not a multiple of head_count_kv %d",
                         hp->n_head, hp->n_head_kv);
    hp->head_dim = hp->n_embd / hp->n_head;
    if ((s = get_i32_key(m, "attention.key_length", &hp->head_dim, false, 1, 1 << 12, e))) return s;
    int32_t vlen = hp->head_dim;
    if ((s = get_i32_key(m, "attention.value_length", &vlen, false, 1, 1 << 12, e))) return s;
    if (vlen != hp->head_dim)
        return lir__errf(e, LIR_EUNSUPPORTED, "model: value_length %d != key_length %d is not supported", vlen,
                         hp->head_dim);
    if (hp->head_dim % 2)
        return lir__errf(e, LIR_EFORMAT, "model: head dimension %d must be even", hp->head_dim);
    hp->n_rot = hp->head_dim;
    if ((s = get_i32_key(m, "rope.dimension_count", &hp->n_rot, false, 2, hp->head_dim, e))) return s;
    if (hp->n_rot % 2) return lir__errf(e, LIR_EFORMAT, "model: rope.dimension_count %d must be even", hp->n_rot);
    if ((s = get_f32_key(m, "attention.layer_norm_rms_epsilon", &hp->rms_eps, false, 0.0f, 1.0f, e))) return s;
    if ((s = get_f32_key(m, "rope.freq_base", &hp->rope_base, false, 1.0f, 1e12f, e))) return s;
    float factor = 1.0f;
    if ((s = get_f32_key(m, "rope.scaling.factor", &factor, false, 1e-6f, 1e6f, e))) return s;
    char key[128];
    lir_gguf_str st;
    snprintf(key, sizeof key, "%s.rope.scaling.type", m->arch_name);
    if (lir_gguf_get_str(m->gguf, key, &st, NULL)) {
        if (st.len == 6 && memcmp(st.ptr, "linear", 6) == 0) hp->rope_freq_scale = 1.0f / factor;
        else if (!(st.len == 4 && memcmp(st.ptr, "none", 4) == 0))
            return lir__errf(e, LIR_EUNSUPPORTED, "model: rope scaling type '%.*s' is not supported", (int)st.len,
                             st.ptr);
    }
    return load_hparams_embd(m, e);
}

/* ---------------------------------------------------------------- tensors */

static enum lir_status bind(lir_model *m, struct lir_tensor *t, const char *name, int64_t ne0, int64_t ne1,
                            bool optional, bool f32_only, lir_err *e) {
    const struct lir_gguf_tensor *gt = lir_gguf_find_tensor(m->gguf, name);
    memset(t, 0, sizeof *t);
    if (!gt) {
        if (optional) return LIR_OK;
        return lir__errf(e, LIR_EFORMAT, "model: missing tensor '%s'", name);
    }
    int64_t g1 = gt->ne[1] * gt->ne[2] * gt->ne[3];
    if (gt->ne[0] != ne0 || g1 != ne1)
        return lir__errf(e, LIR_EFORMAT, "model: tensor '%s' has shape [%lld, %lld], expected [%lld, %lld]", name,
                         (long long)gt->ne[0], (long long)g1, (long long)ne0, (long long)ne1);
    if (f32_only && gt->type != LIR_TYPE_F32)
        return lir__errf(e, LIR_EUNSUPPORTED, "model: tensor '%s' has type %s, expected f32", name,
                         lir_type_name(gt->type));
    const struct lir_type_traits *tr = lir_type_traits_get(gt->type);
    if (!tr || !tr->vec_dot_ref || gt->type == LIR_TYPE_Q8_1 || gt->type == LIR_TYPE_Q8_K)
        return lir__errf(e, LIR_EUNSUPPORTED, "model: tensor '%s' has unsupported type %s", name,
                         lir_type_name(gt->type));
    t->type = gt->type;
    t->ne0 = ne0;
    t->ne1 = ne1;
    t->row_size = lir_type_row_size(gt->type, ne0);
    t->data = gt->data;
    t->name = gt->name.ptr; /* names are followed by other data: use with its length only in messages */
    m->n_params += (uint64_t)(ne0 * ne1);
    m->weight_bytes += gt->size;
    return LIR_OK;
}

/* bert (llama.cpp's LLM_ARCH_BERT): token types (optional), learned positions, embedding
 * LayerNorm, and per layer biased q/k/v/output, two post-norm LayerNorms, biased GELU FFN.
 * nomic-bert (LLM_ARCH_NOMIC_BERT, the same graph): no position table (RoPE on q and k), q/k/v
 * usually fused in attn_qkv, a SwiGLU FFN whose biases llama.cpp does not use (nor do we).
 * No output head: the model gives embeddings only. */
static enum lir_status load_tensors_bert(lir_model *m, lir_err *e) {
    const struct lir_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, F = hp->n_ff;
    const bool nomic = strcmp(m->arch->name, "nomic-bert") == 0;
    enum lir_status s;
    const struct lir_gguf_tensor *tt = lir_gguf_find_tensor(m->gguf, "token_types.weight");
    if (tt && (tt->ne[1] < 1 || tt->ne[1] > 1024))
        return lir__errf(e, LIR_EFORMAT, "model: token_types.weight has %lld rows", (long long)tt->ne[1]);
    if ((s = bind(m, &m->tok_types, "token_types.weight", E, tt ? tt->ne[1] : 1, true, false, e))) return s;
    if (!nomic && (s = bind(m, &m->pos_embd, "position_embd.weight", E, hp->n_ctx_train, false, false, e))) return s;
    if ((s = bind(m, &m->tok_norm, "token_embd_norm.weight", E, 1, false, true, e))) return s;
    if ((s = bind(m, &m->tok_norm_b, "token_embd_norm.bias", E, 1, false, true, e))) return s;
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return lir__errf(e, LIR_ENOMEM, "model: out of memory for %d layers", hp->n_layer);
    for (int i = 0; i < hp->n_layer; i++) {
        struct lir_layer *L = &m->layers[i];
        char n[96];
#define B(field, suffix, ne0, ne1, opt, f32)                                      \
        snprintf(n, sizeof n, "blk.%d.%s", i, suffix);                            \
        if ((s = bind(m, &L->field, n, ne0, ne1, opt, f32, e))) return s;
        struct lir_tensor qkv, qkv_b;
        snprintf(n, sizeof n, "blk.%d.attn_qkv.weight", i);
        if ((s = bind(m, &qkv, n, E, 3 * E, true, false, e))) return s;
        if (qkv.data) { /* fused: rows [0,E) are q, [E,2E) k, [2E,3E) v — views into it */
            snprintf(n, sizeof n, "blk.%d.attn_qkv.bias", i);
            if ((s = bind(m, &qkv_b, n, 3 * E, 1, true, true, e))) return s;
            struct lir_tensor *parts[3] = { &L->wq, &L->wk, &L->wv }, *bias[3] = { &L->bq, &L->bk, &L->bv };
            for (int j = 0; j < 3; j++) {
                *parts[j] = qkv;
                parts[j]->ne1 = E;
                parts[j]->data = (const char *)qkv.data + (size_t)j * E * qkv.row_size;
                if (qkv_b.data) {
                    *bias[j] = qkv_b;
                    bias[j]->ne0 = E;
                    bias[j]->data = (const float *)qkv_b.data + (size_t)j * E;
                }
            }
        } else {
            B(wq, "attn_q.weight", E, E, false, false)
            B(wk, "attn_k.weight", E, E, false, false)
            B(wv, "attn_v.weight", E, E, false, false)
            B(bq, "attn_q.bias", E, 1, nomic, true)
            B(bk, "attn_k.bias", E, 1, nomic, true)
            B(bv, "attn_v.bias", E, 1, nomic, true)
        }
        B(wo, "attn_output.weight", E, E, false, false)
        B(bo, "attn_output.bias", E, 1, true, true)
        B(attn_out_norm, "attn_output_norm.weight", E, 1, false, true)
        B(attn_out_norm_b, "attn_output_norm.bias", E, 1, false, true)
        B(w_up, "ffn_up.weight", E, F, false, false)
        B(w_down, "ffn_down.weight", F, E, false, false)
        if (nomic) {
            B(w_gate, "ffn_gate.weight", E, F, false, false)
        } else {
            B(b_up, "ffn_up.bias", F, 1, true, true)
            B(b_down, "ffn_down.bias", E, 1, true, true)
        }
        B(layer_out_norm, "layer_output_norm.weight", E, 1, false, true)
        B(layer_out_norm_b, "layer_output_norm.bias", E, 1, false, true)
#undef B
    }
    return LIR_OK;
}

static enum lir_status load_tensors(lir_model *m, lir_err *e) {
    const struct lir_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, QD = (int64_t)hp->n_head * hp->head_dim, KD = (int64_t)hp->n_head_kv * hp->head_dim;
    enum lir_status s;
    const struct lir_gguf_tensor *te = lir_gguf_find_tensor(m->gguf, "token_embd.weight");
    if (!te) return lir__errf(e, LIR_EFORMAT, "model: missing tensor 'token_embd.weight'");
    if (te->ne[1] < 1 || te->ne[1] > (1 << 24))
        return lir__errf(e, LIR_EFORMAT, "model: token_embd.weight has %lld rows", (long long)te->ne[1]);
    int32_t nv = (int32_t)te->ne[1];
    uint64_t nv_kv = 0;
    char key[128];
    snprintf(key, sizeof key, "%s.vocab_size", m->arch_name);
    if (lir_gguf_get_u64(m->gguf, key, &nv_kv, NULL) && nv_kv != (uint64_t)nv)
        return lir__errf(e, LIR_EFORMAT, "model: %s = %llu but token_embd.weight has %d rows", key,
                         (unsigned long long)nv_kv, nv);
    m->hp.n_vocab = nv;
    if ((s = bind(m, &m->tok_embd, "token_embd.weight", E, nv, false, false, e))) return s;
    if (m->arch->bert) return load_tensors_bert(m, e);
    if ((s = bind(m, &m->output_norm, "output_norm.weight", E, 1, false, true, e))) return s;
    if ((s = bind(m, &m->output, "output.weight", E, nv, true, false, e))) return s;
    if (!m->output.data) {
        m->output = m->tok_embd;
        m->tied_output = true;
    }
    if ((s = bind(m, &m->rope_freqs, "rope_freqs.weight", hp->n_rot / 2, 1, true, true, e))) return s;
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return lir__errf(e, LIR_ENOMEM, "model: out of memory for %d layers", hp->n_layer);
    for (int i = 0; i < hp->n_layer; i++) {
        struct lir_layer *L = &m->layers[i];
        char n[96];
#define B(field, suffix, ne0, ne1, opt, f32)                                      \
        snprintf(n, sizeof n, "blk.%d.%s", i, suffix);                            \
        if ((s = bind(m, &L->field, n, ne0, ne1, opt, f32, e))) return s;
        B(attn_norm, "attn_norm.weight", E, 1, false, true)
        B(wq, "attn_q.weight", E, QD, false, false)
        B(wk, "attn_k.weight", E, KD, false, false)
        B(wv, "attn_v.weight", E, KD, false, false)
        B(wo, "attn_output.weight", QD, E, false, false)
        B(bq, "attn_q.bias", QD, 1, !m->arch->qkv_bias, true)
        B(bk, "attn_k.bias", KD, 1, !m->arch->qkv_bias, true)
        B(bv, "attn_v.bias", KD, 1, !m->arch->qkv_bias, true)
        B(q_norm, "attn_q_norm.weight", hp->head_dim, 1, !m->arch->qk_norm, true)
        B(k_norm, "attn_k_norm.weight", hp->head_dim, 1, !m->arch->qk_norm, true)
        B(ffn_norm, "ffn_norm.weight", E, 1, false, true)
        B(w_gate, "ffn_gate.weight", E, hp->n_ff, false, false)
        B(w_up, "ffn_up.weight", E, hp->n_ff, false, false)
        B(w_down, "ffn_down.weight", hp->n_ff, E, false, false)
#undef B
    }
    return LIR_OK;
}

static int32_t token_id_key(const lir_gguf *g, const char *key, int32_t n_vocab) {
    uint32_t v;
    if (lir_gguf_get_u32(g, key, &v, NULL) && v < (uint32_t)n_vocab) return (int32_t)v;
    return -1;
}

enum lir_status lir_model_load(const char *path, const struct lir_model_params *params, lir_model **out,
                               char *err, size_t err_len) {
    lir_err e = { { 0 } };
    enum lir_status s;
    (void)params;
    if (!out || !path) {
        lir__errf(&e, LIR_EINVAL, "lir_model_load: path and out must not be NULL");
        lir__err_copy(&e, err, err_len);
        return LIR_EINVAL;
    }
    *out = NULL;
    lir_model *m = calloc(1, sizeof *m);
    if (!m) return LIR_ENOMEM;
    if ((s = lir_gguf_open(path, &m->gguf, &e))) goto fail;
    lir_gguf_str a;
    if (!lir_gguf_get_str(m->gguf, "general.architecture", &a, &e)) {
        if (!e.msg[0]) lir__errf(&e, 0, "model: missing key 'general.architecture'");
        s = LIR_EFORMAT;
        goto fail;
    }
    m->arch = lir_arch_find(a.ptr, a.len);
    if (!m->arch) {
        s = lir__errf(&e, LIR_EUNSUPPORTED, "model: architecture '%.*s' is not supported (supported: llama, qwen2, qwen3, bert, nomic-bert)",
                      (int)(a.len > 64 ? 64 : a.len), a.ptr);
        goto fail;
    }
    snprintf(m->arch_name, sizeof m->arch_name, "%s", m->arch->name);
    lir_gguf_str nm;
    if (lir_gguf_get_str(m->gguf, "general.name", &nm, NULL))
        snprintf(m->name, sizeof m->name, "%.*s", (int)(nm.len > 127 ? 127 : nm.len), nm.ptr);
    if ((s = load_hparams(m, &e))) goto fail;
    if ((s = load_tensors(m, &e))) goto fail;
    m->bos_id = token_id_key(m->gguf, "tokenizer.ggml.bos_token_id", m->hp.n_vocab);
    m->eos_id = token_id_key(m->gguf, "tokenizer.ggml.eos_token_id", m->hp.n_vocab);
    {
        /* a model without a usable vocabulary still runs on token ids: keep the reason */
        lir_err ve = { { 0 } };
        m->vocab_status = lir_vocab_load_gguf(m->gguf, &m->vocab, &ve);
        if (m->vocab && lir__vocab_n_tokens(m->vocab) > m->hp.n_vocab) {
            m->vocab_status = lir__errf(&ve, LIR_EFORMAT, "tokenizer: %d tokens but the embedding has only %d rows",
                                        lir__vocab_n_tokens(m->vocab), m->hp.n_vocab);
            lir_vocab_free(m->vocab);
            m->vocab = NULL;
        }
        snprintf(m->vocab_err, sizeof m->vocab_err, "%s", m->vocab_status ? ve.msg : "");
    }
    lir_gguf_str ct; /* copied: GGUF strings are not NUL-terminated in the mapping */
    if (lir_gguf_get_str(m->gguf, "tokenizer.chat_template", &ct, NULL)) {
        if (!(m->chat_template = malloc(ct.len + 1))) {
            s = lir__errf(&e, LIR_ENOMEM, "model: out of memory for the chat template (%zu bytes)", ct.len);
            goto fail;
        }
        memcpy(m->chat_template, ct.ptr, ct.len);
        m->chat_template[ct.len] = 0;
    }
    *out = m;
    return LIR_OK;
fail:
    lir__err_copy(&e, err, err_len);
    lir_model_free(m);
    return s;
}

void lir_model_free(lir_model *m) {
    if (!m) return;
    free(m->layers);
    free(m->chat_template);
    lir_vocab_free(m->vocab);
    lir_gguf_close(m->gguf);
    free(m);
}

const char *lir_model_chat_template(const lir_model *m) { return m ? m->chat_template : NULL; }

void lir_model_get_info(const lir_model *m, struct lir_model_info *o) {
    memset(o, 0, sizeof *o);
    o->arch = m->arch->name;
    o->name = m->name;
    o->n_vocab = m->hp.n_vocab;
    o->n_ctx_train = m->hp.n_ctx_train;
    o->n_embd = m->hp.n_embd;
    o->n_layer = m->hp.n_layer;
    o->n_head = m->hp.n_head;
    o->n_head_kv = m->hp.n_head_kv;
    o->head_dim = m->hp.head_dim;
    o->n_ff = m->hp.n_ff;
    o->n_params = m->n_params;
    o->file_size = lir_gguf_file_size(m->gguf);
    o->bos_id = m->bos_id;
    o->eos_id = m->eos_id;
}

/* ---------------------------------------------------------------- memory */

void lir__model_estimate(const struct lir_model *m, int32_t n_ctx, int32_t n_batch, struct lir_mem_estimate *o) {
    const struct lir_hparams *hp = &m->hp;
    if (n_ctx <= 0) n_ctx = hp->n_ctx_train;
    if (n_batch <= 0) n_batch = 256;
    if (n_batch > n_ctx) n_batch = n_ctx;
    if (m->arch->bert) n_batch = n_ctx; /* encoders take an input as one batch (forward.c) */
    uint64_t kvd = (uint64_t)hp->n_head_kv * hp->head_dim;
    memset(o, 0, sizeof *o);
    o->weights = m->weight_bytes;
    /* one sequence, n_ctx in whole KV blocks (lir_model_estimate_context for other layouts) */
    o->kv_cache = 2ull * hp->n_layer * (uint64_t)((n_ctx + LIR_KV_BLOCK_TOKENS - 1) / LIR_KV_BLOCK_TOKENS) *
                  LIR_KV_BLOCK_TOKENS * kvd * sizeof(lir_f16);
    /* activations per token: x, xb, q, k, v, attn out, 2 x ffn hidden, + quantized copy;
     * logits for one row; per-thread attention scores over the context. Mirrors
     * context.c's allocation (keep in sync: a test checks they agree). */
    uint64_t qd = (uint64_t)hp->n_head * hp->head_dim;
    uint64_t per_tok = 4ull * (2ull * hp->n_embd + qd + 2 * kvd + qd + 2ull * hp->n_ff) +
                       (uint64_t)(hp->n_ff > hp->n_embd ? hp->n_ff : hp->n_embd) * 2 /* act q8/f16 */;
    /* attention scratch per thread (ops.c): 16 tokens x group columns of f32 scores and
     * f16 weights over the context, plus q and output rows; counted for 2 threads */
    uint64_t cols = 16ull * (uint64_t)(hp->n_head / hp->n_head_kv);
    uint64_t att = cols * (6ull * (uint64_t)n_ctx + 10ull * (uint64_t)hp->head_dim);
    o->compute = per_tok * (uint64_t)n_batch + 4ull * hp->n_vocab + 2 * att;
    o->total = o->weights + o->kv_cache + o->compute;
}

void lir_model_estimate_memory(const lir_model *m, int32_t n_ctx, int32_t n_batch, struct lir_mem_estimate *out) {
    lir__model_estimate(m, n_ctx, n_batch, out);
}

static uint64_t tensor_bytes(const struct lir_tensor *t) { return t->data ? (uint64_t)t->row_size * t->ne1 : 0; }

static uint64_t layer_bytes(const struct lir_layer *L) {
    const struct lir_tensor *t[] = {
        &L->attn_norm, &L->wq, &L->wk, &L->wv, &L->wo, &L->bq, &L->bk, &L->bv, &L->q_norm, &L->k_norm, &L->ffn_norm,
        &L->w_gate, &L->w_up, &L->w_down, &L->bo, &L->attn_out_norm, &L->attn_out_norm_b, &L->b_up, &L->b_down,
        &L->layer_out_norm, &L->layer_out_norm_b,
    };
    uint64_t b = 0;
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) b += tensor_bytes(t[i]);
    return b;
}

/* With gpu_layers: the layers lir_cuda_plan_layers places on GPUs leave RAM for VRAM (their weights
 * and KV cache; the output head and embedding with full offload), each share adding its buffers
 * (lir_cuda_estimate: the bytes lir_cuda_create allocates; the GPU cache is f16 whatever kv_type).
 * No device is asked: tensor_split is taken to name devices 0..n_tensor_split-1, main_gpu its own;
 * parameters lir_context_create would refuse leave the CPU-only estimate. */
static void estimate_gpu(const lir_model *m, const struct lir_context_params *p, int32_t n_ctx, uint64_t kv_row_bytes,
                         uint64_t blocks, struct lir_mem_estimate *out) {
    const struct lir_hparams *hp = &m->hp;
    int32_t ndev = p->n_tensor_split > 0 ? p->n_tensor_split : 1;
    if (p->main_gpu >= ndev) ndev = p->main_gpu + 1;
    struct lir_cuda_plan plan;
    if (lir_cuda_plan_layers(hp->n_layer, p->gpu_layers, p->main_gpu, p->tensor_split, p->n_tensor_split, ndev, "",
                             &plan, NULL) ||
        plan.n_shares == 0 || m->arch->bert)
        return;
    int32_t n_batch = p->n_batch > 0 ? p->n_batch : 256;
    if (n_batch > n_ctx) n_batch = n_ctx;
    for (int32_t i = 0; i < plan.n_shares; i++) {
        const struct lir_cuda_share_spec *sh = &plan.shares[i];
        const struct lir_cuda_params gp = {
            .n_ctx = n_ctx, .n_batch = n_batch, .device = sh->device, .layer_begin = sh->layer_begin,
            .layer_end = sh->layer_end, .hidden_in = !(plan.embed && i == 0),
            .hidden_out = !(plan.output && i == plan.n_shares - 1), .kv_blocks = (int32_t)blocks,
        };
        struct lir_cuda_bytes b;
        lir_cuda_estimate(m, &gp, &b);
        out->vram_weights += b.weights;
        out->vram_kv_cache += b.kv_cache;
        out->vram_compute += b.compute;
    }
    out->vram_total = out->vram_weights + out->vram_kv_cache + out->vram_compute;
    /* RAM keeps what the CPU runs */
    uint64_t gpu_only = 0;
    for (int32_t il = plan.n_cpu_layers; il < hp->n_layer; il++) gpu_only += layer_bytes(&m->layers[il]);
    if (plan.output) { /* full offload: the embedding and the head too */
        gpu_only += tensor_bytes(&m->tok_embd) + tensor_bytes(&m->output_norm) + tensor_bytes(&m->rope_freqs);
        if (!m->tied_output && m->output.data != m->tok_embd.data) gpu_only += tensor_bytes(&m->output);
    }
    out->weights = out->weights > gpu_only ? out->weights - gpu_only : 0;
    out->kv_cache = blocks * 2ull * LIR_KV_BLOCK_TOKENS * kv_row_bytes * (uint64_t)plan.n_cpu_layers;
    out->compute += (uint64_t)n_batch * hp->n_embd * sizeof(float); /* the pinned residual buffer */
}

void lir_model_estimate_context(const lir_model *m, const struct lir_context_params *p, struct lir_mem_estimate *out) {
    struct lir_context_params d = lir_context_params_default();
    if (!p) p = &d;
    lir__model_estimate(m, p->n_ctx, p->n_batch, out);
    /* the KV pool exactly as lir_context_create allocates it (kv.c) */
    const int32_t n_ctx = p->n_ctx > 0 ? p->n_ctx : m->hp.n_ctx_train;
    const int32_t n_seq = p->n_seq_max > 0 ? p->n_seq_max : 1;
    const uint64_t blocks = (uint64_t)lir__kv_pool_blocks(n_ctx, n_seq, p->kv_size);
    const size_t rb = lir__kv_row_bytes(p->kv_type, m->hp.n_head_kv * m->hp.head_dim);
    out->kv_cache = blocks * 2ull * LIR_KV_BLOCK_TOKENS * rb * (uint64_t)m->hp.n_layer;
    if (p->gpu_layers != 0) estimate_gpu(m, p, n_ctx, rb, blocks, out);
    out->total = out->weights + out->kv_cache + out->compute;
}
