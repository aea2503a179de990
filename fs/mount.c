/*
 * mount.c — `kvfs mount DB MOUNTPOINT [-f] [-o options]`: parse options,
 * open the store, serve FUSE requests on several threads, follow other
 * processes' writes (kvfs-spec §7), and commit every open file before the
 * daemon exits.
 */
#include <errno.h>
#include <fuse_lowlevel.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "commands.h"
#include "daemon.h"
#include "name.h"
#include "keyopts.h"

/* Editors' and tools' temporary files, kept in memory (kvfs-spec §2):
 * vim's swap files and its write test 4913, backups, emacs locks, and the
 * temporary files of sed -i and rsync. */
#define DEFAULT_SCRATCH "*.swp:*.swx:*.swo:*~:4913:.#*:sed??????:.*.??????"

struct mount_args {
	char *db;
	char *mountpoint;
	char *scratch;
	char *max_value_size;
	char *refresh;
	char *entry_timeout;
	char *attr_timeout;
	char *umask;
	char *uid;
	char *gid;
	char *pointers; /* every pointers= option, joined by ';' */
	int read_only;
	int foreground;
	int help;
};

/* pointers= may be given several times: each adds rules. */
enum { KEY_POINTERS = 1 };

#define ARG(t, p) {t, offsetof(struct mount_args, p), 1}
static const struct fuse_opt mount_opts[] = {
	ARG("scratch=%s", scratch),
	ARG("max_value_size=%s", max_value_size),
	ARG("refresh=%s", refresh),
	ARG("entry_timeout=%s", entry_timeout),
	ARG("attr_timeout=%s", attr_timeout),
	ARG("umask=%s", umask),
	ARG("uid=%s", uid),
	ARG("gid=%s", gid),
	{"-f", offsetof(struct mount_args, foreground), 1},
	{"-h", offsetof(struct mount_args, help), 1},
	{"--help", offsetof(struct mount_args, help), 1},
	FUSE_OPT_KEY("ro", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("pointers=", KEY_POINTERS),
	KEYOPTS_FUSE_OPTS,
	FUSE_OPT_END,
};

static int mount_opt_proc(void *data, const char *arg, int key,
			  struct fuse_args *outargs)
{
	(void)outargs;
	struct mount_args *a = data;
	if (keyopts_take_fuse(arg, key))
		return 0;
	if (key == FUSE_OPT_KEY_NONOPT) {
		if (!a->db)
			return (a->db = strdup(arg)) ? 0 : -1;
		if (!a->mountpoint)
			return (a->mountpoint = strdup(arg)) ? 0 : -1;
		fprintf(stderr, "kvfs mount: unexpected argument '%s'\n", arg);
		return -1;
	}
	if (key == FUSE_OPT_KEY_OPT && strcmp(arg, "ro") == 0)
		a->read_only = 1;
	if (key == KEY_POINTERS) {
		const char *rules = arg + strlen("pointers=");
		char *all = a->pointers;
		if (asprintf(&a->pointers, "%s;%s", all ? all : "", rules) < 0)
			a->pointers = NULL;
		free(all);
		return a->pointers ? 0 : -1;
	}
	return 1;
}

static const char mount_usage[] =
	"usage: kvfs mount DB MOUNTPOINT [-f] [-o OPTION[,OPTION...]]\n"
	"\n"
	"Mount the Deno KV store DB (created when absent) at MOUNTPOINT.\n"
	"\n"
	"  -f                      stay in the foreground\n"
	"  -o max_value_size=N     largest stored value in bytes (<= 65536)\n"
	"  -o scratch=P1:P2        patterns of editor scratch files kept in\n"
	"                          memory (default " DEFAULT_SCRATCH ")\n"
	"  -o refresh=SECONDS      how often other writers are looked for (0.25)\n"
	"  -o entry_timeout=S, attr_timeout=S   kernel cache times (1.0)\n"
	"  -o ro                   read-only\n"
	"  -o pointers=PAT=TARGET[;...]  pointer-list rules for this mount\n"
	"                          (docs/pointers.md); may be repeated\n"
	"  -o allow_other, default_permissions  as for any FUSE mount\n"
	"  -o umask=OCTAL, uid=N, gid=N         ownership and modes shown\n"
	KEYOPTS_HELP "  (or -o passphrase_file=FILE,key_file=FILE, as in fstab)\n";

static int parse_number(const char *text, const char *what, double min,
			double max, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(text, &end);
	if (errno || end == text || *end || !isfinite(v) || v < min ||
	    v > max) {
		fprintf(stderr, "kvfs mount: bad %s '%s'\n", what, text);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int options_from_args(const struct mount_args *a,
			     struct kvfs_options *o)
{
	*o = (struct kvfs_options){
		.max_value_size = KV_MAX_VALUE,
		.refresh_s = 0.25,
		.entry_timeout = 1.0,
		.attr_timeout = 1.0,
		.read_only = a->read_only,
		.foreground = a->foreground,
		.uid = getuid(),
		.gid = getgid(),
		.umask = 022,
	};
	double v;
	if (a->max_value_size) {
		if (parse_number(a->max_value_size, "max_value_size", 0,
				 KV_MAX_VALUE, &v) < 0 || v != floor(v))
			return -EINVAL;
		o->max_value_size = (size_t)v;
	}
	if (a->refresh) {
		if (parse_number(a->refresh, "refresh", 0.01, 3600, &v) < 0)
			return -EINVAL;
		o->refresh_s = v;
	}
	if (a->entry_timeout &&
	    parse_number(a->entry_timeout, "entry_timeout", 0, 86400,
			 &o->entry_timeout) < 0)
		return -EINVAL;
	if (a->attr_timeout &&
	    parse_number(a->attr_timeout, "attr_timeout", 0, 86400,
			 &o->attr_timeout) < 0)
		return -EINVAL;
	if (a->umask) {
		char *end;
		unsigned long m = strtoul(a->umask, &end, 8);
		if (*end || end == a->umask || m > 0777) {
			fprintf(stderr, "kvfs mount: bad umask '%s'\n",
				a->umask);
			return -EINVAL;
		}
		o->umask = m;
	}
	if (a->uid) {
		if (parse_number(a->uid, "uid", 0, 4294967294.0, &v) < 0)
			return -EINVAL;
		o->uid = (uid_t)v;
	}
	if (a->gid) {
		if (parse_number(a->gid, "gid", 0, 4294967294.0, &v) < 0)
			return -EINVAL;
		o->gid = (gid_t)v;
	}
	return scratch_set_compile(a->scratch ? a->scratch : DEFAULT_SCRATCH,
				   &o->scratch);
}

/* ---- following other writers ------------------------------------------ */

struct inval {
	fuse_ino_t ino;
	fuse_ino_t parent;
	char *name; /* an entry to drop, or NULL for the inode's data */
};

struct inval_list {
	struct inval *v;
	size_t n, cap;
};

static void inval_add(struct inval_list *l, fuse_ino_t ino, fuse_ino_t parent,
		      const char *name)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		struct inval *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return;
		l->v = v;
		l->cap = cap;
	}
	char *copy = name ? strdup(name) : NULL;
	if (name && !copy)
		return;
	l->v[l->n++] = (struct inval){ino, parent, copy};
}

/* The directory a node is listed in, with the name it has there. */
static struct node *listed_in(struct kvfs *fs, const struct node *n,
			      struct kv_buf *name)
{
	if (n->kind == NODE_VALUE) {
		if (kv_buf_append(name, KVFS_NAME_VALUE,
				  sizeof(KVFS_NAME_VALUE)) < 0)
			return NULL;
		name->len--; /* NUL-terminated, as child_name writes */
		return node_find(fs, NODE_DIR, n->key.data, n->key.len, NULL);
	}
	size_t parent_len = 0;
	while (parent_len < n->key.len) {
		long span = kv_part_span(n->key.data + parent_len,
					 n->key.len - parent_len);
		if (span <= 0 || parent_len + span >= n->key.len)
			break;
		parent_len += span;
	}
	struct child c = {.kind = n->kind, .key = n->key.data,
			  .key_len = n->key.len};
	if (child_name(&c, parent_len, name) < 0)
		return NULL;
	return node_find(fs, NODE_DIR, n->key.data, parent_len, NULL);
}

/*
 * Decide which nodes another writer may have changed: a file whose value
 * changed or vanished, and every directory, whose listing may have. A node
 * that is no longer what the kernel thinks (a file that became a
 * directory, a directory whose keys are all gone) is dropped from its
 * directory too, so that the next lookup finds what it is now.
 */
static void check_node(struct kvfs *fs, struct node *n, void *arg)
{
	struct inval_list *l = arg;
	/* A removed link goes with its entry timeout: checking every link
	 * of a long list would read the list once per link. */
	if (!n->attached || n->kind == NODE_SCRATCH || n->kind == NODE_LINK ||
	    n->pending)
		return;
	if (!n->key.len) { /* the root: only its listing changes */
		inval_add(l, n->ino, 0, NULL);
		return;
	}
	struct key_info ki;
	if (key_info_load(fs, n->key.data, n->key.len, &ki) < 0)
		return;
	bool gone, changed;
	if (n->kind == NODE_DIR) {
		gone = !ki.is_dir;
		changed = true;
	} else {
		gone = !ki.has_value || (n->kind == NODE_FILE && ki.is_dir);
		changed = gone || !n->seen_exists ||
			  memcmp(ki.entry.versionstamp, n->seen_vs,
				 KV_VERSIONSTAMP_LEN) != 0;
	}
	key_info_free(&ki);
	if (changed) {
		rendered_drop(fs, n);
		inval_add(l, n->ino, 0, NULL);
	}
	if (!gone)
		return;
	struct kv_buf name = {0};
	struct node *dir = listed_in(fs, n, &name);
	if (dir)
		inval_add(l, 0, dir->ino, (char *)name.data);
	kv_buf_free(&name);
}

void refresh_own_commit(struct kvfs *fs,
			const uint8_t vs[KV_VERSIONSTAMP_LEN])
{
	uint64_t start;

	/* Our transaction started from the version accounted for: no other
	 * writer's commit lies between, whatever the step. Otherwise (or
	 * when the store no longer knows) the refresher looks, and the
	 * directories made through the mount no longer know their keys. */
	fs->changes++;
	if (kv_store_commit_start(fs->store, vs, &start) == 0 &&
	    start == fs->seen_version)
		fs->seen_version = vs_version(vs);
	else
		fs->known_epoch++;
}

/* A node whose value our own commit changed, with no reply telling the
 * kernel (a rename onto it, a retype): its cached size and pages go. */
static void tell_stale(struct kvfs *fs, struct node *n, void *arg)
{
	if (!n->stale)
		return;
	inval_add(arg, n->ino, 0, NULL);
	node_told(fs, n);
}

static void refresh_once(struct kvfs *fs)
{
	uint64_t version;
	struct inval_list l = {0};
	pthread_mutex_lock(&fs->lock);
	if (fs->n_stale)
		nodes_each(fs, tell_stale, &l);
	int r = kv_store_data_version(fs->store, &version);
	if (r == 0 && version != fs->seen_version) {
		fs->seen_version = version;
		fs->changes++;
		fs->known_epoch++;
		nodes_each(fs, check_node, &l);
	}
	pthread_mutex_unlock(&fs->lock);
	/* Outside the lock: the kernel may call back into us meanwhile. */
	for (size_t i = 0; i < l.n; i++) {
		if (l.v[i].name)
			fuse_lowlevel_notify_inval_entry(
				fs->se, l.v[i].parent, l.v[i].name,
				strlen(l.v[i].name));
		else
			fuse_lowlevel_notify_inval_inode(fs->se, l.v[i].ino,
							 0, 0);
		free(l.v[i].name);
	}
	free(l.v);
}

static bool sleep_or_stop(struct kvfs *fs, double seconds)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	double whole = floor(seconds);
	until.tv_sec += (time_t)whole;
	until.tv_nsec += (long)((seconds - whole) * 1e9);
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&fs->stop_lock);
	while (!fs->stopping &&
	       pthread_cond_timedwait(&fs->stop_cond, &fs->stop_lock,
				      &until) != ETIMEDOUT)
		;
	bool stopping = fs->stopping;
	pthread_mutex_unlock(&fs->stop_lock);
	return stopping;
}

