/* bench_export_c.c — the standalone C export on trained Fashion-MNIST
 * models: trains each kind (tiny2conv, mobile_tiny by default) for a few
 * epochs, exports it as float32 and int8 C, and prints params, weight and
 * arena bytes, slimnas's test accuracy, the float and int8 exports' test
 * accuracy and their batch-1 latency per image (compiled with the system
 * compiler). `make bench-export-c`; BENCH_EXPORT_ARGS="--epochs 1
 * --max-train 20000 KIND..." to change. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "slimnas/export_c.h"
#include "slimnas/train.h"

static void rm_export(const char *dir) {
    char p[512];
    snprintf(p, sizeof p, "%s/model.h", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/model.c", dir);
    unlink(p);
    rmdir(dir);
}

int main(int argc, char **argv) {
    int epochs = 3;
    long max_train = 0;
    const char *kinds[8];
    int nk = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--epochs") && i + 1 < argc)
            epochs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--max-train") && i + 1 < argc)
            max_train = atol(argv[++i]);
        else if (nk < 8)
            kinds[nk++] = argv[i];
    }
    if (!nk) {
        kinds[nk++] = "tiny2conv";
        kinds[nk++] = "mobile_tiny";
    }
    sn_threads_init(2);
    sn_error e;
    sn_data_opts dopt = sn_data_opts_default();
    dopt.max_train = max_train;
    sn_data *d = sn_data_open("fashion-mnist", &dopt, &e);
    if (!d) {
        fprintf(stderr, "bench_export_c: %s\n", e.msg);
        return 1;
    }
    const char *names[10];
    for (int k = 0; k < 10; k++) names[k] = sn_data_class_name(d, k);
    printf("%-12s %8s %10s %10s %9s %9s %8s %8s %8s %10s %10s\n", "kind",
           "params", "w float", "w int8", "arena f", "arena i8", "slimnas",
           "C float", "C int8", "us float", "us int8");
    for (int k = 0; k < nk; k++) {
        sn_graph *g = sn_graph_new_kind(kinds[k], sn_data_shape(d), 10,
                                        &(sn_arch_opts){0, 0},
                                        &e);
        if (!g) {
            fprintf(stderr, "bench_export_c: %s\n", e.msg);
            return 1;
        }
        sn_weights *w = sn_weights_new(g);
        sn_weights_init(w, g, 1);
        sn_train_opts to = sn_train_opts_default();
        to.epochs = epochs;
        to.eval_val = 0;
        sn_train_result tr;
        if (sn_train(g, w, d, &to, &tr, &e)) {
            fprintf(stderr, "bench_export_c: %s\n", e.msg);
            return 1;
        }
        sn_train_result_free(&tr);
        sn_eval_result ev;
        sn_evaluate(g, w, d, SN_SPLIT_TEST, 256, NULL, &ev, &e);
        double acc_ref = ev.acc;
        sn_eval_result_free(&ev);
        const float *mean = sn_data_mean(d), *sd = sn_data_std(d);
        sn_export_c_report rep[2];
        double acc[2], us[2];
        for (int q = 0; q < 2; q++) {
            sn_export_c_opts o = sn_export_c_opts_default();
            o.int8 = q;
            o.calib = d;
            char dir[64];
            snprintf(dir, sizeof dir, "/tmp/slimnas-bench-export.%d",
                     (int)getpid());
            double sec;
            if (sn_export_c(g, w, mean, sd, names, &o, dir, &rep[q], &e) ||
                sn_export_c_accuracy(g, w, mean, sd, &o, d, SN_SPLIT_TEST, 0,
                                     &acc[q], &e) ||
                sn_export_c_bench(dir, "model", 2.0, &sec, &e)) {
                fprintf(stderr, "bench_export_c: %s\n", e.msg);
                rm_export(dir);
                return 1;
            }
            us[q] = sec * 1e6;
            rm_export(dir);
        }
        printf("%-12s %8lld %10lld %10lld %9lld %9lld %7.2f%% %7.2f%% %7.2f%% "
               "%10.1f %10.1f\n",
               kinds[k], (long long)rep[0].params,
               (long long)rep[0].weight_bytes, (long long)rep[1].weight_bytes,
               (long long)rep[0].arena_bytes, (long long)rep[1].arena_bytes,
               100 * acc_ref, 100 * acc[0], 100 * acc[1], us[0], us[1]);
        printf("%-12s stats peak %lld B, plan's live peak %lld B, %d steps, "
               "%d calibration images\n",
               "", (long long)rep[0].stats_peak_bytes,
               (long long)rep[0].live_bytes, rep[0].steps,
               rep[1].calib_images);
        fflush(stdout);
        sn_weights_free(w);
        sn_graph_free(g);
    }
    sn_data_free(d);
    return 0;
}
