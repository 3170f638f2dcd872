/* slimnas/search.h — multi-objective architecture search over network
 * morphisms: settings, candidates, the Pareto front and its hypervolume,
 * the graph kernel and Gaussian process, the strategies (bo, evolution,
 * random), and the durable run directory with resume and fork.
 *
 * A search is single-threaded: one sn_search belongs to one thread at a
 * time (the engine, include/slimnas/engine.h, runs it in a background
 * thread and publishes snapshots). The simplest driver:
 *
 *   sn_search_settings s = sn_settings_default();
 *   snprintf(s.data, sizeof s.data, "synthetic:400");
 *   s.max_candidates = 10;
 *   sn_search *se = sn_search_create("runs/demo", &s, &err);  // new run
 *   sn_data *d = sn_data_open(s.data, &dopts_from_settings, &err);
 *   sn_search_attach_data(se, d, NULL);   // NULL: no full set for --final
 *   while (sn_search_step(se, NULL, &err) == 1)
 *       ;                                  // one candidate per call
 *   sn_search_free(se);
 *
 * One step is three calls, so that a driver can train without holding its
 * locks (what the engine does):
 *   sn_search_next(se, &job)     propose a child (cheap; may record
 *                                infeasible children without training)
 *   sn_job_run(job, data, ctl)   train it: touches only the job
 *   sn_search_finish(se, job)    record it: files, log line, front
 *
 * ---- objectives and the front ----------------------------------------
 * Accuracy (validation, after the candidate's k epochs) is maximised; one
 * or two size metrics (params, flops = multiply-accumulates, memory =
 * peak activation bytes at batch 1) are minimised. Only candidates with
 * status done that satisfy the CURRENT hard limits belong to the front,
 * and not those a finished promotion (fidelity 2, see sn_search_next)
 * has replaced.
 *
 * Hypervolume. Reference point: size R_m for each size metric m and
 * accuracy A0 = chance (1 / classes), or the --hv-accuracy setting when
 * given (e.g. 0.8: only networks above 80% count, and bo's acquisition
 * stops paying for tiny, inaccurate ones). Both are fixed when the run gets its
 * data and stored in settings.json ("hv_ref"), so hypervolumes compare
 * within a run and between runs of the same settings (bo against random):
 *   R_m = 10 x the hard limit on m when one is set, else 100 x the
 *   largest root's size on m (a search without a limit may grow).
 * Sizes are on a log scale spanning three decades below R:
 *   x = log10(R_m / s) / 3, clipped to [0, 1]
 * (so every size below R/1000 counts as R/1000: a 20-parameter network is
 * not worth more than a 500-parameter one), accuracy as a = acc - A0.
 * The hypervolume is the measure of the union of boxes [0,x]x[0,a] (2-D,
 * one size objective) or [0,x1]x[0,x2]x[0,a] (3-D, two size objectives)
 * over the front: a value in [0, 1 - A0]. The clipping is for the
 * hypervolume only: the front itself is decided on raw sizes (a member
 * under R/1000 stays a member).
 *
 * ---- run directory ---------------------------------------------------
 *   runs/NAME/settings.json      the settings (sn_settings_to_json), the
 *                                hypervolume references and, for a fork,
 *                                its origin
 *   runs/NAME/cand/ID.json       graph of candidate ID (every candidate)
 *   runs/NAME/cand/ID.bin        its weights after training (done only)
 *   runs/NAME/cand/ID.final.bin  weights after --final retraining
 *   runs/NAME/clock              the search seconds spent, rewritten at
 *                                every record and every 0.5 s while a
 *                                candidate trains: a resume charges the
 *                                larger of it and the log's last elapsed
 *                                time (a crash pays its start-up and the
 *                                candidate in flight)
 *   runs/NAME/results.log        one JSON object per line, append-only,
 *                                fsync'd after every line:
 *     {"id":3,"parent":1,"morph":"wider:4:32","op":"wider conv2 16->32",
 *      "status":"done","params":..,"flops":..,"memory":..,"val_acc":0.81,
 *      "train_loss":..,"epochs":1,"fidelity":1,"seconds":2.1,"elapsed":41.0,
 *      "hypervolume":0.31,"curve_loss":[..],"curve_val":[..]}
 *   and, for --final retraining, {"final":3,"val_acc":..,"test_acc":..,
 *   "epochs":10,"seconds":..}.
 * The tree is the log's parent fields. Candidate ids are dense and in log
 * order (line k of candidate records is id k).
 *
 * Durability. The one writer (create, resume, fork's new run) holds an
 * flock on the run directory itself and opens every file relative to the
 * directory's descriptor, so a directory moved, removed or made anew is
 * never written by an old writer. Files are written atomically (temp
 * NAME.tmp.PID, fsync, rename or link, fsync of the folder) and a
 * candidate file is never replaced: the candidate's files go first, then
 * its log line (appended, fsync'd). So a kill -9 at any moment loses at
 * most the candidate in flight: a torn last line is cut on resume, the
 * in-flight candidate's files (no log line) are moved aside to
 * NAME.unlogged, stale temp files are removed. An append cut short (disk
 * full) is cut back off the log before anything else is written.
 *
 * Damage costs only what is damaged. A log line that is no record is
 * skipped; a candidate whose record is unusable or whose graph, weights
 * or final weights are missing or fail to load (CRC) loads with status
 * damaged (never a parent, never retrained) and the rest of the run
 * loads and resumes; sn_search_warning says so. Files of candidates the
 * log does not reach (an emptied or cut log) make sn_search_open fail,
 * naming `slimnas check --repair` (sn_search_check), and nothing is
 * changed. A missing or bad settings.json is an error naming the file.
 */
