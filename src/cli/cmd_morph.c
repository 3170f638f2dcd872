/* cmd_morph.c — `slimnas morph`: list the morphisms that apply to a graph
 * with the exact size of each child, or apply one to a graph and its
 * weights, write the child, and check that an exact one kept the
 * function. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "slimnas/cli.h"
#include "slimnas/data.h"
#include "slimnas/morph.h"
#include "slimnas/train.h"

static const sn_cli_opt OPTS[] = {
    {"list", 'l', NULL, "list the applicable morphisms with predicted sizes"},
    {"op", 0, "OP[:POS[:ARG]]", "the morphism to apply (with --list: only "
                                "this operator [at POS])"},
    {"weights", 'w', "W.bin", "the parent's weights"},
    {"output", 'o', "CHILD.json", "write the child graph ('-' = stdout)"},
    {"save", 's', "CHILD.bin", "write the child's inherited weights"},
    {"check", 0, NULL, "compare parent and child logits on a batch"},
    {"data", 'd', "SPEC", "--check on this dataset's validation images"},
    {"batch", 'b', "N", "samples for --check"},
    {"seed", 0, "S", "seed: choices left open, fresh weights, random "
                     "inputs"},
    {"exact", 0, NULL, "with --list: only the exact (function-preserving) "
                       "morphisms"},
    {0},
};

static int run_morph(int argc, char **argv);
static void morph_default(const char *opt, char *buf, size_t n);

const sn_cli_cmd sn_cmd_morph = {
    .name = "morph",
    .summary = "list or apply network morphisms (grow exactly, or shrink)",
    .usage = "slimnas morph GRAPH.json --list [--op OP] [--exact]\n"
             "       slimnas morph GRAPH.json --weights W.bin --op "
             "OP[:POSITION[:ARG]]\n"
             "                     -o CHILD.json --save CHILD.bin [--check "
             "[--data SPEC]] [--seed S]",
    .details =
        "Operators (POSITION is a layer name or index; a missing POSITION "
        "or ARG is\npicked with the seed among those that apply):\n"
        "  exact:  deeper:NODE[:K]  deeper-dense:NODE  deeper-mbv2:NODE[:T]\n"
        "          wider:LAYER[:WIDTH]  add-skip:FROM[:TO]  "
        "concat-skip:FROM[:TO]\n"
        "  shrink: separable:CONV  prune:LAYER[:C]  remove:LAYER  "
        "remove-skip:NODE[:K]\n"
        "          narrow-kernel:CONV[:K]\n"
        "Exact morphisms keep the function in inference mode; --check "
        "prints the largest\nabsolute logit difference between parent and "
        "child and exits 1 when an exact\nmorphism exceeds 1e-4. Sizes are "
        "parameters, MACs and peak activation bytes\n(as `slimnas stats`). "
        "Without --weights only the child graph is written.\nErrors (unknown "
        "operator, missing layer, a morphism that does not apply,\nweights "
        "that do not match the graph) exit 1.",
    .opts = OPTS,
    .run = run_morph,
    .default_of = morph_default,
};

#define CHECK_BATCH 64 /* samples --check compares */
#define MORPH_SEED 1

static void morph_default(const char *opt, char *buf, size_t n) {
    buf[0] = 0;
    if (!strcmp(opt, "batch")) snprintf(buf, n, "%d", CHECK_BATCH);
    else if (!strcmp(opt, "seed")) snprintf(buf, n, "%d", MORPH_SEED);
    else if (!strcmp(opt, "data")) snprintf(buf, n, "random inputs");
}

#define CHECK_TOL 1e-4 /* the bound for exact morphisms */

static int fail(const char *fmt, const char *msg) {
    fprintf(stderr, "slimnas morph: ");
    fprintf(stderr, fmt, msg);
    fputc('\n', stderr);
    return 1;
}

static const char *delta(char *buf, size_t n, int64_t from, int64_t to) {
    char a[32];
    sn_fmt_int(a, sizeof a, to);
    if (from > 0)
        snprintf(buf, n, "%s (%+.1f%%)", a,
                 100.0 * (double)(to - from) / (double)from);
    else
        snprintf(buf, n, "%s", a);
    return buf;
}

