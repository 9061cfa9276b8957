/* test_licence.c — the licence provider: licences signed here with libsodium directly (keys from
 * fixed seeds, base64 by libsodium's encoder, not lir's), loaded against configured public keys
 * and a clock the test sets. A valid licence gives its tier; a tampered payload or signature, a
 * wrong key, an expired or not-yet-valid licence, malformed base64/JSON/fields and unknown names
 * each give a clear error naming what is wrong and a handle at the lowest tier (Core). */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "lir.h"
#include "licence/licence.h"

/* 2026-06-01T00:00:00Z */
#define JUNE_2026 INT64_C(1780272000)
static int64_t now_s;
static int64_t fake_clock(void *user) {
    cr_assert_eq(user, &now_s, "the clock gets its user pointer");
    return now_s;
}

typedef struct {
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    char pk64[64];
} keypair;
static keypair K1, K2, K3; /* K1, K2: configured; K3: another issuer */

static void make_key(keypair *k, unsigned char seed_byte) {
    unsigned char seed[crypto_sign_SEEDBYTES];
    memset(seed, seed_byte, sizeof seed);
    cr_assert_eq(crypto_sign_seed_keypair(k->pk, k->sk, seed), 0);
    sodium_bin2base64(k->pk64, sizeof k->pk64, k->pk, sizeof k->pk, sodium_base64_VARIANT_ORIGINAL);
}

static void setup(void) {
    cr_assert(sodium_init() >= 0);
    make_key(&K1, 1), make_key(&K2, 2), make_key(&K3, 3);
    now_s = JUNE_2026;
}

static char *b64(const void *p, size_t n) {
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *s = malloc(cap);
    sodium_bin2base64(s, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
    return s;
}

/* A licence file's text: envelope over payload signed by k (or with the given signature). */
static char *envelope(const char *payload64, const char *sig64) {
    size_t n = strlen(payload64) + strlen(sig64) + 128;
    char *s = malloc(n);
    snprintf(s, n, "{\"lir_licence\": 1, \"payload\": \"%s\", \"signature\": \"%s\"}", payload64, sig64);
    return s;
}

static char *sign_with(const keypair *k, const char *payload) {
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, (const unsigned char *)payload, strlen(payload), k->sk);
    char *p64 = b64(payload, strlen(payload)), *s64 = b64(sig, sizeof sig);
    char *out = envelope(p64, s64);
    free(p64), free(s64);
    return out;
}

static const char *KEYS[] = { NULL, NULL };
static struct lir_licence_params params(int n_keys) {
    KEYS[0] = K1.pk64, KEYS[1] = K2.pk64;
    struct lir_licence_params p = lir_licence_params_default();
    p.public_keys = KEYS, p.n_public_keys = n_keys, p.clock = fake_clock, p.clock_user = &now_s;
    return p;
}

static const char *TEAMS_2026 = "{\"licensee\": \"Acme Ltd\", \"tier\": \"Teams\", \"issued\": \"2026-01-01T00:00:00Z\", "
                                "\"expires\": \"2027-01-01T00:00:00Z\", \"id\": \"L-42\"}";

/* Loads text and expects a rejection with status want, a message containing what, and a
 * lowest-tier handle that reports the same and names the problem in its refusals. */
static void expect_rejected(const char *text, size_t len, const struct lir_licence_params *p, enum lir_status want,
                            const char *what) {
    lir_licence *lic = NULL;
    char err[512];
    enum lir_status s = lir_licence_load_memory(text, len, p, &lic, err, sizeof err);
    cr_expect_eq(s, want, "status %s, expected %s (%s)", lir_status_name(s), lir_status_name(want), err);
    cr_expect(strstr(err, what), "error \"%s\" should say \"%s\"", err, what);
    cr_assert_not_null(lic, "a rejected licence still gives a handle");
    cr_expect_eq(lir_licence_tier(lic), LIR_TIER_CORE, "falls back to the lowest tier");
    char st[512];
    cr_expect_eq(lir_licence_status(lic, st, sizeof st), want);
    cr_expect_str_eq(st, err);
    char msg[1024];
    cr_expect_eq(lir_licence_check(lic, LIR_FEATURE_INFERENCE, msg, sizeof msg), LIR_ETIER);
    cr_expect(strstr(msg, "inference: not in the Core tier; needs the WriterPro tier or higher"), "%s", msg);
    cr_expect(strstr(msg, what), "the refusal says why the licence fell to Core: %s", msg);
    struct lir_tier_policy pol;
    lir_licence_policy(lic, &pol);
    cr_expect_eq(pol.tier, LIR_TIER_CORE);
    cr_expect_eq(pol.max_loaded_models, 0);
    lir_licence_free(lic);
}

