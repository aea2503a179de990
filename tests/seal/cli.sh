#!/usr/bin/env bash
# The commands of encrypted stores (issue 4): kvfs init --encrypt, the key
# options of every command, passwd, rekey and app-key, driven on real files.
. "$(dirname "$0")/lib.sh"

mode_of() {
	stat -c %a "$1"
}

sum_of() {
	sha256sum "$1" | cut -d' ' -f1
}

t_init_encrypt_states_the_store_id_and_the_plaintext_limit() {
	printf 'pw\n' >pass
	expect_status 0 "$KVFS" init --encrypt --passphrase-file pass "${KDF[@]}" db
	printf '%s\n' "$out" | grep -Eq '^db: an encrypted store, store id [0-9a-f]{32}$'
	printf '%s\n' "$out" | grep -q '^largest value: 65489 bytes (65536 less 47 bytes of sealing)$'
	printf '%s\n' "$out" | grep -q '^keyslot 1: passphrase (Argon2id, 2 passes, 64 MiB)$'
	expect_status 1 "$KVFS" init --encrypt --passphrase-file pass "${KDF[@]}" db
	expect_error_line "kvfs init: db:" "exists"
}

t_ctrl_c_at_a_passphrase_prompt_ends_the_command_and_restores_echo() {
	# On a terminal of its own (a pty): the prompt turns echo off; a Ctrl-C
	# there must end kvfs by SIGINT, as anywhere, with echo back on.
	python3 - "$KVFS" <<'PY' >result
import os, pty, signal, sys, termios, time
pid, tty = pty.fork()
if pid == 0:
    os.environ.pop("KVFS_PASSPHRASE", None)
    os.execv(sys.argv[1], [sys.argv[1], "init", "--encrypt", "store"])
seen, deadline = b"", time.time() + 30
while b"assphrase" not in seen and time.time() < deadline:
    seen += os.read(tty, 256)
time.sleep(0.2)
os.write(tty, b"\x03")
_, status = os.waitpid(pid, 0)
echo = termios.tcgetattr(tty)[3] & termios.ECHO
print("prompted" if b"assphrase" in seen else "no prompt",
      "SIGINT" if os.WIFSIGNALED(status) and
      os.WTERMSIG(status) == signal.SIGINT else "status %d" % status,
      "echo" if echo else "no echo")
PY
	expect_eq "$(cat result)" "prompted SIGINT echo"
	[ ! -e store ] || { echo "a store was made"; return 1; }
}

t_init_without_encrypt_makes_a_plain_store_and_refuses_an_existing_one() {
	expect_status 0 "$KVFS" init db
	printf '%s\n' "$out" | grep -q '^largest value: 65536 bytes$'
	expect_status 1 "$KVFS" init db
	expect_error_line "kvfs init: db:" "exists"
	expect_status 2 "$KVFS" init --key-file x db2
	[ ! -e db2 ]
}

t_init_new_key_file_writes_32_bytes_mode_0600_and_never_over_a_file() {
	expect_status 0 "$KVFS" init --encrypt --new-key-file key db
	expect_eq "$(mode_of key)" 600
	expect_eq "$(stat -c %s key)" 32
	printf '%s\n' "$out" | grep -q '^keyslot 1: key file$'
	echo keep >other
	expect_status 1 "$KVFS" init --encrypt --new-key-file other db2
	expect_error_line "other" "exists"
	expect_eq "$(cat other)" keep
	[ ! -e db2 ]
}

t_init_with_a_recovery_key_prints_it_once_and_it_opens_the_store() {
	expect_status 0 "$KVFS" init --encrypt --new-key-file key --recovery-key db
	local rec
	rec=$(printf '%s\n' "$out" | sed -n 's/^recovery key .*: \(KVFS-.*\)$/\1/p')
	[ -n "$rec" ]
	"$KVFS" set --key-file key db a secret
	expect_eq "$(KVFS_PASSPHRASE=$rec "$KVFS" get db a)" secret
}

