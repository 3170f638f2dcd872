/* test_data_cli.c — bring-your-own data through the real binary ($SLIMNAS):
 * every bad input is one line naming the file, exit 1, and no run
 * directory; a PNG folder and NumPy files made from Fashion-MNIST train
 * to the IDX files' accuracy; a 3-class JPEG folder searches with 3
 * outputs everywhere and evaluates to a 3x3 confusion matrix. */
#include "testutil.h"

#include "slimnas/data.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "imgutil.h"

static const char *bin;
static char dir[64];

static const char *in_dir(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* Runs a shell command with stdout and stderr to out.txt and err.txt in
 * the temp folder; returns the exit status. */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...) {
    char cmd[3000], full[4000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "( %s ) >'%s' 2>'%s'", cmd, in_dir("out.txt"),
             in_dir("err.txt"));
    int st = system(full);
    if (st == -1 || !WIFEXITED(st)) fail_msg("could not run: %s", cmd);
    return WEXITSTATUS(st);
}

static char *slurp(const char *name) __attribute__((noinline));
static char *slurp(const char *name) {
    char *s = NULL;
    size_t n;
    sn_error e;
    if (sn_read_file(in_dir(name), &s, &n, &e) != 0) fail_msg("%s", e.msg);
    return s;
}

static int setup(void **state) {
    (void)state;
    bin = getenv("SLIMNAS");
    if (!bin || !*bin) bin = "./slimnas";
    if (access(bin, X_OK) != 0) {
        fprintf(stderr, "test_data_cli: %s is not executable (set SLIMNAS)\n",
                bin);
        return -1;
    }
    snprintf(dir, sizeof dir, "/tmp/sn_test_data_cli.XXXXXX");
    if (!mkdtemp(dir)) return -1;
    setenv("XDG_CACHE_HOME", in_dir("cache"), 1);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tu_rm_rf(dir);
    return 0;
}

/* ---- bad input --------------------------------------------------------- */

static void put(const char *path, int w, int h, int c, uint8_t v) {
    uint8_t *p = malloc((size_t)w * h * c);
    memset(p, v, (size_t)w * h * c);
    char d[1024];
    snprintf(d, sizeof d, "%s", path);
    *strrchr(d, '/') = 0;
    iu_mkdirs(d);
    assert_int_equal(iu_write_image(path, w, h, c, p), 0);
    free(p);
}

/* A good 2-class folder of 6x6 RGB PNGs at in_dir(name). */
static const char *good(const char *name) {
    const char *root = in_dir(name);
    char p[600];
    tu_rm_rf(root);
    for (int i = 0; i < 6; i++) {
        snprintf(p, sizeof p, "%s/cat/%d.png", root, i);
        put(p, 6, 6, 3, (uint8_t)(20 * i));
        snprintf(p, sizeof p, "%s/dog/%d.png", root, i);
        put(p, 6, 6, 3, (uint8_t)(200 - 20 * i));
    }
    return root;
}

/* Runs search, train and ui (without extra options) on spec, expecting exit 1,
 * nothing on stdout, exactly one stderr line holding `want`, and no run
 * directory. */
static void expect_refused(const char *spec, const char *extra,
                           const char *want) {
    const char *cmds[3] = {"search", "train", "ui"};
    for (int i = 0; i < (extra[0] ? 2 : 3); i++) {
        char rdir[600];
        snprintf(rdir, sizeof rdir, "%s", in_dir("run"));
        tu_rm_rf(rdir);
        int rc;
        if (i == 0)
            rc = run("%s search --data '%s' %s --run '%s' --budget 5s "
                     "--headless",
                     bin, spec, extra, rdir);
        else if (i == 1)
            rc = run("%s train '%s' --data '%s' %s", bin, in_dir("g.json"),
                     spec, extra);
        else
            rc = run("%s ui --data '%s' --run '%s' --budget 5s --headless "
                     "</dev/null",
                     bin, spec, rdir);
        char *err = slurp("err.txt"), *out = slurp("out.txt");
        if (rc != 1 || strchr(err, '\n') != strrchr(err, '\n') ||
            !strchr(err, '\n') || !strstr(err, want) || out[0])
            fail_msg("%s on %s: exit %d, stderr \"%s\", stdout \"%s\"; "
                     "wanted exit 1 and one line with \"%s\"",
                     cmds[i], spec, rc, err, out, want);
        struct stat st;
        if (stat(rdir, &st) == 0)
            fail_msg("%s on %s left %s behind", cmds[i], spec, rdir);
        free(err);
        free(out);
    }
}

