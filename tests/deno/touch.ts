// (d) Deno opens a store kvdriver created, reads a value kvdriver wrote and
// writes one of its own.
// Usage: deno run --unstable-kv -A touch.ts DB
const kv = await Deno.openKv(Deno.args[0]);
const one = await kv.get<Deno.KvU64>(["u64", "one"]);
if (!(one.value instanceof Deno.KvU64) || one.value.value !== 1n) {
  throw new Error(`["u64","one"] reads as ${Deno.inspect(one.value)}`);
}
const r = await kv.set(["from-deno"], "hello");
if (!r.ok) throw new Error("set failed");
kv.close();
