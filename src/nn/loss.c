/* loss.c — softmax cross-entropy with label smoothing.
 *
 * Per row with logits z[k], label y and smoothing s, the target is
 * t = (1 - s) * onehot(y) + s / k (it sums to 1), and
 *   loss = -sum_j t_j log softmax(z)_j = lse(z) - sum_j t_j z_j,
 *   dloss/dz = softmax(z) - t,
 * with lse(z) = max z + log sum exp(z - max z), which never overflows.
 * The batch loss is the mean over rows, so dlogits is divided by n. Row
 * arithmetic is in double: a float log-sum-exp over 10 classes is fine, but
 * the returned mean feeds early stopping and plots. */
#include "slimnas/nn.h"

#include <math.h>

double sn_softmax_xent(const float *logits, const int *labels, int n, int k,
                       float smoothing, float *dlogits, int *correct) {
    SN_ASSERT(n >= 0 && k >= 1);
    double total = 0;
    int hits = 0;
    double off = (double)smoothing / k; /* target of every wrong class */
    double on = 1.0 - smoothing + off;  /* target of the label */
    for (int r = 0; r < n; r++) {
        const float *z = logits + (int64_t)r * k;
        int y = labels[r];
        SN_ASSERT(y >= 0 && y < k);
        int arg = 0;
        for (int j = 1; j < k; j++)
            if (z[j] > z[arg]) arg = j; /* first maximum on ties */
        hits += arg == y;
        double mx = z[arg], se = 0, tz = 0;
        for (int j = 0; j < k; j++) {
            se += exp((double)z[j] - mx);
            double w = j == y ? on : off;
            if (w != 0) tz += w * z[j]; /* 0 * -inf would be NaN */
        }
        double lse = mx + log(se);
        total += lse - tz;
        if (dlogits) {
            float *d = dlogits + (int64_t)r * k;
            for (int j = 0; j < k; j++) {
                double p = exp((double)z[j] - lse);
                d[j] = (float)((p - (j == y ? on : off)) / n);
            }
        }
    }
    if (correct) *correct = hits;
    return n > 0 ? total / n : 0.0;
}
