/* npy.c — NumPy .npy files as a dataset: npy:X.npy,Y.npy (a fifth of each
 * class, by a fixed seed, becomes the test set) or npy:X.npy,Y.npy,
 * TX.npy,TY.npy (training and test arrays).
 *
 * A .npy file is the magic "\x93NUMPY", a version (1, 2 or 3), a header
 * length (2 bytes little-endian, 4 from version 2) and a Python dict
 * literal {'descr': '<f4', 'fortran_order': False, 'shape': (N, H, W), }
 * padded with spaces, then the array in C order.
 *
 * Images: uint8, or float32/float64 in [0, 1] (scaled by 255) or [0, 255]
 * (when any value is above 1); NaN, infinity and values outside those
 * ranges are refused. Shapes (N, H, W) (grey), (N, H, W, C) (NHWC, C 1 or
 * 3; also chosen when both readings fit) or (N, C, H, W) (NCHW). Labels:
 * any integer type, shape (N,) or (N, 1); classes from the training labels
 * (data.c). */
#include "data_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NPY_MAX_DIMS 8

typedef struct npy {
    char path[1024];
    sn_data_file f;
    char kind;      /* 'u', 'i', 'f', 'b' */
    int size;       /* bytes per element */
    int big;        /* big-endian */
    int ndim;
    int64_t dim[NPY_MAX_DIMS];
    const uint8_t *data;
    size_t count;   /* elements */
} npy;

/* The value after 'key': in the header, NULL if missing. */
static const char *hfield(const char *h, const char *key) {
    char pat[32];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(h, pat);
    if (!p) {
        snprintf(pat, sizeof pat, "\"%s\"", key);
        p = strstr(h, pat);
    }
    if (!p) return NULL;
    p += strlen(pat);
    while (isspace((unsigned char)*p)) p++;
    if (*p != ':') return NULL;
    p++;
    while (isspace((unsigned char)*p)) p++;
    return p;
}

