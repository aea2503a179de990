/*
 * test_store.c — the store layer and the SQLite engine on real files: Deno's
 * schema, the commit protocol, limits, expiry, lists and cursors, children,
 * odd rows, newer formats, lock contention and kvfs's metadata.
 *
 * The test reaches into the file with SQLite directly, as Deno or another
 * process would, to see what the store wrote and to plant what it must
 * survive.
 *
 * With KVFS_TEST_STORE=etcd the same cases run on the etcd engine, each
 * store a fresh prefix on the cluster of KVFS_ETCD_ENDPOINTS; the cases
 * of the tcase "sqlite", which read or plant rows in the file itself, or
 * expect Deno's random 1..9 version steps, are left out there.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "kv_seal.h"
#include "kv_store.h"
#include "support.h"

static char dir[64];
static char db_path[512];

static bool on_etcd(void)
{
	const char *store = getenv("KVFS_TEST_STORE");

	return store && strcmp(store, "etcd") == 0;
}

/* Where each test makes its store: a file in a fresh directory, or a
 * fresh prefix on etcd. */
static void make_dir(void)
{
	strcpy(dir, "/tmp/kvfs-store-XXXXXX");
	temp_dir_make(dir);
	if (on_etcd())
		snprintf(db_path, sizeof(db_path), "etcd://%s/kvfs-test%s",
			 getenv("KVFS_ETCD_ENDPOINTS"), dir);
	else
		snprintf(db_path, sizeof(db_path), "%s/kv.sqlite3", dir);
}

static void remove_dir(void)
{
	temp_dir_remove(dir);
}

/* ---- helpers ---------------------------------------------------------- */

static struct kv_store *open_store(const struct kv_store_options *o)
{
	struct kv_store_options def = { .create = true };
	struct kv_store *s = NULL;

	ck_assert_int_eq(kv_store_open(db_path, o ? o : &def, &s), 0);
	return s;
}

static void add_string(struct kv_buf *b, const char *s, size_t len)
{
	struct kv_part p = { .type = KV_PART_STRING,
			     .data = (const uint8_t *)s,
			     .len = len };
	ck_assert_int_eq(kv_part_encode(&p, b), 0);
}

/* An encoded key of string parts, the list ended by NULL. */
static struct kv_buf skey(const char *part, ...)
{
	struct kv_buf b = { 0 };
	va_list ap;

	va_start(ap, part);
	for (const char *p = part; p; p = va_arg(ap, const char *))
		add_string(&b, p, strlen(p));
	va_end(ap);
	return b;
}

static void add_number(struct kv_buf *b, double v)
{
	struct kv_part p = { .type = KV_PART_NUMBER, .num = v };
	ck_assert_int_eq(kv_part_encode(&p, b), 0);
}

static struct kv_mutation set_of(const struct kv_buf *k, enum kv_encoding enc,
				 const void *v, size_t len)
{
	return (struct kv_mutation){ .type = KV_MUT_SET,
				     .key = k->data,
				     .key_len = k->len,
				     .encoding = enc,
				     .value = v,
				     .value_len = len,
				     .expire_in_ms = -1 };
}

static int commit1(struct kv_store *s, struct kv_mutation m, uint8_t *vs)
{
	struct kv_atomic a = { .mutations = &m, .n_mutations = 1 };
	return kv_store_commit(s, &a, vs);
}

static int put(struct kv_store *s, const struct kv_buf *k, const char *v,
	       int64_t expire_in_ms)
{
	struct kv_mutation m = set_of(k, KV_ENC_BYTES, v, strlen(v));
	m.expire_in_ms = expire_in_ms;
	return commit1(s, m, NULL);
}

/* Store "v" at a key the caller hands over. */
static void put_key(struct kv_store *s, struct kv_buf k, int64_t expire_in_ms)
{
	ck_assert_int_eq(put(s, &k, "v", expire_in_ms), 0);
	kv_buf_free(&k);
}

static int u64_op(struct kv_store *s, enum kv_mutation_type type,
		  const struct kv_buf *k, uint64_t n)
{
	uint8_t v[8];
	kv_u64_encode(n, v);
	struct kv_mutation m = set_of(k, KV_ENC_U64, v, 8);
	m.type = type;
	return commit1(s, m, NULL);
}

static uint64_t get_u64(struct kv_store *s, const struct kv_buf *k)
{
	struct kv_entry e;
	uint64_t n;

	ck_assert_int_eq(kv_store_get(s, k->data, k->len, &e), 0);
	ck_assert_int_eq(e.encoding, KV_ENC_U64);
	ck_assert_int_eq(kv_u64_decode(e.value, e.value_len, &n), 0);
	kv_entry_free(&e);
	return n;
}

static uint64_t version_of(struct kv_store *s)
{
	uint64_t v;
	ck_assert_int_eq(kv_store_data_version(s, &v), 0);
	return v;
}

static uint64_t vs_version(const uint8_t vs[KV_VERSIONSTAMP_LEN])
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | vs[i];
	return v;
}

static bool key_exists(struct kv_store *s, const struct kv_buf *k)
{
	struct kv_entry e;
	int r = kv_store_get(s, k->data, k->len, &e);

	ck_assert(r == 0 || r == -ENOENT);
	kv_entry_free(&e);
	return r == 0;
}

static sqlite3 *raw_open(void)
{
	sqlite3 *db;
	ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
	ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, err ? err : "");
}

static int64_t raw_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- schema: a fresh file is Deno's ----------------------------------- */

/* sqlite_master of a fresh Deno 2.9.6 file (denokv/SPEC.md §1.2). */
static const struct {
	const char *type, *name, *tbl;
	int rootpage;
	const char *sql;
} deno_schema[] = {
	{ "table", "migration_state", "migration_state", 2,
	  "CREATE TABLE migration_state(\n  k integer not null primary key,\n"
	  "  version integer not null\n)" },
	{ "table", "data_version", "data_version", 3,
	  "CREATE TABLE data_version (\n  k integer primary key,\n"
	  "  version integer not null\n, seq integer not null default 0)" },
	{ "table", "kv", "kv", 4,
	  "CREATE TABLE kv (\n  k blob primary key,\n  v blob not null,\n"
	  "  v_encoding integer not null,\n  version integer not null\n"
	  ", seq integer not null default 0, expiration_ms integer not null "
	  "default -1) without rowid" },
	{ "table", "queue", "queue", 5,
	  "CREATE TABLE queue (\n  ts integer not null,\n  id text not null,\n"
	  "  data blob not null,\n  backoff_schedule text not null,\n"
	  "  keys_if_undelivered blob not null,\n\n  primary key (ts, id)\n)" },
	{ "index", "sqlite_autoindex_queue_1", "queue", 6, NULL },
	{ "table", "queue_running", "queue_running", 7,
	  "CREATE TABLE queue_running(\n  deadline integer not null,\n"
	  "  id text not null,\n  data blob not null,\n"
	  "  backoff_schedule text not null,\n"
	  "  keys_if_undelivered blob not null,\n\n"
	  "  primary key (deadline, id)\n)" },
	{ "index", "sqlite_autoindex_queue_running_1", "queue_running", 8,
	  NULL },
	{ "index", "kv_expiration_ms_idx", "kv", 9,
	  "CREATE INDEX kv_expiration_ms_idx on kv (expiration_ms)" },
};

#define N_SCHEMA (sizeof(deno_schema) / sizeof(deno_schema[0]))

static void assert_deno_schema(sqlite3 *db)
{
	sqlite3_stmt *st;
	size_t i = 0;

	ck_assert_int_eq(sqlite3_prepare_v2(db,
					    "select type, name, tbl_name, "
					    "rootpage, sql from sqlite_master "
					    "order by rowid",
					    -1, &st, NULL),
			 SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		ck_assert_uint_lt(i, N_SCHEMA);
		const char *sql = (const char *)sqlite3_column_text(st, 4);
		ck_assert_str_eq((const char *)sqlite3_column_text(st, 0),
				 deno_schema[i].type);
		ck_assert_str_eq((const char *)sqlite3_column_text(st, 1),
				 deno_schema[i].name);
		ck_assert_str_eq((const char *)sqlite3_column_text(st, 2),
				 deno_schema[i].tbl);
		ck_assert_int_eq(sqlite3_column_int(st, 3),
				 deno_schema[i].rootpage);
		ck_assert_pstr_eq(sql, deno_schema[i].sql);
		i++;
	}
	sqlite3_finalize(st);
	ck_assert_uint_eq(i, N_SCHEMA);
}

START_TEST(fresh_store_has_denos_exact_schema)
{
	kv_store_close(open_store(NULL));
	sqlite3 *db = raw_open();
	assert_deno_schema(db);
	sqlite3_close(db);
}
END_TEST

