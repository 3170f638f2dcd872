/* test_fuzz_corpus.c — replays the fuzzing corpus in make test (no
 * fuzzing time, the normal compiler): every file of tests/fuzz/NAME/ (the
 * seed corpus) and tests/fuzz/NAME/crashes/ (every input a fuzzer ever
 * failed on, kept as a regression case) is fed to target NAME, built
 * from the same tests/fuzz/fuzz_NAME.c that `make fuzz` builds for
 * libFuzzer. A crash, an abort from a target's own check, or (under make
 * check-asan) a sanitizer report fails the suite; an empty corpus fails
 * its test too. */
#include "testutil.h"

#include <dirent.h>
#include <sys/stat.h>

#define SN_FUZZ_REPLAY 1
#include "fuzz/fuzz_cifar.c"
#include "fuzz/fuzz_commands.c"
#include "fuzz/fuzz_config.c"
#include "fuzz/fuzz_graph.c"
#include "fuzz/fuzz_idx.c"
#include "fuzz/fuzz_image.c"
#include "fuzz/fuzz_runlog.c"
#include "fuzz/fuzz_strings.c"
#include "fuzz/fuzz_theme.c"
#include "fuzz/fuzz_weights.c"

static int no_init(void) { return 0; }
typedef struct target {
    const char *name;
    int (*one)(const uint8_t *, size_t);
    int (*init)(void);
} target;

static const target targets[] = {
    {"cifar", fuzz_cifar_one, fuzz_cifar_init},
    {"commands", fuzz_commands_one, fuzz_commands_init},
    {"config", fuzz_config_one, no_init},
    {"graph", fuzz_graph_one, no_init},
    {"idx", fuzz_idx_one, fuzz_idx_init},
    {"image", fuzz_image_one, no_init},
    {"runlog", fuzz_runlog_one, fuzz_runlog_init},
    {"strings", fuzz_strings_one, no_init},
    {"theme", fuzz_theme_one, no_init},
    {"weights", fuzz_weights_one, fuzz_weights_init},
};

/* tests/fuzz, from this file's own path (make test runs at the top). */
static void fuzz_root(char *buf, size_t n) {
    snprintf(buf, n, "%s", __FILE__);
    char *slash = strrchr(buf, '/');
    if (slash) snprintf(slash + 1, n - (size_t)(slash + 1 - buf), "fuzz");
    else snprintf(buf, n, "fuzz");
}

/* Feeds every regular file of dir to t; returns how many. */
static int replay_dir(const target *t, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, ent->d_name);
        struct stat st;
        if (ent->d_name[0] == '.' || stat(p, &st) || !S_ISREG(st.st_mode))
            continue;
        char *data;
        size_t len;
        sn_error e;
        if (sn_read_file(p, &data, &len, &e)) fail_msg("%s", e.msg);
        /* an exact-size copy, as libFuzzer passes it */
        uint8_t *copy = malloc(len ? len : 1);
        memcpy(copy, data, len);
        free(data);
        t->one(copy, len);
        free(copy);
        n++;
    }
    closedir(d);
    return n;
}

static void test_target(void **state) {
    const target *t = *state;
    char root[512], dir[700];
    fuzz_root(root, sizeof root);
    assert_int_equal(t->init(), 0);
    snprintf(dir, sizeof dir, "%s/%s", root, t->name);
    int seeds = replay_dir(t, dir);
    if (seeds == 0) fail_msg("%s: no seed corpus", dir);
    snprintf(dir, sizeof dir, "%s/%s/crashes", root, t->name);
    int crashes = replay_dir(t, dir);
    printf("# %s: %d corpus files, %d crash regressions\n", t->name, seeds,
           crashes);
}

int main(void) {
    struct CMUnitTest tests[sizeof targets / sizeof targets[0]];
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        struct CMUnitTest u = {targets[i].name, test_target, NULL, NULL,
                               (void *)&targets[i]};
        tests[i] = u;
    }
    sn_threads_init(1);
    int rc = _cmocka_run_group_tests("fuzz corpus", tests,
                                     sizeof tests / sizeof tests[0], NULL,
                                     NULL);
    if (fuzz_commands_en) sn_engine_free(fuzz_commands_en);
    sn_threads_shutdown();
    if (fuzz_runlog_null) fclose(fuzz_runlog_null);
    /* the targets' temp folders */
    static const char *const tags[] = {"idx", "cifar", "runlog", "commands"};
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++)
        for (int r = 0; r < 2; r++) {
            char p[300];
            snprintf(p, sizeof p, "%s/sn_fuzz_%s_%d", r ? "/tmp" : "/dev/shm",
                     tags[i], (int)getpid());
            tu_rm_rf(p);
        }
    return rc;
}
