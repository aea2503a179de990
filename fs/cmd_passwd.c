/*
 * cmd_passwd.c — `kvfs passwd DB`: change, add, remove or list the
 * keyslots of an encrypted store. Each change is one transaction on the
 * store's seal row with secure_delete on; no value is rewritten, and the
 * last keyslot is never removed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "commands.h"
#include "keyopts.h"

static const struct option passwd_options[] = {
	{"add", no_argument, NULL, 'a'},
	{"add-recovery", no_argument, NULL, 'R'},
	{"remove", required_argument, NULL, 'r'},
	{"list", no_argument, NULL, 'l'},
	{"new-passphrase-file", required_argument, NULL, 'p'},
	{"new-key-file", required_argument, NULL, 'n'},
	{"kdf", required_argument, NULL, 'k'},
	{0},
};

static const struct cli_command passwd_cmd = {
	.name = "passwd",
	.synopsis = "DB [KEY] [--add | --add-recovery | --remove ID | --list] "
		    "[NEW KEY]",
	.help = "Change the keyslots of the encrypted store DB; no value is\n"
		"rewritten. KEY, which must open DB, is the first of\n"
		"--passphrase-file FILE, --key-file FILE, KVFS_PASSPHRASE and\n"
		"the terminal. What to do:\n"
		"\n"
		"  (nothing)         replace the keyslot KEY opened by one for\n"
		"                    NEW KEY: a passphrase change\n"
		"  --add             add a keyslot for NEW KEY (at most 8)\n"
		"  --add-recovery    add a recovery key slot, and print the\n"
		"                    recovery key once\n"
		"  --remove ID       remove keyslot ID; never the last one\n"
		"  --list            list the keyslots\n"
		"\n"
		"NEW KEY is the first of:\n"
		"  --new-passphrase-file FILE  a passphrase\n"
		"  --new-key-file FILE         a fresh key file, written with\n"
		"                              mode 0600\n"
		"  KVFS_NEW_PASSPHRASE         a passphrase in the environment\n"
		"  the terminal                a passphrase, asked twice\n"
		"  --kdf LEVEL                 Argon2id cost of a passphrase:\n"
		"                              interactive, moderate (default),\n"
		"                              sensitive\n"
		"\n"
		"Exit status: 0, 1 when KEY does not open DB or the change\n"
		"cannot be made (nothing is changed then), 2 for bad usage.\n",
	.short_opts = "",
	.long_opts = passwd_options,
};

enum passwd_action { CHANGE, ADD, ADD_RECOVERY, REMOVE, LIST };

struct passwd_args {
	enum passwd_action action;
	int actions;
	unsigned long remove_id;
	struct keyopts_new src;
	struct kv_seal_cost cost;
	const char *kdf;
};

static int list_slots(struct kv_store *s)
{
	struct kv_slot_info slots[KV_SEAL_MAX_SLOTS];
	size_t n = 0;
	char text[128];

	kv_store_slots(s, slots, &n);
	for (size_t i = 0; i < n; i++) {
		keyopts_slot_text(&slots[i], text, sizeof(text));
		printf("%u %s%s\n", (unsigned)slots[i].id, text,
		       slots[i].opened_this ? " (opened now)" : "");
	}
	return cli_flush_output(&passwd_cmd);
}

static uint32_t opened_slot(struct kv_store *s)
{
	struct kv_slot_info slots[KV_SEAL_MAX_SLOTS];
	size_t n = 0;

	kv_store_slots(s, slots, &n);
	for (size_t i = 0; i < n; i++)
		if (slots[i].opened_this)
			return slots[i].id;
	return 0;
}

static const char *failure(int r)
{
	switch (r) {
	case -EPERM:
		return "the last keyslot is never removed";
	case -ENOENT:
		return "no such keyslot";
	case -ENOSPC:
		return "8 keyslots already: remove one first";
	case -ECANCELED:
		return "another process kept changing the keyslots: try again";
	default:
		return keyopts_reason(r);
	}
}

static int new_slot(struct kv_store *s, const char *db,
		    const struct passwd_args *a)
{
	char text[KV_SEAL_RECOVERY_TEXT] = "";
	struct kv_seal_key *key;
	const char *what = "recovery key";
	uint32_t id = opened_slot(s);
	int r;

	if (a->action == ADD_RECOVERY)
		r = kv_seal_key_recovery(text, &key);
	else if (keyopts_new_key(passwd_cmd.name, &a->src, &key, &what) < 0)
		return CLI_FAIL;
	else
		r = 0;
	const struct kv_seal_cost *cost = a->kdf ? &a->cost : NULL;
	if (r == 0 && a->action == CHANGE)
		r = kv_store_slot_change(s, id, key, cost);
	else if (r == 0)
		r = kv_store_slot_add(s, key, cost, &id);
	kv_seal_key_free(key);
	if (r < 0) {
		if (a->src.fresh_key_file && a->action != ADD_RECOVERY)
			unlink(a->src.fresh_key_file);
		cli_error(&passwd_cmd, db, "%s", failure(r));
		return CLI_FAIL;
	}
	printf("keyslot %u %s: %s\n", (unsigned)id,
	       a->action == CHANGE ? "changed" : "added", what);
	if (*text)
		printf("recovery key (shown once; keep it safe, it opens the "
		       "store): %s\n", text);
	sodium_memzero(text, sizeof(text));
	return cli_flush_output(&passwd_cmd);
}

static int run(const char *db, const struct passwd_args *a)
{
	struct kv_store *s;

	if (keyopts_open_encrypted(passwd_cmd.name, db, a->action != LIST,
				   &s) < 0)
		return CLI_FAIL;
	int status;
	if (a->action == LIST) {
		status = list_slots(s);
	} else if (a->action == REMOVE) {
		int r = kv_store_slot_remove(s, (uint32_t)a->remove_id);
		status = r < 0 ? CLI_FAIL : CLI_OK;
		if (r < 0)
			cli_error(&passwd_cmd, db, "keyslot %lu: %s",
				  a->remove_id, failure(r));
		else
			printf("keyslot %lu removed\n", a->remove_id);
	} else {
		status = new_slot(s, db, a);
	}
	kv_store_close(s);
	return status;
}

static int set_action(struct passwd_args *a, enum passwd_action action)
{
	a->action = action;
	return ++a->actions > 1 ? cli_usage_error(&passwd_cmd,
						  "one action at a time")
				: CLI_OK;
}

int cmd_passwd(int argc, char **argv)
{
	struct passwd_args a = {
		.action = CHANGE,
		.src = { .env = "KVFS_NEW_PASSPHRASE",
			 .prompt = "New passphrase: " },
	};
	char *end;
	int status = CLI_OK;

	for (int c; status == CLI_OK &&
		    (c = cli_getopt(&passwd_cmd, argc, argv)) != CLI_OPT_END;) {
		switch (c) {
		case 'a':
			status = set_action(&a, ADD);
			break;
		case 'R':
			status = set_action(&a, ADD_RECOVERY);
			break;
		case 'l':
			status = set_action(&a, LIST);
			break;
		case 'r':
			status = set_action(&a, REMOVE);
			a.remove_id = strtoul(optarg, &end, 10);
			if (status == CLI_OK && (*end || end == optarg ||
						 !a.remove_id ||
						 a.remove_id > UINT32_MAX))
				status = cli_usage_error(&passwd_cmd,
							 "--remove takes a "
							 "keyslot number");
			break;
		case 'p':
			a.src.passphrase_file = optarg;
			break;
		case 'n':
			a.src.fresh_key_file = optarg;
			break;
		case 'k':
			a.kdf = optarg;
			if (keyopts_cost(optarg, &a.cost) < 0)
				status = cli_usage_error(
					&passwd_cmd, "--kdf is interactive, "
						     "moderate or sensitive");
			break;
		default:
			return c == CLI_OPT_HELP ? CLI_OK : CLI_USAGE;
		}
	}
	if (status == CLI_OK)
		status = cli_operands(&passwd_cmd, argc, 1, 1);
	return status == CLI_OK ? run(argv[optind], &a) : status;
}