/* Deno sweeps expired keys every minute; so do we while mounted. */
enum { SWEEP_INTERVAL_MS = 60000 };

static void *refresher(void *arg)
{
	struct kvfs *fs = arg;
	int64_t next_sweep = now_ms();
	while (!sleep_or_stop(fs, fs->opt.refresh_s)) {
		if (!fs->opt.read_only && now_ms() >= next_sweep) {
			pthread_mutex_lock(&fs->lock);
			kv_store_sweep(fs->store, NULL);
			pthread_mutex_unlock(&fs->lock);
			next_sweep = now_ms() + SWEEP_INTERVAL_MS;
		}
		refresh_once(fs);
	}
	return NULL;
}

/* Commit what open files still hold: the daemon is going away. */
static void commit_open_files(struct kvfs *fs)
{
	pthread_mutex_lock(&fs->lock);
	for (struct handle *h = fs->handles; h; h = h->next) {
		if (!h->dirty || h->failed || !h->node->attached ||
		    h->node->kind == NODE_SCRATCH)
			continue;
		bool typed;
		enum kv_encoding enc;
		ops_handle_type(h, &typed, &enc);
		int r = ops_commit_content(fs, h->node->key.data,
					   h->node->key.len, &h->content,
					   typed, enc, h->expires_at_ms);
		if (r < 0)
			syslog(LOG_ERR, "kvfs: an open file could not be "
			       "committed at unmount: %s", strerror(-r));
		h->dirty = false;
	}
	pthread_mutex_unlock(&fs->lock);
}

