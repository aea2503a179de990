/*
 * kvutils.c — entries in @deno/kv-utils's JSON (denokv/SPEC.md §8): keys
 * and values of the value tree (store/kv_value.h) as §8's typed objects,
 * and back.
 *
 * kv-utils shares several forms with the kvfs JSON mapping (docs/json.md):
 * base64url without padding, toISOString dates, String(regexp), and
 * JSON.stringify's strings. Those are borrowed from kv_json_render() and
 * kv_json_parse() rather than written again: a leaf is rendered in the
 * mapping and its payload taken, or wrapped in the mapping's tag and
 * parsed. The structure around them is kv-utils's own and is scanned here,
 * because a kv-utils object may hold any key (a lone "$..." key is data
 * here, while the mapping reads it as a tag).
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "kvutils.h"
#include "name.h"

/* ---- names -------------------------------------------------------------- */

struct view_name {
	enum kv_view_kind kind;
	const char *name;
	size_t elem_size;
};

/* The views kv-utils knows (it throws on Float16Array). */
static const struct view_name view_names[] = {
	{KV_VIEW_INT8, "Int8Array", 1},
	{KV_VIEW_UINT8, "Uint8Array", 1},
	{KV_VIEW_UINT8_CLAMPED, "Uint8ClampedArray", 1},
	{KV_VIEW_INT16, "Int16Array", 2},
	{KV_VIEW_UINT16, "Uint16Array", 2},
	{KV_VIEW_INT32, "Int32Array", 4},
	{KV_VIEW_UINT32, "Uint32Array", 4},
	{KV_VIEW_FLOAT32, "Float32Array", 4},
	{KV_VIEW_FLOAT64, "Float64Array", 8},
	{KV_VIEW_BIGINT64, "BigInt64Array", 8},
	{KV_VIEW_BIGUINT64, "BigUint64Array", 8},
	{KV_VIEW_DATAVIEW, "DataView", 1},
};

struct error_name {
	enum kv_error_proto proto;
	const char *name;
};

static const struct error_name error_names[] = {
	{KV_ERROR_PLAIN, "Error"},	    {KV_ERROR_EVAL, "EvalError"},
	{KV_ERROR_RANGE, "RangeError"},	    {KV_ERROR_REFERENCE, "ReferenceError"},
	{KV_ERROR_SYNTAX, "SyntaxError"},   {KV_ERROR_TYPE, "TypeError"},
	{KV_ERROR_URI, "URIError"},
};

#define N_OF(a) (sizeof(a) / sizeof(*(a)))

static const struct view_name *view_by_kind(enum kv_view_kind kind)
{
	for (size_t i = 0; i < N_OF(view_names); i++)
		if (view_names[i].kind == kind)
			return &view_names[i];
	return NULL;
}

static bool str_is(const struct kv_value *v, const char *s)
{
	return v && v->type == KV_STRING && v->str_len == strlen(s) &&
	       memcmp(v->str, s, v->str_len) == 0;
}

static const struct view_name *view_by_name(const struct kv_value *type)
{
	for (size_t i = 0; i < N_OF(view_names); i++)
		if (str_is(type, view_names[i].name))
			return &view_names[i];
	return NULL;
}

static const struct error_name *error_by_proto(enum kv_error_proto proto)
{
	for (size_t i = 0; i < N_OF(error_names); i++)
		if (error_names[i].proto == proto)
			return &error_names[i];
	return NULL;
}

static const struct error_name *error_by_name(const struct kv_value *type)
{
	for (size_t i = 0; i < N_OF(error_names); i++)
		if (str_is(type, error_names[i].name))
			return &error_names[i];
	return NULL;
}

/* ---- key strings -------------------------------------------------------- */

static int put_wtf8_unit(struct kv_buf *out, uint32_t cp)
{
	uint8_t b[3] = {0xe0 | cp >> 12, 0x80 | ((cp >> 6) & 0x3f),
			0x80 | (cp & 0x3f)};
	return kv_buf_append(out, b, 3);
}

/* A key string's bytes as a JavaScript string (WTF-8): a byte that is not
 * UTF-8 becomes the lone surrogate U+DC00 + byte, as in user.kv.key. */
static int key_string_to_wtf8(const uint8_t *s, size_t len,
			      struct kv_buf *out)
{
	int r = 0;
	for (size_t i = 0; r == 0 && i < len;) {
		size_t n = kvfs_utf8_length(s + i, len - i);
		if (n) {
			r = kv_buf_append(out, s + i, n);
			i += n;
		} else {
			r = put_wtf8_unit(out, 0xdc00 + s[i]);
			i++;
		}
	}
	return r;
}

/* The reverse: U+DC80..U+DCFF are bytes again; any other lone surrogate
 * becomes U+FFFD, as Deno stores it. */
static int wtf8_to_key_string(const char *str, size_t len, struct kv_buf *out)
{
	const uint8_t *s = (const uint8_t *)str;
	int r = 0;
	for (size_t i = 0; r == 0 && i < len;) {
		if (s[i] == 0xed && i + 2 < len && (s[i + 1] & 0xe0) == 0xa0) {
			uint32_t cp = 0xd000 | (s[i + 1] & 0x3f) << 6 |
				      (s[i + 2] & 0x3f);
			if (cp >= 0xdc80 && cp <= 0xdcff)
				r = kv_buf_push(out, (uint8_t)(cp - 0xdc00));
			else
				r = kv_buf_append(out, "\xef\xbf\xbd", 3);
			i += 3;
		} else {
			r = kv_buf_push(out, s[i]);
			i++;
		}
	}
	return r;
}

/* ---- writing ------------------------------------------------------------ */

