/* test_mpi.c — `slimnas search --mpi` under a real mpirun on localhost
 * (built only with `make MPI=1`): three ranks complete a small search
 * with exactly the candidates asked for, each recorded once, and the run
 * resumes on one machine afterwards; a worker that stalls past
 * --mpi-timeout is lost, its candidate goes to the other worker, and the
 * search still completes; `mpirun -n 1` is a usage error. */
#include "testutil.h"

#include <sys/wait.h>
#include <unistd.h>

static const char *bin;
static char dir[64];

/* Runs cmd with output to dir/out.txt; returns the exit code. */
static int run(char **out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int run(char **out, const char *fmt, ...) {
    char cmd[2048], full[3072], path[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(path, sizeof path, "%s/out.txt", dir);
    snprintf(full, sizeof full,
             "( OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
             "OMPI_MCA_rmaps_base_oversubscribe=1 timeout 300 %s ) >'%s' 2>&1",
             cmd, path);
    int st = system(full);
    if (st == -1 || !WIFEXITED(st)) fail_msg("could not run: %s", cmd);
    if (out) {
        size_t n;
        sn_error e;
        if (sn_read_file(path, out, &n, &e)) fail_msg("%s", e.msg);
    }
    return WEXITSTATUS(st);
}

/* Ids of the candidate records of a run's log, which must be 0..n-1. */
static int log_ids(const char *run_dir) {
    char p[256];
    snprintf(p, sizeof p, "%s/results.log", run_dir);
    char *text;
    size_t n;
    sn_error e;
    if (sn_read_file(p, &text, &n, &e)) fail_msg("%s", e.msg);
    int next = 0;
    for (char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
        int id;
        if (sscanf(l, "{\"id\":%d", &id) != 1) continue;
        if (id != next) fail_msg("record %d where %d was due", id, next);
        next++;
    }
    free(text);
    return next;
}

static int setup(void **state) {
    (void)state;
    bin = getenv("SLIMNAS");
    if (!bin || !*bin) bin = "./slimnas";
    if (access(bin, X_OK) != 0) return -1;
    snprintf(dir, sizeof dir, "/tmp/sn_test_mpi.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    tu_rm_rf(dir);
    return 0;
}

static void test_three_ranks_then_resume(void **state) {
    (void)state;
    char *out;
    int rc = run(&out,
                 "mpirun --oversubscribe -n 3 %s search --mpi --data "
                 "synthetic:1000 --max-candidates 6 --threads 1 --run %s/r1",
                 bin, dir);
    if (rc != 0) fail_msg("mpirun exited %d:\n%s", rc, out);
    assert_non_null(strstr(out, "done after 6 candidates"));
    free(out);
    char rd[128];
    snprintf(rd, sizeof rd, "%s/r1", dir);
    assert_int_equal(log_ids(rd), 6);
    /* the same run goes on in one process, and under mpirun again */
    rc = run(&out, "%s resume %s --max-candidates 8 --threads 1", bin, rd);
    if (rc != 0) fail_msg("resume exited %d:\n%s", rc, out);
    free(out);
    assert_int_equal(log_ids(rd), 8);
    rc = run(&out,
             "mpirun --oversubscribe -n 3 %s resume %s --mpi "
             "--max-candidates 10 --threads 1",
             bin, rd);
    if (rc != 0) fail_msg("mpi resume exited %d:\n%s", rc, out);
    free(out);
    assert_int_equal(log_ids(rd), 10);
}

static void test_stalled_worker_is_lost(void **state) {
    (void)state;
    char *out;
    /* rank 1 holds its first answer for 12 s; the timeout is 6 s, far
     * above what one candidate of this tiny data takes even on a busy
     * machine */
    int rc = run(&out,
                 "env SLIMNAS_MPI_STALL=1:12 mpirun --oversubscribe -x "
                 "SLIMNAS_MPI_STALL -n 3 %s search --mpi --mpi-timeout 6s "
                 "--data synthetic:300 --max-candidates 5 --threads 1 "
                 "--run %s/r2",
                 bin, dir);
    if (rc != 0) fail_msg("mpirun exited %d:\n%s", rc, out);
    if (!strstr(out, "worker 1 lost"))
        fail_msg("no 'worker 1 lost' warning:\n%s", out);
    assert_non_null(strstr(out, "done after 5 candidates"));
    free(out);
    char rd[128];
    snprintf(rd, sizeof rd, "%s/r2", dir);
    assert_int_equal(log_ids(rd), 5);
}

static void test_one_rank_is_a_usage_error(void **state) {
    (void)state;
    char *out;
    int rc = run(&out,
                 "mpirun -n 1 %s search --mpi --data synthetic:300 --run "
                 "%s/r3",
                 bin, dir);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, "--mpi needs worker ranks"));
    free(out);
    char rd[128];
    snprintf(rd, sizeof rd, "%s/r3", dir);
    assert_int_not_equal(access(rd, F_OK), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_ranks_then_resume),
        cmocka_unit_test(test_stalled_worker_is_lost),
        cmocka_unit_test(test_one_rank_is_a_usage_error),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
