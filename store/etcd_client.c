/*
 * etcd_client.c — one etcd v3 call over HTTP(S) with libcurl: the endpoint
 * to use and the failover to the next, the auth token, the timeouts, and
 * etcd's errors as errnos.
 *
 * The JSON gateway rather than gRPC: Debian 12 packages gRPC's C core
 * (libgrpc-dev) but no protobuf code generator for C, and no maintained C
 * binding of etcd's API, so gRPC would mean hand-written protobuf framing
 * over a library whose C API is internal; libcurl and jansson are stable,
 * well-kept Debian packages and etcd 3.4 serves its whole KV, lease and
 * auth API as JSON.
 *
 * A request is only repeated where that is safe: always when it cannot
 * have reached etcd (no connection, nothing sent, "no leader"), and after
 * it may have been applied only when the caller says it is repeatable. A
 * write whose outcome is unknown is -EIO, as etcd's own client reports it.
 *
 * A refusal by TLS (a member's certificate that does not verify, a client
 * certificate missing or refused) is -EACCES once every endpoint has
 * refused: retrying cannot change it, so it must not wait out the budget.
 * Its reason is logged once per client, since an errno cannot say which
 * certificate is wrong.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "curl_api.h"
#include "etcd_client.h"

/* Enough for 1000 values of 64 KiB in base64, with their keys. */
#define MAX_RESPONSE (256u << 20)

/* gRPC status codes, which the gateway passes on in "code". */
enum {
	GRPC_INVALID_ARGUMENT = 3,
	GRPC_DEADLINE_EXCEEDED = 4,
	GRPC_NOT_FOUND = 5,
	GRPC_ALREADY_EXISTS = 6,
	GRPC_PERMISSION_DENIED = 7,
	GRPC_RESOURCE_EXHAUSTED = 8,
	GRPC_FAILED_PRECONDITION = 9,
	GRPC_OUT_OF_RANGE = 11,
	GRPC_UNAVAILABLE = 14,
	GRPC_UNAUTHENTICATED = 16,
};

/* How to reach the cluster and as whom: made once by etcd_client_new(),
 * shared by the clients forked from it, read-only but for the one flag. */
struct etcd_config {
	char **endpoints;
	size_t n_endpoints;
	bool tls;
	char *cacert, *cert, *key;
	char *user, *password;
	unsigned timeout_ms, connect_timeout_ms;
	atomic_bool refusal_logged;
};

struct etcd_client {
	const struct curl_api *lib;
	struct etcd_config *cfg;
	bool owns_cfg;
	CURL *curl;
	CURLM *multi; /* streams run in it, so that another thread can wake it */
	atomic_bool interrupted;
	size_t current;
	char *token;
	char *body;
	size_t body_len, body_cap;
	bool body_too_large;
	char curl_error[CURL_ERROR_SIZE];
	uint64_t requests;
};

/* What became of one HTTP request. */
enum attempt {
	ANSWERED,   /* etcd answered; see the status and the body */
	NOT_SENT,   /* nothing reached etcd: another endpoint may take it */
	MAYBE_SENT, /* the request may have been applied */
	REFUSED,    /* TLS refused the connection: nothing reached etcd */
};

static int64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static bool dup_failed(const char *from, const char *to)
{
	return from && !to;
}

static int split_endpoints(struct etcd_config *cfg, const char *list)
{
	size_t n = 1;

	for (const char *p = list; *p; p++)
		n += *p == ',';
	cfg->endpoints = calloc(n, sizeof(*cfg->endpoints));
	if (!cfg->endpoints)
		return -ENOMEM;
	for (const char *p = list;; p++) {
		const char *end = strchrnul(p, ',');
		if (end == p)
			return -EINVAL;
		cfg->endpoints[cfg->n_endpoints] =
			strndup(p, (size_t)(end - p));
		if (!cfg->endpoints[cfg->n_endpoints])
			return -ENOMEM;
		cfg->n_endpoints++;
		if (!*end)
			return 0;
		p = end;
	}
}

