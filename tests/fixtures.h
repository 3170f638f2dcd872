/* fixtures.h — reader for the reference-tensor fixture that
 * tests/gen_fixtures.py writes from PyTorch (tests/fixtures/nn_ref_v1.bin).
 *
 * FORMAT, version 1. Every integer and float is little-endian.
 *
 *   "SNFX"                       4 bytes of magic
 *   u32 version                  1
 *   u32 count                    number of tensor records that follow
 *   count x record:
 *     u16 name_len, name         ASCII, not NUL-terminated, "<case>/<key>"
 *     u8  ndim                   1..FX_MAX_DIMS
 *     u32 dims[ndim]             outermost first (PyTorch order)
 *     f32 data[prod(dims)]       row-major (C order)
 *   u32 crc32                    zlib's CRC32 of every byte before it
 *
 * A file is refused as a whole (bad magic, other version, truncated,
 * trailing bytes, CRC mismatch, duplicate name): a partially read fixture
 * would make the reference test check less than it claims.
 *
 * NAMING. A case is a group of tensors sharing a prefix; the op is the part
 * of the case name before the first '_' (an sn_op_from_name name, or "xent"
 * for softmax cross-entropy), e.g. "conv_dw_k3s2p1/dweight".
 *   <case>/attr    float[10]: out k stride pad groups bias eps momentum
 *                  training smoothing — small integers are exact in float;
 *                  eps, momentum and smoothing are the float32 values the
 *                  reference itself used. Fields an op has no use for are 0.
 *   <case>/x       input [N,C,H,W], or [N,in] for dense
 *   <case>/weight, bias, running_mean, running_var   the op's tensors, named
 *                  as in sn_tensor_desc, PyTorch layouts
 *   <case>/out     forward output; <case>/dout the upstream gradient R
 *   <case>/dx, d<tensor>   gradients of sum(out * R)
 *   bn training:   <case>/running_mean_after, running_var_after
 *   xent:          logits [N,K], labels [N] (class ids as floats), loss [1],
 *                  dlogits [N,K] (gradient of the mean loss)
 *
 * USE
 *   fx_file f; sn_error e;
 *   if (fx_load(&f, fx_default_path(), &e) < 0) ... e.msg says why
 *   const fx_tensor *w = fx_find(&f, "conv_g1_k3s1p1/weight");
 *   ... w->data[0 .. w->size - 1]
 *   fx_free(&f);
 */
#ifndef SLIMNAS_TESTS_FIXTURES_H
#define SLIMNAS_TESTS_FIXTURES_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "slimnas/util.h"

#define FX_MAGIC "SNFX"
#define FX_VERSION 1u
#define FX_MAX_DIMS 8
#define FX_DEFAULT_PATH "tests/fixtures/nn_ref_v1.bin"

typedef struct fx_tensor {
    char *name;
    int ndim;
    int dims[FX_MAX_DIMS];
    int64_t size; /* product of dims */
    float *data;  /* own aligned copy: records sit at odd offsets */
} fx_tensor;

typedef struct fx_file {
    int count;
    fx_tensor *t;
} fx_file;

/* $SLIMNAS_FIXTURES, else the committed file (tests run from the root). */
static inline const char *fx_default_path(void) {
    const char *p = getenv("SLIMNAS_FIXTURES");
    return p && *p ? p : FX_DEFAULT_PATH;
}

static inline void fx_free(fx_file *f) {
    for (int i = 0; i < f->count; i++) {
        free(f->t[i].name);
        sn_free_aligned(f->t[i].data);
    }
    free(f->t);
    f->t = NULL;
    f->count = 0;
}

/* Bytes are assembled explicitly, so the reader works on any host byte
 * order and never does an unaligned load. */
static inline uint32_t fx_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static inline const fx_tensor *fx_find(const fx_file *f, const char *name) {
    for (int i = 0; i < f->count; i++)
        if (strcmp(f->t[i].name, name) == 0) return &f->t[i];
    return NULL;
}

