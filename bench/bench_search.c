/* bench_search.c — bo against random search (or any strategies, the
 * first against the others: --strategies bo,evolution,random) with the
 * same budget.
 *
 * For each seed, runs the strategies one after the other with equal
 * settings (data, limits, budget, epochs, roots) in fresh run directories
 * and prints the final hypervolume of each; then the medians over seeds
 * and whether bo beats random on the median. Both strategies see the
 * same hypervolume reference point (it depends only on the settings and
 * the roots), so their figures compare directly.
 *
 * The default budget is 20 candidates per run (roots included), not wall
 * time: the figures then do not depend on what else the machine runs,
 * and bo's proposal time (its GP and annealing, about a second) is not
 * charged. Default settings: Fashion-MNIST, at most 50k parameters,
 * children 2 epochs on 20k images, hypervolume reference accuracy 0.8
 * (samples/searches/fashion-mnist-50k.json).
 *
 *   make bench-search                          # 3 seeds, ~25-40 minutes
 *   build/bench/bench_search --budget 5m --max-candidates 0 --seeds 1
 *
 * Proposal overhead (--overhead N1,N2,..., synthetic data, no training
 * worth the name): for each N, a run of N made-up trained candidates
 * (graphs grown by random morphs under a 20k-parameter limit, at most 6
 * morphs from the root, accuracies a noisy function of size), made once
 * as DIR/overhead-N-template and copied for each measurement; times
 * opening the copy with its data (the resume), the first bo proposal
 * after it (it builds the GP's active set) and the median and 90th
 * percentile of the next K bo proposals (--proposals, 20; each after one
 * real step on 64 images), as JSON lines.
 *
 *   build/bench/bench_search --overhead 100,1000,5000
 *
 * Not part of `make test`. */
#include <cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slimnas/search.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- proposal overhead on a synthetic run -------------------------------- */

static void die(const char *what, const sn_error *e) {
    fprintf(stderr, "bench_search: %s: %s\n", what, e->msg);
    exit(1);
}

/* Writes runs DIR with n made-up done candidates; returns the settings. */
static sn_search_settings make_run(const char *dir, int n) {
    sn_error e;
    sn_search_settings s = sn_settings_default();
    snprintf(s.data, sizeof s.data, "synthetic:200");
    snprintf(s.bases, sizeof s.bases, "cnn:8:2");
    s.strategy = SN_STRAT_BO;
    s.max_params = 20000;
    s.max_train = 64;
    s.epochs = 1;
    s.root_epochs = 1;
    s.batch = 32;
    s.hv_ref_acc = 0.1;
    s.hv_ref[SN_OBJ_PARAMS] = 200000;
    s.hv_ref[SN_OBJ_FLOPS] = s.hv_ref[SN_OBJ_MEMORY] = 1e9;
    s.max_candidates = 0;
    s.budget = 0;
    sn_search *se = sn_search_create(dir, &s, &e); /* settings.json, lock */
    if (!se) die(dir, &e);
    sn_search_free(se);
    sn_graph **g = calloc((size_t)n, sizeof *g);
    int *depth = calloc((size_t)n, sizeof *depth);
    sn_arch_opts o = {8, 2};
    g[0] = sn_graph_new_kind("cnn", (sn_shape){1, 12, 12}, 10, &o, &e);
    if (!g[0]) die("root", &e);
    sn_rng r;
    sn_rng_seed(&r, 42);
    char path[700];
    snprintf(path, sizeof path, "%s/results.log", dir);
    FILE *log = fopen(path, "w");
    if (!log) {
        perror(path);
        exit(1);
    }
    for (int i = 0; i < n; i++) {
        int parent = -1;
        char morph[64] = "";
        while (i > 0 && !g[i]) {
            /* parents at most 6 morphs from the root: the graphs are of
             * the same kind whether the run has 100 or 5,000 of them */
            parent = sn_rng_int(&r, i);
            if (depth[parent] >= 6) continue;
            depth[i] = depth[parent] + 1;
            sn_morph_cand *list = NULL;
            int k = sn_morph_enumerate(g[parent], &list, &e);
            int ok = 0;
            for (int t = 0; t < 8 && k > 0 && !ok; t++) {
                const sn_morph_cand *c = &list[sn_rng_int(&r, k)];
                if (c->params > s.max_params) continue;
                sn_weights *w = sn_weights_new(g[parent]), *cw;
                if (sn_morph_apply(g[parent], w, c->op, 1, &g[i], &cw, NULL,
                                   &e) == 0) {
                    sn_weights_free(cw);
                    snprintf(morph, sizeof morph, "%s:%d",
                             sn_morph_get((sn_morph_id)c->op.op)->name,
                             c->op.pos);
                    ok = 1;
                }
                sn_weights_free(w);
            }
            free(list);
        }
        sn_weights *w = sn_weights_new(g[i]);
        sn_weights_init(w, g[i], (uint64_t)i);
        snprintf(path, sizeof path, "%s/cand/%d.bin", dir, i);
        if (sn_weights_save(w, g[i], path, &e)) die(path, &e);
        sn_weights_free(w);
        snprintf(path, sizeof path, "%s/cand/%d.json", dir, i);
        if (sn_graph_save(g[i], path, &e)) die(path, &e);
        int64_t params = sn_graph_params(g[i]);
        double acc = 0.3 + 0.12 * log10((double)params) +
                     0.03 * sn_rng_normal(&r);
        acc = acc < 0.05 ? 0.05 : acc > 0.99 ? 0.99 : acc;
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "id", i);
        cJSON_AddNumberToObject(j, "parent", parent);
        cJSON_AddStringToObject(j, "morph", morph);
        cJSON_AddStringToObject(j, "op", i ? "bench" : "root cnn:8");
        cJSON_AddStringToObject(j, "status", "done");
        cJSON_AddNumberToObject(j, "params", (double)params);
        cJSON_AddNumberToObject(j, "flops",
                                (double)sn_graph_flops(g[i], SN_FLOPS_MACS));
        cJSON_AddNumberToObject(j, "memory", (double)sn_graph_peak_bytes(g[i]));
        cJSON_AddNumberToObject(j, "val_acc", acc);
        cJSON_AddNumberToObject(j, "epochs", 1);
        /* fidelity 2: already promoted, so the next jobs are bo's */
        cJSON_AddNumberToObject(j, "fidelity", 2);
        cJSON_AddNumberToObject(j, "elapsed", 0.01 * i);
        char *t = cJSON_PrintUnformatted(j);
        fprintf(log, "%s\n", t);
        free(t);
        cJSON_Delete(j);
    }
    fclose(log);
    for (int i = 0; i < n; i++) sn_graph_free(g[i]);
    free(g);
    free(depth);
    return s;
}

