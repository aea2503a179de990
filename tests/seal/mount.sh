#!/usr/bin/env bash
# The mount of an encrypted store (issue 4): what is written through it is
# sealed before it reaches the file or its WAL, reads give plaintext, a
# tampered value is EIO for that file alone, renames re-seal.
. "$(dirname "$0")/lib.sh"

need_fuse() {
	[ -c /dev/fuse ] && command -v fusermount3 >/dev/null || return 77
}

is_mounted() {
	awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/self/mounts
}

# Mount db at mnt in the foreground, in the background, with the key
# options "$@"; unmounted when the test ends, however it ends.
mount_db() {
	mkdir -p mnt
	trap 'fusermount3 -u "$WORK/mnt" 2>/dev/null || true' EXIT
	"$KVFS" mount db mnt -f "$@" 2>>daemon.log &
	echo $! >daemon.pid
	local i
	for ((i = 0; i < 1000; i++)); do
		is_mounted "$WORK/mnt" && return 0
		kill -0 "$(cat daemon.pid)" 2>/dev/null || break
		sleep 0.01
	done
	echo "not mounted: $(cat daemon.log)"
	return 1
}

# Unmount; the daemon must exit cleanly (no sanitizer report).
unmount_db() {
	fusermount3 -u mnt
	local status=0
	wait "$(cat daemon.pid)" || status=$?
	[ "$status" = 0 ] || { echo "daemon exit $status: $(cat daemon.log)"; return 1; }
}

new_store() {
	"$KVFS" init --encrypt --new-key-file key db >/dev/null
}

t_secrets_written_through_the_mount_are_in_neither_the_file_nor_its_wal() {
	need_fuse || return 77
	new_store
	mount_db --key-file key
	mkdir -p mnt/users/alice
	echo "hunter2-PASSWORD-7f3a" >mnt/users/alice/password
	printf '{"card":"4111-CARDNUMBER-1111"}\n' >mnt/users/alice/payment
	seq 1 2000 | sed 's/^/row-LONGSECRET-/' >mnt/bulk
	cp mnt/users/alice/password mnt/copy
	sync
	expect_eq "$(cat mnt/users/alice/password)" "hunter2-PASSWORD-7f3a"
	[ -s db-wal ] || [ -s db ]
	for word in PASSWORD CARDNUMBER LONGSECRET hunter2; do
		no_plaintext "$word" db db-wal
	done
	unmount_db
	for word in PASSWORD CARDNUMBER LONGSECRET hunter2; do
		no_plaintext "$word" db db-wal
	done
	expect_eq "$("$KVFS" get --key-file key db copy)" "hunter2-PASSWORD-7f3a"
	expect_eq "$("$KVFS" get --key-file key db bulk | tail -1)" "row-LONGSECRET-2000"
}

t_the_mount_takes_the_key_as_a_mount_option() {
	need_fuse || return 77
	new_store
	"$KVFS" set --key-file key db a alpha
	mount_db -o "key_file=$WORK/key"
	expect_eq "$(cat mnt/a)" alpha
	unmount_db
}

t_a_tampered_value_is_eio_for_its_file_alone() {
	need_fuse || return 77
	new_store
	for k in a b c; do "$KVFS" set --key-file key db $k "value $k"; done
	sqlite3 db "update kv set v = substr(v, 1, 40) || x'00' || substr(v, 42) where k = x'026200'"
	mount_db --key-file key
	expect_eq "$(ls mnt)" "a
b
c"
	expect_eq "$(cat mnt/a)" "value a"
	if cat mnt/b >out.txt 2>err.txt; then
		echo "a tampered value was read: $(cat out.txt)"
		return 1
	fi
	grep -q "Input/output error" err.txt
	expect_eq "$(cat mnt/c)" "value c"
	unmount_db
}

t_a_rename_reseals_the_value_under_its_new_key() {
	need_fuse || return 77
	new_store
	"$KVFS" set --key-file key db old "moved value"
	mount_db --key-file key
	mv mnt/old mnt/new
	expect_eq "$(cat mnt/new)" "moved value"
	unmount_db
	expect_eq "$("$KVFS" get --key-file key db new)" "moved value"
	expect_eq "$(sqlite3 db "select count(*) from kv")" 1
}

t_the_mount_refuses_a_value_past_65489_bytes() {
	need_fuse || return 77
	new_store
	mount_db --key-file key
	head -c 65489 /dev/zero >mnt/fits
	if head -c 65490 /dev/zero >mnt/big 2>err.txt; then
		echo "a value of 65490 bytes was taken"
		return 1
	fi
	grep -q "File too large" err.txt
	expect_eq "$(stat -c %s mnt/fits)" 65489
	unmount_db
}

run_tests
