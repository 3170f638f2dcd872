/* cli.c — option parsing and help shared by every subcommand. */
#include "slimnas/cli.h"
#include "slimnas/morph.h"
#include "slimnas/search.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

static int opt_count(const sn_cli_cmd *cmd) {
    int n = 0;
    while (cmd->opts && cmd->opts[n].name) n++;
    return n;
}

void sn_cli_print_help(const sn_cli_cmd *cmd, FILE *f) {
    fprintf(f, "usage: %s\n\n%s\n", cmd->usage, cmd->summary);
    int n = opt_count(cmd);
    if (n) fprintf(f, "\noptions:\n");
    for (int i = 0; i < n; i++) {
        const sn_cli_opt *o = &cmd->opts[i];
        if (!o->help) continue;
        char left[64], dflt[96] = "";
        if (cmd->default_of) cmd->default_of(o->name, dflt, sizeof dflt);
        if (o->short_name)
            snprintf(left, sizeof left, "-%c, --%s%s%s", o->short_name,
                     o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        else
            snprintf(left, sizeof left, "    --%s%s%s", o->name,
                     o->arg ? " " : "", o->arg ? o->arg : "");
        char help[256];
        fprintf(f, "  %-28s %s\n", left,
                sn_cli_help_default(help, sizeof help, o->help, dflt));
    }
    fprintf(f, "  %-28s %s\n", "-h, --help", "show this help");
    if (cmd->details) fprintf(f, "\n%s\n", cmd->details);
}

int sn_cli_usage_error(const sn_cli_cmd *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "slimnas %s: ", cmd->name);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'slimnas %s --help')\n", cmd->name);
    va_end(ap);
    return 2;
}

int sn_cli_parse(const sn_cli_cmd *cmd, int argc, char **argv,
                 sn_cli_args *a) {
    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    int n = opt_count(cmd);
    SN_ASSERT(n <= 64);
    int only_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!only_pos && (!strcmp(s, "-h") || !strcmp(s, "--help"))) {
            sn_cli_print_help(cmd, stdout);
            return 1;
        }
        if (!only_pos && !strcmp(s, "--")) {
            only_pos = 1;
            continue;
        }
        if (only_pos || s[0] != '-' || s[1] == 0) { /* "-" is stdin */
            if (a->n_pos >= 16)
                return sn_cli_usage_error(cmd, "too many arguments");
            a->pos[a->n_pos++] = s;
            continue;
        }
        const char *name = s + 1, *inline_val = NULL;
        int found = -1;
        char buf[64];
        if (s[1] == '-') {
            name = s + 2;
            const char *eq = strchr(name, '=');
            if (eq) {
                size_t len = (size_t)(eq - name);
                if (len >= sizeof buf) len = sizeof buf - 1;
                memcpy(buf, name, len);
                buf[len] = 0;
                name = buf;
                inline_val = eq + 1;
            }
            for (int j = 0; j < n; j++)
                if (!strcmp(cmd->opts[j].name, name)) found = j;
        } else if (s[2] == 0) {
            for (int j = 0; j < n; j++)
                if (cmd->opts[j].short_name == s[1]) found = j;
        }
        if (found < 0) return sn_cli_usage_error(cmd, "unknown option '%s'", s);
        const sn_cli_opt *o = &cmd->opts[found];
        if (o->arg) {
            if (inline_val) {
                a->val[found] = inline_val;
            } else {
                if (i + 1 >= argc)
                    return sn_cli_usage_error(cmd, "option '--%s' needs %s",
                                              o->name, o->arg);
                a->val[found] = argv[++i];
            }
        } else {
            if (inline_val)
                return sn_cli_usage_error(cmd, "option '--%s' takes no value",
                                          o->name);
            a->val[found] = "";
        }
    }
    return 0;
}

const char *sn_cli_get(const sn_cli_args *a, const char *name) {
    int n = opt_count(a->cmd);
    for (int j = 0; j < n; j++)
        if (!strcmp(a->cmd->opts[j].name, name)) return a->val[j];
    SN_ASSERT(!"option not in the command's table");
    return NULL;
}

int sn_cli_flag(const sn_cli_args *a, const char *name) {
    return sn_cli_get(a, name) != NULL;
}

int sn_cli_threads(const sn_cli_args *a) {
    const char *v = sn_cli_get(a, "threads");
    long t = 0;
    if (v && sn_parse_long(v, 1, 64, &t) != 0)
        return sn_cli_usage_error(a->cmd, "--threads needs 1..64");
    sn_threads_init((int)t); /* 0: all cores */
    return 0;
}

