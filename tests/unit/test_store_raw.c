/*
 * test_store_raw.c — what kvfs copy stands on: the listing of every
 * metadata value (kv_store_meta_list) and the raw open
 * (kv_store_options.raw) that reads and writes an encrypted store's rows
 * and seal row as they are stored, on SQLite files. The etcd engine's
 * listing is exercised by tests/etcd/copy_round_trip.sh and
 * tests/seal/copy.sh.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "kv_seal.h"
#include "kv_store.h"
#include "support.h"

static char dir[64];

static void make_dir(void)
{
	strcpy(dir, "/tmp/kvfs-raw-XXXXXX");
	temp_dir_make(dir);
}

static void remove_dir(void)
{
	temp_dir_remove(dir);
}

static const char *path_of(const char *name)
{
	static char buf[2][128];
	static int turn;

	turn ^= 1;
	snprintf(buf[turn], sizeof(buf[turn]), "%s/%s", dir, name);
	return buf[turn];
}

static struct kv_store *open_with(const char *name, bool raw,
				  struct kv_seal_key *key)
{
	struct kv_store_options o = { .create = !key, .raw = raw,
				      .seal_key = key };
	struct kv_store *s = NULL;

	ck_assert_int_eq(kv_store_open(path_of(name), &o, &s), 0);
	return s;
}

static void sql(const char *name, const char *stmt)
{
	sqlite3 *db;

	ck_assert_int_eq(sqlite3_open(path_of(name), &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, stmt, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static struct kv_seal_key *key_file(void)
{
	uint8_t bytes[32];
	struct kv_seal_key *k;

	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (uint8_t)(7 * i + 1);
	ck_assert_int_eq(kv_seal_key_file(bytes, sizeof(bytes), &k), 0);
	return k;
}

static void set_bytes(struct kv_store *s, const uint8_t *key, size_t key_len,
		      const void *value, size_t len)
{
	struct kv_mutation m = { KV_MUT_SET, key, key_len, KV_ENC_BYTES,
				 value, len, -1 };
	struct kv_atomic a = { .mutations = &m, .n_mutations = 1 };

	ck_assert_int_eq(kv_store_commit(s, &a, NULL), 0);
}

/* The key ["secret"]. */
static const uint8_t secret_key[] = { 0x02, 's', 'e', 'c', 'r', 'e', 't', 0 };
static const char plaintext[] = "the plaintext";

/* An encrypted store "enc" holding ["secret"] = plaintext. */
static struct kv_seal_key *make_encrypted(void)
{
	struct kv_seal_key *k = key_file();
	struct kv_store *s = open_with("enc", false, NULL);

	ck_assert_int_eq(kv_store_seal_init(s, k, NULL), 0);
	set_bytes(s, secret_key, sizeof(secret_key), plaintext,
		  strlen(plaintext));
	kv_store_close(s);
	return k;
}

static struct kv_entry get(struct kv_store *s)
{
	struct kv_entry e;

	ck_assert_int_eq(kv_store_get(s, secret_key, sizeof(secret_key), &e),
			 0);
	return e;
}

START_TEST(meta_list_of_a_fresh_store_is_empty)
{
	struct kv_store *s = open_with("db", false, NULL);
	struct kv_meta_list l;

	ck_assert_int_eq(kv_store_meta_list(s, &l), 0);
	ck_assert_uint_eq(l.n, 0);
	kv_meta_list_free(&l);
	kv_store_close(s);
}
END_TEST

START_TEST(meta_list_gives_every_row_in_name_order_unknown_ones_too)
{
	struct kv_store *s = open_with("db", false, NULL);
	struct kv_meta_list l;

	ck_assert_int_eq(kv_store_meta_set(s, "pointers", (const uint8_t *)"p",
					   1), 0);
	ck_assert_int_eq(kv_store_meta_set(s, "b", (const uint8_t *)"", 0), 0);
	kv_store_close(s);
	sql("db", "insert into kvfs_meta (k, v) values ('a-later-kvfs', "
		  "x'00ff01')");
	s = open_with("db", false, NULL);
	ck_assert_int_eq(kv_store_meta_list(s, &l), 0);
	ck_assert_uint_eq(l.n, 3);
	ck_assert_str_eq(l.v[0].name, "a-later-kvfs");
	ck_assert_uint_eq(l.v[0].len, 3);
	ck_assert_mem_eq(l.v[0].value, "\x00\xff\x01", 3);
	ck_assert_str_eq(l.v[1].name, "b");
	ck_assert_uint_eq(l.v[1].len, 0);
	ck_assert_str_eq(l.v[2].name, "pointers");
	ck_assert_mem_eq(l.v[2].value, "p", 1);
	kv_meta_list_free(&l);
	kv_store_close(s);
}
END_TEST

