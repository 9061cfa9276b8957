/* test_tokenizer.c — SPM and BPE tokenizers on small hand-made vocabularies with answers
 * worked out by hand from the algorithms (llama.cpp's), special-token partitioning, the
 * streaming detokenizer's UTF-8 chunking, invalid input, GGUF loading and the public API. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "gguf/gguf_gen.h"
#include "tokenizer/tokenizer.h"

/* ---------------------------------------------------------------- helpers */

struct tv { const char *text; float score; int32_t type; };

static lir_vocab *build(const char *model, const char *pre, const struct tv *t, int n, const char *const *merges,
                        int nm, enum lir_status *st, lir_err *e) {
    lir_gguf_str *toks = calloc((size_t)n, sizeof *toks);
    float *sc = calloc((size_t)n, sizeof *sc);
    int32_t *ty = calloc((size_t)n, sizeof *ty);
    lir_gguf_str *mg = calloc((size_t)nm + 1, sizeof *mg);
    for (int i = 0; i < n; i++) {
        toks[i] = (lir_gguf_str){ t[i].text, strlen(t[i].text) };
        sc[i] = t[i].score;
        ty[i] = t[i].type ? t[i].type : LIR_TOKEN_TYPE_NORMAL;
    }
    for (int i = 0; i < nm; i++) mg[i] = (lir_gguf_str){ merges[i], strlen(merges[i]) };
    struct lir_vocab_desc d = lir_vocab_desc_default();
    d.model = model;
    d.pre = pre;
    d.n_tokens = n;
    d.tokens = toks;
    d.scores = sc;
    d.types = ty;
    d.merges = mg;
    d.n_merges = nm;
    lir_vocab *v = NULL;
    lir_err le = { { 0 } };
    enum lir_status s = lir_vocab_build(&d, &v, e ? e : &le);
    if (st) *st = s;
    free(toks);
    free(sc);
    free(ty);
    free(mg);
    return v;
}

static size_t tok(const lir_vocab *v, const char *text, size_t len, bool add, bool special, int32_t *out, size_t cap) {
    int32_t *ids;
    size_t n;
    lir_err e = { { 0 } };
    cr_assert_eq(lir_vocab_tokenize(v, text, len, add, special, &ids, &n, &e), LIR_OK, "%s", e.msg);
    cr_assert_leq(n, cap);
    if (n) memcpy(out, ids, n * sizeof *ids);
    free(ids);
    return n;
}

static void expect_ids(const int32_t *got, size_t n, const int32_t *want, size_t wn, const char *what) {
    char g[512] = "", w[512] = "";
    for (size_t i = 0; i < n && strlen(g) < 480; i++) snprintf(g + strlen(g), sizeof g - strlen(g), "%d ", got[i]);
    for (size_t i = 0; i < wn && strlen(w) < 480; i++) snprintf(w + strlen(w), sizeof w - strlen(w), "%d ", want[i]);
    cr_assert(n == wn && (!n || !memcmp(got, want, n * sizeof *got)), "%s: got [%s] want [%s]", what, g, w);
}
#define EXPECT(got, n, ...) do { const int32_t w_[] = { __VA_ARGS__ }; expect_ids(got, n, w_, sizeof w_ / sizeof w_[0], #__VA_ARGS__); } while (0)

/* ---------------------------------------------------------------- SPM vocabulary
 * 0 <unk>  1 <s>  2 </s>  3..258 <0x00>..<0xFF>  then pieces */
