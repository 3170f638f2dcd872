/* tui_compare.h — other runs in the explorer's Pareto pane:
 *   :compare RUN...   overlays the fronts of other run directories (read
 *                     once, like `slimnas report`); :compare alone clears
 *   :forks [on|off]   shows or hides the fronts of the current run's forks
 *                     open in this explorer (live; shown by default)
 *   :report FILE      writes `slimnas report` of what the pane shows: the
 *                     current run, the compared runs and the shown forks,
 *                     on the plot's size metric, with the selected
 *                     candidate's per-layer bars
 * Each other run has its own mark (▲ ■ ✚ ★ ▼ ✖, ASCII A B C ...) and a
 * legend line in the pane's top right corner. Only the UI thread calls
 * these. */
#ifndef SLIMNAS_TUI_COMPARE_H
#define SLIMNAS_TUI_COMPARE_H

#include "tui_internal.h"

/* The three commands above (entries of tui_main.c's command table). */
void tui_cmd_compare(tui *t, const char *arg);
void tui_cmd_forks(tui *t, const char *arg);
void tui_cmd_report(tui *t, const char *arg);
/* Appends the other runs' front members to t->pts (flag SN_PT_OTHER: they
 * widen the plot's ranges, the caller's renderer does not draw them). */
void tui_compare_points(tui *t);
/* Draws their marks and the legend over the rendered plot in pane r. */
void tui_compare_draw(tui *t, sn_rect r);
/* Frees what :compare loaded. */
void tui_compare_free(void);

#endif
