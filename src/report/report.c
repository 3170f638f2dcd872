/* report.c — what a report reads from run directories (candidates, front,
 * per-layer sizes of chosen members), the shared axis of several runs,
 * CSV, and the atomic write of a rendered report. Drawing is in draw.c. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slimnas/report.h"

/* ---- loading ------------------------------------------------------------ */

static void set_label(sn_report_run *r, const char *dir) {
    char buf[SN_SEARCH_PATH_LEN];
    snprintf(buf, sizeof buf, "%s", dir);
    size_t n = strlen(buf);
    while (n > 1 && buf[n - 1] == '/') buf[--n] = 0;
    const char *slash = strrchr(buf, '/');
    snprintf(r->label, sizeof r->label, "%s", slash && slash[1] ? slash + 1 : buf);
}

static int load_member(sn_report_member *m, const sn_search *se, int id,
                       const char *dir, sn_error *e) {
    const sn_cand_info *c = sn_search_cand(se, id);
    if (!c)
        return sn_errf(e, "%s: no candidate %d (ids 0..%d)", dir, id,
                       sn_search_count(se) - 1);
    const sn_graph *g = sn_search_graph(se, id);
    if (!g) return sn_errf(e, "%s: candidate %d has no graph", dir, id);
    sn_stats st;
    if (sn_stats_compute(g, SN_FLOPS_MACS, &st))
        return sn_errf(e, "%s: candidate %d: cannot compute its sizes", dir, id);
    m->id = id;
    m->layers = sn_xcalloc((size_t)g->n_nodes + 1, sizeof *m->layers);
    m->n_layers = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        if (!st.layer[i].params && !st.layer[i].flops) continue;
        sn_report_layer *l = &m->layers[m->n_layers++];
        snprintf(l->name, sizeof l->name, "%s", g->nodes[i].name);
        snprintf(l->op, sizeof l->op, "%s", sn_op_get(g->nodes[i].op)->name);
        l->params = st.layer[i].params;
        l->flops = st.layer[i].flops;
    }
    sn_stats_free(&st);
    return 0;
}

int sn_report_run_load(sn_report_run *r, const char *dir, const int *members,
                       int n_members, sn_error *e) {
    memset(r, 0, sizeof *r);
    sn_search *se = sn_search_load(dir, e);
    if (!se) return -1;
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    set_label(r, dir);
    r->settings = *sn_search_settings_get(se);
    r->n = sn_search_count(se);
    r->cands = sn_xcalloc((size_t)r->n + 1, sizeof *r->cands);
    for (int i = 0; i < r->n; i++) r->cands[i] = *sn_search_cand(se, i);
    const int *fr;
    r->n_front = sn_search_front(se, &fr);
    r->front = sn_xcalloc((size_t)r->n_front + 1, sizeof *r->front);
    memcpy(r->front, fr, (size_t)r->n_front * sizeof *fr);
    r->hypervolume = sn_search_hypervolume(se);
    r->elapsed = sn_search_elapsed(se);

    int best = -1;
    if (n_members == 0) {
        for (int i = 0; i < r->n_front; i++)
            if (best < 0 || r->cands[r->front[i]].val_acc > r->cands[best].val_acc)
                best = r->front[i];
        members = &best;
        n_members = best >= 0;
    }
    r->members = sn_xcalloc((size_t)n_members + 1, sizeof *r->members);
    for (int k = 0; k < n_members; k++) {
        int id = members[k];
        if (id < 0 || id >= r->n) {
            sn_errf(e, "%s: no candidate %d (ids 0..%d)", dir, id, r->n - 1);
            goto fail;
        }
        if (r->cands[id].status != SN_CAND_DONE) {
            sn_errf(e, "%s: candidate %d is %s, not trained", dir, id,
                    sn_cand_status_name(r->cands[id].status));
            goto fail;
        }
        if (load_member(&r->members[r->n_members], se, id, dir, e)) goto fail;
        r->n_members++;
    }
    sn_search_free(se);
    return 0;
fail:
    sn_search_free(se);
    sn_report_run_free(r);
    return -1;
}

void sn_report_run_free(sn_report_run *r) {
    if (!r) return;
    for (int i = 0; i < r->n_members; i++) free(r->members[i].layers);
    free(r->members);
    free(r->cands);
    free(r->front);
    memset(r, 0, sizeof *r);
}

void sn_report_unique_labels(sn_report_run *runs, int n) {
    for (int i = 0; i < n; i++) {
        int dup = 0;
        for (int j = 0; j < n; j++)
            dup |= j != i && !strcmp(runs[i].label, runs[j].label);
        if (dup) snprintf(runs[i].label, sizeof runs[i].label, "%s", runs[i].dir);
    }
}

/* ---- formats and axes ------------------------------------------------------ */

int sn_report_format_of(const char *path) {
    static const struct {
        const char *ext;
        sn_report_format f;
    } map[] = {{".svg", SN_REPORT_SVG},   {".png", SN_REPORT_PNG},
               {".pdf", SN_REPORT_PDF},   {".html", SN_REPORT_HTML},
               {".htm", SN_REPORT_HTML},  {".csv", SN_REPORT_CSV}};
    const char *dot = strrchr(path, '.');
    if (!dot || strchr(dot, '/')) return -1;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcasecmp(dot, map[i].ext)) return (int)map[i].f;
    return -1;
}

static int has_obj(const sn_report_run *r, int m) {
    for (int k = 0; k < r->settings.n_obj; k++)
        if ((int)r->settings.obj[k] == m) return 1;
    return 0;
}

static void obj_list(const sn_report_run *r, char *buf, size_t n) {
    buf[0] = 0;
    for (int k = 0; k < r->settings.n_obj; k++) {
        size_t l = strlen(buf);
        snprintf(buf + l, n - l, "%s%s", k ? "," : "",
                 sn_objective_name(r->settings.obj[k]));
    }
}

