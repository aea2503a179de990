#!/usr/bin/env bash
# (d) A store kvdriver created has exactly the schema of a store Deno
# creates, and Deno opens it without migrating: migration_state stays 3,
# sqlite_master is unchanged, and Deno reads kvdriver's values and writes
# its own, which kvdriver then reads.
. "$(dirname "$0")/lib.sh"
c=$tmp/c.sqlite3
d=$tmp/deno.sqlite3
"$kvdriver" write-vectors "$c"
deno_run inspect.ts "$c" >"$tmp/before.json"
"$DENO" eval --unstable-kv "const kv = await Deno.openKv('$d'); await kv.set(['x'], 1); kv.close();"
deno_run inspect.ts "$d" >"$tmp/deno.json"
jq -c .schema "$tmp/before.json" >"$tmp/c.schema"
jq -c .schema "$tmp/deno.json" >"$tmp/d.schema"
cmp "$tmp/c.schema" "$tmp/d.schema" || die "schema differs from Deno's: $(diff "$tmp/c.schema" "$tmp/d.schema")"
for f in before deno; do
	[ "$(jq -r '.migration, .journal' "$tmp/$f.json" | tr '\n' ' ')" = "3 wal " ] ||
		die "$f: not migration 3 in WAL mode: $(cat "$tmp/$f.json")"
done
deno_run touch.ts "$c"
deno_run inspect.ts "$c" >"$tmp/after.json"
[ "$(jq -c '.schema, .migration' "$tmp/before.json")" = "$(jq -c '.schema, .migration' "$tmp/after.json")" ] ||
	die "Deno changed the schema or migration_state"
"$kvdriver" dump "$c" >"$tmp/c.ndjson"
# ["from-deno"] = 02 "from-deno" 00
grep -q '"key":"0266726f6d2d64656e6f00","enc":1' "$tmp/c.ndjson" || die "kvdriver does not see Deno's write"
echo "ok: Deno used the store as it was"
