/* slimnas/data.h — datasets: IDX (MNIST, Fashion-MNIST; raw or gzip),
 * CIFAR-10 binary, a synthetic set for tests; train / validation / test
 * splits, per-channel normalisation, augmentation and mini-batches.
 *
 * Example, three epochs over a 20,000-image subset of Fashion-MNIST:
 *
 *   sn_error e;
 *   sn_data_opts o = sn_data_opts_default();   // 10% validation, seed 1
 *   o.max_train = 20000;
 *   sn_data *d = sn_data_open("fashion-mnist", &o, &e);
 *   if (!d) { fprintf(stderr, "slimnas: %s\n", e.msg); return 1; }
 *   sn_shape s = sn_data_shape(d);                     // {1, 28, 28}
 *   enum { B = 128 };
 *   float *x = sn_falloc((size_t)B * sn_shape_size(s)); // [B][C][H][W]
 *   int y[B];
 *   sn_batcher *b = sn_batcher_new(d, SN_SPLIT_TRAIN, B,
 *                                  sn_batch_flags(d, SN_SPLIT_TRAIN), 42);
 *   for (int epoch = 0; epoch < 3; epoch++) {
 *       sn_batcher_epoch(b, epoch);       // reshuffles, seeded by (42, epoch)
 *       int n;
 *       while ((n = sn_batcher_next(b, x, y, NULL)) > 0)
 *           train_step(x, y, n);          // n == B except maybe the last
 *   }
 *   sn_batcher_free(b);
 *   sn_free_aligned(x);
 *   sn_data_free(d);
 *
 * Specs (sn_data_open):
 *   fashion-mnist[:DIR]  IDX files; DIR defaults to /usr/share/datasets/
 *                        fashion-mnist (Debian's dataset-fashion-mnist)
 *   mnist[:DIR]          IDX files; DIR defaults to /usr/share/datasets/mnist
 *   idx:DIR              IDX files, classes named "0".."9"
 *   cifar10[:DIR]        data_batch_1..5.bin + test_batch.bin (also found in
 *                        DIR/cifar-10-batches-bin); DIR defaults to
 *                        /usr/share/datasets/cifar10
 *   synthetic[:N]        N (default 2000) generated 1x12x12 training images
 *                        of 10 classes plus N/5 (rounded up) test images
 * An IDX folder holds train-images-idx3-ubyte, train-labels-idx1-ubyte,
 * t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each raw or with .gz
 * (the "train-images.idx3-ubyte" spelling some mirrors ship works too).
 * Labels must be below 10 for IDX and CIFAR-10.
 *
 * Splits. The test set comes from the test files and is kept apart. The
 * validation set is a seeded random val_split fraction of the training
 * files; the training split is the rest. max_train / max_val / max_test
 * then keep a seeded random subset of each (0 = all). Every split lists
 * its samples in file order, so index i of a split is stable for a seed.
 * The validation set does not depend on max_train, so candidates trained
 * on subsets of different sizes are compared on the same images.
 *
 * Storage and normalisation. Images stay as the files' uint8 pixels (4x
 * less memory than floats: Fashion-MNIST takes 55 MB) and are converted
 * when a batch is gathered through a per-channel table
 *     x = (pixel / 255 - mean[c]) / std[c]
 * where mean and std (population) are computed over the whole training
 * split before the max_train subset, i.e. the training files minus the
 * validation set: never from validation or test images, and the same
 * for every subset size, so weights inherited between candidates see the
 * same inputs. A channel with std 0 uses std 1.
 *
 * Augmentation (training split only): a random crop with padding, then a
 * horizontal flip with probability 1/2. The crop shifts the image by dy,
 * dx uniform in [-pad, pad]; pixels shifted in from outside are raw 0
 * (black) before normalisation, i.e. (0 - mean[c]) / std[c] after it —
 * what torchvision's RandomCrop(padding) before Normalize does. On by
 * default for CIFAR-10 (pad 4), off for IDX and synthetic.
 *
 * Threads. An sn_data is read-only after sn_data_open returns: any number
 * of threads may read it and run their own batchers at once. An
 * sn_batcher belongs to one thread at a time.
 */
#ifndef SLIMNAS_DATA_H
#define SLIMNAS_DATA_H

#include "slimnas/nn.h"
#include "slimnas/util.h"

typedef enum sn_split {
    SN_SPLIT_TRAIN,
    SN_SPLIT_VAL,
    SN_SPLIT_TEST,
    SN_SPLIT_COUNT
} sn_split;

/* "train", "val", "test". */
const char *sn_split_name(sn_split s);

typedef struct sn_data_opts {
    double val_split;  /* fraction of the training files held out for
                          validation, in [0, 1); default 0.1 */
    int64_t max_train; /* keep a seeded subset of at most this many
                          training images; 0 = all (default) */
    int64_t max_val;   /* same for validation; 0 = all */
    int64_t max_test;  /* same for test; 0 = all */
    uint64_t seed;     /* validation split and subsets; default 1 */
    int augment;       /* -1 dataset default (CIFAR-10 on, others off),
                          0 off, 1 on */
    int crop_pad;      /* -1 default: h / 8 (4 for 32x32), 0 = no crop */
    int flip;          /* -1 default (1), 0 no flip, 1 random h-flip */
} sn_data_opts;

