/*
 * etcd_engine.c — the engine that keeps a store in an etcd cluster: Deno's
 * keys, values, versionstamps, atomic commits and expiry mapped onto etcd's
 * keys, revisions, transactions and leases (docs/etcd.md).
 *
 * Layout under the store's prefix P (from the URI), with a NUL after it so
 * that no other store's prefix can overlap this one's keys:
 *   P 00 'k' KEY    a Deno key (its encoded bytes): etcd orders keys by
 *                   bytes, so etcd's order is Deno's order
 *   P 00 'm' NAME   kvfs's metadata (the kvfs_meta table of SQLite)
 *   P 00 's' NAME   the engine's own: "format" and "commit"
 * A value is its v_encoding byte, then the value bytes; an expiring value
 * sets the byte's high bit and puts its expiry (ms since the epoch, 8 bytes
 * big-endian) between the two, so a read hides it the moment it expires,
 * before etcd's lease deletes it.
 *
 * A versionstamp is the mod_revision of the key, 8 bytes big-endian and
 * two zero bytes. Every commit also writes P 00 's' "commit", so even a
 * commit that changes nothing makes a new revision: versionstamps strictly
 * increase, as Deno's do.
 *
 * A commit with checks or sum/min/max first reads those keys, decides
 * everything from that snapshot (an expired key counts as absent, as in
 * the SQLite engine), and then writes in one etcd transaction whose
 * compares pin each key read to the mod_revision seen. If another writer
 * got in between, the transaction does nothing and the commit starts over,
 * a bounded number of times.
 *
 * data_version is etcd's revision. Once asked for, it is followed by an
 * etcd watch on the store's keys, read by a thread of its own, so that it
 * is answered from memory (see "the watch" below).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "engine.h"
#include "etcd_client.h"
#include "hex.h"

#define FORMAT_VERSION 1
#define DEFAULT_TIMEOUT_MS 5000
#define DEFAULT_CONNECT_TIMEOUT_MS 1000
#define COMMIT_ATTEMPTS 32
#define EXPIRES_FLAG 0x80

/* Leases are shared by every key, of every store and every client, that
 * expires within the same second: the lease of second S has this id, so
 * whoever needs it first grants it and the others find it there. */
#define LEASE_ID_BASE ((int64_t)0x6b76 << 48)
/* etcd's largest lease TTL; keys expiring later are left to the sweep. */
#define MAX_LEASE_TTL_S 9000000000LL
#define LEASE_CACHE 64

/* The watch thread's state; lock guards all but thread and client. */
struct watch {
	pthread_mutex_t lock;
	pthread_cond_t wake; /* stopping, for the back-off to notice */
	pthread_t thread;
	struct etcd_client *client; /* the thread's own */
	bool started, stopping;
	bool live;   /* the stream is up: revision is the answer */
	bool resync; /* events were lost: start from the current revision */
	int64_t revision;
};

struct etcd_engine {
	struct etcd_client *client;
	pthread_mutex_t lock; /* around every request of client */
	struct watch watch;
	bool read_only;
	struct kv_buf prefix; /* P 00 */
	int64_t leases[LEASE_CACHE]; /* seconds whose lease we granted */
	size_t n_leases;
};

/* ---- bytes and JSON ----------------------------------------------------- */

/* The etcd key P 00 tag bytes. */
static int ekey(const struct etcd_engine *e, char tag, const void *bytes,
		size_t len, struct kv_buf *out)
{
	out->len = 0;
	int r = kv_buf_append(out, e->prefix.data, e->prefix.len);
	if (r == 0)
		r = kv_buf_push(out, (uint8_t)tag);
	if (r == 0)
		r = kv_buf_append(out, bytes, len);
	return r;
}

static json_t *b64(const void *bytes, size_t len)
{
	size_t n = sodium_base64_encoded_len(len,
					     sodium_base64_VARIANT_ORIGINAL);
	char *s = malloc(n);

	if (!s)
		return NULL;
	sodium_bin2base64(s, n, bytes, len, sodium_base64_VARIANT_ORIGINAL);
	json_t *j = json_string(s);
	free(s);
	return j;
}

static json_t *b64_buf(const struct kv_buf *b)
{
	return b64(b->data, b->len);
}

/* A base64 field of an answer into out (emptied first); absent: empty. */
static int unb64(json_t *field, struct kv_buf *out)
{
	const char *s = json_string_value(field);
	size_t slen = s ? strlen(s) : 0;
	size_t len;

	out->len = 0;
	int r = kv_buf_reserve(out, slen / 4 * 3 + 3);
	if (r < 0 || slen == 0)
		return r;
	if (sodium_base642bin(out->data, out->cap, s, slen, NULL, &len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0)
		return -EIO;
	out->len = len;
	return 0;
}

/* An int64 field: the gateway writes them as strings; absent is 0. */
static int64_t jint(json_t *obj, const char *name)
{
	json_t *f = json_object_get(obj, name);

	if (json_is_integer(f))
		return json_integer_value(f);
	const char *s = json_string_value(f);
	return s ? strtoll(s, NULL, 10) : 0;
}

static int64_t revision_of(json_t *answer)
{
	return jint(json_object_get(answer, "header"), "revision");
}

static json_t *jrev(int64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "%lld", (long long)v);
	return json_string(s);
}

/* Take ownership of value; false when it or the set failed. */
static bool put_field(json_t *obj, const char *name, json_t *value)
{
	return value && json_object_set_new(obj, name, value) == 0;
}

static int call(struct etcd_engine *e, const char *method, json_t *body,
		bool repeatable, json_t **out)
{
	if (!body)
		return -ENOMEM;
	int r = etcd_client_call(e->client, method, body, repeatable, out);
	json_decref(body);
	return r;
}

static void versionstamp_of(int64_t rev, uint8_t vs[KV_VERSIONSTAMP_LEN])
{
	for (int i = 0; i < 8; i++)
		vs[i] = (uint8_t)((uint64_t)rev >> (56 - 8 * i));
	vs[8] = 0;
	vs[9] = 0;
}

static bool expired(int64_t expires_at_ms, int64_t now_ms)
{
	return expires_at_ms >= 0 && expires_at_ms <= now_ms;
}

/* ---- stored values ------------------------------------------------------ */

struct stored {
	enum kv_encoding encoding;
	const uint8_t *bytes;
	size_t len;
	int64_t expires_at_ms;
};

/* A value as the engine wrote it; anything else (an empty value, a short
 * header) is returned as it is with encoding 0, for check to report. */
static void parse_stored(const uint8_t *v, size_t len, struct stored *out)
{
	*out = (struct stored){ 0, v, len, -1 };
	if (len == 0 || ((v[0] & EXPIRES_FLAG) && len < 9))
		return;
	out->encoding = (enum kv_encoding)(v[0] & ~EXPIRES_FLAG);
	out->bytes = v + 1;
	out->len = len - 1;
	if (v[0] & EXPIRES_FLAG) {
		uint64_t t = 0;
		for (int i = 1; i <= 8; i++)
			t = t << 8 | v[i];
		out->expires_at_ms = (int64_t)t;
		out->bytes = v + 9;
		out->len = len - 9;
	}
}

static int format_stored(enum kv_encoding enc, const uint8_t *bytes,
			 size_t len, int64_t expires_at_ms, struct kv_buf *out)
{
	uint8_t head[9] = { (uint8_t)enc };
	size_t hlen = 1;

	if (expires_at_ms >= 0) {
		head[0] |= EXPIRES_FLAG;
		for (int i = 0; i < 8; i++)
			head[1 + i] = (uint8_t)((uint64_t)expires_at_ms >>
						(56 - 8 * i));
		hlen = 9;
	}
	out->len = 0;
	int r = kv_buf_append(out, head, hlen);
	return r < 0 ? r : kv_buf_append(out, bytes, len);
}

