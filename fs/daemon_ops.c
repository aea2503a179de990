/*
 * daemon_ops.c — the FUSE low-level operations of a mounted store
 * (kvfs-spec §2, §3, §5). One function per operation, each replying once.
 * Store errors are negative errnos and go to the reply unchanged.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <syslog.h>
#include <unistd.h>

#include "daemon.h"
#include "name.h"

/* Text a file may hold beyond the limit while it is JSON: the encoding is
 * usually smaller than pretty-printed text, and is checked at commit. */
enum { JSON_TEXT_FACTOR = 8 };

/* The inode number readdir gives an entry the kernel has not looked up
 * (libfuse's high-level API uses the same). */
enum { UNKNOWN_INO = 0xffffffff };

static struct kvfs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static mode_t file_mode(struct kvfs *fs, bool writable)
{
	mode_t m = writable ? 0666 : 0444;
	return S_IFREG | (m & ~fs->opt.umask);
}

static void stat_base(struct kvfs *fs, struct node *n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_uid = fs->opt.uid;
	st->st_gid = fs->opt.gid;
	st->st_blksize = 4096;
	st->st_atim = st->st_mtim = st->st_ctim = fs->mount_time;
}

struct handle *ops_dirty_handle(struct kvfs *fs, struct node *n)
{
	for (struct handle *h = fs->handles; h; h = h->next)
		if (h->node == n && h->dirty && !h->failed)
			return h;
	return NULL;
}

static struct handle *any_handle(struct kvfs *fs, struct node *n)
{
	for (struct handle *h = fs->handles; h; h = h->next)
		if (h->node == n)
			return h;
	return NULL;
}

/* What a stat shows of times and mode set before the content's commit. */
static void stat_uncommitted_times(const struct node *n, struct stat *st)
{
	if (n->times_set) {
		st->st_mtim = st->st_ctim = n->set_mtime;
		st->st_atim = n->set_atime;
	}
	if (n->set_mode)
		st->st_mode = S_IFREG | n->set_mode;
}

/* A file unlinked while open: it still has a size, and is read from the
 * handle (fstat, as cat does first, must work). */
static int stat_unlinked(struct kvfs *fs, struct node *n, struct stat *st)
{
	struct handle *h = any_handle(fs, n);
	if (!h)
		return -ENOENT;
	st->st_mode = file_mode(fs, true);
	st->st_size = h->content.len;
	st->st_nlink = 0;
	stat_uncommitted_times(n, st);
	return 0;
}

/* Render a loaded value; one that does not decode is reported. */
static int render_value(struct kvfs *fs, struct key_info *ki)
{
	int r = key_info_render(ki);
	/* The store already reported rows it could judge (ki->entry.error);
	 * V8 data that does not decode only shows here. */
	if (r == -EIO && !ki->entry.error)
		report_bad_row(fs, ki->entry.key, ki->entry.key_len,
			       "its value does not decode; it reads as EIO");
	return r;
}

/*
 * Render the value loaded in ki for node n, or take the rendering kept on n
 * when it was made from this very value. Give it back with
 * keep_rendering().
 */
static int render_node_value(struct kvfs *fs, struct node *n,
			     struct key_info *ki)
{
	if (!ki->rendered && rendered_take(fs, n, ki->entry.versionstamp,
					   &ki->rendering, &ki->writable)) {
		ki->rendered = true;
		return 0;
	}
	return render_value(fs, ki);
}

/* A cold read renders for the lookup's size, then for the open's content:
 * the open finds it on the node. */
static void keep_rendering(struct kvfs *fs, struct node *n,
			   struct key_info *ki)
{
	if (ki->rendered && !ki->render_error)
		rendered_keep(fs, n, ki->entry.versionstamp, &ki->rendering,
			      ki->writable);
	ki->rendered = false;
}

/*
 * Fill st for a node. For keys, ki must have been loaded for the node's key.
 */
static int node_stat(struct kvfs *fs, struct node *n, struct key_info *ki,
		     struct stat *st)
{
	n->kernel_views++;
	stat_base(fs, n, st);
	if (n->kind == NODE_DIR || n->kind == NODE_LIST) {
		st->st_mode = S_IFDIR | (0777 & ~fs->opt.umask);
		st->st_nlink = 2;
		return 0;
	}
	st->st_nlink = 1;
	if (!n->attached)
		return stat_unlinked(fs, n, st);
	if (n->kind == NODE_SCRATCH) {
		st->st_mode = file_mode(fs, true);
		st->st_size = n->scratch.len;
		st->st_mtim = st->st_ctim = st->st_atim = n->scratch_mtime;
		stat_uncommitted_times(n, st);
		return 0;
	}
	struct handle *h = ops_dirty_handle(fs, n);
	if (n->pending || !ki->has_value) {
		st->st_mode = file_mode(fs, true);
		st->st_size = h ? h->content.len : 0;
		stat_uncommitted_times(n, st);
		return n->pending ? 0 : -ENOENT;
	}
	int r = render_node_value(fs, n, ki);
	if (r == -ENOMEM)
		return r;
	st->st_mode = file_mode(fs, ki->writable);
	st->st_size = h ? h->content.len : ki->rendering.len;
	keep_rendering(fs, n, ki);
	struct key_times *t = times_get(fs, ki->entry.key, ki->entry.key_len,
					ki->entry.versionstamp,
					vs_version(ki->entry.versionstamp));
	st->st_mtim = st->st_ctim = t->mtime;
	st->st_atim = t->atime;
	if (t->mode)
		st->st_mode = S_IFREG | (t->mode & 07777);
	st->st_blocks = (st->st_size + 511) / 512;
	stat_uncommitted_times(n, st);
	n->seen_exists = true;
	memcpy(n->seen_vs, ki->entry.versionstamp, KV_VERSIONSTAMP_LEN);
	return 0;
}

/* The key a node's content lives under (VALUE: the directory's own key). */
static void node_value_key(const struct node *n, const uint8_t **key,
			   size_t *len)
{
	*key = n->key.data;
	*len = n->key.len;
}

int ops_stat_node(struct kvfs *fs, struct node *n, struct stat *st)
{
	struct key_info ki = {0};
	int r = 0;
	if (n->kind == NODE_LINK)
		return ptr_stat_link(fs, n, st);
	if (n->kind != NODE_SCRATCH && !(n->kind == NODE_DIR) && !n->pending) {
		const uint8_t *k;
		size_t kl;
		node_value_key(n, &k, &kl);
		r = key_info_load(fs, k, kl, &ki);
	}
	if (r == 0)
		r = node_stat(fs, n, &ki, st);
	key_info_free(&ki);
	return r;
}

