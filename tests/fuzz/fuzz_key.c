/*
 * fuzz_key.c — fuzz target for the key decoder (kv_key_decode).
 *
 * Properties, for every input that decodes: kv_part_span steps through
 * exactly the decoded parts; each part encodes back to its own bytes (a
 * NaN to the canonical NaN of its sign, as Deno writes it); and each part's
 * file name parses back to the same part, and the key's path back to the
 * same key (the name grammar is a bijection, kvfs-spec §1).
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "fuzz.h"
#include "name.h"

/* The bytes Deno writes for a part: a NaN loses its payload, keeps its sign. */
static void canonical_part(const struct kv_part *p, struct kv_part *out)
{
	*out = *p;
	if (p->type == KV_PART_NUMBER && isnan(p->num))
		out->num = signbit(p->num) ? -NAN : NAN;
}

static void check_part_bytes(const uint8_t *bytes, size_t len,
			     const struct kv_part *p, struct kv_buf *tmp)
{
	struct kv_part canon;
	canonical_part(p, &canon);
	tmp->len = 0;
	int r = kv_part_encode(p, tmp);
	FUZZ_REQUIRE(r == 0, "a decoded part does not encode: %d", r);
	struct kv_buf again = {0};
	FUZZ_REQUIRE(kv_part_encode(&canon, &again) == 0, "out of memory");
	FUZZ_REQUIRE(tmp->len == again.len &&
		     memcmp(tmp->data, again.data, again.len) == 0,
		     "a NaN is not canonicalised on encode");
	kv_buf_free(&again);
	if (fuzz_part_equal(p, &canon))
		FUZZ_REQUIRE(tmp->len == len &&
			     memcmp(tmp->data, bytes, len) == 0,
			     "encode(decode(x)) != x for a part of %zu bytes",
			     len);
}

static void check_name(const struct kv_part *p)
{
	struct kv_buf name = {0}, storage = {0};
	int r = kvfs_name_format(p, &name);
	FUZZ_REQUIRE(r == 0, "kvfs_name_format: %d", r);
	struct kv_part back;
	r = kvfs_name_parse((const char *)name.data, name.len, &back,
			    &storage);
	FUZZ_REQUIRE(r == 0, "the name '%.*s' does not parse: %d",
		     (int)name.len, (const char *)name.data, r);
	FUZZ_REQUIRE(fuzz_part_equal(p, &back),
		     "the name '%.*s' parses to another part", (int)name.len,
		     (const char *)name.data);
	kv_buf_free(&name);
	kv_buf_free(&storage);
}

static void check_path(const uint8_t *data, size_t size)
{
	struct kv_buf path = {0}, key = {0}, js = {0};
	int r = kvfs_key_to_path(data, size, &path);
	FUZZ_REQUIRE(r == 0, "kvfs_key_to_path: %d", r);
	r = kvfs_path_to_key((const char *)path.data, path.len, &key);
	FUZZ_REQUIRE(r == 0, "the path '%s' does not parse: %d",
		     (const char *)path.data, r);
	FUZZ_REQUIRE(key.len == size && memcmp(key.data, data, size) == 0,
		     "the path '%s' names another key",
		     (const char *)path.data);
	r = kvfs_key_to_js(data, size, &js);
	FUZZ_REQUIRE(r == 0, "kvfs_key_to_js: %d", r);
	kv_buf_free(&path);
	kv_buf_free(&key);
	kv_buf_free(&js);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kv_key key = {0};
	int r = kv_key_decode(data, size, &key);
	FUZZ_REQUIRE(r == 0 || r == -EINVAL, "kv_key_decode: %d", r);
	if (r < 0)
		return 0;
	struct kv_buf tmp = {0};
	size_t pos = 0;
	for (size_t i = 0; i < key.n; i++) {
		long span = kv_part_span(data + pos, size - pos);
		FUZZ_REQUIRE(span > 0 && (size_t)span <= size - pos,
			     "kv_part_span of part %zu: %ld", i, span);
		check_part_bytes(data + pos, (size_t)span, &key.parts[i], &tmp);
		check_name(&key.parts[i]);
		pos += (size_t)span;
	}
	FUZZ_REQUIRE(pos == size, "the parts' spans cover %zu of %zu bytes",
		     pos, size);
	if (size > 0)
		check_path(data, size);
	kv_buf_free(&tmp);
	kv_key_free(&key);
	return 0;
}
