/* slimnas/tui.h — the explorer: an ncurses front-end on the engine API.
 *
 *   sn_engine *en = sn_engine_new();
 *   int h = sn_engine_start(en, "runs/demo", &settings, 0, &err);
 *   sn_tui_opts o = sn_tui_opts_default();
 *   int rc = sn_tui_run(en, h, &o, &err);   // until the user quits
 *   sn_engine_free(en);                     // the run stays resumable
 *
 * The explorer is a client of include/slimnas/engine.h only: it reads
 * snapshots and sends command strings (sn_engine_exec), exactly as the
 * headless command line does. The UI thread alone touches curses and
 * readline; it sleeps in pselect() on the engine's wake-up descriptor and
 * the keyboard together (SIGWINCH unblocked only there).
 *
 * Everything that decides what goes where on the screen is a pure
 * function declared below (themes and colour mapping, the Pareto plot
 * rasteriser, axis ticks, the sparkline, tree flattening with fold and
 * selection state, the layout, the per-layer table, the text graph, the
 * status line, command resolution and completion), so it is unit-tested
 * without a terminal (tests/test_tui.c). The curses shell (src/tui/
 * tui_main.c, tui_draw.c, tui_cmdline.c) only copies their output to the
 * screen.
 *
 * Text is UTF-8. Display widths are counted one column per code point
 * (every glyph used here is narrow). Functions that draw take an `ascii`
 * flag (or sn_glyphs) choosing Unicode braille/box characters or a
 * plain-ASCII fallback; the explorer uses ASCII when the locale is not
 * UTF-8 or --ascii is given.
 */
#ifndef SLIMNAS_TUI_H
#define SLIMNAS_TUI_H

#include "slimnas/engine.h"

/* ---- running the explorer ------------------------------------------- */

typedef struct sn_tui_opts {
    const char *theme;      /* theme name or path; NULL = "default" */
    int ascii;              /* 1: plain-ASCII glyphs even in UTF-8 */
    const char *history;    /* readline history file; NULL = the default
                               ($XDG_STATE_HOME or ~/.local/state)/
                               slimnas/history */
} sn_tui_opts;

sn_tui_opts sn_tui_opts_default(void);

/* Blocks SIGWINCH, SIGTERM, SIGHUP and SIGINT in the calling thread. Call
 * it before any thread starts (sn_threads_init, sn_engine_start): threads
 * inherit the mask, so those signals reach only the UI thread, which
 * takes them inside its pselect (resize, clean quit). */
void sn_tui_prepare(void);

/* 0 when stdin and stdout are a terminal curses can draw on (TERM set,
 * in terminfo, with cursor addressing and clear: not "dumb"), else -1
 * with the reason in e. Call it before starting anything. */
int sn_tui_terminal_check(sn_error *e);

/* Runs the explorer on search h of en until the user quits. Returns 0,
 * or -1 with e when the terminal cannot be set up. Does not free en. */
int sn_tui_run(sn_engine *en, int h, const sn_tui_opts *o, sn_error *e);

/* Headless fallback: prints one line per finished candidate of search h
 * (and the front at the end) to f until the search is over. */
int sn_tui_headless(sn_engine *en, int h, FILE *f);

/* ---- text utilities ----------------------------------------------------- */

/* Display columns of UTF-8 text (one per code point). */
int sn_tui_width(const char *s);
/* Copies at most `cols` columns of s into buf (never splitting a code
 * point); when s is longer and ellipsis is set, the last column becomes
 * "…" (or "~" in ASCII). Returns the columns written. */
int sn_tui_clip(char *buf, size_t n, const char *s, int cols, int ellipsis,
                int ascii);

/* A growable list of malloc'd lines. */
typedef struct sn_lines {
    int n, cap;
    char **s;
} sn_lines;