/* ---- reads ------------------------------------------------------------ */

static uint8_t *copy_bytes(const void *data, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	if (p && len)
		memcpy(p, data, len);
	return p;
}

static int entries_push(struct kv_entries *list, size_t *cap,
			const uint8_t *key, size_t key_len,
			const struct stored *v, int64_t mod_revision)
{
	if (list->n == *cap) {
		size_t ncap = *cap ? 2 * *cap : 8;
		struct kv_entry *p = realloc(list->v, ncap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		list->v = p;
		*cap = ncap;
	}
	struct kv_entry *out = &list->v[list->n];
	*out = (struct kv_entry){
		.key = copy_bytes(key, key_len),
		.key_len = key_len,
		.encoding = v->encoding,
		.value = copy_bytes(v->bytes, v->len),
		.value_len = v->len,
		.expires_at_ms = v->expires_at_ms,
	};
	versionstamp_of(mod_revision, out->versionstamp);
	if (!out->key || !out->value) {
		kv_entry_free(out);
		return -ENOMEM;
	}
	list->n++;
	return 0;
}

/* The body of a range request (kv/range, or a txn's request_range);
 * NULL when out of memory. */
static json_t *range_body(const struct kv_buf *start, const struct kv_buf *end,
			  unsigned limit, bool reverse, int64_t rev)
{
	json_t *body = json_object();
	bool ok = body && put_field(body, "key", b64_buf(start)) &&
		  put_field(body, "range_end", b64_buf(end)) &&
		  put_field(body, "limit", jrev(limit));

	if (ok && rev)
		ok = put_field(body, "revision", jrev(rev));
	if (ok && reverse)
		ok = put_field(body, "sort_order", json_string("DESCEND")) &&
		     put_field(body, "sort_target", json_string("KEY"));
	if (!ok) {
		json_decref(body);
		return NULL;
	}
	return body;
}

/* One range request; *rev is the snapshot (0: take the current one). */
static int range_request(struct etcd_engine *e, const struct kv_buf *start,
			 const struct kv_buf *end, unsigned limit,
			 bool reverse, int64_t *rev, json_t **answer)
{
	int r = call(e, "kv/range",
		     range_body(start, end, limit, reverse, *rev), true, answer);
	if (r == 0 && !*rev)
		*rev = revision_of(*answer);
	return r;
}

/*
 * Add the live entries of one answer to out, up to limit; *last gets the
 * etcd key of the last entry seen, where the next request continues.
 */
static int take_entries(struct etcd_engine *e, json_t *answer,
			unsigned limit, int64_t now_ms,
			struct kv_entries *out, size_t *cap,
			struct kv_buf *last)
{
	struct kv_buf val = { 0 };
	size_t i;
	json_t *kv;
	int r = 0;

	json_array_foreach(json_object_get(answer, "kvs"), i, kv) {
		if (out->n == limit)
			break;
		r = unb64(json_object_get(kv, "key"), last);
		if (r == 0)
			r = unb64(json_object_get(kv, "value"), &val);
		if (r < 0)
			break;
		size_t skip = e->prefix.len + 1;
		if (last->len < skip) {
			r = -EIO;
			break;
		}
		struct stored v;
		parse_stored(val.data, val.len, &v);
		if (expired(v.expires_at_ms, now_ms))
			continue;
		r = entries_push(out, cap, last->data + skip, last->len - skip,
				 &v, jint(kv, "mod_revision"));
		if (r < 0)
			break;
	}
	kv_buf_free(&val);
	return r;
}

/*
 * The live keys of [start, end) at revision *rev (0: now, and *rev gets
 * the revision read), at most limit. Expired keys that etcd still holds are
 * skipped, and the range continues past them, at the same revision, until
 * limit live keys or the end. first, if not NULL, is the answer to the
 * range's first request, already made (a reference this call takes).
 */
static int read_range(struct etcd_engine *e, const struct kv_range *range,
		      int64_t now_ms, int64_t *rev, json_t *first,
		      struct kv_entries *out)
{
	struct kv_buf start = { 0 }, end = { 0 }, last = { 0 };
	size_t cap = 0;
	int r = ekey(e, 'k', range->start, range->start_len, &start);

	if (r == 0)
		r = ekey(e, 'k', range->end, range->end_len, &end);
	while (r == 0 && out->n < range->limit &&
	       kv_key_compare(start.data, start.len, end.data, end.len) < 0) {
		json_t *answer = first;
		first = NULL;
		if (!answer)
			r = range_request(e, &start, &end,
					  range->limit - out->n,
					  range->reverse, rev, &answer);
		if (r == 0)
			r = take_entries(e, answer, range->limit, now_ms, out,
					 &cap, &last);
		bool more = json_is_true(json_object_get(answer, "more"));
		json_decref(answer);
		if (r < 0 || !more)
			break;
		if (range->reverse) {
			kv_buf_free(&end);
			end = last;
		} else {
			kv_buf_free(&start);
			start = last;
			r = kv_buf_push(&start, 0x00);
		}
		last = (struct kv_buf){ 0 };
	}
	json_decref(first);
	kv_buf_free(&start);
	kv_buf_free(&end);
	kv_buf_free(&last);
	return r;
}

/*
 * The first page of every range in one txn, so that a snapshot of several
 * small ranges (a READDIRPLUS's lookups) is one request: answers[i] gets
 * the answer for range i, *rev the txn's revision.
 */
static int first_pages(struct etcd_engine *e, const struct kv_range *ranges,
		       size_t n, int64_t *rev, json_t **answers)
{
	json_t *ops = json_array(), *answer = NULL;
	int r = ops ? 0 : -ENOMEM;

	for (size_t i = 0; i < n && r == 0; i++) {
		struct kv_buf start = { 0 }, end = { 0 };
		r = ekey(e, 'k', ranges[i].start, ranges[i].start_len, &start);
		if (r == 0)
			r = ekey(e, 'k', ranges[i].end, ranges[i].end_len, &end);
		json_t *body = r == 0 ? range_body(&start, &end,
						   ranges[i].limit,
						   ranges[i].reverse, 0)
				      : NULL;
		json_t *op = body ? json_pack("{s:o}", "request_range", body)
				  : NULL;
		if (r == 0 && (!op || json_array_append_new(ops, op) < 0))
			r = -ENOMEM;
		kv_buf_free(&start);
		kv_buf_free(&end);
	}
	if (r < 0) {
		json_decref(ops);
		return r;
	}
	r = call(e, "kv/txn", json_pack("{s:o}", "success", ops), true,
		 &answer);
	json_t *responses = json_object_get(answer, "responses");
	for (size_t i = 0; r == 0 && i < n; i++)
		if (!json_object_get(json_array_get(responses, i),
				     "response_range"))
			r = -EIO;
	for (size_t i = 0; r == 0 && i < n; i++)
		answers[i] = json_incref(json_object_get(
			json_array_get(responses, i), "response_range"));
	if (r == 0)
		*rev = revision_of(answer);
	json_decref(answer);
	return r;
}

static int snapshot_read(void *engine, const struct kv_range *ranges,
			 size_t n, int64_t now_ms, struct kv_entries *out)
{
	struct etcd_engine *e = engine;
	json_t *first[KV_MAX_READ_RANGES] = { 0 };
	int64_t rev = 0;
	int r = 0;

	if (n > KV_MAX_READ_RANGES)
		return -E2BIG;
	for (size_t i = 0; i < n; i++)
		out[i] = (struct kv_entries){ 0 };
	pthread_mutex_lock(&e->lock);
	for (int tries = 0; tries < 2; tries++) {
		rev = 0;
		r = n > 1 ? first_pages(e, ranges, n, &rev, first) : 0;
		for (size_t i = 0; i < n && r == 0; i++) {
			r = read_range(e, &ranges[i], now_ms, &rev, first[i],
				       &out[i]);
			first[i] = NULL;
		}
		for (size_t i = 0; i < n; i++) {
			json_decref(first[i]);
			first[i] = NULL;
		}
		if (r < 0) {
			for (size_t i = 0; i < n; i++)
				kv_entries_free(&out[i]);
		}
		if (r != -ESTALE)
			break; /* else compacted under the snapshot: again */
	}
	pthread_mutex_unlock(&e->lock);
	return r;
}

/* ---- the watch ---------------------------------------------------------- */

/*
 * data_version is a revision R of etcd such that every change to this
 * store up to R has been committed when R is returned, and every later
 * change makes a later answer larger. Reads are linearizable, so a reader
 * that got R then sees every change up to R; and the watch sends an event
 * for every later change to the store's keys (every commit writes the
 * commit key). The answer only grows: R is the largest revision known.
 *
 * While the watch is live, R comes from it: the header revision of each of
 * its responses (the creation, events, progress notifications) is one that
 * etcd had applied, so every change up to it has been committed; changes
 * up to it that are still on their way as events are not needed to move
 * R. While it is not live (before its creation, after a member died or the
 * stream broke) R is asked of etcd with a range request, as before the
 * watch existed, and the thread connects again, to the next endpoint, from
 * R + 1: changes up to R no longer need an event. When those revisions have
 * been compacted away (or an event was too large to read), it starts from
 * the current revision instead, and the header of that creation, which is
 * past the lost events, is a larger R: the change is reported, as "maybe
 * changed", rather than missed.
 *
 * Our own commit raises R to its revision when it returns, so that its
 * caller counts it (the mount's refresher compares data_version with the
 * revisions its commits produced). That is safe without waiting for the
 * watch to confirm the revisions below it: etcd applied them all before
 * ours, so they are committed, and a reader sees them; and the watch still
 * reports everything after R. A refresher that took our revision C for the
 * one just after the version it had seen, and so skipped its walk, was
 * right: revisions count every write to the cluster, so no other commit
 * fits between.
 *
 * The thread is started by the first data_version (one-shot commands that
 * never ask pay nothing), never holds the request lock (its stream has a
 * client of its own), and belongs to the process that started it: a handle
 * is not to be used across fork() once data_version has been asked.
 */

/* The revision, when the watch is live. */
static bool watched_revision(struct etcd_engine *e, int64_t *rev)
{
	pthread_mutex_lock(&e->watch.lock);
	bool live = e->watch.live;
	*rev = e->watch.revision;
	pthread_mutex_unlock(&e->watch.lock);
	return live;
}

/* Make rev known; the largest revision known. */
static int64_t raise_revision(struct etcd_engine *e, int64_t rev)
{
	pthread_mutex_lock(&e->watch.lock);
	if (rev > e->watch.revision)
		e->watch.revision = rev;
	rev = e->watch.revision;
	pthread_mutex_unlock(&e->watch.lock);
	return rev;
}

/* What the stream says: nonzero ends it. */
static int on_watch_response(json_t *response, void *arg)
{
	struct etcd_engine *e = arg;
	json_t *result = json_object_get(response, "result");

	if (json_is_true(json_object_get(result, "canceled"))) {
		const char *why = json_string_value(
			json_object_get(result, "cancel_reason"));
		if (jint(result, "compact_revision") > 0)
			return -ESTALE;
		/* No token, an expired one, or no right to the keys. */
		return why && (strstr(why, "auth") || strstr(why, "user name") ||
			       strstr(why, "permission denied"))
			       ? -EACCES
			       : -EIO;
	}
	int64_t rev = revision_of(result);
	pthread_mutex_lock(&e->watch.lock);
	if (json_is_true(json_object_get(result, "created")))
		e->watch.live = true;
	if (e->watch.live && rev > e->watch.revision)
		e->watch.revision = rev;
	pthread_mutex_unlock(&e->watch.lock);
	return 0;
}

/* The watch of every key under P 00, from the revision after the largest
 * known, or from the current one when there is none or events were lost.
 * Progress notifications move the revision now and then (every 10 min by
 * etcd's default) when only other stores change. */
static json_t *watch_request(struct etcd_engine *e)
{
	struct kv_buf end = { 0 };
	int64_t start = 0;

	pthread_mutex_lock(&e->watch.lock);
	if (!e->watch.resync && e->watch.revision)
		start = e->watch.revision + 1;
	e->watch.resync = false;
	pthread_mutex_unlock(&e->watch.lock);
	json_t *create = NULL;
	if (kv_buf_append(&end, e->prefix.data, e->prefix.len) == 0) {
		end.data[end.len - 1] = 0x01;
		create = json_pack("{s:o, s:o, s:b}", "key", b64_buf(&e->prefix),
				   "range_end", b64_buf(&end),
				   "progress_notify", 1);
	}
	kv_buf_free(&end);
	if (create && start && !put_field(create, "start_revision",
					  jrev(start))) {
		json_decref(create);
		create = NULL;
	}
	return create ? json_pack("{s:o}", "create_request", create) : NULL;
}

/* The stream ended with r: no longer live. Whether it had been. */
static bool watch_lost(struct etcd_engine *e, int r)
{
	pthread_mutex_lock(&e->watch.lock);
	bool was_live = e->watch.live;
	e->watch.live = false;
	if (r == -ESTALE || r == -EFBIG)
		e->watch.resync = true;
	pthread_mutex_unlock(&e->watch.lock);
	return was_live;
}

/* Wait before connecting again, longer after each failure in a row, up to
 * a second; false when the engine is closing. */
static bool watch_back_off(struct etcd_engine *e, unsigned failures)
{
	unsigned ms = failures < 40 ? 25 * failures : 1000;
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&e->watch.lock);
	while (!e->watch.stopping &&
	       pthread_cond_timedwait(&e->watch.wake, &e->watch.lock,
				      &until) != ETIMEDOUT)
		;
	bool go_on = !e->watch.stopping;
	pthread_mutex_unlock(&e->watch.lock);
	return go_on;
}

