/*
 * test_v8.c — the V8 value codec (kv_v8_decode, kv_v8_encode) and
 * kv_value_equal, against the vectors the real Deno wrote
 * (denokv/value_vectors.tsv), hand-made malformed data and random mutations.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_value.h"
#include "support.h"

/* ---- vectors ---------------------------------------------------------- */

static struct value_vector *vectors;
static size_t n_vectors;

static bool is_v8(const struct value_vector *v)
{
	return v->encoding == KV_ENC_V8;
}

static const struct value_vector *vector(const char *desc)
{
	for (size_t i = 0; i < n_vectors; i++)
		if (strcmp(vectors[i].description, desc) == 0)
			return &vectors[i];
	ck_abort_msg("no vector '%s'", desc);
	return NULL;
}

/* ---- helpers ---------------------------------------------------------- */

static struct kv_arena *arena;

static void arena_setup(void)
{
	n_vectors = value_vectors_read(&vectors, true);
	arena = kv_arena_new();
	ck_assert_ptr_nonnull(arena);
}

static void arena_teardown(void)
{
	kv_arena_free(arena);
	value_vectors_free(vectors, n_vectors);
	vectors = NULL;
	n_vectors = 0;
}

static struct kv_value *decode_vector(const char *desc, bool *lossless)
{
	const struct value_vector *v = vector(desc);
	struct kv_value *out = NULL;
	ck_assert_int_eq(kv_v8_decode(v->bytes, v->len, arena, &out, lossless),
			 0);
	return out;
}

static int decode_hex(const char *hex, struct kv_value **out, bool *lossless)
{
	size_t n;
	uint8_t *b = unhex(hex, &n);
	int r = kv_v8_decode(b, n, arena, out, lossless);
	free(b);
	return r;
}

static struct kv_value *decode_hex_ok(const char *hex)
{
	struct kv_value *v = NULL;
	ck_assert_msg(decode_hex(hex, &v, NULL) == 0, "decode %s", hex);
	return v;
}

static void assert_decode_fails(const char *hex, int err)
{
	struct kv_value *v;
	int r = decode_hex(hex, &v, NULL);
	ck_assert_msg(r == err, "decode %s gave %d, not %d", hex, r, err);
}

static void assert_string(const struct kv_value *v, const char *s)
{
	ck_assert_int_eq(v->type, KV_STRING);
	ck_assert_uint_eq(v->str_len, strlen(s));
	ck_assert_mem_eq(v->str, s, strlen(s));
	ck_assert_int_eq(v->str[v->str_len], 0);
}

static void assert_int(const struct kv_value *v, int32_t i)
{
	ck_assert_int_eq(v->type, KV_INT32);
	ck_assert_int_eq(v->i32, i);
}

/* Encode v; the caller frees the buffer. */
static struct kv_buf encode_ok(const struct kv_value *v)
{
	struct kv_buf b = {0};
	ck_assert_int_eq(kv_v8_encode(v, &b), 0);
	return b;
}

static void assert_encodes_to(const struct kv_value *v, const char *hex)
{
	size_t n;
	uint8_t *want = unhex(hex, &n);
	struct kv_buf b = encode_ok(v);
	ck_assert_uint_eq(b.len, n);
	ck_assert_mem_eq(b.data, want, n);
	free(want);
	kv_buf_free(&b);
}

static void assert_encode_fails(const struct kv_value *v)
{
	struct kv_buf b = {0};
	ck_assert_int_eq(kv_v8_encode(v, &b), -EINVAL);
	ck_assert_uint_eq(b.len, 0);
	kv_buf_free(&b);
}

static struct kv_value *node(enum kv_type type)
{
	struct kv_value *v = kv_arena_alloc(arena, sizeof(*v));
	ck_assert_ptr_nonnull(v);
	v->type = type;
	return v;
}

static struct kv_value *int_node(int32_t i)
{
	struct kv_value *v = node(KV_INT32);
	v->i32 = i;
	return v;
}

static struct kv_value *double_node(double x)
{
	struct kv_value *v = node(KV_DOUBLE);
	v->num = x;
	return v;
}

static struct kv_value *string_node(const char *s)
{
	struct kv_value *v = node(KV_STRING);
	v->str = kv_arena_dup(arena, s, strlen(s));
	v->str_len = strlen(s);
	return v;
}

static struct kv_value *ref_node(uint32_t id)
{
	struct kv_value *v = node(KV_REF);
	v->ref_id = id;
	return v;
}

/* An object of n props from keys[i], values[i]. */
static struct kv_value *object_node(size_t n, struct kv_value **keys,
				    struct kv_value **values)
{
	struct kv_value *v = node(KV_OBJECT);
	v->props = kv_arena_alloc(arena, n * sizeof(*v->props));
	for (size_t i = 0; i < n; i++)
		v->props[i] = (struct kv_prop){ keys[i], values[i] };
	v->n_props = n;
	return v;
}

static struct kv_value *array_node(size_t n, struct kv_value **items)
{
	struct kv_value *v = node(KV_ARRAY);
	v->items = kv_arena_alloc(arena, n * sizeof(*v->items));
	if (n)
		memcpy(v->items, items, n * sizeof(*items));
	v->n_items = n;
	v->length = (uint32_t)n;
	return v;
}

/* Decode, encode, decode again: the same value, the same bytes. */
static void assert_round_trip(const uint8_t *bytes, size_t len,
			      const char *what)
{
	struct kv_value *v, *w;
	bool lossless, lossless2;
	struct kv_buf b, b2;
	ck_assert_msg(kv_v8_decode(bytes, len, arena, &v, &lossless) == 0,
		      "%s does not decode", what);
	b = encode_ok(v);
	ck_assert_msg(kv_v8_decode(b.data, b.len, arena, &w, &lossless2) == 0,
		      "%s: re-encoding does not decode", what);
	ck_assert_msg(kv_value_equal(v, w), "%s changed in a round trip",
		      what);
	ck_assert(lossless == lossless2);
	b2 = encode_ok(w);
	ck_assert_uint_eq(b.len, b2.len);
	ck_assert_mem_eq(b.data, b2.data, b.len);
	kv_buf_free(&b);
	kv_buf_free(&b2);
}

/* ---- the vectors ------------------------------------------------------ */

START_TEST(vectors_decode_consuming_everything)
{
	size_t n = 0;
	for (size_t i = 0; i < n_vectors; i++) {
		struct kv_value *v;
		if (!is_v8(&vectors[i]))
			continue;
		/* Exactly len bytes: a decoder that stopped early would
		 * leave trailing bytes, which is an error. */
		ck_assert_msg(kv_v8_decode(vectors[i].bytes, vectors[i].len,
					   arena, &v, NULL) == 0,
			      "%s", vectors[i].description);
		n++;
	}
	ck_assert_uint_ge(n, 100);
}
END_TEST

START_TEST(vectors_reencode_to_an_equal_value)
{
	for (size_t i = 0; i < n_vectors; i++)
		if (is_v8(&vectors[i]))
			assert_round_trip(vectors[i].bytes, vectors[i].len,
					  vectors[i].description);
}
END_TEST

/*
 * Every value Deno 2.9.6 wrote (header FF 10) re-encodes to the very same
 * bytes but for the version byte: no row is excluded. (The double held in
 * a Smi-shaped field stays 'I' because V8 wrote 'I'; the 2 of [1.5,2] stays
 * 'N' because it decodes as a double; holey arrays decode as the sparse
 * arrays V8 wrote; V8's bigints are already padded to 8 bytes.)
 */
START_TEST(vectors_v16_reencode_byte_identical)
{
	size_t n = 0;
	for (size_t i = 0; i < n_vectors; i++) {
		const struct value_vector *vec = &vectors[i];
		struct kv_value *v;
		struct kv_buf b;
		if (!is_v8(vec) || vec->len < 2 || vec->bytes[1] != 0x10)
			continue;
		ck_assert_int_eq(kv_v8_decode(vec->bytes, vec->len, arena, &v,
					      NULL), 0);
		b = encode_ok(v);
		ck_assert_msg(b.len == vec->len, "%s: length", vec->description);
		ck_assert_uint_eq(b.data[0], 0xFF);
		ck_assert_uint_eq(b.data[1], 0x0F);
		ck_assert_msg(memcmp(b.data + 2, vec->bytes + 2, b.len - 2) == 0,
			      "%s: bytes differ", vec->description);
		kv_buf_free(&b);
		n++;
	}
	ck_assert_uint_ge(n, 100);
}
END_TEST

