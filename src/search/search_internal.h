/* search_internal.h — what the files of src/search share:
 *   search.c    the sn_search object: candidates, jobs, front, budget
 *   run.c       the run directory: settings, graphs, weights, results.log
 *   strategy.c  proposals: random, evolution, bo (GP + annealing)
 *   front.c     Pareto front, hypervolume, expected improvement
 *   kernel.c    graph descriptors, edit distance, Hungarian, GP
 *   settings.c  settings table and JSON */
#ifndef SLIMNAS_SEARCH_INTERNAL_H
#define SLIMNAS_SEARCH_INTERNAL_H

#include "slimnas/search.h"

#define MAX_CHAIN 4 /* morphs replayed for one candidate (bo) */

typedef struct cand {
    sn_cand_info info;
    sn_graph *graph;
    sn_graph_desc *desc; /* made on first use */
    double *loss, *val;  /* per-epoch curve */
    int n_curve;
    char *damage;        /* why it is damaged (malloc'd), NULL if not */
    int damage_new;      /* found damaged by this load (not so recorded) */
    int superseded; /* a longer training of the same graph followed */
    int promoted;   /* that longer training was tried (any status) */
    double t_start; /* record: when it began (paused time excluded), for
                       info.overhead; 0 unknown */
    /* its graph's morphs as sn_morph_enumerate lists them, kept once
     * made (strategy.c: bo's seeds, evolution's parents) */
    sn_morph_cand *morphs;
    int n_morphs, morphs_listed;
} cand;

/* A problem found while loading a run; `slimnas check` lists them. */
typedef enum issue_kind {
    ISSUE_LINE,     /* a log line that cannot be used (repair drops it or
                       rewrites it as a damaged record) */
    ISSUE_TORN,     /* the last line lacks its newline (a cut append) */
    ISSUE_FILE,     /* a candidate file that does not load: moved aside */
    ISSUE_MISSING,  /* a file the log names is missing */
    ISSUE_UNLOGGED, /* candidate files the log does not name: moved aside */
    ISSUE_TMP       /* NAME.tmp.PID left by a kill mid-write: removed */
} issue_kind;

typedef struct run_issue {
    issue_kind kind;
    int line;       /* of results.log, 0 if none */
    char file[64];  /* relative to the run: "cand/3.bin" */
    char msg[560];  /* "DIR/cand/3.bin: checksum mismatch ..." */
} run_issue;

/* How run_load treats the directory. */
typedef enum run_mode {
    RUN_READ,  /* show, fork's source: no weight checks, changes nothing */
    RUN_OPEN,  /* the writer (resume): checks weights, cuts a torn line,
                  moves the in-flight candidate's unlogged files aside,
                  removes stale temp files; unlogged files of later ids
                  are an error */
    RUN_CHECK  /* slimnas check: checks everything, changes nothing */
} run_mode;

/* A set of 64-bit keys (open addressing; 0 stored as 1). */
typedef struct hset {
    uint64_t *k;
    int cap, n;
} hset;

typedef struct qitem {
    int parent;
    char morph[SN_CAND_MORPH_LEN];
} qitem;

/* What a strategy proposes: replay ops[0..n_ops) on parent. */
typedef struct proposal {
    int parent;
    int n_ops;
    sn_morph_op ops[MAX_CHAIN];
} proposal;

struct sn_search {
    char dir[SN_SEARCH_PATH_LEN];
    sn_search_settings s;
    cand *c;
    int n, cap;
    int *front, n_front;
    double hv;
    double spent; /* search seconds (sum over sessions) */
    const sn_data *train, *full;
    qitem *q;
    int nq, capq;
    /* pending roots: root k becomes candidate k */
    int n_roots;
    sn_graph **roots;
    char (*root_op)[SN_CAND_OP_LEN];
    /* jobs proposed and not yet finished or abandoned: at most max_out
     * (1, or one per worker when jobs train elsewhere, e.g. under MPI) */
    sn_job **out;
    int n_out, max_out;
    double charge_mark; /* max_out > 1: wall clock charged up to here */
    char warning[600]; /* e.g. a torn log line dropped on open */
    int dirfd;         /* the run directory, O_DIRECTORY; -1 = none. A
                          writer holds an flock on it; every file of the
                          run is opened relative to it (openat) */
    int locked;
    long long log_len; /* bytes of whole records in results.log */
    /* what loading found (check) and the log as repair would write it */
    run_issue *issues;
    int n_issues, cap_issues;
    int n_damaged;
    char *fixed_log;
    size_t fixed_len, fixed_cap;
    int log_changed; /* fixed_log differs from the file */
    /* duplicate filter and bo (strategy.c): descriptor hashes of the
     * trained, failed and diverged candidates [0, n_hashed) (`bad`: the
     * failed and diverged only); the GP's active set (sorted ids) and
     * its distance matrix [n_act][n_act] */
    hset known, bad;
    int n_hashed;
    int *act_ids, n_act;
    double *act_dist;
    /* the wall clock of this session (search.c) */
    double t_open;     /* when the run was opened or created */
    int clock_fd;      /* runs/NAME/clock, -1 = none */
};

