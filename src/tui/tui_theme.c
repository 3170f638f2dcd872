/* tui_theme.c — colours, semantic slots and theme files.
 *
 * Drawing code names slots (SN_SLOT_FRONT...), never colours; a theme maps
 * each slot to a foreground, a background and attributes. Colours are
 * written as names, xterm indices or #RRGGBB and mapped down here to what
 * the terminal has (256, 16 or 8 colours) by nearest RGB distance, so one
 * theme file serves every terminal. */
#include "slimnas/tui.h"

#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const slot_names[] = {
    "normal",     "dim",       "border",     "title",     "focus",
    "status",     "status_key", "selected",  "front",     "training",
    "queued",     "failed",    "infeasible", "progress",  "axis",
    "point",      "front_line", "highlight", "limit",     "spark",
    "header",     "graph",     "log_info",   "log_warn",  "log_error",
    "cmdline",    "message",   "error",      "help",
};
_Static_assert(sizeof slot_names / sizeof slot_names[0] == SN_SLOT_COUNT,
               "theme slot names");

const char *sn_slot_name(sn_slot s) {
    SN_ASSERT(s >= 0 && s < SN_SLOT_COUNT);
    return slot_names[s];
}

int sn_slot_from_name(const char *s) {
    for (int i = 0; i < SN_SLOT_COUNT; i++)
        if (!strcmp(slot_names[i], s)) return i;
    return -1;
}

/* ---- colours ------------------------------------------------------------- */

static const char *const colour_names[8] = {
    "black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"};

/* xterm's default first 16 colours (terminals differ; these are only used
 * to pick the nearest one). */
static const unsigned char base16[16][3] = {
    {0, 0, 0},       {205, 0, 0},     {0, 205, 0},     {205, 205, 0},
    {0, 0, 238},     {205, 0, 205},   {0, 205, 205},   {229, 229, 229},
    {127, 127, 127}, {255, 0, 0},     {0, 255, 0},     {255, 255, 0},
    {92, 92, 255},   {255, 0, 255},   {0, 255, 255},   {255, 255, 255}};

