/*
 * key.c — the tuple encoding of Deno KV keys (denokv/SPEC.md §2): key parts
 * to bytes and back, so that memcmp order of encodings is Deno's key order.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kv_key.h"

/* Tags of the short bigint forms carry the magnitude length: 0x14 +/- n. */
enum { BIGINT_SHORT_MAX = 8 };

static int encode_escaped(uint8_t tag, const uint8_t *data, size_t len,
			  struct kv_buf *out)
{
	size_t zeros = 0;
	for (size_t i = 0; i < len; i++)
		zeros += data[i] == 0;
	if (len > SIZE_MAX - zeros - 2)
		return -ENOMEM;
	int r = kv_buf_reserve(out, len + zeros + 2);
	if (r < 0)
		return r;
	uint8_t *p = out->data + out->len;
	*p++ = tag;
	for (size_t i = 0; i < len; i++) {
		*p++ = data[i];
		if (data[i] == 0)
			*p++ = 0xff;
	}
	*p++ = 0x00;
	out->len = (size_t)(p - out->data);
	return 0;
}

/*
 * A magnitude handed in with leading zero bytes still has one encoding, so
 * they are skipped rather than refused; a zero is never negative.
 */
static int encode_bigint(const struct kv_bigint *v, struct kv_buf *out)
{
	const uint8_t *mag = v->mag;
	size_t n = v->len;
	while (n > 0 && mag[0] == 0) {
		mag++;
		n--;
	}
	if (n > KV_BIGINT_MAX_BYTES)
		return -ERANGE;
	int r = kv_buf_reserve(out, n + 2);
	if (r < 0)
		return r;
	uint8_t *p = out->data + out->len;
	uint8_t flip = v->negative && n > 0 ? 0xff : 0x00;
	if (n <= BIGINT_SHORT_MAX) {
		*p++ = (uint8_t)(flip ? KV_TAG_BIGINT_ZERO - n
				      : KV_TAG_BIGINT_ZERO + n);
	} else {
		*p++ = flip ? KV_TAG_NEG_BIGINT_LONG : KV_TAG_POS_BIGINT_LONG;
		*p++ = (uint8_t)n ^ flip;
	}
	for (size_t i = 0; i < n; i++)
		*p++ = mag[i] ^ flip;
	out->len = (size_t)(p - out->data);
	return 0;
}

/*
 * Flipping the sign bit of a non-negative double and every bit of a negative
 * one makes the bytes sort as the numbers do. NaN payloads are dropped so
 * that every NaN of one sign is one key, as in Deno.
 */
static int encode_number(double v, struct kv_buf *out)
{
	uint64_t bits;
	memcpy(&bits, &v, sizeof(bits));
	uint64_t sign = bits & 0x8000000000000000u;
	if (v != v)
		bits = sign | 0x7ff8000000000000u;
	bits ^= sign ? 0xffffffffffffffffu : 0x8000000000000000u;
	uint8_t b[9];
	b[0] = KV_TAG_NUMBER;
	for (int i = 8; i >= 1; i--) {
		b[i] = (uint8_t)bits;
		bits >>= 8;
	}
	return kv_buf_append(out, b, sizeof(b));
}

int kv_part_encode(const struct kv_part *part, struct kv_buf *out)
{
	switch (part->type) {
	case KV_PART_BYTES:
		return encode_escaped(KV_TAG_BYTES, part->data, part->len, out);
	case KV_PART_STRING:
		return encode_escaped(KV_TAG_STRING, part->data, part->len, out);
	case KV_PART_BIGINT:
		return encode_bigint(&part->bigint, out);
	case KV_PART_NUMBER:
		return encode_number(part->num, out);
	case KV_PART_FALSE:
		return kv_buf_push(out, KV_TAG_FALSE);
	case KV_PART_TRUE:
		return kv_buf_push(out, KV_TAG_TRUE);
	}
	return -EINVAL;
}

