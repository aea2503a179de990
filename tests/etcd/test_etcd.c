/*
 * test_etcd.c — what only the etcd engine does: its layout in etcd (keys
 * under the prefix, value headers, versionstamps from mod_revision, shared
 * leases), its URIs, its format key, races between handles, data_version
 * answered by the engine's etcd watch, and failover when a member of the
 * cluster dies in the middle of a write workload or under a watch.
 * What every engine does is tests/unit/test_store.c, run on etcd too.
 *
 * The test case "engine" uses the cluster of KVFS_ETCD_ENDPOINTS (see
 * tests/etcd/cluster.sh run); "failover" starts a cluster of its own, since
 * it kills one of its members.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "engine.h"
#include "etcd_client.h"
#include "kv_store.h"

static char uri[512];
static char prefix[64];

static const char *endpoints(void)
{
	const char *e = getenv("KVFS_ETCD_ENDPOINTS");

	ck_assert_msg(e && *e, "KVFS_ETCD_ENDPOINTS is not set");
	return e;
}

/* A store of its own for every test: a fresh random prefix. */
static void fresh_uri(void)
{
	snprintf(prefix, sizeof(prefix), "kvfs-test/etcd-%08x%08x",
		 randombytes_random(), randombytes_random());
	snprintf(uri, sizeof(uri), "etcd://%s/%s", endpoints(), prefix);
}

static struct kv_store *open_uri(const char *u, bool create)
{
	struct kv_store_options o = { .create = create };
	struct kv_store *s = NULL;

	ck_assert_int_eq(kv_store_open(u, &o, &s), 0);
	return s;
}

static struct kv_buf skey(const char *part)
{
	struct kv_buf b = { 0 };
	struct kv_part p = { .type = KV_PART_STRING,
			     .data = (const uint8_t *)part,
			     .len = strlen(part) };

	ck_assert_int_eq(kv_part_encode(&p, &b), 0);
	return b;
}

static int set(struct kv_store *s, const char *part, const char *value,
	       int64_t expire_in_ms, uint8_t vs[KV_VERSIONSTAMP_LEN])
{
	struct kv_buf k = skey(part);
	struct kv_mutation m = { .type = KV_MUT_SET,
				 .key = k.data,
				 .key_len = k.len,
				 .encoding = KV_ENC_BYTES,
				 .value = (const uint8_t *)value,
				 .value_len = strlen(value),
				 .expire_in_ms = expire_in_ms };
	struct kv_atomic a = { .mutations = &m, .n_mutations = 1 };
	int r = kv_store_commit(s, &a, vs);

	kv_buf_free(&k);
	return r;
}

static uint64_t vs_revision(const uint8_t vs[KV_VERSIONSTAMP_LEN])
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | vs[i];
	return v;
}

/* ---- raw etcd: what a foreign client sees ------------------------------- */

struct raw {
	struct etcd_client *c;
};

static struct raw raw_open(const char *eps)
{
	struct etcd_client_options o = { .endpoints = eps,
					 .timeout_ms = 5000 };
	struct raw r;

	ck_assert_int_eq(etcd_client_new(&o, &r.c), 0);
	return r;
}

static json_t *b64(const void *p, size_t len)
{
	char out[4096];

	ck_assert_uint_lt(len, 3000);
	sodium_bin2base64(out, sizeof(out), p, len,
			  sodium_base64_VARIANT_ORIGINAL);
	return json_string(out);
}

/* The etcd key of the store's tag 'k', 'm' or 's' and bytes. */
static size_t ekey(char tag, const void *bytes, size_t len, uint8_t *out)
{
	size_t n = strlen(prefix);

	memcpy(out, prefix, n);
	out[n] = 0;
	out[n + 1] = (uint8_t)tag;
	memcpy(out + n + 2, bytes, len);
	return n + 2 + len;
}

/* The one kv of an etcd key, or NULL; *answer keeps it alive. */
static json_t *raw_get(struct raw *r, char tag, const void *bytes, size_t len,
		       json_t **answer)
{
	uint8_t k[2048];
	size_t n = ekey(tag, bytes, len, k);
	json_t *body = json_pack("{s:o}", "key", b64(k, n));

	ck_assert_int_eq(etcd_client_call(r->c, "kv/range", body, true,
					  answer),
			 0);
	json_decref(body);
	return json_array_get(json_object_get(*answer, "kvs"), 0);
}

