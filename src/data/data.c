/* data.c — opening a dataset by spec, building its splits, normalisation
 * statistics and the lookup table batches are converted through, and the
 * read-only accessors. */
#include "data_internal.h"
#include "image.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
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
    static const char *const names[] = {"train", "val", "test"};
    _Static_assert(sizeof names / sizeof names[0] == SN_SPLIT_COUNT,
                   "split names");
    SN_ASSERT((unsigned)s < SN_SPLIT_COUNT);
    return names[s];
}

sn_data_opts sn_data_opts_default(void) {
    return (sn_data_opts){.val_split = 0.1, .seed = 1, .augment = -1,
                          .crop_pad = -1, .flip = -1};
}

int sn_data_parse_input(const char *s, int *h, int *w, int *c) {
    int a, b, ch, n = 0;
    if (sscanf(s, "%d x %d x %d%n", &a, &b, &ch, &n) != 3 || s[n] || a < 1 ||
        b < 1 || a > 4096 || b > 4096 || (ch != 1 && ch != 3))
        return -1;
    *h = a;
    *w = b;
    *c = ch;
    return 0;
}

int sn_data_spec_with(const char *spec, const char *input, const char *fit,
                      int strict, char *out, size_t n, sn_error *e) {
    int h, w, c;
    if (input && sn_data_parse_input(input, &h, &w, &c) != 0)
        return sn_errf(e, "bad input size '%s' (expected HxWxC like 32x32x3, "
                          "C 1 or 3)",
                       input);
    if (fit && sn_fit_from_name(fit) < 0)
        return sn_errf(e, "bad fit '%s' (expected crop, pad or stretch)", fit);
    int len = snprintf(out, n, "%s%s%s%s%s%s", spec, input ? ",input=" : "",
                       input ? input : "", fit ? ",fit=" : "", fit ? fit : "",
                       strict ? ",strict" : "");
    if (len < 0 || (size_t)len >= n)
        return sn_errf(e, "dataset spec '%s' with its options is too long",
                       spec);
    return 0;
}

/* Strips trailing ",option" tokens from arg into o; *coarse for cifar100.
 * 0, or -1 with a sentence for a bad value. */
static int spec_options(const char *spec, char *arg, sn_data_opts *o,
                        int *coarse, sn_error *e) {
    for (char *comma; (comma = strrchr(arg, ','));) {
        const char *t = comma + 1;
        if (!strncmp(t, "input=", 6)) {
            if (sn_data_parse_input(t + 6, &o->input_h, &o->input_w,
                                    &o->input_c) != 0)
                return sn_errf(e, "dataset '%s': bad input size '%s' "
                                  "(expected HxWxC like 32x32x3, C 1 or 3)",
                               spec, t + 6);
        } else if (!strncmp(t, "fit=", 4)) {
            int f = sn_fit_from_name(t + 4);
            if (f < 0)
                return sn_errf(e, "dataset '%s': bad fit '%s' (expected "
                                  "crop, pad or stretch)",
                               spec, t + 4);
            o->fit = f;
        } else if (!strcmp(t, "strict")) {
            o->strict = 1;
        } else if (!strcmp(t, "nocache")) {
            o->no_cache = 1;
        } else if (!strcmp(t, "coarse")) {
            *coarse = 1;
        } else if (!strcmp(t, "fine")) {
            *coarse = 0;
        } else {
            break; /* part of the path (npy: lists files with commas) */
        }
        *comma = 0;
    }
    return 0;
}

int sn_data_classes_from_labels(sn_data *d, const char *what_train,
                                const char *what_test, sn_error *e) {
    int max = -1;
    for (int i = 0; i < d->src[0].n; i++) {
        int y = d->src[0].label[i];
        if (y < 0)
            return sn_errf(e, "%s: label %d of item %d is negative", what_train,
                           y, i);
        if (y > 65535)
            return sn_errf(e, "%s: label %d of item %d is out of range "
                              "(at most 65535)",
                           what_train, y, i);
        if (y > max) max = y;
    }
    if (max < 1)
        return sn_errf(e, "%s: every training label is %d; a classifier needs "
                          "at least 2 classes",
                       what_train, max);
    int k = max + 1;
    int *count = sn_xcalloc((size_t)k, sizeof(int));
    for (int i = 0; i < d->src[0].n; i++) count[d->src[0].label[i]]++;
    int missing = -1;
    for (int c = 0; c < k && missing < 0; c++)
        if (!count[c]) missing = c;
    free(count);
    if (missing >= 0)
        return sn_errf(e, "%s: no training image has label %d, but labels go "
                          "up to %d (expected every class 0..%d to appear)",
                       what_train, missing, max, max);
    for (int i = 0; i < d->src[1].n; i++) {
        int y = d->src[1].label[i];
        if (y < 0 || y >= k)
            return sn_errf(e, "%s: label %d of item %d is out of range "
                              "(expected 0..%d, the training labels' range)",
                           what_test, y, i, k - 1);
    }
    d->classes = k;
    return 0;
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
    if ((o->input_h || o->input_w || o->input_c) &&
        (o->input_h < 1 || o->input_w < 1 || o->input_h > 4096 ||
         o->input_w > 4096 || (o->input_c != 1 && o->input_c != 3)))
        return sn_errf(e, "input size %dx%dx%d is out of range (sides 1..4096, "
                          "1 or 3 channels)",
                       o->input_h, o->input_w, o->input_c);
    if (o->fit < SN_FIT_CROP || o->fit > SN_FIT_STRETCH)
        return sn_errf(e, "fit must be crop, pad or stretch");
    return 0;
}

