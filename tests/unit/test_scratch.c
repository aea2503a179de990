/*
 * test_scratch.c — the compiled scratch patterns of a mount (fs/scratch.h):
 * they match exactly the names fnmatch(3) without flags matches, editors'
 * patterns compile to shapes that need no fnmatch, and the list's empty and
 * overlong patterns are ignored.
 */
#include <check.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "name.h"
#include "scratch.h"
#include "support.h"

/* The mount's default list (fs/mount.c, docs/filesystem.md). */
static const char editor_list[] =
	"*.swp:*.swx:*.swo:*~:4913:.#*:sed??????:.*.??????";

static struct scratch_set set;

static void teardown(void)
{
	scratch_set_free(&set);
}

static void compile(const char *list)
{
	scratch_set_free(&set);
	if (scratch_set_compile(list, &set) != 0)
		ck_abort_msg("compiling '%s' failed", list);
}

/* Whether the name matches any pattern of list by fnmatch's own answer. */
static bool fnmatch_any(const char *list, const char *name)
{
	char *copy = strdup(list);
	ck_assert_ptr_nonnull(copy);
	bool hit = false;
	for (char *p = copy, *end; p && !hit; p = end) {
		end = strchr(p, ':');
		if (end)
			*end++ = 0;
		hit = *p && fnmatch(p, name, 0) == 0;
	}
	free(copy);
	return hit;
}

/*
 * Every string of 0 to max_len characters over alphabet, in turn, written
 * to out (which holds max_len + 1 bytes). Returns false after the last.
 */
static bool next_string(char *out, size_t max_len, const char *alphabet)
{
	size_t len = strlen(out), k = strlen(alphabet);
	for (size_t i = len; i-- > 0;) {
		const char *at = strchr(alphabet, out[i]);
		if ((size_t)(at - alphabet) + 1 < k) {
			out[i] = at[1];
			return true;
		}
		out[i] = alphabet[0];
	}
	if (len == max_len)
		return false;
	out[len] = alphabet[0];
	out[len + 1] = 0;
	return true;
}

/*
 * Compare the set of each pattern with fnmatch on every name. The empty
 * pattern is left out: lists ignore it, where fnmatch matches "" with it.
 */
static void assert_agrees_with_fnmatch(const char *pattern_alphabet,
				       size_t pattern_max,
				       const char *name_alphabet,
				       size_t name_max)
{
	char pattern[8] = "", name[8];
	ck_assert_uint_lt(pattern_max, sizeof(pattern));
	ck_assert_uint_lt(name_max, sizeof(name));
	size_t compared = 0;
	/* check marks every assertion with a write to its pipe: the loop
	 * asserts only on a disagreement */
	while (next_string(pattern, pattern_max, pattern_alphabet)) {
		compile(pattern);
		name[0] = 0;
		do {
			bool want = fnmatch(pattern, name, 0) == 0;
			if (scratch_set_match(&set, name) != want)
				ck_abort_msg("pattern '%s', name '%s': "
					     "fnmatch says %d",
					     pattern, name, want);
			compared++;
		} while (next_string(name, name_max, name_alphabet));
	}
	ck_assert_uint_gt(compared, 0);
}

/* ------------------------------------------------------------------ tests */

START_TEST(editor_patterns_match_their_files)
{
	static const char *const scratch[] = {
		"f.swp", ".f.swp", "f.json.swx", ".f.swo", "f.json~", "~",
		"4913", ".#f.json", "sedAb3dEf", ".f.json.Xy12Zw",
	};
	static const char *const plain[] = {
		"f000123.json", "f.swp.json", "4913x", "x4913", "sed", "sedAb3dE",
		"f.json.Xy12Z", "@value", "swp",
	};
	compile(editor_list);
	for (size_t i = 0; i < sizeof(scratch) / sizeof(*scratch); i++)
		ck_assert_msg(scratch_set_match(&set, scratch[i]), "%s",
			      scratch[i]);
	for (size_t i = 0; i < sizeof(plain) / sizeof(*plain); i++)
		ck_assert_msg(!scratch_set_match(&set, plain[i]), "%s",
			      plain[i]);
}
END_TEST

START_TEST(editor_patterns_agree_with_fnmatch)
{
	static const char *const names[] = {
		"", ".", "..", "f", ".f", "f.swp", ".f.swp", "f.swp~", "4913",
		"49130", ".#", ".#.#", "sed", "sed123456", "sed1234567",
		"sed12345", ".a.123456", "..123456", ".a.b.123456", "*.swp",
		"\xff.swp", "f.sw\xff", "\xe2\x82\xac~",
	};
	compile(editor_list);
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
		ck_assert_msg(scratch_set_match(&set, names[i]) ==
				      fnmatch_any(editor_list, names[i]),
			      "'%s'", names[i]);
}
END_TEST

START_TEST(editor_patterns_compile_to_shapes_without_fnmatch)
{
	compile("*.swp:.#*:4913:*");
	ck_assert_uint_eq(set.n, 4);
	ck_assert_int_eq(set.v[0].shape, SCRATCH_SUFFIX);
	ck_assert_int_eq(set.v[1].shape, SCRATCH_PREFIX);
	ck_assert_int_eq(set.v[2].shape, SCRATCH_LITERAL);
	ck_assert_int_eq(set.v[3].shape, SCRATCH_PREFIX);
	ck_assert_uint_eq(set.v[3].len, 0);
}
END_TEST

