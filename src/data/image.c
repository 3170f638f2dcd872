/* image.c — decoding one image file held in memory (JPEG through
 * libjpeg-turbo; PNG, BMP, PGM/PPM through stb_image) and fitting decoded
 * pixels to the dataset's input size: channel conversion, then a resize
 * (area averaging when shrinking, bilinear when enlarging, as OpenCV's
 * INTER_AREA) after a centre crop (keeps the aspect ratio, loses the
 * edges), inside black padding (keeps everything) or stretched. */
#include "image.h"

#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>
#include <stb_image.h>

const char *sn_fit_name(int fit) {
    switch (fit) {
    case SN_FIT_CROP: return "crop";
    case SN_FIT_PAD: return "pad";
    case SN_FIT_STRETCH: return "stretch";
    default: return "?";
    }
}

int sn_fit_from_name(const char *s) {
    if (!strcmp(s, "crop")) return SN_FIT_CROP;
    if (!strcmp(s, "pad")) return SN_FIT_PAD;
    if (!strcmp(s, "stretch")) return SN_FIT_STRETCH;
    return -1;
}

int sn_image_kind(const uint8_t *p, size_t n) {
    if (n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff)
        return SN_IMG_JPEG;
    if (n >= 8 && !memcmp(p, "\x89PNG\r\n\x1a\n", 8)) return SN_IMG_PNG;
    if (n >= 2 && p[0] == 'B' && p[1] == 'M') return SN_IMG_BMP;
    if (n >= 2 && p[0] == 'P' && (p[1] == '5' || p[1] == '6'))
        return SN_IMG_PNM;
    return SN_IMG_UNKNOWN;
}

/* A header may claim any size (a 100-byte file can say 65,000 x 65,000):
 * images beyond this many pixels are refused before their pixels are
 * allocated. 64 megapixels is well above any camera's photo. */
#define IMAGE_MAX_PIXELS ((int64_t)1 << 26)

static int too_big(int64_t w, int64_t h, char *err, size_t errn) {
    if (w < 1 || h < 1) {
        snprintf(err, errn, "bad size %lld x %lld in the header",
                 (long long)w, (long long)h);
        return 1;
    }
    if (w * h <= IMAGE_MAX_PIXELS) return 0;
    snprintf(err, errn, "%lld x %lld pixels is too large (at most %lld "
                        "megapixels)",
             (long long)w, (long long)h, (long long)(IMAGE_MAX_PIXELS >> 20));
    return 1;
}

/* ---- JPEG ------------------------------------------------------------- */

typedef struct jerr {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} jerr;

static void j_error_exit(j_common_ptr ci) {
    jerr *je = (jerr *)ci->err;
    ci->err->format_message(ci, je->msg);
    longjmp(je->jump, 1);
}

/* Warnings (a premature end of data, a corrupt entropy segment) mean the
 * decoder filled in pixels it never read: an error for training data. */
static void j_emit(j_common_ptr ci, int level) {
    if (level < 0) j_error_exit(ci);
}