/* Appends with a sticky error, so that a render is a plain sequence. */
struct writer {
	struct kv_buf *out;
	int err;
};

static void put(struct writer *w, const void *data, size_t len)
{
	if (!w->err)
		w->err = kv_buf_append(w->out, data, len);
}

static void put_str(struct writer *w, const char *s)
{
	put(w, s, strlen(s));
}

static void fail_with(struct writer *w, int err)
{
	if (!w->err)
		w->err = err;
}

/* Append the payload of the mapping's one-key form {"$tag":payload}. */
static void put_tagged_payload(struct writer *w, const struct kv_value *v,
			       const char *tag)
{
	struct kv_buf tmp = {0};
	int r = kv_json_render(v, &tmp);
	size_t head = strlen(tag) + 4;
	if (r == 0 && (tmp.len <= head || tmp.data[tmp.len - 1] != '}'))
		r = -EINVAL;
	if (r == 0)
		put(w, tmp.data + head, tmp.len - head - 1);
	else
		fail_with(w, r);
	kv_buf_free(&tmp);
}

static void put_json_string(struct writer *w, const char *s, size_t len)
{
	struct kv_value v = {.type = KV_STRING, .str = s, .str_len = len};
	if (!w->err)
		w->err = kv_json_render(&v, w->out);
}

static void put_base64url(struct writer *w, const uint8_t *data, size_t len)
{
	struct kv_value v = {
		.type = KV_ARRAY_BUFFER,
		.bytes = data ? data : (const uint8_t *)"",
		.byte_len = len,
	};
	put_tagged_payload(w, &v, "$arraybuffer");
}

static void put_size(struct writer *w, size_t n)
{
	char buf[32];
	put(w, buf, (size_t)snprintf(buf, sizeof(buf), "%zu", n));
}

