/* test_data.c — datasets: IDX and CIFAR-10 loaders on small files written
 * into a temporary folder (good files checked byte for byte, every kind of
 * bad file refused with its sentence), splits, normalisation, batching,
 * augmentation and the synthetic set. */
#include "testutil.h"

#include "slimnas/data.h"

#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* ---- temp folders and file writers ----------------------------------- */

static void tmp_make(char *dir, size_t n) {
    snprintf(dir, n, "/tmp/sn_test_data_XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static void write_file(const char *dir, const char *name, const void *p,
                       size_t n, int gz) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s%s", dir, name, gz ? ".gz" : "");
    if (gz) {
        gzFile z = gzopen(path, "wb");
        assert_non_null(z);
        if (n) assert_int_equal(gzwrite(z, p, (unsigned)n), (int)n);
        assert_int_equal(gzclose(z), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        if (n) assert_int_equal(fwrite(p, 1, n, f), n);
        assert_int_equal(fclose(f), 0);
    }
}

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Pixel of image i at (y, x) in the files written below; `set` separates
 * training (0) and test (1) images. */
static uint8_t pixel(int set, int i, int y, int x) {
    return (uint8_t)(set * 101 + i * 37 + y * 11 + x * 5 + 3);
}

static int label_of(int set, int i) { return (i * 3 + set) % 10; }

/* An IDX image file of n images h x w (caller frees). */
static uint8_t *idx_images(int set, int n, int h, int w, size_t *len) {
    *len = 16 + (size_t)n * h * w;
    uint8_t *b = malloc(*len);
    put_be32(b, 0x803);
    put_be32(b + 4, (uint32_t)n);
    put_be32(b + 8, (uint32_t)h);
    put_be32(b + 12, (uint32_t)w);
    for (int i = 0; i < n; i++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                b[16 + ((size_t)i * h + y) * w + x] = pixel(set, i, y, x);
    return b;
}

static uint8_t *idx_labels(int set, int n, size_t *len) {
    *len = 8 + (size_t)n;
    uint8_t *b = malloc(*len);
    put_be32(b, 0x801);
    put_be32(b + 4, (uint32_t)n);
    for (int i = 0; i < n; i++) b[8 + i] = (uint8_t)label_of(set, i);
    return b;
}

enum { TR_N = 20, TE_N = 5, IMG_H = 4, IMG_W = 3 };

/* A good IDX folder: TR_N training and TE_N test images of 4x3 (not
 * square, so a swapped h/w shows). */
static void write_idx_set(const char *dir, int gz) {
    size_t len;
    uint8_t *b = idx_images(0, TR_N, IMG_H, IMG_W, &len);
    write_file(dir, "train-images-idx3-ubyte", b, len, gz);
    free(b);
    b = idx_labels(0, TR_N, &len);
    write_file(dir, "train-labels-idx1-ubyte", b, len, gz);
    free(b);
    b = idx_images(1, TE_N, IMG_H, IMG_W, &len);
    write_file(dir, "t10k-images-idx3-ubyte", b, len, gz);
    free(b);
    b = idx_labels(1, TE_N, &len);
    write_file(dir, "t10k-labels-idx1-ubyte", b, len, gz);
    free(b);
}

static sn_data_opts opts_no_val(void) {
    sn_data_opts o = sn_data_opts_default();
    o.val_split = 0;
    return o;
}

/* Opens spec expecting failure, and checks the message holds every
 * fragment given (NULL-terminated). */
static void expect_error(const char *spec, const sn_data_opts *o, ...) {
    sn_error e = {{0}};
    sn_data *d = sn_data_open(spec, o, &e);
    if (d) {
        sn_data_free(d);
        fail_msg("%s: opened, but an error was expected", spec);
    }
    va_list ap;
    va_start(ap, o);
    for (const char *frag; (frag = va_arg(ap, const char *));)
        if (!strstr(e.msg, frag))
            fail_msg("error \"%s\" lacks \"%s\"", e.msg, frag);
    va_end(ap);
}

/* Checks that split s of d holds exactly the files' images set/file
 * index order, byte for byte, with their labels. */
static void check_split_bytes(const sn_data *d, sn_split s, int set, int n) {
    assert_int_equal(sn_data_count(d, s), n);
    const int *lab = sn_data_labels(d, s);
    for (int i = 0; i < n; i++) {
        assert_int_equal(sn_data_file_index(d, s, i), i);
        assert_int_equal(lab[i], label_of(set, i));
        const uint8_t *px = sn_data_raw(d, s, i);
        for (int y = 0; y < IMG_H; y++)
            for (int x = 0; x < IMG_W; x++)
                assert_int_equal(px[y * IMG_W + x], pixel(set, i, y, x));
    }
}

/* ---- IDX: good files ------------------------------------------------- */

static void test_idx_raw(void **state) {
    (void)state;
    char dir[64], spec[128];
    tmp_make(dir, sizeof dir);
    write_idx_set(dir, 0);
    snprintf(spec, sizeof spec, "idx:%s", dir);
    sn_data_opts o = opts_no_val();
    sn_error e;
    sn_data *d = sn_data_open(spec, &o, &e);
    if (!d) fail_msg("%s", e.msg);
    sn_shape sh = sn_data_shape(d);
    assert_int_equal(sh.c, 1);
    assert_int_equal(sh.h, IMG_H);
    assert_int_equal(sh.w, IMG_W);
    assert_int_equal(sn_data_classes(d), 10);
    assert_string_equal(sn_data_class_name(d, 0), "0");
    assert_string_equal(sn_data_class_name(d, 9), "9");
    assert_string_equal(sn_data_name(d), "idx");
    assert_string_equal(sn_data_path(d), dir);
    assert_int_equal(sn_data_augment(d), 0); /* off by default for IDX */
    check_split_bytes(d, SN_SPLIT_TRAIN, 0, TR_N);
    check_split_bytes(d, SN_SPLIT_VAL, 0, 0);
    check_split_bytes(d, SN_SPLIT_TEST, 1, TE_N);
    sn_data_free(d);
    tu_rm_rf(dir);
}

static void test_idx_gz_and_names(void **state) {
    (void)state;
    char dir[64], spec[128];
    tmp_make(dir, sizeof dir);
    write_idx_set(dir, 1);
    snprintf(spec, sizeof spec, "fashion-mnist:%s", dir);
    sn_data_opts o = opts_no_val();
    sn_error e;
    sn_data *d = sn_data_open(spec, &o, &e);
    if (!d) fail_msg("%s", e.msg);
    check_split_bytes(d, SN_SPLIT_TRAIN, 0, TR_N);
    check_split_bytes(d, SN_SPLIT_TEST, 1, TE_N);
    assert_string_equal(sn_data_class_name(d, 0), "T-shirt/top");
    assert_string_equal(sn_data_class_name(d, 9), "Ankle boot");
    sn_data_free(d);
    tu_rm_rf(dir);

    /* Mixed raw and gzip, and the "train-images.idx3-ubyte" spelling. */
    tmp_make(dir, sizeof dir);
    size_t len;
    uint8_t *b = idx_images(0, TR_N, IMG_H, IMG_W, &len);
    write_file(dir, "train-images.idx3-ubyte", b, len, 1);
    free(b);
    b = idx_labels(0, TR_N, &len);
    write_file(dir, "train-labels.idx1-ubyte", b, len, 0);
    free(b);
    b = idx_images(1, TE_N, IMG_H, IMG_W, &len);
    write_file(dir, "t10k-images-idx3-ubyte", b, len, 0);
    free(b);
    b = idx_labels(1, TE_N, &len);
    write_file(dir, "t10k-labels-idx1-ubyte", b, len, 1);
    free(b);
    snprintf(spec, sizeof spec, "mnist:%s", dir);
    d = sn_data_open(spec, &o, &e);
    if (!d) fail_msg("%s", e.msg);
    check_split_bytes(d, SN_SPLIT_TRAIN, 0, TR_N);
    check_split_bytes(d, SN_SPLIT_TEST, 1, TE_N);
    assert_string_equal(sn_data_class_name(d, 3), "3");
    sn_data_free(d);
    tu_rm_rf(dir);
}

/* ---- IDX: bad files -------------------------------------------------- */

static void test_idx_missing(void **state) {
    (void)state;
    char dir[64], spec[160], path[160];
    tmp_make(dir, sizeof dir);
    snprintf(spec, sizeof spec, "idx:%s/nope", dir);
    expect_error(spec, NULL, "/nope: no such folder", NULL);
    write_idx_set(dir, 1);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte.gz", dir);
    assert_int_equal(unlink(path), 0);
    snprintf(spec, sizeof spec, "idx:%s", dir);
    expect_error(spec, NULL, dir, "missing train-labels-idx1-ubyte", NULL);
    /* A file where the folder should be. */
    snprintf(spec, sizeof spec, "idx:%s/t10k-images-idx3-ubyte.gz", dir);
    expect_error(spec, NULL, "not a folder", NULL);
    expect_error("idx", NULL, "needs a folder", NULL);
    tu_rm_rf(dir);
}

/* Writes a good set, replaces one file with `bad`, and expects the error
 * fragments (NULL-terminated) naming that file. */
static void bad_file_case(const char *name, const void *bad, size_t len,
                          int gz, const char *frag1, const char *frag2) {
    char dir[64], spec[128], path[160];
    tmp_make(dir, sizeof dir);
    write_idx_set(dir, gz);
    write_file(dir, name, bad, len, gz);
    snprintf(spec, sizeof spec, "idx:%s", dir);
    snprintf(path, sizeof path, "%s/%s%s: ", dir, name, gz ? ".gz" : "");
    expect_error(spec, NULL, path, frag1, frag2, NULL);
    tu_rm_rf(dir);
}

static void test_idx_bad_magic(void **state) {
    (void)state;
    size_t len;
    /* A label file where the images belong. */
    uint8_t *b = idx_labels(0, TR_N, &len);
    bad_file_case("train-images-idx3-ubyte", b, len, 0,
                  "wrong magic 0x00000801 (expected 0x00000803",
                  "this is a label file");
    free(b);
    b = idx_images(1, TE_N, IMG_H, IMG_W, &len);
    b[2] = 0x0d; /* element type float: not supported */
    bad_file_case("t10k-images-idx3-ubyte", b, len, 1,
                  "wrong magic 0x00000d03", NULL);
    free(b);
    b = idx_labels(0, TR_N, &len);
    put_be32(b, 0x12345678);
    bad_file_case("train-labels-idx1-ubyte", b, len, 0,
                  "wrong magic 0x12345678 (expected 0x00000801", NULL);
    free(b);
    bad_file_case("train-labels-idx1-ubyte", "", 0, 0, "0 bytes is too short",
                  NULL);
}

static void test_idx_bad_sizes(void **state) {
    (void)state;
    size_t len;
    /* Header says 20 images of 4x3 = 16 + 240 bytes; one image short. */
    uint8_t *b = idx_images(0, TR_N, IMG_H, IMG_W, &len);
    bad_file_case("train-images-idx3-ubyte", b, len - 12, 0,
                  "header says 20 images of 4x3 (256 bytes) but the file "
                  "holds 244 bytes",
                  NULL);
    /* One byte too many, gzip: the decompressed size is what counts. */
    uint8_t *big = malloc(len + 1);
    memcpy(big, b, len);
    big[len] = 0;
    bad_file_case("train-images-idx3-ubyte", big, len + 1, 1,
                  "(256 bytes) but the file decompresses to 257 bytes", NULL);
    free(big);
    free(b);
    b = idx_labels(1, TE_N, &len);
    bad_file_case("t10k-labels-idx1-ubyte", b, len - 1, 1,
                  "header says 5 labels (13 bytes) but the file decompresses "
                  "to 12 bytes",
                  NULL);
    put_be32(b + 4, 0);
    bad_file_case("t10k-labels-idx1-ubyte", b, 8, 0, "header says 0 labels",
                  NULL);
    free(b);
    b = idx_images(0, TR_N, IMG_H, IMG_W, &len);
    put_be32(b + 8, 0);
    bad_file_case("train-images-idx3-ubyte", b, len, 0,
                  "image side 0 in the header is out of range", NULL);
    free(b);
}

static void test_idx_count_mismatch_and_labels(void **state) {
    (void)state;
    size_t len;
    uint8_t *b;
    /* The message names both files. */
    char dir[64], spec[128], want[400];
    tmp_make(dir, sizeof dir);
    write_idx_set(dir, 0);
    b = idx_labels(0, TR_N - 1, &len);
    write_file(dir, "train-labels-idx1-ubyte", b, len, 0);
    free(b);
    snprintf(spec, sizeof spec, "idx:%s", dir);
    snprintf(want, sizeof want,
             "%s/train-images-idx3-ubyte: 20 images but "
             "%s/train-labels-idx1-ubyte has 19 labels",
             dir, dir);
    expect_error(spec, NULL, want, NULL);
    tu_rm_rf(dir);

    /* idx: counts the classes from the training labels (0..9 here); a
     * test label beyond them is out of range. */
    b = idx_labels(1, TE_N, &len);
    b[8 + 3] = 10;
    bad_file_case("t10k-labels-idx1-ubyte", b, len, 1,
                  "label 10 of item 3 is out of range (expected 0..9", NULL);
    free(b);
    /* ... and a class without a training image, or only one class, is
     * refused. */
    b = idx_labels(0, TR_N, &len);
    for (int i = 0; i < TR_N; i++)
        if (b[8 + i] == 4) b[8 + i] = 3;
    bad_file_case("train-labels-idx1-ubyte", b, len, 0,
                  "no training image has label 4, but labels go up to 9",
                  NULL);
    memset(b + 8, 0, TR_N);
    bad_file_case("train-labels-idx1-ubyte", b, len, 0,
                  "a classifier needs at least 2 classes", NULL);
    free(b);
    /* Test images of another size than the training images. */
    b = idx_images(1, TE_N, IMG_H + 1, IMG_W, &len);
    bad_file_case("t10k-images-idx3-ubyte", b, len, 0,
                  "images are 5x3 but the training images are 4x3", NULL);
    free(b);
}

/* Incompressible bytes, so gzip stores them and a cut in the middle of the
 * file is a cut in the middle of the data. */
static uint8_t *random_images(int n, size_t *len) {
    *len = 16 + (size_t)n * IMG_H * IMG_W;
    uint8_t *b = malloc(*len);
    put_be32(b, 0x803);
    put_be32(b + 4, (uint32_t)n);
    put_be32(b + 8, IMG_H);
    put_be32(b + 12, IMG_W);
    sn_rng r;
    sn_rng_seed(&r, 9);
    for (size_t i = 16; i < *len; i++) b[i] = (uint8_t)sn_rng_u64(&r);
    return b;
}

static void test_idx_truncated_and_corrupt_gzip(void **state) {
    (void)state;
    enum { N = 2000 };
    char dir[64], spec[128], path[160];
    tmp_make(dir, sizeof dir);
    write_idx_set(dir, 1);
    size_t len;
    uint8_t *b = random_images(N, &len);
    write_file(dir, "train-images-idx3-ubyte", b, len, 1);
    b = realloc(b, 8 + N);
    put_be32(b, 0x801);
    put_be32(b + 4, N);
    for (int i = 0; i < N; i++) b[8 + i] = (uint8_t)(i % 10);
    write_file(dir, "train-labels-idx1-ubyte", b, 8 + N, 1);
    free(b);
    snprintf(spec, sizeof spec, "idx:%s", dir);
    sn_error e;
    sn_data *d = sn_data_open(spec, NULL, &e); /* the intact files load */
    if (!d) fail_msg("%s", e.msg);
    sn_data_free(d);

    /* Keep the first half of the compressed file. */
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    char *whole;
    size_t zlen;
    assert_int_equal(sn_read_file(path, &whole, &zlen, &e), 0);
    assert_int_equal(truncate(path, st.st_size / 2), 0);
    e.msg[0] = 0;
    assert_null(sn_data_open(spec, NULL, &e));
    char want[400];
    snprintf(want, sizeof want, "%s: truncated gzip stream (expected %zu "
                                "bytes, got ", path, len);
    if (strncmp(e.msg, want, strlen(want)) != 0)
        fail_msg("got \"%s\", want a message starting \"%s\"", e.msg, want);
    /* Stored blocks: about half the data came out before the cut. */
    long got = strtol(e.msg + strlen(want), NULL, 10);
    assert_true(got > (long)len / 4 && got < (long)len);

    /* Flip a byte inside the stored data: the CRC at the end catches it. */
    whole[zlen / 2] ^= 0x5a;
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(whole, 1, zlen, f), zlen);
    fclose(f);
    free(whole);
    expect_error(spec, NULL, path, ": corrupt gzip data (", NULL);
    tu_rm_rf(dir);
}

/* ---- CIFAR-10 -------------------------------------------------------- */

static uint8_t cifar_pixel(int file, int rec, int k) {
    /* per plane k >> 10: offsets 0, 50, 100, so channel means differ */
    return (uint8_t)(file * 13 + rec * 7 + (k & 1023) % 97 + (k >> 10) * 50);
}

/* Writes data_batch_1..5.bin with counts[0..4] records and test_batch.bin
 * with counts[5]; label of (file f, record r) is (f + r * 3) % 10. */
static void write_cifar(const char *dir, const int counts[6]) {
    static const char *const names[6] = {
        "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
        "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"};
    for (int f = 0; f < 6; f++) {
        size_t len = (size_t)counts[f] * 3073;
        uint8_t *b = malloc(len ? len : 1);
        for (int r = 0; r < counts[f]; r++) {
            b[(size_t)r * 3073] = (uint8_t)((f + r * 3) % 10);
            for (int k = 0; k < 3072; k++)
                b[(size_t)r * 3073 + 1 + k] = cifar_pixel(f, r, k);
        }
        write_file(dir, names[f], b, len, 0);
        free(b);
    }
}

static void test_cifar_good(void **state) {
    (void)state;
    static const int counts[6] = {2, 1, 1, 1, 3, 2};
    char dir[64], sub[128], spec[160];
    tmp_make(dir, sizeof dir);
    /* The official archive's subfolder is found from its parent. */
    snprintf(sub, sizeof sub, "%s/cifar-10-batches-bin", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    write_cifar(sub, counts);
    snprintf(spec, sizeof spec, "cifar10:%s", dir);
    sn_data_opts o = opts_no_val();
    sn_error e;
    sn_data *d = sn_data_open(spec, &o, &e);
    if (!d) fail_msg("%s", e.msg);
    sn_shape sh = sn_data_shape(d);
    assert_true(sh.c == 3 && sh.h == 32 && sh.w == 32);
    assert_string_equal(sn_data_class_name(d, 0), "airplane");
    assert_string_equal(sn_data_class_name(d, 9), "truck");
    assert_int_equal(sn_data_augment(d), 1); /* on by default for CIFAR */
    assert_int_equal(sn_data_crop_pad(d), 4);
    assert_int_equal(sn_data_flip(d), 1);
    assert_int_equal(sn_data_count(d, SN_SPLIT_TRAIN), 8);
    assert_int_equal(sn_data_count(d, SN_SPLIT_TEST), 2);
    int i = 0;
    for (int f = 0; f < 5; f++)
        for (int r = 0; r < counts[f]; r++, i++) {
            assert_int_equal(sn_data_labels(d, SN_SPLIT_TRAIN)[i],
                             (f + r * 3) % 10);
            const uint8_t *px = sn_data_raw(d, SN_SPLIT_TRAIN, i);
            for (int k = 0; k < 3072; k++)
                assert_int_equal(px[k], cifar_pixel(f, r, k));
        }
    for (int r = 0; r < 2; r++) {
        assert_int_equal(sn_data_labels(d, SN_SPLIT_TEST)[r], (5 + r * 3) % 10);
        assert_int_equal(sn_data_raw(d, SN_SPLIT_TEST, r)[3000],
                         cifar_pixel(5, r, 3000));
    }
    /* Channel statistics are per plane: R, G and B differ here. */
    const float *m = sn_data_mean(d);
    assert_true(m[0] != m[1] && m[1] != m[2]);
    sn_data_free(d);
    /* augment = 0 switches the default off. */
    o.augment = 0;
    d = sn_data_open(spec, &o, &e);
    assert_non_null(d);
    assert_int_equal(sn_data_augment(d), 0);
    assert_int_equal(sn_batch_flags(d, SN_SPLIT_TRAIN), SN_BATCH_SHUFFLE);
    sn_data_free(d);
    tu_rm_rf(dir);
}

/* idx: with two classes opens with two (the class count comes from the
 * labels), named "0" and "1". */
static void test_idx_two_classes(void **state) {
    (void)state;
    char dir[64], spec[128];
    tmp_make(dir, sizeof dir);
    write_idx_set(dir, 0);
    size_t len;
    uint8_t *b = idx_labels(0, TR_N, &len);
    for (int i = 0; i < TR_N; i++) b[8 + i] = (uint8_t)(i % 2);
    write_file(dir, "train-labels-idx1-ubyte", b, len, 0);
    free(b);
    b = idx_labels(1, TE_N, &len);
    for (int i = 0; i < TE_N; i++) b[8 + i] = (uint8_t)(i % 2);
    write_file(dir, "t10k-labels-idx1-ubyte", b, len, 0);
    free(b);
    snprintf(spec, sizeof spec, "idx:%s", dir);
    sn_error e;
    sn_data *d = sn_data_open(spec, NULL, &e);
    if (!d) fail_msg("%s", e.msg);
    assert_int_equal(sn_data_classes(d), 2);
    assert_string_equal(sn_data_class_name(d, 1), "1");
    sn_data_free(d);
    /* fashion-mnist: keeps its 10 named classes whatever the labels use */
    snprintf(spec, sizeof spec, "fashion-mnist:%s", dir);
    d = sn_data_open(spec, NULL, &e);
    if (!d) fail_msg("%s", e.msg);
    assert_int_equal(sn_data_classes(d), 10);
    sn_data_free(d);
    tu_rm_rf(dir);
}

/* CIFAR-100: 2 label bytes (coarse, fine) per record; fine by default,
 * coarse on request; names from the release's *_label_names.txt. */
static void test_cifar100(void **state) {
    (void)state;
    enum { REC = 2 + 3072, NTR = 6, NTE = 3 };
    char dir[64], spec[160], sub[128];
    tmp_make(dir, sizeof dir);
    snprintf(sub, sizeof sub, "%s/cifar-100-binary", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    uint8_t *b = calloc(NTR, REC);
    for (int i = 0; i < NTR; i++) {
        b[i * REC] = (uint8_t)(i % 20);          /* coarse */
        b[i * REC + 1] = (uint8_t)(99 - i % 3);  /* fine */
        b[i * REC + 2 + 5] = (uint8_t)(i + 1);   /* a red pixel */
    }
    write_file(sub, "train.bin", b, (size_t)NTR * REC, 0);
    write_file(sub, "test.bin", b, (size_t)NTE * REC, 0);
    char names[2048] = "";
    for (int k = 0; k < 100; k++) {
        size_t l = strlen(names);
        snprintf(names + l, sizeof names - l, "fine%d\n", k);
    }
    write_file(sub, "fine_label_names.txt", names, strlen(names), 0);
    sn_data_opts o = opts_no_val();
    snprintf(spec, sizeof spec, "cifar100:%s", dir);
    sn_error e;
    sn_data *d = sn_data_open(spec, &o, &e);
    if (!d) fail_msg("%s", e.msg);
    assert_int_equal(sn_data_classes(d), 100);
    assert_string_equal(sn_data_class_name(d, 99), "fine99");
    assert_int_equal(sn_data_labels(d, SN_SPLIT_TRAIN)[4], 98);
    assert_int_equal(sn_data_raw(d, SN_SPLIT_TRAIN, 4)[5], 5);
    assert_int_equal(sn_data_count(d, SN_SPLIT_TEST), NTE);
    assert_int_equal(sn_data_augment(d), 1);
    sn_data_free(d);
    snprintf(spec, sizeof spec, "cifar100:%s,coarse", dir);
    d = sn_data_open(spec, &o, &e);
    if (!d) fail_msg("%s", e.msg);
    assert_int_equal(sn_data_classes(d), 20);
    assert_int_equal(sn_data_labels(d, SN_SPLIT_TRAIN)[4], 4);
    assert_string_equal(sn_data_class_name(d, 3), "3"); /* no names file */
    sn_data_free(d);
    /* a fine label of 100 and a record cut short are refused */
    b[2 * REC + 1] = 100;
    write_file(sub, "train.bin", b, (size_t)NTR * REC, 0);
    snprintf(spec, sizeof spec, "cifar100:%s", dir);
    expect_error(spec, &o, "train.bin: record 2 has fine label 100 (expected "
                           "0..99)", NULL);
    write_file(sub, "train.bin", b, (size_t)NTR * REC - 1, 0);
    expect_error(spec, &o, "train.bin: size", "3074-byte records (2 label "
                                              "bytes", NULL);
    free(b);
    tu_rm_rf(dir);
}

static void test_cifar_bad(void **state) {
    (void)state;
    static const int counts[6] = {1, 1, 1, 1, 1, 1};
    char dir[64], spec[160], path[160];
    tmp_make(dir, sizeof dir);
    snprintf(spec, sizeof spec, "cifar10:%s", dir);
    expect_error(spec, NULL, dir, "missing data_batch_1.bin",
                 "data_batch_5.bin", NULL);
    write_cifar(dir, counts);
    snprintf(path, sizeof path, "%s/data_batch_3.bin", dir);
    assert_int_equal(unlink(path), 0);
    snprintf(path, sizeof path, "%s/test_batch.bin", dir);
    assert_int_equal(unlink(path), 0);
    expect_error(spec, NULL, "missing data_batch_3.bin", NULL);
    write_cifar(dir, counts);
    assert_int_equal(unlink(path), 0);
    expect_error(spec, NULL, "missing test_batch.bin", NULL);

    /* A record short. */
    uint8_t rec[2 * 3073];
    memset(rec, 1, sizeof rec);
    write_cifar(dir, counts);
    write_file(dir, "data_batch_2.bin", rec, 3073 + 100, 0);
    expect_error(spec, NULL, "/data_batch_2.bin: size 3173 bytes is not a "
                             "whole number of 3073-byte records", NULL);
    write_file(dir, "data_batch_2.bin", rec, 0, 0);
    expect_error(spec, NULL, "/data_batch_2.bin: size 0 bytes", NULL);
    /* A label out of range in the second record. */
    rec[3073] = 10;
    write_file(dir, "test_batch.bin", rec, sizeof rec, 0);
    write_file(dir, "data_batch_2.bin", rec, 3073, 0);
    expect_error(spec, NULL, "/test_batch.bin: record 1 has label 10 "
                             "(expected 0..9)", NULL);
    snprintf(spec, sizeof spec, "cifar10:%s/absent", dir);
    expect_error(spec, NULL, "absent: no such folder", NULL);
    tu_rm_rf(dir);
}

/* ---- spec and option errors ------------------------------------------ */

static void test_spec_errors(void **state) {
    (void)state;
    expect_error("imagenet", NULL, "unknown dataset 'imagenet'", NULL);
    expect_error("synthetic:abc", NULL, "N must be a count", NULL);
    expect_error("synthetic:0", NULL, "N must be a count", NULL);
    expect_error("mnist:", NULL, "nothing after ':'", NULL);
    sn_data_opts o = sn_data_opts_default();
    o.val_split = 1.0;
    expect_error("synthetic:100", &o, "validation split 1", NULL);
    o.val_split = -0.1;
    expect_error("synthetic:100", &o, "validation split -0.1", NULL);
    o = sn_data_opts_default();
    o.val_split = 0.9;
    expect_error("synthetic:1", &o, "leaves none to train on", NULL);
    o = sn_data_opts_default();
    o.crop_pad = 12;
    expect_error("synthetic:100", &o, "crop padding 12", NULL);
    sn_error e;
    sn_data *d = sn_data_open("synthetic:1k", NULL, &e); /* sizes as 1k */
    assert_non_null(d);
    assert_int_equal(sn_data_count(d, SN_SPLIT_TRAIN) +
                         sn_data_count(d, SN_SPLIT_VAL),
                     1000);
    assert_int_equal(sn_data_count(d, SN_SPLIT_TEST), 200);
    sn_data_free(d);
}

/* ---- splits and normalisation ---------------------------------------- */

static void test_val_split(void **state) {
    (void)state;
    enum { N = 1000 };
    sn_data_opts o = sn_data_opts_default();
    o.seed = 5;
    sn_error e;
    sn_data *a = sn_data_open("synthetic:1000", &o, &e);
    sn_data *b = sn_data_open("synthetic:1000", &o, &e);
    o.seed = 6;
    sn_data *c = sn_data_open("synthetic:1000", &o, &e);
    assert_true(a && b && c);
    int nt = sn_data_count(a, SN_SPLIT_TRAIN);
    int nv = sn_data_count(a, SN_SPLIT_VAL);
    assert_int_equal(nv, 100); /* 10% of 1000 */
    assert_int_equal(nt, 900);
    /* Disjoint, covering every file index, each list ascending. */
    int seen[N] = {0};
    for (int s = SN_SPLIT_TRAIN; s <= SN_SPLIT_VAL; s++)
        for (int i = 0; i < sn_data_count(a, s); i++) {
            int f = sn_data_file_index(a, s, i);
            seen[f]++;
            if (i) assert_true(f > sn_data_file_index(a, s, i - 1));
        }
    for (int f = 0; f < N; f++) assert_int_equal(seen[f], 1);
    /* Same seed, same split; another seed, another split. */
    int same = 1, diff = 0;
    for (int i = 0; i < nv; i++) {
        same &= sn_data_file_index(a, SN_SPLIT_VAL, i) ==
                sn_data_file_index(b, SN_SPLIT_VAL, i);
        diff += sn_data_file_index(a, SN_SPLIT_VAL, i) !=
                sn_data_file_index(c, SN_SPLIT_VAL, i);
    }
    assert_true(same);
    assert_true(diff > 0);

    /* max_train: a subset of the training split; validation unchanged;
     * statistics unchanged (computed before subsetting). */
    o.seed = 5;
    o.max_train = 300;
    o.max_test = 50;
    sn_data *s = sn_data_open("synthetic:1000", &o, &e);
    sn_data *s2 = sn_data_open("synthetic:1000", &o, &e);
    assert_true(s && s2);
    assert_int_equal(sn_data_count(s, SN_SPLIT_TRAIN), 300);
    assert_int_equal(sn_data_count(s, SN_SPLIT_TEST), 50);
    assert_int_equal(sn_data_count(s, SN_SPLIT_VAL), 100);
    for (int i = 0; i < nv; i++)
        assert_int_equal(sn_data_file_index(s, SN_SPLIT_VAL, i),
                         sn_data_file_index(a, SN_SPLIT_VAL, i));
    for (int i = 0; i < 300; i++) {
        int f = sn_data_file_index(s, SN_SPLIT_TRAIN, i);
        assert_int_equal(seen[f], 1);
        assert_int_equal(f, sn_data_file_index(s2, SN_SPLIT_TRAIN, i));
        /* in the full training split of the same seed */
        int found = 0;
        for (int j = 0; j < nt && !found; j++)
            found = sn_data_file_index(a, SN_SPLIT_TRAIN, j) == f;
        assert_true(found);
        if (i) assert_true(f > sn_data_file_index(s, SN_SPLIT_TRAIN, i - 1));
    }
    assert_true(sn_data_mean(s)[0] == sn_data_mean(a)[0]);
    assert_true(sn_data_std(s)[0] == sn_data_std(a)[0]);
    sn_data_free(a);
    sn_data_free(b);
    sn_data_free(c);
    sn_data_free(s);
    sn_data_free(s2);
}

/* Three channels with different ranges, through sn_data_from_arrays. */
static void test_normalisation(void **state) {
    (void)state;
    enum { N = 60, NT = 7, C = 3, H = 5, W = 4, CHW = C * H * W };
    uint8_t *x = malloc((size_t)N * CHW), *xt = malloc((size_t)NT * CHW);
    int y[N], yt[NT];
    sn_rng r;
    sn_rng_seed(&r, 3);
    for (int i = 0; i < N * CHW; i++) {
        int ch = (i / (H * W)) % C;
        x[i] = (uint8_t)(ch * 80 + sn_rng_int(&r, 40 + 60 * ch));
    }
    for (int i = 0; i < NT * CHW; i++) xt[i] = (uint8_t)(255 - i % 256);
    for (int i = 0; i < N; i++) y[i] = i % 4;
    for (int i = 0; i < NT; i++) yt[i] = i % 4;
    sn_data_opts o = sn_data_opts_default();
    o.val_split = 0.25;
    o.max_train = 20; /* must not change the statistics */
    sn_error e;
    sn_data *d = sn_data_from_arrays("three", (sn_shape){C, H, W}, 4, N, x, y,
                                     NT, xt, yt, &o, &e);
    if (!d) fail_msg("%s", e.msg);
    assert_int_equal(sn_data_count(d, SN_SPLIT_VAL), 15);
    assert_int_equal(sn_data_count(d, SN_SPLIT_TRAIN), 20);
    /* Independent statistics over the training files minus validation. */
    unsigned char is_val[N] = {0};
    for (int i = 0; i < 15; i++)
        is_val[sn_data_file_index(d, SN_SPLIT_VAL, i)] = 1;
    double mean[C] = {0}, sd[C] = {0};
    int cnt = 0;
    for (int i = 0; i < N; i++) {
        if (is_val[i]) continue;
        cnt++;
        for (int k = 0; k < CHW; k++)
            mean[k / (H * W)] += x[i * CHW + k] / 255.0;
    }
    assert_int_equal(cnt, 45);
    for (int ch = 0; ch < C; ch++) mean[ch] /= cnt * H * W;
    for (int i = 0; i < N; i++) {
        if (is_val[i]) continue;
        for (int k = 0; k < CHW; k++) {
            double dv = x[i * CHW + k] / 255.0 - mean[k / (H * W)];
            sd[k / (H * W)] += dv * dv;
        }
    }
    for (int ch = 0; ch < C; ch++) {
        sd[ch] = sqrt(sd[ch] / (cnt * H * W));
        /* float rounding of the stored constants: relative 6e-8 */
        assert_close(sn_data_mean(d)[ch], mean[ch], 1e-6);
        assert_close(sn_data_std(d)[ch], sd[ch], 1e-6);
    }
    /* Gathered values of every split use the training statistics. */
    float out[NT * CHW];
    int lab[NT], idx[NT];
    for (int i = 0; i < NT; i++) idx[i] = NT - 1 - i;
    sn_data_gather(d, SN_SPLIT_TEST, idx, NT, out, lab);
    for (int j = 0; j < NT; j++) {
        assert_int_equal(lab[j], yt[idx[j]]);
        for (int k = 0; k < CHW; k++) {
            int ch = k / (H * W);
            double want = (xt[idx[j] * CHW + k] / 255.0 - mean[ch]) / sd[ch];
            /* |want| < 20 here; float rounding gives < 20 * 2^-23 ~ 3e-6 */
            assert_close(out[j * CHW + k], want, 1e-5);
        }
    }
    sn_data_free(d);

    /* The normalised full training split (no subset) has mean 0 and
     * std 1 per channel, within float summation error. */
    o.max_train = 0;
    d = sn_data_from_arrays("three", (sn_shape){C, H, W}, 4, N, x, y, NT, xt,
                            yt, &o, &e);
    assert_non_null(d);
    int nt = sn_data_count(d, SN_SPLIT_TRAIN);
    float *all = malloc(sizeof(float) * (size_t)nt * CHW);
    int *ix = malloc(sizeof(int) * (size_t)nt);
    for (int i = 0; i < nt; i++) ix[i] = i;
    sn_data_gather(d, SN_SPLIT_TRAIN, ix, nt, all, NULL);
    for (int ch = 0; ch < C; ch++) {
        double s = 0, s2 = 0;
        for (int i = 0; i < nt; i++)
            for (int k = 0; k < H * W; k++) {
                double v = all[(size_t)i * CHW + ch * H * W + k];
                s += v;
                s2 += v * v;
            }
        double m = s / (nt * H * W);
        assert_close(m, 0, 1e-5);
        assert_close(sqrt(s2 / (nt * H * W) - m * m), 1, 1e-5);
    }
    free(all);
    free(ix);
    sn_data_free(d);
    free(x);
    free(xt);
}

/* ---- batching -------------------------------------------------------- */

static void test_batching(void **state) {
    (void)state;
    enum { B = 32 };
    sn_error e;
    sn_data *d = sn_data_open("synthetic:1000", NULL, &e);
    assert_non_null(d);
    int n = sn_data_count(d, SN_SPLIT_TRAIN); /* 900: not a multiple of 32 */
    const int hw = 144;
    float *x = malloc(sizeof(float) * B * hw);
    float *ref = malloc(sizeof(float) * B * hw);
    int y[B], idx[B], y2[B], idx2[B];
    int flags = sn_batch_flags(d, SN_SPLIT_TRAIN);
    assert_int_equal(flags, SN_BATCH_SHUFFLE); /* synthetic: no augment */
    sn_batcher *b = sn_batcher_new(d, SN_SPLIT_TRAIN, B, flags, 77);
    sn_batcher *b2 = sn_batcher_new(d, SN_SPLIT_TRAIN, B, flags, 77);
    sn_batcher *b3 = sn_batcher_new(d, SN_SPLIT_TRAIN, B, flags, 78);
    assert_int_equal(sn_batcher_batches(b), (n + B - 1) / B);
    int *order0 = malloc(sizeof(int) * n);
    int *seen = malloc(sizeof(int) * n);
    for (int epoch = 0; epoch < 3; epoch++) {
        sn_batcher_epoch(b, epoch);
        sn_batcher_epoch(b2, epoch);
        sn_batcher_epoch(b3, epoch);
        memset(seen, 0, sizeof(int) * n);
        int pos = 0, k, batches = 0, diff_seed = 0;
        while ((k = sn_batcher_next(b, x, y, idx)) > 0) {
            assert_int_equal(k, pos + B <= n ? B : n - pos);
            /* The same seed replays the same batch, bit for bit. */
            assert_int_equal(sn_batcher_next(b2, ref, y2, idx2), k);
            assert_memory_equal(idx, idx2, sizeof(int) * k);
            assert_memory_equal(x, ref, sizeof(float) * k * hw);
            /* Samples are those indices, normalised, with their labels. */
            sn_data_gather(d, SN_SPLIT_TRAIN, idx, k, ref, y2);
            assert_memory_equal(x, ref, sizeof(float) * k * hw);
            assert_memory_equal(y, y2, sizeof(int) * k);
            assert_int_equal(sn_batcher_next(b3, ref, y2, idx2), k);
            for (int j = 0; j < k; j++) {
                seen[idx[j]]++;
                if (epoch == 0) order0[pos + j] = idx[j];
                diff_seed += idx[j] != idx2[j];
            }
            pos += k;
            batches++;
        }
        assert_int_equal(pos, n);
        assert_int_equal(batches, sn_batcher_batches(b));
        assert_int_equal(sn_batcher_next(b, x, y, idx), 0); /* stays done */
        for (int i = 0; i < n; i++) assert_int_equal(seen[i], 1);
        assert_true(diff_seed > n / 2); /* seed 78 orders differently */
        if (epoch > 0) {
            /* A new order each epoch: few positions coincide by chance
             * (expected 1 of 900). */
            sn_batcher_epoch(b2, epoch);
            int same = 0;
            for (int p = 0; (k = sn_batcher_next(b2, x, y, idx)) > 0;)
                for (int j = 0; j < k; j++, p++) same += idx[j] == order0[p];
            assert_true(same < n / 10);
        }
    }
    /* Batches are random access: get(k) equals the k-th next(). */
    sn_batcher_epoch(b, 1);
    sn_batcher_next(b, x, y, idx);
    sn_batcher_next(b, x, y, idx);
    assert_int_equal(sn_batcher_get(b, 1, ref, y2, idx2), B);
    assert_memory_equal(idx, idx2, sizeof idx);
    assert_memory_equal(x, ref, sizeof(float) * B * hw);
    assert_int_equal(sn_batcher_get(b, 1000, ref, y2, idx2), 0);
    sn_batcher_free(b);
    sn_batcher_free(b2);
    sn_batcher_free(b3);

    /* Validation: in order, all samples; DROP_LAST drops the tail. */
    assert_int_equal(sn_batch_flags(d, SN_SPLIT_VAL), 0);
    int nv = sn_data_count(d, SN_SPLIT_VAL); /* 100 */
    b = sn_batcher_new(d, SN_SPLIT_VAL, B, 0, 1);
    int pos = 0, k;
    while ((k = sn_batcher_next(b, x, y, idx)) > 0)
        for (int j = 0; j < k; j++, pos++) {
            assert_int_equal(idx[j], pos);
            assert_int_equal(y[j], sn_data_labels(d, SN_SPLIT_VAL)[pos]);
        }
    assert_int_equal(pos, nv);
    sn_batcher_free(b);
    b = sn_batcher_new(d, SN_SPLIT_VAL, B, SN_BATCH_DROP_LAST, 1);
    assert_int_equal(sn_batcher_batches(b), nv / B);
    pos = 0;
    while ((k = sn_batcher_next(b, x, y, NULL)) > 0) {
        assert_int_equal(k, B);
        pos += k;
    }
    assert_int_equal(pos, nv / B * B);
    sn_batcher_free(b);
    free(order0);
    free(seen);
    free(x);
    free(ref);
    sn_data_free(d);
}

/* ---- augmentation ---------------------------------------------------- */

enum { AS = 4, AN = 8 };

/* Expected augmented pixel, written from the definition: crop of the
 * image padded with raw 0, shifted by (dy, dx), then mirrored. */
static uint8_t aug_pixel(const uint8_t *img, int y, int x, int dy, int dx,
                         int flip) {
    int xx = flip ? AS - 1 - x : x;
    int sy = y + dy, sx = xx + dx;
    if (sy < 0 || sy >= AS || sx < 0 || sx >= AS) return 0;
    return img[sy * AS + sx];
}

/* Which (dy, dx, flip) variant out[] is; -1 when none matches. */
static int aug_variant(const sn_data *d, const uint8_t *img, const float *out,
                       int pad) {
    float lut[256];
    for (int v = 0; v < 256; v++)
        lut[v] = (float)((v / 255.0 - sn_data_mean(d)[0]) / sn_data_std(d)[0]);
    for (int flip = 0; flip < 2; flip++)
        for (int dy = -pad; dy <= pad; dy++)
            for (int dx = -pad; dx <= pad; dx++) {
                int ok = 1;
                for (int y = 0; y < AS && ok; y++)
                    for (int x = 0; x < AS && ok; x++)
                        /* 1e-5: float rounding of mean/std, |x| < 5 */
                        ok = fabsf(out[y * AS + x] -
                                   lut[aug_pixel(img, y, x, dy, dx, flip)]) <
                             1e-5f;
                int span = 2 * pad + 1;
                if (ok) return (flip * span + dy + pad) * span + dx + pad;
            }
    return -1;
}

static void test_augmentation(void **state) {
    (void)state;
    /* AN copies of one 4x4 image with distinct pixels 10..160, so each
     * variant is recognisable; labels arbitrary. */
    uint8_t img[AS * AS], x[AN * AS * AS];
    for (int i = 0; i < AS * AS; i++) img[i] = (uint8_t)(10 + 10 * i);
    for (int n = 0; n < AN; n++) memcpy(x + n * AS * AS, img, sizeof img);
    int y[AN] = {0};
    sn_data_opts o = sn_data_opts_default();
    o.val_split = 0.25; /* 2 validation images */
    o.augment = 1;
    o.crop_pad = 1;
    sn_error e;
    sn_data *d = sn_data_from_arrays("aug", (sn_shape){1, AS, AS}, 2, AN, x, y,
                                     AN, x, y, &o, &e);
    if (!d) fail_msg("%s", e.msg);
    const int variants = 2 * 3 * 3;
    int hits[18] = {0};
    assert_int_equal(sn_batch_flags(d, SN_SPLIT_TRAIN),
                     SN_BATCH_SHUFFLE | SN_BATCH_AUGMENT);
    sn_batcher *b = sn_batcher_new(d, SN_SPLIT_TRAIN, 4,
                                   sn_batch_flags(d, SN_SPLIT_TRAIN), 9);
    float out[AN * AS * AS], again[AN * AS * AS];
    for (int epoch = 0; epoch < 60; epoch++) {
        sn_batcher_epoch(b, epoch);
        for (int k = 0, n; (n = sn_batcher_next(b, out, NULL, NULL)) > 0; k++) {
            /* Same (seed, epoch, batch), same augmentation. */
            assert_int_equal(sn_batcher_get(b, k, again, NULL, NULL), n);
            assert_memory_equal(out, again, sizeof(float) * n * AS * AS);
            for (int j = 0; j < n; j++) {
                int v = aug_variant(d, img, out + j * AS * AS, 1);
                if (v < 0) fail_msg("epoch %d: sample is no crop/flip of the "
                                    "image", epoch);
                hits[v]++;
            }
        }
    }
    /* 360 samples over 18 equally likely variants (20 each expected):
     * every one shows up (for this seed; a miss has odds < 1e-6). */
    for (int v = 0; v < variants; v++)
        if (hits[v] == 0) fail_msg("variant %d never drawn", v);
    sn_batcher_free(b);

    /* Validation and test batches are plain, whatever the dataset says. */
    for (int s = SN_SPLIT_VAL; s <= SN_SPLIT_TEST; s++) {
        assert_int_equal(sn_batch_flags(d, s), 0);
        b = sn_batcher_new(d, s, 4, sn_batch_flags(d, s), 9);
        int n = sn_batcher_next(b, out, NULL, NULL);
        assert_true(n > 0);
        for (int j = 0; j < n; j++)
            assert_int_equal(aug_variant(d, img, out + j * AS * AS, 0), 0);
        sn_batcher_free(b);
    }
    /* A train batcher without the flag is plain too. */
    b = sn_batcher_new(d, SN_SPLIT_TRAIN, 4, SN_BATCH_SHUFFLE, 9);
    for (int k = 0, n; (n = sn_batcher_next(b, out, NULL, NULL)) > 0; k++)
        for (int j = 0; j < n; j++)
            assert_int_equal(aug_variant(d, img, out + j * AS * AS, 1),
                             4); /* variant (dy 0, dx 0, no flip) */
    sn_batcher_free(b);
    sn_data_free(d);

    /* flip = 0: crops only; crop_pad = 0: flips only. */
    o.flip = 0;
    d = sn_data_from_arrays("aug", (sn_shape){1, AS, AS}, 2, AN, x, y, AN, x,
                            y, &o, &e);
    assert_non_null(d);
    b = sn_batcher_new(d, SN_SPLIT_TRAIN, 6, SN_BATCH_AUGMENT, 2);
    for (int epoch = 0; epoch < 20; epoch++) {
        sn_batcher_epoch(b, epoch);
        int n = sn_batcher_next(b, out, NULL, NULL);
        for (int j = 0; j < n; j++) {
            int v = aug_variant(d, img, out + j * AS * AS, 1);
            assert_true(v >= 0 && v < 9);
        }
    }
    sn_batcher_free(b);
    sn_data_free(d);
    o.flip = 1;
    o.crop_pad = 0;
    d = sn_data_from_arrays("aug", (sn_shape){1, AS, AS}, 2, AN, x, y, AN, x,
                            y, &o, &e);
    assert_non_null(d);
    b = sn_batcher_new(d, SN_SPLIT_TRAIN, 6, SN_BATCH_AUGMENT, 2);
    int flips = 0, total = 0;
    for (int epoch = 0; epoch < 20; epoch++) {
        sn_batcher_epoch(b, epoch);
        int n = sn_batcher_next(b, out, NULL, NULL);
        for (int j = 0; j < n; j++, total++) {
            int v = aug_variant(d, img, out + j * AS * AS, 0);
            assert_true(v == 0 || v == 1);
            flips += v;
        }
    }
    /* 120 fair coin flips: 60 +- 5.5 sd; 30..90 is over 5 sd. */
    assert_true(flips > total / 4 && flips < total * 3 / 4);
    sn_batcher_free(b);
    sn_data_free(d);
}

/* One concrete crop on a 2-channel image, by hand: shift down-right. */
static void test_augmentation_padding_value(void **state) {
    (void)state;
    uint8_t x[2 * 2 * 2] = {50, 60, 70, 80, 200, 210, 220, 230};
    int y[1] = {0};
    sn_data_opts o = opts_no_val();
    o.augment = 1;
    o.crop_pad = 1;
    sn_error e;
    sn_data *d = sn_data_from_arrays("pad", (sn_shape){2, 2, 2}, 1, 1, x, y, 1,
                                     x, y, &o, &e);
    assert_non_null(d);
    const float *m = sn_data_mean(d), *s = sn_data_std(d);
    /* Channel 0: mean of 50..80 / 255; population std of 50,60,70,80. */
    assert_close(m[0], 65 / 255.0, 1e-6);
    assert_close(s[0], sqrt(125.0) / 255, 1e-6);
    sn_batcher *b = sn_batcher_new(d, SN_SPLIT_TRAIN, 1, SN_BATCH_AUGMENT, 4);
    int seen_shift = 0;
    for (int epoch = 0; epoch < 200 && !seen_shift; epoch++) {
        float out[8];
        sn_batcher_epoch(b, epoch);
        sn_batcher_next(b, out, NULL, NULL);
        /* Looking for dy = -1, dx = -1, no flip: out[1][1] = in[0][0] and
         * the rest padding (raw 0) in both channels. */
        float z0 = (float)((0 - m[0]) / s[0]), z1 = (float)((0 - m[1]) / s[1]);
        if (fabsf(out[3] - (float)((50 / 255.0 - m[0]) / s[0])) < 1e-5f &&
            fabsf(out[2] - z0) < 1e-5f) {
            seen_shift = 1;
            assert_close(out[0], z0, 1e-5);
            assert_close(out[1], z0, 1e-5);
            assert_close(out[4], z1, 1e-5);
            assert_close(out[5], z1, 1e-5);
            assert_close(out[6], z1, 1e-5);
            assert_close(out[7], (200 / 255.0 - m[1]) / s[1], 1e-5);
        }
    }
    assert_true(seen_shift); /* 1/18 per epoch: 200 epochs make it certain */
    sn_batcher_free(b);
    sn_data_free(d);
}

/* ---- synthetic ------------------------------------------------------- */

static void test_synthetic(void **state) {
    (void)state;
    sn_error e;
    sn_data_opts o = opts_no_val();
    sn_data *a = sn_data_open("synthetic:2000", &o, &e);
    o.seed = 99; /* the images do not depend on the split seed */
    sn_data *b = sn_data_open("synthetic:2000", &o, &e);
    assert_true(a && b);
    sn_shape sh = sn_data_shape(a);
    assert_true(sh.c == 1 && sh.h == 12 && sh.w == 12);
    assert_int_equal(sn_data_count(a, SN_SPLIT_TRAIN), 2000);
    assert_int_equal(sn_data_count(a, SN_SPLIT_TEST), 400);
    assert_string_equal(sn_data_class_name(a, 6), "ring");
    for (int s = SN_SPLIT_TRAIN; s <= SN_SPLIT_TEST; s += 2)
        for (int i = 0; i < sn_data_count(a, s); i++)
            assert_memory_equal(sn_data_raw(a, s, i), sn_data_raw(b, s, i),
                                144);
    /* Balanced classes. */
    int per[10] = {0};
    for (int i = 0; i < 2000; i++) per[sn_data_labels(a, SN_SPLIT_TRAIN)[i]]++;
    for (int k = 0; k < 10; k++) assert_int_equal(per[k], 200);
    /* Separable: nearest class mean (means from train) classifies test. */
    double mean[10][144] = {{0}};
    for (int i = 0; i < 2000; i++) {
        const uint8_t *px = sn_data_raw(a, SN_SPLIT_TRAIN, i);
        int k = sn_data_labels(a, SN_SPLIT_TRAIN)[i];
        for (int p = 0; p < 144; p++) mean[k][p] += px[p] / 200.0;
    }
    int correct = 0, nt = sn_data_count(a, SN_SPLIT_TEST);
    for (int i = 0; i < nt; i++) {
        const uint8_t *px = sn_data_raw(a, SN_SPLIT_TEST, i);
        int best = -1;
        double bd = INFINITY;
        for (int k = 0; k < 10; k++) {
            double dd = 0;
            for (int p = 0; p < 144; p++)
                dd += (px[p] - mean[k][p]) * (px[p] - mean[k][p]);
            if (dd < bd) bd = dd, best = k;
        }
        correct += best == sn_data_labels(a, SN_SPLIT_TEST)[i];
    }
    double acc = (double)correct / nt;
    print_message("synthetic nearest-class-mean test accuracy %.3f\n", acc);
    assert_true(acc > 0.9);
    /* Not trivial either: images of one class differ (shift, noise). */
    assert_memory_not_equal(sn_data_raw(a, SN_SPLIT_TRAIN, 0),
                            sn_data_raw(a, SN_SPLIT_TRAIN, 10), 144);
    sn_data_free(a);
    sn_data_free(b);
}

/* ---- threads: a dataset read by several batchers at once ------------- */

typedef struct {
    const sn_data *d;
    uint64_t seed;
    uint32_t crc;
} reader_arg;

static void *reader(void *p) {
    reader_arg *a = p;
    float x[16 * 3072];
    int y[16];
    sn_batcher *b =
        sn_batcher_new(a->d, SN_SPLIT_TRAIN, 16,
                       SN_BATCH_SHUFFLE | SN_BATCH_AUGMENT, a->seed);
    a->crc = 0;
    for (int epoch = 0; epoch < 2; epoch++) {
        sn_batcher_epoch(b, epoch);
        for (int n; (n = sn_batcher_next(b, x, y, NULL)) > 0;) {
            a->crc = sn_crc32(a->crc, x, sizeof(float) * n * 3072);
            a->crc = sn_crc32(a->crc, y, sizeof(int) * n);
        }
    }
    sn_batcher_free(b);
    return NULL;
}

static void test_concurrent_readers(void **state) {
    (void)state;
    enum { N = 64 };
    uint8_t *x = malloc((size_t)N * 3072);
    int y[N];
    for (int i = 0; i < N * 3072; i++) x[i] = (uint8_t)(i * 31 / 7);
    for (int i = 0; i < N; i++) y[i] = i % 10;
    sn_data_opts o = sn_data_opts_default();
    o.augment = 1;
    sn_error e;
    sn_data *d = sn_data_from_arrays("rgb", (sn_shape){3, 32, 32}, 10, N, x, y,
                                     N, x, y, &o, &e);
    assert_non_null(d);
    reader_arg solo[2] = {{d, 1, 0}, {d, 2, 0}};
    reader_arg par[2] = {{d, 1, 0}, {d, 2, 0}};
    reader(&solo[0]);
    reader(&solo[1]);
    pthread_t t[2];
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, reader, &par[i]);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    assert_int_equal(par[0].crc, solo[0].crc);
    assert_int_equal(par[1].crc, solo[1].crc);
    assert_true(solo[0].crc != solo[1].crc);
    sn_data_free(d);
    free(x);
}

/* ---- the real Fashion-MNIST, when installed -------------------------- */

static void test_fashion_mnist(void **state) {
    (void)state;
    struct stat st;
    if (stat("/usr/share/datasets/fashion-mnist", &st) != 0) {
        print_message("no /usr/share/datasets/fashion-mnist: skipped\n");
        skip();
    }
    sn_data_opts o = opts_no_val();
    sn_error e;
    sn_data *d = sn_data_open("fashion-mnist", &o, &e);
    if (!d) fail_msg("%s", e.msg);
    assert_int_equal(sn_data_count(d, SN_SPLIT_TRAIN), 60000);
    assert_int_equal(sn_data_count(d, SN_SPLIT_TEST), 10000);
    sn_shape sh = sn_data_shape(d);
    assert_true(sh.c == 1 && sh.h == 28 && sh.w == 28);
    /* Fashion-MNIST is balanced: 6000 / 1000 per class. */
    int tr[10] = {0}, te[10] = {0};
    for (int i = 0; i < 60000; i++) tr[sn_data_labels(d, SN_SPLIT_TRAIN)[i]]++;
    for (int i = 0; i < 10000; i++) te[sn_data_labels(d, SN_SPLIT_TEST)[i]]++;
    for (int k = 0; k < 10; k++) {
        assert_int_equal(tr[k], 6000);
        assert_int_equal(te[k], 1000);
    }
    /* Widely quoted training-set statistics: mean 0.2860, std 0.3530. */
    assert_close(sn_data_mean(d)[0], 0.2860, 5e-4);
    assert_close(sn_data_std(d)[0], 0.3530, 5e-4);
    char buf[200];
    assert_string_equal(sn_data_describe(d, buf, sizeof buf),
                        "fashion-mnist: 28x28x1, 10 classes, 60000 train / 0 "
                        "val / 10000 test");
    sn_data_free(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_raw),
        cmocka_unit_test(test_idx_gz_and_names),
        cmocka_unit_test(test_idx_missing),
        cmocka_unit_test(test_idx_bad_magic),
        cmocka_unit_test(test_idx_bad_sizes),
        cmocka_unit_test(test_idx_count_mismatch_and_labels),
        cmocka_unit_test(test_idx_truncated_and_corrupt_gzip),
        cmocka_unit_test(test_cifar_good),
        cmocka_unit_test(test_cifar_bad),
        cmocka_unit_test(test_idx_two_classes),
        cmocka_unit_test(test_cifar100),
        cmocka_unit_test(test_spec_errors),
        cmocka_unit_test(test_val_split),
        cmocka_unit_test(test_normalisation),
        cmocka_unit_test(test_batching),
        cmocka_unit_test(test_augmentation),
        cmocka_unit_test(test_augmentation_padding_value),
        cmocka_unit_test(test_synthetic),
        cmocka_unit_test(test_concurrent_readers),
        cmocka_unit_test(test_fashion_mnist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