static void expect_rejected_str(const char *text, enum lir_status want, const char *what) {
    struct lir_licence_params p = params(2);
    expect_rejected(text, strlen(text), &p, want, what);
}

/* A payload signed with K1 that must be rejected as malformed. */
static void expect_bad_payload(const char *payload, const char *what) {
    char *t = sign_with(&K1, payload);
    expect_rejected_str(t, LIR_EFORMAT, what);
    free(t);
}

TestSuite(licence_file, .init = setup);

/* ---------------------------------------------------------------- valid */

Test(licence_file, valid_licence_accepted) {
    char *t = sign_with(&K1, TEAMS_2026);
    struct lir_licence_params p = params(2);
    lir_licence *lic = NULL;
    char err[512] = "junk";
    cr_assert_eq(lir_licence_load_memory(t, strlen(t), &p, &lic, err, sizeof err), LIR_OK, "%s", err);
    cr_expect_str_eq(err, "");
    cr_expect_eq(lir_licence_tier(lic), LIR_TIER_TEAMS);
    cr_expect_eq(lir_licence_status(lic, err, sizeof err), LIR_OK);
    struct lir_licence_info info;
    lir_licence_get_info(lic, &info);
    cr_expect(info.from_file);
    cr_expect_eq(info.licensed_tier, LIR_TIER_TEAMS);
    cr_expect_str_eq(info.licensee, "Acme Ltd");
    cr_expect_eq(info.issued, INT64_C(1767225600));  /* 2026-01-01 */
    cr_expect_eq(info.expires, INT64_C(1798761600)); /* 2027-01-01 */
    cr_expect_str_eq(info.payload, TEAMS_2026);
    char msg[512];
    cr_expect_eq(lir_licence_check(lic, LIR_FEATURE_EMBEDDINGS, msg, sizeof msg), LIR_OK);
    cr_expect_eq(lir_licence_check(lic, LIR_FEATURE_CONTEXT_SNAPSHOTS, msg, sizeof msg), LIR_ETIER);
    cr_expect_str_eq(msg, "context snapshots: not in the Teams tier; needs the Enterprise tier or higher");
    lir_licence_free(lic);
    free(t);
}

Test(licence_file, second_configured_key_and_perpetual) {
    char *t = sign_with(&K2, "{\"licensee\": \"B\", \"tier\": \"enterprise\", \"issued\": \"2020-02-29T12:00:00Z\", "
                             "\"expires\": null}");
    struct lir_licence_params p = params(2);
    lir_licence *lic = NULL;
    char err[512];
    cr_assert_eq(lir_licence_load_memory(t, strlen(t), &p, &lic, err, sizeof err), LIR_OK, "%s", err);
    cr_expect_eq(lir_licence_tier(lic), LIR_TIER_ENTERPRISE);
    now_s = INT64_C(4102444800); /* 2100 */
    cr_expect_eq(lir_licence_tier(lic), LIR_TIER_ENTERPRISE, "perpetual");
    lir_licence_free(lic);
    free(t);
}

