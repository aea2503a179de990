/*
 * test_name.c — the name grammar of kvfs-spec §1: the examples of the spec's
 * table, one refusal per class of non-canonical name, the bijection checked
 * both ways over random and exhaustive inputs, shortened long names, and
 * paths and JavaScript for the keys the real Deno wrote
 * (denokv/key_vectors.tsv).
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "name.h"
#include "support.h"

enum { MAX_PARTS = 8, PART_BYTES = 320 };

/*
 * check's assertions report their place to the runner on every pass, which
 * costs a write per call; the loops over thousands of inputs use this, which
 * costs nothing until it fails.
 */
#define require(cond, ...)                          \
	do {                                        \
		if (!(cond))                        \
			ck_abort_msg(__VA_ARGS__);  \
	} while (0)

/* ---------------------------------------------------------------- helpers */

static const uint8_t no_bytes[1];

static struct kv_part string_n(const void *s, size_t len)
{
	return (struct kv_part){.type = KV_PART_STRING,
				.data = len ? s : no_bytes,
				.len = len};
}

static struct kv_part string_part(const char *s)
{
	return string_n(s, strlen(s));
}

static struct kv_part bytes_part(const uint8_t *p, size_t len)
{
	return (struct kv_part){.type = KV_PART_BYTES,
				.data = len ? p : no_bytes,
				.len = len};
}

static struct kv_part number_part(double v)
{
	return (struct kv_part){.type = KV_PART_NUMBER, .num = v};
}

static struct kv_part bigint_part(bool negative, const uint8_t *mag,
				  size_t len)
{
	struct kv_part p = {.type = KV_PART_BIGINT};
	p.bigint = (struct kv_bigint){negative, len ? mag : no_bytes, len};
	return p;
}

/* The part's name is exactly name, and name parses back to the part. */
static void assert_named(struct kv_part part, const char *name)
{
	struct kv_buf out = {0}, storage = {0};
	struct kv_part back;
	ck_assert_int_eq(kvfs_name_format(&part, &out), 0);
	ck_assert_msg(out.len == strlen(name) &&
			      memcmp(out.data, name, out.len) == 0,
		      "format gave \"%.*s\", want \"%s\"", (int)out.len,
		      (const char *)out.data, name);
	ck_assert_int_eq(kvfs_name_parse(name, strlen(name), &back, &storage),
			 0);
	ck_assert_msg(parts_equal(&part, &back), "\"%s\" parsed to another part",
		      name);
	kv_buf_free(&out);
	kv_buf_free(&storage);
}

/* A refused name is -EINVAL and leaves storage as it was. */
static void assert_refused_n(const char *name, size_t len)
{
	struct kv_buf storage = {0};
	struct kv_part part;
	ck_assert_int_eq(kv_buf_append(&storage, "keep", 4), 0);
	ck_assert_msg(kvfs_name_parse(name, len, &part, &storage) == -EINVAL,
		      "\"%.*s\" was not refused", (int)len, name);
	ck_assert_uint_eq(storage.len, 4);
	kv_buf_free(&storage);
}

static void assert_refused(const char *name)
{
	assert_refused_n(name, strlen(name));
}

/* parse(format(p)) == p, and the name is one the kernel takes. */
static void assert_roundtrip(const struct kv_part *part)
{
	struct kv_buf name = {0}, storage = {0};
	struct kv_part back;
	require(kvfs_name_format(part, &name) == 0, "format failed");
	require(name.len > 0 && !memchr(name.data, '/', name.len) &&
			!memchr(name.data, 0, name.len),
		"\"%.*s\" is no file name", (int)name.len,
		(const char *)name.data);
	require(kvfs_name_parse((const char *)name.data, name.len, &back,
				&storage) == 0,
		"\"%.*s\" does not parse", (int)name.len,
		(const char *)name.data);
	require(parts_equal(part, &back), "\"%.*s\" did not round-trip",
		(int)name.len, (const char *)name.data);
	kv_buf_free(&name);
	kv_buf_free(&storage);
}

/*
 * If name parses, its part's name is name byte for byte. Returns the type
 * parsed, or -1.
 */
static int assert_canonical_if_parsed(const char *name, size_t len)
{
	struct kv_buf again = {0}, storage = {0};
	struct kv_part part;
	int r = kvfs_name_parse(name, len, &part, &storage);
	require(r == 0 || r == -EINVAL, "parse returned %d", r);
	if (r == 0) {
		require(kvfs_name_format(&part, &again) == 0, "format failed");
		require(again.len == len && memcmp(again.data, name, len) == 0,
			"\"%.*s\" parsed but formats as \"%.*s\"", (int)len,
			name, (int)again.len, (const char *)again.data);
	}
	kv_buf_free(&again);
	kv_buf_free(&storage);
	return r == 0 ? (int)part.type : -1;
}

/*
 * Well-formed UTF-8, checked by decoding code points: a different method
 * from the byte ranges the grammar uses.
 */
static bool valid_utf8(const uint8_t *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		uint8_t b = s[i];
		size_t n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3
			 : (b >> 3) == 30 ? 4 : 0;
		if (n == 0 || len - i < n)
			return false;
		uint32_t cp = n == 1 ? b : b & (0x7f >> n);
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
		if (cp < least[n] || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n;
	}
	return true;
}

/* Append a random piece of string, biased to what names must escape. */
static size_t random_string_piece(uint8_t *out)
{
	static const char specials[] = "/%@.~\"\\:n";
	switch (rng_below(10)) {
	case 0:
		out[0] = (uint8_t)specials[rng_below(sizeof(specials) - 1)];
		return 1;
	case 1:
		out[0] = rng_below(4) ? (uint8_t)rng_below(0x20) : 0x7f;
		return 1;
	case 2:
		out[0] = (uint8_t)(0x20 + rng_below(0x5f));
		return 1;
	case 3:
		out[0] = (uint8_t)rng();
		return 1;
	case 4:
		return put_utf8(out, (uint32_t)(0x80 + rng_below(0x780)));
	case 5: {
		uint32_t cp = (uint32_t)(0x800 + rng_below(0xf800));
		return put_utf8(out,
				cp >= 0xd800 && cp <= 0xdfff ? 0xfffd : cp);
	}
	case 6:
		return put_utf8(out, (uint32_t)(0x10000 + rng_below(0x100000)));
	case 7:
		/* an encoded surrogate, which is not UTF-8 */
		return put_utf8(out, (uint32_t)(0xd800 + rng_below(0x800)));
	case 8: {
		/* a lead byte and continuation bytes, often not UTF-8 */
		size_t n = 1 + rng_below(4);
		out[0] = (uint8_t)(0xc0 + rng_below(0x40));
		for (size_t i = 1; i < n; i++)
			out[i] = (uint8_t)(0x80 + rng_below(0x40));
		return n;
	}
	default:
		out[0] = 0;
		return 1;
	}
}

static size_t random_string(uint8_t *out, size_t max_pieces)
{
	size_t n = 0, pieces = rng_below(max_pieces + 1);
	for (size_t i = 0; i < pieces; i++)
		n += random_string_piece(out + n);
	return n;
}

static double random_double(void)
{
	static const double specials[] = {0.0,	    -0.0,     1.0,    -1.0,
					  INFINITY, -INFINITY, NAN,   5e-324,
					  1e21,	    1e-7,     123e-20, 0.1};
	switch (rng_below(5)) {
	case 0:
		return specials[rng_below(sizeof(specials) / sizeof(*specials))];
	case 1:
		return (double)(int64_t)(rng() >> rng_below(64));
	case 2:
		return (double)(int64_t)(rng() % 2000001) / 1000.0 - 1000.0;
	case 3:
		/* NaNs of every sign and payload */
		return from_bits(0x7ff0000000000001u | (rng() & 0x800fffffffffffffu));
	default:
		return from_bits(rng());
	}
}

