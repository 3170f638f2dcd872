/* fuzz_theme.c — explorer theme files: sn_theme_parse over the default
 * theme. */
#include "fuzz.h"

#include "slimnas/tui.h"

FUZZ_TARGET(theme)(const uint8_t *data, size_t size) {
    char *text = fuzz_cstr(data, size);
    sn_theme t;
    sn_theme_default(&t);
    sn_error e;
    sn_theme_parse(&t, text, "fuzz.theme", &e);
    free(text);
    return 0;
}
