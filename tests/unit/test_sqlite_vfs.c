/*
 * test_sqlite_vfs.c — the WAL shim of store/sqlite_vfs.c: the same bytes in
 * the same files as SQLite's default VFS, a commit's frames in one write,
 * commits seen at once by a connection that does not use the shim, and
 * the errors of frames that cannot be written.
 *
 * Byte for byte: each scenario runs twice on fresh files, once through the
 * default VFS and once through the shim, from the same state of SQLite's
 * random generator (the WAL's salts come from it), and the database and
 * WAL files must then be equal.
 *
 * The write counts come from a VFS of this test's own, registered as the
 * default before anything opens a file, so the shim wraps it: it is the
 * default VFS with a counter on the xWrite of WAL files.
 */
#include <check.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "kv_store.h"
#include "sqlite_vfs.h"
#include "support.h"

static char dir[64];

static void make_dir(void)
{
	strcpy(dir, "/tmp/kvfs-vfs-XXXXXX");
	temp_dir_make(dir);
}

static void remove_dir(void)
{
	temp_dir_remove(dir);
}

/* ---- the counting VFS -------------------------------------------------- */

static sqlite3_vfs counting_vfs;
static sqlite3_vfs *unix_vfs;
static sqlite3_io_methods counting_wal_methods;
static int (*unix_write)(sqlite3_file *, const void *, int, sqlite3_int64);
static unsigned wal_writes;

static int count_wal_write(sqlite3_file *f, const void *data, int amt,
			   sqlite3_int64 offset)
{
	wal_writes++;
	return unix_write(f, data, amt, offset);
}

/* The default VFS's own file object, with the counting methods if it is a
 * WAL: the same object, so every other method sees the file it knows. */
static int counting_open(sqlite3_vfs *vfs, const char *name,
			 sqlite3_file *file, int flags, int *out_flags)
{
	int rc = unix_vfs->xOpen(unix_vfs, name, file, flags, out_flags);

	(void)vfs;
	if (rc == SQLITE_OK && (flags & SQLITE_OPEN_WAL)) {
		unix_write = file->pMethods->xWrite;
		counting_wal_methods = *file->pMethods;
		counting_wal_methods.xWrite = count_wal_write;
		file->pMethods = &counting_wal_methods;
	}
	return rc;
}

static void register_counting_vfs(void)
{
	unix_vfs = sqlite3_vfs_find(NULL);
	counting_vfs = *unix_vfs;
	counting_vfs.pNext = NULL;
	counting_vfs.zName = "kvfs-test-counting";
	counting_vfs.xOpen = counting_open;
	if (sqlite3_vfs_register(&counting_vfs, 1) != SQLITE_OK)
		abort();
}

/* ---- raw SQLite -------------------------------------------------------- */

static sqlite3 *raw_open(const char *path, const char *vfs)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
				 vfs);

	ck_assert_msg(rc == SQLITE_OK, "open %s: %s", path,
		      db ? sqlite3_errmsg(db) : "no memory");
	return db;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);

	ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, err ? err : "?");
}

