// Deno writes keys and values of every type: every storable value of
// value_vectors.tsv at ["v", i], every key of key_vectors.tsv (value: its
// row number), a key with expireIn, KvU64 sums and a queued message.
// Usage: deno run --unstable-kv -A write_all.ts DB SHARED_DENOKV_DIR
import { partFromJSON } from "./common.ts";

const [path, shared] = Deno.args;
const kv = await Deno.openKv(path);
const tsv = (name: string) =>
  Deno.readTextFileSync(`${shared}/${name}`).split("\n").slice(1).filter((l) => l)
    .map((l) => l.split("\t"));

let values = 0;
for (const [i, [, js, enc]] of tsv("value_vectors.tsv").entries()) {
  // rows made by sum mutations and the one Deno cannot store are not
  // expressions of a value
  if (enc === "ERROR" || js.startsWith("mutate(") || js.startsWith("set ")) continue;
  const value = (0, eval)(js);
  await kv.set(["v", i], value);
  values++;
}
if (values < 100) throw new Error(`only ${values} value vectors`);

let keys = 0;
for (const [i, [json]] of tsv("key_vectors.tsv").entries()) {
  const key = (JSON.parse(json) as { type: string; value: unknown }[]).map(partFromJSON);
  // -NaN is stored distinctly but reads back as NaN (SPEC §2): a listed
  // key could not be matched to its row
  if (key.some((p) => typeof p === "number" && Number.isNaN(p))) continue;
  await kv.set(key, i);
  keys++;
}
if (keys < 60) throw new Error(`only ${keys} key vectors`);

await kv.set(["ttl"], "expires in an hour", { expireIn: 3600_000 });
await kv.atomic().sum(["sum"], 5n).sum(["sum"], 2n ** 64n - 1n).commit();
await kv.atomic().max(["max"], 7n).min(["min"], 3n).commit();
await kv.enqueue({ queued: true }, { delay: 3600_000 });
kv.close();
