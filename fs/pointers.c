/*
 * pointers.c — pointer lists (kvfs-spec §6, docs/pointers.md): rules and
 * their text, the view of a list's array as named links, and the edits of
 * that array that ln -s and rm make. Pure: no I/O.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "name.h"
#include "pointers.h"

/* How much of a skipped element's JSON the report shows. */
enum { SKIP_JSON_MAX = 64 };

static bool text_is(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && memcmp(s, word, len) == 0;
}

/* ---- rule text ----------------------------------------------------------- */

/*
 * The escapes rule text adds to the §1 grammar, for the characters that
 * separate rules and their halves; a component written STAR_ESCAPE is the
 * string "*" rather than the wildcard.
 */
#define STAR_ESCAPE "%2A"

static const struct {
	char c;
	const char *escape;
} rule_escapes[] = {
	{'=', "%3D"},
	{';', "%3B"},
	{'*', STAR_ESCAPE},
};

#define N_RULE_ESCAPES (sizeof(rule_escapes) / sizeof(rule_escapes[0]))

/* The character a rule-text escape at s stands for, or 0 for none. */
static char rule_unescape(const char *s, size_t avail)
{
	for (size_t e = 0; e < N_RULE_ESCAPES && avail >= 3; e++)
		if (memcmp(s, rule_escapes[e].escape, 3) == 0)
			return rule_escapes[e].c;
	return 0;
}

/*
 * Undo the rule-text escapes of one component into plain. A '%' that
 * starts another escape is copied with its two digits, so that "%253D"
 * stays the §1 name of the string "%3D".
 */
static int unescape_component(const char *s, size_t len, struct kv_buf *plain)
{
	int r = 0;
	plain->len = 0;
	for (size_t i = 0; i < len && r == 0;) {
		bool escape = s[i] == '%' && len - i >= 3;
		char c = escape ? rule_unescape(s + i, len - i) : 0;
		size_t n = escape ? 3 : 1;
		r = c ? kv_buf_push(plain, (uint8_t)c)
		      : kv_buf_append(plain, s + i, n);
		i += n;
	}
	return r;
}

/* Parse one component of rule text (not '*') and append its encoding. */
static int parse_component(const char *s, size_t len, struct kv_buf *plain,
			   struct kv_buf *storage, struct kv_buf *out)
{
	struct kv_part part;
	int r = unescape_component(s, len, plain);
	storage->len = 0;
	if (r == 0)
		r = kvfs_name_parse((const char *)plain->data, plain->len,
				    &part, storage);
	if (r == 0)
		r = kv_part_encode(&part, out);
	return r == -ERANGE ? -EINVAL : r;
}

/*
 * Call fn for each '/'-separated component of a path of rule text. An
 * empty path has no components.
 */
typedef int (*component_fn)(const char *s, size_t len, void *arg);

static int each_component(const char *path, size_t len, component_fn fn,
			  void *arg)
{
	size_t i = 0;
	int r = 0;
	while (len > 0 && r == 0) {
		const char *slash = memchr(path + i, '/', len - i);
		size_t end = slash ? (size_t)(slash - path) : len;
		r = fn(path + i, end - i, arg);
		if (!slash)
			break;
		i = end + 1;
	}
	return r;
}

struct component_parser {
	struct kv_buf plain;
	struct kv_buf storage;
	struct kvfs_ptr_rule *rule;
	bool in_pattern;
	size_t cap;
};

static int add_pattern_component(struct component_parser *p, bool any,
				  size_t off)
{
	struct kvfs_ptr_rule *rule = p->rule;
	if (rule->n_components == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 4;
		void *v = realloc(rule->components,
				  cap * sizeof(*rule->components));
		if (!v)
			return -ENOMEM;
		rule->components = v;
		p->cap = cap;
	}
	rule->components[rule->n_components++] = (struct kvfs_ptr_component){
		.any = any,
		.off = off,
		.len = rule->pattern.len - off,
	};
	return 0;
}

static int parse_rule_component(const char *s, size_t len, void *arg)
{
	struct component_parser *p = arg;
	struct kv_buf *out = p->in_pattern ? &p->rule->pattern : &p->rule->target;
	size_t off = out->len;
	bool star = text_is(s, len, "*");
	bool any = p->in_pattern && star;
	int r = star && !any ? -EINVAL : 0;
	if (r == 0 && !any)
		r = parse_component(s, len, &p->plain, &p->storage, out);
	if (r == 0 && p->in_pattern)
		r = add_pattern_component(p, any, off);
	return r;
}

static void rule_free(struct kvfs_ptr_rule *rule)
{
	free(rule->components);
	kv_buf_free(&rule->pattern);
	kv_buf_free(&rule->target);
	*rule = (struct kvfs_ptr_rule){0};
}

/* Parse a pattern (in_pattern) or a target path of rule text into rule. */
static int parse_rule_path(const char *s, size_t len, bool in_pattern,
			   struct kvfs_ptr_rule *rule)
{
	struct component_parser p = {.rule = rule, .in_pattern = in_pattern};
	int r = in_pattern && len == 0 ? -EINVAL : 0;
	if (r == 0)
		r = each_component(s, len, parse_rule_component, &p);
	kv_buf_free(&p.plain);
	kv_buf_free(&p.storage);
	return r;
}

static int parse_rule(const char *s, size_t len, struct kvfs_ptr_rule *rule)
{
	const char *eq = memchr(s, '=', len);
	*rule = (struct kvfs_ptr_rule){0};
	if (!eq)
		return -EINVAL;
	size_t plen = (size_t)(eq - s);
	int r = parse_rule_path(s, plen, true, rule);
	if (r == 0)
		r = parse_rule_path(eq + 1, len - plen - 1, false, rule);
	if (r < 0)
		rule_free(rule);
	return r;
}

