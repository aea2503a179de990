/*
 * test_json.c — the JSON mapping of V8 values (docs/json.md) and the file
 * rendering of stored values: every value the real Deno wrote
 * (denokv/value_vectors.tsv) must come back equal through render, parse,
 * encode and decode; each row of the mapping's table has its exact text;
 * and every class of bad input is refused.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_value.h"
#include "support.h"

/* ---------------------------------------------------------------- vectors */

static struct value_vector *vectors;
static size_t n_vectors;

static void vectors_setup(void)
{
	n_vectors = value_vectors_read(&vectors, false);
	ck_assert_uint_gt(n_vectors, 100);
}

static void vectors_teardown(void)
{
	value_vectors_free(vectors, n_vectors);
	vectors = NULL;
	n_vectors = 0;
}

static const struct value_vector *vector_named(const char *description)
{
	for (size_t i = 0; i < n_vectors; i++)
		if (strcmp(vectors[i].description, description) == 0)
			return &vectors[i];
	ck_abort_msg("no vector \"%s\"", description);
	return NULL;
}

/* ------------------------------------------------------- arena and trees */

static struct kv_arena *arena;

static void arena_setup(void)
{
	arena = kv_arena_new();
	ck_assert_ptr_nonnull(arena);
}

static void arena_teardown(void)
{
	kv_arena_free(arena);
	arena = NULL;
}

static void both_setup(void)
{
	arena_setup();
	vectors_setup();
}

static void both_teardown(void)
{
	vectors_teardown();
	arena_teardown();
}

static struct kv_value *mk(enum kv_type type)
{
	struct kv_value *v = kv_arena_alloc(arena, sizeof(*v));
	ck_assert_ptr_nonnull(v);
	v->type = type;
	return v;
}

static struct kv_value *mk_string_len(const char *s, size_t len)
{
	struct kv_value *v = mk(KV_STRING);
	v->str = kv_arena_dup(arena, s, len);
	v->str_len = len;
	return v;
}

static struct kv_value *mk_string(const char *s)
{
	return mk_string_len(s, strlen(s));
}

static struct kv_value *mk_int(int32_t i)
{
	struct kv_value *v = mk(KV_INT32);
	v->i32 = i;
	return v;
}

static struct kv_value *mk_double(double d)
{
	struct kv_value *v = mk(KV_DOUBLE);
	v->num = d;
	return v;
}

static struct kv_value *mk_date(double t)
{
	struct kv_value *v = mk(KV_DATE);
	v->num = t;
	return v;
}

static struct kv_value *mk_items(enum kv_type type, size_t n,
				 struct kv_value **items)
{
	struct kv_value *v = mk(type);
	v->items = kv_arena_alloc(arena, n * sizeof(*items));
	memcpy(v->items, items, n * sizeof(*items));
	v->n_items = n;
	v->length = (uint32_t)n;
	return v;
}

/* An object with one property. */
static struct kv_value *mk_object1(struct kv_value *key, struct kv_value *value)
{
	struct kv_value *v = mk(KV_OBJECT);
	v->props = kv_arena_alloc(arena, sizeof(*v->props));
	v->props[0] = (struct kv_prop){key, value};
	v->n_props = 1;
	return v;
}

/* ------------------------------------------------------------ operations */

/* The rendering as a NUL-ended string in the arena. */
static const char *render(const struct kv_value *v)
{
	struct kv_buf b = {0};
	ck_assert_int_eq(kv_json_render(v, &b), 0);
	const char *text = kv_arena_dup(arena, b.data, b.len);
	kv_buf_free(&b);
	return text;
}

static struct kv_value *parse(const char *text)
{
	struct kv_value *v = NULL;
	int r = kv_json_parse(text, strlen(text), arena, &v);
	ck_assert_msg(r == 0, "parse of %s: %d", text, r);
	return v;
}

static int parse_result(const char *text, size_t len)
{
	struct kv_value *v;
	return kv_json_parse(text, len, arena, &v);
}

static struct kv_value *decode(const uint8_t *bytes, size_t len, bool *lossless)
{
	struct kv_value *v = NULL;
	int r = kv_v8_decode(bytes, len, arena, &v, lossless);
	ck_assert_msg(r == 0, "decode: %d", r);
	return v;
}

static struct kv_value *decode_vector(const char *description)
{
	const struct value_vector *vec = vector_named(description);
	ck_assert_int_eq(vec->encoding, KV_ENC_V8);
	return decode(vec->bytes, vec->len, NULL);
}

/* Encodes v and decodes the bytes again: what Deno would read back. */
static struct kv_value *reread(const struct kv_value *v)
{
	struct kv_buf b = {0};
	ck_assert_int_eq(kv_v8_encode(v, &b), 0);
	bool lossless;
	struct kv_value *again = decode(b.data, b.len, &lossless);
	kv_buf_free(&b);
	ck_assert(lossless);
	return again;
}

/*
 * v renders as expected, and expected parses to a value that Deno reads
 * back equal to v and that renders as expected again.
 */
static void assert_renders(const struct kv_value *v, const char *expected)
{
	const char *text = render(v);
	ck_assert_str_eq(text, expected);
	struct kv_value *parsed = parse(expected);
	ck_assert_msg(kv_value_equal(reread(parsed), v),
		      "%s does not read back equal", expected);
	ck_assert_str_eq(render(parsed), expected);
}

static void assert_vector_renders(const char *description,
				  const char *expected)
{
	assert_renders(decode_vector(description), expected);
}

static void assert_rejected(const char *text)
{
	int r = parse_result(text, strlen(text));
	ck_assert_msg(r == -EINVAL, "%s: got %d, expected -EINVAL", text, r);
}

/* ------------------------------------------------- the key property */

START_TEST(vectors_v8_render_parse_encode_decode_equal)
{
	size_t checked = 0;
	for (size_t i = 0; i < n_vectors; i++) {
		const struct value_vector *vec = &vectors[i];
		bool lossless;
		if (vec->encoding != KV_ENC_V8)
			continue;
		struct kv_value *v = decode(vec->bytes, vec->len, &lossless);
		if (!lossless)
			continue;
		const char *text = render(v);
		ck_assert_msg(!strchr(text, '\n'), "%s: not one line",
			      vec->description);
		struct kv_value *parsed = NULL;
		int r = kv_json_parse(text, strlen(text), arena, &parsed);
		ck_assert_msg(r == 0, "%s: %s does not parse (%d)",
			      vec->description, text, r);
		ck_assert_msg(kv_value_equal(reread(parsed), v),
			      "%s: %s reads back different", vec->description,
			      text);
		checked++;
	}
	ck_assert_uint_ge(checked, 100);
}
END_TEST

START_TEST(vectors_v8_rendering_is_a_fixed_point)
{
	for (size_t i = 0; i < n_vectors; i++) {
		bool lossless;
		if (vectors[i].encoding != KV_ENC_V8)
			continue;
		struct kv_value *v =
			decode(vectors[i].bytes, vectors[i].len, &lossless);
		if (!lossless)
			continue;
		const char *text = render(v);
		ck_assert_msg(strcmp(render(parse(text)), text) == 0,
			      "%s: %s renders differently after a parse",
			      vectors[i].description, text);
	}
}
END_TEST

START_TEST(vectors_v8_files_write_back_equal)
{
	for (size_t i = 0; i < n_vectors; i++) {
		const struct value_vector *vec = &vectors[i];
		struct kv_buf file = {0}, stored = {0};
		bool writable, lossless;
		if (vec->encoding != KV_ENC_V8)
			continue;
		struct kv_value *v = decode(vec->bytes, vec->len, &lossless);
		ck_assert_int_eq(kv_value_render(KV_ENC_V8, vec->bytes, vec->len,
						 &file, &writable),
				 0);
		ck_assert_msg(writable == lossless, "%s", vec->description);
		ck_assert(file.len > 0 && file.data[file.len - 1] == '\n');
		int r = kv_value_parse(KV_ENC_V8, file.data, file.len, &stored);
		if (writable) {
			ck_assert_msg(r == 0, "%s: %d", vec->description, r);
			ck_assert_msg(kv_value_equal(decode(stored.data,
							    stored.len, NULL),
						     v),
				      "%s", vec->description);
		} else {
			ck_assert_msg(r == -EINVAL, "%s: read-only value parsed",
				      vec->description);
		}
		kv_buf_free(&file);
		kv_buf_free(&stored);
	}
}
END_TEST