static int jpeg_decode(const uint8_t *data, size_t n, int want_c, int min_w,
                       int min_h, sn_image *im, char *err, size_t errn) {
    struct jpeg_decompress_struct ci;
    jerr je;
    memset(&ci, 0, sizeof ci);
    ci.err = jpeg_std_error(&je.mgr);
    je.mgr.error_exit = j_error_exit;
    je.mgr.emit_message = j_emit;
    /* volatile: read after longjmp */
    uint8_t *volatile pix = NULL;
    if (setjmp(je.jump)) {
        snprintf(err, errn, "%s", je.msg);
        jpeg_destroy_decompress(&ci);
        free(pix);
        return -1;
    }
    jpeg_create_decompress(&ci);
    jpeg_mem_src(&ci, data, (unsigned long)n);
    jpeg_read_header(&ci, TRUE);
    im->src_c = ci.num_components == 1 ? 1 : 3;
    im->src_w = (int)ci.image_width;
    im->src_h = (int)ci.image_height;
    if (too_big(im->src_w, im->src_h, err, errn)) {
        jpeg_destroy_decompress(&ci);
        return -1;
    }
    if (want_c == 0) { /* header only */
        jpeg_destroy_decompress(&ci);
        return 0;
    }
    ci.out_color_space = want_c == 1 ? JCS_GRAYSCALE : JCS_RGB;
    /* Let the DCT do most of a big shrink: the largest 1/8 steps that
     * keep the image at least as large as what the resize needs. */
    if (min_w > 0 && min_h > 0) {
        int den = 8;
        while (den > 1 && ((int)(ci.image_width / (unsigned)den) < min_w ||
                           (int)(ci.image_height / (unsigned)den) < min_h))
            den /= 2;
        ci.scale_num = 1;
        ci.scale_denom = (unsigned)den;
    }
    jpeg_start_decompress(&ci);
    int w = (int)ci.output_width, h = (int)ci.output_height;
    size_t row = (size_t)w * (size_t)want_c;
    pix = sn_xmalloc(row * (size_t)h);
    while (ci.output_scanline < ci.output_height) {
        JSAMPROW r = pix + row * ci.output_scanline;
        jpeg_read_scanlines(&ci, &r, 1);
    }
    jpeg_finish_decompress(&ci);
    jpeg_destroy_decompress(&ci);
    im->pix = pix;
    im->w = w;
    im->h = h;
    im->c = want_c;
    return 0;
}

/* ---- the rest, through stb_image -------------------------------------- */

/* stb's reason for a failure; some of its paths fail without setting
 * one (a damaged PNG's zlib stream gave ""), which would leave the
 * message empty or stale. */
static void stb_reason(int kind, char *err, size_t errn) {
    const char *why = stbi_failure_reason();
    static const char *const names[] = {"", "JPEG", "PNG", "BMP", "PGM/PPM"};
    if (why && why[0])
        snprintf(err, errn, "%s", why);
    else
        snprintf(err, errn, "corrupt %s data", names[kind]);
}

/* stb_image reads past the end of a BMP or PGM/PPM as zeros, so a cut
 * file would decode to an image with a black part. Neither format is
 * compressed (stb reads no RLE BMPs): the pixels of a w x h image need at
 * least the bytes counted here, from the header's bits per pixel for a
 * BMP (whose rows are padded to 4 bytes) and one byte per channel sample
 * for a PGM/PPM. 0 when the file holds them; -1 with err otherwise. */
static int stb_short(int kind, const uint8_t *d, size_t n, int64_t w,
                     int64_t h, int c, char *err, size_t errn) {
    int64_t need;
    if (kind == SN_IMG_BMP) {
        if (n < 30) return 0; /* stb refused it already */
        uint32_t hsz = (uint32_t)d[14] | (uint32_t)d[15] << 8 |
                       (uint32_t)d[16] << 16 | (uint32_t)d[17] << 24;
        size_t at = hsz == 12 ? 24 : 28; /* OS/2 1.x header, else Windows */
        int64_t bpp = (int64_t)d[at] | (int64_t)d[at + 1] << 8;
        need = 14 + (int64_t)hsz + (w * bpp + 31) / 32 * 4 * h;
    } else {
        need = w * h * c;
    }
    if ((int64_t)n >= need) return 0;
    snprintf(err, errn, "truncated: a %lld x %lld %s needs at least %lld "
                        "bytes, the file has %zu",
             (long long)w, (long long)h, kind == SN_IMG_BMP ? "BMP" : "PGM/PPM",
             (long long)need, n);
    return -1;
}

