/* slimnas/export_c.h — a network as standalone C for devices: float32 or
 * int8, one source and one header, C99, no malloc, no library beyond
 * <math.h>, <stdint.h> and <string.h>.
 *
 *   sn_export_c_opts o = sn_export_c_opts_default();   // float, "model"
 *   sn_export_c_report r;
 *   if (sn_export_c(g, w, mean, std, names, &o, "out", &r, &err)) ...
 *   // out/model.h, out/model.c; r.arena_bytes, r.weight_bytes
 *
 * The generated code (see README "Standalone C"):
 *   int model_predict(const float *input, float *logits);
 * input is one image of raw pixels in [0, 1] (pixel / 255), CHW order
 * (channel planes, each row-major: input[(c * H + y) * W + x]); the
 * normalisation (x - mean[c]) / std[c] is done inside (mean/std NULL: the
 * input is taken as already normalised). logits gets MODEL_CLASSES floats,
 * the return value is the argmax (first maximum).
 *
 * Inference lowering (shared by the float and int8 code and by
 * sn_export_c_arena_bytes): batch norm is folded into the conv or dense
 * that feeds it (when it is that layer's only reader), a relu/relu6 that is
 * a conv's, dense's or batch norm's only reader is applied in the same
 * step, a relu/relu6, a standalone batch norm and an add write over an
 * input that nobody reads afterwards, flatten and dropout are views of
 * their input. Every remaining tensor gets an interval of steps (from the
 * step that writes it to the last step that reads it; the output lives to
 * the end) and an offset in one static arena: tensors whose intervals do
 * not overlap share bytes (greedy first fit, largest first or in order of
 * definition, whichever is smaller). The arena is never larger than the
 * peak activation memory of sn_stats_compute (which keeps every node's
 * output separately), and usually smaller; `slimnas stats` prints both.
 *
 * int8: per-output-channel symmetric int8 weights (scale max|w| / 127),
 * int32 bias and accumulation, int8 activations with one symmetric scale
 * per tensor (max |x| / 127 over calib_n training images, run through
 * slimnas's float forward), requantisation by an integer multiplier and a
 * rounding right shift (no float in the layers); the input is quantised
 * from floats and a final conv/dense writes float logits directly. The
 * arena holds int8, so it is exactly a quarter of the float one.
 */
#ifndef SLIMNAS_EXPORT_C_H
#define SLIMNAS_EXPORT_C_H

#include "slimnas/data.h"
#include "slimnas/graph.h"

typedef struct sn_export_c_opts {
    int int8;              /* 0 float32, 1 int8 */
    int calibrate_n;       /* int8: calibration images (default 1000) */
    const sn_data *calib;  /* int8: data whose training split calibrates
                              (raw pixels, normalised with the mean/std
                              given to the exporter); NULL when !int8 */
    const char *prefix;    /* symbol and file prefix, a C identifier;
                              NULL = "model" (model.h, model_predict) */
    uint64_t seed;         /* which training images calibrate (default 1) */
} sn_export_c_opts;

sn_export_c_opts sn_export_c_opts_default(void);

typedef struct sn_export_c_report {
    int64_t params;        /* trainable parameters of the graph */
    int64_t weight_bytes;  /* bytes of every constant array in model.c */
    int64_t arena_bytes;   /* the static arena */
    int64_t live_bytes;    /* largest sum of live tensors of the plan (the
                              lower bound the arena's packing reaches or
                              exceeds) */
    int64_t stats_peak_bytes; /* sn_graph_peak_bytes of the graph, times 1/4
                                 for int8 (element size 1 instead of 4) */
    int steps;             /* layer calls in model_predict */
    int calib_images;      /* int8: images actually used */
    char header[4096], source[4096]; /* paths written */
} sn_export_c_report;

/* Writes DIR/PREFIX.h and DIR/PREFIX.c (DIR is created if missing, one
 * level). mean/std: per input channel on the [0, 1] pixel scale, or NULL.
 * class_names: g->classes strings, or NULL ("0", "1", ...). On error
 * nothing new is left in DIR (nor DIR itself if it was created). */
int sn_export_c(const sn_graph *g, const sn_weights *w, const float *mean,
                const float *std, const char *const *class_names,
                const sn_export_c_opts *o, const char *dir,
                sn_export_c_report *rep, sn_error *e);

/* Arena bytes the C export of g would have (float32 or int8): the figure
 * `slimnas stats` prints next to its peak. -1 with e on an invalid graph. */
int64_t sn_export_c_arena_bytes(const sn_graph *g, int int8, sn_error *e);

/* Accuracy of the exported model on split s of d (at most max_n images,
 * 0 = all), computed in-process with a C reference that does exactly what
 * the generated code does: for int8 the same integer arithmetic, bit for
 * bit (tests check this against the compiled code); for float the same
 * kernels in float. Images go in as raw pixels / 255, like a device's.
 * Calibration as sn_export_c with the same options. */
int sn_export_c_accuracy(const sn_graph *g, const sn_weights *w,
                         const float *mean, const float *std,
                         const sn_export_c_opts *o, const sn_data *d,
                         sn_split s, int max_n, double *acc, sn_error *e);

/* The exported model in-process (the reference sn_export_c_accuracy
 * uses), for predictions and for other exporters that want the same
 * quantisation (an int8 ONNX with the C export's scales agrees with it).
 * The graph and weights must outlive it. */
typedef struct sn_export_c_model sn_export_c_model;

sn_export_c_model *sn_export_c_model_new(const sn_graph *g,
                                         const sn_weights *w,
                                         const float *mean, const float *std,
                                         const sn_export_c_opts *o,
                                         sn_error *e);
void sn_export_c_model_free(sn_export_c_model *m);
/* One image of raw [0, 1] pixels, CHW, as model_predict takes it; fills
 * g->classes logits and returns the argmax. Not thread-safe per model. */
int sn_export_c_model_predict(sn_export_c_model *m, const float *input,
                              float *logits);
/* int8 models: the activation scale of node's output (real = int8 *
 * scale; views and relu/relu6/max pool share their input's; the input
 * node's is that of the normalised input), 0 for float models. */
float sn_export_c_model_act_scale(const sn_export_c_model *m, int node);
/* int8 models: the per-output-channel weight scales of the conv or dense
 * at node (of its weights with any following bn folded in) into out (may
 * be NULL); returns their count, 0 when node is no conv/dense or the model
 * is float. Biases are int32 with scale act_scale(input) * weight scale. */
int sn_export_c_model_weight_scales(const sn_export_c_model *m, int node,
                                    float *out);

/* Compiles DIR/PREFIX.c with the system compiler ($CC, else cc; -std=c99
 * -O2, plus -march=native when the compiler takes it) and a generated
 * driver, then runs model_predict on one image repeatedly for at least
 * min_seconds of CPU time (0 = 1 s) and gives the mean CPU seconds per
 * image (batch 1, one thread; CPU time rather than wall time so that a
 * busy machine does not inflate it — on an idle core they are equal).
 * The build lives in a temporary folder, removed after. */
int sn_export_c_bench(const char *dir, const char *prefix,
                      double min_seconds, double *sec_per_image,
                      sn_error *e);

#endif
