/* folder.c — an image folder as a dataset, the layout Keras'
 * image_dataset_from_directory and torchvision's ImageFolder read:
 *
 *   DIR/<class>/...                      a fifth of each class (rounded;
 *                                        at least one for a class of 3 or
 *                                        more) becomes the test set, by a
 *                                        fixed seed
 *   DIR/train/<class>/... + DIR/test/<class>/... (or DIR/val/ when there
 *                                        is no test/; with both, val/ is
 *                                        ignored; DIR/train/ alone is
 *                                        split like DIR/)
 *
 * Class names are the class folders' names in byte order; a class folder's
 * subfolders are walked too (symbolic links followed, a loop refused).
 * Images are *.png, *.jpg, *.jpeg, *.bmp, *.pgm, *.ppm (any case), decoded
 * by libjpeg-turbo (JPEG) and stb_image (the rest) in one thread per core;
 * hidden files are ignored, other files are skipped and counted (refused
 * with `strict`). Every image is fitted to the input size (image.c): the
 * size asked for, else the most common size in the set.
 *
 * The decoded pixels are cached in $XDG_CACHE_HOME/slimnas (default
 * ~/.cache/slimnas), one file per folder and input size, valid while every
 * file's path, size and modification time are the same: the second open
 * only walks the folder and reads one file. */
#include "data_internal.h"
#include "image.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define TEST_FRACTION 0.2
#define MAX_DEPTH 32
#define MAX_THREADS 8

typedef struct fent {
    char *path;  /* DIR/... as given */
    int cls;     /* class index */
    int set;     /* 0 training files, 1 test files */
    int64_t size;
    int64_t mtime_ns;
} fent;

typedef struct walk {
    const char *root;
    fent *f;
    int n, cap;
    int skipped;
    char first_skipped[400];
    int strict;
    /* directories on the current path, to see a symlink loop */
    dev_t dev[MAX_DEPTH];
    ino_t ino[MAX_DEPTH];
    int depth;
} walk;

/* Copies s into d (size n), truncating; never warns like snprintf. */
static void str_copy(char *d, size_t n, const char *s) {
    size_t l = strlen(s);
    if (l >= n) l = n - 1;
    memcpy(d, s, l);
    d[l] = 0;
}

static const char *const exts[] = {"png", "jpg", "jpeg", "bmp", "pgm", "ppm"};

static int is_image_name(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (!strcasecmp(dot + 1, exts[i])) return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The visible entries of a folder, sorted; NULL with a sentence on error. */
static char **list_dir(const char *dir, int *n, sn_error *e) {
    DIR *dp = opendir(dir);
    if (!dp) {
        sn_errf(e, "%s: %s", dir, strerror(errno));
        return NULL;
    }
    char **v = NULL;
    int cnt = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(dp))) {
        if (de->d_name[0] == '.') continue; /* ., .., hidden files */
        if (cnt == cap) {
            cap = cap ? 2 * cap : 64;
            v = sn_xrealloc(v, (size_t)cap * sizeof *v);
        }
        v[cnt++] = sn_xstrdup(de->d_name);
    }
    closedir(dp);
    if (cnt) qsort(v, (size_t)cnt, sizeof *v, cmp_str);
    *n = cnt;
    return v ? v : sn_xcalloc(1, sizeof *v);
}

