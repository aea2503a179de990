/*
 * pointers.h — pointer lists (kvfs-spec §6, docs/pointers.md): the rules
 * that say which keys hold lists of IDs and where the IDs point, the
 * directory of symlinks a list is shown as, and the edits that ln -s and rm
 * make to the list's array.
 *
 * Everything here is pure: values come in as V8 bytes or decoded trees, and
 * new values go out as V8 bytes. Reading and committing is the caller's job.
 */
#ifndef KVFS_POINTERS_H
#define KVFS_POINTERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv_key.h"
#include "kv_value.h"

/* The kvfs_meta name under which a database keeps its rules. */
#define KVFS_PTR_META "pointers"

/* The xattr of a list directory that reports elements not shown as links. */
#define KVFS_PTR_SKIPPED_XATTR "user.kv.pointers.skipped"

/*
 * The longest sparse array (V8's form of a holey array, which Deno also
 * writes for many arrays without holes) taken as a list: a 64 KiB value
 * holds fewer elements than this.
 */
#define KVFS_PTR_MAX_LENGTH 65536

/* ---- rules --------------------------------------------------------------- */

/* One component of a pattern: a key part, or '*' (any one key part). */
struct kvfs_ptr_component {
	bool any;
	size_t off; /* the encoded part in the rule's pattern buffer */
	size_t len;
};

/*
 * A rule "pattern=target": a key that matches pattern, part for part, holds
 * a pointer list whose IDs are key parts under the key prefix target.
 */
struct kvfs_ptr_rule {
	struct kvfs_ptr_component *components;
	size_t n_components;
	struct kv_buf pattern; /* the encoded parts of the components */
	struct kv_buf target;  /* the encoded target prefix (may be empty) */
};

/* An ordered list of rules; the first that matches a key applies. */
struct kvfs_ptr_rules {
	struct kvfs_ptr_rule *v;
	size_t n;
};

/*
 * Parse rule text and append its rules to rules. The text is rules
 * separated by ';' or newlines (empty items are ignored); a rule is
 * PATTERN=TARGET, split at its first '='. PATTERN is a path in the §1
 * grammar (fs/name.h) of at least one component, where a component that is
 * exactly '*' matches any one key part; TARGET is a path, empty for the
 * root, where a component '*' is refused as a likely mistake. In rule text
 * '%3D' stands for '=', '%3B' for ';' and '%2A' for '*' (so a component
 * '%2A' is the string "*"), so that every key can be written.
 * Returns 0, -EINVAL (rules is then unchanged) or -ENOMEM.
 */
int kvfs_ptr_rules_parse(const char *text, size_t len,
			 struct kvfs_ptr_rules *rules);

/*
 * Append one rule as text (PATTERN=TARGET, the form kvfs_ptr_rules_parse
 * reads back to the same rule) to out and NUL-terminate it (the NUL is not
 * counted in out->len). Returns 0, -EINVAL or -ENOMEM.
 */
int kvfs_ptr_rule_format(const struct kvfs_ptr_rule *rule, struct kv_buf *out);

/*
 * Append every rule, each followed by a newline, to out and NUL-terminate
 * it (not counted). Returns 0, -EINVAL or -ENOMEM.
 */
int kvfs_ptr_rules_format(const struct kvfs_ptr_rules *rules,
			  struct kv_buf *out);

/*
 * Set the rule for pattern (rule text of one pattern) to target (rule text
 * of one path): the rule with an equal pattern is given the new target in
 * place, or a new rule is appended. Returns 0, -EINVAL or -ENOMEM.
 */
int kvfs_ptr_rules_put(struct kvfs_ptr_rules *rules, const char *pattern,
		       size_t pattern_len, const char *target,
		       size_t target_len);

/*
 * Remove the rule whose pattern equals pattern (rule text). Returns 0,
 * -ENOENT when no rule has that pattern, -EINVAL or -ENOMEM.
 */
int kvfs_ptr_rules_remove(struct kvfs_ptr_rules *rules, const char *pattern,
			  size_t pattern_len);

/* The first rule whose pattern matches the encoded key, or NULL. */
const struct kvfs_ptr_rule *kvfs_ptr_rules_match(
	const struct kvfs_ptr_rules *rules, const uint8_t *key, size_t key_len);

/* Release every rule and zero rules. */
void kvfs_ptr_rules_free(struct kvfs_ptr_rules *rules);

/* ---- the view of a list -------------------------------------------------- */

/* One element shown as a symlink. */
struct kvfs_ptr_entry {
	size_t index;	       /* its position in the array */
	const char *name;      /* the link's name (§1, display form) */
	const uint8_t *target; /* the encoded key it points at */
	size_t target_len;
	const char *link;      /* the relative link text */
	size_t link_len;
};

enum kvfs_ptr_skip_reason {
	KVFS_PTR_NOT_KEY_PART, /* not an ID: an object, null, a hole... */
	KVFS_PTR_DUPLICATE,    /* the same ID as an earlier element */
};

/* One element that is not shown as a symlink. */
struct kvfs_ptr_skip {
	size_t index;
	enum kvfs_ptr_skip_reason reason;
	size_t first; /* KVFS_PTR_DUPLICATE: the index of the shown one */
	const char *json; /* the element as JSON, cut after 64 bytes */
};

