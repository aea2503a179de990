/*
 * bench_store.c — the C side of the store comparison: the same workload as
 * deno_store.ts, through the store API, on a new store file:
 *
 *   bench_store DB N_SET N_ATOMIC
 *
 *   set     N_SET values, one commit each (V8-encoding the value each time)
 *   get     each of them, in a scrambled order, decoding the value
 *   list    all of them under their prefix, 1000 per read, decoding each
 *   atomic  N_ATOMIC commits of a versionstamp check and a set of one key
 *
 * A smaller round under another prefix goes first and is not timed, as in
 * deno_store.ts, where it lets V8 compile the loop before it counts.
 *
 * DB may also be an etcd URL (docs/etcd.md), for the cost of going
 * distributed.
 *
 * Prints one JSON line: nanoseconds per operation of each phase, in wall
 * time and in CPU time (user and system, of the whole process and of the
 * processes BENCH_CPU_PIDS names, cpu.h: the etcd members), and, on
 * SQLite, the store connection's synchronous and journal_mode settings,
 * read on the connection the store opened (caught with
 * sqlite3_auto_extension), so the durability compared with Deno is the one
 * actually in force.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "kv_key.h"
#include "kv_store.h"
#include "kv_value.h"

#include "cpu.h"

/* Up to this many keys of each phase warm both sides up. */
#define WARM_UP 100

struct workload {
	struct kv_store *store;
	const char *prefix; /* the first key part: ["prefix", "item", i] */
	unsigned long n;
	unsigned long n_atomic;
	struct kv_buf *keys;
	struct kv_value **values;
	struct kv_arena *arena;
	uint8_t (*stamps)[KV_VERSIONSTAMP_LEN];
};

static sqlite3 *store_db;

static int catch_connection(sqlite3 *db, const char **err,
			    const struct sqlite3_api_routines *api)
{
	(void)err;
	(void)api;
	store_db = db;
	return SQLITE_OK;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The start of each phase and the end of the last, in both clocks. */
struct marks {
	uint64_t wall[5];
	uint64_t cpu[5];
};

static void mark(struct marks *m, int i)
{
	m->wall[i] = now_ns();
	m->cpu[i] = cpu_ns();
}

/* The value of item i: the object deno_store.ts builds for it. */
static int item_value(unsigned long i, struct kv_arena *arena,
		      struct kv_value **out)
{
	char json[256];
	int n = snprintf(json, sizeof(json),
			 "{\"id\":%lu,\"name\":\"item %lu\",\"tags\":[\"a\","
			 "\"b\"],\"price\":%lu.5,\"active\":%s}",
			 i, i, i % 1000, i % 2 ? "true" : "false");

	return kv_json_parse(json, (size_t)n, arena, out);
}

/* ["prefix", "item", i], or ["prefix", "item"] when parts is 2. */
static int item_key(const char *prefix, unsigned long i, size_t parts,
		    struct kv_buf *out)
{
	struct kv_part p[] = {
		{ .type = KV_PART_STRING, .data = (const uint8_t *)prefix,
		  .len = strlen(prefix) },
		{ .type = KV_PART_STRING, .data = (const uint8_t *)"item",
		  .len = 4 },
		{ .type = KV_PART_NUMBER, .num = (double)i },
	};
	return kv_key_encode(p, parts, out);
}

static int prepare(struct workload *w)
{
	w->keys = calloc(w->n, sizeof(*w->keys));
	w->values = calloc(w->n, sizeof(*w->values));
	w->stamps = calloc(w->n, sizeof(*w->stamps));
	w->arena = kv_arena_new();
	if (!w->keys || !w->values || !w->stamps || !w->arena)
		return -ENOMEM;
	int r = 0;
	for (unsigned long i = 0; i < w->n && r == 0; i++) {
		r = item_key(w->prefix, i, 3, &w->keys[i]);
		if (r == 0)
			r = item_value(i, w->arena, &w->values[i]);
	}
	return r;
}

static int set_one(struct workload *w, unsigned long i, bool check)
{
	struct kv_buf enc = {0};
	int r = kv_v8_encode(w->values[i], &enc);
	struct kv_check c = { .key = w->keys[i].data,
			      .key_len = w->keys[i].len,
			      .versionstamp = w->stamps[i] };
	struct kv_mutation m = { .type = KV_MUT_SET,
				 .key = w->keys[i].data,
				 .key_len = w->keys[i].len,
				 .encoding = KV_ENC_V8,
				 .value = enc.data,
				 .value_len = enc.len,
				 .expire_in_ms = -1 };
	struct kv_atomic a = { .checks = &c, .n_checks = check ? 1 : 0,
			       .mutations = &m, .n_mutations = 1 };

	if (r == 0)
		r = kv_store_commit(w->store, &a, w->stamps[i]);
	kv_buf_free(&enc);
	return r;
}

static int decode_value(const struct kv_entry *e)
{
	struct kv_arena *arena = kv_arena_new();
	struct kv_value *v;
	int r = arena ? kv_v8_decode(e->value, e->value_len, arena, &v, NULL)
		      : -ENOMEM;

	kv_arena_free(arena);
	return r;
}

/* A fixed odd multiplier scrambles the order of the gets. */
static int get_one(struct workload *w, unsigned long k)
{
	unsigned long i = (unsigned long)((k * 7919ull) % w->n);
	struct kv_entry e;
	int r = kv_store_get(w->store, w->keys[i].data, w->keys[i].len, &e);

	if (r == 0) {
		r = decode_value(&e);
		kv_entry_free(&e);
	}
	return r;
}

static int list_all(struct workload *w, unsigned long *seen)
{
	struct kv_buf prefix = {0}, cursor = {0};
	int r = item_key(w->prefix, 0, 2, &prefix);

	*seen = 0;
	do {
		struct kv_list sel = { .prefix = prefix.data,
				       .prefix_len = prefix.len,
				       .limit = KV_MAX_READ_ENTRIES,
				       .cursor = (const char *)cursor.data };
		struct kv_entries got = {0};
		if (r == 0)
			r = kv_store_list(w->store, &sel, &got, &cursor);
		for (size_t i = 0; i < got.n && r == 0; i++)
			r = decode_value(&got.v[i]);
		*seen += got.n;
		kv_entries_free(&got);
	} while (r == 0 && cursor.len);
	kv_buf_free(&prefix);
	kv_buf_free(&cursor);
	return r;
}

static int pragma_text(const char *sql, char *out, size_t size)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(store_db, sql, -1, &st, NULL);

	if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		snprintf(out, size, "%s",
			 (const char *)sqlite3_column_text(st, 0));
	else
		snprintf(out, size, "?");
	sqlite3_finalize(st);
	return rc == SQLITE_OK ? 0 : -EIO;
}