static void free_list(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* stat() that names a loop or a dangling link. */
static int stat_entry(const char *path, struct stat *st, sn_error *e) {
    if (stat(path, st) == 0) return 0;
    if (errno == ELOOP)
        return sn_errf(e, "%s: symbolic link loop", path);
    if (errno == ENOENT)
        return sn_errf(e, "%s: broken symbolic link", path);
    return sn_errf(e, "%s: %s", path, strerror(errno));
}

static void skip_file(walk *w, const char *path) {
    if (!w->skipped)
        str_copy(w->first_skipped, sizeof w->first_skipped, path);
    w->skipped++;
}

/* Adds the images under dir (recursively) to class cls of set. */
static int walk_class(walk *w, const char *dir, const struct stat *dst,
                      int cls, int set, sn_error *e) {
    for (int i = 0; i < w->depth; i++)
        if (w->dev[i] == dst->st_dev && w->ino[i] == dst->st_ino)
            return sn_errf(e, "%s: symbolic link loop (a folder containing "
                              "itself)",
                           dir);
    if (w->depth == MAX_DEPTH)
        return sn_errf(e, "%s: folders nested more than %d deep", dir,
                       MAX_DEPTH);
    w->dev[w->depth] = dst->st_dev;
    w->ino[w->depth] = dst->st_ino;
    w->depth++;
    int n, rc = 0;
    char **names = list_dir(dir, &n, e);
    if (!names) rc = -1;
    for (int i = 0; rc == 0 && i < n; i++) {
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, names[i]) >=
            (int)sizeof path) {
            rc = sn_errf(e, "%s/%s: path too long", dir, names[i]);
            break;
        }
        struct stat st;
        if (stat_entry(path, &st, e) != 0) {
            rc = -1;
        } else if (S_ISDIR(st.st_mode)) {
            rc = walk_class(w, path, &st, cls, set, e);
        } else if (!S_ISREG(st.st_mode) || !is_image_name(names[i])) {
            if (w->strict)
                rc = sn_errf(e, "%s: not an image (expected .png, .jpg, "
                                ".jpeg, .bmp, .pgm or .ppm; strict refuses "
                                "other files)",
                             path);
            else
                skip_file(w, path);
        } else if (st.st_size == 0) {
            rc = sn_errf(e, "%s: empty file (0 bytes)", path);
        } else {
            if (w->n == w->cap) {
                w->cap = w->cap ? 2 * w->cap : 1024;
                w->f = sn_xrealloc(w->f, (size_t)w->cap * sizeof *w->f);
            }
            w->f[w->n++] = (fent){
                sn_xstrdup(path), cls, set, (int64_t)st.st_size,
                (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec};
        }
    }
    free_list(names, names ? n : 0);
    w->depth--;
    return rc;
}

/* The class folders of dir (sorted); loose files are skipped. */
static char **class_dirs(walk *w, const char *dir, int *n, sn_error *e) {
    int m;
    char **names = list_dir(dir, &m, e);
    if (!names) return NULL;
    int k = 0, loose_images = 0;
    for (int i = 0; i < m; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat st;
        if (stat_entry(path, &st, e) != 0) {
            free_list(names, m);
            return NULL;
        }
        if (S_ISDIR(st.st_mode)) {
            names[k++] = names[i];
        } else {
            loose_images += is_image_name(names[i]);
            skip_file(w, path);
            free(names[i]);
        }
    }
    if (k == 0) {
        free_list(names, k);
        if (loose_images)
            sn_errf(e, "%s: no class folders, only loose images (expected "
                       "%s/<class>/<images>, one folder per class)",
                    dir, dir);
        else
            sn_errf(e, "%s: no class folders (expected %s/<class>/<images>, "
                       "one folder per class)",
                    dir, dir);
        return NULL;
    }
    *n = k;
    return names;
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Walks one set's class folders; class names come from set 0 (names,
 * k); set 1 folders must carry one of those names. */
static int walk_set(walk *w, const char *dir, int set, char ***names, int *k,
                    sn_error *e) {
    int n;
    char **cls = class_dirs(w, dir, &n, e);
    if (!cls) return -1;
    int rc = 0;
    if (set == 0) {
        *names = cls;
        *k = n;
    }
    for (int i = 0; rc == 0 && i < n; i++) {
        int c = i;
        if (set == 1) {
            c = -1;
            for (int j = 0; j < *k && c < 0; j++)
                if (!strcmp((*names)[j], cls[i])) c = j;
            if (c < 0) {
                rc = sn_errf(e, "%s/%s: class '%s' is not among the training "
                                "classes",
                             dir, cls[i], cls[i]);
                break;
            }
        }
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, cls[i]);
        struct stat st;
        if (stat_entry(path, &st, e) != 0) {
            rc = -1;
            break;
        }
        int before = w->n;
        rc = walk_class(w, path, &st, c, set, e);
        if (rc == 0 && w->n == before && set == 0)
            rc = sn_errf(e, "%s: no images (expected .png, .jpg, .jpeg, .bmp, "
                            ".pgm or .ppm files)",
                         path);
    }
    if (set == 1) free_list(cls, n);
    return rc;
}

/* ---- decoding ---------------------------------------------------------- */

typedef struct job {
    const fent *f;
    int n;
    int header_only;
    int c, h, w, fit;
    uint8_t *pix;  /* [n][c][h][w] */
    int *src_w, *src_h, *src_c;
    atomic_int next;
    atomic_int converted;
    pthread_mutex_t mu;
    atomic_int err_at; /* smallest failing index, n if none */
    char err[512];
} job;

