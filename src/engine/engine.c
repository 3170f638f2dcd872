/* engine.c — background threads that run searches; commands in,
 * immutable snapshots out (see include/slimnas/engine.h).
 *
 * Ownership. Each search (struct srch) has one thread, which alone
 * touches its sn_search, its log ring and its progress. Other threads
 * reach a search only through:
 *   s->mu     the command queue, pause/stop/quit flags, and the detail
 *             store (graph copies and curves, for sn_engine_candidate
 *             and for validating enqueue); held briefly, never while
 *             training or proposing
 *   s->pub_mu the current snapshot pointer (and pub_cv for waiters)
 *   atomics   pause/stop flags read by the progress callback
 * The training slot (slot_mu/slot_cv/slot_busy) is process-wide because
 * the worker pool is: one candidate trains at a time. */
#include "slimnas/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- the training slot ---------------------------------------------- */

static pthread_mutex_t slot_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slot_cv = PTHREAD_COND_INITIALIZER;
static int slot_busy;

/* Waits for the slot; gives up (returns -1) when *abort becomes set. */
static int slot_acquire(const atomic_int *abort_flag) {
    pthread_mutex_lock(&slot_mu);
    while (slot_busy && !atomic_load(abort_flag))
        pthread_cond_wait(&slot_cv, &slot_mu);
    int ok = !slot_busy;
    if (ok) slot_busy = 1;
    pthread_mutex_unlock(&slot_mu);
    return ok ? 0 : -1;
}

static void slot_acquire_always(void) {
    pthread_mutex_lock(&slot_mu);
    while (slot_busy) pthread_cond_wait(&slot_cv, &slot_mu);
    slot_busy = 1;
    pthread_mutex_unlock(&slot_mu);
}

static void slot_release(void) {
    pthread_mutex_lock(&slot_mu);
    slot_busy = 0;
    pthread_cond_broadcast(&slot_cv);
    pthread_mutex_unlock(&slot_mu);
}

static void slot_kick(void) { /* wake waiters to re-check their flags */
    pthread_mutex_lock(&slot_mu);
    pthread_cond_broadcast(&slot_cv);
    pthread_mutex_unlock(&slot_mu);
}

/* ---- snapshots ---------------------------------------------------------- */

typedef struct snap_block {
    atomic_int refs;
    sn_snapshot s;
    /* arrays follow in the same allocation */
} snap_block;

static snap_block *block_of(const sn_snapshot *s) {
    return (snap_block *)((char *)s - offsetof(snap_block, s));
}

void sn_snapshot_release(const sn_snapshot *s) {
    if (!s) return;
    snap_block *b = block_of(s);
    if (atomic_fetch_sub(&b->refs, 1) == 1) free(b);
}

/* ---- data cache ------------------------------------------------------- */

typedef struct dentry {
    char key[SN_SEARCH_PATH_LEN + 96];
    sn_data *d;
    int refs;
} dentry;

/* ---- searches ----------------------------------------------------------- */

enum { CMD_SET, CMD_ENQUEUE };

typedef struct cmd {
    int kind;
    int cand;
    char key[64];
    char val[SN_SEARCH_PATH_LEN];
} cmd;

typedef struct det {
    sn_cand_info info;
    sn_graph *graph;
    double *loss, *val;
    int n;
} det;

typedef struct srch {
    sn_engine *en;
    int h;
    char dir[SN_SEARCH_PATH_LEN];
    char name[64];
    pthread_t th;
    int th_started;

    /* under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    cmd *q;
    int nq, capq;
    int paused, stop_req, quit;
    det *det;
    int n_det, cap_det;

    atomic_int pause_flag, stop_flag;

    /* under pub_mu */
    pthread_mutex_t pub_mu;
    pthread_cond_t pub_cv;
    snap_block *cur;

    /* the search thread's own */
    sn_search *se;
    sn_data *train, *full;
    sn_log_line log[SN_LOG_KEEP];
    int log_n, log_head;
    uint64_t log_seq;
    sn_run_state state;
    char message[512];
    sn_job *job;        /* in flight */
    sn_progress prog;
    int current;
    int final_k, final_n;
    double last_pub, pause_t0;
    int holds_slot;
    int done_logged;
    /* jobs trained by an evaluator's workers (NULL: here) */
    const sn_evaluator *ev;
    sn_job *slot_job[SN_MAX_WORKERS];
    sn_worker_info workers[SN_MAX_WORKERS];
    double slot_t0[SN_MAX_WORKERS];
    sn_job **retry; /* jobs of lost workers, to send again */
    int n_retry;
    double ctl_seconds; /* controller time: propose, pack, record */
    int ctl_jobs;
} srch;

struct sn_engine {
    pthread_mutex_t mu; /* searches array */
    pthread_mutex_t data_mu; /* data cache (held while a dataset opens) */
    srch **s;
    int n, cap;
    int pipe[2];
    atomic_uint_fast64_t gen;
    dentry *dc;
    int n_dc;
    sn_evaluator ev;
    int has_ev, ev_taken;
};

const char *sn_run_state_name(sn_run_state s) {
    static const char *const n[] = {
        "starting", "running", "paused", "final", "done", "stopped",
        "failed"};
    _Static_assert(sizeof n / sizeof n[0] == SN_RUN_COUNT, "run state names");
    return (unsigned)s < SN_RUN_COUNT ? n[s] : "?";
}

int sn_run_state_over(sn_run_state s) {
    return s == SN_RUN_DONE || s == SN_RUN_STOPPED || s == SN_RUN_FAILED;
}

static void wake(sn_engine *en) {
    char c = 1;
    ssize_t r = write(en->pipe[1], &c, 1);
    (void)r; /* a full pipe already wakes the reader */
}

