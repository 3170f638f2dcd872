/* test_engine.c — the engine: searches in background threads, snapshots
 * (immutable, reference-counted, generation counter, wake-up fd), pause
 * within one batch, stop and resume, live settings, text commands and
 * their errors, enqueue, fork. Runs under ThreadSanitizer (make
 * check-tsan), so the data and networks are tiny. */
#include "testutil.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slimnas/engine.h"

static char tmp_root[256];

static int setup(void **state) {
    (void)state;
    snprintf(tmp_root, sizeof tmp_root, "/tmp/sn_test_engine_%d", (int)getpid());
    mkdir(tmp_root, 0755);
    sn_threads_init(2);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    sn_threads_shutdown();
    tu_rm_rf(tmp_root);
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
    s.batch = 16;
    s.budget = 0;
    s.max_candidates = max_candidates;
    s.strategy = SN_STRAT_RANDOM;
    return s;
}

/* Polls snapshots until pred holds or 60 s pass (a generous bound for a
 * sanitizer build on a busy machine; not a timing assertion). */
typedef int (*pred_fn)(const sn_snapshot *s, void *ctx);
static int wait_for(sn_engine *en, int h, pred_fn pred, void *ctx) {
    double t0 = sn_now();
    while (sn_now() - t0 < 60) {
        struct pollfd p = {sn_engine_fd(en), POLLIN, 0};
        poll(&p, 1, 50);
        sn_engine_drain(en);
        const sn_snapshot *s = sn_engine_snapshot(en, h);
        int ok = pred(s, ctx);
        sn_snapshot_release(s);
        if (ok) return 1;
    }
    return 0;
}

static int is_training(const sn_snapshot *s, void *ctx) {
    (void)ctx;
    return s->current >= 0 && s->progress.batch > 0 &&
           s->state == SN_RUN_RUNNING;
}

static int is_paused(const sn_snapshot *s, void *ctx) {
    (void)ctx;
    return s->state == SN_RUN_PAUSED;
}

static int has_max_params(const sn_snapshot *s, void *ctx) {
    return s->settings.max_params == *(int64_t *)ctx;
}

static int has_records(const sn_snapshot *s, void *ctx) {
    return s->n_records >= *(int *)ctx;
}

/* A whole search through the engine; the snapshot agrees with the run
 * directory; the wake-up fd was written; generations increase. */
static void test_engine_runs_search(void **state) {
    (void)state;
    char dir[512];
    run_dir(dir, sizeof dir, "basic");
    sn_engine *en = sn_engine_new();
    assert_non_null(en);
    sn_search_settings s = tiny(5);
    sn_error e;
    int h = sn_engine_start(en, dir, &s, 0, &e);
    assert_int_equal(h, 0);
    assert_int_equal(sn_engine_count(en), 1);
    /* a snapshot exists at once */
    const sn_snapshot *first = sn_engine_snapshot(en, h);
    assert_non_null(first);
    assert_string_equal(first->name, "basic");
    uint64_t g0 = first->generation;
    /* the wake-up descriptor becomes readable */
    struct pollfd p = {sn_engine_fd(en), POLLIN, 0};
    assert_int_equal(poll(&p, 1, 60000), 1);
    assert_int_equal(sn_engine_wait(en, h, 120), 1);
    const sn_snapshot *last = sn_engine_snapshot(en, h);
    assert_int_equal(last->state, SN_RUN_DONE);
    assert_int_equal(last->n_records, 5);
    assert_int_equal(last->n_cands, 5);
    assert_int_equal(last->current, -1);
    assert_true(last->generation > g0);
    assert_true(sn_engine_generation(en) >= last->generation);
    assert_true(last->n_front >= 1);
    assert_true(last->hypervolume > 0);
    for (int i = 0; i < last->n_cands; i++) assert_int_equal(last->cands[i].id, i);
    for (int i = 0; i < last->n_front; i++)
        assert_true(last->cands[last->front[i]].on_front);
    assert_true(last->n_log > 0);
    /* the old snapshot is still intact while held */
    assert_string_equal(first->name, "basic");
    assert_int_equal(first->generation, g0);
    sn_snapshot_release(first);
    /* details on demand */
    sn_cand_detail d;
    assert_int_equal(sn_engine_candidate(en, h, 2, &d, &e), 0);
    assert_int_equal(d.info.id, 2);
    assert_non_null(d.graph);
    assert_int_equal(sn_graph_params(d.graph), last->cands[2].params);
    /* 1 epoch per child; a promotion (fidelity 2) trains 2 x that more */
    if (d.info.status == SN_CAND_DONE)
        assert_int_equal(d.n_epochs, d.info.fidelity > 1 ? 2 : 1);
    sn_cand_detail_free(&d);
    assert_int_equal(sn_engine_candidate(en, h, 99, &d, &e), -1);
    sn_snapshot_release(last);
    sn_engine_free(en);

    /* the directory holds the same run */
    sn_search *se = sn_search_open(dir, &e);
    assert_non_null(se);
    assert_int_equal(sn_search_count(se), 5);
    sn_search_free(se);
}

