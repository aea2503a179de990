/*
 * json_render.c — writes a value tree as JSON in kvfs's mapping
 * (docs/json.md): one compact line, strings escaped as JSON.stringify
 * escapes them, every value JSON has no type for as a one-key "$" object.
 *
 * Rendering never fails except for memory, so the writer keeps the first
 * error and the functions below stay free of error plumbing.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "json_map.h"

const struct kv_json_view_type kv_json_view_types[] = {
	{KV_VIEW_INT8, "int8array", "$int8array", 1},
	{KV_VIEW_UINT8, "uint8array", "$bytes", 1},
	{KV_VIEW_UINT8_CLAMPED, "uint8clampedarray", "$uint8clampedarray", 1},
	{KV_VIEW_INT16, "int16array", "$int16array", 2},
	{KV_VIEW_UINT16, "uint16array", "$uint16array", 2},
	{KV_VIEW_INT32, "int32array", "$int32array", 4},
	{KV_VIEW_UINT32, "uint32array", "$uint32array", 4},
	{KV_VIEW_FLOAT16, "float16array", "$float16array", 2},
	{KV_VIEW_FLOAT32, "float32array", "$float32array", 4},
	{KV_VIEW_FLOAT64, "float64array", "$float64array", 8},
	{KV_VIEW_BIGINT64, "bigint64array", "$bigint64array", 8},
	{KV_VIEW_BIGUINT64, "biguint64array", "$biguint64array", 8},
	{KV_VIEW_DATAVIEW, "dataview", "$dataview", 1},
};
const size_t kv_json_n_view_types =
	sizeof(kv_json_view_types) / sizeof(kv_json_view_types[0]);

const struct kv_json_error_name kv_json_error_names[] = {
	{KV_ERROR_PLAIN, "Error"},
	{KV_ERROR_EVAL, "EvalError"},
	{KV_ERROR_RANGE, "RangeError"},
	{KV_ERROR_REFERENCE, "ReferenceError"},
	{KV_ERROR_SYNTAX, "SyntaxError"},
	{KV_ERROR_TYPE, "TypeError"},
	{KV_ERROR_URI, "URIError"},
};
const size_t kv_json_n_error_names =
	sizeof(kv_json_error_names) / sizeof(kv_json_error_names[0]);

const struct kv_json_regexp_flag kv_json_regexp_flags[] = {
	{KV_RE_HAS_INDICES, 'd'}, {KV_RE_GLOBAL, 'g'},
	{KV_RE_IGNORE_CASE, 'i'}, {KV_RE_LINEAR, 'l'},
	{KV_RE_MULTILINE, 'm'},	  {KV_RE_DOT_ALL, 's'},
	{KV_RE_UNICODE, 'u'},	  {KV_RE_UNICODE_SETS, 'v'},
	{KV_RE_STICKY, 'y'},
};
const size_t kv_json_n_regexp_flags =
	sizeof(kv_json_regexp_flags) / sizeof(kv_json_regexp_flags[0]);

struct writer {
	struct kv_buf *buf;
	int err;
};

static void put(struct writer *w, const void *data, size_t len)
{
	if (!w->err)
		w->err = kv_buf_append(w->buf, data, len);
}

static void put_str(struct writer *w, const char *s)
{
	put(w, s, strlen(s));
}

static void put_byte(struct writer *w, char c)
{
	put(w, &c, 1);
}

static void put_uint(struct writer *w, uint64_t n)
{
	char text[24];
	put(w, text, (size_t)snprintf(text, sizeof(text), "%" PRIu64, n));
}

/* {"$tag": — the caller writes the payload and closes with '}'. */
static void open_tag(struct writer *w, const char *tag)
{
	put_str(w, "{\"");
	put_str(w, tag);
	put_str(w, "\":");
}

static void put_escape(struct writer *w, uint32_t unit)
{
	char text[8];
	put(w, text, (size_t)snprintf(text, sizeof(text), "\\u%04" PRIx32,
				      unit));
}

