/* vocab_impl.h — the layout of struct lir_vocab, shared by the files of src/tokenizer/ only.
 * Lookup structures are open-addressing hash tables built once at load. */
#ifndef LIR_VOCAB_IMPL_H
#define LIR_VOCAB_IMPL_H

#include <stdlib.h>
#include "tokenizer/tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* token attributes (bit set) */
enum {
    TA_NORMAL = 1 << 0, TA_UNKNOWN = 1 << 1, TA_CONTROL = 1 << 2, TA_USER = 1 << 3,
    TA_UNUSED = 1 << 4, TA_BYTE = 1 << 5, TA_EOG = 1 << 6, TA_LSTRIP = 1 << 7,
};

struct vtok {
    uint32_t off, len;          /* text in v->text */
    uint32_t poff, plen;        /* decoded piece in v->pieces */
    float score;
    uint16_t attr;
};

#define LIR_PRE_MAX_RE 6

struct lir_vocab {
    enum lir_vocab_type type;
    char pre_name[48];
    int32_t n_tokens;
    struct vtok *tok;
    char *text;                 /* all token texts */
    char *pieces;               /* all decoded pieces */
    uint32_t *ht;               /* text -> id+1 (0 = empty) */
    uint64_t ht_mask;
    /* BPE merges: (left id, right id) -> rank, result id */
    uint64_t *mkey;             /* (l+1)<<32 | (r+1); 0 = empty */
    int32_t *mrank, *mres;
    uint64_t m_mask;
    int32_t bos, eos, eot, eom, unk, sep, pad;
    bool add_bos, add_eos, add_sep, add_space_prefix, ignore_merges, lowercase;
    int32_t byte_tok[256];      /* token of each byte: <0xNN> (SPM) or its bytes_to_unicode char (BPE) */
    int32_t *special;           /* control/unknown/user-defined ids, longest text first */
    int32_t n_special;
    int max_token_len;
    pcre2_code *re[LIR_PRE_MAX_RE];
    int n_re;
};

/* growable token vector */
struct tokvec { int32_t *v; size_t n, cap; bool oom; };
static inline void tv_push(struct tokvec *t, int32_t id) {
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 64;
        int32_t *p = realloc(t->v, nc * sizeof *p);
        if (!p) { t->oom = true; return; }
        t->v = p;
        t->cap = nc;
    }
    t->v[t->n++] = id;
}

/* Length of the UTF-8 sequence a lead byte announces (1 for continuation/invalid bytes),
 * as llama.cpp's unicode_len_utf8. */
static inline size_t utf8_len_lead(unsigned char c) {
    static const uint8_t lk[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4 };
    return lk[c >> 4];
}

uint64_t lir__tok_hash(const char *s, size_t n);

/* internal entry points of spm.c / bpe.c / wpm.c (text is one run between special tokens) */
void lir__spm_tokenize(const lir_vocab *v, const char *text, size_t len, bool prefix_space, struct tokvec *out);
enum lir_status lir__bpe_init(lir_vocab *v, const char *pre, lir_err *e);
enum lir_status lir__bpe_tokenize(const lir_vocab *v, const char *text, size_t len, struct tokvec *out, lir_err *e);
void lir__wpm_tokenize(const lir_vocab *v, const char *text, size_t len, struct tokvec *out);
/* GPT-2 bytes_to_unicode: the code point byte b stands for */
uint32_t lir__bpe_byte_cp(uint8_t b);
/* inverse; -1 when cp is not one of the 256 */
int lir__bpe_cp_byte(uint32_t cp);

/* binary heap of candidate merges: best = lowest key, then lowest left index */
struct mheap_item { double key; int32_t left, right; uint32_t size; };
struct mheap { struct mheap_item *a; size_t n, cap; bool oom; };
static inline bool mh_less(const struct mheap_item *x, const struct mheap_item *y) {
    return x->key < y->key || (x->key == y->key && x->left < y->left);
}
static inline void mh_push(struct mheap *h, struct mheap_item it) {
    if (h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 64;
        struct mheap_item *p = realloc(h->a, nc * sizeof *p);
        if (!p) { h->oom = true; return; }
        h->a = p;
        h->cap = nc;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!mh_less(&it, &h->a[p])) break;
        h->a[i] = h->a[p];
        i = p;
    }
    h->a[i] = it;
}
static inline struct mheap_item mh_pop(struct mheap *h) {
    struct mheap_item top = h->a[0], last = h->a[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && mh_less(&h->a[c + 1], &h->a[c])) c++;
        if (!mh_less(&h->a[c], &last)) break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (h->n) h->a[i] = last;
    return top;
}

#endif /* LIR_VOCAB_IMPL_H */
