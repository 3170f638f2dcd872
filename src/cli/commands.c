/* commands.c — the table of subcommands, in the order --help lists them.
 * Each command is defined in its own cmd_*.c file. */
#include "slimnas/cli.h"

extern const sn_cli_cmd sn_cmd_new, sn_cmd_stats, sn_cmd_train, sn_cmd_eval;
extern const sn_cli_cmd sn_cmd_morph;
extern const sn_cli_cmd sn_cmd_export, sn_cmd_predict;
extern const sn_cli_cmd sn_cmd_ui;
extern const sn_cli_cmd sn_cmd_search, sn_cmd_show, sn_cmd_resume,
    sn_cmd_fork;
extern const sn_cli_cmd sn_cmd_check;
extern const sn_cli_cmd sn_cmd_report;

const sn_cli_cmd *const sn_cli_commands[] = {
    &sn_cmd_ui,
    &sn_cmd_new,
    &sn_cmd_stats,
    &sn_cmd_train,
    &sn_cmd_eval,
    &sn_cmd_morph,
    &sn_cmd_export,
    &sn_cmd_predict,
    &sn_cmd_search,
    &sn_cmd_show,
    &sn_cmd_resume,
    &sn_cmd_fork,
    &sn_cmd_check,
    &sn_cmd_report,
    NULL,
};
