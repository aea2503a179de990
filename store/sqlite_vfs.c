/*
 * sqlite_vfs.c — a shim over SQLite's default VFS whose one job is to hand
 * a transaction's WAL frames to the kernel in one write call.
 *
 * Why: SQLite writes each WAL frame as two pwrite()s, its 24-byte header
 * and then its page, and a commit of one small value writes three frames
 * (the kv leaf, the expiration index leaf, data_version): six system
 * calls, on a machine where each one traps to the hypervisor. The shim
 * copies a WAL write that continues the run it holds into a 64 KiB buffer
 * and writes the run out, as one write to the same offsets, as soon as
 * anything other than such a write happens.
 *
 * When a run is written out: before any other call on the WAL file —
 * above all xSync, which under synchronous=FULL (set by sqlite_engine.c,
 * as Deno runs) comes between a commit's frames and the wal-index update
 * that lets another process read them, so that update never points past
 * what is in the file. Also before every shared-memory call on the main
 * database file, the calls around which the wal-index and its locks change
 * hands: SQLite may spill pages to the WAL before a commit, and if that
 * transaction rolls back, nothing else touches the WAL before the write
 * lock is let go. Those frames are written while the lock is still held,
 * as the default VFS would have written them, never later over the frames
 * of another writer. Only the main database file and its WAL are wrapped:
 * every other file is the real VFS's own object.
 *
 * Durability is unchanged: frames are durable after xSync, which still
 * comes after every byte of them is written. A process killed with a run
 * held loses frames that were neither synced nor published, so not
 * committed; recovery ignores them as it ignores a torn tail.
 *
 * Errors: a run is written by the real file's xWrite, so a failure carries
 * the code the default VFS gives a write (SQLITE_FULL for ENOSPC, else
 * SQLITE_IOERR_WRITE; a short write is continued), and the run is dropped
 * as a failed write would be. The WAL call that wrote the run returns the
 * error. A shared-memory call cannot hand SQLite an error it acts on, so
 * the error of a run it wrote waits for the WAL's next call: a transaction
 * whose frames were lost cannot go on to commit.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "sqlite_vfs.h"

#define VFS_NAME "kvfs-wal"
/* A one-value commit is three 4 KiB frames; 15 fit. */
#define RUN_CAP (64 * 1024)

/* Consecutive WAL writes not yet in the file. */
struct wal_run {
	sqlite3_int64 offset;
	int len;
	int error; /* of a run a shared-memory call wrote: for the next call */
	unsigned char data[RUN_CAP];
};

/*
 * A wrapped file; the real VFS's file object follows it in the same
 * allocation (the shim's szOsFile covers both).
 */
struct shim_file {
	sqlite3_file base;
	struct shim_file *peer; /* a main database file's WAL, and back */
	struct wal_run *run;	/* the WAL's own; NULL for the database file */
};

static sqlite3_vfs *real_vfs;
static sqlite3_vfs shim_vfs;
static pthread_once_t registered = PTHREAD_ONCE_INIT;

static struct shim_file *shim(sqlite3_file *file)
{
	return (struct shim_file *)file;
}

static sqlite3_file *real(struct shim_file *f)
{
	return (sqlite3_file *)(f + 1);
}

static const sqlite3_io_methods *real_methods(struct shim_file *f)
{
	return real(f)->pMethods;
}

/* Write the run out, and take any error left waiting for this call. */
static int run_write_out(struct shim_file *wal)
{
	struct wal_run *r = wal->run;
	int rc = r->error;

	r->error = SQLITE_OK;
	if (r->len > 0 && rc == SQLITE_OK)
		rc = real_methods(wal)->xWrite(real(wal), r->data, r->len,
					       r->offset);
	r->len = 0;
	return rc;
}

/* Before a call on f itself: a WAL's run goes first. */
static int settle(struct shim_file *f)
{
	return f->run ? run_write_out(f) : SQLITE_OK;
}

/* Before a shared-memory call on either file of the pair. */
static void publish(struct shim_file *f)
{
	struct shim_file *wal = f->run ? f : f->peer;

	if (wal && wal->run->len > 0)
		wal->run->error = run_write_out(wal);
}

static bool run_continues(const struct wal_run *r, int amt,
			  sqlite3_int64 offset)
{
	return offset == r->offset + r->len && amt <= RUN_CAP - r->len;
}