#ifndef SLIMNAS_SEARCH_H
#define SLIMNAS_SEARCH_H

#include <stdatomic.h>

#include "slimnas/data.h"
#include "slimnas/graph.h"
#include "slimnas/morph.h"
#include "slimnas/train.h"

/* ---- enums ----------------------------------------------------------- */

typedef enum sn_objective {
    SN_OBJ_PARAMS, /* trainable parameters */
    SN_OBJ_FLOPS,  /* multiply-accumulates per image (SN_FLOPS_MACS) */
    SN_OBJ_MEMORY, /* peak activation bytes, inference, batch 1 */
    SN_OBJ_COUNT
} sn_objective;

typedef enum sn_strategy {
    SN_STRAT_BO,        /* GP + expected hypervolume improvement */
    SN_STRAT_EVOLUTION, /* LEMONADE-style: sparse regions of the front */
    SN_STRAT_RANDOM,    /* random morph of a random done candidate */
    SN_STRAT_COUNT
} sn_strategy;

typedef enum sn_cand_status {
    SN_CAND_QUEUED,     /* proposed, waiting for the training slot */
    SN_CAND_TRAINING,
    SN_CAND_DONE,
    SN_CAND_DIVERGED,   /* NaN/Inf loss; never a parent */
    SN_CAND_INFEASIBLE, /* breaks a hard limit; never trained */
    SN_CAND_FAILED,     /* morph or training error (message in the log) */
    SN_CAND_DAMAGED,    /* its record or files are damaged (found when the
                           run was loaded, or so recorded by check
                           --repair); never a parent, never retrained */
    SN_CAND_COUNT
} sn_cand_status;

const char *sn_objective_name(sn_objective o);    /* "params" ... */
int sn_objective_from_name(const char *s);        /* -1 if unknown */
const char *sn_strategy_name(sn_strategy s);      /* "bo" ... */
int sn_strategy_from_name(const char *s);
const char *sn_cand_status_name(sn_cand_status s); /* "done" ... */
int sn_cand_status_from_name(const char *s);

/* ---- settings ---------------------------------------------------------- */

#define SN_SEARCH_MAX_OBJ 2
#define SN_FINAL_AT_MAX 8 /* sizes in --final-at */
#define SN_SEARCH_PATH_LEN 256

