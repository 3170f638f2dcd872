/* tui_cmdline.c — the ':' command line: GNU readline's alternate
 * (callback) interface drawn inside the curses screen.
 *
 * curses owns the terminal. Keys that arrive while the line is open are
 * turned into the bytes readline expects (UTF-8 text, escape sequences
 * for arrows and Delete) and fed one at a time through rl_getc_function
 * and rl_callback_read_char(); readline draws through
 * rl_redisplay_function into the bottom row. Readline's own signal,
 * SIGWINCH, terminal and environment handling is off; completion lists
 * go to the message line through rl_completion_display_matches_hook
 * instead of being printed over the screen. History persists in
 * $XDG_STATE_HOME/slimnas/history (~/.local/state/... by default).
 *
 * Readline's hooks take no context pointer, so the one explorer is kept
 * in a file-level pointer; only the UI thread ever runs this code. */
#define NCURSES_WIDECHAR 1
#include <curses.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <wchar.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "tui_internal.h"

static tui *the_tui;
static unsigned char pending[64];
static int n_pending, pos_pending;
static char history_path[PATH_MAX];
static FILE *devnull;
static sn_lines completions;

static int getc_cb(FILE *f) {
    (void)f;
    if (pos_pending < n_pending) return pending[pos_pending++];
    return EOF;
}

static int avail_cb(void) { return pos_pending < n_pending; }

static void prep_noop(int meta) { (void)meta; }

static void deprep_noop(void) {}

static void redisplay_cb(void) {
    if (!the_tui) return;
    if (the_tui->dirty) { /* e.g. a completion list to show */
        the_tui->dirty = 0;
        tui_draw(the_tui);
        return;
    }
    tui_draw_bottom(the_tui);
    refresh();
}

static void line_cb(char *line) {
    tui *t = the_tui;
    rl_callback_handler_remove();
    t->cmd_active = 0;
    t->cmd_hint[0] = 0;
    int find = t->find_prompt;
    t->find_prompt = 0;
    curs_set(0);
    t->dirty = 1;
    if (!line) return; /* ^D on an empty line */
    char *s = line;
    while (*s == ' ') s++;
    if (*s) {
        HIST_ENTRY *last = history_length > 0 ? history_get(history_base +
                                                            history_length - 1)
                                              : NULL;
        if (!find && (!last || strcmp(last->line, s))) add_history(s);
        if (find) {
            char cmd[600];
            snprintf(cmd, sizeof cmd, "find %s", s);
            tui_run_command(t, cmd);
        } else {
            tui_run_command(t, s);
        }
    }
    free(line);
}

/* Completion: the pure sn_tui_complete decides, readline only asks. */
static char *generator(const char *text, int state) {
    static int i;
    (void)text;
    if (!state) i = 0;
    if (i < completions.n) return strdup(completions.s[i++]);
    return NULL;
}

static char **complete_cb(const char *text, int start, int end) {
    (void)end;
    rl_attempted_completion_over = 1; /* never complete file names */
    sn_lines_free(&completions);
    if (the_tui->find_prompt) return NULL;
    char names[TUI_MAX_THEMES + 1][64];
    const char *themes[TUI_MAX_THEMES + 1];
    int nt = the_tui->n_themes;
    for (int i = 0; i < nt; i++) {
        memcpy(names[i], the_tui->themes[i], 64);
        themes[i] = names[i];
    }
    themes[nt] = NULL;
    sn_complete_ctx ctx = {the_tui->snap->n_cands, themes};
    sn_tui_complete(&ctx, rl_line_buffer, start, text, &completions);
    if (!completions.n && sn_tui_complete_path(rl_line_buffer, start)) {
        rl_attempted_completion_over = 0;
        return rl_completion_matches(text, rl_filename_completion_function);
    }
    if (!completions.n) return NULL;
    return rl_completion_matches(text, generator);
}

static void display_matches_cb(char **matches, int num, int max_length) {
    (void)max_length;
    tui *t = the_tui;
    char buf[512];
    int o = snprintf(buf, sizeof buf, " %d matches:", num);
    for (int i = 1; i <= num && o < (int)sizeof buf - 1; i++)
        o += snprintf(buf + o, sizeof buf - (size_t)o, " %s", matches[i]);
    /* shown in the row above the line until the line closes (the whole
     * screen may be redrawn meanwhile, so it is state, not a one-off) */
    snprintf(t->cmd_hint, sizeof t->cmd_hint, "%s", buf);
    t->dirty = 1;
    rl_forced_update_display();
}

static void history_file(char *buf, size_t n) {
    const char *xdg = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    char dir[PATH_MAX];
    if (xdg && *xdg) snprintf(dir, sizeof dir, "%s/slimnas", xdg);
    else if (home && *home) snprintf(dir, sizeof dir, "%s/.local/state/slimnas", home);
    else {
        buf[0] = 0;
        return;
    }
    /* mkdir -p */
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(dir, 0755);
            *p = '/';
        }
    mkdir(dir, 0755);
    snprintf(buf, n, "%.4000s/history", dir);
}

