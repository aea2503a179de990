#!/usr/bin/env bash
# The etcd engine on a secured cluster of its own: https with a client
# certificate (--client-cert-auth), then etcd's user/password auth with a
# role limited to the store's prefix, and auth tokens that expire after
# 2 s idle. The cluster is stopped at the end, also on failure. TAP. Needs
# KVFS (the kvfs executable), etcd, etcdctl and openssl.
set -u

: "${KVFS:?}"
here=$(cd "$(dirname "$0")" && pwd)
shm=/dev/shm
[ -d "$shm" ] && [ -w "$shm" ] || shm=${TMPDIR:-/tmp}
tmp=$(mktemp -d "$shm/kvfs-secure.XXXXXX")
cluster=$tmp/cluster
mnt=$tmp/mnt
prefix=kvfs-secure-$$
token_ttl=2
mount_pid=

cleanup() {
	fusermount3 -u "$mnt" 2>/dev/null
	[ -n "$mount_pid" ] && kill "$mount_pid" 2>/dev/null
	wait 2>/dev/null
	bash "$here/cluster.sh" stop "$cluster"
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

etcdctl() { bash "$here/cluster.sh" etcdctl "$cluster" "$@"; }

endpoints=$(bash "$here/cluster.sh" start-tls "$cluster" "$token_ttl") ||
	{ echo "Bail out! the secured cluster did not start"; exit 1; }
tls=$cluster/tls
uri="etcd://$endpoints/$prefix"
export KVFS_ETCD_CACERT=$tls/ca.pem KVFS_ETCD_CERT=$tls/client.pem \
	KVFS_ETCD_KEY=$tls/client-key.pem
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout "$tmp/other-ca-key.pem" -out "$tmp/other-ca.pem" -days 2 \
	-subj /CN=kvfs-test-other-ca 2>/dev/null ||
	{ echo "Bail out! openssl could not make a second CA"; exit 1; }

. "$(dirname "$0")/tap.sh"

# Run kvfs; its stderr goes to $tmp/err.
kvfs() { "$KVFS" "$@" 2>"$tmp/err"; }

# A refusal: kvfs fails with EACCES's message, long before the retry
# budget of a minute's request timeout would run out.
refused() {
	local start=$SECONDS
	! kvfs get "$1" "${2:-k}" >/dev/null &&
		grep -q "Permission denied" "$tmp/err" &&
		[ $((SECONDS - start)) -lt 30 ]
}

mount_store() {
	mkdir -p "$mnt"
	"$KVFS" mount "$1" "$mnt" -f -o refresh=3600 2>"$tmp/mount.log" &
	mount_pid=$!
	wait_mounted "$mnt" "$mount_pid"
}

echo "1..13"

# ---- TLS, before auth is enabled ----

kvfs set "$uri" k '"over tls"' && [ "$(kvfs get "$uri" k)" = '"over tls"' ]
ok $? "set and get over https with the CA and a client certificate"

KVFS_ETCD_CACERT=$tmp/other-ca.pem refused "$uri?timeout=60000"
ok $? "members whose certificates another CA signed are refused with EACCES at once"

(unset KVFS_ETCD_CERT KVFS_ETCD_KEY && refused "$uri?timeout=60000")
ok $? "a client without a certificate is refused with EACCES at once"

# ---- user/password auth: root, and a user whose role has the prefix ----

printf 'root-secret\n' >"$tmp/root.pw"
printf 'kvfs-secret\n' >"$tmp/kvfs.pw"
printf 'not-the-secret\n' >"$tmp/wrong.pw"
{
	etcdctl user add root --interactive=false <"$tmp/root.pw" &&
		etcdctl user add kvfs --interactive=false <"$tmp/kvfs.pw" &&
		etcdctl role add kvfs &&
		etcdctl role grant-permission kvfs readwrite "$prefix" \
			"$prefix"$'\x01' &&
		etcdctl user grant-role kvfs kvfs &&
		etcdctl auth enable
} >"$tmp/etcdctl.log" 2>&1 ||
	{ echo "Bail out! auth setup failed: $(tail -1 "$tmp/etcdctl.log")"; exit 1; }
user_uri="$uri?user=kvfs&password-file=$tmp/kvfs.pw"

kvfs set "$user_uri" u '"with auth"' &&
	[ "$(kvfs get "$user_uri" u)" = '"with auth"' ]
ok $? "set and get as a user whose password is in a file"

[ "$(KVFS_ETCD_USER=kvfs KVFS_ETCD_PASSWORD=kvfs-secret kvfs get "$uri" u)" = '"with auth"' ]
ok $? "the user and password can come from the environment"

refused "$uri?user=kvfs&password-file=$tmp/wrong.pw" u
ok $? "a wrong password is refused with EACCES"

refused "$uri" u
ok $? "no credentials on a cluster with auth are refused with EACCES"

refused "$uri?user=kvfs&password-file=$tmp/missing.pw" u
ok $? "a missing password file is EACCES, not a missing store"

KVFS_ETCD_CERT=$tls/m1.pem KVFS_ETCD_KEY=$tls/m1-key.pem \
	refused "$user_uri&timeout=60000" u
ok $? "with auth, a client certificate with a CommonName is refused with EACCES at once"

refused "etcd://$endpoints/$prefix-other?user=kvfs&password-file=$tmp/kvfs.pw" u
ok $? "the user's role does not reach another store's prefix"

# ---- a mount over TLS and auth ----

if mount_store "$user_uri"; then
	kvfs set "$user_uri" m '"from the cli"' &&
		[ "$(cat "$mnt/m")" = '"from the cli"' ] &&
		printf '"from the mount"' >"$mnt/w" &&
		[ "$(kvfs get "$user_uri" w)" = '"from the mount"' ]
	ok $? "a mount over https with auth shows a written value and writes"

	# With refresh=3600 the mount is idle: its token expires.
	sleep $((token_ttl + 2))
	kvfs set "$user_uri" late '"after expiry"' &&
		[ "$(cat "$mnt/late")" = '"after expiry"' ] &&
		printf '"again"' >"$mnt/w2" &&
		[ "$(kvfs get "$user_uri" w2)" = '"again"' ]
	ok $? "the mount authenticates again once its token has expired"

	! grep -q kvfs-secret "/proc/$mount_pid/cmdline" /proc/mounts
	ok $? "the password shows neither in the mount's command line nor in /proc/mounts"
	fusermount3 -u "$mnt"
else
	sed 's/^/# /' "$tmp/mount.log"
	for what in "a mount over https with auth shows a written value and writes" \
		"the mount authenticates again once its token has expired" \
		"the password shows neither in the mount's command line nor in /proc/mounts"; do
		ok 1 "$what"
	done
fi
[ "$failed" = 0 ]