#define SPM_BASE 259
static lir_vocab *spm_vocab(void) {
    static char bytes[256][8];
    struct tv t[SPM_BASE + 16];
    int n = 0;
    t[n++] = (struct tv){ "<unk>", 0, LIR_TOKEN_TYPE_UNKNOWN };
    t[n++] = (struct tv){ "<s>", 0, LIR_TOKEN_TYPE_CONTROL };
    t[n++] = (struct tv){ "</s>", 0, LIR_TOKEN_TYPE_CONTROL };
    for (int b = 0; b < 256; b++) {
        snprintf(bytes[b], sizeof bytes[b], "<0x%02X>", b);
        t[n++] = (struct tv){ bytes[b], 0, LIR_TOKEN_TYPE_BYTE };
    }
    t[n++] = (struct tv){ "\xe2\x96\x81", -1, 0 };        /* 259 ▁ */
    t[n++] = (struct tv){ "a", -1, 0 };                   /* 260 */
    t[n++] = (struct tv){ "b", -1, 0 };                   /* 261 */
    t[n++] = (struct tv){ "ab", -2, 0 };                  /* 262 */
    t[n++] = (struct tv){ "\xe2\x96\x81" "a", -3, 0 };    /* 263 ▁a */
    t[n++] = (struct tv){ "\xe2\x96\x81" "ab", -1.5f, 0 };/* 264 ▁ab */
    t[n++] = (struct tv){ "aa", -4, 0 };                  /* 265 */
    t[n++] = (struct tv){ "c", -1, 0 };                   /* 266 */
    t[n++] = (struct tv){ "<tool>", 0, LIR_TOKEN_TYPE_USER_DEFINED }; /* 267 */
    lir_err e = { { 0 } };
    enum lir_status s;
    lir_vocab *v = build("llama", NULL, t, n, NULL, 0, &s, &e);
    cr_assert_eq(s, LIR_OK, "%s", e.msg);
    return v;
}

Test(tokenizer_spm, merges_by_score_with_space_prefix) {
    lir_vocab *v = spm_vocab();
    int32_t ids[64];
    /* "ab" -> "▁ab": bigrams ▁a (-3), ab (-2): ab first, then ▁ab (-1.5) */
    size_t n = tok(v, "ab", 2, false, false, ids, 64);
    EXPECT(ids, n, 264);
    /* add_special: BOS first (llama default add_bos) */
    n = tok(v, "ab", 2, true, false, ids, 64);
    EXPECT(ids, n, 1, 264);
    /* "ba": ▁b is no token, ba neither: ▁ b a */
    n = tok(v, "ba", 2, false, false, ids, 64);
    EXPECT(ids, n, 259, 261, 260);
    /* ties go to the leftmost pair: "aaa" -> ▁a? (-3) vs aa (-4): ▁a wins, then a a -> aa */
    n = tok(v, "aaa", 3, false, false, ids, 64);
    EXPECT(ids, n, 263, 265);
    /* the empty text: nothing, or only BOS */
    n = tok(v, "", 0, false, false, ids, 64);
    cr_assert_eq(n, 0);
    n = tok(v, "", 0, true, false, ids, 64);
    EXPECT(ids, n, 1);
    lir_vocab_free(v);
}

Test(tokenizer_spm, byte_fallback_and_invalid_utf8) {
    lir_vocab *v = spm_vocab();
    int32_t ids[64];
    /* ü (c3 bc) is no piece: its bytes */
    size_t n = tok(v, "\xc3\xbc", 2, false, false, ids, 64);
    EXPECT(ids, n, 259, 3 + 0xc3, 3 + 0xbc);
    /* invalid UTF-8 goes through as byte tokens, nothing lost; a lead byte 0xff claims 4
     * bytes as llama.cpp's unicode_len_utf8 says, so the "b" is inside that symbol */
    n = tok(v, "a\xff\xfe" "b", 4, false, false, ids, 64);
    EXPECT(ids, n, 263, 3 + 0xff, 3 + 0xfe, 3 + 'b');
    /* a truncated 3-byte sequence at the end */
    n = tok(v, "c\xe4\xbd", 3, false, false, ids, 64);
    EXPECT(ids, n, 259, 266, 3 + 0xe4, 3 + 0xbd);
    lir_vocab_free(v);
}

Test(tokenizer_spm, special_tokens_only_when_asked) {
    lir_vocab *v = spm_vocab();
    int32_t ids[64];
    /* parse_special: <s> is BOS; the text after it gets a space prefix again */
    size_t n = tok(v, "<s>ab", 5, false, true, ids, 64);
    EXPECT(ids, n, 1, 264);
    /* not parsed: the characters, as bytes */
    n = tok(v, "<s>", 3, false, false, ids, 64);
    EXPECT(ids, n, 259, 3 + '<', 3 + 's', 3 + '>');
    /* user-defined tokens always match */
    n = tok(v, "a<tool>b", 8, false, false, ids, 64);
    EXPECT(ids, n, 263, 267, 259, 261);
    lir_vocab_free(v);
}

/* ---------------------------------------------------------------- BPE vocabulary
 * ids 0..255: the bytes_to_unicode character of byte i; then merged pieces */
