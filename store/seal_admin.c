/*
 * seal_admin.c — the work of kvfs init --encrypt, passwd, rekey and
 * app-key on an encrypted store (kv_seal.h): making the seal row, changing
 * its keyslots and keyring, each change one compare-and-swap of the row,
 * and re-sealing values under a new generation.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kv_seal.h"
#include "store_internal.h"

#define ROW_SWAP_TRIES 4
#define REKEY_BATCH 256
#define REKEY_BATCH_BYTES (4 << 20)
#define REKEY_MAX_PASSES 8

/* ---- what an open store tells --------------------------------------- */

bool kv_store_sealed(const struct kv_store *s)
{
	return s->sealer != NULL;
}

int kv_store_seal_id(struct kv_store *s, uint8_t id[KV_SEAL_STORE_ID_LEN])
{
	if (!s->sealer)
		return -EMEDIUMTYPE;
	pthread_mutex_lock(&s->sealer->lock);
	memcpy(id, s->sealer->row.store_id, KV_SEAL_STORE_ID_LEN);
	pthread_mutex_unlock(&s->sealer->lock);
	return 0;
}

int kv_store_slots(struct kv_store *s, struct kv_slot_info *out, size_t *n)
{
	struct kv_sealer *z = s->sealer;

	if (!z)
		return -EMEDIUMTYPE;
	pthread_mutex_lock(&z->lock);
	*n = z->row.n_slots;
	for (size_t i = 0; i < *n; i++) {
		const struct seal_slot *slot = &z->row.slots[i];
		out[i] = (struct kv_slot_info){
			.id = slot->id,
			.kind = (enum kv_slot_kind)slot->kind,
			.opslimit = slot->opslimit,
			.memlimit = (size_t)slot->memlimit,
			.opened_this = slot->id == z->slot_id,
		};
	}
	pthread_mutex_unlock(&z->lock);
	return 0;
}

/* ---- keyslots ------------------------------------------------------- */

/* A slot for key, of the kind key is. */
static int make_slot(struct seal_slot *slot, uint32_t id,
		     const struct kv_seal_key *key,
		     const struct kv_seal_cost *cost,
		     const uint8_t store_id[KV_SEAL_STORE_ID_LEN],
		     const uint8_t master[SEAL_KEY_LEN])
{
	struct seal_secret secret = { key->secret, key->len };
	uint64_t ops = 0, mem = 0;
	uint8_t kind = KV_SLOT_PASSPHRASE;
	uint8_t *bytes = NULL;

	if (key->type == SEAL_KEY_FILE) {
		kind = KV_SLOT_KEY_FILE;
	} else if (key->recovery) {
		kind = KV_SLOT_RECOVERY;
		bytes = sodium_malloc(SEAL_KEY_LEN);
		if (!bytes)
			return -ENOMEM;
		if (seal_recovery_parse((const char *)key->secret, key->len,
					bytes) < 0) {
			sodium_free(bytes);
			return -EINVAL;
		}
		secret = (struct seal_secret){ bytes, SEAL_KEY_LEN };
	} else {
		bool dflt = !cost || (!cost->opslimit && !cost->memlimit);
		ops = dflt ? crypto_pwhash_argon2id_OPSLIMIT_MODERATE
			   : cost->opslimit;
		mem = dflt ? crypto_pwhash_argon2id_MEMLIMIT_MODERATE
			   : cost->memlimit;
	}
	int r = seal_slot_make(slot, kind, id, ops, mem, store_id, &secret,
			       master, &seal_kdf_bounds, NULL, NULL);
	sodium_free(bytes);
	return r;
}

static int slot_index(const struct seal_row *row, uint32_t id)
{
	for (unsigned i = 0; i < row->n_slots; i++)
		if (row->slots[i].id == id)
			return (int)i;
	return -1;
}

/*
 * A change of the seal row: edit() gets a copy of the row and the keys
 * (under no lock: Argon2id may take a second), then the new row replaces
 * the old one only if nobody changed it meanwhile, else all is done again
 * on the row as it now is.
 */
typedef int (*row_edit)(struct seal_row *row, struct seal_keys *keys,
			void *arg);

