#!/usr/bin/env bash
# kvfs export and import: kv-utils NDJSON, lossless for every value Deno
# stores, checked by the real Deno.
. "$(dirname "$0")/lib.sh"

entry() { # entry KEY-NAME VALUE-JSON
	printf '{"key":[{"type":"string","value":"%s"}],"value":%s,"versionstamp":"00000000000000010000"}\n' "$1" "$2"
}

t_export_import_round_trip_is_lossless_for_every_vector() {
	need_deno
	deno_run "$CLI_TESTS/write_vectors.ts" src.db "$SHARED" >/dev/null
	expect_status 0 "$KVFS" export src.db
	printf '%s\n' "$out" >all.ndjson
	expect_status 0 "$KVFS" import copy.db <all.ndjson
	expect_eq "$err" "kvfs import: 181 imported, 0 skipped, 0 failed"
	deno_run "$CLI_TESTS/compare.ts" src.db copy.db
	# Keys come back byte for byte, also -0 and a NaN with its sign.
	expect_eq "$(sqlite3 copy.db 'select hex(k) from kv order by k')" \
		"$(sqlite3 src.db 'select hex(k) from kv order by k')"
}

t_export_lines_are_exactly_kv_utils_entries() {
	need_deno
	deno_run "$CLI_TESTS/write_vectors.ts" src.db "$SHARED" >/dev/null
	"$KVFS" export src.db >all.ndjson
	deno_run "$CLI_TESTS/kvutils_check.ts" src.db all.ndjson
}

t_export_is_in_key_order_with_versionstamps() {
	"$KVFS" set db b 1
	"$KVFS" set db a 2
	"$KVFS" set db @1 3
	expect_status 0 "$KVFS" export db
	# Deno's order: strings before numbers.
	expect_eq "$(jq -c '[.key[0].value]' <<<"$out" | tr -d '\n')" '["a"]["b"][1]'
	expect_eq "$(jq -r .versionstamp <<<"$out" | head -1)" \
		"$("$KVFS" get --meta db a | jq -r .versionstamp)"
}

t_export_of_a_path_exports_its_subtree() {
	for p in d d/a d/b/c dd e; do "$KVFS" set db "$p" 1; done
	expect_status 0 "$KVFS" export db d
	expect_eq "$(jq -c '[.key[].value]' <<<"$out" | tr -d '\n')" \
		'["d"]["d","a"]["d","b","c"]'
}

t_import_reads_the_shapes_kv_utils_writes() {
	# Each value as kv-utils printed it (logs/kvutils_json_run.log) is read
	# and exported again unchanged. The subarray row is left out: at the top
	# a Uint8Array is stored as its window, as Deno stores it.
	grep -v -e '^key ' -e '^entry' -e '^subarray' \
		"$SHARED/denokv/logs/kvutils_json_run.log" |
		sed 's/^[^{]*//' >values
	local i=0 v
	while read -r v; do
		entry "v$i" "$v"
		i=$((i + 1))
	done <values >in.ndjson
	[ "$i" -gt 15 ]
	expect_status 0 "$KVFS" import db <in.ndjson
	"$KVFS" export db | jq -c .value >out
	sort values >want
	sort out >got
	diff want got
}

t_import_of_the_logged_entry_line_keeps_key_and_value() {
	sed -n 's/^entryToJSON *//p' \
		"$SHARED/denokv/logs/kvutils_json_run.log" >in.ndjson
	expect_status 0 "$KVFS" import db <in.ndjson
	expect_eq "$("$KVFS" get db a/@1n)" '"v"'
}

t_import_skips_existing_keys_without_overwrite() {
	"$KVFS" set db a old
	{ entry a '{"type":"string","value":"new"}'
	  entry b '{"type":"string","value":"new"}'; } >in.ndjson
	expect_status 0 "$KVFS" import db <in.ndjson
	expect_eq "$err" "kvfs import: 1 imported, 1 skipped, 0 failed"
	expect_eq "$("$KVFS" get db a)" old
	expect_eq "$("$KVFS" get db b)" '"new"'
}

t_import_overwrite_replaces_existing_keys() {
	"$KVFS" set db a old
	entry a '{"type":"string","value":"new"}' >in.ndjson
	expect_status 0 "$KVFS" import db --overwrite <in.ndjson
	expect_eq "$err" "kvfs import: 1 imported, 0 skipped, 0 failed"
	expect_eq "$("$KVFS" get db a)" '"new"'
}

t_import_prefix_puts_keys_below_a_path() {
	entry a '{"type":"KvU64","value":"7"}' >in.ndjson
	expect_status 0 "$KVFS" import db --prefix backup/@1 <in.ndjson
	expect_eq "$("$KVFS" get db backup/@1/a)" 7
}

t_import_reports_bad_lines_and_goes_on() {
	{ entry a '{"type":"string","value":"ok"}'
	  echo 'not json'
	  entry b '{"type":"Nonsense","value":1}'
	  echo
	  entry c '{"type":"number","value":3}'; } >in.ndjson
	expect_status 1 "$KVFS" import db <in.ndjson
	printf '%s\n' "$err" | grep -q '^kvfs import: line 2: the line is not JSON$'
	printf '%s\n' "$err" | grep -q '^kvfs import: line 3: b: unknown value type$'
	printf '%s\n' "$err" | grep -q '2 imported, 0 skipped, 2 failed'
	expect_eq "$("$KVFS" get db c)" 3
}

t_import_creates_the_db() {
	entry a '{"type":"null","value":null}' | "$KVFS" import new.db 2>/dev/null
	expect_eq "$("$KVFS" get new.db a)" null
}

t_export_reports_undecodable_entries_and_goes_on() {
	"$KVFS" set db a 1
	"$KVFS" set db z 2
	sqlite3 db "insert into kv (k, v, v_encoding, version) values
		(X'0262', X'ff0f4902', 1, 1), (X'026300', X'ff0f99', 1, 1)"
	expect_status 1 "$KVFS" export db
	expect_eq "$(jq -c '[.key[].value]' <<<"$out" | tr -d '\n')" '["a"]["z"]'
	expect_eq "$err" "$(printf '%s\n' \
		'kvfs export: 0x0262: the key does not decode' \
		'kvfs export: c: the value does not decode')"
}

t_export_shows_progress_only_on_a_terminal() {
	seq 0 19999 | awk '{printf "{\"key\":[{\"type\":\"number\",\"value\":%d}],\"value\":{\"type\":\"null\",\"value\":null},\"versionstamp\":\"00000000000000010000\"}\n", $1}' >in.ndjson
	expect_status 0 "$KVFS" import db <in.ndjson
	expect_eq "$err" "kvfs import: 20000 imported, 0 skipped, 0 failed"
	expect_status 0 "$KVFS" export db
	expect_eq "$err" ""
	command -v script >/dev/null || return 0
	# A reader that waits makes the export last past the first redraw
	# (100 ms), however fast the build: the pipe fills and export blocks.
	script -qec "$KVFS export db | { sleep 0.3; cat >/dev/null; }" \
		/dev/null >tty.out
	grep -q 'kvfs export: [0-9]* entries' tty.out
}

t_export_of_a_missing_db_exits_1() {
	expect_status 1 "$KVFS" export none.db
	expect_error_line none.db
}

run_tests
