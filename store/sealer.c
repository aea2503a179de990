/*
 * sealer.c — an encrypted store's keys at run time: the keys a caller
 * unlocks with, finding the master key through the keyslots, holding the
 * keyring, and opening and sealing row values for the store layer.
 *
 * Key material lives only in sodium_malloc memory (locked, between guard
 * pages, wiped on free); stack copies are wiped before returning.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <syslog.h>

#include <sodium.h>

#include "sealer.h"

#define MAX_PASSPHRASE 4096
#define MIN_KEY_FILE 32
#define MAX_KEY_FILE (1 << 20)

/* ---- the process ------------------------------------------------------ */

static void protect_once(void)
{
	struct rlimit none = { 0, 0 };

	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	setrlimit(RLIMIT_CORE, &none);
}

void seal_protect_process(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, protect_once);
}

/* ---- keys a caller unlocks with ---------------------------------------- */

static int key_new(enum seal_key_type type, const void *secret, size_t len,
		   struct kv_seal_key **out)
{
	if (sodium_init() < 0)
		return -EIO;
	seal_protect_process();
	struct kv_seal_key *k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->type = type;
	k->len = len;
	k->secret = sodium_malloc(len);
	k->master = sodium_malloc(SEAL_KEY_LEN);
	if (!k->secret || !k->master) {
		kv_seal_key_free(k);
		return -ENOMEM;
	}
	memcpy(k->secret, secret, len);
	*out = k;
	return 0;
}

int kv_seal_key_passphrase(const char *pass, size_t len,
			   struct kv_seal_key **out)
{
	if (!pass || len == 0 || len > MAX_PASSPHRASE)
		return -EINVAL;
	return key_new(SEAL_KEY_PASSPHRASE, pass, len, out);
}

int kv_seal_key_file(const uint8_t *bytes, size_t len,
		     struct kv_seal_key **out)
{
	if (!bytes || len < MIN_KEY_FILE || len > MAX_KEY_FILE)
		return -EINVAL;
	return key_new(SEAL_KEY_FILE, bytes, len, out);
}

int kv_seal_key_recovery(char text[KV_SEAL_RECOVERY_TEXT],
			 struct kv_seal_key **out)
{
	if (sodium_init() < 0)
		return -EIO;
	uint8_t *bytes = sodium_malloc(SEAL_KEY_LEN);
	if (!bytes)
		return -ENOMEM;
	randombytes_buf(bytes, SEAL_KEY_LEN);
	seal_recovery_text(bytes, text);
	sodium_free(bytes);
	int r = kv_seal_key_passphrase(text, strlen(text), out);
	if (r == 0)
		(*out)->recovery = true;
	return r;
}

void kv_seal_key_free(struct kv_seal_key *k)
{
	if (!k)
		return;
	sodium_free(k->secret);
	sodium_free(k->master);
	free(k);
}

/* ---- the sealer ------------------------------------------------------- */

int sealer_new(struct kv_sealer **out)
{
	if (sodium_init() < 0)
		return -EIO;
	seal_protect_process();
	struct kv_sealer *z = calloc(1, sizeof(*z));
	if (!z)
		return -ENOMEM;
	z->keys = sodium_malloc(sizeof(*z->keys));
	if (!z->keys) {
		free(z);
		return -ENOMEM;
	}
	sodium_memzero(z->keys, sizeof(*z->keys));
	pthread_mutex_init(&z->lock, NULL);
	row_log_init(&z->log);
	*out = z;
	return 0;
}

void sealer_free(struct kv_sealer *z)
{
	if (!z)
		return;
	sodium_free(z->keys);
	kv_buf_free(&z->row_bytes);
	row_log_destroy(&z->log);
	pthread_mutex_destroy(&z->lock);
	free(z);
}

int sealer_gen_index(const struct kv_sealer *z, uint32_t gen)
{
	for (unsigned i = 0; i < z->row.n_gens; i++)
		if (z->row.gens[i] == gen)
			return (int)i;
	return -1;
}

/*
 * Take a parsed row whose keyring opens under the master key held: the
 * data keys and their value keys replace the old ones only when all is
 * well, so a bad row leaves the sealer as it was.
 */
