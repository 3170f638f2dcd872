/* slimnas/data.h — datasets: IDX (MNIST, Fashion-MNIST; raw or gzip),
 * CIFAR-10/100 binary, image folders, NumPy .npy files, a synthetic set
 * for tests; input-size conversion; train / validation / test splits,
 * per-channel normalisation, augmentation and mini-batches.
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
 *   idx:DIR              IDX files, classes named "0".."N-1"
 *   cifar10[:DIR]        data_batch_1..5.bin + test_batch.bin (also found in
 *                        DIR/cifar-10-batches-bin); DIR defaults to
 *                        /usr/share/datasets/cifar10
 *   cifar100[:DIR]       train.bin + test.bin (also in DIR/cifar-100-binary),
 *                        100 fine labels, or 20 with ",coarse"
 *   folder:DIR           DIR/<class>/<images>, or DIR/train/<class>/... plus
 *                        DIR/test/<class>/... (or val/); see folder.c
 *   npy:X.npy,Y.npy[,TX.npy,TY.npy]  NumPy images and labels (training; and
 *                        test); see npy.c
 *   synthetic[:N]        N (default 2000) generated 12x12x1 training images
 *                        of 10 classes plus N/5 (rounded up) test images
 * Options may follow the spec after commas, overriding sn_data_opts:
 * ",input=HxWxC", ",fit=crop|pad|stretch", ",strict", ",nocache"
 * (e.g. "folder:photos,input=32x32x3,fit=pad"), ",coarse" for cifar100.
 * An IDX folder holds train-images-idx3-ubyte, train-labels-idx1-ubyte,
 * t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each raw or with .gz
 * (the "train-images.idx3-ubyte" spelling some mirrors ship works too).
 * The class count is 1 + the largest training label for IDX and npy
 * (at least 2 classes, each with a training image), 10 or 100 (20) for
 * CIFAR, the number of class folders for folder:.
 *
 * Input size (folder: and npy:, and any source given input_*): every
 * image is converted to input_c channels (grey <-> RGB by BT.601 luma or
 * repetition) and input_h x input_w pixels by `fit`: SN_FIT_CROP (default)
 * scales the image until it covers the size and cuts the centre, keeping
 * the aspect ratio; SN_FIT_PAD scales it until it fits and pads with black;
 * SN_FIT_STRETCH ignores the aspect ratio. Resizing averages the covered
 * source pixels when shrinking and interpolates bilinearly when enlarging
 * (OpenCV's INTER_AREA); an image already of the size is copied exactly. Without input_*, a folder's size is the most
 * common one among its images and its channels 1 if every image is grey,
 * 3 if every image is colour; a mix is refused (naming a file of the
 * minority) unless input_c says what to convert to.
 *
 * Splits. The test set comes from the test files and is kept apart. The
 * validation set is a seeded random val_split fraction of the training
 * files; the training split is the rest. max_train / max_val / max_test
 * then keep a seeded random subset of each (0 = all). Every split lists
 * its samples in file order, so index i of a split is stable for a seed.
 * The validation set does not depend on max_train, so candidates trained
 * on subsets of different sizes are compared on the same images. When
 * val_split > 0 every class with two or more training-file images gets
 * at least one validation and one training image (for small sets; the
 * next images of the seeded permutation move), and a class with a single
 * one is refused.
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
    int input_h, input_w, input_c; /* convert every image to this size
                          (see above); 0 = the source's own */
    int fit;           /* SN_FIT_CROP (default), SN_FIT_PAD, SN_FIT_STRETCH */
    int strict;        /* folder: refuse files that are not images instead
                          of skipping (and counting) them */
    int no_cache;      /* folder: neither read nor write the pixel cache */
} sn_data_opts;

enum { SN_FIT_CROP, SN_FIT_PAD, SN_FIT_STRETCH };
const char *sn_fit_name(int fit);    /* "crop", "pad", "stretch" */
int sn_fit_from_name(const char *s); /* -1 if unknown */

/* Parses "HxWxC" (C 1 or 3; sides 1..4096), e.g. "32x32x3". 0 or -1. */
int sn_data_parse_input(const char *s, int *h, int *w, int *c);
/* spec plus the options given (input "HxWxC", fit name, strict; NULL / 0
 * for none) as spec options into out: "folder:a" -> "folder:a,input=
 * 32x32x3,fit=pad". -1 with a sentence for a bad value or a result longer
 * than n - 1. For settings that store the spec alone. */
int sn_data_spec_with(const char *spec, const char *input, const char *fit,
                      int strict, char *out, size_t n, sn_error *e);

sn_data_opts sn_data_opts_default(void);

typedef struct sn_data sn_data; /* opaque, read-only once open */

/* Loads the dataset a spec names (see the list above) and builds its
 * splits. NULL with one sentence in e naming the file on any problem:
 * missing folder or file, wrong magic, counts that disagree with the
 * (decompressed) file size, truncated or corrupt gzip, images/labels
 * count mismatch, labels out of range, bad options. o may be NULL. */
sn_data *sn_data_open(const char *spec, const sn_data_opts *o, sn_error *e);

/* Checks a spec's form without touching files: a known kind, a folder
 * where one is needed, a valid N. -1 with one sentence otherwise (for
 * a usage error before anything is created). A new kind of dataset
 * needs its name in this check too. */
int sn_data_spec_check(const char *spec, sn_error *e);

/* Builds a dataset from caller arrays (copied): n_train images for the
 * train/val splits, n_test for the test split, each [n][c][h][w] uint8
 * with labels in [0, classes). For tests and tools. */
sn_data *sn_data_from_arrays(const char *name, sn_shape shape, int classes,
                             int n_train, const uint8_t *train_x,
                             const int *train_y, int n_test,
                             const uint8_t *test_x, const int *test_y,
                             const sn_data_opts *o, sn_error *e);
void sn_data_free(sn_data *d);


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
/* "fashion-mnist: 28x28x1, 10 classes, 54000 train / 6000 val / 10000
 * test" into buf (shape as HxWxC). */
const char *sn_data_describe(const sn_data *d, char *buf, size_t n);
/* The data summary, several lines each ending in '\n': source, input
 * shape (HxWxC, and how images were fitted), counts per split, images per
 * class and split, skipped files, and a class-balance warning when the
 * smallest class has under a tenth of the largest's training images.
 * Truncated to n. */
const char *sn_data_summary(const sn_data *d, char *buf, size_t n);
/* "" or one line of what the loader skipped or warns about (no '\n'). */
const char *sn_data_warning(const sn_data *d);
/* Where the folder loader's pixels came from: 1 the cache, 0 decoded
 * (or not a folder); images decoded and seconds spent loading. */
int sn_data_from_cache(const sn_data *d);
double sn_data_load_seconds(const sn_data *d);

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
