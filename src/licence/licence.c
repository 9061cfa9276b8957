/* licence.c — the licence provider: a static tier from configuration, or a licence file whose
 * Ed25519 signature (libsodium) is checked against configured public keys, and whose validity
 * window is checked against a clock at load and at every query, so a licence that expires while
 * the runtime runs falls to the lowest tier then. Any licence problem leaves a handle at the
 * lowest tier that remembers why. Contract and file format: include/lir.h, "licences". */
#include "licence/licence.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct lir_licence {
    bool from_file;
    enum lir_tier tier;               /* the static tier, or the payload's */
    bool features[LIR_FEATURE_COUNT]; /* the payload's add-ons */
    int64_t issued, expires;          /* unix seconds; expires 0 = perpetual (file only) */
    char *licensee;                   /* owned; NULL unless the signature verified */
    char *payload;                    /* owned; NULL unless the signature verified */
    enum lir_status load_status;      /* LIR_OK, or why the handle is at the lowest tier for good */
    char load_msg[LIR_ERR_MAX];
    int64_t (*clock)(void *user);
    void *clock_user;
};

/* ---------------------------------------------------------------- helpers */

bool lir__sodium_ready(void) {
    /* sodium_init is thread-safe and idempotent: 0 first time, 1 afterwards, -1 on failure */
    return sodium_init() >= 0;
}

bool lir__licence_key_decode(const char *b64, uint8_t *out, size_t want) {
    uint8_t buf[LIR__ED25519_SK_BYTES + 3];
    size_t n;
    if (!b64 || want > LIR__ED25519_SK_BYTES) return false;
    if (!lir__b64_decode(b64, strlen(b64), buf, want + 3 > sizeof buf ? sizeof buf : want + 3, &n) || n != want) {
        sodium_memzero(buf, sizeof buf);
        return false;
    }
    memcpy(out, buf, want);
    sodium_memzero(buf, sizeof buf);
    return true;
}

enum lir_status lir__licence_sign(const uint8_t *payload, size_t len, const uint8_t sk[LIR__ED25519_SK_BYTES],
                                  char **out) {
    *out = NULL;
    if (!lir__sodium_ready()) return LIR_EINTERNAL;
    if (len > LIR__LICENCE_MAX_BYTES) return LIR_ERANGE;
    uint8_t sig[LIR__ED25519_SIG_BYTES];
    if (crypto_sign_detached(sig, NULL, payload, len, sk) != 0) return LIR_EINTERNAL;
    char sig64[LIR__ED25519_SIG_BYTES / 3 * 4 + 8];
    lir__b64_encode(sig, sizeof sig, sig64);
    char *p64 = malloc((len + 2) / 3 * 4 + 1);
    if (!p64) return LIR_ENOMEM;
    lir__b64_encode(payload, len, p64);
    const char *fmt = "{\n  \"lir_licence\": 1,\n  \"payload\": \"%s\",\n  \"signature\": \"%s\"\n}\n";
    size_t n = strlen(fmt) + strlen(p64) + strlen(sig64) + 1;
    char *s = malloc(n);
    if (!s) {
        free(p64);
        return LIR_ENOMEM;
    }
    snprintf(s, n, fmt, p64, sig64);
    free(p64);
    *out = s;
    return LIR_OK;
}

static int64_t system_clock(void *user) {
    (void)user;
    return (int64_t)time(NULL);
}

static int64_t now_of(const lir_licence *lic) { return lic->clock ? lic->clock(lic->clock_user) : system_clock(NULL); }

/* The handle's state now: load_status, or the validity window against the clock. */
static enum lir_status state_now(const lir_licence *lic, char *msg, size_t n) {
    if (msg && n) msg[0] = '\0';
    if (lic->load_status != LIR_OK) {
        if (msg && n) snprintf(msg, n, "%s", lic->load_msg);
        return lic->load_status;
    }
    if (!lic->from_file) return LIR_OK;
    int64_t now = now_of(lic);
    char a[21], b[21];
    if (now < lic->issued) {
        lir__rfc3339_format(lic->issued, a), lir__rfc3339_format(now, b);
        if (msg && n) snprintf(msg, n, "licence: not valid before %s (issued date; now %s)", a, b);
        return LIR_ELICENCE;
    }
    if (lic->expires && now >= lic->expires) {
        lir__rfc3339_format(lic->expires, a), lir__rfc3339_format(now, b);
        if (msg && n) snprintf(msg, n, "licence: expired at %s (now %s)", a, b);
        return LIR_ELICENCE;
    }
    return LIR_OK;
}

