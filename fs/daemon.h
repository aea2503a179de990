/*
 * daemon.h — the state of a mounted store: one struct kvfs, the nodes the
 * kernel knows (inodes), open file handles, and the in-memory parts of the
 * view (empty directories, editor scratch files, times).
 *
 * Internal to the daemon (fs/daemon_*.c, fs/mount.c).
 */
#ifndef KVFS_DAEMON_H
#define KVFS_DAEMON_H

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "kv_store.h"
#include "scratch.h"

enum node_kind {
	NODE_DIR,     /* a key prefix; its own value, if any, is @value */
	NODE_FILE,    /* a key with a value and nothing below it */
	NODE_VALUE,   /* the @value file of a directory */
	NODE_SCRATCH, /* an editor's scratch file, kept in memory */
	NODE_LIST,    /* a key holding a pointer list (daemon_pointers.c) */
	NODE_LINK,    /* one ID of a list: the list's key, scratch_name */
};

/*
 * What the kernel knows as one inode. A node is found by its inode number,
 * and (while attached) by kind + key + scratch name. Rename rewrites key.
 */
struct node {
	fuse_ino_t ino;
	enum node_kind kind;
	struct kv_buf key;    /* encoded key (DIR: the prefix; SCRATCH: the
				 parent directory's prefix) */
	char *scratch_name;   /* NODE_SCRATCH; NODE_LINK: the link's name */
	uint64_t nlookup;
	unsigned open_count;
	/* Opens and attribute replies so far: what the kernel may have
	 * cached of the node (see handle.kernel_views). */
	unsigned kernel_views;
	bool attached;	      /* reachable by key (not unlinked) */
	struct node *next_ino;
	struct node *next_key;

	/* A file created through the mount and not yet committed. */
	bool pending;
	/* NODE_DIR made by mkdir: while this equals fs->known_epoch, every
	 * key below the directory belongs to a child that has a node, so a
	 * name without one is absent without a look at the store. */
	uint64_t complete_at;
	/* NODE_SCRATCH: the content and its time. */
	struct kv_buf scratch;
	struct timespec scratch_mtime;
	/* The type chosen with user.kv.type before any content exists. */
	bool type_set;
	enum kv_encoding type;
	/* Times and mode set (utimens, chmod) while the node's content is
	 * not committed (a scratch file, a new or open rewritten file):
	 * given to the key when the content is committed, as rsync and
	 * cp -p set them before the close or the rename that saves. */
	bool times_set;
	struct timespec set_mtime;
	struct timespec set_atime;
	mode_t set_mode; /* 0: none */
	/* Last state seen in the store, for the refresh thread. */
	bool seen_exists;
	uint8_t seen_vs[KV_VERSIONSTAMP_LEN];
	/* Our own commit changed the value and no reply told the kernel:
	 * the refresher's next round does (fs->n_stale counts these). */
	bool stale;
	/* The value rendered (kvfs-spec §3) from versionstamp rendered_vs:
	 * a cold read needs it for the lookup's size and again for the
	 * open. Kept within a budget, oldest out first (daemon_nodes.c). */
	struct kv_buf rendered;
	uint8_t rendered_vs[KV_VERSIONSTAMP_LEN];
	bool rendered_writable;
	struct node *rendered_older;
	struct node *rendered_newer;
	/* On fs->in_memory: made pending or scratch (daemon_nodes.c). */
	bool in_memory_listed;
	struct node *in_memory_prev;
	struct node *in_memory_next;
};

/* The file times and mode of one key, kept while its value is unchanged. */
struct key_times {
	struct kv_buf key;
	uint8_t vs[KV_VERSIONSTAMP_LEN];
	struct timespec mtime;
	struct timespec atime;
	mode_t mode; /* 0: default */
	struct key_times *next;
};

/* A row that is not Deno's data, already reported in the log. */
struct reported_row {
	struct kv_buf key;
	struct reported_row *next;
};

/* An empty directory made with mkdir: lives only in the daemon. */
struct empty_dir {
	struct kv_buf key;
	struct empty_dir *next;
};

