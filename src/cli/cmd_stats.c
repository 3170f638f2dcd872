/* cmd_stats.c — `slimnas stats GRAPH.json`: the per-layer table (or JSON)
 * of output shapes, parameters, FLOPs and activation bytes, with totals and
 * peak activation memory. The numbers come from sn_stats_compute. */
#include <string.h>

#include <cJSON.h>
#include <stdlib.h>

#include "slimnas/cli.h"
#include "slimnas/export_c.h"
#include "slimnas/graph.h"

static const sn_cli_opt OPTS[] = {
    {"json", 0, NULL, "print JSON instead of a table"},
    {"flops", 'f', "KIND", "macs or autokeras"},
    {0},
};

static int run_stats(int argc, char **argv);

static void stats_default(const char *opt, char *buf, size_t n) {
    snprintf(buf, n, "%s", strcmp(opt, "flops") ? "" : "macs");
}

const sn_cli_cmd sn_cmd_stats = {
    .name = "stats",
    .summary = "per-layer shapes, parameters, FLOPs and peak memory of a graph",
    .usage = "slimnas stats GRAPH.json [--json] [--flops macs|autokeras]",
    .details =
        "GRAPH.json '-' reads the graph from stdin. --flops macs counts the "
        "multiply-\naccumulates of conv and dense layers (MobileNet's "
        "convention); --flops autokeras\ncounts as the AutoKeras reference "
        "table did (thop, mid-2019: conv, bn, relu,\npools and dense). "
        "Parameters are the trainable ones (batch norm's running\n"
        "statistics are not counted). Activation bytes are a layer's float32 "
        "output for\none sample; peak memory is the largest sum of live "
        "tensors while the layers\nrun in order (inference, batch 1, the "
        "input included).\nThe deployed arena is the C export's (export --format c): "
        "batch norm folded\ninto the conv before it, activations fused or "
        "in place, flatten and dropout as\nviews, tensors with disjoint "
        "lifetimes sharing bytes; it is normally below the\npeak. --json "
        "prints {\"params\", \"flops\", \"flops_kind\", \"peak_bytes\", "
        "\"peak_at\",\n\"arena_bytes\", \"arena_bytes_int8\", "
        "\"layers\": [...]}.",
    .opts = OPTS,
    .run = run_stats,
    .default_of = stats_default,
};

static void print_json(const sn_graph *g, const sn_stats *s,
                       const char *kind, int64_t arena) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "name", g->name);
    cJSON_AddNumberToObject(j, "params", (double)s->params);
    cJSON_AddNumberToObject(j, "flops", (double)s->flops);
    cJSON_AddStringToObject(j, "flops_kind", kind);
    cJSON_AddNumberToObject(j, "peak_bytes", (double)s->peak_bytes);
    cJSON_AddNumberToObject(j, "peak_at", s->peak_at);
    cJSON_AddNumberToObject(j, "arena_bytes", (double)arena);
    cJSON_AddNumberToObject(j, "arena_bytes_int8", (double)(arena / 4));
    cJSON *layers = cJSON_AddArrayToObject(j, "layers");
    for (int i = 0; i < s->n; i++) {
        const sn_layer_stats *L = &s->layer[i];
        cJSON *l = cJSON_CreateObject();
        cJSON_AddItemToArray(layers, l);
        cJSON_AddNumberToObject(l, "index", i);
        cJSON_AddStringToObject(l, "name", g->nodes[i].name);
        cJSON_AddStringToObject(l, "op", sn_op_get(g->nodes[i].op)->name);
        cJSON *o = cJSON_AddObjectToObject(l, "out");
        cJSON_AddNumberToObject(o, "c", L->out.c);
        cJSON_AddNumberToObject(o, "h", L->out.h);
        cJSON_AddNumberToObject(o, "w", L->out.w);
        cJSON_AddNumberToObject(l, "params", (double)L->params);
        cJSON_AddNumberToObject(l, "flops", (double)L->flops);
        cJSON_AddNumberToObject(l, "act_bytes", (double)L->act_bytes);
    }
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    printf("%s\n", text);
    free(text);
}

