/*
 * row_log.c — log each damaged row once per store handle (row_log.h).
 */
#include <sodium.h>
#include <stdbool.h>
#include <string.h>
#include <syslog.h>

#include "row_log.h"

void row_log_init(struct row_log *l)
{
	memset(l, 0, sizeof(*l));
	pthread_mutex_init(&l->lock, NULL);
}

void row_log_destroy(struct row_log *l)
{
	pthread_mutex_destroy(&l->lock);
}

static uint64_t fingerprint(const uint8_t *key, size_t len)
{
	uint8_t h[16];
	crypto_generichash(h, sizeof(h), key, len, NULL, 0);
	uint64_t v;
	memcpy(&v, h, sizeof(v));
	return v;
}

void row_log_once(struct row_log *l, const uint8_t *key, size_t len,
		  const char *why)
{
	uint64_t f = fingerprint(key, len);
	pthread_mutex_lock(&l->lock);
	bool seen = false;
	for (size_t i = 0; i < l->n && !seen; i++)
		seen = l->logged[i] == f;
	bool full = l->n == ROW_LOG_MAX;
	if (!seen && !full)
		l->logged[l->n++] = f;
	bool last = l->n == ROW_LOG_MAX;
	pthread_mutex_unlock(&l->lock);
	if (seen || full)
		return;
	char hex[2 * 128 + 1];
	size_t shown = len < 128 ? len : 128;
	sodium_bin2hex(hex, sizeof(hex), key, shown);
	syslog(LOG_WARNING, "kvfs: key 0x%s%s %s%s", hex,
	       shown < len ? "..." : "", why,
	       last ? "; no more damaged rows are logged" : "");
}