struct kvfs_options {
	size_t max_value_size;
	struct scratch_set scratch; /* -o scratch=, compiled (scratch.h) */
	double refresh_s;	/* poll interval for other processes' writes */
	double entry_timeout;
	double attr_timeout;
	bool read_only;
	bool foreground;
	uid_t uid;
	gid_t gid;
	mode_t umask;
};

/* A handle's content parsed ahead of its commit (see get_ready in
 * daemon_ops.c): what parsing it as typed/type gave, error or value. */
struct parsed_content {
	bool valid;
	bool typed;
	enum kv_encoding type;
	int error;
	enum kv_encoding encoding;
	struct kv_buf value;
};

/* An open file: its content is buffered and committed on flush. */
struct handle {
	struct node *node;
	struct kv_buf content;
	bool typed;		 /* encoding is fixed; else sniffed at commit */
	enum kv_encoding encoding;
	int64_t expires_at_ms;	 /* the key's expiry (-1: none), kept on
				    rewrite */
	bool dirty;
	bool written;		 /* written or resized since open */
	bool failed;		 /* a write failed: nothing is committed */
	int error;
	/* This open created the file and writes past the page cache: while
	 * node->kernel_views stays at kernel_views, the kernel holds no
	 * pages of it and no size it did not drop at each write, so a
	 * commit need not tell it anything. */
	bool sole_view;
	unsigned kernel_views;
	struct parsed_content parsed; /* dropped by every change of content */
	bool readied; /* got ready once: a file written in many pieces is
			 not parsed again after each */
	struct handle *next;
};

/* What the store holds at a key. */
struct key_info {
	bool has_value;
	bool has_children;
	bool is_dir;
	bool is_list; /* a pointer list, shown as a directory (is_dir) */
	struct kv_entry entry;
	bool rendered;
	int render_error;
	bool writable;
	struct kv_buf rendering;
};

/* One entry of a directory listing. */
struct child {
	enum node_kind kind; /* NODE_DIR, NODE_FILE or NODE_SCRATCH */
	uint8_t *key;
	size_t key_len;
	char *name; /* NODE_SCRATCH, NODE_LINK */
};

struct child_list {
	struct child *v;
	size_t n;
	size_t cap;
};

/* One key read ahead (key_info_read_ahead). */
struct key_ahead {
	const uint8_t *key;
	size_t key_len;
	int result; /* kv_store_lookup's */
	bool has_value, has_children, taken;
	struct kv_entry entry;
};

struct kvfs {
	const char *db;
	struct kv_store_options store_options;
	struct kv_store *store;
	struct kvfs_options opt;
	struct fuse_session *se;
	pthread_mutex_t lock;

	struct node **by_ino;
	struct node **by_key;
	size_t buckets;
	size_t n_nodes;
	fuse_ino_t next_ino;

	struct key_times **times;
	size_t times_buckets;
	struct empty_dir *empty_dirs;
	struct reported_row *reported;
	struct handle *handles;
	size_t n_in_memory; /* pending and scratch nodes */
	/* Those nodes, so that looking for a directory's children in
	 * memory walks them alone, not every node. It may also hold nodes
	 * that stopped being pending or scratch: walks drop them. */
	struct node *in_memory;

	struct timespec mount_time;
	uint64_t mount_version;
	/* Every change up to this data_version is accounted for: seen by
	 * the refresher, or made by our own commits just after it. */
	uint64_t seen_version;
	/* Changes to the store seen or made by the mount so far, and the
	 * key the last LOOKUP found absent while it stood at missed_at:
	 * the CREATE that follows that LOOKUP need not look again (see
	 * create_locked). */
	uint64_t changes;
	struct kv_buf missed_key;
	uint64_t missed_at;
	/* Moves (from 1) whenever a directory made through the mount may
	 * hold a key without a node: another writer's commit, or a node
	 * leaving the key index (forgotten, unlinked, renamed). */
	uint64_t known_epoch;
	struct key_ahead ahead[KV_MAX_READ_RANGES];
	size_t n_ahead;

