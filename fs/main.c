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
	{"get", cmd_get, "print a key's value"},
	{"set", cmd_set, "write a key's value"},
	{"ls", cmd_ls, "list the names below a path"},
	{"rm", cmd_rm, "remove a key, or a key and the keys below it"},
	{"sum", cmd_sum, "add to a KvU64 atomically"},
	{"min", cmd_min, "lower a KvU64 atomically"},
	{"max", cmd_max, "raise a KvU64 atomically"},
	{"export", cmd_export, "write entries as kv-utils NDJSON"},
	{"import", cmd_import, "read entries from kv-utils NDJSON"},
	{"watch", cmd_watch, "print changes to keys, by any process"},
	{"check", cmd_check, "report entries that do not decode"},
	{"copy", cmd_copy, "copy a whole store into another"},
	{"pointers", cmd_pointers, "manage the rules of pointer lists"},
	{"init", cmd_init, "make a store, plain or encrypted"},
	{"passwd", cmd_passwd, "change the keyslots of an encrypted store"},
	{"rekey", cmd_rekey, "re-seal an encrypted store under new keys"},
	{"app-key", cmd_appkey, "export what an app needs to seal values"},
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
