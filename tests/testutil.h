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

#endif