static void raw_put(struct raw *r, char tag, const char *name,
		    const char *value)
{
	uint8_t k[2048];
	size_t n = ekey(tag, name, strlen(name), k);
	json_t *body = json_pack("{s:o, s:o}", "key", b64(k, n), "value",
				 b64(value, strlen(value)));
	json_t *answer = NULL;

	ck_assert_int_eq(etcd_client_call(r->c, "kv/put", body, true,
					  &answer),
			 0);
	json_decref(body);
	json_decref(answer);
}

static size_t unb64(json_t *field, uint8_t *out, size_t cap)
{
	const char *s = json_string_value(field);
	size_t len = 0;

	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(sodium_base642bin(out, cap, s, strlen(s), NULL, &len,
					   NULL,
					   sodium_base64_VARIANT_ORIGINAL),
			 0);
	return len;
}

static int64_t jint(json_t *obj, const char *name)
{
	const char *s = json_string_value(json_object_get(obj, name));

	return s ? strtoll(s, NULL, 10) : 0;
}

static void setup_engine(void)
{
	ck_assert_int_eq(sodium_init() < 0, 0);
	fresh_uri();
}

/* ---- layout ------------------------------------------------------------- */

START_TEST(keys_live_under_the_prefix_as_denos_encoded_bytes)
{
	struct kv_store *s = open_uri(uri, true);
	struct raw r = raw_open(endpoints());
	struct kv_buf k = skey("users");
	json_t *answer = NULL;

	ck_assert_int_eq(set(s, "users", "x", -1, NULL), 0);
	json_t *kv = raw_get(&r, 'k', k.data, k.len, &answer);
	ck_assert_ptr_nonnull(kv);
	uint8_t got[4096], want[2048];
	size_t n = unb64(json_object_get(kv, "key"), got, sizeof(got));
	ck_assert_uint_eq(n, ekey('k', k.data, k.len, want));
	ck_assert_mem_eq(got, want, n);
	json_decref(answer);
	kv_buf_free(&k);
	etcd_client_free(r.c);
	kv_store_close(s);
}
END_TEST

START_TEST(value_is_the_encoding_byte_then_the_bytes)
{
	struct kv_store *s = open_uri(uri, true);
	struct raw r = raw_open(endpoints());
	struct kv_buf k = skey("v");
	json_t *answer = NULL;

	ck_assert_int_eq(set(s, "v", "hello", -1, NULL), 0);
	json_t *kv = raw_get(&r, 'k', k.data, k.len, &answer);
	uint8_t got[64];
	size_t n = unb64(json_object_get(kv, "value"), got, sizeof(got));
	ck_assert_uint_eq(n, 6);
	ck_assert_mem_eq(got, "\x03hello", 6);
	ck_assert_int_eq(jint(kv, "lease"), 0);
	json_decref(answer);
	kv_buf_free(&k);
	etcd_client_free(r.c);
	kv_store_close(s);
}
END_TEST

START_TEST(expiring_value_carries_its_expiry_and_the_lease_of_its_second)
{
	struct kv_store *s = open_uri(uri, true);
	struct raw r = raw_open(endpoints());
	struct kv_buf k = skey("e");
	struct kv_entry e;
	json_t *answer = NULL;

	ck_assert_int_eq(set(s, "e", "bye", 60000, NULL), 0);
	ck_assert_int_eq(kv_store_get(s, k.data, k.len, &e), 0);
	ck_assert_int_gt(e.expires_at_ms, 0);
	json_t *kv = raw_get(&r, 'k', k.data, k.len, &answer);
	uint8_t got[64];
	size_t n = unb64(json_object_get(kv, "value"), got, sizeof(got));
	ck_assert_uint_eq(n, 1 + 8 + 3);
	ck_assert_uint_eq(got[0], 0x80 | KV_ENC_BYTES);
	uint64_t t = 0;
	for (int i = 1; i <= 8; i++)
		t = t << 8 | got[i];
	ck_assert_uint_eq(t, (uint64_t)e.expires_at_ms);
	ck_assert_mem_eq(got + 9, "bye", 3);
	int64_t lease = jint(kv, "lease");
	ck_assert_int_eq(lease, (0x6b76LL << 48) | (e.expires_at_ms / 1000 + 1));
	json_decref(answer);
	kv_entry_free(&e);
	kv_buf_free(&k);
	etcd_client_free(r.c);
	kv_store_close(s);
}
END_TEST

