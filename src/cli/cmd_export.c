/* cmd_export.c — `slimnas export` (ONNX, standalone C) and `slimnas
 * predict` (class and score per image, the path a deployed model takes). */
#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "slimnas/cli.h"
#include "slimnas/export.h"
#include "slimnas/train.h"

static const sn_cli_opt export_opts[] = {
    {"weights", 'w', "W.bin", "trained weights (GRAPH.json form)"},
    {"format", 0, "onnx|c|c-int8", "output format (default onnx)"},
    {"output", 'o', "PATH", "file (onnx) or folder (c, c-int8) to write"},
    {"no-fold-bn", 0, NULL, "onnx: keep batch norm as its own node"},
    {"raw-input", 0, NULL, "leave the normalisation out: the model takes "
                           "normalised input"},
    {"int8", 0, NULL, "onnx: int8 model (QLinear ops, the c-int8 "
                      "quantisation); c: the same as c-int8"},
    {"calibrate", 0, "N", "int8: calibrate on N training images"},
    {"data", 'd', "SPEC", "dataset for the normalisation (when the weights "
                          "lack it) and for calibration"},
    {"bench", 0, NULL, "c formats: compile and time one image"},
    {0}};

static const sn_cli_opt predict_opts[] = {
    {"weights", 'w', "W.bin", "trained weights (GRAPH.json form)"},
    {"data", 'd', "SPEC", "classify a dataset's images (and take its "
                          "normalisation when the weights lack it)"},
    {"split", 0, "test|val|train", "with --data: split (default test)"},
    {"count", 'n', "N", "with --data: images (default 10)"},
    {"first", 0, "K", "with --data: start at image K (default 0)"},
    {"logits", 0, NULL, "also print every logit"},
    {0}};

static int cmd_export(int argc, char **argv);
static int cmd_predict(int argc, char **argv);

const sn_cli_cmd sn_cmd_export = {
    "export", "write a trained network as ONNX or standalone C",
    "slimnas export GRAPH.json --weights W.bin --format FMT -o PATH\n"
    "       slimnas export RUN CANDIDATE --format FMT -o PATH",
    "onnx: one file, opset 13, input \"input\" float32 [N,C,H,W] raw pixels "
    "in\n[0,1] (pixel/255; normalised inside unless --raw-input), output "
    "\"logits\"\n[N,classes] (--int8: QLinearConv with int8 weights, the "
    "c-int8 scales).\nc, c-int8: PATH/model.h and PATH/model.c "
    "(C99, no malloc).\nRUN CANDIDATE uses RUN/cand/N.final.bin when it "
    "exists, else N.bin.",
    export_opts, cmd_export, NULL};

const sn_cli_cmd sn_cmd_predict = {
    "predict", "classify images with trained weights",
    "slimnas predict GRAPH.json --weights W.bin IMAGE...\n"
    "       slimnas predict GRAPH.json --weights W.bin --data SPEC [-n N]\n"
    "       slimnas predict RUN CANDIDATE IMAGE...",
    "Images: PGM, PPM (binary or text) or PNG, the model's height and width;"
    "\ngrey and colour are converted to the model's channels. Prints one "
    "line\nper image: the class, its name and its softmax score.",
    predict_opts, cmd_predict, NULL};

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Loads the model named by the positional arguments (GRAPH.json with
 * --weights, or RUN CANDIDATE); *used_pos gets how many it took. 0, or the
 * exit code after printing the error. */