/* A bigint of up to 255 bytes of magnitude, never a negative zero. */
static struct kv_part random_bigint(uint8_t *mag)
{
	size_t len = rng_below(4) ? rng_below(17) : rng_below(256);
	for (size_t i = 0; i < len; i++)
		mag[i] = (uint8_t)rng();
	if (len > 0 && mag[0] == 0)
		mag[0] = 1;
	return bigint_part(len > 0 && (rng() & 1), mag, len);
}

static struct kv_part random_part(uint8_t *pool)
{
	switch (rng_below(6)) {
	case 0:
		return string_n(pool, random_string(pool, 12));
	case 1: {
		size_t len = rng_below(24);
		for (size_t i = 0; i < len; i++)
			pool[i] = (uint8_t)rng();
		return bytes_part(pool, len);
	}
	case 2:
		return random_bigint(pool);
	case 3:
		return number_part(random_double());
	case 4:
		return (struct kv_part){.type = KV_PART_FALSE};
	default:
		return (struct kv_part){.type = KV_PART_TRUE};
	}
}

static bool buf_is(const struct kv_buf *b, const char *s)
{
	return b->len == strlen(s) && memcmp(b->data, s, b->len) == 0;
}

/* ------------------------------------------------- the table of §1, rows */

START_TEST(string_is_its_text)
{
	assert_named(string_part("users"), "users");
	assert_named(string_part("日本"), "日本");
	assert_named(string_part("a b"), "a b");
}
END_TEST

START_TEST(string_slash_is_escaped)
{
	assert_named(string_part("a/b"), "a%2Fb");
}
END_TEST

START_TEST(string_percent_is_escaped)
{
	assert_named(string_part("100%"), "100%25");
	assert_named(string_part("%2E"), "%252E");
}
END_TEST

START_TEST(string_controls_nul_and_del_are_escaped)
{
	assert_named(string_n("a\0b", 3), "a%00b");
	assert_named(string_part("\x01\t\n\x1f\x7f"), "%01%09%0A%1F%7F");
}
END_TEST

START_TEST(string_leading_at_is_escaped)
{
	assert_named(string_part("@home"), "%40home");
	assert_named(string_part("@"), "%40");
	assert_named(string_part("@42"), "%4042");
}
END_TEST

START_TEST(string_inner_at_is_plain)
{
	assert_named(string_part("a@b"), "a@b");
	assert_named(string_part("@@"), "%40@");
}
END_TEST

START_TEST(string_invalid_utf8_bytes_are_escaped)
{
	assert_named(string_part("a\xff"), "a%FF");
	assert_named(string_part("\xc3"), "%C3");
	assert_named(string_part("\xc0\x80"), "%C0%80");
	assert_named(string_part("\xc3\xa9\xa9"), "é%A9");
	assert_named(string_part("\xf4\x90\x80\x80"), "%F4%90%80%80");
	assert_named(string_part("\xe0\x9f\xbf"), "%E0%9F%BF");
	assert_named(string_part("\xf0\x8f\xbf\xbf"), "%F0%8F%BF%BF");
	assert_named(string_part("\xf8\x88\x80\x80"), "%F8%88%80%80");
}
END_TEST

START_TEST(string_encoded_surrogates_are_escaped)
{
	assert_named(string_part("\xed\xa0\x80"), "%ED%A0%80");
	assert_named(string_part("\xed\xbf\xbf"), "%ED%BF%BF");
	assert_named(string_part("\xed\x9f\xbf"), "\xed\x9f\xbf");
}
END_TEST

START_TEST(string_dot_and_dotdot_are_escaped)
{
	assert_named(string_part("."), "%2E");
	assert_named(string_part(".."), "%2E%2E");
}
END_TEST

START_TEST(string_other_dots_are_plain)
{
	assert_named(string_part(".a"), ".a");
	assert_named(string_part("..."), "...");
	assert_named(string_part("a."), "a.");
	assert_named(string_part(".profile"), ".profile");
}
END_TEST

START_TEST(string_empty_is_at_quotes)
{
	assert_named(string_part(""), "@\"\"");
}
END_TEST

START_TEST(number_integer)
{
	assert_named(number_part(42), "@42");
	assert_named(number_part(0), "@0");
	assert_named(number_part(-1), "@-1");
}
END_TEST

START_TEST(number_fraction)
{
	assert_named(number_part(-1.5), "@-1.5");
	assert_named(number_part(0.1), "@0.1");
}
END_TEST

START_TEST(number_exponent)
{
	assert_named(number_part(1e21), "@1e+21");
	assert_named(number_part(5e-324), "@5e-324");
	assert_named(number_part(1e-7), "@1e-7");
}
END_TEST

START_TEST(number_negative_zero)
{
	assert_named(number_part(-0.0), "@-0");
}
END_TEST

START_TEST(number_nan)
{
	assert_named(number_part(from_bits(0x7ff8000000000000u)), "@NaN");
}
END_TEST

START_TEST(number_infinities)
{
	assert_named(number_part(INFINITY), "@Infinity");
	assert_named(number_part(-INFINITY), "@-Infinity");
}
END_TEST

START_TEST(number_negative_nan)
{
	assert_named(number_part(from_bits(0xfff8000000000000u)), "@-NaN");
}
END_TEST

START_TEST(number_nan_payload_named_by_its_bits)
{
	assert_named(number_part(from_bits(0x7ff8000000000001u)),
		     "@NaN:0x7ff8000000000001");
	assert_named(number_part(from_bits(0xfff0000000000001u)),
		     "@NaN:0xfff0000000000001");
	assert_named(number_part(from_bits(0x7ff4000000000000u)),
		     "@NaN:0x7ff4000000000000");
}
END_TEST

START_TEST(bigint_positive)
{
	static const uint8_t big[] = {1, 0, 0, 0, 0, 0, 0, 0, 0};
	assert_named(bigint_part(false, (const uint8_t *)"\x2a", 1), "@42n");
	assert_named(bigint_part(false, big, sizeof(big)),
		     "@18446744073709551616n");
}
END_TEST

START_TEST(bigint_negative)
{
	assert_named(bigint_part(true, (const uint8_t *)"\x07", 1), "@-7n");
}
END_TEST

START_TEST(bigint_zero)
{
	assert_named(bigint_part(false, NULL, 0), "@0n");
}
END_TEST

START_TEST(boolean_true_and_false)
{
	assert_named((struct kv_part){.type = KV_PART_TRUE}, "@true");
	assert_named((struct kv_part){.type = KV_PART_FALSE}, "@false");
}
END_TEST

START_TEST(bytes_lower_case_hex)
{
	static const uint8_t b[] = {0x01, 0x02, 0xff};
	assert_named(bytes_part(b, sizeof(b)), "@0x0102ff");
	assert_named(bytes_part((const uint8_t *)"\0", 1), "@0x00");
}
END_TEST

START_TEST(bytes_empty)
{
	assert_named(bytes_part(NULL, 0), "@0x");
}
END_TEST

/* ------------------------------------------------------------- refusals */

START_TEST(refuse_empty_name)
{
	assert_refused("");
}
END_TEST

START_TEST(refuse_dot_and_dotdot)
{
	assert_refused(".");
	assert_refused("..");
}
END_TEST

