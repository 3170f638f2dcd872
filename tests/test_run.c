/* test_run.c — the run directory's guarantees (README "Run directories"): a short write
 * never poisons the log; the lock is on the directory and every file is
 * opened relative to it; one damaged file or log line costs only its
 * candidate (check and check --repair); an emptied log never overwrites
 * candidate files; temp files of a kill are removed. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "slimnas/data.h"
#include "slimnas/search.h"

static char tmp_root[256];

static int setup_tmp(void **state) {
    (void)state;
    snprintf(tmp_root, sizeof tmp_root, "/tmp/sn_test_run_%d", (int)getpid());
    mkdir(tmp_root, 0755);
    sn_threads_init(1);
    return 0;
}

static int teardown_tmp(void **state) {
    (void)state;
    sn_threads_shutdown();
    if (!getenv("SN_KEEP_TMP")) tu_rm_rf(tmp_root);
    return 0;
}

static void run_dir(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", tmp_root, name);
    tu_rm_rf(buf);
}

static sn_search_settings tiny(int max_candidates) {
    sn_search_settings s = sn_settings_default();
    snprintf(s.data, sizeof s.data, "synthetic:300");
    snprintf(s.bases, sizeof s.bases, "cnn:4:2,mobile_tiny:4");
    s.max_train = 0;
    s.epochs = 1;
    s.root_epochs = 1;
    s.batch = 32;
    s.budget = 0;
    s.max_candidates = max_candidates;
    s.strategy = SN_STRAT_RANDOM;
    return s;
}

static sn_data *data_for(const sn_search *se) {
    sn_error e;
    const sn_search_settings *s = sn_search_settings_get(se);
    sn_data_opts o = sn_settings_data_opts(s, 0);
    sn_data *d = sn_data_open(s->data, &o, &e);
    if (!d) fail_msg("%s", e.msg);
    return d;
}

/* Creates (or opens) dir and steps until the budget is used up. */
static void run_to_end(const char *dir, int create, const sn_search_settings *s) {
    sn_error e;
    sn_search *se = create ? sn_search_create(dir, s, &e) : sn_search_open(dir, &e);
    if (!se) fail_msg("%s", e.msg);
    sn_data *d = data_for(se);
    assert_int_equal(sn_search_attach_data(se, d, NULL, &e), 0);
    int rc;
    while ((rc = sn_search_step(se, NULL, &e)) == 1)
        ;
    if (rc < 0) fail_msg("%s", e.msg);
    sn_search_free(se);
    sn_data_free(d);
}

