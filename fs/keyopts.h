/*
 * keyopts.h — where the key of an encrypted store comes from, for every
 * command that opens a store and for kvfs mount (kvfs-spec §8): the
 * options --passphrase-file FILE and --key-file FILE (for mount also
 * -o passphrase_file=FILE,key_file=FILE), else the environment variable
 * KVFS_PASSPHRASE, else a prompt on the terminal. A plain store needs
 * none of them, and nothing is asked when the store is not encrypted.
 *
 * And the new keys of kvfs init and kvfs passwd: a passphrase file, a key
 * file, a fresh key file written with mode 0600, an environment variable,
 * or the terminal, asked twice.
 */
#ifndef KVFS_KEYOPTS_H
#define KVFS_KEYOPTS_H

#include <getopt.h>
#include <stdbool.h>

#include "kv_seal.h"
#include "kv_store.h"

/* getopt_long codes of the key options, clear of any short option. */
enum {
	KEYOPT_PASSPHRASE_FILE = 0x4b01,
	KEYOPT_KEY_FILE,
};

#define KEYOPTS_GETOPT_N 2

/* The key options as getopt_long table entries, for a command's table. */
extern const struct option keyopts_getopt[KEYOPTS_GETOPT_N];

/* Note key option c and its argument: true when c was one. */
bool keyopts_take(int c, const char *arg);

/* The key options as fuse_opt templates (expand where fuse_opt.h is
 * included), and their processing: true when key was one of them. */
#define KEYOPTS_FUSE_OPTS \
	FUSE_OPT_KEY("--passphrase-file=%s", KEYOPT_PASSPHRASE_FILE), \
	FUSE_OPT_KEY("--passphrase-file %s", KEYOPT_PASSPHRASE_FILE), \
	FUSE_OPT_KEY("passphrase_file=%s", KEYOPT_PASSPHRASE_FILE), \
	FUSE_OPT_KEY("--key-file=%s", KEYOPT_KEY_FILE), \
	FUSE_OPT_KEY("--key-file %s", KEYOPT_KEY_FILE), \
	FUSE_OPT_KEY("key_file=%s", KEYOPT_KEY_FILE)

bool keyopts_take_fuse(const char *arg, int key);

/* Help text lines for the key options. */
#define KEYOPTS_HELP \
	"  --passphrase-file FILE  the passphrase of an encrypted store\n" \
	"  --key-file FILE         a key file of an encrypted store\n" \
	"  (else KVFS_PASSPHRASE, else the terminal is asked)\n"

/*
 * kv_store_open() with the key the options give; a plain store opened
 * read-only is opened without it (only writing to a plain store with a key
 * at hand is refused, -EMEDIUMTYPE). Without key options, a
 * store found encrypted (-ENOKEY) is opened again with KVFS_PASSPHRASE or
 * a passphrase asked on the terminal. On success opts->seal_key is the key
 * used (NULL for a plain store); it lives until the process ends, so the
 * same options open the store again without a KDF (the mount's daemon).
 * Returns 0 or the store's error; keyopts_reason() words it.
 */
int keyopts_open(const char *db, struct kv_store_options *opts,
		 struct kv_store **out);

/* The reason for an error of keyopts_open() or of the store, in words. */
const char *keyopts_reason(int err);

/* Where a new key comes from; the first source given wins. */
struct keyopts_new {
	const char *passphrase_file;
	const char *key_file;
	const char *fresh_key_file; /* written now, mode 0600 */
	const char *env;	    /* the name of an environment variable */
	const char *prompt;	    /* asked twice on the terminal */
};

/* The new key of kvfs init: its key options, then KVFS_PASSPHRASE. */
struct keyopts_new keyopts_for_init(void);

/*
 * Read or make a new key. Failures are reported in one line, as "kvfs
 * CMD: ..." (cmd is "init", "passwd"); returns 0 or a negative errno.
 * *what names the source for messages ("passphrase", "key file X").
 */
int keyopts_new_key(const char *cmd, const struct keyopts_new *src,
		    struct kv_seal_key **out, const char **what);

/*
 * Open the encrypted store db for kvfs passwd, rekey and app-key: never
 * created, refused when plain. Failures are reported in one line, "kvfs
 * CMD: DB: reason"; returns 0 or a negative errno.
 */
int keyopts_open_encrypted(const char *cmd, const char *db, bool writes,
			   struct kv_store **out);

/* --kdf LEVEL: "interactive", "moderate" or "sensitive", libsodium's
 * Argon2id costs. -EINVAL for another word. */
int keyopts_cost(const char *level, struct kv_seal_cost *out);

/* A keyslot in words: "passphrase (Argon2id, 3 passes, 256 MiB)". */
void keyopts_slot_text(const struct kv_slot_info *slot, char *buf,
		       size_t size);

/* Ask a yes/no question on the terminal; no terminal is no. */
bool keyopts_confirm(const char *question);

#endif