/* A small set's random validation split can miss a class, or take a
 * class's only training image: every class gets at least one validation
 * and one training image (the next ones of the seeded permutation), and a
 * class of one image is refused. */
static int balance_val(sn_data *d, const int *perm, unsigned char *is_val,
                       int *nval, sn_error *e) {
    int n = d->src[0].n, k = d->classes;
    const int *lab = d->src[0].label;
    int *tot = sn_xcalloc((size_t)k, sizeof(int));
    int *inval = sn_xcalloc((size_t)k, sizeof(int));
    for (int i = 0; i < n; i++) {
        tot[lab[i]]++;
        inval[lab[i]] += is_val[i];
    }
    int rc = 0;
    for (int c = 0; c < k && rc == 0; c++)
        if (tot[c] == 1)
            rc = sn_errf(e, "%s: class '%s' has only one training image; a "
                            "validation split needs at least 2 per class (add "
                            "images, or set the validation split to 0)",
                         d->path[0] ? d->path : d->name, d->class_names[c]);
    for (int j = n - 1; rc == 0 && j >= 0; j--) { /* last drawn first */
        int i = perm[j], c = lab[i];
        if (is_val[i] && inval[c] == tot[c] && tot[c] > 1) {
            is_val[i] = 0; /* the class kept nothing for training */
            inval[c]--;
            (*nval)--;
        }
    }
    for (int j = 0; rc == 0 && j < n; j++) {
        int i = perm[j], c = lab[i];
        if (!is_val[i] && inval[c] == 0 && tot[c] > 1) {
            is_val[i] = 1;
            inval[c]++;
            (*nval)++;
        }
    }
    free(tot);
    free(inval);
    return rc;
}

/* Converts every image of a source that did not fit its own (IDX, CIFAR,
 * npy) to the size asked for. */
static void refit(sn_data *d, const sn_data_opts *o) {
    sn_shape from = d->shape;
    sn_shape to = {o->input_c, o->input_h, o->input_w};
    if (from.c == to.c && from.h == to.h && from.w == to.w) return;
    size_t fhw = (size_t)from.h * from.w;
    uint8_t *hwc = sn_xmalloc(fhw * from.c);
    uint8_t *conv = sn_xmalloc(fhw * to.c);
    for (int s = 0; s < 2; s++) {
        sn_data_source *src = &d->src[s];
        uint8_t *out = sn_xmalloc((size_t)src->n * sn_shape_size(to) + 1);
        for (int i = 0; i < src->n; i++) {
            const uint8_t *p = src->pix + (size_t)i * sn_shape_size(from);
            for (size_t j = 0; j < fhw; j++)
                for (int c = 0; c < from.c; c++)
                    hwc[j * from.c + c] = p[c * fhw + j];
            sn_image_convert_channels(hwc, (int)fhw, from.c, conv, to.c);
            sn_image_fit(conv, from.w, from.h, to.c,
                         out + (size_t)i * sn_shape_size(to), to.w, to.h,
                         o->fit);
        }
        free(src->owned);
        src->owned = src->pix = out;
    }
    free(hwc);
    free(conv);
    snprintf(d->fit_note, sizeof d->fit_note,
             "converted from %dx%dx%d (%s, area/bilinear resize)", from.h, from.w,
             from.c, sn_fit_name(o->fit));
    d->shape = to;
}

