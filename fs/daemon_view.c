/*
 * daemon_view.c — what a path is, seen through the store: whether a key is
 * a directory, a file or nothing, the attributes of each node, and the
 * children of a directory in key order. Callers hold fs->lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "name.h"

void key_info_free(struct key_info *ki)
{
	kv_entry_free(&ki->entry);
	kv_buf_free(&ki->rendering);
	*ki = (struct key_info){0};
}

void key_info_read_ahead(struct kvfs *fs, const uint8_t *const *keys,
			 const size_t *key_lens, size_t n)
{
	struct kv_entry entries[KV_MAX_READ_RANGES];
	bool value[KV_MAX_READ_RANGES], children[KV_MAX_READ_RANGES];
	int results[KV_MAX_READ_RANGES];

	key_info_forget_ahead(fs);
	if (kv_store_lookup_many(fs->store, keys, key_lens, n, entries, value,
				 children, results) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		fs->ahead[i] = (struct key_ahead){
			.key = keys[i],
			.key_len = key_lens[i],
			.result = results[i],
			.has_value = value[i],
			.has_children = children[i],
			.entry = entries[i],
		};
	fs->n_ahead = n;
}

void key_info_forget_ahead(struct kvfs *fs)
{
	for (size_t i = 0; i < fs->n_ahead; i++)
		if (!fs->ahead[i].taken && fs->ahead[i].has_value)
			kv_entry_free(&fs->ahead[i].entry);
	fs->n_ahead = 0;
}

/* The store's answer for key from the read-ahead, if it holds one. */
static bool take_ahead(struct kvfs *fs, const uint8_t *key, size_t key_len,
		       struct key_info *ki, int *result)
{
	for (size_t i = 0; i < fs->n_ahead; i++) {
		struct key_ahead *a = &fs->ahead[i];
		if (a->taken || a->key_len != key_len ||
		    (key_len && memcmp(a->key, key, key_len) != 0))
			continue;
		a->taken = true;
		ki->entry = a->entry;
		ki->has_value = a->has_value;
		ki->has_children = a->has_children;
		*result = a->result;
		return true;
	}
	return false;
}

int key_info_load(struct kvfs *fs, const uint8_t *key, size_t key_len,
		  struct key_info *ki)
{
	*ki = (struct key_info){0};
	int r;
	if (!take_ahead(fs, key, key_len, ki, &r))
		r = kv_store_lookup(fs->store, key, key_len, &ki->entry,
				    &ki->has_value, &ki->has_children);
	if (r < 0)
		return r;
	if (ki->has_value && !ki->has_children)
		ki->is_list = ptr_entry_is_list(fs, &ki->entry);
	ki->is_dir = key_len == 0 || ki->has_children || ki->is_list ||
		     empty_dir_has(fs, key, key_len) ||
		     in_memory_children(fs, key, key_len);
	return 0;
}

int key_info_render(struct key_info *ki)
{
	if (ki->rendered)
		return ki->render_error;
	ki->rendered = true;
	ki->writable = true;
	int r = kv_value_render(ki->entry.encoding, ki->entry.value,
				ki->entry.value_len, &ki->rendering,
				&ki->writable);
	if (r < 0) {
		kv_buf_free(&ki->rendering);
		ki->writable = false;
		ki->render_error = r == -ENOMEM ? r : -EIO;
	}
	return ki->render_error;
}

bool is_scratch_name(const struct kvfs *fs, const char *name)
{
	return scratch_set_match(&fs->opt.scratch, name);
}

/* Whether the key has exactly one more part than prefix. The root's
 * prefix is NULL, which memcmp does not accept even for no bytes. */
static bool is_child_of(const uint8_t *key, size_t key_len,
			const uint8_t *prefix, size_t prefix_len)
{
	if (key_len <= prefix_len ||
	    (prefix_len && memcmp(key, prefix, prefix_len) != 0))
		return false;
	long span = kv_part_span(key + prefix_len, key_len - prefix_len);
	return span > 0 && (size_t)span == key_len - prefix_len;
}

struct children_scan {
	const uint8_t *prefix;
	size_t prefix_len;
	bool found;
	struct child_list *out;
};

static void scan_node(struct kvfs *fs, struct node *n, void *arg)
{
	(void)fs;
	struct children_scan *s = arg;
	if (!n->attached)
		return;
	bool pending_child = n->pending &&
		is_child_of(n->key.data, n->key.len, s->prefix, s->prefix_len);
	bool scratch_child = n->kind == NODE_SCRATCH &&
		n->key.len == s->prefix_len &&
		(!s->prefix_len ||
		 memcmp(n->key.data, s->prefix, s->prefix_len) == 0);
	if (!pending_child && !scratch_child)
		return;
	s->found = true;
	if (s->out)
		child_list_add(s->out, n->key.data, n->key.len,
			       scratch_child ? n->scratch_name : NULL,
			       scratch_child ? NODE_SCRATCH : NODE_FILE);
}

static void scan_in_memory(struct kvfs *fs, const uint8_t *prefix,
			   size_t prefix_len, struct children_scan *s)
{
	s->prefix = prefix;
	s->prefix_len = prefix_len;
	if (fs->n_in_memory)
		nodes_each_in_memory(fs, scan_node, s);
	for (struct empty_dir *d = fs->empty_dirs; d; d = d->next) {
		if (!is_child_of(d->key.data, d->key.len, prefix, prefix_len))
			continue;
		s->found = true;
		if (s->out)
			child_list_add(s->out, d->key.data, d->key.len, NULL,
				       NODE_DIR);
	}
}

