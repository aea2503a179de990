/*
 * store.c — the store layer: Deno's limits and argument checks (SPEC §4),
 * the read shapes built from ranges (get, list with Deno's selectors and
 * cursors, children of a prefix), and the hand-off to an engine.
 *
 * Everything a caller passes is validated here, so an engine only moves
 * bytes, and every engine refuses exactly what Deno refuses.
 *
 * On an encrypted store (kvfs-spec §8) this is also where values are
 * opened after every read and sealed before every commit (sealer.c), so
 * that nothing above the store sees an envelope.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "kv_seal.h"
#include "kv_store.h"
#include "store_internal.h"

#define DEFAULT_LIMIT KV_MAX_READ_ENTRIES

/* Deno's expireIn must keep now + expireIn inside chrono's DateTime range
 * (about 8.21e15 ms from the epoch); this bound is safe for millennia. */
#define MAX_EXPIRE_IN_MS 8200000000000000LL

/* How often a commit on an encrypted store is tried again when another
 * writer changed a sum's operand, or the keyring, in between. */
#define SEALED_RACE_TRIES 32
#define SEALED_STALE_TRIES 4

int64_t store_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void kv_entry_free(struct kv_entry *e)
{
	if (!e)
		return;
	free(e->key);
	free(e->value);
	*e = (struct kv_entry){0};
}

void kv_entries_free(struct kv_entries *list)
{
	if (!list)
		return;
	for (size_t i = 0; i < list->n; i++)
		kv_entry_free(&list->v[i]);
	free(list->v);
	*list = (struct kv_entries){0};
}

/*
 * A file with a seal row is encrypted and needs the key; one without is
 * plain, and a key given for it is refused, so that a secret meant to be
 * sealed is never written in clear.
 */
static int open_sealer(struct kv_store *s, struct kv_seal_key *key)
{
	int r = sealer_unlock(s->engine, s->ops, key, &s->sealer);

	if (r == -ENOENT)
		return key ? -EMEDIUMTYPE : 0;
	if (r == 0 && !s->ops->read_only(s->engine))
		r = s->ops->secure_delete(s->engine);
	return r;
}

int kv_store_open(const char *uri, const struct kv_store_options *opts,
		  struct kv_store **out)
{
	static const struct kv_store_options defaults;

	if (!opts)
		opts = &defaults;
	if (!uri || !*uri || opts->max_value_size > KV_MAX_VALUE ||
	    (opts->raw && opts->seal_key))
		return -EINVAL;
	struct kv_store *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->max_value = opts->max_value_size ? opts->max_value_size
					    : KV_MAX_VALUE;
	row_log_init(&s->bad_rows);
	int r = kv_etcd_uri(uri)
		? kv_etcd_engine_open(uri, opts->read_only,
				      opts->create && !opts->seal_key,
				      &s->engine, &s->ops)
		: kv_sqlite_engine_open(uri, opts->read_only,
				      opts->create && !opts->seal_key,
				      opts->busy_budget_ms, &s->engine,
				      &s->ops);
	if (r < 0) {
		row_log_destroy(&s->bad_rows);
		free(s);
		return r;
	}
	s->raw = opts->raw;
	r = s->raw ? 0 : open_sealer(s, opts->seal_key);
	if (r < 0) {
		kv_store_close(s);
		return r;
	}
	*out = s;
	return 0;
}

void kv_store_close(struct kv_store *s)
{
	if (!s)
		return;
	s->ops->close(s->engine);
	sealer_free(s->sealer);
	row_log_destroy(&s->bad_rows);
	free(s);
}

/* The bytes a value of len takes in the file. */
static size_t stored_len(const struct kv_store *s, size_t len)
{
	return s->sealer ? len + KV_SEAL_OVERHEAD : len;
}

size_t kv_store_max_value(const struct kv_store *s)
{
	size_t extra = stored_len(s, 0);

	return s->max_value > extra ? s->max_value - extra : 0;
}

bool kv_store_read_only(const struct kv_store *s)
{
	return s->ops->read_only(s->engine);
}

/* ---- reads ------------------------------------------------------------ */

static bool has_prefix(const uint8_t *key, size_t len, const uint8_t *prefix,
		       size_t prefix_len)
{
	return len >= prefix_len && (prefix_len == 0 ||
				     memcmp(key, prefix, prefix_len) == 0);
}

int store_key_plus(const uint8_t *key, size_t len, uint8_t byte,
		   struct kv_buf *out)
{
	out->len = 0;
	int r = kv_buf_append(out, key, len);
	return r < 0 ? r : kv_buf_push(out, byte);
}

static int check_range(const struct kv_range *range)
{
	if (range->start_len > KV_MAX_READ_KEY ||
	    range->end_len > KV_MAX_READ_KEY)
		return -ENAMETOOLONG;
	if (range->limit > KV_MAX_READ_ENTRIES)
		return -E2BIG;
	if ((range->start_len && !range->start) ||
	    (range->end_len && !range->end))
		return -EINVAL;
	return 0;
}

/*
 * What Deno itself could not read, a row that another program wrote: such
 * an entry becomes -EIO for its key alone, logged once, and reads around it
 * go on (kvfs-spec: the daemon never crashes on someone else's data).
 */
static const char *entry_damage(const struct kv_entry *e)
{
	if (e->error == -EMEDIUMTYPE)
		return "holds a v that is not a BLOB";
	if (e->error)
		return NULL;
	switch (e->encoding) {
	case KV_ENC_BYTES:
		return NULL;
	case KV_ENC_U64:
		return e->value_len == 8 ? NULL
					 : "holds a KvU64 that is not 8 bytes";
	case KV_ENC_V8:
		return e->value_len >= 2 && e->value[0] == 0xff
			       ? NULL
			       : "holds V8 data without a V8 header";
	default:
		return "has an unknown v_encoding";
	}
}

