/* cli_mpi.c — `--mpi` for search, resume and fork: every rank runs the
 * same command line; rank 0 goes on as the controller, the others become
 * workers here and never reach the rest of the command. */
#include <stdio.h>
#include <stdlib.h>

#include "slimnas/cli.h"
#include "slimnas/mpi.h"

static int mpi_on;          /* rank 0 of an MPI search */
static int workers_started; /* sn_mpi_start_workers was called */

static void mpi_end(void) {
    if (!mpi_on) return;
    if (!workers_started) {
        sn_error e;
        sn_mpi_start_workers(NULL, &e); /* "nothing to do" */
    }
    sn_mpi_shutdown();
    mpi_on = 0;
}

int sn_cli_mpi_begin(const sn_cli_args *a, int *rc) {
    const char *t = sn_cli_get(a, "mpi-timeout");
    double timeout = 0;
    if (t && sn_parse_duration(t, &timeout)) {
        *rc = sn_cli_usage_error(a->cmd, "--mpi-timeout: '%s' is not a "
                                         "duration like 90s, 10m or 1h", t);
        return 1;
    }
    if (!sn_cli_flag(a, "mpi")) {
        if (t) {
            *rc = sn_cli_usage_error(a->cmd, "--mpi-timeout needs --mpi");
            return 1;
        }
        return 0;
    }
    if (!sn_mpi_available()) {
        *rc = sn_cli_usage_error(a->cmd, "--mpi: this slimnas was built "
                                         "without MPI (build it with 'make "
                                         "MPI=1')");
        return 1;
    }
    int rank, size;
    sn_error e;
    if (sn_mpi_init(&rank, &size, &e)) {
        fprintf(stderr, "slimnas %s: %s\n", a->cmd->name, e.msg);
        *rc = 1;
        return 1;
    }
    if (size < 2) {
        sn_mpi_shutdown();
        *rc = sn_cli_usage_error(a->cmd, "--mpi needs worker ranks: start "
                                         "it with 'mpirun -n K slimnas %s "
                                         "--mpi ...' (K >= 2: rank 0 "
                                         "controls, the others train)",
                                 a->cmd->name);
        return 1;
    }
    if (rank > 0) {
        *rc = sn_mpi_worker();
        return 1;
    }
    mpi_on = 1;
    atexit(mpi_end);
    return 0;
}

int sn_cli_mpi_attach(sn_engine *en, const sn_search_settings *s,
                      const sn_cli_args *a) {
    if (!mpi_on) return 0;
    sn_error e;
    workers_started = 1;
    if (sn_mpi_start_workers(s, &e)) {
        fprintf(stderr, "slimnas %s: %s\n", a->cmd->name, e.msg);
        return 1;
    }
    double timeout = 0;
    const char *t = sn_cli_get(a, "mpi-timeout");
    if (t) sn_parse_duration(t, &timeout);
    sn_evaluator ev;
    sn_mpi_evaluator(&ev, timeout);
    sn_engine_set_evaluator(en, &ev);
    return 0;
}