START_TEST(vectors_u64_and_bytes_files_write_back_identical)
{
	size_t checked = 0;
	for (size_t i = 0; i < n_vectors; i++) {
		const struct value_vector *vec = &vectors[i];
		struct kv_buf file = {0}, stored = {0};
		bool writable = false;
		if (vec->encoding != KV_ENC_U64 && vec->encoding != KV_ENC_BYTES)
			continue;
		ck_assert_int_eq(kv_value_render(vec->encoding, vec->bytes,
						 vec->len, &file, &writable),
				 0);
		ck_assert(writable);
		if (vec->encoding == KV_ENC_U64) {
			uint64_t n = 0;
			for (size_t k = 8; k-- > 0;)
				n = n << 8 | vec->bytes[k];
			char expected[32];
			snprintf(expected, sizeof(expected), "%llu\n",
				 (unsigned long long)n);
			ck_assert_uint_eq(file.len, strlen(expected));
			ck_assert(memcmp(file.data, expected, file.len) == 0);
		} else {
			ck_assert_uint_eq(file.len, vec->len);
			ck_assert(!vec->len ||
				  memcmp(file.data, vec->bytes, vec->len) == 0);
		}
		ck_assert_int_eq(kv_value_parse(vec->encoding, file.data,
						file.len, &stored),
				 0);
		ck_assert_uint_eq(stored.len, vec->len);
		ck_assert(!vec->len ||
			  memcmp(stored.data, vec->bytes, vec->len) == 0);
		kv_buf_free(&file);
		kv_buf_free(&stored);
		checked++;
	}
	ck_assert_uint_ge(checked, 7);
}
END_TEST

/* One random edit: replace, insert or delete a byte, biased to JSON's. */
static size_t mutate(char *text, size_t len, size_t cap)
{
	static const char alphabet[] = "{}[]\",:$\\0123456789-.eE+ tfnu\x01"
				       "\x7f\x80\xed\xa0";
	char c = rng() % 4 ? alphabet[rng() % (sizeof(alphabet) - 1)]
			   : (char)rng();
	size_t at = len ? rng() % len : 0;
	switch (rng() % 3) {
	case 0:
		if (len)
			text[at] = c;
		return len;
	case 1:
		if (len + 1 >= cap)
			return len;
		memmove(text + at + 1, text + at, len - at);
		text[at] = c;
		return len + 1;
	default:
		if (len)
			memmove(text + at, text + at + 1, len - at - 1);
		return len ? len - 1 : 0;
	}
}

/* Whatever mutated text parses must encode, read back equal and render
 * to a fixed point; whatever does not must fail cleanly. */
START_TEST(vectors_mutated_renderings_parse_safely)
{
	enum { CAP = 1024 };
	char text[CAP];
	size_t parsed = 0;
	rng_seed(42);
	for (int round = 0; round < 20000; round++) {
		const struct value_vector *vec = &vectors[rng() % n_vectors];
		bool lossless;
		if (vec->encoding != KV_ENC_V8)
			continue;
		const char *base = render(decode(vec->bytes, vec->len, &lossless));
		size_t len = strlen(base);
		if (len >= CAP)
			continue;
		memcpy(text, base, len);
		for (int edits = 1 + (int)(rng() % 3); edits > 0; edits--)
			len = mutate(text, len, CAP);
		struct kv_value *v;
		int r = kv_json_parse(text, len, arena, &v);
		ck_assert(r == 0 || r == -EINVAL);
		if (r)
			continue;
		struct kv_buf b = {0};
		r = kv_v8_encode(v, &b);
		kv_buf_free(&b);
		ck_assert_msg(r == 0, "%.*s parses but does not encode: %d",
			      (int)len, text, r);
		const char *again = render(v);
		ck_assert_str_eq(render(parse(again)), again);
		ck_assert(kv_value_equal(reread(v), v));
		parsed++;
	}
	ck_assert_uint_gt(parsed, 1000);
}
END_TEST

/* Decodes V8 bytes, then asserts render → parse reads back equal. */
static void assert_bytes_round_trip(const uint8_t *bytes, size_t len)
{
	struct kv_value *v = decode(bytes, len, NULL);
	const char *text = render(v);
	ck_assert_msg(kv_value_equal(reread(parse(text)), v), "%s", text);
}

/* Two-byte strings of random UTF-16 units, lone surrogates included. */
START_TEST(random_strings_round_trip)
{
	static const uint16_t units[] = {0x0,	 0x1f,	 '"',	 '\\',  'a',
					 0x7f,	 0xe9,	 0x2028, 0xfffd, 0xd800,
					 0xdbff, 0xdc00, 0xdfff, 0xd83d, 0xde00};
	uint8_t bytes[3 + 1 + 2 * 64];
	rng_seed(7);
	for (int round = 0; round < 5000; round++) {
		size_t n = 1 + rng() % 63;
		bytes[0] = 0xff;
		bytes[1] = 0x0f;
		bytes[2] = 'c';
		bytes[3] = (uint8_t)(2 * n);
		for (size_t i = 0; i < n; i++) {
			uint16_t u = rng() % 4 ? units[rng() % 15]
					       : (uint16_t)rng();
			bytes[4 + 2 * i] = (uint8_t)u;
			bytes[5 + 2 * i] = (uint8_t)(u >> 8);
		}
		assert_bytes_round_trip(bytes, 4 + 2 * n);
	}
}
END_TEST

/* Doubles of random bits: every number, NaNs and -0 included. */
START_TEST(random_doubles_round_trip)
{
	uint8_t bytes[11] = {0xff, 0x0f, 'N'};
	rng_seed(9);
	for (int round = 0; round < 4000; round++) {
		uint64_t bits = rng();
		if (round % 4 == 0)
			bits >>= rng() % 64;
		for (size_t i = 0; i < 8; i++)
			bytes[3 + i] = (uint8_t)(bits >> (8 * i));
		assert_bytes_round_trip(bytes, sizeof(bytes));
		bytes[2] = bytes[2] == 'N' ? 'D' : 'N';
	}
}
END_TEST

/* ------------------------------------------- the table of docs/json.md */

START_TEST(render_undefined)
{
	assert_vector_renders("undefined", "{\"$undefined\":true}");
}
END_TEST

START_TEST(render_bigint)
{
	static const uint8_t ten = 10;
	struct kv_value *v = mk(KV_BIGINT);
	v->bigint = (struct kv_bigint){false, &ten, 1};
	assert_renders(v, "{\"$bigint\":\"10\"}");
	assert_vector_renders("bigint -(2^64)",
			      "{\"$bigint\":\"-18446744073709551616\"}");
	assert_vector_renders("bigint 0n", "{\"$bigint\":\"0\"}");
}
END_TEST

START_TEST(render_special_numbers)
{
	assert_renders(mk_double(NAN), "{\"$number\":\"NaN\"}");
	assert_renders(mk_double(INFINITY), "{\"$number\":\"Infinity\"}");
	assert_renders(mk_double(-INFINITY), "{\"$number\":\"-Infinity\"}");
	assert_renders(mk_double(-0.0), "{\"$number\":\"-0\"}");
	assert_vector_renders("double -0", "{\"$number\":\"-0\"}");
}
END_TEST

START_TEST(render_numbers_as_javascript_writes_them)
{
	assert_vector_renders("int32 -65", "-65");
	assert_vector_renders("2^31-1", "2147483647");
	assert_vector_renders("2^32", "4294967296");
	assert_vector_renders("double 0.1", "0.1");
	assert_vector_renders("double 1e300", "1e+300");
	assert_renders(mk_double(5e-324), "5e-324");
	assert_vector_renders("double-elements array with integral value [1.5,2]",
			      "[1.5,2]");
}
END_TEST

START_TEST(render_date_epoch)
{
	assert_vector_renders("Date epoch",
			      "{\"$date\":\"1970-01-01T00:00:00.000Z\"}");
	assert_vector_renders("Date 2023-11-14",
			      "{\"$date\":\"2023-11-14T22:13:20.000Z\"}");
	assert_vector_renders("Date invalid", "{\"$date\":null}");
}
END_TEST

START_TEST(render_date_years_outside_0_to_9999_have_six_digits)
{
	assert_renders(mk_date(8.64e15),
		       "{\"$date\":\"+275760-09-13T00:00:00.000Z\"}");
	assert_renders(mk_date(-8.64e15),
		       "{\"$date\":\"-271821-04-20T00:00:00.000Z\"}");
	assert_renders(mk_date(253402300800000.0),
		       "{\"$date\":\"+010000-01-01T00:00:00.000Z\"}");
	assert_renders(mk_date(253402300799999.0),
		       "{\"$date\":\"9999-12-31T23:59:59.999Z\"}");
	assert_renders(mk_date(-62167219200000.0),
		       "{\"$date\":\"0000-01-01T00:00:00.000Z\"}");
	assert_renders(mk_date(-62198755200000.0),
		       "{\"$date\":\"-000001-01-01T00:00:00.000Z\"}");
	assert_renders(mk_date(-1), "{\"$date\":\"1969-12-31T23:59:59.999Z\"}");
	assert_renders(mk_date(951782400000.0),
		       "{\"$date\":\"2000-02-29T00:00:00.000Z\"}");
}
END_TEST

