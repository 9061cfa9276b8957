/* licence_parse.c — the licence file's parsers: tier and feature names, base64, UTC dates,
 * the JSON envelope {lir_licence, payload, signature} and the payload {licensee, tier, issued,
 * expires, features}. Every input here is untrusted (the envelope before its signature is checked);
 * nothing here does crypto, so fuzz/fuzz_licence.c links this file alone. Format: lir.h. */
#include "licence/licence.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- names (tiers, features) */

const char *lir_tier_str(enum lir_tier t) {
    switch (t) {
#define X(name, str) case LIR_TIER_##name: return str;
        LIR_TIER_MAP(X)
#undef X
    case LIR_TIER_COUNT: break;
    }
    return "unknown";
}

enum lir_status lir_tier_parse(const char *s, enum lir_tier *out) {
    if (!s || !out) return LIR_EINVAL;
#define X(name, str) if (!strcasecmp(s, str)) { *out = LIR_TIER_##name; return LIR_OK; }
    LIR_TIER_MAP(X)
#undef X
    return LIR_EINVAL;
}

const char *lir_feature_str(enum lir_feature f) {
    switch (f) {
#define X(name, str, label) case LIR_FEATURE_##name: return str;
        LIR_FEATURE_MAP(X)
#undef X
    case LIR_FEATURE_COUNT: break;
    }
    return "unknown";
}

enum lir_status lir_feature_parse(const char *s, enum lir_feature *out) {
    if (!s || !out) return LIR_EINVAL;
#define X(name, str, label) if (!strcmp(s, str)) { *out = LIR_FEATURE_##name; return LIR_OK; }
    LIR_FEATURE_MAP(X)
#undef X
    return LIR_EINVAL;
}

/* ---------------------------------------------------------------- base64 */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

static bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool lir__b64_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *n_out) {
    uint32_t acc = 0;
    int nq = 0;        /* characters in the current quantum */
    int pad = 0;       /* '=' seen */
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (is_space(c)) continue;
        if (c == '=') {
            /* padding only completes a quantum of 2 or 3 characters, at the very end */
            if (nq + pad < 2) return false;
            pad++;
            if (nq + pad > 4) return false;
            continue;
        }
        if (pad) return false;
        int v = b64_value(c);
        if (v < 0) return false;
        acc = acc << 6 | (uint32_t)v;
        if (++nq == 4) {
            if (n + 3 > cap) return false;
            out[n++] = (uint8_t)(acc >> 16), out[n++] = (uint8_t)(acc >> 8), out[n++] = (uint8_t)acc;
            acc = 0, nq = 0;
        }
    }
    if (pad) {
        if (nq + pad != 4) return false;
        if (nq == 2) {
            if (acc & 0xf) return false; /* non-canonical: stray bits */
            if (n + 1 > cap) return false;
            out[n++] = (uint8_t)(acc >> 4);
        } else { /* nq == 3 */
            if (acc & 0x3) return false;
            if (n + 2 > cap) return false;
            out[n++] = (uint8_t)(acc >> 10), out[n++] = (uint8_t)(acc >> 2);
        }
    } else if (nq != 0) {
        return false; /* padding is required */
    }
    *n_out = n;
    return true;
}

size_t lir__b64_encode(const uint8_t *in, size_t n, char *out) {
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = B64[v >> 18], out[o++] = B64[(v >> 12) & 63], out[o++] = B64[(v >> 6) & 63], out[o++] = B64[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = B64[v >> 18], out[o++] = B64[(v >> 12) & 63], out[o++] = '=', out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = B64[v >> 18], out[o++] = B64[(v >> 12) & 63], out[o++] = B64[(v >> 6) & 63], out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

/* ---------------------------------------------------------------- dates */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool digits(const char *s, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

bool lir__rfc3339_parse(const char *s, int64_t *out) {
    /* YYYY-MM-DDTHH:MM:SSZ: 20 characters exactly */
    if (!s || strlen(s) != 20) return false;
    int y, mo, d, h, mi, se;
    if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' || !digits(s + 8, 2, &d) ||
        s[10] != 'T' || !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
        !digits(s + 17, 2, &se) || s[19] != 'Z')
        return false;
    static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 59) return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap) return false;
    *out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    return true;
}

