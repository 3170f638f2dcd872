/* data.c — opening a dataset by spec, building its splits, normalisation
 * statistics and the lookup table batches are converted through, and the
 * read-only accessors. */
#include "data_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_ROOT "/usr/share/datasets"
#define SYNTHETIC_DEFAULT_N 2000

static const char *const fashion_names[10] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
static const char *const cifar_names[10] = {
    "airplane", "automobile", "bird",  "cat",  "deer",
    "dog",      "frog",       "horse", "ship", "truck"};

const char *sn_split_name(sn_split s) {
    static const char *const names[SN_SPLIT_COUNT] = {"train", "val", "test"};
    _Static_assert(SN_SPLIT_COUNT == 3, "split names");
    SN_ASSERT((unsigned)s < SN_SPLIT_COUNT);
    return names[s];
}

sn_data_opts sn_data_opts_default(void) {
    return (sn_data_opts){.val_split = 0.1, .seed = 1, .augment = -1,
                          .crop_pad = -1, .flip = -1};
}

const char *sn_data_spec_help(void) {
    return "fashion-mnist[:DIR]   IDX files (default DIR " DEFAULT_ROOT
           "/fashion-mnist)\n"
           "mnist[:DIR]           IDX files (default DIR " DEFAULT_ROOT
           "/mnist)\n"
           "idx:DIR               IDX files, classes 0..9\n"
           "cifar10[:DIR]         CIFAR-10 binary batches (default DIR "
           DEFAULT_ROOT "/cifar10)\n"
           "synthetic[:N]         N generated 1x12x12 images of 10 classes "
           "(default 2000)\n";
}

void sn_data_set_classes(sn_data *d, int classes, const char *const *names) {
    free(d->class_names);
    d->classes = classes;
    d->class_names = sn_xcalloc((size_t)classes, sizeof *d->class_names);
    for (int k = 0; k < classes; k++) {
        if (names)
            snprintf(d->class_names[k], SN_DATA_NAME_MAX, "%s", names[k]);
        else
            snprintf(d->class_names[k], SN_DATA_NAME_MAX, "%d", k);
    }
}

void sn_data_free(sn_data *d) {
    if (!d) return;
    for (int i = 0; i < 2; i++) {
        free(d->src[i].owned);
        free(d->src[i].label);
    }
    for (int s = 0; s < SN_SPLIT_COUNT; s++) {
        free(d->split[s].idx);
        free(d->split[s].label);
    }
    free(d->class_names);
    free(d->mean);
    free(d->std);
    free(d->lut);
    free(d);
}

/* ---- splits ---------------------------------------------------------- */

static void shuffle(int *a, int n, sn_rng *r) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(sn_rng_u64(r) % (uint64_t)(i + 1));
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* Keeps a seeded random subset of at most `max` of the n entries of
 * list (ascending), preserving ascending order; returns the new count. */
static int subset(int *list, int n, int64_t max, uint64_t seed) {
    if (max <= 0 || max >= n) return n;
    int *pos = sn_xmalloc((size_t)n * sizeof(int));
    unsigned char *keep = sn_xcalloc((size_t)n, 1);
    for (int i = 0; i < n; i++) pos[i] = i;
    sn_rng r;
    sn_rng_seed(&r, seed);
    shuffle(pos, n, &r);
    for (int64_t i = 0; i < max; i++) keep[pos[i]] = 1;
    int m = 0;
    for (int i = 0; i < n; i++)
        if (keep[i]) list[m++] = list[i];
    free(pos);
    free(keep);
    return m;
}

static void set_split(sn_data *d, sn_split s, int from, int *idx, int n) {
    d->split[s].from = from;
    d->split[s].n = n;
    d->split[s].idx = idx;
    d->split[s].label = sn_xmalloc((size_t)(n ? n : 1) * sizeof(int));
    for (int i = 0; i < n; i++)
        d->split[s].label[i] = d->src[from].label[idx[i]];
}

/* Per-channel mean and population std of the training split, on the
 * [0, 1] scale, exact from byte histograms (sums of at most 2^31 * 255
 * fit a double's mantissa exactly). */
