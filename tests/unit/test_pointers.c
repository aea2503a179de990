/*
 * test_pointers.c — pointer lists (fs/pointers.h, kvfs-spec §6): rule text
 * and matching, the view of arrays as named links (with and without a rule,
 * skipped elements, 10,000 IDs), ln -s targets, and the edits of the array
 * that keep every other element.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "name.h"
#include "pointers.h"
#include "support.h"

/* ---------------------------------------------------------------- helpers */

static struct kvfs_ptr_rules rules;
static struct kv_arena *arena;

static void setup(void)
{
	rules = (struct kvfs_ptr_rules){0};
	arena = kv_arena_new();
	ck_assert_ptr_nonnull(arena);
}

static void teardown(void)
{
	kvfs_ptr_rules_free(&rules);
	kv_arena_free(arena);
}

/* The rule of one rule text. */
static const struct kvfs_ptr_rule *rule_of(const char *text)
{
	kvfs_ptr_rules_free(&rules);
	ck_assert_int_eq(kvfs_ptr_rules_parse(text, strlen(text), &rules), 0);
	ck_assert_uint_eq(rules.n, 1);
	return &rules.v[0];
}

/* An encoded key from a path; the buffer is the caller's to free. */
static struct kv_buf key_of(const char *path)
{
	struct kv_buf key = {0};
	ck_assert_int_eq(kvfs_path_to_key(path, strlen(path), &key), 0);
	return key;
}

static bool key_is(const uint8_t *key, size_t len, const char *path)
{
	struct kv_buf want = key_of(path);
	bool same = want.len == len && memcmp(want.data, key, len) == 0;
	kv_buf_free(&want);
	return same;
}

static struct kv_value *tree_of(const char *json)
{
	struct kv_value *v;
	ck_assert_int_eq(kv_json_parse(json, strlen(json), arena, &v), 0);
	return v;
}

/* The V8 encoding of a JSON value; the buffer is the caller's to free. */
static struct kv_buf v8_of(const char *json)
{
	struct kv_buf out = {0};
	ck_assert_int_eq(kv_v8_encode(tree_of(json), &out), 0);
	return out;
}

static struct kv_value *decode(const struct kv_buf *v8)
{
	struct kv_value *v;
	ck_assert_int_eq(kv_v8_decode(v8->data, v8->len, arena, &v, NULL), 0);
	return v;
}

/* The JSON of a V8 value, compared with the expected text. */
static void assert_json(const struct kv_buf *v8, const char *want)
{
	struct kv_buf json = {0};
	ck_assert_int_eq(kv_json_render(decode(v8), &json), 0);
	ck_assert_int_eq(kv_buf_push(&json, 0), 0);
	ck_assert_str_eq((const char *)json.data, want);
	kv_buf_free(&json);
}

/* Build the view of a JSON value at the key of path under rule. */
static int build(const char *path, const char *json,
		 const struct kvfs_ptr_rule *rule, struct kvfs_ptr_list *l)
{
	struct kv_buf key = key_of(path);
	int r = kvfs_ptr_list_build(key.data, key.len, tree_of(json), rule, l);
	kv_buf_free(&key);
	return r;
}

static void assert_entry(const struct kvfs_ptr_list *l, size_t i,
			 size_t index, const char *name, const char *target,
			 const char *link)
{
	ck_assert_uint_lt(i, l->n);
	ck_assert_uint_eq(l->entries[i].index, index);
	ck_assert_str_eq(l->entries[i].name, name);
	ck_assert(key_is(l->entries[i].target, l->entries[i].target_len,
			 target));
	ck_assert_str_eq(l->entries[i].link, link);
	ck_assert_uint_eq(l->entries[i].link_len, strlen(link));
}

/* Resolve an ln -s target for the list user/u1/posts. */
static int link_target(const struct kvfs_ptr_rule *rule, const char *name,
		       const char *target, const char *mountpoint,
		       struct kv_buf *out)
{
	struct kv_buf list = key_of("user/u1/posts");
	int r = kvfs_ptr_link_target(list.data, list.len, rule, name, target,
				     strlen(target), mountpoint, out);
	kv_buf_free(&list);
	return r;
}

static int append(const struct kv_buf *value, const struct kvfs_ptr_rule *rule,
		  const char *target_path, struct kv_buf *out)
{
	struct kv_buf target = key_of(target_path);
	int r = kvfs_ptr_append(value ? value->data : NULL,
				value ? value->len : 0, rule, target.data,
				target.len, out);
	kv_buf_free(&target);
	return r;
}

static int remove_id(const struct kv_buf *value,
		     const struct kvfs_ptr_rule *rule, const char *target_path,
		     struct kv_buf *out)
{
	struct kv_buf target = key_of(target_path);
	int r = kvfs_ptr_remove(value->data, value->len, rule, target.data,
				target.len, out);
	kv_buf_free(&target);
	return r;
}

/* ------------------------------------------------------------------ rules */

START_TEST(rule_reads_pattern_and_target)
{
	const struct kvfs_ptr_rule *rule = rule_of("user/*/posts=post");
	struct kv_buf user = key_of("user"), posts = key_of("posts");
	struct kv_buf target = key_of("post");
	ck_assert_uint_eq(rule->n_components, 3);
	ck_assert(!rule->components[0].any);
	ck_assert(rule->components[1].any);
	ck_assert(!rule->components[2].any);
	ck_assert_uint_eq(rule->components[0].len, user.len);
	ck_assert_mem_eq(rule->pattern.data + rule->components[0].off,
			 user.data, user.len);
	ck_assert_mem_eq(rule->pattern.data + rule->components[2].off,
			 posts.data, posts.len);
	ck_assert_uint_eq(rule->target.len, target.len);
	ck_assert_mem_eq(rule->target.data, target.data, target.len);
	kv_buf_free(&user);
	kv_buf_free(&posts);
	kv_buf_free(&target);
}
END_TEST

START_TEST(rules_split_on_semicolons_and_newlines)
{
	const char *text = "a=b;c/*=d/@1\n\n;e=;";
	ck_assert_int_eq(kvfs_ptr_rules_parse(text, strlen(text), &rules), 0);
	ck_assert_uint_eq(rules.n, 3);
	ck_assert_uint_eq(rules.v[1].n_components, 2);
	ck_assert_uint_eq(rules.v[2].target.len, 0);
}
END_TEST

START_TEST(rules_parse_appends_to_existing_rules)
{
	ck_assert_int_eq(kvfs_ptr_rules_parse("a=b", 3, &rules), 0);
	ck_assert_int_eq(kvfs_ptr_rules_parse("c=d", 3, &rules), 0);
	ck_assert_uint_eq(rules.n, 2);
}
END_TEST

START_TEST(rules_refuse_malformed_text_and_change_nothing)
{
	static const char *bad[] = {
		"a",	  "=b",	    "a/=b",    "/a=b",	 "a//b=c",
		"@x=b",	  "a=@x",   "a=b/",    "a=%2F%", "@value=b",
		"a=*",	  "a=.",    "../a=b",  "a=@01",  "ok=ok;bad",
	};
	ck_assert_int_eq(kvfs_ptr_rules_parse("keep=this", 9, &rules), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(kvfs_ptr_rules_parse(bad[i], strlen(bad[i]),
						   &rules) == -EINVAL,
			      "accepted %s", bad[i]);
		ck_assert_uint_eq(rules.n, 1);
	}
}
END_TEST

