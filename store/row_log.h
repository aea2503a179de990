/*
 * row_log.h — reporting rows that are not Deno's data (a key that does not
 * decode, a value that does not open or has a wrong encoding): each is
 * logged once per store handle, with its key in hex, so a damaged row is
 * visible without flooding the log on every read. Internal to store/.
 */
#ifndef KVFS_ROW_LOG_H
#define KVFS_ROW_LOG_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* The most distinct rows logged per handle; past it, one last notice. */
#define ROW_LOG_MAX 256

struct row_log {
	pthread_mutex_t lock;
	uint64_t logged[ROW_LOG_MAX]; /* BLAKE2b-64 of the key */
	size_t n;
};

void row_log_init(struct row_log *l);
void row_log_destroy(struct row_log *l);

/* Log "kvfs: key 0x<hex> <why>" at LOG_WARNING, once per key. */
void row_log_once(struct row_log *l, const uint8_t *key, size_t len,
		  const char *why);

#endif
