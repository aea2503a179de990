/*
 * test_seal.c — encrypted stores (docs/format.md): known answers that
 * freeze the format (computed without libsodium by seal_vectors.py), the
 * golden fixture, tampering of every kind, and the store's behaviour with
 * keys: unlocking, sealing through every read and commit, sum/min/max,
 * keyslot changes and rekeying.
 *
 * Known answers for passphrase slots use libsodium's minimum Argon2id cost
 * through test_bounds: seal_slot_make/open take their bounds as a
 * parameter, and only tests pass any but seal_kdf_bounds. Store-level
 * tests use key files, or passphrases at the floor cost (INTERACTIVE).
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "kv_seal.h"
#include "kv_store.h"
#include "seal_format.h"
#include "support.h"

static const struct seal_kdf_bounds test_bounds = {
	.ops_min = crypto_pwhash_argon2id_OPSLIMIT_MIN,
	.ops_max = 16,
	.mem_min = crypto_pwhash_argon2id_MEMLIMIT_MIN,
	.mem_max = crypto_pwhash_argon2id_MEMLIMIT_SENSITIVE,
};

static const struct kv_seal_cost floor_cost = {
	crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE,
	crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE,
};

/* ---- the known answers (seal_vectors.py) ------------------------------ */

static const char kat_value_key[] =
	"175811e951ca38bb8d6fcb0f70686979a8e9de1c0ea019f1885e2269ac883368";
static const char kat_envelope[] =
	"010000000007404142434445464748494a4b4c4d4e4f5051525354555657fcbad899"
	"79ce26503b23d87db83171ac094eb8cd7d509428c178989d1f";
static const char kat_slot_passphrase[] =
	"01000000000100000000000000010000000000002000101112131415161718191a1b"
	"1c1d1e1f202122232425262728292a2b2c2d2e2f30313233343536379301c8213339"
	"de042042a72f81f794b8dd3ca7185748e9caaa1dca3bb9897ba7d0221dce7a7e68fd"
	"b4f6c828bb279b3b";
static const char kat_slot_key_file[] =
	"02000000000200000000000000000000000000000000505152535455565758595a5b"
	"5c5d5e5f606162636465666768696a6b6c6d6e6f7071727374757677e44d0326ca57"
	"cc7be32862d1a9816d37d31b345990d92b220f825372a08bd0b3cebf1bee569fb94e"
	"b9bfa3f1849c849c";
static const char kat_recovery_text[] =
	"KVFS-4DQ6-FY7E-4XTO-P2HJ-5LV6-Z3PO-57YP-D4XT-6T27-N57Y-7H5P-X7H5-737Q";
static const char kat_slot_recovery[] =
	"03000000000300000000000000000000000000000000707172737475767778797a7b"
	"7c7d7e7f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a78d7a23561734"
	"474d1b8109fc414ca9c3675a70fead37283741815fe1658598f3d9ef0fb3bccefe6f"
	"f053d5abbcbd990a";
static const char kat_row_head[] =
	"4b5646535345414c01a0a1a2a3a4a5a6a7a8a9aaabacadaeaf000000070100000007"
	"c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7f41a8e1d2cb3d113beeb"
	"0dfbc5abfd7f8acf1a0cdd03283dd0a5880cb1757709a3a71b5c706fab2ee2115434"
	"b9f4486503";

#define PASSPHRASE "correct horse battery staple"

static void seq(uint8_t *out, uint8_t start, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(start + i);
}

static char *hex_of(const uint8_t *p, size_t len)
{
	char *h = malloc(2 * len + 1);
	ck_assert_ptr_nonnull(h);
	sodium_bin2hex(h, 2 * len + 1, p, len);
	return h;
}

static void assert_hex(const uint8_t *p, size_t len, const char *want)
{
	char *h = hex_of(p, len);
	ck_assert_str_eq(h, want);
	free(h);
}

/* Fixed inputs: docs/format.md's example store. */
struct kat {
	uint8_t store_id[KV_SEAL_STORE_ID_LEN];
	uint8_t data_key[SEAL_KEY_LEN];
	uint8_t master[SEAL_KEY_LEN];
	uint8_t value_key[SEAL_KEY_LEN];
	uint8_t nonce[SEAL_NONCE_LEN];
};

static const uint8_t kat_key[] = "\x02users\x00\x02" "alice\x00";
#define KAT_KEY_LEN (sizeof(kat_key) - 1)
#define KAT_GEN 7

static struct kat kat_inputs(void)
{
	struct kat k;
	ck_assert_int_ge(sodium_init(), 0);
	seq(k.store_id, 0xa0, sizeof(k.store_id));
	seq(k.data_key, 0x00, sizeof(k.data_key));
	seq(k.master, 0x80, sizeof(k.master));
	seq(k.nonce, 0x40, sizeof(k.nonce));
	seal_value_key(KAT_GEN, k.data_key, k.value_key);
	return k;
}

/* The known envelope, sealed again by the code under test. */
static size_t kat_seal(const struct kat *k, uint8_t *out)
{
	struct seal_owner owner = { k->store_id, kat_key, KAT_KEY_LEN };
	ck_assert_int_eq(seal_value(k->value_key, KAT_GEN, &owner,
				    KV_ENC_BYTES,
				    (const uint8_t *)"secret value", 12,
				    k->nonce, out),
			 0);
	return 12 + KV_SEAL_OVERHEAD;
}

static int kat_open(const struct kat *k, const uint8_t *env, size_t len,
		    const uint8_t *store_id, const uint8_t *key,
		    size_t key_len)
{
	struct seal_owner owner = { store_id, key, key_len };
	enum kv_encoding enc;
	uint8_t *v = NULL;
	size_t vlen;
	int r = seal_open(k->value_key, &owner, env, len, &enc, &v, &vlen);
	free(v);
	return r;
}

START_TEST(value_key_of_a_fixed_data_key_and_generation_is_frozen)
{
	struct kat k = kat_inputs();
	assert_hex(k.value_key, SEAL_KEY_LEN, kat_value_key);
}
END_TEST

START_TEST(envelope_of_fixed_key_nonce_store_and_value_is_frozen)
{
	struct kat k = kat_inputs();
	uint8_t env[64];
	size_t len = kat_seal(&k, env);
	assert_hex(env, len, kat_envelope);
}
END_TEST

START_TEST(envelope_opens_to_its_value_and_inner_encoding)
{
	struct kat k = kat_inputs();
	uint8_t env[64];
	size_t len = kat_seal(&k, env);
	struct seal_owner owner = { k.store_id, kat_key, KAT_KEY_LEN };
	enum kv_encoding enc;
	uint8_t *v;
	size_t vlen;
	uint32_t gen;
	ck_assert_int_eq(seal_open(k.value_key, &owner, env, len, &enc, &v,
				   &vlen),
			 0);
	ck_assert_int_eq(enc, KV_ENC_BYTES);
	ck_assert_uint_eq(vlen, 12);
	ck_assert_mem_eq(v, "secret value", 12);
	free(v);
	ck_assert_int_eq(seal_generation(env, len, &gen), 0);
	ck_assert_uint_eq(gen, KAT_GEN);
}
END_TEST

START_TEST(sealing_twice_draws_fresh_nonces)
{
	struct kat k = kat_inputs();
	struct seal_owner owner = { k.store_id, kat_key, KAT_KEY_LEN };
	uint8_t a[KV_SEAL_OVERHEAD + 1], b[KV_SEAL_OVERHEAD + 1];
	ck_assert_int_eq(seal_value(k.value_key, 1, &owner, KV_ENC_BYTES,
				    (const uint8_t *)"x", 1, NULL, a),
			 0);
	ck_assert_int_eq(seal_value(k.value_key, 1, &owner, KV_ENC_BYTES,
				    (const uint8_t *)"x", 1, NULL, b),
			 0);
	ck_assert_mem_ne(a + 6, b + 6, SEAL_NONCE_LEN);
}
END_TEST

static void slot_hex_eq(const struct seal_slot *slot, const char *want)
{
	struct seal_row row = { 0 };
	struct kv_buf out = { 0 };
	struct kat k = kat_inputs();
	/* A slot's bytes are its row's last SEAL_SLOT_LEN. */
	memcpy(row.store_id, k.store_id, sizeof(row.store_id));
	row.current = 1;
	row.n_gens = 1;
	row.gens[0] = 1;
	row.n_slots = 1;
	row.slots[0] = *slot;
	ck_assert_int_eq(seal_row_write(&row, &out), 0);
	assert_hex(out.data + out.len - SEAL_SLOT_LEN, SEAL_SLOT_LEN, want);
	kv_buf_free(&out);
}

