/* test_data_folder.c — bring-your-own data at the library level: image
 * folders (layouts, formats, exact pixels, sizes and fitting, the cache,
 * every kind of bad folder), NumPy files (layouts, dtypes, bad arrays),
 * class counts, the validation split of a tiny set and the summary. */
#include "testutil.h"

#include "slimnas/data.h"

#include <dirent.h>
#include <sys/time.h>
#include <unistd.h>

#include "imgutil.h"
#include "../src/data/image.h"

static char cache_home[64];

/* Every test's folders live under a fresh temp folder; the pixel cache
 * goes to its own temp folder instead of the user's. */
static int group_setup(void **state) {
    (void)state;
    snprintf(cache_home, sizeof cache_home, "/tmp/sn_test_cache_XXXXXX");
    if (!mkdtemp(cache_home)) return -1;
    setenv("XDG_CACHE_HOME", cache_home, 1);
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    tu_rm_rf(cache_home);
    return 0;
}

static void tmp_make(char *dir, size_t n) {
    snprintf(dir, n, "/tmp/sn_test_folder_XXXXXX");
    assert_non_null(mkdtemp(dir));
}

/* Pixel (y, x, ch) of image i of class k: distinct per image. */
static uint8_t pix(int k, int i, int y, int x, int ch) {
    return (uint8_t)(k * 71 + i * 13 + y * 7 + x * 3 + ch * 50 + 1);
}

/* Writes image i of class k (h x w x c) to dir/name. */
static void put_image(const char *dir, const char *name, int k, int i, int h,
                      int w, int c) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    uint8_t *p = malloc((size_t)h * w * c);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int ch = 0; ch < c; ch++)
                p[((size_t)y * w + x) * c + ch] = pix(k, i, y, x, ch);
    assert_int_equal(iu_write_image(path, w, h, c, p), 0);
    free(p);
}

/* A class folder dir/cls holding n lossless images (PNG, BMP, PPM in
 * turn) of class k, h x w x c. */
static void put_class(const char *dir, const char *cls, int k, int n, int h,
                      int w, int c) {
    char sub[256], name[64];
    snprintf(sub, sizeof sub, "%s/%s", dir, cls);
    iu_mkdirs(sub);
    static const char *const ext[3] = {"png", "bmp", "ppm"};
    for (int i = 0; i < n; i++) {
        const char *x = ext[i % 3];
        if (c == 1) x = i % 2 ? "pgm" : "png"; /* stb writes BMP as RGB */
        snprintf(name, sizeof name, "img%03d.%s", i, x);
        put_image(sub, name, k, i, h, w, c);
    }
}

static sn_data *open_ok(const char *spec, const sn_data_opts *o) {
    sn_error e = {{0}};
    sn_data *d = sn_data_open(spec, o, &e);
    if (!d) fail_msg("%s: %s", spec, e.msg);
    return d;
}

/* Opens spec expecting failure with every fragment (NULL-terminated). */
static void expect_error(const char *spec, const sn_data_opts *o, ...) {
    sn_error e = {{0}};
    sn_data *d = sn_data_open(spec, o, &e);
    if (d) {
        sn_data_free(d);
        fail_msg("%s: opened, but an error was expected", spec);
    }
    if (strchr(e.msg, '\n')) fail_msg("error has a newline: \"%s\"", e.msg);
    va_list ap;
    va_start(ap, o);
    for (const char *frag; (frag = va_arg(ap, const char *));)
        if (!strstr(e.msg, frag))
            fail_msg("error \"%s\" lacks \"%s\"", e.msg, frag);
    va_end(ap);
}

/* Each sample of every split equals, byte for byte, one of the n images
 * of its class (as written, made planar); returns the samples seen. */
static int check_samples(const sn_data *d, int n_per_class, int h, int w,
                         int c) {
    int seen = 0;
    for (int s = 0; s < SN_SPLIT_COUNT; s++)
        for (int j = 0; j < sn_data_count(d, s); j++, seen++) {
            const uint8_t *px = sn_data_raw(d, s, j);
            int k = sn_data_labels(d, s)[j], found = 0;
            for (int i = 0; i < n_per_class && !found; i++) {
                int same = 1;
                for (int ch = 0; ch < c && same; ch++)
                    for (int y = 0; y < h && same; y++)
                        for (int x = 0; x < w && same; x++)
                            same = px[((size_t)ch * h + y) * w + x] ==
                                   pix(k, i, y, x, ch);
                found = same;
            }
            if (!found)
                fail_msg("%s sample %d (label %d) matches no image of its "
                         "class",
                         sn_split_name(s), j, k);
        }
    return seen;
}

/* ---- folders: layouts and pixels ----------------------------------------- */

