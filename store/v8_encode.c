/*
 * v8_encode.c — write a value tree as V8 ValueSerializer data, format 15
 * (denokv/SPEC.md §3.1), in the form V8 itself writes, so that a value read
 * from Deno and written back unchanged keeps its bytes (but for the header).
 * Only trees the decoder would accept are written (v8_wire.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "v8_wire.h"

struct encoder {
	struct kv_buf *out;
	size_t start; /* where the header is: padding counts from here */
	bool wide;    /* a buffer size needs format 16 */
	unsigned depth;
	/* Nodes by object id; NULL while the id may not be referred to. */
	const struct kv_value **objects;
	size_t n_objects;
	size_t cap_objects;
	/* objects while they fit: most values hold few, and need no malloc */
	const struct kv_value *few_objects[16];
};

static int write_value(struct encoder *e, const struct kv_value *v);

/* ---- bytes ------------------------------------------------------------ */

/*
 * Room for n more bytes, which the writers below then store directly:
 * most writes find it already there and call nothing.
 */
static int make_room(struct encoder *e, size_t n)
{
	struct kv_buf *out = e->out;
	return out->cap - out->len >= n ? 0 : kv_buf_reserve(out, n);
}

static int put_bytes(struct encoder *e, const void *bytes, size_t n)
{
	int r = n ? make_room(e, n) : 0;
	if (r == 0 && n) {
		memcpy(e->out->data + e->out->len, bytes, n);
		e->out->len += n;
	}
	return r;
}

static int put(struct encoder *e, uint8_t byte)
{
	int r = make_room(e, 1);
	if (r == 0)
		e->out->data[e->out->len++] = byte;
	return r;
}

static size_t varint_len(uint64_t v)
{
	size_t n = 1;
	while (v >>= 7)
		n++;
	return n;
}

enum { VARINT_MAX = 10 };

static int put_varint(struct encoder *e, uint64_t v)
{
	int r = make_room(e, VARINT_MAX);
	if (r < 0)
		return r;
	uint8_t *b = e->out->data + e->out->len;
	do {
		*b++ = (uint8_t)(v & 0x7F) | 0x80;
		v >>= 7;
	} while (v);
	b[-1] &= 0x7F;
	e->out->len = (size_t)(b - e->out->data);
	return 0;
}

/* Every count, length and offset of format 15 is a uint32 varint. */
static int put_u32(struct encoder *e, uint64_t v)
{
	return v > UINT32_MAX ? -EINVAL : put_varint(e, v);
}

/*
 * A buffer or view length or offset: format 16 widened them to 64 bits,
 * and a size that needs more is written so, in a format-16 value.
 */
static int put_size(struct encoder *e, size_t v)
{
	if (v > UINT32_MAX)
		e->wide = true;
	return put_varint(e, v);
}

static int put_tag_u32(struct encoder *e, uint8_t tag, uint64_t v)
{
	if (v > UINT32_MAX)
		return -EINVAL;
	int r = put(e, tag);
	return r < 0 ? r : put_varint(e, v);
}

static int put_tag_double(struct encoder *e, uint8_t tag, double x)
{
	int r = make_room(e, 9);
	if (r < 0)
		return r;
	uint8_t *b = e->out->data + e->out->len;
	uint64_t bits;
	memcpy(&bits, &x, sizeof(bits));
	b[0] = tag;
	for (int i = 0; i < 8; i++)
		b[1 + i] = (uint8_t)(bits >> (8 * i));
	e->out->len += 9;
	return 0;
}

static int enter(struct encoder *e)
{
	return ++e->depth > KV_V8_MAX_DEPTH ? -EINVAL : 0;
}

static void leave(struct encoder *e)
{
	e->depth--;
}

