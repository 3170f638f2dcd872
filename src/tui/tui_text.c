/* tui_text.c — text helpers for the explorer: display widths and
 * clipping of UTF-8, line lists, compact numbers and durations, and the
 * status bar and limits line built from a snapshot. Pure functions. */
#include "slimnas/tui.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Length in bytes of the UTF-8 sequence that starts with byte c (a stray
 * continuation byte counts as one, so bad input cannot stall a loop). */
static int u8_len(unsigned char c) {
    if (c < 0x80) return 1;
    if ((c & 0xe0) == 0xc0) return 2;
    if ((c & 0xf0) == 0xe0) return 3;
    if ((c & 0xf8) == 0xf0) return 4;
    return 1;
}

int sn_tui_width(const char *s) {
    int w = 0;
    while (*s) {
        int l = u8_len((unsigned char)*s);
        for (int i = 0; i < l && *s; i++) s++;
        w++;
    }
    return w;
}

int sn_tui_clip(char *buf, size_t n, const char *s, int cols, int ellipsis,
                int ascii) {
    SN_ASSERT(n > 0);
    buf[0] = 0;
    if (cols <= 0) return 0;
    int total = sn_tui_width(s);
    int keep = total <= cols ? total : (ellipsis ? cols - 1 : cols);
    size_t o = 0;
    int w = 0;
    const char *p = s;
    while (*p && w < keep) {
        int l = u8_len((unsigned char)*p);
        int real = 0;
        while (real < l && p[real]) real++;
        if (o + (size_t)real + 1 > n) break;
        memcpy(buf + o, p, (size_t)real);
        o += (size_t)real;
        p += real;
        w++;
    }
    if (total > cols && ellipsis) {
        const char *dots = ascii ? "~" : "\xe2\x80\xa6"; /* … */
        size_t dl = strlen(dots);
        if (o + dl + 1 <= n) {
            memcpy(buf + o, dots, dl);
            o += dl;
            w++;
        }
    }
    buf[o] = 0;
    return w;
}

void sn_lines_add(sn_lines *l, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    va_list ap2;
    va_copy(ap2, ap);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    SN_ASSERT(len >= 0);
    char *s = sn_xmalloc((size_t)len + 1);
    vsnprintf(s, (size_t)len + 1, fmt, ap2);
    va_end(ap2);
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->s = sn_xrealloc(l->s, (size_t)l->cap * sizeof *l->s);
    }
    l->s[l->n++] = s;
}

void sn_lines_free(sn_lines *l) {
    for (int i = 0; i < l->n; i++) free(l->s[i]);
    free(l->s);
    memset(l, 0, sizeof *l);
}

const char *sn_tui_fmt_num(char *buf, size_t n, double v) {
    static const char *const unit[] = {"", "k", "M", "G", "T"};
    double a = fabs(v);
    int u = 0;
    while (a >= 999.5 && u < 4) {
        a /= 1000;
        v /= 1000;
        u++;
    }
    /* Up to three significant digits, trailing zeros dropped: 2.5k, 20k,
     * 150k, 0.25 (axis labels must be short and distinct). */
    char tmp[32];
    if (a >= 100 || a == 0) snprintf(tmp, sizeof tmp, "%.0f", v);
    else if (a >= 10) snprintf(tmp, sizeof tmp, "%.1f", v);
    else if (a >= 1 || u > 0) snprintf(tmp, sizeof tmp, "%.2f", v);
    else snprintf(tmp, sizeof tmp, "%.3g", v);
    if (strchr(tmp, '.') && !strchr(tmp, 'e')) {
        size_t l = strlen(tmp);
        while (l && tmp[l - 1] == '0') tmp[--l] = 0;
        if (l && tmp[l - 1] == '.') tmp[--l] = 0;
    }
    snprintf(buf, n, "%s%s", tmp, unit[u]);
    return buf;
}

