#!/bin/bash
# shellcheck source-path=SCRIPTDIR disable=SC2016
# pasta's UDP loopback bypass: datagrams between the namespace's loopback
# and the host's loopback moved directly between sockets, no frames.
#
# Namespace -> host (-U): echo servers on the host's 127.0.0.1 / ::1; two
# clients in the namespace (distinct source ports, interleaved) send to
# the namespace's loopback and each must get exactly its own echoes back,
# from the address and port it wrote to (empty, small and 60 000-byte
# datagrams). Host -> namespace (-u from a loopback source): the same with
# the echo servers in the namespace bound to its own address (192.0.2.2,
# 2001:db8::2 from --config-net), where spliced datagrams go (its loopback
# only with --host-lo-to-ns-lo, see test_pasta_fwd_options.sh); that no
# frame crossed the tap shows they were spliced. A burst of 10 000 numbered
# datagrams each way
# arrives uncorrupted (>= 90 %: only the kernel drops). A capture of the
# tap (-p) shows no UDP for those ports, while a control datagram from a
# non-loopback host address to a -u port does go over the tap.
. "$(dirname "$0")/lib.sh"

need_pkg tcpdump tcpdump
need_cmd ip ss timeout python3
hermetic_host
[ -x "$PASTA" ] || skip "no pasta binary at $PASTA (run make)"

d=$(new_tmpdir)
cap=$d/cap.pcap

cat > "$d/u.py" << 'EOF'
import select, socket, sys, time

