/* export.c — one entry point for every export format, and loading a run's
 * candidate for export. The standalone C generator (slimnas/export_c.h)
 * is used when the build has it. */
#include <cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slimnas/data.h"
#include "slimnas/export.h"
#include "slimnas/search.h"

#include "slimnas/export_c.h"

const char *const sn_export_format_names[] = {"onnx", "c", "c-int8", NULL};

int sn_export_format_from_name(const char *name) {
    for (int i = 0; sn_export_format_names[i]; i++)
        if (name && !strcmp(name, sn_export_format_names[i])) return i;
    return -1;
}

sn_export_opts sn_export_opts_default(void) {
    sn_export_opts o;
    memset(&o, 0, sizeof o);
    o.format = SN_EXPORT_ONNX;
    o.fold_bn = 1;
    return o;
}

static void fmt_bytes(char *b, size_t n, int64_t v) {
    if (v >= 10 * 1024 * 1024) snprintf(b, n, "%.1f MiB", v / 1048576.0);
    else if (v >= 10 * 1024) snprintf(b, n, "%.1f KiB", v / 1024.0);
    else snprintf(b, n, "%lld B", (long long)v);
}

static int export_c(const sn_graph *g, const sn_weights *w,
                    const sn_model_info *mi, const sn_export_opts *o,
                    const char *path, char *summary, size_t n,
                    sn_export_report *rep, sn_error *e) {
    int int8 = o->format == SN_EXPORT_C_INT8;
    if (!o->raw_input && !mi)
        return sn_errf(e, "the input normalisation is unknown (the weights "
                       "predate it): give --data SPEC to take it from a "
                       "dataset, or --raw-input for a model that takes "
                       "normalised input");
    if (int8 && !o->data)
        return sn_errf(e, "c-int8 calibrates on training images: give "
                       "--data SPEC");
    sn_export_c_opts co = sn_export_c_opts_default();
    co.int8 = int8;
    if (o->calibrate > 0) co.calibrate_n = o->calibrate;
    co.calib = int8 ? o->data : NULL;
    const char *names[SN_INFO_MAX_CLASSES];
    int have_names = mi && mi->n_names == g->classes;
    for (int k = 0; have_names && k < g->classes; k++) names[k] = mi->names[k];
    sn_export_c_report cr;
    if (sn_export_c(g, w, o->raw_input ? NULL : mi->mean,
                    o->raw_input ? NULL : mi->std,
                    have_names ? names : NULL, &co, path, &cr, e) != 0)
        return -1;
    memset(rep, 0, sizeof *rep);
    rep->weight_bytes = cr.weight_bytes;
    rep->params = cr.params;
    char wb[32], ab[32];
    fmt_bytes(wb, sizeof wb, cr.weight_bytes);
    fmt_bytes(ab, sizeof ab, cr.arena_bytes);
    int k = snprintf(summary, n, "wrote %s and %s (%s): %lld params, %s of "
                     "weights, %s arena (peak activations %lld B)",
                     cr.header, cr.source, int8 ? "int8" : "float32",
                     (long long)cr.params, wb, ab,
                     (long long)cr.stats_peak_bytes);
    if (o->data && k > 0 && (size_t)k < n) {
        /* test accuracy of what was written, float and (for int8) int8 */
        double acc_f, acc_q = -1;
        sn_export_c_opts fo = co;
        fo.int8 = 0;
        if (sn_export_c_accuracy(g, w, o->raw_input ? NULL : mi->mean,
                                 o->raw_input ? NULL : mi->std, &fo, o->data,
                                 SN_SPLIT_TEST, 0, &acc_f, e) != 0 ||
            (int8 && sn_export_c_accuracy(g, w, o->raw_input ? NULL : mi->mean,
                                          o->raw_input ? NULL : mi->std, &co,
                                          o->data, SN_SPLIT_TEST, 0, &acc_q,
                                          e) != 0))
            return -1;
        k += snprintf(summary + k, n - (size_t)k, "; test accuracy float "
                      "%.2f%%", 100 * acc_f);
        if (int8 && k > 0 && (size_t)k < n)
            k += snprintf(summary + k, n - (size_t)k, ", int8 %.2f%%",
                          100 * acc_q);
    }
    if (o->bench && k > 0 && (size_t)k < n) {
        double sec;
        if (sn_export_c_bench(path, NULL, 0, &sec, e) != 0) return -1;
        snprintf(summary + k, n - (size_t)k, "; %.1f us per image (batch 1,"
                 " this machine)", sec * 1e6);
    }
    return 0;
}

