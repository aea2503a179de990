/*
 * keyring.c — the `seal` row of an encrypted store (docs/format.md): its
 * bytes, the keyring of data keys sealed under the master key, and the
 * keyslots that wrap the master key under a passphrase (Argon2id), a key
 * file or a recovery key (keyed BLAKE2b).
 *
 * Everything read from the file is hostile until authenticated: counts
 * and ids are checked while parsing, and a slot's Argon2id cost is checked
 * against a floor and a ceiling before the KDF runs.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "seal_format.h"

static const uint8_t row_magic[8] = "KVFSSEAL";
#define ROW_FORMAT 1
#define ROW_FIXED_LEN 30 /* magic, format, store id, current, n */

static const char ring_label[] = "kvfs.keyring.v1";
static const char slot_label[] = "kvfs.keyslot.v1";
static const char keyfile_label[] = "kvfs.keyfile.v1";
static const char recovery_label[] = "kvfs.recovery.v1";

#define LABEL_LEN(l) (sizeof(l) - 1)

/* INTERACTIVE is the floor; SENSITIVE's memory the ceiling; sixteen
 * passes bound the time a planted slot can cost. */
const struct seal_kdf_bounds seal_kdf_bounds = {
	.ops_min = crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE,
	.ops_max = 16,
	.mem_min = crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE,
	.mem_max = crypto_pwhash_argon2id_MEMLIMIT_SENSITIVE,
};

/* ---- integers ----------------------------------------------------------- */

