/* cifar.c — CIFAR-10 and CIFAR-100 binary versions: records of 1 label
 * byte (CIFAR-100: 2, coarse then fine) then 3072 pixel bytes (1024 R,
 * 1024 G, 1024 B, rows top to bottom), 10,000 per file in CIFAR-10's
 * release; any whole number of records is accepted. */
#include "data_internal.h"

#include <stdlib.h>
#include <string.h>

#define CIFAR_PIX 3072
#define CIFAR_TRAIN_FILES 5

/* The layout of one record and what its labels may be. */
typedef struct layout {
    int lab_bytes; /* 1 (CIFAR-10) or 2 (CIFAR-100) */
    int pick;      /* which label byte is the class */
    int classes;
} layout;

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
static int read_batch(const char *path, const layout *L, sn_data_file *f,
                      sn_error *e) {
    const size_t rec_len = (size_t)L->lab_bytes + CIFAR_PIX;
    if (sn_data_read_file(path, f, e) != 0) return -1;
    if (f->corrupt)
        return sn_errf(e, "%s: corrupt gzip data (%s)", path, f->zmsg);
    if (f->truncated)
        return sn_errf(e, "%s: truncated gzip stream (got %zu bytes)", path,
                       f->len);
    if (f->len == 0 || f->len % rec_len != 0)
        return sn_errf(e, "%s: size %zu bytes is not a whole number of "
                          "%zu-byte records (%d label byte%s + 3072 pixel "
                          "bytes)",
                       path, f->len, rec_len, L->lab_bytes,
                       L->lab_bytes > 1 ? "s" : "");
    if (f->len / rec_len > (size_t)0x7fffffff / 2)
        return sn_errf(e, "%s: too many records", path);
    return 0;
}

/* Loads the named files (all must exist) into src. */
static int load_set(const char *dir, const char *const *names, int count,
                    const layout *L, sn_data_source *src, sn_error *e) {
    const size_t rec_len = (size_t)L->lab_bytes + CIFAR_PIX;
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
        if (read_batch(path[i], L, &f[i], e) != 0) goto out;
        total += f[i].len / rec_len;
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
        size_t recs = f[i].len / rec_len;
        for (size_t r = 0; r < recs; r++, k++) {
            const uint8_t *rec = f[i].data + r * rec_len;
            int y = rec[L->pick];
            if (y >= L->classes) {
                sn_errf(e, "%s: record %zu has %slabel %d (expected 0..%d)",
                        path[i], r,
                        L->lab_bytes == 1 ? ""
                        : L->pick == 0    ? "coarse "
                                          : "fine ",
                        y, L->classes - 1);
                goto out;
            }
            src->label[k] = y;
            memcpy(src->pix + k * CIFAR_PIX, rec + L->lab_bytes, CIFAR_PIX);
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
    static const layout L = {1, 0, 10};
    d->classes = 10;
    d->shape = (sn_shape){3, 32, 32};
    d->augment_default = 1;
    if (load_set(real, train, CIFAR_TRAIN_FILES, &L, &d->src[0], e) ||
        load_set(real, test, 1, &L, &d->src[1], e))
        return -1;
    return 0;
}

/* Class names from the release's fine_label_names.txt or
 * coarse_label_names.txt (one a line); "0".. when missing or short. */
static void cifar100_names(sn_data *d, const char *dir, int coarse) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s_label_names.txt", dir,
             coarse ? "coarse" : "fine");
    sn_data_set_classes(d, d->classes, NULL);
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[SN_DATA_NAME_MAX];
    int k = 0;
    while (k < d->classes && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0]) continue;
        snprintf(d->class_names[k++], SN_DATA_NAME_MAX, "%s", line);
    }
    fclose(f);
    if (k < d->classes) sn_data_set_classes(d, d->classes, NULL);
}

int sn_data_load_cifar100(sn_data *d, const char *dir, int coarse,
                          sn_error *e) {
    if (sn_data_check_dir(dir, e) != 0) return -1;
    char real[1100], probe[1200];
    snprintf(real, sizeof real, "%s", dir);
    snprintf(probe, sizeof probe, "%s/train.bin", dir);
    if (!sn_data_file_exists(probe)) {
        snprintf(probe, sizeof probe, "%s/cifar-100-binary/train.bin", dir);
        if (sn_data_file_exists(probe))
            snprintf(real, sizeof real, "%s/cifar-100-binary", dir);
    }
    static const char *const train[1] = {"train.bin"};
    static const char *const test[1] = {"test.bin"};
    layout L = {2, coarse ? 0 : 1, coarse ? 20 : 100};
    d->classes = L.classes;
    d->shape = (sn_shape){3, 32, 32};
    d->augment_default = 1;
    if (load_set(real, train, 1, &L, &d->src[0], e) ||
        load_set(real, test, 1, &L, &d->src[1], e))
        return -1;
    cifar100_names(d, real, coarse);
    snprintf(d->source, sizeof d->source, "cifar100 from %s, %s labels", real,
             coarse ? "20 coarse" : "100 fine");
    return 0;
}
