/* lir_convert.c — `lir-convert`: a trained llama checkpoint (safetensors) + SentencePiece
 * tokenizer -> GGUF that llama.cpp and lir load.
 *
 *   lir-convert --safetensors A.safetensors [--safetensors B.safetensors ...] --config config.json
 *               --spm tokenizer.model [--type f32|f16|bf16|q8_0] [--name NAME] -o OUT.gguf
 *
 * Input layout (what tools/train/train.py writes; see models/README.md):
 *   - tensors under their GGUF names: token_embd.weight (n_vocab, n_embd), output_norm.weight,
 *     optional output.weight (absent: tied to token_embd), blk.N.{attn_norm, attn_q, attn_k,
 *     attn_v, attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down}.weight; PyTorch (out, in)
 *     row-major matrices, i.e. GGUF ne = [in, out] with the same element order;
 *   - RoPE on adjacent pairs (GGML "normal", llama.cpp's LLAMA_ROPE_TYPE_NORM), so Q and K are
 *     copied as they are. A Hugging Face llama checkpoint rotates halves (NEOX order) and would
 *     need llama.cpp's Q/K permutation; config "rope_layout" must say "normal" and anything else
 *     is refused rather than silently converted wrong;
 *   - dtypes F32, F16 or BF16; several files (shards) may be given.
 * config.json: dim, n_layers, n_heads, n_kv_heads, hidden_dim, vocab_size, norm_eps, rope_theta,
 *   context_length, optional head_dim (default dim / n_heads), rope_layout.
 *
 * Storage: matrices in --type (default q8_0); norm weights stay F32 (as llama.cpp's converter and
 * quantizer keep 1-D tensors). Quantization uses src/quant's reference quantizers (ggml's).
 * Metadata: general.*, llama.* hyper-parameters and tokenizer.ggml.* (SentencePiece "llama"
 * vocabulary: pieces, scores, types, bos/eos/unk ids, add_space_prefix from the .model).
 *
 * Every input is untrusted: the safetensors header length, JSON, dtypes, shapes and data
 * offsets are checked against the file size (with overflow checks) before any data is read, and
 * every tensor must be present once, with the shape the config implies. Little-endian hosts only
 * (safetensors and GGUF are little-endian).
 * Exit 0 on success, 1 on an input or write error, 2 on bad usage. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <jansson.h>

#include "gguf/gguf.h"
#include "quant/quant.h"
#include "tokenizer/spm_model.h"
#include "tokenizer/tokenizer.h"

#define MAX_FILES 64
#define MAX_HEADER (100u << 20) /* safetensors caps its header at 100 MB too */

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("lir-convert: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

/* ---------------------------------------------------------------- safetensors */

enum src_dtype { SRC_F32, SRC_F16, SRC_BF16 };

struct st_file {
    const char *path;
    const unsigned char *map; /* whole file, mmap'd read-only */
    size_t size;
    json_t *header;
};

struct src_tensor {
    const char *name;          /* borrowed from the header JSON */
    enum src_dtype dtype;
    int n_dims;
    int64_t shape[4];          /* safetensors order: outermost first */
    const unsigned char *data; /* inside a file's mapping, any alignment */
    bool used;
};

struct src {
    struct st_file files[MAX_FILES];
    int n_files;
    struct src_tensor *t;
    size_t n, cap;
};

static int st_open(struct src *s, const char *path) {
    if (s->n_files == MAX_FILES) return fail("more than %d safetensors files", MAX_FILES);
    struct st_file *f = &s->files[s->n_files];
    f->path = path;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return fail("%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < 8) { close(fd); return fail("%s: not a safetensors file (too short)", path); }
    f->size = (size_t)st.st_size;
    void *m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return fail("%s: mmap: %s", path, strerror(errno));
    f->map = m;
    s->n_files++;
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)f->map[i] << (8 * i);
    if (hlen == 0 || hlen > MAX_HEADER || hlen > f->size - 8)
        return fail("%s: header length %" PRIu64 " does not fit a file of %zu bytes", path, hlen, f->size);
    json_error_t je;
    f->header = json_loadb((const char *)f->map + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &je);
    if (!f->header || !json_is_object(f->header)) return fail("%s: header is not a JSON object (%s)", path, je.text);
    const unsigned char *base = f->map + 8 + hlen;
    size_t avail = f->size - 8 - (size_t)hlen;
    const char *key;
    json_t *v;
    json_object_foreach(f->header, key, v) {
        if (!strcmp(key, "__metadata__")) continue;
        const char *dt = json_string_value(json_object_get(v, "dtype"));
        json_t *shape = json_object_get(v, "shape"), *off = json_object_get(v, "data_offsets");
        struct src_tensor t = { .name = key };
        size_t esz;
        if (!dt) return fail("%s: tensor '%s' has no dtype", path, key);
        if (!strcmp(dt, "F32")) { t.dtype = SRC_F32; esz = 4; }
        else if (!strcmp(dt, "F16")) { t.dtype = SRC_F16; esz = 2; }
        else if (!strcmp(dt, "BF16")) { t.dtype = SRC_BF16; esz = 2; }
        else return fail("%s: tensor '%s' has dtype %s (F32, F16 or BF16 expected)", path, key, dt);
        if (!json_is_array(shape) || json_array_size(shape) > 4)
            return fail("%s: tensor '%s': shape must be an array of at most 4 dimensions", path, key);
        t.n_dims = (int)json_array_size(shape);
        size_t numel = 1;
        for (int d = 0; d < t.n_dims; d++) {
            json_t *x = json_array_get(shape, (size_t)d);
            if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > (json_int_t)INT32_MAX)
                return fail("%s: tensor '%s': bad dimension %d", path, key, d);
            t.shape[d] = json_integer_value(x);
            if (!lir__mul_ok(numel, (size_t)t.shape[d], &numel)) return fail("%s: tensor '%s': size overflows", path, key);
        }
        size_t nbytes;
        if (!lir__mul_ok(numel, esz, &nbytes)) return fail("%s: tensor '%s': size overflows", path, key);
        json_t *o0 = json_array_get(off, 0), *o1 = json_array_get(off, 1);
        if (!json_is_array(off) || json_array_size(off) != 2 || !json_is_integer(o0) || !json_is_integer(o1))
            return fail("%s: tensor '%s': data_offsets must be [begin, end]", path, key);
        json_int_t b = json_integer_value(o0), e = json_integer_value(o1);
        if (b < 0 || e < b || (uint64_t)e > avail)
            return fail("%s: tensor '%s': data_offsets [%lld, %lld] outside the %zu data bytes", path, key,
                        (long long)b, (long long)e, avail);
        if ((uint64_t)(e - b) != nbytes)
            return fail("%s: tensor '%s': %lld data bytes for %zu elements of %s", path, key, (long long)(e - b), numel, dt);
        t.data = base + b;
        for (size_t i = 0; i < s->n; i++)
            if (!strcmp(s->t[i].name, key)) return fail("%s: tensor '%s' is also in an earlier file", path, key);
        if (s->n == s->cap) {
            size_t nc = s->cap ? 2 * s->cap : 64;
            struct src_tensor *nt = realloc(s->t, nc * sizeof *nt);
            if (!nt) return fail("out of memory");
            s->t = nt;
            s->cap = nc;
        }
        s->t[s->n++] = t;
    }
    return 0;
}

