// (b) Deno reads back every value kvdriver write-vectors stored, and each
// must be deep-equal to the JavaScript value its JSON text stands for
// (docs/json.md). Exits non-zero on the first difference.
// Usage: deno run --unstable-kv -A read_vectors.ts DB
import { deepEqual, show } from "./common.ts";

function withStack<E extends Error>(e: E, stack: string): E {
  Object.defineProperty(e, "stack", { value: stack, writable: true, configurable: true });
  return e;
}
function sparse(length: number, items: Record<number, unknown>, props: Record<string, unknown> = {}) {
  const a: unknown[] = [];
  a.length = length;
  for (const [k, v] of Object.entries(items)) a[Number(k)] = v;
  return Object.assign(a, props);
}

const json: Record<string, unknown> = {
  null: null,
  true: true,
  false: false,
  int: 42,
  negint: -7,
  smi_max: 2147483647,
  double: 1.5,
  two_pow_32: 2 ** 32,
  big_double: 1e21,
  latin1: "héllo",
  two_byte: "日本",
  emoji: "😀",
  lone_surrogate: "\ud800",
  nul_string: "a\u0000b",
  array: [1, "a", true, null],
  object: { a: 1, 2: "x", b: { c: [1.5, 2] } },
  undefined: undefined,
  bigint: 10n,
  bigint_neg_large: -(2n ** 64n),
  nan: NaN,
  infinity: Infinity,
  neg_infinity: -Infinity,
  neg_zero: -0,
  date: new Date(1700000000000),
  date_invalid: new Date(NaN),
  regexp: /a+b/gi,
  map: new Map<unknown, unknown>([["a", 1], [2, "b"]]),
  set: new Set<unknown>([1, "a"]),
  nested_bytes: { u: new Uint8Array([1, 2, 3]) },
  arraybuffer: new Uint8Array([1, 2, 3]).buffer,
  resizable: new ArrayBuffer(2, { maxByteLength: 8 }),
  int8array: new Int8Array([-1, 1]),
  uint8clampedarray: new Uint8ClampedArray([1, 2]),
  int16array: new Int16Array([-2, 3]),
  uint16array: new Uint16Array([1, 2]),
  int32array: new Int32Array([-1]),
  uint32array: new Uint32Array([1]),
  float16array: new Float16Array([1.5]),
  float32array: new Float32Array([1.5]),
  float64array: new Float64Array([1.5]),
  bigint64array: new BigInt64Array([-1n]),
  biguint64array: new BigUint64Array([1n]),
  dataview: new DataView(new Uint8Array([9, 8, 7]).buffer),
  view: new Uint8Array([0, 1, 2, 3]).subarray(1, 3),
  error: withStack(new TypeError("t", { cause: 1 }), "TypeError: t\n    at x"),
  error_plain: withStack(new Error("boom"), "S"),
  boxed_number: new Number(1.5),
  boxed_string: new String("s"),
  boxed_boolean: new Boolean(true),
  boxed_bigint: Object(1n),
  array_props: Object.assign([1, 2], { foo: "bar" }),
  sparse: sparse(3, { 0: 1, 2: 3 }),
  sparse_large: sparse(1001, { 1000: 1 }, { x: 2 }),
  dollar_object: { $bigint: "1" },
  deep: { a: { b: [{ c: new Set([new Map()]) }] } },
};

const expected: [Deno.KvKey, unknown][] = [
  ...Object.entries(json).map(([name, v]) => [["json", name], v] as [Deno.KvKey, unknown]),
  [["u64", "one"], new Deno.KvU64(1n)],
  [["u64", "max"], new Deno.KvU64(2n ** 64n - 1n)],
  [["bytes", "bin"], new Uint8Array([0, 1, 255])],
  [["bytes", "empty"], new Uint8Array(0)],
  [["part", new Uint8Array([0, 1, 255])], 0],
  [["part", "a\0b"], 1],
  [["part", 10n], 2],
  [["part", -(2n ** 64n)], 3],
  [["part", 42], 4],
  [["part", -0], 5],
  [["part", -Infinity], 6],
  [["part", false], 7],
  [["part", true], 8],
];

const kv = await Deno.openKv(Deno.args[0]);
let failed = 0;
for (const [key, want] of expected) {
  const got = await kv.get(key);
  const same = got.versionstamp !== null &&
    (want instanceof Deno.KvU64
      ? got.value instanceof Deno.KvU64 && got.value.value === want.value
      : deepEqual(got.value, want));
  if (!same) {
    console.error(`FAIL ${show(key)}: got ${show(got.value)}, want ${show(want)}`);
    failed++;
  }
}
let listed = 0;
for await (const _ of kv.list({ prefix: [] })) listed++;
if (listed !== expected.length) {
  console.error(`FAIL kv.list gave ${listed} entries, expected ${expected.length}`);
  failed++;
}
kv.close();
if (failed) Deno.exit(1);
console.log(`ok: ${expected.length} values read back equal`);