	struct node *rendered_oldest;
	struct node *rendered_newest;
	size_t rendered_bytes;
	size_t n_stale;

	pthread_t refresher;
	bool refresher_started;
	pthread_mutex_t stop_lock;
	pthread_cond_t stop_cond;
	bool stopping;

	struct ptr_state *ptr; /* pointer lists (daemon_pointers.c) */
};

/* ---- nodes (daemon_nodes.c); call with fs->lock held ------------------ */

int nodes_init(struct kvfs *fs);
void nodes_destroy(struct kvfs *fs);
struct node *node_by_ino(struct kvfs *fs, fuse_ino_t ino);
struct node *node_find(struct kvfs *fs, enum node_kind kind,
		       const uint8_t *key, size_t key_len, const char *name);
/* Find or make the attached node for kind+key(+name); NULL on ENOMEM. */
struct node *node_get(struct kvfs *fs, enum node_kind kind,
		      const uint8_t *key, size_t key_len, const char *name);
/* Detach a node from its key (unlink, overwritten by rename). */
void node_detach(struct kvfs *fs, struct node *n);
/* Give a node a new kind and key (rename). */
int node_rekey(struct kvfs *fs, struct node *n, enum node_kind kind,
	       const uint8_t *key, size_t key_len, const char *name);
/* Drop nlookup references; frees the node when nothing refers to it. */
void node_forget(struct kvfs *fs, struct node *n, uint64_t nlookup);
/* An open file of the node was released. */
void node_close(struct kvfs *fs, struct node *n);
/* Call fn for every node (refresh, directory rename). */
void nodes_each(struct kvfs *fs, void (*fn)(struct kvfs *, struct node *,
					    void *), void *arg);
/* Mark n a file created through the mount and not yet committed (or no
 * longer), counted in fs->n_in_memory. */
void node_set_pending(struct kvfs *fs, struct node *n, bool pending);
/* Call fn for every pending or scratch node, attached or not. */
void nodes_each_in_memory(struct kvfs *fs,
			  void (*fn)(struct kvfs *, struct node *, void *),
			  void *arg);

/* Our own commit wrote key with versionstamp vs: what nodes of the key
 * remember of its value is of the new one. */
void nodes_committed(struct kvfs *fs, const uint8_t *key, size_t key_len,
		     const uint8_t vs[KV_VERSIONSTAMP_LEN]);
/* The kernel was told of n's new value (or is no longer to be). */
void node_told(struct kvfs *fs, struct node *n);

/* ---- renderings kept on nodes (daemon_nodes.c) ------------------------ */

/*
 * Move n's rendering into text when it was rendered from versionstamp vs;
 * false (and a stale rendering dropped) when not. Give it back with
 * rendered_keep().
 */
bool rendered_take(struct kvfs *fs, struct node *n,
		   const uint8_t vs[KV_VERSIONSTAMP_LEN], struct kv_buf *text,
		   bool *writable);
/* Keep text (taken over, emptied) as n's rendering of versionstamp vs. */
void rendered_keep(struct kvfs *fs, struct node *n,
		   const uint8_t vs[KV_VERSIONSTAMP_LEN], struct kv_buf *text,
		   bool writable);
void rendered_drop(struct kvfs *fs, struct node *n);

/* ---- times, modes, empty directories (daemon_nodes.c) ----------------- */

/*
 * The times of a key whose value has versionstamp vs: those set by our own
 * writes or utimens while the value is unchanged, else the mount time for
 * values older than the mount, else the time the change was first seen.
 */
struct key_times *times_get(struct kvfs *fs, const uint8_t *key,
			    size_t key_len, const uint8_t vs[KV_VERSIONSTAMP_LEN],
			    uint64_t version);
/* The times entry of a key that we may change (utimens, chmod). */
struct key_times *times_own(struct kvfs *fs, struct key_times *t,
			    const uint8_t *key, size_t key_len,
			    const uint8_t vs[KV_VERSIONSTAMP_LEN]);
