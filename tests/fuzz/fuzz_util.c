/*
 * fuzz_util.c — helpers shared by the fuzz targets (fuzz.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

void fuzz_fail(const char *file, int line, const char *cond, const char *fmt,
	       ...)
{
	va_list ap;
	fprintf(stderr, "%s:%d: property broken: %s: ", file, line, cond);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

static bool bigint_equal(const struct kv_bigint *a, const struct kv_bigint *b)
{
	return a->negative == b->negative && a->len == b->len &&
	       (a->len == 0 || memcmp(a->mag, b->mag, a->len) == 0);
}

bool fuzz_part_equal(const struct kv_part *a, const struct kv_part *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case KV_PART_BYTES:
	case KV_PART_STRING:
		return a->len == b->len &&
		       (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
	case KV_PART_BIGINT:
		return bigint_equal(&a->bigint, &b->bigint);
	case KV_PART_NUMBER:
		return memcmp(&a->num, &b->num, sizeof(a->num)) == 0;
	case KV_PART_FALSE:
	case KV_PART_TRUE:
		return true;
	}
	return false;
}

int fuzz_v8_round_trip(const struct kv_value *v, struct kv_buf *out)
{
	out->len = 0;
	int r = kv_v8_encode(v, out);
	if (r < 0)
		return r;
	struct kv_arena *arena = kv_arena_new();
	FUZZ_REQUIRE(arena, "out of memory");
	struct kv_value *back = NULL;
	r = kv_v8_decode(out->data, out->len, arena, &back, NULL);
	FUZZ_REQUIRE(r == 0, "the encoder's output does not decode: %d", r);
	FUZZ_REQUIRE(kv_value_equal(v, back),
		     "decode(encode(v)) differs from v");
	kv_arena_free(arena);
	return 0;
}

static const uint8_t seal_store_id[KV_SEAL_STORE_ID_LEN] = "kvfs-fuzz-store";
static const uint8_t seal_row_key[] = {0x02, 'f', 'u', 'z', 'z', 0x00};

const struct seal_owner fuzz_seal_owner = {seal_store_id, seal_row_key,
					   sizeof(seal_row_key)};

void fuzz_seal_value_key(uint8_t key[SEAL_KEY_LEN])
{
	static const uint8_t data_key[SEAL_KEY_LEN] = "kvfs fuzz data key, not secret";
	seal_value_key(1, data_key, key);
}
