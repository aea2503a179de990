/*
 * kvdriver.c — the C side of the interop tests with the real Deno, using
 * only the store API and the codecs:
 *
 *   kvdriver init DB              create an empty store in Deno's format
 *   kvdriver dump DB              every entry, in key order, as NDJSON
 *   kvdriver write-vectors DB     a fixed set of keys and values of every
 *                                 type (read_vectors.ts knows what Deno
 *                                 must read back)
 *   kvdriver hammer DB SECONDS    commit in a loop beside a running Deno
 *
 * Exits 0 on success; on failure prints why on stderr and exits 1.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kv_key.h"
#include "kv_store.h"
#include "kv_value.h"

static int fail(const char *what, int err)
{
	fprintf(stderr, "kvdriver: %s: %s\n", what, strerror(-err));
	return 1;
}

static int open_db(const char *path, bool create, bool read_only,
		   struct kv_store **s)
{
	struct kv_store_options o = { .create = create,
				      .read_only = read_only };
	int r = kv_store_open(path, &o, s);

	return r < 0 ? fail(path, r) : 0;
}

/* ---- dump ------------------------------------------------------------- */

static void print_hex(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		printf("%02x", p[i]);
}

static void print_entry(const struct kv_entry *e)
{
	char vs[2 * KV_VERSIONSTAMP_LEN + 1];

	kv_versionstamp_format(e->versionstamp, vs);
	printf("{\"key\":\"");
	print_hex(e->key, e->key_len);
	printf("\",\"enc\":%d,\"value\":\"", (int)e->encoding);
	print_hex(e->value, e->value_len);
	printf("\",\"versionstamp\":\"%s\",\"expires\":%" PRId64 "}\n", vs,
	       e->expires_at_ms);
}

static int dump(const char *path)
{
	struct kv_store *s;
	struct kv_buf cursor = { 0 };
	int r = 0;

	if (open_db(path, false, true, &s))
		return 1;
	do {
		struct kv_list all = { .cursor = (char *)cursor.data };
		struct kv_entries got;
		r = kv_store_list(s, &all, &got, &cursor);
		for (size_t i = 0; r == 0 && i < got.n; i++)
			print_entry(&got.v[i]);
		kv_entries_free(&got);
	} while (r == 0 && cursor.len);
	kv_buf_free(&cursor);
	kv_store_close(s);
	return r < 0 ? fail("list", r) : 0;
}

/* ---- write-vectors ---------------------------------------------------- */

