/*
 * sqlite_engine.c — the engine that keeps a store in a SQLite file in Deno's
 * own format (denokv/SPEC.md §1): its schema and migrations, its read
 * transaction and its commit protocol. The only file that speaks SQL.
 *
 * One connection per store, serialized by a mutex, because FUSE calls come
 * from many threads while SQLite gives a connection one user at a time.
 * Another process (Deno) may hold the write lock at any moment; a busy
 * database is retried with jitter until the store's budget runs out, and
 * every write transaction is BEGIN IMMEDIATE with nothing slow inside, so
 * Deno's own 5 s busy timeout is never approached.
 *
 * An expired row (0 <= expiration_ms <= now) is absent everywhere here:
 * reads skip it, a check sees no key, and sum/min/max start from the
 * operand. Deno itself treats it as present until its sweep deletes it;
 * kvfs hides it (kvfs-spec §2), and a check has to agree with what a read
 * showed, or a read-check-write cycle could never succeed on such a key.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>
#include <sqlite3.h>

#include "engine.h"
#include "sqlite_vfs.h"

#define DEFAULT_BUSY_BUDGET_MS 1000
#define DENO_MIGRATIONS 3

/* Deno's schema, statement for statement (SPEC §1.2): SQLite keeps the text
 * of each CREATE in sqlite_master, and Deno compares nothing, but a file
 * kvfs creates is meant to be indistinguishable from one Deno created. */
static const char create_migration_state[] =
	"create table if not exists migration_state(\n"
	"  k integer not null primary key,\n"
	"  version integer not null\n"
	")";

static const char *const migrations[DENO_MIGRATIONS] = {
	"create table data_version (\n"
	"  k integer primary key,\n"
	"  version integer not null\n"
	");\n"
	"insert into data_version (k, version) values (0, 0);\n"
	"create table kv (\n"
	"  k blob primary key,\n"
	"  v blob not null,\n"
	"  v_encoding integer not null,\n"
	"  version integer not null\n"
	") without rowid;\n",

	"create table queue (\n"
	"  ts integer not null,\n"
	"  id text not null,\n"
	"  data blob not null,\n"
	"  backoff_schedule text not null,\n"
	"  keys_if_undelivered blob not null,\n"
	"\n"
	"  primary key (ts, id)\n"
	");\n"
	"create table queue_running(\n"
	"  deadline integer not null,\n"
	"  id text not null,\n"
	"  data blob not null,\n"
	"  backoff_schedule text not null,\n"
	"  keys_if_undelivered blob not null,\n"
	"\n"
	"  primary key (deadline, id)\n"
	");\n",

	"alter table kv add column seq integer not null default 0;\n"
	"alter table data_version add column seq integer not null default 0;\n"
	"alter table kv add column expiration_ms integer not null default -1;\n"
	"create index kv_expiration_ms_idx on kv (expiration_ms);\n",
};

enum stmt_id {
	ST_BEGIN_DEFERRED,
	ST_BEGIN_IMMEDIATE,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_RANGE_ASC,
	ST_RANGE_DESC,
	ST_ROW_VERSION,
	ST_ROW_VALUE,
	ST_BUMP_VERSION,
	ST_UPSERT,
	ST_DELETE,
	ST_DATA_VERSION,
	ST_SWEEP,
	ST_META_EXISTS,
	ST_META_CREATE,
	ST_META_GET,
	ST_META_PUT,
	ST_META_DELETE,
	ST_META_LIST,
	ST_COUNT
};

/* The unary + keeps the planner on the primary key: a range scan in key
 * order, with expiry filtered row by row, never the expiration index. */
