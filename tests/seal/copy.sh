#!/usr/bin/env bash
# kvfs copy of encrypted stores (issues 4 and 9): the copy carries the seal
# row and the sealed values as they are stored, so it opens with the same
# key file or passphrase, through the commands and through Deno with
# clients/deno/kvfs_seal.ts, after SQLite -> etcd -> SQLite. Needs
# KVFS_ETCD_ENDPOINTS: run it under tests/etcd/cluster.sh run.
. "$(dirname "$0")/lib.sh"
: "${KVFS_ETCD_ENDPOINTS:?run under tests/etcd/cluster.sh run}"

KEYS=(from/kvfs/text from/kvfs/json from/kvfs/counter big soon users/alice/@value users/alice/name)

# A fresh store on the cluster for each use.
etcd_uri() {
	echo "etcd://$KVFS_ETCD_ENDPOINTS/kvfs-test/seal-copy-$$-$RANDOM$RANDOM"
}

# An encrypted store with a key file, every kind of value and an expiry.
make_store() {
	"$KVFS" init --encrypt --new-key-file key db >/dev/null
	printf 'sealed by kvfs\n' | "$KVFS" set --key-file key db from/kvfs/text --type bytes
	"$KVFS" set --key-file key db from/kvfs/json '{"a":[1,2.5,"x"],"b":null}'
	"$KVFS" set --key-file key db from/kvfs/counter 40 --type u64
	"$KVFS" sum --key-file key db from/kvfs/counter 2 >/dev/null
	head -c 65489 /dev/urandom | "$KVFS" set --key-file key db big --type bytes
	"$KVFS" set --key-file key db soon '"expires in an hour"' --expire-in 3600000
	"$KVFS" set --key-file key db users/alice '"SECRET-alice"'
	"$KVFS" set --key-file key db users/alice/name '"Alice"'
}

# SRC to etcd and from there to the SQLite file back.
round_trip() {
	local uri
	uri=$(etcd_uri)
	"$KVFS" copy "$1" "$uri"
	"$KVFS" copy "$uri" back
	echo "$uri" >uri
}

# The exported entries without their versionstamps (the copy's own).
entries() {
	"$KVFS" export "$@" | jq -c 'del(.versionstamp)'
}

rows() {
	sqlite3 "$1" "select hex(k), v_encoding, hex(v) from kv order by k"
}

# What a refused copy must leave alone: every table, metadata too.
state() {
	sqlite3 "$1" .dump
}

t_every_value_reads_back_with_the_key_file_after_sqlite_etcd_sqlite() {
	make_store
	round_trip db
	local k
	for k in "${KEYS[@]}"; do
		expect_eq "$("$KVFS" get --key-file key back "$k" | sha256sum)" \
			"$("$KVFS" get --key-file key db "$k" | sha256sum)"
	done
	expect_eq "$("$KVFS" get --key-file key back users/alice)" '"SECRET-alice"'
	expect_eq "$(entries --key-file key back)" "$(entries --key-file key db)"
	expect_eq "$(entries --key-file key "$(cat uri)")" "$(entries --key-file key db)"
	[ "$(entries --key-file key db | wc -l)" = 7 ]
}

t_sealed_values_and_the_seal_row_are_copied_byte_for_byte() {
	make_store
	round_trip db
	expect_eq "$(rows back)" "$(rows db)"
	expect_eq "$(sqlite3 back "select hex(v) from kvfs_meta where k = 'seal'")" \
		"$(sqlite3 db "select hex(v) from kvfs_meta where k = 'seal'")"
	local soon="k = x'02736f6f6e00'"
	expect_eq "$(sqlite3 back "select abs(expiration_ms - $(sqlite3 db "select expiration_ms from kv where $soon")) < 1000 from kv where $soon")" 1
	if strings back back-wal 2>/dev/null | grep -q SECRET; then
		echo "plaintext in the copy"
		return 1
	fi
}

t_deno_reads_the_final_sqlite_copy_with_the_app_key() {
	need_client || return 77
	make_store
	"$KVFS" app-key --key-file key db app.json
	interop write db app.json
	round_trip db
	interop read back app.json
	expect_eq "$("$KVFS" get --key-file key back from/deno/json)" \
		'{"name":"Ada","tags":["x","y"],"n":7}'
	expect_status 1 "$KVFS" get --key-file key back from/deno/moved
	expect_error_line "from/deno/moved" "input/output error"
}

