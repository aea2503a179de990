#!/usr/bin/env bash
# kvfs rm: one key, a subtree, the --max guard, subtrees beyond one commit.
. "$(dirname "$0")/lib.sh"

t_rm_removes_a_key() {
	"$KVFS" set db a 1
	"$KVFS" set db b 2
	expect_status 0 "$KVFS" rm db a
	expect_status 1 "$KVFS" get db a
	expect_status 0 "$KVFS" get db b
}

t_rm_of_a_missing_key_exits_1() {
	"$KVFS" set db b 2
	expect_status 1 "$KVFS" rm db a
	expect_error_line "a" "no such key"
}

t_rm_of_a_prefix_without_r_exits_1_and_says_r() {
	"$KVFS" set db d/a 1
	expect_status 1 "$KVFS" rm db d
	expect_error_line "d" "-r"
	expect_status 0 "$KVFS" get db d/a
}

t_rm_r_removes_the_key_and_every_key_below_it() {
	for p in d d/a d/b/c d/@1 dd e; do "$KVFS" set db "$p" 1; done
	"$KVFS" set db 'd%00' 1
	expect_status 0 "$KVFS" rm -r db d
	expect_eq "$("$KVFS" ls -r db)" "$(printf '%s\n' d%00 dd e)"
}

t_rm_r_refuses_above_max_and_removes_nothing() {
	for i in 1 2 3 4 5; do "$KVFS" set db "d/@$i" 1; done
	expect_status 1 "$KVFS" rm -r --max 4 db d
	expect_error_line "d" "--max"
	expect_eq "$("$KVFS" ls db d | wc -l)" 5
	expect_status 0 "$KVFS" rm -r --max 5 db d
	expect_eq "$("$KVFS" ls -r db)" ""
}

t_rm_r_of_up_to_1000_keys_is_one_commit() {
	seq 0 999 | awk '{printf "{\"key\":[{\"type\":\"string\",\"value\":\"d\"},{\"type\":\"number\",\"value\":%d}],\"value\":{\"type\":\"null\",\"value\":null},\"versionstamp\":\"00000000000000010000\"}\n", $1}' |
		"$KVFS" import db 2>/dev/null
	local before after
	before=$(sqlite3 db 'select version from data_version')
	expect_status 0 "$KVFS" rm -r db d
	expect_eq "$err" ""
	after=$(sqlite3 db 'select version from data_version')
	# One commit adds 1..9 to the version.
	[ $((after - before)) -ge 1 ] && [ $((after - before)) -le 9 ]
	expect_eq "$("$KVFS" ls -r db | wc -l)" 0
}

t_rm_r_beyond_one_commit_needs_max_and_says_so() {
	seq 0 1199 | awk '{printf "{\"key\":[{\"type\":\"string\",\"value\":\"d\"},{\"type\":\"number\",\"value\":%d}],\"value\":{\"type\":\"null\",\"value\":null},\"versionstamp\":\"00000000000000010000\"}\n", $1}' |
		"$KVFS" import db 2>/dev/null
	expect_status 1 "$KVFS" rm -r db d
	expect_error_line "d" "more than 1000 keys"
	expect_eq "$("$KVFS" ls db d | wc -l)" 1200
	expect_status 0 "$KVFS" rm -r --max 2000 db d
	expect_error_line "d" "2 commits"
	expect_eq "$("$KVFS" ls -r db | wc -l)" 0
}

run_tests