/* The sum rows are written by denokv in format 15: doubles as V8 does. */
START_TEST(sum_doubles_reencode_byte_identical)
{
	const char *rows[] = {
		"mutate sum Number 1.5 on absent key (stored by sum_v8)",
		"mutate sum Number: 7 + 1 (result written as double)",
	};
	for (size_t i = 0; i < 2; i++) {
		const struct value_vector *vec = vector(rows[i]);
		struct kv_value *v = decode_vector(rows[i], NULL);
		struct kv_buf b = encode_ok(v);
		ck_assert_int_eq(v->type, KV_DOUBLE);
		ck_assert_uint_eq(b.len, vec->len);
		ck_assert_mem_eq(b.data, vec->bytes, b.len);
		kv_buf_free(&b);
	}
}
END_TEST

/* denokv writes minimal bigint digits; V8 (and so we) pad to 8 bytes. */
START_TEST(sum_minimal_bigints_reencode_padded)
{
	struct kv_value *v =
		decode_vector("mutate sum BigInt: 2n + (-4n) (minimal-length "
			      "digits)", NULL);
	ck_assert_int_eq(v->type, KV_BIGINT);
	ck_assert(v->bigint.negative);
	ck_assert_uint_eq(v->bigint.len, 1);
	ck_assert_uint_eq(v->bigint.mag[0], 2);
	assert_encodes_to(v, "ff0f 5a 11 0200000000000000");

	v = decode_vector("mutate sum BigInt: 2n**64n + 1n", NULL);
	assert_encodes_to(v, "ff0f 5a 20 0100000000000000 0100000000000000");
}
END_TEST

/* ---- what the vectors decode to --------------------------------------- */

START_TEST(decode_ascii_and_latin1_strings)
{
	assert_string(decode_vector("string ascii", NULL), "hello");
	assert_string(decode_vector("string empty", NULL), "");
	assert_string(decode_vector("string latin1 é (one-byte)", NULL),
		      "\xc3\xa9");
	assert_string(decode_vector("string latin1 ÿ", NULL), "\xc3\xbf");
	ck_assert_uint_eq(decode_vector("string with NUL", NULL)->str_len, 3);
}
END_TEST

START_TEST(decode_two_byte_strings_to_wtf8)
{
	assert_string(decode_vector("string two-byte 日本", NULL),
		      "\xe6\x97\xa5\xe6\x9c\xac");
	assert_string(decode_vector("string two-byte emoji (surrogate pair)",
				    NULL),
		      "\xf0\x9f\x98\x80");
	assert_string(decode_vector("lone surrogate string", NULL),
		      "\xed\xa0\x80");
	ck_assert_uint_eq(decode_vector("two-byte string 64 chars (length "
					"varint 2 bytes -> padding at top "
					"level)",
					NULL)->str_len,
			  64 * 3);
}
END_TEST

START_TEST(decode_numbers_keep_smi_and_double)
{
	struct kv_value *v;
	assert_int(decode_vector("int32 -65", NULL), -65);
	assert_int(decode_vector("2^31-1", NULL), 2147483647);
	assert_int(decode_vector("Smi min -2^30", NULL), -1073741824);
	v = decode_vector("2^32", NULL);
	ck_assert_int_eq(v->type, KV_DOUBLE);
	ck_assert(v->num == 4294967296.0);
	v = decode_vector("double -0", NULL);
	ck_assert_int_eq(v->type, KV_DOUBLE);
	ck_assert(v->num == 0 && signbit(v->num));
	ck_assert(isnan(decode_vector("double NaN", NULL)->num));
	v = decode_vector("double-elements array with integral value [1.5,2]",
			  NULL);
	ck_assert_int_eq(v->items[1]->type, KV_DOUBLE);
}
END_TEST

START_TEST(decode_bigints_to_big_endian_magnitudes)
{
	struct kv_value *v = decode_vector("bigint 0n", NULL);
	ck_assert_int_eq(v->type, KV_BIGINT);
	ck_assert_uint_eq(v->bigint.len, 0);
	ck_assert(!v->bigint.negative);
	v = decode_vector("bigint -(2^64)", NULL);
	ck_assert(v->bigint.negative);
	ck_assert_uint_eq(v->bigint.len, 9);
	ck_assert_mem_eq(v->bigint.mag, "\x01\0\0\0\0\0\0\0\0", 9);
	v = decode_vector("bigint 2^64-1", NULL);
	ck_assert_uint_eq(v->bigint.len, 8);
	ck_assert_mem_eq(v->bigint.mag, "\xff\xff\xff\xff\xff\xff\xff\xff", 8);
}
END_TEST

START_TEST(decode_object_props_in_order)
{
	struct kv_value *v = decode_vector("object {a:1,b:'x'}", NULL);
	ck_assert_int_eq(v->type, KV_OBJECT);
	ck_assert_uint_eq(v->n_props, 2);
	assert_string(v->props[0].key, "a");
	assert_int(v->props[0].value, 1);
	assert_string(v->props[1].key, "b");
	assert_string(v->props[1].value, "x");
}
END_TEST

START_TEST(decode_integer_keys_as_numbers)
{
	struct kv_value *v =
		decode_vector("object with integer-like keys", NULL);
	ck_assert_uint_eq(v->n_props, 3);
	assert_int(v->props[0].key, 0);
	assert_string(v->props[0].value, "z");
	assert_int(v->props[1].key, 1);
	assert_string(v->props[2].key, "b");
	v = decode_vector("object key '1.5' (non-index numeric string)", NULL);
	assert_string(v->props[0].key, "1.5");
}
END_TEST

START_TEST(decode_nested_containers)
{
	struct kv_value *v = decode_vector("object nested", NULL);
	struct kv_value *b = v->props[0].value;
	ck_assert_int_eq(b->type, KV_OBJECT);
	ck_assert_int_eq(b->props[0].value->type, KV_ARRAY);
	ck_assert_uint_eq(b->props[0].value->length, 1);
	assert_int(b->props[0].value->items[0], 1);

	v = decode_vector("KvU64 nested in object (becomes plain object)",
			  NULL);
	b = v->props[0].value->props[0].value;
	ck_assert_int_eq(b->type, KV_BIGINT);
	ck_assert_uint_eq(b->bigint.len, 1);
	ck_assert_uint_eq(b->bigint.mag[0], 5);
}
END_TEST

START_TEST(decode_arrays_dense_and_sparse)
{
	struct kv_value *v = decode_vector("array with extra property", NULL);
	ck_assert_int_eq(v->type, KV_ARRAY);
	ck_assert_uint_eq(v->n_items, 2);
	ck_assert_uint_eq(v->n_props, 1);
	assert_string(v->props[0].key, "foo");

	v = decode_vector("large sparse array a[1000]=1", NULL);
	ck_assert_int_eq(v->type, KV_SPARSE_ARRAY);
	ck_assert_uint_eq(v->length, 1001);
	ck_assert_uint_eq(v->n_props, 1);
	assert_int(v->props[0].key, 1000);
	assert_int(v->props[0].value, 1);

	v = decode_vector("array holey [1,,3] (sparse encoding)", NULL);
	ck_assert_uint_eq(v->length, 3);
	ck_assert_uint_eq(v->n_props, 2);
	assert_int(v->props[1].key, 2);

	v = decode_vector("array containing undefined", NULL);
	ck_assert_int_eq(v->props[0].value->type, KV_UNDEFINED);
}
END_TEST