START_TEST(keys_expiring_in_the_same_second_share_one_lease)
{
	struct kv_store *a = open_uri(uri, true), *b = open_uri(uri, false);
	struct raw r = raw_open(endpoints());
	struct kv_buf k1 = skey("one"), k2 = skey("two");
	json_t *x1 = NULL, *x2 = NULL;

	/* Two handles, as two hosts would be: the lease id is the second's,
	 * so the second writer finds the first one's lease. */
	for (;;) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		if (ts.tv_nsec < 600000000L)
			break; /* room for both writes in this second */
		usleep(50000);
	}
	ck_assert_int_eq(set(a, "one", "1", 30000, NULL), 0);
	ck_assert_int_eq(set(b, "two", "2", 30000, NULL), 0);
	int64_t l1 = jint(raw_get(&r, 'k', k1.data, k1.len, &x1), "lease");
	int64_t l2 = jint(raw_get(&r, 'k', k2.data, k2.len, &x2), "lease");
	ck_assert_int_ne(l1, 0);
	ck_assert_int_eq(l1, l2);
	json_decref(x1);
	json_decref(x2);
	kv_buf_free(&k1);
	kv_buf_free(&k2);
	etcd_client_free(r.c);
	kv_store_close(a);
	kv_store_close(b);
}
END_TEST

START_TEST(versionstamp_is_the_mod_revision_big_endian_then_two_zeros)
{
	struct kv_store *s = open_uri(uri, true);
	struct raw r = raw_open(endpoints());
	struct kv_buf k = skey("v");
	uint8_t vs[KV_VERSIONSTAMP_LEN];
	struct kv_entry e;
	json_t *answer = NULL;

	ck_assert_int_eq(set(s, "v", "x", -1, vs), 0);
	json_t *kv = raw_get(&r, 'k', k.data, k.len, &answer);
	ck_assert_uint_eq(vs_revision(vs), (uint64_t)jint(kv, "mod_revision"));
	ck_assert_uint_eq(vs[8], 0);
	ck_assert_uint_eq(vs[9], 0);
	ck_assert_int_eq(kv_store_get(s, k.data, k.len, &e), 0);
	ck_assert_mem_eq(e.versionstamp, vs, KV_VERSIONSTAMP_LEN);
	json_decref(answer);
	kv_entry_free(&e);
	kv_buf_free(&k);
	etcd_client_free(r.c);
	kv_store_close(s);
}
END_TEST

START_TEST(commits_that_change_nothing_still_get_increasing_versionstamps)
{
	struct kv_store *s = open_uri(uri, true);
	struct kv_buf k = skey("never-there");
	struct kv_mutation del = { .type = KV_MUT_DELETE,
				   .key = k.data,
				   .key_len = k.len };
	struct kv_atomic a = { .mutations = &del, .n_mutations = 1 };
	uint8_t vs1[KV_VERSIONSTAMP_LEN], vs2[KV_VERSIONSTAMP_LEN];

	ck_assert_int_eq(kv_store_commit(s, &a, vs1), 0);
	ck_assert_int_eq(kv_store_commit(s, &a, vs2), 0);
	ck_assert_uint_gt(vs_revision(vs2), vs_revision(vs1));
	kv_buf_free(&k);
	kv_store_close(s);
}
END_TEST

