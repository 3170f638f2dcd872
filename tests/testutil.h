/* testutil.h — shared helpers for the cmocka suites. */
#ifndef SLIMNAS_TESTUTIL_H
#define SLIMNAS_TESTUTIL_H

/* cmocka calls every test as fn(void **state) and most ignore state. */
#pragma GCC diagnostic ignored "-Wunused-parameter"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slimnas/util.h"

/* A bad input and a fragment of the error it must give (the tables of
 * refused inputs). */
typedef struct tu_case {
    const char *in, *msg;
} tu_case;

/* Fails the test with a message when |a - b| > tol. */
#define assert_close(a, b, tol)                                                \
    do {                                                                       \
        double a_ = (a), b_ = (b), t_ = (tol);                                 \
        if (!(fabs(a_ - b_) <= t_))                                            \
            fail_msg("%s = %.9g, %s = %.9g, |diff| %.3g > %.3g", #a, a_, #b,   \
                     b_, fabs(a_ - b_), t_);                                   \
    } while (0)

static inline void tu_fill_normal(float *x, size_t n, uint64_t seed,
                                  float scale) {
    sn_rng r;
    sn_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) x[i] = (float)(sn_rng_normal(&r) * scale);
}

static inline int tu_rm_entry_(const char *path, const struct stat *st,
                               int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* rm -rf path (a temp folder of a test); symbolic links are not followed. */
static inline void tu_rm_rf(const char *path) {
    nftw(path, tu_rm_entry_, 8, FTW_DEPTH | FTW_PHYS);
}

static inline double tu_max_abs_diff(const float *a, const float *b,
                                     size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > m || d != d) m = d != d ? INFINITY : d;
    }
    return m;
}

/* Setup/teardown pair that prints each test's wall time as a TAP comment
 * (the slow suites use it: TU_TIMED(test_x) in the test table). */
static double tu_t_start_;
static inline int tu_tstart_(void **state) {
    (void)state;
    tu_t_start_ = sn_now();
    return 0;
}
static inline int tu_tend_(void **state) {
    (void)state;
    printf("# %.2f s\n", sn_now() - tu_t_start_);
    return 0;
}
#define TU_TIMED(f) cmocka_unit_test_setup_teardown(f, tu_tstart_, tu_tend_)

#endif