/*
 * A pointer list as the mount shows it: entries in list order, and the
 * elements that are skipped, in list order. Owns all its memory.
 */
struct kvfs_ptr_list {
	struct kvfs_ptr_entry *entries;
	size_t n;
	struct kvfs_ptr_skip *skipped;
	size_t n_skipped;
	bool whole_keys; /* a list without a rule: elements are whole keys */
	const struct kvfs_ptr_entry **by_name_;
	struct kv_arena *arena_;
};

/*
 * View the value at list_key as a pointer list. With a rule (the one that
 * matched list_key), value must be an array (dense, or sparse up to
 * KVFS_PTR_MAX_LENGTH long, a missing element being a hole); each element
 * that is a key part (a string, number, bigint, boolean or typed array, as
 * Deno would make a key part of it) is an ID pointing at rule->target +
 * that part, and any other element is skipped (other properties of the
 * array are ignored). Without a rule (NULL), value must be a non-empty
 * array with no holes and no other properties, whose every element is a
 * whole key (a non-empty dense array of key parts, with no other
 * properties); each points at that key. In both, an element with the same
 * target as an earlier one is skipped as a duplicate. value is not kept.
 * Returns 0 and fills out (release with kvfs_ptr_list_free()), -ENOTDIR
 * when the value is not a pointer list, -EINVAL for a malformed list_key,
 * or -ENOMEM.
 */
int kvfs_ptr_list_build(const uint8_t *list_key, size_t key_len,
			const struct kv_value *value,
			const struct kvfs_ptr_rule *rule,
			struct kvfs_ptr_list *out);

/*
 * kvfs_ptr_list_build() of a stored value: -ENOTDIR also for a value that
 * is not V8 or does not decode.
 */
int kvfs_ptr_list_from_value(const uint8_t *list_key, size_t key_len,
			     enum kv_encoding enc, const uint8_t *data,
			     size_t len, const struct kvfs_ptr_rule *rule,
			     struct kvfs_ptr_list *out);

/*
 * Whether a stored value is an empty array and nothing else, as a list
 * must be for rmdir to delete it: 0, -ENOTEMPTY for an array that holds
 * elements or other properties, -ENOTDIR for any other value (or one that
 * does not decode), or -ENOMEM.
 */
int kvfs_ptr_empty_array(enum kv_encoding enc, const uint8_t *data,
			 size_t len);

/* The entry whose link is named name (len bytes), or NULL. O(log n). */
const struct kvfs_ptr_entry *kvfs_ptr_list_find(const struct kvfs_ptr_list *l,
						const char *name, size_t len);

/*
 * Append the report of the skipped elements to out, one line each:
 * "[3] not a key part: {...}" or "[5] duplicate of [1]: \"p1\"", and
 * NUL-terminate it (not counted). Empty when nothing is skipped.
 * Returns 0 or -ENOMEM.
 */
int kvfs_ptr_list_report(const struct kvfs_ptr_list *l, struct kv_buf *out);

/* Release a list and zero it. Safe on a zeroed list. */
void kvfs_ptr_list_free(struct kvfs_ptr_list *l);

/* ---- edits --------------------------------------------------------------- */

/*
 * Resolve the TARGET of `ln -s TARGET list/NAME` into the encoded key it
 * names, appended to key_out, and check that it is the key NAME stands for
 * in this list: rule->target + the part NAME names, or (rule NULL) the
 * whole key whose link name is NAME. A relative TARGET is resolved from the
 * list's directory (list_key); an absolute one must lie inside mountpoint
 * (an absolute path without a trailing '/'; NULL refuses absolute targets).
 * "." and empty components are ignored, ".." climbs one level (never above
 * the mount's root). Returns 0, -EINVAL for a target that names no key or
 * another key than NAME's, or -ENOMEM.
 */
int kvfs_ptr_link_target(const uint8_t *list_key, size_t key_len,
			 const struct kvfs_ptr_rule *rule, const char *name,
			 const char *target, size_t target_len,
			 const char *mountpoint, struct kv_buf *key_out);

/*
 * The list's array (V8 bytes; NULL when the key has no value yet, which is
 * an empty list) with the ID of target appended as its last element: the
 * part after rule->target, or (rule NULL) the whole key as an array of
 * parts. Every other element and property is kept as it was (a sparse array
 * is written in the dense form, its holes as holes). The new value is
 * appended to out. Returns 0, -EEXIST when the list already holds that
 * ID, -ENOTDIR when the value is not an array, -EINVAL when the target is
 * not an ID of this list or cannot be stored as one (a string that is not
 * UTF-8), or when adding a typed array would renumber the value's
 * back-references, or -ENOMEM.
 */
int kvfs_ptr_append(const uint8_t *value, size_t len,
		    const struct kvfs_ptr_rule *rule, const uint8_t *target,
		    size_t target_len, struct kv_buf *out);

/*
 * The list's array (V8 bytes) without every element whose ID is target,
 * appended to out. Every other element and property is kept as it was.
 * Returns 0, -ENOENT when no element has that ID, -ENOTDIR when the value
 * is not an array, -EINVAL as for kvfs_ptr_append(), or -ENOMEM.
 */
int kvfs_ptr_remove(const uint8_t *value, size_t len,
		    const struct kvfs_ptr_rule *rule, const uint8_t *target,
		    size_t target_len, struct kv_buf *out);

#endif
