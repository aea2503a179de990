#!/usr/bin/env bash
# Two mounts of one etcd store, as two hosts would have them: what one
# writes, the other shows within 1 s; and so does a write by another
# process (the kvfs command line). TAP. Needs KVFS (the kvfs executable)
# and KVFS_ETCD_ENDPOINTS (run it under tests/etcd/cluster.sh run).
set -u

: "${KVFS:?}" "${KVFS_ETCD_ENDPOINTS:?}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvfs-two-mounts.XXXXXX")
uri="etcd://$KVFS_ETCD_ENDPOINTS/kvfs-test/two-mounts-$$-$RANDOM"
pids=()

cleanup() {
	local m
	for m in "$tmp"/a "$tmp"/b; do
		fusermount3 -u "$m" 2>/dev/null
	done
	for m in "${pids[@]}"; do
		kill "$m" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
. "$(dirname "$0")/tap.sh"

mount_one() {
	local mnt=$tmp/$1
	mkdir -p "$mnt"
	"$KVFS" mount "$uri" "$mnt" -f 2>>"$tmp/$1.log" &
	pids+=($!)
	wait_mounted "$mnt" "${pids[-1]}" 100
}

# Wait up to 1 s for a command to succeed; print the ms it took.
within_1s() {
	local start end
	start=$(date +%s%N)
	while :; do
		if "$@" 2>/dev/null; then
			end=$(date +%s%N)
			echo $(((end - start) / 1000000))
			return 0
		fi
		end=$(date +%s%N)
		[ $(((end - start) / 1000000)) -ge 1000 ] && return 1
		sleep 0.02
	done
}

has_value() { [ "$(cat "$1")" = "$2" ]; }
is_gone() { [ ! -e "$1" ]; }

"$KVFS" set "$uri" seed '"x"' >/dev/null || { echo "Bail out! cannot create $uri"; exit 1; }
if ! mount_one a; then
	if grep -q "No such file or directory" "$tmp/a.log"; then
		echo "1..0 # SKIP kvfs mount does not take an etcd URL yet (fs/mount.c resolves DB with realpath)"
		exit 0
	fi
	echo "Bail out! kvfs mount failed: $(tail -1 "$tmp/a.log")"
	exit 1
fi
mount_one b || { echo "Bail out! the second mount failed"; exit 1; }

check() {
	local name=$1 ms
	shift
	n=$((n + 1))
	if ms=$(within_1s "$@"); then
		echo "ok $n $name (${ms} ms)"
	else
		failed=$((failed + 1))
		echo "not ok $n $name"
	fi
}

echo "1..5"
ls "$tmp/b" >/dev/null # b has looked at the directory before
printf '"hello"' >"$tmp/a/k1"
check "a write through mount a shows in mount b" has_value "$tmp/b/k1" '"hello"'
printf '"again"' >"$tmp/b/k1"
check "a change through mount b shows in mount a" has_value "$tmp/a/k1" '"again"'
rm "$tmp/a/k1"
check "a removal through mount a shows in mount b" is_gone "$tmp/b/k1"
"$KVFS" set "$uri" k2 '"cli"' >/dev/null
check "another process's write shows in mount a" has_value "$tmp/a/k2" '"cli"'
check "another process's write shows in mount b" has_value "$tmp/b/k2" '"cli"'
[ "$failed" = 0 ]