static const char *const stmt_sql[ST_COUNT] = {
	[ST_BEGIN_DEFERRED] = "begin deferred",
	[ST_BEGIN_IMMEDIATE] = "begin immediate",
	[ST_COMMIT] = "commit",
	[ST_ROLLBACK] = "rollback",
	[ST_RANGE_ASC] = "select k, v, v_encoding, version, expiration_ms "
			 "from kv where k >= ? and k < ? and "
			 "(+expiration_ms < 0 or +expiration_ms > ?) "
			 "order by k asc limit ?",
	[ST_RANGE_DESC] = "select k, v, v_encoding, version, expiration_ms "
			  "from kv where k >= ? and k < ? and "
			  "(+expiration_ms < 0 or +expiration_ms > ?) "
			  "order by k desc limit ?",
	[ST_ROW_VERSION] = "select version, expiration_ms from kv where k = ?",
	[ST_ROW_VALUE] =
		"select v, v_encoding, expiration_ms from kv where k = ?",
	/* Deno writes "... returning version"; RETURNING makes SQLite
	 * buffer the rows in a temporary table, which cost more than the
	 * rest of a small commit (docs/performance.md), so the new version
	 * is read back with ST_DATA_VERSION inside the same transaction. */
	[ST_BUMP_VERSION] = "update data_version set version = version + ? "
			    "where k = 0",
	[ST_UPSERT] = "insert into kv (k, v, v_encoding, version, "
		      "expiration_ms) values (?, ?, ?, ?, ?) "
		      "on conflict(k) do update set v = excluded.v, "
		      "v_encoding = excluded.v_encoding, "
		      "version = excluded.version, "
		      "expiration_ms = excluded.expiration_ms",
	[ST_DELETE] = "delete from kv where k = ?",
	[ST_DATA_VERSION] = "select version from data_version where k = 0",
	[ST_SWEEP] = "delete from kv where expiration_ms >= 0 and "
		     "expiration_ms <= ?",
	[ST_META_EXISTS] = "select 1 from sqlite_master where type = 'table' "
			   "and name = 'kvfs_meta'",
	[ST_META_CREATE] = "create table if not exists kvfs_meta("
			   "k TEXT PRIMARY KEY, v BLOB NOT NULL)",
	[ST_META_GET] = "select v from kvfs_meta where k = ?",
	[ST_META_PUT] = "insert into kvfs_meta (k, v) values (?, ?) "
			"on conflict(k) do update set v = excluded.v",
	[ST_META_DELETE] = "delete from kvfs_meta where k = ?",
	[ST_META_LIST] = "select k, v from kvfs_meta order by k",
};

struct sqlite_engine {
	sqlite3 *db;
	pthread_mutex_t lock;
	bool read_only;
	unsigned busy_budget_ms;
	int64_t busy_deadline_ms; /* monotonic; set when an operation starts */
	uint64_t rng;		  /* xorshift64 state for version steps */
	/* The latest commit's version and the one its transaction started
	 * from: the step between them is random, so only we know it. */
	int64_t last_version, last_start;
	sqlite3_stmt *stmts[ST_COUNT];
};

static int64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * SQLite calls this while another connection holds a lock we need. Random
 * sleeps keep two kvfs processes from retrying in lock step; they start
 * short because Deno's transactions are short, and grow to ~50 ms so a long
 * holder is not polled needlessly. Returning 0 gives up (SQLITE_BUSY).
 */
static int on_busy(void *arg, int count)
{
	struct sqlite_engine *e = arg;
	int64_t left = e->busy_deadline_ms - monotonic_ms();

	if (left <= 0)
		return 0;
	unsigned cap = count >= 8 ? 50 : 10 + 5 * (unsigned)count;
	unsigned ms = 2 + randombytes_uniform(cap - 1);
	sleep_ms(ms < left ? ms : (unsigned)left);
	return 1;
}

/* Each public operation gets the whole budget for its lock waits. */
static void start_operation(struct sqlite_engine *e)
{
	pthread_mutex_lock(&e->lock);
	e->busy_deadline_ms = monotonic_ms() + e->busy_budget_ms;
}

static void end_operation(struct sqlite_engine *e)
{
	pthread_mutex_unlock(&e->lock);
}

static int errno_of(struct sqlite_engine *e, int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EAGAIN;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_NOTADB:
		return -EINVAL;
	case SQLITE_CANTOPEN: {
		int err = e->db ? sqlite3_system_errno(e->db) : 0;
		return err > 0 ? -err : -EIO;
	}
	default:
		return -EIO;
	}
}

/* The cached statement id, prepared on first use; reset after each use. */
static int stmt(struct sqlite_engine *e, enum stmt_id id, sqlite3_stmt **out)
{
	int rc = SQLITE_OK;

	if (!e->stmts[id])
		rc = sqlite3_prepare_v3(e->db, stmt_sql[id], -1,
					SQLITE_PREPARE_PERSISTENT,
					&e->stmts[id], NULL);
	*out = e->stmts[id];
	return rc == SQLITE_OK ? 0 : errno_of(e, rc);
}

