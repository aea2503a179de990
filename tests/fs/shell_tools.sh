#!/usr/bin/env bash
# The shell tools users reach for, on a mounted store: ls, cat, echo, printf,
# cp, rm, mkdir, rmdir, find, grep, jq, rsync and tar (kvfs-spec §1-§3).
. "$(dirname "$0")/lib.sh"

# V8 values as Deno writes them (denokv/SPEC.md §3).
V8_ONE=ff0f4902          # 1
V8_OBJ=ff0f6f2201614902220162220178 # {a:1,b:'x'}
V8_OBJ=${V8_OBJ}7b02

# Keys ["t", <part>] for the five kinds of key part.
T_S=$(skey t s)
T_42=$(skey t)21c045000000000000  # 42
T_42N=$(skey t)152a               # 42n
T_TRUE=$(skey t)27                # true
T_U8=$(skey t)010100              # new Uint8Array([1])

tree_of_every_kind_of_part()
{
	local k
	for k in "$T_S" "$T_42" "$T_42N" "$T_TRUE" "$T_U8"; do
		db_set "$k" "$V8_ONE" 1
	done
}

test_ls_la_shows_every_kind_of_key_part_by_its_name()
{
	tree_of_every_kind_of_part
	local listing
	listing=$(LC_ALL=C ls -la "$MNT/t" |
		awk 'NR > 1 { print $1, $5, $NF }')
	expect_eq "$(grep -c '^d.* \.\.\?$' <<<"$listing")" 2 "dot entries"
	expect_eq "$(grep -v '^d' <<<"$listing")" \
"-rw-r--r-- 2 @0x01
-rw-r--r-- 2 @42
-rw-r--r-- 2 @42n
-rw-r--r-- 2 @true
-rw-r--r-- 2 s" "ls -la"
}

test_ls_lists_a_directory_in_key_order()
{
	tree_of_every_kind_of_part
	# Unsorted (-U) is the order readdir gives: bytes < string < bigint
	# < number < boolean, Deno's order.
	expect_eq "$(ls -U "$MNT/t" | tr '\n' ' ')" "@0x01 s @42n @42 @true "
}

test_files_made_through_the_mount_have_the_keys_their_names_say()
{
	mkdir "$MNT/t"
	local name
	for name in s @42 @42n @true @0x01; do
		echo 1 >"$MNT/t/$name"
	done
	expect_eq "$(rows "select lower(hex(k)) from kv order by k")" \
		"$T_U8
$T_S
$T_42N
$T_42
$T_TRUE"
}

test_a_name_that_is_not_canonical_is_refused_with_einval()
{
	expect_fails_with EINVAL sh -c 'echo 1 >"$1"' sh "$MNT/@042"
	expect_fails_with EINVAL sh -c 'echo 1 >"$1"' sh "$MNT/@0xAB"
	expect_eq "$(rows "select count(*) from kv")" 0 "keys stored"
}

test_cat_shows_json_bytes_and_u64_values()
{
	db_set "$(skey j)" "$V8_OBJ" 1
	db_set "$(skey b)" 000102ff 3
	db_set "$(skey u)" 2a00000000000000 2
	expect_eq "$(cat "$MNT/j")" '{"a":1,"b":"x"}' "json"
	expect_eq "$(xxd -p "$MNT/b")" 000102ff "bytes"
	expect_eq "$(cat "$MNT/u")" 42 "u64"
	# The renderings end in a newline, and st_size is their length.
	expect_eq "$(stat -c %s "$MNT/j" "$MNT/b" "$MNT/u" | tr '\n' ' ')" \
		"16 4 3 " "sizes"
}

test_echo_creates_a_json_value()
{
	echo '{"a":1}' >"$MNT/j"
	echo 42 >"$MNT/n"
	expect_eq "$(stored "$(skey j)")" "1:ff0f6f22016149027b01"
	expect_eq "$(stored "$(skey n)")" "1:ff0f4954"
	expect_eq "$(getfattr --only-values -n user.kv.type "$MNT/j")" json
	expect_eq "$(cat "$MNT/j")" '{"a":1}'
}

test_echo_of_text_that_is_not_json_creates_bytes()
{
	echo hello >"$MNT/h"
	expect_eq "$(stored "$(skey h)")" "3:68656c6c6f0a"
	expect_eq "$(getfattr --only-values -n user.kv.type "$MNT/h")" bytes
	expect_eq "$(cat "$MNT/h")" hello
}

