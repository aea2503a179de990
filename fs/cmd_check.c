/*
 * cmd_check.c — `kvfs check DB`: read every entry and report each one
 * Deno could not read back: a key that does not decode or is too long, an
 * unknown v_encoding, a KvU64 that is not 8 bytes, V8 data that does not
 * decode. It opens the store read-only and changes nothing.
 *
 * Keys are read as raw bytes in range reads, each starting after the last
 * key seen, so a bad key is reported and stepped over, never a stop.
 */
#include <errno.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

static const struct cli_command check_cmd = {
	.name = "check",
	.synopsis = "DB",
	.help = "Read every key and value of DB and print one line, \"KEY:\n"
		"problem\", for each entry that does not decode: a key that is\n"
		"not a valid Deno KV key or is longer than 2048 bytes, a\n"
		"v_encoding other than 1, 2 or 3, a KvU64 that is not 8 bytes\n"
		"(Deno would abort reading it), V8 data that does not decode.\n"
		"A key that does not decode is named by its bytes in hex. A\n"
		"summary goes to stderr. DB is opened read-only: nothing is\n"
		"changed, not even expired keys.\n"
		"\n"
		"Exit status: 0 when every entry decodes, 1 when some do not or\n"
		"DB cannot be read, 2 for bad usage.\n",
	.short_opts = "",
	.long_opts = NULL,
};

/* What is wrong with an entry, written to why; false when nothing is. */
static bool problem(const struct kv_entry *e, char *why, size_t size)
{
	struct kv_key k = {0};
	int r = kv_key_decode(e->key, e->key_len, &k);
	kv_key_free(&k);
	if (r < 0) {
		snprintf(why, size, "the key does not decode");
		return true;
	}
	if (e->key_len > KV_MAX_WRITE_KEY) {
		snprintf(why, size, "the key is %zu bytes, more than %d",
			 e->key_len, KV_MAX_WRITE_KEY);
		return true;
	}
	if (e->error && e->encoding == 0) {
		/* The store could not open it: a sealed value (kvfs-spec §8). */
		snprintf(why, size, "the sealed value does not open "
			 "(tampered, moved, truncated or under another key)");
		return true;
	}
	switch (e->encoding) {
	case KV_ENC_BYTES:
		if (e->error) {
			snprintf(why, size, "v is not a BLOB");
			return true;
		}
		return false;
	case KV_ENC_U64:
		if (e->value_len == 8)
			return false;
		snprintf(why, size, "a KvU64 of %zu bytes, not 8",
			 e->value_len);
		return true;
	case KV_ENC_V8:
		break;
	default:
		snprintf(why, size, "unknown v_encoding %d", (int)e->encoding);
		return true;
	}
	if (e->error) {
		snprintf(why, size, "v is not a BLOB");
		return true;
	}
	struct kv_arena *a = kv_arena_new();
	struct kv_value *v;
	r = a ? kv_v8_decode(e->value, e->value_len, a, &v, NULL) : -ENOMEM;
	kv_arena_free(a);
	if (r == 0)
		return false;
	snprintf(why, size, "the V8 value does not decode (%s)",
		 r == -ENOTSUP ? "an unknown format version"
		 : r == -ENOMEM ? "out of memory"
				: "malformed");
	return true;
}

static int check_all(struct kv_store *s, size_t *entries, size_t *problems)
{
	struct cli_scan sc = {0};
	struct kv_buf name = {0};
	struct cli_progress p;
	cli_progress_start(&p, "kvfs check");
	int r = cli_scan_init(&sc, s, NULL, 0, NULL, 0);
	const struct kv_entry *e;
	while (r == 0 && (e = cli_scan_next(&sc, &r))) {
		char why[128];
		++*entries;
		cli_progress_update(&p, *entries);
		if (!problem(e, why, sizeof(why)))
			continue;
		++*problems;
		name.len = 0;
		r = cli_key_name(e->key, e->key_len, &name);
		if (r == 0)
			printf("%s: %s\n", (const char *)name.data, why);
	}
	cli_progress_end(&p);
	cli_scan_free(&sc);
	kv_buf_free(&name);
	return r;
}

int cmd_check(int argc, char **argv)
{
	for (int c; (c = cli_getopt(&check_cmd, argc, argv)) != CLI_OPT_END;)
		return c == CLI_OPT_HELP ? CLI_OK : CLI_USAGE;
	int status = cli_operands(&check_cmd, argc, 1, 1);
	if (status)
		return status;
	struct kv_store *s = NULL;
	status = cli_open(&check_cmd, argv[optind], false, &s);
	if (!status) {
		size_t entries = 0, problems = 0;
		int r = check_all(s, &entries, &problems);
		if (r < 0) {
			cli_error(&check_cmd, argv[optind], "%s", cli_reason(r));
			status = CLI_FAIL;
		}
		int flushed = cli_flush_output(&check_cmd);
		fprintf(stderr, "kvfs check: %zu entries, %zu problems\n",
			entries, problems);
		if (problems || flushed)
			status = CLI_FAIL;
	}
	kv_store_close(s);
	return status;
}
