#!/bin/bash
# shellcheck source-path=SCRIPTDIR disable=SC2016
# pasta and its namespaces: the exit status is the command's; the PID file
# exists while pasta runs and is gone after; joining an existing namespace
# by PID, by --netns PATH and by --netns NAME configures it; pasta exits when
# that namespace goes away, unless --no-netns-quit; without -f, pasta
# returns once the namespace is set up and keeps running in the background.
. "$(dirname "$0")/lib.sh"

need_pkg jq jq
need_cmd ip unshare nsenter timeout mount
hermetic_host
[ -x "$PASTA" ] || fail "no pasta binary at $PASTA (build first)"

d=$(new_tmpdir)

alive() { # PID: exists and is not a zombie
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)
	[ -n "$st" ] && [ "$st" != Z ]
}

# ---- exit status ---------------------------------------------------------
timeout 20 "$PASTA" -q -- true; check_eq "$?" 0 "exit status of pasta -- true"
timeout 20 "$PASTA" -q -- sh -c 'exit 7'; check_eq "$?" 7 "exit status of pasta -- sh -c 'exit 7'"
timeout 20 "$PASTA" -q --no-pidns -- sh -c 'kill -TERM $$'
check_eq "$?" 143 "exit status of a command killed by SIGTERM"
# In its own PID namespace the command is PID 1, which no signal without a
# handler reaches from inside, its own included (as for any PID 1).
timeout 20 "$PASTA" -q -- sh -c 'kill -TERM $$; exit 5'
check_eq "$?" 5 "exit status of a PID 1 command that sent itself SIGTERM"
timeout 20 "$PASTA" -q --no-pidns -- sh -c 'kill -KILL $$'
check_eq "$?" 137 "exit status of a command killed by SIGKILL"
timeout 20 "$PASTA" -q -- "$d/no-such-command" 2> /dev/null
rc=$?
[ "$rc" != 0 ] || fail "pasta with a missing command exited 0"

# ---- PID file ------------------------------------------------------------
pidf=$d/pasta.pid
bg_start sh -c "exec '$PASTA' -q -P '$pidf' -- sh -c \
	'while [ ! -e \"$d/go\" ]; do sleep 0.1; done; exit 3' > '$d/pid.log' 2>&1"
p=$BG_PID
wait_for "test -s '$pidf'" 10 || fail "no PID file while pasta runs: $(cat "$d/pid.log")"
check_eq "$(cat "$pidf")" "$p" "PID in the PID file"
touch "$d/go"
wait "$p"
check_eq "$?" 3 "exit status with -P"
[ -e "$pidf" ] && fail "PID file left behind after pasta exited"

# SIGTERM to pasta: passed on to the command, PID file removed
rm -f "$d/go"
bg_start sh -c "exec '$PASTA' -q -P '$pidf' -- sleep 60 > '$d/pid.log' 2>&1"
p=$BG_PID
wait_for "test -s '$pidf'" 10 || fail "no PID file: $(cat "$d/pid.log")"
kill -TERM "$p"
wait "$p"
check_eq "$?" 143 "exit status after SIGTERM to pasta"
[ -e "$pidf" ] && fail "PID file left behind after SIGTERM"

# ---- joining an existing namespace ------------------------------------------
# target_ns: starts a process in a new network namespace, leaves its PID in
# TPID (bg_start: stopped at exit).
target_ns() {
	bg_start unshare -n sleep 60
	TPID=$BG_PID
	wait_for "[ \"\$(readlink /proc/$TPID/ns/net)\" != \"\$(readlink /proc/self/ns/net)\" ]" 5 ||
		fail "unshare -n did not start"
}

# ns_addrs NSENTER_OR_IP_NETNS_PREFIX...: IPv4 and global IPv6 addresses of
# veth0 in there, sorted.
ns_addrs() {
	"$@" ip -j addr show dev "$HOST_IF" 2>/dev/null | jq -r '[.[0].addr_info[] |
		select(.scope == "global") | "\(.local)/\(.prefixlen)"] | sort | join(" ")'
}
want_addrs="$HOST_ADDR4/$HOST_PREFIX4 $HOST_ADDR6/$HOST_PREFIX6"

# joined CHECK_PREFIX... : waits until pasta configured the namespace
joined() {
	wait_for "[ \"\$(ns_addrs $*)\" = '$want_addrs' ]" 10
}

# by --netns PATH; pasta exits (status 0) when the process goes away
target_ns
bg_start sh -c "exec '$PASTA' -f -q --config-net --netns /proc/$TPID/ns/net > '$d/j1.log' 2>&1"
p=$BG_PID
joined nsenter -t "$TPID" -n ||
	fail "--netns /proc/PID/ns/net: got '$(ns_addrs nsenter -t "$TPID" -n)'; $(cat "$d/j1.log")"