/* Builds and publishes a snapshot of s (search thread only). */
static void publish(srch *s) {
    sn_search *se = s->se;
    int n_rec = se ? sn_search_count(se) : 0;
    int n_c = n_rec + (s->job ? 1 : 0);
    const int *front = NULL;
    int n_f = se ? sn_search_front(se, &front) : 0;
    int n_q = se ? sn_search_queue_len(se) : 0;
    size_t sz = sizeof(snap_block) + (size_t)n_c * sizeof(sn_cand_info) +
                (size_t)n_f * sizeof(int) +
                (size_t)n_q * sizeof(sn_queue_item) +
                (size_t)s->log_n * sizeof(sn_log_line) + 64;
    snap_block *b = sn_xcalloc(1, sz);
    atomic_init(&b->refs, 1);
    sn_snapshot *o = &b->s;
    /* arrays after the header; sn_cand_info (doubles) first for alignment */
    char *p = (char *)(b + 1);
    sn_cand_info *cands = (sn_cand_info *)p;
    p += (size_t)n_c * sizeof(sn_cand_info);
    sn_log_line *log = (sn_log_line *)p;
    p += (size_t)s->log_n * sizeof(sn_log_line);
    sn_queue_item *queue = (sn_queue_item *)p;
    p += (size_t)n_q * sizeof(sn_queue_item);
    int *fr = (int *)p;

    o->search = s->h;
    snprintf(o->dir, sizeof o->dir, "%s", s->dir);
    snprintf(o->name, sizeof o->name, "%s", s->name);
    o->state = s->state;
    snprintf(o->message, sizeof o->message, "%s", s->message);
    if (se) o->settings = *sn_search_settings_get(se);
    for (int i = 0; i < n_rec; i++) cands[i] = *sn_search_cand(se, i);
    if (s->job) cands[n_rec] = *sn_job_info(s->job);
    o->n_cands = n_c;
    o->n_records = n_rec;
    o->cands = cands;
    if (n_f) memcpy(fr, front, (size_t)n_f * sizeof(int));
    o->n_front = n_f;
    o->front = fr;
    o->hypervolume = se ? sn_search_hypervolume(se) : 0;
    o->current = s->current;
    o->progress = s->prog;
    o->final_k = s->final_k;
    o->final_n = s->final_n;
    o->elapsed = se ? sn_search_elapsed(se) : 0;
    for (int i = 0; i < n_q; i++) {
        const char *m;
        sn_search_queue_item(se, i, &queue[i].parent, &m);
        snprintf(queue[i].morph, sizeof queue[i].morph, "%s", m);
    }
    o->n_queue = n_q;
    o->queue = queue;
    for (int i = 0; i < s->log_n; i++)
        log[i] = s->log[(s->log_head + i) % SN_LOG_KEEP];
    o->n_log = s->log_n;
    o->log = log;
    if (s->ev) {
        o->n_workers = s->ev->n_slots;
        for (int k = 0; k < s->ev->n_slots; k++) {
            o->workers[k] = s->workers[k];
            if (s->slot_job[k])
                o->workers[k].seconds = sn_now() - s->slot_t0[k];
        }
        o->controller_seconds = s->ctl_seconds;
        o->controller_jobs = s->ctl_jobs;
    }

    pthread_mutex_lock(&s->pub_mu);
    o->generation = atomic_fetch_add(&s->en->gen, 1) + 1;
    snap_block *old = s->cur;
    s->cur = b;
    pthread_cond_broadcast(&s->pub_cv);
    pthread_mutex_unlock(&s->pub_mu);
    if (old) sn_snapshot_release(&old->s);
    s->last_pub = sn_now();
    wake(s->en);
}

static void logf_(srch *s, sn_log_level lv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void logf_(srch *s, sn_log_level lv, const char *fmt, ...) {
    int at;
    if (s->log_n < SN_LOG_KEEP) {
        at = (s->log_head + s->log_n) % SN_LOG_KEEP;
        s->log_n++;
    } else {
        at = s->log_head;
        s->log_head = (s->log_head + 1) % SN_LOG_KEEP;
    }
    sn_log_line *l = &s->log[at];
    l->seq = ++s->log_seq;
    /* search time, the clock of the status bar and the budget */
    l->time = s->se ? sn_search_elapsed(s->se) : 0;
    l->level = lv;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->text, sizeof l->text, fmt, ap);
    va_end(ap);
}

/* ---- detail store (under s->mu) ------------------------------------------ */

static void det_put(srch *s, const sn_cand_info *info, const sn_graph *g,
                    const double *loss, const double *val, int n) {
    pthread_mutex_lock(&s->mu);
    int id = info->id;
    if (id >= s->cap_det) {
        int cap = s->cap_det ? s->cap_det : 64;
        while (cap <= id) cap *= 2;
        s->det = sn_xrealloc(s->det, (size_t)cap * sizeof *s->det);
        memset(s->det + s->cap_det, 0,
               (size_t)(cap - s->cap_det) * sizeof *s->det);
        s->cap_det = cap;
    }
    det *d = &s->det[id];
    d->info = *info;
    if (g) {
        sn_graph_free(d->graph);
        d->graph = sn_graph_clone(g);
    }
    free(d->loss);
    free(d->val);
    d->loss = d->val = NULL;
    d->n = 0;
    if (n > 0 && loss && val) {
        d->loss = sn_xmalloc((size_t)n * sizeof(double));
        d->val = sn_xmalloc((size_t)n * sizeof(double));
        memcpy(d->loss, loss, (size_t)n * sizeof(double));
        memcpy(d->val, val, (size_t)n * sizeof(double));
        d->n = n;
    }
    if (id >= s->n_det) s->n_det = id + 1;
    pthread_mutex_unlock(&s->mu);
}

static void det_put_record(srch *s, int id) {
    const double *l, *v;
    int n;
    sn_search_curve(s->se, id, &l, &v, &n);
    det_put(s, sn_search_cand(s->se, id), sn_search_graph(s->se, id), l, v, n);
}

/* ---- data ------------------------------------------------------------- */