Test(licence_file, whitespace_in_base64_and_file_round_trip) {
    /* the envelope written by lir's own signer (what lir-licence sign writes), read from a file */
    char *text = NULL;
    cr_assert_eq(lir__licence_sign((const uint8_t *)TEAMS_2026, strlen(TEAMS_2026), K1.sk, &text), LIR_OK);
    char path[] = "/tmp/lir_licence_test_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct lir_licence_params p = params(1);
    lir_licence *lic = NULL;
    char err[512];
    cr_expect_eq(lir_licence_load_file(path, &p, &lic, err, sizeof err), LIR_OK, "%s", err);
    cr_expect_eq(lir_licence_tier(lic), LIR_TIER_TEAMS);
    lir_licence_free(lic);
    unlink(path);
    free(text);

    /* base64 broken over lines */
    char *sig = sign_with(&K1, TEAMS_2026);
    char *q = strstr(sig, "\"payload\": \"") + 12;
    size_t n = strlen(sig);
    char *wrapped = malloc(n + 8);
    size_t at = (size_t)(q - sig) + 8;
    memcpy(wrapped, sig, at);
    memcpy(wrapped + at, "\\n ", 3);
    memcpy(wrapped + at + 3, sig + at, n - at + 1);
    cr_expect_eq(lir_licence_load_memory(wrapped, strlen(wrapped), &p, &lic, err, sizeof err), LIR_OK, "%s", err);
    lir_licence_free(lic);
    free(wrapped), free(sig);
}

Test(licence_file, add_on_features) {
    char *t = sign_with(&K1, "{\"licensee\": \"C\", \"tier\": \"WriterPro\", \"issued\": \"2026-01-01T00:00:00Z\", "
                             "\"expires\": \"2027-01-01T00:00:00Z\", "
                             "\"features\": [\"embeddings\", \"concurrent_requests\"]}");
    struct lir_licence_params p = params(1);
    lir_licence *lic = NULL;
    char msg[512];
    cr_assert_eq(lir_licence_load_memory(t, strlen(t), &p, &lic, msg, sizeof msg), LIR_OK, "%s", msg);
    cr_expect_eq(lir_licence_tier(lic), LIR_TIER_WRITER_PRO);
    cr_expect_eq(lir_licence_check(lic, LIR_FEATURE_EMBEDDINGS, msg, sizeof msg), LIR_OK, "add-on");
    cr_expect_eq(lir_licence_check(lic, LIR_FEATURE_PROFILING, msg, sizeof msg), LIR_ETIER);
    cr_expect_eq(lir_licence_check_concurrent_requests(lic, 4, msg, sizeof msg), LIR_OK, "add-on lifts the limit");
    cr_expect_eq(lir_licence_check_loaded_models(lic, 2, msg, sizeof msg), LIR_ETIER, "not an add-on");
    lir_licence_free(lic);
    free(t);
}

/* ---------------------------------------------------------------- forged */

Test(licence_file, tampered_payload_byte) {
    /* sign the real payload, then ship one with a byte changed (Teams → Tea s) */
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, (const unsigned char *)TEAMS_2026, strlen(TEAMS_2026), K1.sk);
    for (size_t i = 0; i < strlen(TEAMS_2026); i += 7) {
        char *forged = strdup(TEAMS_2026);
        forged[i] ^= 0x01;
        char *p64 = b64(forged, strlen(forged)), *s64 = b64(sig, sizeof sig);
        char *t = envelope(p64, s64);
        expect_rejected_str(t, LIR_ELICENCE, "signature does not verify");
        free(t), free(p64), free(s64), free(forged);
    }
    /* a payload that claims a higher tier, with the signature of the real one */
    const char *upgraded = "{\"licensee\": \"Acme Ltd\", \"tier\": \"Enterprise\", \"issued\": "
                           "\"2026-01-01T00:00:00Z\", \"expires\": \"2027-01-01T00:00:00Z\", \"id\": \"L-42\"}";
    char *p64 = b64(upgraded, strlen(upgraded)), *s64 = b64(sig, sizeof sig);
    char *t = envelope(p64, s64);
    expect_rejected_str(t, LIR_ELICENCE, "forged, altered, or signed by another issuer");
    free(t), free(p64), free(s64);
}

Test(licence_file, tampered_signature) {
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, (const unsigned char *)TEAMS_2026, strlen(TEAMS_2026), K1.sk);
    for (size_t i = 0; i < sizeof sig; i += 9) {
        unsigned char bad[crypto_sign_BYTES];
        memcpy(bad, sig, sizeof bad);
        bad[i] ^= 0x80;
        char *p64 = b64(TEAMS_2026, strlen(TEAMS_2026)), *s64 = b64(bad, sizeof bad);
        char *t = envelope(p64, s64);
        expect_rejected_str(t, LIR_ELICENCE, "signature does not verify");
        free(t), free(p64), free(s64);
    }
}

