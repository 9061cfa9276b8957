/* lir_licence.c — `lir-licence`: issue and check lir licence files (format: include/lir.h,
 * section "licences").
 *
 *   lir-licence keygen PREFIX
 *       Makes an Ed25519 key pair: PREFIX.pub (the public key, one line of base64: configure it
 *       in the runtime) and PREFIX.key (the secret key, base64, mode 0600: keep it off the
 *       machines that run lir). Never overwrites a file.
 *   lir-licence sign -k PREFIX.key [-o LICENCE] PAYLOAD.json
 *       Checks that the payload is a licence payload ({"licensee", "tier", "issued", "expires",
 *       "features"...}), signs its bytes exactly as they are and writes the licence file
 *       (standard output without -o; -o never overwrites).
 *   lir-licence verify -p KEY.pub [-p KEY.pub ...] [--now YYYY-MM-DDTHH:MM:SSZ] LICENCE
 *       Checks the licence against the public keys and the clock (now, or --now) as the
 *       runtime does, and prints what it says, the tier in force and the status.
 *
 * Example:
 *   lir-licence keygen acme-issuer
 *   echo '{"licensee": "Acme Ltd", "tier": "Teams", "issued": "2026-01-01T00:00:00Z",
 *          "expires": "2027-01-01T00:00:00Z"}' > acme.json
 *   lir-licence sign -k acme-issuer.key -o acme.lic acme.json
 *   lir-licence verify -p acme-issuer.pub acme.lic
 *
 * Exit 0 on success (verify: the licence is valid now), 1 on an error (verify: it is not),
 * 2 on bad usage. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "licence/licence.h"

static void usage(FILE *f) {
    fprintf(f, "usage: lir-licence keygen PREFIX\n"
               "       lir-licence sign -k PREFIX.key [-o LICENCE] PAYLOAD.json\n"
               "       lir-licence verify -p KEY.pub [-p KEY.pub ...] [--now YYYY-MM-DDTHH:MM:SSZ] LICENCE\n");
}

/* Reads a whole file (at most max bytes) into a NUL-terminated buffer; NULL with a message. */
static char *read_all(const char *path, size_t max, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "lir-licence: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(max + 2);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    bool bad = !buf || ferror(f);
    fclose(f);
    if (bad || n > max) {
        fprintf(stderr, "lir-licence: cannot read %s%s\n", path, n > max ? ": too large" : "");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Writes len bytes to a new file (never overwrites) with the given mode. */
static bool write_new(const char *path, const char *data, size_t len, mode_t mode) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0) {
        fprintf(stderr, "lir-licence: cannot create %s: %s\n", path, strerror(errno));
        return false;
    }
    bool ok = write(fd, data, len) == (ssize_t)len;
    ok = close(fd) == 0 && ok;
    if (!ok) fprintf(stderr, "lir-licence: cannot write %s\n", path);
    return ok;
}

/* A key file: its first line, base64 of want bytes. */
static bool read_key(const char *path, uint8_t *out, size_t want) {
    size_t len;
    char *text = read_all(path, 4096, &len);
    if (!text) return false;
    text[strcspn(text, "\r\n")] = '\0';
    bool ok = lir__licence_key_decode(text, out, want);
    sodium_memzero(text, len);
    free(text);
    if (!ok) fprintf(stderr, "lir-licence: %s: not base64 of a %zu-byte Ed25519 key\n", path, want);
    return ok;
}

static int cmd_keygen(int argc, char **argv) {
    if (argc != 1) {
        usage(stderr);
        return 2;
    }
    uint8_t pk[LIR__ED25519_PK_BYTES], sk[LIR__ED25519_SK_BYTES];
    crypto_sign_keypair(pk, sk);
    char pk64[64], sk64[128], path[4096];
    size_t n = lir__b64_encode(pk, sizeof pk, pk64);
    pk64[n++] = '\n';
    size_t m = lir__b64_encode(sk, sizeof sk, sk64);
    sk64[m++] = '\n';
    sodium_memzero(sk, sizeof sk);
    snprintf(path, sizeof path, "%s.key", argv[0]);
    bool ok = write_new(path, sk64, m, 0600);
    sodium_memzero(sk64, sizeof sk64);
    if (!ok) return 1;
    snprintf(path, sizeof path, "%s.pub", argv[0]);
    if (!write_new(path, pk64, n, 0644)) return 1;
    fprintf(stderr, "lir-licence: wrote %s.key (secret) and %s.pub (public key %.*s)\n", argv[0], argv[0],
            (int)(n - 1), pk64);
    return 0;
}

