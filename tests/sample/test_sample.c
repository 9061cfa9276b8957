/* test_sample.c — greedy choice, top-2 margin, top-k order and log-probabilities,
 * seeded temperature sampling. */
#include <criterion/criterion.h>
#include <math.h>
#include "sample/sample.h"

Test(sample, greedy_picks_first_of_ties) {
    const float l[] = { 1, 3, 2, 3 };
    cr_assert_eq(lir_sample_greedy(l, 4), 1);
    cr_assert_float_eq(lir_sample_margin(l, 4), 0.0f, 1e-9);
    const float m[] = { 0.5f, -1, 2.5f };
    cr_assert_float_eq(lir_sample_margin(m, 3), 2.0f, 1e-6);
}

Test(sample, top_k_sorted_with_exact_logprobs) {
    const float l[] = { 0.1f, 2.0f, -1.0f, 3.0f, 2.0f, 0.0f };
    int32_t ids[3];
    float lg[3];
    double lp[3];
    cr_assert_eq(lir_top_k(l, 6, 3, ids, lg, lp), 3);
    cr_assert_eq(ids[0], 3);
    cr_assert_eq(ids[1], 1); /* tie with id 4: the lower id first */
    cr_assert_eq(ids[2], 4);
    double z = 0;
    for (int i = 0; i < 6; i++) z += exp(l[i]);
    cr_assert_float_eq(lp[0], 3.0 - log(z), 1e-9);
    cr_assert_float_eq(lp[2], 2.0 - log(z), 1e-9);

}

Test(sample, temperature_sampling_is_seeded_and_follows_distribution) {
    const float l[] = { 0.0f, logf(3.0f) }; /* p = 1/4, 3/4 at temperature 1 */
    uint64_t r1[4], r2[4];
    lir_rng_seed(r1, 42);
    lir_rng_seed(r2, 42);
    int ones = 0;
    const int N = 20000;
    for (int i = 0; i < N; i++) {
        int32_t a = lir_sample_temp(l, 2, 1.0f, r1), b = lir_sample_temp(l, 2, 1.0f, r2);
        cr_assert_eq(a, b, "same seed, same draws");
        ones += a;
    }
    double p = (double)ones / N; /* binomial sd = sqrt(.1875/N) = 0.003 */
    cr_assert(fabs(p - 0.75) < 0.015, "observed %.4f, expected 0.75", p);
    cr_assert_eq(lir_sample_temp(l, 2, 0.0f, r1), 1, "temperature 0 is greedy");
}
