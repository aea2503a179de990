// Deno's view of a store, in kvdriver's dump format: one NDJSON line per
// entry of kv.list({prefix: []}), in Deno's order. The bytes come from the
// raw rows (Deno's API shows decoded values only); each listed key is
// re-encoded and must equal its row's key, so the lines are in Deno's list
// order and carry the versionstamps Deno itself reports.
// Usage: deno run --unstable-kv -A dump.ts DB
import { DatabaseSync } from "node:sqlite";
import { encodeKey, hex } from "./common.ts";

const path = Deno.args[0];
const kv = await Deno.openKv(path);
const listed: Deno.KvEntry<unknown>[] = [];
for await (const e of kv.list({ prefix: [] })) listed.push(e);
kv.close();

const db = new DatabaseSync(path, { readOnly: true });
const rows = db.prepare(
  "select k, v, v_encoding, version, expiration_ms from kv order by k",
).all() as { k: Uint8Array; v: Uint8Array; v_encoding: number; version: number; expiration_ms: number }[];
db.close();

if (rows.length !== listed.length) {
  throw new Error(`kv.list gave ${listed.length} entries, the table has ${rows.length}`);
}
const lines: string[] = [];
for (let i = 0; i < rows.length; i++) {
  const e = listed[i], row = rows[i];
  const key = hex(row.k);
  if (hex(encodeKey(e.key)) !== key) {
    throw new Error(`entry ${i}: listed key ${hex(encodeKey(e.key))} is not row key ${key}`);
  }
  const vs = BigInt(row.version).toString(16).padStart(16, "0") + "0000";
  if (e.versionstamp !== vs) throw new Error(`entry ${i}: versionstamp ${e.versionstamp} != ${vs}`);
  // a V8 value may itself read as a Uint8Array; a KvU64 is always LE64
  const typeOk = row.v_encoding === 3 ? e.value instanceof Uint8Array
    : row.v_encoding === 2 ? e.value instanceof Deno.KvU64
    : !(e.value instanceof Deno.KvU64);
  if (!typeOk) throw new Error(`entry ${i}: ${key} (encoding ${row.v_encoding}) read as ${Deno.inspect(e.value)}`);
  lines.push(JSON.stringify({
    key,
    enc: row.v_encoding,
    value: hex(row.v),
    versionstamp: e.versionstamp,
    expires: row.expiration_ms,
  }));
}
await Deno.stdout.write(new TextEncoder().encode(lines.map((l) => l + "\n").join("")));