/* Give v the next object id, as V8 does on first meeting a receiver. */
static int add_object(struct encoder *e, const struct kv_value *v)
{
	if (e->n_objects == e->cap_objects) {
		size_t cap = e->cap_objects * 2;
		bool few = e->objects == e->few_objects;
		const struct kv_value **p =
			realloc(few ? NULL : e->objects, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		if (few)
			memcpy(p, e->few_objects, sizeof(e->few_objects));
		e->objects = p;
		e->cap_objects = cap;
	}
	e->objects[e->n_objects++] = v;
	return 0;
}

/* ---- primitives ------------------------------------------------------- */

static int write_int32(struct encoder *e, int32_t i)
{
	uint32_t u = (uint32_t)i;
	return put_tag_u32(e, V8_INT32, (u << 1) ^ (0u - (u >> 31)));
}

/* V8 writes whole 64-bit digits: the magnitude padded to 8 bytes. */
static int write_bigint(struct encoder *e, uint8_t tag,
			const struct kv_bigint *b)
{
	size_t len = b->len, skip = 0, padded;
	int r;
	while (skip < len && b->mag[skip] == 0)
		skip++;
	len -= skip;
	padded = (len + 7) / 8 * 8;
	if (padded > V8_BIGINT_MAX_BYTES)
		return -EINVAL;
	r = put_tag_u32(e, tag, padded << 1 | (len && b->negative));
	if (r == 0)
		r = kv_buf_reserve(e->out, padded);
	for (size_t i = 0; r == 0 && i < padded; i++)
		r = put(e, i < len ? b->mag[skip + len - 1 - i] : 0);
	return r;
}

static int put_utf16(struct encoder *e, uint32_t unit)
{
	int r = put(e, (uint8_t)unit);
	return r < 0 ? r : put(e, (uint8_t)(unit >> 8));
}

static bool is_ascii(const uint8_t *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] >= 0x80)
			return false;
	return true;
}

/*
 * A WTF-8 string as V8 holds it: one byte per char when every char is
 * <= U+00FF, else UTF-16LE, whose payload V8 aligns to an even offset from
 * the header with one padding byte before the tag. ASCII, the common case,
 * is its own one-byte form and is copied as it is.
 */
static int write_string(struct encoder *e, const char *str, size_t len)
{
	const uint8_t *s = (const uint8_t *)str;
	size_t pos = 0, units = 0;
	uint32_t cp, max = 0;
	bool one_byte;
	int r = 0;
	if (is_ascii(s, len)) {
		r = put_tag_u32(e, V8_ONE_BYTE_STRING, len);
		return r < 0 ? r : put_bytes(e, s, len);
	}
	while (pos < len) {
		r = kv_v8_wtf8_next(s, len, &pos, &cp);
		if (r < 0)
			return r;
		units += cp > 0xFFFF ? 2 : 1;
		if (cp > max)
			max = cp;
	}
	one_byte = max <= 0xFF;
	if (one_byte) {
		r = put_tag_u32(e, V8_ONE_BYTE_STRING, units);
	} else {
		uint64_t bytes = 2 * (uint64_t)units;
		if ((e->out->len - e->start + 1 + varint_len(bytes)) & 1)
			r = put(e, V8_PADDING);
		if (r == 0)
			r = put_tag_u32(e, V8_TWO_BYTE_STRING, bytes);
	}
	for (pos = 0; r == 0 && pos < len;) {
		kv_v8_wtf8_next(s, len, &pos, &cp);
		if (one_byte) {
			r = put(e, (uint8_t)cp);
		} else if (cp > 0xFFFF) {
			r = put_utf16(e, 0xD800 + ((cp - 0x10000) >> 10));
			if (r == 0)
				r = put_utf16(e, 0xDC00 + (cp & 0x3FF));
		} else {
			r = put_utf16(e, cp);
		}
	}
	return r;
}

static int write_string_value(struct encoder *e, const struct kv_value *v)
{
	if (!v || v->type != KV_STRING)
		return -EINVAL;
	return write_string(e, v->str, v->str_len);
}

/* ---- objects and arrays ----------------------------------------------- */

static int write_key(struct encoder *e, const struct kv_v8_name *name)
{
	if (name->kind != KV_V8_NAME_INDEX)
		return write_string(e, kv_v8_name_text(name), name->len);
	/* An index is a Smi when it fits, else a heap number. */
	if (name->index <= INT32_MAX)
		return write_int32(e, (int32_t)name->index);
	return put_tag_double(e, V8_DOUBLE, name->index);
}