static int adopt_row(struct kv_sealer *z, const struct seal_row *row,
		     const uint8_t *bytes, size_t len)
{
	struct seal_keys *next = sodium_malloc(sizeof(*next));

	if (!next)
		return -ENOMEM;
	memcpy(next->master, z->keys->master, SEAL_KEY_LEN);
	int r = seal_ring_open(row, next->master, &next->data[0][0]);
	for (unsigned i = 0; r == 0 && i < row->n_gens; i++)
		seal_value_key(row->gens[i], next->data[i], next->value[i]);
	struct kv_buf copy = { 0 };
	if (r == 0)
		r = kv_buf_append(&copy, bytes, len);
	if (r < 0) {
		sodium_free(next);
		kv_buf_free(&copy);
		return r;
	}
	sodium_free(z->keys);
	z->keys = next;
	z->row = *row;
	kv_buf_free(&z->row_bytes);
	z->row_bytes = copy;
	return 0;
}

int sealer_adopt(struct kv_sealer *z, const uint8_t *bytes, size_t len)
{
	struct seal_row row;
	int r = seal_row_parse(bytes, len, &row);

	if (r < 0)
		return r;
	if (z->row_bytes.len &&
	    memcmp(row.store_id, z->row.store_id, KV_SEAL_STORE_ID_LEN) != 0)
		return -EIO; /* another store's row put in place of ours */
	return adopt_row(z, &row, bytes, len);
}

int sealer_reload(struct kv_sealer *z, void *engine,
		  const struct kv_engine_ops *ops)
{
	struct kv_buf bytes = { 0 };
	int r = ops->meta_get(engine, SEAL_ROW_NAME, &bytes);

	if (r == -ENOENT)
		r = -EIO; /* the row is gone: nothing can be trusted */
	pthread_mutex_lock(&z->lock);
	if (r == 0)
		r = sealer_adopt(z, bytes.data, bytes.len);
	pthread_mutex_unlock(&z->lock);
	kv_buf_free(&bytes);
	return r;
}

/* ---- unlocking ---------------------------------------------------------- */

/* Whether a slot of this kind can take this key, and as what secret. */
static bool slot_takes(const struct seal_slot *slot,
		       const struct kv_seal_key *key,
		       const uint8_t *recovery, struct seal_secret *secret)
{
	*secret = (struct seal_secret){ key->secret, key->len };
	switch (slot->kind) {
	case KV_SLOT_PASSPHRASE:
		return key->type == SEAL_KEY_PASSPHRASE;
	case KV_SLOT_KEY_FILE:
		return key->type == SEAL_KEY_FILE;
	case KV_SLOT_RECOVERY:
		*secret = (struct seal_secret){ recovery, SEAL_KEY_LEN };
		return recovery != NULL;
	}
	return false;
}

/*
 * Try the slots with key, the cheap kinds first (a recovery key typed at
 * the passphrase prompt needs no Argon2id). A slot that opens but gives a
 * master key the keyring refuses was planted: go on with the others.
 */
static int unlock_slots(struct kv_sealer *z, const struct seal_row *row,
			const struct kv_seal_key *key, const uint8_t *recovery,
			uint32_t *slot_id)
{
	int result = -EKEYREJECTED;

	for (int pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < row->n_slots; i++) {
			const struct seal_slot *slot = &row->slots[i];
			struct seal_secret secret;
			bool costly = slot->kind == KV_SLOT_PASSPHRASE;
			if (costly != (pass == 1) ||
			    !slot_takes(slot, key, recovery, &secret))
				continue;
			int r = seal_slot_open(slot, row->store_id, &secret,
					       &seal_kdf_bounds,
					       z->keys->master);
			if (r == -ERANGE)
				syslog(LOG_WARNING,
				       "kvfs: keyslot %u asks for an Argon2id "
				       "cost outside kvfs's bounds: skipped",
				       (unsigned)slot->id);
			if (r == -ENOMEM)
				result = r;
			if (r < 0)
				continue;
			r = seal_ring_open(row, z->keys->master,
					   &z->keys->data[0][0]);
			if (r == 0) {
				*slot_id = slot->id;
				return 0;
			}
			result = -EIO;
		}
	}
	return result;
}

