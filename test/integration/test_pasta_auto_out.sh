#!/bin/bash
# pasta's automatic outbound forwarding for TCP (-T auto, the default when
# no -T is given): listeners on the namespace's 127.0.0.1 / ::1 follow the
# TCP ports bound on the host's loopback or any-address, and connections to
# them are spliced to the host's loopback.
#
# pasta --config-net runs a command that just waits; the test reaches into
# its namespace with nsenter. Checked:
#   - a server started on the host's 127.0.0.1:PORT after pasta is up is
#     reachable from the namespace at 127.0.0.1:PORT within 2 s, data
#     arrives; ::1 reaches it as well once it also listens there;
#   - the connection stays usable across several rescans (> 3 s idle);
#   - once the host server closes its listener, the namespace port refuses
#     within ~2 s, while the established connection still carries data;
#   - a host socket bound to a non-loopback address only is not forwarded;
#   - no loop with -t auto active too (the default): a port bound in the
#     namespace (forwarded to the host by -t auto) gets no -T listener, and
#     a port forwarded by -T auto gets no -t listener on the host, neither
#     while the host server runs nor after it is gone.
# And the same for UDP (-U auto, also the default): a socat echo server
# started on the host's 127.0.0.1:PORT after pasta is up answers from the
# namespace's 127.0.0.1:PORT within 2 s with the payloads sent, ::1 once it
# is bound on the host's ::1 as well; once the servers stop, pasta's sockets
# in the namespace are gone within ~2 s; a UDP service in the namespace
# (forwarded to the host by -u auto) gets no -U socket and vice versa.
. "$(dirname "$0")/lib.sh"

need_cmd ip ss python3 timeout nsenter socat
hermetic_host
[ -x "$PASTA" ] || skip "no pasta binary at $PASTA (run make)"

d=$(new_tmpdir)
PORT=12000   # host server on 127.0.0.1 (later also ::1)
OPORT=12001  # host server on a non-loopback address only
LPORT=12002  # server in the namespace (-t auto)

cat > "$d/srv.py" <<'EOF'
# Host side: listen on ADDR:PORT (one or more comma-separated addresses),
# append data from every connection to OUT; close the listeners when STOP
# appears; exit when the last connection closes after that (or in 60 s).
import os, select, socket, sys, time
addrs, port, out_path, ready, stop = sys.argv[1].split(","), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ls = []
for a in addrs:
    s = socket.socket(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM)
    if ":" in a:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a, port))
    s.listen(8)
    ls.append(s)
open(ready, "w").close()
out = open(out_path, "ab", buffering=0)
conns = []
deadline = time.time() + 60
while time.time() < deadline:
    if ls and os.path.exists(stop):
        for s in ls:
            s.close()
        ls = []
        open(stop + ".done", "w").close()
    if not ls and not conns:
        break
    r, _, _ = select.select(ls + conns, [], [], 0.1)
    for s in r:
        if s in ls:
            conns.append(s.accept()[0])
            continue
        data = s.recv(65536)
        if data:
            out.write(data)
        else:
            s.close()
            conns.remove(s)
EOF

cat > "$d/once.py" <<'EOF'
# Connect to HOST:PORT within SECONDS (retrying), send MSG, close.
import socket, sys, time
host, port, secs, msg = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
end = time.time() + secs
while True:
    try:
        s = socket.create_connection((host, port), timeout=1)
        break
    except OSError:
        if time.time() > end:
            sys.exit(2)
        time.sleep(0.05)
s.sendall(msg.encode() + b"\n")
s.close()
EOF

cat > "$d/refused.py" <<'EOF'
# Exit 0 once a connection to HOST:PORT is refused, within SECONDS.
import socket, sys, time
host, port, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
end = time.time() + secs
while time.time() < end:
    try:
        s = socket.create_connection((host, port), timeout=1)
        s.close()
    except ConnectionRefusedError:
        sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit(1)
EOF

cat > "$d/nssrv.py" <<'EOF'
# Namespace side: listen on [::]:PORT (dual-stack) until STOP appears.
import os, socket, sys, time
port, stop = int(sys.argv[1]), sys.argv[2]
ls = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("::", port))
ls.listen(8)
end = time.time() + 60
while not os.path.exists(stop) and time.time() < end:
    time.sleep(0.1)