typedef struct sn_search_settings {
    /* data and performance estimation */
    char data[SN_SEARCH_PATH_LEN]; /* dataset spec (sn_data_open) */
    double val_split;      /* validation fraction (0.1) */
    int64_t max_train;     /* training subset for candidates (0 = all) */
    int epochs;            /* epochs per candidate (default 1) */
    int root_epochs;       /* epochs for the roots, trained from scratch
                              (default 3; at least `epochs`) */
    int batch;             /* 128 */
    double lr;             /* SGD + cosine, from sn_train_opts_default */
    double weight_decay;
    /* objectives: accuracy plus n_obj size metrics */
    int n_obj;                            /* 1 or 2 */
    sn_objective obj[SN_SEARCH_MAX_OBJ];  /* default {params} */
    /* hard limits, 0 = none; checked before training */
    int64_t max_params, max_flops, max_memory;
    /* strategy and operator rates (relative weights, 0 bans) */
    sn_strategy strategy;                 /* default bo */
    double rates[SN_MORPH_COUNT];         /* by sn_morph_id */
    int pinned;         /* -1, or an sn_morph_id drawn exclusively */
    /* budget; 0 = unlimited. The search stops at whichever comes first. */
    double budget;      /* seconds of search time (resumes add up) */
    int max_candidates; /* candidate records (infeasible ones count) */
    /* final retraining */
    int final_n;        /* retrain this many front members (0 = none) */
    /* and the most accurate front member at or under each of these sizes
     * (first size objective), e.g. 10k,50k; n_final_at = 0: none */
    int64_t final_at[SN_FINAL_AT_MAX];
    int n_final_at;
    int final_epochs;   /* 10 */
    /* crop+flip augmentation of that retraining: as the dataset is
     * opened (0, the default: CIFAR-10 on, others off), every member (1),
     * none (-1), or members at or above this size of the first size
     * objective (> 1, e.g. 20k; the dataset's setting below it). Larger
     * networks overfit a long retraining without it; small ones fit
     * worse with it. */
    int64_t final_augment_from;
    /* epochs of a retraining with crop+flip; 0 (the default):
     * final_epochs. Crop+flip slows fitting: such a member, retrained as
     * long as a plain one, still underfits its training images. */
    int final_augment_epochs;
    /* roots: comma-separated KIND[:WIDTH[:DEPTH]] (default
     * "cnn:16,mobile_tiny"); a root over a limit is narrowed (width
     * halved) until it fits */
    char bases[128];
    uint64_t seed;
    /* fixed at creation (see the hypervolume above); 0 = not yet set */
    double hv_ref[SN_OBJ_COUNT];
    double hv_ref_acc; /* A0: --hv-accuracy or chance, -1 = not yet set */
    /* a fork: the run and candidate it started from ("" / -1 otherwise) */
    char origin_run[SN_SEARCH_PATH_LEN];
    int origin_cand;
} sn_search_settings;

sn_search_settings sn_settings_default(void);

/* One settable key: the one table the command line (--KEY VALUE of
 * search, resume, fork and ui), config files ({"KEY": VALUE}),
 * settings.json (read and written in the table's order), the engine's
 * `set KEY VALUE`, the explorer's completion and help, and the help
 * defaults all read. rate.* is one entry "rate.OP" (OP an operator name:
 * rate.wider 2). `live` keys may change while a search runs; the others
 * are fixed when a run starts (data, val-split, seed, bases, ...). */
typedef enum sn_setting_type {
    SN_SET_INT,      /* int field, integer in [lo, hi] ("2k" accepted) */
    SN_SET_SIZE,     /* int64_t field, a size (k/M; 0, none, off = none) */
    SN_SET_NUM,      /* double field, number in [lo, hi] */
    SN_SET_DURATION, /* double field, seconds: 40s, 30m, 2h (none = 0) */
    SN_SET_SEED,     /* uint64_t field, integer in [lo, hi] */
    SN_SET_OTHER     /* parsed and printed by the entry's own functions */
} sn_setting_type;

/* Which run commands take --KEY (the explorer's `ui` takes every key). */
enum { SN_SETCLI_NONE, SN_SETCLI_SEARCH, SN_SETCLI_ALL };

typedef struct sn_setting_info {
    const char *key;
    const char *arg;  /* metavar: "N", "SIZE", "TIME", ... */
    const char *help; /* without the default (help adds it) */
    int live;
    int cli;          /* SN_SETCLI_*: search only, or search/resume/fork */
    char short_name;  /* -e for --epochs, or 0 */
    sn_setting_type type;
    double lo, hi;    /* SN_SET_INT, _NUM, _SEED */
    size_t offset;    /* of the field in sn_search_settings */
    /* SN_SET_OTHER: value -> t (checked), and t -> text */
    int (*parse)(sn_search_settings *t, const char *key, const char *v,
                 sn_error *e);
    void (*format)(const sn_search_settings *s, const char *key, char *buf,
                   size_t n);
    /* What Tab offers for the value, a spec as in sn_command.complete
     * ("objective", "strategy", "morph|none"); NULL: nothing. */
    const char *complete;
} sn_setting_info;

