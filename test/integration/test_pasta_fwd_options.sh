#!/bin/bash
# pasta's forwarding options --no-splice, --freebind and --host-lo-to-ns-lo,
# with real programs on both sides.
#
# --no-splice: a connection (TCP) or datagram (UDP) from the host's
#   127.0.0.1 / ::1 to a -t / -u port goes through the tap device: the
#   namespace server sees the --map-host-loopback address (by default the
#   gateway) as its peer, and the tap capture (-p) has the port's frames.
#   Without the option it is spliced: the peer is the namespace's own
#   address (the spliced socket connects to it from inside the namespace)
#   and the capture has no frames for the port. Data is checked with cmp,
#   echoes byte for byte. -T keeps working with --no-splice (it has no tap
#   path; the C pasta only disables inbound splicing too).
# --freebind: -t / -u on 203.0.113.9 (and -t on [2001:db8:9::9]), addresses
#   the host doesn't have: pasta refuses to start without the option; with
#   it, it starts, the addresses are then added to the host's lo, and a
#   transfer to each arrives intact in the namespace.
# --host-lo-to-ns-lo: a TCP listener and a UDP echo server bound only to the
#   namespace's 127.0.0.1 and ::1 are not reached from the host's loopback
#   by default (spliced flows go to the namespace's address: refused, no
#   echo), and are with the option, where the peer seen is the namespace's
#   loopback.
# --splice-only: no tap device (the namespace has lo only), and every
#   forwarded flow is spliced to the namespace's loopback, whatever its
#   source: a -t connection and -u datagrams from the host's own (not
#   loopback) address reach servers bound to the namespace's 127.0.0.1 /
#   ::1 only, whose peer is then the namespace's loopback; -T and -U from
#   the namespace's loopback reach the host's. Also daemonised (no -f),
#   joining an existing namespace by PID.
#
# FWD_OPTS_PARTS (default: all of them) names the parts to run, e.g.
# FWD_OPTS_PARTS="freebind" to see that part alone pass or fail.
. "$(dirname "$0")/lib.sh"

need_pkg socat socat
need_pkg tcpdump tcpdump
need_cmd ip ss cmp head timeout python3
hermetic_host
[ -x "$PASTA" ] || skip "no pasta binary at $PASTA (run make)"

d=$(new_tmpdir)
cap=$d/cap.pcap
head -c 300000 /dev/urandom > "$d/data" || fail "can't create the data file"

cat > "$d/f.py" << 'EOF'
import os, socket, sys, time

def fam(addr):
    return socket.AF_INET6 if ':' in addr else socket.AF_INET

def bound(kind, addr, port):
    s = socket.socket(fam(addr), kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam(addr) == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((addr, port))
    return s

mode = sys.argv[1]
if mode == 'tcp-server':
    # ADDR PORT OUT: accept one connection, store its data in OUT.data and
    # the peer address in OUT.peer.
    addr, port, out = sys.argv[2], int(sys.argv[3]), sys.argv[4]
    s = bound(socket.SOCK_STREAM, addr, port)
    s.listen(4)
    s.settimeout(60)
    open(out + '.ready', 'w').close()
    c, peer = s.accept()
    c.settimeout(30)
    data = b''
    while True:
        b = c.recv(65536)
        if not b:
            break
        data += b
    open(out + '.data', 'wb').write(data)
    open(out + '.peer', 'w').write(peer[0] + '\n')
elif mode == 'udp-echo':
    # ADDR PORT OUT: echo datagrams, the last peer in OUT.peer; "quit" ends.
    addr, port, out = sys.argv[2], int(sys.argv[3]), sys.argv[4]
    s = bound(socket.SOCK_DGRAM, addr, port)
    s.settimeout(60)
    open(out + '.ready', 'w').close()
    while True:
        data, peer = s.recvfrom(65536)
        if data == b'quit':
            break
        open(out + '.peer', 'w').write(peer[0] + '\n')
        open(out + '.pport', 'w').write('%d\n' % peer[1])
        s.sendto(data, peer)
elif mode == 'udp-client':
    # ADDR PORT TRIES [SPORT]: send a random datagram (from port SPORT)
    # until the same comes back.
    addr, port, tries = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    s = socket.socket(fam(addr), socket.SOCK_DGRAM)
    if len(sys.argv) > 5:
        s.bind(('::' if fam(addr) == socket.AF_INET6 else '0.0.0.0', int(sys.argv[5])))
    s.settimeout(0.3)
    msg = os.urandom(1200)
    for i in range(tries):
        s.sendto(msg, (addr, port))
        try:
            got, src = s.recvfrom(65536)
        except socket.timeout:
            continue
        if got != msg:
            sys.exit('udp-client: echo differs')
        if src[1] != port:
            sys.exit('udp-client: echo from port %d' % src[1])
        sys.exit(0)
    sys.exit(1)
elif mode == 'udp-quit':
    addr, port = sys.argv[2], int(sys.argv[3])
    s = socket.socket(fam(addr), socket.SOCK_DGRAM)
    s.sendto(b'quit', (addr, port))
EOF

# part NAME: NAME is among the parts to run.
part() {
	case " ${FWD_OPTS_PARTS:-no-splice freebind host-lo-to-ns-lo splice-only} " in
	*" $1 "*) return 0 ;;
	esac
	log "part $1 left out"
	return 1
}