static char bchars[256][4];
static lir_vocab *bpe_vocab(const char *pre, enum lir_status *st, lir_err *e) {
    struct tv t[300];
    int n = 0;
    for (int b = 0; b < 256; b++) {
        /* GPT-2's table: printable bytes map to themselves, the others to U+0100.. in order */
        static int next = 0;
        if (b == 0) next = 0;
        unsigned cp = ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174)) ? (unsigned)b : 256u + (unsigned)next++;
        if (cp < 0x80) { bchars[b][0] = (char)cp; bchars[b][1] = 0; }
        else { bchars[b][0] = (char)(0xc0 | (cp >> 6)); bchars[b][1] = (char)(0x80 | (cp & 0x3f)); bchars[b][2] = 0; }
        t[n++] = (struct tv){ bchars[b], 0, 0 };
    }
    t[n++] = (struct tv){ "he", 0, 0 };          /* 256 */
    t[n++] = (struct tv){ "ll", 0, 0 };          /* 257 */
    t[n++] = (struct tv){ "hell", 0, 0 };        /* 258 */
    t[n++] = (struct tv){ "hello", 0, 0 };       /* 259 */
    t[n++] = (struct tv){ "\xc4\xa0w", 0, 0 };   /* 260 Ġw */
    t[n++] = (struct tv){ "12", 0, 0 };          /* 261 */
    t[n++] = (struct tv){ "123", 0, 0 };         /* 262 */
    t[n++] = (struct tv){ "45", 0, 0 };          /* 263 */
    t[n++] = (struct tv){ "<|eot|>", 0, LIR_TOKEN_TYPE_CONTROL }; /* 264 */
    static const char *const merges[] = { "h e", "l l", "he ll", "hell o", "\xc4\xa0 w", "1 2", "12 3", "4 5" };
    return build("gpt2", pre, t, n, merges, 8, st, e);
}

Test(tokenizer_bpe, merges_by_rank_per_word) {
    enum lir_status s;
    lir_err e = { { 0 } };
    lir_vocab *v = bpe_vocab("gpt-2", &s, &e);
    cr_assert_eq(s, LIR_OK, "%s", e.msg);
    int32_t ids[64];
    size_t n = tok(v, "hello world", 11, false, false, ids, 64);
    EXPECT(ids, n, 259, 260, 'o', 'r', 'l', 'd');
    /* a space is byte 0x20 -> Ġ (U+0120), the 33rd non-printable byte: id 32 */
    /* words "he", " ", " ll" (\s+(?!\S) leaves the last space to " ll"): Ġ l l -> Ġ ll */
    n = tok(v, "he  ll", 6, false, false, ids, 64);
    EXPECT(ids, n, 256, 32, 32, 257);
    lir_vocab_free(v);
}

Test(tokenizer_bpe, pre_tokenizer_chosen_by_name) {
    enum lir_status s;
    lir_err e = { { 0 } };
    int32_t ids[64];
    /* llama3: digits in groups of three */
    lir_vocab *v = bpe_vocab("llama-bpe", &s, &e);
    cr_assert_eq(s, LIR_OK, "%s", e.msg);
    size_t n = tok(v, "12345", 5, false, false, ids, 64);
    EXPECT(ids, n, 262, 263);
    lir_vocab_free(v);
    /* qwen2: one digit per word, no merges across them */
    v = bpe_vocab("qwen2", &s, &e);
    cr_assert_eq(s, LIR_OK, "%s", e.msg);
    n = tok(v, "12345", 5, false, false, ids, 64);
    EXPECT(ids, n, '1', '2', '3', '4', '5');
    lir_vocab_free(v);
    /* gpt-2: \p{N}+ is one word */
    v = bpe_vocab("gpt-2", &s, &e);
    n = tok(v, "12345", 5, false, false, ids, 64);
    EXPECT(ids, n, 262, 263);
    lir_vocab_free(v);
    /* an unknown pre-tokenizer is an error naming it, not a silent fallback */
    v = bpe_vocab("no-such-pre", &s, &e);
    cr_assert_null(v);
    cr_assert_eq(s, LIR_EUNSUPPORTED);
    cr_assert(strstr(e.msg, "no-such-pre"), "%s", e.msg);
}