START_TEST(render_date_time_values_no_date_holds_as_numbers)
{
	assert_renders(mk_date(1.5), "{\"$date\":1.5}");
	assert_renders(mk_date(8.64e15 + 1), "{\"$date\":8640000000000001}");
	assert_renders(mk_date(-0.0), "{\"$date\":{\"$number\":\"-0\"}}");
	assert_renders(mk_date(INFINITY),
		       "{\"$date\":{\"$number\":\"Infinity\"}}");
}
END_TEST

START_TEST(render_regexp)
{
	assert_vector_renders("RegExp /a+b/gi", "{\"$regexp\":\"/a+b/gi\"}");
	assert_vector_renders("RegExp all flags dgimsy",
			      "{\"$regexp\":\"/x/dgimsy\"}");
	assert_vector_renders("RegExp unicodeSets /[a]/v",
			      "{\"$regexp\":\"/[a]/v\"}");
	struct kv_value *v = mk(KV_REGEXP);
	v->str = "a/b\\/";
	v->str_len = strlen(v->str);
	v->flags = 0x1ff & ~KV_RE_UNICODE_SETS;
	assert_renders(v, "{\"$regexp\":\"/a/b\\\\//dgilmsuy\"}");
	v->flags = 0x1ff;
	ck_assert_str_eq(render(v), "{\"$regexp\":\"/a/b\\\\//dgilmsuvy\"}");
}
END_TEST

START_TEST(render_map)
{
	assert_vector_renders("Map 2 entries", "{\"$map\":[[\"a\",1],[2,\"b\"]]}");
	assert_vector_renders("Map empty", "{\"$map\":[]}");
}
END_TEST

START_TEST(render_set)
{
	assert_vector_renders("Set 2 items", "{\"$set\":[1,\"a\"]}");
	assert_vector_renders("Set empty", "{\"$set\":[]}");
}
END_TEST

START_TEST(render_nested_uint8array)
{
	assert_vector_renders("Uint8Array nested in object",
			      "{\"u\":{\"$bytes\":\"AQID\"}}");
}
END_TEST

START_TEST(render_object_with_single_dollar_key)
{
	struct kv_value *v = mk_object1(mk_string("$bigint"), mk_string("1"));
	assert_renders(v, "{\"$object\":{\"$bigint\":\"1\"}}");
	v = mk_object1(mk_string("$"), mk_int(1));
	assert_renders(v, "{\"$object\":{\"$\":1}}");
}
END_TEST

START_TEST(render_array_buffers)
{
	assert_vector_renders("ArrayBuffer empty", "{\"$arraybuffer\":\"\"}");
	assert_vector_renders("ArrayBuffer [1,2,3]",
			      "{\"$arraybuffer\":\"AQID\"}");
	assert_vector_renders(
		"Resizable ArrayBuffer len 2 max 8",
		"{\"$arraybuffer\":{\"bytes\":\"AAA\",\"maxByteLength\":8}}");
}
END_TEST

START_TEST(render_typed_arrays_over_whole_buffers)
{
	assert_vector_renders("Int8Array", "{\"$int8array\":\"_wE\"}");
	assert_vector_renders("Uint8ClampedArray",
			      "{\"$uint8clampedarray\":\"AQI\"}");
	assert_vector_renders("Int16Array", "{\"$int16array\":\"_v8DAA\"}");
	assert_vector_renders("Uint16Array", "{\"$uint16array\":\"AQACAA\"}");
	assert_vector_renders("Int32Array", "{\"$int32array\":\"_____w\"}");
	assert_vector_renders("Uint32Array", "{\"$uint32array\":\"AQAAAA\"}");
	assert_vector_renders("Float16Array", "{\"$float16array\":\"AD4\"}");
	assert_vector_renders("Float32Array", "{\"$float32array\":\"AADAPw\"}");
	assert_vector_renders("Float64Array",
			      "{\"$float64array\":\"AAAAAAAA-D8\"}");
	assert_vector_renders("BigInt64Array",
			      "{\"$bigint64array\":\"__________8\"}");
	assert_vector_renders("BigUint64Array",
			      "{\"$biguint64array\":\"AQAAAAAAAAA\"}");
	assert_vector_renders("DataView", "{\"$dataview\":\"CQgH\"}");
}
END_TEST

START_TEST(render_other_views_with_their_window)
{
	assert_vector_renders(
		"Uint8Array nested subarray (offset 1)",
		"[{\"$view\":{\"type\":\"uint8array\",\"buffer\":\"AAECAw\","
		"\"byteOffset\":1,\"byteLength\":2,\"lengthTracking\":false}}]");
	assert_vector_renders(
		"DataView with offset",
		"{\"$view\":{\"type\":\"dataview\",\"buffer\":\"CQgH\","
		"\"byteOffset\":1,\"byteLength\":1,\"lengthTracking\":false}}");
	assert_vector_renders(
		"nested length-tracking view on resizable buffer",
		"[{\"$view\":{\"type\":\"uint8array\",\"buffer\":{\"bytes\":"
		"\"AAA\",\"maxByteLength\":4},\"byteOffset\":0,\"byteLength\":0,"
		"\"lengthTracking\":true}}]");
	assert_vector_renders(
		"nested fixed view on resizable buffer",
		"[{\"$view\":{\"type\":\"uint8array\",\"buffer\":{\"bytes\":"
		"\"AAAAAA\",\"maxByteLength\":8},\"byteOffset\":1,"
		"\"byteLength\":2,\"lengthTracking\":false}}]");
}
END_TEST

START_TEST(render_errors)
{
	assert_vector_renders(
		"TypeError (stack removed)",
		"{\"$error\":{\"name\":\"TypeError\",\"message\":\"t\"}}");
	assert_vector_renders("RangeError with cause (stack removed)",
			      "{\"$error\":{\"name\":\"RangeError\","
			      "\"message\":\"r\",\"cause\":1}}");
	assert_vector_renders("Error with short fake stack",
			      "{\"$error\":{\"name\":\"Error\","
			      "\"message\":\"m\",\"stack\":\"S\"}}");
	struct kv_value *e = mk(KV_ERROR);
	e->error_proto = KV_ERROR_URI;
	e->cause = mk(KV_UNDEFINED);
	assert_renders(e, "{\"$error\":{\"name\":\"URIError\","
			  "\"cause\":{\"$undefined\":true}}}");
}
END_TEST

START_TEST(render_boxed_primitives)
{
	assert_vector_renders("boxed Number", "{\"$boxed\":1.5}");
	assert_vector_renders("boxed String", "{\"$boxed\":\"s\"}");
	assert_vector_renders("boxed Boolean false", "{\"$boxed\":false}");
	assert_vector_renders("boxed BigInt", "{\"$boxed\":{\"$bigint\":\"1\"}}");
	struct kv_value *b = mk(KV_BOXED);
	b->inner = mk_double(2);
	assert_renders(b, "{\"$boxed\":2}");
	b->inner = mk_double(NAN);
	assert_renders(b, "{\"$boxed\":{\"$number\":\"NaN\"}}");
}
END_TEST

START_TEST(render_arrays_with_holes_or_properties)
{
	assert_vector_renders("array holey [1,,3] (sparse encoding)",
			      "{\"$sparse\":{\"length\":3,"
			      "\"items\":{\"0\":1,\"2\":3}}}");
	assert_vector_renders("array new Array(3) (all holes)",
			      "{\"$sparse\":{\"length\":3}}");
	assert_vector_renders("large sparse array a[1000]=1",
			      "{\"$sparse\":{\"length\":1001,"
			      "\"items\":{\"1000\":1}}}");
	assert_vector_renders("array with extra property",
			      "{\"$array\":{\"items\":[1,2],"
			      "\"props\":{\"foo\":\"bar\"}}}");
	struct kv_value *items[] = {mk_int(1), mk(KV_HOLE), mk_int(3)};
	assert_renders(mk_items(KV_ARRAY, 3, items),
		       "{\"$array\":{\"items\":[1,{\"$hole\":true},3]}}");
}
END_TEST

START_TEST(render_sparse_array_properties_apart_from_items)
{
	struct kv_value *v = mk(KV_SPARSE_ARRAY);
	v->length = 5;
	v->props = kv_arena_alloc(arena, 2 * sizeof(*v->props));
	v->props[0] = (struct kv_prop){mk_int(4), mk_string("x")};
	v->props[1] = (struct kv_prop){mk_string("$a"), mk(KV_NULL)};
	v->n_props = 2;
	assert_renders(v, "{\"$sparse\":{\"length\":5,\"items\":{\"4\":\"x\"},"
			  "\"props\":{\"$a\":null}}}");
}
END_TEST