/* Copies the files of run `from` (settings, log, clock, cand/) to a new
 * run directory `to`. */
static void copy_run(const char *from, const char *to) {
    char cand[600];
    snprintf(cand, sizeof cand, "%s/cand", to);
    if (mkdir(to, 0777) || mkdir(cand, 0777)) {
        perror(to);
        exit(1);
    }
    sn_error e;
    static const char *const subs[] = {"", "cand/"};
    for (int d = 0; d < 2; d++) {
        char src[1100], dst[1100];
        snprintf(src, sizeof src, "%s/%s", from, subs[d]);
        DIR *dp = opendir(src);
        if (!dp) {
            perror(src);
            exit(1);
        }
        struct dirent *ent;
        while ((ent = readdir(dp))) {
            if (ent->d_name[0] == '.' || !strcmp(ent->d_name, "cand") ||
                !strcmp(ent->d_name, "complete"))
                continue;
            char *text;
            size_t len;
            snprintf(src, sizeof src, "%s/%s%s", from, subs[d], ent->d_name);
            snprintf(dst, sizeof dst, "%s/%s%s", to, subs[d], ent->d_name);
            if (sn_read_file(src, &text, &len, &e)) die(src, &e);
            FILE *f = fopen(dst, "wb");
            if (!f || fwrite(text, 1, len, f) != len || fclose(f)) {
                perror(dst);
                exit(1);
            }
            free(text);
        }
        closedir(dp);
    }
}

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The nearest-rank percentile q (0..1] of v[0..n), n > 0; sorts v. */
static double percentile(double *v, int n, double q) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    int k = (int)ceil(q * n) - 1;
    return v[k < 0 ? 0 : k >= n ? n - 1 : k];
}