const char *sn_cli_help_default(char *buf, size_t n, const char *help,
                                const char *dflt) {
    size_t l = strlen(help);
    if (!dflt || !dflt[0]) snprintf(buf, n, "%s", help);
    else if (l && help[l - 1] == ')') /* "... (0 = none)" */
        snprintf(buf, n, "%.*s; default %s)", (int)(l - 1), help, dflt);
    else snprintf(buf, n, "%s (default %s)", help, dflt);
    return buf;
}

const char *sn_cli_plural(char *buf, size_t n, long count,
                          const char *noun) {
    snprintf(buf, n, "%ld %s%s", count, noun, count == 1 ? "" : "s");
    return buf;
}

/* A size the way --max-params takes it: 10000 -> "10k", 0 -> "none". */
static void fmt_size_opt(char *buf, size_t n, int64_t v) {
    if (v == 0) snprintf(buf, n, "none");
    else if (v % 1000000 == 0) snprintf(buf, n, "%lldM", (long long)(v / 1000000));
    else if (v % 1000 == 0) snprintf(buf, n, "%lldk", (long long)(v / 1000));
    else snprintf(buf, n, "%lld", (long long)v);
}

void sn_cli_setting_default(const char *key, char *buf, size_t n) {
    sn_search_settings s = sn_settings_default();
    buf[0] = 0;
    if (!strcmp(key, "rates")) {
        /* 1 each, then the exceptions: "1; 0.5 deeper-dense, ..." */
        snprintf(buf, n, "1");
        for (int i = 0; i < SN_MORPH_COUNT; i++)
            if (s.rates[i] != 1) {
                size_t l = strlen(buf);
                snprintf(buf + l, n - l, "%s%g %s", l == 1 ? "; " : ", ",
                         s.rates[i], sn_morph_get((sn_morph_id)i)->name);
            }
        return;
    }
    const sn_setting_info *k = sn_setting_find(key);
    /* nothing to show: not a setting (--config, --run), required
     * (--data), none (--final-at), or one per operator (rate.OP) */
    if (!k || !strcmp(key, "data") || !strcmp(key, "final-at") ||
        !strncmp(key, "rate.", 5))
        return;
    const char *field = (const char *)&s + k->offset;
    if (k->type == SN_SET_DURATION) {
        double b = *(const double *)field;
        if (b <= 0) snprintf(buf, n, "none");
        else if (fmod(b, 3600) == 0) snprintf(buf, n, "%gh", b / 3600);
        else if (fmod(b, 60) == 0) snprintf(buf, n, "%gm", b / 60);
        else snprintf(buf, n, "%gs", b);
    } else if (k->type == SN_SET_SIZE) {
        fmt_size_opt(buf, n, *(const int64_t *)field);
        if (!strcmp(key, "max-train") && !strcmp(buf, "none"))
            snprintf(buf, n, "all");
    } else if (!strcmp(key, "max-candidates") && !s.max_candidates) {
        snprintf(buf, n, "none");
    } else {
        sn_settings_get(&s, key, buf, n);
        if (!strcmp(buf, "chance")) snprintf(buf, n, "chance = 1/classes");
    }
}

static void print_main_help(FILE *f) {
    fprintf(f,
            "usage: slimnas [COMMAND] [OPTIONS]\n\n"
            "slimnas searches for small, accurate convolutional networks for "
            "edge devices.\nWith no command it opens the explorer.\n\n"
            "commands:\n");
    for (int i = 0; sn_cli_commands[i]; i++)
        fprintf(f, "  %-10s %s\n", sn_cli_commands[i]->name,
                sn_cli_commands[i]->summary);
    fprintf(f, "\n'slimnas COMMAND --help' describes a command.\n"
               "'slimnas --version' prints the version.\n");
}

int sn_cli_main(int argc, char **argv) {
    if (argc < 2) {
        for (int i = 0; sn_cli_commands[i]; i++)
            if (!strcmp(sn_cli_commands[i]->name, "ui"))
                return sn_cli_commands[i]->run(1, (char *[]){"ui", NULL});
        print_main_help(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (!strcmp(name, "-h") || !strcmp(name, "--help") ||
        !strcmp(name, "help")) {
        print_main_help(stdout);
        return 0;
    }
    if (!strcmp(name, "--version")) {
        printf("slimnas %s\n", SN_VERSION);
        return 0;
    }
    for (int i = 0; sn_cli_commands[i]; i++)
        if (!strcmp(sn_cli_commands[i]->name, name))
            return sn_cli_commands[i]->run(argc - 1, argv + 1);
    fprintf(stderr, "slimnas: unknown command '%s' (see 'slimnas --help')\n",
            name);
    return 2;
}