static void release(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* A NULL pointer would bind SQL NULL, never an empty blob. */
static int bind_blob(sqlite3_stmt *st, int i, const void *data, size_t len)
{
	static const uint8_t empty;

	if (len > INT32_MAX)
		return SQLITE_TOOBIG;
	return sqlite3_bind_blob(st, i, len ? data : &empty, (int)len,
				 SQLITE_STATIC);
}

/* Run a statement that returns no rows. */
static int run(struct sqlite_engine *e, enum stmt_id id)
{
	sqlite3_stmt *st;
	int r = stmt(e, id, &st);

	if (r < 0)
		return r;
	int rc = sqlite3_step(st);
	release(st);
	return rc == SQLITE_DONE ? 0 : errno_of(e, rc);
}

/* Close a transaction: commit when r is 0, else roll back and keep r. */
static int finish(struct sqlite_engine *e, int r)
{
	if (r == 0) {
		r = run(e, ST_COMMIT);
		if (r == 0)
			return 0;
	}
	if (!sqlite3_get_autocommit(e->db))
		run(e, ST_ROLLBACK);
	return r;
}

static void versionstamp_of(int64_t version,
			    uint8_t vs[KV_VERSIONSTAMP_LEN])
{
	for (int i = 0; i < 8; i++)
		vs[i] = (uint8_t)((uint64_t)version >> (56 - 8 * i));
	vs[8] = 0;
	vs[9] = 0;
}

static bool expired(int64_t expiration_ms, int64_t now_ms)
{
	return expiration_ms >= 0 && expiration_ms <= now_ms;
}

/* ---- reads ------------------------------------------------------------ */

/* malloc of at least one byte, so an empty key or value is never NULL. */
static uint8_t *copy_bytes(const void *data, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	if (p && len)
		memcpy(p, data, len);
	return p;
}

/*
 * A row as it is: v as its bytes whatever its column type, v_encoding as an
 * integer even when it names no encoding. Judging them is the caller's job;
 * a v that is not a BLOB (Deno refuses to read it) is marked -EMEDIUMTYPE.
 */
static int entry_from_row(sqlite3_stmt *st, struct kv_entry *out)
{
	bool v_is_blob = sqlite3_column_type(st, 1) == SQLITE_BLOB;
	const void *k = sqlite3_column_blob(st, 0);
	size_t klen = (size_t)sqlite3_column_bytes(st, 0);
	const void *v = sqlite3_column_blob(st, 1);
	size_t vlen = (size_t)sqlite3_column_bytes(st, 1);
	int64_t enc = sqlite3_column_int64(st, 2);

	*out = (struct kv_entry){0};
	out->key = copy_bytes(k, klen);
	out->value = copy_bytes(v, vlen);
	if (!out->key || !out->value) {
		kv_entry_free(out);
		return -ENOMEM;
	}
	out->key_len = klen;
	out->value_len = vlen;
	out->encoding = (enum kv_encoding)(enc >= 0 && enc <= INT32_MAX ? enc
									: 0);
	versionstamp_of(sqlite3_column_int64(st, 3), out->versionstamp);
	out->expires_at_ms = sqlite3_column_int64(st, 4);
	if (!v_is_blob && vlen > 0)
		out->error = -EMEDIUMTYPE;
	return 0;
}

static int entries_push(struct kv_entries *list, size_t *cap,
			sqlite3_stmt *st)
{
	if (list->n == *cap) {
		size_t ncap = *cap ? 2 * *cap : 8;
		struct kv_entry *v = realloc(list->v, ncap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		list->v = v;
		*cap = ncap;
	}
	int r = entry_from_row(st, &list->v[list->n]);
	if (r == 0)
		list->n++;
	return r;
}

static int read_range(struct sqlite_engine *e, const struct kv_range *range,
		      int64_t now_ms, struct kv_entries *out)
{
	sqlite3_stmt *st;
	int r = stmt(e, range->reverse ? ST_RANGE_DESC : ST_RANGE_ASC, &st);

	if (r < 0)
		return r;
	int rc = bind_blob(st, 1, range->start, range->start_len);
	if (rc == SQLITE_OK)
		rc = bind_blob(st, 2, range->end, range->end_len);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 3, now_ms);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 4, range->limit);
	/* At the limit the scan is over: no step just to hear SQLITE_DONE. */
	size_t cap = 0;
	while (rc == SQLITE_OK && r == 0 && out->n < range->limit) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			r = entries_push(out, &cap, st);
			rc = SQLITE_OK;
		}
	}
	release(st);
	if (r == 0 && rc != SQLITE_OK && rc != SQLITE_DONE)
		r = errno_of(e, rc);
	return r;
}

