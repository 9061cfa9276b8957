/* fuzz_snapshot.c — libFuzzer target for snapshot files (src/context/snapshot_format.c) and the
 * sampler state blob they carry (lir_sampler_state_load). Each input is checked as a whole file
 * with and without the checksum (mutated inputs rarely keep a valid checksum, so the unchecked
 * parse is what reaches the field checks); an accepted file must describe exactly its own bytes.
 * A stored sampler state is loaded into a sampler of the default parameters (vocabularies up to
 * 4096), which must either take it or refuse it; the input's bytes are also tried as a bare
 * sampler state. Seeds: fuzz/seed_snapshot/ (valid files, made by a script mirroring the format). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "context/snapshot.h"

static void try_sampler(const uint8_t *blob, size_t len, int32_t n_vocab) {
    struct lir_sampling_params p = lir_sampling_params_default();
    lir_sampler *s = NULL;
    if (lir_sampler_create(&p, n_vocab, &s, NULL, 0) != LIR_OK) return;
    if (lir_sampler_state_load(s, blob, len) == LIR_OK) {
        /* a loaded state must round-trip */
        size_t n = 0;
        lir_sampler_state_save(s, NULL, 0, &n);
        uint8_t *b = malloc(n);
        if (b && lir_sampler_state_save(s, b, n, &n) == LIR_OK && (n != len || memcmp(b, blob, n) != 0)) abort();
        free(b);
        float l[8] = { 0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f };
        lir_token t;
        if (n_vocab == 8 && lir_sampler_sample(s, l, 8, &t, NULL, NULL, NULL) == LIR_OK && (t < 0 || t >= 8)) abort();
    }
    lir_sampler_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct lir__snap_view v;
    lir_err e;
    for (int verify = 0; verify < 2; verify++) {
        if (lir__snap_parse(data, size, verify, 1 + verify, &v, &e) != LIR_OK) {
            if (!e.msg[0]) abort(); /* every refusal says why */
            continue;
        }
        const struct lir_snapshot_info *in = &v.info;
        if (in->size_bytes != size || in->n_tokens < 0 || in->n_tokens > in->n_ctx) abort();
        if ((size_t)(v.kv - data) + in->kv_bytes + LIR_SNAP_SUM != size) abort();
        if (v.n_blocks != ((uint64_t)in->n_tokens + v.block_tokens - 1) / v.block_tokens ||
            in->kv_bytes != v.n_blocks * v.block_bytes || v.block_bytes != (uint64_t)v.block_tokens * v.token_bytes)
            abort();
        if (v.prefix_len % LIR_SNAP_ALIGN != 0) abort();
        for (const uint8_t *z = v.sampler ? v.sampler + v.sampler_len : NULL; z && z < v.kv; z++)
            if (*z) abort(); /* the padding is zero */
        if (strlen(in->name) >= LIR_SNAPSHOT_NAME_MAX) abort();
        for (int32_t i = 0; i < in->n_tokens; i++) {
            const int32_t t = (int32_t)lir__get_u32(v.tokens + 4 * (size_t)i);
            if (t < 0 || t >= in->n_vocab) abort();
        }
        if (!verify && v.sampler && in->n_vocab <= 4096) try_sampler(v.sampler, v.sampler_len, in->n_vocab);
    }
    try_sampler(data, size, 8);
    return 0;
}
