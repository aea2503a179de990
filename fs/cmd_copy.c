/*
 * cmd_copy.c — `kvfs copy SRC DST`: every entry of one store into another,
 * empty one, whatever their engines (a SQLite file, an etcd prefix): keys,
 * encodings, value bytes and expiry times as they are, in commits as large
 * as Deno's limits allow.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

static const struct cli_command copy_cmd = {
	.name = "copy",
	.synopsis = "SRC DST",
	.help = "Copy every entry of the store SRC into the store DST, which\n"
		"is created when it does not exist and must hold no entry.\n"
		"Either may be a SQLite file or an etcd store\n"
		"(etcd://HOST:PORT,.../PREFIX, docs/etcd.md). Keys, value\n"
		"encodings, value bytes and expiry times are kept exactly, keys\n"
		"that do not decode too; versionstamps are the destination's\n"
		"own, as every commit makes new ones. Expired entries are not\n"
		"copied. kvfs's metadata is not copied, so an encrypted store\n"
		"is refused. DST is written in commits of up to 1000 entries:\n"
		"an interrupted copy leaves a part of SRC in DST.\n"
		"\n"
		"Exit status: 0, 1 when an entry could not be written or a\n"
		"store failed, 2 for bad usage.\n",
	.short_opts = "",
	.long_opts = NULL,
};

/* Entries waiting to be committed: their bytes in one buffer, by offset,
 * since the buffer moves as it grows. */
struct batch {
	struct kv_buf bytes;
	struct kv_mutation m[KV_MAX_MUTATIONS];
	size_t key_off[KV_MAX_MUTATIONS], value_off[KV_MAX_MUTATIONS];
	size_t n;
	size_t total, key_total; /* Deno's sizes, as store.c counts them */
};

static bool batch_fits(const struct batch *b, const struct kv_entry *e)
{
	return b->n < KV_MAX_MUTATIONS &&
	       b->total + 2 * e->key_len + e->value_len <=
		       KV_MAX_TOTAL_MUTATION_SIZE &&
	       b->key_total + e->key_len <= KV_MAX_TOTAL_KEY_SIZE;
}

static int batch_add(struct batch *b, const struct kv_entry *e, int64_t now)
{
	struct kv_mutation *m = &b->m[b->n];

	b->key_off[b->n] = b->bytes.len;
	int r = kv_buf_append(&b->bytes, e->key, e->key_len);
	b->value_off[b->n] = b->bytes.len;
	if (r == 0)
		r = kv_buf_append(&b->bytes, e->value, e->value_len);
	if (r < 0)
		return r;
	*m = (struct kv_mutation){
		.type = KV_MUT_SET,
		.key_len = e->key_len,
		.encoding = e->encoding,
		.value_len = e->value_len,
		.expire_in_ms = -1,
	};
	/* The same expiry time: what is left of it, at least "now". */
	if (e->expires_at_ms >= 0)
		m->expire_in_ms = e->expires_at_ms > now
					  ? e->expires_at_ms - now
					  : 0;
	b->n++;
	b->total += 2 * e->key_len + e->value_len;
	b->key_total += e->key_len;
	return 0;
}

static int batch_commit(struct kv_store *dst, struct batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		b->m[i].key = b->bytes.data + b->key_off[i];
		b->m[i].value = b->bytes.data + b->value_off[i];
	}
	struct kv_atomic a = { .mutations = b->m, .n_mutations = b->n };
	int r = b->n ? kv_store_commit(dst, &a, NULL) : 0;
	b->bytes.len = 0;
	b->n = b->total = b->key_total = 0;
	return r;
}

/* What the destination would refuse of an entry, before it spoils a whole
 * batch; NULL when it can be written. */
static const char *unwritable(struct kv_store *dst, const struct kv_entry *e)
{
	if (e->encoding != KV_ENC_V8 && e->encoding != KV_ENC_U64 &&
	    e->encoding != KV_ENC_BYTES)
		return "the value encoding is unknown";
	if (e->encoding == KV_ENC_U64 && e->value_len != 8)
		return "a KvU64 that is not 8 bytes";
	if (e->key_len == 0 || e->key_len > KV_MAX_WRITE_KEY)
		return "the key is empty or too large to write";
	if (e->value_len > kv_store_max_value(dst))
		return "the value is larger than DST accepts";
	return NULL;
}

static void report(const struct kv_entry *e, const char *why)
{
	struct kv_buf name = { 0 };

	if (cli_key_name(e->key, e->key_len, &name) == 0)
		cli_error(&copy_cmd, (const char *)name.data, "%s", why);
	kv_buf_free(&name);
}

static int copy_entries(struct kv_store *src, struct kv_store *dst,
			size_t *copied, bool *skipped)
{
	struct batch *b = calloc(1, sizeof(*b));
	struct cli_scan sc;
	struct cli_progress p;
	const struct kv_entry *e;

	if (!b)
		return -ENOMEM;
	int r = cli_scan_init(&sc, src, NULL, 0, NULL, 0);

	cli_progress_start(&p, "kvfs copy");
	while (r == 0 && (e = cli_scan_next(&sc, &r))) {
		const char *why = unwritable(dst, e);
		if (why) {
			report(e, why);
			*skipped = true;
			continue;
		}
		if (!batch_fits(b, e)) {
			size_t n = b->n;
			r = batch_commit(dst, b);
			*copied += r == 0 ? n : 0;
		}
		if (r == 0)
			r = batch_add(b, e, cli_now_ms());
		cli_progress_update(&p, *copied + b->n);
	}
	size_t n = b->n;
	if (r == 0)
		r = batch_commit(dst, b);
	*copied += r == 0 ? n : 0;
	cli_progress_end(&p);
	cli_scan_free(&sc);
	kv_buf_free(&b->bytes);
	free(b);
	return r;
}

static int check_empty(struct kv_store *dst, const char *name)
{
	struct cli_scan sc;
	int r = cli_scan_init(&sc, dst, NULL, 0, NULL, 0);
	const struct kv_entry *e = r == 0 ? cli_scan_next(&sc, &r) : NULL;

	cli_scan_free(&sc);
	if (r < 0) {
		cli_error(&copy_cmd, name, "%s", cli_reason(r));
		return CLI_FAIL;
	}
	if (e) {
		cli_error(&copy_cmd, name, "not empty: the copy goes only "
					   "into a store without entries");
		return CLI_FAIL;
	}
	return CLI_OK;
}

int cmd_copy(int argc, char **argv)
{
	for (int c; (c = cli_getopt(&copy_cmd, argc, argv)) != CLI_OPT_END;)
		return c == CLI_OPT_HELP ? CLI_OK : CLI_USAGE;
	int status = cli_operands(&copy_cmd, argc, 2, 2);
	if (status)
		return status;
	const char *from = argv[optind], *to = argv[optind + 1];
	struct kv_store *src = NULL, *dst = NULL;
	size_t copied = 0;
	bool skipped = false;

	status = cli_open(&copy_cmd, from, false, &src);
	if (!status)
		status = cli_open(&copy_cmd, to, true, &dst);
	if (!status)
		status = check_empty(dst, to);
	if (!status) {
		int r = copy_entries(src, dst, &copied, &skipped);
		if (r < 0) {
			cli_error(&copy_cmd, to, "%s (after %zu entries)",
				  cli_reason(r), copied);
			status = CLI_FAIL;
		} else if (skipped) {
			status = CLI_FAIL;
		}
	}
	kv_store_close(src);
	kv_store_close(dst);
	return status;
}