START_TEST(refuse_slash)
{
	assert_refused("a/b");
	assert_refused("/");
}
END_TEST

START_TEST(refuse_nul)
{
	assert_refused_n("a\0b", 3);
	assert_refused_n("\0", 1);
}
END_TEST

START_TEST(refuse_raw_controls)
{
	assert_refused("a\tb");
	assert_refused("\x7f");
}
END_TEST

START_TEST(refuse_lower_case_escape)
{
	assert_refused("a%2fb");
	assert_refused("%2e");
	assert_refused("%c3");
}
END_TEST

START_TEST(refuse_escape_of_byte_needing_none)
{
	assert_refused("%41");
	assert_refused("a%40");
	assert_refused("%C3%A9");
	assert_refused("%20");
}
END_TEST

START_TEST(refuse_escaped_dot_in_longer_name)
{
	assert_refused("%2Ea");
	assert_refused("a%2E");
	assert_refused("%2E%2E%2E");
	assert_refused(".%2E");
	assert_refused("%2E.");
}
END_TEST

START_TEST(refuse_broken_escape)
{
	assert_refused("%");
	assert_refused("a%4");
	assert_refused("%G0");
	assert_refused("%-1");
}
END_TEST

START_TEST(refuse_raw_invalid_utf8)
{
	assert_refused("a\xff");
	assert_refused("\xc3");
	assert_refused("\xc0\x80");
	assert_refused("\xed\xa0\x80");
}
END_TEST

START_TEST(refuse_raw_leading_at_that_is_no_form)
{
	assert_refused("@home");
	assert_refused("@");
	assert_refused("@\"");
	assert_refused("@\"a\"");
	assert_refused("@True");
	assert_refused("@null");
	assert_refused("@undefined");
}
END_TEST

START_TEST(refuse_reserved_value_name)
{
	assert_refused(KVFS_NAME_VALUE);
}
END_TEST

START_TEST(refuse_shortened_name)
{
	assert_refused("@~users~0123456789abcdef");
}
END_TEST

START_TEST(refuse_number_leading_zero)
{
	assert_refused("@01");
	assert_refused("@-01");
	assert_refused("@00");
}
END_TEST

START_TEST(refuse_number_trailing_fraction_zero)
{
	assert_refused("@1.0");
	assert_refused("@1.50");
	assert_refused("@.5");
	assert_refused("@1.");
}
END_TEST

START_TEST(refuse_number_plus_sign)
{
	assert_refused("@+1");
	assert_refused("@+Infinity");
}
END_TEST

START_TEST(refuse_number_non_javascript_exponent)
{
	assert_refused("@1E21");
	assert_refused("@1e21");
	assert_refused("@1e+20");
	assert_refused("@100e-2");
}
END_TEST

START_TEST(refuse_number_other_spellings)
{
	assert_refused("@nan");
	assert_refused("@inf");
	assert_refused("@-");
	assert_refused("@0.10000000000000001");
	assert_refused("@ 1");
}
END_TEST

START_TEST(refuse_nan_payload_not_canonical)
{
	assert_refused("@NaN:0x7ff8000000000000");
	assert_refused("@NaN:0xfff8000000000000");
	assert_refused("@NaN:0x7ff0000000000000");
	assert_refused("@NaN:0x3ff0000000000000");
	assert_refused("@NaN:0x7FF8000000000001");
	assert_refused("@NaN:0x7ff800000000001");
	assert_refused("@NaN:0x7ff80000000000001");
	assert_refused("@-NaN:0xfff8000000000001");
}
END_TEST

START_TEST(refuse_bytes_upper_case_prefix)
{
	assert_refused("@0X01");
}
END_TEST

START_TEST(refuse_bytes_upper_case_hex)
{
	assert_refused("@0xAB");
	assert_refused("@0x0A");
}
END_TEST

START_TEST(refuse_bytes_odd_or_bad_hex)
{
	assert_refused("@0x1");
	assert_refused("@0xzz");
	assert_refused("@0x 1");
}
END_TEST

START_TEST(refuse_bigint_negative_zero)
{
	assert_refused("@-0n");
}
END_TEST

START_TEST(refuse_bigint_leading_zeros)
{
	assert_refused("@042n");
	assert_refused("@00n");
	assert_refused("@-07n");
}
END_TEST

START_TEST(refuse_bigint_other_spellings)
{
	assert_refused("@n");
	assert_refused("@-n");
	assert_refused("@+1n");
	assert_refused("@1.5n");
	assert_refused("@0x1n");
	assert_refused("@1nn");
}
END_TEST

START_TEST(refuse_bigint_over_255_bytes)
{
	uint8_t mag[256];
	memset(mag, 0xff, sizeof(mag));
	struct kv_part huge = bigint_part(false, mag, sizeof(mag));
	struct kv_buf name = {0};
	ck_assert_int_eq(kvfs_name_format(&huge, &name), 0);
	assert_refused_n((const char *)name.data, name.len);
	kv_buf_free(&name);
	assert_roundtrip(&(struct kv_part){
		.type = KV_PART_BIGINT,
		.bigint = {false, mag, 255},
	});
}
END_TEST

/* ------------------------------------------------------- the bijection */

START_TEST(random_strings_roundtrip)
{
	uint8_t pool[PART_BYTES];
	rng_seed(1);
	for (int i = 0; i < 20000; i++) {
		struct kv_part p = string_n(pool, random_string(pool, 16));
		assert_roundtrip(&p);
	}
}
END_TEST

START_TEST(random_string_names_are_utf8_without_controls)
{
	uint8_t pool[PART_BYTES];
	rng_seed(2);
	for (int i = 0; i < 20000; i++) {
		struct kv_part p = string_n(pool, random_string(pool, 16));
		struct kv_buf name = {0};
		require(kvfs_name_format(&p, &name) == 0, "format failed");
		require(valid_utf8(name.data, name.len), "not UTF-8: %.*s",
			(int)name.len, (const char *)name.data);
		for (size_t k = 0; k < name.len; k++)
			require(name.data[k] >= 0x20 && name.data[k] != 0x7f,
				"a control in %.*s", (int)name.len,
				(const char *)name.data);
		require(p.len == 0 || name.data[0] != '@', "%.*s begins with @",
			(int)name.len, (const char *)name.data);
		require(!buf_is(&name, ".") && !buf_is(&name, ".."),
			"a dot name");
		kv_buf_free(&name);
	}
}
END_TEST

START_TEST(random_bytes_roundtrip)
{
	uint8_t pool[PART_BYTES];
	rng_seed(3);
	for (int i = 0; i < 5000; i++) {
		size_t len = rng_below(64);
		for (size_t k = 0; k < len; k++)
			pool[k] = (uint8_t)rng();
		struct kv_part p = bytes_part(pool, len);
		assert_roundtrip(&p);
	}
}
END_TEST

START_TEST(random_numbers_roundtrip)
{
	rng_seed(4);
	for (int i = 0; i < 20000; i++) {
		struct kv_part p = number_part(random_double());
		assert_roundtrip(&p);
	}
}
END_TEST

START_TEST(random_bigints_roundtrip)
{
	uint8_t pool[PART_BYTES];
	rng_seed(5);
	for (int i = 0; i < 5000; i++) {
		struct kv_part p = random_bigint(pool);
		assert_roundtrip(&p);
	}
}
END_TEST

