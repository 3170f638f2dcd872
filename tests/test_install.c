/* test_install.c — what `make install` ships: the man page renders with
 * `man -l` and names every command `slimnas --help` lists; the bash
 * completion completes commands and a command's options from the binary;
 * its value lists (base kinds, strategies, objectives) are the library's
 * tables; `make install DESTDIR=… PREFIX=…` then `make uninstall` with the same
 * variables leaves nothing behind, and the installed binary runs.
 * Runs from the source tree (the Makefile's folder); $SLIMNAS is the
 * binary under test. */
#include "testutil.h"

#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include "slimnas/export.h"
#include "slimnas/graph.h"
#include "slimnas/nn.h"
#include "slimnas/search.h"

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const char *bin;
static char dir[64];

/* Runs `sh -c cmd`, its stdout and stderr into *out (may be NULL);
 * returns the exit code. MAKEFLAGS is cleared so a nested make does not
 * join the jobserver of the `make test` that runs this suite. */
static int run_cmd(char **out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int run_cmd(char **out, const char *fmt, ...) {
    char cmd[3072], full[4096], path[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(path, sizeof path, "%s/out.txt", dir);
    snprintf(full, sizeof full,
             "( unset MAKEFLAGS MFLAGS MAKELEVEL; %s ) >'%s' 2>&1", cmd, path);
    int st = system(full);
    if (st == -1 || !WIFEXITED(st)) fail_msg("could not run: %s", cmd);
    if (out) {
        size_t n;
        sn_error e;
        if (sn_read_file(path, out, &n, &e) != 0) fail_msg("%s", e.msg);
    }
    return WEXITSTATUS(st);
}

/* The command names listed under "commands:" in `slimnas --help`. */
static int help_commands(char names[][32], int max) {
    char *out;
    assert_int_equal(run_cmd(&out, "%s --help", bin), 0);
    char *p = strstr(out, "commands:\n");
    assert_non_null(p);
    p += strlen("commands:\n");
    int n = 0;
    while (*p == ' ' && p[1] == ' ' && p[2] != ' ' && n < max) {
        char word[32];
        if (sscanf(p, " %31s", word) == 1) snprintf(names[n++], 32, "%s", word);
        p = strchr(p, '\n');
        if (!p) break;
        p++;
    }
    free(out);
    return n;
}

static int setup(void **state) {
    (void)state;
    bin = getenv("SLIMNAS");
    if (!bin || !*bin) bin = "./slimnas";
    if (access(bin, X_OK) != 0 || access("Makefile", R_OK) != 0) {
        fprintf(stderr, "test_install: run from the source tree with "
                        "$SLIMNAS set\n");
        return -1;
    }
    snprintf(dir, sizeof dir, "/tmp/sn_test_install.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    tu_rm_rf(dir);
    return 0;
}

static void test_man_page_names_every_command(void **state) {
    (void)state;
    char *out;
    assert_int_equal(
        run_cmd(&out, "MANWIDTH=80 man --warnings -l docs/slimnas.1"), 0);
    assert_non_null(strstr(out, "SLIMNAS(1)"));
    assert_non_null(strstr(out, "EXIT STATUS"));
    /* groff's warnings (bad requests, unknown escapes) go to the output
     * too; a clean page has none. */
    assert_null(strstr(out, "warning"));
    char names[32][32];
    int n = help_commands(names, 32);
    assert_true(n >= 10);
    for (int i = 0; i < n; i++) {
        char want[64];
        snprintf(want, sizeof want, "\n       %.31s ", names[i]);
        if (!strstr(out, want))
            fail_msg("the man page does not describe '%s'", names[i]);
    }
    free(out);
}

/* Sources the completion as bash would and asks it to complete. */
static char *complete(const char *words, int cword) {
    char *out;
    int rc = run_cmd(
        &out,
        "bash -c '. /usr/share/bash-completion/bash_completion; "
        ". docs/slimnas.bash-completion; PATH=\"$(dirname %s):$PATH\"; "
        "COMP_WORDS=(%s); COMP_CWORD=%d; COMP_LINE=\"${COMP_WORDS[*]}\"; "
        "COMP_POINT=${#COMP_LINE}; _slimnas; printf \"%%s\\n\" "
        "\"${COMPREPLY[@]}\"'",
        bin, words, cword);
    if (rc != 0) fail_msg("completion failed: %s", out);
    return out;
}

static void test_bash_completion(void **state) {
    (void)state;
    /* complete() puts the binary under test first on PATH: the completion
     * runs whatever `slimnas` is there. */
    char *out = complete("slimnas se", 1);
    assert_non_null(strstr(out, "search\n"));
    assert_null(strstr(out, "train\n"));
    free(out);
    out = complete("slimnas search --max-p", 2);
    assert_string_equal(out, "--max-params\n");
    free(out);
    out = complete("slimnas search --strategy e", 3);
    assert_string_equal(out, "evolution\n");
    free(out);
    out = complete("slimnas new m", 2);
    assert_non_null(strstr(out, "mobilenet\n"));
    assert_non_null(strstr(out, "mobile_tiny\n"));
    free(out);
}

/* Counts the entries under path (files and folders, recursively). */
static int count_entries(const char *path) {
    DIR *d = opendir(path);
    if (!d) return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char sub[1024];
        snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
        n += 1 + count_entries(sub);
    }
    closedir(d);
    return n;
}

static void test_install_uninstall(void **state) {
    (void)state;
    char *out;
    char dest[128];
    snprintf(dest, sizeof dest, "%s/stage", dir);
    int rc = run_cmd(&out, "make -s install PREFIX=/tmp/p DESTDIR=%s", dest);
    if (rc != 0) fail_msg("make install failed:\n%s", out);
    free(out);
    const char *want[] = {"/tmp/p/bin/slimnas",
                          "/tmp/p/share/man/man1/slimnas.1",
                          "/tmp/p/share/bash-completion/completions/slimnas",
                          "/tmp/p/share/slimnas/themes/default.theme",
                          "/tmp/p/share/slimnas/samples/graphs/cnn_32x32x3.json"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char p[256];
        snprintf(p, sizeof p, "%s%s", dest, want[i]);
        if (access(p, R_OK) != 0) fail_msg("install did not write %s", p);
    }
    /* The installed binary runs, and the page renders from where it went. */
    assert_int_equal(run_cmd(&out, "%s/tmp/p/bin/slimnas --version", dest), 0);
    assert_non_null(strstr(out, "slimnas "));
    free(out);
    assert_int_equal(
        run_cmd(NULL, "man -l %s/tmp/p/share/man/man1/slimnas.1", dest), 0);
    rc = run_cmd(&out, "make -s uninstall PREFIX=/tmp/p DESTDIR=%s", dest);
    if (rc != 0) fail_msg("make uninstall failed:\n%s", out);
    free(out);
    int left = count_entries(dest);
    if (left != 0 || access(dest, F_OK) == 0)
        fail_msg("uninstall left %d entries under %s", left, dest);
}

static void sorted_words(const char **w, int nw, char *buf, size_t n) {
    qsort(w, (size_t)nw, sizeof *w, cmp_str);
    buf[0] = 0;
    for (int i = 0; i < nw; i++)
        snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", i ? " " : "",
                 w[i]);
}

/* The words of the bash completion's `compgen -W '...'` on the first
 * line after `marker`, sorted and space-separated, into buf. */
static void completion_words(const char *text, const char *marker,
                             char *buf, size_t n) {
    const char *p = strstr(text, marker);
    if (!p) fail_msg("docs/slimnas.bash-completion lacks '%s'", marker);
    p = strstr(p, "compgen -W '");
    assert_non_null(p);
    p += strlen("compgen -W '");
    char words[512];
    snprintf(words, sizeof words, "%.*s", (int)strcspn(p, "'"), p);
    const char *w[32];
    int nw = 0;
    char *save = NULL;
    for (char *t = strtok_r(words, " ", &save); t && nw < 32;
         t = strtok_r(NULL, " ", &save))
        w[nw++] = t;
    sorted_words(w, nw, buf, n);
}

/* The completion script cannot read the C tables, so its value lists
 * are compared with them here: base kinds, strategies, objectives,
 * optimizers, schedules and export formats. */
static void test_bash_completion_lists(void **state) {
    (void)state;
    char *text;
    size_t len;
    sn_error e;
    assert_int_equal(sn_read_file("docs/slimnas.bash-completion", &text, &len,
                                  &e),
                     0);
    char got[512], want[512];
    const char *w[32];
    int nw = 0;
    for (; sn_arch_kinds[nw]; nw++) w[nw] = sn_arch_kinds[nw];
    sorted_words(w, nw, want, sizeof want);
    completion_words(text, "$cmd == new", got, sizeof got);
    assert_string_equal(got, want);
    for (nw = 0; nw < SN_STRAT_COUNT; nw++)
        w[nw] = sn_strategy_name((sn_strategy)nw);
    sorted_words(w, nw, want, sizeof want);
    completion_words(text, "--strategy)", got, sizeof got);
    assert_string_equal(got, want);
    for (nw = 0; nw < SN_OBJ_COUNT; nw++)
        w[nw] = sn_objective_name((sn_objective)nw);
    sorted_words(w, nw, want, sizeof want);
    completion_words(text, "--objective)", got, sizeof got);
    assert_string_equal(got, want);
    static const struct {
        const char *marker;
        const char *const *names;
    } lists[] = {{"--optimizer)", sn_optimizer_names},
                 {"--schedule)", sn_schedule_names},
                 {"--format)", sn_export_format_names}};
    for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++) {
        for (nw = 0; lists[l].names[nw]; nw++) w[nw] = lists[l].names[nw];
        sorted_words(w, nw, want, sizeof want);
        completion_words(text, lists[l].marker, got, sizeof got);
        assert_string_equal(got, want);
    }
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bash_completion_lists),
        cmocka_unit_test(test_man_page_names_every_command),
        cmocka_unit_test(test_bash_completion),
        cmocka_unit_test(test_install_uninstall),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