START_TEST(meta_list_refuses_a_name_with_a_nul_as_eio)
{
	struct kv_store *s = open_with("db", false, NULL);
	struct kv_meta_list l;

	ck_assert_int_eq(kv_store_meta_set(s, "ok", (const uint8_t *)"v", 1),
			 0);
	kv_store_close(s);
	sql("db", "insert into kvfs_meta (k, v) values "
		  "(cast(x'610062' as text), x'00')");
	s = open_with("db", false, NULL);
	ck_assert_int_eq(kv_store_meta_list(s, &l), -EIO);
	ck_assert_uint_eq(l.n, 0);
	kv_store_close(s);
}
END_TEST

START_TEST(seal_row_is_eperm_unless_opened_raw)
{
	struct kv_store *s = open_with("db", false, NULL);

	ck_assert_int_eq(kv_store_meta_set(s, "seal", (const uint8_t *)"x", 1),
			 -EPERM);
	kv_store_close(s);
	s = open_with("db", true, NULL);
	ck_assert_int_eq(kv_store_meta_set(s, "seal", (const uint8_t *)"x", 1),
			 0);
	kv_store_close(s);
}
END_TEST

START_TEST(raw_with_a_seal_key_is_einval)
{
	struct kv_seal_key *k = make_encrypted();
	struct kv_store_options o = { .raw = true, .seal_key = k };
	struct kv_store *s = NULL;

	ck_assert_int_eq(kv_store_open(path_of("enc"), &o, &s), -EINVAL);
	ck_assert_ptr_null(s);
	kv_seal_key_free(k);
}
END_TEST

START_TEST(raw_open_of_an_encrypted_store_needs_no_key_and_reads_envelopes)
{
	struct kv_seal_key *k = make_encrypted();
	struct kv_store_options plain = { 0 };
	struct kv_store *s = NULL;

	ck_assert_int_eq(kv_store_open(path_of("enc"), &plain, &s), -ENOKEY);
	s = open_with("enc", true, NULL);
	struct kv_entry e = get(s);
	ck_assert_int_eq(e.encoding, KV_ENC_BYTES);
	ck_assert_uint_eq(e.value_len, strlen(plaintext) + KV_SEAL_OVERHEAD);
	ck_assert_uint_eq(e.value[0], 0x01);
	ck_assert_ptr_null(memmem(e.value, e.value_len, plaintext,
				  strlen(plaintext)));
	ck_assert_uint_eq(kv_store_max_value(s), KV_MAX_VALUE);
	kv_entry_free(&e);
	kv_store_close(s);
	kv_seal_key_free(k);
}
END_TEST

START_TEST(raw_copy_of_the_seal_row_and_envelopes_opens_with_the_same_key)
{
	struct kv_seal_key *k = make_encrypted();
	struct kv_store *src = open_with("enc", true, NULL);
	struct kv_store *dst = open_with("copy", true, NULL);
	struct kv_meta_list l;

	ck_assert_int_eq(kv_store_meta_list(src, &l), 0);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_str_eq(l.v[0].name, "seal");
	ck_assert_int_eq(kv_store_meta_set(dst, l.v[0].name, l.v[0].value,
					   l.v[0].len), 0);
	struct kv_entry e = get(src);
	set_bytes(dst, e.key, e.key_len, e.value, e.value_len);
	kv_entry_free(&e);
	kv_meta_list_free(&l);
	kv_store_close(src);
	kv_store_close(dst);

	dst = open_with("copy", false, k);
	e = get(dst);
	ck_assert_uint_eq(e.value_len, strlen(plaintext));
	ck_assert_mem_eq(e.value, plaintext, e.value_len);
	kv_entry_free(&e);
	kv_store_close(dst);
	kv_seal_key_free(k);
}
END_TEST

static Suite *store_raw_suite(void)
{
	Suite *s = suite_create("store_raw");
	TCase *tc = tcase_create("meta_list");

	tcase_add_checked_fixture(tc, make_dir, remove_dir);
	tcase_add_test(tc, meta_list_of_a_fresh_store_is_empty);
	tcase_add_test(tc,
		       meta_list_gives_every_row_in_name_order_unknown_ones_too);
	tcase_add_test(tc, meta_list_refuses_a_name_with_a_nul_as_eio);
	suite_add_tcase(s, tc);

	tc = tcase_create("raw");
	tcase_add_checked_fixture(tc, make_dir, remove_dir);
	tcase_add_test(tc, seal_row_is_eperm_unless_opened_raw);
	tcase_add_test(tc, raw_with_a_seal_key_is_einval);
	tcase_add_test(
		tc, raw_open_of_an_encrypted_store_needs_no_key_and_reads_envelopes);
	tcase_add_test(
		tc, raw_copy_of_the_seal_row_and_envelopes_opens_with_the_same_key);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(store_raw_suite());
}