START_TEST(fresh_store_is_at_migration_3_in_wal_mode)
{
	kv_store_close(open_store(NULL));
	sqlite3 *db = raw_open();
	ck_assert_int_eq(raw_int(db, "select count(*) from migration_state"),
			 1);
	ck_assert_int_eq(raw_int(db, "select version from migration_state "
				     "where k = 0"),
			 3);
	ck_assert_int_eq(raw_int(db, "select version from data_version "
				     "where k = 0"),
			 0);
	sqlite3_stmt *st;
	ck_assert_int_eq(sqlite3_prepare_v2(db, "pragma journal_mode", -1, &st,
					    NULL),
			 SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	sqlite3_close(db);
}
END_TEST

/* The migrations of a file Deno left at migration 2 (SPEC §1.2). */
START_TEST(migration_2_file_is_upgraded_as_deno_would)
{
	sqlite3 *db = raw_open();
	raw_exec(db,
		 "create table if not exists migration_state(\n"
		 "  k integer not null primary key,\n"
		 "  version integer not null\n);"
		 "create table data_version (\n  k integer primary key,\n"
		 "  version integer not null\n);\n"
		 "insert into data_version (k, version) values (0, 0);\n"
		 "create table kv (\n  k blob primary key,\n  v blob not null,\n"
		 "  v_encoding integer not null,\n  version integer not null\n"
		 ") without rowid;\n"
		 "create table queue (\n  ts integer not null,\n"
		 "  id text not null,\n  data blob not null,\n"
		 "  backoff_schedule text not null,\n"
		 "  keys_if_undelivered blob not null,\n\n"
		 "  primary key (ts, id)\n);\n"
		 "create table queue_running(\n  deadline integer not null,\n"
		 "  id text not null,\n  data blob not null,\n"
		 "  backoff_schedule text not null,\n"
		 "  keys_if_undelivered blob not null,\n\n"
		 "  primary key (deadline, id)\n);\n"
		 "insert into migration_state values (0, 2);"
		 "insert into kv values (x'02616100', x'0102', 3, 0);");
	sqlite3_close(db);
	struct kv_store *s = open_store(NULL);
	struct kv_buf k = skey("aa", NULL);
	ck_assert(key_exists(s, &k));
	kv_buf_free(&k);
	kv_store_close(s);
	db = raw_open();
	assert_deno_schema(db);
	ck_assert_int_eq(raw_int(db, "select version from migration_state"),
			 3);
	sqlite3_close(db);
}
END_TEST

START_TEST(open_missing_file_without_create_is_enoent)
{
	struct kv_store_options o = { .create = false };
	struct kv_store *s = NULL;

	ck_assert_int_eq(kv_store_open(db_path, &o, &s), -ENOENT);
	ck_assert_int_eq(access(db_path, F_OK), -1);
}
END_TEST

START_TEST(open_file_with_clashing_tables_is_einval)
{
	sqlite3 *db = raw_open();
	raw_exec(db, "create table kv (a, b)");
	sqlite3_close(db);
	struct kv_store_options o = { .create = true };
	struct kv_store *s = NULL;
	ck_assert_int_eq(kv_store_open(db_path, &o, &s), -EINVAL);
}
END_TEST

START_TEST(open_file_that_is_not_sqlite_is_einval)
{
	FILE *f = fopen(db_path, "w");
	ck_assert_ptr_nonnull(f);
	for (int i = 0; i < 200; i++)
		fputs("this is not a database file. ", f);
	fclose(f);
	struct kv_store_options o = { .create = true };
	struct kv_store *s = NULL;
	ck_assert_int_eq(kv_store_open(db_path, &o, &s), -EINVAL);
}
END_TEST

START_TEST(foreign_tables_are_kept_and_deno_tables_added)
{
	sqlite3 *db = raw_open();
	raw_exec(db, "create table notes (t text); insert into notes values "
		     "('kept')");
	sqlite3_close(db);
	kv_store_close(open_store(NULL));
	db = raw_open();
	ck_assert_int_eq(raw_int(db, "select count(*) from notes"), 1);
	ck_assert_int_eq(raw_int(db, "select version from migration_state"),
			 3);
	sqlite3_close(db);
}
END_TEST

START_TEST(newer_migration_opens_read_only_and_writes_give_erofs)
{
	struct kv_buf k = skey("k", NULL);
	struct kv_store *s = open_store(NULL);
	ck_assert_int_eq(put(s, &k, "v", -1), 0);
	kv_store_close(s);
	sqlite3 *db = raw_open();
	raw_exec(db, "update migration_state set version = 4");
	sqlite3_close(db);

	s = open_store(NULL);
	ck_assert(kv_store_read_only(s));
	ck_assert(key_exists(s, &k));
	ck_assert_int_eq(put(s, &k, "w", -1), -EROFS);
	ck_assert_int_eq(kv_store_sweep(s, NULL), -EROFS);
	ck_assert_int_eq(kv_store_meta_set(s, "x", (const uint8_t *)"1", 1),
			 -EROFS);
	kv_store_close(s);
	db = raw_open();
	ck_assert_int_eq(raw_int(db, "select version from migration_state"),
			 4);
	sqlite3_close(db);
	kv_buf_free(&k);
}
END_TEST

START_TEST(read_only_option_refuses_writes)
{
	kv_store_close(open_store(NULL));
	struct kv_store_options o = { .read_only = true };
	struct kv_store *s = open_store(&o);
	struct kv_buf k = skey("k", NULL);
	ck_assert(kv_store_read_only(s));
	ck_assert_int_eq(put(s, &k, "v", -1), -EROFS);
	ck_assert(!key_exists(s, &k));
	kv_store_close(s);
	kv_buf_free(&k);
}
END_TEST

START_TEST(read_only_open_of_an_unmigrated_file_is_erofs)
{
	sqlite3 *db = raw_open();
	raw_exec(db, "create table notes (t text)");
	sqlite3_close(db);
	struct kv_store_options o = { .read_only = true };
	struct kv_store *s = NULL;
	ck_assert_int_eq(kv_store_open(db_path, &o, &s), -EROFS);
	db = raw_open();
	ck_assert_int_eq(raw_int(db, "select count(*) from sqlite_master"), 1);
	sqlite3_close(db);
}
END_TEST

/* ---- set, get, delete, versionstamps ---------------------------------- */

START_TEST(set_then_get_returns_value_and_versionstamp)
{
	struct kv_store *s = open_store(NULL);
	struct kv_buf k = skey("users", "ada", NULL);
	uint8_t vs[KV_VERSIONSTAMP_LEN];
	struct kv_entry e;

	ck_assert_int_eq(commit1(s, set_of(&k, KV_ENC_V8, "\xff\x0f\x49\x02",
					   4),
				 vs),
			 0);
	ck_assert_int_eq(kv_store_get(s, k.data, k.len, &e), 0);
	ck_assert_mem_eq(e.key, k.data, k.len);
	ck_assert_uint_eq(e.key_len, k.len);
	ck_assert_int_eq(e.encoding, KV_ENC_V8);
	ck_assert_uint_eq(e.value_len, 4);
	ck_assert_mem_eq(e.value, "\xff\x0f\x49\x02", 4);
	ck_assert_mem_eq(e.versionstamp, vs, KV_VERSIONSTAMP_LEN);
	ck_assert_int_eq(e.expires_at_ms, -1);
	kv_entry_free(&e);
	kv_store_close(s);
	kv_buf_free(&k);
}
END_TEST

START_TEST(empty_value_round_trips_as_empty_bytes)
{
	struct kv_store *s = open_store(NULL);
	struct kv_buf k = skey("empty", NULL);
	struct kv_entry e;

	ck_assert_int_eq(commit1(s, set_of(&k, KV_ENC_BYTES, NULL, 0), NULL),
			 0);
	ck_assert_int_eq(kv_store_get(s, k.data, k.len, &e), 0);
	ck_assert_int_eq(e.encoding, KV_ENC_BYTES);
	ck_assert_uint_eq(e.value_len, 0);
	kv_entry_free(&e);
	kv_store_close(s);
	sqlite3 *db = raw_open();
	ck_assert_int_eq(raw_int(db, "select typeof(v) = 'blob' from kv"), 1);
	sqlite3_close(db);
	kv_buf_free(&k);
}
END_TEST

START_TEST(delete_removes_the_key)
{
	struct kv_store *s = open_store(NULL);
	struct kv_buf k = skey("gone", NULL);
	struct kv_buf other = skey("stays", NULL);

	ck_assert_int_eq(put(s, &k, "x", -1), 0);
	ck_assert_int_eq(put(s, &other, "y", -1), 0);
	struct kv_mutation m = { .type = KV_MUT_DELETE,
				 .key = k.data,
				 .key_len = k.len };
	ck_assert_int_eq(commit1(s, m, NULL), 0);
	ck_assert(!key_exists(s, &k));
	ck_assert(key_exists(s, &other));
	kv_store_close(s);
	kv_buf_free(&k);
	kv_buf_free(&other);
}
END_TEST

START_TEST(written_rows_carry_denos_columns)
{
	struct kv_store *s = open_store(NULL);
	struct kv_buf k = skey("row", NULL);
	uint8_t vs[KV_VERSIONSTAMP_LEN];

	ck_assert_int_eq(commit1(s, set_of(&k, KV_ENC_BYTES, "ab", 2), vs), 0);
	kv_store_close(s);
	sqlite3 *db = raw_open();
	ck_assert_int_eq(raw_int(db, "select typeof(k) = 'blob' and "
				     "typeof(v) = 'blob' and v_encoding = 3 "
				     "and seq = 0 and expiration_ms = -1 "
				     "from kv"),
			 1);
	ck_assert_int_eq(raw_int(db, "select version from kv"),
			 (int64_t)vs_version(vs));
	ck_assert_int_eq(raw_int(db, "select version from data_version"),
			 (int64_t)vs_version(vs));
	sqlite3_close(db);
	ck_assert_mem_eq(vs + 8, "\0\0", 2);
	kv_buf_free(&k);
}
END_TEST

START_TEST(versionstamps_strictly_increase_by_1_to_9)
{
	struct kv_store *s = open_store(NULL);
	struct kv_buf k = skey("n", NULL);
	uint8_t vs[KV_VERSIONSTAMP_LEN];
	uint64_t prev = 0;
	bool seen[10] = { false };
	int distinct = 0;

	for (int i = 0; i < 200; i++) {
		ck_assert_int_eq(commit1(s, set_of(&k, KV_ENC_BYTES, "v", 1),
					 vs),
				 0);
		uint64_t v = vs_version(vs);
		ck_assert_uint_ge(v - prev, 1);
		ck_assert_uint_le(v - prev, 9);
		ck_assert_uint_gt(v, prev);
		if (!seen[v - prev])
			distinct++;
		seen[v - prev] = true;
		ck_assert_uint_eq(version_of(s), v);
		prev = v;
	}
	ck_assert_int_ge(distinct, 3); /* random steps, not a constant */
	kv_store_close(s);
	kv_buf_free(&k);
}
END_TEST

START_TEST(empty_commit_still_bumps_the_version)
{
	struct kv_store *s = open_store(NULL);
	struct kv_atomic a = { 0 };
	uint8_t vs[KV_VERSIONSTAMP_LEN];

	ck_assert_int_eq(kv_store_commit(s, &a, vs), 0);
	ck_assert_uint_ge(vs_version(vs), 1);
	ck_assert_uint_eq(version_of(s), vs_version(vs));
	kv_store_close(s);
}
END_TEST

/* ---- the version a commit started from -------------------------------- */

START_TEST(commit_start_is_the_version_read_just_before_when_alone)
{
	struct kv_store *s = open_store(NULL);
	struct kv_buf k = skey("alone", NULL);
	uint8_t vs[KV_VERSIONSTAMP_LEN];

	/* Enough commits that SQLite's random steps are not all 1. */
	for (int i = 0; i < 20; i++) {
		uint64_t before = version_of(s), start = 0;
		ck_assert_int_eq(commit1(s, set_of(&k, KV_ENC_BYTES, "v", 1),
					 vs),
				 0);
		ck_assert_int_eq(kv_store_commit_start(s, vs, &start), 0);
		ck_assert_uint_eq(start, before);
		ck_assert_uint_gt(vs_version(vs), start);
	}
	kv_store_close(s);
	kv_buf_free(&k);
}
END_TEST

START_TEST(commit_start_differs_when_another_handle_committed_between)
{
	struct kv_store *s = open_store(NULL);
	struct kv_store *other = open_store(NULL);
	struct kv_buf k = skey("mine", NULL);
	struct kv_buf ko = skey("theirs", NULL);
	uint8_t vs[KV_VERSIONSTAMP_LEN], vs_other[KV_VERSIONSTAMP_LEN];
	uint64_t before = version_of(s), start = 0;

	ck_assert_int_eq(commit1(other, set_of(&ko, KV_ENC_BYTES, "o", 1),
				 vs_other),
			 0);
	ck_assert_int_eq(commit1(s, set_of(&k, KV_ENC_BYTES, "m", 1), vs), 0);
	ck_assert_int_eq(kv_store_commit_start(s, vs, &start), 0);
	ck_assert_uint_ne(start, before);
	ck_assert_uint_ge(start, vs_version(vs_other));
	ck_assert_uint_lt(start, vs_version(vs));
	kv_store_close(other);
	kv_store_close(s);
	kv_buf_free(&k);
	kv_buf_free(&ko);
}
END_TEST

START_TEST(commit_start_of_an_earlier_commit_is_enoent_on_sqlite)
{
	struct kv_store *s = open_store(NULL);
	struct kv_buf k = skey("twice", NULL);
	uint8_t vs1[KV_VERSIONSTAMP_LEN], vs2[KV_VERSIONSTAMP_LEN];
	uint64_t start;

	ck_assert_int_eq(commit1(s, set_of(&k, KV_ENC_BYTES, "1", 1), vs1), 0);
	ck_assert_int_eq(commit1(s, set_of(&k, KV_ENC_BYTES, "2", 1), vs2), 0);
	ck_assert_int_eq(kv_store_commit_start(s, vs1, &start), -ENOENT);
	ck_assert_int_eq(kv_store_commit_start(s, vs2, &start), 0);
	ck_assert_uint_eq(start, vs_version(vs1));
	kv_store_close(s);
	kv_buf_free(&k);
}
END_TEST

enum { THREADS = 4, EACH = 40 };

struct thread_job {
	struct kv_store *s;
	int id;
	uint64_t got[EACH];
};

static void *commit_many(void *arg)
{
	struct thread_job *j = arg;
	char name[16];
	uint8_t vs[KV_VERSIONSTAMP_LEN];

	for (int i = 0; i < EACH; i++) {
		snprintf(name, sizeof(name), "t%d-%d", j->id, i);
		struct kv_buf k = skey(name, NULL);
		j->got[i] = commit1(j->s, set_of(&k, KV_ENC_BYTES, "v", 1),
				    vs) == 0
				    ? vs_version(vs)
				    : 0;
		kv_buf_free(&k);
	}
	return NULL;
}

START_TEST(concurrent_threads_commit_with_distinct_versionstamps)
{
	struct kv_store *s = open_store(NULL);
	struct thread_job jobs[THREADS];
	pthread_t t[THREADS];

	for (int i = 0; i < THREADS; i++) {
		jobs[i] = (struct thread_job){ .s = s, .id = i };
		ck_assert_int_eq(pthread_create(&t[i], NULL, commit_many,
						&jobs[i]),
				 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < THREADS * EACH; i++) {
		uint64_t v = jobs[i / EACH].got[i % EACH];
		ck_assert_uint_ne(v, 0);
		for (int j = 0; j < i; j++)
			ck_assert_uint_ne(v, jobs[j / EACH].got[j % EACH]);
	}
	kv_store_close(s);
}
END_TEST

/* ---- checks ----------------------------------------------------------- */

START_TEST(check_by_versionstamp_passes_then_fails_without_bump)
{
	struct kv_store *s = open_store(NULL);
	struct kv_buf k = skey("c", NULL);
	struct kv_buf other = skey("other", NULL);
	uint8_t vs1[KV_VERSIONSTAMP_LEN], vs2[KV_VERSIONSTAMP_LEN];

	ck_assert_int_eq(commit1(s, set_of(&k, KV_ENC_BYTES, "1", 1), vs1), 0);
	struct kv_check c = { k.data, k.len, vs1 };
	struct kv_mutation m = set_of(&k, KV_ENC_BYTES, "2", 1);
	struct kv_atomic a = { &c, 1, &m, 1 };
	ck_assert_int_eq(kv_store_commit(s, &a, vs2), 0);
	ck_assert_uint_gt(vs_version(vs2), vs_version(vs1));

	uint64_t before = version_of(s);
	struct kv_mutation m2[] = { set_of(&k, KV_ENC_BYTES, "3", 1),
				    set_of(&other, KV_ENC_BYTES, "x", 1) };
	struct kv_atomic stale = { &c, 1, m2, 2 }; /* still vs1 */
	ck_assert_int_eq(kv_store_commit(s, &stale, NULL), -ECANCELED);
	ck_assert_uint_eq(version_of(s), before);
	ck_assert(!key_exists(s, &other));
	struct kv_entry e;
	ck_assert_int_eq(kv_store_get(s, k.data, k.len, &e), 0);
	ck_assert_mem_eq(e.value, "2", 1);
	ck_assert_mem_eq(e.versionstamp, vs2, KV_VERSIONSTAMP_LEN);
	kv_entry_free(&e);
	kv_store_close(s);
	kv_buf_free(&k);
	kv_buf_free(&other);
}
END_TEST

START_TEST(check_of_absence_passes_then_fails)
{
	struct kv_store *s = open_store(NULL);
	struct kv_buf k = skey("new", NULL);
	struct kv_check c = { k.data, k.len, NULL };
	struct kv_mutation m = set_of(&k, KV_ENC_BYTES, "1", 1);
	struct kv_atomic a = { &c, 1, &m, 1 };

	ck_assert_int_eq(kv_store_commit(s, &a, NULL), 0);
	uint64_t before = version_of(s);
	ck_assert_int_eq(kv_store_commit(s, &a, NULL), -ECANCELED);
	ck_assert_uint_eq(version_of(s), before);
	kv_store_close(s);
	kv_buf_free(&k);
}
END_TEST

START_TEST(check_treats_an_expired_key_as_absent)
{
	struct kv_store *s = open_store(NULL);
	struct kv_buf k = skey("ttl", NULL);
	uint8_t vs[KV_VERSIONSTAMP_LEN];
	struct kv_mutation m = set_of(&k, KV_ENC_BYTES, "1", 1);

	m.expire_in_ms = 0;
	ck_assert_int_eq(commit1(s, m, vs), 0);
	struct kv_check absent = { k.data, k.len, NULL };
	struct kv_check by_vs = { k.data, k.len, vs };
	struct kv_atomic a1 = { &by_vs, 1, NULL, 0 };
	struct kv_atomic a2 = { &absent, 1, NULL, 0 };
	ck_assert_int_eq(kv_store_commit(s, &a1, NULL), -ECANCELED);
	ck_assert_int_eq(kv_store_commit(s, &a2, NULL), 0);
	kv_store_close(s);
	kv_buf_free(&k);
}
END_TEST

/* ---- sum, min, max ---------------------------------------------------- */

START_TEST(sum_stores_operand_then_wraps_at_2_pow_64)
{
	struct kv_store *s = open_store(NULL);
	struct kv_buf k = skey("counter", NULL);

	ck_assert_int_eq(u64_op(s, KV_MUT_SUM, &k, UINT64_MAX), 0);
	ck_assert_uint_eq(get_u64(s, &k), UINT64_MAX);
	ck_assert_int_eq(u64_op(s, KV_MUT_SUM, &k, 2), 0);
	ck_assert_uint_eq(get_u64(s, &k), 1);
	ck_assert_int_eq(u64_op(s, KV_MUT_SUM, &k, 41), 0);
	ck_assert_uint_eq(get_u64(s, &k), 42);
	kv_store_close(s);
	kv_buf_free(&k);
}
END_TEST

START_TEST(min_and_max_keep_the_extreme)
{
	struct kv_store *s = open_store(NULL);
	struct kv_buf lo = skey("lo", NULL), hi = skey("hi", NULL);

	ck_assert_int_eq(u64_op(s, KV_MUT_MIN, &lo, 10), 0);
	ck_assert_int_eq(u64_op(s, KV_MUT_MIN, &lo, 20), 0);
	ck_assert_uint_eq(get_u64(s, &lo), 10);
	ck_assert_int_eq(u64_op(s, KV_MUT_MIN, &lo, 3), 0);
	ck_assert_uint_eq(get_u64(s, &lo), 3);
	ck_assert_int_eq(u64_op(s, KV_MUT_MAX, &hi, 10), 0);
	ck_assert_int_eq(u64_op(s, KV_MUT_MAX, &hi, 5), 0);
	ck_assert_uint_eq(get_u64(s, &hi), 10);
	ck_assert_int_eq(u64_op(s, KV_MUT_MAX, &hi, UINT64_MAX), 0);
	ck_assert_uint_eq(get_u64(s, &hi), UINT64_MAX);
	kv_store_close(s);
	kv_buf_free(&lo);
	kv_buf_free(&hi);
}
END_TEST

START_TEST(sum_clears_the_expiry)
{
	struct kv_store *s = open_store(NULL);
	struct kv_buf k = skey("c", NULL);
	uint8_t one[8];
	struct kv_entry e;

	kv_u64_encode(1, one);
	struct kv_mutation m = set_of(&k, KV_ENC_U64, one, 8);
	m.expire_in_ms = 3600000;
	ck_assert_int_eq(commit1(s, m, NULL), 0);
	ck_assert_int_eq(u64_op(s, KV_MUT_SUM, &k, 1), 0);
	ck_assert_int_eq(kv_store_get(s, k.data, k.len, &e), 0);
	ck_assert_int_eq(e.expires_at_ms, -1);
	kv_entry_free(&e);
	kv_store_close(s);
	kv_buf_free(&k);
}
END_TEST

START_TEST(sum_on_a_non_u64_value_is_einval_and_writes_nothing)
{
	struct kv_store *s = open_store(NULL);
	struct kv_buf k = skey("text", NULL), side = skey("side", NULL);
	uint8_t one[8];

	ck_assert_int_eq(put(s, &k, "not a number", -1), 0);
	uint64_t before = version_of(s);
	kv_u64_encode(1, one);
	struct kv_mutation m[2] = { set_of(&side, KV_ENC_BYTES, "x", 1),
				    set_of(&k, KV_ENC_U64, one, 8) };
	m[1].type = KV_MUT_SUM;
	struct kv_atomic a = { NULL, 0, m, 2 };
	ck_assert_int_eq(kv_store_commit(s, &a, NULL), -EINVAL);
	ck_assert(!key_exists(s, &side));
	ck_assert_uint_eq(version_of(s), before);
	m[1].type = KV_MUT_MAX;
	ck_assert_int_eq(kv_store_commit(s, &a, NULL), -EINVAL);
	kv_store_close(s);
	kv_buf_free(&k);
	kv_buf_free(&side);
}
END_TEST

START_TEST(u64_operands_must_be_8_bytes)
{
	struct kv_store *s = open_store(NULL);
	struct kv_buf k = skey("c", NULL);
	struct kv_mutation m = set_of(&k, KV_ENC_U64, "1234567", 7);

	ck_assert_int_eq(commit1(s, m, NULL), -EINVAL);
	m.type = KV_MUT_SUM;
	ck_assert_int_eq(commit1(s, m, NULL), -EINVAL);
	m = set_of(&k, KV_ENC_BYTES, "12345678", 8);
	m.type = KV_MUT_MIN;
	ck_assert_int_eq(commit1(s, m, NULL), -EINVAL);
	ck_assert(!key_exists(s, &k));
	kv_store_close(s);
	kv_buf_free(&k);
}
END_TEST

/* ---- limits (SPEC §4), each at the limit and one past ----------------- */

/* A key of exactly len bytes: one string part padded to size. */
static struct kv_buf key_of_len(size_t len, int tag)
{
	struct kv_buf b = { 0 };
	char *s = malloc(len);
	char id[16];
	int n = snprintf(id, sizeof(id), "%d/", tag);

	ck_assert_ptr_nonnull(s);
	ck_assert_uint_ge(len, (size_t)n + 2);
	memset(s, 'a', len - 2);
	memcpy(s, id, (size_t)n);
	add_string(&b, s, len - 2);
	free(s);
	ck_assert_uint_eq(b.len, len);
	return b;
}

START_TEST(value_of_65536_bytes_is_stored_and_65537_is_efbig)
{
	struct kv_store *s = open_store(NULL);
	struct kv_buf k = skey("big", NULL);
	uint8_t *v = calloc(1, KV_MAX_VALUE + 1);

	ck_assert_uint_eq(kv_store_max_value(s), KV_MAX_VALUE);
	ck_assert_int_eq(commit1(s, set_of(&k, KV_ENC_BYTES, v, KV_MAX_VALUE),
				 NULL),
			 0);
	uint64_t before = version_of(s);
	ck_assert_int_eq(commit1(s, set_of(&k, KV_ENC_BYTES, v,
					   KV_MAX_VALUE + 1),
				 NULL),
			 -EFBIG);
	ck_assert_uint_eq(version_of(s), before);
	free(v);
	kv_store_close(s);
	kv_buf_free(&k);
}
END_TEST

START_TEST(lowered_max_value_size_is_enforced)
{
	struct kv_store_options o = { .create = true,
				      .max_value_size = 61440 };
	struct kv_store *s = open_store(&o);
	struct kv_buf k = skey("big", NULL);
	uint8_t *v = calloc(1, 61441);

	ck_assert_uint_eq(kv_store_max_value(s), 61440);
	ck_assert_int_eq(commit1(s, set_of(&k, KV_ENC_BYTES, v, 61440), NULL),
			 0);
	ck_assert_int_eq(commit1(s, set_of(&k, KV_ENC_BYTES, v, 61441), NULL),
			 -EFBIG);
	free(v);
	kv_store_close(s);
	kv_buf_free(&k);

	struct kv_store *bad = NULL;
	o.max_value_size = KV_MAX_VALUE + 1;
	ck_assert_int_eq(kv_store_open(db_path, &o, &bad), -EINVAL);
}
END_TEST

START_TEST(key_of_2048_bytes_is_written_and_2049_is_enametoolong)
{
	struct kv_store *s = open_store(NULL);
	struct kv_buf k = key_of_len(2048, 1), k2 = key_of_len(2049, 1);
	struct kv_entry e;

	ck_assert_int_eq(put(s, &k, "v", -1), 0);
	ck_assert_int_eq(kv_store_get(s, k.data, k.len, &e), 0);
	kv_entry_free(&e);
	ck_assert_int_eq(put(s, &k2, "v", -1), -ENAMETOOLONG);
	struct kv_check c = { k2.data, k2.len, NULL };
	struct kv_atomic a = { &c, 1, NULL, 0 };
	ck_assert_int_eq(kv_store_commit(s, &a, NULL), -ENAMETOOLONG);
	ck_assert_int_eq(kv_store_get(s, k2.data, k2.len, &e), -ENAMETOOLONG);
	kv_store_close(s);
	kv_buf_free(&k);
	kv_buf_free(&k2);
}
END_TEST

START_TEST(empty_key_in_a_write_is_einval)
{
	struct kv_store *s = open_store(NULL);
	struct kv_buf empty = { 0 };

	ck_assert_int_eq(put(s, &empty, "v", -1), -EINVAL);
	struct kv_mutation m = { .type = KV_MUT_DELETE };
	ck_assert_int_eq(commit1(s, m, NULL), -EINVAL);
	kv_store_close(s);
}
END_TEST

START_TEST(checks_100_pass_and_101_are_e2big)
{
	struct kv_store *s = open_store(NULL);
	struct kv_check c[101];
	struct kv_buf keys[101];

	for (int i = 0; i < 101; i++) {
		keys[i] = key_of_len(10, i);
		c[i] = (struct kv_check){ keys[i].data, keys[i].len, NULL };
	}
	struct kv_atomic a = { c, 100, NULL, 0 };
	ck_assert_int_eq(kv_store_commit(s, &a, NULL), 0);
	a.n_checks = 101;
	ck_assert_int_eq(kv_store_commit(s, &a, NULL), -E2BIG);
	for (int i = 0; i < 101; i++)
		kv_buf_free(&keys[i]);
	kv_store_close(s);
}
END_TEST

START_TEST(mutations_1000_pass_and_1001_are_e2big)
{
	struct kv_store *s = open_store(NULL);
	struct kv_mutation m[1001];
	struct kv_buf keys[1001];

	for (int i = 0; i < 1001; i++) {
		keys[i] = key_of_len(10, i);
		m[i] = set_of(&keys[i], KV_ENC_BYTES, "v", 1);
	}
	struct kv_atomic a = { NULL, 0, m, 1001 };
	ck_assert_int_eq(kv_store_commit(s, &a, NULL), -E2BIG);
	a.n_mutations = 1000;
	ck_assert_int_eq(kv_store_commit(s, &a, NULL), 0);
	ck_assert(key_exists(s, &keys[999]));
	ck_assert(!key_exists(s, &keys[1000]));
	for (int i = 0; i < 1001; i++)
		kv_buf_free(&keys[i]);
	kv_store_close(s);
}
END_TEST

START_TEST(total_mutation_size_12_values_of_64k_pass_13_are_e2big)
{
	struct kv_store *s = open_store(NULL);
	struct kv_mutation m[13];
	struct kv_buf keys[13];
	uint8_t *v = calloc(1, KV_MAX_VALUE);

	for (int i = 0; i < 13; i++) {
		keys[i] = key_of_len(10, i);
		m[i] = set_of(&keys[i], KV_ENC_BYTES, v, KV_MAX_VALUE);
	}
	struct kv_atomic a = { NULL, 0, m, 13 };
	ck_assert_int_eq(kv_store_commit(s, &a, NULL), -E2BIG);
	ck_assert(!key_exists(s, &keys[0]));
	a.n_mutations = 12;
	ck_assert_int_eq(kv_store_commit(s, &a, NULL), 0);
	for (int i = 0; i < 13; i++)
		kv_buf_free(&keys[i]);
	free(v);
	kv_store_close(s);
}
END_TEST

/* 12 sets (key 10, value 65536: key counted twice) + 15 checks of 2048-byte
 * keys + one delete of a 1808-byte key make exactly 819200 bytes. */
START_TEST(total_mutation_size_counts_set_keys_twice_up_to_819200)
{
	struct kv_store *s = open_store(NULL);
	struct kv_mutation m[13];
	struct kv_check c[15];
	struct kv_buf keys[28];
	uint8_t *v = calloc(1, KV_MAX_VALUE);

	for (int i = 0; i < 12; i++) {
		keys[i] = key_of_len(10, i);
		m[i] = set_of(&keys[i], KV_ENC_BYTES, v, KV_MAX_VALUE);
	}
	for (int i = 0; i < 15; i++) {
		keys[12 + i] = key_of_len(KV_MAX_WRITE_KEY, i);
		c[i] = (struct kv_check){ keys[12 + i].data, keys[12 + i].len,
					  NULL };
	}
	keys[27] = key_of_len(1808, 99);
	m[12] = (struct kv_mutation){ .type = KV_MUT_DELETE,
				      .key = keys[27].data,
				      .key_len = keys[27].len };
	struct kv_atomic a = { c, 15, m, 13 };
	ck_assert_int_eq(kv_store_commit(s, &a, NULL), 0);
	kv_buf_free(&keys[27]);
	keys[27] = key_of_len(1809, 99);
	m[12].key = keys[27].data;
	m[12].key_len = keys[27].len;
	ck_assert_int_eq(kv_store_commit(s, &a, NULL), -E2BIG);
	for (int i = 0; i < 28; i++)
		kv_buf_free(&keys[i]);
	free(v);
	kv_store_close(s);
}
END_TEST

START_TEST(total_key_size_41_long_keys_set_e2big_deleted_ok)
{
	struct kv_store *s = open_store(NULL);
	struct kv_mutation m[41];
	struct kv_buf keys[41];

	for (int i = 0; i < 41; i++) {
		keys[i] = key_of_len(KV_MAX_WRITE_KEY, i);
		m[i] = set_of(&keys[i], KV_ENC_BYTES, "v", 1);
	}
	struct kv_atomic a = { NULL, 0, m, 41 };
	ck_assert_int_eq(kv_store_commit(s, &a, NULL), -E2BIG);
	a.n_mutations = 40;
	ck_assert_int_eq(kv_store_commit(s, &a, NULL), 0);
	for (int i = 0; i < 41; i++)
		m[i].type = KV_MUT_DELETE;
	a.n_mutations = 41;
	ck_assert_int_eq(kv_store_commit(s, &a, NULL), 0);
	ck_assert(!key_exists(s, &keys[0]));
	for (int i = 0; i < 41; i++)
		kv_buf_free(&keys[i]);
	kv_store_close(s);
}
END_TEST

START_TEST(expire_in_must_be_minus_1_or_0_to_8_2e15)
{
	struct kv_store *s = open_store(NULL);
	struct kv_buf k = skey("ttl", NULL);
	struct kv_entry e;

	ck_assert_int_eq(put(s, &k, "v", -2), -EINVAL);
	ck_assert_int_eq(put(s, &k, "v", 8200000000000001LL), -EINVAL);
	int64_t t0 = wall_ms();
	ck_assert_int_eq(put(s, &k, "v", 8200000000000000LL), 0);
	ck_assert_int_eq(kv_store_get(s, k.data, k.len, &e), 0);
	ck_assert_int_ge(e.expires_at_ms, t0 + 8200000000000000LL);
	kv_entry_free(&e);
	kv_store_close(s);
	kv_buf_free(&k);
}
END_TEST

START_TEST(reads_of_more_than_10_ranges_or_1000_entries_are_e2big)
{
	struct kv_store *s = open_store(NULL);
	const uint8_t *keys[11];
	size_t lens[11];
	struct kv_entry out[11];
	bool found[11];
	struct kv_buf k = skey("k", NULL);

	for (int i = 0; i < 11; i++) {
		keys[i] = k.data;
		lens[i] = k.len;
	}
	ck_assert_int_eq(kv_store_get_many(s, keys, lens, 11, out, found),
			 -E2BIG);
	struct kv_range r = { k.data, k.len, (const uint8_t *)"\x03", 1, 1001,
			      false };
	struct kv_entries got;
	ck_assert_int_eq(kv_store_read_range(s, &r, &got), -E2BIG);
	r.limit = 1000;
	ck_assert_int_eq(kv_store_read_range(s, &r, &got), 0);
	kv_entries_free(&got);
	struct kv_buf big = key_of_len(2050, 1);
	r = (struct kv_range){ big.data, big.len, NULL, 0, 1, false };
	ck_assert_int_eq(kv_store_read_range(s, &r, &got), -ENAMETOOLONG);
	kv_buf_free(&big);
	kv_buf_free(&k);
	kv_store_close(s);
}
END_TEST

START_TEST(get_many_reads_keys_in_one_snapshot)
{
	struct kv_store *s = open_store(NULL);
	struct kv_buf a = skey("a", NULL), b = skey("b", NULL),
		      c = skey("c", NULL);
	const uint8_t *keys[] = { a.data, b.data, c.data };
	size_t lens[] = { a.len, b.len, c.len };
	struct kv_entry out[3];
	bool found[3];

	ck_assert_int_eq(put(s, &a, "1", -1), 0);
	ck_assert_int_eq(put(s, &c, "3", -1), 0);
	ck_assert_int_eq(kv_store_get_many(s, keys, lens, 3, out, found), 0);
	ck_assert(found[0] && !found[1] && found[2]);
	ck_assert_mem_eq(out[0].value, "1", 1);
	ck_assert_mem_eq(out[2].value, "3", 1);
	kv_entry_free(&out[0]);
	kv_entry_free(&out[2]);
	kv_buf_free(&a);
	kv_buf_free(&b);
	kv_buf_free(&c);
	kv_store_close(s);
}
END_TEST

/* ---- expiry ----------------------------------------------------------- */

START_TEST(expired_keys_are_hidden_from_every_read)
{
	struct kv_store *s = open_store(NULL);
	struct kv_buf p = skey("p", NULL);
	struct kv_buf dead = skey("p", "dead", NULL);
	struct kv_buf live = skey("p", "live", NULL);
	struct kv_entry e;
	struct kv_entries got;

	int64_t t0 = wall_ms();
	ck_assert_int_eq(put(s, &dead, "x", 0), 0);
	ck_assert_int_eq(put(s, &live, "y", 3600000), 0);
	ck_assert_int_eq(kv_store_get(s, dead.data, dead.len, &e), -ENOENT);
	ck_assert_int_eq(kv_store_get(s, live.data, live.len, &e), 0);
	ck_assert_int_ge(e.expires_at_ms, t0 + 3600000);
	ck_assert_int_le(e.expires_at_ms, wall_ms() + 3600000);
	kv_entry_free(&e);
	struct kv_list sel = { .prefix = p.data, .prefix_len = p.len };
	ck_assert_int_eq(kv_store_list(s, &sel, &got, NULL), 0);
	ck_assert_uint_eq(got.n, 1);
	ck_assert_mem_eq(got.v[0].key, live.data, live.len);
	kv_entries_free(&got);
	kv_store_close(s);
	kv_buf_free(&p);
	kv_buf_free(&dead);
	kv_buf_free(&live);
}
END_TEST

START_TEST(sweep_deletes_expired_rows_and_bumps_the_version_by_1)
{
	struct kv_store *s = open_store(NULL);
	struct kv_buf a = skey("a", NULL), b = skey("b", NULL),
		      c = skey("c", NULL);
	size_t deleted;

	ck_assert_int_eq(put(s, &a, "x", 0), 0);
	ck_assert_int_eq(put(s, &b, "x", 0), 0);
	ck_assert_int_eq(put(s, &c, "x", 3600000), 0);
	uint64_t before = version_of(s);
	ck_assert_int_eq(kv_store_sweep(s, &deleted), 0);
	ck_assert_uint_eq(deleted, 2);
	ck_assert_uint_eq(version_of(s), before + 1);
	ck_assert_int_eq(kv_store_sweep(s, &deleted), 0);
	ck_assert_uint_eq(deleted, 0);
	ck_assert_uint_eq(version_of(s), before + 1);
	kv_store_close(s);
	sqlite3 *db = raw_open();
	ck_assert_int_eq(raw_int(db, "select count(*) from kv"), 1);
	sqlite3_close(db);
	kv_buf_free(&a);
	kv_buf_free(&b);
	kv_buf_free(&c);
}
END_TEST

/* ---- list ------------------------------------------------------------- */

/* The keys of a list, each checked against the expected string parts
 * below the prefix "p". */
static void assert_listed(const struct kv_entries *got, const char *const *want,
			  size_t n)
{
	ck_assert_uint_eq(got->n, n);
	for (size_t i = 0; i < n; i++) {
		struct kv_buf k = skey("p", NULL);
		char part[16];
		const char *w = want[i];
		while (*w) {
			size_t len = strcspn(w, "/");
			memcpy(part, w, len);
			add_string(&k, part, len);
			w += len + (w[len] == '/');
		}
		ck_assert_uint_eq(got->v[i].key_len, k.len);
		ck_assert_mem_eq(got->v[i].key, k.data, k.len);
		kv_buf_free(&k);
	}
}

static struct kv_store *list_fixture(void)
{
	static const char *const parts[][3] = {
		{ "p", NULL }, { "p", "d", NULL }, { "p", "a", NULL },
		{ "p", "c", NULL }, { "p", "a", "x" }, { "p", "b", NULL },
		{ "q", NULL }, { "o", "z", NULL },
	};
	struct kv_store *s = open_store(NULL);

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		struct kv_buf k = skey(parts[i][0], parts[i][1], parts[i][2],
				       NULL);
		ck_assert_int_eq(put(s, &k, "v", -1), 0);
		kv_buf_free(&k);
	}
	return s;
}

START_TEST(list_by_prefix_is_in_key_order_without_the_prefix_key)
{
	struct kv_store *s = list_fixture();
	struct kv_buf p = skey("p", NULL);
	struct kv_list sel = { .prefix = p.data, .prefix_len = p.len };
	struct kv_entries got;
	static const char *const all[] = { "a", "a/x", "b", "c", "d" };
	static const char *const rev[] = { "d", "c", "b", "a/x", "a" };

	ck_assert_int_eq(kv_store_list(s, &sel, &got, NULL), 0);
	assert_listed(&got, all, 5);
	kv_entries_free(&got);
	sel.reverse = true;
	ck_assert_int_eq(kv_store_list(s, &sel, &got, NULL), 0);
	assert_listed(&got, rev, 5);
	kv_entries_free(&got);
	kv_buf_free(&p);
	kv_store_close(s);
}
END_TEST

START_TEST(list_with_start_end_and_limit)
{
	struct kv_store *s = list_fixture();
	struct kv_buf p = skey("p", NULL), b = skey("p", "b", NULL),
		      c = skey("p", "c", NULL);
	struct kv_entries got;
	static const char *const from_b[] = { "b", "c", "d" };
	static const char *const to_c[] = { "a", "a/x", "b" };
	static const char *const b_to_c[] = { "b" };
	static const char *const last2[] = { "d", "c" };

	struct kv_list sel = { .prefix = p.data, .prefix_len = p.len,
			       .start = b.data, .start_len = b.len };
	ck_assert_int_eq(kv_store_list(s, &sel, &got, NULL), 0);
	assert_listed(&got, from_b, 3);
	kv_entries_free(&got);
	sel = (struct kv_list){ .prefix = p.data, .prefix_len = p.len,
				.end = c.data, .end_len = c.len };
	ck_assert_int_eq(kv_store_list(s, &sel, &got, NULL), 0);
	assert_listed(&got, to_c, 3);
	kv_entries_free(&got);
	sel.start = b.data;
	sel.start_len = b.len;
	ck_assert_int_eq(kv_store_list(s, &sel, &got, NULL), 0);
	assert_listed(&got, b_to_c, 1);
	kv_entries_free(&got);
	sel = (struct kv_list){ .prefix = p.data, .prefix_len = p.len,
				.limit = 2, .reverse = true };
	ck_assert_int_eq(kv_store_list(s, &sel, &got, NULL), 0);
	assert_listed(&got, last2, 2);
	kv_entries_free(&got);
	kv_buf_free(&p);
	kv_buf_free(&b);
	kv_buf_free(&c);
	kv_store_close(s);
}
END_TEST

/* Page through a list two at a time, forward or in reverse. */
static void assert_paged(struct kv_store *s, bool reverse,
			 const char *const *want, size_t n)
{
	struct kv_buf p = skey("p", NULL);
	struct kv_buf cursor = { 0 };
	size_t seen = 0;
	int pages = 0;

	do {
		struct kv_list sel = { .prefix = p.data,
				       .prefix_len = p.len,
				       .limit = 2,
				       .reverse = reverse,
				       .cursor = pages ? (char *)cursor.data
						       : NULL };
		struct kv_entries got;
		ck_assert_int_eq(kv_store_list(s, &sel, &got, &cursor), 0);
		ck_assert_uint_le(seen + got.n, n);
		assert_listed(&got, want + seen, got.n);
		seen += got.n;
		ck_assert_uint_eq(strlen((char *)cursor.data), cursor.len);
		ck_assert_int_eq(cursor.len == 0, got.n < 2);
		kv_entries_free(&got);
		pages++;
	} while (cursor.len);
	ck_assert_uint_eq(seen, n);
	ck_assert_int_eq(pages, 3);
	kv_buf_free(&cursor);
	kv_buf_free(&p);
}

START_TEST(list_cursor_continues_forward_and_in_reverse)
{
	struct kv_store *s = list_fixture();
	static const char *const all[] = { "a", "a/x", "b", "c", "d" };
	static const char *const rev[] = { "d", "c", "b", "a/x", "a" };

	assert_paged(s, false, all, 5);
	assert_paged(s, true, rev, 5);
	kv_store_close(s);
}
END_TEST

START_TEST(list_cursor_after_mn_is_denos_Am1uAA)
{
	struct kv_store *s = open_store(NULL);
	struct kv_buf mn = skey("mn", NULL), zz = skey("zz", NULL);
	struct kv_buf cursor = { 0 };
	struct kv_entries got;

	ck_assert_int_eq(put(s, &mn, "1", -1), 0);
	ck_assert_int_eq(put(s, &zz, "2", -1), 0);
	struct kv_list sel = { .limit = 1 };
	ck_assert_int_eq(kv_store_list(s, &sel, &got, &cursor), 0);
	ck_assert_uint_eq(got.n, 1);
	ck_assert_str_eq((char *)cursor.data, "Am1uAA==");
	kv_entries_free(&got);
	sel.cursor = "Am1uAA==";
	ck_assert_int_eq(kv_store_list(s, &sel, &got, &cursor), 0);
	ck_assert_uint_eq(got.n, 1);
	ck_assert_mem_eq(got.v[0].key, zz.data, zz.len);
	ck_assert_str_eq((char *)cursor.data, "Anp6AA==");
	kv_entries_free(&got);
	kv_buf_free(&cursor);
	kv_buf_free(&mn);
	kv_buf_free(&zz);
	kv_store_close(s);
}
END_TEST

START_TEST(list_refuses_bad_selectors_and_cursors)
{
	struct kv_store *s = list_fixture();
	struct kv_buf p = skey("p", NULL), q = skey("q", NULL),
		      b = skey("p", "b", NULL), c = skey("p", "c", NULL);
	struct kv_entries got;
	struct kv_list sel = { .prefix = p.data, .prefix_len = p.len };

	sel.start = q.data, sel.start_len = q.len;
	ck_assert_int_eq(kv_store_list(s, &sel, &got, NULL), -EINVAL);
	sel.start = p.data, sel.start_len = p.len;
	ck_assert_int_eq(kv_store_list(s, &sel, &got, NULL), -EINVAL);
	sel.start = NULL, sel.end = q.data, sel.end_len = q.len;
	ck_assert_int_eq(kv_store_list(s, &sel, &got, NULL), -EINVAL);
	sel.start = c.data, sel.start_len = c.len;
	sel.end = b.data, sel.end_len = b.len;
	ck_assert_int_eq(kv_store_list(s, &sel, &got, NULL), -EINVAL);
	sel = (struct kv_list){ .prefix = p.data, .prefix_len = p.len };
	sel.cursor = "!!!!";
	ck_assert_int_eq(kv_store_list(s, &sel, &got, NULL), -EINVAL);
	sel.cursor = "AmEA"; /* the key "a": 3 bytes, no padding */
	ck_assert_int_eq(kv_store_list(s, &sel, &got, NULL), 0);
	kv_entries_free(&got);
	sel.cursor = "AmE";
	ck_assert_int_eq(kv_store_list(s, &sel, &got, NULL), -EINVAL);
	sel.cursor = "AmF=";
	ck_assert_int_eq(kv_store_list(s, &sel, &got, NULL), -EINVAL);
	/* a cursor before the selector's start leads out of it */
	sel.start = c.data, sel.start_len = c.len;
	sel.cursor = "AmEA";
	ck_assert_int_eq(kv_store_list(s, &sel, &got, NULL), -EINVAL);
	kv_buf_free(&p);
	kv_buf_free(&q);
	kv_buf_free(&b);
	kv_buf_free(&c);
	kv_store_close(s);
}
END_TEST

/* ---- children of a prefix --------------------------------------------- */

struct child_want {
	const char *name;
	size_t len;
	bool number;
	bool has_value, has_children;
};

START_TEST(next_child_enumerates_children_in_key_order)
{
	struct kv_store *s = open_store(NULL);
	struct kv_buf d = skey("d", NULL);
	struct kv_buf k;
	char name[16];

	put_key(s, skey("d", "a", NULL), -1);
	k = skey("d", NULL);
	add_string(&k, "a\0", 2);
	ck_assert_int_eq(put(s, &k, "v", -1), 0);
	add_string(&k, "x", 1);
	put_key(s, k, -1);
	put_key(s, skey("d", "b", NULL), -1);
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "k%04d", i);
		put_key(s, skey("d", "b", name, NULL), -1);
	}
	put_key(s, skey("d", "c", "y", NULL), -1);
	put_key(s, skey("d", "e", NULL), 0); /* expired: invisible */
	k = skey("d", NULL);
	add_number(&k, 5);
	put_key(s, k, -1);
	put_key(s, skey("z", NULL), -1);

	static const struct child_want want[] = {
		{ "a", 1, false, true, false },
		{ "a\0", 2, false, true, true },
		{ "b", 1, false, true, true },
		{ "c", 1, false, false, true },
		{ NULL, 0, true, true, false },
	};
	struct kv_buf child = { 0 }, prev = { 0 };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		bool has_value, has_children;
		ck_assert_int_eq(kv_store_next_child(s, d.data, d.len,
						     i ? prev.data : NULL,
						     prev.len, &child,
						     &has_value,
						     &has_children),
				 0);
		struct kv_buf expect = skey("d", NULL);
		if (want[i].number)
			add_number(&expect, 5);
		else
			add_string(&expect, want[i].name, want[i].len);
		ck_assert_uint_eq(child.len, expect.len);
		ck_assert_mem_eq(child.data, expect.data, expect.len);
		ck_assert_int_eq(has_value, want[i].has_value);
		ck_assert_int_eq(has_children, want[i].has_children);
		kv_buf_free(&expect);
		prev.len = 0;
		ck_assert_int_eq(kv_buf_append(&prev, child.data, child.len),
				 0);
	}
	bool hv, hc;
	ck_assert_int_eq(kv_store_next_child(s, d.data, d.len, prev.data,
					     prev.len, &child, &hv, &hc),
			 -ENOENT);
	kv_buf_free(&prev);

	/* the root's children: "d" (no value) and "z" */
	ck_assert_int_eq(kv_store_next_child(s, NULL, 0, NULL, 0, &child, &hv,
					     &hc),
			 0);
	ck_assert_uint_eq(child.len, d.len);
	ck_assert_mem_eq(child.data, d.data, d.len);
	ck_assert(!hv && hc);
	kv_buf_free(&child);
	kv_buf_free(&d);
	kv_store_close(s);
}
END_TEST

