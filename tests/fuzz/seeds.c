/*
 * seeds.c — write the seed corpora of the fuzz targets from the vectors the
 * real Deno wrote (KVFS_SHARED/denokv/key_vectors.tsv, value_vectors.tsv):
 *   OUT/key/   every encoded key
 *   OUT/name/  the file name of every part of those keys, and their paths
 *   OUT/v8/    every V8 value (v_encoding 1)
 *   OUT/json/  the JSON rendering of every V8 value
 * Usage: fuzz_seeds SHARED_DIR OUT_DIR. Generated at test time rather than
 * committed, so the corpora follow the vectors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kv_key.h"
#include "kv_value.h"
#include "name.h"

struct seeds {
	const char *out;
	unsigned count;
};

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode a whole hex field; -EINVAL when it is not hex (Deno's "ERROR"). */
static int from_hex(const char *hex, struct kv_buf *out)
{
	size_t len = strlen(hex);
	if (len % 2)
		return -EINVAL;
	for (size_t i = 0; i < len; i += 2) {
		int hi = hex_digit(hex[i]), lo = hex_digit(hex[i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		int r = kv_buf_push(out, (uint8_t)(hi << 4 | lo));
		if (r < 0)
			return r;
	}
	return 0;
}

static int write_seed(struct seeds *s, const char *corpus, const void *data,
		      size_t len)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", s->out, corpus);
	if (mkdir(path, 0777) != 0 && errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), "%s/%s/seed-%04u", s->out, corpus,
		 s->count++);
	FILE *f = fopen(path, "wb");
	if (!f)
		return -errno;
	bool ok = fwrite(data, 1, len, f) == len;
	ok = fclose(f) == 0 && ok;
	return ok ? 0 : -EIO;
}

static int write_name_seeds(struct seeds *s, const struct kv_buf *key)
{
	struct kv_key k = {0};
	struct kv_buf text = {0};
	int r = kv_key_decode(key->data, key->len, &k);
	for (size_t i = 0; r == 0 && i < k.n; i++) {
		text.len = 0;
		r = kvfs_name_format(&k.parts[i], &text);
		if (r == 0)
			r = write_seed(s, "name", text.data, text.len);
	}
	if (r == 0 && key->len) {
		text.len = 0;
		r = kvfs_key_to_path(key->data, key->len, &text);
		if (r == 0)
			r = write_seed(s, "name", text.data, text.len);
	}
	kv_buf_free(&text);
	kv_key_free(&k);
	return r;
}

static int write_json_seed(struct seeds *s, const struct kv_buf *v8)
{
	struct kv_arena *arena = kv_arena_new();
	struct kv_value *v;
	struct kv_buf json = {0};
	if (!arena)
		return -ENOMEM;
	int r = kv_v8_decode(v8->data, v8->len, arena, &v, NULL);
	if (r == 0)
		r = kv_json_render(v, &json);
	if (r == 0)
		r = write_seed(s, "json", json.data, json.len);
	kv_buf_free(&json);
	kv_arena_free(arena);
	return r;
}

/* One TSV row: fields split at tabs, in place. */
static size_t split_row(char *line, char **fields, size_t max)
{
	size_t n = 0;
	line[strcspn(line, "\r\n")] = 0;
	fields[n++] = line;
	for (char *p = line; *p && n < max; p++)
		if (*p == '\t') {
			*p = 0;
			fields[n++] = p + 1;
		}
	return n;
}

static int key_row(struct seeds *s, char **f, size_t n)
{
	struct kv_buf key = {0};
	int r = 0;
	if (n == 2 && from_hex(f[1], &key) == 0) {
		r = write_seed(s, "key", key.data, key.len);
		if (r == 0)
			r = write_name_seeds(s, &key);
	}
	kv_buf_free(&key);
	return r;
}

static int value_row(struct seeds *s, char **f, size_t n)
{
	struct kv_buf v8 = {0};
	int r = 0;
	if (n == 4 && strcmp(f[2], "1") == 0 && from_hex(f[3], &v8) == 0) {
		r = write_seed(s, "v8", v8.data, v8.len);
		if (r == 0)
			r = write_json_seed(s, &v8);
	}
	kv_buf_free(&v8);
	return r;
}

static int read_vectors(struct seeds *s, const char *path,
			int (*row)(struct seeds *, char **, size_t))
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "fuzz_seeds: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	char *line = NULL;
	size_t cap = 0;
	int r = 0;
	bool header = true;
	while (r == 0 && getline(&line, &cap, f) >= 0) {
		char *fields[4];
		size_t n = split_row(line, fields, 4);
		if (!header)
			r = row(s, fields, n);
		header = false;
	}
	free(line);
	fclose(f);
	if (r < 0)
		fprintf(stderr, "fuzz_seeds: %s: %s\n", path, strerror(-r));
	return r;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fputs("usage: fuzz_seeds SHARED_DIR OUT_DIR\n", stderr);
		return 2;
	}
	struct seeds s = {.out = argv[2]};
	char path[4096];
	if (mkdir(s.out, 0777) != 0 && errno != EEXIST) {
		perror(s.out);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/denokv/key_vectors.tsv", argv[1]);
	if (read_vectors(&s, path, key_row) < 0)
		return 1;
	snprintf(path, sizeof(path), "%s/denokv/value_vectors.tsv", argv[1]);
	if (read_vectors(&s, path, value_row) < 0)
		return 1;
	printf("%u seeds in %s\n", s.count, s.out);
	return 0;
}