/* Everything after the loader: splits, statistics, augmentation. */
static int finish(sn_data *d, const sn_data_opts *o, sn_error *e) {
    if (o->input_h > 0 && !d->fitted) refit(d, o);
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
    if (nval > 0 && balance_val(d, perm, is_val, &nval, e) != 0) {
        free(perm);
        free(is_val);
        return -1;
    }
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

int sn_data_spec_check(const char *spec, sn_error *e) {
    static const char *const kinds[] = {"fashion-mnist", "mnist", "idx",
                                        "cifar10", "cifar-10", "cifar100",
                                        "cifar-100", "folder", "npy",
                                        "synthetic", NULL};
    if (!spec || !*spec) return sn_errf(e, "empty dataset spec");
    const char *colon = strchr(spec, ':');
    size_t klen = colon ? (size_t)(colon - spec) : strcspn(spec, ",");
    int known = 0;
    for (int i = 0; kinds[i]; i++)
        known |= strlen(kinds[i]) == klen && !strncmp(kinds[i], spec, klen);
    if (!known)
        return sn_errf(e, "unknown dataset '%s' (expected fashion-mnist, "
                          "mnist:DIR, idx:DIR, cifar10:DIR, cifar100:DIR, "
                          "folder:DIR, npy:X.npy,Y.npy or synthetic:N)",
                       spec);
    if (colon && !colon[1])
        return sn_errf(e, "dataset '%s': nothing after ':'", spec);
    if (!colon && klen == 3 && !strncmp(spec, "idx", 3))
        return sn_errf(e, "dataset 'idx' needs a folder: idx:DIR");
    if (!colon && klen == 6 && !strncmp(spec, "folder", 6))
        return sn_errf(e, "dataset 'folder' needs a folder: folder:DIR");
    if (!colon && klen == 3 && !strncmp(spec, "npy", 3))
        return sn_errf(e, "dataset 'npy' needs its files: npy:X.npy,Y.npy");
    if (colon && !strncmp(spec, "synthetic", klen)) {
        int64_t n;
        char num[32];
        snprintf(num, sizeof num, "%.*s", (int)strcspn(colon + 1, ","),
                 colon + 1);
        if (sn_parse_size(num, &n) != 0 || n < 1 || n > 1000000)
            return sn_errf(e, "dataset '%s': N must be a count in "
                              "1..1000000 (e.g. synthetic:2000)", spec);
    }
    return 0;
}

sn_data *sn_data_open(const char *spec, const sn_data_opts *opts,
                      sn_error *e) {
    double t0 = sn_now();
    sn_data_opts o = opts ? *opts : sn_data_opts_default();
    if (check_opts(&o, e) != 0) return NULL;
    if (sn_data_spec_check(spec, e) != 0) return NULL;
    char kind[32], argbuf[sizeof ((sn_data *)0)->path];
    int coarse = 0;
    const char *colon = strchr(spec, ':');
    snprintf(argbuf, sizeof argbuf, "%s", colon ? colon + 1 : "");
    size_t klen = colon ? (size_t)(colon - spec) : strcspn(spec, ",");
    if (!colon && spec[klen] == ',') /* "cifar100,coarse" */
        snprintf(argbuf, sizeof argbuf, "%s", spec + klen);
    if (klen >= sizeof kind) klen = sizeof kind - 1;
    memcpy(kind, spec, klen);
    kind[klen] = 0;
    if (spec_options(spec, argbuf, &o, &coarse, e) != 0) return NULL;
    if (check_opts(&o, e) != 0) return NULL;
    const char *arg = argbuf[0] ? argbuf : NULL;
    if (colon && !arg) {
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
        /* the two known sets have 10 named classes; idx: counts them */
        d->classes = strcmp(kind, "idx") ? 10 : 0;
        rc = sn_data_load_idx(d, d->path, e);
        if (rc != 0 && e && !arg && !strcmp(kind, "fashion-mnist") &&
            sn_data_check_dir(d->path, NULL) != 0) {
            size_t m = strlen(e->msg);
            snprintf(e->msg + m, sizeof e->msg - m,
                     " (install Debian's dataset-fashion-mnist, or give "
                     "fashion-mnist:DIR)");
        }
        if (rc == 0)
            sn_data_set_classes(d, d->classes, !strcmp(kind, "fashion-mnist")
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
    } else if (!strcmp(kind, "cifar100") || !strcmp(kind, "cifar-100")) {
        snprintf(d->name, sizeof d->name, "cifar100");
        if (arg)
            snprintf(d->path, sizeof d->path, "%s", arg);
        else
            snprintf(d->path, sizeof d->path, DEFAULT_ROOT "/cifar100");
        rc = sn_data_load_cifar100(d, d->path, coarse, e);
    } else if (!strcmp(kind, "folder")) {
        if (!arg) {
            rc = sn_errf(e, "dataset 'folder' needs a folder: folder:DIR");
            goto done;
        }
        snprintf(d->path, sizeof d->path, "%s", arg);
        rc = sn_data_load_folder(d, d->path, &o, e);
    } else if (!strcmp(kind, "npy")) {
        if (!arg) {
            rc = sn_errf(e, "dataset 'npy' needs files: npy:IMAGES.npy,"
                            "LABELS.npy");
            goto done;
        }
        snprintf(d->path, sizeof d->path, "%s", arg);
        rc = sn_data_load_npy(d, d->path, e);
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
                        "mnist:DIR, idx:DIR, cifar10:DIR, cifar100:DIR, "
                        "folder:DIR, npy:X.npy,Y.npy or synthetic:N)",
                     spec);
    }
    if (rc == 0) rc = finish(d, &o, e);
    if (rc == 0 && !d->load_seconds) d->load_seconds = sn_now() - t0;
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

const char *sn_data_warning(const sn_data *d) { return d->warning; }
int sn_data_from_cache(const sn_data *d) { return d->from_cache; }
double sn_data_load_seconds(const sn_data *d) { return d->load_seconds; }

const char *sn_data_describe(const sn_data *d, char *buf, size_t n) {
    char sh[32];
    snprintf(buf, n, "%s: %s, %d classes, %d train / %d val / %d test",
             d->name, sn_shape_fmt(sh, sizeof sh, d->shape), d->classes,
             d->split[SN_SPLIT_TRAIN].n, d->split[SN_SPLIT_VAL].n,
             d->split[SN_SPLIT_TEST].n);
    return buf;
}

/* Appends printf output to buf (of size n) at *len, keeping it terminated;
 * stops silently when full. */
static void add(char *buf, size_t n, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void add(char *buf, size_t n, size_t *len, const char *fmt, ...) {
    if (*len + 1 >= n) return;
    va_list ap;
    va_start(ap, fmt);
    int r = vsnprintf(buf + *len, n - *len, fmt, ap);
    va_end(ap);
    if (r > 0) *len += (size_t)r < n - *len ? (size_t)r : n - *len - 1;
}

const char *sn_data_summary(const sn_data *d, char *buf, size_t n) {
    size_t len = 0;
    int k = d->classes;
    buf[0] = 0;
    if (d->source[0])
        add(buf, n, &len, "data: %s\n", d->source);
    else if (d->path[0])
        add(buf, n, &len, "data: %s from %s\n", d->name, d->path);
    else
        add(buf, n, &len, "data: %s\n", d->name);
    add(buf, n, &len, "input: %dx%dx%d (HxWxC)%s%s%s\n", d->shape.h,
        d->shape.w, d->shape.c, d->fit_note[0] ? ", " : "", d->fit_note,
        d->from_cache ? ", pixels from the cache" : "");
    if (d->fitted && d->load_seconds > 0) {
        int total = d->src[0].n + d->src[1].n;
        add(buf, n, &len, "load: %d images %s in %.2f s (%.0f images/s)\n",
            total, d->from_cache ? "read from the cache" : "decoded",
            d->load_seconds, total / d->load_seconds);
    }
    add(buf, n, &len, "splits: %d train / %d val / %d test, %d classes\n",
        d->split[SN_SPLIT_TRAIN].n, d->split[SN_SPLIT_VAL].n,
        d->split[SN_SPLIT_TEST].n, k);
    int *cnt = sn_xcalloc((size_t)k * SN_SPLIT_COUNT, sizeof(int));
    for (int s = 0; s < SN_SPLIT_COUNT; s++)
        for (int i = 0; i < d->split[s].n; i++)
            cnt[s * k + d->split[s].label[i]]++;
    /* balance over the training files (train + val), subsets aside */
    int lo = 0, hi = 0;
    for (int c = 1; c < k; c++) {
        int nc = cnt[c] + cnt[k + c], nlo = cnt[lo] + cnt[k + lo],
            nhi = cnt[hi] + cnt[k + hi];
        if (nc < nlo) lo = c;
        if (nc > nhi) hi = c;
    }
    if (k <= 20) {
        int wname = 5;
        for (int c = 0; c < k; c++) {
            int l = (int)strlen(d->class_names[c]);
            if (l > wname) wname = l;
        }
        if (wname > 24) wname = 24;
        add(buf, n, &len, "  %-*s %7s %6s %6s\n", wname, "class", "train",
            "val", "test");
        for (int c = 0; c < k; c++)
            add(buf, n, &len, "  %-*.*s %7d %6d %6d\n", wname, wname,
                d->class_names[c], cnt[c], cnt[k + c], cnt[2 * k + c]);
    } else {
        add(buf, n, &len,
            "  training images per class: %d ('%s') to %d ('%s')\n",
            cnt[lo] + cnt[k + lo], d->class_names[lo], cnt[hi] + cnt[k + hi],
            d->class_names[hi]);
    }
    int nlo = cnt[lo] + cnt[k + lo], nhi = cnt[hi] + cnt[k + hi];
    if (10 * (int64_t)nlo < nhi)
        add(buf, n, &len,
            "warning: unbalanced classes: '%s' has %d training images, under "
            "a tenth of '%s' (%d); accuracy will favour the large classes\n",
            d->class_names[lo], nlo, d->class_names[hi], nhi);
    if (d->warning[0]) add(buf, n, &len, "warning: %s\n", d->warning);
    free(cnt);
    return buf;
}
