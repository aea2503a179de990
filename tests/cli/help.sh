#!/usr/bin/env bash
# kvfs --help and kvfs COMMAND --help; bad usage is one line and status 2.
. "$(dirname "$0")/lib.sh"

commands="get set ls rm sum min max export import watch check"

t_help_lists_every_command() {
	expect_status 0 "$KVFS" --help
	for c in $commands; do
		printf '%s\n' "$out" | grep -q "^  $c "
	done
}

t_each_command_has_help() {
	for c in $commands; do
		expect_status 0 "$KVFS" "$c" --help
		printf '%s\n' "$out" | grep -q "^usage: kvfs $c "
	done
}

t_a_missing_operand_is_one_line_and_status_2() {
	for c in $commands; do
		expect_status 2 "$KVFS" "$c"
		expect_error_line "kvfs $c:" "kvfs $c --help"
	done
}

t_an_unknown_option_is_one_line_and_status_2() {
	for c in $commands; do
		expect_status 2 "$KVFS" "$c" --no-such-option
		expect_error_line "--no-such-option"
	done
}

t_the_man_page_names_every_command() {
	local page=$CLI_TESTS/../../docs/kvfs.1
	for c in get set ls rm sum min max export import watch check mount; do
		grep -Eq "^\.SS kvfs ([a-z]+\|)*$c[ |]" "$page"
	done
	if command -v groff >/dev/null; then
		[ -z "$(groff -man -Tutf8 -ww -z "$page" 2>&1)" ]
	fi
}

run_tests