t_values_are_sealed_in_the_file_and_plaintext_through_the_commands() {
	"$KVFS" init --encrypt --new-key-file key db >/dev/null
	"$KVFS" set --key-file key db users/alice "correct-horse-SECRET"
	expect_eq "$("$KVFS" get --key-file key db users/alice)" "correct-horse-SECRET"
	expect_eq "$("$KVFS" ls --key-file key db users)" alice
	no_plaintext SECRET db db-wal
	# Deno's view: a Uint8Array of the value's length plus 47.
	expect_eq "$(sqlite3 db "select v_encoding, length(v) from kv")" "3|67"
}

t_the_size_limit_applies_to_the_sealed_bytes() {
	"$KVFS" init --encrypt --new-key-file key db >/dev/null
	head -c 65489 /dev/zero | "$KVFS" set --key-file key db big --type bytes
	expect_status 1 sh -c "head -c 65490 /dev/zero | '$KVFS' set --key-file key db big2 --type bytes"
	expect_error_line "value too large"
}

t_an_encrypted_store_without_its_key_is_one_clear_line() {
	"$KVFS" init --encrypt --new-key-file key db >/dev/null
	expect_status 1 "$KVFS" get db a
	expect_error_line "kvfs get: db:" "an encrypted store" "--key-file"
	mkdir mnt
	expect_status 1 "$KVFS" mount db mnt
	expect_error_line "kvfs mount: cannot open db:" "an encrypted store"
}

t_a_wrong_key_is_one_line_status_1_and_changes_nothing() {
	printf 'right\n' >pass
	printf 'wrong\n' >bad
	"$KVFS" init --encrypt --passphrase-file pass "${KDF[@]}" db >/dev/null
	"$KVFS" set --passphrase-file pass db a value
	local before
	before=$(sum_of db)
	expect_status 1 "$KVFS" set --passphrase-file bad db a other
	expect_error_line "wrong passphrase or key file"
	expect_status 1 env KVFS_PASSPHRASE=wrong "$KVFS" get db a
	expect_error_line "wrong passphrase or key file"
	expect_status 1 "$KVFS" passwd --passphrase-file bad --new-passphrase-file bad db
	expect_error_line "wrong passphrase or key file"
	expect_eq "$(sum_of db)" "$before"
	expect_eq "$("$KVFS" get --passphrase-file pass db a)" value
}

t_a_key_is_refused_for_writing_a_plain_store() {
	head -c 32 /dev/urandom >key
	"$KVFS" set db a plain
	expect_status 1 "$KVFS" set --key-file key db a sealed
	expect_error_line "not an encrypted store"
	expect_status 1 "$KVFS" set --key-file key new b sealed
	expect_error_line "not an encrypted store"
	[ ! -e new ]
	expect_eq "$("$KVFS" get --key-file key db a)" plain
}

t_a_short_or_missing_key_file_is_one_line() {
	"$KVFS" init --encrypt --new-key-file key db >/dev/null
	head -c 31 /dev/urandom >short
	expect_status 1 "$KVFS" get --key-file short db a
	expect_error_line "key file short" "32 bytes"
	expect_status 1 "$KVFS" get --key-file nowhere db a
	expect_error_line "key file nowhere"
}

t_passwd_changes_the_passphrase_and_keeps_every_value() {
	printf 'old\n' >old
	printf 'new\n' >new
	"$KVFS" init --encrypt --passphrase-file old "${KDF[@]}" db >/dev/null
	for i in 1 2 3; do "$KVFS" set --passphrase-file old db k/$i "v$i"; done
	local values
	values=$(sqlite3 db "select hex(v) from kv order by k")
	expect_status 0 "$KVFS" passwd --passphrase-file old --new-passphrase-file new "${KDF[@]}" db
	expect_eq "$out" "keyslot 1 changed: passphrase"
	expect_eq "$(sqlite3 db "select hex(v) from kv order by k")" "$values"
	expect_status 1 "$KVFS" get --passphrase-file old db k/1
	for i in 1 2 3; do
		expect_eq "$("$KVFS" get --passphrase-file new db k/$i)" "v$i"
	done
}