/* ---------------------------------------------------------------- creation */

struct lir_licence_params lir_licence_params_default(void) {
    return (struct lir_licence_params){ .public_keys = NULL, .n_public_keys = 0, .clock = NULL, .clock_user = NULL };
}

enum lir_status lir_licence_create_static(enum lir_tier tier, lir_licence **out) {
    if (!out) return LIR_EINVAL;
    *out = NULL;
    if ((unsigned)tier >= LIR_TIER_COUNT) return LIR_EINVAL;
    lir_licence *lic = calloc(1, sizeof *lic);
    if (!lic) return LIR_ENOMEM;
    lic->tier = tier;
    *out = lic;
    return LIR_OK;
}

/* Records a licence problem: the handle stays, at the lowest tier. */
static enum lir_status reject(lir_licence *lic, lir_err *e, enum lir_status s) {
    lic->load_status = s;
    snprintf(lic->load_msg, sizeof lic->load_msg, "%s", e->msg);
    lic->tier = LIR_TIER_LOWEST;
    memset(lic->features, 0, sizeof lic->features);
    return s;
}

static enum lir_status load(lir_licence *lic, const char *data, size_t len, const struct lir_licence_params *p,
                            lir_err *e) {
    if (!lir__sodium_ready()) return reject(lic, e, lir__errf(e, LIR_EINTERNAL, "licence: libsodium failed to start"));
    lir__licence_envelope env;
    enum lir_status s = lir__licence_envelope_parse(data, len, &env, e);
    if (s == LIR_ENOMEM) return s;
    if (s != LIR_OK) return reject(lic, e, s);

    /* The signature first: nothing of the payload is believed (or parsed) before it verifies. */
    bool verified = false;
    if (p->n_public_keys <= 0 || !p->public_keys) {
        s = lir__errf(e, LIR_ELICENCE, "licence: no public keys configured to check its signature against");
        goto out;
    }
    for (int32_t i = 0; i < p->n_public_keys && !verified; i++) {
        uint8_t pk[LIR__ED25519_PK_BYTES];
        if (!lir__licence_key_decode(p->public_keys[i], pk, sizeof pk)) {
            s = lir__errf(e, LIR_ELICENCE, "licence: public key %d is not base64 of a %d-byte Ed25519 key", i + 1,
                          LIR__ED25519_PK_BYTES);
            goto out;
        }
        verified = crypto_sign_verify_detached(env.signature, env.payload, env.payload_len, pk) == 0;
    }
    if (!verified) {
        s = lir__errf(e, LIR_ELICENCE,
                      "licence: signature does not verify with %s configured public key%s (forged, altered, or "
                      "signed by another issuer)",
                      p->n_public_keys == 1 ? "the" : "any of the", p->n_public_keys == 1 ? "" : "s");
        goto out;
    }
    lic->payload = strdup((const char *)env.payload); /* a NUL inside ends it: JSON would reject it anyway */
    if (!lic->payload) {
        s = LIR_ENOMEM;
        goto out;
    }
    lir__licence_payload pl;
    s = lir__licence_payload_parse(env.payload, env.payload_len, &pl, e);
    if (s != LIR_OK) goto out;
    lic->tier = pl.tier;
    memcpy(lic->features, pl.features, sizeof lic->features);
    lic->issued = pl.issued;
    lic->expires = pl.expires;
    lic->licensee = pl.licensee; /* takes it */
    pl.licensee = NULL;
    /* The validity window is the clock's business at every call; at load it is also the result. */
    s = state_now(lic, e->msg, sizeof e->msg);
out:
    lir__licence_envelope_clear(&env);
    if (s == LIR_OK || s == LIR_ENOMEM) return s;
    if (s == LIR_ELICENCE && lic->licensee) return s; /* outside its window: state_now decides */
    return reject(lic, e, s);
}

