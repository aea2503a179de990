#!/usr/bin/env bash
# A real 3-member etcd cluster on loopback ports, for the tests.
#
#   cluster.sh start DIR      start it in DIR (made if missing); prints the
#                             endpoints (host:port,host:port,host:port),
#                             also kept in DIR/endpoints
#   cluster.sh start-tls DIR [TTL]
#                             the same, secured: clients speak https and
#                             must show a certificate; DIR/tls holds the
#                             CA (ca.pem) and a client certificate
#                             (client.pem, client-key.pem) made for the
#                             run; auth tokens expire after TTL s idle
#                             (etcd's default 300)
#   cluster.sh etcdctl DIR ARG...
#                             etcdctl on the cluster, with the client
#                             certificate when it is secured
#   cluster.sh stop DIR       stop every member and remove DIR
#   cluster.sh kill DIR N     SIGKILL member N (1..3)
#   cluster.sh restart DIR N  start member N again on its data
#   cluster.sh run CMD...     run CMD with KVFS_ETCD_ENDPOINTS set: the
#                             cluster it names when already set, else a
#                             cluster of its own, stopped when CMD ends
#
# Peers always speak plain http on loopback: the secured mode is there to
# test clients, not etcd's own replication.
#
# Data lives on /dev/shm when there is one: the tests measure kvfs, not the
# disk, and etcd fsyncs every commit. Heartbeats and elections are 5 times
# quicker than etcd's defaults, so a cluster is up in about a second and a
# killed leader is replaced in well under one.
set -euo pipefail

members=3

die() {
	echo "cluster.sh: $*" >&2
	exit 1
}