static long file_size(const char *dir, const char *rel) {
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    struct stat st;
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static int exists(const char *dir, const char *rel) {
    return file_size(dir, rel) >= 0;
}

static char *slurp(const char *dir, const char *rel, size_t *len) {
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    char *t = NULL;
    sn_error e;
    if (sn_read_file(p, &t, len, &e)) fail_msg("%s", e.msg);
    return t;
}

static void put(const char *dir, const char *rel, const char *text) {
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* sn_search_check's report into a string. */
static int check(const char *dir, int repair, char *out, size_t n) {
    FILE *f = fmemopen(out, n, "w");
    assert_non_null(f);
    sn_error e;
    int rc = sn_search_check(dir, repair, f, &e);
    fclose(f);
    if (rc < 0) fail_msg("check %s: %s", dir, e.msg);
    return rc;
}

/* 1. A record cut short by a full disk (here: RLIMIT_FSIZE, which makes
 * write() stop part-way exactly like ENOSPC) is cut back off the log, so
 * the same process can go on recording and the run loads afterwards. */
static void test_short_write_cut_back(void **state) {
    char dir[512];
    run_dir(dir, sizeof dir, "short");
    sn_search_settings s = tiny(0);
    sn_error e;
    sn_search *se = sn_search_create(dir, &s, &e);
    if (!se) fail_msg("%s", e.msg);
    sn_data *d = data_for(se);
    assert_int_equal(sn_search_attach_data(se, d, NULL, &e), 0);
    /* grow the log past the size of a graph file, so a file-size limit
     * just above the log lets the next graph file through but cuts the
     * next log line */
    long json = -1;
    while (file_size(dir, "results.log") < 2 * json || json < 0) {
        assert_int_equal(sn_search_step(se, NULL, &e), 1);
        json = file_size(dir, "cand/0.json");
    }
    int had = sn_search_count(se);
    /* the next child is infeasible: recorded with a graph file only */
    assert_int_equal(sn_search_set(se, "max-params", "10", &e), 0);
    if (sn_search_enqueue(se, 0, "wider", &e)) fail_msg("%s", e.msg);
    long before = file_size(dir, "results.log");
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = (rlim_t)before + 40;
    void (*was)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    sn_job *job = NULL;
    int rc = sn_search_next(se, &job, &e);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, was);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(e.msg, "results.log"));
    /* nothing of the failed record stays: not its bytes, not its file */
    assert_int_equal(file_size(dir, "results.log"), before);
    assert_int_equal(sn_search_count(se), had);
    char rel[64];
    snprintf(rel, sizeof rel, "cand/%d.json", had);
    assert_false(exists(dir, rel));
    /* the same process goes on (the explorer restarts a failed search) */
    assert_int_equal(sn_search_set(se, "max-params", "0", &e), 0);
    for (int k = 0; k < 2; k++) {
        rc = sn_search_step(se, NULL, &e);
        if (rc != 1) fail_msg("step after the short write: %d %s", rc, e.msg);
    }
    int n = sn_search_count(se);
    sn_search_free(se);
    sn_data_free(d);
    /* and the run loads, every record intact */
    se = sn_search_load(dir, &e);
    if (!se) fail_msg("%s", e.msg);
    assert_int_equal(sn_search_count(se), n);
    for (int i = 0; i < n; i++)
        assert_int_not_equal(sn_search_cand(se, i)->status, SN_CAND_DAMAGED);
    assert_string_equal(sn_search_warning(se), "");
    sn_search_free(se);
    char out[8192];
    if (check(dir, 0, out, sizeof out) != 0) fail_msg("%s", out);
}

/* 2a. The lock is on the directory: deleting a file named lock (the old
 * lock) does not let a second writer in. */
static void test_lock_is_the_directory(void **state) {
    char dir[512], p[600];
    run_dir(dir, sizeof dir, "lockdir");
    sn_search_settings s = tiny(2);
    sn_error e;
    sn_search *a = sn_search_create(dir, &s, &e);
    if (!a) fail_msg("%s", e.msg);
    snprintf(p, sizeof p, "%s/lock", dir);
    unlink(p);
    assert_null(sn_search_open(dir, &e));
    assert_non_null(strstr(e.msg, "open in another slimnas"));
    /* nor from another process */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        unlink(p);
        sn_search *b = sn_search_open(dir, &e);
        _exit(b == NULL && strstr(e.msg, "open in another") ? 0 : 1);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    sn_search_free(a);
    sn_search *b = sn_search_open(dir, &e);
    if (!b) fail_msg("%s", e.msg);
    sn_search_free(b);
}

/* 2b. A writer keeps to its own directory: moved away, it follows it;
 * removed, it fails; a new run made at the old path is never touched. */
static void test_writer_keeps_its_directory(void **state) {
    char dir[512], moved[600];
    run_dir(dir, sizeof dir, "follow");
    snprintf(moved, sizeof moved, "%s.moved", dir);
    tu_rm_rf(moved);
    sn_search_settings s = tiny(0);
    sn_error e;
    sn_search *a = sn_search_create(dir, &s, &e);
    if (!a) fail_msg("%s", e.msg);
    sn_data *d = data_for(a);
    assert_int_equal(sn_search_attach_data(a, d, NULL, &e), 0);
    assert_int_equal(sn_search_step(a, NULL, &e), 1);
    assert_int_equal(rename(dir, moved), 0);
    sn_search *b = sn_search_create(dir, &s, &e); /* a new run, same path */
    if (!b) fail_msg("%s", e.msg);
    assert_int_equal(sn_search_step(a, NULL, &e), 1);
    size_t len;
    char *log = slurp(moved, "results.log", &len);
    int lines = 0;
    for (size_t i = 0; i < len; i++) lines += log[i] == '\n';
    free(log);
    assert_int_equal(lines, 2);
    assert_false(exists(dir, "results.log"));
    assert_false(exists(dir, "cand/1.json"));
    /* removed: the old writer fails instead of writing anywhere */
    tu_rm_rf(moved);
    assert_int_equal(sn_search_step(a, NULL, &e), -1);
    assert_false(exists(dir, "results.log"));
    assert_false(exists(dir, "cand/2.json"));
    sn_search_free(a);
    sn_search_free(b);
    sn_data_free(d);
}

