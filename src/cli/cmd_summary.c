/* cmd_summary.c: placeholder until the subcommand lands (removed by its issue). */
#include <stdio.h>
#include "cli/commands.h"
int as_cmd_summary(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "attnsweep summary: not built yet\n");
    return 1;
}
