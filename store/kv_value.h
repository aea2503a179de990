/*
 * kv_value.h — values: the tree that V8-serialized values decode into, the
 * V8 wire format (denokv/SPEC.md §3.1) both ways, kvfs's JSON mapping
 * (kvfs-spec §4, docs/json.md) both ways, and the file rendering of a stored
 * value of any v_encoding (kvfs-spec §3).
 *
 * Trees live in an arena: every node and every byte a decoder or parser
 * makes is allocated from one struct kv_arena and freed with it, so error
 * paths never leak and never free twice.
 */
#ifndef KVFS_KV_VALUE_H
#define KVFS_KV_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv_key.h"

/* v_encoding column values (denokv/SPEC.md §1.3). */
enum kv_encoding {
	KV_ENC_V8 = 1,
	KV_ENC_U64 = 2,
	KV_ENC_BYTES = 3,
};

/* ---- arena ------------------------------------------------------------ */

struct kv_arena;

/* A new empty arena, or NULL when out of memory. */
struct kv_arena *kv_arena_new(void);
/* Free the arena and everything allocated from it. NULL is allowed. */
void kv_arena_free(struct kv_arena *a);
/* size zeroed bytes, aligned for any type; NULL when out of memory. */
void *kv_arena_alloc(struct kv_arena *a, size_t size);
/* A copy of len bytes plus a terminating NUL; NULL when out of memory. */
void *kv_arena_dup(struct kv_arena *a, const void *data, size_t len);

/* ---- the value tree --------------------------------------------------- */

enum kv_type {
	KV_UNDEFINED,
	KV_NULL,
	KV_BOOL,
	KV_INT32,	  /* a V8 Smi ('I'): an integer in int32 range */
	KV_DOUBLE,	  /* any other number ('N'), incl. -0, NaN, ±Infinity */
	KV_BIGINT,
	KV_STRING,
	KV_OBJECT,	  /* plain object: props */
	KV_ARRAY,	  /* dense array: items[length], then extra props */
	KV_SPARSE_ARRAY,  /* holey array: length, then props by index */
	KV_HOLE,	  /* a missing element inside a dense array ('-') */
	KV_DATE,	  /* num = milliseconds since the epoch (NaN: invalid) */
	KV_REGEXP,	  /* str = source, flags = V8 flag bits */
	KV_MAP,		  /* items[2*i] key, items[2*i+1] value */
	KV_SET,		  /* items */
	KV_ARRAY_BUFFER,  /* bytes; resizable with max_byte_length */
	KV_VIEW,	  /* typed array or DataView over buffer */
	KV_BOXED,	  /* new Number/String/Boolean/Object(bigint): inner */
	KV_ERROR,	  /* error_proto, message, cause, stack */
	KV_HOST_OBJECT,	  /* Deno cloneable (DOMException, Blob…): inner */
	KV_REF,		  /* back-reference to the object with id ref_id */
};

/* V8 RegExp flag bits, in V8's order. */
enum {
	KV_RE_GLOBAL = 1 << 0,	    /* g */
	KV_RE_IGNORE_CASE = 1 << 1, /* i */
	KV_RE_MULTILINE = 1 << 2,   /* m */
	KV_RE_STICKY = 1 << 3,	    /* y */
	KV_RE_UNICODE = 1 << 4,	    /* u */
	KV_RE_DOT_ALL = 1 << 5,	    /* s */
	KV_RE_LINEAR = 1 << 6,	    /* l */
	KV_RE_HAS_INDICES = 1 << 7, /* d */
	KV_RE_UNICODE_SETS = 1 << 8 /* v */
};

/*
 * Typed array and DataView kinds: the V8 'V' subtag characters
 * (b B C w W d D h f F q Q ?).
 */
enum kv_view_kind {
	KV_VIEW_INT8 = 'b',
	KV_VIEW_UINT8 = 'B',
	KV_VIEW_UINT8_CLAMPED = 'C',
	KV_VIEW_INT16 = 'w',
	KV_VIEW_UINT16 = 'W',
	KV_VIEW_INT32 = 'd',
	KV_VIEW_UINT32 = 'D',
	KV_VIEW_FLOAT16 = 'h',
	KV_VIEW_FLOAT32 = 'f',
	KV_VIEW_FLOAT64 = 'F',
	KV_VIEW_BIGINT64 = 'q',
	KV_VIEW_BIGUINT64 = 'Q',
	KV_VIEW_DATAVIEW = '?',
};

