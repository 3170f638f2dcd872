/* idx.c — IDX files (MNIST, Fashion-MNIST): a big-endian header (magic
 * 0x00000803 + count, rows, cols for images; 0x00000801 + count for
 * labels) followed by unsigned bytes, raw or gzip-compressed. Every size
 * is checked against the header before a byte is trusted. The caller
 * sets d->classes: labels must be below it, or 0 to count the classes
 * from the training labels. */
#include "data_internal.h"

#include <stdlib.h>
#include <string.h>

#define IDX_IMAGES 0x00000803u
#define IDX_LABELS 0x00000801u
/* Rows and columns beyond this are not an image dataset we can train on
 * and would only make the size arithmetic fragile. */
#define IDX_MAX_SIDE 4096

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

/* Finds DIR/<stem>-<tail> or its .gz, or the "<stem>.<tail>" spelling
 * some mirrors use; path gets the first that exists. */
static int find_file(const char *dir, const char *stem, const char *tail,
                     char *path, size_t n, sn_error *e) {
    static const char *const fmt[] = {"%s/%s-%s", "%s/%s-%s.gz", "%s/%s.%s",
                                      "%s/%s.%s.gz"};
    for (size_t i = 0; i < sizeof fmt / sizeof fmt[0]; i++) {
        snprintf(path, n, fmt[i], dir, stem, tail);
        if (sn_data_file_exists(path)) return 0;
    }
    return sn_errf(e, "%s: missing %s-%s (also looked for %s-%s.gz)", dir, stem,
                   tail, stem, tail);
}

/* Reads one IDX file of the given kind. On success *f holds the bytes and
 * dims[0..ndim) the header's dimensions; the payload follows the header. */
static int read_idx(const char *path, uint32_t want, uint32_t dims[3],
                    sn_data_file *f, sn_error *e) {
    if (sn_data_read_file(path, f, e) != 0) return -1;
    int ndim = (int)(want & 0xff);
    size_t header = 4 + 4 * (size_t)ndim;
    const char *what = want == IDX_IMAGES ? "image" : "label";
    if (f->corrupt)
        return sn_errf(e, "%s: corrupt gzip data (%s)", path, f->zmsg);
    if (f->len < header) {
        if (f->truncated)
            return sn_errf(e, "%s: truncated gzip stream (got %zu bytes, less "
                              "than the %zu-byte IDX header)",
                           path, f->len, header);
        return sn_errf(e, "%s: %zu bytes is too short for an IDX %s file "
                          "(header alone is %zu bytes)",
                       path, f->len, what, header);
    }
    uint32_t magic = be32(f->data);
    if (magic != want) {
        const char *hint = "";
        if (magic == IDX_LABELS) hint = "; this is a label file";
        if (magic == IDX_IMAGES) hint = "; this is an image file";
        if (f->data[0] == 0x1f && f->data[1] == 0x8b)
            hint = "; it is gzip inside gzip";
        return sn_errf(e, "%s: wrong magic 0x%08x (expected 0x%08x for an IDX "
                          "%s file%s)",
                       path, magic, want, what, hint);
    }
    uint64_t expect = 1;
    for (int i = 0; i < ndim; i++) {
        dims[i] = be32(f->data + 4 + 4 * i);
        if (i > 0 && (dims[i] == 0 || dims[i] > IDX_MAX_SIDE))
            return sn_errf(e, "%s: image side %u in the header is out of range "
                              "(1..%d)",
                           path, dims[i], IDX_MAX_SIDE);
        expect *= dims[i];
    }
    if (dims[0] == 0) return sn_errf(e, "%s: header says 0 %ss", path, what);
    if (dims[0] > (uint32_t)0x7fffffff)
        return sn_errf(e, "%s: header count %u is too large", path, dims[0]);
    expect += header;
    if (f->truncated)
        return sn_errf(e, "%s: truncated gzip stream (expected %llu bytes, got "
                          "%zu)",
                       path, (unsigned long long)expect, f->len);
    if (f->len != expect) {
        char shape[64] = "";
        if (ndim == 3)
            snprintf(shape, sizeof shape, " of %ux%u", dims[1], dims[2]);
        return sn_errf(e, "%s: header says %u %ss%s (%llu bytes) but the file "
                          "%s %zu bytes",
                       path, dims[0], what, shape, (unsigned long long)expect,
                       f->gz ? "decompresses to" : "holds", f->len);
    }
    return 0;
}

/* Loads one images + labels pair into src. */
static int load_pair(sn_data *d, const char *dir, const char *stem_img,
                     const char *stem_lbl, sn_data_source *src, int first,
                     char lpath[1200], sn_error *e) {
    char ipath[1200];
    if (find_file(dir, stem_img, "idx3-ubyte", ipath, sizeof ipath, e) ||
        find_file(dir, stem_lbl, "idx1-ubyte", lpath, 1200, e))
        return -1;
    sn_data_file fi, fl;
    uint32_t di[3] = {0}, dl[3] = {0};
    if (read_idx(ipath, IDX_IMAGES, di, &fi, e) != 0) {
        free(fi.data);
        return -1;
    }
    /* Hand the image buffer to src now so every later error frees it. */
    src->owned = fi.data;
    src->pix = fi.data + 16;
    if (read_idx(lpath, IDX_LABELS, dl, &fl, e) != 0) {
        free(fl.data);
        return -1;
    }
    int rc = -1;
    if (di[0] != dl[0]) {
        sn_errf(e, "%s: %u images but %s has %u labels", ipath, di[0], lpath,
                dl[0]);
        goto out;
    }
    if (first) {
        d->shape = (sn_shape){1, (int)di[1], (int)di[2]};
    } else if ((int)di[1] != d->shape.h || (int)di[2] != d->shape.w) {
        sn_errf(e, "%s: images are %ux%u but the training images are %dx%d",
                ipath, di[1], di[2], d->shape.h, d->shape.w);
        goto out;
    }
    src->n = (int)di[0];
    src->label = sn_xmalloc((size_t)src->n * sizeof(int));
    const uint8_t *lab = fl.data + 8;
    for (int i = 0; i < src->n; i++) {
        if (d->classes > 0 && lab[i] >= d->classes) {
            sn_errf(e, "%s: label %d of item %d is out of range (expected "
                       "0..%d)",
                    lpath, lab[i], i, d->classes - 1);
            goto out;
        }
        src->label[i] = lab[i];
    }
    rc = 0;
out:
    free(fl.data);
    return rc;
}

int sn_data_load_idx(sn_data *d, const char *dir, sn_error *e) {
    if (sn_data_check_dir(dir, e) != 0) return -1;
    char ltrain[1200], ltest[1200];
    if (load_pair(d, dir, "train-images", "train-labels", &d->src[0], 1,
                  ltrain, e) ||
        load_pair(d, dir, "t10k-images", "t10k-labels", &d->src[1], 0, ltest,
                  e))
        return -1;
    /* d->classes 0: as many as the labels say */
    if (d->classes == 0 &&
        sn_data_classes_from_labels(d, ltrain, ltest, e) != 0)
        return -1;
    return 0;
}
