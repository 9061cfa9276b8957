/* test_kv_kernels.c — the paged attention kernel gemm_f16_paged of every kernel table this CPU
 * runs: over blocks scattered in memory it gives exactly the bits gemm[LIR_TYPE_F16] gives over
 * the same rows stored contiguously (so a sequence's block placement never changes attention,
 * and the paged cache computes what the contiguous one did), for several block counts, row and
 * column counts (decode nc = 1 and prompt tiles). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "backend/cpu/kernels.h"

static uint64_t rs = 0x9E3779B97F4A7C15ull;
static float frand(void) {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (float)(rs >> 40) / (float)(1 << 24) * 2.0f - 1.0f;
}

static void check_table(const struct lir_cpu_kernels *k) {
    enum { BS = 64 };
    const int shapes[][3] = { { 1, 64, 1 }, { 3, 64, 4 }, { 17, 128, 1 }, { 8, 64, 16 }, { 5, 66, 3 }, { 2, 7, 2 } };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int nb = shapes[s][0], nr = shapes[s][1], nc = shapes[s][2], n = nb * BS;
        /* contiguous: nr rows of n; paged: nb blocks of nr rows of BS, in shuffled slots */
        lir_f16 *wc = malloc(sizeof(lir_f16) * (size_t)nr * n), *pool = malloc(sizeof(lir_f16) * (size_t)nr * n);
        lir_f16 *a = malloc(sizeof(lir_f16) * (size_t)nc * n);
        const lir_f16 **w = malloc(sizeof(*w) * (size_t)nb);
        float *o1 = malloc(sizeof(float) * (size_t)nc * nr), *o2 = malloc(sizeof(float) * (size_t)nc * nr);
        for (int i = 0; i < nr * n; i++) wc[i] = lir_f32_to_f16(frand());
        for (int i = 0; i < nc * n; i++) a[i] = lir_f32_to_f16(frand() < -0.5f ? 0.0f : frand());
        for (int b = 0; b < nb; b++) {
            const int slot = (b * 7 + 3) % nb; /* a permutation for nb not a multiple of 7 */
            lir_f16 *blk = pool + (size_t)slot * nr * BS;
            for (int r = 0; r < nr; r++) memcpy(blk + (size_t)r * BS, wc + (size_t)r * n + (size_t)b * BS, sizeof(lir_f16) * BS);
            w[b] = blk;
        }
        k->gemm[LIR_TYPE_F16](n, wc, sizeof(lir_f16) * (size_t)n, a, sizeof(lir_f16) * (size_t)n, o1, (size_t)nr, nr, nc);
        k->gemm_f16_paged(BS, nb, w, sizeof(lir_f16) * BS, a, sizeof(lir_f16) * (size_t)n, o2, (size_t)nr, nr, nc);
        for (int i = 0; i < nr * nc; i++) {
            /* when nr is not a multiple of the tile rows (4, 2), gemm_f16 computes the last rows
             * of single-column tiles with its 4-chain single-dot path: there only closeness is
             * promised (head dimensions are multiples of 4: attention is always exact) */
            const bool exact = nr % 4 == 0 || !strcmp(k->isa, "generic");
            if (exact)
                cr_assert(memcmp(&o1[i], &o2[i], sizeof(float)) == 0, "%s nb %d nr %d nc %d: out %d %.9g vs %.9g",
                          k->isa, nb, nr, nc, i, o1[i], o2[i]);
            else
                cr_assert(fabsf(o1[i] - o2[i]) <= 1e-5f * (1.0f + fabsf(o1[i])), "%s: out %d %g vs %g", k->isa, i,
                          o1[i], o2[i]);
        }
        free(wc);
        free(pool);
        free(a);
        free(w);
        free(o1);
        free(o2);
    }
}

Test(kv_kernels, paged_f16_gemm_equals_contiguous) {
    const char *isas[] = { "generic", "avx2", "avx512" };
    int ran = 0;
    for (int i = 0; i < 3; i++) {
        const struct lir_cpu_kernels *k = lir_cpu_kernels_for(isas[i]);
        if (!k) continue;
        check_table(k);
        ran++;
    }
    cr_assert(ran >= 1);
}
