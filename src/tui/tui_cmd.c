/* tui_cmd.c — the explorer's own commands, key bindings, command-name
 * resolution and tab completion. Keys are bound to command strings, so a
 * key and the ':' line go through one parser (tui_main.c's run_command);
 * whatever the explorer does not handle itself goes to sn_engine_exec.
 * Pure functions. */
#include "slimnas/tui.h"

#include <stdlib.h>
#include <string.h>

const sn_key_binding sn_tui_keys[] = {
    {{'j', SN_KEY_DOWN}, "j Down", "move 1", "next row", NULL},
    {{'k', SN_KEY_UP}, "k Up", "move -1", "previous row", NULL},
    {{SN_KEY_PGDN, 4}, "PgDn ^D", "move page", "page down", NULL},
    {{SN_KEY_PGUP, 21}, "PgUp ^U", "move -page", "page up", NULL},
    {{'g', SN_KEY_HOME}, "g Home", "move top", "first row", NULL},
    {{'G', SN_KEY_END}, "G End", "move bottom", "last row", NULL},
    {{'h', SN_KEY_LEFT}, "h Left", "left",
     "fold, or go to the parent; views: scroll left", NULL},
    {{'l', SN_KEY_RIGHT}, "l Right", "right",
     "unfold, or go to the first child; scroll right", NULL},
    {{SN_KEY_TAB}, "Tab", "focus next", "next pane", NULL},
    {{SN_KEY_BTAB}, "S-Tab", "focus prev", "previous pane", NULL},
    {{SN_KEY_ENTER}, "Enter", "open", "open/close the candidate view", NULL},
    {{'z'}, "z", "zoom", "zoom the focused pane to the whole screen (z: back)",
     NULL},
    {{'s'}, "s", "sort next",
     "tree, or a flat list by accuracy, params, flops, memory", NULL},
    {{' '}, "Space", "toggle-pause", "pause / resume the search", NULL},
    {{'f'}, "f", "fork %d",
     "fork a new run from the selected candidate (asks y/n)",
     "fork #%d into a new run? This run pauses."},
    {{'m'}, "m", "metric next", "size metric: params, flops, memory", NULL},
    {{'/'}, "/", "find", "find a candidate (op, id, status)", NULL},
    {{'n'}, "n", "find next", "next match", NULL},
    {{'N'}, "N", "find prev", "previous match", NULL},
    {{'e'}, "e", "export %d", "export the selected candidate", NULL},
    {{'t'}, "t", "theme next", "next colour theme", NULL},
    {{'r'}, "r", "runs", "pick a run or fork (j/k, Enter; 1-9)", NULL},
    {{':'}, ":", "",
     "command line (Tab completes, Up history, C-r search, Esc cancels)",
     NULL},
    {{'?'}, "?", "help", "this help", NULL},
    {{'q', 3}, "q ^C", "quit", "quit (asks while a search runs; y confirms)",
     NULL},
    {{0}, NULL, NULL, NULL, NULL}};

const sn_key_binding *sn_tui_key_binding(int key) {
    for (int i = 0; sn_tui_keys[i].keys; i++)
        for (int k = 0; k < 3 && sn_tui_keys[i].key[k]; k++)
            if (sn_tui_keys[i].key[k] == key) return &sn_tui_keys[i];
    return NULL;
}

const char *sn_tui_key_command(int key, int id, char *buf, size_t n) {
    const sn_key_binding *b = sn_tui_key_binding(key);
    if (!b) return NULL;
    const char *c = b->command;
    const char *pc = strstr(c, "%d");
    if (pc) snprintf(buf, n, "%.*s%d%s", (int)(pc - c), c, id, pc + 2);
    else snprintf(buf, n, "%s", c);
    return buf;
}

int sn_tui_resolve(const char *word, char *name, size_t n, int *local,
                   sn_error *e) {
    const sn_command *const tabs[2] = {sn_tui_commands, sn_engine_commands};
    int t;
    const sn_command *c = sn_command_find(tabs, 2, word, &t, SN_TUI_HINT, e);
    if (!c) return -1;
    snprintf(name, n, "%s", c->name);
    *local = t == 0;
    return 0;
}

/* ---- completion ---------------------------------------------------------- */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void offer(sn_lines *out, const char *text, const char *word) {
    if (strncmp(word, text, strlen(text))) return;
    sn_lines_add(out, "%s", word);
}

static void offer_list(sn_lines *out, const char *text,
                       const char *const *list) {
    for (int i = 0; list[i]; i++) offer(out, text, list[i]);
}

static void offer_ids(sn_lines *out, const char *text, int n) {
    for (int i = 0; i < n; i++) {
        char b[16];
        snprintf(b, sizeof b, "%d", i);
        offer(out, text, b);
    }
}

static void offer_morphs(sn_lines *out, const char *text, const char *pre) {
    for (int i = 0; sn_engine_op_name(i); i++) {
        char b[80];
        snprintf(b, sizeof b, "%s%s", pre, sn_engine_op_name(i));
        offer(out, text, b);
    }
}

static void offer_keys(sn_lines *out, const char *text, const char *pre,
                       int skip_fixed) {
    for (const sn_setting_info *t = sn_engine_settings_table(); t->key; t++) {
        const char *k = t->key;
        if (skip_fixed && !t->live) continue;
        char b[80];
        if (!strcmp(k, "rate.OP")) {
            char p2[16];
            snprintf(p2, sizeof p2, "%srate.", pre);
            offer_morphs(out, text, p2);
            continue;
        }
        snprintf(b, sizeof b, "%s%s", pre, k);
        offer(out, text, b);
    }
}

