// Deno's part of the soak test: for Deno.args[1] seconds, add 1 to a random
// one of Deno.args[2] KvU64 counters ["soak", "counter", i] with atomic
// sum mutations on the store at Deno.args[0]. Prints one JSON line: how
// many increments each counter got, and the slowest commit in ms (the
// mount must never keep Deno waiting near its 5 s busy timeout).
const [path, seconds, n] = Deno.args;
const kv = await Deno.openKv(path);
const counts = new Array(Number(n)).fill(0);
let maxMs = 0;
const end = Date.now() + Number(seconds) * 1000;
while (Date.now() < end) {
	const i = Math.floor(Math.random() * counts.length);
	const start = performance.now();
	const res = await kv.atomic()
		.sum(["soak", "counter", i], 1n)
		.commit();
	maxMs = Math.max(maxMs, performance.now() - start);
	if (!res.ok) throw new Error("a sum without checks failed");
	counts[i]++;
	await new Promise((r) => setTimeout(r, 2));
}
kv.close();
console.log(JSON.stringify({ counts, maxMs: Math.round(maxMs) }));
