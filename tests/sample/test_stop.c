/* test_stop.c — lir_stop_matcher: stop strings split across chunks, a partial prefix that
 * then diverges, overlapping stops, UTF-8 held whole, flush, reset, bad input. */
#include <criterion/criterion.h>
#include <string.h>
#include "lir.h"

/* Feeds chunks (NULL-terminated list) and collects what is emitted, flushing at the end
 * unless a stop matched. Returns the index matched or -1. */
static int run(const char *const *stops, int n_stops, const char *const *chunks, char *out, size_t cap) {
    lir_stop_matcher *m = NULL;
    cr_assert_eq(lir_stop_matcher_create(stops, n_stops, &m), LIR_OK);
    size_t len = 0;
    int matched = -1;
    for (int i = 0; chunks[i]; i++) {
        const char *e;
        size_t el;
        int32_t mi;
        cr_assert_eq(lir_stop_matcher_push(m, chunks[i], strlen(chunks[i]), &e, &el, &mi), LIR_OK);
        cr_assert(len + el < cap);
        memcpy(out + len, e, el);
        len += el;
        if (mi >= 0) {
            cr_assert_eq(matched, -1, "a second match after the first");
            matched = mi;
            cr_assert(lir_stop_matcher_done(m));
        }
    }
    const char *e;
    size_t el;
    cr_assert_eq(lir_stop_matcher_flush(m, &e, &el), LIR_OK);
    if (matched >= 0) cr_assert_eq(el, 0, "nothing held after a match");
    memcpy(out + len, e, el);
    len += el;
    out[len] = 0;
    lir_stop_matcher_free(m);
    return matched;
}

#define CHUNKS(...) ((const char *const[]){ __VA_ARGS__, NULL })

Test(sample_stop, no_stops_passes_everything) {
    char out[256];
    cr_assert_eq(run(NULL, 0, CHUNKS("Hello", ", ", "world"), out, sizeof out), -1);
    cr_assert_str_eq(out, "Hello, world");
}

Test(sample_stop, stop_inside_one_chunk) {
    const char *s[] = { "</s>" };
    char out[256];
    cr_assert_eq(run(s, 1, CHUNKS("abc</s>def", "more"), out, sizeof out), 0);
    cr_assert_str_eq(out, "abc");
}

Test(sample_stop, stop_split_across_chunks_is_never_shown) {
    const char *s[] = { "</s>" };
    lir_stop_matcher *m;
    cr_assert_eq(lir_stop_matcher_create(s, 1, &m), LIR_OK);
    const char *e;
    size_t n;
    int32_t mi;
    lir_stop_matcher_push(m, "Hi<", 3, &e, &n, &mi);
    cr_assert_eq(n, 2);
    cr_assert(!memcmp(e, "Hi", 2), "only the part that cannot start a stop");
    lir_stop_matcher_push(m, "/", 1, &e, &n, &mi);
    cr_assert_eq(n, 0);
    lir_stop_matcher_push(m, "s", 1, &e, &n, &mi);
    cr_assert_eq(n, 0);
    cr_assert_eq(mi, -1);
    lir_stop_matcher_push(m, ">tail", 5, &e, &n, &mi);
    cr_assert_eq(n, 0);
    cr_assert_eq(mi, 0);
    lir_stop_matcher_push(m, "after", 5, &e, &n, &mi);
    cr_assert_eq(n, 0, "done: nothing more");
    cr_assert_eq(mi, -1);
    lir_stop_matcher_reset(m);
    cr_assert(!lir_stop_matcher_done(m));
    lir_stop_matcher_push(m, "x</s", 4, &e, &n, &mi);
    cr_assert_eq(n, 1);
    cr_assert_eq(*e, 'x');
    lir_stop_matcher_free(m);
}

Test(sample_stop, partial_prefix_then_divergence) {
    const char *s[] = { "</s>" };
    char out[256];
    cr_assert_eq(run(s, 1, CHUNKS("a</", "x> b <", "/s", "!"), out, sizeof out), -1);
    cr_assert_str_eq(out, "a</x> b </s!");
    /* held at the very end is flushed */
    cr_assert_eq(run(s, 1, CHUNKS("end </s"), out, sizeof out), -1);
    cr_assert_str_eq(out, "end </s");
}

Test(sample_stop, self_overlapping_prefix) {
    /* "aab" in "aaab" fed byte by byte: the first 'a' is safe once a third 'a' arrives */
    const char *s[] = { "aab" };
    char out[256];
    cr_assert_eq(run(s, 1, CHUNKS("a", "a", "a", "b", "c"), out, sizeof out), 0);
    cr_assert_str_eq(out, "a");
    cr_assert_eq(run(s, 1, CHUNKS("a", "a", "a", "c"), out, sizeof out), -1);
    cr_assert_str_eq(out, "aaac");
}