START_TEST(expired_key_is_hidden_before_etcd_deletes_it)
{
	struct kv_store *s = open_uri(uri, true);
	struct raw r = raw_open(endpoints());
	struct kv_buf k = skey("brief");
	struct kv_entry e;
	json_t *answer = NULL;

	ck_assert_int_eq(set(s, "brief", "x", 200, NULL), 0);
	usleep(300000);
	ck_assert_int_eq(kv_store_get(s, k.data, k.len, &e), -ENOENT);
	/* Its lease ends a second after its second at the earliest. */
	ck_assert_ptr_nonnull(raw_get(&r, 'k', k.data, k.len, &answer));
	json_decref(answer);
	kv_buf_free(&k);
	etcd_client_free(r.c);
	kv_store_close(s);
}
END_TEST

START_TEST(sweep_deletes_expired_keys_etcd_still_holds)
{
	struct kv_store *s = open_uri(uri, true);
	struct raw r = raw_open(endpoints());
	struct kv_buf k = skey("brief");
	json_t *answer = NULL;
	size_t n;

	ck_assert_int_eq(set(s, "brief", "x", 100, NULL), 0);
	ck_assert_int_eq(set(s, "stays", "x", -1, NULL), 0);
	usleep(200000);
	ck_assert_int_eq(kv_store_sweep(s, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_ptr_null(raw_get(&r, 'k', k.data, k.len, &answer));
	json_decref(answer);
	kv_buf_free(&k);
	etcd_client_free(r.c);
	kv_store_close(s);
}
END_TEST

/* ---- stores, URIs and the format key ------------------------------------ */

START_TEST(missing_store_without_create_is_enoent)
{
	struct kv_store_options o = { .create = false };
	struct kv_store *s = NULL;

	ck_assert_int_eq(kv_store_open(uri, &o, &s), -ENOENT);
	o.read_only = true;
	ck_assert_int_eq(kv_store_open(uri, &o, &s), -ENOENT);
}
END_TEST

START_TEST(store_of_a_later_format_opens_read_only)
{
	struct raw r = raw_open(endpoints());
	struct kv_store *s;

	raw_put(&r, 's', "format", "2");
	s = open_uri(uri, false);
	ck_assert(kv_store_read_only(s));
	ck_assert_int_eq(set(s, "k", "v", -1, NULL), -EROFS);
	kv_store_close(s);
	raw_put(&r, 's', "format", "banana");
	struct kv_store_options o = { 0 };
	ck_assert_int_eq(kv_store_open(uri, &o, &s), -EINVAL);
	etcd_client_free(r.c);
}
END_TEST

START_TEST(malformed_uris_are_einval)
{
	static const char *const bad[] = {
		"etcd://",
		"etcd:///prefix",
		"etcd://127.0.0.1:1",
		"etcd://127.0.0.1:1/",
		"etcd://127.0.0.1:1/a b",
		"etcd://127.0.0.1:1/p?colour=red",
		"etcd://127.0.0.1:1/p?timeout=0",
		"etcd://127.0.0.1:1/p?tls=yes",
		"etcd://127.0.0.1:1/p?cert=/c.pem",
		"etcd://127.0.0.1:1/p?user=%zz",
		"etcd://,127.0.0.1:1/p",
	};
	struct kv_store_options o = { .create = true };
	struct kv_store *s = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		ck_assert_msg(kv_store_open(bad[i], &o, &s) == -EINVAL,
			      "%s was taken", bad[i]);
}
END_TEST

START_TEST(unreachable_cluster_fails_within_the_timeout)
{
	struct kv_store_options o = { .create = true };
	struct kv_store *s = NULL;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	int r = kv_store_open("etcd://127.0.0.1:1,127.0.0.1:2/p?timeout=300",
			      &o, &s);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_eq(r, -ECONNREFUSED);
	ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 3);
}
END_TEST

START_TEST(nested_prefixes_are_separate_stores)
{
	char inner[600];
	struct kv_store *outer_s = open_uri(uri, true);
	snprintf(inner, sizeof(inner), "%s/k", uri);
	struct kv_store *inner_s = open_uri(inner, true);
	struct kv_entries got;
	static const uint8_t all_end[] = { 0xff };
	struct kv_range all = { (const uint8_t *)"", 0, all_end, 1, 0, false };

	ck_assert_int_eq(set(inner_s, "x", "inner", -1, NULL), 0);
	ck_assert_int_eq(set(outer_s, "y", "outer", -1, NULL), 0);
	ck_assert_int_eq(kv_store_read_range(outer_s, &all, &got), 0);
	ck_assert_uint_eq(got.n, 1);
	ck_assert_mem_eq(got.v[0].value, "outer", 5);
	kv_entries_free(&got);
	ck_assert_int_eq(kv_store_read_range(inner_s, &all, &got), 0);
	ck_assert_uint_eq(got.n, 1);
	ck_assert_mem_eq(got.v[0].value, "inner", 5);
	kv_entries_free(&got);
	kv_store_close(outer_s);
	kv_store_close(inner_s);
}
END_TEST

START_TEST(metadata_lives_apart_from_the_keys)
{
	struct kv_store *s = open_uri(uri, true);
	struct raw r = raw_open(endpoints());
	struct kv_buf got = { 0 };
	json_t *answer = NULL;

	ck_assert_int_eq(kv_store_meta_set(s, "rules", (const uint8_t *)"r",
					   1),
			 0);
	ck_assert_ptr_nonnull(raw_get(&r, 'm', "rules", 5, &answer));
	ck_assert_int_eq(kv_store_meta_get(s, "rules", &got), 0);
	ck_assert_uint_eq(got.len, 1);
	ck_assert_int_eq(kv_store_meta_set(s, "rules", NULL, 0), 0);
	ck_assert_int_eq(kv_store_meta_get(s, "rules", &got), -ENOENT);
	json_decref(answer);
	kv_buf_free(&got);
	etcd_client_free(r.c);
	kv_store_close(s);
}
END_TEST

/* ---- two handles, as two hosts ------------------------------------------ */

enum { SUMMERS = 3, SUMS_EACH = 20 };

static void *sum_many(void *arg)
{
	struct kv_store *s = open_uri(arg, false);
	struct kv_buf k = skey("counter");
	uint8_t one[8];
	long failed = 0;

	kv_u64_encode(1, one);
	struct kv_mutation m = { .type = KV_MUT_SUM,
				 .key = k.data,
				 .key_len = k.len,
				 .encoding = KV_ENC_U64,
				 .value = one,
				 .value_len = 8 };
	struct kv_atomic a = { .mutations = &m, .n_mutations = 1 };
	for (int i = 0; i < SUMS_EACH; i++)
		failed += kv_store_commit(s, &a, NULL) != 0;
	kv_buf_free(&k);
	kv_store_close(s);
	return (void *)failed;
}

START_TEST(concurrent_sums_from_separate_handles_lose_nothing)
{
	struct kv_store *s = open_uri(uri, true);
	pthread_t t[SUMMERS];
	struct kv_buf k = skey("counter");
	struct kv_entry e;
	uint64_t n;

	for (int i = 0; i < SUMMERS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, sum_many, uri), 0);
	for (int i = 0; i < SUMMERS; i++) {
		void *failed;
		pthread_join(t[i], &failed);
		ck_assert_ptr_null(failed);
	}
	ck_assert_int_eq(kv_store_get(s, k.data, k.len, &e), 0);
	ck_assert_int_eq(kv_u64_decode(e.value, e.value_len, &n), 0);
	ck_assert_uint_eq(n, SUMMERS * SUMS_EACH);
	kv_entry_free(&e);
	kv_buf_free(&k);
	kv_store_close(s);
}
END_TEST

