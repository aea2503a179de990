/*
 * value_equal.c — structural equality of value trees as Deno sees the values
 * after reading them back, and the property names (v8_wire.h) that objects
 * and arrays are compared, ordered and checked by.
 *
 * What Deno cannot tell apart compares equal: an int32 and a double of the
 * same value; a dense array with holes and a sparse array with the same
 * length and elements; the same properties in another order (a JavaScript
 * object is identified by its keys) and a string key and the number key
 * that names the same property ("1" and 1). NaN equals NaN; -0 differs from
 * 0. Maps and Sets compare in order. Back-references compare by object id.
 * Trees are expected to name each property once, as the decoder guarantees
 * and the encoder requires.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "v8_wire.h"

/* ---- property names --------------------------------------------------- */

static void number_name(double x, struct kv_v8_name *name)
{
	/* -0 counts: String(-0) is "0". NaN fails every comparison. */
	if (x >= 0 && x <= 4294967294.0 && x == floor(x)) {
		name->kind = KV_V8_NAME_INDEX;
		name->index = (uint32_t)x;
		return;
	}
	name->kind = KV_V8_NAME_NUMBER;
	name->len = kv_number_format(x, name->buf);
}

/* A canonical array index is "0" or digits without a leading zero. */
static void string_name(const char *s, size_t len, struct kv_v8_name *name)
{
	uint64_t index = 0;
	name->kind = KV_V8_NAME_STRING;
	name->str = s;
	name->len = len;
	if (len == 0 || len > 10 || (s[0] == '0' && len > 1))
		return;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return;
		index = index * 10 + (uint64_t)(s[i] - '0');
	}
	if (index > 4294967294u)
		return;
	name->kind = KV_V8_NAME_INDEX;
	name->index = (uint32_t)index;
}

int kv_v8_name_of(const struct kv_value *key, struct kv_v8_name *name)
{
	switch (key->type) {
	case KV_STRING:
		string_name(key->str, key->str_len, name);
		return 0;
	case KV_INT32:
		number_name(key->i32, name);
		return 0;
	case KV_DOUBLE:
		number_name(key->num, name);
		return 0;
	default:
		return -EINVAL;
	}
}

const char *kv_v8_name_text(const struct kv_v8_name *name)
{
	return name->kind == KV_V8_NAME_NUMBER ? name->buf : name->str;
}

int kv_v8_name_cmp(const struct kv_v8_name *a, const struct kv_v8_name *b)
{
	bool ai = a->kind == KV_V8_NAME_INDEX, bi = b->kind == KV_V8_NAME_INDEX;
	size_t n;
	int c = 0;
	if (ai != bi)
		return ai ? -1 : 1;
	if (ai)
		return (a->index > b->index) - (a->index < b->index);
	n = a->len < b->len ? a->len : b->len;
	if (n)
		c = memcmp(kv_v8_name_text(a), kv_v8_name_text(b), n);
	if (c)
		return c;
	return (a->len > b->len) - (a->len < b->len);
}

/* ---- equality --------------------------------------------------------- */

static bool is_number(const struct kv_value *v)
{
	return v->type == KV_INT32 || v->type == KV_DOUBLE;
}

static double number_of(const struct kv_value *v)
{
	return v->type == KV_INT32 ? v->i32 : v->num;
}

static bool same_number(double x, double y)
{
	if (isnan(x) || isnan(y))
		return isnan(x) && isnan(y);
	return x == y && signbit(x) == signbit(y);
}

static bool is_array(const struct kv_value *v)
{
	return v->type == KV_ARRAY || v->type == KV_SPARSE_ARRAY;
}

static size_t array_length(const struct kv_value *v)
{
	return v->type == KV_ARRAY ? v->n_items : v->length;
}

static bool has_element(const struct kv_value *v, size_t i)
{
	return v->type == KV_ARRAY && i < v->n_items &&
	       v->items[i]->type != KV_HOLE;
}

/* Elements and props: the own properties the value has. */
static size_t property_count(const struct kv_value *v)
{
	size_t n = v->n_props;
	for (size_t i = 0; v->type == KV_ARRAY && i < v->n_items; i++)
		n += has_element(v, i);
	return n;
}

static bool prop_named(const struct kv_value *v, size_t k,
		       const struct kv_v8_name *name)
{
	struct kv_v8_name other;
	return k < v->n_props &&
	       kv_v8_name_of(v->props[k].key, &other) == 0 &&
	       kv_v8_name_cmp(&other, name) == 0;
}

