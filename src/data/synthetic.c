/* synthetic.c — a small learnable dataset for tests: 10 classes of 1x12x12
 * images, each a class-specific figure (bars, diagonals, ring, blob, plus,
 * checker) shifted by up to one pixel, with random contrast, background
 * and noise. Classes are far apart (a nearest-class-mean classifier gets
 * well over 90%) yet a network still has to learn shapes under shifts.
 * The images depend only on N: generation uses fixed seeds and integer
 * arithmetic, so every machine and compiler gets the same bytes. */
#include "data_internal.h"

#include <stdlib.h>

#define SYN_SIDE 12

const char *const sn_data_synthetic_names[10] = {
    "bar-top", "bar-bottom", "bar-left", "bar-right", "diagonal",
    "anti-diagonal", "ring", "blob", "plus", "checker"};

static int iabs(int v) { return v < 0 ? -v : v; }

/* 1 where figure k covers pixel (y, x); defined for any y, x so shifted
 * figures need no special case. Doubled coordinates put the centre at 11. */
static int figure(int k, int y, int x) {
    int cy = 2 * y - (SYN_SIDE - 1), cx = 2 * x - (SYN_SIDE - 1);
    switch (k) {
    case 0: return y >= 2 && y <= 4;
    case 1: return y >= 7 && y <= 9;
    case 2: return x >= 2 && x <= 4;
    case 3: return x >= 7 && x <= 9;
    case 4: return iabs(y - x) <= 1;
    case 5: return iabs(y + x - (SYN_SIDE - 1)) <= 1;
    case 6: {
        int m = iabs(cy) > iabs(cx) ? iabs(cy) : iabs(cx);
        return m == 7 || m == 9;
    }
    case 7: return cy * cy + cx * cx <= 36;
    case 8: return iabs(cy) <= 1 || iabs(cx) <= 1;
    default: return ((y + SYN_SIDE) / 3 + (x + SYN_SIDE) / 3) % 2 == 0;
    }
}

/* Uniform integer in [0, 65536): the arithmetic below is fixed point in
 * units of 1/65536 so no compiler flag (FMA contraction) can change a
 * pixel. */
static int32_t u16(sn_rng *r) { return (int32_t)(sn_rng_u64(r) >> 48); }

static void generate(sn_data_source *src, int n, uint64_t seed) {
    const int hw = SYN_SIDE * SYN_SIDE;
    src->n = n;
    src->owned = src->pix = sn_xmalloc((size_t)n * hw);
    src->label = sn_xmalloc((size_t)n * sizeof(int));
    sn_rng r;
    sn_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        int k = i % 10; /* balanced classes */
        int dy = sn_rng_int(&r, 3) - 1, dx = sn_rng_int(&r, 3) - 1;
        int32_t amp = 36045 + (int32_t)((int64_t)u16(&r) * 29491 >> 16);
        int32_t bg = (int32_t)((int64_t)u16(&r) * 9830 >> 16); /* 0..0.15 */
        uint8_t *px = src->pix + (size_t)i * hw;
        for (int y = 0; y < SYN_SIDE; y++)
            for (int x = 0; x < SYN_SIDE; x++) {
                /* Irwin-Hall noise: 4 uniforms minus their mean, times
                 * 0.35: sd ~0.2, bounded by +-0.7, no rare extremes. */
                int64_t s4 = (int64_t)u16(&r) + u16(&r) + u16(&r) + u16(&r);
                int32_t noise = (int32_t)((s4 - 131072) * 22938 / 65536);
                int32_t v = bg + amp * figure(k, y - dy, x - dx) + noise;
                v = v < 0 ? 0 : v > 65536 ? 65536 : v;
                px[y * SYN_SIDE + x] = (uint8_t)((v * 255 + 32768) >> 16);
            }
        src->label[i] = k;
    }
}

int sn_data_make_synthetic(sn_data *d, int n_train, sn_error *e) {
    if (n_train < 1 || n_train > 1000000)
        return sn_errf(e, "synthetic:%d: the number of images must be in "
                          "1..1000000",
                       n_train);
    d->shape = (sn_shape){1, SYN_SIDE, SYN_SIDE};
    d->classes = 10;
    generate(&d->src[0], n_train, 0x5e7a11cULL);
    generate(&d->src[1], (n_train + 4) / 5, 0x7e57ULL);
    return 0;
}