static int rules_push(struct kvfs_ptr_rules *rules, struct kvfs_ptr_rule *rule)
{
	void *v = realloc(rules->v, (rules->n + 1) * sizeof(*rules->v));
	if (!v)
		return -ENOMEM;
	rules->v = v;
	rules->v[rules->n++] = *rule;
	*rule = (struct kvfs_ptr_rule){0};
	return 0;
}

static bool is_rule_separator(char c)
{
	return c == ';' || c == '\n';
}

int kvfs_ptr_rules_parse(const char *text, size_t len,
			 struct kvfs_ptr_rules *rules)
{
	size_t mark = rules->n;
	int r = 0;
	for (size_t i = 0; i < len && r == 0;) {
		size_t end = i;
		while (end < len && !is_rule_separator(text[end]))
			end++;
		if (end > i) {
			struct kvfs_ptr_rule rule;
			r = parse_rule(text + i, end - i, &rule);
			if (r == 0)
				r = rules_push(rules, &rule);
			rule_free(&rule);
		}
		i = end + 1;
	}
	while (r < 0 && rules->n > mark)
		rule_free(&rules->v[--rules->n]);
	return r;
}

/* The escape of a separator character in rule text, or NULL. */
static const char *separator_escape(uint8_t c)
{
	for (size_t e = 0; e < N_RULE_ESCAPES; e++)
		if (c == (uint8_t)rule_escapes[e].c && c != '*')
			return rule_escapes[e].escape;
	return NULL;
}

/* Append a §1 name with the rule-text escapes applied. */
static int format_rule_name(const struct kv_part *part, struct kv_buf *out)
{
	struct kv_buf name = {0};
	int r = kvfs_name_format(part, &name);
	if (r == 0 && text_is((const char *)name.data, name.len, "*"))
		r = kvfs_append_str(out, STAR_ESCAPE);
	else
		for (size_t i = 0; i < name.len && r == 0; i++) {
			const char *escape = separator_escape(name.data[i]);
			r = escape ? kvfs_append_str(out, escape)
				   : kv_buf_push(out, name.data[i]);
		}
	kv_buf_free(&name);
	return r;
}

/* Append one encoded part as rule text. */
static int format_encoded_part(const uint8_t *enc, size_t len,
			       struct kv_buf *out)
{
	struct kv_buf scratch = {0};
	struct kv_part part;
	size_t pos = 0;
	int r = kv_part_decode(enc, len, &pos, &part, &scratch);
	if (r == 0)
		r = format_rule_name(&part, out);
	kv_buf_free(&scratch);
	return r;
}

static int format_target(const struct kv_buf *target, struct kv_buf *out)
{
	int r = 0;
	for (size_t pos = 0; pos < target->len && r == 0;) {
		long span = kv_part_span(target->data + pos, target->len - pos);
		if (span < 0)
			return -EINVAL;
		if (pos > 0)
			r = kv_buf_push(out, '/');
		if (r == 0)
			r = format_encoded_part(target->data + pos, (size_t)span,
						out);
		pos += (size_t)span;
	}
	return r;
}

int kvfs_ptr_rule_format(const struct kvfs_ptr_rule *rule, struct kv_buf *out)
{
	size_t mark = out->len;
	int r = 0;
	for (size_t i = 0; i < rule->n_components && r == 0; i++) {
		const struct kvfs_ptr_component *c = &rule->components[i];
		if (i > 0)
			r = kv_buf_push(out, '/');
		if (r == 0 && c->any)
			r = kv_buf_push(out, '*');
		else if (r == 0)
			r = format_encoded_part(rule->pattern.data + c->off,
						c->len, out);
	}
	if (r == 0)
		r = kv_buf_push(out, '=');
	if (r == 0)
		r = format_target(&rule->target, out);
	if (r == 0)
		r = kvfs_nul_terminate(out);
	if (r < 0)
		out->len = mark;
	return r;
}

int kvfs_ptr_rules_format(const struct kvfs_ptr_rules *rules,
			  struct kv_buf *out)
{
	size_t mark = out->len;
	int r = kvfs_nul_terminate(out);
	for (size_t i = 0; i < rules->n && r == 0; i++) {
		r = kvfs_ptr_rule_format(&rules->v[i], out);
		if (r == 0)
			r = kv_buf_push(out, '\n');
		if (r == 0)
			r = kvfs_nul_terminate(out);
	}
	if (r < 0)
		out->len = mark;
	return r;
}

static bool patterns_equal(const struct kvfs_ptr_rule *a,
			   const struct kvfs_ptr_rule *b)
{
	if (a->n_components != b->n_components)
		return false;
	for (size_t i = 0; i < a->n_components; i++) {
		const struct kvfs_ptr_component *x = &a->components[i];
		const struct kvfs_ptr_component *y = &b->components[i];
		if (x->any != y->any || x->len != y->len ||
		    memcmp(a->pattern.data + x->off, b->pattern.data + y->off,
			   x->len) != 0)
			return false;
	}
	return true;
}

/* The rule with the same pattern as rule, or NULL. */
static struct kvfs_ptr_rule *find_pattern(struct kvfs_ptr_rules *rules,
					  const struct kvfs_ptr_rule *rule)
{
	for (size_t i = 0; i < rules->n; i++)
		if (patterns_equal(&rules->v[i], rule))
			return &rules->v[i];
	return NULL;
}

int kvfs_ptr_rules_put(struct kvfs_ptr_rules *rules, const char *pattern,
		       size_t pattern_len, const char *target,
		       size_t target_len)
{
	struct kvfs_ptr_rule rule = {0};
	int r = parse_rule_path(pattern, pattern_len, true, &rule);
	if (r == 0)
		r = parse_rule_path(target, target_len, false, &rule);
	struct kvfs_ptr_rule *old = r == 0 ? find_pattern(rules, &rule) : NULL;
	if (old) {
		struct kv_buf swap = old->target;
		old->target = rule.target;
		rule.target = swap;
	} else if (r == 0) {
		r = rules_push(rules, &rule);
	}
	rule_free(&rule);
	return r;
}