/* Our own commit wrote the key with versionstamp vs: its mtime is now. */
void times_written(struct kvfs *fs, const uint8_t *key, size_t key_len,
		   const uint8_t vs[KV_VERSIONSTAMP_LEN]);
/*
 * Carry the times of key from (value vs from_vs) over to key to, whose value
 * now has versionstamp to_vs: a rename keeps the file's times.
 */
void times_carry(struct kvfs *fs, const uint8_t *from, size_t from_len,
		 const uint8_t from_vs[KV_VERSIONSTAMP_LEN], const uint8_t *to,
		 size_t to_len, const uint8_t to_vs[KV_VERSIONSTAMP_LEN]);
/*
 * The content of node n was just committed to key: the times and mode set
 * on n meanwhile become the key's (and are forgotten by n).
 */
void times_apply_set(struct kvfs *fs, struct node *n, const uint8_t *key,
		     size_t key_len);

/*
 * Log, once per key and mount, that the row at key is not Deno's data
 * (written by another program): why, and the key in hex, since it may not
 * decode into a path.
 */
void report_bad_row(struct kvfs *fs, const uint8_t *key, size_t key_len,
		    const char *why);

bool empty_dir_has(struct kvfs *fs, const uint8_t *key, size_t key_len);
int empty_dir_add(struct kvfs *fs, const uint8_t *key, size_t key_len);
void empty_dir_remove(struct kvfs *fs, const uint8_t *key, size_t key_len);

/* ---- the view of the store (daemon_view.c); call with fs->lock held --- */

int key_info_load(struct kvfs *fs, const uint8_t *key, size_t key_len,
		  struct key_info *ki);
/*
 * Read what key_info_load() needs of up to KV_MAX_READ_RANGES keys in one
 * snapshot, for it to take instead of reading each (READDIRPLUS, which
 * looks up every entry it lists). The keys must outlive the read-ahead;
 * key_info_forget_ahead() drops what was not taken. Call both under the
 * same hold of fs->lock. A failed read leaves nothing read ahead.
 */
void key_info_read_ahead(struct kvfs *fs, const uint8_t *const *keys,
			 const size_t *key_lens, size_t n);
void key_info_forget_ahead(struct kvfs *fs);
/* Render the value into ki->rendering (once). -EIO if it does not decode. */
int key_info_render(struct key_info *ki);
void key_info_free(struct key_info *ki);
bool is_scratch_name(const struct kvfs *fs, const char *name);
/* Whether pending files, scratch files or empty dirs lie in prefix. */
bool in_memory_children(struct kvfs *fs, const uint8_t *prefix,
			size_t prefix_len);
/* The children of a directory, in key order, scratch files last; and
 * when has_value is not NULL, whether the directory's key holds a value. */
int list_children(struct kvfs *fs, const uint8_t *prefix, size_t prefix_len,
		  struct child_list *out, bool *has_value);
int child_list_add(struct child_list *l, const uint8_t *key, size_t key_len,
		   const char *scratch_name, enum node_kind kind);
void child_list_free(struct child_list *l);
/* The name a child is listed under (NUL-terminated in out). */
int child_name(const struct child *c, size_t prefix_len, struct kv_buf *out);

/* Wall-clock milliseconds since the epoch. */
int64_t now_ms(void);
/* The data_version a versionstamp was committed at. */
uint64_t vs_version(const uint8_t vs[KV_VERSIONSTAMP_LEN]);

/* ---- following other writers (mount.c); call with fs->lock held ------- */

/* Our own commit produced versionstamp vs (the refresher need not look
 * for its changes when nobody else can have committed meanwhile). */
void refresh_own_commit(struct kvfs *fs,
			const uint8_t vs[KV_VERSIONSTAMP_LEN]);

/* ---- the request loop (daemon_loop.c) --------------------------------- */

/*
 * Serve se's requests with up to max_threads threads until the session
 * ends: 0 when it was unmounted or ended by libfuse's signal handlers, a
 * negative errno when reading /dev/fuse failed.
 */
int loop_run(struct fuse_session *se, unsigned max_threads);

