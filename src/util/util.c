/* util.c — errors, memory, files, parsing and formatting helpers. */
#include "slimnas/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <math.h>
#include <zlib.h>

int sn_errf(sn_error *e, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void sn_err_prefix(sn_error *e, const char *fmt, ...) {
    if (!e) return;
    char pre[256], old[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    size_t n = strlen(pre);
    if (n >= sizeof e->msg) n = sizeof e->msg - 1;
    memcpy(e->msg, pre, n);
    size_t m = strnlen(old, sizeof old - 1);
    if (m > sizeof e->msg - 1 - n) m = sizeof e->msg - 1 - n;
    memcpy(e->msg + n, old, m);
    e->msg[n + m] = 0;
}

_Noreturn void sn_assert_fail(const char *what, const char *file, int line) {
    fprintf(stderr, "%s:%d: internal error: assertion '%s' failed\n", file,
            line, what);
    abort();
}

static _Noreturn void oom(size_t n) {
    fprintf(stderr, "slimnas: out of memory (%zu bytes)\n", n);
    abort();
}

void *sn_xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *sn_xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) oom(n * size);
    return p;
}

void *sn_xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

char *sn_xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = sn_xmalloc(n);
    memcpy(d, s, n);
    return d;
}

float *sn_falloc(size_t count) {
    size_t bytes = (count * sizeof(float) + 63) & ~(size_t)63;
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) oom(bytes);
    memset(p, 0, bytes ? bytes : 64);
    return p;
}

void sn_free_aligned(void *p) { free(p); }

int sn_read_file(const char *path, char **data, size_t *len, sn_error *e) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) return sn_errf(e, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = sn_xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) buf = sn_xrealloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    if (f != stdin) fclose(f);
    if (bad) {
        free(buf);
        return sn_errf(e, "%s: read error", path);
    }
    buf[n] = 0;
    *data = buf;
    if (len) *len = n;
    return 0;
}

/* The directory part of name ("cand" for "cand/3.json", "." for
 * "settings.json"), opened relative to dir. */
static int open_parent(int dir, const char *name) {
    const char *slash = strrchr(name, '/');
    if (!slash) return openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    char buf[4096];
    size_t n = (size_t)(slash - name);
    if (n == 0) return open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (n >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, name, n);
    buf[n] = 0;
    return openat(dir, buf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

void (*sn_io_hook)(int event, int fd, const char *name);

int sn_fsync_dir_at(int dir, const char *name) {
    int fd = open_parent(dir, name);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    int err = errno;
    if (rc == 0 && sn_io_hook) sn_io_hook(SN_IO_DIR_SYNCED, fd, name);
    close(fd);
    errno = err;
    return rc;
}

int sn_write_atomic_at(int dir, const char *name, const void *data,
                       size_t len, int flags, sn_error *e) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", name, (long)getpid()) >=
        (int)sizeof tmp)
        return sn_errf(e, "%s: path too long", name);
    int fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return sn_errf(e, "%s: %s", tmp, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            int err = errno;
            close(fd);
            unlinkat(dir, tmp, 0);
            return sn_errf(e, "%s: %s (the old file is unchanged)", name,
                           strerror(err));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0) {
        int err = errno;
        close(fd);
        unlinkat(dir, tmp, 0);
        return sn_errf(e, "%s: fsync: %s", name, strerror(err));
    }
    if (close(fd) != 0) {
        int err = errno;
        unlinkat(dir, tmp, 0);
        return sn_errf(e, "%s: %s", name, strerror(err));
    }
    if (flags & SN_WRITE_NOREPLACE) {
        /* link() refuses an existing name, atomically; the temp name goes */
        if (linkat(dir, tmp, dir, name, 0) != 0) {
            int err = errno;
            unlinkat(dir, tmp, 0);
            if (err == EEXIST)
                return sn_errf(e, "%s: already exists (not replaced)", name);
            return sn_errf(e, "%s: link: %s", name, strerror(err));
        }
        unlinkat(dir, tmp, 0);
    } else if (renameat(dir, tmp, dir, name) != 0) {
        int err = errno;
        unlinkat(dir, tmp, 0);
        return sn_errf(e, "%s: rename: %s", name, strerror(err));
    }
    if (sn_io_hook) sn_io_hook(SN_IO_NAMED, dir, name);
    /* the new name itself is durable only once its directory is */
    if (sn_fsync_dir_at(dir, name) != 0)
        return sn_errf(e, "%s: fsync of its directory: %s", name,
                       strerror(errno));
    return 0;
}

int sn_write_atomic(const char *path, const void *data, size_t len,
                    sn_error *e) {
    return sn_write_atomic_at(AT_FDCWD, path, data, len, 0, e);
}

int sn_read_file_at(int dir, const char *name, char **data, size_t *len,
                    sn_error *e) {
    int fd = openat(dir, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        sn_errf(e, "%s: %s", name, strerror(err));
        errno = err; /* callers tell missing from unreadable */
        return -1;
    }
    /* room for the whole file as it is now (it may still grow) */
    struct stat st;
    size_t cap = fstat(fd, &st) == 0 && st.st_size > 0 &&
                         (uint64_t)st.st_size < ((uint64_t)1 << 40)
                     ? (size_t)st.st_size + 2
                     : 1 << 16,
           n = 0;
    char *buf = sn_xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) buf = sn_xrealloc(buf, cap *= 2);
        ssize_t got = read(fd, buf + n, cap - n - 1);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            int err = errno;
            close(fd);
            free(buf);
            sn_errf(e, "%s: %s", name, strerror(err));
            errno = err;
            return -1;
        }
        if (got == 0) break;
        n += (size_t)got;
    }
    close(fd);
    buf[n] = 0;
    *data = buf;
    if (len) *len = n;
    return 0;
}

