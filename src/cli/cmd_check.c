/* cmd_check.c — `slimnas check RUN [--repair]`: every problem of a run
 * directory (damaged log lines, candidate files that do not load, files
 * the log does not name, temp files of a kill), and with --repair moves
 * the damaged files aside. The work is sn_search_check's. */
#include "slimnas/cli.h"
#include "slimnas/search.h"

static const sn_cli_opt OPTS[] = {
    {"repair", 0, NULL,
     "move damaged and unlogged files aside, drop unusable log lines"},
    {0},
};

static int run_check(int argc, char **argv);

const sn_cli_cmd sn_cmd_check = {
    .name = "check",
    .summary = "check a run directory for damage (and repair it)",
    .usage = "slimnas check runs/NAME [--repair]",
    .details =
        "Loads the run as resume would, changing nothing, and prints one "
        "line per\nproblem: log lines that are not records, candidate files "
        "(graph, weights,\nfinal weights) that are missing or fail to load, "
        "files the log does not name,\ntemp files left by a kill. A damaged "
        "candidate still loads (status damaged:\nnever a parent, never "
        "retrained); the rest of the run resumes as usual.\n--repair takes "
        "the run's lock, moves damaged files aside (NAME.damaged) and\n"
        "unlogged ones (NAME.unlogged), removes temp files, and rewrites "
        "results.log\nwithout its unusable lines and with damaged candidates "
        "recorded as such (the\nold log is kept as results.log.damaged). "
        "Nothing else is deleted.\nExit status: 0 when no problem is found "
        "(or left, after --repair), 1 otherwise.",
    .opts = OPTS,
    .run = run_check,
};

static int run_check(int argc, char **argv) {
    sn_cli_args a;
    const sn_cli_cmd *c = &sn_cmd_check;
    int rc = sn_cli_parse(c, argc, argv, &a);
    if (rc) return rc == 1 ? 0 : rc;
    if (a.n_pos != 1) return sn_cli_usage_error(c, "expected one run directory");
    sn_error e;
    int n = sn_search_check(a.pos[0], sn_cli_flag(&a, "repair"), stdout, &e);
    fflush(stdout);
    if (n < 0) {
        fprintf(stderr, "slimnas check: %s\n", e.msg);
        return 1;
    }
    return n == 0 ? 0 : 1;
}
