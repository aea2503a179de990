/*
 * test_key.c — the key codec against the keys the real Deno wrote
 * (denokv/key_vectors.tsv), against an order of key parts defined here
 * independently of the encoding, and the number and bigint texts of key
 * part names against JavaScript's.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "kv_key.h"
#include "support.h"

enum { MAX_PARTS = 8, PART_BYTES = 300 };

/* A key whose parts own their payloads. */
struct tkey {
	struct kv_part parts[MAX_PARTS];
	uint8_t pool[MAX_PARTS][PART_BYTES];
	size_t n;
};

/* A row of key_vectors.tsv (rows[i]) with its key read from the JSON. */
struct vector {
	struct tkey key;
	const uint8_t *enc;
	size_t len;
	const char *line;
};

static struct key_vector *rows;
static struct vector *vectors;
static size_t nvectors;

/* ---------------------------------------------------------------- helpers */

static void encode_or_fail(const struct kv_part *parts, size_t n,
			   struct kv_buf *out)
{
	out->len = 0;
	ck_assert_int_eq(kv_key_encode(parts, n, out), 0);
}

/* Bit-exact, except that all NaNs of one sign are one key. */
static bool same_number(double a, double b)
{
	if (isnan(a) || isnan(b))
		return isnan(a) && isnan(b) && signbit(a) == signbit(b);
	return to_bits(a) == to_bits(b);
}

static bool same_part(const struct kv_part *a, const struct kv_part *b)
{
	if (a->type == KV_PART_NUMBER && b->type == KV_PART_NUMBER)
		return same_number(a->num, b->num);
	return parts_equal(a, b);
}

static void assert_same_key(const struct kv_part *a, size_t an,
			    const struct kv_part *b, size_t bn,
			    const char *what)
{
	ck_assert_msg(an == bn, "%s: %zu parts, expected %zu", what, an, bn);
	for (size_t i = 0; i < an; i++)
		ck_assert_msg(same_part(&a[i], &b[i]), "%s: part %zu differs",
			      what, i);
}

/* ------------------------------------------- key_vectors.tsv key_json */

/*
 * Just enough JSON for key_json: an array of {"type": ..., "value": ...}
 * whose values are strings, numbers, booleans or arrays of byte numbers.
 */
struct json {
	const char *p;
};

static void skip_ws(struct json *j)
{
	while (*j->p == ' ')
		j->p++;
}

static void expect(struct json *j, char c)
{
	skip_ws(j);
	ck_assert_msg(*j->p == c, "json: expected '%c' at \"%s\"", c, j->p);
	j->p++;
}

static bool accept(struct json *j, char c)
{
	skip_ws(j);
	if (*j->p != c)
		return false;
	j->p++;
	return true;
}

static unsigned read_hex4(struct json *j)
{
	unsigned u = 0;
	for (int i = 0; i < 4; i++) {
		int h = store_hex_digit(*j->p++);
		ck_assert_int_ge(h, 0);
		u = u << 4 | (unsigned)h;
	}
	return u;
}

