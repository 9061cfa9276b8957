/* vocab.c — building a vocabulary (from arrays or GGUF metadata), its lookup tables, the
 * special-token partition of the input text and the tokenize entry point that dispatches
 * to spm.c / bpe.c / wpm.c. Defaults and special-token rules follow llama.cpp's loader. */
#include "tokenizer/vocab_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- hashing */

uint64_t lir__tok_hash(const char *s, size_t n) {
    /* 64-bit FNV-1a over 8-byte words, then a final mix: quick for short keys */
    uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
    }
    uint64_t w = 0;
    memcpy(&w, s + i, n - i);
    h = (h ^ w) * 0x100000001b3ull;
    h ^= h >> 32;
    h *= 0x9e3779b97f4a7c15ull;
    h ^= h >> 29;
    return h;
}

int32_t lir_vocab_find(const lir_vocab *v, const char *s, size_t n) {
    if (!v || n > UINT32_MAX) return -1;
    uint64_t i = lir__tok_hash(s, n) & v->ht_mask;
    for (;;) {
        uint32_t x = v->ht[i];
        if (!x) return -1;
        const struct vtok *t = &v->tok[x - 1];
        if (t->len == n && memcmp(v->text + t->off, s, n) == 0) return (int32_t)(x - 1);
        i = (i + 1) & v->ht_mask;
    }
}

static uint64_t merge_hash(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
}

/* ---------------------------------------------------------------- build */

struct lir_vocab_desc lir_vocab_desc_default(void) {
    struct lir_vocab_desc d;
    memset(&d, 0, sizeof d);
    d.bos = d.eos = d.eot = d.eom = d.unk = d.sep = d.pad = LIR_VOCAB_ID_DEFAULT;
    d.add_bos = d.add_eos = d.add_space_prefix = d.lowercase = -1;
    return d;
}

static bool text_is(const lir_vocab *v, int32_t id, const char *s) {
    size_t n = strlen(s);
    return v->tok[id].len == n && memcmp(v->text + v->tok[id].off, s, n) == 0;
}

/* llama.cpp marks these end-of-generation by their text (its loader's list), and makes them
 * control tokens: so "</s>" is parsed as special even in Qwen's vocabulary, where it is an
 * ordinary piece. */
static const char *const eog_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
    "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>", "</s>",
};
static const char *const eot_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
    "<EOT>", "_<EOT>", "<end_of_utterance>",
};