t_a_copy_needs_no_key_and_opens_with_the_passphrase_alone() {
	printf 'pw\n' >pass
	printf 'other\n' >wrong
	"$KVFS" init --encrypt --passphrase-file pass "${KDF[@]}" db >/dev/null
	"$KVFS" set --passphrase-file pass db a '"by passphrase"'
	expect_status 0 env -u KVFS_PASSPHRASE "$KVFS" copy db copy </dev/null
	expect_eq "$("$KVFS" get --passphrase-file pass copy a)" '"by passphrase"'
	expect_status 1 "$KVFS" get --passphrase-file wrong copy a
}

t_the_copy_is_a_working_encrypted_store_of_its_own() {
	make_store
	round_trip db
	"$KVFS" set --key-file key back users/bob '"new in the copy"'
	expect_eq "$("$KVFS" sum --key-file key back from/kvfs/counter 1)" 43
	expect_eq "$("$KVFS" get --key-file key back users/bob)" '"new in the copy"'
	expect_status 1 "$KVFS" get --key-file key db users/bob
	expect_eq "$("$KVFS" get --key-file key db from/kvfs/counter)" 42
	expect_eq "$(sqlite3 back "select v_encoding from kv where k = (select max(k) from kv)")" 3
}

t_pointer_list_rules_of_an_encrypted_store_survive_a_copy() {
	make_store
	"$KVFS" pointers add --key-file key db 'user/*/posts' post
	"$KVFS" pointers add --key-file key db 'tag/*' post
	round_trip db
	expect_eq "$("$KVFS" pointers ls --key-file key back)" \
		"$("$KVFS" pointers ls --key-file key db)"
	expect_eq "$(sqlite3 back "select k from kvfs_meta order by k" | tr '\n' ' ')" "pointers seal "
}

t_a_copy_into_a_store_with_entries_is_refused_and_changes_nothing() {
	make_store
	"$KVFS" set full x '"mine"'
	local before
	before=$(state full)
	expect_status 1 "$KVFS" copy db full
	expect_error_line "kvfs copy: full: not empty: it holds entries"
	expect_eq "$(state full)" "$before"
	local uri
	uri=$(etcd_uri)
	"$KVFS" set "$uri" x '"mine"'
	before=$("$KVFS" export "$uri")
	expect_status 1 "$KVFS" copy db "$uri"
	expect_error_line "kvfs copy: $uri: not empty: it holds entries"
	expect_eq "$("$KVFS" export "$uri")" "$before"
}

t_a_copy_into_an_empty_encrypted_store_is_refused_and_its_keys_stay() {
	make_store
	"$KVFS" init --encrypt --new-key-file key2 empty >/dev/null
	local before
	before=$(state empty)
	expect_status 1 "$KVFS" copy db empty
	expect_error_line "kvfs copy: empty: an encrypted store" "kvfs export | kvfs import"
	expect_eq "$(state empty)" "$before"
	"$KVFS" set --key-file key2 empty a '"still mine"'
	expect_eq "$("$KVFS" get --key-file key2 empty a)" '"still mine"'
}

t_a_plain_store_is_sealed_into_an_encrypted_store_holding_only_its_keys() {
	"$KVFS" set plain users/alice '"plain-SECRET"'
	"$KVFS" pointers add plain 'user/*/posts' post
	"$KVFS" init --encrypt --new-key-file key db >/dev/null
	local uri
	uri=$(etcd_uri)
	"$KVFS" copy db "$uri"
	expect_status 0 "$KVFS" copy --key-file key plain "$uri"
	"$KVFS" copy "$uri" back
	expect_eq "$("$KVFS" get --key-file key back users/alice)" '"plain-SECRET"'
	expect_eq "$("$KVFS" pointers ls --key-file key back)" "$("$KVFS" pointers ls plain)"
	expect_eq "$(sqlite3 back "select v_encoding, length(v) from kv")" "3|$((16 + 47))"
	if strings back back-wal 2>/dev/null | grep -q SECRET; then
		echo "plaintext in the copy"
		return 1
	fi
}

t_values_that_fill_a_commit_in_clear_are_sealed_into_an_encrypted_store() {
	# 1000 values of 784 bytes fill one commit (800 KiB); sealed, they
	# would not, so the copy counts their envelopes.
	python3 -c 'import json
for i in range(1000):
    print(json.dumps({"key": [{"type": "string", "value": "k"}, {"type": "number", "value": i}],
                      "value": {"type": "string", "value": "x" * 780},
                      "versionstamp": "00000000000000010000"}))' | "$KVFS" import plain 2>/dev/null
	"$KVFS" init --encrypt --new-key-file key db >/dev/null
	expect_status 0 "$KVFS" copy --key-file key plain db
	expect_eq "$(sqlite3 db "select count(*), min(v_encoding) from kv")" "1000|3"
	expect_eq "$(entries --key-file key db)" "$(entries plain)"
}

run_tests
