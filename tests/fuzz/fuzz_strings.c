/* fuzz_strings.c — the small strings of the command line and the
 * explorer: sizes ("20k"), durations ("30m"), integers, numbers, and a
 * setting KEY=VALUE (the input split at its first '='), set, checked and
 * read back. */
#include "fuzz.h"

#include "slimnas/search.h"

FUZZ_TARGET(strings)(const uint8_t *data, size_t size) {
    char *s = fuzz_cstr(data, size);
    int64_t sz;
    double d;
    long l;
    if (sn_parse_size(s, &sz) == 0 && sz < 0) abort();
    if (sn_parse_duration(s, &d) == 0 && !(d >= 0)) abort();
    if (sn_parse_long(s, -5, 5, &l) == 0 && (l < -5 || l > 5)) abort();
    if (sn_parse_double(s, 0, 1, &d) == 0 && !(d >= 0 && d <= 1)) abort();
    char *eq = strchr(s, '=');
    if (eq) {
        *eq = 0;
        sn_search_settings st = sn_settings_default(), before = st;
        sn_error e;
        if (sn_settings_set(&st, s, eq + 1, &e) == 0) {
            char buf[512];
            sn_settings_get(&st, s, buf, sizeof buf);
            sn_settings_check(&st, &e);
        } else if (memcmp(&st, &before, sizeof st) != 0) {
            abort(); /* all-or-nothing */
        }
        sn_settings_is_live(s);
    }
    free(s);
    return 0;
}