int kv_key_encode(const struct kv_part *parts, size_t n, struct kv_buf *out)
{
	for (size_t i = 0; i < n; i++) {
		int r = kv_part_encode(&parts[i], out);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Where one encoded part lies in its buffer, found without decoding it. */
struct part_extent {
	size_t payload;	/* offset of the first payload byte */
	size_t payload_len;	/* encoded payload bytes, escapes included */
	size_t span;	/* whole part: tag, length byte, payload, terminator */
	size_t escapes;	/* escaped zeros in a bytes or string payload */
};

static int scan_escaped(const uint8_t *p, size_t len, struct part_extent *e)
{
	e->payload = 1;
	e->escapes = 0;
	for (size_t i = 1; i < len; i++) {
		if (p[i] != 0x00)
			continue;
		if (i + 1 < len && p[i + 1] == 0xff) {
			e->escapes++;
			i++;
			continue;
		}
		e->payload_len = i - 1;
		e->span = i + 1;
		return 0;
	}
	return -EINVAL;
}

/*
 * Deno writes only minimal bigints: the short form up to 8 bytes and no
 * leading zero byte in the magnitude. Anything else would decode to a value
 * whose encoding differs from the stored key, so a key read from the
 * database could not be addressed again; such encodings are refused, which
 * keeps encode(decode(k)) == k for every key that decodes.
 */
static int scan_bigint(const uint8_t *p, size_t len, struct part_extent *e)
{
	uint8_t tag = p[0];
	uint8_t flip = tag < KV_TAG_BIGINT_ZERO ? 0xff : 0x00;
	size_t n;
	if (tag == KV_TAG_NEG_BIGINT_LONG || tag == KV_TAG_POS_BIGINT_LONG) {
		if (len < 2)
			return -EINVAL;
		n = p[1] ^ flip;
		if (n <= BIGINT_SHORT_MAX)
			return -EINVAL;
		e->payload = 2;
	} else {
		n = flip ? (size_t)(KV_TAG_BIGINT_ZERO - tag)
			 : (size_t)(tag - KV_TAG_BIGINT_ZERO);
		e->payload = 1;
	}
	if (len - e->payload < n)
		return -EINVAL;
	if (n > 0 && (p[e->payload] ^ flip) == 0)
		return -EINVAL;
	e->payload_len = n;
	e->span = e->payload + n;
	e->escapes = 0;
	return 0;
}

static int scan_fixed(size_t payload_len, size_t len, struct part_extent *e)
{
	if (len - 1 < payload_len)
		return -EINVAL;
	e->payload = 1;
	e->payload_len = payload_len;
	e->span = 1 + payload_len;
	e->escapes = 0;
	return 0;
}

/* Find the extent of the part at the start of p, validating it fully. */
static int scan_part(const uint8_t *p, size_t len, struct part_extent *e)
{
	if (len == 0)
		return -EINVAL;
	uint8_t tag = p[0];
	if (tag == KV_TAG_BYTES || tag == KV_TAG_STRING)
		return scan_escaped(p, len, e);
	if (tag >= KV_TAG_NEG_BIGINT_LONG && tag <= KV_TAG_POS_BIGINT_LONG)
		return scan_bigint(p, len, e);
	if (tag == KV_TAG_NUMBER)
		return scan_fixed(8, len, e);
	if (tag == KV_TAG_FALSE || tag == KV_TAG_TRUE)
		return scan_fixed(0, len, e);
	return -EINVAL;
}

long kv_part_span(const uint8_t *buf, size_t len)
{
	struct part_extent e;
	int r = scan_part(buf, len, &e);
	return r < 0 ? r : (long)e.span;
}

/* Scratch space for a payload; the caller has reserved room or not. */
static uint8_t *scratch_take(struct kv_buf *scratch, size_t n, int *r)
{
	*r = kv_buf_reserve(scratch, n);
	if (*r < 0)
		return NULL;
	uint8_t *p = scratch->data + scratch->len;
	scratch->len += n;
	return p;
}

static int decode_escaped(const uint8_t *p, const struct part_extent *e,
			  struct kv_part *part, struct kv_buf *scratch)
{
	const uint8_t *src = p + e->payload;
	part->len = e->payload_len - e->escapes;
	if (e->escapes == 0) {
		part->data = src;
		return 0;
	}
	int r;
	uint8_t *dst = scratch_take(scratch, part->len, &r);
	if (!dst)
		return r;
	part->data = dst;
	for (size_t i = 0; i < e->payload_len; i++) {
		*dst++ = src[i];
		if (src[i] == 0x00)
			i++;
	}
	return 0;
}

static int decode_bigint(const uint8_t *p, const struct part_extent *e,
			 struct kv_part *part, struct kv_buf *scratch)
{
	const uint8_t *src = p + e->payload;
	struct kv_bigint *v = &part->bigint;
	v->negative = p[0] < KV_TAG_BIGINT_ZERO;
	v->len = e->payload_len;
	if (!v->negative) {
		v->mag = src;
		return 0;
	}
	int r;
	uint8_t *dst = scratch_take(scratch, v->len, &r);
	if (!dst)
		return r;
	for (size_t i = 0; i < v->len; i++)
		dst[i] = (uint8_t)~src[i];
	v->mag = dst;
	return 0;
}

static double decode_number(const uint8_t *src)
{
	uint64_t bits = 0;
	for (int i = 0; i < 8; i++)
		bits = bits << 8 | src[i];
	bits ^= bits & 0x8000000000000000u ? 0x8000000000000000u
					   : 0xffffffffffffffffu;
	double v;
	memcpy(&v, &bits, sizeof(v));
	return v;
}

int kv_part_decode(const uint8_t *buf, size_t len, size_t *pos,
		   struct kv_part *part, struct kv_buf *scratch)
{
	if (*pos >= len)
		return -EINVAL;
	const uint8_t *p = buf + *pos;
	struct part_extent e;
	int r = scan_part(p, len - *pos, &e);
	if (r < 0)
		return r;
	*part = (struct kv_part){0};
	switch (p[0]) {
	case KV_TAG_BYTES:
	case KV_TAG_STRING:
		part->type = p[0] == KV_TAG_BYTES ? KV_PART_BYTES
						  : KV_PART_STRING;
		r = decode_escaped(p, &e, part, scratch);
		break;
	case KV_TAG_NUMBER:
		part->type = KV_PART_NUMBER;
		part->num = decode_number(p + e.payload);
		break;
	case KV_TAG_FALSE:
		part->type = KV_PART_FALSE;
		break;
	case KV_TAG_TRUE:
		part->type = KV_PART_TRUE;
		break;
	default:
		part->type = KV_PART_BIGINT;
		r = decode_bigint(p, &e, part, scratch);
		break;
	}
	if (r < 0)
		return r;
	*pos += e.span;
	return 0;
}

static int count_parts(const uint8_t *buf, size_t len, size_t *n)
{
	*n = 0;
	for (size_t pos = 0; pos < len; (*n)++) {
		long span = kv_part_span(buf + pos, len - pos);
		if (span < 0)
			return (int)span;
		pos += (size_t)span;
	}
	return 0;
}

/*
 * The key owns one block: a copy of the encoding, then room for the payloads
 * that must be rewritten. A payload never decodes to more bytes than it
 * spans, so reserving len bytes of room up front means the block never
 * moves while parts already point into it.
 */
int kv_key_decode(const uint8_t *buf, size_t len, struct kv_key *out)
{
	*out = (struct kv_key){0};
	size_t n;
	int r = count_parts(buf, len, &n);
	if (r < 0)
		return r;
	if (n == 0)
		return 0;
	if (len > SIZE_MAX / 2)
		return -ENOMEM;
	struct kv_buf block = {0};
	struct kv_part *parts = calloc(n, sizeof(*parts));
	if (!parts || kv_buf_reserve(&block, 2 * len) < 0) {
		free(parts);
		kv_buf_free(&block);
		return -ENOMEM;
	}
	memcpy(block.data, buf, len);
	block.len = len;
	size_t pos = 0;
	for (size_t i = 0; i < n && r == 0; i++)
		r = kv_part_decode(block.data, len, &pos, &parts[i], &block);
	if (r < 0) {
		free(parts);
		kv_buf_free(&block);
		return r;
	}
	out->parts = parts;
	out->n = n;
	out->storage_ = block.data;
	return 0;
}

void kv_key_free(struct kv_key *key)
{
	free(key->parts);
	free(key->storage_);
	*key = (struct kv_key){0};
}

int kv_key_compare(const uint8_t *a, size_t alen, const uint8_t *b,
		   size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n ? memcmp(a, b, n) : 0;
	if (c != 0)
		return c;
	return (alen > blen) - (alen < blen);
}
