/*
 * cmd_ls.c — `kvfs ls DB [PATH] [-l] [-r]`: list the names below a path in
 * key order, as the mount's directory shows them, or every key below it.
 */
#include <errno.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "name.h"

static const struct option ls_options[] = {
	{"long", no_argument, NULL, 'l'},
	{"recursive", no_argument, NULL, 'r'},
	{0},
};

static const struct cli_command ls_cmd = {
	.name = "ls",
	.synopsis = "DB [PATH] [-l] [-r]",
	.help = "List the names below PATH (the root when not given) in key\n"
		"order, one a line: a key that has a value as its name, a key\n"
		"that has keys below it as its name and '/' (a key that has\n"
		"both is listed twice). Names are in their full form, which\n"
		"other commands accept in paths. A PATH that holds a value and\n"
		"has nothing below it is listed itself.\n"
		"\n"
		"  -l, --long       show type, size (of the value as `get` prints\n"
		"                   it), versionstamp and expiry before the name\n"
		"  -r, --recursive  list every key below PATH (and PATH itself)\n"
		"                   that has a value, by its whole path\n"
		"\n"
		"Exit status: 0, 1 when PATH names nothing, 2 for bad usage.\n",
	.short_opts = "lr",
	.long_opts = ls_options,
};

static void print_long(const struct kv_entry *e)
{
	char size[24] = "?";
	char vs[2 * KV_VERSIONSTAMP_LEN + 1];
	char expires[40] = "-";
	struct kv_buf text = {0};
	bool writable;
	if (kv_value_render(e->encoding, e->value, e->value_len, &text,
			    &writable) == 0)
		snprintf(size, sizeof(size), "%zu", text.len);
	kv_buf_free(&text);
	kv_versionstamp_format(e->versionstamp, vs);
	if (e->expires_at_ms >= 0)
		cli_iso_time(e->expires_at_ms, expires);
	printf("%-5s %8s %s %-24s ", cli_type_name(e->encoding), size, vs,
	       expires);
}

static void print_dir_long(void)
{
	printf("%-5s %8s %-20s %-24s ", "dir", "-", "-", "-");
}

/* The full-form name of the last part of key, which begins at pos. */
static int last_name(const uint8_t *key, size_t len, size_t pos,
		     struct kv_buf *name)
{
	struct kv_part part;
	struct kv_buf scratch = {0};
	int r = kv_part_decode(key, len, &pos, &part, &scratch);
	if (r == 0)
		r = kvfs_name_format(&part, name);
	if (r == 0)
		r = kv_buf_push(name, 0);
	kv_buf_free(&scratch);
	return r;
}

static int list_child(struct kv_store *s, const struct kv_buf *child,
		      size_t prefix_len, bool has_value, bool has_children,
		      bool longer)
{
	struct kv_buf name = {0};
	int r = last_name(child->data, child->len, prefix_len, &name);
	if (r == 0 && has_value) {
		struct kv_entry e;
		r = longer ? kv_store_get(s, child->data, child->len, &e) : 0;
		/* Expired between the two reads: not listed. */
		if (r == 0 && longer) {
			print_long(&e);
			kv_entry_free(&e);
		}
		if (r == 0)
			printf("%s\n", (const char *)name.data);
		r = r == -ENOENT ? 0 : r;
	}
	if (r == 0 && has_children) {
		if (longer)
			print_dir_long();
		printf("%s/\n", (const char *)name.data);
	}
	kv_buf_free(&name);
	return r;
}

/* ls of a path with nothing below it: the key itself, or nothing. */
static int list_single(struct kv_store *s, const struct kv_buf *key,
		       bool longer)
{
	struct kv_entry e;
	int r = key->len ? kv_store_get(s, key->data, key->len, &e) : -ENOENT;
	if (r < 0)
		return r;
	size_t pos = 0, last = 0;
	while (pos < key->len) {
		last = pos;
		long n = kv_part_span(key->data + pos, key->len - pos);
		if (n <= 0)
			break;
		pos += (size_t)n;
	}
	struct kv_buf name = {0};
	r = last_name(key->data, key->len, last, &name);
	if (r == 0) {
		if (longer)
			print_long(&e);
		printf("%s\n", (const char *)name.data);
	}
	kv_buf_free(&name);
	kv_entry_free(&e);
	return r;
}

static int list_children(struct kv_store *s, const struct kv_buf *key,
			 bool longer)
{
	struct kv_buf child = {0}, after = {0};
	bool has_value, has_children, any = false;
	int r;
	while ((r = kv_store_next_child(s, key->data, key->len,
					any ? after.data : NULL, after.len,
					&child, &has_value,
					&has_children)) == 0) {
		any = true;
		r = list_child(s, &child, key->len, has_value, has_children,
			       longer);
		if (r < 0)
			break;
		struct kv_buf t = after;
		after = child;
		child = t;
		child.len = 0;
	}
	kv_buf_free(&child);
	kv_buf_free(&after);
	if (r == -ENOENT && !any)
		return key->len ? list_single(s, key, longer) : 0;
	return r == -ENOENT ? 0 : r;
}

static int list_recursive(struct kv_store *s, const struct kv_buf *key,
			  bool longer)
{
	struct kv_buf path = {0};
	struct cli_scan sc;
	int r = cli_scan_subtree(&sc, s, key->data, key->len);
	const struct kv_entry *e;
	while (r == 0 && (e = cli_scan_next(&sc, &r))) {
		path.len = 0;
		r = cli_key_name(e->key, e->key_len, &path);
		if (r < 0)
			break;
		if (longer)
			print_long(e);
		printf("%s\n", (const char *)path.data);
	}
	cli_scan_free(&sc);
	kv_buf_free(&path);
	return r;
}

int cmd_ls(int argc, char **argv)
{
	bool longer = false, recursive = false;
	for (int c; (c = cli_getopt(&ls_cmd, argc, argv)) != CLI_OPT_END;) {
		if (c == CLI_OPT_HELP)
			return CLI_OK;
		if (c == CLI_OPT_BAD)
			return CLI_USAGE;
		longer |= c == 'l';
		recursive |= c == 'r';
	}
	struct cli_target t;
	int status = cli_target_init(&ls_cmd, argc, argv, 1, 2, true, &t);
	if (!status)
		status = cli_open(&ls_cmd, t.db, false, &t.store);
	if (!status) {
		int r = recursive ? list_recursive(t.store, &t.key, longer)
				  : list_children(t.store, &t.key, longer);
		if (r < 0) {
			cli_error(&ls_cmd, *t.path ? t.path : "/", "%s",
				  cli_reason(r));
			status = CLI_FAIL;
		} else {
			status = cli_flush_output(&ls_cmd);
		}
	}
	cli_target_close(&t);
	return status;
}
