/*
 * daemon_pointers.c — pointer lists in the mount (kvfs-spec §6,
 * docs/pointers.md): a key holding a list is a directory (NODE_LIST) of
 * symlinks (NODE_LINK), one per ID, and ln -s, rm and rmdir edit the list
 * in checked commits that are retried when another process changed it.
 * Callers hold fs->lock, except in the FUSE operations defined here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

#include "daemon.h"
#include "name.h"
#include "pointers.h"

enum {
	/* Lists kept decoded: `ls -l` of a list looks each link up. */
	CACHE_SLOTS = 16,
	/* Edits retried after another writer changed the list; each retry
	 * means that writer committed meanwhile, so this is never reached
	 * while the other side makes progress. */
	EDIT_TRIES = 100,
};

/* The view of one key's value, for as long as its versionstamp stays. */
struct cached_view {
	struct kv_buf key;
	uint8_t vs[KV_VERSIONSTAMP_LEN];
	bool used;
	bool is_list;
	const struct kvfs_ptr_rule *rule;
	struct kvfs_ptr_list list;
	uint64_t tick;
	/* Known to be the key's list, with nothing below it, while the
	 * store's data version is version (and until it expires): lookups
	 * of a long list's links then skip reading the value again. */
	bool current;
	uint64_t version;
	int64_t expires_at_ms;
};

struct ptr_state {
	struct kvfs_ptr_rules rules; /* the mount's, then the database's */
	char *mountpoint;	     /* absolute, for absolute ln -s targets */
	struct cached_view cache[CACHE_SLOTS];
	uint64_t tick;
};

/* ---- rules ----------------------------------------------------------- */

static int add_db_rules(struct kvfs *fs, struct ptr_state *p)
{
	struct kv_buf text = {0};
	int r = kv_store_meta_get(fs->store, KVFS_PTR_META, &text);
	if (r == 0)
		r = kvfs_ptr_rules_parse((const char *)text.data, text.len,
					 &p->rules);
	if (r == -EINVAL)
		fprintf(stderr, "kvfs mount: the pointer rules stored in the "
			"database do not parse (see kvfs pointers ls)\n");
	kv_buf_free(&text);
	return r == -ENOENT ? 0 : r;
}

int ptr_init(struct kvfs *fs, const char *rules, const char *mountpoint)
{
	struct ptr_state *p = calloc(1, sizeof(*p));
	int r = p ? 0 : -ENOMEM;
	if (r == 0 && rules) {
		r = kvfs_ptr_rules_parse(rules, strlen(rules), &p->rules);
		if (r == -EINVAL)
			fprintf(stderr, "kvfs mount: bad pointers rule in "
				"'%s'\n", rules);
	}
	if (r == 0)
		r = add_db_rules(fs, p);
	if (r == 0 && !(p->mountpoint = realpath(mountpoint, NULL))) {
		r = -errno;
		fprintf(stderr, "kvfs mount: %s: %s\n", mountpoint,
			strerror(errno));
	}
	fs->ptr = p;
	return r;
}

void ptr_destroy(struct kvfs *fs)
{
	struct ptr_state *p = fs->ptr;
	if (!p)
		return;
	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		kv_buf_free(&p->cache[i].key);
		kvfs_ptr_list_free(&p->cache[i].list);
	}
	kvfs_ptr_rules_free(&p->rules);
	free(p->mountpoint);
	free(p);
	fs->ptr = NULL;
}

/* ---- the view of a value, cached by versionstamp ------------------------ */

static void log_skipped(const struct kv_entry *e,
			const struct kvfs_ptr_list *l)
{
	struct kv_buf path = {0}, report = {0};
	if (kvfs_key_to_path(e->key, e->key_len, &path) == 0 &&
	    kvfs_ptr_list_report(l, &report) == 0) {
		for (char *line = (char *)report.data, *nl; line && *line;
		     line = nl + 1) {
			nl = strchr(line, '\n');
			*nl = 0;
			syslog(LOG_WARNING,
			       "kvfs: pointer list %s: element %s (not shown)",
			       (const char *)path.data, line);
		}
	}
	kv_buf_free(&path);
	kv_buf_free(&report);
}

static struct cached_view *cache_find(struct ptr_state *p,
				      const struct kv_entry *e)
{
	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		struct cached_view *c = &p->cache[i];
		if (c->used && c->key.len == e->key_len &&
		    memcmp(c->key.data, e->key, e->key_len) == 0 &&
		    memcmp(c->vs, e->versionstamp, KV_VERSIONSTAMP_LEN) == 0)
			return c;
	}
	return NULL;
}

