/* fuzz_tokenizer.c — libFuzzer target for the tokenizers, the streaming detokenizer and the
 * vocabulary loader.
 *
 * Byte 0 picks the mode and flags, the rest is the payload:
 *   bits 0-1: 0 SPM ("llama"), 1 byte-level BPE ("gpt2", pre "llama-bpe"), 2 WPM ("bert") —
 *             small fixed vocabularies written once with the GGUF writer and read back with
 *             lir_vocab_load_gguf, the path a model's vocabulary takes; the payload is the
 *             text (any bytes, invalid UTF-8 included);
 *             3: the vocabulary metadata itself is fuzzed: the payload is decoded into
 *             tokenizer.ggml.* keys (model, pre, tokens, scores, types, merges, special ids,
 *             flags, with wrong value types now and then), serialized as an in-memory GGUF,
 *             opened with lir_gguf_open_memory and loaded; when it loads, a few fixed texts
 *             and the payload's tail are tokenized with it;
 *   bit 2: parse_special;  bit 3: add_special;  bit 4: show_special in the detokenizer;
 *   bit 5: detokenize in one flush at the end instead of chunk by chunk (no per-push output).
 * Checks: every id is in range; every detokenizer chunk is valid UTF-8; for BPE, and for SPM
 * when no special or user-defined token came out, tokenize -> detokenize gives back a valid
 * UTF-8 text exactly (the tokenizers are lossless there). Crashes, leaks, hangs and sanitizer
 * reports are findings. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab_impl.h" /* lir__bpe_byte_cp */

#define SP "\xe2\x96\x81" /* U+2581, SentencePiece's space */

/* ---------------------------------------------------------------- UTF-8 check */

/* Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
static bool utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t k;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) { k = 1; cp = c & 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { k = 2; cp = c & 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { k = 3; cp = c & 0x07; min = 0x10000; }
        else return false;
        if (n - i <= k) return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return false;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += k + 1;
    }
    return true;
}

static bool contains(const char *h, size_t hn, const char *n) {
    size_t nn = strlen(n);
    for (size_t i = 0; i + nn <= hn; i++)
        if (!memcmp(h + i, n, nn)) return true;
    return false;
}

/* ---------------------------------------------------------------- fixed vocabularies */

/* ids of the user-defined tokens of each fixed vocabulary (they split text runs) */
static int32_t user_ids[3][4];
static int n_user[3];
static lir_vocab *fixed[3];

static char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (!p) abort();
    memcpy(p, s, n);
    return p;
}

struct vb { char **tok; float *score; int32_t *type; int n, cap; };
static void vb_add(struct vb *b, const char *t, float score, int32_t type) {
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 512;
        b->tok = realloc(b->tok, (size_t)b->cap * sizeof *b->tok);
        b->score = realloc(b->score, (size_t)b->cap * sizeof *b->score);
        b->type = realloc(b->type, (size_t)b->cap * sizeof *b->type);
        if (!b->tok || !b->score || !b->type) abort();
    }
    b->tok[b->n] = xstrdup(t);
    b->score[b->n] = score;
    b->type[b->n] = type;
    b->n++;
}
static void vb_free(struct vb *b) {
    for (int i = 0; i < b->n; i++) free(b->tok[i]);
    free(b->tok);
    free(b->score);
    free(b->type);
}

static void put_utf8(char *o, uint32_t cp) {
    if (cp < 0x80) { o[0] = (char)cp; o[1] = 0; }
    else if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 63)); o[2] = 0; }
    else { o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | (cp >> 6 & 63)); o[2] = (char)(0x80 | (cp & 63)); o[3] = 0; }
}

/* Writes the vocabulary with the GGUF writer to a temporary file, reads it back through
 * lir_vocab_load_gguf (the model loader's path) and returns it. */