/* The table, terminated by {0}. */
extern const sn_setting_info sn_setting_keys[];
/* The entry of key (any rate.OP finds "rate.OP"), or NULL. */
const sn_setting_info *sn_setting_find(const char *key);

/* Sets one key from text. All-or-nothing: -1 with a sentence ("max-params:
 * '5q' is not a size like 20k or 1.5M") and s unchanged on error. */
int sn_settings_set(sn_search_settings *s, const char *key,
                    const char *value, sn_error *e);
/* The current value as text ("20k" -> "20000", "30m" -> "1800s"). */
void sn_settings_get(const sn_search_settings *s, const char *key,
                     char *buf, size_t n);
/* 1 when the key may change while a search runs; -1 unknown key. */
int sn_settings_is_live(const char *key);
/* Reads {"key": value, ...} (numbers, strings, "rates": {"wider": 2})
 * over s; unknown keys and bad values are "FILE:LINE:COL: ..." errors
 * and leave s unchanged. */
int sn_settings_from_json(sn_search_settings *s, const char *text,
                          size_t len, const char *file, sn_error *e);
int sn_settings_load(sn_search_settings *s, const char *path, sn_error *e);
char *sn_settings_to_json(const sn_search_settings *s); /* malloc'd */
/* Checks ranges (epochs >= 1, n_obj 1..2 and distinct, ...). */
int sn_settings_check(const sn_search_settings *s, sn_error *e);
/* Data options the settings imply (seed, val_split, max_train). full = 1
 * for the full training set (--final). */
sn_data_opts sn_settings_data_opts(const sn_search_settings *s, int full);
/* 1 when a size triple satisfies every hard limit of s. */
int sn_settings_fits(const sn_search_settings *s, int64_t params,
                     int64_t flops, int64_t memory);

/* ---- candidates -------------------------------------------------------- */

#define SN_CAND_OP_LEN 192   /* "wider conv2 16->32; deeper after relu3" */
#define SN_CAND_MORPH_LEN 96 /* "wider:4:32;deeper:7:3" */

/* What is known about a candidate (one record of the tree). */
typedef struct sn_cand_info {
    int id;
    int parent;                 /* -1 for a root */
    sn_cand_status status;
    char op[SN_CAND_OP_LEN];    /* human: "root cnn:16", "wider conv2 .." */
    char morph[SN_CAND_MORPH_LEN]; /* replayable: "wider:4:32" ("" root) */
    int64_t params, flops, memory;
    double val_acc;             /* -1 until done */
    double test_acc;            /* -1 unless retrained by --final */
    double final_val_acc;       /* -1 unless retrained by --final */
    double train_loss;          /* last epoch, -1 unknown */
    int epochs;                 /* epochs trained in this candidate */
    double seconds;             /* training time */
    double loop_seconds;        /* of which in the training loop (batches,
                                   forward, backward, optimiser) */
    double overhead;            /* seconds of the candidate's wall time
                                   outside the training loop: proposal,
                                   building the child and copying weights,
                                   evaluation, its files; -1 unknown (jobs
                                   trained in parallel or elsewhere) */
    double elapsed;             /* search time spent when it finished */
    double hypervolume;         /* front's hypervolume right after it */
    int on_front;               /* member of the current front */
    int fidelity;               /* 1: the cheap training (epochs, or
                                   root_epochs for a root); 2: a
                                   promotion (the parent's graph trained
                                   longer, see sn_search_next) */
    int depth;                  /* morph steps from its root */
} sn_cand_info;

/* ---- Pareto front and hypervolume (pure functions) ---------------------- */

/* A point for the front: acc maximised, x[0..dim) maximised (already
 * mapped sizes, see sn_hv_x). */
typedef struct sn_hv_point {
    double acc;
    double x[SN_SEARCH_MAX_OBJ];
} sn_hv_point;

