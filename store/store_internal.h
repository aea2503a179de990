/*
 * store_internal.h — the store handle as store.c and seal_admin.c (the
 * commands' work on an encrypted store's keys) both see it. Internal to
 * store/.
 */
#ifndef KVFS_STORE_INTERNAL_H
#define KVFS_STORE_INTERNAL_H

#include "engine.h"
#include "row_log.h"
#include "sealer.h"

struct kv_store {
	void *engine;
	const struct kv_engine_ops *ops;
	size_t max_value;	  /* in stored bytes */
	struct kv_sealer *sealer; /* NULL: a plain store */
	bool raw;		  /* kv_store_options.raw: never sealed */
	struct row_log bad_rows;  /* rows that are not Deno's data */
};

int64_t store_now_ms(void);

/* key followed by one byte, into out (emptied first): the bounds Deno
 * computes for gets and lists, and the key right after key (0x00). */
int store_key_plus(const uint8_t *key, size_t len, uint8_t byte,
		   struct kv_buf *out);

/* A range from start[0..len) to past every key a read may name
 * (KV_MAX_READ_KEY bytes of 0xff, written to end). */
void store_range_to_end(const uint8_t *start, size_t len, unsigned limit,
			uint8_t end[KV_MAX_READ_KEY], struct kv_range *out);

/* Read ranges in one snapshot as the rows are, sealed values unopened:
 * no limit on n, the caller's bounds trusted. */
int store_read_raw(struct kv_store *s, const struct kv_range *ranges,
		   size_t n, struct kv_entries *out);

/* Open the sealed values of n lists of entries in place, reloading the
 * keyring once when one names a generation it does not hold; values that
 * do not open are marked (kv_entry.error). */
int store_open_entries(struct kv_store *s, struct kv_entries *lists,
		       size_t n);

#endif
