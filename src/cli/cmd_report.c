/* cmd_report.c — `slimnas report RUN [RUN...] -o FILE.svg|.png|.pdf|.html`
 * and `--csv`: runs drawn as one report (include/slimnas/report.h). */
#include <stdlib.h>
#include <string.h>

#include "slimnas/cli.h"
#include "slimnas/report.h"

static const sn_cli_opt report_opts[] = {
    {"output", 'o', "FILE", "the report: .svg, .png, .pdf, .html (or .csv)"},
    {"csv", 0, NULL, "the candidates as CSV (to -o FILE, else stdout)"},
    {"axis", 0, "M", "size axis of the fronts: params, flops or memory"},
    {"members", 'm', "ID,...", "members drawn per layer: ID (first run), "
                               "RUN:ID (1-based run) or none"},
    {"title", 0, "TEXT", "title of the report"},
    {0}};

static int cmd_report(int argc, char **argv);

const sn_cli_cmd sn_cmd_report = {
    "report", "draw runs' fronts, hypervolume and layers (SVG/PNG/PDF/HTML)",
    "slimnas report RUN [RUN...] -o FILE.svg|.png|.pdf|.html [--axis M] "
    "[--members ID,...] | --csv",
    "Overlays the Pareto fronts of up to 8 runs (accuracy against params, "
    "MACs or\nmemory, log scale, hard limits dashed, members labelled by "
    "id), draws each\nrun's hypervolume against search time and, for the "
    "chosen members (default:\neach run's most accurate front member), "
    "their parameters and MACs per layer.\nThe format follows the "
    "extension; the HTML page is one file (inline SVG and\na sortable table "
    "of the front members). Runs must share a size objective.\n--csv writes "
    "one row per candidate of every run (run,id,parent,ops,params,\n"
    "macs,memory,fidelity,val,test,seconds,status). The file is written "
    "whole or\nnot at all.",
    report_opts, cmd_report, NULL};

/* --members "3,2:7" into per-run id lists. */
static int parse_members(const char *s, int n_runs,
                         int ids[SN_REPORT_MAX_RUNS][64],
                         int counts[SN_REPORT_MAX_RUNS]) {
    if (!strcmp(s, "none")) {
        for (int i = 0; i < n_runs; i++) counts[i] = -1;
        return 0;
    }
    char buf[512];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t;
         t = strtok_r(NULL, ",", &save)) {
        long run = 1, id;
        char *colon = strchr(t, ':');
        if (colon) {
            *colon = 0;
            if (sn_parse_long(t, 1, n_runs, &run))
                return sn_cli_usage_error(&sn_cmd_report, "--members: run '%s' "
                                          "is not 1..%d", t, n_runs);
            t = colon + 1;
        }
        if (*t == '#') t++;
        if (sn_parse_long(t, 0, 1L << 30, &id))
            return sn_cli_usage_error(&sn_cmd_report, "--members: '%s' is not "
                                      "a candidate id", t);
        if (counts[run - 1] >= 64)
            return sn_cli_usage_error(&sn_cmd_report, "--members: at most 64 "
                                      "per run");
        ids[run - 1][counts[run - 1]++] = (int)id;
    }
    return 0;
}

static int cmd_report(int argc, char **argv) {
    sn_cli_args a;
    const sn_cli_cmd *c = &sn_cmd_report;
    int rc = sn_cli_parse(c, argc, argv, &a);
    if (rc) return rc == 1 ? 0 : rc;
    if (a.n_pos < 1) return sn_cli_usage_error(c, "expected run directories");
    if (a.n_pos > SN_REPORT_MAX_RUNS)
        return sn_cli_usage_error(c, "at most %d runs in one report",
                                  SN_REPORT_MAX_RUNS);
    const char *out = sn_cli_get(&a, "output");
    int csv = sn_cli_flag(&a, "csv");
    if (!out && !csv)
        return sn_cli_usage_error(c, "-o FILE.svg|.png|.pdf|.html (or --csv) "
                                     "is required");
    int fmt = out ? sn_report_format_of(out) : SN_REPORT_CSV;
    if (csv && fmt != SN_REPORT_CSV)
        return sn_cli_usage_error(c, "--csv writes CSV: -o must name a .csv "
                                     "file, got '%s'", out);
    if (fmt < 0)
        return sn_cli_usage_error(c, "-o %s: the extension picks the format: "
                                  ".svg, .png, .pdf, .html or .csv", out);
    sn_report_opts o = {-1, sn_cli_get(&a, "title")};
    const char *ax = sn_cli_get(&a, "axis");
    if (ax && (o.axis = sn_objective_from_name(ax)) < 0)
        return sn_cli_usage_error(c, "--axis takes params, flops or memory, "
                                     "got '%s'", ax);
    static int ids[SN_REPORT_MAX_RUNS][64];
    int counts[SN_REPORT_MAX_RUNS] = {0};
    const char *mv = sn_cli_get(&a, "members");
    if (mv && (rc = parse_members(mv, a.n_pos, ids, counts))) return rc;

    sn_report_run runs[SN_REPORT_MAX_RUNS];
    int n = 0;
    sn_error e;
    for (; n < a.n_pos; n++)
        if (sn_report_run_load(&runs[n], a.pos[n], ids[n], counts[n], &e)) {
            fprintf(stderr, "slimnas report: %s\n", e.msg);
            rc = 1;
            goto done;
        }
    sn_report_unique_labels(runs, n);
    if (fmt == SN_REPORT_CSV && !out) {
        for (int i = 0; i < n; i++) {
            if (!i) sn_report_csv_header(stdout, 1);
            sn_report_csv_rows(stdout, runs[i].label, runs[i].cands, runs[i].n);
        }
        goto done;
    }
    char note[512];
    if (fmt != SN_REPORT_CSV &&
        sn_report_axis(runs, n, &o.axis, note, sizeof note, &e)) {
        fprintf(stderr, "slimnas report: %s\n", e.msg);
        rc = 1;
        goto done;
    }
    if (fmt != SN_REPORT_CSV && note[0])
        fprintf(stderr, "slimnas report: note: %s\n", note);
    int w, h;
    if (sn_report_write(out, runs, n, &o, &w, &h, &e)) {
        fprintf(stderr, "slimnas report: %s\n", e.msg);
        rc = 1;
        goto done;
    }
    if (fmt == SN_REPORT_CSV) printf("wrote %s (CSV)\n", out);
    else if (fmt == SN_REPORT_PNG) printf("wrote %s (%dx%d pixels)\n", out, w, h);
    else printf("wrote %s (%dx%d points)\n", out, w, h);
done:
    for (int i = 0; i < n; i++) sn_report_run_free(&runs[i]);
    return rc;
}
