/*
 * kv_store.h — a Deno KV store: reads, atomic commits and Deno's limits, on
 * top of an engine (the SQLite file in Deno's format; others later).
 *
 * Keys are passed encoded (kv_key.h); values as (encoding, bytes). Every
 * function returns 0 or a negative errno, and a store error is meant to
 * reach the user unchanged (a FUSE reply, a command's exit message).
 *
 * Limits (denokv/SPEC.md §4) and the errno each one gives:
 *   value > max_value_size (65536 or lower)           -EFBIG
 *   key > 2048 bytes in a write or check             -ENAMETOOLONG
 *   key > 2049 bytes as a read bound                 -ENAMETOOLONG
 *   > 100 checks, > 1000 mutations, > 819200 total
 *   mutation bytes, > 81920 total key bytes          -E2BIG
 *   > 10 ranges or > 1000 entries in one read        -E2BIG
 *   an empty key in a write                          -EINVAL
 * Other results:
 *   a check failed (nothing written, no version bump) -ECANCELED
 *   the database stayed locked by another process
 *   beyond the retry budget                          -EAGAIN
 *   a file whose migration_state is newer than 3     -EROFS on writes
 *   sum/min/max on a value that is not a KvU64       -EINVAL
 *
 * An encrypted store (kvfs-spec §8, docs/format.md, kv_seal.h) is opened
 * with kv_store_options.seal_key; then every read returns plaintext and
 * every commit seals, and the limits above apply to the sealed bytes.
 * Opening one without a key is -ENOKEY, with a key no keyslot takes
 * -EKEYREJECTED; a key given for a plain store is -EMEDIUMTYPE. A value
 * that does not open (tampered, moved, truncated) is -EIO for its key
 * alone, and is logged once (syslog) with the key in hex.
 *
 * A store handle may be used from several threads; calls are serialized.
 */
#ifndef KVFS_KV_STORE_H
#define KVFS_KV_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv_key.h"
#include "kv_value.h"

#define KV_MAX_WRITE_KEY 2048
#define KV_MAX_READ_KEY 2049
#define KV_MAX_VALUE 65536
#define KV_MAX_CHECKS 100
#define KV_MAX_MUTATIONS 1000
#define KV_MAX_TOTAL_MUTATION_SIZE 819200
#define KV_MAX_TOTAL_KEY_SIZE 81920
#define KV_MAX_READ_RANGES 10
#define KV_MAX_READ_ENTRIES 1000

#define KV_VERSIONSTAMP_LEN 10

struct kv_store;
struct kv_seal_key;

struct kv_store_options {
	/* Open without writing anything (no migration, no sweep). */
	bool read_only;
	/* Create the file in Deno's format when it does not exist. */
	bool create;
	/* Largest stored value; 0 means KV_MAX_VALUE. Never above it. */
	size_t max_value_size;
	/* How long a locked database is retried before -EAGAIN, in ms;
	 * 0 means the default (1000 ms). */
	unsigned busy_budget_ms;
	/* The key of an encrypted store (kv_seal.h), or NULL for a plain
	 * one. With a key, create is ignored: a missing file is -ENOENT,
	 * since only kv_store_seal_init() makes an encrypted store. The
	 * key must outlive the open call only; it learns the store's master
	 * key, so opening the same store with it again runs no KDF. */
	struct kv_seal_key *seal_key;
	/* Take the rows as they are stored, to copy a whole store (kvfs
	 * copy): an encrypted store opens without its key, reads return its
	 * values sealed (the envelopes, KV_ENC_BYTES), commits write values
	 * as given, unsealed, and kv_store_meta_set() may write the seal
	 * row. The limits apply to the stored bytes. With seal_key: -EINVAL. */
	bool raw;
};

/* One key with its value. The store allocates key and value; free the
 * entry with kv_entry_free(). */
struct kv_entry {
	uint8_t *key;
	size_t key_len;
	enum kv_encoding encoding;
	uint8_t *value;
	size_t value_len;
	uint8_t versionstamp[KV_VERSIONSTAMP_LEN];
	int64_t expires_at_ms; /* -1: never */
	/* 0, or -EIO for a row that cannot be read (a range read or list
	 * goes on past it, and kv_store_get returns the error): a value of
	 * an encrypted store that does not open (encoding is then 0 and the
	 * value empty), or a row Deno itself could not read — a v that is
	 * not a BLOB, an unknown v_encoding, a KvU64 that is not 8 bytes,
	 * V8 data without a header — kept as it is, so that kvfs check can
	 * say what is wrong. Either way it is logged once. */
	int error;
};