struct indexed_prop {
	uint32_t index;
	size_t pos;
};

static int indexed_prop_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct indexed_prop *)a)->index;
	uint32_t y = ((const struct indexed_prop *)b)->index;
	return (x > y) - (x < y);
}

static int write_prop(struct encoder *e, const struct kv_v8_name *name,
		      const struct kv_value *value)
{
	int r = write_key(e, name);
	return r < 0 ? r : write_value(e, value);
}

/*
 * The props in V8's order of own keys: integer indices ascending, then the
 * other names in their order; number keys that are no index become the
 * strings JavaScript names them by.
 */
static int write_props(struct encoder *e, const struct kv_value *v)
{
	struct kv_v8_name *names;
	struct indexed_prop *indexed = NULL;
	size_t n_indexed = 0;
	int r = kv_v8_prop_names(v, &names);
	if (r < 0)
		return r;
	for (size_t i = 0; i < v->n_props; i++)
		n_indexed += names[i].kind == KV_V8_NAME_INDEX;
	if (n_indexed) {
		indexed = malloc(n_indexed * sizeof(*indexed));
		if (!indexed)
			r = -ENOMEM;
	}
	for (size_t i = 0, k = 0; r == 0 && k < n_indexed; i++) {
		if (names[i].kind == KV_V8_NAME_INDEX)
			indexed[k++] = (struct indexed_prop){ names[i].index, i };
	}
	if (r == 0 && n_indexed)
		qsort(indexed, n_indexed, sizeof(*indexed), indexed_prop_cmp);
	for (size_t i = 0; r == 0 && i < n_indexed; i++) {
		size_t pos = indexed[i].pos;
		r = write_prop(e, &names[pos], v->props[pos].value);
	}
	for (size_t i = 0; r == 0 && i < v->n_props; i++) {
		if (names[i].kind != KV_V8_NAME_INDEX)
			r = write_prop(e, &names[i], v->props[i].value);
	}
	free(indexed);
	free(names);
	return r;
}

static int write_object(struct encoder *e, const struct kv_value *v)
{
	int r = add_object(e, v);
	if (r == 0)
		r = put(e, V8_OBJECT);
	if (r == 0)
		r = enter(e);
	if (r == 0)
		r = write_props(e, v);
	if (r == 0)
		r = put_tag_u32(e, V8_OBJECT_END, v->n_props);
	leave(e);
	return r;
}

/* Props, then the end tag with the property count and the length. */
static int write_array_end(struct encoder *e, uint8_t end_tag,
			   const struct kv_value *v)
{
	int r = write_props(e, v);
	if (r == 0)
		r = put_tag_u32(e, end_tag, v->n_props);
	if (r == 0)
		r = put_u32(e, v->length);
	return r;
}

static int write_dense_array(struct encoder *e, const struct kv_value *v)
{
	int r = v->n_items == v->length ? add_object(e, v) : -EINVAL;
	if (r == 0)
		r = put_tag_u32(e, V8_DENSE_ARRAY, v->length);
	if (r == 0)
		r = enter(e);
	for (size_t i = 0; r == 0 && i < v->n_items; i++) {
		if (v->items[i]->type == KV_HOLE)
			r = put(e, V8_HOLE);
		else
			r = write_value(e, v->items[i]);
	}
	if (r == 0)
		r = write_array_end(e, V8_DENSE_ARRAY_END, v);
	leave(e);
	return r;
}

static int write_sparse_array(struct encoder *e, const struct kv_value *v)
{
	int r = add_object(e, v);
	if (r == 0)
		r = put_tag_u32(e, V8_SPARSE_ARRAY, v->length);
	if (r == 0)
		r = enter(e);
	if (r == 0)
		r = write_array_end(e, V8_SPARSE_ARRAY_END, v);
	leave(e);
	return r;
}

