#!/bin/bash
# TCP semantics through pasta's tap path (namespace -> host via the gateway
# address, which maps to the host's loopback; and host -> namespace via -t,
# the host connecting to its own non-loopback address: a loopback source
# would take the splice path): half-close, connection refused (RST), reset
# by the host, 1000 concurrent echo connections, and iperf3 in both
# directions. The same over the spliced loopback path (-T, and -t from the
# host's loopback): 1000 concurrent echo connections and iperf3 both ways
# (test_tcp_splice.sh has its half-close and reset cases).
. "$(dirname "$0")/lib.sh"

need_pkg iperf3 iperf3
need_cmd python3 ss ip
hermetic_host
[ -x "$PASTA" ] || skip "no pasta binary at $PASTA (run make)"
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"

d=$(new_tmpdir)
cat > "$d/h.py" <<'PY'
import asyncio, hashlib, os, socket, struct, sys

def listener(fam, addr, port):
	s = socket.socket(fam, socket.SOCK_STREAM)
	s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	s.bind((addr, port))
	s.listen(4096)
	return s

def fam_of(addr):
	return socket.AF_INET6 if ':' in addr else socket.AF_INET

def recv_all(c):
	data = b''
	while True:
		b = c.recv(65536)
		if not b:
			return data
		data += b

cmd, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = fam_of(addr)
if cmd == 'halfclose-server':
	# Read to EOF, then answer with the digest of what was read.
	s = listener(fam, addr, port)
	open(sys.argv[4], 'w').close()
	c, _ = s.accept()
	data = recv_all(c)
	c.sendall(hashlib.sha256(data).hexdigest().encode())
	c.close()
elif cmd == 'halfclose-client':
	c = socket.create_connection((addr, port), timeout=20)
	data = os.urandom(300000)
	c.sendall(data)
	c.shutdown(socket.SHUT_WR)
	reply = recv_all(c).decode()
	if reply != hashlib.sha256(data).hexdigest():
		sys.exit('half-close: wrong reply %r' % reply[:80])
elif cmd == 'refused-client':
	try:
		socket.create_connection((addr, port), timeout=10)
	except ConnectionRefusedError:
		sys.exit(0)
	except Exception as e:
		sys.exit('expected ECONNREFUSED, got %r' % e)
	sys.exit('connection was not refused')
elif cmd == 'rst-server':
	# Accept, wait for some data, then reset the connection.
	s = listener(fam, addr, port)
	open(sys.argv[4], 'w').close()
	c, _ = s.accept()
	c.recv(10)
	c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
	c.close()
elif cmd == 'rst-client':
	try:
		c = socket.create_connection((addr, port), timeout=20)
		c.sendall(b'hello')
		while c.recv(100):
			pass
	except ConnectionResetError:
		sys.exit(0)
	except Exception as e:
		sys.exit('expected ECONNRESET, got %r' % e)
	sys.exit('connection closed without a reset')
elif cmd == 'echo-server':
	async def handle(r, w):
		try:
			while True:
				b = await r.read(65536)
				if not b:
					break
				w.write(b)
				await w.drain()
		finally:
			w.close()
	async def main():
		srv = await asyncio.start_server(handle, sock=listener(fam, addr, port))
		open(sys.argv[4], 'w').close()
		await srv.serve_forever()
	asyncio.run(main())
elif cmd == 'echo-clients':
	n = int(sys.argv[4])
	async def one(i):
		r, w = await asyncio.open_connection(addr, port)
		data = os.urandom(1000 + (i * 37) % 20000)
		w.write(data)
		await w.drain()
		got = await r.readexactly(len(data))
		w.close()
		return got == data
	async def main():
		res = await asyncio.wait_for(asyncio.gather(*[one(i) for i in range(n)]), 120)
		bad = res.count(False)
		if bad:
			sys.exit('%d of %d echo connections got wrong data' % (bad, n))
	asyncio.run(main())
PY

port=11000
# pasta_run ARGS... -- COMMAND: pasta in the foreground, bounded in time.
pasta_run() {
	timeout 180 "$PASTA" --config-net -f -q "$@"
}