static struct seal_slot kat_passphrase_slot(const struct kat *k)
{
	struct seal_slot slot;
	uint8_t salt[SEAL_SALT_LEN], nonce[SEAL_NONCE_LEN];
	struct seal_secret pw = { (const uint8_t *)PASSPHRASE,
				  strlen(PASSPHRASE) };
	seq(salt, 0x10, sizeof(salt));
	seq(nonce, 0x20, sizeof(nonce));
	ck_assert_int_eq(seal_slot_make(&slot, KV_SLOT_PASSPHRASE, 1,
					crypto_pwhash_argon2id_OPSLIMIT_MIN,
					crypto_pwhash_argon2id_MEMLIMIT_MIN,
					k->store_id, &pw, k->master,
					&test_bounds, salt, nonce),
			 0);
	return slot;
}

static struct seal_slot kat_key_file_slot(const struct kat *k)
{
	struct seal_slot slot;
	uint8_t file[40], salt[SEAL_SALT_LEN], nonce[SEAL_NONCE_LEN];
	seq(file, 0x30, sizeof(file));
	seq(salt, 0x50, sizeof(salt));
	seq(nonce, 0x60, sizeof(nonce));
	struct seal_secret secret = { file, sizeof(file) };
	ck_assert_int_eq(seal_slot_make(&slot, KV_SLOT_KEY_FILE, 2, 0, 0,
					k->store_id, &secret, k->master,
					&test_bounds, salt, nonce),
			 0);
	return slot;
}

static struct seal_slot kat_recovery_slot(const struct kat *k)
{
	struct seal_slot slot;
	uint8_t rec[SEAL_KEY_LEN], salt[SEAL_SALT_LEN], nonce[SEAL_NONCE_LEN];
	seq(rec, 0xe0, sizeof(rec));
	seq(salt, 0x70, sizeof(salt));
	seq(nonce, 0x90, sizeof(nonce));
	struct seal_secret secret = { rec, sizeof(rec) };
	ck_assert_int_eq(seal_slot_make(&slot, KV_SLOT_RECOVERY, 3, 0, 0,
					k->store_id, &secret, k->master,
					&test_bounds, salt, nonce),
			 0);
	return slot;
}

START_TEST(passphrase_slot_of_fixed_parameters_is_frozen)
{
	struct kat k = kat_inputs();
	struct seal_slot slot = kat_passphrase_slot(&k);
	slot_hex_eq(&slot, kat_slot_passphrase);
	uint8_t master[SEAL_KEY_LEN];
	struct seal_secret pw = { (const uint8_t *)PASSPHRASE,
				  strlen(PASSPHRASE) };
	ck_assert_int_eq(seal_slot_open(&slot, k.store_id, &pw, &test_bounds,
					master),
			 0);
	ck_assert_mem_eq(master, k.master, SEAL_KEY_LEN);
}
END_TEST

START_TEST(key_file_slot_of_fixed_parameters_is_frozen)
{
	struct kat k = kat_inputs();
	struct seal_slot slot = kat_key_file_slot(&k);
	slot_hex_eq(&slot, kat_slot_key_file);
}
END_TEST

START_TEST(recovery_key_text_and_slot_are_frozen)
{
	struct kat k = kat_inputs();
	uint8_t rec[SEAL_KEY_LEN], back[SEAL_KEY_LEN];
	char text[KV_SEAL_RECOVERY_TEXT];
	seq(rec, 0xe0, sizeof(rec));
	seal_recovery_text(rec, text);
	ck_assert_str_eq(text, kat_recovery_text);
	struct seal_slot slot = kat_recovery_slot(&k);
	slot_hex_eq(&slot, kat_slot_recovery);
	ck_assert_int_eq(seal_recovery_parse(text, strlen(text), back), 0);
	ck_assert_mem_eq(back, rec, SEAL_KEY_LEN);
}
END_TEST

START_TEST(recovery_key_parsing_ignores_case_spaces_and_dashes_only)
{
	uint8_t back[SEAL_KEY_LEN];
	char text[128];
	snprintf(text, sizeof(text), "%s", kat_recovery_text);
	for (char *p = text; *p; p++)
		*p = (char)(*p == '-' ? ' ' : (*p | 0x20));
	ck_assert_int_eq(seal_recovery_parse(text, strlen(text), back), 0);
	ck_assert_int_eq(seal_recovery_parse("KVFS-ABCD", 9, back), -EINVAL);
	snprintf(text, sizeof(text), "%s", kat_recovery_text);
	text[strlen(text) - 1] = 'R'; /* non-zero trailing bits */
	ck_assert_int_eq(seal_recovery_parse(text, strlen(text), back),
			 -EINVAL);
	text[strlen(text) - 1] = '1'; /* not base32 */
	ck_assert_int_eq(seal_recovery_parse(text, strlen(text), back),
			 -EINVAL);
}
END_TEST

/* The example row: generation 7, the keyring under the fixed nonce, and
 * the three known slots. */
static struct seal_row kat_row(const struct kat *k)
{
	struct seal_row row = { 0 };
	uint8_t nonce[SEAL_NONCE_LEN];
	memcpy(row.store_id, k->store_id, sizeof(row.store_id));
	row.current = KAT_GEN;
	row.n_gens = 1;
	row.gens[0] = KAT_GEN;
	seq(nonce, 0xc0, sizeof(nonce));
	ck_assert_int_eq(seal_ring_close(&row, k->master, k->data_key, nonce),
			 0);
	row.slots[0] = kat_passphrase_slot(k);
	row.slots[1] = kat_key_file_slot(k);
	row.slots[2] = kat_recovery_slot(k);
	row.n_slots = 3;
	return row;
}

START_TEST(seal_row_with_keyring_and_three_slots_is_frozen)
{
	struct kat k = kat_inputs();
	struct seal_row row = kat_row(&k), back;
	struct kv_buf out = { 0 };
	ck_assert_int_eq(seal_row_write(&row, &out), 0);
	size_t head = strlen(kat_row_head) / 2;
	ck_assert_uint_eq(out.len, head + 3 * SEAL_SLOT_LEN);
	assert_hex(out.data, head, kat_row_head);
	assert_hex(out.data + head, SEAL_SLOT_LEN, kat_slot_passphrase);
	ck_assert_int_eq(seal_row_parse(out.data, out.len, &back), 0);
	uint8_t keys[KV_SEAL_MAX_GENERATIONS * SEAL_KEY_LEN];
	ck_assert_int_eq(seal_ring_open(&back, k.master, keys), 0);
	ck_assert_mem_eq(keys, k.data_key, SEAL_KEY_LEN);
	kv_buf_free(&out);
}
END_TEST

/* ---- tampering with envelopes ----------------------------------------- */

START_TEST(every_bit_flip_of_an_envelope_fails_to_open)
{
	struct kat k = kat_inputs();
	uint8_t env[64];
	size_t len = kat_seal(&k, env);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			env[i] ^= (uint8_t)(1 << bit);
			ck_assert_int_eq(kat_open(&k, env, len, k.store_id,
						  kat_key, KAT_KEY_LEN),
					 -EIO);
			env[i] ^= (uint8_t)(1 << bit);
		}
	}
	ck_assert_int_eq(kat_open(&k, env, len, k.store_id, kat_key,
				  KAT_KEY_LEN),
			 0);
}
END_TEST

START_TEST(every_truncation_and_an_appended_byte_fail_to_open)
{
	struct kat k = kat_inputs();
	uint8_t env[65];
	size_t len = kat_seal(&k, env);
	for (size_t n = 0; n < len; n++)
		ck_assert_int_eq(kat_open(&k, env, n, k.store_id, kat_key,
					  KAT_KEY_LEN),
				 -EIO);
	env[len] = 0;
	ck_assert_int_eq(kat_open(&k, env, len + 1, k.store_id, kat_key,
				  KAT_KEY_LEN),
			 -EIO);
}
END_TEST

