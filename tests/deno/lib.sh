# Sourced by every interop script: the Deno binary, a scratch directory
# removed on exit, and small helpers. $1 of the script is kvdriver.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
kvdriver=$1
if [ -z "${DENO:-}" ] || [ ! -x "$DENO" ]; then
	echo "skip: DENO is not set (run scripts/setup)" >&2
	exit 77
fi
export DENO_NO_UPDATE_CHECK=1 NO_COLOR=1
tmp=$(mktemp -d /tmp/kvfs-deno-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

deno_run() {
	"$DENO" run --unstable-kv -A "$here/$1" "${@:2}"
}

die() {
	echo "FAIL: $*" >&2
	exit 1
}