# tap_frames PROTO PORT: captured frames of PROTO (tcp, udp) for PORT.
tap_frames() {
	[ -s "$cap" ] || fail "no capture file"
	tcpdump -r "$cap" -nn "$1 port $2" 2>/dev/null | wc -l
}

# ns_start PASTA_ARGS -- SERVER_ARGS: pasta in the background, running the
# f.py server SERVER_ARGS in the namespace; waits until it is ready.
# Sets NS_PID and OUT (the server's output prefix).
ns_start() {
	local args=()
	while [ "$1" != -- ]; do args+=("$1"); shift; done
	shift
	OUT=$d/srv.$RANDOM
	rm -f "$cap"
	bg_start timeout 120 "$PASTA" --config-net -f -q -p "$cap" "${args[@]}" -- \
		python3 "$d/f.py" "$@" "$OUT"
	NS_PID=$BG_PID
	wait_for "[ -e $OUT.ready ]" 20 || fail "server in the namespace did not start (${args[*]})"
}

# ns_end: wait for pasta to end (the server ends by itself).
ns_end() {
	wait_for "! kill -0 $NS_PID 2>/dev/null" 30 || fail "pasta did not end"
	wait "$NS_PID" 2>/dev/null
}

# host_listens PROTO ADDR PORT: pasta listens (or is bound) on ADDR:PORT.
host_listens() {
	if [ "$1" = tcp ]; then ss -Htln "sport = :$3" | grep -qF "$2:$3"
	else ss -Huln "sport = :$3" | grep -qF "$2:$3"; fi
}

# tcp_send ADDR PORT: the data file to ADDR:PORT, from the host.
tcp_send() {
	local a=$1
	case $a in *:*) a="[$a]" ;; esac
	timeout 20 socat -u "OPEN:$d/data" "TCP:$a:$2"
}

# peer_of OUT: the peer address the namespace server recorded.
peer_of() {
	cat "$1.peer" 2>/dev/null
}

