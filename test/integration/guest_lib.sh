# shellcheck shell=bash disable=SC2034
# Shared by the integration tests that boot the test guest of test/guest/
# (build_initramfs.sh: Debian kernel, busybox initramfs with virtio-net,
# /init reporting GUEST-* lines on the serial console): test_passt_guest.sh
# (stream and vhost-user back-ends, qemu started by the test) and
# test_libvirt.sh (qemu and passt started by libvirt). Source after lib.sh:
#
#	. "$(dirname "$0")/lib.sh"
#	. "$(dirname "$0")/guest_lib.sh"
#	guest_kit                   # before hermetic_host: builds GUEST_DIR
#	hermetic_host
#	guest_host_helpers "$d"     # host-side peers: srv.py, push.py, udp_ping.py
#	...                         # bad / expect_* record failed checks
#	[ "$nbad" = 0 ] || fail "$nbad check(s) failed"
#
# GUEST_DIR (default build/guest) holds vmlinuz and initramfs.gz.

GUEST_DIR=${GUEST_DIR:-$PASST_ROOT/build/guest}
nbad=0

# guest_kit: build (or refresh) the guest kernel and initramfs in GUEST_DIR,
# installing the packages that needs (qemu-system-x86 linux-image-amd64
# busybox-static cpio ...) as root; skips the test if that fails. Call it
# before hermetic_host (apt-get needs the real network); inside the
# hermetic host it does nothing.
guest_kit() {
	[ -n "${PASST_TEST_HERMETIC:-}" ] && return 0
	"$PASST_ROOT/test/guest/build_initramfs.sh" "$GUEST_DIR" >&2 ||
		skip "could not build the guest kit"
}

# bad MSG: record a failed assertion, keep going so that one run shows all.
bad() {
	log "FAIL: $*"
	nbad=$((nbad + 1))
}

# expect_eq ACTUAL EXPECTED WHAT: like check_eq, but keeps going.
expect_eq() {
	[ "$1" = "$2" ] || bad "$3: expected '$2', got '$1'"
}

# expect_result CONSOLE NAME: the guest printed GUEST-RESULT NAME PASS.
expect_result() {
	grep -q "^GUEST-RESULT $2 PASS" "$1" ||
		bad "guest check $2: $(grep "^GUEST-RESULT $2 " "$1" || echo 'not run')"
}

# expect_line CONSOLE REGEX WHAT: some console line matches REGEX.
expect_line() {
	grep -Eq "$2" "$1" || bad "$3: $(grep "${2%% *}" "$1" | tr '\n' ' ')"
}

# guest_check_common CONSOLE: lease, link MTU, SLAAC, ping to the gateway.
guest_check_common() {
	expect_result "$1" dhcp
	expect_line "$1" '^GUEST-DHCP ip=192\.0\.2\.2/24 router=192\.0\.2\.1 mtu=65520 ' \
		"lease (want ip=192.0.2.2/24 router=192.0.2.1 mtu=65520)"
	expect_line "$1" '^GUEST-LINK mtu=65520$' "eth0 MTU (want 65520)"
	expect_result "$1" ipv6-slaac
	expect_result "$1" ipv6-route
	expect_line "$1" '^GUEST-IP6 addr=2001:db8::[0-9a-f:]+/64 router=fe80::' \
		"SLAAC address in 2001:db8::/64 and a link-local router"
	expect_result "$1" ping-gw
}

# guest_host_helpers DIR: writes the host-side peers below into DIR.
guest_host_helpers() {
	local d=$1
	# Host side: port 5000 sinks and hashes, port 5001 sends BYTES random bytes
	# (one connection each), UDP port 5003 on 127.0.0.1 and ::1 echoes with a
	# "host-echo:" prefix.
	cat > "$d/srv.py" <<'PY'
import hashlib, os, socket, sys, threading
n_out = int(sys.argv[1])
def listener(port):
    s = socket.socket()
    s.bind(("127.0.0.1", port))
    s.listen(1)
    s.settimeout(300)
    return s
def sink(s):
    c, _ = s.accept()
    c.settimeout(120)
    h, n = hashlib.md5(), 0
    while True:
        b = c.recv(1 << 20)
        if not b:
            break
        n += len(b)
        h.update(b)
    c.close()
    print("SINK", n, h.hexdigest(), flush=True)
def source(s):
    c, _ = s.accept()
    c.settimeout(120)
    data = os.urandom(n_out)
    c.sendall(data)
    c.close()
    print("SOURCE", n_out, hashlib.md5(data).hexdigest(), flush=True)
def echo(fam, addr):
    u = socket.socket(fam, socket.SOCK_DGRAM)
    u.bind((addr, 5003))
    while True:
        b, peer = u.recvfrom(65536)
        print("UDP-ECHO", peer[0], b.decode(errors="replace"), flush=True)
        u.sendto(b"host-echo:" + b, peer)
a, b = listener(5000), listener(5001)
for f, ad in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    threading.Thread(target=echo, args=(f, ad), daemon=True).start()
print("READY", flush=True)
t = [threading.Thread(target=sink, args=(a,)), threading.Thread(target=source, args=(b,))]
for x in t: x.start()
for x in t: x.join()
threading.Event().wait()
PY

	# push.py PORT BYTES: connect to 127.0.0.1:PORT (passt's -t), send random
	# bytes, half-close, wait for the peer to close. Prints PUSH BYTES MD5.
	cat > "$d/push.py" <<'PY'
import hashlib, os, socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
data = os.urandom(n)
c = socket.create_connection(("127.0.0.1", port), timeout=120)
c.sendall(data)
c.shutdown(socket.SHUT_WR)
while c.recv(65536):
    pass
c.close()
print("PUSH", n, hashlib.md5(data).hexdigest(), flush=True)
PY

	# udp_ping.py PORT: send "host-ping" to 127.0.0.1:PORT (passt's -u) every
	# second for up to 20 s; prints UDP-IN and the reply.
	cat > "$d/udp_ping.py" <<'PY'
import socket, sys, time
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(1)
end = time.monotonic() + 20
while time.monotonic() < end:
    u.sendto(b"host-ping", ("127.0.0.1", int(sys.argv[1])))
    try:
        b = u.recv(65536)
    except (socket.timeout, ConnectionRefusedError):
        continue
    print("UDP-IN", b.decode(errors="replace"), flush=True)
    sys.exit(0)
print("UDP-IN no reply", flush=True)
sys.exit(1)
PY
}