static sn_data *data_get(sn_engine *en, const sn_search_settings *st,
                         int full, sn_error *e) {
    sn_data_opts o = sn_settings_data_opts(st, full);
    char key[sizeof en->dc[0].key];
    snprintf(key, sizeof key, "%s|%.6g|%lld|%llu", st->data, o.val_split,
             (long long)o.max_train, (unsigned long long)o.seed);
    pthread_mutex_lock(&en->data_mu);
    for (int i = 0; i < en->n_dc; i++)
        if (en->dc[i].d && !strcmp(en->dc[i].key, key)) {
            en->dc[i].refs++;
            sn_data *d = en->dc[i].d;
            pthread_mutex_unlock(&en->data_mu);
            return d;
        }
    /* Opened under the lock so two searches of the same data share one
     * copy; others wait a moment. */
    sn_data *d = sn_data_open(st->data, &o, e);
    if (d) {
        en->dc = sn_xrealloc(en->dc, (size_t)(en->n_dc + 1) * sizeof *en->dc);
        dentry *x = &en->dc[en->n_dc++];
        snprintf(x->key, sizeof x->key, "%s", key);
        x->d = d;
        x->refs = 1;
    }
    pthread_mutex_unlock(&en->data_mu);
    return d;
}

static void data_put(sn_engine *en, sn_data *d) {
    if (!d) return;
    pthread_mutex_lock(&en->data_mu);
    for (int i = 0; i < en->n_dc; i++)
        if (en->dc[i].d == d && --en->dc[i].refs == 0) {
            sn_data_free(d);
            en->dc[i].d = NULL;
        }
    pthread_mutex_unlock(&en->data_mu);
}

/* ---- the search thread ------------------------------------------------------ */

static void apply_commands(srch *s);

/* Called by the trainer after every batch: records progress, publishes
 * at most every 100 ms, and blocks while the search is paused (giving
 * the training slot to other searches meanwhile). */
static void on_progress(void *ctx, const sn_progress *p) {
    srch *s = ctx;
    s->prog = *p;
    if (atomic_load(&s->pause_flag) && !atomic_load(&s->stop_flag)) {
        double t0 = sn_now();
        sn_run_state was = s->state;
        slot_release();
        s->holds_slot = 0;
        s->state = SN_RUN_PAUSED;
        logf_(s, SN_LOG_INFO, "paused");
        publish(s);
        /* Commands sent while paused (set, enqueue) take effect now, so
         * a paused run shows its new limits; they only touch settings and
         * the queue, never the job in flight. */
        pthread_mutex_lock(&s->mu);
        while (s->paused && !s->stop_req && !s->quit) {
            if (s->nq > 0) {
                pthread_mutex_unlock(&s->mu);
                apply_commands(s);
                pthread_mutex_lock(&s->mu);
                continue;
            }
            pthread_cond_wait(&s->cv, &s->mu);
        }
        pthread_mutex_unlock(&s->mu);
        /* Take the slot back even when stopping: the trainer returns
         * through its normal path, which may still evaluate (pool). */
        slot_acquire_always();
        s->holds_slot = 1;
        s->state = was;
        if (!atomic_load(&s->stop_flag)) logf_(s, SN_LOG_INFO, "resumed");
        if (s->job) sn_job_exclude_time(s->job, sn_now() - t0);
        publish(s);
        return;
    }
    if (sn_now() - s->last_pub >= 0.1 || p->batch == p->batches) publish(s);
}

static void on_final(void *ctx, int id, int k, int n, int epochs) {
    srch *s = ctx;
    s->final_k = k;
    s->final_n = n;
    s->current = id;
    memset(&s->prog, 0, sizeof s->prog);
    s->prog.epochs = epochs; /* known before its first batch */
    logf_(s, SN_LOG_INFO, "final: retraining #%d (%d of %d) on the full "
                          "training set", id, k + 1, n);
    publish(s);
}

static void apply_commands(srch *s) {
    pthread_mutex_lock(&s->mu);
    cmd *q = s->q;
    int n = s->nq;
    s->q = NULL;
    s->nq = s->capq = 0;
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < n; i++) {
        sn_error e;
        if (q[i].kind == CMD_SET) {
            if (sn_search_set(s->se, q[i].key, q[i].val, &e))
                logf_(s, SN_LOG_ERROR, "set %s: %s", q[i].key, e.msg);
            else
                logf_(s, SN_LOG_INFO, "set %s %s", q[i].key, q[i].val);
        } else {
            if (sn_search_enqueue(s->se, q[i].cand, q[i].val, &e))
                logf_(s, SN_LOG_ERROR, "enqueue %d %s: %s", q[i].cand,
                      q[i].val, e.msg);
            else
                logf_(s, SN_LOG_INFO, "queued %s of #%d", q[i].val,
                      q[i].cand);
        }
    }
    free(q);
    if (n) publish(s);
}

/* Waits until a command arrives or the stop/pause flags differ from the
 * values the caller acted on (st, pa: read at the top of its loop, so a
 * change made since then is not missed). */
static void wait_for_change(srch *s, int st, int pa) {
    pthread_mutex_lock(&s->mu);
    while (!s->quit && s->nq == 0 && s->stop_req == st && s->paused == pa)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
}

static void fail(srch *s, const char *msg) {
    s->state = SN_RUN_FAILED;
    snprintf(s->message, sizeof s->message, "%s", msg);
    logf_(s, SN_LOG_ERROR, "%s", msg);
    publish(s);
}

/* One line per record: what a narrow pane must show comes first (id,
 * accuracy, size), the morph's description, the longest part, last. */
static void log_record(srch *s, int id) {
    const sn_cand_info *c = sn_search_cand(s->se, id);
    char p[32], f[32], from[32];
    sn_fmt_int(p, sizeof p, c->params);
    sn_fmt_si(f, sizeof f, (double)c->flops);
    if (c->parent >= 0) snprintf(from, sizeof from, "from #%d", c->parent);
    else snprintf(from, sizeof from, "root");
    if (c->status == SN_CAND_DONE)
        logf_(s, SN_LOG_INFO, "#%d %.2f%% %s params %s MACs %.1fs front %d "
                              "hv %.4f; %s: %s",
              id, 100 * c->val_acc, p, f, c->seconds,
              sn_search_front(s->se, NULL), sn_search_hypervolume(s->se),
              from, c->op);
    else
        logf_(s, c->status == SN_CAND_FAILED ? SN_LOG_ERROR : SN_LOG_WARN,
              "#%d %s, %s params; %s: %s", id, sn_cand_status_name(c->status),
              p, from, c->op);
}