static int cmp_special_len(const void *a, const void *b, void *ctx) {
    const lir_vocab *v = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (v->tok[x].len != v->tok[y].len) return v->tok[x].len > v->tok[y].len ? -1 : 1;
    return x < y ? -1 : x > y;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* decoded piece of every token (special text included; hiding is done at query time) */
static enum lir_status build_pieces(lir_vocab *v, size_t text_bytes, lir_err *e) {
    /* a decoded piece is never longer than its text (▁ 3 -> 1, BPE chars 1-2 -> 1 byte), but
     * a BPE char outside the byte map is kept as is: text_bytes bounds the total */
    v->pieces = malloc(text_bytes + 1);
    if (!v->pieces) return lir__errf(e, LIR_ENOMEM, "tokenizer: out of memory for pieces");
    size_t o = 0;
    for (int32_t id = 0; id < v->n_tokens; id++) {
        struct vtok *t = &v->tok[id];
        const unsigned char *s = (const unsigned char *)v->text + t->off;
        t->poff = (uint32_t)o;
        if (t->attr & (TA_UNKNOWN | TA_CONTROL | TA_USER)) {
            memcpy(v->pieces + o, s, t->len);
            o += t->len;
        } else if (t->attr & TA_NORMAL) {
            if (v->type == LIR_VOCAB_BPE) {
                for (uint32_t i = 0; i < t->len;) {
                    size_t l = utf8_len_lead(s[i]);
                    if (i + l > t->len) l = t->len - i;
                    uint32_t cp = s[i];
                    if (l == 2) cp = ((s[i] & 0x1fu) << 6) | (s[i + 1] & 0x3fu);
                    else if (l == 3) cp = ((s[i] & 0x0fu) << 12) | ((s[i + 1] & 0x3fu) << 6) | (s[i + 2] & 0x3fu);
                    else if (l == 4) cp = ((s[i] & 0x07u) << 18) | ((s[i + 1] & 0x3fu) << 12) | ((s[i + 2] & 0x3fu) << 6) | (s[i + 3] & 0x3fu);
                    int b = lir__bpe_cp_byte(cp);
                    if (b >= 0) v->pieces[o++] = (char)b;
                    else { memcpy(v->pieces + o, s + i, l); o += l; }
                    i += (uint32_t)l;
                }
            } else {
                /* SPM/WPM: ▁ (e2 96 81) is a space */
                for (uint32_t i = 0; i < t->len;) {
                    if (i + 2 < t->len && s[i] == 0xe2 && s[i + 1] == 0x96 && s[i + 2] == 0x81) {
                        v->pieces[o++] = ' ';
                        i += 3;
                    } else {
                        v->pieces[o++] = (char)s[i++];
                    }
                }
            }
        } else if (t->attr & TA_BYTE) {
            int hi = t->len == 6 ? hexval((char)s[3]) : -1, lo = t->len == 6 ? hexval((char)s[4]) : -1;
            if (hi >= 0 && lo >= 0) v->pieces[o++] = (char)(hi * 16 + lo);
        }
        t->plen = (uint32_t)(o - t->poff);
    }
    return LIR_OK;
}

static int32_t pick_id(int32_t given, int32_t dflt, int32_t n) {
    int32_t id = given == LIR_VOCAB_ID_DEFAULT ? dflt : given;
    if (id < 0 || id >= n) return given >= n && dflt >= 0 && dflt < n ? dflt : -1;
    return id;
}

enum lir_status lir_vocab_build(const struct lir_vocab_desc *d, lir_vocab **out, lir_err *e) {
    *out = NULL;
    if (!d || !d->model) return lir__errf(e, LIR_EINVAL, "tokenizer: no tokenizer model given");
    if (d->n_tokens <= 0 || d->n_tokens >= INT32_MAX / 2 || !d->tokens)
        return lir__errf(e, LIR_EFORMAT, "tokenizer: token count %lld out of range", (long long)d->n_tokens);
    lir_vocab *v = calloc(1, sizeof *v);
    if (!v) return lir__errf(e, LIR_ENOMEM, "tokenizer: out of memory");
    enum lir_status s = LIR_OK;
    int32_t dbos, deos, dunk = -1, dsep = -1, dpad = -1;
    bool dadd_bos, dadd_space;
    if (!strcmp(d->model, "llama")) {
        v->type = LIR_VOCAB_SPM; dbos = 1; deos = 2; dunk = 0; dadd_bos = true; dadd_space = true;
    } else if (!strcmp(d->model, "gpt2")) {
        v->type = LIR_VOCAB_BPE; dbos = 11; deos = 11; dadd_bos = false; dadd_space = false;
    } else if (!strcmp(d->model, "bert")) {
        v->type = LIR_VOCAB_WPM; dbos = 101; deos = -1; dunk = 100; dsep = 102; dpad = 0; dadd_bos = true;
        dadd_space = false; v->add_sep = true;
    } else {
        s = lir__errf(e, LIR_EUNSUPPORTED, "tokenizer: tokenizer.ggml.model '%s' is not supported (supported: llama, gpt2, bert)",
                      d->model);
        goto fail;
    }
    v->n_tokens = (int32_t)d->n_tokens;
    size_t text_bytes = 0;
    for (int64_t i = 0; i < d->n_tokens; i++) {
        if (d->tokens[i].len > (1u << 20) || (!d->tokens[i].ptr && d->tokens[i].len)) {
            s = lir__errf(e, LIR_EFORMAT, "tokenizer: token %lld is malformed or longer than 1 MiB", (long long)i);
            goto fail;
        }
        text_bytes += d->tokens[i].len;
    }
    if (text_bytes >= UINT32_MAX / 2) { s = lir__errf(e, LIR_EFORMAT, "tokenizer: token texts too large"); goto fail; }
    v->tok = calloc((size_t)v->n_tokens, sizeof *v->tok);
    v->text = malloc(text_bytes + 1);
    uint64_t cap = 16;
    while (cap < (uint64_t)v->n_tokens * 2) cap <<= 1;
    v->ht = calloc(cap, sizeof *v->ht);
    v->ht_mask = cap - 1;
    if (!v->tok || !v->text || !v->ht) { s = lir__errf(e, LIR_ENOMEM, "tokenizer: out of memory"); goto fail; }
    size_t o = 0;
    for (int32_t id = 0; id < v->n_tokens; id++) {
        struct vtok *t = &v->tok[id];
        t->off = (uint32_t)o;
        t->len = (uint32_t)d->tokens[id].len;
        if (t->len) memcpy(v->text + o, d->tokens[id].ptr, t->len);
        o += t->len;
        if ((int)t->len > v->max_token_len) v->max_token_len = (int)t->len;
        t->score = d->scores ? d->scores[id] : 0.0f;
        int32_t ty = d->types ? d->types[id] : LIR_TOKEN_TYPE_NORMAL;
        switch (ty) {
        case LIR_TOKEN_TYPE_NORMAL: t->attr = TA_NORMAL; break;
        case LIR_TOKEN_TYPE_UNKNOWN: t->attr = TA_UNKNOWN; break;
        case LIR_TOKEN_TYPE_CONTROL: t->attr = TA_CONTROL; break;
        case LIR_TOKEN_TYPE_USER_DEFINED: t->attr = TA_USER; break;
        case LIR_TOKEN_TYPE_UNUSED: t->attr = TA_UNUSED; break;
        case LIR_TOKEN_TYPE_BYTE: t->attr = TA_BYTE; break;
        default: t->attr = 0; break;
        }
        /* first id wins on duplicates (llama.cpp refuses them; real vocabularies have none) */
        if (t->len == 0) continue; /* an empty token can never be matched */
        uint64_t h = lir__tok_hash(v->text + t->off, t->len) & v->ht_mask;
        bool dup = false;
        while (v->ht[h]) {
            const struct vtok *u = &v->tok[v->ht[h] - 1];
            if (u->len == t->len && memcmp(v->text + u->off, v->text + t->off, t->len) == 0) { dup = true; break; }
            h = (h + 1) & v->ht_mask;
        }
        if (!dup) v->ht[h] = (uint32_t)id + 1;
    }

    /* special ids and flags */
    int32_t n = v->n_tokens;
    v->bos = pick_id(d->bos, dbos, n);
    v->eos = pick_id(d->eos, deos, n);
    v->unk = pick_id(d->unk, dunk, n);
    v->sep = pick_id(d->sep, dsep, n);
    v->pad = pick_id(d->pad, dpad, n);
    v->eot = pick_id(d->eot, -1, n);
    v->eom = pick_id(d->eom, -1, n);
    v->add_bos = dadd_bos;
    v->add_space_prefix = dadd_space;
    v->lowercase = d->lowercase != 0;
    if (v->type == LIR_VOCAB_BPE) {
        if ((s = lir__bpe_init(v, d->pre && d->pre[0] ? d->pre : "default", e))) goto fail;
    } else {
        snprintf(v->pre_name, sizeof v->pre_name, "default");
    }
    if (d->add_bos >= 0) v->add_bos = d->add_bos;
    if (d->add_eos >= 0) v->add_eos = d->add_eos;
    if (d->add_space_prefix >= 0) v->add_space_prefix = d->add_space_prefix;
    if (v->add_bos && v->bos < 0) { s = lir__errf(e, LIR_EFORMAT, "tokenizer: add_bos_token is true but there is no valid bos_token_id"); goto fail; }
    if (v->add_eos && v->eos < 0) { s = lir__errf(e, LIR_EFORMAT, "tokenizer: add_eos_token is true but there is no valid eos_token_id"); goto fail; }
    if (v->type == LIR_VOCAB_WPM && (v->bos < 0 || v->sep < 0)) {
        s = lir__errf(e, LIR_EFORMAT, "tokenizer: a bert vocabulary needs valid CLS (bos) and SEP ids");
        goto fail;
    }

    /* end of generation */
    for (int32_t id = 0; id < n; id++) {
        for (size_t k = 0; v->eot < 0 && k < sizeof eot_texts / sizeof eot_texts[0]; k++)
            if (text_is(v, id, eot_texts[k])) { v->eot = id; v->tok[id].attr |= TA_CONTROL; v->tok[id].attr &= ~TA_NORMAL; }
        if (v->eom < 0 && text_is(v, id, "<|eom_id|>")) v->eom = id;
        for (size_t k = 0; k < sizeof eog_texts / sizeof eog_texts[0]; k++)
            if (text_is(v, id, eog_texts[k])) {
                v->tok[id].attr |= TA_EOG;
                if (!(v->tok[id].attr & TA_CONTROL)) { v->tok[id].attr |= TA_CONTROL; v->tok[id].attr &= ~TA_NORMAL; }
            }
    }
    if (v->eos >= 0) v->tok[v->eos].attr |= TA_EOG;
    if (v->eot >= 0) v->tok[v->eot].attr |= TA_EOG;
    if (v->eom >= 0) v->tok[v->eom].attr |= TA_EOG;

    /* byte tokens */
    for (int b = 0; b < 256; b++) {
        v->byte_tok[b] = -1;
        if (v->type == LIR_VOCAB_SPM) {
            char buf[8];
            snprintf(buf, sizeof buf, "<0x%02X>", b);
            v->byte_tok[b] = lir_vocab_find(v, buf, 6);
            if (v->byte_tok[b] < 0) { char c = (char)b; v->byte_tok[b] = lir_vocab_find(v, &c, 1); }
        } else if (v->type == LIR_VOCAB_BPE) {
            uint32_t cp = lir__bpe_byte_cp((uint8_t)b);
            char buf[4];
            size_t l = 1;
            if (cp < 0x80) buf[0] = (char)cp;
            else { buf[0] = (char)(0xc0 | (cp >> 6)); buf[1] = (char)(0x80 | (cp & 0x3f)); l = 2; }
            v->byte_tok[b] = lir_vocab_find(v, buf, l);
        }
    }

    /* merges: (left id, right id) -> rank */
    if (v->type == LIR_VOCAB_BPE && d->n_merges > 0) {
        if (!d->merges || d->n_merges >= INT32_MAX / 4) { s = lir__errf(e, LIR_EFORMAT, "tokenizer: bad merges"); goto fail; }
        uint64_t mc = 16;
        while (mc < (uint64_t)d->n_merges * 2) mc <<= 1;
        v->mkey = calloc(mc, sizeof *v->mkey);
        v->mrank = malloc(mc * sizeof *v->mrank);
        v->mres = malloc(mc * sizeof *v->mres);
        v->m_mask = mc - 1;
        if (!v->mkey || !v->mrank || !v->mres) { s = lir__errf(e, LIR_ENOMEM, "tokenizer: out of memory for merges"); goto fail; }
        char *buf = malloc((size_t)v->max_token_len * 2 + 2);
        if (!buf) { s = lir__errf(e, LIR_ENOMEM, "tokenizer: out of memory"); goto fail; }
        for (int64_t r = 0; r < d->n_merges; r++) {
            const char *m = d->merges[r].ptr;
            size_t ml = d->merges[r].len;
            /* split at the first space after position 0 (llama.cpp: find(' ', 1)) */
            const char *sp = ml > 1 ? memchr(m + 1, ' ', ml - 1) : NULL;
            if (!sp) continue;
            size_t ll = (size_t)(sp - m), rl = ml - ll - 1;
            int32_t a = lir_vocab_find(v, m, ll), b = lir_vocab_find(v, sp + 1, rl);
            if (a < 0 || b < 0 || ll + rl > (size_t)v->max_token_len) continue; /* can never apply to token symbols */
            memcpy(buf, m, ll);
            memcpy(buf + ll, sp + 1, rl);
            int32_t res = lir_vocab_find(v, buf, ll + rl);
            uint64_t key = ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)(b + 1);
            uint64_t h = merge_hash(key) & v->m_mask;
            while (v->mkey[h] && v->mkey[h] != key) h = (h + 1) & v->m_mask;
            if (v->mkey[h]) continue; /* first (lowest) rank wins */
            v->mkey[h] = key;
            v->mrank[h] = (int32_t)r;
            v->mres[h] = res;
        }
        free(buf);
    }

    /* special tokens for the partition, longest first */
    for (int32_t id = 0; id < n; id++)
        if ((v->tok[id].attr & (TA_CONTROL | TA_USER | TA_UNKNOWN)) && v->tok[id].len) v->n_special++;
    if (v->n_special) {
        v->special = malloc((size_t)v->n_special * sizeof *v->special);
        if (!v->special) { s = lir__errf(e, LIR_ENOMEM, "tokenizer: out of memory"); goto fail; }
        int32_t k = 0;
        for (int32_t id = 0; id < n; id++)
            if ((v->tok[id].attr & (TA_CONTROL | TA_USER | TA_UNKNOWN)) && v->tok[id].len) v->special[k++] = id;
        qsort_r(v->special, (size_t)v->n_special, sizeof *v->special, cmp_special_len, v);
    }
    if ((s = build_pieces(v, text_bytes, e))) goto fail;
    *out = v;
    return LIR_OK;
fail:
    lir_vocab_free(v);
    return s;
}

