# tests/etcd/fs_store.sh — sourced by tests/fs/lib.sh when
# KVFS_TEST_STORE=etcd: every mounted-filesystem test gets a fresh prefix
# on the cluster of KVFS_ETCD_ENDPOINTS instead of a SQLite file. Tests that
# read or plant rows with the sqlite3 CLI (db, db_get, db_set, db_delete,
# db_version) are skipped, saying so.

: "${KVFS_ETCD_ENDPOINTS:?run the etcd variant under tests/etcd/cluster.sh run}"

fresh_store()
{
	echo "etcd://$KVFS_ETCD_ENDPOINTS/kvfs-test/fs-$$-$RANDOM$RANDOM"
}

# Whether kvfs mount takes an etcd URL: one try per script, remembered in
# a file, since the callers run in subshells.
etcd_mount_works()
{
	local verdict=$FS_TMP/etcd-mount-works probe=$FS_TMP/etcd-probe pid i
	if [ ! -f "$verdict" ]; then
		mkdir -p "$probe"
		echo no >"$verdict"
		"$KVFS" mount "$(fresh_store)" "$probe" -f 2>/dev/null &
		pid=$!
		for ((i = 0; i < 200; i++)); do
			if is_mounted "$probe"; then
				echo yes >"$verdict"
				fusermount3 -u "$probe"
				break
			fi
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	[ "$(cat "$verdict")" = yes ]
}

# Whether function $1, or a function it calls (to any depth), reads or
# plants rows with the sqlite3 CLI.
uses_sqlite()
{
	local -A seen=()
	local todo=("$1") f body word
	while ((${#todo[@]})); do
		f=${todo[-1]}
		unset 'todo[-1]'
		[[ -n ${seen[$f]:-} ]] && continue
		seen[$f]=1
		body=$(declare -f "$f") || continue
		if grep -Eq '(^|[^[:alnum:]_])(db|db_get|db_set|db_delete|db_version|sqlite3)([[:space:]]|;|\)|$)' <<<"$body"; then
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
	if uses_sqlite "$1"; then
		echo "reads or plants rows in the SQLite file with sqlite3"
		return 0
	fi
	if ! etcd_mount_works; then
		echo "kvfs mount does not take an etcd URL yet (fs/mount.c resolves DB with realpath)"
		return 0
	fi
	return 1
}
