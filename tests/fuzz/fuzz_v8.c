/*
 * fuzz_v8.c — fuzz target for the V8 decoder (kv_v8_decode) and the file
 * rendering of stored values built on it.
 *
 * Properties, for every input that decodes: the tree encodes, and decodes
 * back equal; encoding is stable (the second encoding is byte-identical to
 * the first); the tree renders as JSON, and a lossless tree parses back
 * from its JSON equal (kvfs-spec §4); kv_value_render agrees with the
 * decoder about what decodes.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"

static void check_stable_encoding(const struct kv_buf *first)
{
	struct kv_arena *arena = kv_arena_new();
	FUZZ_REQUIRE(arena, "out of memory");
	struct kv_value *v = NULL;
	FUZZ_REQUIRE(kv_v8_decode(first->data, first->len, arena, &v, NULL) == 0,
		     "the encoder's output does not decode");
	struct kv_buf second = {0};
	FUZZ_REQUIRE(kv_v8_encode(v, &second) == 0,
		     "a re-decoded tree does not encode");
	FUZZ_REQUIRE(second.len == first->len &&
		     memcmp(second.data, first->data, first->len) == 0,
		     "encode(decode(encode(v))) != encode(v)");
	kv_buf_free(&second);
	kv_arena_free(arena);
}

static void check_json(const struct kv_value *v, bool lossless)
{
	struct kv_buf json = {0};
	int r = kv_json_render(v, &json);
	FUZZ_REQUIRE(r == 0, "kv_json_render: %d", r);
	if (lossless) {
		struct kv_arena *arena = kv_arena_new();
		FUZZ_REQUIRE(arena, "out of memory");
		struct kv_value *back = NULL;
		r = kv_json_parse((const char *)json.data, json.len, arena,
				  &back);
		FUZZ_REQUIRE(r == 0, "the rendering '%.*s' does not parse: %d",
			     (int)json.len, (const char *)json.data, r);
		FUZZ_REQUIRE(kv_value_equal(v, back),
			     "the rendering '%.*s' parses to another value",
			     (int)json.len, (const char *)json.data);
		kv_arena_free(arena);
	}
	kv_buf_free(&json);
}

static void check_file_rendering(const uint8_t *data, size_t size,
				 bool decodes, bool lossless)
{
	struct kv_buf out = {0};
	bool writable = true;
	int r = kv_value_render(KV_ENC_V8, data, size, &out, &writable);
	FUZZ_REQUIRE(decodes ? r == 0 : (r == -EINVAL || r == -ENOTSUP),
		     "kv_value_render: %d for a value that %s", r,
		     decodes ? "decodes" : "does not decode");
	FUZZ_REQUIRE(writable == (decodes && lossless),
		     "kv_value_render: writable is %d", writable);
	kv_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kv_arena *arena = kv_arena_new();
	FUZZ_REQUIRE(arena, "out of memory");
	struct kv_value *v = NULL;
	bool lossless = false;
	int r = kv_v8_decode(data, size, arena, &v, &lossless);
	FUZZ_REQUIRE(r == 0 || r == -EINVAL || r == -ENOTSUP,
		     "kv_v8_decode: %d", r);
	check_file_rendering(data, size, r == 0, lossless);
	if (r == 0) {
		struct kv_buf encoded = {0};
		r = fuzz_v8_round_trip(v, &encoded);
		FUZZ_REQUIRE(r == 0, "a decoded tree does not encode: %d", r);
		check_stable_encoding(&encoded);
		check_json(v, lossless);
		kv_buf_free(&encoded);
	}
	kv_arena_free(arena);
	return 0;
}
