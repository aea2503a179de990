#!/usr/bin/env bash
# Pointer lists as directories of symlinks (kvfs-spec §6, docs/pointers.md):
# what ls, readlink, cat, find and cp see; what ln -s, rm and rmdir do to
# the array (read back with `kvfs get`); rules from the database and from
# the mount option; a list of 10,000 IDs; and the real Deno ($DENO)
# appending to a list while the mount does too.
. "$(dirname "$0")/lib.sh"

RULE="pointers=user/*/posts=post"

# kvfs set/get on the mounted store, as another process would.
kv_set()
{
	"$KVFS" set "$DB" "$1" "$2" >/dev/null
}

kv_get()
{
	"$KVFS" get "$DB" "$1"
}

# Write a key through the mount, before the remount that sets the rules
# (quicker than starting kvfs set).
put()
{
	mkdir -p "$(dirname "$MNT/$1")"
	printf '%s\n' "$2" >"$MNT/$1"
}

# Posts p1 and p2 exist; the list of u1 is $1 (JSON).
posts_and_list()
{
	put post/p1 '{"title":"one"}'
	put post/p2 '{"title":"two"}'
	put user/u1/posts "$1"
}

# The names of a directory in readdir order, on one line.
names()
{
	ls -U "$1" | tr '\n' ' '
}

test_ls_l_shows_each_id_as_an_arrow_in_list_order()
{
	posts_and_list '["p2","p1","p9"]'
	remount -o "$RULE"
	[ -d "$MNT/user/u1/posts" ] || fail "the list is not a directory"
	expect_eq "$(names "$MNT/user/u1/posts")" "p2 p1 p9 " "readdir order"
	expect_eq "$(ls -l "$MNT/user/u1/posts" | awk 'NR > 1 { print $1, $(NF-2), $(NF-1), $NF }')" \
"lrwxrwxrwx p1 -> ../../../post/p1
lrwxrwxrwx p2 -> ../../../post/p2
lrwxrwxrwx p9 -> ../../../post/p9" "ls -l"
	# The parent lists the list as a directory.
	expect_eq "$(find "$MNT/user/u1" -mindepth 1 -maxdepth 1 -type d)" \
		"$MNT/user/u1/posts" "find -type d"
}

test_readlink_gives_the_relative_target()
{
	posts_and_list '["p1"]'
	put tags '["p2"]'
	remount -o "$RULE;tags=post"
	expect_eq "$(readlink "$MNT/user/u1/posts/p1")" ../../../post/p1
	expect_eq "$(readlink "$MNT/tags/p2")" ../post/p2
	expect_eq "$(stat -c %s "$MNT/user/u1/posts/p1")" 16 "st_size"
	expect_eq "$(readlink -f "$MNT/user/u1/posts/p1")" "$MNT/post/p1" "readlink -f"
}

test_ids_of_every_type_are_named_by_the_name_grammar()
{
	put user/u1/posts '["a/b",42,{"$bigint":"7"},true,{"$bytes":"AQI"},""]'
	remount -o "$RULE"
	expect_eq "$(names "$MNT/user/u1/posts")" 'a%2Fb @42 @7n @true @0x0102 @"" '
	expect_eq "$(readlink "$MNT/user/u1/posts/@0x0102")" ../../../post/@0x0102
}

test_cat_of_the_list_reads_the_targets()
{
	posts_and_list '["p2","p1"]'
	remount -o "$RULE"
	expect_eq "$(cat "$MNT/user/u1/posts"/*)" '{"title":"one"}
{"title":"two"}'
}

test_ln_s_appends_the_id()
{
	posts_and_list '["p1"]'
	remount -o "$RULE"
	ln -s ../../../post/p3 "$MNT/user/u1/posts/p3"
	ln -s "$MNT/post/p2" "$MNT/user/u1/posts/p2"
	expect_eq "$(kv_get user/u1/posts)" '["p1","p3","p2"]'
	expect_eq "$(names "$MNT/user/u1/posts")" "p1 p3 p2 "
	expect_eq "$(readlink "$MNT/user/u1/posts/p2")" ../../../post/p2 "an absolute target"
	ln -s ../../../post/@5 "$MNT/user/u1/posts/@5"
	expect_eq "$(kv_get user/u1/posts)" '["p1","p3","p2",5]' "a number"
}