# ---- --no-splice ------------------------------------------------------------
port=10001
part no-splice && for fam in 4 6; do
	if [ "$fam" = 4 ]; then lo=127.0.0.1 any=0.0.0.0 own=$HOST_ADDR4 gw=$HOST_GW4
	else lo=::1 any=:: own=$HOST_ADDR6 gw=$HOST_GW6; fi
	for mode in no-splice splice; do
		opt=()
		[ "$mode" = no-splice ] && opt=(--no-splice)
		port=$((port + 1))

		# TCP
		ns_start -t "$port" "${opt[@]}" -- tcp-server "$any" "$port"
		wait_for "host_listens tcp '' $port" 10 || fail "no -t listener on $port"
		tcp_send "$lo" "$port" || fail "IPv$fam TCP $mode: host client failed"
		ns_end
		cmp "$d/data" "$OUT.data" || fail "IPv$fam TCP $mode: data differs"
		frames=$(tap_frames tcp "$port")
		peer=$(peer_of "$OUT")
		if [ "$mode" = splice ]; then
			check_eq "$peer" "$own" "IPv$fam TCP spliced: peer seen in the namespace"
			check_eq "$frames" 0 "IPv$fam TCP spliced: frames on the tap"
		else
			check_eq "$peer" "$gw" "IPv$fam TCP --no-splice: peer seen in the namespace"
			[ "$frames" -gt 0 ] || fail "IPv$fam TCP --no-splice: no frames on the tap"
		fi
		log "IPv$fam TCP from $lo, $mode: peer $peer, $frames tap frames: ok"

		# UDP
		ns_start -u "$port" "${opt[@]}" -- udp-echo "$any" "$port"
		wait_for "host_listens udp '' $port" 10 || fail "no -u socket on $port"
		python3 "$d/f.py" udp-client "$lo" "$port" 20 $((port + 7)) ||
			fail "IPv$fam UDP $mode: no echo"
		python3 "$d/f.py" udp-quit "$lo" "$port"
		ns_end
		frames=$(tap_frames udp "$port")
		peer=$(peer_of "$OUT")
		# the sender's port, on either path
		check_eq "$(cat "$OUT.pport")" $((port + 7)) "IPv$fam UDP $mode: peer port seen"
		if [ "$mode" = splice ]; then
			check_eq "$peer" "$own" "IPv$fam UDP spliced: peer seen in the namespace"
			check_eq "$frames" 0 "IPv$fam UDP spliced: frames on the tap"
		else
			check_eq "$peer" "$gw" "IPv$fam UDP --no-splice: peer seen in the namespace"
			[ "$frames" -gt 0 ] || fail "IPv$fam UDP --no-splice: no frames on the tap"
		fi
		log "IPv$fam UDP from $lo, $mode: peer $peer, $frames tap frames: ok"
	done
done

# -T with --no-splice: namespace loopback to host loopback still works.
port=$((port + 1))
if part no-splice; then
rm -f "$d/t_out"
bg_start timeout 60 socat -u "TCP4-LISTEN:$port,bind=127.0.0.1,reuseaddr" "OPEN:$d/t_out,creat"
wait_for "ss -Htln 'sport = :$port' | grep -q ." 10 || fail "host listener for -T"
timeout 60 "$PASTA" --config-net -f -q --no-splice -T "$port" -- \
	socat -u "OPEN:$d/data" "TCP4:127.0.0.1:$port" || fail "-T with --no-splice: transfer failed"
wait_for "cmp -s '$d/data' '$d/t_out'" 10 || fail "-T with --no-splice: data differs"
log "-T with --no-splice: ok"
fi

# ---- --freebind -------------------------------------------------------------
FB4=203.0.113.9
FB6=2001:db8:9::9
port=$((port + 1))
if part freebind; then
ip -4 addr show | grep -qF "$FB4" && fail "the host already has $FB4"
if timeout 20 "$PASTA" --config-net -f -q -t "$FB4/$port" -- true 2> "$d/fb.err"; then
	fail "-t $FB4/$port started without --freebind"
fi
log "-t $FB4/$port without --freebind: refused ($(head -n 1 "$d/fb.err"))"
if timeout 20 "$PASTA" --config-net -f -q -u "$FB4/$port" -- true 2> "$d/fb.err"; then
	fail "-u $FB4/$port started without --freebind"
fi
log "-u $FB4/$port without --freebind: refused ($(head -n 1 "$d/fb.err"))"

# TCP, IPv4 and IPv6; the addresses appear once pasta listens.
ns_start --freebind -t "$FB4/$port" -- tcp-server 0.0.0.0 "$port"
out4=$OUT pid4=$NS_PID
wait_for "host_listens tcp $FB4 $port" 10 || fail "no -t listener on $FB4:$port"
ns_start --freebind -t "[$FB6]/$port" -- tcp-server :: "$port"
out6=$OUT pid6=$NS_PID
wait_for "host_listens tcp '[$FB6]' $port" 10 || fail "no -t listener on [$FB6]:$port"
check ip addr add "$FB4/32" dev lo
check ip addr add "$FB6/128" dev lo nodad
tcp_send "$FB4" "$port" || fail "--freebind: TCP to $FB4 failed"
tcp_send "$FB6" "$port" || fail "--freebind: TCP to $FB6 failed"
NS_PID=$pid4 ns_end
NS_PID=$pid6 ns_end
cmp "$d/data" "$out4.data" || fail "--freebind: TCP data to $FB4 differs"
cmp "$d/data" "$out6.data" || fail "--freebind: TCP data to $FB6 differs"
log "--freebind: TCP to $FB4 and $FB6 (added after start): ok"
check ip addr del "$FB4/32" dev lo
check ip addr del "$FB6/128" dev lo

