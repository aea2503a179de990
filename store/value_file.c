/*
 * value_file.c — a stored value as file content and back (kvfs-spec §3,
 * docs/json.md): bytes as they are, KvU64 as a decimal line, V8 values as
 * a JSON line.
 *
 * On error nothing stays appended to the caller's buffer, so a failed
 * render or parse never leaves half a value behind.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "kv_value.h"

int kv_u64_decode(const uint8_t *data, size_t len, uint64_t *out)
{
	if (len != 8)
		return -EINVAL;
	uint64_t v = 0;
	for (size_t i = 8; i-- > 0;)
		v = v << 8 | data[i];
	*out = v;
	return 0;
}

void kv_u64_encode(uint64_t v, uint8_t out[8])
{
	for (size_t i = 0; i < 8; i++, v >>= 8)
		out[i] = (uint8_t)v;
}

static int render_u64(const uint8_t *data, size_t len, struct kv_buf *out)
{
	uint64_t v;
	char text[24];
	int err = kv_u64_decode(data, len, &v);
	if (err)
		return err;
	return kv_buf_append(out, text,
			     (size_t)snprintf(text, sizeof(text), "%" PRIu64 "\n",
					      v));
}

static int render_v8(const uint8_t *data, size_t len, struct kv_buf *out,
		     bool *lossless)
{
	struct kv_arena *arena = kv_arena_new();
	struct kv_value *v;
	if (!arena)
		return -ENOMEM;
	int err = kv_v8_decode(data, len, arena, &v, lossless);
	if (err == 0)
		err = kv_json_render(v, out);
	if (err == 0)
		err = kv_buf_push(out, '\n');
	kv_arena_free(arena);
	return err;
}

int kv_value_render(enum kv_encoding enc, const uint8_t *data, size_t len,
		    struct kv_buf *out, bool *writable)
{
	size_t start = out->len;
	bool lossless = true;
	int err;
	switch (enc) {
	case KV_ENC_BYTES:
		err = kv_buf_append(out, data, len);
		break;
	case KV_ENC_U64:
		err = render_u64(data, len, out);
		break;
	case KV_ENC_V8:
		err = render_v8(data, len, out, &lossless);
		break;
	default:
		err = -EINVAL;
		break;
	}
	*writable = err == 0 && lossless;
	if (err)
		out->len = start;
	return err;
}

static bool is_space(uint8_t c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/* A decimal 0..2^64-1 between ASCII white space, and nothing else. */
static int parse_u64(const uint8_t *text, size_t len, struct kv_buf *out)
{
	size_t i = 0, end = len;
	while (i < end && is_space(text[i]))
		i++;
	while (end > i && is_space(text[end - 1]))
		end--;
	if (i == end)
		return -EINVAL;
	uint64_t v = 0;
	for (; i < end; i++) {
		unsigned digit = (unsigned)text[i] - '0';
		if (digit > 9 || v > (UINT64_MAX - digit) / 10)
			return -EINVAL;
		v = v * 10 + digit;
	}
	uint8_t bytes[8];
	kv_u64_encode(v, bytes);
	return kv_buf_append(out, bytes, sizeof(bytes));
}

/*
 * The V8 form of JSON is seldom much longer than its text (quotes, commas
 * and colons go; only short decimals grow), so room for the text and a
 * little more is made at once rather than by doubling from nothing.
 */
enum { V8_SLACK = 16 };

static int parse_v8(const uint8_t *text, size_t len, struct kv_buf *out)
{
	struct kv_arena *arena = kv_arena_new();
	struct kv_value *v;
	if (!arena)
		return -ENOMEM;
	int err = kv_json_parse((const char *)text, len, arena, &v);
	if (err == 0)
		err = kv_buf_reserve(out, len + V8_SLACK);
	if (err == 0)
		err = kv_v8_encode(v, out);
	kv_arena_free(arena);
	return err;
}

int kv_value_parse(enum kv_encoding enc, const uint8_t *text, size_t len,
		   struct kv_buf *out)
{
	size_t start = out->len;
	int err;
	switch (enc) {
	case KV_ENC_BYTES:
		err = kv_buf_append(out, text, len);
		break;
	case KV_ENC_U64:
		err = parse_u64(text, len, out);
		break;
	case KV_ENC_V8:
		err = parse_v8(text, len, out);
		break;
	default:
		err = -EINVAL;
		break;
	}
	if (err)
		out->len = start;
	return err;
}

/*
 * JSON is V8 only when it also encodes, so that a new file's first write
 * cannot fail for the type its content chose. Without memory to parse in,
 * the content cannot be shown to be JSON, and bytes is the type that
 * stores any content unchanged.
 */
static bool encodes_as_v8(const uint8_t *text, size_t len, struct kv_buf *out)
{
	return len > 0 && parse_v8(text, len, out) == 0;
}

enum kv_encoding kv_value_sniff(const uint8_t *text, size_t len)
{
	struct kv_buf scratch = {0};
	bool json = encodes_as_v8(text, len, &scratch);
	kv_buf_free(&scratch);
	return json ? KV_ENC_V8 : KV_ENC_BYTES;
}

bool kv_value_keeps_type(enum kv_encoding enc, size_t len)
{
	return !(enc == KV_ENC_BYTES && len == 0);
}

int kv_value_sniff_parse(const uint8_t *text, size_t len,
			 enum kv_encoding *enc, struct kv_buf *out)
{
	size_t start = out->len;
	if (encodes_as_v8(text, len, out)) {
		*enc = KV_ENC_V8;
		return 0;
	}
	out->len = start;
	*enc = KV_ENC_BYTES;
	return kv_buf_append(out, text, len);
}