/* The characters JSON.stringify escapes with a short form. */
static const char *short_escape(uint32_t cp)
{
	switch (cp) {
	case '"': return "\\\"";
	case '\\': return "\\\\";
	case '\b': return "\\b";
	case '\f': return "\\f";
	case '\n': return "\\n";
	case '\r': return "\\r";
	case '\t': return "\\t";
	default: return NULL;
	}
}

/*
 * A string's characters, without the quotes. Runs of characters that need
 * no escape are copied in one go. Lone surrogates have no UTF-8 form and
 * are escaped; bytes that are not WTF-8 cannot come from a decoded value,
 * but would make the output invalid UTF-8, so they become U+FFFD.
 */
static void put_string_body(struct writer *w, const char *str, size_t len)
{
	const uint8_t *s = (const uint8_t *)str;
	size_t run = 0, i = 0;
	while (i < len) {
		uint32_t cp;
		size_t n = kv_json_wtf8_char(s + i, len - i, &cp);
		bool plain = n > 0 && cp >= 0x20 && cp != '"' && cp != '\\' &&
			     (cp < 0xd800 || cp > 0xdfff);
		if (plain) {
			i += n;
			continue;
		}
		put(w, s + run, i - run);
		if (n == 0)
			put_str(w, "\xef\xbf\xbd");
		else if (short_escape(cp))
			put_str(w, short_escape(cp));
		else
			put_escape(w, cp);
		i += n ? n : 1;
		run = i;
	}
	put(w, s + run, len - run);
}

static void put_string(struct writer *w, const char *s, size_t len)
{
	put_byte(w, '"');
	put_string_body(w, s, len);
	put_byte(w, '"');
}

static void put_base64url(struct writer *w, const uint8_t *data, size_t len)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				       "abcdefghijklmnopqrstuvwxyz0123456789-_";
	put_byte(w, '"');
	for (size_t i = 0; i < len; i += 3) {
		size_t n = len - i < 3 ? len - i : 3;
		uint32_t group = (uint32_t)data[i] << 16;
		if (n > 1)
			group |= (uint32_t)data[i + 1] << 8;
		if (n > 2)
			group |= data[i + 2];
		char out[4];
		for (size_t k = 0; k < 4; k++)
			out[k] = alphabet[(group >> (18 - 6 * k)) & 63];
		put(w, out, n + 1);
	}
	put_byte(w, '"');
}

static void render_value(struct writer *w, const struct kv_value *v);

/* A number JSON can hold is itself; NaN, ±Infinity and -0 are tagged. */
static void render_number(struct writer *w, double d)
{
	char text[32];
	bool minus_zero = d == 0 && signbit(d);
	if (isfinite(d) && !minus_zero) {
		put(w, text, kv_number_format(d, text));
		return;
	}
	open_tag(w, "$number");
	if (minus_zero)
		put_str(w, "\"-0\"");
	else
		put_string(w, text, kv_number_format(d, text));
	put_byte(w, '}');
}

static void render_bigint(struct writer *w, const struct kv_bigint *b)
{
	struct kv_buf text = {0};
	open_tag(w, "$bigint");
	int r = kv_bigint_to_decimal(b, &text);
	if (r < 0 && !w->err)
		w->err = r;
	if (r == 0)
		put_string(w, (const char *)text.data,
			   strlen((const char *)text.data));
	kv_buf_free(&text);
	put_byte(w, '}');
}

/* A property key: a string, or the decimal text of a number key. */
static void render_key(struct writer *w, const struct kv_value *key)
{
	char text[32];
	if (key->type == KV_STRING) {
		put_string(w, key->str, key->str_len);
		return;
	}
	double d = key->type == KV_INT32 ? key->i32 : key->num;
	put_string(w, text, kv_number_format(d, text));
}