static void compute_stats(sn_data *d, const int *train, int n) {
    int c = d->shape.c;
    size_t hw = (size_t)d->shape.h * d->shape.w;
    uint64_t *hist = sn_xcalloc((size_t)c * 256, sizeof(uint64_t));
    for (int i = 0; i < n; i++) {
        const uint8_t *px = d->src[0].pix + (size_t)train[i] * c * hw;
        for (int ch = 0; ch < c; ch++) {
            uint64_t *h = hist + ch * 256;
            for (size_t j = 0; j < hw; j++) h[px[ch * hw + j]]++;
        }
    }
    d->mean = sn_xmalloc((size_t)c * sizeof(float));
    d->std = sn_xmalloc((size_t)c * sizeof(float));
    d->lut = sn_xmalloc((size_t)c * 256 * sizeof(float));
    for (int ch = 0; ch < c; ch++) {
        const uint64_t *h = hist + ch * 256;
        double cnt = 0, sum = 0;
        for (int v = 0; v < 256; v++) {
            cnt += (double)h[v];
            sum += (double)h[v] * v;
        }
        double mean = cnt > 0 ? sum / cnt / 255.0 : 0, var = 0;
        for (int v = 0; v < 256; v++) {
            double dv = v / 255.0 - mean;
            var += (double)h[v] * dv * dv;
        }
        double sd = cnt > 0 ? sqrt(var / cnt) : 0;
        if (!(sd > 1e-12)) sd = 1; /* constant channel: shift only */
        d->mean[ch] = (float)mean;
        d->std[ch] = (float)sd;
        for (int v = 0; v < 256; v++)
            d->lut[ch * 256 + v] = (float)((v / 255.0 - mean) / sd);
    }
    free(hist);
}

static int check_opts(const sn_data_opts *o, sn_error *e) {
    if (!(o->val_split >= 0 && o->val_split < 1))
        return sn_errf(e, "validation split %g is out of range (expected a "
                          "fraction in [0, 1))",
                       o->val_split);
    if (o->max_train < 0 || o->max_val < 0 || o->max_test < 0)
        return sn_errf(e, "subset sizes must be 0 (all) or positive");
    if (o->augment < -1 || o->augment > 1 || o->flip < -1 || o->flip > 1)
        return sn_errf(e, "augment and flip must be -1 (default), 0 or 1");
    if (o->crop_pad < -1) return sn_errf(e, "crop padding must be >= 0");
    return 0;
}

/* Everything after the loader: splits, statistics, augmentation. */
static int finish(sn_data *d, const sn_data_opts *o, sn_error *e) {
    int n = d->src[0].n;
    if (d->src[0].n < 1 || d->src[1].n < 1)
        return sn_errf(e, "%s: needs at least one training and one test image",
                       d->name);
    int nval = (int)llround(o->val_split * n);
    if (nval >= n)
        return sn_errf(e, "%s: validation split %g of %d training images "
                          "leaves none to train on",
                       d->name, o->val_split, n);
    /* Validation = first nval of a seeded permutation of the training
     * files; both lists then go back to file order. */
    int *perm = sn_xmalloc((size_t)n * sizeof(int));
    unsigned char *is_val = sn_xcalloc((size_t)n, 1);
    for (int i = 0; i < n; i++) perm[i] = i;
    sn_rng r;
    sn_rng_seed(&r, o->seed ^ 0x76616c5f73706c74ULL);
    shuffle(perm, n, &r);
    for (int i = 0; i < nval; i++) is_val[perm[i]] = 1;
    int *train = sn_xmalloc((size_t)(n - nval) * sizeof(int));
    int *val = sn_xmalloc((size_t)(nval ? nval : 1) * sizeof(int));
    int nt = 0, nv = 0;
    for (int i = 0; i < n; i++) {
        if (is_val[i])
            val[nv++] = i;
        else
            train[nt++] = i;
    }
    free(perm);
    free(is_val);
    compute_stats(d, train, nt); /* before subsetting: see the header */
    nt = subset(train, nt, o->max_train, o->seed ^ 0x7375627472616e00ULL);
    nv = subset(val, nv, o->max_val, o->seed ^ 0x737562766c000000ULL);
    int n_test = d->src[1].n;
    int *test = sn_xmalloc((size_t)n_test * sizeof(int));
    for (int i = 0; i < n_test; i++) test[i] = i;
    n_test = subset(test, n_test, o->max_test, o->seed ^ 0x7375627465737400ULL);
    set_split(d, SN_SPLIT_TRAIN, 0, train, nt);
    set_split(d, SN_SPLIT_VAL, 0, val, nv);
    set_split(d, SN_SPLIT_TEST, 1, test, n_test);

    int side = d->shape.h < d->shape.w ? d->shape.h : d->shape.w;
    d->augment = o->augment >= 0 ? o->augment : d->augment_default;
    d->crop_pad = o->crop_pad >= 0 ? o->crop_pad : d->shape.h / 8;
    d->flip = o->flip >= 0 ? o->flip : 1;
    if (d->crop_pad >= side)
        return sn_errf(e, "%s: crop padding %d must be smaller than the "
                          "image side %d",
                       d->name, d->crop_pad, side);
    return 0;
}

