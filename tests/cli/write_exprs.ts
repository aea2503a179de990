// Store the JavaScript of each line of standard input (the first
// tab-separated column) under ["doc", line number from 0] in the Deno KV
// store Deno.args[0]. The JavaScript is an expression, or statements that
// begin by assigning a variable ("a=[]; a[1]=1"), whose value is stored.
const kv = await Deno.openKv(Deno.args[0]);
const text = await new Response(Deno.stdin.readable).text();
for (const [i, line] of text.split("\n").filter((l) => l).entries()) {
  const js = line.split("\t")[0];
  const name = js.match(/^(\w+)=/)?.[1];
  const source = name
    ? `(() => { let ${name}; ${js}; return ${name}; })()`
    : `(${js})`;
  await kv.set(["doc", i], (0, eval)(source));
}
kv.close();
