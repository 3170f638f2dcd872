/* tui_layout.c — where each pane goes for a given terminal size.
 *
 * 80x24 is the smallest comfortable size (the tree and the plot side by
 * side, a three-line log); from 150x40 up the candidate view gets its own
 * pane under the plot so everything is visible at once. Any pane can be
 * zoomed to the whole screen. Pure functions. */
#include "slimnas/tui.h"

#include <string.h>

static sn_rect rect(int x, int y, int w, int h) {
    sn_rect r = {x, y, w > 0 ? w : 0, h > 0 ? h : 0};
    return r;
}

void sn_layout_compute(int w, int h, int detail, sn_layout *l) {
    memset(l, 0, sizeof *l);
    if (w < 60 || h < 16) {
        l->too_small = 1;
        l->status = rect(0, 0, w, h > 0 ? 1 : 0);
        l->bottom = rect(0, h - 1, w, h > 1 ? 1 : 0);
        return;
    }
    l->status = rect(0, 0, w, 1);
    l->bottom = rect(0, h - 1, w, 1);
    int top = 1, mid = h - 2; /* rows between status and bottom */
    l->wide = w >= 150 && h >= 40;
    if (!l->wide) {
        /* Log: 3 text lines at 24 rows, more on taller screens. */
        int logh = mid >= 34 ? 9 : mid >= 26 ? 7 : 5;
        int paneh = mid - logh;
        int treew = w * 45 / 100;
        if (treew < 30) treew = 30;
        l->pane[SN_PANE_TREE] = rect(0, top, treew, paneh);
        sn_rect right = rect(treew, top, w - treew, paneh);
        if (detail) l->pane[SN_PANE_DETAIL] = right;
        else l->pane[SN_PANE_PLOT] = right;
        l->pane[SN_PANE_LOG] = rect(0, top + paneh, w, logh);
        return;
    }
    /* the log's lines and the tree's descriptions are long: both get
     * room as the screen widens (the log the whole width) */
    int treew = w * 40 / 100;
    if (treew < 60) treew = 60;
    int logh = mid / 5 > 8 ? mid / 5 : 8;
    int upper = mid - logh;
    l->pane[SN_PANE_TREE] = rect(0, top, treew, upper);
    l->pane[SN_PANE_LOG] = rect(0, top + upper, w, logh);
    int ploth = upper * 45 / 100;
    l->pane[SN_PANE_PLOT] = rect(treew, top, w - treew, ploth);
    l->pane[SN_PANE_DETAIL] = rect(treew, top + ploth, w - treew,
                                   upper - ploth);
}

void sn_layout_zoom(sn_layout *l, int pane) {
    if (l->too_small || pane < 0 || pane >= SN_PANE_COUNT ||
        !l->pane[pane].w)
        return;
    for (int p = 0; p < SN_PANE_COUNT; p++) l->pane[p] = rect(0, 0, 0, 0);
    l->pane[pane] = rect(0, l->status.h, l->status.w,
                         l->bottom.y - l->status.h);
}
