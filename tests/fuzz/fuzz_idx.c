/* fuzz_idx.c — IDX dataset files, raw and gzip (idx:DIR, mnist,
 * fashion-mnist). A folder of four small valid files is made once; each
 * input replaces one of them: the first byte picks the file (bits 0-1:
 * train images, train labels, test images, test labels) and the form
 * (bits 2-3: 0 the rest of the input as the raw file, 1 the rest gzipped
 * by the target, so that any content reaches the IDX parser through
 * zlib, 2 the rest as the bytes of a .gz file). sn_data_open then loads
 * the folder. The target gzips in memory with one deflate stream made at
 * start-up (reset per input, memLevel 1: a small hash to clear) rather
 * than a gzopen per input, whose fresh 300 KB of deflate state cost more
 * than the load. */
#include "fuzz.h"

#include <zlib.h>

#include "slimnas/data.h"

static char fuzz_idx_dir[256];
static z_stream fuzz_idx_z;
static uint8_t *fuzz_idx_zout;
static size_t fuzz_idx_zcap;
static const char *const fuzz_idx_names[4] = {
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

/* The valid file of slot k: 8 training or 4 test images of 5x5. */
static size_t fuzz_idx_valid(int k, uint8_t *buf) {
    int n = k < 2 ? 8 : 4, images = !(k & 1);
    size_t at = 0;
    uint32_t hdr[4] = {images ? 0x803u : 0x801u, (uint32_t)n, 5, 5};
    int words = images ? 4 : 2;
    for (int i = 0; i < words; i++) {
        buf[at++] = (uint8_t)(hdr[i] >> 24);
        buf[at++] = (uint8_t)(hdr[i] >> 16);
        buf[at++] = (uint8_t)(hdr[i] >> 8);
        buf[at++] = (uint8_t)hdr[i];
    }
    for (int i = 0; i < n * (images ? 25 : 1); i++)
        buf[at++] = (uint8_t)(images ? (i * 37) & 255 : i % 10);
    return at;
}

static void fuzz_idx_reset(int k) {
    uint8_t buf[512];
    char p[512];
    snprintf(p, sizeof p, "%s/%s.gz", fuzz_idx_dir, fuzz_idx_names[k]);
    unlink(p);
    fuzz_put(fuzz_idx_dir, fuzz_idx_names[k], buf, fuzz_idx_valid(k, buf));
}

FUZZ_INIT(idx) {
    fuzz_tmpdir(fuzz_idx_dir, sizeof fuzz_idx_dir, "idx");
    for (int k = 0; k < 4; k++) fuzz_idx_reset(k);
    if (deflateInit2(&fuzz_idx_z, 6, Z_DEFLATED, 15 + 16, 1,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        abort();
    return 0;
}

FUZZ_TARGET(idx)(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int k = data[0] & 3, form = (data[0] >> 2) & 3;
    data++;
    size--;
    char raw[400];
    snprintf(raw, sizeof raw, "%s/%s", fuzz_idx_dir, fuzz_idx_names[k]);
    unlink(raw);
    char gzname[128];
    snprintf(gzname, sizeof gzname, "%s.gz", fuzz_idx_names[k]);
    if (form == 0) {
        fuzz_put(fuzz_idx_dir, fuzz_idx_names[k], data, size);
    } else if (form == 1) {
        /* reset first: a finished stream's bound leaves out the gzip
         * header and trailer */
        if (deflateReset(&fuzz_idx_z) != Z_OK) abort();
        size_t need = deflateBound(&fuzz_idx_z, (uLong)size);
        if (need > fuzz_idx_zcap) {
            fuzz_idx_zcap = need;
            fuzz_idx_zout = realloc(fuzz_idx_zout, need);
            if (!fuzz_idx_zout) abort();
        }
        fuzz_idx_z.next_in = (Bytef *)data;
        fuzz_idx_z.avail_in = (uInt)size;
        fuzz_idx_z.next_out = fuzz_idx_zout;
        fuzz_idx_z.avail_out = (uInt)need;
        if (deflate(&fuzz_idx_z, Z_FINISH) != Z_STREAM_END) abort();
        fuzz_put(fuzz_idx_dir, gzname, fuzz_idx_zout,
                 need - fuzz_idx_z.avail_out);
    } else {
        fuzz_put(fuzz_idx_dir, gzname, data, size);
    }
    char spec[300];
    snprintf(spec, sizeof spec, "idx:%s", fuzz_idx_dir);
    sn_data_opts o = sn_data_opts_default();
    o.val_split = 0.25;
    sn_error e;
    sn_data *d = sn_data_open(spec, &o, &e);
    sn_data_free(d);
    fuzz_idx_reset(k);
    return 0;
}
