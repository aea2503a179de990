#!/usr/bin/env bash
# kvfs mount itself (issue 3): creating a missing store in Deno's format,
# bad arguments, read-only mounts, the background mode, and every way of
# unmounting (fusermount3 -u, SIGTERM, SIGINT, a lazy unmount) ending the
# daemon with status 0 after committing what open files hold, and its
# request loop serving on while a commit waits on the kernel.
. "$(dirname "$0")/lib.sh"

# Hold $MNT/$1 open with $2 written (not flushed) until the file "go"
# exists; the steps' results go to "held".
hold_written_file()
{
	rm -f written go
	fsop "$MNT/$1" open:wtc "write:$2" signal:written wait:go close \
		>held &
	HOLDER=$!
	wait_until 10 test -e written
}

daemon_pid()
{
	cat "$T/kvfs.pid"
}

expect_daemon_exit_status()
{
	wait_daemon_exit "$1" 10 || fail "the daemon did not exit"
	expect_eq "$(cat "$T/kvfs.status")" "$2" "the daemon's exit status"
	! is_mounted "$MNT" || fail "still mounted"
}

SQLITE_ONLY[test_kvfs_mount_creates_a_missing_store_in_deno_s_format]="\
Deno's schema and WAL mode in the file Deno opens"
test_kvfs_mount_creates_a_missing_store_in_deno_s_format()
{
	expect_eq "$(db "select k, version from migration_state")" "0|3"
	expect_eq "$(db "select name from sqlite_master where type = 'table'
		order by name" | tr '\n' ' ')" \
		"data_version kv migration_state queue queue_running "
	expect_eq "$(db "pragma journal_mode")" wal
	expect_eq "$(db "select version from data_version")" 0
}

test_fusermount3_u_unmounts_and_the_daemon_exits_with_0()
{
	echo 1 >"$MNT/f"
	local pid
	pid=$(daemon_pid)
	fusermount3 -u "$MNT"
	expect_daemon_exit_status "$pid" 0
	expect_eq "$(stored "$(skey f)")" "1:ff0f4902"
}

test_sigterm_unmounts_and_the_daemon_exits_with_0()
{
	local pid
	pid=$(daemon_pid)
	kill -TERM "$pid"
	expect_daemon_exit_status "$pid" 0
}

test_sigint_unmounts_and_the_daemon_exits_with_0()
{
	local pid
	pid=$(daemon_pid)
	kill -INT "$pid"
	expect_daemon_exit_status "$pid" 0
}

test_sigterm_commits_an_open_file_with_unflushed_content()
{
	hold_written_file f '{"saved":true}'
	expect_eq "$(stored "$(skey f)")" "" "before SIGTERM"
	local pid
	pid=$(daemon_pid)
	kill -TERM "$pid"
	expect_daemon_exit_status "$pid" 0
	expect_eq "$(stored "$(skey f)")" "1:ff0f6f22057361766564547b01"
	touch go
	wait "$HOLDER" || true
}

test_a_lazy_unmount_with_an_open_written_file_commits_it_at_close()
{
	hold_written_file f kept
	local pid
	pid=$(daemon_pid)
	fusermount3 -uz "$MNT"
	! is_mounted "$MNT" || fail "still mounted after fusermount3 -uz"
	touch go
	wait "$HOLDER"
	expect_eq "$(cat held)" "OK OK OK OK OK" "the open file's steps"
	expect_daemon_exit_status "$pid" 0
	expect_eq "$(stored "$(skey f)")" "3:6b657074"
}

test_a_read_only_mount_refuses_writes_with_erofs()
{
	echo 1 >"$MNT/f"
	remount -o ro
	expect_eq "$(cat "$MNT/f")" 1
	expect_fails_with EROFS sh -c 'echo 2 >"$1"' sh "$MNT/f"
	expect_fails_with EROFS sh -c 'echo 2 >"$1"' sh "$MNT/g"
	expect_fails_with EROFS rm "$MNT/f"
	expect_fails_with EROFS mkdir "$MNT/d"
	expect_fails_with EROFS mv "$MNT/f" "$MNT/h"
	expect_fails_with EROFS setfattr -n user.kv.type -v bytes "$MNT/f"
	expect_eq "$(rows "select count(*) from kv")" 1 "keys"
	expect_eq "$(stored "$(skey f)")" "1:ff0f4902"
}

test_kvfs_mount_without_f_serves_in_the_background()
{
	local bg=$T/bg store=$DB
	mkdir "$bg"
	# A store file is given by a relative path: the daemon changes to /.
	[ -f "$DB" ] && store=${DB#"$T/"}
	(cd "$T" && "$KVFS" mount "$store" "$bg")
	is_mounted "$bg" || fail "not mounted when kvfs mount returned"
	# The daemon is the process whose command line ends in this test's
	# mount point.
	local pid
	pid=$(pgrep -f -- "mount .* $bg\$")
	[ -n "$pid" ] || fail "no daemon for $bg"
	echo "$pid $bg" >>"$FS_DAEMONS"
	echo 5 >"$bg/bgkey"
	expect_eq "$(stored "$(skey bgkey)")" "1:ff0f490a"
	expect_eq "$(cat "$MNT/bgkey")" 5 "seen through the other mount"
	fusermount3 -u "$bg"
	wait_until 10 sh -c '! kill -0 "$1" 2>/dev/null' sh "$pid" ||
		fail "the background daemon did not exit"
}

test_kvfs_mount_refuses_bad_arguments_clearly()
{
	local out
	printf 'not a database, just text that is long enough\n%.0s' \
		$(seq 200) >"$T/text"
	mkdir "$T/m2"
	if out=$("$KVFS" mount "$T/text" "$T/m2" -f 2>&1); then
		fail "mounted a text file as a store"
	fi
	grep -q "cannot open" <<<"$out" || fail "unclear error: $out"
	if out=$("$KVFS" mount "$DB" "$T/m2" -f -o max_value_size=70000 2>&1)
	then
		fail "accepted max_value_size=70000"
	fi
	grep -q "max_value_size" <<<"$out" || fail "unclear error: $out"
	is_mounted "$T/m2" && fail "mounted anyway"
	return 0
}

# A commit drops the kernel's cached pages of a file others have open
# (kvfs-spec §7). Dropping a page waits for a read of it in flight, which
# the daemon must go on serving meanwhile (fs/daemon_loop.c).
test_a_commit_does_not_wait_forever_on_reads_of_the_file_in_flight()
{
	head -c 60000 /dev/zero | tr '\0' a >"$T/value"
	cp "$T/value" "$MNT/f"
	local reader i rewritten=0
	for reader in 1 2 3; do
		(while [ ! -e "$T/stop" ]; do cat "$MNT/f" >/dev/null; done) &
	done
	for i in $(seq 300); do
		cp "$T/value" "$MNT/f" || break
		rewritten=$i
	done
	touch "$T/stop"
	wait
	expect_eq "$rewritten" 300 "rewrites while three readers loop"
	cmp "$T/value" "$MNT/f"
}

run_tests