static int read_all(const char *path, uint8_t **data, size_t *len,
                    char *err, size_t errn) {
    sn_data_file f;
    sn_error e;
    /* read.c's reader (raw; a .gz-looking image is not an image anyway) */
    if (sn_data_read_file(path, &f, &e) != 0) {
        str_copy(err, errn, e.msg);
        return -1;
    }
    *data = f.data;
    *len = f.len;
    return 0;
}

static void fail_at(job *j, int i, const char *msg) {
    pthread_mutex_lock(&j->mu);
    if (i < atomic_load(&j->err_at)) {
        atomic_store(&j->err_at, i);
        str_copy(j->err, sizeof j->err, msg);
    }
    pthread_mutex_unlock(&j->mu);
}

static void *decode_worker(void *arg) {
    job *j = arg;
    size_t chw = (size_t)j->c * j->h * j->w;
    for (;;) {
        int i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n) break;
        if (i > atomic_load(&j->err_at)) continue; /* a failure before: finish quickly */
        const char *path = j->f[i].path;
        uint8_t *data = NULL;
        size_t len = 0;
        char why[400], msg[1000];
        if (read_all(path, &data, &len, why, sizeof why) != 0) {
            fail_at(j, i, why);
            continue;
        }
        sn_image im;
        int rc = sn_image_decode(data, len, j->header_only ? 0 : j->c, j->w,
                                 j->h, &im, why, sizeof why);
        free(data);
        if (rc != 0) {
            snprintf(msg, sizeof msg, "%s: cannot decode: %s", path, why);
            fail_at(j, i, msg);
            continue;
        }
        j->src_w[i] = im.src_w;
        j->src_h[i] = im.src_h;
        j->src_c[i] = im.src_c;
        if (j->header_only) continue;
        if (im.src_w != j->w || im.src_h != j->h || im.src_c != j->c)
            atomic_fetch_add(&j->converted, 1);
        sn_image_fit(im.pix, im.w, im.h, im.c, j->pix + (size_t)i * chw, j->w,
                     j->h, j->fit);
        free(im.pix);
    }
    return NULL;
}

/* Runs the decode job on one thread per core (at most MAX_THREADS). */
static int run_job(job *j, sn_error *e) {
    atomic_init(&j->next, 0);
    atomic_init(&j->converted, 0);
    pthread_mutex_init(&j->mu, NULL);
    atomic_init(&j->err_at, j->n);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int nt = cores < 1 ? 1 : cores > MAX_THREADS ? MAX_THREADS : (int)cores;
    if (nt > j->n) nt = j->n > 0 ? j->n : 1;
    pthread_t th[MAX_THREADS];
    int started = 0;
    for (int t = 1; t < nt; t++)
        if (pthread_create(&th[started], NULL, decode_worker, j) == 0)
            started++;
    decode_worker(j);
    for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
    pthread_mutex_destroy(&j->mu);
    if (atomic_load(&j->err_at) < j->n) return sn_errf(e, "%s", j->err);
    return 0;
}

/* ---- the cache ---------------------------------------------------------- */

#define CACHE_MAGIC "SNPIX01\n"

typedef struct cache_head {
    char magic[8];
    uint64_t key_hash;
    uint32_t key_crc, key_len;
    int32_t c, h, w, n0, n1, converted;
} cache_head;

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* The cache folder, created; 0 or -1. */
static int cache_dir(char *out, size_t n) {
    const char *x = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    char base[PATH_MAX];
    if (x && x[0] == '/')
        snprintf(base, sizeof base, "%s", x);
    else if (home && home[0])
        snprintf(base, sizeof base, "%s/.cache", home);
    else
        return -1;
    mkdir(base, 0700);
    if (snprintf(out, n, "%s/slimnas", base) >= (int)n) return -1;
    if (mkdir(out, 0700) != 0 && errno != EEXIST) return -1;
    return 0;
}

typedef struct ckey {
    char *text; /* every file's path, set, class, size, mtime + options */
    size_t len;
    char file[PATH_MAX]; /* the cache file */
} ckey;