static void config_free(struct etcd_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_endpoints; i++)
		free(cfg->endpoints[i]);
	free(cfg->endpoints);
	free(cfg->cacert);
	free(cfg->cert);
	free(cfg->key);
	free(cfg->user);
	if (cfg->password)
		explicit_bzero(cfg->password, strlen(cfg->password));
	free(cfg->password);
	free(cfg);
}

static int config_new(const struct etcd_client_options *o,
		      struct etcd_config **out)
{
	struct etcd_config *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return -ENOMEM;
	cfg->tls = o->tls;
	cfg->timeout_ms = o->timeout_ms;
	cfg->connect_timeout_ms = o->connect_timeout_ms
					  ? o->connect_timeout_ms
					  : o->timeout_ms;
	cfg->cacert = dup_or_null(o->cacert);
	cfg->cert = dup_or_null(o->cert);
	cfg->key = dup_or_null(o->key);
	cfg->user = dup_or_null(o->user);
	cfg->password = dup_or_null(o->password ? o->password : "");
	int r = split_endpoints(cfg, o->endpoints);
	if (r == 0 && (dup_failed(o->cacert, cfg->cacert) ||
		       dup_failed(o->cert, cfg->cert) ||
		       dup_failed(o->key, cfg->key) ||
		       dup_failed(o->user, cfg->user) || !cfg->password))
		r = -ENOMEM;
	if (r < 0) {
		config_free(cfg);
		return r;
	}
	*out = cfg;
	return 0;
}

void etcd_client_free(struct etcd_client *c)
{
	if (!c)
		return;
	if (c->curl)
		c->lib->easy_cleanup(c->curl);
	if (c->multi)
		c->lib->multi_cleanup(c->multi);
	if (c->owns_cfg)
		config_free(c->cfg);
	free(c->token);
	free(c->body);
	free(c);
}

/* A client with a connection of its own on cfg. */
static int client_on(const struct curl_api *lib, struct etcd_config *cfg,
		     bool owns_cfg, struct etcd_client **out)
{
	struct etcd_client *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->lib = lib;
	c->cfg = cfg;
	c->owns_cfg = owns_cfg;
	c->curl = c->lib->easy_init();
	c->multi = c->lib->multi_init();
	if (!c->curl || !c->multi) {
		etcd_client_free(c);
		return -ENOMEM;
	}
	c->lib->easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->curl_error);
	*out = c;
	return 0;
}

/* libcurl is loaded on the first etcd store only (curl_api.h); a machine
 * without it can still use SQLite stores, and is told what etcd needs. */
static int load_curl(const struct curl_api **lib)
{
	const char *why;
	int r = curl_api_load(lib, &why);

	if (r < 0)
		syslog(LOG_ERR, "kvfs: etcd stores need libcurl (%s): %s",
		       CURL_API_SONAME, why);
	return r;
}

int etcd_client_new(const struct etcd_client_options *o,
		    struct etcd_client **out)
{
	const struct curl_api *lib;
	struct etcd_config *cfg;

	if (!o->endpoints || !*o->endpoints || !o->timeout_ms)
		return -EINVAL;
	int r = load_curl(&lib);
	if (r == 0)
		r = config_new(o, &cfg);
	if (r == 0 && (r = client_on(lib, cfg, true, out)) < 0)
		config_free(cfg);
	return r;
}

int etcd_client_fork(struct etcd_client *c, struct etcd_client **out)
{
	return client_on(c->lib, c->cfg, false, out);
}

uint64_t etcd_client_requests(const struct etcd_client *c)
{
	return c->requests;
}

/* ---- one HTTP request --------------------------------------------------- */

/* Append to the answer read so far; false when it would grow too large or
 * memory ran out. */
static bool body_append(struct etcd_client *c, const char *data, size_t len)
{
	if (len > MAX_RESPONSE - c->body_len) {
		c->body_too_large = true;
		return false;
	}
	if (c->body_len + len + 1 > c->body_cap) {
		size_t cap = c->body_cap ? c->body_cap : 4096;
		while (cap < c->body_len + len + 1)
			cap *= 2;
		char *p = realloc(c->body, cap);
		if (!p)
			return false;
		c->body = p;
		c->body_cap = cap;
	}
	memcpy(c->body + c->body_len, data, len);
	c->body_len += len;
	c->body[c->body_len] = '\0';
	return true;
}

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
	return body_append(arg, data, size * n) ? size * n : 0;
}

