/*
 * cmd_copy.c — `kvfs copy SRC DST`: a whole store into another, empty one,
 * whatever their engines (a SQLite file, an etcd prefix): every metadata
 * value, then every entry with its key, encoding, value bytes and expiry
 * time as they are stored, in commits as large as Deno's limits allow.
 *
 * Both stores are opened raw (kv_store_options.raw): an encrypted store is
 * copied sealed, its seal row with it, so the copy opens with the same
 * keys, and the copy itself needs no key and never holds plaintext.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "kv_seal.h"

static const struct cli_command copy_cmd = {
	.name = "copy",
	.synopsis = "SRC DST",
	.help = "Copy the whole store SRC into the store DST, which is\n"
		"created when it does not exist and must hold no entry and no\n"
		"metadata. Either may be a SQLite file or an etcd store\n"
		"(etcd://HOST:PORT,.../PREFIX, docs/etcd.md). Every kvfs\n"
		"metadata value is copied first (pointer-list rules, the keys of\n"
		"an encrypted store, names this kvfs does not know), then every\n"
		"entry: keys, value encodings, value bytes and expiry times are\n"
		"kept exactly, keys that do not decode too; versionstamps are\n"
		"the destination's own, as every commit makes new ones. Expired\n"
		"entries are not copied. An encrypted store is copied sealed, as\n"
		"it is stored: no key is needed, and the copy opens with the same\n"
		"passphrases and key files (and the same master key: a new one\n"
		"takes export and import, docs/security.md).\n"
		"\n"
		"A plain SRC may also go into an encrypted store that holds\n"
		"nothing but its keys (made by kvfs init --encrypt): its values\n"
		"are then sealed with DST's key, from the key options.\n"
		"\n"
		"DST is written in commits of up to 1000 entries: an interrupted\n"
		"copy leaves a part of SRC in DST. SRC should not change\n"
		"meanwhile; a change of its metadata during the copy fails it.\n"
		"\n"
		"Exit status: 0, 1 when an entry could not be written, a store\n"
		"failed or DST is not empty, 2 for bad usage.\n",
	.short_opts = "",
	.long_opts = NULL,
};

/* Entries waiting to be committed: their bytes in one buffer, by offset,
 * since the buffer moves as it grows. */
struct batch {
	struct kv_buf bytes;
	struct kv_mutation m[KV_MAX_MUTATIONS];
	size_t key_off[KV_MAX_MUTATIONS], value_off[KV_MAX_MUTATIONS];
	int64_t expires_at[KV_MAX_MUTATIONS]; /* -1: never */
	size_t n;
	size_t total, key_total; /* Deno's sizes, as store.c counts them */
	size_t sealing;		 /* what DST adds to a value: its envelope */
};

static bool batch_fits(const struct batch *b, const struct kv_entry *e)
{
	return b->n < KV_MAX_MUTATIONS &&
	       b->total + 2 * e->key_len + e->value_len + b->sealing <=
		       KV_MAX_TOTAL_MUTATION_SIZE &&
	       b->key_total + e->key_len <= KV_MAX_TOTAL_KEY_SIZE;
}

static int batch_add(struct batch *b, const struct kv_entry *e)
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
	};
	b->expires_at[b->n] = e->expires_at_ms;
	b->n++;
	b->total += 2 * e->key_len + e->value_len + b->sealing;
	b->key_total += e->key_len;
	return 0;
}

/* The same expiry time: what is left of it at the commit, at least
 * "now"; taken right before it, so that the time lost is the least. */
static int64_t expire_in(int64_t expires_at_ms, int64_t now)
{
	if (expires_at_ms < 0)
		return -1;
	return expires_at_ms > now ? expires_at_ms - now : 0;
}

static int batch_commit(struct kv_store *dst, struct batch *b)
{
	int64_t now = cli_now_ms();

	for (size_t i = 0; i < b->n; i++) {
		b->m[i].key = b->bytes.data + b->key_off[i];
		b->m[i].value = b->bytes.data + b->value_off[i];
		b->m[i].expire_in_ms = expire_in(b->expires_at[i], now);
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
	b->sealing = kv_store_sealed(dst) ? KV_SEAL_OVERHEAD : 0;
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
			r = batch_add(b, e);
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

static int copy_meta(struct kv_store *dst, const struct kv_meta_list *meta)
{
	int r = 0;

	for (size_t i = 0; i < meta->n && r == 0; i++)
		r = kv_store_meta_set(dst, meta->v[i].name, meta->v[i].value,
				      meta->v[i].len);
	return r;
}

static int list_meta(struct kv_store *s, const char *name,
		     struct kv_meta_list *out)
{
	int r = kv_store_meta_list(s, out);

	if (r < 0)
		cli_error(&copy_cmd, name, "%s", cli_reason(r));
	return r < 0 ? CLI_FAIL : CLI_OK;
}

static bool same_meta(const struct kv_meta_list *a,
		      const struct kv_meta_list *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i].name, b->v[i].name) ||
		    a->v[i].len != b->v[i].len ||
		    memcmp(a->v[i].value, b->v[i].value, a->v[i].len))
			return false;
	return true;
}

