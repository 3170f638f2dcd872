/* slimnas/mpi.h — a search across machines: candidates trained on MPI
 * ranks (Open MPI). Optional at build time (`make MPI=1` defines
 * SN_MPI); without it every function here says so and fails.
 *
 * Rank 0 is the controller: it owns the run directory, the tree, the
 * surrogate and the front, and runs the engine (headless or the
 * explorer) with the evaluator below, so the search is the same code as
 * on one machine. Ranks 1..K-1 are workers:
 *
 *   if (sn_mpi_init(&rank, &size, &e)) ...          // every rank
 *   if (rank > 0) return sn_mpi_worker();           // until told to exit
 *   sn_mpi_start_workers(&settings, &e);            // data on every rank
 *   sn_evaluator ev;  sn_mpi_evaluator(&ev, timeout);
 *   sn_engine_set_evaluator(en, &ev);  ... run the search ...
 *   sn_mpi_shutdown();                              // workers exit
 *
 * Messages (rank 0 <-> worker): the run's settings as JSON (the worker
 * opens the same data with the same split), its "ready" (or why not),
 * jobs (sn_job_pack) and results (sn_job_pack_result), a cancel (the
 * worker stops within one batch and answers "stopped"), and exit.
 *
 * A worker that does not answer within the timeout is lost: its job goes
 * to another worker once, then is recorded as failed; the search goes on
 * with the workers left (a dead process normally makes mpirun end the
 * whole job; the run directory then resumes under a new mpirun or on one
 * machine). */
#ifndef SLIMNAS_MPI_H
#define SLIMNAS_MPI_H

#include "slimnas/engine.h"
#include "slimnas/search.h"

int sn_mpi_available(void); /* 1 when built with MPI */
/* MPI_Init (threads: serialized); rank and world size. -1 + e without
 * MPI support. A process not started by mpirun is a world of one. */
int sn_mpi_init(int *rank, int *size, sn_error *e);
/* A worker's whole life: settings, data, jobs until exit; then
 * MPI_Finalize. Returns the process exit code. */
int sn_mpi_worker(void);
/* Sends the settings to every worker and waits for each to open its
 * data; a worker that cannot is lost (its message is logged to stderr).
 * -1 + e when no worker is left. s = NULL tells the workers there is
 * nothing to do (an error on rank 0 before the search). */
int sn_mpi_start_workers(const sn_search_settings *s, sn_error *e);
/* The evaluator over the workers; timeout: seconds one job may take
 * before its worker counts as lost (0: never). */
void sn_mpi_evaluator(sn_evaluator *ev, double timeout);
/* Tells every worker to exit (waiting a little for the answers of lost
 * ones), then MPI_Finalize. */
void sn_mpi_shutdown(void);

#endif