Test(sample_stop, overlapping_stops_earliest_start_wins) {
    const char *s[] = { "bcd", "abc" };
    char out[256];
    /* both complete in one push: "abc" starts first */
    cr_assert_eq(run(s, 2, CHUNKS("xabcd"), out, sizeof out), 1);
    cr_assert_str_eq(out, "x");
    /* split: "abc" completes first (when "c" arrives) */
    cr_assert_eq(run(s, 2, CHUNKS("xa", "bc", "d"), out, sizeof out), 1);
    cr_assert_str_eq(out, "x");
    /* a stop that contains another: "b" completes as soon as it arrives */
    const char *t[] = { "abc", "b" };
    cr_assert_eq(run(t, 2, CHUNKS("xa", "b", "c"), out, sizeof out), 1);
    cr_assert_str_eq(out, "xa");
    /* same start: the lower index */
    const char *u[] = { "ab", "abc" };
    cr_assert_eq(run(u, 2, CHUNKS("zabc"), out, sizeof out), 0);
    cr_assert_str_eq(out, "z");
}

Test(sample_stop, utf8_stop_split_inside_a_character) {
    const char *s[] = { "\xc3\xa9t\xc3\xa9" }; /* "été" */
    char out[256];
    cr_assert_eq(run(s, 1, CHUNKS("un \xc3", "\xa9t\xc3", "\xa9 chaud"), out, sizeof out), 0);
    cr_assert_str_eq(out, "un ");
    /* prefix "é" then divergence: the whole text comes out */
    cr_assert_eq(run(s, 1, CHUNKS("caf\xc3", "\xa9", "!"), out, sizeof out), -1);
    cr_assert_str_eq(out, "caf\xc3\xa9!");
}

Test(sample_stop, utf8_characters_are_held_whole) {
    const char *s[] = { "STOP" };
    lir_stop_matcher *m;
    cr_assert_eq(lir_stop_matcher_create(s, 1, &m), LIR_OK);
    const char *e;
    size_t n;
    int32_t mi;
    lir_stop_matcher_push(m, "1\xe2\x82", 3, &e, &n, &mi); /* "1" + 2/3 of "€" */
    cr_assert_eq(n, 1);
    lir_stop_matcher_push(m, "\xac", 1, &e, &n, &mi);
    cr_assert_eq(n, 3);
    cr_assert(!memcmp(e, "\xe2\x82\xac", 3));
    lir_stop_matcher_push(m, "\xf0\x9f", 2, &e, &n, &mi); /* half an emoji */
    cr_assert_eq(n, 0);
    lir_stop_matcher_push(m, "\x98\x80S", 3, &e, &n, &mi); /* rest of it, then a stop prefix */
    cr_assert_eq(n, 4);
    cr_assert(!memcmp(e, "\xf0\x9f\x98\x80", 4));
    lir_stop_matcher_push(m, "TOP", 3, &e, &n, &mi);
    cr_assert_eq(mi, 0);
    cr_assert_eq(n, 0);
    lir_stop_matcher_free(m);
    /* an incomplete character at the very end comes out at flush, as it is */
    char out[64];
    cr_assert_eq(run(s, 1, CHUNKS("x\xe2\x82"), out, sizeof out), -1);
    cr_assert_str_eq(out, "x\xe2\x82");
}

Test(sample_stop, long_stream_with_holdbacks) {
    /* 10000 chunks that keep starting the stop string without finishing it, then the stop */
    const char *s[] = { "<|end|>" };
    lir_stop_matcher *m;
    cr_assert_eq(lir_stop_matcher_create(s, 1, &m), LIR_OK);
    size_t total = 0;
    const char *e;
    size_t n;
    int32_t mi;
    for (int i = 0; i < 10000; i++) {
        lir_stop_matcher_push(m, "<|en", 4, &e, &n, &mi);
        total += n;
        lir_stop_matcher_push(m, "x", 1, &e, &n, &mi);
        total += n;
    }
    cr_assert_eq(total, 50000);
    lir_stop_matcher_push(m, "<|end", 5, &e, &n, &mi);
    cr_assert_eq(n, 0);
    lir_stop_matcher_push(m, "|>", 2, &e, &n, &mi);
    cr_assert_eq(mi, 0);
    lir_stop_matcher_free(m);
}