int kvfs_ptr_rules_remove(struct kvfs_ptr_rules *rules, const char *pattern,
			  size_t pattern_len)
{
	struct kvfs_ptr_rule rule = {0};
	int r = parse_rule_path(pattern, pattern_len, true, &rule);
	struct kvfs_ptr_rule *old = r == 0 ? find_pattern(rules, &rule) : NULL;
	rule_free(&rule);
	if (r < 0)
		return r;
	if (!old)
		return -ENOENT;
	rule_free(old);
	size_t i = (size_t)(old - rules->v);
	memmove(old, old + 1, (rules->n - i - 1) * sizeof(*old));
	rules->n--;
	return 0;
}

static bool rule_matches(const struct kvfs_ptr_rule *rule, const uint8_t *key,
			 size_t key_len)
{
	size_t pos = 0;
	for (size_t i = 0; i < rule->n_components; i++) {
		const struct kvfs_ptr_component *c = &rule->components[i];
		long span = pos < key_len ? kv_part_span(key + pos, key_len - pos)
					  : -EINVAL;
		if (span < 0)
			return false;
		if (!c->any && ((size_t)span != c->len ||
				memcmp(key + pos, rule->pattern.data + c->off,
				       c->len) != 0))
			return false;
		pos += (size_t)span;
	}
	return pos == key_len;
}

const struct kvfs_ptr_rule *kvfs_ptr_rules_match(
	const struct kvfs_ptr_rules *rules, const uint8_t *key, size_t key_len)
{
	for (size_t i = 0; i < rules->n; i++)
		if (rule_matches(&rules->v[i], key, key_len))
			return &rules->v[i];
	return NULL;
}

void kvfs_ptr_rules_free(struct kvfs_ptr_rules *rules)
{
	for (size_t i = 0; i < rules->n; i++)
		rule_free(&rules->v[i]);
	free(rules->v);
	*rules = (struct kvfs_ptr_rules){0};
}

/* ---- elements as key parts ----------------------------------------------- */

/* Whether a WTF-8 string holds a lone surrogate (ED A0..BF xx). */
static bool has_surrogate(const char *s, size_t len)
{
	for (size_t i = 0; i + 2 < len; i++)
		if ((uint8_t)s[i] == 0xed && (uint8_t)s[i + 1] >= 0xa0)
			return true;
	return false;
}

/*
 * A string element as the key part Deno makes of it: UTF-8, with each lone
 * surrogate made U+FFFD, which is also three bytes long.
 */
static int string_part(const struct kv_value *v, struct kv_arena *a,
		       struct kv_part *part)
{
	part->type = KV_PART_STRING;
	part->len = v->str_len;
	part->data = (const uint8_t *)v->str;
	if (!has_surrogate(v->str, v->str_len))
		return 0;
	uint8_t *s = kv_arena_dup(a, v->str, v->str_len);
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i + 2 < v->str_len; i++)
		if (s[i] == 0xed && s[i + 1] >= 0xa0) {
			memcpy(s + i, "\xef\xbf\xbd", 3);
			i += 2;
		}
	part->data = s;
	return 0;
}

/*
 * A typed array or DataView element: its window of bytes. Deno cannot make
 * a key of a view on a resizable buffer, and a view whose buffer is shared
 * with an earlier one (a back-reference) is not resolved here.
 */
static int view_part(const struct kv_value *v, struct kv_part *part)
{
	const struct kv_value *buf = v->buffer;
	if (!buf || buf->type != KV_ARRAY_BUFFER || buf->resizable ||
	    v->view_flags != 0 || v->byte_offset > buf->byte_len ||
	    v->view_len > buf->byte_len - v->byte_offset)
		return -EINVAL;
	part->type = KV_PART_BYTES;
	part->data = buf->bytes + v->byte_offset;
	part->len = v->view_len;
	return 0;
}

/*
 * The key part an array element stands for, as Deno would make it of the
 * same JavaScript value. Returns 0, -EINVAL for an element that is not a
 * key part, or -ENOMEM. Payloads may point into v.
 */
static int element_part(const struct kv_value *v, struct kv_arena *a,
			struct kv_part *part)
{
	*part = (struct kv_part){0};
	switch (v->type) {
	case KV_STRING:
		return string_part(v, a, part);
	case KV_INT32:
		part->type = KV_PART_NUMBER;
		part->num = v->i32;
		return 0;
	case KV_DOUBLE:
		part->type = KV_PART_NUMBER;
		part->num = v->num;
		return 0;
	case KV_BIGINT:
		if (v->bigint.len > KV_BIGINT_MAX_BYTES)
			return -EINVAL;
		part->type = KV_PART_BIGINT;
		part->bigint = v->bigint;
		part->bigint.negative = v->bigint.negative && v->bigint.len;
		return 0;
	case KV_BOOL:
		part->type = v->boolean ? KV_PART_TRUE : KV_PART_FALSE;
		return 0;
	case KV_VIEW:
		return view_part(v, part);
	default:
		return -EINVAL;
	}
}

/* Append the encoded key part an element stands for; -EINVAL if none. */
static int encode_element_part(const struct kv_value *v, struct kv_arena *a,
			       struct kv_buf *out)
{
	struct kv_part part;
	int r = element_part(v, a, &part);
	if (r == 0)
		r = kv_part_encode(&part, out);
	return r == -ERANGE ? -EINVAL : r;
}

/* A dense array with nothing but its elements. */
static bool is_plain_array(const struct kv_value *v)
{
	return v->type == KV_ARRAY && v->n_props == 0 &&
	       v->length == v->n_items;
}