START_TEST(next_child_refuses_an_after_key_outside_the_prefix)
{
	struct kv_store *s = open_store(NULL);
	struct kv_buf d = skey("d", NULL), e = skey("e", "x", NULL);
	struct kv_buf child = { 0 };
	bool hv, hc;

	ck_assert_int_eq(kv_store_next_child(s, d.data, d.len, e.data, e.len,
					     &child, &hv, &hc),
			 -EINVAL);
	ck_assert_int_eq(kv_store_next_child(s, d.data, d.len, d.data, d.len,
					     &child, &hv, &hc),
			 -EINVAL);
	ck_assert_int_eq(kv_store_next_child(s, d.data, d.len, NULL, 0, &child,
					     &hv, &hc),
			 -ENOENT);
	kv_buf_free(&d);
	kv_buf_free(&e);
	kv_store_close(s);
}
END_TEST

/* ---- a key and its children, in one snapshot each --------------------- */

/* Commit n keys and their values in one atomic, as a Deno app would. */
static void put_all(struct kv_store *s, struct kv_buf *keys,
		    char (*values)[16], size_t n)
{
	struct kv_mutation *m = calloc(n, sizeof(*m));

	ck_assert_ptr_nonnull(m);
	for (size_t i = 0; i < n; i++)
		m[i] = set_of(&keys[i], KV_ENC_BYTES, values[i],
			      strlen(values[i]));
	struct kv_atomic a = { .mutations = m, .n_mutations = n };
	ck_assert_int_eq(kv_store_commit(s, &a, NULL), 0);
	free(m);
}