/* A reader thread takes and releases snapshots as fast as it can while
 * the search publishes them (for ThreadSanitizer). */
typedef struct reader {
    sn_engine *en;
    atomic_int stop;
    long reads;
    long backwards; /* generations seen going back (must stay 0) */
} reader;

/* cmocka's assertions longjmp, which is undefined from another thread:
 * the reader only counts what it sees; the test thread asserts. */
static void *read_loop(void *arg) {
    reader *r = arg;
    uint64_t last = 0;
    while (!atomic_load(&r->stop)) {
        const sn_snapshot *s = sn_engine_snapshot(r->en, 0);
        if (s->generation < last) r->backwards++;
        last = s->generation;
        int64_t sum = 0;
        for (int i = 0; i < s->n_cands; i++) sum += s->cands[i].params;
        for (int i = 0; i < s->n_log; i++) sum += (int64_t)strlen(s->log[i].text);
        (void)sum;
        sn_snapshot_release(s);
        r->reads++;
        usleep(200); /* leave the cores to training */
    }
    return NULL;
}

static void test_engine_concurrent_readers(void **state) {
    (void)state;
    char dir[512];
    run_dir(dir, sizeof dir, "readers");
    sn_engine *en = sn_engine_new();
    sn_search_settings s = tiny(4);
    sn_error e;
    int h = sn_engine_start(en, dir, &s, 0, &e);
    assert_int_equal(h, 0);
    reader r = {en, 0, 0, 0};
    pthread_t th;
    pthread_create(&th, NULL, read_loop, &r);
    /* commands from this thread meanwhile */
    assert_int_equal(sn_engine_set(en, h, "max-params", "50k", &e), 0);
    assert_int_equal(sn_engine_wait(en, h, 120), 1);
    atomic_store(&r.stop, 1);
    pthread_join(th, NULL);
    assert_true(r.reads > 0);
    assert_int_equal(r.backwards, 0);
    const sn_snapshot *last = sn_engine_snapshot(en, h);
    assert_int_equal(last->settings.max_params, 50000);
    sn_snapshot_release(last);
    sn_engine_free(en);
}

/* Pause takes effect within one batch: once the snapshot says paused,
 * training progress and records stand still until resume. */
static void test_engine_pause_resume(void **state) {
    (void)state;
    char dir[512];
    run_dir(dir, sizeof dir, "pause");
    sn_engine *en = sn_engine_new();
    sn_search_settings s = tiny(4);
    s.epochs = 2; /* ~45 batches per candidate: time to catch one training */
    sn_error e;
    int h = sn_engine_start(en, dir, &s, 0, &e);
    assert_true(wait_for(en, h, is_training, NULL));
    assert_int_equal(sn_engine_exec(en, h, "pause", NULL, NULL, &e), 0);
    assert_true(wait_for(en, h, is_paused, NULL));
    const sn_snapshot *a = sn_engine_snapshot(en, h);
    usleep(300000);
    /* A paused engine publishes nothing by itself, so a snapshot taken
     * now would be `a` again and prove nothing. A setting sent while
     * paused in the middle of training makes it publish a fresh one (at
     * once, and the run stays paused): that one must show the training
     * exactly where `a` left it. */
    assert_int_equal(sn_engine_exec(en, h, "set max-params 900k", NULL, NULL,
                                    &e), 0);
    int64_t want = 900000;
    assert_true(wait_for(en, h, has_max_params, &want));
    const sn_snapshot *b = sn_engine_snapshot(en, h);
    assert_true(b->generation > a->generation);
    assert_int_equal(b->state, SN_RUN_PAUSED);
    assert_int_equal(a->n_records, b->n_records);
    assert_int_equal(a->current, b->current);
    assert_int_equal(a->progress.batch, b->progress.batch);
    assert_int_equal(a->progress.epoch, b->progress.epoch);
    sn_snapshot_release(a);
    sn_snapshot_release(b);
    assert_int_equal(sn_engine_exec(en, h, "resume", NULL, NULL, &e), 0);
    assert_int_equal(sn_engine_wait(en, h, 120), 1);
    const sn_snapshot *c = sn_engine_snapshot(en, h);
    assert_int_equal(c->state, SN_RUN_DONE);
    assert_int_equal(c->n_records, 4);
    /* paused time is not training time */
    for (int i = 0; i < c->n_records; i++) assert_true(c->cands[i].seconds < 30);
    sn_snapshot_release(c);
    sn_engine_free(en);
}

