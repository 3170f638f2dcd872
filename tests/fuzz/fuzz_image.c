/* fuzz_image.c — one image file of an image folder (JPEG through
 * libjpeg-turbo; PNG, BMP, PGM, PPM through stb_image), decoded as the
 * folder loader does: the header alone (the loader's first pass, which
 * settles the input size), then the pixels as grey or RGB (picked by the
 * input's size) at a 6x5 input size (a JPEG may be decoded at a smaller
 * DCT scale), then fitted to 6x5 by crop, pad or stretch. Either decode
 * may refuse the input with a reason; what both accept must agree (the
 * header's size and channels are those the pixels have). */
#include "fuzz.h"

#include "../../src/data/image.h"

FUZZ_TARGET(image)(const uint8_t *data, size_t size) {
    char err[256];
    sn_image head, im;
    int hrc = sn_image_decode(data, size, 0, 0, 0, &head, err, sizeof err);
    if (hrc == 0 && head.pix) abort();
    if (hrc != 0 && !err[0]) abort(); /* a refusal always says why */
    int c = size & 1 ? 1 : 3;
    err[0] = 0;
    int rc = sn_image_decode(data, size, c, 6, 5, &im, err, sizeof err);
    if (rc != 0) {
        if (!err[0] || im.pix) abort();
        return 0;
    }
    if (hrc != 0 || im.src_w != head.src_w || im.src_h != head.src_h ||
        im.src_c != head.src_c)
        abort();
    if (!im.pix || im.c != c || im.w < 1 || im.h < 1 || im.w > im.src_w ||
        im.h > im.src_h)
        abort();
    uint8_t out[3 * 6 * 5];
    sn_image_fit(im.pix, im.w, im.h, im.c, out, 6, 5, (int)(size % 3));
    free(im.pix);
    return 0;
}
