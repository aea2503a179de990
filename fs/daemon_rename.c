/*
 * daemon_rename.c — rename (kvfs-spec §2): a file is moved in one atomic
 * commit (delete the old key, write the new one), also over an existing
 * key, which is how editors and sed -i save; a directory moves every key
 * under its prefix in one commit; scratch files are saved by renaming them
 * onto a real name.
 */
#include <errno.h>
#include <stdio.h> /* RENAME_NOREPLACE */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "name.h"

/*
 * The most keys one directory rename moves: each costs two mutations, and a
 * commit takes at most KV_MAX_MUTATIONS. Larger directories give EXDEV, so
 * mv falls back to copying and removing, as across filesystems.
 */
enum { MAX_DIR_RENAME_KEYS = KV_MAX_MUTATIONS / 2 };

/* One end of a rename. */
struct end {
	struct node *dir;
	const char *name;
	enum node_kind kind; /* NODE_DIR, NODE_FILE, NODE_VALUE, NODE_SCRATCH */
	struct kv_buf key;   /* SCRATCH: the directory's key */
	struct node *node;   /* the attached node, if the kernel has one */
	struct key_info ki;
	bool exists;
};

static void end_free(struct end *e)
{
	kv_buf_free(&e->key);
	key_info_free(&e->ki);
}

static int end_resolve(struct kvfs *fs, struct node *dir, const char *name,
		       struct end *e)
{
	*e = (struct end){.dir = dir, .name = name};
	if (dir->kind != NODE_DIR)
		return -ENOTDIR;
	int r;
	if (is_scratch_name(fs, name)) {
		e->kind = NODE_SCRATCH;
		r = kv_buf_append(&e->key, dir->key.data, dir->key.len);
		e->node = node_find(fs, NODE_SCRATCH, dir->key.data,
				    dir->key.len, name);
		e->exists = e->node != NULL;
		return r;
	}
	if (strcmp(name, KVFS_NAME_VALUE) == 0) {
		if (!dir->key.len)
			return -EINVAL;
		e->kind = NODE_VALUE;
		r = kv_buf_append(&e->key, dir->key.data, dir->key.len);
	} else {
		e->kind = NODE_FILE;
		r = ops_child_key(fs, dir, name, &e->key);
	}
	if (r == 0)
		r = key_info_load(fs, e->key.data, e->key.len, &e->ki);
	if (r < 0)
		return r;
	if (e->kind == NODE_FILE && e->ki.is_dir)
		e->kind = NODE_DIR;
	e->node = node_find(fs, e->kind, e->key.data, e->key.len, NULL);
	e->exists = e->kind == NODE_DIR || e->ki.has_value ||
		    (e->node && e->node->pending);
	return 0;
}

static bool has_prefix(const struct kv_buf *key, const struct kv_buf *prefix)
{
	return key->len >= prefix->len &&
	       memcmp(key->data, prefix->data, prefix->len) == 0;
}

struct rekey_arg {
	const struct kv_buf *from;
	const struct kv_buf *to;
	int error;
};

static void rekey_under(struct kvfs *fs, struct node *n, void *arg)
{
	struct rekey_arg *a = arg;
	if (!n->attached || !has_prefix(&n->key, a->from))
		return;
	struct kv_buf k = {0};
	int r = kv_buf_append(&k, a->to->data, a->to->len);
	if (r == 0)
		r = kv_buf_append(&k, n->key.data + a->from->len,
				  n->key.len - a->from->len);
	if (r == 0)
		r = node_rekey(fs, n, n->kind, k.data, k.len, n->scratch_name);
	if (r < 0)
		a->error = r;
	kv_buf_free(&k);
}

static int move_empty_dirs(struct kvfs *fs, const struct kv_buf *from,
			   const struct kv_buf *to)
{
	for (struct empty_dir *d = fs->empty_dirs; d; d = d->next) {
		if (!has_prefix(&d->key, from))
			continue;
		struct kv_buf k = {0};
		int r = kv_buf_append(&k, to->data, to->len);
		if (r == 0)
			r = kv_buf_append(&k, d->key.data + from->len,
					  d->key.len - from->len);
		if (r < 0) {
			kv_buf_free(&k);
			return r;
		}
		kv_buf_free(&d->key);
		d->key = k;
	}
	return 0;
}