/* The entry keeps its row as it is, for kvfs check to describe. */
static void judge_entry(struct kv_store *s, struct kv_entry *e)
{
	const char *why = entry_damage(e);
	if (!why)
		return;
	row_log_once(&s->bad_rows, e->key, e->key_len, why);
	e->error = -EIO;
}

static int snapshot_read(struct kv_store *s, struct kv_range *ranges,
			 size_t n, struct kv_entries *out)
{
	size_t total = 0;

	if (n > KV_MAX_READ_RANGES)
		return -E2BIG;
	for (size_t i = 0; i < n; i++) {
		int r = check_range(&ranges[i]);
		if (r < 0)
			return r;
		if (!ranges[i].limit)
			ranges[i].limit = DEFAULT_LIMIT;
		total += ranges[i].limit;
	}
	if (total > KV_MAX_READ_ENTRIES)
		return -E2BIG;
	int r = store_read_raw(s, ranges, n, out);
	if (r == 0)
		r = store_open_entries(s, out, n);
	for (size_t i = 0; r == 0 && i < n; i++)
		for (size_t j = 0; j < out[i].n; j++)
			judge_entry(s, &out[i].v[j]);
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			kv_entries_free(&out[i]);
	}
	return r;
}

void store_range_to_end(const uint8_t *start, size_t len, unsigned limit,
			uint8_t end[KV_MAX_READ_KEY], struct kv_range *out)
{
	memset(end, 0xff, KV_MAX_READ_KEY);
	*out = (struct kv_range){ len ? start : (const uint8_t *)"", len, end,
				  KV_MAX_READ_KEY, limit, false };
}

int store_read_raw(struct kv_store *s, const struct kv_range *ranges,
		   size_t n, struct kv_entries *out)
{
	return s->ops->snapshot_read(s->engine, ranges, n, store_now_ms(),
				     out);
}

static bool names_unknown_generation(const struct kv_sealer *z,
				     const struct kv_entries *lists, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < lists[i].n; j++) {
			const struct kv_entry *e = &lists[i].v[j];
			uint32_t gen;
			if (e->encoding == KV_ENC_BYTES &&
			    seal_generation(e->value, e->value_len,
					    &gen) == 0 &&
			    sealer_gen_index(z, gen) < 0)
				return true;
		}
	}
	return false;
}

int store_open_entries(struct kv_store *s, struct kv_entries *lists,
		       size_t n)
{
	struct kv_sealer *z = s->sealer;
	int r = 0;

	if (!z)
		return 0;
	pthread_mutex_lock(&z->lock);
	bool stale = names_unknown_generation(z, lists, n);
	pthread_mutex_unlock(&z->lock);
	/* Another process may have started a new generation (rekey). */
	if (stale && (r = sealer_reload(z, s->engine, s->ops)) < 0)
		return r;
	pthread_mutex_lock(&z->lock);
	for (size_t i = 0; i < n && r == 0; i++) {
		for (size_t j = 0; j < lists[i].n && r == 0; j++) {
			struct kv_entry *e = &lists[i].v[j];
			r = sealer_open_entry(z, e);
			if (r == -EIO || r == -ESTALE) {
				sealer_fail_entry(z, e);
				r = e->value ? 0 : -ENOMEM;
			}
		}
	}
	pthread_mutex_unlock(&z->lock);
	return r;
}

int kv_store_read_range(struct kv_store *s, const struct kv_range *range,
			struct kv_entries *out)
{
	struct kv_range r = *range;

	return snapshot_read(s, &r, 1, out);
}

int kv_store_get_many(struct kv_store *s, const uint8_t *const *keys,
		      const size_t *key_lens, size_t n, struct kv_entry *out,
		      bool *found)
{
	struct kv_range ranges[KV_MAX_READ_RANGES];
	struct kv_buf ends[KV_MAX_READ_RANGES] = {0};
	struct kv_entries lists[KV_MAX_READ_RANGES];
	int r = 0;

	if (n > KV_MAX_READ_RANGES)
		return -E2BIG;
	for (size_t i = 0; i < n && r == 0; i++) {
		r = store_key_plus(keys[i], key_lens[i], 0x00, &ends[i]);
		ranges[i] = (struct kv_range){ keys[i], key_lens[i],
					       ends[i].data, ends[i].len, 1,
					       false };
	}
	if (r == 0)
		r = snapshot_read(s, ranges, n, lists);
	for (size_t i = 0; i < n; i++) {
		kv_buf_free(&ends[i]);
		if (r < 0)
			continue;
		found[i] = lists[i].n > 0;
		out[i] = found[i] ? lists[i].v[0] : (struct kv_entry){0};
		if (found[i])
			lists[i].n = 0; /* moved to out[i] */
		kv_entries_free(&lists[i]);
	}
	return r;
}

int kv_store_get(struct kv_store *s, const uint8_t *key, size_t key_len,
		 struct kv_entry *out)
{
	bool found;
	int r = kv_store_get_many(s, &key, &key_len, 1, out, &found);

	if (r == 0 && found && out->error) {
		r = out->error;
		kv_entry_free(out);
	}
	return r < 0 ? r : found ? 0 : -ENOENT;
}

/* ---- list: Deno's selectors and cursors (SPEC §1.4) ------------------- */

static const char b64url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64url with '=' padding, NUL-ended: Deno's cursor alphabet. */
static int base64url_encode(const uint8_t *in, size_t len, struct kv_buf *out)
{
	int r = kv_buf_reserve(out, (len + 2) / 3 * 4 + 1);

	for (size_t i = 0; r == 0 && i < len; i += 3) {
		uint32_t n = (uint32_t)in[i] << 16;
		size_t left = len - i;
		if (left > 1)
			n |= (uint32_t)in[i + 1] << 8;
		if (left > 2)
			n |= in[i + 2];
		char q[4] = { b64url[n >> 18], b64url[(n >> 12) & 63],
			      left > 1 ? b64url[(n >> 6) & 63] : '=',
			      left > 2 ? b64url[n & 63] : '=' };
		r = kv_buf_append(out, q, 4);
	}
	if (r == 0)
		out->data[out->len] = '\0';
	return r;
}

