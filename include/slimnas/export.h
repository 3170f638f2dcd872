/* slimnas/export.h — taking a trained network out of slimnas: ONNX files,
 * and the small protobuf writer they are encoded with.
 *
 *   sn_export_onnx_opts o = sn_export_onnx_opts_default();
 *   sn_export_report rep;
 *   if (sn_export_onnx(g, w, sn_model_info_pick(g, w), &o, "net.onnx",
 *                      &rep, &err)) ... err.msg
 *
 * The ONNX model (opset 13, IR version 7):
 *   input  "input"  float32 [N, C, H, W], N dynamic ("N"): raw pixels on
 *                   the [0, 1] scale (byte / 255); with raw_input, already
 *                   normalised as (p - mean[c]) / std[c]
 *   output "logits" float32 [N, classes] (no softmax)
 * The normalisation is a leading Sub and Div by [C, 1, 1] initializers
 * "input_mean" and "input_std".
 * conv -> Conv (depthwise: group = channels), dense -> Gemm (transB = 1),
 * bn -> folded into the conv or dense it follows when that layer feeds
 * only the bn (fold_bn), else BatchNormalization; relu -> Relu, relu6 ->
 * Clip(0, 6), max/avg pool -> MaxPool / AveragePool (count_include_pad),
 * gap -> GlobalAveragePool, flatten -> Flatten, add -> Add (a chain for
 * more than two inputs), concat -> Concat(axis 1), dropout -> nothing
 * (identity in inference). A [N, C, 1, 1] tensor read by a Gemm goes
 * through Flatten, a [N, C] one read by a 4-d op through Unsqueeze.
 * metadata_props carry the layout, mean/std and class names.
 *
 * int8 ONNX (int8 = 1): the int8 C export's program (export_c.h: folded
 * bn, fused relu/relu6, per-output-channel symmetric int8 weights, int32
 * biases, one symmetric int8 scale per activation calibrated on training
 * images) in QLinear form, default domain only: the normalised input goes
 * through QuantizeLinear; conv and dense are QLinearConv (dense as a 1x1
 * conv on [N, C, 1, 1], so it keeps its int32 bias) with int8 weight
 * initializers and per-channel weight scales; max pool, flatten and
 * reshape work on int8; the ops without a default-domain int8 form (add,
 * concat with rescaling, average pools, relu/relu6, unfolded bn) run as
 * DequantizeLinear -> float op -> QuantizeLinear at the int8 C's scales;
 * the last tensor goes through DequantizeLinear (and Flatten) to "logits".
 * Every int8 tensor T is named "T_quantized" with scalar initializers
 * "T_scale" and "T_zero_point" (0): the names onnxruntime's quantiser
 * gives them, which OpenCV's importer relies on. */
#ifndef SLIMNAS_EXPORT_H
#define SLIMNAS_EXPORT_H

#include "slimnas/graph.h"

/* ---- protobuf writer (the wire format subset ONNX needs) ---------------- */

typedef struct sn_pb {
    unsigned char *p;
    size_t n, cap;
} sn_pb;

enum { SN_PB_VARINT = 0, SN_PB_I64 = 1, SN_PB_LEN = 2, SN_PB_I32 = 5 };

void sn_pb_free(sn_pb *b);
void sn_pb_raw(sn_pb *b, const void *data, size_t n);
void sn_pb_varint(sn_pb *b, uint64_t v);      /* base-128, low group first */
void sn_pb_tag(sn_pb *b, int field, int wire); /* (field << 3) | wire */
/* Field writers: int64 as a varint (negative: ten bytes, two's
 * complement), float as 4 little-endian bytes, bytes/strings/messages as
 * length-delimited. */
void sn_pb_int(sn_pb *b, int field, int64_t v);
void sn_pb_float(sn_pb *b, int field, float v);
void sn_pb_bytes(sn_pb *b, int field, const void *data, size_t n);
void sn_pb_string(sn_pb *b, int field, const char *s);
void sn_pb_msg(sn_pb *b, int field, const sn_pb *sub);

/* ---- ONNX -------------------------------------------------------------- */

typedef struct sn_export_onnx_opts {
    int fold_bn;   /* 1 (default): bn folded into the preceding conv/dense */
    int raw_input; /* 1: no Sub/Div; the model takes normalised input */
    /* int8 (QLinear form, see "int8 ONNX" below): the quantisation of the
     * int8 C export (export_c.h) with the same calibration */
    int int8;
    int calibrate;       /* calibration images (0: export_c.h's default) */
    const void *calib;   /* sn_data * whose training split calibrates */
    uint64_t seed;       /* which images (0: export_c.h's default) */
} sn_export_onnx_opts;

sn_export_onnx_opts sn_export_onnx_opts_default(void);

