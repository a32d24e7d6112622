#!/bin/bash
# shellcheck source-path=SCRIPTDIR disable=SC2016
# UDP segmentation offload from the namespace: an application there sends
# 24 000 bytes in one send() with UDP_SEGMENT (setsockopt SOL_UDP 103) set
# to 1200, and then 5000 bytes (four of 1200 and a short 200), over IPv4
# and IPv6 to the gateway. With USO on the tap device the namespace kernel
# hands pasta each send as a single frame (virtio-net gso_type UDP_L4,
# gso_size 1200); the receiver on the host's loopback must still see the
# datagrams the application meant, 20 + 5 per family, with exactly the
# bytes it sent. Where the kernel refuses USO on the tap device (before
# Linux 6.2), it segments by itself and the test skips: it would prove
# nothing. pasta's debug log shows which of the two happened. Then the
# same through the loopback bypass (-U), which the tap device never sees.
. "$(dirname "$0")/lib.sh"

need_cmd ip timeout python3 ss
hermetic_host
[ -x "$PASTA" ] || fail "no pasta binary at $PASTA (build first)"

d=$(new_tmpdir)
P=20030

cat > "$d/gso.py" << 'EOF'
import select, socket, sys, time

UDP_SEGMENT = 103
SENDS = ((24000, 1200), (5000, 1200))   # (bytes in one send, segment size)

def data(family, n):
    # Differs per byte, per segment and per send, so that a shifted, merged
    # or reordered segment never compares equal.
    return bytes(((i * 7 + i // 1200 * 13 + n + family) & 0xff) for i in range(n))

def expected(family):
    out = []
    for n, seg in SENDS:
        b = data(family, n)
        out += [b[i:i + seg] for i in range(0, n, seg)]
    return out

cmd = sys.argv[1]
if cmd == 'send':              # GATEWAY4 GATEWAY6 PORT
    port = int(sys.argv[4])
    for fam, gw in ((4, sys.argv[2]), (6, sys.argv[3])):
        s = socket.socket(socket.AF_INET if fam == 4 else socket.AF_INET6,
                          socket.SOCK_DGRAM)
        s.connect((gw, port))
        for n, seg in SENDS:
            s.setsockopt(socket.SOL_UDP, UDP_SEGMENT, seg)
            if s.send(data(fam, n)) != n:
                sys.exit('short send')
        s.close()
elif cmd == 'recv':            # PORT READYFILE RESULTFILE
    port = int(sys.argv[2])
    socks = {}
    for fam, a in ((4, '127.0.0.1'), (6, '::1')):
        s = socket.socket(socket.AF_INET if fam == 4 else socket.AF_INET6,
                          socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.bind((a, port))
        socks[s] = fam
    open(sys.argv[3], 'w').close()
    got = {4: [], 6: []}
    want = {f: expected(f) for f in (4, 6)}
    deadline = time.time() + 30
    while time.time() < deadline and any(len(got[f]) < len(want[f]) for f in got):
        r, _, _ = select.select(list(socks), [], [], 5 if got[4] or got[6] else 30)
        if not r:
            break
        for s in r:
            got[socks[s]].append(s.recv(65535))
    time.sleep(0.5)            # anything beyond the expected datagrams
    for s, f in socks.items():
        s.setblocking(False)
        try:
            while True:
                got[f].append(s.recv(65535))
        except BlockingIOError:
            pass
    with open(sys.argv[4], 'w') as out:
        for f in (4, 6):
            lens = [len(g) for g in got[f]]
            status = 'ok' if got[f] == want[f] else 'differ'
            out.write('v%d %s %d %s\n' % (f, status, len(lens),
                                          ','.join(map(str, lens))))
EOF

bg_start sh -c "exec python3 '$d/gso.py' recv $P '$d/ready' '$d/result' > '$d/recv.log' 2>&1"
wait_for "test -e '$d/ready'" 10 || fail "receiver did not start: $(cat "$d/recv.log")"

timeout 60 "$PASTA" -d --config-net -- python3 "$d/gso.py" send 192.0.2.1 2001:db8::1 $P \
	> "$d/pasta.log" 2>&1
rc=$?
log "pasta: $(grep -m1 'offloads' "$d/pasta.log")"
grep -q 'offloads 0x[0-9a-f]*' "$d/pasta.log" || fail "no offload line in pasta's debug log"
offl=$(sed -n 's/.*offloads \(0x[0-9a-f]*\).*/\1/p' "$d/pasta.log" | head -n 1)
if [ $(( offl & 0x60 )) != $(( 0x60 )) ]; then
	skip "the tap device refused USO4/USO6 (offloads $offl, kernel $(uname -r)):" \
		"the namespace kernel segments UDP itself"
fi
check_eq "$rc" 0 "sender in the namespace (log: $(tail -n 20 "$d/pasta.log"))"

wait_for "test -s '$d/result'" 40 || fail "receiver gave no result: $(cat "$d/recv.log")"
exp_lens="1200,1200,1200,1200,1200,1200,1200,1200,1200,1200,1200,1200,1200,1200,1200,1200,1200,1200,1200,1200,1200,1200,1200,1200,200"
check_eq "$(sed -n 1p "$d/result")" "v4 ok 25 $exp_lens" "IPv4 datagrams (count, lengths)"
check_eq "$(sed -n 2p "$d/result")" "v6 ok 25 $exp_lens" "IPv6 datagrams (count, lengths)"

# The frames did arrive as UDP GSO (not segmented by the namespace kernel):
# otherwise this test proved nothing.
grep -q 'UDP GSO frame' "$d/pasta.log" ||
	fail "no UDP GSO frame reached pasta although the tap device took USO"

# The loopback bypass (-U) never sees the tap device: the namespace kernel
# segments on delivery to pasta's socket (no UDP_GRO there). Same check.
P2=20031
rm -f "$d/ready" "$d/result"
bg_start sh -c "exec python3 '$d/gso.py' recv $P2 '$d/ready' '$d/result' > '$d/recv2.log' 2>&1"
wait_for "test -e '$d/ready'" 10 || fail "receiver did not start: $(cat "$d/recv2.log")"
timeout 60 "$PASTA" -q --config-net -U $P2 -- \
	python3 "$d/gso.py" send 127.0.0.1 ::1 $P2 > "$d/pasta2.log" 2>&1
check_eq "$?" 0 "sender to the namespace's loopback (log: $(tail -n 20 "$d/pasta2.log"))"
wait_for "test -s '$d/result'" 40 || fail "receiver gave no result: $(cat "$d/recv2.log")"
check_eq "$(sed -n 1p "$d/result")" "v4 ok 25 $exp_lens" "spliced IPv4 datagrams"
check_eq "$(sed -n 2p "$d/result")" "v6 ok 25 $exp_lens" "spliced IPv6 datagrams"
exit 0