enum lir_status lir_licence_load_memory(const char *data, size_t len, const struct lir_licence_params *p,
                                        lir_licence **out, char *err, size_t err_len) {
    if (err && err_len) err[0] = '\0';
    if (!out) return LIR_EINVAL;
    *out = NULL;
    if (!data) return LIR_EINVAL;
    const struct lir_licence_params d = lir_licence_params_default();
    if (!p) p = &d;
    lir_licence *lic = calloc(1, sizeof *lic);
    if (!lic) return LIR_ENOMEM;
    lic->from_file = true;
    lic->clock = p->clock;
    lic->clock_user = p->clock_user;
    lir_err e = { "" };
    enum lir_status s = load(lic, data, len, p, &e);
    if (s == LIR_ENOMEM) {
        lir_licence_free(lic);
        return s;
    }
    lir__err_copy(&e, err, err_len);
    *out = lic;
    return s;
}

enum lir_status lir_licence_load_file(const char *path, const struct lir_licence_params *p, lir_licence **out,
                                      char *err, size_t err_len) {
    if (err && err_len) err[0] = '\0';
    if (!out) return LIR_EINVAL;
    *out = NULL;
    if (!path) return LIR_EINVAL;
    lir_err e = { "" };
    enum lir_status s;
    FILE *f = fopen(path, "rb");
    if (!f) {
        s = lir__errf(&e, LIR_EIO, "licence: cannot open %s: %s", path, strerror(errno));
        goto fallback;
    }
    char *buf = malloc(LIR__LICENCE_MAX_BYTES + 1);
    if (!buf) {
        fclose(f);
        return LIR_ENOMEM;
    }
    size_t n = fread(buf, 1, LIR__LICENCE_MAX_BYTES + 1, f);
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        s = lir__errf(&e, LIR_EIO, "licence: cannot read %s", path);
        goto fallback;
    }
    s = lir_licence_load_memory(buf, n, p, out, err, err_len);
    free(buf);
    return s;
fallback:;
    /* the same lowest-tier handle a bad licence gives */
    lir_licence *lic = calloc(1, sizeof *lic);
    if (!lic) return LIR_ENOMEM;
    lic->from_file = true;
    reject(lic, &e, s);
    lir__err_copy(&e, err, err_len);
    *out = lic;
    return s;
}

void lir_licence_free(lir_licence *lic) {
    if (!lic) return;
    free(lic->licensee);
    free(lic->payload);
    free(lic);
}

/* ---------------------------------------------------------------- queries */

enum lir_tier lir_licence_tier(const lir_licence *lic) {
    if (!lic || state_now(lic, NULL, 0) != LIR_OK) return LIR_TIER_LOWEST;
    return lic->tier;
}

enum lir_status lir_licence_status(const lir_licence *lic, char *msg, size_t msg_len) {
    if (!lic) {
        if (msg && msg_len) msg[0] = '\0';
        return LIR_EINVAL;
    }
    return state_now(lic, msg, msg_len);
}

void lir_licence_policy(const lir_licence *lic, struct lir_tier_policy *out) {
    if (!out) return;
    if (!lic || state_now(lic, NULL, 0) != LIR_OK) {
        *out = *lir__tier_row(LIR_TIER_LOWEST);
        return;
    }
    *out = *lir__tier_row(lic->tier);
    /* An add-on lifts its feature (and limit) to the row of the lowest tier that has it. */
    for (int f = 0; f < LIR_FEATURE_COUNT; f++) {
        if (!lic->features[f]) continue;
        const struct lir_tier_policy *row = lir__tier_row(lir_feature_min_tier((enum lir_feature)f));
        out->features[f] = true;
        if (f == LIR_FEATURE_MULTIPLE_MODELS || f == LIR_FEATURE_INFERENCE)
            if (row->max_loaded_models > out->max_loaded_models) out->max_loaded_models = row->max_loaded_models;
        if (f == LIR_FEATURE_CONCURRENT_REQUESTS || f == LIR_FEATURE_INFERENCE)
            if (row->max_concurrent_requests > out->max_concurrent_requests)
                out->max_concurrent_requests = row->max_concurrent_requests;
    }
}

void lir_licence_get_info(const lir_licence *lic, struct lir_licence_info *out) {
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!lic) return;
    out->from_file = lic->from_file;
    out->licensed_tier = lic->tier;
    out->licensee = lic->licensee;
    out->issued = lic->issued;
    out->expires = lic->expires;
    out->payload = lic->payload;
    memcpy(out->features, lic->features, sizeof out->features);
}
