/* spm.c — SentencePiece-style tokenizer ("llama"): the text's spaces become U+2581, the text is
 * split into UTF-8 characters, and adjacent symbols are merged while their concatenation is
 * a token, highest score first (leftmost on ties). Symbols that end up not being tokens fall
 * back to byte tokens <0xNN>. Same result as llama.cpp's llm_tokenizer_spm and as
 * SentencePiece's BPE model encoder. */
#include "tokenizer/vocab_impl.h"

#include <string.h>

struct sym { int32_t prev, next; uint32_t off, n; };

static void try_bigram(const lir_vocab *v, const char *s, struct sym *sy, int32_t l, int32_t r, struct mheap *h) {
    if (l < 0 || r < 0) return;
    size_t n = (size_t)sy[l].n + sy[r].n;
    int32_t id = lir_vocab_find(v, s + sy[l].off, n);
    if (id < 0) return;
    mh_push(h, (struct mheap_item){ -(double)v->tok[id].score, l, r, (uint32_t)n });
}

static void emit_bytes(const lir_vocab *v, const char *p, size_t n, struct tokvec *out) {
    for (size_t j = 0; j < n; j++) {
        int32_t id = v->byte_tok[(unsigned char)p[j]];
        if (id < 0) id = v->unk;
        if (id >= 0) tv_push(out, id);
    }
}

void lir__spm_tokenize(const lir_vocab *v, const char *text, size_t len, bool prefix_space, struct tokvec *out) {
    /* escaped text: (' ' prefix) + text with ' ' -> e2 96 81 */
    size_t nsp = prefix_space ? 1 : 0;
    for (size_t i = 0; i < len; i++) nsp += text[i] == ' ';
    size_t elen = len + (prefix_space ? 1 : 0) + 2 * nsp;
    char *s = malloc(elen ? elen : 1);
    struct sym *sy = malloc((elen ? elen : 1) * sizeof *sy);
    struct mheap h = { 0 };
    if (!s || !sy) { out->oom = true; goto out; }
    size_t o = 0;
    if (prefix_space) { memcpy(s, "\xe2\x96\x81", 3); o = 3; }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') { memcpy(s + o, "\xe2\x96\x81", 3); o += 3; }
        else s[o++] = text[i];
    }
    elen = o;
    if (!elen) goto out;
    int32_t ns = 0;
    for (size_t p = 0; p < elen;) {
        size_t l = utf8_len_lead((unsigned char)s[p]);
        if (l > elen - p) l = elen - p;
        sy[ns] = (struct sym){ ns - 1, -1, (uint32_t)p, (uint32_t)l };
        p += l;
        if (p < elen) sy[ns].next = ns + 1;
        ns++;
    }
    for (int32_t i = 1; i < ns; i++) try_bigram(v, s, sy, i - 1, i, &h);
    while (h.n && !h.oom) {
        struct mheap_item b = mh_pop(&h);
        struct sym *L = &sy[b.left], *R = &sy[b.right];
        if (L->n == 0 || R->n == 0 || L->n + R->n != b.size) continue; /* stale */
        L->n += R->n;
        R->n = 0;
        L->next = R->next;
        if (R->next >= 0) sy[R->next].prev = b.left;
        try_bigram(v, s, sy, L->prev, b.left, &h);
        try_bigram(v, s, sy, b.left, L->next, &h);
    }
    if (h.oom) { out->oom = true; goto out; }
    for (int32_t i = 0; i != -1; i = sy[i].next) {
        int32_t id = lir_vocab_find(v, s + sy[i].off, sy[i].n);
        if (id >= 0) tv_push(out, id);
        else emit_bytes(v, s + sy[i].off, sy[i].n, out);
    }
out:
    free(h.a);
    free(sy);
    free(s);
}