static int find_master(struct kv_sealer *z, const struct seal_row *row,
		       struct kv_seal_key *key)
{
	if (key->has_master &&
	    sodium_memcmp(key->store_id, row->store_id,
			  KV_SEAL_STORE_ID_LEN) == 0) {
		memcpy(z->keys->master, key->master, SEAL_KEY_LEN);
		if (seal_ring_open(row, z->keys->master,
				   &z->keys->data[0][0]) == 0) {
			z->slot_id = key->slot_id;
			return 0;
		}
	}
	uint8_t *recovery = sodium_malloc(SEAL_KEY_LEN);
	if (!recovery)
		return -ENOMEM;
	bool spells = key->type == SEAL_KEY_PASSPHRASE &&
		      seal_recovery_parse((const char *)key->secret, key->len,
					  recovery) == 0;
	int r = unlock_slots(z, row, key, spells ? recovery : NULL,
			     &z->slot_id);
	sodium_free(recovery);
	if (r < 0)
		return r;
	memcpy(key->master, z->keys->master, SEAL_KEY_LEN);
	memcpy(key->store_id, row->store_id, KV_SEAL_STORE_ID_LEN);
	key->slot_id = z->slot_id;
	key->has_master = true;
	return 0;
}

int sealer_unlock(void *engine, const struct kv_engine_ops *ops,
		  struct kv_seal_key *key, struct kv_sealer **out)
{
	struct kv_buf bytes = { 0 };
	struct seal_row row;
	struct kv_sealer *z = NULL;
	int r = ops->meta_get(engine, SEAL_ROW_NAME, &bytes);

	if (r == 0 && !key)
		r = -ENOKEY;
	if (r == 0)
		r = seal_row_parse(bytes.data, bytes.len, &row);
	if (r == 0)
		r = sealer_new(&z);
	if (r == 0) {
		/* Memory locks do not survive fork (the mount's daemon): lock
		 * the cached master key again in this process. */
		sodium_mlock(key->master, SEAL_KEY_LEN);
		r = find_master(z, &row, key);
	}
	if (r == 0)
		r = adopt_row(z, &row, bytes.data, bytes.len);
	kv_buf_free(&bytes);
	if (r < 0) {
		sealer_free(z);
		return r;
	}
	*out = z;
	return 0;
}

/* ---- values ----------------------------------------------------------- */

void sealer_fail_entry(struct kv_sealer *z, struct kv_entry *e)
{
	row_log_once(&z->log, e->key, e->key_len,
		     "holds a sealed value that does not open (tampered, "
		     "moved, truncated or under an unknown key)");
	free(e->value);
	e->value = malloc(1);
	e->value_len = 0;
	e->encoding = 0;
	e->error = -EIO;
}

int sealer_open_entry(struct kv_sealer *z, struct kv_entry *e)
{
	uint32_t gen;

	if (e->encoding != KV_ENC_BYTES ||
	    seal_generation(e->value, e->value_len, &gen) < 0)
		return -EIO;
	int i = sealer_gen_index(z, gen);
	if (i < 0)
		return -ESTALE;
	struct seal_owner owner = { z->row.store_id, e->key, e->key_len };
	enum kv_encoding enc;
	uint8_t *plain;
	size_t len;
	int r = seal_open(z->keys->value[i], &owner, e->value, e->value_len,
			  &enc, &plain, &len);
	if (r < 0)
		return r;
	free(e->value);
	e->value = plain;
	e->value_len = len;
	e->encoding = enc;
	return 0;
}

int sealer_seal(struct kv_sealer *z, const uint8_t *key, size_t key_len,
		enum kv_encoding enc, const uint8_t *value, size_t len,
		uint8_t **env, size_t *env_len)
{
	int i = sealer_gen_index(z, z->row.current);
	uint8_t *out = malloc(len + KV_SEAL_OVERHEAD);

	if (!out)
		return -ENOMEM;
	struct seal_owner owner = { z->row.store_id, key, key_len };
	int r = seal_value(z->keys->value[i], z->row.current, &owner, enc,
			   value, len, NULL, out);
	if (r < 0) {
		free(out);
		return r;
	}
	*env = out;
	*env_len = len + KV_SEAL_OVERHEAD;
	return 0;
}