static void *watch_main(void *arg)
{
	struct etcd_engine *e = arg;
	unsigned failures = 0;

	for (;;) {
		json_t *request = watch_request(e);
		int r = request ? etcd_client_stream(e->watch.client, "watch",
						     request,
						     on_watch_response, e)
				: -ENOMEM;
		json_decref(request);
		/* A stream that had been live goes straight to the next
		 * endpoint; a member that will not take one is waited for. */
		failures = watch_lost(e, r) ? 0 : failures + 1;
		if (r == -EINTR || !watch_back_off(e, failures))
			return NULL;
	}
}

static void watch_start(struct etcd_engine *e)
{
	struct watch *w = &e->watch;

	pthread_mutex_lock(&w->lock);
	if (!w->started && !w->stopping &&
	    etcd_client_fork(e->client, &w->client) == 0) {
		w->started = pthread_create(&w->thread, NULL, watch_main, e) == 0;
		if (!w->started) {
			etcd_client_free(w->client);
			w->client = NULL;
		}
	}
	pthread_mutex_unlock(&w->lock);
}

/* Stop the thread, at once: its stream is interrupted, not waited out. */
static void watch_stop(struct etcd_engine *e)
{
	struct watch *w = &e->watch;

	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_broadcast(&w->wake);
	bool started = w->started;
	pthread_mutex_unlock(&w->lock);
	if (!started)
		return;
	etcd_client_interrupt(w->client);
	pthread_join(w->thread, NULL);
	etcd_client_free(w->client);
}