for fam in 4 6; do
	if [ "$fam" = 4 ]; then lo=127.0.0.1; gw=$HOST_GW4; haddr=$HOST_ADDR4
	else lo=::1; gw=$HOST_GW6; haddr=$HOST_ADDR6; fi

	# Half-close: the namespace shuts down writing, still gets the reply.
	port=$((port + 1)); rm -f "$d/ready"
	bg_start python3 "$d/h.py" halfclose-server "$lo" "$port" "$d/ready"
	wait_for "[ -e $d/ready ]" 10 || fail "half-close server"
	pasta_run -- python3 "$d/h.py" halfclose-client "$gw" "$port" ||
		fail "IPv$fam half-close"
	log "IPv$fam half-close: ok"

	# Nothing listening on the host: ECONNREFUSED in the namespace.
	port=$((port + 1))
	pasta_run -- python3 "$d/h.py" refused-client "$gw" "$port" ||
		fail "IPv$fam connection refused"
	log "IPv$fam connection refused: ok"

	# The host resets the connection: ECONNRESET in the namespace.
	port=$((port + 1)); rm -f "$d/ready"
	bg_start python3 "$d/h.py" rst-server "$lo" "$port" "$d/ready"
	wait_for "[ -e $d/ready ]" 10 || fail "reset server"
	pasta_run -- python3 "$d/h.py" rst-client "$gw" "$port" || fail "IPv$fam host reset"
	log "IPv$fam reset by the host: ok"

	# Inbound (-t), nothing listening in the namespace: the host client
	# is accepted by pasta, then reset when the namespace refuses.
	port=$((port + 1))
	bg_start timeout 60 "$PASTA" --config-net -f -q -t "$port" -- sleep 30
	pid=$BG_PID
	wait_for "ss -ltn | grep -q ':$port '" 10 || fail "pasta -t listener"
	sleep 0.5
	python3 "$d/h.py" rst-client "$haddr" "$port" ||
		fail "IPv$fam inbound to a closed port: no reset"
	bg_stop "$pid"
	log "IPv$fam inbound to a closed port: reset"
done

# 1000 concurrent echo connections, namespace -> host.
port=$((port + 1)); rm -f "$d/ready"
bg_start python3 "$d/h.py" echo-server 127.0.0.1 "$port" "$d/ready"
wait_for "[ -e $d/ready ]" 10 || fail "echo server"
pasta_run -- sh -c "ulimit -n 8192; python3 $d/h.py echo-clients $HOST_GW4 $port 1000" ||
	fail "1000 concurrent echo connections"
log "1000 concurrent echo connections: ok"

# The same through the splice path: -T, the namespace's loopback.
pasta_run -T "$port" -- sh -c "ulimit -n 8192; python3 $d/h.py echo-clients 127.0.0.1 $port 1000" ||
	fail "1000 concurrent echo connections (splice)"
log "1000 concurrent echo connections, spliced: ok"

# iperf3, both directions (and one inbound run through -t).
port=$((port + 1))
bg_start iperf3 -s -B 127.0.0.1 -p "$port"
wait_for "ss -ltn | grep -q ':$port '" 10 || fail "iperf3 server"
for rev in "" -R; do
	out=$(pasta_run -- iperf3 -c "$HOST_GW4" -p "$port" -t 2 -J $rev) ||
		fail "iperf3 $rev failed"
	bps=$(echo "$out" | python3 -c \
		'import json,sys; print(int(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]))')
	[ "${bps:-0}" -gt 0 ] || fail "iperf3 $rev: no throughput"
	log "iperf3 ${rev:-(namespace sends)}: $((bps / 1000000)) Mbit/s"
	out=$(pasta_run -T "$port" -- iperf3 -c 127.0.0.1 -p "$port" -t 2 -J $rev) ||
		fail "iperf3 $rev (splice) failed"
	bps=$(echo "$out" | python3 -c \
		'import json,sys; print(int(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]))')
	[ "${bps:-0}" -gt 0 ] || fail "iperf3 $rev (splice): no throughput"
	log "iperf3 ${rev:-(namespace sends)}, spliced: $((bps / 1000000)) Mbit/s"
done

# iperf3 inbound through -t: the client on the host, the server in the
# namespace (a client that comes too early is reset, and tries again), to
# the host's own address (tap path) and to its loopback (splice).
for dst in "$HOST_ADDR4" 127.0.0.1; do
	port=$((port + 1))
	bg_start timeout 60 "$PASTA" --config-net -f -q -t "$port" -- iperf3 -s -1 -p "$port"
	pid=$BG_PID
	bps=0
	for i in $(seq 50); do
		out=$(iperf3 -c "$dst" -p "$port" -t 2 -J 2>/dev/null)
		bps=$(echo "$out" | python3 -c 'import json,sys
try: print(int(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]))
except Exception: print(0)')
		[ "$bps" -gt 0 ] && break
		sleep 0.2
	done
	bg_stop "$pid"
	[ "${bps:-0}" -gt 0 ] || fail "iperf3 through -t to $dst: no throughput"
	log "iperf3 through -t to $dst (host sends): $((bps / 1000000)) Mbit/s"
done
exit 0
