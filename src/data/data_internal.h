/* data_internal.h — what the loaders (idx.c, cifar.c, synthetic.c) share
 * with data.c and batch.c. Not a public header. */
#ifndef SLIMNAS_DATA_INTERNAL_H
#define SLIMNAS_DATA_INTERNAL_H

#include "slimnas/data.h"

#define SN_DATA_NAME_MAX 48

/* The images of one file set (0: training files, 1: test files). */
typedef struct sn_data_source {
    uint8_t *pix; /* [n][c][h][w], owned (may point into `owned`) */
    void *owned;  /* allocation to free ("pix" may be an offset into it) */
    int *label;   /* [n], owned */
    int n;
} sn_data_source;

struct sn_data {
    char name[SN_DATA_NAME_MAX];
    char path[1024];
    sn_shape shape;
    int classes;
    char (*class_names)[SN_DATA_NAME_MAX]; /* [classes] */
    int augment_default; /* what augment = -1 means for this dataset */
    sn_data_source src[2];
    struct {
        int n;
        int *idx;   /* [n] positions in src[from], ascending */
        int *label; /* [n] */
        int from;   /* 0 train files, 1 test files */
    } split[SN_SPLIT_COUNT];
    float *mean, *std; /* [c], on the [0, 1] pixel scale */
    float *lut;        /* [c][256]: pixel value -> normalised float */
    int augment, crop_pad, flip;
    int fitted;        /* the loader already fitted images to input_* */
    char fit_note[160]; /* how images were fitted, for the summary */
    char source[1200];  /* what was read, for the summary */
    char warning[600];  /* skipped files etc., "" if none */
    int from_cache;
    double load_seconds;
};

/* Loaders fill shape, classes, src[0] and src[1]; on error they
 * return -1 with a sentence naming the file and leave whatever they
 * allocated in d for sn_data_free. */
int sn_data_load_idx(sn_data *d, const char *dir, sn_error *e);
int sn_data_load_cifar10(sn_data *d, const char *dir, sn_error *e);
int sn_data_make_synthetic(sn_data *d, int n_train, sn_error *e);
int sn_data_load_cifar100(sn_data *d, const char *dir, int coarse,
                          sn_error *e);
/* These two set classes and names themselves and honour o's input size,
 * fit and strict (folder: also the cache). */
int sn_data_load_folder(sn_data *d, const char *dir, const sn_data_opts *o,
                        sn_error *e);
int sn_data_load_npy(sn_data *d, const char *files, sn_error *e);
/* Classes from the training labels: 1 + the largest, at least 2, each
 * with a training image; test labels must be below it. what_train /
 * what_test name the label files in messages. */
int sn_data_classes_from_labels(sn_data *d, const char *what_train,
                                const char *what_test, sn_error *e);
/* The class names synthetic images are drawn as. */
extern const char *const sn_data_synthetic_names[10];

/* A whole file, raw or gzip (detected by its magic bytes), in memory.
 * Returns -1 only when the file cannot be opened or read at all; a gzip
 * stream that ends early or is corrupt still returns 0 with the bytes that
 * were recovered and `zerr` set, so the caller can say what it expected. */
typedef struct sn_data_file {
    uint8_t *data;
    size_t len;
    int gz;           /* 1 when the file was gzip-compressed */
    int truncated;    /* gzip stream ended before its end marker */
    int corrupt;      /* gzip data error */
    char zmsg[128];   /* zlib's message for corrupt */
} sn_data_file;

int sn_data_read_file(const char *path, sn_data_file *f, sn_error *e);
/* 1 when path names an existing regular file (or a link to one). */
int sn_data_file_exists(const char *path);
/* -1 with "DIR: no such folder" (or "not a folder") unless dir is one. */
int sn_data_check_dir(const char *dir, sn_error *e);

/* Allocates d->class_names for `classes` and copies names (NULL: "0"..). */
void sn_data_set_classes(sn_data *d, int classes, const char *const *names);

#endif