static void put_be(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t get_be(const uint8_t *p, int bytes)
{
	uint64_t v = 0;

	for (int i = 0; i < bytes; i++)
		v = v << 8 | p[i];
	return v;
}

/* ---- the row's bytes ---------------------------------------------------- */

static size_t ring_len(unsigned n_gens)
{
	return n_gens * SEAL_KEY_LEN + SEAL_TAG_LEN;
}

/* Bytes of the row before the keyring: what the keyring's seal covers. */
static size_t ring_ad_len(unsigned n_gens)
{
	return ROW_FIXED_LEN + 4 * n_gens + SEAL_NONCE_LEN;
}

static void slot_bytes(const struct seal_slot *s, uint8_t out[SEAL_SLOT_LEN])
{
	out[0] = s->kind;
	out[1] = s->flags;
	put_be(out + 2, s->id, 4);
	put_be(out + 6, s->opslimit, 8);
	put_be(out + 14, s->memlimit, 8);
	memcpy(out + 22, s->salt, SEAL_SALT_LEN);
	memcpy(out + 38, s->nonce, SEAL_NONCE_LEN);
	memcpy(out + 62, s->sealed, sizeof(s->sealed));
}

/* The row up to the keyring, into out (ring_ad_len bytes). */
static void row_head(const struct seal_row *row, uint8_t *out)
{
	memcpy(out, row_magic, sizeof(row_magic));
	out[8] = ROW_FORMAT;
	memcpy(out + 9, row->store_id, KV_SEAL_STORE_ID_LEN);
	put_be(out + 25, row->current, 4);
	out[29] = row->n_gens;
	for (unsigned i = 0; i < row->n_gens; i++)
		put_be(out + ROW_FIXED_LEN + 4 * i, row->gens[i], 4);
	memcpy(out + ROW_FIXED_LEN + 4 * row->n_gens, row->ring_nonce,
	       SEAL_NONCE_LEN);
}

static bool gens_valid(const struct seal_row *row)
{
	bool has_current = false;

	if (row->n_gens < 1 || row->n_gens > KV_SEAL_MAX_GENERATIONS)
		return false;
	for (unsigned i = 0; i < row->n_gens; i++) {
		if (row->gens[i] == 0 ||
		    (i && row->gens[i] <= row->gens[i - 1]))
			return false;
		has_current |= row->gens[i] == row->current;
	}
	return has_current;
}

static bool slot_ids_unique(const struct seal_row *row)
{
	for (unsigned i = 0; i < row->n_slots; i++) {
		if (row->slots[i].id == 0)
			return false;
		for (unsigned j = 0; j < i; j++)
			if (row->slots[i].id == row->slots[j].id)
				return false;
	}
	return true;
}

static bool row_valid(const struct seal_row *row)
{
	return gens_valid(row) && row->n_slots >= 1 &&
	       row->n_slots <= KV_SEAL_MAX_SLOTS && slot_ids_unique(row);
}

int seal_row_write(const struct seal_row *row, struct kv_buf *out)
{
	if (!row_valid(row))
		return -EINVAL;
	size_t head = ring_ad_len(row->n_gens);
	size_t total = head + ring_len(row->n_gens) + 1 +
		       (size_t)row->n_slots * SEAL_SLOT_LEN;
	int r = kv_buf_reserve(out, total);
	if (r < 0)
		return r;
	uint8_t *p = out->data + out->len;
	row_head(row, p);
	memcpy(p + head, row->ring, ring_len(row->n_gens));
	p += head + ring_len(row->n_gens);
	*p++ = row->n_slots;
	for (unsigned i = 0; i < row->n_slots; i++, p += SEAL_SLOT_LEN)
		slot_bytes(&row->slots[i], p);
	out->len += total;
	return 0;
}

static void slot_parse(const uint8_t *p, struct seal_slot *s)
{
	s->kind = p[0];
	s->flags = p[1];
	s->id = (uint32_t)get_be(p + 2, 4);
	s->opslimit = get_be(p + 6, 8);
	s->memlimit = get_be(p + 14, 8);
	memcpy(s->salt, p + 22, SEAL_SALT_LEN);
	memcpy(s->nonce, p + 38, SEAL_NONCE_LEN);
	memcpy(s->sealed, p + 62, sizeof(s->sealed));
}

int seal_row_parse(const uint8_t *bytes, size_t len, struct seal_row *out)
{
	memset(out, 0, sizeof(*out));
	if (len < ROW_FIXED_LEN || memcmp(bytes, row_magic, 8) != 0 ||
	    bytes[8] != ROW_FORMAT)
		return -EIO;
	memcpy(out->store_id, bytes + 9, KV_SEAL_STORE_ID_LEN);
	out->current = (uint32_t)get_be(bytes + 25, 4);
	out->n_gens = bytes[29];
	if (out->n_gens < 1 || out->n_gens > KV_SEAL_MAX_GENERATIONS)
		return -EIO;
	size_t head = ring_ad_len(out->n_gens);
	size_t slots_at = head + ring_len(out->n_gens) + 1;
	if (len < slots_at)
		return -EIO;
	for (unsigned i = 0; i < out->n_gens; i++)
		out->gens[i] =
			(uint32_t)get_be(bytes + ROW_FIXED_LEN + 4 * i, 4);
	memcpy(out->ring_nonce, bytes + head - SEAL_NONCE_LEN, SEAL_NONCE_LEN);
	memcpy(out->ring, bytes + head, ring_len(out->n_gens));
	out->n_slots = bytes[slots_at - 1];
	if (out->n_slots < 1 || out->n_slots > KV_SEAL_MAX_SLOTS ||
	    len != slots_at + (size_t)out->n_slots * SEAL_SLOT_LEN)
		return -EIO;
	for (unsigned i = 0; i < out->n_slots; i++)
		slot_parse(bytes + slots_at + i * SEAL_SLOT_LEN,
			   &out->slots[i]);
	return row_valid(out) ? 0 : -EIO;
}

/* ---- the keyring ------------------------------------------------------ */

static int ring_ad(const struct seal_row *row, uint8_t *ad, size_t *ad_len)
{
	if (!gens_valid(row))
		return -EINVAL;
	memcpy(ad, ring_label, LABEL_LEN(ring_label));
	row_head(row, ad + LABEL_LEN(ring_label));
	*ad_len = LABEL_LEN(ring_label) + ring_ad_len(row->n_gens);
	return 0;
}

#define RING_AD_MAX \
	(LABEL_LEN(ring_label) + ROW_FIXED_LEN + \
	 4 * KV_SEAL_MAX_GENERATIONS + SEAL_NONCE_LEN)

int seal_ring_open(const struct seal_row *row,
		   const uint8_t master[SEAL_KEY_LEN], uint8_t *data_keys)
{
	uint8_t ad[RING_AD_MAX];
	size_t ad_len;

	if (ring_ad(row, ad, &ad_len) < 0)
		return -EIO;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		    data_keys, NULL, NULL, row->ring, ring_len(row->n_gens),
		    ad, ad_len, row->ring_nonce, master) != 0)
		return -EIO;
	return 0;
}

int seal_ring_close(struct seal_row *row, const uint8_t master[SEAL_KEY_LEN],
		    const uint8_t *data_keys,
		    const uint8_t nonce[SEAL_NONCE_LEN])
{
	uint8_t ad[RING_AD_MAX];
	size_t ad_len;

	if (nonce)
		memcpy(row->ring_nonce, nonce, SEAL_NONCE_LEN);
	else
		randombytes_buf(row->ring_nonce, SEAL_NONCE_LEN);
	int r = ring_ad(row, ad, &ad_len);
	if (r < 0)
		return r;
	crypto_aead_xchacha20poly1305_ietf_encrypt(
		row->ring, NULL, data_keys,
		(unsigned long long)row->n_gens * SEAL_KEY_LEN, ad, ad_len,
		NULL, row->ring_nonce, master);
	return 0;
}