static void test_folder_classes_and_pixels(void **state) {
    (void)state;
    char dir[64], spec[128], path[256];
    tmp_make(dir, sizeof dir);
    /* written out of order: classes are sorted by name */
    put_class(dir, "cat", 2, 12, 5, 6, 3);
    put_class(dir, "ant", 0, 12, 5, 6, 3);
    put_class(dir, "bird", 1, 12, 5, 6, 3);
    snprintf(path, sizeof path, "%s/bird/notes.txt", dir);
    iu_write_bytes(path, "hello", 5);
    snprintf(path, sizeof path, "%s/cat/.DS_Store", dir); /* hidden: ignored */
    iu_write_bytes(path, "x", 1);
    snprintf(spec, sizeof spec, "folder:%s", dir);
    sn_data *d = open_ok(spec, NULL);
    assert_int_equal(sn_data_classes(d), 3);
    assert_string_equal(sn_data_class_name(d, 0), "ant");
    assert_string_equal(sn_data_class_name(d, 1), "bird");
    assert_string_equal(sn_data_class_name(d, 2), "cat");
    sn_shape sh = sn_data_shape(d);
    assert_true(sh.c == 3 && sh.h == 5 && sh.w == 6);
    /* a fifth of each class (12 -> 2) is the test set */
    assert_int_equal(sn_data_count(d, SN_SPLIT_TEST), 6);
    int per[3] = {0};
    for (int i = 0; i < 6; i++) per[sn_data_labels(d, SN_SPLIT_TEST)[i]]++;
    for (int k = 0; k < 3; k++) assert_int_equal(per[k], 2);
    /* the tiny set's validation split holds every class */
    int nv = sn_data_count(d, SN_SPLIT_VAL);
    int vk[3] = {0};
    for (int i = 0; i < nv; i++) vk[sn_data_labels(d, SN_SPLIT_VAL)[i]]++;
    for (int k = 0; k < 3; k++) assert_true(vk[k] >= 1);
    assert_int_equal(check_samples(d, 12, 5, 6, 3), 36);
    /* the skipped file is counted and named; the summary says it all */
    assert_non_null(strstr(sn_data_warning(d), "skipped 1 file"));
    assert_non_null(strstr(sn_data_warning(d), "bird/notes.txt"));
    char sum[4096];
    sn_data_summary(d, sum, sizeof sum);
    print_message("%s", sum);
    assert_non_null(strstr(sum, "input: 5x6x3 (HxWxC)"));
    assert_non_null(strstr(sum, dir));
    assert_non_null(strstr(sum, "  bird "));
    assert_non_null(strstr(sum, "3 classes"));
    assert_null(strstr(sum, "unbalanced"));
    sn_data_free(d);

    /* strict refuses the text file, naming it */
    snprintf(spec, sizeof spec, "folder:%s,strict", dir);
    snprintf(path, sizeof path, "%s/bird/notes.txt: not an image", dir);
    expect_error(spec, NULL, path, NULL);
    sn_data_opts o = sn_data_opts_default();
    o.strict = 1;
    snprintf(spec, sizeof spec, "folder:%s", dir);
    expect_error(spec, &o, path, NULL);
    tu_rm_rf(dir);
}

static void test_folder_train_test_dirs(void **state) {
    (void)state;
    char dir[64], spec[128], sub[128];
    tmp_make(dir, sizeof dir);
    snprintf(sub, sizeof sub, "%s/train", dir);
    put_class(sub, "no", 0, 9, 4, 4, 1);
    put_class(sub, "yes", 1, 30, 4, 4, 1);
    snprintf(sub, sizeof sub, "%s/val", dir); /* val/ when there is no test/ */
    put_class(sub, "yes", 1, 3, 4, 4, 1);
    put_class(sub, "no", 0, 2, 4, 4, 1);
    snprintf(spec, sizeof spec, "folder:%s", dir);
    sn_data_opts o = sn_data_opts_default();
    o.val_split = 0;
    sn_data *d = open_ok(spec, &o);
    assert_int_equal(sn_data_classes(d), 2);
    assert_int_equal(sn_shape_size(sn_data_shape(d)), 16); /* grey 4x4 */
    assert_int_equal(sn_data_count(d, SN_SPLIT_TRAIN), 39);
    assert_int_equal(sn_data_count(d, SN_SPLIT_TEST), 5);
    assert_int_equal(check_samples(d, 30, 4, 4, 1), 44);
    /* 9 against 30 is not a tenth: no warning */
    char sum[4096];
    assert_null(strstr(sn_data_summary(d, sum, sizeof sum), "unbalanced"));
    sn_data_free(d);

    /* a class under a tenth of the largest is warned about */
    snprintf(sub, sizeof sub, "%s/train", dir);
    put_class(sub, "yes", 1, 95, 4, 4, 1);
    d = open_ok(spec, &o);
    sn_data_summary(d, sum, sizeof sum);
    assert_non_null(strstr(sum, "warning: unbalanced classes: 'no' has 9 "
                                "training images, under a tenth of 'yes' (95)"));
    sn_data_free(d);

    /* with test/ as well, val/ is ignored, and said so */
    snprintf(sub, sizeof sub, "%s/test", dir);
    put_class(sub, "yes", 1, 4, 4, 4, 1);
    d = open_ok(spec, &o);
    assert_int_equal(sn_data_count(d, SN_SPLIT_TEST), 4);
    assert_non_null(strstr(sn_data_warning(d), "val/ ignored"));
    sn_data_free(d);
    snprintf(sub, sizeof sub, "%s/test", dir);
    tu_rm_rf(sub);
    /* train/ alone is split like a plain folder of classes */
    snprintf(sub, sizeof sub, "%s/val", dir);
    rename(sub, "/tmp/sn_test_folder_val_aside");
    d = open_ok(spec, &o);
    assert_int_equal(sn_data_classes(d), 2);
    assert_int_equal(sn_data_count(d, SN_SPLIT_TEST), 2 + 19); /* 9, 95 */
    sn_data_free(d);
    rename("/tmp/sn_test_folder_val_aside", sub);
    /* a test class the training set does not have */
    snprintf(sub, sizeof sub, "%s/val", dir);
    put_class(sub, "maybe", 0, 2, 4, 4, 1);
    char want[256];
    snprintf(want, sizeof want, "%s/val/maybe: class 'maybe' is not among",
             dir);
    expect_error(spec, &o, want, NULL);
    tu_rm_rf(dir);
}

/* ---- sizes, channels and fitting ------------------------------------------- */

/* A 16x8 (w x h) grey image: columns 0-3 are 0, 4-11 are 100, 12-15 200. */
static void put_bands(const char *path) {
    uint8_t p[8 * 16];
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 16; x++)
            p[y * 16 + x] = x < 4 ? 0 : x < 12 ? 100 : 200;
    assert_int_equal(iu_write_image(path, 16, 8, 1, p), 0);
}

/* The one training image of class "wide" in d, as 8x8 grey. */
static const uint8_t *wide_image(const sn_data *d) {
    for (int s = 0; s < SN_SPLIT_COUNT; s++)
        for (int i = 0; i < sn_data_count(d, s); i++)
            if (sn_data_labels(d, s)[i] == 1) return sn_data_raw(d, s, i);
    fail_msg("no image of class 1");
    return NULL;
}

