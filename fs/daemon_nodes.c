/*
 * daemon_nodes.c — the daemon's memory: the inode table, the renderings
 * kept on nodes, the times of keys, and the empty directories made with
 * mkdir. Callers hold fs->lock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "daemon.h"

static uint64_t hash_bytes(const uint8_t *p, size_t len, uint64_t h)
{
	/* FNV-1a: the keys come from the store, not from an attacker who
	 * could target the table with collisions any better than with
	 * plain writes. */
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t node_hash(enum node_kind kind, const uint8_t *key,
			  size_t key_len, const char *name)
{
	uint64_t h = hash_bytes(key, key_len, 0xcbf29ce484222325ull ^ kind);
	if (name)
		h = hash_bytes((const uint8_t *)name, strlen(name), h);
	return h;
}

int nodes_init(struct kvfs *fs)
{
	fs->buckets = 4096;
	fs->by_ino = calloc(fs->buckets, sizeof(*fs->by_ino));
	fs->by_key = calloc(fs->buckets, sizeof(*fs->by_key));
	fs->times_buckets = 4096;
	fs->times = calloc(fs->times_buckets, sizeof(*fs->times));
	if (!fs->by_ino || !fs->by_key || !fs->times)
		return -ENOMEM;
	fs->next_ino = FUSE_ROOT_ID;
	fs->known_epoch = 1;
	struct node *root = node_get(fs, NODE_DIR, NULL, 0, NULL);
	if (!root)
		return -ENOMEM;
	root->nlookup = 1;
	return 0;
}

/* fs->in_memory: the nodes a directory's in-memory children are among. */
static void in_memory_add(struct kvfs *fs, struct node *n)
{
	if (n->in_memory_listed)
		return;
	n->in_memory_listed = true;
	n->in_memory_prev = NULL;
	n->in_memory_next = fs->in_memory;
	if (fs->in_memory)
		fs->in_memory->in_memory_prev = n;
	fs->in_memory = n;
}

static void in_memory_remove(struct kvfs *fs, struct node *n)
{
	if (!n->in_memory_listed)
		return;
	if (n->in_memory_prev)
		n->in_memory_prev->in_memory_next = n->in_memory_next;
	else
		fs->in_memory = n->in_memory_next;
	if (n->in_memory_next)
		n->in_memory_next->in_memory_prev = n->in_memory_prev;
	n->in_memory_listed = false;
	n->in_memory_prev = n->in_memory_next = NULL;
}

static void node_free(struct node *n)
{
	kv_buf_free(&n->key);
	kv_buf_free(&n->scratch);
	kv_buf_free(&n->rendered);
	free(n->scratch_name);
	free(n);
}

void nodes_destroy(struct kvfs *fs)
{
	for (size_t b = 0; fs->by_ino && b < fs->buckets; b++) {
		struct node *n = fs->by_ino[b];
		while (n) {
			struct node *next = n->next_ino;
			node_free(n);
			n = next;
		}
	}
	for (size_t b = 0; fs->times && b < fs->times_buckets; b++) {
		struct key_times *t = fs->times[b];
		while (t) {
			struct key_times *next = t->next;
			kv_buf_free(&t->key);
			free(t);
			t = next;
		}
	}
	while (fs->empty_dirs) {
		struct empty_dir *d = fs->empty_dirs;
		fs->empty_dirs = d->next;
		kv_buf_free(&d->key);
		free(d);
	}
	while (fs->reported) {
		struct reported_row *b = fs->reported;
		fs->reported = b->next;
		kv_buf_free(&b->key);
		free(b);
	}
	/* Files still open when the session ended (SIGTERM, or a lazy
	 * unmount whose last RELEASE never came): their content was
	 * committed by then. */
	while (fs->handles) {
		struct handle *h = fs->handles;
		fs->handles = h->next;
		ops_handle_discard(h);
	}
	kv_buf_free(&fs->missed_key);
	free(fs->by_ino);
	free(fs->by_key);
	free(fs->times);
}