/* Error prototypes: the V8 'r' subtag characters; 0 is plain Error. */
enum kv_error_proto {
	KV_ERROR_PLAIN = 0,
	KV_ERROR_EVAL = 'E',
	KV_ERROR_RANGE = 'R',
	KV_ERROR_REFERENCE = 'F',
	KV_ERROR_SYNTAX = 'S',
	KV_ERROR_TYPE = 'T',
	KV_ERROR_URI = 'U',
};

struct kv_value;

/* One property of an object or array: its key is a KV_STRING, or a
 * KV_INT32/KV_DOUBLE for an integer-index key. */
struct kv_prop {
	struct kv_value *key;
	struct kv_value *value;
};

/*
 * A value. Strings are WTF-8: UTF-8, except that lone UTF-16 surrogates are
 * kept as their 3-byte sequences (ED A0 80..ED BF BF), so every JavaScript
 * string has exactly one representation.
 */
struct kv_value {
	enum kv_type type;
	bool boolean;		 /* KV_BOOL */
	int32_t i32;		 /* KV_INT32 */
	double num;		 /* KV_DOUBLE, KV_DATE */
	struct kv_bigint bigint; /* KV_BIGINT */
	const char *str;	 /* KV_STRING, KV_REGEXP source (NUL-ended) */
	size_t str_len;
	uint32_t flags;		 /* KV_REGEXP */

	struct kv_value **items; /* KV_ARRAY, KV_MAP, KV_SET */
	size_t n_items;
	struct kv_prop *props;	 /* KV_OBJECT, KV_ARRAY, KV_SPARSE_ARRAY */
	size_t n_props;
	uint32_t length;	 /* KV_ARRAY, KV_SPARSE_ARRAY: JS length */

	const uint8_t *bytes;	 /* KV_ARRAY_BUFFER */
	size_t byte_len;
	bool resizable;		 /* KV_ARRAY_BUFFER ('~') */
	size_t max_byte_len;	 /* KV_ARRAY_BUFFER, when resizable */

	enum kv_view_kind view_kind; /* KV_VIEW */
	struct kv_value *buffer;     /* KV_VIEW: a KV_ARRAY_BUFFER or KV_REF */
	size_t byte_offset;	     /* KV_VIEW */
	size_t view_len;	     /* KV_VIEW: byteLength */
	uint32_t view_flags;	     /* KV_VIEW: bit0 length-tracking,
					bit1 backed by a resizable buffer */

	enum kv_error_proto error_proto; /* KV_ERROR */
	struct kv_value *message;	 /* KV_ERROR: KV_STRING or NULL */
	struct kv_value *cause;		 /* KV_ERROR: any, or NULL */
	struct kv_value *stack;		 /* KV_ERROR: KV_STRING or NULL */

	struct kv_value *inner;	 /* KV_BOXED, KV_HOST_OBJECT */
	uint32_t ref_id;	 /* KV_REF */
};

/* ---- V8 serialization ------------------------------------------------- */

/* The header kvfs writes: FF 0F (format 15), readable by every Deno. */
#define KV_V8_WRITE_VERSION 15

/*
 * Decode a V8-serialized value (header FF 0D..FF 10, then one value) into a
 * tree allocated from arena. Every byte must be consumed. Back-references
 * decode to KV_REF nodes; *lossless (may be NULL) is set false when the
 * value holds back-references, cycles or host objects, which the JSON
 * mapping cannot express (kvfs-spec §4), and true otherwise.
 * Returns 0, -EINVAL for malformed or unknown data, -ENOTSUP for a format
 * version outside 13..16, or -ENOMEM. Never reads past len; nesting deeper
 * than KV_V8_MAX_DEPTH is -EINVAL.
 */
#define KV_V8_MAX_DEPTH 256
int kv_v8_decode(const uint8_t *buf, size_t len, struct kv_arena *arena,
		 struct kv_value **out, bool *lossless);

