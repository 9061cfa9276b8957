/* lir_vocab.c — `lir-vocab`: converts a real tokenizer to GGUF vocabulary metadata attached to
 * a tiny random-weight model (so llama.cpp and lir can both load it and tokenize with it).
 *
 *   lir-vocab --hf tokenizer.json [--config tokenizer_config.json] [--pre NAME] -o OUT.gguf
 *   lir-vocab --spm m.model -o OUT.gguf
 *   options: --arch llama|qwen2|qwen3 (default llama), --seed N
 *
 * tokenizer.json (Hugging Face tokenizers):
 *   - BPE with byte_fallback and a ▁ normalizer (Llama 2 style) -> tokenizer.ggml.model "llama":
 *     scores rank each merged piece by its first merge (-rank), so SPM's score-driven merging
 *     applies merges in the same order as the BPE merge list; <0xNN> pieces are BYTE tokens.
 *   - byte-level BPE -> "gpt2" with merges; tokenizer.ggml.pre is detected from the Split
 *     regex (Llama 3 -> llama-bpe, Qwen2 -> qwen2) or given with --pre.
 *   Added tokens: special (or looking special, "<|...|>") -> CONTROL, others USER_DEFINED,
 *   as llama.cpp's convert_hf_to_gguf.py does. Ids with no token become "[PADn]" (UNUSED).
 * SentencePiece .model (protobuf): pieces, scores and types as stored; unk/bos/eos ids from
 *   the trainer spec; add_space_prefix from the normalizer's add_dummy_prefix.
 *
 * Input files are untrusted: every protobuf length is checked against the bytes left.
 * Exit 0 on success, 1 on an input or write error, 2 on bad usage. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "gguf/gguf.h"
#include "gguf/gguf_gen.h"
#include "quant/quant.h"
#include "tokenizer/spm_model.h"
#include "tokenizer/tokenizer.h"

struct vout {
    const char *model, *pre;
    int64_t n;
    char **tok;
    float *score;
    int32_t *type;
    int64_t n_merges;
    char **merges;
    int64_t bos, eos, unk, pad;  /* -1: not written */
    int add_bos, add_eos, add_space_prefix; /* -1: not written */
};

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("lir-vocab: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

static char *xstrdup(const char *s) {
    char *p = strdup(s);
    if (!p) { fputs("lir-vocab: out of memory\n", stderr); exit(1); }
    return p;
}

static int vout_alloc(struct vout *o, int64_t n) {
    o->n = n;
    o->tok = calloc((size_t)n, sizeof *o->tok);
    o->score = calloc((size_t)n, sizeof *o->score);
    o->type = calloc((size_t)n, sizeof *o->type);
    return o->tok && o->score && o->type ? 0 : fail("out of memory");
}

/* ---------------------------------------------------------------- tokenizer.json */

static bool looks_special(const char *t) {
    size_t n = strlen(t);
    if (!strcmp(t, "<pad>") || !strcmp(t, "<mask>")) return true;
    if (n >= 4 && !strncmp(t, "<|", 2) && !strcmp(t + n - 2, "|>")) return true;
    if (!strncmp(t, "<start_of_", 10) || !strncmp(t, "<end_of_", 8)) return true;
    return false;
}

static int64_t id_of(json_t *vocab, json_t *added, const char *s) {
    json_t *x = json_object_get(vocab, s);
    if (json_is_integer(x)) return json_integer_value(x);
    size_t i;
    json_t *a;
    json_array_foreach(added, i, a) {
        const char *c = json_string_value(json_object_get(a, "content"));
        if (c && !strcmp(c, s)) return json_integer_value(json_object_get(a, "id"));
    }
    return -1;
}

static const char *cfg_token(json_t *cfg, const char *key) {
    json_t *x = json_object_get(cfg, key);
    if (json_is_string(x)) return json_string_value(x);
    if (json_is_object(x)) return json_string_value(json_object_get(x, "content"));
    return NULL;
}

static const char *detect_pre(json_t *root) {
    char *s = json_dumps(json_object_get(root, "pre_tokenizer"), JSON_COMPACT);
    const char *pre = NULL;
    if (s) {
        bool contractions = strstr(s, "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|") != NULL;
        if (contractions && strstr(s, "\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*")) pre = "llama-bpe";
        else if (contractions && strstr(s, "|\\\\p{N}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*")) pre = "qwen2";
        else if (!strstr(s, "Split") && strstr(s, "\"use_regex\":true")) pre = "gpt-2";
        free(s);
    }
    return pre;
}

static int load_hf(const char *path, const char *cfg_path, const char *pre_opt, struct vout *o) {
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) return fail("%s:%d: %s", path, je.line, je.text);
    json_t *cfg = NULL;
    if (cfg_path && !(cfg = json_load_file(cfg_path, JSON_DECODE_INT_AS_REAL, &je))) /* model_max_length: 1e30 */ return fail("%s:%d: %s", cfg_path, je.line, je.text);
    json_t *model = json_object_get(root, "model");
    json_t *vocab = json_object_get(model, "vocab");
    json_t *added = json_object_get(root, "added_tokens");
    json_t *merges = json_object_get(model, "merges");
    const char *mtype = json_string_value(json_object_get(model, "type"));
    if (!json_is_object(vocab) || !mtype || strcmp(mtype, "BPE") || !json_is_array(merges))
        return fail("%s: only BPE tokenizer.json files are supported (model.type, model.vocab, model.merges)", path);
    if (!json_is_array(added)) added = json_array();
    int64_t n = 0;
    const char *k;
    json_t *x;
    json_object_foreach(vocab, k, x) {
        if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) >= (1 << 22)) return fail("bad id for '%s'", k);
        if (json_integer_value(x) + 1 > n) n = json_integer_value(x) + 1;
    }
    size_t i;
    json_array_foreach(added, i, x) {
        int64_t id = json_integer_value(json_object_get(x, "id"));
        if (id < 0 || id >= (1 << 22) || !json_is_string(json_object_get(x, "content"))) return fail("bad added token %zu", i);
        if (id + 1 > n) n = id + 1;
    }
    if (vout_alloc(o, n)) return 1;
    bool spm = json_is_true(json_object_get(model, "byte_fallback"));
    o->model = spm ? "llama" : "gpt2";
    o->bos = o->eos = o->unk = o->pad = -1;
    o->add_bos = o->add_eos = o->add_space_prefix = -1;
    json_object_foreach(vocab, k, x) {
        int64_t id = json_integer_value(x);
        o->tok[id] = xstrdup(k);
        o->type[id] = LIR_TOKEN_TYPE_NORMAL;
        if (spm && strlen(k) == 6 && !strncmp(k, "<0x", 3) && k[5] == '>') o->type[id] = LIR_TOKEN_TYPE_BYTE;
    }
    json_array_foreach(added, i, x) {
        int64_t id = json_integer_value(json_object_get(x, "id"));
        const char *c = json_string_value(json_object_get(x, "content"));
        free(o->tok[id]);
        o->tok[id] = xstrdup(c);
        o->type[id] = json_is_true(json_object_get(x, "special")) || looks_special(c) ? LIR_TOKEN_TYPE_CONTROL
                                                                                      : LIR_TOKEN_TYPE_USER_DEFINED;
    }
    for (int64_t id = 0; id < n; id++)
        if (!o->tok[id]) {
            char b[32];
            snprintf(b, sizeof b, "[PAD%lld]", (long long)id);
            o->tok[id] = xstrdup(b);
            o->type[id] = LIR_TOKEN_TYPE_UNUSED;
        }
    /* merges as "left right" */
    o->n_merges = (int64_t)json_array_size(merges);
    o->merges = calloc((size_t)o->n_merges + 1, sizeof *o->merges);
    if (!o->merges) return fail("out of memory");
    json_array_foreach(merges, i, x) {
        if (json_is_string(x)) o->merges[i] = xstrdup(json_string_value(x));
        else if (json_is_array(x) && json_array_size(x) == 2) {
            const char *a = json_string_value(json_array_get(x, 0)), *b = json_string_value(json_array_get(x, 1));
            if (!a || !b) return fail("bad merge %zu", i);
            size_t la = strlen(a), lb = strlen(b);
            char *m = malloc(la + lb + 2);
            if (!m) return fail("out of memory");
            memcpy(m, a, la);
            m[la] = ' ';
            memcpy(m + la + 1, b, lb + 1);
            o->merges[i] = m;
        } else return fail("bad merge %zu", i);
    }
    if (spm) {
        /* SPM merges by piece score: score each piece by its first merge so the order matches */
        for (int64_t id = 0; id < n; id++) o->score[id] = -1e9f;
        json_t *unk = json_object_get(model, "unk_token");
        if (json_is_string(unk)) {
            int64_t u = id_of(vocab, added, json_string_value(unk));
            if (u >= 0) { o->unk = u; o->type[u] = LIR_TOKEN_TYPE_UNKNOWN; }
        }
        size_t tl = 0;
        char *buf = NULL;
        for (int64_t r = 0; r < o->n_merges; r++) {
            const char *m = o->merges[r], *sp = strchr(m + 1, ' ');
            if (!sp) continue;
            size_t l = strlen(m) - 1;
            if (l + 1 > tl) { tl = 2 * (l + 1); buf = realloc(buf, tl); if (!buf) return fail("out of memory"); }
            memcpy(buf, m, (size_t)(sp - m));
            strcpy(buf + (sp - m), sp + 1);
            json_t *t = json_object_get(vocab, buf);
            if (json_is_integer(t) && o->score[json_integer_value(t)] == -1e9f) o->score[json_integer_value(t)] = -(float)r;
        }
        free(buf);
        for (int64_t id = 0; id < n; id++)
            if (o->type[id] != LIR_TOKEN_TYPE_NORMAL) o->score[id] = 0.0f;
        free(o->merges);
        o->merges = NULL;
        o->n_merges = 0;
        o->add_space_prefix = 1;
    } else {
        o->pre = pre_opt ? pre_opt : detect_pre(root);
        if (!o->pre) return fail("%s: cannot tell the pre-tokenizer from the Split regex; pass --pre NAME", path);
    }
    if (cfg) {
        const char *b = cfg_token(cfg, "bos_token"), *e = cfg_token(cfg, "eos_token"), *p = cfg_token(cfg, "pad_token");
        if (b) o->bos = id_of(vocab, added, b);
        if (e) o->eos = id_of(vocab, added, e);
        if (p) o->pad = id_of(vocab, added, p);
        json_t *ab = json_object_get(cfg, "add_bos_token"), *ae = json_object_get(cfg, "add_eos_token");
        if (json_is_boolean(ab)) o->add_bos = json_is_true(ab);
        if (json_is_boolean(ae)) o->add_eos = json_is_true(ae);
    }
    return 0;
}