/* The kind of key V8 writes as a number: an array index. */
static bool key_is_index(const struct kv_value *key)
{
	uint32_t index;
	if (key->type == KV_STRING)
		return kv_json_array_index(key->str, key->str_len, &index);
	double d = key->type == KV_INT32 ? key->i32 : key->num;
	return d >= 0 && d <= 4294967294.0 && d == floor(d);
}

enum key_filter { ALL_KEYS, INDEX_KEYS, NAME_KEYS };

static bool key_passes(const struct kv_value *key, enum key_filter filter)
{
	return filter == ALL_KEYS || key_is_index(key) == (filter == INDEX_KEYS);
}

static size_t count_keys(const struct kv_prop *props, size_t n,
			 enum key_filter filter)
{
	size_t count = 0;
	for (size_t i = 0; i < n; i++)
		count += key_passes(props[i].key, filter);
	return count;
}

/* A property map {"k":v,...}: never tagged, whatever its keys. */
static void render_props(struct writer *w, const struct kv_prop *props,
			 size_t n, enum key_filter filter)
{
	bool first = true;
	put_byte(w, '{');
	for (size_t i = 0; i < n; i++) {
		if (!key_passes(props[i].key, filter))
			continue;
		if (!first)
			put_byte(w, ',');
		first = false;
		render_key(w, props[i].key);
		put_byte(w, ':');
		render_value(w, props[i].value);
	}
	put_byte(w, '}');
}

/* Renders the fields ,"name":{...} of a property map unless it is empty. */
static void render_props_field(struct writer *w, const char *name,
			       const struct kv_prop *props, size_t n,
			       enum key_filter filter)
{
	if (count_keys(props, n, filter) == 0)
		return;
	put_str(w, ",\"");
	put_str(w, name);
	put_str(w, "\":");
	render_props(w, props, n, filter);
}

static void render_items(struct writer *w, struct kv_value *const *items,
			 size_t n)
{
	put_byte(w, '[');
	for (size_t i = 0; i < n; i++) {
		if (i)
			put_byte(w, ',');
		render_value(w, items[i]);
	}
	put_byte(w, ']');
}

/* Only an object whose single key begins with '$' could pass for a tag. */
static void render_object(struct writer *w, const struct kv_value *v)
{
	const struct kv_value *key = v->n_props == 1 ? v->props[0].key : NULL;
	bool looks_tagged = key && key->type == KV_STRING &&
			    key->str_len > 0 && key->str[0] == '$';
	if (looks_tagged)
		open_tag(w, "$object");
	render_props(w, v->props, v->n_props, ALL_KEYS);
	if (looks_tagged)
		put_byte(w, '}');
}

static void render_array(struct writer *w, const struct kv_value *v)
{
	bool plain = v->n_props == 0;
	for (size_t i = 0; plain && i < v->n_items; i++)
		plain = v->items[i]->type != KV_HOLE;
	if (plain) {
		render_items(w, v->items, v->n_items);
		return;
	}
	open_tag(w, "$array");
	put_str(w, "{\"items\":");
	render_items(w, v->items, v->n_items);
	render_props_field(w, "props", v->props, v->n_props, ALL_KEYS);
	put_str(w, "}}");
}

static void render_sparse(struct writer *w, const struct kv_value *v)
{
	open_tag(w, "$sparse");
	put_str(w, "{\"length\":");
	put_uint(w, v->length);
	render_props_field(w, "items", v->props, v->n_props, INDEX_KEYS);
	render_props_field(w, "props", v->props, v->n_props, NAME_KEYS);
	put_str(w, "}}");
}

