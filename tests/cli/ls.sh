#!/usr/bin/env bash
# kvfs ls: names in key order, -l and -r.
. "$(dirname "$0")/lib.sh"

t_ls_lists_names_in_key_order() {
	for p in b a @10 @2 @0x01 @true @7n 'a%2Fb'; do
		"$KVFS" set db "dir/$p" 1
	done
	expect_status 0 "$KVFS" ls db dir
	expect_eq "$out" "$(printf '%s\n' @0x01 a a%2Fb b @7n @2 @10 @true)"
}

t_ls_marks_keys_with_keys_below_them() {
	"$KVFS" set db a 1
	"$KVFS" set db a/b 2
	"$KVFS" set db c/d 3
	expect_status 0 "$KVFS" ls db
	expect_eq "$out" "$(printf '%s\n' a a/ c/)"
}

t_ls_long_shows_type_size_versionstamp_and_expiry() {
	"$KVFS" set db d/j '{"a":1}'
	"$KVFS" set db d/n 5 --type u64
	"$KVFS" set db d/t x --expire-in 600000
	"$KVFS" set db d/sub/k 1
	expect_status 0 "$KVFS" ls -l db d
	local vs
	vs=$("$KVFS" get --meta db d/j | jq -r .versionstamp)
	printf '%s\n' "$out" | grep -Eq "^json +8 $vs - +j\$"
	printf '%s\n' "$out" | grep -Eq '^u64 +2 [0-9a-f]{20} - +n$'
	printf '%s\n' "$out" |
		grep -Eq '^bytes +1 [0-9a-f]{20} [0-9-]{10}T[0-9:.]{12}Z +t$'
	printf '%s\n' "$out" | grep -Eq '^dir +- +- +- +sub/$'
}

t_ls_recursive_lists_every_key_by_path() {
	"$KVFS" set db x/a 1
	"$KVFS" set db x/b/c 2
	"$KVFS" set db x 0
	"$KVFS" set db y 3
	expect_status 0 "$KVFS" ls -r db x
	expect_eq "$out" "$(printf '%s\n' x x/a x/b/c)"
	expect_status 0 "$KVFS" ls -r db
	expect_eq "$out" "$(printf '%s\n' x x/a x/b/c y)"
}

t_ls_of_a_key_without_keys_below_lists_itself() {
	"$KVFS" set db a/@1 1
	expect_status 0 "$KVFS" ls db a/@1
	expect_eq "$out" @1
}

t_ls_of_nothing_exits_1() {
	"$KVFS" set db a 1
	expect_status 1 "$KVFS" ls db nothing
	expect_error_line "nothing" "no such key"
}

t_ls_of_an_empty_store_lists_nothing() {
	"$KVFS" set db a 1
	"$KVFS" rm db a
	expect_status 0 "$KVFS" ls db
	expect_eq "$out" ""
}

run_tests