/* Values in the JSON mapping of docs/json.md, stored at ["json", name]. */
static const struct {
	const char *name, *json;
} json_vectors[] = {
	{ "null", "null" },
	{ "true", "true" },
	{ "false", "false" },
	{ "int", "42" },
	{ "negint", "-7" },
	{ "smi_max", "2147483647" },
	{ "double", "1.5" },
	{ "two_pow_32", "4294967296" },
	{ "big_double", "1e+21" },
	{ "latin1", "\"h\xc3\xa9llo\"" },
	{ "two_byte", "\"\xe6\x97\xa5\xe6\x9c\xac\"" },
	{ "emoji", "\"\xf0\x9f\x98\x80\"" },
	{ "lone_surrogate", "\"\\ud800\"" },
	{ "nul_string", "\"a\\u0000b\"" },
	{ "array", "[1,\"a\",true,null]" },
	{ "object", "{\"a\":1,\"2\":\"x\",\"b\":{\"c\":[1.5,2]}}" },
	{ "undefined", "{\"$undefined\":true}" },
	{ "bigint", "{\"$bigint\":\"10\"}" },
	{ "bigint_neg_large", "{\"$bigint\":\"-18446744073709551616\"}" },
	{ "nan", "{\"$number\":\"NaN\"}" },
	{ "infinity", "{\"$number\":\"Infinity\"}" },
	{ "neg_infinity", "{\"$number\":\"-Infinity\"}" },
	{ "neg_zero", "{\"$number\":\"-0\"}" },
	{ "date", "{\"$date\":\"2023-11-14T22:13:20.000Z\"}" },
	{ "date_invalid", "{\"$date\":null}" },
	{ "regexp", "{\"$regexp\":\"/a+b/gi\"}" },
	{ "map", "{\"$map\":[[\"a\",1],[2,\"b\"]]}" },
	{ "set", "{\"$set\":[1,\"a\"]}" },
	{ "nested_bytes", "{\"u\":{\"$bytes\":\"AQID\"}}" },
	{ "arraybuffer", "{\"$arraybuffer\":\"AQID\"}" },
	{ "resizable",
	  "{\"$arraybuffer\":{\"bytes\":\"AAA\",\"maxByteLength\":8}}" },
	{ "int8array", "{\"$int8array\":\"_wE\"}" },
	{ "uint8clampedarray", "{\"$uint8clampedarray\":\"AQI\"}" },
	{ "int16array", "{\"$int16array\":\"_v8DAA\"}" },
	{ "uint16array", "{\"$uint16array\":\"AQACAA\"}" },
	{ "int32array", "{\"$int32array\":\"_____w\"}" },
	{ "uint32array", "{\"$uint32array\":\"AQAAAA\"}" },
	{ "float16array", "{\"$float16array\":\"AD4\"}" },
	{ "float32array", "{\"$float32array\":\"AADAPw\"}" },
	{ "float64array", "{\"$float64array\":\"AAAAAAAA-D8\"}" },
	{ "bigint64array", "{\"$bigint64array\":\"__________8\"}" },
	{ "biguint64array", "{\"$biguint64array\":\"AQAAAAAAAAA\"}" },
	{ "dataview", "{\"$dataview\":\"CQgH\"}" },
	{ "view",
	  "{\"$view\":{\"type\":\"uint8array\",\"buffer\":\"AAECAw\","
	  "\"byteOffset\":1,\"byteLength\":2,\"lengthTracking\":false}}" },
	{ "error",
	  "{\"$error\":{\"name\":\"TypeError\",\"message\":\"t\",\"cause\":1,"
	  "\"stack\":\"TypeError: t\\n    at x\"}}" },
	{ "error_plain", "{\"$error\":{\"name\":\"Error\",\"message\":\"boom\","
			 "\"stack\":\"S\"}}" },
	{ "boxed_number", "{\"$boxed\":1.5}" },
	{ "boxed_string", "{\"$boxed\":\"s\"}" },
	{ "boxed_boolean", "{\"$boxed\":true}" },
	{ "boxed_bigint", "{\"$boxed\":{\"$bigint\":\"1\"}}" },
	{ "array_props",
	  "{\"$array\":{\"items\":[1,2],\"props\":{\"foo\":\"bar\"}}}" },
	{ "sparse", "{\"$sparse\":{\"length\":3,\"items\":{\"0\":1,\"2\":3}}}" },
	{ "sparse_large", "{\"$sparse\":{\"length\":1001,\"items\":"
			  "{\"1000\":1},\"props\":{\"x\":2}}}" },
	{ "dollar_object", "{\"$object\":{\"$bigint\":\"1\"}}" },
	{ "deep", "{\"a\":{\"b\":[{\"c\":{\"$set\":[{\"$map\":[]}]}}]}}" },
};

#define N_JSON (sizeof(json_vectors) / sizeof(json_vectors[0]))

static struct kv_part string_part(const char *s, size_t len)
{
	return (struct kv_part){ .type = KV_PART_STRING,
				 .data = (const uint8_t *)s,
				 .len = len };
}

/* The key parts of ["part", X] for one X of every part type. */
static const uint8_t bytes_part[] = { 0, 1, 255 };
static const uint8_t two_pow_64[] = { 1, 0, 0, 0, 0, 0, 0, 0, 0 };

static struct kv_part key_part(int i)
{
	switch (i) {
	case 0:
		return (struct kv_part){ .type = KV_PART_BYTES,
					 .data = bytes_part,
					 .len = sizeof(bytes_part) };
	case 1:
		return string_part("a\0b", 3);
	case 2:
		return (struct kv_part){ .type = KV_PART_BIGINT,
					 .bigint = { false,
						     (const uint8_t *)"\x0a",
						     1 } };
	case 3:
		return (struct kv_part){ .type = KV_PART_BIGINT,
					 .bigint = { true, two_pow_64,
						     sizeof(two_pow_64) } };
	case 4:
		return (struct kv_part){ .type = KV_PART_NUMBER, .num = 42 };
	case 5:
		return (struct kv_part){ .type = KV_PART_NUMBER, .num = -0.0 };
	case 6:
		return (struct kv_part){ .type = KV_PART_NUMBER,
					 .num = -__builtin_inf() };
	case 7:
		return (struct kv_part){ .type = KV_PART_FALSE };
	default:
		return (struct kv_part){ .type = KV_PART_TRUE };
	}
}

