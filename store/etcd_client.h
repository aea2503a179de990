/*
 * etcd_client.h — calls to etcd's v3 API through its JSON gateway (HTTP
 * POST /v3/<service>/<method>, JSON bodies with base64 bytes and int64s as
 * strings), over several endpoints with failover, TLS client certificates,
 * user/password auth and a timeout on every request.
 *
 * Internal to store/: only etcd_engine.c uses it. Not thread-safe: the
 * engine serializes its calls.
 */
#ifndef KVFS_ETCD_CLIENT_H
#define KVFS_ETCD_CLIENT_H

#include <stdbool.h>

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

#endif