/* The value of v's property name, looking at props[hint] first; or NULL. */
static const struct kv_value *property(const struct kv_value *v,
				       const struct kv_v8_name *name,
				       size_t hint)
{
	if (name->kind == KV_V8_NAME_INDEX && has_element(v, name->index))
		return v->items[name->index];
	if (prop_named(v, hint, name))
		return v->props[hint].value;
	for (size_t k = 0; k < v->n_props; k++)
		if (prop_named(v, k, name))
			return v->props[k].value;
	return NULL;
}

static bool properties_equal(const struct kv_value *a,
			     const struct kv_value *b)
{
	if (property_count(a) != property_count(b))
		return false;
	for (size_t i = 0; a->type == KV_ARRAY && i < a->n_items; i++) {
		struct kv_v8_name name = {
			.kind = KV_V8_NAME_INDEX,
			.index = (uint32_t)i,
		};
		const struct kv_value *w;
		if (!has_element(a, i))
			continue;
		w = property(b, &name, SIZE_MAX);
		if (!w || !kv_value_equal(a->items[i], w))
			return false;
	}
	for (size_t k = 0; k < a->n_props; k++) {
		struct kv_v8_name name;
		const struct kv_value *w;
		if (kv_v8_name_of(a->props[k].key, &name) < 0)
			return false;
		w = property(b, &name, k);
		if (!w || !kv_value_equal(a->props[k].value, w))
			return false;
	}
	return true;
}

static bool items_equal(const struct kv_value *a, const struct kv_value *b)
{
	if (a->n_items != b->n_items)
		return false;
	for (size_t i = 0; i < a->n_items; i++)
		if (!kv_value_equal(a->items[i], b->items[i]))
			return false;
	return true;
}

static bool bytes_equal(const void *a, size_t alen, const void *b,
			size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* Equal, or both absent. */
static bool optional_equal(const struct kv_value *a, const struct kv_value *b)
{
	if (!a || !b)
		return !a && !b;
	return kv_value_equal(a, b);
}

static bool buffers_equal(const struct kv_value *a, const struct kv_value *b)
{
	return bytes_equal(a->bytes, a->byte_len, b->bytes, b->byte_len) &&
	       a->resizable == b->resizable &&
	       (!a->resizable || a->max_byte_len == b->max_byte_len);
}

static bool views_equal(const struct kv_value *a, const struct kv_value *b)
{
	return a->view_kind == b->view_kind &&
	       a->byte_offset == b->byte_offset &&
	       a->view_len == b->view_len && a->view_flags == b->view_flags &&
	       optional_equal(a->buffer, b->buffer);
}

static bool errors_equal(const struct kv_value *a, const struct kv_value *b)
{
	return a->error_proto == b->error_proto &&
	       optional_equal(a->message, b->message) &&
	       optional_equal(a->stack, b->stack) &&
	       optional_equal(a->cause, b->cause);
}

bool kv_value_equal(const struct kv_value *a, const struct kv_value *b)
{
	if (is_number(a) && is_number(b))
		return same_number(number_of(a), number_of(b));
	if (is_array(a) && is_array(b))
		return array_length(a) == array_length(b) &&
		       properties_equal(a, b);
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case KV_BOOL:
		return a->boolean == b->boolean;
	case KV_BIGINT:
		return a->bigint.negative == b->bigint.negative &&
		       bytes_equal(a->bigint.mag, a->bigint.len,
				   b->bigint.mag, b->bigint.len);
	case KV_STRING:
		return bytes_equal(a->str, a->str_len, b->str, b->str_len);
	case KV_OBJECT:
		return properties_equal(a, b);
	case KV_DATE:
		return same_number(a->num, b->num);
	case KV_REGEXP:
		return a->flags == b->flags &&
		       bytes_equal(a->str, a->str_len, b->str, b->str_len);
	case KV_MAP:
	case KV_SET:
		return items_equal(a, b);
	case KV_ARRAY_BUFFER:
		return buffers_equal(a, b);
	case KV_VIEW:
		return views_equal(a, b);
	case KV_BOXED:
	case KV_HOST_OBJECT:
		return optional_equal(a->inner, b->inner);
	case KV_ERROR:
		return errors_equal(a, b);
	case KV_REF:
		return a->ref_id == b->ref_id;
	default:
		/* undefined, null, the hole: no contents */
		return true;
	}
}