#define N_PARTS 9

static int encode_json(const char *json, struct kv_buf *out)
{
	struct kv_arena *arena = kv_arena_new();
	struct kv_value *v;
	int r = arena ? kv_json_parse(json, strlen(json), arena, &v)
		      : -ENOMEM;

	if (r == 0)
		r = kv_v8_encode(v, out);
	kv_arena_free(arena);
	return r;
}

/* One entry of the vector set, owning its key and value bytes. */
struct vector {
	struct kv_buf key, value;
	enum kv_encoding enc;
};

static int add_vector(struct vector *v, const struct kv_part *parts,
		      size_t n, enum kv_encoding enc, const void *value,
		      size_t len)
{
	v->enc = enc;
	int r = kv_key_encode(parts, n, &v->key);
	return r < 0 ? r : kv_buf_append(&v->value, value, len);
}

static int build_vectors(struct vector *v, size_t *n)
{
	static const uint8_t raw[] = { 0, 1, 0xff };
	uint8_t u64[8];
	char text[16];
	int r = 0;

	*n = 0;
	for (size_t i = 0; r == 0 && i < N_JSON; i++) {
		struct kv_part parts[2] = {
			string_part("json", 4),
			string_part(json_vectors[i].name,
				    strlen(json_vectors[i].name)),
		};
		v[*n].enc = KV_ENC_V8;
		r = kv_key_encode(parts, 2, &v[*n].key);
		if (r == 0)
			r = encode_json(json_vectors[i].json, &v[*n].value);
		if (r < 0)
			fprintf(stderr, "kvdriver: vector %s\n",
				json_vectors[i].name);
		(*n)++;
	}
	struct kv_part u_one[2] = { string_part("u64", 3),
				    string_part("one", 3) };
	struct kv_part u_max[2] = { string_part("u64", 3),
				    string_part("max", 3) };
	struct kv_part b_bin[2] = { string_part("bytes", 5),
				    string_part("bin", 3) };
	struct kv_part b_empty[2] = { string_part("bytes", 5),
				      string_part("empty", 5) };
	kv_u64_encode(1, u64);
	if (r == 0)
		r = add_vector(&v[(*n)++], u_one, 2, KV_ENC_U64, u64, 8);
	kv_u64_encode(UINT64_MAX, u64);
	if (r == 0)
		r = add_vector(&v[(*n)++], u_max, 2, KV_ENC_U64, u64, 8);
	if (r == 0)
		r = add_vector(&v[(*n)++], b_bin, 2, KV_ENC_BYTES, raw, 3);
	if (r == 0)
		r = add_vector(&v[(*n)++], b_empty, 2, KV_ENC_BYTES, raw, 0);
	for (int i = 0; r == 0 && i < N_PARTS; i++) {
		struct kv_part parts[2] = { string_part("part", 4),
					    key_part(i) };
		snprintf(text, sizeof(text), "%d", i);
		v[*n].enc = KV_ENC_V8;
		r = kv_key_encode(parts, 2, &v[*n].key);
		if (r == 0)
			r = encode_json(text, &v[*n].value);
		(*n)++;
	}
	return r;
}

static int write_vectors(const char *path)
{
	struct vector v[N_JSON + 4 + N_PARTS] = { 0 };
	struct kv_mutation m[N_JSON + 4 + N_PARTS];
	struct kv_store *s;
	size_t n;

	int r = build_vectors(v, &n);
	for (size_t i = 0; i < n; i++)
		m[i] = (struct kv_mutation){ .type = KV_MUT_SET,
					     .key = v[i].key.data,
					     .key_len = v[i].key.len,
					     .encoding = v[i].enc,
					     .value = v[i].value.data,
					     .value_len = v[i].value.len,
					     .expire_in_ms = -1 };
	if (r < 0) {
		fail("building the vectors", r);
	} else if (open_db(path, true, false, &s) == 0) {
		struct kv_atomic a = { .mutations = m, .n_mutations = n };
		r = kv_store_commit(s, &a, NULL);
		if (r < 0)
			fail("commit", r);
		kv_store_close(s);
	} else {
		r = -EIO;
	}
	for (size_t i = 0; i < n; i++) {
		kv_buf_free(&v[i].key);
		kv_buf_free(&v[i].value);
	}
	return r < 0;
}