void sn_colour_rgb_of(int i, unsigned char rgb[3]) {
    SN_ASSERT(i >= 0 && i < 256);
    if (i < 16) {
        memcpy(rgb, base16[i], 3);
    } else if (i < 232) {
        static const unsigned char level[6] = {0, 95, 135, 175, 215, 255};
        int k = i - 16;
        rgb[0] = level[k / 36];
        rgb[1] = level[(k / 6) % 6];
        rgb[2] = level[k % 6];
    } else {
        unsigned char g = (unsigned char)(8 + 10 * (i - 232));
        rgb[0] = rgb[1] = rgb[2] = g;
    }
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int sn_colour_parse(const char *s, sn_colour *c) {
    memset(c, 0, sizeof *c);
    if (!strcmp(s, "default")) {
        c->kind = SN_COLOUR_DEFAULT;
        return 0;
    }
    if (s[0] == '#') {
        if (strlen(s) != 7) return -1;
        int v[6];
        for (int i = 0; i < 6; i++)
            if ((v[i] = hexval((unsigned char)s[1 + i])) < 0) return -1;
        c->kind = SN_COLOUR_RGB;
        c->r = (unsigned char)(v[0] * 16 + v[1]);
        c->g = (unsigned char)(v[2] * 16 + v[3]);
        c->b = (unsigned char)(v[4] * 16 + v[5]);
        return 0;
    }
    if (isdigit((unsigned char)s[0])) {
        long v;
        if (sn_parse_long(s, 0, 255, &v)) return -1;
        c->kind = SN_COLOUR_INDEX;
        c->index = (int)v;
        return 0;
    }
    if (!strcmp(s, "grey") || !strcmp(s, "gray")) {
        c->kind = SN_COLOUR_INDEX;
        c->index = 8;
        return 0;
    }
    const char *name = s;
    int bright = 0;
    if (!strncmp(s, "bright-", 7)) name = s + 7, bright = 1;
    else if (!strncmp(s, "bright", 6)) name = s + 6, bright = 1;
    for (int i = 0; i < 8; i++)
        if (!strcmp(name, colour_names[i])) {
            c->kind = SN_COLOUR_INDEX;
            c->index = i + 8 * bright;
            return 0;
        }
    return -1;
}

/* Nearest palette index in [from, to) to rgb by squared distance. */
static int nearest(const unsigned char rgb[3], int from, int to) {
    int best = from;
    long bestd = -1;
    for (int i = from; i < to; i++) {
        unsigned char p[3];
        sn_colour_rgb_of(i, p);
        long d = 0;
        for (int k = 0; k < 3; k++) {
            long x = (long)p[k] - rgb[k];
            d += x * x;
        }
        if (bestd < 0 || d < bestd) best = i, bestd = d;
    }
    return best;
}

int sn_colour_to_terminal(sn_colour c, int ncolors) {
    if (c.kind == SN_COLOUR_DEFAULT || ncolors < 8) return -1;
    if (c.kind == SN_COLOUR_INDEX) {
        if (c.index < ncolors) return c.index;
        /* The bright half of the 16 names dims to its base colour on an
         * 8-colour terminal (the meaning "red" matters more than the exact
         * shade); bright black (grey) becomes white rather than black so it
         * stays visible on a dark background. */
        if (c.index < 16) return c.index == 8 ? 7 : c.index - 8;
    }
    unsigned char rgb[3];
    if (c.kind == SN_COLOUR_RGB) rgb[0] = c.r, rgb[1] = c.g, rgb[2] = c.b;
    else sn_colour_rgb_of(c.index, rgb);
    /* The first 16 colours are redefined by most terminal themes, so an
     * exact RGB goes to the fixed cube and grey ramp when there is one. */
    if (ncolors >= 256) return nearest(rgb, 16, 256);
    if (ncolors >= 16) return nearest(rgb, 0, 16);
    return nearest(rgb, 0, 8);
}

/* ---- themes -------------------------------------------------------------- */

/* The default (dark) theme; themes/default.theme holds the same lines and
 * a test checks that they agree. */
static const char default_theme_text[] =
    "normal = default\n"
    "dim = bright-black\n"
    "border = bright-black\n"
    "title = cyan bold\n"
    "focus = bright-yellow bold\n"
    "status = black on cyan\n"
    "status_key = black on cyan bold\n"
    "selected = reverse\n"
    "front = bright-yellow bold\n"
    "training = bright-green bold\n"
    "queued = bright-blue\n"
    "failed = bright-red\n"
    "infeasible = bright-black\n"
    "progress = green\n"
    "axis = 245\n"
    "point = 110\n"
    "front_line = #ffd75f bold\n"
    "highlight = bright-magenta bold\n"
    "limit = red\n"
    "spark = green\n"
    "header = cyan bold\n"
    "graph = blue\n"
    "log_info = default\n"
    "log_warn = yellow\n"
    "log_error = bright-red bold\n"
    "cmdline = default\n"
    "message = green\n"
    "error = bright-white on red bold\n"
    "help = bright-white on 236\n";

void sn_theme_default(sn_theme *t) {
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "default");
    sn_error e;
    int rc = sn_theme_parse(t, default_theme_text, "<built-in>", &e);
    SN_ASSERT(rc == 0);
}

static const struct {
    const char *name;
    unsigned bit;
} attr_names[] = {{"bold", SN_ATTR_BOLD},
                  {"dim", SN_ATTR_DIM},
                  {"underline", SN_ATTR_UNDERLINE},
                  {"reverse", SN_ATTR_REVERSE},
                  {"italic", SN_ATTR_ITALIC}};