START_TEST(all_strings_up_to_two_bytes_roundtrip)
{
	uint8_t s[2];
	assert_roundtrip(&(struct kv_part){.type = KV_PART_STRING,
					   .data = s, .len = 0});
	for (unsigned a = 0; a < 256; a++) {
		s[0] = (uint8_t)a;
		assert_roundtrip(&(struct kv_part){.type = KV_PART_STRING,
						   .data = s, .len = 1});
		for (unsigned b = 0; b < 256; b++) {
			s[1] = (uint8_t)b;
			assert_roundtrip(&(struct kv_part){
				.type = KV_PART_STRING, .data = s, .len = 2});
		}
	}
}
END_TEST

START_TEST(all_names_up_to_two_bytes_are_canonical_if_parsed)
{
	char s[2];
	int parsed = 0;
	for (unsigned a = 0; a < 256; a++) {
		s[0] = (char)a;
		parsed += assert_canonical_if_parsed(s, 1) >= 0;
		for (unsigned b = 0; b < 256; b++) {
			s[1] = (char)b;
			parsed += assert_canonical_if_parsed(s, 2) >= 0;
		}
	}
	/* printable ASCII pairs alone are thousands of names */
	ck_assert_int_gt(parsed, 5000);
}
END_TEST

/* Every name of three pieces from a set that reaches every branch. */
/* Call check on every name made of three of the n pieces, in order. */
static void each_three_piece_name(const char *const *pieces, int n,
				  int (*check)(const char *name, size_t len))
{
	char name[16];
	for (int a = 0; a < n; a++)
		for (int b = 0; b < n; b++)
			for (int c = 0; c < n; c++) {
				int len = snprintf(name, sizeof(name), "%s%s%s",
						   pieces[a], pieces[b],
						   pieces[c]);
				check(name, (size_t)len);
			}
}

START_TEST(all_three_piece_names_are_canonical_if_parsed)
{
	static const char *const pieces[] = {
		"@",  "%",  "%2",  "%2E", "%2e", "%40", ".",  "0",   "1",
		"-",  "+",  "e",   "n",   "x",   "0x",  "a",  "A",   "N",
		"aN", "NaN", "\"", "~",   ":",   "/",   "\xc3", "\xa9", "é",
	};
	each_three_piece_name(pieces, sizeof(pieces) / sizeof(*pieces),
			      assert_canonical_if_parsed);
}
END_TEST

START_TEST(random_names_are_canonical_if_parsed)
{
	static const char *const pieces[] = {
		"%",	 "%2E",	     "%40",	 "%2F",	 "%2f",	 "%41",
		"%C3",	 "%A9",	     "%FF",	 "%00",	 "%25",	 "%ED%A0%80",
		"@",	 ".",	     "n",	 "x",	 "0x",	 "e",
		"e+",	 "e-",	     "+",	 "-",	 "0",	 "1",
		"5",	 "9",	     "a",	 "A",	 "b",	 "f",
		"F",	 "E",	     "N",	 "NaN",	 "NaN:0x", "Infinity",
		"true",	 "false",    "\"",	 "\"\"", "~",	 ":",
		"\xc3\xa9", "\xc3", "\xa9",	 "\xe2\x82\xac", "\xed\xa0\x80",
		"\xf0\x9f\x98\x80", "\xff", "\t", " ",	 "/",	 "value",
	};
	enum { N = sizeof(pieces) / sizeof(*pieces) };
	int by_type[KV_PART_TRUE + 1] = {0};
	char name[128];
	rng_seed(6);
	for (int i = 0; i < 200000; i++) {
		size_t len = 0;
		if (rng() & 1)
			name[len++] = '@';
		for (size_t k = rng_below(7); k > 0; k--) {
			const char *piece = pieces[rng_below(N)];
			memcpy(name + len, piece, strlen(piece));
			len += strlen(piece);
		}
		int type = assert_canonical_if_parsed(name, len);
		if (type >= 0)
			by_type[type]++;
	}
	/* the generator reaches every kind of name it should */
	for (int t = KV_PART_BYTES; t <= KV_PART_TRUE; t++)
		ck_assert_msg(by_type[t] > 0, "no name of type %d parsed", t);
}
END_TEST

/* ------------------------------------------------------- long names */

static void display(const struct kv_part *part, struct kv_buf *out)
{
	out->len = 0;
	ck_assert_int_eq(kvfs_name_display(part, out), 0);
	ck_assert_int_eq(out->data[out->len], 0);
}

/* The head of a shortened name, between "@~" and the last '~'. */
static size_t short_head(const struct kv_buf *shown)
{
	ck_assert_uint_ge(shown->len, 19);
	return shown->len - 2 - 17;
}

/* The head is a prefix of the full name that ends between characters. */
static void assert_head_of(const struct kv_buf *shown, const struct kv_part *part)
{
	struct kv_buf full = {0};
	ck_assert_int_eq(kvfs_name_format(part, &full), 0);
	size_t head = short_head(shown);
	ck_assert_uint_lt(head, full.len);
	ck_assert_mem_eq(shown->data + 2, full.data, head);
	ck_assert((full.data[head] & 0xc0) != 0x80);
	const uint8_t *pct = memrchr(full.data, '%', head);
	ck_assert(!pct || (size_t)(pct - full.data) + 3 <= head);
	kv_buf_free(&full);
}

START_TEST(long_string_display_fits_name_max)
{
	char s[301];
	memset(s, 'a', 300);
	s[300] = 0;
	struct kv_part p = string_part(s);
	struct kv_buf shown = {0};
	display(&p, &shown);
	ck_assert_uint_le(shown.len, KVFS_NAME_MAX);
	ck_assert(kvfs_name_is_short((const char *)shown.data, shown.len));
	ck_assert(valid_utf8(shown.data, shown.len));
	assert_head_of(&shown, &p);
	assert_refused_n((const char *)shown.data, shown.len);
	kv_buf_free(&shown);
}
END_TEST

START_TEST(long_display_is_deterministic)
{
	char s[400];
	memset(s, 'q', sizeof(s));
	struct kv_part p = string_n(s, sizeof(s));
	struct kv_buf a = {0}, b = {0};
	display(&p, &a);
	display(&p, &b);
	ck_assert_uint_eq(a.len, b.len);
	ck_assert_mem_eq(a.data, b.data, a.len);
	kv_buf_free(&a);
	kv_buf_free(&b);
}
END_TEST

START_TEST(long_display_hash_is_blake2b_of_encoded_part)
{
	char s[300];
	memset(s, 'h', sizeof(s));
	struct kv_part p = string_n(s, sizeof(s));
	struct kv_buf shown = {0}, enc = {0};
	display(&p, &shown);
	ck_assert_int_eq(kv_part_encode(&p, &enc), 0);
	unsigned char digest[16];
	ck_assert_int_eq(crypto_generichash(digest, sizeof(digest), enc.data,
					    enc.len, NULL, 0),
			 0);
	char hex[33];
	sodium_bin2hex(hex, sizeof(hex), digest, 8);
	ck_assert_mem_eq(shown.data + shown.len - 16, hex, 16);
	ck_assert_int_eq(shown.data[shown.len - 17], '~');
	kv_buf_free(&shown);
	kv_buf_free(&enc);
}
END_TEST

START_TEST(long_display_same_head_different_names)
{
	char s[300];
	memset(s, 'z', sizeof(s));
	struct kv_part p = string_n(s, sizeof(s));
	struct kv_buf a = {0}, b = {0};
	display(&p, &a);
	s[299] = 'y';
	display(&p, &b);
	ck_assert_uint_eq(short_head(&a), short_head(&b));
	ck_assert_mem_eq(a.data, b.data, short_head(&a) + 2);
	ck_assert(a.len != b.len || memcmp(a.data, b.data, a.len) != 0);
	kv_buf_free(&a);
	kv_buf_free(&b);
}
END_TEST