void kv_entry_free(struct kv_entry *e);

/* A list of entries returned by a read. */
struct kv_entries {
	struct kv_entry *v;
	size_t n;
};

void kv_entries_free(struct kv_entries *list);

/*
 * Open the store at uri (a path to a SQLite file). A file Deno made is used
 * as it is; a missing file is created with Deno's migrations 1..3 when
 * opts->create, else -ENOENT. A file at an older migration is migrated as
 * Deno would; one newer than 3 opens read-only and writes give -EROFS.
 * Returns 0 and sets *out, or a negative errno (-ENOENT, -EACCES, -EINVAL
 * for a file that is not a Deno KV database, -EROFS for a read-only open of
 * a file that still needs migrating, -EAGAIN, -EIO).
 */
int kv_store_open(const char *uri, const struct kv_store_options *opts,
		  struct kv_store **out);

/* Close the store. NULL is allowed. */
void kv_store_close(struct kv_store *s);

/* The largest value this store accepts: stored bytes for a plain store,
 * plaintext bytes for an encrypted one (its stored limit less
 * KV_SEAL_OVERHEAD, 65489 by default; 0 when that is negative). */
size_t kv_store_max_value(const struct kv_store *s);

/* Whether writes are refused (opened read-only, or a newer format). */
bool kv_store_read_only(const struct kv_store *s);

/* ---- reads ------------------------------------------------------------ */

/*
 * Read one key. Expired keys are invisible. Returns 0 and fills *out,
 * -ENOENT, -EIO for a sealed value that does not open, or another
 * negative errno.
 */
int kv_store_get(struct kv_store *s, const uint8_t *key, size_t key_len,
		 struct kv_entry *out);

/*
 * Read several keys in one snapshot. found[i] tells whether out[i] was
 * filled (a sealed value that does not open is found, with out[i].error
 * set). At most KV_MAX_READ_RANGES keys.
 */
int kv_store_get_many(struct kv_store *s, const uint8_t *const *keys,
		      const size_t *key_lens, size_t n, struct kv_entry *out,
		      bool *found);

/*
 * A range read: keys k with start <= k < end, in key order or reversed,
 * at most limit entries (0: KV_MAX_READ_ENTRIES). Expired keys are skipped.
 */
struct kv_range {
	const uint8_t *start;
	size_t start_len;
	const uint8_t *end;
	size_t end_len;
	unsigned limit;
	bool reverse;
};

int kv_store_read_range(struct kv_store *s, const struct kv_range *range,
			struct kv_entries *out);

/*
 * Deno's list selector: a prefix (the prefix key itself is not included),
 * and optional start/end keys inside it, with Deno's errors (-EINVAL when
 * start or end lies outside the prefix or start > end). cursor (may be
 * NULL/empty) continues a previous list: it is Deno's cursor string,
 * base64url of the last key minus the common prefix. next_cursor, when not
 * NULL, receives the cursor after the last returned entry (a NUL-ended
 * string), or is emptied when the list is exhausted.
 */
struct kv_list {
	const uint8_t *prefix;
	size_t prefix_len;
	const uint8_t *start; /* NULL: from the prefix's first key */
	size_t start_len;
	const uint8_t *end; /* NULL: to the prefix's last key */
	size_t end_len;
	unsigned limit;
	bool reverse;
	const char *cursor;
};

int kv_store_list(struct kv_store *s, const struct kv_list *sel,
		  struct kv_entries *out, struct kv_buf *next_cursor);

/*
 * The first key part below prefix, starting the search at the child after
 * the one whose encoded key is after (NULL: from the first child), in key
 * order. This is one indexed seek: listing a directory of c children costs
 * c seeks, whatever lies below them. On success *child is set to the
 * encoded key prefix+part (a kv_buf the caller frees), *has_value tells
 * whether that key itself holds a value, and *has_children whether keys
 * lie below it. Returns 0, -ENOENT when there is no further child.
 */
int kv_store_next_child(struct kv_store *s, const uint8_t *prefix,
			size_t prefix_len, const uint8_t *after,
			size_t after_len, struct kv_buf *child,
			bool *has_value, bool *has_children);

