#!/usr/bin/env bash
# The encrypted store and the real Deno (issue 4): the client module
# clients/deno/kvfs_seal.ts reproduces the format's known answers, Deno
# opens what kvfs sealed, and kvfs opens what Deno sealed with the module.
. "$(dirname "$0")/lib.sh"

# An encrypted store with a key file, values written by kvfs, the app key.
make_store() {
	"$KVFS" init --encrypt --new-key-file key db >/dev/null
	printf 'sealed by kvfs\n' | "$KVFS" set --key-file key db from/kvfs/text --type bytes
	"$KVFS" set --key-file key db from/kvfs/json '{"a":[1,2.5,"x"],"b":null}'
	"$KVFS" set --key-file key db from/kvfs/counter 40 --type u64
	"$KVFS" sum --key-file key db from/kvfs/counter 2 >/dev/null
	"$KVFS" app-key --key-file key db app.json
}

t_the_client_reproduces_the_known_answers() {
	need_client || return 77
	interop kat
}

t_deno_opens_values_kvfs_sealed() {
	need_client || return 77
	make_store
	interop read db app.json
}

t_kvfs_opens_values_deno_sealed() {
	need_client || return 77
	make_store
	interop write db app.json
	expect_eq "$("$KVFS" get --key-file key db from/deno/text)" "sealed by deno"
	expect_eq "$("$KVFS" get --key-file key db from/deno/json)" \
		'{"name":"Ada","tags":["x","y"],"n":7}'
	expect_eq "$("$KVFS" get --key-file key db from/deno/count)" 9
	expect_eq "$("$KVFS" get --key-file key db from/deno/@42)" '"a number key"'
	expect_eq "$("$KVFS" sum --key-file key db from/deno/count 1)" 10
}

t_a_value_deno_sealed_for_another_key_reads_eio() {
	need_client || return 77
	make_store
	interop write db app.json
	expect_status 1 "$KVFS" get --key-file key db from/deno/moved
	expect_error_line "from/deno/moved" "input/output error"
	expect_status 1 "$KVFS" check --key-file key db
	printf '%s\n' "$out" | grep -q "^from/deno/moved:"
}

t_deno_opens_values_after_a_rekey_with_the_new_app_key() {
	need_client || return 77
	make_store
	"$KVFS" rekey --key-file key db >/dev/null
	"$KVFS" app-key --key-file key db app2.json
	interop read db app2.json
	if interop read db app.json 2>/dev/null; then
		echo "the old app key still opens the re-sealed values"
		return 1
	fi
}

run_tests
