/**
 * kvfs_seal.ts — open and seal the values of a kvfs encrypted store from a
 * Deno app (docs/format.md), with the app key that `kvfs app-key DB FILE`
 * writes. An app and kvfs then share one store: each reads what the other
 * sealed.
 *
 *   import { KvfsSealer } from "./kvfs_seal.ts";
 *   const sealer = KvfsSealer.fromAppKey(await Deno.readTextFile("app.json"));
 *   const kv = await Deno.openKv("store.sqlite3");
 *   await kv.set(["users", 42], sealer.seal(["users", 42], { name: "Ada" }));
 *   const entry = await kv.get<Uint8Array>(["users", 42]);
 *   const user = sealer.open(["users", 42], entry.value!);
 *
 * Values: a Uint8Array is sealed as bytes (v_encoding 3), a Deno.KvU64 as
 * a KvU64 (2), anything else as a V8 value (1), serialized by node:v8
 * (format 15, which Deno and kvfs read). Binary data nested inside another
 * value is refused: node:v8 writes it in Node's own form, which Deno's
 * reader does not know; store it as a value of its own.
 *
 * The key must be the key the envelope is stored at: it is bound as
 * associated data, so a sealed value copied to another key does not open.
 * Writes with atomic checks work as usual (the envelope is an ordinary
 * Uint8Array value). Deno's own sum/min/max cannot add sealed numbers: read,
 * open, add, seal and write back with a versionstamp check instead.
 *
 * Cryptography: XChaCha20-Poly1305 and BLAKE2b from @noble/ciphers and
 * @noble/hashes (audited, pure TypeScript), pinned in package.json.
 */
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { blake2b } from "@noble/hashes/blake2.js";
import v8 from "node:v8";

/** Bytes an envelope adds to a value. */
export const OVERHEAD = 47;
/** The largest value an envelope can hold within Deno's 65536 bytes. */
export const MAX_PLAIN = 65536 - OVERHEAD;

const HEADER_LEN = 30;
const FORMAT = 1;
const encoder = new TextEncoder();

/** What `kvfs app-key` writes. */
export interface AppKey {
  kvfs_app_key: 1;
  store_id: string;
  current: number;
  generations: { id: number; key: string }[];
}

/** The plaintext of an envelope: its v_encoding and bytes. */
export interface RawValue {
  encoding: 1 | 2 | 3;
  bytes: Uint8Array;
}

function fromHex(hex: string, len: number): Uint8Array {
  if (hex.length !== 2 * len || !/^[0-9a-f]*$/i.test(hex)) {
    throw new TypeError(`expected ${len} bytes of hex`);
  }
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function be32(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

/** crypto_kdf_derive_from_key(32, gen, "kvfs-val", dataKey). */
export function valueKey(gen: number, dataKey: Uint8Array): Uint8Array {
  const salt = new Uint8Array(16);
  new DataView(salt.buffer).setBigUint64(0, BigInt(gen), true);
  const personalization = new Uint8Array(16);
  personalization.set(encoder.encode("kvfs-val"));
  return blake2b(new Uint8Array(0), { dkLen: 32, key: dataKey, salt, personalization });
}

// ---- Deno's key encoding (denokv's tuple layer) ------------------------

function pushEscaped(out: number[], bytes: Uint8Array) {
  for (const b of bytes) {
    out.push(b);
    if (b === 0) out.push(0xff);
  }
  out.push(0);
}

function bigintMagnitude(n: bigint): number[] {
  const out: number[] = [];
  for (; n > 0n; n >>= 8n) out.unshift(Number(n & 0xffn));
  return out;
}

function pushBigint(out: number[], n: bigint) {
  const mag = bigintMagnitude(n < 0n ? -n : n);
  if (mag.length > 255) throw new RangeError("bigint key part too large");
  if (n >= 0n) {
    if (mag.length <= 8) out.push(0x14 + mag.length);
    else out.push(0x1d, mag.length);
    out.push(...mag);
  } else {
    if (mag.length <= 8) out.push(0x14 - mag.length);
    else out.push(0x0b, mag.length ^ 0xff);
    out.push(...mag.map((b) => b ^ 0xff));
  }
}

function pushNumber(out: number[], n: number) {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, Number.isNaN(n) ? NaN : n);
  let bits = view.getBigUint64(0);
  bits ^= bits >> 63n ? 0xffffffffffffffffn : 0x8000000000000000n;
  view.setBigUint64(0, bits);
  out.push(0x21, ...new Uint8Array(view.buffer));
}

/** The bytes Deno stores for a key: what the envelope binds. */
export function encodeKey(key: Deno.KvKey): Uint8Array {
  const out: number[] = [];
  for (const part of key) {
    if (part instanceof Uint8Array) {
      out.push(0x01);
      pushEscaped(out, part);
    } else if (typeof part === "string") {
      out.push(0x02);
      pushEscaped(out, encoder.encode(part));
    } else if (typeof part === "bigint") {
      pushBigint(out, part);
    } else if (typeof part === "number") {
      pushNumber(out, part);
    } else if (typeof part === "boolean") {
      out.push(part ? 0x27 : 0x26);
    } else {
      throw new TypeError(`not a key part: ${String(part)}`);
    }
  }
  return new Uint8Array(out);
}

// ---- values -------------------------------------------------------------

function refuseNestedBinary(value: unknown, seen = new Set<unknown>()) {
  if (value === null || typeof value !== "object" || seen.has(value)) return;
  seen.add(value);
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
    throw new TypeError(
      "binary data inside a value is not sealed by kvfs_seal.ts: store it as a value of its own",
    );
  }
  const children = value instanceof Map
    ? [...value.keys(), ...value.values()]
    : value instanceof Set
    ? [...value]
    : Object.values(value);
  for (const child of children) refuseNestedBinary(child, seen);
}

