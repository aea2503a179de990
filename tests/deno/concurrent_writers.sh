#!/usr/bin/env bash
# (c) Deno and kvdriver write one file at the same time for ~3 s: no error
# on either side, each sees its versionstamps strictly increase, Deno's
# stale checks fail, and afterwards the file is intact and the shared
# counter holds every increment of both.
. "$(dirname "$0")/lib.sh"
db=$tmp/kv.sqlite3
"$kvdriver" init "$db"
# kvdriver goes on a little longer than Deno, whose checks need its writes
"$kvdriver" hammer "$db" 4 >"$tmp/c.out" 2>"$tmp/c.err" &
cpid=$!
deno_run concurrent.ts "$db" 3 >"$tmp/deno.out" || { wait $cpid || true; die "the Deno writer failed"; }
wait $cpid || die "kvdriver hammer failed: $(cat "$tmp/c.err")"
c_commits=$(cat "$tmp/c.out")
deno_sums=$(jq -r .sums "$tmp/deno.out")
[ "$c_commits" -gt 10 ] || die "kvdriver made only $c_commits commits"
[ "$deno_sums" -gt 10 ] || die "Deno made only $deno_sums commits"
deno_run inspect.ts "$db" >"$tmp/inspect.json"
[ "$(jq -r .integrity "$tmp/inspect.json")" = ok ] || die "integrity_check failed"
counter=$(jq -r .counter "$tmp/inspect.json")
[ "$counter" = $((c_commits + deno_sums)) ] ||
	die "counter is $counter, expected $c_commits + $deno_sums"
"$kvdriver" dump "$db" >"$tmp/c.ndjson"
echo "ok: kvdriver $c_commits commits, Deno $(cat "$tmp/deno.out"), counter $counter"