/*
 * Call from a request handler before it waits on the kernel (a cache
 * notification): another thread takes over reading requests, so that one
 * the kernel needs answered meanwhile is served. A no-op on other threads
 * and when this thread has already passed the reading on.
 */
void loop_pass_reading(void);

/*
 * Whether the calling handler holds the reading: then no other request is
 * read before it returns, so after its reply it may still work on state
 * that the next request (say, the release of its file) would change.
 */
bool loop_holds_reading(void);

/* ---- operations (daemon_ops.c, daemon_rename.c, daemon_xattr.c) ------- */

extern const struct fuse_lowlevel_ops kvfs_ops;

void kvfs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		 fuse_ino_t newparent, const char *newname, unsigned int flags);
void kvfs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		   const char *value, size_t size, int flags);
void kvfs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		   size_t size);
void kvfs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void kvfs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

/* Shared by the operations: defined in daemon_ops.c. */
/* The type an open file's content is committed as: the file's own, once
 * user.kv.type has set it, else the one the handle was opened with (which
 * the content decides when !*typed). */
void ops_handle_type(const struct handle *h, bool *typed,
		     enum kv_encoding *enc);
/* Free an open file's handle and all it holds. */
void ops_handle_discard(struct handle *h);
int ops_commit_content(struct kvfs *fs, const uint8_t *key, size_t key_len,
		       const struct kv_buf *content, bool typed,
		       enum kv_encoding enc, int64_t expires_at_ms);
int ops_child_key(struct kvfs *fs, struct node *dir, const char *name,
		  struct kv_buf *key);
int ops_stat_node(struct kvfs *fs, struct node *n, struct stat *st);
/* Fill a lookup reply for n from st, taking a lookup reference. */
void ops_fill_entry(struct kvfs *fs, struct node *n, const struct stat *st,
		    struct fuse_entry_param *e);
void ops_keep_dir(struct kvfs *fs, const uint8_t *key, size_t key_len);
/* Delete key in a commit of its own, accounted as the daemon's own. */
int ops_delete_key(struct kvfs *fs, const uint8_t *key, size_t key_len);
int64_t ops_expire_in(int64_t expires_at_ms);
struct handle *ops_dirty_handle(struct kvfs *fs, struct node *n);

/* ---- pointer lists (daemon_pointers.c, docs/pointers.md) -------------- */

/* What ptr_rmdir() returns when the name is no list: the caller's rmdir
 * decides. */
#define PTR_NOT_A_LIST 1

/*
 * Set up pointer lists: the rule text of the mount option (may be NULL),
 * then the rules the open store keeps; mountpoint is made absolute for
 * absolute ln -s targets. Reports errors on stderr. Returns 0, -EINVAL for
 * rules that do not parse, or another error; ptr_destroy() in any case.
 */
int ptr_init(struct kvfs *fs, const char *rules, const char *mountpoint);
void ptr_destroy(struct kvfs *fs);
/* Whether the entry of a key with nothing below it holds a list. */
bool ptr_entry_is_list(struct kvfs *fs, const struct kv_entry *e);
/* The same for a key with nothing below it, read from the store. */
bool ptr_key_is_list(struct kvfs *fs, const uint8_t *key, size_t len);
/* Operations on a NODE_LIST directory and its NODE_LINK nodes. */
int ptr_lookup(struct kvfs *fs, struct node *list, const char *name,
	       struct fuse_entry_param *e);
int ptr_stat_link(struct kvfs *fs, struct node *n, struct stat *st);
int ptr_list_children(struct kvfs *fs, struct node *list,
		      struct child_list *out);
int ptr_unlink(struct kvfs *fs, struct node *list, const char *name);
/* rmdir of an empty list in dir: 0, an error, or PTR_NOT_A_LIST. */
int ptr_rmdir(struct kvfs *fs, struct node *dir, const char *name);
/* The user.kv.pointers.skipped xattr of a list directory. */
int ptr_skipped_xattr(struct kvfs *fs, struct node *list, struct kv_buf *out);
void ptr_readlink(fuse_req_t req, fuse_ino_t ino);
void ptr_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		 const char *name);

#endif