void lir_vocab_free(lir_vocab *v) {
    if (!v) return;
    for (int i = 0; i < v->n_re; i++) pcre2_code_free(v->re[i]);
    free(v->tok);
    free(v->text);
    free(v->pieces);
    free(v->ht);
    free(v->mkey);
    free(v->mrank);
    free(v->mres);
    free(v->special);
    free(v);
}

/* ---------------------------------------------------------------- GGUF */

static int32_t gguf_id(const lir_gguf *g, const char *key, lir_err *e, bool *bad) {
    uint32_t u;
    lir_err ge = { { 0 } };
    if (lir_gguf_get_u32(g, key, &u, &ge)) return u > INT32_MAX ? INT32_MAX : (int32_t)u; /* out of range: default */
    if (ge.msg[0]) { *bad = true; lir__errf(e, LIR_EFORMAT, "tokenizer: %s", ge.msg); }
    return LIR_VOCAB_ID_DEFAULT;
}

static int gguf_flag(const lir_gguf *g, const char *key) {
    bool b;
    if (lir_gguf_get_bool(g, key, &b, NULL)) return b;
    return -1;
}

enum lir_status lir_vocab_load_gguf(const lir_gguf *g, lir_vocab **out, lir_err *e) {
    *out = NULL;
    lir_err ge = { { 0 } };
    lir_gguf_str model, pre = { 0 };
    if (!lir_gguf_get_str(g, "tokenizer.ggml.model", &model, &ge)) {
        if (ge.msg[0]) return lir__errf(e, LIR_EFORMAT, "tokenizer: %s", ge.msg);
        return lir__errf(e, LIR_ENOTFOUND, "tokenizer: the file has no tokenizer.ggml.model");
    }
    char model_s[32], pre_s[64] = "";
    if (model.len >= sizeof model_s)
        return lir__errf(e, LIR_EUNSUPPORTED, "tokenizer: tokenizer.ggml.model '%.*s...' is not supported", 16, model.ptr);
    memcpy(model_s, model.ptr, model.len);
    model_s[model.len] = 0;
    if (lir_gguf_get_str(g, "tokenizer.ggml.pre", &pre, &ge)) {
        if (pre.len >= sizeof pre_s)
            return lir__errf(e, LIR_EUNSUPPORTED, "tokenizer: unknown tokenizer.ggml.pre '%.*s...'", 32, pre.ptr);
        memcpy(pre_s, pre.ptr, pre.len);
        pre_s[pre.len] = 0;
    } else if (ge.msg[0]) {
        return lir__errf(e, LIR_EFORMAT, "tokenizer: %s", ge.msg);
    }
    enum lir_gguf_vtype et;
    uint64_t n = 0;
    if (!lir_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, &ge) || et != LIR_GGUF_STRING) {
        if (ge.msg[0]) return lir__errf(e, LIR_EFORMAT, "tokenizer: %s", ge.msg);
        if (lir_gguf_find_key(g, "tokenizer.ggml.tokens") < 0)
            return lir__errf(e, LIR_ENOTFOUND, "tokenizer: the file has no tokenizer.ggml.tokens");
        return lir__errf(e, LIR_EFORMAT, "tokenizer: tokenizer.ggml.tokens is not an array of strings");
    }
    if (n == 0 || n >= INT32_MAX / 2) return lir__errf(e, LIR_EFORMAT, "tokenizer: %llu tokens is out of range", (unsigned long long)n);
    struct lir_vocab_desc d = lir_vocab_desc_default();
    d.model = model_s;
    d.pre = pre_s;
    d.n_tokens = (int64_t)n;
    enum lir_status s = LIR_OK;
    lir_gguf_str *toks = malloc(n * sizeof *toks);
    float *scores = NULL;
    int32_t *types = NULL;
    lir_gguf_str *merges = NULL;
    if (!toks) return lir__errf(e, LIR_ENOMEM, "tokenizer: out of memory");
    for (uint64_t i = 0; i < n; i++) toks[i] = lir_gguf_arr_str(g, "tokenizer.ggml.tokens", i);
    d.tokens = toks;
    uint64_t m;
    if (lir_gguf_get_arr(g, "tokenizer.ggml.scores", &et, &m, &ge)) {
        if ((et != LIR_GGUF_FLOAT32 && et != LIR_GGUF_INT32) || m < n) {
            s = lir__errf(e, LIR_EFORMAT, "tokenizer: tokenizer.ggml.scores must be %llu float32 or int32 values", (unsigned long long)n);
            goto out;
        }
        scores = malloc(n * sizeof *scores);
        if (!scores) { s = lir__errf(e, LIR_ENOMEM, "tokenizer: out of memory"); goto out; }
        const unsigned char *p = lir_gguf_arr_data(g, "tokenizer.ggml.scores");
        for (uint64_t i = 0; i < n; i++) {
            if (et == LIR_GGUF_FLOAT32) memcpy(&scores[i], p + 4 * i, 4);
            else { int32_t x; memcpy(&x, p + 4 * i, 4); scores[i] = (float)x; }
        }
        d.scores = scores;
    } else if (ge.msg[0]) { s = lir__errf(e, LIR_EFORMAT, "tokenizer: %s", ge.msg); goto out; }
    if (lir_gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &m, &ge)) {
        if (et != LIR_GGUF_INT32 || m < n) {
            s = lir__errf(e, LIR_EFORMAT, "tokenizer: tokenizer.ggml.token_type must be %llu int32 values", (unsigned long long)n);
            goto out;
        }
        types = malloc(n * sizeof *types);
        if (!types) { s = lir__errf(e, LIR_ENOMEM, "tokenizer: out of memory"); goto out; }
        memcpy(types, lir_gguf_arr_data(g, "tokenizer.ggml.token_type"), n * 4);
        d.types = types;
    } else if (ge.msg[0]) { s = lir__errf(e, LIR_EFORMAT, "tokenizer: %s", ge.msg); goto out; }
    if (!strcmp(model_s, "gpt2")) {
        if (!lir_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &m, &ge) || et != LIR_GGUF_STRING) {
            s = lir__errf(e, LIR_EFORMAT, "tokenizer: a gpt2 vocabulary needs tokenizer.ggml.merges (array of strings)%s%s",
                          ge.msg[0] ? ": " : "", ge.msg);
            goto out;
        }
        merges = malloc((m ? m : 1) * sizeof *merges);
        if (!merges) { s = lir__errf(e, LIR_ENOMEM, "tokenizer: out of memory"); goto out; }
        for (uint64_t i = 0; i < m; i++) merges[i] = lir_gguf_arr_str(g, "tokenizer.ggml.merges", i);
        d.merges = merges;
        d.n_merges = (int64_t)m;
    }
    bool bad = false;
    d.bos = gguf_id(g, "tokenizer.ggml.bos_token_id", e, &bad);
    d.eos = gguf_id(g, "tokenizer.ggml.eos_token_id", e, &bad);
    d.eot = gguf_id(g, "tokenizer.ggml.eot_token_id", e, &bad);
    d.eom = gguf_id(g, "tokenizer.ggml.eom_token_id", e, &bad);
    d.unk = gguf_id(g, "tokenizer.ggml.unknown_token_id", e, &bad);
    d.sep = gguf_id(g, "tokenizer.ggml.seperator_token_id", e, &bad);
    d.pad = gguf_id(g, "tokenizer.ggml.padding_token_id", e, &bad);
    if (bad) { s = LIR_EFORMAT; goto out; }
    d.add_bos = gguf_flag(g, "tokenizer.ggml.add_bos_token");
    d.add_eos = gguf_flag(g, "tokenizer.ggml.add_eos_token");
    d.add_space_prefix = gguf_flag(g, "tokenizer.ggml.add_space_prefix");
    d.lowercase = gguf_flag(g, "tokenizer.ggml.normalizer.lowercase");
    s = lir_vocab_build(&d, out, e);