EOF

# The command's PID as we see it, for nsenter: with --no-pidns it is \$\$
# (in its own PID namespace it would be 1).
cat > "$d/ns.sh" <<EOF
echo \$\$ > $d/ns_pid.tmp && mv $d/ns_pid.tmp $d/ns_pid
while [ ! -e $d/quit ]; do sleep 0.1; done
EOF

# in_ns CMD...: run CMD in pasta's namespace (user and network).
in_ns() {
	nsenter -t "$(cat "$d/ns_pid")" -U -n --preserve-credentials -- "$@"
}

# has_out FILE PATTERN: the server writing FILE got a line PATTERN.
has_out() {
	grep -qx "$2" "$1" 2>/dev/null
}

# ns_listens PORT: something listens on PORT in the namespace.
ns_listens() {
	in_ns ss -Htln "sport = :$1" | grep -q .
}

# host_listens PORT: something listens on PORT on the host.
host_listens() {
	ss -Htln "sport = :$1" | grep -q .
}

bg_start sh -c "exec timeout 120 '$PASTA' --config-net --no-pidns -f -d -- sh $d/ns.sh \
	> $d/pasta.log 2>&1"
pasta_pid=$BG_PID
on_cleanup "touch $d/quit $d/stop $d/ostop $d/lstop; echo quit > $d/ctl 2>/dev/null &"
on_cleanup "tail -n 40 $d/pasta.log >&2"

wait_for "[ -s $d/ns_pid ]" 10 || fail "pasta did not start the command"
sleep 1.2
ns_listens $PORT && fail "namespace port $PORT forwarded before the host bound it"

# --- A host server appears ----------------------------------------------------
python3 "$d/srv.py" 127.0.0.1 $PORT "$d/out" "$d/ready" "$d/stop" > "$d/srv.log" 2>&1 &
srv=$!
wait_for "[ -e $d/ready ]" 5 || fail "host server did not start"
t0=$(date +%s.%N)
mkfifo "$d/ctl"
in_ns python3 "$PASST_ROOT/test/integration/hold_conn.py" 127.0.0.1 $PORT 3 hello "$d/ctl" > "$d/cli.log" 2>&1 &
cli=$!
exec 7<> "$d/ctl" # the client's control FIFO (read-write: never blocks)
wait_for "grep -q connected $d/cli.log" 5 || fail "no connection to 127.0.0.1:$PORT from the namespace"
wait_for "has_out $d/out hello" 5 || fail "data from the namespace did not arrive"
t1=$(date +%s.%N)
elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
log "namespace 127.0.0.1:$PORT reachable and data through after ${elapsed} s"
awk -v e="$elapsed" 'BEGIN { exit !(e <= 2.5) }' ||
	fail "port became reachable after ${elapsed} s, expected within about 2 s"
grep -q "flow .*namespace port $PORT -> host port $PORT" "$d/pasta.log" ||
	fail "the connection was not spliced"

# A host socket on a non-loopback address only is not forwarded.
python3 "$d/srv.py" $HOST_ADDR4 $OPORT "$d/oout" "$d/oready" "$d/ostop" > "$d/osrv.log" 2>&1 &
wait_for "[ -e $d/oready ]" 5 || fail "second host server did not start"

# --- The connection survives rescans -------------------------------------------
sleep 3.5
echo more >&7
wait_for "has_out $d/out more" 5 || fail "established connection broke across rescans"
log "connection still works after 3.5 s of rescans"
ns_listens $OPORT && fail "port $OPORT, bound on $HOST_ADDR4 only, forwarded"
log "port $OPORT (bound on $HOST_ADDR4 only) not forwarded"
touch "$d/ostop"

# --- No loop with -t auto --------------------------------------------------------
# The -T listener in the namespace is not taken for a namespace service.
host_listens $PORT || fail "host server gone?"
grep -q "port $PORT bound in the namespace" "$d/pasta.log" &&
	fail "-t auto took pasta's own -T listener for a namespace port"
