// The Deno side of the encrypted-store interop test (deno.sh), with the
// client module clients/deno/kvfs_seal.ts:
//
//   interop.ts kat                  the module reproduces the format's
//                                   known answers (docs/format.md,
//                                   tests/unit/seal_vectors.py)
//   interop.ts read DB APPKEY       open what kvfs sealed (the values
//                                   written by deno.sh) and check them
//   interop.ts write DB APPKEY      seal values and write them with Deno
//
// Exits non-zero with a message on any mismatch.
import { encodeKey, KvfsSealer, valueKey } from "../../clients/deno/kvfs_seal.ts";

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const seq = (start: number, n: number) => Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);

function check(what: string, got: unknown, want: unknown) {
  const g = JSON.stringify(got, (_, v) => typeof v === "bigint" ? `${v}n` : v);
  const w = JSON.stringify(want, (_, v) => typeof v === "bigint" ? `${v}n` : v);
  if (g !== w) throw new Error(`${what}: got ${g}, want ${w}`);
}

function kat() {
  check("value key", hex(valueKey(7, seq(0, 32))),
    "175811e951ca38bb8d6fcb0f70686979a8e9de1c0ea019f1885e2269ac883368");
  const sealer = KvfsSealer.fromAppKey({
    kvfs_app_key: 1,
    store_id: hex(seq(0xa0, 16)),
    current: 7,
    generations: [{ id: 7, key: hex(seq(0, 32)) }],
  });
  const key = encodeKey(["users", "alice"]);
  check("encoded key", hex(key), "0275736572730002616c69636500");
  const env = sealer.sealRaw(key, { encoding: 3, bytes: new TextEncoder().encode("secret value") },
    seq(0x40, 24));
  check("envelope", hex(env),
    "010000000007404142434445464748494a4b4c4d4e4f5051525354555657fcbad899" +
      "79ce26503b23d87db83171ac094eb8cd7d509428c178989d1f");
  check("opened", new TextDecoder().decode(sealer.openRaw(key, env).bytes), "secret value");
  let refused = false;
  try {
    sealer.openRaw(encodeKey(["users", "bob"]), env);
  } catch {
    refused = true;
  }
  check("moved to another key", refused, true);
}

async function open(db: string, appKey: string) {
  return [await Deno.openKv(db), KvfsSealer.fromAppKey(await Deno.readTextFile(appKey))] as const;
}

// What deno.sh wrote with kvfs set and kvfs sum.
async function read(db: string, appKey: string) {
  const [kv, sealer] = await open(db, appKey);
  const get = async (key: Deno.KvKey) => {
    const e = await kv.get<Uint8Array>(key);
    if (!(e.value instanceof Uint8Array)) throw new Error(`${key}: not sealed bytes`);
    return sealer.open(key, e.value);
  };
  check("bytes", new TextDecoder().decode(await get(["from", "kvfs", "text"]) as Uint8Array),
    "sealed by kvfs\n");
  check("json", await get(["from", "kvfs", "json"]), { a: [1, 2.5, "x"], b: null });
  check("counter", (await get(["from", "kvfs", "counter"]) as Deno.KvU64).value, 42n);
  kv.close();
}

async function write(db: string, appKey: string) {
  const [kv, sealer] = await open(db, appKey);
  const put = (key: Deno.KvKey, value: unknown) => kv.set(key, sealer.seal(key, value));
  await put(["from", "deno", "text"], new TextEncoder().encode("sealed by deno"));
  await put(["from", "deno", "json"], { name: "Ada", tags: ["x", "y"], n: 7 });
  await put(["from", "deno", "count"], new Deno.KvU64(9n));
  await put(["from", "deno", 42], "a number key");
  // Sealed for one key, written at another: must not open.
  await kv.set(["from", "deno", "moved"], sealer.seal(["from", "deno", "elsewhere"], "x"));
  kv.close();
}

const [cmd, db, appKey] = Deno.args;
if (cmd === "kat") kat();
else if (cmd === "read") await read(db, appKey);
else if (cmd === "write") await write(db, appKey);
else throw new Error(`unknown command ${cmd}`);