bool in_memory_children(struct kvfs *fs, const uint8_t *prefix,
			size_t prefix_len)
{
	struct children_scan s = {0};
	scan_in_memory(fs, prefix, prefix_len, &s);
	return s.found;
}

void child_list_free(struct child_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].name);
	}
	free(l->v);
	*l = (struct child_list){0};
}

int child_list_add(struct child_list *l, const uint8_t *key, size_t key_len,
		   const char *scratch_name, enum node_kind kind)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		struct child *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	struct child *c = &l->v[l->n];
	*c = (struct child){.kind = kind, .key_len = key_len};
	c->key = malloc(key_len ? key_len : 1);
	if (!c->key)
		return -ENOMEM;
	if (key_len) /* the root's key is NULL */
		memcpy(c->key, key, key_len);
	if (scratch_name && !(c->name = strdup(scratch_name))) {
		free(c->key);
		return -ENOMEM;
	}
	l->n++;
	return 0;
}

static int child_order(const void *a, const void *b)
{
	const struct child *x = a, *y = b;
	/* Scratch files come after every key, by name. */
	if ((x->kind == NODE_SCRATCH) != (y->kind == NODE_SCRATCH))
		return x->kind == NODE_SCRATCH ? 1 : -1;
	if (x->kind == NODE_SCRATCH)
		return strcmp(x->name, y->name);
	int c = kv_key_compare(x->key, x->key_len, y->key, y->key_len);
	if (c)
		return c;
	/* The same key from the store and from memory: the directory
	 * form wins, so it sorts first and the duplicate is dropped. */
	return (x->kind != NODE_DIR) - (y->kind != NODE_DIR);
}

/* A child read from the store: a directory when keys lie below it, when
 * it was made with mkdir, or when its value is a pointer list. */
static enum node_kind store_child_kind(struct kvfs *fs,
				       const struct kv_child *c)
{
	if (c->has_children || empty_dir_has(fs, c->key, c->key_len))
		return NODE_DIR;
	return c->has_value && !c->entry.error &&
			       ptr_entry_is_list(fs, &c->entry)
		       ? NODE_DIR
		       : NODE_FILE;
}

/* The store's children of prefix, a batch per read (kv_store_children):
 * the values come with the keys, so telling lists apart reads nothing.
 * When has_value is not NULL, the first read also says whether prefix
 * itself holds a value (kv_store_first_children). */
static int store_children(struct kvfs *fs, const uint8_t *prefix,
			  size_t prefix_len, struct child_list *out,
			  bool *has_value)
{
	struct kv_buf after = {0};
	bool more = true;
	int r = 0;
	while (r == 0 && more) {
		struct kv_children got;
		r = has_value && !after.len
			    ? kv_store_first_children(fs->store, prefix,
						      prefix_len, has_value,
						      &got, &more)
			    : kv_store_children(fs->store, prefix, prefix_len,
						after.len ? after.data : NULL,
						after.len, &got, &more);
		for (size_t i = 0; r == 0 && i < got.n; i++)
			r = child_list_add(out, got.v[i].key, got.v[i].key_len,
					   NULL, store_child_kind(fs, &got.v[i]));
		if (r == 0 && got.n) {
			const struct kv_child *last = &got.v[got.n - 1];
			after.len = 0;
			r = kv_buf_append(&after, last->key, last->key_len);
		}
		kv_children_free(&got);
	}
	kv_buf_free(&after);
	return r;
}

int list_children(struct kvfs *fs, const uint8_t *prefix, size_t prefix_len,
		  struct child_list *out, bool *has_value)
{
	*out = (struct child_list){0};
	int r = store_children(fs, prefix, prefix_len, out, has_value);
	if (r < 0) {
		child_list_free(out);
		return r;
	}
	struct children_scan s = {.out = out};
	scan_in_memory(fs, prefix, prefix_len, &s);
	/* The store gives its children in key order, without duplicates. */
	if (!s.found)
		return 0;
	qsort(out->v, out->n, sizeof(*out->v), child_order);
	size_t w = 0;
	for (size_t i = 0; i < out->n; i++) {
		if (w > 0 && out->v[i].kind != NODE_SCRATCH &&
		    out->v[w - 1].kind != NODE_SCRATCH &&
		    kv_key_compare(out->v[w - 1].key, out->v[w - 1].key_len,
				   out->v[i].key, out->v[i].key_len) == 0) {
			free(out->v[i].key);
			free(out->v[i].name);
			continue;
		}
		out->v[w++] = out->v[i];
	}
	out->n = w;
	return 0;
}

int child_name(const struct child *c, size_t prefix_len, struct kv_buf *out)
{
	out->len = 0;
	if (c->kind == NODE_SCRATCH || c->kind == NODE_LINK) {
		int r = kv_buf_append(out, c->name, strlen(c->name) + 1);
		if (r == 0)
			out->len--; /* NUL-terminated, as names are */
		return r;
	}
	struct kv_part part;
	size_t pos = prefix_len;
	struct kv_buf scratch = {0};
	int r = kv_part_decode(c->key, c->key_len, &pos, &part, &scratch);
	if (r == 0)
		r = kvfs_name_display(&part, out);
	kv_buf_free(&scratch);
	return r;
}