START_TEST(other_wildcards_go_to_fnmatch_behind_their_fixed_head)
{
	compile("sed??????:a*b:[ab]*:x\\*");
	ck_assert_uint_eq(set.n, 4);
	for (size_t i = 0; i < set.n; i++)
		ck_assert_int_eq(set.v[i].shape, SCRATCH_GLOB);
	ck_assert_uint_eq(set.v[0].len, 3);
	ck_assert_uint_eq(set.v[1].len, 1);
	ck_assert_uint_eq(set.v[2].len, 0);
	ck_assert_uint_eq(set.v[3].len, 1);
}
END_TEST

START_TEST(all_short_patterns_agree_with_fnmatch)
{
	/* every pattern of up to four of these against every name of up to
	 * three: wildcards in every position, escapes, unclosed and negated
	 * brackets, and names beginning with '.' */
	assert_agrees_with_fnmatch("a.*?[]\\!", 4, "ab.*", 3);
}
END_TEST

START_TEST(all_star_and_fixed_patterns_agree_with_fnmatch)
{
	/* the shapes compiled without fnmatch, at greater lengths */
	assert_agrees_with_fnmatch("ab*", 6, "ab", 5);
}
END_TEST

START_TEST(star_matches_a_leading_dot)
{
	compile("*.swp");
	ck_assert(scratch_set_match(&set, ".f.swp"));
	compile("?f");
	ck_assert(scratch_set_match(&set, ".f"));
	compile("*");
	ck_assert(scratch_set_match(&set, ".hidden"));
}
END_TEST

START_TEST(empty_list_matches_nothing)
{
	compile("");
	ck_assert_uint_eq(set.n, 0);
	ck_assert(!scratch_set_match(&set, "f.swp"));
	ck_assert(!scratch_set_match(&set, ""));
}
END_TEST

START_TEST(empty_patterns_are_ignored)
{
	compile(":a::b:");
	ck_assert_uint_eq(set.n, 2);
	ck_assert(scratch_set_match(&set, "a"));
	ck_assert(scratch_set_match(&set, "b"));
	ck_assert(!scratch_set_match(&set, ""));
	ck_assert(!scratch_set_match(&set, "ab"));
}
END_TEST

START_TEST(any_pattern_of_the_list_matches)
{
	compile("x:y*:*z:[q]?");
	ck_assert(scratch_set_match(&set, "x"));
	ck_assert(scratch_set_match(&set, "yes"));
	ck_assert(scratch_set_match(&set, "fizz"));
	ck_assert(scratch_set_match(&set, "qa"));
	ck_assert(!scratch_set_match(&set, "xy"));
	ck_assert(!scratch_set_match(&set, "zy"));
}
END_TEST

START_TEST(patterns_longer_than_name_max_are_ignored)
{
	char list[2 * KVFS_NAME_MAX + 8], name[KVFS_NAME_MAX + 1];
	memset(name, 'a', KVFS_NAME_MAX);
	name[KVFS_NAME_MAX] = 0;
	/* '*' + NAME_MAX 'a's: fnmatch would match name, the set does not */
	list[0] = '*';
	memcpy(list + 1, name, KVFS_NAME_MAX + 1);
	compile(list);
	ck_assert_int_eq(fnmatch(list, name, 0), 0);
	ck_assert_uint_eq(set.n, 0);
	ck_assert(!scratch_set_match(&set, name));
	/* the longest kept: NAME_MAX bytes, and the list goes on after it */
	memcpy(list + 1, name + 1, KVFS_NAME_MAX);
	strcat(list, ":b");
	compile(list);
	ck_assert_uint_eq(set.n, 2);
	ck_assert(scratch_set_match(&set, name));
	ck_assert(scratch_set_match(&set, "b"));
}
END_TEST

START_TEST(escaped_wildcard_is_literal)
{
	compile("\\*:a\\?");
	ck_assert(scratch_set_match(&set, "*"));
	ck_assert(!scratch_set_match(&set, "x"));
	ck_assert(scratch_set_match(&set, "a?"));
	ck_assert(!scratch_set_match(&set, "ab"));
}
END_TEST

START_TEST(zeroed_set_matches_nothing_and_frees)
{
	struct scratch_set zero = {0};
	ck_assert(!scratch_set_match(&zero, "f.swp"));
	scratch_set_free(&zero);
	scratch_set_free(&zero);
}
END_TEST

static Suite *scratch_suite(void)
{
	Suite *s = suite_create("scratch");
	TCase *tc = tcase_create("patterns");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, editor_patterns_match_their_files);
	tcase_add_test(tc, editor_patterns_agree_with_fnmatch);
	tcase_add_test(tc, editor_patterns_compile_to_shapes_without_fnmatch);
	tcase_add_test(tc, other_wildcards_go_to_fnmatch_behind_their_fixed_head);
	tcase_add_test(tc, all_short_patterns_agree_with_fnmatch);
	tcase_add_test(tc, all_star_and_fixed_patterns_agree_with_fnmatch);
	tcase_add_test(tc, star_matches_a_leading_dot);
	tcase_add_test(tc, empty_list_matches_nothing);
	tcase_add_test(tc, empty_patterns_are_ignored);
	tcase_add_test(tc, any_pattern_of_the_list_matches);
	tcase_add_test(tc, patterns_longer_than_name_max_are_ignored);
	tcase_add_test(tc, escaped_wildcard_is_literal);
	tcase_add_test(tc, zeroed_set_matches_nothing_and_frees);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(scratch_suite());
}