struct node *node_by_ino(struct kvfs *fs, fuse_ino_t ino)
{
	for (struct node *n = fs->by_ino[ino % fs->buckets]; n;
	     n = n->next_ino)
		if (n->ino == ino)
			return n;
	return NULL;
}

static bool node_matches(const struct node *n, enum node_kind kind,
			 const uint8_t *key, size_t key_len, const char *name)
{
	if (n->kind != kind || n->key.len != key_len)
		return false;
	if (key_len && memcmp(n->key.data, key, key_len) != 0)
		return false;
	if (!name != !n->scratch_name)
		return false;
	return !name || strcmp(name, n->scratch_name) == 0;
}

struct node *node_find(struct kvfs *fs, enum node_kind kind,
		       const uint8_t *key, size_t key_len, const char *name)
{
	uint64_t h = node_hash(kind, key, key_len, name);
	for (struct node *n = fs->by_key[h % fs->buckets]; n; n = n->next_key)
		if (node_matches(n, kind, key, key_len, name))
			return n;
	return NULL;
}

static void key_link(struct kvfs *fs, struct node *n)
{
	uint64_t h = node_hash(n->kind, n->key.data, n->key.len,
			       n->scratch_name);
	struct node **head = &fs->by_key[h % fs->buckets];
	n->next_key = *head;
	*head = n;
	n->attached = true;
}

static void key_unlink(struct kvfs *fs, struct node *n)
{
	if (!n->attached)
		return;
	fs->known_epoch++;
	uint64_t h = node_hash(n->kind, n->key.data, n->key.len,
			       n->scratch_name);
	for (struct node **p = &fs->by_key[h % fs->buckets]; *p;
	     p = &(*p)->next_key) {
		if (*p == n) {
			*p = n->next_key;
			break;
		}
	}
	n->next_key = NULL;
	n->attached = false;
}

struct node *node_get(struct kvfs *fs, enum node_kind kind,
		      const uint8_t *key, size_t key_len, const char *name)
{
	struct node *n = node_find(fs, kind, key, key_len, name);
	if (n)
		return n;
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->kind = kind;
	if (kv_buf_append(&n->key, key, key_len) < 0 ||
	    (name && !(n->scratch_name = strdup(name)))) {
		node_free(n);
		return NULL;
	}
	n->ino = fs->next_ino++;
	struct node **head = &fs->by_ino[n->ino % fs->buckets];
	n->next_ino = *head;
	*head = n;
	key_link(fs, n);
	fs->n_nodes++;
	if (kind == NODE_SCRATCH)
		in_memory_add(fs, n);
	return n;
}

void node_detach(struct kvfs *fs, struct node *n)
{
	key_unlink(fs, n);
}

int node_rekey(struct kvfs *fs, struct node *n, enum node_kind kind,
	       const uint8_t *key, size_t key_len, const char *name)
{
	struct kv_buf k = {0};
	char *nm = NULL;
	if (kv_buf_append(&k, key, key_len) < 0 ||
	    (name && !(nm = strdup(name)))) {
		kv_buf_free(&k);
		return -ENOMEM;
	}
	bool was_attached = n->attached;
	key_unlink(fs, n);
	kv_buf_free(&n->key);
	free(n->scratch_name);
	n->kind = kind;
	n->key = k;
	n->scratch_name = nm;
	if (was_attached)
		key_link(fs, n);
	if (kind == NODE_SCRATCH)
		in_memory_add(fs, n);
	return 0;
}

static void node_release_if_unused(struct kvfs *fs, struct node *n)
{
	if (n->nlookup || n->open_count || n->ino == FUSE_ROOT_ID)
		return;
	/* A scratch file's content lives in its node: keep it while the
	 * name exists, even when the kernel forgets the inode. */
	if (n->kind == NODE_SCRATCH && n->attached)
		return;
	key_unlink(fs, n);
	for (struct node **p = &fs->by_ino[n->ino % fs->buckets]; *p;
	     p = &(*p)->next_ino) {
		if (*p == n) {
			*p = n->next_ino;
			break;
		}
	}
	fs->n_nodes--;
	in_memory_remove(fs, n);
	rendered_drop(fs, n);
	node_told(fs, n);
	node_free(n);
}