static void test_bad_input(void **state) {
    (void)state;
    assert_int_equal(run("%s new cnn --input 6x6x3 --classes 2 --width 4 --depth 1 -o "
                         "'%s'",
                         bin, in_dir("g.json")),
                     0);
    char spec[1200], p[700];
    /* a folder with no class subfolders */
    const char *root = in_dir("flat");
    snprintf(p, sizeof p, "%s/a.png", root);
    put(p, 6, 6, 3, 1);
    snprintf(spec, sizeof spec, "folder:%s", root);
    expect_refused(spec, "", "no class folders, only loose images");
    /* a class folder with no images */
    root = good("empty");
    snprintf(p, sizeof p, "%s/emu", root);
    iu_mkdirs(p);
    snprintf(spec, sizeof spec, "folder:%s", root);
    expect_refused(spec, "", p);
    /* one class only */
    root = good("one");
    snprintf(p, sizeof p, "%s/dog", root);
    tu_rm_rf(p);
    snprintf(spec, sizeof spec, "folder:%s", root);
    expect_refused(spec, "", "only one class folder ('cat')");
    /* a truncated image; garbage under an image name */
    root = good("cut");
    snprintf(p, sizeof p, "%s/dog/3.png", root);
    assert_int_equal(truncate(p, 40), 0);
    snprintf(spec, sizeof spec, "folder:%s", root);
    expect_refused(spec, "", p);
    iu_write_bytes(p, "hello, world", 12);
    expect_refused(spec, "", p);
    /* a zero-byte file */
    iu_write_bytes(p, "", 0);
    expect_refused(spec, "", "3.png: empty file (0 bytes)");
    /* a non-image file: skipped (and counted) unless --strict */
    root = good("txt");
    snprintf(p, sizeof p, "%s/cat/notes.txt", root);
    iu_write_bytes(p, "hi", 2);
    snprintf(spec, sizeof spec, "folder:%s", root);
    expect_refused(spec, "--strict", "notes.txt: not an image");
    assert_int_equal(run("%s train '%s' --data '%s' --val-split 0.2", bin,
                         in_dir("g.json"), spec),
                     0);
    char *err = slurp("err.txt");
    assert_non_null(strstr(err, "skipped 1 file that is not an image"));
    assert_non_null(strstr(err, "input: 6x6x3 (HxWxC)"));
    free(err);
    /* grey and colour mixed */
    root = good("mixed");
    snprintf(p, sizeof p, "%s/cat/grey.png", root);
    put(p, 6, 6, 1, 9);
    snprintf(spec, sizeof spec, "folder:%s", root);
    expect_refused(spec, "", "grey.png: a greyscale image");
    /* a symbolic link loop */
    root = good("loop");
    snprintf(p, sizeof p, "%s/dog/up", root);
    assert_int_equal(symlink("..", p), 0);
    snprintf(spec, sizeof spec, "folder:%s", root);
    expect_refused(spec, "", "symbolic link loop");
    /* npy: labels out of range, of the wrong length; a float with NaN */
    uint8_t x[12 * 6 * 6 * 3] = {0};
    float fx[12 * 6 * 6 * 3] = {0};
    int64_t y[12];
    for (int i = 0; i < 12; i++) y[i] = i % 2;
    long sx[4] = {12, 6, 6, 3}, sy[1] = {12}, sy11[1] = {11};
    char xp[200], yp[200], txp[200], typ[200];
    snprintf(xp, sizeof xp, "%s", in_dir("x.npy"));
    snprintf(yp, sizeof yp, "%s", in_dir("y.npy"));
    snprintf(txp, sizeof txp, "%s", in_dir("tx.npy"));
    snprintf(typ, sizeof typ, "%s", in_dir("ty.npy"));
    iu_write_npy(xp, "|u1", sx, 4, x, sizeof x);
    iu_write_npy(txp, "|u1", sx, 4, x, sizeof x);
    iu_write_npy(yp, "<i8", sy, 1, y, sizeof y);
    y[5] = 7;
    iu_write_npy(typ, "<i8", sy, 1, y, sizeof y);
    snprintf(spec, sizeof spec, "npy:%s,%s,%s,%s", xp, yp, txp, typ);
    snprintf(p, sizeof p, "%s: label 7 of item 5 is out of range", typ);
    expect_refused(spec, "", p);
    iu_write_npy(yp, "<i8", sy11, 1, y, 11 * 8);
    snprintf(spec, sizeof spec, "npy:%s,%s", xp, yp);
    snprintf(p, sizeof p, "%s: 11 labels but %s has 12 images", yp, xp);
    expect_refused(spec, "", p);
    y[5] = 1;
    iu_write_npy(yp, "<i8", sy, 1, y, sizeof y);
    fx[3 * 108 + 7] = NAN;
    iu_write_npy(xp, "<f4", sx, 4, fx, sizeof fx);
    snprintf(p, sizeof p, "%s: NaN in image 3", xp);
    expect_refused(spec, "", p);
    /* bad option values are usage errors (exit 2) */
    snprintf(spec, sizeof spec, "folder:%s", in_dir("txt"));
    assert_int_equal(run("%s search --data '%s' --input 32x32 --run '%s' "
                         "--headless",
                         bin, spec, in_dir("run")),
                     2);
    assert_int_equal(run("%s train '%s' --data '%s' --fit zoom", bin,
                         in_dir("g.json"), spec),
                     2);
    struct stat st;
    assert_int_equal(stat(in_dir("run"), &st), -1);
}