/* 3. One truncated graph file and one garbage log line: the run loads and
 * resumes, those two candidates are damaged (never parents), check lists
 * both, check --repair moves the damage aside and then checks clean. */
static void test_damaged_candidates(void **state) {
    char dir[512], out[16384];
    run_dir(dir, sizeof dir, "damaged");
    sn_search_settings s = tiny(6);
    run_to_end(dir, 1, &s);
    size_t len;
    char *g = slurp(dir, "cand/2.json", &len);
    char p[700];
    snprintf(p, sizeof p, "%s/cand/2.json", dir);
    assert_int_equal(truncate(p, (off_t)len / 2), 0);
    free(g);
    /* line 4 (candidate 3) becomes garbage */
    char *log = slurp(dir, "results.log", &len);
    char *l4 = log;
    for (int k = 0; k < 3; k++) l4 = strchr(l4, '\n') + 1;
    char *end4 = strchr(l4, '\n');
    char fixed[65536];
    snprintf(fixed, sizeof fixed, "%.*s#garbage%s", (int)(l4 - log), log,
             end4);
    free(log);
    put(dir, "results.log", fixed);

    sn_error e;
    sn_search *se = sn_search_load(dir, &e);
    if (!se) fail_msg("load refused a run with two damaged candidates: %s", e.msg);
    assert_int_equal(sn_search_count(se), 6);
    assert_int_equal(sn_search_cand(se, 2)->status, SN_CAND_DAMAGED);
    assert_int_equal(sn_search_cand(se, 3)->status, SN_CAND_DAMAGED);
    assert_non_null(sn_search_graph(se, 3)); /* its graph file is fine */
    assert_non_null(strstr(sn_search_warning(se), "2 damaged"));
    const int *front;
    int nf = sn_search_front(se, &front);
    for (int i = 0; i < nf; i++) assert_true(front[i] != 2 && front[i] != 3);
    sn_search_free(se);

    /* check lists both, by file and line, and changes nothing */
    assert_int_equal(check(dir, 0, out, sizeof out) > 0, 1);
    assert_non_null(strstr(out, "cand/2.json"));
    assert_non_null(strstr(out, "results.log:4"));
    assert_false(exists(dir, "cand/2.json.damaged"));

    /* resume: it goes on; the damaged ones are never parents */
    se = sn_search_open(dir, &e);
    if (!se) fail_msg("resume refused: %s", e.msg);
    sn_data *d = data_for(se);
    assert_int_equal(sn_search_attach_data(se, d, NULL, &e), 0);
    assert_int_equal(sn_search_set(se, "max-candidates", "14", &e), 0);
    int rc;
    while ((rc = sn_search_step(se, NULL, &e)) == 1)
        ;
    if (rc < 0) fail_msg("%s", e.msg);
    assert_int_equal(sn_search_count(se), 14);
    for (int i = 6; i < 14; i++) {
        int par = sn_search_cand(se, i)->parent;
        assert_true(par != 2 && par != 3);
    }
    /* nor is one ever enqueued or retrained */
    assert_int_equal(sn_search_enqueue(se, 2, "wider:1", &e), -1);
    sn_search_free(se);
    sn_data_free(d);

    /* repair: damage moved aside, nothing deleted, then clean */
    int left = check(dir, 1, out, sizeof out);
    if (left != 0) fail_msg("repair left %d problems:\n%s", left, out);
    assert_true(exists(dir, "cand/2.json.damaged"));
    assert_true(exists(dir, "results.log.damaged"));
    assert_int_equal(check(dir, 0, out, sizeof out), 0);
    se = sn_search_open(dir, &e);
    if (!se) fail_msg("%s", e.msg);
    assert_int_equal(sn_search_count(se), 14);
    assert_int_equal(sn_search_cand(se, 2)->status, SN_CAND_DAMAGED);
    assert_int_equal(sn_search_cand(se, 3)->status, SN_CAND_DAMAGED);
    assert_int_equal(sn_search_cand(se, 4)->status,
                     sn_search_cand(se, 4)->status == SN_CAND_DONE
                         ? SN_CAND_DONE : SN_CAND_INFEASIBLE);
    sn_search_free(se);

    /* the command line: exit 1 with problems, 0 when clean */
    const char *bin = getenv("SLIMNAS");
    if (!bin) {
        printf("# SLIMNAS not set: the command-line part skipped\n");
        skip();
    }
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s check %s > /dev/null", bin, dir);
    int st = system(cmd);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* show lists the damaged ones as such and says why it cannot show one */
    snprintf(cmd, sizeof cmd, "%s show %s --tree > %s/out.txt", bin, dir,
             tmp_root);
    st = system(cmd);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    g = slurp(tmp_root, "out.txt", &len);
    assert_non_null(strstr(g, "damaged"));
    free(g);
    snprintf(cmd, sizeof cmd, "%s show %s --candidate 2 2> %s/out.txt", bin,
             dir, tmp_root);
    st = system(cmd);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    g = slurp(tmp_root, "out.txt", &len);
    assert_non_null(strstr(g, "candidate 2 is damaged"));
    assert_non_null(strstr(g, "cand/2.json")); /* why, from the log */
    free(g);
    snprintf(p, sizeof p, "%s/cand/5.bin", dir);
    if (access(p, F_OK) != 0) snprintf(p, sizeof p, "%s/cand/5.json", dir);
    assert_int_equal(truncate(p, 10), 0);
    snprintf(cmd, sizeof cmd, "%s check %s > %s/out.txt", bin, dir, tmp_root);
    st = system(cmd);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    g = slurp(tmp_root, "out.txt", &len);
    assert_non_null(strstr(g, "cand/5."));
    free(g);
    snprintf(cmd, sizeof cmd, "%s check --repair %s > /dev/null && %s check "
             "%s > /dev/null", bin, dir, bin, dir);
    st = system(cmd);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    snprintf(cmd, sizeof cmd, "%s check %s/nope 2> %s/out.txt", bin, dir,
             tmp_root);
    st = system(cmd);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    g = slurp(tmp_root, "out.txt", &len);
    assert_non_null(strstr(g, "no such run directory"));
    free(g);
}