void sn_lines_add(sn_lines *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sn_lines_free(sn_lines *l);

/* Compact number for axes and tables: 0.5, 20, 950, 1k, 2.5k, 20k, 1.5M. */
const char *sn_tui_fmt_num(char *buf, size_t n, double v);
/* "45s", "3m05s", "1h02m". */
const char *sn_tui_fmt_duration(char *buf, size_t n, double seconds);

/* ---- colours and themes ------------------------------------------------- */

typedef enum { SN_COLOUR_DEFAULT, SN_COLOUR_INDEX, SN_COLOUR_RGB } sn_colour_kind;

typedef struct sn_colour {
    sn_colour_kind kind;
    int index;               /* 0..255 for SN_COLOUR_INDEX */
    unsigned char r, g, b;   /* for SN_COLOUR_RGB */
} sn_colour;

/* "default", a name (black red green yellow blue magenta cyan white,
 * their bright-NAME forms, grey/gray), a number 0-255 or #RRGGBB.
 * -1 when not a colour. */
int sn_colour_parse(const char *s, sn_colour *c);
/* The xterm palette colour of index i (0..255) as r, g, b. */
void sn_colour_rgb_of(int i, unsigned char rgb[3]);
/* Maps c to a colour the terminal has: -1 for the default colour, else an
 * index below ncolors (ncolors 8, 16, 88 or 256 and more; nearest by
 * squared RGB distance, the 256 palette's cube and grey ramp searched
 * when the terminal has it). ncolors < 8 gives -1. */
int sn_colour_to_terminal(sn_colour c, int ncolors);

/* Semantic colour slots: drawing code names these, never a colour. */
typedef enum sn_slot {
    SN_SLOT_NORMAL,     /* ordinary text */
    SN_SLOT_DIM,        /* secondary text: sizes, hints */
    SN_SLOT_BORDER,     /* pane frames */
    SN_SLOT_TITLE,      /* pane titles */
    SN_SLOT_FOCUS,      /* the title of the pane that has the keyboard */
    SN_SLOT_STATUS,     /* the status bar */
    SN_SLOT_STATUS_KEY, /* run name and state in the status bar */
    SN_SLOT_SELECTED,   /* the selected row */
    SN_SLOT_FRONT,      /* Pareto-front members (tree marker, table) */
    SN_SLOT_TRAINING,   /* the candidate in training */
    SN_SLOT_QUEUED,     /* queued candidates */
    SN_SLOT_FAILED,     /* failed and diverged candidates */
    SN_SLOT_INFEASIBLE, /* candidates over a hard limit */
    SN_SLOT_PROGRESS,   /* progress bar fill */
    SN_SLOT_AXIS,       /* plot axes, ticks and labels */
    SN_SLOT_POINT,      /* plot: candidates off the front */
    SN_SLOT_FRONT_LINE, /* plot: front members and their staircase */
    SN_SLOT_HIGHLIGHT,  /* plot: the selected candidate */
    SN_SLOT_LIMIT,      /* plot: hard limits */
    SN_SLOT_SPARK,      /* the hypervolume sparkline */
    SN_SLOT_HEADER,     /* table headers and totals */
    SN_SLOT_GRAPH,      /* the text graph's connections */
    SN_SLOT_LOG_INFO,
    SN_SLOT_LOG_WARN,
    SN_SLOT_LOG_ERROR,
    SN_SLOT_CMDLINE,    /* the ':' line */
    SN_SLOT_MESSAGE,    /* replies on the bottom line */
    SN_SLOT_ERROR,      /* errors on the bottom line */
    SN_SLOT_HELP,       /* the help overlay */
    SN_SLOT_COUNT
} sn_slot;

const char *sn_slot_name(sn_slot s); /* "normal", "front_line", ... */
int sn_slot_from_name(const char *s); /* -1 if unknown */

enum {
    SN_ATTR_BOLD = 1,
    SN_ATTR_DIM = 2,
    SN_ATTR_UNDERLINE = 4,
    SN_ATTR_REVERSE = 8,
    SN_ATTR_ITALIC = 16
};

typedef struct sn_style {
    sn_colour fg, bg;
    unsigned attr; /* SN_ATTR_* */
} sn_style;

typedef struct sn_theme {
    char name[64];
    sn_style slot[SN_SLOT_COUNT];
} sn_theme;

/* The built-in default (dark) theme; themes/default.theme says the same. */
void sn_theme_default(sn_theme *t);
/* Parses theme text over t (a file names only the slots it changes; the
 * rest keep t's values). One `slot = FG [on BG] [bold|dim|underline|
 * reverse|italic ...]` per line, `#` starts a comment. All-or-nothing: an
 * unknown slot, a bad colour or attribute is "FILE:LINE: ..." in e and t
 * is left unchanged. */
int sn_theme_parse(sn_theme *t, const char *text, const char *file,
                   sn_error *e);
/* Default theme, then the file over it; name = file name sans .theme. */
int sn_theme_load(sn_theme *t, const char *path, sn_error *e);
/* Drops every colour, keeping attributes (NO_COLOR, monochrome). */
void sn_theme_strip_colour(sn_theme *t);
/* 1 when the NO_COLOR environment variable is set and not empty. */
int sn_tui_no_color(void);

/* Theme files: NAME resolves to DIR/NAME.theme in, first found:
 * $SLIMNAS_THEMES, ./themes, $XDG_CONFIG_HOME (or ~/.config)/slimnas/
 * themes, <exe dir>/themes, <exe dir>/../share/slimnas/themes. A name
 * holding '/' is a path. Returns 0 with the path in buf, -1 if none. */
int sn_theme_find(const char *name, char *buf, size_t n);
/* Names of every theme found (sorted, unique); returns the count. */
int sn_theme_list(char names[][64], int max);

/* ---- glyphs, axes, plot, sparkline ---------------------------------------- */

typedef enum { SN_GLYPH_BRAILLE, SN_GLYPH_BLOCK, SN_GLYPH_ASCII } sn_glyphs;

/* Ticks over [lo, hi] (lo < hi): decades, with 2 and 5 per decade when
 * the range holds few decades, every k-th decade when it holds many; at
 * most max ticks, ascending. Returns the count. lo > 0. */
int sn_axis_log_ticks(double lo, double hi, int max, double *ticks);
/* Linear ticks at a "nice" step (1, 2 or 5 x 10^k), at most max. */
int sn_axis_lin_ticks(double lo, double hi, int max, double *ticks);

enum {
    SN_PT_FRONT = 1,      /* member of the front */
    SN_PT_SELECTED = 2,   /* the selected candidate */
    SN_PT_INFEASIBLE = 4, /* over a hard limit (drawn dim) */
    SN_PT_OTHER = 8       /* another run's: widens the ranges only (not
                             drawn, not picked; tui_compare.c draws it) */
};

typedef struct sn_plot_point {
    double x;   /* size (> 0) */
    double y;   /* accuracy in [0, 1] */
    int id;
    int flags;  /* SN_PT_* */
} sn_plot_point;

typedef struct sn_plot_spec {
    const sn_plot_point *pts;
    int n;
    double limit;        /* hard limit on x (0: none), drawn as a line */
    const char *unit;    /* x-axis unit ("params", "MACs", "bytes") */
    sn_glyphs glyphs;
} sn_plot_spec;

typedef struct sn_cell {
    char ch[8];          /* one UTF-8 character, NUL-terminated */
    unsigned char slot;  /* sn_slot */
} sn_cell;

/* The rasterised plot: h rows of w cells, plus where the data area is
 * and which ranges it shows (for mouse picking). */
typedef struct sn_plot {
    int w, h;
    sn_cell *cells;          /* row-major, w * h */
    int ax, ay, aw, ah;      /* data area in cells */
    double lx0, lx1;         /* log10 of the x range shown */
    double y0, y1;           /* accuracy range shown */
    int sx, sy;              /* line dots per cell (braille 2x4) */
} sn_plot;

/* Rasterises: y tick labels on the left ("90%"), x ticks and labels at
 * the bottom with the unit at the right, points as glyphs (front "◆",
 * others "•", selected "◉"; ASCII * o @), the front as a staircase
 * (the best accuracy reachable at each size) in dots, the limit as a
 * vertical dotted line. w >= 16 and h >= 5 or it draws nothing useful
 * (-1). The y range spans the points (padded, clipped to [0, 1]); the x
 * range spans points and limit in log scale. */
int sn_plot_render(const sn_plot_spec *s, int w, int h, sn_plot *out);
void sn_plot_free(sn_plot *p);
/* Cell of a point in a rendered plot (-1 when outside the data area). */
int sn_plot_cell_of(const sn_plot *p, double x, double y, int *cx, int *cy);
/* The id of the point nearest to cell (cx, cy) within a few cells, or -1. */
int sn_plot_pick(const sn_plot *p, const sn_plot_spec *s, int cx, int cy);

/* Sparkline of v[0..n) in `width` columns (fewer when n is smaller):
 * the values are bucketed (each column shows the last value of its
 * bucket) and scaled between their min and max (all equal: middle).
 * "▁▂▃▄▅▆▇█" or ASCII "_.-=+*#@". Returns the columns written. */
int sn_sparkline(const double *v, int n, int width, int ascii, char *buf,
                 size_t bufn);

/* ---- the tree -------------------------------------------------------------- */

/* View state that survives rebuilding the tree from a new snapshot: keyed
 * by candidate id, never by row. */
typedef struct sn_tree_state {
    unsigned char *folded; /* folded[id] != 0: children hidden */
    int cap;
    int selected;          /* candidate id, -1 none */
    int top;               /* first row shown */
} sn_tree_state;

typedef struct sn_tree_row {
    int id;
    int depth;
    int n_kids;            /* direct children */
    int folded;            /* has children and they are hidden */
    int hidden;            /* descendants hidden by this fold */
    char prefix[96];       /* tree lines ("│ ├─"), UTF-8 or ASCII */
} sn_tree_row;

void sn_tree_state_init(sn_tree_state *st);
void sn_tree_state_free(sn_tree_state *st);
void sn_tree_set_folded(sn_tree_state *st, int id, int folded);
int sn_tree_is_folded(const sn_tree_state *st, int id);

/* Flattens the candidates (c[i].id == i, parents before children) into
 * display rows: roots in id order, each followed by its subtree
 * (children in id order) unless folded. Indentation is capped at
 * max_levels levels (deeper rows show "…" and their last levels). When
 * the selected id is hidden by a fold, selection moves to its nearest
 * visible ancestor. rows gets malloc'd rows; returns the count. */
int sn_tree_flatten(const sn_cand_info *c, int n, sn_tree_state *st,
                    int max_levels, int ascii, sn_tree_row **rows);
/* Row index of candidate id, -1 if not shown. */
int sn_tree_row_of(const sn_tree_row *rows, int n, int id);
/* Moves the selection by delta rows (clamped); returns the new id. */
int sn_tree_move(sn_tree_state *st, const sn_tree_row *rows, int n,
                 int delta);
/* Adjusts st->top so the selected row is within [top, top+height). */
void sn_tree_scroll(sn_tree_state *st, const sn_tree_row *rows, int n,
                    int height);
/* The tree pane's order: the tree itself, or a flat list of every
 * candidate sorted by one key (htop's sort column). */
typedef enum {
    SN_SORT_TREE,
    SN_SORT_ACCURACY, /* best validation accuracy first */
    SN_SORT_PARAMS,   /* smallest first, for the three sizes */
    SN_SORT_FLOPS,
    SN_SORT_MEMORY,
    SN_SORT_COUNT
} sn_sort;

const char *sn_sort_name(sn_sort k); /* "tree", "accuracy", "params", ... */
int sn_sort_from_name(const char *s); /* -1 if unknown */
/* The flat list: every candidate as a row (depth 0, no prefix), ordered
 * by key (accuracy: highest first, candidates without one last; sizes:
 * smallest first; ties by id). SN_SORT_TREE gives id order. rows gets
 * malloc'd rows; returns the count. */
int sn_cand_list(const sn_cand_info *c, int n, sn_sort key,
                 sn_tree_row **rows);

/* Path root..id into path, root first; when it is longer than max, its
 * last max steps (nearest id). Returns the length written. */
int sn_tree_lineage(const sn_cand_info *c, int n, int id, int *path,
                    int max);

/* ---- layout ------------------------------------------------------------------ */

typedef struct sn_rect {
    int x, y, w, h; /* w == 0 or h == 0: not shown */
} sn_rect;

typedef enum {
    SN_PANE_TREE,
    SN_PANE_PLOT,
    SN_PANE_DETAIL, /* candidate view */
    SN_PANE_LOG,
    SN_PANE_COUNT
} sn_pane;

typedef struct sn_layout {
    int too_small;       /* below 60x16: only a message fits */
    int wide;            /* tree, plot and candidate view side by side */
    sn_rect status;      /* top row */
    sn_rect pane[SN_PANE_COUNT]; /* outer rectangles (frame included) */
    sn_rect bottom;      /* last row: ':' line and messages */
} sn_layout;

/* Splits a w x h screen. Compact (< 150 columns or < 40 rows): the tree
 * on the left, the plot on the right, or the candidate view instead of
 * the plot when detail is set; the log along the bottom. Wide: the tree
 * on the left (two fifths of the width), the plot above the candidate
 * view on the right, the log along the whole bottom. Panes never overlap
 * and cover the screen between the status and bottom rows. */
void sn_layout_compute(int w, int h, int detail, sn_layout *l);

/* Zoom (tmux's prefix-z): pane p takes every row between the status and
 * bottom rows and the full width; the others are hidden (w = h = 0).
 * Nothing changes when p is not shown in l or l is too small. */
void sn_layout_zoom(sn_layout *l, int pane);

/* ---- candidate view ---------------------------------------------------------- */

/* Per-layer table: index, layer, op, output shape, params, % params,
 * FLOPs (MACs), % FLOPs, activation bytes; then totals and peak memory.
 * Columns that do not fit `width` are dropped (act, % FLOPs, % params,
 * in that order). Line 0 is the header. */
void sn_layer_table(const sn_graph *g, const sn_stats *st, int width,
                    sn_lines *out);
/* One-line description of a node: "conv 3x3/2 16", "dwconv 3x3 32",
 * "add", "maxpool 2x2/2", "dense 10". */
const char *sn_tui_node_desc(const sn_graph *g, int i, char *buf, size_t n);
/* The graph drawn top to bottom, one line per layer: a gutter with the
 * node marker and one lane per skip connection (an input that is not the
 * layer just above), then "name  desc  HxWxC". Returns the gutter width. */
int sn_graph_text(const sn_graph *g, int ascii, sn_lines *out);

/* ---- status and commands ---------------------------------------------------- */

/* The status bar: run name (and k/n when several runs), state, current
 * candidate with epoch/batch, images/s, elapsed and budget left, front size,
 * hypervolume; parts are dropped from the right to fit width. */
void sn_tui_status(const sn_snapshot *s, int run, int n_runs, int width,
                   char *buf, size_t n);
/* One line of the run pick list for run k (0-based) of a session:
 * "2  NAME  state  N cand  best 84.0%  front F  DIR", cut to width. */
void sn_tui_run_line(const sn_snapshot *s, int k, int width, char *buf,
                     size_t n);
/* A log line's time (search seconds) as "mm:ss", or "h:mm:ss" from an
 * hour on. */
const char *sn_tui_fmt_clock(char *buf, size_t n, double seconds);
/* Hard limits for the plot title: "max-params 5k, max-flops 1M" or "". */
void sn_tui_limits(const sn_search_settings *s, char *buf, size_t n);

/* Commands handled by the explorer itself (util.h's sn_command, one
 * entry each, ending with a NULL name); all others go to sn_engine_exec
 * (engine.h's sn_engine_commands). Help, completion and the README's
 * list of ':' commands (tests/test_tui.c checks) come from the two. */
extern const sn_command sn_tui_commands[];
/* Appended to "unknown command 'x'" in the explorer. */
#define SN_TUI_HINT " (? lists the commands)"

/* Resolves the first word of a command line against the explorer's and
 * the engine's command names (exact name, else a unique prefix). Writes
 * the full name to name, sets *local (1: an explorer command). -1 with
 * "unknown command 'x'" or "ambiguous command 'p': pause, pin" in e. */
int sn_tui_resolve(const char *word, char *name, size_t n, int *local,
                   sn_error *e);

/* What completion may offer. */
typedef struct sn_complete_ctx {
    int n_cands;                /* ids 0..n_cands-1 */
    const char *const *themes;  /* NULL-terminated, may be NULL */
} sn_complete_ctx;

/* Completions for `text`, the word being typed, which starts at byte
 * `start` of line: command names for the first word, then what the
 * command's table entry says of each argument (its `complete` spec): for
 * set, the setting keys then the values the settings table names
 * (objective, strategy, pin); for fork, --options after the id and their
 * values. The matches go to out (malloc'd strings, sorted, unique). */
void sn_tui_complete(const sn_complete_ctx *ctx, const char *line, int start,
                     const char *text, sn_lines *out);
/* 1 when the word starting at byte start of line is a file name by its
 * command's table entry (export's PATH): the line editor completes it. */
int sn_tui_complete_path(const char *line, int start);

/* Keys as the explorer sees them: a character (code point), or one of
 * these for the special keys (the curses layer translates). */
enum {
    SN_KEY_UP = 0x110000, SN_KEY_DOWN, SN_KEY_LEFT, SN_KEY_RIGHT,
    SN_KEY_PGUP, SN_KEY_PGDN, SN_KEY_HOME, SN_KEY_END, SN_KEY_ENTER,
    SN_KEY_TAB, SN_KEY_BTAB, SN_KEY_ESC
};

/* One key binding: the command string it runs (one parser for keys and
 * the ':' line; "%d" is replaced by the selected candidate id) and what
 * the help overlay says. */
typedef struct sn_key_binding {
    int key[3];          /* up to three keys, 0-terminated */
    const char *keys;    /* as shown: "j Down" */
    const char *command; /* "move 1" */
    const char *help;
    const char *ask;     /* a y/n question asked before the command runs
                            ("%d": the id), NULL: it runs at once */
} sn_key_binding;

extern const sn_key_binding sn_tui_keys[]; /* terminated by {0} */
/* The binding of key, NULL if the key is not bound. */
const sn_key_binding *sn_tui_key_binding(int key);
/* The command bound to key (with %d expanded for id) into buf; NULL if
 * the key is not bound. */
const char *sn_tui_key_command(int key, int id, char *buf, size_t n);

#endif
