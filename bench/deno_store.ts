// deno_store.ts — the Deno side of the store comparison: the workload of
// bench_store.c through Deno's own KV API, on a new store file.
//
//   deno run --unstable-kv -A deno_store.ts DB N_SET N_ATOMIC
//
// A smaller round under the prefix "warm" goes first and is not timed, so
// V8 has compiled the loops before they count (bench_store does the same).
// Prints one JSON line with nanoseconds per operation of each phase, in wall
// time and in CPU time of the whole process (Deno's KV runs on a worker
// thread of its own), in the same fields as bench_store.
import process from "node:process";

const WARM_UP = 100;

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

async function round(kv: Deno.Kv, prefix: string, n: number, nAtomic: number) {
  const stamps: string[] = new Array(n);
  const t: number[] = [];
  const cpu: number[] = [];
  const mark = () => {
    t.push(performance.now());
    const u = process.cpuUsage();
    cpu.push(u.user + u.system);
  };

  mark();
  for (let i = 0; i < n; i++) {
    const res = await kv.set([prefix, "item", i], itemValue(i));
    stamps[i] = res.versionstamp;
  }
  mark();
  for (let k = 0; k < n; k++) {
    const i = (k * 7919) % n;
    const e = await kv.get([prefix, "item", i]);
    if (e.value === null) throw new Error(`missing item ${i}`);
  }
  mark();
  let seen = 0;
  for await (const _ of kv.list({ prefix: [prefix, "item"] }, { batchSize: 1000 })) {
    seen++;
  }
  mark();
  if (seen !== n) throw new Error(`listed ${seen} of ${n}`);
  for (let k = 0; k < nAtomic; k++) {
    const i = k % n;
    const key = [prefix, "item", i];
    const res = await kv.atomic()
      .check({ key, versionstamp: stamps[i] })
      .set(key, itemValue(i))
      .commit();
    if (!res.ok) throw new Error(`check failed on item ${i}`);
    stamps[i] = res.versionstamp;
  }
  mark();

  const out: Record<string, number> = {};
  ["set", "get", "list", "atomic"].forEach((name, i) => {
    const count = name === "atomic" ? nAtomic : n;
    out[`${name}_ns`] = count ? ((t[i + 1] - t[i]) * 1e6) / count : 0;
    out[`${name}_cpu_ns`] = count ? ((cpu[i + 1] - cpu[i]) * 1e3) / count : 0;
  });
  return { ...out, n, n_atomic: nAtomic };
}

const kv = await Deno.openKv(path);
await round(kv, "warm", Math.min(n, WARM_UP), Math.min(nAtomic, WARM_UP));
console.log(JSON.stringify(await round(kv, "bench", n, nAtomic)));
kv.close();
