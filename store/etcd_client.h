/*
 * etcd_client.h — calls to etcd's v3 API through its JSON gateway (HTTP
 * POST /v3/<service>/<method>, JSON bodies with base64 bytes and int64s as
 * strings), over several endpoints with failover, TLS client certificates,
 * user/password auth and a timeout on every request.
 *
 * Internal to store/: only etcd_engine.c (and its tests) use it. A client
 * is not thread-safe: the engine serializes its calls, and gives its watch
 * thread a client of its own (etcd_client_fork()).
 */
#ifndef KVFS_ETCD_CLIENT_H
#define KVFS_ETCD_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

struct etcd_client;

struct etcd_client_options {
	/* "host:port,host:port,...": tried in order, the next on failure. */
	const char *endpoints;
	/* https, with cacert (NULL: the system's CAs) and, for a client
	 * certificate, cert and key (PEM files). */
	bool tls;
	const char *cacert;
	const char *cert;
	const char *key;
	/* etcd's user/password auth; user NULL: none. */
	const char *user;
	const char *password;
	/* Each HTTP request, and the connect phase of it, in ms. */
	unsigned timeout_ms;
	unsigned connect_timeout_ms;
};

int etcd_client_new(const struct etcd_client_options *opts,
		    struct etcd_client **out);
void etcd_client_free(struct etcd_client *c);

/*
 * A client for another thread on c's configuration (endpoints, TLS,
 * credentials, timeouts), which it shares, not copies: its own connection,
 * auth token and current endpoint. Free it before c.
 */
int etcd_client_fork(struct etcd_client *c, struct etcd_client **out);

/* The HTTP requests c has made (every attempt, streams included): for
 * tests, to count what an operation costs. */
uint64_t etcd_client_requests(const struct etcd_client *c);

/*
 * POST body to /v3/<method> (e.g. "kv/range") and parse the answer into
 * *out (the caller json_decref()s it). A request is retried on the next
 * endpoint when it never reached one (no connection, no leader there);
 * when it may have been applied, only if repeatable (reads, and writes
 * whose repetition is harmless). Returns 0, or a negative errno: -EIO for
 * a write whose outcome is unknown, -ECONNREFUSED / -ETIMEDOUT /
 * -EHOSTUNREACH when no endpoint answered within the retry budget, the
 * errno of etcd's error code otherwise (-EINVAL, -ENOENT, -EEXIST,
 * -EACCES, -ENOSPC, -EAGAIN).
 */
int etcd_client_call(struct etcd_client *c, const char *method,
		     json_t *body, bool repeatable, json_t **out);

/* Called with each object of a stream; nonzero ends the stream with it
 * (-EACCES: etcd refused for want of a token). */
typedef int (*etcd_each_fn)(json_t *object, void *arg);

/*
 * POST body to /v3/<method> (e.g. "watch") on the current endpoint and
 * hand each JSON object of the streamed answer to each as it arrives,
 * until each returns nonzero, the stream breaks or ends, or
 * etcd_client_interrupt(). No timeout: a stream lasts while the member
 * lives (TCP keepalives notice a vanished host; etcd ends it when the
 * member loses its leader). With a user, a token is fetched and the
 * stream made again once when etcd or each asks for one. Returns each's
 * nonzero value, -EINTR when interrupted, or the errno of the failure,
 * after which the next call goes to the next endpoint (-ECONNRESET: etcd
 * ended the stream; -EFBIG: an object too large to read).
 */
int etcd_client_stream(struct etcd_client *c, const char *method,
		       json_t *body, etcd_each_fn each, void *arg);

/* Make c's stream, the one running now or the next, return -EINTR at
 * once. The one call another thread may make on c. */
void etcd_client_interrupt(struct etcd_client *c);

/* The etcd engine's own client (not its watch's): for tests. */
struct etcd_client *kv_etcd_engine_client(void *engine);

#endif
