/* fuzz_graph.c — graph JSON (candidate files cand/ID.json, `slimnas
 * stats/train/morph GRAPH.json`): sn_graph_from_json on the input, and
 * for a graph that loads, its JSON printed and read back (same graph). */
#include "fuzz.h"

#include "slimnas/graph.h"

FUZZ_TARGET(graph)(const uint8_t *data, size_t size) {
    char *text = malloc(size ? size : 1); /* exact size: no NUL after */
    if (!text) abort();
    memcpy(text, data, size);
    sn_error e;
    sn_graph *g = sn_graph_from_json(text, size, "fuzz.json", &e);
    free(text);
    if (!g) return 0;
    char *again = sn_graph_to_json(g);
    sn_graph *h = sn_graph_from_json(again, strlen(again), "again.json", &e);
    if (!h) {
        fprintf(stderr, "graph printed by slimnas does not load: %s\n", e.msg);
        abort();
    }
    if (sn_graph_params(h) != sn_graph_params(g)) abort();
    sn_graph_free(h);
    free(again);
    sn_graph_free(g);
    return 0;
}
