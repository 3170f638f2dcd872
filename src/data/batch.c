/* batch.c — gathering normalised samples into caller buffers, with the
 * training split's crop-and-flip augmentation, and the seeded per-epoch
 * batcher. Pixels go through the dataset's [c][256] table, so a sample
 * costs one table read per value and no arithmetic. */
#include "data_internal.h"

#include <stdlib.h>
#include <string.h>

struct sn_batcher {
    const sn_data *d;
    sn_split split;
    int batch, flags, n;
    uint64_t seed;
    int epoch, next; /* next batch number in the epoch */
    int *order;      /* [n] split indices in this epoch's order */
};

/* Copies one sample through the table, shifted by (dy, dx) and mirrored
 * when flip: out[y][x] = in[y + dy][x' + dx] with x' = flip ? w-1-x : x,
 * and raw 0 where that falls outside the image. */
static void put_sample(const sn_data *d, const uint8_t *px, float *out,
                       int dy, int dx, int flip) {
    const int c = d->shape.c, h = d->shape.h, w = d->shape.w;
    const size_t hw = (size_t)h * w;
    if (!dy && !dx && !flip) {
        for (int ch = 0; ch < c; ch++) {
            const float *lut = d->lut + ch * 256;
            const uint8_t *p = px + ch * hw;
            float *o = out + ch * hw;
            for (size_t i = 0; i < hw; i++) o[i] = lut[p[i]];
        }
        return;
    }
    for (int ch = 0; ch < c; ch++) {
        const float *lut = d->lut + ch * 256;
        const float zero = lut[0];
        for (int y = 0; y < h; y++) {
            float *o = out + ch * hw + (size_t)y * w;
            int sy = y + dy;
            if (sy < 0 || sy >= h) {
                for (int x = 0; x < w; x++) o[x] = zero;
                continue;
            }
            const uint8_t *row = px + ch * hw + (size_t)sy * w;
            for (int x = 0; x < w; x++) {
                int sx = (flip ? w - 1 - x : x) + dx;
                o[x] = sx >= 0 && sx < w ? lut[row[sx]] : zero;
            }
        }
    }
}

void sn_data_gather(const sn_data *d, sn_split s, const int *idx, int n,
                    float *x, int *y) {
    SN_ASSERT((unsigned)s < SN_SPLIT_COUNT);
    const size_t chw = (size_t)sn_shape_size(d->shape);
    for (int j = 0; j < n; j++) {
        SN_ASSERT(idx[j] >= 0 && idx[j] < d->split[s].n);
        put_sample(d, sn_data_raw(d, s, idx[j]), x + j * chw, 0, 0, 0);
        if (y) y[j] = d->split[s].label[idx[j]];
    }
}

/* ---- batcher --------------------------------------------------------- */

/* A 64-bit finaliser (splitmix64's) so nearby (seed, epoch, batch)
 * triples give unrelated streams. */
static uint64_t mix(uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t stream(uint64_t seed, int64_t epoch, int64_t k) {
    return mix(mix(mix(seed) ^ (uint64_t)epoch) ^ (uint64_t)k);
}

int sn_batch_flags(const sn_data *d, sn_split s) {
    if (s != SN_SPLIT_TRAIN) return 0;
    return SN_BATCH_SHUFFLE | (d->augment ? SN_BATCH_AUGMENT : 0);
}

sn_batcher *sn_batcher_new(const sn_data *d, sn_split s, int batch,
                           int flags, uint64_t seed) {
    SN_ASSERT((unsigned)s < SN_SPLIT_COUNT && batch > 0);
    /* Augmenting validation or test images would make scores noisy and
     * unlike deployment: a caller asking for it has a bug. */
    SN_ASSERT(!(flags & SN_BATCH_AUGMENT) || s == SN_SPLIT_TRAIN);
    sn_batcher *b = sn_xcalloc(1, sizeof *b);
    b->d = d;
    b->split = s;
    b->batch = batch;
    b->flags = flags;
    b->seed = seed;
    b->n = d->split[s].n;
    b->order = sn_xmalloc((size_t)(b->n ? b->n : 1) * sizeof(int));
    sn_batcher_epoch(b, 0);
    return b;
}

void sn_batcher_free(sn_batcher *b) {
    if (!b) return;
    free(b->order);
    free(b);
}

void sn_batcher_epoch(sn_batcher *b, int epoch) {
    b->epoch = epoch;
    b->next = 0;
    for (int i = 0; i < b->n; i++) b->order[i] = i;
    if (b->flags & SN_BATCH_SHUFFLE) {
        sn_rng r;
        sn_rng_seed(&r, stream(b->seed, epoch, -1));
        for (int i = b->n - 1; i > 0; i--) {
            int j = (int)(sn_rng_u64(&r) % (uint64_t)(i + 1));
            int t = b->order[i];
            b->order[i] = b->order[j];
            b->order[j] = t;
        }
    }
}

int sn_batcher_batches(const sn_batcher *b) {
    if (b->flags & SN_BATCH_DROP_LAST) return b->n / b->batch;
    return (b->n + b->batch - 1) / b->batch;
}

int sn_batcher_get(const sn_batcher *b, int k, float *x, int *y, int *idx) {
    if (k < 0 || k >= sn_batcher_batches(b)) return 0;
    const sn_data *d = b->d;
    const size_t chw = (size_t)sn_shape_size(d->shape);
    int start = k * b->batch;
    int n = b->n - start < b->batch ? b->n - start : b->batch;
    int aug = (b->flags & SN_BATCH_AUGMENT) != 0;
    int pad = d->crop_pad, span = 2 * d->crop_pad + 1;
    sn_rng r;
    if (aug) sn_rng_seed(&r, stream(b->seed, b->epoch, k));
    for (int j = 0; j < n; j++) {
        int i = b->order[start + j];
        int dy = 0, dx = 0, flip = 0;
        if (aug) {
            /* Always draw all three so one setting does not shift the
             * random stream of the others. */
            dy = (int)(sn_rng_u64(&r) % (uint64_t)span) - pad;
            dx = (int)(sn_rng_u64(&r) % (uint64_t)span) - pad;
            flip = (int)(sn_rng_u64(&r) >> 63) & d->flip;
        }
        put_sample(d, sn_data_raw(d, b->split, i), x + j * chw, dy, dx, flip);
        if (y) y[j] = d->split[b->split].label[i];
        if (idx) idx[j] = i;
    }
    return n;
}

int sn_batcher_next(sn_batcher *b, float *x, int *y, int *idx) {
    int n = sn_batcher_get(b, b->next, x, y, idx);
    if (n > 0) b->next++;
    return n;
}
