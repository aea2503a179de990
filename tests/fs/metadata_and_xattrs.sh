#!/usr/bin/env bash
# Metadata (kvfs-spec §5): the user.kv.* extended attributes with getfattr
# and setfattr, and file times and modes.
. "$(dirname "$0")/lib.sh"

xattr()
{
	getfattr --only-values -n "$1" "$2"
}

# Milliseconds since the epoch of an ISO 8601 UTC time, and back.
epoch_ms()
{
	echo $(($(date -u -d "$1" +%s) * 1000))
}

iso_of_ms()
{
	printf '%s.%03dZ\n' "$(date -u -d "@$(($1 / 1000))" +%Y-%m-%dT%H:%M:%S)" \
		$(($1 % 1000))
}

# The store takes an expiry relative to the commit (Deno's expireIn), so
# an absolute time is stored give or take the few milliseconds between
# the daemon's clock reading and the store's: allow 50.
expect_expiry_near()
{
	local ms=$1 want=$2
	if [ "$ms" -lt "$want" ] || [ "$ms" -gt $((want + 50)) ]; then
		fail "expiration_ms $ms is not $want (+50 ms at most)"
	fi
}

# The expiry time of the key at PATH in ms since the epoch, -1 for none.
expiry_of()
{
	local at
	at=$(meta "$1" expires_at)
	if [ "$at" = null ]; then
		echo -1
	else
		date -u -d "$at" +%s%3N
	fi
}

test_user_kv_key_is_the_key_as_javascript()
{
	mkdir -p "$MNT/users/@42/@10n/@true"
	echo 1 >"$MNT/users/@42/@10n/@true/@0x0102"
	expect_eq "$(xattr user.kv.key "$MNT/users/@42/@10n/@true/@0x0102")" \
		'["users", 42, 10n, true, new Uint8Array([1, 2])]'
	expect_eq "$(xattr user.kv.key "$MNT/users/@42")" '["users", 42]' \
		"a directory"
}

test_user_kv_versionstamp_is_the_entry_s_20_hex_digit_versionstamp()
{
	echo 1 >"$MNT/f"
	local vs next
	vs=$(xattr user.kv.versionstamp "$MNT/f")
	[[ $vs =~ ^[0-9a-f]{20}$ ]] || fail "versionstamp '$vs'"
	expect_eq "$vs" "$(meta f versionstamp)"
	# A new commit gives a later versionstamp.
	echo 2 >"$MNT/f"
	next=$(xattr user.kv.versionstamp "$MNT/f")
	expect_eq "$next" "$(meta f versionstamp)" "after a rewrite"
	[[ $next > $vs ]] || fail "versionstamp $next is not after $vs"
}

test_user_kv_type_names_the_encoding()
{
	echo '{"a":1}' >"$MNT/j"
	echo hello >"$MNT/b"
	db_set "$(skey u)" 0100000000000000 2
	expect_eq "$(xattr user.kv.type "$MNT/j")" json
	expect_eq "$(xattr user.kv.type "$MNT/b")" bytes
	expect_eq "$(xattr user.kv.type "$MNT/u")" u64
}

test_setfattr_user_kv_type_u64_converts_the_text_42()
{
	echo 42 >"$MNT/n"
	expect_eq "$(stored "$(skey n)")" "1:ff0f4954" "as written"
	setfattr -n user.kv.type -v u64 "$MNT/n"
	expect_eq "$(stored "$(skey n)")" "2:2a00000000000000"
	expect_eq "$(cat "$MNT/n")" 42
	expect_eq "$(xattr user.kv.type "$MNT/n")" u64
	# And back: the text 42 is the JSON number 42.
	setfattr -n user.kv.type -v json "$MNT/n"
	expect_eq "$(stored "$(skey n)")" "1:ff0f4954"
}

test_setfattr_user_kv_type_that_does_not_parse_fails_with_einval()
{
	echo hello >"$MNT/b"
	expect_fails_with EINVAL setfattr -n user.kv.type -v u64 "$MNT/b"
	expect_fails_with EINVAL setfattr -n user.kv.type -v float "$MNT/b"
	expect_eq "$(stored "$(skey b)")" "3:68656c6c6f0a"
}

test_setfattr_user_kv_type_on_an_empty_file_types_the_next_content()
{
	touch "$MNT/b"
	setfattr -n user.kv.type -v bytes "$MNT/b"
	echo '{"a":1}' >"$MNT/b"
	expect_eq "$(stored "$(skey b)")" "3:7b2261223a317d0a"
	touch "$MNT/u"
	setfattr -n user.kv.type -v u64 "$MNT/u"
	echo 7 >"$MNT/u"
	expect_eq "$(stored "$(skey u)")" "2:0700000000000000"
}

test_setfattr_user_kv_type_on_a_file_being_written_types_what_it_holds()
{
	fsop "$MNT/u" open:wc write:42 signal:written wait:go close >result &
	wait_until 10 test -e written
	setfattr -n user.kv.type -v u64 "$MNT/u"
	touch go
	wait $!
	expect_eq "$(cat result)" "OK OK OK OK OK"
	expect_eq "$(stored "$(skey u)")" "2:2a00000000000000"
}

test_setfattr_user_kv_expires_at_sets_the_expiry_and_removing_clears_it()
{
	echo 1 >"$MNT/f"
	local at=2099-01-01T00:00:00.000Z ms
	setfattr -n user.kv.expires_at -v "$at" "$MNT/f"
	ms=$(expiry_of f)
	expect_expiry_near "$ms" "$(epoch_ms "$at")"
	expect_eq "$(xattr user.kv.expires_at "$MNT/f")" "$(iso_of_ms "$ms")"
	expect_eq "$(stored "$(skey f)")" "1:ff0f4902" "the value"
	setfattr -x user.kv.expires_at "$MNT/f"
	expect_eq "$(expiry_of f)" -1 "after remove"
	expect_fails_with ENODATA "$PYTHON" -c \
		'import os, sys; os.getxattr(sys.argv[1], "user.kv.expires_at")' \
		"$MNT/f"
}

