/* final.c — `--final N` and `--final-at SIZE,...`: the front members
 * retrained on all the training data (validation included) for
 * final-epochs (final-augment-epochs with crop+flip, when set) and
 * evaluated on the test split, each recorded as a "final" line of
 * results.log (search.h, sn_search_final). */
#include "search_internal.h"

#include <cJSON.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- final retraining ------------------------------------------------ */

/* v rounded to `decimals` places as printed: the log keeps the digits
 * that mean something (6 for accuracies, milliseconds for times). */
static double rounded(int decimals, double v) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return strtod(buf, NULL);
}

int search_best_at(const sn_search *se, const int *ids, int n,
                   int64_t size) {
    int at = -1;
    for (int i = 0; i < n; i++) {
        const sn_cand_info *c = &se->c[ids[i]].info;
        if (search_metric(se->s.obj[0], c->params, c->flops, c->memory) >
            size)
            continue;
        if (at < 0 || c->val_acc > se->c[ids[at]].info.val_acc) at = i;
    }
    return at;
}

int search_final_pick(const int64_t *size, const double *acc, int n,
                      int64_t at, double tol) {
    int best = -1;
    for (int i = 0; i < n; i++)
        if (size[i] <= at && (best < 0 || acc[i] > acc[best])) best = i;
    if (best < 0) return -1;
    int pick = best;
    for (int i = 0; i < n; i++) {
        if (size[i] > at || acc[i] < acc[best] - tol) continue;
        if (size[i] > size[pick] ||
            (size[i] == size[pick] && acc[i] > acc[pick]))
            pick = i;
    }
    return pick;
}

/* sn_train_opts.augment for retraining candidate id (--final-augment). */
static int final_augment(const sn_search *se, int id) {
    const sn_cand_info *c = &se->c[id].info;
    int64_t from = se->s.final_augment_from,
            size = search_metric(se->s.obj[0], c->params, c->flops,
                                 c->memory);
    return from == 1 || (from > 1 && size >= from) ? SN_TRAIN_AUG_ON
           : from < 0                               ? SN_TRAIN_AUG_OFF
                                                    : SN_TRAIN_AUG_DATA;
}

/* 1 when candidate id's final retraining uses crop+flip. */
static int final_augments(const sn_search *se, int id) {
    const sn_data *d = se->full ? se->full : se->train;
    sn_train_opts o = sn_train_opts_default();
    o.augment = final_augment(se, id);
    return d ? sn_train_augments(&o, d) : o.augment == SN_TRAIN_AUG_ON;
}

int search_final_at(const sn_search *se, int64_t at) {
    int n = 0;
    int64_t *size = sn_xmalloc(((size_t)se->n + 1) * sizeof *size);
    double *acc = sn_xmalloc(((size_t)se->n + 1) * sizeof *acc);
    int *id = sn_xmalloc(((size_t)se->n + 1) * sizeof *id);
    /* the candidates the front is drawn from, and of those the ones
     * above the reference accuracy while there are */
    for (int pass = 0; pass < 2 && n == 0; pass++)
        for (int i = 0; i < se->n; i++) {
            const cand *c = &se->c[i];
            if (!search_front_eligible(se, i)) continue;
            if (pass == 0 && c->info.val_acc <= se->s.hv_ref_acc) continue;
            size[n] = search_metric(se->s.obj[0], c->info.params,
                                    c->info.flops, c->info.memory);
            acc[n] = c->info.val_acc;
            id[n++] = i;
        }
    /* the standard error of the best one's validation accuracy */
    int nv = se->train ? sn_data_count(se->train, SN_SPLIT_VAL) : 0;
    int b = search_final_pick(size, acc, n, at, 0), r = -1;
    if (b >= 0) {
        double tol = nv > 0 ? sqrt(acc[b] * (1 - acc[b]) / nv) : 0;
        int k = search_final_pick(size, acc, n, at, tol);
        r = final_augments(se, id[k]) ? id[k] : id[b];
    }
    free(size);
    free(acc);
    free(id);
    return r;
}

/* n members spread evenly over the front on a log scale of the first size
 * objective (the front's own order), so a front crowded with tiny
 * networks still sends its mid-sized and large members to retraining;
 * the most accurate member is always among them. Members at or below the
 * reference accuracy add nothing to the hypervolume and are left out
 * while any member is above it. Returned in front order, then
 * search_final_at's pick at each --final-at size. */
