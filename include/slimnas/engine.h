/* slimnas/engine.h — runs searches in background threads. Commands go
 * in (pause, resume, stop, set, enqueue, ban, pin, fork); immutable
 * snapshots come out, announced by a generation counter and a byte on a
 * wake-up file descriptor. The explorer (src/tui) and the headless
 * command line are two clients of exactly this API; neither touches a
 * search directly.
 *
 *   sn_threads_init(0);                         // the worker pool first
 *   sn_engine *en = sn_engine_new();
 *   sn_search_settings s = sn_settings_default();
 *   ... fill s (data, limits, budget) ...
 *   int h = sn_engine_start(en, "runs/demo", &s, 0, &err); // -1 + err
 *   struct pollfd p = {sn_engine_fd(en), POLLIN, 0};     // + keyboard
 *   for (;;) {
 *       poll(&p, 1, -1);
 *       sn_engine_drain(en);
 *       const sn_snapshot *snap = sn_engine_snapshot(en, h);
 *       draw(snap);                  // read-only, as long as you like
 *       int over = sn_run_state_over(snap->state);
 *       sn_snapshot_release(snap);
 *       if (over) break;
 *   }
 *   sn_engine_exec(en, h, "set max-params 5k", NULL, &err); // from ':'
 *   sn_engine_free(en);              // stops and joins every search
 *
 * Threads. One thread per search. Training uses the process-wide worker
 * pool (sn_parallel_for is not re-entrant), so one candidate trains at a
 * time across all searches of all engines: a training slot is held while
 * a candidate trains and given up while it is paused. Every function
 * here may be called from any thread (normally the UI thread); none of
 * them waits for training. Proposals (the GP's acquisition search) run
 * in the search's thread too, outside any lock a caller can meet.
 *
 * Pause takes effect within one training batch: the search's progress
 * callback, called by the trainer after every batch, blocks while the
 * search is paused (and gives the training slot to other searches).
 *
 * Snapshots are immutable and reference-counted: take one with
 * sn_engine_snapshot, read it freely (no lock), release it. A new one is
 * published when a candidate is proposed, starts, finishes, every ~100 ms
 * of training progress, on every log line and state change. Each
 * publication bumps the engine's generation counter and writes a byte to
 * the wake-up pipe (non-blocking: bytes may coalesce).
 */
#ifndef SLIMNAS_ENGINE_H
#define SLIMNAS_ENGINE_H

#include "slimnas/search.h"

typedef enum sn_run_state {
    SN_RUN_STARTING, /* opening the dataset */
    SN_RUN_RUNNING,  /* proposing / training candidates */
    SN_RUN_PAUSED,
    SN_RUN_FINAL,    /* --final retraining of front members */
    SN_RUN_DONE,     /* budget used up (set budget ... to go on) */
    SN_RUN_STOPPED,  /* stopped by a command; resume continues it */
    SN_RUN_FAILED,   /* an error (message in snapshot->message) */
    SN_RUN_COUNT
} sn_run_state;

const char *sn_run_state_name(sn_run_state s); /* "running", ... */
/* 1 for done, stopped and failed: nothing will change unless told. */
int sn_run_state_over(sn_run_state s);

typedef enum { SN_LOG_INFO, SN_LOG_WARN, SN_LOG_ERROR } sn_log_level;

#define SN_LOG_TEXT_LEN 240
#define SN_LOG_KEEP 256 /* lines kept per search (the last ones) */

typedef struct sn_log_line {
    uint64_t seq;      /* per search, from 1; never reused */
    double time;       /* search time when logged (snapshot.elapsed) */
    sn_log_level level;
    char text[SN_LOG_TEXT_LEN];
} sn_log_line;

typedef struct sn_queue_item {
    int parent;
    char morph[SN_CAND_MORPH_LEN];
} sn_queue_item;

/* Everything a client shows about one search. Arrays belong to the
 * snapshot and live until it is released. */
/* A worker of a search whose jobs train elsewhere (MPI ranks). */
#define SN_MAX_WORKERS 64
typedef enum sn_worker_state {
    SN_WORKER_IDLE,
    SN_WORKER_BUSY, /* training `cand` */
    SN_WORKER_LOST  /* timed out or failed: never used again */
} sn_worker_state;
typedef struct sn_worker_info {
    sn_worker_state state;
    int cand;       /* provisional id of the job it trains (-1 none) */
    double seconds; /* on this job so far */
    int done;       /* jobs it has returned */
} sn_worker_info;