START_TEST(all_zero_inputs_fail_to_open)
{
	struct kat k = kat_inputs();
	uint8_t zeros[128] = { 0 }, env[64];
	uint8_t zero_key[SEAL_KEY_LEN] = { 0 };
	size_t len = kat_seal(&k, env);
	for (size_t n = 0; n <= sizeof(zeros); n++)
		ck_assert_int_eq(kat_open(&k, zeros, n, k.store_id, kat_key,
					  KAT_KEY_LEN),
				 -EIO);
	/* an all-zero value key, store id, key */
	struct seal_owner owner = { zeros, kat_key, KAT_KEY_LEN };
	enum kv_encoding enc;
	uint8_t *v;
	size_t vlen;
	ck_assert_int_eq(seal_open(zero_key, &owner, env, len, &enc, &v,
				   &vlen),
			 -EIO);
	ck_assert_int_eq(kat_open(&k, env, len, zeros, kat_key, KAT_KEY_LEN),
			 -EIO);
	ck_assert_int_eq(kat_open(&k, env, len, k.store_id, zeros,
				  KAT_KEY_LEN),
			 -EIO);
	ck_assert_int_eq(kat_open(&k, env, len, k.store_id, kat_key, 0), -EIO);
}
END_TEST

START_TEST(an_envelope_moved_to_another_key_store_or_generation_fails)
{
	struct kat k = kat_inputs();
	uint8_t env[64], other_store[KV_SEAL_STORE_ID_LEN];
	size_t len = kat_seal(&k, env);
	static const uint8_t other_key[] = "\x02users\x00\x02" "bob\x00";
	ck_assert_int_eq(kat_open(&k, env, len, k.store_id, other_key,
				  sizeof(other_key) - 1),
			 -EIO);
	/* a key that is a prefix of the right one */
	ck_assert_int_eq(kat_open(&k, env, len, k.store_id, kat_key,
				  KAT_KEY_LEN - 1),
			 -EIO);
	memcpy(other_store, k.store_id, sizeof(other_store));
	other_store[15] ^= 1;
	ck_assert_int_eq(kat_open(&k, env, len, other_store, kat_key,
				  KAT_KEY_LEN),
			 -EIO);
	/* the generation id rewritten, and the other generation's key */
	struct kat k8 = k;
	seal_value_key(KAT_GEN + 1, k.data_key, k8.value_key);
	env[5] = KAT_GEN + 1;
	ck_assert_int_eq(kat_open(&k8, env, len, k.store_id, kat_key,
				  KAT_KEY_LEN),
			 -EIO);
	env[5] = KAT_GEN;
	ck_assert_int_eq(kat_open(&k8, env, len, k.store_id, kat_key,
				  KAT_KEY_LEN),
			 -EIO);
}
END_TEST

START_TEST(edited_flags_format_or_generation_zero_are_no_envelope)
{
	struct kat k = kat_inputs();
	uint8_t env[64];
	uint32_t gen;
	size_t len = kat_seal(&k, env);
	env[1] = 1;
	ck_assert_int_eq(seal_generation(env, len, &gen), -EIO);
	env[1] = 0;
	env[0] = 2;
	ck_assert_int_eq(seal_generation(env, len, &gen), -EIO);
	env[0] = 1;
	memset(env + 2, 0, 4);
	ck_assert_int_eq(seal_generation(env, len, &gen), -EIO);
}
END_TEST

/* ---- tampering with slots and rows ----------------------------------- */

START_TEST(a_downgraded_slot_is_refused)
{
	struct kat k = kat_inputs();
	struct seal_slot slot = kat_passphrase_slot(&k), bad;
	uint8_t master[SEAL_KEY_LEN];
	struct seal_secret pw = { (const uint8_t *)PASSPHRASE,
				  strlen(PASSPHRASE) };
	/* A cost edited within the bounds: the slot's seal covers it. */
	bad = slot;
	bad.memlimit = 2 * slot.memlimit;
	ck_assert_int_eq(seal_slot_open(&bad, k.store_id, &pw, &test_bounds,
					master),
			 -EKEYREJECTED);
	/* Below the store's floor, or above its ceiling: never run. */
	ck_assert_int_eq(seal_slot_open(&slot, k.store_id, &pw,
					&seal_kdf_bounds, master),
			 -ERANGE);
	bad = slot;
	bad.opslimit = 1000000;
	ck_assert_int_eq(seal_slot_open(&bad, k.store_id, &pw, &test_bounds,
					master),
			 -ERANGE);
	bad = slot;
	bad.memlimit = (uint64_t)1 << 40;
	ck_assert_int_eq(seal_slot_open(&bad, k.store_id, &pw, &test_bounds,
					master),
			 -ERANGE);
	/* A key-file slot made to look like a passphrase slot. */
	bad = kat_key_file_slot(&k);
	bad.kind = KV_SLOT_PASSPHRASE;
	ck_assert_int_eq(seal_slot_open(&bad, k.store_id, &pw, &test_bounds,
					master),
			 -ERANGE);
}
END_TEST

START_TEST(a_wrong_passphrase_or_key_file_opens_no_slot)
{
	struct kat k = kat_inputs();
	struct seal_slot slot = kat_passphrase_slot(&k);
	struct seal_slot kf = kat_key_file_slot(&k);
	uint8_t master[SEAL_KEY_LEN], file[40];
	struct seal_secret pw = { (const uint8_t *)"correct horse", 13 };
	ck_assert_int_eq(seal_slot_open(&slot, k.store_id, &pw, &test_bounds,
					master),
			 -EKEYREJECTED);
	seq(file, 0x30, sizeof(file));
	file[39] ^= 1;
	struct seal_secret f = { file, sizeof(file) };
	ck_assert_int_eq(seal_slot_open(&kf, k.store_id, &f, &test_bounds,
					master),
			 -EKEYREJECTED);
	/* the right key file, the slot moved to another store */
	file[39] ^= 1;
	uint8_t other[KV_SEAL_STORE_ID_LEN] = { 0 };
	ck_assert_int_eq(seal_slot_open(&kf, other, &f, &test_bounds, master),
			 -EKEYREJECTED);
}
END_TEST

START_TEST(every_bit_flip_of_a_seal_row_fails_to_parse_or_open)
{
	struct kat k = kat_inputs();
	struct seal_row row = kat_row(&k), back;
	struct kv_buf out = { 0 };
	uint8_t keys[KV_SEAL_MAX_GENERATIONS * SEAL_KEY_LEN];
	uint8_t file[40], master[SEAL_KEY_LEN];
	seq(file, 0x30, sizeof(file));
	struct seal_secret f = { file, sizeof(file) };
	ck_assert_int_eq(seal_row_write(&row, &out), 0);
	for (size_t i = 0; i < out.len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			out.data[i] ^= (uint8_t)(1 << bit);
			bool opens = seal_row_parse(out.data, out.len,
						    &back) == 0 &&
				     seal_slot_open(&back.slots[1],
						    back.store_id, &f,
						    &test_bounds, master) == 0 &&
				     seal_ring_open(&back, master, keys) == 0;
			/* Only a flip inside another slot may leave the key
			 * file's way in intact. */
			bool other_slot = i >= out.len - 3 * SEAL_SLOT_LEN &&
					  (i < out.len - 2 * SEAL_SLOT_LEN ||
					   i >= out.len - SEAL_SLOT_LEN);
			ck_assert_msg(!opens || other_slot,
				      "byte %zu bit %d", i, bit);
			out.data[i] ^= (uint8_t)(1 << bit);
		}
	}
	kv_buf_free(&out);
}
END_TEST

START_TEST(rows_with_bad_counts_or_trailing_bytes_are_refused)
{
	struct kat k = kat_inputs();
	struct seal_row row = kat_row(&k), back;
	struct kv_buf out = { 0 };
	ck_assert_int_eq(seal_row_write(&row, &out), 0);
	ck_assert_int_eq(kv_buf_push(&out, 0), 0);
	ck_assert_int_eq(seal_row_parse(out.data, out.len, &back), -EIO);
	for (size_t n = 0; n < out.len - 1; n++)
		ck_assert_int_eq(seal_row_parse(out.data, n, &back), -EIO);
	row.n_slots = 0;
	out.len = 0;
	ck_assert_int_eq(seal_row_write(&row, &out), -EINVAL);
	row = kat_row(&k);
	row.slots[1].id = row.slots[0].id;
	ck_assert_int_eq(seal_row_write(&row, &out), -EINVAL);
	row = kat_row(&k);
	row.current = KAT_GEN + 1;
	ck_assert_int_eq(seal_row_write(&row, &out), -EINVAL);
	kv_buf_free(&out);
}
END_TEST

/* ---- the store ---------------------------------------------------------- */

static char dir[64];
static char db_path[128];

static void make_dir(void)
{
	strcpy(dir, "/tmp/kvfs-seal-XXXXXX");
	temp_dir_make(dir);
	snprintf(db_path, sizeof(db_path), "%s/kv.sqlite3", dir);
}