static int errno_of_curl(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
		return -EHOSTUNREACH;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

static void log_refusal(struct etcd_client *c, const char *ep,
			const char *why)
{
	if (atomic_exchange(&c->cfg->refusal_logged, true))
		return;
	syslog(LOG_ERR, "etcd %s refused the connection: %s", ep, why);
}

/* Under TLS 1.3 a member checks the client's certificate after the
 * handshake has completed on the client's side: a refused or missing one
 * shows as a connection closed before any answer, on a connection this
 * request opened. A member that dies mid-request on a reused connection
 * does not look like this. */
static bool closed_after_handshake(struct etcd_client *c)
{
	curl_off_t handshake_us = 0;
	long header_bytes = 0;

	c->lib->easy_getinfo(c->curl, CURLINFO_APPCONNECT_TIME_T,
			     &handshake_us);
	c->lib->easy_getinfo(c->curl, CURLINFO_HEADER_SIZE, &header_bytes);
	return c->cfg->tls && handshake_us > 0 && header_bytes == 0;
}

static bool refused_by_tls(struct etcd_client *c, CURLcode rc,
			   const char *ep)
{
	switch (rc) {
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_ISSUER_ERROR:
		log_refusal(c, ep, c->curl_error);
		return true;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
		if (!closed_after_handshake(c))
			return false;
		log_refusal(c, ep, "closed after the TLS handshake (a client "
				   "certificate missing or not accepted)");
		return true;
	default:
		return false;
	}
}

static void set_tls(struct etcd_client *c)
{
	const struct etcd_config *cfg = c->cfg;

	if (cfg->cacert)
		c->lib->easy_setopt(c->curl, CURLOPT_CAINFO, cfg->cacert);
	if (cfg->cert)
		c->lib->easy_setopt(c->curl, CURLOPT_SSLCERT, cfg->cert);
	if (cfg->key)
		c->lib->easy_setopt(c->curl, CURLOPT_SSLKEY, cfg->key);
}

/* The headers of every request; "Expect:" stops curl from waiting for a
 * 100-continue before large bodies. A stream asks etcd (through the
 * gateway's gRPC metadata) to end it when the member loses its leader, as
 * etcd's own client does: such a member would go on holding the stream
 * and stop sending events. NULL when out of memory. */
static struct curl_slist *headers_of(const struct etcd_client *c,
				     bool stream)
{
	struct curl_slist *h =
		c->lib->slist_append(NULL, "Content-Type: application/json");
	struct curl_slist *tail = h ? c->lib->slist_append(h, "Expect:") : NULL;

	if (tail && stream)
		tail = c->lib->slist_append(h, "Grpc-Metadata-hasleader: true");
	if (tail && c->token) {
		char *auth = NULL;
		if (asprintf(&auth, "Authorization: %s", c->token) < 0)
			auth = NULL;
		tail = auth ? c->lib->slist_append(h, auth) : NULL;
		free(auth);
	}
	if (!tail) {
		c->lib->slist_free_all(h);
		return NULL;
	}
	return h;
}

/*
 * Set the easy handle up to POST json to method on endpoint ep, the answer
 * going to write(data). timeout_ms 0 sets up a stream: no limit on its
 * length, and TCP keepalives, so that a member whose host vanished
 * without closing the connection is noticed. The headers are the caller's
 * to free once the transfer is over; NULL when out of memory. The easy
 * handle is reused, so its connections stay open between requests.
 */
static struct curl_slist *setup(struct etcd_client *c, const char *ep,
				const char *method, const char *json,
				unsigned timeout_ms,
				curl_write_callback write, void *data)
{
	const struct etcd_config *cfg = c->cfg;
	unsigned connect_ms = cfg->connect_timeout_ms;
	struct curl_slist *headers = headers_of(c, timeout_ms == 0);
	char url[512];

	if (!headers)
		return NULL;
	if (timeout_ms && timeout_ms < connect_ms)
		connect_ms = timeout_ms;
	snprintf(url, sizeof(url), "%s://%s/v3/%s",
		 cfg->tls ? "https" : "http", ep, method);
	c->body_len = 0;
	c->body_too_large = false;
	c->requests++;
	c->lib->easy_setopt(c->curl, CURLOPT_URL, url);
	c->lib->easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
	c->lib->easy_setopt(c->curl, CURLOPT_POSTFIELDS, json);
	c->lib->easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, write);
	c->lib->easy_setopt(c->curl, CURLOPT_WRITEDATA, data);
	c->lib->easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	c->lib->easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS,
			    (long)connect_ms);
	c->lib->easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	c->lib->easy_setopt(c->curl, CURLOPT_TCP_NODELAY, 1L);
	if (!timeout_ms) {
		c->lib->easy_setopt(c->curl, CURLOPT_TCP_KEEPALIVE, 1L);
		c->lib->easy_setopt(c->curl, CURLOPT_TCP_KEEPIDLE, 2L);
		c->lib->easy_setopt(c->curl, CURLOPT_TCP_KEEPINTVL, 1L);
	}
	set_tls(c);
	c->curl_error[0] = '\0';
	return headers;
}

