#!/bin/bash
# pasta's TCP loopback bypass (splice): connections between the namespace's
# loopback and the host's loopback, joined with splice(2), no frames.
#
# Namespace -> host (-T PORT): a listener on the host's 127.0.0.1 / ::1,
# the client in the namespace connects to 127.0.0.1:PORT / [::1]:PORT,
# where pasta listens inside the namespace.
# Host -> namespace (-t PORT): a listener on the namespace's own address
# (192.0.2.2 / 2001:db8::2, copied by --config-net), the client on the host
# connects to the loopback at PORT, where pasta's -t listener accepts it
# from a loopback source and splices it to that address (not to the
# namespace's loopback: that needs --host-lo-to-ns-lo, see
# test_pasta_fwd_options.sh).
#
# Checked: 64 MiB (and small) transfers with cmp, half-close both ways,
# resets both ways (no listener behind the forwarded port, and a peer
# that resets), and that no TCP frame for the port crossed the tap device
# (pasta -p capture; a control run over the tap path shows that the
# capture does see TCP when it goes over the tap).
. "$(dirname "$0")/lib.sh"

need_pkg socat socat
need_pkg tcpdump tcpdump
need_cmd ip ss cmp head python3
hermetic_host
[ -x "$PASTA" ] || skip "no pasta binary at $PASTA (run make)"

d=$(new_tmpdir)
head -c $((64 << 20)) /dev/urandom > "$d/big" || fail "can't create the big file"
head -c 1000 /dev/urandom > "$d/small" || fail "can't create the small file"

cat > "$d/h.py" <<'PY'
import hashlib, os, socket, struct, sys

def fam_of(addr):
	return socket.AF_INET6 if ':' in addr else socket.AF_INET

def listener(addr, port):
	s = socket.socket(fam_of(addr), socket.SOCK_STREAM)
	s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	s.bind((addr, port))
	s.listen(16)
	return s

def recv_all(c):
	data = b''
	while True:
		b = c.recv(65536)
		if not b:
			return data
		data += b

cmd, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if cmd == 'halfclose-server':
	# Read to EOF, then answer with the digest of what was read.
	s = listener(addr, port)
	s.settimeout(60)
	open(sys.argv[4], 'w').close()
	c, _ = s.accept()
	c.settimeout(60)
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
elif cmd == 'rst-server':
	# Accept, wait for some data, then reset the connection.
	s = listener(addr, port)
	s.settimeout(60)
	open(sys.argv[4], 'w').close()
	c, _ = s.accept()
	c.settimeout(60)
	c.recv(10)
	c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
	c.close()
elif cmd == 'rst-client':
	# Expects the connection to be reset (refused behind the forwarder,
	# or reset by the server).
	try:
		c = socket.create_connection((addr, port), timeout=20)
		c.sendall(b'hello')
		while c.recv(100):
			pass
	except (ConnectionResetError, ConnectionRefusedError):
		sys.exit(0)
	except Exception as e:
		sys.exit('expected a reset, got %r' % e)
	sys.exit('connection closed without a reset')
PY

port=12000
cap=$d/cap.pcap

# pasta_run ARGS... -- COMMAND: pasta in the foreground, bounded in time,
# capturing the tap device's frames in $cap.
pasta_run() {
	rm -f "$cap"
	timeout 180 "$PASTA" --config-net -f -q -p "$cap" "$@"
}

# tap_tcp_frames PORT: number of captured TCP frames to or from PORT.
tap_tcp_frames() {
	[ -s "$cap" ] || fail "no capture file"
	tcpdump -r "$cap" -nn "tcp port $1" 2>/dev/null | wc -l
}

no_tap_frames() {
	check_eq "$(tap_tcp_frames "$port")" 0 "$1: TCP frames for port $port on the tap"
}

# ns_to_host FAMILY FILE: -T, client in the namespace
ns_to_host() {
	local fam=$1 file=$2 lo
	port=$((port + 1))
	if [ "$fam" = 4 ]; then lo=127.0.0.1; else lo=::1; fi
	rm -f "$d/out" "$d/done"
	bg_start sh -c "socat -u TCP$fam-LISTEN:$port,bind=$lo,reuseaddr \
		OPEN:$d/out,creat,trunc; touch $d/done"
	wait_for "ss -ltn | grep -q ':$port '" 10 || fail "host listener on $port"
	local a=$lo
	[ "$fam" = 6 ] && a="[$lo]"
	pasta_run -T "$port" -- sh -c "
		socat -u OPEN:$d/$file TCP$fam:$a:$port || exit 1
		for i in \$(seq 600); do [ -e $d/done ] && exit 0; sleep 0.1; done
		exit 2" || fail "IPv$fam ns->host $file: pasta or socat failed ($?)"
	cmp "$d/$file" "$d/out" || fail "IPv$fam ns->host $file: data differs"
	no_tap_frames "IPv$fam ns->host $file"
	log "IPv$fam namespace -> host (splice), $file: ok"
}