int sn_export_model(const sn_graph *g, const sn_weights *w,
                    const sn_model_info *mi, const sn_export_opts *o,
                    const char *path, char *summary, size_t n,
                    sn_export_report *rep, sn_error *e) {
    sn_export_report dummy;
    if (!rep) rep = &dummy;
    if (summary && n) summary[0] = 0;
    if (o->format == SN_EXPORT_ONNX) {
        if (o->bench)
            return sn_errf(e, "--bench times the generated C: use --format "
                           "c or c-int8");
        sn_export_onnx_opts oo = sn_export_onnx_opts_default();
        oo.fold_bn = o->fold_bn;
        oo.raw_input = o->raw_input;
        oo.int8 = o->int8;
        oo.calibrate = o->calibrate;
        oo.calib = o->data;
        if (sn_export_onnx(g, w, mi, &oo, path, rep, e) != 0) return -1;
        char fb[32], wb[32];
        fmt_bytes(fb, sizeof fb, rep->bytes);
        fmt_bytes(wb, sizeof wb, rep->weight_bytes);
        if (!summary) return 0;
        int k = snprintf(summary, n, "wrote %s (ONNX opset 13%s, %s): %d "
                         "nodes, %lld weights (%s)%s%s", path,
                         o->int8 ? ", int8 QLinear" : "", fb, rep->nodes,
                         (long long)rep->params, wb,
                         rep->folded_bn ? ", batch norm folded" : "",
                         o->raw_input ? ", input already normalised"
                                      : ", input raw pixels / 255");
        if (o->int8 && k > 0 && (size_t)k < n) {
            /* the int8 model's test accuracy: that of the int8 C program
             * it encodes (same scales; tests/onnx_check.py checks that an
             * independent runtime agrees) */
            double acc_f, acc_q;
            sn_export_c_opts co = sn_export_c_opts_default();
            if (o->calibrate > 0) co.calibrate_n = o->calibrate;
            co.calib = o->data;
            const float *mean = o->raw_input ? NULL : mi->mean;
            const float *std = o->raw_input ? NULL : mi->std;
            co.int8 = 0;
            if (sn_export_c_accuracy(g, w, mean, std, &co, o->data,
                                     SN_SPLIT_TEST, 0, &acc_f, e) != 0)
                goto bad;
            co.int8 = 1;
            if (sn_export_c_accuracy(g, w, mean, std, &co, o->data,
                                     SN_SPLIT_TEST, 0, &acc_q, e) != 0)
                goto bad;
            snprintf(summary + k, n - (size_t)k, "; test accuracy float "
                     "%.2f%%, int8 %.2f%%", 100 * acc_f, 100 * acc_q);
        }
        return 0;
    bad:
        unlink(path); /* nothing left behind on failure */
        return -1;
    }
    char tmp[8];
    return export_c(g, w, mi, o, path, summary ? summary : tmp,
                    summary ? n : sizeof tmp, rep, e);
}

int sn_export_load_candidate(const char *run_dir, int id, sn_graph **g,
                             sn_weights **w, char *wpath, size_t n,
                             sn_error *e) {
    *g = NULL;
    *w = NULL;
    char p[4096];
    snprintf(p, sizeof p, "%s/cand", run_dir);
    struct stat st;
    if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode))
        return sn_errf(e, "%s: not a slimnas run (no cand/ folder)", run_dir);
    snprintf(p, sizeof p, "%s/cand/%d.json", run_dir, id);
    if (access(p, F_OK) != 0)
        return sn_errf(e, "%s: no candidate %d", run_dir, id);
    *g = sn_graph_load(p, e);
    if (!*g) return -1;
    snprintf(p, sizeof p, "%s/cand/%d.final.bin", run_dir, id);
    if (access(p, F_OK) != 0) {
        snprintf(p, sizeof p, "%s/cand/%d.bin", run_dir, id);
        if (access(p, F_OK) != 0) {
            sn_graph_free(*g);
            *g = NULL;
            return sn_errf(e, "%s: candidate %d has no weights (it was never"
                           " trained: failed, stopped or still queued)",
                           run_dir, id);
        }
    }
    *w = sn_weights_load(*g, p, e);
    if (!*w) {
        sn_graph_free(*g);
        *g = NULL;
        return -1;
    }
    if (wpath) snprintf(wpath, n, "%s", p);
    return 0;
}