# UDP, IPv4.
port=$((port + 1))
ns_start --freebind -u "$FB4/$port" -- udp-echo 0.0.0.0 "$port"
wait_for "host_listens udp $FB4 $port" 10 || fail "no -u socket on $FB4:$port"
check ip addr add "$FB4/32" dev lo
python3 "$d/f.py" udp-client "$FB4" "$port" 20 || fail "--freebind: no UDP echo from $FB4"
python3 "$d/f.py" udp-quit "$FB4" "$port"
ns_end
check_eq "$(peer_of "$OUT")" "$FB4" "--freebind: UDP peer seen in the namespace"
check ip addr del "$FB4/32" dev lo
log "--freebind: UDP to $FB4 (added after start): ok"
fi

# ---- --host-lo-to-ns-lo -----------------------------------------------------
part host-lo-to-ns-lo && for fam in 4 6; do
	if [ "$fam" = 4 ]; then lo=127.0.0.1; else lo=::1; fi
	port=$((port + 1))

	# Default: a server on the namespace's loopback only is not reached.
	ns_start -t "$port" -- tcp-server "$lo" "$port"
	wait_for "host_listens tcp '' $port" 10 || fail "no -t listener on $port"
	tcp_send "$lo" "$port" 2>/dev/null
	sleep 0.5
	[ -e "$OUT.data" ] && fail "IPv$fam: namespace loopback reached without --host-lo-to-ns-lo"
	bg_stop "$NS_PID"
	ns_start -u "$port" -- udp-echo "$lo" "$port"
	wait_for "host_listens udp '' $port" 10 || fail "no -u socket on $port"
	python3 "$d/f.py" udp-client "$lo" "$port" 5 &&
		fail "IPv$fam: UDP echo from the namespace loopback without --host-lo-to-ns-lo"
	bg_stop "$NS_PID"
	log "IPv$fam: namespace loopback not reached from the host's by default: ok"

	# --host-lo-to-ns-lo: it is, from the namespace's loopback.
	port=$((port + 1))
	ns_start --host-lo-to-ns-lo -t "$port" -- tcp-server "$lo" "$port"
	wait_for "host_listens tcp '' $port" 10 || fail "no -t listener on $port"
	tcp_send "$lo" "$port" || fail "IPv$fam TCP --host-lo-to-ns-lo: host client failed"
	ns_end
	cmp "$d/data" "$OUT.data" || fail "IPv$fam TCP --host-lo-to-ns-lo: data differs"
	check_eq "$(peer_of "$OUT")" "$lo" "IPv$fam TCP --host-lo-to-ns-lo: peer"
	check_eq "$(tap_frames tcp "$port")" 0 "IPv$fam TCP --host-lo-to-ns-lo: tap frames"
	ns_start --host-lo-to-ns-lo -u "$port" -- udp-echo "$lo" "$port"
	wait_for "host_listens udp '' $port" 10 || fail "no -u socket on $port"
	python3 "$d/f.py" udp-client "$lo" "$port" 20 ||
		fail "IPv$fam UDP --host-lo-to-ns-lo: no echo"
	python3 "$d/f.py" udp-quit "$lo" "$port"
	ns_end
	check_eq "$(peer_of "$OUT")" "$lo" "IPv$fam UDP --host-lo-to-ns-lo: peer"
	log "IPv$fam --host-lo-to-ns-lo: TCP and UDP to the namespace loopback: ok"
done

