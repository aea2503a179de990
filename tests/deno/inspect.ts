// What a store file holds, read with SQLite directly (node:sqlite): its
// schema, migration_state, journal mode and data_version, the KvU64 at
// ["counter"] and an integrity check. Prints one JSON object.
// Usage: deno run -A inspect.ts DB
import { DatabaseSync } from "node:sqlite";

const db = new DatabaseSync(Deno.args[0], { readOnly: true });
const one = (sql: string) => Object.values(db.prepare(sql).get() ?? {})[0];
const counter = db.prepare("select v from kv where k = x'02636f756e74657200'").get() as
  | { v: Uint8Array }
  | undefined;
console.log(JSON.stringify({
  schema: db.prepare("select type, name, tbl_name, rootpage, sql from sqlite_master order by rowid").all(),
  migration: one("select version from migration_state where k = 0"),
  journal: one("pragma journal_mode"),
  integrity: one("pragma integrity_check"),
  data_version: one("select version from data_version where k = 0"),
  counter: counter ? new DataView(counter.v.buffer, counter.v.byteOffset, 8).getBigUint64(0, true).toString() : null,
}));
db.close();