static void free_keys(struct kv_buf *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		kv_buf_free(&keys[i]);
}

struct lookup_want {
	bool has_value, has_children;
};

static struct lookup_want lookup_of(struct kv_store *s, struct kv_buf k,
				    const char *value)
{
	struct kv_entry e;
	struct lookup_want got;

	ck_assert_int_eq(kv_store_lookup(s, k.data, k.len, &e, &got.has_value,
					 &got.has_children),
			 0);
	if (got.has_value) {
		ck_assert_ptr_nonnull(value);
		ck_assert_uint_eq(e.value_len, strlen(value));
		ck_assert_mem_eq(e.value, value, e.value_len);
		ck_assert_uint_eq(e.key_len, k.len);
		ck_assert_mem_eq(e.key, k.data, k.len);
		kv_entry_free(&e);
	}
	kv_buf_free(&k);
	return got;
}

#define ASSERT_LOOKUP(got, value, children)                               \
	do {                                                               \
		struct lookup_want g_ = (got);                             \
		ck_assert_int_eq(g_.has_value, (value));                   \
		ck_assert_int_eq(g_.has_children, (children));             \
	} while (0)

/* d = "dv" with a child d/x, e = "ev", f only as the parent of f/y/z, and
 * g expired: the keys the lookup tests look up. */