static int flag_quit(srch *s) {
    pthread_mutex_lock(&s->mu);
    int q = s->quit;
    pthread_mutex_unlock(&s->mu);
    return q;
}

static void run_final(srch *s) {
    const sn_search_settings *st = sn_search_settings_get(s->se);
    if ((st->final_n <= 0 && st->n_final_at == 0) ||
        sn_search_front(s->se, NULL) == 0)
        return;
    sn_error e;
    if (!s->full) {
        s->full = st->max_train > 0 ? data_get(s->en, st, 1, &e) : NULL;
        if (st->max_train > 0 && !s->full) {
            fail(s, e.msg);
            return;
        }
        if (sn_search_attach_data(s->se, s->train, s->full, &e)) {
            fail(s, e.msg);
            return;
        }
    }
    if (slot_acquire(&s->stop_flag)) return;
    s->holds_slot = 1;
    s->state = SN_RUN_FINAL;
    sn_job_ctl ctl = {&s->stop_flag, NULL, on_progress, s};
    int rc = sn_search_final(s->se, st->final_n, &ctl, on_final, s, &e);
    slot_release();
    s->holds_slot = 0;
    s->current = -1;
    s->final_n = s->final_k = 0;
    if (rc < 0) {
        fail(s, e.msg);
        return;
    }
    for (int i = 0; i < sn_search_count(s->se); i++) {
        const sn_cand_info *c = sn_search_cand(s->se, i);
        if (c->test_acc >= 0) det_put_record(s, i);
    }
    if (!atomic_load(&s->stop_flag))
        logf_(s, SN_LOG_INFO, "final: %d front members retrained", rc);
}

/* ---- jobs trained by remote workers ------------------------------------- */

static void record_new(srch *s, int before) {
    for (int i = before; i < sn_search_count(s->se); i++) {
        det_put_record(s, i);
        log_record(s, i);
    }
}

/* Records a job that came back (or failed): 0, or -1 with e. */
static int par_finish(srch *s, sn_job *j, sn_error *e) {
    const char *jerr = sn_job_error(j);
    int before = sn_search_count(s->se);
    if (jerr[0])
        logf_(s, SN_LOG_ERROR, "#%d failed: %s", before, jerr);
    if (sn_search_finish(s->se, j, e)) return -1;
    record_new(s, before);
    return 0;
}

static int par_busy(const srch *s) {
    int n = 0;
    for (int k = 0; k < s->ev->n_slots; k++) n += s->slot_job[k] != NULL;
    return n;
}

/* One round: hands jobs to idle workers (submit = 1), then waits a
 * little for one answer. 1 when work goes on, 0 when nothing is out and
 * nothing more can be proposed (budget used up, or no feasible morph),
 * -1 with e on an error that stops the search. */
static int par_round(srch *s, int submit, sn_error *e) {
    const sn_evaluator *ev = s->ev;
    int alive = 0;
    for (int k = 0; k < ev->n_slots; k++) {
        if (s->workers[k].state == SN_WORKER_LOST) continue;
        alive++;
        if (!submit || s->slot_job[k]) continue;
        double c0 = sn_now();
        sn_job *j = NULL;
        if (s->n_retry > 0) {
            j = s->retry[--s->n_retry];
        } else {
            if (sn_search_exhausted(s->se)) continue;
            int before = sn_search_count(s->se);
            int rc = sn_search_next(s->se, &j, e);
            record_new(s, before);
            if (rc < 0) return -1;
            if (rc == 0) continue;
        }
        unsigned char *buf;
        size_t n;
        sn_job_pack(j, &buf, &n);
        sn_job_sent(j);
        sn_error se;
        int rc = ev->submit(ev->ctx, k, buf, n, &se);
        free(buf);
        if (rc) {
            logf_(s, SN_LOG_WARN, "worker %d lost: %s", k + 1, se.msg);
            s->workers[k].state = SN_WORKER_LOST;
            s->retry = sn_xrealloc(s->retry,
                                   (size_t)(s->n_retry + 1) * sizeof *s->retry);
            s->retry[s->n_retry++] = j;
            alive--;
            continue;
        }
        s->slot_job[k] = j;
        s->slot_t0[k] = sn_now();
        s->ctl_seconds += s->slot_t0[k] - c0;
        s->workers[k].state = SN_WORKER_BUSY;
        s->workers[k].cand = sn_job_info(j)->id;
    }
    if (alive == 0)
        return sn_errf(e, "every worker is lost; the run can be resumed");
    if (par_busy(s) == 0) {
        if (s->n_retry > 0) return 1; /* sent next round */
        return 0;
    }
    int k;
    unsigned char *buf = NULL;
    size_t n = 0;
    int got = ev->wait(ev->ctx, 0.25, &k, &buf, &n);
    if (got == 0) {
        if (sn_now() - s->last_pub > 1) publish(s); /* worker clocks */
        return 1;
    }
    sn_job *j = s->slot_job[k];
    s->slot_job[k] = NULL;
    if (got == 2) {
        s->workers[k].state = SN_WORKER_LOST;
        s->workers[k].cand = -1;
        if (!j) return 1;
        int sends = sn_job_sent(j) - 1;
        logf_(s, SN_LOG_WARN, "worker %d lost while training #%d%s", k + 1,
              sn_job_info(j)->id, sends < 2 ? "; sending it to another" : "");
        if (sends < 2) {
            s->retry = sn_xrealloc(s->retry,
                                   (size_t)(s->n_retry + 1) * sizeof *s->retry);
            s->retry[s->n_retry++] = j;
            return 1;
        }
        sn_job_set_failed(j, "its worker was lost twice");
        return par_finish(s, j, e) ? -1 : 1;
    }
    s->workers[k].state = SN_WORKER_IDLE;
    s->workers[k].cand = -1;
    s->workers[k].done++;
    if (!j) { /* an answer nobody waits for */
        free(buf);
        return 1;
    }
    double c0 = sn_now();
    sn_error re;
    int rc = sn_job_apply_result(j, buf, n, &re);
    free(buf);
    if (rc == 1) { /* stopped on request */
        sn_search_abandon(s->se, j);
        return 1;
    }
    if (rc < 0) sn_job_set_failed(j, re.msg);
    if (par_finish(s, j, e)) return -1;
    s->ctl_seconds += sn_now() - c0;
    s->ctl_jobs++;
    publish(s);
    return 1;
}

