#!/bin/bash
# pasta's automatic inbound forwarding (-t auto / -u auto, the default when
# no -t/-u is given): host ports follow the ports bound in the namespace.
#
# pasta --config-net runs a Python server in the namespace that, only once
# pasta is up, starts listening on a TCP port (dual-stack, so it shows in
# /proc/net/tcp6) and appends whatever its connections send to a file.
# From the host:
#   - the port becomes reachable within 2 s and data arrives: from extra
#     host addresses 198.51.100.1 and 2001:db8:ff::1 (on lo), which go
#     through pasta's tap path, and from 127.0.0.1 and ::1 (tap path, or
#     pasta's loopback splice where it has one);
#   - a connection stays usable across several rescans (> 3 s idle);
#   - once the server closes its listening socket, the host port refuses
#     connections within ~2 s, while the established connection still
#     carries data;
#   - UDP: a socat UDP-RECVFROM started in the namespace gets a datagram
#     sent to the host port, and the port is released once socat is done.
. "$(dirname "$0")/lib.sh"

need_pkg socat socat
need_cmd ip ss python3 timeout
hermetic_host
[ -x "$PASTA" ] || skip "no pasta binary at $PASTA (run make)"

# Host addresses the namespace can see as peers: connections from them take
# the tap path whatever pasta does with loopback sources.
TAP_SRC4=198.51.100.1
TAP_SRC6=2001:db8:ff::1
check ip addr add $TAP_SRC4/32 dev lo
check ip addr add $TAP_SRC6/128 dev lo nodad

d=$(new_tmpdir)
TPORT=11000
UPORT=11001

cat > "$d/srv.py" <<'EOF'
# Namespace side: wait for "go", listen on PORT (dual-stack), append data
# from every connection to OUT; close the listener when STOP appears; exit
# when the last connection closes after that.
import os, select, socket, sys, time
d, port = sys.argv[1], int(sys.argv[2])
while not os.path.exists(d + "/go"):
    time.sleep(0.05)
ls = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("::", port))
ls.listen(8)
open(d + "/listening", "w").close()
out = open(d + "/out", "ab", buffering=0)
conns = []
deadline = time.time() + 60
while time.time() < deadline:
    if ls and os.path.exists(d + "/stop"):
        ls.close()
        ls = None
        open(d + "/stopped", "w").close()
    if not ls and not conns:
        break
    r, _, _ = select.select(([ls] if ls else []) + conns, [], [], 0.1)
    for s in r:
        if s is ls:
            conns.append(ls.accept()[0])
            continue
        data = s.recv(65536)
        if data:
            out.write(data)
        else:
            s.close()
            conns.remove(s)
open(d + "/srv_done", "w").close()
EOF

cat > "$d/once.py" <<'EOF'
# Connect to HOST:PORT, send MSG, close.
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
s.sendall(sys.argv[3].encode() + b"\n")
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

cat > "$d/ns.sh" <<EOF
touch $d/ns_up
python3 $d/srv.py $d $TPORT > $d/srv.log 2>&1 &
while [ ! -e $d/udp_go ]; do sleep 0.05; done
socat -u UDP4-RECVFROM:$UPORT,reuseaddr OPEN:$d/udp_out,creat > $d/socat.log 2>&1 &
touch $d/udp_listening
wait
while [ ! -e $d/quit ]; do sleep 0.1; done
EOF

# has_out PATTERN: the namespace server got a line PATTERN.
has_out() {
	grep -qx "$1" "$d/out" 2>/dev/null
}

# host_listens PROTO PORT: pasta (or anybody) listens on PORT on the host.
host_listens() {
	if [ "$1" = tcp ]; then ss -Htln "sport = :$2" | grep -q .
	else ss -Huln "sport = :$2" | grep -q .; fi
}

bg_start sh -c "exec timeout 120 '$PASTA' --config-net -f -d -- sh $d/ns.sh \
	> $d/pasta.log 2>&1"
pasta_pid=$BG_PID
on_cleanup "touch $d/quit $d/stop $d/udp_go; echo quit > $d/ctl 2>/dev/null &"
on_cleanup "tail -n 40 $d/pasta.log >&2"

