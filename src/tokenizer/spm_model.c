/* spm_model.c — SentencePiece .model (protobuf) reader; see spm_model.h.
 *
 * ModelProto fields read: 1 pieces (repeated SentencePiece: 1 piece, 2 score, 3 type),
 * 2 trainer_spec (3 model_type, 40 unk_id, 41 bos_id, 42 eos_id, 43 pad_id),
 * 3 normalizer_spec (3 add_dummy_prefix). Everything else is skipped. */
#include "tokenizer/spm_model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"

struct pb { const unsigned char *p, *end; };

static bool pb_varint(struct pb *b, uint64_t *v) {
    *v = 0;
    for (int s = 0; s < 64; s += 7) {
        if (b->p >= b->end) return false;
        unsigned c = *b->p++;
        *v |= (uint64_t)(c & 0x7f) << s;
        if (!(c & 0x80)) return true;
    }
    return false;
}

/* Next field: *field, *wt; wire type 2 -> *sub is the payload (*v its length); 0 -> *v;
 * 1 -> *v = 64 bits; 5 -> *v = 32 bits. False on truncated or unknown wire types. */
static bool pb_next(struct pb *b, uint32_t *field, int *wt, uint64_t *v, struct pb *sub) {
    uint64_t key;
    if (!pb_varint(b, &key)) return false;
    *field = (uint32_t)(key >> 3);
    *wt = (int)(key & 7);
    switch (*wt) {
    case 0: return pb_varint(b, v);
    case 1: if (b->end - b->p < 8) return false; memcpy(v, b->p, 8); b->p += 8; return true;
    case 2:
        if (!pb_varint(b, v) || *v > (uint64_t)(b->end - b->p)) return false;
        sub->p = b->p; sub->end = b->p + *v; b->p += *v;
        return true;
    case 5: { uint32_t u; if (b->end - b->p < 4) return false; memcpy(&u, b->p, 4); b->p += 4; *v = u; return true; }
    default: return false;
    }
}

void lir_spm_model_free(struct lir_spm_model *m) {
    if (!m) return;
    if (m->tok)
        for (int64_t i = 0; i < m->n; i++) free(m->tok[i]);
    free(m->tok);
    free(m->score);
    free(m->type);
    memset(m, 0, sizeof *m);
}

static enum lir_status parse_piece(struct pb q, struct lir_spm_model *m, int64_t k, lir_err *e) {
    struct pb s;
    uint32_t f;
    int w;
    uint64_t v;
    m->type[k] = LIR_TOKEN_TYPE_NORMAL;
    while (q.p < q.end) {
        if (!pb_next(&q, &f, &w, &v, &s)) return lir__errf(e, LIR_EFORMAT, "spm: malformed piece %lld", (long long)k);
        if (f == 1 && w == 2) {
            char *t = malloc(v + 1);
            if (!t) return lir__errf(e, LIR_ENOMEM, "spm: out of memory");
            memcpy(t, s.p, v);
            t[v] = 0;
            free(m->tok[k]);
            m->tok[k] = t;
        } else if (f == 2 && w == 5) {
            uint32_t u = (uint32_t)v;
            memcpy(&m->score[k], &u, 4);
        } else if (f == 3 && w == 0) {
            if (v < LIR_TOKEN_TYPE_NORMAL || v > LIR_TOKEN_TYPE_BYTE)
                return lir__errf(e, LIR_EFORMAT, "spm: piece %lld has type %llu", (long long)k, (unsigned long long)v);
            m->type[k] = (int32_t)v;
        }
    }
    if (!m->tok[k] && !(m->tok[k] = calloc(1, 1))) return lir__errf(e, LIR_ENOMEM, "spm: out of memory");
    return LIR_OK;
}

