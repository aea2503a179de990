#!/usr/bin/env bash
# kvfs get: the value as the mount shows it, --meta, and the errors.
. "$(dirname "$0")/lib.sh"

t_get_prints_json_value_as_one_line() {
	"$KVFS" set db a '{ "x" : [1, 2.5, "s"] }'
	expect_status 0 "$KVFS" get db a
	expect_eq "$out" '{"x":[1,2.5,"s"]}'
	expect_eq "$(od -c .out | head -1)" "$(printf '{"x":[1,2.5,"s"]}\n' | od -c | head -1)"
}

t_get_prints_bytes_unchanged() {
	printf 'a\000b\377' | "$KVFS" set db blob
	"$KVFS" get db blob >got
	printf 'a\000b\377' >want
	cmp got want
}

t_get_prints_u64_in_decimal() {
	"$KVFS" set db n 18446744073709551615 --type u64
	expect_status 0 "$KVFS" get db n
	expect_eq "$out" 18446744073709551615
}

t_get_of_a_missing_key_exits_1_naming_the_key() {
	"$KVFS" set db a 1
	expect_status 1 "$KVFS" get db users/@42
	expect_error_line "users/@42" "no such key"
}

t_get_of_an_etcd_store_without_libcurl_says_what_is_missing() {
	# libcurl is loaded only for an etcd store; a libcurl.so.4 without
	# curl's functions stands for one that is missing or broken.
	echo 'int not_curl;' | cc -shared -fPIC -o libcurl.so.4 -x c -
	LD_LIBRARY_PATH=$PWD expect_status 1 "$KVFS" get etcd://127.0.0.1:9/s a
	expect_error_line "etcd://127.0.0.1:9/s" "cannot open" "libcurl.so.4"
}

t_get_of_a_missing_db_exits_1_in_one_line() {
	expect_status 1 "$KVFS" get nothing.db a
	expect_error_line "nothing.db"
	[ ! -e nothing.db ]
}

t_get_of_a_bad_path_exits_2() {
	"$KVFS" set db a 1
	expect_status 2 "$KVFS" get db '@nonsense'
	expect_error_line "@nonsense"
}

t_get_accepts_slashes_and_at_value() {
	"$KVFS" set db dir 1
	"$KVFS" set db dir/child 2
	expect_status 0 "$KVFS" get db /dir/@value
	expect_eq "$out" 1
	expect_status 0 "$KVFS" get db dir/child/
	expect_eq "$out" 2
}

t_get_meta_prints_entry_type_and_expiry() {
	"$KVFS" set db users/@42 '{"a":1}'
	"$KVFS" set db tmp x --expire-in 600000
	expect_status 0 "$KVFS" get --meta db users/@42
	expect_eq "$(jq -c .key <<<"$out")" \
		'[{"type":"string","value":"users"},{"type":"number","value":42}]'
	expect_eq "$(jq -c .value <<<"$out")" \
		'{"type":"object","value":{"a":{"type":"number","value":1}}}'
	expect_eq "$(jq -r .type <<<"$out")" json
	expect_eq "$(jq -r .expires_at <<<"$out")" null
	jq -r .versionstamp <<<"$out" | grep -Eq '^[0-9a-f]{20}$'
	expect_status 0 "$KVFS" get db tmp --meta
	expect_eq "$(jq -r .type <<<"$out")" bytes
	jq -r .expires_at <<<"$out" |
		grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}Z$'
}

# Every row of docs/json.md whose JavaScript and JSON are one expression
# each: Deno stores the JavaScript, kvfs get must print the JSON.
t_get_prints_the_renderings_of_docs_json_md() {
	need_deno
	sed -n 's/^| `\([^`]*\)` | `\([^`]*\)` |.*$/\1\t\2/p' \
		"$CLI_TESTS/../../docs/json.md" | grep -v '…' >rows.tsv
	[ "$(wc -l <rows.tsv)" -gt 20 ]
	deno_run "$CLI_TESTS/write_exprs.ts" db <rows.tsv
	local i=0 js json
	while IFS=$'\t' read -r js json; do
		expect_status 0 "$KVFS" get db "doc/@$i"
		expect_eq "$out" "$json" || { echo "for $js"; return 1; }
		i=$((i + 1))
	done <rows.tsv
}

run_tests
