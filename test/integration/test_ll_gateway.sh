#!/bin/bash
# shellcheck source-path=SCRIPTDIR disable=SC2016
# Our link-local address is the router a namespace or guest configured by
# SLAAC uses: TCP, UDP and ICMPv6 echo to it must reach the host, whether the
# host's own IPv6 gateway is a global address (then our link-local is the
# host's link-local address on the template interface, and flows reach the
# host there) or a link-local one (then it is also the gateway address, which
# is mapped to the host's loopback). Replies come back from our link-local
# address. pasta without --config-net: the namespace sets itself up from our
# router advertisements; passt with the stream back-end: passt_protocol.py
# plays a guest that resolves our link-local address (NDP) and opens a TCP
# connection to it.
. "$(dirname "$0")/lib.sh"

need_pkg socat socat
need_pkg ping iputils-ping
need_cmd ip ss timeout cmp head python3
hermetic_host
[ -x "$PASTA" ] || fail "no pasta binary at $PASTA (build first)"
[ -x "$PASST" ] || fail "no passt binary at $PASST (build first)"

d=$(new_tmpdir)
PT=20100 # TCP port on the host
PU=20101 # UDP port on the host
PP=20102 # TCP port on the host, for passt
head -c 1048576 /dev/urandom > "$d/in.tcp"
head -c 1000 /dev/urandom > "$d/in.udp"

# The namespace's side: SLAAC from our RA, then TCP (1 MiB echoed back), UDP
# (one datagram echoed back) and three pings to the router of the default
# route, the link-local address pasta announces. $0: temp dir, $1: interface.
# shellcheck disable=SC2154 # variables of the inner shell
ns_body='
echo 2 > /proc/sys/net/ipv6/conf/"$1"/accept_ra
echo 1 > /proc/sys/net/ipv6/conf/"$1"/autoconf
ip link set "$1" up || exit 10
i=0
until r=$(ip -6 route show default dev "$1") && [ -n "$r" ]; do
	i=$((i + 1)); [ $i -gt 100 ] && exit 11; sleep 0.1
done
gw=$(echo "$r" | sed -n "s/.*via \(fe80::[0-9a-f:]*\) .*/\1/p")
echo "$gw" > "$0/ns.gw"
[ -n "$gw" ] || exit 12
# our own link-local address must be usable (no DAD pending) to talk to it
i=0
while ip -6 addr show dev "$1" | grep -q tentative; do
	i=$((i + 1)); [ $i -gt 100 ] && exit 13; sleep 0.1
done
timeout 20 socat -t 10 - "TCP6:[$gw%$1]:'"$PT"'" < "$0/in.tcp" > "$0/out.tcp" 2> "$0/tcp.err" ||
	echo "tcp: socat exited with $?" >> "$0/ns.err"
timeout 10 socat -t 3 - "UDP6:[$gw%$1]:'"$PU"'" < "$0/in.udp" > "$0/out.udp" 2> "$0/udp.err" ||
	echo "udp: socat exited with $?" >> "$0/ns.err"
ping -6 -c3 -W2 -i 0.3 "$gw%$1" > "$0/ping" 2>&1 ||
	echo "ping: exited with $?" >> "$0/ns.err"
exit 0
'

