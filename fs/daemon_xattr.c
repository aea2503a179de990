/*
 * daemon_xattr.c — the metadata of kvfs-spec §5 as extended attributes:
 * user.kv.key, user.kv.versionstamp, user.kv.type and user.kv.expires_at.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <time.h>

#include "daemon.h"
#include "name.h"
#include "pointers.h"

#define XATTR_PREFIX "user.kv."
#define XATTR_KEY "user.kv.key"
#define XATTR_VERSIONSTAMP "user.kv.versionstamp"
#define XATTR_TYPE "user.kv.type"
#define XATTR_EXPIRES "user.kv.expires_at"

static const char *const type_names[] = {
	[KV_ENC_V8] = "json",
	[KV_ENC_U64] = "u64",
	[KV_ENC_BYTES] = "bytes",
};

static int type_parse(const char *s, size_t len, enum kv_encoding *out)
{
	for (int e = KV_ENC_V8; e <= KV_ENC_BYTES; e++) {
		if (strlen(type_names[e]) == len &&
		    memcmp(type_names[e], s, len) == 0) {
			*out = e;
			return 0;
		}
	}
	return -EINVAL;
}

/* ISO 8601 UTC with milliseconds, as JavaScript's toISOString. */
static void iso_format(int64_t ms, char out[64])
{
	time_t secs = (time_t)(ms / 1000);
	int frac = (int)(ms % 1000);
	if (frac < 0) {
		frac += 1000;
		secs--;
	}
	struct tm tm;
	gmtime_r(&secs, &tm);
	snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, frac);
}

/* Accepts YYYY-MM-DDTHH:MM:SS[.sss]Z, the forms toISOString writes. */
static int iso_parse(const char *s, size_t len, int64_t *ms)
{
	char text[40];
	if (len == 0 || len >= sizeof(text))
		return -EINVAL;
	memcpy(text, s, len);
	text[len] = 0;
	struct tm tm = {0};
	int millis = 0, consumed = 0;
	if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
		   &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
		   &consumed) != 6 || consumed != 19)
		return -EINVAL;
	const char *rest = text + consumed;
	if (rest[0] == '.') {
		int n = 0;
		if (sscanf(rest, ".%3d%n", &millis, &n) != 1 || n != 4)
			return -EINVAL;
		rest += n;
	}
	if (strcmp(rest, "Z") != 0 || tm.tm_mon < 1 || tm.tm_mon > 12 ||
	    tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
	    tm.tm_min > 59 || tm.tm_sec > 59)
		return -EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	time_t secs = timegm(&tm);
	*ms = (int64_t)secs * 1000 + millis;
	return 0;
}

/* Reply with a value, or its size when size is 0. */
static void reply_value(fuse_req_t req, const char *value, size_t len,
			size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, value, len);
}

static bool is_key_node(const struct node *n)
{
	return n->kind != NODE_SCRATCH && n->key.len > 0;
}

static bool is_value_node(const struct node *n)
{
	return n->kind == NODE_FILE || n->kind == NODE_VALUE;
}

static int getxattr_locked(struct kvfs *fs, struct node *n, const char *name,
			   struct kv_buf *out)
{
	if (!is_key_node(n))
		return -ENODATA;
	if (n->kind == NODE_LIST && strcmp(name, KVFS_PTR_SKIPPED_XATTR) == 0)
		return ptr_skipped_xattr(fs, n, out);
	if (strcmp(name, XATTR_KEY) == 0)
		return kvfs_key_to_js(n->key.data, n->key.len, out);
	if (!is_value_node(n))
		return -ENODATA;
	if (n->pending) {
		if (strcmp(name, XATTR_TYPE) == 0 && n->type_set)
			return kv_buf_append(out, type_names[n->type],
					     strlen(type_names[n->type]));
		return -ENODATA;
	}
	struct kv_entry e;
	int r = kv_store_get(fs->store, n->key.data, n->key.len, &e);
	if (r == -ENOENT)
		return -ENODATA;
	if (r < 0)
		return r;
	char text[64];
	if (strcmp(name, XATTR_VERSIONSTAMP) == 0) {
		kv_versionstamp_format(e.versionstamp, text);
	} else if (strcmp(name, XATTR_TYPE) == 0) {
		enum kv_encoding enc = e.encoding;
		if (n->type_set && !kv_value_keeps_type(e.encoding, e.value_len))
			enc = n->type;
		if (enc < KV_ENC_V8 || enc > KV_ENC_BYTES)
			r = -EIO;
		else
			snprintf(text, sizeof(text), "%s", type_names[enc]);
	} else if (strcmp(name, XATTR_EXPIRES) == 0 && e.expires_at_ms >= 0) {
		iso_format(e.expires_at_ms, text);
	} else {
		r = -ENODATA;
	}
	kv_entry_free(&e);
	if (r == 0)
		r = kv_buf_append(out, text, strlen(text));
	return r;
}

void kvfs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		   size_t size)
{
	/* Every attribute kvfs has is user.kv.*. The kernel asks for
	 * security.capability before a write through the page cache
	 * (file_remove_privs): answered here without the lock or a read. */
	if (strncmp(name, XATTR_PREFIX, strlen(XATTR_PREFIX)) != 0) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	struct kvfs *fs = fuse_req_userdata(req);
	struct kv_buf value = {0};
	pthread_mutex_lock(&fs->lock);
	struct node *n = node_by_ino(fs, ino);
	int r = n ? getxattr_locked(fs, n, name, &value) : -ENOENT;
	pthread_mutex_unlock(&fs->lock);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		reply_value(req, (char *)value.data, value.len, size);
	kv_buf_free(&value);
}