/* What a transfer that failed with rc on endpoint ep leaves: *err, and
 * whether the request may have reached etcd. */
static enum attempt failed(struct etcd_client *c, CURLcode rc,
			   const char *ep, int *err)
{
	if (refused_by_tls(c, rc, ep)) {
		*err = -EACCES;
		return REFUSED;
	}
	*err = c->body_too_large ? -EFBIG : errno_of_curl(rc);
	long sent = 0;
	c->lib->easy_getinfo(c->curl, CURLINFO_REQUEST_SIZE, &sent);
	return sent == 0 ? NOT_SENT : MAYBE_SENT;
}

/* POST json to endpoint ep, the whole answer into c->body. */
static enum attempt post(struct etcd_client *c, const char *ep,
			 const char *method, const char *json,
			 unsigned timeout_ms, long *status, int *err)
{
	struct curl_slist *headers =
		setup(c, ep, method, json, timeout_ms, collect, c);

	if (!headers) {
		*err = -ENOMEM;
		return NOT_SENT;
	}
	CURLcode rc = c->lib->easy_perform(c->curl);
	c->lib->easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
	c->lib->slist_free_all(headers);
	if (rc != CURLE_OK)
		return failed(c, rc, ep, err);
	c->lib->easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status);
	return ANSWERED;
}

/* ---- etcd's answers ----------------------------------------------------- */

static bool message_has(json_t *answer, const char *what)
{
	const char *m = json_string_value(json_object_get(answer, "message"));

	return m && strstr(m, what);
}

/* Unavailable errors that etcd gives before proposing anything. */
static bool refused_before_applying(json_t *answer)
{
	return message_has(answer, "no leader") ||
	       message_has(answer, "not capable") ||
	       message_has(answer, "server stopped") ||
	       message_has(answer, "unhealthy cluster") ||
	       message_has(answer, "too many requests");
}

/* The errno of etcd's gRPC status code, and of the message beside it in
 * answer. */
static int errno_of_code(json_int_t code, json_t *answer)
{
	switch (code) {
	case GRPC_INVALID_ARGUMENT:
		if (message_has(answer, "too large") ||
		    message_has(answer, "too many"))
			return -E2BIG;
		if (message_has(answer, "authentication failed") ||
		    message_has(answer, "user name is empty"))
			return -EACCES;
		return -EINVAL;
	case GRPC_NOT_FOUND:
		return -ENOENT;
	case GRPC_ALREADY_EXISTS:
		return -EEXIST;
	case GRPC_FAILED_PRECONDITION:
		return message_has(answer, "already exists") ? -EEXIST : -EIO;
	case GRPC_PERMISSION_DENIED:
	case GRPC_UNAUTHENTICATED:
		return -EACCES;
	case GRPC_RESOURCE_EXHAUSTED:
		return message_has(answer, "space") ? -ENOSPC : -EAGAIN;
	case GRPC_OUT_OF_RANGE:
		return -ESTALE; /* a revision compacted away */
	case GRPC_DEADLINE_EXCEEDED:
		return -ETIMEDOUT;
	default:
		return -EIO;
	}
}