/* Parses a whole fixture held in memory; on error f is left empty. */
static inline int fx_parse(fx_file *f, const void *buf, size_t len,
                           const char *what, sn_error *e) {
    const unsigned char *b = buf;
    f->count = 0;
    f->t = NULL;
    if (len < 16 || memcmp(b, FX_MAGIC, 4) != 0)
        return sn_errf(e, "%s: not a fixture file (no SNFX magic)", what);
    uint32_t crc = fx_u32(b + len - 4);
    if (sn_crc32(0, b, len - 4) != crc)
        return sn_errf(e, "%s: CRC32 mismatch (corrupt or truncated)", what);
    uint32_t version = fx_u32(b + 4);
    if (version != FX_VERSION)
        return sn_errf(e, "%s: format version %u, this reader knows %u", what,
                       (unsigned)version, FX_VERSION);
    uint32_t count = fx_u32(b + 8);
    size_t end = len - 4, at = 12;
    /* Each record takes at least 2 + 1 + 1 + 4 + 4 bytes: this bounds count
     * before it sizes an allocation. */
    if (count > end / 12)
        return sn_errf(e, "%s: implausible record count %u", what,
                       (unsigned)count);
    f->t = sn_xcalloc(count ? count : 1, sizeof *f->t);
    uint32_t i;
    for (i = 0; i < count; i++) {
        fx_tensor *t = &f->t[i];
        if (end - at < 2) goto truncated;
        size_t nlen = (size_t)b[at] | (size_t)b[at + 1] << 8;
        at += 2;
        if (nlen == 0 || end - at < nlen + 1) goto truncated;
        t->name = sn_xmalloc(nlen + 1);
        memcpy(t->name, b + at, nlen);
        t->name[nlen] = 0;
        f->count = (int)i + 1; /* from here fx_free releases this record */
        at += nlen;
        if (memchr(t->name, 0, nlen)) {
            sn_errf(e, "%s: record %u has a NUL in its name", what,
                    (unsigned)i);
            goto fail;
        }
        t->ndim = b[at++];
        if (t->ndim < 1 || t->ndim > FX_MAX_DIMS) {
            sn_errf(e, "%s: %s: bad ndim %d", what, t->name, t->ndim);
            goto fail;
        }
        if (end - at < 4 * (size_t)t->ndim) goto truncated;
        t->size = 1;
        for (int d = 0; d < t->ndim; d++, at += 4) {
            uint32_t v = fx_u32(b + at);
            if (v == 0 || v > (1u << 24) || t->size * v > (1 << 28)) {
                sn_errf(e, "%s: %s: bad dimension %u", what, t->name,
                        (unsigned)v);
                goto fail;
            }
            t->dims[d] = (int)v;
            t->size *= v;
        }
        if ((end - at) / 4 < (size_t)t->size) goto truncated;
        t->data = sn_falloc((size_t)t->size);
        for (int64_t k = 0; k < t->size; k++, at += 4) {
            uint32_t u = fx_u32(b + at);
            memcpy(&t->data[k], &u, 4);
        }
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(f->t[j].name, t->name) == 0) {
                sn_errf(e, "%s: duplicate tensor %s", what, t->name);
                goto fail;
            }
    }
    if (at != end) {
        sn_errf(e, "%s: %zu stray bytes after the last record", what,
                end - at);
        goto fail;
    }
    return 0;
truncated:
    sn_errf(e, "%s: record %u runs past the end of the file", what,
            (unsigned)i);
fail:
    fx_free(f);
    return -1;
}

static inline int fx_load(fx_file *f, const char *path, sn_error *e) {
    char *buf;
    size_t len;
    f->count = 0;
    f->t = NULL;
    if (sn_read_file(path, &buf, &len, e) < 0) return -1;
    int rc = fx_parse(f, buf, len, path, e);
    free(buf);
    return rc;
}

#endif
