#!/usr/bin/env bash
# Living beside a running app (kvfs-spec §7): another process writes the
# store while it is mounted (the sqlite3 CLI following Deno's commit
# protocol, and the real Deno at $DENO), and the mount shows it within 1 s
# even when the kernel has it cached; Deno reads what the mount wrote as
# the right JavaScript values, and its atomic checks see kvfs's commits.
. "$(dirname "$0")/lib.sh"

# Long kernel cache timeouts: only the daemon's invalidation can make a
# change show within a second.
CACHED="-o attr_timeout=30,entry_timeout=30"
for t in test_another_writer_s_change_shows_within_1_s_even_when_cached \
	test_another_writer_s_new_and_deleted_keys_show_within_1_s \
	test_a_file_that_another_writer_turns_into_a_directory_shows_within_1_s \
	test_deno_writes_show_through_the_mount_within_1_s; do
	MOUNT_OPTIONS[$t]=$CACHED
done

need_deno()
{
	[ -n "${DENO:-}" ] && [ -x "$DENO" ] ||
		skip "no Deno runtime (DENO is not set)"
}

# deno_run SCRIPT ARGS...: run TypeScript with the store's path as
# Deno.args[0] and ARGS after it.
deno_run()
{
	local script
	script=$(mktemp "$T/script.XXXXXX.ts")
	printf '%s\n' "$1" >"$script"
	shift
	DENO_DIR=$T/deno-dir DENO_NO_UPDATE_CHECK=1 NO_COLOR=1 \
		"$DENO" run --quiet --unstable-kv -A "$script" "$DB" "$@"
}

# Require a command to succeed within $1 seconds (polling).
shows_within()
{
	local limit=$1 start
	shift
	start=$(now_us)
	wait_until "$limit" "$@" ||
		fail "'$*' still fails $((($(now_us) - start) / 1000)) ms after the change"
}

content_is()
{
	[ "$(cat "$1" 2>/dev/null)" = "$2" ]
}

test_another_writer_s_change_shows_within_1_s_even_when_cached()
{
	db_set "$(skey k)" ff0f22036f6e65 1 # "one"
	expect_eq "$(cat "$MNT/k")" '"one"'
	expect_eq "$(stat -c %s "$MNT/k")" 6 "size"
	# A longer value: a stale cached size would cut it short.
	db_set "$(skey k)" ff0f220a6c6f6e676572206f6e65 1 # "longer one"
	shows_within 1 content_is "$MNT/k" '"longer one"'
	expect_eq "$(stat -c %s "$MNT/k")" 13 "size"
	db_set "$(skey k)" ff0f220178 1 # "x"
	shows_within 1 content_is "$MNT/k" '"x"'
}

test_another_writer_s_new_and_deleted_keys_show_within_1_s()
{
	mkdir "$MNT/d"
	echo 1 >"$MNT/d/old"
	expect_eq "$(ls "$MNT/d")" old
	db_set "$(skey d new)" ff0f4904 1
	db_delete "$(skey d old)"
	shows_within 1 test "$(ls "$MNT/d" | tr '\n' ' ')" = "new "
	shows_within 1 test ! -e "$MNT/d/old"
	expect_eq "$(cat "$MNT/d/new")" 2
}

# A directory made through the mount answers names it has no key for
# without reading the store, until the refresher sees another commit.
test_another_writer_s_key_in_a_directory_made_through_the_mount_shows_within_1_s()
{
	mkdir "$MNT/d"
	echo 1 >"$MNT/d/mine"
	[ ! -e "$MNT/d/new" ] || fail "d/new exists before it is written"
	db_set "$(skey d new)" ff0f4904 1
	shows_within 1 content_is "$MNT/d/new" 2
	expect_eq "$(cat "$MNT/d/mine")" 1
}

test_a_file_that_another_writer_turns_into_a_directory_shows_within_1_s()
{
	echo 1 >"$MNT/p"
	[ -f "$MNT/p" ] || fail "p is not a file"
	db_set "$(skey p c)" ff0f4904 1
	shows_within 1 test -d "$MNT/p"
	expect_eq "$(cat "$MNT/p/@value") $(cat "$MNT/p/c")" "1 2"
}

test_deno_writes_show_through_the_mount_within_1_s()
{
	need_deno
	deno_run 'const kv = await Deno.openKv(Deno.args[0]);
await kv.set(["app", "state"], "starting");
kv.close();'
	expect_eq "$(cat "$MNT/app/state")" '"starting"'
	deno_run 'const kv = await Deno.openKv(Deno.args[0]);
await kv.set(["app", "state"], { phase: "running", n: 2 });
await kv.set(["app", "count"], new Deno.KvU64(7n));
kv.close();'
	shows_within 1 content_is "$MNT/app/state" '{"phase":"running","n":2}'
	shows_within 1 content_is "$MNT/app/count" 7
}