static int64_t raw_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL),
			 SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void assert_intact(sqlite3 *db)
{
	sqlite3_stmt *st;

	ck_assert_int_eq(sqlite3_prepare_v2(db, "pragma integrity_check", -1,
					    &st, NULL),
			 SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
}

/* A whole file, malloc'ed; a missing file is empty. */
static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *data;

	*len = 0;
	if (!fp)
		return malloc(1);
	ck_assert_int_eq(fseek(fp, 0, SEEK_END), 0);
	long n = ftell(fp);
	ck_assert_int_ge(n, 0);
	rewind(fp);
	data = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(data);
	ck_assert_uint_eq(fread(data, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	*len = (size_t)n;
	return data;
}

static void assert_same_file(const char *a, const char *b)
{
	size_t alen, blen;
	uint8_t *x = slurp(a, &alen), *y = slurp(b, &blen);

	ck_assert_msg(alen > 0, "%s is empty", a);
	ck_assert_msg(alen == blen, "%s has %zu bytes, %s %zu", a, alen, b,
		      blen);
	size_t i = 0;
	while (i < alen && x[i] == y[i])
		i++;
	ck_assert_msg(i == alen, "%s and %s differ at byte %zu", a, b, i);
	free(x);
	free(y);
}

typedef void scenario_fn(sqlite3 *db);

/* A database in Deno's settings: WAL, synchronous=FULL. */
static sqlite3 *scenario_open(const char *path, const char *vfs,
			      const char *page_size)
{
	sqlite3 *db = raw_open(path, vfs);
	char sql[64];

	snprintf(sql, sizeof(sql), "PRAGMA page_size=%s", page_size);
	raw_exec(db, sql);
	raw_exec(db, "PRAGMA journal_mode=wal");
	raw_exec(db, "PRAGMA synchronous=FULL");
	raw_exec(db, "create table t(k integer primary key, v blob)");
	return db;
}

/*
 * Run scenario on a file of the default VFS and on one of the shim, from
 * the same random state, and compare the database files and the WALs
 * while both connections are open (the last close checkpoints).
 */
static void assert_shim_writes_default_bytes(scenario_fn *scenario,
					     const char *page_size)
{
	const char *vfs[2] = { NULL, kv_sqlite_wal_vfs() };
	char path[2][128], wal[2][140];
	sqlite3 *db[2];

	ck_assert_ptr_nonnull(vfs[1]);
	/* Saved before its first use, the state would be "seed me" */
	sqlite3_randomness(sizeof(path), path);
	sqlite3_test_control(SQLITE_TESTCTRL_PRNG_SAVE);
	for (int i = 0; i < 2; i++) {
		snprintf(path[i], sizeof(path[i]), "%s/%d.sqlite3", dir, i);
		snprintf(wal[i], sizeof(wal[i]), "%s-wal", path[i]);
		sqlite3_test_control(SQLITE_TESTCTRL_PRNG_RESTORE);
		db[i] = scenario_open(path[i], vfs[i], page_size);
		scenario(db[i]);
	}
	assert_same_file(path[0], path[1]);
	assert_same_file(wal[0], wal[1]);
	assert_intact(db[1]);
	ck_assert_int_eq(raw_int(db[1], "select count(*) from t"),
			 raw_int(db[0], "select count(*) from t"));
	for (int i = 0; i < 2; i++)
		sqlite3_close(db[i]);
}

static void insert_rows(sqlite3 *db, int n, int size)
{
	char sql[160];

	snprintf(sql, sizeof(sql),
		 "with recursive n(i) as (select 1 union all select i + 1 "
		 "from n where i < %d) insert into t(v) select randomblob(%d) "
		 "from n",
		 n, size);
	raw_exec(db, sql);
}

static void small_commits(sqlite3 *db)
{
	for (int i = 0; i < 50; i++)
		insert_rows(db, 1, 100);
}

/* About 300 frames in one commit: runs end at the buffer's size. */
static void one_large_commit(sqlite3 *db)
{
	insert_rows(db, 400, 3000);
}

/*
 * A tiny page cache spills frames to the WAL before the commit; the
 * transaction then rolls back, and the next commit writes over them. With
 * the WAL emptied first, the rollback reads nothing back from it, so the
 * last spilled frames are still held when the write lock is let go.
 */
static void spill_then_roll_back(sqlite3 *db)
{
	insert_rows(db, 5, 100);
	raw_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
	raw_exec(db, "PRAGMA cache_size=10");
	raw_exec(db, "begin");
	insert_rows(db, 300, 1000);
	raw_exec(db, "rollback");
	insert_rows(db, 5, 100);
}

/* A checkpoint lets the next commit start the WAL over from its header. */
static void checkpoint_then_restart(sqlite3 *db)
{
	small_commits(db);
	raw_exec(db, "PRAGMA wal_checkpoint(RESTART)");
	small_commits(db);
	raw_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
	small_commits(db);
}

START_TEST(small_commits_write_the_default_vfs_bytes)
{
	assert_shim_writes_default_bytes(small_commits, "4096");
}
END_TEST

START_TEST(a_commit_larger_than_the_buffer_writes_the_default_vfs_bytes)
{
	assert_shim_writes_default_bytes(one_large_commit, "4096");
}
END_TEST

START_TEST(frames_of_64k_pages_write_the_default_vfs_bytes)
{
	assert_shim_writes_default_bytes(small_commits, "65536");
}
END_TEST

START_TEST(a_spilled_transaction_rolled_back_writes_the_default_vfs_bytes)
{
	assert_shim_writes_default_bytes(spill_then_roll_back, "4096");
}
END_TEST

START_TEST(a_restarted_wal_writes_the_default_vfs_bytes)
{
	assert_shim_writes_default_bytes(checkpoint_then_restart, "4096");
}
END_TEST

/* Writes to the WAL of one one-row commit into a table of a few rows. */
static unsigned wal_writes_of_a_commit(const char *vfs)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s.sqlite3", dir, vfs ? vfs : "0");
	sqlite3 *db = scenario_open(path, vfs, "4096");
	raw_exec(db, "create index t_v on t(v)");
	insert_rows(db, 3, 100);
	wal_writes = 0;
	insert_rows(db, 1, 100);
	unsigned n = wal_writes;
	sqlite3_close(db);
	return n;
}

START_TEST(the_frames_of_a_commit_reach_the_wal_in_one_write)
{
	/* Two frames, the table's leaf and the index's: a header and a page
	 * each through the default VFS. */
	ck_assert_uint_eq(wal_writes_of_a_commit(NULL), 4);
	ck_assert_uint_eq(wal_writes_of_a_commit(kv_sqlite_wal_vfs()), 1);
}
END_TEST

/* ---- through the store ------------------------------------------------- */

static struct kv_store *store_open(const char *path)
{
	struct kv_store_options o = { .create = true };
	struct kv_store *s = NULL;

	ck_assert_int_eq(kv_store_open(path, &o, &s), 0);
	return s;
}

static struct kv_buf key_of(unsigned i)
{
	struct kv_buf b = { 0 };
	struct kv_part p = { .type = KV_PART_NUMBER, .num = i };

	ck_assert_int_eq(kv_part_encode(&p, &b), 0);
	return b;
}

static int put(struct kv_store *s, unsigned i, const char *v)
{
	struct kv_buf k = key_of(i);
	struct kv_mutation m = { .type = KV_MUT_SET,
				 .key = k.data,
				 .key_len = k.len,
				 .encoding = KV_ENC_BYTES,
				 .value = (const uint8_t *)v,
				 .value_len = strlen(v),
				 .expire_in_ms = -1 };
	struct kv_atomic a = { .mutations = &m, .n_mutations = 1 };
	int r = kv_store_commit(s, &a, NULL);

	kv_buf_free(&k);
	return r;
}

/* The value of key i as the store reads it; "" when it is absent. */
static char *get(struct kv_store *s, unsigned i)
{
	struct kv_buf k = key_of(i);
	struct kv_entry e;
	char *v;
	int r = kv_store_get(s, k.data, k.len, &e);

	kv_buf_free(&k);
	if (r == -ENOENT)
		return strdup("");
	ck_assert_int_eq(r, 0);
	v = strndup((const char *)e.value, e.value_len);
	kv_entry_free(&e);
	return v;
}

static void assert_value(struct kv_store *s, unsigned i, const char *want)
{
	char *v = get(s, i);

	ck_assert_str_eq(v, want);
	free(v);
}

/* Key i's value as a connection of the default VFS reads it. */
static char *raw_value(sqlite3 *db, unsigned i)
{
	struct kv_buf k = key_of(i);
	sqlite3_stmt *st;
	char *v;

	ck_assert_int_eq(sqlite3_prepare_v2(db, "select v from kv where k = ?",
					    -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_blob(st, 1, k.data, (int)k.len, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = strndup(sqlite3_column_blob(st, 0),
			    (size_t)sqlite3_column_bytes(st, 0));
	else
		v = strdup("");
	sqlite3_finalize(st);
	kv_buf_free(&k);
	return v;
}

START_TEST(every_commit_is_read_at_once_by_a_default_vfs_connection)
{
	char path[128], want[32];

	snprintf(path, sizeof(path), "%s/kv.sqlite3", dir);
	struct kv_store *s = store_open(path);
	sqlite3 *reader = raw_open(path, NULL);

	for (unsigned i = 0; i < 300; i++) {
		snprintf(want, sizeof(want), "value %u", i);
		ck_assert_int_eq(put(s, i % 50, want), 0);
		char *v = raw_value(reader, i % 50);
		ck_assert_str_eq(v, want);
		free(v);
	}
	ck_assert_int_eq(raw_int(reader, "select count(*) from kv"), 50);
	assert_intact(reader);
	sqlite3_close(reader);
	kv_store_close(s);
}
END_TEST

START_TEST(a_one_value_commit_of_the_store_is_one_wal_write)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/kv.sqlite3", dir);
	struct kv_store *s = store_open(path);
	ck_assert_int_eq(put(s, 1, "warm"), 0);
	wal_writes = 0;
	ck_assert_int_eq(put(s, 2, "one"), 0);
	ck_assert_uint_eq(wal_writes, 1);
	kv_store_close(s);
}
END_TEST

static off_t file_size(const char *path)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_size;
}

static void set_file_size_limit(rlim_t limit)
{
	struct rlimit rl;

	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
	rl.rlim_cur = limit;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

/*
 * With the WAL kept from growing, the frames fail only when the shim
 * writes them out (at the commit's sync): the commit must still fail
 * with the write's error and leave the old value, and the store must
 * work again once they can be written.
 */
START_TEST(a_commit_past_the_file_size_limit_is_eio_and_keeps_the_old_value)
{
	char path[128], wal[140];

	snprintf(path, sizeof(path), "%s/kv.sqlite3", dir);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	struct kv_store *s = store_open(path);
	ck_assert_int_eq(put(s, 1, "old"), 0);
	signal(SIGXFSZ, SIG_IGN);
	set_file_size_limit((rlim_t)file_size(wal));
	ck_assert_int_eq(put(s, 1, "new"), -EIO);
	set_file_size_limit(RLIM_INFINITY);
	assert_value(s, 1, "old");
	ck_assert_int_eq(put(s, 1, "newer"), 0);
	assert_value(s, 1, "newer");
	sqlite3 *db = raw_open(path, NULL);
	char *v = raw_value(db, 1);
	ck_assert_str_eq(v, "newer");
	free(v);
	sqlite3_close(db);
	kv_store_close(s);
}
END_TEST

/* Fill the file system of filler to the last byte. */
static int fill_disk(const char *filler)
{
	static const char zeros[4096];
	FILE *fp = fopen(filler, "wb");

	if (!fp)
		return -errno;
	while (fwrite(zeros, 1, sizeof(zeros), fp) == sizeof(zeros))
		;
	fclose(fp);
	return 0;
}

/* What the child of the full-disk test saw, in memory it shares with the
 * test, which asserts on it (an assertion in the child would not reach
 * check's runner). */
struct full_disk {
	int mounted, opened, put_old, filled, put_new, freed, put_newer;
	char after_new[16], after_newer[16];
};

static void value_into(struct kv_store *s, unsigned i, char out[16])
{
	struct kv_buf k = key_of(i);
	struct kv_entry e;

	if (kv_store_get(s, k.data, k.len, &e) == 0) {
		snprintf(out, 16, "%.*s", (int)e.value_len,
			 (const char *)e.value);
		kv_entry_free(&e);
	}
	kv_buf_free(&k);
}

/* In a mount namespace of its own: the store on a 1 MiB tmpfs. */
static void full_disk_child(struct full_disk *d)
{
	struct kv_store_options o = { .create = true };
	struct kv_store *s = NULL;
	char mnt[128], path[160], filler[160];

	snprintf(mnt, sizeof(mnt), "%s/disk", dir);
	snprintf(path, sizeof(path), "%s/kv.sqlite3", mnt);
	snprintf(filler, sizeof(filler), "%s/filler", mnt);
	d->mounted = mkdir(mnt, 0700) == 0 && unshare(CLONE_NEWNS) == 0 &&
		     mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
		     mount("kvfs-test", mnt, "tmpfs", 0, "size=1m") == 0;
	if (!d->mounted)
		_exit(0);
	d->opened = kv_store_open(path, &o, &s);
	if (d->opened == 0) {
		d->put_old = put(s, 1, "old");
		d->filled = fill_disk(filler);
		d->put_new = put(s, 1, "new");
		value_into(s, 1, d->after_new);
		d->freed = unlink(filler);
		d->put_newer = put(s, 1, "newer");
		value_into(s, 1, d->after_newer);
		kv_store_close(s);
	}
	umount2(mnt, MNT_DETACH);
	_exit(0);
}

START_TEST(a_commit_on_a_full_disk_is_enospc_and_keeps_the_old_value)
{
	struct full_disk *d = mmap(NULL, sizeof(*d), PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int status;

	ck_assert_ptr_ne(d, MAP_FAILED);
	memset(d, 0, sizeof(*d));
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		full_disk_child(d);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (!d->mounted) {
		fprintf(stderr, "full disk: no tmpfs can be mounted here "
				"(needs root); not run\n");
		munmap(d, sizeof(*d));
		return;
	}
	ck_assert_int_eq(d->opened, 0);
	ck_assert_int_eq(d->put_old, 0);
	ck_assert_int_eq(d->filled, 0);
	ck_assert_int_eq(d->put_new, -ENOSPC);
	ck_assert_str_eq(d->after_new, "old");
	ck_assert_int_eq(d->freed, 0);
	ck_assert_int_eq(d->put_newer, 0);
	ck_assert_str_eq(d->after_newer, "newer");
	munmap(d, sizeof(*d));
}
END_TEST

static Suite *sqlite_vfs_suite(void)
{
	Suite *s = suite_create("sqlite_vfs");
	TCase *bytes = tcase_create("bytes");
	TCase *store = tcase_create("store");

	tcase_add_checked_fixture(bytes, make_dir, remove_dir);
	tcase_set_timeout(bytes, 60);
	tcase_add_test(bytes, small_commits_write_the_default_vfs_bytes);
	tcase_add_test(bytes,
		       a_commit_larger_than_the_buffer_writes_the_default_vfs_bytes);
	tcase_add_test(bytes, frames_of_64k_pages_write_the_default_vfs_bytes);
	tcase_add_test(
		bytes,
		a_spilled_transaction_rolled_back_writes_the_default_vfs_bytes);
	tcase_add_test(bytes, a_restarted_wal_writes_the_default_vfs_bytes);
	tcase_add_test(bytes, the_frames_of_a_commit_reach_the_wal_in_one_write);
	suite_add_tcase(s, bytes);

	tcase_add_checked_fixture(store, make_dir, remove_dir);
	tcase_set_timeout(store, 60);
	tcase_add_test(store,
		       every_commit_is_read_at_once_by_a_default_vfs_connection);
	tcase_add_test(store, a_one_value_commit_of_the_store_is_one_wal_write);
	tcase_add_test(
		store,
		a_commit_past_the_file_size_limit_is_eio_and_keeps_the_old_value);
	tcase_add_test(store,
		       a_commit_on_a_full_disk_is_enospc_and_keeps_the_old_value);
	suite_add_tcase(s, store);
	return s;
}

int main(void)
{
	register_counting_vfs();
	return run_suite(sqlite_vfs_suite());
}