/* etcd's current revision, asked with a count_only range of one key. */
static int current_revision(struct etcd_engine *e, int64_t *rev)
{
	struct kv_buf k = { 0 };
	json_t *answer = NULL;

	pthread_mutex_lock(&e->lock);
	int r = ekey(e, 's', "commit", 6, &k);
	json_t *body = r == 0 ? json_pack("{s:o, s:b}", "key", b64_buf(&k),
					  "count_only", 1)
			      : NULL;
	r = r < 0 ? r : call(e, "kv/range", body, true, &answer);
	if (r == 0)
		*rev = revision_of(answer);
	json_decref(answer);
	pthread_mutex_unlock(&e->lock);
	kv_buf_free(&k);
	return r;
}

static int data_version(void *engine, uint64_t *out)
{
	struct etcd_engine *e = engine;
	int64_t rev;

	if (watched_revision(e, &rev)) {
		*out = (uint64_t)rev;
		return 0;
	}
	int r = current_revision(e, &rev);
	if (r < 0)
		return r;
	*out = (uint64_t)raise_revision(e, rev);
	watch_start(e);
	return 0;
}

/* ---- commits ------------------------------------------------------------ */

/* What one commit does to one key. */
struct slot {
	const uint8_t *key;
	size_t key_len;
	struct kv_buf ekey;
	bool meta;         /* the guard's metadata key, not a Deno key */
	bool pinned;       /* read first, and compared in the transaction */
	int64_t seen_rev;  /* mod_revision read; 0 when absent */
	bool live;         /* holds a value (after the mutations so far) */
	bool written;
	enum kv_encoding encoding;
	const uint8_t *value;
	size_t value_len;
	int64_t expires_at_ms;
	struct kv_buf read; /* the stored value read */
	uint8_t u64[8];
};

struct plan {
	struct slot *slots;
	size_t n;
	const struct kv_meta_guard *guard;
};

static void plan_free(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		kv_buf_free(&p->slots[i].ekey);
		kv_buf_free(&p->slots[i].read);
	}
	free(p->slots);
	*p = (struct plan){ 0 };
}

static struct slot *slot_of(struct plan *p, const uint8_t *key, size_t len)
{
	for (size_t i = 0; i < p->n; i++)
		if (!p->slots[i].meta && p->slots[i].key_len == len &&
		    memcmp(p->slots[i].key, key, len) == 0)
			return &p->slots[i];
	return NULL;
}

static int add_slot(struct etcd_engine *e, struct plan *p, const uint8_t *key,
		    size_t len, bool pinned)
{
	struct slot *s = slot_of(p, key, len);

	if (!s) {
		s = &p->slots[p->n];
		*s = (struct slot){ .key = key, .key_len = len };
		int r = ekey(e, 'k', key, len, &s->ekey);
		if (r < 0)
			return r;
		p->n++;
	}
	s->pinned |= pinned;
	return 0;
}

static bool is_u64_op(const struct kv_mutation *m)
{
	return m->type == KV_MUT_SUM || m->type == KV_MUT_MIN ||
	       m->type == KV_MUT_MAX;
}

/* The guard's metadata key, pinned like a checked key. */
static int add_guard(struct etcd_engine *e, struct plan *p,
		     const struct kv_meta_guard *guard)
{
	struct slot *s = &p->slots[p->n];

	*s = (struct slot){ .meta = true, .pinned = true };
	p->guard = guard;
	int r = ekey(e, 'm', guard->name, strlen(guard->name), &s->ekey);
	if (r == 0)
		p->n++;
	return r;
}

/* One slot per distinct key; checks and sum/min/max keys are pinned. The
 * slots never move: a slot's value may point into the slot itself. */
static int plan_init(struct etcd_engine *e, const struct kv_atomic *a,
		     const struct kv_meta_guard *guard, struct plan *p)
{
	int r = 0;

	p->slots = calloc(a->n_checks + a->n_mutations + 1, sizeof(*p->slots));
	if (!p->slots)
		return -ENOMEM;
	if (guard)
		r = add_guard(e, p, guard);
	for (size_t i = 0; i < a->n_checks && r == 0; i++)
		r = add_slot(e, p, a->checks[i].key, a->checks[i].key_len,
			     true);
	for (size_t i = 0; i < a->n_mutations && r == 0; i++)
		r = add_slot(e, p, a->mutations[i].key,
			     a->mutations[i].key_len,
			     is_u64_op(&a->mutations[i]));
	return r;
}

static void slot_reset(struct slot *s)
{
	s->seen_rev = 0;
	s->live = false;
	s->written = false;
	s->value = NULL;
	s->value_len = 0;
	s->expires_at_ms = -1;
}

static int slot_load(struct slot *s, json_t *kv, int64_t now_ms)
{
	struct stored v;
	int r = unb64(json_object_get(kv, "value"), &s->read);

	if (r < 0)
		return r;
	parse_stored(s->read.data, s->read.len, &v);
	s->seen_rev = jint(kv, "mod_revision");
	s->live = !expired(v.expires_at_ms, now_ms);
	s->encoding = v.encoding;
	s->value = v.bytes;
	s->value_len = v.len;
	s->expires_at_ms = v.expires_at_ms;
	return 0;
}

/* Read every pinned key in one read-only transaction: one snapshot. */
static int plan_read(struct etcd_engine *e, struct plan *p, int64_t now_ms)
{
	json_t *ops = json_array(), *answer = NULL;
	size_t n = 0;

	for (size_t i = 0; i < p->n; i++) {
		slot_reset(&p->slots[i]);
		if (!p->slots[i].pinned)
			continue;
		json_t *get = json_pack("{s:{s:o}}", "request_range", "key",
					b64_buf(&p->slots[i].ekey));
		if (!get || json_array_append_new(ops, get) < 0) {
			json_decref(ops);
			return -ENOMEM;
		}
		n++;
	}
	if (n == 0) {
		json_decref(ops);
		return 0;
	}
	int r = call(e, "kv/txn", json_pack("{s:o}", "success", ops), true,
		     &answer);
	json_t *responses = json_object_get(answer, "responses");
	for (size_t i = 0, j = 0; r == 0 && i < p->n; i++) {
		if (!p->slots[i].pinned)
			continue;
		json_t *range = json_object_get(json_array_get(responses, j++),
						"response_range");
		json_t *kv = json_array_get(json_object_get(range, "kvs"), 0);
		if (!range)
			r = -EIO;
		else if (kv)
			r = slot_load(&p->slots[i], kv, now_ms);
	}
	json_decref(answer);
	return r;
}

/* The guard holds when its metadata value is exactly the one given; a
 * metadata value never expires. */
static int guard_holds(const struct plan *p)
{
	const struct slot *s = &p->slots[0];
	const struct kv_meta_guard *g = p->guard;

	if (!g)
		return 0;
	bool same = s->seen_rev ? g->value && s->read.len == g->len &&
					  (g->len == 0 ||
					   memcmp(s->read.data, g->value,
						  g->len) == 0)
				: !g->value;
	return same ? 0 : -ESTALE;
}