void node_forget(struct kvfs *fs, struct node *n, uint64_t nlookup)
{
	n->nlookup = nlookup > n->nlookup ? 0 : n->nlookup - nlookup;
	node_release_if_unused(fs, n);
}

void node_close(struct kvfs *fs, struct node *n)
{
	if (n->open_count)
		n->open_count--;
	node_release_if_unused(fs, n);
}

void nodes_each(struct kvfs *fs,
		void (*fn)(struct kvfs *, struct node *, void *), void *arg)
{
	for (size_t b = 0; b < fs->buckets; b++) {
		struct node *n = fs->by_ino[b];
		while (n) {
			struct node *next = n->next_ino;
			fn(fs, n, arg);
			n = next;
		}
	}
}

void node_set_pending(struct kvfs *fs, struct node *n, bool pending)
{
	if (n->pending == pending)
		return;
	n->pending = pending;
	if (pending) {
		fs->n_in_memory++;
		in_memory_add(fs, n);
	} else {
		fs->n_in_memory--;
	}
}

void nodes_each_in_memory(struct kvfs *fs,
			  void (*fn)(struct kvfs *, struct node *, void *),
			  void *arg)
{
	/* A rename clears pending and turns scratch nodes into files
	 * without telling this list: such nodes leave it here. */
	struct node *n = fs->in_memory;
	while (n) {
		struct node *next = n->in_memory_next;
		if (n->pending || n->kind == NODE_SCRATCH)
			fn(fs, n, arg);
		else
			in_memory_remove(fs, n);
		n = next;
	}
}

void nodes_committed(struct kvfs *fs, const uint8_t *key, size_t key_len,
		     const uint8_t vs[KV_VERSIONSTAMP_LEN])
{
	static const enum node_kind kinds[] = {NODE_FILE, NODE_VALUE};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(*kinds); i++) {
		struct node *n = node_find(fs, kinds[i], key, key_len, NULL);
		if (!n)
			continue;
		n->seen_exists = true;
		memcpy(n->seen_vs, vs, KV_VERSIONSTAMP_LEN);
		rendered_drop(fs, n);
		if (!n->stale) {
			n->stale = true;
			fs->n_stale++;
		}
	}
}

void node_told(struct kvfs *fs, struct node *n)
{
	if (n->stale) {
		n->stale = false;
		fs->n_stale--;
	}
}

/* ---- renderings --------------------------------------------------------- */

/* What renderings may hold in all: a cold read of a file needs its own
 * for a moment only, and a find over many keys must not grow the daemon. */
enum { RENDERED_BUDGET = 1 << 20 };

static void rendered_unlink(struct kvfs *fs, struct node *n)
{
	if (n->rendered_older)
		n->rendered_older->rendered_newer = n->rendered_newer;
	else
		fs->rendered_oldest = n->rendered_newer;
	if (n->rendered_newer)
		n->rendered_newer->rendered_older = n->rendered_older;
	else
		fs->rendered_newest = n->rendered_older;
	n->rendered_older = n->rendered_newer = NULL;
	fs->rendered_bytes -= n->rendered.cap;
}

void rendered_drop(struct kvfs *fs, struct node *n)
{
	if (!n->rendered.data)
		return;
	rendered_unlink(fs, n);
	kv_buf_free(&n->rendered);
}

bool rendered_take(struct kvfs *fs, struct node *n,
		   const uint8_t vs[KV_VERSIONSTAMP_LEN], struct kv_buf *text,
		   bool *writable)
{
	if (!n->rendered.data)
		return false;
	if (memcmp(n->rendered_vs, vs, KV_VERSIONSTAMP_LEN) != 0) {
		rendered_drop(fs, n);
		return false;
	}
	rendered_unlink(fs, n);
	kv_buf_free(text);
	*text = n->rendered;
	*writable = n->rendered_writable;
	n->rendered = (struct kv_buf){0};
	return true;
}

