/*
 * fuzz_json.c — fuzz target for the JSON parser of the kvfs mapping
 * (kv_json_parse) and the file parsing built on it (kv_value_parse).
 *
 * Properties, for every input that parses: the tree renders, its rendering
 * parses back equal and renders identically (the rendering is canonical);
 * the tree encodes to V8 (or is refused with -EINVAL) and decodes back
 * equal; kv_value_parse accepts exactly the texts that parse and encode,
 * and the sniffer calls exactly those JSON.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"

static void check_render_parse(const struct kv_value *v)
{
	struct kv_buf first = {0}, second = {0};
	FUZZ_REQUIRE(kv_json_render(v, &first) == 0, "kv_json_render failed");
	struct kv_arena *arena = kv_arena_new();
	FUZZ_REQUIRE(arena, "out of memory");
	struct kv_value *back = NULL;
	int r = kv_json_parse((const char *)first.data, first.len, arena,
			      &back);
	FUZZ_REQUIRE(r == 0, "the rendering '%.*s' does not parse: %d",
		     (int)first.len, (const char *)first.data, r);
	FUZZ_REQUIRE(kv_value_equal(v, back),
		     "the rendering '%.*s' parses to another value",
		     (int)first.len, (const char *)first.data);
	FUZZ_REQUIRE(kv_json_render(back, &second) == 0,
		     "kv_json_render failed");
	FUZZ_REQUIRE(second.len == first.len &&
		     memcmp(second.data, first.data, first.len) == 0,
		     "render(parse(render(v))) '%.*s' != render(v) '%.*s'",
		     (int)second.len, (const char *)second.data,
		     (int)first.len, (const char *)first.data);
	kv_arena_free(arena);
	kv_buf_free(&first);
	kv_buf_free(&second);
}

static void check_value_parse(const uint8_t *data, size_t size, bool parses,
			      int encode_error)
{
	struct kv_buf out = {0};
	int r = kv_value_parse(KV_ENC_V8, data, size, &out);
	FUZZ_REQUIRE(parses ? r == encode_error : r == -EINVAL,
		     "kv_value_parse: %d where the parser says %s", r,
		     parses ? "yes" : "no");
	kv_buf_free(&out);
	bool json = parses && encode_error == 0;
	FUZZ_REQUIRE(kv_value_sniff(data, size) ==
			     (json ? KV_ENC_V8 : KV_ENC_BYTES),
		     "the sniffer disagrees: the text %s JSON that encodes",
		     json ? "is" : "is not");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kv_arena *arena = kv_arena_new();
	FUZZ_REQUIRE(arena, "out of memory");
	struct kv_value *v = NULL;
	int r = kv_json_parse((const char *)data, size, arena, &v);
	FUZZ_REQUIRE(r == 0 || r == -EINVAL, "kv_json_parse: %d", r);
	int encode_error = 0;
	if (r == 0) {
		check_render_parse(v);
		struct kv_buf encoded = {0};
		encode_error = fuzz_v8_round_trip(v, &encoded);
		FUZZ_REQUIRE(encode_error == 0 || encode_error == -EINVAL,
			     "kv_v8_encode: %d", encode_error);
		kv_buf_free(&encoded);
	}
	check_value_parse(data, size, r == 0, encode_error);
	kv_arena_free(arena);
	return 0;
}