Test(tokenizer_bpe, special_and_invalid_utf8) {
    enum lir_status s;
    lir_err e = { { 0 } };
    lir_vocab *v = bpe_vocab("llama-bpe", &s, &e);
    cr_assert_eq(s, LIR_OK, "%s", e.msg);
    int32_t ids[64], ids2[64];
    size_t n = tok(v, "he<|eot|>", 9, false, true, ids, 64);
    EXPECT(ids, n, 256, 264);
    n = tok(v, "<|eot|>", 7, false, false, ids, 64);
    cr_assert_gt(n, 1, "not parsed unless asked");
    /* invalid bytes are U+FFFD, as llama.cpp decodes them */
    n = tok(v, "\xff", 1, false, false, ids, 64);
    size_t n2 = tok(v, "\xef\xbf\xbd", 3, false, false, ids2, 64);
    expect_ids(ids, n, ids2, n2, "\\xff == U+FFFD");
    /* never crashes on any byte string */
    char junk[512];
    unsigned x = 12345;
    for (int round = 0; round < 200; round++) {
        size_t len = (size_t)(x % sizeof junk);
        for (size_t i = 0; i < len; i++) { x = x * 1103515245u + 12345u; junk[i] = (char)(x >> 16); }
        int32_t *out;
        size_t no;
        cr_assert_eq(lir_vocab_tokenize(v, junk, len, true, true, &out, &no, &e), LIR_OK);
        for (size_t i = 0; i < no; i++) cr_assert(out[i] >= 0 && out[i] < lir__vocab_n_tokens(v));
        free(out);
    }
    lir_vocab_free(v);
}

/* ---------------------------------------------------------------- detokenizer */

static size_t push_all(lir_detok *d, const int32_t *ids, size_t n, char *out, size_t *chunks_nonempty) {
    size_t o = 0;
    *chunks_nonempty = 0;
    for (size_t i = 0; i < n; i++) {
        const char *t;
        size_t l;
        cr_assert_eq(lir__detok_push(d, ids[i], &t, &l), LIR_OK);
        memcpy(out + o, t, l);
        o += l;
        *chunks_nonempty += l > 0;
    }
    const char *t;
    size_t l;
    cr_assert_eq(lir__detok_flush(d, &t, &l), LIR_OK);
    memcpy(out + o, t, l);
    return o + l;
}

Test(tokenizer_detok, utf8_split_over_byte_tokens_comes_out_whole) {
    lir_vocab *v = spm_vocab();
    lir_detok *d = lir__detok_create(v, false, true);
    /* 你 = e4 bd a0 as three byte tokens: nothing until the last one */
    const char *t;
    size_t l;
    cr_assert_eq(lir__detok_push(d, 3 + 0xe4, &t, &l), LIR_OK);
    cr_assert_eq(l, 0);
    cr_assert_eq(lir__detok_push(d, 3 + 0xbd, &t, &l), LIR_OK);
    cr_assert_eq(l, 0);
    cr_assert_eq(lir__detok_push(d, 3 + 0xa0, &t, &l), LIR_OK);
    cr_assert_eq(l, 3);
    cr_assert(!memcmp(t, "\xe4\xbd\xa0", 3));
    lir__detok_free(d);

    /* invalid bytes -> U+FFFD; an incomplete tail at flush -> one U+FFFD */
    d = lir__detok_create(v, false, false);
    const int32_t ids[] = { 260, 3 + 0xff, 261, 3 + 0xe4, 3 + 0xbd };
    char out[64];
    size_t ne;
    size_t n = push_all(d, ids, 5, out, &ne);
    cr_assert_eq(n, 1 + 3 + 1 + 3);
    cr_assert(!memcmp(out, "a\xef\xbf\xbd" "b\xef\xbf\xbd", n));
    lir__detok_free(d);
    lir_vocab_free(v);
}