static void src_close(struct src *s) {
    for (int i = 0; i < s->n_files; i++) {
        json_decref(s->files[i].header);
        munmap((void *)s->files[i].map, s->files[i].size);
    }
    free(s->t);
}

static struct src_tensor *src_find(struct src *s, const char *name) {
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->t[i].name, name)) return &s->t[i];
    return NULL;
}

/* ---------------------------------------------------------------- config */

struct cfg {
    int64_t n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_vocab, n_ctx;
    float rms_eps, rope_base;
};

static int cfg_int(json_t *root, const char *key, int64_t *out, int64_t dflt) {
    json_t *v = json_object_get(root, key);
    if (!v) {
        if (dflt < 0) return fail("config: '%s' is missing", key);
        *out = dflt;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > (1 << 24))
        return fail("config: '%s' must be an integer in [1, %d]", key, 1 << 24);
    *out = json_integer_value(v);
    return 0;
}

static int cfg_real(json_t *root, const char *key, float *out) {
    json_t *v = json_object_get(root, key);
    if (!json_is_number(v) || !(json_number_value(v) > 0)) return fail("config: '%s' must be a positive number", key);
    *out = (float)json_number_value(v);
    return 0;
}

static int load_cfg(const char *path, struct cfg *c) {
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!json_is_object(root)) { json_decref(root); return fail("%s: %s (line %d)", path, je.text, je.line); }
    int rc = cfg_int(root, "dim", &c->n_embd, -1) || cfg_int(root, "n_layers", &c->n_layer, -1) ||
             cfg_int(root, "n_heads", &c->n_head, -1) || cfg_int(root, "n_kv_heads", &c->n_head_kv, c->n_head) ||
             cfg_int(root, "hidden_dim", &c->n_ff, -1) || cfg_int(root, "vocab_size", &c->n_vocab, -1) ||
             cfg_int(root, "context_length", &c->n_ctx, -1) || cfg_real(root, "norm_eps", &c->rms_eps) ||
             cfg_real(root, "rope_theta", &c->rope_base);
    if (!rc && c->n_embd % c->n_head) rc = fail("config: dim %" PRId64 " is not a multiple of n_heads", c->n_embd);
    if (!rc) rc = cfg_int(root, "head_dim", &c->head_dim, c->n_embd / c->n_head);
    if (!rc && (c->head_dim % 2 || c->n_head % c->n_head_kv))
        rc = fail("config: head_dim must be even and n_heads a multiple of n_kv_heads");
    const char *layout = json_string_value(json_object_get(root, "rope_layout"));
    if (!rc && (!layout || strcmp(layout, "normal")))
        rc = fail("config: rope_layout is '%s'; only \"normal\" (adjacent pairs, as train.py writes) is supported: "
                  "Hugging Face (NEOX-order) Q/K weights would need llama.cpp's permutation", layout ? layout : "(missing)");
    json_decref(root);
    return rc;
}