static struct kv_value *new_node(struct kv_arena *a, enum kv_type type)
{
	struct kv_value *v = kv_arena_alloc(a, sizeof(*v));
	if (v)
		v->type = type;
	return v;
}

/* Whether a property key is an index below length, and which. */
static bool index_of(const struct kv_value *key, uint32_t length, size_t *i)
{
	double d;
	if (key->type == KV_INT32)
		d = key->i32;
	else if (key->type == KV_DOUBLE)
		d = key->num;
	else
		return false;
	if (!(d >= 0 && d < length && d == floor(d)))
		return false;
	*i = (size_t)d;
	return true;
}

/*
 * A sparse array (as V8 writes every holey array, and Deno many others) as
 * the dense array it stands for: its elements in index order, a hole for
 * each missing one, its other properties kept. One longer than
 * KVFS_PTR_MAX_LENGTH is no list: -ENOTDIR.
 */
static int sparse_to_dense(const struct kv_value *v, struct kv_arena *a,
			   struct kv_value **out)
{
	struct kv_value *d = new_node(a, KV_ARRAY), *hole = new_node(a, KV_HOLE);
	size_t n = v->length, i;
	if (n > KVFS_PTR_MAX_LENGTH)
		return -ENOTDIR;
	if (!d || !hole ||
	    !(d->items = kv_arena_alloc(a, (n ? n : 1) * sizeof(*d->items))) ||
	    !(d->props = kv_arena_alloc(a, (v->n_props ? v->n_props : 1) *
						   sizeof(*d->props))))
		return -ENOMEM;
	for (i = 0; i < n; i++)
		d->items[i] = hole;
	for (size_t p = 0; p < v->n_props; p++) {
		if (index_of(v->props[p].key, v->length, &i))
			d->items[i] = v->props[p].value;
		else
			d->props[d->n_props++] = v->props[p];
	}
	d->n_items = n;
	d->length = v->length;
	*out = d;
	return 0;
}

/* Append the encoded key a whole-key element stands for; -EINVAL if none. */
static int encode_element_key(const struct kv_value *v, struct kv_arena *a,
			      struct kv_buf *out)
{
	size_t mark = out->len;
	int r = is_plain_array(v) && v->n_items > 0 ? 0 : -EINVAL;
	for (size_t i = 0; i < v->n_items && r == 0; i++)
		r = encode_element_part(v->items[i], a, out);
	if (r < 0)
		out->len = mark;
	return r;
}

/* Append the target key of an element: a part under the rule's target, or
 * (no rule) a whole key. */
static int element_target(const struct kv_value *v,
			  const struct kvfs_ptr_rule *rule, struct kv_arena *a,
			  struct kv_buf *out)
{
	int r;
	if (!rule)
		return encode_element_key(v, a, out);
	r = kv_buf_append(out, rule->target.data, rule->target.len);
	return r < 0 ? r : encode_element_part(v, a, out);
}

/* ---- names and link text ------------------------------------------------- */

/* Call fn for each encoded part of key; -EINVAL for a malformed key. */
typedef int (*part_fn)(const uint8_t *part, size_t len, void *arg);

static int each_part(const uint8_t *key, size_t len, part_fn fn, void *arg)
{
	int r = 0;
	for (size_t pos = 0; pos < len && r == 0;) {
		long span = kv_part_span(key + pos, len - pos);
		if (span < 0)
			return -EINVAL;
		r = fn(key + pos, (size_t)span, arg);
		pos += (size_t)span;
	}
	return r;
}

static int count_part(const uint8_t *part, size_t len, void *arg)
{
	(void)part;
	(void)len;
	++*(size_t *)arg;
	return 0;
}

static int display_encoded(const uint8_t *enc, size_t len, struct kv_buf *out)
{
	struct kv_buf scratch = {0};
	struct kv_part part;
	size_t pos = 0;
	int r = kv_part_decode(enc, len, &pos, &part, &scratch);
	if (r == 0 && pos != len)
		r = -EINVAL;
	if (r == 0)
		r = kvfs_name_display(&part, out);
	kv_buf_free(&scratch);
	return r;
}

static int display_path_part(const uint8_t *part, size_t len, void *arg)
{
	struct kv_buf *out = arg;
	int r = out->len > 0 && out->data[out->len - 1] != '/'
			? kv_buf_push(out, '/')
			: 0;
	return r < 0 ? r : display_encoded(part, len, out);
}

/*
 * The link text of a target seen from the directory of a list of depth
 * levels: "../" per level, then the target's display names.
 */
static int link_text(size_t depth, const uint8_t *target, size_t len,
		     struct kv_buf *out)
{
	int r = 0;
	out->len = 0;
	for (size_t i = 0; i < depth && r == 0; i++)
		r = kvfs_append_str(out, "../");
	if (r == 0)
		r = each_part(target, len, display_path_part, out);
	return r < 0 ? r : kvfs_nul_terminate(out);
}

/*
 * The link name of a target: the display name of its ID part (after the
 * rule's target), or for a whole key the display name of the string that is
 * the key's path, so that its '/'s are written %2F.
 */
static int link_name(const struct kvfs_ptr_rule *rule, const uint8_t *target,
		     size_t len, struct kv_buf *out)
{
	struct kv_buf path = {0};
	int r;
	out->len = 0;
	if (rule)
		return display_encoded(target + rule->target.len,
				       len - rule->target.len, out);
	r = kvfs_key_to_path(target, len, &path);
	if (r == 0) {
		struct kv_part part = {
			.type = KV_PART_STRING,
			.data = path.data,
			.len = path.len,
		};
		r = kvfs_name_display(&part, out);
	}
	kv_buf_free(&path);
	return r;
}

/* ---- the view ------------------------------------------------------------ */

/* What the view makes of one element while it is being built. */
struct candidate {
	size_t index;
	bool is_id;
	const uint8_t *target;
	size_t target_len;
	const struct kvfs_ptr_entry *entry;
	size_t dup_of; /* SIZE_MAX: not a duplicate */
};

