/* search.c — the sn_search object: roots, the user queue, jobs (propose,
 * train, record), the front and hypervolume after every record, the
 * budget, live settings, and fork (--final retraining: final.c).
 *
 * Determinism: everything random about candidate ID (the strategy's
 * draws, morph seeds, weight initialisation, batch order) is seeded by
 * mix(settings.seed, ID), and parents' weights are always read back from
 * their files, so a resumed run proposes and trains exactly what the
 * uninterrupted run would have (with the same thread count). */
#include "search_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_REDRAWS 16 /* proposals redrawn for repeating a failed graph */

uint64_t search_mix(uint64_t a, uint64_t b) {
    uint64_t z = a * 0x9e3779b97f4a7c15ull + b + 0x632be59bd9b4e019ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

int64_t search_metric(int m, int64_t params, int64_t flops, int64_t memory) {
    return m == SN_OBJ_PARAMS ? params : m == SN_OBJ_FLOPS ? flops : memory;
}

int64_t search_limit(const sn_search_settings *s, int m) {
    return m == SN_OBJ_PARAMS ? s->max_params
           : m == SN_OBJ_FLOPS ? s->max_flops
                               : s->max_memory;
}

double search_hv_ref(const sn_search_settings *s, int m) {
    return s->hv_ref[m] > 1 ? s->hv_ref[m] : 10;
}

void search_point(const sn_search *se, int64_t params, int64_t flops,
                  int64_t memory, double acc, sn_hv_point *p) {
    memset(p, 0, sizeof *p);
    p->acc = acc - (se->s.hv_ref_acc > 0 ? se->s.hv_ref_acc : 0);
    for (int k = 0; k < se->s.n_obj; k++) {
        int m = se->s.obj[k];
        p->x[k] = sn_hv_x((double)search_metric(m, params, flops, memory),
                          search_hv_ref(&se->s, m));
    }
}

void search_raw_point(const sn_search *se, int64_t params, int64_t flops,
                      int64_t memory, double acc, sn_hv_point *p) {
    memset(p, 0, sizeof *p);
    p->acc = acc;
    for (int k = 0; k < se->s.n_obj; k++) {
        double v = (double)search_metric(se->s.obj[k], params, flops, memory);
        p->x[k] = -log10(v > 0.5 ? v : 0.5);
    }
}

/* ---- candidates and front -------------------------------------------- */

void search_add_cand(sn_search *se, const cand *c) {
    if (se->n == se->cap) {
        se->cap = se->cap ? 2 * se->cap : 64;
        se->c = sn_xrealloc(se->c, (size_t)se->cap * sizeof *se->c);
    }
    se->c[se->n] = *c;
    cand *x = &se->c[se->n];
    x->info.depth =
        x->info.parent >= 0 ? se->c[x->info.parent].info.depth + 1 : 0;
    x->info.on_front = 0;
    if (x->info.fidelity < 1) x->info.fidelity = 1;
    x->superseded = x->promoted = 0;
    /* a promotion: the parent's graph trained longer */
    if (x->info.parent >= 0 && !x->info.morph[0] &&
        x->info.fidelity > se->c[x->info.parent].info.fidelity) {
        cand *p = &se->c[x->info.parent];
        p->promoted = 1;
        if (x->info.status == SN_CAND_DONE) p->superseded = 1;
    }
    se->n++;
}

static void free_cand(cand *c) {
    sn_graph_free(c->graph);
    sn_graph_desc_free(c->desc);
    free(c->loss);
    free(c->val);
    free(c->damage);
    free(c->morphs);
}

sn_graph_desc *search_desc(sn_search *se, int id) {
    cand *c = &se->c[id];
    if (!c->desc) c->desc = sn_graph_desc_new(c->graph);
    return c->desc;
}

int search_front_eligible(const sn_search *se, int i) {
    const cand *c = &se->c[i];
    return c->info.status == SN_CAND_DONE &&
           sn_settings_fits(&se->s, c->info.params, c->info.flops,
                            c->info.memory) &&
           !c->superseded; /* a longer training replaced it */
}

void search_update_front(sn_search *se) {
    int n = se->n;
    sn_hv_point *p = sn_xmalloc(((size_t)n + 1) * sizeof *p);
    int *ids = sn_xmalloc(((size_t)n + 1) * sizeof *ids);
    int *idx = sn_xmalloc(((size_t)n + 1) * sizeof *idx);
    int m = 0;
    for (int i = 0; i < n; i++) {
        sn_cand_info *c = &se->c[i].info;
        c->on_front = 0;
        if (!search_front_eligible(se, i)) continue;
        search_raw_point(se, c->params, c->flops, c->memory, c->val_acc, &p[m]);
        ids[m++] = i;
    }
    /* Dominance on raw sizes: clipping (below) is for the hypervolume
     * only, so two networks both under R/1000 still compare by size. */
    int k = sn_pareto_front(p, m, se->s.n_obj, idx);
    free(se->front);
    se->front = sn_xmalloc(((size_t)k + 1) * sizeof *se->front);
    sn_hv_point *fp = sn_xmalloc(((size_t)k + 1) * sizeof *fp);
    for (int j = 0; j < k; j++) {
        const sn_cand_info *c = &se->c[ids[idx[j]]].info;
        se->front[j] = ids[idx[j]];
        se->c[ids[idx[j]]].info.on_front = 1;
        search_point(se, c->params, c->flops, c->memory, c->val_acc, &fp[j]);
    }
    se->n_front = k;
    se->hv = sn_hypervolume(fp, k, se->s.n_obj);
    free(fp);
    free(p);
    free(ids);
    free(idx);
}

/* ---- creation, roots -------------------------------------------------- */

static sn_search *search_alloc(void) {
    sn_search *se = sn_xcalloc(1, sizeof *se);
    se->dirfd = -1;
    se->clock_fd = -1;
    se->t_open = sn_now();
    se->max_out = 1;
    se->out = sn_xcalloc(1, sizeof *se->out);
    return se;
}

/* ---- the budget's wall clock ------------------------------------------
 * runs/NAME/clock holds the search seconds spent, rewritten in place at
 * every record and, while a candidate trains, every CLOCK_BEAT seconds
 * (not fsync'd: it is there for a killed process, whose page cache
 * survives it). A resume charges the larger of it and the log's last
 * elapsed time, so a crash still pays for its start-up and for the
 * candidate it was training. */
#define CLOCK_BEAT 0.5

static void clock_write(int fd, double spent) {
    if (fd < 0) return;
    char buf[32];
    int k = snprintf(buf, sizeof buf, "%-23.3f\n", spent);
    if (pwrite(fd, buf, (size_t)k, 0) != k) return; /* best effort */
}

static void clock_open(sn_search *se, int write) {
    char p[SN_SEARCH_PATH_LEN + 16];
    run_path(p, sizeof p, se->dir, "clock");
    if (!write) {
        char *txt;
        size_t len;
        sn_error e;
        if (access(p, F_OK) == 0 && sn_read_file(p, &txt, &len, &e) == 0) {
            double v = strtod(txt, NULL);
            if (isfinite(v) && v > se->spent) se->spent = v;
            free(txt);
        }
        return;
    }
    se->clock_fd = se->dirfd >= 0
                       ? openat(se->dirfd, "clock", O_RDWR | O_CREAT | O_CLOEXEC,
                                0644)
                       : open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
}

static int dir_usable(const char *dir, sn_error *e) {
    struct stat st;
    if (stat(dir, &st) != 0) return 0;
    if (!S_ISDIR(st.st_mode)) return sn_errf(e, "%s: exists and is not a "
                                                "directory", dir);
    DIR *d = opendir(dir);
    if (!d) return sn_errf(e, "%s: %s", dir, strerror(errno));
    struct dirent *ent;
    int empty = 1;
    while ((ent = readdir(d)))
        if (strcmp(ent->d_name, ".") && strcmp(ent->d_name, "..")) empty = 0;
    closedir(d);
    if (!empty)
        return sn_errf(e, "%s: already exists (resume it with 'slimnas resume "
                          "%s', or pick another --run)", dir, dir);
    return 0;
}

static int write_settings(const sn_search *se, sn_error *e) {
    char *txt = sn_settings_to_json(&se->s);
    int rc = sn_write_atomic_at(se->dirfd, "settings.json", txt, strlen(txt),
                                0, e);
    free(txt);
    if (rc) sn_err_prefix(e, "%s/", se->dir);
    return rc;
}

sn_search *sn_search_create(const char *dir, const sn_search_settings *s,
                            sn_error *e) {
    if (sn_settings_check(s, e)) return NULL;
    if (strlen(dir) >= SN_SEARCH_PATH_LEN - 32) {
        sn_errf(e, "%s: path too long", dir);
        return NULL;
    }
    if (dir_usable(dir, e)) return NULL;
    if (run_mkdirs(dir, e)) return NULL;
    sn_search *se = search_alloc();
    snprintf(se->dir, sizeof se->dir, "%s", dir);
    se->s = *s;
    if (run_open_dir(se, 1, e)) {
        sn_search_free(se);
        return NULL;
    }
    /* another creator may have come and gone before the lock was ours */
    if (faccessat(se->dirfd, "settings.json", F_OK, 0) == 0) {
        sn_errf(e, "%s: already exists (resume it with 'slimnas resume %s', "
                   "or pick another --run)", dir, dir);
        sn_search_free(se);
        return NULL;
    }
    if (write_settings(se, e)) {
        sn_search_free(se);
        return NULL;
    }
    clock_open(se, 1);
    return se;
}

static int path_ok(const char *dir, sn_error *e) {
    if (strlen(dir) >= SN_SEARCH_PATH_LEN - 32)
        return sn_errf(e, "%s: path too long", dir);
    return 0;
}

sn_search *sn_search_open(const char *dir, sn_error *e) {
    if (path_ok(dir, e)) return NULL;
    sn_search *se = search_alloc();
    snprintf(se->dir, sizeof se->dir, "%s", dir);
    if (run_open_dir(se, 1, e) || run_load(se, RUN_OPEN, e)) {
        sn_search_free(se);
        return NULL;
    }
    clock_open(se, 0);
    clock_open(se, 1);
    search_update_front(se);
    strategy_warm(se);
    return se;
}

sn_search *sn_search_load(const char *dir, sn_error *e) {
    if (path_ok(dir, e)) return NULL;
    sn_search *se = search_alloc();
    snprintf(se->dir, sizeof se->dir, "%s", dir);
    if (run_open_dir(se, 0, e) || run_load(se, RUN_READ, e)) {
        sn_search_free(se);
        return NULL;
    }
    clock_open(se, 0);
    search_update_front(se);
    return se;
}

void sn_search_free(sn_search *se) {
    if (!se) return;
    if (se->clock_fd >= 0) close(se->clock_fd);
    if (se->dirfd >= 0) close(se->dirfd); /* and with it the lock */
    run_free_issues(se);
    for (int i = 0; i < se->n; i++) free_cand(&se->c[i]);
    free(se->c);
    free(se->front);
    free(se->q);
    for (int i = 0; i < se->n_roots; i++) sn_graph_free(se->roots[i]);
    free(se->roots);
    free(se->root_op);
    strategy_free(se);
    free(se->out);
    free(se);
}

/* Builds the roots from settings.bases for data of shape `in`, each
 * narrowed (width halved) until it satisfies the limits. */
static int build_roots(sn_search *se, sn_shape in, int classes, sn_error *e) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", se->s.bases);
    int cap = 1;
    for (char *q = buf; *q; q++) cap += *q == ',';
    se->roots = sn_xcalloc((size_t)cap, sizeof *se->roots);
    se->root_op = sn_xcalloc((size_t)cap, sizeof *se->root_op);
    se->n_roots = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t;
         t = strtok_r(NULL, ",", &save)) {
        char kind[48];
        int width, depth;
        if (base_parse(t, kind, sizeof kind, &width, &depth, e)) return -1;
        int w = width > 0 ? width : sn_arch_default_width(kind);
        sn_graph *g = NULL;
        int narrowed = 0;
        for (;;) {
            sn_arch_opts o = {w, depth};
            sn_graph *h = sn_graph_new_kind(kind, in, classes, &o, e);
            if (!h) break;
            sn_graph_free(g);
            g = h;
            if (sn_settings_fits(&se->s, sn_graph_params(g),
                                 sn_graph_flops(g, SN_FLOPS_MACS),
                                 sn_graph_peak_bytes(g)) ||
                w <= 2)
                break;
            w /= 2;
            narrowed = 1;
        }
        if (!g) {
            sn_err_prefix(e, "base '%s': ", kind);
            return -1;
        }
        se->roots[se->n_roots] = g;
        snprintf(se->root_op[se->n_roots], SN_CAND_OP_LEN, "root %s:%d%s",
                 kind, w, narrowed ? " (narrowed to fit)" : "");
        se->n_roots++;
    }
    return 0;
}