/* ---------------------------------------------------------------- SentencePiece .model */

/* The parsing is src/tokenizer/spm_model.c (shared with lir-convert); o takes its arrays. */
static int load_spm(const char *path, struct vout *o) {
    struct lir_spm_model m;
    lir_err e = { { 0 } };
    if (lir_spm_model_read(path, &m, &e)) return fail("%s", e.msg);
    if (m.model_type != LIR_SPM_BPE)
        fprintf(stderr, "lir-vocab: warning: %s is not a BPE SentencePiece model (type %d); llama.cpp's and lir's "
                        "SPM tokenizer reproduce BPE models only\n", path, m.model_type);
    o->model = "llama";
    o->n = m.n;
    o->tok = m.tok;
    o->score = m.score;
    o->type = m.type;
    o->bos = m.bos; o->eos = m.eos; o->unk = m.unk; o->pad = m.pad;
    o->add_bos = -1; o->add_eos = -1; o->add_space_prefix = m.add_space_prefix;
    return 0;
}

/* ---------------------------------------------------------------- GGUF */

static int copy_kv(const lir_gguf *g, int64_t i, lir_gguf_writer *w, const char *key) {
    lir_err e = { { 0 } };
    switch (lir_gguf_kv_type(g, i)) {
    case LIR_GGUF_UINT32: { uint32_t v; if (!lir_gguf_get_u32(g, key, &v, &e)) return 1; lir_gguf_writer_set_u32(w, key, v); return 0; }
    case LIR_GGUF_INT32: { int32_t v; if (!lir_gguf_get_i32(g, key, &v, &e)) return 1; lir_gguf_writer_set_i32(w, key, v); return 0; }
    case LIR_GGUF_UINT64: { uint64_t v; if (!lir_gguf_get_u64(g, key, &v, &e)) return 1; lir_gguf_writer_set_u64(w, key, v); return 0; }
    case LIR_GGUF_FLOAT32: { float v; if (!lir_gguf_get_f32(g, key, &v, &e)) return 1; lir_gguf_writer_set_f32(w, key, v); return 0; }
    case LIR_GGUF_BOOL: { bool v; if (!lir_gguf_get_bool(g, key, &v, &e)) return 1; lir_gguf_writer_set_bool(w, key, v); return 0; }
    case LIR_GGUF_STRING: {
        lir_gguf_str s;
        if (!lir_gguf_get_str(g, key, &s, &e)) return 1;
        char *t = strndup(s.ptr, s.len);
        if (!t) return 1;
        lir_gguf_writer_set_str(w, key, t);
        free(t);
        return 0;
    }
    default: return fail("cannot copy key '%s' (type %d)", key, lir_gguf_kv_type(g, i));
    }
}