/* 4. An emptied results.log with candidate files on disk: resume refuses
 * (pointing at check --repair) and no candidate file changes. The one
 * candidate a crash can leave unlogged (the next id) is moved aside, not
 * overwritten. */
static void test_emptied_log(void **state) {
    char dir[512];
    run_dir(dir, sizeof dir, "emptied");
    sn_search_settings s = tiny(4);
    run_to_end(dir, 1, &s);
    size_t l0, l1;
    char *c0 = slurp(dir, "cand/0.json", &l0);
    char *c1 = slurp(dir, "cand/1.json", &l1);
    char *log = slurp(dir, "results.log", &l1);
    put(dir, "results.log", "");
    sn_error e;
    assert_null(sn_search_open(dir, &e));
    assert_non_null(strstr(e.msg, "check --repair"));
    assert_non_null(strstr(e.msg, "disagree"));
    size_t k0, k1;
    char *d0 = slurp(dir, "cand/0.json", &k0);
    char *d1 = slurp(dir, "cand/1.json", &k1);
    assert_true(k0 == l0 && memcmp(c0, d0, l0) == 0);
    assert_memory_equal(c1, d1, k1);
    free(d0);
    free(d1);
    /* the log back without its last record: that candidate's files are
     * the in-flight ones of a crash, moved aside on resume */
    char *last = log + strlen(log) - 1;
    while (last > log && last[-1] != '\n') last--;
    *last = 0;
    put(dir, "results.log", log);
    size_t l3;
    char *c3 = slurp(dir, "cand/3.json", &l3);
    sn_search *se = sn_search_open(dir, &e);
    if (!se) fail_msg("%s", e.msg);
    assert_int_equal(sn_search_count(se), 3);
    assert_non_null(strstr(sn_search_warning(se), "moved aside"));
    assert_false(exists(dir, "cand/3.json"));
    size_t k3;
    char *m3 = slurp(dir, "cand/3.json.unlogged", &k3);
    assert_true(k3 == l3 && memcmp(c3, m3, l3) == 0);
    free(m3);
    free(c3);
    sn_search_free(se);
    free(c0);
    free(c1);
    free(log);
}

