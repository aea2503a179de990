# tests/fs/lib.sh — the harness of the mounted-filesystem tests, sourced by
# each tests/fs/*.sh script.
#
# Every test is a shell function named test_<behaviour>. run_tests gives each
# one a fresh store mounted with the kvfs binary ($KVFS) in the foreground,
# runs the function in a subshell with `set -e` (so a test stops at its first
# failed check), and prints TAP: a plan line, then `ok N name` or
# `not ok N name` with the test's output and the daemon's log as `#` lines.
# After each test the store is unmounted with fusermount3 -u, and the daemon
# must then exit with status 0: a crash or a sanitizer report in the daemon
# fails the test that caused it. An EXIT trap unmounts and kills whatever is
# left, so nothing stays mounted even when the script is interrupted.
#
# Every test runs on a SQLite file, or with KVFS_TEST_STORE=etcd on a fresh
# prefix of an etcd cluster (tests/etcd/fs_store.sh): the checks read the
# store through the kvfs command line, the same on both.
#
# Inside a test:
#   $MNT  the mount point     $DB   the store (file or URL)   $T  a scratch dir
#   MOUNT_OPTIONS[test_name]="-o OPTS"  (set before run_tests) mounts that
#                          test's store with these options
#   SQLITE_ONLY[test_name]="WHY"  the test is about the SQLite file itself
#                          and is skipped on other engines, saying why
#   remount [-o OPTS]      unmount and mount the same store again
#   rows SQL               run SQL on a copy (kvfs copy) of the store's
#                          entries: table kv (k, v, v_encoding)
#   stored KEY             the value of a key (hex) as "v_encoding:hex"
#   meta PATH FIELD        a field of kvfs get --meta (versionstamp, ...)
#   db_set KEY V ENC [EXP] commit a row as another writer does (hex key and
#                          value, expiry in ms since the epoch)
#   count_commits, commits count the store's commits from now on
#   db SQL, db_get KEY     the same on the SQLite file itself (for
#                          SQLITE_ONLY tests and tests/reliability)
#   skey PART...           hex of the key made of these string parts
#   expect_eq ACTUAL EXPECTED [WHAT], fail MSG, skip REASON
#   expect_fails_with ERRNO CMD...  CMD fails and says strerror(ERRNO)
#   fsop ...               one syscall sequence, reporting errno names
set -u

: "${KVFS:?KVFS must be the path of the kvfs executable}"
FS_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FS_TMP=$(mktemp -d "${TMPDIR:-/tmp}/kvfs-fs.XXXXXX")
# Every daemon started, as "PID MOUNTPOINT" lines, for the EXIT trap.
FS_DAEMONS=$FS_TMP/daemons
: >"$FS_DAEMONS"
declare -A MOUNT_OPTIONS=()
# A test that hangs (a deadlocked daemon) is stopped after this long.
TEST_TIMEOUT=${KVFS_TEST_TIMEOUT:-60}
# The system's python starts in a tenth of the time of a pyenv shim.
PYTHON=${KVFS_PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}
export LC_ALL=C

# ---- mounting ------------------------------------------------------------

# The harness polls a lot, and a machine running several suites at once is
# short of CPU: polling uses shell builtins only. nap sleeps with read's
# timeout on a FIFO nobody writes to.
mkfifo "$FS_TMP/nap"
exec {NAP_FD}<>"$FS_TMP/nap"
nap()
{
	read -r -t "$1" -u "$NAP_FD" _ || true
}

# Whether MNT is a mount point now (mountpoint(1) stats it, which would hang
# on a dead daemon; /proc/self/mounts does not touch the filesystem).
is_mounted()
{
	local dev mnt rest
	while read -r dev mnt rest; do
		[ "$mnt" = "$1" ] && return 0
	done </proc/self/mounts
	return 1
}