void ops_fill_entry(struct kvfs *fs, struct node *n, const struct stat *st,
		    struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = n->ino;
	e->generation = 1;
	e->attr = *st;
	e->attr_timeout = fs->opt.attr_timeout;
	e->entry_timeout = fs->opt.entry_timeout;
	n->nlookup++;
}

/* ---- name resolution -------------------------------------------------- */

/*
 * Resolve a name in directory dir to the key of the child (appended to key).
 * Shortened long names are found by listing the directory. Returns 0,
 * -ENOENT or -EINVAL.
 */
int ops_child_key(struct kvfs *fs, struct node *dir, const char *name,
		     struct kv_buf *key)
{
	size_t len = strlen(name);
	int r = kv_buf_append(key, dir->key.data, dir->key.len);
	if (r < 0)
		return r;
	if (kvfs_name_is_short(name, len)) {
		struct child_list l;
		r = list_children(fs, dir->key.data, dir->key.len, &l, NULL);
		if (r < 0)
			return r;
		struct kv_buf shown = {0};
		r = -ENOENT;
		for (size_t i = 0; i < l.n && r == -ENOENT; i++) {
			if (l.v[i].kind == NODE_SCRATCH ||
			    child_name(&l.v[i], dir->key.len, &shown) < 0)
				continue;
			if (strcmp((char *)shown.data, name) == 0) {
				key->len = 0;
				r = kv_buf_append(key, l.v[i].key,
						  l.v[i].key_len);
			}
		}
		kv_buf_free(&shown);
		child_list_free(&l);
		return r;
	}
	r = kvfs_name_to_key(name, len, key);
	if (r == 0 && key->len > KV_MAX_WRITE_KEY)
		r = -ENAMETOOLONG;
	return r;
}

/*
 * The kernel looks a name up before it creates it, under its directory's
 * lock, so no other create, mkdir or rename through the mount can come
 * between. A change by another writer after the look is the same race as
 * one after the create's own look: the commit at close is a blind set
 * either way. So the create uses the look's answer while the mount has
 * seen and made no change since.
 */
static void remember_miss(struct kvfs *fs, const struct kv_buf *key)
{
	fs->missed_key.len = 0;
	if (kv_buf_append(&fs->missed_key, key->data, key->len) == 0)
		fs->missed_at = fs->changes;
	else
		fs->missed_key.len = 0;
}

static bool just_missed(struct kvfs *fs, const struct kv_buf *key)
{
	bool missed = fs->missed_key.len == key->len &&
		      fs->missed_at == fs->changes &&
		      memcmp(fs->missed_key.data, key->data, key->len) == 0;
	fs->missed_key.len = 0;
	return missed;
}

/*
 * Whether the key of a name in dir that has no file node is absent, known
 * without reading the store: dir was made through the mount, and every key
 * below it since belongs to a child with a node (node.complete_at). Another
 * writer's key there is seen once the refresher has seen its commit, as
 * the change of a cached key is (kvfs-spec §7).
 */
static bool known_absent(struct kvfs *fs, const struct node *dir,
			 const struct kv_buf *key)
{
	return dir->complete_at == fs->known_epoch &&
	       !node_find(fs, NODE_DIR, key->data, key->len, NULL) &&
	       !node_find(fs, NODE_LIST, key->data, key->len, NULL);
}

/*
 * Look a name up in dir: fills the node (with a new lookup reference taken
 * by ops_fill_entry) and its attributes.
 */
static int lookup_locked(struct kvfs *fs, struct node *dir, const char *name,
			 struct fuse_entry_param *e)
{
	if (dir->kind != NODE_DIR)
		return -ENOTDIR;
	struct node *n = NULL;
	struct stat st;
	struct key_info ki = {0};
	struct kv_buf key = {0};
	int r;

	if (strcmp(name, KVFS_NAME_VALUE) == 0) {
		if (dir->key.len == 0)
			return -ENOENT;
		r = key_info_load(fs, dir->key.data, dir->key.len, &ki);
		if (r == 0 && !ki.has_value)
			r = -ENOENT;
		if (r == 0 && !(n = node_get(fs, NODE_VALUE, dir->key.data,
					     dir->key.len, NULL)))
			r = -ENOMEM;
		goto stat;
	}
	if (is_scratch_name(fs, name)) {
		n = node_find(fs, NODE_SCRATCH, dir->key.data, dir->key.len,
			      name);
		r = n ? 0 : -ENOENT;
		goto stat;
	}
	r = ops_child_key(fs, dir, name, &key);
	if (r == -EINVAL)
		r = -ENOENT;
	if (r < 0)
		goto out;
	n = node_find(fs, NODE_FILE, key.data, key.len, NULL);
	if (n && n->pending) {
		r = 0;
		goto stat;
	}
	if (!n && known_absent(fs, dir, &key)) {
		remember_miss(fs, &key);
		r = -ENOENT;
		goto out;
	}
	r = key_info_load(fs, key.data, key.len, &ki);
	if (r < 0)
		goto out;
	if (ki.is_list)
		n = node_get(fs, NODE_LIST, key.data, key.len, NULL);
	else if (ki.is_dir)
		n = node_get(fs, NODE_DIR, key.data, key.len, NULL);
	else if (ki.has_value)
		n = node_get(fs, NODE_FILE, key.data, key.len, NULL);
	else {
		remember_miss(fs, &key);
		r = -ENOENT;
		goto out;
	}
	if (!n)
		r = -ENOMEM;
stat:
	if (r == 0)
		r = node_stat(fs, n, &ki, &st);
	if (r == 0)
		ops_fill_entry(fs, n, &st, e);
out:
	key_info_free(&ki);
	kv_buf_free(&key);
	return r;
}

/* Look a name up in a directory of any kind, NULL when it is gone
 * (LOOKUP, READDIRPLUS). */
static int lookup_in(struct kvfs *fs, struct node *dir, const char *name,
		     struct fuse_entry_param *e)
{
	return !dir			 ? -ENOENT
	       : dir->kind == NODE_LIST ? ptr_lookup(fs, dir, name, e)
					 : lookup_locked(fs, dir, name, e);
}

static void kvfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct kvfs *fs = fs_of(req);
	struct fuse_entry_param e;
	pthread_mutex_lock(&fs->lock);
	int r = lookup_in(fs, node_by_ino(fs, parent), name, &e);
	pthread_mutex_unlock(&fs->lock);
	if (r == -ENOENT) {
		/* A negative entry with no timeout: a key another process
		 * writes next is visible at once. */
		memset(&e, 0, sizeof(e));
		fuse_reply_entry(req, &e);
		return;
	}
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_entry(req, &e);
}

