/* fuzz_weights.c — weight files (cand/ID.bin, --weights): the input is
 * decoded against a fixed small graph (cnn:4:2 on 1x12x12, 10 classes);
 * weights that load are encoded again and must come back identical. */
#include "fuzz.h"

#include "slimnas/graph.h"

static sn_graph *fuzz_weights_g;

FUZZ_INIT(weights) {
    sn_error e;
    sn_arch_opts o = {4, 2};
    fuzz_weights_g = sn_graph_new_kind("cnn", (sn_shape){1, 12, 12}, 10, &o, &e);
    if (!fuzz_weights_g) {
        fprintf(stderr, "fuzz_weights: %s\n", e.msg);
        abort();
    }
    return 0;
}

FUZZ_TARGET(weights)(const uint8_t *data, size_t size) {
    sn_error e;
    sn_weights *w = sn_weights_decode(fuzz_weights_g, data, size, "fuzz.bin", &e);
    if (!w) return 0;
    size_t n;
    void *again = sn_weights_encode(w, fuzz_weights_g, &n);
    sn_weights *v = sn_weights_decode(fuzz_weights_g, again, n, "again.bin", &e);
    if (!v || v->n_params != w->n_params ||
        memcmp(v->params, w->params, (size_t)w->n_params * sizeof(float)))
        abort();
    sn_weights_free(v);
    free(again);
    sn_weights_free(w);
    return 0;
}