/* Shift multi-byte characters and escapes across the cut. */
START_TEST(long_display_head_never_cuts_a_character)
{
	static const char *const fills[] = {"é", "日", "😀", "/", "\xff", "a/é"};
	for (size_t f = 0; f < sizeof(fills) / sizeof(*fills); f++) {
		for (size_t shift = 0; shift < 4; shift++) {
			char s[600];
			size_t len = shift;
			memset(s, 'b', shift);
			while (len + 4 < 300) {
				memcpy(s + len, fills[f], strlen(fills[f]));
				len += strlen(fills[f]);
			}
			struct kv_part p = string_n(s, len);
			struct kv_buf shown = {0};
			display(&p, &shown);
			ck_assert_uint_le(shown.len, KVFS_NAME_MAX);
			ck_assert(valid_utf8(shown.data, shown.len));
			ck_assert(kvfs_name_is_short((const char *)shown.data,
						     shown.len));
			assert_head_of(&shown, &p);
			kv_buf_free(&shown);
		}
	}
}
END_TEST

START_TEST(long_bytes_and_bigints_are_shortened)
{
	uint8_t mag[255];
	memset(mag, 0xab, sizeof(mag));
	struct kv_part parts[] = {
		bytes_part(mag, 200),
		bigint_part(true, mag, 255),
	};
	for (size_t i = 0; i < 2; i++) {
		struct kv_buf shown = {0};
		display(&parts[i], &shown);
		ck_assert_uint_le(shown.len, KVFS_NAME_MAX);
		ck_assert(kvfs_name_is_short((const char *)shown.data,
					     shown.len));
		assert_head_of(&shown, &parts[i]);
		kv_buf_free(&shown);
	}
}
END_TEST

START_TEST(display_is_full_name_up_to_name_max)
{
	char s[300];
	memset(s, 'm', sizeof(s));
	struct kv_buf shown = {0};
	struct kv_part fits = string_n(s, KVFS_NAME_MAX);
	display(&fits, &shown);
	ck_assert_uint_eq(shown.len, KVFS_NAME_MAX);
	ck_assert_mem_eq(shown.data, s, KVFS_NAME_MAX);
	struct kv_part over = string_n(s, KVFS_NAME_MAX + 1);
	display(&over, &shown);
	ck_assert(kvfs_name_is_short((const char *)shown.data, shown.len));
	s[0] = '/';
	struct kv_part escaped = string_n(s, KVFS_NAME_MAX - 1);
	display(&escaped, &shown);
	ck_assert(kvfs_name_is_short((const char *)shown.data, shown.len));
	kv_buf_free(&shown);
}
END_TEST

START_TEST(display_appends_to_out)
{
	struct kv_buf shown = {0};
	ck_assert_int_eq(kv_buf_append(&shown, "x/", 2), 0);
	struct kv_part p = number_part(42);
	ck_assert_int_eq(kvfs_name_display(&p, &shown), 0);
	ck_assert(buf_is(&shown, "x/@42"));
	ck_assert_int_eq(shown.data[shown.len], 0);
	kv_buf_free(&shown);
}
END_TEST

START_TEST(is_short_refuses_other_names)
{
	char big[300];
	memset(big, 'a', sizeof(big));
	memcpy(big, "@~", 2);
	memcpy(big + sizeof(big) - 17, "~0123456789abcdef", 17);
	ck_assert(kvfs_name_is_short("@~a~0123456789abcdef", 20));
	ck_assert(!kvfs_name_is_short("users", 5));
	ck_assert(!kvfs_name_is_short("@~a~0123456789ABCDEF", 20));
	ck_assert(!kvfs_name_is_short("@~a~0123456789abcde", 19));
	ck_assert(!kvfs_name_is_short("@~a-0123456789abcdef", 20));
	ck_assert(!kvfs_name_is_short("%40~a~0123456789abcdef", 22));
	ck_assert(!kvfs_name_is_short(big, sizeof(big)));
}
END_TEST

/* --------------------------------------------------------------- paths */

static struct key_vector *vectors;

/* The rows of key_vectors.tsv into vectors, for one test to free. */
static size_t load_vectors(void)
{
	size_t n = key_vectors_read(&vectors);
	ck_assert_uint_gt(n, 50);
	return n;
}

START_TEST(key_vectors_path_roundtrip)
{
	size_t n = load_vectors();
	for (size_t i = 0; i < n; i++) {
		struct kv_buf path = {0}, key = {0};
		struct kv_key decoded;
		ck_assert_int_eq(kvfs_key_to_path(vectors[i].key,
						  vectors[i].len, &path),
				 0);
		ck_assert_int_eq(path.data[path.len], 0);
		ck_assert_int_eq(kvfs_path_to_key((const char *)path.data,
						  path.len, &key),
				 0);
		ck_assert_msg(key.len == vectors[i].len &&
				      memcmp(key.data, vectors[i].key,
					     key.len) == 0,
			      "%s: path \"%s\" is another key",
			      vectors[i].json, (const char *)path.data);
		ck_assert_int_eq(kv_key_decode(vectors[i].key, vectors[i].len,
					       &decoded),
				 0);
		size_t slashes = 0;
		for (size_t k = 0; k < path.len; k++)
			slashes += path.data[k] == '/';
		ck_assert_uint_eq(slashes + 1, decoded.n);
		kv_key_free(&decoded);
		kv_buf_free(&path);
		kv_buf_free(&key);
	}
	key_vectors_free(vectors, n);
}
END_TEST

/* Skip one JSON value as Deno's probe wrote it; returns what follows. */
static const char *skip_json_value(const char *p)
{
	if (*p == '"') {
		for (p++; *p && *p != '"'; p++)
			if (*p == '\\' && p[1])
				p++;
		return *p ? p + 1 : p;
	}
	if (*p == '[')
		return strchr(p, ']') + 1;
	return p + strcspn(p, ",}");
}

static void append_text(struct kv_buf *out, const char *s, size_t len)
{
	ck_assert_int_eq(kv_buf_append(out, s, len), 0);
}

/*
 * The JavaScript of one part, from the JSON of Deno's probe: a string is
 * its JSON.stringify text, a finite number its JSON text, the special
 * numbers their names, bigints gain an 'n'.
 */
static void expected_js_part(const char *type, size_t tlen, const char *v,
			     size_t vlen, struct kv_buf *out)
{
	if (tlen == 6 && memcmp(type, "bigint", 6) == 0) {
		append_text(out, v + 1, vlen - 2);
		append_text(out, "n", 1);
	} else if (tlen == 10 && memcmp(type, "Uint8Array", 10) == 0) {
		append_text(out, "new Uint8Array([", 16);
		for (size_t i = 1; i + 1 < vlen; i++)
			append_text(out, v[i] == ',' ? ", " : v + i,
				    v[i] == ',' ? 2 : 1);
		append_text(out, "])", 2);
	} else if (tlen == 6 && memcmp(type, "number", 6) == 0 &&
		   v[0] == '"') {
		static const char neg_nan[] =
			"new Float64Array(new BigUint64Array("
			"[0xfff8000000000000n]).buffer)[0]";
		if (vlen == 6 && memcmp(v, "\"-NaN\"", 6) == 0)
			append_text(out, neg_nan, strlen(neg_nan));
		else
			append_text(out, v + 1, vlen - 2);
	} else {
		append_text(out, v, vlen);
	}
}

