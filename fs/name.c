/*
 * name.c — the name grammar of kvfs-spec §1 (docs/names.md): the one file
 * name of every key part and back, paths of names to encoded keys and back,
 * and keys as JavaScript source.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "name.h"

#define SIGN_BIT UINT64_C(0x8000000000000000)
/* The NaN every JavaScript engine makes; Deno keeps only its sign. */
#define NAN_BITS UINT64_C(0x7ff8000000000000)

enum {
	HASH_BYTES = 8,	/* of the digest that ends a shortened name */
	HASH_HEX = 2 * HASH_BYTES,
	/* "@~" + head + "~" + hash fits in NAME_MAX */
	SHORT_HEAD_MAX = KVFS_NAME_MAX - 3 - HASH_HEX,
	NAN_HEX = 16,	/* hex digits of the bits in "@NaN:0x..." */
};

static const char upper_hex[] = "0123456789ABCDEF";
static const char lower_hex[] = "0123456789abcdef";

int kvfs_append_str(struct kv_buf *out, const char *s)
{
	return kv_buf_append(out, s, strlen(s));
}

int kvfs_nul_terminate(struct kv_buf *out)
{
	int r = kv_buf_push(out, 0);
	if (r == 0)
		out->len--;
	return r;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static uint64_t double_bits(double v)
{
	uint64_t bits;
	memcpy(&bits, &v, sizeof(bits));
	return bits;
}

size_t kvfs_utf8_length(const uint8_t *p, size_t avail)
{
	uint8_t b = p[0];
	uint8_t lo = 0x80, hi = 0xbf;
	size_t n;
	if (b < 0x80)
		return 1;
	if (b >= 0xc2 && b <= 0xdf) {
		n = 2;
	} else if (b >= 0xe0 && b <= 0xef) {
		n = 3;
		lo = b == 0xe0 ? 0xa0 : lo;
		hi = b == 0xed ? 0x9f : hi;
	} else if (b >= 0xf0 && b <= 0xf4) {
		n = 4;
		lo = b == 0xf0 ? 0x90 : lo;
		hi = b == 0xf4 ? 0x8f : hi;
	} else {
		return 0;
	}
	if (avail < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

static bool is_dot_or_dotdot(const uint8_t *s, size_t len)
{
	return (len == 1 && s[0] == '.') ||
	       (len == 2 && s[0] == '.' && s[1] == '.');
}

/*
 * Whether an ASCII byte of a string must be escaped: '/' and NUL cannot be
 * in a name, '%' introduces escapes, controls would garble listings, a
 * leading '@' would enter the reserved namespace, and the kernel resolves
 * "." and ".." itself.
 */
static bool ascii_needs_escape(const uint8_t *s, size_t len, size_t i)
{
	uint8_t c = s[i];
	if (c < 0x20 || c == 0x7f || c == '/' || c == '%')
		return true;
	if (i == 0 && c == '@')
		return true;
	return is_dot_or_dotdot(s, len);
}

/*
 * Length of the character at s[i] when the name of string s keeps it as it
 * is, or 0 for a byte that the name escapes.
 */
static size_t kept_char_length(const uint8_t *s, size_t len, size_t i)
{
	if (s[i] >= 0x80)
		return kvfs_utf8_length(s + i, len - i);
	return ascii_needs_escape(s, len, i) ? 0 : 1;
}

/*
 * Whether a name is the string of its own bytes: the name of that string
 * keeps every character, so it is canonical without being formatted again.
 * Most names are; the empty name is not (the empty string's is @"").
 */
static bool is_plain_name(const char *name, size_t len)
{
	const uint8_t *s = (const uint8_t *)name;
	size_t i = 0;
	while (i < len) {
		size_t n = kept_char_length(s, len, i);
		if (n == 0)
			return false;
		i += n;
	}
	return len > 0;
}

static int push_escape(struct kv_buf *out, uint8_t c)
{
	char e[3] = {'%', upper_hex[c >> 4], upper_hex[c & 15]};
	return kv_buf_append(out, e, sizeof(e));
}

static int format_string(const uint8_t *s, size_t len, struct kv_buf *out)
{
	if (len == 0)
		return kvfs_append_str(out, "@\"\"");
	int r = 0;
	for (size_t i = 0; i < len && r == 0;) {
		size_t n = kept_char_length(s, len, i);
		if (n == 0) {
			r = push_escape(out, s[i]);
			i++;
		} else {
			r = kv_buf_append(out, s + i, n);
			i += n;
		}
	}
	return r;
}

static int format_bytes(const uint8_t *s, size_t len, struct kv_buf *out)
{
	int r = kv_buf_reserve(out, 3 + 2 * len);
	if (r < 0)
		return r;
	uint8_t *p = out->data + out->len;
	*p++ = '@';
	*p++ = '0';
	*p++ = 'x';
	for (size_t i = 0; i < len; i++) {
		*p++ = (uint8_t)lower_hex[s[i] >> 4];
		*p++ = (uint8_t)lower_hex[s[i] & 15];
	}
	out->len = (size_t)(p - out->data);
	return 0;
}

/*
 * The text of a number as its name has it after the '@'. JavaScript's
 * text for the ordinary numbers; -0, -NaN and NaNs with other payloads
 * (which only other programs can store) have texts of their own so that
 * every number key has a name. buf must hold 32 bytes.
 */
static size_t number_text(double v, char buf[32])
{
	uint64_t bits = double_bits(v);
	if (isnan(v)) {
		if (bits == NAN_BITS)
			return (size_t)snprintf(buf, 32, "NaN");
		if (bits == (NAN_BITS | SIGN_BIT))
			return (size_t)snprintf(buf, 32, "-NaN");
		return (size_t)snprintf(buf, 32, "NaN:0x%016" PRIx64, bits);
	}
	if (v == 0 && signbit(v))
		return (size_t)snprintf(buf, 32, "-0");
	return kv_number_format(v, buf);
}

static int format_number(double v, struct kv_buf *out)
{
	char text[32];
	size_t n = number_text(v, text);
	int r = kv_buf_push(out, '@');
	return r < 0 ? r : kv_buf_append(out, text, n);
}

static int format_bigint(const struct kv_bigint *v, struct kv_buf *out)
{
	int r = kv_buf_push(out, '@');
	if (r == 0)
		r = kv_bigint_to_decimal(v, out);
	return r < 0 ? r : kv_buf_push(out, 'n');
}

int kvfs_name_format(const struct kv_part *part, struct kv_buf *out)
{
	switch (part->type) {
	case KV_PART_BYTES:
		return format_bytes(part->data, part->len, out);
	case KV_PART_STRING:
		return format_string(part->data, part->len, out);
	case KV_PART_BIGINT:
		return format_bigint(&part->bigint, out);
	case KV_PART_NUMBER:
		return format_number(part->num, out);
	case KV_PART_FALSE:
		return kvfs_append_str(out, "@false");
	case KV_PART_TRUE:
		return kvfs_append_str(out, "@true");
	}
	return -EINVAL;
}

/*
 * Room for n payload bytes at the end of storage. One byte more is kept so
 * that an empty payload still gets a real address.
 */
static uint8_t *storage_take(struct kv_buf *storage, size_t n, int *r)
{
	*r = kv_buf_reserve(storage, n + 1);
	if (*r < 0)
		return NULL;
	uint8_t *p = storage->data + storage->len;
	storage->len += n;
	return p;
}

/*
 * The bytes a string name stands for, escapes undone in either case of hex.
 * Whether the name was the canonical one is checked afterwards, once.
 */
static int unescape_string(const char *s, size_t len, struct kv_part *part,
			   struct kv_buf *storage)
{
	int r;
	uint8_t *dst = storage_take(storage, len, &r);
	if (!dst)
		return r;
	part->type = KV_PART_STRING;
	part->data = dst;
	for (size_t i = 0; i < len; i++) {
		if (s[i] != '%') {
			*dst++ = (uint8_t)s[i];
			continue;
		}
		if (len - i < 3)
			return -EINVAL;
		int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		*dst++ = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	part->len = (size_t)(dst - part->data);
	storage->len -= len - part->len;
	return 0;
}

static int parse_bytes(const char *hex, size_t len, struct kv_part *part,
		       struct kv_buf *storage)
{
	if (len % 2)
		return -EINVAL;
	int r;
	uint8_t *dst = storage_take(storage, len / 2, &r);
	if (!dst)
		return r;
	part->type = KV_PART_BYTES;
	part->data = dst;
	part->len = len / 2;
	for (size_t i = 0; i < len; i += 2) {
		int hi = hex_value(hex[i]), lo = hex_value(hex[i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		*dst++ = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static int parse_bigint(const char *s, size_t len, struct kv_part *part,
			struct kv_buf *storage)
{
	part->type = KV_PART_BIGINT;
	int r = kv_bigint_from_decimal(s, len, true, &part->bigint, storage);
	/* the helper reads any size a value can hold; a key part is smaller */
	if (r == 0 && part->bigint.len > KV_BIGINT_MAX_BYTES)
		r = -EINVAL;
	return r;
}

static bool text_is(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && memcmp(s, word, len) == 0;
}

static bool text_starts(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);
	return len >= n && memcmp(s, prefix, n) == 0;
}

static int parse_nan_bits(const char *hex, size_t len, uint64_t *bits)
{
	if (len != NAN_HEX)
		return -EINVAL;
	*bits = 0;
	for (size_t i = 0; i < len; i++) {
		int d = hex_value(hex[i]);
		if (d < 0)
			return -EINVAL;
		*bits = *bits << 4 | (uint64_t)d;
	}
	return 0;
}

static int parse_number(const char *s, size_t len, struct kv_part *part)
{
	static const char payload_prefix[] = "NaN:0x";
	uint64_t bits = 0;
	int r = 0;
	part->type = KV_PART_NUMBER;
	if (text_is(s, len, "NaN")) {
		bits = NAN_BITS;
	} else if (text_is(s, len, "-NaN")) {
		bits = NAN_BITS | SIGN_BIT;
	} else if (text_starts(s, len, payload_prefix)) {
		size_t skip = sizeof(payload_prefix) - 1;
		r = parse_nan_bits(s + skip, len - skip, &bits);
	} else {
		return kv_number_parse(s, len, true, &part->num);
	}
	memcpy(&part->num, &bits, sizeof(bits));
	return r < 0 || !isnan(part->num) ? -EINVAL : 0;
}

/* Decode the text after the '@' of a name into the part it stands for. */
static int parse_at_form(const char *s, size_t len, struct kv_part *part,
			 struct kv_buf *storage)
{
	if (text_is(s, len, "\"\""))
		return unescape_string(s, 0, part, storage);
	if (text_is(s, len, "true")) {
		part->type = KV_PART_TRUE;
		return 0;
	}
	if (text_is(s, len, "false")) {
		part->type = KV_PART_FALSE;
		return 0;
	}
	if (text_starts(s, len, "0x"))
		return parse_bytes(s + 2, len - 2, part, storage);
	if (len > 0 && s[len - 1] == 'n')
		return parse_bigint(s, len - 1, part, storage);
	return parse_number(s, len, part);
}

/*
 * Decoding above is lenient on purpose; the one test of canonical form is
 * that the part's own name is the name given. This makes parse exactly the
 * inverse of format, whatever the helpers accept. A plain name passes it
 * by construction, and skips it.
 */
static int require_canonical(const char *name, size_t len,
			     const struct kv_part *part)
{
	struct kv_buf own = {0};
	int r = kvfs_name_format(part, &own);
	if (r == 0 && (own.len != len || memcmp(own.data, name, len) != 0))
		r = -EINVAL;
	kv_buf_free(&own);
	return r;
}

int kvfs_name_parse(const char *name, size_t len, struct kv_part *part,
		    struct kv_buf *storage)
{
	size_t mark = storage->len;
	int r;
	*part = (struct kv_part){0};
	if (len == 0)
		r = -EINVAL;
	else if (name[0] == '@')
		r = parse_at_form(name + 1, len - 1, part, storage);
	else
		r = unescape_string(name, len, part, storage);
	if (r == 0 && !is_plain_name(name, len))
		r = require_canonical(name, len, part);
	if (r < 0)
		storage->len = mark;
	return r == -ENOMEM ? r : (r < 0 ? -EINVAL : 0);
}

/* How much of a full name fits in max bytes, cut between characters. */
static size_t head_length(const uint8_t *name, size_t len, size_t max)
{
	size_t i = 0;
	while (i < len) {
		size_t n = name[i] == '%' ? 3
					  : kvfs_utf8_length(name + i, len - i);
		if (n == 0 || n > max - i)
			break;
		i += n;
	}
	return i;
}

/*
 * Plain BLAKE2b of the encoded part, so that the name is the same on every
 * mount and machine. libsodium's shortest digest is 16 bytes; its first
 * HASH_BYTES are used. No sodium_init() is needed: before it, libsodium
 * runs its portable BLAKE2b, which gives the same digest.
 */
static int append_part_hash(const struct kv_part *part, struct kv_buf *out)
{
	struct kv_buf enc = {0};
	unsigned char digest[crypto_generichash_BYTES_MIN];
	int r = kv_part_encode(part, &enc);
	if (r == 0 && crypto_generichash(digest, sizeof(digest), enc.data,
					 enc.len, NULL, 0) != 0)
		r = -EINVAL;
	kv_buf_free(&enc);
	for (size_t i = 0; i < HASH_BYTES && r == 0; i++) {
		char h[2] = {lower_hex[digest[i] >> 4], lower_hex[digest[i] & 15]};
		r = kv_buf_append(out, h, sizeof(h));
	}
	return r == -ERANGE ? -EINVAL : r;
}

static int append_short_name(const struct kv_part *part,
			     const struct kv_buf *full, struct kv_buf *out)
{
	int r = kvfs_append_str(out, "@~");
	if (r == 0)
		r = kv_buf_append(out, full->data,
				  head_length(full->data, full->len,
					      SHORT_HEAD_MAX));
	if (r == 0)
		r = kv_buf_push(out, '~');
	return r < 0 ? r : append_part_hash(part, out);
}

int kvfs_name_display(const struct kv_part *part, struct kv_buf *out)
{
	size_t mark = out->len;
	struct kv_buf full = {0};
	int r = kvfs_name_format(part, &full);
	if (r == 0 && full.len <= KVFS_NAME_MAX)
		r = kv_buf_append(out, full.data, full.len);
	else if (r == 0)
		r = append_short_name(part, &full, out);
	if (r == 0)
		r = kvfs_nul_terminate(out);
	kv_buf_free(&full);
	if (r < 0)
		out->len = mark;
	return r;
}

bool kvfs_name_is_short(const char *name, size_t len)
{
	const size_t tail = 1 + HASH_HEX;
	if (len > KVFS_NAME_MAX || len < 2 + tail ||
	    memcmp(name, "@~", 2) != 0 || name[len - tail] != '~')
		return false;
	for (size_t i = len - HASH_HEX; i < len; i++)
		if (!is_lower_hex(name[i]))
			return false;
	return true;
}

/*
 * Encode a parsed part as exactly the key it names. The key codec writes
 * every NaN as the canonical NaN of its sign, as Deno does, but a key that
 * another program wrote may hold any NaN, and its name must reach it. A
 * number is encoded as its bits XOR a mask that depends on the sign alone,
 * so the payload bits that the codec dropped are put back by XOR.
 */
static int encode_exactly(const struct kv_part *part, struct kv_buf *out)
{
	size_t at = out->len, pos = at;
	int r = kv_part_encode(part, out);
	if (r < 0 || part->type != KV_PART_NUMBER || !isnan(part->num))
		return r;
	struct kv_buf scratch = {0};
	struct kv_part stored;
	r = kv_part_decode(out->data, out->len, &pos, &stored, &scratch);
	if (r == 0) {
		uint64_t lost = double_bits(stored.num) ^ double_bits(part->num);
		for (size_t i = 0; i < 8; i++)
			out->data[pos - 1 - i] ^= (uint8_t)(lost >> (8 * i));
		pos = at;
		r = kv_part_decode(out->data, out->len, &pos, &stored,
				   &scratch);
	}
	/* never a different key, should the codec's layout ever change */
	if (r == 0 && double_bits(stored.num) != double_bits(part->num))
		r = -EINVAL;
	kv_buf_free(&scratch);
	return r;
}

/* A plain name's part is its own bytes, encoded from where they are. */
static int encode_plain(const char *name, size_t len, struct kv_buf *out)
{
	struct kv_part part = {.type = KV_PART_STRING,
			       .data = (const uint8_t *)name, .len = len};
	return kv_part_encode(&part, out);
}

static int parse_and_encode(const char *name, size_t len, struct kv_buf *out)
{
	struct kv_buf storage = {0};
	struct kv_part part;
	int r = kvfs_name_parse(name, len, &part, &storage);
	if (r == 0)
		r = encode_exactly(&part, out);
	kv_buf_free(&storage);
	return r;
}

int kvfs_name_to_key(const char *name, size_t len, struct kv_buf *out)
{
	size_t mark = out->len;
	int r = is_plain_name(name, len) ? encode_plain(name, len, out)
					 : parse_and_encode(name, len, out);
	if (r < 0)
		out->len = mark;
	return r;
}

int kvfs_path_to_key(const char *path, size_t len, struct kv_buf *out)
{
	size_t mark = out->len;
	int r = 0;
	for (size_t i = 0; len > 0 && r == 0;) {
		const char *slash = memchr(path + i, '/', len - i);
		size_t end = slash ? (size_t)(slash - path) : len;
		r = kvfs_name_to_key(path + i, end - i, out);
		if (!slash)
			break;
		i = end + 1;
	}
	if (r < 0)
		out->len = mark;
	return r;
}

typedef int (*part_renderer)(const struct kv_part *part, struct kv_buf *out);

/* Render every part of an encoded key, with sep between them. */
static int render_parts(const unsigned char *key, size_t len, const char *sep,
			part_renderer render, struct kv_buf *out)
{
	struct kv_buf scratch = {0};
	int r = 0;
	for (size_t pos = 0; pos < len && r == 0;) {
		struct kv_part part;
		if (pos > 0)
			r = kvfs_append_str(out, sep);
		scratch.len = 0;
		if (r == 0)
			r = kv_part_decode(key, len, &pos, &part, &scratch);
		if (r == 0)
			r = render(&part, out);
	}
	kv_buf_free(&scratch);
	return r;
}

int kvfs_key_to_path(const unsigned char *key, size_t len, struct kv_buf *out)
{
	size_t mark = out->len;
	int r = render_parts(key, len, "/", kvfs_name_format, out);
	if (r == 0)
		r = kvfs_nul_terminate(out);
	if (r < 0)
		out->len = mark;
	return r;
}

/* One well-formed character of a string, as JSON.stringify writes it. */
static int render_js_char(const uint8_t *p, size_t n, struct kv_buf *out)
{
	char esc[8] = {'\\'};
	if (n > 1)
		return kv_buf_append(out, p, n);
	switch (p[0]) {
	case '"':
	case '\\':
		esc[1] = (char)p[0];
		break;
	case '\b':
		esc[1] = 'b';
		break;
	case '\f':
		esc[1] = 'f';
		break;
	case '\n':
		esc[1] = 'n';
		break;
	case '\r':
		esc[1] = 'r';
		break;
	case '\t':
		esc[1] = 't';
		break;
	default:
		if (p[0] >= 0x20)
			return kv_buf_push(out, p[0]);
		snprintf(esc, sizeof(esc), "\\u%04x", p[0]);
		return kvfs_append_str(out, esc);
	}
	return kv_buf_append(out, esc, 2);
}

/*
 * A string as JSON.stringify writes it. Bytes that are not UTF-8 cannot be
 * in a JavaScript string; each is written as the lone surrogate
 * U+DC00 + byte (Python's "surrogateescape"), which no stored string can
 * hold, so the text stays lossless.
 */
static int render_js_string(const uint8_t *s, size_t len, struct kv_buf *out)
{
	int r = kv_buf_push(out, '"');
	for (size_t i = 0; i < len && r == 0;) {
		size_t n = kvfs_utf8_length(s + i, len - i);
		if (n > 0) {
			r = render_js_char(s + i, n, out);
			i += n;
		} else {
			char esc[8];
			snprintf(esc, sizeof(esc), "\\udc%02x", s[i]);
			r = kvfs_append_str(out, esc);
			i++;
		}
	}
	return r < 0 ? r : kv_buf_push(out, '"');
}

static int render_js_bytes(const uint8_t *s, size_t len, struct kv_buf *out)
{
	int r = kvfs_append_str(out, "new Uint8Array([");
	for (size_t i = 0; i < len && r == 0; i++) {
		char num[8];
		snprintf(num, sizeof(num), i ? ", %u" : "%u", s[i]);
		r = kvfs_append_str(out, num);
	}
	return r < 0 ? r : kvfs_append_str(out, "])");
}

/*
 * JavaScript has no literal for a NaN other than the plain one; such a
 * number is written as the expression that makes it from its bits.
 */
static int render_js_number(double v, struct kv_buf *out)
{
	char text[96];
	uint64_t bits = double_bits(v);
	if (isnan(v) && bits != NAN_BITS) {
		snprintf(text, sizeof(text),
			 "new Float64Array(new BigUint64Array([0x%016" PRIx64
			 "n]).buffer)[0]",
			 bits);
		return kvfs_append_str(out, text);
	}
	size_t n = number_text(v, text);
	return kv_buf_append(out, text, n);
}

static int render_js_part(const struct kv_part *part, struct kv_buf *out)
{
	int r;
	switch (part->type) {
	case KV_PART_BYTES:
		return render_js_bytes(part->data, part->len, out);
	case KV_PART_STRING:
		return render_js_string(part->data, part->len, out);
	case KV_PART_BIGINT:
		r = kv_bigint_to_decimal(&part->bigint, out);
		return r < 0 ? r : kv_buf_push(out, 'n');
	case KV_PART_NUMBER:
		return render_js_number(part->num, out);
	case KV_PART_FALSE:
		return kvfs_append_str(out, "false");
	case KV_PART_TRUE:
		return kvfs_append_str(out, "true");
	}
	return -EINVAL;
}

int kvfs_key_to_js(const unsigned char *key, size_t len, struct kv_buf *out)
{
	size_t mark = out->len;
	int r = kv_buf_push(out, '[');
	if (r == 0)
		r = render_parts(key, len, ", ", render_js_part, out);
	if (r == 0)
		r = kv_buf_push(out, ']');
	if (r == 0)
		r = kvfs_nul_terminate(out);
	if (r < 0)
		out->len = mark;
	return r;
}