static struct cached_view *cache_victim(struct ptr_state *p)
{
	struct cached_view *v = &p->cache[0];
	for (size_t i = 1; i < CACHE_SLOTS; i++)
		if (!p->cache[i].used ||
		    (v->used && p->cache[i].tick < v->tick))
			v = &p->cache[i];
	kvfs_ptr_list_free(&v->list);
	v->key.len = 0;
	v->used = false;
	v->current = false;
	return v;
}

/*
 * The view of a key's value, for a key with nothing below it: whether it is
 * a list, and the list. NULL when out of memory.
 */
static struct cached_view *view_of(struct kvfs *fs, const struct kv_entry *e)
{
	struct ptr_state *p = fs->ptr;
	struct cached_view *c = cache_find(p, e);
	if (!c) {
		c = cache_victim(p);
		c->rule = kvfs_ptr_rules_match(&p->rules, e->key, e->key_len);
		int r = kvfs_ptr_list_from_value(e->key, e->key_len,
						 e->encoding, e->value,
						 e->value_len, c->rule,
						 &c->list);
		if (r == -ENOMEM ||
		    kv_buf_append(&c->key, e->key, e->key_len) < 0)
			return NULL;
		memcpy(c->vs, e->versionstamp, KV_VERSIONSTAMP_LEN);
		c->is_list = r == 0;
		c->used = true;
		if (c->is_list && c->list.n_skipped)
			log_skipped(e, &c->list);
	}
	c->tick = ++p->tick;
	return c;
}

bool ptr_entry_is_list(struct kvfs *fs, const struct kv_entry *e)
{
	const struct cached_view *c = view_of(fs, e);
	return c && c->is_list;
}

static int has_children(struct kvfs *fs, const uint8_t *key, size_t len,
			bool *yes)
{
	struct kv_buf child = {0};
	bool v, c;
	int r = kv_store_next_child(fs->store, key, len, NULL, 0, &child, &v,
				    &c);
	kv_buf_free(&child);
	*yes = r == 0;
	return r == -ENOENT ? 0 : r;
}

bool ptr_key_is_list(struct kvfs *fs, const uint8_t *key, size_t len)
{
	struct kv_entry e;
	bool is_list = false;
	if (kv_store_get(fs->store, key, len, &e) == 0) {
		is_list = ptr_entry_is_list(fs, &e);
		kv_entry_free(&e);
	}
	return is_list;
}

/*
 * The list at key as it is now, with its entry (free it with
 * kv_entry_free()). The view stays valid until the next view_of(). Returns
 * 0, -ENOENT when the key holds no list (any more), or another error.
 */
static int load_list(struct kvfs *fs, const uint8_t *key, size_t len,
		     struct kv_entry *e, struct cached_view **out)
{
	bool has_value, below;
	int r = kv_store_lookup(fs->store, key, len, e, &has_value, &below);
	if (r == 0 && !has_value)
		r = -ENOENT;
	if (r < 0)
		return r;
	*out = below ? NULL : view_of(fs, e);
	if (!below && !*out)
		r = -ENOMEM;
	else if (below || !(*out)->is_list)
		r = -ENOENT;
	if (r < 0)
		kv_entry_free(e);
	return r;
}

/* The cached view that is current for key at the store's version. */
static struct cached_view *current_view(struct ptr_state *p,
					const uint8_t *key, size_t len,
					uint64_t version)
{
	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		struct cached_view *c = &p->cache[i];
		if (c->used && c->current && c->version == version &&
		    (c->expires_at_ms < 0 || now_ms() < c->expires_at_ms) &&
		    c->key.len == len && memcmp(c->key.data, key, len) == 0)
			return c;
	}
	return NULL;
}

/*
 * The list at key as it is now, for reading: load_list() without the
 * entry, and without reading the store again while nothing was committed.
 */
static int current_list(struct kvfs *fs, const uint8_t *key, size_t len,
			const struct cached_view **out)
{
	struct kv_entry e;
	struct cached_view *c;
	uint64_t version;
	int r = kv_store_data_version(fs->store, &version);
	if (r < 0)
		return r;
	c = current_view(fs->ptr, key, len, version);
	if (!c) {
		r = load_list(fs, key, len, &e, &c);
		if (r < 0)
			return r;
		c->current = true;
		c->version = version;
		c->expires_at_ms = e.expires_at_ms;
		kv_entry_free(&e);
	}
	c->tick = ++fs->ptr->tick;
	*out = c;
	return 0;
}