struct sn_job {
    sn_cand_info info;
    sn_graph *graph;
    sn_weights *w;
    sn_train_opts topt;
    double excluded;    /* paused seconds */
    double t_begin;     /* when sn_search_next began making it */
    double spent0;      /* the search's seconds spent before it */
    double last_beat;   /* last clock heartbeat */
    int clock_fd;       /* the search's clock file (borrowed) */
    sn_progress_fn user_progress; /* the driver's callback */
    void *user_ctx;
    int ran;
    double *loss, *val;
    int n_curve;
    char error[512];
    sn_graph_desc *desc; /* for the duplicate check against other jobs out */
    int sends;           /* times handed to a worker (sn_job_sent) */
};

/* settings.c: one entry of settings.bases, "KIND[:WIDTH[:DEPTH]]": the
 * kind (one of sn_arch_kinds) into kind, width and depth (0: not given).
 * -1 with "bases: ..." in e. */
int base_parse(const char *tok, char *kind, size_t n, int *width,
               int *depth, sn_error *e);

/* run.c */
int run_mkdirs(const char *dir, sn_error *e);
/* Opens se->dir as se->dirfd; with lock, takes the writer's flock on it. */
int run_open_dir(sn_search *se, int lock, sn_error *e);
/* Appends one line ('\n'-terminated) and fsyncs it. A write cut short
 * (disk full) is cut back off the file, and bytes past the last whole
 * record (an earlier failed append) are cut before writing. */
int run_append_log(sn_search *se, const char *line, sn_error *e);
/* Writes rel (relative to the run) atomically, never replacing a file. */
int run_write_new(sn_search *se, const char *rel, const void *data,
                  size_t len, sn_error *e);
