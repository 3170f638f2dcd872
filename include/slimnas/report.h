/* slimnas/report.h — pictures and tables of searches: one or several run
 * directories drawn as one report (SVG, PNG, PDF from one cairo drawing
 * path; HTML = that SVG inline plus a sortable table of the fronts), and
 * the candidates as CSV.
 *
 *   sn_report_run runs[2];
 *   sn_report_run_load(&runs[0], "runs/a", NULL, 0, &err);   // default
 *   sn_report_run_load(&runs[1], "runs/b", NULL, 0, &err);   // members
 *   sn_report_opts o = {.axis = -1};
 *   sn_report_axis(runs, 2, &o.axis, note, sizeof note, &err); // shared?
 *   sn_report_write("cmp.png", runs, 2, &o, &w, &h, &err);   // atomic
 *   sn_report_run_free(&runs[0]); ...
 *
 * The report, top to bottom:
 *   legend     one line per run: mark, name, data, strategy, candidates,
 *              front size, hypervolume, search time
 *   fronts     validation accuracy against the size axis (params, MACs or
 *              peak activation bytes) on a log scale; every trained
 *              candidate a faint dot, the front a staircase with its
 *              members marked and labelled "#ID", each run's hard limit
 *              on the axis a dashed vertical line
 *   hv         each run's hypervolume against search time (its own
 *              reference point: the curves compare across runs only when
 *              the references agree, which the subtitle says)
 *   members    per chosen member, a bar per layer with parameters or
 *              MACs: parameters on the left, MACs on the right
 * Runs are told apart by colour and by mark shape (circle, square,
 * triangle, diamond, ...), so a greyscale print keeps them apart too.
 */
#ifndef SLIMNAS_REPORT_H
#define SLIMNAS_REPORT_H

#include "slimnas/search.h"

#define SN_REPORT_MAX_RUNS 8
#define SN_REPORT_WIDTH 960 /* page width in pixels (PNG) or points */

typedef struct sn_report_layer {
    char name[SN_NAME_LEN];
    char op[16];
    int64_t params, flops;
} sn_report_layer;

/* A member drawn with its per-layer bars. */
typedef struct sn_report_member {
    int id;
    int n_layers;             /* layers with parameters or MACs */
    sn_report_layer *layers;
} sn_report_member;

/* What a report needs of one run, copied out of the run directory. */
typedef struct sn_report_run {
    char dir[SN_SEARCH_PATH_LEN];
    char label[SN_SEARCH_PATH_LEN]; /* the directory's last component */
    sn_search_settings settings;
    sn_cand_info *cands;      /* [n], by id */
    int n;
    int *front;               /* [n_front] ids, smallest first */
    int n_front;
    double hypervolume, elapsed;
    sn_report_member *members;
    int n_members;
} sn_report_run;

/* Reads a run directory (read-only, like `slimnas show`; a run being
 * written by a search may be read). members[0..n_members) are the ids
 * drawn with per-layer bars; n_members 0 picks the most accurate front
 * member, n_members < 0 none. An unknown or untrained id is an error. */
int sn_report_run_load(sn_report_run *r, const char *dir, const int *members,
                       int n_members, sn_error *e);
void sn_report_run_free(sn_report_run *r);
/* Gives runs with the same label (a/x and b/x) their directory as label. */
void sn_report_unique_labels(sn_report_run *runs, int n);

typedef enum sn_report_format {
    SN_REPORT_SVG,
    SN_REPORT_PNG,
    SN_REPORT_PDF,
    SN_REPORT_HTML,
    SN_REPORT_CSV,
    SN_REPORT_FORMAT_COUNT
} sn_report_format;

/* By the file name's extension (.svg .png .pdf .html/.htm .csv, any
 * case); -1 for anything else. */
int sn_report_format_of(const char *path);

typedef struct sn_report_opts {
    int axis;          /* sn_objective of the x axis, -1 = pick */
    const char *title; /* NULL: "slimnas report" */
} sn_report_opts;

/* The size axis the runs share. Each run's front is over its own
 * objectives; a front can only be drawn against one of them. *axis -1:
 * the first run's first objective when every run has the same
 * objectives, else the first objective all runs share, with a note
 * ("runs/a optimises params,flops and runs/b params: drawing params,
 * the one axis they share") in note. *axis set: it must be an objective
 * of every run. -1 with a sentence naming the runs and what they could
 * share when no axis fits. */
int sn_report_axis(const sn_report_run *runs, int n, int *axis, char *note,
                   size_t note_len, sn_error *e);

/* Draws the report into memory: *out (malloc'd, *len bytes), the page
 * size in *w x *h (pixels for PNG, points for SVG/PDF). o->axis must be
 * set (sn_report_axis). CSV is the candidates table (sn_report_csv). */
int sn_report_render(const sn_report_run *runs, int n,
                     const sn_report_opts *o, sn_report_format f,
                     char **out, size_t *len, int *w, int *h, sn_error *e);
/* Renders by path's extension and writes the file atomically (temp,
 * fsync, rename): on any error nothing is left at path. */
int sn_report_write(const char *path, const sn_report_run *runs, int n,
                    const sn_report_opts *o, int *w, int *h, sn_error *e);

/* ---- CSV ------------------------------------------------------------------
 * One row per candidate, RFC 4180 quoting (fields with a comma, quote,
 * CR or LF are quoted, quotes doubled), '\n' line ends, header first:
 *   [run,]id,parent,ops,params,macs,memory,fidelity,val,test,seconds,status
 * parent is empty for a root, val and test empty when unknown (val before
 * training, test unless retrained by --final); fidelity is the search's
 * (1: the cheap training, 2: a promotion, see search.h); ops its
 * operation text. */
void sn_report_csv_header(FILE *f, int with_run);
void sn_report_csv_rows(FILE *f, const char *run, const sn_cand_info *c,
                        int n);
/* Writes one field, quoted when needed (no separator). */
void sn_report_csv_field(FILE *f, const char *s);
/* The table of several runs (with the run column) as a malloc'd string. */
char *sn_report_csv(const sn_report_run *runs, int n, size_t *len);

#endif