function toRaw(value: unknown): RawValue {
  if (value instanceof Uint8Array) return { encoding: 3, bytes: value };
  if (value instanceof Deno.KvU64) {
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setBigUint64(0, value.value, true);
    return { encoding: 2, bytes };
  }
  refuseNestedBinary(value);
  return { encoding: 1, bytes: new Uint8Array(v8.serialize(value)) };
}

function fromRaw(raw: RawValue): unknown {
  switch (raw.encoding) {
    case 3:
      return raw.bytes;
    case 2:
      return new Deno.KvU64(
        new DataView(raw.bytes.buffer, raw.bytes.byteOffset, 8).getBigUint64(0, true),
      );
    default:
      return v8.deserialize(raw.bytes);
  }
}

/** Opens and seals envelopes with the data keys of an app key. */
export class KvfsSealer {
  readonly storeId: Uint8Array;
  readonly current: number;
  #valueKeys = new Map<number, Uint8Array>();

  private constructor(appKey: AppKey) {
    if (appKey.kvfs_app_key !== 1) throw new TypeError("not a kvfs app key (format 1)");
    this.storeId = fromHex(appKey.store_id, 16);
    this.current = appKey.current;
    for (const g of appKey.generations) {
      this.#valueKeys.set(g.id, valueKey(g.id, fromHex(g.key, 32)));
    }
    if (!this.#valueKeys.has(this.current)) {
      throw new TypeError("the app key lacks its current generation");
    }
  }

  /** From the JSON text (or the parsed object) that `kvfs app-key` writes. */
  static fromAppKey(appKey: string | AppKey): KvfsSealer {
    return new KvfsSealer(typeof appKey === "string" ? JSON.parse(appKey) : appKey);
  }

  #ad(header: Uint8Array, encodedKey: Uint8Array): Uint8Array {
    return concat(
      encoder.encode("kvfs.value.v1"),
      this.storeId,
      header,
      be32(encodedKey.length),
      encodedKey,
    );
  }

  /** Seal (encoding, bytes) for an encoded key; nonce: tests only. */
  sealRaw(encodedKey: Uint8Array, raw: RawValue, nonce?: Uint8Array): Uint8Array {
    if (raw.bytes.length > MAX_PLAIN) throw new RangeError(`value over ${MAX_PLAIN} bytes`);
    const header = concat(
      new Uint8Array([FORMAT, 0]),
      be32(this.current),
      nonce ?? crypto.getRandomValues(new Uint8Array(24)),
    );
    const cipher = xchacha20poly1305(
      this.#valueKeys.get(this.current)!,
      header.subarray(6),
      this.#ad(header, encodedKey),
    );
    return concat(header, cipher.encrypt(concat(new Uint8Array([raw.encoding]), raw.bytes)));
  }

  /** Open an envelope stored at an encoded key. Throws when it does not. */
  openRaw(encodedKey: Uint8Array, envelope: Uint8Array): RawValue {
    if (envelope.length < OVERHEAD || envelope[0] !== FORMAT || envelope[1] !== 0) {
      throw new Error("not a kvfs envelope");
    }
    const header = envelope.subarray(0, HEADER_LEN);
    const gen = new DataView(header.buffer, header.byteOffset).getUint32(2);
    const key = this.#valueKeys.get(gen);
    if (!key) throw new Error(`sealed under generation ${gen}, which this app key lacks`);
    const cipher = xchacha20poly1305(key, header.subarray(6), this.#ad(header, encodedKey));
    const plain = cipher.decrypt(envelope.subarray(HEADER_LEN));
    const encoding = plain[0];
    if ((encoding !== 1 && encoding !== 2 && encoding !== 3) || (encoding === 2 && plain.length !== 9)) {
      throw new Error("the envelope holds no value");
    }
    return { encoding, bytes: plain.subarray(1) };
  }

  /** The envelope of a value, to store at key (kv.set(key, envelope)). */
  seal(key: Deno.KvKey, value: unknown): Uint8Array {
    return this.sealRaw(encodeKey(key), toRaw(value));
  }

  /** The value an envelope stored at key holds. */
  open(key: Deno.KvKey, envelope: Uint8Array): unknown {
    return fromRaw(this.openRaw(encodeKey(key), envelope));
  }
}