START_TEST(rules_format_reads_back_as_written)
{
	static const char *texts[] = {
		"user/*/posts=post",
		"*=",
		"a%3Db/%2A/*/x%3By=t%3D/@42/@-1.5/@7n/@true/@0x00ff",
		"%40home/@\"\"/*=a*b",
		"%25=%253D",
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct kv_buf out = {0};
		ck_assert_int_eq(kvfs_ptr_rule_format(rule_of(texts[i]), &out),
				 0);
		ck_assert_str_eq((const char *)out.data, texts[i]);
		ck_assert_uint_eq(out.len, strlen(texts[i]));
		kv_buf_free(&out);
	}
}
END_TEST

START_TEST(rule_escapes_stand_for_separators_and_star)
{
	const struct kvfs_ptr_rule *rule = rule_of("a%3Db/%2A/x%3By=z");
	struct kv_buf want = {0};
	struct kv_part parts[] = {
		{.type = KV_PART_STRING, .data = (const uint8_t *)"a=b", .len = 3},
		{.type = KV_PART_STRING, .data = (const uint8_t *)"*", .len = 1},
		{.type = KV_PART_STRING, .data = (const uint8_t *)"x;y", .len = 3},
	};
	ck_assert_int_eq(kv_key_encode(parts, 3, &want), 0);
	ck_assert(kvfs_ptr_rules_match(&rules, want.data, want.len) == rule);
	kv_buf_free(&want);
}
END_TEST

START_TEST(raw_separators_in_a_target_after_the_first_equals_are_kept)
{
	const struct kvfs_ptr_rule *rule = rule_of("a=b=c");
	struct kv_buf want = {0};
	struct kv_part part = {.type = KV_PART_STRING,
			       .data = (const uint8_t *)"b=c",
			       .len = 3};
	ck_assert_int_eq(kv_part_encode(&part, &want), 0);
	ck_assert_uint_eq(rule->target.len, want.len);
	ck_assert_mem_eq(rule->target.data, want.data, want.len);
	kv_buf_free(&want);
}
END_TEST

START_TEST(rules_format_lists_one_rule_per_line)
{
	const char *text = "a=b;c/*=";
	struct kv_buf out = {0};
	ck_assert_int_eq(kvfs_ptr_rules_parse(text, strlen(text), &rules), 0);
	ck_assert_int_eq(kvfs_ptr_rules_format(&rules, &out), 0);
	ck_assert_str_eq((const char *)out.data, "a=b\nc/*=\n");
	kv_buf_free(&out);
	struct kvfs_ptr_rules none = {0};
	ck_assert_int_eq(kvfs_ptr_rules_format(&none, &out), 0);
	ck_assert_uint_eq(out.len, 0);
	ck_assert_str_eq((const char *)out.data, "");
	kv_buf_free(&out);
}
END_TEST

START_TEST(star_matches_exactly_one_part_of_any_type)
{
	static const char *yes[] = {
		"user/x/posts",	  "user/@1/posts",    "user/@1n/posts",
		"user/@true/posts", "user/@0x01/posts", "user/@\"\"/posts",
		"user/@NaN/posts",
	};
	static const char *no[] = {
		"user/posts", "user/a/b/posts", "user/x/posts/more",
		"other/x/posts", "user/x", "user/x/post",
	};
	rule_of("user/*/posts=post");
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		struct kv_buf k = key_of(yes[i]);
		ck_assert_msg(kvfs_ptr_rules_match(&rules, k.data, k.len),
			      "no match: %s", yes[i]);
		kv_buf_free(&k);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		struct kv_buf k = key_of(no[i]);
		ck_assert_msg(!kvfs_ptr_rules_match(&rules, k.data, k.len),
			      "matched: %s", no[i]);
		kv_buf_free(&k);
	}
}
END_TEST

START_TEST(literal_component_does_not_match_a_prefix_of_a_part)
{
	struct kv_buf k = key_of("ab");
	rule_of("a=t");
	ck_assert_ptr_null(kvfs_ptr_rules_match(&rules, k.data, k.len));
	kv_buf_free(&k);
}
END_TEST

START_TEST(first_matching_rule_wins)
{
	const char *text = "user/u1/posts=mine;user/*/posts=post";
	struct kv_buf u1 = key_of("user/u1/posts"), u2 = key_of("user/u2/posts");
	ck_assert_int_eq(kvfs_ptr_rules_parse(text, strlen(text), &rules), 0);
	ck_assert(kvfs_ptr_rules_match(&rules, u1.data, u1.len) == &rules.v[0]);
	ck_assert(kvfs_ptr_rules_match(&rules, u2.data, u2.len) == &rules.v[1]);
	kv_buf_free(&u1);
	kv_buf_free(&u2);
}
END_TEST

START_TEST(put_replaces_the_target_of_an_equal_pattern)
{
	struct kv_buf out = {0};
	ck_assert_int_eq(kvfs_ptr_rules_put(&rules, "user/*/posts", 12, "post", 4), 0);
	ck_assert_int_eq(kvfs_ptr_rules_put(&rules, "tag/*", 5, "post", 4), 0);
	ck_assert_int_eq(kvfs_ptr_rules_put(&rules, "user/*/posts", 12, "p/@2", 4), 0);
	ck_assert_int_eq(kvfs_ptr_rules_format(&rules, &out), 0);
	ck_assert_str_eq((const char *)out.data,
			 "user/*/posts=p/@2\ntag/*=post\n");
	ck_assert_int_eq(kvfs_ptr_rules_put(&rules, "a/", 2, "b", 1), -EINVAL);
	ck_assert_int_eq(kvfs_ptr_rules_put(&rules, "a", 1, "@b", 2), -EINVAL);
	ck_assert_uint_eq(rules.n, 2);
	kv_buf_free(&out);
}
END_TEST

START_TEST(put_keeps_a_wildcard_apart_from_a_literal_star)
{
	ck_assert_int_eq(kvfs_ptr_rules_put(&rules, "a/*", 3, "x", 1), 0);
	ck_assert_int_eq(kvfs_ptr_rules_put(&rules, "a/%2A", 5, "y", 1), 0);
	ck_assert_uint_eq(rules.n, 2);
}
END_TEST

START_TEST(remove_deletes_the_rule_of_a_pattern)
{
	const char *text = "a=b;c/*=d;e=f";
	struct kv_buf out = {0};
	ck_assert_int_eq(kvfs_ptr_rules_parse(text, strlen(text), &rules), 0);
	ck_assert_int_eq(kvfs_ptr_rules_remove(&rules, "c/*", 3), 0);
	ck_assert_int_eq(kvfs_ptr_rules_remove(&rules, "c/*", 3), -ENOENT);
	ck_assert_int_eq(kvfs_ptr_rules_remove(&rules, "c", 1), -ENOENT);
	ck_assert_int_eq(kvfs_ptr_rules_remove(&rules, "c/", 2), -EINVAL);
	ck_assert_int_eq(kvfs_ptr_rules_format(&rules, &out), 0);
	ck_assert_str_eq((const char *)out.data, "a=b\ne=f\n");
	kv_buf_free(&out);
}
END_TEST

