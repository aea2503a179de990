/*
 * sqlite_vfs.h — the SQLite VFS that the store's connection opens its file
 * with (sqlite_vfs.c): SQLite's default VFS, but for a WAL whose
 * consecutive writes reach the file as one write call. Internal to store/.
 */
#ifndef KVFS_SQLITE_VFS_H
#define KVFS_SQLITE_VFS_H

/*
 * The name to give sqlite3_open_v2() as its zVfs: the shim, registered
 * (not as the default) on the first call. NULL if it could not be
 * registered: then the default VFS serves, which writes the same bytes,
 * only with more system calls.
 */
const char *kv_sqlite_wal_vfs(void);

#endif
