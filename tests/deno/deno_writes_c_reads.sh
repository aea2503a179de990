#!/usr/bin/env bash
# (a) Deno writes values and keys of every type; kvdriver reads every entry
# back with the same bytes, encoding, versionstamp and expiry, in Deno's
# order.
. "$(dirname "$0")/lib.sh"
db=$tmp/kv.sqlite3
deno_run write_all.ts "$db" "$KVFS_SHARED/denokv"
deno_run dump.ts "$db" >"$tmp/deno.ndjson"
"$kvdriver" dump "$db" >"$tmp/c.ndjson"
n=$(wc -l <"$tmp/deno.ndjson")
[ "$n" -ge 170 ] || die "Deno's dump has only $n entries"
grep -q '"expires":-1}' "$tmp/c.ndjson" || die "no entry without expiry"
grep -qv '"expires":-1}' "$tmp/c.ndjson" || die "the expireIn entry is missing"
cmp "$tmp/deno.ndjson" "$tmp/c.ndjson" ||
	die "dumps differ: $(diff "$tmp/deno.ndjson" "$tmp/c.ndjson" | head -5)"
echo "ok: $n entries identical"