/* Whether SRC kept the metadata it had when the copy began: a keyring
 * changed by a rekey meanwhile would not open the values sealed under it,
 * nor the copied keyring those it dropped. */
static int check_meta_kept(struct kv_store *src, const char *from,
			   const struct kv_meta_list *copied)
{
	struct kv_meta_list now = { 0 };
	int status = list_meta(src, from, &now);

	if (!status && !same_meta(copied, &now)) {
		cli_error(&copy_cmd, from, "its metadata changed during the "
			  "copy (kvfs passwd, rekey or pointers?): copy again "
			  "into an empty store");
		status = CLI_FAIL;
	}
	kv_meta_list_free(&now);
	return status;
}

/* The metadata name of an encrypted store's keys (kv_store.h). */
static const char seal_row[] = "seal";

static bool has_meta(const struct kv_meta_list *meta, const char *name)
{
	for (size_t i = 0; i < meta->n; i++)
		if (strcmp(meta->v[i].name, name) == 0)
			return true;
	return false;
}

/* Metadata first: an encrypted store's copy is encrypted before the first
 * sealed value lands in it, so no one takes it for a plain store. */
static int copy_store(struct kv_store *src, struct kv_store *dst,
		      const char *from, const char *to,
		      const struct kv_meta_list *meta)
{
	size_t copied = 0;
	bool skipped = false;
	int r = copy_meta(dst, meta);

	if (r == 0)
		r = copy_entries(src, dst, &copied, &skipped);
	if (r < 0) {
		cli_error(&copy_cmd, to, "%s (after %zu entries)",
			  cli_reason(r), copied);
		return CLI_FAIL;
	}
	int status = check_meta_kept(src, from, meta);
	return status == CLI_OK && skipped ? CLI_FAIL : status;
}

/*
 * The copy goes only into a store that holds nothing: entries would mix
 * two stores, and metadata would be overwritten, an encrypted store's keys
 * with them. One exception: a plain SRC goes into an encrypted store that
 * holds nothing but its keys (kvfs init --encrypt), to be sealed there
 * (*seal_into), which is how a plain store becomes an encrypted one.
 */
static int check_empty(struct kv_store *dst, const char *name,
		       bool src_sealed, bool *seal_into)
{
	struct kv_meta_list meta = { 0 };
	struct cli_scan sc;
	int r = cli_scan_init(&sc, dst, NULL, 0, NULL, 0);
	bool entries = r == 0 && cli_scan_next(&sc, &r);

	if (r == 0)
		r = kv_store_meta_list(dst, &meta);
	bool keys_only = meta.n == 1 && has_meta(&meta, seal_row);
	bool metadata = meta.n > 0;
	cli_scan_free(&sc);
	kv_meta_list_free(&meta);
	*seal_into = keys_only && !entries && !src_sealed;
	if (r < 0)
		cli_error(&copy_cmd, name, "%s", cli_reason(r));
	else if (entries)
		cli_error(&copy_cmd, name, "not empty: it holds entries; the "
			  "copy goes only into an empty store");
	else if (keys_only && src_sealed)
		cli_error(&copy_cmd, name, "an encrypted store: an encrypted "
			  "store is copied only into an empty one, keys and "
			  "all (to seal its values under other keys: kvfs "
			  "export | kvfs import)");
	else if (metadata && !*seal_into)
		cli_error(&copy_cmd, name, "not empty: it holds kvfs metadata "
			  "(pointer-list rules or the keys of an encrypted "
			  "store); the copy goes only into an empty store");
	else
		return CLI_OK;
	return CLI_FAIL;
}

/* Open db raw: its rows as they are stored, sealed ones too, no key. */
static int open_raw(const char *db, bool writes, struct kv_store **out)
{
	struct kv_store_options opts = {
		.read_only = !writes,
		.create = writes,
		.raw = true,
	};
	return cli_opened(&copy_cmd, db, writes, kv_store_open(db, &opts, out),
			  out);
}

/* DST as the copy writes it: raw, or, to seal a plain SRC into it, with
 * its key (the key options). */
static int open_dst(const char *to, bool src_sealed, struct kv_store **dst)
{
	bool seal_into;
	int status = open_raw(to, true, dst);

	if (!status)
		status = check_empty(*dst, to, src_sealed, &seal_into);
	if (!status && seal_into) {
		kv_store_close(*dst);
		*dst = NULL;
		status = cli_open(&copy_cmd, to, true, dst);
	}
	return status;
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
	struct kv_meta_list meta = { 0 };

	status = open_raw(from, false, &src);
	if (!status)
		status = list_meta(src, from, &meta);
	if (!status)
		status = open_dst(to, has_meta(&meta, seal_row), &dst);
	if (!status)
		status = copy_store(src, dst, from, to, &meta);
	kv_meta_list_free(&meta);
	kv_store_close(src);
	kv_store_close(dst);
	return status;
}