static void kvfs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct kvfs *fs = fs_of(req);
	pthread_mutex_lock(&fs->lock);
	struct node *n = node_by_ino(fs, ino);
	if (n)
		node_forget(fs, n, nlookup);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_none(req);
}

static void kvfs_forget_multi(fuse_req_t req, size_t count,
			      struct fuse_forget_data *forgets)
{
	struct kvfs *fs = fs_of(req);
	pthread_mutex_lock(&fs->lock);
	for (size_t i = 0; i < count; i++) {
		struct node *n = node_by_ino(fs, forgets[i].ino);
		if (n)
			node_forget(fs, n, forgets[i].nlookup);
	}
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_none(req);
}

static void kvfs_getattr(fuse_req_t req, fuse_ino_t ino,
			 struct fuse_file_info *fi)
{
	(void)fi;
	struct kvfs *fs = fs_of(req);
	struct stat st;
	pthread_mutex_lock(&fs->lock);
	struct node *n = node_by_ino(fs, ino);
	int r = n ? ops_stat_node(fs, n, &st) : -ENOENT;
	pthread_mutex_unlock(&fs->lock);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, fs->opt.attr_timeout);
}

/* ---- commits ------------------------------------------------------------ */

/*
 * The store takes an expiry relative to the commit, as Deno's expireIn.
 * Converting the absolute time right before each commit keeps a rewrite
 * from moving the expiry by the time the file was open.
 */
int64_t ops_expire_in(int64_t expires_at_ms)
{
	if (expires_at_ms < 0)
		return -1;
	int64_t left = expires_at_ms - now_ms();
	return left > 0 ? left : 0;
}

/*
 * Parse content into the value it is stored as, appended to value: of
 * encoding *enc when typed, else of the one the content decides, set in
 * *enc. Checks the stored size against the limit.
 */
static int parse_content(struct kvfs *fs, const struct kv_buf *content,
			 bool typed, enum kv_encoding *enc,
			 struct kv_buf *value)
{
	int r = typed ? kv_value_parse(*enc, content->data, content->len,
				       value)
		      : kv_value_sniff_parse(content->data, content->len, enc,
					     value);
	if (r == 0 && value->len > kv_store_max_value(fs->store))
		r = -EFBIG;
	return r;
}

/* Commit value, of encoding enc, to key with the expiry expires_at_ms
 * (-1: none). */
static int commit_value(struct kvfs *fs, const uint8_t *key, size_t key_len,
			enum kv_encoding enc, const struct kv_buf *value,
			int64_t expires_at_ms)
{
	struct kv_mutation m = {
		.type = KV_MUT_SET,
		.key = key,
		.key_len = key_len,
		.encoding = enc,
		.value = value->data ? value->data : (const uint8_t *)"",
		.value_len = value->len,
		.expire_in_ms = ops_expire_in(expires_at_ms),
	};
	struct kv_atomic a = {.mutations = &m, .n_mutations = 1};
	uint8_t vs[KV_VERSIONSTAMP_LEN];
	int r = kv_store_commit(fs->store, &a, vs);
	if (r == 0) {
		refresh_own_commit(fs, vs);
		times_written(fs, key, key_len, vs);
		nodes_committed(fs, key, key_len, vs);
	}
	return r;
}

/*
 * Parse content as encoding enc (sniffed when !typed) and commit it to key
 * with the expiry expires_at_ms (-1: none).
 */
int ops_commit_content(struct kvfs *fs, const uint8_t *key, size_t key_len,
			  const struct kv_buf *content, bool typed,
			  enum kv_encoding enc, int64_t expires_at_ms)
{
	if (fs->opt.read_only)
		return -EROFS;
	struct kv_buf value = {0};
	int r = parse_content(fs, content, typed, &enc, &value);
	if (r == 0)
		r = commit_value(fs, key, key_len, enc, &value, expires_at_ms);
	kv_buf_free(&value);
	return r;
}

void ops_handle_type(const struct handle *h, bool *typed,
		     enum kv_encoding *enc)
{
	*typed = h->node->type_set || h->typed;
	*enc = h->node->type_set ? h->node->type : h->encoding;
}

static void parsed_drop(struct parsed_content *p)
{
	kv_buf_free(&p->value);
	p->valid = false;
}

/* Parse a handle's content for its commit, or take what get_ready parsed
 * as the same type. */
static int handle_parse(struct kvfs *fs, struct handle *h,
			enum kv_encoding *enc, struct kv_buf *value)
{
	bool typed;
	ops_handle_type(h, &typed, enc);
	struct parsed_content *p = &h->parsed;
	if (p->valid && p->typed == typed && (!typed || p->type == *enc)) {
		*enc = p->encoding;
		*value = p->value;
		p->value = (struct kv_buf){0};
		p->valid = false;
		return p->error;
	}
	parsed_drop(p);
	return parse_content(fs, &h->content, typed, enc, value);
}

static int handle_commit(struct kvfs *fs, struct handle *h)
{
	if (h->failed)
		return h->error;
	struct node *n = h->node;
	if (!h->dirty || !n->attached)
		return 0;
	int r;
	if (n->kind == NODE_SCRATCH) {
		n->scratch.len = 0;
		r = kv_buf_append(&n->scratch, h->content.data, h->content.len);
		clock_gettime(CLOCK_REALTIME, &n->scratch_mtime);
	} else {
		enum kv_encoding enc;
		struct kv_buf value = {0};
		r = handle_parse(fs, h, &enc, &value);
		if (r == 0)
			r = commit_value(fs, n->key.data, n->key.len, enc,
					 &value, h->expires_at_ms);
		kv_buf_free(&value);
		if (r == 0)
			times_apply_set(fs, n, n->key.data, n->key.len);
		if (r == 0)
			node_set_pending(fs, n, false);
	}
	/* On an error the content stays dirty: it may be a partial
	 * document flushed by another close of the same file (see
	 * kvfs_flush), and the next flush or the release tries again. */
	if (r == 0)
		h->dirty = false;
	return r;
}

/* ---- open files --------------------------------------------------------- */

void ops_handle_discard(struct handle *h)
{
	kv_buf_free(&h->content);
	parsed_drop(&h->parsed);
	free(h);
}

static void handle_free(struct kvfs *fs, struct handle *h)
{
	for (struct handle **p = &fs->handles; *p; p = &(*p)->next) {
		if (*p == h) {
			*p = h->next;
			break;
		}
	}
	ops_handle_discard(h);
}

