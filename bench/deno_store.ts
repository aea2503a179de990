// deno_store.ts — the Deno side of the store comparison: the workload of
// bench_store.c through Deno's own KV API, on a new store file.
//
//   deno run --unstable-kv -A deno_store.ts DB N_SET N_ATOMIC
//
// Prints one JSON line with nanoseconds per operation of each phase, in the
// same fields as bench_store.

const [path, nSetText, nAtomicText] = Deno.args;
const n = Number(nSetText);
const nAtomic = Number(nAtomicText);
if (!path || !(n > 0) || !(nAtomic >= 0)) {
  console.error("usage: deno_store.ts DB N_SET N_ATOMIC");
  Deno.exit(2);
}

function itemValue(i: number) {
  return {
    id: i,
    name: `item ${i}`,
    tags: ["a", "b"],
    price: (i % 1000) + 0.5,
    active: i % 2 === 1,
  };
}

const kv = await Deno.openKv(path);
const stamps: string[] = new Array(n);
const t: number[] = [performance.now()];

for (let i = 0; i < n; i++) {
  const res = await kv.set(["bench", "item", i], itemValue(i));
  stamps[i] = res.versionstamp;
}
t.push(performance.now());

for (let k = 0; k < n; k++) {
  const i = (k * 7919) % n;
  const e = await kv.get(["bench", "item", i]);
  if (e.value === null) throw new Error(`missing item ${i}`);
}
t.push(performance.now());

let seen = 0;
for await (const _ of kv.list({ prefix: ["bench", "item"] }, { batchSize: 1000 })) {
  seen++;
}
t.push(performance.now());
if (seen !== n) throw new Error(`listed ${seen} of ${n}`);

for (let k = 0; k < nAtomic; k++) {
  const i = k % n;
  const key = ["bench", "item", i];
  const res = await kv.atomic()
    .check({ key, versionstamp: stamps[i] })
    .set(key, itemValue(i))
    .commit();
  if (!res.ok) throw new Error(`check failed on item ${i}`);
  stamps[i] = res.versionstamp;
}
t.push(performance.now());
kv.close();

const perOp = (a: number, b: number, count: number) =>
  count ? ((t[b] - t[a]) * 1e6) / count : 0;
console.log(JSON.stringify({
  set_ns: perOp(0, 1, n),
  get_ns: perOp(1, 2, n),
  list_ns: perOp(2, 3, n),
  atomic_ns: perOp(3, 4, nAtomic),
  n,
  n_atomic: nAtomic,
}));