static int b64url_value(char c)
{
	const char *p = c ? strchr(b64url, c) : NULL;

	return p ? (int)(p - b64url) : -1;
}

/* Decode canonical padded base64url, as Deno's decoder demands. */
static int base64url_decode(const char *in, struct kv_buf *out)
{
	size_t len = strlen(in);

	if (len % 4)
		return -EINVAL;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		int pad = 0;
		for (int j = 0; j < 4; j++) {
			v[j] = b64url_value(in[i + j]);
			if (in[i + j] == '=' && i + 4 == len && j >= 2 &&
			    (j == 3 || in[i + 3] == '=')) {
				v[j] = 0;
				pad++;
			} else if (v[j] < 0) {
				return -EINVAL;
			}
		}
		uint32_t n = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
			     (uint32_t)v[2] << 6 | (uint32_t)v[3];
		uint8_t bytes[3] = { n >> 16, (n >> 8) & 0xff, n & 0xff };
		if ((pad == 1 && (n & 0xff)) || (pad == 2 && (n & 0xffff)))
			return -EINVAL; /* non-zero trailing bits */
		int r = kv_buf_append(out, bytes, 3 - (size_t)pad);
		if (r < 0)
			return r;
	}
	return 0;
}

/* A selector's bounds and the prefix its cursors are relative to. */
struct selector {
	struct kv_buf start, end;
	const uint8_t *common;
	size_t common_len;
};

static bool inside_prefix(const uint8_t *key, size_t len,
			  const struct kv_list *sel)
{
	return len > sel->prefix_len &&
	       has_prefix(key, len, sel->prefix, sel->prefix_len);
}

static size_t common_prefix_len(const uint8_t *a, size_t alen,
				const uint8_t *b, size_t blen)
{
	size_t n = 0;

	while (n < alen && n < blen && a[n] == b[n])
		n++;
	return n;
}

/*
 * Deno's RawSelector: [start or prefix+00, end or prefix+FF). Cursors are
 * relative to the prefix, or, for a start-and-end selector (Deno's form
 * without a prefix), to the common prefix of start and end.
 */
static int selector_init(const struct kv_list *sel, struct selector *out)
{
	int r;

	if (sel->prefix_len > KV_MAX_WRITE_KEY)
		return -ENAMETOOLONG;
	if ((sel->start && !inside_prefix(sel->start, sel->start_len, sel)) ||
	    (sel->end && !inside_prefix(sel->end, sel->end_len, sel)))
		return -EINVAL;
	if (sel->start && sel->end &&
	    kv_key_compare(sel->start, sel->start_len, sel->end,
			   sel->end_len) > 0)
		return -EINVAL;
	if (sel->start)
		r = kv_buf_append(&out->start, sel->start, sel->start_len);
	else
		r = store_key_plus(sel->prefix, sel->prefix_len, 0x00,
				   &out->start);
	if (r == 0 && sel->end)
		r = kv_buf_append(&out->end, sel->end, sel->end_len);
	else if (r == 0)
		r = store_key_plus(sel->prefix, sel->prefix_len, 0xff,
				   &out->end);
	out->common = sel->prefix;
	out->common_len = sel->prefix_len;
	if (sel->start && sel->end) {
		out->common = sel->start;
		out->common_len = common_prefix_len(sel->start, sel->start_len,
						    sel->end, sel->end_len);
	}
	return r;
}

/*
 * Continue after a cursor: forward from common+cursor+00, or in reverse up
 * to common+cursor. A cursor that leads outside the selector is refused,
 * as Deno does.
 */
static int selector_seek(struct selector *sel, const char *cursor,
			 bool reverse)
{
	struct kv_buf key = { 0 };
	int r = kv_buf_append(&key, sel->common, sel->common_len);

	if (r == 0)
		r = base64url_decode(cursor, &key);
	if (r == 0 && !reverse)
		r = kv_buf_push(&key, 0x00);
	if (r < 0) {
		kv_buf_free(&key);
		return r;
	}
	struct kv_buf *bound = reverse ? &sel->end : &sel->start;
	int c = kv_key_compare(key.data, key.len, bound->data, bound->len);
	if (reverse ? c > 0 : c < 0) {
		kv_buf_free(&key);
		return -EINVAL;
	}
	kv_buf_free(bound);
	*bound = key;
	return 0;
}

/* A full batch may have more behind it; a short one ends the list. */
static int next_cursor_of(const struct selector *sel,
			  const struct kv_entries *got, unsigned limit,
			  struct kv_buf *cursor)
{
	cursor->len = 0;
	if (got->n < limit) {
		int r = kv_buf_reserve(cursor, 1);
		if (r == 0)
			cursor->data[0] = '\0';
		return r;
	}
	const struct kv_entry *last = &got->v[got->n - 1];
	if (!has_prefix(last->key, last->key_len, sel->common,
			sel->common_len))
		return -EIO;
	return base64url_encode(last->key + sel->common_len,
				last->key_len - sel->common_len, cursor);
}

int kv_store_list(struct kv_store *s, const struct kv_list *sel,
		  struct kv_entries *out, struct kv_buf *next_cursor)
{
	struct selector range = { 0 };
	unsigned limit = sel->limit ? sel->limit : DEFAULT_LIMIT;
	int r = selector_init(sel, &range);