void kvfs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct kvfs *fs = fuse_req_userdata(req);
	struct kv_buf names = {0};
	pthread_mutex_lock(&fs->lock);
	struct node *n = node_by_ino(fs, ino);
	int r = n ? 0 : -ENOENT;
	static const char *const all[] = {XATTR_KEY, XATTR_VERSIONSTAMP,
					  XATTR_TYPE, XATTR_EXPIRES,
					  KVFS_PTR_SKIPPED_XATTR};
	for (size_t i = 0; r == 0 && i < sizeof(all) / sizeof(*all); i++) {
		struct kv_buf v = {0};
		if (getxattr_locked(fs, n, all[i], &v) == 0)
			r = kv_buf_append(&names, all[i], strlen(all[i]) + 1);
		kv_buf_free(&v);
	}
	pthread_mutex_unlock(&fs->lock);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		reply_value(req, (char *)names.data, names.len, size);
	kv_buf_free(&names);
}

/* Rewrite a key's value as its text parsed as another type. */
static int retype(struct kvfs *fs, struct node *n, enum kv_encoding type)
{
	struct key_info ki;
	int r = key_info_load(fs, n->key.data, n->key.len, &ki);
	if (r == 0 && !ki.has_value)
		r = -ENOENT;
	if (r == 0)
		r = key_info_render(&ki);
	if (r == 0 && !ki.writable)
		r = -EACCES;
	if (r == 0)
		r = ops_commit_content(fs, n->key.data, n->key.len,
				       &ki.rendering, true, type,
				       ki.entry.expires_at_ms);
	key_info_free(&ki);
	return r;
}

/*
 * Set (or clear, with -1) the expiry of a key. The stored bytes are written
 * back as they are, not re-encoded from their text, so that this works on
 * read-only values too; the file keeps its times.
 */
static int set_expiry(struct kvfs *fs, struct node *n, int64_t expires_at_ms)
{
	struct kv_entry e;
	int r = kv_store_get(fs->store, n->key.data, n->key.len, &e);
	if (r < 0)
		return r;
	struct kv_mutation m = {
		.type = KV_MUT_SET,
		.key = e.key,
		.key_len = e.key_len,
		.encoding = e.encoding,
		.value = e.value ? e.value : (const uint8_t *)"",
		.value_len = e.value_len,
		.expire_in_ms = ops_expire_in(expires_at_ms),
	};
	struct kv_atomic a = {.mutations = &m, .n_mutations = 1};
	uint8_t vs[KV_VERSIONSTAMP_LEN];
	r = kv_store_commit(fs->store, &a, vs);
	if (r == 0) {
		refresh_own_commit(fs, vs);
		times_carry(fs, e.key, e.key_len, e.versionstamp, e.key,
			    e.key_len, vs);
		nodes_committed(fs, e.key, e.key_len, vs);
	}
	kv_entry_free(&e);
	return r;
}

static int setxattr_locked(struct kvfs *fs, struct node *n, const char *name,
			   const char *value, size_t size, int flags)
{
	if (!is_value_node(n)) {
		bool known = strcmp(name, XATTR_KEY) == 0 ||
			     strcmp(name, XATTR_TYPE) == 0 ||
			     strcmp(name, XATTR_EXPIRES) == 0 ||
			     strcmp(name, XATTR_VERSIONSTAMP) == 0;
		return known ? -EPERM : -ENOTSUP;
	}
	if (fs->opt.read_only)
		return -EROFS;
	if (strcmp(name, XATTR_TYPE) == 0) {
		enum kv_encoding type;
		if (type_parse(value, size, &type) < 0)
			return -EINVAL;
		struct kv_entry e;
		int r = n->pending ? -ENOENT
				   : kv_store_get(fs->store, n->key.data,
						  n->key.len, &e);
		if (r == -ENOENT ||
		    (r == 0 && !kv_value_keeps_type(e.encoding, e.value_len))) {
			/* Nothing to convert yet: the next content written
			 * is parsed as this type. */
			if (r == 0)
				kv_entry_free(&e);
			n->type_set = true;
			n->type = type;
			return 0;
		}
		if (r < 0)
			return r;
		bool same = e.encoding == type;
		kv_entry_free(&e);
		return same ? 0 : retype(fs, n, type);
	}
	if (strcmp(name, XATTR_EXPIRES) == 0) {
		int64_t at;
		if (iso_parse(value, size, &at) < 0)
			return -EINVAL;
		if (n->pending)
			return -ENOENT;
		return set_expiry(fs, n, at);
	}
	(void)flags;
	if (strcmp(name, XATTR_KEY) == 0 ||
	    strcmp(name, XATTR_VERSIONSTAMP) == 0)
		return -EPERM;
	return -ENOTSUP;
}

void kvfs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		   const char *value, size_t size, int flags)
{
	struct kvfs *fs = fuse_req_userdata(req);
	pthread_mutex_lock(&fs->lock);
	struct node *n = node_by_ino(fs, ino);
	int r = n ? setxattr_locked(fs, n, name, value, size, flags) : -ENOENT;
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_err(req, -r);
}

void kvfs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct kvfs *fs = fuse_req_userdata(req);
	pthread_mutex_lock(&fs->lock);
	struct node *n = node_by_ino(fs, ino);
	int r = n ? 0 : -ENOENT;
	if (r == 0 && strcmp(name, XATTR_EXPIRES) == 0 && is_value_node(n) &&
	    !n->pending)
		r = fs->opt.read_only ? -EROFS
				      : set_expiry(fs, n, -1);
	else if (r == 0)
		r = strncmp(name, XATTR_PREFIX, strlen(XATTR_PREFIX)) == 0
			    ? -EPERM
			    : -ENODATA;
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_err(req, -r);
}