/* Stops every job out (stop = 1) or lets them end, and waits for their
 * answers; the jobs are dropped (stop) or recorded. */
static void par_drain(srch *s, int stop) {
    if (!s->ev) return;
    if (stop)
        for (int k = 0; k < s->ev->n_slots; k++)
            if (s->slot_job[k]) s->ev->cancel(s->ev->ctx, k);
    sn_error e;
    while (par_busy(s) > 0) {
        int k;
        unsigned char *buf = NULL;
        size_t n = 0;
        int got = s->ev->wait(s->ev->ctx, 0.25, &k, &buf, &n);
        if (got == 0) continue;
        sn_job *j = s->slot_job[k];
        s->slot_job[k] = NULL;
        s->workers[k].cand = -1;
        if (got == 2) s->workers[k].state = SN_WORKER_LOST;
        else s->workers[k].state = SN_WORKER_IDLE;
        if (!j) {
            free(buf);
            continue;
        }
        int rc = got == 1 && !stop ? sn_job_apply_result(j, buf, n, &e) : 1;
        free(buf);
        if (rc == 0 && par_finish(s, j, &e) == 0) continue;
        if (rc == 0) continue; /* finish freed it */
        sn_search_abandon(s->se, j);
    }
    while (s->n_retry > 0) sn_search_abandon(s->se, s->retry[--s->n_retry]);
    publish(s);
}

void sn_engine_set_evaluator(sn_engine *en, const sn_evaluator *ev) {
    SN_ASSERT(ev->n_slots >= 1 && ev->n_slots <= SN_MAX_WORKERS);
    en->ev = *ev;
    en->has_ev = 1;
}

static void *search_main(void *arg) {
    srch *s = arg;
    sn_error e;
    const sn_search_settings *st = sn_search_settings_get(s->se);
    if (!s->train) s->train = data_get(s->en, st, 0, &e);
    if (!s->train || sn_search_attach_data(s->se, s->train, NULL, &e)) {
        fail(s, e.msg);
        goto wait_quit;
    }
    if (sn_search_warning(s->se)[0])
        logf_(s, SN_LOG_WARN, "%s", sn_search_warning(s->se));
    {
        char desc[4096];
        logf_(s, SN_LOG_INFO, "%s: %s, strategy %s", s->dir,
              sn_data_describe(s->train, desc, sizeof desc),
              sn_strategy_name(st->strategy));
        /* the data summary, a log line each */
        sn_data_summary(s->train, desc, sizeof desc);
        for (char *p = desc, *nl; *p; p = nl + 1) {
            nl = strchr(p, '\n');
            if (!nl) break;
            *nl = 0;
            if (!strncmp(p, "warning: ", 9))
                logf_(s, SN_LOG_WARN, "%s", p + 9);
            else
                logf_(s, SN_LOG_INFO, "%s", p);
        }
    }
    s->state = SN_RUN_RUNNING;
    publish(s);
    for (;;) {
        apply_commands(s);
        pthread_mutex_lock(&s->mu);
        int quit = s->quit, stop = s->stop_req, paused = s->paused;
        pthread_mutex_unlock(&s->mu);
        if (quit) {
            par_drain(s, 1);
            break;
        }
        if (stop) {
            par_drain(s, 1);
            if (s->state != SN_RUN_STOPPED) {
                s->state = SN_RUN_STOPPED;
                snprintf(s->message, sizeof s->message,
                         "stopped; the run can be resumed");
                logf_(s, SN_LOG_INFO, "stopped");
                publish(s);
            }
            wait_for_change(s, stop, paused);
            continue;
        }
        if (paused && s->ev && par_busy(s) > 0) {
            /* workers finish what they train; nothing new is sent */
            if (par_round(s, 0, &e) < 0) {
                fail(s, e.msg);
                wait_for_change(s, stop, paused);
                if (flag_quit(s)) break;
            }
            continue;
        }
        if (paused) {
            if (s->state != SN_RUN_PAUSED) {
                s->state = SN_RUN_PAUSED;
                logf_(s, SN_LOG_INFO, "paused");
                publish(s);
            }
            wait_for_change(s, stop, paused);
            continue;
        }
        if (s->state != SN_RUN_RUNNING) {
            s->state = SN_RUN_RUNNING;
            s->message[0] = 0;
            if (s->ev) sn_search_charge(s->se, 1); /* paused: not charged */
            publish(s);
        }
        if (s->ev) {
            int r = par_round(s, 1, &e);
            if (r < 0) {
                par_drain(s, 1);
                fail(s, e.msg);
                wait_for_change(s, stop, paused);
                if (flag_quit(s)) break;
                continue;
            }
            if (r == 1) continue;
            /* r == 0: nothing out, nothing to propose: the end below */
        }
        sn_job *job = NULL;
        int before = sn_search_count(s->se);
        int rc = s->ev || sn_search_exhausted(s->se)
                     ? 0
                     : sn_search_next(s->se, &job, &e);
        /* infeasible records made while proposing */
        for (int i = before; i < sn_search_count(s->se); i++) {
            det_put_record(s, i);
            log_record(s, i);
        }
        if (rc < 0) {
            fail(s, e.msg);
            wait_for_change(s, stop, paused);
            if (flag_quit(s)) break;
            continue;
        }
        if (rc == 0) {
            run_final(s);
            if (s->state == SN_RUN_FAILED) {
                wait_for_change(s, stop, paused);
                if (flag_quit(s)) break;
                continue;
            }
            if (atomic_load(&s->stop_flag)) continue; /* stop during final */
            int again = s->done_logged;
            s->done_logged = 1;
            s->state = SN_RUN_DONE;
            snprintf(s->message, sizeof s->message, "%s",
                     sn_search_exhausted(s->se)
                         ? "budget used up"
                         : "no feasible morph left to try");
            if (!again)
                logf_(s, SN_LOG_INFO, "done: %s; front %d, hypervolume %.4f",
                      s->message, sn_search_front(s->se, NULL),
                      sn_search_hypervolume(s->se));
            publish(s);
            wait_for_change(s, stop, paused);
            continue;
        }
        s->done_logged = 0;
        s->job = job;
        const sn_cand_info *ji = sn_job_info(job);
        s->current = ji->id;
        memset(&s->prog, 0, sizeof s->prog);
        det_put(s, ji, sn_job_graph(job), NULL, NULL, 0);
        publish(s);
        double wait0 = sn_now();
        int no_slot = slot_acquire(&s->stop_flag);
        /* waiting for another search to finish training is not this
         * search's time */
        sn_job_exclude_time(job, sn_now() - wait0);
        if (no_slot) {
            sn_search_abandon(s->se, job);
            s->job = NULL;
            s->current = -1;
            continue;
        }
        s->holds_slot = 1;
        sn_job_ctl ctl = {&s->stop_flag, NULL, on_progress, s};
        rc = sn_job_run(job, s->train, &ctl);
        slot_release();
        s->holds_slot = 0;
        if (rc == 1) {
            logf_(s, SN_LOG_INFO, "#%d dropped (stopped while training)",
                  ji->id);
            sn_search_abandon(s->se, job);
            s->job = NULL;
            s->current = -1;
            publish(s);
            continue;
        }
        int id = ji->id;
        const char *jerr = sn_job_error(job);
        if (jerr[0]) logf_(s, SN_LOG_ERROR, "#%d failed: %s", id, jerr);
        s->job = NULL;
        s->current = -1;
        if (sn_search_finish(s->se, job, &e)) {
            fail(s, e.msg);
            wait_for_change(s, stop, paused);
            if (flag_quit(s)) break;
            continue;
        }
        det_put_record(s, id);
        /* on_front flags of others may have changed: refresh statuses */
        log_record(s, id);
        publish(s);
    }
wait_quit:
    pthread_mutex_lock(&s->mu);
    while (!s->quit) pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- engine ----------------------------------------------------------------- */

sn_engine *sn_engine_new(void) {
    sn_engine *en = sn_xcalloc(1, sizeof *en);
    pthread_mutex_init(&en->mu, NULL);
    pthread_mutex_init(&en->data_mu, NULL);
    if (pipe(en->pipe) != 0) {
        free(en);
        return NULL;
    }
    for (int i = 0; i < 2; i++) {
        fcntl(en->pipe[i], F_SETFL, fcntl(en->pipe[i], F_GETFL) | O_NONBLOCK);
        fcntl(en->pipe[i], F_SETFD, FD_CLOEXEC);
    }
    atomic_init(&en->gen, 0);
    return en;
}

static void srch_free(srch *s) {
    if (s->th_started) pthread_join(s->th, NULL);
    while (s->n_retry > 0) sn_search_abandon(s->se, s->retry[--s->n_retry]);
    free(s->retry);
    if (s->job) sn_search_abandon(s->se, s->job);
    sn_search_free(s->se);
    data_put(s->en, s->train);
    if (s->full != s->train) data_put(s->en, s->full);
    for (int i = 0; i < s->n_det; i++) {
        sn_graph_free(s->det[i].graph);
        free(s->det[i].loss);
        free(s->det[i].val);
    }
    free(s->det);
    free(s->q);
    if (s->cur) sn_snapshot_release(&s->cur->s);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->pub_mu);
    pthread_cond_destroy(&s->pub_cv);
    free(s);
}

