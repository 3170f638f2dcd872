/* tui_term.c — can curses drive this terminal? Asked before a run
 * directory is made, so a terminal the explorer cannot draw on (TERM=dumb,
 * an unknown TERM, a printing terminal) is a clear error rather than one
 * garbled line and dead keys. Its own file: <term.h> defines macros
 * (lines, columns, ...) that clash with ordinary names. */
#define NCURSES_WIDECHAR 1
#include <curses.h>
#include <stdlib.h>
#include <term.h>
#include <unistd.h>

#include "slimnas/tui.h"

static int has_cap(const char *name) {
    char *s = tigetstr(name);
    return s && s != (char *)-1 && *s;
}

int sn_tui_terminal_check(sn_error *e) {
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
        return sn_errf(e, "no terminal on stdin/stdout");
    const char *term = getenv("TERM");
    if (!term || !*term)
        return sn_errf(e, "TERM is not set, so curses cannot draw the "
                          "explorer");
    int err = 0;
    /* err: 1 hardcopy, 0 not in terminfo (or generic), -1 no database */
    if (setupterm(NULL, STDOUT_FILENO, &err) != OK)
        return sn_errf(e, err == 1 ? "TERM=%s is a hardcopy terminal: curses "
                                     "cannot draw the explorer on it"
                          : err == 0
                              ? "TERM=%s is not in the terminfo database "
                                "(or is a generic type): curses cannot draw "
                                "the explorer"
                              : "no terminfo database found for TERM=%s: "
                                "curses cannot draw the explorer",
                       term);
    /* the explorer moves the cursor anywhere and clears the screen */
    int ok = has_cap("cup") && has_cap("clear") && tigetflag("hc") <= 0 &&
             tigetflag("gn") <= 0;
    del_curterm(cur_term);
    if (!ok)
        return sn_errf(e, "TERM=%s cannot move the cursor or clear the "
                          "screen: curses cannot draw the explorer on it",
                       term);
    return 0;
}
