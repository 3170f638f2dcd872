/* main.c — `slimnas` entry point: finds the subcommand in the command
 * table (include/slimnas/cli.h) and runs it. */
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "slimnas/cli.h"

int main(int argc, char **argv) {
    setlocale(LC_ALL, "");
    setlocale(LC_NUMERIC, "C"); /* JSON and tables use '.' decimals */
    return sn_cli_main(argc, argv);
}