	*out = (struct kv_entries){0};
	if (r == 0 && sel->cursor && *sel->cursor)
		r = selector_seek(&range, sel->cursor, sel->reverse);
	if (r == 0) {
		struct kv_range rr = { range.start.data, range.start.len,
				       range.end.data, range.end.len, limit,
				       sel->reverse };
		r = kv_store_read_range(s, &rr, out);
	}
	if (r == 0 && next_cursor)
		r = next_cursor_of(&range, out, limit, next_cursor);
	if (r < 0)
		kv_entries_free(out);
	kv_buf_free(&range.start);
	kv_buf_free(&range.end);
	return r;
}

/* ---- children of a prefix (a seek per batch or per subtree) ----------- */

void kv_children_free(struct kv_children *list)
{
	if (!list)
		return;
	for (size_t i = 0; i < list->n; i++) {
		free(list->v[i].key);
		kv_entry_free(&list->v[i].entry);
	}
	free(list->v);
	*list = (struct kv_children){0};
}

/*
 * The length of prefix and the part of e's key right after it: the child
 * e lies in. 0 for a key that does not decode there (another program's
 * row), which names no child.
 */
static size_t child_len(const struct kv_entry *e, size_t prefix_len)
{
	long span = kv_part_span(e->key + prefix_len, e->key_len - prefix_len);

	if (span <= 0)
		return 0;
	size_t len = prefix_len + (size_t)span;
	return len == e->key_len || e->key[len] < KV_KEY_CHILD_END ? len : 0;
}