/* ------------------------------------------------------------------- view */

START_TEST(rule_list_shows_ids_in_list_order)
{
	struct kvfs_ptr_list l;
	const char *json = "[\"p2\",\"p1\",3,{\"$bigint\":\"-7\"},true,false,"
			   "{\"$number\":\"-0\"},1.5]";
	ck_assert_int_eq(build("user/u1/posts", json,
			       rule_of("user/*/posts=post"), &l), 0);
	ck_assert(!l.whole_keys);
	ck_assert_uint_eq(l.n, 8);
	ck_assert_uint_eq(l.n_skipped, 0);
	assert_entry(&l, 0, 0, "p2", "post/p2", "../../../post/p2");
	assert_entry(&l, 1, 1, "p1", "post/p1", "../../../post/p1");
	assert_entry(&l, 2, 2, "@3", "post/@3", "../../../post/@3");
	assert_entry(&l, 3, 3, "@-7n", "post/@-7n", "../../../post/@-7n");
	assert_entry(&l, 4, 4, "@true", "post/@true", "../../../post/@true");
	assert_entry(&l, 5, 5, "@false", "post/@false", "../../../post/@false");
	assert_entry(&l, 6, 6, "@-0", "post/@-0", "../../../post/@-0");
	assert_entry(&l, 7, 7, "@1.5", "post/@1.5", "../../../post/@1.5");
	kvfs_ptr_list_free(&l);
}
END_TEST

START_TEST(typed_array_ids_are_byte_parts)
{
	struct kvfs_ptr_list l;
	ck_assert_int_eq(build("tags", "[{\"$bytes\":\"AQL_\"}]",
			       rule_of("tags=blob/@0x00"), &l), 0);
	ck_assert_uint_eq(l.n, 1);
	assert_entry(&l, 0, 0, "@0x0102ff", "blob/@0x00/@0x0102ff",
		     "../blob/@0x00/@0x0102ff");
	kvfs_ptr_list_free(&l);
}
END_TEST

START_TEST(a_view_window_is_its_own_bytes)
{
	struct kvfs_ptr_list l;
	struct kv_value *buf = tree_of("[1]");
	struct kv_value *view = tree_of("[1]");
	struct kv_value *array = tree_of("[1]");
	static const uint8_t bytes[] = {9, 1, 2, 9};
	struct kv_buf key = key_of("l");
	*buf = (struct kv_value){.type = KV_ARRAY_BUFFER, .bytes = bytes,
				 .byte_len = 4};
	*view = (struct kv_value){.type = KV_VIEW, .view_kind = KV_VIEW_INT8,
				  .buffer = buf, .byte_offset = 1,
				  .view_len = 2};
	array->items[0] = view;
	ck_assert_int_eq(kvfs_ptr_list_build(key.data, key.len, array,
					     rule_of("l=b"), &l), 0);
	assert_entry(&l, 0, 0, "@0x0102", "b/@0x0102", "../b/@0x0102");
	kvfs_ptr_list_free(&l);
	kv_buf_free(&key);
}
END_TEST

START_TEST(root_rule_target_points_at_top_level_keys)
{
	struct kvfs_ptr_list l;
	ck_assert_int_eq(build("a/b", "[\"x\"]", rule_of("a/b="), &l), 0);
	assert_entry(&l, 0, 0, "x", "x", "../../x");
	kvfs_ptr_list_free(&l);
}
END_TEST

START_TEST(names_and_links_use_the_name_grammar)
{
	struct kvfs_ptr_list l;
	ck_assert_int_eq(build("l", "[\"a/b\",\"@x\",\".\",\"\"]",
			       rule_of("l=%2E%2E/%25"), &l), 0);
	assert_entry(&l, 0, 0, "a%2Fb", "%2E%2E/%25/a%2Fb",
		     "../%2E%2E/%25/a%2Fb");
	assert_entry(&l, 1, 1, "%40x", "%2E%2E/%25/%40x", "../%2E%2E/%25/%40x");
	assert_entry(&l, 2, 2, "%2E", "%2E%2E/%25/%2E", "../%2E%2E/%25/%2E");
	assert_entry(&l, 3, 3, "@\"\"", "%2E%2E/%25/@\"\"",
		     "../%2E%2E/%25/@\"\"");
	kvfs_ptr_list_free(&l);
}
END_TEST

START_TEST(lone_surrogate_id_points_at_the_replacement_character)
{
	struct kvfs_ptr_list l;
	ck_assert_int_eq(build("l", "[\"a\\ud800\",\"a\\ufffd\"]",
			       rule_of("l=p"), &l), 0);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_str_eq(l.entries[0].name, "a\xef\xbf\xbd");
	ck_assert_uint_eq(l.n_skipped, 1);
	ck_assert_int_eq(l.skipped[0].reason, KVFS_PTR_DUPLICATE);
	kvfs_ptr_list_free(&l);
}
END_TEST

START_TEST(elements_that_are_not_key_parts_are_skipped_and_reported)
{
	struct kvfs_ptr_list l;
	struct kv_buf report = {0};
	ck_assert_int_eq(build("l", "[\"a\",null,{\"x\":1},[\"b\"],"
				    "{\"$undefined\":true},\"c\"]",
			       rule_of("l=p"), &l), 0);
	ck_assert_uint_eq(l.n, 2);
	assert_entry(&l, 0, 0, "a", "p/a", "../p/a");
	assert_entry(&l, 1, 5, "c", "p/c", "../p/c");
	ck_assert_uint_eq(l.n_skipped, 4);
	for (size_t i = 0; i < 4; i++) {
		ck_assert_uint_eq(l.skipped[i].index, i + 1);
		ck_assert_int_eq(l.skipped[i].reason, KVFS_PTR_NOT_KEY_PART);
	}
	ck_assert_int_eq(kvfs_ptr_list_report(&l, &report), 0);
	ck_assert_str_eq((const char *)report.data,
			 "[1] not a key part: null\n"
			 "[2] not a key part: {\"x\":1}\n"
			 "[3] not a key part: [\"b\"]\n"
			 "[4] not a key part: {\"$undefined\":true}\n");
	kv_buf_free(&report);
	kvfs_ptr_list_free(&l);
}
END_TEST

START_TEST(duplicates_are_shown_once_and_reported)
{
	struct kvfs_ptr_list l;
	struct kv_buf report = {0};
	ck_assert_int_eq(build("l", "[\"b\",\"a\",\"b\",\"a\",\"b\"]",
			       rule_of("l=p"), &l), 0);
	ck_assert_uint_eq(l.n, 2);
	assert_entry(&l, 0, 0, "b", "p/b", "../p/b");
	assert_entry(&l, 1, 1, "a", "p/a", "../p/a");
	ck_assert_int_eq(kvfs_ptr_list_report(&l, &report), 0);
	ck_assert_str_eq((const char *)report.data,
			 "[2] duplicate of [0]: \"b\"\n"
			 "[3] duplicate of [1]: \"a\"\n"
			 "[4] duplicate of [0]: \"b\"\n");
	kv_buf_free(&report);
	kvfs_ptr_list_free(&l);
}
END_TEST