static void put_lookup_keys(struct kv_store *s)
{
	struct kv_buf d = skey("d", NULL), e = skey("e", NULL);
	ck_assert_int_eq(put(s, &d, "dv", -1), 0);
	ck_assert_int_eq(put(s, &e, "ev", -1), 0);
	kv_buf_free(&d);
	kv_buf_free(&e);
	put_key(s, skey("d", "x", NULL), -1);
	put_key(s, skey("f", "y", "z", NULL), -1);
	put_key(s, skey("g", NULL), 0); /* expired: absent */
}

START_TEST(lookup_reads_a_keys_value_and_whether_it_has_children)
{
	struct kv_store *s = open_store(NULL);

	put_lookup_keys(s);
	put_key(s, skey("h", "gone", NULL), 0);
	put_key(s, skey("h", NULL), -1);

	ASSERT_LOOKUP(lookup_of(s, skey("d", NULL), "dv"), true, true);
	ASSERT_LOOKUP(lookup_of(s, skey("e", NULL), "ev"), true, false);
	ASSERT_LOOKUP(lookup_of(s, skey("f", NULL), NULL), false, true);
	ASSERT_LOOKUP(lookup_of(s, skey("f", "y", NULL), NULL), false, true);
	ASSERT_LOOKUP(lookup_of(s, skey("g", NULL), NULL), false, false);
	ASSERT_LOOKUP(lookup_of(s, skey("h", NULL), "v"), true, false);
	ASSERT_LOOKUP(lookup_of(s, skey("nothing", NULL), NULL), false,
		      false);
	ASSERT_LOOKUP(lookup_of(s, (struct kv_buf){ 0 }, NULL), false, true);
	kv_store_close(s);
}
END_TEST