int sn_search_attach_data(sn_search *se, const sn_data *train,
                          const sn_data *full, sn_error *e) {
    for (int i = 0; i < se->n; i++)
        if (se->c[i].graph && sn_train_check_fit(se->c[i].graph, train, e)) {
            sn_err_prefix(e, "%s: candidate %d: ", se->dir, i);
            return -1;
        }
    se->train = train;
    se->full = full;
    /* start-up (loading the run and its data) is search time */
    if (se->t_open > 0) {
        double t = sn_now() - se->t_open;
        se->spent += t > 0 ? t : 0;
        se->t_open = 0;
        clock_write(se->clock_fd, se->spent);
    }
    if (!se->s.origin_run[0] && se->n_roots == 0) {
        if (build_roots(se, sn_data_shape(train), sn_data_classes(train), e))
            return -1;
        /* Roots already in the log keep their recorded graphs. */
    }
    int need = !(se->s.hv_ref_acc >= 0);
    for (int m = 0; m < SN_OBJ_COUNT; m++) need |= !(se->s.hv_ref[m] > 0);
    if (need) {
        if (!(se->s.hv_ref_acc >= 0))
            se->s.hv_ref_acc = 1.0 / sn_data_classes(train);
        for (int m = 0; m < SN_OBJ_COUNT; m++) {
            int64_t lim = search_limit(&se->s, m), big = 0;
            for (int r = 0; r < se->n_roots; r++) {
                const sn_graph *g = se->roots[r];
                int64_t v = search_metric(m, sn_graph_params(g),
                                   sn_graph_flops(g, SN_FLOPS_MACS),
                                   sn_graph_peak_bytes(g));
                if (v > big) big = v;
            }
            for (int i = 0; i < se->n; i++)
                if (se->c[i].info.parent < 0) {
                    const sn_cand_info *c = &se->c[i].info;
                    int64_t v = search_metric(m, c->params, c->flops, c->memory);
                    if (v > big) big = v;
                }
            se->s.hv_ref[m] = lim > 0 ? 10.0 * (double)lim
                                      : 100.0 * (double)(big > 1 ? big : 1);
        }
        if (write_settings(se, e)) return -1;
        search_update_front(se);
    }
    return 0;
}