static unsigned read_escape(struct json *j)
{
	char c = *j->p++;
	switch (c) {
	case 'n':
		return '\n';
	case 't':
		return '\t';
	case 'r':
		return '\r';
	case 'b':
		return '\b';
	case 'f':
		return '\f';
	case 'u':
		break;
	default:
		return (unsigned char)c;
	}
	unsigned cp = read_hex4(j);
	if (cp >= 0xd800 && cp < 0xdc00 && j->p[0] == '\\' && j->p[1] == 'u') {
		j->p += 2;
		unsigned lo = read_hex4(j);
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	return cp;
}

/* A JSON string as UTF-8; returns its length. */
static size_t read_string(struct json *j, uint8_t *out, size_t cap)
{
	expect(j, '"');
	size_t n = 0;
	while (*j->p != '"') {
		ck_assert_msg(*j->p != '\0', "json: unterminated string");
		ck_assert_uint_lt(n + 4, cap);
		if (*j->p == '\\') {
			j->p++;
			n += put_utf8(out + n, read_escape(j));
		} else {
			out[n++] = (uint8_t)*j->p++;
		}
	}
	j->p++;
	out[n] = '\0';
	return n;
}

static double read_number_value(struct json *j)
{
	skip_ws(j);
	if (*j->p == '"') {
		uint8_t word[16];
		read_string(j, word, sizeof(word));
		if (strcmp((char *)word, "NaN") == 0)
			return from_bits(0x7ff8000000000000u);
		if (strcmp((char *)word, "-NaN") == 0)
			return from_bits(0xfff8000000000000u);
		if (strcmp((char *)word, "Infinity") == 0)
			return INFINITY;
		if (strcmp((char *)word, "-Infinity") == 0)
			return -INFINITY;
		ck_assert_str_eq((char *)word, "-0");
		return -0.0;
	}
	char *end;
	double v = strtod(j->p, &end);
	ck_assert_ptr_ne(end, j->p);
	j->p = end;
	return v;
}

static void read_byte_array(struct json *j, struct kv_part *part, uint8_t *pool)
{
	expect(j, '[');
	part->len = 0;
	part->data = pool;
	if (accept(j, ']'))
		return;
	do {
		char *end;
		long b = strtol(j->p, &end, 10);
		ck_assert(end != j->p && b >= 0 && b <= 255);
		ck_assert_uint_lt(part->len, PART_BYTES);
		pool[part->len++] = (uint8_t)b;
		j->p = end;
	} while (accept(j, ','));
	expect(j, ']');
}

static void read_bigint_value(struct json *j, struct kv_part *part,
			      uint8_t *pool)
{
	char text[PART_BYTES * 3];
	size_t n = read_string(j, (uint8_t *)text, sizeof(text));
	struct kv_buf storage = {0};
	ck_assert_int_eq(kv_bigint_from_decimal(text, n, true, &part->bigint,
						&storage),
			 0);
	if (part->bigint.len > 0)
		memcpy(pool, part->bigint.mag, part->bigint.len);
	part->bigint.mag = pool;
	kv_buf_free(&storage);
}

static void read_value(struct json *j, const char *type, struct kv_part *part,
		       uint8_t *pool)
{
	if (strcmp(type, "string") == 0) {
		part->type = KV_PART_STRING;
		part->len = read_string(j, pool, PART_BYTES);
		part->data = pool;
	} else if (strcmp(type, "Uint8Array") == 0) {
		part->type = KV_PART_BYTES;
		read_byte_array(j, part, pool);
	} else if (strcmp(type, "bigint") == 0) {
		part->type = KV_PART_BIGINT;
		read_bigint_value(j, part, pool);
	} else if (strcmp(type, "number") == 0) {
		part->type = KV_PART_NUMBER;
		part->num = read_number_value(j);
	} else {
		ck_assert_str_eq(type, "boolean");
		skip_ws(j);
		bool t = strncmp(j->p, "true", 4) == 0;
		ck_assert(t || strncmp(j->p, "false", 5) == 0);
		j->p += t ? 4 : 5;
		part->type = t ? KV_PART_TRUE : KV_PART_FALSE;
	}
}

/* Step over a string, a number, a boolean or an array of numbers. */
static void skip_value(struct json *j)
{
	skip_ws(j);
	if (*j->p == '"') {
		uint8_t scratch[PART_BYTES * 3];
		read_string(j, scratch, sizeof(scratch));
		return;
	}
	int depth = 0;
	while (*j->p && (depth > 0 || (*j->p != ',' && *j->p != '}'))) {
		depth += *j->p == '[';
		depth -= *j->p == ']';
		j->p++;
	}
}

/* The value may come before the type, so it is read in a second pass. */
static void read_part(struct json *j, struct kv_part *part, uint8_t *pool)
{
	const char *start = j->p;
	char type[32] = "";
	uint8_t name[32];
	expect(j, '{');
	do {
		read_string(j, name, sizeof(name));
		expect(j, ':');
		if (strcmp((char *)name, "type") == 0)
			read_string(j, (uint8_t *)type, sizeof(type));
		else
			skip_value(j);
	} while (accept(j, ','));
	ck_assert_msg(type[0], "json: part without type");
	j->p = start;
	expect(j, '{');
	do {
		read_string(j, name, sizeof(name));
		expect(j, ':');
		if (strcmp((char *)name, "value") == 0)
			read_value(j, type, part, pool);
		else
			skip_value(j);
	} while (accept(j, ','));
	expect(j, '}');
}

static void read_key_json(const char *text, struct tkey *key)
{
	struct json j = {text};
	key->n = 0;
	expect(&j, '[');
	do {
		ck_assert_uint_lt(key->n, MAX_PARTS);
		read_part(&j, &key->parts[key->n], key->pool[key->n]);
		key->n++;
	} while (accept(&j, ','));
	expect(&j, ']');
}

static void vectors_setup(void)
{
	nvectors = key_vectors_read(&rows);
	ck_assert_uint_ge(nvectors, 60);
	vectors = calloc(nvectors, sizeof(*vectors));
	ck_assert_ptr_nonnull(vectors);
	for (size_t i = 0; i < nvectors; i++) {
		vectors[i].line = rows[i].json;
		vectors[i].enc = rows[i].key;
		vectors[i].len = rows[i].len;
		read_key_json(rows[i].json, &vectors[i].key);
	}
}

static void vectors_teardown(void)
{
	key_vectors_free(rows, nvectors);
	free(vectors);
	rows = NULL;
	vectors = NULL;
	nvectors = 0;
}

/* ----------------------------------------------------- vector tests */

START_TEST(key_vectors_encode_byte_identical)
{
	struct kv_buf out = {0};
	for (size_t i = 0; i < nvectors; i++) {
		struct vector *v = &vectors[i];
		encode_or_fail(v->key.parts, v->key.n, &out);
		ck_assert_msg(out.len == v->len &&
				      memcmp(out.data, v->enc, v->len) == 0,
			      "encoding of %s differs from Deno's", v->line);
	}
	kv_buf_free(&out);
}
END_TEST

START_TEST(key_vectors_decode_to_their_parts)
{
	for (size_t i = 0; i < nvectors; i++) {
		struct vector *v = &vectors[i];
		uint8_t *copy = malloc(v->len);
		memcpy(copy, v->enc, v->len);
		struct kv_key key;
		ck_assert_int_eq(kv_key_decode(copy, v->len, &key), 0);
		free(copy);
		assert_same_key(key.parts, key.n, v->key.parts, v->key.n,
				v->line);
		kv_key_free(&key);
	}
}
END_TEST

START_TEST(key_vectors_part_span_steps_through_parts)
{
	struct kv_buf one = {0};
	for (size_t i = 0; i < nvectors; i++) {
		struct vector *v = &vectors[i];
		size_t pos = 0;
		for (size_t p = 0; p < v->key.n; p++) {
			encode_or_fail(&v->key.parts[p], 1, &one);
			long span = kv_part_span(v->enc + pos, v->len - pos);
			ck_assert_msg(span == (long)one.len,
				      "%s: part %zu spans %ld, not %zu",
				      v->line, p, span, one.len);
			pos += (size_t)span;
		}
		ck_assert_uint_eq(pos, v->len);
	}
	kv_buf_free(&one);
}
END_TEST

START_TEST(key_part_decode_points_into_buf_unless_rewritten)
{
	for (size_t i = 0; i < nvectors; i++) {
		struct vector *v = &vectors[i];
		struct kv_buf scratch = {0};
		size_t pos = 0;
		while (pos < v->len) {
			size_t start = pos;
			struct kv_part part;
			ck_assert_int_eq(kv_part_decode(v->enc, v->len, &pos,
							&part, &scratch),
					 0);
			bool escaped = (part.type == KV_PART_BYTES ||
					part.type == KV_PART_STRING) &&
				       part.len != pos - start - 2;
			const uint8_t *p = part.type == KV_PART_BIGINT
						   ? part.bigint.mag
						   : part.data;
			bool rewritten = escaped ||
					 (part.type == KV_PART_BIGINT &&
					  part.bigint.negative);
			if (p && !rewritten)
				ck_assert(p > v->enc + start &&
					  p <= v->enc + pos);
			if (rewritten)
				ck_assert(p >= scratch.data &&
					  p < scratch.data + scratch.len);
		}
		kv_buf_free(&scratch);
	}
}
END_TEST

/*
 * Every truncation of a Deno key is refused, except where the prefix is
 * itself a key: at a part boundary, or just after the 00 of an escaped zero
 * (that 00 then ends the string or bytes part early).
 */
struct layout {
	size_t start[MAX_PARTS + 1];
	enum kv_part_type type[MAX_PARTS];
};

static void part_layout(const struct vector *v, struct layout *l)
{
	struct kv_buf one = {0};
	l->start[0] = 0;
	for (size_t p = 0; p < v->key.n; p++) {
		encode_or_fail(&v->key.parts[p], 1, &one);
		l->start[p + 1] = l->start[p] + one.len;
		l->type[p] = v->key.parts[p].type;
	}
	kv_buf_free(&one);
}

/* Parts a t-byte prefix decodes to, or -1 when it is no key. */
static long parts_of_prefix(const struct vector *v, const struct layout *l,
			    size_t t)
{
	for (size_t p = 0; p < v->key.n; p++) {
		if (t == l->start[p])
			return (long)p;
		if (t >= l->start[p + 1])
			continue;
		bool text = l->type[p] == KV_PART_BYTES ||
			    l->type[p] == KV_PART_STRING;
		bool cut_escape = text && t >= l->start[p] + 2 &&
				  v->enc[t - 1] == 0x00 &&
				  v->enc[t] == 0xff;
		return cut_escape ? (long)p + 1 : -1;
	}
	return (long)v->key.n;
}

START_TEST(key_truncations_fail_or_decode_a_shorter_key)
{
	struct kv_buf again = {0};
	for (size_t i = 0; i < nvectors; i++) {
		struct vector *v = &vectors[i];
		struct layout l;
		part_layout(v, &l);
		for (size_t t = 0; t < v->len; t++) {
			uint8_t *prefix = malloc(t ? t : 1);
			memcpy(prefix, v->enc, t);
			struct kv_key key;
			int r = kv_key_decode(prefix, t, &key);
			long want = parts_of_prefix(v, &l, t);
			if (want < 0) {
				ck_assert_msg(r == -EINVAL,
					      "%s cut at %zu: got %d", v->line,
					      t, r);
			} else {
				ck_assert_msg(r == 0 && key.n == (size_t)want,
					      "%s cut at %zu: got %d, %zu parts",
					      v->line, t, r, key.n);
				encode_or_fail(key.parts, key.n, &again);
				ck_assert(again.len == t &&
					  (t == 0 ||
					   memcmp(again.data, prefix, t) == 0));
				kv_key_free(&key);
			}
			free(prefix);
		}
	}
	kv_buf_free(&again);
}
END_TEST

/* -------------------------------------------------- malformed input */

static int decode_hex(const char *hex)
{
	size_t n;
	uint8_t *exact = unhex(hex, &n);
	struct kv_key key;
	int r = kv_key_decode(exact, n, &key);
	if (r == 0)
		kv_key_free(&key);
	free(exact);
	return r;
}

static bool is_known_tag(unsigned tag)
{
	return tag == 0x01 || tag == 0x02 || (tag >= 0x0b && tag <= 0x1d) ||
	       tag == 0x21 || tag == 0x26 || tag == 0x27;
}

START_TEST(key_unknown_tags_rejected)
{
	for (unsigned tag = 0; tag < 256; tag++) {
		if (is_known_tag(tag))
			continue;
		char hex[64];
		snprintf(hex, sizeof(hex), "%02x", tag);
		ck_assert_msg(decode_hex(hex) == -EINVAL, "tag %02x", tag);
		snprintf(hex, sizeof(hex), "%02x00000000000000000000", tag);
		ck_assert_msg(decode_hex(hex) == -EINVAL, "tag %02x", tag);
		snprintf(hex, sizeof(hex), "026100%02x", tag);
		ck_assert_msg(decode_hex(hex) == -EINVAL, "tag %02x", tag);
		uint8_t lone = (uint8_t)tag;
		ck_assert_int_eq(kv_part_span(&lone, 1), -EINVAL);
	}
	ck_assert_int_eq(decode_hex("05"), -EINVAL);
	ck_assert_int_eq(decode_hex("20"), -EINVAL);
	ck_assert_int_eq(decode_hex("00"), -EINVAL);
}
END_TEST

START_TEST(key_bad_escapes_rejected)
{
	ck_assert_int_eq(decode_hex("026100ff"), -EINVAL);
	ck_assert_int_eq(decode_hex("0100ff"), -EINVAL);
	ck_assert_int_eq(decode_hex("02ffff"), -EINVAL);
	ck_assert_int_eq(decode_hex("026100fe"), -EINVAL);
	ck_assert_int_eq(decode_hex("02610003"), -EINVAL);
	ck_assert_int_eq(decode_hex("02"), -EINVAL);
	static const uint8_t cut_escape[] = {0x02, 0x61, 0x00, 0xff};
	ck_assert_int_eq(kv_part_span(cut_escape, sizeof(cut_escape)), -EINVAL);
	ck_assert_int_eq(kv_part_span(cut_escape, 3), 3);
	struct kv_buf scratch = {0};
	struct kv_part part;
	size_t pos = 0;
	ck_assert_int_eq(kv_part_decode(cut_escape, sizeof(cut_escape), &pos,
					&part, &scratch),
			 -EINVAL);
	ck_assert_uint_eq(pos, 0);
	kv_buf_free(&scratch);
	/* A lone 00 ends the part; what follows is the next part. */
	ck_assert_int_eq(decode_hex("0261000100"), 0);
	ck_assert_int_eq(decode_hex("026100ff00"), 0);
}
END_TEST

START_TEST(key_non_minimal_bigints_rejected)
{
	ck_assert_int_eq(decode_hex("1500"), -EINVAL);
	ck_assert_int_eq(decode_hex("160001"), -EINVAL);
	ck_assert_int_eq(decode_hex("13ff"), -EINVAL);
	ck_assert_int_eq(decode_hex("12ff00"), -EINVAL);
	ck_assert_int_eq(decode_hex("1d00"), -EINVAL);
	ck_assert_int_eq(decode_hex("1d080100000000000000"), -EINVAL);
	ck_assert_int_eq(decode_hex("1d0900010000000000000000"), -EINVAL);
	ck_assert_int_eq(decode_hex("0bff"), -EINVAL);
	ck_assert_int_eq(decode_hex("0bf7feffffffffffffff"), -EINVAL);
	ck_assert_int_eq(decode_hex("0bf6fffeffffffffffffff"), -EINVAL);
	ck_assert_int_eq(decode_hex("1d"), -EINVAL);
	ck_assert_int_eq(decode_hex("0b"), -EINVAL);
	ck_assert_int_eq(decode_hex("1d0a01"), -EINVAL);
	ck_assert_int_eq(decode_hex("1d09010000000000000000"), 0);
	ck_assert_int_eq(decode_hex("1c7f"), -EINVAL);
}
END_TEST

START_TEST(key_bigint_over_255_bytes_is_erange)
{
	uint8_t mag[256];
	memset(mag, 0xab, sizeof(mag));
	struct kv_part part = {.type = KV_PART_BIGINT,
			       .bigint = {.mag = mag, .len = 256}};
	struct kv_buf out = {0};
	ck_assert_int_eq(kv_part_encode(&part, &out), -ERANGE);
	part.bigint.negative = true;
	ck_assert_int_eq(kv_part_encode(&part, &out), -ERANGE);
	part.bigint.len = 255;
	ck_assert_int_eq(kv_part_encode(&part, &out), 0);
	ck_assert_uint_eq(out.len, 257);
	kv_buf_free(&out);
}
END_TEST

START_TEST(key_nan_canonicalised_keeping_sign)
{
	static const struct {
		uint64_t bits;
		const char *hex;
	} cases[] = {
		{0x7ff0000000000001u, "21fff8000000000000"},
		{0x7fffffffffffffffu, "21fff8000000000000"},
		{0x7ff8000000000000u, "21fff8000000000000"},
		{0xfff0000000000001u, "210007ffffffffffff"},
		{0xffffffffffffffffu, "210007ffffffffffff"},
	};
	struct kv_buf out = {0};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kv_part part = {.type = KV_PART_NUMBER,
				       .num = from_bits(cases[i].bits)};
		encode_or_fail(&part, 1, &out);
		size_t n;
		uint8_t *want = unhex(cases[i].hex, &n);
		ck_assert(out.len == n && memcmp(out.data, want, n) == 0);
		free(want);
	}
	kv_buf_free(&out);
}
END_TEST