/*
 * What a path lookup needs of one key, in one snapshot: its entry when it
 * holds a value (*has_value; out is then filled, free it with
 * kv_entry_free()), and whether it has a child as kv_store_children() would
 * list one (*has_children). key_len 0 is the root, which holds no value.
 * Returns 0 (also when the key is absent and has nothing below it), -EIO
 * for a value that does not open or that Deno could not read (as
 * kv_store_get), or another negative errno.
 */
int kv_store_lookup(struct kv_store *s, const uint8_t *key, size_t key_len,
		    struct kv_entry *out, bool *has_value, bool *has_children);

/*
 * kv_store_lookup() of several keys (at most KV_MAX_READ_RANGES) in one
 * snapshot: out[i], has_value[i] and has_children[i] as there, and what
 * kv_store_lookup() would return for key i in results[i]. Returns 0, or
 * a negative errno when the read itself failed (every key then absent).
 */
int kv_store_lookup_many(struct kv_store *s, const uint8_t *const *keys,
			 const size_t *key_lens, size_t n,
			 struct kv_entry *out, bool *has_value,
			 bool *has_children, int *results);

/* One child of a prefix: as kv_store_next_child() describes it, with the
 * child's own entry when has_value (entry.error as in a range read). */
struct kv_child {
	uint8_t *key; /* prefix + part */
	size_t key_len;
	bool has_value;
	bool has_children;
	struct kv_entry entry;
};

struct kv_children {
	struct kv_child *v;
	size_t n;
};

void kv_children_free(struct kv_children *list);

/* The keys one kv_store_children() call reads in its range. */
#define KV_CHILDREN_BATCH 128

/*
 * The next children of prefix, after the child whose encoded key is after
 * (NULL: from the first), in key order and in one snapshot: those that one
 * range read of up to KV_CHILDREN_BATCH keys names, and at least one while
 * any is left (more reads only past keys that do not decode). The keys
 * below a child are read only as far as that range goes, and the next call
 * seeks past the rest, so a directory of c plain keys costs c / 128 reads
 * and one of c children with large subtrees at most c reads, whatever lies
 * below them. *more is false when no child follows the last one given
 * (out->n may then be 0). Keys that do not decode are logged once and
 * skipped. Returns 0, -EINVAL or -ENAMETOOLONG for keys as
 * kv_store_next_child() refuses them, or another negative errno.
 */
int kv_store_children(struct kv_store *s, const uint8_t *prefix,
		      size_t prefix_len, const uint8_t *after,
		      size_t after_len, struct kv_children *out, bool *more);

/*
 * kv_store_children from the first child, and in the same read whether
 * prefix itself holds a value (*has_value; never the root, the empty key):
 * what listing a directory needs to begin with, in one snapshot instead of
 * a kv_store_lookup of prefix and then a range.
 */
int kv_store_first_children(struct kv_store *s, const uint8_t *prefix,
			    size_t prefix_len, bool *has_value,
			    struct kv_children *out, bool *more);

/*
 * The store's commit counter (Deno's data_version), which every writer
 * bumps. Cheap; used to notice other processes' writes.
 */
int kv_store_data_version(struct kv_store *s, uint64_t *out);

/*
 * Get ready for a commit that is likely to come soon, at a moment when the
 * caller has nothing else to do (kvfs: between the reply to a file's
 * write and the close that commits it). The store does the part of
 * starting a write transaction that leaves nothing held: on SQLite, a read
 * transaction that brings the connection's WAL read mark and page cache up
 * to date, which the commit would otherwise do while its caller waits (two
 * of its six lock calls). No lock and no snapshot is kept on return, so a
 * commit that never comes costs that read and nothing more. Returns 0 or a
 * negative errno, which a caller may drop: the commit meets it again.
 */
int kv_store_ready_commit(struct kv_store *s);

/* ---- atomic commits --------------------------------------------------- */

enum kv_mutation_type {
	KV_MUT_SET,
	KV_MUT_DELETE,
	KV_MUT_SUM, /* KvU64 wrapping add */
	KV_MUT_MIN, /* KvU64 */
	KV_MUT_MAX, /* KvU64 */
};