static void put_number(struct writer *w, double d, bool signed_nan)
{
	if (isnan(d)) {
		put_str(w, signed_nan && signbit(d) ? "\"-NaN\"" : "\"NaN\"");
	} else if (isinf(d)) {
		put_str(w, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
	} else if (d == 0 && signbit(d)) {
		put_str(w, "-0");
	} else {
		char buf[32];
		put(w, buf, kv_number_format(d, buf));
	}
}

static void put_bigint(struct writer *w, const struct kv_bigint *b)
{
	struct kv_buf dec = {0};
	int r = kv_bigint_to_decimal(b, &dec);
	if (r == 0) {
		put_str(w, "\"");
		put(w, dec.data, dec.len);
		put_str(w, "\"");
	}
	fail_with(w, r);
	kv_buf_free(&dec);
}

/* {"type":"<type>","value": — the caller writes the value and closes. */
static void open_typed(struct writer *w, const char *type)
{
	put_str(w, "{\"type\":\"");
	put_str(w, type);
	put_str(w, "\",\"value\":");
}

static void put_bytes_typed(struct writer *w, const char *type,
			    const uint8_t *data, size_t len, size_t byte_len)
{
	open_typed(w, type);
	put_base64url(w, data, len);
	put_str(w, ",\"byteLength\":");
	put_size(w, byte_len);
}

/* ---- keys --------------------------------------------------------------- */

static void put_key_string(struct writer *w, const uint8_t *s, size_t len)
{
	struct kv_buf text = {0};
	int r = key_string_to_wtf8(s, len, &text);
	if (r == 0)
		put_json_string(w, (const char *)text.data, text.len);
	fail_with(w, r);
	kv_buf_free(&text);
}

static void put_key_part(struct writer *w, const struct kv_part *p)
{
	switch (p->type) {
	case KV_PART_BYTES:
		put_bytes_typed(w, "Uint8Array", p->data, p->len, p->len);
		break;
	case KV_PART_STRING:
		open_typed(w, "string");
		put_key_string(w, p->data, p->len);
		break;
	case KV_PART_BIGINT:
		open_typed(w, "bigint");
		put_bigint(w, &p->bigint);
		break;
	case KV_PART_NUMBER:
		open_typed(w, "number");
		put_number(w, p->num, true);
		break;
	case KV_PART_FALSE:
	case KV_PART_TRUE:
		open_typed(w, "boolean");
		put_str(w, p->type == KV_PART_TRUE ? "true" : "false");
		break;
	}
	put_str(w, "}");
}

int kvutils_key_render(const uint8_t *key, size_t len, struct kv_buf *out)
{
	struct kv_key k = {0};
	int r = kv_key_decode(key, len, &k);
	if (r < 0)
		return r;
	struct writer w = {out, 0};
	put_str(&w, "[");
	for (size_t i = 0; i < k.n; i++) {
		if (i)
			put_str(&w, ",");
		put_key_part(&w, &k.parts[i]);
	}
	put_str(&w, "]");
	kv_key_free(&k);
	return w.err;
}

/* ---- values ------------------------------------------------------------- */

/*
 * Each render_* returns 0, or -ENOTSUP for a value no §8 shape carries
 * exactly (the caller then writes the whole value as kvfs:V8). Memory
 * errors stay in the writer.
 */
static int render_value(struct writer *w, const struct kv_value *v);

static int render_items(struct writer *w, struct kv_value *const *items,
			size_t n)
{
	put_str(w, "[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			put_str(w, ",");
		int r = render_value(w, items[i]);
		if (r < 0)
			return r;
	}
	put_str(w, "]");
	return 0;
}

static bool key_is_index(const struct kv_value *key, uint32_t i)
{
	if (key->type == KV_INT32)
		return key->i32 >= 0 && (uint32_t)key->i32 == i;
	return key->type == KV_DOUBLE && key->num == (double)i;
}

/* A sparse array that has every index below its length and nothing else
 * is an Array to JavaScript ([undefined] is written so). */
static int render_sparse(struct writer *w, const struct kv_value *v)
{
	if (v->n_props != v->length)
		return -ENOTSUP;
	for (uint32_t i = 0; i < v->length; i++)
		if (!key_is_index(v->props[i].key, i))
			return -ENOTSUP;
	open_typed(w, "Array");
	put_str(w, "[");
	for (uint32_t i = 0; i < v->length; i++) {
		if (i)
			put_str(w, ",");
		int r = render_value(w, v->props[i].value);
		if (r < 0)
			return r;
	}
	put_str(w, "]");
	return 0;
}

static int render_prop_key(struct writer *w, const struct kv_value *key)
{
	char buf[32];
	switch (key->type) {
	case KV_STRING:
		put_json_string(w, key->str, key->str_len);
		return 0;
	case KV_INT32:
		put(w, buf, (size_t)snprintf(buf, sizeof(buf), "\"%d\"",
					     (int)key->i32));
		return 0;
	case KV_DOUBLE:
		put_str(w, "\"");
		put(w, buf, kv_number_format(key->num, buf));
		put_str(w, "\"");
		return 0;
	default:
		return -ENOTSUP;
	}
}

static int render_object(struct writer *w, const struct kv_value *v)
{
	open_typed(w, "object");
	put_str(w, "{");
	for (size_t i = 0; i < v->n_props; i++) {
		if (i)
			put_str(w, ",");
		int r = render_prop_key(w, v->props[i].key);
		if (r < 0)
			return r;
		put_str(w, ":");
		r = render_value(w, v->props[i].value);
		if (r < 0)
			return r;
	}
	put_str(w, "}");
	return 0;
}

static int render_map(struct writer *w, const struct kv_value *v)
{
	open_typed(w, "Map");
	put_str(w, "[");
	for (size_t i = 0; i + 1 < v->n_items; i += 2) {
		if (i)
			put_str(w, ",");
		int r = render_items(w, v->items + i, 2);
		if (r < 0)
			return r;
	}
	put_str(w, "]");
	return 0;
}

/* toJSON(): the ISO string, or null for an invalid date. A time value no
 * Date can hold (only foreign writers make one) is its number. */
static void render_date(struct writer *w, const struct kv_value *v)
{
	open_typed(w, "Date");
	if (isnan(v->num))
		put_str(w, "null");
	else if (v->num == trunc(v->num) && fabs(v->num) <= 8.64e15 &&
		 !(v->num == 0 && signbit(v->num)))
		put_tagged_payload(w, v, "$date");
	else
		put_number(w, v->num, false);
}

static int render_view(struct writer *w, const struct kv_value *v)
{
	const struct kv_value *b = v->buffer;
	const struct view_name *vn = view_by_kind(v->view_kind);
	if (!vn || !b || b->type != KV_ARRAY_BUFFER || b->resizable ||
	    v->view_flags)
		return -ENOTSUP;
	put_bytes_typed(w, vn->name, b->bytes, b->byte_len, v->view_len);
	if (v->byte_offset) {
		put_str(w, ",\"byteOffset\":");
		put_size(w, v->byte_offset);
	}
	return 0;
}

static int render_error(struct writer *w, const struct kv_value *v)
{
	const struct error_name *en = error_by_proto(v->error_proto);
	if (!en || (v->message && v->message->type != KV_STRING) ||
	    (v->stack && v->stack->type != KV_STRING))
		return -ENOTSUP;
	open_typed(w, en->name);
	const char *sep = "{";
	if (v->message) {
		put_str(w, sep);
		put_str(w, "\"message\":");
		put_json_string(w, v->message->str, v->message->str_len);
		sep = ",";
	}
	if (v->cause) {
		put_str(w, sep);
		put_str(w, "\"cause\":");
		int r = render_value(w, v->cause);
		if (r < 0)
			return r;
		sep = ",";
	}
	if (v->stack) {
		put_str(w, sep);
		put_str(w, "\"stack\":");
		put_json_string(w, v->stack->str, v->stack->str_len);
		sep = ",";
	}
	put_str(w, *sep == '{' ? "{}" : "}");
	return 0;
}

static int render_value(struct writer *w, const struct kv_value *v)
{
	int r = 0;
	switch (v->type) {
	case KV_UNDEFINED:
		put_str(w, "{\"type\":\"undefined\"");
		break;
	case KV_NULL:
		open_typed(w, "null");
		put_str(w, "null");
		break;
	case KV_BOOL:
		open_typed(w, "boolean");
		put_str(w, v->boolean ? "true" : "false");
		break;
	case KV_INT32:
		open_typed(w, "number");
		put_number(w, v->i32, false);
		break;
	case KV_DOUBLE:
		open_typed(w, "number");
		put_number(w, v->num, false);
		break;
	case KV_BIGINT:
		open_typed(w, "bigint");
		put_bigint(w, &v->bigint);
		break;
	case KV_STRING:
		open_typed(w, "string");
		put_json_string(w, v->str, v->str_len);
		break;
	case KV_OBJECT:
		r = render_object(w, v);
		break;
	case KV_ARRAY:
		if (v->n_props || v->n_items != v->length)
			return -ENOTSUP;
		open_typed(w, "Array");
		r = render_items(w, v->items, v->n_items);
		break;
	case KV_SPARSE_ARRAY:
		r = render_sparse(w, v);
		break;
	case KV_DATE:
		render_date(w, v);
		break;
	case KV_REGEXP:
		open_typed(w, "RegExp");
		put_tagged_payload(w, v, "$regexp");
		break;
	case KV_MAP:
		r = render_map(w, v);
		break;
	case KV_SET:
		open_typed(w, "Set");
		r = render_items(w, v->items, v->n_items);
		break;
	case KV_ARRAY_BUFFER:
		if (v->resizable)
			return -ENOTSUP;
		put_bytes_typed(w, "ArrayBuffer", v->bytes, v->byte_len,
				v->byte_len);
		break;
	case KV_VIEW:
		r = render_view(w, v);
		break;
	case KV_ERROR:
		r = render_error(w, v);
		break;
	case KV_HOLE:
	case KV_BOXED:
	case KV_HOST_OBJECT:
	case KV_REF:
		return -ENOTSUP;
	}
	if (r < 0)
		return r;
	put_str(w, "}");
	return 0;
}

static int render_v8(struct writer *w, const uint8_t *data, size_t len)
{
	struct kv_arena *a = kv_arena_new();
	if (!a)
		return -ENOMEM;
	struct kv_value *v;
	bool lossless;
	int r = kv_v8_decode(data, len, a, &v, &lossless);
	if (r == 0) {
		size_t mark = w->out->len;
		if (!lossless || render_value(w, v) == -ENOTSUP) {
			w->out->len = mark;
			put_bytes_typed(w, KVUTILS_V8_TYPE, data, len, len);
			put_str(w, "}");
		}
	}
	kv_arena_free(a);
	return r;
}

int kvutils_value_render(enum kv_encoding enc, const uint8_t *data,
			 size_t len, struct kv_buf *out)
{
	struct writer w = {out, 0};
	uint64_t n;
	int r = 0;
	switch (enc) {
	case KV_ENC_BYTES:
		put_bytes_typed(&w, "Uint8Array", data, len, len);
		put_str(&w, "}");
		break;
	case KV_ENC_U64:
		r = kv_u64_decode(data, len, &n);
		if (r == 0) {
			char buf[32];
			open_typed(&w, "KvU64");
			put(&w, buf, (size_t)snprintf(buf, sizeof(buf),
						      "\"%llu\"}",
						      (unsigned long long)n));
		}
		break;
	case KV_ENC_V8:
		r = render_v8(&w, data, len);
		break;
	default:
		r = -EINVAL;
	}
	return r < 0 ? r : w.err;
}

int kvutils_entry_render(const struct kv_entry *e, struct kv_buf *out)
{
	size_t mark = out->len;
	char vs[2 * KV_VERSIONSTAMP_LEN + 1];
	kv_versionstamp_format(e->versionstamp, vs);
	int r = kv_buf_append(out, "{\"key\":", 7);
	if (r == 0)
		r = kvutils_key_render(e->key, e->key_len, out);
	if (r == 0)
		r = kv_buf_append(out, ",\"value\":", 9);
	if (r == 0)
		r = kvutils_value_render(e->encoding, e->value, e->value_len,
					 out);
	struct writer w = {out, r};
	put_str(&w, ",\"versionstamp\":\"");
	put_str(&w, vs);
	put_str(&w, "\"}");
	if (w.err)
		out->len = mark;
	return w.err;
}

int kvutils_miss_render(const uint8_t *key, size_t len, struct kv_buf *out)
{
	size_t mark = out->len;
	int r = kv_buf_append(out, "{\"key\":", 7);
	if (r == 0)
		r = kvutils_key_render(key, len, out);
	if (r == 0)
		r = kv_buf_append(out, ",\"value\":null,\"versionstamp\":null}",
				  34);
	if (r < 0)
		out->len = mark;
	return r;
}

/* ---- reading: JSON structure -------------------------------------------- */

/*
 * The JSON of a line as a tree of plain JSON: KV_OBJECT with KV_STRING
 * keys, KV_ARRAY, KV_STRING, KV_INT32/KV_DOUBLE, KV_BOOL, KV_NULL. Leaves
 * are parsed by kv_json_parse(), which holds the rules for strings and
 * numbers; only the structure is scanned here.
 */
struct scanner {
	const char *s;
	size_t len;
	size_t pos;
	struct kv_arena *a;
};

/* kv-utils nests two JSON levels per value level. */
#define SCAN_MAX_DEPTH (2 * KV_V8_MAX_DEPTH + 8)

static void skip_ws(struct scanner *sc)
{
	while (sc->pos < sc->len &&
	       (sc->s[sc->pos] == ' ' || sc->s[sc->pos] == '\t' ||
		sc->s[sc->pos] == '\n' || sc->s[sc->pos] == '\r'))
		sc->pos++;
}

static bool take(struct scanner *sc, char c)
{
	skip_ws(sc);
	if (sc->pos < sc->len && sc->s[sc->pos] == c) {
		sc->pos++;
		return true;
	}
	return false;
}

static int scan_leaf(struct scanner *sc, size_t end, struct kv_value **out)
{
	int r = kv_json_parse(sc->s + sc->pos, end - sc->pos, sc->a, out);
	sc->pos = end;
	return r;
}

static int scan_string(struct scanner *sc, struct kv_value **out)
{
	size_t i = sc->pos + 1;
	while (i < sc->len && sc->s[i] != '"')
		i += sc->s[i] == '\\' ? 2 : 1;
	if (i >= sc->len)
		return -EINVAL;
	int r = scan_leaf(sc, i + 1, out);
	return r == 0 && (*out)->type != KV_STRING ? -EINVAL : r;
}

static bool is_scalar_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       c == '-' || c == '+' || c == '.' || c == 'E';
}

