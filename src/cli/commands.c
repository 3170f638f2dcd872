/* commands.c — the table of subcommands, in the order --help lists them.
 * Each command is defined in its own cmd_*.c file. */
#include "slimnas/cli.h"

extern const sn_cli_cmd sn_cmd_new, sn_cmd_stats;

const sn_cli_cmd *const sn_cli_commands[] = {
    &sn_cmd_new,
    &sn_cmd_stats,
    NULL,
};