static int change_row(struct kv_store *s, row_edit edit, void *arg)
{
	struct kv_sealer *z = s->sealer;
	struct seal_keys *keys = sodium_malloc(sizeof(*keys));
	struct kv_buf old = { 0 }, next = { 0 };
	int r = keys ? 0 : -ENOMEM;

	if (!z)
		r = -EMEDIUMTYPE;
	else if (s->ops->read_only(s->engine))
		r = -EROFS;
	for (int tries = 0; r == 0; tries++) {
		struct seal_row row;
		pthread_mutex_lock(&z->lock);
		row = z->row;
		memcpy(keys, z->keys, sizeof(*keys));
		old.len = 0;
		r = kv_buf_append(&old, z->row_bytes.data, z->row_bytes.len);
		pthread_mutex_unlock(&z->lock);
		if (r == 0)
			r = edit(&row, keys, arg);
		next.len = 0;
		if (r == 0)
			r = seal_row_write(&row, &next);
		if (r == 0)
			r = s->ops->meta_swap(s->engine, SEAL_ROW_NAME,
					      old.data, old.len, next.data,
					      next.len);
		if (r == 0) {
			pthread_mutex_lock(&z->lock);
			r = sealer_adopt(z, next.data, next.len);
			pthread_mutex_unlock(&z->lock);
			break;
		}
		if (r != -ECANCELED || tries == ROW_SWAP_TRIES)
			break;
		r = sealer_reload(z, s->engine, s->ops);
	}
	sodium_free(keys);
	kv_buf_free(&old);
	kv_buf_free(&next);
	return r;
}

struct slot_edit {
	struct kv_seal_key *key;
	const struct kv_seal_cost *cost;
	uint32_t id; /* change/remove: which; add: the one made */
};

static int add_slot(struct seal_row *row, struct seal_keys *keys, void *arg)
{
	struct slot_edit *e = arg;
	uint32_t id = 1;

	if (row->n_slots == KV_SEAL_MAX_SLOTS)
		return -ENOSPC;
	for (unsigned i = 0; i < row->n_slots; i++)
		if (row->slots[i].id >= id)
			id = row->slots[i].id + 1;
	int r = make_slot(&row->slots[row->n_slots], id, e->key, e->cost,
			  row->store_id, keys->master);
	if (r == 0) {
		row->n_slots++;
		e->id = id;
	}
	return r;
}

static int change_slot(struct seal_row *row, struct seal_keys *keys,
		       void *arg)
{
	struct slot_edit *e = arg;
	int i = slot_index(row, e->id);

	if (i < 0)
		return -ENOENT;
	return make_slot(&row->slots[i], e->id, e->key, e->cost,
			 row->store_id, keys->master);
}

static int remove_slot(struct seal_row *row, struct seal_keys *keys,
		       void *arg)
{
	struct slot_edit *e = arg;
	int i = slot_index(row, e->id);

	(void)keys;
	if (i < 0)
		return -ENOENT;
	if (row->n_slots == 1)
		return -EPERM;
	memmove(&row->slots[i], &row->slots[i + 1],
		(row->n_slots - (unsigned)i - 1) * sizeof(row->slots[0]));
	row->n_slots--;
	return 0;
}

int kv_store_slot_add(struct kv_store *s, struct kv_seal_key *key,
		      const struct kv_seal_cost *cost, uint32_t *id)
{
	struct slot_edit e = { key, cost, 0 };
	int r = change_row(s, add_slot, &e);

	if (r == 0 && id)
		*id = e.id;
	return r;
}

int kv_store_slot_change(struct kv_store *s, uint32_t id,
			 struct kv_seal_key *key,
			 const struct kv_seal_cost *cost)
{
	struct slot_edit e = { key, cost, id };

	return change_row(s, change_slot, &e);
}

int kv_store_slot_remove(struct kv_store *s, uint32_t id)
{
	struct slot_edit e = { NULL, NULL, id };

	return change_row(s, remove_slot, &e);
}

/* ---- init ------------------------------------------------------------- */

