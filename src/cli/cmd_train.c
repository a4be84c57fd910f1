/* cmd_train.c: placeholder until the subcommand lands (removed by its issue). */
#include <stdio.h>
#include "cli/commands.h"
int as_cmd_train(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "attnsweep train: not built yet\n");
    return 1;
}