/* ---- Fashion-MNIST as PNGs and NumPy arrays ---------------------------------- */

enum { FM_TRAIN = 3000, FM_TEST = 1000 };

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* Writes the first n images of a Fashion-MNIST split, ordered by class
 * (stable), as IDX files under idx/ and PNGs under png/<set>/<class>/,
 * numbered in the same order: both sources then list the same images in
 * the same order. */
static void export_split(const sn_data *d, sn_split s, int n, const char *set,
                         const char *stem) {
    int *order = malloc((size_t)n * sizeof(int)), m = 0;
    const int *lab = sn_data_labels(d, s);
    for (int k = 0; k < 10; k++)
        for (int i = 0; i < n; i++)
            if (lab[i] == k) order[m++] = i;
    assert_int_equal(m, n);
    uint8_t *img = malloc(16 + (size_t)n * 784), *lb = malloc(8 + (size_t)n);
    put_be32(img, 0x803), put_be32(img + 4, (uint32_t)n);
    put_be32(img + 8, 28), put_be32(img + 12, 28);
    put_be32(lb, 0x801), put_be32(lb + 4, (uint32_t)n);
    char p[700];
    for (int j = 0; j < n; j++) {
        const uint8_t *px = sn_data_raw(d, s, order[j]);
        memcpy(img + 16 + (size_t)j * 784, px, 784);
        lb[8 + j] = (uint8_t)lab[order[j]];
        snprintf(p, sizeof p, "%s/png/%s/%d/%05d.png", dir, set, lab[order[j]],
                 j);
        if (j == 0 || lab[order[j]] != lab[order[j - 1]]) {
            char d2[700];
            snprintf(d2, sizeof d2, "%s/png/%s/%d", dir, set, lab[order[j]]);
            iu_mkdirs(d2);
        }
        assert_int_equal(iu_write_image(p, 28, 28, 1, px), 0);
    }
    iu_mkdirs(in_dir("idx"));
    snprintf(p, sizeof p, "%s/idx/%s-images-idx3-ubyte", dir, stem);
    iu_write_bytes(p, img, 16 + (size_t)n * 784);
    snprintf(p, sizeof p, "%s/idx/%s-labels-idx1-ubyte", dir, stem);
    iu_write_bytes(p, lb, 8 + (size_t)n);
    free(img);
    free(lb);
    free(order);
}