/* Whether the store holds any row at all, expired ones aside. */
static int store_is_empty(struct kv_store *s)
{
	uint8_t end[KV_MAX_READ_KEY];
	struct kv_entries got = { 0 };
	struct kv_range all;

	store_range_to_end(NULL, 0, 1, end, &all);
	int r = store_read_raw(s, &all, 1, &got);
	if (r == 0 && got.n)
		r = -EEXIST;
	kv_entries_free(&got);
	return r;
}

/* A fresh row: store id, generation 1 and one keyslot for key. */
static int first_row(struct seal_keys *keys, struct kv_seal_key *key,
		     const struct kv_seal_cost *cost, struct seal_row *row)
{
	memset(row, 0, sizeof(*row));
	randombytes_buf(row->store_id, sizeof(row->store_id));
	randombytes_buf(keys->master, SEAL_KEY_LEN);
	randombytes_buf(keys->data[0], SEAL_KEY_LEN);
	row->current = 1;
	row->n_gens = 1;
	row->gens[0] = 1;
	int r = seal_ring_close(row, keys->master, keys->data[0], NULL);
	if (r == 0)
		r = make_slot(&row->slots[0], 1, key, cost, row->store_id,
			      keys->master);
	row->n_slots = 1;
	return r;
}

int kv_store_seal_init(struct kv_store *s, struct kv_seal_key *key,
		       const struct kv_seal_cost *cost)
{
	struct kv_sealer *z = NULL;
	struct kv_buf bytes = { 0 };
	struct seal_row row;

	if (s->sealer)
		return -EEXIST;
	if (s->ops->read_only(s->engine))
		return -EROFS;
	int r = store_is_empty(s);
	if (r == 0)
		r = sealer_new(&z);
	if (r == 0)
		r = first_row(z->keys, key, cost, &row);
	if (r == 0)
		r = seal_row_write(&row, &bytes);
	if (r == 0)
		r = s->ops->meta_swap(s->engine, SEAL_ROW_NAME, NULL, 0,
				      bytes.data, bytes.len);
	if (r == -ECANCELED)
		r = -EEXIST; /* another process made it encrypted first */
	if (r == 0)
		r = sealer_adopt(z, bytes.data, bytes.len);
	if (r == 0)
		r = s->ops->secure_delete(s->engine);
	kv_buf_free(&bytes);
	if (r < 0) {
		sealer_free(z);
		return r;
	}
	z->slot_id = 1;
	s->sealer = z;
	memcpy(key->master, z->keys->master, SEAL_KEY_LEN);
	memcpy(key->store_id, row.store_id, KV_SEAL_STORE_ID_LEN);
	key->slot_id = 1;
	key->has_master = true;
	return 0;
}

/* ---- rekey ------------------------------------------------------------ */

/* The keyring re-sealed after its generations were changed in row and
 * keys->data (in the order of row->gens). */
static int close_ring(struct seal_row *row, struct seal_keys *keys)
{
	return seal_ring_close(row, keys->master, &keys->data[0][0], NULL);
}

static int add_generation(struct seal_row *row, struct seal_keys *keys,
			  void *arg)
{
	(void)arg;
	if (row->n_gens > 1)
		return 0; /* an interrupted rekey: go on with it */
	if (row->current == UINT32_MAX)
		return -EOVERFLOW;
	uint32_t gen = row->current + 1;
	row->gens[1] = gen;
	randombytes_buf(keys->data[1], SEAL_KEY_LEN);
	row->n_gens = 2;
	row->current = gen;
	return close_ring(row, keys);
}

static int drop_old_generations(struct seal_row *row, struct seal_keys *keys,
				void *arg)
{
	int i = -1;

	(void)arg;
	for (unsigned j = 0; j < row->n_gens; j++)
		if (row->gens[j] == row->current)
			i = (int)j;
	if (i < 0)
		return -EIO;
	memmove(keys->data[0], keys->data[i], SEAL_KEY_LEN);
	sodium_memzero(keys->data[1],
		       (KV_SEAL_MAX_GENERATIONS - 1) * SEAL_KEY_LEN);
	row->gens[0] = row->current;
	row->n_gens = 1;
	return close_ring(row, keys);
}