START_TEST(render_plain_json_types)
{
	assert_vector_renders("object with integer-like keys",
			      "{\"0\":\"z\",\"1\":\"a\",\"b\":2}");
	assert_vector_renders("object nested", "{\"a\":{\"b\":[1]}}");
	assert_vector_renders("array dense mixed", "[\"a\",1,true,null]");
	assert_vector_renders("object key '1.5' (non-index numeric string)",
			      "{\"1.5\":\"x\"}");
	assert_vector_renders("object empty", "{}");
	assert_vector_renders("array empty", "[]");
	assert_vector_renders("array containing undefined",
			      "{\"$sparse\":{\"length\":1,"
			      "\"items\":{\"0\":{\"$undefined\":true}}}}");
}
END_TEST

START_TEST(render_read_only_values_for_display)
{
	bool lossless = true;
	const struct value_vector *twice =
		vector_named("same object twice (back-reference)");
	const char *text = render(decode(twice->bytes, twice->len, &lossless));
	ck_assert(!lossless);
	ck_assert_str_eq(text, "[{},{\"$ref\":1}]");
	assert_rejected(text);
	const struct value_vector *cycle = vector_named("self-cycle");
	text = render(decode(cycle->bytes, cycle->len, &lossless));
	ck_assert_str_eq(text, "{\"self\":{\"$ref\":0}}");
	assert_rejected(text);
	struct kv_value *host = mk(KV_HOST_OBJECT);
	host->inner = mk_object1(mk_string("type"), mk_string("Blob"));
	text = render(host);
	ck_assert_str_eq(text, "{\"$host\":{\"type\":\"Blob\"}}");
	assert_rejected(text);
}
END_TEST

/* -------------------------------------------------------- $ escaping */

START_TEST(object_tag_escapes_a_single_dollar_key)
{
	struct kv_value *v = parse("{\"$object\":{\"$bigint\":\"1\"}}");
	ck_assert_int_eq(v->type, KV_OBJECT);
	ck_assert_uint_eq(v->n_props, 1);
	ck_assert_int_eq(v->props[0].key->type, KV_STRING);
	ck_assert_str_eq(v->props[0].key->str, "$bigint");
	ck_assert_int_eq(v->props[0].value->type, KV_STRING);
	ck_assert_str_eq(v->props[0].value->str, "1");
	v = reread(v);
	ck_assert_int_eq(v->type, KV_OBJECT);
	ck_assert_str_eq(render(v), "{\"$object\":{\"$bigint\":\"1\"}}");
}
END_TEST

START_TEST(objects_with_several_keys_are_never_tags)
{
	struct kv_value *v = parse("{\"$bigint\":\"1\",\"$b\":2}");
	ck_assert_int_eq(v->type, KV_OBJECT);
	ck_assert_uint_eq(v->n_props, 2);
	ck_assert_str_eq(render(v), "{\"$bigint\":\"1\",\"$b\":2}");
	ck_assert_str_eq(render(parse("{\"a\":{}}")), "{\"a\":{}}");
}
END_TEST

/* ---------------------------------------------------------------- strings */

START_TEST(strings_escaped_as_json_stringify_does)
{
	static const char raw[] = "\x00\x01\x1f\b\f\n\r\t\"\\/\x7f"
				  "\xc3\xa9\xf0\x9f\x98\x80"
				  "\xed\xbf\xbf\xed\xa0\x80";
	struct kv_value *v = mk_string_len(raw, sizeof(raw) - 1);
	assert_renders(v, "\"\\u0000\\u0001\\u001f\\b\\f\\n\\r\\t\\\"\\\\/\x7f"
			  "\xc3\xa9\xf0\x9f\x98\x80\\udfff\\ud800\"");
}
END_TEST

START_TEST(strings_parse_every_escape)
{
	struct kv_value *v = parse("\"\\u0041\\/\\\"\\\\\\b\\f\\n\\r\\t"
				   "\\uD83D\\uDE00\\u00e9\\u0000\"");
	static const char expected[] = "A/\"\\\b\f\n\r\t\xf0\x9f\x98\x80"
				       "\xc3\xa9\x00";
	ck_assert_int_eq(v->type, KV_STRING);
	ck_assert_uint_eq(v->str_len, sizeof(expected) - 1);
	ck_assert(memcmp(v->str, expected, v->str_len) == 0);
}
END_TEST

START_TEST(strings_keep_lone_surrogates)
{
	struct kv_value *v = parse("\"\\ud800x\\udc00\\udbff\"");
	static const char expected[] = "\xed\xa0\x80x\xed\xb0\x80\xed\xaf\xbf";
	ck_assert_uint_eq(v->str_len, sizeof(expected) - 1);
	ck_assert(memcmp(v->str, expected, v->str_len) == 0);
	ck_assert_str_eq(render(v), "\"\\ud800x\\udc00\\udbff\"");
	ck_assert(kv_value_equal(reread(v), v));
	assert_vector_renders("lone surrogate string", "\"\\ud800\"");
}
END_TEST

START_TEST(strings_with_nul_and_controls_round_trip)
{
	assert_vector_renders("string with NUL", "\"a\\u0000b\"");
	struct kv_value *v = mk_string_len("\x00\x1b[0m\x7f", 6);
	assert_renders(v, "\"\\u0000\\u001b[0m\x7f\"");
}
END_TEST

/* ---------------------------------------------------------------- parsing */

START_TEST(parse_integer_literals_in_int32_range_as_smis)
{
	static const struct {
		const char *text;
		enum kv_type type;
		double value;
	} cases[] = {
		{"0", KV_INT32, 0},
		{"-2147483648", KV_INT32, -2147483648.0},
		{"2147483647", KV_INT32, 2147483647.0},
		{"2147483648", KV_DOUBLE, 2147483648.0},
		{"-2147483649", KV_DOUBLE, -2147483649.0},
		{"1.0", KV_DOUBLE, 1},
		{"1e2", KV_DOUBLE, 100},
		{"1E+2", KV_DOUBLE, 100},
		{"-1.5e-3", KV_DOUBLE, -0.0015},
		{"1e-400", KV_DOUBLE, 0},
		{"12345678901234567890", KV_DOUBLE, 12345678901234567890.0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kv_value *v = parse(cases[i].text);
		ck_assert_msg(v->type == cases[i].type, "%s", cases[i].text);
		double d = v->type == KV_INT32 ? v->i32 : v->num;
		ck_assert_msg(d == cases[i].value, "%s", cases[i].text);
	}
}
END_TEST

START_TEST(parse_minus_zero_literal_as_double_minus_zero)
{
	static const char *const texts[] = {"-0", "-0.0", "-0e5",
					    "{\"$number\":\"-0\"}"};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct kv_value *v = parse(texts[i]);
		ck_assert_int_eq(v->type, KV_DOUBLE);
		ck_assert(v->num == 0 && signbit(v->num));
		ck_assert_str_eq(render(v), "{\"$number\":\"-0\"}");
	}
}
END_TEST

/* ------------------------------------------------- numbers of few digits */

/*
 * json_parse works out a number of at most 15 significant digits and a
 * power of ten within 10^±22 by itself, and leaves the others to
 * kv_number_parse: either way must give the double kv_number_parse gives.
 * These literals lie on both sides of each of those edges.
 */
static const char *const edge_numbers[] = {
	"1e22", "1e23", "-1E22", "1e+22", "1E+00022", "1e-22", "1e-23",
	"10e21", "0.1e23", "100e-24", "0.0000000000000000000001",
	"0.00000000000000000000001", "0.00000000000000000000001e45",
	"999999999999999e22", "999999999999999e23", "9999999999999999e22",
	"123456789012345", "1234567890123456", "-0.123456789012345",
	"0.1234567890123456", "1.23456789012345e-7", "9007199254740992",
	"9007199254740993", "0", "0e0", "-0", "-0.0", "-0e-23", "-0.000E+22",
	"1e-0", "0.3", "4.35", "5e-324", "2.2250738585072014e-308",
	"1.7976931348623157e308",
	"1e0000000000000000000000000000000000000000000000000000000001",
};

/* Longer than any literal random_number_literal writes. */
enum { LITERAL_MAX = 64 };

/*
 * A random literal of 1 to 17 significant digits whose last digit stands
 * for 10^-26 to 10^26: the first digits an integer part, or "0." and up to
 * 23 zeros before them all; then, unless it is not needed, the exponent
 * that brings the last digit there, in any form JSON allows (e or E, a
 * sign or none, leading zeros).
 */