# Describe every entry of the store the way a test can compare.
DESCRIBE='const kv = await Deno.openKv(Deno.args[0]);
const json = (v: unknown) =>
  JSON.stringify(v, (_k, x) => typeof x === "bigint" ? `${x}n` : x);
function describe(v: unknown): string {
  if (v instanceof Deno.KvU64) return `KvU64(${v.value})`;
  if (v instanceof Uint8Array) return `Uint8Array(${[...v]})`;
  if (v instanceof Date) return `Date(${v.toISOString()})`;
  if (v instanceof Map) return `Map(${json([...v])})`;
  if (typeof v === "bigint") return `bigint(${v})`;
  if (Array.isArray(v)) return `array(${json(v)})`;
  if (v === null) return "null";
  return `${typeof v}(${json(v)})`;
}
for await (const e of kv.list({ prefix: [] }))
  console.log(`${e.key.join("/")} ${describe(e.value)}`);
kv.close();'

test_deno_reads_files_written_through_the_mount_as_js_values()
{
	need_deno
	echo '{"a":1,"b":[1,"x",null],"c":{"$bigint":"5"}}' >"$MNT/obj"
	echo '[1,2.5,"s",true]' >"$MNT/arr"
	echo 1.5 >"$MNT/num"
	echo 42 >"$MNT/int"
	echo '"hi"' >"$MNT/str"
	echo '{"$bigint":"10"}' >"$MNT/big"
	echo '{"$date":"2020-01-02T03:04:05.678Z"}' >"$MNT/date"
	echo '{"$map":[["a",1]]}' >"$MNT/map"
	echo '{"$bytes":"AQID"}' >"$MNT/nested"
	printf '\000\001\377' >"$MNT/bytes"
	echo hello >"$MNT/text"
	touch "$MNT/u64"
	setfattr -n user.kv.type -v u64 "$MNT/u64"
	echo 7 >"$MNT/u64"
	expect_eq "$(deno_run "$DESCRIBE")" \
'arr array([1,2.5,"s",true])
big bigint(10)
bytes Uint8Array(0,1,255)
date Date(2020-01-02T03:04:05.678Z)
int number(42)
map Map([["a",1]])
nested Uint8Array(1,2,3)
num number(1.5)
obj object({"a":1,"b":[1,"x",null],"c":"5n"})
str string("hi")
text Uint8Array(104,101,108,108,111,10)
u64 KvU64(7)'
}

test_deno_s_atomic_check_fails_after_an_edit_through_the_mount()
{
	need_deno
	echo '{"n":1}' >"$MNT/acct"
	local vs
	vs=$(deno_run 'const kv = await Deno.openKv(Deno.args[0]);
console.log((await kv.get(["acct"])).versionstamp);
kv.close();')
	expect_eq "$vs" "$(getfattr --only-values -n user.kv.versionstamp \
		"$MNT/acct")" "Deno's versionstamp"
	echo '{"n":2}' >"$MNT/acct"
	local commit='const kv = await Deno.openKv(Deno.args[0]);
const r = await kv.atomic()
  .check({ key: ["acct"], versionstamp: Deno.args[1] })
  .set(["acct"], { n: 99 }).commit();
console.log(r.ok, JSON.stringify((await kv.get(["acct"])).value));
kv.close();'
	expect_eq "$(deno_run "$commit" "$vs")" 'false {"n":2}'
	expect_eq "$(cat "$MNT/acct")" '{"n":2}'
	# With the versionstamp of the mount's edit, the check passes.
	vs=$(getfattr --only-values -n user.kv.versionstamp "$MNT/acct")
	expect_eq "$(deno_run "$commit" "$vs")" 'true {"n":99}'
	shows_within 1 content_is "$MNT/acct" '{"n":99}'
}

test_deno_lists_keys_created_through_the_mount_by_their_names()
{
	need_deno
	mkdir -p "$MNT/users/@42/@7n"
	echo 1 >"$MNT/users/@42/@7n/@true"
	echo 2 >"$MNT/users/@42/@0x0aff"
	echo 3 >"$MNT/users/@42/a%2Fb"
	expect_eq "$(deno_run 'const kv = await Deno.openKv(Deno.args[0]);
for await (const e of kv.list({ prefix: ["users"] }))
  console.log(Deno.inspect(e.key, { compact: true, breakLength: 1e9 }));
kv.close();')" \
'[ "users", 42, Uint8Array(2) [ 10, 255 ] ]
[ "users", 42, "a/b" ]
[ "users", 42, 7n, true ]'
}

run_tests