static void test_folder_sizes_and_fit(void **state) {
    (void)state;
    char dir[64], spec[160], path[256];
    tmp_make(dir, sizeof dir);
    put_class(dir, "a_square", 0, 4, 8, 8, 1);
    snprintf(path, sizeof path, "%s/b_wide", dir);
    iu_mkdirs(path);
    snprintf(path, sizeof path, "%s/b_wide/bands.png", dir);
    put_bands(path);
    sn_data_opts o = sn_data_opts_default();
    o.val_split = 0;
    /* default size: the most common one (8x8), grey as every image is */
    snprintf(spec, sizeof spec, "folder:%s", dir);
    sn_data *d = open_ok(spec, &o);
    sn_shape sh = sn_data_shape(d);
    assert_true(sh.c == 1 && sh.h == 8 && sh.w == 8);
    /* crop: the centre 8x8 of the 16x8 image, all 100, copied exactly */
    const uint8_t *p = wide_image(d);
    for (int i = 0; i < 64; i++) assert_int_equal(p[i], 100);
    char sum[4096];
    assert_non_null(strstr(sn_data_summary(d, sum, sizeof sum),
                           "1 of 5 images converted (crop"));
    sn_data_free(d);

    /* pad: shrunk to 8x4 by averaging 2x2 blocks, black rows above and
     * below; stretch: the same columns over all 8 rows */
    for (int fit = SN_FIT_PAD; fit <= SN_FIT_STRETCH; fit++) {
        snprintf(spec, sizeof spec, "folder:%s,fit=%s", dir, sn_fit_name(fit));
        d = open_ok(spec, &o);
        p = wide_image(d);
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 8; x++) {
                int band = x < 2 ? 0 : x < 6 ? 100 : 200;
                int want = fit == SN_FIT_STRETCH || (y >= 2 && y < 6) ? band : 0;
                if (p[y * 8 + x] != want)
                    fail_msg("fit %s: (%d, %d) = %d, want %d", sn_fit_name(fit),
                             y, x, p[y * 8 + x], want);
            }
        sn_data_free(d);
    }

    /* enlarging is bilinear between pixel centres: a 16-wide row of the
     * bands stretched to 32 */
    o.input_h = 8;
    o.input_w = 32;
    o.input_c = 1;
    o.fit = SN_FIT_STRETCH;
    d = open_ok(spec, &o);
    p = wide_image(d);
    /* out x=7: src 7.5*0.5-0.5 = 3.25 -> 0.75*0 + 0.25*100 = 25 */
    assert_int_equal(p[7], 25);
    assert_int_equal(p[8], 75);  /* 3.75 */
    assert_int_equal(p[0], 0);
    assert_int_equal(p[31], 200); /* clamped at the edge */
    sn_data_free(d);

    /* RGB from grey repeats the value; grey from RGB is BT.601 luma */
    o.input_h = o.input_w = 8;
    o.input_c = 3;
    o.fit = SN_FIT_CROP;
    snprintf(spec, sizeof spec, "folder:%s", dir);
    d = open_ok(spec, &o);
    sh = sn_data_shape(d);
    assert_int_equal(sh.c, 3);
    p = wide_image(d);
    for (int i = 0; i < 3 * 64; i++) assert_int_equal(p[i], 100);
    sn_data_free(d);
    tu_rm_rf(dir);

    tmp_make(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/red", dir);
    iu_mkdirs(path);
    snprintf(path, sizeof path, "%s/blue", dir);
    iu_mkdirs(path);
    uint8_t red[4 * 4 * 3], blue[4 * 4 * 3];
    for (int i = 0; i < 16; i++) {
        red[3 * i] = 255, red[3 * i + 1] = 0, red[3 * i + 2] = 0;
        blue[3 * i] = 0, blue[3 * i + 1] = 0, blue[3 * i + 2] = 255;
    }
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/red/%d.png", dir, i);
        assert_int_equal(iu_write_image(path, 4, 4, 3, red), 0);
        snprintf(path, sizeof path, "%s/blue/%d.png", dir, i);
        assert_int_equal(iu_write_image(path, 4, 4, 3, blue), 0);
    }
    snprintf(spec, sizeof spec, "folder:%s,input=4x4x1", dir);
    d = open_ok(spec, &o);
    for (int i = 0; i < sn_data_count(d, SN_SPLIT_TRAIN); i++) {
        int k = sn_data_labels(d, SN_SPLIT_TRAIN)[i]; /* 0 blue, 1 red */
        assert_int_equal(sn_data_raw(d, SN_SPLIT_TRAIN, i)[5], k ? 76 : 29);
    }
    sn_data_free(d);
    tu_rm_rf(dir);
}

/* JPEGs of mixed sizes (lossy: checked by colour, not bytes). */
static void test_folder_jpeg_mixed_sizes(void **state) {
    (void)state;
    char dir[64], spec[128], path[256];
    tmp_make(dir, sizeof dir);
    static const char *const cls[3] = {"blue", "green", "red"};
    static const int sizes[4][2] = {{40, 30}, {32, 32}, {64, 48}, {32, 32}};
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, cls[k]);
        iu_mkdirs(path);
        for (int i = 0; i < 8; i++) {
            int w = sizes[i % 4][0], h = sizes[i % 4][1];
            uint8_t *p = calloc((size_t)w * h * 3, 1);
            for (int j = 0; j < w * h; j++) p[j * 3 + (2 - k)] = 200;
            snprintf(path, sizeof path, "%s/%s/%d.jpg", dir, cls[k], i);
            assert_int_equal(iu_write_image(path, w, h, 3, p), 0);
            free(p);
        }
    }
    snprintf(spec, sizeof spec, "folder:%s", dir);
    sn_data *d = open_ok(spec, NULL);
    sn_shape sh = sn_data_shape(d);
    assert_true(sh.c == 3 && sh.h == 32 && sh.w == 32); /* the most common */
    for (int s = 0; s < SN_SPLIT_COUNT; s++)
        for (int i = 0; i < sn_data_count(d, s); i++) {
            int k = sn_data_labels(d, s)[i];
            const uint8_t *p = sn_data_raw(d, s, i);
            /* the centre pixel: 200 in its channel (blue=2, green=1,
             * red=0 after the sort), about 0 in the others */
            for (int c = 0; c < 3; c++) {
                int v = p[c * 1024 + 16 * 32 + 16];
                if (c == 2 - k) assert_in_range(v, 190, 210);
                else assert_in_range(v, 0, 12);
            }
        }
    sn_data_free(d);
    tu_rm_rf(dir);
}