START_TEST(a_smi_and_a_double_of_one_number_are_one_id)
{
	struct kvfs_ptr_list l;
	struct kv_value *array = tree_of("[1,2]");
	struct kv_buf key = key_of("l");
	array->items[1] = tree_of("2.5");
	array->items[1]->num = 1;
	ck_assert_int_eq(kvfs_ptr_list_build(key.data, key.len, array,
					     rule_of("l=p"), &l), 0);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.n_skipped, 1);
	ck_assert_uint_eq(l.skipped[0].first, 0);
	kvfs_ptr_list_free(&l);
	kv_buf_free(&key);
}
END_TEST

START_TEST(report_cuts_long_elements)
{
	struct kvfs_ptr_list l;
	char json[300];
	snprintf(json, sizeof(json), "[{\"k\":\"%0200d\"}]", 0);
	ck_assert_int_eq(build("l", json, rule_of("l=p"), &l), 0);
	ck_assert_uint_eq(strlen(l.skipped[0].json), 64 + 3);
	ck_assert(strncmp(l.skipped[0].json, "{\"k\":\"000", 9) == 0);
	ck_assert_str_eq(l.skipped[0].json + 64, "...");
	kvfs_ptr_list_free(&l);
}
END_TEST

START_TEST(report_is_empty_when_nothing_is_skipped)
{
	struct kvfs_ptr_list l;
	struct kv_buf report = {0};
	ck_assert_int_eq(build("l", "[\"a\"]", rule_of("l=p"), &l), 0);
	ck_assert_int_eq(kvfs_ptr_list_report(&l, &report), 0);
	ck_assert_uint_eq(report.len, 0);
	ck_assert_str_eq((const char *)report.data, "");
	kv_buf_free(&report);
	kvfs_ptr_list_free(&l);
}
END_TEST

START_TEST(an_empty_array_under_a_rule_is_an_empty_list)
{
	struct kvfs_ptr_list l;
	ck_assert_int_eq(build("l", "[]", rule_of("l=p"), &l), 0);
	ck_assert_uint_eq(l.n, 0);
	ck_assert_uint_eq(l.n_skipped, 0);
	ck_assert_ptr_null(kvfs_ptr_list_find(&l, "a", 1));
	kvfs_ptr_list_free(&l);
}
END_TEST

START_TEST(a_rule_list_must_be_an_array)
{
	static const char *values[] = {
		"\"a\"", "{\"0\":\"a\"}", "null", "{\"$set\":[\"a\"]}",
		"{\"$sparse\":{\"length\":65537,\"items\":{\"0\":\"a\"}}}",
	};
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		struct kvfs_ptr_list l;
		ck_assert_int_eq(build("l", values[i], rule_of("l=p"), &l),
				 -ENOTDIR);
	}
}
END_TEST

START_TEST(a_sparse_array_is_a_list_whose_holes_are_reported)
{
	/* [1, , 3] exactly as the real Deno wrote it: V8's sparse form. */
	static const uint8_t deno[] = {0xff, 0x10, 0x61, 0x03, 0x49, 0x00,
				       0x49, 0x02, 0x49, 0x04, 0x49, 0x06,
				       0x40, 0x02, 0x03};
	struct kv_buf key = key_of("l"), report = {0};
	struct kvfs_ptr_list l;
	ck_assert_int_eq(kvfs_ptr_list_from_value(key.data, key.len,
						  KV_ENC_V8, deno,
						  sizeof(deno), rule_of("l=p"),
						  &l), 0);
	ck_assert_uint_eq(l.n, 2);
	assert_entry(&l, 0, 0, "@1", "p/@1", "../p/@1");
	assert_entry(&l, 1, 2, "@3", "p/@3", "../p/@3");
	ck_assert_int_eq(kvfs_ptr_list_report(&l, &report), 0);
	ck_assert_str_eq((const char *)report.data,
			 "[1] not a key part: {\"$hole\":true}\n");
	kvfs_ptr_list_free(&l);
	ck_assert_int_eq(kvfs_ptr_list_from_value(key.data, key.len,
						  KV_ENC_V8, deno,
						  sizeof(deno), NULL, &l),
			 -ENOTDIR);
	kv_buf_free(&report);
	kv_buf_free(&key);
}
END_TEST

START_TEST(a_sparse_array_without_holes_of_whole_keys_needs_no_rule)
{
	struct kvfs_ptr_list l;
	ck_assert_int_eq(build("l", "{\"$sparse\":{\"length\":2,\"items\":"
				    "{\"1\":[\"b\"],\"0\":[\"a\"]}}}",
			       NULL, &l), 0);
	assert_entry(&l, 0, 0, "a", "a", "../a");
	assert_entry(&l, 1, 1, "b", "b", "../b");
	kvfs_ptr_list_free(&l);
}
END_TEST

START_TEST(whole_keys_make_a_list_without_a_rule)
{
	struct kvfs_ptr_list l;
	ck_assert_int_eq(build("user/u1/feed",
			       "[[\"post\",\"p1\"],[\"comment\",5,true],"
			       "[\"@x\"],[\"post\",\"p1\"]]",
			       NULL, &l), 0);
	ck_assert(l.whole_keys);
	ck_assert_uint_eq(l.n, 3);
	assert_entry(&l, 0, 0, "post%2Fp1", "post/p1", "../../../post/p1");
	assert_entry(&l, 1, 1, "comment%2F@5%2F@true", "comment/@5/@true",
		     "../../../comment/@5/@true");
	assert_entry(&l, 2, 2, "%2540x", "%40x", "../../../%40x");
	ck_assert_uint_eq(l.n_skipped, 1);
	ck_assert_int_eq(l.skipped[0].reason, KVFS_PTR_DUPLICATE);
	kvfs_ptr_list_free(&l);
}
END_TEST

START_TEST(without_a_rule_every_element_must_be_a_whole_key)
{
	static const char *values[] = {
		"[]", "[[]]", "[[\"a\"],\"b\"]", "[[\"a\",null]]",
		"[\"a\"]", "[[[\"a\"]]]", "\"a\"", "{\"a\":[\"b\"]}",
		"{\"$array\":{\"items\":[[\"a\"]],\"props\":{\"x\":1}}}",
		"[{\"$array\":{\"items\":[\"a\"],\"props\":{\"x\":1}}}]",
		"{\"$sparse\":{\"length\":2,\"items\":{\"0\":[\"a\"]}}}",
	};
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		struct kvfs_ptr_list l;
		ck_assert_msg(build("l", values[i], NULL, &l) == -ENOTDIR,
			      "a list: %s", values[i]);
	}
}
END_TEST