sn_data_opts sn_data_opts_default(void);

typedef struct sn_data sn_data; /* opaque, read-only once open */

/* Loads the dataset a spec names (see the list above) and builds its
 * splits. NULL with one sentence in e naming the file on any problem:
 * missing folder or file, wrong magic, counts that disagree with the
 * (decompressed) file size, truncated or corrupt gzip, images/labels
 * count mismatch, labels out of range, bad options. o may be NULL. */
sn_data *sn_data_open(const char *spec, const sn_data_opts *o, sn_error *e);

/* Builds a dataset from caller arrays (copied): n_train images for the
 * train/val splits, n_test for the test split, each [n][c][h][w] uint8
 * with labels in [0, classes). For tests and tools. */
sn_data *sn_data_from_arrays(const char *name, sn_shape shape, int classes,
                             int n_train, const uint8_t *train_x,
                             const int *train_y, int n_test,
                             const uint8_t *test_x, const int *test_y,
                             const sn_data_opts *o, sn_error *e);
void sn_data_free(sn_data *d);

/* Short help text listing the spec forms (for --help and errors). */
const char *sn_data_spec_help(void);

const char *sn_data_name(const sn_data *d); /* "fashion-mnist", ... */
const char *sn_data_path(const sn_data *d); /* folder read, "" if none */
sn_shape sn_data_shape(const sn_data *d);   /* per sample {c, h, w} */
int sn_data_classes(const sn_data *d);
const char *sn_data_class_name(const sn_data *d, int k);
int sn_data_count(const sn_data *d, sn_split s);
/* Labels of a split, sn_data_count(d, s) of them. */
const int *sn_data_labels(const sn_data *d, sn_split s);
/* Raw pixels of sample i of split s: c*h*w bytes, [c][h][w]. */
const uint8_t *sn_data_raw(const sn_data *d, sn_split s, int i);
/* Position of sample i of split s in its file set (train or test files). */
int sn_data_file_index(const sn_data *d, sn_split s, int i);
/* Per-channel normalisation constants on the [0, 1] pixel scale,
 * sn_data_shape(d).c each (for exporters that bake them in). */
const float *sn_data_mean(const sn_data *d);
const float *sn_data_std(const sn_data *d);
/* Replaces the normalisation (before any batch is read, e.g. with the
 * mean/std a model was trained with); std values must be positive. */
void sn_data_set_norm(sn_data *d, const float *mean, const float *std);
/* Effective augmentation settings after defaults (augment 0/1, pad, flip). */
int sn_data_augment(const sn_data *d);
int sn_data_crop_pad(const sn_data *d);
int sn_data_flip(const sn_data *d);
/* "fashion-mnist: 1x28x28, 10 classes, 54000 train / 6000 val / 10000
 * test" into buf. */
const char *sn_data_describe(const sn_data *d, char *buf, size_t n);

/* Normalised samples idx[0..n) of split s into x [n][c][h][w] and y [n]
 * (y may be NULL); never augmented. Thread-safe. */
void sn_data_gather(const sn_data *d, sn_split s, const int *idx, int n,
                    float *x, int *y);

/* ---- mini-batches ---------------------------------------------------- */

enum {
    SN_BATCH_SHUFFLE = 1,   /* a new seeded order every epoch */
    SN_BATCH_AUGMENT = 2,   /* crop/flip as the dataset says; train only */
    SN_BATCH_DROP_LAST = 4  /* skip a last batch smaller than the size */
};

/* What a trainer wants: SHUFFLE, plus AUGMENT when the dataset augments,
 * for the training split; 0 (in order, plain) for validation and test. */
int sn_batch_flags(const sn_data *d, sn_split s);

typedef struct sn_batcher sn_batcher;

/* A batcher over one split, positioned at the start of epoch 0. The
 * order of epoch k and the augmentation of each of its batches depend
 * only on (seed, k), so a resumed run sees the same batches. Asserts on
 * SN_BATCH_AUGMENT with a split other than SN_SPLIT_TRAIN. */
sn_batcher *sn_batcher_new(const sn_data *d, sn_split s, int batch,
                           int flags, uint64_t seed);
void sn_batcher_free(sn_batcher *b);
/* Restarts at the beginning of the given epoch. */
void sn_batcher_epoch(sn_batcher *b, int epoch);
/* Batches per epoch (counting a partial last one unless DROP_LAST). */
int sn_batcher_batches(const sn_batcher *b);
/* Fills x [n][c][h][w] and y [n] with the next batch of the epoch and
 * returns n (<= batch), or 0 when the epoch is over. idx (may be NULL)
 * receives the split indices of the n samples. No allocation. */
int sn_batcher_next(sn_batcher *b, float *x, int *y, int *idx);
/* Batch k of the current epoch, without moving the cursor; for several
 * threads preparing batches of one batcher at once (distinct buffers). */
int sn_batcher_get(const sn_batcher *b, int k, float *x, int *y, int *idx);

#endif