const char *sn_tui_fmt_duration(char *buf, size_t n, double seconds) {
    if (!(seconds >= 0)) seconds = 0;
    long s = (long)(seconds + 0.5);
    if (s < 60) snprintf(buf, n, "%lds", s);
    else if (s < 3600) snprintf(buf, n, "%ldm%02lds", s / 60, s % 60);
    else snprintf(buf, n, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
    return buf;
}

const char *sn_tui_fmt_clock(char *buf, size_t n, double seconds) {
    if (!(seconds >= 0) || seconds > 1e9) seconds = 0;
    long s = (long)seconds;
    if (s < 3600) snprintf(buf, n, "%02ld:%02ld", s / 60, s % 60);
    else snprintf(buf, n, "%ld:%02ld:%02ld", s / 3600, (s % 3600) / 60,
                  s % 60);
    return buf;
}

/* ---- status bar ---------------------------------------------------------- */

/* Appends part to buf when it still fits in width columns (parts are
 * offered in order of importance; a part that does not fit is skipped,
 * later shorter ones may still go in). */
static void put_part(char *buf, size_t n, int width, const char *sep,
                     const char *part) {
    if (!part[0]) return;
    int have = sn_tui_width(buf);
    int add = (have ? sn_tui_width(sep) : 0) + sn_tui_width(part);
    if (have + add > width) return;
    size_t l = strlen(buf);
    snprintf(buf + l, n - l, "%s%s", have ? sep : "", part);
}

void sn_tui_status(const sn_snapshot *s, int run, int n_runs, int width,
                   char *buf, size_t n) {
    SN_ASSERT(n > 0);
    buf[0] = 0;
    const char *sep = " | ";
    char part[256], a[32], b[32];

    if (n_runs > 1)
        snprintf(part, sizeof part, "%s [%d/%d] %s", s->name, run + 1, n_runs,
                 sn_run_state_name(s->state));
    else
        snprintf(part, sizeof part, "%s %s", s->name,
                 sn_run_state_name(s->state));
    put_part(buf, n, width, sep, part);

    part[0] = 0;
    if (s->final_n > 0) {
        snprintf(part, sizeof part, "final %d/%d", s->final_k, s->final_n);
    } else if (s->current >= 0) {
        const sn_progress *p = &s->progress;
        /* the trainer's batch is 0-based; clamp so a report at the end of
         * an epoch never reads "b4/3" */
        int bt = p->batch + 1 < p->batches ? p->batch + 1 : p->batches;
        int ep = p->epoch + 1 < p->epochs ? p->epoch + 1 : p->epochs;
        if (p->batches > 0)
            snprintf(part, sizeof part, "#%d e%d/%d b%d/%d", s->current, ep,
                     p->epochs, bt, p->batches);
        else
            snprintf(part, sizeof part, "#%d", s->current);
    } else if (s->n_workers > 0) {
        /* MPI: how many workers train, and each one's candidate and time */
        int busy = 0, lost = 0;
        for (int k = 0; k < s->n_workers; k++) {
            busy += s->workers[k].state == SN_WORKER_BUSY;
            lost += s->workers[k].state == SN_WORKER_LOST;
        }
        size_t o = (size_t)snprintf(part, sizeof part, "workers %d/%d busy",
                                    busy, s->n_workers - lost);
        if (lost && o < sizeof part)
            o += (size_t)snprintf(part + o, sizeof part - o, ", %d lost", lost);
        for (int k = 0; k < s->n_workers && o < sizeof part; k++)
            if (s->workers[k].state == SN_WORKER_BUSY)
                o += (size_t)snprintf(
                    part + o, sizeof part - o, " %d:#%d %s", k + 1,
                    s->workers[k].cand,
                    sn_tui_fmt_duration(a, sizeof a, s->workers[k].seconds));
    }
    put_part(buf, n, width, sep, part);

    char fr[64];
    snprintf(fr, sizeof fr, "front %d  hv %.3f", s->n_front, s->hypervolume);
    char tm[96];
    sn_tui_fmt_duration(a, sizeof a, s->elapsed);
    if (s->settings.budget > 0) {
        double left = s->settings.budget - s->elapsed;
        snprintf(tm, sizeof tm, "%s, %s left", a,
                 sn_tui_fmt_duration(b, sizeof b, left > 0 ? left : 0));
    }
    else
        snprintf(tm, sizeof tm, "%s", a);
    char ips[32] = "";
    if (s->current >= 0 && s->progress.img_s > 0)
        snprintf(ips, sizeof ips, "%.0f img/s", s->progress.img_s);
    char cands[32];
    snprintf(cands, sizeof cands, "%d cand", s->n_records);

    /* Front and time matter more than throughput when space is short. */
    put_part(buf, n, width, sep, fr);
    put_part(buf, n, width, sep, tm);
    put_part(buf, n, width, sep, ips);
    put_part(buf, n, width, sep, cands);
}

void sn_tui_run_line(const sn_snapshot *s, int k, int width, char *buf,
                     size_t n) {
    SN_ASSERT(n > 0);
    double best = -1;
    for (int i = 0; i < s->n_records; i++)
        if (s->cands[i].status == SN_CAND_DONE && s->cands[i].val_acc > best)
            best = s->cands[i].val_acc;
    char acc[32] = "best -";
    if (best >= 0) snprintf(acc, sizeof acc, "best %.1f%%", 100 * best);
    char line[1024];
    snprintf(line, sizeof line, "%d  %s  %s  %d cand  %s  front %d  %s",
             k + 1, s->name, sn_run_state_name(s->state), s->n_records, acc,
             s->n_front, s->dir);
    sn_tui_clip(buf, n, line, width, 0, 1);
}

void sn_tui_limits(const sn_search_settings *s, char *buf, size_t n) {
    SN_ASSERT(n > 0);
    buf[0] = 0;
    const struct {
        const char *key;
        int64_t v;
    } lim[] = {{"max-params", s->max_params},
               {"max-flops", s->max_flops},
               {"max-memory", s->max_memory}};
    for (int i = 0; i < 3; i++) {
        if (lim[i].v <= 0) continue;
        char num[32];
        size_t l = strlen(buf);
        snprintf(buf + l, n - l, "%s%s %s", l ? ", " : "", lim[i].key,
                 sn_tui_fmt_num(num, sizeof num, (double)lim[i].v));
    }
}