static int shim_write(sqlite3_file *file, const void *data, int amt,
		      sqlite3_int64 offset)
{
	struct shim_file *f = shim(file);
	struct wal_run *r = f->run;

	if (!r)
		return real_methods(f)->xWrite(real(f), data, amt, offset);
	if (!run_continues(r, amt, offset)) {
		int rc = run_write_out(f);
		if (rc != SQLITE_OK)
			return rc;
		if (amt > RUN_CAP)
			return real_methods(f)->xWrite(real(f), data, amt,
						       offset);
		r->offset = offset;
	}
	memcpy(r->data + r->len, data, (size_t)amt);
	r->len += amt;
	return SQLITE_OK;
}

static int shim_close(sqlite3_file *file)
{
	struct shim_file *f = shim(file);
	int rc = settle(f);
	int closed = real_methods(f)->xClose(real(f));

	if (f->peer)
		f->peer->peer = NULL;
	free(f->run);
	return rc != SQLITE_OK ? rc : closed;
}

static int shim_read(sqlite3_file *file, void *buf, int amt,
		     sqlite3_int64 offset)
{
	struct shim_file *f = shim(file);
	int rc = settle(f);

	return rc != SQLITE_OK ? rc
			       : real_methods(f)->xRead(real(f), buf, amt,
							offset);
}

static int shim_truncate(sqlite3_file *file, sqlite3_int64 size)
{
	struct shim_file *f = shim(file);
	int rc = settle(f);

	return rc != SQLITE_OK ? rc : real_methods(f)->xTruncate(real(f), size);
}

static int shim_sync(sqlite3_file *file, int flags)
{
	struct shim_file *f = shim(file);
	int rc = settle(f);

	return rc != SQLITE_OK ? rc : real_methods(f)->xSync(real(f), flags);
}

static int shim_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
	struct shim_file *f = shim(file);
	int rc = settle(f);

	return rc != SQLITE_OK ? rc
			       : real_methods(f)->xFileSize(real(f), size);
}

static int shim_lock(sqlite3_file *file, int level)
{
	struct shim_file *f = shim(file);
	int rc = settle(f);

	return rc != SQLITE_OK ? rc : real_methods(f)->xLock(real(f), level);
}

/* A release goes through even when the run failed: no lock is kept. */
static int shim_unlock(sqlite3_file *file, int level)
{
	struct shim_file *f = shim(file);
	int rc = settle(f);
	int unlocked = real_methods(f)->xUnlock(real(f), level);

	return rc != SQLITE_OK ? rc : unlocked;
}

static int shim_check_reserved_lock(sqlite3_file *file, int *out)
{
	struct shim_file *f = shim(file);
	int rc = settle(f);

	return rc != SQLITE_OK
		       ? rc
		       : real_methods(f)->xCheckReservedLock(real(f), out);
}

static int shim_file_control(sqlite3_file *file, int op, void *arg)
{
	struct shim_file *f = shim(file);
	int rc = settle(f);

	return rc != SQLITE_OK
		       ? rc
		       : real_methods(f)->xFileControl(real(f), op, arg);
}

/* The device's properties, not the file's bytes: nothing to settle. */
static int shim_sector_size(sqlite3_file *file)
{
	struct shim_file *f = shim(file);

	return real_methods(f)->xSectorSize(real(f));
}

static int shim_device_characteristics(sqlite3_file *file)
{
	struct shim_file *f = shim(file);

	return real_methods(f)->xDeviceCharacteristics(real(f));
}

static int shim_shm_map(sqlite3_file *file, int region, int size, int extend,
			void volatile **out)
{
	struct shim_file *f = shim(file);

	publish(f);
	return real_methods(f)->xShmMap(real(f), region, size, extend, out);
}

static int shim_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
	struct shim_file *f = shim(file);

	publish(f);
	return real_methods(f)->xShmLock(real(f), offset, n, flags);
}

static void shim_shm_barrier(sqlite3_file *file)
{
	struct shim_file *f = shim(file);

	publish(f);
	real_methods(f)->xShmBarrier(real(f));
}

static int shim_shm_unmap(sqlite3_file *file, int delete_flag)
{
	struct shim_file *f = shim(file);

	publish(f);
	return real_methods(f)->xShmUnmap(real(f), delete_flag);
}

static int shim_fetch(sqlite3_file *file, sqlite3_int64 offset, int amt,
		      void **out)
{
	struct shim_file *f = shim(file);
	int rc = settle(f);

	return rc != SQLITE_OK
		       ? rc
		       : real_methods(f)->xFetch(real(f), offset, amt, out);
}