/* Room for the children of a batch: at most one per key read. */
static int children_reserve(struct kv_children *out, size_t keys)
{
	struct kv_child *v = realloc(out->v, (out->n + keys) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	out->v = v;
	return 0;
}

static int child_add(struct kv_children *out, const uint8_t *key, size_t len,
		     bool has_value)
{
	struct kv_child *c = &out->v[out->n];

	*c = (struct kv_child){ .key = malloc(len), .key_len = len,
				.has_value = has_value,
				.has_children = !has_value };
	if (!c->key)
		return -ENOMEM;
	memcpy(c->key, key, len);
	out->n++;
	return 0;
}

/* Open and judge the values kept from a batch, and hand them, in order,
 * to the children listed from it (from first on) that hold one. */
static int give_values(struct kv_store *s, struct kv_entries *values,
		       struct kv_children *out, size_t first)
{
	int r = store_open_entries(s, values, 1);

	for (size_t i = first, j = 0; r == 0 && i < out->n; i++) {
		if (!out->v[i].has_value)
			continue;
		judge_entry(s, &values->v[j]);
		out->v[i].entry = values->v[j];
		values->v[j++] = (struct kv_entry){0};
	}
	return r;
}

/*
 * Sort one batch of keys, read from the start of a child, into children:
 * cur (after, then the last child listed) is the child the walk is in; a
 * key in it only tells that it has children. When the batch is full, a
 * child whose own key is the last one read is left for the next read,
 * which sees what lies below it. next gets where to read on when nothing
 * was listed.
 */
static int list_batch(struct kv_store *s, struct kv_entries *got,
		      size_t prefix_len, bool full, bool with_values,
		      const uint8_t *after, size_t after_len,
		      struct kv_children *out, struct kv_buf *next)
{
	const struct kv_entry *last = &got->v[got->n - 1];
	bool defer = full && child_len(last, prefix_len) == last->key_len;
	size_t first = out->n, kept = 0;
	int r;

	if (defer) {
		next->len = 0;
		r = kv_buf_append(next, last->key, last->key_len);
	} else {
		r = store_key_plus(last->key, last->key_len, 0x00, next);
	}
	if (r == 0)
		r = children_reserve(out, got->n);

	for (size_t i = 0; r == 0 && i < got->n - defer; i++) {
		struct kv_entry *e = &got->v[i];
		size_t clen = child_len(e, prefix_len);
		const uint8_t *cur = out->n ? out->v[out->n - 1].key : after;
		size_t cur_len = out->n ? out->v[out->n - 1].key_len
					: after_len;
		bool keep = false;
		if (!clen) {
			row_log_once(&s->bad_rows, e->key, e->key_len,
				     "does not decode as a Deno key");
		} else if (clen == cur_len && memcmp(e->key, cur, clen) == 0) {
			if (out->n)
				out->v[out->n - 1].has_children = true;
		} else {
			r = child_add(out, e->key, clen, clen == e->key_len);
			keep = r == 0 && clen == e->key_len && with_values;
		}
		if (keep) {
			struct kv_entry moved = *e;
			*e = (struct kv_entry){0};
			got->v[kept++] = moved;
		} else {
			kv_entry_free(e);
		}
	}
	for (size_t i = kept; i < got->n; i++)
		kv_entry_free(&got->v[i]);
	got->n = kept;
	return r == 0 && kept ? give_values(s, got, out, first) : r;
}

/* Take the row of key itself, which sorts before every key below it, off
 * the front of got, into *row (or freed when row is NULL): whether there
 * was one. */
static bool take_own_row(struct kv_entries *got, const uint8_t *key,
			 size_t key_len, struct kv_entry *row)
{
	if (!got->n || got->v[0].key_len != key_len ||
	    memcmp(got->v[0].key, key, key_len) != 0)
		return false;
	if (row)
		*row = got->v[0];
	else
		kv_entry_free(&got->v[0]);
	memmove(got->v, got->v + 1, (got->n - 1) * sizeof(*got->v));
	got->n--;
	return true;
}

/*
 * The children after after (NULL: from the first), batches of limit keys
 * read on until one lists a child or the prefix ends; with_values keeps
 * (and opens) the children's own entries. own_value, when not NULL (and
 * after is NULL), gets whether prefix itself holds a value, from the
 * first read, which then starts at prefix's own key.
 */
static int read_children(struct kv_store *s, const uint8_t *prefix,
			 size_t prefix_len, const uint8_t *after,
			 size_t after_len, unsigned limit, bool with_values,
			 bool *own_value, struct kv_children *out, bool *more)
{
	struct kv_buf start = { 0 }, end = { 0 }, next = { 0 };
	struct kv_entries got = { 0 };
	/* The root is the empty key, which holds no value. */
	bool own_row = own_value && !after && prefix_len;
	int r;

	*out = (struct kv_children){0};
	*more = false;
	if (own_value)
		*own_value = false;
	if (prefix_len > KV_MAX_WRITE_KEY ||
	    (after && after_len > KV_MAX_WRITE_KEY))
		return -ENAMETOOLONG;
	if (after && (after_len <= prefix_len ||
		      !has_prefix(after, after_len, prefix, prefix_len)))
		return -EINVAL;
	if (after)
		r = store_key_plus(after, after_len, KV_KEY_CHILD_END, &start);
	else if (own_row)
		r = kv_buf_append(&start, prefix, prefix_len);
	else
		r = store_key_plus(prefix, prefix_len, 0x00, &start);
	if (r == 0)
		r = store_key_plus(prefix, prefix_len, 0xff, &end);
	while (r == 0) {
		unsigned want = limit + own_row;
		struct kv_range range = { start.data, start.len, end.data,
					  end.len, want, false };
		r = store_read_raw(s, &range, 1, &got);
		if (r < 0)
			break;
		*more = got.n == want;
		if (own_row)
			*own_value = take_own_row(&got, prefix, prefix_len,
						  NULL);
		own_row = false;
		if (!got.n)
			break;
		r = list_batch(s, &got, prefix_len, *more, with_values, after,
			       after_len, out, &next);
		kv_entries_free(&got);
		if (out->n || !*more)
			break;
		struct kv_buf t = start;
		start = next;
		next = t;
	}
	kv_entries_free(&got);
	kv_buf_free(&start);
	kv_buf_free(&end);
	kv_buf_free(&next);
	if (r < 0)
		kv_children_free(out);
	return r;
}

int kv_store_children(struct kv_store *s, const uint8_t *prefix,
		      size_t prefix_len, const uint8_t *after,
		      size_t after_len, struct kv_children *out, bool *more)
{
	return read_children(s, prefix, prefix_len, after, after_len,
			     KV_CHILDREN_BATCH, true, NULL, out, more);
}

int kv_store_first_children(struct kv_store *s, const uint8_t *prefix,
			    size_t prefix_len, bool *has_value,
			    struct kv_children *out, bool *more)
{
	return read_children(s, prefix, prefix_len, NULL, 0,
			     KV_CHILDREN_BATCH, true, has_value, out, more);
}

/* Two keys tell a child and what lies below it; values stay sealed. */
int kv_store_next_child(struct kv_store *s, const uint8_t *prefix,
			size_t prefix_len, const uint8_t *after,
			size_t after_len, struct kv_buf *child,
			bool *has_value, bool *has_children)
{
	struct kv_children got;
	bool more;
	int r = read_children(s, prefix, prefix_len, after, after_len, 2,
			      false, NULL, &got, &more);

	if (r == 0 && !got.n)
		r = -ENOENT;
	if (r == 0) {
		child->len = 0;
		r = kv_buf_append(child, got.v[0].key, got.v[0].key_len);
		*has_value = got.v[0].has_value;
		*has_children = got.v[0].has_children;
	}
	kv_children_free(&got);
	return r;
}

/* Whether prefix has a child, past keys that name none. */
static int has_a_child(struct kv_store *s, const uint8_t *prefix,
		       size_t prefix_len, bool *yes)
{
	struct kv_children got;
	bool more;
	int r = read_children(s, prefix, prefix_len, NULL, 0, 2, false, NULL,
			      &got, &more);

	*yes = r == 0 && got.n;
	kv_children_free(&got);
	return r;
}

/*
 * One range from each key itself: its row comes first, then the first key
 * below it, which is nearly always a child; only a key that names none
 * (another program's row) costs a search for a real one.
 */
int kv_store_lookup_many(struct kv_store *s, const uint8_t *const *keys,
			 const size_t *key_lens, size_t n,
			 struct kv_entry *out, bool *has_value,
			 bool *has_children, int *results)
{
	static const uint8_t first_below_root = 0x00;
	struct kv_range ranges[KV_MAX_READ_RANGES] = { 0 };
	struct kv_buf ends[KV_MAX_READ_RANGES] = { 0 };
	struct kv_entries got[KV_MAX_READ_RANGES];
	int r = 0;

	if (n > KV_MAX_READ_RANGES)
		return -E2BIG;
	for (size_t i = 0; i < n; i++) {
		has_value[i] = has_children[i] = false;
		out[i] = (struct kv_entry){ 0 };
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		if (key_lens[i] > KV_MAX_WRITE_KEY)
			r = -ENAMETOOLONG;
		else
			r = store_key_plus(keys[i], key_lens[i], 0xff,
					   &ends[i]);
		ranges[i] = (struct kv_range){
			key_lens[i] ? keys[i] : &first_below_root,
			key_lens[i] ? key_lens[i] : 1, ends[i].data,
			ends[i].len, 2, false };
	}
	if (r == 0)
		r = store_read_raw(s, ranges, n, got);
	for (size_t i = 0; i < n; i++)
		kv_buf_free(&ends[i]);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		size_t len = key_lens[i];
		int ri = 0;

		has_value[i] = take_own_row(&got[i], keys[i], len, &out[i]);
		if (got[i].n) {
			has_children[i] = child_len(&got[i].v[0], len) != 0;
			if (!has_children[i])
				ri = has_a_child(s, keys[i], len,
						 &has_children[i]);
		}
		if (ri == 0 && has_value[i]) {
			struct kv_entries one = { &out[i], 1 };
			ri = store_open_entries(s, &one, 1);
			if (ri == 0) {
				judge_entry(s, &out[i]);
				ri = out[i].error;
			}
		}
		if (ri < 0 && has_value[i]) {
			kv_entry_free(&out[i]);
			has_value[i] = false;
		}
		results[i] = ri;
		kv_entries_free(&got[i]);
	}
	return 0;
}

