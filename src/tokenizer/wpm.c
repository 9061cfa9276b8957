/* wpm.c — WordPiece ("bert") as llama.cpp stores BERT vocabularies: words start with U+2581
 * instead of continuation pieces carrying "##". Text is NFD-decomposed with accents (\p{M})
 * removed and lowercased when the vocabulary lowercases (utf8proc), split at whitespace,
 * punctuation, ASCII symbols and CJK ideographs, and each word is matched greedily longest
 * first; a word with an unmatched remainder becomes [UNK]. */
#include "tokenizer/vocab_impl.h"

#include <string.h>
#include <utf8proc.h>

static bool is_cjk(uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static bool is_space(uint32_t c, utf8proc_category_t cat) {
    return c == ' ' || (c >= 0x09 && c <= 0x0D) || c == 0x85 || cat == UTF8PROC_CATEGORY_ZS ||
           cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

static void word_out(const lir_vocab *v, const char *w, size_t n, struct tokvec *out) {
    if (!n) return;
    /* "▁" + word */
    char *s = malloc(n + 3);
    if (!s) { out->oom = true; return; }
    memcpy(s, "\xe2\x96\x81", 3);
    memcpy(s + 3, w, n);
    size_t len = n + 3, start = out->n;
    for (size_t i = 0; i < len;) {
        size_t j = len - i > (size_t)v->max_token_len ? i + (size_t)v->max_token_len : len;
        int32_t id = -1;
        for (; j > i; j--)
            if ((id = lir_vocab_find(v, s + i, j - i)) >= 0) break;
        if (id < 0) { out->n = start; break; }
        tv_push(out, id);
        i = j;
    }
    if (out->n == start && v->unk >= 0) tv_push(out, v->unk);
    free(s);
}

void lir__wpm_tokenize(const lir_vocab *v, const char *text, size_t len, struct tokvec *out) {
    char *w = malloc(len * 32 + 16); /* a character decomposes into at most 8 code points */
    if (!w) { out->oom = true; return; }
    size_t wn = 0;
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)text;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t l = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &c);
        if (l <= 0) { c = 0xFFFD; l = 1; }
        i += (size_t)l;
        utf8proc_int32_t dec[8];
        utf8proc_ssize_t nd = 1;
        dec[0] = c;
        if (v->lowercase) {
            int last = 0;
            nd = utf8proc_decompose_char(c, dec, 8, UTF8PROC_DECOMPOSE, &last);
            if (nd <= 0 || nd > 8) { dec[0] = c; nd = 1; }
        }
        for (utf8proc_ssize_t k = 0; k < nd; k++) {
            uint32_t cp = (uint32_t)dec[k];
            utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
            if (is_space(cp, cat)) { word_out(v, w, wn, out); wn = 0; continue; }
            if (cp == 0 || cp == 0xFFFD || cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF) continue;
            if (v->lowercase && (cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_MC || cat == UTF8PROC_CATEGORY_ME))
                continue;
            if (v->lowercase) cp = (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
            bool punct = cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
            bool sym = cat >= UTF8PROC_CATEGORY_SM && cat <= UTF8PROC_CATEGORY_SO;
            char enc[4];
            utf8proc_ssize_t el = utf8proc_encode_char((utf8proc_int32_t)cp, (utf8proc_uint8_t *)enc);
            if (punct || (cp < 0x7F && sym) || is_cjk(cp)) {
                word_out(v, w, wn, out);
                word_out(v, enc, (size_t)el, out);
                wn = 0;
            } else {
                memcpy(w + wn, enc, (size_t)el);
                wn += (size_t)el;
            }
        }
    }
    word_out(v, w, wn, out);
    free(w);
}
