#!/bin/bash
# The sandbox when the daemon is started by the real root: uid 0 of the
# initial user namespace, with every capability, as libvirt's system
# instance and rootful Podman start it (test_sandbox.sh covers root of a
# user namespace and an unprivileged user). The hermetic host is built
# without a user namespace here. For passt (daemonised), passt --vhost-user
# (-f), pasta spawning a command and pasta joining a named namespace
# (daemonised), /proc/PID/status must show Uid and Gid 65534 (nobody),
# no capabilities, Seccomp 2 and NoNewPrivs 1, and the daemon must be in
# user and mount namespaces of its own with an empty root; passt must not
# be dumpable (its /proc files owned by root). pasta must still carry a
# TCP transfer (cmp) and pass SIGTERM on to its command, which runs as
# root; every daemon must end on SIGTERM and leave no socket or PID file.
PASST_TEST_NO_USERNS=1
. "$(dirname "$0")/lib.sh"

need_pkg socat socat
need_cmd ip unshare timeout cmp stat
hermetic_host
[ -x "$PASST" ] || fail "no passt binary at $PASST (build first)"
[ -x "$PASTA" ] || fail "no pasta binary at $PASTA (build first)"
[ "$(awk 'NR == 1 { print $1, $2, $3 }' /proc/self/uid_map)" = "0 0 4294967295" ] ||
	fail "not in the initial user namespace"
id -u nobody > /dev/null 2>&1 || skip "no user nobody on this machine"
NOBODY="$(id -u nobody) $(id -u nobody) $(id -u nobody) $(id -u nobody)"
NOBODY_G="$(id -g nobody) $(id -g nobody) $(id -g nobody) $(id -g nobody)"

d=$(new_tmpdir)
chmod 755 "$d"

field() { # field PID NAME: the value of NAME in /proc/PID/status, tabs as spaces
	awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "/proc/$1/status"
}

# check_confined WHAT PID DUMPABLE(0|1)
check_confined() {
	local what=$1 pid=$2 i
	for (( i = 0; i < 50; i++ )); do
		[ "$(field "$pid" Seccomp)" = 2 ] && break
		sleep 0.1
	done
	check_eq "$(field "$pid" Seccomp)" 2 "$what: Seccomp"
	check_eq "$(field "$pid" NoNewPrivs)" 1 "$what: NoNewPrivs"
	check_eq "$(field "$pid" Uid)" "$NOBODY" "$what: Uid"
	check_eq "$(field "$pid" Gid)" "$NOBODY_G" "$what: Gid"
	check_eq "$(field "$pid" Groups)" "" "$what: Groups"
	local c
	for c in CapInh CapPrm CapEff CapAmb; do
		check_eq "$(field "$pid" $c)" 0000000000000000 "$what: $c"
	done
	[ "$(readlink "/proc/$pid/ns/user")" != "$(readlink /proc/self/ns/user)" ] ||
		fail "$what: still in the initial user namespace"
	[ "$(readlink "/proc/$pid/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ] ||
		fail "$what: still in our mount namespace"
	local root
	root=$(ls -A "/proc/$pid/root/") || fail "$what: can't list /proc/$pid/root/"
	check_eq "$root" "" "$what: entries in its root"
	if [ "$3" = 0 ]; then
		check_eq "$(stat -c %u "/proc/$pid/status")" 0 "$what: owner of /proc/PID (dumpable?)"
	fi
	log "$what: PID $pid: Uid $(field "$pid" Uid); Seccomp 2; no capabilities; empty root"
}

running() { # running PID: alive and not a zombie (our -f children)
	kill -0 "$1" 2>/dev/null && ! _is_zombie "$1"
}

# stop_daemon WHAT PID FILE...: SIGTERM, gone within 5 s, files removed.
stop_daemon() {
	local what=$1 pid=$2 i
	shift 2
	kill -TERM "$pid"
	for (( i = 0; i < 50; i++ )); do
		running "$pid" || break
		sleep 0.1
	done
	! running "$pid" || fail "$what: still running 5 s after SIGTERM"
	local f
	for f in "$@"; do
		wait_for "[ ! -e '$f' ]" 2 || fail "$what: $f left behind"
	done
}

# passt, daemonised: the PID file holds the outside PID of the daemon.
"$PASST" -q -s "$d/passt.sock" -P "$d/passt.pid" > "$d/passt.log" 2>&1 ||
	fail "passt did not start: $(cat "$d/passt.log")"
pid=$(cat "$d/passt.pid")
check_confined "passt (daemonised)" "$pid" 0
stop_daemon "passt (daemonised)" "$pid" "$d/passt.sock" "$d/passt.pid"

# passt --vhost-user, in the foreground.
bg_start "$PASST" -q -f --vhost-user -s "$d/vu.sock" -P "$d/vu.pid"
wait_for "[ -S '$d/vu.sock' ] && [ -s '$d/vu.pid' ]" || fail "vhost-user: no socket"
check_eq "$(cat "$d/vu.pid")" "$BG_PID" "vhost-user: PID file"
check_confined "passt --vhost-user (-f)" "$BG_PID" 0
stop_daemon "passt --vhost-user (-f)" "$BG_PID" "$d/vu.sock" "$d/vu.pid"

# pasta spawning a command: a transfer through the tap device to the
# host's loopback (via the gateway), checked byte for byte, then SIGTERM,
# which pasta (nobody by then) hands on to its command (still root).
head -c $((1 << 20)) /dev/urandom > "$d/data"
bg_start socat -u TCP-LISTEN:20001,bind=127.0.0.1,reuseaddr OPEN:"$d/recv",creat
listener=$BG_PID
wait_for "ss -Htln 'sport = :20001' | grep -q ."
bg_start "$PASTA" -q -f --config-net -T none -U none -- sh -c \
	"id -u > '$d/cmd_uid'; trap 'exit 42' TERM; \
	 socat -u OPEN:'$d/data' TCP:$HOST_GW4:20001 && echo sent > '$d/sent'; \
	 while :; do sleep 0.1; done"
pasta=$BG_PID
wait_for "[ -e '$d/sent' ]" 20 || fail "pasta: the transfer did not finish"
check_confined "pasta (spawning)" "$pasta" 1
wait_for "! kill -0 $listener 2>/dev/null" 5
cmp -s "$d/data" "$d/recv" || fail "pasta: data received differs from data sent"
check_eq "$(cat "$d/cmd_uid")" 0 "pasta: the command's uid"
kill -TERM "$pasta"
wait "$pasta"
check_eq "$?" 42 "pasta: exit status after SIGTERM (the command's)"

# pasta joining a named namespace, daemonised.
# A private /run/netns (or /run) for `ip netns add`: our mount namespace only.
if [ -d /run/netns ]; then
	check mount -t tmpfs -o mode=755 tmpfs /run/netns
else
	check mount -t tmpfs -o mode=755 tmpfs /run
fi
check ip netns add sbx
"$PASTA" -q --config-net --netns sbx -P "$d/pasta.pid" > "$d/pasta.log" 2>&1 ||
	fail "pasta --netns did not start: $(cat "$d/pasta.log")"
pid=$(cat "$d/pasta.pid")
check_confined "pasta --netns (daemonised)" "$pid" 1
ip netns exec sbx ip -br addr show | grep -q "$HOST_ADDR4" ||
	fail "pasta --netns: namespace not configured"
stop_daemon "pasta --netns (daemonised)" "$pid" "$d/pasta.pid"
exit 0
