/*
 * bench_gen.c — write the benchmark's app-like store (layout.h) through the
 * store API, in commits of up to 1000 mutations as Deno allows:
 *
 *   bench_gen DB KEYS
 *
 * DB must not exist. Prints one JSON line: the keys, users and tenants
 * written and the seconds it took. Exits 1 with a message on failure.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "kv_key.h"
#include "kv_store.h"
#include "kv_value.h"
#include "layout.h"

/* Below Deno's per-commit totals, with room for one more mutation. */
#define BATCH_KEY_BYTES (KV_MAX_TOTAL_KEY_SIZE - 4096)
#define BATCH_BYTES (KV_MAX_TOTAL_MUTATION_SIZE - 16384)

struct batch {
	struct kv_store *store;
	struct kv_arena *arena;
	struct kv_mutation m[KV_MAX_MUTATIONS];
	size_t n;
	size_t key_bytes;
	size_t bytes;
	unsigned long written;
};

static int batch_flush(struct batch *b)
{
	struct kv_atomic a = { .mutations = b->m, .n_mutations = b->n };
	int r = b->n ? kv_store_commit(b->store, &a, NULL) : 0;

	b->written += r == 0 ? b->n : 0;
	b->n = b->key_bytes = b->bytes = 0;
	kv_arena_free(b->arena);
	b->arena = kv_arena_new();
	return r < 0 ? r : b->arena ? 0 : -ENOMEM;
}

/* Queue one set; key and value are copied into the batch's arena. */
static int batch_set(struct batch *b, const struct kv_buf *key,
		     enum kv_encoding enc, const void *value, size_t len)
{
	int r = 0;

	if (b->n == KV_MAX_MUTATIONS || b->key_bytes >= BATCH_KEY_BYTES ||
	    b->bytes >= BATCH_BYTES)
		r = batch_flush(b);
	if (r < 0)
		return r;
	uint8_t *k = kv_arena_dup(b->arena, key->data, key->len);
	uint8_t *v = kv_arena_dup(b->arena, value, len);
	if (!k || !v)
		return -ENOMEM;
	b->m[b->n++] = (struct kv_mutation){
		.type = KV_MUT_SET, .key = k, .key_len = key->len,
		.encoding = enc, .value = v, .value_len = len,
		.expire_in_ms = -1,
	};
	b->key_bytes += key->len;
	b->bytes += key->len + len;
	return 0;
}

/* Queue a V8 value given as JSON in kvfs's mapping. */
static int batch_set_json(struct batch *b, const struct kv_buf *key,
			  const char *json)
{
	struct kv_value *v;
	struct kv_buf enc = {0};
	int r = kv_json_parse(json, strlen(json), b->arena, &v);

	if (r == 0)
		r = kv_v8_encode(v, &enc);
	if (r == 0)
		r = batch_set(b, key, KV_ENC_V8, enc.data, enc.len);
	kv_buf_free(&enc);
	return r;
}

static struct kv_part str_part(const char *s)
{
	return (struct kv_part){ .type = KV_PART_STRING,
				 .data = (const uint8_t *)s,
				 .len = strlen(s) };
}

static struct kv_part num_part(double v)
{
	return (struct kv_part){ .type = KV_PART_NUMBER, .num = v };
}

static int encode(const struct kv_part *parts, size_t n, struct kv_buf *out)
{
	out->len = 0;
	return kv_key_encode(parts, n, out);
}

static int write_tenant(struct batch *b, unsigned long tenant)
{
	char t[16], json[256];
	struct kv_buf key = {0};

	layout_tenant_name(tenant, t);
	struct kv_part parts[] = { str_part("tenant"), str_part(t),
				   str_part("info") };
	int r = encode(parts, 3, &key);
	snprintf(json, sizeof(json),
		 "{\"name\":\"Tenant %s\",\"plan\":\"business\","
		 "\"seats\":%d,\"created\":{\"$date\":"
		 "\"2024-01-01T00:00:00.000Z\"}}",
		 t, LAYOUT_USERS_PER_TENANT);
	if (r == 0)
		r = batch_set_json(b, &key, json);
	kv_buf_free(&key);
	return r;
}

static int write_post(struct batch *b, const char *tenant,
		      unsigned long user, unsigned i)
{
	char p[16], json[512];
	struct kv_buf key = {0};

	layout_post_name(user, i, p);
	struct kv_part parts[] = { str_part("tenant"), str_part(tenant),
				   str_part("posts"), str_part(p) };
	int r = encode(parts, 4, &key);
	snprintf(json, sizeof(json),
		 "{\"title\":\"Post %s\",\"author\":[\"tenant\",\"%s\","
		 "\"users\",%lu],\"body\":\"Lorem ipsum dolor sit amet, "
		 "consectetur adipiscing elit, sed do eiusmod tempor "
		 "incididunt ut labore et dolore magna aliqua. Ut enim ad "
		 "minim veniam, quis nostrud exercitation.\",\"tags\":"
		 "[\"news\",\"tenant\"],\"likes\":%lu,\"published\":true}",
		 p, tenant, user, (user * 7 + i) % 1000);
	if (r == 0)
		r = batch_set_json(b, &key, json);
	kv_buf_free(&key);
	return r;
}