static void kvfs_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	/* Writes must reach us one by one, so that EFBIG is the error of
	 * the write() that crosses the limit. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

static int serve(struct kvfs *fs, struct fuse_args *args, const char *mnt)
{
	struct fuse_lowlevel_ops ops = kvfs_ops;
	ops.init = kvfs_init;
	fs->se = fuse_session_new(args, &ops, sizeof(ops), fs);
	if (!fs->se)
		return -EINVAL;
	int r = -EIO;
	if (fuse_set_signal_handlers(fs->se) != 0)
		goto out_session;
	if (fuse_session_mount(fs->se, mnt) != 0) {
		fprintf(stderr,
			"kvfs mount: cannot mount on %s. If a kvfs daemon died "
			"there, clear it with: fusermount3 -u %s\n",
			mnt, mnt);
		goto out_signals;
	}
	if (fuse_daemonize(fs->opt.foreground) != 0)
		goto out_unmount;
	/* SQLite's locks belong to a process and do not survive a fork:
	 * the store is opened only now, in the process that serves. */
	r = kv_store_open(fs->db, &fs->store_options, &fs->store);
	if (r < 0) {
		syslog(LOG_ERR, "kvfs: cannot open %s: %s", fs->db,
		       strerror(-r));
		goto out_unmount;
	}
	if (kv_store_data_version(fs->store, &fs->mount_version) < 0)
		fs->mount_version = 0;
	fs->seen_version = fs->mount_version;
	if (pthread_create(&fs->refresher, NULL, refresher, fs) == 0)
		fs->refresher_started = true;
	/* The loop ends cleanly on an unmount and on SIGTERM, SIGINT or
	 * SIGHUP (libfuse's signal handlers end the session). */
	r = loop_run(fs->se, 16) < 0 ? -EIO : 0;

	pthread_mutex_lock(&fs->stop_lock);
	fs->stopping = true;
	pthread_cond_broadcast(&fs->stop_cond);
	pthread_mutex_unlock(&fs->stop_lock);
	if (fs->refresher_started)
		pthread_join(fs->refresher, NULL);
	commit_open_files(fs);
