#!/usr/bin/env bash
# A soak test (issue 8): for KVFS_SOAK_SECONDS (60 by default), all at once
# on one mount: shell writers that set, rename and remove keys (and move
# their whole directory away and back), shell readers, the real Deno doing
# atomic sums on shared counters, and `kvfs sum` on the same counters from
# the command line. At the end, on a fresh mount: every counter equals the
# number of increments, every writer's keys hold exactly what its log of
# successful operations says (no write lost), no reader saw an error but a
# vanished name, Deno never waited long for a commit, and the daemon's RSS
# stayed level.
. "$KVFS_SOURCE_ROOT/tests/fs/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
SOAK_SECONDS=${KVFS_SOAK_SECONDS:-60}
TEST_TIMEOUT=$((SOAK_SECONDS + 240))
WRITERS=3
READERS=2
KEYS=20
COUNTERS=4
# The slowest commit Deno may see, in ms: far below its 5 s busy timeout.
DENO_MAX_MS=2500
PY=${PYTHON:-python3}
export DENO_NO_UPDATE_CHECK=1 NO_COLOR=1

# Record a failed operation; the writer stops at its first.
writer_failed()
{
	echo "writer $1: $2 failed" >>"$T/errors"
	return 1
}

# Writer W: random sets (cp of a content file, so that an error of close
# counts), renames over other keys, removes, and now and then a rename of
# its whole directory away and back. Each success is logged for
# soak_check.py.
writer()
{
	local w=$1 dir=$MNT/soak/w$1 n=0 a b file
	local -A has=()
	mkdir -p "$dir" "$T/w$w"
	while ((SECONDS < DEADLINE)); do
		n=$((n + 1))
		a=k$((RANDOM % KEYS))
		b=k$((RANDOM % KEYS))
		case $((n % 10)) in
		7 | 8)
			[ -n "${has[$a]:-}" ] && [ "$a" != "$b" ] || continue
			mv "$dir/$a" "$dir/$b" || writer_failed "$w" "mv $a $b"
			echo "mv $a $b" >>"$T/log-$w"
			unset "has[$a]"
			has[$b]=1
			;;
		9)
			[ -n "${has[$a]:-}" ] || continue
			rm "$dir/$a" || writer_failed "$w" "rm $a"
			echo "rm $a" >>"$T/log-$w"
			unset "has[$a]"
			;;
		*)
			file=$T/w$w/$n
			printf 'w%d n%d %*s\n' "$w" "$n" $((n % 300)) x >"$file"
			cp "$file" "$dir/$a" || writer_failed "$w" "set $a"
			echo "set $a $file" >>"$T/log-$w"
			has[$a]=1
			;;
		esac
		if ((n % 97 == 0)); then
			mv "$dir" "$dir-away" && mv "$dir-away" "$dir" ||
				writer_failed "$w" "the directory's rename"
		fi
	done
}

# Readers list and read everything; a name that vanished under them is
# the only error allowed.
reader()
{
	while ((SECONDS < DEADLINE)); do
		ls -laR "$MNT/soak" >/dev/null 2>>"$T/reader-errors" || true
		cat "$MNT"/soak/w*/k* >/dev/null 2>>"$T/reader-errors" || true
		find "$MNT/soak" -type f -size +0 >/dev/null \
			2>>"$T/reader-errors" || true
	done
	return 0
}

# `kvfs sum` on the counters, from another process than the daemon.
cli_summer()
{
	local i
	while ((SECONDS < DEADLINE)); do
		i=$((RANDOM % COUNTERS))
		"$KVFS" sum "$DB" "soak/counter/@$i" 1 >/dev/null ||
			{ echo "kvfs sum failed" >>"$T/errors"; return 1; }
		echo "$i" >>"$T/cli-sums"
	done
}

# The daemon's VmRSS in kB, every second.
sample_rss()
{
	local pid=$1
	while ((SECONDS < DEADLINE)) && [ -r "/proc/$pid/status" ]; do
		awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" >>"$T/rss"
		sleep 1
	done
	return 0
}

test_soak_of_writers_readers_renames_and_deno_sums()
{
	[ -n "${DENO:-}" ] && [ -x "$DENO" ] || skip "DENO is not set"
	# ASan keeps freed memory in a quarantine of 256 MB by default,
	# which would look like growth.
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=16" remount
	mkdir -p "$MNT/soak"
	: >"$T/errors"
	: >"$T/reader-errors"
	: >"$T/cli-sums"
	DEADLINE=$((SECONDS + SOAK_SECONDS))
	local pids=() w i
	"$DENO" run --quiet --unstable-kv -A "$HERE/soak_counters.ts" "$DB" \
		"$SOAK_SECONDS" "$COUNTERS" >"$T/deno.json" &
	local deno=$!
	for ((w = 0; w < WRITERS; w++)); do
		writer "$w" &
		pids+=($!)
	done
	for ((i = 0; i < READERS; i++)); do
		reader &
		pids+=($!)
	done
	cli_summer &
	pids+=($!)
	sample_rss "$(cat "$T/kvfs.pid")" &
	pids+=($!)
	wait "$deno" || fail "Deno's sums failed"
	for i in "${pids[@]}"; do
		wait "$i" || true
	done
	[ -s "$T/errors" ] && fail "$(cat "$T/errors")"
	if grep -v "No such file or directory" "$T/reader-errors" | grep -q .; then
		fail "readers saw: $(sort "$T/reader-errors" | uniq -c | head)"
	fi
	echo "$(wc -l <"$T/cli-sums") kvfs sums, Deno: $(cat "$T/deno.json")" \
		"ops: $(cat "$T"/log-* | wc -l)" >&2
	$PY "$HERE/soak_check.py" rss "$T/rss" >&2 || fail "RSS grew"

	# What a fresh daemon reads is what the store holds.
	remount
	local want have max_ms
	max_ms=$(jq .maxMs "$T/deno.json")
	((max_ms < DENO_MAX_MS)) ||
		fail "a Deno commit waited $max_ms ms (>= $DENO_MAX_MS)"
	for ((i = 0; i < COUNTERS; i++)); do
		want=$(($(jq ".counts[$i]" "$T/deno.json") + \
			$(grep -cx "$i" "$T/cli-sums" || true)))
		have=$(cat "$MNT/soak/counter/@$i" 2>/dev/null || echo 0)
		expect_eq "$have" "$want" "counter $i"
	done
	for ((w = 0; w < WRITERS; w++)); do
		$PY "$HERE/soak_check.py" state "$T/log-$w" "$MNT/soak/w$w" ||
			fail "writer $w's keys"
	done
}

run_tests