static void random_number_literal(char out[LITERAL_MAX])
{
	static const char *const signs[] = {"", "+", "-"};
	int digits = 1 + (int)rng_below(17), target = (int)rng_below(53) - 26;
	int int_digits = 1 + (int)rng_below((size_t)digits), scale;
	char *p = out;
	if (rng_below(2))
		*p++ = '-';
	if (rng_below(3) == 0) {
		int zeros = (int)rng_below(24);
		p += sprintf(p, "0.%.*s", zeros, "00000000000000000000000");
		int_digits = 0;
		scale = -zeros - digits;
	} else {
		scale = int_digits - digits;
	}
	for (int i = 0; i < digits; i++) {
		if (i == int_digits && i > 0)
			*p++ = '.';
		*p++ = (char)(i == 0 ? '1' + rng_below(9) : '0' + rng_below(10));
	}
	int e = target - scale;
	*p = '\0';
	if (e != 0 || rng_below(2))
		sprintf(p, "%c%s%s%d", rng_below(2) ? 'e' : 'E',
			e < 0 ? "-" : signs[rng_below(e > 0 ? 2 : 3)],
			rng_below(4) ? "" : "00", abs(e));
}

/* Every edge literal and 20000 random ones, each given to check. */
static void for_short_numbers(void (*check)(const char *text))
{
	char text[LITERAL_MAX];
	for (size_t i = 0; i < sizeof(edge_numbers) / sizeof(edge_numbers[0]);
	     i++)
		check(edge_numbers[i]);
	rng_seed(22);
	for (int round = 0; round < 20000; round++) {
		random_number_literal(text);
		check(text);
	}
}

static double kv_number_parse_ok(const char *text)
{
	double d;
	ck_assert_msg(kv_number_parse(text, strlen(text), false, &d) == 0,
		      "kv_number_parse refuses %s", text);
	return d;
}

static void assert_parses_as_kv_number_parse(const char *text)
{
	struct kv_value *v = parse(text);
	ck_assert_msg(v->type == KV_INT32 || v->type == KV_DOUBLE, "%s", text);
	double got = v->type == KV_INT32 ? v->i32 : v->num;
	double want = kv_number_parse_ok(text);
	ck_assert_msg(to_bits(got) == to_bits(want),
		      "%s parses to %a, kv_number_parse to %a", text, got,
		      want);
}

static void assert_renders_as_kv_number_parse(const char *text)
{
	const char *got = render(parse(text));
	const char *want = render(mk_double(kv_number_parse_ok(text)));
	ck_assert_msg(strcmp(got, want) == 0, "%s renders as %s, not %s", text,
		      got, want);
}

START_TEST(parse_short_numbers_bit_identical_to_kv_number_parse)
{
	for_short_numbers(assert_parses_as_kv_number_parse);
}
END_TEST

START_TEST(parse_short_numbers_render_as_kv_number_parse_values)
{
	for_short_numbers(assert_renders_as_kv_number_parse);
}
END_TEST

START_TEST(parse_keeps_key_order)
{
	struct kv_value *v = parse("{\"b\":1,\"a\":2,\"c\":3}");
	ck_assert_uint_eq(v->n_props, 3);
	ck_assert_str_eq(v->props[0].key->str, "b");
	ck_assert_str_eq(v->props[1].key->str, "a");
	ck_assert_str_eq(v->props[2].key->str, "c");
	ck_assert_str_eq(render(reread(v)), "{\"b\":1,\"a\":2,\"c\":3}");
}
END_TEST

START_TEST(parse_index_keys_as_numbers_like_v8)
{
	struct kv_value *v = parse("{\"0\":1,\"2147483648\":2,"
				   "\"4294967295\":3,\"01\":4,\"-1\":5}");
	ck_assert_int_eq(v->props[0].key->type, KV_INT32);
	ck_assert_int_eq(v->props[0].key->i32, 0);
	ck_assert_int_eq(v->props[1].key->type, KV_DOUBLE);
	ck_assert(v->props[1].key->num == 2147483648.0);
	ck_assert_int_eq(v->props[2].key->type, KV_STRING);
	ck_assert_int_eq(v->props[3].key->type, KV_STRING);
	ck_assert_int_eq(v->props[4].key->type, KV_STRING);
}
END_TEST

START_TEST(parse_allows_white_space_around_tokens)
{
	struct kv_value *v = parse(" \t\r\n{ \"a\" :\n[ 1 , {\"$bigint\" : "
				   "\"2\"} ] }\n ");
	ck_assert_str_eq(render(v), "{\"a\":[1,{\"$bigint\":\"2\"}]}");
}
END_TEST

START_TEST(parse_regexp_flags_in_any_order)
{
	struct kv_value *v = parse("{\"$regexp\":\"/a/yig\"}");
	ck_assert_int_eq(v->type, KV_REGEXP);
	ck_assert_uint_eq(v->flags,
			  KV_RE_GLOBAL | KV_RE_IGNORE_CASE | KV_RE_STICKY);
	ck_assert_str_eq(v->str, "a");
	ck_assert_str_eq(render(v), "{\"$regexp\":\"/a/giy\"}");
	v = parse("{\"$regexp\":\"//\"}");
	ck_assert_uint_eq(v->str_len, 0);
}
END_TEST

START_TEST(parse_date_number_forms)
{
	struct kv_value *v = parse("{\"$date\":0}");
	ck_assert_int_eq(v->type, KV_DATE);
	ck_assert(v->num == 0 && !signbit(v->num));
	v = parse("{\"$date\":{\"$number\":\"NaN\"}}");
	ck_assert(isnan(v->num));
}
END_TEST

START_TEST(parse_boxed_numbers_as_doubles)
{
	struct kv_value *v = parse("{\"$boxed\":2}");
	ck_assert_int_eq(v->inner->type, KV_DOUBLE);
	ck_assert(v->inner->num == 2);
}
END_TEST

/* leaf inside n arrays, in the arena. */
static const char *nested(int n, const char *leaf)
{
	size_t len = strlen(leaf);
	char *text = kv_arena_alloc(arena, 2 * (size_t)n + len + 1);
	memset(text, '[', (size_t)n);
	memcpy(text + n, leaf, len);
	memset(text + n + len, ']', (size_t)n);
	return text;
}

/* Exactly what the V8 decoder accepts: values inside at most
 * KV_V8_MAX_DEPTH containers, empty or not. */
START_TEST(parse_nesting_limit_is_the_decoders)
{
	static const struct {
		const char *text;
		bool container;
	} leaves[] = {
		{"1", false},
		{"{\"$boxed\":1}", false},
		{"{\"$view\":{\"type\":\"uint8array\",\"buffer\":{\"bytes\":"
		 "\"\",\"maxByteLength\":1},\"byteOffset\":0,\"byteLength\":0,"
		 "\"lengthTracking\":true}}",
		 false},
		{"[]", true},
		{"{}", true},
		{"{\"$map\":[]}", true},
		{"{\"$error\":{\"name\":\"Error\"}}", true},
	};
	for (size_t i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
		int deepest = KV_V8_MAX_DEPTH - leaves[i].container;
		struct kv_value *v = parse(nested(deepest, leaves[i].text));
		ck_assert_msg(kv_value_equal(reread(v), v), "%s",
			      leaves[i].text);
		assert_rejected(nested(deepest + 1, leaves[i].text));
	}
}
END_TEST

START_TEST(parse_rejects_very_deep_json_without_recursing)
{
	size_t n = 1000000;
	char *text = malloc(n);
	ck_assert_ptr_nonnull(text);
	memset(text, '[', n);
	ck_assert_int_eq(parse_result(text, n), -EINVAL);
	memset(text, '{', n);
	ck_assert_int_eq(parse_result(text, n), -EINVAL);
	free(text);
}
END_TEST

/* ------------------------------------------------------ parser rejections */

static void assert_all_rejected(const char *const *texts, size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert_rejected(texts[i]);
}

#define REJECT_ALL(...)                                                        \
	do {                                                                   \
		static const char *const texts[] = {__VA_ARGS__};              \
		assert_all_rejected(texts, sizeof(texts) / sizeof(texts[0]));  \
	} while (0)

START_TEST(parse_rejects_trailing_commas)
{
	REJECT_ALL("[1,]", "{\"a\":1,}", "[,]", "[1,,2]", "{,}");
}
END_TEST

START_TEST(parse_rejects_comments)
{
	REJECT_ALL("[1]//x", "/*x*/1", "[1 /* x */]", "# x\n1");
}
END_TEST

START_TEST(parse_rejects_non_json_literals)
{
	REJECT_ALL("NaN", "Infinity", "-Infinity", "undefined", "'a'", "True",
		   "nul", "truex", "[true false]");
}
END_TEST