int sn_export_formats_parse(const char *list, unsigned *mask, sn_error *e) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    *mask = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t;
         t = strtok_r(NULL, ",", &save)) {
        int f = sn_export_format_from_name(t);
        if (f < 0)
            return sn_errf(e, "unknown format '%.40s' (formats: onnx, c, "
                           "c-int8)", t);
        *mask |= 1u << f;
    }
    if (!*mask) return sn_errf(e, "no format given (onnx, c, c-int8)");
    return 0;
}

int sn_export_front(const char *run_dir, const sn_cand_info *cands,
                    const int *ids, int n, unsigned formats,
                    const sn_search_settings *settings, const char *out_dir,
                    FILE *log, sn_error *e) {
    if (mkdir(out_dir, 0777) != 0 && errno != EEXIST)
        return sn_errf(e, "%s: %s", out_dir, strerror(errno));
    sn_data *data = NULL;
    if ((formats & (1u << SN_EXPORT_C_INT8)) && settings) {
        sn_data_opts dopt = sn_settings_data_opts(settings, 1);
        if (!(data = sn_data_open(settings->data, &dopt, e))) return -1;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "format", "slimnas-front-export");
    cJSON_AddStringToObject(root, "run", run_dir);
    cJSON *arr = cJSON_AddArrayToObject(root, "members");
    int rc = 0;
    for (int k = 0; k < n && rc == 0; k++) {
        const sn_cand_info *c = &cands[ids[k]];
        sn_graph *g;
        sn_weights *w;
        char wpath[4096];
        if (sn_export_load_candidate(run_dir, c->id, &g, &w, wpath,
                                     sizeof wpath, e) != 0) {
            rc = -1;
            break;
        }
        cJSON *m = cJSON_CreateObject();
        cJSON_AddNumberToObject(m, "id", c->id);
        cJSON_AddStringToObject(m, "op", c->op);
        cJSON_AddNumberToObject(m, "params", (double)c->params);
        cJSON_AddNumberToObject(m, "flops", (double)c->flops);
        cJSON_AddNumberToObject(m, "memory", (double)c->memory);
        cJSON_AddNumberToObject(m, "val_acc", c->val_acc);
        if (c->test_acc >= 0)
            cJSON_AddNumberToObject(m, "test_acc", c->test_acc);
        if (c->final_val_acc >= 0)
            cJSON_AddNumberToObject(m, "final_val_acc", c->final_val_acc);
        cJSON_AddStringToObject(m, "weights", wpath);
        cJSON *files = cJSON_AddObjectToObject(m, "files");
        cJSON_AddItemToArray(arr, m);
        const sn_model_info *mi = sn_model_info_pick(g, w);
        for (int f = 0; f < SN_EXPORT_FORMAT_COUNT && rc == 0; f++) {
            if (!(formats & (1u << f))) continue;
            char name[64], path[4200], summary[1024];
            snprintf(name, sizeof name, f == SN_EXPORT_ONNX ? "cand-%d.onnx"
                                                           : "cand-%d-%s",
                     c->id, sn_export_format_names[f]);
            snprintf(path, sizeof path, "%s/%s", out_dir, name);
            sn_export_opts o = sn_export_opts_default();
            o.format = (sn_export_format)f;
            o.data = data;
            sn_export_report rep;
            if (sn_export_model(g, w, mi, &o, path, summary, sizeof summary,
                                &rep, e) != 0) {
                sn_err_prefix(e, "candidate %d: ", c->id);
                rc = -1;
                break;
            }
            if (log) fprintf(log, "%s\n", summary);
            cJSON *fo = cJSON_AddObjectToObject(files,
                                                sn_export_format_names[f]);
            cJSON_AddStringToObject(fo, "path", name);
            cJSON_AddNumberToObject(fo, "weight_bytes",
                                    (double)rep.weight_bytes);
            if (f == SN_EXPORT_ONNX)
                cJSON_AddNumberToObject(fo, "bytes", (double)rep.bytes);
        }
        sn_weights_free(w);
        sn_graph_free(g);
    }
    if (rc == 0) {
        char *text = cJSON_Print(root);
        char path[4200];
        snprintf(path, sizeof path, "%s/front.json", out_dir);
        size_t len = strlen(text);
        text = sn_xrealloc(text, len + 2);
        memcpy(text + len, "\n", 2);
        rc = sn_write_atomic(path, text, len + 1, e);
        if (rc == 0 && log) fprintf(log, "wrote %s (%d members)\n", path, n);
        free(text);
    }
    cJSON_Delete(root);
    sn_data_free(data);
    return rc;
}