/* ------------------------------------------------ random properties */

static void random_bytes(struct kv_part *part, uint8_t *pool)
{
	static const uint8_t interesting[] = {0x00, 0xff, 0x01, 0xfe, 'a'};
	part->len = rng_below(24);
	for (size_t i = 0; i < part->len; i++)
		pool[i] = rng_below(2) ? interesting[rng_below(5)]
				       : (uint8_t)rng();
	part->data = pool;
}

static void random_bigint(struct kv_part *part, uint8_t *pool)
{
	size_t len;
	switch (rng_below(4)) {
	case 0:
		len = rng_below(3);
		break;
	case 1:
		len = rng_below(10);
		break;
	case 2:
		len = 7 + rng_below(4);
		break;
	default:
		len = rng_below(KV_BIGINT_MAX_BYTES + 1);
		break;
	}
	for (size_t i = 0; i < len; i++)
		pool[i] = rng_below(3) ? (uint8_t)rng()
				       : (uint8_t)(rng_below(2) ? 0xff : 0);
	if (len > 0 && pool[0] == 0)
		pool[0] = (uint8_t)(1 + rng_below(255));
	part->bigint = (struct kv_bigint){
		.negative = len > 0 && rng_below(2), .mag = pool, .len = len};
}

static double random_double(void)
{
	static const double specials[] = {
		0.0, -0.0, INFINITY, -INFINITY, 1.0, -1.0,
		5e-324, -5e-324, 1.7976931348623157e308, 2.2250738585072014e-308,
	};
	switch (rng_below(5)) {
	case 0:
		return specials[rng_below(sizeof(specials) /
					  sizeof(specials[0]))];
	case 1:
		/* NaNs of both signs with random payloads. */
		return from_bits((rng() | 0x7ff0000000000001u) &
				 (rng() | 0x7ff0000000000000u |
				  0x8000000000000001u));
	case 2:
		return (double)(rng() >> rng_below(64)) *
		       (rng_below(2) ? 1 : -1);
	default:
		return from_bits(rng());
	}
}

