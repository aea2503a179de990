# tests/etcd/fs_store.sh — sourced by tests/fs/lib.sh when
# KVFS_TEST_STORE=etcd: every mounted-filesystem test gets a fresh prefix
# on the cluster of KVFS_ETCD_ENDPOINTS instead of a SQLite file. The tests
# read the store through the kvfs command line on both engines; what they
# do behind kvfs's back (db_set, count_commits, commits) is done here on
# etcd, through the cluster's JSON gateway, in the layout of docs/etcd.md.

: "${KVFS_ETCD_ENDPOINTS:?run the etcd variant under tests/etcd/cluster.sh run}"

# Every store request is a round trip to the cluster: ls -l of the 10,000
# links in pointers.sh makes 20,000 of them (70 s under ASan), past lib.sh's
# 60 s for a test.
TEST_TIMEOUT=${KVFS_TEST_TIMEOUT:-180}

fresh_store()
{
	echo "etcd://$KVFS_ETCD_ENDPOINTS/kvfs-test/fs-$$-$RANDOM$RANDOM"
}

# ---- the store underneath: etcd ------------------------------------------

# Hex of the store's etcd key P 00 TAG NAME, NAME given in hex.
etcd_key()
{
	printf '%s00%s%s\n' "$(hex_of "${DB#etcd://*/}")" "$1" "$2"
}

# The key every commit writes: P 00 's' "commit".
etcd_commit_key()
{
	etcd_key 73 "$(hex_of commit)"
}

base64_of_hex()
{
	printf %s "$1" | xxd -r -p | base64 -w0
}

# POST a JSON request to the v3 API of the first endpoint; prints the answer.
etcd_call()
{
	local endpoint=${KVFS_ETCD_ENDPOINTS%%,*}
	curl -sS --fail -X POST "http://$endpoint/v3/$1" -d "$2"
}

# Commit one row as kvfs's etcd engine does: the entry under P 00 'k', its
# value the v_encoding byte (with 0x80 and the expiry time, 8 bytes
# big-endian, when it expires) and the value bytes, and the commit key in
# the same transaction. No lease: reads hide an expired key by the time in
# its value, as they do before a lease fires. Arguments as lib.sh's.
db_set()
{
	local value
	value=$(printf %02x "$3")$2
	if [ "${4:--1}" != -1 ]; then
		value=$(printf '%02x%016x' $((0x80 | $3)) "$4")$2
	fi
	etcd_call kv/txn "{\"success\":[
{\"requestPut\":{\"key\":\"$(base64_of_hex "$(etcd_key 6b "$1")")\",
  \"value\":\"$(base64_of_hex "$value")\"}},
{\"requestPut\":{\"key\":\"$(base64_of_hex "$(etcd_commit_key)")\"}}]}" |
		grep -q '"succeeded":true' || fail "db_set: the transaction failed"
}

# How many commits the store has had: the version of the commit key, which
# etcd counts up at every write of it (other stores on the cluster move
# etcd's revision, so revisions cannot count one store's commits).
commits_so_far()
{
	etcd_call kv/range "{\"key\":\"$(base64_of_hex "$(etcd_commit_key)")\"}" |
		jq -r '.kvs[0].version // "0"'
}

count_commits()
{
	COMMITS_BEFORE=$(commits_so_far)
}

commits()
{
	echo $(($(commits_so_far) - COMMITS_BEFORE))
}

# ---- which tests run -------------------------------------------------------

# Whether function $1, or a function it calls (to any depth), runs SQL on
# the SQLite file (lib.sh's db).
uses_sqlite_file()
{
	local -A seen=()
	local todo=("$1") f body word
	while ((${#todo[@]})); do
		f=${todo[-1]}
		unset 'todo[-1]'
		[[ -n ${seen[$f]:-} ]] && continue
		seen[$f]=1
		body=$(declare -f "$f") || continue
		if grep -Eq '(^|[^[:alnum:]_])db([[:space:]]|;|\)|$)' <<<"$body"; then
			return 0
		fi
		for word in $(grep -Eo '[[:alpha:]_][[:alnum:]_]*' <<<"$body" | sort -u); do
			[[ $word != "$f" ]] && declare -F "$word" >/dev/null &&
				todo+=("$word")
		done
	done
	return 1
}

store_skip_reason()
{
	if [[ -n ${SQLITE_ONLY[$1]:-} ]]; then
		echo "SQLite only: ${SQLITE_ONLY[$1]}"
		return 0
	fi
	# A test added without its SQLite-only reason is skipped, not failed
	# on a URL that sqlite3 cannot open.
	if uses_sqlite_file "$1"; then
		echo "runs SQL on the SQLite file (db) and is not marked SQLITE_ONLY"
		return 0
	fi
	return 1
}