static int check_holds(struct plan *p, const struct kv_check *c)
{
	struct slot *s = slot_of(p, c->key, c->key_len);
	uint8_t vs[KV_VERSIONSTAMP_LEN];

	if (!c->versionstamp)
		return s->live ? -ECANCELED : 0;
	versionstamp_of(s->seen_rev, vs);
	if (!s->live || memcmp(vs, c->versionstamp, KV_VERSIONSTAMP_LEN))
		return -ECANCELED;
	return 0;
}

static int apply_u64(struct slot *s, const struct kv_mutation *m)
{
	uint64_t operand, cur, result;

	if (kv_u64_decode(m->value, m->value_len, &operand) < 0)
		return -EINVAL;
	result = operand;
	if (s->live) {
		if (s->encoding != KV_ENC_U64 ||
		    kv_u64_decode(s->value, s->value_len, &cur) < 0)
			return -EINVAL;
		result = kv_u64_combine(m->type, cur, operand);
	}
	kv_u64_encode(result, s->u64);
	s->encoding = KV_ENC_U64;
	s->value = s->u64;
	s->value_len = sizeof(s->u64);
	s->expires_at_ms = -1;
	return 0;
}

/* The mutations in order, on the slots: several on one key, last wins,
 * and a sum sees what an earlier set in the same commit wrote. */
static int apply_mutations(struct plan *p, const struct kv_atomic *a,
			   int64_t now_ms)
{
	for (size_t i = 0; i < a->n_mutations; i++) {
		const struct kv_mutation *m = &a->mutations[i];
		struct slot *s = slot_of(p, m->key, m->key_len);
		int r = 0;
		switch (m->type) {
		case KV_MUT_SET:
			s->encoding = m->encoding;
			s->value = m->value;
			s->value_len = m->value_len;
			s->expires_at_ms = m->expire_in_ms < 0
						   ? -1
						   : now_ms + m->expire_in_ms;
			break;
		case KV_MUT_DELETE:
			break;
		default:
			r = apply_u64(s, m);
		}
		if (r < 0)
			return r;
		s->live = m->type != KV_MUT_DELETE;
		s->written = true;
	}
	return 0;
}

/* ---- leases ------------------------------------------------------------- */

static bool lease_known(struct etcd_engine *e, int64_t sec, int64_t now_s)
{
	size_t keep = 0;
	bool found = false;

	for (size_t i = 0; i < e->n_leases; i++) {
		if (e->leases[i] < now_s)
			continue; /* long gone: forget it */
		found |= e->leases[i] == sec;
		e->leases[keep++] = e->leases[i];
	}
	e->n_leases = keep;
	return found;
}

/*
 * The lease for a key expiring at expires_at_ms: the one of the second
 * after it, granted with a TTL that ends it a second later still (etcd
 * times a lease from its grant, by the leader's clock), so etcd never
 * deletes a key before its expiry. 0 when the expiry is beyond etcd's
 * longest lease.
 */
static int lease_for(struct etcd_engine *e, int64_t expires_at_ms,
		     int64_t now_ms, int64_t *id)
{
	int64_t sec = expires_at_ms / 1000 + 1, now_s = now_ms / 1000;
	int64_t ttl = sec - now_s + 1;
	json_t *answer = NULL;

	*id = 0;
	if (ttl > MAX_LEASE_TTL_S)
		return 0;
	*id = LEASE_ID_BASE | sec;
	if (lease_known(e, sec, now_s))
		return 0;
	int r = call(e, "lease/grant",
		     json_pack("{s:o, s:o}", "ID", jrev(*id), "TTL", jrev(ttl)),
		     true, &answer);
	json_decref(answer);
	if (r == -EEXIST)
		r = 0; /* another writer granted it */
	if (r == 0 && e->n_leases < LEASE_CACHE)
		e->leases[e->n_leases++] = sec;
	return r;
}

/* ---- the transaction ---------------------------------------------------- */

static json_t *put_op(const struct kv_buf *key, const struct kv_buf *value,
		      int64_t lease)
{
	json_t *put = json_pack("{s:o, s:o}", "key", b64_buf(key), "value",
				b64_buf(value));

	if (put && lease && !put_field(put, "lease", jrev(lease))) {
		json_decref(put);
		return NULL;
	}
	return put ? json_pack("{s:o}", "request_put", put) : NULL;
}

static json_t *write_op(struct etcd_engine *e, struct slot *s,
			int64_t now_ms, struct kv_buf *scratch, int *r)
{
	int64_t lease = 0;

	if (!s->live)
		return json_pack("{s:{s:o}}", "request_delete_range", "key",
				 b64_buf(&s->ekey));
	*r = format_stored(s->encoding, s->value, s->value_len,
			   s->expires_at_ms, scratch);
	if (*r == 0 && s->expires_at_ms >= 0)
		*r = lease_for(e, s->expires_at_ms, now_ms, &lease);
	return *r < 0 ? NULL : put_op(&s->ekey, scratch, lease);
}

static json_t *pin_compare(const struct slot *s)
{
	return json_pack("{s:o, s:s, s:s, s:o}", "key", b64_buf(&s->ekey),
			 "target", "MOD", "result", "EQUAL", "mod_revision",
			 jrev(s->seen_rev));
}

static int commit_marker(struct etcd_engine *e, json_t *success)
{
	struct kv_buf k = { 0 }, empty = { 0 };
	int r = ekey(e, 's', "commit", 6, &k);
	json_t *op = r == 0 ? put_op(&k, &empty, 0) : NULL;

	kv_buf_free(&k);
	if (r == 0 && (!op || json_array_append_new(success, op) < 0))
		r = -ENOMEM;
	return r;
}

/* The transaction of a plan: compares on the pinned keys, one write per
 * written key, and the commit marker. */
static int plan_txn(struct etcd_engine *e, struct plan *p, int64_t now_ms,
		    json_t **txn)
{
	json_t *compare = json_array(), *success = json_array();
	struct kv_buf scratch = { 0 };
	int r = compare && success ? 0 : -ENOMEM;

	for (size_t i = 0; i < p->n && r == 0; i++) {
		struct slot *s = &p->slots[i];
		if (s->pinned &&
		    json_array_append_new(compare, pin_compare(s)) < 0)
			r = -ENOMEM;
		json_t *op = r == 0 && s->written
				     ? write_op(e, s, now_ms, &scratch, &r)
				     : NULL;
		if (r == 0 && s->written &&
		    (!op || json_array_append_new(success, op) < 0))
			r = r < 0 ? r : -ENOMEM;
	}
	if (r == 0)
		r = commit_marker(e, success);
	kv_buf_free(&scratch);
	*txn = r == 0 ? json_pack("{s:o, s:o}", "compare", compare, "success",
				  success)
		      : NULL;
	if (r == 0 && !*txn)
		r = -ENOMEM;
	if (r < 0) {
		json_decref(compare);
		json_decref(success);
	}
	return r;
}