START_TEST(decode_map_and_set_in_order)
{
	struct kv_value *v = decode_vector("Map 2 entries", NULL);
	ck_assert_int_eq(v->type, KV_MAP);
	ck_assert_uint_eq(v->n_items, 4);
	assert_string(v->items[0], "a");
	assert_int(v->items[1], 1);
	assert_int(v->items[2], 2);
	assert_string(v->items[3], "b");
	v = decode_vector("Set 2 items", NULL);
	ck_assert_int_eq(v->type, KV_SET);
	ck_assert_uint_eq(v->n_items, 2);
	ck_assert_uint_eq(decode_vector("Map empty", NULL)->n_items, 0);
}
END_TEST

START_TEST(decode_dates_and_regexps)
{
	struct kv_value *v = decode_vector("Date 2023-11-14", NULL);
	ck_assert_int_eq(v->type, KV_DATE);
	ck_assert(v->num == 1700000000000.0);
	ck_assert(isnan(decode_vector("Date invalid", NULL)->num));

	v = decode_vector("RegExp /a+b/gi", NULL);
	ck_assert_int_eq(v->type, KV_REGEXP);
	ck_assert_str_eq(v->str, "a+b");
	ck_assert_uint_eq(v->flags, KV_RE_GLOBAL | KV_RE_IGNORE_CASE);
	v = decode_vector("RegExp all flags dgimsy", NULL);
	ck_assert_uint_eq(v->flags, KV_RE_HAS_INDICES | KV_RE_GLOBAL |
					    KV_RE_IGNORE_CASE |
					    KV_RE_MULTILINE | KV_RE_DOT_ALL |
					    KV_RE_STICKY);
	ck_assert_uint_eq(decode_vector("RegExp unicodeSets /[a]/v", NULL)->flags,
			  KV_RE_UNICODE_SETS);
}
END_TEST

START_TEST(decode_buffers_and_typed_arrays)
{
	struct kv_value *v = decode_vector("Float64Array", NULL);
	ck_assert_int_eq(v->type, KV_VIEW);
	ck_assert_int_eq(v->view_kind, KV_VIEW_FLOAT64);
	ck_assert_uint_eq(v->byte_offset, 0);
	ck_assert_uint_eq(v->view_len, 8);
	ck_assert_int_eq(v->buffer->type, KV_ARRAY_BUFFER);
	ck_assert_uint_eq(v->buffer->byte_len, 8);
	ck_assert_mem_eq(v->buffer->bytes, "\0\0\0\0\0\0\xf8\x3f", 8);

	v = decode_vector("Uint8Array nested subarray (offset 1)", NULL);
	v = v->items[0];
	ck_assert_int_eq(v->view_kind, KV_VIEW_UINT8);
	ck_assert_uint_eq(v->byte_offset, 1);
	ck_assert_uint_eq(v->view_len, 2);

	v = decode_vector("DataView with offset", NULL);
	ck_assert_int_eq(v->view_kind, KV_VIEW_DATAVIEW);

	v = decode_vector("Resizable ArrayBuffer len 2 max 8", NULL);
	ck_assert_int_eq(v->type, KV_ARRAY_BUFFER);
	ck_assert(v->resizable);
	ck_assert_uint_eq(v->byte_len, 2);
	ck_assert_uint_eq(v->max_byte_len, 8);

	v = decode_vector("nested length-tracking view on resizable buffer",
			  NULL);
	ck_assert_uint_eq(v->items[0]->view_flags, 3);
	ck_assert(v->items[0]->buffer->resizable);
}
END_TEST

START_TEST(decode_shared_buffer_as_reference)
{
	bool lossless = true;
	struct kv_value *v = decode_vector("two views sharing one buffer "
					   "(buffer back-ref)",
					   &lossless);
	ck_assert(!lossless);
	ck_assert_uint_eq(v->n_items, 2);
	ck_assert_int_eq(v->items[0]->buffer->type, KV_ARRAY_BUFFER);
	/* ids: the array 0, the buffer 1, the first view 2 */
	ck_assert_int_eq(v->items[1]->type, KV_VIEW);
	ck_assert_int_eq(v->items[1]->buffer->type, KV_REF);
	ck_assert_uint_eq(v->items[1]->buffer->ref_id, 1);

	v = decode_vector("self-cycle", &lossless);
	ck_assert(!lossless);
	ck_assert_int_eq(v->props[0].value->type, KV_REF);
	ck_assert_uint_eq(v->props[0].value->ref_id, 0);

	v = decode_vector("same object twice (back-reference)", &lossless);
	ck_assert_uint_eq(v->items[1]->ref_id, 1);
	decode_vector("object nested", &lossless);
	ck_assert(lossless);
}
END_TEST

START_TEST(decode_errors)
{
	struct kv_value *v = decode_vector("TypeError (stack removed)", NULL);
	ck_assert_int_eq(v->type, KV_ERROR);
	ck_assert_int_eq(v->error_proto, KV_ERROR_TYPE);
	assert_string(v->message, "t");
	ck_assert_ptr_null(v->stack);
	ck_assert_ptr_null(v->cause);

	v = decode_vector("RangeError with cause (stack removed)", NULL);
	ck_assert_int_eq(v->error_proto, KV_ERROR_RANGE);
	assert_int(v->cause, 1);

	v = decode_vector("Error with short fake stack", NULL);
	ck_assert_int_eq(v->error_proto, KV_ERROR_PLAIN);
	assert_string(v->stack, "S");

	v = decode_vector("Error with real stack (stack text is "
			  "environment-specific)",
			  NULL);
	ck_assert_uint_eq(v->stack->str_len, 0x138);
}
END_TEST

START_TEST(decode_boxed_primitives)
{
	struct kv_value *v = decode_vector("boxed Number", NULL);
	ck_assert_int_eq(v->type, KV_BOXED);
	ck_assert_int_eq(v->inner->type, KV_DOUBLE);
	ck_assert(v->inner->num == 1.5);
	assert_string(decode_vector("boxed String", NULL)->inner, "s");
	ck_assert(!decode_vector("boxed Boolean false", NULL)->inner->boolean);
	ck_assert_int_eq(decode_vector("boxed BigInt", NULL)->inner->type,
			 KV_BIGINT);
}
END_TEST

/* DOMException as Deno writes it: \ FFFFFFFF then {type, message, …}. */
START_TEST(decode_host_object)
{
	bool lossless = true;
	struct kv_value *v;
	ck_assert_int_eq(decode_hex("ff10 5c ffffffff0f 6f 2204 74797065"
				    "220c 444f4d457863657074696f6e"
				    "2207 6d657373616765 2201 78 7b02",
				    &v, &lossless),
			 0);
	ck_assert(!lossless);
	ck_assert_int_eq(v->type, KV_HOST_OBJECT);
	ck_assert_int_eq(v->inner->type, KV_OBJECT);
	assert_string(v->inner->props[0].value, "DOMException");
}
END_TEST

START_TEST(decode_utf8_string_tag_validated)
{
	assert_string(decode_hex_ok("ff0f 53 02 c3a9"), "\xc3\xa9");
	assert_string(decode_hex_ok("ff0f 53 03 eda080"), "\xed\xa0\x80");
	assert_decode_fails("ff0f 53 02 c328", -EINVAL);
	assert_decode_fails("ff0f 53 02 c080", -EINVAL);
	assert_decode_fails("ff0f 53 04 f4908080", -EINVAL);
	/* a surrogate pair in two 3-byte halves (CESU-8) */
	assert_decode_fails("ff0f 53 06 eda0bdedb880", -EINVAL);
	assert_decode_fails("ff0f 53 02 e282", -EINVAL);
}
END_TEST

START_TEST(decode_other_accepted_forms)
{
	struct kv_value *v;
	/* 'U' uint32, padding before tags, '?' verify-count, 'C' buffer */
	assert_int(decode_hex_ok("ff0f 55 05"), 5);
	ck_assert(decode_hex_ok("ff0f 55 ffffffff0f")->num == 4294967295.0);
	assert_int(decode_hex_ok("ff0f 00 00 49 02"), 1);
	assert_int(decode_hex_ok("ff0f 3f 03 49 02"), 1);
	v = decode_hex_ok("ff10 43 02 0102");
	ck_assert_int_eq(v->type, KV_ARRAY_BUFFER);
	ck_assert(!v->resizable);
	/* a hole in a dense array, and an index prop on a hole */
	v = decode_hex_ok("ff0f 41 02 2d 49 02 49 00 5f 24 01 02");
	ck_assert_int_eq(v->items[0]->type, KV_HOLE);
	ck_assert_uint_eq(v->n_props, 1);
	/* a huge sparse length allocates nothing */
	v = decode_hex_ok("ff0f 61 ffffffff0f 40 00 ffffffff0f");
	ck_assert_uint_eq(v->length, 4294967295u);
	/* format 16: 64-bit buffer lengths */
	v = decode_hex_ok("ff10 42 8280808000 0102");
	ck_assert_uint_eq(v->byte_len, 2);
}
END_TEST