/* The entry named name of the list at key now. */
static int find_link(struct kvfs *fs, const uint8_t *key, size_t len,
		     const char *name, const struct kvfs_ptr_entry **out)
{
	const struct cached_view *c;
	int r = current_list(fs, key, len, &c);
	if (r < 0)
		return r;
	*out = kvfs_ptr_list_find(&c->list, name, strlen(name));
	return *out ? 0 : -ENOENT;
}

/* ---- nodes ------------------------------------------------------------- */

/* A link is shown with the mount's time, as directories are. */
static void link_stat(struct kvfs *fs, const struct node *n,
		      const struct kvfs_ptr_entry *ent, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_mode = S_IFLNK | 0777;
	st->st_nlink = 1;
	st->st_uid = fs->opt.uid;
	st->st_gid = fs->opt.gid;
	st->st_size = (off_t)ent->link_len;
	st->st_blksize = 4096;
	st->st_atim = st->st_mtim = st->st_ctim = fs->mount_time;
}

int ptr_stat_link(struct kvfs *fs, struct node *n, struct stat *st)
{
	const struct kvfs_ptr_entry *ent;
	int r = n->attached ? find_link(fs, n->key.data, n->key.len,
					n->scratch_name, &ent)
			    : -ENOENT;
	if (r == 0)
		link_stat(fs, n, ent, st);
	return r;
}

/* The entry of the link name in list, as a node with its attributes. */
static int link_entry(struct kvfs *fs, struct node *list, const char *name,
		      struct fuse_entry_param *e)
{
	const struct kvfs_ptr_entry *ent;
	struct node *n;
	struct stat st;
	int r = find_link(fs, list->key.data, list->key.len, name, &ent);
	if (r < 0)
		return r;
	n = node_get(fs, NODE_LINK, list->key.data, list->key.len, name);
	if (!n)
		return -ENOMEM;
	link_stat(fs, n, ent, &st);
	ops_fill_entry(fs, n, &st, e);
	return 0;
}

int ptr_lookup(struct kvfs *fs, struct node *list, const char *name,
	       struct fuse_entry_param *e)
{
	struct stat st;
	struct node *n;
	int r;
	if (strcmp(name, KVFS_NAME_VALUE) != 0)
		return link_entry(fs, list, name, e);
	n = node_get(fs, NODE_VALUE, list->key.data, list->key.len, NULL);
	r = n ? ops_stat_node(fs, n, &st) : -ENOMEM;
	if (r == 0)
		ops_fill_entry(fs, n, &st, e);
	return r;
}

int ptr_list_children(struct kvfs *fs, struct node *list,
		      struct child_list *out)
{
	const struct cached_view *c;
	int r = current_list(fs, list->key.data, list->key.len, &c);
	*out = (struct child_list){0};
	if (r < 0)
		return r;
	for (size_t i = 0; i < c->list.n && r == 0; i++)
		r = child_list_add(out, list->key.data, list->key.len,
				   c->list.entries[i].name, NODE_LINK);
	if (r < 0)
		child_list_free(out);
	return r;
}

int ptr_skipped_xattr(struct kvfs *fs, struct node *list, struct kv_buf *out)
{
	const struct cached_view *c;
	int r = current_list(fs, list->key.data, list->key.len, &c);
	if (r == 0)
		r = kvfs_ptr_list_report(&c->list, out);
	return r == -ENOENT ? -ENODATA : r;
}

void ptr_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct kvfs *fs = fuse_req_userdata(req);
	const struct kvfs_ptr_entry *ent;
	char *link = NULL;
	pthread_mutex_lock(&fs->lock);
	struct node *n = node_by_ino(fs, ino);
	int r = !n ? -ENOENT : n->kind != NODE_LINK ? -EINVAL : 0;
	if (r == 0)
		r = n->attached ? find_link(fs, n->key.data, n->key.len,
					    n->scratch_name, &ent)
				: -ENOENT;
	if (r == 0 && !(link = strdup(ent->link)))
		r = -ENOMEM;
	pthread_mutex_unlock(&fs->lock);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_readlink(req, link);
	free(link);
}

/* ---- edits --------------------------------------------------------------- */

