/*
 * test_arena.c — the bump allocator of value trees (store/arena.c). The
 * arena and its first block (16 KB) are one allocation; what it hands out
 * must stay zeroed or copied, aligned and apart also once the arena has
 * outgrown that block, and kv_arena_free must free each block exactly once
 * (ASan and LeakSanitizer watch the frees).
 */
#include <check.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kv_value.h"
#include "support.h"

/*
 * Sixteen times the first block: blocks enough that a large piece comes
 * while several are chained; a large piece is larger than a block.
 */
enum { TOTAL = 256 * 1024, LARGE = 20000, MAX_PIECES = 1024 };

struct piece {
	unsigned char *p;
	size_t len;
};

/* 0 to 600 bytes mostly, LARGE now and then. */
static size_t random_size(void)
{
	return rng_below(40) == 0 ? LARGE : rng_below(601);
}

static bool aligned(const void *p)
{
	return (uintptr_t)p % alignof(max_align_t) == 0;
}

static bool all_bytes(const unsigned char *p, size_t len, unsigned char c)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != c)
			return false;
	return true;
}

/* The byte piece i is filled with: neighbours differ. */
static unsigned char mark(size_t i)
{
	return (unsigned char)(1 + i % 255);
}

/*
 * kv_arena_alloc until TOTAL bytes are out, each piece marked; then every
 * piece must still hold its own mark. Returns how many pieces.
 */
static size_t alloc_pieces(struct kv_arena *a, struct piece *pieces)
{
	size_t n = 0, total = 0;
	while (total < TOTAL) {
		ck_assert_uint_lt(n, MAX_PIECES);
		struct piece *pc = &pieces[n];
		pc->len = random_size();
		pc->p = kv_arena_alloc(a, pc->len);
		ck_assert_ptr_nonnull(pc->p);
		ck_assert_msg(all_bytes(pc->p, pc->len, 0),
			      "piece %zu (%zu bytes) is not zeroed", n,
			      pc->len);
		ck_assert(aligned(pc->p));
		memset(pc->p, mark(n), pc->len);
		total += pc->len;
		n++;
	}
	return n;
}

/*
 * Forget the pieces before freeing the arena: LeakSanitizer counts a block
 * that a pointer still reaches as reachable, and would miss a block that
 * kv_arena_free lost.
 */
static void free_arena(struct kv_arena *a, struct piece *pieces)
{
	memset(pieces, 0, MAX_PIECES * sizeof(*pieces));
	kv_arena_free(a);
}

START_TEST(arena_new_and_free_without_allocations)
{
	kv_arena_free(kv_arena_new());
	kv_arena_free(NULL);
}
END_TEST

START_TEST(arena_alloc_past_the_first_block_zeroed_and_aligned)
{
	static struct piece pieces[MAX_PIECES];
	struct kv_arena *a = kv_arena_new();
	ck_assert_ptr_nonnull(a);
	rng_seed(16);
	alloc_pieces(a, pieces);
	free_arena(a, pieces);
}
END_TEST

START_TEST(arena_alloc_past_the_first_block_pieces_stay_apart)
{
	static struct piece pieces[MAX_PIECES];
	struct kv_arena *a = kv_arena_new();
	ck_assert_ptr_nonnull(a);
	rng_seed(17);
	size_t n = alloc_pieces(a, pieces);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(all_bytes(pieces[i].p, pieces[i].len, mark(i)),
			      "piece %zu was overwritten", i);
	free_arena(a, pieces);
}
END_TEST

START_TEST(arena_dup_past_the_first_block_copies_and_ends_with_nul)
{
	static unsigned char source[LARGE];
	static struct piece pieces[MAX_PIECES];
	struct kv_arena *a = kv_arena_new();
	ck_assert_ptr_nonnull(a);
	rng_seed(18);
	for (size_t i = 0; i < sizeof(source); i++)
		source[i] = (unsigned char)rng();
	size_t n = 0, total = 0;
	while (total < TOTAL) {
		ck_assert_uint_lt(n, MAX_PIECES);
		size_t len = random_size();
		const unsigned char *from = source + rng_below(LARGE - len + 1);
		pieces[n] = (struct piece){ kv_arena_dup(a, from, len), len };
		ck_assert_ptr_nonnull(pieces[n].p);
		ck_assert(aligned(pieces[n].p));
		ck_assert_mem_eq(pieces[n].p, from, len);
		ck_assert_int_eq(pieces[n].p[len], 0);
		memset(pieces[n].p, mark(n), len + 1);
		total += len;
		n++;
	}
	for (size_t i = 0; i < n; i++) {
		const struct piece *pc = &pieces[i];
		ck_assert_msg(all_bytes(pc->p, pc->len + 1, mark(i)),
			      "copy %zu was overwritten", i);
	}
	free_arena(a, pieces);
}
END_TEST

static Suite *arena_suite(void)
{
	Suite *s = suite_create("arena");
	TCase *tc = tcase_create("arena");
	tcase_add_test(tc, arena_new_and_free_without_allocations);
	tcase_add_test(tc, arena_alloc_past_the_first_block_zeroed_and_aligned);
	tcase_add_test(tc, arena_alloc_past_the_first_block_pieces_stay_apart);
	tcase_add_test(tc,
		       arena_dup_past_the_first_block_copies_and_ends_with_nul);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(arena_suite());
}