# A namespace service: forwarded to the host by -t auto, and not back.
in_ns python3 "$d/nssrv.py" $LPORT "$d/lstop" > "$d/nssrv.log" 2>&1 &
wait_for "host_listens $LPORT" 4 || fail "-t auto did not forward namespace port $LPORT"
timeout 10 python3 "$d/once.py" 127.0.0.1 $LPORT 3 x || fail "can't connect to host port $LPORT"
sleep 2.5
grep -q "host port $LPORT bound" "$d/pasta.log" &&
	fail "-T auto took pasta's own -t listener for a host port (loop)"
touch "$d/lstop"
wait_for "! host_listens $LPORT" 4 || fail "-t auto kept host port $LPORT"
log "no loop: namespace port $LPORT forwarded to the host only"

# --- The host server goes away ---------------------------------------------------
touch "$d/stop"
wait_for "[ -e $d/stop.done ]" 5 || fail "host server did not close its listener"
t0=$(date +%s.%N)
in_ns timeout 10 python3 "$d/refused.py" 127.0.0.1 $PORT 3 ||
	fail "namespace port $PORT still accepts connections 3 s after the host listener closed"
t1=$(date +%s.%N)
elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
wait_for "! ns_listens $PORT" 2 || fail "pasta still listens on namespace port $PORT"
log "namespace port $PORT refused ${elapsed} s after the host listener closed"
echo after-close >&7
wait_for "has_out $d/out after-close" 5 ||
	fail "established connection broke when the listener went away"
log "established connection survived the listener's removal"
# Nor did the namespace listener, while it lasted, get a host listener
# (the port is free on the host now: a loop would show up here).
sleep 2.2
host_listens $PORT && fail "pasta listens on host port $PORT after the host server left (loop)"
ns_listens $PORT && fail "namespace port $PORT came back"
echo quit >&7
exec 7>&-
wait "$cli" || fail "client failed ($(cat "$d/cli.log"))"
wait "$srv" || fail "host server failed ($(cat "$d/srv.log"))"

# --- IPv6: a server on both loopbacks ------------------------------------------
python3 "$d/srv.py" 127.0.0.1,::1 $PORT "$d/out6" "$d/ready6" "$d/stop6" > "$d/srv6.log" 2>&1 &
srv=$!
on_cleanup "touch $d/stop6"
wait_for "[ -e $d/ready6 ]" 5 || fail "host server (IPv6) did not start"
for a in ::1 127.0.0.1; do
	in_ns timeout 10 python3 "$d/once.py" "$a" $PORT 3 "from-$a" ||
		fail "can't connect to [$a]:$PORT from the namespace"
	wait_for "has_out $d/out6 from-$a" 5 || fail "data to $a did not arrive"
done
log "namespace ::1 and 127.0.0.1 port $PORT forwarded"
touch "$d/stop6"
wait "$srv" || fail "host server (IPv6) failed ($(cat "$d/srv6.log"))"

# --- UDP: -U auto ------------------------------------------------------------
UPORT=12010  # host UDP echo server on 127.0.0.1, later also ::1
LUPORT=12011 # UDP service in the namespace (-u auto)

# ns_udp PORT: a UDP socket is bound to PORT in the namespace.
ns_udp() {
	in_ns ss -Huan "sport = :$1" | grep -q .
}
# host_udp PORT: the same on the host.
host_udp() {
	ss -Huan "sport = :$1" | grep -q .
}
cat > "$d/uecho.py" <<'EOF'
# Send PAYLOAD to HOST:PORT over UDP; exit 0 once the same bytes come back
# (within 1 s), 1 otherwise (refused, timeout or other data).
import socket, sys
host, port, payload = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
try:
    s.connect((host, port))
    s.send(payload)
    sys.exit(0 if s.recv(65536) == payload else 1)
except OSError:
    sys.exit(1)
EOF

# udp_echo ADDR PAYLOAD: PAYLOAD sent from the namespace to ADDR:UPORT comes
# back unchanged.
udp_echo() {
	in_ns timeout 3 python3 "$d/uecho.py" "$1" $UPORT "$2"
}