int kv_store_rekey_begin(struct kv_store *s, struct kv_rekey *r)
{
	*r = (struct kv_rekey){ 0 };
	int e = s->sealer ? kv_store_sweep(s, NULL) : -EMEDIUMTYPE;
	if (e == 0)
		e = change_row(s, add_generation, NULL);
	if (e == 0) {
		pthread_mutex_lock(&s->sealer->lock);
		r->generation = s->sealer->row.current;
		pthread_mutex_unlock(&s->sealer->lock);
	}
	return e;
}

void kv_rekey_free(struct kv_rekey *r)
{
	kv_buf_free(&r->next);
}

/* One batch as written: checked SETs of re-sealed values. */
struct reseal_batch {
	struct kv_check checks[REKEY_BATCH];
	struct kv_mutation muts[REKEY_BATCH];
	uint8_t *sealed[REKEY_BATCH];
	size_t n;
	size_t bytes;
	struct kv_buf guard;
};

static void batch_free(struct reseal_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->sealed[i]);
	kv_buf_free(&b->guard);
}

/*
 * Add entry e to the batch when it lies under an older generation: open
 * it with that generation's key, seal it under the current one. Values
 * that do not open are counted and left alone. Caller holds the lock.
 */
static int reseal_entry(struct kv_sealer *z, struct kv_entry *e,
			int64_t now, struct reseal_batch *b,
			struct kv_rekey *r)
{
	uint32_t gen;

	if (e->encoding == KV_ENC_BYTES &&
	    seal_generation(e->value, e->value_len, &gen) == 0 &&
	    gen == z->row.current)
		return 0;
	int o = sealer_open_entry(z, e);
	if (o == -EIO || o == -ESTALE) {
		sealer_fail_entry(z, e);
		r->unreadable++;
		return e->value ? 0 : -ENOMEM;
	}
	if (o < 0)
		return o;
	size_t len;
	int rc = sealer_seal(z, e->key, e->key_len, e->encoding, e->value,
			     e->value_len, &b->sealed[b->n], &len);
	if (rc < 0)
		return rc;
	b->checks[b->n] = (struct kv_check){ e->key, e->key_len,
					     e->versionstamp };
	/* The same absolute expiry: the commit runs at now. */
	int64_t expire_in = e->expires_at_ms < 0 ? -1 : e->expires_at_ms - now;
	b->muts[b->n] = (struct kv_mutation){ KV_MUT_SET, e->key, e->key_len,
					      KV_ENC_BYTES, b->sealed[b->n],
					      len,
					      expire_in < 0 ? -1 : expire_in };
	b->bytes += len;
	b->n++;
	return 0;
}

/* Write the batch; when a check fails (another writer), write the others
 * one by one, leaving the changed values to their writers. */
static int write_batch(struct kv_store *s, struct reseal_batch *b,
		       int64_t now, uint64_t *written)
{
	struct kv_meta_guard g = { SEAL_ROW_NAME, b->guard.data, b->guard.len };
	struct kv_atomic all = { b->checks, b->n, b->muts, b->n };
	uint8_t vs[KV_VERSIONSTAMP_LEN];
	int r = s->ops->atomic_write(s->engine, &all, now, &g, vs);

	if (r == 0)
		*written += b->n;
	if (r != -ECANCELED)
		return r;
	for (size_t i = 0; i < b->n; i++) {
		struct kv_atomic one = { &b->checks[i], 1, &b->muts[i], 1 };
		r = s->ops->atomic_write(s->engine, &one, now, &g, vs);
		if (r == 0)
			++*written;
		else if (r != -ECANCELED)
			return r;
	}
	return 0;
}

static int read_batch(struct kv_store *s, struct kv_rekey *r, size_t batch,
		      struct kv_entries *got)
{
	uint8_t end[KV_MAX_READ_KEY];
	struct kv_range range;

	store_range_to_end(r->next.data, r->next.len, (unsigned)batch, end,
			   &range);
	return store_read_raw(s, &range, 1, got);
}