static lir_vocab *load_written(const char *model, const char *pre, struct vb *b, const char *const *merges, int nm,
                               int32_t bos, int32_t eos, int32_t unk) {
    char path[] = "/tmp/lir-fuzz-vocab-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) abort();
    close(fd);
    lir_gguf_writer *w = lir_gguf_writer_create(3, 32);
    lir_gguf_writer_set_str(w, "general.architecture", "llama");
    lir_gguf_writer_set_str(w, "tokenizer.ggml.model", model);
    if (pre) lir_gguf_writer_set_str(w, "tokenizer.ggml.pre", pre);
    lir_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)b->tok, (uint64_t)b->n);
    lir_gguf_writer_set_arr(w, "tokenizer.ggml.scores", LIR_GGUF_FLOAT32, b->score, (uint64_t)b->n);
    lir_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", LIR_GGUF_INT32, b->type, (uint64_t)b->n);
    if (merges) lir_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, (uint64_t)nm);
    if (bos >= 0) lir_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)bos);
    if (eos >= 0) lir_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)eos);
    if (unk >= 0) lir_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)unk);
    if (!strcmp(model, "bert")) { /* BERT: eos doubles as [SEP], [PAD] is 0 */
        lir_gguf_writer_set_u32(w, "tokenizer.ggml.seperator_token_id", (uint32_t)eos);
        lir_gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", 0);
    }
    lir_err e = { { 0 } };
    if (lir_gguf_writer_finish(w, path, &e) != LIR_OK) { fprintf(stderr, "%s\n", e.msg); abort(); }
    lir_gguf_writer_free(w);
    lir_gguf *g = NULL;
    if (lir_gguf_open(path, &g, &e) != LIR_OK) { fprintf(stderr, "%s\n", e.msg); abort(); }
    lir_vocab *v = NULL;
    if (lir_vocab_load_gguf(g, &v, &e) != LIR_OK) { fprintf(stderr, "%s\n", e.msg); abort(); }
    lir_gguf_close(g);
    unlink(path);
    return v;
}

/* SPM: <unk> <s> </s>, 256 byte tokens, control/user tokens, a few scored pieces. */
static lir_vocab *make_spm(void) {
    struct vb b = { 0 };
    char t[16];
    vb_add(&b, "<unk>", 0, LIR_TOKEN_TYPE_UNKNOWN);
    vb_add(&b, "<s>", 0, LIR_TOKEN_TYPE_CONTROL);
    vb_add(&b, "</s>", 0, LIR_TOKEN_TYPE_CONTROL);
    for (int i = 0; i < 256; i++) { snprintf(t, sizeof t, "<0x%02X>", i); vb_add(&b, t, 0, LIR_TOKEN_TYPE_BYTE); }
    static const char *const pieces[] = {
        SP, SP "t", SP "th", SP "the", "he", "e", "t", "h", "a", "n", "d",
        SP "a", "an", "and", SP "and", SP SP, "\xc3\xa9", "\xe4\xb8\xad",
        "\xe4\xb8\xad\xe6\x96\x87", "ab", "abc", "b", "c", SP "\xe4\xb8\xad", "1", "12", "\n", "\xf0\x9f\x98\x80",
    };
    for (size_t i = 0; i < sizeof pieces / sizeof *pieces; i++) vb_add(&b, pieces[i], -(float)i, LIR_TOKEN_TYPE_NORMAL);
    user_ids[0][n_user[0]++] = b.n; vb_add(&b, "<tool>", 0, LIR_TOKEN_TYPE_USER_DEFINED);
    user_ids[0][n_user[0]++] = b.n; vb_add(&b, "##", 0, LIR_TOKEN_TYPE_USER_DEFINED);
    vb_add(&b, "<|im_start|>", 0, LIR_TOKEN_TYPE_CONTROL);
    vb_add(&b, "<|im_end|>", 0, LIR_TOKEN_TYPE_CONTROL);
    vb_add(&b, "<unused0>", 0, LIR_TOKEN_TYPE_UNUSED);
    lir_vocab *v = load_written("llama", NULL, &b, NULL, 0, 1, 2, 0);
    vb_free(&b);
    return v;
}