START_TEST(lookup_of_an_empty_store_finds_nothing_below_the_root)
{
	struct kv_store *s = open_store(NULL);

	ASSERT_LOOKUP(lookup_of(s, (struct kv_buf){ 0 }, NULL), false, false);
	struct kv_buf big = { 0 };
	for (int i = 0; i < 2049; i++)
		kv_buf_push(&big, 'a');
	struct kv_entry e;
	bool v, c;
	ck_assert_int_eq(kv_store_lookup(s, big.data, big.len, &e, &v, &c),
			 -ENAMETOOLONG);
	kv_buf_free(&big);
	kv_store_close(s);
}
END_TEST

/* The children of d from kv_store_children, call after call, the first
 * call kv_store_first_children when own_value is not NULL; *calls gets how
 * many calls it took. */
static struct kv_children children_from(struct kv_store *s,
					const struct kv_buf *d,
					bool *own_value, size_t *calls,
					size_t *first_batch)
{
	struct kv_children all = { 0 };
	struct kv_buf after = { 0 };
	bool more = true;

	*calls = 0;
	while (more) {
		struct kv_children got;
		ck_assert_int_eq(own_value && !*calls
				 ? kv_store_first_children(s, d->data, d->len,
							   own_value, &got,
							   &more)
				 : kv_store_children(s, d->data, d->len,
						     after.len ? after.data
							       : NULL,
						     after.len, &got, &more),
				 0);
		if (!(*calls)++)
			*first_batch = got.n;
		ck_assert(got.n || !more);
		all.v = realloc(all.v, (all.n + got.n + 1) * sizeof(*all.v));
		ck_assert_ptr_nonnull(all.v);
		if (got.n) {
			memcpy(all.v + all.n, got.v, got.n * sizeof(*got.v));
			all.n += got.n;
			after.len = 0;
			ck_assert_int_eq(kv_buf_append(&after,
						       got.v[got.n - 1].key,
						       got.v[got.n - 1].key_len),
					 0);
		}
		free(got.v); /* the children moved to all */
	}
	kv_buf_free(&after);
	return all;
}

static struct kv_children all_children(struct kv_store *s,
				       const struct kv_buf *d, size_t *calls,
				       size_t *first_batch)
{
	return children_from(s, d, NULL, calls, first_batch);
}

/* Whether a and b list the same children, each with the same value. */
static bool same_children(const struct kv_children *a,
			  const struct kv_children *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct kv_child *x = &a->v[i], *y = &b->v[i];
		if (x->key_len != y->key_len ||
		    memcmp(x->key, y->key, x->key_len) ||
		    x->has_value != y->has_value ||
		    x->has_children != y->has_children ||
		    x->entry.value_len != y->entry.value_len ||
		    (x->entry.value_len &&
		     memcmp(x->entry.value, y->entry.value, x->entry.value_len)))
			return false;
	}
	return true;
}

/* One directory's first listing, with and without its own value. */
static void expect_first_children(struct kv_store *s, const char *dir,
				  bool has_value, size_t n_children)
{
	struct kv_buf d = dir ? skey(dir, NULL) : (struct kv_buf){ 0 };
	bool own = !has_value;
	size_t calls, first;
	struct kv_children with = children_from(s, &d, &own, &calls, &first);
	struct kv_children plain = all_children(s, &d, &calls, &first);
	ck_assert_msg(own == has_value, "%s: own value %d", dir ? dir : "/",
		      own);
	ck_assert_uint_eq(with.n, n_children);
	ck_assert(same_children(&with, &plain));
	kv_children_free(&with);
	kv_children_free(&plain);
	kv_buf_free(&d);
}

START_TEST(first_children_also_tell_whether_the_prefix_holds_a_value)
{
	enum { N = 300 };
	struct kv_store *s = open_store(NULL);
	struct kv_buf keys[N];
	char values[N][16];

	/* d: a value and N children, in batches, one with a subtree */
	for (int i = 0; i < N; i++) {
		char name[16];
		snprintf(name, sizeof(name), "k%04d", i);
		keys[i] = skey("d", name, NULL);
		snprintf(values[i], sizeof(values[i]), "value %d", i);
	}
	put_all(s, keys, values, N);
	put_key(s, skey("d", NULL), -1);
	put_key(s, skey("d", "k0127", "below", NULL), -1);
	/* e: children only; f: a value only; g: an expired value */
	put_key(s, skey("e", "x", NULL), -1);
	put_key(s, skey("f", NULL), -1);
	put_key(s, skey("g", NULL), 0);
	put_key(s, skey("g", "x", NULL), -1);

	expect_first_children(s, "d", true, N);
	expect_first_children(s, "e", false, 1);
	expect_first_children(s, "f", true, 0);
	expect_first_children(s, "g", false, 1);
	expect_first_children(s, NULL, false, 4);
	free_keys(keys, N);
	kv_store_close(s);
}
END_TEST

START_TEST(children_of_plain_keys_come_in_batches_with_their_values)
{
	enum { N = 300 };
	struct kv_store *s = open_store(NULL);
	struct kv_buf keys[N + 1];
	char values[N + 1][16];

	for (int i = 0; i < N; i++) {
		char name[16];
		snprintf(name, sizeof(name), "k%04d", i);
		keys[i] = skey("d", name, NULL);
		snprintf(values[i], sizeof(values[i]), "value %d", i);
	}
	keys[N] = skey("e", NULL);
	strcpy(values[N], "not a child");
	put_all(s, keys, values, N + 1);
	put_key(s, skey("d", "k0150x", NULL), 0); /* expired: not listed */

	struct kv_buf d = skey("d", NULL);
	size_t calls, first;
	struct kv_children all = all_children(s, &d, &calls, &first);
	ck_assert_uint_eq(all.n, N);
	for (int i = 0; i < N; i++) {
		const struct kv_child *c = &all.v[i];
		ck_assert_uint_eq(c->key_len, keys[i].len);
		ck_assert_mem_eq(c->key, keys[i].data, keys[i].len);
		ck_assert(c->has_value && !c->has_children);
		ck_assert_int_eq(c->entry.error, 0);
		ck_assert_uint_eq(c->entry.value_len, strlen(values[i]));
		ck_assert_mem_eq(c->entry.value, values[i], strlen(values[i]));
	}
	/* a batch lists nearly all its keys, so 300 take 3 reads */
	ck_assert_uint_ge(first, KV_CHILDREN_BATCH - 1);
	ck_assert_uint_le(calls, 3);
	kv_children_free(&all);
	free_keys(keys, N + 1);
	kv_buf_free(&d);
	kv_store_close(s);
}
END_TEST