def sock(addr, port=0, rcvbuf=0):
    s = socket.socket(socket.AF_INET6 if ':' in addr else socket.AF_INET, socket.SOCK_DGRAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if port:
        s.bind((addr, port))
    return s

def payload(tag, seq, n):
    head = b'%s:%06d:' % (tag, seq)
    return (head + bytes(((seq * 31 + i * 7) & 0xff) for i in range(n)))[:max(n, len(head))]

cmd = sys.argv[1]
if cmd == 'echo':              # ADDR PORT READYFILE: echo to the sender
    s = sock(sys.argv[2], int(sys.argv[3]))
    open(sys.argv[4], 'w').close()
    while True:
        data, peer = s.recvfrom(65535)
        s.sendto(data, peer)
elif cmd == 'clients':         # ADDR PORT: two interleaved peers, own echoes only
    addr, port = sys.argv[2], int(sys.argv[3])
    a, b = sock(addr), sock(addr)
    sizes = [0, 1, 100, 1400, 8000, 60000]
    for k, n in enumerate(sizes * 2):
        for tag, s in ((b'A', a), (b'B', b)):
            s.sendto(payload(tag, k, n), (addr, port))
        for tag, s in ((b'A', a), (b'B', b)):
            s.settimeout(5)
            try:
                data, src = s.recvfrom(65535)
            except socket.timeout:
                sys.exit('%s: peer %s: no echo for datagram %d (%d bytes)' % (addr, tag, k, n))
            if data != payload(tag, k, n):
                sys.exit('%s: peer %s: wrong echo for datagram %d (%d bytes, got %d)'
                         % (addr, tag, k, n, len(data)))
            if src[0] != addr or src[1] != port:
                sys.exit('%s: peer %s: echo from %s' % (addr, tag, src))
elif cmd == 'burst-recv':      # ADDR PORT COUNT READYFILE RESULTFILE
    addr, port, count = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    s = sock(addr, port, rcvbuf=8 << 20)
    open(sys.argv[5], 'w').close()
    seen, bad, dup = set(), 0, 0
    deadline = time.time() + 60
    while len(seen) < count and time.time() < deadline:
        r, _, _ = select.select([s], [], [], 3 if seen else 30)
        if not r:
            break
        data = s.recv(65535)
        try:
            seq = int(data[2:8])
        except ValueError:
            seq = -1
        if seq < 0 or data != payload(b'S', seq, 20 + (seq * 37) % 1200):
            bad += 1
        elif seq in seen:
            dup += 1
        else:
            seen.add(seq)
    with open(sys.argv[6], 'w') as f:
        f.write('%d %d %d\n' % (len(seen), bad, dup))
elif cmd == 'burst-send':      # ADDR PORT COUNT
    addr, port, count = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    s = sock(addr)
    s.connect((addr, port))
    for seq in range(count):
        s.send(payload(b'S', seq, 20 + (seq * 37) % 1200))
        if seq % 100 == 99:
            time.sleep(0.002)  # integrity is tested here, not throughput
elif cmd == 'send-from':       # SRC DST PORT: one datagram, wait for the echo
    s = sock(sys.argv[2])
    s.bind((sys.argv[2], 0))
    s.settimeout(5)
    s.sendto(b'control', (sys.argv[3], int(sys.argv[4])))
    if s.recvfrom(100)[0] != b'control':
        sys.exit('control: wrong echo')
EOF

# udp_frames PORT...: captured UDP frames to or from any of the ports.
udp_frames() {
	local f="udp port $1" p
	shift
	for p in "$@"; do f="$f or udp port $p"; done
	[ -s "$cap" ] || fail "no capture file"
	tcpdump -r "$cap" -nn "$f" 2>/dev/null | wc -l
}

# wait_bursts FILE N WHAT: check a burst-recv result.
check_burst() {
	local got bad dup
	wait_for "test -s '$1'" 90 || fail "$3: burst receiver did not finish"
	read -r got bad dup < "$1"
	log "$3: $got of $2 datagrams received, $bad corrupted, $dup duplicated"
	check_eq "$bad" 0 "$3: corrupted datagrams"
	check_eq "$dup" 0 "$3: duplicated datagrams"
	[ "$got" -ge $(($2 * 9 / 10)) ] || fail "$3: only $got of $2 datagrams arrived"
}

N=10000

# ---- namespace -> host: -U -------------------------------------------------
bg_start python3 "$d/u.py" echo 127.0.0.1 30011 "$d/e4"
bg_start python3 "$d/u.py" echo ::1 30011 "$d/e6"
bg_start python3 "$d/u.py" burst-recv 127.0.0.1 30003 "$N" "$d/b_ready" "$d/b_out"
wait_for "test -e '$d/e4' && test -e '$d/e6' && test -e '$d/b_ready'" 10 ||
	fail "host servers did not start"
timeout 180 "$PASTA" --config-net -f -q -p "$cap" -U 30001:30011 -U 30003 -- sh -c '
python3 "$0/u.py" clients 127.0.0.1 30001 || exit 14
python3 "$0/u.py" clients ::1 30001 || exit 16
python3 "$0/u.py" burst-send 127.0.0.1 30003 '"$N"' || exit 20
' "$d" > "$d/out.log" 2>&1
check_eq "$?" 0 "-U exchanges from the namespace (log: $(cat "$d/out.log"))"
check_burst "$d/b_out" "$N" "-U burst"
check_eq "$(udp_frames 30001 30011 30003)" 0 "UDP frames on the tap for the -U ports"

# ---- host -> namespace: -u from the host's loopback -------------------------
cat > "$d/ns_in.sh" << 'EOF'
d=$1 N=$2
python3 "$d/u.py" echo 192.0.2.2 31011 "$d/ne4" & p1=$!
python3 "$d/u.py" echo 2001:db8::2 31011 "$d/ne6" & p2=$!
python3 "$d/u.py" echo 0.0.0.0 31021 "$d/nec" & p3=$!
python3 "$d/u.py" burst-recv 192.0.2.2 31003 "$N" "$d/nb_ready" "$d/nb_out" & p4=$!
i=0
while [ ! -e "$d/host_done" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
# let the burst receiver finish by itself
j=0
while [ ! -s "$d/nb_out" ] && [ $j -lt 100 ]; do sleep 0.1; j=$((j + 1)); done
kill $p1 $p2 $p3 $p4 2>/dev/null
EOF
rm -f "$cap"
bg_start sh -c "exec timeout 180 '$PASTA' --config-net -f -q -p '$cap' -u 31001:31011 \
	-u 31003 -u 31021 -- sh '$d/ns_in.sh' '$d' '$N' > '$d/in.log' 2>&1"
in_pid=$BG_PID
wait_for "test -e '$d/ne4' && test -e '$d/ne6' && test -e '$d/nec' && test -e '$d/nb_ready'" 30 ||
	fail "namespace servers did not start: $(cat "$d/in.log")"
sleep 0.3
python3 "$d/u.py" clients 127.0.0.1 31001 || fail "-u exchanges over 127.0.0.1"
python3 "$d/u.py" clients ::1 31001 || fail "-u exchanges over ::1"
python3 "$d/u.py" burst-send 127.0.0.1 31003 "$N" || fail "-u burst sender"
# Control: a non-loopback source keeps the tap path.
python3 "$d/u.py" send-from 192.0.2.2 192.0.2.2 31021 || fail "-u from a non-loopback source"
check_burst "$d/nb_out" "$N" "-u burst"
touch "$d/host_done"
wait_for "! kill -0 $in_pid 2>/dev/null" 30 || fail "namespace of the -u test did not end"
check_eq "$(udp_frames 31001 31011 31003)" 0 "UDP frames on the tap for the spliced -u ports"
[ "$(udp_frames 31021)" -ge 2 ] ||
	fail "the control datagram from a non-loopback source did not cross the tap"

exit 0
