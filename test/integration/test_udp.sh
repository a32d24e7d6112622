#!/bin/bash
# shellcheck source-path=SCRIPTDIR disable=SC2016
# UDP through pasta's tap path: datagrams from the namespace to the gateway
# reach echo servers on the host's loopback and the echoes come back (IPv4
# and IPv6, payloads compared byte for byte, empty and large ones too);
# -u forwards a host port to a server in the namespace, whose replies reach
# the host peer from the port it wrote to; a burst of 10 000 numbered
# datagrams arrives uncorrupted; --dns-forward sends queries for its address
# to the host's resolver and the answers come back from that address.
. "$(dirname "$0")/lib.sh"

need_pkg socat socat
need_cmd ip timeout python3 cmp head
hermetic_host
[ -x "$PASTA" ] || fail "no pasta binary at $PASTA (build first)"

d=$(new_tmpdir)

# in_ns SCRIPT_BODY PASTA_OPTION...: sh -c SCRIPT_BODY in a pasta namespace
# with --config-net ($0: temp dir); prints pasta's exit status.
in_ns() {
	local body=$1
	shift
	timeout 120 "$PASTA" -q --config-net "$@" -- sh -c "$body" "$d" > "$d/ns.log" 2>&1
	echo $?
}

# ---- helpers (python3: exact datagram boundaries and contents) -----------
cat > "$d/udp_tool.py" << 'EOF'
import socket, sys, time, select

def sock_for(addr, bind_port=0, rcvbuf=0):
    fam = socket.AF_INET6 if ':' in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if bind_port:
        s.bind((addr, bind_port))
    return s

def payload(seq):
    # "seq:NNNNNN:" then a pattern that depends on seq, 20..1219 bytes
    head = b'seq:%06d:' % seq
    n = 20 + (seq * 37) % 1200
    body = bytes(((seq + i * 7) & 0xff) for i in range(n - len(head)))
    return head + body

def check(data):
    try:
        seq = int(data[4:10])
    except ValueError:
        return None
    return seq if data[:4] == b'seq:' and data == payload(seq) else None

cmd = sys.argv[1]
if cmd == 'burst-recv':        # ADDR PORT COUNT READYFILE RESULTFILE
    addr, port, count = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    s = sock_for(addr, port, rcvbuf=8 << 20)
    open(sys.argv[5], 'w').close()
    seen, bad, dup = set(), 0, 0
    deadline = time.time() + 60
    while len(seen) < count and time.time() < deadline:
        r, _, _ = select.select([s], [], [], 3 if seen else 30)
        if not r:
            break
        data = s.recv(65535)
        seq = check(data)
        if seq is None:
            bad += 1
        elif seq in seen:
            dup += 1
        else:
            seen.add(seq)
    with open(sys.argv[6], 'w') as f:
        f.write('%d %d %d\n' % (len(seen), bad, dup))
elif cmd == 'burst-send':      # ADDR PORT COUNT
    addr, port, count = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    s = sock_for(addr)
    s.connect((addr, port))
    for seq in range(count):
        s.send(payload(seq))
        if seq % 100 == 99:
            time.sleep(0.002)  # let the receiver keep up: we test integrity
elif cmd == 'dns-stub':        # ADDR READYFILE: answers every A query with 198.51.100.42
    s = sock_for(sys.argv[2], 53)
    open(sys.argv[3], 'w').close()
    while True:
        q, peer = s.recvfrom(512)
        if len(q) < 12:
            continue
        # header: same id, QR=1 RD RA, 1 question, 1 answer; question copied;
        # answer: name pointer to offset 12, A IN, TTL 60, 4 bytes
        end = 12
        while end < len(q) and q[end] != 0:
            end += q[end] + 1
        question = q[12:end + 5]
        ans = b'\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04' + bytes([198, 51, 100, 42])
        s.sendto(q[:2] + b'\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00' + question + ans, peer)