Test(sample_stop, bad_input) {
    lir_stop_matcher *m = (lir_stop_matcher *)1;
    const char *empty[] = { "" };
    cr_assert_eq(lir_stop_matcher_create(empty, 1, &m), LIR_EINVAL);
    cr_assert_null(m);
    cr_assert_eq(lir_stop_matcher_create(NULL, 1, &m), LIR_EINVAL);
    const char *s[] = { "a" };
    cr_assert_eq(lir_stop_matcher_create(s, LIR_STOP_MAX + 1, &m), LIR_ERANGE);
    cr_assert_eq(lir_stop_matcher_create(s, 1, NULL), LIR_EINVAL);
    cr_assert_eq(lir_stop_matcher_create(s, 1, &m), LIR_OK);
    const char *e;
    size_t n;
    cr_assert_eq(lir_stop_matcher_push(m, NULL, 3, &e, &n, NULL), LIR_EINVAL);
    cr_assert_eq(lir_stop_matcher_push(m, NULL, 0, &e, &n, NULL), LIR_OK);
    cr_assert_eq(n, 0);
    cr_assert_eq(lir_stop_matcher_flush(m, &e, &n), LIR_OK);
    cr_assert_eq(n, 0);
    lir_stop_matcher_free(m);
    lir_stop_matcher_free(NULL);
}

/* Brute force: with chunk ends at ends[0..n_ends), the text is cut at the first chunk end E
 * where some stop occurs inside text[0..E), at the earliest start of one (lower index on ties);
 * the bytes shown must be exactly text[0..cut), whatever the chunking. */
static size_t reference_cut(const char *text, const size_t *ends, int n_ends, const char *const *stops, int n_stops,
                            int *which) {
    for (int c = 0; c < n_ends; c++) {
        size_t best = SIZE_MAX;
        for (int i = 0; i < n_stops; i++) {
            const char *hit = memmem(text, ends[c], stops[i], strlen(stops[i]));
            if (hit && (size_t)(hit - text) < best) best = (size_t)(hit - text), *which = i;
        }
        if (best != SIZE_MAX) return best;
    }
    *which = -1;
    return ends[n_ends - 1];
}

Test(sample_stop, random_texts_and_chunkings_against_brute_force) {
    uint64_t x = 12345;
    for (int trial = 0; trial < 3000; trial++) {
        char text[64], stopbuf[3][6];
        const char *stops[3];
        const size_t len = 1 + (x = x * 6364136223846793005ull + 1442695040888963407ull) % 40;
        for (size_t i = 0; i < len; i++) text[i] = "abc"[(x = x * 6364136223846793005ull + 1) >> 62 & 1 ? 2 : (x >> 40) % 2];
        text[len] = 0;
        const int n_stops = 1 + (int)((x >> 33) % 3);
        for (int i = 0; i < n_stops; i++) {
            size_t sl = 1 + (x = x * 6364136223846793005ull + 7) % 4 + (trial % 7 == 0);
            for (size_t j = 0; j < sl; j++) stopbuf[i][j] = "abc"[(x = x * 6364136223846793005ull + 3) >> 61 & 1 ? 1 : (x >> 50) % 3];
            stopbuf[i][sl] = 0;
            stops[i] = stopbuf[i];
        }
        size_t ends[64];
        int n_ends = 0;
        for (size_t at = 0; at < len;) {
            size_t step = 1 + (x = x * 6364136223846793005ull + 11) % 5;
            at = at + step > len ? len : at + step;
            ends[n_ends++] = at;
        }
        int want_idx;
        const size_t cut = reference_cut(text, ends, n_ends, stops, n_stops, &want_idx);

        lir_stop_matcher *m;
        cr_assert_eq(lir_stop_matcher_create(stops, n_stops, &m), LIR_OK);
        char out[128];
        size_t olen = 0, prev = 0;
        int got_idx = -1;
        for (int c = 0; c < n_ends; c++) {
            const char *e;
            size_t el;
            int32_t mi;
            lir_stop_matcher_push(m, text + prev, ends[c] - prev, &e, &el, &mi);
            memcpy(out + olen, e, el);
            olen += el;
            prev = ends[c];
            cr_assert(olen <= cut && !memcmp(out, text, olen), "trial %d: shown bytes beyond the cut", trial);
            if (mi >= 0) got_idx = mi;
        }
        const char *e;
        size_t el;
        lir_stop_matcher_flush(m, &e, &el);
        memcpy(out + olen, e, el);
        olen += el;
        lir_stop_matcher_free(m);
        cr_assert_eq(olen, cut, "trial %d: text '%s' stops '%s' '%s' '%s': shown %zu bytes, expected %zu", trial, text,
                     stops[0], n_stops > 1 ? stops[1] : "", n_stops > 2 ? stops[2] : "", olen, cut);
        cr_assert_eq(got_idx, want_idx, "trial %d: matched %d, expected %d", trial, got_idx, want_idx);
    }
}
