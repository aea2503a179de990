#!/usr/bin/env bash
# (b) kvdriver writes values of every type; Deno reads each back deep-equal
# to the expected JavaScript value, and Deno's list order and versionstamps
# equal kvdriver's dump.
. "$(dirname "$0")/lib.sh"
db=$tmp/kv.sqlite3
"$kvdriver" write-vectors "$db"
deno_run read_vectors.ts "$db"
deno_run dump.ts "$db" >"$tmp/deno.ndjson"
"$kvdriver" dump "$db" >"$tmp/c.ndjson"
[ -s "$tmp/c.ndjson" ] || die "empty dump"
cmp "$tmp/deno.ndjson" "$tmp/c.ndjson" ||
	die "dumps differ: $(diff "$tmp/deno.ndjson" "$tmp/c.ndjson" | head -5)"
echo "ok: $(wc -l <"$tmp/c.ndjson") entries in the same order"
