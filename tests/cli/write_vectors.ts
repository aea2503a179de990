// Write every storable row of value_vectors.tsv (its js column, evaluated)
// under ["value", row], and every key of key_vectors.tsv (with its row
// number as value) into the Deno KV store at Deno.args[0], with the real
// Deno. Usage: deno run -A write_vectors.ts DB SHARED_DIR
const [db, shared] = Deno.args;
const kv = await Deno.openKv(db);

function rows(file: string): string[][] {
  return Deno.readTextFileSync(`${shared}/denokv/${file}`).split("\n")
    .slice(1).filter((l) => l.length > 0).map((l) => l.split("\t"));
}

// The rows made by the sum mutation describe it instead of a value:
// "set 7; mutate({type:'sum',value:1})" or "mutate(...) on absent".
const mutation =
  /^(?:set (.+); )?mutate\(\{type:'sum',value:(.+)\}\)(?: on absent)?$/;

let written = 0;
for (const [i, [, js, enc]] of rows("value_vectors.tsv").entries()) {
  if (enc === "ERROR") continue;
  const key = ["value", i];
  const m = js.match(mutation);
  if (m) {
    if (m[1] !== undefined) await kv.set(key, (0, eval)(m[1]));
    const r = await kv.atomic()
      .mutate({ type: "sum", key, value: (0, eval)(m[2]) }).commit();
    if (!r.ok) throw new Error(`sum failed for row ${i}`);
  } else {
    await kv.set(key, (0, eval)(`(${js})`));
  }
  written++;
}

function part(p: { type: string; value: unknown }): Deno.KvKeyPart {
  const v = p.value;
  switch (p.type) {
    case "string":
    case "boolean":
      return v as string;
    case "bigint":
      return BigInt(v as string);
    case "Uint8Array":
      return new Uint8Array(v as number[]);
    case "number":
      if (v === "-NaN") {
        return new Float64Array(
          new BigUint64Array([0xfff8000000000000n]).buffer,
        )[0];
      }
      return typeof v === "string" ? Number(v) : v as number;
  }
  throw new Error(`unknown key part ${p.type}`);
}

for (const [i, [json]] of rows("key_vectors.tsv").entries()) {
  await kv.set(JSON.parse(json).map(part), i);
  written++;
}
kv.close();
console.log(written);