START_TEST(stored_values_other_than_v8_are_not_lists)
{
	struct kvfs_ptr_list l;
	struct kv_buf key = key_of("l"), v8 = v8_of("[\"a\"]");
	static const uint8_t junk[] = {0xff, 0x0f, 0x99};
	const struct kvfs_ptr_rule *rule = rule_of("l=p");
	ck_assert_int_eq(kvfs_ptr_list_from_value(key.data, key.len,
						  KV_ENC_BYTES, v8.data,
						  v8.len, rule, &l), -ENOTDIR);
	ck_assert_int_eq(kvfs_ptr_list_from_value(key.data, key.len,
						  KV_ENC_V8, junk,
						  sizeof(junk), rule, &l),
			 -ENOTDIR);
	ck_assert_int_eq(kvfs_ptr_list_from_value(key.data, key.len,
						  KV_ENC_V8, v8.data, v8.len,
						  rule, &l), 0);
	assert_entry(&l, 0, 0, "a", "p/a", "../p/a");
	kvfs_ptr_list_free(&l);
	kv_buf_free(&key);
	kv_buf_free(&v8);
}
END_TEST

START_TEST(values_deno_writes_are_lists_without_a_rule)
{
	/* [["post","p1"]] exactly as the real Deno wrote it (format 16). */
	static const uint8_t deno[] = {0xff, 0x10, 0x41, 0x01, 0x41, 0x02,
				       0x22, 0x04, 'p',	 'o',  's',  't',
				       0x22, 0x02, 'p',	 '1',  0x24, 0x00,
				       0x02, 0x24, 0x00, 0x01};
	struct kv_buf key = key_of("l");
	struct kvfs_ptr_list l;
	ck_assert_int_eq(kvfs_ptr_list_from_value(key.data, key.len,
						  KV_ENC_V8, deno,
						  sizeof(deno), NULL, &l), 0);
	assert_entry(&l, 0, 0, "post%2Fp1", "post/p1", "../post/p1");
	kvfs_ptr_list_free(&l);
	kv_buf_free(&key);
}
END_TEST

START_TEST(empty_array_is_told_from_other_values)
{
	static const struct {
		const char *json;
		int want;
	} cases[] = {
		{"[]", 0},
		{"[null]", -ENOTEMPTY},
		{"{\"$array\":{\"items\":[],\"props\":{\"x\":1}}}", -ENOTEMPTY},
		{"{}", -ENOTDIR},
		{"\"[]\"", -ENOTDIR},
		{"{\"$sparse\":{\"length\":2,\"items\":{}}}", -ENOTEMPTY},
		{"{\"$sparse\":{\"length\":0,\"items\":{}}}", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kv_buf v8 = v8_of(cases[i].json);
		ck_assert_msg(kvfs_ptr_empty_array(KV_ENC_V8, v8.data,
						   v8.len) == cases[i].want,
			      "%s", cases[i].json);
		ck_assert_int_eq(kvfs_ptr_empty_array(KV_ENC_BYTES, v8.data,
						      v8.len), -ENOTDIR);
		kv_buf_free(&v8);
	}
	ck_assert_int_eq(kvfs_ptr_empty_array(KV_ENC_V8,
					      (const uint8_t *)"\xff", 1),
			 -ENOTDIR);
}
END_TEST

START_TEST(ten_thousand_ids_keep_list_order_and_are_found_by_name)
{
	enum { N = 10000 };
	static int ids[N];
	struct kv_buf json = {0}, key = key_of("user/u1/posts");
	struct kvfs_ptr_list l;
	for (int i = 0; i < N; i++)
		ids[i] = i;
	rng_seed(42);
	for (int i = N - 1; i > 0; i--) {
		int j = (int)(rng() % (uint64_t)(i + 1)), t = ids[i];
		ids[i] = ids[j];
		ids[j] = t;
	}
	ck_assert_int_eq(kv_buf_push(&json, '['), 0);
	for (int i = 0; i < N; i++) {
		char item[16];
		snprintf(item, sizeof(item), i ? ",%d" : "%d", ids[i]);
		ck_assert_int_eq(kv_buf_append(&json, item, strlen(item)), 0);
	}
	ck_assert_int_eq(kv_buf_append(&json, "]", 2), 0);
	ck_assert_int_eq(build("user/u1/posts", (const char *)json.data,
			       rule_of("user/*/posts=post"), &l), 0);
	ck_assert_uint_eq(l.n, N);
	for (int i = 0; i < N; i++) {
		char name[16];
		snprintf(name, sizeof(name), "@%d", ids[i]);
		ck_assert_str_eq(l.entries[i].name, name);
		ck_assert(kvfs_ptr_list_find(&l, name, strlen(name)) ==
			  &l.entries[i]);
	}
	ck_assert_ptr_null(kvfs_ptr_list_find(&l, "@10000", 6));
	ck_assert_ptr_null(kvfs_ptr_list_find(&l, "@1", 1));
	kvfs_ptr_list_free(&l);
	kv_buf_free(&json);
	kv_buf_free(&key);
}
END_TEST

START_TEST(long_ids_have_short_names_that_are_found)
{
	struct kvfs_ptr_list l;
	char json[700];
	snprintf(json, sizeof(json), "[\"%0300d\",\"%0301d\"]", 1, 1);
	ck_assert_int_eq(build("l", json, rule_of("l=p"), &l), 0);
	ck_assert_uint_eq(l.n, 2);
	for (size_t i = 0; i < 2; i++) {
		const char *name = l.entries[i].name;
		ck_assert(kvfs_name_is_short(name, strlen(name)));
		ck_assert(kvfs_ptr_list_find(&l, name, strlen(name)) ==
			  &l.entries[i]);
		ck_assert(strncmp(l.entries[i].link, "../p/@~", 7) == 0);
	}
	ck_assert_str_ne(l.entries[0].name, l.entries[1].name);
	kvfs_ptr_list_free(&l);
}
END_TEST

START_TEST(a_malformed_list_key_is_refused)
{
	struct kvfs_ptr_list l;
	static const uint8_t bad[] = {0x99};
	ck_assert_int_eq(kvfs_ptr_list_build(bad, 1, tree_of("[\"a\"]"),
					     rule_of("l=p"), &l), -EINVAL);
}
END_TEST

/* ----------------------------------------------------------------- ln -s */

START_TEST(relative_target_resolves_from_the_list_directory)
{
	static const char *targets[] = {
		"../../../post/p1", "../../.././post/p1", "..//../..//post/p1/",
		"../../u1/../../post/p1", "../posts/../../../post/p1",
	};
	const struct kvfs_ptr_rule *rule = rule_of("user/*/posts=post");
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		struct kv_buf key = {0};
		ck_assert_msg(link_target(rule, "p1", targets[i], NULL,
					  &key) == 0, "refused %s", targets[i]);
		ck_assert(key_is(key.data, key.len, "post/p1"));
		kv_buf_free(&key);
	}
}
END_TEST