START_TEST(children_seek_past_subtrees_larger_than_a_batch)
{
	enum { BELOW = 200, N = 2 * BELOW + 5 };
	struct kv_store *s = open_store(NULL);
	struct kv_buf keys[N];
	char values[N][16];
	size_t n = 0;

	for (int i = 0; i < BELOW; i++) {
		char name[16];
		snprintf(name, sizeof(name), "k%04d", i);
		keys[n] = skey("d", "a", name, NULL);
		strcpy(values[n++], "below a");
		keys[n] = skey("d", "b", name, "deeper", NULL);
		strcpy(values[n++], "below b");
	}
	keys[n] = skey("d", "a", NULL);
	strcpy(values[n++], "a's own");
	keys[n] = skey("d", "c", NULL);
	strcpy(values[n++], "c's own");
	static const char *const below_e[] = { "x", "y", "z" };
	for (int i = 0; i < 3; i++) {
		keys[n] = skey("d", "e", below_e[i], NULL);
		strcpy(values[n++], "below e");
	}
	ck_assert_uint_eq(n, N);
	put_all(s, keys, values, N);

	static const struct {
		const char *name, *value;
		bool has_children;
	} want[] = {
		{ "a", "a's own", true },
		{ "b", NULL, true },
		{ "c", "c's own", false },
		{ "e", NULL, true },
	};
	struct kv_buf d = skey("d", NULL);
	size_t calls, first;
	struct kv_children all = all_children(s, &d, &calls, &first);
	ck_assert_uint_eq(all.n, 4);
	for (size_t i = 0; i < 4; i++) {
		const struct kv_child *c = &all.v[i];
		struct kv_buf k = skey("d", want[i].name, NULL);
		ck_assert_uint_eq(c->key_len, k.len);
		ck_assert_mem_eq(c->key, k.data, k.len);
		ck_assert_int_eq(c->has_value, want[i].value != NULL);
		ck_assert_int_eq(c->has_children, want[i].has_children);
		if (want[i].value)
			ck_assert_mem_eq(c->entry.value, want[i].value,
					 strlen(want[i].value));
		kv_buf_free(&k);
	}
	/* at most a read per child, whatever lies below them */
	ck_assert_uint_le(calls, 4);
	kv_children_free(&all);
	free_keys(keys, N);
	kv_buf_free(&d);
	kv_store_close(s);
}
END_TEST

START_TEST(children_refuse_an_after_key_outside_the_prefix)
{
	struct kv_store *s = open_store(NULL);
	struct kv_buf d = skey("d", NULL), e = skey("e", "x", NULL);
	struct kv_buf big = { 0 };
	struct kv_children got;
	bool more;

	ck_assert_int_eq(kv_store_children(s, d.data, d.len, e.data, e.len,
					   &got, &more),
			 -EINVAL);
	ck_assert_int_eq(kv_store_children(s, d.data, d.len, d.data, d.len,
					   &got, &more),
			 -EINVAL);
	for (int i = 0; i < 2049; i++)
		kv_buf_push(&big, 'a');
	ck_assert_int_eq(kv_store_children(s, big.data, big.len, NULL, 0,
					   &got, &more),
			 -ENAMETOOLONG);
	ck_assert_int_eq(kv_store_children(s, d.data, d.len, NULL, 0, &got,
					   &more),
			 0);
	ck_assert(got.n == 0 && !more);
	kv_buf_free(&big);
	kv_buf_free(&d);
	kv_buf_free(&e);
	kv_store_close(s);
}
END_TEST

START_TEST(children_and_lookup_open_the_values_of_an_encrypted_store)
{
	struct kv_store *s = open_store(NULL);
	struct kv_seal_key *key;
	uint8_t bytes[32];

	memset(bytes, 7, sizeof(bytes));
	ck_assert_int_eq(kv_seal_key_file(bytes, sizeof(bytes), &key), 0);
	ck_assert_int_eq(kv_store_seal_init(s, key, NULL), 0);
	kv_seal_key_free(key);
	put_key(s, skey("d", "a", NULL), -1);
	put_key(s, skey("d", "b", "below", NULL), -1);

	struct kv_buf d = skey("d", NULL);
	size_t calls, first;
	struct kv_children all = all_children(s, &d, &calls, &first);
	ck_assert_uint_eq(all.n, 2);
	ck_assert(all.v[0].has_value && !all.v[0].has_children);
	ck_assert_int_eq(all.v[0].entry.encoding, KV_ENC_BYTES);
	ck_assert_uint_eq(all.v[0].entry.value_len, 1);
	ck_assert_mem_eq(all.v[0].entry.value, "v", 1);
	ck_assert(!all.v[1].has_value && all.v[1].has_children);
	kv_children_free(&all);
	ASSERT_LOOKUP(lookup_of(s, skey("d", "a", NULL), "v"), true, false);
	kv_buf_free(&d);
	kv_store_close(s);
}
END_TEST

/* ---- rows another program wrote, seen by lookups and children --------- */

/* Plant rows (k hex, v hex, v_encoding) in the file, as another program
 * would. */
static void plant(const char *values)
{
	char sql[1024];
	sqlite3 *db = raw_open();

	snprintf(sql, sizeof(sql),
		 "insert into kv (k, v, v_encoding, version) values %s",
		 values);
	raw_exec(db, sql);
	sqlite3_close(db);
}

START_TEST(lookup_of_a_row_deno_cannot_read_is_eio)
{
	kv_store_close(open_store(NULL));
	plant("(x'02783700', x'01020304050607', 2, 1)");
	struct kv_store *s = open_store(NULL);
	struct kv_buf k = skey("x7", NULL);
	struct kv_entry e;
	bool v = true, c = true;

	ck_assert_int_eq(kv_store_lookup(s, k.data, k.len, &e, &v, &c), -EIO);
	ck_assert(!v);
	kv_buf_free(&k);
	kv_store_close(s);
}
END_TEST

START_TEST(lookup_many_answers_each_key_as_one_lookup_does)
{
	kv_store_close(open_store(NULL));
	plant("(x'02783700', x'01020304050607', 2, 1)");
	struct kv_store *s = open_store(NULL);
	put_lookup_keys(s);
	struct kv_buf keys[] = { skey("d", NULL), skey("e", NULL),
				 skey("f", NULL), skey("g", NULL),
				 skey("x7", NULL), skey("nothing", NULL),
				 { 0 } };
	enum { N = sizeof(keys) / sizeof(keys[0]) };
	const uint8_t *k[N];
	size_t len[N];
	for (size_t i = 0; i < N; i++) {
		k[i] = keys[i].data;
		len[i] = keys[i].len;
	}
	struct kv_entry many[N];
	bool value[N], children[N];
	int result[N];

	ck_assert_int_eq(kv_store_lookup_many(s, k, len, N, many, value,
					      children, result),
			 0);
	for (size_t i = 0; i < N; i++) {
		struct kv_entry one;
		bool v, c;
		ck_assert_int_eq(result[i],
				 kv_store_lookup(s, k[i], len[i], &one, &v, &c));
		ck_assert_int_eq(value[i], v);
		ck_assert_int_eq(children[i], c);
		if (!v)
			continue;
		ck_assert_uint_eq(many[i].value_len, one.value_len);
		ck_assert_mem_eq(many[i].value, one.value, one.value_len);
		kv_entry_free(&one);
		kv_entry_free(&many[i]);
	}
	ck_assert_int_eq(result[4], -EIO); /* the row Deno cannot read */
	ck_assert(value[0] && children[0] && value[1] && !children[1]);
	ck_assert(!value[2] && children[2] && !value[3] && !children[3]);
	ck_assert(!value[6] && children[6]); /* the root */
	const uint8_t *eleven[KV_MAX_READ_RANGES + 1] = { 0 };
	size_t zero[KV_MAX_READ_RANGES + 1] = { 0 };
	ck_assert_int_eq(kv_store_lookup_many(s, eleven, zero,
					      KV_MAX_READ_RANGES + 1, many,
					      value, children, result),
			 -E2BIG);
	free_keys(keys, N);
	kv_store_close(s);
}
END_TEST

/* Below "y" (02 79 00): a cut-off string part and y/q followed by a byte
 * no part begins with; then y/z. */
START_TEST(lookup_looks_past_keys_below_that_do_not_decode)
{
	kv_store_close(open_store(NULL));
	plant("(x'0279000278', x'01', 3, 1), (x'02790002710030', x'01', 3, 1)");
	struct kv_store *s = open_store(NULL);

	ASSERT_LOOKUP(lookup_of(s, skey("y", NULL), NULL), false, false);
	put_key(s, skey("y", "z", NULL), -1);
	ASSERT_LOOKUP(lookup_of(s, skey("y", NULL), NULL), false, true);
	kv_store_close(s);
}
END_TEST

START_TEST(children_skip_keys_that_do_not_decode_and_mark_unreadable_values)
{
	kv_store_close(open_store(NULL));
	plant("(x'02783700', x'01020304050607', 2, 1),"
	      "(x'02787400', 'text value', 1, 1),"
	      "(x'0278', x'01', 3, 1),"
	      "(x'02796f6b00', x'01', 3, 1),"
	      "(x'02796f6b0030', x'01', 3, 1)");
	struct kv_store *s = open_store(NULL);
	size_t calls, first;
	struct kv_children all = all_children(s, &(struct kv_buf){ 0 },
					      &calls, &first);

	ck_assert_uint_eq(all.n, 3); /* x7, xt, yok */
	ck_assert_int_eq(all.v[0].entry.error, -EIO);
	ck_assert_int_eq(all.v[1].entry.error, -EIO);
	ck_assert_int_eq(all.v[2].entry.error, 0);
	ck_assert(all.v[2].has_value && !all.v[2].has_children);
	ck_assert_uint_eq(all.v[2].entry.value_len, 1);
	kv_children_free(&all);
	kv_store_close(s);
}
END_TEST

/* ---- rows another program wrote --------------------------------------- */

/*
 * Rows Deno could not read (a KvU64 of 7 bytes, a TEXT v, an unknown
 * v_encoding, V8 bytes without a header) are -EIO for their key alone; a
 * list still returns them, marked, beside the good rows; and a key that
 * does not decode names no child, so listing goes on past it.
 */
START_TEST(rows_deno_cannot_read_are_eio_for_their_key_alone)
{
	kv_store_close(open_store(NULL));
	sqlite3 *db = raw_open();
	raw_exec(db, "insert into kv (k, v, v_encoding, version) values "
		     "(x'02783700', x'01020304050607', 2, 1),"
		     "(x'02787400', 'text value', 1, 1),"
		     "(x'02787500', x'00', 9, 1),"
		     "(x'02787600', x'0102', 1, 1),"
		     "(x'0278', x'01', 3, 1),"
		     "(x'02796f6b00', x'01', 3, 1)");
	sqlite3_close(db);
	struct kv_store *s = open_store(NULL);
	static const char *const bad[] = {"x7", "xt", "xu", "xv"};
	struct kv_entry e;
	for (size_t i = 0; i < 4; i++) {
		struct kv_buf k = skey(bad[i], NULL);
		ck_assert_msg(kv_store_get(s, k.data, k.len, &e) == -EIO,
			      "%s", bad[i]);
		kv_buf_free(&k);
	}
	struct kv_list all = { 0 };
	struct kv_entries got;
	ck_assert_int_eq(kv_store_list(s, &all, &got, NULL), 0);
	ck_assert_uint_eq(got.n, 6);
	size_t marked = 0;
	for (size_t i = 0; i < got.n; i++)
		marked += got.v[i].error == -EIO;
	ck_assert_uint_eq(marked, 4);
	kv_entries_free(&got);

	struct kv_buf child = { 0 }, after = { 0 };
	bool hv, hc;
	size_t children = 0;
	while (kv_store_next_child(s, NULL, 0, after.len ? after.data : NULL,
				   after.len, &child, &hv, &hc) == 0) {
		children++;
		after.len = 0;
		kv_buf_append(&after, child.data, child.len);
	}
	ck_assert_uint_eq(children, 5); /* every row but the cut-off 0278 */
	kv_buf_free(&child);
	kv_buf_free(&after);
	struct kv_buf k7 = skey("x7", NULL);
	ck_assert_int_eq(u64_op(s, KV_MUT_SUM, &k7, 1), -EINVAL);
	kv_buf_free(&k7);
	kv_store_close(s);
}
END_TEST