/* ---- data_version and the watch ---------------------------------------- */

/* An engine opened directly, to count the requests its client makes. */
struct engine {
	void *e;
	const struct kv_engine_ops *ops;
};

static struct engine engine_open(const char *u)
{
	struct engine g;

	ck_assert_int_eq(kv_etcd_engine_open(u, false, true, &g.e, &g.ops), 0);
	return g;
}

static uint64_t version(struct engine *g)
{
	uint64_t v;

	ck_assert_int_eq(g->ops->data_version(g->e, &v), 0);
	return v;
}

static uint64_t requests(struct engine *g)
{
	return etcd_client_requests(kv_etcd_engine_client(g->e));
}

static int64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Ask data_version until the watch answers it: without a request. */
static void wait_for_the_watch(struct engine *g)
{
	for (int i = 0; i < 500; i++) {
		uint64_t sent = requests(g);
		version(g);
		if (requests(g) == sent)
			return;
		usleep(10000);
	}
	ck_abort_msg("data_version is still asked of etcd after 5 s");
}

/* Ask data_version until it reaches rev: the ms that took. */
static int64_t ms_until_version(struct engine *g, uint64_t rev)
{
	int64_t start = monotonic_ms();

	while (version(g) < rev) {
		ck_assert_int_lt(monotonic_ms() - start, 5000);
		usleep(5000);
	}
	return monotonic_ms() - start;
}

