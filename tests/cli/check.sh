#!/usr/bin/env bash
# kvfs check: every entry that does not decode, and nothing changed.
. "$(dirname "$0")/lib.sh"

# Rows no Deno writer makes, between good keys, put with sqlite3.
bad_rows() {
	for p in a m z; do "$KVFS" set db "$p" 1; done
	sqlite3 db <<'SQL'
insert into kv (k, v, v_encoding, version) values
  (X'0261', X'ff0f4902', 1, 1),                -- a string with no end
  (X'0262ff', X'ff0f4902', 1, 1),              -- a bad escape
  (X'026200', X'ff0f4902', 9, 1),              -- b: unknown v_encoding
  (X'026300', X'01020304050607', 2, 1),        -- c: KvU64 of 7 bytes
  (X'026400', X'ff0f99', 1, 1);                -- d: V8 that does not decode
SQL
}

t_check_of_a_clean_store_exits_0() {
	for p in a b/c @1; do "$KVFS" set db "$p" 1; done
	"$KVFS" sum db n 1 >/dev/null
	expect_status 0 "$KVFS" check db
	expect_eq "$out" ""
	expect_eq "$err" "kvfs check: 4 entries, 0 problems"
}

t_check_reports_each_bad_entry_and_goes_on() {
	bad_rows
	expect_status 1 "$KVFS" check db
	expect_eq "$out" "$(printf '%s\n' \
		'0x0261: the key does not decode' \
		'b: unknown v_encoding 9' \
		'0x0262ff: the key does not decode' \
		'c: a KvU64 of 7 bytes, not 8' \
		'd: the V8 value does not decode (malformed)')"
	expect_eq "$err" "kvfs check: 8 entries, 5 problems"
}

t_check_changes_nothing() {
	bad_rows
	"$KVFS" set db old x --expire-in 1
	sleep 0.1
	local before
	before=$(md5sum db)
	expect_status 1 "$KVFS" check db
	expect_eq "$(md5sum db)" "$before"
	expect_eq "$(sqlite3 db "select count(*) from kv where k = X'026f6c6400'")" 1
}

t_check_of_a_store_that_needs_migrating_changes_nothing() {
	sqlite3 db "create table migration_state(k integer not null primary key,
		version integer not null); insert into migration_state values (0, 1);"
	local before
	before=$(md5sum db)
	expect_status 1 "$KVFS" check db
	expect_error_line db "current format"
	expect_eq "$(md5sum db)" "$before"
}

t_check_of_a_missing_db_exits_1() {
	expect_status 1 "$KVFS" check none.db
	expect_error_line none.db
	[ ! -e none.db ]
}

run_tests
