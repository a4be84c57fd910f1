/* cmd_data.c: placeholder until the subcommand lands (removed by its issue). */
#include <stdio.h>
#include "cli/commands.h"
int as_cmd_data(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "attnsweep data: not built yet\n");
    return 1;
}
