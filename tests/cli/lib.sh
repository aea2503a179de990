# lib.sh — TAP for the kvfs command-line tests. A test script defines one
# function per behaviour, named t_<behaviour>, and ends with `run_tests`.
# Each test runs in a subshell with `set -e`, in a fresh directory; its
# output is shown as TAP diagnostics when it fails. A test that returns 77
# is skipped (e.g. when Deno is not there).
#
# Environment: KVFS (the kvfs binary), DENO (the Deno runtime, optional),
# KVFS_SHARED (Deno's vectors, set by tests/meson.build).
set -u
: "${KVFS:?KVFS must name the kvfs binary}"
CLI_TESTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SHARED=${KVFS_SHARED:-$CLI_TESTS/../vectors}
export NO_COLOR=1

# Fail with a message unless the two strings are equal.
expect_eq() {
	if [ "$1" != "$2" ]; then
		printf 'expected: %s\n     got: %s\n' "$2" "$1"
		return 1
	fi
}

# expect_status N COMMAND...: run COMMAND, fail unless it exits with N.
# Its stdout and stderr are kept in $out and $err.
expect_status() {
	local want=$1 got=0
	shift
	"$@" >"$WORK/.out" 2>"$WORK/.err" || got=$?
	out=$(cat "$WORK/.out")
	err=$(cat "$WORK/.err")
	if [ "$got" != "$want" ]; then
		printf 'exit status %s, not %s: %s\n' "$got" "$want" "$*"
		printf 'stdout: %s\nstderr: %s\n' "$out" "$err"
		return 1
	fi
}

# Fail unless $err is exactly one line that contains each argument.
expect_error_line() {
	if [ "$(printf '%s\n' "$err" | wc -l)" != 1 ]; then
		printf 'not one line on stderr: %s\n' "$err"
		return 1
	fi
	local part
	for part in "$@"; do
		case "$err" in
		*"$part"*) ;;
		*)
			printf 'stderr does not say "%s": %s\n' "$part" "$err"
			return 1
			;;
		esac
	done
}

# Skip the test unless Deno is there.
need_deno() {
	[ -n "${DENO:-}" ] && [ -x "$DENO" ] || return 77
}

deno_run() {
	"$DENO" run --quiet --unstable-kv -A "$@"
}

run_tests() {
	local tests t i=0 failed=0 status root
	tests=$(declare -F | awk '{print $3}' | grep '^t_')
	root=$(mktemp -d)
	echo "1..$(printf '%s\n' "$tests" | wc -l)"
	for t in $tests; do
		i=$((i + 1))
		WORK=$root/$t
		mkdir -p "$WORK"
		(set -e; cd "$WORK"; "$t") >"$root/$t.log" 2>&1
		status=$?
		if [ "$status" = 0 ]; then
			echo "ok $i - $t"
		elif [ "$status" = 77 ]; then
			echo "ok $i - $t # SKIP Deno is not available"
		else
			echo "not ok $i - $t"
			sed 's/^/# /' "$root/$t.log"
			failed=$((failed + 1))
		fi
	done
	rm -rf "$root"
	[ "$failed" = 0 ]
}