void sn_engine_free(sn_engine *en) {
    if (!en) return;
    pthread_mutex_lock(&en->mu);
    int n = en->n;
    pthread_mutex_unlock(&en->mu);
    for (int i = 0; i < n; i++) {
        srch *s = en->s[i];
        pthread_mutex_lock(&s->mu);
        s->quit = 1;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        atomic_store(&s->stop_flag, 1);
    }
    slot_kick();
    for (int i = 0; i < n; i++) srch_free(en->s[i]);
    free(en->s);
    for (int i = 0; i < en->n_dc; i++)
        if (en->dc[i].d) sn_data_free(en->dc[i].d);
    free(en->dc);
    close(en->pipe[0]);
    close(en->pipe[1]);
    pthread_mutex_destroy(&en->mu);
    pthread_mutex_destroy(&en->data_mu);
    free(en);
}

/* Takes se and a reference to its training data (from data_get). */
static int add_search(sn_engine *en, sn_search *se, sn_data *train,
                      int paused, sn_error *e) {
    srch *s = sn_xcalloc(1, sizeof *s);
    s->en = en;
    s->se = se;
    s->train = train;
    snprintf(s->dir, sizeof s->dir, "%s", sn_search_dir(se));
    const char *base = strrchr(s->dir, '/');
    while (base && base[1] == 0 && base > s->dir) { /* trailing slash */
        const char *q = base - 1;
        while (q > s->dir && *q != '/') q--;
        base = *q == '/' ? q : NULL;
        break;
    }
    snprintf(s->name, sizeof s->name, "%.63s", base ? base + 1 : s->dir);
    size_t nl = strlen(s->name);
    if (nl && s->name[nl - 1] == '/') s->name[nl - 1] = 0;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_init(&s->pub_mu, NULL);
    pthread_cond_init(&s->pub_cv, NULL);
    atomic_init(&s->pause_flag, paused ? 1 : 0);
    atomic_init(&s->stop_flag, 0);
    s->paused = paused;
    s->current = -1;
    s->state = SN_RUN_STARTING;
    for (int i = 0; i < sn_search_count(se); i++) det_put_record(s, i);
    pthread_mutex_lock(&en->mu);
    if (en->has_ev && !en->ev_taken) {
        en->ev_taken = 1;
        s->ev = &en->ev;
        sn_search_set_parallel(se, en->ev.n_slots);
        for (int k = 0; k < en->ev.n_slots; k++) s->workers[k].cand = -1;
    }
    if (en->n == en->cap) {
        en->cap = en->cap ? 2 * en->cap : 4;
        en->s = sn_xrealloc(en->s, (size_t)en->cap * sizeof *en->s);
    }
    s->h = en->n;
    en->s[en->n] = s;
    /* The first snapshot exists before the thread runs, so a client can
     * take one right away. */
    publish(s);
    if (pthread_create(&s->th, NULL, search_main, s) != 0) {
        pthread_mutex_unlock(&en->mu);
        srch_free(s); /* frees se too */
        return sn_errf(e, "cannot start a search thread");
    }
    s->th_started = 1;
    en->n++;
    pthread_mutex_unlock(&en->mu);
    return s->h;
}