static int snapshot_read(void *engine, const struct kv_range *ranges,
			 size_t n, int64_t now_ms, struct kv_entries *out)
{
	struct sqlite_engine *e = engine;

	for (size_t i = 0; i < n; i++)
		out[i] = (struct kv_entries){0};
	start_operation(e);
	/* One statement is a snapshot of its own: BEGIN and COMMIT are two
	 * more statements to run for nothing (a get is one range). */
	int r = n > 1 ? run(e, ST_BEGIN_DEFERRED) : 0;
	for (size_t i = 0; i < n && r == 0; i++)
		r = read_range(e, &ranges[i], now_ms, &out[i]);
	if (n > 1)
		r = finish(e, r);
	end_operation(e);
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			kv_entries_free(&out[i]);
	}
	return r;
}

/* The version row; -EIO when it is missing: not a file Deno made. */
static int read_version(struct sqlite_engine *e, int64_t *out)
{
	sqlite3_stmt *st;
	int r = stmt(e, ST_DATA_VERSION, &st);

	if (r < 0)
		return r;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	else
		r = rc == SQLITE_DONE ? -EIO : errno_of(e, rc);
	release(st);
	return r;
}

static int data_version(void *engine, uint64_t *out)
{
	struct sqlite_engine *e = engine;
	int64_t version = 0;

	start_operation(e);
	int r = read_version(e, &version);
	end_operation(e);
	if (r == 0)
		*out = (uint64_t)version;
	return r;
}

/*
 * BEGIN IMMEDIATE first starts a read transaction, and when the WAL has
 * grown since this connection's read mark was set (as it has after every
 * commit), it takes that mark's lock exclusively to move it: two of a
 * commit's six lock calls. A read transaction of its own moves the mark
 * now, and the commit that follows finds it current, unless another
 * writer has committed since.
 */
static int ready_commit(void *engine)
{
	uint64_t version;

	return data_version(engine, &version);
}

/* ---- the commit protocol (SPEC §1.5) ---------------------------------- */

static int check_holds(struct sqlite_engine *e, const struct kv_check *c,
		       int64_t now_ms)
{
	sqlite3_stmt *st;
	int r = stmt(e, ST_ROW_VERSION, &st);

	if (r < 0)
		return r;
	int rc = bind_blob(st, 1, c->key, c->key_len);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	bool present = rc == SQLITE_ROW &&
		       !expired(sqlite3_column_int64(st, 1), now_ms);
	uint8_t vs[KV_VERSIONSTAMP_LEN];
	if (present)
		versionstamp_of(sqlite3_column_int64(st, 0), vs);
	release(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return errno_of(e, rc);
	if (!c->versionstamp)
		return present ? -ECANCELED : 0;
	if (!present || memcmp(vs, c->versionstamp, KV_VERSIONSTAMP_LEN))
		return -ECANCELED;
	return 0;
}

static int bump_version(struct sqlite_engine *e, unsigned step,
			int64_t *version)
{
	sqlite3_stmt *st;
	int r = stmt(e, ST_BUMP_VERSION, &st);

	if (r < 0)
		return r;
	int rc = sqlite3_bind_int64(st, 1, step);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	release(st);
	if (rc != SQLITE_DONE)
		return errno_of(e, rc);
	return read_version(e, version);
}

static int upsert(struct sqlite_engine *e, const uint8_t *key, size_t key_len,
		  enum kv_encoding enc, const uint8_t *value, size_t value_len,
		  int64_t version, int64_t expiration_ms)
{
	sqlite3_stmt *st;
	int r = stmt(e, ST_UPSERT, &st);

	if (r < 0)
		return r;
	int rc = bind_blob(st, 1, key, key_len);
	if (rc == SQLITE_OK)
		rc = bind_blob(st, 2, value, value_len);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 3, enc);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 4, version);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 5, expiration_ms);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	release(st);
	return rc == SQLITE_DONE ? 0 : errno_of(e, rc);
}

static int delete_key(struct sqlite_engine *e, const uint8_t *key,
		      size_t key_len)
{
	sqlite3_stmt *st;
	int r = stmt(e, ST_DELETE, &st);

	if (r < 0)
		return r;
	int rc = bind_blob(st, 1, key, key_len);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	release(st);
	return rc == SQLITE_DONE ? 0 : errno_of(e, rc);
}

/* The KvU64 stored at key: *present false when absent (or expired);
 * -EINVAL when the row holds anything but an 8-byte KvU64. */
static int read_u64(struct sqlite_engine *e, const uint8_t *key,
		    size_t key_len, int64_t now_ms, bool *present,
		    uint64_t *out)
{
	sqlite3_stmt *st;
	int r = stmt(e, ST_ROW_VALUE, &st);

	if (r < 0)
		return r;
	*present = false;
	int rc = bind_blob(st, 1, key, key_len);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && !expired(sqlite3_column_int64(st, 2), now_ms)) {
		*present = true;
		const void *v = sqlite3_column_blob(st, 0);
		size_t len = (size_t)sqlite3_column_bytes(st, 0);
		if (sqlite3_column_int64(st, 1) != KV_ENC_U64 ||
		    kv_u64_decode(v, len, out) < 0)
			r = -EINVAL;
	}
	release(st);
	if (r == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = errno_of(e, rc);
	return r;
}