static void random_key(struct tkey *key)
{
	key->n = 1 + rng_below(5);
	for (size_t i = 0; i < key->n; i++) {
		struct kv_part *part = &key->parts[i];
		*part = (struct kv_part){.type = (enum kv_part_type)rng_below(6)};
		switch (part->type) {
		case KV_PART_BYTES:
		case KV_PART_STRING:
			random_bytes(part, key->pool[i]);
			break;
		case KV_PART_BIGINT:
			random_bigint(part, key->pool[i]);
			break;
		case KV_PART_NUMBER:
			part->num = random_double();
			break;
		default:
			break;
		}
	}
}

/* A second key that often shares a prefix with the first. */
static void related_key(const struct tkey *a, struct tkey *b)
{
	random_key(b);
	size_t shared = rng_below(a->n + 1);
	if (shared > b->n)
		b->n = shared;
	for (size_t i = 0; i < shared; i++) {
		b->parts[i] = a->parts[i];
		memcpy(b->pool[i], a->pool[i], PART_BYTES);
		if (b->parts[i].data)
			b->parts[i].data = b->pool[i];
		if (b->parts[i].bigint.mag)
			b->parts[i].bigint.mag = b->pool[i];
	}
}

static int sign_of(long long v)
{
	return (v > 0) - (v < 0);
}

static int cmp_bytes(const struct kv_part *a, const struct kv_part *b)
{
	size_t n = a->len < b->len ? a->len : b->len;
	int c = n ? memcmp(a->data, b->data, n) : 0;
	return c ? sign_of(c) : sign_of((long long)a->len - (long long)b->len);
}

static int cmp_magnitude(const struct kv_bigint *a, const struct kv_bigint *b)
{
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return a->len ? sign_of(memcmp(a->mag, b->mag, a->len)) : 0;
}

static int cmp_bigint(const struct kv_bigint *a, const struct kv_bigint *b)
{
	int sa = a->len == 0 ? 0 : a->negative ? -1 : 1;
	int sb = b->len == 0 ? 0 : b->negative ? -1 : 1;
	if (sa != sb)
		return sa < sb ? -1 : 1;
	return sa * cmp_magnitude(a, b);
}

/* -NaN < -Infinity < ... < -0 < 0 < ... < Infinity < NaN. */
static int cmp_number(double a, double b)
{
	int na = isnan(a) ? (signbit(a) ? -1 : 1) : 0;
	int nb = isnan(b) ? (signbit(b) ? -1 : 1) : 0;
	if (na || nb)
		return sign_of(na - nb);
	if (a != b)
		return a < b ? -1 : 1;
	return sign_of((long long)!signbit(a) - (long long)!signbit(b));
}

static int rank(enum kv_part_type t)
{
	static const int ranks[] = {
		[KV_PART_BYTES] = 0,  [KV_PART_STRING] = 1, [KV_PART_BIGINT] = 2,
		[KV_PART_NUMBER] = 3, [KV_PART_FALSE] = 4,  [KV_PART_TRUE] = 5,
	};
	return ranks[t];
}

static int cmp_part(const struct kv_part *a, const struct kv_part *b)
{
	if (a->type != b->type)
		return rank(a->type) < rank(b->type) ? -1 : 1;
	switch (a->type) {
	case KV_PART_BYTES:
	case KV_PART_STRING:
		return cmp_bytes(a, b);
	case KV_PART_BIGINT:
		return cmp_bigint(&a->bigint, &b->bigint);
	case KV_PART_NUMBER:
		return cmp_number(a->num, b->num);
	default:
		return 0;
	}
}

/* Deno's key order, defined on parts: a key sorts before its extensions. */
static int cmp_key(const struct tkey *a, const struct tkey *b)
{
	for (size_t i = 0; i < a->n && i < b->n; i++) {
		int c = cmp_part(&a->parts[i], &b->parts[i]);
		if (c)
			return c;
	}
	return sign_of((long long)a->n - (long long)b->n);
}

START_TEST(key_random_keys_roundtrip)
{
	rng_seed(0x6b65792d726f756eu);
	struct kv_buf enc = {0};
	struct tkey key;
	for (int iter = 0; iter < 5000; iter++) {
		random_key(&key);
		encode_or_fail(key.parts, key.n, &enc);
		uint8_t *exact = malloc(enc.len);
		memcpy(exact, enc.data, enc.len);
		struct kv_key back;
		ck_assert_int_eq(kv_key_decode(exact, enc.len, &back), 0);
		free(exact);
		assert_same_key(back.parts, back.n, key.parts, key.n,
				"random key");
		kv_key_free(&back);
	}
	kv_buf_free(&enc);
}
END_TEST

START_TEST(key_random_keys_sort_in_deno_order)
{
	rng_seed(0x6f726465722d6b65u);
	struct kv_buf ea = {0}, eb = {0};
	static struct tkey a, b;
	for (int iter = 0; iter < 20000; iter++) {
		random_key(&a);
		related_key(&a, &b);
		encode_or_fail(a.parts, a.n, &ea);
		encode_or_fail(b.parts, b.n, &eb);
		int want = cmp_key(&a, &b);
		int got = kv_key_compare(ea.data, ea.len, eb.data, eb.len);
		ck_assert_msg(sign_of(got) == want,
			      "iteration %d: compare %d, Deno's order %d",
			      iter, got, want);
		size_t n = ea.len < eb.len ? ea.len : eb.len;
		int bytes = memcmp(ea.data, eb.data, n);
		if (bytes == 0)
			bytes = sign_of((long long)ea.len - (long long)eb.len);
		ck_assert_int_eq(sign_of(bytes), want);
	}
	kv_buf_free(&ea);
	kv_buf_free(&eb);
}
END_TEST

START_TEST(key_random_keys_step_by_part_span)
{
	rng_seed(0x7370616e2d737465u);
	struct kv_buf enc = {0}, one = {0};
	struct tkey key;
	for (int iter = 0; iter < 3000; iter++) {
		random_key(&key);
		encode_or_fail(key.parts, key.n, &enc);
		size_t pos = 0;
		for (size_t p = 0; p < key.n; p++) {
			encode_or_fail(&key.parts[p], 1, &one);
			long span = kv_part_span(enc.data + pos, enc.len - pos);
			ck_assert_int_eq(span, (long)one.len);
			pos += (size_t)span;
		}
		ck_assert_uint_eq(pos, enc.len);
	}
	kv_buf_free(&enc);
	kv_buf_free(&one);
}
END_TEST