static int scan_scalar(struct scanner *sc, struct kv_value **out)
{
	size_t end = sc->pos;
	while (end < sc->len && is_scalar_char(sc->s[end]))
		end++;
	if (end == sc->pos)
		return -EINVAL;
	return scan_leaf(sc, end, out);
}

static struct kv_value *new_node(struct kv_arena *a, enum kv_type type)
{
	struct kv_value *v = kv_arena_alloc(a, sizeof(*v));
	if (v)
		v->type = type;
	return v;
}

/* The bytes a growing buffer collected, copied into the arena; NULL when
 * there are none. */
static void *arena_copy(struct kv_arena *a, const struct kv_buf *b)
{
	return b->len ? kv_arena_dup(a, b->data, b->len) : NULL;
}

static int scan_value(struct scanner *sc, int depth, struct kv_value **out);

static int scan_array(struct scanner *sc, int depth, struct kv_value **out)
{
	struct kv_buf items = {0};
	int r = 0;
	sc->pos++;
	if (!take(sc, ']')) {
		do {
			struct kv_value *item;
			r = scan_value(sc, depth + 1, &item);
			if (r == 0)
				r = kv_buf_append(&items, &item, sizeof(item));
		} while (r == 0 && take(sc, ','));
		if (r == 0 && !take(sc, ']'))
			r = -EINVAL;
	}
	struct kv_value *v = r == 0 ? new_node(sc->a, KV_ARRAY) : NULL;
	if (r == 0 && !v)
		r = -ENOMEM;
	if (r == 0) {
		v->items = arena_copy(sc->a, &items);
		v->n_items = items.len / sizeof(struct kv_value *);
		v->length = (uint32_t)v->n_items;
		if (items.len && !v->items)
			r = -ENOMEM;
		*out = v;
	}
	kv_buf_free(&items);
	return r;
}