out:
    free(toks);
    free(scores);
    free(types);
    free(merges);
    return s;
}

/* ---------------------------------------------------------------- accessors */

enum lir_vocab_type lir_vocab_type(const lir_vocab *v) { return v->type; }
int32_t lir__vocab_n_tokens(const lir_vocab *v) { return v->n_tokens; }
int32_t lir__vocab_bos(const lir_vocab *v) { return v->bos; }
int32_t lir__vocab_eos(const lir_vocab *v) { return v->eos; }
int32_t lir__vocab_eot(const lir_vocab *v) { return v->eot; }
int32_t lir__vocab_unk(const lir_vocab *v) { return v->unk; }
bool lir__vocab_add_bos(const lir_vocab *v) { return v->add_bos; }
bool lir__vocab_add_space_prefix(const lir_vocab *v) { return v->add_space_prefix; }

bool lir__vocab_is_eog(const lir_vocab *v, int32_t id) {
    return id >= 0 && id < v->n_tokens && (v->tok[id].attr & TA_EOG);
}

bool lir_vocab_is_special(const lir_vocab *v, int32_t id) {
    return id >= 0 && id < v->n_tokens && (v->tok[id].attr & (TA_CONTROL | TA_UNKNOWN));
}

const char *lir_vocab_token_text(const lir_vocab *v, int32_t id, size_t *len) {
    if (id < 0 || id >= v->n_tokens) return NULL;
    if (len) *len = v->tok[id].len;
    return v->text + v->tok[id].off;
}

