/* bpe.c — byte-level BPE ("gpt2"): pre-tokenizer regexes chosen by tokenizer.ggml.pre (PCRE2,
 * UTF + UCP, JIT-compiled once per vocabulary), GPT-2's bytes_to_unicode mapping, merges by
 * rank with a heap (lowest rank first, leftmost on ties) — the behaviour of llama.cpp's
 * llm_tokenizer_bpe, whose regex lists per pre-tokenizer are reproduced here.
 *
 * Several regexes apply in turn: each one splits every piece left by the previous into its
 * matches and the unmatched gaps between them, all kept (HF's Split "Isolated"). */
#include "tokenizer/vocab_impl.h"

#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- pre-tokenizers */

#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RE_LLAMA3 "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN2 "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_CJK "[\xe4\xb8\x80-\xe9\xbe\xa5\xe0\xa0\x80-\xe4\xb8\x80\xea\xb0\x80-\xed\x9f\xbf]+" /* [一-龥ࠀ-一가-퟿]+ */
/* tekken and gpt-4o: llama.cpp's adaptation of the tokenizer.json regexes (it differs from the
 * originals on combining marks, \p{M}; we follow llama.cpp) */
#define RE_TEKKEN "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_GPT4O "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

struct pre_def {
    const char *names;          /* '|'-separated tokenizer.ggml.pre values */
    bool ignore_merges, add_bos;
    const char *re[LIR_PRE_MAX_RE];
};