START_TEST(decode_format13_views_with_and_without_flags)
{
	struct kv_value *v = decode_hex_ok("ff0d 42 02 0102 56 42 00 02");
	ck_assert_int_eq(v->type, KV_VIEW);
	ck_assert_uint_eq(v->view_len, 2);
	v = decode_hex_ok("ff0d 42 02 0102 56 42 00 02 00");
	ck_assert_int_eq(v->type, KV_VIEW);
	v = decode_hex_ok("ff0e 42 02 0102 56 42 00 02 00");
	ck_assert_int_eq(v->type, KV_VIEW);
	assert_decode_fails("ff0e 42 02 0102 56 42 00 02", -EINVAL);
}
END_TEST

/* ---- malformed data --------------------------------------------------- */

/* The only prefixes that decode are buffers cut just before their 'V'. */
START_TEST(truncations_fail)
{
	for (size_t i = 0; i < n_vectors; i++) {
		const struct value_vector *vec = &vectors[i];
		if (!is_v8(vec))
			continue;
		for (size_t n = 0; n < vec->len; n++) {
			uint8_t *b = malloc(n ? n : 1);
			struct kv_value *v;
			int r;
			memcpy(b, vec->bytes, n);
			r = kv_v8_decode(b, n, arena, &v, NULL);
			free(b);
			if (r == 0) {
				ck_assert_msg(vec->bytes[n] == 'V' &&
						      v->type ==
							      KV_ARRAY_BUFFER,
					      "%s: prefix of %zu decodes",
					      vec->description, n);
				continue;
			}
			ck_assert_msg(r == -EINVAL, "%s: prefix %zu gave %d",
				      vec->description, n, r);
		}
	}
}
END_TEST

START_TEST(unknown_tags_einval)
{
	const char *tags = "KbMGLgHkdfeilm#+/.{}$@:,-VWXYE";
	char hex[64];
	for (const char *t = tags; *t; t++) {
		snprintf(hex, sizeof(hex), "ff0f %02x 00", (unsigned)*t);
		assert_decode_fails(hex, -EINVAL);
	}
	assert_decode_fails("ff0f 01", -EINVAL);
	assert_decode_fails("ff0f fe 00", -EINVAL);
	assert_decode_fails("ff0f ff 0f 5f", -EINVAL);
}
END_TEST

START_TEST(transfer_and_shared_tags_einval)
{
	assert_decode_fails("ff0f 74 00", -EINVAL);	     /* t */
	assert_decode_fails("ff0f 75 00", -EINVAL);	     /* u */
	assert_decode_fails("ff0f 77 00", -EINVAL);	     /* w */
	assert_decode_fails("ff0f 6d 00 00 42 00", -EINVAL); /* m */
	assert_decode_fails("ff0f 70 00", -EINVAL);	     /* p */
}
END_TEST

START_TEST(header_version_outside_13_to_16_enotsup)
{
	assert_decode_fails("ff11 5f", -ENOTSUP);
	assert_decode_fails("ff0c 5f", -ENOTSUP);
	assert_decode_fails("ff00 5f", -ENOTSUP);
	assert_decode_fails("ff 8001 5f", -ENOTSUP);
	decode_hex_ok("ff0d 5f");
	decode_hex_ok("ff0e 5f");
	decode_hex_ok("ff10 5f");
}
END_TEST

START_TEST(missing_header_einval)
{
	assert_decode_fails("", -EINVAL);
	assert_decode_fails("5f", -EINVAL);
	assert_decode_fails("0f5f", -EINVAL);
	assert_decode_fails("ff", -EINVAL);
	assert_decode_fails("ff80", -EINVAL);
	assert_decode_fails("ff0f", -EINVAL);
}
END_TEST

START_TEST(huge_claimed_lengths_einval)
{
	assert_decode_fails("ff0f 22 ffffffff0f 6161", -EINVAL);
	assert_decode_fails("ff0f 63 feffffff0f 6100", -EINVAL);
	assert_decode_fails("ff0f 53 ffffffff0f 61", -EINVAL);
	assert_decode_fails("ff0f 42 ffffffff0f 00", -EINVAL);
	assert_decode_fails("ff0f 7e ffffffff0f ffffffff0f 00", -EINVAL);
	assert_decode_fails("ff0f 41 ffffffff0f 5f", -EINVAL);
	assert_decode_fails("ff0f 41 03 5f 5f", -EINVAL);
	assert_decode_fails("ff0f 5a feffffff07 00", -EINVAL);
	/* beyond 32 bits in format 15, beyond 64 bits anywhere */
	assert_decode_fails("ff0f 22 8080808010 61", -EINVAL);
	assert_decode_fails("ff10 42 ffffffffffffffffff01 00", -EINVAL);
	assert_decode_fails("ff10 42 8080808080808080808001 00", -EINVAL);
	assert_decode_fails("ff10 42 80808080808080808002 00", -EINVAL);
}
END_TEST

static void append(char *s, size_t *n, const char *part)
{
	memcpy(s + *n, part, strlen(part) + 1);
	*n += strlen(part);
}

/* depth arrays, one inside the other, around undefined. */
static char *nested_arrays(size_t depth)
{
	char *hex = malloc(depth * 10 + 16);
	size_t n = 0;
	ck_assert_ptr_nonnull(hex);
	append(hex, &n, "ff0f");
	for (size_t i = 0; i < depth; i++)
		append(hex, &n, "4101");
	append(hex, &n, "5f");
	for (size_t i = 0; i < depth; i++)
		append(hex, &n, "240001");
	return hex;
}

START_TEST(nesting_beyond_limit_einval)
{
	char *hex = nested_arrays(KV_V8_MAX_DEPTH);
	struct kv_value *v;
	ck_assert_int_eq(decode_hex(hex, &v, NULL), 0);
	free(hex);
	hex = nested_arrays(KV_V8_MAX_DEPTH + 1);
	assert_decode_fails(hex, -EINVAL);
	free(hex);
}
END_TEST

START_TEST(reference_to_unassigned_id_einval)
{
	decode_hex_ok("ff0f 41 01 5e 00 24 00 01");
	assert_decode_fails("ff0f 41 01 5e 01 24 00 01", -EINVAL);
	assert_decode_fails("ff0f 5e 00", -EINVAL);
	/* a host object has its id only once its value is read */
	assert_decode_fails("ff0f 5c ffffffff0f 5e 00", -EINVAL);
}
END_TEST

START_TEST(view_not_after_buffer_einval)
{
	assert_decode_fails("ff0f 56 42 00 00 00", -EINVAL);
	assert_decode_fails("ff0f 6f 7b 00 56 42 00 00 00", -EINVAL);
	assert_decode_fails("ff0f 41 02 6f 7b 00 5e 01 56 42 00 00 00 24 00 02",
			    -EINVAL);
	assert_decode_fails("ff0f 41 02 5f 56 42 00 00 00 24 00 02", -EINVAL);
}
END_TEST