/* byte-level BPE (llama-bpe): the 256 byte characters, merges building a few words, specials. */
static lir_vocab *make_bpe(void) {
    struct vb b = { 0 };
    char t[8];
    for (int i = 0; i < 256; i++) { put_utf8(t, lir__bpe_byte_cp((uint8_t)i)); vb_add(&b, t, 0, LIR_TOKEN_TYPE_NORMAL); }
    /* Ġ is U+0120 (space), Ċ U+010A (newline) */
    static const char *const merges[] = {
        "\xc4\xa0 t", "h e", "\xc4\xa0t h", "\xc4\xa0th e", "a n", "an d", "\xc4\xa0 and", "\xc4\xa0 a", "i n", "in g",
        "\xc4\xa0 \xc4\xa0", "\xc4\x8a \xc4\x8a", "1 2", "12 3", "\xc3\xa4 \xc2\xb8", "\xc3\xa4\xc2\xb8 \xc2\xad",
        "' s", "o r", "w or", "wor ld", "\xc4\xa0 wor", "\xc4\xa0 world",
    };
    static const char *const words[] = {
        "\xc4\xa0t", "he", "\xc4\xa0th", "\xc4\xa0the", "an", "and", "\xc4\xa0" "and", "\xc4\xa0" "a", "in", "ing",
        "\xc4\xa0\xc4\xa0", "\xc4\x8a\xc4\x8a", "12", "123", "\xc3\xa4\xc2\xb8", "\xc3\xa4\xc2\xb8\xc2\xad",
        "'s", "or", "wor", "world", "\xc4\xa0wor", "\xc4\xa0world",
    };
    int nm = (int)(sizeof merges / sizeof *merges);
    for (int i = 0; i < nm; i++) vb_add(&b, words[i], 0, LIR_TOKEN_TYPE_NORMAL);
    int bos = b.n; vb_add(&b, "<|begin_of_text|>", 0, LIR_TOKEN_TYPE_CONTROL);
    int eos = b.n; vb_add(&b, "<|end_of_text|>", 0, LIR_TOKEN_TYPE_CONTROL);
    vb_add(&b, "<|eot_id|>", 0, LIR_TOKEN_TYPE_CONTROL);
    user_ids[1][n_user[1]++] = b.n; vb_add(&b, "<tool>", 0, LIR_TOKEN_TYPE_USER_DEFINED);
    user_ids[1][n_user[1]++] = b.n; vb_add(&b, "@@", 0, LIR_TOKEN_TYPE_USER_DEFINED);
    lir_vocab *v = load_written("gpt2", "llama-bpe", &b, merges, nm, bos, eos, -1);
    vb_free(&b);
    return v;
}

/* WPM (bert): [PAD] [UNK] [CLS] [SEP] [MASK], ▁-prefixed words and ## pieces */
static lir_vocab *make_wpm(void) {
    struct vb b = { 0 };
    vb_add(&b, "[PAD]", 0, LIR_TOKEN_TYPE_CONTROL);
    vb_add(&b, "[UNK]", 0, LIR_TOKEN_TYPE_UNKNOWN);
    vb_add(&b, "[CLS]", 0, LIR_TOKEN_TYPE_CONTROL);
    vb_add(&b, "[SEP]", 0, LIR_TOKEN_TYPE_CONTROL);
    vb_add(&b, "[MASK]", 0, LIR_TOKEN_TYPE_CONTROL);
    static const char *const words[] = {
        SP "the", SP "a", SP "an", SP "and", SP "un", "aff", "able",
        SP ",", SP ".", SP "\xe4\xb8\xad", SP "e", SP "1", "2", "s",
        SP "h", "e", "llo", SP "hello",
    };
    for (size_t i = 0; i < sizeof words / sizeof *words; i++) vb_add(&b, words[i], 0, LIR_TOKEN_TYPE_NORMAL);
    lir_vocab *v = load_written("bert", NULL, &b, NULL, 0, 2, 3, 1);
    vb_free(&b);
    return v;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fixed[0] = make_spm();
    fixed[1] = make_bpe();
    fixed[2] = make_wpm();
    return 0;
}

/* ---------------------------------------------------------------- tokenize + detokenize */

