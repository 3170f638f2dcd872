/* command.c — the resolver and help lines shared by the command tables
 * (the engine's grammar.c and the explorer's tui_cmd.c). */
#include "slimnas/util.h"

#include <string.h>

const sn_command *sn_command_find(const sn_command *const *tables,
                                  int n_tables, const char *word, int *table,
                                  const char *hint, sn_error *e) {
    if (!*word) {
        sn_errf(e, "empty command");
        return NULL;
    }
    for (int t = 0; t < n_tables; t++)
        for (const sn_command *c = tables[t]; c->name; c++)
            if (!strcmp(c->name, word)) {
                if (table) *table = t;
                return c;
            }
    const sn_command *found = NULL;
    int matches = 0, where = 0;
    char amb[256] = "";
    for (int t = 0; t < n_tables; t++)
        for (const sn_command *c = tables[t]; c->name; c++)
            if (!strncmp(c->name, word, strlen(word))) {
                if (!matches) {
                    found = c;
                    where = t;
                }
                matches++;
                size_t l = strlen(amb);
                snprintf(amb + l, sizeof amb - l, "%s%s", l ? ", " : "",
                         c->name);
            }
    if (matches == 1) {
        if (table) *table = where;
        return found;
    }
    if (matches == 0)
        sn_errf(e, "unknown command '%s'%s", word, hint ? hint : "");
    else sn_errf(e, "ambiguous command '%s': %s", word, amb);
    return NULL;
}

int sn_command_check_args(const sn_command *c, int argc, sn_error *e) {
    if (argc >= c->min_args && (c->max_args < 0 || argc <= c->max_args))
        return 0;
    if (!c->usage[0]) return sn_errf(e, "%s takes no arguments", c->name);
    return sn_errf(e, "usage: %s %s", c->name, c->usage);
}

void sn_command_help_line(const sn_command *c, char *buf, size_t n) {
    char head[160];
    snprintf(head, sizeof head, "%s%s%s", c->name, c->usage[0] ? " " : "",
             c->usage);
    int w = (int)strlen(head);
    snprintf(buf, n, "%s%*s%s", head, w < 22 ? 22 - w : 2, "", c->help);
}

int sn_split_words(char *line, char **w, int max) {
    int n = 0;
    for (char *p = line; *p;) {
        while (*p == ' ' || *p == '\t' || *p == '\n') *p++ = 0;
        if (!*p) break;
        if (n == max) return -1;
        w[n++] = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n') p++;
    }
    return n;
}