/* Move every key in [from, from+0x28) to the same suffix under to. */
static int rename_dir(struct kvfs *fs, struct end *src, struct end *dst)
{
	if (dst->kind == NODE_SCRATCH || dst->kind == NODE_VALUE)
		return -EINVAL;
	if (has_prefix(&dst->key, &src->key))
		return -EINVAL;
	if (dst->kind == NODE_FILE && dst->exists)
		return -ENOTDIR;
	if (dst->kind == NODE_DIR &&
	    (dst->ki.has_children || dst->ki.has_value ||
	     in_memory_children(fs, dst->key.data, dst->key.len)))
		return -ENOTEMPTY;

	struct kv_buf end = {0};
	int r = kv_buf_append(&end, src->key.data, src->key.len);
	if (r == 0)
		r = kv_buf_push(&end, KV_KEY_CHILD_END);
	struct kv_range range = {
		.start = src->key.data,
		.start_len = src->key.len,
		.end = end.data,
		.end_len = end.len,
		.limit = MAX_DIR_RENAME_KEYS + 1,
	};
	struct kv_entries entries = {0};
	if (r == 0)
		r = kv_store_read_range(fs->store, &range, &entries);
	kv_buf_free(&end);
	if (r == 0 && entries.n > MAX_DIR_RENAME_KEYS)
		r = -EXDEV;

	struct kv_mutation *m = NULL;
	struct kv_buf *keys = NULL;
	if (r == 0 && entries.n) {
		m = calloc(2 * entries.n, sizeof(*m));
		keys = calloc(entries.n, sizeof(*keys));
		if (!m || !keys)
			r = -ENOMEM;
	}
	for (size_t i = 0; r == 0 && i < entries.n; i++) {
		const struct kv_entry *e = &entries.v[i];
		r = kv_buf_append(&keys[i], dst->key.data, dst->key.len);
		if (r == 0)
			r = kv_buf_append(&keys[i], e->key + src->key.len,
					  e->key_len - src->key.len);
		m[2 * i] = (struct kv_mutation){
			.type = KV_MUT_DELETE, .key = e->key,
			.key_len = e->key_len};
		m[2 * i + 1] = (struct kv_mutation){
			.type = KV_MUT_SET,
			.key = keys[i].data,
			.key_len = keys[i].len,
			.encoding = e->encoding,
			.value = e->value ? e->value : (const uint8_t *)"",
			.value_len = e->value_len,
			.expire_in_ms = ops_expire_in(e->expires_at_ms),
		};
	}
	uint8_t vs[KV_VERSIONSTAMP_LEN];
	if (r == 0 && entries.n) {
		struct kv_atomic a = {.mutations = m,
				      .n_mutations = 2 * entries.n};
		r = kv_store_commit(fs->store, &a, vs);
		if (r == 0)
			refresh_own_commit(fs, vs);
		if (r == -E2BIG)
			r = -EXDEV;
	}
	if (r == 0) {
		for (size_t i = 0; i < entries.n; i++)
			times_carry(fs, entries.v[i].key, entries.v[i].key_len,
				    entries.v[i].versionstamp, keys[i].data,
				    keys[i].len, vs);
		if (dst->node)
			node_detach(fs, dst->node);
		empty_dir_remove(fs, dst->key.data, dst->key.len);
		struct rekey_arg a = {.from = &src->key, .to = &dst->key};
		nodes_each(fs, rekey_under, &a);
		r = a.error;
		if (r == 0)
			r = move_empty_dirs(fs, &src->key, &dst->key);
		/* A directory that held only in-memory entries moved with
		 * them; keep it a directory at its new place. */
		if (r == 0 && !entries.n)
			r = empty_dir_add(fs, dst->key.data, dst->key.len);
		if (r == 0)
			ops_keep_dir(fs, src->dir->key.data,
				     src->dir->key.len);
	}
	for (size_t i = 0; keys && i < entries.n; i++)
		kv_buf_free(&keys[i]);
	free(keys);
	free(m);
	kv_entries_free(&entries);
	return r;
}

/* A scratch file's text becomes the value of a key, typed as the key's
 * current value is, or by its content. Saving is a rewrite of the key, so
 * the key keeps its expiry, as any rewrite through the mount does. */
static int save_scratch(struct kvfs *fs, struct end *src, struct end *dst)
{
	bool typed = dst->ki.has_value &&
		     kv_value_keeps_type(dst->ki.entry.encoding,
					 dst->ki.entry.value_len);
	int64_t expires_at = dst->ki.has_value ? dst->ki.entry.expires_at_ms
					       : -1;
	int r = ops_commit_content(fs, dst->key.data, dst->key.len,
				   &src->node->scratch, typed,
				   typed ? dst->ki.entry.encoding : KV_ENC_BYTES,
				   expires_at);
	if (r == 0)
		times_apply_set(fs, src->node, dst->key.data, dst->key.len);
	return r;
}

/* Move a value from one key to another in one commit. */
static int move_value(struct kvfs *fs, struct end *src, struct end *dst)
{
	const struct kv_entry *e = &src->ki.entry;
	struct kv_mutation m[2] = {
		{.type = KV_MUT_DELETE, .key = e->key, .key_len = e->key_len},
		{.type = KV_MUT_SET,
		 .key = dst->key.data,
		 .key_len = dst->key.len,
		 .encoding = e->encoding,
		 .value = e->value ? e->value : (const uint8_t *)"",
		 .value_len = e->value_len,
		 .expire_in_ms = ops_expire_in(e->expires_at_ms)},
	};
	struct kv_atomic a = {.mutations = m, .n_mutations = 2};
	uint8_t vs[KV_VERSIONSTAMP_LEN];
	int r = kv_store_commit(fs->store, &a, vs);
	if (r == 0) {
		refresh_own_commit(fs, vs);
		times_carry(fs, e->key, e->key_len, e->versionstamp,
			    dst->key.data, dst->key.len, vs);
		nodes_committed(fs, dst->key.data, dst->key.len, vs);
	}
	return r;
}

