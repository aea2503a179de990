/*
 * store.c — the store layer: Deno's limits and argument checks (SPEC §4),
 * the read shapes built from ranges (get, list with Deno's selectors and
 * cursors, children of a prefix), and the hand-off to an engine.
 *
 * Everything a caller passes is validated here, so an engine only moves
 * bytes, and every engine refuses exactly what Deno refuses.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "kv_store.h"

#define DEFAULT_LIMIT KV_MAX_READ_ENTRIES

/* Deno's expireIn must keep now + expireIn inside chrono's DateTime range
 * (about 8.21e15 ms from the epoch); this bound is safe for millennia. */
#define MAX_EXPIRE_IN_MS 8200000000000000LL

struct kv_store {
	void *engine;
	const struct kv_engine_ops *ops;
	size_t max_value;
};

static int64_t now_ms(void)
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

int kv_store_open(const char *uri, const struct kv_store_options *opts,
		  struct kv_store **out)
{
	static const struct kv_store_options defaults;

	if (!opts)
		opts = &defaults;
	if (!uri || !*uri || opts->max_value_size > KV_MAX_VALUE)
		return -EINVAL;
	struct kv_store *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->max_value = opts->max_value_size ? opts->max_value_size
					    : KV_MAX_VALUE;
	int r = kv_sqlite_engine_open(uri, opts->read_only, opts->create,
				      opts->busy_budget_ms, &s->engine,
				      &s->ops);
	if (r < 0) {
		free(s);
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
	free(s);
}

size_t kv_store_max_value(const struct kv_store *s)
{
	return s->max_value;
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

/* key followed by one byte: the bounds Deno computes for gets and lists. */
static int key_plus(const uint8_t *key, size_t len, uint8_t byte,
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
	return s->ops->snapshot_read(s->engine, ranges, n, now_ms(), out);
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
		r = key_plus(keys[i], key_lens[i], 0x00, &ends[i]);
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
		r = key_plus(sel->prefix, sel->prefix_len, 0x00, &out->start);
	if (r == 0 && sel->end)
		r = kv_buf_append(&out->end, sel->end, sel->end_len);
	else if (r == 0)
		r = key_plus(sel->prefix, sel->prefix_len, 0xff, &out->end);
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

/* ---- children of a prefix (one seek per child) ------------------------ */

/*
 * The first two keys from the search start tell everything: the first
 * names the child; when it is the child itself, the child has keys below
 * it exactly when the second key lies in [child+00, child+0x28).
 */
static int child_of(const struct kv_entries *got, size_t prefix_len,
		    struct kv_buf *child, bool *has_value, bool *has_children)
{
	const struct kv_entry *first = &got->v[0];
	long span = kv_part_span(first->key + prefix_len,
				 first->key_len - prefix_len);

	if (span <= 0)
		return -EIO; /* a key that does not decode: not Deno's */
	size_t clen = prefix_len + (size_t)span;
	child->len = 0;
	int r = kv_buf_append(child, first->key, clen);
	if (r < 0)
		return r;
	*has_value = first->key_len == clen;
	*has_children = !*has_value;
	if (*has_value && got->n > 1) {
		const struct kv_entry *next = &got->v[1];
		*has_children = next->key_len > clen &&
				memcmp(next->key, first->key, clen) == 0 &&
				next->key[clen] < KV_KEY_CHILD_END;
	}
	return 0;
}

int kv_store_next_child(struct kv_store *s, const uint8_t *prefix,
			size_t prefix_len, const uint8_t *after,
			size_t after_len, struct kv_buf *child,
			bool *has_value, bool *has_children)
{
	struct kv_buf start = { 0 }, end = { 0 };
	struct kv_entries got = { 0 };
	int r;

	if (prefix_len > KV_MAX_WRITE_KEY ||
	    (after && after_len > KV_MAX_WRITE_KEY))
		return -ENAMETOOLONG;
	if (after && (after_len <= prefix_len ||
		      !has_prefix(after, after_len, prefix, prefix_len)))
		return -EINVAL;
	if (after)
		r = key_plus(after, after_len, KV_KEY_CHILD_END, &start);
	else
		r = key_plus(prefix, prefix_len, 0x00, &start);
	if (r == 0)
		r = key_plus(prefix, prefix_len, 0xff, &end);
	if (r == 0) {
		struct kv_range range = { start.data, start.len, end.data,
					  end.len, 2, false };
		r = kv_store_read_range(s, &range, &got);
	}
	if (r == 0)
		r = got.n ? child_of(&got, prefix_len, child, has_value,
				     has_children)
			  : -ENOENT;
	kv_entries_free(&got);
	kv_buf_free(&start);
	kv_buf_free(&end);
	return r;
}

int kv_store_data_version(struct kv_store *s, uint64_t *out)
{
	return s->ops->data_version(s->engine, out);
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
	if (m->value_len > s->max_value)
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
			total += m->key_len + m->value_len;
			keys += m->key_len;
		}
	}
	if (total > KV_MAX_TOTAL_MUTATION_SIZE || keys > KV_MAX_TOTAL_KEY_SIZE)
		return -E2BIG;
	return 0;
}

int kv_store_commit(struct kv_store *s, const struct kv_atomic *a,
		    uint8_t versionstamp[KV_VERSIONSTAMP_LEN])
{
	uint8_t vs[KV_VERSIONSTAMP_LEN];

	if (kv_store_read_only(s))
		return -EROFS;
	int r = check_atomic(s, a);
	if (r == 0)
		r = s->ops->atomic_write(s->engine, a, now_ms(), vs);
	if (r == 0 && versionstamp)
		memcpy(versionstamp, vs, sizeof(vs));
	return r;
}

int kv_store_sweep(struct kv_store *s, size_t *deleted)
{
	if (deleted)
		*deleted = 0;
	if (kv_store_read_only(s))
		return -EROFS;
	return s->ops->sweep(s->engine, now_ms(), deleted);
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
	if (kv_store_read_only(s))
		return -EROFS;
	return s->ops->meta_set(s->engine, name, value, len);
}
