/*
 * cmd_sum.c — `kvfs sum|min|max DB PATH N`: Deno's atomic KvU64 mutations,
 * printing the value the commit left.
 *
 * The value is read, then the mutation is committed with a check on the
 * versionstamp read, so the printed value is exactly the committed one;
 * a concurrent writer makes the check fail and the whole is retried.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

#define SUM_TRIES 100

#define SUM_HELP_TAIL                                                         \
	"N is a decimal 0..18446744073709551615. DB is created when it\n"      \
	"does not exist. A key that holds no value gets N; one that holds\n"  \
	"something other than a KvU64 is an error. The key's expiry is\n"     \
	"removed, as Deno's mutation does.\n"                                  \
	"\n"                                                                   \
	"Exit status: 0, 1 when the key is no KvU64 or the write fails, 2\n"   \
	"for bad usage.\n"

static const struct cli_command sum_cmds[] = {
	[KV_MUT_SUM] = {"sum", "DB PATH N",
			"Add N to the KvU64 at PATH, wrapping around at 2^64,\n"
			"in one atomic commit, and print the sum.\n\n" SUM_HELP_TAIL,
			"", NULL},
	[KV_MUT_MIN] = {"min", "DB PATH N",
			"Set the KvU64 at PATH to the smaller of it and N, in\n"
			"one atomic commit, and print the result.\n\n" SUM_HELP_TAIL,
			"", NULL},
	[KV_MUT_MAX] = {"max", "DB PATH N",
			"Set the KvU64 at PATH to the larger of it and N, in\n"
			"one atomic commit, and print the result.\n\n" SUM_HELP_TAIL,
			"", NULL},
};

static uint64_t apply(enum kv_mutation_type type, uint64_t old, uint64_t n)
{
	switch (type) {
	case KV_MUT_MIN:
		return old < n ? old : n;
	case KV_MUT_MAX:
		return old > n ? old : n;
	default:
		return old + n; /* wraps, as Deno's sum does */
	}
}

/* One try: read, then commit checked against what was read. */
static int mutate_once(struct kv_store *s, enum kv_mutation_type type,
		       const struct kv_buf *key, const uint8_t operand[8],
		       uint64_t *result)
{
	struct kv_entry e;
	int r = kv_store_get(s, key->data, key->len, &e);
	if (r < 0 && r != -ENOENT)
		return r;
	bool exists = r == 0;
	uint64_t n, old = 0;
	kv_u64_decode(operand, 8, &n);
	r = 0;
	if (exists && e.encoding != KV_ENC_U64)
		r = -EINVAL;
	else if (exists)
		r = kv_u64_decode(e.value, e.value_len, &old) < 0 ? -EIO : 0;
	struct kv_check check = {
		.key = key->data,
		.key_len = key->len,
		.versionstamp = exists ? e.versionstamp : NULL,
	};
	struct kv_mutation m = {
		.type = type,
		.key = key->data,
		.key_len = key->len,
		.encoding = KV_ENC_U64,
		.value = operand,
		.value_len = 8,
		.expire_in_ms = -1,
	};
	struct kv_atomic a = {&check, 1, &m, 1};
	if (r == 0)
		r = kv_store_commit(s, &a, NULL);
	if (r == 0)
		*result = exists ? apply(type, old, n) : n;
	if (exists)
		kv_entry_free(&e);
	return r;
}

/* N as the 8 bytes of a KvU64. */
static bool parse_n(const char *n, struct kv_buf *operand)
{
	return kv_value_parse(KV_ENC_U64, (const uint8_t *)n, strlen(n),
			      operand) == 0 && operand->len == 8;
}

static int run(enum kv_mutation_type type, int argc, char **argv)
{
	const struct cli_command *cmd = &sum_cmds[type];
	for (int c; (c = cli_getopt(cmd, argc, argv)) != CLI_OPT_END;)
		return c == CLI_OPT_HELP ? CLI_OK : CLI_USAGE;
	struct cli_target t;
	struct kv_buf operand = {0};
	int status = cli_target_init(cmd, argc, argv, 3, 3, false, &t);
	if (!status && !parse_n(argv[optind + 2], &operand))
		status = cli_usage_error(cmd, "N is a decimal 0..2^64-1");
	if (!status)
		status = cli_open(cmd, t.db, true, &t.store);
	uint64_t result = 0;
	int r = -ECANCELED;
	for (int i = 0; !status && r == -ECANCELED && i < SUM_TRIES; i++)
		r = mutate_once(t.store, type, &t.key, operand.data, &result);
	if (!status && r == -EINVAL)
		cli_error(cmd, t.path, "the value is not a KvU64");
	else if (!status && r == -EIO)
		cli_error(cmd, t.path, "the stored KvU64 does not decode");
	else if (!status && r < 0)
		cli_error(cmd, t.path, "%s", cli_reason(r));
	if (!status && r == 0) {
		printf("%llu\n", (unsigned long long)result);
		status = cli_flush_output(cmd);
	} else if (!status) {
		status = CLI_FAIL;
	}
	cli_target_close(&t);
	kv_buf_free(&operand);
	return status;
}

int cmd_sum(int argc, char **argv)
{
	return run(KV_MUT_SUM, argc, argv);
}

int cmd_min(int argc, char **argv)
{
	return run(KV_MUT_MIN, argc, argv);
}

int cmd_max(int argc, char **argv)
{
	return run(KV_MUT_MAX, argc, argv);
}