static int handle_open(struct kvfs *fs, struct node *n, int flags,
		       struct handle **out)
{
	bool writing = (flags & O_ACCMODE) != O_RDONLY;
	if (writing && fs->opt.read_only)
		return -EROFS;
	if (n->kind == NODE_DIR)
		return -EISDIR;
	struct handle *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->node = n;
	h->expires_at_ms = -1;
	int r = 0;
	if (n->kind == NODE_SCRATCH) {
		if (!(flags & O_TRUNC))
			r = kv_buf_append(&h->content, n->scratch.data,
					  n->scratch.len);
		h->dirty = flags & O_TRUNC;
	} else if (n->pending) {
		/* The open that made the file stores it even when nothing is
		 * written (touch). Another open before that commit has nothing
		 * to read, and its close must not store its empty content over
		 * the creator's. */
		h->dirty = n->open_count == 0;
	} else {
		/* Only the value matters here, not what lies below the key. */
		struct key_info ki = {0};
		r = kv_store_get(fs->store, n->key.data, n->key.len, &ki.entry);
		if (r == 0)
			r = render_node_value(fs, n, &ki);
		if (r == 0 && writing && !ki.writable)
			r = -EACCES;
		if (r == 0) {
			h->typed = kv_value_keeps_type(ki.entry.encoding,
						       ki.entry.value_len);
			h->encoding = ki.entry.encoding;
			h->expires_at_ms = ki.entry.expires_at_ms;
			if (flags & O_TRUNC)
				h->dirty = true;
			else
				r = kv_buf_append(&h->content,
						  ki.rendering.data,
						  ki.rendering.len);
		}
		if (r == 0)
			keep_rendering(fs, n, &ki);
		key_info_free(&ki);
	}
	if (r < 0) {
		kv_buf_free(&h->content);
		free(h);
		return r;
	}
	h->next = fs->handles;
	fs->handles = h;
	n->open_count++;
	n->kernel_views++;
	*out = h;
	return 0;
}

/*
 * How the kernel treats an open file. One opened only for writing skips
 * the page cache: nothing is read through it, and a buffered write would
 * first have the kernel ask GETXATTR security.capability of every new file
 * (file_remove_privs), a round trip the direct path does not make. One
 * opened only for reading has nothing to commit, so its close() need not
 * wait for a FLUSH round trip (FOPEN_NOFLUSH).
 */
static bool bypasses_page_cache(int flags)
{
	return (flags & O_ACCMODE) == O_WRONLY;
}

static void set_open_flags(struct fuse_file_info *fi)
{
	fi->direct_io = bypasses_page_cache(fi->flags);
	fi->noflush = (fi->flags & O_ACCMODE) == O_RDONLY;
}

static void kvfs_open(fuse_req_t req, fuse_ino_t ino,
		      struct fuse_file_info *fi)
{
	struct kvfs *fs = fs_of(req);
	struct handle *h = NULL;
	pthread_mutex_lock(&fs->lock);
	struct node *n = node_by_ino(fs, ino);
	int r = n ? handle_open(fs, n, fi->flags, &h) : -ENOENT;
	pthread_mutex_unlock(&fs->lock);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	fi->fh = (uintptr_t)h;
	fi->keep_cache = 0;
	set_open_flags(fi);
	fuse_reply_open(req, fi);
}

static void kvfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	(void)ino;
	struct kvfs *fs = fs_of(req);
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	pthread_mutex_lock(&fs->lock);
	size_t len = h->content.len;
	size_t start = (size_t)off < len ? (size_t)off : len;
	size_t n = len - start < size ? len - start : size;
	char *copy = malloc(n ? n : 1);
	if (copy && n)
		memcpy(copy, h->content.data + start, n);
	pthread_mutex_unlock(&fs->lock);
	if (!copy) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fuse_reply_buf(req, copy, n);
	free(copy);
}

/* The longest content a handle may hold before a write fails with EFBIG. */
static size_t handle_limit(struct kvfs *fs, const struct handle *h)
{
	size_t max = kv_store_max_value(fs->store);
	bool json = h->node->type_set ? h->node->type == KV_ENC_V8
				      : h->typed && h->encoding == KV_ENC_V8;
	if (h->node->kind == NODE_SCRATCH)
		return max * JSON_TEXT_FACTOR;
	return json ? max * JSON_TEXT_FACTOR : max;
}

static int handle_resize(struct kvfs *fs, struct handle *h, size_t len)
{
	if (len > handle_limit(fs, h)) {
		/* The file is marked failed: its close reports EFBIG too
		 * and nothing is committed (kvfs-spec §3). */
		h->failed = true;
		h->error = -EFBIG;
		return -EFBIG;
	}
	parsed_drop(&h->parsed);
	if (len > h->content.len) {
		int r = kv_buf_reserve(&h->content, len - h->content.len);
		if (r < 0)
			return r;
		memset(h->content.data + h->content.len, 0,
		       len - h->content.len);
	}
	h->content.len = len;
	h->dirty = true;
	h->written = true;
	return 0;
}

/*
 * After the reply to a file's first write, the writer wakes and most often
 * closes the file, and the flush that commits it arrives some 10 µs
 * later. Spend that time on the parts of the commit that change nothing
 * anyone can see: parse the content, and let the store get ready. The
 * flush then finds the daemon awake and with less left to do
 * (docs/performance.md). Only a thread that holds the reading may: then
 * the handle's release cannot be served before this returns. A file
 * written in pieces is readied after its first only, so that its content
 * is not parsed once per piece; the flush parses what the next writes
 * changed.
 */
static void get_ready(struct kvfs *fs, struct handle *h)
{
	if (!loop_holds_reading())
		return;
	pthread_mutex_lock(&fs->lock);
	if (!h->readied && !h->failed && h->node->kind != NODE_SCRATCH &&
	    h->node->attached) {
		struct parsed_content *p = &h->parsed;
		h->readied = true;
		ops_handle_type(h, &p->typed, &p->type);
		p->encoding = p->type;
		p->error = parse_content(fs, &h->content, p->typed,
					 &p->encoding, &p->value);
		p->valid = true;
		kv_store_ready_commit(fs->store);
	}
	pthread_mutex_unlock(&fs->lock);
}

static void kvfs_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		       size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)ino;
	struct kvfs *fs = fs_of(req);
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	int r = 0;
	pthread_mutex_lock(&fs->lock);
	if (fi->flags & O_APPEND)
		off = h->content.len;
	if (h->failed)
		r = h->error;
	else if ((uint64_t)off + size > SIZE_MAX / 2)
		r = -EFBIG;
	else if ((size_t)off + size > h->content.len)
		r = handle_resize(fs, h, (size_t)off + size);
	if (r == 0 && size) {
		parsed_drop(&h->parsed);
		memcpy(h->content.data + off, buf, size);
		h->dirty = true;
		h->written = true;
		/* A write after utimens makes the file's time now again. */
		h->node->times_set = false;
	}
	pthread_mutex_unlock(&fs->lock);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	fuse_reply_write(req, size);
	get_ready(fs, h);
}