START_TEST(another_handles_commit_moves_the_data_version_within_a_second)
{
	struct engine a = engine_open(uri);
	struct kv_store *b = open_uri(uri, false);
	uint8_t vs[KV_VERSIONSTAMP_LEN];

	uint64_t before = version(&a);
	wait_for_the_watch(&a);
	uint64_t sent = requests(&a);
	ck_assert_int_eq(set(b, "k", "v", -1, vs), 0);
	ck_assert_uint_gt(vs_revision(vs), before);
	ck_assert_int_le(ms_until_version(&a, vs_revision(vs)), 1000);
	/* The watch told it: data_version asked etcd nothing. */
	ck_assert_uint_eq(requests(&a), sent);
	kv_store_close(b);
	a.ops->close(a.e);
}
END_TEST

START_TEST(own_commit_is_counted_when_it_returns)
{
	struct engine a = engine_open(uri);
	struct kv_buf k = skey("mine");
	struct kv_mutation m = { .type = KV_MUT_SET,
				 .key = k.data,
				 .key_len = k.len,
				 .encoding = KV_ENC_BYTES,
				 .value = (const uint8_t *)"v",
				 .value_len = 1,
				 .expire_in_ms = -1 };
	struct kv_atomic at = { .mutations = &m, .n_mutations = 1 };
	uint8_t vs[KV_VERSIONSTAMP_LEN];

	version(&a);
	wait_for_the_watch(&a);
	/* The watch's event for a commit may come after the commit returns:
	 * many commits, so that some do. */
	for (int i = 0; i < 50; i++) {
		ck_assert_int_eq(a.ops->atomic_write(a.e, &at, 0, NULL, vs), 0);
		uint64_t sent = requests(&a);
		ck_assert_uint_ge(version(&a), vs_revision(vs));
		ck_assert_uint_eq(requests(&a), sent);
	}
	kv_buf_free(&k);
	a.ops->close(a.e);
}
END_TEST

START_TEST(close_with_a_live_watch_returns_promptly)
{
	struct engine a = engine_open(uri);

	version(&a);
	wait_for_the_watch(&a);
	int64_t start = monotonic_ms();
	a.ops->close(a.e);
	/* Not a poll's timeout (1 s) nor a request's (5 s). */
	ck_assert_int_lt(monotonic_ms() - start, 500);
}
END_TEST

/* ---- failover: a cluster of its own ------------------------------------- */

static char cluster_dir[128];
static char cluster_eps[256];

static void cluster(const char *what, int member)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "bash %s/tests/etcd/cluster.sh %s %s %.0d",
		 getenv("KVFS_SOURCE_ROOT"), what, cluster_dir, member);
	ck_assert_int_eq(system(cmd), 0);
}

/* Unchecked: it runs in the parent, so the cluster stops even when a test
 * fails. */
static void cluster_start(void)
{
	snprintf(cluster_dir, sizeof(cluster_dir),
		 "/tmp/kvfs-etcd-failover-%d", (int)getpid());
	cluster("start", 0);
	char path[256];
	snprintf(path, sizeof(path), "%s/endpoints", cluster_dir);
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(cluster_eps, sizeof(cluster_eps), f));
	cluster_eps[strcspn(cluster_eps, "\n")] = 0;
	fclose(f);
}

static void cluster_stop(void)
{
	cluster("stop", 0);
}

enum { WRITES = 300, KILL_AT = 80, RESTART_AT = 200 };

