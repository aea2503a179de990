/*
 * cmd_export.c — `kvfs export DB [PATH]`: every entry, or those of a
 * subtree, as NDJSON in the kv-utils format (fs/kvutils.h), in key order.
 */
#include <errno.h>

#include "cli.h"
#include "commands.h"
#include "kvutils.h"

static const struct cli_command export_cmd = {
	.name = "export",
	.synopsis = "DB [PATH]",
	.help = "Write every entry of DB, or the key PATH and every key below\n"
		"it, to standard output in key order, one line of JSON per\n"
		"entry in the format of @deno/kv-utils's exportEntries\n"
		"(kvfs(1), EXPORT FORMAT). Entries whose key or value does not\n"
		"decode are reported and left out.\n"
		"\n"
		"Exit status: 0, 1 when an entry was left out or the store\n"
		"failed, 2 for bad usage.\n",
	.short_opts = "",
	.long_opts = NULL,
};

static const char *why_not(const struct kv_entry *e)
{
	struct kv_key k = {0};
	int r = kv_key_decode(e->key, e->key_len, &k);
	kv_key_free(&k);
	return r < 0 ? "the key does not decode" : "the value does not decode";
}

static int export_one(const struct kv_entry *e, struct kv_buf *line)
{
	line->len = 0;
	int r = kvutils_entry_render(e, line);
	if (r == 0)
		r = kv_buf_push(line, '\n');
	if (r == 0) {
		fwrite(line->data, 1, line->len, stdout);
		return 0;
	}
	struct kv_buf name = {0};
	if (cli_key_name(e->key, e->key_len, &name) == 0)
		cli_error(&export_cmd, (const char *)name.data, "%s",
			  r == -ENOMEM ? cli_reason(r) : why_not(e));
	kv_buf_free(&name);
	return r;
}

static int export_range(struct kv_store *s, const struct kv_buf *key)
{
	struct kv_buf line = {0};
	struct cli_scan sc;
	struct cli_progress p;
	int status = CLI_OK;
	int r = cli_scan_subtree(&sc, s, key->data, key->len);
	cli_progress_start(&p, "kvfs export");
	size_t n = 0;
	const struct kv_entry *e;
	while (r == 0 && (e = cli_scan_next(&sc, &r))) {
		int er = export_one(e, &line);
		if (er == -ENOMEM)
			r = er;
		else if (er < 0)
			status = CLI_FAIL;
		cli_progress_update(&p, ++n);
	}
	cli_progress_end(&p);
	if (r < 0) {
		cli_error(&export_cmd, NULL, "%s", cli_reason(r));
		status = CLI_FAIL;
	}
	cli_scan_free(&sc);
	kv_buf_free(&line);
	return status;
}

int cmd_export(int argc, char **argv)
{
	for (int c; (c = cli_getopt(&export_cmd, argc, argv)) != CLI_OPT_END;)
		return c == CLI_OPT_HELP ? CLI_OK : CLI_USAGE;
	struct cli_target t;
	int status = cli_target_init(&export_cmd, argc, argv, 1, 2, true, &t);
	if (!status)
		status = cli_open(&export_cmd, t.db, false, &t.store);
	if (!status) {
		status = export_range(t.store, &t.key);
		int flushed = cli_flush_output(&export_cmd);
		status = status ? status : flushed;
	}
	cli_target_close(&t);
	return status;
}
