/* record.c — a snapshot's candidate as the one text line headless runs
 * print (the CLI's search/resume/fork and the explorer's --headless). */
#include "slimnas/engine.h"

#include <stdio.h>
#include <string.h>

const char *sn_run_left(char *b, size_t n, const sn_search_settings *st,
                        double elapsed, int n_records) {
    char d[32];
    if (st->budget > 0)
        snprintf(b, n, "%s left",
                 sn_fmt_duration(d, sizeof d, st->budget - elapsed));
    else snprintf(b, n, "no budget");
    if (st->max_candidates > 0) {
        size_t l = strlen(b);
        int togo = st->max_candidates - n_records;
        snprintf(b + l, n - l, ", %d to go", togo > 0 ? togo : 0);
    }
    return b;
}

const char *sn_snapshot_record_line(const sn_snapshot *s, int id, char *buf,
                                    size_t n) {
    const sn_cand_info *c = &s->cands[id];
    char p[32], f[32], par[16], acc[16], el[32], left[64];
    sn_fmt_int(p, sizeof p, c->params);
    sn_fmt_si(f, sizeof f, (double)c->flops);
    if (c->parent >= 0) snprintf(par, sizeof par, "#%d", c->parent);
    else snprintf(par, sizeof par, "-");
    if (c->status == SN_CAND_DONE)
        snprintf(acc, sizeof acc, "%6.2f%%", 100 * c->val_acc);
    else snprintf(acc, sizeof acc, "%s", sn_cand_status_name(c->status));
    sn_run_left(left, sizeof left, &s->settings, s->elapsed, id + 1);
    snprintf(buf, n, "#%-4d %-5s %-44.44s %9s %7s %10s  front %-3d hv %.4f  "
                     "%6s, %s",
             c->id, par, c->op, p, f, acc, s->n_front, c->hypervolume,
             sn_fmt_duration(el, sizeof el, s->elapsed), left);
    return buf;
}