# ---- --splice-only ----------------------------------------------------------
if part splice-only; then
links=$(timeout 20 "$PASTA" -f -q --splice-only -- ip -o link show | awk -F': ' '{ print $2 }')
check_eq "$links" lo "--splice-only: links in the namespace"
log "--splice-only: the namespace has lo only"
fi
part splice-only && for fam in 4 6; do
	if [ "$fam" = 4 ]; then lo=127.0.0.1 own=$HOST_ADDR4 tcp=TCP4
	else lo=::1 own=$HOST_ADDR6 tcp=TCP6; fi

	# Inbound, from the host's own address: spliced to the loopback.
	port=$((port + 1))
	ns_start --splice-only -t "$port" -- tcp-server "$lo" "$port"
	wait_for "host_listens tcp '' $port" 10 || fail "no -t listener on $port"
	tcp_send "$own" "$port" || fail "IPv$fam TCP --splice-only: host client failed"
	ns_end
	cmp "$d/data" "$OUT.data" || fail "IPv$fam TCP --splice-only: data differs"
	check_eq "$(peer_of "$OUT")" "$lo" "IPv$fam TCP --splice-only: peer"
	ns_start --splice-only -u "$port" -- udp-echo "$lo" "$port"
	wait_for "host_listens udp '' $port" 10 || fail "no -u socket on $port"
	python3 "$d/f.py" udp-client "$own" "$port" 20 ||
		fail "IPv$fam UDP --splice-only: no echo"
	python3 "$d/f.py" udp-quit "$own" "$port"
	ns_end
	check_eq "$(peer_of "$OUT")" "$lo" "IPv$fam UDP --splice-only: peer"
	log "IPv$fam --splice-only: TCP and UDP from $own to the namespace loopback: ok"

	# Outbound, -T and -U: the namespace's loopback to the host's.
	port=$((port + 1))
	rm -f "$d/t_out"
	bg_start timeout 60 socat -u "$tcp-LISTEN:$port,bind=$lo,reuseaddr" "OPEN:$d/t_out,creat"
	wait_for "ss -Htln 'sport = :$port' | grep -q ." 10 || fail "host listener for -T"
	a=$lo
	[ "$fam" = 6 ] && a="[$lo]"
	timeout 60 "$PASTA" -f -q --splice-only -T "$port" -- \
		socat -u "OPEN:$d/data" "$tcp:$a:$port" || fail "IPv$fam -T --splice-only: transfer failed"
	wait_for "cmp -s '$d/data' '$d/t_out'" 10 || fail "IPv$fam -T --splice-only: data differs"
	bg_start timeout 60 python3 "$d/f.py" udp-echo "$lo" "$port" "$d/u_out"
	wait_for "[ -e $d/u_out.ready ]" 10 || fail "host UDP echo server for -U"
	timeout 60 "$PASTA" -f -q --splice-only -U "$port" -- \
		python3 "$d/f.py" udp-client "$lo" "$port" 20 || fail "IPv$fam -U --splice-only: no echo"
	python3 "$d/f.py" udp-quit "$lo" "$port"
	log "IPv$fam --splice-only: -T and -U from the namespace loopback: ok"
done

# Daemonised, joining a namespace by PID; ended by the namespace going away.
if part splice-only; then
port=$((port + 1))
bg_start unshare -n sleep 60
tpid=$BG_PID
wait_for "[ \"\$(readlink /proc/$tpid/ns/net)\" != \"\$(readlink /proc/self/ns/net)\" ]" 5 ||
	fail "unshare -n did not start"
timeout 20 "$PASTA" -q --splice-only -P "$d/so.pid" -t "$port" "$tpid" ||
	fail "--splice-only without -f: did not go to the background"
dp=$(cat "$d/so.pid")
OUT=$d/srv.so
bg_start nsenter -t "$tpid" -n timeout 60 python3 "$d/f.py" tcp-server 127.0.0.1 "$port" "$OUT"
wait_for "[ -e $OUT.ready ]" 10 || fail "server in the joined namespace did not start"
tcp_send "$HOST_ADDR4" "$port" || fail "daemonised --splice-only: host client failed"
wait_for "[ -e $OUT.peer ]" 10 || fail "daemonised --splice-only: the server got nothing"
cmp "$d/data" "$OUT.data" || fail "daemonised --splice-only: data differs"
check_eq "$(peer_of "$OUT")" 127.0.0.1 "daemonised --splice-only: peer"
kill -TERM "$tpid"
wait_for "! kill -0 $dp 2>/dev/null" 10 || fail "daemonised --splice-only: pasta outlived the namespace"
log "daemonised --splice-only, joined by PID: ok"
fi

exit 0