static int parse_style(const char *val, sn_style *st, const char *file,
                       int line, sn_error *e) {
    memset(st, 0, sizeof *st);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", val);
    int have_fg = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, " \t", &save); tok;
         tok = strtok_r(NULL, " \t", &save)) {
        if (!strcmp(tok, "on")) {
            char *bg = strtok_r(NULL, " \t", &save);
            if (!bg)
                return sn_errf(e, "%s:%d: 'on' needs a background colour",
                               file, line);
            if (sn_colour_parse(bg, &st->bg))
                return sn_errf(e,
                               "%s:%d: '%s' is not a colour (a name, 0-255 "
                               "or #RRGGBB)",
                               file, line, bg);
            continue;
        }
        int found = 0;
        for (size_t i = 0; i < sizeof attr_names / sizeof attr_names[0]; i++)
            if (!strcmp(tok, attr_names[i].name)) {
                st->attr |= attr_names[i].bit;
                found = 1;
            }
        if (found) continue;
        if (have_fg)
            return sn_errf(e,
                           "%s:%d: '%s': a slot has one foreground colour "
                           "(attributes: bold dim underline reverse italic)",
                           file, line, tok);
        if (sn_colour_parse(tok, &st->fg))
            return sn_errf(e,
                           "%s:%d: '%s' is not a colour (a name, 0-255 or "
                           "#RRGGBB) or an attribute (bold dim underline "
                           "reverse italic)",
                           file, line, tok);
        have_fg = 1;
    }
    return 0;
}

/* '#' starts a comment at the start of a line or after a space, except
 * where it begins a #RRGGBB colour value. */
static void strip_comment(char *s) {
    const char *first = s + strspn(s, " \t");
    for (char *h = s; (h = strchr(h, '#')); h++) {
        if (h > s && !isspace((unsigned char)h[-1])) continue;
        size_t hex = strspn(h + 1, "0123456789abcdefABCDEF");
        int colour = hex == 6 && (h[7] == 0 || isspace((unsigned char)h[7]));
        if (colour && h != first) continue;
        *h = 0;
        return;
    }
}

int sn_theme_parse(sn_theme *t, const char *text, const char *file,
                   sn_error *e) {
    sn_theme nt = *t; /* all-or-nothing: t changes only on success */
    int line = 0;
    const char *p = text;
    while (*p) {
        line++;
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char buf[512];
        if (len >= sizeof buf)
            return sn_errf(e, "%s:%d: line too long", file, line);
        memcpy(buf, p, len);
        buf[len] = 0;
        p = eol ? eol + 1 : p + len;
        strip_comment(buf);
        char *s = buf;
        while (isspace((unsigned char)*s)) s++;
        size_t l = strlen(s);
        while (l && isspace((unsigned char)s[l - 1])) s[--l] = 0;
        if (!*s) continue;
        char *eq = strchr(s, '=');
        if (!eq)
            return sn_errf(e, "%s:%d: expected 'slot = colour [attributes]'",
                           file, line);
        *eq = 0;
        char *key = s, *val = eq + 1;
        l = strlen(key);
        while (l && isspace((unsigned char)key[l - 1])) key[--l] = 0;
        while (isspace((unsigned char)*val)) val++;
        int slot = sn_slot_from_name(key);
        if (slot < 0)
            return sn_errf(e, "%s:%d: unknown slot '%s'", file, line, key);
        if (!*val)
            return sn_errf(e, "%s:%d: slot '%s' has no value", file, line,
                           key);
        if (parse_style(val, &nt.slot[slot], file, line, e)) return -1;
    }
    *t = nt;
    return 0;
}

int sn_theme_load(sn_theme *t, const char *path, sn_error *e) {
    char *text;
    size_t len;
    if (sn_read_file(path, &text, &len, e)) return -1;
    sn_theme nt;
    sn_theme_default(&nt);
    int rc = sn_theme_parse(&nt, text, path, e);
    free(text);
    if (rc) return -1;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(nt.name, sizeof nt.name, "%s", base);
    char *dot = strstr(nt.name, ".theme");
    if (dot) *dot = 0;
    *t = nt;
    return 0;
}

