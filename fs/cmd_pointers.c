/*
 * cmd_pointers.c — `kvfs pointers add|rm|ls`: the pointer-list rules a
 * database keeps in its kvfs_meta table (docs/pointers.md).
 */
#include <errno.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "pointers.h"

static const struct cli_command pointers_cmd = {
	.name = "pointers",
	.synopsis = "add DB PATTERN TARGET | rm DB PATTERN | ls DB",
	.help = "Manage the rules that show keys holding lists of IDs as\n"
		"directories of symlinks (docs/pointers.md). The rules live in\n"
		"the database's kvfs_meta table, which Deno ignores; a mount\n"
		"reads them when it starts.\n"
		"\n"
		"  add DB PATTERN TARGET  keys matching PATTERN hold lists of IDs\n"
		"                         that point under TARGET; a pattern that\n"
		"                         has a rule gets the new TARGET\n"
		"  rm DB PATTERN          remove the rule of PATTERN\n"
		"  ls DB                  print the rules, one PATTERN=TARGET a\n"
		"                         line, in the order they apply\n"
		"\n"
		"PATTERN is a path in the name grammar where a component '*'\n"
		"matches any one key part, e.g. 'user/*/posts'. TARGET is a\n"
		"path, e.g. 'post' ('' for the root). In both, %3D, %3B and %2A\n"
		"stand for '=', ';' and '*'.\n"
		"\n"
		"Exit status: 0, 1 when a pattern or target does not parse, rm\n"
		"finds no such rule, or the store fails, 2 for bad usage.\n",
	.short_opts = "",
	.long_opts = NULL,
};

/* The database's rules; none when it has no rules yet. */
static int load_rules(struct kv_store *s, struct kvfs_ptr_rules *rules)
{
	struct kv_buf text = {0};
	int r = kv_store_meta_get(s, KVFS_PTR_META, &text);
	if (r == 0)
		r = kvfs_ptr_rules_parse((const char *)text.data, text.len,
					 rules);
	kv_buf_free(&text);
	return r == -ENOENT ? 0 : r;
}

/* Store the rules, or delete the meta row when none are left. */
static int save_rules(struct kv_store *s, const struct kvfs_ptr_rules *rules)
{
	struct kv_buf text = {0};
	int r = kvfs_ptr_rules_format(rules, &text);
	if (r == 0)
		r = kv_store_meta_set(s, KVFS_PTR_META,
				      rules->n ? text.data : NULL, text.len);
	kv_buf_free(&text);
	return r;
}

static int print_rules(const struct kvfs_ptr_rules *rules)
{
	struct kv_buf text = {0};
	int r = kvfs_ptr_rules_format(rules, &text);
	if (r == 0)
		fwrite(text.data, 1, text.len, stdout);
	kv_buf_free(&text);
	return r;
}

/* Run one action on the opened store; reports its own errors. */
static int act(struct kv_store *s, const char *action, char **args)
{
	struct kvfs_ptr_rules rules = {0};
	int r = load_rules(s, &rules);
	const char *what = args[0];
	if (r == -EINVAL)
		cli_error(&pointers_cmd, NULL,
			  "the rules stored in kvfs_meta do not parse");
	if (r == 0 && strcmp(action, "ls") == 0) {
		r = print_rules(&rules);
	} else if (r == 0 && strcmp(action, "add") == 0) {
		r = kvfs_ptr_rules_put(&rules, args[0], strlen(args[0]),
				       args[1], strlen(args[1]));
		if (r == -EINVAL)
			cli_error(&pointers_cmd, NULL,
				  "not a pattern and a target path: %s %s",
				  args[0], args[1]);
		else if (r == 0)
			r = save_rules(s, &rules);
	} else if (r == 0) {
		r = kvfs_ptr_rules_remove(&rules, what, strlen(what));
		if (r == -ENOENT || r == -EINVAL)
			cli_error(&pointers_cmd, what, r == -ENOENT
						       ? "no rule has this pattern"
						       : "not a pattern");
		else if (r == 0)
			r = save_rules(s, &rules);
	}
	kvfs_ptr_rules_free(&rules);
	return r;
}

/* The operands each action takes after DB. */
static int action_operands(const char *action)
{
	if (strcmp(action, "add") == 0)
		return 2;
	if (strcmp(action, "rm") == 0)
		return 1;
	if (strcmp(action, "ls") == 0)
		return 0;
	return -1;
}

int cmd_pointers(int argc, char **argv)
{
	const struct cli_command *cmd = &pointers_cmd;
	for (int c; (c = cli_getopt(cmd, argc, argv)) != CLI_OPT_END;)
		return c == CLI_OPT_HELP ? CLI_OK : CLI_USAGE;
	if (argc - optind < 1)
		return cli_usage_error(cmd, "missing action (add, rm or ls)");
	const char *action = argv[optind];
	int n = action_operands(action);
	if (n < 0)
		return cli_usage_error(cmd, "unknown action (add, rm or ls)");
	optind++;
	int status = cli_operands(cmd, argc, 1 + n, 1 + n);
	struct kv_store *s = NULL;
	if (!status)
		status = cli_open(cmd, argv[optind], n > 0, &s);
	if (status) {
		kv_store_close(s);
		return status;
	}
	int r = act(s, action, argv + optind + 1);
	if (r < 0 && r != -EINVAL && r != -ENOENT)
		cli_error(cmd, argv[optind], "%s", cli_reason(r));
	if (r == 0)
		status = cli_flush_output(cmd);
	kv_store_close(s);
	return r < 0 ? CLI_FAIL : status;
}
