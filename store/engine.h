/*
 * engine.h — the table of functions an engine fills in. The store layer
 * (store.c) checks limits and arguments, then calls one of these; an engine
 * only moves bytes in and out of its storage with Deno's semantics.
 *
 * Internal to store/: fs/ and the command line see only kv_store.h.
 */
#ifndef KVFS_ENGINE_H
#define KVFS_ENGINE_H

#include "kv_store.h"

/*
 * A condition on kvfs's metadata that a write transaction checks before it
 * writes: the value name holds exactly value[0..len). An encrypted store
 * guards every commit with its seal row, so that no value is sealed under
 * a keyring that another process has replaced meanwhile.
 */
struct kv_meta_guard {
	const char *name;
	const uint8_t *value;
	size_t len;
};

/* What sum, min or max leaves at a key holding cur: Deno's arithmetic
 * (sum wraps mod 2^64). For the engines and the store's sealed commits. */
static inline uint64_t kv_u64_combine(enum kv_mutation_type type,
				      uint64_t cur, uint64_t operand)
{
	switch (type) {
	case KV_MUT_MIN:
		return cur < operand ? cur : operand;
	case KV_MUT_MAX:
		return cur > operand ? cur : operand;
	default:
		return cur + operand;
	}
}

/* The data_version a versionstamp was committed at (its first 8 bytes,
 * big-endian). */
static inline uint64_t kv_versionstamp_version(
	const uint8_t vs[KV_VERSIONSTAMP_LEN])
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | vs[i];
	return v;
}

/* Append a copy of name[0..name_len) and value[0..len) to list: -EIO when
 * the name holds a NUL, so that it could not be named again. */
int kv_meta_list_push(struct kv_meta_list *list, const char *name,
		      size_t name_len, const uint8_t *value, size_t len);

struct kv_engine_ops {
	const char *name;

	/*
	 * Read n ranges in one consistent snapshot into out[0..n), skipping
	 * rows with 0 <= expiration_ms <= now_ms.
	 */
	int (*snapshot_read)(void *engine, const struct kv_range *ranges,
			     size_t n, int64_t now_ms, struct kv_entries *out);

	/*
	 * Apply a validated atomic in Deno's commit protocol. Returns 0 and
	 * the versionstamp, -ECANCELED when a check failed, -EAGAIN when the
	 * database stayed locked, -EINVAL for sum/min/max on a non-KvU64.
	 * guard (may be NULL) is checked inside the same write transaction,
	 * before anything is written: -ESTALE when it does not hold.
	 */
	int (*atomic_write)(void *engine, const struct kv_atomic *a,
			    int64_t now_ms, const struct kv_meta_guard *guard,
			    uint8_t versionstamp[KV_VERSIONSTAMP_LEN]);

	/* The commit counter; changes whenever anyone commits. */
	int (*data_version)(void *engine, uint64_t *out);

	/*
	 * Do the part of starting a write transaction that leaves nothing
	 * held, for a commit expected soon (kv_store_ready_commit). NULL
	 * when an engine has no such part.
	 */
	int (*ready_commit)(void *engine);

	/*
	 * The data_version (as data_version() reports it) that the write
	 * transaction of this engine's own commit with versionstamp vs
	 * started from, before its bump. -ENOENT when the engine no longer
	 * knows that commit's (SQLite, whose steps are random, remembers
	 * its latest commit's only).
	 */
	int (*commit_start)(void *engine,
			    const uint8_t vs[KV_VERSIONSTAMP_LEN],
			    uint64_t *out);

	/* Delete rows expired at now_ms, bump the version once if any. */
	int (*sweep)(void *engine, int64_t now_ms, size_t *deleted);

	/* kvfs's metadata: get (-ENOENT when absent) and set/delete. */
	int (*meta_get)(void *engine, const char *name, struct kv_buf *out);
	int (*meta_set)(void *engine, const char *name, const uint8_t *value,
			size_t len);

	/* Every metadata value, in one snapshot, in the byte order of the
	 * names (kv_meta_list_push() adds one); none is an empty list. A
	 * name with a NUL inside is -EIO. */
	int (*meta_list)(void *engine, struct kv_meta_list *out);

	/*
	 * Set (value non-NULL) or delete the metadata value name, in one
	 * write transaction with SQLite's secure_delete on, only when it
	 * still holds expect[0..expect_len) (expect NULL: when it is absent);
	 * else -ECANCELED and nothing changes; then the WAL is emptied
	 * (wal_checkpoint(TRUNCATE)) when no reader holds it. An encrypted
	 * store's keyslots and keyring change this way, so two concurrent
	 * changes never lose one another and the old bytes do not linger.
	 */
	int (*meta_swap)(void *engine, const char *name, const uint8_t *expect,
			 size_t expect_len, const uint8_t *value, size_t len);

	/* From now on, zero what is deleted or overwritten (SQLite's
	 * secure_delete), for this connection. Encrypted stores set it. */
	int (*secure_delete)(void *engine);

	/* Rebuild the file without its free pages (VACUUM), then empty the
	 * WAL (wal_checkpoint(TRUNCATE)): old bytes leave the file. */
	int (*compact)(void *engine);

	/* Whether the engine refuses writes. */
	bool (*read_only)(void *engine);

	void (*close)(void *engine);
};

/*
 * Open the SQLite engine on path (denokv/SPEC.md §1). busy_budget_ms bounds
 * how long a locked database is retried, with jitter, before -EAGAIN.
 */
int kv_sqlite_engine_open(const char *path, bool read_only, bool create,
			  unsigned busy_budget_ms, void **engine,
			  const struct kv_engine_ops **ops);

/*
 * Whether uri names a store on etcd: etcd://HOST:PORT[,...]/PREFIX[?...]
 * (docs/etcd.md). Open the etcd engine on it: the store under PREFIX,
 * created when create and missing (else -ENOENT); -EINVAL for a malformed
 * URI; a store of a later layout opens read-only.
 */
bool kv_etcd_uri(const char *uri);
int kv_etcd_engine_open(const char *uri, bool read_only, bool create,
			void **engine, const struct kv_engine_ops **ops);

#endif