static int cmd_sign(int argc, char **argv) {
    const char *key = NULL, *out = NULL, *payload_path = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-k") && i + 1 < argc) key = argv[++i];
        else if (!strcmp(argv[i], "-o") && i + 1 < argc) out = argv[++i];
        else if (argv[i][0] != '-' && !payload_path) payload_path = argv[i];
        else {
            usage(stderr);
            return 2;
        }
    }
    if (!key || !payload_path) {
        usage(stderr);
        return 2;
    }
    size_t len;
    char *payload = read_all(payload_path, LIR__LICENCE_MAX_BYTES / 2, &len);
    if (!payload) return 1;
    lir_err e = { "" };
    lir__licence_payload pl;
    if (lir__licence_payload_parse((const uint8_t *)payload, len, &pl, &e) != LIR_OK) {
        fprintf(stderr, "lir-licence: %s: %s\n", payload_path, e.msg);
        free(payload);
        return 1;
    }
    lir__licence_payload_clear(&pl);
    uint8_t sk[LIR__ED25519_SK_BYTES];
    if (!lir__sodium_ready() || !read_key(key, sk, sizeof sk)) {
        free(payload);
        return 1;
    }
    char *text = NULL;
    enum lir_status s = lir__licence_sign((const uint8_t *)payload, len, sk, &text);
    sodium_memzero(sk, sizeof sk);
    free(payload);
    if (s != LIR_OK) {
        fprintf(stderr, "lir-licence: signing failed: %s\n", lir_status_str(s));
        return 1;
    }
    bool ok = out ? write_new(out, text, strlen(text), 0644) : fputs(text, stdout) >= 0;
    free(text);
    return ok ? 0 : 1;
}

static int64_t fixed_clock(void *user) { return *(const int64_t *)user; }

static int cmd_verify(int argc, char **argv) {
    enum { MAX_KEYS = 16 };
    char *keys[MAX_KEYS];
    int n_keys = 0;
    const char *path = NULL, *now_s = NULL;
    int rc = 2;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-p") && i + 1 < argc && n_keys < MAX_KEYS) {
            uint8_t pk[LIR__ED25519_PK_BYTES];
            if (!read_key(argv[++i], pk, sizeof pk)) {
                rc = 1;
                goto done;
            }
            keys[n_keys] = malloc(64);
            lir__b64_encode(pk, sizeof pk, keys[n_keys++]);
        } else if (!strcmp(argv[i], "--now") && i + 1 < argc) {
            now_s = argv[++i];
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else {
            usage(stderr);
            goto done;
        }
    }
    if (!path || n_keys == 0) {
        usage(stderr);
        goto done;
    }
    struct lir_licence_params p = lir_licence_params_default();
    p.public_keys = (const char *const *)keys, p.n_public_keys = n_keys;
    int64_t now = 0;
    if (now_s) {
        if (!lir__rfc3339_parse(now_s, &now)) {
            fprintf(stderr, "lir-licence: --now %s: not a date like 2026-01-31T00:00:00Z\n", now_s);
            goto done;
        }
        p.clock = fixed_clock, p.clock_user = &now;
    }
    lir_licence *lic = NULL;
    char err[LIR_ERR_MAX];
    enum lir_status s = lir_licence_load_file(path, &p, &lic, err, sizeof err);
    if (!lic) {
        fprintf(stderr, "lir-licence: %s\n", lir_status_str(s));
        rc = 1;
        goto done;
    }
    struct lir_licence_info info;
    lir_licence_get_info(lic, &info);
    char a[21], b[21];
    if (info.licensee) {
        lir__rfc3339_format(info.issued, a);
        if (info.expires) lir__rfc3339_format(info.expires, b);
        printf("licensee: %s\ntier:     %s\nissued:   %s\nexpires:  %s\nfeatures:", info.licensee,
               lir_tier_str(info.licensed_tier), a, info.expires ? b : "never");
        int nf = 0;
        for (int f = 0; f < LIR_FEATURE_COUNT; f++)
            if (info.features[f]) printf("%s %s", nf++ ? "," : "", lir_feature_str((enum lir_feature)f));
        printf("%s\n", nf ? "" : " none (the tier's)");
    }
    if (info.payload) { /* as signed, less trailing whitespace */
        size_t n = strlen(info.payload);
        while (n && strchr(" \t\r\n", info.payload[n - 1])) n--;
        printf("payload:  %.*s\n", (int)n, info.payload);
    }
    printf("in force: %s\nstatus:   %s%s%s\n", lir_tier_str(lir_licence_tier(lic)),
           s == LIR_OK ? "valid" : lir_status_name(s), s == LIR_OK ? "" : ": ", s == LIR_OK ? "" : err);
    lir_licence_free(lic);
    rc = s == LIR_OK ? 0 : 1;
done:
    for (int i = 0; i < n_keys; i++) free(keys[i]);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(stdout);
        return 0;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "lir-licence: libsodium failed to start\n");
        return 1;
    }
    if (!strcmp(argv[1], "keygen")) return cmd_keygen(argc - 2, argv + 2);
    if (!strcmp(argv[1], "sign")) return cmd_sign(argc - 2, argv + 2);
    if (!strcmp(argv[1], "verify")) return cmd_verify(argc - 2, argv + 2);
    usage(stderr);
    return 2;
}
