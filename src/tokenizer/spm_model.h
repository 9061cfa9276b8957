/* spm_model.h — reads a SentencePiece .model file (a serialized sentencepiece.ModelProto) into
 * the arrays that GGUF's tokenizer.ggml.* keys hold. Used by lir-vocab and lir-convert.
 *
 * Only the fields a GGUF vocabulary needs are read: each piece's text, score and type
 * (SentencePiece's piece types have the same values as GGUF token types), the trainer's
 * model type and unk/bos/eos/pad ids, and the normalizer's add_dummy_prefix. The file is
 * untrusted: every protobuf length is checked against the bytes left, and nothing is
 * allocated in proportion to a count before the pieces have been counted in the data. */
#ifndef LIR_SPM_MODEL_H
#define LIR_SPM_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util/util.h"

enum lir_spm_model_type { LIR_SPM_UNIGRAM = 1, LIR_SPM_BPE = 2, LIR_SPM_WORD = 3, LIR_SPM_CHAR = 4 };

struct lir_spm_model {
    int64_t n;               /* number of pieces */
    char **tok;              /* (n) NUL-terminated piece texts, owned */
    float *score;            /* (n) */
    int32_t *type;           /* (n) enum lir_token_type values (NORMAL when the file omits it) */
    int model_type;          /* enum lir_spm_model_type (UNIGRAM when the file omits it) */
    int64_t unk, bos, eos, pad; /* -1: none (or out of range) */
    bool add_space_prefix;   /* the normalizer's add_dummy_prefix */
};

/* Parses size bytes at data (borrowed for the call) into *m. On success *m owns its arrays
 * (free with lir_spm_model_free). Returns LIR_OK, LIR_EFORMAT (message says what is wrong)
 * or LIR_ENOMEM; on error *m holds nothing to free. */
enum lir_status lir_spm_model_parse(const void *data, size_t size, struct lir_spm_model *m, lir_err *e);
/* Reads and parses the file at path (at most 1 GiB). Adds LIR_EIO to the statuses above. */
enum lir_status lir_spm_model_read(const char *path, struct lir_spm_model *m, lir_err *e);
/* Frees what *m owns and zeroes it; NULL and a zeroed struct are fine. */
void lir_spm_model_free(struct lir_spm_model *m);

#endif /* LIR_SPM_MODEL_H */
