/* cmd_new.c — `slimnas new KIND --input HxWxC --classes N`: writes the graph
 * JSON of a base architecture (stdout unless -o). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "slimnas/cli.h"
#include "slimnas/data.h"
#include "slimnas/graph.h"

static const sn_cli_opt OPTS[] = {
    {"input", 'i', "HxWxC", "input height, width and channels, e.g. 32x32x3"},
    {"classes", 0, "N", "number of classes"},
    {"data", 0, "SPEC", "take the input size and classes from a dataset"},
    {"width", 0, "W", "width knob of the kind (0 = its default)"},
    {"depth", 0, "D", "depth knob of the kind (0 = its default)"},
    {"output", 'o', "FILE", "write the graph to FILE (default: stdout)"},
    {0},
};

static int run_new(int argc, char **argv);

const sn_cli_cmd sn_cmd_new = {
    .name = "new",
    .summary = "write the graph JSON of a base architecture",
    .usage = "slimnas new KIND (--input HxWxC --classes N | --data SPEC) "
             "[--width W] [--depth D] [-o FILE]",
    .details =
        "kinds:\n"
        "  cnn          AutoKeras default CNN: depth x [ReLU, BN, conv3x3 "
        "width,\n"
        "               maxpool2], GAP, dropout, dense width, ReLU, dense "
        "(64, 3)\n"
        "  resnet       AutoKeras pre-activation ResNet-18 (width 64, 2 "
        "blocks/stage)\n"
        "  densenet     AutoKeras DenseNet-121 (width = growth 32, depth = "
        "layers\n"
        "               per dense block, default 6, 12, 24, 16)\n"
        "  mobilenet    MobileNet v1, depthwise-separable blocks (32, 2 "
        "blocks/stage)\n"
        "  mobilenetv2  MobileNet v2, inverted residual blocks (32, 2 "
        "blocks/stage)\n"
        "  mobile_tiny  the bench's tiny depthwise-separable net (width 16)\n"
        "  tiny2conv    two convs and a dense layer (width 8)\n"
        "\nexample: slimnas new cnn --input 32x32x3 --classes 10 | "
        "slimnas stats -",
    .opts = OPTS,
    .run = run_new,
};

/* Whole-string decimal integer in [lo, hi]. */
static int parse_int(const char *s, int lo, int hi, int *out) {
    long v;
    if (sn_parse_long(s, lo, hi, &v) != 0) return -1;
    *out = (int)v;
    return 0;
}

/* "32x32x3" (HxWxC) or "28x28" (one channel) into an sn_shape. */
static int parse_input(const char *s, sn_shape *in) {
    int v[3] = {0, 0, 1}, n = 0;
    char buf[64];
    if (strlen(s) >= sizeof buf) return -1;
    snprintf(buf, sizeof buf, "%s", s);
    char *save = NULL;
    for (char *tok = strtok_r(buf, "xX", &save); tok;
         tok = strtok_r(NULL, "xX", &save)) {
        if (n >= 3 || parse_int(tok, 1, 16384, &v[n]) != 0) return -1;
        n++;
    }
    /* strtok skips empty fields ("32xx3"); refuse them explicitly. */
    if (n < 2 || strstr(s, "xx") || strstr(s, "XX") || s[0] == 'x' ||
        s[strlen(s) - 1] == 'x')
        return -1;
    in->h = v[0];
    in->w = v[1];
    in->c = v[2];
    return 0;
}

static int run_new(int argc, char **argv) {
    sn_cli_args a;
    int rc = sn_cli_parse(&sn_cmd_new, argc, argv, &a);
    if (rc == 1) return 0; /* --help */
    if (rc) return rc;
    if (a.n_pos == 0)
        return sn_cli_usage_error(&sn_cmd_new, "missing KIND");
    if (a.n_pos > 1)
        return sn_cli_usage_error(&sn_cmd_new, "unexpected argument '%s'",
                                  a.pos[1]);
    const char *kind = a.pos[0];
    int known = 0;
    for (int i = 0; sn_arch_kinds[i]; i++)
        known |= strcmp(kind, sn_arch_kinds[i]) == 0;
    if (!known) {
        char list[160];
        return sn_cli_usage_error(&sn_cmd_new, "unknown kind '%s' (kinds: %s)",
                                  kind, sn_arch_kinds_list(list, sizeof list));
    }
    const char *s_in = sn_cli_get(&a, "input");
    const char *s_cl = sn_cli_get(&a, "classes");
    const char *s_data = sn_cli_get(&a, "data");
    sn_shape in;
    int classes;
    sn_error e;
    if (s_data) { /* the data's shape (converted by --input) and classes */
        sn_data_opts dopt = sn_data_opts_default();
        dopt.val_split = 0;
        if (s_cl)
            return sn_cli_usage_error(&sn_cmd_new, "--classes and --data: "
                                                   "give one");
        if (s_in && sn_data_parse_input(s_in, &dopt.input_h, &dopt.input_w,
                                        &dopt.input_c) != 0)
            return sn_cli_usage_error(&sn_cmd_new, "bad --input '%s' "
                                                   "(expected HxWxC)", s_in);
        sn_data *d = sn_data_open(s_data, &dopt, &e);
        if (!d) {
            fprintf(stderr, "slimnas new: %s\n", e.msg);
            return 1;
        }
        in = sn_data_shape(d);
        classes = sn_data_classes(d);
        sn_data_free(d);
        goto have_shape;
    }
    if (!s_in) return sn_cli_usage_error(&sn_cmd_new, "missing --input HxWxC");
    if (!s_cl) return sn_cli_usage_error(&sn_cmd_new, "missing --classes N");
    if (parse_input(s_in, &in) != 0)
        return sn_cli_usage_error(&sn_cmd_new,
                                  "bad --input '%s' (expected HxWxC, e.g. "
                                  "32x32x3)",
                                  s_in);
    if (parse_int(s_cl, 1, 65536, &classes) != 0)
        return sn_cli_usage_error(&sn_cmd_new,
                                  "bad --classes '%s' (an integer from 1 to "
                                  "65536)",
                                  s_cl);
have_shape:;
    sn_arch_opts o = {0, 0};
    const char *s_w = sn_cli_get(&a, "width"), *s_d = sn_cli_get(&a, "depth");
    if (s_w && parse_int(s_w, 0, 4096, &o.width) != 0)
        return sn_cli_usage_error(&sn_cmd_new,
                                  "bad --width '%s' (0 to 4096)", s_w);
    if (s_d && parse_int(s_d, 0, 256, &o.depth) != 0)
        return sn_cli_usage_error(&sn_cmd_new,
                                  "bad --depth '%s' (0 to 256)", s_d);
    sn_graph *g = sn_graph_new_kind(kind, in, classes, &o, &e);
    if (!g) {
        fprintf(stderr, "slimnas new: %s\n", e.msg);
        return 1;
    }
    const char *out = sn_cli_get(&a, "output");
    rc = sn_graph_save(g, out ? out : "-", &e);
    sn_graph_free(g);
    if (rc) {
        fprintf(stderr, "slimnas new: %s\n", e.msg);
        return 1;
    }
    return 0;
}