/* Stop drops the candidate in flight; resume continues; a run stopped
 * by freeing the engine reopens where it was. */
static void test_engine_stop_and_reopen(void **state) {
    (void)state;
    char dir[512];
    run_dir(dir, sizeof dir, "stop");
    sn_engine *en = sn_engine_new();
    sn_search_settings s = tiny(6);
    sn_error e;
    int h = sn_engine_start(en, dir, &s, 0, &e);
    int two = 2;
    assert_true(wait_for(en, h, has_records, &two));
    assert_int_equal(sn_engine_stop(en, h, &e), 0);
    assert_int_equal(sn_engine_wait(en, h, 60), 1);
    const sn_snapshot *a = sn_engine_snapshot(en, h);
    assert_int_equal(a->state, SN_RUN_STOPPED);
    assert_int_equal(a->current, -1);
    int n_stop = a->n_records;
    sn_snapshot_release(a);
    assert_int_equal(sn_engine_resume(en, h, &e), 0);
    int four = n_stop + 1 < 6 ? n_stop + 1 : 6;
    assert_true(wait_for(en, h, has_records, &four));
    sn_engine_free(en); /* mid-run: the candidate in flight is dropped */

    en = sn_engine_new();
    h = sn_engine_open(en, dir, 0, &e);
    assert_int_equal(h, 0);
    assert_int_equal(sn_engine_wait(en, h, 120), 1);
    const sn_snapshot *b = sn_engine_snapshot(en, h);
    assert_int_equal(b->state, SN_RUN_DONE);
    assert_int_equal(b->n_records, 6);
    sn_snapshot_release(b);
    sn_engine_free(en);
    /* opening a damaged run reports the file */
    char p[600];
    snprintf(p, sizeof p, "%s/settings.json", dir);
    unlink(p);
    en = sn_engine_new();
    assert_int_equal(sn_engine_open(en, dir, 0, &e), -1);
    assert_non_null(strstr(e.msg, "settings.json"));
    assert_int_equal(sn_engine_count(en), 0);
    sn_engine_free(en);
}

/* Text commands: good ones change things, bad ones change nothing and
 * say why in one sentence. */