static void run_text(const lir_vocab *v, int which, const char *text, size_t len, uint8_t flags) {
    bool parse_special = flags & 4, add_special = flags & 8, show_special = flags & 16, one_flush = flags & 32;
    int32_t *ids = NULL;
    size_t n = 0;
    lir_err e = { { 0 } };
    enum lir_status s = lir_vocab_tokenize(v, text, len, add_special, parse_special, &ids, &n, &e);
    if (s != LIR_OK) {
        if (s == LIR_ENOMEM) return;
        fprintf(stderr, "tokenize failed: %d %s\n", s, e.msg);
        abort(); /* any bytes must tokenize */
    }
    if (n && !ids) abort();
    int32_t nt = lir__vocab_n_tokens(v);
    bool has_user_or_special = false;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= nt) { fprintf(stderr, "id %d out of range\n", ids[i]); abort(); }
        if (lir_vocab_is_special(v, ids[i])) has_user_or_special = true;
        if (which >= 0)
            for (int k = 0; k < n_user[which]; k++) has_user_or_special |= ids[i] == user_ids[which][k];
        size_t pl;
        if (!lir_vocab_piece(v, ids[i], show_special, &pl)) abort(); /* every valid id has a piece */
    }
    bool strip = lir__vocab_add_space_prefix(v) && !add_special;
    lir_detok *d = lir__detok_create(v, show_special, strip);
    if (!d) { free(ids); return; } /* out of memory */
    size_t cap = len * 4 + 64, on = 0;
    char *o = malloc(cap);
    bool overflow = false;
    for (size_t i = 0; i < n; i++) {
        const char *t;
        size_t tl;
        if (lir__detok_push(d, ids[i], &t, &tl) != LIR_OK) abort();
        if (one_flush) continue;
        if (!utf8_valid((const unsigned char *)t, tl)) { fprintf(stderr, "detok chunk is not valid UTF-8\n"); abort(); }
        if (on + tl > cap) overflow = true;
        else { memcpy(o + on, t, tl); on += tl; }
    }
    const char *t;
    size_t tl;
    if (lir__detok_flush(d, &t, &tl) != LIR_OK) abort();
    if (!utf8_valid((const unsigned char *)t, tl)) { fprintf(stderr, "detok flush is not valid UTF-8\n"); abort(); }
    if (on + tl > cap) overflow = true;
    else { memcpy(o + on, t, tl); on += tl; }
    lir__detok_free(d);
    free(ids);

    /* Round trip: lossless where the tokenizer promises it. SPM maps U+2581 to ' ' and adds
     * a space after each special/user token; WPM normalizes. */
    bool lossless = !one_flush && !parse_special && !has_user_or_special && !add_special &&
                    utf8_valid((const unsigned char *)text, len) &&
                    (which == 1 || (which == 0 && !contains(text, len, "\xe2\x96\x81")));
    if (lossless && (overflow || on != len || memcmp(o, text, len))) {
        fprintf(stderr, "round trip differs: %zu bytes in, %zu out\n", len, on);
        abort();
    }
    free(o);
}

/* ---------------------------------------------------------------- fuzzed metadata */

struct cur { const uint8_t *p; size_t n; };
static uint8_t next(struct cur *c) {
    if (!c->n) return 0;
    c->n--;
    return *c->p++;
}

/* in-memory GGUF v3 serializer (the writer only writes files) */
struct gb { uint8_t *p; size_t n, cap; uint64_t n_kv; };
static void gb_put(struct gb *b, const void *x, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 256;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    if (n) memcpy(b->p + b->n, x, n);
    b->n += n;
}
static void gb_u32(struct gb *b, uint32_t v) { gb_put(b, &v, 4); }
static void gb_u64(struct gb *b, uint64_t v) { gb_put(b, &v, 8); }
static void gb_str(struct gb *b, const void *s, size_t n) { gb_u64(b, n); gb_put(b, s, n); }
static void gb_key(struct gb *b, const char *k, uint32_t type) { gb_str(b, k, strlen(k)); gb_u32(b, type); b->n_kv++; }

static const char *const MODELS[] = { "llama", "gpt2", "bert", "llama", "gpt2", "t5", "", "gpt2" };
static const char *const PRES[] = { NULL, "default", "llama-bpe", "qwen2", "gpt-2", "smollm", "deepseek-llm",
                                    "deepseek-coder", "falcon", "tekken", "gpt-4o", "bloom", "bogus", "" };