static int list(const sn_graph *g, const char *only, int exact_only) {
    sn_error e;
    int filter = -1, at = -1;
    if (only) {
        char name[128];
        snprintf(name, sizeof name, "%s", only);
        char *colon = strchr(name, ':');
        if (colon) *colon = 0;
        filter = sn_morph_from_name(name);
        if (filter < 0) {
            sn_morph_op op;
            sn_morph_parse(g, only, 1, &op, &e); /* for the message */
            return fail("%s", e.msg);
        }
        if (colon && colon[1]) { /* OP:POSITION lists that layer only */
            char *pos = colon + 1;
            if ((colon = strchr(pos, ':'))) *colon = 0;
            at = sn_graph_find(g, pos);
            long v;
            if (at < 0 && !sn_parse_long(pos, 0, g->n_nodes - 1, &v))
                at = (int)v;
            if (at < 0) {
                fprintf(stderr, "slimnas morph: no layer '%s' in the graph\n",
                        pos);
                return 1;
            }
        }
    }
    sn_morph_cand *c;
    int n = sn_morph_enumerate(g, &c, &e);
    if (n < 0) return fail("%s", e.msg);
    sn_stats s;
    sn_stats_compute(g, SN_FLOPS_MACS, &s);
    char b1[48], b2[48], b3[48];
    printf("%s: %s params, %s MACs, %s peak bytes\n\n",
           g->name[0] ? g->name : "graph", sn_fmt_int(b1, sizeof b1, s.params),
           sn_fmt_int(b2, sizeof b2, s.flops),
           sn_fmt_int(b3, sizeof b3, s.peak_bytes));
    int w = 8;
    for (int i = 0; i < g->n_nodes; i++) {
        int len = (int)strlen(g->nodes[i].name);
        if (len > w) w = len;
    }
    w = 2 * w + 14; /* "concat-skip:NAME:NAME" */
    printf("%-*s %-6s %20s %22s %20s  %s\n", w, "morphism", "kind", "params",
           "MACs", "peak bytes", "description");
    int shown = 0;
    for (int i = 0; i < n; i++) {
        const sn_morph_info *info = sn_morph_get(c[i].op.op);
        if (filter >= 0 && c[i].op.op != filter) continue;
        if (at >= 0 && c[i].op.pos != at) continue;
        if (exact_only && info->kind != SN_MORPH_EXACT) continue;
        char spec[160], desc[SN_MORPH_DESC_LEN];
        const sn_node *pn = &g->nodes[c[i].op.pos];
        if (info->arg == SN_MORPH_ARG_NONE)
            snprintf(spec, sizeof spec, "%s:%s", info->name, pn->name);
        else if (info->arg == SN_MORPH_ARG_NODE)
            snprintf(spec, sizeof spec, "%s:%s:%s", info->name, pn->name,
                     g->nodes[c[i].op.arg].name);
        else
            snprintf(spec, sizeof spec, "%s:%s:%d", info->name, pn->name,
                     c[i].op.arg);
        sn_morph_describe(g, c[i].op, desc, sizeof desc);
        printf("%-*s %-6s %20s %22s %20s  %s\n", w, spec,
               info->kind == SN_MORPH_EXACT ? "exact" : "shrink",
               delta(b1, sizeof b1, s.params, c[i].params),
               delta(b2, sizeof b2, s.flops, c[i].flops),
               delta(b3, sizeof b3, s.peak_bytes, c[i].peak_bytes), desc);
        shown++;
    }
    printf("\n%d morphism%s\n", shown, shown == 1 ? "" : "s");
    sn_stats_free(&s);
    free(c);
    if (fflush(stdout) != 0) return fail("%s", "write error");
    return 0;
}

/* Fills x with n inputs: the first n validation (else test) images of the
 * dataset, or standard normal noise. Returns the count, -1 on error. */