typedef int (*edit_fn)(const uint8_t *value, size_t len,
		       const struct kvfs_ptr_rule *rule, const uint8_t *target,
		       size_t target_len, struct kv_buf *out);

/* What an edit changes: the list at key, by fn with target. */
struct edit {
	const uint8_t *key;
	size_t key_len;
	edit_fn fn;
	const uint8_t *target;
	size_t target_len;
	bool may_create; /* the key may have no value yet (a new list) */
};

/* Commit value (NULL: delete) at key if it still has versionstamp vs
 * (NULL: if it has no value). */
static int commit_checked(struct kvfs *fs, const uint8_t *key, size_t key_len,
			  const uint8_t *vs, const struct kv_buf *value,
			  int64_t expires_at_ms)
{
	struct kv_check check = {key, key_len, vs};
	struct kv_mutation m = {
		.type = value ? KV_MUT_SET : KV_MUT_DELETE,
		.key = key,
		.key_len = key_len,
		.encoding = KV_ENC_V8,
		.value = value ? value->data : NULL,
		.value_len = value ? value->len : 0,
		.expire_in_ms = ops_expire_in(expires_at_ms),
	};
	struct kv_atomic a = {&check, 1, &m, 1};
	uint8_t stamp[KV_VERSIONSTAMP_LEN];
	int r = kv_store_commit(fs->store, &a, stamp);
	if (r == 0)
		refresh_own_commit(fs, stamp);
	if (r == 0 && value) {
		times_written(fs, key, key_len, stamp);
		nodes_committed(fs, key, key_len, stamp);
	}
	return r == -EFBIG ? -ENOSPC : r;
}

/* 0 when the key holds no value, so that a new list may be made there;
 * -ENOENT when it holds a value that is no list. */
static int no_value(struct kvfs *fs, const uint8_t *key, size_t len)
{
	struct kv_entry e;
	int r = kv_store_get(fs->store, key, len, &e);
	if (r == 0) {
		kv_entry_free(&e);
		return -ENOENT;
	}
	return r == -ENOENT ? 0 : r;
}

/* One try of an edit on the list as it is now. */
static int edit_once(struct kvfs *fs, const struct edit *ed)
{
	struct kv_entry e;
	struct cached_view *c = NULL;
	struct kv_buf value = {0};
	int r = load_list(fs, ed->key, ed->key_len, &e, &c);
	bool exists = r == 0;
	const struct kvfs_ptr_rule *rule;
	if (r == -ENOENT && ed->may_create)
		r = no_value(fs, ed->key, ed->key_len);
	if (r < 0)
		return r;
	rule = exists ? c->rule
		      : kvfs_ptr_rules_match(&fs->ptr->rules, ed->key,
					     ed->key_len);
	r = ed->fn(exists ? e.value : NULL, exists ? e.value_len : 0, rule,
		   ed->target, ed->target_len, &value);
	if (r == 0 && value.len > kv_store_max_value(fs->store))
		r = -ENOSPC;
	if (r == 0)
		r = commit_checked(fs, ed->key, ed->key_len,
				   exists ? e.versionstamp : NULL, &value,
				   exists ? e.expires_at_ms : -1);
	kv_buf_free(&value);
	if (exists)
		kv_entry_free(&e);
	return r;
}

/*
 * Make an edit in one checked commit, reading the list again and redoing
 * the edit when another process changed it in between.
 */
static int edit_list(struct kvfs *fs, const struct edit *ed)
{
	if (fs->opt.read_only)
		return -EROFS;
	for (int i = 0; i < EDIT_TRIES; i++) {
		int r = edit_once(fs, ed);
		if (r != -ECANCELED)
			return r;
	}
	return -EAGAIN;
}

int ptr_unlink(struct kvfs *fs, struct node *list, const char *name)
{
	const struct kvfs_ptr_entry *ent;
	struct kv_buf target = {0};
	int r = strcmp(name, KVFS_NAME_VALUE) == 0
			? -EPERM
			: find_link(fs, list->key.data, list->key.len, name,
				    &ent);
	if (r == 0)
		r = kv_buf_append(&target, ent->target, ent->target_len);
	if (r == 0) {
		struct edit ed = {list->key.data, list->key.len,
				  kvfs_ptr_remove, target.data, target.len,
				  false};
		r = edit_list(fs, &ed);
	}
	struct node *n = r == 0 ? node_find(fs, NODE_LINK, list->key.data,
					    list->key.len, name)
				: NULL;
	if (n)
		node_detach(fs, n);
	kv_buf_free(&target);
	return r;
}

