/*
 * cmd_import.c — `kvfs import DB [--prefix PATH] [--overwrite] < FILE`:
 * read kv-utils NDJSON entries (fs/kvutils.h) and write them with plain
 * sets, as kv-utils's importEntries does.
 *
 * Entries are committed in batches that fit Deno's limits; each set of a
 * batch is checked to find its key absent unless --overwrite, so an
 * existing key is never replaced, also by a writer that races the import.
 * A batch that fails is retried entry by entry, to skip or report each.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "kvutils.h"

/* One commit holds at most KV_MAX_CHECKS checks. */
#define IMPORT_BATCH KV_MAX_CHECKS

static const struct option import_options[] = {
	{"prefix", required_argument, NULL, 'p'},
	{"overwrite", no_argument, NULL, 'o'},
	{0},
};

static const struct cli_command import_cmd = {
	.name = "import",
	.synopsis = "DB [--prefix PATH] [--overwrite] < FILE",
	.help = "Read entries, one line of JSON each in the format of\n"
		"@deno/kv-utils (what `kvfs export` and kv-utils's\n"
		"exportEntries write), from standard input and write them to\n"
		"DB, which is created when it does not exist. Empty lines are\n"
		"skipped. Versionstamps are not kept: each write gets a new one.\n"
		"A summary goes to stderr.\n"
		"\n"
		"  --prefix PATH  put every key below PATH\n"
		"  --overwrite    replace keys that exist (else they are skipped)\n"
		"\n"
		"Exit status: 0, 1 when an entry could not be read or written, 2\n"
		"for bad usage.\n",
	.short_opts = "",
	.long_opts = import_options,
};

struct pending {
	size_t key_off, key_len;
	size_t value_off, value_len;
	enum kv_encoding enc;
	size_t line;
};

struct import {
	struct kv_store *store;
	bool overwrite;
	struct kv_buf prefix;
	/* the batch */
	struct kv_buf bytes;
	struct pending items[IMPORT_BATCH];
	size_t n;
	size_t mutation_size, key_size;
	/* the counts */
	size_t imported, skipped, failed;
};

static void report(const struct pending *p, const uint8_t *key,
		   const char *why)
{
	struct kv_buf name = {0};
	char where[64];
	snprintf(where, sizeof(where), "line %zu", p->line);
	if (key && cli_key_name(key, p->key_len, &name) == 0)
		cli_error(&import_cmd, where, "%s: %s",
			  (const char *)name.data, why);
	else
		cli_error(&import_cmd, where, "%s", why);
	kv_buf_free(&name);
}

static size_t entry_mutation_size(const struct import *im,
				  const struct pending *p)
{
	size_t checked = im->overwrite ? 0 : p->key_len;
	return checked + 2 * p->key_len + p->value_len;
}

static int commit_items(struct import *im, const struct pending *items,
			size_t n)
{
	struct kv_check checks[IMPORT_BATCH];
	struct kv_mutation muts[IMPORT_BATCH];
	for (size_t i = 0; i < n; i++) {
		const uint8_t *key = im->bytes.data + items[i].key_off;
		checks[i] = (struct kv_check){key, items[i].key_len, NULL};
		muts[i] = (struct kv_mutation){
			.type = KV_MUT_SET,
			.key = key,
			.key_len = items[i].key_len,
			.encoding = items[i].enc,
			.value = im->bytes.data + items[i].value_off,
			.value_len = items[i].value_len,
			.expire_in_ms = -1,
		};
	}
	struct kv_atomic a = {
		.checks = checks,
		.n_checks = im->overwrite ? 0 : n,
		.mutations = muts,
		.n_mutations = n,
	};
	return kv_store_commit(im->store, &a, NULL);
}

static void flush(struct import *im)
{
	if (im->n == 0)
		return;
	if (commit_items(im, im->items, im->n) == 0) {
		im->imported += im->n;
	} else {
		for (size_t i = 0; i < im->n; i++) {
			int r = commit_items(im, &im->items[i], 1);
			if (r == 0) {
				im->imported++;
			} else if (r == -ECANCELED) {
				im->skipped++;
			} else {
				report(&im->items[i],
				       im->bytes.data + im->items[i].key_off,
				       cli_reason(r));
				im->failed++;
			}
		}
	}
	im->n = 0;
	im->bytes.len = 0;
	im->mutation_size = im->key_size = 0;
}

static bool in_batch(const struct import *im, const uint8_t *key, size_t len)
{
	for (size_t i = 0; i < im->n; i++)
		if (im->items[i].key_len == len &&
		    memcmp(im->bytes.data + im->items[i].key_off, key, len) == 0)
			return true;
	return false;
}