static int apply_u64(struct sqlite_engine *e, const struct kv_mutation *m,
		     int64_t version, int64_t now_ms)
{
	uint64_t operand, cur, result;
	bool present;
	int r = kv_u64_decode(m->value, m->value_len, &operand);

	if (r < 0)
		return -EINVAL;
	r = read_u64(e, m->key, m->key_len, now_ms, &present, &cur);
	if (r < 0)
		return r;
	result = present ? kv_u64_combine(m->type, cur, operand) : operand;
	uint8_t buf[8];
	kv_u64_encode(result, buf);
	return upsert(e, m->key, m->key_len, KV_ENC_U64, buf, sizeof(buf),
		      version, -1);
}

static int apply_mutation(struct sqlite_engine *e, const struct kv_mutation *m,
			  int64_t version, int64_t now_ms)
{
	switch (m->type) {
	case KV_MUT_SET:
		return upsert(e, m->key, m->key_len, m->encoding, m->value,
			      m->value_len, version,
			      m->expire_in_ms < 0 ? -1
						  : now_ms + m->expire_in_ms);
	case KV_MUT_DELETE:
		return delete_key(e, m->key, m->key_len);
	case KV_MUT_SUM:
	case KV_MUT_MIN:
	case KV_MUT_MAX:
		return apply_u64(e, m, version, now_ms);
	}
	return -EINVAL;
}

/*
 * A commit's version step, 1..9 as Deno draws it (SPEC §1.5). Deno uses a
 * PRNG seeded once from entropy; so does this, as randombytes_uniform()
 * made a getrandom() system call on every commit.
 */
static unsigned version_step(struct sqlite_engine *e)
{
	e->rng ^= e->rng << 13;
	e->rng ^= e->rng >> 7;
	e->rng ^= e->rng << 17;
	return 1 + (unsigned)((e->rng >> 32) % 9);
}

static int apply_atomic(struct sqlite_engine *e, const struct kv_atomic *a,
			int64_t now_ms, int64_t *version, int64_t *start)
{
	int r = 0;

	for (size_t i = 0; i < a->n_checks && r == 0; i++)
		r = check_holds(e, &a->checks[i], now_ms);
	if (r == 0) {
		unsigned step = version_step(e);
		r = bump_version(e, step, version);
		*start = *version - step;
	}
	for (size_t i = 0; i < a->n_mutations && r == 0; i++)
		r = apply_mutation(e, &a->mutations[i], *version, now_ms);
	return r;
}

static int meta_read(struct sqlite_engine *e, const char *name,
		     struct kv_buf *out);

/* Whether metadata value name holds exactly expect (NULL: is absent). */
static int meta_holds(struct sqlite_engine *e, const char *name,
		      const uint8_t *expect, size_t expect_len)
{
	struct kv_buf cur = { 0 };
	int r = meta_read(e, name, &cur);
	bool same = r == -ENOENT ? !expect
		    : r == 0 && expect && cur.len == expect_len &&
			      memcmp(cur.data, expect, expect_len) == 0;

	kv_buf_free(&cur);
	if (r < 0 && r != -ENOENT)
		return r;
	return same ? 0 : -ECANCELED;
}

static int atomic_write(void *engine, const struct kv_atomic *a,
			int64_t now_ms, const struct kv_meta_guard *guard,
			uint8_t versionstamp[KV_VERSIONSTAMP_LEN])
{
	struct sqlite_engine *e = engine;
	int64_t version = 0, start = 0;

	if (e->read_only)
		return -EROFS;
	start_operation(e);
	int r = run(e, ST_BEGIN_IMMEDIATE);
	if (r == 0 && guard) {
		r = meta_holds(e, guard->name, guard->value, guard->len);
		if (r == -ECANCELED)
			r = -ESTALE;
		if (r < 0)
			finish(e, r);
	}
	if (r == 0)
		r = finish(e, apply_atomic(e, a, now_ms, &version, &start));
	if (r == 0) {
		e->last_version = version;
		e->last_start = start;
	}
	end_operation(e);
	if (r == 0)
		versionstamp_of(version, versionstamp);
	return r;
}