/* Reads a short string: length byte (mod 24) then that many bytes. */
static size_t take_str(struct cur *c, const uint8_t **s) {
    size_t l = next(c) % 24;
    if (l > c->n) l = c->n;
    *s = c->p;
    c->p += l;
    c->n -= l;
    return l;
}

static void run_meta(struct cur *c, uint8_t flags) {
    struct gb b = { 0 };
    gb_put(&b, "GGUF", 4);
    gb_u32(&b, 3);
    gb_u64(&b, 0);    /* tensors */
    size_t nkv_at = b.n;
    gb_u64(&b, 0);    /* kv count, patched below */
    uint8_t sel = next(c);
    const char *model = MODELS[sel & 7];
    gb_key(&b, "tokenizer.ggml.model", LIR_GGUF_STRING);
    gb_str(&b, model, strlen(model));
    const char *pre = PRES[(sel >> 3) % (sizeof PRES / sizeof *PRES)];
    if (pre) { gb_key(&b, "tokenizer.ggml.pre", LIR_GGUF_STRING); gb_str(&b, pre, strlen(pre)); }

    /* tokens: a count, then each as a short string; the 256 byte tokens of the model are
     * appended when asked so merges and byte fallback have something to work with */
    size_t nt = next(c) % 64 + 1;
    bool with_bytes = sel & 0x80;
    size_t total = nt + (with_bytes ? 256 : 0);
    gb_key(&b, "tokenizer.ggml.tokens", LIR_GGUF_ARRAY);
    gb_u32(&b, LIR_GGUF_STRING);
    gb_u64(&b, total);
    for (size_t i = 0; i < nt; i++) {
        const uint8_t *s;
        size_t l = take_str(c, &s);
        gb_str(&b, s, l);
    }
    for (size_t i = 0; with_bytes && i < 256; i++) {
        char t[8];
        if (!strcmp(model, "gpt2")) put_utf8(t, lir__bpe_byte_cp((uint8_t)i));
        else snprintf(t, sizeof t, "<0x%02X>", (unsigned)i);
        gb_str(&b, t, strlen(t));
    }
    uint8_t opt = next(c);
    if (opt & 1) { /* scores: float32 (with odd values), or int32, or too short, or wrong type */
        uint32_t et = (opt & 6) == 6 ? LIR_GGUF_UINT8 : (opt & 6) == 4 ? LIR_GGUF_INT32 : LIR_GGUF_FLOAT32;
        size_t m = (opt & 8) ? total / 2 : total;
        gb_key(&b, "tokenizer.ggml.scores", LIR_GGUF_ARRAY);
        gb_u32(&b, et);
        gb_u64(&b, m);
        for (size_t i = 0; i < m; i++) {
            uint8_t x = next(c);
            if (et == LIR_GGUF_UINT8) { gb_put(&b, &x, 1); continue; }
            if (et == LIR_GGUF_INT32) { int32_t v = x == 255 ? INT32_MIN : (int8_t)x; gb_put(&b, &v, 4); continue; }
            static const float odd[] = { __builtin_nanf(""), __builtin_inff(), -__builtin_inff(), 1e38f, -1e38f, 0.0f, -0.0f };
            float f = x >= 249 ? odd[x - 249] : -(float)x / 4;
            gb_put(&b, &f, 4);
        }
    }
    if (opt & 16) { /* token types: mostly valid values, some not */
        size_t m = (opt & 8) ? total / 2 : total;
        gb_key(&b, "tokenizer.ggml.token_type", LIR_GGUF_ARRAY);
        gb_u32(&b, LIR_GGUF_INT32);
        gb_u64(&b, m);
        for (size_t i = 0; i < m; i++) {
            uint8_t x = next(c);
            int32_t ty = i >= nt ? LIR_TOKEN_TYPE_BYTE * (strcmp(model, "gpt2") != 0) + LIR_TOKEN_TYPE_NORMAL * !strcmp(model, "gpt2")
                         : x < 200 ? x % 7 : x < 250 ? x : -(int32_t)x;
            gb_put(&b, &ty, 4);
        }
    }
    if (opt & 32) { /* merges: "left right" strings built from token texts or raw bytes */
        size_t nm = next(c) % 48;
        gb_key(&b, "tokenizer.ggml.merges", LIR_GGUF_ARRAY);
        gb_u32(&b, LIR_GGUF_STRING);
        gb_u64(&b, nm);
        for (size_t i = 0; i < nm; i++) {
            const uint8_t *s;
            size_t l = take_str(c, &s);
            gb_str(&b, s, l);
        }
    }
    static const char *const idkeys[] = { "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                                          "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id",
                                          "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.seperator_token_id",
                                          "tokenizer.ggml.padding_token_id" };
    for (size_t k = 0; k < sizeof idkeys / sizeof *idkeys; k++) {
        uint8_t x = next(c);
        if (x < 128) continue; /* absent */
        if (x < 240) { gb_key(&b, idkeys[k], LIR_GGUF_UINT32); gb_u32(&b, (uint32_t)(x - 128) % (uint32_t)(total + 2)); }
        else if (x < 248) { gb_key(&b, idkeys[k], LIR_GGUF_UINT32); gb_u32(&b, x & 1 ? 0xFFFFFFFFu : 0x7FFFFFFFu); }
        else if (x < 252) { gb_key(&b, idkeys[k], LIR_GGUF_INT32); gb_u32(&b, (uint32_t)-1); }
        else { gb_key(&b, idkeys[k], LIR_GGUF_STRING); gb_str(&b, "1", 1); }
    }
    static const char *const flagkeys[] = { "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token",
                                            "tokenizer.ggml.add_space_prefix", "tokenizer.ggml.normalizer.lowercase" };
    uint8_t fl = next(c);
    for (size_t k = 0; k < 4; k++) {
        if (!(fl >> (2 * k) & 2)) continue;
        gb_key(&b, flagkeys[k], LIR_GGUF_BOOL);
        uint8_t v = fl >> (2 * k) & 1;
        gb_put(&b, &v, 1);
    }
    memcpy(b.p + nkv_at, &b.n_kv, 8);
    static const uint8_t zeros[32];
    gb_put(&b, zeros, (32 - b.n % 32) % 32);

    lir_gguf *g = NULL;
    lir_err e = { { 0 } };
    if (lir_gguf_open_memory(b.p, b.n, &g, &e) != LIR_OK) {
        fprintf(stderr, "serializer wrote a bad GGUF: %s\n", e.msg);
        abort();
    }
    lir_vocab *v = NULL;
    enum lir_status s = lir_vocab_load_gguf(g, &v, &e);
    lir_gguf_close(g);
    free(b.p);
    if (getenv("FUZZ_TOK_DEBUG")) fprintf(stderr, "vocab %s/%s: %d %s\n", model, pre ? pre : "-", s, e.msg);
    if (s != LIR_OK) {
        if (v || !e.msg[0]) abort(); /* a failure hands out nothing and says why */
        return;
    }
    static const char *const texts[] = { "Hello world, the 123 and\n\n  x", "\xe4\xb8\xad\xe6\x96\x87 \xc3\xa9\xf0\x9f\x98\x80",
                                         "<s>a</s><|im_start|>b", "\xff\xfe\xc3 \x80" };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) run_text(v, -1, texts[i], strlen(texts[i]), flags);
    run_text(v, -1, (const char *)c->p, c->n, flags);
    /* every token's piece and text */
    for (int32_t i = -1; i <= lir__vocab_n_tokens(v); i++) {
        size_t l;
        const char *p = lir_vocab_piece(v, i, true, &l);
        if ((i < 0 || i >= lir__vocab_n_tokens(v)) != !p) abort();
        p = lir_vocab_token_text(v, i, &l);
        if (p && l && lir_vocab_find(v, p, l) < 0) abort(); /* empty tokens are never matched */
    }
    lir_vocab_free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t mode = data[0];
    int which = mode & 3;
    if (which == 3) {
        struct cur c = { data + 1, size - 1 };
        run_meta(&c, mode);
        return 0;
    }
    char *text = malloc(size - 1 ? size - 1 : 1); /* exact-size heap copy: ASan sees overreads */
    if (!text) return 0;
    memcpy(text, data + 1, size - 1);
    run_text(fixed[which], which, text, size - 1, mode);
    free(text);
    return 0;
}