static int scan_member(struct scanner *sc, int depth, struct kv_prop *p)
{
	skip_ws(sc);
	if (sc->pos >= sc->len || sc->s[sc->pos] != '"')
		return -EINVAL;
	int r = scan_string(sc, &p->key);
	if (r == 0 && !take(sc, ':'))
		r = -EINVAL;
	return r == 0 ? scan_value(sc, depth + 1, &p->value) : r;
}

static int scan_object(struct scanner *sc, int depth, struct kv_value **out)
{
	struct kv_buf props = {0};
	int r = 0;
	sc->pos++;
	if (!take(sc, '}')) {
		do {
			struct kv_prop p;
			r = scan_member(sc, depth, &p);
			if (r == 0)
				r = kv_buf_append(&props, &p, sizeof(p));
		} while (r == 0 && take(sc, ','));
		if (r == 0 && !take(sc, '}'))
			r = -EINVAL;
	}
	struct kv_value *v = r == 0 ? new_node(sc->a, KV_OBJECT) : NULL;
	if (r == 0 && !v)
		r = -ENOMEM;
	if (r == 0) {
		v->props = arena_copy(sc->a, &props);
		v->n_props = props.len / sizeof(struct kv_prop);
		if (props.len && !v->props)
			r = -ENOMEM;
		*out = v;
	}
	kv_buf_free(&props);
	return r;
}

static int scan_value(struct scanner *sc, int depth, struct kv_value **out)
{
	if (depth > SCAN_MAX_DEPTH)
		return -EINVAL;
	skip_ws(sc);
	if (sc->pos >= sc->len)
		return -EINVAL;
	switch (sc->s[sc->pos]) {
	case '{':
		return scan_object(sc, depth, out);
	case '[':
		return scan_array(sc, depth, out);
	case '"':
		return scan_string(sc, out);
	default:
		return scan_scalar(sc, out);
	}
}

/* ---- reading: values ---------------------------------------------------- */

struct reader {
	struct kv_arena *a;
	const char *why;
};

static int bad(struct reader *rd, const char *why)
{
	if (!rd->why)
		rd->why = why;
	return -EINVAL;
}

static const struct kv_value *field(const struct kv_value *obj,
				    const char *name)
{
	if (!obj || obj->type != KV_OBJECT)
		return NULL;
	for (size_t i = 0; i < obj->n_props; i++)
		if (str_is(obj->props[i].key, name))
			return obj->props[i].value;
	return NULL;
}

static struct kv_value *reader_node(struct reader *rd, enum kv_type type)
{
	return new_node(rd->a, type);
}

/* Parse "{"$tag":<json>}" built from the mapping's own form. */
static int parse_tagged(struct reader *rd, const char *tag,
			const struct kv_value *payload, enum kv_type want,
			const char *why, struct kv_value **out)
{
	struct kv_buf text = {0};
	int r = kv_buf_append(&text, "{\"", 2);
	if (r == 0)
		r = kv_buf_append(&text, tag, strlen(tag));
	if (r == 0)
		r = kv_buf_append(&text, "\":", 2);
	if (r == 0)
		r = kv_json_render(payload, &text);
	if (r == 0)
		r = kv_buf_push(&text, '}');
	if (r == 0)
		r = kv_json_parse((const char *)text.data, text.len, rd->a,
				  out);
	kv_buf_free(&text);
	if (r == 0 && (*out)->type != want)
		r = -EINVAL;
	return r == -EINVAL ? bad(rd, why) : r;
}