typedef struct sn_export_report {
    /* int8 ONNX: weight_bytes counts the int8 weights, int32 biases and
     * float weight scales; params the weights and biases */
    int64_t bytes;        /* file size */
    int64_t weight_bytes; /* float initializers (weights, biases, bn) */
    int64_t params;       /* scalars in those initializers */
    int nodes;            /* ONNX nodes */
    int folded_bn;        /* bn layers folded away */
} sn_export_report;

/* Encodes the model in memory (malloc'd bytes in *out, length *n). mi
 * (may be NULL) gives the normalisation; NULL without raw_input is an
 * error. -1 with a sentence in e. */
int sn_onnx_encode(const sn_graph *g, const sn_weights *w,
                   const sn_model_info *mi, const sn_export_onnx_opts *o,
                   unsigned char **out, size_t *n, sn_export_report *rep,
                   sn_error *e);
/* Encodes and writes path atomically (nothing is left on failure). */
int sn_export_onnx(const sn_graph *g, const sn_weights *w,
                   const sn_model_info *mi, const sn_export_onnx_opts *o,
                   const char *path, sn_export_report *rep, sn_error *e);

/* ---- any format ------------------------------------------------------- */

typedef enum {
    SN_EXPORT_ONNX,
    SN_EXPORT_C,      /* model.h + model.c in a folder (export_c.h) */
    SN_EXPORT_C_INT8, /* the same, int8 */
    SN_EXPORT_FORMAT_COUNT
} sn_export_format;

/* "onnx", "c", "c-int8"; NULL-terminated. */
extern const char *const sn_export_format_names[];
int sn_export_format_from_name(const char *name); /* -1 when unknown */

typedef struct sn_export_opts {
    sn_export_format format;
    int fold_bn;         /* onnx; default 1 */
    int raw_input;       /* no normalisation in the model */
    int calibrate;       /* c-int8: calibration images (0: the default) */
    const void *data;    /* sn_data *, for c-int8 calibration, or NULL */
    int bench;           /* c formats: compile and time the model */
    int int8;            /* onnx: the int8 (QLinear) model, calibrated on
                            data like c-int8 */
} sn_export_opts;

sn_export_opts sn_export_opts_default(void);

/* Writes one export of g with w to path (a file for onnx, a folder for
 * c/c-int8) and a one-line summary ("wrote net.onnx: ...") into summary.
 * mi: the normalisation and class names (sn_model_info_pick, or from a
 * dataset), NULL when unknown. Nothing is left behind on failure. */
int sn_export_model(const sn_graph *g, const sn_weights *w,
                    const sn_model_info *mi, const sn_export_opts *o,
                    const char *path, char *summary, size_t n,
                    sn_export_report *rep, sn_error *e);

/* A run's candidate: RUN/cand/ID.json with ID.final.bin when it exists,
 * else ID.bin. *g and *w are the caller's; wpath (may be NULL) gets the
 * weight file used. -1 with a sentence (no weights: the candidate was
 * never trained) in e. */
int sn_export_load_candidate(const char *run_dir, int id, sn_graph **g,
                             sn_weights **w, char *wpath, size_t n,
                             sn_error *e);

struct sn_cand_info;
struct sn_search_settings;

/* "onnx,c-int8" -> a mask of (1 << format); -1 with e for an unknown or
 * unavailable format or an empty list. */
int sn_export_formats_parse(const char *list, unsigned *mask, sn_error *e);

/* Exports the given front members of a run (ids into cands, as a
 * search snapshot lists them) in every format whose bit (1 << format) is
 * in formats: OUT/cand-ID.onnx, OUT/cand-ID-c/, OUT/cand-ID-c-int8/, and
 * OUT/front.json, an index of the members with their sizes, accuracies,
 * weight files and exported files. settings (may be NULL) name the run's
 * dataset, opened only for c-int8 calibration. Progress lines go to log
 * (may be NULL). -1 with e at the first failure (front.json is then not
 * written). */

/* The explorer's ":export ID FORMAT PATH" (`e` gives only ID): parses
 * args, exports candidate ID of the run (n_cands candidates so far) and
 * writes one line into msg. Returns 0 when done, 1 when FORMAT or PATH is
 * missing (prompt then gets a command line to offer for editing, e.g.
 * "export 3 onnx cand-3.onnx"), -1 on error (msg says why). settings (may
 * be NULL) name the run's dataset, opened only for c-int8 calibration. */
int sn_export_command(const char *run_dir, const char *args, int n_cands,
                      const struct sn_search_settings *settings, char *msg,
                      size_t n, char *prompt, size_t pn);
int sn_export_front(const char *run_dir, const struct sn_cand_info *cands,
                    const int *ids, int n, unsigned formats,
                    const struct sn_search_settings *settings,
                    const char *out_dir, FILE *log, sn_error *e);

#endif
