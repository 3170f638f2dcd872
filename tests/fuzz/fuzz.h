/* fuzz.h — one libFuzzer target per parser of outside input.
 *
 * Each tests/fuzz/fuzz_NAME.c defines its target with FUZZ_TARGET(NAME)
 * (`FUZZ_TARGET(NAME)(const uint8_t *data, size_t size) {...}`) and, when
 * it needs set-up, FUZZ_INIT(NAME) {...}. Built for libFuzzer (make
 * fuzz: clang -fsanitize=fuzzer,address,undefined) they become
 * LLVMFuzzerTestOneInput / LLVMFuzzerInitialize; built for the corpus
 * replay (tests/test_fuzz_corpus.c, normal compiler, part of make test)
 * with SN_FUZZ_REPLAY defined they become fuzz_NAME_one / fuzz_NAME_init,
 * all in one program that feeds them every file of tests/fuzz/NAME/ and
 * tests/fuzz/NAME/crashes/. Targets never write outside their own temp
 * folder, and their helpers are static with the target's name in them
 * (the replay includes every target in one file). */
#ifndef SLIMNAS_FUZZ_H
#define SLIMNAS_FUZZ_H

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slimnas/util.h"

#ifdef SN_FUZZ_REPLAY
#define FUZZ_TARGET(name) int fuzz_##name##_one
#define FUZZ_INIT(name) static int fuzz_##name##_init(void)
#else
#define FUZZ_TARGET(name) int LLVMFuzzerTestOneInput
#define FUZZ_INIT(name)                                                      \
    static int fuzz_##name##_init(void);                                     \
    int LLVMFuzzerInitialize(int *argc, char ***argv) {                      \
        (void)argc, (void)argv;                                              \
        return fuzz_##name##_init();                                         \
    }                                                                        \
    static int fuzz_##name##_init(void)
#endif

/* The input as a NUL-terminated string (malloc'd; embedded NULs end it
 * early, as they would in a file read by a C string API). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = 0;
    return s;
}

/* A private temp folder for this process: /dev/shm/sn_fuzz_TAG_PID (in
 * memory: the targets write and fsync files on every input), else under
 * /tmp. */
static inline void fuzz_tmpdir(char *buf, size_t n, const char *tag) {
    const char *root = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(buf, n, "%s/sn_fuzz_%s_%d", root, tag, (int)getpid());
    mkdir(buf, 0755);
}

/* Writes dir/name (whole, replacing). Aborts on failure: a fuzz target
 * that cannot set up its input would test nothing. */
static inline void fuzz_put(const char *dir, const char *name,
                            const void *data, size_t size) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f)) {
        fprintf(stderr, "fuzz: cannot write %s: %s\n", p, strerror(errno));
        abort();
    }
}

#endif
