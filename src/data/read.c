/* read.c — whole-file reads for the dataset loaders: raw files straight
 * into memory, gzip files through zlib, with a truncated or corrupt gzip
 * stream reported as such (never as a short file) so messages can say
 * which one happened. */
#include "data_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* No dataset we read decompresses to more than this; a bigger stream is a
 * wrong file (or a gzip bomb), refused before it eats the machine. */
#define READ_MAX ((size_t)4 << 30)

int sn_data_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int sn_data_check_dir(const char *dir, sn_error *e) {
    struct stat st;
    if (stat(dir, &st) != 0)
        return sn_errf(e, "%s: %s", dir,
                       errno == ENOENT ? "no such folder" : strerror(errno));
    if (!S_ISDIR(st.st_mode)) return sn_errf(e, "%s: not a folder", dir);
    return 0;
}

static int read_raw(int fd, const char *path, size_t size, sn_data_file *f,
                    sn_error *e) {
    f->data = sn_xmalloc(size ? size : 1);
    size_t got = 0;
    while (got < size) {
        ssize_t r = pread(fd, f->data + got, size - got, (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0)
            return sn_errf(e, "%s: read failed: %s", path, strerror(errno));
        if (r == 0) break; /* shrank under us: report what we have */
        got += (size_t)r;
    }
    f->len = got;
    return 0;
}

static int read_gz(int fd, const char *path, size_t size, sn_data_file *f,
                   sn_error *e) {
    /* The gzip trailer's ISIZE is the decompressed size mod 2^32: a good
     * first guess for the buffer (one spare byte so the end is seen);
     * without one, 64 times the compressed size. The buffer doubles when
     * the guess is short. */
    size_t cap = size > ((size_t)1 << 14) ? (size_t)1 << 20 : size * 64;
    if (cap < 4096) cap = 4096;
    unsigned char tail[4];
    if (size >= 18 && pread(fd, tail, 4, (off_t)(size - 4)) == 4) {
        size_t isize = (size_t)tail[0] | (size_t)tail[1] << 8 |
                       (size_t)tail[2] << 16 | (size_t)tail[3] << 24;
        /* A cut or damaged file ends in arbitrary bytes: trust the hint
         * only up to a ratio image data never reaches (untouched pages of
         * a too-big guess would cost nothing on Linux, but elsewhere
         * they might). */
        if (isize < READ_MAX && isize / 64 <= size)
            cap = isize + 1 > 4096 ? isize + 1 : 4096;
    }
    int fd2 = dup(fd);
    if (fd2 < 0) return sn_errf(e, "%s: %s", path, strerror(errno));
    gzFile z = gzdopen(fd2, "rb");
    if (!z) {
        close(fd2);
        return sn_errf(e, "%s: cannot start gzip reader", path);
    }
    /* zlib's buffers: 256 KiB in (and twice that out), less for a small
     * file (its whole size) */
    size_t zbuf = size < ((size_t)1 << 18) ? size : (size_t)1 << 18;
    gzbuffer(z, (unsigned)(zbuf < 8192 ? 8192 : zbuf));
    f->data = sn_xmalloc(cap);
    size_t len = 0;
    for (;;) {
        if (len == cap) {
            if (cap >= READ_MAX) {
                gzclose_r(z);
                return sn_errf(e, "%s: decompresses to more than %zu bytes; "
                                  "not a dataset file", path, READ_MAX);
            }
            cap *= 2;
            f->data = sn_xrealloc(f->data, cap);
        }
        size_t want = cap - len;
        if (want > (1u << 30)) want = 1u << 30;
        int r = gzread(z, f->data + len, (unsigned)want);
        if (r <= 0) break;
        len += (size_t)r;
    }
    int errnum = Z_OK;
    const char *msg = gzerror(z, &errnum);
    if (errnum == Z_BUF_ERROR) {
        f->truncated = 1;
    } else if (errnum == Z_DATA_ERROR || errnum == Z_STREAM_ERROR ||
               errnum == Z_NEED_DICT) {
        f->corrupt = 1;
        snprintf(f->zmsg, sizeof f->zmsg, "%s", msg ? msg : "bad data");
    } else if (errnum == Z_ERRNO) {
        int err = errno;
        gzclose_r(z);
        return sn_errf(e, "%s: read failed: %s", path, strerror(err));
    } else if (errnum != Z_OK) {
        gzclose_r(z);
        return sn_errf(e, "%s: gzip error: %s", path, msg ? msg : "?");
    }
    gzclose_r(z);
    f->len = len;
    return 0;
}

int sn_data_read_file(const char *path, sn_data_file *f, sn_error *e) {
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return sn_errf(e, "%s: %s", path,
                       errno == ENOENT ? "no such file" : strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return sn_errf(e, "%s: not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    unsigned char magic[2] = {0, 0};
    f->gz = size >= 2 && pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1f &&
            magic[1] == 0x8b;
    int rc;
    if (f->gz)
        rc = read_gz(fd, path, size, f, e);
    else if (size > READ_MAX)
        rc = sn_errf(e, "%s: %zu bytes is too large for a dataset file", path,
                     size);
    else
        rc = read_raw(fd, path, size, f, e);
    close(fd);
    if (rc != 0) {
        free(f->data);
        f->data = NULL;
    }
    return rc;
}
