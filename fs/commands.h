/*
 * commands.h — the subcommands of the kvfs program. Each takes its own
 * argv (argv[0] is the command's name) and returns the exit status:
 * 0 success, 1 not found or failure, 2 bad usage, 3 a check failed.
 */
#ifndef KVFS_COMMANDS_H
#define KVFS_COMMANDS_H

int cmd_mount(int argc, char **argv);
int cmd_get(int argc, char **argv);
int cmd_set(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_sum(int argc, char **argv);
int cmd_min(int argc, char **argv);
int cmd_max(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_copy(int argc, char **argv);
int cmd_pointers(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_passwd(int argc, char **argv);
int cmd_rekey(int argc, char **argv);
int cmd_appkey(int argc, char **argv);

#endif