Test(licence_file, wrong_key) {
    char *t = sign_with(&K3, TEAMS_2026);
    expect_rejected_str(t, LIR_ELICENCE, "any of the configured public keys");
    struct lir_licence_params p = params(1);
    expect_rejected(t, strlen(t), &p, LIR_ELICENCE, "with the configured public key");
    free(t);
}

Test(licence_file, no_or_bad_public_keys) {
    char *t = sign_with(&K1, TEAMS_2026);
    struct lir_licence_params p = params(0);
    expect_rejected(t, strlen(t), &p, LIR_ELICENCE, "no public keys configured");
    expect_rejected(t, strlen(t), NULL, LIR_ELICENCE, "no public keys configured");
    const char *bad[] = { K1.pk64, "AAAA" };
    p.public_keys = bad, p.n_public_keys = 2;
    /* K1 verifies first: the bad second key is never reached */
    lir_licence *lic = NULL;
    cr_expect_eq(lir_licence_load_memory(t, strlen(t), &p, &lic, NULL, 0), LIR_OK);
    lir_licence_free(lic);
    const char *bad2[] = { "not base64!", K1.pk64 };
    p.public_keys = bad2;
    expect_rejected(t, strlen(t), &p, LIR_ELICENCE, "public key 1 is not base64 of a 32-byte Ed25519 key");
    free(t);
}

/* ---------------------------------------------------------------- validity window */

Test(licence_file, expired) {
    char *t = sign_with(&K1, TEAMS_2026);
    now_s = INT64_C(1798761600); /* 2027-01-01T00:00:00Z: the first instant it is invalid */
    struct lir_licence_params p = params(1);
    lir_licence *lic = NULL;
    char err[512];
    cr_expect_eq(lir_licence_load_memory(t, strlen(t), &p, &lic, err, sizeof err), LIR_ELICENCE);
    cr_expect_str_eq(err, "licence: expired at 2027-01-01T00:00:00Z (now 2027-01-01T00:00:00Z)");
    cr_expect_eq(lir_licence_tier(lic), LIR_TIER_CORE);
    char msg[1024];
    cr_expect_eq(lir_licence_check(lic, LIR_FEATURE_EMBEDDINGS, msg, sizeof msg), LIR_ETIER);
    cr_expect_str_eq(msg, "embeddings: not in the Core tier; needs the Teams tier or higher "
                          "(licence: expired at 2027-01-01T00:00:00Z (now 2027-01-01T00:00:00Z))");
    struct lir_licence_info info;
    lir_licence_get_info(lic, &info);
    cr_expect_str_eq(info.licensee, "Acme Ltd", "what the expired licence said is still shown");
    lir_licence_free(lic);
    now_s = INT64_C(1798761599);
    cr_expect_eq(lir_licence_load_memory(t, strlen(t), &p, &lic, err, sizeof err), LIR_OK, "one second before");
    lir_licence_free(lic);
    free(t);
}

Test(licence_file, expires_while_running) {
    char *t = sign_with(&K1, TEAMS_2026);
    struct lir_licence_params p = params(1);
    lir_licence *lic = NULL;
    cr_assert_eq(lir_licence_load_memory(t, strlen(t), &p, &lic, NULL, 0), LIR_OK);
    cr_expect_eq(lir_licence_check(lic, LIR_FEATURE_EMBEDDINGS, NULL, 0), LIR_OK);
    now_s = INT64_C(1800000000); /* 2027-01-15 */
    cr_expect_eq(lir_licence_tier(lic), LIR_TIER_CORE);
    char msg[1024];
    cr_expect_eq(lir_licence_status(lic, msg, sizeof msg), LIR_ELICENCE);
    cr_expect(strstr(msg, "expired at 2027-01-01T00:00:00Z"), "%s", msg);
    cr_expect_eq(lir_licence_check(lic, LIR_FEATURE_EMBEDDINGS, msg, sizeof msg), LIR_ETIER);
    cr_expect(strstr(msg, "expired"), "%s", msg);
    lir_licence_free(lic);
    free(t);
}

