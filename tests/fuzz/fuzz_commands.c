/* fuzz_commands.c — the explorer's ':' command line: the first word
 * resolved (sn_tui_resolve), completions for the line (sn_tui_complete),
 * and the command run by the engine on a paused run of two trained
 * candidates (set KEY VALUE, enqueue ID MORPH, ban, unban, pin, pause).
 * resume, stop and fork are only resolved and completed: they would start
 * training or make new run directories on every input.
 *
 * Speed: the run is made once (at start-up) of two small graphs (cnn:2:1
 * and tiny2conv:2): an enqueue validates its morph by building the
 * morphed graph twice (the engine, then the search's thread), which on
 * cnn:4:2 and mobile_tiny:4 cost ten times as much for the same coverage
 * of the command code (the morphs themselves, depthwise layers included,
 * are tested at every position of every base in test_morph). Every 4096
 * inputs the engine is reopened from the run directory, so the queue and
 * settings the inputs piled up do not grow without bound. */
#include "fuzz.h"

#include "slimnas/data.h"
#include "slimnas/engine.h"
#include "slimnas/search.h"
#include "slimnas/tui.h"

static sn_engine *fuzz_commands_en;
static int fuzz_commands_h = -1;
static char fuzz_commands_dir[300];
static unsigned fuzz_commands_runs;

static void fuzz_commands_open(void) {
    sn_error e;
    if (fuzz_commands_en) sn_engine_free(fuzz_commands_en);
    fuzz_commands_en = sn_engine_new();
    fuzz_commands_h = sn_engine_open(fuzz_commands_en, fuzz_commands_dir, 1, &e);
    if (fuzz_commands_h < 0) {
        fprintf(stderr, "fuzz_commands: %s\n", e.msg);
        abort();
    }
}

FUZZ_INIT(commands) {
    char root[256];
    fuzz_tmpdir(root, sizeof root, "commands");
    snprintf(fuzz_commands_dir, sizeof fuzz_commands_dir, "%s/run", root);
    const char *dir = fuzz_commands_dir;
    sn_search_settings s = sn_settings_default();
    snprintf(s.data, sizeof s.data, "synthetic:100");
    snprintf(s.bases, sizeof s.bases, "cnn:2:1,tiny2conv:2");
    s.max_train = 0;
    s.epochs = s.root_epochs = 1;
    s.batch = 32;
    s.max_candidates = 2;
    sn_error e;
    sn_search *se = sn_search_open(dir, &e);
    if (!se) {
        se = sn_search_create(dir, &s, &e);
        if (!se) goto fail;
        sn_data_opts o = sn_settings_data_opts(&s, 0);
        sn_data *d = sn_data_open(s.data, &o, &e);
        if (!d || sn_search_attach_data(se, d, NULL, &e)) goto fail;
        while (sn_search_step(se, NULL, &e) == 1)
            ;
        sn_data_free(d);
    }
    sn_search_free(se);
    fuzz_commands_open();
    return 0;
fail:
    fprintf(stderr, "fuzz_commands: %s\n", e.msg);
    abort();
}

FUZZ_TARGET(commands)(const uint8_t *data, size_t size) {
    if (size > 2000) return 0;
    if (++fuzz_commands_runs % 4096 == 0) fuzz_commands_open();
    char *line = fuzz_cstr(data, size);
    char *nl = strchr(line, '\n');
    if (nl) *nl = 0;
    /* the first word, as the explorer resolves it */
    char word[64] = "", name[64] = "";
    sscanf(line, "%63s", word);
    int local = 0;
    sn_error e;
    int known = word[0] && sn_tui_resolve(word, name, sizeof name, &local, &e) == 0;
    /* completions of the last word */
    size_t len = strlen(line);
    int start = (int)len;
    while (start > 0 && line[start - 1] != ' ') start--;
    static const char *const themes[] = {"dark", "light", NULL};
    sn_complete_ctx cc = {2, themes};
    sn_lines out;
    memset(&out, 0, sizeof out);
    sn_tui_complete(&cc, line, start, line + start, &out);
    sn_lines_free(&out);
    (void)known;
    /* the engine runs what it may: its own reading of the first word
     * (the whole name or a prefix of exactly one) must not be resume,
     * stop or fork */
    const char *cmd = NULL;
    int matches = 0;
    for (int i = 0; word[0] && sn_engine_commands[i].name; i++) {
        const char *c = sn_engine_commands[i].name;
        if (!strcmp(c, word)) {
            cmd = c;
            matches = 1;
            break;
        }
        if (!strncmp(c, word, strlen(word))) {
            cmd = c;
            matches++;
        }
    }
    if (!(matches == 1 && (!strcmp(cmd, "resume") || !strcmp(cmd, "stop") ||
                           !strcmp(cmd, "fork")))) {
        char reply[512];
        sn_engine_exec(fuzz_commands_en, fuzz_commands_h, line, reply, NULL, &e);
    }
    sn_engine_drain(fuzz_commands_en);
    free(line);
    return 0;
}