START_TEST(view_outside_buffer_or_misaligned_einval)
{
	decode_hex_ok("ff0f 42 02 0102 56 42 01 01 00");
	assert_decode_fails("ff0f 42 02 0102 56 42 01 02 00", -EINVAL);
	assert_decode_fails("ff0f 42 02 0102 56 42 03 00 00", -EINVAL);
	assert_decode_fails("ff0f 42 10 00000000000000000000000000000000"
			    "56 46 04 08 00",
			    -EINVAL);
	assert_decode_fails("ff0f 42 08 0000000000000000 56 46 00 04 00",
			    -EINVAL);
	assert_decode_fails("ff0f 42 02 0000 56 5a 00 02 00", -EINVAL);
	/* flags must match the buffer: resizable exactly when backed by rab */
	assert_decode_fails("ff0f 42 02 0000 56 42 00 02 02", -EINVAL);
	assert_decode_fails("ff0f 42 02 0000 56 42 00 00 01", -EINVAL);
	assert_decode_fails("ff0f 7e 02 04 0000 56 42 00 02 00", -EINVAL);
	assert_decode_fails("ff0f 7e 02 04 0000 56 42 00 02 06", -EINVAL);
	assert_decode_fails("ff0f 7e 04 02 00000000", -EINVAL);
}
END_TEST

START_TEST(end_counts_must_match)
{
	decode_hex_ok("ff0f 6f 2201 61 4902 7b01");
	assert_decode_fails("ff0f 6f 2201 61 4902 7b02", -EINVAL);
	assert_decode_fails("ff0f 6f 2201 61 4902 7b00", -EINVAL);
	assert_decode_fails("ff0f 41 01 4902 24 00 02", -EINVAL);
	assert_decode_fails("ff0f 41 01 4902 24 01 01", -EINVAL);
	assert_decode_fails("ff0f 61 02 40 00 03", -EINVAL);
	assert_decode_fails("ff0f 61 02 40 01 02", -EINVAL);
	assert_decode_fails("ff0f 3b 4902 4904 3a 01", -EINVAL);
	assert_decode_fails("ff0f 3b 4902 3a 01", -EINVAL);
	assert_decode_fails("ff0f 27 4902 2c 02", -EINVAL);
}
END_TEST

START_TEST(trailing_bytes_einval)
{
	assert_decode_fails("ff0f 5f 5f", -EINVAL);
	assert_decode_fails("ff0f 5f 00", -EINVAL);
	assert_decode_fails("ff0f 42 01 00 00", -EINVAL);
}
END_TEST

START_TEST(odd_two_byte_string_einval)
{
	assert_decode_fails("ff0f 63 01 41", -EINVAL);
	assert_decode_fails("ff0f 63 03 410042", -EINVAL);
	assert_string(decode_hex_ok("ff0f 63 04 4100 4200"), "AB");
}
END_TEST

START_TEST(property_names_checked_as_v8_does)
{
	/* twice the same name, also as string and number */
	assert_decode_fails("ff0f 6f 2201 61 4902 2201 61 4904 7b02", -EINVAL);
	assert_decode_fails("ff0f 6f 4902 5f 2201 31 5f 7b02", -EINVAL);
	/* keys that are neither strings nor numbers */
	assert_decode_fails("ff0f 6f 5f 5f 7b01", -EINVAL);
	assert_decode_fails("ff0f 6f 6f 7b00 5f 7b01", -EINVAL);
	/* arrays: no "length", no index past the length or on an element */
	assert_decode_fails("ff0f 41 00 2206 6c656e677468 4902 24 01 00",
			    -EINVAL);
	assert_decode_fails("ff0f 61 01 4902 5f 40 01 01", -EINVAL);
	assert_decode_fails("ff0f 41 01 5f 4900 5f 24 01 01", -EINVAL);
	/* V8's order: indices first and ascending */
	assert_decode_fails("ff0f 6f 2201 61 5f 4900 5f 7b02", -EINVAL);
	assert_decode_fails("ff0f 6f 4902 5f 4900 5f 7b02", -EINVAL);
	decode_hex_ok("ff0f 6f 4900 5f 2201 31 5f 2201 61 5f 7b03");
}
END_TEST

START_TEST(hole_outside_dense_array_einval)
{
	assert_decode_fails("ff0f 2d", -EINVAL);
	assert_decode_fails("ff0f 6f 2201 61 2d 7b01", -EINVAL);
	assert_decode_fails("ff0f 61 01 4900 2d 40 01 01", -EINVAL);
}
END_TEST

START_TEST(bad_regexp_error_and_host_forms_einval)
{
	assert_decode_fails("ff0f 52 2201 61 8004", -EINVAL);
	assert_decode_fails("ff0f 52 2201 61 9002", -EINVAL);
	assert_decode_fails("ff0f 52 4902 00", -EINVAL);
	/* error sub-tags out of V8's order, unknown, or twice */
	assert_decode_fails("ff0f 72 73 220153 6d 22016d 2e", -EINVAL);
	assert_decode_fails("ff0f 72 6d 22016d 6d 22016d 2e", -EINVAL);
	assert_decode_fails("ff0f 72 54 54 2e", -EINVAL);
	assert_decode_fails("ff0f 72 58 2e", -EINVAL);
	assert_decode_fails("ff0f 72 6d 4902 2e", -EINVAL);
	/* a host object whose tag is not Deno's cloneable one */
	assert_decode_fails("ff0f 5c 00 5f", -EINVAL);
	assert_decode_fails("ff0f 73 4902", -EINVAL);
}
END_TEST

/* ---- the encoder ------------------------------------------------------ */

START_TEST(encode_index_keys_first_as_numbers)
{
	struct kv_value *keys[] = {
		string_node("b"),	   string_node("1"),
		string_node("0"),	   string_node("01"),
		string_node("4294967295"), double_node(4294967294.0),
	};
	struct kv_value *values[] = {
		int_node(1), int_node(2), int_node(3),
		int_node(4), int_node(5), int_node(6),
	};
	assert_encodes_to(object_node(6, keys, values),
			  "ff0f 6f 4900 4906 4902 4904"
			  "4e 0000c0ffffffef41 490c"
			  "2201 62 4902 2202 3031 4908"
			  "220a 34323934393637323935 490a 7b06");
}
END_TEST

START_TEST(encode_non_index_number_keys_as_strings)
{
	struct kv_value *keys[] = { double_node(1.5), int_node(-1),
				    double_node(-0.0) };
	struct kv_value *values[] = { int_node(1), int_node(2), int_node(3) };
	assert_encodes_to(object_node(3, keys, values),
			  "ff0f 6f 4900 4906 2203 312e35 4902 2202 2d31 4904"
			  "7b03");
}
END_TEST

START_TEST(encode_duplicate_names_einval)
{
	struct kv_value *keys[] = { string_node("1"), int_node(1) };
	struct kv_value *values[] = { int_node(1), int_node(2) };
	assert_encode_fails(object_node(2, keys, values));
}
END_TEST

/* Padding keeps UTF-16 at an even offset from the header, wherever it is. */
START_TEST(encode_padding_counts_from_the_header)
{
	struct kv_value *s = string_node("\xe6\x97\xa5"); /* 日 */
	struct kv_value *items[] = { string_node("a"), s };
	struct kv_buf alone = {0}, after = {0};
	ck_assert_int_eq(kv_v8_encode(s, &alone), 0);
	ck_assert_int_eq(kv_buf_append(&after, "xyz", 3), 0);
	ck_assert_int_eq(kv_v8_encode(s, &after), 0);
	ck_assert_uint_eq(after.len, 3 + alone.len);
	ck_assert_mem_eq(after.data + 3, alone.data, alone.len);
	/* FF 0F, then 'c' 02 at offsets 2 and 3: the payload is at 4 */
	ck_assert_uint_eq(alone.len, 6);
	kv_buf_free(&alone);
	kv_buf_free(&after);
	assert_encodes_to(string_node("a\xe6\x97\xa5"), "ff0f 63 04 6100e565");
	/* the payload would be at 9: one byte of padding */
	assert_encodes_to(array_node(2, items),
			  "ff0f 41 02 2201 61 00 63 02 e565 24 00 02");
	assert_encodes_to(string_node("\xf0\x9f\x98\x80"),
			  "ff0f 63 04 3dd800de");
	assert_encodes_to(string_node("\xed\xa0\x80"), "ff0f 63 02 00d8");
	assert_encodes_to(string_node("\xc3\xa9"), "ff0f 22 01 e9");
}
END_TEST

START_TEST(encode_invalid_wtf8_einval)
{
	assert_encode_fails(string_node("\xc3\x28"));
	assert_encode_fails(string_node("\xed\xa0\xbd\xed\xb8\x80"));
}
END_TEST