static int compare_targets(const void *x, const void *y)
{
	const struct candidate *a = *(const struct candidate *const *)x;
	const struct candidate *b = *(const struct candidate *const *)y;
	int c = kv_key_compare(a->target, a->target_len, b->target,
			       b->target_len);
	if (c == 0)
		c = a->index < b->index ? -1 : a->index > b->index;
	return c;
}

/* Mark every ID whose target an earlier ID has as a duplicate of it. */
static int mark_duplicates(struct candidate *c, size_t n)
{
	struct candidate **order = malloc((n ? n : 1) * sizeof(*order));
	size_t k = 0;
	if (!order)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (c[i].is_id)
			order[k++] = &c[i];
	qsort(order, k, sizeof(*order), compare_targets);
	for (size_t i = 1; i < k; i++) {
		struct candidate *prev = order[i - 1];
		if (kv_key_compare(prev->target, prev->target_len,
				   order[i]->target, order[i]->target_len) == 0)
			order[i]->dup_of = prev->dup_of == SIZE_MAX
						   ? prev->index
						   : prev->dup_of;
	}
	free(order);
	return 0;
}

static int compare_names(const char *a, size_t alen, const char *b,
			 size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);
	return c ? c : (alen > blen) - (alen < blen);
}

static int compare_entry_names(const void *x, const void *y)
{
	const struct kvfs_ptr_entry *a = *(const struct kvfs_ptr_entry *const *)x;
	const struct kvfs_ptr_entry *b = *(const struct kvfs_ptr_entry *const *)y;
	return compare_names(a->name, strlen(a->name), b->name,
			     strlen(b->name));
}

/* The first SKIP_JSON_MAX bytes of an element's JSON, cut between
 * characters. */
static const char *skip_json(const struct kv_value *v, struct kv_arena *a)
{
	struct kv_buf json = {0};
	const char *out = NULL;
	if (kv_json_render(v, &json) == 0) {
		size_t n = json.len;
		if (n > SKIP_JSON_MAX) {
			n = SKIP_JSON_MAX;
			while (n > 0 && (json.data[n] & 0xc0) == 0x80)
				n--;
			json.len = n;
			if (kvfs_append_str(&json, "...") < 0)
				json.len = 0;
		}
		out = kv_arena_dup(a, json.data, json.len);
	}
	kv_buf_free(&json);
	return out;
}

static int add_skip(struct kvfs_ptr_list *l, const struct candidate *c,
		    const struct kv_value *v)
{
	struct kvfs_ptr_skip *s = &l->skipped[l->n_skipped++];
	s->index = c->index;
	s->reason = c->is_id ? KVFS_PTR_DUPLICATE : KVFS_PTR_NOT_KEY_PART;
	s->first = c->dup_of;
	s->json = skip_json(v, l->arena_);
	return s->json ? 0 : -ENOMEM;
}

static int add_entry(struct kvfs_ptr_list *l, const struct kvfs_ptr_rule *rule,
		     size_t depth, const struct candidate *c,
		     struct kv_buf *scratch)
{
	struct kvfs_ptr_entry *e = &l->entries[l->n];
	e->index = c->index;
	e->target = c->target;
	e->target_len = c->target_len;
	int r = link_name(rule, c->target, c->target_len, scratch);
	if (r == 0 && !(e->name = kv_arena_dup(l->arena_, scratch->data,
					       scratch->len)))
		r = -ENOMEM;
	if (r == 0)
		r = link_text(depth, c->target, c->target_len, scratch);
	if (r == 0 && !(e->link = kv_arena_dup(l->arena_, scratch->data,
					       scratch->len)))
		r = -ENOMEM;
	e->link_len = scratch->len;
	if (r == 0)
		l->by_name_[l->n++] = e;
	return r;
}

/* Work out each element's target; -ENOTDIR when the value is no list. */
static int collect_candidates(const struct kv_value *value,
			      const struct kvfs_ptr_rule *rule,
			      struct kv_arena *a, struct candidate *c)
{
	struct kv_buf target = {0};
	int r = 0;
	for (size_t i = 0; i < value->n_items && r == 0; i++) {
		target.len = 0;
		c[i] = (struct candidate){.index = i, .dup_of = SIZE_MAX};
		r = element_target(value->items[i], rule, a, &target);
		if (r == -EINVAL) {
			r = rule ? 0 : -ENOTDIR;
			continue;
		}
		c[i].is_id = r == 0;
		c[i].target_len = target.len;
		if (r == 0 && !(c[i].target = kv_arena_dup(a, target.data,
							   target.len)))
			r = -ENOMEM;
	}
	kv_buf_free(&target);
	return r;
}

static int list_alloc(struct kvfs_ptr_list *l, size_t n)
{
	size_t m = n ? n : 1;
	l->entries = kv_arena_alloc(l->arena_, m * sizeof(*l->entries));
	l->skipped = kv_arena_alloc(l->arena_, m * sizeof(*l->skipped));
	l->by_name_ = kv_arena_alloc(l->arena_, m * sizeof(*l->by_name_));
	return l->entries && l->skipped && l->by_name_ ? 0 : -ENOMEM;
}

static int fill_list(struct kvfs_ptr_list *l, const struct kv_value *value,
		     const struct kvfs_ptr_rule *rule, size_t depth)
{
	size_t n = value->n_items;
	struct candidate *c = malloc((n ? n : 1) * sizeof(*c));
	struct kv_buf scratch = {0};
	int r = c ? collect_candidates(value, rule, l->arena_, c) : -ENOMEM;
	if (r == 0)
		r = mark_duplicates(c, n);
	for (size_t i = 0; i < n && r == 0; i++) {
		if (c[i].is_id && c[i].dup_of == SIZE_MAX)
			r = add_entry(l, rule, depth, &c[i], &scratch);
		else
			r = add_skip(l, &c[i], value->items[i]);
	}
	kv_buf_free(&scratch);
	free(c);
	return r;
}

