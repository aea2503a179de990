/*
 * cmd_rm.c — `kvfs rm DB PATH [-r] [--max N]`: remove a key, or a key and
 * every key below it, in as few atomic commits as Deno's limits allow.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

#define RM_DEFAULT_MAX 1000

static const struct option rm_options[] = {
	{"recursive", no_argument, NULL, 'r'},
	{"max", required_argument, NULL, 'm'},
	{0},
};

static const struct cli_command rm_cmd = {
	.name = "rm",
	.synopsis = "DB PATH [-r] [--max N]",
	.help = "Remove the key PATH.\n"
		"\n"
		"  -r, --recursive  remove PATH and every key below it, in one\n"
		"                   commit. When they do not fit in one commit\n"
		"                   (Deno's limits: 1000 mutations, 800 KiB of\n"
		"                   keys) they are removed in consecutive\n"
		"                   commits, each atomic but not the whole, and\n"
		"                   a line on stderr says so\n"
		"  --max N          with -r, refuse (removing nothing) when more\n"
		"                   than N keys would go; default 1000\n"
		"\n"
		"Exit status: 0, 1 when nothing is there or -r refused, 2 for bad\n"
		"usage.\n",
	.short_opts = "r",
	.long_opts = rm_options,
};

/* The keys to remove, read before any is removed. */
struct key_list {
	struct kv_buf bytes;
	struct kv_buf spans; /* struct span[] */
	size_t n;
};

struct span {
	size_t off;
	size_t len;
};

static int list_add(struct key_list *l, const uint8_t *key, size_t len)
{
	struct span sp = {l->bytes.len, len};
	int r = kv_buf_append(&l->bytes, key, len);
	if (r == 0)
		r = kv_buf_append(&l->spans, &sp, sizeof(sp));
	l->n += r == 0;
	return r;
}

static void list_free(struct key_list *l)
{
	kv_buf_free(&l->bytes);
	kv_buf_free(&l->spans);
}

/* Collect the subtree's keys, stopping after max + 1. */
static int collect(struct kv_store *s, const struct kv_buf *key, size_t max,
		   struct key_list *l)
{
	struct cli_scan sc;
	int r = cli_scan_subtree(&sc, s, key->data, key->len);
	const struct kv_entry *e;
	while (r == 0 && l->n <= max && (e = cli_scan_next(&sc, &r)))
		r = list_add(l, e->key, e->key_len);
	cli_scan_free(&sc);
	return r;
}

/* How many keys from first fit in one commit. */
static size_t batch_size(const struct key_list *l, size_t first)
{
	const struct span *sp = (const struct span *)l->spans.data;
	size_t bytes = 0, n = 0;
	while (first + n < l->n && n < KV_MAX_MUTATIONS &&
	       bytes + sp[first + n].len <= KV_MAX_TOTAL_MUTATION_SIZE)
		bytes += sp[first + n++].len;
	return n ? n : 1;
}

static int remove_all(struct kv_store *s, const struct key_list *l,
		      const char *path)
{
	const struct span *sp = (const struct span *)l->spans.data;
	struct kv_mutation *m = calloc(KV_MAX_MUTATIONS, sizeof(*m));
	if (!m)
		return -ENOMEM;
	size_t commits = 0;
	for (size_t i = 0; i < l->n; i += batch_size(l, i))
		commits++;
	if (commits > 1)
		cli_error(&rm_cmd, path, "%zu keys do not fit in one commit: "
			  "removing them in %zu commits", l->n, commits);
	struct cli_progress p;
	cli_progress_start(&p, "kvfs rm");
	int r = 0;
	for (size_t i = 0; r == 0 && i < l->n;) {
		size_t n = batch_size(l, i);
		for (size_t k = 0; k < n; k++)
			m[k] = (struct kv_mutation){
				.type = KV_MUT_DELETE,
				.key = l->bytes.data + sp[i + k].off,
				.key_len = sp[i + k].len,
			};
		struct kv_atomic a = {.mutations = m, .n_mutations = n};
		r = kv_store_commit(s, &a, NULL);
		i += n;
		cli_progress_update(&p, i);
	}
	cli_progress_end(&p);
	free(m);
	return r;
}

static int remove_tree(struct kv_store *s, const struct kv_buf *key,
		       size_t max, const char *path)
{
	struct key_list l = {0};
	int r = collect(s, key, max, &l);
	int status = CLI_OK;
	if (r < 0) {
		cli_error(&rm_cmd, path, "%s", cli_reason(r));
		status = CLI_FAIL;
	} else if (l.n == 0) {
		cli_error(&rm_cmd, path, "%s", cli_reason(-ENOENT));
		status = CLI_FAIL;
	} else if (l.n > max) {
		cli_error(&rm_cmd, path, "more than %zu keys; nothing removed "
			  "(--max raises the limit)", max);
		status = CLI_FAIL;
	} else if ((r = remove_all(s, &l, path)) < 0) {
		cli_error(&rm_cmd, path, "%s", cli_reason(r));
		status = CLI_FAIL;
	}
	list_free(&l);
	return status;
}

static bool has_children(struct kv_store *s, const struct kv_buf *key)
{
	struct kv_buf child = {0};
	bool has_value, below;
	int r = kv_store_next_child(s, key->data, key->len, NULL, 0, &child,
				    &has_value, &below);
	kv_buf_free(&child);
	return r == 0;
}

static int remove_one(struct kv_store *s, const struct kv_buf *key,
		      const char *path)
{
	struct kv_entry e;
	int r = kv_store_get(s, key->data, key->len, &e);
	if (r == 0) {
		kv_entry_free(&e);
		struct kv_mutation m = {
			.type = KV_MUT_DELETE,
			.key = key->data,
			.key_len = key->len,
		};
		struct kv_atomic a = {.mutations = &m, .n_mutations = 1};
		r = kv_store_commit(s, &a, NULL);
	}
	if (r == -ENOENT && has_children(s, key))
		cli_error(&rm_cmd, path, "no value, but keys below it (-r "
			  "removes them)");
	else if (r < 0)
		cli_error(&rm_cmd, path, "%s", cli_reason(r));
	return r < 0 ? CLI_FAIL : CLI_OK;
}

int cmd_rm(int argc, char **argv)
{
	bool recursive = false;
	size_t max = RM_DEFAULT_MAX;
	for (int c; (c = cli_getopt(&rm_cmd, argc, argv)) != CLI_OPT_END;) {
		char *end;
		switch (c) {
		case CLI_OPT_HELP:
			return CLI_OK;
		case 'r':
			recursive = true;
			break;
		case 'm':
			errno = 0;
			max = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || *optarg == '-')
				return cli_usage_error(&rm_cmd, "--max takes "
						       "a number of keys");
			break;
		default:
			return CLI_USAGE;
		}
	}
	struct cli_target t;
	int status = cli_target_init(&rm_cmd, argc, argv, 2, 2, recursive, &t);
	if (!status)
		status = cli_open(&rm_cmd, t.db, true, &t.store);
	if (!status)
		status = recursive ? remove_tree(t.store, &t.key, max, t.path)
				   : remove_one(t.store, &t.key, t.path);
	cli_target_close(&t);
	return status;
}