static int stb_decode(const uint8_t *data, size_t n, int kind, int want_c,
                      sn_image *im, char *err, size_t errn) {
    int w, h, c;
    if (n > 0x7fffffff) {
        snprintf(err, errn, "file too large");
        return -1;
    }
    if (!stbi_info_from_memory(data, (int)n, &w, &h, &c)) {
        stb_reason(kind, err, errn);
        return -1;
    }
    /* stbi_info gives a top-down BMP's height as stored (negative);
     * stbi_load decodes it the right way up with the height positive */
    int64_t h64 = kind == SN_IMG_BMP && h < 0 ? -(int64_t)h : h;
    if (too_big(w, h64, err, errn)) return -1;
    h = (int)h64;
    im->src_c = c <= 2 ? 1 : 3;
    im->src_w = w;
    im->src_h = h;
    if ((kind == SN_IMG_BMP || kind == SN_IMG_PNM) &&
        stb_short(kind, data, n, w, h, c, err, errn))
        return -1;
    if (want_c == 0) return 0;
    /* decoded as stored (alpha dropped), converted here: stb's own RGB to
     * grey weights are coarser than BT.601 */
    uint8_t *p = stbi_load_from_memory(data, (int)n, &w, &h, &c, im->src_c);
    if (!p) {
        stb_reason(kind, err, errn);
        return -1;
    }
    im->pix = sn_xmalloc((size_t)w * h * want_c);
    sn_image_convert_channels(p, w * h, im->src_c, im->pix, want_c);
    stbi_image_free(p);
    im->w = w;
    im->h = h;
    im->c = want_c;
    return 0;
}

int sn_image_decode(const uint8_t *data, size_t n, int want_c, int min_w,
                    int min_h, sn_image *im, char *err, size_t errn) {
    memset(im, 0, sizeof *im);
    int kind = sn_image_kind(data, n);
    int rc;
    if (kind == SN_IMG_UNKNOWN) {
        snprintf(err, errn, "not a JPEG, PNG, BMP, PGM or PPM image");
        return -1;
    }
    if (kind == SN_IMG_JPEG)
        rc = jpeg_decode(data, n, want_c, min_w, min_h, im, err, errn);
    else
        rc = stb_decode(data, n, kind, want_c, im, err, errn);
    if (rc == 0 && (im->src_w < 1 || im->src_h < 1)) {
        free(im->pix);
        im->pix = NULL;
        snprintf(err, errn, "image has no pixels");
        return -1;
    }
    return rc;
}

/* ---- fitting ------------------------------------------------------------- */

/* The weights of one axis: output j reads src[first[j] .. first[j] +
 * count[j]) with w[j * span ...]. Shrinking averages the source pixels
 * the output pixel covers (by the fraction covered); enlarging
 * interpolates linearly between the two nearest centres. */
typedef struct axis {
    int *first, *count, span;
    float *w;
} axis;

static void axis_make(axis *a, int src, int dst) {
    double scale = (double)src / dst;
    a->span = dst < src ? (int)ceil(scale) + 2 : 2;
    a->first = sn_xmalloc((size_t)dst * sizeof(int));
    a->count = sn_xmalloc((size_t)dst * sizeof(int));
    a->w = sn_xcalloc((size_t)dst * a->span, sizeof(float));
    for (int j = 0; j < dst; j++) {
        float *w = a->w + (size_t)j * a->span;
        if (dst < src) {
            double lo = j * scale, hi = (j + 1) * scale;
            int i0 = (int)floor(lo), i1 = (int)ceil(hi);
            if (i1 > src) i1 = src;
            a->first[j] = i0;
            a->count[j] = i1 - i0;
            for (int i = i0; i < i1; i++) {
                double l = i > lo ? i : lo, h = i + 1 < hi ? i + 1 : hi;
                w[i - i0] = (float)((h - l) / scale);
            }
        } else {
            double x = (j + 0.5) * scale - 0.5;
            if (x < 0) x = 0;
            int i0 = (int)floor(x);
            if (i0 > src - 1) i0 = src - 1;
            double f = x - i0;
            a->first[j] = i0;
            a->count[j] = i0 + 1 < src && f > 0 ? 2 : 1;
            w[0] = (float)(a->count[j] == 2 ? 1 - f : 1);
            if (a->count[j] == 2) w[1] = (float)f;
        }
    }
}

static void axis_free(axis *a) {
    free(a->first);
    free(a->count);
    free(a->w);
}

/* in [h][w][c] (rows `stride` bytes apart) to out [oh][ow][c] (rows
 * `ostride` apart). */