/* Test accuracy of `train` on spec (same graph, seed and epochs). */
static double train_acc(const char *spec) {
    int rc = run("%s train '%s' --data '%s' --epochs 1 --batch 32 --seed 7 --json", bin,
                 in_dir("fm.json"), spec);
    char *out = slurp("out.txt"), *err = slurp("err.txt");
    if (rc != 0) fail_msg("train on %s: exit %d: %s", spec, rc, err);
    const char *t = strstr(out, "\"test_acc\"");
    assert_non_null(t);
    double acc = strtod(strchr(t, ':') + 1, NULL);
    print_message("%s: test accuracy %.2f%%\n", spec, 100 * acc);
    free(out);
    free(err);
    return acc;
}

static void test_fashion_png_and_npy(void **state) {
    (void)state;
    struct stat st;
    if (stat("/usr/share/datasets/fashion-mnist", &st) != 0) {
        print_message("no /usr/share/datasets/fashion-mnist: skipped\n");
        skip();
    }
    sn_data_opts o = sn_data_opts_default();
    o.val_split = 0;
    sn_error e;
    sn_data *d = sn_data_open("fashion-mnist", &o, &e);
    if (!d) fail_msg("%s", e.msg);
    double t0 = sn_now();
    export_split(d, SN_SPLIT_TRAIN, FM_TRAIN, "train", "train");
    export_split(d, SN_SPLIT_TEST, FM_TEST, "test", "t10k");
    sn_data_free(d);
    print_message("wrote %d PNGs in %.2f s\n", FM_TRAIN + FM_TEST,
                  sn_now() - t0);
    /* NumPy arrays from the IDX files, by python3-numpy: float32 NHWC in
     * [0, 1] for the training images, uint8 (N, H, W) for the test ones */
    const char *py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3"
                                                           : "python3";
    int rc = run(
        "cd '%s/idx' && %s -c \"\n"
        "import numpy as np\n"
        "def rd(f, off, shape):\n"
        "    return np.frombuffer(open(f, 'rb').read()[off:], np.uint8)"
        ".reshape(shape)\n"
        "x = rd('train-images-idx3-ubyte', 16, (-1, 28, 28, 1))\n"
        "np.save('x.npy', (x / 255.0).astype(np.float32))\n"
        "np.save('y.npy', rd('train-labels-idx1-ubyte', 8, (-1,))"
        ".astype(np.int64))\n"
        "np.save('tx.npy', rd('t10k-images-idx3-ubyte', 16, (-1, 28, 28)))\n"
        "np.save('ty.npy', rd('t10k-labels-idx1-ubyte', 8, (-1,)))\n"
        "\"",
        dir, py);
    if (rc != 0) {
        char *err = slurp("err.txt");
        fail_msg("python3-numpy could not write the arrays: %s", err);
    }
    assert_int_equal(run("%s new cnn --input 28x28x1 --classes 10 --width 16 "
                         "-o '%s'",
                         bin, in_dir("fm.json")),
                     0);
    char spec[700];
    snprintf(spec, sizeof spec, "idx:%s/idx", dir);
    double idx = train_acc(spec);
    snprintf(spec, sizeof spec, "folder:%s/png", dir);
    double png = train_acc(spec);
    char *err = slurp("err.txt");
    assert_non_null(strstr(err, "splits: 2700 train / 300 val / 1000 test"));
    assert_non_null(strstr(err, "input: 28x28x1 (HxWxC)"));
    free(err);
    snprintf(spec, sizeof spec, "npy:%s/idx/x.npy,%s/idx/y.npy,%s/idx/tx.npy,"
                                "%s/idx/ty.npy",
             dir, dir, dir, dir);
    double npy = train_acc(spec);
    /* the acceptance bound is 0.5 points; the same images in the same
     * order train identically */
    assert_true(idx > 0.45); /* chance is 0.1 */
    assert_close(png, idx, 0.005);
    assert_close(npy, idx, 0.005);
    /* the second open of the folder comes from the cache */
    snprintf(spec, sizeof spec, "folder:%s/png", dir);
    train_acc(spec);
    err = slurp("err.txt");
    assert_non_null(strstr(err, "pixels from the cache"));
    free(err);
}

/* ---- a 3-class JPEG folder: search and eval ------------------------------ */

