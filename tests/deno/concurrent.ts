// (c) Deno's side of two writers on one file: commits in a loop while
// kvdriver hammer does the same, and every so often an atomic check on
// ["shared"] (which kvdriver rewrites in every commit) with a versionstamp
// read before kvdriver changed it, which must fail. Prints
// {"sets":N,"sums":N,"checks":N}; throws on any error.
// Usage: deno run --unstable-kv -A concurrent.ts DB SECONDS
const [path, seconds] = Deno.args;
const kv = await Deno.openKv(path);
const end = Date.now() + Number(seconds) * 1000;
let last = "";
let sets = 0, sums = 0, checks = 0;

function advance(vs: string) {
  if (vs <= last) throw new Error(`versionstamp ${vs} after ${last}`);
  last = vs;
}

async function checkFailsAfterForeignWrite() {
  const seen = await kv.get(["shared"]);
  if (seen.versionstamp === null) return;
  const waitUntil = Date.now() + 2000;
  let now = seen;
  while (now.versionstamp === seen.versionstamp) {
    if (Date.now() > waitUntil) throw new Error("kvdriver stopped writing ['shared']");
    await new Promise((r) => setTimeout(r, 5));
    now = await kv.get(["shared"]);
  }
  if (now.versionstamp! <= seen.versionstamp!) throw new Error("['shared'] went back in time");
  const res = await kv.atomic().check(seen).set(["deno", "stale"], sets).commit();
  if (res.ok) throw new Error("a check with a stale versionstamp succeeded");
  checks++;
}

while (Date.now() < end) {
  advance((await kv.set(["deno", sets], sets)).versionstamp);
  sets++;
  const r = await kv.atomic().sum(["counter"], 1n).commit();
  if (!r.ok) throw new Error("sum failed");
  advance(r.versionstamp);
  sums++;
  if (sets % 25 === 0) await checkFailsAfterForeignWrite();
}
kv.close();
if (checks === 0) throw new Error(`no check was tried (${sets} sets)`);
console.log(JSON.stringify({ sets, sums, checks }));
