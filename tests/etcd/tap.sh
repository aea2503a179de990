# TAP for the etcd shell tests, sourced by them after they set $tmp.

n=0 failed=0

# ok STATUS NAME: one TAP line for a check that ended with STATUS; a
# failure shows $tmp/err (the last command's stderr), if any, as comments.
ok() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n $2"; else
		failed=$((failed + 1))
		echo "not ok $n $2"
		[ -s "$tmp/err" ] && sed 's/^/# /' "$tmp/err"
	fi
}

# wait_mounted MOUNTPOINT PID [TRIES]: wait TRIES × 50 ms (200 unless
# given) for the kvfs daemon PID to have mounted MOUNTPOINT; fail at once
# if it exits.
wait_mounted() {
	local i
	for i in $(seq "${3:-200}"); do
		mountpoint -q "$1" && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}
