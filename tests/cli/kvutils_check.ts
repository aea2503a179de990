// Check `kvfs export` against the kv-utils format (denokv/SPEC.md §8) as
// Deno itself sees the source store: each exported line must be exactly
// what kv-utils's entryToJSON gives for the entry (JSON.stringify of it),
// except for kvfs's documented deviations (kvfs(1), EXPORT FORMAT): -0 is
// the JSON number -0, a view not at byte 0 has "byteOffset", an Error has
// "message"/"cause" exactly when it has them, and a value that no §8 shape
// carries is {"type":"kvfs:V8","value":<base64url of the stored bytes>,
// "byteLength":n}. Prints each mismatch; exits 1 when there is one.
// Usage: deno run -A kvutils_check.ts DB EXPORT_FILE
import { DatabaseSync } from "node:sqlite";

const [db, file] = Deno.args;
const lines = Deno.readTextFileSync(file).split("\n").filter((l) => l);
const kv = await Deno.openKv(db);
const entries = await Array.fromAsync(kv.list({ prefix: [] }));
kv.close();
const sql = new DatabaseSync(db, { readOnly: true });
const rows = sql.prepare("select k, v from kv order by k").all() as {
  k: Uint8Array;
  v: Uint8Array;
}[];

function b64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

// JSON.stringify, except that -0 stays -0.
function text(v: unknown): string {
  if (typeof v === "number" && Object.is(v, -0)) return "-0";
  if (Array.isArray(v)) return `[${v.map(text).join(",")}]`;
  if (v !== null && typeof v === "object") {
    return `{${
      Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}:${text(x)}`)
        .join(",")
    }}`;
  }
  return JSON.stringify(v);
}

class NoShape extends Error {}

function number(n: number) {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "Infinity";
  if (n === -Infinity) return "-Infinity";
  return n;
}

function bytes(type: string, view: ArrayBufferView) {
  const buffer = view.buffer as ArrayBuffer;
  if (buffer.resizable) throw new NoShape();
  const out: Record<string, unknown> = {
    type,
    value: b64url(new Uint8Array(buffer)),
    byteLength: view.byteLength,
  };
  if (view.byteOffset) out.byteOffset = view.byteOffset;
  return out;
}

const errorTypes = [EvalError, RangeError, ReferenceError, SyntaxError,
  TypeError, URIError];

function value(v: unknown, seen: Set<unknown>): unknown {
  switch (typeof v) {
    case "number":
      return { type: "number", value: number(v) };
    case "bigint":
      return { type: "bigint", value: String(v) };
    case "string":
    case "boolean":
      return { type: typeof v, value: v };
    case "undefined":
      return { type: "undefined" };
  }
  if (v === null) return { type: "null", value: null };
  if (seen.has(v)) throw new NoShape();
  seen.add(v);
  if (ArrayBuffer.isView(v)) {
    if (seen.has(v.buffer)) throw new NoShape();
    seen.add(v.buffer);
  }
  const all = (xs: unknown[]) => xs.map((x) => value(x, seen));
  if (Array.isArray(v)) {
    const keys = Object.keys(v);
    if (keys.length !== v.length || keys.some((k, i) => k !== String(i))) {
      throw new NoShape();
    }
    return { type: "Array", value: all(v) };
  }
  if (v instanceof DataView) return bytes("DataView", v);
  if (ArrayBuffer.isView(v)) {
    if (v.constructor.name === "Float16Array") throw new NoShape();
    return bytes(v.constructor.name, v);
  }
  if (v instanceof ArrayBuffer) {
    if (v.resizable) throw new NoShape();
    return {
      type: "ArrayBuffer",
      value: b64url(new Uint8Array(v)),
      byteLength: v.byteLength,
    };
  }
  if (v instanceof Date) return { type: "Date", value: v.toJSON() };
  if (v instanceof Deno.KvU64) return { type: "KvU64", value: String(v) };
  if (v instanceof Error) {
    const body: Record<string, unknown> = {};
    if (Object.hasOwn(v, "message")) body.message = v.message;
    if (Object.hasOwn(v, "cause")) body.cause = value(v.cause, seen);
    if (typeof v.stack === "string" && Object.hasOwn(v, "stack")) {
      body.stack = v.stack;
    }
    const type = errorTypes.find((t) => v instanceof t)?.name ?? "Error";
    return { type, value: body };
  }
  if (v instanceof Map) {
    return { type: "Map", value: [...v].map(all) };
  }
  if (v instanceof RegExp) return { type: "RegExp", value: String(v) };
  if (v instanceof Set) return { type: "Set", value: all([...v]) };
  if (
    v instanceof Number || v instanceof String || v instanceof Boolean ||
    v instanceof BigInt
  ) throw new NoShape();
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = value(x, seen);
  return { type: "object", value: out };
}

function keyPart(p: Deno.KvKeyPart) {
  if (p instanceof Uint8Array) {
    return { type: "Uint8Array", value: b64url(p), byteLength: p.length };
  }
  return value(p, new Set());
}

let bad = 0;
if (lines.length !== entries.length || rows.length !== entries.length) {
  console.log(`${lines.length} lines, ${entries.length} entries`);
  bad++;
}
for (let i = 0; i < Math.min(lines.length, entries.length); i++) {
  const e = entries[i];
  let v;
  try {
    v = e.value instanceof Uint8Array
      ? bytes("Uint8Array", e.value)
      : value(e.value, new Set());
  } catch (err) {
    if (!(err instanceof NoShape)) throw err;
    const raw = rows[i].v;
    v = { type: "kvfs:V8", value: b64url(raw), byteLength: raw.length };
  }
  let want = text({ key: e.key.map(keyPart), value: v,
    versionstamp: e.versionstamp });
  // A key part that is a NaN with its sign bit set reads back in JS as
  // NaN; kvfs writes it "-NaN".
  const hex = Array.from(rows[i].k, (b) => b.toString(16).padStart(2, "0"))
    .join("");
  if (hex.includes("210007ffffffffffff")) {
    want = want.replace('"value":"NaN"', '"value":"-NaN"');
  }
  JSON.parse(lines[i]);
  if (lines[i] !== want) {
    console.log(`line ${i + 1}:\n  got  ${lines[i]}\n  want ${want}`);
    bad++;
  }
}
console.log(`${lines.length} lines checked, ${bad} mismatches`);
Deno.exit(bad ? 1 : 0);