/*
 * A flush comes with every close of the file, also of duplicates: the
 * close after a shell's dup2 of a redirection, before anything is written,
 * and the exit of every child that inherited the descriptor. Content that
 * nothing was written to since open (only O_TRUNC'd, or new) is therefore
 * not committed by a flush, or O_TRUNC would store an empty value before
 * the new content arrives; the release commits it.
 */
/*
 * After a commit the kernel's cached size, mtime and pages of the file are
 * stale (the stored rendering may differ from the text written, as JSON
 * is normalized): drop them before the reply, so that a stat or read after
 * close() sees the new value. FLUSH, FSYNC and RELEASE are not among the
 * requests during which libfuse forbids this notification. A file created
 * and written by one write-only open that nothing else looked at is the
 * common case of a new file, and has nothing cached to drop.
 */
static bool kernel_may_cache(const struct handle *h)
{
	return !h->sole_view || h->node->kernel_views != h->kernel_views;
}

static void forget_cached(struct kvfs *fs, fuse_ino_t ino, bool stale)
{
	if (stale) {
		loop_pass_reading();
		fuse_lowlevel_notify_inval_inode(fs->se, ino, 0, 0);
	}
}

/* Commit an open file for a flush (only content written since open, see
 * above) or an fsync (all of it), and reply. */
static void commit_and_reply(fuse_req_t req, fuse_ino_t ino,
			     struct fuse_file_info *fi, bool all)
{
	struct kvfs *fs = fs_of(req);
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	pthread_mutex_lock(&fs->lock);
	bool dirty = h->dirty;
	int r = all || h->written || h->failed ? handle_commit(fs, h) : 0;
	bool committed = r == 0 && dirty && !h->dirty;
	if (committed)
		node_told(fs, h->node);
	bool stale = committed && kernel_may_cache(h);
	pthread_mutex_unlock(&fs->lock);
	forget_cached(fs, ino, stale);
	fuse_reply_err(req, -r);
}

static void kvfs_flush(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	commit_and_reply(req, ino, fi, false);
}

static void kvfs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		       struct fuse_file_info *fi)
{
	(void)datasync;
	commit_and_reply(req, ino, fi, true);
}

static void kvfs_release(fuse_req_t req, fuse_ino_t ino,
			 struct fuse_file_info *fi)
{
	struct kvfs *fs = fs_of(req);
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	bool committed = false;
	pthread_mutex_lock(&fs->lock);
	if (h->dirty && !h->failed) {
		int r = handle_commit(fs, h);
		if (r < 0)
			syslog(LOG_WARNING, "kvfs: commit on close failed: %s",
			       strerror(-r));
		committed = r == 0;
	}
	struct node *n = h->node;
	if (committed)
		node_told(fs, n);
	bool stale = committed && kernel_may_cache(h);
	handle_free(fs, h);
	node_close(fs, n);
	pthread_mutex_unlock(&fs->lock);
	forget_cached(fs, ino, stale);
	fuse_reply_err(req, 0);
}

/* ---- creating and removing -------------------------------------------- */

static int create_locked(struct kvfs *fs, struct node *dir, const char *name,
			 int flags, struct fuse_entry_param *e,
			 struct handle **h)
{
	if (fs->opt.read_only)
		return -EROFS;
	if (dir->kind != NODE_DIR)
		return dir->kind == NODE_LIST ? -EPERM : -ENOTDIR;
	struct node *n;
	if (is_scratch_name(fs, name)) {
		n = node_get(fs, NODE_SCRATCH, dir->key.data, dir->key.len,
			     name);
		if (!n)
			return -ENOMEM;
		if (!n->scratch_mtime.tv_sec) {
			clock_gettime(CLOCK_REALTIME, &n->scratch_mtime);
			fs->n_in_memory++;
		}
	} else if (strcmp(name, KVFS_NAME_VALUE) == 0) {
		if (dir->key.len == 0)
			return -EINVAL;
		n = node_find(fs, NODE_VALUE, dir->key.data, dir->key.len, NULL);
		if (!n)
			n = node_get(fs, NODE_VALUE, dir->key.data,
				     dir->key.len, NULL);
		if (!n)
			return -ENOMEM;
		struct key_info ki;
		int r = key_info_load(fs, dir->key.data, dir->key.len, &ki);
		bool exists = r == 0 && ki.has_value;
		key_info_free(&ki);
		if (r < 0)
			return r;
		if (!exists)
			node_set_pending(fs, n, true);
	} else {
		struct kv_buf key = {0};
		int r = ops_child_key(fs, dir, name, &key);
		if (r < 0) {
			kv_buf_free(&key);
			return r;
		}
		struct key_info ki = {0};
		if (!just_missed(fs, &key))
			r = key_info_load(fs, key.data, key.len, &ki);
		bool is_dir = ki.is_dir, exists = ki.has_value;
		key_info_free(&ki);
		if (r == 0 && is_dir)
			r = -EISDIR;
		n = r == 0 ? node_get(fs, NODE_FILE, key.data, key.len, NULL)
			   : NULL;
		kv_buf_free(&key);
		if (r < 0)
			return r;
		if (!n)
			return -ENOMEM;
		if (!exists)
			node_set_pending(fs, n, true);
	}
	bool new_to_kernel = n->nlookup == 0 && n->open_count == 0;
	int r = handle_open(fs, n, flags, h);
	if (r < 0)
		return r;
	struct stat st;
	struct key_info ki = {0};
	if (!n->pending && n->kind != NODE_SCRATCH)
		r = key_info_load(fs, n->key.data, n->key.len, &ki);
	if (r == 0)
		r = node_stat(fs, n, &ki, &st);
	key_info_free(&ki);
	if (r == 0) {
		ops_fill_entry(fs, n, &st, e);
		(*h)->sole_view = new_to_kernel && bypasses_page_cache(flags);
		(*h)->kernel_views = n->kernel_views;
	}
	return r;
}

static void kvfs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
			mode_t mode, struct fuse_file_info *fi)
{
	(void)mode;
	struct kvfs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct handle *h = NULL;
	pthread_mutex_lock(&fs->lock);
	struct node *dir = node_by_ino(fs, parent);
	int r = dir ? create_locked(fs, dir, name, fi->flags, &e, &h)
		    : -ENOENT;
	if (r < 0 && h) {
		struct node *n = h->node;
		handle_free(fs, h);
		node_close(fs, n);
	}
	pthread_mutex_unlock(&fs->lock);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	fi->fh = (uintptr_t)h;
	set_open_flags(fi);
	fuse_reply_create(req, &e, fi);
}