static const struct pre_def pre_defs[] = {
    { "default", false, false,
      { "[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]" } },
    { "llama3|llama-v3|llama-bpe|falcon3|falcon-h1|pixtral|midm-2.0|lfm2|dbrx|smaug-bpe",
      true, true, { RE_LLAMA3 } },
    { "gpt-2|phi-2|jina-es|jina-de|gigachat|jina-v2-es|jina-v2-de|a.x-4.0|mellum|jina-v1-en|jina-v2-code|roberta-bpe|mpt|olmo|jais|exaone4|trillion",
      false, false, { RE_GPT2 } },
    { "qwen2|deepseek-r1-qwen|megrez|stablelm2|hunyuan", false, false, { RE_QWEN2 } },
    { "starcoder|refact|command-r|smollm|codeshell|exaone|minerva-7b", false, false, { "\\p{N}", RE_GPT2 } },
    { "falcon", false, false,
      { "[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]" } },
    { "deepseek-llm", false, false,
      { "[\r\n]",
        "\\s?[A-Za-z\xc2\xb5\xc3\x80-\xc3\x96\xc3\x98-\xc3\xb6\xc3\xb8-\xc6\xba\xc6\xbc-\xc6\xbf\xc7\x84-\xca\x93\xca\x95-\xca\xaf\xcd\xb0-\xcd\xb3\xcd\xb6\xcd\xb7\xcd\xbb-\xcd\xbd\xcd\xbf\xce\x86\xce\x88-\xce\x8a\xce\x8c\xce\x8e-\xce\xa1\xce\xa3-\xcf\xb5\xcf\xb7-\xd2\x81\xd2\x8a-\xd4\xaf\xd4\xb1-\xd5\x96\xe1\x82\xa0-\xe1\x83\x85\xe1\x8e\xa0-\xe1\x8f\xb5\xe1\x8f\xb8-\xe1\x8f\xbd\xe1\xb2\x90-\xe1\xb2\xba\xe1\xb2\xbd-\xe1\xb2\xbf\xe1\xb4\x80-\xe1\xb4\xab\xe1\xb5\xab-\xe1\xb5\xb7\xe1\xb5\xb9-\xe1\xb6\x9a\xe1\xb8\x80-\xe1\xbc\x95\xe1\xbc\x98-\xe1\xbc\x9d\xe1\xbc\xa0-\xe1\xbd\x85\xe1\xbd\x88-\xe1\xbd\x8d\xe1\xbd\x90-\xe1\xbd\x97\xe1\xbd\x99\xe1\xbd\x9b\xe1\xbd\x9d\xe1\xbd\x9f-\xe1\xbd\xbd\xe1\xbe\x80-\xe1\xbe\xb4\xe1\xbe\xb6-\xe1\xbe\xbc\xe1\xbe\xbe\xe1\xbf\x82-\xe1\xbf\x84\xe1\xbf\x86-\xe1\xbf\x8c\xe1\xbf\x90-\xe1\xbf\x93\xe1\xbf\x96-\xe1\xbf\x9b\xe1\xbf\xa0-\xe1\xbf\xac\xe1\xbf\xb2-\xe1\xbf\xb4\xe1\xbf\xb6-\xe1\xbf\xbc\xe2\x84\x82\xe2\x84\x87\xe2\x84\x8a-\xe2\x84\x93\xe2\x84\x95\xe2\x84\x99-\xe2\x84\x9d\xe2\x84\xa4\xe2\x84\xa6\xe2\x84\xa8\xe2\x84\xaa-\xe2\x84\xad\xe2\x84\xaf-\xe2\x84\xb4\xe2\x84\xb9\xe2\x84\xbc-\xe2\x84\xbf\xe2\x85\x85-\xe2\x85\x89\xe2\x85\x8e\xe2\x86\x83\xe2\x86\x84\xe2\xb0\x80-\xe2\xb1\xbb\xe2\xb1\xbe-\xe2\xb3\xa4\xe2\xb3\xab-\xe2\xb3\xae\xe2\xb3\xb2\xe2\xb3\xb3\xea\x99\x80-\xea\x99\xad\xea\x9a\x80-\xea\x9a\x9b\xea\x9c\xa2-\xea\x9d\xaf\xea\x9d\xb1-\xea\x9e\x87\xea\x9e\x8b-\xea\x9e\x8e\xea\xad\xb0-\xea\xae\xbf\xef\xac\x80-\xef\xac\x86\xef\xac\x93-\xef\xac\x97\xef\xbc\xa1-\xef\xbc\xba\xef\xbd\x81-\xef\xbd\x9a\xf0\x90\x90\x80-\xf0\x90\x91\x8f\xf0\x90\x92\xb0-\xf0\x90\x93\x93\xf0\x90\x93\x98-\xf0\x90\x93\xbb\xf0\x90\xb2\x80-\xf0\x90\xb2\xb2\xf0\x90\xb3\x80-\xf0\x90\xb3\xb2\xf0\x91\xa2\xa0-\xf0\x91\xa3\x9f\xf0\x9e\xa4\x80-\xf0\x9e\xa5\x83]+",
        "\\s?[!-/:-~\xef\xbc\x81-\xef\xbc\x8f\xef\xbc\x9a-\xef\xbd\x9e\xe2\x80\x98-\xe2\x80\x9f\xe3\x80\x80-\xe3\x80\x82]+",
        "\\s+$", RE_CJK, "\\p{N}+" } },
    { "deepseek-coder", false, false, { "[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_CJK, "\\p{N}" } },
    { "poro-chat|bloom|gpt3-finnish", false, false,
      { " ?[^(\\s|.,!?\xe2\x80\xa6\xe3\x80\x82\xef\xbc\x8c\xe3\x80\x81\xe0\xa5\xa4\xdb\x94\xd8\x8c)]+" } },
    { "tekken", true, true, { RE_TEKKEN } },
    { "gpt-4o|llama4", false, false, { RE_GPT4O } },
};

static bool name_in(const char *list, const char *name) {
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *q = strchr(p, '|');
        size_t l = q ? (size_t)(q - p) : strlen(p);
        if (l == n && memcmp(p, name, n) == 0) return true;
        if (!q) break;
        p = q + 1;
    }
    return false;
}

enum lir_status lir__bpe_init(lir_vocab *v, const char *pre, lir_err *e) {
    const struct pre_def *def = NULL;
    for (size_t i = 0; i < sizeof pre_defs / sizeof pre_defs[0] && !def; i++)
        if (name_in(pre_defs[i].names, pre)) def = &pre_defs[i];
    if (!def)
        return lir__errf(e, LIR_EUNSUPPORTED,
                         "tokenizer: unknown tokenizer.ggml.pre '%s' (supported: default, llama-bpe, qwen2, smollm, "
                         "starcoder, gpt-2, deepseek-llm, deepseek-coder, falcon, tekken, gpt-4o, bloom and their aliases)", pre);
    snprintf(v->pre_name, sizeof v->pre_name, "%s", pre);
    v->ignore_merges = def->ignore_merges;
    v->add_bos = def->add_bos;
    for (int i = 0; i < LIR_PRE_MAX_RE && def->re[i]; i++) {
        int err;
        PCRE2_SIZE off;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)def->re[i], PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &off, NULL);
        if (!re) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(err, msg, sizeof msg);
            return lir__errf(e, LIR_EINTERNAL, "tokenizer: pre-tokenizer '%s' regex %d does not compile at %zu: %s",
                             pre, i, (size_t)off, (const char *)msg);
        }
        pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* without JIT support it still runs, slower */
        v->re[v->n_re++] = re;
    }
    return LIR_OK;
}

/* ---------------------------------------------------------------- bytes_to_unicode */

static bool byte_is_printable(unsigned b) {
    return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
}

uint32_t lir__bpe_byte_cp(uint8_t b) {
    if (byte_is_printable(b)) return b;
    uint32_t n = 0;
    for (unsigned x = 0; x < b; x++) n += !byte_is_printable(x);
    return 256 + n;
}

