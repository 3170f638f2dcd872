/* imgutil.h — writing image folders and .npy files for the data tests
 * (PNG, JPEG and BMP through stb_image_write; PGM/PPM and .npy headers by
 * hand, they are a few bytes of text). */
#ifndef SLIMNAS_TEST_IMGUTIL_H
#define SLIMNAS_TEST_IMGUTIL_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <stb_image_write.h>

/* mkdir -p for a path of folders. */
static inline void iu_mkdirs(const char *path) {
    char p[1024];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            mkdir(p, 0755);
            *s = '/';
        }
    mkdir(p, 0755);
}

/* Writes [h][w][c] pixels to path as PNG, JPEG (quality 95), BMP, PGM or
 * PPM by its extension; 0 on success. */
static inline int iu_write_image(const char *path, int w, int h, int c,
                                 const uint8_t *px) {
    const char *dot = strrchr(path, '.');
    if (!dot) return -1;
    if (!strcmp(dot, ".png")) return stbi_write_png(path, w, h, c, px, w * c) ? 0 : -1;
    if (!strcmp(dot, ".jpg") || !strcmp(dot, ".jpeg"))
        return stbi_write_jpg(path, w, h, c, px, 95) ? 0 : -1;
    if (!strcmp(dot, ".bmp")) return stbi_write_bmp(path, w, h, c, px) ? 0 : -1;
    if (!strcmp(dot, ".pgm") || !strcmp(dot, ".ppm")) {
        FILE *f = fopen(path, "wb");
        if (!f) return -1;
        fprintf(f, "P%c\n%d %d\n255\n", c == 1 ? '5' : '6', w, h);
        fwrite(px, 1, (size_t)w * h * c, f);
        return fclose(f);
    }
    return -1;
}

static inline void iu_write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    if (n) fwrite(p, 1, n, f);
    fclose(f);
}

/* A .npy file: descr like "|u1" or "<f4", shape of ndim dims, then n
 * bytes of data (C order). */
static inline void iu_write_npy(const char *path, const char *descr,
                                const long *shape, int ndim, const void *data,
                                size_t n) {
    char dict[256], sh[128] = "";
    size_t l = 0;
    for (int i = 0; i < ndim; i++)
        l += (size_t)snprintf(sh + l, sizeof sh - l, "%ld,%s", shape[i],
                              i + 1 < ndim ? " " : "");
    if (ndim > 1) sh[l - 1] = 0; /* "(3,)" only for one dimension */
    int dl = snprintf(dict, sizeof dict,
                      "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
                      descr, sh);
    int total = 10 + dl + 1;
    int pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    int hl = dl + pad + 1;
    fputc(hl & 0xff, f);
    fputc(hl >> 8, f);
    fwrite(dict, 1, (size_t)dl, f);
    for (int i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    if (n) fwrite(data, 1, n, f);
    fclose(f);
}

#endif