const char *lir_vocab_piece(const lir_vocab *v, int32_t id, bool special, size_t *len) {
    if (!v || id < 0 || id >= v->n_tokens) return NULL;
    const struct vtok *t = &v->tok[id];
    *len = (!special && (t->attr & (TA_CONTROL | TA_UNKNOWN))) ? 0 : t->plen;
    return v->pieces + t->poff;
}

/* ---------------------------------------------------------------- tokenize */

struct frag { size_t off, len; int32_t tok; /* -1: raw text */ };
struct fragvec { struct frag *a; size_t n, cap; };

static bool fv_push(struct fragvec *f, struct frag x) {
    if (f->n == f->cap) {
        size_t nc = f->cap ? f->cap * 2 : 16;
        struct frag *p = realloc(f->a, nc * sizeof *p);
        if (!p) return false;
        f->a = p;
        f->cap = nc;
    }
    f->a[f->n++] = x;
    return true;
}

/* llama.cpp's tokenizer_st_partition: for each special token, longest first, split every
 * raw-text fragment at each of its occurrences. Control/unknown tokens only when
 * parse_special; user-defined tokens always. */
static bool partition(const lir_vocab *v, const char *text, size_t len, bool parse_special, struct fragvec *fv) {
    if (!fv_push(fv, (struct frag){ 0, len, -1 })) return false;
    struct fragvec nv = { 0 };
    for (int32_t k = 0; k < v->n_special; k++) {
        int32_t id = v->special[k];
        const struct vtok *t = &v->tok[id];
        if (!parse_special && (t->attr & (TA_CONTROL | TA_UNKNOWN))) continue;
        const char *st = v->text + t->off;
        bool any = false;
        for (size_t i = 0; i < fv->n && !any; i++)
            if (fv->a[i].tok < 0 && fv->a[i].len >= t->len && memmem(text + fv->a[i].off, fv->a[i].len, st, t->len)) any = true;
        if (!any) continue;
        nv.n = 0;
        for (size_t i = 0; i < fv->n; i++) {
            struct frag f = fv->a[i];
            if (f.tok >= 0) { if (!fv_push(&nv, f)) goto oom; continue; }
            size_t p = f.off, end = f.off + f.len;
            while (p < end) {
                const char *hit = end - p >= t->len ? memmem(text + p, end - p, st, t->len) : NULL;
                if (!hit) { if (!fv_push(&nv, (struct frag){ p, end - p, -1 })) goto oom; break; }
                size_t h = (size_t)(hit - text);
                if (h > p && !fv_push(&nv, (struct frag){ p, h - p, -1 })) goto oom;
                if (!fv_push(&nv, (struct frag){ h, t->len, id })) goto oom;
                p = h + t->len;
            }
        }
        struct fragvec tmp = *fv;
        *fv = nv;
        nv = tmp;
    }
    free(nv.a);
    return true;
oom:
    free(nv.a);
    return false;
}

