#!/usr/bin/env bash
# kvfs copy between engines: a SQLite store with every kind of value, an
# expiring key, an undecodable key, pointer-list rules and a metadata row
# this kvfs does not know goes to etcd and back, and the raw rows and the
# metadata rows are the same. A destination holding entries or metadata is
# refused and left as it was. TAP. Needs KVFS and KVFS_ETCD_ENDPOINTS (run
# it under tests/etcd/cluster.sh run). Encrypted stores: tests/seal/copy.sh.
set -u

: "${KVFS:?}" "${KVFS_ETCD_ENDPOINTS:?}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvfs-copy.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
uri="etcd://$KVFS_ETCD_ENDPOINTS/kvfs-test/copy-$$-$RANDOM"
. "$(dirname "$0")/tap.sh"

rows() {
	sqlite3 "$1" "select hex(k), v_encoding, hex(v), expiration_ms from kv order by k"
}

meta_rows() {
	sqlite3 "$1" "select k, hex(v) from kvfs_meta order by k"
}

# What a refused copy must leave alone: rows, versions and metadata.
state() {
	sqlite3 "$1" "select hex(k), hex(v), version from kv order by k;
select version from data_version; select k, hex(v) from kvfs_meta order by k"
}

echo "1..9"
src=$tmp/src.sqlite3 back=$tmp/back.sqlite3
"$KVFS" set "$src" users/alice '{"a":[1,2.5,{"$bigint":"7"}],"d":{"$date":"1970-01-01T00:00:00.000Z"}}' &&
	"$KVFS" set "$src" bin --type bytes "$(printf 'raw\001')" &&
	"$KVFS" sum "$src" n 41 >/dev/null &&
	"$KVFS" set "$src" soon '"bye"' --expire-in 3600000 &&
	for i in $(seq 1 1500); do
		echo "{\"key\":[{\"type\":\"string\",\"value\":\"bulk\"},{\"type\":\"number\",\"value\":$i}],\"value\":{\"type\":\"string\",\"value\":\"v$i\"},\"versionstamp\":\"00000000000000010000\"}"
	done | "$KVFS" import "$src" 2>/dev/null &&
	"$KVFS" pointers add "$src" 'user/*/posts' post &&
	"$KVFS" pointers add "$src" 'tag/*' post
# A metadata row of a later kvfs, and a key that does not decode (a truncated string), as a foreign writer
# might leave it: it is copied as it is.
sqlite3 "$src" "insert into kvfs_meta (k, v) values ('zz-later', x'00ff10');
update data_version set version = version + 1;
insert into kv (k, v, v_encoding, version) values (x'02ff', x'01', 3,
  (select version from data_version))"
ok $? "the source store is made"

"$KVFS" copy "$src" "$uri" 2>"$tmp/err"
ok $? "copy SQLite to etcd"
"$KVFS" copy "$uri" "$back" 2>>"$tmp/err"
ok $? "copy etcd to SQLite"
diff <(rows "$src" | cut -d'|' -f1-4) <(rows "$back" | cut -d'|' -f1-4) >"$tmp/diff"
ok $? "keys, encodings, values and expiry times are the same"
[ "$(meta_rows "$src" | wc -l)" = 2 ] &&
	diff <(meta_rows "$src") <(meta_rows "$back") >>"$tmp/diff"
ok $? "every metadata row is the same, pointer-list rules and unknown ones"
[ "$("$KVFS" pointers ls "$back")" = "$("$KVFS" pointers ls "$src")" ]
ok $? "the copy has the pointer-list rules"

"$KVFS" export "$uri" >"$tmp/etcd-before" 2>/dev/null
"$KVFS" copy "$src" "$uri" 2>"$tmp/err"
[ $? = 1 ] && grep -q "^kvfs copy: $uri: not empty: it holds entries" "$tmp/err" &&
	"$KVFS" export "$uri" 2>/dev/null | cmp -s - "$tmp/etcd-before"
ok $? "an etcd destination with entries is refused and unchanged"
before=$(state "$back")
"$KVFS" copy "$src" "$back" 2>"$tmp/err"
[ $? = 1 ] && grep -q "not empty: it holds entries" "$tmp/err" &&
	[ "$(state "$back")" = "$before" ]
ok $? "a SQLite destination with entries is refused and unchanged"
"$KVFS" pointers add "$tmp/rules.sqlite3" 'a/*' b && before=$(state "$tmp/rules.sqlite3")
"$KVFS" copy "$uri" "$tmp/rules.sqlite3" 2>"$tmp/err"
[ $? = 1 ] && grep -q "not empty: it holds kvfs metadata" "$tmp/err" &&
	[ "$(state "$tmp/rules.sqlite3")" = "$before" ]
ok $? "a destination with metadata and no entry is refused and unchanged"
[ "$failed" = 0 ]