Test(licence_file, not_yet_valid) {
    char *t = sign_with(&K1, TEAMS_2026);
    now_s = INT64_C(1767225599); /* 2025-12-31T23:59:59Z */
    struct lir_licence_params p = params(1);
    lir_licence *lic = NULL;
    char err[512];
    cr_expect_eq(lir_licence_load_memory(t, strlen(t), &p, &lic, err, sizeof err), LIR_ELICENCE);
    cr_expect(strstr(err, "not valid before 2026-01-01T00:00:00Z"), "%s", err);
    cr_expect_eq(lir_licence_tier(lic), LIR_TIER_CORE);
    now_s = INT64_C(1767225600);
    cr_expect_eq(lir_licence_tier(lic), LIR_TIER_TEAMS, "valid once the clock reaches its issued date");
    lir_licence_free(lic);
    free(t);
}

/* ---------------------------------------------------------------- malformed */

Test(licence_file, malformed_envelope) {
    expect_rejected_str("", LIR_EFORMAT, "not JSON");
    expect_rejected_str("lir licence v1", LIR_EFORMAT, "not JSON");
    expect_rejected_str("[1, 2]", LIR_EFORMAT, "not a JSON object");
    expect_rejected_str("{\"payload\": \"e30=\", \"signature\": \"e30=\"}", LIR_EFORMAT, "missing \"lir_licence\"");
    expect_rejected_str("{\"lir_licence\": 2, \"payload\": \"e30=\", \"signature\": \"e30=\"}", LIR_EFORMAT,
                        "\"lir_licence\" must be 1");
    expect_rejected_str("{\"lir_licence\": 1, \"signature\": \"e30=\"}", LIR_EFORMAT, "missing \"payload\"");
    expect_rejected_str("{\"lir_licence\": 1, \"payload\": \"e30=\"}", LIR_EFORMAT, "missing \"signature\"");
    expect_rejected_str("{\"lir_licence\": 1, \"payload\": 7, \"signature\": \"e30=\"}", LIR_EFORMAT,
                        "\"payload\" is not a string");
    expect_rejected_str("{\"lir_licence\": 1, \"lir_licence\": 1, \"payload\": \"e30=\", \"signature\": \"e30=\"}",
                        LIR_EFORMAT, "not JSON");
    /* a NUL inside the text ends nothing: it is not JSON */
    struct lir_licence_params p = params(1);
    expect_rejected("{\"lir_licence\"\0: 1}", 19, &p, LIR_EFORMAT, "not JSON");

    /* base64 */
    char *good = sign_with(&K1, TEAMS_2026);
    char *sigp = strstr(good, "\"signature\": \"") + 14;
    char s64[128];
    snprintf(s64, sizeof s64, "%.*s", (int)(strchr(sigp, '"') - sigp), sigp);
    static const char *bad_payloads[] = { "e30", "e3=0", "e30*", "e30==", "=e30", "e3@=" };
    for (size_t i = 0; i < sizeof bad_payloads / sizeof *bad_payloads; i++) {
        char *t = envelope(bad_payloads[i], s64);
        expect_rejected_str(t, LIR_EFORMAT, "\"payload\" is not valid base64");
        free(t);
    }
    char *t = envelope("e30=", "!!!!");
    expect_rejected_str(t, LIR_EFORMAT, "\"signature\" is not valid base64");
    free(t);
    unsigned char short_sig[63] = { 0 };
    char *ss = b64(short_sig, sizeof short_sig);
    t = envelope("e30=", ss);
    expect_rejected_str(t, LIR_EFORMAT, "\"signature\" has 63 bytes, an Ed25519 signature has 64");
    free(t), free(ss), free(good);

    /* too large */
    size_t big = 70 * 1024;
    char *huge = malloc(big + 1);
    memset(huge, ' ', big);
    huge[big] = '\0';
    expect_rejected_str(huge, LIR_EFORMAT, "more than the 65536 a licence may have");
    free(huge);
}

