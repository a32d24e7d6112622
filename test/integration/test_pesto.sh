#!/bin/bash
# Run-time forwarding changes (-c/--conf-path and pesto, issue 15).
#
# 1. pasta --config-net -c SOCK -t P1 under the allocation guard of
#    test_no_heap.sh (test/alloc_guard): the socket is 0600; pesto shows
#    the -t P1 rule; a connection on P1 is held open; pesto -A -t P2 adds
#    a rule, and 1 MiB sent through P2 comes back byte-exact from an echo
#    server in the namespace; the held P1 connection still carries data
#    after the change; pesto -D -t P2 deletes it and P2 refuses
#    connections; a malformed, a wrong-version, an oversized and a
#    truncated request get error replies, and the rules are unchanged
#    afterwards; a client that connects and sends nothing neither stalls
#    forwarding nor keeps pesto out for good (it is dropped after the
#    timeout); pesto's option errors are one line, status 1. At the end the
#    guard saw no allocation after the sandbox (status not 99, no line).
# 2. Daemonised pasta (no -f, joining a namespace by PID): socket 0600,
#    pesto adds a rule, the port is listened on.
# 3. passt -c: show, add a -t rule (the host listens on it), add and
#    delete a -u rule (its socket opens and closes), -T refused.
. "$(dirname "$0")/lib.sh"

need_pkg socat socat
need_pkg cc gcc
need_cmd ip ss python3 timeout stat cmp
hermetic_host
[ -x "$PASTA" ] || skip "no pasta binary at $PASTA (run make)"
PESTO=${PESTO:-$PASST_ROOT/pesto}
[ -x "$PESTO" ] || skip "no pesto binary at $PESTO (run make)"

TAP_SRC4=198.51.100.1
check ip addr add $TAP_SRC4/32 dev lo

d=$(new_tmpdir)
chmod 755 "$d"
so=$d/alloc_guard.so
cc -shared -fPIC -O2 -Wall -o "$so" "$PASST_ROOT/test/alloc_guard/alloc_guard.c" -ldl ||
	fail "can't build the allocation guard"
P1=12001
P2=12002
S=$d/ctl.sock

cat > "$d/echo.py" <<'EOF2'
# Namespace side: on each port given, echo every connection's bytes back
# and append them to OUT.PORT.
import os, socket, sys, threading
d = sys.argv[1]
def serve(c, port):
    with open("%s/out.%d" % (d, port), "ab", buffering=0) as out:
        while True:
            b = c.recv(65536)
            if not b:
                break
            out.write(b)
            c.sendall(b)
    c.close()
def listen(port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port))
    s.listen(16)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c, port), daemon=True).start()
for p in sys.argv[2:]:
    threading.Thread(target=listen, args=(int(p),), daemon=True).start()
open(d + "/listening", "w").close()
while not os.path.exists(d + "/quit"):
    threading.Event().wait(0.1)
EOF2

cat > "$d/xfer.py" <<'EOF2'
# Send FILE to HOST:PORT, read the echo into OUT.
import socket, sys, threading
host, port, src, dst = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
data = open(src, "rb").read()
s = socket.create_connection((host, port), timeout=10)
def send():
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
t = threading.Thread(target=send)
t.start()
got = bytearray()
while len(got) < len(data):
    b = s.recv(65536)
    if not b:
        break
    got += b
t.join()
open(dst, "wb").write(got)
EOF2

cat > "$d/refused.py" <<'EOF2'
# Exit 0 once a connection to HOST:PORT is refused, within SECONDS.
import socket, sys, time
host, port, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
end = time.time() + secs
while time.time() < end:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except ConnectionRefusedError:
        sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit(1)
EOF2

cat > "$d/raw.py" <<'EOF2'
# Send raw bytes (a Python expression) to the control socket, print the reply.
# "--no-newline-eof": shut the write side down after the bytes.
import socket, sys
path, data = sys.argv[1], eval(sys.argv[2])
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(path)
s.sendall(data)
if len(sys.argv) > 3:
    s.shutdown(socket.SHUT_WR)
out = b""
while True:
    try:
        b = s.recv(65536)
    except socket.timeout:
        break
    if not b:
        break
    out += b
    if out.count(b"\n") >= 2:
        break
sys.stdout.write(out.decode())
EOF2

# ---- 1. pasta -f under the allocation guard -----------------------------------
bg_start sh -c "ALLOC_GUARD_NOTE=1 LD_PRELOAD='$so' exec timeout 120 '$PASTA' --config-net \
	-f -d -c '$S' -t $P1 -u none -T none -U none -- env -u LD_PRELOAD \
	python3 '$d/echo.py' '$d' $P1 $P2 > '$d/pasta.log' 2>&1"