static void key_add(ckey *k, size_t *cap, const char *s) {
    size_t l = strlen(s);
    while (k->len + l + 1 > *cap) {
        *cap = *cap ? 2 * *cap : 1 << 16;
        k->text = sn_xrealloc(k->text, *cap);
    }
    memcpy(k->text + k->len, s, l + 1);
    k->len += l;
}

static int cache_key(const char *dir, const walk *w, const sn_data_opts *o,
                     ckey *k) {
    memset(k, 0, sizeof *k);
    char real[PATH_MAX], cdir[PATH_MAX], line[PATH_MAX + 128];
    if (!realpath(dir, real) || cache_dir(cdir, sizeof cdir) != 0) return -1;
    size_t cap = 0;
    snprintf(line, sizeof line, "folder %s\ninput %dx%dx%d fit %s\n", real,
             o->input_h, o->input_w, o->input_c, sn_fit_name(o->fit));
    key_add(k, &cap, line);
    /* one file per folder and input size: a changed folder replaces it */
    uint64_t name = fnv1a(k->text, k->len);
    for (int i = 0; i < w->n; i++) {
        const fent *f = &w->f[i];
        snprintf(line, sizeof line, "%s\t%d\t%d\t%lld\t%lld\n", f->path, f->set,
                 f->cls, (long long)f->size, (long long)f->mtime_ns);
        key_add(k, &cap, line);
    }
    if (snprintf(k->file, sizeof k->file, "%s/folder-%016llx.pix", cdir,
                 (unsigned long long)name) >= (int)sizeof k->file)
        return -1;
    return 0;
}

static uint32_t key_crc(const ckey *k) {
    uLong crc = crc32(0L, Z_NULL, 0);
    size_t off = 0;
    while (off < k->len) {
        size_t step = k->len - off > (1u << 30) ? (1u << 30) : k->len - off;
        crc = crc32(crc, (const Bytef *)k->text + off, (uInt)step);
        off += step;
    }
    return (uint32_t)crc;
}

/* Fills d's shape and sources from the cache file when it matches. */
static int cache_load(sn_data *d, const ckey *k, const walk *w, int *converted) {
    FILE *f = fopen(k->file, "rb");
    if (!f) return -1;
    cache_head h;
    int ok = fread(&h, sizeof h, 1, f) == 1 &&
             !memcmp(h.magic, CACHE_MAGIC, 8) &&
             h.key_hash == fnv1a(k->text, k->len) && h.key_crc == key_crc(k) &&
             h.key_len == (uint32_t)k->len && h.c >= 1 && h.h >= 1 &&
             h.w >= 1 && h.n0 >= 0 && h.n1 >= 0 && h.n0 + h.n1 == w->n;
    if (ok) {
        sn_shape s = {h.c, h.h, h.w};
        size_t chw = (size_t)sn_shape_size(s);
        int ns[2] = {h.n0, h.n1};
        for (int set = 0; set < 2 && ok; set++) {
            sn_data_source *src = &d->src[set];
            src->n = ns[set];
            src->owned = src->pix = sn_xmalloc((size_t)ns[set] * chw + 1);
            src->label = sn_xmalloc((size_t)(ns[set] + 1) * sizeof(int));
            ok = fread(src->pix, chw, (size_t)ns[set], f) == (size_t)ns[set];
        }
        if (ok) {
            d->shape = s;
            *converted = h.converted;
        }
    }
    fclose(f);
    return ok ? 0 : -1;
}

/* Writes the cache (best effort: a failure only costs the next open). */
static void cache_save(const sn_data *d, const ckey *k, int converted) {
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", k->file, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return;
    cache_head h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, CACHE_MAGIC, 8);
    h.key_hash = fnv1a(k->text, k->len);
    h.key_crc = key_crc(k);
    h.key_len = (uint32_t)k->len;
    h.c = d->shape.c;
    h.h = d->shape.h;
    h.w = d->shape.w;
    h.n0 = d->src[0].n;
    h.n1 = d->src[1].n;
    h.converted = converted;
    size_t chw = (size_t)sn_shape_size(d->shape);
    int ok = fwrite(&h, sizeof h, 1, f) == 1;
    for (int s = 0; s < 2 && ok; s++)
        ok = fwrite(d->src[s].pix, chw, (size_t)d->src[s].n, f) ==
             (size_t)d->src[s].n;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, k->file) != 0) unlink(tmp);
}

/* ---- the loader --------------------------------------------------------- */

static int cmp64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Decides the input size from the image headers: the most common size,
 * grey if every image is, refusing a mix of grey and colour. */