static void kvfs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		       mode_t mode, dev_t rdev)
{
	(void)rdev;
	if (!S_ISREG(mode)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	struct kvfs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct handle *h = NULL;
	pthread_mutex_lock(&fs->lock);
	struct node *dir = node_by_ino(fs, parent);
	int r = dir ? create_locked(fs, dir, name, O_WRONLY, &e, &h) : -ENOENT;
	if (h) {
		int c = handle_commit(fs, h);
		if (r == 0)
			r = c;
		struct node *n = h->node;
		handle_free(fs, h);
		node_close(fs, n);
	}
	pthread_mutex_unlock(&fs->lock);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_entry(req, &e);
}

static void kvfs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		       mode_t mode)
{
	(void)mode;
	struct kvfs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct kv_buf key = {0};
	struct key_info ki = {0};
	pthread_mutex_lock(&fs->lock);
	struct node *dir = node_by_ino(fs, parent);
	int r = !dir			   ? -ENOENT
		: dir->kind == NODE_LIST ? -EPERM
		: dir->kind != NODE_DIR	   ? -ENOTDIR
					   : 0;
	if (r == 0 && fs->opt.read_only)
		r = -EROFS;
	if (r == 0 && (strcmp(name, KVFS_NAME_VALUE) == 0 ||
		       is_scratch_name(fs, name)))
		r = -EINVAL;
	if (r == 0)
		r = ops_child_key(fs, dir, name, &key);
	if (r == 0 && node_find(fs, NODE_FILE, key.data, key.len, NULL))
		r = -EEXIST;
	if (r == 0 && !known_absent(fs, dir, &key))
		r = key_info_load(fs, key.data, key.len, &ki);
	if (r == 0 && (ki.is_dir || ki.has_value))
		r = -EEXIST;
	if (r == 0)
		r = empty_dir_add(fs, key.data, key.len);
	struct node *n = NULL;
	if (r == 0 && !(n = node_get(fs, NODE_DIR, key.data, key.len, NULL)))
		r = -ENOMEM;
	/* Nothing is below it: the look just made, or dir's completeness. */
	if (r == 0)
		n->complete_at = fs->known_epoch;
	struct stat st;
	if (r == 0) {
		node_stat(fs, n, &ki, &st);
		ops_fill_entry(fs, n, &st, &e);
	}
	key_info_free(&ki);
	kv_buf_free(&key);
	pthread_mutex_unlock(&fs->lock);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_entry(req, &e);
}

int ops_delete_key(struct kvfs *fs, const uint8_t *key, size_t key_len)
{
	struct kv_mutation m = {
		.type = KV_MUT_DELETE, .key = key, .key_len = key_len};
	struct kv_atomic a = {.mutations = &m, .n_mutations = 1};
	uint8_t vs[KV_VERSIONSTAMP_LEN];
	int r = kv_store_commit(fs->store, &a, vs);
	if (r == 0)
		refresh_own_commit(fs, vs);
	return r;
}

/* Keep a directory after its last key goes, so rm -rf can finish. */
void ops_keep_dir(struct kvfs *fs, const uint8_t *key, size_t key_len)
{
	if (key_len)
		empty_dir_add(fs, key, key_len);
}

static void drop_scratch(struct kvfs *fs, struct node *n)
{
	node_detach(fs, n);
	kv_buf_free(&n->scratch);
	fs->n_in_memory--;
	node_forget(fs, n, 0);
}

static int unlink_locked(struct kvfs *fs, struct node *dir, const char *name)
{
	if (dir->kind != NODE_DIR)
		return -ENOTDIR;
	if (fs->opt.read_only)
		return -EROFS;
	if (is_scratch_name(fs, name)) {
		struct node *n = node_find(fs, NODE_SCRATCH, dir->key.data,
					   dir->key.len, name);
		if (!n)
			return -ENOENT;
		drop_scratch(fs, n);
		return 0;
	}
	struct kv_buf key = {0};
	struct key_info ki = {0};
	enum node_kind kind = NODE_FILE;
	int r;
	if (strcmp(name, KVFS_NAME_VALUE) == 0) {
		if (!dir->key.len)
			return -ENOENT;
		kind = NODE_VALUE;
		r = kv_buf_append(&key, dir->key.data, dir->key.len);
	} else {
		r = ops_child_key(fs, dir, name, &key);
		if (r == -EINVAL)
			r = -ENOENT;
	}
	struct node *n = r == 0 ? node_find(fs, kind, key.data, key.len, NULL)
				: NULL;
	if (r == 0 && n && n->pending) {
		node_set_pending(fs, n, false);
		node_detach(fs, n);
		goto out;
	}
	if (r == 0)
		r = key_info_load(fs, key.data, key.len, &ki);
	if (r == 0 && kind == NODE_FILE && ki.is_dir)
		r = -EISDIR;
	if (r == 0 && !ki.has_value)
		r = -ENOENT;
	if (r == 0)
		r = ops_delete_key(fs, key.data, key.len);
	if (r == 0) {
		if (n)
			node_detach(fs, n);
		if (kind == NODE_VALUE)
			ops_keep_dir(fs, key.data, key.len);
		else
			ops_keep_dir(fs, dir->key.data, dir->key.len);
	}
out:
	key_info_free(&ki);
	kv_buf_free(&key);
	return r;
}

static void kvfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct kvfs *fs = fs_of(req);
	pthread_mutex_lock(&fs->lock);
	struct node *dir = node_by_ino(fs, parent);
	int r = !dir			   ? -ENOENT
		: dir->kind == NODE_LIST ? ptr_unlink(fs, dir, name)
					   : unlink_locked(fs, dir, name);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_err(req, -r);
}

static int rmdir_locked(struct kvfs *fs, struct node *dir, const char *name)
{
	if (dir->kind != NODE_DIR)
		return -ENOTDIR;
	if (fs->opt.read_only)
		return -EROFS;
	struct kv_buf key = {0};
	struct key_info ki = {0};
	int r = ops_child_key(fs, dir, name, &key);
	if (r == -EINVAL)
		r = -ENOENT;
	if (r == 0)
		r = key_info_load(fs, key.data, key.len, &ki);
	if (r == 0 && !ki.is_dir)
		r = ki.has_value ? -ENOTDIR : -ENOENT;
	if (r == 0 && (ki.has_children || ki.has_value ||
		       in_memory_children(fs, key.data, key.len)))
		r = -ENOTEMPTY;
	if (r == 0) {
		empty_dir_remove(fs, key.data, key.len);
		struct node *n = node_find(fs, NODE_DIR, key.data, key.len,
					   NULL);
		if (n)
			node_detach(fs, n);
	}
	key_info_free(&ki);
	kv_buf_free(&key);
	return r;
}

