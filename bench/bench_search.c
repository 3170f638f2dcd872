/* bench_search.c — bo against random search with the same budget.
 *
 * For each seed, runs the two strategies one after the other with equal
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
 * Not part of `make test`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static void usage(void) {
    fprintf(stderr,
            "usage: bench_search [--data SPEC] [--budget TIME] [--seeds N] "
            "[--max-params SIZE]\n"
            "                    [--max-train N] [--epochs K] [--dir DIR] "
            "[--threads T]\n");
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
    int seeds = 3, threads = 0;
    const char *root = "runs/bench-search";
    sn_error e;
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i];
        if (i + 1 >= argc) usage();
        const char *v = argv[++i];
        if (!strcmp(k, "--seeds")) seeds = atoi(v);
        else if (!strcmp(k, "--dir")) root = v;
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
    sn_threads_init(threads);
    printf("# budget %.0f s and %d candidates per strategy and seed (0 = "
           "none), max-params %lld, max-train %lld, %d epoch(s) per "
           "candidate, hypervolume reference accuracy %g\n",
           base.budget, base.max_candidates, (long long)base.max_params,
           (long long)base.max_train, base.epochs, base.hv_ref_acc);
    double *hv[2];
    hv[0] = calloc((size_t)seeds, sizeof(double));
    hv[1] = calloc((size_t)seeds, sizeof(double));
    const sn_strategy strat[2] = {SN_STRAT_BO, SN_STRAT_RANDOM};
    for (int s = 0; s < seeds; s++) {
        for (int k = 0; k < 2; k++) {
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
    double mb = median(hv[0], seeds), mr = median(hv[1], seeds);
    printf("median hypervolume: bo %.5f, random %.5f -> %s\n", mb, mr,
           mb > mr ? "bo beats random" : "bo does NOT beat random");
    free(hv[0]);
    free(hv[1]);
    sn_threads_shutdown();
    return 0;
}