/* ---- accessors --------------------------------------------------------- */

const char *sn_search_dir(const sn_search *se) { return se->dir; }
const sn_search_settings *sn_search_settings_get(const sn_search *se) {
    return &se->s;
}
int sn_search_count(const sn_search *se) { return se->n; }
const sn_cand_info *sn_search_cand(const sn_search *se, int id) {
    return id >= 0 && id < se->n ? &se->c[id].info : NULL;
}
const sn_graph *sn_search_graph(const sn_search *se, int id) {
    return id >= 0 && id < se->n ? se->c[id].graph : NULL;
}
const char *sn_search_damage(const sn_search *se, int id) {
    return id >= 0 && id < se->n ? se->c[id].damage : NULL;
}
int sn_search_front(const sn_search *se, const int **ids) {
    if (ids) *ids = se->front;
    return se->n_front;
}
double sn_search_hypervolume(const sn_search *se) { return se->hv; }
double sn_search_elapsed(const sn_search *se) { return se->spent; }
const char *sn_search_warning(const sn_search *se) { return se->warning; }
void sn_search_curve(const sn_search *se, int id, const double **loss,
                     const double **val, int *n) {
    *loss = *val = NULL;
    *n = 0;
    if (id < 0 || id >= se->n) return;
    *loss = se->c[id].loss;
    *val = se->c[id].val;
    *n = se->c[id].n_curve;
}

