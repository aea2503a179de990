#!/usr/bin/env bash
# tests/fuzz/run.sh MODE TARGET PROGRAM SEEDS_PROGRAM
#
# MODE replay: feed PROGRAM (a fuzz target linked with replay.c) the seed
# corpus made from the Deno vectors and every saved regression input of
# TARGET (tests/fuzz/regressions/TARGET/).
#
# MODE fuzz: run PROGRAM (the target linked with libFuzzer) for
# KVFS_FUZZ_SECONDS (default 5) from the seed corpus; the saved
# regressions are left to the replay, so that a known crash fails one test
# and does not stop the fuzzing. New inputs go to
# KVFS_FUZZ_CORPUS/TARGET when set (keep it between runs to fuzz longer),
# else to a scratch directory. A crash is printed in hex and kept in
# $KVFS_BUILD_ROOT/fuzz-artifacts/TARGET/: add it to the regressions.
set -euo pipefail

mode=$1 target=$2 program=$3 seeds_program=$4
: "${KVFS_SHARED:?}" "${KVFS_SOURCE_ROOT:?}" "${KVFS_BUILD_ROOT:?}"

work=$(mktemp -d "${TMPDIR:-/tmp}/kvfs-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

"$seeds_program" "$KVFS_SHARED" "$work/seeds" >/dev/null
mkdir -p "$work/seeds/$target"
regressions=$KVFS_SOURCE_ROOT/tests/fuzz/regressions/$target

if [ "$mode" = replay ]; then
	inputs=("$work/seeds/$target")
	[ -d "$regressions" ] && inputs+=("$regressions")
	# Not exec: the trap that removes $work must still run.
	"$program" "${inputs[@]}"
	exit
fi

corpus=$work/corpus
if [ -n "${KVFS_FUZZ_CORPUS:-}" ]; then
	corpus=$KVFS_FUZZ_CORPUS/$target
fi
mkdir -p "$corpus"
artifacts=$KVFS_BUILD_ROOT/fuzz-artifacts/$target
mkdir -p "$artifacts"
# libFuzzer's own exit status for a crash, 77, means "skipped" to meson.
options=(-max_total_time="${KVFS_FUZZ_SECONDS:-5}" -timeout=10
	-error_exitcode=1
	-rss_limit_mb=2048 -max_len=4096 -print_final_stats=1
	-artifact_prefix="$artifacts/")
dict=$KVFS_SOURCE_ROOT/tests/fuzz/$target.dict
[ -f "$dict" ] && options+=(-dict="$dict")

status=0
touch "$work/start"
"$program" "${options[@]}" "$corpus" "$work/seeds/$target" || status=$?
if [ "$status" != 0 ]; then
	for crash in $(find "$artifacts" -type f -newer "$work/start"); do
		echo "# $target crashed on $crash:"
		xxd -p "$crash" | tr -d '\n'
		echo
		echo "# keep it: cp '$crash' $regressions/"
	done
fi
[ "$status" = 0 ]
