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
} cand;

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
    int lock_fd;       /* runs/NAME/lock, flock'd by a writer; -1 = none */
    /* bo: distances between done candidates, in gp_ids order */
    int *gp_ids, n_gp, gp_cap;
    double *dist;
};

struct sn_job {
    sn_cand_info info;
    sn_graph *graph;
    sn_weights *w;
    sn_train_opts topt;
    double excluded;    /* paused seconds */
    double t_begin;     /* when sn_search_next began making it */
    int ran;
    double *loss, *val;
    int n_curve;
    char error[512];
    sn_graph_desc *desc; /* for the duplicate check against other jobs out */
    int sends;           /* times handed to a worker (sn_job_sent) */
};

/* run.c */
int run_mkdirs(const char *dir, sn_error *e);
int run_append_log(const char *dir, const char *line, sn_error *e);
char *run_cand_line(const cand *c); /* malloc'd JSON line with '\n' */
/* Loads settings + log + graphs (and checks weights when verify). */
int run_load(sn_search *se, const char *dir, int verify, sn_error *e);
void run_path(char *buf, size_t n, const char *dir, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* search.c */
void search_add_cand(sn_search *se, const cand *c);
void search_update_front(sn_search *se);
sn_graph_desc *search_desc(sn_search *se, int id);
uint64_t search_mix(uint64_t a, uint64_t b);
double search_hv_ref(const sn_search_settings *s, int m);
void search_point(const sn_search *se, int64_t params, int64_t flops,
                  int64_t memory, double acc, sn_hv_point *p);

/* strategy.c: 1 with a proposal, 0 when nothing feasible was found. */
int strategy_propose(sn_search *se, uint64_t seed, proposal *p,
                     sn_error *e);
/* Draws one feasible morph of g by the operator rates; 1 or 0. */
int strategy_draw(const sn_search *se, const sn_graph *g, sn_rng *r,
                  sn_morph_cand *out);

#endif