#define SN_HV_DECADES 3.0
/* x = log10(ref / size) / SN_HV_DECADES, clipped to [0, 1]. */
double sn_hv_x(double size, double ref);
/* Indices of the non-dominated points (a point dominates another when it
 * is >= in every coordinate and > in one; exact duplicates keep the
 * first). Writes them to idx sorted by x[0] descending (smallest size
 * first) and returns how many. */
int sn_pareto_front(const sn_hv_point *p, int n, int dim, int *idx);
/* Hypervolume of the union of boxes [0,x]x[0,acc] over the n points,
 * dim 1 (2-D) or 2 (3-D); dominated points may be included. Negative
 * coordinates count as 0. */
double sn_hypervolume(const sn_hv_point *p, int n, int dim);
/* Hypervolume improvement of adding point q to the set. */
double sn_hv_improvement(const sn_hv_point *p, int n, int dim,
                         const sn_hv_point *q);
/* Expected hypervolume improvement of adding a point at the known sizes
 * q->x whose accuracy is Gaussian N(mu, sigma^2); closed form (the
 * improvement is piecewise linear in accuracy). sigma 0: exact. */
double sn_hv_expected_improvement(const sn_hv_point *p, int n, int dim,
                                  const sn_hv_point *q, double mu,
                                  double sigma);

/* ---- graph kernel and Gaussian process (AutoKeras) ----------------------
 * A graph's descriptor lists its conv, dense and pooling layers in order
 * (widths, kernels, strides, paddings, groups) and its skip connections
 * (each extra input of an add or concat: start rank u, length delta,
 * type). d(a, b) = D_l + lambda D_s: D_l the edit distance of the layer
 * lists (insert/delete 1; a matched pair 1 for different types, else
 * the mean relative difference of its attributes), D_s the optimal
 * (Hungarian) matching of skip connections (unmatched 1; a matched pair
 * (|du| + |ddelta|) / (max u + max delta), 1 for add against concat). */
typedef struct sn_graph_desc sn_graph_desc;

sn_graph_desc *sn_graph_desc_new(const sn_graph *g);
void sn_graph_desc_free(sn_graph_desc *d);
double sn_graph_distance(const sn_graph_desc *a, const sn_graph_desc *b,
                         double lambda);
/* Hungarian algorithm: the minimum-cost perfect matching of an n x n cost
 * matrix (row-major); assign[i] = column of row i. Returns the cost. */
double sn_hungarian(const double *cost, int n, int *assign);

/* GP over graphs predicting validation accuracy. The kernel is
 * k(a, b) = amp * exp(-rho(a, b)^2 / len^2), rho the Euclidean distance
 * (scaled by 1/sqrt(m)) between Bourgain embeddings into R^m: coordinate
 * j of a graph is its minimum distance to the j-th random subset of the
 * training graphs (subsets of sizes 2^i, ceil(ln n) of each, seeded), so
 * the kernel matrix is positive semi-definite for training and new
 * graphs alike. Observations carry Gaussian noise of variance `noise`.
 * Prior mean: the least-squares line of y against log10(params) (slope
 * >= 0; constant for one point). amp, len and noise maximise the log
 * marginal likelihood of what the line leaves (sn_gp_ml_fit). */
typedef struct sn_gp sn_gp;

typedef struct sn_gp_hyper {
    double amp;   /* signal variance, in [1e-6, 1] */
    double len;   /* lengthscale of rho, in [0.05, 50] */
    double noise; /* observation noise variance, >= 1e-8 */
} sn_gp_hyper;

/* Maximum marginal likelihood of y (zero prior mean) under
 * amp exp(-r2 / len^2) + noise I, r2 the n x n squared distances: amp in
 * closed form for each (len, noise/amp), those two by a bounded compass
 * search in log space from two fixed starts (and `start` when not
 * NULL). 0 with *out (and the log likelihood in *lml, may be NULL), -1
 * when no start could be factorised. */
int sn_gp_ml_fit(const double *r2, const double *y, int n,
                 const sn_gp_hyper *start, sn_gp_hyper *out, double *lml);

/* x must outlive the GP (it keeps the pointers). NULL with an error when
 * the kernel matrix cannot be factorised (Cholesky). */
sn_gp *sn_gp_fit(const sn_graph_desc *const *x, const double *y, int n,
                 double lambda, sn_error *e);
