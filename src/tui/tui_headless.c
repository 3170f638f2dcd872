/* tui_headless.c — the explorer's fallback without a terminal: one line
 * per finished candidate, read from the same snapshots the screen uses,
 * then the front. */
#include <poll.h>
#include <string.h>

#include "tui_internal.h"

static void print_cand(FILE *f, const sn_snapshot *s, int id) {
    char line[512];
    fprintf(f, "%s\n", sn_snapshot_record_line(s, id, line, sizeof line));
}

int sn_tui_headless(sn_engine *en, int h, FILE *f) {
    int printed = 0, header = 0;
    uint64_t last_log = 0;
    struct pollfd pfd = {sn_engine_fd(en), POLLIN, 0};
    for (;;) {
        sn_engine_drain(en);
        const sn_snapshot *s = sn_engine_snapshot(en, h);
        if (!s) return -1;
        if (!header) {
            fprintf(f, "run %s\n", s->dir);
            header = 1;
            printed = s->n_records; /* a resumed run: only what is new */
            for (int i = 0; i < printed; i++) print_cand(f, s, i);
        }
        for (; printed < s->n_records; printed++) print_cand(f, s, printed);
        /* warnings and errors from the engine, once each */
        for (int i = 0; i < s->n_log; i++)
            if (s->log[i].seq > last_log) {
                if (s->log[i].level != SN_LOG_INFO)
                    fprintf(f, "%s: %s\n",
                            s->log[i].level == SN_LOG_ERROR ? "error"
                                                            : "warning",
                            s->log[i].text);
                last_log = s->log[i].seq;
            }
        fflush(f);
        if (sn_run_state_over(s->state)) {
            fprintf(f, "%s%s%s\nfront (%d, hypervolume %.4f):\n",
                    sn_run_state_name(s->state), s->message[0] ? ": " : "",
                    s->message, s->n_front, s->hypervolume);
            for (int i = 0; i < s->n_front; i++)
                print_cand(f, s, s->front[i]);
            int failed = s->state == SN_RUN_FAILED;
            sn_snapshot_release(s);
            fflush(f);
            return failed ? -1 : 0;
        }
        sn_snapshot_release(s);
        poll(&pfd, 1, -1);
    }
}