int sn_search_exhausted(const sn_search *se) {
    if (se->s.budget > 0 && se->spent >= se->s.budget) return 1;
    if (se->s.max_candidates > 0 && se->n + se->n_out >= se->s.max_candidates)
        return 1;
    return 0;
}

int sn_search_set(sn_search *se, const char *key, const char *value,
                  sn_error *e) {
    int live = sn_settings_is_live(key);
    if (live < 0) return sn_errf(e, "unknown setting '%s'", key);
    if (!live)
        return sn_errf(e, "%s is fixed when a run starts (fork the run to "
                          "change it)", key);
    sn_search_settings t = se->s;
    if (sn_settings_set(&t, key, value, e)) return -1;
    if (sn_settings_check(&t, e)) return -1;
    se->s = t;
    search_update_front(se);
    return write_settings(se, e);
}

int sn_search_set_data(sn_search *se, const char *spec, sn_error *e) {
    sn_search_settings t = se->s;
    if (sn_settings_set(&t, "data", spec, e)) return -1;
    se->s = t;
    return write_settings(se, e);
}

/* ---- user queue ---------------------------------------------------------- */

static void op_text(const sn_morph_op *op, char *buf, size_t n) {
    const sn_morph_info *mi = sn_morph_get((sn_morph_id)op->op);
    if (mi->arg == SN_MORPH_ARG_NONE)
        snprintf(buf, n, "%s:%d", mi->name, op->pos);
    else
        snprintf(buf, n, "%s:%d:%d", mi->name, op->pos, op->arg);
}

int sn_search_enqueue(sn_search *se, int id, const char *morph, sn_error *e) {
    if (id < 0 || id >= se->n)
        return sn_errf(e, "no candidate %d (ids 0..%d)", id, se->n - 1);
    if (se->c[id].info.status != SN_CAND_DONE)
        return sn_errf(e, "candidate %d is %s; only trained candidates can "
                          "be morphed", id,
                       sn_cand_status_name(se->c[id].info.status));
    sn_morph_op op;
    uint64_t seed = search_mix(se->s.seed, 0x51ull + (uint64_t)se->nq +
                                               (uint64_t)se->n * 131);
    if (sn_morph_parse(se->c[id].graph, morph, seed, &op, e)) return -1;
    if (se->nq == se->capq) {
        se->capq = se->capq ? 2 * se->capq : 8;
        se->q = sn_xrealloc(se->q, (size_t)se->capq * sizeof *se->q);
    }
    se->q[se->nq].parent = id;
    op_text(&op, se->q[se->nq].morph, sizeof se->q[se->nq].morph);
    se->nq++;
    return 0;
}

int sn_search_queue_len(const sn_search *se) { return se->nq; }
void sn_search_queue_item(const sn_search *se, int i, int *parent,
                          const char **morph) {
    *parent = se->q[i].parent;
    *morph = se->q[i].morph;
}

/* ---- jobs ---------------------------------------------------------------- */

sn_weights *sn_search_load_weights(const sn_search *se, int id, int final,
                                   sn_error *e) {
    if (id < 0 || id >= se->n) {
        sn_errf(e, "no candidate %d", id);
        return NULL;
    }
    const cand *c = &se->c[id];
    if (!c->graph) {
        sn_errf(e, "%s: candidate %d is damaged (%s)", se->dir, id,
                c->damage ? c->damage : "no graph");
        return NULL;
    }
    char rel[64], p[SN_SEARCH_PATH_LEN + 64];
    snprintf(rel, sizeof rel, "cand/%d.final.bin", id);
    if (!final || faccessat(se->dirfd, rel, F_OK, 0) != 0)
        snprintf(rel, sizeof rel, "cand/%d.bin", id);
    run_path(p, sizeof p, se->dir, "%s", rel);
    char *text;
    size_t len;
    if (sn_read_file_at(se->dirfd, rel, &text, &len, e)) {
        sn_err_prefix(e, "%s/", se->dir);
        return NULL;
    }
    sn_weights *w = sn_weights_decode(c->graph, text, len, p, e);
    free(text);
    return w;
}

static sn_job *job_new(const sn_search *se, int id, int parent) {
    sn_job *j = sn_xcalloc(1, sizeof *j);
    j->info.id = id;
    j->info.parent = parent;
    j->info.status = SN_CAND_QUEUED;
    j->info.val_acc = j->info.test_acc = j->info.final_val_acc = -1;
    j->info.train_loss = -1;
    j->info.fidelity = 1;
    j->info.depth = parent >= 0 ? se->c[parent].info.depth + 1 : 0;
    sn_train_opts t = sn_train_opts_default();
    t.epochs = se->s.epochs;
    if (parent < 0 && se->s.root_epochs > t.epochs) t.epochs = se->s.root_epochs;
    t.batch = se->s.batch;
    t.lr = (float)se->s.lr;
    t.weight_decay = (float)se->s.weight_decay;
    t.seed = search_mix(se->s.seed, 1000003ull + (uint64_t)id);
    t.eval_val = SN_EVAL_LAST_EPOCH; /* only the final accuracy counts */
    j->topt = t;
    return j;
}