START_TEST(absolute_target_must_lie_inside_the_mount)
{
	const struct kvfs_ptr_rule *rule = rule_of("user/*/posts=post");
	struct kv_buf key = {0};
	ck_assert_int_eq(link_target(rule, "p1", "/mnt/kv/post/p1", "/mnt/kv",
				     &key), 0);
	ck_assert(key_is(key.data, key.len, "post/p1"));
	key.len = 0;
	ck_assert_int_eq(link_target(rule, "p1", "/mnt/kv//post/./p1",
				     "/mnt/kv/", &key), 0);
	ck_assert(key_is(key.data, key.len, "post/p1"));
	ck_assert_int_eq(link_target(rule, "p1", "/mnt/kvx/post/p1", "/mnt/kv",
				     &key), -EINVAL);
	ck_assert_int_eq(link_target(rule, "p1", "/mnt/kv/post/p1", NULL,
				     &key), -EINVAL);
	ck_assert_int_eq(link_target(rule, "p1", "/mnt/kv/../kv/post/p1",
				     "/mnt/kv", &key), -EINVAL);
	kv_buf_free(&key);
}
END_TEST

START_TEST(target_other_than_the_rule_prefix_plus_name_is_refused)
{
	static const char *targets[] = {
		"../../../post/p2", "../../../other/p1", "../../../post/p1/x",
		"../../../post", "../../../../post/p1", "../../../post/@bad",
		"", "../../../post/@value", "p1", "../../../%70ost/p1",
	};
	const struct kvfs_ptr_rule *rule = rule_of("user/*/posts=post");
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		struct kv_buf key = {0};
		ck_assert_msg(link_target(rule, "p1", targets[i], "/m",
					  &key) == -EINVAL,
			      "accepted %s", targets[i]);
		ck_assert_uint_eq(key.len, 0);
	}
}
END_TEST

START_TEST(target_of_a_typed_id_matches_its_name)
{
	const struct kvfs_ptr_rule *rule = rule_of("user/*/posts=post");
	struct kv_buf key = {0};
	ck_assert_int_eq(link_target(rule, "@42", "../../../post/@42", NULL,
				     &key), 0);
	ck_assert(key_is(key.data, key.len, "post/@42"));
	ck_assert_int_eq(link_target(rule, "@42", "../../../post/42", NULL,
				     &key), -EINVAL);
	ck_assert_int_eq(link_target(rule, "42", "../../../post/@42", NULL,
				     &key), -EINVAL);
	kv_buf_free(&key);
}
END_TEST

START_TEST(target_of_a_long_id_matches_its_short_name)
{
	const struct kvfs_ptr_rule *rule = rule_of("user/*/posts=post");
	char id[301], target[400];
	struct kv_buf name = {0}, key = {0};
	struct kv_part part = {.type = KV_PART_STRING,
			       .data = (const uint8_t *)id,
			       .len = 300};
	memset(id, 'x', 300);
	id[300] = 0;
	snprintf(target, sizeof(target), "../../../post/%s", id);
	ck_assert_int_eq(kvfs_name_display(&part, &name), 0);
	ck_assert_int_eq(link_target(rule, (const char *)name.data, target,
				     NULL, &key), 0);
	ck_assert_int_eq(link_target(rule, id, target, NULL, &key), -EINVAL);
	kv_buf_free(&name);
	kv_buf_free(&key);
}
END_TEST

START_TEST(target_in_a_list_without_rule_is_the_whole_key)
{
	struct kv_buf key = {0};
	ck_assert_int_eq(link_target(NULL, "post%2F@1", "../../../post/@1",
				     NULL, &key), 0);
	ck_assert(key_is(key.data, key.len, "post/@1"));
	ck_assert_int_eq(link_target(NULL, "@1", "../../../post/@1", NULL,
				     &key), -EINVAL);
	ck_assert_int_eq(link_target(NULL, "post", "../../../post/@1", NULL,
				     &key), -EINVAL);
	ck_assert_int_eq(link_target(NULL, "x", "../../..", NULL, &key),
			 -EINVAL);
	kv_buf_free(&key);
}
END_TEST

/* ------------------------------------------------------------------ edits */

START_TEST(append_adds_the_id_last_and_keeps_every_other_element)
{
	const char *json = "[\"a\",{\"x\":[1,{\"$date\":\"1970-01-01T00:00:00.000Z\"}]},"
			   "3,null,{\"$bigint\":\"9\"}]";
	struct kv_buf value = v8_of(json), out = {0};
	struct kv_value *before = decode(&value), *after;
	ck_assert_int_eq(append(&value, rule_of("l=post"), "post/b", &out), 0);
	after = decode(&out);
	ck_assert_int_eq(after->type, KV_ARRAY);
	ck_assert_uint_eq(after->n_items, 6);
	ck_assert_uint_eq(after->length, 6);
	for (size_t i = 0; i < 5; i++)
		ck_assert(kv_value_equal(before->items[i], after->items[i]));
	ck_assert_int_eq(after->items[5]->type, KV_STRING);
	ck_assert_str_eq(after->items[5]->str, "b");
	kv_buf_free(&value);
	kv_buf_free(&out);
}
END_TEST

START_TEST(append_keeps_the_arrays_other_properties)
{
	struct kv_buf value = v8_of("{\"$array\":{\"items\":[\"a\"],"
				    "\"props\":{\"n\":{\"deep\":true}}}}");
	struct kv_buf out = {0};
	ck_assert_int_eq(append(&value, rule_of("l=p"), "p/b", &out), 0);
	assert_json(&out, "{\"$array\":{\"items\":[\"a\",\"b\"],"
			  "\"props\":{\"n\":{\"deep\":true}}}}");
	kv_buf_free(&value);
	kv_buf_free(&out);
}
END_TEST

START_TEST(appended_ids_of_every_type_read_back_as_the_same_id)
{
	static const char *ids[] = {
		"s", "@\"\"", "@0", "@-0", "@1.5", "@-2147483648", "@2147483648",
		"@NaN", "@-Infinity", "@0n", "@-300n", "@true", "@false", "@0x",
		"@0x00ff", "@1e+21", "€", "%40x",
	};
	const struct kvfs_ptr_rule *rule = rule_of("l=p");
	struct kv_buf value = v8_of("[]");
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		char path[64];
		struct kv_buf out = {0}, key = key_of("l");
		struct kvfs_ptr_list l;
		int r;
		snprintf(path, sizeof(path), "p/%s", ids[i]);
		r = append(&value, rule, path, &out);
		ck_assert_msg(r == 0, "append %s: %d", ids[i], r);
		ck_assert_int_eq(kvfs_ptr_list_from_value(key.data, key.len,
							  KV_ENC_V8, out.data,
							  out.len, rule, &l), 0);
		ck_assert_uint_eq(l.n_skipped, 0);
		ck_assert_str_eq(l.entries[l.n - 1].name, ids[i]);
		kvfs_ptr_list_free(&l);
		kv_buf_free(&value);
		kv_buf_free(&key);
		value = out;
	}
	kv_buf_free(&value);
}
END_TEST