typedef struct sn_snapshot {
    uint64_t generation;   /* engine-wide, increases with every publish */
    int search;            /* the engine's handle for this search */
    char dir[SN_SEARCH_PATH_LEN]; /* "runs/demo" */
    char name[64];         /* "demo" (last path component) */
    sn_run_state state;
    char message[512];     /* reason for failed/done/stopped, or "" */
    sn_search_settings settings; /* current, with live changes */

    /* The tree: cands[i].id == i. When a candidate is queued or in
     * training it is the last entry (status queued/training) and
     * n_records does not count it. results lists ids in the order they
     * finished (== 0..n_records-1); a headless printer prints
     * results[printed..n_records). */
    int n_cands, n_records;
    const sn_cand_info *cands;
    int n_front;
    const int *front;      /* ids, smallest size first */
    double hypervolume;    /* of the current front (see search.h) */
    /* History for a sparkline: cands[i].hypervolume for i < n_records is
     * the hypervolume right after record i. Reference point (fixed per
     * run): settings.hv_ref[metric] and settings.hv_ref_acc. */

    /* The candidate in training: id (-1 none) and its last progress. */
    int current;
    sn_progress progress;
    /* --final: k of n members retrained so far (n 0: not in final). */
    int final_k, final_n;

    double elapsed;        /* search seconds spent (over resumes) */
    int n_queue;
    const sn_queue_item *queue; /* user-enqueued morphs, next first */
    int n_log;
    const sn_log_line *log; /* oldest first, at most SN_LOG_KEEP */
    /* Remote workers (sn_engine_set_evaluator): 0 when training here. */
    int n_workers;
    sn_worker_info workers[SN_MAX_WORKERS];
    /* The controller's own time for the candidates workers trained:
     * proposing, packing, and recording results (not waiting). */
    double controller_seconds;
    int controller_jobs;
} sn_snapshot;

typedef struct sn_engine sn_engine;

sn_engine *sn_engine_new(void);

/* Jobs trained elsewhere: with an evaluator set (before the search is
 * started or opened), the first search hands packed jobs (sn_job_pack) to
 * its n_slots workers and keeps all of them busy, instead of training in
 * this process. Ids go to candidates in the order they finish; a lost
 * worker's job is sent once more to another, then recorded as failed. */
typedef struct sn_evaluator {
    int n_slots;
    void *ctx;
    /* Hands job bytes to a slot: 0, or -1 with e (the slot is lost). */
    int (*submit)(void *ctx, int slot, const unsigned char *buf, size_t n,
                  sn_error *e);
    /* Waits up to timeout seconds. 1: *slot answered with *buf (malloc'd,
     * sn_job_pack_result bytes); 2: *slot is lost (timed out or failed),
     * its job must go elsewhere; 0: nothing yet. */
    int (*wait)(void *ctx, double timeout, int *slot, unsigned char **buf,
                size_t *n);
    /* Asks a busy slot to stop its job early; it answers as usual. */
    void (*cancel)(void *ctx, int slot);
} sn_evaluator;
void sn_engine_set_evaluator(sn_engine *en, const sn_evaluator *ev);
/* Stops every search (the candidate in flight is abandoned: the run stays
 * resumable), joins the threads, frees everything. Snapshots still held
 * stay valid until released. */
void sn_engine_free(sn_engine *en);

/* Opens the dataset of s first (in the calling thread: a few seconds
 * for Fashion-MNIST), then creates run directory `dir` with settings s
 * and starts its search; paused = 1 starts it paused. Returns the
 * search handle (0, 1, ... in order of creation), or -1 with e (bad
 * settings, data that cannot be read, existing directory); on -1 no
 * directory was created. */
int sn_engine_start(sn_engine *en, const char *dir,
                    const sn_search_settings *s, int paused, sn_error *e);
/* Opens an existing run (resume) and its dataset. -1 with e naming a
 * bad file, or data that cannot be read (the message says how to point
 * the run at moved data). */
int sn_engine_open(sn_engine *en, const char *dir, int paused, sn_error *e);
/* The same with the run's dataset replaced by spec `data` (NULL: the
 * run's own), for data that moved: refused with one sentence when its
 * image shape or class count differs from the run's networks; saved in
 * settings.json once it fits. */
int sn_engine_open_data(sn_engine *en, const char *dir, const char *data,
                        int paused, sn_error *e);
/* Opens the dataset of s into the engine's cache (kept until
 * sn_engine_free; runs started or opened later with the same data share
 * it) and, when g is given, checks that g takes its images and classes;
 * when summary is given, writes the data summary (sn_data_summary) there.
 * For clients that must know the data is good before they create
 * anything (search, fork). -1 with e. */
int sn_engine_load_data(sn_engine *en, const sn_search_settings *s,
                        const sn_graph *g, char *summary, size_t n,
                        sn_error *e);
/* Forks candidate `cand` (done) of search h into a new run at dir (NULL:
 * "<parent dir>-fork<cand>", made unique with -2, -3 ...) with settings s
 * (NULL: the parent's current settings), starts it, and pauses the
 * parent when pause_parent is set. Returns the new handle or -1. */
int sn_engine_fork(sn_engine *en, int h, int cand, const char *dir,
                   const sn_search_settings *s, int pause_parent,
                   sn_error *e);

int sn_engine_count(sn_engine *en); /* searches (handles 0..count-1) */

/* Readable after any publication; poll it with the keyboard. */
int sn_engine_fd(const sn_engine *en);
/* Reads away pending wake-up bytes (call before taking snapshots). */
void sn_engine_drain(sn_engine *en);
uint64_t sn_engine_generation(sn_engine *en);