Test(tokenizer_detok, leading_space_and_special_tokens) {
    lir_vocab *v = spm_vocab();
    char out[128];
    size_t ne;
    /* "▁ab ▁a" without BOS: the first space is stripped (llama.cpp's detokenize) */
    const int32_t a[] = { 264, 263 };
    lir_detok *d = lir__detok_create(v, false, true);
    size_t n = push_all(d, a, 2, out, &ne);
    cr_assert_eq(n, 4);
    cr_assert(!memcmp(out, "ab a", 4));
    lir__detok_free(d);
    /* BOS first: hidden, and the space after it is kept (as llama.cpp) */
    const int32_t b[] = { 1, 264, 2 };
    d = lir__detok_create(v, false, true);
    n = push_all(d, b, 3, out, &ne);
    cr_assert_eq(n, 3);
    cr_assert(!memcmp(out, " ab", 3));
    lir__detok_free(d);
    /* shown when asked */
    d = lir__detok_create(v, true, true);
    n = push_all(d, b, 3, out, &ne);
    cr_assert_eq(n, 10);
    cr_assert(!memcmp(out, "<s> ab</s>", 10));
    lir__detok_free(d);
    lir_vocab_free(v);
}

Test(tokenizer_detok, round_trip_random_utf8_spm) {
    /* with byte fallback SPM is lossless: detok(tok(x)) == x for any valid UTF-8 */
    lir_vocab *v = spm_vocab();
    static const char *const pieces[] = { "a", "b", "ab", " ", "  ", "\t", "\n", "\xc3\xbc", "\xe4\xbd\xa0",
                                          "\xf0\x9f\xa4\xb7", "\xcc\x81", "c", "<s", "0" };
    unsigned x = 7;
    for (int round = 0; round < 300; round++) {
        char text[256];
        size_t len = 0;
        int k = (int)(x % 20);
        for (int i = 0; i < k; i++) {
            x = x * 1103515245u + 12345u;
            const char *p = pieces[(x >> 16) % (sizeof pieces / sizeof pieces[0])];
            memcpy(text + len, p, strlen(p));
            len += strlen(p);
        }
        int32_t *ids;
        size_t n;
        lir_err e = { { 0 } };
        cr_assert_eq(lir_vocab_tokenize(v, text, len, false, false, &ids, &n, &e), LIR_OK);
        lir_detok *d = lir__detok_create(v, false, true);
        char out[1024];
        size_t ne;
        size_t o = push_all(d, ids, n, out, &ne);
        cr_assert(o == len && !memcmp(out, text, len), "round trip of '%.*s' gave '%.*s'", (int)len, text, (int)o, out);
        lir__detok_free(d);
        free(ids);
        x = x * 1103515245u + 12345u;
    }
    lir_vocab_free(v);
}

Test(tokenizer_detok, bpe_pieces_decode_bytes) {
    enum lir_status s;
    lir_vocab *v = bpe_vocab("gpt-2", &s, NULL);
    const char *hello = "hello w\xc3\xa9\n";
    int32_t ids[64];
    size_t n = tok(v, hello, strlen(hello), false, false, ids, 64);
    lir_detok *d = lir__detok_create(v, false, false);
    char out[64];
    size_t ne;
    size_t o = push_all(d, ids, n, out, &ne);
    cr_assert(o == strlen(hello) && !memcmp(out, hello, o));
    lir__detok_free(d);
    size_t pl;
    const char *p = lir_vocab_piece(v, 32, false, &pl);
    cr_assert(pl == 1 && p[0] == ' ', "Ġ is a space");
    p = lir_vocab_piece(v, 264, false, &pl);
    cr_assert_eq(pl, 0, "control hidden");
    p = lir_vocab_piece(v, 264, true, &pl);
    cr_assert(pl == 7 && !memcmp(p, "<|eot|>", 7));
    cr_assert_null(lir_vocab_piece(v, 99999, true, &pl));
    lir_vocab_free(v);
}

/* ---------------------------------------------------------------- GGUF + public API */

static char *tmp_path(const char *name) {
    static char buf[256];
    snprintf(buf, sizeof buf, "/tmp/lir_test_tok_%d_%s", (int)getpid(), name);
    return buf;
}