pasta_pid=$BG_PID
on_cleanup "touch '$d/quit'"
on_cleanup "if grep -q '^alloc_guard:' '$d/pasta.log'; then grep -A16 '^alloc_guard:' '$d/pasta.log' >&2; \
	else tail -n 30 '$d/pasta.log' >&2; fi"
wait_for "[ -e '$d/listening' ]" 20 || fail "the namespace server did not start"
wait_for "grep -q '^alloc-guard: armed' '$d/pasta.log'" 10 || fail "the guard was not armed in pasta"
[ -S "$S" ] || fail "no control socket at $S"
mode=$(stat -c %a "$S")
check_eq "$mode" 600 "control socket permissions"
log "pasta -f: control socket $S, mode $mode; guard armed"

"$PESTO" "$S" > "$d/show0" || fail "pesto show failed"
grep -q "TCP \[\*\]:$P1  =>  $P1" "$d/show0" || fail "pesto does not show -t $P1: $(cat "$d/show0")"
grep -q ":$P2 " "$d/show0" && fail "-t $P2 shown before it was added"

# A connection on the rule that stays.
mkfifo "$d/hold"
python3 "$PASST_ROOT/test/integration/hold_conn.py" $TAP_SRC4 $P1 5 hello "$d/hold" > "$d/hold.log" 2>&1 &
hold=$!
exec 7<> "$d/hold"
wait_for "grep -qx hello '$d/out.$P1'" 5 || fail "no data through -t $P1"

timeout 10 python3 "$d/refused.py" $TAP_SRC4 $P2 3 || fail "port $P2 accepts connections before its rule"
"$PESTO" -A -t $P2 "$S" || fail "pesto -A -t $P2 failed"
head -c $((1 << 20)) /dev/urandom > "$d/blob"
timeout 20 python3 "$d/xfer.py" $TAP_SRC4 $P2 "$d/blob" "$d/blob.back" || fail "transfer through -t $P2 failed"
cmp "$d/blob" "$d/blob.back" || fail "data through -t $P2 came back different"
cmp "$d/blob" "$d/out.$P2" || fail "the namespace got different data on $P2"
log "rule -t $P2 added at run time: 1 MiB through it and back, byte-exact"

echo after-add >&7
wait_for "grep -qx after-add '$d/out.$P1'" 5 || fail "the connection on -t $P1 broke when -t $P2 was added"
"$PESTO" -t $P1 -A -t $P2 "$S" || fail "pesto replace failed"
echo after-replace >&7
wait_for "grep -qx after-replace '$d/out.$P1'" 5 ||
	fail "the connection on -t $P1 broke when the table was replaced with the same rules"
log "a connection on -t $P1 survives an add and a replace that keeps the rule"

"$PESTO" -D -t $P2 "$S" || fail "pesto -D -t $P2 failed"
timeout 10 python3 "$d/refused.py" $TAP_SRC4 $P2 3 || fail "port $P2 still accepts connections after -D"
"$PESTO" "$S" > "$d/show1"
grep -q ":$P2 " "$d/show1" && fail "-t $P2 still shown after -D"
log "rule -t $P2 deleted: connections refused"

# Bad requests: error replies, rules unchanged, pasta alive.
"$PESTO" "$S" > "$d/before"
r=$(timeout 10 python3 "$d/raw.py" "$S" "b'bogus request\n'")
case "$r" in "PESTO 1 error 1"*) ;; *) fail "malformed request: reply '$r'";; esac
r=$(timeout 10 python3 "$d/raw.py" "$S" "b'PESTO 2 show\n'")
case "$r" in "PESTO 1 error 1"*version*) ;; *) fail "wrong version: reply '$r'";; esac
r=$(timeout 10 python3 "$d/raw.py" "$S" "b'PESTO 1 apply add t 99999\n'")
case "$r" in "PESTO 1 error 1"*"above 65535"*) ;; *) fail "invalid spec: reply '$r'";; esac
r=$(timeout 10 python3 "$d/raw.py" "$S" "b'x' * 10000")
case "$r" in "PESTO 1 error 1"*"too long"*) ;; *) fail "oversized request: reply '$r'";; esac
r=$(timeout 10 python3 "$d/raw.py" "$S" "b'PESTO 1 apply add t 1300'" shut)
case "$r" in "PESTO 1 error 1"*truncated*) ;; *) fail "truncated request: reply '$r'";; esac
"$PESTO" -t "$P1,70000" "$S" 2> "$d/err" && fail "pesto accepted port 70000"
[ "$(wc -l < "$d/err")" = 1 ] || fail "pesto's error is not one line: $(cat "$d/err")"
"$PESTO" -t 1 2> "$d/err"
rc=$?
check_eq "$rc" 1 "pesto without PATH: exit status"
"$PESTO" "$S" > "$d/after"
cmp "$d/before" "$d/after" || fail "rules changed after bad requests"
kill -0 "$pasta_pid" || fail "pasta died"
log "malformed, wrong-version, invalid, oversized, truncated requests: error replies, rules unchanged"

