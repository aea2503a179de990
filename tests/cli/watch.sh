#!/usr/bin/env bash
# kvfs watch: changes by other processes, one JSON line each.
. "$(dirname "$0")/lib.sh"

# Wait until watch catches SIGTERM (bit 14 of SigCgt), which it does once
# it has taken its first look at the keys: a fixed sleep may end sooner on
# a loaded machine.
wait_until_watching() {
	local tries=0
	until (( 0x$(awk '/^SigCgt/ {print $2}' "/proc/$1/status") & 0x4000 )) ||
		(( ++tries > 200 )); do
		sleep 0.05
	done
}

start_watch() {
	"$KVFS" watch db "$@" >lines 2>watch.err &
	WATCHER=$!
	wait_until_watching "$WATCHER"
}

stop_watch() {
	sleep 0.5
	kill -INT "$WATCHER"
	local status=0
	wait "$WATCHER" || status=$?
	expect_eq "$status" 0
}

t_watch_prints_sets_and_removals_by_other_processes() {
	"$KVFS" set db other 1
	start_watch users
	"$KVFS" set db users/@1 '{"a":1}'
	sleep 0.3
	"$KVFS" set db users/@1 '{"a":2}'
	sleep 0.3
	"$KVFS" rm db users/@1
	stop_watch
	expect_eq "$(jq -c .value lines | tr -d '\n')" \
		'{"type":"object","value":{"a":{"type":"number","value":1}}}{"type":"object","value":{"a":{"type":"number","value":2}}}null'
	expect_eq "$(jq -c '.key[1].value' lines | sort -u)" 1
	expect_eq "$(sed -n 3p lines | jq -r .versionstamp)" null
}

t_watch_ignores_keys_it_does_not_watch() {
	"$KVFS" set db c 0
	start_watch a b/@1
	"$KVFS" set db c 1
	"$KVFS" set db b/@2 1
	"$KVFS" set db b/@1/x 1
	stop_watch
	expect_eq "$(jq -c '[.key[].value]' lines)" '["b",1,"x"]'
}

t_watch_reports_a_key_whose_expiry_passes() {
	"$KVFS" set db k 1 --expire-in 4000
	start_watch k
	local waited=0
	until [ -s lines ] || (( ++waited > 150 )); do
		sleep 0.1
	done
	stop_watch
	expect_eq "$(jq -c '[.key[0].value, .value]' lines)" '["k",null]'
}

t_watch_sees_deno_writes() {
	need_deno
	"$KVFS" set db k 0
	start_watch k
	deno_run - db <<'TS'
const kv = await Deno.openKv(Deno.args[0]);
await kv.set(["k"], 10n);
kv.close();
TS
	stop_watch
	expect_eq "$(jq -c .value lines)" '{"type":"bigint","value":"10"}'
}

t_watch_stops_on_sigterm() {
	"$KVFS" set db k 0
	"$KVFS" watch db k &
	local pid=$! status=0
	wait_until_watching "$pid"
	kill -TERM "$pid"
	wait "$pid" || status=$?
	expect_eq "$status" 0
}

t_watch_of_a_missing_db_exits_1() {
	expect_status 1 "$KVFS" watch none.db k
	expect_error_line none.db
}

t_watch_without_a_path_is_bad_usage() {
	expect_status 2 "$KVFS" watch db
}

run_tests