START_TEST(parse_rejects_malformed_numbers)
{
	REJECT_ALL("01", "+1", "1.", ".5", "1e", "1e+", "-", "0x10", "1.e3",
		   "- 1", "--1", "00");
}
END_TEST

START_TEST(parse_rejects_numbers_that_overflow_a_double)
{
	REJECT_ALL("1e400", "-1e400", "[1e309]");
}
END_TEST

START_TEST(parse_rejects_duplicate_keys)
{
	REJECT_ALL("{\"a\":1,\"a\":2}", "{\"a\":1,\"b\":2,\"a\":1}",
		   "[{\"x\":{\"k\":1,\"\\u006b\":2}}]",
		   "{\"$error\":{\"name\":\"Error\",\"name\":\"Error\"}}");
}
END_TEST

/* Past a handful of keys names are sorted to find a duplicate. */
START_TEST(parse_rejects_duplicate_keys_among_many)
{
	REJECT_ALL("{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,"
		   "\"g\":7,\"h\":8,\"i\":9,\"j\":10,\"e\":11}",
		   "{\"0\":1,\"1\":2,\"2\":3,\"3\":4,\"4\":5,\"5\":6,"
		   "\"6\":7,\"7\":8,\"8\":9,\"9\":10,\"00\":0,\"9\":0}");
	static const char distinct[] = "{\"a\":1,\"b\":2,\"c\":3,\"d\":4,"
				       "\"e\":5,\"f\":6,\"g\":7,\"h\":8,"
				       "\"i\":9,\"ab\":10}";
	ck_assert_int_eq(parse_result(distinct, sizeof(distinct) - 1), 0);
}
END_TEST

START_TEST(parse_rejects_raw_control_characters)
{
	REJECT_ALL("\"a\x01\"", "\"\n\"", "\"\t\"", "\"\x1f\"");
	ck_assert_int_eq(parse_result("\"a\0\"", 4), -EINVAL);
}
END_TEST

START_TEST(parse_rejects_invalid_utf8)
{
	REJECT_ALL("\"\xff\"", "\"\x80\"", "\"\xc0\xaf\"", "\"\xc1\xbf\"",
		   "\"\xe0\x80\xaf\"", "\"\xe2\x82\"", "\"\xf0\x8f\xbf\xbf\"",
		   "\"\xf4\x90\x80\x80\"", "\"\xf8\x88\x80\x80\x80\"",
		   "{\"\xff\":1}");
}
END_TEST

START_TEST(parse_rejects_raw_encoded_surrogates)
{
	REJECT_ALL("\"\xed\xa0\x80\"", "\"\xed\xbf\xbf\"",
		   "\"\xed\xa0\xbd\xed\xb8\x80\"");
}
END_TEST

START_TEST(parse_rejects_bad_escapes)
{
	REJECT_ALL("\"\\x41\"", "\"\\u12\"", "\"\\u12G4\"", "\"\\\"",
		   "\"\\U0041\"", "\"\\'\"", "\"\\0\"");
}
END_TEST

START_TEST(parse_rejects_unfinished_or_trailing_text)
{
	REJECT_ALL("", "   ", "[1", "{\"a\":1", "\"abc", "{\"a\"}",
		   "{\"a\" 1}", "{1:2}", "1 2", "{}x", "[1]]", "\xef\xbb\xbf{}");
}
END_TEST

START_TEST(parse_rejects_unknown_tags)
{
	REJECT_ALL("{\"$foo\":1}", "{\"$\":1}", "{\"$Bigint\":\"1\"}",
		   "{\"$hole\":true}", "[{\"$hole\":true}]",
		   "{\"$set\":[{\"$hole\":true}]}");
}
END_TEST

START_TEST(parse_rejects_read_only_tags)
{
	REJECT_ALL("{\"$ref\":0}", "[{},{\"$ref\":1}]", "{\"$host\":{}}");
}
END_TEST

START_TEST(parse_rejects_malformed_primitive_tags)
{
	REJECT_ALL("{\"$undefined\":false}", "{\"$undefined\":null}",
		   "{\"$bigint\":\"1.5\"}", "{\"$bigint\":\"01\"}",
		   "{\"$bigint\":\"-0\"}", "{\"$bigint\":\"+1\"}",
		   "{\"$bigint\":\"\"}", "{\"$bigint\":10}",
		   "{\"$number\":\"foo\"}", "{\"$number\":\"1.5\"}",
		   "{\"$number\":\"nan\"}", "{\"$number\":\"0\"}",
		   "{\"$number\":1}", "{\"$boxed\":[1]}", "{\"$boxed\":null}",
		   "{\"$boxed\":{\"$undefined\":true}}");
}
END_TEST

START_TEST(parse_rejects_malformed_dates)
{
	REJECT_ALL("{\"$date\":\"2023-02-29T00:00:00.000Z\"}",
		   "{\"$date\":\"2023-11-14T22:13:20Z\"}",
		   "{\"$date\":\"2023-11-14\"}",
		   "{\"$date\":\"+002023-11-14T22:13:20.000Z\"}",
		   "{\"$date\":\"-000000-01-01T00:00:00.000Z\"}",
		   "{\"$date\":\"+275760-09-13T00:00:00.001Z\"}",
		   "{\"$date\":\"2023-13-01T00:00:00.000Z\"}",
		   "{\"$date\":\"2023-11-14T24:00:00.000Z\"}",
		   "{\"$date\":\"2023-11-14T22:60:00.000Z\"}",
		   "{\"$date\":\"2023-11-14 22:13:20.000Z\"}",
		   "{\"$date\":\"2023-11-14T22:13:20.000+00:00\"}",
		   "{\"$date\":true}", "{\"$date\":\"x\"}",
		   "{\"$date\":{\"$bigint\":\"1\"}}");
}
END_TEST

START_TEST(parse_rejects_malformed_regexps)
{
	REJECT_ALL("{\"$regexp\":\"abc\"}", "{\"$regexp\":\"/\"}",
		   "{\"$regexp\":\"/a/gg\"}", "{\"$regexp\":\"/a/x\"}",
		   "{\"$regexp\":\"a/b/\"}", "{\"$regexp\":1}",
		   "{\"$regexp\":\"/a/uv\"}");
}
END_TEST

START_TEST(parse_rejects_malformed_collections)
{
	REJECT_ALL("{\"$map\":[[1]]}", "{\"$map\":[[1,2,3]]}",
		   "{\"$map\":[1,2]}", "{\"$map\":{}}", "{\"$set\":{}}",
		   "{\"$array\":{\"items\":[],\"foo\":1}}",
		   "{\"$array\":{\"props\":{}}}", "{\"$array\":[]}",
		   "{\"$sparse\":{\"length\":3,\"items\":{\"a\":1}}}",
		   "{\"$sparse\":{\"length\":3,\"props\":{\"1\":1}}}",
		   "{\"$sparse\":{\"length\":-1}}",
		   "{\"$sparse\":{\"length\":4294967296}}",
		   "{\"$sparse\":{\"length\":1.5}}", "{\"$sparse\":{}}",
		   "{\"$sparse\":{\"length\":100,\"items\":{\"100\":1}}}",
		   "{\"$sparse\":{\"length\":1,\"props\":{\"length\":1}}}",
		   "{\"$array\":{\"items\":[1],\"props\":{\"0\":1}}}",
		   "{\"$array\":{\"items\":[1],\"props\":{\"1\":1}}}",
		   "{\"$array\":{\"items\":[],\"props\":{\"length\":0}}}",
		   "{\"$object\":[]}");
}
END_TEST

START_TEST(parse_rejects_malformed_binary)
{
	REJECT_ALL("{\"$bytes\":\"AQID=\"}", "{\"$bytes\":\"AQ==\"}",
		   "{\"$bytes\":\"A\"}", "{\"$bytes\":\"AQJ\"}",
		   "{\"$bytes\":\"AQ+D\"}", "{\"$bytes\":\"AQ/D\"}",
		   "{\"$bytes\":\"AQ D\"}", "{\"$bytes\":[1]}",
		   "{\"$int16array\":\"AQID\"}", "{\"$float64array\":\"AQID\"}",
		   "{\"$bytes\":{\"bytes\":\"AA\",\"maxByteLength\":4}}",
		   "{\"$arraybuffer\":{\"bytes\":\"AQID\",\"maxByteLength\":2}}",
		   "{\"$arraybuffer\":{\"bytes\":\"AQID\"}}",
		   "{\"$arraybuffer\":{\"bytes\":\"AQID\",\"maxByteLength\":8,"
		   "\"x\":1}}",
		   "{\"$arraybuffer\":7}");
}
END_TEST

