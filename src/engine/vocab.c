/* vocab.c — the search layer's vocabulary, re-exported for the explorer
 * (engine.h, "vocabulary for clients"): it talks to the engine only. */
#include "slimnas/engine.h"

const sn_setting_info *sn_engine_settings_table(void) {
    return sn_setting_keys;
}

int sn_engine_settings_try(const sn_search_settings *s, const char *key,
                           const char *value, sn_search_settings *out,
                           sn_error *e) {
    sn_search_settings t = *s;
    if (sn_settings_set(&t, key, value, e)) return -1;
    *out = t;
    return 0;
}

int sn_engine_fits(const sn_search_settings *s, int64_t params, int64_t flops,
                   int64_t memory) {
    return sn_settings_fits(s, params, flops, memory);
}

const char *sn_engine_op_name(int i) {
    return i >= 0 && i < SN_MORPH_COUNT ? sn_morph_get((sn_morph_id)i)->name
                                        : NULL;
}

const char *sn_engine_status_name(sn_cand_status s) {
    return sn_cand_status_name(s);
}

const char *sn_engine_objective_name(sn_objective o) {
    return sn_objective_name(o);
}

const char *sn_engine_strategy_name(sn_strategy s) {
    return sn_strategy_name(s);
}

int sn_engine_objective_from_name(const char *name) {
    return sn_objective_from_name(name);
}