char *run_cand_line(const cand *c); /* malloc'd JSON line with '\n' */
/* Loads settings + log + graphs (se->dir set; see run_mode). */
int run_load(sn_search *se, run_mode mode, sn_error *e);
void run_free_issues(sn_search *se);
void run_path(char *buf, size_t n, const char *dir, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* search.c */
void search_add_cand(sn_search *se, const cand *c);
/* 1 when candidate i is one the front is drawn from: done, within the
 * current limits, not superseded by a longer training of its graph
 * (search_update_front; also what --final-at chooses among). */
int search_front_eligible(const sn_search *se, int i);
void search_update_front(sn_search *se);
sn_graph_desc *search_desc(sn_search *se, int id);
uint64_t search_mix(uint64_t a, uint64_t b);
/* Size objective m (sn_objective) of a candidate of these sizes. */
int64_t search_metric(int m, int64_t params, int64_t flops, int64_t memory);
/* The hard limit on size objective m (--max-params etc.; 0: none). */
int64_t search_limit(const sn_search_settings *s, int m);
/* The index into ids[n] (candidate ids) of the most accurate candidate
 * whose size (the first size objective) is at most `size`, or -1: the
 * front member bo refines for --final-at (strategy.c); what the final
 * retraining takes is search_final_at. */
int search_best_at(const sn_search *se, const int *ids, int n,
                   int64_t size);
/* final.c. Of n networks (size, validation accuracy), the index of the
 * largest at or under `at` whose accuracy is within tol of the most
 * accurate one there (a tie in size goes to the more accurate); -1 when
 * none fits. tol = 0 gives the most accurate one. */
int search_final_pick(const int64_t *size, const double *acc, int n,
                      int64_t at, double tol);
/* What --final-at SIZE retrains, among the candidates the front is drawn
 * from (done, not superseded, within the current limits; those above the
 * reference accuracy while there are any) at or under SIZE: the largest
 * within one standard error, sqrt(p(1-p)/n_val), of the best one's
 * validation accuracy p when that one is retrained with crop+flip
 * (--final-augment), the most accurate one otherwise. Short training
 * cannot tell those apart; a long augmented retraining pays the capacity
 * back, a plain one overfits it. A candidate id, or -1. */
int search_final_at(const sn_search *se, int64_t size);
/* The candidate to train longer next (a promotion, see sn_search_next),
 * or -1 when none is due or promotions have had their share. */
int search_promotion_due(const sn_search *se);
double search_hv_ref(const sn_search_settings *s, int m);
void search_point(const sn_search *se, int64_t params, int64_t flops,
                  int64_t memory, double acc, sn_hv_point *p);
/* The same unclipped (x = -log10 size, acc as measured): for dominance. */
void search_raw_point(const sn_search *se, int64_t params, int64_t flops,
                      int64_t memory, double acc, sn_hv_point *p);

/* strategy.c: 1 with a proposal, 0 when nothing feasible was found. */
int strategy_propose(sn_search *se, uint64_t seed, proposal *p,
                     sn_error *e);
/* 1 when a graph like g (distance 0) failed or diverged before. */
int strategy_is_failed(sn_search *se, const sn_graph *g);
/* bo's seeds (front members) in the order they are expanded; returns
 * how many. out holds n_front ints. */
int strategy_bo_seeds(sn_search *se, int *out);
/* The last bo proposal in this process: its seeds, how many of them got
 * children in the annealing tree, and its expansions in all. */
void strategy_bo_stats(int *seeds, int *grown, int *expanded);
/* The same proposal's focus seed (a candidate id; -1 when it chose among
 * all seeds), the parent it proposed (-1: none), and the size its child
 * had to fit (a focus size, see strategy_focus_sizes; 0: none). */
void strategy_bo_focus(int *focus, int *parent, int64_t *limit);
/* The index into seeds[ns] (bo's seeds) of the most accurate seed above
 * `size`, up to twice it, with a morph whose child fits the size (by the
 * limits, with an operator rate > 0): the one bo's final-at focus shrinks
 * into the size. -1 when none has. */
int strategy_shrink_seed(sn_search *se, const int *seeds, int ns,
                         int64_t size);
/* The sizes bo's final-at focus refines (see propose_bo), ascending:
 * the --final-at sizes and, when the hard limit on the first size
 * objective lies above them all, the limit. None without --final-at.
 * sizes holds SN_FINAL_AT_MAX + 1; returns how many. */
int strategy_focus_sizes(const sn_search *se, int64_t *sizes);
/* For each focus size k (strategy_focus_sizes), the trained candidates
 * the front is drawn from (search_front_eligible) in its bracket: above
 * the next smaller size (or 0), at or under size k. count holds
 * SN_FINAL_AT_MAX + 1 ints; returns how many sizes. */
int strategy_final_at_counts(const sn_search *se, int64_t *sizes,
                             int *count);
/* The focus size with the fewest candidates in its bracket (ties drawn
 * with r), the one bo's final-at focus refines; 0 without sizes. */
int64_t strategy_final_at_sparsest(const sn_search *se, sn_rng *r);
/* What one epoch of a network of `flops` multiply-accumulates costs to
 * train, up to a common factor (its MACs plus a fixed overhead): bo's
 * cost per child, and promotions' share of the training (search.c). */
double strategy_train_cost(int64_t flops);
/* What a chain of 2+ morphs costs a cheap child's accuracy beyond one
 * morph, measured on the log (typically negative; see strategy.c). */
double strategy_chain_damage(const sn_search *se);
/* What a resumed run's proposals need from the whole log, made while it
 * opens (the resume) rather than in its first proposal: the duplicate
 * filter's hashes and, for bo, the GP's active set and its distances. */
void strategy_warm(sn_search *se);
void strategy_free(sn_search *se);
/* Draws one feasible morph of g by the operator rates; 1 or 0. */
int strategy_draw(const sn_search *se, const sn_graph *g, sn_rng *r,
                  sn_morph_cand *out);

#endif