static void expected_js(const char *json, struct kv_buf *out)
{
	const char *p = json;
	ck_assert_int_eq(*p++, '[');
	append_text(out, "[", 1);
	for (bool first = true; *p == '{'; first = false) {
		static const char type_key[] = "{\"type\":\"";
		static const char value_key[] = "\",\"value\":";
		if (!first)
			append_text(out, ", ", 2);
		ck_assert(strncmp(p, type_key, 9) == 0);
		const char *type = p + 9;
		const char *end = strchr(type, '"');
		ck_assert(strncmp(end, value_key, 10) == 0);
		const char *v = end + 10;
		p = skip_json_value(v);
		expected_js_part(type, (size_t)(end - type), v, (size_t)(p - v),
				 out);
		ck_assert_int_eq(*p++, '}');
		if (*p == ',')
			p++;
	}
	ck_assert_int_eq(*p, ']');
	append_text(out, "]", 1);
}

START_TEST(key_vectors_js_matches_deno_json)
{
	size_t n = load_vectors();
	for (size_t i = 0; i < n; i++) {
		struct kv_buf js = {0}, want = {0};
		ck_assert_int_eq(kvfs_key_to_js(vectors[i].key, vectors[i].len,
						&js),
				 0);
		ck_assert_int_eq(js.data[js.len], 0);
		expected_js(vectors[i].json, &want);
		ck_assert_msg(js.len == want.len &&
				      memcmp(js.data, want.data, js.len) == 0,
			      "%s gave %s, want %.*s", vectors[i].json,
			      (const char *)js.data, (int)want.len,
			      (const char *)want.data);
		kv_buf_free(&js);
		kv_buf_free(&want);
	}
	key_vectors_free(vectors, n);
}
END_TEST

static void encode_parts(const struct kv_part *parts, size_t n,
			 struct kv_buf *out)
{
	ck_assert_int_eq(kv_key_encode(parts, n, out), 0);
}

START_TEST(path_of_spec_example)
{
	struct kv_part parts[] = {
		string_part("tenant"), string_part("t1"), string_part("users"),
		number_part(42),       string_part("profile"),
	};
	static const char path[] = "tenant/t1/users/@42/profile";
	struct kv_buf want = {0}, key = {0}, back = {0};
	encode_parts(parts, 5, &want);
	ck_assert_int_eq(kvfs_path_to_key(path, strlen(path), &key), 0);
	ck_assert_uint_eq(key.len, want.len);
	ck_assert_mem_eq(key.data, want.data, key.len);
	ck_assert_int_eq(kvfs_key_to_path(key.data, key.len, &back), 0);
	ck_assert(buf_is(&back, path));
	kv_buf_free(&want);
	kv_buf_free(&key);
	kv_buf_free(&back);
}
END_TEST

START_TEST(path_empty_is_root_key)
{
	struct kv_buf key = {0}, path = {0};
	ck_assert_int_eq(kvfs_path_to_key("", 0, &key), 0);
	ck_assert_uint_eq(key.len, 0);
	ck_assert_int_eq(kvfs_key_to_path(NULL, 0, &path), 0);
	ck_assert_uint_eq(path.len, 0);
	ck_assert_int_eq(path.data[0], 0);
	kv_buf_free(&key);
	kv_buf_free(&path);
}
END_TEST

static void assert_path_refused(const char *path)
{
	struct kv_buf key = {0};
	ck_assert_int_eq(kv_buf_append(&key, "k", 1), 0);
	ck_assert_msg(kvfs_path_to_key(path, strlen(path), &key) == -EINVAL,
		      "path \"%s\" was not refused", path);
	ck_assert_uint_eq(key.len, 1);
	kv_buf_free(&key);
}

START_TEST(path_trailing_slash_refused)
{
	assert_path_refused("a/");
	assert_path_refused("a/@42/");
}
END_TEST

START_TEST(path_doubled_slash_refused)
{
	assert_path_refused("a//b");
}
END_TEST

START_TEST(path_leading_slash_refused)
{
	assert_path_refused("/a");
	assert_path_refused("/");
}
END_TEST

START_TEST(path_with_shortened_name_refused)
{
	assert_path_refused("a/@~aaaa~0123456789abcdef");
}
END_TEST

START_TEST(path_with_bad_name_refused)
{
	assert_path_refused("a/@value");
	assert_path_refused("a/./b");
	assert_path_refused("a/%2f");
}
END_TEST

/*
 * A key that another program wrote may hold any NaN (this one is the fuzz
 * regression nan-payload-path-unreachable); its path reaches exactly it,
 * although the key codec writes the NaNs it is given in canonical form.
 */
START_TEST(path_of_nan_payload_reaches_its_key)
{
	static const uint8_t key[] = {0x21, 0xff, 0xf0, 0x02, 0, 0, 0, 0, 0};
	static const uint8_t neg_key[] = {0x21, 0x00, 0x0f, 0xff, 0xff,
					  0xff, 0xff, 0xff, 0xfe};
	static const char path[] = "@NaN:0x7ff0020000000000";
	static const char neg_path[] = "@NaN:0xfff0000000000001";
	struct kv_buf got = {0}, back = {0};
	ck_assert_int_eq(kvfs_key_to_path(key, sizeof(key), &back), 0);
	ck_assert(buf_is(&back, path));
	ck_assert_int_eq(kvfs_path_to_key(path, strlen(path), &got), 0);
	ck_assert_uint_eq(got.len, sizeof(key));
	ck_assert_mem_eq(got.data, key, sizeof(key));
	got.len = back.len = 0;
	ck_assert_int_eq(kvfs_key_to_path(neg_key, sizeof(neg_key), &back), 0);
	ck_assert(buf_is(&back, neg_path));
	ck_assert_int_eq(kvfs_path_to_key(neg_path, strlen(neg_path), &got), 0);
	ck_assert_uint_eq(got.len, sizeof(neg_key));
	ck_assert_mem_eq(got.data, neg_key, sizeof(neg_key));
	kv_buf_free(&got);
	kv_buf_free(&back);
}
END_TEST

START_TEST(path_of_canonical_nans_is_deno_key)
{
	static const uint8_t nan[] = {0x21, 0xff, 0xf8, 0, 0, 0, 0, 0, 0};
	static const uint8_t neg_nan[] = {0x21, 0x00, 0x07, 0xff, 0xff,
					  0xff, 0xff, 0xff, 0xff};
	struct kv_buf key = {0};
	ck_assert_int_eq(kvfs_path_to_key("@NaN/@-NaN", 10, &key), 0);
	ck_assert_uint_eq(key.len, 18);
	ck_assert_mem_eq(key.data, nan, 9);
	ck_assert_mem_eq(key.data + 9, neg_nan, 9);
	kv_buf_free(&key);
}
END_TEST

START_TEST(random_keys_path_roundtrip)
{
	static uint8_t pool[MAX_PARTS][PART_BYTES];
	rng_seed(7);
	for (int i = 0; i < 5000; i++) {
		struct kv_part parts[MAX_PARTS];
		size_t n = 1 + rng_below(MAX_PARTS);
		for (size_t k = 0; k < n; k++)
			parts[k] = random_part(pool[k]);
		struct kv_buf key = {0}, path = {0}, back = {0};
		require(kv_key_encode(parts, n, &key) == 0, "encode failed");
		require(kvfs_key_to_path(key.data, key.len, &path) == 0,
			"key_to_path failed");
		require(kvfs_path_to_key((const char *)path.data, path.len,
					 &back) == 0,
			"path %s does not parse", (const char *)path.data);
		require(back.len == key.len &&
				memcmp(back.data, key.data, key.len) == 0,
			"path %s is another key", (const char *)path.data);
		kv_buf_free(&key);
		kv_buf_free(&path);
		kv_buf_free(&back);
	}
}
END_TEST

