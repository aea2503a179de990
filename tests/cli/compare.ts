// Compare two Deno KV stores as Deno reads them: the same keys in the same
// order, each value deep-equal (node:util's strict deep equality: types,
// -0, holes, extra properties, typed array kinds and contents). Prints each
// difference and exits 1 when there is one.
// Usage: deno run -A compare.ts SOURCE COPY
import { isDeepStrictEqual, inspect } from "node:util";

async function entries(path: string) {
  const kv = await Deno.openKv(path);
  const all = await Array.fromAsync(kv.list({ prefix: [] }));
  kv.close();
  return all;
}

const [a, b] = await Promise.all(Deno.args.map(entries));
let bad = 0;
if (a.length !== b.length) {
  console.log(`entries: ${a.length} in the source, ${b.length} in the copy`);
  bad++;
}
for (let i = 0; i < Math.min(a.length, b.length); i++) {
  const what = inspect(a[i].key);
  if (!isDeepStrictEqual(a[i].key, b[i].key)) {
    console.log(`key ${i}: ${what} != ${inspect(b[i].key)}`);
    bad++;
  } else if (!isDeepStrictEqual(a[i].value, b[i].value)) {
    console.log(`value of ${what}: ${inspect(a[i].value)} != ` +
      inspect(b[i].value));
    bad++;
  }
}
console.log(`${a.length} entries compared, ${bad} differences`);
Deno.exit(bad ? 1 : 0);
