/* tokenizer.h — vocabularies and tokenizers read from GGUF metadata (internal interface).
 *
 * A struct lir_vocab is built once (from a GGUF file's tokenizer.ggml.* keys, or from plain
 * arrays in tests and tools) and is read-only afterwards: every function taking a const vocab
 * is safe to call from several threads at once.
 *
 * Tokenizer models (tokenizer.ggml.model), following llama.cpp's behaviour, which is the
 * reference our parity tests compare against:
 *   "llama"  SPM: score-driven bigram merges over UTF-8 characters, ' ' escaped as U+2581,
 *            a space prefixed to each text run that follows BOS/a special token
 *            (add_space_prefix), byte fallback to <0xNN> tokens.
 *   "gpt2"   byte-level BPE: a pre-tokenizer (regexes chosen by tokenizer.ggml.pre) splits
 *            the text into words; each word's bytes are mapped through GPT-2's
 *            bytes_to_unicode table and merged by rank (tokenizer.ggml.merges).
 *   "bert"   WPM: lowercase + accent strip (utf8proc), punctuation split, greedy longest
 *            match with U+2581 word prefix, as llama.cpp stores BERT vocabularies.
 * Special tokens (control/unknown) are matched in the text only when parse_special is set;
 * user-defined tokens always are (llama.cpp's tokenizer_st_partition).
 * Invalid UTF-8: SPM falls back to byte tokens (lossless); BPE/WPM decode each invalid byte
 * as U+FFFD, as llama.cpp does. Nothing crashes on any input bytes. */
#ifndef LIR_TOKENIZER_H
#define LIR_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lir.h"
#include "gguf/gguf.h"
#include "util/util.h"

enum lir_vocab_type { LIR_VOCAB_SPM = 1, LIR_VOCAB_BPE = 2, LIR_VOCAB_WPM = 3 };

/* GGUF tokenizer.ggml.token_type values (llama.cpp's llama_token_type). */
enum lir_token_type {
    LIR_TOKEN_TYPE_UNDEFINED = 0, LIR_TOKEN_TYPE_NORMAL = 1, LIR_TOKEN_TYPE_UNKNOWN = 2,
    LIR_TOKEN_TYPE_CONTROL = 3, LIR_TOKEN_TYPE_USER_DEFINED = 4, LIR_TOKEN_TYPE_UNUSED = 5,
    LIR_TOKEN_TYPE_BYTE = 6
};

/* Everything a vocabulary is built from. Pointers are borrowed for the call only.
 * Ids left at LIR_VOCAB_ID_DEFAULT take the tokenizer model's default (llama.cpp's);
 * flags left at -1 likewise. */
#define LIR_VOCAB_ID_DEFAULT (-2)
struct lir_vocab_desc {
    const char *model;            /* "llama" | "gpt2" | "bert" */
    const char *pre;              /* tokenizer.ggml.pre; NULL or "" = "default" */
    int64_t n_tokens;
    const lir_gguf_str *tokens;   /* n_tokens strings (need not be NUL-terminated) */
    const float *scores;          /* n_tokens or NULL (all 0) */
    const int32_t *types;         /* n_tokens enum lir_token_type, or NULL (all normal) */
    int64_t n_merges;
    const lir_gguf_str *merges;   /* "left right" strings, rank = index */
    int32_t bos, eos, eot, eom, unk, sep, pad; /* LIR_VOCAB_ID_DEFAULT, -1 (none) or an id */
    int add_bos, add_eos, add_space_prefix;    /* -1 = model default, else 0/1 */
    int lowercase;                /* WPM: -1 default (true) */
};
/* A desc with every id LIR_VOCAB_ID_DEFAULT and every flag -1. */
struct lir_vocab_desc lir_vocab_desc_default(void);

typedef struct lir_vocab lir_vocab;

/* Builds a vocabulary. Returns LIR_OK, LIR_EINVAL/LIR_EFORMAT (bad or inconsistent data:
 * the message names it), LIR_EUNSUPPORTED (unknown model or pre-tokenizer: the message
 * names the value), LIR_ENOMEM. */
enum lir_status lir_vocab_build(const struct lir_vocab_desc *d, lir_vocab **out, lir_err *e);
/* Reads tokenizer.ggml.* from an open GGUF and builds the vocabulary. Returns as above, and
 * LIR_ENOTFOUND when the file has no tokenizer.ggml.model / tokens. */
enum lir_status lir_vocab_load_gguf(const lir_gguf *g, lir_vocab **out, lir_err *e);
void lir_vocab_free(lir_vocab *v);

enum lir_vocab_type lir_vocab_type(const lir_vocab *v);
int32_t lir__vocab_n_tokens(const lir_vocab *v);
int32_t lir__vocab_bos(const lir_vocab *v);  /* -1 when none */
int32_t lir__vocab_eos(const lir_vocab *v);
int32_t lir__vocab_eot(const lir_vocab *v);
int32_t lir__vocab_unk(const lir_vocab *v);
bool lir__vocab_add_bos(const lir_vocab *v);
bool lir__vocab_add_space_prefix(const lir_vocab *v);
/* End of generation: eos, eot, eom and the tokens llama.cpp recognizes by text. */
bool lir__vocab_is_eog(const lir_vocab *v, int32_t id);
/* Control or unknown (hidden unless special pieces are requested). */
bool lir_vocab_is_special(const lir_vocab *v, int32_t id);
/* Token text as stored in the vocabulary (borrowed, valid while v lives), or NULL. */
const char *lir_vocab_token_text(const lir_vocab *v, int32_t id, size_t *len);
/* Id of exactly this text, or -1. */
int32_t lir_vocab_find(const lir_vocab *v, const char *text, size_t len);

/* Tokenizes len bytes of text (any bytes). *out is malloc'd (free it), *n_out its count.
 * add_special: BOS/EOS per the vocabulary's add_bos/add_eos (SEP/CLS for WPM).
 * Returns LIR_OK, LIR_ENOMEM, LIR_EINTERNAL (regex engine failure, message says which). */
enum lir_status lir_vocab_tokenize(const lir_vocab *v, const char *text, size_t len, bool add_special,
                                   bool parse_special, int32_t **out, size_t *n_out, lir_err *e);

/* The bytes token id stands for: ▁ shown as ' ', byte tokens as their byte, byte-level BPE
 * decoded. Control/unknown tokens give their text when special is set, else nothing.
 * *len receives the length. Returns a pointer valid while v lives, or NULL for a bad id. */
const char *lir_vocab_piece(const lir_vocab *v, int32_t id, bool special, size_t *len);

/* ---- streaming detokenizer: emits only complete UTF-8 sequences ---- */
struct lir_detok;
typedef struct lir_detok lir_detok;
/* strip_leading_space: drop one ' ' at the start of the first piece (what llama.cpp does for
 * add_space_prefix vocabularies when the sequence is decoded without its BOS). */
lir_detok *lir__detok_create(const lir_vocab *v, bool show_special, bool strip_leading_space);
void lir__detok_free(lir_detok *d);
/* Appends token's piece; text/len receive the newly completed UTF-8 (possibly empty), valid
 * until the next call on d. Invalid byte sequences come out as U+FFFD. */
enum lir_status lir__detok_push(lir_detok *d, int32_t id, const char **text, size_t *len);
/* Emits what is held back (an incomplete sequence at the end comes out as U+FFFD). */
enum lir_status lir__detok_flush(lir_detok *d, const char **text, size_t *len);

#endif /* LIR_TOKENIZER_H */
