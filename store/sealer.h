/*
 * sealer.h — what the store layer (store.c) and the commands' operations
 * on keys (seal_admin.c) share about an encrypted store: the unlocked
 * keys, and opening and sealing the values of rows. Internal to store/.
 */
#ifndef KVFS_SEALER_H
#define KVFS_SEALER_H

#include <pthread.h>

#include "engine.h"
#include "row_log.h"
#include "seal_format.h"

enum seal_key_type {
	SEAL_KEY_PASSPHRASE,
	SEAL_KEY_FILE,
};

struct kv_seal_key {
	enum seal_key_type type;
	uint8_t *secret; /* sodium_malloc */
	size_t len;
	bool recovery; /* made by kv_seal_key_recovery(): makes kind 3 slots */
	/* After a successful unlock: the master key of that store, so the
	 * next open of the same store needs no KDF. */
	uint8_t *master; /* sodium_malloc, SEAL_KEY_LEN */
	bool has_master;
	uint8_t store_id[KV_SEAL_STORE_ID_LEN];
	uint32_t slot_id;
};

/* The keys of one unlocked store, in one sodium_malloc block. */
struct seal_keys {
	uint8_t master[SEAL_KEY_LEN];
	uint8_t data[KV_SEAL_MAX_GENERATIONS][SEAL_KEY_LEN];
	uint8_t value[KV_SEAL_MAX_GENERATIONS][SEAL_KEY_LEN];
};


struct kv_sealer {
	pthread_mutex_t lock;
	struct kv_buf row_bytes; /* the seal row as last read: the guard */
	struct seal_row row;
	struct seal_keys *keys;
	uint32_t slot_id; /* the slot that unlocked it */
	/* Keys whose failure to open was logged. */
	struct row_log log;
};

/* Keep this process from dumping core from now on (once). */
void seal_protect_process(void);

/* A fresh, empty sealer for a store being made encrypted (init): keys
 * allocated and zeroed. */
int sealer_new(struct kv_sealer **out);

/*
 * Unlock the store behind engine with key: read the seal row (-ENOENT
 * when there is none: a plain store), find the master key (cached in key,
 * or from the first slot key opens), open the keyring. On success the
 * master key is cached in key.
 */
int sealer_unlock(void *engine, const struct kv_engine_ops *ops,
		  struct kv_seal_key *key, struct kv_sealer **out);

/* Adopt a new seal row (bytes) whose keyring opens with the master key
 * held; the store id must not change (-EIO). Caller holds the lock. */
int sealer_adopt(struct kv_sealer *z, const uint8_t *bytes, size_t len);

/* Read the seal row again and adopt it. Takes the lock. */
int sealer_reload(struct kv_sealer *z, void *engine,
		  const struct kv_engine_ops *ops);

void sealer_free(struct kv_sealer *z);

/* Index of generation gen in the keyring, or -1. Caller holds the lock. */
int sealer_gen_index(const struct kv_sealer *z, uint32_t gen);

/*
 * Open the value of entry e in place: on success its value and encoding
 * are the plaintext's. -ESTALE when it names a generation the keyring
 * does not hold (worth a reload), -EIO when it does not open, -ENOMEM.
 * Caller holds the lock.
 */
int sealer_open_entry(struct kv_sealer *z, struct kv_entry *e);

/* Mark e as a value that does not open (error -EIO, encoding 0, empty
 * value), and log it once per key. Caller holds the lock. */
void sealer_fail_entry(struct kv_sealer *z, struct kv_entry *e);

/*
 * Seal (enc, value) for key under the current generation into a malloc'd
 * envelope. Caller holds the lock.
 */
int sealer_seal(struct kv_sealer *z, const uint8_t *key, size_t key_len,
		enum kv_encoding enc, const uint8_t *value, size_t len,
		uint8_t **env, size_t *env_len);

#endif
