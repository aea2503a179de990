/*
 * json_parse.c — reads JSON in kvfs's mapping (docs/json.md) into a value
 * tree. Two passes: strict RFC 8259 text into a JSON tree, then the JSON
 * tree into values. An object is only known to be a "$" tag once it has
 * closed with a single key, which is why the passes are separate.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json_map.h"
#include "v8_wire.h"

/* ---- JSON text into a JSON tree ---------------------------------------- */

enum jtype { J_NULL, J_FALSE, J_TRUE, J_NUMBER, J_STRING, J_ARRAY, J_OBJECT };

struct jnode {
	enum jtype type;
	const char *str;     /* J_STRING: decoded WTF-8, NUL-ended */
	size_t len;
	double num;	     /* J_NUMBER */
	bool int32;	     /* J_NUMBER: an integer literal in int32 range */
	struct jnode *first; /* J_ARRAY items, J_OBJECT members */
	size_t n;
	struct jnode *next;  /* the next item or member */
	const char *key;     /* a member's decoded key */
	size_t key_len;
};

/*
 * The value tree may nest KV_V8_MAX_DEPTH deep, and a tag takes up to three
 * JSON levels per value level ({"$map":[[k,v]]}) plus a few for a leaf's
 * payload; anything deeper is refused before it can exhaust the stack.
 */
enum { JSON_MAX_DEPTH = 3 * KV_V8_MAX_DEPTH + 4 };

struct reader {
	const uint8_t *s;
	size_t len;
	size_t pos;
	struct kv_arena *arena;
};

size_t kv_json_wtf8_char(const uint8_t *s, size_t len, uint32_t *cp)
{
	uint8_t c = s[0];
	size_t n;
	uint32_t min;
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if (c >= 0xc2 && c < 0xe0) {
		n = 2, min = 0x80, *cp = c & 0x1f;
	} else if (c >= 0xe0 && c < 0xf0) {
		n = 3, min = 0x800, *cp = c & 0x0f;
	} else if (c >= 0xf0 && c < 0xf5) {
		n = 4, min = 0x10000, *cp = c & 0x07;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*cp = *cp << 6 | (s[i] & 0x3f);
	}
	return *cp >= min && *cp <= 0x10ffff ? n : 0;
}

bool kv_json_array_index(const char *s, size_t len, uint32_t *index)
{
	if (len == 0 || len > 10 || (s[0] == '0' && len > 1))
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > 4294967294u)
		return false;
	*index = (uint32_t)v;
	return true;
}

static bool is_surrogate(uint32_t cp)
{
	return cp >= 0xd800 && cp <= 0xdfff;
}

static void skip_ws(struct reader *r)
{
	while (r->pos < r->len && (r->s[r->pos] == ' ' || r->s[r->pos] == '\t' ||
				   r->s[r->pos] == '\n' || r->s[r->pos] == '\r'))
		r->pos++;
}

static struct jnode *new_jnode(struct reader *r, enum jtype type)
{
	struct jnode *j = kv_arena_alloc(r->arena, sizeof(*j));
	if (j)
		j->type = type;
	return j;
}

static int hex4(const uint8_t *s, size_t len, uint32_t *out)
{
	if (len < 4)
		return -EINVAL;
	*out = 0;
	for (size_t i = 0; i < 4; i++) {
		uint8_t c = s[i];
		uint32_t digit;
		if (c >= '0' && c <= '9')
			digit = c - '0';
		else if (c >= 'a' && c <= 'f')
			digit = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			digit = c - 'A' + 10;
		else
			return -EINVAL;
		*out = *out << 4 | digit;
	}
	return 0;
}