# host_to_ns FAMILY FILE: -t, client on the host
host_to_ns() {
	local fam=$1 file=$2 lo bind six=""
	port=$((port + 1))
	if [ "$fam" = 4 ]; then lo=127.0.0.1; bind=$HOST_ADDR4
	else lo="[::1]"; bind="[$HOST_ADDR6]"; six=",ipv6only=1"; fi
	rm -f "$d/out" "$d/ready"
	bg_start sh -c "for i in \$(seq 300); do [ -e $d/ready ] && break; sleep 0.1; done
		exec socat -u OPEN:$d/$file TCP$fam:$lo:$port"
	pasta_run -t "$port" -- sh -c "
		socat -u TCP$fam-LISTEN:$port,bind=$bind,reuseaddr$six OPEN:$d/out,creat,trunc &
		pid=\$!
		for i in \$(seq 100); do
			ss -ltn | grep -q ':$port ' && break; sleep 0.05
		done
		touch $d/ready
		wait \$pid" || fail "IPv$fam host->ns $file: pasta or socat failed ($?)"
	cmp "$d/$file" "$d/out" || fail "IPv$fam host->ns $file: data differs"
	no_tap_frames "IPv$fam host->ns $file"
	log "IPv$fam host -> namespace (splice), $file: ok"
}

# Control: the same capture over the tap path (namespace -> gateway) does
# show the port's TCP frames, so a zero count above means something.
port=$((port + 1))
rm -f "$d/out"
bg_start sh -c "exec socat -u TCP4-LISTEN:$port,bind=127.0.0.1,reuseaddr OPEN:$d/out,creat,trunc"
wait_for "ss -ltn | grep -q ':$port '" 10 || fail "control listener"
pasta_run -- socat -u "OPEN:$d/small" "TCP4:$HOST_GW4:$port" || fail "control transfer"
[ "$(tap_tcp_frames "$port")" -gt 0 ] || fail "control: no TCP frames captured on the tap path"
log "control: tap path transfer captured"

for fam in 4 6; do
	for file in small big; do
		ns_to_host "$fam" "$file"
		host_to_ns "$fam" "$file"
	done
done

for fam in 4 6; do
	# nsa: where spliced -t connections go in the namespace
	if [ "$fam" = 4 ]; then lo=127.0.0.1 nsa=$HOST_ADDR4; else lo=::1 nsa=$HOST_ADDR6; fi

	# Half-close, namespace -> host: the client shuts down writing and
	# still gets the reply.
	port=$((port + 1)); rm -f "$d/ready"
	bg_start python3 "$d/h.py" halfclose-server "$lo" "$port" "$d/ready"
	wait_for "[ -e $d/ready ]" 10 || fail "half-close server"
	pasta_run -T "$port" -- python3 "$d/h.py" halfclose-client "$lo" "$port" ||
		fail "IPv$fam half-close ns->host"
	no_tap_frames "IPv$fam half-close ns->host"
	log "IPv$fam half-close, namespace -> host: ok"

	# Half-close, host -> namespace.
	port=$((port + 1)); rm -f "$d/ready"
	bg_start timeout 60 "$PASTA" --config-net -f -q -t "$port" -- \
		python3 "$d/h.py" halfclose-server "$nsa" "$port" "$d/ready"
	pid=$BG_PID
	wait_for "[ -e $d/ready ]" 10 || fail "half-close server in the namespace"
	timeout 30 python3 "$d/h.py" halfclose-client "$lo" "$port" ||
		fail "IPv$fam half-close host->ns"
	bg_stop "$pid"
	log "IPv$fam half-close, host -> namespace: ok"

	# Nothing listening on the host behind -T: the namespace client,
	# accepted by pasta, is reset.
	port=$((port + 1))
	pasta_run -T "$port" -- python3 "$d/h.py" rst-client "$lo" "$port" ||
		fail "IPv$fam -T to a closed host port: no reset"
	no_tap_frames "IPv$fam -T to a closed port"
	log "IPv$fam -T to a closed host port: reset"

	# The host server resets: ECONNRESET in the namespace.
	port=$((port + 1)); rm -f "$d/ready"
	bg_start python3 "$d/h.py" rst-server "$lo" "$port" "$d/ready"
	wait_for "[ -e $d/ready ]" 10 || fail "reset server"
	pasta_run -T "$port" -- python3 "$d/h.py" rst-client "$lo" "$port" ||
		fail "IPv$fam reset by the host"
	log "IPv$fam reset by the host: ok"

	# Nothing listening in the namespace behind -t: the host client is reset.
	port=$((port + 1))
	bg_start timeout 60 "$PASTA" --config-net -f -q -t "$port" -- sleep 30
	pid=$BG_PID
	wait_for "ss -ltn | grep -q ':$port '" 10 || fail "pasta -t listener"
	timeout 30 python3 "$d/h.py" rst-client "$lo" "$port" ||
		fail "IPv$fam -t to a closed namespace port: no reset"
	bg_stop "$pid"
	log "IPv$fam -t to a closed namespace port: reset"

	# The namespace server resets: ECONNRESET on the host.
	port=$((port + 1)); rm -f "$d/ready"
	bg_start timeout 60 "$PASTA" --config-net -f -q -t "$port" -- \
		python3 "$d/h.py" rst-server "$nsa" "$port" "$d/ready"
	pid=$BG_PID
	wait_for "[ -e $d/ready ]" 10 || fail "reset server in the namespace"
	timeout 30 python3 "$d/h.py" rst-client "$lo" "$port" ||
		fail "IPv$fam reset by the namespace"
	bg_stop "$pid"
	log "IPv$fam reset by the namespace: ok"
done
exit 0