Test(tokenizer_gguf, load_errors_are_clear) {
    lir_gguf_writer *w = lir_gguf_writer_create(3, 32);
    const char *toks[] = { "a", "b" };
    lir_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    lir_gguf_writer_set_str(w, "tokenizer.ggml.pre", "frobnicate");
    lir_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 2);
    lir_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", toks, 0);
    char *p = tmp_path("badpre.gguf");
    lir_err e = { { 0 } };
    cr_assert_eq(lir_gguf_writer_finish(w, p, &e), LIR_OK, "%s", e.msg);
    lir_gguf_writer_free(w);
    lir_gguf *g;
    cr_assert_eq(lir_gguf_open(p, &g, &e), LIR_OK, "%s", e.msg);
    lir_vocab *v;
    cr_assert_eq(lir_vocab_load_gguf(g, &v, &e), LIR_EUNSUPPORTED);
    cr_assert(strstr(e.msg, "frobnicate"), "%s", e.msg);
    lir_gguf_close(g);
    unlink(p);

    /* no tokenizer at all */
    w = lir_gguf_writer_create(3, 32);
    lir_gguf_writer_set_str(w, "general.name", "x");
    cr_assert_eq(lir_gguf_writer_finish(w, p, &e), LIR_OK);
    lir_gguf_writer_free(w);
    cr_assert_eq(lir_gguf_open(p, &g, &e), LIR_OK);
    cr_assert_eq(lir_vocab_load_gguf(g, &v, &e), LIR_ENOTFOUND);
    lir_gguf_close(g);
    unlink(p);

    /* gpt2 without merges; scores of the wrong length */
    w = lir_gguf_writer_create(3, 32);
    lir_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    lir_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 2);
    cr_assert_eq(lir_gguf_writer_finish(w, p, &e), LIR_OK);
    lir_gguf_writer_free(w);
    cr_assert_eq(lir_gguf_open(p, &g, &e), LIR_OK);
    cr_assert_eq(lir_vocab_load_gguf(g, &v, &e), LIR_EFORMAT);
    cr_assert(strstr(e.msg, "merges"), "%s", e.msg);
    lir_gguf_close(g);
    w = lir_gguf_writer_create(3, 32);
    float sc[1] = { 0 };
    lir_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    lir_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 2);
    lir_gguf_writer_set_arr(w, "tokenizer.ggml.scores", LIR_GGUF_FLOAT32, sc, 1);
    cr_assert_eq(lir_gguf_writer_finish(w, p, &e), LIR_OK);
    lir_gguf_writer_free(w);
    cr_assert_eq(lir_gguf_open(p, &g, &e), LIR_OK);
    cr_assert_eq(lir_vocab_load_gguf(g, &v, &e), LIR_EFORMAT);
    cr_assert(strstr(e.msg, "scores"), "%s", e.msg);
    lir_gguf_close(g);
    unlink(p);
}

Test(tokenizer_api, model_tokenize_detokenize) {
    struct lir_gen_params gp;
    lir_err e = { { 0 } };
    cr_assert_eq(lir_gen_preset(&gp, "tiny", LIR_GEN_LLAMA, &e), LIR_OK);
    gp.n_layer = 1;
    char *p = tmp_path("tiny.gguf");
    cr_assert_eq(lir_gen_write(&gp, p, &e), LIR_OK, "%s", e.msg);
    lir_model *m;
    char err[256];
    struct lir_model_params mp = lir_model_params_default();
    cr_assert_eq(lir_model_load(p, &mp, &m, err, sizeof err), LIR_OK, "%s", err);
    unlink(p);
    cr_assert_str_eq(lir_model_vocab_error(m), "");
    cr_assert_eq(lir_vocab_n_tokens(m), 512);
    cr_assert_eq(lir_vocab_bos(m), 1);
    cr_assert_eq(lir_vocab_eos(m), 2);
    cr_assert(lir_vocab_is_eog(m, 2));
    cr_assert(!lir_vocab_is_eog(m, 1));
    const char *text = "hello world\xe4\xbd\xa0";
    lir_token ids[64];
    int32_t n = -1;
    cr_assert_eq(lir_tokenize(m, text, strlen(text), true, false, ids, 2, &n), LIR_ERANGE);
    cr_assert_gt(n, 2, "the size needed");
    int32_t need = n;
    cr_assert_eq(lir_tokenize(m, text, strlen(text), true, false, ids, 64, &n), LIR_OK);
    cr_assert_eq(n, need);
    cr_assert_eq(ids[0], 1);
    cr_assert_eq(lir_tokenize(NULL, text, 1, true, false, ids, 64, &n), LIR_EINVAL);
    /* pieces and the streaming detokenizer give the text back */
    lir_detok *d;
    cr_assert_eq(lir_detok_create(m, false, false, &d), LIR_OK);
    char out[256];
    size_t o = 0;
    for (int32_t i = 0; i < n; i++) {
        const char *t;
        size_t l;
        cr_assert_eq(lir_detok_push(d, ids[i], &t, &l), LIR_OK);
        memcpy(out + o, t, l);
        o += l;
    }
    const char *t;
    size_t l;
    cr_assert_eq(lir_detok_flush(d, &t, &l), LIR_OK);
    memcpy(out + o, t, l);
    o += l;
    lir_detok_free(d);
    cr_assert(o == strlen(text) + 1 && out[0] == ' ' && !memcmp(out + 1, text, o - 1), "got '%.*s'", (int)o, out);
    char pb[4];
    size_t pl;
    cr_assert_eq(lir_token_to_piece(m, 2, true, pb, sizeof pb, &pl), LIR_OK);
    cr_assert(pl == 4 && !memcmp(pb, "</s>", 4));
    cr_assert_eq(lir_token_to_piece(m, 2, true, pb, 2, &pl), LIR_ERANGE);
    cr_assert_eq(pl, 4);
    cr_assert_eq(lir_token_to_piece(m, 99999, true, pb, sizeof pb, &pl), LIR_EINVAL);
    lir_model_free(m);
}