int sn_is_tmp_name(const char *name) {
    const char *t = strstr(name, ".tmp.");
    if (!t || t == name) return 0;
    for (;;) { /* the last ".tmp." followed by digits only */
        const char *u = strstr(t + 1, ".tmp.");
        if (!u) break;
        t = u;
    }
    const char *d = t + 5;
    if (!*d) return 0;
    for (; *d; d++)
        if (*d < '0' || *d > '9') return 0;
    return 1;
}

int sn_remove_stale_tmp(int dir, const char *sub) {
    int fd = openat(dir, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return 0;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return 0;
    }
    int n = 0;
    struct dirent *ent;
    while ((ent = readdir(d)))
        if (sn_is_tmp_name(ent->d_name) && unlinkat(fd, ent->d_name, 0) == 0)
            n++;
    if (n) fsync(fd);
    closedir(d);
    return n;
}

void sn_text_position(const char *text, size_t offset, int *line, int *col) {
    int l = 1, c = 1;
    for (size_t i = 0; i < offset && text[i]; i++) {
        if (text[i] == '\n') {
            l++;
            c = 1;
        } else {
            c++;
        }
    }
    *line = l;
    *col = c;
}

uint32_t sn_crc32(uint32_t crc, const void *data, size_t len) {
    const unsigned char *p = data;
    uLong c = crc;
    while (len > 0) { /* zlib takes uInt lengths */
        uInt chunk = len > (1u << 30) ? (1u << 30) : (uInt)len;
        c = crc32(c, p, chunk);
        p += chunk;
        len -= chunk;
    }
    return (uint32_t)c;
}

double sn_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int sn_parse_long(const char *s, long lo, long hi, long *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (*end || errno || x < lo || x > hi) return -1;
    *out = x;
    return 0;
}

int sn_parse_double(const char *s, double lo, double hi, double *out) {
    if (!s || !*s) return -1;
    char *end;
    double x = strtod(s, &end);
    if (*end || !(x >= lo && x <= hi)) return -1;
    *out = x;
    return 0;
}

int sn_parse_size(const char *s, int64_t *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !(v >= 0)) return -1; /* NaN too */
    double mul = 1;
    if (*end == 'k' || *end == 'K') mul = 1e3, end++;
    else if (*end == 'M' || *end == 'm') mul = 1e6, end++;
    else if (*end == 'G' || *end == 'g') mul = 1e9, end++;
    if (*end) return -1;
    v *= mul;
    if (v > 9e18) return -1;
    *out = (int64_t)(v + 0.5);
    return 0;
}

int sn_parse_duration(const char *s, double *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !(v >= 0) || isinf(v)) return -1; /* NaN too */
    double mul = 1;
    if (*end == 's') end++;
    else if (*end == 'm') mul = 60, end++;
    else if (*end == 'h') mul = 3600, end++;
    if (*end) return -1;
    *out = v * mul;
    return 0;
}

const char *sn_fmt_int(char *buf, size_t n, int64_t v) {
    char tmp[32];
    int neg = v < 0;
    uint64_t u = neg ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
    int len = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)u);
    char out[48];
    int o = 0;
    if (neg) out[o++] = '-';
    for (int i = 0; i < len; i++) {
        out[o++] = tmp[i];
        int left = len - 1 - i;
        if (left > 0 && left % 3 == 0) out[o++] = ',';
    }
    out[o] = 0;
    snprintf(buf, n, "%s", out);
    return buf;
}

const char *sn_fmt_duration(char *b, size_t n, double sec) {
    long t = sec > 0 ? (long)(sec + 0.5) : 0;
    if (t < 60) snprintf(b, n, "%lds", t);
    else if (t < 3600 && t % 60 == 0) snprintf(b, n, "%ldm", t / 60);
    else if (t < 3600) snprintf(b, n, "%ldm%02lds", t / 60, t % 60);
    else if (t % 3600 == 0) snprintf(b, n, "%ldh", t / 3600);
    else snprintf(b, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
    return b;
}

const char *sn_fmt_si(char *buf, size_t n, double v) {
    const char *unit = "";
    double a = v < 0 ? -v : v;
    if (a >= 1e9) v /= 1e9, unit = "G";
    else if (a >= 1e6) v /= 1e6, unit = "M";
    else if (a >= 1e3) v /= 1e3, unit = "k";
    double b = v < 0 ? -v : v;
    if (*unit == 0) snprintf(buf, n, "%.0f", v);
    else if (b >= 100) snprintf(buf, n, "%.0f%s", v, unit);
    else snprintf(buf, n, "%.1f%s", v, unit);
    return buf;
}

/* xoshiro256** seeded through splitmix64. */
static uint64_t splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void sn_rng_seed(sn_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

uint64_t sn_rng_u64(sn_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double sn_rng_uniform(sn_rng *r) {
    return (double)(sn_rng_u64(r) >> 11) * 0x1.0p-53;
}

int sn_rng_int(sn_rng *r, int n) {
    return n <= 1 ? 0 : (int)(sn_rng_uniform(r) * n);
}

double sn_rng_normal(sn_rng *r) {
    double u1 = sn_rng_uniform(r), u2 = sn_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