/* Every network of se takes data d's images and classes; else one
 * sentence naming the run, what its networks take and what d has. */
static int check_fit(const sn_search *se, const sn_data *d, const char *spec,
                     sn_error *e) {
    for (int i = 0; i < sn_search_count(se); i++) {
        const sn_graph *g = sn_search_graph(se, i);
        sn_shape ds = sn_data_shape(d);
        if (g && (sn_train_check_fit(g, d, NULL) != 0)) {
            char a[32], b[32];
            return sn_errf(e, "%s: its networks take %s images of %d classes, "
                              "but %s has %s images of %d classes",
                           sn_search_dir(se), sn_shape_fmt(a, sizeof a, g->input),
                           g->classes, spec, sn_shape_fmt(b, sizeof b, ds),
                           sn_data_classes(d));
        }
    }
    return 0;
}

int sn_engine_start(sn_engine *en, const char *dir,
                    const sn_search_settings *st, int paused, sn_error *e) {
    if (sn_settings_check(st, e)) return -1;
    /* The data first: a dataset that cannot be read leaves no run
     * directory behind. */
    sn_data *d = data_get(en, st, 0, e);
    if (!d) return -1;
    sn_search *se = sn_search_create(dir, st, e);
    if (!se) {
        data_put(en, d);
        return -1;
    }
    return add_search(en, se, d, paused, e);
}

int sn_engine_open_data(sn_engine *en, const char *dir, const char *data,
                        int paused, sn_error *e) {
    sn_search *se = sn_search_open(dir, e);
    if (!se) return -1;
    sn_search_settings st = *sn_search_settings_get(se);
    if (data && *data) {
        if (sn_settings_set(&st, "data", data, e)) {
            sn_search_free(se);
            return -1;
        }
    }
    sn_data *d = data_get(en, &st, 0, e);
    if (!d) {
        if (e && !(data && *data)) {
            size_t l = strlen(e->msg);
            snprintf(e->msg + l, sizeof e->msg - l,
                     " (if the data moved: 'slimnas resume %s --data SPEC')",
                     dir);
        }
        sn_search_free(se);
        return -1;
    }
    if (check_fit(se, d, st.data, e) ||
        (data && *data && sn_search_set_data(se, st.data, e))) {
        data_put(en, d);
        sn_search_free(se);
        return -1;
    }
    return add_search(en, se, d, paused, e);
}

int sn_engine_open(sn_engine *en, const char *dir, int paused, sn_error *e) {
    return sn_engine_open_data(en, dir, NULL, paused, e);
}

int sn_engine_load_data(sn_engine *en, const sn_search_settings *st,
                        const sn_graph *g, char *summary, size_t n,
                        sn_error *e) {
    sn_data *d = data_get(en, st, 0, e);
    if (!d) return -1;
    if (summary) sn_data_summary(d, summary, n);
    /* the reference stays with the engine until sn_engine_free */
    if (g && sn_train_check_fit(g, d, NULL) != 0) {
        char a[32], b[32];
        return sn_errf(e, "the network takes %s images of %d classes, but %s "
                          "has %s images of %d classes",
                       sn_shape_fmt(a, sizeof a, g->input), g->classes,
                       st->data, sn_shape_fmt(b, sizeof b, sn_data_shape(d)),
                       sn_data_classes(d));
    }
    return 0;
}

static srch *get(sn_engine *en, int h, sn_error *e) {
    pthread_mutex_lock(&en->mu);
    srch *s = h >= 0 && h < en->n ? en->s[h] : NULL;
    pthread_mutex_unlock(&en->mu);
    if (!s) sn_errf(e, "no search %d", h);
    return s;
}

int sn_engine_count(sn_engine *en) {
    pthread_mutex_lock(&en->mu);
    int n = en->n;
    pthread_mutex_unlock(&en->mu);
    return n;
}

int sn_engine_fd(const sn_engine *en) { return en->pipe[0]; }

void sn_engine_drain(sn_engine *en) {
    char buf[256];
    while (read(en->pipe[0], buf, sizeof buf) > 0)
        ;
}

uint64_t sn_engine_generation(sn_engine *en) { return atomic_load(&en->gen); }

const sn_snapshot *sn_engine_snapshot(sn_engine *en, int h) {
    srch *s = get(en, h, NULL);
    if (!s) return NULL;
    pthread_mutex_lock(&s->pub_mu);
    snap_block *b = s->cur;
    atomic_fetch_add(&b->refs, 1);
    pthread_mutex_unlock(&s->pub_mu);
    return &b->s;
}

int sn_engine_wait(sn_engine *en, int h, double timeout) {
    srch *s = get(en, h, NULL);
    if (!s) return 0;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    if (timeout >= 0) {
        double t = until.tv_sec + until.tv_nsec * 1e-9 + timeout;
        until.tv_sec = (time_t)t;
        until.tv_nsec = (long)((t - (double)until.tv_sec) * 1e9);
    }
    pthread_mutex_lock(&s->pub_mu);
    int over = 0;
    for (;;) {
        over = sn_run_state_over(s->cur->s.state);
        if (over) break;
        if (timeout < 0) {
            pthread_cond_wait(&s->pub_cv, &s->pub_mu);
        } else if (pthread_cond_timedwait(&s->pub_cv, &s->pub_mu, &until) ==
                   ETIMEDOUT) {
            over = sn_run_state_over(s->cur->s.state);
            break;
        }
    }
    pthread_mutex_unlock(&s->pub_mu);
    return over;
}

/* ---- commands ---------------------------------------------------------- */