/* ---------------------------------------------------------------- tensors */

struct conv {
    const struct src_tensor *t;
    int32_t type;  /* destination enum lir_type */
    int64_t ne0;   /* row length */
    size_t src_row, dst_row;
    float *row;    /* (ne0) scratch */
};

static void src_row_f32(const struct src_tensor *t, const unsigned char *p, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        if (t->dtype == SRC_F32) memcpy(&y[i], p + 4 * i, 4);
        else {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            if (t->dtype == SRC_F16) y[i] = lir_f16_to_f32(h);
            else { uint32_t u = (uint32_t)h << 16; memcpy(&y[i], &u, 4); }
        }
    }
}

/* Writer callback: rows [offset / dst_row, (offset + size) / dst_row) converted to c->type. */
static void fill_rows(void *user, void *dst, uint64_t offset, uint64_t size) {
    struct conv *c = user;
    const struct lir_type_traits *tr = lir_type_traits_get(c->type);
    uint64_t r0 = offset / c->dst_row, nr = size / c->dst_row;
    for (uint64_t r = 0; r < nr; r++) {
        src_row_f32(c->t, c->t->data + (r0 + r) * c->src_row, c->row, c->ne0);
        tr->quantize_row_ref(c->row, (unsigned char *)dst + r * c->dst_row, c->ne0);
    }
}

static int32_t parse_type(const char *s) {
    static const struct { const char *name; int32_t type; } t[] = {
        { "f32", LIR_TYPE_F32 }, { "f16", LIR_TYPE_F16 }, { "bf16", LIR_TYPE_BF16 }, { "q8_0", LIR_TYPE_Q8_0 },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcasecmp(s, t[i].name)) return t[i].type;
    return -1;
}

/* llama.cpp's llama_ftype for a model whose matrices are all of type t. */
static uint32_t ftype_of(int32_t t) {
    switch (t) {
    case LIR_TYPE_F16: return 1;
    case LIR_TYPE_Q8_0: return 7;
    case LIR_TYPE_BF16: return 32;
    default: return 0;
    }
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *f) {
    fputs("usage: lir-convert --safetensors FILE [--safetensors FILE ...] --config config.json --spm tokenizer.model\n"
          "                   [--type f32|f16|bf16|q8_0] [--name NAME] -o OUT.gguf\n"
          "Converts a llama checkpoint written by tools/train/train.py (GGUF tensor names, normal RoPE\n"
          "layout) and its SentencePiece tokenizer to a GGUF model. Default type q8_0.\n", f);
}