START_TEST(encode_number_and_bigint_forms)
{
	struct kv_value *big = node(KV_BIGINT);
	assert_encodes_to(int_node(-65), "ff0f 49 8101");
	assert_encodes_to(int_node(INT32_MIN), "ff0f 49 ffffffff0f");
	assert_encodes_to(double_node(2), "ff0f 4e 0000000000000040");
	assert_encodes_to(big, "ff0f 5a 00");
	big->bigint.negative = true; /* -0n is 0n */
	assert_encodes_to(big, "ff0f 5a 00");
	big->bigint.mag = (const uint8_t *)"\x01\x02\x03\x04\x05\x06\x07\x08\x09";
	big->bigint.len = 9;
	assert_encodes_to(big, "ff0f 5a 21 0908070605040302 0100000000000000");
}
END_TEST

/* Sizes past 32 bits exist only in format 16, so such a value is written so. */
START_TEST(encode_wide_buffer_sizes_in_format16)
{
	struct kv_value *v = decode_hex_ok("ff10 7e 02 8080808020 0102");
	ck_assert_uint_eq(v->max_byte_len, (size_t)1 << 33);
	assert_encodes_to(v, "ff10 7e 02 8080808020 0102");
	assert_decode_fails("ff0f 7e 02 8080808020 0102", -EINVAL);
	v->max_byte_len = 8;
	assert_encodes_to(v, "ff0f 7e 02 08 0102");
}
END_TEST

START_TEST(encode_boxed_number_as_double)
{
	struct kv_value *v = node(KV_BOXED);
	v->inner = int_node(2);
	assert_encodes_to(v, "ff0f 6e 0000000000000040");
	v->inner = node(KV_NULL);
	assert_encode_fails(v);
}
END_TEST

START_TEST(encode_reference_to_unassigned_id_einval)
{
	struct kv_value *items[] = { ref_node(0) };
	assert_encode_fails(ref_node(0));
	assert_encodes_to(array_node(1, items), "ff0f 41 01 5e 00 24 00 01");
	items[0] = ref_node(1);
	assert_encode_fails(array_node(1, items));
}
END_TEST

START_TEST(encode_view_needs_a_buffer)
{
	struct kv_value *view = node(KV_VIEW), *items[2];
	view->view_kind = KV_VIEW_UINT8;
	assert_encode_fails(view);
	view->buffer = int_node(1);
	assert_encode_fails(view);
	/* a reference to something other than a buffer */
	items[0] = array_node(0, NULL);
	items[1] = view;
	view->buffer = ref_node(1);
	assert_encode_fails(array_node(2, items));
	/* a window outside the buffer */
	view->buffer = node(KV_ARRAY_BUFFER);
	view->view_len = 1;
	assert_encode_fails(view);
	view->buffer->bytes = (const uint8_t *)"\x07";
	view->buffer->byte_len = 1;
	assert_encodes_to(view, "ff0f 42 01 07 56 42 00 01 00");
}
END_TEST

START_TEST(encode_hole_outside_dense_array_einval)
{
	struct kv_value *set = node(KV_SET);
	struct kv_value *items[] = { node(KV_HOLE) };
	assert_encode_fails(node(KV_HOLE));
	set->items = items;
	set->n_items = 1;
	assert_encode_fails(set);
	assert_encodes_to(array_node(1, items), "ff0f 41 01 2d 24 00 01");
}
END_TEST

START_TEST(encode_failure_leaves_out_unchanged)
{
	struct kv_value *items[] = { string_node("ok"), node(KV_HOLE) };
	struct kv_value *map = node(KV_MAP);
	struct kv_buf b = {0};
	map->items = items;
	map->n_items = 2;
	ck_assert_int_eq(kv_buf_append(&b, "abc", 3), 0);
	ck_assert_int_eq(kv_v8_encode(map, &b), -EINVAL);
	ck_assert_uint_eq(b.len, 3);
	map->n_items = 1; /* a Map of an odd number of items */
	ck_assert_int_eq(kv_v8_encode(map, &b), -EINVAL);
	ck_assert_uint_eq(b.len, 3);
	kv_buf_free(&b);
}
END_TEST

START_TEST(encode_nesting_beyond_limit_einval)
{
	struct kv_value *v = node(KV_NULL);
	struct kv_buf b = {0};
	for (int i = 0; i < KV_V8_MAX_DEPTH; i++)
		v = array_node(1, &v);
	ck_assert_int_eq(kv_v8_encode(v, &b), 0);
	kv_buf_free(&b);
	v = array_node(1, &v);
	assert_encode_fails(v);
}
END_TEST

START_TEST(encode_error_in_v8_order)
{
	struct kv_value *e = node(KV_ERROR);
	e->error_proto = KV_ERROR_SYNTAX;
	e->cause = ref_node(0);
	e->stack = string_node("S");
	e->message = string_node("m");
	assert_encodes_to(e, "ff0f 72 53 6d 22016d 73 220153 63 5e00 2e");
	e->message = int_node(1);
	assert_encode_fails(e);
}
END_TEST

/* ---- object ids past the 16th ------------------------------------------ */

/*
 * The encoder keeps the first 16 object ids on the stack and moves them to
 * the heap for the 17th. These values are an array (id 0) of 40 objects
 * {i: k} (ids 1 to 40) with back-references among them, written before,
 * at and after the move, to ids from both sides of it.
 */
enum { MANY_OBJECTS = 40 };

struct ref_at {
	int after; /* written right after object k */
	uint32_t id;
};

static const struct ref_at many_refs[] = {
	{ 3, 1 },  { 14, 15 }, { 15, 16 }, { 15, 0 },
	{ 20, 7 }, { 20, 21 }, { 39, 40 }, { 39, 17 },
};

#define N_MANY_REFS (sizeof(many_refs) / sizeof(many_refs[0]))

static struct kv_value *counted_object(int k)
{
	struct kv_value *key = string_node("i"), *value = int_node(k);
	return object_node(1, &key, &value);
}

/* The array of MANY_OBJECTS objects and n refs, each where refs[] says. */
static struct kv_value *many_objects(const struct ref_at *refs, size_t n)
{
	struct kv_value *items[MANY_OBJECTS + N_MANY_REFS + 1];
	size_t len = 0, r = 0;
	ck_assert_uint_le(n, N_MANY_REFS + 1);
	for (int k = 0; k < MANY_OBJECTS; k++) {
		items[len++] = counted_object(k);
		for (; r < n && refs[r].after == k; r++)
			items[len++] = ref_node(refs[r].id);
	}
	ck_assert_uint_eq(r, n);
	return array_node(len, items);
}

/* Bytes laid out by hand, as V8 writes them. */
struct hand_bytes {
	uint8_t b[512];
	size_t len;
};

static void hand_put(struct hand_bytes *w, uint8_t byte)
{
	ck_assert_uint_lt(w->len, sizeof(w->b));
	w->b[w->len++] = byte;
}

static void hand_varint(struct hand_bytes *w, uint32_t v)
{
	for (; v >= 0x80; v >>= 7)
		hand_put(w, (uint8_t)(v | 0x80));
	hand_put(w, (uint8_t)v);
}

static void hand_bytes_of(struct hand_bytes *w, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		hand_put(w, (uint8_t)s[i]);
}

/* counted_object(k): a one-byte key "i", a Smi (zigzag), one property. */
static void hand_counted_object(struct hand_bytes *w, int k)
{
	hand_bytes_of(w, "o\"\001iI", 5);
	hand_varint(w, 2 * (uint32_t)k);
	hand_bytes_of(w, "{\001", 2);
}

/*
 * many_objects(many_refs) as V8 serializes it: a dense array of the
 * objects, each back-reference '^' and the id.
 */
static void many_objects_bytes(struct hand_bytes *w)
{
	uint32_t len = MANY_OBJECTS + N_MANY_REFS;
	size_t r = 0;
	hand_bytes_of(w, "\xff\x0f" "A", 3);
	hand_varint(w, len);
	for (int k = 0; k < MANY_OBJECTS; k++) {
		hand_counted_object(w, k);
		for (; r < N_MANY_REFS && many_refs[r].after == k; r++) {
			hand_put(w, '^');
			hand_varint(w, many_refs[r].id);
		}
	}
	hand_bytes_of(w, "$\000", 2);
	hand_varint(w, len);
}