static int commit_start(void *engine, const uint8_t vs[KV_VERSIONSTAMP_LEN],
			uint64_t *out)
{
	struct sqlite_engine *e = engine;
	int r = -ENOENT;

	pthread_mutex_lock(&e->lock);
	if (e->last_version > 0 &&
	    kv_versionstamp_version(vs) == (uint64_t)e->last_version) {
		*out = (uint64_t)e->last_start;
		r = 0;
	}
	pthread_mutex_unlock(&e->lock);
	return r;
}

/* Deno's collect_expired(): one bump for the whole sweep, none if idle. */
static int sweep_expired(struct sqlite_engine *e, int64_t now_ms,
			 size_t *deleted)
{
	sqlite3_stmt *st;
	int r = stmt(e, ST_SWEEP, &st);

	if (r < 0)
		return r;
	int rc = sqlite3_bind_int64(st, 1, now_ms);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	release(st);
	if (rc != SQLITE_DONE)
		return errno_of(e, rc);
	*deleted = (size_t)sqlite3_changes(e->db);
	int64_t version;
	return *deleted ? bump_version(e, 1, &version) : 0;
}

static int sweep(void *engine, int64_t now_ms, size_t *deleted)
{
	struct sqlite_engine *e = engine;
	size_t n = 0;

	if (e->read_only)
		return -EROFS;
	start_operation(e);
	int r = run(e, ST_BEGIN_IMMEDIATE);
	if (r == 0)
		r = finish(e, sweep_expired(e, now_ms, &n));
	end_operation(e);
	if (deleted)
		*deleted = r == 0 ? n : 0;
	return r;
}

/* ---- kvfs_meta: created on the first set, so a fresh file has exactly
 * Deno's schema until kvfs has something to keep ------------------------ */

static int meta_table_exists(struct sqlite_engine *e, bool *exists)
{
	sqlite3_stmt *st;
	int r = stmt(e, ST_META_EXISTS, &st);

	if (r < 0)
		return r;
	int rc = sqlite3_step(st);
	release(st);
	*exists = rc == SQLITE_ROW;
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : errno_of(e, rc);
}

static int meta_read(struct sqlite_engine *e, const char *name,
		     struct kv_buf *out)
{
	bool exists;
	sqlite3_stmt *st;
	int r = meta_table_exists(e, &exists);

	if (r < 0)
		return r;
	if (!exists)
		return -ENOENT;
	r = stmt(e, ST_META_GET, &st);
	if (r < 0)
		return r;
	int rc = sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->len = 0;
		r = kv_buf_append(out, sqlite3_column_blob(st, 0),
				  (size_t)sqlite3_column_bytes(st, 0));
		if (r == 0)
			r = kv_buf_reserve(out, 1); /* keep data non-NULL */
	} else {
		r = rc == SQLITE_DONE ? -ENOENT : errno_of(e, rc);
	}
	release(st);
	return r;
}

static int meta_get(void *engine, const char *name, struct kv_buf *out)
{
	struct sqlite_engine *e = engine;

	start_operation(e);
	int r = run(e, ST_BEGIN_DEFERRED);
	if (r == 0) {
		r = meta_read(e, name, out);
		finish(e, 0);
	}
	end_operation(e);
	return r;
}

static int meta_write(struct sqlite_engine *e, const char *name,
		      const uint8_t *value, size_t len)
{
	bool exists;
	sqlite3_stmt *st;
	int r = meta_table_exists(e, &exists);

	if (r < 0 || (!exists && !value))
		return r;
	if (!exists && (r = run(e, ST_META_CREATE)) < 0)
		return r;
	r = stmt(e, value ? ST_META_PUT : ST_META_DELETE, &st);
	if (r < 0)
		return r;
	int rc = sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK && value)
		rc = bind_blob(st, 2, value, len);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	release(st);
	return rc == SQLITE_DONE ? 0 : errno_of(e, rc);
}

static int meta_set(void *engine, const char *name, const uint8_t *value,
		    size_t len)
{
	struct sqlite_engine *e = engine;

	if (e->read_only)
		return -EROFS;
	start_operation(e);
	int r = run(e, ST_BEGIN_IMMEDIATE);
	if (r == 0)
		r = finish(e, meta_write(e, name, value, len));
	end_operation(e);
	return r;
}