/* The same with the n x n distance matrix already computed (a search
 * keeps it up to date incrementally). */
sn_gp *sn_gp_fit_dist(const sn_graph_desc *const *x, const double *y, int n,
                      const double *dist, double lambda, sn_error *e);
/* The same with the hyperparameters given (fixed != NULL) instead of
 * fitted. */
sn_gp *sn_gp_fit_hyper(const sn_graph_desc *const *x, const double *y, int n,
                       const double *dist, double lambda,
                       const sn_gp_hyper *fixed, sn_error *e);
void sn_gp_hyper_get(const sn_gp *gp, sn_gp_hyper *h);
void sn_gp_free(sn_gp *gp);
/* Mean and standard deviation of the noise-free accuracy at x. */
void sn_gp_predict(const sn_gp *gp, const sn_graph_desc *x, double *mean,
                   double *sd);
/* The n x n training kernel matrix (without noise) into k, row-major. */
void sn_gp_kernel_matrix(const sn_gp *gp, double *k);
/* Minimum distance from x to the training graphs. */
double sn_gp_min_distance(const sn_gp *gp, const sn_graph_desc *x);
/* A hash of what sn_graph_distance sees: graphs at distance 0 hash
 * alike (the search's duplicate filter). */
uint64_t sn_graph_desc_hash(const sn_graph_desc *d);
/* sn_graph_desc_hash of g's descriptor, without the parameter count the
 * descriptor also holds (the hash does not read it). */
uint64_t sn_graph_hash(const sn_graph *g);
/* Tests: while > 0, each GP fit fails as a Cholesky failure would (and
 * decrements it). Not thread-safe; leave it 0. */
extern int sn_gp_fail_next;

/* ---- the search ---------------------------------------------------------- */

typedef struct sn_search sn_search;
typedef struct sn_job sn_job;

/* Creates runs/NAME (parents made as needed; an existing non-empty
 * directory is an error), writes settings.json, builds the roots (not
 * trained yet: each becomes the first jobs). */
sn_search *sn_search_create(const char *dir, const sn_search_settings *s,
                            sn_error *e);
/* Opens an existing run to continue it: settings, log, tree, front,
 * budget spent; every trained candidate's weight file is checked (CRC),
 * a torn last log line is cut off the file, the in-flight candidate's
 * unlogged files are moved aside and stale temp files removed (see
 * Durability above). */
sn_search *sn_search_open(const char *dir, sn_error *e);
/* Reads a run without touching it (for show): no weight checks, a torn
 * last line is ignored, not cut; damaged candidates as for open. Do not
 * step or attach data to it. */
sn_search *sn_search_load(const char *dir, sn_error *e);
/* Makes dst a new run rooted at candidate `cand` of run src (its graph
 * and weights become candidate 0 of dst, already trained: its record is
 * copied with parent -1 and op "fork of SRC#ID"); s are the new run's
 * settings (origin_run/origin_cand are filled in). Does not open it. */
int sn_search_fork(const char *src, int cand, const char *dst,
                   const sn_search_settings *s, sn_error *e);
void sn_search_free(sn_search *se);

/* `slimnas check`: loads the run as resume would, changing nothing, and
 * prints to out one line per problem ("DIR/cand/3.bin: does not load:
 * ...", "DIR/results.log:8: not a JSON object ...") and a summary.
 * Returns the number of problems (0: the run is sound), -1 with e when it
 * cannot be checked at all (not a run directory, bad settings.json).
 * With repair (takes the run's lock): damaged candidate files and files
 * the log does not name are moved aside (NAME.damaged, NAME.unlogged),
 * temp files of a kill mid-write are removed, and the log is rewritten
 * without its unusable lines and with damaged candidates recorded as
 * "damaged" (the old log kept as results.log.damaged); nothing else is
 * deleted. Then returns the problems left. */
int sn_search_check(const char *dir, int repair, FILE *out, sn_error *e);

/* The data candidates train on (settings' max_train subset) and, for
 * --final, the full training set (may be NULL: final then uses `train`).
 * Both must outlive the search; checked against the graphs' shape. The
 * time from creating or opening the run to this call (loading it and
 * the data) is charged to the budget. */
