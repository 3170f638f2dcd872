/* fuzz_runlog.c — a run directory's results.log: a run of two trained
 * candidates (cnn:2:1 and tiny2conv:2 on synthetic data, trained at
 * start-up; small graphs keep an input cheap) is made once; each input
 * becomes its results.log and the run is loaded as show does
 * (sn_search_load) and, one input in four, checked as `slimnas check`
 * does (every graph and weight file verified, the repaired log built).
 * Neither may change the directory. */
#include "fuzz.h"

#include "slimnas/data.h"
#include "slimnas/search.h"

static char fuzz_runlog_dir[300];
static FILE *fuzz_runlog_null;

FUZZ_INIT(runlog) {
    char root[256];
    fuzz_tmpdir(root, sizeof root, "runlog");
    snprintf(fuzz_runlog_dir, sizeof fuzz_runlog_dir, "%s/run", root);
    sn_search_settings s = sn_settings_default();
    snprintf(s.data, sizeof s.data, "synthetic:100");
    snprintf(s.bases, sizeof s.bases, "cnn:2:1,tiny2conv:2");
    s.max_train = 0;
    s.epochs = s.root_epochs = 1;
    s.batch = 32;
    s.max_candidates = 2;
    sn_error e;
    sn_search *se = sn_search_open(fuzz_runlog_dir, &e); /* a rerun */
    if (!se) {
        se = sn_search_create(fuzz_runlog_dir, &s, &e);
        if (!se) goto fail;
        sn_data_opts o = sn_settings_data_opts(&s, 0);
        sn_data *d = sn_data_open(s.data, &o, &e);
        if (!d || sn_search_attach_data(se, d, NULL, &e)) goto fail;
        while (sn_search_step(se, NULL, &e) == 1)
            ;
        sn_data_free(d);
    }
    sn_search_free(se);
    fuzz_runlog_null = fopen("/dev/null", "w");
    return 0;
fail:
    fprintf(stderr, "fuzz_runlog: %s\n", e.msg);
    abort();
}

FUZZ_TARGET(runlog)(const uint8_t *data, size_t size) {
    fuzz_put(fuzz_runlog_dir, "results.log", data, size);
    sn_error e;
    sn_search *se = sn_search_load(fuzz_runlog_dir, &e);
    if (se) {
        int n = sn_search_count(se);
        for (int i = 0; i < n; i++) {
            const sn_cand_info *c = sn_search_cand(se, i);
            if (c->id != i || c->parent >= i) abort();
        }
        sn_search_free(se);
    }
    /* check verifies every weight file too (the weights target fuzzes
     * those): one input in four, picked by its size, keeps the target
     * fast while every check path stays reachable */
    if ((size & 3) == 0)
        sn_search_check(fuzz_runlog_dir, 0, fuzz_runlog_null, &e);
    return 0;
}