/* 1 when the key exists, 0 when not (or the commit will tell), -1 after
 * reporting a failure. */
static int key_exists(struct import *im, const struct kv_buf *key,
		      const struct pending *p)
{
	struct kv_entry e;
	int r = kv_store_get(im->store, key->data, key->len, &e);
	if (r == 0) {
		kv_entry_free(&e);
		return 1;
	}
	if (r == -ENOENT || r == -ENAMETOOLONG)
		return 0;
	report(p, key->data, cli_reason(r));
	im->failed++;
	return -1;
}

/* Queue one parsed entry; flush first when it would not fit. */
static int add(struct import *im, const struct kv_buf *key,
	       enum kv_encoding enc, const struct kv_buf *value, size_t line)
{
	struct pending p = {
		.key_len = key->len,
		.value_len = value->len,
		.enc = enc,
		.line = line,
	};
	int found = im->overwrite ? 0 : key_exists(im, key, &p);
	if (found) {
		im->skipped += found > 0;
		return 0;
	}
	size_t size = entry_mutation_size(im, &p);
	if (im->n == IMPORT_BATCH || in_batch(im, key->data, key->len) ||
	    im->mutation_size + size > KV_MAX_TOTAL_MUTATION_SIZE ||
	    im->key_size + key->len > KV_MAX_TOTAL_KEY_SIZE)
		flush(im);
	p.key_off = im->bytes.len;
	int r = kv_buf_append(&im->bytes, key->data, key->len);
	p.value_off = im->bytes.len;
	if (r == 0)
		r = kv_buf_append(&im->bytes, value->data, value->len);
	if (r < 0)
		return r;
	im->items[im->n++] = p;
	im->mutation_size += size;
	im->key_size += key->len;
	return 0;
}

static int import_line(struct import *im, char *line, size_t len,
		       size_t number)
{
	struct kv_buf key = {0}, value = {0};
	enum kv_encoding enc;
	const char *why = NULL;
	int r = kv_buf_append(&key, im->prefix.data, im->prefix.len);
	if (r == 0)
		r = kvutils_entry_parse(line, len, &key, &enc, &value, &why);
	if (r == -EINVAL) {
		struct pending p = {.key_len = key.len, .line = number};
		report(&p, key.len > im->prefix.len ? key.data : NULL, why);
		im->failed++;
		r = 0;
	} else if (r == 0) {
		r = add(im, &key, enc, &value, number);
	}
	kv_buf_free(&key);
	kv_buf_free(&value);
	return r;
}

static int import_stream(struct import *im, FILE *in)
{
	char *line = NULL;
	size_t cap = 0, number = 0;
	ssize_t n;
	int r = 0;
	struct cli_progress p;
	cli_progress_start(&p, "kvfs import");
	while (r == 0 && (n = getline(&line, &cap, in)) >= 0) {
		number++;
		size_t len = (size_t)n;
		if (len && line[len - 1] == '\n')
			len--;
		if (len && line[len - 1] == '\r')
			len--;
		if (len)
			r = import_line(im, line, len, number);
		cli_progress_update(&p, number);
	}
	if (r == 0 && ferror(in))
		r = -EIO;
	if (r == 0)
		flush(im);
	cli_progress_end(&p);
	free(line);
	return r;
}

int cmd_import(int argc, char **argv)
{
	struct import im = {0};
	const char *prefix = NULL;
	for (int c; (c = cli_getopt(&import_cmd, argc, argv)) != CLI_OPT_END;) {
		if (c == CLI_OPT_HELP)
			return CLI_OK;
		if (c == CLI_OPT_BAD)
			return CLI_USAGE;
		if (c == 'p')
			prefix = optarg;
		im.overwrite |= c == 'o';
	}
	int status = cli_operands(&import_cmd, argc, 1, 1);
	if (status)
		return status;
	if (prefix)
		status = cli_path_key(&import_cmd, prefix, true, &im.prefix);
	if (!status)
		status = cli_open(&import_cmd, argv[optind], true, &im.store);
	if (!status) {
		int r = import_stream(&im, stdin);
		if (r < 0) {
			cli_error(&import_cmd, NULL, "%s", cli_reason(r));
			status = CLI_FAIL;
		}
		fprintf(stderr, "kvfs import: %zu imported, %zu skipped, "
			"%zu failed\n", im.imported, im.skipped, im.failed);
		if (im.failed)
			status = CLI_FAIL;
	}
	kv_store_close(im.store);
	kv_buf_free(&im.prefix);
	kv_buf_free(&im.bytes);
	return status;
}