/* Offers what spec (one argument's part of an entry's `complete`, its
 * length len) names; "path" is the line editor's (sn_tui_complete_path),
 * "value" and "fork-option" are sn_tui_complete's. */
static void offer_spec(const sn_complete_ctx *ctx, sn_lines *out,
                       const char *text, const char *spec, size_t len) {
    char sp[128];
    snprintf(sp, sizeof sp, "%.*s", (int)len, spec);
    if (!strcmp(sp, "id")) offer_ids(out, text, ctx->n_cands);
    else if (!strcmp(sp, "objective"))
        for (int i = 0; i < SN_OBJ_COUNT; i++)
            offer(out, text, sn_engine_objective_name((sn_objective)i));
    else if (!strcmp(sp, "strategy"))
        for (int i = 0; i < SN_STRAT_COUNT; i++)
            offer(out, text, sn_engine_strategy_name((sn_strategy)i));
    else if (!strcmp(sp, "morph")) offer_morphs(out, text, "");
    else if (!strcmp(sp, "morph|none")) {
        offer_morphs(out, text, "");
        offer(out, text, "none");
    } else if (!strcmp(sp, "theme")) {
        if (ctx->themes) offer_list(out, text, ctx->themes);
        offer(out, text, "next");
    } else if (!strcmp(sp, "key")) {
        offer_keys(out, text, "", 1);
    } else if (strchr(sp, ',')) {
        char *save = NULL;
        for (char *w = strtok_r(sp, ",", &save); w;
             w = strtok_r(NULL, ",", &save))
            offer(out, text, w);
    }
}

/* The spec of argument k (0-based) of c, or NULL; a last spec
 * "fork-option" covers every later argument. */
static const char *arg_spec(const sn_command *c, int k, size_t *len) {
    const char *p = c->complete, *last = NULL;
    size_t last_len = 0;
    for (;;) {
        while (*p == ' ') p++;
        if (!*p) break;
        size_t l = strcspn(p, " ");
        if (k-- == 0) {
            *len = l;
            return p;
        }
        last = p;
        last_len = l;
        p += l;
    }
    if (last && last_len == 11 && !strncmp(last, "fork-option", 11)) {
        *len = last_len;
        return last;
    }
    return NULL;
}

static int spec_is(const char *spec, size_t len, const char *word) {
    return spec && len == strlen(word) && !strncmp(spec, word, len);
}

/* Offers the values of setting key (its table entry's spec). */
static void offer_value(const sn_complete_ctx *ctx, sn_lines *out,
                        const char *text, const char *key) {
    for (const sn_setting_info *t = sn_engine_settings_table(); t->key; t++)
        if (!strcmp(t->key, key) && t->complete)
            offer_spec(ctx, out, text, t->complete, strlen(t->complete));
}

/* The words of line before byte start (at most 16), in buf. */
static int words_before(const char *line, int start, char *buf, size_t n,
                        char **w) {
    snprintf(buf, n, "%.*s", start < (int)n - 1 ? start : (int)n - 1, line);
    int nw = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, " \t", &save); t && nw < 16;
         t = strtok_r(NULL, " \t", &save))
        w[nw++] = t;
    return nw;
}

int sn_tui_complete_path(const char *line, int start) {
    char buf[512], *w[16];
    int nw = words_before(line, start, buf, sizeof buf, w);
    const sn_command *const tabs[2] = {sn_tui_commands, sn_engine_commands};
    const sn_command *c;
    size_t len = 0;
    if (nw == 0 || !(c = sn_command_find(tabs, 2, w[0], NULL, NULL, NULL)))
        return 0;
    const char *spec = arg_spec(c, nw - 1, &len);
    return spec_is(spec, len, "path");
}

void sn_tui_complete(const sn_complete_ctx *ctx, const char *line, int start,
                     const char *text, sn_lines *out) {
    char buf[512], *w[16];
    int nw = words_before(line, start, buf, sizeof buf, w);

    const sn_command *const tabs[2] = {sn_tui_commands, sn_engine_commands};
    const sn_command *c;
    if (nw == 0) {
        for (int t = 0; t < 2; t++)
            for (c = tabs[t]; c->name; c++) offer(out, text, c->name);
    } else if ((c = sn_command_find(tabs, 2, w[0], NULL, NULL, NULL))) {
        size_t len = 0;
        const char *spec = arg_spec(c, nw - 1, &len);
        if (spec_is(spec, len, "value")) {
            offer_value(ctx, out, text, w[nw - 1]);
        } else if (spec_is(spec, len, "fork-option")) {
            const char *prev = w[nw - 1];
            if (!strncmp(prev, "--", 2) && strcmp(prev, "--keep-running")) {
                offer_value(ctx, out, text, prev + 2);
            } else {
                offer(out, text, "--run");
                offer(out, text, "--keep-running");
                offer_keys(out, text, "--", 0);
            }
        } else if (spec) {
            offer_spec(ctx, out, text, spec, len);
        }
    }
    /* sorted and unique */
    if (out->n > 1) {
        qsort(out->s, (size_t)out->n, sizeof *out->s, cmp_str);
        int k = 1;
        for (int i = 1; i < out->n; i++) {
            if (!strcmp(out->s[i], out->s[k - 1])) free(out->s[i]);
            else out->s[k++] = out->s[i];
        }
        out->n = k;
    }
}