# run_case NAME OUR_LL HOST_SEES: starts echo listeners on the host's [::],
# runs pasta with ns_body, and checks that the namespace's router is OUR_LL,
# that the data came back byte-exact, and that the host saw the TCP and UDP
# flows at its address HOST_SEES, from that same address (the kernel's choice
# for a local destination).
run_case() {
	local name=$1 ll=$2 sees=$3
	rm -f "$d"/out.* "$d"/*.err "$d"/*.addr "$d/ns.gw" "$d/ping"
	bg_start socat "TCP6-LISTEN:$PT,bind=[::],ipv6only=1,reuseaddr,fork" \
		"SYSTEM:echo \"\$SOCAT_SOCKADDR \$SOCAT_PEERADDR\" >> $d/tcp.addr; exec cat"
	local tl=$BG_PID
	bg_start socat "UDP6-RECVFROM:$PU,bind=[::],ipv6only=1,fork" \
		"SYSTEM:echo \"\$SOCAT_PEERADDR\" >> $d/udp.addr; exec cat"
	local ul=$BG_PID
	wait_for "ss -Htln | grep -q ':$PT '" 5 || fail "$name: TCP listener did not start"
	wait_for "ss -Huln | grep -q ':$PU '" 5 || fail "$name: UDP listener did not start"

	# -d: the start-up summary names our link-local address (pasta is quiet
	# without it when spawning a command)
	timeout 60 "$PASTA" -d -- sh -c "$ns_body" "$d" "$HOST_IF" > "$d/ns.log" 2>&1
	local rc=$?
	bg_stop "$tl"
	bg_stop "$ul"
	[ "$rc" = 0 ] || fail "$name: pasta exited with $rc; output: $(cat "$d/ns.log")"

	local said
	said=$(sed -n 's/^ *our link-local: //p' "$d/ns.log")
	check_eq "$said" "$ll" "$name: our link-local in pasta's summary"
	check_eq "$(cat "$d/ns.gw")" "$ll" "$name: the namespace's IPv6 default router"

	# every check, then one failure naming all that went wrong
	local bad=() errs=""
	[ -s "$d/ns.err" ] && errs=" ($(cat "$d/ns.err"))"
	cmp -s "$d/in.tcp" "$d/out.tcp" ||
		bad+=("TCP to [$ll]:$PT: $(stat -c %s "$d/out.tcp" 2>/dev/null || echo no) bytes of 1048576 came back: $(cat "$d/tcp.err" 2>/dev/null)")
	cmp -s "$d/in.udp" "$d/out.udp" ||
		bad+=("UDP to [$ll]:$PU: no echo: $(cat "$d/udp.err" 2>/dev/null)")
	grep -q " 3 received" "$d/ping" || bad+=("ping $ll: $(cat "$d/ping")")
	grep -q "from $ll%$HOST_IF: icmp_seq=1 " "$d/ping" ||
		bad+=("echo replies not from $ll")
	# socat writes addresses in full, in brackets
	local x
	x="[$(python3 -c 'import ipaddress, sys; print(ipaddress.ip_address(sys.argv[1]).exploded)' \
		"$sees")]"
	[ "$(sort -u "$d/tcp.addr" 2>/dev/null)" = "$x $x" ] ||
		bad+=("TCP: the host saw '$(cat "$d/tcp.addr" 2>/dev/null)' (local, peer), not $x for both")
	[ "$(sort -u "$d/udp.addr" 2>/dev/null)" = "$x" ] ||
		bad+=("UDP: the host saw it from '$(cat "$d/udp.addr" 2>/dev/null)', not from $x")
	if [ ${#bad[@]} -gt 0 ]; then
		local IFS=$'\n'
		fail "$name:${errs}"$'\n'"${bad[*]}"
	fi
	log "$name: TCP, UDP and ping to $ll reached the host at $sees"

	# passt, stream back-end: passt_protocol.py plays a guest that
	# resolves our link-local address and opens a TCP connection to it.
	local sock=$d/passt.sock
	rm -f "$sock"
	bg_start sh -c "exec '$PASST' -f -1 -s '$sock' > '$d/passt.log' 2>&1"
	local pp=$BG_PID
	wait_for "[ -S '$sock' ]" 10 || fail "$name: passt did not create its socket: $(cat "$d/passt.log")"
	local mac
	mac=$(sed -n 's/^ *host: \([0-9a-f:]\{17\}\)$/\1/p' "$d/passt.log" | head -n 1)
	said=$(sed -n 's/^ *our link-local: //p' "$d/passt.log")
	check_eq "$said" "$ll" "$name: our link-local in passt's summary"
	timeout 60 python3 "$PASST_ROOT/test/integration/passt_protocol.py" "$sock" ll6 \
		"$PP" "$mac" "$ll" "$sees" > "$d/passt.out" 2>&1
	rc=$?
	sed 's/^/    /' "$d/passt.out" >&2
	bg_stop "$pp"
	[ "$rc" = 0 ] || fail "$name: passt: TCP to [$ll]:$PP failed: $(tail -n 20 "$d/passt.log")"
	log "$name: passt: TCP to $ll reached the host at $sees"
}

# ---- host gateway global (the hermetic host's 2001:db8::1) ----------------
# Our link-local address is the host's own on the template interface.
host_ll=$(ip -6 addr show dev "$HOST_IF" scope link |
	sed -n 's/.*inet6 \(fe80::[0-9a-f:]*\)\/.*/\1/p' | head -n1)
[ -n "$host_ll" ] || fail "no link-local address on $HOST_IF: $(ip -6 addr show dev "$HOST_IF")"
run_case "global gateway" "$host_ll" "$host_ll"

# ---- host gateway link-local: it is our link-local and maps to ::1 --------
check ip -6 route replace default via fe80::1 dev "$HOST_IF"
run_case "link-local gateway" fe80::1 ::1

exit 0
