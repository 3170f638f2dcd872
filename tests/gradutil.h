/* gradutil.h — central differences through a whole executor, for the
 * tests that check a training path's gradients end to end (fusions, the
 * batch split). */
#ifndef SLIMNAS_GRADUTIL_H
#define SLIMNAS_GRADUTIL_H

#include "slimnas/graph.h"
#include "testutil.h"

/* L = sum(logits * r) of a training forward: dL/dlogits is r. */
static inline double tu_dot_loss(sn_exec *ex, const float *x, const float *r,
                                 int n, int64_t out_n) {
    const float *y = sn_exec_forward(ex, x, n, 1);
    double s = 0;
    for (int64_t i = 0; i < out_n; i++)
        s += (double)y[i] * r[i];
    return s;
}

/* Back-propagates r (out_n = classes * n values) from a forward of x, then compares every parameter's
 * gradient with (L(p + h) - L(p - h)) / 2h within tol * (1 + |numeric|);
 * fails naming `what` and the parameter. Returns how many gradients were
 * larger than `big` (so a caller can insist the check saw real ones). */
static inline int tu_exec_gradcheck(sn_exec *ex, sn_weights *w,
                                    const float *x, const float *r, int n,
                                    int64_t out_n, double h, double tol, double big,
                                    const char *what) {
    tu_dot_loss(ex, x, r, n, out_n);
    sn_exec_zero_grad(ex);
    sn_exec_backward(ex, r);
    float *ana = malloc(sizeof(float) * (size_t)w->n_params);
    memcpy(ana, sn_exec_grads(ex), sizeof(float) * (size_t)w->n_params);
    int checked = 0;
    int64_t bad = -1;
    double bad_num = 0, bad_ana = 0;
    for (int64_t p = 0; p < w->n_params && bad < 0; p++) {
        float keep = w->params[p];
        w->params[p] = keep + (float)h;
        double lp = tu_dot_loss(ex, x, r, n, out_n);
        w->params[p] = keep - (float)h;
        double lm = tu_dot_loss(ex, x, r, n, out_n);
        w->params[p] = keep;
        double num = (lp - lm) / (2 * h);
        if (fabs(num - ana[p]) > tol * (1 + fabs(num))) {
            bad = p;
            bad_num = num;
            bad_ana = ana[p];
        }
        checked += fabs(ana[p]) > big;
    }
    free(ana);
    if (bad >= 0)
        fail_msg("%s, param %lld: numeric %.6g, analytic %.6g", what,
                 (long long)bad, bad_num, bad_ana);
    return checked;
}

#endif