test_printf_appends_with_a_double_redirect()
{
	printf ab >"$MNT/f"
	printf cd >>"$MNT/f"
	printf 'e\n' >>"$MNT/f"
	expect_eq "$(cat "$MNT/f")" abcde
	expect_eq "$(stored "$(skey f)")" "3:61626364650a"
}

# A tree whose files render exactly as written: plain text, a compact JSON
# document with its newline, and bytes that are not UTF-8. The files are
# dated in the past, so that a copy made now has other times unless the
# times were carried over.
make_source_tree()
{
	mkdir -p "$1/a/b" "$1/c"
	printf 'hello\n' >"$1/a/b/hello.txt"
	printf '{"k":[1,2],"s":"x"}\n' >"$1/a/doc.json"
	printf '\000\001\377' >"$1/c/bin"
	printf 'needle in a haystack\n' >"$1/c/hay"
	find "$1" -type f -exec touch -d '2001-02-03 04:05:06' {} +
}

test_cp_r_copies_a_tree_in_and_out()
{
	make_source_tree "$T/src"
	cp -r "$T/src" "$MNT/copy"
	diff -r "$T/src" "$MNT/copy"
	expect_eq "$(rows "select count(*) from kv")" 4 "keys stored"
	expect_eq "$(stored "$(skey copy a doc.json)" | cut -c1-2)" "1:" \
		"doc.json is a V8 value"
	cp -r "$MNT/copy" "$T/back"
	diff -r "$T/src" "$T/back"
}

test_cp_p_keeps_the_times_of_the_files()
{
	make_source_tree "$T/src"
	cp -rp "$T/src" "$MNT/copy"
	expect_eq "$(stat -c %Y "$MNT/copy/a/b/hello.txt" "$MNT/copy/c/bin" |
		sort -u)" "$(stat -c %Y "$T/src/a/b/hello.txt")" "mtimes"
	# Over an existing key, too.
	echo old >"$MNT/f"
	touch -d '2002-03-04 05:06:07' "$T/f"
	cp -p "$T/f" "$MNT/f"
	expect_eq "$(stat -c %Y "$MNT/f")" "$(stat -c %Y "$T/f")" "mtime"
}

# A listing (READDIRPLUS) gives the kernel each entry's attributes, so
# ls -l shows every file's own size and type without looking each up; the
# references it takes are given back when the kernel forgets the entries.
test_ls_l_shows_each_entry_s_size_and_type_from_the_listing()
{
	mkdir "$MNT/d" "$MNT/d/sub"
	echo '{"b": 2,  "a": [1, 2]}' >"$MNT/d/doc"
	printf 'not json' >"$MNT/d/raw"
	echo 7 >"$MNT/d/sub/n"
	local want round
	want="- $(wc -c <"$MNT/d/doc") doc - 8 raw d sub "
	for round in first again; do
		expect_eq "$(ls -l "$MNT/d" |
			awk 'NR > 1 { printf "%s %s%s ", substr($1, 1, 1),
				$1 ~ /^d/ ? "" : $5 " ", $9 }')" "$want" \
			"ls -l, $round"
		[ -w /proc/sys/vm/drop_caches ] || break
		echo 2 >/proc/sys/vm/drop_caches
	done
	expect_eq "$(cat "$MNT/d/sub/n")" 7
}

# The daemon knows what is in a directory made through the mount without
# looking at the store, by the nodes of its files; a file the kernel has
# forgotten (dropped from its dentry cache) is still there.
test_files_made_in_a_new_directory_are_found_after_the_kernel_forgets_them()
{
	[ -w /proc/sys/vm/drop_caches ] || skip "cannot drop the kernel's caches"
	mkdir "$MNT/d"
	echo 1 >"$MNT/d/a"
	echo 2 >"$MNT/d/b"
	local held
	exec {held}<"$MNT/d"
	sync
	echo 2 >/proc/sys/vm/drop_caches
	expect_eq "$(cat "$MNT/d/a")" 1
	expect_eq "$(ls "$MNT/d" | tr '\n' ' ')" "a b "
	exec {held}<&-
}

test_rm_removes_a_key()
{
	echo 1 >"$MNT/f"
	echo 2 >"$MNT/g"
	rm "$MNT/f"
	[ ! -e "$MNT/f" ] || fail "f still exists"
	expect_eq "$(rows "select count(*) from kv where k = x'$(skey f)'")" 0
	expect_eq "$(cat "$MNT/g")" 2
}