static void test_engine_commands(void **state) {
    (void)state;
    char dir[512];
    run_dir(dir, sizeof dir, "commands");
    sn_engine *en = sn_engine_new();
    sn_search_settings s = tiny(4);
    sn_error e;
    /* start paused: nothing runs until told */
    int h = sn_engine_start(en, dir, &s, 1, &e);
    char reply[SN_LOG_TEXT_LEN];
    static const tu_case bad[] = {
        {"frobnicate", "unknown command"},
        {"p", "ambiguous"},
        {"set max-params lots", "max-params"},
        {"set seed 3", "fixed"},
        {"set colour red", "unknown setting"},
        {"set max-params", "usage"},
        {"ban nothing", "unknown operator"},
        {"pin nothing", "unknown operator"},
        {"enqueue 7 wider", "no candidate 7"},
        {"enqueue x wider", "usage"},
        {"fork 5", "not a trained candidate"},
        {"fork 0 --epochs zero", "epochs"},
        {"pause now", "no arguments"},
        {"", "empty"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        e.msg[0] = 0;
        if (sn_engine_exec(en, h, bad[i].in, reply, NULL, &e) != -1)
            fail_msg("'%s' was accepted", bad[i].in);
        if (!strstr(e.msg, bad[i].msg))
            fail_msg("'%s': got '%s', wanted '%s'", bad[i].in, e.msg,
                     bad[i].msg);
    }
    assert_int_equal(sn_engine_exec(en, h, "set max-params 5k", reply, NULL, &e), 0);
    assert_int_equal(sn_engine_exec(en, h, "ban prune", reply, NULL, &e), 0);
    assert_int_equal(sn_engine_exec(en, h, "pin wider", reply, NULL, &e), 0);
    assert_int_equal(sn_engine_exec(en, h, "res", reply, NULL, &e), 0); /* prefix */
    int two = 2;
    assert_true(wait_for(en, h, has_records, &two));
    /* unpin, then queue a user morph of root 0: the next record is it */
    assert_int_equal(sn_engine_exec(en, h, "pin none", reply, NULL, &e), 0);
    assert_int_equal(sn_engine_exec(en, h, "enqueue 0 narrow-kernel:conv1:1",
                                     reply, NULL, &e), 0);
    assert_non_null(strstr(reply, "queued"));
    assert_int_equal(sn_engine_wait(en, h, 120), 1);
    const sn_snapshot *a = sn_engine_snapshot(en, h);
    assert_int_equal(a->settings.max_params, 5000);
    assert_close(a->settings.rates[SN_MORPH_PRUNE], 0, 0);
    assert_int_equal(a->settings.pinned, -1);
    int found = 0;
    for (int i = 2; i < a->n_records; i++) {
        const sn_cand_info *c = &a->cands[i];
        assert_true(c->params <= 5000 || c->status == SN_CAND_INFEASIBLE);
        assert_true(strncmp(c->morph, "prune", 5) != 0);
        if (c->parent == 0 && !strncmp(c->morph, "narrow-kernel", 13)) found = 1;
    }
    assert_true(found);
    sn_snapshot_release(a);
    /* set budget after done: the search goes on */
    assert_int_equal(sn_engine_exec(en, h, "set max-candidates 5", reply, NULL, &e), 0);
    int five = 5;
    assert_true(wait_for(en, h, has_records, &five));
    assert_int_equal(sn_engine_wait(en, h, 120), 1);
    sn_engine_free(en);
}

/* Fork from the explorer's command line: a second search appears, the
 * parent pauses, the fork runs to its own budget and records its origin. */
static void test_engine_fork(void **state) {
    (void)state;
    char dir[512], fdir[600];
    run_dir(dir, sizeof dir, "parent");
    snprintf(fdir, sizeof fdir, "%s/child", tmp_root);
    tu_rm_rf(fdir);
    sn_engine *en = sn_engine_new();
    sn_search_settings s = tiny(30);
    sn_error e;
    int h = sn_engine_start(en, dir, &s, 0, &e);
    int three = 3;
    assert_true(wait_for(en, h, has_records, &three));
    const sn_snapshot *a = sn_engine_snapshot(en, h);
    int id = 0;
    while (a->cands[id].status != SN_CAND_DONE) id++;
    sn_snapshot_release(a);
    char line[800], reply[SN_LOG_TEXT_LEN];
    snprintf(line, sizeof line, "fork %d --run %s --max-candidates 3 "
                                "--strategy evolution", id, fdir);
    int nh = -1;
    assert_int_equal(sn_engine_exec(en, h, line, reply, &nh, &e), 0);
    assert_int_equal(nh, 1);
    assert_int_equal(sn_engine_count(en), 2);
    assert_non_null(strstr(reply, "forked"));
    assert_true(wait_for(en, h, is_paused, NULL));
    assert_int_equal(sn_engine_wait(en, nh, 120), 1);
    const sn_snapshot *f = sn_engine_snapshot(en, nh);
    assert_int_equal(f->state, SN_RUN_DONE);
    assert_int_equal(f->n_records, 3);
    assert_int_equal(f->settings.strategy, SN_STRAT_EVOLUTION);
    assert_string_equal(f->settings.origin_run, dir);
    assert_int_equal(f->settings.origin_cand, id);
    assert_int_equal(f->cands[0].parent, -1);
    sn_snapshot_release(f);
    /* the parent is still paused, and can be stopped */
    const sn_snapshot *p = sn_engine_snapshot(en, h);
    assert_int_equal(p->state, SN_RUN_PAUSED);
    sn_snapshot_release(p);
    /* a fork with a default directory name */
    assert_int_equal(sn_engine_fork(en, h, id, NULL, NULL, 0, &e), 2);
    const sn_snapshot *g = sn_engine_snapshot(en, 2);
    assert_non_null(strstr(g->dir, "-fork"));
    sn_snapshot_release(g);
    assert_int_equal(sn_engine_stop(en, 2, &e), 0);
    assert_int_equal(sn_engine_stop(en, h, &e), 0);
    assert_int_equal(sn_engine_wait(en, h, 60), 1);
    sn_engine_free(en);
}

#define T(f) TU_TIMED(f)

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_engine_runs_search),
        T(test_engine_concurrent_readers),
        T(test_engine_pause_resume),
        T(test_engine_stop_and_reopen),
        T(test_engine_commands),
        T(test_engine_fork),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