static int final_members(const sn_search *se, int n, int *out) {
    int *f = sn_xmalloc(((size_t)se->n_front + 1) * sizeof *f);
    int k = 0;
    for (int i = 0; i < se->n_front; i++)
        if (se->c[se->front[i]].info.val_acc > se->s.hv_ref_acc)
            f[k++] = se->front[i];
    if (k == 0)
        for (int i = 0; i < se->n_front; i++) f[k++] = se->front[i];
    int m = 0, mo = se->s.obj[0];
    if (n >= k) {
        for (int i = 0; i < k; i++) out[m++] = f[i];
    } else if (n > 0) {
        int best = 0;
        for (int i = 1; i < k; i++)
            if (se->c[f[i]].info.val_acc > se->c[f[best]].info.val_acc)
                best = i;
        char *pick = sn_xcalloc((size_t)k, 1);
        pick[best] = 1;
        double *ls = sn_xmalloc((size_t)k * sizeof *ls);
        double lo = INFINITY, hi = -INFINITY;
        for (int i = 0; i < k; i++) {
            const sn_cand_info *c = &se->c[f[i]].info;
            int64_t v = search_metric(mo, c->params, c->flops, c->memory);
            ls[i] = log((double)(v > 1 ? v : 1));
            lo = fmin(lo, ls[i]);
            hi = fmax(hi, ls[i]);
        }
        /* with the best near the top, n - 1 more at evenly spaced log
         * sizes from the smallest up: lo, lo + (hi - lo)/(n - 1), ... */
        for (int t = 0; t < n - 1; t++) {
            double want = lo + (hi - lo) * t / (n - 1);
            int at = -1;
            for (int i = 0; i < k; i++)
                if (!pick[i] && (at < 0 || fabs(ls[i] - want) <
                                               fabs(ls[at] - want)))
                    at = i;
            if (at >= 0) pick[at] = 1;
        }
        for (int i = 0; i < k; i++)
            if (pick[i]) out[m++] = f[i];
        free(ls);
        free(pick);
    }
    /* final-at: search_final_at's pick at each size */
    for (int a = 0; a < se->s.n_final_at; a++) {
        int id = search_final_at(se, se->s.final_at[a]);
        int dup = id < 0;
        for (int i = 0; i < m && !dup; i++) dup = out[i] == id;
        if (!dup) out[m++] = id;
    }
    free(f);
    return m;
}

int sn_search_final(sn_search *se, int n, const sn_job_ctl *ctl,
                    sn_final_fn fn, void *ctx, sn_error *e) {
    if (!se->train) return sn_errf(e, "%s: no data attached", se->dir);
    const sn_data *d = se->full ? se->full : se->train;
    int *ids = sn_xmalloc(((size_t)se->n_front + SN_FINAL_AT_MAX + 1) *
                          sizeof *ids);
    int m = final_members(se, n, ids), done = 0;
    for (int k = 0; k < m; k++) {
        int id = ids[k];
        cand *c = &se->c[id];
        if (c->info.test_acc >= 0) {
            done++;
            continue;
        }
        sn_train_opts o = sn_train_opts_default();
        o.batch = se->s.batch;
        o.lr = (float)se->s.lr;
        o.weight_decay = (float)se->s.weight_decay;
        o.seed = search_mix(se->s.seed, 2000003ull + (uint64_t)id);
        o.eval_val = SN_EVAL_LAST_EPOCH;
        o.augment = final_augment(se, id);
        int aug = sn_train_augments(&o, d);
        o.epochs = aug && se->s.final_augment_epochs > 0
                       ? se->s.final_augment_epochs
                       : se->s.final_epochs;
        if (fn) fn(ctx, id, k, m, o.epochs);
        sn_weights *w = sn_search_load_weights(se, id, 0, e);
        if (!w) {
            free(ids);
            return -1;
        }
        if (ctl) {
            o.stop = ctl->stop;
            o.pause = ctl->pause;
            o.progress = ctl->progress;
            o.progress_ctx = ctl->progress_ctx;
        }
        sn_train_result r;
        double t0 = sn_now();
        if (sn_train(c->graph, w, d, &o, &r, e)) {
            sn_weights_free(w);
            free(ids);
            return -1;
        }
        if (r.status == SN_TRAIN_STOPPED) {
            sn_train_result_free(&r);
            sn_weights_free(w);
            break;
        }
        double val = r.val_acc, secs = sn_now() - t0;
        int ep = r.epochs_done, div = r.status == SN_TRAIN_DIVERGED;
        sn_train_result_free(&r);
        double test = 0;
        if (!div) {
            sn_eval_result ev;
            if (sn_evaluate(c->graph, w, d, SN_SPLIT_TEST, 256, NULL, &ev, e)) {
                sn_weights_free(w);
                free(ids);
                return -1;
            }
            test = ev.acc;
            sn_eval_result_free(&ev);
            char rel[64];
            snprintf(rel, sizeof rel, "cand/%d.final.bin", id);
            size_t nb;
            void *buf = sn_weights_encode(w, c->graph, &nb);
            int wrc = run_write_new(se, rel, buf, nb, e);
            free(buf);
            if (wrc) {
                sn_weights_free(w);
                free(ids);
                return -1;
            }
        }
        sn_weights_free(w);
        /* {"final":ID,"status":...,"val_acc":...,"test_acc":...,"epochs":
         * N,"augment":B,"seconds":S}; a diverged retraining has no
         * accuracy (null) */
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "final", id);
        cJSON_AddStringToObject(j, "status", div ? "diverged" : "done");
        if (div) cJSON_AddNullToObject(j, "val_acc");
        else cJSON_AddNumberToObject(j, "val_acc", rounded(6, val));
        cJSON_AddNumberToObject(j, "test_acc", rounded(6, test));
        cJSON_AddNumberToObject(j, "epochs", ep);
        cJSON_AddBoolToObject(j, "augment", aug);
        cJSON_AddNumberToObject(j, "seconds", rounded(3, secs));
        char *line = sn_json_print(j, 0);
        int arc = run_append_log(se, line, e);
        free(line);
        if (arc) {
            char rel[64];
            snprintf(rel, sizeof rel, "cand/%d.final.bin", id);
            unlinkat(se->dirfd, rel, 0); /* not in the log */
            free(ids);
            return -1;
        }
        c->info.test_acc = test;
        c->info.final_val_acc = div ? -1 : val;
        done++;
    }
    free(ids);
    return done;
}