static double per_op(uint64_t ns, unsigned long n)
{
	return n ? (double)ns / (double)n : 0;
}

static void print_phases(const struct marks *m, unsigned long n,
			 unsigned long n_atomic)
{
	static const char *const names[4] = { "set", "get", "list", "atomic" };

	for (int i = 0; i < 4; i++) {
		unsigned long count = i == 3 ? n_atomic : n;
		printf("\"%s_ns\":%.1f,\"%s_cpu_ns\":%.1f,", names[i],
		       per_op(m->wall[i + 1] - m->wall[i], count), names[i],
		       per_op(m->cpu[i + 1] - m->cpu[i], count));
	}
}

static int run(struct workload *w, struct marks *m)
{
	unsigned long seen = 0;
	int r = 0;

	mark(m, 0);
	for (unsigned long i = 0; i < w->n && r == 0; i++)
		r = set_one(w, i, false);
	mark(m, 1);
	for (unsigned long k = 0; k < w->n && r == 0; k++)
		r = get_one(w, k);
	mark(m, 2);
	if (r == 0)
		r = list_all(w, &seen);
	mark(m, 3);
	for (unsigned long i = 0; i < w->n_atomic && r == 0; i++)
		r = set_one(w, i % w->n, true);
	mark(m, 4);
	return r == 0 && seen != w->n ? -EIO : r;
}

/* The durability settings in force, when the store is a SQLite file. */
static void print_durability(void)
{
	char sync[32], journal[32];

	if (!store_db)
		return;
	pragma_text("PRAGMA synchronous", sync, sizeof(sync));
	pragma_text("PRAGMA journal_mode", journal, sizeof(journal));
	printf(",\"synchronous\":\"%s\",\"journal_mode\":\"%s\"", sync,
	       journal);
}

static void print_result(const struct workload *w, const struct marks *m)
{
	printf("{");
	print_phases(m, w->n, w->n_atomic);
	printf("\"n\":%lu,\"n_atomic\":%lu", w->n, w->n_atomic);
	print_durability();
	printf("}\n");
}

static void workload_free(struct workload *w)
{
	for (unsigned long i = 0; w->keys && i < w->n; i++)
		kv_buf_free(&w->keys[i]);
	free(w->keys);
	free(w->values);
	free(w->stamps);
	kv_arena_free(w->arena);
}

/* Prepare and run one round; print it when it is the timed one. */
static int round_of(struct workload *w, bool timed)
{
	struct marks m;
	int r = prepare(w);

	if (r == 0)
		r = run(w, &m);
	if (r == 0 && timed)
		print_result(w, &m);
	workload_free(w);
	return r;
}

int main(int argc, char **argv)
{
	struct kv_store *store = NULL;
	char *end1, *end2;

	if (argc != 4) {
		fprintf(stderr, "usage: bench_store DB N_SET N_ATOMIC\n");
		return 2;
	}
	unsigned long n = strtoul(argv[2], &end1, 10);
	unsigned long n_atomic = strtoul(argv[3], &end2, 10);
	if (*end1 || *end2 || n == 0) {
		fprintf(stderr, "bench_store: bad counts\n");
		return 2;
	}
	sqlite3_auto_extension((void (*)(void))catch_connection);
	struct kv_store_options o = { .create = true };
	int r = kv_store_open(argv[1], &o, &store);
	/* A file must have been opened by SQLite, or the durability read
	 * would not be the store's. */
	if (r == 0 && !store_db && !strstr(argv[1], "://"))
		r = -EIO;
	struct workload warm = {
		.store = store, .prefix = "warm",
		.n = n < WARM_UP ? n : WARM_UP,
		.n_atomic = n_atomic < WARM_UP ? n_atomic : WARM_UP,
	};
	struct workload timed = { .store = store, .prefix = "bench", .n = n,
				  .n_atomic = n_atomic };
	if (r == 0)
		r = round_of(&warm, false);
	if (r == 0)
		r = round_of(&timed, true);
	if (r < 0)
		fprintf(stderr, "bench_store: %s: %s\n", argv[1], strerror(-r));
	kv_store_close(store);
	return r < 0 ? 1 : 0;
}