void rendered_keep(struct kvfs *fs, struct node *n,
		   const uint8_t vs[KV_VERSIONSTAMP_LEN], struct kv_buf *text,
		   bool writable)
{
	/* An empty rendering has no buffer to tell it is there. */
	if (!text->data || text->cap > RENDERED_BUDGET / 4) {
		kv_buf_free(text);
		return;
	}
	rendered_drop(fs, n);
	while (fs->rendered_oldest &&
	       fs->rendered_bytes + text->cap > RENDERED_BUDGET)
		rendered_drop(fs, fs->rendered_oldest);
	n->rendered = *text;
	*text = (struct kv_buf){0};
	memcpy(n->rendered_vs, vs, KV_VERSIONSTAMP_LEN);
	n->rendered_writable = writable;
	n->rendered_older = fs->rendered_newest;
	if (fs->rendered_newest)
		fs->rendered_newest->rendered_newer = n;
	else
		fs->rendered_oldest = n;
	fs->rendered_newest = n;
	fs->rendered_bytes += n->rendered.cap;
}

/* ---- times ------------------------------------------------------------ */

static struct key_times **times_slot(struct kvfs *fs, const uint8_t *key,
				     size_t key_len)
{
	uint64_t h = hash_bytes(key, key_len, 0xcbf29ce484222325ull);
	struct key_times **p = &fs->times[h % fs->times_buckets];
	while (*p && !((*p)->key.len == key_len &&
		       (key_len == 0 || memcmp((*p)->key.data, key, key_len) == 0)))
		p = &(*p)->next;
	return p;
}

struct key_times *times_get(struct kvfs *fs, const uint8_t *key,
			    size_t key_len,
			    const uint8_t vs[KV_VERSIONSTAMP_LEN],
			    uint64_t version)
{
	static const struct key_times none;
	struct key_times **p = times_slot(fs, key, key_len);
	struct key_times *t = *p;
	if (t && memcmp(t->vs, vs, KV_VERSIONSTAMP_LEN) == 0)
		return t;
	if (!t && version <= fs->mount_version) {
		/* Unchanged since the mount: nothing to remember. */
		static __thread struct key_times at_mount;
		at_mount = none;
		at_mount.mtime = at_mount.atime = fs->mount_time;
		return &at_mount;
	}
	if (!t) {
		t = calloc(1, sizeof(*t));
		if (!t || kv_buf_append(&t->key, key, key_len) < 0) {
			free(t);
			static __thread struct key_times fallback;
			fallback = none;
			clock_gettime(CLOCK_REALTIME, &fallback.mtime);
			fallback.atime = fallback.mtime;
			return &fallback;
		}
		*p = t;
	}
	/* The value changed since we last looked: it was written now. */
	memcpy(t->vs, vs, KV_VERSIONSTAMP_LEN);
	clock_gettime(CLOCK_REALTIME, &t->mtime);
	t->atime = t->mtime;
	t->mode = 0;
	return t;
}

struct key_times *times_own(struct kvfs *fs, struct key_times *t,
			    const uint8_t *key, size_t key_len,
			    const uint8_t vs[KV_VERSIONSTAMP_LEN])
{
	struct key_times **p = times_slot(fs, key, key_len);
	if (*p)
		return *p;
	struct key_times *own = calloc(1, sizeof(*own));
	if (!own || kv_buf_append(&own->key, key, key_len) < 0) {
		free(own);
		return NULL;
	}
	memcpy(own->vs, vs, KV_VERSIONSTAMP_LEN);
	own->mtime = t->mtime;
	own->atime = t->atime;
	own->mode = t->mode;
	*p = own;
	return own;
}

void times_written(struct kvfs *fs, const uint8_t *key, size_t key_len,
		   const uint8_t vs[KV_VERSIONSTAMP_LEN])
{
	/* A new versionstamp makes times_get stamp the key with now. */
	times_get(fs, key, key_len, vs, UINT64_MAX);
}