test_ln_s_of_a_target_other_than_the_rule_s_prefix_and_name_is_einval()
{
	posts_and_list '["p1"]'
	remount -o "$RULE"
	expect_fails_with EINVAL ln -s ../../../post/p3 "$MNT/user/u1/posts/p4"
	expect_fails_with EINVAL ln -s ../../../other/p3 "$MNT/user/u1/posts/p3"
	expect_fails_with EINVAL ln -s /elsewhere/post/p3 "$MNT/user/u1/posts/p3"
	expect_fails_with EINVAL ln -s ../../../post/p3/x "$MNT/user/u1/posts/p3"
	expect_fails_with EEXIST ln -s ../../../post/p1 "$MNT/user/u1/posts/p1"
	expect_eq "$(kv_get user/u1/posts)" '["p1"]' "the array"
}

test_rm_removes_the_id_and_keeps_the_other_elements()
{
	posts_and_list '["p1",{"note":1},"p2","p1"]'
	remount -o "$RULE"
	rm "$MNT/user/u1/posts/p1"
	expect_eq "$(kv_get user/u1/posts)" '[{"note":1},"p2"]'
	expect_eq "$(names "$MNT/user/u1/posts")" "p2 "
	[ -e "$MNT/post/p1" ] || fail "the target was removed"
}

test_rmdir_of_an_empty_list_deletes_the_key()
{
	posts_and_list '["p1"]'
	remount -o "$RULE"
	expect_fails_with ENOTEMPTY rmdir "$MNT/user/u1/posts"
	rm "$MNT/user/u1/posts/p1"
	expect_eq "$(kv_get user/u1/posts)" '[]'
	rmdir "$MNT/user/u1/posts"
	! kv_get user/u1/posts 2>/dev/null || fail "the key is still there"
	[ ! -e "$MNT/user/u1/posts" ] || fail "the list is still there"
}

test_rm_rf_of_a_list_deletes_the_key_and_leaves_the_targets()
{
	posts_and_list '["p1","p2"]'
	put user/u1/feed '[["post","p1"]]'
	remount -o "$RULE"
	rm -rf "$MNT/user/u1/posts" "$MNT/user/u1/feed"
	! kv_get user/u1/posts 2>/dev/null || fail "posts is still there"
	! kv_get user/u1/feed 2>/dev/null || fail "feed is still there"
	expect_eq "$(cat "$MNT/post/p1")" '{"title":"one"}'
}

test_find_lists_the_dangling_pointers()
{
	posts_and_list '["p1","gone","p2"]'
	put user/u2/posts '["lost"]'
	remount -o "$RULE"
	expect_eq "$(find "$MNT/user" -xtype l | sort)" \
"$MNT/user/u1/posts/gone
$MNT/user/u2/posts/lost" "find -xtype l"
	expect_eq "$(find -L "$MNT/user" -type l | sort)" \
"$MNT/user/u1/posts/gone
$MNT/user/u2/posts/lost" "find -L -type l"
	# As on any filesystem, -L with -xtype l matches every link.
	expect_eq "$(find -L "$MNT/user" -xtype l | wc -l)" 4 "find -L -xtype l"
}

test_cp_P_copies_links_out_of_and_into_lists()
{
	posts_and_list '["p1","p2"]'
	put user/u2/posts '[]'
	remount -o "$RULE"
	mkdir "$T/copy"
	cp -P "$MNT/user/u1/posts"/* "$T/copy/"
	expect_eq "$(readlink "$T/copy/p1") $(readlink "$T/copy/p2")" \
		"../../../post/p1 ../../../post/p2" "copied out"
	cp -P "$MNT/user/u1/posts/p2" "$MNT/user/u2/posts/"
	expect_eq "$(kv_get user/u2/posts)" '["p2"]' "copied into a list"
}

test_elements_not_shown_are_reported_in_an_xattr()
{
	posts_and_list '["p1",null,"p1",{"x":1}]'
	remount -o "$RULE"
	expect_eq "$(names "$MNT/user/u1/posts")" "p1 "
	expect_eq "$(getfattr --only-values -n user.kv.pointers.skipped "$MNT/user/u1/posts")" \
'[1] not a key part: null
[2] duplicate of [0]: "p1"
[3] not a key part: {"x":1}'
	getfattr -d "$MNT/user/u1/posts" | grep -q '^user.kv.pointers.skipped=' ||
		fail "the xattr is not listed"
	grep -q 'pointer list user/u1/posts: element \[2\] duplicate of \[0\]' \
		"$LOG" || fail "no log line"
	kv_set user/u1/posts '["p1"]'
	wait_until 2 test -z "$(getfattr --only-values -n user.kv.pointers.skipped "$MNT/user/u1/posts")"
}

test_the_raw_array_stays_readable_as_at_value()
{
	posts_and_list '["p1","p2"]'
	remount -o "$RULE"
	expect_eq "$(cat "$MNT/user/u1/posts/@value")" '["p1","p2"]'
	expect_eq "$(ls -A "$MNT/user/u1/posts" | tr '\n' ' ')" "p1 p2 " "@value is not listed"
	echo '["p2"]' >"$MNT/user/u1/posts/@value"
	expect_eq "$(names "$MNT/user/u1/posts")" "p2 " "after writing @value"
}

test_rules_come_from_the_database()
{
	posts_and_list '["p1"]'
	"$KVFS" pointers add "$DB" 'user/*/posts' post
	expect_eq "$("$KVFS" pointers ls "$DB")" 'user/*/posts=post'
	remount
	expect_eq "$(readlink "$MNT/user/u1/posts/p1")" ../../../post/p1
	"$KVFS" pointers rm "$DB" 'user/*/posts'
	remount
	[ -f "$MNT/user/u1/posts" ] || fail "without its rule the list is not a file"
}