int kvfs_ptr_list_build(const uint8_t *list_key, size_t key_len,
			const struct kv_value *value,
			const struct kvfs_ptr_rule *rule,
			struct kvfs_ptr_list *out)
{
	size_t depth = 0;
	int r = each_part(list_key, key_len, count_part, &depth);
	*out = (struct kvfs_ptr_list){.whole_keys = !rule};
	if (r < 0)
		return r;
	r = (out->arena_ = kv_arena_new()) ? 0 : -ENOMEM;
	if (r == 0 && value->type == KV_SPARSE_ARRAY) {
		struct kv_value *dense;
		r = sparse_to_dense(value, out->arena_, &dense);
		value = dense;
	}
	if (r == 0 && (value->type != KV_ARRAY ||
		       (!rule && (!is_plain_array(value) ||
				  value->n_items == 0))))
		r = -ENOTDIR;
	if (r == 0)
		r = list_alloc(out, value->n_items);
	if (r == 0)
		r = fill_list(out, value, rule, depth);
	if (r == 0)
		qsort(out->by_name_, out->n, sizeof(*out->by_name_),
		      compare_entry_names);
	if (r < 0)
		kvfs_ptr_list_free(out);
	return r;
}

/*
 * Whether V8 bytes may hold an array: after the header (FF, version) and
 * any padding, the tag of a dense or a sparse array. Spares decoding every
 * value of a mount to find the lists that need no rule.
 */
static bool may_be_array(const uint8_t *data, size_t len)
{
	size_t i = 2;
	if (len < 3 || data[0] != 0xff)
		return false;
	while (i < len && data[i] == 0x00)
		i++;
	return i < len && (data[i] == 'A' || data[i] == 'a');
}

/* Decode a stored value that may be a list; -ENOTDIR when it is not V8. */
static int decode_stored(enum kv_encoding enc, const uint8_t *data,
			 size_t len, struct kv_arena **a, struct kv_value **v)
{
	int r = enc == KV_ENC_V8 ? 0 : -ENOTDIR;
	*a = NULL;
	if (r == 0 && !(*a = kv_arena_new()))
		r = -ENOMEM;
	if (r == 0)
		r = kv_v8_decode(data, len, *a, v, NULL);
	return r == -EINVAL || r == -ENOTSUP ? -ENOTDIR : r;
}

int kvfs_ptr_list_from_value(const uint8_t *list_key, size_t key_len,
			     enum kv_encoding enc, const uint8_t *data,
			     size_t len, const struct kvfs_ptr_rule *rule,
			     struct kvfs_ptr_list *out)
{
	struct kv_arena *a;
	struct kv_value *v;
	int r;
	*out = (struct kvfs_ptr_list){0};
	if (!rule && !may_be_array(data, len))
		return -ENOTDIR;
	r = decode_stored(enc, data, len, &a, &v);
	if (r == 0)
		r = kvfs_ptr_list_build(list_key, key_len, v, rule, out);
	kv_arena_free(a);
	return r;
}

int kvfs_ptr_empty_array(enum kv_encoding enc, const uint8_t *data,
			 size_t len)
{
	struct kv_arena *a;
	struct kv_value *v;
	int r = decode_stored(enc, data, len, &a, &v);
	if (r == 0 && v->type != KV_ARRAY && v->type != KV_SPARSE_ARRAY)
		r = -ENOTDIR;
	if (r == 0 && (v->length > 0 || v->n_props > 0))
		r = -ENOTEMPTY;
	kv_arena_free(a);
	return r;
}

