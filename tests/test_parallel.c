/* test_parallel.c — jobs trained outside the search (what MPI workers
 * do), without MPI: the job and result messages round-trip and reject
 * damage; the engine with an in-process evaluator of several slots keeps
 * them busy, records every candidate once with dense ids, never trains
 * one graph twice at once, re-sends a lost slot's job once and then
 * records it failed; `--mpi` is a usage error when it cannot work. */
#include "testutil.h"

#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "slimnas/engine.h"
#include "slimnas/mpi.h"
#include "slimnas/tui.h"

static char tmp_root[256];
static sn_data *data;

static int setup(void **state) {
    (void)state;
    snprintf(tmp_root, sizeof tmp_root, "/tmp/sn_test_parallel_%d",
             (int)getpid());
    mkdir(tmp_root, 0755);
    sn_threads_init(1);
    sn_error e;
    sn_data_opts o = sn_data_opts_default();
    data = sn_data_open("synthetic:300", &o, &e);
    return data ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    sn_data_free(data);
    sn_threads_shutdown();
    tu_rm_rf(tmp_root);
    return 0;
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

/* A job of a fresh search's first root, packed. */
static sn_search *first_job(const char *name, sn_job **job) {
    char dir[300];
    snprintf(dir, sizeof dir, "%s/%s", tmp_root, name);
    tu_rm_rf(dir);
    sn_search_settings s = tiny(4);
    sn_error e;
    sn_search *se = sn_search_create(dir, &s, &e);
    if (!se) fail_msg("%s", e.msg);
    if (sn_search_attach_data(se, data, NULL, &e)) fail_msg("%s", e.msg);
    assert_int_equal(sn_search_next(se, job, &e), 1);
    return se;
}

static void test_job_round_trip(void **state) {
    (void)state;
    sn_job *j;
    sn_search *se = first_job("rt", &j);
    unsigned char *buf;
    size_t n;
    sn_job_pack(j, &buf, &n);
    sn_error e;
    sn_job *w = sn_job_unpack(buf, n, &e);
    if (!w) fail_msg("%s", e.msg);
    /* same graph, same weights, same options */
    char *a = sn_graph_to_json(sn_job_graph(j));
    char *b = sn_graph_to_json(sn_job_graph(w));
    assert_string_equal(a, b);
    free(a);
    free(b);
    /* what comes back packs to the same bytes: every field (the training
     * options among them) is read as it was written */
    unsigned char *again;
    size_t n2;
    sn_job_pack(w, &again, &n2);
    assert_int_equal(n2, n);
    assert_memory_equal(again, buf, n);
    free(again);
    /* every truncation and a flipped tag are refused, never read past */
    for (size_t cut = 0; cut < n; cut += n / 97 + 1) {
        sn_job *bad = sn_job_unpack(buf, cut, &e);
        if (bad) fail_msg("a job cut to %zu of %zu bytes was accepted", cut, n);
    }
    buf[0] ^= 1;
    assert_null(sn_job_unpack(buf, n, &e));
    buf[0] ^= 1;
    free(buf);

    /* the worker trains; the controller's job takes the result */
    assert_int_equal(sn_job_run(w, data, NULL), 0);
    unsigned char *r;
    size_t rn;
    sn_job_pack_result(w, 0, &r, &rn);
    for (size_t cut = 0; cut < rn; cut += rn / 53 + 1)
        assert_int_equal(sn_job_apply_result(j, r, cut, &e), -1);
    assert_int_equal(sn_job_apply_result(j, r, rn, &e), 0);
    assert_int_equal(sn_job_info(j)->status, sn_job_info(w)->status);
    assert_true(sn_job_info(j)->val_acc == sn_job_info(w)->val_acc);
    free(r);
    /* a stopped result means "abandon" */
    sn_job_pack_result(w, 1, &r, &rn);
    assert_int_equal(sn_job_apply_result(j, r, rn, &e), 1);
    free(r);
    sn_job_free(w);
    /* recorded with the worker's accuracy and its trained weights */
    if (sn_search_finish(se, j, &e)) fail_msg("%s", e.msg);
    assert_int_equal(sn_search_count(se), 1);
    sn_weights *tw = sn_search_load_weights(se, 0, 0, &e);
    assert_non_null(tw);
    sn_weights_free(tw);
    sn_search_free(se);
}

/* ---- an in-process evaluator: slots answer in reverse order ----------- */

typedef struct fake {
    int n_slots;
    unsigned char *job[4];
    size_t len[4];
    int sent, answered, max_busy, lose_slot, lost_reported, cancels;
    char graphs[64][4096]; /* every job sent, as JSON */
    int n_graphs;
    int dup_at_once;       /* two identical graphs out at the same time */
} fake;

static int f_submit(void *ctx, int slot, const unsigned char *buf, size_t n,
                    sn_error *e) {
    fake *f = ctx;
    if (slot == f->lose_slot && f->lost_reported)
        return sn_errf(e, "slot %d is gone", slot);
    f->job[slot] = sn_xmalloc(n);
    memcpy(f->job[slot], buf, n);
    f->len[slot] = n;
    f->sent++;
    int busy = 0;
    for (int k = 0; k < f->n_slots; k++) busy += f->job[k] != NULL;
    if (busy > f->max_busy) f->max_busy = busy;
    sn_error ue;
    sn_job *j = sn_job_unpack(buf, n, &ue);
    char *js = sn_graph_to_json(sn_job_graph(j));
    for (int k = 0; k < f->n_slots; k++)
        if (k != slot && f->job[k]) {
            sn_job *o = sn_job_unpack(f->job[k], f->len[k], &ue);
            char *os = sn_graph_to_json(sn_job_graph(o));
            if (!strcmp(os, js)) f->dup_at_once++;
            free(os);
            sn_job_free(o);
        }
    free(js);
    sn_job_free(j);
    return 0;
}

static int f_wait(void *ctx, double timeout, int *slot, unsigned char **buf,
                  size_t *n) {
    (void)timeout;
    fake *f = ctx;
    /* the highest busy slot answers first, so results come back in
     * another order than they were sent */
    for (int k = f->n_slots - 1; k >= 0; k--) {
        if (!f->job[k]) continue;
        if (k == f->lose_slot && !f->lost_reported) {
            f->lost_reported = 1;
            free(f->job[k]);
            f->job[k] = NULL;
            *slot = k;
            return 2;
        }
        sn_error e;
        sn_job *j = sn_job_unpack(f->job[k], f->len[k], &e);
        SN_ASSERT(j);
        int stopped = sn_job_run(j, data, NULL);
        sn_job_pack_result(j, stopped, buf, n);
        sn_job_free(j);
        free(f->job[k]);
        f->job[k] = NULL;
        f->answered++;
        *slot = k;
        return 1;
    }
    return 0;
}

static void f_cancel(void *ctx, int slot) {
    fake *f = ctx;
    (void)slot;
    f->cancels++;
}

static int is_over(const sn_snapshot *s) { return sn_run_state_over(s->state); }

static const sn_snapshot *run_to_end(sn_engine *en, int h) {
    double t0 = sn_now();
    while (sn_now() - t0 < 120) {
        struct pollfd p = {sn_engine_fd(en), POLLIN, 0};
        poll(&p, 1, 50);
        sn_engine_drain(en);
        const sn_snapshot *s = sn_engine_snapshot(en, h);
        if (is_over(s)) return s;
        sn_snapshot_release(s);
    }
    fail_msg("the search did not end in 120 s");
    return NULL;
}

static void check_log_ids(const char *dir, int want) {
    char p[512];
    snprintf(p, sizeof p, "%s/results.log", dir);
    char *text;
    size_t n;
    sn_error e;
    if (sn_read_file(p, &text, &n, &e)) fail_msg("%s", e.msg);
    int next = 0;
    for (char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
        int id;
        if (sscanf(l, "{\"id\":%d", &id) != 1 &&
            sscanf(l, "{\"id\": %d", &id) != 1)
            continue;
        if (id != next) fail_msg("log line of id %d where %d was due", id, next);
        next++;
    }
    free(text);
    assert_int_equal(next, want);
}

static void test_engine_with_slots(void **state) {
    (void)state;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/par", tmp_root);
    tu_rm_rf(dir);
    fake f = {0};
    f.n_slots = 3;
    f.lose_slot = -1;
    sn_evaluator ev = {3, &f, f_submit, f_wait, f_cancel};
    sn_engine *en = sn_engine_new();
    sn_engine_set_evaluator(en, &ev);
    sn_search_settings s = tiny(9);
    sn_error e;
    int h = sn_engine_start(en, dir, &s, 0, &e);
    if (h < 0) fail_msg("%s", e.msg);
    const sn_snapshot *snap = run_to_end(en, h);
    assert_int_equal(snap->state, SN_RUN_DONE);
    assert_int_equal(snap->n_records, 9);
    assert_int_equal(snap->n_workers, 3);
    int done = 0;
    for (int i = 0; i < snap->n_records; i++) {
        assert_int_equal(snap->cands[i].id, i);
        done += snap->cands[i].status == SN_CAND_DONE;
    }
    assert_true(done >= 2);
    sn_snapshot_release(snap);
    sn_engine_free(en);
    /* every slot was used at once, no graph was out twice at once, and
     * each trained job was recorded once */
    assert_int_equal(f.max_busy, 3);
    assert_int_equal(f.dup_at_once, 0);
    assert_int_equal(f.answered, f.sent);
    check_log_ids(dir, 9);
    /* the run resumes in one process */
    en = sn_engine_new();
    h = sn_engine_open(en, dir, 1, &e); /* paused until the new budget */
    if (h < 0) fail_msg("%s", e.msg);
    assert_int_equal(sn_engine_set(en, h, "max-candidates", "11", &e), 0);
    assert_int_equal(sn_engine_resume(en, h, &e), 0);
    snap = run_to_end(en, h);
    assert_int_equal(snap->n_records, 11);
    sn_snapshot_release(snap);
    sn_engine_free(en);
    check_log_ids(dir, 11);
}

static void test_lost_slot_resends_once(void **state) {
    (void)state;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/lost", tmp_root);
    tu_rm_rf(dir);
    fake f = {0};
    f.n_slots = 2;
    f.lose_slot = 1; /* slot 1 loses its first job, then refuses jobs */
    sn_evaluator ev = {2, &f, f_submit, f_wait, f_cancel};
    sn_engine *en = sn_engine_new();
    sn_engine_set_evaluator(en, &ev);
    sn_search_settings s = tiny(5);
    sn_error e;
    int h = sn_engine_start(en, dir, &s, 0, &e);
    if (h < 0) fail_msg("%s", e.msg);
    const sn_snapshot *snap = run_to_end(en, h);
    assert_int_equal(snap->state, SN_RUN_DONE);
    assert_int_equal(snap->n_records, 5);
    assert_int_equal(snap->workers[1].state, SN_WORKER_LOST);
    /* the lost job went to slot 0 and was recorded: nothing failed */
    for (int i = 0; i < snap->n_records; i++)
        assert_int_not_equal(snap->cands[i].status, SN_CAND_FAILED);
    int warned = 0;
    for (int i = 0; i < snap->n_log; i++)
        warned += strstr(snap->log[i].text, "worker 2 lost") != NULL;
    assert_true(warned >= 1);
    sn_snapshot_release(snap);
    sn_engine_free(en);
    check_log_ids(dir, 5);
}

static void test_mpi_usage_errors(void **state) {
    (void)state;
    const char *bin = getenv("SLIMNAS");
    if (!bin || !*bin) bin = "./slimnas";
    char cmd[1024], out[300];
    snprintf(out, sizeof out, "%s/mpi_err.txt", tmp_root);
    snprintf(cmd, sizeof cmd,
             "%s search --mpi --data synthetic:300 --run %s/never "
             "--max-candidates 2 >/dev/null 2>%s",
             bin, tmp_root, out);
    int st = system(cmd);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 2);
    char *text;
    size_t n;
    sn_error e;
    if (sn_read_file(out, &text, &n, &e)) fail_msg("%s", e.msg);
    if (sn_mpi_available())
        assert_non_null(strstr(text, "mpirun -n K"));
    else
        assert_non_null(strstr(text, "built without MPI"));
    free(text);
    snprintf(cmd, sizeof cmd, "%s/never", tmp_root);
    assert_int_not_equal(access(cmd, F_OK), 0); /* no run directory */
    snprintf(cmd, sizeof cmd,
             "%s search --mpi-timeout 5s --data synthetic:300 --run %s/never "
             ">/dev/null 2>&1",
             bin, tmp_root);
    st = system(cmd);
    assert_int_equal(WEXITSTATUS(st), 2);
}

/* The explorer's status bar names the workers' candidates and times. */
static void test_status_shows_workers(void **state) {
    (void)state;
    static sn_snapshot s;
    memset(&s, 0, sizeof s);
    snprintf(s.name, sizeof s.name, "demo");
    s.state = SN_RUN_RUNNING;
    s.current = -1;
    s.n_records = 9;
    s.n_workers = 3;
    s.workers[0] = (sn_worker_info){SN_WORKER_BUSY, 12, 8, 3};
    s.workers[1] = (sn_worker_info){SN_WORKER_LOST, -1, 0, 1};
    s.workers[2] = (sn_worker_info){SN_WORKER_BUSY, 13, 65, 4};
    char b[256];
    sn_tui_status(&s, 0, 1, 200, b, sizeof b);
    assert_non_null(strstr(b, "workers 2/2 busy, 1 lost 1:#12 8s 3:#13 1m05s"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_job_round_trip),
        cmocka_unit_test(test_engine_with_slots),
        cmocka_unit_test(test_lost_slot_resends_once),
        cmocka_unit_test(test_mpi_usage_errors),
        cmocka_unit_test(test_status_shows_workers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