static int overhead(const char *sizes, const char *root, int want) {
    sn_threads_init(1);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", sizes);
    double *times = calloc((size_t)want, sizeof *times);
    double *ctimes = calloc((size_t)want, sizeof *ctimes);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t;
         t = strtok_r(NULL, ",", &save)) {
        int n = atoi(t);
        if (n < 2) {
            fprintf(stderr, "bench_search: --overhead: '%s' is not a count "
                            ">= 2\n", t);
            return 2;
        }
        /* the synthetic run is made once (it is the same for the same n:
         * its draws are seeded) and kept as DIR/overhead-N-template; each
         * measurement opens a copy of it */
        char tmpl[512], dir[512], mark[600];
        snprintf(tmpl, sizeof tmpl, "%s/overhead-%d-template", root, n);
        snprintf(mark, sizeof mark, "%s/complete", tmpl);
        double t_make = 0;
        if (access(mark, F_OK) != 0) {
            double t0 = sn_now();
            make_run(tmpl, n);
            t_make = sn_now() - t0;
            FILE *f = fopen(mark, "w");
            if (!f || fclose(f)) {
                perror(mark);
                exit(1);
            }
        }
        snprintf(dir, sizeof dir, "%s/overhead-%d-%d", root, n, (int)getpid());
        copy_run(tmpl, dir);
        sn_error e;
        double t0 = sn_now();
        double c0 = cpu_now();
        sn_search *se = sn_search_open(dir, &e);
        if (!se) die(dir, &e);
        const sn_search_settings *s = sn_search_settings_get(se);
        sn_data_opts so = sn_settings_data_opts(s, 0);
        sn_data *d = sn_data_open(s->data, &so, &e);
        if (!d || sn_search_attach_data(se, d, NULL, &e)) die(dir, &e);
        double t_open = sn_now() - t0, c_open = cpu_now() - c0;
        double first = -1, cfirst = -1;
        int k = 0, steps = 0;
        while (k < want && steps < 8 * want) {
            sn_job *j;
            t0 = sn_now();
            c0 = cpu_now();
            int rc = sn_search_next(se, &j, &e);
            double dt = sn_now() - t0, dc = cpu_now() - c0;
            if (rc < 0) die("next", &e);
            if (rc == 0) break;
            int bo = sn_job_info(j)->morph[0] != 0; /* not a promotion */
            if (bo && first < 0) {
                first = dt;
                cfirst = dc;
            } else if (bo) {
                ctimes[k] = dc;
                times[k++] = dt;
            }
            sn_job_run(j, d, NULL);
            if (sn_search_finish(se, j, &e)) die("finish", &e);
            steps++;
        }
        double med = k ? median(times, k) : -1, cmed = k ? median(ctimes, k) : -1;
        double p90 = k ? percentile(times, k, 0.9) : -1;
        double cp90 = k ? percentile(ctimes, k, 0.9) : -1;
        /* wall and CPU time: on a shared machine the CPU time is the
         * steadier measure of the work itself */
        printf("{\"candidates\": %d, \"resume_s\": %.3f, \"resume_cpu_s\": %.3f, "
               "\"first_proposal_ms\": %.1f, \"first_proposal_cpu_ms\": %.1f, "
               "\"proposal_ms_median\": %.1f, \"proposal_ms_p90\": %.1f, "
               "\"proposal_cpu_ms_median\": %.1f, \"proposal_cpu_ms_p90\": %.1f, "
               "\"proposals\": %d, \"make_run_s\": %.1f, \"run\": \"%s\"}\n",
               n, t_open, c_open, 1000 * first, 1000 * cfirst, 1000 * med,
               1000 * p90, 1000 * cmed, 1000 * cp90, k, t_make, dir);
        fflush(stdout);
        sn_search_free(se);
        sn_data_free(d);
    }
    free(times);
    free(ctimes);
    sn_threads_shutdown();
    return 0;
}

static void usage(void) {
    fprintf(stderr,
            "usage: bench_search [--data SPEC] [--budget TIME] [--seeds N] "
            "[--max-params SIZE]\n"
            "                    [--max-train N] [--epochs K] [--dir DIR] "
            "[--threads T]\n"
            "                    [--strategies bo,evolution,random]\n"
            "       bench_search --overhead N1,N2,... [--proposals K] [--dir DIR]\n");
    exit(2);
}