int lir__bpe_cp_byte(uint32_t cp) {
    if (cp < 256) return byte_is_printable(cp) ? (int)cp : -1;
    if (cp >= 256 + 68) return -1; /* 68 non-printable bytes */
    uint32_t n = cp - 256;
    for (unsigned x = 0; x < 256; x++)
        if (!byte_is_printable(x) && n-- == 0) return (int)x;
    return -1;
}

/* ---------------------------------------------------------------- UTF-8 clean-up */

static size_t put_utf8(char *o, uint32_t cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xc0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3f)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* llama.cpp's decoder (unicode_cpts_from_utf8): a byte that does not start a complete
 * sequence becomes U+FFFD and decoding resumes at the next byte. Overlong forms decode to
 * their value; surrogates and values past U+10FFFF (which PCRE2 cannot take) become U+FFFD.
 * o needs 3 * n bytes. Returns the cleaned length. */
static size_t clean_utf8(const unsigned char *s, size_t n, char *o) {
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        uint32_t cp = 0xfffd;
        size_t l = 1;
        if (c < 0x80) cp = c;
        else if (!(c & 0x40)) { /* stray continuation */ }
        else if (!(c & 0x20)) {
            if (i + 1 < n && (s[i + 1] & 0xc0) == 0x80) { cp = ((c & 0x1fu) << 6) | (s[i + 1] & 0x3fu); l = 2; }
        } else if (!(c & 0x10)) {
            if (i + 2 < n && (s[i + 1] & 0xc0) == 0x80 && (s[i + 2] & 0xc0) == 0x80) {
                cp = ((c & 0x0fu) << 12) | ((s[i + 1] & 0x3fu) << 6) | (s[i + 2] & 0x3fu);
                l = 3;
            }
        } else if (!(c & 0x08)) {
            if (i + 3 < n && (s[i + 1] & 0xc0) == 0x80 && (s[i + 2] & 0xc0) == 0x80 && (s[i + 3] & 0xc0) == 0x80) {
                cp = ((c & 0x07u) << 18) | ((s[i + 1] & 0x3fu) << 12) | ((s[i + 2] & 0x3fu) << 6) | (s[i + 3] & 0x3fu);
                l = 4;
            }
        }
        if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) cp = 0xfffd;
        if (cp < 0x80 && l == 1) o[k++] = (char)cp;
        else k += put_utf8(o + k, cp);
        i += l;
    }
    return k;
}

/* ---------------------------------------------------------------- split + merge */

struct span { size_t off, len; };
struct spanvec { struct span *a; size_t n, cap; };

static bool sv_push(struct spanvec *v, size_t off, size_t len) {
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 256;
        struct span *p = realloc(v->a, nc * sizeof *p);
        if (!p) return false;
        v->a = p;
        v->cap = nc;
    }
    v->a[v->n++] = (struct span){ off, len };
    return true;
}

static int32_t merge_find(const lir_vocab *v, int32_t a, int32_t b, int32_t *res) {
    if (!v->mkey || a < 0 || b < 0) return -1;
    uint64_t key = ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)(b + 1);
    uint64_t k = key;
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    uint64_t h = k & v->m_mask;
    for (;;) {
        uint64_t x = v->mkey[h];
        if (!x) return -1;
        if (x == key) { *res = v->mres[h]; return v->mrank[h]; }
        h = (h + 1) & v->m_mask;
    }
}

struct bsym { int32_t prev, next, id; uint32_t off, n; };

struct bpe_scratch {
    struct bsym *sy; size_t sy_cap;
    char *enc; size_t enc_cap;
    struct mheap h;
};

static void add_pair(const lir_vocab *v, struct bsym *sy, int32_t l, int32_t r, struct mheap *h) {
    if (l < 0 || r < 0) return;
    int32_t res;
    int32_t rank = merge_find(v, sy[l].id, sy[r].id, &res);
    if (rank < 0) return;
    mh_push(h, (struct mheap_item){ (double)rank, l, r, sy[l].n + sy[r].n });
}

static void emit_unknown(const lir_vocab *v, const unsigned char *w, size_t n, struct tokvec *out) {
    /* llama.cpp: each byte of the symbol's byte-encoded text, looked up on its own */
    for (size_t i = 0; i < n; i++) {
        char enc[4];
        size_t l = put_utf8(enc, lir__bpe_byte_cp(w[i]));
        for (size_t j = 0; j < l; j++) {
            int32_t id = lir_vocab_find(v, enc + j, 1);
            if (id >= 0) tv_push(out, id);
        }
    }
}