static int load_model(const sn_cli_args *a, sn_graph **g, sn_weights **w,
                      char *wpath, size_t n, int *used_pos) {
    const sn_cli_cmd *c = a->cmd;
    sn_error e;
    *g = NULL;
    *w = NULL;
    if (a->n_pos < 1)
        return sn_cli_usage_error(c, "expected GRAPH.json or RUN CANDIDATE");
    if (is_dir(a->pos[0])) {
        long id;
        if (a->n_pos < 2 || sn_parse_long(a->pos[1], 0, 1000000000L, &id))
            return sn_cli_usage_error(c, "%s is a folder: expected RUN "
                                      "CANDIDATE (a candidate number)",
                                      a->pos[0]);
        if (sn_cli_get(a, "weights"))
            return sn_cli_usage_error(c, "--weights goes with GRAPH.json, "
                                      "not with RUN CANDIDATE");
        *used_pos = 2;
        if (sn_export_load_candidate(a->pos[0], (int)id, g, w, wpath, n,
                                     &e) != 0) {
            fprintf(stderr, "slimnas %s: %s\n", c->name, e.msg);
            return 1;
        }
        return 0;
    }
    const char *wp = sn_cli_get(a, "weights");
    if (!wp)
        return sn_cli_usage_error(c, "--weights W.bin is required with "
                                  "GRAPH.json");
    *used_pos = 1;
    *g = sn_graph_load(a->pos[0], &e);
    if (!*g) {
        fprintf(stderr, "slimnas %s: %s\n", c->name, e.msg);
        return 1;
    }
    *w = sn_weights_load(*g, wp, &e);
    if (!*w) {
        fprintf(stderr, "slimnas %s: %s\n", c->name, e.msg);
        sn_graph_free(*g);
        *g = NULL;
        return 1;
    }
    snprintf(wpath, n, "%s", wp);
    return 0;
}

/* The model's info, else the dataset's (saying so), else NULL. */
static const sn_model_info *resolve_info(const char *cmd, const sn_graph *g,
                                         const sn_weights *w,
                                         const sn_data *d, const char *wpath,
                                         sn_model_info *tmp) {
    const sn_model_info *mi = sn_model_info_pick(g, w);
    if (mi && mi->c == g->input.c) return mi;
    if (!d) return NULL;
    sn_model_info_from_data(tmp, d);
    if (!tmp->known) return NULL;
    fprintf(stderr, "slimnas %s: %s holds no normalisation; using %s's "
            "mean/std\n", cmd, wpath, sn_data_name(d));
    return tmp;
}

static sn_data *open_data(const char *cmd, const char *spec) {
    sn_error e;
    sn_data_opts o = sn_data_opts_default();
    sn_data *d = sn_data_open(spec, &o, &e);
    if (!d) fprintf(stderr, "slimnas %s: %s\n", cmd, e.msg);
    return d;
}

static int cmd_export(int argc, char **argv) {
    sn_cli_args a;
    int rc = sn_cli_parse(&sn_cmd_export, argc, argv, &a);
    if (rc) return rc == 1 ? 0 : rc;
    const sn_cli_cmd *c = &sn_cmd_export;
    sn_export_opts o = sn_export_opts_default();
    const char *v = sn_cli_get(&a, "format");
    if (v) {
        int f = sn_export_format_from_name(v);
        if (f < 0)
            return sn_cli_usage_error(c, "unknown format '%s' (formats: "
                                      "onnx, c, c-int8)", v);
        o.format = (sn_export_format)f;
    }
    const char *out = sn_cli_get(&a, "output");
    if (!out) return sn_cli_usage_error(c, "-o PATH is required");
    o.fold_bn = !sn_cli_flag(&a, "no-fold-bn");
    o.raw_input = sn_cli_flag(&a, "raw-input");
    o.bench = sn_cli_flag(&a, "bench");
    if (sn_cli_flag(&a, "int8")) {
        if (o.format == SN_EXPORT_C) o.format = SN_EXPORT_C_INT8;
        else if (o.format == SN_EXPORT_ONNX) o.int8 = 1;
    }
    if (o.int8 && !o.fold_bn)
        return sn_cli_usage_error(c, "--no-fold-bn is for float ONNX: "
                                  "int8 ONNX always folds batch norm");
    if ((v = sn_cli_get(&a, "calibrate"))) {
        long l;
        if (sn_parse_long(v, 1, 1000000, &l))
            return sn_cli_usage_error(c, "--calibrate needs a count in [1, "
                                      "1000000], got '%s'", v);
        o.calibrate = (int)l;
    }
    sn_graph *g;
    sn_weights *w;
    char wpath[4096];
    int used = 0;
    if ((rc = load_model(&a, &g, &w, wpath, sizeof wpath, &used))) return rc;
    if (a.n_pos != used) {
        sn_graph_free(g);
        sn_weights_free(w);
        return sn_cli_usage_error(c, "unexpected argument '%s'",
                                  a.pos[used]);
    }
    if (used == 2) fprintf(stderr, "using weights %s\n", wpath);
    sn_data *d = NULL;
    int status = 1;
    if ((v = sn_cli_get(&a, "data"))) {
        if (!(d = open_data("export", v))) goto out;
        sn_error e;
        if (sn_train_check_fit(g, d, &e) != 0) {
            fprintf(stderr, "slimnas export: %s\n", e.msg);
            goto out;
        }
    }
    sn_model_info tmp;
    const sn_model_info *mi =
        resolve_info("export", g, w, d, wpath, &tmp);
    if (!d && (o.format == SN_EXPORT_C_INT8 || o.int8) && mi &&
        mi->dataset[0]) {
        /* calibration images from the dataset the weights were trained on */
        fprintf(stderr, "calibrating on %s (the weights' dataset; --data "
                "SPEC to choose)\n", mi->dataset);
        if (!(d = open_data("export", mi->dataset))) goto out;
    }
    if (d && mi && mi != &tmp) sn_data_set_norm(d, mi->mean, mi->std);
    o.data = d;
    char summary[1024];
    sn_error e;
    if (sn_export_model(g, w, mi, &o, out, summary, sizeof summary, NULL,
                        &e) != 0) {
        fprintf(stderr, "slimnas export: %s\n", e.msg);
        goto out;
    }
    printf("%s\n", summary);
    status = 0;
out:
    sn_data_free(d);
    sn_weights_free(w);
    sn_graph_free(g);
    return status;
}