static void remove_dir(void)
{
	temp_dir_remove(dir);
}

static struct kv_seal_key *file_key(uint8_t fill)
{
	uint8_t bytes[32];
	struct kv_seal_key *key;
	memset(bytes, fill, sizeof(bytes));
	ck_assert_int_eq(kv_seal_key_file(bytes, sizeof(bytes), &key), 0);
	return key;
}

static struct kv_seal_key *pass_key(const char *pass)
{
	struct kv_seal_key *key;
	ck_assert_int_eq(kv_seal_key_passphrase(pass, strlen(pass), &key), 0);
	return key;
}

static int open_with(struct kv_seal_key *key, struct kv_store **s)
{
	struct kv_store_options o = { .seal_key = key };
	return kv_store_open(db_path, &o, s);
}

/* A fresh encrypted store, unlocked by key (a key file unless given). */
static struct kv_store *new_sealed(struct kv_seal_key *key,
				   const struct kv_seal_cost *cost)
{
	struct kv_store_options o = { .create = true };
	struct kv_store *s;
	ck_assert_int_eq(kv_store_open(db_path, &o, &s), 0);
	ck_assert_int_eq(kv_store_seal_init(s, key, cost), 0);
	ck_assert(kv_store_sealed(s));
	return s;
}

static struct kv_buf skey(const char *part)
{
	struct kv_buf b = { 0 };
	struct kv_part p = { .type = KV_PART_STRING,
			     .data = (const uint8_t *)part,
			     .len = strlen(part) };
	ck_assert_int_eq(kv_part_encode(&p, &b), 0);
	return b;
}

static int put_enc(struct kv_store *s, const char *k, enum kv_encoding enc,
		   const void *v, size_t len)
{
	struct kv_buf key = skey(k);
	struct kv_mutation m = { KV_MUT_SET, key.data, key.len, enc, v, len,
				 -1 };
	struct kv_atomic a = { .mutations = &m, .n_mutations = 1 };
	int r = kv_store_commit(s, &a, NULL);
	kv_buf_free(&key);
	return r;
}

static int put(struct kv_store *s, const char *k, const char *v)
{
	return put_enc(s, k, KV_ENC_BYTES, v, strlen(v));
}

static int get(struct kv_store *s, const char *k, struct kv_entry *e)
{
	struct kv_buf key = skey(k);
	int r = kv_store_get(s, key.data, key.len, e);
	kv_buf_free(&key);
	return r;
}

static void expect_value(struct kv_store *s, const char *k, const char *v)
{
	struct kv_entry e;
	ck_assert_int_eq(get(s, k, &e), 0);
	ck_assert_int_eq(e.encoding, KV_ENC_BYTES);
	ck_assert_uint_eq(e.value_len, strlen(v));
	ck_assert_mem_eq(e.value, v, e.value_len);
	kv_entry_free(&e);
}