static bool bpe_word(const lir_vocab *v, const unsigned char *w, size_t n, struct bpe_scratch *sc, struct tokvec *out) {
    if (v->ignore_merges) {
        if (sc->enc_cap < 2 * n) {
            char *p = realloc(sc->enc, 2 * n);
            if (!p) return false;
            sc->enc = p;
            sc->enc_cap = 2 * n;
        }
        size_t k = 0;
        for (size_t i = 0; i < n; i++) k += put_utf8(sc->enc + k, lir__bpe_byte_cp(w[i]));
        int32_t id = lir_vocab_find(v, sc->enc, k);
        if (id >= 0) { tv_push(out, id); return true; }
    }
    if (sc->sy_cap < n) {
        struct bsym *p = realloc(sc->sy, n * sizeof *p);
        if (!p) return false;
        sc->sy = p;
        sc->sy_cap = n;
    }
    struct bsym *sy = sc->sy;
    for (size_t i = 0; i < n; i++)
        sy[i] = (struct bsym){ (int32_t)i - 1, i + 1 < n ? (int32_t)i + 1 : -1, v->byte_tok[w[i]], (uint32_t)i, 1 };
    sc->h.n = 0;
    for (size_t i = 1; i < n; i++) add_pair(v, sy, (int32_t)i - 1, (int32_t)i, &sc->h);
    while (sc->h.n && !sc->h.oom) {
        struct mheap_item b = mh_pop(&sc->h);
        struct bsym *L = &sy[b.left], *R = &sy[b.right];
        if (L->n == 0 || R->n == 0 || L->next != b.right || L->n + R->n != b.size) continue; /* stale */
        int32_t res = -1;
        merge_find(v, L->id, R->id, &res);
        L->n += R->n;
        L->id = res;
        R->n = 0;
        L->next = R->next;
        if (R->next >= 0) sy[R->next].prev = b.left;
        add_pair(v, sy, L->prev, b.left, &sc->h);
        add_pair(v, sy, b.left, L->next, &sc->h);
    }
    if (sc->h.oom) return false;
    for (int32_t i = 0; i != -1; i = sy[i].next) {
        if (sy[i].id >= 0) tv_push(out, sy[i].id);
        else emit_unknown(v, w + sy[i].off, sy[i].n, out);
    }
    return true;
}

enum lir_status lir__bpe_tokenize(const lir_vocab *v, const char *text, size_t len, struct tokvec *out, lir_err *e) {
    enum lir_status s = LIR_OK;
    char *t = malloc(3 * len + 1);
    struct spanvec a = { 0 }, b = { 0 };
    struct bpe_scratch sc = { 0 };
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (!t || !md) { s = lir__errf(e, LIR_ENOMEM, "tokenize: out of memory"); goto out; }
    size_t n = clean_utf8((const unsigned char *)text, len, t);
    if (!n) goto out;
    if (!sv_push(&a, 0, n)) goto oom;
    for (int r = 0; r < v->n_re; r++) {
        b.n = 0;
        for (size_t i = 0; i < a.n; i++) {
            size_t pos = a.a[i].off, end = pos + a.a[i].len, gap = pos;
            while (pos < end) {
                int rc = pcre2_match(v->re[r], (PCRE2_SPTR)t, end, pos, PCRE2_NO_UTF_CHECK, md, NULL);
                if (rc == PCRE2_ERROR_NOMATCH) break;
                if (rc < 0) {
                    PCRE2_UCHAR msg[160];
                    pcre2_get_error_message(rc, msg, sizeof msg);
                    s = lir__errf(e, LIR_EINTERNAL, "tokenize: pre-tokenizer regex failed: %s", (const char *)msg);
                    goto out;
                }
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
                size_t ms = ov[0], me = ov[1];
                if (me == ms) { /* empty match: step one character on */
                    pos = ms + 1;
                    while (pos < end && ((unsigned char)t[pos] & 0xc0) == 0x80) pos++;
                    continue;
                }
                if (ms > gap && !sv_push(&b, gap, ms - gap)) goto oom;
                if (!sv_push(&b, ms, me - ms)) goto oom;
                pos = gap = me;
            }
            if (end > gap && !sv_push(&b, gap, end - gap)) goto oom;
        }
        struct spanvec tmp = a;
        a = b;
        b = tmp;
    }
    for (size_t i = 0; i < a.n; i++)
        if (!bpe_word(v, (const unsigned char *)t + a.a[i].off, a.a[i].len, &sc, out)) goto oom;
    goto out;
oom:
    s = lir__errf(e, LIR_ENOMEM, "tokenize: out of memory");
out:
    if (md) pcre2_match_data_free(md);
    free(sc.sy);
    free(sc.enc);
    free(sc.h.a);
    free(a.a);
    free(b.a);
    free(t);
    return s;
}
