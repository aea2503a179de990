/*
 * main.c — the kvfs program: dispatch to a subcommand. Called as
 * `kvfs DB MOUNTPOINT -o ...` (how mount.fuse3 runs a fuse.kvfs line of
 * fstab) it mounts.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{"mount", cmd_mount, "mount a store as a directory tree"},
};

static void usage(FILE *to)
{
	fputs("usage: kvfs COMMAND [ARGS...]\n\ncommands:\n", to);
	for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++)
		fprintf(to, "  %-8s %s\n", commands[i].name,
			commands[i].summary);
	fputs("\n`kvfs COMMAND --help` tells more.\n", to);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	if (argc >= 3 && argv[1][0] != '-')
		return cmd_mount(argc, argv);
	fprintf(stderr, "kvfs: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
