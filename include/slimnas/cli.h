/* slimnas/cli.h — the `slimnas` subcommands and their option parsing.
 *
 * Every subcommand is one entry of a table (name, one-line summary, usage,
 * option list, run function); `slimnas --help`, `slimnas CMD --help` and
 * the error for an unknown command read that table. Exit codes: 0 success,
 * 1 failure (bad file, failed check), 2 usage error (unknown command or
 * option, missing or malformed argument). */
#ifndef SLIMNAS_CLI_H
#define SLIMNAS_CLI_H

#include "slimnas/util.h"

/* One option of a subcommand. */
typedef struct sn_cli_opt {
    const char *name;  /* long name without dashes: "input" for --input */
    char short_name;   /* 'o' for -o, or 0 */
    const char *arg;   /* metavar ("HxWxC") or NULL for a flag */
    const char *help;  /* without the default: the help adds "(default X)"
                          from the command's default_of; NULL: accepted
                          but not listed (kept for old scripts) */
} sn_cli_opt;

typedef struct sn_cli_cmd {
    const char *name;
    const char *summary;    /* one line for `slimnas --help` */
    const char *usage;      /* "slimnas new KIND --input HxWxC ..." */
    const char *details;    /* paragraph(s) after the option list, or NULL */
    const sn_cli_opt *opts; /* terminated by {0} */
    int (*run)(int argc, char **argv);
    /* The default of option `opt` as text into buf ("" = none to show),
     * read from where the default lives (sn_settings_default,
     * sn_train_opts_default, ...), so help cannot drift; may be NULL. */
    void (*default_of)(const char *opt, char *buf, size_t n);
} sn_cli_cmd;

/* Parsed command line of one subcommand. */
typedef struct sn_cli_args {
    int n_pos;
    const char *pos[16];      /* positional arguments */
    const sn_cli_cmd *cmd;
    const char *val[64];      /* value by option index; "" for a set flag */
} sn_cli_args;

/* Parses argv (argv[0] is the subcommand name). On --help prints the
 * command's help and returns 1; on error prints "slimnas CMD: ..." and
 * returns 2; 0 on success. */
int sn_cli_parse(const sn_cli_cmd *cmd, int argc, char **argv,
                 sn_cli_args *a);
const char *sn_cli_get(const sn_cli_args *a, const char *name);
int sn_cli_flag(const sn_cli_args *a, const char *name);
/* Prints "slimnas CMD: msg" to stderr, returns 2. */
int sn_cli_usage_error(const sn_cli_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sn_cli_print_help(const sn_cli_cmd *cmd, FILE *f);

/* Starts the worker pool with the command's --threads T (1..64; all
 * cores when absent). 0, or 2 after a usage error. */
int sn_cli_threads(const sn_cli_args *a);

/* default_of for the search settings keys (search, resume, fork, ui):
 * sn_settings_default()'s value in the form a user would type it. */
void sn_cli_setting_default(const char *key, char *buf, size_t n);

/* help with " (default X)" added, or "(... ; default X)" when help ends
 * with a parenthesis; help as is when dflt is "" or NULL. */
const char *sn_cli_help_default(char *buf, size_t n, const char *help,
                                const char *dflt);

/* "N epoch" / "N epochs": the noun with its count. */
const char *sn_cli_plural(char *buf, size_t n, long count,
                          const char *noun);

int sn_cli_main(int argc, char **argv);

/* --mpi (src/cli/cli_mpi.c). Call right after parsing: returns 1 when the
 * command must return *rc now (a worker rank that has finished, or a
 * usage error), 0 to go on (no --mpi, or rank 0). */
int sn_cli_mpi_begin(const sn_cli_args *a, int *rc);
/* On rank 0 with --mpi: sends the settings s to the workers, waits for
 * their data, and gives the engine the MPI evaluator (before the search
 * is started or opened). 0, or 1 after printing the error. Without --mpi
 * it does nothing. The workers are told to exit when the process exits. */
struct sn_engine;
struct sn_search_settings;
int sn_cli_mpi_attach(struct sn_engine *en,
                      const struct sn_search_settings *s,
                      const sn_cli_args *a);

/* The command table lives in src/cli/commands.c. */
extern const sn_cli_cmd *const sn_cli_commands[];

#endif