static int npy_read(npy *a, const char *path, sn_error *e) {
    memset(a, 0, sizeof *a);
    snprintf(a->path, sizeof a->path, "%s", path);
    if (sn_data_read_file(path, &a->f, e) != 0) return -1;
    const uint8_t *b = a->f.data;
    size_t n = a->f.len;
    if (a->f.gz)
        return sn_errf(e, "%s: gzip-compressed; expected a plain .npy file",
                       path);
    if (n < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
        return sn_errf(e, "%s: not a .npy file (no \\x93NUMPY magic)", path);
    int major = b[6];
    size_t hlen, hoff;
    if (major == 1) {
        hlen = (size_t)b[8] | (size_t)b[9] << 8;
        hoff = 10;
    } else if (major == 2 || major == 3) {
        if (n < 12)
            return sn_errf(e, "%s: truncated .npy header", path);
        hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 |
               (size_t)b[11] << 24;
        hoff = 12;
    } else {
        return sn_errf(e, "%s: .npy version %d is not supported (1 to 3)",
                       path, major);
    }
    if (hoff + hlen > n || hlen > 65536)
        return sn_errf(e, "%s: truncated .npy header (%zu bytes announced, "
                          "file has %zu)",
                       path, hlen, n);
    char *h = sn_xmalloc(hlen + 1);
    memcpy(h, b + hoff, hlen);
    h[hlen] = 0;
    int rc = -1;
    const char *v = hfield(h, "descr");
    char descr[16] = "";
    if (v && (*v == '\'' || *v == '"')) {
        const char *end = strchr(v + 1, *v);
        if (end && end - v - 1 < (int)sizeof descr) {
            memcpy(descr, v + 1, (size_t)(end - v - 1));
            descr[end - v - 1] = 0;
        }
    }
    if (strlen(descr) < 3 || !strchr("<>|=", descr[0]) ||
        !strchr("uifb", descr[1]) || !isdigit((unsigned char)descr[2])) {
        sn_errf(e, "%s: unsupported or missing dtype '%s' in the header "
                   "(expected integers, uint8 or float)",
                path, descr);
        goto out;
    }
    a->kind = descr[1];
    a->size = atoi(descr + 2);
    a->big = descr[0] == '>';
    if (!(a->size == 1 || a->size == 2 || a->size == 4 || a->size == 8) ||
        (a->kind == 'f' && a->size < 4)) {
        sn_errf(e, "%s: unsupported dtype '%s'", path, descr);
        goto out;
    }
    v = hfield(h, "fortran_order");
    if (v && !strncmp(v, "True", 4)) {
        sn_errf(e, "%s: Fortran-order array; save it with "
                   "numpy.ascontiguousarray first",
                path);
        goto out;
    }
    v = hfield(h, "shape");
    if (!v || *v != '(') {
        sn_errf(e, "%s: no shape in the .npy header", path);
        goto out;
    }
    v++;
    a->count = 1;
    for (;;) {
        while (isspace((unsigned char)*v) || *v == ',') v++;
        if (*v == ')') break;
        char *end;
        long long x = strtoll(v, &end, 10);
        if (end == v || x < 0 || a->ndim == NPY_MAX_DIMS) {
            sn_errf(e, "%s: bad shape in the .npy header", path);
            goto out;
        }
        a->dim[a->ndim++] = x;
        if (x > 0 && a->count > ((size_t)1 << 40) / (size_t)x) {
            sn_errf(e, "%s: array too large", path);
            goto out;
        }
        a->count *= (size_t)x;
        v = end;
        while (*v == 'L') v++; /* Python 2 longs */
    }
    if (a->ndim == 0) {
        sn_errf(e, "%s: a scalar, not an array", path);
        goto out;
    }
    size_t want = hoff + hlen + a->count * (size_t)a->size;
    if (n != want) {
        sn_errf(e, "%s: header says %zu elements of %d bytes (%zu bytes with "
                   "the header) but the file holds %zu bytes",
                path, a->count, a->size, want, n);
        goto out;
    }
    a->data = b + hoff + hlen;
    rc = 0;
out:
    free(h);
    return rc;
}

/* Element i as a double (integers exact up to 2^53). */
static double npy_get(const npy *a, size_t i) {
    const uint8_t *p = a->data + i * (size_t)a->size;
    uint8_t b[8];
    for (int k = 0; k < a->size; k++) b[k] = p[a->big ? a->size - 1 - k : k];
    uint64_t u = 0;
    for (int k = a->size - 1; k >= 0; k--) u = u << 8 | b[k];
    switch (a->kind) {
    case 'b':
    case 'u': return (double)u;
    case 'i': {
        int sh = 64 - 8 * a->size;
        return (double)((int64_t)(u << sh) >> sh);
    }
    default:
        if (a->size == 4) {
            uint32_t w = (uint32_t)u;
            float f;
            memcpy(&f, &w, 4);
            return f;
        } else {
            double x;
            memcpy(&x, &u, 8);
            return x;
        }
    }
}

/* Images of a into src (planar uint8); shape checked against *shape when
 * `check` (test images must match the training images). */
static int load_images(const npy *a, sn_shape *shape, int check,
                       sn_data_source *src, sn_error *e) {
    sn_shape s;
    int nhwc = 1;
    if (a->ndim == 3) {
        s = (sn_shape){1, (int)a->dim[1], (int)a->dim[2]};
    } else if (a->ndim == 4) {
        int last = a->dim[3] == 1 || a->dim[3] == 3;
        int first = a->dim[1] == 1 || a->dim[1] == 3;
        if (!last && !first)
            return sn_errf(e, "%s: shape (%lld, %lld, %lld, %lld) has no "
                              "channel axis of 1 or 3 (expected NHWC or NCHW)",
                           a->path, (long long)a->dim[0], (long long)a->dim[1],
                           (long long)a->dim[2], (long long)a->dim[3]);
        nhwc = last;
        if (nhwc)
            s = (sn_shape){(int)a->dim[3], (int)a->dim[1], (int)a->dim[2]};
        else
            s = (sn_shape){(int)a->dim[1], (int)a->dim[2], (int)a->dim[3]};
    } else {
        return sn_errf(e, "%s: images need 3 dimensions (N, H, W) or 4 (NHWC "
                          "or NCHW), not %d",
                       a->path, a->ndim);
    }
    if (a->kind == 'b' || a->kind == 'i' || (a->kind == 'u' && a->size != 1))
        return sn_errf(e, "%s: images must be uint8 or float (dtype %c%d)",
                       a->path, a->kind, a->size);
    if (a->dim[0] < 1 || a->dim[0] > 0x7fffffff || s.h < 1 || s.w < 1 ||
        s.h > 4096 || s.w > 4096)
        return sn_errf(e, "%s: %lld images of %dx%d: out of range", a->path,
                       (long long)a->dim[0], s.h, s.w);
    if (check && (s.c != shape->c || s.h != shape->h || s.w != shape->w))
        return sn_errf(e, "%s: images are %dx%dx%d but the training images "
                          "are %dx%dx%d (HxWxC)",
                       a->path, s.h, s.w, s.c, shape->h, shape->w, shape->c);
    *shape = s;
    int n = (int)a->dim[0];
    size_t hw = (size_t)s.h * s.w, chw = hw * s.c;
    double scale = 1;
    if (a->kind == 'f') { /* [0, 1] or [0, 255]; nothing else */
        double mx = 0;
        for (size_t i = 0; i < a->count; i++) {
            double x = npy_get(a, i);
            if (!isfinite(x))
                return sn_errf(e, "%s: %s in image %zu", a->path,
                               isnan(x) ? "NaN" : "infinity", i / chw);
            if (x < 0 || x > 255)
                return sn_errf(e, "%s: value %g in image %zu is outside 0..1 "
                                  "and 0..255",
                               a->path, x, i / chw);
            if (x > mx) mx = x;
        }
        scale = mx <= 1 ? 255 : 1;
    }
    src->n = n;
    src->owned = src->pix = sn_xmalloc((size_t)n * chw);
    for (int i = 0; i < n; i++)
        for (int c = 0; c < s.c; c++)
            for (size_t j = 0; j < hw; j++) {
                size_t at = (size_t)i * chw +
                            (nhwc ? j * s.c + c : (size_t)c * hw + j);
                double x = a->kind == 'f' ? npy_get(a, at) * scale + 0.5
                                          : a->data[at];
                src->pix[(size_t)i * chw + (size_t)c * hw + j] =
                    (uint8_t)(x > 255 ? 255 : x);
            }
    return 0;
}

static int load_labels(const npy *a, int n, const char *ipath,
                       sn_data_source *src, sn_error *e) {
    if (a->kind == 'f')
        return sn_errf(e, "%s: labels must be integers, not float%d", a->path,
                       8 * a->size);
    if (!(a->ndim == 1 || (a->ndim == 2 && a->dim[1] == 1)))
        return sn_errf(e, "%s: labels need shape (N,) or (N, 1), not %d "
                          "dimensions",
                       a->path, a->ndim);
    if (a->dim[0] != n)
        return sn_errf(e, "%s: %lld labels but %s has %d images", a->path,
                       (long long)a->dim[0], ipath, n);
    src->label = sn_xmalloc((size_t)(n + 1) * sizeof(int));
    for (int i = 0; i < n; i++) {
        double y = npy_get(a, (size_t)i);
        if (y < -1e9 || y > 1e9)
            return sn_errf(e, "%s: label %.0f of item %d is out of range",
                           a->path, y, i);
        src->label[i] = (int)y;
    }
    return 0;
}

/* Moves a fifth of each class (fixed seed) from src[0] to src[1]. */
static void split_test(sn_data *d) {
    sn_data_source all = d->src[0];
    int n = all.n, k = d->classes;
    size_t chw = (size_t)sn_shape_size(d->shape);
    unsigned char *test = sn_xcalloc((size_t)n, 1);
    int *idx = sn_xmalloc((size_t)n * sizeof(int));
    sn_rng r;
    sn_rng_seed(&r, 0x6e70797465737473ULL);
    for (int c = 0; c < k; c++) {
        int m = 0;
        for (int i = 0; i < n; i++)
            if (all.label[i] == c) idx[m++] = i;
        for (int i = m - 1; i > 0; i--) {
            int j = sn_rng_int(&r, i + 1), t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
        }
        int nt = (int)(0.2 * m + 0.5);
        if (nt < 1 && m >= 3) nt = 1;
        for (int i = 0; i < nt; i++) test[idx[i]] = 1;
    }
    int ns[2] = {0, 0};
    for (int i = 0; i < n; i++) ns[test[i]]++;
    for (int s = 0; s < 2; s++) {
        d->src[s].n = 0;
        d->src[s].owned = d->src[s].pix = sn_xmalloc((size_t)ns[s] * chw + 1);
        d->src[s].label = sn_xmalloc((size_t)(ns[s] + 1) * sizeof(int));
    }
    for (int i = 0; i < n; i++) {
        sn_data_source *to = &d->src[test[i]];
        memcpy(to->pix + (size_t)to->n * chw, all.pix + (size_t)i * chw, chw);
        to->label[to->n++] = all.label[i];
    }
    free(all.owned);
    free(all.label);
    free(test);
    free(idx);
}

int sn_data_load_npy(sn_data *d, const char *files, sn_error *e) {
    char buf[1100], *path[4];
    int n = 0;
    snprintf(buf, sizeof buf, "%s", files);
    for (char *p = buf; n < 4;) {
        path[n++] = p;
        char *c = strchr(p, ',');
        if (!c) break;
        *c = 0;
        p = c + 1;
    }
    if ((n != 2 && n != 4) || strchr(files + (path[n - 1] - buf), ','))
        return sn_errf(e, "npy:%s: expected IMAGES.npy,LABELS.npy or "
                          "TRAIN_X.npy,TRAIN_Y.npy,TEST_X.npy,TEST_Y.npy",
                       files);
    npy a[4];
    memset(a, 0, sizeof a);
    int rc = -1;
    for (int s = 0; s < n / 2; s++) {
        if (npy_read(&a[2 * s], path[2 * s], e) != 0 ||
            npy_read(&a[2 * s + 1], path[2 * s + 1], e) != 0 ||
            load_images(&a[2 * s], &d->shape, s, &d->src[s], e) != 0 ||
            load_labels(&a[2 * s + 1], d->src[s].n, path[2 * s], &d->src[s],
                        e) != 0)
            goto out;
    }
    if (sn_data_classes_from_labels(d, path[1], n == 4 ? path[3] : path[1],
                                    e) != 0)
        goto out;
    if (n == 2) split_test(d);
    sn_data_set_classes(d, d->classes, NULL);
    snprintf(d->source, sizeof d->source, "npy %s: %d images, %d classes%s",
             files, d->src[0].n + d->src[1].n, d->classes,
             n == 2 ? ", a fifth of each class held out for testing" : "");
    rc = 0;
out:
    for (int i = 0; i < 4; i++) free(a[i].f.data);
    return rc;
}