/* ---- lock contention -------------------------------------------------- */

START_TEST(locked_database_gives_eagain_after_the_budget_then_succeeds)
{
	struct kv_store_options o = { .create = true, .busy_budget_ms = 400 };
	struct kv_store *s = open_store(&o);
	struct kv_buf k = skey("k", NULL);

	sqlite3 *db = raw_open();
	raw_exec(db, "begin immediate");
	int64_t t0 = mono_ms();
	ck_assert_int_eq(put(s, &k, "v", -1), -EAGAIN);
	int64_t waited = mono_ms() - t0;
	ck_assert_int_ge(waited, 200);
	ck_assert_int_lt(waited, 10000);
	struct kv_entry e;
	ck_assert_int_eq(kv_store_get(s, k.data, k.len, &e), -ENOENT);
	raw_exec(db, "rollback");
	sqlite3_close(db);
	ck_assert_int_eq(put(s, &k, "v", -1), 0);
	ck_assert(key_exists(s, &k));
	kv_buf_free(&k);
	kv_store_close(s);
}
END_TEST

/* ---- getting ready to commit -------------------------------------------- */

START_TEST(ready_commit_keeps_no_lock_and_no_snapshot)
{
	struct kv_store *s = open_store(NULL);
	struct kv_buf k = skey("k", NULL);
	ck_assert_int_eq(put(s, &k, "v1", -1), 0);
	ck_assert_int_eq(kv_store_ready_commit(s), 0);

	/* The write lock is free, and a checkpoint that empties the WAL,
	 * which waits for every reader, finds none. */
	sqlite3 *db = raw_open();
	sqlite3_busy_timeout(db, 0);
	raw_exec(db, "begin immediate");
	raw_exec(db, "rollback");
	ck_assert_int_eq(raw_int(db, "pragma wal_checkpoint(truncate)"), 0);
	sqlite3_close(db);

	ck_assert_int_eq(put(s, &k, "v2", -1), 0);
	struct kv_entry e;
	ck_assert_int_eq(kv_store_get(s, k.data, k.len, &e), 0);
	ck_assert_mem_eq(e.value, "v2", 2);
	kv_entry_free(&e);
	kv_buf_free(&k);
	kv_store_close(s);
}
END_TEST

/* ---- kvfs_meta -------------------------------------------------------- */

START_TEST(meta_is_created_on_first_set_and_can_be_read_and_deleted)
{
	struct kv_store *s = open_store(NULL);
	struct kv_buf out = { 0 };

	ck_assert_int_eq(kv_store_meta_get(s, "rules", &out), -ENOENT);
	ck_assert_int_eq(kv_store_meta_set(s, "rules", NULL, 0), 0);
	sqlite3 *db = raw_open();
	ck_assert_int_eq(raw_int(db, "select count(*) from sqlite_master "
				     "where name = 'kvfs_meta'"),
			 0);
	ck_assert_int_eq(kv_store_meta_set(s, "rules",
					   (const uint8_t *)"a -> b", 6),
			 0);
	ck_assert_int_eq(raw_int(db, "select count(*) from sqlite_master "
				     "where name = 'kvfs_meta'"),
			 1);
	sqlite3_close(db);
	ck_assert_int_eq(kv_store_meta_get(s, "rules", &out), 0);
	ck_assert_uint_eq(out.len, 6);
	ck_assert_mem_eq(out.data, "a -> b", 6);
	ck_assert_int_eq(kv_store_meta_set(s, "rules", (const uint8_t *)"c",
					   1),
			 0);
	ck_assert_int_eq(kv_store_meta_get(s, "rules", &out), 0);
	ck_assert_uint_eq(out.len, 1);
	ck_assert_int_eq(kv_store_meta_get(s, "other", &out), -ENOENT);
	ck_assert_int_eq(kv_store_meta_set(s, "rules", NULL, 0), 0);
	ck_assert_int_eq(kv_store_meta_get(s, "rules", &out), -ENOENT);
	kv_buf_free(&out);
	kv_store_close(s);
}
END_TEST

/* ---- versionstamps ---------------------------------------------------- */

START_TEST(versionstamp_format_and_parse_round_trip)
{
	const uint8_t vs[KV_VERSIONSTAMP_LEN] = { 0, 0, 0, 0, 0, 0, 0, 0xc,
						  0, 0 };
	uint8_t back[KV_VERSIONSTAMP_LEN];
	char text[2 * KV_VERSIONSTAMP_LEN + 1];

	kv_versionstamp_format(vs, text);
	ck_assert_str_eq(text, "000000000000000c0000");
	ck_assert_int_eq(kv_versionstamp_parse("00000000000000AB00ff", 20,
					       back),
			 0);
	ck_assert_uint_eq(back[7], 0xab);
	ck_assert_uint_eq(back[9], 0xff);
	ck_assert_int_eq(kv_versionstamp_parse(text, 20, back), 0);
	ck_assert_mem_eq(back, vs, KV_VERSIONSTAMP_LEN);
	ck_assert_int_eq(kv_versionstamp_parse(text, 19, back), -EINVAL);
	ck_assert_int_eq(kv_versionstamp_parse("000000000000000g0000", 20,
					       back),
			 -EINVAL);
}
END_TEST

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");

	tcase_add_checked_fixture(tc, make_dir, remove_dir);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, open_missing_file_without_create_is_enoent);
	tcase_add_test(tc, read_only_option_refuses_writes);
	tcase_add_test(tc, set_then_get_returns_value_and_versionstamp);
	tcase_add_test(tc, delete_removes_the_key);
	tcase_add_test(tc, empty_commit_still_bumps_the_version);
	tcase_add_test(tc,
		       concurrent_threads_commit_with_distinct_versionstamps);
	tcase_add_test(tc, commit_start_is_the_version_read_just_before_when_alone);
	tcase_add_test(tc,
		       commit_start_differs_when_another_handle_committed_between);
	tcase_add_test(tc,
		       check_by_versionstamp_passes_then_fails_without_bump);
	tcase_add_test(tc, check_of_absence_passes_then_fails);
	tcase_add_test(tc, check_treats_an_expired_key_as_absent);
	tcase_add_test(tc, sum_stores_operand_then_wraps_at_2_pow_64);
	tcase_add_test(tc, min_and_max_keep_the_extreme);
	tcase_add_test(tc, sum_clears_the_expiry);
	tcase_add_test(tc, sum_on_a_non_u64_value_is_einval_and_writes_nothing);
	tcase_add_test(tc, u64_operands_must_be_8_bytes);
	tcase_add_test(tc, value_of_65536_bytes_is_stored_and_65537_is_efbig);
	tcase_add_test(tc, lowered_max_value_size_is_enforced);
	tcase_add_test(tc,
		       key_of_2048_bytes_is_written_and_2049_is_enametoolong);
	tcase_add_test(tc, empty_key_in_a_write_is_einval);
	tcase_add_test(tc, checks_100_pass_and_101_are_e2big);
	tcase_add_test(tc, mutations_1000_pass_and_1001_are_e2big);
	tcase_add_test(tc,
		       total_mutation_size_12_values_of_64k_pass_13_are_e2big);
	tcase_add_test(tc,
		       total_mutation_size_counts_set_keys_twice_up_to_819200);
	tcase_add_test(tc, total_key_size_41_long_keys_set_e2big_deleted_ok);
	tcase_add_test(tc, expire_in_must_be_minus_1_or_0_to_8_2e15);
	tcase_add_test(tc,
		       reads_of_more_than_10_ranges_or_1000_entries_are_e2big);
	tcase_add_test(tc, get_many_reads_keys_in_one_snapshot);
	tcase_add_test(tc, expired_keys_are_hidden_from_every_read);
	tcase_add_test(tc,
		       list_by_prefix_is_in_key_order_without_the_prefix_key);
	tcase_add_test(tc, list_with_start_end_and_limit);
	tcase_add_test(tc, list_cursor_continues_forward_and_in_reverse);
	tcase_add_test(tc, list_cursor_after_mn_is_denos_Am1uAA);
	tcase_add_test(tc, list_refuses_bad_selectors_and_cursors);
	tcase_add_test(tc, next_child_enumerates_children_in_key_order);
	tcase_add_test(tc, next_child_refuses_an_after_key_outside_the_prefix);
	tcase_add_test(tc, lookup_reads_a_keys_value_and_whether_it_has_children);
	tcase_add_test(tc, lookup_of_an_empty_store_finds_nothing_below_the_root);
	tcase_add_test(tc,
		       children_of_plain_keys_come_in_batches_with_their_values);
	tcase_add_test(tc,
		       first_children_also_tell_whether_the_prefix_holds_a_value);
	tcase_add_test(tc, children_seek_past_subtrees_larger_than_a_batch);
	tcase_add_test(tc, children_refuse_an_after_key_outside_the_prefix);
	tcase_add_test(tc,
		       children_and_lookup_open_the_values_of_an_encrypted_store);
	tcase_add_test(tc, versionstamp_format_and_parse_round_trip);
	suite_add_tcase(s, tc);

	/* Cases that read or plant rows in the file with SQLite, or expect
	 * Deno's random version steps of 1..9: SQLite's alone. */
	if (on_etcd())
		return s;
	TCase *file = tcase_create("sqlite");
	tcase_add_checked_fixture(file, make_dir, remove_dir);
	tcase_set_timeout(file, 60);
	tcase_add_test(file, fresh_store_has_denos_exact_schema);
	tcase_add_test(file, fresh_store_is_at_migration_3_in_wal_mode);
	tcase_add_test(file, migration_2_file_is_upgraded_as_deno_would);
	tcase_add_test(file, open_file_with_clashing_tables_is_einval);
	tcase_add_test(file, open_file_that_is_not_sqlite_is_einval);
	tcase_add_test(file, ready_commit_keeps_no_lock_and_no_snapshot);
	tcase_add_test(file, foreign_tables_are_kept_and_deno_tables_added);
	tcase_add_test(file,
		       newer_migration_opens_read_only_and_writes_give_erofs);
	tcase_add_test(file, read_only_open_of_an_unmigrated_file_is_erofs);
	tcase_add_test(file, empty_value_round_trips_as_empty_bytes);
	tcase_add_test(file, written_rows_carry_denos_columns);
	tcase_add_test(file, versionstamps_strictly_increase_by_1_to_9);
	tcase_add_test(file,
		       commit_start_of_an_earlier_commit_is_enoent_on_sqlite);
	tcase_add_test(file,
		       sweep_deletes_expired_rows_and_bumps_the_version_by_1);
	tcase_add_test(file, rows_deno_cannot_read_are_eio_for_their_key_alone);
	tcase_add_test(file, lookup_of_a_row_deno_cannot_read_is_eio);
	tcase_add_test(file, lookup_many_answers_each_key_as_one_lookup_does);
	tcase_add_test(file, lookup_looks_past_keys_below_that_do_not_decode);
	tcase_add_test(
		file,
		children_skip_keys_that_do_not_decode_and_mark_unreadable_values);
	tcase_add_test(file,
		       locked_database_gives_eagain_after_the_budget_then_succeeds);
	tcase_add_test(file,
		       meta_is_created_on_first_set_and_can_be_read_and_deleted);
	suite_add_tcase(s, file);
	return s;
}

int main(void)
{
	return run_suite(store_suite());
}