static int check_inputs(const sn_graph *g, const char *spec, int n,
                        uint64_t seed, float **xo, int **yo) {
    size_t per = (size_t)sn_shape_size(g->input);
    *yo = NULL;
    if (!spec) {
        float *x = sn_falloc((size_t)n * per);
        sn_rng r;
        sn_rng_seed(&r, seed);
        for (size_t i = 0; i < (size_t)n * per; i++)
            x[i] = (float)sn_rng_normal(&r);
        *xo = x;
        return n;
    }
    sn_error e;
    sn_data *d = sn_data_open(spec, NULL, &e);
    if (!d) return fail("%s", e.msg), -1;
    if (sn_train_check_fit(g, d, &e) != 0) {
        sn_data_free(d);
        return fail("%s", e.msg), -1;
    }
    sn_split sp = sn_data_count(d, SN_SPLIT_VAL) > 0 ? SN_SPLIT_VAL
                                                     : SN_SPLIT_TEST;
    if (sn_data_count(d, sp) < n) n = sn_data_count(d, sp);
    int *idx = sn_xmalloc(sizeof *idx * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) idx[i] = i;
    float *x = sn_falloc((size_t)(n ? n : 1) * per);
    int *y = sn_xmalloc(sizeof *y * (size_t)(n ? n : 1));
    sn_data_gather(d, sp, idx, n, x, y);
    free(idx);
    sn_data_free(d);
    *xo = x;
    *yo = y;
    return n;
}

static const float *forward(sn_exec **ex, const sn_graph *g, sn_weights *w,
                            const float *x, int n) {
    *ex = sn_exec_new(g, w, n);
    return sn_exec_forward(*ex, x, n, 0);
}

static int accuracy_hits(const float *y, const int *labels, int n, int k) {
    int hits = 0;
    for (int i = 0; i < n; i++) {
        int best = 0;
        for (int j = 1; j < k; j++)
            if (y[i * k + j] > y[i * k + best]) best = j;
        hits += best == labels[i];
    }
    return hits;
}

static int check(FILE *f, const sn_graph *g, sn_weights *w,
                 const sn_graph *cg, sn_weights *cw,
                 const sn_morph_info *info, const char *data, int batch,
                 uint64_t seed) {
    float *x;
    int *y;
    int n = check_inputs(g, data, batch, seed, &x, &y);
    if (n < 0) return 1;
    if (n == 0) {
        sn_free_aligned(x);
        free(y);
        return fail("%s", "--check: the dataset has no images to compare on");
    }
    sn_exec *e1, *e2;
    const float *l1 = forward(&e1, g, w, x, n);
    const float *l2 = forward(&e2, cg, cw, x, n);
    double m = 0;
    int k = g->classes;
    for (int i = 0; i < n * k; i++) {
        double d = fabs((double)l1[i] - (double)l2[i]);
        if (d > m || d != d) m = d != d ? INFINITY : d;
    }
    fprintf(f, "check: max |logit difference| %.3g on %d %s\n", m, n,
           data ? "validation images" : "random inputs");
    if (y)
        fprintf(f, "check: accuracy on them: parent %.1f%%, child %.1f%%\n",
               100.0 * accuracy_hits(l1, y, n, k) / n,
               100.0 * accuracy_hits(l2, y, n, k) / n);
    int rc = 0;
    if (info->kind == SN_MORPH_EXACT) {
        if (m <= CHECK_TOL) {
            fprintf(f, "check: ok (exact morphism, limit %g)\n", CHECK_TOL);
        } else {
            fprintf(stderr, "slimnas morph: check failed: %s is exact but the "
                    "logits differ by %.3g (limit %g)\n", info->name, m,
                    CHECK_TOL);
            rc = 1;
        }
    } else {
        fprintf(f, "check: %s is approximate; fine-tune the child to "
                "recover\n", info->name);
    }
    sn_exec_free(e1);
    sn_exec_free(e2);
    sn_free_aligned(x);
    free(y);
    return rc;
}

