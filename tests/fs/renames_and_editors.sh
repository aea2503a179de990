#!/usr/bin/env bash
# Renames (kvfs-spec §2): mv of files and directories as one commit each,
# RENAME_NOREPLACE, and how editors and sed -i save: through scratch files
# kept in memory and a rename onto the real name.
. "$(dirname "$0")/lib.sh"

keys()
{
	rows "select lower(hex(k)) from kv order by k" | tr '\n' ' '
}

test_mv_of_a_file_is_one_commit()
{
	echo '{"a":1}' >"$MNT/a"
	local before
	before=$(meta a versionstamp)
	count_commits
	mv "$MNT/a" "$MNT/b"
	expect_eq "$(commits)" 1 "commits"
	expect_eq "$(keys)" "$(skey b) "
	expect_eq "$(stored "$(skey b)")" "1:ff0f6f22016149027b01"
	# Stamped by the rename's commit, not carried over from a.
	[[ $(meta b versionstamp) > $before ]] ||
		fail "b's versionstamp is not after a's ($before)"
	expect_eq "$(cat "$MNT/b")" '{"a":1}'
	[ ! -e "$MNT/a" ] || fail "a still exists"
}

test_mv_over_an_existing_file_replaces_it_in_one_commit()
{
	echo new >"$MNT/a"
	echo old >"$MNT/b"
	count_commits
	mv "$MNT/a" "$MNT/b"
	expect_eq "$(commits)" 1 "commits"
	expect_eq "$(keys)" "$(skey b) "
	expect_eq "$(cat "$MNT/b")" new
}

test_mv_of_a_file_into_another_directory()
{
	mkdir "$MNT/d"
	echo 1 >"$MNT/f"
	mv "$MNT/f" "$MNT/d/"
	expect_eq "$(keys)" "$(skey d f) "
	expect_eq "$(ls "$MNT/d")" f
}

test_mv_of_a_directory_moves_every_key_in_one_commit()
{
	mkdir -p "$MNT/d/s"
	echo 1 >"$MNT/d/x"
	echo 2 >"$MNT/d/y"
	echo 3 >"$MNT/d/s/z"
	echo 4 >"$MNT/other"
	count_commits
	mv "$MNT/d" "$MNT/e"
	expect_eq "$(commits)" 1 "commits"
	expect_eq "$(keys)" "$(skey e s z) $(skey e x) $(skey e y) $(skey other) "
	expect_eq "$("$KVFS" export "$DB" e | jq -r .versionstamp | sort -u |
		wc -l)" 1 "versionstamps below e"
	expect_eq "$(cd "$MNT" && find e -type f | sort | tr '\n' ' ')" \
		"e/s/z e/x e/y "
	expect_eq "$(cat "$MNT/e/s/z")" 3
	[ ! -e "$MNT/d" ] || fail "d still exists"
}

test_mv_of_an_empty_directory_moves_it()
{
	mkdir -p "$MNT/d/inner"
	mv "$MNT/d" "$MNT/e"
	[ -d "$MNT/e/inner" ] || fail "e/inner is not a directory"
	[ ! -e "$MNT/d" ] || fail "d still exists"
	expect_eq "$(rows "select count(*) from kv")" 0 "keys"
}

test_mv_n_does_not_replace_an_existing_file()
{
	echo new >"$MNT/a"
	echo old >"$MNT/b"
	count_commits
	mv -n "$MNT/a" "$MNT/b" || true
	expect_eq "$(cat "$MNT/a") $(cat "$MNT/b")" "new old"
	expect_eq "$(commits)" 0 "commits"
}

test_renameat2_noreplace_fails_with_eexist_onto_an_existing_name()
{
	echo new >"$MNT/a"
	echo old >"$MNT/b"
	mkdir "$MNT/d"
	expect_eq "$(fsop "$MNT/a" "rename:$MNT/b:NOREPLACE")" EEXIST
	expect_eq "$(fsop "$MNT/a" "rename:$MNT/d:NOREPLACE")" EEXIST
	expect_eq "$(cat "$MNT/b")" old
	expect_eq "$(fsop "$MNT/a" "rename:$MNT/c:NOREPLACE")" OK
	expect_eq "$(keys)" "$(skey b) $(skey c) "
}

test_sed_i_edits_a_value_in_place_and_keeps_its_type()
{
	db_set "$(skey f)" ff0f6f220161220278787b01 1 # {a:'xx'}
	expect_eq "$(cat "$MNT/f")" '{"a":"xx"}'
	count_commits
	sed -i 's/x/y/' "$MNT/f"
	expect_eq "$(cat "$MNT/f")" '{"a":"yx"}'
	expect_eq "$(stored "$(skey f)")" "1:ff0f6f220161220279787b01"
	expect_eq "$(commits)" 1 "commits"
	expect_eq "$(keys)" "$(skey f) " "keys"
}

test_vim_ex_mode_without_a_vimrc_saves_the_edit()
{
	printf 'aaa\nbab\n' >"$MNT/f"
	HOME=$T vim -Es -u NONE -c '%s/a/b/' -c wq "$MNT/f"
	expect_eq "$(cat "$MNT/f")" "$(printf 'baa\nbbb')"
	expect_eq "$(keys)" "$(skey f) " "keys"
	expect_eq "$(ls -A "$MNT")" f
}

test_vim_ex_mode_with_the_default_settings_saves_the_edit()
{
	# No -u: vim reads the system vimrc and defaults.vim (swap file,
	# backup while writing), as a user's vim does.
	echo '{"name":"ada"}' >"$MNT/j"
	HOME=$T vim -Es -c '%s/ada/bob/' -c wq "$MNT/j"
	expect_eq "$(cat "$MNT/j")" '{"name":"bob"}'
	expect_eq "$(stored "$(skey j)" | cut -c1-2)" "1:" "type"
	expect_eq "$(keys)" "$(skey j) " "keys"
	expect_eq "$(ls -A "$MNT")" j
}

test_scratch_files_never_reach_the_store()
{
	local name
	for name in f.swp .f.swp f.swx f~ 4913 '.#f' sedAbC123 .f.Xy12Ab; do
		echo "text of $name" >"$MNT/$name"
	done
	expect_eq "$(rows "select count(*) from kv")" 0 "keys"
	expect_eq "$(ls -A "$MNT" | wc -l)" 8 "files listed"
	expect_eq "$(cat "$MNT/.f.swp")" "text of .f.swp"
	rm "$MNT/f~"
	[ ! -e "$MNT/f~" ] || fail "f~ still exists"
}

test_renaming_a_scratch_file_onto_a_real_name_saves_it()
{
	echo '{"a":1}' >"$MNT/f.swp"
	count_commits
	mv "$MNT/f.swp" "$MNT/f"
	expect_eq "$(commits)" 1 "commits"
	expect_eq "$(stored "$(skey f)")" "1:ff0f6f22016149027b01"
	expect_eq "$(ls -A "$MNT")" f
}

test_renaming_a_file_onto_a_scratch_name_keeps_its_content_in_memory()
{
	echo hello >"$MNT/f"
	mv "$MNT/f" "$MNT/f~"
	expect_eq "$(rows "select count(*) from kv")" 0 "keys"
	expect_eq "$(cat "$MNT/f~")" hello
	mv "$MNT/f~" "$MNT/f"
	expect_eq "$(stored "$(skey f)")" "3:68656c6c6f0a"
}

run_tests