/*
 * Append the V8 serialization of v (header FF 0F; FF 10 when a buffer size
 * or view offset needs more than 32 bits, which only format 16 holds) to
 * out, in the form V8 itself writes: one-byte strings as '"', others as 'c'
 * with the padding rule, integer-index object keys as numbers, object ids
 * for back-references.
 * Returns 0, -EINVAL for a tree that is not serializable (a KV_REF to no
 * earlier object, a KV_HOLE outside a dense array, or anything else that
 * kv_v8_decode would refuse to read back: a property named twice, a view
 * outside its buffer, a string that is not WTF-8, nesting deeper than
 * KV_V8_MAX_DEPTH), or -ENOMEM; on error out is left as it was.
 */
int kv_v8_encode(const struct kv_value *v, struct kv_buf *out);

/*
 * Structural equality as Deno would see it after reading both values back:
 * equal types and contents; a KV_INT32 equals a KV_DOUBLE of the same
 * integral value; NaN equals NaN; -0 differs from 0. Objects and arrays
 * compare as sets of properties keyed by property name (a string key and
 * the number key naming the same property match; order does not matter),
 * and a KV_ARRAY with holes equals the KV_SPARSE_ARRAY of the same length
 * and elements. Maps and Sets compare in order; KV_REFs by object id.
 */
bool kv_value_equal(const struct kv_value *a, const struct kv_value *b);

/* ---- JSON mapping (kvfs-spec §4, docs/json.md) ----------------------- */

/*
 * Append the JSON rendering of v to out: one line, no trailing newline.
 * Returns 0, or -ENOMEM.
 */
int kv_json_render(const struct kv_value *v, struct kv_buf *out);

/*
 * Parse JSON (RFC 8259, surrounding white space allowed) in the kvfs
 * mapping into a tree allocated from arena. Returns 0, -EINVAL for text
 * that is not JSON or a malformed $-tagged object, or -ENOMEM. Nesting
 * deeper than KV_V8_MAX_DEPTH is -EINVAL.
 */
int kv_json_parse(const char *text, size_t len, struct kv_arena *arena,
		  struct kv_value **out);

/* ---- file rendering of stored values (kvfs-spec §3) ------------------- */

/*
 * Render a stored value as file content: bytes unchanged; KvU64 as decimal
 * and "\n"; V8 as JSON and "\n". *writable is set false for a V8 value that
 * cannot round-trip (see kv_v8_decode) and for undecodable data.
 * Returns 0, -EINVAL/-ENOTSUP for a value that does not decode (the caller
 * reports EIO), or -ENOMEM.
 */
int kv_value_render(enum kv_encoding enc, const uint8_t *data, size_t len,
		    struct kv_buf *out, bool *writable);

/*
 * Parse file content into a stored value of encoding enc, appended to out:
 * bytes unchanged; KvU64 from a decimal 0..2^64-1 with surrounding white
 * space; V8 from JSON. Returns 0, -EINVAL for content that does not parse,
 * or -ENOMEM.
 */
int kv_value_parse(enum kv_encoding enc, const uint8_t *text, size_t len,
		   struct kv_buf *out);

/*
 * The encoding a new file gets from its content (kvfs-spec §3): KV_ENC_V8
 * when it is JSON in the kvfs mapping, else KV_ENC_BYTES. Empty content is
 * KV_ENC_BYTES.
 */
enum kv_encoding kv_value_sniff(const uint8_t *text, size_t len);

/*
 * Whether a stored value of encoding enc and len bytes fixes the type of
 * content written over it (kvfs-spec §3). Every value does but the empty
 * Uint8Array, which is what touch leaves: it takes its type from the next
 * content, as a new file does.
 */
bool kv_value_keeps_type(enum kv_encoding enc, size_t len);

/*
 * kv_value_sniff and kv_value_parse of what it chose, in one parse: sets
 * *enc to the encoding the content gets and appends its stored value to
 * out, the V8 serialization for JSON, else the content unchanged. Returns
 * 0, or -ENOMEM (out then as it was).
 */
int kv_value_sniff_parse(const uint8_t *text, size_t len,
			 enum kv_encoding *enc, struct kv_buf *out);

/* KvU64 stored form: exactly 8 bytes little-endian. */
int kv_u64_decode(const uint8_t *data, size_t len, uint64_t *out);
void kv_u64_encode(uint64_t v, uint8_t out[8]);

#endif
