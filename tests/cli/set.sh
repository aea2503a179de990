#!/usr/bin/env bash
# kvfs set: typing as the mount does, checked writes, expiry, creation.
. "$(dirname "$0")/lib.sh"

type_of() {
	"$KVFS" get --meta db "$1" | jq -r .type
}

t_set_of_json_content_makes_a_v8_value() {
	"$KVFS" set db a '{"n":1}'
	expect_eq "$(type_of a)" json
}

t_set_of_other_content_makes_bytes() {
	"$KVFS" set db a 'hello world'
	expect_eq "$(type_of a)" bytes
	expect_eq "$("$KVFS" get db a)" 'hello world'
}

t_set_reads_standard_input_without_value() {
	printf '[1,2]\n' | "$KVFS" set db a
	expect_eq "$(type_of a)" json
	expect_eq "$("$KVFS" get db a)" '[1,2]'
}

t_set_of_an_existing_key_keeps_its_type() {
	"$KVFS" set db a 'text'
	"$KVFS" set db a '42'
	expect_eq "$(type_of a)" bytes
	"$KVFS" set db n 5 --type u64
	"$KVFS" set db n 6
	expect_eq "$(type_of n)" u64
	expect_eq "$("$KVFS" get db n)" 6
}

t_set_of_an_empty_bytes_key_takes_the_new_type() {
	"$KVFS" set db a ''
	expect_eq "$(type_of a)" bytes
	"$KVFS" set db a '{"x":true}'
	expect_eq "$(type_of a)" json
}

t_set_type_option_chooses_the_type() {
	"$KVFS" set db a '{"x":1}' --type bytes
	expect_eq "$(type_of a)" bytes
	"$KVFS" set db a 7 --type u64
	expect_eq "$(type_of a)" u64
	"$KVFS" set db a '"s"' --type json
	expect_eq "$("$KVFS" get db a)" '"s"'
}

t_set_of_content_that_does_not_parse_exits_1() {
	expect_status 1 "$KVFS" set db n abc --type u64
	expect_error_line "n" "u64"
	expect_status 1 "$KVFS" get db n
}

t_set_if_absent_exits_3_when_the_key_exists() {
	expect_status 0 "$KVFS" set db a one --if-absent
	expect_status 3 "$KVFS" set db a two --if-absent
	expect_error_line "a" "check failed"
	expect_eq "$("$KVFS" get db a)" one
}

t_set_if_versionstamp_writes_only_over_that_versionstamp() {
	"$KVFS" set db a one
	local vs
	vs=$("$KVFS" get --meta db a | jq -r .versionstamp)
	expect_status 0 "$KVFS" set db a two --if-versionstamp "$vs"
	expect_status 3 "$KVFS" set db a three --if-versionstamp "$vs"
	expect_error_line "a" "check failed"
	expect_eq "$("$KVFS" get db a)" two
}

t_set_bad_versionstamp_is_bad_usage() {
	expect_status 2 "$KVFS" set db a x --if-versionstamp 12
	expect_error_line "versionstamp"
}

t_set_expire_in_sets_the_expiry() {
	"$KVFS" set db a x --expire-in 3600000
	local at now
	at=$("$KVFS" get --meta db a | jq -r .expires_at)
	at=$(date -d "$at" +%s)
	now=$(date +%s)
	[ "$at" -ge $((now + 3590)) ] && [ "$at" -le $((now + 3610)) ]
}

t_set_expiry_is_kept_by_a_rewrite_and_removed_by_no_expire() {
	"$KVFS" set db a x --expire-in 3600000
	"$KVFS" set db a y
	[ "$("$KVFS" get --meta db a | jq -r .expires_at)" != null ]
	"$KVFS" set db a z --no-expire
	expect_eq "$("$KVFS" get --meta db a | jq -r .expires_at)" null
}

t_set_expire_in_0_hides_the_key_at_once() {
	"$KVFS" set db a x --expire-in 0
	expect_status 1 "$KVFS" get db a
}

t_set_takes_a_value_beginning_with_a_dash_after_double_dash() {
	"$KVFS" set db a -- -5
	expect_eq "$("$KVFS" get db a)" -5
	expect_eq "$(type_of a)" json
}

t_set_creates_the_db_in_denos_format() {
	"$KVFS" set new.db a 1
	expect_eq "$(sqlite3 new.db 'select version from migration_state')" 3
	expect_eq "$(sqlite3 new.db 'select count(*) from kv')" 1
}

t_set_of_a_value_too_large_exits_1() {
	head -c 70000 /dev/zero | tr '\0' x >big
	expect_status 1 "$KVFS" set db a <big
	expect_error_line "a" "too large"
}

t_set_of_the_root_is_bad_usage() {
	expect_status 2 "$KVFS" set db / x
	expect_error_line "root"
}

t_set_with_an_unknown_option_is_bad_usage() {
	expect_status 2 "$KVFS" set db a x --bogus
	expect_error_line "--bogus"
}

run_tests