port_free() {
	! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

# Six consecutive free ports from a random base: client 2N, peer 2N+1.
pick_base() {
	local tries base i ok
	for tries in $(seq 50); do
		base=$((20000 + (RANDOM % 4000) * 10))
		ok=1
		for i in $(seq 0 $((2 * members - 1))); do
			port_free $((base + i)) || ok=0
		done
		[ "$ok" = 1 ] && { echo "$base"; return; }
	done
	die "no free ports"
}

client_port() { echo $(($(cat "$1/base") + 2 * ($2 - 1))); }
peer_port() { echo $(($(cat "$1/base") + 2 * ($2 - 1) + 1)); }

initial_cluster() {
	local dir=$1 n list=
	for n in $(seq $members); do
		list+="${list:+,}m$n=http://127.0.0.1:$(peer_port "$dir" "$n")"
	done
	echo "$list"
}

secured() { [ -d "$1/tls" ]; }

scheme() { if secured "$1"; then echo https; else echo http; fi; }

# A key and a certificate signed by the test CA: file name, subject,
# openssl x509 extensions.
make_cert() {
	local tls=$1 name=$2 subject=$3 ext=$4
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-nodes -keyout "$tls/$name-key.pem" -subj "$subject" 2>/dev/null |
		openssl x509 -req -CA "$tls/ca.pem" -CAkey "$tls/ca-key.pem" \
			-set_serial "$((++serial))" -days 2 -out "$tls/$name.pem" \
			-extfile <(printf '%s\n' "$ext") 2>/dev/null
}

# The CA, a certificate per member and one for clients. A member's serves
# 127.0.0.1 and is also a client's: etcd's JSON gateway passes requests on
# to the member's own gRPC port with it, which --client-cert-auth checks.
# The client's has no CommonName: once auth is enabled, etcd (3.4.23,
# 3.5) refuses a gateway request whose certificate has one, since the
# gateway cannot pass it on for etcd's CN-as-user authentication.
make_certs() {
	local tls=$1/tls n serial=0
	mkdir -p "$tls"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-nodes -keyout "$tls/ca-key.pem" -out "$tls/ca.pem" -days 2 \
		-subj /CN=kvfs-test-ca 2>/dev/null || return 1
	for n in $(seq $members); do
		make_cert "$tls" "m$n" "/CN=kvfs-test-m$n" \
			"subjectAltName=IP:127.0.0.1
extendedKeyUsage=serverAuth,clientAuth" || return 1
	done
	make_cert "$tls" client /O=kvfs-test-client \
		"extendedKeyUsage=clientAuth"
}

tls_flags() {
	local dir=$1 n=$2
	secured "$dir" || return 0
	echo --cert-file "$dir/tls/m$n.pem" --key-file "$dir/tls/m$n-key.pem" \
		--client-cert-auth --trusted-ca-file "$dir/tls/ca.pem" \
		--auth-token-ttl "$(cat "$dir/tls/token-ttl")"
}

start_member() {
	local dir=$1 n=$2 state=$3
	local cport pport url
	cport=$(client_port "$dir" "$n")
	pport=$(peer_port "$dir" "$n")
	url="$(scheme "$dir")://127.0.0.1:$cport"
	# shellcheck disable=SC2046 # tls_flags's words are paths without spaces
	setsid etcd --name "m$n" --data-dir "$dir/m$n" $(tls_flags "$dir" "$n") \
		--listen-client-urls "$url" \
		--advertise-client-urls "$url" \
		--listen-peer-urls "http://127.0.0.1:$pport" \
		--initial-advertise-peer-urls "http://127.0.0.1:$pport" \
		--initial-cluster "$(initial_cluster "$dir")" \
		--initial-cluster-state "$state" \
		--initial-cluster-token "kvfs-test-$(cat "$dir/base")" \
		--heartbeat-interval 20 --election-timeout 200 \
		--snapshot-count 10000 --max-txn-ops 2048 --log-level error \
		</dev/null >>"$dir/m$n.log" 2>&1 &
	echo $! >"$dir/m$n.pid"
}

# The CA and client certificate options, the same for curl and etcdctl.
cert_args() {
	secured "$1" || return 0
	echo --cacert "$1/tls/ca.pem" --cert "$1/tls/client.pem" \
		--key "$1/tls/client-key.pem"
}

healthy() {
	# shellcheck disable=SC2046
	curl -s -m 1 $(cert_args "$1") \
		"$(scheme "$1")://127.0.0.1:$(client_port "$1" "$2")/health" |
		grep -q '"health":"true"'
}

wait_healthy() {
	local dir=$1 n i
	shift
	for i in $(seq 200); do
		local all=1
		for n in "$@"; do
			healthy "$dir" "$n" || all=0
		done
		[ "$all" = 1 ] && return 0
		sleep 0.05
	done
	tail -n 20 "$dir"/m*.log >&2 || true
	return 1
}

stop_member() {
	local pidfile=$1/m$2.pid
	[ -f "$pidfile" ] || return 0
	kill -"${3:-TERM}" "$(cat "$pidfile")" 2>/dev/null || true
	local i
	for i in $(seq 100); do
		kill -0 "$(cat "$pidfile")" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$(cat "$pidfile")" 2>/dev/null || true
	rm -f "$pidfile"
}

cmd_start() {
	local dir=$1 n tries
	mkdir -p "$dir"
	for tries in 1 2 3; do
		pick_base >"$dir/base"
		for n in $(seq $members); do
			rm -rf "${dir:?}/m$n"
			start_member "$dir" "$n" new
		done
		if wait_healthy "$dir" $(seq $members); then
			local eps=
			for n in $(seq $members); do
				eps+="${eps:+,}127.0.0.1:$(client_port "$dir" "$n")"
			done
			echo "$eps" >"$dir/endpoints"
			echo "$eps"
			return 0
		fi
		for n in $(seq $members); do
			stop_member "$dir" "$n" KILL
		done
	done
	die "the cluster did not start (logs in $dir)"
}

cmd_start_tls() {
	local dir=$1 ttl=${2:-300}
	mkdir -p "$dir"
	make_certs "$dir" || die "openssl could not make the certificates"
	echo "$ttl" >"$dir/tls/token-ttl"
	cmd_start "$dir"
}

cmd_etcdctl() {
	local dir=$1 eps
	shift
	eps=$(sed "s|[^,]*|$(scheme "$dir")://&|g" "$dir/endpoints")
	# shellcheck disable=SC2046
	ETCDCTL_API=3 etcdctl --endpoints "$eps" $(cert_args "$dir") "$@"
}

cmd_stop() {
	local dir=$1 n
	[ -d "$dir" ] || return 0
	for n in $(seq $members); do
		stop_member "$dir" "$n"
	done
	rm -rf "${dir:?}"
}

cmd_restart() {
	local dir=$1 n=$2
	start_member "$dir" "$n" existing
	wait_healthy "$dir" "$n" || die "member $n did not come back"
}

data_root() {
	if [ -d /dev/shm ] && [ -w /dev/shm ]; then
		echo /dev/shm
	else
		echo "${TMPDIR:-/tmp}"
	fi
}

cmd_run() {
	if [ -n "${KVFS_ETCD_ENDPOINTS:-}" ]; then
		exec "$@"
	fi
	local status=0
	# Global: the EXIT trap runs after this function has returned.
	run_dir=$(mktemp -d "$(data_root)/kvfs-etcd.XXXXXX")
	trap 'cmd_stop "$run_dir"' EXIT
	trap 'exit 143' TERM INT
	KVFS_ETCD_ENDPOINTS=$(cmd_start "$run_dir") || exit 1
	export KVFS_ETCD_ENDPOINTS
	"$@" || status=$?
	return $status
}

[ $# -ge 1 ] || die "usage: cluster.sh start|start-tls|etcdctl|stop|kill|restart|run ..."
case "$1" in
start) [ $# -eq 2 ] || die "usage: cluster.sh start DIR"; cmd_start "$2" ;;
start-tls)
	[ $# -eq 2 ] || [ $# -eq 3 ] || die "usage: cluster.sh start-tls DIR [TTL]"
	cmd_start_tls "$2" "${3:-}" ;;
etcdctl) [ $# -ge 3 ] || die "usage: cluster.sh etcdctl DIR ARG..."; shift; cmd_etcdctl "$@" ;;
stop) [ $# -eq 2 ] || die "usage: cluster.sh stop DIR"; cmd_stop "$2" ;;
kill) [ $# -eq 3 ] || die "usage: cluster.sh kill DIR N"; stop_member "$2" "$3" KILL ;;
restart) [ $# -eq 3 ] || die "usage: cluster.sh restart DIR N"; cmd_restart "$2" "$3" ;;
run) shift; [ $# -ge 1 ] || die "usage: cluster.sh run CMD..."; cmd_run "$@" ;;
*) die "unknown command '$1'" ;;
esac
