/*
 * kv_seal.h — encrypted stores (kvfs-spec §8, docs/format.md): the keys
 * that unlock them, and the work on their keyslots and keyring that the
 * commands init, passwd, rekey and app-key do.
 *
 * Sealing itself happens inside the store (kv_store.h): a store opened
 * with kv_store_options.seal_key returns plaintext from every read and
 * seals every value it commits, so the mount and the command line need
 * nothing from this file but a key to pass.
 *
 * Errors, besides those of kv_store.h:
 *   the store is encrypted and no key was given      -ENOKEY
 *   the key opens no keyslot (a wrong passphrase)    -EKEYREJECTED
 *   a key was given for a store that is not encrypted -EMEDIUMTYPE
 *   a sealed value or the seal metadata does not
 *   authenticate                                     -EIO
 *   removing the last keyslot                        -EPERM
 *
 * Key material lives in sodium_malloc memory (locked, guarded, wiped on
 * free). From the first key made on, the process does not dump core
 * (PR_SET_DUMPABLE 0, RLIMIT_CORE 0) for the rest of its life.
 */
#ifndef KVFS_KV_SEAL_H
#define KVFS_KV_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv_store.h"

/* Bytes an envelope adds to a value: 30 of header, 16 of tag and the
 * inner v_encoding. The plaintext limit is KV_MAX_VALUE less this. */
#define KV_SEAL_OVERHEAD 47
#define KV_SEAL_MAX_PLAIN (KV_MAX_VALUE - KV_SEAL_OVERHEAD)

#define KV_SEAL_STORE_ID_LEN 16
#define KV_SEAL_MAX_SLOTS 8
#define KV_SEAL_MAX_GENERATIONS 16

/* A recovery key as text ("KVFS-" and 13 groups of 4) and its NUL. */
#define KV_SEAL_RECOVERY_TEXT 70

/* ---- keys ------------------------------------------------------------- */

/*
 * What unlocks an encrypted store: a passphrase (or a recovery key typed
 * as one) or the bytes of a key file. Once a store has been opened with
 * it, the key also holds that store's master key, so a second open of the
 * same store (the mount opens once to report errors, and again in the
 * daemon after fork) runs no KDF. Not for concurrent use by two opens.
 */
struct kv_seal_key;

/* A passphrase of 1 to 4096 bytes, copied. -EINVAL when empty or longer. */
int kv_seal_key_passphrase(const char *pass, size_t len,
			   struct kv_seal_key **out);

/* The bytes of a key file (at least 32, at most 1 MiB), copied. */
int kv_seal_key_file(const uint8_t *bytes, size_t len,
		     struct kv_seal_key **out);

/*
 * A fresh recovery key: its text (NUL-ended) goes to text, to be shown
 * once, and *out unlocks a recovery slot made with it.
 */
int kv_seal_key_recovery(char text[KV_SEAL_RECOVERY_TEXT],
			 struct kv_seal_key **out);

/* Wipe and free. NULL is allowed. */
void kv_seal_key_free(struct kv_seal_key *k);

/* ---- what an open store tells ------------------------------------------ */

/* Whether the store is encrypted (and, being open, unlocked). */
bool kv_store_sealed(const struct kv_store *s);

/* The store id of an encrypted store. -EMEDIUMTYPE for a plain one. */
int kv_store_seal_id(struct kv_store *s,
		     uint8_t id[KV_SEAL_STORE_ID_LEN]);

enum kv_slot_kind {
	KV_SLOT_PASSPHRASE = 1,
	KV_SLOT_KEY_FILE = 2,
	KV_SLOT_RECOVERY = 3,
};

/* The cost of Argon2id for a passphrase slot; zeros mean libsodium's
 * MODERATE. Bounded as docs/format.md says, else -EINVAL. */
struct kv_seal_cost {
	uint64_t opslimit;
	size_t memlimit;
};

struct kv_slot_info {
	uint32_t id;
	enum kv_slot_kind kind;
	uint64_t opslimit; /* passphrase slots; else 0 */
	size_t memlimit;
	bool opened_this; /* the slot this handle was unlocked with */
};

/* The keyslots, in their order in the row; *n gets their count (at most
 * KV_SEAL_MAX_SLOTS). */
int kv_store_slots(struct kv_store *s, struct kv_slot_info *out, size_t *n);

/* ---- kvfs init --encrypt ------------------------------------------------ */

/*
 * Make an open, writable, plain store encrypted: a store id, a master key,
 * generation 1, and one keyslot for key (of the kind key is, with cost
 * for a passphrase; cost may be NULL). The store must hold no key (else
 * -EEXIST); afterwards the handle is an unlocked encrypted store.
 */
int kv_store_seal_init(struct kv_store *s, struct kv_seal_key *key,
		       const struct kv_seal_cost *cost);

/* ---- kvfs passwd: keyslots, each change one transaction ---------------- */

/* Add a keyslot for key; *id (may be NULL) gets its id. -ENOSPC when
 * KV_SEAL_MAX_SLOTS are there. */
int kv_store_slot_add(struct kv_store *s, struct kv_seal_key *key,
		      const struct kv_seal_cost *cost, uint32_t *id);

/* Replace keyslot id by one for key, keeping the id. -ENOENT when no such
 * slot. */
int kv_store_slot_change(struct kv_store *s, uint32_t id,
			 struct kv_seal_key *key,
			 const struct kv_seal_cost *cost);

/* Remove keyslot id. -EPERM when it is the last one, -ENOENT when none. */
int kv_store_slot_remove(struct kv_store *s, uint32_t id);

/* ---- kvfs rekey ------------------------------------------------------- */

struct kv_rekey {
	uint32_t generation;  /* the current one, being sealed under */
	uint64_t resealed;    /* values moved to it so far */
	uint64_t unreadable;  /* values that do not open: left as they are */
	uint64_t seen;        /* rows looked at */
	uint64_t pass_resealed; /* values moved in the pass under way */
	struct kv_buf next;   /* where the pass goes on (owned) */
	unsigned passes;      /* passes over the whole store completed */
};

/*
 * Start a new generation and make it current, unless one is already being
 * moved to (an interrupted rekey: then go on with it). Older generations
 * stay readable until kv_store_rekey_finish(). r is zeroed and filled.
 */
int kv_store_rekey_begin(struct kv_store *s, struct kv_rekey *r);

/*
 * Re-seal up to batch values (0: 256) under the current generation, each
 * write checked against the read versionstamp (a value another writer
 * changed meanwhile is theirs and is left alone), keeping versionless
 * facts (the expiry) as they were. Returns 1 while more is left, 0 when
 * a pass found no value under an older generation, or a negative errno.
 * Interrupting between steps loses nothing.
 */
int kv_store_rekey_step(struct kv_store *s, struct kv_rekey *r,
			size_t batch);

/* Drop the older generations from the keyring, then VACUUM the file and
 * empty its WAL. Call after kv_store_rekey_step() returned 0. */
int kv_store_rekey_finish(struct kv_store *s, struct kv_rekey *r);

/* Free what r holds. */
void kv_rekey_free(struct kv_rekey *r);

/* ---- kvfs app-key --------------------------------------------------- */

/* The app key (docs/format.md) as one NUL-ended line of JSON in out,
 * which the caller wipes (sodium_memzero) and frees. */
int kv_store_app_key(struct kv_store *s, struct kv_buf *out);

#endif