/* ---- the cache ---------------------------------------------------------- */

static void test_folder_cache(void **state) {
    (void)state;
    char dir[64], spec[128], path[256];
    tmp_make(dir, sizeof dir);
    put_class(dir, "x", 0, 10, 6, 6, 3);
    put_class(dir, "y", 1, 10, 6, 6, 3);
    snprintf(spec, sizeof spec, "folder:%s", dir);
    sn_data *a = open_ok(spec, NULL);
    assert_int_equal(sn_data_from_cache(a), 0);
    sn_data *b = open_ok(spec, NULL);
    assert_int_equal(sn_data_from_cache(b), 1);
    for (int s = 0; s < SN_SPLIT_COUNT; s++) {
        assert_int_equal(sn_data_count(a, s), sn_data_count(b, s));
        for (int i = 0; i < sn_data_count(a, s); i++) {
            assert_int_equal(sn_data_labels(a, s)[i], sn_data_labels(b, s)[i]);
            assert_memory_equal(sn_data_raw(a, s, i), sn_data_raw(b, s, i),
                                108);
        }
    }
    char sum[4096];
    assert_non_null(strstr(sn_data_summary(b, sum, sizeof sum),
                           "pixels from the cache"));
    sn_data_free(b);
    /* another input size is another cache entry */
    snprintf(spec, sizeof spec, "folder:%s,input=3x3x1", dir);
    b = open_ok(spec, NULL);
    assert_int_equal(sn_data_from_cache(b), 0);
    sn_data_free(b);
    /* a file rewritten (new size and time) invalidates it ... */
    snprintf(path, sizeof path, "%s/y/img004.bmp", dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    put_image(dir, "y/img004.bmp", 0, 0, 6, 6, 3); /* class 0's image 0 */
    struct timeval tv[2] = {{st.st_mtime + 5, 0}, {st.st_mtime + 5, 0}};
    assert_int_equal(utimes(path, tv), 0);
    snprintf(spec, sizeof spec, "folder:%s", dir);
    b = open_ok(spec, NULL);
    assert_int_equal(sn_data_from_cache(b), 0);
    int changed = 0;
    for (int s = 0; s < SN_SPLIT_COUNT; s++)
        for (int i = 0; i < sn_data_count(b, s); i++)
            changed += memcmp(sn_data_raw(a, s, i), sn_data_raw(b, s, i), 108) != 0;
    assert_int_equal(changed, 1);
    sn_data_free(b);
    /* ... as does a touch alone; nocache neither reads nor writes */
    tv[0].tv_sec = tv[1].tv_sec = st.st_mtime + 9;
    assert_int_equal(utimes(path, tv), 0);
    snprintf(spec, sizeof spec, "folder:%s,nocache", dir);
    b = open_ok(spec, NULL);
    assert_int_equal(sn_data_from_cache(b), 0);
    sn_data_free(b);
    snprintf(spec, sizeof spec, "folder:%s", dir);
    b = open_ok(spec, NULL);
    assert_int_equal(sn_data_from_cache(b), 0);
    sn_data_free(b);
    b = open_ok(spec, NULL);
    assert_int_equal(sn_data_from_cache(b), 1);
    sn_data_free(b);
    /* a damaged cache file is ignored (decoded again, then rewritten) */
    snprintf(path, sizeof path, "%s/slimnas", cache_home);
    DIR *dp = opendir(path);
    assert_non_null(dp);
    struct dirent *de;
    int files = 0;
    while ((de = readdir(dp)))
        if (de->d_name[0] != '.') {
            char f[512];
            snprintf(f, sizeof f, "%s/%s", path, de->d_name);
            assert_int_equal(truncate(f, 100), 0);
            files++;
        }
    closedir(dp);
    assert_true(files >= 2);
    b = open_ok(spec, NULL);
    assert_int_equal(sn_data_from_cache(b), 0);
    sn_data_free(b);
    sn_data_free(a);
    tu_rm_rf(dir);
}

/* ---- bad folders ----------------------------------------------------------- */

/* A good two-class folder of RGB PNGs to break. */
static void good_folder(char *dir, size_t n) {
    tmp_make(dir, n);
    put_class(dir, "cat", 0, 6, 5, 5, 3);
    put_class(dir, "dog", 1, 6, 5, 5, 3);
}

static void cut_file(const char *path, double keep) {
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, (off_t)(st.st_size * keep)), 0);
}