enum lir_status lir_vocab_tokenize(const lir_vocab *v, const char *text, size_t len, bool add_special,
                                   bool parse_special, int32_t **out, size_t *n_out, lir_err *e) {
    *out = NULL;
    *n_out = 0;
    if (!text && len) return lir__errf(e, LIR_EINVAL, "tokenize: text is NULL");
    struct tokvec tv = { 0 };
    struct fragvec fv = { 0 };
    enum lir_status s = LIR_OK;
    if (len && !partition(v, text, len, parse_special, &fv)) { s = lir__errf(e, LIR_ENOMEM, "tokenize: out of memory"); goto out; }
    if (add_special && (v->type == LIR_VOCAB_WPM || v->add_bos) && v->bos >= 0) tv_push(&tv, v->bos);
    bool prev_special = true; /* SPM: a space prefix for the first run and after each special token */
    for (size_t i = 0; i < fv.n; i++) {
        const struct frag *f = &fv.a[i];
        if (f->tok >= 0) { tv_push(&tv, f->tok); prev_special = true; continue; }
        switch (v->type) {
        case LIR_VOCAB_SPM:
            lir__spm_tokenize(v, text + f->off, f->len, v->add_space_prefix && prev_special, &tv);
            break;
        case LIR_VOCAB_BPE:
            if ((s = lir__bpe_tokenize(v, text + f->off, f->len, &tv, e))) goto out;
            break;
        case LIR_VOCAB_WPM:
            lir__wpm_tokenize(v, text + f->off, f->len, &tv);
            break;
        }
        prev_special = false;
    }
    if (add_special) {
        if (v->type == LIR_VOCAB_WPM) { if (v->sep >= 0) tv_push(&tv, v->sep); }
        else if (v->add_eos && v->eos >= 0) tv_push(&tv, v->eos);
    }
    if (tv.oom) { s = lir__errf(e, LIR_ENOMEM, "tokenize: out of memory"); goto out; }
    *out = tv.v;
    *n_out = tv.n;
    tv.v = NULL;
out:
    free(tv.v);
    free(fv.a);
    return s;
}