START_TEST(key_to_path_malformed_key_refused)
{
	static const uint8_t bad[][3] = {{0x02, 'a', 0}, {0x21, 0, 0}, {0x05}};
	static const size_t lens[] = {2, 3, 1};
	for (size_t i = 0; i < 3; i++) {
		struct kv_buf path = {0}, js = {0};
		ck_assert_int_eq(kv_buf_append(&path, "p", 1), 0);
		ck_assert_int_eq(kvfs_key_to_path(bad[i], lens[i], &path),
				 -EINVAL);
		ck_assert_uint_eq(path.len, 1);
		ck_assert_int_eq(kvfs_key_to_js(bad[i], lens[i], &js), -EINVAL);
		ck_assert_uint_eq(js.len, 0);
		kv_buf_free(&path);
		kv_buf_free(&js);
	}
}
END_TEST

/* ------------------------------------------------------------ user.kv.key */

static void assert_js(const struct kv_part *parts, size_t n, const char *want)
{
	struct kv_buf key = {0}, js = {0};
	encode_parts(parts, n, &key);
	ck_assert_int_eq(kvfs_key_to_js(key.data, key.len, &js), 0);
	ck_assert_msg(buf_is(&js, want), "gave %.*s, want %s", (int)js.len,
		      (const char *)js.data, want);
	ck_assert_int_eq(js.data[js.len], 0);
	kv_buf_free(&key);
	kv_buf_free(&js);
}

START_TEST(js_of_header_example)
{
	static const uint8_t b[] = {1, 2};
	struct kv_part parts[] = {
		string_part("users"),
		number_part(42),
		bigint_part(false, (const uint8_t *)"\x0a", 1),
		{.type = KV_PART_TRUE},
		bytes_part(b, 2),
	};
	assert_js(parts, 5, "[\"users\", 42, 10n, true, new Uint8Array([1, 2])]");
}
END_TEST

START_TEST(js_empty_key)
{
	assert_js(NULL, 0, "[]");
}
END_TEST

START_TEST(js_string_escapes_as_json_stringify)
{
	struct kv_part p = string_n("q\"b\\\b\f\n\r\t\x01\x1f\x7f/é", 15);
	assert_js(&p, 1, "[\"q\\\"b\\\\\\b\\f\\n\\r\\t\\u0001\\u001f\x7f/é\"]");
}
END_TEST

START_TEST(js_string_invalid_utf8_as_lone_surrogates)
{
	struct kv_part p = string_part("a\xff\xed\xa0\x80");
	assert_js(&p, 1, "[\"a\\udcff\\udced\\udca0\\udc80\"]");
}
END_TEST

START_TEST(js_special_numbers)
{
	struct kv_part parts[] = {
		number_part(-0.0),
		number_part(from_bits(0x7ff8000000000000u)),
		number_part(INFINITY),
		number_part(-INFINITY),
		number_part(1e21),
	};
	assert_js(parts, 5, "[-0, NaN, Infinity, -Infinity, 1e+21]");
}
END_TEST

START_TEST(js_negative_nan_as_float64_expression)
{
	struct kv_part p = number_part(from_bits(0xfff8000000000000u));
	assert_js(&p, 1,
		  "[new Float64Array(new BigUint64Array("
		  "[0xfff8000000000000n]).buffer)[0]]");
}
END_TEST

START_TEST(js_empty_bytes_and_negative_bigint)
{
	struct kv_part parts[] = {
		bytes_part(NULL, 0),
		bigint_part(true, (const uint8_t *)"\x01\x00", 2),
		{.type = KV_PART_FALSE},
		string_part(""),
	};
	assert_js(parts, 4, "[new Uint8Array([]), -256n, false, \"\"]");
}
END_TEST

/*
 * kvfs_name_to_key() appends what kvfs_name_parse() and kv_part_encode()
 * give, and refuses what parse refuses. Aborts instead of asserting on
 * success: check marks each assertion with a write to its pipe. Returns
 * 0, in the shape each_three_piece_name() calls.
 */
static int assert_to_key_is_parse_then_encode(const char *name, size_t len)
{
	struct kv_buf got = {0}, want = {0}, storage = {0};
	struct kv_part part;
	int want_r = kvfs_name_parse(name, len, &part, &storage);
	if (want_r == 0)
		want_r = kv_part_encode(&part, &want);
	int r = kvfs_name_to_key(name, len, &got);
	if (r != want_r || got.len != want.len ||
	    (got.len && memcmp(got.data, want.data, got.len) != 0))
		ck_abort_msg("name '%.*s': %d, %zu bytes; parse and encode: "
			     "%d, %zu bytes", (int)len, name, r, got.len,
			     want_r, want.len);
	kv_buf_free(&got);
	kv_buf_free(&want);
	kv_buf_free(&storage);
	return 0;
}

START_TEST(name_to_key_of_all_names_up_to_two_bytes_is_parse_then_encode)
{
	char name[2] = "";
	assert_to_key_is_parse_then_encode(name, 0);
	for (int a = 0; a < 256; a++) {
		name[0] = (char)a;
		assert_to_key_is_parse_then_encode(name, 1);
		for (int b = 0; b < 256; b++) {
			name[1] = (char)b;
			assert_to_key_is_parse_then_encode(name, 2);
		}
	}
}
END_TEST

START_TEST(name_to_key_of_three_piece_names_is_parse_then_encode)
{
	/* plain characters, and what makes a name not plain: a leading '@',
	 * escapes right and wrong, bytes that begin no character, dots */
	static const char *const pieces[] = {
		"a",   "\xc3\xa9", ".",	   "@",	   "%",	   "%2F", "%2f", "%40",
		"%2E", "\xff",	   "\xc3", "\x01", "0x",   "n",	  "1",	 "~",
	};
	each_three_piece_name(pieces, sizeof(pieces) / sizeof(*pieces),
			      assert_to_key_is_parse_then_encode);
}
END_TEST

START_TEST(name_to_key_of_nan_payload_reaches_its_key)
{
	static const uint8_t key[] = {0x21, 0xff, 0xf0, 0x02, 0, 0, 0, 0, 0};
	static const char name[] = "@NaN:0x7ff0020000000000";
	struct kv_buf got = {0};
	ck_assert_int_eq(kvfs_name_to_key(name, strlen(name), &got), 0);
	ck_assert_uint_eq(got.len, sizeof(key));
	ck_assert_mem_eq(got.data, key, sizeof(key));
	kv_buf_free(&got);
}
END_TEST

START_TEST(name_to_key_appends_and_leaves_out_alone_on_refusal)
{
	static const char *const refused[] = {
		"", ".", "..", "a/b", "%2f", "@value", "@01", "\xff",
	};
	static const uint8_t plain_key[] = {0x02, 'f', '.', 'j', 0x00};
	struct kv_buf out = {0};
	ck_assert_int_eq(kv_buf_append(&out, "xy", 2), 0);
	for (size_t i = 0; i < sizeof(refused) / sizeof(*refused); i++) {
		ck_assert_int_eq(kvfs_name_to_key(refused[i],
						  strlen(refused[i]), &out),
				 -EINVAL);
		ck_assert_uint_eq(out.len, 2);
	}
	ck_assert_int_eq(kvfs_name_to_key("f.j", 3, &out), 0);
	ck_assert_uint_eq(out.len, 2 + sizeof(plain_key));
	ck_assert_mem_eq(out.data, "xy", 2);
	ck_assert_mem_eq(out.data + 2, plain_key, sizeof(plain_key));
	kv_buf_free(&out);
}
END_TEST