START_TEST(parse_rejects_malformed_views)
{
	REJECT_ALL(
		"{\"$view\":{\"type\":\"int16array\",\"buffer\":\"AAAA\","
		"\"byteOffset\":1,\"byteLength\":0,\"lengthTracking\":false}}",
		"{\"$view\":{\"type\":\"int16array\",\"buffer\":\"AAAA\","
		"\"byteOffset\":0,\"byteLength\":1,\"lengthTracking\":false}}",
		"{\"$view\":{\"type\":\"uint8array\",\"buffer\":\"AAAA\","
		"\"byteOffset\":2,\"byteLength\":2,\"lengthTracking\":false}}",
		"{\"$view\":{\"type\":\"uint8array\",\"buffer\":\"AAAA\","
		"\"byteOffset\":0,\"byteLength\":0,\"lengthTracking\":true}}",
		"{\"$view\":{\"type\":\"Uint8Array\",\"buffer\":\"AAAA\","
		"\"byteOffset\":0,\"byteLength\":0,\"lengthTracking\":false}}",
		"{\"$view\":{\"type\":\"uint8array\",\"buffer\":\"AAAA\","
		"\"byteOffset\":0,\"byteLength\":0}}",
		"{\"$view\":{\"type\":\"uint8array\",\"buffer\":\"AAAA\","
		"\"byteOffset\":0,\"byteLength\":0,\"lengthTracking\":0}}",
		"{\"$view\":{\"type\":\"uint8array\",\"buffer\":{\"$ref\":0},"
		"\"byteOffset\":0,\"byteLength\":0,\"lengthTracking\":false}}");
}
END_TEST

START_TEST(parse_rejects_malformed_errors)
{
	REJECT_ALL("{\"$error\":{\"name\":\"FooError\"}}",
		   "{\"$error\":{\"message\":\"x\"}}",
		   "{\"$error\":{\"name\":\"Error\",\"message\":1}}",
		   "{\"$error\":{\"name\":\"Error\",\"stack\":null}}",
		   "{\"$error\":{\"name\":\"Error\",\"extra\":1}}",
		   "{\"$error\":\"Error\"}");
}
END_TEST

/* ------------------------------------------------------ files and KvU64 */

static int parse_u64_text(const char *text, uint64_t *v)
{
	struct kv_buf b = {0};
	int r = kv_value_parse(KV_ENC_U64, (const uint8_t *)text, strlen(text),
			       &b);
	if (r == 0) {
		ck_assert_uint_eq(b.len, 8);
		ck_assert_int_eq(kv_u64_decode(b.data, b.len, v), 0);
	} else {
		ck_assert_uint_eq(b.len, 0);
	}
	kv_buf_free(&b);
	return r;
}