# A client that sends nothing: forwarding goes on, the next pesto gets in
# once it is dropped (CTL_TIMEOUT_MS, 5 s).
python3 -c "
import socket, time
s = socket.socket(socket.AF_UNIX); s.connect('$S'); time.sleep(30)" &
idle=$!
sleep 0.5
echo during-idle >&7
wait_for "grep -qx during-idle '$d/out.$P1'" 5 || fail "forwarding stalled while a control client hung"
timeout 20 "$PESTO" "$S" > /dev/null || fail "pesto did not get in after an idle client"
kill "$idle" 2>/dev/null
wait "$idle" 2>/dev/null
log "an idle control client stalls nothing and is dropped"

echo quit >&7
exec 7>&-
wait "$hold" || fail "the held connection failed: $(cat "$d/hold.log")"
touch "$d/quit"
wait "$pasta_pid"
rc=$?
[ "$rc" = 99 ] && fail "pasta allocated after the sandbox: $(grep -A8 '^alloc_guard:' "$d/pasta.log")"
grep -q '^alloc_guard:' "$d/pasta.log" && fail "pasta allocated after the sandbox"
check_eq "$rc" 0 "pasta's exit status"
[ -e "$S" ] && fail "control socket left behind at exit"
log "no allocation after the sandbox across the rule changes; socket removed at exit"

# ---- 2. daemonised pasta --------------------------------------------------------
S2=$d/ctl2.sock
bg_start unshare --net sleep 60
ns_pid=$BG_PID
wait_for "[ \"\$(readlink /proc/$ns_pid/ns/net)\" != \"\$(readlink /proc/self/ns/net)\" ]" 5 ||
	fail "no namespace to join"
"$PASTA" -c "$S2" -t 12010 -u none -T none -U none -P "$d/pasta2.pid" $ns_pid > "$d/pasta2.log" 2>&1 ||
	fail "daemonised pasta failed: $(cat "$d/pasta2.log")"
wait_for "[ -s '$d/pasta2.pid' ]" 5 || fail "no PID file"
p2=$(cat "$d/pasta2.pid")
on_cleanup "kill $p2 2>/dev/null; true"
check_eq "$(stat -c %a "$S2")" 600 "daemonised: control socket permissions"
"$PESTO" -A -t 12011 "$S2" || fail "daemonised: pesto -A failed"
wait_for "ss -Htln 'sport = :12011' | grep -q ." 3 || fail "daemonised: no listener on 12011"
"$PESTO" "$S2" | grep -q ":12011 " || fail "daemonised: rule not shown"
kill "$p2"
log "daemonised pasta: socket 0600, rule added at run time and listened on"

# ---- 3. passt ----------------------------------------------------------------------
S3=$d/ctl3.sock
bg_start sh -c "exec timeout 60 '$PASST' -f -c '$S3' -s '$d/passt.sock' -t 12020 > '$d/passt.log' 2>&1"
passt_pid=$BG_PID
wait_for "[ -S '$S3' ]" 10 || fail "passt: no control socket: $(cat "$d/passt.log")"
check_eq "$(stat -c %a "$S3")" 600 "passt: control socket permissions"
"$PESTO" "$S3" | grep -q ":12020 " || fail "passt: -t 12020 not shown"
"$PESTO" -A -t 12021 "$S3" || fail "passt: pesto -A failed"
wait_for "ss -Htln 'sport = :12021' | grep -q ." 3 || fail "passt: no listener on 12021"
"$PESTO" -A -u 12023 "$S3" || fail "passt: pesto -A -u failed"
wait_for "ss -Huln 'sport = :12023' | grep -q ." 3 || fail "passt: no UDP socket on 12023"
"$PESTO" -D -u 12023 "$S3" || fail "passt: pesto -D -u failed"
wait_for "! ss -Huln 'sport = :12023' | grep -q ." 3 || fail "passt: UDP socket on 12023 left open"
"$PESTO" -T 12022 "$S3" 2> "$d/err" && fail "passt accepted a -T rule"
grep -q "not available" "$d/err" || fail "passt -T: unexpected error: $(cat "$d/err")"
bg_stop "$passt_pid"
log "passt: show, add -t (listened on), add and delete -u (socket opened, closed), -T refused"
exit 0