/* ---- keyslots --------------------------------------------------------- */

static bool cost_within(uint64_t ops, uint64_t mem,
			const struct seal_kdf_bounds *b)
{
	return ops >= b->ops_min && ops <= b->ops_max && mem >= b->mem_min &&
	       mem <= b->mem_max;
}

/* BLAKE2b-256 keyed by key, over label || salt: the key of a key-file or
 * recovery slot. */
static void keyed_slot_key(const uint8_t *key, size_t key_len,
			   const char *label, size_t label_len,
			   const uint8_t salt[SEAL_SALT_LEN],
			   uint8_t out[SEAL_KEY_LEN])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, key, key_len, SEAL_KEY_LEN);
	crypto_generichash_update(&st, (const uint8_t *)label, label_len);
	crypto_generichash_update(&st, salt, SEAL_SALT_LEN);
	crypto_generichash_final(&st, out, SEAL_KEY_LEN);
	sodium_memzero(&st, sizeof(st));
}

/* The slot key a secret gives for this slot (cost already checked). */
static int slot_key(const struct seal_slot *slot,
		    const struct seal_secret *secret,
		    uint8_t out[SEAL_KEY_LEN])
{
	uint8_t digest[crypto_generichash_BYTES_MAX];

	switch (slot->kind) {
	case KV_SLOT_PASSPHRASE:
		if (crypto_pwhash(out, SEAL_KEY_LEN,
				  (const char *)secret->bytes, secret->len,
				  slot->salt, slot->opslimit,
				  (size_t)slot->memlimit,
				  crypto_pwhash_ALG_ARGON2ID13) != 0)
			return -ENOMEM;
		return 0;
	case KV_SLOT_KEY_FILE:
		crypto_generichash(digest, sizeof(digest), secret->bytes,
				   secret->len, NULL, 0);
		keyed_slot_key(digest, sizeof(digest), keyfile_label,
			       LABEL_LEN(keyfile_label), slot->salt, out);
		sodium_memzero(digest, sizeof(digest));
		return 0;
	case KV_SLOT_RECOVERY:
		if (secret->len != SEAL_KEY_LEN)
			return -EINVAL;
		keyed_slot_key(secret->bytes, secret->len, recovery_label,
			       LABEL_LEN(recovery_label), slot->salt, out);
		return 0;
	}
	return -EIO;
}

static void slot_ad(const struct seal_slot *slot,
		    const uint8_t store_id[KV_SEAL_STORE_ID_LEN],
		    uint8_t *ad, size_t *ad_len)
{
	uint8_t bytes[SEAL_SLOT_LEN];

	slot_bytes(slot, bytes);
	memcpy(ad, slot_label, LABEL_LEN(slot_label));
	memcpy(ad + LABEL_LEN(slot_label), store_id, KV_SEAL_STORE_ID_LEN);
	memcpy(ad + LABEL_LEN(slot_label) + KV_SEAL_STORE_ID_LEN, bytes,
	       SEAL_SLOT_AD_LEN);
	*ad_len = LABEL_LEN(slot_label) + KV_SEAL_STORE_ID_LEN +
		  SEAL_SLOT_AD_LEN;
}

#define SLOT_AD_MAX \
	(LABEL_LEN(slot_label) + KV_SEAL_STORE_ID_LEN + SEAL_SLOT_AD_LEN)

/* A slot's own shape: a known kind, no flags, and a cost only where it
 * has one. */
static bool slot_well_formed(const struct seal_slot *slot)
{
	if (slot->flags)
		return false;
	switch (slot->kind) {
	case KV_SLOT_PASSPHRASE:
		return true;
	case KV_SLOT_KEY_FILE:
	case KV_SLOT_RECOVERY:
		return slot->opslimit == 0 && slot->memlimit == 0;
	}
	return false;
}