int kv_store_lookup(struct kv_store *s, const uint8_t *key, size_t key_len,
		    struct kv_entry *out, bool *has_value, bool *has_children)
{
	int result;
	int r = kv_store_lookup_many(s, &key, &key_len, 1, out, has_value,
				     has_children, &result);

	return r < 0 ? r : result;
}

int kv_store_data_version(struct kv_store *s, uint64_t *out)
{
	return s->ops->data_version(s->engine, out);
}

int kv_store_ready_commit(struct kv_store *s)
{
	if (kv_store_read_only(s) || !s->ops->ready_commit)
		return 0;
	return s->ops->ready_commit(s->engine);
}

/* ---- commits: every limit of SPEC §4 before the engine sees them ------ */

static int check_write_key(const uint8_t *key, size_t len)
{
	if (len == 0 || !key)
		return -EINVAL;
	return len > KV_MAX_WRITE_KEY ? -ENAMETOOLONG : 0;
}

static bool carries_value(const struct kv_mutation *m)
{
	return m->type != KV_MUT_DELETE;
}

static int check_mutation(const struct kv_store *s,
			  const struct kv_mutation *m)
{
	int r = check_write_key(m->key, m->key_len);

	if (r < 0)
		return r;
	switch (m->type) {
	case KV_MUT_DELETE:
		return 0;
	case KV_MUT_SET:
		if (m->encoding != KV_ENC_V8 && m->encoding != KV_ENC_U64 &&
		    m->encoding != KV_ENC_BYTES)
			return -EINVAL;
		if (m->expire_in_ms < -1 || m->expire_in_ms > MAX_EXPIRE_IN_MS)
			return -EINVAL;
		break;
	case KV_MUT_SUM:
	case KV_MUT_MIN:
	case KV_MUT_MAX:
		if (m->encoding != KV_ENC_U64)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	if (m->value_len && !m->value)
		return -EINVAL;
	if (stored_len(s, m->value_len) > s->max_value)
		return -EFBIG;
	if (m->encoding == KV_ENC_U64 && m->value_len != 8)
		return -EINVAL;
	return 0;
}

/*
 * Deno's totals: every check and mutation key counts once towards the
 * mutation size, and a value-carrying mutation adds its key again and its
 * value; the key total counts value-carrying keys only.
 */
static int check_atomic(const struct kv_store *s, const struct kv_atomic *a)
{
	size_t total = 0, keys = 0;
	int r;

	if (a->n_checks > KV_MAX_CHECKS || a->n_mutations > KV_MAX_MUTATIONS)
		return -E2BIG;
	if ((a->n_checks && !a->checks) || (a->n_mutations && !a->mutations))
		return -EINVAL;
	for (size_t i = 0; i < a->n_checks; i++) {
		if ((r = check_write_key(a->checks[i].key,
					 a->checks[i].key_len)) < 0)
			return r;
		total += a->checks[i].key_len;
	}
	for (size_t i = 0; i < a->n_mutations; i++) {
		const struct kv_mutation *m = &a->mutations[i];
		if ((r = check_mutation(s, m)) < 0)
			return r;
		total += m->key_len;
		if (carries_value(m)) {
			total += m->key_len + stored_len(s, m->value_len);
			keys += m->key_len;
		}
	}
	if (total > KV_MAX_TOTAL_MUTATION_SIZE || keys > KV_MAX_TOTAL_KEY_SIZE)
		return -E2BIG;
	return 0;
}

/* ---- commits on an encrypted store ----------------------------------- */

/*
 * The atomic as it is written: the caller's checks and mutations, each
 * sum/min/max turned into a SET of its result with a check of the row it
 * was computed from, and every SET value sealed.
 */
struct sealed_plan {
	struct kv_check *checks;
	size_t n_checks;
	struct kv_mutation *muts;
	uint8_t (*results)[8]; /* KvU64 results, by mutation */
	uint8_t **sealed;      /* envelopes, by mutation */
	struct kv_entries operands;
	struct kv_buf guard;
};

static void plan_free(struct sealed_plan *p, size_t n_mutations)
{
	for (size_t i = 0; p->sealed && i < n_mutations; i++)
		free(p->sealed[i]);
	free(p->sealed);
	free(p->checks);
	free(p->muts);
	free(p->results);
	kv_entries_free(&p->operands);
	kv_buf_free(&p->guard);
	*p = (struct sealed_plan){ 0 };
}

static bool is_u64_op(const struct kv_mutation *m)
{
	return m->type == KV_MUT_SUM || m->type == KV_MUT_MIN ||
	       m->type == KV_MUT_MAX;
}

/* The last mutation before i on the same key, or -1. */
static long earlier_on_key(const struct kv_atomic *a, size_t i)
{
	const struct kv_mutation *m = &a->mutations[i];

	for (size_t j = i; j-- > 0;) {
		const struct kv_mutation *o = &a->mutations[j];
		if (o->key_len == m->key_len &&
		    memcmp(o->key, m->key, m->key_len) == 0)
			return (long)j;
	}
	return -1;
}

/*
 * Read, in one snapshot, the rows of the sum/min/max mutations that no
 * earlier mutation of the atomic writes; operands.v[k] (or none) is the
 * row of the k-th such mutation.
 */
static int read_operands(struct kv_store *s, const struct kv_atomic *a,
			 struct sealed_plan *p)
{
	struct kv_range *ranges = calloc(a->n_mutations, sizeof(*ranges));
	struct kv_buf *ends = calloc(a->n_mutations, sizeof(*ends));
	struct kv_entries *got = calloc(a->n_mutations, sizeof(*got));
	size_t n = 0;
	int r = ranges && ends && got ? 0 : -ENOMEM;

	for (size_t i = 0; i < a->n_mutations && r == 0; i++) {
		const struct kv_mutation *m = &a->mutations[i];
		if (!is_u64_op(m) || earlier_on_key(a, i) >= 0)
			continue;
		r = store_key_plus(m->key, m->key_len, 0x00, &ends[n]);
		ranges[n] = (struct kv_range){ m->key, m->key_len,
					       ends[n].data, ends[n].len, 1,
					       false };
		n++;
	}
	if (r == 0 && n)
		r = store_read_raw(s, ranges, n, got);
	if (r == 0)
		r = store_open_entries(s, got, n);
	/* One entry (or an empty slot) per read mutation, in order. */
	if (r == 0 && n) {
		p->operands.v = calloc(n, sizeof(*p->operands.v));
		r = p->operands.v ? 0 : -ENOMEM;
	}
	for (size_t k = 0; k < n; k++) {
		if (r == 0 && got[k].n) {
			p->operands.v[k] = got[k].v[0];
			got[k].n = 0;
		}
		kv_entries_free(&got[k]);
		kv_buf_free(&ends[k]);
	}
	if (r == 0)
		p->operands.n = n;
	free(ranges);
	free(ends);
	free(got);
	return r;
}

/* What a mutation leaves at its key, as a later sum sees it. */
struct row_state {
	bool present;
	enum kv_encoding encoding;
	const uint8_t *value;
	size_t value_len;
};

static struct row_state state_after(const struct kv_mutation *m)
{
	if (m->type == KV_MUT_DELETE)
		return (struct row_state){ 0 };
	return (struct row_state){ true, m->encoding, m->value, m->value_len };
}

/* Turn sum/min/max into SETs of their results, checking the rows read. */
static int plan_u64(const struct kv_atomic *a, struct sealed_plan *p)
{
	size_t k = 0;

	for (size_t i = 0; i < a->n_mutations; i++) {
		struct kv_mutation *m = &p->muts[i];
		if (!is_u64_op(m))
			continue;
		long j = earlier_on_key(a, i);
		struct row_state st;
		if (j >= 0) {
			st = state_after(&p->muts[j]);
		} else {
			const struct kv_entry *e = &p->operands.v[k++];
			if (e->key && e->error)
				return e->error;
			st = e->key ? (struct row_state){ true, e->encoding,
							  e->value,
							  e->value_len }
				    : (struct row_state){ 0 };
			p->checks[p->n_checks++] = (struct kv_check){
				m->key, m->key_len,
				e->key ? e->versionstamp : NULL };
		}
		uint64_t operand, cur = 0;
		if (kv_u64_decode(m->value, m->value_len, &operand) < 0)
			return -EINVAL;
		if (st.present && (st.encoding != KV_ENC_U64 ||
				   kv_u64_decode(st.value, st.value_len,
						 &cur) < 0))
			return -EINVAL;
		uint64_t result =
			st.present ? kv_u64_combine(m->type, cur, operand)
				   : operand;
		kv_u64_encode(result, p->results[i]);
		*m = (struct kv_mutation){ KV_MUT_SET, m->key, m->key_len,
					   KV_ENC_U64, p->results[i], 8, -1 };
	}
	return 0;
}

/* Seal every SET under the current generation, and keep the seal row
 * they were sealed for as the commit's guard. */
static int plan_seal(struct kv_sealer *z, size_t n, struct sealed_plan *p)
{
	int r = 0;

	pthread_mutex_lock(&z->lock);
	for (size_t i = 0; i < n && r == 0; i++) {
		struct kv_mutation *m = &p->muts[i];
		if (m->type != KV_MUT_SET)
			continue;
		size_t len;
		r = sealer_seal(z, m->key, m->key_len, m->encoding, m->value,
				m->value_len, &p->sealed[i], &len);
		m->encoding = KV_ENC_BYTES;
		m->value = p->sealed[i];
		m->value_len = len;
	}
	if (r == 0)
		r = kv_buf_append(&p->guard, z->row_bytes.data,
				  z->row_bytes.len);
	pthread_mutex_unlock(&z->lock);
	return r;
}

static int plan_sealed(struct kv_store *s, const struct kv_atomic *a,
		       struct sealed_plan *p)
{
	size_t n = a->n_mutations;

	p->checks = calloc(a->n_checks + n + 1, sizeof(*p->checks));
	p->muts = calloc(n + 1, sizeof(*p->muts));
	p->results = calloc(n + 1, sizeof(*p->results));
	p->sealed = calloc(n + 1, sizeof(*p->sealed));
	if (!p->checks || !p->muts || !p->results || !p->sealed)
		return -ENOMEM;
	if (a->n_checks)
		memcpy(p->checks, a->checks, a->n_checks * sizeof(*p->checks));
	p->n_checks = a->n_checks;
	if (n)
		memcpy(p->muts, a->mutations, n * sizeof(*p->muts));
	int r = read_operands(s, a, p);
	if (r == 0)
		r = plan_u64(a, p);
	if (r == 0)
		r = plan_seal(s->sealer, n, p);
	return r;
}

/* Whether the caller's own checks still hold: a cancelled emulated sum
 * is the caller's failure only if one of them does not. */
static int caller_checks_hold(struct kv_store *s, const struct kv_atomic *a)
{
	struct kv_range ranges[KV_MAX_CHECKS];
	struct kv_buf ends[KV_MAX_CHECKS] = { 0 };
	struct kv_entries got[KV_MAX_CHECKS] = { 0 };
	size_t n = a->n_checks;
	int r = 0;

	for (size_t i = 0; i < n && r == 0; i++) {
		const struct kv_check *c = &a->checks[i];
		r = store_key_plus(c->key, c->key_len, 0x00, &ends[i]);
		ranges[i] = (struct kv_range){ c->key, c->key_len,
					       ends[i].data, ends[i].len, 1,
					       false };
	}
	if (r == 0 && n)
		r = store_read_raw(s, ranges, n, got);
	for (size_t i = 0; i < n; i++) {
		const uint8_t *vs = a->checks[i].versionstamp;
		bool present = got[i].n > 0;
		if (r == 0 && (present != (vs != NULL) ||
			       (vs && memcmp(vs, got[i].v[0].versionstamp,
					     KV_VERSIONSTAMP_LEN))))
			r = -ECANCELED;
		kv_entries_free(&got[i]);
		kv_buf_free(&ends[i]);
	}
	return r;
}

static int commit_sealed_once(struct kv_store *s, const struct kv_atomic *a,
			      uint8_t versionstamp[KV_VERSIONSTAMP_LEN])
{
	struct sealed_plan p = { 0 };
	int r = plan_sealed(s, a, &p);

	if (r == 0) {
		struct kv_atomic sealed = { p.checks, p.n_checks, p.muts,
					    a->n_mutations };
		struct kv_meta_guard g = { SEAL_ROW_NAME, p.guard.data,
					   p.guard.len };
		r = s->ops->atomic_write(s->engine, &sealed, store_now_ms(), &g,
					 versionstamp);
	}
	plan_free(&p, a->n_mutations);
	return r;
}

static bool has_u64_op(const struct kv_atomic *a)
{
	for (size_t i = 0; i < a->n_mutations; i++)
		if (is_u64_op(&a->mutations[i]))
			return true;
	return false;
}

static int commit_sealed(struct kv_store *s, const struct kv_atomic *a,
			 uint8_t versionstamp[KV_VERSIONSTAMP_LEN])
{
	unsigned stale = 0, raced = 0;

	for (;;) {
		int r = commit_sealed_once(s, a, versionstamp);
		if (r == -ESTALE) {
			/* The keyring changed (rekey): seal again under it. */
			if (stale++ == SEALED_STALE_TRIES)
				return -EAGAIN;
			r = sealer_reload(s->sealer, s->engine, s->ops);
			if (r < 0)
				return r;
			continue;
		}
		if (r != -ECANCELED || !has_u64_op(a))
			return r;
		r = caller_checks_hold(s, a);
		if (r < 0)
			return r;
		if (raced++ == SEALED_RACE_TRIES)
			return -EAGAIN;
		struct timespec pause = { 0, (long)(1 + randombytes_uniform(
							   raced * 2)) *
						     1000000L };
		nanosleep(&pause, NULL);
	}
}

int kv_store_commit(struct kv_store *s, const struct kv_atomic *a,
		    uint8_t versionstamp[KV_VERSIONSTAMP_LEN])
{
	uint8_t vs[KV_VERSIONSTAMP_LEN];

	if (kv_store_read_only(s))
		return -EROFS;
	int r = check_atomic(s, a);
	if (r == 0 && s->sealer)
		r = commit_sealed(s, a, vs);
	else if (r == 0)
		r = s->ops->atomic_write(s->engine, a, store_now_ms(), NULL,
					 vs);
	if (r == 0 && versionstamp)
		memcpy(versionstamp, vs, sizeof(vs));
	return r;
}

int kv_store_commit_start(struct kv_store *s,
			  const uint8_t vs[KV_VERSIONSTAMP_LEN],
			  uint64_t *start)
{
	return s->ops->commit_start(s->engine, vs, start);
}

int kv_store_sweep(struct kv_store *s, size_t *deleted)
{
	if (deleted)
		*deleted = 0;
	if (kv_store_read_only(s))
		return -EROFS;
	return s->ops->sweep(s->engine, store_now_ms(), deleted);
}

/* ---- kvfs's metadata -------------------------------------------------- */

int kv_store_meta_get(struct kv_store *s, const char *name,
		      struct kv_buf *out)
{
	if (!name || !*name)
		return -EINVAL;
	return s->ops->meta_get(s->engine, name, out);
}

int kv_store_meta_set(struct kv_store *s, const char *name,
		      const uint8_t *value, size_t len)
{
	if (!name || !*name)
		return -EINVAL;
	if (strcmp(name, SEAL_ROW_NAME) == 0 && !s->raw)
		return -EPERM;
	if (kv_store_read_only(s))
		return -EROFS;
	return s->ops->meta_set(s->engine, name, value, len);
}

void kv_meta_list_free(struct kv_meta_list *list)
{
	if (!list)
		return;
	for (size_t i = 0; i < list->n; i++) {
		free(list->v[i].name);
		free(list->v[i].value);
	}
	free(list->v);
	*list = (struct kv_meta_list){0};
}

int kv_meta_list_push(struct kv_meta_list *list, const char *name,
		      size_t name_len, const uint8_t *value, size_t len)
{
	if (memchr(name, '\0', name_len))
		return -EIO;
	struct kv_meta *v = realloc(list->v, (list->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	list->v = v;
	struct kv_meta *m = &v[list->n];
	*m = (struct kv_meta){ malloc(name_len + 1), malloc(len ? len : 1),
			       len };
	if (!m->name || !m->value) {
		free(m->name);
		free(m->value);
		return -ENOMEM;
	}
	memcpy(m->name, name, name_len);
	m->name[name_len] = '\0';
	if (len)
		memcpy(m->value, value, len);
	list->n++;
	return 0;
}

int kv_store_meta_list(struct kv_store *s, struct kv_meta_list *out)
{
	*out = (struct kv_meta_list){0};
	int r = s->ops->meta_list(s->engine, out);
	if (r < 0)
		kv_meta_list_free(out);
	return r;
}
