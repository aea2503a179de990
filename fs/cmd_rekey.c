/*
 * cmd_rekey.c — `kvfs rekey DB`: start a new key generation, re-seal every
 * value under it in checked batches, drop the old generations and VACUUM
 * the file. Interrupting it loses nothing; running it again goes on.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "cli.h"
#include "commands.h"
#include "keyopts.h"

static const struct option rekey_options[] = {
	{"begin", no_argument, NULL, 'b'},
	{0},
};

static const struct cli_command rekey_cmd = {
	.name = "rekey",
	.synopsis = "DB [KEY] [--begin]",
	.help = "Start a new key generation of the encrypted store DB, re-seal\n"
		"every value under it, then drop the older generations and\n"
		"VACUUM the file, so that the old data keys open nothing left\n"
		"in it. Each batch is one commit checked against what was read,\n"
		"so a value an app writes meanwhile is never lost. Progress is\n"
		"shown on a terminal. It is safe to interrupt: run it again to\n"
		"go on. KEY is as for kvfs passwd.\n"
		"\n"
		"  --begin   only start the new generation; the old ones stay\n"
		"            readable. Then give apps the new app key (kvfs\n"
		"            app-key) and run kvfs rekey again to finish.\n"
		"\n"
		"Apps that seal with an app key exported before the rekey must\n"
		"load the new one before it finishes: values they seal under a\n"
		"dropped generation no longer open.\n"
		"\n"
		"Exit status: 0, 1 on failure (what was done stays done), 2 for\n"
		"bad usage.\n",
	.short_opts = "",
	.long_opts = rekey_options,
};

static int reseal_all(struct kv_store *s, struct kv_rekey *r)
{
	struct cli_progress p;
	int e;

	cli_progress_start(&p, "kvfs rekey");
	while ((e = kv_store_rekey_step(s, r, 0)) == 1)
		cli_progress_update(&p, (size_t)r->seen);
	cli_progress_end(&p);
	return e < 0 ? e : kv_store_rekey_finish(s, r);
}

int cmd_rekey(int argc, char **argv)
{
	bool begin_only = false;

	for (int c; (c = cli_getopt(&rekey_cmd, argc, argv)) != CLI_OPT_END;) {
		if (c != 'b')
			return c == CLI_OPT_HELP ? CLI_OK : CLI_USAGE;
		begin_only = true;
	}
	int status = cli_operands(&rekey_cmd, argc, 1, 1);
	if (status)
		return status;
	const char *db = argv[optind];
	struct kv_store *s;
	if (keyopts_open_encrypted(rekey_cmd.name, db, true, &s) < 0)
		return CLI_FAIL;
	struct kv_rekey r;
	int e = kv_store_rekey_begin(s, &r);
	if (e == 0 && !begin_only)
		e = reseal_all(s, &r);
	if (e < 0) {
		cli_error(&rekey_cmd, db, "%s%s", keyopts_reason(e),
			  e == -EAGAIN ? " (values kept coming under an older "
					 "generation: load the new app key "
					 "in apps first)"
				       : "");
		status = CLI_FAIL;
	} else if (begin_only) {
		printf("generation %" PRIu32 " started; older ones stay "
		       "readable until kvfs rekey finishes\n", r.generation);
	} else {
		printf("generation %" PRIu32 ": %" PRIu64 " values re-sealed, "
		       "older generations dropped\n", r.generation, r.resealed);
		if (r.unreadable)
			fprintf(stderr, "kvfs rekey: %" PRIu64 " values do not "
				"open and were left as they were (kvfs check "
				"lists them)\n", r.unreadable);
	}
	kv_rekey_free(&r);
	kv_store_close(s);
	int flushed = cli_flush_output(&rekey_cmd);
	return status ? status : flushed;
}