START_TEST(encode_past_16_objects_byte_identical_to_v8)
{
	struct hand_bytes want = { .len = 0 };
	many_objects_bytes(&want);
	struct kv_buf b = encode_ok(many_objects(many_refs, N_MANY_REFS));
	ck_assert_uint_eq(b.len, want.len);
	ck_assert_mem_eq(b.data, want.b, want.len);
	kv_buf_free(&b);
}
END_TEST

START_TEST(encode_past_16_objects_reads_back_with_its_reference_ids)
{
	struct kv_value *v = many_objects(many_refs, N_MANY_REFS), *back;
	struct kv_buf b = encode_ok(v);
	bool lossless = true;
	ck_assert_int_eq(kv_v8_decode(b.data, b.len, arena, &back, &lossless),
			 0);
	kv_buf_free(&b);
	ck_assert(!lossless);
	ck_assert(kv_value_equal(back, v));
	ck_assert_int_eq(back->type, KV_ARRAY);
	ck_assert_uint_eq(back->n_items, MANY_OBJECTS + N_MANY_REFS);
	for (size_t i = 0, r = 0, k = 0; i < back->n_items; i++) {
		const struct kv_value *item = back->items[i];
		if (item->type == KV_OBJECT) {
			assert_int(item->props[0].value, (int32_t)k++);
			continue;
		}
		ck_assert_int_eq(item->type, KV_REF);
		ck_assert_uint_lt(r, N_MANY_REFS);
		ck_assert_int_eq(many_refs[r].after, (int)k - 1);
		ck_assert_uint_eq(item->ref_id, many_refs[r++].id);
	}
}
END_TEST

static struct kv_value *uint8_view(struct kv_value *buffer, size_t offset,
				   size_t len)
{
	struct kv_value *v = node(KV_VIEW);
	v->view_kind = KV_VIEW_UINT8;
	v->buffer = buffer;
	v->byte_offset = offset;
	v->view_len = len;
	return v;
}

/*
 * A view written after the move over a buffer given its id before it: the
 * encoder finds the buffer by that id to check the view's window. The
 * array (id 0) holds a Uint8Array over 4 bytes (buffer 1, view 2), 20
 * objects (ids 3 to 22) and a Uint8Array over bytes 1 and 2 of buffer 1.
 */
START_TEST(encode_past_16_objects_view_over_a_buffer_from_before)
{
	enum { N = 20 };
	struct kv_value *items[N + 2], *buffer = node(KV_ARRAY_BUFFER);
	struct hand_bytes want = { .len = 0 };
	buffer->bytes = (const uint8_t *)"\x0a\x0b\x0c\x0d";
	buffer->byte_len = 4;
	items[0] = uint8_view(buffer, 0, 4);
	items[N + 1] = uint8_view(ref_node(1), 1, 2);
	hand_bytes_of(&want, "\xff\x0f" "A", 3);
	hand_varint(&want, N + 2);
	hand_bytes_of(&want, "B\004\x0a\x0b\x0c\x0d" "VB\000\004\000", 11);
	for (int k = 0; k < N; k++) {
		items[1 + k] = counted_object(k);
		hand_counted_object(&want, k);
	}
	hand_bytes_of(&want, "^\001" "VB\001\002\000" "$\000", 9);
	hand_varint(&want, N + 2);
	struct kv_buf b = encode_ok(array_node(N + 2, items));
	ck_assert_uint_eq(b.len, want.len);
	ck_assert_mem_eq(b.data, want.b, want.len);
	kv_buf_free(&b);
}
END_TEST

/*
 * many_objects with one more reference, right after object k, to an id
 * that no object has yet: refused, and b as it was.
 */
static void assert_bad_ref_leaves_out_unchanged(int k, uint32_t id)
{
	struct ref_at refs[N_MANY_REFS + 1];
	size_t n = 0;
	struct kv_buf b = { 0 };
	for (size_t r = 0; r < N_MANY_REFS; r++) {
		if (n == r && many_refs[r].after > k)
			refs[n++] = (struct ref_at){ k, id };
		refs[n++] = many_refs[r];
	}
	if (n == N_MANY_REFS)
		refs[n++] = (struct ref_at){ k, id };
	ck_assert_int_eq(kv_buf_append(&b, "abc", 3), 0);
	ck_assert_int_eq(kv_v8_encode(many_objects(refs, n), &b), -EINVAL);
	ck_assert_uint_eq(b.len, 3);
	ck_assert_mem_eq(b.data, "abc", 3);
	kv_buf_free(&b);
}

START_TEST(encode_past_16_objects_reference_to_no_object_einval)
{
	assert_bad_ref_leaves_out_unchanged(3, 5);
	assert_bad_ref_leaves_out_unchanged(14, 16);
	assert_bad_ref_leaves_out_unchanged(15, 17);
	assert_bad_ref_leaves_out_unchanged(20, 22);
	assert_bad_ref_leaves_out_unchanged(39, 41);
	assert_bad_ref_leaves_out_unchanged(39, UINT32_MAX);
}
END_TEST

/* ---- equality --------------------------------------------------------- */

START_TEST(equal_numbers_as_deno_sees_them)
{
	ck_assert(kv_value_equal(int_node(2), double_node(2.0)));
	ck_assert(!kv_value_equal(int_node(2), double_node(2.5)));
	ck_assert(kv_value_equal(double_node(NAN), double_node(NAN)));
	ck_assert(!kv_value_equal(double_node(-0.0), double_node(0.0)));
	ck_assert(!kv_value_equal(double_node(-0.0), int_node(0)));
	ck_assert(!kv_value_equal(int_node(1), string_node("1")));
}
END_TEST

START_TEST(equal_objects_by_property_names)
{
	struct kv_value *k1[] = { string_node("a"), string_node("1") };
	struct kv_value *v1[] = { int_node(1), int_node(2) };
	struct kv_value *k2[] = { int_node(1), string_node("a") };
	struct kv_value *v2[] = { int_node(2), double_node(1) };
	struct kv_value *v3[] = { int_node(2), int_node(3) };
	struct kv_value *a = object_node(2, k1, v1);
	ck_assert(kv_value_equal(a, object_node(2, k2, v2)));
	ck_assert(!kv_value_equal(a, object_node(2, k2, v3)));
	ck_assert(!kv_value_equal(a, object_node(1, k1, v1)));
}
END_TEST

START_TEST(equal_holey_dense_and_sparse_arrays)
{
	struct kv_value *dense = decode_hex_ok("ff0f 41 03 4902 2d 4906 24 00 03");
	struct kv_value *sparse = decode_vector("array holey [1,,3] "
						"(sparse encoding)",
						NULL);
	ck_assert(kv_value_equal(dense, sparse));
	ck_assert(kv_value_equal(sparse, dense));
	ck_assert(!kv_value_equal(dense, decode_hex_ok("ff0f 61 04 4900 4902 "
						       "4904 4906 40 02 04")));
	ck_assert(!kv_value_equal(dense, decode_hex_ok("ff0f 41 03 4902 5f "
						       "4906 24 00 03")));
}
END_TEST

START_TEST(equal_maps_and_sets_in_order)
{
	struct kv_value *m = decode_vector("Map 2 entries", NULL);
	ck_assert(kv_value_equal(m, decode_hex_ok("ff0f 3b 220161 4902 4904 "
						  "220162 3a 04")));
	ck_assert(!kv_value_equal(m, decode_hex_ok("ff0f 3b 4904 220162 "
						   "220161 4902 3a 04")));
	ck_assert(!kv_value_equal(decode_vector("Set 2 items", NULL),
				  decode_hex_ok("ff0f 27 220161 4902 2c 02")));
}
END_TEST