START_TEST(u64_parse_decimal_with_white_space)
{
	uint64_t v;
	ck_assert_int_eq(parse_u64_text("42\n", &v), 0);
	ck_assert_uint_eq(v, 42);
	ck_assert_int_eq(parse_u64_text("  7 ", &v), 0);
	ck_assert_uint_eq(v, 7);
	ck_assert_int_eq(parse_u64_text("\t0\r\n", &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(parse_u64_text("18446744073709551615", &v), 0);
	ck_assert(v == UINT64_MAX);
}
END_TEST

START_TEST(u64_parse_rejects_everything_else)
{
	static const char *const texts[] = {
		"18446744073709551616", "99999999999999999999", "-1", "+1",
		"0x10", "", "  \n", "1 2", "4a", "1.0", "1e3"};
	uint64_t v;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		ck_assert_msg(parse_u64_text(texts[i], &v) == -EINVAL, "%s",
			      texts[i]);
}
END_TEST

START_TEST(u64_stored_form_is_eight_bytes_little_endian)
{
	uint8_t bytes[8];
	uint64_t v;
	kv_u64_encode(0x0102030405060708u, bytes);
	static const uint8_t expected[8] = {8, 7, 6, 5, 4, 3, 2, 1};
	ck_assert(memcmp(bytes, expected, 8) == 0);
	ck_assert_int_eq(kv_u64_decode(bytes, 8, &v), 0);
	ck_assert(v == 0x0102030405060708u);
	static const uint8_t nine[9] = {0};
	ck_assert_int_eq(kv_u64_decode(bytes, 7, &v), -EINVAL);
	ck_assert_int_eq(kv_u64_decode(nine, 9, &v), -EINVAL);
}
END_TEST

START_TEST(u64_render_refuses_wrong_length)
{
	struct kv_buf b = {0};
	static const uint8_t seven[7] = {1};
	bool writable = true;
	ck_assert_int_eq(kv_buf_append(&b, "x", 1), 0);
	ck_assert_int_eq(kv_value_render(KV_ENC_U64, seven, 7, &b, &writable),
			 -EINVAL);
	ck_assert(!writable);
	ck_assert_uint_eq(b.len, 1);
	kv_buf_free(&b);
}
END_TEST

START_TEST(bytes_files_are_the_bytes)
{
	static const uint8_t binary[] = {0, 0xff, '\n', 0x80, '{'};
	struct kv_buf file = {0}, stored = {0};
	bool writable = false;
	ck_assert_int_eq(kv_value_render(KV_ENC_BYTES, binary, sizeof(binary),
					 &file, &writable),
			 0);
	ck_assert(writable);
	ck_assert_uint_eq(file.len, sizeof(binary));
	ck_assert(memcmp(file.data, binary, sizeof(binary)) == 0);
	ck_assert_int_eq(kv_value_parse(KV_ENC_BYTES, file.data, file.len,
					&stored),
			 0);
	ck_assert(stored.len == sizeof(binary) &&
		  memcmp(stored.data, binary, sizeof(binary)) == 0);
	kv_buf_free(&file);
	kv_buf_free(&stored);
}
END_TEST

START_TEST(unknown_encodings_rejected)
{
	struct kv_buf b = {0};
	bool writable = true;
	ck_assert_int_eq(kv_value_render((enum kv_encoding)4,
					 (const uint8_t *)"x", 1, &b,
					 &writable),
			 -EINVAL);
	ck_assert(!writable);
	ck_assert_int_eq(kv_value_parse((enum kv_encoding)0,
					(const uint8_t *)"x", 1, &b),
			 -EINVAL);
	ck_assert_uint_eq(b.len, 0);
	kv_buf_free(&b);
}
END_TEST

START_TEST(v8_file_of_undecodable_value_fails_unwritable)
{
	static const uint8_t bad[] = {0xff, 0x0f, 0x6f, 0x22, 0x05, 'a'};
	struct kv_buf b = {0};
	bool writable = true;
	int r = kv_value_render(KV_ENC_V8, bad, sizeof(bad), &b, &writable);
	ck_assert(r == -EINVAL || r == -ENOTSUP);
	ck_assert(!writable);
	ck_assert_uint_eq(b.len, 0);
	kv_buf_free(&b);
}
END_TEST

START_TEST(v8_file_write_of_bad_json_appends_nothing)
{
	struct kv_buf b = {0};
	ck_assert_int_eq(kv_value_parse(KV_ENC_V8, (const uint8_t *)"[1,", 3,
					&b),
			 -EINVAL);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_int_eq(kv_value_parse(KV_ENC_V8,
					(const uint8_t *)" {\"a\":[1]}\n", 11,
					&b),
			 0);
	ck_assert_uint_gt(b.len, 2);
	ck_assert(b.data[0] == 0xff);
	kv_buf_free(&b);
}
END_TEST

/* What one parse of a new file gives, after what out already held. */
static void check_sniff_parse(const char *text, size_t len)
{
	struct kv_buf one = {0}, two = {0};
	enum kv_encoding enc = 0;
	ck_assert_int_eq(kv_buf_append(&one, "head", 4), 0);
	ck_assert_int_eq(kv_value_sniff_parse((const uint8_t *)text, len, &enc,
					      &one),
			 0);
	enum kv_encoding sniffed = kv_value_sniff((const uint8_t *)text, len);
	ck_assert_msg(enc == sniffed, "%.*s: %d, sniffed %d", (int)len, text,
		      enc, sniffed);
	ck_assert_int_eq(kv_value_parse(sniffed, (const uint8_t *)text, len,
					&two),
			 0);
	ck_assert_uint_eq(one.len, 4 + two.len);
	ck_assert(memcmp(one.data, "head", 4) == 0);
	ck_assert(two.len == 0 || memcmp(one.data + 4, two.data, two.len) == 0);
	kv_buf_free(&one);
	kv_buf_free(&two);
}

START_TEST(sniff_parse_equals_sniff_then_parse)
{
	static const char *texts[] = {
		"{\"a\":1}\n", "42", "\"hello\"", "{\"$bigint\":\"7\"}",
		"hello\n", "", " \n", "{\"$foo\":1}", "[1,", "\x00\x01\xff",
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		check_sniff_parse(texts[i], strlen(texts[i]));
	check_sniff_parse("42\0", 3);
}
END_TEST

START_TEST(sniff_parse_equals_sniff_then_parse_on_mutated_renderings)
{
	enum { CAP = 1024 };
	char text[CAP];
	rng_seed(7);
	for (int round = 0; round < 3000; round++) {
		const struct value_vector *vec = &vectors[rng() % n_vectors];
		if (vec->encoding != KV_ENC_V8)
			continue;
		const char *base = render(decode(vec->bytes, vec->len, NULL));
		size_t len = strlen(base);
		if (len >= CAP)
			continue;
		memcpy(text, base, len);
		for (int edits = (int)(rng() % 3); edits > 0; edits--)
			len = mutate(text, len, CAP);
		check_sniff_parse(text, len);
	}
}
END_TEST

static enum kv_encoding sniff(const char *text, size_t len)
{
	return kv_value_sniff((const uint8_t *)text, len);
}

START_TEST(sniff_json_in_the_mapping_is_v8)
{
	ck_assert_int_eq(sniff("{\"a\":1}\n", 8), KV_ENC_V8);
	ck_assert_int_eq(sniff("42", 2), KV_ENC_V8);
	ck_assert_int_eq(sniff("\"hello\"", 7), KV_ENC_V8);
	ck_assert_int_eq(sniff("{\"$bigint\":\"7\"}", 15), KV_ENC_V8);
}
END_TEST

START_TEST(sniff_anything_else_is_bytes)
{
	ck_assert_int_eq(sniff("hello", 5), KV_ENC_BYTES);
	ck_assert_int_eq(sniff("hello\n", 6), KV_ENC_BYTES);
	ck_assert_int_eq(sniff("\x00\x01\xff\xfe", 4), KV_ENC_BYTES);
	ck_assert_int_eq(sniff("", 0), KV_ENC_BYTES);
	ck_assert_int_eq(sniff(" \n", 2), KV_ENC_BYTES);
	ck_assert_int_eq(sniff("{\"$foo\":1}", 10), KV_ENC_BYTES);
	ck_assert_int_eq(sniff("42\0", 3), KV_ENC_BYTES);
}
END_TEST

static Suite *json_suite(void)
{
	Suite *s = suite_create("json");

	TCase *vec = tcase_create("vectors");
	tcase_set_timeout(vec, 60);
	tcase_add_checked_fixture(vec, both_setup, both_teardown);
	tcase_add_test(vec, vectors_v8_render_parse_encode_decode_equal);
	tcase_add_test(vec, vectors_v8_rendering_is_a_fixed_point);
	tcase_add_test(vec, vectors_v8_files_write_back_equal);
	tcase_add_test(vec, vectors_u64_and_bytes_files_write_back_identical);
	tcase_add_test(vec, vectors_mutated_renderings_parse_safely);
	tcase_add_test(vec,
		       sniff_parse_equals_sniff_then_parse_on_mutated_renderings);
	tcase_add_test(vec, random_strings_round_trip);
	tcase_add_test(vec, random_doubles_round_trip);
	tcase_add_test(vec, render_undefined);
	tcase_add_test(vec, render_bigint);
	tcase_add_test(vec, render_special_numbers);
	tcase_add_test(vec, render_numbers_as_javascript_writes_them);
	tcase_add_test(vec, render_date_epoch);
	tcase_add_test(vec, render_regexp);
	tcase_add_test(vec, render_map);
	tcase_add_test(vec, render_set);
	tcase_add_test(vec, render_nested_uint8array);
	tcase_add_test(vec, render_array_buffers);
	tcase_add_test(vec, render_typed_arrays_over_whole_buffers);
	tcase_add_test(vec, render_other_views_with_their_window);
	tcase_add_test(vec, render_errors);
	tcase_add_test(vec, render_boxed_primitives);
	tcase_add_test(vec, render_arrays_with_holes_or_properties);
	tcase_add_test(vec, render_plain_json_types);
	tcase_add_test(vec, render_read_only_values_for_display);
	tcase_add_test(vec, strings_keep_lone_surrogates);
	tcase_add_test(vec, strings_with_nul_and_controls_round_trip);
	suite_add_tcase(s, vec);

	TCase *map = tcase_create("mapping");
	tcase_add_checked_fixture(map, arena_setup, arena_teardown);
	tcase_add_test(map, render_date_years_outside_0_to_9999_have_six_digits);
	tcase_add_test(map, render_date_time_values_no_date_holds_as_numbers);
	tcase_add_test(map, render_object_with_single_dollar_key);
	tcase_add_test(map, render_sparse_array_properties_apart_from_items);
	tcase_add_test(map, object_tag_escapes_a_single_dollar_key);
	tcase_add_test(map, objects_with_several_keys_are_never_tags);
	tcase_add_test(map, strings_escaped_as_json_stringify_does);
	tcase_add_test(map, strings_parse_every_escape);
	tcase_add_test(map, parse_integer_literals_in_int32_range_as_smis);
	tcase_add_test(map, parse_minus_zero_literal_as_double_minus_zero);
	tcase_add_test(map, parse_keeps_key_order);
	tcase_add_test(map, parse_index_keys_as_numbers_like_v8);
	tcase_add_test(map, parse_allows_white_space_around_tokens);
	tcase_add_test(map, parse_regexp_flags_in_any_order);
	tcase_add_test(map, parse_date_number_forms);
	tcase_add_test(map, parse_boxed_numbers_as_doubles);
	tcase_add_test(map, parse_nesting_limit_is_the_decoders);
	tcase_add_test(map, parse_rejects_very_deep_json_without_recursing);
	suite_add_tcase(s, map);

	/* 20000 random literals a test: room for a loaded machine */
	TCase *num = tcase_create("numbers");
	tcase_set_timeout(num, 60);
	tcase_add_checked_fixture(num, arena_setup, arena_teardown);
	tcase_add_test(num,
		       parse_short_numbers_bit_identical_to_kv_number_parse);
	tcase_add_test(num,
		       parse_short_numbers_render_as_kv_number_parse_values);
	suite_add_tcase(s, num);

	TCase *bad = tcase_create("rejections");
	tcase_add_checked_fixture(bad, arena_setup, arena_teardown);
	tcase_add_test(bad, parse_rejects_trailing_commas);
	tcase_add_test(bad, parse_rejects_comments);
	tcase_add_test(bad, parse_rejects_non_json_literals);
	tcase_add_test(bad, parse_rejects_malformed_numbers);
	tcase_add_test(bad, parse_rejects_numbers_that_overflow_a_double);
	tcase_add_test(bad, parse_rejects_duplicate_keys);
	tcase_add_test(bad, parse_rejects_duplicate_keys_among_many);
	tcase_add_test(bad, parse_rejects_raw_control_characters);
	tcase_add_test(bad, parse_rejects_invalid_utf8);
	tcase_add_test(bad, parse_rejects_raw_encoded_surrogates);
	tcase_add_test(bad, parse_rejects_bad_escapes);
	tcase_add_test(bad, parse_rejects_unfinished_or_trailing_text);
	tcase_add_test(bad, parse_rejects_unknown_tags);
	tcase_add_test(bad, parse_rejects_read_only_tags);
	tcase_add_test(bad, parse_rejects_malformed_primitive_tags);
	tcase_add_test(bad, parse_rejects_malformed_dates);
	tcase_add_test(bad, parse_rejects_malformed_regexps);
	tcase_add_test(bad, parse_rejects_malformed_collections);
	tcase_add_test(bad, parse_rejects_malformed_binary);
	tcase_add_test(bad, parse_rejects_malformed_views);
	tcase_add_test(bad, parse_rejects_malformed_errors);
	suite_add_tcase(s, bad);

	TCase *file = tcase_create("files");
	tcase_add_test(file, u64_parse_decimal_with_white_space);
	tcase_add_test(file, u64_parse_rejects_everything_else);
	tcase_add_test(file, u64_stored_form_is_eight_bytes_little_endian);
	tcase_add_test(file, u64_render_refuses_wrong_length);
	tcase_add_test(file, bytes_files_are_the_bytes);
	tcase_add_test(file, unknown_encodings_rejected);
	tcase_add_test(file, v8_file_of_undecodable_value_fails_unwritable);
	tcase_add_test(file, v8_file_write_of_bad_json_appends_nothing);
	tcase_add_test(file, sniff_json_in_the_mapping_is_v8);
	tcase_add_test(file, sniff_anything_else_is_bytes);
	tcase_add_test(file, sniff_parse_equals_sniff_then_parse);
	suite_add_tcase(s, file);
	return s;
}

int main(void)
{
	return run_suite(json_suite());
}