int sn_engine_pause(sn_engine *en, int h, sn_error *e) {
    srch *s = get(en, h, e);
    if (!s) return -1;
    pthread_mutex_lock(&s->mu);
    s->paused = 1;
    atomic_store(&s->pause_flag, 1);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

int sn_engine_resume(sn_engine *en, int h, sn_error *e) {
    srch *s = get(en, h, e);
    if (!s) return -1;
    pthread_mutex_lock(&s->mu);
    s->paused = 0;
    s->stop_req = 0;
    atomic_store(&s->pause_flag, 0);
    atomic_store(&s->stop_flag, 0);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

int sn_engine_stop(sn_engine *en, int h, sn_error *e) {
    srch *s = get(en, h, e);
    if (!s) return -1;
    pthread_mutex_lock(&s->mu);
    s->stop_req = 1;
    atomic_store(&s->stop_flag, 1);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    slot_kick();
    return 0;
}

static void push_cmd(srch *s, const cmd *c) {
    pthread_mutex_lock(&s->mu);
    if (s->nq == s->capq) {
        s->capq = s->capq ? 2 * s->capq : 8;
        s->q = sn_xrealloc(s->q, (size_t)s->capq * sizeof *s->q);
    }
    s->q[s->nq++] = *c;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

int sn_engine_set(sn_engine *en, int h, const char *key, const char *value,
                  sn_error *e) {
    srch *s = get(en, h, e);
    if (!s) return -1;
    int live = sn_settings_is_live(key);
    if (live < 0) return sn_errf(e, "unknown setting '%s'", key);
    if (!live)
        return sn_errf(e, "%s is fixed when a run starts (fork the run to "
                          "change it)", key);
    const sn_snapshot *snap = sn_engine_snapshot(en, h);
    sn_search_settings t = snap->settings;
    sn_snapshot_release(snap);
    if (sn_settings_set(&t, key, value, e) || sn_settings_check(&t, e))
        return -1;
    cmd c = {CMD_SET, -1, {0}, {0}};
    snprintf(c.key, sizeof c.key, "%s", key);
    snprintf(c.val, sizeof c.val, "%s", value);
    push_cmd(s, &c);
    return 0;
}

int sn_engine_enqueue(sn_engine *en, int h, int cand, const char *morph,
                      sn_error *e) {
    srch *s = get(en, h, e);
    if (!s) return -1;
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    if (cand < 0 || cand >= s->n_det || !s->det[cand].graph) {
        rc = sn_errf(e, "no candidate %d", cand);
    } else if (s->det[cand].info.status != SN_CAND_DONE) {
        rc = sn_errf(e, "candidate %d is %s; only trained candidates can be "
                        "morphed", cand,
                     sn_cand_status_name(s->det[cand].info.status));
    } else {
        sn_morph_op op;
        rc = sn_morph_parse(s->det[cand].graph, morph, 1, &op, e);
    }
    pthread_mutex_unlock(&s->mu);
    if (rc) return -1;
    cmd c = {CMD_ENQUEUE, cand, {0}, {0}};
    snprintf(c.val, sizeof c.val, "%s", morph);
    push_cmd(s, &c);
    return 0;
}

int sn_engine_candidate(sn_engine *en, int h, int cand, sn_cand_detail *out,
                        sn_error *e) {
    memset(out, 0, sizeof *out);
    srch *s = get(en, h, e);
    if (!s) return -1;
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    if (cand < 0 || cand >= s->n_det || !s->det[cand].graph) {
        rc = sn_errf(e, "no candidate %d", cand);
    } else {
        const det *d = &s->det[cand];
        out->info = d->info;
        out->graph = sn_graph_clone(d->graph);
        out->n_epochs = d->n;
        if (d->n) {
            out->loss = sn_xmalloc((size_t)d->n * sizeof(double));
            out->val_acc = sn_xmalloc((size_t)d->n * sizeof(double));
            memcpy(out->loss, d->loss, (size_t)d->n * sizeof(double));
            memcpy(out->val_acc, d->val, (size_t)d->n * sizeof(double));
        }
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void sn_cand_detail_free(sn_cand_detail *d) {
    sn_graph_free(d->graph);
    free(d->loss);
    free(d->val_acc);
    memset(d, 0, sizeof *d);
}

int sn_engine_fork(sn_engine *en, int h, int cand, const char *dir,
                   const sn_search_settings *st, int pause_parent,
                   sn_error *e) {
    srch *s = get(en, h, e);
    if (!s) return -1;
    pthread_mutex_lock(&s->mu);
    int ok = cand >= 0 && cand < s->n_det && s->det[cand].graph &&
             s->det[cand].info.status == SN_CAND_DONE;
    pthread_mutex_unlock(&s->mu);
    if (!ok) return sn_errf(e, "candidate %d is not a trained candidate of %s",
                            cand, s->dir);
    char path[SN_SEARCH_PATH_LEN];
    if (dir && *dir) {
        snprintf(path, sizeof path, "%s", dir);
    } else {
        struct stat sb;
        snprintf(path, sizeof path, "%.200s-fork%d", s->dir, cand);
        for (int k = 2; stat(path, &sb) == 0 && k < 1000; k++)
            snprintf(path, sizeof path, "%.200s-fork%d-%d", s->dir, cand, k);
    }
    sn_search_settings t;
    if (st) {
        t = *st;
    } else {
        const sn_snapshot *snap = sn_engine_snapshot(en, h);
        t = snap->settings;
        sn_snapshot_release(snap);
    }
    /* the data first (cached when it is the parent's): a dataset that
     * cannot be read or does not fit leaves no directory behind */
    sn_data *d = data_get(en, &t, 0, e);
    if (!d) return -1;
    pthread_mutex_lock(&s->mu);
    sn_graph *g = sn_graph_clone(s->det[cand].graph);
    pthread_mutex_unlock(&s->mu);
    int bad = sn_train_check_fit(g, d, e);
    sn_graph_free(g);
    if (bad || sn_search_fork(s->dir, cand, path, &t, e)) {
        data_put(en, d);
        return -1;
    }
    sn_search *se = sn_search_open(path, e);
    if (!se) {
        data_put(en, d);
        return -1;
    }
    int nh = add_search(en, se, d, 0, e);
    if (nh < 0) return -1;
    if (pause_parent) sn_engine_pause(en, h, NULL);
    return nh;
}
