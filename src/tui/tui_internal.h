/* tui_internal.h — what the curses side of the explorer shares:
 *   tui_main.c     the loop (poll on keyboard + engine), snapshots, input,
 *                  mouse, and the one command parser keys and ':' share
 *   tui_draw.c     drawing every pane from the state below
 *   tui_cmdline.c  GNU readline's callback interface inside curses
 *   tui_headless.c the fallback without a terminal
 * Only the UI thread touches any of this (and curses and readline). */
#ifndef SLIMNAS_TUI_INTERNAL_H
#define SLIMNAS_TUI_INTERNAL_H

#include "slimnas/tui.h"

#define TUI_MAX_THEMES 32
#define DET_GRAPH 0x7f /* first byte of a detail line drawn as a graph */

/* View state of one run (kept per engine handle, so switching runs and
 * back finds the tree as it was left). */
typedef struct runview {
    sn_tree_state tree;
    int detail_scroll;
    int detail_hscroll; /* columns scrolled right in the candidate view */
    int log_scroll; /* lines up from the newest; 0 follows the tail */
    int log_hscroll;
    int follow;     /* select the newest candidate until the user moves */
} runview;

typedef struct tui {
    sn_engine *en;
    int h;                    /* the run shown */
    const sn_snapshot *snap;  /* its latest snapshot (held) */
    sn_tui_opts opts;

    runview *rv;              /* by handle */
    int n_rv;

    /* screen */
    int cols, lines;
    sn_layout lay;
    int focus;                /* sn_pane */
    int detail_open;          /* compact layout: candidate view shown */
    int zoom;                 /* the focused pane fills the screen */
    sn_sort sort;             /* the tree pane: tree or a sorted list */
    int ascii;
    sn_glyphs glyphs;
    sn_objective metric;      /* plot's x axis and the tree's size column */
    int colour;               /* colours in use (terminal has them, no
                                 NO_COLOR, theme not stripped) */
    sn_theme theme;
    char themes[TUI_MAX_THEMES][64];
    int n_themes;

    /* derived from the snapshot each frame */
    sn_tree_row *rows;
    int n_rows;
    sn_plot plot;             /* last rendered, for mouse picking */
    sn_plot_point *pts;
    int n_pts;
    sn_plot_spec spec;
    int plot_x, plot_y;       /* screen position of plot cell (0,0) */

    /* candidate view cache */
    int det_h, det_id;
    sn_cand_status det_status;
    int det_ok;
    char det_err[256];
    sn_lines det_lines;       /* the whole view, built once per change;
                                 each line starts with its slot + 1, or
                                 DET_GRAPH for a graph line */
    int det_width;
    int det_gw;               /* gutter columns of graph lines */

    /* bottom line and modes */
    char msg[512];
    int msg_error;
    int cmd_active;           /* readline line open */
    char cmd_hint[512];       /* completion matches shown above it */
    int find_prompt;          /* the line is a '/' search */
    char ask[320];            /* a y/n question on the bottom line */
    char ask_cmd[1100];       /* the command y runs */
    char ask_what[64];        /* "quit", "fork": for "... cancelled" */
    int confirmed;            /* the command running was answered y */
    int runs_open;            /* the run pick list */
    int runs_sel;             /* its highlighted row (a handle) */
    int help_open;
    int help_scroll;
    char find_text[128];
    int quit;
    int dirty;
} tui;

/* tui_main.c */
/* The layout without zoom (what Tab cycles through). */
void tui_layout_base(const tui *t, sn_layout *l);
void tui_message(tui *t, int error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void tui_run_command(tui *t, const char *line);
runview *tui_view(tui *t);

/* tui_draw.c */
unsigned long tui_slot_attr(const tui *t, int slot); /* curses attr_t */
void tui_colours_init(tui *t);
void tui_draw(tui *t);
/* Draws only the bottom line (readline's redisplay calls this). */
void tui_draw_bottom(tui *t);
/* The candidate view's lines for the selected candidate (cached). */
void tui_detail_update(tui *t, int width);
/* Lines of the help overlay. */
void tui_help_lines(sn_lines *out);
/* The widest line of the candidate view (for horizontal scrolling). */
int tui_detail_width(const tui *t);

/* tui_cmdline.c */
int tui_cmdline_init(tui *t);
void tui_cmdline_open(tui *t, const char *prompt, const char *initial);
/* Feeds one key (curses wide char or KEY_ code) to the open line. */
void tui_cmdline_key(tui *t, int is_code, unsigned key);
void tui_cmdline_cancel(tui *t);
void tui_cmdline_done(tui *t); /* saves history */
/* Draws the open line in row y (w columns) and leaves the cursor on it. */
void tui_cmdline_draw(tui *t, int y, int w);

#endif