const struct kvfs_ptr_entry *kvfs_ptr_list_find(const struct kvfs_ptr_list *l,
						const char *name, size_t len)
{
	size_t lo = 0, hi = l->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct kvfs_ptr_entry *e = l->by_name_[mid];
		int c = compare_names(e->name, strlen(e->name), name, len);
		if (c == 0)
			return e;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int report_line(const struct kvfs_ptr_skip *s, struct kv_buf *out)
{
	char head[96];
	if (s->reason == KVFS_PTR_DUPLICATE)
		snprintf(head, sizeof(head), "[%zu] duplicate of [%zu]: ",
			 s->index, s->first);
	else
		snprintf(head, sizeof(head), "[%zu] not a key part: ", s->index);
	int r = kvfs_append_str(out, head);
	if (r == 0)
		r = kvfs_append_str(out, s->json);
	return r < 0 ? r : kv_buf_push(out, '\n');
}

int kvfs_ptr_list_report(const struct kvfs_ptr_list *l, struct kv_buf *out)
{
	size_t mark = out->len;
	int r = kvfs_nul_terminate(out);
	for (size_t i = 0; i < l->n_skipped && r == 0; i++)
		r = report_line(&l->skipped[i], out);
	if (r == 0)
		r = kvfs_nul_terminate(out);
	if (r < 0)
		out->len = mark;
	return r;
}

void kvfs_ptr_list_free(struct kvfs_ptr_list *l)
{
	kv_arena_free(l->arena_);
	*l = (struct kvfs_ptr_list){0};
}

/* ---- ln -s targets ------------------------------------------------------- */

/* A key being resolved from a path: its encoding and where each part
 * starts, so that ".." can drop the last one. */
struct resolver {
	struct kv_buf key;
	size_t *starts;
	size_t n;
	size_t cap;
	struct kv_buf storage;
};

static int resolver_push(struct resolver *res)
{
	if (res->n == res->cap) {
		size_t cap = res->cap ? 2 * res->cap : 8;
		void *v = realloc(res->starts, cap * sizeof(*res->starts));
		if (!v)
			return -ENOMEM;
		res->starts = v;
		res->cap = cap;
	}
	res->starts[res->n++] = res->key.len;
	return 0;
}

static int resolve_list_part(const uint8_t *part, size_t len, void *arg)
{
	struct resolver *res = arg;
	int r = resolver_push(res);
	return r < 0 ? r : kv_buf_append(&res->key, part, len);
}

static int resolve_component(const char *s, size_t len, void *arg)
{
	struct resolver *res = arg;
	struct kv_part part;
	int r;
	if (len == 0 || text_is(s, len, "."))
		return 0;
	if (text_is(s, len, "..")) {
		if (res->n == 0)
			return -EINVAL;
		res->key.len = res->starts[--res->n];
		return 0;
	}
	res->storage.len = 0;
	r = kvfs_name_parse(s, len, &part, &res->storage);
	if (r == 0)
		r = resolver_push(res);
	if (r == 0)
		r = kv_part_encode(&part, &res->key);
	return r == -ERANGE ? -EINVAL : r;
}

/* The part of an absolute target after the mountpoint, or NULL when the
 * target lies outside it. */
static const char *inside_mount(const char *target, size_t len,
				const char *mountpoint, size_t *rest_len)
{
	size_t m = mountpoint ? strlen(mountpoint) : 0;
	if (!mountpoint)
		return NULL;
	while (m > 0 && mountpoint[m - 1] == '/')
		m--;
	if (len < m || memcmp(target, mountpoint, m) != 0 ||
	    (len > m && target[m] != '/'))
		return NULL;
	*rest_len = len - m;
	return target + m;
}

/* Whether key is the key that the link named name stands for. */
static int check_link(const struct kvfs_ptr_rule *rule, const char *name,
		      const uint8_t *key, size_t len)
{
	struct kv_buf own = {0};
	size_t prefix = rule ? rule->target.len : 0;
	int r = 0;
	if (len <= prefix || (rule && memcmp(key, rule->target.data, prefix)))
		return -EINVAL;
	if (rule && kv_part_span(key + prefix, len - prefix) != (long)(len - prefix))
		return -EINVAL;
	r = link_name(rule, key, len, &own);
	if (r == 0 && strcmp((const char *)own.data, name) != 0)
		r = -EINVAL;
	kv_buf_free(&own);
	return r;
}

int kvfs_ptr_link_target(const uint8_t *list_key, size_t key_len,
			 const struct kvfs_ptr_rule *rule, const char *name,
			 const char *target, size_t target_len,
			 const char *mountpoint, struct kv_buf *key_out)
{
	struct resolver res = {0};
	const char *path = target;
	size_t path_len = target_len;
	int r = 0;
	if (target_len > 0 && target[0] == '/') {
		path = inside_mount(target, target_len, mountpoint, &path_len);
		r = path ? 0 : -EINVAL;
	} else {
		r = each_part(list_key, key_len, resolve_list_part, &res);
	}
	if (r == 0)
		r = each_component(path, path_len, resolve_component, &res);
	if (r == 0)
		r = check_link(rule, name, res.key.data, res.key.len);
	if (r == 0)
		r = kv_buf_append(key_out, res.key.data, res.key.len);
	kv_buf_free(&res.key);
	kv_buf_free(&res.storage);
	free(res.starts);
	return r;
}

/* ---- edits --------------------------------------------------------------- */

/* A Uint8Array of its own buffer holding the bytes. */
static struct kv_value *bytes_element(const struct kv_part *part,
				      struct kv_arena *a)
{
	struct kv_value *buf = new_node(a, KV_ARRAY_BUFFER);
	struct kv_value *view = new_node(a, KV_VIEW);
	if (!buf || !view)
		return NULL;
	buf->bytes = kv_arena_dup(a, part->data, part->len);
	buf->byte_len = part->len;
	view->view_kind = KV_VIEW_UINT8;
	view->buffer = buf;
	view->view_len = part->len;
	return buf->bytes ? view : NULL;
}

/* A number as V8 writes it: a Smi when it is an int32 other than -0. */
static void number_element(double num, struct kv_value *v)
{
	bool smi = num >= INT32_MIN && num <= INT32_MAX && num == floor(num) &&
		   !(num == 0 && signbit(num));
	v->type = smi ? KV_INT32 : KV_DOUBLE;
	v->i32 = smi ? (int32_t)num : 0;
	v->num = smi ? 0 : num;
}

/* The JavaScript value Deno makes the key part from. */
static struct kv_value *part_element(const struct kv_part *part,
				     struct kv_arena *a)
{
	struct kv_value *v;
	if (part->type == KV_PART_BYTES)
		return bytes_element(part, a);
	v = new_node(a, KV_NULL);
	if (!v)
		return NULL;
	switch (part->type) {
	case KV_PART_STRING:
		v->type = KV_STRING;
		v->str = kv_arena_dup(a, part->data, part->len);
		v->str_len = part->len;
		return v->str ? v : NULL;
	case KV_PART_BIGINT:
		v->type = KV_BIGINT;
		v->bigint = part->bigint;
		v->bigint.mag = kv_arena_dup(a, part->bigint.mag,
					     part->bigint.len);
		return v->bigint.mag ? v : NULL;
	case KV_PART_NUMBER:
		number_element(part->num, v);
		return v;
	default:
		v->type = KV_BOOL;
		v->boolean = part->type == KV_PART_TRUE;
		return v;
	}
}

/* A whole key as an array of its parts. */
static int key_element(const uint8_t *target, size_t len, struct kv_arena *a,
		       struct kv_value **out)
{
	struct kv_key key = {0};
	struct kv_value *v = new_node(a, KV_ARRAY);
	int r = v ? kv_key_decode(target, len, &key) : -ENOMEM;
	if (r == 0 && key.n > 0)
		v->items = kv_arena_alloc(a, key.n * sizeof(*v->items));
	if (r == 0 && key.n > 0 && !v->items)
		r = -ENOMEM;
	for (size_t i = 0; i < key.n && r == 0; i++)
		if (!(v->items[i] = part_element(&key.parts[i], a)))
			r = -ENOMEM;
	if (r == 0) {
		v->n_items = key.n;
		v->length = (uint32_t)key.n;
		*out = v;
	}
	kv_key_free(&key);
	return r;
}

/* An ID part after the rule's target, as an element. */
static int id_part_element(const struct kvfs_ptr_rule *rule,
			   const uint8_t *target, size_t len,
			   struct kv_arena *a, struct kv_value **out)
{
	struct kv_buf scratch = {0};
	struct kv_part part;
	size_t prefix = rule->target.len, pos = prefix;
	int r = len > prefix && memcmp(target, rule->target.data, prefix) == 0
			? kv_part_decode(target, len, &pos, &part, &scratch)
			: -EINVAL;
	if (r == 0 && pos != len)
		r = -EINVAL;
	if (r == 0 && !(*out = part_element(&part, a)))
		r = -ENOMEM;
	kv_buf_free(&scratch);
	return r;
}

/*
 * The element that stands for target in a list, checked to stand for it
 * when Deno reads it back (a string holding a lone surrogate would not).
 */
static int id_element(const struct kvfs_ptr_rule *rule, const uint8_t *target,
		      size_t len, struct kv_arena *a, struct kv_value **out)
{
	struct kv_buf again = {0};
	int r = rule ? id_part_element(rule, target, len, a, out)
		     : key_element(target, len, a, out);
	if (r == 0)
		r = element_target(*out, rule, a, &again);
	if (r == 0 && (again.len != len || memcmp(again.data, target, len)))
		r = -EINVAL;
	kv_buf_free(&again);
	return r;
}

/* Whether an element is an object, which has an id in V8's encoding. */
static bool is_object(const struct kv_value *v)
{
	return v->type == KV_VIEW || v->type == KV_ARRAY;
}

/* Whether an element stands for target. */
static int element_is(const struct kv_value *v,
		      const struct kvfs_ptr_rule *rule, const uint8_t *target,
		      size_t len, struct kv_arena *a, bool *is)
{
	struct kv_buf mine = {0};
	int r = element_target(v, rule, a, &mine);
	*is = r == 0 && mine.len == len && memcmp(mine.data, target, len) == 0;
	kv_buf_free(&mine);
	return r == -EINVAL ? 0 : r;
}

/*
 * The list's array and its id element, decoded into a. Adding or removing
 * an object renumbers the objects after it, which the back-references of a
 * value that is not lossless would then miss.
 */
struct edit {
	struct kv_arena *a;
	struct kv_value *array;
	struct kv_value *id;
	bool lossless;
};

static int edit_begin(struct edit *e, const uint8_t *value, size_t len,
		      const struct kvfs_ptr_rule *rule, const uint8_t *target,
		      size_t target_len)
{
	int r;
	*e = (struct edit){.a = kv_arena_new(), .lossless = true};
	if (!e->a)
		return -ENOMEM;
	if (value) {
		r = kv_v8_decode(value, len, e->a, &e->array, &e->lossless);
		if (r == 0 && e->array->type == KV_SPARSE_ARRAY)
			r = sparse_to_dense(e->array, e->a, &e->array);
		if (r == 0 && e->array->type != KV_ARRAY)
			r = -ENOTDIR;
	} else {
		e->array = new_node(e->a, KV_ARRAY);
		r = e->array ? 0 : -ENOMEM;
	}
	if (r == 0)
		r = id_element(rule, target, target_len, e->a, &e->id);
	if (r == 0 && !e->lossless && is_object(e->id))
		r = -EINVAL;
	return r;
}

static int edit_end(struct edit *e, int r, struct kv_buf *out)
{
	if (r == 0)
		r = kv_v8_encode(e->array, out);
	kv_arena_free(e->a);
	return r;
}

int kvfs_ptr_append(const uint8_t *value, size_t len,
		    const struct kvfs_ptr_rule *rule, const uint8_t *target,
		    size_t target_len, struct kv_buf *out)
{
	struct edit e;
	int r = edit_begin(&e, value, len, rule, target, target_len);
	struct kv_value *array = e.array;
	for (size_t i = 0; r == 0 && i < array->n_items; i++) {
		bool is;
		r = element_is(array->items[i], rule, target, target_len, e.a,
			       &is);
		if (r == 0 && is)
			r = -EEXIST;
	}
	struct kv_value **items =
		r == 0 ? kv_arena_alloc(e.a, (array->n_items + 1) *
						     sizeof(*items))
		       : NULL;
	if (r == 0 && !items)
		r = -ENOMEM;
	if (r == 0) {
		if (array->n_items)
			memcpy(items, array->items,
			       array->n_items * sizeof(*items));
		items[array->n_items++] = e.id;
		array->items = items;
		array->length++;
	}
	return edit_end(&e, r, out);
}

int kvfs_ptr_remove(const uint8_t *value, size_t len,
		    const struct kvfs_ptr_rule *rule, const uint8_t *target,
		    size_t target_len, struct kv_buf *out)
{
	struct edit e;
	int r = edit_begin(&e, value, len, rule, target, target_len);
	struct kv_value *array = e.array;
	size_t kept = 0;
	for (size_t i = 0; r == 0 && i < array->n_items; i++) {
		struct kv_value *item = array->items[i];
		bool is;
		r = element_is(item, rule, target, target_len, e.a, &is);
		if (r == 0 && !is)
			array->items[kept++] = item;
	}
	if (r == 0 && kept == array->n_items)
		r = -ENOENT;
	if (r == 0) {
		array->length -= (uint32_t)(array->n_items - kept);
		array->n_items = kept;
	}
	return edit_end(&e, r, out);
}