static void resize(const uint8_t *in, int w, int h, int stride, uint8_t *out,
                   int ow, int oh, int ostride, int c) {
    if (w == ow && h == oh) {
        for (int y = 0; y < h; y++)
            memcpy(out + (size_t)y * ostride, in + (size_t)y * stride,
                   (size_t)w * c);
        return;
    }
    axis ax, ay;
    axis_make(&ax, w, ow);
    axis_make(&ay, h, oh);
    float *tmp = sn_xmalloc((size_t)h * ow * c * sizeof(float));
    for (int y = 0; y < h; y++) { /* rows first */
        const uint8_t *row = in + (size_t)y * stride;
        float *t = tmp + (size_t)y * ow * c;
        for (int j = 0; j < ow; j++) {
            const float *wt = ax.w + (size_t)j * ax.span;
            for (int k = 0; k < c; k++) {
                float acc = 0;
                for (int i = 0; i < ax.count[j]; i++)
                    acc += wt[i] * row[(size_t)(ax.first[j] + i) * c + k];
                t[(size_t)j * c + k] = acc;
            }
        }
    }
    for (int y = 0; y < oh; y++) { /* then columns */
        const float *wt = ay.w + (size_t)y * ay.span;
        uint8_t *o = out + (size_t)y * ostride;
        for (int x = 0; x < ow * c; x++) {
            float acc = 0;
            for (int i = 0; i < ay.count[y]; i++)
                acc += wt[i] * tmp[(size_t)(ay.first[y] + i) * ow * c + x];
            int v = (int)(acc + 0.5f);
            o[x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    free(tmp);
    axis_free(&ax);
    axis_free(&ay);
}

static int iround(double x) { return (int)(x + 0.5); }

void sn_image_fit(const uint8_t *in, int w, int h, int c, uint8_t *out, int ow,
                  int oh, int fit) {
    uint8_t *hwc = sn_xcalloc((size_t)ow * oh * c, 1); /* black */
    if (fit == SN_FIT_STRETCH) {
        resize(in, w, h, w * c, hwc, ow, oh, ow * c, c);
    } else if (fit == SN_FIT_CROP) {
        /* the largest centred box of the output's aspect ratio */
        int cw = w, ch = h;
        if ((int64_t)w * oh > (int64_t)h * ow)
            cw = iround((double)h * ow / oh);
        else
            ch = iround((double)w * oh / ow);
        if (cw < 1) cw = 1;
        if (ch < 1) ch = 1;
        int x0 = (w - cw) / 2, y0 = (h - ch) / 2;
        resize(in + ((size_t)y0 * w + x0) * c, cw, ch, w * c, hwc, ow, oh,
               ow * c, c);
    } else { /* pad: the whole image, centred */
        int rw = ow, rh = oh;
        if ((int64_t)w * oh > (int64_t)h * ow)
            rh = iround((double)h * ow / w);
        else
            rw = iround((double)w * oh / h);
        if (rw < 1) rw = 1;
        if (rh < 1) rh = 1;
        int x0 = (ow - rw) / 2, y0 = (oh - rh) / 2;
        resize(in, w, h, w * c, hwc + ((size_t)y0 * ow + x0) * c, rw, rh,
               ow * c, c);
    }
    /* interleaved -> planar */
    size_t hw = (size_t)ow * oh;
    for (size_t i = 0; i < hw; i++)
        for (int k = 0; k < c; k++) out[(size_t)k * hw + i] = hwc[i * c + k];
    free(hwc);
}

void sn_image_convert_channels(const uint8_t *in, int n_px, int c_in,
                               uint8_t *out, int c_out) {
    for (int i = 0; i < n_px; i++) {
        const uint8_t *p = in + (size_t)i * c_in;
        uint8_t *q = out + (size_t)i * c_out;
        if (c_in == c_out) {
            memcpy(q, p, (size_t)c_in);
        } else if (c_out == 1) { /* ITU-R BT.601 luma, as libjpeg does */
            q[0] = (uint8_t)((p[0] * 19595u + p[1] * 38470u + p[2] * 7471u +
                              32768u) >> 16);
        } else {
            q[0] = q[1] = q[2] = p[0];
        }
    }
}