/* ---------------------------------------------------------------- WPM (BERT) */

Test(tokenizer_wpm, lowercase_accents_punctuation_greedy_pieces) {
    static const char *const t[] = { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "\xe2\x96\x81hello", "\xe2\x96\x81world",
                                     "\xe2\x96\x81,", "\xe2\x96\x81!", "\xe2\x96\x81un", "aff", "able", "\xe2\x96\x81\xe4\xbd\xa0" };
    const int32_t ty[] = { 3, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1 };
    lir_gguf_str toks[12];
    for (int i = 0; i < 12; i++) toks[i] = (lir_gguf_str){ t[i], strlen(t[i]) };
    struct lir_vocab_desc d = lir_vocab_desc_default();
    d.model = "bert";
    d.n_tokens = 12;
    d.tokens = toks;
    d.types = ty;
    d.bos = 2;
    d.sep = 3;
    d.unk = 1;
    d.pad = 0;
    lir_vocab *v;
    lir_err e = { { 0 } };
    cr_assert_eq(lir_vocab_build(&d, &v, &e), LIR_OK, "%s", e.msg);
    const char *text = "H\xc3\xa9llo,  WORLD!\tunaffable \xe4\xbd\xa0\xe5\xa5\xbd unknownword";
    int32_t ids[64];
    size_t n = tok(v, text, strlen(text), true, false, ids, 64);
    EXPECT(ids, n, 2, 4, 6, 5, 7, 8, 9, 10, 11, 1, 1, 3);
    lir_vocab_free(v);
}

Test(tokenizer_spm, no_space_prefix_when_the_vocabulary_says_so) {
    /* Gemma-style SPM: tokenizer.ggml.add_space_prefix = false */
    static const char *const t[] = { "<unk>", "<s>", "</s>", "a", "b", "ab", "\xe2\x96\x81", "\xe2\x96\x81" "b" };
    const float sc[] = { 0, 0, 0, -1, -1, -2, -1, -1 };
    const int32_t ty[] = { 2, 3, 3, 1, 1, 1, 1, 1 };
    lir_gguf_str toks[8];
    for (int i = 0; i < 8; i++) toks[i] = (lir_gguf_str){ t[i], strlen(t[i]) };
    struct lir_vocab_desc d = lir_vocab_desc_default();
    d.model = "llama";
    d.n_tokens = 8;
    d.tokens = toks;
    d.scores = sc;
    d.types = ty;
    d.add_space_prefix = 0;
    lir_vocab *v;
    lir_err e = { { 0 } };
    cr_assert_eq(lir_vocab_build(&d, &v, &e), LIR_OK, "%s", e.msg);
    int32_t ids[16];
    size_t n = tok(v, "ab b", 4, true, false, ids, 16);
    EXPECT(ids, n, 1, 5, 7);
    /* no byte tokens in this vocabulary: an unknown character becomes <unk> */
    n = tok(v, "\xc3\xbc", 2, false, false, ids, 16);
    EXPECT(ids, n, 0, 0);
    lir_vocab_free(v);
}