/* 5. Temp files a kill leaves mid-write: check reports them, the next
 * writer removes them. */
static void test_stale_tmp(void **state) {
    char dir[512], out[8192];
    run_dir(dir, sizeof dir, "tmpfiles");
    sn_search_settings s = tiny(2);
    run_to_end(dir, 1, &s);
    put(dir, "cand/1.json.tmp.99999", "{\"format\":");
    put(dir, "settings.json.tmp.12345", "{");
    put(dir, "cand/notes.txt", "mine"); /* not ours: left alone */
    sn_error e;
    sn_search *se = sn_search_open(dir, &e);
    if (!se) fail_msg("%s", e.msg);
    assert_false(exists(dir, "cand/1.json.tmp.99999"));
    assert_false(exists(dir, "settings.json.tmp.12345"));
    assert_true(exists(dir, "cand/notes.txt"));
    sn_search_free(se);
    assert_int_equal(check(dir, 0, out, sizeof out), 0);
    /* check reports them (and changes nothing) */
    put(dir, "cand/1.json.tmp.99999", "{\"format\":");
    put(dir, "settings.json.tmp.12345", "{");
    assert_int_equal(check(dir, 0, out, sizeof out), 2);
    assert_non_null(strstr(out, "cand/1.json.tmp.99999"));
    assert_true(exists(dir, "cand/1.json.tmp.99999"));
}

/* A record whose id jumps far ahead with neither lines nor files in
 * between is garbage, not a reason for millions of placeholders (found
 * by the runlog fuzzer: ids up to 1e8 were taken at their word). */
static void test_far_id(void **state) {
    char dir[512];
    run_dir(dir, sizeof dir, "farid");
    sn_search_settings s = tiny(2);
    run_to_end(dir, 1, &s);
    char p[700];
    snprintf(p, sizeof p, "%s/results.log", dir);
    FILE *f = fopen(p, "a");
    fputs("{\"id\":99999999,\"parent\":0,\"status\":\"infeasible\","
          "\"params\":1,\"flops\":1,\"memory\":1}\n", f);
    fclose(f);
    sn_error e;
    double t0 = sn_now();
    sn_search *se = sn_search_load(dir, &e);
    if (!se) fail_msg("%s", e.msg);
    assert_int_equal(sn_search_count(se), 2);
    assert_non_null(strstr(sn_search_warning(se), "results.log:3"));
    sn_search_free(se);
    assert_true(sn_now() - t0 < 10);
}

/* 5. Every new name is durable: each rename or link that gives a file its
 * final name (settings.json when a run is made and when a setting
 * changes, cand/ID.json and .bin, results.log rewritten without a torn
 * line or by check --repair, a damaged file moved aside) is followed by
 * an fsync of the directory that holds it, before the next new name.
 * util's sn_io_hook reports both; the directory is compared by inode. */
typedef struct io_ev {
    int event;
    char name[128];
    dev_t dev;
    ino_t ino;
    int is_dir;
} io_ev;
static io_ev io_evs[512];
static int io_n;

static void io_record(int event, int fd, const char *name) {
    if (io_n == (int)(sizeof io_evs / sizeof io_evs[0])) return;
    io_ev *v = &io_evs[io_n++];
    v->event = event;
    snprintf(v->name, sizeof v->name, "%s", name);
    struct stat st;
    int rc;
    if (event == SN_IO_NAMED) { /* the directory the name is in */
        char parent[128];
        snprintf(parent, sizeof parent, "%s", name);
        char *slash = strrchr(parent, '/');
        if (slash) *slash = 0;
        else snprintf(parent, sizeof parent, ".");
        rc = fstatat(fd, parent, &st, 0);
    } else {
        rc = fstat(fd, &st);
    }
    assert_int_equal(rc, 0);
    v->dev = st.st_dev;
    v->ino = st.st_ino;
    v->is_dir = S_ISDIR(st.st_mode);
}