/* ---- images --------------------------------------------------------- */

/* One decoded image: 8-bit samples, ch channels interleaved. */
typedef struct image {
    int w, h, ch;
    unsigned char *px;
} image;

static int pnm_int(FILE *f, int *v) {
    int c;
    for (;;) { /* whitespace and # comments */
        c = fgetc(f);
        if (c == '#')
            while (c != '\n' && c != EOF) c = fgetc(f);
        else if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
    }
    if (c < '0' || c > '9') return -1;
    long x = 0;
    while (c >= '0' && c <= '9') {
        x = x * 10 + (c - '0');
        if (x > 1 << 20) return -1;
        c = fgetc(f);
    }
    *v = (int)x;
    return 0; /* the one whitespace after the number is consumed */
}

static int read_pnm(FILE *f, const char *path, int kind, image *im,
                    sn_error *e) {
    int maxv;
    if (pnm_int(f, &im->w) || pnm_int(f, &im->h) || pnm_int(f, &maxv) ||
        im->w < 1 || im->h < 1 || maxv < 1 || maxv > 65535)
        return sn_errf(e, "%s: bad PGM/PPM header", path);
    im->ch = kind == 2 || kind == 5 ? 1 : 3;
    size_t n = (size_t)im->w * im->h * im->ch;
    im->px = sn_xmalloc(n);
    for (size_t i = 0; i < n; i++) {
        int v;
        if (kind >= 5) {
            int hi = fgetc(f), lo = maxv > 255 ? fgetc(f) : 0;
            if (hi == EOF || lo == EOF)
                return sn_errf(e, "%s: truncated (%zu of %zu samples)", path,
                               i, n);
            v = maxv > 255 ? hi << 8 | lo : hi;
        } else if (pnm_int(f, &v)) {
            return sn_errf(e, "%s: truncated or bad sample %zu", path, i + 1);
        }
        if (v > maxv)
            return sn_errf(e, "%s: sample %d above the maximum %d", path, v,
                           maxv);
        im->px[i] = (unsigned char)((v * 255 + maxv / 2) / maxv);
    }
    return 0;
}