void lir__rfc3339_format(int64_t t, char buf[21]) {
    int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
    int64_t secs = t - days * 86400;
    /* civil_from_days (Hinnant) */
    int64_t z = days + 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const int64_t doe = z - era * 146097;
    const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const int64_t mp = (5 * doy + 2) / 153;
    const int64_t d = doy - (153 * mp + 2) / 5 + 1;
    const int64_t m = mp + (mp < 10 ? 3 : -9);
    y += m <= 2;
    if (y < 0 || y > 9999) {
        snprintf(buf, 21, "(out of range)");
        return;
    }
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02dZ", (int)y, (int)m, (int)d, (int)(secs / 3600),
             (int)(secs / 60 % 60), (int)(secs % 60));
    memcpy(buf, tmp, 21); /* always 20 characters in range */
    buf[20] = '\0';
}

/* ---------------------------------------------------------------- envelope */

void lir__licence_envelope_clear(lir__licence_envelope *env) {
    if (!env) return;
    free(env->payload);
    memset(env, 0, sizeof *env);
}

/* A required string member of a JSON object, or NULL with the error in e. */
static const char *get_string(json_t *obj, const char *what, const char *key, lir_err *e) {
    json_t *v = json_object_get(obj, key);
    if (!v) {
        lir__errf(e, LIR_EFORMAT, "%s: missing \"%s\"", what, key);
        return NULL;
    }
    if (!json_is_string(v)) {
        lir__errf(e, LIR_EFORMAT, "%s: \"%s\" is not a string", what, key);
        return NULL;
    }
    return json_string_value(v);
}

enum lir_status lir__licence_envelope_parse(const char *data, size_t len, lir__licence_envelope *env, lir_err *e) {
    memset(env, 0, sizeof *env);
    if (len > LIR__LICENCE_MAX_BYTES)
        return lir__errf(e, LIR_EFORMAT, "licence: %zu bytes, more than the %u a licence may have", len,
                         LIR__LICENCE_MAX_BYTES);
    json_error_t je;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) return lir__errf(e, LIR_EFORMAT, "licence: not JSON: line %d: %s", je.line, je.text);
    enum lir_status s = LIR_EFORMAT;
    if (!json_is_object(root)) {
        lir__errf(e, s, "licence: not a JSON object");
        goto done;
    }
    json_t *ver = json_object_get(root, "lir_licence");
    if (!ver) {
        lir__errf(e, s, "licence: missing \"lir_licence\" (format version)");
        goto done;
    }
    if (!json_is_integer(ver) || json_integer_value(ver) != 1) {
        lir__errf(e, s, "licence: \"lir_licence\" must be 1 (the only format version)");
        goto done;
    }
    const char *p64 = get_string(root, "licence", "payload", e);
    if (!p64) goto done;
    const char *s64 = get_string(root, "licence", "signature", e);
    if (!s64) goto done;

    size_t plen = strlen(p64), n;
    env->payload = malloc(lir__b64_max_decoded(plen) + 1);
    if (!env->payload) {
        s = lir__errf(e, LIR_ENOMEM, "licence: out of memory");
        goto done;
    }
    if (!lir__b64_decode(p64, plen, env->payload, lir__b64_max_decoded(plen), &n)) {
        lir__errf(e, s, "licence: \"payload\" is not valid base64");
        goto done;
    }
    env->payload[n] = '\0';
    env->payload_len = n;
    uint8_t sig[LIR__ED25519_SIG_BYTES + 3];
    if (!lir__b64_decode(s64, strlen(s64), sig, sizeof sig, &n)) {
        /* also too long: more than 66 bytes do not fit */
        lir__errf(e, s, "licence: \"signature\" is not valid base64 of %d bytes", LIR__ED25519_SIG_BYTES);
        goto done;
    }
    if (n != LIR__ED25519_SIG_BYTES) {
        lir__errf(e, s, "licence: \"signature\" has %zu bytes, an Ed25519 signature has %d", n,
                  LIR__ED25519_SIG_BYTES);
        goto done;
    }
    memcpy(env->signature, sig, sizeof env->signature);
    s = LIR_OK;
