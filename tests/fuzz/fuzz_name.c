/*
 * fuzz_name.c — fuzz target for the name grammar (fs/name.h), the input
 * taken both as one file name and as a path of names.
 *
 * Properties: a name that parses formats back to exactly itself, and its
 * part encodes; a path that parses into a key turns back into exactly
 * the same path (the grammar is a bijection, kvfs-spec §1); a name that
 * parses is never in the shortened form, and its display form is itself
 * when it fits in NAME_MAX.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "name.h"

static void check_name(const char *name, size_t len)
{
	struct kv_buf storage = {0}, again = {0}, display = {0}, enc = {0};
	struct kv_part part;
	int r = kvfs_name_parse(name, len, &part, &storage);
	FUZZ_REQUIRE(r == 0 || r == -EINVAL, "kvfs_name_parse: %d", r);
	if (r == 0) {
		FUZZ_REQUIRE(kvfs_name_format(&part, &again) == 0,
			     "kvfs_name_format failed");
		FUZZ_REQUIRE(again.len == len &&
			     memcmp(again.data, name, len) == 0,
			     "format(parse(name)) is '%.*s'", (int)again.len,
			     (const char *)again.data);
		FUZZ_REQUIRE(!kvfs_name_is_short(name, len),
			     "a parsed name is in the shortened form");
		FUZZ_REQUIRE(kv_part_encode(&part, &enc) == 0,
			     "a parsed part does not encode");
		FUZZ_REQUIRE(kvfs_name_display(&part, &display) == 0,
			     "kvfs_name_display failed");
		if (len <= KVFS_NAME_MAX)
			FUZZ_REQUIRE(display.len == len &&
				     memcmp(display.data, name, len) == 0,
				     "a short name displays as '%s'",
				     (const char *)display.data);
	}
	kv_buf_free(&storage);
	kv_buf_free(&again);
	kv_buf_free(&display);
	kv_buf_free(&enc);
}

static void check_path(const char *path, size_t len)
{
	struct kv_buf key = {0}, back = {0};
	int r = kvfs_path_to_key(path, len, &key);
	FUZZ_REQUIRE(r == 0 || r == -EINVAL, "kvfs_path_to_key: %d", r);
	if (r == 0) {
		r = kvfs_key_to_path(key.data, key.len, &back);
		FUZZ_REQUIRE(r == 0, "kvfs_key_to_path of a parsed path: %d",
			     r);
		FUZZ_REQUIRE(back.len == len &&
			     memcmp(back.data, path, len) == 0,
			     "path(key(path)) is '%s'",
			     (const char *)back.data);
	}
	kv_buf_free(&key);
	kv_buf_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_name((const char *)data, size);
	check_path((const char *)data, size);
	return 0;
}