int seal_slot_make(struct seal_slot *slot, uint8_t kind, uint32_t id,
		   uint64_t opslimit, uint64_t memlimit,
		   const uint8_t store_id[KV_SEAL_STORE_ID_LEN],
		   const struct seal_secret *secret,
		   const uint8_t master[SEAL_KEY_LEN],
		   const struct seal_kdf_bounds *bounds,
		   const uint8_t salt[SEAL_SALT_LEN],
		   const uint8_t nonce[SEAL_NONCE_LEN])
{
	uint8_t key[SEAL_KEY_LEN], ad[SLOT_AD_MAX];
	size_t ad_len;

	*slot = (struct seal_slot){ .kind = kind, .id = id,
				    .opslimit = opslimit,
				    .memlimit = memlimit };
	if (id == 0 || !slot_well_formed(slot) ||
	    (kind == KV_SLOT_PASSPHRASE &&
	     !cost_within(opslimit, memlimit, bounds)))
		return -EINVAL;
	if (salt)
		memcpy(slot->salt, salt, SEAL_SALT_LEN);
	else
		randombytes_buf(slot->salt, SEAL_SALT_LEN);
	if (nonce)
		memcpy(slot->nonce, nonce, SEAL_NONCE_LEN);
	else
		randombytes_buf(slot->nonce, SEAL_NONCE_LEN);
	int r = slot_key(slot, secret, key);
	if (r == 0) {
		slot_ad(slot, store_id, ad, &ad_len);
		crypto_aead_xchacha20poly1305_ietf_encrypt(
			slot->sealed, NULL, master, SEAL_KEY_LEN, ad, ad_len,
			NULL, slot->nonce, key);
	}
	sodium_memzero(key, sizeof(key));
	return r;
}

int seal_slot_open(const struct seal_slot *slot,
		   const uint8_t store_id[KV_SEAL_STORE_ID_LEN],
		   const struct seal_secret *secret,
		   const struct seal_kdf_bounds *bounds,
		   uint8_t master[SEAL_KEY_LEN])
{
	uint8_t key[SEAL_KEY_LEN], ad[SLOT_AD_MAX];
	size_t ad_len;

	if (!slot_well_formed(slot))
		return -EIO;
	if (slot->kind == KV_SLOT_PASSPHRASE &&
	    !cost_within(slot->opslimit, slot->memlimit, bounds))
		return -ERANGE;
	int r = slot_key(slot, secret, key);
	if (r == -EINVAL)
		r = -EKEYREJECTED; /* a secret this kind cannot take */
	if (r == 0) {
		slot_ad(slot, store_id, ad, &ad_len);
		if (crypto_aead_xchacha20poly1305_ietf_decrypt(
			    master, NULL, NULL, slot->sealed,
			    sizeof(slot->sealed), ad, ad_len, slot->nonce,
			    key) != 0)
			r = -EKEYREJECTED;
	}
	sodium_memzero(key, sizeof(key));
	return r;
}

/* ---- recovery keys: "KVFS-" and base32 in groups of four -------------- */

static const char base32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
#define RECOVERY_PREFIX "KVFS"
#define RECOVERY_CHARS 52 /* ceil(256 / 5) */

void seal_recovery_text(const uint8_t bytes[SEAL_KEY_LEN],
			char text[KV_SEAL_RECOVERY_TEXT])
{
	char *p = text;
	unsigned acc = 0, bits = 0;
	size_t in = 0;

	memcpy(p, RECOVERY_PREFIX, 4);
	p += 4;
	for (int c = 0; c < RECOVERY_CHARS; c++) {
		if (c % 4 == 0)
			*p++ = '-';
		if (bits < 5) {
			acc = (acc << 8 | (in < SEAL_KEY_LEN ? bytes[in] : 0)) &
			      0xffff;
			in++;
			bits += 8;
		}
		*p++ = base32[(acc >> (bits - 5)) & 31];
		bits -= 5;
	}
	*p = '\0';
}

int seal_recovery_parse(const char *text, size_t len,
			uint8_t bytes[SEAL_KEY_LEN])
{
	char chars[RECOVERY_CHARS + 4];
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		char c = (char)toupper((unsigned char)text[i]);
		if (c == '-' || c == ' ')
			continue;
		if (n == sizeof(chars))
			return -EINVAL;
		chars[n++] = c;
	}
	if (n != sizeof(chars) || memcmp(chars, RECOVERY_PREFIX, 4) != 0)
		return -EINVAL;
	unsigned acc = 0, bits = 0;
	size_t out = 0;
	for (size_t i = 4; i < n; i++) {
		const char *at = memchr(base32, chars[i], 32);
		if (!at)
			return -EINVAL;
		acc = (acc << 5 | (unsigned)(at - base32)) & 0xffff;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			if (out < SEAL_KEY_LEN)
				bytes[out++] = (uint8_t)(acc >> bits);
		}
	}
	/* 52 characters carry 260 bits: the last 4 must be zero. */
	int r = out == SEAL_KEY_LEN && (acc & ((1u << bits) - 1)) == 0
			? 0 : -EINVAL;
	sodium_memzero(chars, sizeof(chars));
	return r;
}