test_setfattr_user_kv_expires_at_works_on_a_read_only_value()
{
	db_set "$(skey ro)" ff0f41026f7b005e01240002 1
	setfattr -n user.kv.expires_at -v 2099-01-01T00:00:00.000Z "$MNT/ro"
	expect_expiry_near "$(expiry_of ro)" 4070908800000
	expect_eq "$(stored "$(skey ro)")" "1:ff0f41026f7b005e01240002"
}

test_a_rewrite_keeps_the_expiry()
{
	db_set "$(skey f)" 6f6c64 3 4070908800000
	echo new >"$MNT/f"
	expect_expiry_near "$(expiry_of f)" 4070908800000
	# Also when the file stays open a while before it is written.
	fsop "$MNT/f" open:wt signal:opened wait:go write:newer close >result &
	wait_until 10 test -e opened
	sleep 0.3
	touch go
	wait $!
	expect_eq "$(stored "$(skey f)")" "3:6e65776572"
	expect_expiry_near "$(expiry_of f)" 4070908800000
}

test_setfattr_of_a_bad_time_or_a_read_only_attribute_fails()
{
	echo 1 >"$MNT/f"
	expect_fails_with EINVAL setfattr -n user.kv.expires_at -v tomorrow \
		"$MNT/f"
	expect_fails_with EPERM setfattr -n user.kv.key -v '["g"]' "$MNT/f"
	expect_fails_with EPERM setfattr -n user.kv.versionstamp \
		-v 00000000000000010000 "$MNT/f"
}

test_getfattr_d_lists_the_attributes_of_a_value()
{
	echo 1 >"$MNT/f"
	expect_eq "$(getfattr -d -m - --absolute-names "$MNT/f" |
		sed -n 's/=.*//p' | tr '\n' ' ')" \
		"user.kv.key user.kv.type user.kv.versionstamp "
	setfattr -n user.kv.expires_at -v 2099-01-01T00:00:00.000Z "$MNT/f"
	expect_eq "$(getfattr -d -m - --absolute-names "$MNT/f" |
		sed -n 's/=.*//p' | tr '\n' ' ')" \
		"user.kv.expires_at user.kv.key user.kv.type user.kv.versionstamp "
}

mtime_after()
{
	[[ $(stat -c %.9Y "$1") > $2 ]]
}

test_mtime_follows_value_changes()
{
	echo 1 >"$MNT/f"
	local first second third
	first=$(stat -c %.9Y "$MNT/f")
	sleep 0.05
	echo 2 >"$MNT/f"
	second=$(stat -c %.9Y "$MNT/f")
	[[ $second > $first ]] ||
		fail "mtime $second after a write is not after $first"
	# Another writer's change is seen as a change too, within the time
	# the daemon takes to notice it.
	sleep 0.05
	db_set "$(skey f)" ff0f4906 1
	wait_until 2 mtime_after "$MNT/f" "$second"
	third=$(stat -c %.9Y "$MNT/f")
	[[ $third > $second ]] ||
		fail "mtime $third after another writer's change is not after $second"
	# Reading does not change it.
	cat "$MNT/f" >/dev/null
	expect_eq "$(stat -c %.9Y "$MNT/f")" "$third" "after a read"
}

test_touch_d_and_chmod_are_kept_while_the_value_is_unchanged()
{
	echo 1 >"$MNT/f"
	touch -d '2001-02-03 04:05:06 UTC' "$MNT/f"
	expect_eq "$(stat -c %Y "$MNT/f")" 981173106 "mtime"
	chmod 600 "$MNT/f"
	expect_eq "$(stat -c %a "$MNT/f")" 600 "mode"
	# A rename carries them along.
	mv "$MNT/f" "$MNT/g"
	expect_eq "$(stat -c '%Y %a' "$MNT/g")" "981173106 600" "after mv"
	# A new value is a new modification.
	echo 2 >"$MNT/g"
	[ "$(stat -c %Y "$MNT/g")" -gt 981173106 ] || fail "mtime not updated"
}

test_chown_is_accepted()
{
	echo 1 >"$MNT/f"
	chown "$(id -u):$(id -g)" "$MNT/f"
	expect_eq "$(stat -c %u "$MNT/f")" "$(id -u)"
}

# The kernel asks for security.capability before buffered writes; the
# daemon answers it at once, and only user.kv.* exist.
test_security_attributes_are_absent_and_user_kv_ones_present()
{
	echo 1 >"$MNT/f"
	expect_eq "$("$PYTHON" -c 'import errno, os, sys
try:
    os.getxattr(sys.argv[1], "security.capability")
    print("present")
except OSError as e:
    print(errno.errorcode[e.errno])' "$MNT/f")" ENODATA "security.capability"
	expect_eq "$(xattr user.kv.type "$MNT/f")" json
}

# A write-only descriptor bypasses the page cache: its writes still land
# where they are aimed, and the size and content show after the close.
test_writes_through_a_write_only_descriptor_land_at_their_offsets()
{
	expect_eq "$(fsop "$MNT/f" open:wc write:12345 pwrite:1:x close)" \
		"OK OK OK OK"
	expect_eq "$(cat "$MNT/f")" 1x345
	expect_eq "$(stat -c %s "$MNT/f")" 5 "size"
	expect_eq "$(fsop "$MNT/f" open:wa write:6 close)" "OK OK OK"
	expect_eq "$(cat "$MNT/f")" 1x3456
}

run_tests