static double pct(int64_t part, int64_t total) {
    return total > 0 ? 100.0 * (double)part / (double)total : 0.0;
}

static void print_table(const sn_graph *g, const sn_stats *s, int ak,
                        int64_t arena) {
    int name_w = 4;
    for (int i = 0; i < g->n_nodes; i++) {
        int len = (int)strlen(g->nodes[i].name);
        if (len > name_w) name_w = len;
    }
    char b1[32], b2[32], b3[32], shape[48];
    printf("%s: input %dx%dx%d (HxWxC), %d classes, %d layers\n\n",
           g->name[0] ? g->name : "graph", g->input.h, g->input.w,
           g->input.c, g->classes, g->n_nodes - 1);
    printf("%4s  %-*s  %-8s %-15s %12s %7s %15s %7s %12s\n", "#", name_w,
           "name", "op", "output (HxWxC)", "params", "%", ak ? "FLOPs" : "MACs",
           "%", "act bytes");
    for (int i = 0; i < s->n; i++) {
        const sn_layer_stats *L = &s->layer[i];
        snprintf(shape, sizeof shape, "%dx%dx%d", L->out.h, L->out.w,
                 L->out.c);
        printf("%4d  %-*s  %-8s %-15s %12s %6.2f%% %15s %6.2f%% %12s\n", i,
               name_w, g->nodes[i].name, sn_op_get(g->nodes[i].op)->name,
               shape, sn_fmt_int(b1, sizeof b1, L->params),
               pct(L->params, s->params),
               sn_fmt_int(b2, sizeof b2, L->flops), pct(L->flops, s->flops),
               sn_fmt_int(b3, sizeof b3, L->act_bytes));
    }
    printf("\ntotal: %s params, %s %s\n", sn_fmt_int(b1, sizeof b1, s->params),
           sn_fmt_int(b2, sizeof b2, s->flops),
           ak ? "FLOPs (autokeras count)" : "MACs");
    printf("peak activation memory: %s bytes (inference, batch 1, float32; "
           "at layer %d '%s')\n",
           sn_fmt_int(b3, sizeof b3, s->peak_bytes), s->peak_at,
           g->nodes[s->peak_at].name);
    printf("deployed arena (C export): %s bytes float32, %s int8 (batch norm "
           "folded,\n  activations fused or in place, flatten and dropout "
           "as views)\n",
           sn_fmt_int(b1, sizeof b1, arena),
           sn_fmt_int(b2, sizeof b2, arena / 4));
}

static int run_stats(int argc, char **argv) {
    sn_cli_args a;
    int rc = sn_cli_parse(&sn_cmd_stats, argc, argv, &a);
    if (rc == 1) return 0; /* --help */
    if (rc) return rc;
    if (a.n_pos == 0)
        return sn_cli_usage_error(&sn_cmd_stats, "missing GRAPH.json");
    if (a.n_pos > 1)
        return sn_cli_usage_error(&sn_cmd_stats, "unexpected argument '%s'",
                                  a.pos[1]);
    const char *fk = sn_cli_get(&a, "flops");
    int ak = 0;
    if (fk && strcmp(fk, "autokeras") == 0) ak = 1;
    else if (fk && strcmp(fk, "macs") != 0)
        return sn_cli_usage_error(&sn_cmd_stats,
                                  "bad --flops '%s' (macs or autokeras)", fk);
    sn_error e;
    sn_graph *g = sn_graph_load(a.pos[0], &e);
    if (!g) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    sn_stats s;
    sn_stats_compute(g, ak ? SN_FLOPS_AUTOKERAS : SN_FLOPS_MACS, &s);
    int64_t arena = sn_export_c_arena_bytes(g, 0, &e);
    if (arena < 0) {
        fprintf(stderr, "%s\n", e.msg);
        sn_stats_free(&s);
        sn_graph_free(g);
        return 1;
    }
    if (sn_cli_flag(&a, "json"))
        print_json(g, &s, ak ? "autokeras" : "macs", arena);
    else
        print_table(g, &s, ak, arena);
    sn_stats_free(&s);
    sn_graph_free(g);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "slimnas stats: write error\n");
        return 1;
    }
    return 0;
}