Test(licence_file, malformed_payload) {
    expect_bad_payload("Acme Ltd, Teams, 2027", "licence payload: not JSON");
    expect_bad_payload("[]", "licence payload: not a JSON object");
    expect_bad_payload("{\"tier\": \"Teams\", \"issued\": \"2026-01-01T00:00:00Z\", \"expires\": null}",
                       "missing \"licensee\"");
    expect_bad_payload("{\"licensee\": \"\", \"tier\": \"Teams\", \"issued\": \"2026-01-01T00:00:00Z\", "
                       "\"expires\": null}",
                       "\"licensee\" is empty");
    expect_bad_payload("{\"licensee\": 5, \"tier\": \"Teams\", \"issued\": \"2026-01-01T00:00:00Z\", "
                       "\"expires\": null}",
                       "\"licensee\" is not a string");
    expect_bad_payload("{\"licensee\": \"A\", \"issued\": \"2026-01-01T00:00:00Z\", \"expires\": null}",
                       "missing \"tier\"");
    expect_bad_payload("{\"licensee\": \"A\", \"tier\": \"Teams\", \"expires\": null}", "missing \"issued\"");
    expect_bad_payload("{\"licensee\": \"A\", \"tier\": \"Teams\", \"issued\": \"2026-01-01T00:00:00Z\"}",
                       "missing \"expires\"");
    expect_bad_payload("{\"licensee\": \"A\", \"tier\": \"Teams\", \"issued\": null, \"expires\": null}",
                       "\"issued\" must be a UTC date");
    static const char *bad_dates[] = { "2026-01-01", "2026-01-01T00:00:00+01:00", "2026-02-29T00:00:00Z",
                                       "2026-13-01T00:00:00Z", "2026-01-01T24:00:00Z", "1969-12-31T23:59:59Z",
                                       "2026-01-01t00:00:00z", "20260101T000000Z" };
    for (size_t i = 0; i < sizeof bad_dates / sizeof *bad_dates; i++) {
        char pl[256];
        snprintf(pl, sizeof pl, "{\"licensee\": \"A\", \"tier\": \"Teams\", \"issued\": \"2026-01-01T00:00:00Z\", "
                 "\"expires\": \"%s\"}", bad_dates[i]);
        expect_bad_payload(pl, "\"expires\" must be a UTC date like \"2026-01-31T00:00:00Z\" or null");
    }
    expect_bad_payload("{\"licensee\": \"A\", \"tier\": \"Teams\", \"issued\": \"2026-01-01T00:00:00Z\", "
                       "\"expires\": \"2025-01-01T00:00:00Z\"}",
                       "\"expires\" is not after \"issued\"");
    expect_bad_payload("{\"licensee\": \"A\", \"tier\": \"Gold\", \"issued\": \"2026-01-01T00:00:00Z\", "
                       "\"expires\": null}",
                       "unknown tier \"Gold\" (Core, WriterPro, Teams or Enterprise)");
    expect_bad_payload("{\"licensee\": \"A\", \"tier\": 3, \"issued\": \"2026-01-01T00:00:00Z\", \"expires\": null}",
                       "\"tier\" is not a string");
    expect_bad_payload("{\"licensee\": \"A\", \"tier\": \"Teams\", \"issued\": \"2026-01-01T00:00:00Z\", "
                       "\"expires\": null, \"features\": [\"profiling\", \"telepathy\"]}",
                       "features[1]: unknown feature \"telepathy\"");
    expect_bad_payload("{\"licensee\": \"A\", \"tier\": \"Teams\", \"issued\": \"2026-01-01T00:00:00Z\", "
                       "\"expires\": null, \"features\": \"profiling\"}",
                       "\"features\" is not an array");
}

Test(licence_file, unreadable_file) {
    struct lir_licence_params p = params(1);
    lir_licence *lic = NULL;
    char err[512];
    cr_expect_eq(lir_licence_load_file("/nonexistent/licence.json", &p, &lic, err, sizeof err), LIR_EIO);
    cr_expect(strstr(err, "cannot open /nonexistent/licence.json"), "%s", err);
    cr_assert_not_null(lic);
    cr_expect_eq(lir_licence_tier(lic), LIR_TIER_CORE);
    cr_expect_eq(lir_licence_status(lic, NULL, 0), LIR_EIO);
    lir_licence_free(lic);
}