struct workload {
	struct kv_store *s;
	int done; /* writes attempted so far */
	bool acked[WRITES];
	uint8_t vs[WRITES][KV_VERSIONSTAMP_LEN];
	pthread_mutex_t lock;
};

static void *write_all(void *arg)
{
	struct workload *w = arg;
	char name[16];

	for (int i = 0; i < WRITES; i++) {
		snprintf(name, sizeof(name), "w%04d", i);
		w->acked[i] = set(w->s, name, name, -1, w->vs[i]) == 0;
		pthread_mutex_lock(&w->lock);
		w->done = i + 1;
		pthread_mutex_unlock(&w->lock);
	}
	return NULL;
}

static void wait_for(struct workload *w, int n)
{
	for (;;) {
		pthread_mutex_lock(&w->lock);
		int done = w->done;
		pthread_mutex_unlock(&w->lock);
		if (done >= n)
			return;
		usleep(2000);
	}
}

/* Every acknowledged write, read back through the given endpoints only. */
static void expect_acked(const struct workload *w, const char *eps)
{
	char u[512];
	snprintf(u, sizeof(u), "etcd://%s/failover", eps);
	struct kv_store *s = open_uri(u, false);

	for (int i = 0; i < WRITES; i++) {
		if (!w->acked[i])
			continue;
		char name[16];
		snprintf(name, sizeof(name), "w%04d", i);
		struct kv_buf k = skey(name);
		struct kv_entry e;
		ck_assert_msg(kv_store_get(s, k.data, k.len, &e) == 0,
			      "acknowledged write %s lost", name);
		ck_assert_mem_eq(e.versionstamp, w->vs[i], KV_VERSIONSTAMP_LEN);
		kv_entry_free(&e);
		kv_buf_free(&k);
	}
	kv_store_close(s);
}

START_TEST(writes_go_on_when_a_member_dies_and_it_catches_up)
{
	static struct workload w;
	char u[512];
	pthread_t writer;

	/* The client starts on member 1, the one that is killed. */
	snprintf(u, sizeof(u), "etcd://%s/failover?timeout=2000", cluster_eps);
	w.s = open_uri(u, true);
	pthread_mutex_init(&w.lock, NULL);
	ck_assert_int_eq(pthread_create(&writer, NULL, write_all, &w), 0);
	wait_for(&w, KILL_AT);
	cluster("kill", 1);
	wait_for(&w, RESTART_AT);
	cluster("restart", 1);
	pthread_join(writer, NULL);

	int acked = 0, settled = 0;
	for (int i = 0; i < WRITES; i++) {
		acked += w.acked[i];
		settled += i >= WRITES - 50 && w.acked[i];
	}
	/* A write cut off by the kill, or caught in the election that
	 * follows, has an unknown outcome (-EIO), as with etcd's own client;
	 * the others go through the two members left. */
	ck_assert_int_ge(acked, WRITES - 6);
	ck_assert_int_eq(settled, 50);
	expect_acked(&w, cluster_eps);
	/* The restarted member alone serves them all: it caught up. */
	char m1[128];
	snprintf(m1, sizeof(m1), "%.*s", (int)strcspn(cluster_eps, ","),
		 cluster_eps);
	expect_acked(&w, m1);
	kv_store_close(w.s);
	pthread_mutex_destroy(&w.lock);
}
END_TEST

/* The endpoints of the failover cluster but member 1's. */
static const char *members_left(void)
{
	return strchr(cluster_eps, ',') + 1;
}

static void compact_to(uint64_t rev)
{
	struct raw r = raw_open(members_left());
	char s[24];
	json_t *answer = NULL;

	snprintf(s, sizeof(s), "%llu", (unsigned long long)rev);
	json_t *body = json_pack("{s:s}", "revision", s);
	ck_assert_int_eq(etcd_client_call(r.c, "kv/compaction", body, true,
					  &answer),
			 0);
	json_decref(body);
	json_decref(answer);
	etcd_client_free(r.c);
}

/*
 * Kill member 1, under the watch of a, and commit through b meanwhile,
 * compacting the history up to that commit when asked; then a, not asked
 * meanwhile, has connected its watch to another member and counts the
 * commit without a request.
 */
