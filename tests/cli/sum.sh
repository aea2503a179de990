#!/usr/bin/env bash
# kvfs sum, min, max: Deno's KvU64 atomics, printing the committed value.
. "$(dirname "$0")/lib.sh"

t_sum_of_a_missing_key_stores_n() {
	expect_status 0 "$KVFS" sum db c 5
	expect_eq "$out" 5
	expect_eq "$("$KVFS" get --meta db c | jq -r .type)" u64
}

t_sum_adds_and_prints_the_sum() {
	"$KVFS" sum db c 5
	expect_status 0 "$KVFS" sum db c 7
	expect_eq "$out" 12
	expect_eq "$("$KVFS" get db c)" 12
}

t_sum_wraps_around_at_2_64() {
	"$KVFS" set db c 18446744073709551615 --type u64
	expect_status 0 "$KVFS" sum db c 2
	expect_eq "$out" 1
}

t_min_keeps_the_smaller() {
	"$KVFS" sum db c 10
	expect_status 0 "$KVFS" min db c 20
	expect_eq "$out" 10
	expect_status 0 "$KVFS" min db c 3
	expect_eq "$out" 3
}

t_max_keeps_the_larger() {
	"$KVFS" sum db c 10
	expect_status 0 "$KVFS" max db c 3
	expect_eq "$out" 10
	expect_status 0 "$KVFS" max db c 30
	expect_eq "$out" 30
}

t_sum_removes_the_expiry() {
	"$KVFS" set db c 1 --type u64 --expire-in 600000
	"$KVFS" sum db c 1
	expect_eq "$("$KVFS" get --meta db c | jq -r .expires_at)" null
}

t_sum_on_a_value_that_is_no_kvu64_exits_1() {
	"$KVFS" set db c '"text"'
	expect_status 1 "$KVFS" sum db c 1
	expect_error_line "c" "KvU64"
	expect_eq "$("$KVFS" get db c)" '"text"'
}

t_sum_of_a_bad_number_is_bad_usage() {
	expect_status 2 "$KVFS" sum db c -1
	expect_status 2 "$KVFS" sum db c 18446744073709551616
	expect_status 2 "$KVFS" sum db c x
}

t_sum_from_concurrent_processes_loses_no_addition() {
	"$KVFS" sum db c 0 >/dev/null
	for p in 1 2 3 4; do
		(for i in $(seq 25); do "$KVFS" sum db c 1 >/dev/null; done) &
	done
	wait
	expect_eq "$("$KVFS" get db c)" 100
}

t_sum_reads_what_deno_stored() {
	need_deno
	deno_run - db <<'TS'
const kv = await Deno.openKv(Deno.args[0]);
await kv.set(["c"], new Deno.KvU64(40n));
kv.close();
TS
	expect_status 0 "$KVFS" sum db c 2
	expect_eq "$out" 42
}

run_tests
