/*
 * cmd_init.c — `kvfs init [--encrypt] DB`: make a store in Deno's format,
 * plain or encrypted (kvfs-spec §8, docs/format.md), and say what it is:
 * for an encrypted one its store id, its largest value and its keyslots.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "commands.h"
#include "keyopts.h"

static const struct option init_options[] = {
	{"encrypt", no_argument, NULL, 'e'},
	{"new-key-file", required_argument, NULL, 'n'},
	{"recovery-key", no_argument, NULL, 'r'},
	{"kdf", required_argument, NULL, 'k'},
	{0},
};

static const struct cli_command init_cmd = {
	.name = "init",
	.synopsis = "DB [--encrypt [KEY] [--recovery-key] [--kdf LEVEL]]",
	.help = "Make DB, an empty store in Deno's own format. With --encrypt\n"
		"its values are sealed (XChaCha20-Poly1305, docs/format.md):\n"
		"each value may then hold 65489 bytes (65536 less 47 bytes of\n"
		"sealing). DB must not exist, or hold no key yet.\n"
		"\n"
		"KEY, the first keyslot, is the first of:\n"
		"  --passphrase-file FILE  a passphrase (the file's bytes less\n"
		"                          one final newline)\n"
		"  --key-file FILE         a key file (32 bytes to 1 MiB)\n"
		"  --new-key-file FILE     a fresh key file, written with mode\n"
		"                          0600 (never over an existing file)\n"
		"  KVFS_PASSPHRASE         a passphrase in the environment\n"
		"  the terminal            a passphrase, asked twice\n"
		"\n"
		"  --recovery-key   also add a recovery key slot and print the\n"
		"                   recovery key, once (offered on a terminal)\n"
		"  --kdf LEVEL      Argon2id cost of a passphrase: interactive,\n"
		"                   moderate (the default) or sensitive\n"
		"\n"
		"Exit status: 0, 1 when DB exists or cannot be made, 2 for bad\n"
		"usage.\n",
	.short_opts = "",
	.long_opts = init_options,
};

struct init_args {
	const char *db;
	bool encrypt;
	bool recovery;
	const char *fresh_key_file;
	struct kv_seal_cost cost;
};

static void print_slots(struct kv_store *s)
{
	struct kv_slot_info slots[KV_SEAL_MAX_SLOTS];
	size_t n = 0;
	char text[128];

	kv_store_slots(s, slots, &n);
	for (size_t i = 0; i < n; i++) {
		keyopts_slot_text(&slots[i], text, sizeof(text));
		printf("keyslot %u: %s\n", (unsigned)slots[i].id, text);
	}
}

static void print_store(struct kv_store *s, const char *db)
{
	uint8_t id[KV_SEAL_STORE_ID_LEN];
	char hex[2 * KV_SEAL_STORE_ID_LEN + 1];

	if (kv_store_seal_id(s, id) < 0) {
		printf("%s: a Deno KV store\n", db);
		printf("largest value: %zu bytes\n", kv_store_max_value(s));
		return;
	}
	sodium_bin2hex(hex, sizeof(hex), id, sizeof(id));
	printf("%s: an encrypted store, store id %s\n", db, hex);
	printf("largest value: %zu bytes (%d less %d bytes of sealing)\n",
	       kv_store_max_value(s), KV_MAX_VALUE, KV_SEAL_OVERHEAD);
	print_slots(s);
}

static int add_recovery(struct kv_store *s, const char *db)
{
	char text[KV_SEAL_RECOVERY_TEXT];
	struct kv_seal_key *key;
	int r = kv_seal_key_recovery(text, &key);

	if (r == 0)
		r = kv_store_slot_add(s, key, NULL, NULL);
	kv_seal_key_free(key);
	if (r < 0) {
		cli_error(&init_cmd, db, "cannot add a recovery key: %s",
			  keyopts_reason(r));
		sodium_memzero(text, sizeof(text));
		return CLI_FAIL;
	}
	printf("recovery key (shown once; keep it safe, it opens the "
	       "store): %s\n", text);
	sodium_memzero(text, sizeof(text));
	return CLI_OK;
}

/* Remove what a failed init made: the store file and a fresh key file. */
static void undo(const struct init_args *a, bool made_db)
{
	static const char *const suffixes[] = { "", "-wal", "-shm" };
	char path[4096];

	for (size_t i = 0; made_db && i < 3; i++) {
		snprintf(path, sizeof(path), "%s%s", a->db, suffixes[i]);
		unlink(path);
	}
	if (a->fresh_key_file)
		unlink(a->fresh_key_file);
}

static int init_store(const struct init_args *a, struct kv_seal_key *key)
{
	struct kv_store_options o = { .create = true };
	struct kv_store *s = NULL;
	bool made_db = access(a->db, F_OK) != 0;
	int r = kv_store_open(a->db, &o, &s);

	if (r == -ENOKEY)
		r = -EEXIST; /* encrypted already */
	if (r == 0 && kv_store_read_only(s))
		r = -EROFS;
	if (r == 0 && !made_db && !key)
		r = -EEXIST;
	if (r == 0 && key)
		r = kv_store_seal_init(s, key, &a->cost);
	if (r < 0) {
		kv_store_close(s);
		undo(a, made_db);
		cli_error(&init_cmd, a->db, "%s",
			  r == -EEXIST ? "exists (and holds keys, or is "
					 "encrypted already)"
				       : keyopts_reason(r));
		return CLI_FAIL;
	}
	print_store(s, a->db);
	int status = CLI_OK;
	if (key && (a->recovery ||
		    keyopts_confirm("Add a recovery key slot? [y/N] ")))
		status = add_recovery(s, a->db);
	kv_store_close(s);
	int flushed = cli_flush_output(&init_cmd);
	return status ? status : flushed;
}

int cmd_init(int argc, char **argv)
{
	struct init_args a = { 0 };
	const char *kdf = NULL;

	for (int c; (c = cli_getopt(&init_cmd, argc, argv)) != CLI_OPT_END;) {
		switch (c) {
		case 'e':
			a.encrypt = true;
			break;
		case 'n':
			a.fresh_key_file = optarg;
			break;
		case 'r':
			a.recovery = true;
			break;
		case 'k':
			kdf = optarg;
			break;
		default:
			return c == CLI_OPT_HELP ? CLI_OK : CLI_USAGE;
		}
	}
	int status = cli_operands(&init_cmd, argc, 1, 1);
	if (status)
		return status;
	a.db = argv[optind];
	if (kdf && keyopts_cost(kdf, &a.cost) < 0)
		return cli_usage_error(&init_cmd, "--kdf is interactive, "
						  "moderate or sensitive");
	struct keyopts_new src = keyopts_for_init();
	src.fresh_key_file = a.fresh_key_file;
	if (!a.encrypt && (src.passphrase_file || src.key_file ||
			   a.fresh_key_file || a.recovery || kdf))
		return cli_usage_error(&init_cmd, "key options need --encrypt");
	if (!a.encrypt)
		return init_store(&a, NULL);
	struct kv_seal_key *key;
	const char *what;
	if (keyopts_new_key(init_cmd.name, &src, &key, &what) < 0)
		return CLI_FAIL;
	status = init_store(&a, key);
	kv_seal_key_free(key);
	return status;
}