START_TEST(appended_numbers_are_written_as_v8_writes_them)
{
	const struct kvfs_ptr_rule *rule = rule_of("l=p");
	struct kv_buf out = {0};
	struct kv_value *v;
	ck_assert_int_eq(append(NULL, rule, "p/@7", &out), 0);
	v = decode(&out);
	ck_assert_int_eq(v->items[0]->type, KV_INT32);
	ck_assert_int_eq(v->items[0]->i32, 7);
	out.len = 0;
	ck_assert_int_eq(append(NULL, rule, "p/@-0", &out), 0);
	v = decode(&out);
	ck_assert_int_eq(v->items[0]->type, KV_DOUBLE);
	ck_assert(signbit(v->items[0]->num));
	out.len = 0;
	ck_assert_int_eq(append(NULL, rule, "p/@0x0102", &out), 0);
	v = decode(&out);
	ck_assert_int_eq(v->items[0]->type, KV_VIEW);
	ck_assert_int_eq(v->items[0]->view_kind, KV_VIEW_UINT8);
	ck_assert_uint_eq(v->items[0]->view_len, 2);
	kv_buf_free(&out);
}
END_TEST

START_TEST(append_to_a_key_without_value_makes_the_array)
{
	struct kv_buf out = {0};
	ck_assert_int_eq(append(NULL, rule_of("l=p"), "p/x", &out), 0);
	assert_json(&out, "[\"x\"]");
	out.len = 0;
	ck_assert_int_eq(append(NULL, NULL, "p/x/@1", &out), 0);
	assert_json(&out, "[[\"p\",\"x\",1]]");
	kv_buf_free(&out);
}
END_TEST

START_TEST(append_of_an_id_already_listed_is_eexist)
{
	struct kv_buf value = v8_of("[null,\"x\"]"), out = {0};
	ck_assert_int_eq(append(&value, rule_of("l=p"), "p/x", &out), -EEXIST);
	ck_assert_uint_eq(out.len, 0);
	kv_buf_free(&value);
	value = v8_of("[[\"p\",\"x\"]]");
	ck_assert_int_eq(append(&value, NULL, "p/x", &out), -EEXIST);
	kv_buf_free(&value);
}
END_TEST

START_TEST(append_of_a_whole_key_adds_an_array_of_its_parts)
{
	struct kv_buf value = v8_of("[[\"a\"]]"), out = {0};
	ck_assert_int_eq(append(&value, NULL, "post/p1/@7n/@0x01", &out), 0);
	assert_json(&out, "[[\"a\"],[\"post\",\"p1\",{\"$bigint\":\"7\"},"
			  "{\"$bytes\":\"AQ\"}]]");
	kv_buf_free(&value);
	kv_buf_free(&out);
}
END_TEST

START_TEST(append_refuses_strings_deno_would_change)
{
	const struct kvfs_ptr_rule *rule = rule_of("l=p");
	struct kv_buf out = {0};
	ck_assert_int_eq(append(NULL, rule, "p/a%ED%A0%80", &out), -EINVAL);
	ck_assert_int_eq(append(NULL, rule, "p/a%FF", &out), -EINVAL);
	ck_assert_int_eq(append(NULL, NULL, "p/a%FF", &out), -EINVAL);
	ck_assert_uint_eq(out.len, 0);
	kv_buf_free(&out);
}
END_TEST

START_TEST(append_refuses_ids_outside_the_rule_and_values_that_are_not_arrays)
{
	const struct kvfs_ptr_rule *rule = rule_of("l=p");
	struct kv_buf value = v8_of("{\"a\":1}"), arr = v8_of("[]"), out = {0};
	ck_assert_int_eq(append(&value, rule, "p/x", &out), -ENOTDIR);
	ck_assert_int_eq(append(&arr, rule, "q/x", &out), -EINVAL);
	ck_assert_int_eq(append(&arr, rule, "p/x/y", &out), -EINVAL);
	ck_assert_int_eq(append(&arr, rule, "p", &out), -EINVAL);
	ck_assert_uint_eq(out.len, 0);
	kv_buf_free(&value);
	kv_buf_free(&arr);
}
END_TEST

START_TEST(edits_write_a_sparse_array_in_the_dense_form)
{
	const struct kvfs_ptr_rule *rule = rule_of("l=p");
	struct kv_buf holey = v8_of("{\"$sparse\":{\"length\":3,\"items\":"
				    "{\"0\":\"a\",\"2\":\"b\"},"
				    "\"props\":{\"n\":1}}}");
	struct kv_buf whole = v8_of("{\"$sparse\":{\"length\":2,\"items\":"
				    "{\"0\":\"a\",\"1\":\"b\"}}}");
	struct kv_buf out = {0};
	ck_assert_int_eq(append(&holey, rule, "p/c", &out), 0);
	assert_json(&out, "{\"$array\":{\"items\":[\"a\",{\"$hole\":true},"
			  "\"b\",\"c\"],\"props\":{\"n\":1}}}");
	out.len = 0;
	ck_assert_int_eq(remove_id(&holey, rule, "p/a", &out), 0);
	assert_json(&out, "{\"$array\":{\"items\":[{\"$hole\":true},\"b\"],"
			  "\"props\":{\"n\":1}}}");
	out.len = 0;
	ck_assert_int_eq(append(&whole, rule, "p/c", &out), 0);
	assert_json(&out, "[\"a\",\"b\",\"c\"]");
	kv_buf_free(&holey);
	kv_buf_free(&whole);
	kv_buf_free(&out);
}
END_TEST

START_TEST(remove_drops_every_occurrence_and_keeps_the_rest)
{
	struct kv_buf value = v8_of("[\"a\",\"b\",\"a\",{\"o\":1},\"a\",\"c\"]");
	struct kv_buf out = {0};
	ck_assert_int_eq(remove_id(&value, rule_of("l=p"), "p/a", &out), 0);
	assert_json(&out, "[\"b\",{\"o\":1},\"c\"]");
	kv_buf_free(&value);
	kv_buf_free(&out);
}
END_TEST

START_TEST(remove_of_the_last_id_leaves_an_empty_array)
{
	struct kv_buf value = v8_of("[{\"$bytes\":\"AQ\"}]"), out = {0};
	ck_assert_int_eq(remove_id(&value, rule_of("l=p"), "p/@0x01", &out), 0);
	assert_json(&out, "[]");
	kv_buf_free(&value);
	kv_buf_free(&out);
}
END_TEST

START_TEST(remove_of_an_id_not_listed_is_enoent)
{
	struct kv_buf value = v8_of("[\"a\",[\"p\",\"b\"]]"), out = {0};
	ck_assert_int_eq(remove_id(&value, rule_of("l=p"), "p/b", &out),
			 -ENOENT);
	ck_assert_int_eq(remove_id(&value, rule_of("l=p"), "q/a", &out),
			 -EINVAL);
	ck_assert_uint_eq(out.len, 0);
	kv_buf_free(&value);
}
END_TEST

START_TEST(remove_of_a_whole_key)
{
	struct kv_buf value = v8_of("[[\"p\",1],[\"p\",2],[\"p\",1]]");
	struct kv_buf out = {0};
	ck_assert_int_eq(remove_id(&value, NULL, "p/@1", &out), 0);
	assert_json(&out, "[[\"p\",2]]");
	kv_buf_free(&value);
	kv_buf_free(&out);
}
END_TEST

