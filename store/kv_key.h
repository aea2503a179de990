/*
 * kv_key.h — Deno KV tuple keys: key parts, their byte encoding, and the
 * number and bigint helpers that the names of key parts are made of.
 *
 * A key is a tuple of parts. Its encoding (denokv/SPEC.md §2) is the
 * concatenation of the encoded parts, and memcmp order of encodings is Deno's
 * key order. Everything here is pure: no I/O, no global state.
 *
 * Errors are negative errno values: -EINVAL for malformed input, -ENOMEM,
 * -ERANGE for a bigint whose magnitude needs more than 255 bytes.
 */
#ifndef KVFS_KV_KEY_H
#define KVFS_KV_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Tag bytes of the tuple encoding. */
enum {
	KV_TAG_BYTES = 0x01,
	KV_TAG_STRING = 0x02,
	KV_TAG_NEG_BIGINT_LONG = 0x0b,
	KV_TAG_BIGINT_ZERO = 0x14,
	KV_TAG_POS_BIGINT_LONG = 0x1d,
	KV_TAG_NUMBER = 0x21,
	KV_TAG_FALSE = 0x26,
	KV_TAG_TRUE = 0x27,
};

/*
 * The byte that, appended to an encoded key K, bounds every key that has K
 * as a proper prefix: [K 0x00, K KV_KEY_CHILD_END) holds exactly the keys
 * under K. Every part begins with a tag <= 0x27, while a string or bytes
 * part whose encoding merely extends K's last part continues with the escape
 * byte 0xff, so 0x28 separates the two.
 */
#define KV_KEY_CHILD_END 0x28

/* Deno's largest bigint key part, in bytes of magnitude. */
#define KV_BIGINT_MAX_BYTES 255

enum kv_part_type {
	KV_PART_BYTES,	/* Uint8Array */
	KV_PART_STRING, /* string, as the UTF-8 bytes stored in the key */
	KV_PART_BIGINT,
	KV_PART_NUMBER, /* JavaScript number (always a float64) */
	KV_PART_FALSE,
	KV_PART_TRUE,
};

/*
 * An arbitrary-precision integer: a sign and a big-endian magnitude with no
 * leading zero bytes (zero has len 0 and is never negative).
 */
struct kv_bigint {
	bool negative;
	const uint8_t *mag;
	size_t len;
};

/*
 * One key part. For BYTES and STRING, data/len are the unescaped payload
 * (a string's bytes are normally UTF-8, but a key written by another program
 * may hold any bytes, and they are kept exactly). For NUMBER, num keeps the
 * exact bits, so a negative NaN stays distinct from NaN as in Deno.
 */
struct kv_part {
	enum kv_part_type type;
	const uint8_t *data;
	size_t len;
	struct kv_bigint bigint;
	double num;
};

/* A decoded key. Parts point into memory owned by the key. */
struct kv_key {
	struct kv_part *parts;
	size_t n;
	uint8_t *storage_;
};

/*
 * A growable byte buffer, used by every encoder in the store. Starts zeroed
 * (struct kv_buf b = {0}); kv_buf_free() releases it.
 */
struct kv_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

/* Make room for extra more bytes. Returns 0 or -ENOMEM. */
int kv_buf_reserve(struct kv_buf *b, size_t extra);
/* Append len bytes. Returns 0 or -ENOMEM. */
int kv_buf_append(struct kv_buf *b, const void *data, size_t len);
/* Append one byte. Returns 0 or -ENOMEM. */
int kv_buf_push(struct kv_buf *b, uint8_t byte);
/* Release the buffer and zero it. */
void kv_buf_free(struct kv_buf *b);

/*
 * Append the encoding of one key part to out. NaNs are written with their
 * sign kept and their payload canonicalised, as Deno does. Returns 0,
 * -ERANGE for a bigint of more than 255 bytes of magnitude, or -ENOMEM.
 */
int kv_part_encode(const struct kv_part *part, struct kv_buf *out);

/*
 * Decode the key part that starts at buf[*pos]; on success advance *pos past
 * it. A payload is unescaped into scratch when it holds an escaped zero (and
 * a negative bigint's magnitude is un-complemented there), and otherwise
 * points into buf: part->data stays valid while buf lives and scratch is
 * neither appended to nor freed. Returns 0 or -EINVAL (unknown tag,
 * truncated part, bad escape, a bigint not in Deno's minimal form), never
 * reading past len.
 */
int kv_part_decode(const uint8_t *buf, size_t len, size_t *pos,
		   struct kv_part *part, struct kv_buf *scratch);

/* Encode a whole key (concatenation of its parts). */
int kv_key_encode(const struct kv_part *parts, size_t n, struct kv_buf *out);

/*
 * Decode a whole encoded key into out (release with kv_key_free()).
 * Returns 0, -EINVAL for a malformed key, or -ENOMEM.
 */
int kv_key_decode(const uint8_t *buf, size_t len, struct kv_key *out);

/* Release a decoded key. Safe on a zeroed key. */
void kv_key_free(struct kv_key *key);

/*
 * Length of the encoding of the first part of buf, or -EINVAL. Lets callers
 * step through an encoded key without decoding it.
 */
long kv_part_span(const uint8_t *buf, size_t len);

/* memcmp order of two encoded keys: <0, 0, >0. This is Deno's order. */
int kv_key_compare(const uint8_t *a, size_t alen, const uint8_t *b,
		   size_t blen);

/*
 * Write a number as JavaScript's Number.prototype.toString does ("42",
 * "-1.5", "1e+21", "5e-324", "NaN", "Infinity", "-Infinity"; -0 gives "0").
 * buf must hold 32 bytes. Returns the length written.
 */
size_t kv_number_format(double v, char buf[32]);

/*
 * Parse a JavaScript number literal in the form kv_number_format() writes
 * (also "-0", "NaN", "Infinity", "-Infinity"). Only the canonical text of a
 * number is accepted when canonical is true: the text must equal
 * kv_number_format() of the result, except that "-0" stands for -0.
 * Returns 0 or -EINVAL.
 */
int kv_number_parse(const char *s, size_t len, bool canonical, double *out);

/*
 * Append a bigint in decimal ("-42", "0") to out and NUL-terminate it (the
 * NUL is not counted in out->len). Returns 0 or -ENOMEM.
 */
int kv_bigint_to_decimal(const struct kv_bigint *v, struct kv_buf *out);

/*
 * Parse a decimal integer with an optional leading '-' and no leading zeros
 * (when canonical) into a bigint. The magnitude is appended to storage and
 * out->mag points there, valid until storage is appended to or freed.
 * "-0" is not canonical. Any size a value can hold is read (a key part's
 * 255-byte limit is kv_part_encode's to enforce). Returns 0, -EINVAL,
 * -ERANGE (more than 157827 digits, beyond any 64 KiB value) or -ENOMEM.
 */
int kv_bigint_from_decimal(const char *s, size_t len, bool canonical,
			   struct kv_bigint *out, struct kv_buf *storage);

#endif