/* The latest snapshot of search h (a new reference), NULL for a bad
 * handle. Never blocks on training. */
const sn_snapshot *sn_engine_snapshot(sn_engine *en, int h);
void sn_snapshot_release(const sn_snapshot *s);
/* Blocks until search h's state is over (done/stopped/failed) or
 * timeout seconds pass (< 0: no limit); 1 when over, 0 on timeout. */
int sn_engine_wait(sn_engine *en, int h, double timeout);

/* ---- commands ---------------------------------------------------------
 * Validated at once (an error returns -1 with one sentence and changes
 * nothing), applied by the search's thread before its next step. */
int sn_engine_pause(sn_engine *en, int h, sn_error *e);
int sn_engine_resume(sn_engine *en, int h, sn_error *e);
/* Ends the search now: the candidate in flight is dropped, --final is
 * skipped; the run stays resumable (resume continues it). */
int sn_engine_stop(sn_engine *en, int h, sn_error *e);
/* A settings key (search.h's table). Keys that are not live are
 * refused ("seed is fixed when a run starts"). */
int sn_engine_set(sn_engine *en, int h, const char *key, const char *value,
                  sn_error *e);
/* Queues morph "OP[:POS[:ARG]]" of done candidate cand. */
int sn_engine_enqueue(sn_engine *en, int h, int cand, const char *morph,
                      sn_error *e);

/* One text command, the grammar the explorer's ':' line and its keys
 * use:
 *   pause | resume | stop
 *   set KEY VALUE                 (set max-params 5k, set rate.wider 2)
 *   enqueue ID OP[:POS[:ARG]]
 *   ban OP | unban OP             (rate 0 / back to the default rate)
 *   pin OP | pin none             (draw only OP / all by their rates)
 *   fork ID [--run DIR] [--keep-running] [--KEY VALUE ...]
 * A unique prefix of a command name is accepted. reply (may be NULL,
 * SN_LOG_TEXT_LEN bytes) gets a one-line confirmation; for fork,
 * *new_h (may be NULL) gets the new handle. -1 with e otherwise. */
int sn_engine_exec(sn_engine *en, int h, const char *line, char *reply,
                   int *new_h, sn_error *e);

/* The commands sn_engine_exec knows, one entry each (util.h's
 * sn_command; ends with a NULL name): help and completion come from it. */
extern const sn_command sn_engine_commands[];

/* ---- vocabulary for clients ----------------------------------------------
 * What the explorer needs of the layers below, re-exported so that it
 * includes and calls the engine only (tests/test_tui.c checks that
 * src/tui calls nothing of search or morph): the settings table, the
 * operator, status and objective names, the limits check. */

/* search.h's settings table (key, type, range, live, help), {0}-ended. */
const sn_setting_info *sn_engine_settings_table(void);
/* Applies `key value` to a copy of *s in *out (*s unchanged); -1 with e
 * when the value is refused, as `set` would refuse it. */
int sn_engine_settings_try(const sn_search_settings *s, const char *key,
                           const char *value, sn_search_settings *out,
                           sn_error *e);
/* 1 when a candidate of these sizes is within s's hard limits. */
int sn_engine_fits(const sn_search_settings *s, int64_t params, int64_t flops,
                   int64_t memory);
/* Operator (morphism) i's name, i in [0, SN_MORPH_COUNT); NULL outside. */
const char *sn_engine_op_name(int i);
const char *sn_engine_status_name(sn_cand_status s);
const char *sn_engine_objective_name(sn_objective o);
const char *sn_engine_strategy_name(sn_strategy s);
int sn_engine_objective_from_name(const char *name); /* -1: unknown */

/* ---- printing a snapshot ------------------------------------------------ */

/* "29m48s left" or "no budget", and ", N to go" with max-candidates. */
const char *sn_run_left(char *buf, size_t n, const sn_search_settings *st,
                        double elapsed, int n_records);
/* The one line a headless run prints per finished candidate (search,
 * resume, fork and `ui --headless`):
 *   "#12   #3    wider conv2 16->32 ...  18,234    1.2M     84.21%  front 4
 *    hv 0.4412     3m05s, 26m55s left" */
const char *sn_snapshot_record_line(const sn_snapshot *s, int id, char *buf,
                                    size_t n);

/* ---- details on demand (for the candidate view) ------------------------ */

typedef struct sn_cand_detail {
    sn_cand_info info;
    sn_graph *graph;       /* a copy: layers, shapes (sn_stats_compute) */
    int n_epochs;
    double *loss, *val_acc; /* per epoch, n_epochs each (NULL if none) */
} sn_cand_detail;

/* Copies candidate cand of search h (any record, or the candidate queued
 * or in training). Fast: does not wait for training. -1 with e for an
 * unknown id. */
int sn_engine_candidate(sn_engine *en, int h, int cand, sn_cand_detail *out,
                        sn_error *e);
void sn_cand_detail_free(sn_cand_detail *d);

#endif
