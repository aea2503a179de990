#!/usr/bin/env bash
# The daemon killed with SIGKILL at random moments of a write-heavy
# workload (issue 8), over and over for KVFS_CRASH_SECONDS (30 by default;
# at least 3 crashes). After each crash: the real Deno opens the store, its
# PRAGMA integrity_check is ok, every value is whole and is either its old
# or its new content (crash_check.py), and the mount point, once cleared
# with fusermount3 -u, mounts again at once.
. "$KVFS_SOURCE_ROOT/tests/fs/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
CRASH_SECONDS=${KVFS_CRASH_SECONDS:-30}
TEST_TIMEOUT=$((CRASH_SECONDS + 180))
WRITERS=2
KEYS=6
export DENO_NO_UPDATE_CHECK=1 NO_COLOR=1

# The content of generation GEN of KEY: JSON that names both, with a pad
# of 1 to 64 copies of "KEY:GEN " so that sizes differ from write to write.
crash_value()
{
	local key=$1 gen=$2 unit pad=
	unit="$key:$gen "
	for ((i = 0; i <= (gen * 37 + ${#key}) % 64; i++)); do
		pad+=$unit
	done
	printf '{"key":"%s","gen":%d,"pad":"%s"}\n' "$key" "$gen" "$pad"
}

# Writer W: rewrite its keys forever, one generation at a time, every
# third generation through a rename over the old key. Logs "start KEY GEN"
# before and "done KEY GEN" after each write to $T/progress-W.
writer()
{
	local w=$1 gen=$2 k key
	while :; do
		gen=$((gen + 1))
		for ((k = 0; k < KEYS; k++)); do
			key=w${w}k$k
			crash_value "$key" "$gen" >"$T/value-$w"
			echo "start $key $gen" >>"$T/progress-$w"
			if ((gen % 3)); then
				cp "$T/value-$w" "$MNT/c/$key" 2>/dev/null ||
					return 0
			else
				cp "$T/value-$w" "$MNT/c/new-$key" 2>/dev/null &&
					mv "$MNT/c/new-$key" "$MNT/c/$key" \
						2>/dev/null || return 0
			fi
			echo "done $key $gen" >>"$T/progress-$w"
		done
	done
}

# Stop a writer and the cp or mv it is running.
stop_writer()
{
	local children
	children=$(pgrep -P "$1" || true)
	kill -KILL "$1" $children 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# Everything Deno reads under ["c"], one JSON line per entry.
deno_dump()
{
	"$DENO" run --quiet --unstable-kv -A "$HERE/dump.ts" "$DB" c
}

check_store_after_crash()
{
	local round=$1
	deno_dump >"$T/dump" || fail "round $round: Deno cannot read the store"
	expect_eq "$(db 'pragma integrity_check')" ok \
		"round $round: integrity_check"
	python3 "$HERE/crash_check.py" "$T/dump" "$T"/progress-* ||
		fail "round $round: a value is neither old nor new"
}

# One round: writers running, a SIGKILL at a random moment in 0.1..1.6 s.
crash_round()
{
	local round=$1 w pids=() daemon
	mkdir -p "$MNT/c"
	for ((w = 0; w < WRITERS; w++)); do
		writer "$w" "$((round * 1000))" &
		pids+=($!)
	done
	sleep "$(printf '0.%03d' $((RANDOM % 1000)))"
	sleep "0.$((RANDOM % 6 + 1))"
	daemon=$(cat "$T/kvfs.pid")
	kill -KILL "$daemon"
	wait_daemon_exit "$daemon" 10 || fail "the daemon did not die"
	for w in "${pids[@]}"; do
		stop_writer "$w"
	done
	is_mounted "$MNT" || fail "round $round: the dead mount vanished"
}

test_sigkill_during_writes_leaves_every_value_old_or_new()
{
	[ -n "${DENO:-}" ] && [ -x "$DENO" ] || skip "DENO is not set"
	local round=0 start=$SECONDS
	while ((round < 3 || SECONDS - start < CRASH_SECONDS)); do
		round=$((round + 1))
		crash_round "$round"
		check_store_after_crash "$round"
		fusermount3 -u "$MNT" || fail "fusermount3 -u of the dead mount"
		mount_store || fail "round $round: no mount after the crash"
	done
	echo "# $round crashes in $((SECONDS - start)) s" >&2
	python3 "$HERE/crash_check.py" --same "$T/dump" "$MNT/c" ||
		fail "the mount does not show what Deno reads"
}

test_a_dead_mount_is_refused_clearly_then_mounts_after_fusermount()
{
	echo 1 >"$MNT/x"
	local daemon
	daemon=$(cat "$T/kvfs.pid")
	kill -KILL "$daemon"
	wait_daemon_exit "$daemon" 10 || fail "the daemon did not die"
	local err status=0
	err=$("$KVFS" mount "$DB" "$MNT" -f 2>&1) || status=$?
	[ "$status" != 0 ] || fail "kvfs mount on a dead mount succeeded"
	grep -q "fusermount3 -u $MNT" <<<"$err" ||
		fail "kvfs mount does not say how to clear the mount: $err"
	fusermount3 -u "$MNT"
	mount_store
	expect_eq "$(cat "$MNT/x")" 1 "x after the remount"
}

run_tests