/* Date.prototype.toISOString, for a time value a Date can hold. */
static void put_iso_date(struct writer *w, double t)
{
	int64_t ms = (int64_t)t;
	int64_t ms_of_second = ((ms % 1000) + 1000) % 1000;
	time_t seconds = (time_t)((ms - ms_of_second) / 1000);
	struct tm tm;
	gmtime_r(&seconds, &tm);
	long long year = (long long)tm.tm_year + 1900;
	char year_text[16], text[48];
	if (year >= 0 && year <= 9999)
		snprintf(year_text, sizeof(year_text), "%04lld", year);
	else
		snprintf(year_text, sizeof(year_text), "%+07lld", year);
	int n = snprintf(text, sizeof(text), "%s-%02d-%02dT%02d:%02d:%02d.%03dZ",
			 year_text, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			 tm.tm_min, tm.tm_sec, (int)ms_of_second);
	put_string(w, text, (size_t)n);
}

/*
 * Time values that no Date holds (only foreign writers make them) keep
 * their exact number instead, -0 included, so they survive a round trip.
 */
static void render_date(struct writer *w, double t)
{
	bool iso = isfinite(t) && t == floor(t) && fabs(t) <= KV_JSON_MAX_TIME &&
		   !(t == 0 && signbit(t));
	open_tag(w, "$date");
	if (isnan(t))
		put_str(w, "null");
	else if (iso)
		put_iso_date(w, t);
	else
		render_number(w, t);
	put_byte(w, '}');
}

static void render_regexp(struct writer *w, const struct kv_value *v)
{
	open_tag(w, "$regexp");
	put_str(w, "\"/");
	put_string_body(w, v->str, v->str_len);
	put_byte(w, '/');
	for (size_t i = 0; i < kv_json_n_regexp_flags; i++)
		if (v->flags & kv_json_regexp_flags[i].bit)
			put_byte(w, kv_json_regexp_flags[i].letter);
	put_str(w, "\"}");
}

static void render_map(struct writer *w, const struct kv_value *v)
{
	open_tag(w, "$map");
	put_byte(w, '[');
	for (size_t i = 0; i + 1 < v->n_items; i += 2) {
		if (i)
			put_byte(w, ',');
		render_items(w, v->items + i, 2);
	}
	put_str(w, "]}");
}

/* The payload of $arraybuffer, also the buffer of a $view. */
static void render_buffer_payload(struct writer *w, const struct kv_value *b)
{
	if (b->type != KV_ARRAY_BUFFER) {
		render_value(w, b);
	} else if (!b->resizable) {
		put_base64url(w, b->bytes, b->byte_len);
	} else {
		put_str(w, "{\"bytes\":");
		put_base64url(w, b->bytes, b->byte_len);
		put_str(w, ",\"maxByteLength\":");
		put_uint(w, b->max_byte_len);
		put_byte(w, '}');
	}
}

static const struct kv_json_view_type *view_type(enum kv_view_kind kind)
{
	for (size_t i = 0; i < kv_json_n_view_types; i++)
		if (kv_json_view_types[i].kind == kind)
			return &kv_json_view_types[i];
	return NULL;
}

static bool covers_whole_buffer(const struct kv_value *v,
				const struct kv_json_view_type *type)
{
	const struct kv_value *b = v->buffer;
	return b->type == KV_ARRAY_BUFFER && !b->resizable &&
	       v->view_flags == 0 && v->byte_offset == 0 &&
	       v->view_len == b->byte_len && b->byte_len % type->elem_size == 0;
}

static void render_view(struct writer *w, const struct kv_value *v)
{
	const struct kv_json_view_type *type = view_type(v->view_kind);
	if (type && covers_whole_buffer(v, type)) {
		open_tag(w, type->tag);
		put_base64url(w, v->buffer->bytes, v->buffer->byte_len);
		put_byte(w, '}');
		return;
	}
	open_tag(w, "$view");
	put_str(w, "{\"type\":");
	if (type)
		put_string(w, type->name, strlen(type->name));
	else
		put_str(w, "null");
	put_str(w, ",\"buffer\":");
	render_buffer_payload(w, v->buffer);
	put_str(w, ",\"byteOffset\":");
	put_uint(w, v->byte_offset);
	put_str(w, ",\"byteLength\":");
	put_uint(w, v->view_len);
	put_str(w, ",\"lengthTracking\":");
	put_str(w, v->view_flags & 1 ? "true" : "false");
	put_str(w, "}}");
}