/* Map (items are key, value, …) or Set. */
static int write_collection(struct encoder *e, const struct kv_value *v,
			    uint8_t tag, uint8_t end_tag)
{
	int r = add_object(e, v);
	if (v->type == KV_MAP && v->n_items % 2)
		return -EINVAL;
	if (r == 0)
		r = put(e, tag);
	if (r == 0)
		r = enter(e);
	for (size_t i = 0; r == 0 && i < v->n_items; i++)
		r = write_value(e, v->items[i]);
	if (r == 0)
		r = put_tag_u32(e, end_tag, v->n_items);
	leave(e);
	return r;
}

/* ---- other receivers -------------------------------------------------- */

static int write_regexp(struct encoder *e, const struct kv_value *v)
{
	int r = kv_v8_regexp_flags_ok(v->flags) ? add_object(e, v) : -EINVAL;
	if (r == 0)
		r = put(e, V8_REGEXP);
	if (r == 0)
		r = write_string(e, v->str, v->str_len);
	if (r == 0)
		r = put_u32(e, v->flags);
	return r;
}

static int write_array_buffer(struct encoder *e, const struct kv_value *v)
{
	int r = add_object(e, v);
	if (r < 0)
		return r;
	if (v->resizable) {
		if (v->byte_len > v->max_byte_len)
			return -EINVAL;
		r = put(e, V8_RESIZABLE_ARRAY_BUFFER);
		if (r == 0)
			r = put_size(e, v->byte_len);
		if (r == 0)
			r = put_size(e, v->max_byte_len);
	} else {
		r = put(e, V8_ARRAY_BUFFER);
		if (r == 0)
			r = put_size(e, v->byte_len);
	}
	if (r == 0)
		r = put_bytes(e, v->bytes, v->byte_len);
	return r;
}

static int write_ref(struct encoder *e, const struct kv_value *v)
{
	if (v->ref_id >= e->n_objects || !e->objects[v->ref_id])
		return -EINVAL;
	return put_tag_u32(e, V8_REF, v->ref_id);
}

/* The buffer (or a reference to it) first, then the view: V8's quirk. */
static int write_view(struct encoder *e, const struct kv_value *v)
{
	const struct kv_value *buffer = v->buffer;
	int r;
	if (!buffer)
		return -EINVAL;
	if (buffer->type == KV_ARRAY_BUFFER) {
		r = write_array_buffer(e, buffer);
	} else if (buffer->type == KV_REF) {
		r = write_ref(e, buffer);
		if (r == 0)
			buffer = e->objects[buffer->ref_id];
	} else {
		return -EINVAL;
	}
	if (r == 0)
		r = kv_v8_view_check(v, buffer);
	if (r == 0)
		r = add_object(e, v);
	if (r == 0)
		r = put_tag_u32(e, V8_VIEW, v->view_kind);
	if (r == 0)
		r = put_size(e, v->byte_offset);
	if (r == 0)
		r = put_size(e, v->view_len);
	if (r == 0)
		r = put_u32(e, v->view_flags);
	return r;
}

static int write_boxed(struct encoder *e, const struct kv_value *v)
{
	const struct kv_value *inner = v->inner;
	int r = inner ? add_object(e, v) : -EINVAL;
	if (r < 0)
		return r;
	switch (inner->type) {
	case KV_BOOL:
		return put(e, inner->boolean ? V8_TRUE_OBJECT : V8_FALSE_OBJECT);
	case KV_INT32:
		return put_tag_double(e, V8_NUMBER_OBJECT, inner->i32);
	case KV_DOUBLE:
		return put_tag_double(e, V8_NUMBER_OBJECT, inner->num);
	case KV_BIGINT:
		return write_bigint(e, V8_BIGINT_OBJECT, &inner->bigint);
	case KV_STRING:
		r = put(e, V8_STRING_OBJECT);
		return r < 0 ? r : write_string_value(e, inner);
	default:
		return -EINVAL;
	}
}

