/* fuzz_config.c — --config files and settings.json: sn_settings_from_json
 * over the defaults, then the range check; settings that load are printed
 * and read back. */
#include "fuzz.h"

#include "slimnas/search.h"

FUZZ_TARGET(config)(const uint8_t *data, size_t size) {
    char *text = malloc(size ? size : 1);
    if (!text) abort();
    memcpy(text, data, size);
    sn_search_settings s = sn_settings_default();
    sn_error e;
    int rc = sn_settings_from_json(&s, text, size, "fuzz.json", &e);
    free(text);
    if (rc) return 0;
    if (sn_settings_check(&s, &e)) return 0;
    char *again = sn_settings_to_json(&s);
    sn_search_settings t = sn_settings_default();
    if (sn_settings_from_json(&t, again, strlen(again), "again.json", &e)) {
        fprintf(stderr, "settings printed by slimnas do not load: %s\n", e.msg);
        abort();
    }
    free(again);
    return 0;
}
