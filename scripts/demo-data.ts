// Fills a Deno KV store the way a small multi-tenant app would: the data
// `scripts/demo` mounts. Run with: deno run --unstable-kv -A demo-data.ts DB
const kv = await Deno.openKv(Deno.args[0]);

const tenants = ["acme", "globex"];
for (const [t, tenant] of tenants.entries()) {
  await kv.set(["tenant", tenant, "settings"], {
    name: tenant.toUpperCase(),
    plan: t === 0 ? "pro" : "free",
    createdAt: new Date(Date.UTC(2024, t, 1)),
  });
  const postIds: string[] = [];
  for (let uid = 1; uid <= 3; uid++) {
    await kv.set(["tenant", tenant, "users", uid, "profile"], {
      name: `User ${uid}`,
      email: `user${uid}@${tenant}.example`,
      roles: uid === 1 ? ["admin"] : ["member"],
      lastLogin: new Date(Date.UTC(2026, 10, uid)),
    });
    await kv.set(["tenant", tenant, "users", uid, "logins"], new Deno.KvU64(BigInt(uid * 7)));
    const id = `${tenant}-p${uid}`;
    postIds.push(id);
    await kv.set(["post", id], { title: `Post ${uid} of ${tenant}`, author: uid, tags: new Set(["demo"]) });
  }
  // A pointer list: the IDs of objects stored under other keys.
  await kv.set(["tenant", tenant, "posts"], postIds);
}
await kv.set(["flags", "new-editor"], true);
await kv.set(["flags", "rollout-percent"], 25);
await kv.set(["ratelimit", "api", "203.0.113.7"], new Deno.KvU64(3n), { expireIn: 3_600_000 });
await kv.set(["cache", "avatar", 1], new Uint8Array([0x89, 0x50, 0x4e, 0x47]), { expireIn: 86_400_000 });
await kv.set(["stats", "visits"], new Deno.KvU64(1234n));
kv.close();
