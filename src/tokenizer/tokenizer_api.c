/* tokenizer_api.c — the public tokenizer functions of lir.h over a loaded model's vocabulary. */
#include "model/model.h"
#include "tokenizer/tokenizer.h"

#include <stdlib.h>
#include <string.h>

const char *lir_model_vocab_error(const lir_model *m) {
    if (!m) return "no model";
    return m->vocab ? "" : m->vocab_err;
}

static enum lir_status no_vocab(const lir_model *m) {
    if (!m) return LIR_EINVAL;
    return m->vocab_status ? m->vocab_status : LIR_ENOTFOUND;
}

enum lir_status lir_tokenize(const lir_model *m, const char *text, size_t len, bool add_special, bool parse_special,
                             lir_token *out, int32_t cap, int32_t *n_out) {
    if (!m || !n_out || (!out && cap > 0) || (!text && len) || cap < 0) return LIR_EINVAL;
    *n_out = 0;
    if (!m->vocab) return no_vocab(m);
    int32_t *ids;
    size_t n;
    enum lir_status s = lir_vocab_tokenize(m->vocab, text, len, add_special, parse_special, &ids, &n, NULL);
    if (s) return s;
    if (n > INT32_MAX) { free(ids); return LIR_ERANGE; }
    *n_out = (int32_t)n;
    if (n > (size_t)cap) s = LIR_ERANGE;
    else if (n) memcpy(out, ids, n * sizeof *ids);
    free(ids);
    return s;
}

enum lir_status lir_token_to_piece(const lir_model *m, lir_token t, bool special, char *buf, size_t cap, size_t *len) {
    if (!m || !len || (!buf && cap)) return LIR_EINVAL;
    *len = 0;
    if (!m->vocab) return no_vocab(m);
    size_t n;
    const char *p = lir_vocab_piece(m->vocab, t, special, &n);
    if (!p) return LIR_EINVAL;
    *len = n;
    if (n > cap) return LIR_ERANGE;
    if (n) memcpy(buf, p, n);
    return LIR_OK;
}

lir_token lir_vocab_bos(const lir_model *m) { return m && m->vocab ? lir__vocab_bos(m->vocab) : -1; }
lir_token lir_vocab_eos(const lir_model *m) { return m && m->vocab ? lir__vocab_eos(m->vocab) : -1; }
lir_token lir_vocab_eot(const lir_model *m) { return m && m->vocab ? lir__vocab_eot(m->vocab) : -1; }
int32_t lir_vocab_n_tokens(const lir_model *m) { return m && m->vocab ? lir__vocab_n_tokens(m->vocab) : 0; }
bool lir_vocab_is_eog(const lir_model *m, lir_token t) { return m && m->vocab && lir__vocab_is_eog(m->vocab, t); }
bool lir_vocab_add_space_prefix(const lir_model *m) { return m && m->vocab && lir__vocab_add_space_prefix(m->vocab); }
bool lir_vocab_add_bos(const lir_model *m) { return m && m->vocab && lir__vocab_add_bos(m->vocab); }

enum lir_status lir_detok_create(const lir_model *m, bool show_special, bool strip_leading_space, lir_detok **out) {
    if (!m || !out) return LIR_EINVAL;
    *out = NULL;
    if (!m->vocab) return no_vocab(m);
    *out = lir__detok_create(m->vocab, show_special, strip_leading_space);
    return *out ? LIR_OK : LIR_ENOMEM;
}

enum lir_status lir_detok_push(lir_detok *d, lir_token t, const char **text, size_t *len) {
    if (!d || !text || !len) return LIR_EINVAL;
    return lir__detok_push(d, t, text, len);
}

enum lir_status lir_detok_flush(lir_detok *d, const char **text, size_t *len) {
    if (!d || !text || !len) return LIR_EINVAL;
    return lir__detok_flush(d, text, len);
}

void lir_detok_free(lir_detok *d) { lir__detok_free(d); }