START_TEST(equal_tells_vectors_apart)
{
	for (size_t i = 0; i < n_vectors; i++) {
		struct kv_value *a;
		if (!is_v8(&vectors[i]))
			continue;
		a = decode_vector(vectors[i].description, NULL);
		ck_assert(kv_value_equal(a, a));
		for (size_t j = i + 1; j < n_vectors; j++) {
			struct kv_value *b;
			if (!is_v8(&vectors[j]))
				continue;
			b = decode_vector(vectors[j].description, NULL);
			/* Rows that stand for the same value in JS. */
			if (kv_value_equal(a, b))
				ck_assert_msg(vectors[i].len == vectors[j].len &&
						      memcmp(vectors[i].bytes + 2,
							     vectors[j].bytes + 2,
							     vectors[i].len - 2) ==
							      0,
					      "'%s' equals '%s'",
					      vectors[i].description,
					      vectors[j].description);
		}
	}
}
END_TEST

/* ---- random mutations ------------------------------------------------- */

/*
 * xorshift64, not support.h's splitmix64: the mutations checked since this
 * suite began stay the same ones.
 */
static uint64_t xorshift_state;

static uint64_t xorshift(void)
{
	xorshift_state ^= xorshift_state << 13;
	xorshift_state ^= xorshift_state >> 7;
	xorshift_state ^= xorshift_state << 17;
	return xorshift_state;
}

static void mutate(uint8_t *b, size_t *len, size_t cap)
{
	static const char tags[] = "_0TFIUNZSc\"^oaADyxnzsR;'B~CVr\\?-{$@:,.mt";
	int ops = 1 + (int)(xorshift() % 3);
	for (int i = 0; i < ops; i++) {
		size_t at = *len ? xorshift() % *len : 0;
		switch (xorshift() % 5) {
		case 0:
			if (*len)
				b[at] ^= (uint8_t)(1u << (xorshift() % 8));
			break;
		case 1:
			if (*len)
				b[at] = (uint8_t)xorshift();
			break;
		case 2:
			if (*len)
				b[at] = (uint8_t)tags[xorshift() % (sizeof(tags) - 1)];
			break;
		case 3:
			if (*len < cap) {
				memmove(b + at + 1, b + at, *len - at);
				b[at] = xorshift() % 2 ? (uint8_t)xorshift() :
						    (uint8_t)tags[xorshift() %
								  (sizeof(tags) - 1)];
				(*len)++;
			}
			break;
		default:
			if (*len) {
				memmove(b + at, b + at + 1, *len - at - 1);
				(*len)--;
			}
		}
	}
}

START_TEST(mutations_never_crash_and_decoded_values_round_trip)
{
	size_t decoded = 0;
	xorshift_state = 0x9E3779B97F4A7C15u;
	for (int iter = 0; iter < 30000; iter++) {
		const struct value_vector *vec = &vectors[xorshift() % n_vectors];
		size_t len = vec->len, cap = vec->len + 8;
		uint8_t *b, *exact;
		struct kv_value *v;
		if (!is_v8(vec))
			continue;
		b = malloc(cap);
		memcpy(b, vec->bytes, len);
		mutate(b, &len, cap);
		exact = malloc(len ? len : 1);
		memcpy(exact, b, len);
		free(b);
		if (kv_v8_decode(exact, len, arena, &v, NULL) == 0) {
			assert_round_trip(exact, len, vec->description);
			decoded++;
		}
		free(exact);
		if (iter % 1000 == 999) {
			kv_arena_free(arena);
			arena = kv_arena_new();
		}
	}
	ck_assert_uint_gt(decoded, 100);
}
END_TEST

static Suite *v8_suite(void)
{
	Suite *s = suite_create("v8");
	TCase *tc = tcase_create("v8");
	tcase_add_checked_fixture(tc, arena_setup, arena_teardown);
	tcase_set_timeout(tc, 100);
	tcase_add_test(tc, vectors_decode_consuming_everything);
	tcase_add_test(tc, vectors_reencode_to_an_equal_value);
	tcase_add_test(tc, vectors_v16_reencode_byte_identical);
	tcase_add_test(tc, sum_doubles_reencode_byte_identical);
	tcase_add_test(tc, sum_minimal_bigints_reencode_padded);
	tcase_add_test(tc, decode_ascii_and_latin1_strings);
	tcase_add_test(tc, decode_two_byte_strings_to_wtf8);
	tcase_add_test(tc, decode_numbers_keep_smi_and_double);
	tcase_add_test(tc, decode_bigints_to_big_endian_magnitudes);
	tcase_add_test(tc, decode_object_props_in_order);
	tcase_add_test(tc, decode_integer_keys_as_numbers);
	tcase_add_test(tc, decode_nested_containers);
	tcase_add_test(tc, decode_arrays_dense_and_sparse);
	tcase_add_test(tc, decode_map_and_set_in_order);
	tcase_add_test(tc, decode_dates_and_regexps);
	tcase_add_test(tc, decode_buffers_and_typed_arrays);
	tcase_add_test(tc, decode_shared_buffer_as_reference);
	tcase_add_test(tc, decode_errors);
	tcase_add_test(tc, decode_boxed_primitives);
	tcase_add_test(tc, decode_host_object);
	tcase_add_test(tc, decode_utf8_string_tag_validated);
	tcase_add_test(tc, decode_other_accepted_forms);
	tcase_add_test(tc, decode_format13_views_with_and_without_flags);
	tcase_add_test(tc, truncations_fail);
	tcase_add_test(tc, unknown_tags_einval);
	tcase_add_test(tc, transfer_and_shared_tags_einval);
	tcase_add_test(tc, header_version_outside_13_to_16_enotsup);
	tcase_add_test(tc, missing_header_einval);
	tcase_add_test(tc, huge_claimed_lengths_einval);
	tcase_add_test(tc, nesting_beyond_limit_einval);
	tcase_add_test(tc, reference_to_unassigned_id_einval);
	tcase_add_test(tc, view_not_after_buffer_einval);
	tcase_add_test(tc, view_outside_buffer_or_misaligned_einval);
	tcase_add_test(tc, end_counts_must_match);
	tcase_add_test(tc, trailing_bytes_einval);
	tcase_add_test(tc, odd_two_byte_string_einval);
	tcase_add_test(tc, property_names_checked_as_v8_does);
	tcase_add_test(tc, hole_outside_dense_array_einval);
	tcase_add_test(tc, bad_regexp_error_and_host_forms_einval);
	tcase_add_test(tc, encode_index_keys_first_as_numbers);
	tcase_add_test(tc, encode_non_index_number_keys_as_strings);
	tcase_add_test(tc, encode_duplicate_names_einval);
	tcase_add_test(tc, encode_padding_counts_from_the_header);
	tcase_add_test(tc, encode_invalid_wtf8_einval);
	tcase_add_test(tc, encode_number_and_bigint_forms);
	tcase_add_test(tc, encode_wide_buffer_sizes_in_format16);
	tcase_add_test(tc, encode_boxed_number_as_double);
	tcase_add_test(tc, encode_reference_to_unassigned_id_einval);
	tcase_add_test(tc, encode_view_needs_a_buffer);
	tcase_add_test(tc, encode_hole_outside_dense_array_einval);
	tcase_add_test(tc, encode_failure_leaves_out_unchanged);
	tcase_add_test(tc, encode_nesting_beyond_limit_einval);
	tcase_add_test(tc, encode_error_in_v8_order);
	tcase_add_test(tc, encode_past_16_objects_byte_identical_to_v8);
	tcase_add_test(tc,
		       encode_past_16_objects_reads_back_with_its_reference_ids);
	tcase_add_test(tc,
		       encode_past_16_objects_view_over_a_buffer_from_before);
	tcase_add_test(tc, encode_past_16_objects_reference_to_no_object_einval);
	tcase_add_test(tc, equal_numbers_as_deno_sees_them);
	tcase_add_test(tc, equal_objects_by_property_names);
	tcase_add_test(tc, equal_holey_dense_and_sparse_arrays);
	tcase_add_test(tc, equal_maps_and_sets_in_order);
	tcase_add_test(tc, equal_tells_vectors_apart);
	tcase_add_test(tc, mutations_never_crash_and_decoded_values_round_trip);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(v8_suite());
}