static int errno_of_answer(json_t *answer)
{
	return errno_of_code(
		json_integer_value(json_object_get(answer, "code")), answer);
}

static bool wants_token(json_t *answer)
{
	json_int_t code = json_integer_value(json_object_get(answer, "code"));

	return code == GRPC_UNAUTHENTICATED ||
	       message_has(answer, "user name is empty") ||
	       message_has(answer, "invalid auth token");
}

static int parse_body(struct etcd_client *c, json_t **out)
{
	json_error_t error;

	*out = json_loadb(c->body ? c->body : "", c->body_len, 0, &error);
	return *out ? 0 : -EIO;
}

/* An error answer that is not etcd's JSON but the gateway's own text. With
 * auth enabled, etcd (3.4.23 and later) refuses a gateway request whose
 * client certificate has a CommonName: etcd would take the CN for a user
 * name on gRPC, which the gateway cannot pass on. */
static int errno_of_text(struct etcd_client *c, const char *ep, long status)
{
	if (status != 400 || !c->body || !strstr(c->body, "CommonName"))
		return -EIO;
	log_refusal(c, ep, c->body);
	return -EACCES;
}

/* ---- the call, with failover ------------------------------------------- */

struct call {
	const char *method;
	const char *json;
	bool repeatable;
	int64_t deadline;
	int last_err;
	size_t refusals; /* by TLS; the call ends when every endpoint has */
};

enum step { DONE, NEXT_ENDPOINT, SAME_ENDPOINT };

static int authenticate(struct etcd_client *c, int64_t deadline);

/* One attempt on the current endpoint: DONE with *r and *out set, or the
 * way to go on. */
static enum step attempt(struct etcd_client *c, struct call *call,
			 bool *authed, int *r, json_t **out)
{
	int64_t left = call->deadline - monotonic_ms();
	unsigned t = left < (int64_t)c->cfg->timeout_ms ? (unsigned)left
							 : c->cfg->timeout_ms;
	const char *ep = c->cfg->endpoints[c->current];
	long status = 0;
	int err = 0;
	enum attempt a = post(c, ep, call->method, call->json, t ? t : 1,
			      &status, &err);

	if (a == REFUSED) {
		call->last_err = err;
		*r = err;
		return ++call->refusals < c->cfg->n_endpoints ? NEXT_ENDPOINT : DONE;
	}
	if (a != ANSWERED) {
		call->last_err = err;
		if (a == NOT_SENT || call->repeatable)
			return err == -ENOMEM ? (*r = err, DONE)
					      : NEXT_ENDPOINT;
		*r = -EIO;
		return DONE;
	}
	json_t *answer;
	if ((*r = parse_body(c, &answer)) < 0) {
		if (status != 200)
			*r = errno_of_text(c, ep, status);
		return DONE;
	}
	if (status == 200) {
		*out = answer;
		return DONE;
	}
	json_int_t code = json_integer_value(json_object_get(answer, "code"));
	enum step next = DONE;
	*r = errno_of_answer(answer);
	if (wants_token(answer) && c->cfg->user && !*authed) {
		*authed = true;
		*r = authenticate(c, call->deadline);
		next = *r == 0 ? SAME_ENDPOINT : DONE;
	} else if (code == GRPC_UNAVAILABLE || *r == -EAGAIN) {
		call->last_err = -EAGAIN;
		if (call->repeatable || refused_before_applying(answer))
			next = NEXT_ENDPOINT;
		else
			*r = -EIO;
	}
	json_decref(answer);
	return next;
}

static void next_endpoint(struct etcd_client *c)
{
	c->current = (c->current + 1) % c->cfg->n_endpoints;
}

