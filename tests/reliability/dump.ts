// Deno opens the store at Deno.args[0] and prints every entry under the
// string prefix Deno.args[1..] as one JSON line {key, value}, the key's
// last part and the value as Deno reads them (a KvU64 as a decimal string,
// a Uint8Array as its text). Proves the file opens in the real Deno.
const [path, ...prefix] = Deno.args;
const kv = await Deno.openKv(path);
const text = new TextDecoder();
for await (const e of kv.list({ prefix })) {
	let value = e.value;
	if (value instanceof Deno.KvU64) value = value.value.toString();
	else if (value instanceof Uint8Array) value = text.decode(value);
	console.log(JSON.stringify({ key: String(e.key.at(-1)), value }));
}
kv.close();