out_unmount:
	fuse_session_unmount(fs->se);
out_signals:
	fuse_remove_signal_handlers(fs->se);
out_session:
	fuse_session_destroy(fs->se);
	return r;
}

/*
 * The serving process may run in "/" (fuse_daemonize changes to it), so a
 * store named by a path is opened by its absolute path (the file exists
 * once the store has been opened here); one named by a URL (etcd://...)
 * is used as given.
 */
static char *store_location(const char *db)
{
	if (strstr(db, "://"))
		return strdup(db);
	return realpath(db, NULL);
}

int cmd_mount(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct mount_args a = {0};
	struct kvfs fs = {0};
	char *db_path = NULL;
	int status = 1;
	if (fuse_opt_parse(&args, &a, mount_opts, mount_opt_proc) != 0)
		goto out;
	if (a.help) {
		fputs(mount_usage, stdout);
		status = 0;
		goto out;
	}
	if (!a.db || !a.mountpoint) {
		fputs(mount_usage, stderr);
		status = 2;
		goto out;
	}
	if (options_from_args(&a, &fs.opt) < 0) {
		status = 2;
		goto out;
	}
	/* In the foreground the log (damaged rows, failed commits at close)
	 * goes to stderr as well as to syslog. */
	openlog("kvfs", LOG_PID | (fs.opt.foreground ? LOG_PERROR : 0),
		LOG_DAEMON);
	fs.store_options = (struct kv_store_options){
		.read_only = fs.opt.read_only,
		.create = !fs.opt.read_only,
		.max_value_size = fs.opt.max_value_size,
	};
	/* Open once here, so that a bad DB is reported on the terminal. */
	int r = keyopts_open(a.db, &fs.store_options, &fs.store);
	if (r < 0) {
		fprintf(stderr, "kvfs mount: cannot open %s: %s\n", a.db,
			keyopts_reason(r));
		goto out;
	}
	r = ptr_init(&fs, a.pointers, a.mountpoint);
	if (r < 0) {
		kv_store_close(fs.store);
		fs.store = NULL;
		status = r == -EINVAL ? 2 : 1;
		goto out;
	}
	if (kv_store_read_only(fs.store)) {
		fs.opt.read_only = true;
		fs.store_options.read_only = true;
		fs.store_options.create = false;
	}
	kv_store_close(fs.store);
	fs.store = NULL;
	db_path = store_location(a.db);
	if (!db_path) {
		fprintf(stderr, "kvfs mount: %s: %s\n", a.db, strerror(errno));
		goto out;
	}
	fs.db = db_path;
	pthread_mutex_init(&fs.lock, NULL);
	pthread_mutex_init(&fs.stop_lock, NULL);
	pthread_cond_init(&fs.stop_cond, NULL);
	clock_gettime(CLOCK_REALTIME, &fs.mount_time);
	if (nodes_init(&fs) < 0) {
		fputs("kvfs mount: out of memory\n", stderr);
		goto out_nodes;
	}
	if (fs.opt.read_only && fuse_opt_add_arg(&args, "-oro") != 0)
		goto out_nodes;
	if (fuse_opt_add_arg(&args, "-osubtype=kvfs") != 0 ||
	    fuse_opt_add_arg(&args, "-ofsname=kvfs") != 0)
		goto out_nodes;
	status = serve(&fs, &args, a.mountpoint) == 0 ? 0 : 1;
out_nodes:
	nodes_destroy(&fs);
	pthread_cond_destroy(&fs.stop_cond);
	pthread_mutex_destroy(&fs.stop_lock);
	pthread_mutex_destroy(&fs.lock);
	kv_store_close(fs.store);
out:
	ptr_destroy(&fs);
	scratch_set_free(&fs.opt.scratch);
	free(db_path);
	free(a.db);
	free(a.mountpoint);
	free(a.scratch);
	free(a.max_value_size);
	free(a.refresh);
	free(a.entry_timeout);
	free(a.attr_timeout);
	free(a.umask);
	free(a.uid);
	free(a.gid);
	free(a.pointers);
	fuse_opt_free_args(&args);
	return status;
}
