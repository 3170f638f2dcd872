/* grammar.c — the engine's text commands: one table entry per command
 * (sn_engine_commands), the grammar the explorer's ':' line, its keys and
 * the fuzzer share. Each entry runs through the public engine API only. */
#include "slimnas/engine.h"

#include <stdio.h>
#include <string.h>

/* What an entry's exec gets as ctx. */
typedef struct call {
    sn_engine *en;
    int h;
    char *reply; /* SN_LOG_TEXT_LEN bytes */
    int *new_h;
} call;

static int parse_id(const char *s, int *id) {
    long v;
    if (*s == '#') s++;
    if (sn_parse_long(s, 0, 100000000L, &v)) return -1;
    *id = (int)v;
    return 0;
}

static int ex_pause(void *ctx, int argc, char **argv, sn_error *e) {
    call *c = ctx;
    (void)argc;
    int rc = argv[0][0] == 'p' ? sn_engine_pause(c->en, c->h, e)
             : argv[0][0] == 'r' ? sn_engine_resume(c->en, c->h, e)
                                 : sn_engine_stop(c->en, c->h, e);
    if (!rc) snprintf(c->reply, SN_LOG_TEXT_LEN, "%s", argv[0]);
    return rc;
}

static int ex_set(void *ctx, int argc, char **argv, sn_error *e) {
    call *c = ctx;
    (void)argc;
    if (sn_engine_set(c->en, c->h, argv[1], argv[2], e)) return -1;
    snprintf(c->reply, SN_LOG_TEXT_LEN, "set %s %s", argv[1], argv[2]);
    return 0;
}

static int ex_enqueue(void *ctx, int argc, char **argv, sn_error *e) {
    call *c = ctx;
    (void)argc;
    int id;
    if (parse_id(argv[1], &id))
        return sn_errf(e, "usage: enqueue ID OP[:POS[:ARG]]");
    if (sn_engine_enqueue(c->en, c->h, id, argv[2], e)) return -1;
    snprintf(c->reply, SN_LOG_TEXT_LEN, "queued %s of #%d", argv[2], id);
    return 0;
}

static int ex_ban(void *ctx, int argc, char **argv, sn_error *e) {
    call *c = ctx;
    (void)argc;
    int op = sn_morph_from_name(argv[1]);
    if (op < 0) return sn_errf(e, "unknown operator '%s'", argv[1]);
    char key[64], val[32];
    snprintf(key, sizeof key, "rate.%s", argv[1]);
    snprintf(val, sizeof val, "%g",
             argv[0][0] == 'b' ? 0.0 : sn_settings_default().rates[op]);
    if (sn_engine_set(c->en, c->h, key, val, e)) return -1;
    snprintf(c->reply, SN_LOG_TEXT_LEN, "%s %s", argv[0], argv[1]);
    return 0;
}

static int ex_pin(void *ctx, int argc, char **argv, sn_error *e) {
    call *c = ctx;
    (void)argc;
    if (sn_engine_set(c->en, c->h, "pin", argv[1], e)) return -1;
    snprintf(c->reply, SN_LOG_TEXT_LEN, "pin %s", argv[1]);
    return 0;
}

static int ex_fork(void *ctx, int argc, char **argv, sn_error *e) {
    call *c = ctx;
    int id;
    if (parse_id(argv[1], &id))
        return sn_errf(e, "usage: fork ID [--run DIR] [--keep-running] "
                          "[--KEY VALUE ...]");
    const sn_snapshot *snap = sn_engine_snapshot(c->en, c->h);
    sn_search_settings t = snap->settings;
    sn_snapshot_release(snap);
    const char *dir = NULL;
    int keep = 0;
    for (int i = 2; i < argc; i++) {
        const char *k = argv[i];
        if (strncmp(k, "--", 2))
            return sn_errf(e, "fork: expected --KEY VALUE, got '%s'", k);
        k += 2;
        if (!strcmp(k, "keep-running")) {
            keep = 1;
            continue;
        }
        if (i + 1 >= argc) return sn_errf(e, "fork: --%s needs a value", k);
        if (!strcmp(k, "run")) {
            dir = argv[++i];
            continue;
        }
        if (!strcmp(k, "data"))
            return sn_errf(e, "fork: the data of a fork is its parent's");
        if (sn_settings_set(&t, k, argv[++i], e)) return -1;
    }
    if (sn_settings_check(&t, e)) return -1;
    int nh = sn_engine_fork(c->en, c->h, id, dir, &t, !keep, e);
    if (nh < 0) return -1;
    if (c->new_h) *c->new_h = nh;
    const sn_snapshot *ns = sn_engine_snapshot(c->en, nh);
    snprintf(c->reply, SN_LOG_TEXT_LEN, "forked #%d into %.180s%s", id,
             ns->dir, keep ? "" : " (this run is paused)");
    sn_snapshot_release(ns);
    return 0;
}

const sn_command sn_engine_commands[] = {
    {"pause", "", "pause the search (within one batch)", 0, 0, "", ex_pause},
    {"resume", "", "resume a paused or stopped search", 0, 0, "", ex_pause},
    {"stop", "", "end the search now (it stays resumable)", 0, 0, "",
     ex_pause},
    {"set", "KEY VALUE", "change a setting (max-params 5k, strategy evolution)",
     2, 2, "key value", ex_set},
    {"enqueue", "ID OP[:POS[:ARG]]", "train this morph of candidate ID next",
     2, 2, "id morph", ex_enqueue},
    {"ban", "OP", "give operator OP rate 0", 1, 1, "morph", ex_ban},
    {"unban", "OP", "give operator OP its default rate", 1, 1, "morph",
     ex_ban},
    {"pin", "OP|none", "draw only operator OP (none: all by rate)", 1, 1,
     "morph|none", ex_pin},
    {"fork", "ID [--run DIR] [--keep-running] [--KEY VALUE ...]",
     "new run from ID", 1, -1, "id fork-option", ex_fork},
    {NULL, NULL, NULL, 0, 0, NULL, NULL}};

int sn_engine_exec(sn_engine *en, int h, const char *line, char *reply,
                   int *new_h, sn_error *e) {
    char buf[1024], rbuf[SN_LOG_TEXT_LEN];
    if (!reply) reply = rbuf;
    reply[0] = 0;
    if (strlen(line) >= sizeof buf) return sn_errf(e, "command too long");
    snprintf(buf, sizeof buf, "%s", line);
    char *w[64];
    int n = sn_split_words(buf, w, 64);
    if (n < 0) return sn_errf(e, "too many words");
    if (n == 0) return sn_errf(e, "empty command");
    const sn_command *const tabs[1] = {sn_engine_commands};
    const sn_command *c = sn_command_find(tabs, 1, w[0], NULL, NULL, e);
    if (!c) return -1;
    if (h < 0 || h >= sn_engine_count(en))
        return sn_errf(e, "no search %d", h);
    if (sn_command_check_args(c, n - 1, e)) return -1;
    w[0] = (char *)c->name;
    call ctx = {en, h, reply, new_h};
    return c->exec(&ctx, n, w, e);
}