static int write_model(const struct vout *o, enum lir_gen_arch arch, uint64_t seed, const char *out) {
    struct lir_gen_params p;
    lir_err e = { { 0 } };
    if (lir_gen_preset(&p, "tiny", arch, &e)) return fail("%s", e.msg);
    /* small: the embedding of a 150k vocabulary stays ~10 MB */
    p.n_embd = 64; p.n_layer = 1; p.n_head = 2; p.n_head_kv = 1; p.head_dim = 32; p.n_ff = 128;
    p.n_vocab = o->n < 260 ? 260 : o->n;
    p.tied = true;
    p.seed = seed;
    lir_gen_parse_type("Q8_0", &p);
    snprintf(p.name, sizeof p.name, "lir-vocab %s", o->pre ? o->pre : o->model);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.gen", out);
    if (lir_gen_write(&p, tmp, &e)) return fail("%s", e.msg);
    lir_gguf *g;
    if (lir_gguf_open(tmp, &g, &e)) return fail("%s", e.msg);
    lir_gguf_writer *w = lir_gguf_writer_create(3, LIR_GGUF_DEFAULT_ALIGNMENT);
    int rc = 0;
    char **names = calloc((size_t)lir_gguf_n_tensors(g) + 1, sizeof *names);
    if (!w || !names) { rc = fail("out of memory"); goto done; }
    for (int64_t i = 0; i < lir_gguf_n_kv(g) && !rc; i++) {
        lir_gguf_str ks = lir_gguf_key(g, i);
        char *key = strndup(ks.ptr, ks.len);
        if (!key) { rc = fail("out of memory"); break; }
        if (strncmp(key, "tokenizer.", 10)) rc = copy_kv(g, i, w, key);
        free(key);
    }
    if (rc) goto done;
    /* pad a short vocabulary up to the generator's minimum with unused tokens */
    int64_t n = p.n_vocab;
    char **tok = calloc((size_t)n, sizeof *tok);
    float *score = calloc((size_t)n, sizeof *score);
    int32_t *type = calloc((size_t)n, sizeof *type);
    if (!tok || !score || !type) { rc = fail("out of memory"); goto done; }
    for (int64_t i = 0; i < n; i++) {
        if (i < o->n) { tok[i] = o->tok[i]; score[i] = o->score[i]; type[i] = o->type[i]; }
        else {
            char b[32];
            snprintf(b, sizeof b, "[PAD%lld]", (long long)i);
            tok[i] = xstrdup(b);
            type[i] = LIR_TOKEN_TYPE_UNUSED;
        }
    }
    lir_gguf_writer_set_str(w, "tokenizer.ggml.model", o->model);
    if (o->pre) lir_gguf_writer_set_str(w, "tokenizer.ggml.pre", o->pre);
    lir_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok, (uint64_t)n);
    lir_gguf_writer_set_arr(w, "tokenizer.ggml.scores", LIR_GGUF_FLOAT32, score, (uint64_t)n);
    lir_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", LIR_GGUF_INT32, type, (uint64_t)n);
    if (o->n_merges) lir_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)o->merges, (uint64_t)o->n_merges);
    if (o->bos >= 0) lir_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)o->bos);
    if (o->eos >= 0) lir_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)o->eos);
    if (o->unk >= 0) lir_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)o->unk);
    if (o->pad >= 0) lir_gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)o->pad);
    if (o->add_bos >= 0) lir_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", o->add_bos);
    if (o->add_eos >= 0) lir_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", o->add_eos);
    if (o->add_space_prefix >= 0) lir_gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", o->add_space_prefix);
    for (int64_t i = 0; i < lir_gguf_n_tensors(g); i++) {
        const struct lir_gguf_tensor *t = lir_gguf_tensor(g, i);
        names[i] = strndup(t->name.ptr, t->name.len);
        if (!names[i]) { rc = fail("out of memory"); goto done; }
        lir_gguf_writer_add_tensor(w, names[i], t->type, t->n_dims, t->ne, t->data, NULL, NULL);
    }
    if (lir_gguf_writer_finish(w, out, &e)) rc = fail("%s", e.msg);
    for (int64_t i = o->n; i < n; i++) free(tok[i]);
    free(tok);
    free(score);
    free(type);