int sn_search_attach_data(sn_search *se, const sn_data *train,
                          const sn_data *full, sn_error *e);

const char *sn_search_dir(const sn_search *se);
const sn_search_settings *sn_search_settings_get(const sn_search *se);
/* Live changes (see sn_settings_is_live): recomputes the front. */
int sn_search_set(sn_search *se, const char *key, const char *value,
                  sn_error *e);
/* Points the run at its dataset under another spec (the files moved) and
 * saves settings.json. The caller checks that it fits the run's networks
 * (shape, classes); data is otherwise fixed when a run starts. */
int sn_search_set_data(sn_search *se, const char *spec, sn_error *e);
/* Queues a user morph ("OP[:POS[:ARG]]", sn_morph_parse) of done
 * candidate `cand`; it runs before the strategy's next proposal. -1 for
 * an unknown or untrained candidate or a morph that does not apply. A
 * child over a limit is recorded as infeasible when its turn comes. */
int sn_search_enqueue(sn_search *se, int cand, const char *morph,
                      sn_error *e);
int sn_search_queue_len(const sn_search *se);
/* Item i of the user queue: parent id and morph text. */
void sn_search_queue_item(const sn_search *se, int i, int *parent,
                          const char **morph);

int sn_search_count(const sn_search *se);              /* records */
const sn_cand_info *sn_search_cand(const sn_search *se, int id);
/* A candidate record as a JSON object (cJSON, the caller deletes it): id,
 * parent, morph, op, status, params, flops, memory, val_acc and test_acc
 * (null when unknown), train_loss (null when unknown), epochs, fidelity,
 * seconds, elapsed, hypervolume, front. The one writer: results.log
 * lines and `show --json` both start from it. */
struct cJSON *sn_cand_to_json(const sn_cand_info *c);
/* Graph of a candidate (owned by the search, immutable); NULL for a
 * damaged candidate whose graph file does not load. */
const sn_graph *sn_search_graph(const sn_search *se, int id);
/* Why a candidate is damaged (one sentence naming the file), NULL when it
 * is not (or when it is recorded as damaged in the log). */
const char *sn_search_damage(const sn_search *se, int id);
/* Current front: ids, smallest first; returns the count. */
int sn_search_front(const sn_search *se, const int **ids);
double sn_search_hypervolume(const sn_search *se);
double sn_search_elapsed(const sn_search *se); /* search seconds spent */
/* A warning from opening or stepping (torn last log line dropped, a
 * queued morph that no longer applies), "" if none. */
const char *sn_search_warning(const sn_search *se);
/* Per-epoch training loss and validation accuracy of a done candidate
 * (n = epochs); NULL arrays when unknown. */
void sn_search_curve(const sn_search *se, int id, const double **loss,
                     const double **val, int *n);
/* 1 when the budget (time or candidates) is used up. */
int sn_search_exhausted(const sn_search *se);

/* Proposes the next candidate: a root not yet trained, the user queue,
 * a promotion (a fidelity-1 candidate on or near the front trained
 * 2 x epochs more from its weights as a new fidelity-2 record, the
 * cheapest first, while promotions stay within a third of the training;
 * see search.c), else the strategy (redrawn when its child repeats a graph
 * that failed or diverged). Infeasible children from the queue are recorded
 * (status infeasible, log line) and the next proposal is tried. Returns
 * 1 with *job, 0 when the budget is used up or nothing can be proposed
 * (no done candidate has a feasible morph), -1 on error. */
int sn_search_next(sn_search *se, sn_job **job, sn_error *e);

/* Controls for one training run: trainer flags and progress callback. */
typedef struct sn_job_ctl {
    const atomic_int *stop, *pause; /* read between batches; may be NULL */
    sn_progress_fn progress;        /* after every batch; may be NULL */
    void *progress_ctx;
} sn_job_ctl;

/* What a job is about to train (for a snapshot before training). */
const sn_cand_info *sn_job_info(const sn_job *job);
const sn_graph *sn_job_graph(const sn_job *job);
/* Trains the job's graph (touches only the job and the read-only data).
 * Returns 0 (the job has a result: done, diverged or failed) or 1 when
 * ctl->stop was raised (the job must be abandoned). */