/* ---- multi-fidelity -------------------------------------------------------
 * Every child gets the cheap training (settings' epochs; roots their
 * root_epochs) and fidelity 1. A fidelity-1 candidate that lands on or
 * near the front is promoted: its graph is trained PROMOTE_FACTOR x
 * epochs more from its weights, as a new record (parent = it, no morph,
 * fidelity 2). "Near": raising its accuracy by PROMOTE_MARGIN would put
 * it on the front (no front member would dominate it on raw sizes), and
 * that accuracy is above the reference. A done promotion supersedes its
 * parent: the parent leaves the front and the GP; the promoted record
 * takes its place. Promotions run before the strategy's next proposal.
 *
 * Their cost is bounded: promotions get at most PROMOTE_SHARE of the
 * training, counted as epochs x strategy_train_cost (MACs plus a fixed
 * overhead, bo's cost model) over every record and job out, the
 * promotion itself included. Of the due candidates within that share the
 * cheapest goes first (ties: the oldest). Without the bound two
 * 30-minute Fashion-MNIST runs spent 58% of their training on
 * promotions, and one spent 36% on seven promotions of 45-50k networks,
 * trained 43 candidates and found the weakest small members. The cost is
 * the log's, not measured seconds, so a run's promotions depend only on
 * its log. */
#define PROMOTE_MARGIN 0.01
#define PROMOTE_FACTOR 2
#define PROMOTE_SHARE (1.0 / 3.0)

static int dominates_raw(const sn_hv_point *a, const sn_hv_point *b, int dim) {
    int better = a->acc > b->acc;
    if (a->acc < b->acc) return 0;
    for (int k = 0; k < dim; k++) {
        if (a->x[k] < b->x[k]) return 0;
        if (a->x[k] > b->x[k]) better = 1;
    }
    return better;
}

/* What a promotion of a candidate of `flops` MACs costs (see above). */
static double promotion_cost(const sn_search *se, int64_t flops) {
    return (double)(PROMOTE_FACTOR * se->s.epochs) *
           strategy_train_cost(flops);
}

int search_promotion_due(const sn_search *se) {
    int dim = se->s.n_obj;
    /* the training so far, and the promotions' part of it */
    double all = 0, promo = 0;
    for (int i = 0; i < se->n; i++) {
        const sn_cand_info *c = &se->c[i].info;
        if (c->epochs <= 0) continue;
        double t = c->epochs * strategy_train_cost(c->flops);
        all += t;
        if (c->fidelity > 1) promo += t;
    }
    for (int k = 0; k < se->n_out; k++) {
        const sn_job *j = se->out[k];
        double t = j->topt.epochs * strategy_train_cost(j->info.flops);
        all += t;
        if (j->info.fidelity > 1) promo += t;
    }
    sn_hv_point *fp = sn_xmalloc(((size_t)se->n_front + 1) * sizeof *fp);
    for (int i = 0; i < se->n_front; i++) {
        const sn_cand_info *c = &se->c[se->front[i]].info;
        search_raw_point(se, c->params, c->flops, c->memory, c->val_acc,
                         &fp[i]);
    }
    int due = -1;
    double due_cost = 0;
    for (int i = 0; i < se->n; i++) {
        const cand *c = &se->c[i];
        if (c->info.status != SN_CAND_DONE || c->info.fidelity != 1 ||
            c->promoted || c->superseded)
            continue;
        double cost = promotion_cost(se, c->info.flops);
        if (due >= 0 && cost >= due_cost) continue; /* not cheaper */
        if (promo + cost > PROMOTE_SHARE * (all + cost)) continue;
        int out = 0; /* its promotion is already out (several workers) */
        for (int k = 0; k < se->n_out && !out; k++)
            out = se->out[k]->info.parent == i && se->out[k]->info.fidelity > 1;
        if (out) continue;
        if (!sn_settings_fits(&se->s, c->info.params, c->info.flops,
                              c->info.memory))
            continue;
        double acc = c->info.val_acc + PROMOTE_MARGIN;
        if (!(acc > se->s.hv_ref_acc)) continue;
        sn_hv_point q;
        search_raw_point(se, c->info.params, c->info.flops, c->info.memory,
                         acc, &q);
        int dom = 0;
        for (int k = 0; k < se->n_front && !dom; k++)
            dom = se->front[k] != i && dominates_raw(&fp[k], &q, dim);
        if (!dom) {
            due = i;
            due_cost = cost;
        }
    }
    free(fp);
    return due;
}

static void job_sizes(sn_job *j) {
    j->info.params = sn_graph_params(j->graph);
    j->info.flops = sn_graph_flops(j->graph, SN_FLOPS_MACS);
    j->info.memory = sn_graph_peak_bytes(j->graph);
}