static void kvfs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct kvfs *fs = fs_of(req);
	pthread_mutex_lock(&fs->lock);
	struct node *dir = node_by_ino(fs, parent);
	int r = dir ? ptr_rmdir(fs, dir, name) : -ENOENT;
	if (r == PTR_NOT_A_LIST)
		r = rmdir_locked(fs, dir, name);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_err(req, -r);
}

/* ---- directories -------------------------------------------------------- */

struct dir_handle {
	struct child_list children;
	size_t prefix_len;
	bool has_value;
};

static void kvfs_opendir(fuse_req_t req, fuse_ino_t ino,
			 struct fuse_file_info *fi)
{
	struct kvfs *fs = fs_of(req);
	struct dir_handle *d = calloc(1, sizeof(*d));
	int r = d ? 0 : -ENOMEM;
	pthread_mutex_lock(&fs->lock);
	struct node *n = node_by_ino(fs, ino);
	if (r == 0 && !n)
		r = -ENOENT;
	if (r == 0 && n->kind != NODE_DIR && n->kind != NODE_LIST)
		r = -ENOTDIR;
	/* A list's @value is not listed: a glob of the list is its links. */
	if (r == 0) {
		d->prefix_len = n->key.len;
		r = n->kind == NODE_LIST
			    ? ptr_list_children(fs, n, &d->children)
			    : list_children(fs, n->key.data, n->key.len,
					    &d->children, &d->has_value);
	}
	pthread_mutex_unlock(&fs->lock);
	if (r < 0) {
		free(d);
		fuse_reply_err(req, -r);
		return;
	}
	fi->fh = (uintptr_t)d;
	fi->cache_readdir = 0;
	fuse_reply_open(req, fi);
}

/*
 * Have the store keys of children [from, from + KV_MAX_READ_RANGES) read
 * ahead in one snapshot, for their READDIRPLUS lookups.
 */
static void read_children_ahead(struct kvfs *fs, const struct dir_handle *d,
				size_t from)
{
	const uint8_t *keys[KV_MAX_READ_RANGES];
	size_t lens[KV_MAX_READ_RANGES], n = 0;
	for (size_t i = from; i < d->children.n && i < from + KV_MAX_READ_RANGES;
	     i++) {
		const struct child *c = &d->children.v[i];
		if (c->kind != NODE_FILE && c->kind != NODE_DIR)
			continue;
		keys[n] = c->key;
		lens[n++] = c->key_len;
	}
	if (n)
		key_info_read_ahead(fs, keys, lens, n);
}

/*
 * READDIR lists names; READDIRPLUS also looks each one up, as the LOOKUP
 * that `ls -l` or `find` would send next for it, so that the kernel has
 * its entry and attributes without that round trip; the store is read for
 * ten entries at a time. An entry that no longer fits the reply is not
 * looked up: its lookup would count a reference the kernel never receives.
 */
static void read_dir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi, bool plus)
{
	struct kvfs *fs = fs_of(req);
	struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
	char *buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* Offsets: 1 ".", 2 "..", 3 "@value", then 4 + i for child i. */
	size_t used = 0;
	struct kv_buf name = {0};
	/* Children have no inode until looked up. The number only has to be
	 * non-zero: readdir(3) skips entries whose d_ino is 0. */
	struct stat st = {.st_ino = UNKNOWN_INO};
	struct node *dir = NULL;
	size_t read_ahead_to = 0;
	if (plus) {
		pthread_mutex_lock(&fs->lock);
		dir = node_by_ino(fs, ino);
	}
	for (off_t i = off; ; i++) {
		const char *nm;
		if (i == 0) {
			nm = ".";
			st.st_mode = S_IFDIR;
		} else if (i == 1) {
			nm = "..";
			st.st_mode = S_IFDIR;
		} else if (i == 2) {
			if (!d->has_value)
				continue;
			nm = KVFS_NAME_VALUE;
			st.st_mode = S_IFREG;
		} else if ((size_t)(i - 3) < d->children.n) {
			const struct child *c = &d->children.v[i - 3];
			if (child_name(c, d->prefix_len, &name) < 0)
				continue;
			nm = (const char *)name.data;
			st.st_mode = c->kind == NODE_DIR    ? S_IFDIR
				     : c->kind == NODE_LINK ? S_IFLNK
							    : S_IFREG;
		} else {
			break;
		}
		size_t want;
		if (plus) {
			/* "." and "..", and a name whose lookup fails (gone
			 * since opendir, unreadable): listed with no entry
			 * (ino 0), as READDIR lists them; the kernel looks
			 * them up itself, and gets the error then. */
			struct fuse_entry_param e = {.attr = st};
			if (fuse_add_direntry_plus(req, NULL, 0, nm, NULL, 0) >
			    size - used)
				break;
			if (i >= 3 && dir && dir->kind == NODE_DIR &&
			    (size_t)i >= read_ahead_to) {
				read_children_ahead(fs, d, (size_t)i - 3);
				read_ahead_to = (size_t)i + KV_MAX_READ_RANGES;
			}
			if (i >= 2 && lookup_in(fs, dir, nm, &e) < 0)
				e = (struct fuse_entry_param){.attr = st};
			want = fuse_add_direntry_plus(req, buf + used,
						      size - used, nm, &e,
						      i + 1);
		} else {
			want = fuse_add_direntry(req, buf + used, size - used,
						 nm, &st, i + 1);
			if (want > size - used)
				break;
		}
		used += want;
	}
	if (plus) {
		key_info_forget_ahead(fs);
		pthread_mutex_unlock(&fs->lock);
	}
	kv_buf_free(&name);
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void kvfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
			 off_t off, struct fuse_file_info *fi)
{
	read_dir(req, ino, size, off, fi, false);
}

static void kvfs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			     off_t off, struct fuse_file_info *fi)
{
	read_dir(req, ino, size, off, fi, true);
}

static void kvfs_releasedir(fuse_req_t req, fuse_ino_t ino,
			    struct fuse_file_info *fi)
{
	(void)ino;
	struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
	child_list_free(&d->children);
	free(d);
	fuse_reply_err(req, 0);
}

/* ---- attributes --------------------------------------------------------- */

