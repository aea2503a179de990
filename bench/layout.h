/*
 * layout.h — the shape of the benchmark's app-like store, shared by the
 * generator (bench_gen) and the mount driver (bench_fs), so the driver can
 * name paths the generator wrote without listing anything first.
 *
 * Tenants of LAYOUT_USERS_PER_TENANT users; user g (a global number) lives
 * in tenant g / LAYOUT_USERS_PER_TENANT. Keys, and their paths in a mount:
 *
 *   ["tenant", T, "info"]                   tenant/T/info
 *   ["tenant", T, "users", g, ATTR]         tenant/T/users/@g/ATTR
 *   ["tenant", T, "posts", P]               tenant/T/posts/P
 *
 * where ATTR is one of the LAYOUT_USER_ATTRS names below, so every user
 * directory holds exactly that many entries; the attribute "posts" is a
 * pointer list (an array of whole keys) naming the user's
 * LAYOUT_POSTS_PER_USER posts, which the mount shows as symlinks.
 */
#ifndef KVFS_BENCH_LAYOUT_H
#define KVFS_BENCH_LAYOUT_H

#include <stdio.h>

#define LAYOUT_USERS_PER_TENANT 100
#define LAYOUT_POSTS_PER_USER 2
#define LAYOUT_USER_ATTRS 10
/* Keys per user: its attributes and its posts. */
#define LAYOUT_KEYS_PER_USER (LAYOUT_USER_ATTRS + LAYOUT_POSTS_PER_USER)

static const char *const layout_user_attrs[LAYOUT_USER_ATTRS] = {
	"avatar", "created", "email", "last_login", "name",
	"plan",	  "posts",   "profile", "settings", "visits",
};

/* Users needed for a store of about keys keys (one more key per tenant). */
static inline unsigned long layout_users_for(unsigned long keys)
{
	unsigned long per_tenant =
		LAYOUT_USERS_PER_TENANT * LAYOUT_KEYS_PER_USER + 1;
	unsigned long tenants = keys / per_tenant;
	unsigned long rest = keys % per_tenant;

	return tenants * LAYOUT_USERS_PER_TENANT +
	       (rest > 1 ? (rest - 1) / LAYOUT_KEYS_PER_USER : 0);
}

static inline void layout_tenant_name(unsigned long tenant, char out[16])
{
	snprintf(out, 16, "t%05lu", tenant % 100000);
}

static inline void layout_post_name(unsigned long user, unsigned i,
				    char out[16])
{
	snprintf(out, 16, "p%08lu",
		 (user * LAYOUT_POSTS_PER_USER + i) % 100000000);
}

#endif