done:
    json_decref(root);
    if (s != LIR_OK) lir__licence_envelope_clear(env);
    return s;
}

/* ---------------------------------------------------------------- payload */

void lir__licence_payload_clear(lir__licence_payload *pl) {
    if (!pl) return;
    free(pl->licensee);
    memset(pl, 0, sizeof *pl);
}

static enum lir_status get_date(json_t *obj, const char *key, bool nullable, int64_t *out, lir_err *e) {
    json_t *v = json_object_get(obj, key);
    if (!v) return lir__errf(e, LIR_EFORMAT, "licence payload: missing \"%s\"", key);
    if (nullable && json_is_null(v)) {
        *out = 0;
        return LIR_OK;
    }
    if (!json_is_string(v) || !lir__rfc3339_parse(json_string_value(v), out))
        return lir__errf(e, LIR_EFORMAT, "licence payload: \"%s\" must be a UTC date like \"2026-01-31T00:00:00Z\"%s",
                         key, nullable ? " or null" : "");
    return LIR_OK;
}

enum lir_status lir__licence_payload_parse(const uint8_t *data, size_t len, lir__licence_payload *pl, lir_err *e) {
    memset(pl, 0, sizeof *pl);
    json_error_t je;
    json_t *root = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) return lir__errf(e, LIR_EFORMAT, "licence payload: not JSON: line %d: %s", je.line, je.text);
    enum lir_status s = LIR_EFORMAT;
    if (!json_is_object(root)) {
        lir__errf(e, s, "licence payload: not a JSON object");
        goto done;
    }
    const char *who = get_string(root, "licence payload", "licensee", e);
    if (!who) goto done;
    if (!who[0]) {
        lir__errf(e, s, "licence payload: \"licensee\" is empty");
        goto done;
    }
    const char *tier = get_string(root, "licence payload", "tier", e);
    if (!tier) goto done;
    if (lir_tier_parse(tier, &pl->tier) != LIR_OK) {
        lir__errf(e, s, "licence payload: unknown tier \"%.64s\" (Core, WriterPro, Teams or Enterprise)", tier);
        goto done;
    }
    if ((s = get_date(root, "issued", false, &pl->issued, e)) != LIR_OK) goto done;
    if ((s = get_date(root, "expires", true, &pl->expires, e)) != LIR_OK) goto done;
    s = LIR_EFORMAT;
    if (pl->expires && pl->expires <= pl->issued) {
        lir__errf(e, s, "licence payload: \"expires\" is not after \"issued\"");
        goto done;
    }
    json_t *feats = json_object_get(root, "features");
    if (feats && !json_is_null(feats)) {
        if (!json_is_array(feats)) {
            lir__errf(e, s, "licence payload: \"features\" is not an array");
            goto done;
        }
        size_t i;
        json_t *f;
        json_array_foreach(feats, i, f) {
            enum lir_feature id;
            if (!json_is_string(f) || lir_feature_parse(json_string_value(f), &id) != LIR_OK) {
                lir__errf(e, s, "licence payload: features[%zu]: unknown feature \"%.64s\"", i,
                          json_is_string(f) ? json_string_value(f) : "(not a string)");
                goto done;
            }
            pl->features[id] = true;
        }
    }
    pl->licensee = strdup(who);
    if (!pl->licensee) {
        s = lir__errf(e, LIR_ENOMEM, "licence payload: out of memory");
        goto done;
    }
    s = LIR_OK;
done:
    json_decref(root);
    if (s != LIR_OK) lir__licence_payload_clear(pl);
    return s;
}
