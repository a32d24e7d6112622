#!/bin/bash
# shellcheck source-path=SCRIPTDIR disable=SC2016
# ICMP and ICMPv6 echo through pasta: pings from the namespace to the
# gateway addresses are answered by the host's loopback (the gateway is
# mapped to it), through ping sockets; concurrent pings with their own ids
# all get their replies; --no-icmp and --map-host-loopback none stop it.
. "$(dirname "$0")/lib.sh"

need_pkg ping iputils-ping
need_pkg tcpdump tcpdump
need_cmd ip timeout
hermetic_host
[ -x "$PASTA" ] || fail "no pasta binary at $PASTA (build first)"

d=$(new_tmpdir)

# in_ns SCRIPT_BODY PASTA_OPTION...: sh -c SCRIPT_BODY in a pasta namespace
# with --config-net ($0: temp dir); prints pasta's exit status.
in_ns() {
	local body=$1
	shift
	timeout 60 "$PASTA" -q --config-net "$@" -- sh -c "$body" "$d" > "$d/ns.log" 2>&1
	echo $?
}

# received FILE: packets received, from ping's summary
received() {
	sed -n 's/.* \([0-9]*\) received.*/\1/p' "$1"
}

# ---- both versions, and the host sees them on its loopback ---------------
bg_start sh -c "exec tcpdump -i lo -nn -l -U icmp or icmp6 > '$d/lo.txt' 2> '$d/lo.err'"
tcpdump_pid=$BG_PID
wait_for "grep -q 'listening on' '$d/lo.err'" 10 || fail "tcpdump on lo: $(cat "$d/lo.err")"

rc=$(in_ns '
cat /proc/sys/net/ipv4/ping_group_range > "$0/range"
ping -c3 -W2 -i 0.3 192.0.2.1 > "$0/ping4" 2>&1 || exit 14
ping -6 -c3 -W2 -i 0.3 2001:db8::1 > "$0/ping6" 2>&1 || exit 16
')
check_eq "$rc" 0 "pings from the namespace (ns log: $(cat "$d/ns.log" "$d/ping4" "$d/ping6" 2>&1))"
# pasta opens ping sockets to the root group in the namespace (the kernel
# default, "1 0", allows none)
read -r lo hi < "$d/range" || fail "no ping_group_range from the namespace"
{ [ "$lo" -le 0 ] && [ "$hi" -ge 0 ]; } || fail "ping_group_range in the namespace: $lo $hi"
check_eq "$(received "$d/ping4")" 3 "IPv4 echo replies"
check_eq "$(received "$d/ping6")" 3 "IPv6 echo replies"
grep -q "from 192.0.2.1: icmp_seq=1 " "$d/ping4" || fail "IPv4 reply source: $(cat "$d/ping4")"
grep -q "from 2001:db8::1: icmp_seq=1 " "$d/ping6" || fail "IPv6 reply source: $(cat "$d/ping6")"

# the requests went to the host's loopback (and nowhere near veth0)
wait_for "[ \$(grep -c '127.0.0.1 > 127.0.0.1: ICMP echo request' '$d/lo.txt') -ge 3 ]" 5 ||
	fail "no IPv4 echo requests on the host's lo: $(cat "$d/lo.txt")"
wait_for "[ \$(grep -c '::1 > ::1: ICMP6, echo request' '$d/lo.txt') -ge 3 ]" 5 ||
	fail "no IPv6 echo requests on the host's lo: $(cat "$d/lo.txt")"
bg_stop "$tcpdump_pid"

# ---- payload sizes up to nearly the MTU, data checked by ping -------------
rc=$(in_ns '
for s in 0 1400 9000 65000; do
	ping -c1 -W2 -s $s -p a55a 192.0.2.1 > "$0/s4.$s" 2>&1 || exit 14
	ping -6 -c1 -W2 -s $s -p a55a 2001:db8::1 > "$0/s6.$s" 2>&1 || exit 16
done
')
check_eq "$rc" 0 "pings with payloads up to 65000 bytes (log: $(cat "$d/ns.log" "$d"/s[46].* 2>&1))"
for s in 1400 9000 65000; do
	grep -q "^$((s + 8)) bytes from 192.0.2.1: " "$d/s4.$s" || fail "IPv4 reply, $s bytes: $(cat "$d/s4.$s")"
	grep -q "^$((s + 8)) bytes from 2001:db8::1: " "$d/s6.$s" || fail "IPv6 reply, $s bytes: $(cat "$d/s6.$s")"
done
grep -l "wrong data" "$d"/s[46].* && fail "corrupted echo replies"

# ---- three concurrent pings of each version (different ids) --------------
rc=$(in_ns '
pids=
for i in 1 2 3; do
	ping -c3 -W2 -i 0.2 192.0.2.1 > "$0/c4.$i" 2>&1 & pids="$pids $!"
	ping -6 -c3 -W2 -i 0.2 2001:db8::1 > "$0/c6.$i" 2>&1 & pids="$pids $!"
done
st=0
for p in $pids; do wait "$p" || st=1; done
exit $st
')
check_eq "$rc" 0 "concurrent pings (log: $(cat "$d/ns.log" "$d"/c[46].* 2>&1))"
for i in 1 2 3; do
	check_eq "$(received "$d/c4.$i")" 3 "IPv4 echo replies of concurrent ping $i"
	check_eq "$(received "$d/c6.$i")" 3 "IPv6 echo replies of concurrent ping $i"
	grep -q "DUP" "$d/c4.$i" "$d/c6.$i" && fail "duplicate replies in concurrent ping $i"
done

# ---- pasta as an unprivileged user (its usual case): ping sockets on the
# host side, allowed by the host's ping_group_range
if can_unprivileged; then
	u=$(new_unpriv_tmpdir)
	as_unprivileged timeout 60 "$PASTA" -q --config-net -- sh -c '
		ping -c2 -W2 -i 0.3 192.0.2.1 > "$0/u4" 2>&1 || exit 14
		ping -6 -c2 -W2 -i 0.3 2001:db8::1 > "$0/u6" 2>&1 || exit 16
	' "$u" > "$u/log" 2>&1
	check_eq "$?" 0 "unprivileged pasta: pings (log: $(cat "$u/log" "$u/u4" "$u/u6" 2>&1))"
	check_eq "$(received "$u/u4")" 2 "IPv4 echo replies, unprivileged pasta"
	check_eq "$(received "$u/u6")" 2 "IPv6 echo replies, unprivileged pasta"
else
	log "cannot run as an unprivileged user here: that part skipped"
fi

# ---- --no-icmp: no replies -----------------------------------------------
rc=$(in_ns '
ping -c1 -W2 192.0.2.1 > "$0/n4" 2>&1 && exit 14
ping -6 -c1 -W2 2001:db8::1 > "$0/n6" 2>&1 && exit 16
exit 0
' --no-icmp)
check_eq "$rc" 0 "pings fail with --no-icmp (log: $(cat "$d/ns.log" "$d/n4" "$d/n6" 2>&1))"
check_eq "$(received "$d/n4")" 0 "IPv4 echo replies with --no-icmp"
check_eq "$(received "$d/n6")" 0 "IPv6 echo replies with --no-icmp"

# ---- --map-host-loopback none: the gateway is not the host any more -------
# (the hermetic host's gateways don't exist: nothing answers)
rc=$(in_ns '
ping -c1 -W2 192.0.2.1 > "$0/m4" 2>&1 && exit 14
exit 0
' --map-host-loopback none)
check_eq "$rc" 0 "ping of the unmapped gateway fails (log: $(cat "$d/ns.log" "$d/m4" 2>&1))"

exit 0