/* "runs/a optimises params,flops, runs/b params" into buf. */
static void describe(const sn_report_run *runs, int n, char *buf, size_t len) {
    buf[0] = 0;
    for (int i = 0; i < n; i++) {
        char o[64];
        obj_list(&runs[i], o, sizeof o);
        size_t l = strlen(buf);
        snprintf(buf + l, len - l, "%s%s%s %s", i ? (i == n - 1 ? " and " : ", ") : "",
                 runs[i].dir, i ? "" : " optimises", o);
    }
}

int sn_report_axis(const sn_report_run *runs, int n, int *axis, char *note,
                   size_t note_len, sn_error *e) {
    if (note_len) note[0] = 0;
    SN_ASSERT(n >= 1);
    char shared[64] = "";
    int n_shared = 0, first_shared = -1;
    for (int m = 0; m < SN_OBJ_COUNT; m++) {
        int all = 1;
        for (int i = 0; i < n; i++) all &= has_obj(&runs[i], m);
        if (!all) continue;
        if (first_shared < 0) first_shared = m;
        size_t l = strlen(shared);
        snprintf(shared + l, sizeof shared - l, "%s%s", n_shared ? ", " : "",
                 sn_objective_name((sn_objective)m));
        n_shared++;
    }
    char desc[400];
    describe(runs, n, desc, sizeof desc);
    if (*axis >= 0) {
        for (int i = 0; i < n; i++)
            if (!has_obj(&runs[i], *axis)) {
                char o[64];
                obj_list(&runs[i], o, sizeof o);
                return sn_errf(e, "%s has no front over %s (its objective is "
                                  "%s); %s%s",
                               runs[i].dir,
                               sn_objective_name((sn_objective)*axis), o,
                               n_shared ? "the runs share " : "the runs "
                               "share no size axis", shared);
            }
        return 0;
    }
    int same = 1;
    for (int i = 1; i < n; i++) {
        same &= runs[i].settings.n_obj == runs[0].settings.n_obj;
        for (int m = 0; m < SN_OBJ_COUNT; m++)
            same &= has_obj(&runs[i], m) == has_obj(&runs[0], m);
    }
    if (same) {
        *axis = (int)runs[0].settings.obj[0];
        return 0;
    }
    if (!n_shared)
        return sn_errf(e, "%s: no size axis in common, so their fronts "
                          "cannot be overlaid (report them separately)",
                       desc);
    *axis = first_shared;
    if (note_len)
        snprintf(note, note_len, "%s: drawing %s, %s they share", desc,
                 sn_objective_name((sn_objective)first_shared),
                 n_shared > 1 ? "one of the axes" : "the one axis");
    return 0;
}

/* ---- CSV --------------------------------------------------------------------- */

void sn_report_csv_field(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

void sn_report_csv_header(FILE *f, int with_run) {
    fprintf(f, "%sid,parent,ops,params,macs,memory,fidelity,val,test,"
               "seconds,status\n",
            with_run ? "run," : "");
}

void sn_report_csv_rows(FILE *f, const char *run, const sn_cand_info *c,
                        int n) {
    for (int i = 0; i < n; i++, c++) {
        if (run) {
            sn_report_csv_field(f, run);
            fputc(',', f);
        }
        fprintf(f, "%d,", c->id);
        if (c->parent >= 0) fprintf(f, "%d", c->parent);
        fputc(',', f);
        sn_report_csv_field(f, c->op);
        fprintf(f, ",%lld,%lld,%lld,%d,", (long long)c->params,
                (long long)c->flops, (long long)c->memory, c->fidelity);
        if (c->val_acc >= 0) fprintf(f, "%.6g", c->val_acc);
        fputc(',', f);
        if (c->test_acc >= 0) fprintf(f, "%.6g", c->test_acc);
        fprintf(f, ",%.3f,%s\n", c->seconds, sn_cand_status_name(c->status));
    }
}

char *sn_report_csv(const sn_report_run *runs, int n, size_t *len) {
    char *buf = NULL;
    size_t sz = 0;
    FILE *f = open_memstream(&buf, &sz);
    SN_ASSERT(f);
    sn_report_csv_header(f, 1);
    for (int i = 0; i < n; i++)
        sn_report_csv_rows(f, runs[i].label, runs[i].cands, runs[i].n);
    fclose(f);
    if (len) *len = sz;
    return buf;
}

/* ---- writing ----------------------------------------------------------------- */

int sn_report_write(const char *path, const sn_report_run *runs, int n,
                    const sn_report_opts *o, int *w, int *h, sn_error *e) {
    int f = sn_report_format_of(path);
    if (f < 0)
        return sn_errf(e, "%s: unknown format (use .svg, .png, .pdf, .html "
                          "or .csv)", path);
    /* the directory must take a new file: say so before drawing */
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir) dir[1] = 0;
    else if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    struct stat st;
    if (stat(dir, &st) != 0 || access(dir, W_OK) != 0)
        return sn_errf(e, "%s: cannot write here: %s: %s", path, dir,
                       strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return sn_errf(e, "%s: cannot write here: %s is not a directory",
                       path, dir);
    char *out = NULL;
    size_t len = 0;
    if (f == SN_REPORT_CSV) {
        out = sn_report_csv(runs, n, &len);
        if (w) *w = 0;
        if (h) *h = 0;
    } else if (sn_report_render(runs, n, o, (sn_report_format)f, &out, &len,
                                w, h, e)) {
        return -1;
    }
    int rc = sn_write_atomic(path, out, len, e);
    free(out);
    return rc;
}