static int call_json(struct etcd_client *c, struct call *call, bool authed,
		     json_t **out)
{
	unsigned round = 0;
	size_t tried = 0;
	int r = 0;

	*out = NULL;
	while (monotonic_ms() < call->deadline) {
		enum step s = attempt(c, call, &authed, &r, out);
		if (s == DONE)
			return r;
		if (s == SAME_ENDPOINT)
			continue;
		next_endpoint(c);
		if (++tried % c->cfg->n_endpoints == 0) {
			/* Every endpoint failed: an election, a restart. */
			round++;
			sleep_ms(round < 8 ? 25 * round : 200);
		}
	}
	return call->last_err ? call->last_err : -ETIMEDOUT;
}

/* A call's whole budget: a request timeout per endpoint, and an election's
 * worth of retries for a cluster that has none to offer. */
static int64_t deadline_of(struct etcd_client *c)
{
	return monotonic_ms() + 2 * (int64_t)c->cfg->timeout_ms;
}

/* A fresh token. etcd hands every member the simple tokens it issues, but
 * each member drops one after --auth-token-ttl (300 s) without use there,
 * and a restarted member knows none: so after a failover, or a long idle,
 * the token may be invalid and etcd says so before applying anything. */
static int authenticate(struct etcd_client *c, int64_t deadline)
{
	json_t *body = json_pack("{s:s, s:s}", "name", c->cfg->user,
				 "password", c->cfg->password);
	char *json = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_t *answer = NULL;

	json_decref(body);
	if (!json)
		return -ENOMEM;
	free(c->token);
	c->token = NULL;
	struct call call = { "auth/authenticate", json, true, deadline, 0, 0 };
	int r = call_json(c, &call, true, &answer);
	explicit_bzero(json, strlen(json));
	free(json);
	if (r < 0)
		return r;
	const char *token = json_string_value(json_object_get(answer,
							      "token"));
	if (token && !(c->token = strdup(token)))
		r = -ENOMEM;
	json_decref(answer);
	return r;
}

int etcd_client_call(struct etcd_client *c, const char *method,
		     json_t *body, bool repeatable, json_t **out)
{
	char *json = json_dumps(body, JSON_COMPACT);

	*out = NULL;
	if (!json)
		return -ENOMEM;
	struct call call = { method, json, repeatable, deadline_of(c), 0, 0 };
	int r = call_json(c, &call, false, out);
	free(json);
	return r;
}

/* ---- streams ------------------------------------------------------------ */

struct stream {
	struct etcd_client *c;
	etcd_each_fn each;
	void *arg;
	size_t scanned; /* bytes of c->body looked at */
	int depth;	/* of braces, outside strings */
	bool in_string, escaped;
	int result;	  /* nonzero: what ended the stream */
	bool by_each;	  /* each ended it, not etcd or the gateway */
	bool wants_token; /* etcd refused it for want of a (fresh) token */
};

/* Whether ch closes an object at the top level; strings may hold braces.
 * The gateway writes one object per line, but a line may come in pieces,
 * and nothing says that a value holds no newline. */
static bool object_ends(struct stream *st, char ch)
{
	if (st->in_string) {
		if (st->escaped)
			st->escaped = false;
		else if (ch == '\\')
			st->escaped = true;
		else if (ch == '"')
			st->in_string = false;
		return false;
	}
	if (ch == '"')
		st->in_string = true;
	else if (ch == '{')
		st->depth++;
	else if (ch == '}' && st->depth > 0)
		return --st->depth == 0;
	return false;
}

/* One object of the stream: the gateway's error, or each's to judge. */
static int deliver(struct stream *st, json_t *obj)
{
	json_t *error = json_object_get(obj, "error");

	if (!error) {
		int r = st->each(obj, st->arg);
		st->by_each = true;
		st->wants_token = r == -EACCES;
		return r;
	}
	st->wants_token = wants_token(error);
	int r = errno_of_code(
		json_integer_value(json_object_get(error, "grpc_code")), error);
	return r ? r : -EIO;
}