static int run_morph(int argc, char **argv) {
    const sn_cli_cmd *c = &sn_cmd_morph;
    sn_cli_args a;
    int rc = sn_cli_parse(c, argc, argv, &a);
    if (rc == 1) return 0; /* --help */
    if (rc) return rc;
    if (a.n_pos == 0) return sn_cli_usage_error(c, "missing GRAPH.json");
    if (a.n_pos > 1)
        return sn_cli_usage_error(c, "unexpected argument '%s'", a.pos[1]);
    const char *opspec = sn_cli_get(&a, "op"), *wpath = sn_cli_get(&a, "weights");
    const char *out = sn_cli_get(&a, "output"), *save = sn_cli_get(&a, "save");
    const char *data = sn_cli_get(&a, "data"), *v;
    int do_list = sn_cli_flag(&a, "list"), do_check = sn_cli_flag(&a, "check");
    long seed = MORPH_SEED, batch = CHECK_BATCH;
    if ((v = sn_cli_get(&a, "seed")) && sn_parse_long(v, 0, 2147483647L, &seed))
        return sn_cli_usage_error(c, "bad --seed '%s'", v);
    if ((v = sn_cli_get(&a, "batch")) && sn_parse_long(v, 1, 4096, &batch))
        return sn_cli_usage_error(c, "bad --batch '%s' (1..4096)", v);
    if (!do_list && !opspec)
        return sn_cli_usage_error(c, "give --list or --op OP");
    if (do_list && (wpath || out || save || do_check))
        return sn_cli_usage_error(c, "--list takes only --op and --exact");
    if (!do_list && sn_cli_flag(&a, "exact"))
        return sn_cli_usage_error(c, "--exact goes with --list");
    if ((save || do_check) && !wpath)
        return sn_cli_usage_error(c, "%s needs --weights",
                                  save ? "--save" : "--check");
    if (data && !do_check)
        return sn_cli_usage_error(c, "--data goes with --check");
    sn_error e;
    if (data && sn_data_spec_check(data, &e))
        return sn_cli_usage_error(c, "--data: %s", e.msg);

    sn_graph *g = sn_graph_load(a.pos[0], &e);
    if (!g) return fail("%s", e.msg);
    if (do_list) {
        rc = list(g, opspec, sn_cli_flag(&a, "exact"));
        sn_graph_free(g);
        return rc;
    }
    sn_threads_init(0);
    sn_weights *w = NULL;
    sn_graph *cg = NULL;
    sn_weights *cw = NULL;
    sn_morph_op op;
    rc = 1;
    if (sn_morph_parse(g, opspec, (uint64_t)seed, &op, &e) < 0) {
        fail("%s", e.msg);
        goto done;
    }
    const sn_morph_info *info = sn_morph_get(op.op);
    if (wpath) {
        w = sn_weights_load(g, wpath, &e);
        if (!w) {
            fail("%s", e.msg);
            goto done;
        }
    } else {
        /* Only the structure is wanted: any weights give the same child
         * graph. */
        w = sn_weights_new(g);
    }
    char desc[SN_MORPH_DESC_LEN];
    if (sn_morph_apply(g, w, op, (uint64_t)seed, &cg, &cw, desc, &e) < 0) {
        fail("%s", e.msg);
        goto done;
    }
    sn_stats s0, s1;
    sn_stats_compute(g, SN_FLOPS_MACS, &s0);
    sn_stats_compute(cg, SN_FLOPS_MACS, &s1);
    char b1[48], b2[48], b3[48], b4[48], b5[48], b6[48];
    /* The summary goes to stderr when the graph itself goes to stdout. */
    FILE *info_f = out && !strcmp(out, "-") ? stderr : stdout;
    fprintf(info_f, "%s (%s)\n", desc,
            info->kind == SN_MORPH_EXACT ? "exact" : "approximate");
    fprintf(info_f, "params %s -> %s, MACs %s -> %s, peak bytes %s -> %s\n",
            sn_fmt_int(b1, sizeof b1, s0.params),
            delta(b2, sizeof b2, s0.params, s1.params),
            sn_fmt_int(b3, sizeof b3, s0.flops),
            delta(b4, sizeof b4, s0.flops, s1.flops),
            sn_fmt_int(b5, sizeof b5, s0.peak_bytes),
            delta(b6, sizeof b6, s0.peak_bytes, s1.peak_bytes));
    sn_stats_free(&s0);
    sn_stats_free(&s1);
    if (out) {
        if (!strcmp(out, "-")) {
            char *js = sn_graph_to_json(cg);
            fputs(js, stdout);
            free(js);
        } else if (sn_graph_save(cg, out, &e) < 0) {
            fail("%s", e.msg);
            goto done;
        }
    }
    if (save && sn_weights_save(cw, cg, save, &e) < 0) {
        fail("%s", e.msg);
        goto done;
    }
    rc = 0;
    if (do_check)
        rc = check(info_f, g, w, cg, cw, info, data, (int)batch,
                   (uint64_t)seed);
    if (fflush(stdout) != 0) rc = fail("%s", "write error");
done:
    sn_weights_free(cw);
    sn_graph_free(cg);
    sn_weights_free(w);
    sn_graph_free(g);
    return rc;
}
