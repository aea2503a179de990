# Shared by the encrypted-store tests: tests/cli/lib.sh (the TAP runner and
# expectations), plus the helpers several of them use.
. "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"
SEAL_TESTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CLIENT=$SEAL_TESTS/../../clients/deno

# The cheapest Argon2id kvfs accepts, so that passphrase tests stay quick.
KDF=(--kdf interactive)

# Deno with the client's pinned dependencies (scripts/setup installs them).
need_client() {
	need_deno || return 77
	[ -d "$CLIENT/node_modules/@noble/ciphers" ] || return 77
}

interop() {
	deno_run --node-modules-dir=manual "$SEAL_TESTS/interop.ts" "$@"
}

# Fail when WORD is in the printable strings of the files (missing ones
# are skipped). `! CMD` would not stop a `set -e` test.
no_plaintext() {
	local word=$1
	shift
	if strings "$@" 2>/dev/null | grep -q "$word"; then
		echo "$word is in the clear in $*"
		return 1
	fi
}