static int read_png(FILE *f, const char *path, int want_ch, image *im,
                    sn_error *e) {
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_stdio(&pi, f))
        return sn_errf(e, "%s: %s", path, pi.message);
    pi.format = want_ch == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    im->w = (int)pi.width;
    im->h = (int)pi.height;
    im->ch = want_ch == 1 ? 1 : 3;
    im->px = sn_xmalloc(PNG_IMAGE_SIZE(pi));
    if (!png_image_finish_read(&pi, NULL, im->px, 0, NULL)) {
        sn_errf(e, "%s: %s", path, pi.message);
        png_image_free(&pi);
        return -1;
    }
    return 0;
}

/* Reads path into x [C][H][W] as pixel / 255 (not yet normalised). */
static int load_image(const char *path, sn_shape s, float *x, sn_error *e) {
    FILE *f = fopen(path, "rb");
    if (!f) return sn_errf(e, "%s: %s", path, strerror(errno));
    image im = {0, 0, 0, NULL};
    unsigned char sig[8];
    size_t got = fread(sig, 1, 8, f);
    int rc;
    if (got == 8 && !png_sig_cmp(sig, 0, 8)) {
        rewind(f);
        rc = read_png(f, path, s.c, &im, e);
    } else if (got >= 2 && sig[0] == 'P' && strchr("2356", sig[1])) {
        fseek(f, 2, SEEK_SET);
        rc = read_pnm(f, path, sig[1] - '0', &im, e);
    } else {
        rc = sn_errf(e, "%s: not a PNG, PGM or PPM image", path);
    }
    fclose(f);
    if (rc == 0 && (im.w != s.w || im.h != s.h))
        rc = sn_errf(e, "%s: the image is %dx%d (WxH), the model takes %dx%d",
                     path, im.w, im.h, s.w, s.h);
    if (rc == 0 && s.c != 1 && s.c != 3 && im.ch != s.c)
        rc = sn_errf(e, "%s: the model takes %d channels", path, s.c);
    if (rc == 0) {
        size_t hw = (size_t)s.h * s.w;
        for (int c = 0; c < s.c; c++)
            for (size_t i = 0; i < hw; i++) {
                double v;
                if (im.ch == s.c) v = im.px[i * im.ch + c];
                else if (im.ch == 1) v = im.px[i]; /* grey to colour */
                else /* colour to grey, ITU-R BT.601 luma */
                    v = 0.299 * im.px[i * 3] + 0.587 * im.px[i * 3 + 1] +
                        0.114 * im.px[i * 3 + 2];
                x[c * hw + i] = (float)(v / 255.0);
            }
    }
    free(im.px);
    return rc;
}

static void print_result(const char *label, const float *logits, int k,
                         const sn_model_info *mi, int all, int truth) {
    int best = 0;
    for (int j = 1; j < k; j++)
        if (logits[j] > logits[best]) best = j;
    double sum = 0;
    for (int j = 0; j < k; j++) sum += exp((double)logits[j] - logits[best]);
    char b1[16], b2[16];
    printf("%s: %d %s  score %.4f", label, best,
           sn_model_info_class(mi, best, b1, sizeof b1), 1.0 / sum);
    if (truth >= 0)
        printf("  (true %d %s)", truth,
               sn_model_info_class(mi, truth, b2, sizeof b2));
    if (all) {
        printf("  logits");
        for (int j = 0; j < k; j++) printf(" %.9g", (double)logits[j]);
    }
    printf("\n");
}