struct kv_check {
	const uint8_t *key;
	size_t key_len;
	/* NULL: the key must not exist. An expired key counts as absent,
	 * as it does for reads (Deno, until its sweep, counts it present). */
	const uint8_t *versionstamp;
};

struct kv_mutation {
	enum kv_mutation_type type;
	const uint8_t *key;
	size_t key_len;
	enum kv_encoding encoding; /* SET; KV_ENC_U64 for SUM/MIN/MAX */
	const uint8_t *value;
	size_t value_len;
	/* SET: expire this many ms after the commit (Deno's expireIn; 0 is
	 * at once), or -1 for never. */
	int64_t expire_in_ms;
};

struct kv_atomic {
	const struct kv_check *checks;
	size_t n_checks;
	const struct kv_mutation *mutations;
	size_t n_mutations;
};

/*
 * Commit checks and mutations as one transaction in Deno's protocol
 * (denokv/SPEC.md §1.5): BEGIN IMMEDIATE, checks, data_version += 1..9,
 * every written row stamped with it. On success the commit's versionstamp
 * is copied to versionstamp (may be NULL). See the top of this file for
 * the errors; on any error nothing is written.
 *
 * On an encrypted store every SET value is sealed with a fresh nonce, and
 * sum/min/max, which SQL cannot compute on sealed numbers, are a read, the
 * computation and a write checked against the read versionstamps, retried
 * while other writers come between (-EAGAIN after 32 tries); -ECANCELED
 * still means that one of the caller's checks failed. A KvU64 that does
 * not open is -EIO.
 */
int kv_store_commit(struct kv_store *s, const struct kv_atomic *a,
		    uint8_t versionstamp[KV_VERSIONSTAMP_LEN]);

/*
 * The data_version that the write transaction of this handle's commit
 * with versionstamp vs (as kv_store_commit() gave it) started from: read
 * inside that transaction, before its bump. When it equals a
 * kv_store_data_version() read earlier, no other writer committed in
 * between, and the commit's own version accounts for every change up to
 * it (a mount need not look for other writers' changes then). On etcd it
 * is the revision before the commit's (one transaction, one revision). The
 * SQLite engine steps the version by 1..9 at random and remembers the step
 * of the handle's latest commit only: -ENOENT for any earlier commit.
 */
int kv_store_commit_start(struct kv_store *s,
			  const uint8_t vs[KV_VERSIONSTAMP_LEN],
			  uint64_t *start);

/*
 * Delete expired rows and bump the version by 1 when any was deleted, as
 * Deno's sweep does. *deleted (may be NULL) gets the count.
 */
int kv_store_sweep(struct kv_store *s, size_t *deleted);

/* ---- kvfs's own metadata (the kvfs_meta table, ignored by Deno) ------- */

/*
 * Get a metadata value by name. Returns 0 and fills out, or -ENOENT.
 */
int kv_store_meta_get(struct kv_store *s, const char *name,
		      struct kv_buf *out);

/* Set (value non-NULL) or delete (value NULL) a metadata value. The
 * name "seal" (an encrypted store's keys, kv_seal.h) is -EPERM, unless the
 * store was opened raw. */
int kv_store_meta_set(struct kv_store *s, const char *name,
		      const uint8_t *value, size_t len);

/* One metadata value and its name (NUL-ended). */
struct kv_meta {
	char *name;
	uint8_t *value;
	size_t len;
};

struct kv_meta_list {
	struct kv_meta *v;
	size_t n;
};

void kv_meta_list_free(struct kv_meta_list *list);

/*
 * Every metadata value, in the byte order of the names: the seal row of an
 * encrypted store, pointer-list rules, and names this kvfs does not know (a
 * later one's), so that a copy of the store loses none. -EIO for a name
 * that is no C string (a NUL inside: not kvfs's).
 */
int kv_store_meta_list(struct kv_store *s, struct kv_meta_list *out);

/* ---- versionstamps ---------------------------------------------------- */

/* 20 lower-case hex characters and a NUL, as Deno shows a versionstamp. */
void kv_versionstamp_format(const uint8_t vs[KV_VERSIONSTAMP_LEN],
			    char out[2 * KV_VERSIONSTAMP_LEN + 1]);

/* Parse 20 hex characters (either case). Returns 0 or -EINVAL. */
int kv_versionstamp_parse(const char *s, size_t len,
			  uint8_t vs[KV_VERSIONSTAMP_LEN]);

#endif