t_passwd_adds_lists_and_removes_slots_but_never_the_last() {
	"$KVFS" init --encrypt --new-key-file key1 db >/dev/null
	expect_status 0 "$KVFS" passwd --key-file key1 --add --new-key-file key2 db
	expect_eq "$out" "keyslot 2 added: new key file"
	expect_eq "$(mode_of key2)" 600
	expect_status 0 "$KVFS" passwd --key-file key2 --list db
	expect_eq "$out" "1 key file
2 key file (opened now)"
	expect_status 0 "$KVFS" passwd --key-file key2 --remove 1 db
	expect_status 1 "$KVFS" passwd --key-file key2 --remove 2 db
	expect_error_line "keyslot 2" "the last keyslot is never removed"
	expect_status 1 "$KVFS" get --key-file key1 db a
	expect_status 2 "$KVFS" passwd --key-file key2 --add --list db
}

t_rekey_reseals_every_value_under_a_new_generation() {
	"$KVFS" init --encrypt --new-key-file key db >/dev/null
	for i in $(seq 1 20); do "$KVFS" set --key-file key db k/$i "v$i"; done
	local gen1
	gen1=$(sqlite3 db "select distinct hex(substr(v, 3, 4)) from kv")
	expect_eq "$gen1" 00000001
	expect_status 0 "$KVFS" rekey --key-file key db
	expect_eq "$out" "generation 2: 20 values re-sealed, older generations dropped"
	expect_eq "$(sqlite3 db "select distinct hex(substr(v, 3, 4)) from kv")" 00000002
	expect_eq "$("$KVFS" get --key-file key db k/17)" v17
}

t_rekey_begin_keeps_old_generations_until_it_finishes() {
	"$KVFS" init --encrypt --new-key-file key db >/dev/null
	"$KVFS" set --key-file key db a one
	expect_status 0 "$KVFS" rekey --key-file key --begin db
	"$KVFS" app-key --key-file key db app.json
	grep -q '"current":2,"generations":\[{"id":1,' app.json
	"$KVFS" set --key-file key db b two
	expect_eq "$(sqlite3 db "select hex(substr(v, 3, 4)) from kv order by k")" \
		"00000001
00000002"
	expect_status 0 "$KVFS" rekey --key-file key db
	expect_eq "$(sqlite3 db "select distinct hex(substr(v, 3, 4)) from kv")" 00000002
	expect_eq "$("$KVFS" get --key-file key db a)" one
}

t_app_key_is_written_0600_once_without_the_master_key() {
	"$KVFS" init --encrypt --new-key-file key db >/dev/null
	expect_status 0 "$KVFS" app-key --key-file key db app.json
	expect_eq "$(mode_of app.json)" 600
	jq -e '.kvfs_app_key == 1 and (.store_id | length) == 32 and .current == 1
		and (.generations | length) == 1 and (keys | length) == 4' app.json >/dev/null
	expect_status 1 "$KVFS" app-key --key-file key db app.json
	expect_error_line "app.json" "exists"
	head -c 32 /dev/urandom >plainkey
	"$KVFS" set plain a b
	expect_status 1 "$KVFS" app-key plain app2.json
	expect_error_line "not an encrypted store"
}

t_check_reports_a_tampered_value_and_reads_go_on() {
	"$KVFS" init --encrypt --new-key-file key db >/dev/null
	"$KVFS" set --key-file key db a alpha
	"$KVFS" set --key-file key db b bravo
	"$KVFS" set --key-file key db c charlie
	sqlite3 db "update kv set v = substr(v, 1, 40) || x'00' || substr(v, 42) where k = x'026200'"
	expect_status 1 "$KVFS" get --key-file key db b
	expect_error_line "b:" "input/output error"
	expect_eq "$("$KVFS" get --key-file key db c)" charlie
	expect_eq "$("$KVFS" ls --key-file key db)" "a
b
c"
	expect_status 1 "$KVFS" check --key-file key db
	expect_eq "$(printf '%s\n' "$out" | cut -d: -f1)" b
}

t_copy_moves_a_plain_store_into_an_encrypted_one() {
	"$KVFS" set plain a/b "moved-SECRET"
	"$KVFS" init --encrypt --new-key-file key db >/dev/null
	expect_status 0 "$KVFS" copy --key-file key plain db
	expect_eq "$("$KVFS" get --key-file key db a/b)" "moved-SECRET"
	no_plaintext SECRET db db-wal
}

run_tests