# Abort the FUSE connection of mount point $1, as `fusermount3 -u` cannot
# when the daemon is stuck: every request in flight fails with ECONNABORTED.
# The connection's number is the minor of the mount's device, read from
# /proc/self/mountinfo (a stat would wait on the stuck daemon).
abort_connection()
{
	local id parent devno root mnt rest conn=
	while read -r id parent devno root mnt rest; do
		[ "$mnt" = "$1" ] && conn=${devno#*:}
	done </proc/self/mountinfo
	[ -n "$conn" ] || return 0
	local ctl=/sys/fs/fuse/connections
	[ -d "$ctl/$conn" ] || mount -t fusectl none "$ctl" 2>/dev/null || true
	echo 1 >"$ctl/$conn/abort" 2>/dev/null || true
}

# Start the daemon on $DB at $MNT with options "$@", its stderr appended to
# $LOG, and wait (at most 10 s) until the mount is up.
mount_store()
{
	mkdir -p "$MNT"
	rm -f "$T/kvfs.status"
	# A background job of a script ignores SIGINT; the daemon takes it
	# as it would in the foreground of a terminal.
	(
		env --default-signal=INT "$KVFS" mount "$DB" "$MNT" -f "$@" \
			2>>"$LOG" &
		echo $! >"$T/kvfs.pid"
		wait $!
		echo $? >"$T/kvfs.status"
	) &
	local i
	for ((i = 0; i < 1000; i++)); do
		if [ -s "$T/kvfs.pid" ] && is_mounted "$MNT"; then
			echo "$(cat "$T/kvfs.pid") $MNT" >>"$FS_DAEMONS"
			return 0
		fi
		if [ -s "$T/kvfs.status" ]; then
			echo "kvfs mount exited with status" \
				"$(cat "$T/kvfs.status")" >&2
			return 1
		fi
		nap 0.01
	done
	echo "kvfs mount: not mounted after 10 s" >&2
	return 1
}

# Wait until the daemon has exited, at most $2 seconds (default 10).
wait_daemon_exit()
{
	local pid=$1 limit=${2:-10} i
	for ((i = 0; i < limit * 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		nap 0.01
	done
	# The status is written by the wrapper just after the exit.
	for ((i = 0; i < 100; i++)); do
		[ -s "$T/kvfs.status" ] && return 0
		nap 0.01
	done
	return 1
}

# Unmount $MNT and require the daemon to exit with status 0.
unmount_store()
{
	local pid
	pid=$(cat "$T/kvfs.pid")
	if is_mounted "$MNT" && ! fusermount3 -u "$MNT"; then
		echo "fusermount3 -u $MNT failed" >&2
		return 1
	fi
	if ! wait_daemon_exit "$pid" 10; then
		echo "kvfs did not exit within 10 s of its unmount" >&2
		return 1
	fi
	local status
	status=$(cat "$T/kvfs.status")
	if [ "$status" != 0 ]; then
		echo "kvfs exited with status $status" >&2
		return 1
	fi
}

# Unmount and mount the same store again, with new options.
remount()
{
	unmount_store
	mount_store "$@"
}

# The EXIT trap: stop every daemon still running, lazily unmount whatever
# is still mounted, and remove the scratch files.
cleanup_all()
{
	local pid mnt
	while read -r pid mnt; do
		if is_mounted "$mnt"; then
			fusermount3 -u "$mnt" 2>/dev/null ||
				fusermount3 -uz "$mnt" 2>/dev/null
		fi
		if kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null
			sleep 0.5
			kill -KILL "$pid" 2>/dev/null
		fi
		is_mounted "$mnt" && fusermount3 -uz "$mnt" 2>/dev/null
	done <"$FS_DAEMONS"
	rm -rf "$FS_TMP"
}
trap cleanup_all EXIT
trap 'exit 130' INT TERM

# ---- checks --------------------------------------------------------------

fail()
{
	echo "FAIL: $*" >&2
	exit 1
}

skip()
{
	echo "SKIP: $*" >&2
	exit 77
}

expect_eq()
{
	if [ "$1" != "$2" ]; then
		fail "${3:-value}: expected '$2', got '$1'"
	fi
}

# The text strerror() gives for an errno name (EFBIG -> File too large).
strerror()
{
	case $1 in
	EACCES) echo "Permission denied" ;;
	EAGAIN) echo "Resource temporarily unavailable" ;;
	EEXIST) echo "File exists" ;;
	EFBIG) echo "File too large" ;;
	EINVAL) echo "Invalid argument" ;;
	EIO) echo "Input/output error" ;;
	ENODATA) echo "No data available" ;;
	ENOENT) echo "No such file or directory" ;;
	ENOTEMPTY) echo "Directory not empty" ;;
	EPERM) echo "Operation not permitted" ;;
	EROFS) echo "Read-only file system" ;;
	*) "$PYTHON" -c 'import errno, os, sys
print(os.strerror(getattr(errno, sys.argv[1])))' "$1" ;;
	esac
}

# Run a command that must fail, saying strerror(ERRNO) on stderr.
expect_fails_with()
{
	local name=$1 text err
	shift
	text=$(strerror "$name")
	if err=$("$@" 2>&1 >/dev/null); then
		fail "'$*' succeeded; expected $name"
	fi
	case "$err" in
	*"$text"*) ;;
	*) fail "'$*' failed with '$err'; expected $name ($text)" ;;
	esac
}

# Microseconds since the epoch.
now_us()
{
	echo "${EPOCHREALTIME/./}"
}