static int cmd_predict(int argc, char **argv) {
    sn_cli_args a;
    int rc = sn_cli_parse(&sn_cmd_predict, argc, argv, &a);
    if (rc) return rc == 1 ? 0 : rc;
    const sn_cli_cmd *c = &sn_cmd_predict;
    const char *spec = sn_cli_get(&a, "data"), *v;
    long count = 10, first = 0;
    sn_split split = SN_SPLIT_TEST;
    if ((v = sn_cli_get(&a, "count")) &&
        sn_parse_long(v, 1, 100000000L, &count))
        return sn_cli_usage_error(c, "--count needs a positive count, got "
                                  "'%s'", v);
    if ((v = sn_cli_get(&a, "first")) &&
        sn_parse_long(v, 0, 100000000L, &first))
        return sn_cli_usage_error(c, "--first needs an index, got '%s'", v);
    if ((v = sn_cli_get(&a, "split"))) {
        if (!strcmp(v, "test")) split = SN_SPLIT_TEST;
        else if (!strcmp(v, "val")) split = SN_SPLIT_VAL;
        else if (!strcmp(v, "train")) split = SN_SPLIT_TRAIN;
        else return sn_cli_usage_error(c, "--split takes test, val or train");
    }
    sn_graph *g;
    sn_weights *w;
    char wpath[4096];
    int used = 0;
    if ((rc = load_model(&a, &g, &w, wpath, sizeof wpath, &used))) return rc;
    int n_img = a.n_pos - used;
    sn_data *d = NULL;
    sn_exec *ex = NULL;
    float *x = NULL;
    int status = 1;
    if (n_img == 0 && !spec) {
        rc = sn_cli_usage_error(c, "give IMAGE files, or --data SPEC");
        sn_graph_free(g);
        sn_weights_free(w);
        return rc;
    }
    sn_error e;
    if (spec) {
        if (!(d = open_data("predict", spec))) goto out;
        if (sn_train_check_fit(g, d, &e) != 0) {
            fprintf(stderr, "slimnas predict: %s\n", e.msg);
            goto out;
        }
    }
    sn_model_info tmp;
    const sn_model_info *mi = resolve_info("predict", g, w, d, wpath, &tmp);
    if (!mi) {
        fprintf(stderr, "slimnas predict: %s holds no normalisation (it "
                "predates it): give --data SPEC to take the dataset's\n",
                wpath);
        goto out;
    }
    sn_shape s = g->input;
    size_t sz = (size_t)sn_shape_size(s), hw = (size_t)s.h * s.w;
    x = sn_falloc(sz);
    ex = sn_exec_new(g, w, 1);
    int all = sn_cli_flag(&a, "logits");
    for (int i = 0; i < n_img; i++) {
        if (load_image(a.pos[used + i], s, x, &e) != 0) {
            fprintf(stderr, "slimnas predict: %s\n", e.msg);
            goto out;
        }
        for (int ch = 0; ch < s.c; ch++)
            for (size_t j = 0; j < hw; j++)
                x[ch * hw + j] = (x[ch * hw + j] - mi->mean[ch]) / mi->std[ch];
        print_result(a.pos[used + i], sn_exec_forward(ex, x, 1, 0),
                     g->classes, mi, all, -1);
    }
    if (d && n_img == 0) {
        /* the dataset's raw pixels through the model's own normalisation,
         * as a device would see them */
        int total = sn_data_count(d, split);
        if (first >= total) {
            fprintf(stderr, "slimnas predict: --first %ld: the %s split has "
                    "%d images\n", first, sn_split_name(split), total);
            goto out;
        }
        int end = first + count < total ? (int)(first + count) : total;
        const int *labels = sn_data_labels(d, split);
        int hits = 0;
        for (int i = (int)first; i < end; i++) {
            const uint8_t *px = sn_data_raw(d, split, i);
            for (int ch = 0; ch < s.c; ch++)
                for (size_t j = 0; j < hw; j++)
                    x[ch * hw + j] =
                        (float)((px[ch * hw + j] / 255.0f - mi->mean[ch]) /
                                mi->std[ch]);
            const float *lg = sn_exec_forward(ex, x, 1, 0);
            char label[64];
            snprintf(label, sizeof label, "%s %s #%d", sn_data_name(d),
                     sn_split_name(split), sn_data_file_index(d, split, i));
            print_result(label, lg, g->classes, mi, all, labels[i]);
            int best = 0;
            for (int j = 1; j < g->classes; j++)
                if (lg[j] > lg[best]) best = j;
            hits += best == labels[i];
        }
        printf("%d of %d correct (%.2f%%)\n", hits, end - (int)first,
               100.0 * hits / (end - (int)first));
    }
    status = 0;
out:
    sn_free_aligned(x);
    sn_exec_free(ex);
    sn_data_free(d);
    sn_weights_free(w);
    sn_graph_free(g);
    return status;
}
