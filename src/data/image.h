/* image.h — image decoding and fitting for the folder and npy loaders.
 * Not a public header. */
#ifndef SLIMNAS_DATA_IMAGE_H
#define SLIMNAS_DATA_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "slimnas/data.h"

enum { SN_IMG_UNKNOWN, SN_IMG_JPEG, SN_IMG_PNG, SN_IMG_BMP, SN_IMG_PNM };

/* From the first bytes (never the file name). */
int sn_image_kind(const uint8_t *p, size_t n);

typedef struct sn_image {
    int src_w, src_h, src_c; /* as stored; src_c 1 (grey, grey+alpha) or 3 */
    uint8_t *pix;            /* [h][w][c] interleaved, malloc'd; NULL when
                                only the header was read */
    int w, h, c;             /* of pix */
} sn_image;

/* Decodes n bytes. want_c: 1 grey, 3 RGB (converted as needed, alpha
 * dropped), 0 = read the header only (src_* set, pix NULL). A JPEG may be
 * decoded at 1/2, 1/4 or 1/8 scale when that still leaves at least
 * min_w x min_h (0 = full size). -1 with the decoder's reason in err on a
 * corrupt, truncated or unsupported file; libjpeg warnings count as
 * errors. Thread-safe. */
int sn_image_decode(const uint8_t *data, size_t n, int want_c, int min_w,
                    int min_h, sn_image *im, char *err, size_t errn);

/* Fits in [h][w][c] to out [c][oh][ow] (planar, as the dataset stores
 * it): crop, pad or stretch, resized by area averaging when shrinking and
 * bilinear interpolation when enlarging (each axis on its own); a
 * same-size image is copied exactly. */
void sn_image_fit(const uint8_t *in, int w, int h, int c, uint8_t *out, int ow,
                  int oh, int fit);

/* n_px interleaved pixels from c_in to c_out channels (1 or 3): grey to
 * RGB repeats, RGB to grey takes BT.601 luma (as libjpeg and stb do). */
void sn_image_convert_channels(const uint8_t *in, int n_px, int c_in,
                               uint8_t *out, int c_out);

#endif