/* Truncate a key's value that no open file holds: load, cut, commit. */
static int truncate_key(struct kvfs *fs, struct node *n, size_t size)
{
	struct key_info ki;
	int r = key_info_load(fs, n->key.data, n->key.len, &ki);
	if (r == 0 && !ki.has_value)
		r = -ENOENT;
	if (r == 0)
		r = render_value(fs, &ki);
	if (r == 0 && !ki.writable)
		r = -EACCES;
	bool json = ki.entry.encoding == KV_ENC_V8;
	size_t max = kv_store_max_value(fs->store);
	if (r == 0 && size > (json ? max * JSON_TEXT_FACTOR : max))
		r = -EFBIG;
	struct kv_buf content = {0};
	if (r == 0 && size <= ki.rendering.len)
		r = kv_buf_append(&content, ki.rendering.data, size);
	else if (r == 0) {
		r = kv_buf_append(&content, ki.rendering.data,
				  ki.rendering.len);
		if (r == 0)
			r = kv_buf_reserve(&content, size - content.len);
		if (r == 0) {
			memset(content.data + content.len, 0,
			       size - content.len);
			content.len = size;
		}
	}
	bool typed = kv_value_keeps_type(ki.entry.encoding, ki.entry.value_len);
	if (r == 0)
		r = ops_commit_content(fs, n->key.data, n->key.len, &content,
				       typed, ki.entry.encoding,
				       ki.entry.expires_at_ms);
	kv_buf_free(&content);
	key_info_free(&ki);
	return r;
}

/* Apply the times and mode of a setattr request. */
static void set_times(struct timespec *mtime, struct timespec *atime,
		      mode_t *mode, const struct stat *attr, int to_set)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	if (to_set & FUSE_SET_ATTR_MODE)
		*mode = attr->st_mode & 07777;
	if (to_set & FUSE_SET_ATTR_MTIME)
		*mtime = attr->st_mtim;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		*mtime = now;
	if (to_set & FUSE_SET_ATTR_ATIME)
		*atime = attr->st_atim;
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		*atime = now;
}

/* Times and mode of content not committed yet stay with the node until
 * its commit (times_apply_set). */
static int set_uncommitted_times(struct node *n, const struct stat *attr,
				 int to_set)
{
	if (!n->times_set &&
	    (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
		       FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW))) {
		/* The commit is about now: the time not set is now. */
		clock_gettime(CLOCK_REALTIME, &n->set_mtime);
		n->set_atime = n->set_mtime;
		n->times_set = true;
	}
	set_times(&n->set_mtime, &n->set_atime, &n->set_mode, attr, to_set);
	return 0;
}

static int setattr_locked(struct kvfs *fs, struct node *n, struct stat *attr,
			  int to_set, struct handle *h)
{
	int r = 0;
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (fs->opt.read_only)
			return -EROFS;
		if (n->kind == NODE_DIR)
			return -EISDIR;
		if (attr->st_size < 0)
			return -EINVAL;
		if (!h)
			h = ops_dirty_handle(fs, n);
		if (h)
			r = handle_resize(fs, h, attr->st_size);
		else if (n->kind == NODE_SCRATCH)
			r = attr->st_size > (off_t)n->scratch.len
				    ? kv_buf_reserve(&n->scratch, 0)
				    : (n->scratch.len = attr->st_size, 0);
		else if (!n->pending)
			r = truncate_key(fs, n, attr->st_size);
		if (r < 0)
			return r;
	}
	if (n->kind == NODE_DIR ||
	    !(to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_ATIME |
			FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
			FUSE_SET_ATTR_MTIME_NOW)))
		return 0;
	if (n->kind == NODE_SCRATCH || n->pending || ops_dirty_handle(fs, n))
		return set_uncommitted_times(n, attr, to_set);
	struct kv_entry e;
	r = kv_store_get(fs->store, n->key.data, n->key.len, &e);
	if (r < 0)
		return r;
	struct key_times *t = times_get(fs, e.key, e.key_len, e.versionstamp,
					vs_version(e.versionstamp));
	struct key_times *own = times_own(fs, t, e.key, e.key_len,
					  e.versionstamp);
	kv_entry_free(&e);
	if (!own)
		return -ENOMEM;
	set_times(&own->mtime, &own->atime, &own->mode, attr, to_set);
	return 0;
}

static void kvfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			 int to_set, struct fuse_file_info *fi)
{
	struct kvfs *fs = fs_of(req);
	struct stat st;
	pthread_mutex_lock(&fs->lock);
	struct node *n = node_by_ino(fs, ino);
	struct handle *h = fi ? (struct handle *)(uintptr_t)fi->fh : NULL;
	if (n && n->kind == NODE_DIR)
		h = NULL;
	int r = n ? setattr_locked(fs, n, attr, to_set, h) : -ENOENT;
	if (r == 0)
		r = ops_stat_node(fs, n, &st);
	pthread_mutex_unlock(&fs->lock);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, fs->opt.attr_timeout);
}

static void kvfs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	(void)ino;
	struct kvfs *fs = fs_of(req);
	struct statvfs sv = {0};
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_namemax = KVFS_NAME_MAX;
	sv.f_blocks = sv.f_bfree = sv.f_bavail = 1u << 20;
	sv.f_files = sv.f_ffree = sv.f_favail = 1u << 20;
	if (fs->opt.read_only)
		sv.f_flag |= ST_RDONLY;
	fuse_reply_statfs(req, &sv);
}

const struct fuse_lowlevel_ops kvfs_ops = {
	.lookup = kvfs_lookup,
	.readlink = ptr_readlink,
	.symlink = ptr_symlink,
	.forget = kvfs_forget,
	.forget_multi = kvfs_forget_multi,
	.getattr = kvfs_getattr,
	.setattr = kvfs_setattr,
	.mknod = kvfs_mknod,
	.mkdir = kvfs_mkdir,
	.unlink = kvfs_unlink,
	.rmdir = kvfs_rmdir,
	.rename = kvfs_rename,
	.open = kvfs_open,
	.read = kvfs_read,
	.write = kvfs_write,
	.flush = kvfs_flush,
	.release = kvfs_release,
	.fsync = kvfs_fsync,
	.opendir = kvfs_opendir,
	.readdir = kvfs_readdir,
	.readdirplus = kvfs_readdirplus,
	.releasedir = kvfs_releasedir,
	.statfs = kvfs_statfs,
	.setxattr = kvfs_setxattr,
	.getxattr = kvfs_getxattr,
	.listxattr = kvfs_listxattr,
	.removexattr = kvfs_removexattr,
	.create = kvfs_create,
};
