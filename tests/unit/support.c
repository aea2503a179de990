/*
 * support.c — the scaffolding the unit suites share (support.h): written
 * once here so that every suite reads Deno's vectors the same way.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hex.h"
#include "support.h"

static uint64_t rng_state;

void rng_seed(uint64_t seed)
{
	rng_state = seed;
}

uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

size_t rng_below(size_t n)
{
	return (size_t)(rng() % n);
}

double from_bits(uint64_t bits)
{
	double v;
	memcpy(&v, &bits, sizeof(v));
	return v;
}

uint64_t to_bits(double v)
{
	uint64_t bits;
	memcpy(&bits, &v, sizeof(bits));
	return bits;
}

/* store_hex_digit, failing the test on a character that is no digit. */
static int must_be_hex(char c)
{
	int d = store_hex_digit(c);
	ck_assert_msg(d >= 0, "bad hex digit '%c' (0x%02x)", c,
		      (unsigned)(uint8_t)c);
	return d;
}

uint8_t *unhex(const char *hex, size_t *len)
{
	uint8_t *b = malloc(strlen(hex) / 2 + 1);
	size_t n = 0;
	int hi = -1;

	ck_assert_ptr_nonnull(b);
	for (const char *p = hex; *p; p++) {
		if (*p == ' ')
			continue;
		if (hi < 0) {
			hi = must_be_hex(*p);
		} else {
			b[n++] = (uint8_t)(hi << 4 | must_be_hex(*p));
			hi = -1;
		}
	}
	ck_assert_msg(hi < 0, "odd count of hex digits in \"%s\"", hex);
	*len = n;
	b = realloc(b, n ? n : 1);
	ck_assert_ptr_nonnull(b);
	return b;
}

size_t put_utf8(uint8_t *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (uint8_t)(0xc0 | cp >> 6);
		out[1] = (uint8_t)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (uint8_t)(0xe0 | cp >> 12);
		out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (uint8_t)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (uint8_t)(0xf0 | cp >> 18);
	out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (uint8_t)(0x80 | (cp & 0x3f));
	return 4;
}

bool parts_equal(const struct kv_part *a, const struct kv_part *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case KV_PART_BYTES:
	case KV_PART_STRING:
		return a->len == b->len &&
		       (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
	case KV_PART_BIGINT:
		return a->bigint.negative == b->bigint.negative &&
		       a->bigint.len == b->bigint.len &&
		       (a->bigint.len == 0 ||
			memcmp(a->bigint.mag, b->bigint.mag, a->bigint.len) ==
				0);
	case KV_PART_NUMBER:
		return to_bits(a->num) == to_bits(b->num);
	default:
		return true;
	}
}

/* ------------------------------------------------------- Deno's vectors */

/* A reader of one of Deno's vector files, a row at a time. */
struct tsv {
	FILE *f;
	char *line;
	size_t cap;
};

/* $KVFS_SHARED/denokv/name opened, its column names checked. */
static void tsv_open(struct tsv *t, const char *name, const char *columns)
{
	const char *shared = getenv("KVFS_SHARED");
	char path[4096];

	ck_assert_msg(shared != NULL, "KVFS_SHARED is not set");
	snprintf(path, sizeof(path), "%s/denokv/%s", shared, name);
	*t = (struct tsv){ .f = fopen(path, "r") };
	ck_assert_msg(t->f != NULL, "cannot open %s", path);
	ck_assert_msg(getline(&t->line, &t->cap, t->f) > 0, "%s is empty",
		      path);
	t->line[strcspn(t->line, "\r\n")] = '\0';
	ck_assert_msg(strcmp(t->line, columns) == 0, "%s: columns \"%s\"",
		      path, t->line);
}

/*
 * The next row split in place into exactly n fields, which stay valid until
 * the next call; false at the end of the file. Empty lines are passed over;
 * a row of another count of fields fails the test.
 */
static bool tsv_next(struct tsv *t, char **fields, size_t n)
{
	size_t got;

	do {
		if (getline(&t->line, &t->cap, t->f) <= 0)
			return false;
		t->line[strcspn(t->line, "\r\n")] = '\0';
	} while (t->line[0] == '\0');
	got = 0;
	fields[got++] = t->line;
	for (char *p = t->line; *p; p++) {
		if (*p != '\t')
			continue;
		ck_assert_msg(got < n, "more than %zu fields in \"%s\"", n,
			      fields[0]);
		*p = '\0';
		fields[got++] = p + 1;
	}
	ck_assert_msg(got == n, "%zu fields, not %zu, in \"%s\"", got, n,
		      fields[0]);
	return true;
}

static void tsv_close(struct tsv *t)
{
	free(t->line);
	fclose(t->f);
}

static char *dup_text(const char *s)
{
	char *d = strdup(s);
	ck_assert_ptr_nonnull(d);
	return d;
}

/* Room for one more element of size each at the end of *items. */
static void *grow(void *items, size_t n, size_t each)
{
	void *more = realloc(items, (n + 1) * each);
	ck_assert_ptr_nonnull(more);
	return more;
}

size_t key_vectors_read(struct key_vector **out)
{
	struct key_vector *v = NULL;
	struct tsv t;
	char *field[2];
	size_t n = 0;

	tsv_open(&t, "key_vectors.tsv", "key_json\thex");
	while (tsv_next(&t, field, 2)) {
		v = grow(v, n, sizeof(*v));
		v[n].json = dup_text(field[0]);
		v[n].key = unhex(field[1], &v[n].len);
		n++;
	}
	tsv_close(&t);
	*out = v;
	return n;
}

void key_vectors_free(struct key_vector *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].json);
		free(v[i].key);
	}
	free(v);
}

/* The v_encoding column: a digit, or "ERROR" where Deno refused (0). */
static int encoding_of(const char *text)
{
	if (strcmp(text, "ERROR") == 0)
		return 0;
	ck_assert_msg(strlen(text) == 1 && strchr("123", text[0]),
		      "v_encoding \"%s\"", text);
	return text[0] - '0';
}

size_t value_vectors_read(struct value_vector **out, bool stored_only)
{
	struct value_vector *v = NULL;
	struct tsv t;
	char *field[4];
	size_t n = 0;

	tsv_open(&t, "value_vectors.tsv", "description\tjs\tv_encoding\thex");
	while (tsv_next(&t, field, 4)) {
		int encoding = encoding_of(field[2]);
		if (stored_only && encoding == 0)
			continue;
		v = grow(v, n, sizeof(*v));
		v[n].description = dup_text(field[0]);
		v[n].encoding = encoding;
		/* A refused row's last column says why, in words. */
		v[n].bytes = unhex(encoding ? field[3] : "", &v[n].len);
		n++;
	}
	tsv_close(&t);
	*out = v;
	return n;
}

void value_vectors_free(struct value_vector *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].description);
		free(v[i].bytes);
	}
	free(v);
}

/* ------------------------------------------------------ scratch space */

void temp_dir_make(char *template)
{
	ck_assert_msg(mkdtemp(template) != NULL, "mkdtemp %s", template);
}

static int remove_entry(const char *path, const struct stat *st, int flag,
			struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void temp_dir_remove(const char *dir)
{
	/* Children first (FTW_DEPTH), never across a mount (FTW_MOUNT). */
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

int run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