/* ---- opening --------------------------------------------------------- */

sn_data *sn_data_open(const char *spec, const sn_data_opts *opts,
                      sn_error *e) {
    sn_data_opts o = opts ? *opts : sn_data_opts_default();
    if (check_opts(&o, e) != 0) return NULL;
    const char *colon = strchr(spec, ':');
    size_t klen = colon ? (size_t)(colon - spec) : strlen(spec);
    const char *arg = colon ? colon + 1 : NULL;
    char kind[32];
    if (klen >= sizeof kind) klen = sizeof kind - 1;
    memcpy(kind, spec, klen);
    kind[klen] = 0;
    if (arg && !*arg) {
        sn_errf(e, "dataset '%s': nothing after ':'", spec);
        return NULL;
    }

    sn_data *d = sn_xcalloc(1, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", kind);
    int rc;
    if (!strcmp(kind, "fashion-mnist") || !strcmp(kind, "mnist") ||
        !strcmp(kind, "idx")) {
        if (!arg && !strcmp(kind, "idx")) {
            rc = sn_errf(e, "dataset 'idx' needs a folder: idx:DIR");
            goto done;
        }
        if (arg)
            snprintf(d->path, sizeof d->path, "%s", arg);
        else
            snprintf(d->path, sizeof d->path, DEFAULT_ROOT "/%s", kind);
        rc = sn_data_load_idx(d, d->path, e);
        if (rc != 0 && e && !arg && !strcmp(kind, "fashion-mnist") &&
            sn_data_check_dir(d->path, NULL) != 0) {
            size_t m = strlen(e->msg);
            snprintf(e->msg + m, sizeof e->msg - m,
                     " (install Debian's dataset-fashion-mnist, or give "
                     "fashion-mnist:DIR)");
        }
        if (rc == 0)
            sn_data_set_classes(d, 10, !strcmp(kind, "fashion-mnist")
                                           ? fashion_names
                                           : NULL);
    } else if (!strcmp(kind, "cifar10") || !strcmp(kind, "cifar-10")) {
        snprintf(d->name, sizeof d->name, "cifar10");
        if (arg)
            snprintf(d->path, sizeof d->path, "%s", arg);
        else
            snprintf(d->path, sizeof d->path, DEFAULT_ROOT "/cifar10");
        rc = sn_data_load_cifar10(d, d->path, e);
        if (rc == 0) sn_data_set_classes(d, 10, cifar_names);
    } else if (!strcmp(kind, "synthetic")) {
        int64_t n = SYNTHETIC_DEFAULT_N;
        if (arg && (sn_parse_size(arg, &n) != 0 || n < 1 || n > 1000000)) {
            rc = sn_errf(e, "dataset '%s': N must be a count in 1..1000000 "
                            "(e.g. synthetic:2000)",
                         spec);
            goto done;
        }
        rc = sn_data_make_synthetic(d, (int)n, e);
        if (rc == 0) sn_data_set_classes(d, 10, sn_data_synthetic_names);
    } else {
        rc = sn_errf(e, "unknown dataset '%s' (expected fashion-mnist, "
                        "mnist:DIR, idx:DIR, cifar10:DIR or synthetic:N)",
                     spec);
    }
    if (rc == 0) rc = finish(d, &o, e);
done:
    if (rc != 0) {
        sn_data_free(d);
        return NULL;
    }
    return d;
}

sn_data *sn_data_from_arrays(const char *name, sn_shape shape, int classes,
                             int n_train, const uint8_t *train_x,
                             const int *train_y, int n_test,
                             const uint8_t *test_x, const int *test_y,
                             const sn_data_opts *opts, sn_error *e) {
    sn_data_opts o = opts ? *opts : sn_data_opts_default();
    if (check_opts(&o, e) != 0) return NULL;
    if (shape.c < 1 || shape.h < 1 || shape.w < 1 || classes < 1 ||
        n_train < 1 || n_test < 1) {
        sn_errf(e, "%s: bad shape, class count or image count", name);
        return NULL;
    }
    sn_data *d = sn_xcalloc(1, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", name);
    d->shape = shape;
    sn_data_set_classes(d, classes, NULL);
    size_t chw = (size_t)sn_shape_size(shape);
    const uint8_t *xs[2] = {train_x, test_x};
    const int *ys[2] = {train_y, test_y};
    int ns[2] = {n_train, n_test};
    for (int s = 0; s < 2; s++) {
        sn_data_source *src = &d->src[s];
        src->n = ns[s];
        src->owned = src->pix = sn_xmalloc((size_t)ns[s] * chw);
        memcpy(src->pix, xs[s], (size_t)ns[s] * chw);
        src->label = sn_xmalloc((size_t)ns[s] * sizeof(int));
        for (int i = 0; i < ns[s]; i++) {
            if (ys[s][i] < 0 || ys[s][i] >= classes) {
                sn_errf(e, "%s: %s label %d of item %d is out of range "
                           "(expected 0..%d)",
                        name, s ? "test" : "training", ys[s][i], i,
                        classes - 1);
                sn_data_free(d);
                return NULL;
            }
            src->label[i] = ys[s][i];
        }
    }
    if (finish(d, &o, e) != 0) {
        sn_data_free(d);
        return NULL;
    }
    return d;
}

/* ---- accessors ------------------------------------------------------- */

const char *sn_data_name(const sn_data *d) { return d->name; }
const char *sn_data_path(const sn_data *d) { return d->path; }
sn_shape sn_data_shape(const sn_data *d) { return d->shape; }
int sn_data_classes(const sn_data *d) { return d->classes; }

const char *sn_data_class_name(const sn_data *d, int k) {
    SN_ASSERT(k >= 0 && k < d->classes);
    return d->class_names[k];
}

int sn_data_count(const sn_data *d, sn_split s) {
    SN_ASSERT((unsigned)s < SN_SPLIT_COUNT);
    return d->split[s].n;
}

const int *sn_data_labels(const sn_data *d, sn_split s) {
    SN_ASSERT((unsigned)s < SN_SPLIT_COUNT);
    return d->split[s].label;
}

int sn_data_file_index(const sn_data *d, sn_split s, int i) {
    SN_ASSERT((unsigned)s < SN_SPLIT_COUNT && i >= 0 && i < d->split[s].n);
    return d->split[s].idx[i];
}

const uint8_t *sn_data_raw(const sn_data *d, sn_split s, int i) {
    int f = sn_data_file_index(d, s, i);
    return d->src[d->split[s].from].pix + (size_t)f * sn_shape_size(d->shape);
}

void sn_data_set_norm(sn_data *d, const float *mean, const float *std) {
    for (int ch = 0; ch < d->shape.c; ch++) {
        SN_ASSERT(std[ch] > 0);
        d->mean[ch] = mean[ch];
        d->std[ch] = std[ch];
        for (int v = 0; v < 256; v++)
            d->lut[ch * 256 + v] =
                (float)((v / 255.0 - mean[ch]) / std[ch]);
    }
}

const float *sn_data_mean(const sn_data *d) { return d->mean; }
const float *sn_data_std(const sn_data *d) { return d->std; }
int sn_data_augment(const sn_data *d) { return d->augment; }
int sn_data_crop_pad(const sn_data *d) { return d->crop_pad; }
int sn_data_flip(const sn_data *d) { return d->flip; }

const char *sn_data_describe(const sn_data *d, char *buf, size_t n) {
    snprintf(buf, n, "%s: %dx%dx%d, %d classes, %d train / %d val / %d test",
             d->name, d->shape.c, d->shape.h, d->shape.w, d->classes,
             d->split[SN_SPLIT_TRAIN].n, d->split[SN_SPLIT_VAL].n,
             d->split[SN_SPLIT_TEST].n);
    return buf;
}
