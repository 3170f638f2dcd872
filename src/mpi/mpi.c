/* mpi.c — candidates trained on MPI ranks (see slimnas/mpi.h). Built
 * with SN_MPI (`make MPI=1`); otherwise every entry point reports that
 * this slimnas has no MPI support. */
#include "slimnas/mpi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SN_MPI

int sn_mpi_available(void) { return 0; }
int sn_mpi_init(int *rank, int *size, sn_error *e) {
    *rank = 0;
    *size = 1;
    return sn_errf(e, "this slimnas was built without MPI (build it with "
                      "'make MPI=1')");
}
int sn_mpi_worker(void) { return 2; }
int sn_mpi_start_workers(const sn_search_settings *s, sn_error *e) {
    (void)s;
    return sn_errf(e, "this slimnas was built without MPI");
}
void sn_mpi_evaluator(sn_evaluator *ev, double timeout) {
    (void)timeout;
    memset(ev, 0, sizeof *ev);
}
void sn_mpi_shutdown(void) {}

#else

#include <mpi.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "slimnas/train.h"

enum {
    TAG_SETTINGS = 1, /* rank 0 -> worker: settings JSON ("" = exit) */
    TAG_READY,        /* worker -> 0: "" ready, else why not */
    TAG_JOB,          /* 0 -> worker: sn_job_pack bytes */
    TAG_RESULT,       /* worker -> 0: sn_job_pack_result bytes */
    TAG_CANCEL,       /* 0 -> worker: stop the job in training */
    TAG_EXIT          /* 0 -> worker: leave */
};

static int world_size;

int sn_mpi_available(void) { return 1; }

int sn_mpi_init(int *rank, int *size, sn_error *e) {
    int provided;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided) !=
        MPI_SUCCESS)
        return sn_errf(e, "MPI_Init failed");
    if (provided < MPI_THREAD_SERIALIZED) {
        MPI_Finalize();
        return sn_errf(e, "this MPI library cannot be called from the "
                          "search thread (needs MPI_THREAD_SERIALIZED)");
    }
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, size);
    world_size = *size;
    return 0;
}

/* Receives a message of any length with the given tag from src. */
static unsigned char *recv_bytes(int src, int tag, size_t *n, int *from) {
    MPI_Status st;
    MPI_Probe(src, tag, MPI_COMM_WORLD, &st);
    int count;
    MPI_Get_count(&st, MPI_BYTE, &count);
    unsigned char *buf = sn_xmalloc((size_t)count + 1);
    MPI_Recv(buf, count, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD,
             MPI_STATUS_IGNORE);
    buf[count] = 0;
    *n = (size_t)count;
    if (from) *from = st.MPI_SOURCE;
    return buf;
}

static void send_text(int dst, int tag, const char *s) {
    MPI_Send(s, (int)strlen(s), MPI_BYTE, dst, tag, MPI_COMM_WORLD);
}

/* ---- worker --------------------------------------------------------------- */

typedef struct wctx {
    atomic_int stop;
} wctx;