int sn_export_command(const char *run_dir, const char *args, int n_cands,
                      const sn_search_settings *settings, char *msg,
                      size_t n, char *prompt, size_t pn) {
    char buf[1024], *w[4] = {0};
    int nw = 0;
    snprintf(buf, sizeof buf, "%s", args ? args : "");
    for (char *save = NULL, *t = strtok_r(buf, " \t", &save); t && nw < 4;
         t = strtok_r(NULL, " \t", &save))
        w[nw++] = t;
    long id;
    if (nw < 1 || nw > 3 || sn_parse_long(w[0], 0, 1000000000L, &id)) {
        snprintf(msg, n, "usage: export ID FORMAT PATH (formats: onnx, c, "
                 "c-int8)");
        return -1;
    }
    if (id >= n_cands) {
        snprintf(msg, n, "no candidate #%ld", id);
        return -1;
    }
    int f = nw >= 2 ? sn_export_format_from_name(w[1]) : SN_EXPORT_ONNX;
    if (f < 0) {
        snprintf(msg, n, "unknown format '%.40s' (formats: onnx, c, c-int8)",
                 w[1]);
        return -1;
    }
    if (nw < 3) { /* ask: the line with a suggested path, for editing */
        snprintf(prompt, pn, "export %ld %s cand-%ld%s", id,
                 sn_export_format_names[f], id,
                 f == SN_EXPORT_ONNX ? ".onnx"
                 : f == SN_EXPORT_C  ? "-c"
                                     : "-c-int8");
        snprintf(msg, n, "export #%ld: format (onnx, c, c-int8) and path, "
                 "Tab completes, Enter writes", id);
        return 1;
    }
    sn_error e;
    sn_graph *g;
    sn_weights *wt;
    char wpath[4096];
    if (sn_export_load_candidate(run_dir, (int)id, &g, &wt, wpath,
                                 sizeof wpath, &e) != 0) {
        snprintf(msg, n, "%s", e.msg);
        return -1;
    }
    sn_data *d = NULL;
    int rc = 0;
    if (f == SN_EXPORT_C_INT8 && settings) {
        sn_data_opts o = sn_settings_data_opts(settings, 1);
        if (!(d = sn_data_open(settings->data, &o, &e))) rc = -1;
    }
    sn_export_opts o = sn_export_opts_default();
    o.format = (sn_export_format)f;
    o.data = d;
    char summary[1024];
    if (rc == 0 && sn_export_model(g, wt, sn_model_info_pick(g, wt), &o,
                                   w[2], summary, sizeof summary, NULL,
                                   &e) != 0)
        rc = -1;
    if (rc == 0) {
        const char *base = strrchr(wpath, '/');
        snprintf(msg, n, "%s (weights %s)", summary, base ? base + 1 : wpath);
    } else {
        snprintf(msg, n, "%s", e.msg);
    }
    sn_data_free(d);
    sn_weights_free(wt);
    sn_graph_free(g);
    return rc;
}