int tui_cmdline_init(tui *t) {
    the_tui = t;
    devnull = fopen("/dev/null", "w");
    rl_readline_name = "slimnas";
    rl_catch_signals = 0;
    rl_catch_sigwinch = 0;
    rl_change_environment = 0;
    rl_prep_term_function = prep_noop;
    rl_deprep_term_function = deprep_noop;
    rl_getc_function = getc_cb;
    rl_input_available_hook = avail_cb;
    rl_redisplay_function = redisplay_cb;
    rl_completion_display_matches_hook = display_matches_cb;
    rl_attempted_completion_function = complete_cb;
    rl_instream = stdin;
    rl_outstream = devnull ? devnull : stdout; /* never onto the screen */
    rl_variable_bind("bell-style", "none");
    rl_variable_bind("horizontal-scroll-mode", "on");
    using_history();
    stifle_history(1000);
    if (t->opts.history) snprintf(history_path, sizeof history_path, "%s",
                                  t->opts.history);
    else history_file(history_path, sizeof history_path);
    if (history_path[0]) read_history(history_path); /* none yet is fine */
    return 0;
}

void tui_cmdline_open(tui *t, const char *prompt, const char *initial) {
    t->cmd_active = 1;
    t->cmd_hint[0] = 0;
    t->msg[0] = 0;
    n_pending = pos_pending = 0;
    rl_callback_handler_install(prompt, line_cb);
    if (initial && *initial) {
        rl_insert_text(initial);
        rl_point = rl_end;
    }
    curs_set(1);
    t->dirty = 1;
}

void tui_cmdline_cancel(tui *t) {
    /* Readline keeps multi-key state across lines: an incremental search
     * (C-r) still open would swallow the next line's keys and accept its
     * match instead. Close every such state while the callback handler is
     * still installed (rl_callback_sigcleanup does nothing without it),
     * then drop the line, its undo list and any input read ahead. */
    rl_callback_sigcleanup();
    rl_free_line_state();
    rl_clear_pending_input();
    rl_replace_line("", 1);
    rl_point = rl_end = rl_mark = 0;
    rl_callback_handler_remove();
    t->cmd_active = 0;
    t->cmd_hint[0] = 0;
    t->find_prompt = 0;
    curs_set(0);
    t->dirty = 1;
}

static void feed(const char *bytes, size_t n) {
    for (size_t i = 0; i < n && the_tui->cmd_active; i++) {
        pending[0] = (unsigned char)bytes[i];
        n_pending = 1;
        pos_pending = 0;
        rl_callback_read_char();
    }
    n_pending = pos_pending = 0;
}

void tui_cmdline_key(tui *t, int is_code, unsigned key) {
    if (!is_code) {
        if (key == 27 || key == 3 || key == 7) { /* Esc, ^C, ^G */
            tui_cmdline_cancel(t);
            return;
        }
        if (key == '\n') key = '\r';
        char mb[MB_LEN_MAX + 1];
        mbstate_t ms;
        memset(&ms, 0, sizeof ms);
        size_t n = key < 0x80 ? (mb[0] = (char)key, 1)
                              : wcrtomb(mb, (wchar_t)key, &ms);
        if (n == (size_t)-1) return;
        feed(mb, n);
        return;
    }
    const char *seq = NULL;
    switch (key) {
    case KEY_LEFT: seq = "\033[D"; break;
    case KEY_RIGHT: seq = "\033[C"; break;
    case KEY_UP: seq = "\033[A"; break;
    case KEY_DOWN: seq = "\033[B"; break;
    case KEY_HOME: seq = "\001"; break; /* ^A, ^E: bound in every mode */
    case KEY_END: seq = "\005"; break;
    case KEY_DC: seq = "\004"; break;   /* delete-char (^D) */
    case KEY_BACKSPACE: seq = "\177"; break;
    case KEY_ENTER: seq = "\r"; break;
    default: break;
    }
    if (seq) feed(seq, strlen(seq));
}

void tui_cmdline_draw(tui *t, int y, int w) {
    const char *prompt = rl_display_prompt ? rl_display_prompt : ":";
    const char *line = rl_line_buffer ? rl_line_buffer : "";
    int pw = sn_tui_width(prompt);
    /* columns before the cursor */
    char before[2048];
    int pt = rl_point < (int)sizeof before - 1 ? rl_point : (int)sizeof before - 1;
    memcpy(before, line, (size_t)pt);
    before[pt] = 0;
    int cur = sn_tui_width(before);
    int room = w - pw - 1;
    if (room < 1) room = 1;
    int skip = cur >= room ? cur - room + 1 : 0; /* keep the cursor visible */
    const char *vis = line;
    for (int i = 0; i < skip && *vis; i++) {
        vis++;
        while ((*vis & 0xc0) == 0x80) vis++;
    }
    attrset((attr_t)tui_slot_attr(t, SN_SLOT_CMDLINE));
    mvhline(y, 0, ' ', w);
    mvaddstr(y, 0, prompt);
    char clip[2048];
    sn_tui_clip(clip, sizeof clip, vis, room, 0, t->ascii);
    mvaddstr(y, pw, clip);
    move(y, pw + cur - skip);
}

void tui_cmdline_done(tui *t) {
    if (t->cmd_active) tui_cmdline_cancel(t);
    if (history_path[0]) write_history(history_path);
    sn_lines_free(&completions);
    if (devnull) fclose(devnull);
    devnull = NULL;
    the_tui = NULL;
}
