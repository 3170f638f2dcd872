/* graph_internal.h — helpers shared by the graph module's files. */
#ifndef SLIMNAS_GRAPH_INTERNAL_H
#define SLIMNAS_GRAPH_INTERNAL_H

#include "slimnas/graph.h"

/* Output shape of nd from its inputs' shapes in g, with size limits;
 * a bare sentence (no layer prefix) in e on error. */
int sn_node_infer(const sn_graph *g, const sn_node *nd, sn_shape *out,
                  sn_error *e);
/* Room for n nodes in g->nodes (for adding a known number of nodes). */
void graph_reserve(sn_graph *g, int n);
/* Index of the last node reading node i, -1 when none does. */
int sn_graph_last_use(const sn_graph *g, int i);
/* The same for every node at once (O(edges)): last[i] for i < n_nodes. */
void sn_graph_last_uses(const sn_graph *g, int *last);

#endif