static int auto_size(const walk *w, const job *hj, int *oh, int *ow, int *oc,
                     sn_error *e) {
    int n = w->n, grey = 0;
    for (int i = 0; i < n; i++) grey += hj->src_c[i] == 1;
    if (grey && grey < n) {
        int want = 2 * grey > n ? 1 : 3; /* the majority */
        int odd = 0;
        while (hj->src_c[odd] == want) odd++;
        return sn_errf(e, "%s: %s image, but %d of the %d images are %s; "
                          "give the input size with the channels to convert "
                          "to (--input HxWx1 or HxWx3)",
                       w->f[odd].path, want == 1 ? "a colour" : "a greyscale",
                       want == 1 ? grey : n - grey, n,
                       want == 1 ? "greyscale" : "colour");
    }
    *oc = grey == n ? 1 : 3;
    /* most common (h, w): sort the pairs */
    int64_t *hw = sn_xmalloc((size_t)n * sizeof *hw);
    for (int i = 0; i < n; i++)
        hw[i] = (int64_t)hj->src_h[i] << 32 | (uint32_t)hj->src_w[i];
    qsort(hw, (size_t)n, sizeof *hw, cmp64);
    int64_t best = hw[0];
    int bestn = 0;
    for (int i = 0; i < n;) {
        int j = i;
        while (j < n && hw[j] == hw[i]) j++;
        if (j - i > bestn) {
            bestn = j - i;
            best = hw[i];
        }
        i = j;
    }
    free(hw);
    *oh = (int)(best >> 32);
    *ow = (int)(best & 0xffffffff);
    if (*oh > 4096 || *ow > 4096)
        return sn_errf(e, "%s: the most common image size is %dx%d; give a "
                          "smaller input size (--input HxWxC)",
                       w->root, *oh, *ow);
    return 0;
}

/* Marks a fifth of each class's files (seeded, fixed) as the test set. */
static void split_test(walk *w, int k) {
    sn_rng r;
    sn_rng_seed(&r, 0x666f6c6465727465ULL);
    int *idx = sn_xmalloc((size_t)w->n * sizeof(int));
    for (int c = 0; c < k; c++) {
        int m = 0;
        for (int i = 0; i < w->n; i++)
            if (w->f[i].cls == c) idx[m++] = i;
        for (int i = m - 1; i > 0; i--) {
            int j = sn_rng_int(&r, i + 1), t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
        }
        int nt = (int)(TEST_FRACTION * m + 0.5);
        if (nt < 1 && m >= 3) nt = 1;
        for (int i = 0; i < nt; i++) w->f[idx[i]].set = 1;
    }
    free(idx);
}

static void free_walk(walk *w) {
    for (int i = 0; i < w->n; i++) free(w->f[i].path);
    free(w->f);
}

