#!/usr/bin/env bash
# Rows written by someone else (issue 8): keys and values that no Deno writer
# makes, planted with sqlite3 between good rows. Each bad value reads as EIO,
# each bad row is logged once with its hex key and reported by `kvfs check`,
# and the rest of the store keeps working: listing the directory around a bad
# row shows the good rows, and writes beside it commit.
. "$KVFS_SOURCE_ROOT/tests/fs/lib.sh"

# Good rows: dir/a (bytes "A") and dir/z (V8 {z:1}).
GOOD_A=$(skey dir a)
GOOD_Z=$(skey dir z)
# Bad keys: a string part with no terminator; the unknown tag 0x07.
BAD_TRUNCATED=$(skey dir)0262
BAD_TAG=$(skey dir)076300
# Bad values under good keys, as "name hex-key value-sql v_encoding".
BAD_VALUES=(
	"hdr $(skey dir hdr) x'fe0f4902' 1"    # V8 with a wrong header
	"u64 $(skey dir u64) x'01020304' 2"    # a KvU64 of 4 bytes
	"text $(skey dir text) 'hello' 3"      # v stored as TEXT
	"enc $(skey dir enc) x'01' 7"          # unknown v_encoding
)

# Commit one row as another writer would: any value expression, any
# v_encoding, with Deno's version bump.
plant()
{
	db "begin immediate;
update data_version set version = version + 1 where k = 0;
insert or replace into kv (k, v, v_encoding, version)
values (x'$1', $2, $3, (select version from data_version where k = 0));
commit;"
}

plant_good_rows()
{
	plant "$GOOD_A" "x'41'" 3
	plant "$GOOD_Z" "x'ff0f6f22017a49027b01'" 1
}

plant_bad_keys()
{
	plant "$BAD_TRUNCATED" "x'ff0f4902'" 1
	plant "$BAD_TAG" "x'ff0f4902'" 1
}

plant_bad_values()
{
	local row name key value enc
	for row in "${BAD_VALUES[@]}"; do
		read -r name key value enc <<<"$row"
		plant "$key" "$value" "$enc"
	done
}

# Every bad row's hex key.
bad_keys()
{
	local row
	echo "$BAD_TRUNCATED"
	echo "$BAD_TAG"
	for row in "${BAD_VALUES[@]}"; do
		set -- $row
		echo "$2"
	done
}

# A fresh mount of a store holding every good and bad row.
mount_hostile_store()
{
	plant_good_rows
	plant_bad_keys
	plant_bad_values
	remount
}

test_each_bad_value_reads_as_eio()
{
	plant_good_rows
	plant_bad_values
	remount
	local row wrong=
	for row in "${BAD_VALUES[@]}"; do
		set -- $row
		# Opening may already fail; either way no content comes out.
		case $(fsop "$MNT/dir/$1" open:r read) in
		EIO | "OK EIO") ;;
		*) wrong+=" dir/$1:$(fsop "$MNT/dir/$1" open:r read)" ;;
		esac
	done
	[ -z "$wrong" ] || fail "not EIO:$wrong"
	expect_eq "$(cat "$MNT/dir/a")" A "dir/a"
	expect_eq "$(cat "$MNT/dir/z")" '{"z":1}' "dir/z"
}

test_listing_around_bad_values_shows_every_key()
{
	plant_good_rows
	plant_bad_values
	remount
	expect_eq "$(ls "$MNT/dir" | tr '\n' ' ')" "a enc hdr text u64 z " "ls"
	stat "$MNT/dir/a" "$MNT/dir/z" >/dev/null
	find "$MNT" >/dev/null
}

test_listing_around_bad_keys_shows_the_good_keys()
{
	plant_good_rows
	plant_bad_keys
	remount
	expect_eq "$(ls "$MNT/dir" 2>&1 | tr '\n' ' ')" "a z " "ls"
	expect_eq "$(ls "$MNT" | tr '\n' ' ')" "dir " "ls of the root"
	expect_eq "$(cat "$MNT/dir/z")" '{"z":1}' "dir/z"
}

test_every_bad_row_is_logged_once_with_its_hex_key()
{
	mount_hostile_store
	local pass row key count
	for pass in 1 2; do
		ls -l "$MNT/dir" >/dev/null 2>&1 || true
		for row in "${BAD_VALUES[@]}"; do
			set -- $row
			cat "$MNT/dir/$1" >/dev/null 2>&1 || true
		done
	done
	local wrong=
	for key in $(bad_keys); do
		count=$(grep -ci -- "$key" "$LOG" || true)
		[ "$count" = 1 ] || wrong+=" $key:$count"
	done
	[ -z "$wrong" ] || fail "keys not logged exactly once (key:times):$wrong"
}

test_kvfs_check_reports_every_bad_row()
{
	mount_hostile_store
	local out status=0 row
	out=$("$KVFS" check "$DB" 2>&1) || status=$?
	expect_eq "$status" 1 "kvfs check's exit status"
	grep -qi "0x$BAD_TRUNCATED:" <<<"$out" || fail "no truncated key in: $out"
	grep -qi "0x$BAD_TAG:" <<<"$out" || fail "no unknown tag in: $out"
	for row in "${BAD_VALUES[@]}"; do
		set -- $row
		grep -q "^dir/$1:" <<<"$out" || fail "no dir/$1 in: $out"
	done
	grep -q "^dir/[az]:" <<<"$out" && fail "a good row reported: $out"
	return 0
}

test_writes_beside_bad_rows_commit_and_leave_them_alone()
{
	mount_hostile_store
	local before
	before=$(db "select lower(hex(k)), quote(v), v_encoding from kv
		where k in ($(bad_keys | sed "s/.*/x'&'/" | paste -sd,))")
	echo new >"$MNT/dir/new"
	mv "$MNT/dir/new" "$MNT/dir/newer"
	rm "$MNT/dir/a"
	expect_eq "$(db_get "$(skey dir newer)")" "3:6e65770a" "dir/newer"
	expect_eq "$(db_get "$GOOD_A")" "" "dir/a after rm"
	expect_eq "$(db "select lower(hex(k)), quote(v), v_encoding from kv
		where k in ($(bad_keys | sed "s/.*/x'&'/" | paste -sd,))")" \
		"$before" "the bad rows"
}

run_tests