static void test_jpeg_search_and_eval(void **state) {
    (void)state;
    static const char *const cls[3] = {"apples", "bananas", "cherries"};
    static const int sizes[3][2] = {{32, 32}, {40, 30}, {24, 36}};
    sn_rng r;
    sn_rng_seed(&r, 11);
    char p[700];
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 40; i++) {
            int w = sizes[i % 3][0], h = sizes[i % 3][1];
            uint8_t *px = malloc((size_t)w * h * 3);
            for (int j = 0; j < w * h * 3; j++)
                px[j] = (uint8_t)((j % 3 == k ? 150 : 40) + sn_rng_int(&r, 60));
            snprintf(p, sizeof p, "%s/fruit/%s/%02d.jpg", dir, cls[k], i);
            if (i == 0) {
                char d2[700];
                snprintf(d2, sizeof d2, "%s/fruit/%s", dir, cls[k]);
                iu_mkdirs(d2);
            }
            assert_int_equal(iu_write_image(p, w, h, 3, px), 0);
            free(px);
        }
    char rdir[600];
    snprintf(rdir, sizeof rdir, "%s", in_dir("fruit-run"));
    int rc = run("%s search --data folder:%s/fruit --max-params 20k --budget 2m "
                 "--max-candidates 4 --max-train 200 --root-epochs 2 --run '%s' "
                 "--headless",
                 bin, dir, rdir);
    char *err = slurp("err.txt");
    if (rc != 0) fail_msg("search: exit %d: %s", rc, err);
    assert_non_null(strstr(err, "splits: "));
    assert_non_null(strstr(err, "3 classes"));
    assert_non_null(strstr(err, "input: 32x32x3 (HxWxC)"));
    free(err);
    /* every candidate has 3 outputs; chance (the hypervolume's reference
     * accuracy) is 1/3 */
    int seen = 0;
    for (int i = 0; i < 16; i++) {
        char name[64];
        snprintf(name, sizeof name, "fruit-run/cand/%d.json", i);
        if (access(in_dir(name), R_OK) != 0) continue;
        char *g = slurp(name);
        if (!strstr(g, "\"classes\":\t3") && !strstr(g, "\"classes\": 3"))
            fail_msg("%s has not 3 classes", name);
        free(g);
        seen++;
    }
    assert_true(seen >= 2);
    char *set = slurp("fruit-run/settings.json");
    assert_non_null(strstr(set, "\"accuracy\":\t0.3333"));
    free(set);
    /* eval: a 3x3 confusion matrix with the folder names */
    rc = run("%s eval '%s/cand/0.json' --weights '%s/cand/0.bin' --data "
             "folder:%s/fruit",
             bin, rdir, rdir, dir);
    char *out = slurp("out.txt");
    if (rc != 0) fail_msg("eval: exit %d: %s", rc, slurp("err.txt"));
    print_message("%s", out);
    assert_non_null(strstr(out, "confusion matrix"));
    assert_non_null(strstr(out, "     0     1     2   acc\n"));
    const char *row[3] = {"\n0 apples", "\n1 bananas", "\n2 cherries"};
    long total = 0;
    for (int k = 0; k < 3; k++) {
        const char *hit = strstr(out, row[k]);
        if (!hit) fail_msg("no row \"%s\"", row[k] + 1);
        size_t at = (size_t)(hit - out) + 15; /* past the name column */
        for (int j = 0; j < 3; j++) {
            char *end;
            total += strtol(out + at, &end, 10);
            assert_true(end != out + at);
            at = (size_t)(end - out);
        }
    }
    assert_int_equal(total, 24); /* a fifth of 40 per class */
    free(out);
    rc = run("%s eval '%s/cand/0.json' --weights '%s/cand/0.bin' --data "
             "folder:%s/fruit --json",
             bin, rdir, rdir, dir);
    out = slurp("out.txt");
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "\"class_names\":\t[\"apples\", \"bananas\", "
                                "\"cherries\"]"));
    free(out);
    /* `new --data` takes the input size and the class count from it */
    rc = run("%s new tiny2conv --data folder:%s/fruit | %s stats -", bin, dir,
             bin);
    out = slurp("out.txt");
    if (rc != 0) fail_msg("new --data: exit %d: %s", rc, slurp("err.txt"));
    assert_non_null(strstr(out, "input 32x32x3 (HxWxC), 3 classes"));
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        TU_TIMED(test_bad_input),
        TU_TIMED(test_fashion_png_and_npy),
        TU_TIMED(test_jpeg_search_and_eval),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
