/*
 * v8_decode.c — read V8 ValueSerializer data (denokv/SPEC.md §3.1) into a
 * value tree. It refuses what V8 itself refuses when Deno reads a value back,
 * so that a tree it returns is one the encoder can write again; the format
 * rules the encoder checks its trees against (v8_wire.h) live here too.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "v8_wire.h"

/* A growable array of node pointers. */
struct node_vec {
	struct kv_value **v;
	size_t n;
	size_t cap;
};

struct decoder {
	const uint8_t *p;
	const uint8_t *end;
	struct kv_arena *arena;
	uint32_t version;
	bool view_flags; /* views carry a flags varint */
	unsigned depth;
	bool lossless;
	struct kv_value *hole;
	/* Nodes by object id; NULL while V8 would not yet resolve the id. */
	struct node_vec objects;
	/* Children of the containers being read, until each is complete. */
	struct node_vec stack;
};

static int read_value(struct decoder *d, struct kv_value **out);

static int vec_push(struct node_vec *vec, struct kv_value *v)
{
	if (vec->n == vec->cap) {
		size_t cap = vec->cap ? vec->cap * 2 : 32;
		struct kv_value **p = realloc(vec->v, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		vec->v = p;
		vec->cap = cap;
	}
	vec->v[vec->n++] = v;
	return 0;
}

/* ---- bytes ------------------------------------------------------------ */

static size_t remaining(const struct decoder *d)
{
	return (size_t)(d->end - d->p);
}

static int read_raw(struct decoder *d, uint64_t n, const uint8_t **out)
{
	if (n > remaining(d))
		return -EINVAL;
	*out = d->p;
	d->p += n;
	return 0;
}

/* An unsigned LEB128 varint of at most 64 bits, refused above max. */
static int read_varint(struct decoder *d, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	unsigned shift = 0;
	uint8_t byte;

	do {
		if (d->p == d->end)
			return -EINVAL;
		byte = *d->p++;
		uint64_t bits = byte & 0x7f;
		if (shift > 63 || (shift == 63 && bits > 1))
			return -EINVAL;
		v |= bits << shift;
		shift += 7;
	} while (byte & 0x80);
	if (v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int read_u32(struct decoder *d, uint32_t *out)
{
	uint64_t v;
	int r = read_varint(d, UINT32_MAX, &v);
	if (r < 0)
		return r;
	*out = (uint32_t)v;
	return 0;
}

/* A buffer or view length or offset: format 16 widened them to 64 bits. */
/*
 * A buffer length or offset. Format 16 widened them past 32 bits, but no
 * JavaScript buffer is longer than Number.MAX_SAFE_INTEGER (V8 throws a
 * RangeError): a larger size is not data V8 wrote, and could not be shown
 * as a JSON number either.
 */
static int read_size(struct decoder *d, size_t *out)
{
	const uint64_t max_safe = (UINT64_C(1) << 53) - 1;
	uint64_t max = d->version >= 16 ? max_safe : UINT32_MAX;
	if (max > SIZE_MAX)
		max = SIZE_MAX;
	uint64_t v;
	int r = read_varint(d, max, &v);
	if (r < 0)
		return r;
	*out = (size_t)v;
	return 0;
}

static int read_double(struct decoder *d, double *out)
{
	const uint8_t *b;
	uint64_t bits = 0;
	int r = read_raw(d, 8, &b);
	if (r < 0)
		return r;
	for (int i = 7; i >= 0; i--)
		bits = bits << 8 | b[i];
	memcpy(out, &bits, sizeof(*out));
	/* V8 reads every NaN as its one quiet NaN. */
	if (isnan(*out))
		*out = NAN;
	return 0;
}

/* The next tag after any padding, left unread; -EINVAL at the end. */
static int peek_tag(const struct decoder *d, uint8_t *tag)
{
	for (const uint8_t *q = d->p; q < d->end; q++) {
		if (*q != V8_PADDING) {
			*tag = *q;
			return 0;
		}
	}
	return -EINVAL;
}

static int read_tag(struct decoder *d, uint8_t *tag)
{
	while (d->p < d->end && *d->p == V8_PADDING)
		d->p++;
	if (d->p == d->end)
		return -EINVAL;
	*tag = *d->p++;
	return 0;
}

/* ---- nodes ------------------------------------------------------------ */

static struct kv_value *new_value(struct decoder *d, enum kv_type type)
{
	struct kv_value *v = kv_arena_alloc(d->arena, sizeof(*v));
	if (v)
		v->type = type;
	return v;
}

/* A JSReceiver: it takes the next object id before its contents are read. */
static int new_object(struct decoder *d, enum kv_type type,
		      struct kv_value **out)
{
	struct kv_value *v = new_value(d, type);
	if (!v)
		return -ENOMEM;
	*out = v;
	return vec_push(&d->objects, v);
}

static int enter(struct decoder *d)
{
	return ++d->depth > KV_V8_MAX_DEPTH ? -EINVAL : 0;
}

static void leave(struct decoder *d)
{
	d->depth--;
}

/* Move the children pushed since base into v->items. */
static int pop_items(struct decoder *d, size_t base, struct kv_value *v)
{
	size_t n = d->stack.n - base;
	v->items = kv_arena_alloc(d->arena, n * sizeof(*v->items));
	if (!v->items)
		return -ENOMEM;
	if (n)
		memcpy(v->items, d->stack.v + base, n * sizeof(*v->items));
	v->n_items = n;
	d->stack.n = base;
	return 0;
}

/* Move the key/value pairs pushed since base into v->props. */
static int pop_props(struct decoder *d, size_t base, struct kv_value *v)
{
	size_t n = (d->stack.n - base) / 2;
	v->props = kv_arena_alloc(d->arena, n * sizeof(*v->props));
	if (!v->props)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		v->props[i].key = d->stack.v[base + 2 * i];
		v->props[i].value = d->stack.v[base + 2 * i + 1];
	}
	v->n_props = n;
	d->stack.n = base;
	return 0;
}

/* ---- strings ---------------------------------------------------------- */

static size_t put_wtf8(char *s, uint32_t cp)
{
	if (cp < 0x80) {
		s[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		s[0] = (char)(0xC0 | cp >> 6);
		s[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		s[0] = (char)(0xE0 | cp >> 12);
		s[1] = (char)(0x80 | (cp >> 6 & 0x3F));
		s[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	s[0] = (char)(0xF0 | cp >> 18);
	s[1] = (char)(0x80 | (cp >> 12 & 0x3F));
	s[2] = (char)(0x80 | (cp >> 6 & 0x3F));
	s[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* Room for a string of n source units growing to at most per_unit bytes. */
static char *string_room(struct decoder *d, size_t n, size_t per_unit)
{
	if (n > (SIZE_MAX - 1) / per_unit)
		return NULL;
	return kv_arena_alloc(d->arena, n * per_unit + 1);
}

static int latin1_to_utf8(struct decoder *d, const uint8_t *raw, size_t n,
			  struct kv_value *v)
{
	char *s = string_room(d, n, 2);
	size_t len = 0;
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		len += put_wtf8(s + len, raw[i]);
	v->str = s;
	v->str_len = len;
	return 0;
}

static bool is_high_surrogate(uint32_t u)
{
	return u >= 0xD800 && u <= 0xDBFF;
}

static bool is_low_surrogate(uint32_t u)
{
	return u >= 0xDC00 && u <= 0xDFFF;
}

/* UTF-16LE to WTF-8: pairs combine, lone surrogates stay as themselves. */
static int utf16_to_wtf8(struct decoder *d, const uint8_t *raw, size_t n,
			 struct kv_value *v)
{
	size_t units = n / 2, len = 0;
	char *s;
	if (n % 2)
		return -EINVAL;
	s = string_room(d, units, 3);
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < units; i++) {
		uint32_t u = raw[2 * i] | (uint32_t)raw[2 * i + 1] << 8;
		if (is_high_surrogate(u) && i + 1 < units) {
			uint32_t lo = raw[2 * i + 2] |
				      (uint32_t)raw[2 * i + 3] << 8;
			if (is_low_surrogate(lo)) {
				u = 0x10000 + ((u - 0xD800) << 10) +
				    (lo - 0xDC00);
				i++;
			}
		}
		len += put_wtf8(s + len, u);
	}
	v->str = s;
	v->str_len = len;
	return 0;
}

static int copy_wtf8(struct decoder *d, const uint8_t *raw, size_t n,
		     struct kv_value *v)
{
	size_t pos = 0;
	uint32_t cp;
	while (pos < n) {
		int r = kv_v8_wtf8_next(raw, n, &pos, &cp);
		if (r < 0)
			return r;
	}
	v->str = kv_arena_dup(d->arena, raw, n);
	if (!v->str)
		return -ENOMEM;
	v->str_len = n;
	return 0;
}

static int read_string(struct decoder *d, uint8_t tag, struct kv_value **out)
{
	struct kv_value *v = new_value(d, KV_STRING);
	const uint8_t *raw;
	uint32_t n;
	int r;
	if (!v)
		return -ENOMEM;
	r = read_u32(d, &n);
	if (r == 0)
		r = read_raw(d, n, &raw);
	if (r < 0)
		return r;
	*out = v;
	if (tag == V8_ONE_BYTE_STRING)
		return latin1_to_utf8(d, raw, n, v);
	if (tag == V8_TWO_BYTE_STRING)
		return utf16_to_wtf8(d, raw, n, v);
	return copy_wtf8(d, raw, n, v);
}

/* A value that must be a string (RegExp source, String object, error text). */
static int read_string_value(struct decoder *d, struct kv_value **out)
{
	int r = read_value(d, out);
	if (r == 0 && (*out)->type != KV_STRING)
		return -EINVAL;
	return r;
}

/* ---- primitives ------------------------------------------------------- */

static int read_int32(struct decoder *d, struct kv_value **out)
{
	uint32_t u;
	int r = read_u32(d, &u);
	if (r < 0)
		return r;
	*out = new_value(d, KV_INT32);
	if (!*out)
		return -ENOMEM;
	(*out)->i32 = (int32_t)((u >> 1) ^ (0u - (u & 1)));
	return 0;
}

/* 'U': a uint32 number, kept as a Smi when it is one. */
static int read_uint32(struct decoder *d, struct kv_value **out)
{
	uint32_t u;
	int r = read_u32(d, &u);
	if (r < 0)
		return r;
	*out = new_value(d, u <= INT32_MAX ? KV_INT32 : KV_DOUBLE);
	if (!*out)
		return -ENOMEM;
	(*out)->i32 = u <= INT32_MAX ? (int32_t)u : 0;
	(*out)->num = u <= INT32_MAX ? 0 : u;
	return 0;
}

/* Bitfield (byte length << 1 | sign), then the little-endian magnitude. */
static int read_bigint(struct decoder *d, struct kv_bigint *out)
{
	const uint8_t *le;
	uint8_t *mag = NULL;
	uint32_t bitfield;
	size_t n, len;
	int r = read_u32(d, &bitfield);
	if (r < 0)
		return r;
	n = bitfield >> 1;
	if (bitfield >> 31 || n > V8_BIGINT_MAX_BYTES)
		return -EINVAL;
	r = read_raw(d, n, &le);
	if (r < 0)
		return r;
	len = n;
	while (len && le[len - 1] == 0)
		len--;
	if (len) {
		mag = kv_arena_alloc(d->arena, len);
		if (!mag)
			return -ENOMEM;
		for (size_t i = 0; i < len; i++)
			mag[i] = le[len - 1 - i];
	}
	out->negative = len && (bitfield & 1);
	out->mag = mag;
	out->len = len;
	return 0;
}

static int read_scalar(struct decoder *d, enum kv_type type,
		       struct kv_value **out)
{
	int r = 0;
	*out = new_value(d, type);
	if (!*out)
		return -ENOMEM;
	if (type == KV_DOUBLE)
		r = read_double(d, &(*out)->num);
	else if (type == KV_BIGINT)
		r = read_bigint(d, &(*out)->bigint);
	return r;
}

static int read_bool(struct decoder *d, bool b, struct kv_value **out)
{
	*out = new_value(d, KV_BOOL);
	if (!*out)
		return -ENOMEM;
	(*out)->boolean = b;
	return 0;
}

/* ---- objects and arrays ----------------------------------------------- */

/*
 * V8 refuses a property defined twice, and array indices it cannot hold.
 * And V8 writes integer indices first, ascending, as the encoder does: a
 * tree in another order could not be written back with the same object ids,
 * which back-references count on.
 */
static int check_names(const struct kv_value *v)
{
	struct kv_v8_name *names;
	int r = kv_v8_prop_names(v, &names);
	for (size_t i = 1; r == 0 && i < v->n_props; i++) {
		if (names[i].kind == KV_V8_NAME_INDEX &&
		    kv_v8_name_cmp(&names[i - 1], &names[i]) > 0)
			r = -EINVAL;
	}
	free(names);
	return r;
}

/* Key/value pairs up to end_tag, into v->props. */
static int read_props(struct decoder *d, uint8_t end_tag, struct kv_value *v)
{
	size_t base = d->stack.n;
	uint8_t tag;
	for (;;) {
		struct kv_value *key, *value;
		int r = peek_tag(d, &tag);
		if (r < 0)
			return r;
		if (tag == end_tag)
			break;
		r = read_value(d, &key);
		if (r < 0)
			return r;
		if (key->type != KV_STRING && key->type != KV_INT32 &&
		    key->type != KV_DOUBLE)
			return -EINVAL;
		r = vec_push(&d->stack, key);
		if (r == 0)
			r = read_value(d, &value);
		if (r == 0)
			r = vec_push(&d->stack, value);
		if (r < 0)
			return r;
	}
	read_tag(d, &tag);
	return pop_props(d, base, v);
}

static int read_object(struct decoder *d, struct kv_value **out)
{
	struct kv_value *v;
	uint32_t count;
	int r = new_object(d, KV_OBJECT, out);
	if (r < 0)
		return r;
	v = *out;
	r = enter(d);
	if (r == 0)
		r = read_props(d, V8_OBJECT_END, v);
	if (r == 0)
		r = read_u32(d, &count);
	if (r == 0 && count != v->n_props)
		r = -EINVAL;
	if (r == 0)
		r = check_names(v);
	leave(d);
	return r;
}

/* The end of either array: property count and length, both as read. */
static int read_array_end(struct decoder *d, uint8_t end_tag,
			  struct kv_value *v)
{
	uint32_t count, length;
	int r = read_props(d, end_tag, v);
	if (r == 0)
		r = read_u32(d, &count);
	if (r == 0)
		r = read_u32(d, &length);
	if (r == 0 && (count != v->n_props || length != v->length))
		r = -EINVAL;
	if (r == 0)
		r = check_names(v);
	return r;
}

static int read_element(struct decoder *d, struct kv_value **out)
{
	uint8_t tag;
	if (peek_tag(d, &tag) == 0 && tag == V8_HOLE) {
		read_tag(d, &tag);
		if (!d->hole)
			d->hole = new_value(d, KV_HOLE);
		*out = d->hole;
		return d->hole ? 0 : -ENOMEM;
	}
	return read_value(d, out);
}

static int read_dense_array(struct decoder *d, struct kv_value **out)
{
	struct kv_value *v;
	uint32_t length;
	int r = read_u32(d, &length);
	if (r < 0)
		return r;
	/* Every element takes at least a byte: no allocation on a claim. */
	if (length > remaining(d))
		return -EINVAL;
	r = new_object(d, KV_ARRAY, out);
	if (r < 0)
		return r;
	v = *out;
	v->items = kv_arena_alloc(d->arena, length * sizeof(*v->items));
	if (!v->items)
		return -ENOMEM;
	v->n_items = v->length = length;
	r = enter(d);
	for (uint32_t i = 0; r == 0 && i < length; i++)
		r = read_element(d, &v->items[i]);
	if (r == 0)
		r = read_array_end(d, V8_DENSE_ARRAY_END, v);
	leave(d);
	return r;
}

static int read_sparse_array(struct decoder *d, struct kv_value **out)
{
	uint32_t length;
	int r = read_u32(d, &length);
	if (r == 0)
		r = new_object(d, KV_SPARSE_ARRAY, out);
	if (r < 0)
		return r;
	(*out)->length = length;
	r = enter(d);
	if (r == 0)
		r = read_array_end(d, V8_SPARSE_ARRAY_END, *out);
	leave(d);
	return r;
}

/* Map (pairs) or Set: values up to end_tag, then their count. */
static int read_collection(struct decoder *d, enum kv_type type,
			   uint8_t end_tag, struct kv_value **out)
{
	size_t base = d->stack.n;
	uint32_t count;
	uint8_t tag;
	int r = new_object(d, type, out);
	if (r == 0)
		r = enter(d);
	while (r == 0) {
		struct kv_value *item;
		r = peek_tag(d, &tag);
		if (r < 0 || tag == end_tag)
			break;
		r = read_value(d, &item);
		if (r == 0)
			r = vec_push(&d->stack, item);
	}
	if (r < 0)
		return r;
	read_tag(d, &tag);
	if (type == KV_MAP && (d->stack.n - base) % 2)
		return -EINVAL;
	r = read_u32(d, &count);
	if (r == 0 && count != d->stack.n - base)
		r = -EINVAL;
	if (r == 0)
		r = pop_items(d, base, *out);
	leave(d);
	return r;
}

/* ---- other receivers -------------------------------------------------- */

static int read_date(struct decoder *d, struct kv_value **out)
{
	int r = new_object(d, KV_DATE, out);
	return r < 0 ? r : read_double(d, &(*out)->num);
}

static int read_regexp(struct decoder *d, struct kv_value **out)
{
	struct kv_value *source;
	int r = new_object(d, KV_REGEXP, out);
	if (r == 0)
		r = read_string_value(d, &source);
	if (r == 0)
		r = read_u32(d, &(*out)->flags);
	if (r < 0)
		return r;
	(*out)->str = source->str;
	(*out)->str_len = source->str_len;
	return kv_v8_regexp_flags_ok((*out)->flags) ? 0 : -EINVAL;
}

static int read_array_buffer(struct decoder *d, uint8_t tag,
			     struct kv_value **out)
{
	struct kv_value *v;
	const uint8_t *bytes;
	int r = new_object(d, KV_ARRAY_BUFFER, out);
	if (r < 0)
		return r;
	v = *out;
	r = read_size(d, &v->byte_len);
	if (r == 0 && tag == V8_RESIZABLE_ARRAY_BUFFER) {
		v->resizable = true;
		r = read_size(d, &v->max_byte_len);
		if (r == 0 && v->byte_len > v->max_byte_len)
			r = -EINVAL;
	}
	if (r == 0)
		r = read_raw(d, v->byte_len, &bytes);
	if (r < 0)
		return r;
	v->bytes = kv_arena_dup(d->arena, bytes, v->byte_len);
	return v->bytes ? 0 : -ENOMEM;
}

/* The ArrayBuffer that v is or refers to, or NULL. */
static const struct kv_value *buffer_of(const struct decoder *d,
					const struct kv_value *v)
{
	if (v->type == KV_REF)
		v = d->objects.v[v->ref_id];
	return v && v->type == KV_ARRAY_BUFFER ? v : NULL;
}

/* A view over buffer, just read: it takes the id after the buffer's. */
static int read_view(struct decoder *d, struct kv_value *buffer,
		     struct kv_value **out)
{
	uint32_t kind, flags = 0;
	size_t offset, len;
	int r = read_u32(d, &kind);
	if (r == 0)
		r = read_size(d, &offset);
	if (r == 0)
		r = read_size(d, &len);
	if (r == 0 && d->view_flags)
		r = read_u32(d, &flags);
	if (r == 0 && kind > UINT8_MAX)
		r = -EINVAL;
	if (r == 0)
		r = new_object(d, KV_VIEW, out);
	if (r < 0)
		return r;
	(*out)->view_kind = (enum kv_view_kind)kind;
	(*out)->buffer = buffer;
	(*out)->byte_offset = offset;
	(*out)->view_len = len;
	(*out)->view_flags = flags;
	return kv_v8_view_check(*out, buffer_of(d, buffer));
}

static int read_boxed(struct decoder *d, uint8_t tag, struct kv_value **out)
{
	struct kv_value *v;
	int r = new_object(d, KV_BOXED, out);
	if (r < 0)
		return r;
	v = *out;
	switch (tag) {
	case V8_TRUE_OBJECT:
	case V8_FALSE_OBJECT:
		return read_bool(d, tag == V8_TRUE_OBJECT, &v->inner);
	case V8_NUMBER_OBJECT:
		return read_scalar(d, KV_DOUBLE, &v->inner);
	case V8_BIGINT_OBJECT:
		return read_scalar(d, KV_BIGINT, &v->inner);
	default:
		return read_string_value(d, &v->inner);
	}
}

static bool is_error_proto(uint32_t tag)
{
	return tag == KV_ERROR_EVAL || tag == KV_ERROR_RANGE ||
	       tag == KV_ERROR_REFERENCE || tag == KV_ERROR_SYNTAX ||
	       tag == KV_ERROR_TYPE || tag == KV_ERROR_URI;
}

/* Sub-tags in V8's one order: prototype, message, stack, cause, end. */
static int read_error(struct decoder *d, struct kv_value **out)
{
	struct kv_value *v;
	uint32_t tag;
	int r = new_object(d, KV_ERROR, out);
	if (r < 0)
		return r;
	v = *out;
	r = enter(d);
	if (r == 0)
		r = read_u32(d, &tag);
	if (r == 0 && is_error_proto(tag)) {
		v->error_proto = (enum kv_error_proto)tag;
		r = read_u32(d, &tag);
	}
	if (r == 0 && tag == V8_ERROR_MESSAGE) {
		r = read_string_value(d, &v->message);
		if (r == 0)
			r = read_u32(d, &tag);
	}
	if (r == 0 && tag == V8_ERROR_STACK) {
		r = read_string_value(d, &v->stack);
		if (r == 0)
			r = read_u32(d, &tag);
	}
	if (r == 0 && tag == V8_ERROR_CAUSE) {
		r = read_value(d, &v->cause);
		if (r == 0)
			r = read_u32(d, &tag);
	}
	if (r == 0 && tag != V8_ERROR_END)
		r = -EINVAL;
	leave(d);
	return r;
}

/*
 * Deno's cloneables (DOMException, …): the tag 0xFFFFFFFF, then a value.
 * Any other tag names an in-memory host object that storage cannot hold.
 * V8 resolves the host object's id only once its contents are read.
 */
static int read_host_object(struct decoder *d, struct kv_value **out)
{
	struct kv_value *v = new_value(d, KV_HOST_OBJECT);
	size_t id = d->objects.n;
	uint32_t tag;
	int r;
	if (!v)
		return -ENOMEM;
	r = vec_push(&d->objects, NULL);
	if (r == 0)
		r = enter(d);
	if (r == 0)
		r = read_u32(d, &tag);
	if (r == 0 && tag != V8_HOST_CLONEABLE)
		r = -EINVAL;
	if (r == 0)
		r = read_value(d, &v->inner);
	if (r < 0)
		return r;
	leave(d);
	d->objects.v[id] = v;
	d->lossless = false;
	*out = v;
	return 0;
}

static int read_ref(struct decoder *d, struct kv_value **out)
{
	uint32_t id;
	int r = read_u32(d, &id);
	if (r < 0)
		return r;
	if (id >= d->objects.n || !d->objects.v[id])
		return -EINVAL;
	*out = new_value(d, KV_REF);
	if (!*out)
		return -ENOMEM;
	(*out)->ref_id = id;
	d->lossless = false;
	return 0;
}

/* ---- values ----------------------------------------------------------- */

static int read_tagged(struct decoder *d, uint8_t tag, struct kv_value **out)
{
	switch (tag) {
	case V8_UNDEFINED:
		return read_scalar(d, KV_UNDEFINED, out);
	case V8_NULL:
		return read_scalar(d, KV_NULL, out);
	case V8_TRUE:
	case V8_FALSE:
		return read_bool(d, tag == V8_TRUE, out);
	case V8_INT32:
		return read_int32(d, out);
	case V8_UINT32:
		return read_uint32(d, out);
	case V8_DOUBLE:
		return read_scalar(d, KV_DOUBLE, out);
	case V8_BIGINT:
		return read_scalar(d, KV_BIGINT, out);
	case V8_ONE_BYTE_STRING:
	case V8_TWO_BYTE_STRING:
	case V8_UTF8_STRING:
		return read_string(d, tag, out);
	case V8_REF:
		return read_ref(d, out);
	case V8_OBJECT:
		return read_object(d, out);
	case V8_SPARSE_ARRAY:
		return read_sparse_array(d, out);
	case V8_DENSE_ARRAY:
		return read_dense_array(d, out);
	case V8_DATE:
		return read_date(d, out);
	case V8_TRUE_OBJECT:
	case V8_FALSE_OBJECT:
	case V8_NUMBER_OBJECT:
	case V8_BIGINT_OBJECT:
	case V8_STRING_OBJECT:
		return read_boxed(d, tag, out);
	case V8_REGEXP:
		return read_regexp(d, out);
	case V8_MAP:
		return read_collection(d, KV_MAP, V8_MAP_END, out);
	case V8_SET:
		return read_collection(d, KV_SET, V8_SET_END, out);
	case V8_ARRAY_BUFFER:
	case V8_IMMUTABLE_ARRAY_BUFFER:
	case V8_RESIZABLE_ARRAY_BUFFER:
		return read_array_buffer(d, tag, out);
	case V8_ERROR:
		return read_error(d, out);
	case V8_HOST_OBJECT:
		return read_host_object(d, out);
	default:
		/* Also transferred and shared buffers, wasm and shared
		 * objects ('t' 'u' 'w' 'm' 'p'): they only live in memory. */
		return -EINVAL;
	}
}

/* One value; a view follows its buffer wherever a value may stand. */
static int read_value(struct decoder *d, struct kv_value **out)
{
	uint8_t tag;
	int r;
	for (;;) {
		uint32_t ignored;
		r = read_tag(d, &tag);
		if (r < 0 || tag != V8_VERIFY_COUNT)
			break;
		r = read_u32(d, &ignored);
		if (r < 0)
			return r;
	}
	if (r == 0)
		r = read_tagged(d, tag, out);
	if (r == 0 && buffer_of(d, *out) && peek_tag(d, &tag) == 0 &&
	    tag == V8_VIEW) {
		read_tag(d, &tag);
		r = read_view(d, *out, out);
	}
	return r;
}

static int read_header(struct decoder *d)
{
	uint64_t version;
	if (d->p == d->end || *d->p != V8_VERSION)
		return -EINVAL;
	d->p++;
	if (read_varint(d, UINT32_MAX, &version) < 0)
		return -EINVAL;
	if (version < 13 || version > 16)
		return -ENOTSUP;
	d->version = (uint32_t)version;
	return 0;
}

static int decode(struct decoder *d, struct kv_value **out)
{
	int r = read_header(d);
	if (r == 0) {
		d->view_flags |= d->version >= 14;
		r = read_value(d, out);
	}
	if (r == 0 && d->p != d->end)
		r = -EINVAL;
	free(d->objects.v);
	free(d->stack.v);
	return r;
}

int kv_v8_decode(const uint8_t *buf, size_t len, struct kv_arena *arena,
		 struct kv_value **out, bool *lossless)
{
	struct decoder d = {0};
	struct kv_value *v;
	int r;
	if (len == 0)
		return -EINVAL;
	for (int broken13 = 0; broken13 < 2; broken13++) {
		/* Views have flags from format 14 on. V8 once wrote them in
		 * format 13 too (crbug.com/1284506) and, like V8, a failed
		 * format-13 read is tried again that way. */
		d = (struct decoder){
			.p = buf,
			.end = buf + len,
			.arena = arena,
			.view_flags = broken13,
			.lossless = true,
		};
		r = decode(&d, &v);
		if (r != -EINVAL || d.version != 13)
			break;
	}
	if (r < 0)
		return r;
	*out = v;
	if (lossless)
		*lossless = d.lossless;
	return 0;
}

/* ---- the format's rules, shared with the encoder ---------------------- */

int kv_v8_wtf8_next(const uint8_t *s, size_t len, size_t *pos, uint32_t *cp)
{
	size_t i = *pos, n;
	uint32_t c, min;
	uint8_t b = s[i];
	if (b < 0x80) {
		n = 0;
		c = b;
		min = 0;
	} else if (b >= 0xC2 && b <= 0xDF) {
		n = 1;
		c = b & 0x1F;
		min = 0x80;
	} else if ((b & 0xF0) == 0xE0) {
		n = 2;
		c = b & 0x0F;
		min = 0x800;
	} else if (b >= 0xF0 && b <= 0xF4) {
		n = 3;
		c = b & 0x07;
		min = 0x10000;
	} else {
		return -EINVAL;
	}
	if (len - i - 1 < n)
		return -EINVAL;
	for (size_t k = 1; k <= n; k++) {
		if ((s[i + k] & 0xC0) != 0x80)
			return -EINVAL;
		c = c << 6 | (s[i + k] & 0x3F);
	}
	if (c < min || c > 0x10FFFF)
		return -EINVAL;
	i += n + 1;
	/* A surrogate pair has one form: 4 bytes, not two 3-byte halves. */
	if (is_high_surrogate(c) && len - i >= 2 && s[i] == 0xED &&
	    s[i + 1] >= 0xB0 && s[i + 1] <= 0xBF)
		return -EINVAL;
	*cp = c;
	*pos = i;
	return 0;
}

bool kv_v8_regexp_flags_ok(uint32_t flags)
{
	/* V8 knows nine flags, and 'u' and 'v' exclude each other. */
	if (flags >> 9)
		return false;
	return !(flags & KV_RE_UNICODE) || !(flags & KV_RE_UNICODE_SETS);
}

static size_t element_size(enum kv_view_kind kind)
{
	switch (kind) {
	case KV_VIEW_INT8:
	case KV_VIEW_UINT8:
	case KV_VIEW_UINT8_CLAMPED:
	case KV_VIEW_DATAVIEW:
		return 1;
	case KV_VIEW_INT16:
	case KV_VIEW_UINT16:
	case KV_VIEW_FLOAT16:
		return 2;
	case KV_VIEW_INT32:
	case KV_VIEW_UINT32:
	case KV_VIEW_FLOAT32:
		return 4;
	case KV_VIEW_FLOAT64:
	case KV_VIEW_BIGINT64:
	case KV_VIEW_BIGUINT64:
		return 8;
	}
	return 0;
}

int kv_v8_view_check(const struct kv_value *view,
		     const struct kv_value *buffer)
{
	size_t size = element_size(view->view_kind);
	uint32_t flags = view->view_flags;
	bool backed_by_rab = flags & V8_VIEW_BACKED_BY_RAB;
	if (!buffer || buffer->type != KV_ARRAY_BUFFER || size == 0)
		return -EINVAL;
	if (flags & ~(uint32_t)(V8_VIEW_LENGTH_TRACKING | V8_VIEW_BACKED_BY_RAB))
		return -EINVAL;
	if (view->byte_offset % size || view->view_len % size)
		return -EINVAL;
	/* V8 checks the window even for a length-tracking view, whose
	 * length it writes as 0. */
	if (view->byte_offset > buffer->byte_len ||
	    view->view_len > buffer->byte_len - view->byte_offset)
		return -EINVAL;
	if (backed_by_rab != buffer->resizable)
		return -EINVAL;
	if ((flags & V8_VIEW_LENGTH_TRACKING) && !buffer->resizable)
		return -EINVAL;
	return 0;
}

static int array_name_check(const struct kv_value *v,
			    const struct kv_v8_name *name)
{
	bool dense = v->type == KV_ARRAY;
	if (!dense && v->type != KV_SPARSE_ARRAY)
		return 0;
	if (name->kind == KV_V8_NAME_INDEX) {
		if (name->index >= (dense ? v->n_items : v->length))
			return -EINVAL;
		if (dense && v->items[name->index]->type != KV_HOLE)
			return -EINVAL;
		return 0;
	}
	if (name->len == 6 && memcmp(kv_v8_name_text(name), "length", 6) == 0)
		return -EINVAL;
	return 0;
}

static int name_ptr_cmp(const void *a, const void *b)
{
	return kv_v8_name_cmp(*(const struct kv_v8_name *const *)a,
			      *(const struct kv_v8_name *const *)b);
}

/* Objects this small are checked pair by pair: fewer comparisons than a
 * sort of them, and no allocation (most values are such objects). */
enum { FEW_NAMES = 8 };

/* kv_v8_name_cmp() == 0, the lengths compared before any byte. */
static bool same_name(const struct kv_v8_name *a, const struct kv_v8_name *b)
{
	bool ai = a->kind == KV_V8_NAME_INDEX, bi = b->kind == KV_V8_NAME_INDEX;
	if (ai || bi)
		return ai && bi && a->index == b->index;
	return a->len == b->len &&
	       memcmp(kv_v8_name_text(a), kv_v8_name_text(b), a->len) == 0;
}

static int no_name_twice(const struct kv_v8_name *names, size_t n)
{
	if (n <= FEW_NAMES) {
		for (size_t i = 1; i < n; i++)
			for (size_t j = 0; j < i; j++)
				if (same_name(&names[j], &names[i]))
					return -EINVAL;
		return 0;
	}
	const struct kv_v8_name **sorted = malloc(n * sizeof(*sorted));
	int r = sorted ? 0 : -ENOMEM;
	for (size_t i = 0; r == 0 && i < n; i++)
		sorted[i] = &names[i];
	if (r == 0)
		qsort(sorted, n, sizeof(*sorted), name_ptr_cmp);
	for (size_t i = 1; r == 0 && i < n; i++)
		if (kv_v8_name_cmp(sorted[i - 1], sorted[i]) == 0)
			r = -EINVAL;
	free(sorted);
	return r;
}

int kv_v8_prop_names(const struct kv_value *v, struct kv_v8_name **names)
{
	size_t n = v->n_props;
	int r = 0;
	*names = NULL;
	if (n == 0)
		return 0;
	*names = malloc(n * sizeof(**names));
	if (!*names)
		r = -ENOMEM;
	for (size_t i = 0; r == 0 && i < n; i++) {
		r = kv_v8_name_of(v->props[i].key, &(*names)[i]);
		if (r == 0)
			r = array_name_check(v, &(*names)[i]);
	}
	if (r == 0)
		r = no_name_twice(*names, n);
	if (r < 0) {
		free(*names);
		*names = NULL;
	}
	return r;
}
