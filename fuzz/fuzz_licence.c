/* fuzz_licence.c — libFuzzer target for the licence-file parsers (src/licence/licence_parse.c):
 * everything a licence file's bytes reach before and after its Ed25519 signature is checked.
 * Signature verification itself is libsodium's and never passes on fuzzed bytes, so the
 * payload parser is fed directly, as if its signature had verified.
 *
 * Each input goes to:
 *   - lir__licence_envelope_parse (the whole file): LIR_OK with a 64-byte signature and a
 *     NUL-terminated payload of the reported length, or an error with a non-empty message;
 *   - lir__licence_payload_parse (the bytes as a payload): LIR_OK with a non-empty licensee,
 *     a known tier and expires 0 or after issued, or an error with a non-empty message;
 *   - lir__b64_decode: whatever decodes re-encodes to the input less its whitespace
 *     (canonical base64 only);
 *   - lir__rfc3339_parse (the bytes as a C string): whatever parses formats back to itself.
 * Leaks, memory errors (ASan) and undefined behaviour (UBSan) are findings too.
 * The fuzz library (CMakeLists.txt, LIR_FUZZ) holds licence_parse.c: it needs only jansson and
 * src/util, nothing of libsodium. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "licence/licence.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > LIR__LICENCE_MAX_BYTES + 16) return 0;

    lir_err e = { "" };
    lir__licence_envelope env;
    enum lir_status s = lir__licence_envelope_parse((const char *)data, size, &env, &e);
    if (s == LIR_OK) {
        if (!env.payload || env.payload[env.payload_len] != '\0') abort();
        lir__licence_envelope_clear(&env);
    } else if (!e.msg[0] || env.payload) {
        abort();
    }

    e.msg[0] = '\0';
    lir__licence_payload pl;
    s = lir__licence_payload_parse(data, size, &pl, &e);
    if (s == LIR_OK) {
        if (!pl.licensee || !pl.licensee[0] || (unsigned)pl.tier >= LIR_TIER_COUNT) abort();
        if (pl.expires && pl.expires <= pl.issued) abort();
        lir__licence_payload_clear(&pl);
    } else if (!e.msg[0] || pl.licensee) {
        abort();
    }

    /* base64: decode, re-encode, compare with the input less whitespace */
    size_t cap = lir__b64_max_decoded(size);
    uint8_t *bin = malloc(cap ? cap : 1);
    char *txt = malloc(size + 8), *stripped = malloc(size + 1);
    size_t n, m = 0;
    if (bin && txt && stripped && lir__b64_decode((const char *)data, size, bin, cap, &n)) {
        for (size_t i = 0; i < size; i++)
            if (!strchr(" \t\r\n", data[i]) || !data[i]) stripped[m++] = (char)data[i];
        stripped[m] = '\0';
        size_t k = lir__b64_encode(bin, n, txt);
        if (k != m || memcmp(txt, stripped, m) != 0) abort();
    }
    free(bin), free(txt), free(stripped);

    /* dates: parse, format, compare */
    char *str = malloc(size + 1);
    if (str) {
        memcpy(str, data, size);
        str[size] = '\0';
        int64_t t;
        if (lir__rfc3339_parse(str, &t)) {
            char back[21];
            lir__rfc3339_format(t, back);
            if (strcmp(back, str) != 0) abort();
        }
        free(str);
    }
    return 0;
}