static const char *error_name(enum kv_error_proto proto)
{
	for (size_t i = 0; i < kv_json_n_error_names; i++)
		if (kv_json_error_names[i].proto == proto)
			return kv_json_error_names[i].name;
	return "Error";
}

/* Writes ,"name":value when the error has that field. */
static void render_error_field(struct writer *w, const char *name,
			       const struct kv_value *value)
{
	if (!value)
		return;
	put_str(w, ",\"");
	put_str(w, name);
	put_str(w, "\":");
	render_value(w, value);
}

static void render_error(struct writer *w, const struct kv_value *v)
{
	open_tag(w, "$error");
	put_str(w, "{\"name\":\"");
	put_str(w, error_name(v->error_proto));
	put_byte(w, '"');
	render_error_field(w, "message", v->message);
	render_error_field(w, "cause", v->cause);
	render_error_field(w, "stack", v->stack);
	put_str(w, "}}");
}

/* {"$tag":inner}, for boxes and host objects. */
static void render_wrapped(struct writer *w, const char *tag,
			   const struct kv_value *inner)
{
	open_tag(w, tag);
	render_value(w, inner);
	put_byte(w, '}');
}

static void render_set(struct writer *w, const struct kv_value *v)
{
	open_tag(w, "$set");
	render_items(w, v->items, v->n_items);
	put_byte(w, '}');
}

static void render_array_buffer(struct writer *w, const struct kv_value *v)
{
	open_tag(w, "$arraybuffer");
	render_buffer_payload(w, v);
	put_byte(w, '}');
}

static void render_ref(struct writer *w, const struct kv_value *v)
{
	open_tag(w, "$ref");
	put_uint(w, v->ref_id);
	put_byte(w, '}');
}

static void render_value(struct writer *w, const struct kv_value *v)
{
	switch (v->type) {
	case KV_UNDEFINED:
		put_str(w, "{\"$undefined\":true}");
		break;
	case KV_NULL:
		put_str(w, "null");
		break;
	case KV_BOOL:
		put_str(w, v->boolean ? "true" : "false");
		break;
	case KV_INT32:
		render_number(w, v->i32);
		break;
	case KV_DOUBLE:
		render_number(w, v->num);
		break;
	case KV_BIGINT:
		render_bigint(w, &v->bigint);
		break;
	case KV_STRING:
		put_string(w, v->str, v->str_len);
		break;
	case KV_OBJECT:
		render_object(w, v);
		break;
	case KV_ARRAY:
		render_array(w, v);
		break;
	case KV_SPARSE_ARRAY:
		render_sparse(w, v);
		break;
	case KV_HOLE:
		put_str(w, "{\"$hole\":true}");
		break;
	case KV_DATE:
		render_date(w, v->num);
		break;
	case KV_REGEXP:
		render_regexp(w, v);
		break;
	case KV_MAP:
		render_map(w, v);
		break;
	case KV_SET:
		render_set(w, v);
		break;
	case KV_ARRAY_BUFFER:
		render_array_buffer(w, v);
		break;
	case KV_VIEW:
		render_view(w, v);
		break;
	case KV_BOXED:
		render_wrapped(w, "$boxed", v->inner);
		break;
	case KV_ERROR:
		render_error(w, v);
		break;
	case KV_HOST_OBJECT:
		render_wrapped(w, "$host", v->inner);
		break;
	case KV_REF:
		render_ref(w, v);
		break;
	}
}

int kv_json_render(const struct kv_value *v, struct kv_buf *out)
{
	struct writer w = {.buf = out, .err = 0};
	render_value(&w, v);
	return w.err;
}