static int reseal_some(struct kv_store *s, struct kv_rekey *r, size_t batch,
		       bool *pass_done, uint64_t *written)
{
	struct kv_sealer *z = s->sealer;
	struct kv_entries got = { 0 };
	struct reseal_batch *b = calloc(1, sizeof(*b));
	int64_t now = store_now_ms();
	int e = b ? read_batch(s, r, batch, &got) : -ENOMEM;
	size_t used = 0;

	if (e == 0) {
		pthread_mutex_lock(&z->lock);
		for (; used < got.n && e == 0 &&
		       b->bytes < REKEY_BATCH_BYTES; used++) {
			r->seen++;
			e = reseal_entry(z, &got.v[used], now, b, r);
		}
		if (e == 0)
			e = kv_buf_append(&b->guard, z->row_bytes.data,
					  z->row_bytes.len);
		pthread_mutex_unlock(&z->lock);
	}
	if (e == 0 && b->n)
		e = write_batch(s, b, now, written);
	if (e == 0 && used)
		e = store_key_plus(got.v[used - 1].key,
				   got.v[used - 1].key_len, 0x00, &r->next);
	*pass_done = e == 0 && used == got.n && got.n < batch;
	if (b)
		batch_free(b);
	free(b);
	kv_entries_free(&got);
	return e;
}

int kv_store_rekey_step(struct kv_store *s, struct kv_rekey *r, size_t batch)
{
	bool pass_done;
	uint64_t written = 0;

	if (!s->sealer)
		return -EMEDIUMTYPE;
	if (!batch || batch > REKEY_BATCH)
		batch = REKEY_BATCH;
	int e = reseal_some(s, r, batch, &pass_done, &written);
	if (e == -ESTALE) /* the keyring changed: read it, redo the batch */
		return sealer_reload(s->sealer, s->engine, s->ops) < 0 ? -EIO
									 : 1;
	if (e < 0)
		return e;
	r->resealed += written;
	r->pass_resealed += written;
	if (!pass_done)
		return 1;
	/* A pass that moved nothing proves nothing is left behind. */
	bool clean = r->pass_resealed == 0;
	r->passes++;
	r->pass_resealed = 0;
	r->next.len = 0;
	if (clean)
		return 0;
	return r->passes == REKEY_MAX_PASSES ? -EAGAIN : 1;
}

int kv_store_rekey_finish(struct kv_store *s, struct kv_rekey *r)
{
	(void)r;
	int e = change_row(s, drop_old_generations, NULL);

	return e < 0 ? e : s->ops->compact(s->engine);
}

/* ---- app key ---------------------------------------------------------- */

int kv_store_app_key(struct kv_store *s, struct kv_buf *out)
{
	struct kv_sealer *z = s->sealer;
	char hex[2 * SEAL_KEY_LEN + 1];

	if (!z)
		return -EMEDIUMTYPE;
	/* Reserved once, so that no copy of a key is left behind by a
	 * growing buffer. */
	size_t need = 128 + (size_t)KV_SEAL_MAX_GENERATIONS * 100;
	int r = kv_buf_reserve(out, need);
	if (r < 0)
		return r;
	char *p = (char *)out->data + out->len;
	char *end = (char *)out->data + out->len + need;
	pthread_mutex_lock(&z->lock);
	sodium_bin2hex(hex, sizeof(hex), z->row.store_id,
		       KV_SEAL_STORE_ID_LEN);
	p += snprintf(p, (size_t)(end - p),
		      "{\"kvfs_app_key\":1,\"store_id\":\"%s\",\"current\":%u,"
		      "\"generations\":[", hex, (unsigned)z->row.current);
	for (unsigned i = 0; i < z->row.n_gens; i++) {
		sodium_bin2hex(hex, sizeof(hex), z->keys->data[i],
			       SEAL_KEY_LEN);
		p += snprintf(p, (size_t)(end - p),
			      "%s{\"id\":%u,\"key\":\"%s\"}", i ? "," : "",
			      (unsigned)z->row.gens[i], hex);
	}
	pthread_mutex_unlock(&z->lock);
	p += snprintf(p, (size_t)(end - p), "]}\n");
	sodium_memzero(hex, sizeof(hex));
	out->len = (size_t)(p - (char *)out->data);
	return 0;
}