/* Replays ops on parent's graph and weights into job j. */
static int make_child(sn_search *se, sn_job *j, const sn_morph_op *ops,
                      int n_ops, sn_error *e) {
    const cand *p = &se->c[j->info.parent];
    sn_weights *w = sn_search_load_weights(se, j->info.parent, 0, e);
    if (!w) return -1;
    sn_graph *g = sn_graph_clone(p->graph);
    j->info.op[0] = j->info.morph[0] = 0;
    for (int k = 0; k < n_ops; k++) {
        sn_graph *g2;
        sn_weights *w2;
        char desc[SN_MORPH_DESC_LEN], txt[48];
        uint64_t seed = search_mix(j->topt.seed, 77 + (uint64_t)k);
        if (sn_morph_apply(g, w, ops[k], seed, &g2, &w2, desc, e)) {
            sn_graph_free(g);
            sn_weights_free(w);
            return -1;
        }
        sn_graph_free(g);
        sn_weights_free(w);
        g = g2;
        w = w2;
        op_text(&ops[k], txt, sizeof txt);
        size_t lo = strlen(j->info.op), lm = strlen(j->info.morph);
        snprintf(j->info.op + lo, sizeof j->info.op - lo, "%s%s",
                 k ? "; " : "", desc);
        snprintf(j->info.morph + lm, sizeof j->info.morph - lm, "%s%s",
                 k ? ";" : "", txt);
    }
    j->graph = g;
    j->w = w;
    job_sizes(j);
    return 0;
}

/* Writes the candidate's files and log line and adds it to the tree.
 * Takes ownership of c's graph and curve; w (may be NULL) is saved. */
static int record(sn_search *se, cand *c, const sn_weights *w, sn_error *e) {
    char bin[64], json[64];
    /* Ids are given in the order records are made: with several jobs out
     * a later proposal may finish first and take the lower id. */
    int id = c->info.id = se->n, wrote_bin = 0;
    if (w && w->info.known) c->graph->info = w->info; /* into N.json too */
    snprintf(bin, sizeof bin, "cand/%d.bin", id);
    snprintf(json, sizeof json, "cand/%d.json", id);
    /* never over an existing file: one the log does not name is the
     * sign of a damaged log (check --repair), not ours to replace */
    if (w) {
        size_t n;
        void *buf = sn_weights_encode(w, c->graph, &n);
        int rc = run_write_new(se, bin, buf, n, e);
        free(buf);
        if (rc) goto fail;
        wrote_bin = 1;
    }
    char *txt = sn_graph_to_json(c->graph);
    int rc = run_write_new(se, json, txt, strlen(txt), e);
    free(txt);
    if (rc) goto fail;
    c->info.elapsed = se->spent;
    c->info.overhead = c->t_start > 0 && w
                           ? sn_now() - c->t_start - c->info.loop_seconds
                           : -1;
    search_add_cand(se, c);
    search_update_front(se);
    se->c[id].info.hypervolume = se->hv;
    char *line = run_cand_line(&se->c[id]);
    rc = run_append_log(se, line, e);
    free(line);
    if (rc) { /* not in the log, so not in the tree, and its files go */
        free_cand(&se->c[--se->n]);
        search_update_front(se);
        unlinkat(se->dirfd, json, 0);
        if (wrote_bin) unlinkat(se->dirfd, bin, 0);
        return -1;
    }
    return 0;
fail:
    if (wrote_bin) unlinkat(se->dirfd, bin, 0);
    sn_graph_free(c->graph);
    free(c->loss);
    free(c->val);
    c->graph = NULL;
    return -1;
}

static int record_unrun(sn_search *se, sn_job *j, sn_cand_status st,
                        sn_error *e) {
    cand c;
    memset(&c, 0, sizeof c);
    c.info = j->info;
    c.info.status = st;
    c.graph = j->graph;
    j->graph = NULL;
    int rc = record(se, &c, NULL, e);
    sn_job_free(j);
    return rc;
}

/* 1 when j's graph is one another job out already trains. */
static int duplicates_job_out(const sn_search *se, sn_job *j) {
    if (se->n_out == 0) return 0;
    if (!j->desc) j->desc = sn_graph_desc_new(j->graph);
    for (int i = 0; i < se->n_out; i++) {
        sn_job *o = se->out[i];
        if (!o->desc) o->desc = sn_graph_desc_new(o->graph);
        if (sn_graph_distance(j->desc, o->desc, 1.0) < 1e-9) return 1;
    }
    return 0;
}