/* Writes cp as UTF-8; a surrogate gets its 3-byte WTF-8 form. */
static size_t put_utf8(uint8_t *dst, uint32_t cp)
{
	if (cp < 0x80) {
		dst[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		dst[0] = (uint8_t)(0xc0 | cp >> 6);
		dst[1] = (uint8_t)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		dst[0] = (uint8_t)(0xe0 | cp >> 12);
		dst[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
		dst[2] = (uint8_t)(0x80 | (cp & 0x3f));
		return 3;
	}
	dst[0] = (uint8_t)(0xf0 | cp >> 18);
	dst[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
	dst[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
	dst[3] = (uint8_t)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * \uXXXX at s (len bytes up to the closing quote). An escaped pair is one
 * character; an escaped lone surrogate stays one, so every JavaScript
 * string can be written. Returns the bytes consumed or -EINVAL.
 */
static long read_unicode_escape(const uint8_t *s, size_t len, uint8_t *dst,
				size_t *written)
{
	uint32_t unit, low;
	if (hex4(s + 2, len - 2, &unit) < 0)
		return -EINVAL;
	bool pair = unit >= 0xd800 && unit <= 0xdbff && len >= 12 &&
		    s[6] == '\\' && s[7] == 'u' && hex4(s + 8, 4, &low) == 0 &&
		    low >= 0xdc00 && low <= 0xdfff;
	if (!pair) {
		*written = put_utf8(dst, unit);
		return 6;
	}
	*written = put_utf8(dst, 0x10000 + ((unit - 0xd800) << 10) +
					 (low - 0xdc00));
	return 12;
}

/* The escape at s (a backslash); returns the bytes consumed or -EINVAL. */
static long read_escape(const uint8_t *s, size_t len, uint8_t *dst,
			size_t *written)
{
	static const char names[] = "\"\\/bfnrt";
	static const char values[] = "\"\\/\b\f\n\r\t";
	if (len < 2)
		return -EINVAL;
	if (s[1] == 'u')
		return read_unicode_escape(s, len, dst, written);
	const char *name = s[1] ? strchr(names, s[1]) : NULL;
	if (!name)
		return -EINVAL;
	dst[0] = (uint8_t)values[name - names];
	*written = 1;
	return 2;
}

/* A raw character of a string: UTF-8, no control, no encoded surrogate. */
static long read_raw_char(const uint8_t *s, size_t len, uint8_t *dst,
			  size_t *written)
{
	uint32_t cp;
	size_t n = kv_json_wtf8_char(s, len, &cp);
	if (n == 0 || cp < 0x20 || is_surrogate(cp))
		return -EINVAL;
	memcpy(dst, s, n);
	*written = n;
	return (long)n;
}

/* The index of the closing quote of the string that starts at r->pos. */
static int find_string_end(const struct reader *r, size_t *end)
{
	for (size_t i = r->pos + 1; i < r->len; i++) {
		if (r->s[i] == '"') {
			*end = i;
			return 0;
		}
		if (r->s[i] == '\\')
			i++;
	}
	return -EINVAL;
}

/*
 * Most strings are printable ASCII without escapes, which decode to
 * themselves: those are copied in one piece. The scan stops at the first
 * byte that is not, and only then is the string decoded character by
 * character. Every escape is longer than what it stands for, so the
 * decoded string fits in the space of the literal.
 */
static int read_string(struct reader *r, const char **out, size_t *out_len)
{
	size_t end = r->pos + 1;
	while (end < r->len && r->s[end] >= 0x20 && r->s[end] < 0x80 &&
	       r->s[end] != '"' && r->s[end] != '\\')
		end++;
	if (end < r->len && r->s[end] == '"') {
		*out_len = end - r->pos - 1;
		*out = kv_arena_dup(r->arena, r->s + r->pos + 1, *out_len);
		r->pos = end + 1;
		return *out ? 0 : -ENOMEM;
	}
	if (find_string_end(r, &end) < 0)
		return -EINVAL;
	uint8_t *dst = kv_arena_alloc(r->arena, end - r->pos);
	if (!dst)
		return -ENOMEM;
	size_t n = 0;
	for (size_t i = r->pos + 1; i < end;) {
		size_t written;
		long used = r->s[i] == '\\'
				    ? read_escape(r->s + i, end - i, dst + n, &written)
				    : read_raw_char(r->s + i, end - i, dst + n,
						    &written);
		if (used < 0)
			return (int)used;
		i += (size_t)used;
		n += written;
	}
	dst[n] = 0;
	*out = (const char *)dst;
	*out_len = n;
	r->pos = end + 1;
	return 0;
}

static size_t skip_digits(const struct reader *r, size_t i)
{
	while (i < r->len && r->s[i] >= '0' && r->s[i] <= '9')
		i++;
	return i;
}

/*
 * The value of a checked number literal when it has at most 15 significant
 * digits and a power of ten within 10^±22: both are exact doubles, so one
 * multiplication or division rounds correctly, as kv_number_parse would,
 * without its text round trip (Clinger's fast path). False otherwise.
 */
static bool exact_decimal(const uint8_t *s, size_t len, double *out)
{
	static const double pow10[] = {
		1e0,  1e1,  1e2,  1e3,	1e4,  1e5,  1e6,  1e7,
		1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
		1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
	};
	enum { MAX_EXP = 22, MAX_DIGITS = 15 };
	bool neg = s[0] == '-', fraction = false;
	uint64_t m = 0;
	int digits = 0;
	long exp10 = 0;
	size_t i = neg;
	for (; i < len && s[i] != 'e' && s[i] != 'E'; i++) {
		if (s[i] == '.') {
			fraction = true;
			continue;
		}
		if ((m || s[i] != '0') && ++digits > MAX_DIGITS)
			return false;
		m = m * 10 + (uint64_t)(s[i] - '0');
		exp10 -= fraction;
	}
	if (i < len) {
		bool neg_exp = s[++i] == '-';
		long e = 0;
		for (i += s[i] == '-' || s[i] == '+'; i < len; i++)
			if ((e = e * 10 + (s[i] - '0')) > 2 * MAX_EXP)
				return false;
		exp10 += neg_exp ? -e : e;
	}
	if (exp10 < -MAX_EXP || exp10 > MAX_EXP)
		return false;
	double d = (double)m;
	d = exp10 < 0 ? d / pow10[-exp10] : d * pow10[exp10];
	*out = neg ? -d : d;
	return true;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int read_number(struct reader *r, struct jnode *j)
{
	size_t start = r->pos, i = start, digits;
	bool integer = true;
	if (i < r->len && r->s[i] == '-')
		i++;
	digits = i;
	i = i < r->len && r->s[i] == '0' ? i + 1 : skip_digits(r, i);
	if (i == digits)
		return -EINVAL;
	if (i < r->len && r->s[i] == '.') {
		integer = false;
		digits = ++i;
		if ((i = skip_digits(r, i)) == digits)
			return -EINVAL;
	}
	if (i < r->len && (r->s[i] == 'e' || r->s[i] == 'E')) {
		integer = false;
		i++;
		if (i < r->len && (r->s[i] == '+' || r->s[i] == '-'))
			i++;
		digits = i;
		if ((i = skip_digits(r, i)) == digits)
			return -EINVAL;
	}
	double d;
	if (!exact_decimal(r->s + start, i - start, &d) &&
	    (kv_number_parse((const char *)r->s + start, i - start, false,
			     &d) < 0 ||
	     isinf(d)))
		return -EINVAL;
	j->num = d;
	j->int32 = integer && !(d == 0 && signbit(d)) && d >= INT32_MIN &&
		   d <= INT32_MAX;
	r->pos = i;
	return 0;
}

static int read_literal(struct reader *r, struct jnode *j)
{
	static const struct {
		const char *word;
		enum jtype type;
	} literals[] = {{"null", J_NULL}, {"true", J_TRUE}, {"false", J_FALSE}};
	for (size_t i = 0; i < sizeof(literals) / sizeof(literals[0]); i++) {
		size_t n = strlen(literals[i].word);
		if (r->len - r->pos >= n &&
		    memcmp(r->s + r->pos, literals[i].word, n) == 0) {
			j->type = literals[i].type;
			r->pos += n;
			return 0;
		}
	}
	return -EINVAL;
}

static int read_value(struct reader *r, int depth, struct jnode **out);

/* Steps over the separator after an item: true at the closing bracket. */
static int read_separator(struct reader *r, uint8_t close, bool *closed)
{
	skip_ws(r);
	if (r->pos < r->len && r->s[r->pos] == close) {
		r->pos++;
		*closed = true;
		return 0;
	}
	if (r->pos >= r->len || r->s[r->pos] != ',')
		return -EINVAL;
	r->pos++;
	skip_ws(r);
	*closed = false;
	return 0;
}

/* Opens an array or object: true when it is empty (and so closed). */
static bool read_open(struct reader *r, uint8_t close)
{
	r->pos++;
	skip_ws(r);
	if (r->pos < r->len && r->s[r->pos] == close) {
		r->pos++;
		return true;
	}
	return false;
}

static int read_array(struct reader *r, int depth, struct jnode *j)
{
	struct jnode **tail = &j->first;
	bool closed = read_open(r, ']');
	while (!closed) {
		int err = read_value(r, depth + 1, tail);
		if (err == 0)
			err = read_separator(r, ']', &closed);
		if (err)
			return err;
		tail = &(*tail)->next;
		j->n++;
	}
	return 0;
}

static int read_member(struct reader *r, int depth, struct jnode **out)
{
	const char *key;
	size_t key_len;
	if (r->pos >= r->len || r->s[r->pos] != '"')
		return -EINVAL;
	int err = read_string(r, &key, &key_len);
	if (err)
		return err;
	skip_ws(r);
	if (r->pos >= r->len || r->s[r->pos] != ':')
		return -EINVAL;
	r->pos++;
	skip_ws(r);
	if ((err = read_value(r, depth, out)))
		return err;
	(*out)->key = key;
	(*out)->key_len = key_len;
	return 0;
}

static int compare_keys(const void *a, const void *b)
{
	const struct jnode *x = *(const struct jnode *const *)a;
	const struct jnode *y = *(const struct jnode *const *)b;
	if (x->key_len != y->key_len)
		return x->key_len < y->key_len ? -1 : 1;
	return memcmp(x->key, y->key, x->key_len);
}

/* Objects this small are checked pair by pair: fewer comparisons than a
 * sort, and nothing to allocate. */
enum { FEW_KEYS = 8 };

static int check_few_keys(const struct jnode *j)
{
	for (const struct jnode *m = j->first; m; m = m->next)
		for (const struct jnode *k = j->first; k != m; k = k->next)
			if (compare_keys(&k, &m) == 0)
				return -EINVAL;
	return 0;
}

/*
 * JSON.parse would keep the last of two equal keys, but the file would
 * then not read back as it was written, so duplicates are refused.
 */
static int check_unique_keys(struct reader *r, const struct jnode *j)
{
	if (j->n <= FEW_KEYS)
		return check_few_keys(j);
	const struct jnode **members =
		kv_arena_alloc(r->arena, j->n * sizeof(*members));
	if (!members)
		return -ENOMEM;
	size_t i = 0;
	for (const struct jnode *m = j->first; m; m = m->next)
		members[i++] = m;
	qsort(members, j->n, sizeof(*members), compare_keys);
	for (i = 1; i < j->n; i++)
		if (compare_keys(&members[i - 1], &members[i]) == 0)
			return -EINVAL;
	return 0;
}

static int read_object(struct reader *r, int depth, struct jnode *j)
{
	struct jnode **tail = &j->first;
	bool closed = read_open(r, '}');
	while (!closed) {
		int err = read_member(r, depth + 1, tail);
		if (err == 0)
			err = read_separator(r, '}', &closed);
		if (err)
			return err;
		tail = &(*tail)->next;
		j->n++;
	}
	return check_unique_keys(r, j);
}

static int read_value(struct reader *r, int depth, struct jnode **out)
{
	if (r->pos >= r->len)
		return -EINVAL;
	uint8_t c = r->s[r->pos];
	enum jtype type = c == '{'   ? J_OBJECT
			  : c == '[' ? J_ARRAY
			  : c == '"' ? J_STRING
				     : J_NUMBER;
	if ((type == J_OBJECT || type == J_ARRAY) && depth >= JSON_MAX_DEPTH)
		return -EINVAL;
	struct jnode *j = new_jnode(r, type);
	if (!j)
		return -ENOMEM;
	*out = j;
	switch (type) {
	case J_OBJECT:
		return read_object(r, depth, j);
	case J_ARRAY:
		return read_array(r, depth, j);
	case J_STRING:
		return read_string(r, &j->str, &j->len);
	default:
		return c == 't' || c == 'f' || c == 'n' ? read_literal(r, j)
							: read_number(r, j);
	}
}

/* ---- the JSON tree into values ---------------------------------------- */

typedef int map_fn(struct kv_arena *a, const struct jnode *j, int depth,
		   struct kv_value **out);

static map_fn map_value;

static struct kv_value *new_value(struct kv_arena *a, enum kv_type type)
{
	struct kv_value *v = kv_arena_alloc(a, sizeof(*v));
	if (v)
		v->type = type;
	return v;
}

static bool key_is(const struct jnode *member, const char *name)
{
	return member->key_len == strlen(name) &&
	       memcmp(member->key, name, member->key_len) == 0;
}

static bool string_is(const struct jnode *j, const char *s)
{
	return j->type == J_STRING && j->len == strlen(s) &&
	       memcmp(j->str, s, j->len) == 0;
}

/* One field of a tag's object payload; take_fields() fills node. */
struct field {
	const char *name;
	bool required;
	const struct jnode *node;
};

/* Matches an object's members to fields: none unknown, none missing. */
static int take_fields(const struct jnode *obj, struct field *fields,
		       size_t n)
{
	if (obj->type != J_OBJECT)
		return -EINVAL;
	for (const struct jnode *m = obj->first; m; m = m->next) {
		size_t i = 0;
		while (i < n && !key_is(m, fields[i].name))
			i++;
		if (i == n)
			return -EINVAL;
		fields[i].node = m;
	}
	for (size_t i = 0; i < n; i++)
		if (fields[i].required && !fields[i].node)
			return -EINVAL;
	return 0;
}

/* A non-negative integral number no larger than max. */
static int take_uint(const struct jnode *j, double max, uint64_t *out)
{
	if (j->type != J_NUMBER || !(j->num >= 0 && j->num <= max) ||
	    j->num != floor(j->num))
		return -EINVAL;
	*out = (uint64_t)j->num;
	return 0;
}

/* The largest byte length or offset JavaScript allows (2^53 - 1). */
#define MAX_SAFE_INTEGER 9007199254740991.0

static int base64url_digit(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Only the form the renderer writes: no padding, unused bits zero. */
static int decode_base64url(struct kv_arena *a, const struct jnode *j,
			    const uint8_t **bytes, size_t *len)
{
	if (j->type != J_STRING || j->len % 4 == 1)
		return -EINVAL;
	size_t n = j->len / 4 * 3 + (j->len % 4 ? j->len % 4 - 1 : 0);
	uint8_t *out = kv_arena_alloc(a, n);
	if (!out)
		return -ENOMEM;
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < j->len; i++) {
		int digit = base64url_digit((uint8_t)j->str[i]);
		if (digit < 0)
			return -EINVAL;
		acc = acc << 6 | (uint32_t)digit;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0)
		return -EINVAL;
	*bytes = out;
	*len = n;
	return 0;
}

/* A number node: an int32 literal is a Smi, as V8 writes it. */
static struct kv_value *number_value(struct kv_arena *a, const struct jnode *j)
{
	struct kv_value *v = new_value(a, j->int32 ? KV_INT32 : KV_DOUBLE);
	if (v && j->int32)
		v->i32 = (int32_t)j->num;
	else if (v)
		v->num = j->num;
	return v;
}

/* A property key: array indices become numbers, as V8 writes them. */
static struct kv_value *key_value(struct kv_arena *a, const struct jnode *m)
{
	uint32_t index;
	if (!kv_json_array_index(m->key, m->key_len, &index)) {
		struct kv_value *v = new_value(a, KV_STRING);
		if (v) {
			v->str = m->key;
			v->str_len = m->key_len;
		}
		return v;
	}
	struct kv_value *v = new_value(a, index > INT32_MAX ? KV_DOUBLE
							    : KV_INT32);
	if (v && v->type == KV_INT32)
		v->i32 = (int32_t)index;
	else if (v)
		v->num = index;
	return v;
}

enum key_filter { ALL_KEYS, INDEX_KEYS, NAME_KEYS };

/* The members of obj as properties at dst (obj->n of them). */
static int map_props_into(struct kv_arena *a, const struct jnode *obj,
			  int depth, enum key_filter filter,
			  struct kv_prop *dst)
{
	for (const struct jnode *m = obj->first; m; m = m->next, dst++) {
		dst->key = key_value(a, m);
		if (!dst->key)
			return -ENOMEM;
		bool index = dst->key->type != KV_STRING;
		if (filter != ALL_KEYS && index != (filter == INDEX_KEYS))
			return -EINVAL;
		int err = map_value(a, m, depth, &dst->value);
		if (err)
			return err;
	}
	return 0;
}

static int map_props(struct kv_arena *a, const struct jnode *obj, int depth,
		     struct kv_value *v)
{
	if (obj->type != J_OBJECT)
		return -EINVAL;
	v->props = kv_arena_alloc(a, obj->n * sizeof(*v->props));
	if (!v->props)
		return -ENOMEM;
	v->n_props = obj->n;
	return map_props_into(a, obj, depth, ALL_KEYS, v->props);
}

/* Maps the items of a JSON array; a {"$hole":true} is a hole when holes
 * is true, and refused (as an unknown tag) otherwise. */
static int map_items(struct kv_arena *a, const struct jnode *arr, int depth,
		     bool holes, struct kv_value *v)
{
	if (arr->type != J_ARRAY)
		return -EINVAL;
	v->items = kv_arena_alloc(a, arr->n * sizeof(*v->items));
	if (!v->items)
		return -ENOMEM;
	v->n_items = arr->n;
	size_t i = 0;
	for (const struct jnode *item = arr->first; item; item = item->next) {
		bool hole = holes && item->type == J_OBJECT && item->n == 1 &&
			    key_is(item->first, "$hole") &&
			    item->first->type == J_TRUE;
		int err = hole ? 0 : map_value(a, item, depth, &v->items[i]);
		if (err)
			return err;
		if (hole && !(v->items[i] = new_value(a, KV_HOLE)))
			return -ENOMEM;
		i++;
	}
	return 0;
}

/* Each tag mapper makes *out from the tag's payload j. */

static int map_undefined(struct kv_arena *a, const struct jnode *j, int depth,
			 struct kv_value **out)
{
	(void)depth;
	if (j->type != J_TRUE)
		return -EINVAL;
	*out = new_value(a, KV_UNDEFINED);
	return *out ? 0 : -ENOMEM;
}

/* A bigint longer than any value can hold (-ERANGE) is not a value. */
static int map_bigint(struct kv_arena *a, const struct jnode *j, int depth,
		      struct kv_value **out)
{
	(void)depth;
	if (j->type != J_STRING)
		return -EINVAL;
	struct kv_buf storage = {0};
	struct kv_value *v = new_value(a, KV_BIGINT);
	int err = v ? kv_bigint_from_decimal(j->str, j->len, true, &v->bigint,
					     &storage)
		    : -ENOMEM;
	if (err == -ERANGE)
		err = -EINVAL;
	if (err == 0) {
		const uint8_t *mag = v->bigint.mag;
		v->bigint.mag = v->bigint.len ? kv_arena_dup(a, mag, v->bigint.len)
					      : NULL;
		err = v->bigint.len && !v->bigint.mag ? -ENOMEM : 0;
	}
	kv_buf_free(&storage);
	*out = v;
	return err;
}

/* Only the numbers JSON has no literal for. */
static int map_number(struct kv_arena *a, const struct jnode *j, int depth,
		      struct kv_value **out)
{
	(void)depth;
	double d;
	if (j->type != J_STRING ||
	    kv_number_parse(j->str, j->len, true, &d) < 0 ||
	    (isfinite(d) && !(d == 0 && signbit(d))))
		return -EINVAL;
	if (!(*out = new_value(a, KV_DOUBLE)))
		return -ENOMEM;
	(*out)->num = d;
	return 0;
}

/* n decimal digits at s. */
static int take_digits(const char *s, size_t n, int *out)
{
	*out = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		*out = *out * 10 + (s[i] - '0');
	}
	return 0;
}

static int days_in_month(long year, int month)
{
	static const int days[] = {31, 28, 31, 30, 31, 30,
				   31, 31, 30, 31, 30, 31};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	return days[month - 1] + (month == 2 && leap);
}

/*
 * Exactly the text toISOString writes: "YYYY-MM-DDTHH:MM:SS.sssZ" for the
 * years 0..9999 and a signed six-digit year outside them.
 */
static int parse_iso_date(const char *s, size_t len, double *t)
{
	bool expanded = len == 27 && (s[0] == '+' || s[0] == '-');
	if (!expanded && len != 24)
		return -EINVAL;
	int year, f[6];
	size_t y = expanded ? 1 : 0, year_digits = expanded ? 6 : 4;
	const char *rest = s + y + year_digits;
	static const char shape[] = "-00-00T00:00:00.000Z";
	static const size_t at[6] = {1, 4, 7, 10, 13, 16};
	static const size_t width[6] = {2, 2, 2, 2, 2, 3};
	for (size_t i = 0; i < sizeof(shape) - 1; i++)
		if (shape[i] != '0' && rest[i] != shape[i])
			return -EINVAL;
	if (take_digits(s + y, year_digits, &year) < 0)
		return -EINVAL;
	for (size_t i = 0; i < 6; i++)
		if (take_digits(rest + at[i], width[i], &f[i]) < 0)
			return -EINVAL;
	if (s[0] == '-')
		year = -year;
	if (expanded == (year >= 0 && year <= 9999))
		return -EINVAL;
	if (f[0] < 1 || f[0] > 12 || f[1] < 1 ||
	    f[1] > days_in_month(year, f[0]) || f[2] > 23 || f[3] > 59 ||
	    f[4] > 59)
		return -EINVAL;
	struct tm tm = {.tm_year = year - 1900, .tm_mon = f[0] - 1,
			.tm_mday = f[1], .tm_hour = f[2], .tm_min = f[3],
			.tm_sec = f[4]};
	*t = (double)timegm(&tm) * 1000 + f[5];
	return fabs(*t) <= KV_JSON_MAX_TIME ? 0 : -EINVAL;
}

/* An ISO text, null for an invalid date, or a time value no Date holds. */
static int map_date(struct kv_arena *a, const struct jnode *j, int depth,
		    struct kv_value **out)
{
	struct kv_value *v = new_value(a, KV_DATE), *time = NULL;
	if (!v)
		return -ENOMEM;
	*out = v;
	if (j->type == J_STRING)
		return parse_iso_date(j->str, j->len, &v->num);
	int err = map_value(a, j, depth, &time);
	if (err)
		return err;
	if (time->type == KV_NULL)
		v->num = NAN;
	else if (time->type == KV_INT32)
		v->num = time->i32;
	else if (time->type == KV_DOUBLE)
		v->num = time->num;
	else
		return -EINVAL;
	return 0;
}

static int regexp_flag(char letter, uint32_t *bit)
{
	for (size_t i = 0; i < kv_json_n_regexp_flags; i++) {
		if (kv_json_regexp_flags[i].letter == letter) {
			*bit = kv_json_regexp_flags[i].bit;
			return 0;
		}
	}
	return -EINVAL;
}

/* "/source/flags": the source runs to the last '/', flags in any order. */
static int map_regexp(struct kv_arena *a, const struct jnode *j, int depth,
		      struct kv_value **out)
{
	(void)depth;
	if (j->type != J_STRING || j->len < 2 || j->str[0] != '/')
		return -EINVAL;
	size_t slash = j->len - 1;
	while (j->str[slash] != '/')
		slash--;
	if (slash == 0)
		return -EINVAL;
	struct kv_value *v = new_value(a, KV_REGEXP);
	if (!v)
		return -ENOMEM;
	for (size_t i = slash + 1; i < j->len; i++) {
		uint32_t bit;
		if (regexp_flag(j->str[i], &bit) < 0 || (v->flags & bit))
			return -EINVAL;
		v->flags |= bit;
	}
	if (!kv_v8_regexp_flags_ok(v->flags))
		return -EINVAL;
	v->str_len = slash - 1;
	if (!(v->str = kv_arena_dup(a, j->str + 1, v->str_len)))
		return -ENOMEM;
	*out = v;
	return 0;
}

static int map_map(struct kv_arena *a, const struct jnode *j, int depth,
		   struct kv_value **out)
{
	if (j->type != J_ARRAY)
		return -EINVAL;
	struct kv_value *v = new_value(a, KV_MAP);
	if (!v || !(v->items = kv_arena_alloc(a, 2 * j->n * sizeof(*v->items))))
		return -ENOMEM;
	size_t i = 0;
	for (const struct jnode *pair = j->first; pair; pair = pair->next) {
		if (pair->type != J_ARRAY || pair->n != 2)
			return -EINVAL;
		int err = map_value(a, pair->first, depth + 1, &v->items[i++]);
		if (err == 0)
			err = map_value(a, pair->first->next, depth + 1,
					&v->items[i++]);
		if (err)
			return err;
	}
	v->n_items = i;
	*out = v;
	return 0;
}

static int map_set(struct kv_arena *a, const struct jnode *j, int depth,
		   struct kv_value **out)
{
	if (!(*out = new_value(a, KV_SET)))
		return -ENOMEM;
	return map_items(a, j, depth + 1, false, *out);
}

/* A fixed buffer's base64url text, or a resizable buffer's object. */
static int map_buffer(struct kv_arena *a, const struct jnode *j,
		      struct kv_value **out)
{
	struct kv_value *v = new_value(a, KV_ARRAY_BUFFER);
	if (!v)
		return -ENOMEM;
	*out = v;
	if (j->type == J_STRING)
		return decode_base64url(a, j, &v->bytes, &v->byte_len);
	enum { BYTES, MAX, N_FIELDS };
	struct field f[N_FIELDS] = {[BYTES] = {"bytes", true, NULL},
				    [MAX] = {"maxByteLength", true, NULL}};
	uint64_t max;
	int err = take_fields(j, f, N_FIELDS);
	if (err == 0)
		err = decode_base64url(a, f[BYTES].node, &v->bytes,
				       &v->byte_len);
	if (err == 0)
		err = take_uint(f[MAX].node, MAX_SAFE_INTEGER, &max);
	if (err)
		return err;
	if (max < v->byte_len)
		return -EINVAL;
	v->resizable = true;
	v->max_byte_len = (size_t)max;
	return 0;
}

static int map_array_buffer(struct kv_arena *a, const struct jnode *j,
			    int depth, struct kv_value **out)
{
	(void)depth;
	return map_buffer(a, j, out);
}

static const struct kv_json_view_type *view_type_named(const struct jnode *j)
{
	for (size_t i = 0; i < kv_json_n_view_types; i++)
		if (string_is(j, kv_json_view_types[i].name))
			return &kv_json_view_types[i];
	return NULL;
}

static struct kv_value *new_view(struct kv_arena *a,
				 const struct kv_json_view_type *type,
				 struct kv_value *buffer)
{
	struct kv_value *v = new_value(a, KV_VIEW);
	if (v) {
		v->view_kind = type->kind;
		v->buffer = buffer;
	}
	return v;
}

/* {"type":..,"buffer":..,"byteOffset":..,"byteLength":..,
 * "lengthTracking":..}: every field required. */
static int map_view(struct kv_arena *a, const struct jnode *j, int depth,
		    struct kv_value **out)
{
	(void)depth;
	enum { TYPE, BUFFER, OFFSET, LENGTH, TRACKING, N_FIELDS };
	struct field f[N_FIELDS] = {
		[TYPE] = {"type", true, NULL},
		[BUFFER] = {"buffer", true, NULL},
		[OFFSET] = {"byteOffset", true, NULL},
		[LENGTH] = {"byteLength", true, NULL},
		[TRACKING] = {"lengthTracking", true, NULL},
	};
	const struct kv_json_view_type *type;
	struct kv_value *buffer;
	uint64_t offset, length;
	int err = take_fields(j, f, N_FIELDS);
	if (err)
		return err;
	if (!(type = view_type_named(f[TYPE].node)) ||
	    (f[TRACKING].node->type != J_TRUE &&
	     f[TRACKING].node->type != J_FALSE) ||
	    take_uint(f[OFFSET].node, MAX_SAFE_INTEGER, &offset) < 0 ||
	    take_uint(f[LENGTH].node, MAX_SAFE_INTEGER, &length) < 0)
		return -EINVAL;
	if ((err = map_buffer(a, f[BUFFER].node, &buffer)))
		return err;
	struct kv_value *v = new_view(a, type, buffer);
	if (!v)
		return -ENOMEM;
	v->byte_offset = (size_t)offset;
	v->view_len = (size_t)length;
	v->view_flags = (f[TRACKING].node->type == J_TRUE) |
			(uint32_t)buffer->resizable << 1;
	*out = v;
	return kv_v8_view_check(v, buffer);
}

/* $bytes, $int8array, ...: a view over the whole of a fixed buffer. */
static int map_whole_view(struct kv_arena *a, const struct jnode *j,
			  const struct kv_json_view_type *type,
			  struct kv_value **out)
{
	struct kv_value *buffer;
	if (j->type != J_STRING)
		return -EINVAL;
	int err = map_buffer(a, j, &buffer);
	if (err)
		return err;
	struct kv_value *v = new_view(a, type, buffer);
	if (!v)
		return -ENOMEM;
	v->view_len = buffer->byte_len;
	*out = v;
	return kv_v8_view_check(v, buffer);
}

static int error_proto_named(const struct jnode *j, enum kv_error_proto *out)
{
	for (size_t i = 0; i < kv_json_n_error_names; i++) {
		if (string_is(j, kv_json_error_names[i].name)) {
			*out = kv_json_error_names[i].proto;
			return 0;
		}
	}
	return -EINVAL;
}

/* An optional field that must be a string when present. */
static int map_error_text(struct kv_arena *a, const struct jnode *j,
			  int depth, struct kv_value **out)
{
	if (!j)
		return 0;
	if (j->type != J_STRING)
		return -EINVAL;
	return map_value(a, j, depth, out);
}

static int map_error(struct kv_arena *a, const struct jnode *j, int depth,
		     struct kv_value **out)
{
	enum { NAME, MESSAGE, CAUSE, STACK, N_FIELDS };
	struct field f[N_FIELDS] = {
		[NAME] = {"name", true, NULL},
		[MESSAGE] = {"message", false, NULL},
		[CAUSE] = {"cause", false, NULL},
		[STACK] = {"stack", false, NULL},
	};
	struct kv_value *v = new_value(a, KV_ERROR);
	if (!v)
		return -ENOMEM;
	*out = v;
	int err = take_fields(j, f, N_FIELDS);
	if (err == 0)
		err = error_proto_named(f[NAME].node, &v->error_proto);
	if (err == 0)
		err = map_error_text(a, f[MESSAGE].node, depth + 1,
				     &v->message);
	if (err == 0)
		err = map_error_text(a, f[STACK].node, depth + 1, &v->stack);
	if (err == 0 && f[CAUSE].node)
		err = map_value(a, f[CAUSE].node, depth + 1, &v->cause);
	return err;
}

/* A boxed number is always a double in V8, whatever its literal. */
static int map_boxed(struct kv_arena *a, const struct jnode *j, int depth,
		     struct kv_value **out)
{
	struct kv_value *v = new_value(a, KV_BOXED);
	if (!v)
		return -ENOMEM;
	*out = v;
	int err = map_value(a, j, depth, &v->inner);
	if (err)
		return err;
	switch (v->inner->type) {
	case KV_INT32:
		v->inner->type = KV_DOUBLE;
		v->inner->num = v->inner->i32;
		return 0;
	case KV_DOUBLE:
	case KV_STRING:
	case KV_BOOL:
	case KV_BIGINT:
		return 0;
	default:
		return -EINVAL;
	}
}

/*
 * The encoder's check of an array's properties, made here so that what
 * parses also encodes: no "length", no index past the end, none onto an
 * element (only onto a hole of a dense array).
 */
static int check_array_props(const struct kv_value *v)
{
	struct kv_v8_name *names;
	int err = kv_v8_prop_names(v, &names);
	free(names);
	return err;
}

/* A dense array with holes or properties: {"items":[..],"props":{..}}. */
static int map_array(struct kv_arena *a, const struct jnode *j, int depth,
		     struct kv_value **out)
{
	enum { ITEMS, PROPS, N_FIELDS };
	struct field f[N_FIELDS] = {[ITEMS] = {"items", true, NULL},
				    [PROPS] = {"props", false, NULL}};
	struct kv_value *v = new_value(a, KV_ARRAY);
	if (!v)
		return -ENOMEM;
	*out = v;
	int err = take_fields(j, f, N_FIELDS);
	if (err == 0)
		err = map_items(a, f[ITEMS].node, depth + 1, true, v);
	if (err == 0 && f[PROPS].node)
		err = map_props(a, f[PROPS].node, depth + 1, v);
	v->length = (uint32_t)v->n_items;
	return err ? err : check_array_props(v);
}

/* {"length":N,"items":{index:..},"props":{name:..}}: items come first, as
 * V8 writes them. */
static int map_sparse(struct kv_arena *a, const struct jnode *j, int depth,
		      struct kv_value **out)
{
	enum { LENGTH, ITEMS, PROPS, N_FIELDS };
	struct field f[N_FIELDS] = {[LENGTH] = {"length", true, NULL},
				    [ITEMS] = {"items", false, NULL},
				    [PROPS] = {"props", false, NULL}};
	uint64_t length;
	int err = take_fields(j, f, N_FIELDS);
	if (err == 0)
		err = take_uint(f[LENGTH].node, 4294967295.0, &length);
	for (size_t i = ITEMS; err == 0 && i <= PROPS; i++)
		if (f[i].node && f[i].node->type != J_OBJECT)
			err = -EINVAL;
	if (err)
		return err;
	size_t n_items = f[ITEMS].node ? f[ITEMS].node->n : 0;
	size_t n_props = f[PROPS].node ? f[PROPS].node->n : 0;
	struct kv_value *v = new_value(a, KV_SPARSE_ARRAY);
	if (!v || !(v->props = kv_arena_alloc(a, (n_items + n_props) *
							 sizeof(*v->props))))
		return -ENOMEM;
	v->length = (uint32_t)length;
	v->n_props = n_items + n_props;
	*out = v;
	if (n_items)
		err = map_props_into(a, f[ITEMS].node, depth + 1, INDEX_KEYS,
				     v->props);
	if (err == 0 && n_props)
		err = map_props_into(a, f[PROPS].node, depth + 1, NAME_KEYS,
				     v->props + n_items);
	return err ? err : check_array_props(v);
}

/* A plain object, whatever its keys: how one with a single "$" key is
 * written. */
static int map_object(struct kv_arena *a, const struct jnode *j, int depth,
		      struct kv_value **out)
{
	if (!(*out = new_value(a, KV_OBJECT)))
		return -ENOMEM;
	return map_props(a, j, depth + 1, *out);
}

/*
 * The decoder refuses a container (what V8 gives an object id and nests
 * values in) inside KV_V8_MAX_DEPTH others, empty or not, so the parser
 * refuses the same; depth counts the containers around a value.
 */
static bool too_deep(int depth)
{
	return depth >= KV_V8_MAX_DEPTH;
}

/* $hole is not here: it is a tag only among the items of an $array. $ref
 * and $host are not here: their values are read-only. */
static const struct tag {
	const char *name;
	map_fn *map;
	bool container;
} tags[] = {
	{"$undefined", map_undefined, false},
	{"$bigint", map_bigint, false},
	{"$number", map_number, false},
	{"$date", map_date, false},
	{"$regexp", map_regexp, false},
	{"$map", map_map, true},
	{"$set", map_set, true},
	{"$arraybuffer", map_array_buffer, false},
	{"$view", map_view, false},
	{"$error", map_error, true},
	{"$boxed", map_boxed, false},
	{"$array", map_array, true},
	{"$sparse", map_sparse, true},
	{"$object", map_object, true},
};

static int map_tagged(struct kv_arena *a, const struct jnode *member,
		      int depth, struct kv_value **out)
{
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
		if (key_is(member, tags[i].name))
			return tags[i].container && too_deep(depth)
				       ? -EINVAL
				       : tags[i].map(a, member, depth, out);
	for (size_t i = 0; i < kv_json_n_view_types; i++)
		if (key_is(member, kv_json_view_types[i].tag))
			return map_whole_view(a, member,
					      &kv_json_view_types[i], out);
	return -EINVAL;
}

static int map_value(struct kv_arena *a, const struct jnode *j, int depth,
		     struct kv_value **out)
{
	if (j->type == J_OBJECT && j->n == 1 && j->first->key_len > 0 &&
	    j->first->key[0] == '$')
		return map_tagged(a, j->first, depth, out);
	if ((j->type == J_OBJECT || j->type == J_ARRAY) && too_deep(depth))
		return -EINVAL;
	if (j->type == J_OBJECT)
		return map_object(a, j, depth, out);
	if (j->type == J_NUMBER) {
		*out = number_value(a, j);
		return *out ? 0 : -ENOMEM;
	}
	struct kv_value *v = new_value(a, KV_NULL);
	if (!v)
		return -ENOMEM;
	*out = v;
	switch (j->type) {
	case J_FALSE:
	case J_TRUE:
		v->type = KV_BOOL;
		v->boolean = j->type == J_TRUE;
		return 0;
	case J_STRING:
		v->type = KV_STRING;
		v->str = j->str;
		v->str_len = j->len;
		return 0;
	case J_ARRAY:
		v->type = KV_ARRAY;
		v->length = (uint32_t)j->n;
		return map_items(a, j, depth + 1, false, v);
	default:
		return 0;
	}
}

int kv_json_parse(const char *text, size_t len, struct kv_arena *arena,
		  struct kv_value **out)
{
	struct reader r = {.s = (const uint8_t *)text, .len = len,
			   .arena = arena};
	struct jnode *root;
	skip_ws(&r);
	int err = read_value(&r, 0, &root);
	if (err)
		return err;
	skip_ws(&r);
	if (r.pos != r.len)
		return -EINVAL;
	return map_value(arena, root, 0, out);
}