Test(licence_file, bad_arguments) {
    lir_licence *lic = (lir_licence *)1;
    cr_expect_eq(lir_licence_load_memory(NULL, 0, NULL, &lic, NULL, 0), LIR_EINVAL);
    cr_expect_null(lic);
    cr_expect_eq(lir_licence_load_memory("{}", 2, NULL, NULL, NULL, 0), LIR_EINVAL);
    cr_expect_eq(lir_licence_load_file(NULL, NULL, &lic, NULL, 0), LIR_EINVAL);
    cr_expect_eq(lir_licence_tier(NULL), LIR_TIER_CORE);
    cr_expect_eq(lir_licence_status(NULL, NULL, 0), LIR_EINVAL);
    struct lir_licence_info info;
    lir_licence_get_info(NULL, &info);
    cr_expect_null(info.licensee);
}

Test(licence_file, static_licence) {
    lir_licence *lic = NULL;
    cr_assert_eq(lir_licence_create_static(LIR_TIER_DEFAULT, &lic), LIR_OK);
    cr_expect_eq(lir_licence_tier(lic), LIR_TIER_ENTERPRISE);
    cr_expect_eq(lir_licence_status(lic, NULL, 0), LIR_OK);
    struct lir_licence_info info;
    lir_licence_get_info(lic, &info);
    cr_expect(!info.from_file);
    cr_expect_eq(info.licensed_tier, LIR_TIER_ENTERPRISE);
    cr_expect_null(info.licensee);
    lir_licence_free(lic);
}

/* ---------------------------------------------------------------- parser pieces */

Test(licence_file, base64_against_libsodium) {
    unsigned char buf[70];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(i * 37 + 11);
    for (size_t n = 0; n <= sizeof buf; n++) {
        char *ref = b64(buf, n);
        char mine[128];
        lir__b64_encode(buf, n, mine);
        cr_expect_str_eq(mine, ref, "length %zu", n);
        uint8_t back[80];
        size_t m;
        cr_expect(lir__b64_decode(ref, strlen(ref), back, sizeof back, &m), "length %zu", n);
        cr_expect_eq(m, n);
        cr_expect(!memcmp(back, buf, n));
        free(ref);
    }
    uint8_t out[8];
    size_t m;
    cr_expect(!lir__b64_decode("QUJD", 4, out, 2, &m), "does not overflow its buffer");
    cr_expect(!lir__b64_decode("QR==", 4, out, sizeof out, &m), "non-canonical trailing bits");
    cr_expect(lir__b64_decode("QQ==", 4, out, sizeof out, &m) && m == 1 && out[0] == 'A');
}

Test(licence_file, dates) {
    int64_t t;
    cr_expect(lir__rfc3339_parse("1970-01-01T00:00:00Z", &t) && t == 0);
    cr_expect(lir__rfc3339_parse("2000-01-01T00:00:00Z", &t) && t == INT64_C(946684800));
    cr_expect(lir__rfc3339_parse("2024-02-29T23:59:59Z", &t) && t == INT64_C(1709251199));
    cr_expect(lir__rfc3339_parse("9999-12-31T23:59:59Z", &t) && t == INT64_C(253402300799));
    cr_expect(!lir__rfc3339_parse("2100-02-29T00:00:00Z", &t), "2100 is not a leap year");
    cr_expect(!lir__rfc3339_parse("2026-04-31T00:00:00Z", &t));
    cr_expect(!lir__rfc3339_parse("2026-01-01T00:00:60Z", &t), "no leap seconds");
    char buf[21];
    lir__rfc3339_format(INT64_C(1709251199), buf);
    cr_expect_str_eq(buf, "2024-02-29T23:59:59Z");
    lir__rfc3339_format(0, buf);
    cr_expect_str_eq(buf, "1970-01-01T00:00:00Z");
}