check_eq "$(nsenter -t "$TPID" -n ip -j -4 route show default | jq -r '.[0].gateway')" \
	"$HOST_GW4" "default route in the joined namespace"
alive "$p" || fail "pasta -f --netns exited early: $(cat "$d/j1.log")"
kill -TERM "$TPID"
wait_for "! alive $p" 10 || fail "pasta still running after the namespace went away"
wait "$p"
check_eq "$?" 0 "exit status of pasta once the joined namespace is gone"

# --no-netns-quit: keeps running
target_ns
bg_start sh -c "exec '$PASTA' -f -q --config-net --no-netns-quit --netns /proc/$TPID/ns/net \
	> '$d/j2.log' 2>&1"
p=$BG_PID
joined nsenter -t "$TPID" -n || fail "--no-netns-quit: namespace not configured: $(cat "$d/j2.log")"
kill -TERM "$TPID"
wait_for "! alive $TPID" 5 || fail "target process did not end"
sleep 3
alive "$p" || fail "pasta --no-netns-quit exited when the namespace went away: $(cat "$d/j2.log")"
bg_stop "$p"

# by --netns NAME (ip netns), on a private /run/netns; exits once deleted
# (mounts only change our private mount namespace)
if [ -d /run/netns ]; then
	check mount -t tmpfs -o mode=755 tmpfs /run/netns
else
	check mount -t tmpfs -o mode=755 tmpfs /run
	check mkdir /run/netns
fi
check ip netns add pastatest
bg_start sh -c "exec '$PASTA' -f -q --config-net --netns pastatest > '$d/j3.log' 2>&1"
p=$BG_PID
joined ip netns exec pastatest ||
	fail "--netns NAME: got '$(ns_addrs ip netns exec pastatest)'; $(cat "$d/j3.log")"
check ip netns del pastatest
wait_for "! alive $p" 10 || fail "pasta still running after ip netns del"

# rootless, as for containers: an unprivileged user's namespaces, joined by
# an unprivileged pasta with --netns and --userns
if can_unprivileged; then
	as_unprivileged unshare -rn sleep 60 2> /dev/null &
	upid=$!
	wait_for "pgrep -u '$PASST_TEST_USER' -x sleep" 5 || fail "unprivileged unshare -rn did not start"
	TPID=$(pgrep -u "$PASST_TEST_USER" -x sleep)
	u=$(new_unpriv_tmpdir)
	as_unprivileged "$PASTA" -f -q --config-net --netns "/proc/$TPID/ns/net" \
		--userns "/proc/$TPID/ns/user" > "$u/log" 2>&1 &
	p=$!
	joined nsenter -t "$TPID" -U -n ||
		fail "rootless join: got '$(ns_addrs nsenter -t "$TPID" -U -n)'; $(cat "$u/log")"
	nsenter -t "$TPID" -U -n ping -c1 -W2 "$HOST_GW4" > "$u/ping" 2>&1 ||
		fail "ping from the joined rootless namespace: $(cat "$u/ping" "$u/log")"
	kill -TERM "$TPID"
	wait "$upid" 2>/dev/null
	wait_for "! alive $p" 10 || fail "rootless pasta still running after the namespace went away"
else
	log "cannot run as an unprivileged user here: rootless join skipped"
fi

# by PID (the usual `pasta PID`)
target_ns
bg_start sh -c "exec '$PASTA' -f -q --config-net $TPID > '$d/j4.log' 2>&1"
p=$BG_PID
joined nsenter -t "$TPID" -n ||
	fail "pasta PID: got '$(ns_addrs nsenter -t "$TPID" -n)'; pasta: $(cat "$d/j4.log")"
kill -TERM "$TPID"
wait_for "! alive $p" 10 || fail "pasta PID still running after that process ended"

# ---- without -f: back in the foreground once ready, pasta keeps running ---
target_ns
timeout 10 "$PASTA" -q --config-net -P "$pidf" --netns "/proc/$TPID/ns/net" > "$d/j5.log" 2>&1
rc=$?
[ "$rc" = 124 ] && fail "pasta without -f did not go to the background (documented default)"
check_eq "$rc" 0 "exit status of pasta going to the background"
check_eq "$(ns_addrs nsenter -t "$TPID" -n)" "$want_addrs" "addresses set up by a daemonised pasta"
dp=$(cat "$pidf" 2>/dev/null)
{ [ -n "$dp" ] && alive "$dp"; } || fail "no running pasta after it went to the background"
kill -TERM "$TPID"
wait_for "! alive $dp" 10 || fail "background pasta still running after the namespace went away"

exit 0