void sn_theme_strip_colour(sn_theme *t) {
    for (int i = 0; i < SN_SLOT_COUNT; i++) {
        t->slot[i].fg.kind = SN_COLOUR_DEFAULT;
        t->slot[i].bg.kind = SN_COLOUR_DEFAULT;
    }
    /* Without colour some slots would look like plain text; give the ones
     * that carry meaning an attribute (mono.theme does the same). */
    static const struct {
        sn_slot s;
        unsigned a;
    } keep[] = {{SN_SLOT_STATUS, SN_ATTR_REVERSE},
                {SN_SLOT_STATUS_KEY, SN_ATTR_REVERSE | SN_ATTR_BOLD},
                {SN_SLOT_SELECTED, SN_ATTR_REVERSE},
                {SN_SLOT_HIGHLIGHT, SN_ATTR_REVERSE},
                {SN_SLOT_ERROR, SN_ATTR_REVERSE}};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
        t->slot[keep[i].s].attr |= keep[i].a;
}

int sn_tui_no_color(void) {
    const char *v = getenv("NO_COLOR");
    return v && *v;
}

/* ---- finding theme files ------------------------------------------------- */

static int theme_dirs(char dirs[][PATH_MAX], int max) {
    int n = 0;
    const char *env = getenv("SLIMNAS_THEMES");
    if (env && *env && n < max) snprintf(dirs[n++], PATH_MAX, "%s", env);
    if (n < max) snprintf(dirs[n++], PATH_MAX, "themes");
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    if (xdg && *xdg && n < max)
        snprintf(dirs[n++], PATH_MAX, "%s/slimnas/themes", xdg);
    else if (home && *home && n < max)
        snprintf(dirs[n++], PATH_MAX, "%s/.config/slimnas/themes", home);
    char exe[PATH_MAX];
    ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (l > 0) {
        exe[l] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            if (n < max) snprintf(dirs[n++], PATH_MAX, "%.4000s/themes", exe);
            if (n < max)
                snprintf(dirs[n++], PATH_MAX,
                         "%.4000s/../share/slimnas/themes", exe);
        }
    }
    return n;
}

int sn_theme_find(const char *name, char *buf, size_t n) {
    struct stat st;
    if (strchr(name, '/')) {
        snprintf(buf, n, "%s", name);
        return stat(buf, &st) == 0 ? 0 : -1;
    }
    char dirs[8][PATH_MAX];
    int nd = theme_dirs(dirs, 8);
    for (int i = 0; i < nd; i++) {
        snprintf(buf, n, "%.4000s/%.200s.theme", dirs[i], name);
        if (stat(buf, &st) == 0 && S_ISREG(st.st_mode)) return 0;
    }
    return -1;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp((const char *)a, (const char *)b);
}

int sn_theme_list(char names[][64], int max) {
    char dirs[8][PATH_MAX];
    int nd = theme_dirs(dirs, 8), n = 0;
    for (int i = 0; i < nd; i++) {
        DIR *d = opendir(dirs[i]);
        if (!d) continue;
        struct dirent *de;
        while ((de = readdir(d))) {
            size_t l = strlen(de->d_name);
            if (l <= 6 || l - 6 >= 64 || strcmp(de->d_name + l - 6, ".theme"))
                continue;
            char nm[64];
            memcpy(nm, de->d_name, l - 6);
            nm[l - 6] = 0;
            int dup = 0;
            for (int k = 0; k < n; k++)
                if (!strcmp(names[k], nm)) dup = 1;
            if (!dup && n < max) memcpy(names[n++], nm, sizeof nm);
        }
        closedir(d);
    }
    qsort(names, (size_t)n, sizeof names[0], cmp_name);
    return n;
}