static int shim_unfetch(sqlite3_file *file, sqlite3_int64 offset, void *p)
{
	struct shim_file *f = shim(file);
	int rc = settle(f);
	int released = real_methods(f)->xUnfetch(real(f), offset, p);

	return rc != SQLITE_OK ? rc : released;
}

/* SQLite calls a method only if the table's iVersion has it, so each
 * wrapped file gets the table of its real file's version. */
#define SHIM_METHODS(version)                                                 \
	{                                                                     \
		.iVersion = (version), .xClose = shim_close,                  \
		.xRead = shim_read, .xWrite = shim_write,                     \
		.xTruncate = shim_truncate, .xSync = shim_sync,               \
		.xFileSize = shim_file_size, .xLock = shim_lock,              \
		.xUnlock = shim_unlock,                                       \
		.xCheckReservedLock = shim_check_reserved_lock,               \
		.xFileControl = shim_file_control,                            \
		.xSectorSize = shim_sector_size,                              \
		.xDeviceCharacteristics = shim_device_characteristics,        \
		.xShmMap = shim_shm_map, .xShmLock = shim_shm_lock,           \
		.xShmBarrier = shim_shm_barrier,                              \
		.xShmUnmap = shim_shm_unmap, .xFetch = shim_fetch,            \
		.xUnfetch = shim_unfetch,                                     \
	}

static const sqlite3_io_methods shim_methods[] = {
	SHIM_METHODS(1),
	SHIM_METHODS(2),
	SHIM_METHODS(3),
};

#define N_VERSIONS ((int)(sizeof(shim_methods) / sizeof(shim_methods[0])))

static bool is_shim(const sqlite3_file *file)
{
	for (int i = 0; i < N_VERSIONS; i++) {
		if (file->pMethods == &shim_methods[i])
			return true;
	}
	return false;
}

static const sqlite3_io_methods *methods_for(struct shim_file *f)
{
	int v = real_methods(f)->iVersion;

	return &shim_methods[(v < 1 ? 1 : v > N_VERSIONS ? N_VERSIONS : v) - 1];
}

/* A WAL's name leads SQLite back to its database file's object. */
static void pair_with_database(struct shim_file *wal, const char *name)
{
	sqlite3_file *db = sqlite3_database_file_object(name);

	if (db && is_shim(db)) {
		wal->peer = shim(db);
		shim(db)->peer = wal;
	}
}

static int shim_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file,
		     int flags, int *out_flags)
{
	struct shim_file *f = shim(file);
	bool wal = flags & SQLITE_OPEN_WAL;

	(void)vfs;
	if (!wal && !(flags & SQLITE_OPEN_MAIN_DB))
		return real_vfs->xOpen(real_vfs, name, file, flags, out_flags);
	*f = (struct shim_file){ 0 };
	real(f)->pMethods = NULL;
	if (wal) {
		f->run = calloc(1, sizeof(*f->run));
		if (!f->run)
			return SQLITE_NOMEM;
	}
	int rc = real_vfs->xOpen(real_vfs, name, real(f), flags, out_flags);
	if (rc != SQLITE_OK) {
		/* A real file that failed but has methods wants its xClose,
		 * and SQLite will not call ours. */
		if (real(f)->pMethods)
			real(f)->pMethods->xClose(real(f));
		free(f->run);
		f->run = NULL;
		return rc;
	}
	f->base.pMethods = methods_for(f);
	if (wal)
		pair_with_database(f, name);
	return SQLITE_OK;
}

/*
 * The shim is a copy of the default VFS with its own name, file size and
 * xOpen: every other method is the real VFS's own, and the copy keeps the
 * pAppData and mxPathname those methods may read.
 */
static void register_shim(void)
{
	real_vfs = sqlite3_vfs_find(NULL);
	if (!real_vfs)
		return;
	shim_vfs = *real_vfs;
	shim_vfs.pNext = NULL;
	shim_vfs.zName = VFS_NAME;
	shim_vfs.szOsFile = (int)sizeof(struct shim_file) + real_vfs->szOsFile;
	shim_vfs.xOpen = shim_open;
	if (sqlite3_vfs_register(&shim_vfs, 0) != SQLITE_OK)
		real_vfs = NULL;
}

const char *kv_sqlite_wal_vfs(void)
{
	pthread_once(&registered, register_shim);
	return real_vfs ? VFS_NAME : NULL;
}