/* Called after every batch: a cancel from rank 0 stops the job. */
static void worker_progress(void *ctx, const sn_progress *p) {
    (void)p;
    wctx *w = ctx;
    int flag = 0;
    MPI_Iprobe(0, TAG_CANCEL, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
    if (flag) {
        MPI_Recv(NULL, 0, MPI_BYTE, 0, TAG_CANCEL, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
        atomic_store(&w->stop, 1);
    }
}

/* SLIMNAS_MPI_STALL=RANK:SECONDS makes that worker wait before it sends
 * its first result: how the tests make a worker miss its timeout. */
static double stall_seconds(int rank) {
    const char *v = getenv("SLIMNAS_MPI_STALL");
    int r;
    double sec;
    if (v && sscanf(v, "%d:%lf", &r, &sec) == 2 && r == rank) return sec;
    return 0;
}

int sn_mpi_worker(void) {
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    size_t n;
    char *text = (char *)recv_bytes(0, TAG_SETTINGS, &n, NULL);
    if (n == 0) { /* rank 0 stopped before the search */
        free(text);
        MPI_Finalize();
        return 0;
    }
    sn_search_settings s = sn_settings_default();
    sn_error e;
    sn_data *d = NULL;
    if (sn_settings_from_json(&s, text, n, "settings", &e) == 0) {
        sn_data_opts o = sn_settings_data_opts(&s, 0);
        d = sn_data_open(s.data, &o, &e);
    }
    free(text);
    char msg[600] = "";
    if (!d) snprintf(msg, sizeof msg, "%s", e.msg);
    send_text(0, TAG_READY, msg);
    double stall = stall_seconds(rank);
    for (;;) {
        MPI_Status st;
        MPI_Probe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
        if (st.MPI_TAG == TAG_EXIT) {
            MPI_Recv(NULL, 0, MPI_BYTE, 0, TAG_EXIT, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE);
            break;
        }
        if (st.MPI_TAG == TAG_CANCEL) { /* for a job already answered */
            MPI_Recv(NULL, 0, MPI_BYTE, 0, TAG_CANCEL, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE);
            continue;
        }
        if (st.MPI_TAG != TAG_JOB) { /* nothing else is sent to workers */
            size_t k;
            free(recv_bytes(0, st.MPI_TAG, &k, NULL));
            continue;
        }
        unsigned char *buf = recv_bytes(0, TAG_JOB, &n, NULL);
        sn_job *j = d ? sn_job_unpack(buf, n, &e) : NULL;
        free(buf);
        wctx w;
        atomic_init(&w.stop, 0);
        int stopped = 0;
        if (!j) {
            /* answer anyway, as a failed job, so rank 0 is not kept
             * waiting: a job made from nothing but the message */
            fprintf(stderr, "slimnas worker %d: %s\n", rank,
                    d ? e.msg : "no data");
            unsigned char *r = NULL;
            size_t rn = 0;
            MPI_Send(r, (int)rn, MPI_BYTE, 0, TAG_RESULT, MPI_COMM_WORLD);
            continue;
        }
        sn_job_ctl ctl = {&w.stop, NULL, worker_progress, &w};
        stopped = sn_job_run(j, d, &ctl);
        if (stall > 0) {
            struct timespec ts = {(time_t)stall,
                                  (long)((stall - (time_t)stall) * 1e9)};
            nanosleep(&ts, NULL);
            stall = 0;
        }
        unsigned char *r;
        size_t rn;
        sn_job_pack_result(j, stopped, &r, &rn);
        MPI_Send(r, (int)rn, MPI_BYTE, 0, TAG_RESULT, MPI_COMM_WORLD);
        free(r);
        sn_job_free(j);
    }
    if (d) sn_data_free(d);
    MPI_Finalize();
    return 0;
}

/* ---- controller ----------------------------------------------------------- */

/* Worker k (0-based) is rank k + 1. */
typedef struct ctl {
    int n;
    double timeout;
    int lost[SN_MAX_WORKERS];
    int busy[SN_MAX_WORKERS];   /* a job sent, no answer yet */
    double t0[SN_MAX_WORKERS];
} ctl;
static ctl C;

int sn_mpi_start_workers(const sn_search_settings *s, sn_error *e) {
    C.n = world_size - 1;
    if (C.n > SN_MAX_WORKERS) C.n = SN_MAX_WORKERS;
    char *json = s ? sn_settings_to_json(s) : NULL;
    for (int r = 1; r < world_size; r++)
        send_text(r, TAG_SETTINGS, json ? json : "");
    free(json);
    if (!s) return 0;
    int alive = 0;
    for (int r = 1; r <= C.n; r++) {
        size_t n;
        char *msg = (char *)recv_bytes(r, TAG_READY, &n, NULL);
        if (n) {
            fprintf(stderr, "slimnas: worker %d (rank %d) is lost: %s\n", r,
                    r, msg);
            C.lost[r - 1] = 1;
        } else {
            alive++;
        }
        free(msg);
    }
    if (!alive) return sn_errf(e, "no worker could open the data");
    return 0;
}

static int ev_submit(void *ctx, int slot, const unsigned char *buf, size_t n,
                     sn_error *e) {
    (void)ctx;
    if (C.lost[slot]) return sn_errf(e, "worker %d is lost", slot + 1);
    if (n > (size_t)2147483647)
        return sn_errf(e, "a job of %zu bytes is too large for one message", n);
    MPI_Send(buf, (int)n, MPI_BYTE, slot + 1, TAG_JOB, MPI_COMM_WORLD);
    C.busy[slot] = 1;
    C.t0[slot] = sn_now();
    return 0;
}

static int ev_wait(void *ctx, double timeout, int *slot, unsigned char **buf,
                   size_t *n) {
    (void)ctx;
    double end = sn_now() + timeout;
    for (;;) {
        int flag = 0;
        MPI_Status st;
        MPI_Iprobe(MPI_ANY_SOURCE, TAG_RESULT, MPI_COMM_WORLD, &flag, &st);
        if (flag) {
            int from;
            unsigned char *b = recv_bytes(st.MPI_SOURCE, TAG_RESULT, n, &from);
            int k = from - 1;
            if (k < 0 || k >= C.n || C.lost[k]) { /* late: already lost */
                if (k >= 0 && k < C.n) C.busy[k] = 0;
                free(b);
                continue;
            }
            C.busy[k] = 0;
            *slot = k;
            *buf = b;
            return 1;
        }
        for (int k = 0; k < C.n; k++)
            if (C.busy[k] && !C.lost[k] && C.timeout > 0 &&
                sn_now() - C.t0[k] > C.timeout) {
                C.lost[k] = 1; /* stays busy: its answer may still come */
                *slot = k;
                return 2;
            }
        if (sn_now() >= end) return 0;
        struct timespec ts = {0, 1000000}; /* 1 ms */
        nanosleep(&ts, NULL);
    }
}

static void ev_cancel(void *ctx, int slot) {
    (void)ctx;
    if (!C.lost[slot] && C.busy[slot])
        MPI_Send(NULL, 0, MPI_BYTE, slot + 1, TAG_CANCEL, MPI_COMM_WORLD);
}

void sn_mpi_evaluator(sn_evaluator *ev, double timeout) {
    C.timeout = timeout;
    memset(ev, 0, sizeof *ev);
    ev->n_slots = C.n;
    ev->submit = ev_submit;
    ev->wait = ev_wait;
    ev->cancel = ev_cancel;
}

void sn_mpi_shutdown(void) {
    /* A lost worker still training sends its result when done; receive
     * it (a blocked large send would keep it from ever seeing exit). */
    double end = sn_now() + 60;
    for (;;) {
        int waiting = 0;
        for (int k = 0; k < C.n; k++) waiting += C.busy[k];
        if (!waiting) break;
        if (sn_now() > end) {
            fprintf(stderr, "slimnas: a lost worker never answered; "
                            "aborting the MPI job (the run is saved)\n");
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        int flag = 0;
        MPI_Status st;
        MPI_Iprobe(MPI_ANY_SOURCE, TAG_RESULT, MPI_COMM_WORLD, &flag, &st);
        if (flag) {
            size_t n;
            int from;
            free(recv_bytes(st.MPI_SOURCE, TAG_RESULT, &n, &from));
            if (from >= 1 && from <= C.n) C.busy[from - 1] = 0;
            continue;
        }
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    for (int r = 1; r < world_size; r++)
        MPI_Send(NULL, 0, MPI_BYTE, r, TAG_EXIT, MPI_COMM_WORLD);
    MPI_Finalize();
}

#endif