/* The JSON text of one user attribute, or NULL for the binary ones. */
static const char *attr_json(const char *attr, const char *tenant,
			     unsigned long user, char *json, size_t size)
{
	char p0[16], p1[16];

	if (!strcmp(attr, "created"))
		snprintf(json, size, "%lu", 1700000000000UL + user * 1000);
	else if (!strcmp(attr, "email"))
		snprintf(json, size, "\"user%lu@%s.example\"", user, tenant);
	else if (!strcmp(attr, "last_login"))
		snprintf(json, size,
			 "{\"$date\":\"2026-11-%02luT10:00:00.000Z\"}",
			 1 + user % 28);
	else if (!strcmp(attr, "name"))
		snprintf(json, size, "\"User %lu\"", user);
	else if (!strcmp(attr, "plan"))
		snprintf(json, size, "\"%s\"", user % 3 ? "free" : "pro");
	else if (!strcmp(attr, "posts")) {
		layout_post_name(user, 0, p0);
		layout_post_name(user, 1, p1);
		snprintf(json, size,
			 "[[\"tenant\",\"%s\",\"posts\",\"%s\"],"
			 "[\"tenant\",\"%s\",\"posts\",\"%s\"]]",
			 tenant, p0, tenant, p1);
	} else if (!strcmp(attr, "profile"))
		snprintf(json, size,
			 "{\"name\":\"User %lu\",\"email\":\"user%lu@%s."
			 "example\",\"bio\":\"Writes about storage.\","
			 "\"roles\":[\"member\"],\"age\":%lu}",
			 user, user, tenant, 18 + user % 60);
	else if (!strcmp(attr, "settings"))
		snprintf(json, size,
			 "{\"theme\":\"%s\",\"lang\":\"en\",\"notify\":"
			 "{\"email\":true,\"push\":false}}",
			 user % 2 ? "dark" : "light");
	else
		return NULL;
	return json;
}

static int write_attr(struct batch *b, const char *tenant,
		      unsigned long user, const char *attr)
{
	char json[512];
	uint8_t raw[64];
	struct kv_buf key = {0};
	struct kv_part parts[] = { str_part("tenant"), str_part(tenant),
				   str_part("users"), num_part((double)user),
				   str_part(attr) };
	int r = encode(parts, 5, &key);

	if (r < 0)
		goto out;
	if (attr_json(attr, tenant, user, json, sizeof(json))) {
		r = batch_set_json(b, &key, json);
	} else if (!strcmp(attr, "visits")) {
		kv_u64_encode(user * 13 % 9973, raw);
		r = batch_set(b, &key, KV_ENC_U64, raw, 8);
	} else {
		for (size_t i = 0; i < sizeof(raw); i++)
			raw[i] = (uint8_t)(user * 31 + i * 7);
		r = batch_set(b, &key, KV_ENC_BYTES, raw, sizeof(raw));
	}
out:
	kv_buf_free(&key);
	return r;
}

static int write_user(struct batch *b, unsigned long user)
{
	char t[16];
	int r = 0;

	layout_tenant_name(user / LAYOUT_USERS_PER_TENANT, t);
	for (unsigned i = 0; i < LAYOUT_USER_ATTRS && r == 0; i++)
		r = write_attr(b, t, user, layout_user_attrs[i]);
	for (unsigned i = 0; i < LAYOUT_POSTS_PER_USER && r == 0; i++)
		r = write_post(b, t, user, i);
	return r;
}

static int generate(struct batch *b, unsigned long users)
{
	int r = 0;

	for (unsigned long g = 0; g < users && r == 0; g++) {
		if (g % LAYOUT_USERS_PER_TENANT == 0)
			r = write_tenant(b, g / LAYOUT_USERS_PER_TENANT);
		if (r == 0)
			r = write_user(b, g);
	}
	return r ? r : batch_flush(b);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	struct stat st;
	char *end;

	if (argc != 3) {
		fprintf(stderr, "usage: bench_gen DB KEYS\n");
		return 2;
	}
	unsigned long keys = strtoul(argv[2], &end, 10);
	if (*end || keys == 0) {
		fprintf(stderr, "bench_gen: bad key count '%s'\n", argv[2]);
		return 2;
	}
	if (stat(argv[1], &st) == 0) {
		fprintf(stderr, "bench_gen: %s exists\n", argv[1]);
		return 1;
	}
	struct kv_store_options o = { .create = true };
	struct batch *b = calloc(1, sizeof(*b));
	int r = b ? kv_store_open(argv[1], &o, &b->store) : -ENOMEM;
	if (r == 0 && !(b->arena = kv_arena_new()))
		r = -ENOMEM;
	unsigned long users = layout_users_for(keys);
	double t0 = now_s();
	if (r == 0)
		r = generate(b, users);
	double t1 = now_s();
	if (r == 0)
		printf("{\"keys\":%lu,\"users\":%lu,\"tenants\":%lu,"
		       "\"seconds\":%.3f}\n",
		       b->written, users,
		       (users + LAYOUT_USERS_PER_TENANT - 1) /
			       LAYOUT_USERS_PER_TENANT,
		       t1 - t0);
	else
		fprintf(stderr, "bench_gen: %s: %s\n", argv[1], strerror(-r));
	if (b) {
		kv_store_close(b->store);
		kv_arena_free(b->arena);
	}
	free(b);
	return r ? 1 : 0;
}