int sn_data_load_folder(sn_data *d, const char *dir, const sn_data_opts *o,
                        sn_error *e) {
    if (sn_data_check_dir(dir, e) != 0) return -1;
    walk w;
    memset(&w, 0, sizeof w);
    w.root = dir;
    w.strict = o->strict;
    char **names = NULL, sub[PATH_MAX], tsub[PATH_MAX];
    int k = 0, rc = -1, split = 0;
    ckey key = {0};
    int *sw = NULL, *sh = NULL, *sc = NULL;
    snprintf(sub, sizeof sub, "%s/train", dir);
    snprintf(tsub, sizeof tsub, "%s/test", dir);
    const char *root = dir; /* where the class folders are */
    if (is_dir(sub)) {
        if (!is_dir(tsub)) snprintf(tsub, sizeof tsub, "%s/val", dir);
        split = is_dir(tsub);
        if (!split) root = sub; /* train/ alone: split its classes */
    }
    if (split) {
        if (walk_set(&w, sub, 0, &names, &k, e) != 0 ||
            walk_set(&w, tsub, 1, &names, &k, e) != 0)
            goto out;
        int n1 = 0;
        for (int i = 0; i < w.n; i++) n1 += w.f[i].set;
        if (n1 == 0) {
            sn_errf(e, "%s: no test images", tsub);
            goto out;
        }
    } else if (walk_set(&w, root, 0, &names, &k, e) != 0) {
        goto out;
    }
    if (k < 2) {
        sn_errf(e, "%s: only one class folder ('%s'); a classifier needs at "
                   "least 2",
                split ? sub : root, names[0]);
        goto out;
    }
    if (!split) split_test(&w, k);
    /* sources in walk order: training files, then test files */
    int ns[2] = {0, 0};
    for (int i = 0; i < w.n; i++) ns[w.f[i].set]++;
    if (ns[0] == 0 || ns[1] == 0) {
        sn_errf(e, "%s: too few images to set a test set apart (%d)", dir,
                w.n);
        goto out;
    }
    fent *ord = sn_xmalloc((size_t)w.n * sizeof *ord);
    for (int s = 0, m = 0; s < 2; s++)
        for (int i = 0; i < w.n; i++)
            if (w.f[i].set == s) ord[m++] = w.f[i];
    free(w.f);
    w.f = ord;

    d->classes = k;
    sn_data_set_classes(d, k, (const char *const *)names);
    snprintf(d->source, sizeof d->source,
             "folder %.900s: %d images in %d class folders, %s", root, w.n, k,
             split ? "test set from its own folder"
                   : "a fifth of each class held out for testing");
    if (w.skipped)
        snprintf(d->warning, sizeof d->warning,
                 "skipped %d file%s that %s (first: %s)", w.skipped,
                 w.skipped > 1 ? "s" : "",
                 w.skipped > 1 ? "are not images" : "is not an image",
                 w.first_skipped);
    char vsub[PATH_MAX];
    snprintf(vsub, sizeof vsub, "%s/val", dir);
    if (split && strcmp(vsub, tsub) && is_dir(vsub)) {
        size_t l = strlen(d->warning);
        snprintf(d->warning + l, sizeof d->warning - l,
                 "%sval/ ignored: test/ is the test set and the validation "
                 "split comes from train/",
                 l ? "; " : "");
    }

    int converted = 0;
    int use_cache = !o->no_cache && cache_key(dir, &w, o, &key) == 0;
    if (use_cache && cache_load(d, &key, &w, &converted) == 0) {
        d->from_cache = 1;
    } else {
        for (int s = 0; s < 2; s++) { /* a partial cache read */
            free(d->src[s].owned);
            free(d->src[s].label);
            memset(&d->src[s], 0, sizeof d->src[s]);
        }
        sw = sn_xmalloc((size_t)w.n * sizeof(int));
        sh = sn_xmalloc((size_t)w.n * sizeof(int));
        sc = sn_xmalloc((size_t)w.n * sizeof(int));
        job j = {.f = w.f, .n = w.n, .src_w = sw, .src_h = sh, .src_c = sc};
        int oh = o->input_h, ow = o->input_w, oc = o->input_c;
        if (oh <= 0) {
            j.header_only = 1;
            if (run_job(&j, e) != 0 || auto_size(&w, &j, &oh, &ow, &oc, e))
                goto out;
        }
        sn_shape s = {oc, oh, ow};
        size_t chw = (size_t)sn_shape_size(s);
        uint8_t *all = sn_xmalloc((size_t)w.n * chw);
        j.header_only = 0;
        j.c = oc;
        j.h = oh;
        j.w = ow;
        j.fit = o->fit;
        j.pix = all;
        int jrc = run_job(&j, e);
        converted = atomic_load(&j.converted);
        /* split the one buffer into the two sources */
        d->shape = s;
        d->src[0].owned = d->src[0].pix = all;
        d->src[0].n = ns[0];
        d->src[1].owned = NULL;
        d->src[1].pix = all + (size_t)ns[0] * chw;
        d->src[1].n = ns[1];
        for (int t = 0; t < 2; t++)
            d->src[t].label = sn_xmalloc((size_t)(ns[t] + 1) * sizeof(int));
        if (jrc != 0) goto out;
        if (use_cache) cache_save(d, &key, converted);
    }
    for (int i = 0, m[2] = {0, 0}; i < w.n; i++)
        d->src[w.f[i].set].label[m[w.f[i].set]++] = w.f[i].cls;
    d->fitted = 1;
    if (converted)
        snprintf(d->fit_note, sizeof d->fit_note,
                 "%d of %d images converted (%s, area/bilinear resize)", converted,
                 w.n, sn_fit_name(o->fit));
    rc = 0;
out:
    free(sw);
    free(sh);
    free(sc);
    free(key.text);
    if (names) free_list(names, k);
    free_walk(&w);
    return rc;
}