/* A NULL k (SQLite lets a TEXT PRIMARY KEY be NULL) names nothing: -EIO. */
static int meta_rows(struct sqlite_engine *e, struct kv_meta_list *out)
{
	bool exists;
	sqlite3_stmt *st;
	int r = meta_table_exists(e, &exists);

	if (r < 0 || !exists)
		return r;
	if ((r = stmt(e, ST_META_LIST, &st)) < 0)
		return r;
	int rc = SQLITE_DONE;
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		size_t name_len = (size_t)sqlite3_column_bytes(st, 0);
		const uint8_t *value = sqlite3_column_blob(st, 1);
		size_t len = (size_t)sqlite3_column_bytes(st, 1);
		r = name ? kv_meta_list_push(out, name, name_len, value, len)
			 : -EIO;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = errno_of(e, rc);
	release(st);
	return r;
}

static int meta_list(void *engine, struct kv_meta_list *out)
{
	struct sqlite_engine *e = engine;

	start_operation(e);
	int r = run(e, ST_BEGIN_DEFERRED);
	if (r == 0)
		r = finish(e, meta_rows(e, out));
	end_operation(e);
	return r;
}

static int meta_swap(void *engine, const char *name, const uint8_t *expect,
		     size_t expect_len, const uint8_t *value, size_t len)
{
	struct sqlite_engine *e = engine;

	if (e->read_only)
		return -EROFS;
	start_operation(e);
	int r = errno_of(e, sqlite3_exec(e->db, "PRAGMA secure_delete=ON",
					 NULL, NULL, NULL));
	if (r == 0)
		r = run(e, ST_BEGIN_IMMEDIATE);
	if (r == 0) {
		r = meta_holds(e, name, expect, expect_len);
		if (r == 0)
			r = meta_write(e, name, value, len);
		r = finish(e, r);
	}
	/* The old bytes also live in the WAL's copies of the page: empty it
	 * now if no reader holds it (else at a later checkpoint). */
	if (r == 0)
		sqlite3_exec(e->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL,
			     NULL, NULL);
	end_operation(e);
	return r;
}

static int secure_delete(void *engine)
{
	struct sqlite_engine *e = engine;

	start_operation(e);
	int r = errno_of(e, sqlite3_exec(e->db, "PRAGMA secure_delete=ON",
					 NULL, NULL, NULL));
	end_operation(e);
	return r;
}

static int compact(void *engine)
{
	struct sqlite_engine *e = engine;

	if (e->read_only)
		return -EROFS;
	start_operation(e);
	int r = errno_of(e, sqlite3_exec(e->db, "VACUUM", NULL, NULL, NULL));
	if (r == 0)
		r = errno_of(e, sqlite3_exec(e->db,
					     "PRAGMA wal_checkpoint(TRUNCATE)",
					     NULL, NULL, NULL));
	end_operation(e);
	return r;
}

static bool read_only(void *engine)
{
	return ((struct sqlite_engine *)engine)->read_only;
}

static void engine_free(struct sqlite_engine *e)
{
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(e->stmts[i]);
	sqlite3_close(e->db);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

static void engine_close(void *engine)
{
	if (engine)
		engine_free(engine);
}

static const struct kv_engine_ops sqlite_ops = {
	.name = "sqlite",
	.snapshot_read = snapshot_read,
	.atomic_write = atomic_write,
	.data_version = data_version,
	.ready_commit = ready_commit,
	.commit_start = commit_start,
	.sweep = sweep,
	.meta_get = meta_get,
	.meta_set = meta_set,
	.meta_list = meta_list,
	.meta_swap = meta_swap,
	.secure_delete = secure_delete,
	.compact = compact,
	.read_only = read_only,
	.close = engine_close,
};

/* ---- opening: recognise Deno's file, migrate it as Deno would --------- */

static int exec(struct sqlite_engine *e, const char *sql)
{
	return errno_of(e, sqlite3_exec(e->db, sql, NULL, NULL, NULL));
}

/* Run one query whose first column of the first row is an integer. */
static int query_int(struct sqlite_engine *e, const char *sql, bool *found,
		     int64_t *out)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(e->db, sql, -1, &st, NULL);

	*found = false;
	*out = 0;
	if (rc != SQLITE_OK)
		return errno_of(e, rc);
	rc = sqlite3_step(st);
	*found = rc == SQLITE_ROW;
	if (*found)
		*out = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : errno_of(e, rc);
}

/*
 * Deno's migration number of the file: 0 for an empty database or one that
 * only holds foreign tables. A file without migration_state that already
 * has one of Deno's tables would make Deno's migration fail: not ours.
 */