int main(int argc, char **argv) {
    const char *st[MAX_FILES], *cfg_path = NULL, *spm_path = NULL, *out = NULL, *type_s = "q8_0", *name = "lir model";
    int n_st = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        if (!v) { usage(stderr); return 2; }
        if (!strcmp(a, "--safetensors")) {
            if (n_st == MAX_FILES) { fprintf(stderr, "lir-convert: at most %d --safetensors\n", MAX_FILES); return 2; }
            st[n_st++] = v;
        } else if (!strcmp(a, "--config")) cfg_path = v;
        else if (!strcmp(a, "--spm")) spm_path = v;
        else if (!strcmp(a, "--type")) type_s = v;
        else if (!strcmp(a, "--name")) name = v;
        else if (!strcmp(a, "-o")) out = v;
        else { fprintf(stderr, "lir-convert: unknown option '%s'\n", a); usage(stderr); return 2; }
        i++;
    }
    int32_t type = parse_type(type_s);
    if (!n_st || !cfg_path || !spm_path || !out || type < 0) { usage(stderr); return 2; }

    struct cfg c;
    if (load_cfg(cfg_path, &c)) return 1;
    struct lir_spm_model spm;
    lir_err e = { { 0 } };
    if (lir_spm_model_read(spm_path, &spm, &e)) return fail("%s", e.msg);
    if (spm.model_type != LIR_SPM_BPE)
        fprintf(stderr, "lir-convert: warning: %s is not a BPE SentencePiece model (type %d); llama.cpp's and lir's "
                        "SPM tokenizer reproduce BPE models only\n", spm_path, spm.model_type);
    int rc = 0;
    struct src s = { 0 };
    lir_gguf_writer *w = NULL;
    struct conv *convs = NULL;
    size_t n_conv = 0;
    char (*names)[64] = NULL;
    if (spm.n != c.n_vocab) { rc = fail("%s has %" PRId64 " pieces, config vocab_size is %" PRId64, spm_path, spm.n, c.n_vocab); goto done; }
    for (int i = 0; i < n_st && !rc; i++) rc = st_open(&s, st[i]);
    if (rc) goto done;

    /* every expected tensor, with its safetensors shape (outermost first) */
    size_t n_max = 3 + 9 * (size_t)c.n_layer;
    names = calloc(n_max, sizeof *names);
    convs = calloc(n_max, sizeof *convs);
    w = lir_gguf_writer_create(3, LIR_GGUF_DEFAULT_ALIGNMENT);
    if (!names || !convs || !w) { rc = fail("out of memory"); goto done; }

    lir_gguf_writer_set_str(w, "general.architecture", "llama");
    lir_gguf_writer_set_str(w, "general.name", name);
    lir_gguf_writer_set_u32(w, "general.file_type", ftype_of(type));
    if (lir_type_traits_get(type)->is_quantized) lir_gguf_writer_set_u32(w, "general.quantization_version", 2);
    lir_gguf_writer_set_u32(w, "llama.vocab_size", (uint32_t)c.n_vocab);
    lir_gguf_writer_set_u32(w, "llama.context_length", (uint32_t)c.n_ctx);
    lir_gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t)c.n_embd);
    lir_gguf_writer_set_u32(w, "llama.block_count", (uint32_t)c.n_layer);
    lir_gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t)c.n_ff);
    lir_gguf_writer_set_u32(w, "llama.rope.dimension_count", (uint32_t)c.head_dim);
    lir_gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t)c.n_head);
    lir_gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t)c.n_head_kv);
    if (c.head_dim * c.n_head != c.n_embd) {
        lir_gguf_writer_set_u32(w, "llama.attention.key_length", (uint32_t)c.head_dim);
        lir_gguf_writer_set_u32(w, "llama.attention.value_length", (uint32_t)c.head_dim);
    }
    lir_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", c.rms_eps);
    lir_gguf_writer_set_f32(w, "llama.rope.freq_base", c.rope_base);

    lir_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    lir_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)spm.tok, (uint64_t)spm.n);
    lir_gguf_writer_set_arr(w, "tokenizer.ggml.scores", LIR_GGUF_FLOAT32, spm.score, (uint64_t)spm.n);
    lir_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", LIR_GGUF_INT32, spm.type, (uint64_t)spm.n);
    if (spm.bos >= 0) lir_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)spm.bos);
    if (spm.eos >= 0) lir_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)spm.eos);
    if (spm.unk >= 0) lir_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)spm.unk);
    if (spm.pad >= 0) lir_gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)spm.pad);
    lir_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", spm.bos >= 0);
    lir_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", false);
    lir_gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", spm.add_space_prefix);

    int64_t q_out = c.n_head * c.head_dim, kv_out = c.n_head_kv * c.head_dim;
    bool tied = src_find(&s, "output.weight") == NULL;
    for (int64_t il = -1; il <= c.n_layer && !rc; il++) {
        static const char *const blk[] = { "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                                           "ffn_norm", "ffn_gate", "ffn_up", "ffn_down" };
        /* il == -1: token_embd; 0..n_layer-1: blocks; n_layer: output_norm, output */
        size_t nb = il < 0 ? 1 : il == c.n_layer ? (tied ? 1 : 2) : 9;
        for (size_t j = 0; j < nb && !rc; j++) {
            int64_t rows = 1, cols;
            int n_dims = 2;
            char *nm = names[n_conv];
            if (il < 0) { snprintf(nm, 64, "token_embd.weight"); rows = c.n_vocab; cols = c.n_embd; }
            else if (il == c.n_layer) {
                if (j == 0) { snprintf(nm, 64, "output_norm.weight"); n_dims = 1; cols = c.n_embd; }
                else { snprintf(nm, 64, "output.weight"); rows = c.n_vocab; cols = c.n_embd; }
            } else {
                snprintf(nm, 64, "blk.%" PRId64 ".%s.weight", il, blk[j]);
                switch (j) {
                case 0: case 5: n_dims = 1; cols = c.n_embd; break;
                case 1: rows = q_out; cols = c.n_embd; break;
                case 2: case 3: rows = kv_out; cols = c.n_embd; break;
                case 4: rows = c.n_embd; cols = q_out; break;
                case 8: rows = c.n_embd; cols = c.n_ff; break;
                default: rows = c.n_ff; cols = c.n_embd; break;
                }
            }
            struct src_tensor *t = src_find(&s, nm);
            if (!t) { rc = fail("tensor '%s' is missing", nm); break; }
            bool ok = t->n_dims == n_dims && (n_dims == 1 ? t->shape[0] == cols : t->shape[0] == rows && t->shape[1] == cols);
            if (!ok) {
                rc = fail("tensor '%s': shape [%" PRId64 "%s%" PRId64 "], expected [%" PRId64 "%s%" PRId64 "] from the config", nm,
                          t->shape[0], t->n_dims > 1 ? ", " : "", t->n_dims > 1 ? t->shape[1] : (int64_t)0,
                          n_dims == 1 ? cols : rows, n_dims > 1 ? ", " : "", n_dims > 1 ? cols : (int64_t)0);
                break;
            }
            t->used = true;
            struct conv *cv = &convs[n_conv++];
            cv->t = t;
            cv->type = n_dims == 1 ? LIR_TYPE_F32 : type;
            cv->ne0 = cols;
            if (lir_type_row_size(cv->type, cols) == 0) {
                rc = fail("tensor '%s': rows of %" PRId64 " do not fit %s blocks", nm, cols, lir_type_name(cv->type));
                break;
            }
            cv->src_row = (size_t)cols * (t->dtype == SRC_F32 ? 4 : 2);
            cv->dst_row = lir_type_row_size(cv->type, cols);
            cv->row = malloc((size_t)cols * sizeof(float));
            if (!cv->row) { rc = fail("out of memory"); break; }
            int64_t ne[2] = { cols, rows };
            lir_gguf_writer_add_tensor_stream(w, nm, cv->type, (uint32_t)n_dims, ne, fill_rows, cv);
        }
    }
    for (size_t i = 0; i < s.n && !rc; i++)
        if (!s.t[i].used) rc = fail("unexpected tensor '%s' (not part of a llama model of this config)", s.t[i].name);
    if (!rc && lir_gguf_writer_finish(w, out, &e)) rc = fail("%s", e.msg);
done:
    for (size_t i = 0; convs && i < n_conv; i++) free(convs[i].row);
    free(convs);
    free(names);
    lir_gguf_writer_free(w);
    src_close(&s);
    lir_spm_model_free(&spm);
    return rc;
}
