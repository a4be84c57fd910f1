/* commands.h: the subcommands of the attnsweep executable. Each takes the arguments
 * after its name (argv[0] is the subcommand) and returns the process exit code. */
#ifndef AS_CLI_COMMANDS_H
#define AS_CLI_COMMANDS_H

int as_cmd_data(int argc, char **argv);
int as_cmd_train(int argc, char **argv);
int as_cmd_sweep(int argc, char **argv);
int as_cmd_summary(int argc, char **argv);
int as_cmd_merge(int argc, char **argv);
int as_cmd_export(int argc, char **argv);
int as_cmd_predict(int argc, char **argv);
int as_cmd_evaluate(int argc, char **argv);
int as_cmd_results(int argc, char **argv);

#endif