int sn_search_next(sn_search *se, sn_job **out, sn_error *e) {
    SN_ASSERT(se->n_out < se->max_out);
    *out = NULL;
    if (!se->train) return sn_errf(e, "%s: no data attached", se->dir);
    int redraws = 0;
    uint64_t salt = 0; /* changes the strategy's seed after a duplicate */
    for (int tries = 0; tries < 1000; tries++) {
        if (sn_search_exhausted(se)) return 0;
        double t0 = sn_now();
        /* provisional: the id the job gets if it is recorded next */
        int id = se->n + se->n_out, promote;
        sn_job *j = NULL;
        if (id < se->n_roots) {
            j = job_new(se, id, -1);
            j->graph = sn_graph_clone(se->roots[id]);
            j->w = sn_weights_new(j->graph);
            sn_weights_init(j->w, j->graph, j->topt.seed);
            snprintf(j->info.op, sizeof j->info.op, "%s", se->root_op[id]);
            job_sizes(j);
        } else if (se->nq > 0) {
            qitem it = se->q[0];
            memmove(se->q, se->q + 1, (size_t)(se->nq - 1) * sizeof *se->q);
            se->nq--;
            j = job_new(se, id, it.parent);
            sn_morph_op op;
            sn_error pe;
            if (sn_morph_parse(se->c[it.parent].graph, it.morph, 1, &op, &pe) ||
                make_child(se, j, &op, 1, &pe)) {
                /* The user's morph no longer applies: nothing to record. */
                snprintf(se->warning, sizeof se->warning, "enqueue %d %s: %.400s",
                         it.parent, it.morph, pe.msg);
                sn_job_free(j);
                continue;
            }
        } else if ((promote = search_promotion_due(se)) >= 0) {
            j = job_new(se, id, promote);
            if (make_child(se, j, NULL, 0, e)) {
                sn_job_free(j);
                return -1;
            }
            j->topt.epochs = PROMOTE_FACTOR * se->s.epochs;
            j->info.fidelity = se->c[promote].info.fidelity + 1;
            snprintf(j->info.op, sizeof j->info.op,
                     "longer training of #%d (+%d epochs): %.120s", promote,
                     j->topt.epochs, se->c[promote].info.op);
        } else {
            proposal pr;
            uint64_t seed = search_mix(se->s.seed, (uint64_t)id + (salt << 32));
            if (redraws) seed = search_mix(seed, (uint64_t)redraws);
            int got = strategy_propose(se, seed, &pr, e);
            if (got < 0) return -1;
            if (got == 0) return 0;
            j = job_new(se, id, pr.parent);
            if (make_child(se, j, pr.ops, pr.n_ops, e)) {
                sn_job_free(j);
                return -1;
            }
            /* a graph that failed or diverged is not tried again */
            if (strategy_is_failed(se, j->graph)) {
                sn_job_free(j);
                if (++redraws > MAX_REDRAWS) return 0;
                if (se->max_out == 1) se->spent += sn_now() - t0;
                continue;
            }
            /* Several jobs out (workers): do not train one graph twice. */
            if (duplicates_job_out(se, j)) {
                sn_job_free(j);
                salt++;
                continue;
            }
        }
        if (!sn_settings_fits(&se->s, j->info.params, j->info.flops,
                              j->info.memory)) {
            if (record_unrun(se, j, SN_CAND_INFEASIBLE, e)) return -1;
            if (se->max_out == 1) se->spent += sn_now() - t0;
            continue;
        }
        /* The budget is wall time: from here to the end of
         * sn_search_finish (proposing, training, evaluating, writing the
         * files), less the pauses the driver excludes. */
        j->t_begin = t0;
        j->spent0 = se->spent;
        j->clock_fd = se->max_out == 1 ? se->clock_fd : -1;
        se->out[se->n_out++] = j;
        *out = j;
        return 1;
    }
    return 0;
}

const sn_cand_info *sn_job_info(const sn_job *job) { return &job->info; }
const sn_graph *sn_job_graph(const sn_job *job) { return job->graph; }

void sn_job_exclude_time(sn_job *job, double seconds) {
    job->excluded += seconds;
}

/* After every batch: the clock's heartbeat, then the driver's callback. */
static void job_progress(void *ctx, const sn_progress *p) {
    sn_job *j = ctx;
    double now = sn_now();
    if (now - j->last_beat >= CLOCK_BEAT) {
        j->last_beat = now;
        clock_write(j->clock_fd, j->spent0 + now - j->t_begin - j->excluded);
    }
    if (j->user_progress) j->user_progress(j->user_ctx, p);
}

int sn_job_run(sn_job *j, const sn_data *d, const sn_job_ctl *ctl) {
    sn_train_opts o = j->topt;
    if (ctl) {
        o.stop = ctl->stop;
        o.pause = ctl->pause;
        j->user_progress = ctl->progress;
        j->user_ctx = ctl->progress_ctx;
    }
    o.progress = job_progress;
    o.progress_ctx = j;
    j->info.status = SN_CAND_TRAINING;
    double t0 = sn_now();
    sn_train_result r;
    sn_error e;
    int rc = sn_train(j->graph, j->w, d, &o, &r, &e);
    j->ran = 1;
    j->info.loop_seconds = rc ? 0 : r.loop_seconds;
    j->info.seconds = sn_now() - t0 - j->excluded;
    if (j->info.seconds < 0) j->info.seconds = 0;
    if (rc) {
        j->info.status = SN_CAND_FAILED;
        snprintf(j->error, sizeof j->error, "%s", e.msg);
        return 0;
    }
    if (r.status == SN_TRAIN_STOPPED) {
        sn_train_result_free(&r);
        return 1;
    }
    j->info.epochs = r.epochs_done;
    j->info.train_loss = r.train_loss;
    if (r.status == SN_TRAIN_DIVERGED) {
        j->info.status = SN_CAND_DIVERGED;
    } else {
        j->info.status = SN_CAND_DONE;
        j->info.val_acc = r.val_acc;
    }
    if (r.epochs_done > 0) {
        j->n_curve = r.epochs_done;
        j->loss = sn_xmalloc((size_t)r.epochs_done * sizeof(double));
        j->val = sn_xmalloc((size_t)r.epochs_done * sizeof(double));
        for (int k = 0; k < r.epochs_done; k++) {
            j->loss[k] = r.epoch_loss[k];
            j->val[k] = r.epoch_val_acc ? r.epoch_val_acc[k] : -1;
        }
    }
    sn_train_result_free(&r);
    return 0;
}

const char *sn_job_error(const sn_job *job) { return job->error; }