done:
    if (names) for (int64_t i = 0; i < lir_gguf_n_tensors(g); i++) free(names[i]);
    free(names);
    lir_gguf_writer_free(w);
    lir_gguf_close(g);
    unlink(tmp);
    return rc;
}

static void usage(FILE *f) {
    fputs("usage: lir-vocab (--hf tokenizer.json [--config tokenizer_config.json] [--pre NAME] | --spm m.model)\n"
          "                 [--arch llama|qwen2|qwen3] [--seed N] -o OUT.gguf\n"
          "Writes a tiny random-weight model carrying the tokenizer as GGUF tokenizer.ggml.* metadata.\n", f);
}

int main(int argc, char **argv) {
    const char *hf = NULL, *cfg = NULL, *spm = NULL, *pre = NULL, *out = NULL, *arch_s = "llama";
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        if (!v) { usage(stderr); return 2; }
        if (!strcmp(a, "--hf")) hf = v;
        else if (!strcmp(a, "--config")) cfg = v;
        else if (!strcmp(a, "--spm")) spm = v;
        else if (!strcmp(a, "--pre")) pre = v;
        else if (!strcmp(a, "--arch")) arch_s = v;
        else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "-o")) out = v;
        else { fprintf(stderr, "lir-vocab: unknown option '%s'\n", a); usage(stderr); return 2; }
        i++;
    }
    enum lir_gen_arch arch;
    if (!out || (!hf == !spm) || !lir_gen_parse_arch(arch_s, &arch)) { usage(stderr); return 2; }
    struct vout o;
    memset(&o, 0, sizeof o);
    int rc = hf ? load_hf(hf, cfg, pre, &o) : load_spm(spm, &o);
    if (rc) return rc;
    return write_model(&o, arch, seed, out);
}