START_TEST(key_child_end_bounds_extensions)
{
	rng_seed(0x6368696c642d656eu);
	struct kv_buf ea = {0}, eb = {0};
	static struct tkey a, b;
	for (int iter = 0; iter < 5000; iter++) {
		random_key(&a);
		related_key(&a, &b);
		encode_or_fail(a.parts, a.n, &ea);
		encode_or_fail(b.parts, b.n, &eb);
		bool child = b.n > a.n;
		for (size_t i = 0; child && i < a.n; i++)
			child = cmp_part(&a.parts[i], &b.parts[i]) == 0;
		uint8_t lo = 0x00, hi = KV_KEY_CHILD_END;
		kv_buf_append(&ea, &lo, 1);
		bool above = kv_key_compare(eb.data, eb.len, ea.data,
					    ea.len) >= 0;
		ea.data[ea.len - 1] = hi;
		bool below = kv_key_compare(eb.data, eb.len, ea.data,
					    ea.len) < 0;
		ck_assert_int_eq(above && below, child);
	}
	kv_buf_free(&ea);
	kv_buf_free(&eb);
}
END_TEST

/* --------------------------------------------------------- numbers */

static const struct {
	double v;
	const char *js;
} js_numbers[] = {
	{0.0, "0"},
	{-0.0, "0"},
	{1, "1"},
	{-1.5, "-1.5"},
	{0.1, "0.1"},
	{1e21, "1e+21"},
	{1e-7, "1e-7"},
	{123e-20, "1.23e-18"},
	{5e-324, "5e-324"},
	{-5e-324, "-5e-324"},
	{1.7976931348623157e308, "1.7976931348623157e+308"},
	{9007199254740993.0, "9007199254740992"},
	{0.000001, "0.000001"},
	{100, "100"},
	{1e20, "100000000000000000000"},
	{NAN, "NaN"},
	{INFINITY, "Infinity"},
	{-INFINITY, "-Infinity"},
	{42.1, "42.1"},
	{-42.1, "-42.1"},
	{1e300, "1e+300"},
	{0.1 + 0.2, "0.30000000000000004"},
	{1.0 / 3.0, "0.3333333333333333"},
	{-2.0 / 3.0, "-0.6666666666666666"},
	{123456789012345680000.0, "123456789012345680000"},
	{999999999999999900000.0, "999999999999999900000"},
	{1.5e-7, "1.5e-7"},
	{1.25e-6, "0.00000125"},
	{9.999999999999999e-7, "0.000001"},
	{9.999999999999997e-7, "9.999999999999997e-7"},
	{2.2250738585072014e-308, "2.2250738585072014e-308"},
	{4.35, "4.35"},
	{1e23, "1e+23"},
	{5e-7, "5e-7"},
	{123.456, "123.456"},
	{-1e21, "-1e+21"},
	{1.2e21, "1.2e+21"},
	{9007199254740992.0, "9007199254740992"},
	{0x1p-1022, "2.2250738585072014e-308"},
	{0x1p-1000, "9.332636185032189e-302"},
	{0x1p60, "1152921504606847000"},
	/* Powers of two whose nearest 16 digits miss the rounding interval. */
	{0x1p-1017, "7.120236347223045e-307"},
	{0x1p-1007, "7.291122019556398e-304"},
	{0x1p100, "1.2676506002282294e+30"},
	{0x1p-20, "9.5367431640625e-7"},
	{0x1.fffffffffffffp-1, "0.9999999999999999"},
};

START_TEST(number_format_matches_javascript)
{
	for (size_t i = 0; i < sizeof(js_numbers) / sizeof(js_numbers[0]);
	     i++) {
		char buf[32];
		memset(buf, 'x', sizeof(buf));
		size_t n = kv_number_format(js_numbers[i].v, buf);
		ck_assert_msg(n == strlen(js_numbers[i].js) &&
				      memcmp(buf, js_numbers[i].js, n) == 0,
			      "%.17g: \"%.*s\", JavaScript writes \"%s\"",
			      js_numbers[i].v, (int)n, buf, js_numbers[i].js);
	}
}
END_TEST

/* JavaScript's layout for a value of decimal exponent n (0.d x 10^n). */
static bool has_js_shape(const char *s, double v)
{
	double a = fabs(v);
	bool exponent = strchr(s, 'e') != NULL;
	if (a >= 1e21 || a < 1e-6)
		return exponent;
	return !exponent;
}

/* Significant digits of a JavaScript number text and their power of ten. */
static size_t significant_digits(const char *s, char *digits, long *exp10)
{
	size_t k = 0;
	long after_point = 0;
	bool point = false;
	const char *p = s;
	for (; *p && *p != 'e'; p++) {
		if (*p == '.') {
			point = true;
		} else if (*p >= '0' && *p <= '9') {
			if (k || *p != '0')
				digits[k++] = *p;
			after_point += point;
		}
	}
	*exp10 = (*p == 'e' ? strtol(p + 1, NULL, 10) : 0) - after_point;
	while (k > 1 && digits[k - 1] == '0') {
		k--;
		(*exp10)++;
	}
	return k;
}

static double digits_value(const char *digits, size_t k, long exp10)
{
	char text[64];
	snprintf(text, sizeof(text), "%.*se%ld", (int)k, digits, exp10);
	return strtod(text, NULL);
}

/*
 * Whether one digit fewer would have read back as v. Any shorter decimal
 * that reads back lies in v's rounding interval, and then so does one of
 * the two decimals of one digit fewer that bracket v.
 */
static bool shorter_digits_read_back(const char *s, double v)
{
	char digits[32];
	long exp10;
	size_t k = significant_digits(s, digits, &exp10);
	if (k < 2)
		return false;
	k--;
	exp10++;
	if (digits_value(digits, k, exp10) == v)
		return true;
	size_t i = k;
	while (i > 0 && digits[i - 1] == '9')
		digits[--i] = '0';
	if (i == 0)
		return digits_value("1", 1, exp10 + (long)k) == v;
	digits[i - 1]++;
	return digits_value(digits, k, exp10) == v;
}

START_TEST(number_format_roundtrips_random_doubles)
{
	rng_seed(0x6e756d6265722d72u);
	for (int iter = 0; iter < 20000; iter++) {
		double v = iter % 2 ? random_double()
				    : from_bits(rng() & 0x3fffffffffffffffu) *
					      (rng_below(2) ? 1 : -1);
		char buf[32];
		size_t n = kv_number_format(v, buf);
		ck_assert_uint_lt(n, 32);
		ck_assert_uint_eq(strlen(buf), n);
		double back;
		ck_assert_msg(kv_number_parse(buf, n, true, &back) == 0,
			      "\"%s\" not accepted back", buf);
		if (isnan(v)) {
			ck_assert(isnan(back));
			continue;
		}
		ck_assert_msg(to_bits(back) == to_bits(v == 0 ? 0.0 : v),
			      "%a wrote \"%s\", read back %a", v, buf, back);
		if (isfinite(v) && v != 0)
			ck_assert_msg(has_js_shape(buf, v), "%s", buf);
		if (isfinite(v) && v != 0)
			ck_assert_msg(!shorter_digits_read_back(buf, fabs(v)),
				      "\"%s\" is not the shortest", buf);
	}
}
END_TEST

