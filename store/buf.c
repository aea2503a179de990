/*
 * buf.c — the growable byte buffer every encoder in the store appends to.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kv_key.h"

int kv_buf_reserve(struct kv_buf *b, size_t extra)
{
	if (extra <= b->cap - b->len)
		return 0;
	if (extra > SIZE_MAX / 2 - b->len)
		return -ENOMEM;
	size_t cap = b->cap ? b->cap : 64;
	while (cap - b->len < extra)
		cap *= 2;
	uint8_t *data = realloc(b->data, cap);
	if (!data)
		return -ENOMEM;
	b->data = data;
	b->cap = cap;
	return 0;
}

int kv_buf_append(struct kv_buf *b, const void *data, size_t len)
{
	if (len == 0)
		return 0;
	int r = kv_buf_reserve(b, len);
	if (r < 0)
		return r;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

int kv_buf_push(struct kv_buf *b, uint8_t byte)
{
	return kv_buf_append(b, &byte, 1);
}

void kv_buf_free(struct kv_buf *b)
{
	free(b->data);
	*b = (struct kv_buf){0};
}