elif cmd == 'dns-query':       # SERVER: prints "FROM-ADDR FROM-PORT A-RECORD"
    server = sys.argv[2]
    s = sock_for(server)
    qid = b'\x4a\x7e'
    name = b''.join(bytes([len(l)]) + l for l in [b'example', b'test']) + b'\x00'
    s.sendto(qid + b'\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00' + name + b'\x00\x01\x00\x01',
             (server, 53))
    s.settimeout(5)
    a, peer = s.recvfrom(512)
    if a[:2] != qid or a[2] & 0x80 == 0:
        sys.exit('bad answer header')
    print(peer[0], peer[1], '.'.join(str(b) for b in a[-4:]))
EOF

# ---- namespace -> host: echo servers on the host's loopback --------------
P4=20004
P6=20006
bg_start socat "UDP4-RECVFROM:$P4,bind=127.0.0.1,fork" "SYSTEM:tee -a $d/seen4"
bg_start socat "UDP6-RECVFROM:$P6,bind=[::1],fork" "SYSTEM:tee -a $d/seen6"
wait_for "ss -Huln | grep -q '127.0.0.1:$P4 ' && ss -Huln | grep -q '\[::1\]:$P6 '" 5 ||
	fail "echo servers did not start"

head -c 1000 /dev/urandom > "$d/in1000"
head -c 1400 /dev/urandom > "$d/in1400"
head -c 8000 /dev/urandom > "$d/in8000"
: > "$d/in0"
rc=$(in_ns '
d=$0
for s in 1000 1400 8000; do
	socat -t 2 -b 65536 - UDP4:192.0.2.1:'"$P4"' < "$d/in$s" > "$d/out4.$s" || exit 14
	socat -t 2 -b 65536 - "UDP6:[2001:db8::1]:'"$P6"'" < "$d/in$s" > "$d/out6.$s" || exit 16
done
')
check_eq "$rc" 0 "socat exchanges from the namespace (log: $(cat "$d/ns.log"))"
for s in 1000 1400 8000; do
	cmp "$d/in$s" "$d/out4.$s" || fail "IPv4 echo of $s bytes differs"
	cmp "$d/in$s" "$d/out6.$s" || fail "IPv6 echo of $s bytes differs"
done
cat "$d/in1000" "$d/in1400" "$d/in8000" > "$d/all"
wait_for "cmp -s '$d/all' '$d/seen4' && cmp -s '$d/all' '$d/seen6'" 5 ||
	fail "the host's loopback did not see exactly the datagrams sent"

# ---- empty datagrams and 60 000-byte ones (MTU 65520), with python -------
cat > "$d/sizes.py" << 'EOF'
import socket, sys
for fam, gw, port in ((socket.AF_INET, '192.0.2.1', int(sys.argv[1])),
                      (socket.AF_INET6, '2001:db8::1', int(sys.argv[2]))):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(5)
    s.connect((gw, port))
    for n in (0, 1, 60000):
        data = bytes((i * 13 + n) & 0xff for i in range(n))
        s.send(data)
        got = s.recv(65535)
        if got != data:
            sys.exit('%s: %d bytes: echo differs (%d bytes back)' % (gw, n, len(got)))
EOF
bg_start python3 -c '
import socket, sys
socks = []
for fam, a, p in ((socket.AF_INET, "127.0.0.1", 20014), (socket.AF_INET6, "::1", 20016)):
    s = socket.socket(fam, socket.SOCK_DGRAM); s.bind((a, p)); socks.append(s)
import select
while True:
    for s in select.select(socks, [], [])[0]:
        data, peer = s.recvfrom(65535)
        s.sendto(data, peer)
'
wait_for "ss -Huln | grep -q '127.0.0.1:20014 ' && ss -Huln | grep -q '\[::1\]:20016 '" 5 ||
	fail "python echo server did not start"
rc=$(in_ns 'python3 "$0/sizes.py" 20014 20016')
check_eq "$rc" 0 "empty and 60000-byte datagrams (log: $(cat "$d/ns.log"))"

# ---- host -> namespace: -u ports, both versions, mapped port -------------
cat > "$d/ns_u.sh" << 'EOF'
d=$1
socat UDP4-RECVFROM:21000,fork SYSTEM:cat & a=$!
socat UDP6-RECVFROM:21000,ipv6only=1,fork SYSTEM:cat & b=$!
socat UDP4-RECVFROM:21003,fork SYSTEM:cat & c=$!
sleep 0.3
touch "$d/ns_ready"
i=0
while [ ! -e "$d/host_done" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
kill $a $b $c
EOF
bg_start sh -c "exec timeout 60 '$PASTA' -q --config-net -u 21000 -u 21002:21003 \
	-- sh '$d/ns_u.sh' '$d' > '$d/nsu.log' 2>&1"
u_pid=$BG_PID
wait_for "test -e '$d/ns_ready'" 20 || fail "namespace servers did not start: $(cat "$d/nsu.log")"
socat -t 2 -b 65536 - UDP4:127.0.0.1:21000 < "$d/in1400" > "$d/in4.out" ||
	fail "socat to the forwarded IPv4 port"
socat -t 2 -b 65536 - "UDP6:[::1]:21000" < "$d/in1000" > "$d/in6.out" ||
	fail "socat to the forwarded IPv6 port"
socat -t 2 -b 65536 - UDP4:127.0.0.1:21002 < "$d/in8000" > "$d/in4m.out" ||
	fail "socat to the mapped IPv4 port"
touch "$d/host_done"
cmp "$d/in1400" "$d/in4.out" || fail "echo through -u 21000 (IPv4) differs"
cmp "$d/in1000" "$d/in6.out" || fail "echo through -u 21000 (IPv6) differs"
cmp "$d/in8000" "$d/in4m.out" || fail "echo through -u 21002:21003 differs"
wait_for "! kill -0 $u_pid" 10 || fail "namespace of the -u test did not end"

# ---- a burst of 10 000 datagrams, namespace -> host -----------------------
N=10000
bg_start python3 "$d/udp_tool.py" burst-recv 127.0.0.1 20100 "$N" "$d/burst_ready" "$d/burst"
burst_pid=$BG_PID
wait_for "test -e '$d/burst_ready'" 10 || fail "burst receiver did not start"
rc=$(in_ns 'python3 "$0/udp_tool.py" burst-send 192.0.2.1 20100 '"$N")
check_eq "$rc" 0 "burst sender (log: $(cat "$d/ns.log"))"
wait_for "test -s '$d/burst'" 20 || fail "burst receiver did not finish"
read -r got bad dup < "$d/burst"
log "burst: $got of $N datagrams received, $bad corrupted, $dup duplicated"
check_eq "$bad" 0 "corrupted datagrams in the burst"
check_eq "$dup" 0 "duplicated datagrams in the burst"
[ "$got" -ge $((N * 9 / 10)) ] || fail "burst: only $got of $N datagrams arrived"
bg_stop "$burst_pid"

# ---- --dns-forward ---------------------------------------------------------
# The host's resolvers (resolv.conf) are 192.0.2.53 and 2001:db8::53: put
# them on lo with a stub answering every query.
ip addr add 192.0.2.53/32 dev lo || fail "adding 192.0.2.53 to lo"
ip -6 addr add 2001:db8::53/128 dev lo nodad || fail "adding 2001:db8::53 to lo"
bg_start python3 "$d/udp_tool.py" dns-stub 192.0.2.53 "$d/dns4_ready"
bg_start python3 "$d/udp_tool.py" dns-stub 2001:db8::53 "$d/dns6_ready"
wait_for "test -e '$d/dns4_ready' && test -e '$d/dns6_ready'" 10 || fail "DNS stubs did not start"
rc=$(in_ns '
python3 "$0/udp_tool.py" dns-query 192.0.2.100 > "$0/dns4" || exit 14
python3 "$0/udp_tool.py" dns-query 2001:db8::100 > "$0/dns6" || exit 16
' --dns-forward 192.0.2.100 --dns-forward 2001:db8::100)
check_eq "$rc" 0 "DNS queries to the forwarding addresses (log: $(cat "$d/ns.log"))"
check_eq "$(cat "$d/dns4")" "192.0.2.100 53 198.51.100.42" "IPv4 DNS answer"
check_eq "$(cat "$d/dns6")" "2001:db8::100 53 198.51.100.42" "IPv6 DNS answer"

exit 0