static void watch_across_a_kill(bool compact)
{
	char u[512];
	uint8_t down[KV_VERSIONSTAMP_LEN], up[KV_VERSIONSTAMP_LEN];

	/* The watch starts on member 1, the one that is killed. */
	snprintf(u, sizeof(u), "etcd://%s/watch-failover?timeout=2000",
		 cluster_eps);
	struct engine a = engine_open(u);
	struct kv_store *b = open_uri(u, false);
	version(&a);
	wait_for_the_watch(&a);
	cluster("kill", 1);
	ck_assert_int_eq(set(b, "while-down", "x", -1, down), 0);
	/* Past the revision the watch will ask to start from. */
	ck_assert_int_eq(set(b, "while-down", "z", -1, down), 0);
	if (compact)
		compact_to(vs_revision(down));
	sleep(3);
	uint64_t sent = requests(&a);
	ck_assert_uint_ge(version(&a), vs_revision(down));
	ck_assert_uint_eq(requests(&a), sent);
	ck_assert_int_eq(set(b, "after", "y", -1, up), 0);
	ck_assert_int_le(ms_until_version(&a, vs_revision(up)), 1000);
	ck_assert_uint_eq(requests(&a), sent);
	kv_store_close(b);
	a.ops->close(a.e);
	cluster("restart", 1);
}

/* It connects again from the revision after the last it saw. */
START_TEST(the_watch_moves_to_another_member_and_misses_nothing)
{
	watch_across_a_kill(false);
}
END_TEST

/* The revisions it would start from are gone: it starts from the current
 * one, which is past the commit. */
START_TEST(the_watch_restarts_after_a_compaction_and_misses_nothing)
{
	watch_across_a_kill(true);
}
END_TEST

static Suite *etcd_suite(void)
{
	Suite *s = suite_create("etcd");
	TCase *tc = tcase_create("engine");

	tcase_add_checked_fixture(tc, setup_engine, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, keys_live_under_the_prefix_as_denos_encoded_bytes);
	tcase_add_test(tc, value_is_the_encoding_byte_then_the_bytes);
	tcase_add_test(
		tc,
		expiring_value_carries_its_expiry_and_the_lease_of_its_second);
	tcase_add_test(tc, keys_expiring_in_the_same_second_share_one_lease);
	tcase_add_test(
		tc, versionstamp_is_the_mod_revision_big_endian_then_two_zeros);
	tcase_add_test(
		tc,
		commits_that_change_nothing_still_get_increasing_versionstamps);
	tcase_add_test(tc, expired_key_is_hidden_before_etcd_deletes_it);
	tcase_add_test(tc, sweep_deletes_expired_keys_etcd_still_holds);
	tcase_add_test(tc, missing_store_without_create_is_enoent);
	tcase_add_test(tc, store_of_a_later_format_opens_read_only);
	tcase_add_test(tc, malformed_uris_are_einval);
	tcase_add_test(tc, unreachable_cluster_fails_within_the_timeout);
	tcase_add_test(tc, nested_prefixes_are_separate_stores);
	tcase_add_test(tc, metadata_lives_apart_from_the_keys);
	tcase_add_test(tc, concurrent_sums_from_separate_handles_lose_nothing);
	tcase_add_test(
		tc, another_handles_commit_moves_the_data_version_within_a_second);
	tcase_add_test(tc, own_commit_is_counted_when_it_returns);
	tcase_add_test(tc, close_with_a_live_watch_returns_promptly);
	suite_add_tcase(s, tc);

	TCase *fo = tcase_create("failover");
	tcase_add_unchecked_fixture(fo, cluster_start, cluster_stop);
	tcase_set_timeout(fo, 120);
	tcase_add_test(fo, writes_go_on_when_a_member_dies_and_it_catches_up);
	tcase_add_test(fo, the_watch_moves_to_another_member_and_misses_nothing);
	tcase_add_test(fo,
		       the_watch_restarts_after_a_compaction_and_misses_nothing);
	suite_add_tcase(s, fo);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(etcd_suite());

	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