/*
 * The list a symlink goes into: a list directory, or an empty directory
 * (made with mkdir) at a key that a rule makes a list. Sets *rule.
 */
static int symlink_list(struct kvfs *fs, struct node *dir,
			const struct kvfs_ptr_rule **rule)
{
	const struct cached_view *c;
	struct key_info ki;
	int r;
	if (dir->kind == NODE_LIST) {
		r = current_list(fs, dir->key.data, dir->key.len, &c);
		if (r == 0)
			*rule = c->rule;
		return r;
	}
	*rule = kvfs_ptr_rules_match(&fs->ptr->rules, dir->key.data,
				     dir->key.len);
	if (dir->kind != NODE_DIR || !*rule)
		return -EPERM;
	r = key_info_load(fs, dir->key.data, dir->key.len, &ki);
	if (r == 0 && (ki.has_value || ki.has_children ||
		       in_memory_children(fs, dir->key.data, dir->key.len)))
		r = -EPERM;
	key_info_free(&ki);
	return r;
}

static int symlink_locked(struct kvfs *fs, struct node *dir, const char *link,
			  const char *name, struct fuse_entry_param *e)
{
	const struct kvfs_ptr_rule *rule = NULL;
	struct kv_buf target = {0};
	int r = fs->opt.read_only ? -EROFS : symlink_list(fs, dir, &rule);
	if (r == 0)
		r = kvfs_ptr_link_target(dir->key.data, dir->key.len, rule,
					 name, link, strlen(link),
					 fs->ptr->mountpoint, &target);
	if (r == 0) {
		struct edit ed = {dir->key.data, dir->key.len, kvfs_ptr_append,
				  target.data, target.len,
				  dir->kind == NODE_DIR};
		r = edit_list(fs, &ed);
	}
	/* The empty directory is now the list's directory. */
	if (r == 0 && dir->kind == NODE_DIR) {
		empty_dir_remove(fs, dir->key.data, dir->key.len);
		r = node_rekey(fs, dir, NODE_LIST, dir->key.data,
			       dir->key.len, NULL);
	}
	if (r == 0)
		r = link_entry(fs, dir, name, e);
	kv_buf_free(&target);
	return r;
}

void ptr_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		 const char *name)
{
	struct kvfs *fs = fuse_req_userdata(req);
	struct fuse_entry_param e;
	pthread_mutex_lock(&fs->lock);
	struct node *dir = node_by_ino(fs, parent);
	int r = dir ? symlink_locked(fs, dir, link, name, &e) : -ENOENT;
	pthread_mutex_unlock(&fs->lock);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_entry(req, &e);
}

/* Delete the key of an empty list, checked against what was read. */
static int delete_empty_list(struct kvfs *fs, const uint8_t *key, size_t len)
{
	for (int i = 0; i < EDIT_TRIES; i++) {
		struct kv_entry e;
		bool below;
		int r = kv_store_get(fs->store, key, len, &e);
		if (r < 0)
			return r == -ENOENT ? PTR_NOT_A_LIST : r;
		r = has_children(fs, key, len, &below);
		if (r == 0)
			r = below ? PTR_NOT_A_LIST
				  : kvfs_ptr_empty_array(e.encoding, e.value,
							 e.value_len);
		if (r == -ENOTDIR)
			r = PTR_NOT_A_LIST;
		if (r == 0)
			r = fs->opt.read_only ? -EROFS
					      : commit_checked(fs, key, len,
							       e.versionstamp,
							       NULL, -1);
		kv_entry_free(&e);
		if (r != -ECANCELED)
			return r;
	}
	return -EAGAIN;
}

int ptr_rmdir(struct kvfs *fs, struct node *dir, const char *name)
{
	struct kv_buf key = {0};
	int r = dir->kind == NODE_DIR ? ops_child_key(fs, dir, name, &key)
				      : PTR_NOT_A_LIST;
	if (r == -EINVAL)
		r = PTR_NOT_A_LIST;
	if (r == 0)
		r = delete_empty_list(fs, key.data, key.len);
	struct node *n = r == 0 ? node_find(fs, NODE_LIST, key.data, key.len,
					    NULL)
				: NULL;
	if (n)
		node_detach(fs, n);
	if (r == 0)
		ops_keep_dir(fs, dir->key.data, dir->key.len);
	kv_buf_free(&key);
	return r;
}