static void test_folder_bad(void **state) {
    (void)state;
    char dir[64], spec[128], path[256], want[600];
    sn_data_opts o = sn_data_opts_default();

    /* no class folders: loose images only, or nothing */
    tmp_make(dir, sizeof dir);
    put_image(dir, "a.png", 0, 0, 4, 4, 3);
    snprintf(spec, sizeof spec, "folder:%s", dir);
    snprintf(want, sizeof want, "%s: no class folders, only loose images",
             dir);
    expect_error(spec, NULL, want, NULL);
    tu_rm_rf(dir);
    tmp_make(dir, sizeof dir);
    snprintf(spec, sizeof spec, "folder:%s", dir);
    snprintf(want, sizeof want, "%s: no class folders (expected", dir);
    expect_error(spec, NULL, want, NULL);
    snprintf(spec, sizeof spec, "folder:%s/nope", dir);
    expect_error(spec, NULL, "/nope: no such folder", NULL);
    expect_error("folder", NULL, "needs a folder: folder:DIR", NULL);
    tu_rm_rf(dir);

    /* a class folder without images (a text file does not count) */
    good_folder(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/emu", dir);
    iu_mkdirs(path);
    snprintf(path, sizeof path, "%s/emu/readme.txt", dir);
    iu_write_bytes(path, "x", 1);
    snprintf(spec, sizeof spec, "folder:%s", dir);
    snprintf(want, sizeof want, "%s/emu: no images", dir);
    expect_error(spec, NULL, want, NULL);
    tu_rm_rf(dir);

    /* one class only */
    tmp_make(dir, sizeof dir);
    put_class(dir, "cat", 0, 6, 5, 5, 3);
    snprintf(spec, sizeof spec, "folder:%s", dir);
    expect_error(spec, NULL, dir, "only one class folder ('cat')", NULL);
    tu_rm_rf(dir);

    /* truncated PNG, truncated JPEG, garbage with an image name */
    good_folder(dir, sizeof dir);
    snprintf(spec, sizeof spec, "folder:%s,nocache", dir);
    snprintf(path, sizeof path, "%s/dog/img003.png", dir);
    cut_file(path, 0.6);
    snprintf(want, sizeof want, "%s: cannot decode", path);
    expect_error(spec, NULL, want, NULL);
    tu_rm_rf(dir);
    good_folder(dir, sizeof dir);
    snprintf(spec, sizeof spec, "folder:%s,nocache", dir);
    put_image(dir, "cat/photo.jpg", 0, 0, 32, 32, 3);
    snprintf(path, sizeof path, "%s/cat/photo.jpg", dir);
    cut_file(path, 0.5);
    snprintf(want, sizeof want, "%s: cannot decode", path);
    expect_error(spec, NULL, want, NULL);
    iu_write_bytes(path, "\xff\xd8\xff\xe0 not really", 15);
    expect_error(spec, NULL, want, NULL);
    iu_write_bytes(path, "GIF89a, not a JPEG at all", 25);
    expect_error(spec, NULL, want, "not a JPEG, PNG, BMP, PGM or PPM", NULL);
    /* a zero-byte file */
    iu_write_bytes(path, "", 0);
    snprintf(want, sizeof want, "%s: empty file (0 bytes)", path);
    expect_error(spec, NULL, want, NULL);
    tu_rm_rf(dir);

    /* a cut BMP and a cut PPM: stb would read zeros for the missing
     * pixels and decode them as black (found by the image fuzzer) */
    good_folder(dir, sizeof dir);
    snprintf(spec, sizeof spec, "folder:%s,nocache", dir);
    put_image(dir, "cat/big.bmp", 0, 0, 40, 30, 3);
    snprintf(path, sizeof path, "%s/cat/big.bmp", dir);
    cut_file(path, 0.5);
    snprintf(want, sizeof want, "%s: cannot decode: truncated: a 30 x 40 "
                                "BMP needs at least 3734 bytes", path);
    expect_error(spec, NULL, want, NULL);
    unlink(path);
    put_image(dir, "cat/big.ppm", 0, 0, 40, 30, 3);
    snprintf(path, sizeof path, "%s/cat/big.ppm", dir);
    cut_file(path, 0.9);
    snprintf(want, sizeof want, "%s: cannot decode: truncated: a 30 x 40 "
                                "PGM/PPM needs at least 3600 bytes", path);
    expect_error(spec, NULL, want, NULL);
    /* headers that claim 60,000 x 60,000 pixels (a JPEG of 8 x 8 with
     * its frame header patched, a 30-byte PGM) are refused before 10 GB
     * are allocated for them */
    unlink(path);
    put_image(dir, "cat/huge.jpg", 0, 0, 8, 8, 3);
    snprintf(path, sizeof path, "%s/cat/huge.jpg", dir);
    char *jpg;
    size_t jlen;
    sn_error je;
    assert_int_equal(sn_read_file(path, &jpg, &jlen, &je), 0);
    size_t sof = 2;
    while (sof + 9 < jlen && !((uint8_t)jpg[sof] == 0xff &&
                               (uint8_t)jpg[sof + 1] == 0xc0))
        sof++;
    assert_true(sof + 9 < jlen);
    jpg[sof + 5] = jpg[sof + 7] = (char)0xea; /* 0xea60 = 60000 */
    jpg[sof + 6] = jpg[sof + 8] = 0x60;
    iu_write_bytes(path, jpg, jlen);
    free(jpg);
    snprintf(want, sizeof want, "%s: cannot decode: 60000 x 60000 pixels is "
                                "too large (at most 64 megapixels)", path);
    expect_error(spec, NULL, want, NULL);
    unlink(path);
    snprintf(path, sizeof path, "%s/cat/huge.pgm", dir);
    iu_write_bytes(path, "P5 60000 60000 255\n\1\2\3", 22);
    snprintf(want, sizeof want, "%s: cannot decode: 60000 x 60000 pixels is "
                                "too large", path);
    expect_error(spec, NULL, want, NULL);
    /* a PNG whose zlib data stb rejects without a reason (found by the
     * image fuzzer): the message still says what is wrong */
    static const uint8_t bad_png[] = {
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d,
        0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x04,
        0x08, 0x00, 0x00, 0x00, 0x00, 0x6e, 0x46, 0xda, 0xdb, 0x00, 0x00, 0x00,
        0x18, 0x49, 0x44, 0x41, 0x54, 0x08, 0x1d, 0x63, 0x9c, 0xa5, 0xc1, 0xc8,
        0xd8, 0xb9, 0x3f, 0x90, 0xd1, 0xab, 0x3d, 0x93, 0xd1, 0x47, 0xf6, 0x35,
        0x00, 0x24, 0x0d, 0xf3, 0x04, 0xef, 0x2d, 0xdd, 0xfb, 0xfa, 0x00, 0x00,
        0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};
    iu_write_bytes(path, bad_png, sizeof bad_png);
    snprintf(want, sizeof want, "%s: cannot decode: corrupt PNG data", path);
    o.input_h = o.input_w = 5; /* its header is grey: convert it */
    o.input_c = 3;
    expect_error(spec, &o, want, NULL);
    o = sn_data_opts_default();
    tu_rm_rf(dir);

    /* grey among colour, with no channel count to convert to */
    good_folder(dir, sizeof dir);
    put_image(dir, "dog/grey.png", 1, 0, 5, 5, 1);
    snprintf(spec, sizeof spec, "folder:%s", dir);
    snprintf(want, sizeof want, "%s/dog/grey.png: a greyscale image, but 12 "
                                "of the 13 images are colour", dir);
    expect_error(spec, NULL, want, "--input", NULL);
    /* ... which an input size settles */
    o.input_h = o.input_w = 5;
    o.input_c = 3;
    sn_data *d = open_ok(spec, &o);
    sn_data_free(d);
    o = sn_data_opts_default();
    tu_rm_rf(dir);

    /* symbolic link loops: a folder linking to its parent, a link to
     * itself; and a broken link */
    good_folder(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/cat/again", dir);
    assert_int_equal(symlink("..", path), 0);
    snprintf(spec, sizeof spec, "folder:%s", dir);
    expect_error(spec, NULL, "symbolic link loop", NULL);
    unlink(path);
    snprintf(path, sizeof path, "%s/cat/self.png", dir);
    assert_int_equal(symlink("self.png", path), 0);
    snprintf(want, sizeof want, "%s: symbolic link loop", path);
    expect_error(spec, NULL, want, NULL);
    unlink(path);
    assert_int_equal(symlink("gone.png", path), 0);
    snprintf(want, sizeof want, "%s: broken symbolic link", path);
    expect_error(spec, NULL, want, NULL);
    unlink(path);
    /* a link to a real folder elsewhere is fine */
    char other[64];
    tmp_make(other, sizeof other);
    put_class(other, "more", 0, 3, 5, 5, 3);
    snprintf(want, sizeof want, "%s/more", other);
    snprintf(path, sizeof path, "%s/cat/more", dir);
    assert_int_equal(symlink(want, path), 0);
    d = open_ok(spec, NULL);
    int n = 0;
    for (int s = 0; s < SN_SPLIT_COUNT; s++) n += sn_data_count(d, s);
    assert_int_equal(n, 15);
    sn_data_free(d);
    tu_rm_rf(other);
    tu_rm_rf(dir);

    /* a class of one image cannot give a validation image */
    good_folder(dir, sizeof dir);
    put_class(dir, "emu", 2, 1, 5, 5, 3);
    snprintf(spec, sizeof spec, "folder:%s", dir);
    expect_error(spec, NULL, dir, "class 'emu' has only one training image",
                 NULL);
    o.val_split = 0;
    d = open_ok(spec, &o);
    assert_int_equal(sn_data_classes(d), 3);
    sn_data_free(d);
    tu_rm_rf(dir);

    /* bad spec options */
    expect_error("folder:/tmp,input=32x32", NULL, "bad input size '32x32'",
                 NULL);
    expect_error("folder:/tmp,input=32x32x2", NULL, "bad input size", NULL);
    expect_error("folder:/tmp,fit=zoom", NULL, "bad fit 'zoom'", NULL);
}

/* ---- npy ------------------------------------------------------------------- */

enum { NN = 10, NH = 4, NW = 5 };

static void test_npy_good(void **state) {
    (void)state;
    char dir[64], spec[600], x[100], y[100], tx[100], ty[100];
    tmp_make(dir, sizeof dir);
    snprintf(x, sizeof x, "%s/x.npy", dir);
    snprintf(y, sizeof y, "%s/y.npy", dir);
    snprintf(tx, sizeof tx, "%s/tx.npy", dir);
    snprintf(ty, sizeof ty, "%s/ty.npy", dir);
    /* the same RGB images as NHWC uint8, NCHW uint8 and NHWC float [0,1] */
    uint8_t hwc[NN * NH * NW * 3], chw[NN * 3 * NH * NW];
    float f[NN * NH * NW * 3];
    for (int i = 0; i < NN; i++)
        for (int yy = 0; yy < NH; yy++)
            for (int xx = 0; xx < NW; xx++)
                for (int c = 0; c < 3; c++) {
                    uint8_t v = pix(i % 3, i, yy, xx, c);
                    hwc[((i * NH + yy) * NW + xx) * 3 + c] = v;
                    chw[((i * 3 + c) * NH + yy) * NW + xx] = v;
                    f[((i * NH + yy) * NW + xx) * 3 + c] = v / 255.0f;
                }
    int64_t lab[NN];
    for (int i = 0; i < NN; i++) lab[i] = i % 3;
    long s4[4] = {NN, NH, NW, 3}, s4c[4] = {NN, 3, NH, NW}, s1[1] = {NN};
    iu_write_npy(y, "<i8", s1, 1, lab, sizeof lab);
    iu_write_npy(ty, "<i8", s1, 1, lab, sizeof lab);
    iu_write_npy(tx, "|u1", s4, 4, hwc, sizeof hwc);
    sn_data_opts o = sn_data_opts_default();
    o.val_split = 0;
    sn_data *ref = NULL;
    for (int form = 0; form < 3; form++) {
        if (form == 0) iu_write_npy(x, "|u1", s4, 4, hwc, sizeof hwc);
        if (form == 1) iu_write_npy(x, "|u1", s4c, 4, chw, sizeof chw);
        if (form == 2) iu_write_npy(x, "<f4", s4, 4, f, sizeof f);
        snprintf(spec, sizeof spec, "npy:%s,%s,%s,%s", x, y, tx, ty);
        sn_data *d = open_ok(spec, &o);
        sn_shape sh = sn_data_shape(d);
        assert_true(sh.c == 3 && sh.h == NH && sh.w == NW);
        assert_int_equal(sn_data_classes(d), 3);
        assert_int_equal(sn_data_count(d, SN_SPLIT_TRAIN), NN);
        assert_int_equal(sn_data_count(d, SN_SPLIT_TEST), NN);
        assert_int_equal(check_samples(d, NN, NH, NW, 3), 2 * NN);
        for (int i = 0; i < NN; i++)
            assert_int_equal(sn_data_labels(d, SN_SPLIT_TRAIN)[i], i % 3);
        if (!ref) ref = d;
        else {
            for (int i = 0; i < NN; i++)
                assert_memory_equal(sn_data_raw(d, SN_SPLIT_TRAIN, i),
                                    sn_data_raw(ref, SN_SPLIT_TRAIN, i),
                                    3 * NH * NW);
            sn_data_free(d);
        }
    }
    sn_data_free(ref);
    /* two files: a fifth of each class becomes the test set; grey (N, H,
     * W) float in 0..255; labels (N, 1) uint8 */
    enum { M = 30 };
    float g[M * NH * NW];
    uint8_t gl[M];
    for (int i = 0; i < M * NH * NW; i++) g[i] = (float)(i % 251);
    for (int i = 0; i < M; i++) gl[i] = (uint8_t)(i % 2);
    long gs[3] = {M, NH, NW}, gls[2] = {M, 1};
    iu_write_npy(x, "<f4", gs, 3, g, sizeof g);
    iu_write_npy(y, "|u1", gls, 2, gl, sizeof gl);
    snprintf(spec, sizeof spec, "npy:%s,%s", x, y);
    sn_data *d = open_ok(spec, NULL);
    assert_int_equal(sn_data_shape(d).c, 1);
    assert_int_equal(sn_data_classes(d), 2);
    assert_int_equal(sn_data_count(d, SN_SPLIT_TEST), 6); /* 3 + 3 */
    assert_int_equal(sn_data_count(d, SN_SPLIT_TRAIN) +
                         sn_data_count(d, SN_SPLIT_VAL), 24);
    /* a value of 250 stays 250 (scale 0..255 since values exceed 1) */
    int found = 0;
    for (int s = 0; s < SN_SPLIT_COUNT; s++)
        for (int i = 0; i < sn_data_count(d, s); i++)
            for (int j = 0; j < NH * NW; j++)
                found += sn_data_raw(d, s, i)[j] == 250;
    assert_true(found > 0);
    sn_data_free(d);
    tu_rm_rf(dir);
}

static void test_npy_bad(void **state) {
    (void)state;
    char dir[64], spec[600], x[100], y[100], want[400];
    tmp_make(dir, sizeof dir);
    snprintf(x, sizeof x, "%s/x.npy", dir);
    snprintf(y, sizeof y, "%s/y.npy", dir);
    uint8_t img[8 * 4 * 4] = {0};
    float fimg[8 * 4 * 4] = {0};
    int32_t lab[8] = {0, 1, 2, 0, 1, 2, 0, 1};
    long s3[3] = {8, 4, 4}, s1[1] = {8}, s7[1] = {7};
    iu_write_npy(x, "|u1", s3, 3, img, sizeof img);
    snprintf(spec, sizeof spec, "npy:%s,%s", x, y);
    /* labels of the wrong length */
    iu_write_npy(y, "<i4", s7, 1, lab, 7 * 4);
    snprintf(want, sizeof want, "%s: 7 labels but %s has 8 images", y, x);
    expect_error(spec, NULL, want, NULL);
    /* a negative label; a class missing; one class */
    lab[3] = -1;
    iu_write_npy(y, "<i4", s1, 1, lab, sizeof lab);
    snprintf(want, sizeof want, "%s: label -1 of item 3 is negative", y);
    expect_error(spec, NULL, want, NULL);
    lab[3] = 5;
    iu_write_npy(y, "<i4", s1, 1, lab, sizeof lab);
    expect_error(spec, NULL, y, "no training image has label 3", NULL);
    int32_t one[8] = {0};
    iu_write_npy(y, "<i4", s1, 1, one, sizeof one);
    expect_error(spec, NULL, y, "at least 2 classes", NULL);
    /* float labels */
    iu_write_npy(y, "<f4", s1, 1, fimg, 8 * 4);
    expect_error(spec, NULL, y, "labels must be integers", NULL);
    lab[3] = 0;
    iu_write_npy(y, "<i4", s1, 1, lab, sizeof lab);
    /* test labels beyond the training classes */
    char tx[100], ty[100];
    snprintf(tx, sizeof tx, "%s/tx.npy", dir);
    snprintf(ty, sizeof ty, "%s/ty.npy", dir);
    iu_write_npy(tx, "|u1", s3, 3, img, sizeof img);
    int32_t tl[8] = {0, 1, 2, 3, 0, 0, 0, 0};
    iu_write_npy(ty, "<i4", s1, 1, tl, sizeof tl);
    snprintf(spec, sizeof spec, "npy:%s,%s,%s,%s", x, y, tx, ty);
    snprintf(want, sizeof want, "%s: label 3 of item 3 is out of range "
                                "(expected 0..2", ty);
    expect_error(spec, NULL, want, NULL);
    snprintf(spec, sizeof spec, "npy:%s,%s", x, y);
    /* NaN and out-of-range floats */
    fimg[2 * 16 + 5] = NAN;
    iu_write_npy(x, "<f4", s3, 3, fimg, sizeof fimg);
    snprintf(want, sizeof want, "%s: NaN in image 2", x);
    expect_error(spec, NULL, want, NULL);
    fimg[2 * 16 + 5] = INFINITY;
    iu_write_npy(x, "<f4", s3, 3, fimg, sizeof fimg);
    expect_error(spec, NULL, x, "infinity in image 2", NULL);
    fimg[2 * 16 + 5] = -3;
    iu_write_npy(x, "<f4", s3, 3, fimg, sizeof fimg);
    expect_error(spec, NULL, x, "value -3 in image 2 is outside", NULL);
    /* truncated data, a bad header, a 4-channel array, a 2-D array */
    iu_write_npy(x, "|u1", s3, 3, img, sizeof img - 1);
    expect_error(spec, NULL, x, "header says 128 elements", NULL);
    iu_write_bytes(x, "NUMPY", 5);
    expect_error(spec, NULL, x, "not a .npy file", NULL);
    long s44[4] = {8, 2, 2, 4};
    iu_write_npy(x, "|u1", s44, 4, img, sizeof img);
    expect_error(spec, NULL, x, "no channel axis of 1 or 3", NULL);
    long s2[2] = {8, 16};
    iu_write_npy(x, "|u1", s2, 2, img, sizeof img);
    expect_error(spec, NULL, x, "images need 3 dimensions", NULL);
    snprintf(want, sizeof want, "npy:%s", x);
    expect_error(want, NULL, "expected IMAGES.npy,LABELS.npy", NULL);
    snprintf(want, sizeof want, "npy:%s,%s,%s", x, y, x);
    expect_error(want, NULL, "expected IMAGES.npy,LABELS.npy", NULL);
    snprintf(want, sizeof want, "npy:%s/none.npy,%s", dir, y);
    expect_error(want, NULL, "none.npy: no such file", NULL);
    tu_rm_rf(dir);
}

/* --input on a source that is not a folder converts it too. */
static void test_input_on_arrays(void **state) {
    (void)state;
    sn_data_opts o = sn_data_opts_default();
    o.input_h = 6;
    o.input_w = 6;
    o.input_c = 3;
    sn_data *d = open_ok("synthetic:200", &o);
    sn_shape sh = sn_data_shape(d);
    assert_true(sh.c == 3 && sh.h == 6 && sh.w == 6);
    /* 12x12 grey halved by 2x2 averages, the same in every channel */
    sn_data_opts p = sn_data_opts_default();
    sn_data *g = open_ok("synthetic:200", &p);
    const uint8_t *a = sn_data_raw(g, SN_SPLIT_TRAIN, 0);
    const uint8_t *b = sn_data_raw(d, SN_SPLIT_TRAIN, 0);
    for (int y = 0; y < 6; y++)
        for (int x = 0; x < 6; x++) {
            int s = a[(2 * y) * 12 + 2 * x] + a[(2 * y) * 12 + 2 * x + 1] +
                    a[(2 * y + 1) * 12 + 2 * x] +
                    a[(2 * y + 1) * 12 + 2 * x + 1];
            for (int c = 0; c < 3; c++)
                assert_in_range(b[c * 36 + y * 6 + x], s / 4, (s + 3) / 4);
        }
    char desc[256];
    sn_data_describe(d, desc, sizeof desc);
    assert_memory_equal(desc, "synthetic: 6x6x3, 10 classes, ", 30);
    sn_data_free(g);
    sn_data_free(d);
}

/* A top-down BMP (negative height in its header, rows stored first to
 * last) decodes to the same pixels as the usual bottom-up one: stb's
 * header read gives its height as stored, which the folder loader took
 * for an image with no pixels (found by the image fuzzer). */
static void test_bmp_top_down(void **state) {
    (void)state;
    char dir[64], path[128];
    tmp_make(dir, sizeof dir);
    put_image(dir, "up.bmp", 0, 0, 5, 7, 3);
    snprintf(path, sizeof path, "%s/up.bmp", dir);
    char *up;
    size_t n;
    sn_error e;
    assert_int_equal(sn_read_file(path, &up, &n, &e), 0);
    const uint8_t *u = (const uint8_t *)up;
    size_t off = (size_t)u[10] | (size_t)u[11] << 8, row = (7 * 3 + 3) & ~3;
    assert_int_equal(n, off + row * 5);
    uint8_t *down = malloc(n);
    memcpy(down, up, off);
    int32_t h = -5; /* little-endian, as BMP stores it */
    for (int k = 0; k < 4; k++) down[22 + k] = (uint8_t)((uint32_t)h >> (8 * k));
    for (int y = 0; y < 5; y++)
        memcpy(down + off + row * (size_t)y, u + off + row * (size_t)(4 - y), row);
    sn_image a, b, hd;
    char err[256];
    assert_int_equal(sn_image_decode(u, n, 3, 0, 0, &a, err, sizeof err), 0);
    int rc = sn_image_decode(down, n, 3, 0, 0, &b, err, sizeof err);
    if (rc) fail_msg("top-down BMP: %s", err);
    assert_int_equal(sn_image_decode(down, n, 0, 0, 0, &hd, err, sizeof err), 0);
    assert_int_equal(hd.src_w, 7);
    assert_int_equal(hd.src_h, 5);
    assert_int_equal(b.w, 7);
    assert_int_equal(b.h, 5);
    assert_memory_equal(a.pix, b.pix, 5 * 7 * 3);
    free(a.pix);
    free(b.pix);
    free(down);
    free(up);
    tu_rm_rf(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_folder_classes_and_pixels),
        cmocka_unit_test(test_folder_train_test_dirs),
        cmocka_unit_test(test_folder_sizes_and_fit),
        cmocka_unit_test(test_folder_jpeg_mixed_sizes),
        cmocka_unit_test(test_folder_cache),
        cmocka_unit_test(test_folder_bad),
        cmocka_unit_test(test_bmp_top_down),
        cmocka_unit_test(test_npy_good),
        cmocka_unit_test(test_npy_bad),
        cmocka_unit_test(test_input_on_arrays),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