/* Sub-tags (varints) in V8's order: prototype, message, stack, cause, end. */
static int write_error(struct encoder *e, const struct kv_value *v)
{
	int r = add_object(e, v);
	if (r == 0)
		r = put(e, V8_ERROR);
	if (r == 0)
		r = enter(e);
	switch (v->error_proto) {
	case KV_ERROR_PLAIN:
		break;
	case KV_ERROR_EVAL:
	case KV_ERROR_RANGE:
	case KV_ERROR_REFERENCE:
	case KV_ERROR_SYNTAX:
	case KV_ERROR_TYPE:
	case KV_ERROR_URI:
		if (r == 0)
			r = put_varint(e, (uint8_t)v->error_proto);
		break;
	default:
		r = -EINVAL;
	}
	if (r == 0 && v->message) {
		r = put_varint(e, V8_ERROR_MESSAGE);
		if (r == 0)
			r = write_string_value(e, v->message);
	}
	if (r == 0 && v->stack) {
		r = put_varint(e, V8_ERROR_STACK);
		if (r == 0)
			r = write_string_value(e, v->stack);
	}
	if (r == 0 && v->cause) {
		r = put_varint(e, V8_ERROR_CAUSE);
		if (r == 0)
			r = write_value(e, v->cause);
	}
	if (r == 0)
		r = put_varint(e, V8_ERROR_END);
	leave(e);
	return r;
}

/* V8 lets a host object be referred to only once its contents are read. */
static int write_host_object(struct encoder *e, const struct kv_value *v)
{
	size_t id = e->n_objects;
	int r = v->inner ? add_object(e, NULL) : -EINVAL;
	if (r == 0)
		r = put_tag_u32(e, V8_HOST_OBJECT, V8_HOST_CLONEABLE);
	if (r == 0)
		r = enter(e);
	if (r == 0)
		r = write_value(e, v->inner);
	leave(e);
	if (r == 0)
		e->objects[id] = v;
	return r;
}

/* ---- values ----------------------------------------------------------- */

static int write_value(struct encoder *e, const struct kv_value *v)
{
	int r;
	switch (v->type) {
	case KV_UNDEFINED:
		return put(e, V8_UNDEFINED);
	case KV_NULL:
		return put(e, V8_NULL);
	case KV_BOOL:
		return put(e, v->boolean ? V8_TRUE : V8_FALSE);
	case KV_INT32:
		return write_int32(e, v->i32);
	case KV_DOUBLE:
		return put_tag_double(e, V8_DOUBLE, v->num);
	case KV_BIGINT:
		return write_bigint(e, V8_BIGINT, &v->bigint);
	case KV_STRING:
		return write_string(e, v->str, v->str_len);
	case KV_OBJECT:
		return write_object(e, v);
	case KV_ARRAY:
		return write_dense_array(e, v);
	case KV_SPARSE_ARRAY:
		return write_sparse_array(e, v);
	case KV_DATE:
		r = add_object(e, v);
		return r < 0 ? r : put_tag_double(e, V8_DATE, v->num);
	case KV_REGEXP:
		return write_regexp(e, v);
	case KV_MAP:
		return write_collection(e, v, V8_MAP, V8_MAP_END);
	case KV_SET:
		return write_collection(e, v, V8_SET, V8_SET_END);
	case KV_ARRAY_BUFFER:
		return write_array_buffer(e, v);
	case KV_VIEW:
		return write_view(e, v);
	case KV_BOXED:
		return write_boxed(e, v);
	case KV_ERROR:
		return write_error(e, v);
	case KV_HOST_OBJECT:
		return write_host_object(e, v);
	case KV_REF:
		return write_ref(e, v);
	case KV_HOLE:
		break;
	}
	return -EINVAL;
}

int kv_v8_encode(const struct kv_value *v, struct kv_buf *out)
{
	struct encoder e = { .out = out, .start = out->len };
	e.objects = e.few_objects;
	e.cap_objects = sizeof(e.few_objects) / sizeof(e.few_objects[0]);
	int r = put(&e, V8_VERSION);
	if (r == 0)
		r = put_varint(&e, KV_V8_WRITE_VERSION);
	if (r == 0)
		r = write_value(&e, v);
	if (e.objects != e.few_objects)
		free(e.objects);
	if (r < 0)
		out->len = e.start;
	else if (e.wide)
		out->data[e.start + 1] = V8_WIDE_VERSION;
	return r;
}