/* [{}, <the same object>]: the second element is a back-reference. */
static struct kv_buf value_with_back_reference(void)
{
	struct kv_value *array = tree_of("[{},1]");
	struct kv_value *ref = tree_of("1");
	struct kv_buf out = {0};
	*ref = (struct kv_value){.type = KV_REF, .ref_id = 1};
	array->items[1] = ref;
	ck_assert_int_eq(kv_v8_encode(array, &out), 0);
	return out;
}

START_TEST(edits_that_would_renumber_back_references_are_refused)
{
	const struct kvfs_ptr_rule *rule = rule_of("l=p");
	struct kv_buf value = value_with_back_reference(), out = {0};
	struct kv_value *v;
	ck_assert_int_eq(append(&value, rule, "p/@0x01", &out), -EINVAL);
	ck_assert_int_eq(append(&value, NULL, "p/x", &out), -EINVAL);
	ck_assert_uint_eq(out.len, 0);
	ck_assert_int_eq(append(&value, rule, "p/x", &out), 0);
	v = decode(&out);
	ck_assert_uint_eq(v->n_items, 3);
	ck_assert_int_eq(v->items[1]->type, KV_REF);
	ck_assert_uint_eq(v->items[1]->ref_id, 1);
	ck_assert_str_eq(v->items[2]->str, "x");
	kv_buf_free(&value);
	kv_buf_free(&out);
}
END_TEST

/* ------------------------------------------------------------------ suite */

static Suite *pointers_suite(void)
{
	Suite *s = suite_create("pointers");

	TCase *rl = tcase_create("rules");
	tcase_add_checked_fixture(rl, setup, teardown);
	tcase_add_test(rl, rule_reads_pattern_and_target);
	tcase_add_test(rl, rules_split_on_semicolons_and_newlines);
	tcase_add_test(rl, rules_parse_appends_to_existing_rules);
	tcase_add_test(rl, rules_refuse_malformed_text_and_change_nothing);
	tcase_add_test(rl, rules_format_reads_back_as_written);
	tcase_add_test(rl, rule_escapes_stand_for_separators_and_star);
	tcase_add_test(rl, raw_separators_in_a_target_after_the_first_equals_are_kept);
	tcase_add_test(rl, rules_format_lists_one_rule_per_line);
	tcase_add_test(rl, star_matches_exactly_one_part_of_any_type);
	tcase_add_test(rl, literal_component_does_not_match_a_prefix_of_a_part);
	tcase_add_test(rl, first_matching_rule_wins);
	tcase_add_test(rl, put_replaces_the_target_of_an_equal_pattern);
	tcase_add_test(rl, put_keeps_a_wildcard_apart_from_a_literal_star);
	tcase_add_test(rl, remove_deletes_the_rule_of_a_pattern);
	suite_add_tcase(s, rl);

	TCase *view = tcase_create("view");
	tcase_add_checked_fixture(view, setup, teardown);
	tcase_set_timeout(view, 60);
	tcase_add_test(view, rule_list_shows_ids_in_list_order);
	tcase_add_test(view, typed_array_ids_are_byte_parts);
	tcase_add_test(view, a_view_window_is_its_own_bytes);
	tcase_add_test(view, root_rule_target_points_at_top_level_keys);
	tcase_add_test(view, names_and_links_use_the_name_grammar);
	tcase_add_test(view, lone_surrogate_id_points_at_the_replacement_character);
	tcase_add_test(view, elements_that_are_not_key_parts_are_skipped_and_reported);
	tcase_add_test(view, duplicates_are_shown_once_and_reported);
	tcase_add_test(view, a_smi_and_a_double_of_one_number_are_one_id);
	tcase_add_test(view, report_cuts_long_elements);
	tcase_add_test(view, report_is_empty_when_nothing_is_skipped);
	tcase_add_test(view, an_empty_array_under_a_rule_is_an_empty_list);
	tcase_add_test(view, a_rule_list_must_be_an_array);
	tcase_add_test(view, a_sparse_array_is_a_list_whose_holes_are_reported);
	tcase_add_test(view, a_sparse_array_without_holes_of_whole_keys_needs_no_rule);
	tcase_add_test(view, whole_keys_make_a_list_without_a_rule);
	tcase_add_test(view, without_a_rule_every_element_must_be_a_whole_key);
	tcase_add_test(view, stored_values_other_than_v8_are_not_lists);
	tcase_add_test(view, values_deno_writes_are_lists_without_a_rule);
	tcase_add_test(view, empty_array_is_told_from_other_values);
	tcase_add_test(view, ten_thousand_ids_keep_list_order_and_are_found_by_name);
	tcase_add_test(view, long_ids_have_short_names_that_are_found);
	tcase_add_test(view, a_malformed_list_key_is_refused);
	suite_add_tcase(s, view);

	TCase *ln = tcase_create("link_targets");
	tcase_add_checked_fixture(ln, setup, teardown);
	tcase_add_test(ln, relative_target_resolves_from_the_list_directory);
	tcase_add_test(ln, absolute_target_must_lie_inside_the_mount);
	tcase_add_test(ln, target_other_than_the_rule_prefix_plus_name_is_refused);
	tcase_add_test(ln, target_of_a_typed_id_matches_its_name);
	tcase_add_test(ln, target_of_a_long_id_matches_its_short_name);
	tcase_add_test(ln, target_in_a_list_without_rule_is_the_whole_key);
	suite_add_tcase(s, ln);

	TCase *ed = tcase_create("edits");
	tcase_add_checked_fixture(ed, setup, teardown);
	tcase_add_test(ed, append_adds_the_id_last_and_keeps_every_other_element);
	tcase_add_test(ed, append_keeps_the_arrays_other_properties);
	tcase_add_test(ed, appended_ids_of_every_type_read_back_as_the_same_id);
	tcase_add_test(ed, appended_numbers_are_written_as_v8_writes_them);
	tcase_add_test(ed, append_to_a_key_without_value_makes_the_array);
	tcase_add_test(ed, append_of_an_id_already_listed_is_eexist);
	tcase_add_test(ed, append_of_a_whole_key_adds_an_array_of_its_parts);
	tcase_add_test(ed, append_refuses_strings_deno_would_change);
	tcase_add_test(ed, append_refuses_ids_outside_the_rule_and_values_that_are_not_arrays);
	tcase_add_test(ed, edits_write_a_sparse_array_in_the_dense_form);
	tcase_add_test(ed, remove_drops_every_occurrence_and_keeps_the_rest);
	tcase_add_test(ed, remove_of_the_last_id_leaves_an_empty_array);
	tcase_add_test(ed, remove_of_an_id_not_listed_is_enoent);
	tcase_add_test(ed, remove_of_a_whole_key);
	tcase_add_test(ed, edits_that_would_renumber_back_references_are_refused);
	suite_add_tcase(s, ed);
	return s;
}

int main(void)
{
	return run_suite(pointers_suite());
}