static void take_out(sn_search *se, sn_job *j) {
    for (int i = 0; i < se->n_out; i++)
        if (se->out[i] == j) {
            se->out[i] = se->out[--se->n_out];
            return;
        }
    SN_ASSERT(!"job not out");
}

void sn_search_set_parallel(sn_search *se, int max_jobs) {
    SN_ASSERT(max_jobs >= 1 && se->n_out == 0);
    se->max_out = max_jobs;
    se->out = sn_xrealloc(se->out, (size_t)max_jobs * sizeof *se->out);
    se->charge_mark = sn_now();
}

void sn_search_charge(sn_search *se, int idle) {
    double now = sn_now();
    if (se->max_out > 1 && !idle && now > se->charge_mark)
        se->spent += now - se->charge_mark;
    se->charge_mark = now;
}

int sn_search_jobs_out(const sn_search *se) { return se->n_out; }

int sn_search_finish(sn_search *se, sn_job *j, sn_error *e) {
    SN_ASSERT(j->ran);
    take_out(se, j);
    /* elapsed, as logged with the candidate, includes its own time (the
     * milliseconds of writing its files count towards the next one).
     * With several jobs out their times overlap: wall time is charged
     * instead, from one finish to the next. */
    if (se->max_out > 1) {
        sn_search_charge(se, 0);
    } else {
        double wall = sn_now() - j->t_begin - j->excluded;
        se->spent += wall > 0 ? wall : 0;
    }
    clock_write(se->clock_fd, se->spent);
    cand c;
    memset(&c, 0, sizeof c);
    c.info = j->info;
    /* one job at a time: its wall time is its own, so what it spent
     * outside the training loop is known (record finishes it) */
    if (se->max_out == 1) c.t_start = j->t_begin + j->excluded;
    c.graph = j->graph;
    j->graph = NULL;
    c.loss = j->loss;
    c.val = j->val;
    c.n_curve = j->n_curve;
    j->loss = j->val = NULL;
    int rc = record(se, &c, c.info.status == SN_CAND_DONE ? j->w : NULL, e);
    sn_job_free(j);
    return rc;
}

void sn_search_abandon(sn_search *se, sn_job *j) {
    if (!j) return;
    take_out(se, j);
    /* as in a session that goes on, a dropped job's time is not charged:
     * undo its heartbeats */
    clock_write(se->clock_fd, se->spent);
    sn_job_free(j);
}

int sn_search_step(sn_search *se, const sn_job_ctl *ctl, sn_error *e) {
    sn_job *j;
    int rc = sn_search_next(se, &j, e);
    if (rc <= 0) return rc;
    if (sn_job_run(j, se->train, ctl)) {
        sn_search_abandon(se, j);
        return 0;
    }
    return sn_search_finish(se, j, e) ? -1 : 1;
}

/* ---- fork ---------------------------------------------------------------- */

int sn_search_fork(const char *src, int id, const char *dst,
                   const sn_search_settings *s, sn_error *e) {
    sn_search *from = sn_search_load(src, e);
    if (!from) return -1;
    if (id < 0 || id >= from->n) {
        sn_errf(e, "%s has no candidate %d (ids 0..%d)", src, id, from->n - 1);
        sn_search_free(from);
        return -1;
    }
    if (from->c[id].info.status != SN_CAND_DONE) {
        sn_errf(e, "%s: candidate %d is %s; only trained candidates can be "
                   "forked", src, id,
                sn_cand_status_name(from->c[id].info.status));
        sn_search_free(from);
        return -1;
    }
    sn_weights *w = sn_search_load_weights(from, id, 0, e);
    if (!w) {
        sn_search_free(from);
        return -1;
    }
    sn_search_settings t = s ? *s : from->s;
    snprintf(t.origin_run, sizeof t.origin_run, "%s", src);
    t.origin_cand = id;
    int rc = -1;
    sn_search *to = NULL;
    const sn_cand_info *ci = &from->c[id].info;
    for (int m = 0; m < SN_OBJ_COUNT; m++) {
        int64_t lim = search_limit(&t, m);
        int64_t v = search_metric(m, ci->params, ci->flops, ci->memory);
        t.hv_ref[m] = lim > 0 ? 10.0 * (double)lim
                              : 100.0 * (double)(v > 1 ? v : 1);
    }
    if (!(t.hv_ref_acc >= 0)) t.hv_ref_acc = from->s.hv_ref_acc;
    to = sn_search_create(dst, &t, e);
    if (!to) goto out;
    cand c;
    memset(&c, 0, sizeof c);
    c.info = *ci;
    c.info.id = 0;
    c.info.parent = -1;
    c.info.test_acc = c.info.final_val_acc = -1;
    c.info.morph[0] = 0;
    snprintf(c.info.op, sizeof c.info.op, "fork of %.160s#%d", src, id);
    c.graph = sn_graph_clone(from->c[id].graph);
    if (from->c[id].n_curve) {
        int k = from->c[id].n_curve;
        c.loss = sn_xmalloc((size_t)k * sizeof(double));
        c.val = sn_xmalloc((size_t)k * sizeof(double));
        memcpy(c.loss, from->c[id].loss, (size_t)k * sizeof(double));
        memcpy(c.val, from->c[id].val, (size_t)k * sizeof(double));
        c.n_curve = k;
    }
    rc = record(to, &c, w, e);
out:
    sn_weights_free(w);
    sn_search_free(to);
    sn_search_free(from);
    return rc;
}
