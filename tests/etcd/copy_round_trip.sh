#!/usr/bin/env bash
# kvfs copy between engines: a SQLite store with every kind of value, an
# expiring key and an undecodable key goes to etcd and back, and the
# exports (less versionstamps) and raw rows are the same. TAP. Needs KVFS
# and KVFS_ETCD_ENDPOINTS (run it under tests/etcd/cluster.sh run).
set -u

: "${KVFS:?}" "${KVFS_ETCD_ENDPOINTS:?}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvfs-copy.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
uri="etcd://$KVFS_ETCD_ENDPOINTS/kvfs-test/copy-$$-$RANDOM"
n=0 failed=0

ok() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n $2"; else
		failed=$((failed + 1))
		echo "not ok $n $2"
	fi
}

rows() {
	sqlite3 "$1" "select hex(k), v_encoding, hex(v), expiration_ms from kv order by k"
}

echo "1..5"
src=$tmp/src.sqlite3 back=$tmp/back.sqlite3
"$KVFS" set "$src" users/alice '{"a":[1,2.5,{"$bigint":"7"}],"d":{"$date":"1970-01-01T00:00:00.000Z"}}' &&
	"$KVFS" set "$src" bin --type bytes "$(printf 'raw\001')" &&
	"$KVFS" sum "$src" n 41 >/dev/null &&
	"$KVFS" set "$src" soon '"bye"' --expire-in 3600000 &&
	for i in $(seq 1 1500); do
		echo "{\"key\":[{\"type\":\"string\",\"value\":\"bulk\"},{\"type\":\"number\",\"value\":$i}],\"value\":{\"type\":\"string\",\"value\":\"v$i\"},\"versionstamp\":\"00000000000000010000\"}"
	done | "$KVFS" import "$src" 2>/dev/null
# A key that does not decode (a truncated string), as a foreign writer
# might leave it: it is copied as it is.
sqlite3 "$src" "update data_version set version = version + 1;
insert into kv (k, v, v_encoding, version) values (x'02ff', x'01', 3,
  (select version from data_version))"
ok $? "the source store is made"

"$KVFS" copy "$src" "$uri" 2>"$tmp/err"
ok $? "copy SQLite to etcd"
"$KVFS" copy "$uri" "$back" 2>>"$tmp/err"
ok $? "copy etcd to SQLite"
diff <(rows "$src" | cut -d'|' -f1-4) <(rows "$back" | cut -d'|' -f1-4) >"$tmp/diff"
ok $? "keys, encodings, values and expiry times are the same"
"$KVFS" copy "$src" "$uri" 2>/dev/null
[ $? = 1 ]
ok $? "a destination with entries is refused"
[ "$failed" = 0 ]