static int migration_state(struct sqlite_engine *e, int64_t *version)
{
	bool found;
	int64_t n;
	int r = query_int(e,
			  "select count(*) from sqlite_master where type = "
			  "'table' and name = 'migration_state'",
			  &found, &n);

	*version = 0;
	if (r < 0)
		return r;
	if (n == 0) {
		r = query_int(e,
			      "select count(*) from sqlite_master where name "
			      "in ('data_version', 'kv', 'queue', "
			      "'queue_running', 'kv_expiration_ms_idx')",
			      &found, &n);
		return r < 0 ? r : n ? -EINVAL : 0;
	}
	r = query_int(e, "select version from migration_state where k = 0",
		      &found, version);
	if (r == 0 && !found)
		*version = 0;
	return r;
}

static int record_migration(struct sqlite_engine *e, int i)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(
		e->db,
		"replace into migration_state (k, version) values(0, ?)", -1,
		&st, NULL);

	if (rc != SQLITE_OK)
		return errno_of(e, rc);
	rc = sqlite3_bind_int(st, 1, i);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : errno_of(e, rc);
}

/* The migrations still missing, inside the caller's write transaction.
 * A migration that fails on this file means it is not Deno's. */
static int apply_migrations(struct sqlite_engine *e)
{
	int64_t version = 0;
	int r = exec(e, create_migration_state);

	if (r == 0)
		r = migration_state(e, &version);
	for (int i = (int)version + 1; r == 0 && i <= DENO_MIGRATIONS; i++) {
		r = exec(e, migrations[i - 1]);
		if (r == -EIO)
			r = -EINVAL;
		if (r == 0)
			r = record_migration(e, i);
	}
	return r;
}

static int migrate(struct sqlite_engine *e)
{
	int r = run(e, ST_BEGIN_IMMEDIATE);

	return r < 0 ? r : finish(e, apply_migrations(e));
}

/*
 * Bring the file to Deno's migration 3, or learn that it is newer (then it
 * is only read: kvfs never writes a format it does not know).
 */
static int prepare_schema(struct sqlite_engine *e)
{
	int64_t version;
	int r = exec(e, "PRAGMA temp_store=MEMORY");

	if (r == 0)
		r = migration_state(e, &version);
	if (r < 0)
		return r;
	if (sqlite3_db_readonly(e->db, "main") == 1 ||
	    version > DENO_MIGRATIONS)
		e->read_only = true;
	if (e->read_only)
		return version < DENO_MIGRATIONS ? -EROFS : 0;
	r = exec(e, "PRAGMA journal_mode=wal");
	/* Deno's setting, and one the WAL shim (sqlite_vfs.c) relies on: a
	 * commit's xSync, which writes its frames out and reports their
	 * errors, comes before the wal-index update that shows them to other
	 * processes. Not left to the compiled-in default. */
	if (r == 0)
		r = exec(e, "PRAGMA synchronous=FULL");
	if (r == 0 && version < DENO_MIGRATIONS)
		r = migrate(e);
	return r;
}

/*
 * SQLite's memory statistics take a global mutex around every allocation,
 * and Debian's build has no lookaside, so a commit makes ~50 of them; the
 * store never asks for the statistics. The setting must come before SQLite
 * initializes, and fails harmlessly when the program used SQLite before.
 */
static pthread_once_t configured = PTHREAD_ONCE_INIT;

static void configure_sqlite(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int kv_sqlite_engine_open(const char *path, bool read_only, bool create,
			  unsigned busy_budget_ms, void **engine,
			  const struct kv_engine_ops **ops)
{
	struct sqlite_engine *e = calloc(1, sizeof(*e));
	int flags = SQLITE_OPEN_NOMUTEX;

	if (!e)
		return -ENOMEM;
	if (sodium_init() < 0) {
		free(e);
		return -EIO;
	}
	pthread_mutex_init(&e->lock, NULL);
	do
		randombytes_buf(&e->rng, sizeof(e->rng));
	while (e->rng == 0); /* the one state xorshift never leaves */
	e->read_only = read_only;
	e->busy_budget_ms = busy_budget_ms ? busy_budget_ms
					   : DEFAULT_BUSY_BUDGET_MS;
	if (read_only)
		flags |= SQLITE_OPEN_READONLY;
	else
		flags |= SQLITE_OPEN_READWRITE |
			 (create ? SQLITE_OPEN_CREATE : 0);
	pthread_once(&configured, configure_sqlite);
	int r = errno_of(e, sqlite3_open_v2(path, &e->db, flags,
					    kv_sqlite_wal_vfs()));
	if (r == 0 && !e->db)
		r = -ENOMEM;
	if (r == 0) {
		sqlite3_busy_handler(e->db, on_busy, e);
		start_operation(e);
		r = prepare_schema(e);
		end_operation(e);
	}
	if (r < 0) {
		engine_free(e);
		return r;
	}
	*engine = e;
	*ops = &sqlite_ops;
	return 0;
}
