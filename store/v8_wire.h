/*
 * v8_wire.h — private to store/: the V8 serialization tags and the rules of
 * well-formed data that v8_decode.c, v8_encode.c and value_equal.c share, so
 * that the encoder writes exactly what the decoder accepts.
 */
#ifndef KVFS_V8_WIRE_H
#define KVFS_V8_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv_value.h"

/* Tags of the wire format (denokv/SPEC.md §3.1). */
enum {
	V8_VERSION = 0xFF,
	V8_PADDING = 0x00,
	V8_VERIFY_COUNT = '?',
	V8_HOLE = '-',
	V8_UNDEFINED = '_',
	V8_NULL = '0',
	V8_TRUE = 'T',
	V8_FALSE = 'F',
	V8_INT32 = 'I',
	V8_UINT32 = 'U',
	V8_DOUBLE = 'N',
	V8_BIGINT = 'Z',
	V8_UTF8_STRING = 'S',
	V8_ONE_BYTE_STRING = '"',
	V8_TWO_BYTE_STRING = 'c',
	V8_REF = '^',
	V8_OBJECT = 'o',
	V8_OBJECT_END = '{',
	V8_SPARSE_ARRAY = 'a',
	V8_SPARSE_ARRAY_END = '@',
	V8_DENSE_ARRAY = 'A',
	V8_DENSE_ARRAY_END = '$',
	V8_DATE = 'D',
	V8_TRUE_OBJECT = 'y',
	V8_FALSE_OBJECT = 'x',
	V8_NUMBER_OBJECT = 'n',
	V8_BIGINT_OBJECT = 'z',
	V8_STRING_OBJECT = 's',
	V8_REGEXP = 'R',
	V8_MAP = ';',
	V8_MAP_END = ':',
	V8_SET = '\'',
	V8_SET_END = ',',
	V8_ARRAY_BUFFER = 'B',
	V8_RESIZABLE_ARRAY_BUFFER = '~',
	V8_IMMUTABLE_ARRAY_BUFFER = 'C',
	V8_VIEW = 'V',
	V8_ERROR = 'r',
	V8_HOST_OBJECT = '\\',
};

/* Error sub-tags besides the prototypes of enum kv_error_proto. */
enum {
	V8_ERROR_MESSAGE = 'm',
	V8_ERROR_CAUSE = 'c',
	V8_ERROR_STACK = 's',
	V8_ERROR_END = '.',
};

/* The format that widened buffer and view sizes to 64 bits. */
#define V8_WIDE_VERSION 16

/* The host-object tag Deno writes before a cloneable's value. */
#define V8_HOST_CLONEABLE 0xFFFFFFFFu

/* V8's largest BigInt: 2^30 bits. */
#define V8_BIGINT_MAX_BYTES ((size_t)1 << 27)

/* View flag bits. */
enum {
	V8_VIEW_LENGTH_TRACKING = 1 << 0,
	V8_VIEW_BACKED_BY_RAB = 1 << 1,
};

/*
 * The property name a key of struct kv_prop stands for, as JavaScript sees
 * it: an array index (0..2^32-2, from a number or from its canonical decimal
 * string), or any other string (a string key's own bytes, or the
 * Number.prototype.toString text of a number key, kept in buf so that the
 * struct may be copied).
 */
enum kv_v8_name_kind {
	KV_V8_NAME_INDEX,
	KV_V8_NAME_STRING,
	KV_V8_NAME_NUMBER,
};

struct kv_v8_name {
	enum kv_v8_name_kind kind;
	uint32_t index;	 /* KV_V8_NAME_INDEX */
	const char *str; /* KV_V8_NAME_STRING */
	size_t len;	 /* KV_V8_NAME_STRING, KV_V8_NAME_NUMBER */
	char buf[32];	 /* KV_V8_NAME_NUMBER */
};

/* The name of a key; -EINVAL for a key that is not a string or number. */
int kv_v8_name_of(const struct kv_value *key, struct kv_v8_name *name);
/* The text of a name that is not an index. */
const char *kv_v8_name_text(const struct kv_v8_name *name);
/* A total order on names: indices by value first, then strings by bytes. */
int kv_v8_name_cmp(const struct kv_v8_name *a, const struct kv_v8_name *b);

/*
 * The names of the props of an object or array, in prop order, checked as
 * V8 checks them when it reads the value back: no name twice, and in an
 * array no "length" and no index at or past its length or onto an element.
 * *names is malloc'ed (NULL when there are no props); free() it.
 * Returns 0, -EINVAL or -ENOMEM.
 */
int kv_v8_prop_names(const struct kv_value *v, struct kv_v8_name **names);

/*
 * Decode the WTF-8 code point at s[*pos] and advance *pos. Returns -EINVAL
 * for anything but the one WTF-8 form of a code point: overlong forms,
 * values past U+10FFFF, and a surrogate pair written as two 3-byte
 * sequences are refused.
 */
int kv_v8_wtf8_next(const uint8_t *s, size_t len, size_t *pos, uint32_t *cp);

/* Whether V8 accepts these RegExp flag bits. */
bool kv_v8_regexp_flags_ok(uint32_t flags);

/*
 * Whether V8 accepts view (its kind, offset, length and flags) over buffer,
 * the KV_ARRAY_BUFFER it refers to. Returns 0 or -EINVAL.
 */
int kv_v8_view_check(const struct kv_value *view,
		     const struct kv_value *buffer);

#endif