# The command runs once pasta is set up; nothing is bound in it yet.
wait_for "[ -e $d/ns_up ]" 10 || fail "pasta did not start the command"
sleep 1.2
host_listens tcp $TPORT && fail "TCP port $TPORT forwarded before it was bound"

# --- TCP: the port appears -------------------------------------------------
mkfifo "$d/ctl"
touch "$d/go"
wait_for "[ -e $d/listening ]" 10 || fail "namespace server did not start"
t0=$(date +%s.%N)
python3 "$PASST_ROOT/test/integration/hold_conn.py" $TAP_SRC4 $TPORT 3 hello4 "$d/ctl" > "$d/cli.log" 2>&1 &
cli=$!
exec 7<> "$d/ctl" # the client's control FIFO (read-write: never blocks)
wait_for "grep -q connected $d/cli.log" 5 || fail "no connection to $TAP_SRC4:$TPORT"
wait_for "has_out hello4" 5 || fail "data from $TAP_SRC4 did not arrive"
t1=$(date +%s.%N)
elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
log "TCP port $TPORT reachable and data through after ${elapsed} s"
awk -v e="$elapsed" 'BEGIN { exit !(e <= 2.5) }' ||
	fail "port became reachable after ${elapsed} s, expected within about 2 s"

# The other addresses (and pasta's IPv6 listener on the same port)
for a in $TAP_SRC6 127.0.0.1 ::1; do
	timeout 10 python3 "$d/once.py" "$a" $TPORT "from-$a" ||
		fail "can't connect to $a port $TPORT"
	wait_for "has_out from-$a" 5 || fail "data from $a did not arrive"
done
log "connections from $TAP_SRC6, 127.0.0.1, ::1: ok"

# --- An established connection survives rescans -----------------------------
sleep 3.5
echo more >&7
wait_for "has_out more" 5 || fail "established connection broke across rescans"
log "connection still works after 3.5 s of rescans"

# --- The port goes away --------------------------------------------------------
touch "$d/stop"
wait_for "[ -e $d/stopped ]" 5 || fail "namespace server did not close its listener"
timeout 10 python3 "$d/refused.py" 127.0.0.1 $TPORT 3 ||
	fail "port $TPORT still accepts connections 3 s after the listener closed"
wait_for "! host_listens tcp $TPORT" 2 || fail "pasta still listens on $TPORT"
log "port $TPORT refused after the namespace listener closed"
echo after-close >&7
wait_for "has_out after-close" 5 ||
	fail "established connection broke when the listener went away"
log "established connection survived the listener's removal"
echo quit >&7
exec 7>&-
wait "$cli" || fail "client failed ($(cat "$d/cli.log"))"
wait_for "[ -e $d/srv_done ]" 5 || fail "namespace server did not see the connection close"

# --- UDP ------------------------------------------------------------------------
host_listens udp $UPORT && fail "UDP port $UPORT forwarded before it was bound"
touch "$d/udp_go"
wait_for "[ -e $d/udp_listening ]" 5 || fail "socat did not start in the namespace"
ok=
for i in $(seq 40); do
	echo "datagram" | socat -u - UDP4-SENDTO:127.0.0.1:$UPORT 2>/dev/null
	if [ -s "$d/udp_out" ]; then ok=1; break; fi
	sleep 0.1
done
[ -n "$ok" ] || fail "UDP port $UPORT not forwarded within 4 s"
grep -qx datagram "$d/udp_out" || fail "UDP datagram content differs: $(cat "$d/udp_out")"
log "UDP port $UPORT forwarded after $(awk -v i="$i" 'BEGIN { print i / 10 }') s"
wait_for "! host_listens udp $UPORT" 4 ||
	fail "pasta still has UDP port $UPORT after socat in the namespace exited"
log "UDP port $UPORT released"

touch "$d/quit"
wait "$pasta_pid"
rc=$?
[ "$rc" = 0 ] || fail "pasta exited with $rc"
exit 0
