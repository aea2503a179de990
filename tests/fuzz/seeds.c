/*
 * seeds.c — write the seed corpora of the fuzz targets from the vectors the
 * real Deno wrote (KVFS_SHARED/denokv/key_vectors.tsv, value_vectors.tsv):
 *   OUT/key/   every encoded key
 *   OUT/name/  the file name of every part of those keys, and their paths
 *   OUT/v8/    every V8 value (v_encoding 1)
 *   OUT/json/  the JSON rendering of every V8 value
 *   OUT/seal/  every value (of any v_encoding) to seal, sealed as an
 *              envelope, and two seal rows (the modes of fuzz_seal.c)
 * Usage: fuzz_seeds SHARED_DIR OUT_DIR. Generated at test time rather than
 * committed, so the corpora follow the vectors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "hex.h"
#include "name.h"

struct seeds {
	const char *out;
	unsigned count;
};

/* Decode a whole hex field; -EINVAL when it is not hex (Deno's "ERROR"). */
static int from_hex(const char *hex, struct kv_buf *out)
{
	size_t len = strlen(hex);
	if (len % 2)
		return -EINVAL;
	for (size_t i = 0; i < len; i += 2) {
		int hi = store_hex_digit(hex[i]);
		int lo = store_hex_digit(hex[i + 1]);
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

/* Mode 1 of fuzz_seal.c: the value to seal, no bit to flip; mode 0: it
 * sealed. */
static int write_seal_seeds(struct seeds *s, enum kv_encoding enc,
			    const struct kv_buf *value)
{
	struct kv_buf seed = {0};
	uint8_t key[SEAL_KEY_LEN];
	static const uint8_t nonce[SEAL_NONCE_LEN] = "a nonce for the seeds";
	int r = kv_buf_reserve(&seed, 4 + value->len + KV_SEAL_OVERHEAD);
	if (r < 0)
		return r;
	uint8_t head[] = {1, (uint8_t)enc, 0, 0};
	kv_buf_append(&seed, head, sizeof(head));
	kv_buf_append(&seed, value->data, value->len);
	r = write_seed(s, "seal", seed.data, seed.len);
	fuzz_seal_value_key(key);
	seed.data[0] = 0;
	if (r == 0)
		r = seal_value(key, 1, &fuzz_seal_owner, enc, value->data,
			       value->len, nonce, seed.data + 1);
	if (r == 0)
		r = write_seed(s, "seal", seed.data,
			       1 + value->len + KV_SEAL_OVERHEAD);
	kv_buf_free(&seed);
	return r;
}

/* Mode 2 of fuzz_seal.c: a seal row with a key-file slot and a
 * passphrase slot; the parser does not look inside them. */
static int write_row_seed(struct seeds *s)
{
	struct seal_row row = {.current = 1, .n_gens = 1, .gens = {1},
			       .n_slots = 2};
	memcpy(row.store_id, fuzz_seal_owner.store_id, KV_SEAL_STORE_ID_LEN);
	row.slots[0] = (struct seal_slot){.kind = KV_SLOT_KEY_FILE, .id = 1};
	row.slots[1] = (struct seal_slot){.kind = KV_SLOT_PASSPHRASE, .id = 2,
					  .opslimit = 3,
					  .memlimit = 64 << 20};
	struct kv_buf bytes = {0};
	int r = kv_buf_push(&bytes, 2);
	if (r == 0)
		r = seal_row_write(&row, &bytes);
	if (r == 0)
		r = write_seed(s, "seal", bytes.data, bytes.len);
	kv_buf_free(&bytes);
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
	struct kv_buf value = {0};
	int r = 0;
	if (n != 4 || from_hex(f[3], &value) < 0) {
		kv_buf_free(&value);
		return 0;
	}
	enum kv_encoding enc = (enum kv_encoding)atoi(f[2]);
	if (enc == KV_ENC_V8) {
		r = write_seed(s, "v8", value.data, value.len);
		if (r == 0)
			r = write_json_seed(s, &value);
	}
	if (r == 0)
		r = write_seal_seeds(s, enc, &value);
	kv_buf_free(&value);
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
	if (read_vectors(&s, path, value_row) < 0 || write_row_seed(&s) < 0)
		return 1;
	printf("%u seeds in %s\n", s.count, s.out);
	return 0;
}