START_TEST(name_to_key_of_a_bigint_past_255_bytes_is_einval)
{
	char name[703];
	name[0] = '@';
	memset(name + 1, '9', 700);
	name[701] = 'n';
	name[702] = 0;
	struct kv_buf out = {0};
	ck_assert_int_eq(kvfs_name_to_key(name, strlen(name), &out), -EINVAL);
	ck_assert_uint_eq(out.len, 0);
	kv_buf_free(&out);
}
END_TEST

static Suite *name_suite(void)
{
	Suite *s = suite_create("name");
	TCase *table = tcase_create("table");
	tcase_add_test(table, string_is_its_text);
	tcase_add_test(table, string_slash_is_escaped);
	tcase_add_test(table, string_percent_is_escaped);
	tcase_add_test(table, string_controls_nul_and_del_are_escaped);
	tcase_add_test(table, string_leading_at_is_escaped);
	tcase_add_test(table, string_inner_at_is_plain);
	tcase_add_test(table, string_invalid_utf8_bytes_are_escaped);
	tcase_add_test(table, string_encoded_surrogates_are_escaped);
	tcase_add_test(table, string_dot_and_dotdot_are_escaped);
	tcase_add_test(table, string_other_dots_are_plain);
	tcase_add_test(table, string_empty_is_at_quotes);
	tcase_add_test(table, number_integer);
	tcase_add_test(table, number_fraction);
	tcase_add_test(table, number_exponent);
	tcase_add_test(table, number_negative_zero);
	tcase_add_test(table, number_nan);
	tcase_add_test(table, number_infinities);
	tcase_add_test(table, number_negative_nan);
	tcase_add_test(table, number_nan_payload_named_by_its_bits);
	tcase_add_test(table, bigint_positive);
	tcase_add_test(table, bigint_negative);
	tcase_add_test(table, bigint_zero);
	tcase_add_test(table, boolean_true_and_false);
	tcase_add_test(table, bytes_lower_case_hex);
	tcase_add_test(table, bytes_empty);
	suite_add_tcase(s, table);

	TCase *refuse = tcase_create("refusals");
	tcase_add_test(refuse, refuse_empty_name);
	tcase_add_test(refuse, refuse_dot_and_dotdot);
	tcase_add_test(refuse, refuse_slash);
	tcase_add_test(refuse, refuse_nul);
	tcase_add_test(refuse, refuse_raw_controls);
	tcase_add_test(refuse, refuse_lower_case_escape);
	tcase_add_test(refuse, refuse_escape_of_byte_needing_none);
	tcase_add_test(refuse, refuse_escaped_dot_in_longer_name);
	tcase_add_test(refuse, refuse_broken_escape);
	tcase_add_test(refuse, refuse_raw_invalid_utf8);
	tcase_add_test(refuse, refuse_raw_leading_at_that_is_no_form);
	tcase_add_test(refuse, refuse_reserved_value_name);
	tcase_add_test(refuse, refuse_shortened_name);
	tcase_add_test(refuse, refuse_number_leading_zero);
	tcase_add_test(refuse, refuse_number_trailing_fraction_zero);
	tcase_add_test(refuse, refuse_number_plus_sign);
	tcase_add_test(refuse, refuse_number_non_javascript_exponent);
	tcase_add_test(refuse, refuse_number_other_spellings);
	tcase_add_test(refuse, refuse_nan_payload_not_canonical);
	tcase_add_test(refuse, refuse_bytes_upper_case_prefix);
	tcase_add_test(refuse, refuse_bytes_upper_case_hex);
	tcase_add_test(refuse, refuse_bytes_odd_or_bad_hex);
	tcase_add_test(refuse, refuse_bigint_negative_zero);
	tcase_add_test(refuse, refuse_bigint_leading_zeros);
	tcase_add_test(refuse, refuse_bigint_other_spellings);
	tcase_add_test(refuse, refuse_bigint_over_255_bytes);
	suite_add_tcase(s, refuse);

	TCase *bij = tcase_create("bijection");
	tcase_set_timeout(bij, 120);
	tcase_add_test(bij, random_strings_roundtrip);
	tcase_add_test(bij, random_string_names_are_utf8_without_controls);
	tcase_add_test(bij, random_bytes_roundtrip);
	tcase_add_test(bij, random_numbers_roundtrip);
	tcase_add_test(bij, random_bigints_roundtrip);
	tcase_add_test(bij, all_strings_up_to_two_bytes_roundtrip);
	tcase_add_test(bij, all_names_up_to_two_bytes_are_canonical_if_parsed);
	tcase_add_test(bij, all_three_piece_names_are_canonical_if_parsed);
	tcase_add_test(bij, random_names_are_canonical_if_parsed);
	suite_add_tcase(s, bij);

	TCase *lng = tcase_create("long");
	tcase_add_test(lng, long_string_display_fits_name_max);
	tcase_add_test(lng, long_display_is_deterministic);
	tcase_add_test(lng, long_display_hash_is_blake2b_of_encoded_part);
	tcase_add_test(lng, long_display_same_head_different_names);
	tcase_add_test(lng, long_display_head_never_cuts_a_character);
	tcase_add_test(lng, long_bytes_and_bigints_are_shortened);
	tcase_add_test(lng, display_is_full_name_up_to_name_max);
	tcase_add_test(lng, display_appends_to_out);
	tcase_add_test(lng, is_short_refuses_other_names);
	suite_add_tcase(s, lng);

	TCase *paths = tcase_create("paths");
	tcase_set_timeout(paths, 60);
	tcase_add_test(paths, key_vectors_path_roundtrip);
	tcase_add_test(paths, key_vectors_js_matches_deno_json);
	tcase_add_test(paths, path_of_spec_example);
	tcase_add_test(paths, path_empty_is_root_key);
	tcase_add_test(paths, path_trailing_slash_refused);
	tcase_add_test(paths, path_doubled_slash_refused);
	tcase_add_test(paths, path_leading_slash_refused);
	tcase_add_test(paths, path_with_shortened_name_refused);
	tcase_add_test(paths, path_with_bad_name_refused);
	tcase_add_test(paths, path_of_nan_payload_reaches_its_key);
	tcase_add_test(paths, path_of_canonical_nans_is_deno_key);
	tcase_add_test(paths,
		       name_to_key_of_all_names_up_to_two_bytes_is_parse_then_encode);
	tcase_add_test(paths, name_to_key_of_three_piece_names_is_parse_then_encode);
	tcase_add_test(paths, name_to_key_of_nan_payload_reaches_its_key);
	tcase_add_test(paths, name_to_key_appends_and_leaves_out_alone_on_refusal);
	tcase_add_test(paths, name_to_key_of_a_bigint_past_255_bytes_is_einval);
	tcase_add_test(paths, random_keys_path_roundtrip);
	tcase_add_test(paths, key_to_path_malformed_key_refused);
	tcase_add_test(paths, js_of_header_example);
	tcase_add_test(paths, js_empty_key);
	tcase_add_test(paths, js_string_escapes_as_json_stringify);
	tcase_add_test(paths, js_string_invalid_utf8_as_lone_surrogates);
	tcase_add_test(paths, js_special_numbers);
	tcase_add_test(paths, js_negative_nan_as_float64_expression);
	tcase_add_test(paths, js_empty_bytes_and_negative_bigint);
	suite_add_tcase(s, paths);
	return s;
}

int main(void)
{
	return run_suite(name_suite());
}