static int read_base64url(struct reader *rd, const struct kv_value *s,
			  const uint8_t **bytes, size_t *len)
{
	if (!s || s->type != KV_STRING)
		return bad(rd, "binary data is not a string");
	for (size_t i = 0; i < s->str_len; i++) {
		char c = s->str[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return bad(rd, "binary data is not base64url");
	}
	struct kv_value *buf;
	int r = parse_tagged(rd, "$arraybuffer", s, KV_ARRAY_BUFFER,
			     "binary data is not base64url", &buf);
	if (r == 0) {
		*bytes = buf->bytes;
		*len = buf->byte_len;
	}
	return r;
}

/* A JSON number that is a size (an integer from 0 up). */
static int read_size(struct reader *rd, const struct kv_value *v, size_t *out)
{
	if (v && v->type == KV_INT32 && v->i32 >= 0) {
		*out = (size_t)v->i32;
		return 0;
	}
	if (v && v->type == KV_DOUBLE && v->num >= 0 && v->num < 9.0e15 &&
	    v->num == trunc(v->num)) {
		*out = (size_t)v->num;
		return 0;
	}
	return bad(rd, "byteLength or byteOffset is not a size");
}

static int read_number(struct reader *rd, const struct kv_value *v,
		       bool signed_nan, double *out)
{
	if (v && v->type == KV_INT32)
		*out = v->i32;
	else if (v && v->type == KV_DOUBLE)
		*out = v->num;
	else if (str_is(v, "NaN"))
		*out = NAN;
	else if (signed_nan && str_is(v, "-NaN"))
		*out = copysign(NAN, -1.0);
	else if (str_is(v, "Infinity"))
		*out = INFINITY;
	else if (str_is(v, "-Infinity"))
		*out = -INFINITY;
	else
		return bad(rd, "a number is not a number");
	return 0;
}

/* A decimal bigint, its magnitude in the arena. */
static int read_bigint(struct reader *rd, const struct kv_value *v,
		       struct kv_bigint *out)
{
	if (!v || v->type != KV_STRING)
		return bad(rd, "a bigint is not a string");
	struct kv_buf storage = {0};
	int r = kv_bigint_from_decimal(v->str, v->str_len, false, out,
				       &storage);
	if (r == 0 && out->len) {
		out->mag = kv_arena_dup(rd->a, out->mag, out->len);
		if (!out->mag)
			r = -ENOMEM;
	}
	kv_buf_free(&storage);
	return r == -ENOMEM ? r : r < 0 ? bad(rd, "a bigint is not decimal")
					: 0;
}

static int read_value(struct reader *rd, const struct kv_value *j, int depth,
		      struct kv_value **out);

static int read_items(struct reader *rd, const struct kv_value *arr,
		      int depth, struct kv_value ***items, size_t *n)
{
	if (!arr || arr->type != KV_ARRAY)
		return bad(rd, "the value of an Array, Set or Map is not an "
			       "array");
	*n = arr->n_items;
	*items = kv_arena_alloc(rd->a, (*n ? *n : 1) * sizeof(**items));
	if (!*items)
		return -ENOMEM;
	for (size_t i = 0; i < *n; i++) {
		int r = read_value(rd, arr->items[i], depth + 1, &(*items)[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

static int read_map(struct reader *rd, const struct kv_value *arr, int depth,
		    struct kv_value *v)
{
	if (!arr || arr->type != KV_ARRAY)
		return bad(rd, "the value of a Map is not an array");
	v->n_items = 2 * arr->n_items;
	v->items = kv_arena_alloc(rd->a, (v->n_items + 1) * sizeof(*v->items));
	if (!v->items)
		return -ENOMEM;
	for (size_t i = 0; i < arr->n_items; i++) {
		const struct kv_value *pair = arr->items[i];
		if (pair->type != KV_ARRAY || pair->n_items != 2)
			return bad(rd, "a Map entry is not a pair");
		for (size_t k = 0; k < 2; k++) {
			int r = read_value(rd, pair->items[k], depth + 1,
					   &v->items[2 * i + k]);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int read_object(struct reader *rd, const struct kv_value *obj,
		       int depth, struct kv_value *v)
{
	if (!obj || obj->type != KV_OBJECT)
		return bad(rd, "the value of an object is not an object");
	v->n_props = obj->n_props;
	v->props = kv_arena_alloc(rd->a, (v->n_props + 1) * sizeof(*v->props));
	if (!v->props)
		return -ENOMEM;
	for (size_t i = 0; i < obj->n_props; i++) {
		v->props[i].key = obj->props[i].key;
		int r = read_value(rd, obj->props[i].value, depth + 1,
				   &v->props[i].value);
		if (r < 0)
			return r;
	}
	return 0;
}

static int read_date(struct reader *rd, const struct kv_value *j,
		     struct kv_value **out)
{
	if (j && (j->type == KV_INT32 || j->type == KV_DOUBLE ||
		  j->type == KV_NULL)) {
		struct kv_value *v = reader_node(rd, KV_DATE);
		if (!v)
			return -ENOMEM;
		v->num = j->type == KV_NULL ? NAN
			 : j->type == KV_INT32 ? j->i32
					       : j->num;
		*out = v;
		return 0;
	}
	if (!j || j->type != KV_STRING)
		return bad(rd, "a Date is not a string");
	return parse_tagged(rd, "$date", j, KV_DATE,
			    "a Date is not an ISO 8601 time", out);
}

/* A view over a new buffer: the whole buffer, then byteLength (default:
 * the rest) from byteOffset (default 0), which must fit as V8 demands. */
static int read_view(struct reader *rd, const struct view_name *vn,
		     const struct kv_value *j, struct kv_value **out)
{
	struct kv_value *b = reader_node(rd, KV_ARRAY_BUFFER);
	struct kv_value *v = reader_node(rd, KV_VIEW);
	if (!b || !v)
		return -ENOMEM;
	int r = read_base64url(rd, field(j, "value"), &b->bytes, &b->byte_len);
	size_t off = 0, len;
	const struct kv_value *f = field(j, "byteOffset");
	if (r == 0 && f)
		r = read_size(rd, f, &off);
	if (r == 0 && off > b->byte_len)
		r = bad(rd, "byteOffset is past the buffer");
	if (r < 0)
		return r;
	len = b->byte_len - off;
	f = field(j, "byteLength");
	if (r == 0 && f)
		r = read_size(rd, f, &len);
	if (r < 0)
		return r;
	if (len > b->byte_len - off || off % vn->elem_size ||
	    len % vn->elem_size)
		return bad(rd, "the view does not fit its buffer");
	v->view_kind = vn->kind;
	v->buffer = b;
	v->byte_offset = off;
	v->view_len = len;
	*out = v;
	return 0;
}

static int read_error(struct reader *rd, const struct error_name *en,
		      const struct kv_value *j, int depth,
		      struct kv_value **out)
{
	const struct kv_value *body = field(j, "value");
	if (!body || body->type != KV_OBJECT)
		return bad(rd, "the value of an Error is not an object");
	struct kv_value *v = reader_node(rd, KV_ERROR);
	if (!v)
		return -ENOMEM;
	v->error_proto = en->proto;
	const struct kv_value *message = field(body, "message");
	const struct kv_value *stack = field(body, "stack");
	const struct kv_value *cause = field(body, "cause");
	if ((message && message->type != KV_STRING) ||
	    (stack && stack->type != KV_STRING))
		return bad(rd, "an Error's message or stack is not a string");
	v->message = (struct kv_value *)message;
	v->stack = (struct kv_value *)stack;
	*out = v;
	return cause ? read_value(rd, cause, depth + 1, &v->cause) : 0;
}

/* A KvU64 inside a value: Deno stores it as the plain object
 * {value: <bigint>}. */
static int read_nested_u64(struct reader *rd, const struct kv_value *j,
			   struct kv_value **out)
{
	struct kv_value *v = reader_node(rd, KV_OBJECT);
	struct kv_value *key = reader_node(rd, KV_STRING);
	struct kv_value *n = reader_node(rd, KV_BIGINT);
	if (!v || !key || !n)
		return -ENOMEM;
	v->props = kv_arena_alloc(rd->a, sizeof(*v->props));
	if (!v->props)
		return -ENOMEM;
	key->str = "value";
	key->str_len = 5;
	v->props[0] = (struct kv_prop){key, n};
	v->n_props = 1;
	*out = v;
	return read_bigint(rd, field(j, "value"), &n->bigint);
}

static int read_scalar(struct reader *rd, const struct kv_value *type,
		       const struct kv_value *val, struct kv_value **out)
{
	struct kv_value *v;
	if (str_is(type, "undefined")) {
		v = reader_node(rd, KV_UNDEFINED);
	} else if (str_is(type, "null")) {
		if (!val || val->type != KV_NULL)
			return bad(rd, "null with a value that is not null");
		v = reader_node(rd, KV_NULL);
	} else if (str_is(type, "boolean") || str_is(type, "string")) {
		enum kv_type want = str_is(type, "string") ? KV_STRING
							   : KV_BOOL;
		if (!val || val->type != want)
			return bad(rd, "a boolean or string of another type");
		*out = (struct kv_value *)val;
		return 0;
	} else if (str_is(type, "number")) {
		if (val && val->type == KV_INT32) {
			*out = (struct kv_value *)val;
			return 0;
		}
		v = reader_node(rd, KV_DOUBLE);
		if (v) {
			int r = read_number(rd, val, false, &v->num);
			if (r < 0)
				return r;
		}
	} else if (str_is(type, "bigint")) {
		v = reader_node(rd, KV_BIGINT);
		if (v) {
			int r = read_bigint(rd, val, &v->bigint);
			if (r < 0)
				return r;
		}
	} else {
		return -ENOENT;
	}
	if (!v)
		return -ENOMEM;
	*out = v;
	return 0;
}

static int read_compound(struct reader *rd, const struct kv_value *type,
			 const struct kv_value *val, int depth,
			 struct kv_value **out)
{
	enum kv_type t;
	if (str_is(type, "Array"))
		t = KV_ARRAY;
	else if (str_is(type, "Set"))
		t = KV_SET;
	else if (str_is(type, "Map"))
		t = KV_MAP;
	else if (str_is(type, "object"))
		t = KV_OBJECT;
	else if (str_is(type, "ArrayBuffer"))
		t = KV_ARRAY_BUFFER;
	else
		return -ENOENT;
	struct kv_value *v = reader_node(rd, t);
	if (!v)
		return -ENOMEM;
	*out = v;
	int r;
	switch (t) {
	case KV_ARRAY:
		r = read_items(rd, val, depth, &v->items, &v->n_items);
		if (v->n_items > UINT32_MAX - 1)
			return bad(rd, "an Array is too long");
		v->length = (uint32_t)v->n_items;
		return r;
	case KV_SET:
		return read_items(rd, val, depth, &v->items, &v->n_items);
	case KV_MAP:
		return read_map(rd, val, depth, v);
	case KV_OBJECT:
		return read_object(rd, val, depth, v);
	default:
		return read_base64url(rd, val, &v->bytes, &v->byte_len);
	}
}

static int read_value(struct reader *rd, const struct kv_value *j, int depth,
		      struct kv_value **out)
{
	if (depth > KV_V8_MAX_DEPTH)
		return bad(rd, "the value nests too deep");
	const struct kv_value *type = field(j, "type");
	if (!type || type->type != KV_STRING)
		return bad(rd, "a value is not an object with a \"type\"");
	const struct kv_value *val = field(j, "value");
	int r = read_scalar(rd, type, val, out);
	if (r != -ENOENT)
		return r;
	r = read_compound(rd, type, val, depth, out);
	if (r != -ENOENT)
		return r;
	const struct view_name *vn = view_by_name(type);
	if (vn)
		return read_view(rd, vn, j, out);
	const struct error_name *en = error_by_name(type);
	if (en)
		return read_error(rd, en, j, depth, out);
	if (str_is(type, "Date"))
		return read_date(rd, val, out);
	if (str_is(type, "RegExp")) {
		if (!val || val->type != KV_STRING)
			return bad(rd, "a RegExp is not a string");
		return parse_tagged(rd, "$regexp", val, KV_REGEXP,
				    "a RegExp is not /source/flags", out);
	}
	if (str_is(type, "KvU64"))
		return read_nested_u64(rd, j, out);
	return bad(rd, "unknown value type");
}

/* ---- reading: keys and entries ------------------------------------------ */

static int read_key_part(struct reader *rd, const struct kv_value *j,
			 struct kv_buf *key)
{
	const struct kv_value *type = field(j, "type");
	const struct kv_value *val = field(j, "value");
	struct kv_part p = {0};
	struct kv_buf storage = {0};
	int r = 0;
	if (str_is(type, "string")) {
		if (!val || val->type != KV_STRING)
			return bad(rd, "a string key part is not a string");
		p.type = KV_PART_STRING;
		r = wtf8_to_key_string(val->str, val->str_len, &storage);
		p.data = storage.data ? storage.data : (const uint8_t *)"";
		p.len = storage.len;
	} else if (str_is(type, "number")) {
		p.type = KV_PART_NUMBER;
		r = read_number(rd, val, true, &p.num);
	} else if (str_is(type, "bigint")) {
		p.type = KV_PART_BIGINT;
		r = read_bigint(rd, val, &p.bigint);
	} else if (str_is(type, "boolean")) {
		if (!val || val->type != KV_BOOL)
			return bad(rd, "a boolean key part is not a boolean");
		p.type = val->boolean ? KV_PART_TRUE : KV_PART_FALSE;
	} else if (str_is(type, "Uint8Array")) {
		p.type = KV_PART_BYTES;
		r = read_base64url(rd, val, &p.data, &p.len);
	} else {
		return bad(rd, "unknown key part type");
	}
	if (r == 0)
		r = kv_part_encode(&p, key);
	kv_buf_free(&storage);
	if (r == -ERANGE)
		return bad(rd, "a bigint key part is too large");
	return r;
}

static int read_key(struct reader *rd, const struct kv_value *j,
		    struct kv_buf *key)
{
	if (!j || j->type != KV_ARRAY)
		return bad(rd, "the key is not an array");
	for (size_t i = 0; i < j->n_items; i++) {
		int r = read_key_part(rd, j->items[i], key);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The top-level forms Deno stores other than as V8. */
static int read_stored(struct reader *rd, const struct kv_value *j,
		       enum kv_encoding *enc, struct kv_buf *value)
{
	const struct kv_value *type = field(j, "type");
	const struct kv_value *val = field(j, "value");
	if (str_is(type, "KvU64")) {
		*enc = KV_ENC_U64;
		if (!val || val->type != KV_STRING ||
		    kv_value_parse(KV_ENC_U64, (const uint8_t *)val->str,
				   val->str_len, value) < 0)
			return bad(rd, "a KvU64 is not a decimal 0..2^64-1");
		return 0;
	}
	if (str_is(type, KVUTILS_V8_TYPE)) {
		const uint8_t *bytes;
		size_t len;
		int r = read_base64url(rd, val, &bytes, &len);
		if (r < 0)
			return r;
		struct kv_value *v;
		if (kv_v8_decode(bytes, len, rd->a, &v, NULL) < 0)
			return bad(rd, "kvfs:V8 bytes that do not decode");
		*enc = KV_ENC_V8;
		return kv_buf_append(value, bytes, len);
	}
	if (str_is(type, "Uint8Array")) {
		struct kv_value *v;
		int r = read_view(rd, &view_names[1], j, &v);
		if (r < 0)
			return r;
		*enc = KV_ENC_BYTES;
		return kv_buf_append(value, v->buffer->bytes + v->byte_offset,
				     v->view_len);
	}
	return -ENOENT;
}

static int read_entry(struct reader *rd, const struct kv_value *root,
		      struct kv_buf *key, enum kv_encoding *enc,
		      struct kv_buf *value)
{
	if (root->type != KV_OBJECT)
		return bad(rd, "the line is not a JSON object");
	int r = read_key(rd, field(root, "key"), key);
	if (r < 0)
		return r;
	const struct kv_value *j = field(root, "value");
	if (!j || j->type == KV_NULL)
		return bad(rd, "the entry has no value");
	r = read_stored(rd, j, enc, value);
	if (r != -ENOENT)
		return r;
	struct kv_value *v;
	r = read_value(rd, j, 0, &v);
	if (r < 0)
		return r;
	*enc = KV_ENC_V8;
	r = kv_v8_encode(v, value);
	return r == -EINVAL ? bad(rd, "the value cannot be stored") : r;
}

int kvutils_entry_parse(const char *line, size_t len, struct kv_buf *key,
			enum kv_encoding *enc, struct kv_buf *value,
			const char **why)
{
	struct reader rd = {.a = kv_arena_new()};
	if (!rd.a)
		return -ENOMEM;
	struct scanner sc = {.s = line, .len = len, .a = rd.a};
	struct kv_value *root;
	int r = scan_value(&sc, 0, &root);
	skip_ws(&sc);
	if (r == -EINVAL || (r == 0 && sc.pos != len))
		r = bad(&rd, "the line is not JSON");
	if (r == 0)
		r = read_entry(&rd, root, key, enc, value);
	*why = r == -ENOMEM ? "out of memory" : rd.why;
	kv_arena_free(rd.a);
	return r;
}