/* ---- hammer ----------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int key_of(const char *name, const struct kv_part *extra,
		  struct kv_buf *out)
{
	struct kv_part parts[2] = { string_part(name, strlen(name)) };

	if (extra)
		parts[1] = *extra;
	out->len = 0;
	return kv_key_encode(parts, extra ? 2 : 1, out);
}

/*
 * One commit of the loop: a new key ["c", i], the shared counter, and the
 * key ["shared"] that Deno's checks watch.
 */
static int hammer_once(struct kv_store *s, uint64_t i, struct kv_buf *keys,
		       uint8_t vs[KV_VERSIONSTAMP_LEN])
{
	struct kv_part n = { .type = KV_PART_NUMBER, .num = (double)i };
	char text[24];
	uint8_t one[8];
	int len = snprintf(text, sizeof(text), "%" PRIu64, i);
	int r = key_of("c", &n, &keys[0]);

	if (r == 0)
		r = key_of("counter", NULL, &keys[1]);
	if (r == 0)
		r = key_of("shared", NULL, &keys[2]);
	if (r < 0)
		return r;
	kv_u64_encode(1, one);
	struct kv_mutation m[3] = {
		{ KV_MUT_SET, keys[0].data, keys[0].len, KV_ENC_BYTES,
		  (const uint8_t *)text, (size_t)len, -1 },
		{ KV_MUT_SUM, keys[1].data, keys[1].len, KV_ENC_U64, one, 8,
		  -1 },
		{ KV_MUT_SET, keys[2].data, keys[2].len, KV_ENC_BYTES,
		  (const uint8_t *)text, (size_t)len, -1 },
	};
	struct kv_atomic a = { .mutations = m, .n_mutations = 3 };
	return kv_store_commit(s, &a, vs);
}

/*
 * A pause of 1..8 ms between commits. SQLite's write lock is not fair:
 * back-to-back commits with no gap starve Deno, whose retries poll the
 * lock only now and then, so the loop leaves gaps as real writers do.
 */
static void pause_between_commits(unsigned *seed)
{
	struct timespec ts = { 0, (1 + rand_r(seed) % 8) * 1000000L };

	nanosleep(&ts, NULL);
}

static int hammer(const char *path, const char *seconds)
{
	struct kv_store *s;
	struct kv_buf keys[3] = { 0 };
	uint8_t vs[KV_VERSIONSTAMP_LEN], last[KV_VERSIONSTAMP_LEN] = { 0 };
	int64_t end = now_ms() + (int64_t)(atof(seconds) * 1000);
	uint64_t i = 0;
	unsigned seed = (unsigned)end;
	int r = 0;

	if (open_db(path, true, false, &s))
		return 1;
	while (r == 0 && now_ms() < end) {
		if (i)
			pause_between_commits(&seed);
		r = hammer_once(s, i++, keys, vs);
		if (r == 0 && memcmp(vs, last, sizeof(vs)) <= 0) {
			fprintf(stderr, "kvdriver: versionstamp went back\n");
			r = -EPROTO;
		}
		memcpy(last, vs, sizeof(vs));
		struct kv_entry e;
		if (r == 0 && (r = kv_store_get(s, keys[2].data, keys[2].len,
						&e)) == 0)
			kv_entry_free(&e);
	}
	for (int k = 0; k < 3; k++)
		kv_buf_free(&keys[k]);
	kv_store_close(s);
	if (r < 0)
		return fail("hammer", r);
	printf("%" PRIu64 "\n", i);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "init")) {
		struct kv_store *s;
		if (open_db(argv[2], true, false, &s))
			return 1;
		kv_store_close(s);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "dump"))
		return dump(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "write-vectors"))
		return write_vectors(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "hammer"))
		return hammer(argv[2], argv[3]);
	fprintf(stderr, "usage: kvdriver init|dump|write-vectors DB\n"
			"       kvdriver hammer DB SECONDS\n");
	return 2;
}
