/* weightutil.h — random weights for the tests that compare a network's
 * outputs across two code paths (morphisms, exports). */
#ifndef SLIMNAS_WEIGHTUTIL_H
#define SLIMNAS_WEIGHTUTIL_H

#include "slimnas/graph.h"
#include "slimnas/util.h"

/* He-initialised weights plus random biases and bn parameters and
 * running statistics, so no path can pass by relying on gamma 1, beta 0,
 * mean 0, var 1 (and bn folding has something to fold). */
static inline sn_weights *tu_random_weights(const sn_graph *g,
                                            uint64_t seed) {
    sn_weights *w = sn_weights_new(g);
    sn_weights_init(w, g, seed);
    sn_rng r;
    sn_rng_seed(&r, seed * 7 + 1);
    for (int i = 1; i < g->n_nodes; i++) {
        const sn_node *nd = &g->nodes[i];
        if (nd->op == SN_OP_BN) {
            int c = w->desc[i][0].dims[0];
            float *t[4];
            for (int k = 0; k < 4; k++) t[k] = sn_weights_tensor(w, i, k);
            for (int j = 0; j < c; j++) {
                t[0][j] = (float)(0.5 + sn_rng_uniform(&r));
                t[1][j] = (float)(0.2 * sn_rng_normal(&r));
                t[2][j] = (float)(0.3 * sn_rng_normal(&r));
                t[3][j] = (float)(0.5 + 1.5 * sn_rng_uniform(&r));
            }
        } else if ((nd->op == SN_OP_CONV || nd->op == SN_OP_DENSE) &&
                   nd->attr.bias) {
            int c = w->desc[i][1].dims[0];
            float *b = sn_weights_tensor(w, i, 1);
            for (int j = 0; j < c; j++) b[j] = (float)(0.1 * sn_rng_normal(&r));
        }
    }
    return w;
}

#endif
