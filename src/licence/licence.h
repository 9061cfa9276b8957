/* licence.h — internal interface of the licence component: the policy table (policy.c), the
 * licence-file parser (licence_parse.c: envelope, base64, payload, dates; no crypto, so the
 * fuzz target can link it alone) and the provider (licence.c: Ed25519 via libsodium, clock).
 * The public API and the file format are documented in include/lir.h, section "licences". */
#ifndef LIR_LICENCE_H
#define LIR_LICENCE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "lir.h"
#include "util/util.h"

#define LIR__LICENCE_MAX_BYTES (64u * 1024u) /* a licence file larger than this is malformed */
#define LIR__ED25519_PK_BYTES 32
#define LIR__ED25519_SK_BYTES 64
#define LIR__ED25519_SIG_BYTES 64

/* ---------------------------------------------------------------- policy (policy.c) */

/* The table's row for t; NULL for an unknown tier. Static storage. */
const struct lir_tier_policy *lir__tier_row(enum lir_tier t);
/* Label of a feature for messages ("advanced resource management"); "unknown" otherwise. */
const char *lir__feature_label(enum lir_feature f);
/* The comma-separated basic parameters ("temperature, top_p, max_tokens, stop"). Static. */
const char *lir__basic_params_list(void);

/* ---------------------------------------------------------------- parsing (licence_parse.c) */

/* Standard base64 (with padding; ASCII whitespace ignored) → bytes. out has room for cap
 * bytes; *n_out receives the count. false on a bad character, bad padding or overflow. */
bool lir__b64_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *n_out);
/* bytes → standard base64 with padding, NUL-terminated; out needs 4*ceil(n/3)+1 bytes.
 * Returns the length written (without the NUL). */
size_t lir__b64_encode(const uint8_t *in, size_t n, char *out);
/* Decoded size upper bound for len base64 characters. */
static inline size_t lir__b64_max_decoded(size_t len) { return len / 4 * 3 + 3; }

/* "YYYY-MM-DDTHH:MM:SSZ" (UTC, exactly that shape) → unix seconds. false when malformed or
 * out of range (years 1970..9999, real calendar days, no leap seconds). */
bool lir__rfc3339_parse(const char *s, int64_t *out);
/* unix seconds → "YYYY-MM-DDTHH:MM:SSZ" into buf (>= 21 bytes). */
void lir__rfc3339_format(int64_t t, char buf[21]);

/* The envelope of a licence file: the payload bytes and the signature, decoded. */
typedef struct lir__licence_envelope {
    uint8_t *payload;  /* payload_len bytes + a NUL; free with lir__licence_envelope_clear */
    size_t payload_len;
    uint8_t signature[LIR__ED25519_SIG_BYTES];
} lir__licence_envelope;

/* Parses a licence file's bytes (any bytes; at most LIR__LICENCE_MAX_BYTES). On error returns
 * LIR_EFORMAT (or LIR_ENOMEM) with "what is wrong" in e, and env holds nothing. */
enum lir_status lir__licence_envelope_parse(const char *data, size_t len, lir__licence_envelope *env, lir_err *e);
void lir__licence_envelope_clear(lir__licence_envelope *env);

/* What a payload says. */
typedef struct lir__licence_payload {
    char *licensee;    /* malloc'd, NUL-terminated; free with lir__licence_payload_clear */
    enum lir_tier tier;
    int64_t issued;    /* unix seconds */
    int64_t expires;   /* unix seconds; 0 = perpetual */
    bool features[LIR_FEATURE_COUNT]; /* add-ons */
} lir__licence_payload;

/* Parses payload JSON bytes (any bytes). LIR_EFORMAT (naming the field) or LIR_ENOMEM on error,
 * and pl holds nothing then. */
enum lir_status lir__licence_payload_parse(const uint8_t *data, size_t len, lir__licence_payload *pl, lir_err *e);
void lir__licence_payload_clear(lir__licence_payload *pl);

/* ---------------------------------------------------------------- signing (licence.c) */

/* Calls sodium_init once. false when libsodium cannot start. */
bool lir__sodium_ready(void);
/* Ed25519 keys in base64 (as .pub/.key files hold them): decode, checking the size. */
bool lir__licence_key_decode(const char *b64, uint8_t *out, size_t want);
/* Signs payload (len bytes) with sk and writes a licence file's text (malloc'd, NUL-terminated)
 * to *out. LIR_OK, LIR_ENOMEM, LIR_EINTERNAL. */
enum lir_status lir__licence_sign(const uint8_t *payload, size_t len, const uint8_t sk[LIR__ED25519_SK_BYTES],
                                  char **out);

#endif /* LIR_LICENCE_H */