/*
 * The oracle: how kv_number_format found its digits before it had an
 * algorithm of its own. For each length it takes printf's nearest decimal
 * (and, as a power of two's interval reaches farther up, the next one up)
 * and keeps the first that strtod reads back as v.
 */
struct oracle_decimal {
	char d[18];
	int k, n;
};

static bool oracle_reads_back(const struct oracle_decimal *dec, double v)
{
	char text[64];
	snprintf(text, sizeof(text), "%.*se%d", dec->k, dec->d,
		 dec->n - dec->k);
	return strtod(text, NULL) == v;
}

static void oracle_nearest(double v, int k, struct oracle_decimal *dec)
{
	char text[64];
	snprintf(text, sizeof(text), "%.*e", k - 1, v);
	const char *p = text;
	dec->k = 0;
	for (; *p != 'e'; p++)
		if (*p >= '0' && *p <= '9')
			dec->d[dec->k++] = *p;
	dec->n = (int)strtol(p + 1, NULL, 10) + 1;
}

static bool oracle_step_up(struct oracle_decimal *dec)
{
	int i = dec->k - 1;
	while (i >= 0 && dec->d[i] == '9')
		dec->d[i--] = '0';
	if (i < 0)
		return false;
	dec->d[i]++;
	return true;
}

static void oracle_digits(double v, struct oracle_decimal *dec)
{
	for (int k = 1; k < 17; k++) {
		oracle_nearest(v, k, dec);
		if (oracle_reads_back(dec, v))
			break;
		struct oracle_decimal up = *dec;
		if (oracle_step_up(&up) && oracle_reads_back(&up, v)) {
			*dec = up;
			break;
		}
		if (k == 16)
			oracle_nearest(v, 17, dec);
	}
	while (dec->k > 1 && dec->d[dec->k - 1] == '0')
		dec->k--;
}

/* ECMAScript Number::toString, steps 6-10, around oracle_digits. */
static void oracle_format(double v, char out[40])
{
	static const char zeros[] = "000000000000000000000";
	if (isnan(v) || isinf(v) || v == 0) {
		strcpy(out, isnan(v) ? "NaN" : v == 0 ? "0"
				       : v < 0	? "-Infinity" : "Infinity");
		return;
	}
	struct oracle_decimal dec;
	oracle_digits(fabs(v), &dec);
	const char *sign = v < 0 ? "-" : "";
	int k = dec.k, n = dec.n;
	const char *d = dec.d;
	if (k <= n && n <= 21)
		snprintf(out, 40, "%s%.*s%.*s", sign, k, d, n - k, zeros);
	else if (0 < n && n <= 21)
		snprintf(out, 40, "%s%.*s.%.*s", sign, n, d, k - n, d + n);
	else if (-6 < n && n <= 0)
		snprintf(out, 40, "%s0.%.*s%.*s", sign, -n, zeros, k, d);
	else
		snprintf(out, 40, "%s%c%s%.*se%+d", sign, d[0], k > 1 ? "." : "",
			 k - 1, d + 1, n - 1);
}

static void format_like_oracle(double v)
{
	char want[40], got[32];
	oracle_format(v, want);
	memset(got, 'x', sizeof(got));
	size_t n = kv_number_format(v, got);
	ck_assert_msg(n == strlen(want) && memcmp(got, want, n + 1) == 0,
		      "%a: \"%.*s\", the oracle writes \"%s\"", v, (int)n, got,
		      want);
}

START_TEST(number_format_oracle_agrees_on_js_vectors)
{
	for (size_t i = 0; i < sizeof(js_numbers) / sizeof(js_numbers[0]);
	     i++) {
		char want[40];
		oracle_format(js_numbers[i].v, want);
		ck_assert_str_eq(want, js_numbers[i].js);
	}
}
END_TEST

/* Doubles per property; a longer proof: -DORACLE_ROUNDS=10000000. */
#ifndef ORACLE_ROUNDS
#define ORACLE_ROUNDS 20000
#endif

START_TEST(number_format_equals_oracle_on_random_bit_patterns)
{
	rng_seed(0x6f7261636c652d62u);
	for (int i = 0; i < ORACLE_ROUNDS; i++)
		format_like_oracle(from_bits(rng()));
}
END_TEST

START_TEST(number_format_equals_oracle_on_integers)
{
	rng_seed(0x6f7261636c652d69u);
	for (int i = 0; i < ORACLE_ROUNDS; i++) {
		double v = (double)(rng() >> rng_below(64));
		if (i % 4 == 0)
			v *= pow(10, (double)rng_below(300));
		format_like_oracle(rng_below(2) ? v : -v);
	}
}
END_TEST

/* Few significant digits at any scale: the prices, ratios and
 * measurements that values mostly hold. */
START_TEST(number_format_equals_oracle_on_short_decimals)
{
	rng_seed(0x6f7261636c652d64u);
	for (int i = 0; i < ORACLE_ROUNDS; i++) {
		char text[64];
		unsigned long digits = (unsigned long)rng_below(
			(size_t)pow(10, (double)(1 + rng_below(8))));
		int exp10 = (int)rng_below(i % 2 ? 20 : 660) -
			    (i % 2 ? 10 : 330);
		snprintf(text, sizeof(text), "%lue%d", digits, exp10);
		format_like_oracle(strtod(text, NULL));
	}
}
END_TEST

/* Where the interval is lopsided, and either side of it. */
START_TEST(number_format_equals_oracle_around_powers_of_two)
{
	for (int e = -1074; e <= 1023; e++) {
		double p = ldexp(1, e);
		format_like_oracle(p);
		format_like_oracle(nextafter(p, 0));
		format_like_oracle(nextafter(p, INFINITY));
	}
}
END_TEST

START_TEST(number_parse_canonical_accepts_only_javascript_text)
{
	static const char *refused[] = {
		"",	"-",	 "+1",	 "01",	  "1.0",   "1.",   ".5",
		"1e21", "1E+21", "1e+021", "0.10", "-0.0", "00",   " 1",
		"1 ",	"0x10",	 "inf",	 "nan",	  "-NaN",  "+NaN", "infinity",
		"1e400", "1e-400", "9007199254740993", "1e+2", "1e2",
		"-Infinity ",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		double v;
		size_t len = strlen(refused[i]);
		ck_assert_msg(kv_number_parse(refused[i], len, true, &v) ==
				      -EINVAL,
			      "\"%s\" accepted", refused[i]);
	}
	ck_assert_int_eq(kv_number_parse("Infinity\0", 9, true, &(double){0}),
			 -EINVAL);
	double v;
	ck_assert_int_eq(kv_number_parse("-0", 2, true, &v), 0);
	ck_assert(v == 0 && signbit(v));
	ck_assert_int_eq(kv_number_parse("0", 1, true, &v), 0);
	ck_assert(v == 0 && !signbit(v));
	ck_assert_int_eq(kv_number_parse("NaN", 3, true, &v), 0);
	ck_assert_uint_eq(to_bits(v), 0x7ff8000000000000u);
	ck_assert_int_eq(kv_number_parse("-Infinity", 9, true, &v), 0);
	ck_assert(isinf(v) && v < 0);
	ck_assert_int_eq(kv_number_parse("1e+21", 5, true, &v), 0);
	ck_assert(v == 1e21);
	ck_assert_int_eq(kv_number_parse("-1.5e-7", 7, true, &v), 0);
	ck_assert(v == -1.5e-7);
	ck_assert_int_eq(kv_number_parse("12.5xyz", 4, true, &v), 0);
	ck_assert(v == 12.5);
}
END_TEST