ns_udp $UPORT && fail "namespace UDP port $UPORT bound before the host bound it"
bg_start sh -c "exec socat UDP4-RECVFROM:$UPORT,bind=127.0.0.1,fork PIPE > $d/usrv.log 2>&1"
usrv=$BG_PID
wait_for "host_udp $UPORT" 5 || fail "host UDP echo server did not start"
t0=$(date +%s.%N)
wait_for "udp_echo 127.0.0.1 first-datagram" 4 ||
	fail "no UDP echo through 127.0.0.1:$UPORT from the namespace"
t1=$(date +%s.%N)
elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
log "namespace UDP 127.0.0.1:$UPORT answered after ${elapsed} s"
awk -v e="$elapsed" 'BEGIN { exit !(e <= 2.5) }' ||
	fail "UDP port became reachable after ${elapsed} s, expected within about 2 s"
in_ns ss -Huan "sport = :$UPORT" | grep -q "127.0.0.1:$UPORT" ||
	fail "no socket on the namespace's 127.0.0.1:$UPORT"
big=$(head -c 3000 /dev/urandom | od -An -tx1 | tr -d ' \n')
for p in x "two words" "$big"; do
	udp_echo 127.0.0.1 "$p" || fail "UDP payload of ${#p} bytes not echoed intact"
done
log "UDP payloads of 1, 9 and ${#big} bytes echoed intact"
grep -q "UDP splice: host port $UPORT bound, IPv4 socket opened" "$d/pasta.log" ||
	fail "no -U auto socket logged for port $UPORT"

# IPv6: the same service on the host's ::1 too.
bg_start sh -c "exec socat UDP6-RECVFROM:$UPORT,bind=[::1],ipv6only=1,fork PIPE \
	> $d/usrv6.log 2>&1"
usrv6=$BG_PID
wait_for "udp_echo ::1 over-ipv6" 4 || fail "no UDP echo through [::1]:$UPORT from the namespace"
udp_echo ::1 "$big" || fail "UDP payload over IPv6 not echoed intact"
udp_echo 127.0.0.1 "still-v4" || fail "IPv4 UDP forwarding broke"
log "namespace UDP [::1]:$UPORT forwarded"

# No loop with -u auto: our -U sockets in the namespace get no -u socket
# on the host, and a namespace service forwarded to the host by -u auto
# gets no -U socket.
grep -q "UDP: port $UPORT bound in the namespace" "$d/pasta.log" &&
	fail "-u auto took pasta's own -U socket for a namespace port"
bg_start sh -c "exec nsenter -t $(cat "$d/ns_pid") -U -n --preserve-credentials -- \
	socat UDP6-RECVFROM:$LUPORT,fork PIPE > $d/nsusrv.log 2>&1"
nsusrv=$BG_PID
wait_for "host_udp $LUPORT" 4 || fail "-u auto did not forward namespace UDP port $LUPORT"
sleep 2.2
grep -q "UDP splice: host port $LUPORT bound" "$d/pasta.log" &&
	fail "-U auto took pasta's own -u socket for a host port (loop)"
bg_stop "$nsusrv"
wait_for "! host_udp $LUPORT" 4 || fail "-u auto kept host UDP port $LUPORT"
log "no loop: namespace UDP port $LUPORT forwarded to the host only"

# The servers go away: so do our sockets, and nothing comes back.
bg_stop "$usrv"
bg_stop "$usrv6"
host_udp $UPORT && fail "host UDP echo servers still bound"
t0=$(date +%s.%N)
wait_for "! ns_udp $UPORT" 3 || fail "pasta still bound to namespace UDP port $UPORT"
t1=$(date +%s.%N)
elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
log "namespace UDP port $UPORT released ${elapsed} s after the host servers left"
awk -v e="$elapsed" 'BEGIN { exit !(e <= 2.5) }' ||
	fail "namespace UDP port released after ${elapsed} s, expected within about 2 s"
udp_echo 127.0.0.1 gone && fail "UDP echo still answered after the server left"
sleep 2.2
host_udp $UPORT && fail "pasta bound host UDP port $UPORT after the server left (loop)"
ns_udp $UPORT && fail "namespace UDP port $UPORT came back"

touch "$d/quit"
wait "$pasta_pid"
rc=$?
[ "$rc" = 0 ] || fail "pasta exited with $rc"
exit 0