static sqlite3 *raw_db(void)
{
	sqlite3 *db;
	ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static void raw_exec(const char *sql)
{
	sqlite3 *db = raw_db();
	ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK,
		      "%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_close(db);
}

/* The raw v column of key k, into out; its v_encoding returned. */
static int raw_value(const char *k, struct kv_buf *out)
{
	sqlite3 *db = raw_db();
	sqlite3_stmt *st;
	struct kv_buf key = skey(k);
	ck_assert_int_eq(sqlite3_prepare_v2(db,
					    "select v, v_encoding from kv "
					    "where k = ?",
					    -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_blob(st, 1, key.data, (int)key.len, SQLITE_STATIC);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	out->len = 0;
	ck_assert_int_eq(kv_buf_append(out, sqlite3_column_blob(st, 0),
				       (size_t)sqlite3_column_bytes(st, 0)),
			 0);
	int enc = sqlite3_column_int(st, 1);
	sqlite3_finalize(st);
	sqlite3_close(db);
	kv_buf_free(&key);
	return enc;
}

static void raw_set_value(const char *k, const uint8_t *v, size_t len,
			  int enc)
{
	sqlite3 *db = raw_db();
	sqlite3_stmt *st;
	struct kv_buf key = skey(k);
	ck_assert_int_eq(sqlite3_prepare_v2(db,
					    "update kv set v = ?, "
					    "v_encoding = ? where k = ?",
					    -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_blob(st, 1, v, (int)len, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, enc);
	sqlite3_bind_blob(st, 3, key.data, (int)key.len, SQLITE_STATIC);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
	ck_assert_int_eq(sqlite3_changes(db), 1);
	sqlite3_finalize(st);
	sqlite3_close(db);
	kv_buf_free(&key);
}

static uint32_t raw_generation(const char *k)
{
	struct kv_buf v = { 0 };
	uint32_t gen = 0;
	ck_assert_int_eq(raw_value(k, &v), KV_ENC_BYTES);
	ck_assert_int_eq(seal_generation(v.data, v.len, &gen), 0);
	kv_buf_free(&v);
	return gen;
}

START_TEST(a_plain_store_opens_without_a_key_and_refuses_one)
{
	struct kv_store_options o = { .create = true };
	struct kv_store *s;
	ck_assert_int_eq(kv_store_open(db_path, &o, &s), 0);
	ck_assert(!kv_store_sealed(s));
	ck_assert_uint_eq(kv_store_max_value(s), KV_MAX_VALUE);
	kv_store_close(s);
	struct kv_seal_key *key = file_key(1);
	ck_assert_int_eq(open_with(key, &s), -EMEDIUMTYPE);
	kv_seal_key_free(key);
}
END_TEST

START_TEST(a_key_for_a_missing_file_creates_nothing)
{
	struct kv_seal_key *key = file_key(1);
	struct kv_store_options o = { .create = true, .seal_key = key };
	struct kv_store *s;
	ck_assert_int_eq(kv_store_open(db_path, &o, &s), -ENOENT);
	ck_assert_int_eq(access(db_path, F_OK), -1);
	kv_seal_key_free(key);
}
END_TEST

START_TEST(an_encrypted_store_needs_its_key)
{
	struct kv_seal_key *key = file_key(1), *wrong = file_key(2);
	struct kv_store *s = new_sealed(key, NULL);
	kv_store_close(s);
	struct kv_store_options o = { 0 };
	ck_assert_int_eq(kv_store_open(db_path, &o, &s), -ENOKEY);
	o.read_only = true;
	ck_assert_int_eq(kv_store_open(db_path, &o, &s), -ENOKEY);
	ck_assert_int_eq(open_with(wrong, &s), -EKEYREJECTED);
	kv_seal_key_free(key);
	key = file_key(1); /* a fresh key: found through the slot */
	ck_assert_int_eq(open_with(key, &s), 0);
	kv_store_close(s);
	kv_seal_key_free(key);
	kv_seal_key_free(wrong);
}
END_TEST

START_TEST(init_refuses_a_store_with_keys_or_already_encrypted)
{
	struct kv_store_options o = { .create = true };
	struct kv_store *s;
	struct kv_seal_key *key = file_key(1);
	ck_assert_int_eq(kv_store_open(db_path, &o, &s), 0);
	ck_assert_int_eq(put(s, "a", "plain"), 0);
	ck_assert_int_eq(kv_store_seal_init(s, key, NULL), -EEXIST);
	kv_store_close(s);
	remove_dir();
	make_dir();
	s = new_sealed(key, NULL);
	ck_assert_int_eq(kv_store_seal_init(s, key, NULL), -EEXIST);
	kv_store_close(s);
	kv_seal_key_free(key);
}
END_TEST

START_TEST(every_read_returns_plaintext_and_the_file_holds_envelopes)
{
	struct kv_seal_key *key = file_key(1);
	struct kv_store *s = new_sealed(key, NULL);
	uint8_t u[8];
	kv_u64_encode(42, u);
	ck_assert_int_eq(put(s, "a", "alpha"), 0);
	ck_assert_int_eq(put(s, "b", "bravo"), 0);
	ck_assert_int_eq(put_enc(s, "n", KV_ENC_U64, u, 8), 0);
	kv_store_close(s);
	ck_assert_int_eq(open_with(key, &s), 0);
	expect_value(s, "a", "alpha");
	struct kv_entry e;
	ck_assert_int_eq(get(s, "n", &e), 0);
	ck_assert_int_eq(e.encoding, KV_ENC_U64);
	ck_assert_mem_eq(e.value, u, 8);
	kv_entry_free(&e);
	struct kv_list all = { 0 };
	struct kv_entries got;
	ck_assert_int_eq(kv_store_list(s, &all, &got, NULL), 0);
	ck_assert_uint_eq(got.n, 3);
	ck_assert_mem_eq(got.v[1].value, "bravo", 5);
	ck_assert_int_eq(got.v[1].error, 0);
	kv_entries_free(&got);
	struct kv_buf child = { 0 };
	bool has_value, has_children;
	ck_assert_int_eq(kv_store_next_child(s, NULL, 0, NULL, 0, &child,
					     &has_value, &has_children),
			 0);
	ck_assert(has_value && !has_children);
	kv_buf_free(&child);
	kv_store_close(s);
	struct kv_buf raw = { 0 };
	ck_assert_int_eq(raw_value("a", &raw), KV_ENC_BYTES);
	ck_assert_uint_eq(raw.len, 5 + KV_SEAL_OVERHEAD);
	ck_assert_ptr_null(memmem(raw.data, raw.len, "alpha", 5));
	ck_assert_int_eq(raw_value("n", &raw), KV_ENC_BYTES);
	ck_assert_uint_eq(raw.len, 8 + KV_SEAL_OVERHEAD);
	kv_buf_free(&raw);
	kv_seal_key_free(key);
}
END_TEST

START_TEST(the_plaintext_limit_is_65489_and_efbig_follows_it)
{
	struct kv_seal_key *key = file_key(1);
	struct kv_store *s = new_sealed(key, NULL);
	ck_assert_uint_eq(kv_store_max_value(s), 65489);
	ck_assert_uint_eq(KV_SEAL_MAX_PLAIN, 65489);
	uint8_t *big = calloc(1, 65490);
	ck_assert_int_eq(put_enc(s, "max", KV_ENC_BYTES, big, 65489), 0);
	ck_assert_int_eq(put_enc(s, "over", KV_ENC_BYTES, big, 65490),
			 -EFBIG);
	kv_store_close(s);
	struct kv_buf raw = { 0 };
	ck_assert_int_eq(raw_value("max", &raw), KV_ENC_BYTES);
	ck_assert_uint_eq(raw.len, KV_MAX_VALUE);
	kv_buf_free(&raw);
	struct kv_store_options o = { .seal_key = key,
				      .max_value_size = 61440 };
	ck_assert_int_eq(kv_store_open(db_path, &o, &s), 0);
	ck_assert_uint_eq(kv_store_max_value(s), 61440 - KV_SEAL_OVERHEAD);
	ck_assert_int_eq(put_enc(s, "x", KV_ENC_BYTES, big, 61394), -EFBIG);
	ck_assert_int_eq(put_enc(s, "x", KV_ENC_BYTES, big, 61393), 0);
	kv_store_close(s);
	free(big);
	kv_seal_key_free(key);
}
END_TEST

START_TEST(a_tampered_value_reads_eio_for_its_key_alone_and_lists_go_on)
{
	struct kv_seal_key *key = file_key(1);
	struct kv_store *s = new_sealed(key, NULL);
	ck_assert_int_eq(put(s, "a", "alpha"), 0);
	ck_assert_int_eq(put(s, "b", "bravo"), 0);
	ck_assert_int_eq(put(s, "c", "charlie"), 0);
	struct kv_buf raw = { 0 };
	raw_value("b", &raw);
	raw.data[raw.len - 1] ^= 0x80;
	raw_set_value("b", raw.data, raw.len, KV_ENC_BYTES);
	struct kv_entry e;
	ck_assert_int_eq(get(s, "b", &e), -EIO);
	expect_value(s, "a", "alpha");
	struct kv_list all = { 0 };
	struct kv_entries got;
	ck_assert_int_eq(kv_store_list(s, &all, &got, NULL), 0);
	ck_assert_uint_eq(got.n, 3);
	ck_assert_int_eq(got.v[0].error, 0);
	ck_assert_int_eq(got.v[1].error, -EIO);
	ck_assert_uint_eq(got.v[1].value_len, 0);
	ck_assert_int_eq(got.v[2].error, 0);
	ck_assert_mem_eq(got.v[2].value, "charlie", 7);
	kv_entries_free(&got);
	/* truncated to its header, and cut to nothing */
	raw_set_value("b", raw.data, SEAL_HEADER_LEN, KV_ENC_BYTES);
	ck_assert_int_eq(get(s, "b", &e), -EIO);
	raw_set_value("b", raw.data, 0, KV_ENC_BYTES);
	ck_assert_int_eq(get(s, "b", &e), -EIO);
	kv_buf_free(&raw);
	kv_store_close(s);
	kv_seal_key_free(key);
}
END_TEST

START_TEST(a_value_copied_to_another_key_or_store_reads_eio)
{
	struct kv_seal_key *key = file_key(1);
	struct kv_store *s = new_sealed(key, NULL);
	ck_assert_int_eq(put(s, "a", "alpha"), 0);
	ck_assert_int_eq(put(s, "b", "bravo"), 0);
	struct kv_buf a = { 0 };
	raw_value("a", &a);
	raw_set_value("b", a.data, a.len, KV_ENC_BYTES);
	struct kv_entry e;
	ck_assert_int_eq(get(s, "b", &e), -EIO);
	expect_value(s, "a", "alpha");
	kv_store_close(s);
	/* Another store with the same key file, the same key: refused. */
	char first[128];
	snprintf(first, sizeof(first), "%s", db_path);
	snprintf(db_path, sizeof(db_path), "%s/other.sqlite3", dir);
	s = new_sealed(key, NULL);
	ck_assert_int_eq(put(s, "a", "other"), 0);
	raw_set_value("a", a.data, a.len, KV_ENC_BYTES);
	ck_assert_int_eq(get(s, "a", &e), -EIO);
	kv_store_close(s);
	snprintf(db_path, sizeof(db_path), "%s", first);
	kv_buf_free(&a);
	kv_seal_key_free(key);
}
END_TEST

START_TEST(a_plaintext_row_in_an_encrypted_store_reads_eio)
{
	struct kv_seal_key *key = file_key(1);
	struct kv_store *s = new_sealed(key, NULL);
	ck_assert_int_eq(put(s, "a", "alpha"), 0);
	static const uint8_t v8[] = { 0xff, 0x0f, 0x49, 0x02 };
	raw_set_value("a", v8, sizeof(v8), KV_ENC_V8);
	struct kv_entry e;
	ck_assert_int_eq(get(s, "a", &e), -EIO);
	raw_set_value("a", (const uint8_t *)"alpha", 5, KV_ENC_BYTES);
	ck_assert_int_eq(get(s, "a", &e), -EIO);
	kv_store_close(s);
	kv_seal_key_free(key);
}
END_TEST

static int u64_op(struct kv_store *s, enum kv_mutation_type type,
		  const char *k, uint64_t n)
{
	uint8_t v[8];
	struct kv_buf key = skey(k);
	kv_u64_encode(n, v);
	struct kv_mutation m = { type, key.data, key.len, KV_ENC_U64, v, 8,
				 -1 };
	struct kv_atomic a = { .mutations = &m, .n_mutations = 1 };
	int r = kv_store_commit(s, &a, NULL);
	kv_buf_free(&key);
	return r;
}

static uint64_t get_u64(struct kv_store *s, const char *k)
{
	struct kv_entry e;
	uint64_t n;
	ck_assert_int_eq(get(s, k, &e), 0);
	ck_assert_int_eq(e.encoding, KV_ENC_U64);
	ck_assert_int_eq(kv_u64_decode(e.value, e.value_len, &n), 0);
	kv_entry_free(&e);
	return n;
}

START_TEST(sum_min_and_max_work_on_sealed_numbers)
{
	struct kv_seal_key *key = file_key(1);
	struct kv_store *s = new_sealed(key, NULL);
	ck_assert_int_eq(u64_op(s, KV_MUT_SUM, "n", 5), 0);
	ck_assert_int_eq(u64_op(s, KV_MUT_SUM, "n", 7), 0);
	ck_assert_uint_eq(get_u64(s, "n"), 12);
	ck_assert_int_eq(u64_op(s, KV_MUT_SUM, "n", UINT64_MAX), 0);
	ck_assert_uint_eq(get_u64(s, "n"), 11); /* wraps */
	ck_assert_int_eq(u64_op(s, KV_MUT_MIN, "n", 3), 0);
	ck_assert_uint_eq(get_u64(s, "n"), 3);
	ck_assert_int_eq(u64_op(s, KV_MUT_MAX, "n", 30), 0);
	ck_assert_uint_eq(get_u64(s, "n"), 30);
	ck_assert_int_eq(u64_op(s, KV_MUT_MAX, "m", 9), 0);
	ck_assert_uint_eq(get_u64(s, "m"), 9);
	ck_assert_int_eq(raw_generation("n"), 1);
	ck_assert_int_eq(put(s, "t", "text"), 0);
	ck_assert_int_eq(u64_op(s, KV_MUT_SUM, "t", 1), -EINVAL);
	expect_value(s, "t", "text");
	kv_store_close(s);
	kv_seal_key_free(key);
}
END_TEST

START_TEST(sums_in_one_atomic_apply_in_order_and_checks_still_count)
{
	struct kv_seal_key *key = file_key(1);
	struct kv_store *s = new_sealed(key, NULL);
	struct kv_buf n = skey("n"), g = skey("guard");
	uint8_t one[8], ten[8], vs[KV_VERSIONSTAMP_LEN];
	kv_u64_encode(1, one);
	kv_u64_encode(10, ten);
	struct kv_mutation m[] = {
		{ KV_MUT_SET, n.data, n.len, KV_ENC_U64, ten, 8, -1 },
		{ KV_MUT_SUM, n.data, n.len, KV_ENC_U64, one, 8, -1 },
		{ KV_MUT_SUM, n.data, n.len, KV_ENC_U64, one, 8, -1 },
	};
	struct kv_atomic a = { .mutations = m, .n_mutations = 3 };
	ck_assert_int_eq(kv_store_commit(s, &a, NULL), 0);
	ck_assert_uint_eq(get_u64(s, "n"), 12);
	ck_assert_int_eq(put(s, "guard", "v"), 0);
	struct kv_entry e;
	ck_assert_int_eq(get(s, "guard", &e), 0);
	memcpy(vs, e.versionstamp, sizeof(vs));
	kv_entry_free(&e);
	struct kv_check c = { g.data, g.len, vs };
	struct kv_atomic b = { &c, 1, &m[1], 1 };
	ck_assert_int_eq(kv_store_commit(s, &b, NULL), 0);
	ck_assert_uint_eq(get_u64(s, "n"), 13);
	ck_assert_int_eq(put(s, "guard", "changed"), 0);
	ck_assert_int_eq(kv_store_commit(s, &b, NULL), -ECANCELED);
	ck_assert_uint_eq(get_u64(s, "n"), 13);
	kv_buf_free(&n);
	kv_buf_free(&g);
	kv_store_close(s);
	kv_seal_key_free(key);
}
END_TEST

#define SUMMERS 4
#define SUMS_EACH 60

static void *summer(void *arg)
{
	struct kv_seal_key *key = arg;
	struct kv_store *s;
	struct kv_store_options o = { .seal_key = key,
				      .busy_budget_ms = 20000 };
	if (kv_store_open(db_path, &o, &s) < 0)
		return (void *)1;
	long bad = 0;
	for (int i = 0; i < SUMS_EACH; i++)
		bad += u64_op(s, KV_MUT_SUM, "count", 1) != 0;
	kv_store_close(s);
	return (void *)bad;
}

START_TEST(concurrent_sums_from_several_handles_lose_nothing)
{
	struct kv_seal_key *keys[SUMMERS];
	struct kv_seal_key *key = file_key(1);
	pthread_t t[SUMMERS];
	kv_store_close(new_sealed(key, NULL));
	for (int i = 0; i < SUMMERS; i++) {
		keys[i] = file_key(1);
		ck_assert_int_eq(pthread_create(&t[i], NULL, summer, keys[i]),
				 0);
	}
	for (int i = 0; i < SUMMERS; i++) {
		void *bad;
		pthread_join(t[i], &bad);
		ck_assert_ptr_null(bad);
		kv_seal_key_free(keys[i]);
	}
	struct kv_store *s;
	ck_assert_int_eq(open_with(key, &s), 0);
	ck_assert_uint_eq(get_u64(s, "count"), SUMMERS * SUMS_EACH);
	kv_store_close(s);
	kv_seal_key_free(key);
}
END_TEST

/* ---- keyslots --------------------------------------------------------- */

static void snapshot_values(struct kv_buf *out, size_t n, const char **keys)
{
	for (size_t i = 0; i < n; i++)
		raw_value(keys[i], &out[i]);
}

START_TEST(a_passphrase_change_keeps_every_value_readable_and_unwritten)
{
	static const char *keys[] = { "a", "b", "c" };
	struct kv_seal_key *old = pass_key("old passphrase");
	struct kv_seal_key *new = pass_key("new passphrase");
	struct kv_store *s = new_sealed(old, &floor_cost);
	for (size_t i = 0; i < 3; i++)
		ck_assert_int_eq(put(s, keys[i], keys[i]), 0);
	struct kv_buf before[3] = { 0 }, after[3] = { 0 };
	snapshot_values(before, 3, keys);
	struct kv_slot_info slots[KV_SEAL_MAX_SLOTS];
	size_t n;
	ck_assert_int_eq(kv_store_slots(s, slots, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert(slots[0].opened_this);
	ck_assert_int_eq(kv_store_slot_change(s, slots[0].id, new,
					      &floor_cost),
			 0);
	kv_store_close(s);
	snapshot_values(after, 3, keys);
	for (size_t i = 0; i < 3; i++) {
		ck_assert_uint_eq(before[i].len, after[i].len);
		ck_assert_mem_eq(before[i].data, after[i].data, after[i].len);
	}
	kv_seal_key_free(old);
	old = pass_key("old passphrase");
	ck_assert_int_eq(open_with(old, &s), -EKEYREJECTED);
	kv_seal_key_free(new);
	new = pass_key("new passphrase");
	ck_assert_int_eq(open_with(new, &s), 0);
	for (size_t i = 0; i < 3; i++)
		expect_value(s, keys[i], keys[i]);
	kv_store_close(s);
	for (size_t i = 0; i < 3; i++) {
		kv_buf_free(&before[i]);
		kv_buf_free(&after[i]);
	}
	kv_seal_key_free(old);
	kv_seal_key_free(new);
}
END_TEST

/* The seal row's bytes and the data version: what "nothing changed"
 * means for a failed unlock. */
static void file_state(struct kv_buf *row, int64_t *version)
{
	sqlite3 *db = raw_db();
	sqlite3_stmt *st;
	sqlite3_prepare_v2(db, "select v from kvfs_meta where k = 'seal'", -1,
			   &st, NULL);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	row->len = 0;
	kv_buf_append(row, sqlite3_column_blob(st, 0),
		      (size_t)sqlite3_column_bytes(st, 0));
	sqlite3_finalize(st);
	sqlite3_prepare_v2(db, "select version from data_version", -1, &st,
			   NULL);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	*version = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

START_TEST(a_wrong_passphrase_is_ekeyrejected_and_changes_nothing)
{
	struct kv_seal_key *key = pass_key("right");
	struct kv_store *s = new_sealed(key, &floor_cost);
	ck_assert_int_eq(put(s, "a", "alpha"), 0);
	kv_store_close(s);
	struct kv_buf before = { 0 }, after = { 0 };
	int64_t v1, v2;
	file_state(&before, &v1);
	struct kv_seal_key *wrong = pass_key("wrong");
	ck_assert_int_eq(open_with(wrong, &s), -EKEYREJECTED);
	file_state(&after, &v2);
	ck_assert_uint_eq(before.len, after.len);
	ck_assert_mem_eq(before.data, after.data, before.len);
	ck_assert_int_eq(v1, v2);
	kv_buf_free(&before);
	kv_buf_free(&after);
	kv_seal_key_free(wrong);
	kv_seal_key_free(key);
}
END_TEST

START_TEST(slots_are_added_and_removed_but_never_the_last)
{
	struct kv_seal_key *key = file_key(1), *other = file_key(2);
	struct kv_store *s = new_sealed(key, NULL);
	uint32_t id;
	ck_assert_int_eq(put(s, "a", "alpha"), 0);
	ck_assert_int_eq(kv_store_slot_add(s, other, NULL, &id), 0);
	ck_assert_uint_eq(id, 2);
	ck_assert_int_eq(kv_store_slot_remove(s, 1), 0);
	ck_assert_int_eq(kv_store_slot_remove(s, 2), -EPERM);
	ck_assert_int_eq(kv_store_slot_remove(s, 9), -ENOENT);
	kv_store_close(s);
	kv_seal_key_free(key);
	key = file_key(1);
	ck_assert_int_eq(open_with(key, &s), -EKEYREJECTED);
	kv_seal_key_free(other);
	other = file_key(2);
	ck_assert_int_eq(open_with(other, &s), 0);
	expect_value(s, "a", "alpha");
	for (int i = 1; i < KV_SEAL_MAX_SLOTS; i++)
		ck_assert_int_eq(kv_store_slot_add(s, other, NULL, NULL), 0);
	ck_assert_int_eq(kv_store_slot_add(s, other, NULL, NULL), -ENOSPC);
	kv_store_close(s);
	kv_seal_key_free(key);
	kv_seal_key_free(other);
}
END_TEST

START_TEST(a_recovery_key_typed_as_a_passphrase_unlocks)
{
	struct kv_seal_key *key = file_key(1), *rec, *typed;
	char text[KV_SEAL_RECOVERY_TEXT];
	struct kv_store *s = new_sealed(key, NULL);
	ck_assert_int_eq(put(s, "a", "alpha"), 0);
	ck_assert_int_eq(kv_seal_key_recovery(text, &rec), 0);
	ck_assert_int_eq(strncmp(text, "KVFS-", 5), 0);
	ck_assert_int_eq(kv_store_slot_add(s, rec, NULL, NULL), 0);
	struct kv_slot_info slots[KV_SEAL_MAX_SLOTS];
	size_t n;
	ck_assert_int_eq(kv_store_slots(s, slots, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(slots[1].kind, KV_SLOT_RECOVERY);
	kv_store_close(s);
	for (char *p = text; *p; p++)
		*p = (char)(*p | 0x20); /* typed in lower case */
	typed = pass_key(text);
	ck_assert_int_eq(open_with(typed, &s), 0);
	expect_value(s, "a", "alpha");
	kv_store_close(s);
	kv_seal_key_free(key);
	kv_seal_key_free(rec);
	kv_seal_key_free(typed);
}
END_TEST

START_TEST(a_planted_slot_outside_the_bounds_is_skipped_unrun)
{
	struct kv_seal_key *key = pass_key("pw");
	struct kv_store *s = new_sealed(key, &floor_cost);
	kv_store_close(s);
	/* Raise the slot's opslimit to 2^40: its bytes 6..14 in the row's
	 * only slot, the last 110 bytes. */
	raw_exec("update kvfs_meta set v = substr(v, 1, length(v) - 104) || "
		 "x'0000010000000000' || substr(v, length(v) - 95) "
		 "where k = 'seal'");
	kv_seal_key_free(key);
	key = pass_key("pw");
	ck_assert_int_eq(open_with(key, &s), -EKEYREJECTED);
	kv_seal_key_free(key);
}
END_TEST

START_TEST(a_key_reopens_its_store_without_the_kdf)
{
	struct kv_seal_key *key = pass_key("pw");
	struct kv_store *s = new_sealed(key, &floor_cost);
	kv_store_close(s);
	/* Were the slot tried, its planted cost would refuse it. */
	raw_exec("update kvfs_meta set v = substr(v, 1, length(v) - 104) || "
		 "x'0000010000000000' || substr(v, length(v) - 95) "
		 "where k = 'seal'");
	ck_assert_int_eq(open_with(key, &s), 0);
	kv_store_close(s);
	kv_seal_key_free(key);
}
END_TEST

START_TEST(core_dumps_are_off_once_a_key_is_loaded)
{
	struct kv_seal_key *key = file_key(1);
	struct rlimit rl;
	ck_assert_int_eq(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
	ck_assert_int_eq(getrlimit(RLIMIT_CORE, &rl), 0);
	ck_assert_uint_eq(rl.rlim_cur, 0);
	kv_seal_key_free(key);
}
END_TEST

/* ---- rekey ------------------------------------------------------------ */

static int rekey_all(struct kv_store *s, struct kv_rekey *r, size_t batch)
{
	int e = kv_store_rekey_begin(s, r);
	if (e == 0)
		while ((e = kv_store_rekey_step(s, r, batch)) == 1)
			;
	if (e == 0)
		e = kv_store_rekey_finish(s, r);
	return e;
}

START_TEST(rekey_moves_every_value_to_a_new_generation_and_drops_the_old)
{
	struct kv_seal_key *key = file_key(1);
	struct kv_store *s = new_sealed(key, NULL);
	char k[16];
	for (int i = 0; i < 50; i++) {
		snprintf(k, sizeof(k), "k%02d", i);
		ck_assert_int_eq(put(s, k, k), 0);
	}
	struct kv_buf old = { 0 };
	raw_value("k07", &old);
	struct kv_rekey r;
	ck_assert_int_eq(rekey_all(s, &r, 8), 0);
	ck_assert_uint_eq(r.generation, 2);
	ck_assert_uint_eq(r.resealed, 50);
	ck_assert_uint_eq(r.unreadable, 0);
	kv_rekey_free(&r);
	for (int i = 0; i < 50; i++) {
		snprintf(k, sizeof(k), "k%02d", i);
		expect_value(s, k, k);
		ck_assert_uint_eq(raw_generation(k), 2);
	}
	/* A value of the retired generation, put back: does not open. */
	raw_set_value("k07", old.data, old.len, KV_ENC_BYTES);
	struct kv_entry e;
	ck_assert_int_eq(get(s, "k07", &e), -EIO);
	struct kv_buf app = { 0 };
	ck_assert_int_eq(kv_store_app_key(s, &app), 0);
	ck_assert_ptr_nonnull(strstr((char *)app.data, "\"current\":2"));
	ck_assert_ptr_null(strstr((char *)app.data, "\"id\":1"));
	sodium_memzero(app.data, app.len);
	kv_buf_free(&app);
	kv_buf_free(&old);
	kv_store_close(s);
	kv_seal_key_free(key);
}
END_TEST

START_TEST(rekey_keeps_expiry_and_resumes_after_an_interruption)
{
	struct kv_seal_key *key = file_key(1);
	struct kv_store *s = new_sealed(key, NULL);
	struct kv_buf k = skey("temp");
	struct kv_mutation m = { KV_MUT_SET, k.data, k.len, KV_ENC_BYTES,
				 (const uint8_t *)"t", 1, 3600000 };
	struct kv_atomic a = { .mutations = &m, .n_mutations = 1 };
	ck_assert_int_eq(kv_store_commit(s, &a, NULL), 0);
	for (char c = 'a'; c <= 'j'; c++) {
		char name[2] = { c, 0 };
		ck_assert_int_eq(put(s, name, name), 0);
	}
	struct kv_entry before, after;
	ck_assert_int_eq(get(s, "temp", &before), 0);
	struct kv_rekey r;
	ck_assert_int_eq(kv_store_rekey_begin(s, &r), 0);
	ck_assert_int_eq(kv_store_rekey_step(s, &r, 3), 1);
	kv_rekey_free(&r);
	kv_store_close(s); /* interrupted */
	ck_assert_int_eq(open_with(key, &s), 0);
	ck_assert_int_eq(put(s, "b", "written meanwhile"), 0);
	ck_assert_int_eq(rekey_all(s, &r, 3), 0);
	ck_assert_uint_eq(r.generation, 2); /* went on, no third */
	kv_rekey_free(&r);
	expect_value(s, "b", "written meanwhile");
	expect_value(s, "j", "j");
	ck_assert_int_eq(get(s, "temp", &after), 0);
	ck_assert_int_eq(after.expires_at_ms, before.expires_at_ms);
	kv_entry_free(&before);
	kv_entry_free(&after);
	kv_buf_free(&k);
	kv_store_close(s);
	kv_seal_key_free(key);
}
END_TEST

START_TEST(a_handle_holding_an_old_keyring_seals_under_the_new_one)
{
	struct kv_seal_key *key = file_key(1), *key2 = file_key(1);
	struct kv_store *s = new_sealed(key, NULL), *t;
	ck_assert_int_eq(put(s, "a", "alpha"), 0);
	ck_assert_int_eq(open_with(key2, &t), 0);
	struct kv_rekey r;
	ck_assert_int_eq(rekey_all(t, &r, 0), 0);
	kv_rekey_free(&r);
	expect_value(s, "a", "alpha"); /* sealed under generation 2 */
	ck_assert_int_eq(put(s, "b", "bravo"), 0);
	ck_assert_uint_eq(raw_generation("b"), 2);
	expect_value(t, "b", "bravo");
	kv_store_close(s);
	kv_store_close(t);
	kv_seal_key_free(key);
	kv_seal_key_free(key2);
}
END_TEST

START_TEST(the_app_key_holds_the_store_id_and_data_keys_only)
{
	struct kv_seal_key *key = file_key(1);
	struct kv_store *s = new_sealed(key, NULL);
	struct kv_buf app = { 0 };
	uint8_t id[KV_SEAL_STORE_ID_LEN];
	ck_assert_int_eq(kv_store_app_key(s, &app), 0);
	ck_assert_int_eq(kv_store_seal_id(s, id), 0);
	char *hex = hex_of(id, sizeof(id));
	const char *text = (const char *)app.data;
	ck_assert_ptr_nonnull(strstr(text, hex));
	ck_assert_int_eq(strncmp(text, "{\"kvfs_app_key\":1,", 18), 0);
	ck_assert_ptr_nonnull(strstr(text, "\"generations\":[{\"id\":1,"));
	ck_assert_ptr_null(strstr(text, "master"));
	ck_assert_int_eq(text[app.len - 1], '\n');
	free(hex);
	kv_buf_free(&app);
	kv_store_close(s);
	kv_seal_key_free(key);
}
END_TEST

/* ---- the golden fixture ------------------------------------------------ */

/* tests/fixtures/sealed.sqlite3, made once (tests/fixtures/README.md):
 * copied, since opening may write (WAL), and opened with its passphrase,
 * its key file and its recovery key. */
static void copy_fixture(void)
{
	char src[512], cmd[1200];
	const char *root = getenv("KVFS_SOURCE_ROOT");
	ck_assert_ptr_nonnull(root);
	snprintf(src, sizeof(src), "%s/tests/fixtures/sealed.sqlite3", root);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", src, db_path);
	ck_assert_int_eq(system(cmd), 0);
}

static void expect_fixture_values(struct kv_store *s)
{
	expect_value(s, "greeting", "hello, sealed world");
	struct kv_entry e;
	ck_assert_int_eq(get(s, "counter", &e), 0);
	ck_assert_int_eq(e.encoding, KV_ENC_U64);
	uint64_t n;
	ck_assert_int_eq(kv_u64_decode(e.value, e.value_len, &n), 0);
	ck_assert_uint_eq(n, 42);
	kv_entry_free(&e);
	ck_assert_int_eq(get(s, "json", &e), 0);
	ck_assert_int_eq(e.encoding, KV_ENC_V8);
	kv_entry_free(&e);
}

START_TEST(the_golden_fixture_opens_with_its_passphrase)
{
	copy_fixture();
	struct kv_seal_key *key = pass_key("kvfs golden fixture");
	struct kv_store *s;
	ck_assert_int_eq(open_with(key, &s), 0);
	expect_fixture_values(s);
	kv_store_close(s);
	kv_seal_key_free(key);
}
END_TEST

START_TEST(the_golden_fixture_opens_with_its_key_file_read_only)
{
	copy_fixture();
	uint8_t bytes[32];
	seq(bytes, 0x40, sizeof(bytes));
	struct kv_seal_key *key;
	ck_assert_int_eq(kv_seal_key_file(bytes, sizeof(bytes), &key), 0);
	struct kv_store_options o = { .read_only = true, .seal_key = key };
	struct kv_store *s;
	ck_assert_int_eq(kv_store_open(db_path, &o, &s), 0);
	expect_fixture_values(s);
	kv_store_close(s);
	kv_seal_key_free(key);
}
END_TEST

START_TEST(the_golden_fixture_opens_with_its_recovery_key)
{
	copy_fixture();
	struct kv_seal_key *key = pass_key(
		"KVFS-DEDY-BCSL-AMJO-X4RA-YAE2-5XVE-5BNT-54EO-SSN5-JXHX-YLFY-"
		"DEQ3-A2TQ");
	struct kv_store *s;
	ck_assert_int_eq(open_with(key, &s), 0);
	expect_fixture_values(s);
	kv_store_close(s);
	kv_seal_key_free(key);
}
END_TEST

START_TEST(the_golden_fixture_refuses_a_wrong_passphrase)
{
	copy_fixture();
	struct kv_seal_key *key = pass_key("kvfs golden fixturE");
	struct kv_store *s;
	ck_assert_int_eq(open_with(key, &s), -EKEYREJECTED);
	kv_seal_key_free(key);
}
END_TEST

static Suite *seal_suite(void)
{
	Suite *s = suite_create("seal");
	TCase *tc = tcase_create("format");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc,
		       value_key_of_a_fixed_data_key_and_generation_is_frozen);
	tcase_add_test(tc, envelope_of_fixed_key_nonce_store_and_value_is_frozen);
	tcase_add_test(tc, envelope_opens_to_its_value_and_inner_encoding);
	tcase_add_test(tc, sealing_twice_draws_fresh_nonces);
	tcase_add_test(tc, passphrase_slot_of_fixed_parameters_is_frozen);
	tcase_add_test(tc, key_file_slot_of_fixed_parameters_is_frozen);
	tcase_add_test(tc, recovery_key_text_and_slot_are_frozen);
	tcase_add_test(tc,
		       recovery_key_parsing_ignores_case_spaces_and_dashes_only);
	tcase_add_test(tc, seal_row_with_keyring_and_three_slots_is_frozen);
	suite_add_tcase(s, tc);

	tc = tcase_create("tamper");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, every_bit_flip_of_an_envelope_fails_to_open);
	tcase_add_test(tc, every_truncation_and_an_appended_byte_fail_to_open);
	tcase_add_test(tc, all_zero_inputs_fail_to_open);
	tcase_add_test(tc,
		       an_envelope_moved_to_another_key_store_or_generation_fails);
	tcase_add_test(tc,
		       edited_flags_format_or_generation_zero_are_no_envelope);
	tcase_add_test(tc, a_downgraded_slot_is_refused);
	tcase_add_test(tc, a_wrong_passphrase_or_key_file_opens_no_slot);
	tcase_add_test(tc, every_bit_flip_of_a_seal_row_fails_to_parse_or_open);
	tcase_add_test(tc, rows_with_bad_counts_or_trailing_bytes_are_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("store");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, make_dir, remove_dir);
	tcase_add_test(tc, a_plain_store_opens_without_a_key_and_refuses_one);
	tcase_add_test(tc, a_key_for_a_missing_file_creates_nothing);
	tcase_add_test(tc, an_encrypted_store_needs_its_key);
	tcase_add_test(tc, init_refuses_a_store_with_keys_or_already_encrypted);
	tcase_add_test(tc,
		       every_read_returns_plaintext_and_the_file_holds_envelopes);
	tcase_add_test(tc, the_plaintext_limit_is_65489_and_efbig_follows_it);
	tcase_add_test(tc,
		       a_tampered_value_reads_eio_for_its_key_alone_and_lists_go_on);
	tcase_add_test(tc, a_value_copied_to_another_key_or_store_reads_eio);
	tcase_add_test(tc, a_plaintext_row_in_an_encrypted_store_reads_eio);
	tcase_add_test(tc, sum_min_and_max_work_on_sealed_numbers);
	tcase_add_test(tc,
		       sums_in_one_atomic_apply_in_order_and_checks_still_count);
	tcase_add_test(tc, concurrent_sums_from_several_handles_lose_nothing);
	tcase_add_test(tc,
		       a_passphrase_change_keeps_every_value_readable_and_unwritten);
	tcase_add_test(tc, a_wrong_passphrase_is_ekeyrejected_and_changes_nothing);
	tcase_add_test(tc, slots_are_added_and_removed_but_never_the_last);
	tcase_add_test(tc, a_recovery_key_typed_as_a_passphrase_unlocks);
	tcase_add_test(tc, a_planted_slot_outside_the_bounds_is_skipped_unrun);
	tcase_add_test(tc, a_key_reopens_its_store_without_the_kdf);
	tcase_add_test(tc, core_dumps_are_off_once_a_key_is_loaded);
	tcase_add_test(tc,
		       rekey_moves_every_value_to_a_new_generation_and_drops_the_old);
	tcase_add_test(tc, rekey_keeps_expiry_and_resumes_after_an_interruption);
	tcase_add_test(tc,
		       a_handle_holding_an_old_keyring_seals_under_the_new_one);
	tcase_add_test(tc, the_app_key_holds_the_store_id_and_data_keys_only);
	tcase_add_test(tc, the_golden_fixture_opens_with_its_passphrase);
	tcase_add_test(tc, the_golden_fixture_opens_with_its_key_file_read_only);
	tcase_add_test(tc, the_golden_fixture_opens_with_its_recovery_key);
	tcase_add_test(tc, the_golden_fixture_refuses_a_wrong_passphrase);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(seal_suite());
}