START_TEST(number_parse_loose_accepts_decimal_text)
{
	static const struct {
		const char *text;
		double v;
	} accepted[] = {
		{"+1", 1},	   {"01", 1},	      {"1.0", 1},
		{"1.", 1},	   {".5", 0.5},	      {"1e21", 1e21},
		{"1E+21", 1e21},   {"1e+021", 1e21},  {"0.10", 0.1},
		{"-0.0", -0.0},	   {"1e400", INFINITY}, {"1e-400", 0},
		{"+Infinity", INFINITY}, {"-1e-7", -1e-7},
		{"9007199254740993", 9007199254740992.0},
		{"0.000000000000000000000000000000000000000000001", 1e-45},
		{"123456789012345678901234567890", 1.2345678901234568e29},
	};
	for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++) {
		double v;
		const char *t = accepted[i].text;
		ck_assert_msg(kv_number_parse(t, strlen(t), false, &v) == 0,
			      "\"%s\" refused", t);
		ck_assert_msg(to_bits(v) == to_bits(accepted[i].v),
			      "\"%s\" read as %a", t, v);
	}
	static const char *refused[] = {
		"", "-", ".", "e5", "1e", "1e+", "0x10", "inf", "nan", "-NaN",
		" 1", "1 ", "1.2.3", "--1", "+-1", "Inf", "INFINITY", "1,5",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		double v;
		ck_assert_msg(kv_number_parse(refused[i], strlen(refused[i]),
					      false, &v) == -EINVAL,
			      "\"%s\" accepted", refused[i]);
	}
}
END_TEST

/* Decimal digits of 5^power, most significant first; returns their count. */
static size_t power_of_five(unsigned power, char *digits, size_t cap)
{
	size_t n = 1;
	digits[0] = 1;
	for (unsigned p = 0; p < power; p++) {
		unsigned carry = 0;
		for (size_t i = 0; i < n; i++) {
			unsigned d = (unsigned)digits[i] * 5 + carry;
			digits[i] = (char)(d % 10);
			carry = d / 10;
		}
		if (carry) {
			ck_assert_uint_lt(n, cap);
			digits[n++] = (char)carry;
		}
	}
	for (size_t i = 0; i < n / 2; i++) {
		char t = digits[i];
		digits[i] = digits[n - 1 - i];
		digits[n - 1 - i] = t;
	}
	for (size_t i = 0; i < n; i++)
		digits[i] += '0';
	return n;
}

/*
 * 2^-1075, half the least subnormal, is written out exactly (752 digits)
 * and rounds to even, 0. A 1 a thousand digits further on lifts it over
 * the halfway mark: the parser must see the digit it cannot keep.
 */
START_TEST(number_parse_long_text_rounds_correctly)
{
	static char five[800], text[4096];
	size_t digits = power_of_five(1075, five, sizeof(five));
	double v;
	size_t n = (size_t)snprintf(text, sizeof(text), "%.*se-1075",
				    (int)digits, five);
	ck_assert_int_eq(kv_number_parse(text, n, false, &v), 0);
	ck_assert_uint_eq(to_bits(v), 0);
	n = (size_t)snprintf(text, sizeof(text), "%.*s", (int)digits, five);
	for (int i = 0; i < 1000; i++)
		text[n++] = '0';
	n += (size_t)snprintf(text + n, sizeof(text) - n, "1e-%d", 1075 + 1001);
	ck_assert_int_eq(kv_number_parse(text, n, false, &v), 0);
	ck_assert_uint_eq(to_bits(v), 1);
	/* The same with the point written out. */
	n = (size_t)snprintf(text, sizeof(text), "0.");
	for (size_t i = digits; i < 1075; i++)
		text[n++] = '0';
	memcpy(text + n, five, digits);
	n += digits;
	ck_assert_int_eq(kv_number_parse(text, n, false, &v), 0);
	ck_assert_uint_eq(to_bits(v), 0);
	for (int i = 0; i < 1000; i++)
		text[n++] = '0';
	text[n++] = '1';
	ck_assert_int_eq(kv_number_parse(text, n, false, &v), 0);
	ck_assert_uint_eq(to_bits(v), 1);
}
END_TEST

/* ---------------------------------------------------------- bigints */

static void bigint_text(const struct kv_bigint *v, char *out, size_t cap)
{
	struct kv_buf buf = {0};
	ck_assert_int_eq(kv_bigint_to_decimal(v, &buf), 0);
	ck_assert_uint_lt(buf.len, cap);
	ck_assert_uint_eq(strlen((char *)buf.data), buf.len);
	memcpy(out, buf.data, buf.len + 1);
	kv_buf_free(&buf);
}

START_TEST(bigint_decimal_known_values)
{
	static const uint8_t two64[] = {1, 0, 0, 0, 0, 0, 0, 0, 0};
	char text[700];
	struct kv_bigint v = {.mag = two64, .len = sizeof(two64)};
	bigint_text(&v, text, sizeof(text));
	ck_assert_str_eq(text, "18446744073709551616");
	v.negative = true;
	bigint_text(&v, text, sizeof(text));
	ck_assert_str_eq(text, "-18446744073709551616");
	v = (struct kv_bigint){.negative = true, .mag = two64, .len = 0};
	bigint_text(&v, text, sizeof(text));
	ck_assert_str_eq(text, "0");
	static const uint8_t small[] = {0x00, 0x01, 0x00};
	v = (struct kv_bigint){.mag = small, .len = sizeof(small)};
	bigint_text(&v, text, sizeof(text));
	ck_assert_str_eq(text, "256");
	static const uint8_t billion[] = {0x3b, 0x9a, 0xca, 0x00};
	v = (struct kv_bigint){.mag = billion, .len = sizeof(billion)};
	bigint_text(&v, text, sizeof(text));
	ck_assert_str_eq(text, "1000000000");
}
END_TEST

/* Every bigint vector's decimal text comes back from its Deno bytes. */
START_TEST(bigint_decimal_matches_vectors)
{
	size_t seen = 0;
	for (size_t i = 0; i < nvectors; i++) {
		struct vector *v = &vectors[i];
		if (v->key.n != 1 || v->key.parts[0].type != KV_PART_BIGINT)
			continue;
		struct kv_key key;
		ck_assert_int_eq(kv_key_decode(v->enc, v->len, &key), 0);
		char text[700];
		bigint_text(&key.parts[0].bigint, text, sizeof(text));
		const char *json = strstr(v->line, "\"value\":\"");
		ck_assert_ptr_nonnull(json);
		json += strlen("\"value\":\"");
		ck_assert_msg(strncmp(json, text, strlen(text)) == 0 &&
				      json[strlen(text)] == '"',
			      "%s read as %s", v->line, text);
		if (key.parts[0].bigint.len == KV_BIGINT_MAX_BYTES)
			seen++;
		kv_key_free(&key);
	}
	ck_assert_uint_eq(seen, 1);
}
END_TEST

