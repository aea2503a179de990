/*
 * cmd_get.c — `kvfs get DB PATH [--meta]`: print a key's value exactly as
 * its file reads through the mount, or its entry and metadata as one line
 * of JSON.
 */
#include <errno.h>

#include "cli.h"
#include "commands.h"
#include "kvutils.h"

static const struct option get_options[] = {
	{"meta", no_argument, NULL, 'm'},
	{0},
};

static const struct cli_command get_cmd = {
	.name = "get",
	.synopsis = "DB PATH [--meta]",
	.help = "Print the value of the key PATH as `cat` through the mount\n"
		"prints it: bytes unchanged, a KvU64 in decimal, a V8 value as\n"
		"one line of JSON (docs/json.md).\n"
		"\n"
		"  --meta  print instead one line of JSON: the entry in the\n"
		"          kv-utils format with the key's type and expiry,\n"
		"          {\"key\":[...],\"value\":{...},\"versionstamp\":\"...\",\n"
		"          \"type\":\"json\",\"expires_at\":null}\n"
		"\n"
		"Exit status: 0, 1 when the key does not exist or its value does\n"
		"not decode, 2 for bad usage.\n",
	.short_opts = "",
	.long_opts = get_options,
};

static int render_meta(const struct kv_entry *e, struct kv_buf *out)
{
	int r = kvutils_entry_render(e, out);
	if (r < 0)
		return r;
	out->len--; /* reopen the entry's object */
	char expires[48] = "null";
	if (e->expires_at_ms >= 0) {
		char iso[40];
		cli_iso_time(e->expires_at_ms, iso);
		snprintf(expires, sizeof(expires), "\"%s\"", iso);
	}
	char tail[128];
	int n = snprintf(tail, sizeof(tail), ",\"type\":\"%s\",\"expires_at\":%s}\n",
			 cli_type_name(e->encoding), expires);
	return kv_buf_append(out, tail, (size_t)n);
}

static int print_entry(const struct kv_entry *e, const char *path, bool meta)
{
	struct kv_buf out = {0};
	bool writable;
	int r = meta ? render_meta(e, &out)
		     : kv_value_render(e->encoding, e->value, e->value_len,
				       &out, &writable);
	if (r == -ENOMEM)
		cli_error(&get_cmd, path, "%s", cli_reason(r));
	else if (r < 0)
		cli_error(&get_cmd, path, "the stored value does not decode");
	else if (out.len)
		fwrite(out.data, 1, out.len, stdout);
	kv_buf_free(&out);
	return r < 0 ? CLI_FAIL : cli_flush_output(&get_cmd);
}

int cmd_get(int argc, char **argv)
{
	bool meta = false;
	for (int c; (c = cli_getopt(&get_cmd, argc, argv)) != CLI_OPT_END;) {
		if (c == CLI_OPT_HELP)
			return CLI_OK;
		if (c == CLI_OPT_BAD)
			return CLI_USAGE;
		meta = c == 'm' ? true : meta;
	}
	struct cli_target t;
	int status = cli_target_init(&get_cmd, argc, argv, 2, 2, false, &t);
	if (!status)
		status = cli_open(&get_cmd, t.db, false, &t.store);
	if (!status) {
		struct kv_entry e;
		int r = kv_store_get(t.store, t.key.data, t.key.len, &e);
		if (r < 0) {
			cli_error(&get_cmd, t.path, "%s", cli_reason(r));
			status = cli_status(r);
		} else {
			status = print_entry(&e, t.path, meta);
			kv_entry_free(&e);
		}
	}
	cli_target_close(&t);
	return status;
}