static void drop_node(struct kvfs *fs, struct node *n)
{
	if (!n)
		return;
	if (n->kind == NODE_SCRATCH || n->pending)
		fs->n_in_memory--;
	n->pending = false;
	node_detach(fs, n);
	kv_buf_free(&n->scratch);
	node_forget(fs, n, 0);
}

/*
 * A value goes into memory under a scratch name (an editor's backup): the
 * key is deleted, and its node becomes the scratch file, since the kernel
 * now knows that inode by the new name.
 */
static int stash_value(struct kvfs *fs, struct end *src, struct end *dst)
{
	struct kv_buf text = {0};
	int r = key_info_render(&src->ki);
	if (r == 0)
		r = kv_buf_append(&text, src->ki.rendering.data,
				  src->ki.rendering.len);
	if (r == 0)
		r = ops_delete_key(fs, src->key.data, src->key.len);
	struct node *n = src->node;
	if (r == 0) {
		drop_node(fs, dst->node);
		if (n)
			r = node_rekey(fs, n, NODE_SCRATCH, dst->key.data,
				       dst->key.len, dst->name);
		else if (!(n = node_get(fs, NODE_SCRATCH, dst->key.data,
					 dst->key.len, dst->name)))
			r = -ENOMEM;
	}
	if (r < 0) {
		kv_buf_free(&text);
		return r;
	}
	fs->n_in_memory++;
	kv_buf_free(&n->scratch);
	n->scratch = text;
	clock_gettime(CLOCK_REALTIME, &n->scratch_mtime);
	return 0;
}

static int rename_file(struct kvfs *fs, struct end *src, struct end *dst,
		       unsigned flags)
{
	if (dst->kind == NODE_DIR)
		return -EISDIR;
	if (dst->exists && (flags & RENAME_NOREPLACE))
		return -EEXIST;
	bool same = src->kind != NODE_SCRATCH && dst->kind != NODE_SCRATCH &&
		    src->key.len == dst->key.len &&
		    memcmp(src->key.data, dst->key.data, src->key.len) == 0;
	if (same || (src->kind == NODE_SCRATCH && src->node == dst->node))
		return 0;
	struct node *n = src->node;
	struct node *replaced = dst->node;
	int r;

	if (dst->kind == NODE_SCRATCH) {
		if (src->kind == NODE_SCRATCH) {
			drop_node(fs, replaced);
			return node_rekey(fs, n, NODE_SCRATCH, dst->key.data,
					  dst->key.len, dst->name);
		}
		if (n && n->pending)
			return -EBUSY;
		r = stash_value(fs, src, dst);
		if (r == 0)
			ops_keep_dir(fs, src->dir->key.data,
				     src->dir->key.len);
		return r;
	}

	if (src->kind == NODE_SCRATCH)
		r = save_scratch(fs, src, dst);
	else if (n && n->pending)
		r = dst->ki.has_value ? ops_delete_key(fs, dst->key.data,
						     dst->key.len)
				       : 0;
	else
		r = move_value(fs, src, dst);
	if (r < 0)
		return r;

	if (replaced && replaced != n)
		drop_node(fs, replaced);
	if (n && src->kind == NODE_SCRATCH) {
		fs->n_in_memory--;
		kv_buf_free(&n->scratch);
	}
	if (n)
		r = node_rekey(fs, n, dst->kind, dst->key.data, dst->key.len,
			       NULL);
	if (src->kind != NODE_SCRATCH && src->kind != NODE_VALUE)
		ops_keep_dir(fs, src->dir->key.data, src->dir->key.len);
	return r;
}

static int rename_locked(struct kvfs *fs, struct node *sdir, const char *name,
			 struct node *ddir, const char *newname,
			 unsigned flags)
{
	if (fs->opt.read_only)
		return -EROFS;
	if (flags & ~RENAME_NOREPLACE)
		return -EINVAL;
	struct end src = {0}, dst = {0};
	int r = end_resolve(fs, sdir, name, &src);
	if (r == -EINVAL)
		r = -ENOENT;
	if (r == 0 && !src.exists)
		r = -ENOENT;
	if (r == 0)
		r = end_resolve(fs, ddir, newname, &dst);
	if (r == 0 && dst.exists && (flags & RENAME_NOREPLACE))
		r = -EEXIST;
	if (r == 0)
		r = src.kind == NODE_DIR ? rename_dir(fs, &src, &dst)
					 : rename_file(fs, &src, &dst, flags);
	end_free(&src);
	end_free(&dst);
	return r;
}

void kvfs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		 fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct kvfs *fs = fuse_req_userdata(req);
	pthread_mutex_lock(&fs->lock);
	struct node *sdir = node_by_ino(fs, parent);
	struct node *ddir = node_by_ino(fs, newparent);
	int r = !sdir || !ddir ? -ENOENT
		: sdir->kind == NODE_LIST || ddir->kind == NODE_LIST
			? -EPERM
			: rename_locked(fs, sdir, name, ddir, newname, flags);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_err(req, -r);
}