START_TEST(bigint_decimal_roundtrips_random)
{
	rng_seed(0x626967696e742d64u);
	uint8_t pool[PART_BYTES];
	for (int iter = 0; iter < 3000; iter++) {
		struct kv_part part = {.type = KV_PART_BIGINT};
		random_bigint(&part, pool);
		char text[700];
		bigint_text(&part.bigint, text, sizeof(text));
		struct kv_buf storage = {0};
		struct kv_bigint back;
		ck_assert_int_eq(kv_bigint_from_decimal(text, strlen(text),
							true, &back, &storage),
				 0);
		ck_assert_ptr_nonnull(back.mag);
		struct kv_part again = {.type = KV_PART_BIGINT, .bigint = back};
		ck_assert_msg(same_part(&part, &again), "%s", text);
		kv_buf_free(&storage);
	}
}
END_TEST

START_TEST(bigint_from_decimal_canonical_rules)
{
	static const char *refused[] = {"", "-", "+1", "01", "-0", "00",
					"-01", "1a", " 1", "1 ", "--1", "1.0"};
	struct kv_buf storage = {0};
	struct kv_bigint v;
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		ck_assert_msg(kv_bigint_from_decimal(refused[i],
						     strlen(refused[i]), true,
						     &v, &storage) == -EINVAL,
			      "\"%s\" accepted", refused[i]);
	ck_assert_int_eq(kv_bigint_from_decimal("0", 1, true, &v, &storage), 0);
	ck_assert(v.len == 0 && !v.negative);
	static const char *loose[] = {"+1", "01", "-01", "0001"};
	for (size_t i = 0; i < sizeof(loose) / sizeof(loose[0]); i++) {
		ck_assert_int_eq(kv_bigint_from_decimal(loose[i],
							strlen(loose[i]), false,
							&v, &storage),
				 0);
		ck_assert(v.len == 1 && v.mag[0] == 1);
		ck_assert_int_eq(v.negative, loose[i][0] == '-');
	}
	ck_assert_int_eq(kv_bigint_from_decimal("-0", 2, false, &v, &storage),
			 0);
	ck_assert(v.len == 0 && !v.negative);
	ck_assert_int_eq(kv_bigint_from_decimal("-", 1, false, &v, &storage),
			 -EINVAL);
	ck_assert_int_eq(kv_bigint_from_decimal("1x", 1, true, &v, &storage),
			 0);
	kv_buf_free(&storage);
}
END_TEST

/*
 * Decimal text is read at any size a value can hold: a 256-byte magnitude
 * (one past a key part's limit, which only kv_part_encode refuses) and a
 * 64 KiB one round-trip; text longer than any value is -ERANGE.
 */
START_TEST(bigint_from_decimal_reads_value_sized_magnitudes)
{
	static uint8_t big[65536];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 131 + 7);
	big[0] |= 0x80;
	static const size_t sizes[] = {256, sizeof(big)};
	for (size_t k = 0; k < 2; k++) {
		struct kv_bigint in = {.negative = true, .mag = big,
				       .len = sizes[k]};
		struct kv_buf text = {0}, storage = {0};
		ck_assert_int_eq(kv_bigint_to_decimal(&in, &text), 0);
		struct kv_bigint v;
		ck_assert_int_eq(kv_bigint_from_decimal((char *)text.data,
							text.len, true, &v,
							&storage),
				 0);
		ck_assert(v.negative && v.len == sizes[k] &&
			  memcmp(v.mag, big, sizes[k]) == 0);
		struct kv_part part = {.type = KV_PART_BIGINT, .bigint = v};
		struct kv_buf enc = {0};
		ck_assert_int_eq(kv_part_encode(&part, &enc), -ERANGE);
		kv_buf_free(&enc);
		kv_buf_free(&text);
		kv_buf_free(&storage);
	}
	static char huge[157828];
	memset(huge, '9', sizeof(huge));
	struct kv_buf storage = {0};
	struct kv_bigint v;
	ck_assert_int_eq(kv_bigint_from_decimal(huge, sizeof(huge), true, &v,
						&storage),
			 -ERANGE);
	ck_assert_int_eq(kv_bigint_from_decimal(huge, sizeof(huge) - 1, true,
						&v, &storage),
			 0);
	kv_buf_free(&storage);
}
END_TEST

static Suite *key_suite(void)
{
	Suite *s = suite_create("key");
	TCase *vec = tcase_create("vectors");
	tcase_set_timeout(vec, 60);
	tcase_add_checked_fixture(vec, vectors_setup, vectors_teardown);
	tcase_add_test(vec, key_vectors_encode_byte_identical);
	tcase_add_test(vec, key_vectors_decode_to_their_parts);
	tcase_add_test(vec, key_vectors_part_span_steps_through_parts);
	tcase_add_test(vec, key_part_decode_points_into_buf_unless_rewritten);
	tcase_add_test(vec, key_truncations_fail_or_decode_a_shorter_key);
	tcase_add_test(vec, bigint_decimal_matches_vectors);
	suite_add_tcase(s, vec);

	TCase *codec = tcase_create("codec");
	tcase_set_timeout(codec, 60);
	tcase_add_test(codec, key_unknown_tags_rejected);
	tcase_add_test(codec, key_bad_escapes_rejected);
	tcase_add_test(codec, key_non_minimal_bigints_rejected);
	tcase_add_test(codec, key_bigint_over_255_bytes_is_erange);
	tcase_add_test(codec, key_nan_canonicalised_keeping_sign);
	tcase_add_test(codec, key_random_keys_roundtrip);
	tcase_add_test(codec, key_random_keys_sort_in_deno_order);
	tcase_add_test(codec, key_random_keys_step_by_part_span);
	tcase_add_test(codec, key_child_end_bounds_extensions);
	suite_add_tcase(s, codec);

	TCase *text = tcase_create("text");
	tcase_set_timeout(text, 60);
	tcase_add_test(text, number_format_matches_javascript);
	tcase_add_test(text, number_format_roundtrips_random_doubles);
	tcase_add_test(text, number_format_oracle_agrees_on_js_vectors);
	tcase_add_test(text, number_format_equals_oracle_on_random_bit_patterns);
	tcase_add_test(text, number_format_equals_oracle_on_integers);
	tcase_add_test(text, number_format_equals_oracle_on_short_decimals);
	tcase_add_test(text, number_format_equals_oracle_around_powers_of_two);
	tcase_add_test(text, number_parse_canonical_accepts_only_javascript_text);
	tcase_add_test(text, number_parse_loose_accepts_decimal_text);
	tcase_add_test(text, number_parse_long_text_rounds_correctly);
	tcase_add_test(text, bigint_decimal_known_values);
	tcase_add_test(text, bigint_decimal_roundtrips_random);
	tcase_add_test(text, bigint_from_decimal_canonical_rules);
	tcase_add_test(text, bigint_from_decimal_reads_value_sized_magnitudes);
	suite_add_tcase(s, text);
	return s;
}

int main(void)
{
	return run_suite(key_suite());
}