/* One try: read, decide, write. 1 when another writer got in between. */
static int commit_once(struct etcd_engine *e, struct plan *p,
		       const struct kv_atomic *a, int64_t now_ms,
		       int64_t *revision)
{
	json_t *txn = NULL, *answer = NULL;
	int r = plan_read(e, p, now_ms);

	if (r == 0)
		r = guard_holds(p);
	for (size_t i = 0; i < a->n_checks && r == 0; i++)
		r = check_holds(p, &a->checks[i]);
	if (r == 0)
		r = apply_mutations(p, a, now_ms);
	if (r == 0)
		r = plan_txn(e, p, now_ms, &txn);
	if (r < 0)
		return r;
	/* Never repeated blindly: a sum applied twice would count twice. */
	r = call(e, "kv/txn", txn, false, &answer);
	if (r == 0 && !json_is_true(json_object_get(answer, "succeeded")))
		r = 1;
	if (r == 0)
		*revision = revision_of(answer);
	json_decref(answer);
	return r;
}

static void jitter(unsigned attempt)
{
	unsigned ms = 1 + randombytes_uniform(2 + 4 * attempt);
	struct timespec ts = { 0, (long)ms * 1000000 };

	nanosleep(&ts, NULL);
}

static int atomic_write(void *engine, const struct kv_atomic *a,
			int64_t now_ms, const struct kv_meta_guard *guard,
			uint8_t versionstamp[KV_VERSIONSTAMP_LEN])
{
	struct etcd_engine *e = engine;
	struct plan p = { 0 };
	int64_t revision = 0;

	if (e->read_only)
		return -EROFS;
	pthread_mutex_lock(&e->lock);
	int r = plan_init(e, a, guard, &p);
	for (unsigned i = 0; r == 0 || r == 1 || r == -ENOENT; i++) {
		if (i == COMMIT_ATTEMPTS) {
			r = -EAGAIN;
			break;
		}
		if (i > 0)
			jitter(i);
		/* -ENOENT: a lease we knew of has ended; grant it anew. */
		if (r == -ENOENT)
			e->n_leases = 0;
		r = commit_once(e, &p, a, now_ms, &revision);
		if (r == 0)
			break;
	}
	pthread_mutex_unlock(&e->lock);
	plan_free(&p);
	if (r == 0) {
		versionstamp_of(revision, versionstamp);
		raise_revision(e, revision);
	}
	return r;
}

/* One etcd transaction is one revision, so a commit's transaction started
 * from the revision just before its own, whatever writes came before. */
static int commit_start(void *engine, const uint8_t vs[KV_VERSIONSTAMP_LEN],
			uint64_t *out)
{
	(void)engine;
	*out = kv_versionstamp_version(vs) - 1;
	return 0;
}

/* ---- the sweep ---------------------------------------------------------- */

/*
 * Delete the expired keys of one answer, each only if unchanged since it
 * was read; count them. Leases do this on their own; the sweep is for
 * keys whose lease is beyond etcd's longest, and for kv_store_sweep().
 */
static int sweep_batch(struct etcd_engine *e, json_t *answer, int64_t now_ms,
		       size_t *deleted, struct kv_buf *last)
{
	json_t *compare = json_array(), *success = json_array();
	struct kv_buf val = { 0 };
	size_t i, n = 0;
	json_t *kv;
	int r = compare && success ? 0 : -ENOMEM;

	json_array_foreach(json_object_get(answer, "kvs"), i, kv) {
		struct stored v;
		if (r == 0)
			r = unb64(json_object_get(kv, "key"), last);
		if (r == 0)
			r = unb64(json_object_get(kv, "value"), &val);
		if (r < 0)
			break;
		parse_stored(val.data, val.len, &v);
		if (!expired(v.expires_at_ms, now_ms))
			continue;
		json_t *k = json_object_get(kv, "key");
		json_t *pin = json_pack("{s:O, s:s, s:s, s:O}", "key", k,
					"target", "MOD", "result", "EQUAL",
					"mod_revision",
					json_object_get(kv, "mod_revision"));
		json_t *del = json_pack("{s:{s:O}}", "request_delete_range",
					"key", k);
		if (json_array_append_new(compare, pin) < 0 ||
		    json_array_append_new(success, del) < 0)
			r = -ENOMEM;
		n++;
	}
	kv_buf_free(&val);
	if (r == 0 && n)
		r = commit_marker(e, success);
	json_t *answer2 = NULL;
	if (r == 0 && n)
		r = call(e, "kv/txn",
			 json_pack("{s:O, s:O}", "compare", compare, "success",
				   success),
			 false, &answer2);
	if (r == 0 && json_is_true(json_object_get(answer2, "succeeded"))) {
		*deleted += n;
		raise_revision(e, revision_of(answer2));
	}
	json_decref(answer2);
	json_decref(compare);
	json_decref(success);
	return r;
}

static int sweep(void *engine, int64_t now_ms, size_t *deleted)
{
	struct etcd_engine *e = engine;
	struct kv_buf start = { 0 }, end = { 0 }, last = { 0 };
	size_t n = 0;

	if (e->read_only)
		return -EROFS;
	pthread_mutex_lock(&e->lock);
	int r = ekey(e, 'k', NULL, 0, &start);
	if (r == 0)
		r = ekey(e, 'l', NULL, 0, &end);
	for (bool more = true; r == 0 && more;) {
		json_t *answer = NULL;
		int64_t rev = 0;
		r = range_request(e, &start, &end, KV_MAX_READ_ENTRIES, false,
				  &rev, &answer);
		if (r == 0)
			r = sweep_batch(e, answer, now_ms, &n, &last);
		more = json_is_true(json_object_get(answer, "more"));
		json_decref(answer);
		if (r == 0 && more) {
			kv_buf_free(&start);
			start = last;
			last = (struct kv_buf){ 0 };
			r = kv_buf_push(&start, 0x00);
		}
	}
	pthread_mutex_unlock(&e->lock);
	kv_buf_free(&start);
	kv_buf_free(&end);
	kv_buf_free(&last);
	if (deleted)
		*deleted = r == 0 ? n : 0;
	return r;
}

/* ---- kvfs's metadata ---------------------------------------------------- */

/* Get one of the engine's own keys (tag 'm' or 's'); -ENOENT if absent. */
static int get_one(struct etcd_engine *e, char tag, const char *name,
		   struct kv_buf *out)
{
	struct kv_buf k = { 0 };
	json_t *answer = NULL;
	int r = ekey(e, tag, name, strlen(name), &k);

	if (r == 0)
		r = call(e, "kv/range", json_pack("{s:o}", "key", b64_buf(&k)),
			 true, &answer);
	json_t *kv = json_array_get(json_object_get(answer, "kvs"), 0);
	if (r == 0 && !kv)
		r = -ENOENT;
	if (r == 0)
		r = unb64(json_object_get(kv, "value"), out);
	if (r == 0)
		r = kv_buf_reserve(out, 1); /* keep data non-NULL */
	json_decref(answer);
	kv_buf_free(&k);
	return r;
}

static int meta_get(void *engine, const char *name, struct kv_buf *out)
{
	struct etcd_engine *e = engine;

	pthread_mutex_lock(&e->lock);
	int r = get_one(e, 'm', name, out);
	pthread_mutex_unlock(&e->lock);
	return r;
}

/* A put or a delete lands the same however often it is sent. */
static int meta_set(void *engine, const char *name, const uint8_t *value,
		    size_t len)
{
	struct etcd_engine *e = engine;
	struct kv_buf k = { 0 };
	json_t *answer = NULL;

	if (e->read_only)
		return -EROFS;
	pthread_mutex_lock(&e->lock);
	int r = ekey(e, 'm', name, strlen(name), &k);
	if (r == 0 && value)
		r = call(e, "kv/put",
			 json_pack("{s:o, s:o}", "key", b64_buf(&k), "value",
				   b64(value, len)),
			 true, &answer);
	else if (r == 0)
		r = call(e, "kv/deleterange",
			 json_pack("{s:o}", "key", b64_buf(&k)), true, &answer);
	pthread_mutex_unlock(&e->lock);
	json_decref(answer);
	kv_buf_free(&k);
	return r;
}

