/* cifar.c — CIFAR-10 binary version: records of 1 label byte then 3072
 * pixel bytes (1024 R, 1024 G, 1024 B, rows top to bottom), 10,000 per
 * file in the official release; any whole number of records is accepted. */
#include "data_internal.h"

#include <stdlib.h>
#include <string.h>

#define CIFAR_PIX 3072
#define CIFAR_REC (1 + CIFAR_PIX)
#define CIFAR_TRAIN_FILES 5

/* The official archive unpacks into cifar-10-batches-bin/; accept DIR
 * itself or that subfolder. */
static void pick_dir(const char *dir, char *out, size_t n) {
    char probe[1200];
    snprintf(probe, sizeof probe, "%s/data_batch_1.bin", dir);
    if (!sn_data_file_exists(probe)) {
        snprintf(probe, sizeof probe,
                 "%s/cifar-10-batches-bin/data_batch_1.bin", dir);
        if (sn_data_file_exists(probe)) {
            snprintf(out, n, "%s/cifar-10-batches-bin", dir);
            return;
        }
    }
    snprintf(out, n, "%s", dir);
}

/* Reads and checks one file; records go to *f. */
static int read_batch(const char *path, sn_data_file *f, sn_error *e) {
    if (sn_data_read_file(path, f, e) != 0) return -1;
    if (f->corrupt)
        return sn_errf(e, "%s: corrupt gzip data (%s)", path, f->zmsg);
    if (f->truncated)
        return sn_errf(e, "%s: truncated gzip stream (got %zu bytes)", path,
                       f->len);
    if (f->len == 0 || f->len % CIFAR_REC != 0)
        return sn_errf(e, "%s: size %zu bytes is not a whole number of "
                          "3073-byte records (1 label byte + 3072 pixel bytes)",
                       path, f->len);
    if (f->len / CIFAR_REC > (size_t)0x7fffffff / 2)
        return sn_errf(e, "%s: too many records", path);
    return 0;
}

/* Loads the named files (all must exist) into src. */
static int load_set(const char *dir, const char *const *names, int count,
                    sn_data_source *src, sn_error *e) {
    sn_data_file f[CIFAR_TRAIN_FILES];
    char path[CIFAR_TRAIN_FILES][1200];
    memset(f, 0, sizeof f);
    int rc = -1;
    size_t total = 0;
    /* Name every missing file first: one message beats five round trips. */
    char missing[600] = "";
    for (int i = 0; i < count; i++) {
        snprintf(path[i], sizeof path[i], "%s/%s", dir, names[i]);
        if (!sn_data_file_exists(path[i])) {
            size_t m = strlen(missing);
            snprintf(missing + m, sizeof missing - m, "%s%s", m ? ", " : "",
                     names[i]);
        }
    }
    if (missing[0]) {
        sn_errf(e, "%s: missing %s", dir, missing);
        goto out;
    }
    for (int i = 0; i < count; i++) {
        if (read_batch(path[i], &f[i], e) != 0) goto out;
        total += f[i].len / CIFAR_REC;
    }
    if (total > 0x7fffffff) {
        sn_errf(e, "%s: too many records", dir);
        goto out;
    }
    src->n = (int)total;
    src->owned = src->pix = sn_xmalloc(total * CIFAR_PIX);
    src->label = sn_xmalloc(total * sizeof(int));
    size_t k = 0;
    for (int i = 0; i < count; i++) {
        size_t recs = f[i].len / CIFAR_REC;
        for (size_t r = 0; r < recs; r++, k++) {
            const uint8_t *rec = f[i].data + r * CIFAR_REC;
            if (rec[0] >= 10) {
                sn_errf(e, "%s: record %zu has label %d (expected 0..9)",
                        path[i], r, rec[0]);
                goto out;
            }
            src->label[k] = rec[0];
            memcpy(src->pix + k * CIFAR_PIX, rec + 1, CIFAR_PIX);
        }
    }
    rc = 0;
out:
    for (int i = 0; i < count; i++) free(f[i].data);
    return rc;
}

int sn_data_load_cifar10(sn_data *d, const char *dir, sn_error *e) {
    if (sn_data_check_dir(dir, e) != 0) return -1;
    char real[1100];
    pick_dir(dir, real, sizeof real);
    static const char *const train[CIFAR_TRAIN_FILES] = {
        "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
        "data_batch_4.bin", "data_batch_5.bin"};
    static const char *const test[1] = {"test_batch.bin"};
    d->classes = 10;
    d->shape = (sn_shape){3, 32, 32};
    d->augment_default = 1;
    if (load_set(real, train, CIFAR_TRAIN_FILES, &d->src[0], e) ||
        load_set(real, test, 1, &d->src[1], e))
        return -1;
    return 0;
}