/* Hand the object that ends before c->body[end] over, and drop it. */
static int hand_over(struct stream *st, size_t end)
{
	struct etcd_client *c = st->c;
	json_error_t error;
	json_t *obj = json_loadb(c->body, end, 0, &error);
	int r = obj ? deliver(st, obj) : -EIO;

	json_decref(obj);
	memmove(c->body, c->body + end, c->body_len - end);
	c->body_len -= end;
	st->scanned = 0;
	return r;
}

static size_t split_stream(char *data, size_t size, size_t n, void *arg)
{
	struct stream *st = arg;
	struct etcd_client *c = st->c;

	if (!body_append(c, data, size * n)) {
		st->result = c->body_too_large ? -EFBIG : -ENOMEM;
		return 0;
	}
	while (st->scanned < c->body_len) {
		if (!object_ends(st, c->body[st->scanned++]))
			continue;
		st->result = hand_over(st, st->scanned);
		if (st->result)
			return 0;
	}
	return size * n;
}

/* Run the transfer set up on c->curl in c->multi until it ends (*rc), or
 * until etcd_client_interrupt(): -EINTR. Polling the multi handle rather
 * than c->lib->easy_perform() is what lets another thread wake it. */
static int run_transfer(struct etcd_client *c, CURLcode *rc)
{
	int running = 1, left, r = 0;
	CURLMsg *msg;

	*rc = CURLE_OK;
	if (c->lib->multi_add_handle(c->multi, c->curl) != CURLM_OK)
		return -ENOMEM;
	for (;;) {
		if (atomic_load(&c->interrupted)) {
			r = -EINTR;
			break;
		}
		CURLMcode mc = c->lib->multi_perform(c->multi, &running);
		if (mc == CURLM_OK && running)
			mc = c->lib->multi_poll(c->multi, NULL, 0, 1000, NULL);
		if (mc != CURLM_OK)
			r = -EIO;
		if (mc != CURLM_OK || !running)
			break;
	}
	while ((msg = c->lib->multi_info_read(c->multi, &left)))
		if (msg->msg == CURLMSG_DONE)
			*rc = msg->data.result;
	c->lib->multi_remove_handle(c->multi, c->curl);
	return r;
}

/* One stream on the current endpoint; the next endpoint after a failure
 * of the connection or of the member. */
static int stream_once(struct etcd_client *c, const char *method,
		       const char *json, struct stream *st)
{
	const char *ep = c->cfg->endpoints[c->current];
	struct curl_slist *headers =
		setup(c, ep, method, json, 0, split_stream, st);
	CURLcode rc;
	long status = 0;
	int err = 0;

	if (!headers)
		return -ENOMEM;
	int r = run_transfer(c, &rc);
	c->lib->easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
	c->lib->slist_free_all(headers);
	if (r < 0)
		return r;
	if (st->result && rc == CURLE_WRITE_ERROR) {
		r = st->result;
		/* each's reason, or a token to fetch for the same member */
		if (st->by_each || st->wants_token)
			return r;
	} else if (rc != CURLE_OK) {
		failed(c, rc, ep, &err);
		r = err;
	} else {
		c->lib->easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
		/* etcd ended the stream: the member is going away. */
		r = status == 200 ? -ECONNRESET : errno_of_text(c, ep, status);
	}
	next_endpoint(c);
	return r;
}

int etcd_client_stream(struct etcd_client *c, const char *method,
		       json_t *body, etcd_each_fn each, void *arg)
{
	char *json = json_dumps(body, JSON_COMPACT);
	bool authed = false;
	int r;

	if (!json)
		return -ENOMEM;
	for (;;) {
		struct stream st = { .c = c, .each = each, .arg = arg };
		r = stream_once(c, method, json, &st);
		if (!st.wants_token || !c->cfg->user || authed)
			break;
		authed = true;
		r = authenticate(c, deadline_of(c));
		if (r < 0)
			break;
	}
	free(json);
	return r;
}

void etcd_client_interrupt(struct etcd_client *c)
{
	atomic_store(&c->interrupted, true);
	c->lib->multi_wakeup(c->multi);
}
