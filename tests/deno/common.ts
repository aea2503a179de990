// Helpers shared by the interop scripts: Deno's key encoding (SPEC §2),
// written out here so a listed key can be compared with the raw row that
// holds it, and a deep equality that knows every type Deno KV stores.

export function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function pushEscaped(out: number[], bytes: Iterable<number>) {
  for (const b of bytes) {
    out.push(b);
    if (b === 0) out.push(0xff);
  }
  out.push(0);
}

function bigintBytes(n: bigint): number[] {
  const out: number[] = [];
  for (; n > 0n; n >>= 8n) out.unshift(Number(n & 0xffn));
  return out;
}

export function encodeKey(key: Deno.KvKey): Uint8Array {
  const out: number[] = [];
  for (const p of key) {
    if (p instanceof Uint8Array) {
      out.push(0x01);
      pushEscaped(out, p);
    } else if (typeof p === "string") {
      out.push(0x02);
      pushEscaped(out, new TextEncoder().encode(p));
    } else if (typeof p === "bigint") {
      const mag = bigintBytes(p < 0n ? -p : p);
      if (p >= 0n) {
        if (mag.length <= 8) out.push(0x14 + mag.length);
        else out.push(0x1d, mag.length);
        out.push(...mag);
      } else {
        if (mag.length <= 8) out.push(0x14 - mag.length);
        else out.push(0x0b, mag.length ^ 0xff);
        out.push(...mag.map((b) => b ^ 0xff));
      }
    } else if (typeof p === "number") {
      const dv = new DataView(new ArrayBuffer(8));
      dv.setFloat64(0, p);
      let bits = dv.getBigUint64(0);
      if (Number.isNaN(p)) bits = (bits >> 63n) ? 0xfff8000000000000n : 0x7ff8000000000000n;
      bits ^= (bits >> 63n) ? 0xffffffffffffffffn : 0x8000000000000000n;
      dv.setBigUint64(0, bits);
      out.push(0x21, ...new Uint8Array(dv.buffer));
    } else if (p === false) {
      out.push(0x26);
    } else if (p === true) {
      out.push(0x27);
    } else {
      throw new Error(`not a key part: ${String(p)}`);
    }
  }
  return new Uint8Array(out);
}

// A key part in the key_json form of key_vectors.tsv.
export function partFromJSON(j: { type: string; value: unknown }): Deno.KvKeyPart {
  switch (j.type) {
    case "string": return j.value as string;
    case "boolean": return j.value as boolean;
    case "bigint": return BigInt(j.value as string);
    case "Uint8Array": return new Uint8Array(j.value as number[]);
    case "number": {
      const v = j.value;
      if (v === "NaN") return NaN;
      if (v === "-NaN") return new Float64Array(new BigUint64Array([0xfff8000000000000n]).buffer)[0];
      if (v === "Infinity") return Infinity;
      if (v === "-Infinity") return -Infinity;
      if (v === "-0") return -0;
      if (typeof v === "number") return v;
    }
  }
  throw new Error(`unknown key part ${JSON.stringify(j)}`);
}

function sameBytes(a: ArrayBufferLike, b: ArrayBufferLike): boolean {
  return hex(new Uint8Array(a)) === hex(new Uint8Array(b));
}

// Equal in type and content as Deno reads values back: NaN equals NaN,
// -0 differs from 0, holes differ from undefined, prototypes must match.
export function deepEqual(a: unknown, b: unknown): boolean {
  if (typeof a !== typeof b) return false;
  if (typeof a === "number") return Object.is(a, b);
  if (typeof a !== "object" || a === null || b === null) return a === b;
  const x = a as Record<string, unknown>, y = b as Record<string, unknown>;
  if (Object.getPrototypeOf(x) !== Object.getPrototypeOf(y)) return false;
  if (x instanceof Date) return Object.is(x.getTime(), (y as unknown as Date).getTime());
  if (x instanceof RegExp) {
    const r = y as unknown as RegExp;
    return x.source === r.source && x.flags === r.flags;
  }
  if (x instanceof Map || x instanceof Set) {
    const ex = [...(x as Map<unknown, unknown>).entries()];
    const ey = [...(y as unknown as Map<unknown, unknown>).entries()];
    return deepEqual(ex, ey);
  }
  if (x instanceof ArrayBuffer) {
    const z = y as unknown as ArrayBuffer;
    return x.resizable === z.resizable && x.maxByteLength === z.maxByteLength &&
      sameBytes(x, z);
  }
  if (ArrayBuffer.isView(x)) {
    const z = y as unknown as ArrayBufferView;
    return x.byteOffset === z.byteOffset && x.byteLength === z.byteLength &&
      deepEqual(x.buffer, z.buffer);
  }
  if (x instanceof Error) {
    const z = y as unknown as Error;
    if (x.name !== z.name || x.message !== z.message || x.stack !== z.stack) return false;
    if (Object.hasOwn(x, "cause") !== Object.hasOwn(z, "cause")) return false;
    if (!deepEqual(x.cause, z.cause)) return false;
  }
  for (const box of [Number, String, Boolean, BigInt] as unknown[]) {
    const proto = (box as { prototype: { valueOf(): unknown } }).prototype;
    if (Object.getPrototypeOf(x) === proto) {
      return Object.is(proto.valueOf.call(x), proto.valueOf.call(y));
    }
  }
  if (Array.isArray(x) && x.length !== (y as unknown as unknown[]).length) return false;
  const kx = Object.keys(x), ky = Object.keys(y);
  if (kx.length !== ky.length) return false;
  for (let i = 0; i < kx.length; i++) {
    if (kx[i] !== ky[i] || !deepEqual(x[kx[i]], y[ky[i]])) return false;
  }
  return true;
}

export function show(v: unknown): string {
  return Deno.inspect(v, { depth: 10, compact: true, breakLength: Infinity });
}