test_rm_rf_removes_a_tree()
{
	make_source_tree "$T/src"
	cp -r "$T/src" "$MNT/tree"
	echo keep >"$MNT/other"
	rm -rf "$MNT/tree"
	[ ! -e "$MNT/tree" ] || fail "tree still exists"
	expect_eq "$(rows "select count(*) from kv")" 1 "keys left"
	expect_eq "$(ls "$MNT")" other
}

test_mkdir_p_makes_directories_that_live_in_memory()
{
	mkdir -p "$MNT/a/b/c"
	[ -d "$MNT/a/b/c" ] || fail "a/b/c is not a directory"
	expect_eq "$(ls "$MNT/a")" b
	expect_eq "$(rows "select count(*) from kv")" 0 "keys for empty dirs"
	echo 1 >"$MNT/a/b/c/k"
	expect_eq "$(rows "select lower(hex(k)) from kv")" "$(skey a b c k)"
	# Removing the last key keeps the directory (so rm -rf can finish).
	rm "$MNT/a/b/c/k"
	[ -d "$MNT/a/b/c" ] || fail "a/b/c vanished with its last key"
}

test_rmdir_of_a_non_empty_directory_fails_with_enotempty()
{
	mkdir -p "$MNT/d/e"
	echo 1 >"$MNT/d/e/k"
	expect_fails_with ENOTEMPTY rmdir "$MNT/d/e"
	expect_fails_with ENOTEMPTY rmdir "$MNT/d"
	expect_eq "$(cat "$MNT/d/e/k")" 1
	rm "$MNT/d/e/k"
	rmdir "$MNT/d/e"
	rmdir "$MNT/d"
	[ ! -e "$MNT/d" ] || fail "d still exists"
}

test_find_lists_every_file_and_directory()
{
	make_source_tree "$T/src"
	cp -r "$T/src" "$MNT/tree"
	expect_eq "$(cd "$MNT" && find tree | sort)" \
		"$(cd "$T/src/.." && find src | sed 's/^src/tree/' | sort)"
	expect_eq "$(cd "$MNT" && find tree -type f | sort | tr '\n' ' ')" \
		"tree/a/b/hello.txt tree/a/doc.json tree/c/bin tree/c/hay "
}

test_grep_r_finds_text_in_values()
{
	make_source_tree "$T/src"
	cp -r "$T/src" "$MNT/tree"
	expect_eq "$(cd "$MNT" && grep -rl needle tree)" tree/c/hay
	expect_eq "$(cd "$MNT" && grep -r '"s":"x"' tree)" \
		'tree/a/doc.json:{"k":[1,2],"s":"x"}'
}

test_jq_reads_a_json_value()
{
	db_set "$(skey j)" "$V8_OBJ" 1
	expect_eq "$(jq -r .b "$MNT/j")" x
	expect_eq "$(jq .a "$MNT/j")" 1
	# jq's output written back is a new value of the same key.
	jq -c '.a = 2' "$MNT/j" >"$T/new"
	cp "$T/new" "$MNT/j"
	expect_eq "$(cat "$MNT/j")" '{"a":2,"b":"x"}'
	expect_eq "$(stored "$(skey j)" | cut -c1-2)" "1:"
}

test_rsync_a_twice_transfers_nothing_the_second_time()
{
	make_source_tree "$T/src"
	rsync -a "$T/src/" "$MNT/dst/"
	diff -r "$T/src" "$MNT/dst"
	local stats
	stats=$(rsync -a --stats "$T/src/" "$MNT/dst/")
	grep -q '^Number of regular files transferred: 0$' <<<"$stats" ||
		fail "second rsync transferred files: $stats"
	# rsync's temporary files never reached the store.
	expect_eq "$(rows "select count(*) from kv")" 4 "keys stored"
}

test_tar_of_a_subtree_extracts_into_another_directory()
{
	make_source_tree "$T/src"
	cp -r "$T/src" "$MNT/sub"
	tar -C "$MNT" -cf "$T/sub.tar" sub
	mkdir "$MNT/other"
	tar -C "$MNT/other" -xf "$T/sub.tar"
	diff -r "$MNT/sub" "$MNT/other/sub"
	diff -r "$T/src" "$MNT/other/sub"
	expect_eq "$(rows "select count(*) from kv")" 8 "keys stored"
}

run_tests
