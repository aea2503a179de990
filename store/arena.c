/*
 * arena.c — bump allocation for value trees. A decoder or parser allocates
 * every node from one arena and the caller frees them all at once.
 *
 * The arena and its first block are one allocation, so a tree that fits in
 * the first block (most do) costs one malloc and one free.
 */
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "kv_value.h"

struct arena_block {
	struct arena_block *next;
	size_t used;
	size_t size;
	alignas(max_align_t) unsigned char data[];
};

struct kv_arena {
	struct arena_block *head;
};

enum { ARENA_BLOCK = 16384 };

/* The first block lies behind the arena, aligned as a block. */
static const size_t first_offset =
	(sizeof(struct kv_arena) + alignof(struct arena_block) - 1) &
	~(alignof(struct arena_block) - 1);

static struct arena_block *first_block(struct kv_arena *a)
{
	return (struct arena_block *)((unsigned char *)a + first_offset);
}

struct kv_arena *kv_arena_new(void)
{
	struct kv_arena *a =
		malloc(first_offset + sizeof(struct arena_block) + ARENA_BLOCK);
	if (!a)
		return NULL;
	a->head = first_block(a);
	*a->head = (struct arena_block){.next = NULL, .used = 0,
					.size = ARENA_BLOCK};
	return a;
}

void kv_arena_free(struct kv_arena *a)
{
	if (!a)
		return;
	struct arena_block *b = a->head, *first = first_block(a);
	while (b) {
		struct arena_block *next = b->next;
		if (b != first)
			free(b);
		b = next;
	}
	free(a);
}

/* size bytes, aligned for any type, left as they are. */
static void *take(struct kv_arena *a, size_t size)
{
	const size_t align = alignof(max_align_t);
	if (size > SIZE_MAX - align - sizeof(struct arena_block))
		return NULL;
	size = (size + align - 1) & ~(align - 1);
	if (size == 0)
		size = align;
	struct arena_block *b = a->head;
	if (b->size - b->used < size) {
		size_t cap = size > ARENA_BLOCK ? size : ARENA_BLOCK;
		b = malloc(sizeof(*b) + cap);
		if (!b)
			return NULL;
		b->used = 0;
		b->size = cap;
		/* A block made for one large allocation goes behind the
		 * current one, so the current block's free space stays usable. */
		if (cap == size) {
			b->next = a->head->next;
			a->head->next = b;
		} else {
			b->next = a->head;
			a->head = b;
		}
	}
	void *p = b->data + b->used;
	b->used += size;
	return p;
}

void *kv_arena_alloc(struct kv_arena *a, size_t size)
{
	void *p = take(a, size);
	if (p)
		memset(p, 0, size);
	return p;
}

void *kv_arena_dup(struct kv_arena *a, const void *data, size_t len)
{
	if (len == SIZE_MAX)
		return NULL;
	unsigned char *p = take(a, len + 1);
	if (!p)
		return NULL;
	if (len)
		memcpy(p, data, len);
	p[len] = 0;
	return p;
}
