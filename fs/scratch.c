/*
 * scratch.c — matching names against a mount's scratch patterns, compiled
 * into the shapes editors' patterns have (*.swp, .#*, 4913) so that only
 * the other patterns cost an fnmatch(3) call, and only for names that
 * begin as they do.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "name.h"
#include "scratch.h"

/* The characters fnmatch gives a meaning to. */
static const char wildcards[] = "*?[\\";

static bool is_pattern_usable(size_t len)
{
	return len > 0 && len <= KVFS_NAME_MAX;
}

static struct scratch_pattern compile_one(const char *p, size_t len)
{
	size_t head = strcspn(p, wildcards);
	struct scratch_pattern c = {.shape = SCRATCH_GLOB, .fixed = p,
				    .len = head, .glob = p};
	if (head == len) {
		c.shape = SCRATCH_LITERAL;
	} else if (head == len - 1 && p[head] == '*') {
		c.shape = SCRATCH_PREFIX;
	} else if (head == 0 && p[0] == '*' &&
		   strcspn(p + 1, wildcards) == len - 1) {
		c.shape = SCRATCH_SUFFIX;
		c.fixed = p + 1;
		c.len = len - 1;
	}
	return c;
}

int scratch_set_compile(const char *list, struct scratch_set *set)
{
	*set = (struct scratch_set){0};
	size_t max = 1;
	for (const char *p = list; *p; p++)
		max += *p == ':';
	set->text_ = strdup(list);
	set->v = calloc(max, sizeof(*set->v));
	if (!set->text_ || !set->v) {
		scratch_set_free(set);
		return -ENOMEM;
	}
	for (char *p = set->text_, *end; p; p = end) {
		end = strchr(p, ':');
		if (end)
			*end++ = 0;
		size_t len = strlen(p);
		if (is_pattern_usable(len))
			set->v[set->n++] = compile_one(p, len);
	}
	return 0;
}

/*
 * Whether len bytes at a and b are equal. The last bytes are compared
 * first: they tell most names from a pattern (a suffix after the name's
 * own '.', a prefix's second byte) without the call to memcmp.
 */
static bool same_bytes(const char *a, const char *b, size_t len)
{
	return len == 0 ||
	       (a[len - 1] == b[len - 1] && memcmp(a, b, len - 1) == 0);
}

static bool begins_with(const char *name, size_t n, const char *s, size_t len)
{
	return n >= len && same_bytes(name, s, len);
}

static bool pattern_matches(const struct scratch_pattern *c, const char *name,
			    size_t n)
{
	switch (c->shape) {
	case SCRATCH_LITERAL:
		return n == c->len && same_bytes(name, c->fixed, n);
	case SCRATCH_PREFIX:
		return begins_with(name, n, c->fixed, c->len);
	case SCRATCH_SUFFIX:
		return n >= c->len &&
		       same_bytes(name + n - c->len, c->fixed, c->len);
	case SCRATCH_GLOB:
		/* Without flags fnmatch matches text before the first
		 * wildcard byte for byte: a name that does not begin with it
		 * cannot match. */
		return begins_with(name, n, c->fixed, c->len) &&
		       fnmatch(c->glob, name, 0) == 0;
	}
	return false;
}

bool scratch_set_match(const struct scratch_set *set, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < set->n; i++)
		if (pattern_matches(&set->v[i], name, n))
			return true;
	return false;
}

void scratch_set_free(struct scratch_set *set)
{
	free(set->v);
	free(set->text_);
	*set = (struct scratch_set){0};
}