# Microseconds in a decimal number of seconds ("1", "0.5").
seconds_us()
{
	local whole=${1%%.*} frac=
	[[ $1 == *.* ]] && frac=${1#*.}
	frac=${frac}000000
	echo $((${whole:-0} * 1000000 + 10#${frac:0:6}))
}

# Poll a command until it succeeds, for at most $1 seconds (a decimal).
wait_until()
{
	local deadline
	deadline=$((${EPOCHREALTIME/./} + $(seconds_us "$1")))
	shift
	while ((${EPOCHREALTIME/./} < deadline)); do
		"$@" && return 0
		nap 0.02
	done
	"$@"
}

# ---- the store, read through kvfs ----------------------------------------

# Reads go through the kvfs command line, so that a check reads the same on
# every engine. kvfs copy keeps keys, encodings and value bytes exactly
# (docs/kvfs.1), so SQL on a fresh copy sees the bytes the store holds;
# versionstamps and expiry times, which a copy makes anew, come from
# kvfs get --meta.

# Run SQL on the SQLite file at $1 (the store itself, or a copy of it).
sqlite()
{
	local file=$1
	shift
	sqlite3 -batch -noheader -cmd '.timeout 5000' "$file" "$@"
}

# Run SQL on a copy of the store's entries: table kv (k, v, v_encoding).
rows()
{
	local copy=$T/rows.sqlite3
	rm -f "$copy" "$copy-wal" "$copy-shm"
	"$KVFS" copy "$DB" "$copy" || return 1
	sqlite "$copy" "$@"
}

# Hex of ASCII text, with shell builtins only.
hex_of()
{
	local i hex out=
	for ((i = 0; i < ${#1}; i++)); do
		printf -v hex %02x "'${1:i:1}"
		out+=$hex
	done
	printf '%s\n' "$out"
}

# Hex of the key made of string parts (ASCII without NUL).
skey()
{
	local part out=
	for part in "$@"; do
		out+=02$(hex_of "$part")00
	done
	printf '%s\n' "$out"
}

# SQL for the value of a key (hex) as "v_encoding:hex"; no row when absent.
value_query()
{
	echo "select v_encoding || ':' || lower(hex(v)) from kv where k = x'$1'"
}

stored()
{
	rows "$(value_query "$1")"
}

# A field of the entry at PATH as kvfs get --meta prints it: versionstamp,
# type, expires_at (null for none).
meta()
{
	"$KVFS" get --meta "$DB" "$1" | jq -r ".$2"
}

# ---- the store underneath: SQLite -----------------------------------------

# What a test does to the store behind kvfs's back: another writer's commit
# and a count of commits. tests/etcd/fs_store.sh does the same on etcd.

# SQL on the SQLite file itself, for tests whose meaning is that file
# (SQLITE_ONLY) and for tests/reliability, whose faults are the file's.
db()
{
	sqlite "$DB" "$@"
}

# stored, read from the SQLite file itself.
db_get()
{
	db "$(value_query "$1")"
}

# Commit one row as Deno does (denokv/SPEC.md §1.5): bump data_version and
# stamp the row with it. Arguments: hex key, hex value, v_encoding, and
# optionally expiration_ms.
db_set()
{
	db "begin immediate;
update data_version set version = version + 1 where k = 0;
insert into kv (k, v, v_encoding, version, expiration_ms)
values (x'$1', x'$2', $3, (select version from data_version where k = 0),
        ${4:--1})
on conflict (k) do update set v = excluded.v,
  v_encoding = excluded.v_encoding, version = excluded.version,
  expiration_ms = excluded.expiration_ms;
commit;"
}

db_delete()
{
	db "begin immediate;
update data_version set version = version + 1 where k = 0;
delete from kv where k = x'$1';
commit;"
}

# Count commits from now on (commits prints how many): every writer
# following Deno's protocol updates the data_version row once per commit,
# so a trigger on it counts them.
count_commits()
{
	db "create table if not exists commit_log (version integer);
create trigger if not exists count_commits after update on data_version
begin insert into commit_log values (new.version); end;"
}

commits()
{
	db "select count(*) from commit_log"
}

# ---- the store each test gets ---------------------------------------------

# A SQLite file in the test's directory; with KVFS_TEST_STORE=etcd, a fresh
# prefix on etcd instead (tests/etcd/fs_store.sh, which also plants rows
# and counts commits there).
fresh_store()
{
	echo "$1/store.sqlite3"
}

# Tests whose meaning is the SQLite file itself, with the reason, as
# SQLITE_ONLY[test_name]="WHY" (set before run_tests).
declare -A SQLITE_ONLY=()

# Prints why test $1 does not run on this kind of store; fails when it runs.
store_skip_reason()
{
	return 1
}

if [ "${KVFS_TEST_STORE:-sqlite}" = etcd ]; then
	. "$FS_LIB_DIR/../etcd/fs_store.sh"
fi

# ---- syscalls ------------------------------------------------------------

# fsop PATH STEP... runs open/write/close steps on one file descriptor and
# prints each step's result (OK or the errno name), space-separated. Steps:
#   open:FLAGS (r, w, a, t = O_TRUNC, c = O_CREAT, x = O_EXCL)
#   write:TEXT  writehex:HEX  pwrite:OFFSET:TEXT  fsync  close  read
fsop()
{
	"$PYTHON" "$FS_LIB_DIR/fsop.py" "$@"
}

# ---- running -------------------------------------------------------------

# Print a file as TAP diagnostics.
diag_file()
{
	[ -s "$1" ] && sed 's/^/#   /' "$1"
	return 0
}

# Seconds between two $EPOCHREALTIME readings.
elapsed()
{
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fs", b - a }'
}

# Stop a process and every process it started, children first.
kill_tree()
{
	local child
	for child in $(pgrep -P "$1"); do
		kill_tree "$child"
	done
	kill -KILL "$1" 2>/dev/null
	return 0
}

# Run one test with its own store and mount. Returns 0 pass, 77 skip,
# other: fail.
run_one()
{
	local name=$1
	T=$FS_TMP/$name
	DB=$(fresh_store "$T")
	MNT=$T/mnt
	LOG=$T/kvfs.log
	mkdir -p "$T"
	: >"$LOG"
	: >"$T/out"
	local why
	if why=$(store_skip_reason "$name"); then
		echo "SKIP: $why" >>"$T/out"
		return 77
	fi
	local t0=$EPOCHREALTIME t1 t2 options
	read -r -a options <<<"${MOUNT_OPTIONS[$name]:-}"
	# Everything appends to out: the daemon's wrapper writes there too.
	if ! mount_store "${options[@]}" >>"$T/out" 2>&1; then
		return 1
	fi
	t1=$EPOCHREALTIME
	(
		set -eE
		trap 'echo "FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR
		cd "$T"
		"$name"
	) >>"$T/out" 2>&1 </dev/null &
	local test_pid=$! i status
	for ((i = 0; i < TEST_TIMEOUT * 20; i++)); do
		kill -0 "$test_pid" 2>/dev/null || break
		nap 0.05
	done
	if kill -0 "$test_pid" 2>/dev/null; then
		echo "test timed out after ${TEST_TIMEOUT}s" >>"$T/out"
		# Killing the daemon closes the connection, so that every
		# process stuck in a request gets ENOTCONN; a daemon thread
		# stuck in the kernel keeps it open, so it is aborted too.
		kill -KILL "$(cat "$T/kvfs.pid")" 2>/dev/null
		abort_connection "$MNT"
		kill_tree "$test_pid"
	fi
	wait "$test_pid" 2>/dev/null
	status=$?
	t2=$EPOCHREALTIME
	# The test may have remounted, or stopped the daemon itself.
	if [ -s "$T/kvfs.status" ] && ! is_mounted "$MNT"; then
		local daemon_status
		daemon_status=$(cat "$T/kvfs.status")
		if [ "$daemon_status" != 0 ] && [ "$status" = 0 ]; then
			echo "kvfs exited with status $daemon_status" >>"$T/out"
			status=1
		fi
	elif ! unmount_store >>"$T/out" 2>&1; then
		[ "$status" = 77 ] || status=1
	fi
	if [ -n "${KVFS_TEST_TIMING:-}" ]; then
		echo "# $name: mount $(elapsed "$t0" "$t1")," \
			"test $(elapsed "$t1" "$t2")," \
			"unmount $(elapsed "$t2" "$EPOCHREALTIME")"
	fi
	return "$status"
}

# Run every test_* function of the calling script, in the order written.
run_tests()
{
	local script=${BASH_SOURCE[1]} tests t n=0 failed=0 status
	mapfile -t tests < <(sed -n 's/^\(test_[A-Za-z0-9_]*\)().*/\1/p' \
		"$script")
	echo "1..${#tests[@]}"
	for t in "${tests[@]}"; do
		n=$((n + 1))
		# Not "run_one || ...": that context would switch off the
		# test's set -e.
		run_one "$t"
		status=$?
		if [ "$status" = 0 ]; then
			echo "ok $n $t"
		elif [ "$status" = 77 ]; then
			echo "ok $n $t # SKIP $(sed -n 's/^SKIP: //p' \
				"$FS_TMP/$t/out" | head -n 1)"
		else
			failed=$((failed + 1))
			echo "not ok $n $t"
			diag_file "$FS_TMP/$t/out"
			if [ -s "$FS_TMP/$t/kvfs.log" ]; then
				echo "#   --- kvfs log:"
				diag_file "$FS_TMP/$t/kvfs.log"
			fi
		fi
	done
	[ "$failed" = 0 ]
}
