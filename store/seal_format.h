/*
 * seal_format.h — the bytes of an encrypted store (docs/format.md): the
 * envelope of a value (seal.c) and the `seal` row with its keyring and
 * keyslots (keyring.c). Pure functions over buffers, no store, no I/O, so
 * that the known-answer tests can freeze them.
 *
 * Internal to store/.
 */
#ifndef KVFS_SEAL_FORMAT_H
#define KVFS_SEAL_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv_seal.h"
#include "kv_value.h"

#define SEAL_KEY_LEN 32
#define SEAL_NONCE_LEN 24
#define SEAL_TAG_LEN 16
#define SEAL_SALT_LEN 16
#define SEAL_HEADER_LEN 30
#define SEAL_ENVELOPE_FORMAT 1

/* ---- values (seal.c) -------------------------------------------------- */

/* The value key of generation gen, derived from its data key. */
void seal_value_key(uint32_t gen, const uint8_t data_key[SEAL_KEY_LEN],
		    uint8_t value_key[SEAL_KEY_LEN]);

/* Who a value belongs to: the store, and the encoded key of its row. */
struct seal_owner {
	const uint8_t *store_id; /* KV_SEAL_STORE_ID_LEN bytes */
	const uint8_t *key;
	size_t key_len;
};

/*
 * Seal (enc, value[0..len)) for owner under generation gen's value key
 * into out, which holds len + KV_SEAL_OVERHEAD bytes. nonce NULL draws a
 * fresh one; tests pass a fixed one. -EINVAL for an encoding that is none.
 */
int seal_value(const uint8_t value_key[SEAL_KEY_LEN], uint32_t gen,
	       const struct seal_owner *owner, enum kv_encoding enc,
	       const uint8_t *value, size_t len,
	       const uint8_t nonce[SEAL_NONCE_LEN], uint8_t *out);

/* The generation an envelope names; -EIO when it is no envelope of
 * format 1 (too short, another format byte, flags set, generation 0). */
int seal_generation(const uint8_t *env, size_t len, uint32_t *gen);

/*
 * Open an envelope sealed for owner with generation's value key. On
 * success *value is a malloc'd copy of the plaintext (never NULL),
 * *len its length and *enc its encoding. -EIO when it does not
 * authenticate or its plaintext is no value; -ENOMEM.
 */
int seal_open(const uint8_t value_key[SEAL_KEY_LEN],
	      const struct seal_owner *owner, const uint8_t *env,
	      size_t env_len, enum kv_encoding *enc, uint8_t **value,
	      size_t *len);

/* ---- the seal row (keyring.c) ---------------------------------------- */

#define SEAL_ROW_NAME "seal"
#define SEAL_SLOT_LEN 110
#define SEAL_SLOT_AD_LEN 62 /* the slot's bytes that its seal covers */

struct seal_slot {
	uint8_t kind; /* enum kv_slot_kind; others are kept, never opened */
	uint8_t flags; /* 0; others are kept, never opened */
	uint32_t id;
	uint64_t opslimit;
	uint64_t memlimit;
	uint8_t salt[SEAL_SALT_LEN];
	uint8_t nonce[SEAL_NONCE_LEN];
	uint8_t sealed[SEAL_KEY_LEN + SEAL_TAG_LEN];
};

/* The row, parsed. The keyring stays sealed here: seal_ring_open(). */
struct seal_row {
	uint8_t store_id[KV_SEAL_STORE_ID_LEN];
	uint32_t current;
	uint8_t n_gens;
	uint32_t gens[KV_SEAL_MAX_GENERATIONS];
	uint8_t ring_nonce[SEAL_NONCE_LEN];
	uint8_t ring[KV_SEAL_MAX_GENERATIONS * SEAL_KEY_LEN + SEAL_TAG_LEN];
	uint8_t n_slots;
	struct seal_slot slots[KV_SEAL_MAX_SLOTS];
};

/* Parse a row; -EIO when it is not exactly one of format 1. A slot's
 * contents are judged only when it is opened, so that a slot of a kind
 * this kvfs does not know neither locks out the others nor is lost when
 * the row is written back. */
int seal_row_parse(const uint8_t *bytes, size_t len, struct seal_row *out);

/* The row's bytes, appended to out. -EINVAL for a row that would not
 * parse back (counts, ids). */
int seal_row_write(const struct seal_row *row, struct kv_buf *out);

/* Open the keyring: data_keys gets n_gens keys in the order of gens.
 * -EIO when it does not authenticate under master. */
int seal_ring_open(const struct seal_row *row,
		   const uint8_t master[SEAL_KEY_LEN], uint8_t *data_keys);

/* Seal data_keys (n_gens of them, in the order of gens) into the row
 * under master, after its store id, current and gens are set. nonce NULL
 * draws a fresh one. */
int seal_ring_close(struct seal_row *row, const uint8_t master[SEAL_KEY_LEN],
		    const uint8_t *data_keys,
		    const uint8_t nonce[SEAL_NONCE_LEN]);

/* Bounds on a passphrase slot's Argon2id cost, checked before it runs.
 * Tests pass smaller floors (libsodium's minimum) to keep known-answer
 * tests fast; the store always uses seal_kdf_bounds. */
struct seal_kdf_bounds {
	uint64_t ops_min, ops_max;
	uint64_t mem_min, mem_max;
};

extern const struct seal_kdf_bounds seal_kdf_bounds;

/* A credential as a slot of its kind takes it: a passphrase's bytes, a
 * key file's bytes, or the 32 bytes a recovery key spells. */
struct seal_secret {
	const uint8_t *bytes;
	size_t len;
};

/*
 * Make a slot of kind with id wrapping master for the store. For a
 * passphrase slot opslimit and memlimit must lie within bounds (-EINVAL);
 * for the other kinds they are 0. salt and nonce NULL draw fresh ones.
 * Argon2id's failure to get its memory is -ENOMEM.
 */
int seal_slot_make(struct seal_slot *slot, uint8_t kind, uint32_t id,
		   uint64_t opslimit, uint64_t memlimit,
		   const uint8_t store_id[KV_SEAL_STORE_ID_LEN],
		   const struct seal_secret *secret,
		   const uint8_t master[SEAL_KEY_LEN],
		   const struct seal_kdf_bounds *bounds,
		   const uint8_t salt[SEAL_SALT_LEN],
		   const uint8_t nonce[SEAL_NONCE_LEN]);

/*
 * Open a slot with secret: master gets the master key. -EKEYREJECTED when
 * it does not authenticate, -ERANGE (before any KDF runs) for a
 * passphrase slot whose cost lies outside bounds, -EIO for a slot that is
 * malformed (flags, cost on a kind that has none), -ENOMEM.
 */
int seal_slot_open(const struct seal_slot *slot,
		   const uint8_t store_id[KV_SEAL_STORE_ID_LEN],
		   const struct seal_secret *secret,
		   const struct seal_kdf_bounds *bounds,
		   uint8_t master[SEAL_KEY_LEN]);

/* A recovery key's text for its 32 bytes, and back. Parsing ignores case,
 * spaces and dashes; -EINVAL for text that spells none. */
void seal_recovery_text(const uint8_t bytes[SEAL_KEY_LEN],
			char text[KV_SEAL_RECOVERY_TEXT]);
int seal_recovery_parse(const char *text, size_t len,
			uint8_t bytes[SEAL_KEY_LEN]);

#endif