int sn_job_run(sn_job *job, const sn_data *d, const sn_job_ctl *ctl);
/* Why a job failed (status failed after sn_job_run), "" otherwise. */
const char *sn_job_error(const sn_job *job);
/* Time the job spent waiting outside this search: paused inside
 * ctl->progress (a driver that blocks there to pause), or waiting for the
 * training slot another search holds. Not counted as training time or
 * budget. The budget is otherwise wall time: a job counts from the start
 * of the sn_search_next call that made it to its sn_search_finish. */
void sn_job_exclude_time(sn_job *job, double seconds);
/* Records a run job: weights, graph, log line, front. Frees the job.
 * -1 when a file cannot be written (the job is freed anyway). */
int sn_search_finish(sn_search *se, sn_job *job, sn_error *e);
/* Drops a job without a record (stop, quit): its id is reused. */
void sn_search_abandon(sn_search *se, sn_job *job);
/* next + run (on the attached data) + finish. 1 when a candidate was
 * recorded, 0 when the budget is used up, -1 on error. */
int sn_search_step(sn_search *se, const sn_job_ctl *ctl, sn_error *e);

/* ---- jobs trained elsewhere (MPI workers) ----------------------------
 * A driver with k workers lets k jobs be out at once; sn_search_next then
 * never proposes a graph that another job out already trains, ids go to
 * records in the order they are finished, and the budget is charged as
 * wall time (from one finish to the next) instead of per job.
 *   controller: sn_search_next -> sn_job_pack -> send ... receive ->
 *               sn_job_apply_result -> sn_search_finish
 *   worker:     receive -> sn_job_unpack -> sn_job_run -> sn_job_pack_result
 *               -> send -> sn_job_free
 * The bytes are this machine's (one build, one architecture per cluster;
 * a tag and a version reject anything else). */
void sn_search_set_parallel(sn_search *se, int max_jobs); /* no job out */
int sn_search_jobs_out(const sn_search *se);
/* Charges the wall time since the last charge (idle = 0), or skips it
 * (idle = 1: time paused with no job out is not search time). */
void sn_search_charge(sn_search *se, int idle);
/* malloc'd bytes of what to train: graph, weights, options, id. */
int sn_job_pack(const sn_job *job, unsigned char **buf, size_t *n);
/* A worker's copy of a packed job (NULL + e for a malformed message). */
sn_job *sn_job_unpack(const unsigned char *buf, size_t n, sn_error *e);
/* malloc'd bytes of a run job's outcome; stopped = 1 when sn_job_run
 * returned 1 (stopped before the end). */
int sn_job_pack_result(const sn_job *job, int stopped, unsigned char **buf,
                       size_t *n);
/* Applies a worker's result to the controller's job: 0 (now ready for
 * sn_search_finish), 1 (the worker stopped early: abandon the job), -1 +
 * e for a malformed result (the job is unchanged). */
int sn_job_apply_result(sn_job *job, const unsigned char *buf, size_t n,
                        sn_error *e);
/* Marks a job failed with a message (a lost worker): ready to finish. */
void sn_job_set_failed(sn_job *job, const char *msg);
/* Counts a hand-over to a worker; returns how many so far. */
int sn_job_sent(sn_job *job);
/* Frees a worker's job (the controller's go through finish/abandon). */
void sn_job_free(sn_job *job);

/* --final: retrains n front members (spread over the front on a log size
 * scale, the most accurate included; members above the reference accuracy
 * only, while any is) and, for each size in final-at, the most accurate
 * of those at or under it, on the full training set for
 * final_epochs (final_augment_epochs when one is retrained with
 * crop+flip and that is set) from their weights, evaluates test
 * accuracy, writes ID.final.bin and a "final" log line for each.
 * progress_fn (may be NULL) is told before each one starts, with its
 * epochs. Returns the number retrained, -1 on
 * error. Members already retrained are skipped (resumable). */
typedef void (*sn_final_fn)(void *ctx, int id, int k, int n, int epochs);
int sn_search_final(sn_search *se, int n, const sn_job_ctl *ctl,
                    sn_final_fn fn, void *ctx, sn_error *e);

/* Loads the trained weights of a candidate from the run directory
 * (final weights when final = 1 and they exist). */
sn_weights *sn_search_load_weights(const sn_search *se, int id, int final,
                                   sn_error *e);

#endif
