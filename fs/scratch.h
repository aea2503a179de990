/*
 * scratch.h — the scratch patterns of a mount (-o scratch=P1:P2, kvfs-spec
 * §2, docs/filesystem.md), compiled once when the mount starts so that
 * asking whether a name is an editor's scratch file, which every lookup and
 * create does, costs a comparison or two.
 *
 * A name matches when fnmatch(3) with no flags matches it against one of
 * the patterns: '*' and '?' match a leading '.' too (no FNM_PERIOD: vim's
 * swap file of f is .f.swp, which *.swp must match), and '\' escapes.
 * Empty patterns and patterns longer than KVFS_NAME_MAX bytes are ignored.
 */
#ifndef KVFS_SCRATCH_H
#define KVFS_SCRATCH_H

#include <stdbool.h>
#include <stddef.h>

enum scratch_shape {
	SCRATCH_LITERAL, /* no wildcard: the name is fixed */
	SCRATCH_PREFIX,	 /* fixed then one '*' */
	SCRATCH_SUFFIX,	 /* one '*' then fixed */
	SCRATCH_GLOB,	 /* anything else: names beginning with fixed are
			    given to fnmatch */
};

struct scratch_pattern {
	enum scratch_shape shape;
	const char *fixed; /* the wildcard-free text the shape names */
	size_t len;	   /* of fixed */
	const char *glob;  /* SCRATCH_GLOB: the whole pattern */
};

struct scratch_set {
	struct scratch_pattern *v;
	size_t n;
	char *text_; /* the list with its ':' made NULs; patterns point here */
};

/*
 * Compile a ':'-separated pattern list into set (an empty list matches
 * nothing). Returns 0 or -ENOMEM.
 */
int scratch_set_compile(const char *list, struct scratch_set *set);

/* Whether the NUL-terminated name matches a pattern of set. */
bool scratch_set_match(const struct scratch_set *set, const char *name);

/* Release set and zero it; a zeroed set may be released too. */
void scratch_set_free(struct scratch_set *set);

#endif