uint64_t vs_version(const uint8_t vs[KV_VERSIONSTAMP_LEN])
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | vs[i];
	return v;
}

int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void times_carry(struct kvfs *fs, const uint8_t *from, size_t from_len,
		 const uint8_t from_vs[KV_VERSIONSTAMP_LEN], const uint8_t *to,
		 size_t to_len, const uint8_t to_vs[KV_VERSIONSTAMP_LEN])
{
	struct key_times *t = times_get(fs, from, from_len, from_vs, 0);
	struct key_times saved = *t;
	struct key_times **p = times_slot(fs, from, from_len);
	if (*p) {
		struct key_times *old = *p;
		*p = old->next;
		kv_buf_free(&old->key);
		free(old);
	}
	struct key_times *own = times_own(fs, &saved, to, to_len, to_vs);
	if (!own)
		return;
	memcpy(own->vs, to_vs, KV_VERSIONSTAMP_LEN);
	own->mtime = saved.mtime;
	own->atime = saved.atime;
	own->mode = saved.mode;
}

void times_apply_set(struct kvfs *fs, struct node *n, const uint8_t *key,
		     size_t key_len)
{
	/* times_written made the entry when the commit succeeded. */
	struct key_times *t = *times_slot(fs, key, key_len);
	if (t && n->times_set) {
		t->mtime = n->set_mtime;
		t->atime = n->set_atime;
	}
	if (t && n->set_mode)
		t->mode = n->set_mode;
	n->times_set = false;
	n->set_mode = 0;
}

/* ---- rows that are not Deno's ----------------------------------------- */

void report_bad_row(struct kvfs *fs, const uint8_t *key, size_t key_len,
		    const char *why)
{
	/* A list is enough: such rows are rare, and each is added once. */
	for (struct reported_row *b = fs->reported; b; b = b->next)
		if (b->key.len == key_len &&
		    memcmp(b->key.data, key, key_len) == 0)
			return;
	struct reported_row *b = calloc(1, sizeof(*b));
	char *hex = malloc(2 * key_len + 1);
	if (!b || !hex || kv_buf_append(&b->key, key, key_len) < 0) {
		free(b);
		free(hex);
		return;
	}
	for (size_t i = 0; i < key_len; i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	hex[2 * key_len] = 0;
	/* In the foreground syslog copies this to stderr (LOG_PERROR). */
	syslog(LOG_WARNING, "kvfs: the row of key 0x%s is not Deno's data: %s",
	       hex, why);
	free(hex);
	b->next = fs->reported;
	fs->reported = b;
}

/* ---- empty directories ------------------------------------------------ */

static struct empty_dir **empty_dir_slot(struct kvfs *fs, const uint8_t *key,
					 size_t key_len)
{
	struct empty_dir **p = &fs->empty_dirs;
	while (*p && !((*p)->key.len == key_len &&
		       (!key_len || memcmp((*p)->key.data, key, key_len) == 0)))
		p = &(*p)->next;
	return p;
}

bool empty_dir_has(struct kvfs *fs, const uint8_t *key, size_t key_len)
{
	return *empty_dir_slot(fs, key, key_len) != NULL;
}

int empty_dir_add(struct kvfs *fs, const uint8_t *key, size_t key_len)
{
	struct empty_dir **p = empty_dir_slot(fs, key, key_len);
	if (*p)
		return 0;
	struct empty_dir *d = calloc(1, sizeof(*d));
	if (!d || kv_buf_append(&d->key, key, key_len) < 0) {
		free(d);
		return -ENOMEM;
	}
	*p = d;
	return 0;
}

void empty_dir_remove(struct kvfs *fs, const uint8_t *key, size_t key_len)
{
	struct empty_dir **p = empty_dir_slot(fs, key, key_len);
	struct empty_dir *d = *p;
	if (!d)
		return;
	*p = d->next;
	kv_buf_free(&d->key);
	free(d);
}