test_the_mount_option_may_be_repeated_or_hold_several_rules()
{
	posts_and_list '["p1"]'
	put a '["p1"]'
	put b '["p1"]'
	remount -o "$RULE;a=post" -o pointers=b=post
	expect_eq "$(readlink "$MNT/user/u1/posts/p1") $(readlink "$MNT/a/p1") $(readlink "$MNT/b/p1")" \
		"../../../post/p1 ../post/p1 ../post/p1"
}

test_a_rule_that_does_not_parse_fails_the_mount()
{
	mkdir "$T/m2"
	local status=0
	"$KVFS" mount "$DB" "$T/m2" -f -o 'pointers=a/=b' 2>"$T/err" || status=$?
	expect_eq "$status" 2 "exit status"
	grep -q "bad pointers rule" "$T/err" || fail "no message: $(cat "$T/err")"
}

test_a_list_of_whole_keys_needs_no_rule()
{
	kv_set post/p1 '{"title":"one"}'
	kv_set user/u1/feed '[["post","p1"],["post",7]]'
	local feed=$MNT/user/u1/feed
	expect_eq "$(names "$feed")" "post%2Fp1 post%2F@7 "
	expect_eq "$(readlink "$feed/post%2Fp1")" ../../../post/p1
	ln -s ../../../post/p2 "$feed/post%2Fp2"
	expect_eq "$(kv_get user/u1/feed)" '[["post","p1"],["post",7],["post","p2"]]'
}

test_ln_s_in_an_empty_directory_of_a_rule_makes_the_list()
{
	remount -o "$RULE"
	mkdir -p "$MNT/user/u1/posts"
	ln -s ../../../post/p1 "$MNT/user/u1/posts/p1"
	expect_eq "$(kv_get user/u1/posts)" '["p1"]'
	expect_eq "$(names "$MNT/user/u1/posts")" "p1 "
	mkdir "$MNT/other"
	expect_fails_with EPERM ln -s ../post/p1 "$MNT/other/p1"
}

test_nothing_but_links_can_be_made_in_a_list()
{
	posts_and_list '["p1"]'
	remount -o "$RULE"
	expect_fails_with EPERM touch "$MNT/user/u1/posts/new"
	expect_fails_with EPERM mkdir "$MNT/user/u1/posts/new"
	expect_fails_with EPERM mv "$MNT/user/u1/posts/p1" "$MNT/user/u1/posts/p2"
	expect_eq "$(kv_get user/u1/posts)" '["p1"]'
}

test_a_list_that_would_outgrow_the_size_limit_is_enospc()
{
	remount -o "$RULE,max_value_size=40"
	kv_set user/u1/posts '["p1"]'
	local i
	for ((i = 2; i < 40; i++)); do
		ln -s "../../../post/p$i" "$MNT/user/u1/posts/p$i" 2>"$T/err" || break
	done
	grep -q "$(strerror ENOSPC)" "$T/err" || fail "no ENOSPC: $(cat "$T/err")"
	local before
	before=$(kv_get user/u1/posts)
	expect_eq "$(python3 -c 'import json, sys; print(len(json.loads(sys.argv[1])))' "$before")" \
		$((i - 1)) "IDs kept"
	expect_fails_with ENOSPC ln -s "../../../post/p$i" "$MNT/user/u1/posts/p$i"
	expect_eq "$(kv_get user/u1/posts)" "$before" "the array after ENOSPC"
}