static enum lir_status parse(const unsigned char *data, size_t size, struct lir_spm_model *m, lir_err *e) {
    struct pb b = { data, data + size }, sub;
    uint32_t field;
    int wt;
    uint64_t v;
    int64_t n = 0;
    /* pass 1: validate the top level and count the pieces */
    while (b.p < b.end) {
        if (!pb_next(&b, &field, &wt, &v, &sub)) return lir__errf(e, LIR_EFORMAT, "spm: malformed protobuf");
        if (field == 1 && wt == 2) n++;
    }
    if (n < 1 || n >= (1 << 22)) return lir__errf(e, LIR_EFORMAT, "spm: %lld pieces", (long long)n);
    m->n = n;
    m->tok = calloc((size_t)n, sizeof *m->tok);
    m->score = calloc((size_t)n, sizeof *m->score);
    m->type = calloc((size_t)n, sizeof *m->type);
    if (!m->tok || !m->score || !m->type) return lir__errf(e, LIR_ENOMEM, "spm: out of memory");
    m->model_type = LIR_SPM_UNIGRAM;
    m->unk = 0; m->bos = 1; m->eos = 2; m->pad = -1; /* SentencePiece's defaults */
    m->add_space_prefix = true;
    b = (struct pb){ data, data + size };
    int64_t k = 0;
    enum lir_status s;
    while (b.p < b.end) {
        pb_next(&b, &field, &wt, &v, &sub); /* checked in pass 1 */
        if (field == 1 && wt == 2) {
            if ((s = parse_piece(sub, m, k++, e))) return s;
        } else if ((field == 2 || field == 3) && wt == 2) { /* TrainerSpec, NormalizerSpec */
            struct pb q = sub, s2;
            uint32_t f2;
            int w2;
            uint64_t v2;
            while (q.p < q.end) {
                if (!pb_next(&q, &f2, &w2, &v2, &s2))
                    return lir__errf(e, LIR_EFORMAT, "spm: malformed %s spec", field == 2 ? "trainer" : "normalizer");
                if (w2 != 0) continue;
                int64_t iv = (int64_t)v2; /* int32 fields: negative values are 10-byte varints */
                if (field == 3) { if (f2 == 3) m->add_space_prefix = v2 != 0; }
                else if (f2 == 3) m->model_type = (int)v2;
                else if (f2 == 40) m->unk = iv;
                else if (f2 == 41) m->bos = iv;
                else if (f2 == 42) m->eos = iv;
                else if (f2 == 43) m->pad = iv;
            }
        }
    }
    int64_t *ids[] = { &m->unk, &m->bos, &m->eos, &m->pad };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (*ids[i] < 0 || *ids[i] >= n) *ids[i] = -1;
    return LIR_OK;
}

enum lir_status lir_spm_model_parse(const void *data, size_t size, struct lir_spm_model *m, lir_err *e) {
    memset(m, 0, sizeof *m);
    if (!data && size) return lir__errf(e, LIR_EINVAL, "spm: NULL data");
    enum lir_status s = parse(data, size, m, e);
    if (s) lir_spm_model_free(m);
    return s;
}

enum lir_status lir_spm_model_read(const char *path, struct lir_spm_model *m, lir_err *e) {
    memset(m, 0, sizeof *m);
    FILE *f = fopen(path, "rb");
    if (!f) return lir__errf(e, LIR_EIO, "spm: %s: %s", path, strerror(errno));
    long sz = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (sz <= 0 || sz > (1L << 30) || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return lir__errf(e, LIR_EFORMAT, "spm: %s: bad size", path);
    }
    unsigned char *data = malloc((size_t)sz);
    if (!data) { fclose(f); return lir__errf(e, LIR_ENOMEM, "spm: out of memory"); }
    size_t got = fread(data, 1, (size_t)sz, f);
    fclose(f);
    if (got != (size_t)sz) { free(data); return lir__errf(e, LIR_EIO, "spm: %s: read error", path); }
    enum lir_status s = lir_spm_model_parse(data, (size_t)sz, m, e);
    if (s) {
        char msg[LIR_ERR_MAX];
        lir__err_copy(e, msg, sizeof msg);
        lir__errf(e, s, "%s: %s", path, msg);
    }
    free(data);
    return s;
}