/* The names after P 00 'm', from one range request: etcd returns them in
 * byte order, the whole range at one revision. */
static int meta_list(void *engine, struct kv_meta_list *out)
{
	struct etcd_engine *e = engine;
	struct kv_buf start = { 0 }, end = { 0 }, k = { 0 }, v = { 0 };
	size_t i, skip = e->prefix.len + 1;
	json_t *answer = NULL, *kv;

	pthread_mutex_lock(&e->lock);
	int r = ekey(e, 'm', "", 0, &start);
	if (r == 0)
		r = ekey(e, 'm' + 1, "", 0, &end);
	if (r == 0)
		r = call(e, "kv/range",
			 json_pack("{s:o, s:o}", "key", b64_buf(&start),
				   "range_end", b64_buf(&end)),
			 true, &answer);
	pthread_mutex_unlock(&e->lock);
	json_array_foreach(json_object_get(answer, "kvs"), i, kv) {
		if (r == 0)
			r = unb64(json_object_get(kv, "key"), &k);
		if (r == 0)
			r = unb64(json_object_get(kv, "value"), &v);
		if (r == 0 && k.len < skip)
			r = -EIO;
		if (r == 0)
			r = kv_meta_list_push(out, (const char *)k.data + skip,
					      k.len - skip, v.data, v.len);
	}
	json_decref(answer);
	kv_buf_free(&start);
	kv_buf_free(&end);
	kv_buf_free(&k);
	kv_buf_free(&v);
	return r;
}

/* The compare "name holds expect", or "name is absent" for NULL. */
static json_t *meta_compare(const struct kv_buf *k, const uint8_t *expect,
			    size_t expect_len)
{
	if (!expect)
		return json_pack("{s:o, s:s, s:s, s:s}", "key", b64_buf(k),
				 "target", "CREATE", "result", "EQUAL",
				 "create_revision", "0");
	return json_pack("{s:o, s:s, s:s, s:o}", "key", b64_buf(k), "target",
			 "VALUE", "result", "EQUAL", "value",
			 b64(expect, expect_len));
}

static int meta_swap(void *engine, const char *name, const uint8_t *expect,
		     size_t expect_len, const uint8_t *value, size_t len)
{
	struct etcd_engine *e = engine;
	struct kv_buf k = { 0 }, v = { 0 };
	json_t *answer = NULL;

	if (e->read_only)
		return -EROFS;
	pthread_mutex_lock(&e->lock);
	int r = ekey(e, 'm', name, strlen(name), &k);
	if (r == 0)
		r = kv_buf_append(&v, value, value ? len : 0);
	json_t *op = r < 0 ? NULL
		     : value ? put_op(&k, &v, 0)
			     : json_pack("{s:{s:o}}", "request_delete_range",
					 "key", b64_buf(&k));
	if (r == 0)
		r = call(e, "kv/txn",
			 json_pack("{s:[o], s:[o]}", "compare",
				   meta_compare(&k, expect, expect_len),
				   "success", op),
			 false, &answer);
	if (r == 0 && !json_is_true(json_object_get(answer, "succeeded")))
		r = -ECANCELED;
	pthread_mutex_unlock(&e->lock);
	json_decref(answer);
	kv_buf_free(&k);
	kv_buf_free(&v);
	return r;
}

/* etcd has no such switch: what it deletes or overwrites stays in its
 * history until compaction (compact below), which docs/etcd.md tells. */
static int secure_delete(void *engine)
{
	(void)engine;
	return 0;
}

/*
 * Compact etcd's history up to now, physically: old values leave the
 * database (their pages are freed; `etcdctl defrag` returns them to the
 * file system). Compaction is cluster-wide: it drops every key's history,
 * not only this store's.
 */
static int compact(void *engine)
{
	struct etcd_engine *e = engine;
	json_t *answer = NULL;
	int64_t rev;

	if (e->read_only)
		return -EROFS;
	int r = current_revision(e, &rev);
	pthread_mutex_lock(&e->lock);
	if (r == 0)
		r = call(e, "kv/compaction",
			 json_pack("{s:o, s:b}", "revision", jrev(rev),
				   "physical", 1),
			 true, &answer);
	pthread_mutex_unlock(&e->lock);
	json_decref(answer);
	return r == -ESTALE ? 0 : r; /* already compacted that far */
}

static bool read_only(void *engine)
{
	return ((struct etcd_engine *)engine)->read_only;
}