test_a_sealed_store_works_the_same_way()
{
	unmount_store
	export KVFS_PASSPHRASE=pointer-lists
	mkdir -p "$T/sealed"
	DB=$(fresh_store "$T/sealed")
	"$KVFS" init "$DB" --encrypt --kdf interactive >/dev/null
	kv_set post/p1 '{"title":"one"}'
	kv_set user/u1/posts '["p1","gone"]'
	mount_store -o "$RULE"
	expect_eq "$(cat "$MNT/user/u1/posts/p1")" '{"title":"one"}'
	expect_eq "$(find "$MNT/user" -xtype l)" "$MNT/user/u1/posts/gone"
	ln -s ../../../post/p2 "$MNT/user/u1/posts/p2"
	rm "$MNT/user/u1/posts/p1"
	expect_eq "$(kv_get user/u1/posts)" '["gone","p2"]'
	# Sealed values are stored as bytes (v_encoding 3).
	expect_eq "$(rows "select v_encoding from kv where k = x'$(skey user u1 posts)'")" \
		3 "stored encoding"
}

test_ten_thousand_ids_list_in_list_order()
{
	python3 -c 'import json, random
ids = list(range(10000))
random.Random(7).shuffle(ids)
print(json.dumps(ids))' >"$T/ids.json"
	mkdir -p "$MNT/user/u1"
	cp "$T/ids.json" "$MNT/user/u1/posts"
	remount -o "$RULE"
	python3 -c 'import json, sys
print("\n".join("@%d" % i for i in json.load(open(sys.argv[1]))))' \
		"$T/ids.json" >"$T/want"
	ls -U "$MNT/user/u1/posts" >"$T/got"
	cmp -s "$T/got" "$T/want" || fail "ls -U is not the list order"
	expect_eq "$(ls "$MNT/user/u1/posts" | wc -l)" 10000 "ls"
	expect_eq "$(ls -l "$MNT/user/u1/posts" | grep -c ' -> ../../../post/@')" 10000 "ls -l"
	expect_eq "$(readlink "$MNT/user/u1/posts/@1234")" ../../../post/@1234
}

# Deno's side of the race: append d0..d(N-1) to the list, each in an atomic
# check-and-set loop, as an app would. Deno's commit reads and then writes
# in one deferred transaction and does not retry when another process
# committed in between: it throws "database is locked", with nothing
# written, and the app tries again.
DENO_APPEND='
const [path, n] = Deno.args;
const kv = await Deno.openKv(path);
const key = ["user", "u1", "posts"];
let conflicts = 0, busy = 0;
for (let i = 0; i < Number(n); i++) {
  for (;;) {
    const cur = await kv.get(key);
    const list = cur.value ?? [];
    if (list.includes(`d${i}`)) break;
    try {
      const res = await kv.atomic().check(cur).set(key, [...list, `d${i}`]).commit();
      if (res.ok) break;
      conflicts++;
    } catch (e) {
      if (!String(e).includes("database is locked")) throw e;
      busy++;
    }
  }
}
kv.close();
console.log(`${conflicts} failed checks, ${busy} busy commits`);'

SQLITE_ONLY[test_deno_and_the_mount_append_at_the_same_time_and_lose_nothing]="\
Deno opens only SQLite files"
test_deno_and_the_mount_append_at_the_same_time_and_lose_nothing()
{
	[ -n "${DENO:-}" ] && [ -x "$DENO" ] ||
		skip "no Deno runtime (DENO is not set)"
	put user/u1/posts '[]'
	remount -o "$RULE"
	printf '%s\n' "$DENO_APPEND" >"$T/append.ts"
	local n=100 i
	DENO_DIR=$T/deno-dir DENO_NO_UPDATE_CHECK=1 NO_COLOR=1 \
		"$DENO" run --quiet --unstable-kv -A "$T/append.ts" "$DB" "$n" \
		>"$T/deno.out" &
	local deno=$!
	for ((i = 0; i < n; i++)); do
		ln -s "../../../post/m$i" "$MNT/user/u1/posts/m$i"
	done
	wait "$deno" || fail "the Deno script failed"
	python3 - "$(kv_get user/u1/posts)" "$n" <<'EOF' || fail "IDs were lost"
import json, sys
got = json.loads(sys.argv[1])
n = int(sys.argv[2])
want = {"d%d" % i for i in range(n)} | {"m%d" % i for i in range(n)}
missing = want - set(got)
if missing or len(got) != len(want):
    sys.exit("missing %s, %d elements" % (sorted(missing)[:10], len(got)))
# Each side's IDs stay in the order it appended them.
for side in "dm":
    mine = [x for x in got if x[0] == side]
    if mine != ["%s%d" % (side, i) for i in range(n)]:
        sys.exit("%s out of order" % side)
EOF
	echo "Deno: $(cat "$T/deno.out")"
	expect_eq "$(ls "$MNT/user/u1/posts" | wc -l)" $((2 * n)) "links"
}

run_tests