int main(int argc, char **argv) {
    sn_search_settings base = sn_settings_default();
    snprintf(base.data, sizeof base.data, "fashion-mnist");
    base.budget = 0;
    base.max_candidates = 20;
    base.max_params = 50000;
    base.max_train = 20000;
    base.epochs = 2;
    base.hv_ref_acc = 0.8;
    int seeds = 3, threads = 0, proposals = 20;
    const char *root = "runs/bench-search", *sizes = NULL;
    const char *strategies = "bo,random";
    sn_error e;
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i];
        if (i + 1 >= argc) usage();
        const char *v = argv[++i];
        if (!strcmp(k, "--seeds")) seeds = atoi(v);
        else if (!strcmp(k, "--dir")) root = v;
        else if (!strcmp(k, "--overhead")) sizes = v;
        else if (!strcmp(k, "--proposals")) proposals = atoi(v);
        else if (!strcmp(k, "--strategies")) strategies = v;
        else if (!strcmp(k, "--threads")) threads = atoi(v);
        else if (!strncmp(k, "--", 2) && sn_settings_set(&base, k + 2, v, &e) == 0)
            ;
        else {
            fprintf(stderr, "bench_search: %s %s: %s\n", k, v,
                    strncmp(k, "--", 2) ? "unknown option" : e.msg);
            usage();
        }
    }
    if (seeds < 1) usage();
    if (sizes) {
        if (proposals < 1) usage();
        return overhead(sizes, root, proposals);
    }
    sn_threads_init(threads);
    printf("# budget %.0f s and %d candidates per strategy and seed (0 = "
           "none), max-params %lld, max-train %lld, %d epoch(s) per "
           "candidate, hypervolume reference accuracy %g\n",
           base.budget, base.max_candidates, (long long)base.max_params,
           (long long)base.max_train, base.epochs, base.hv_ref_acc);
    sn_strategy strat[SN_STRAT_COUNT];
    int ns = 0;
    {
        char buf[64];
        snprintf(buf, sizeof buf, "%s", strategies);
        for (char *save = NULL, *t = strtok_r(buf, ",", &save); t;
             t = strtok_r(NULL, ",", &save)) {
            int st = sn_strategy_from_name(t);
            if (st < 0 || ns == SN_STRAT_COUNT) {
                fprintf(stderr, "bench_search: --strategies: '%s' is not bo, "
                                "evolution or random (each once)\n", t);
                return 2;
            }
            strat[ns++] = (sn_strategy)st;
        }
    }
    double *hv[SN_STRAT_COUNT];
    for (int k = 0; k < ns; k++) hv[k] = calloc((size_t)seeds, sizeof(double));
    for (int s = 0; s < seeds; s++) {
        for (int k = 0; k < ns; k++) {
            sn_search_settings st = base;
            st.seed = (uint64_t)(s + 1);
            st.strategy = strat[k];
            char dir[512];
            snprintf(dir, sizeof dir, "%s/%s-seed%d-%d", root,
                     sn_strategy_name(strat[k]), s + 1, (int)getpid());
            /* the validation split depends on the seed: reopen per seed */
            sn_data_opts so = sn_settings_data_opts(&st, 0);
            sn_data *ds = sn_data_open(st.data, &so, &e);
            sn_search *se = ds ? sn_search_create(dir, &st, &e) : NULL;
            if (!se || sn_search_attach_data(se, ds, NULL, &e)) {
                fprintf(stderr, "bench_search: %s\n", e.msg);
                return 1;
            }
            if (s == 0 && k == 0) {
                char desc[256];
                printf("# %s, %d threads\n",
                       sn_data_describe(ds, desc, sizeof desc),
                       sn_threads_count());
            }
            int rc;
            double w0 = sn_now();
            while ((rc = sn_search_step(se, NULL, &e)) == 1)
                ;
            if (rc < 0) {
                fprintf(stderr, "bench_search: %s\n", e.msg);
                return 1;
            }
            const int *front;
            int nf = sn_search_front(se, &front);
            double best = 0;
            for (int i = 0; i < nf; i++)
                if (sn_search_cand(se, front[i])->val_acc > best)
                    best = sn_search_cand(se, front[i])->val_acc;
            hv[k][s] = sn_search_hypervolume(se);
            printf("{\"strategy\": \"%s\", \"seed\": %d, \"hypervolume\": %.5f, "
                   "\"candidates\": %d, \"front\": %d, \"best_val_acc\": %.4f, "
                   "\"seconds\": %.0f, \"run\": \"%s\"}\n",
                   sn_strategy_name(strat[k]), s + 1, hv[k][s],
                   sn_search_count(se), nf, best, sn_now() - w0, dir);
            fflush(stdout);
            sn_search_free(se);
            sn_data_free(ds);
        }
    }
    double med[SN_STRAT_COUNT];
    printf("median hypervolume:");
    for (int k = 0; k < ns; k++) {
        med[k] = median(hv[k], seeds);
        printf("%s %s %.5f", k ? "," : "", sn_strategy_name(strat[k]), med[k]);
    }
    printf("\n");
    for (int k = 1; k < ns; k++)
        printf("%s %s %s on the median\n", sn_strategy_name(strat[0]),
               med[0] > med[k] ? "beats" : "does NOT beat",
               sn_strategy_name(strat[k]));
    for (int k = 0; k < ns; k++) free(hv[k]);
    sn_threads_shutdown();
    return 0;
}