static void engine_free(struct etcd_engine *e)
{
	watch_stop(e);
	etcd_client_free(e->client);
	kv_buf_free(&e->prefix);
	pthread_cond_destroy(&e->watch.wake);
	pthread_mutex_destroy(&e->watch.lock);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

struct etcd_client *kv_etcd_engine_client(void *engine)
{
	return ((struct etcd_engine *)engine)->client;
}

static void engine_close(void *engine)
{
	if (engine)
		engine_free(engine);
}

static const struct kv_engine_ops etcd_ops = {
	.name = "etcd",
	.snapshot_read = snapshot_read,
	.atomic_write = atomic_write,
	.data_version = data_version,
	.commit_start = commit_start,
	.sweep = sweep,
	.meta_get = meta_get,
	.meta_set = meta_set,
	.meta_list = meta_list,
	.meta_swap = meta_swap,
	.secure_delete = secure_delete,
	.compact = compact,
	.read_only = read_only,
	.close = engine_close,
};

/* ---- the URI: etcd://HOST:PORT[,HOST:PORT...]/PREFIX[?OPTIONS] ---------- */

struct etcd_uri {
	char *endpoints;
	char *prefix;
	bool tls;
	char *cacert, *cert, *key, *user, *password;
	unsigned timeout_ms, connect_timeout_ms;
};

static void uri_free(struct etcd_uri *u)
{
	free(u->endpoints);
	free(u->prefix);
	free(u->cacert);
	free(u->cert);
	free(u->key);
	free(u->user);
	if (u->password)
		explicit_bzero(u->password, strlen(u->password));
	free(u->password);
}

/* A query value, %XX decoded; NULL when malformed or out of memory. */
static char *decode_value(const char *s, size_t len)
{
	char *out = malloc(len + 1);
	size_t n = 0;

	for (size_t i = 0; out && i < len; i++) {
		int hi, lo;
		if (s[i] != '%') {
			out[n++] = s[i];
		} else if (i + 2 < len &&
			   (hi = store_hex_digit(s[i + 1])) >= 0 &&
			   (lo = store_hex_digit(s[i + 2])) >= 0 && (hi || lo)) {
			out[n++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			free(out);
			return NULL;
		}
	}
	if (out)
		out[n] = '\0';
	return out;
}

/* The first line of a file (a password), without its newline. A file that
 * cannot be read is EACCES, the credentials being unusable: its ENOENT
 * would read as "no such store". */
static int read_secret(const char *path, char **out)
{
	FILE *f = fopen(path, "re");
	char buf[1024];

	if (!f)
		return -EACCES;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	*out = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return *out ? 0 : -ENOMEM;
}

static int parse_ms(const char *s, unsigned *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (end == s || *end || v == 0 || v > 3600000)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

static int set_string(char **field, char *value)
{
	free(*field);
	*field = value;
	return 0;
}

static int uri_option(struct etcd_uri *u, const char *name, size_t name_len,
		      char *value)
{
#define IS(s) (name_len == sizeof(s) - 1 && memcmp(name, s, name_len) == 0)
	int r = 0;

	if (IS("cacert"))
		return set_string(&u->cacert, value);
	if (IS("cert"))
		return set_string(&u->cert, value);
	if (IS("key"))
		return set_string(&u->key, value);
	if (IS("user"))
		return set_string(&u->user, value);
	if (IS("tls") && (!strcmp(value, "0") || !strcmp(value, "1")))
		u->tls = value[0] == '1';
	else if (IS("password-file"))
		r = read_secret(value, &u->password);
	else if (IS("timeout"))
		r = parse_ms(value, &u->timeout_ms);
	else if (IS("connect-timeout"))
		r = parse_ms(value, &u->connect_timeout_ms);
	else
		r = -EINVAL;
#undef IS
	free(value);
	return r;
}

static int parse_query(struct etcd_uri *u, const char *q)
{
	while (*q) {
		const char *end = strchrnul(q, '&');
		const char *eq = memchr(q, '=', (size_t)(end - q));
		if (!eq)
			return -EINVAL;
		char *value = decode_value(eq + 1, (size_t)(end - eq - 1));
		if (!value)
			return -EINVAL;
		int r = uri_option(u, q, (size_t)(eq - q), value);
		if (r < 0)
			return r;
		q = *end ? end + 1 : end;
	}
	return 0;
}

/* Settings the URI leaves out come from the environment, so that secrets
 * need not appear in it (a URI shows in ps and /proc/mounts). */
static int env_default(char **field, const char *name)
{
	const char *v = getenv(name);

	if (*field || !v || !*v)
		return 0;
	*field = strdup(v);
	return *field ? 0 : -ENOMEM;
}

static bool prefix_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || strchr("._~/-", c);
}

static int parse_uri(const char *s, struct etcd_uri *u)
{
	static const char scheme[] = "etcd://";
	const char *hosts = s + sizeof(scheme) - 1;
	int r = 0;

	*u = (struct etcd_uri){ .timeout_ms = DEFAULT_TIMEOUT_MS,
				.connect_timeout_ms =
					DEFAULT_CONNECT_TIMEOUT_MS };
	const char *slash = strchr(hosts, '/');
	if (!slash || slash == hosts)
		return -EINVAL;
	const char *prefix = slash + 1;
	size_t plen = strcspn(prefix, "?");
	for (size_t i = 0; i < plen; i++)
		if (!prefix_char(prefix[i]))
			return -EINVAL;
	if (plen == 0)
		return -EINVAL;
	u->endpoints = strndup(hosts, (size_t)(slash - hosts));
	u->prefix = strndup(prefix, plen);
	if (!u->endpoints || !u->prefix)
		return -ENOMEM;
	if (prefix[plen] == '?')
		r = parse_query(u, prefix + plen + 1);
	if (r == 0)
		r = env_default(&u->user, "KVFS_ETCD_USER");
	if (r == 0)
		r = env_default(&u->password, "KVFS_ETCD_PASSWORD");
	if (r == 0)
		r = env_default(&u->cacert, "KVFS_ETCD_CACERT");
	if (r == 0)
		r = env_default(&u->cert, "KVFS_ETCD_CERT");
	if (r == 0)
		r = env_default(&u->key, "KVFS_ETCD_KEY");
	if (r == 0 && (u->cacert || u->cert))
		u->tls = true;
	if (r == 0 && (!u->cert) != (!u->key))
		r = -EINVAL; /* a certificate needs its key */
	return r;
}

/* ---- opening: the store exists once its format key does ---------------- */

static int create_format(struct etcd_engine *e, const struct kv_buf *k)
{
	char v[16];
	json_t *answer = NULL;
	struct kv_buf value = { 0 };
	int n = snprintf(v, sizeof(v), "%d", FORMAT_VERSION);
	int r = kv_buf_append(&value, v, (size_t)n);

	json_t *txn = r == 0 ? json_pack(
		"{s:[{s:o, s:s, s:s, s:s}], s:[o]}", "compare", "key",
		b64_buf(k), "target", "CREATE", "result", "EQUAL",
		"create_revision", "0", "success", put_op(k, &value, 0))
			     : NULL;
	kv_buf_free(&value);
	/* Repeatable: it writes only where nothing is. */
	r = r < 0 ? r : call(e, "kv/txn", txn, true, &answer);
	json_decref(answer);
	return r;
}

/*
 * The format key says which layout the store has. A store of a later
 * format is opened read-only, as the SQLite engine does with a newer
 * migration: kvfs never writes a layout it does not know.
 */
static int open_format(struct etcd_engine *e, bool create)
{
	struct kv_buf k = { 0 }, v = { 0 };
	int r = get_one(e, 's', "format", &v);

	if (r == -ENOENT && create && !e->read_only) {
		r = ekey(e, 's', "format", 6, &k);
		if (r == 0)
			r = create_format(e, &k);
		if (r == 0)
			r = get_one(e, 's', "format", &v);
	}
	if (r == 0) {
		char text[16] = "";
		memcpy(text, v.data, v.len < 15 ? v.len : 15);
		char *end;
		long version = strtol(text, &end, 10);
		if (v.len == 0 || v.len > 15 || *end || version < 1)
			r = -EINVAL;
		else if (version > FORMAT_VERSION)
			e->read_only = true;
	}
	kv_buf_free(&k);
	kv_buf_free(&v);
	return r;
}

static int engine_new(const struct etcd_uri *u, bool read_only,
		      struct etcd_engine **out)
{
	struct etcd_client_options co = {
		.endpoints = u->endpoints,
		.tls = u->tls,
		.cacert = u->cacert,
		.cert = u->cert,
		.key = u->key,
		.user = u->user,
		.password = u->password,
		.timeout_ms = u->timeout_ms,
		.connect_timeout_ms = u->connect_timeout_ms,
	};
	struct etcd_engine *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	pthread_condattr_t monotonic;
	pthread_condattr_init(&monotonic);
	pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
	pthread_cond_init(&e->watch.wake, &monotonic);
	pthread_condattr_destroy(&monotonic);
	pthread_mutex_init(&e->watch.lock, NULL);
	pthread_mutex_init(&e->lock, NULL);
	e->read_only = read_only;
	int r = kv_buf_append(&e->prefix, u->prefix, strlen(u->prefix));
	if (r == 0)
		r = kv_buf_push(&e->prefix, 0x00);
	if (r == 0)
		r = etcd_client_new(&co, &e->client);
	if (r < 0) {
		engine_free(e);
		return r;
	}
	*out = e;
	return 0;
}

bool kv_etcd_uri(const char *uri)
{
	return strncmp(uri, "etcd://", 7) == 0;
}

int kv_etcd_engine_open(const char *uri, bool read_only, bool create,
			void **engine, const struct kv_engine_ops **ops)
{
	struct etcd_uri u;
	struct etcd_engine *e = NULL;

	if (!kv_etcd_uri(uri))
		return -EINVAL;
	if (sodium_init() < 0)
		return -EIO;
	int r = parse_uri(uri, &u);
	if (r == 0)
		r = engine_new(&u, read_only, &e);
	uri_free(&u);
	if (r == 0)
		r = open_format(e, create);
	if (r < 0) {
		if (e)
			engine_free(e);
		return r;
	}
	*engine = e;
	*ops = &etcd_ops;
	return 0;
}