/* How many times name got a new name; fails when one was not followed
 * by an fsync of its directory. */
static int io_named_synced(const char *name) {
    int named = 0;
    for (int i = 0; i < io_n; i++) {
        if (io_evs[i].event != SN_IO_NAMED || strcmp(io_evs[i].name, name))
            continue;
        named++;
        int synced = 0;
        for (int j = i + 1; j < io_n && !synced; j++) {
            if (io_evs[j].event == SN_IO_NAMED) break;
            synced = io_evs[j].is_dir && io_evs[j].dev == io_evs[i].dev &&
                     io_evs[j].ino == io_evs[i].ino;
        }
        if (!synced)
            fail_msg("%s got its name (event %d) but its directory was not "
                     "fsync'd before the next name", name, i);
    }
    return named;
}

static void test_new_names_synced(void **state) {
    char dir[512], out[8192];
    run_dir(dir, sizeof dir, "synced");
    sn_search_settings s = tiny(2);
    io_n = 0;
    sn_io_hook = io_record;
    run_to_end(dir, 1, &s);
    sn_error e;
    sn_search *se = sn_search_open(dir, &e);
    if (!se) fail_msg("%s", e.msg);
    assert_int_equal(sn_search_set(se, "max-candidates", "3", &e), 0);
    sn_search_free(se);
    /* a torn last line: opening the run rewrites the log without it */
    char p[700];
    snprintf(p, sizeof p, "%s/results.log", dir);
    FILE *f = fopen(p, "a");
    fputs("{\"id\":2,\"par", f);
    fclose(f);
    se = sn_search_open(dir, &e);
    if (!se) fail_msg("%s", e.msg);
    sn_search_free(se);
    /* a damaged candidate file: check --repair moves it aside and
     * rewrites the log */
    size_t len;
    char *g = slurp(dir, "cand/1.json", &len);
    free(g);
    snprintf(p, sizeof p, "%s/cand/1.json", dir);
    assert_int_equal(truncate(p, (off_t)len / 2), 0);
    int left = check(dir, 1, out, sizeof out);
    sn_io_hook = NULL;
    if (left != 0) fail_msg("repair left %d problems:\n%s", left, out);
    assert_true(exists(dir, "cand/1.json.damaged"));

    assert_true(io_named_synced("settings.json") >= 2); /* made, set */
    assert_int_equal(io_named_synced("cand/0.json"), 1);
    assert_int_equal(io_named_synced("cand/0.bin"), 1);
    assert_int_equal(io_named_synced("cand/1.bin"), 1);
    assert_int_equal(io_named_synced("results.log"), 2); /* torn, repair */
    assert_int_equal(io_named_synced("cand/1.json.damaged"), 1);
    assert_int_equal(io_named_synced("results.log.damaged"), 1);
    int named = 0;
    for (int i = 0; i < io_n; i++) named += io_evs[i].event == SN_IO_NAMED;
    assert_true(named >= 8);
    assert_true(io_n < (int)(sizeof io_evs / sizeof io_evs[0]));
}

/* The temp-name test used by the cleanup. */
static void test_tmp_names(void **state) {
    assert_true(sn_is_tmp_name("3.json.tmp.4711"));
    assert_true(sn_is_tmp_name("settings.json.tmp.1"));
    assert_false(sn_is_tmp_name("3.json"));
    assert_false(sn_is_tmp_name("3.json.tmp."));
    assert_false(sn_is_tmp_name("3.json.tmp.12a"));
    assert_false(sn_is_tmp_name(".tmp.12"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tmp_names),
        TU_TIMED(test_short_write_cut_back),
        TU_TIMED(test_lock_is_the_directory),
        TU_TIMED(test_writer_keeps_its_directory),
        TU_TIMED(test_damaged_candidates),
        TU_TIMED(test_emptied_log),
        TU_TIMED(test_stale_tmp),
        TU_TIMED(test_far_id),
        TU_TIMED(test_new_names_synced),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
