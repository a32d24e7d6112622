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
# Newer packages than Debian 12's come from here (test_libvirt.sh: libvirt;
# test_passt_migrate.sh: qemu, unpacked privately, never installed).
BACKPORTS=bookworm-backports
BACKPORTS_LIST=/etc/apt/sources.list.d/passt-test-$BACKPORTS.sources

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

	# push.py PORT BYTES [ADDR]: connect to ADDR:PORT (passt's -t; default
	# 127.0.0.1), send random bytes, half-close, wait for the peer to
	# close. Prints PUSH BYTES MD5.
	cat > "$d/push.py" <<'PY'
import hashlib, os, socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
addr = sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1"
data = os.urandom(n)
c = socket.create_connection((addr, port), timeout=120)
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

# The mirror of the system's Debian 12 source, as "URI|SIGNED-BY" (the key
# may be empty): from deb822 *.sources stanzas, then one-line *.list files.
bookworm_mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk '
		function flush() {
			if (on && types ~ /(^|[ \t])deb([ \t]|$)/ &&
			    (" " suites " ") ~ /[ \t]bookworm[ \t]/ && uri != "")
				print uri "|" (key ~ /^\// ? key : "")
			types = suites = uri = key = ""
			on = 1
		}
		BEGIN { on = 1 }
		/^[ \t]*#/ { next }
		/^[ \t]*$/ { flush(); next }
		/^[^ \t]/ {
			k = tolower($1); sub(/:$/, "", k)
			v = $0; sub(/^[^:]*:[ \t]*/, "", v)
			if (k == "types") types = v
			else if (k == "suites") suites = v
			else if (k == "uris") { split(v, u, /[ \t]+/); uri = u[1] }
			else if (k == "signed-by") key = v
			else if (k == "enabled" && tolower(v) == "no") on = 0
		}
		END { flush() }' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk '$1 == "deb" {
			i = 2
			if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
			if ($(i + 1) == "bookworm") print $i "|"
		}' "$f"
	done
}

# Adds bookworm-backports on the mirror of the existing Debian 12 source,
# unless some source already has it. Fails if there is no such source.
add_backports_source() {
	local m uri key
	if grep -Eqs "(^|[[:space:]])$BACKPORTS([[:space:]]|\$)" /etc/apt/sources.list \
	   /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; then
		return 0
	fi
	m=$(bookworm_mirror | head -n 1)
	uri=${m%%|*}
	key=${m#*|}
	[ -n "$uri" ] || { log "no Debian 12 (bookworm) apt source to take the mirror from"; return 1; }
	log "adding $BACKPORTS from $uri as $BACKPORTS_LIST"
	{
		echo "# Added by passt's integration tests (libvirt >= 11, qemu >= 9.1)."
		echo "Types: deb"
		echo "URIs: $uri"
		echo "Suites: $BACKPORTS"
		echo "Components: main"
		[ -n "$key" ] && echo "Signed-By: $key"
	} > "$BACKPORTS_LIST"
}

# apt-get, waiting for another apt or dpkg run to finish (other tests and
# people share the machine).
apt_get() {
	DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 "$@"
}

# ---- a private qemu >= 9.1 (test_passt_migrate.sh) ----------------------
# Debian 12's qemu 7.2 lacks the vhost-user device-state messages of live
# migration; bookworm-backports has qemu 10. Every other guest test runs
# Debian 12's qemu, so the newer one is never installed: its packages are
# downloaded (apt-get download, or taken from apt's cache) and unpacked with
# dpkg-deb -x into QEMU_MIG_DIR/root, with any library the system lacks
# (from the Depends of qemu-system-x86), and run through the wrapper
# QEMU_MIG_DIR/qemu-system-x86_64, which sets -L (its firmware),
# LD_LIBRARY_PATH and QEMU_MODULE_DIR (its modules, not Debian 12's: a module
# of another build aborts qemu). Kept between runs; remove the directory to
# fetch it again.
QEMU_MIG_DIR=${QEMU_MIG_DIR:-$PASST_ROOT/build/qemu10}
QEMU_MIG_PKGS=(qemu-system-x86 qemu-system-common qemu-system-data seabios)

# qemu_at_least BINARY MAJOR MINOR: BINARY --version is at least MAJOR.MINOR.
qemu_at_least() {
	local v
	v=$(timeout 20 "$1" --version 2>/dev/null |
		sed -n 's/^QEMU emulator version \([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
	[ -n "$v" ] || return 1
	set -- "${v% *}" "${v#* }" "$2" "$3"
	[ "$1" -gt "$3" ] || { [ "$1" -eq "$3" ] && [ "$2" -ge "$4" ]; }
}

# qemu_mig_find: sets QEMU_MIG to a qemu-system-x86_64 that is at least 9.1:
# the system's if it is new enough, else the private one. Returns 1 if
# there is none. Works inside the hermetic host too.
qemu_mig_find() {
	QEMU_MIG=
	if command -v qemu-system-x86_64 >/dev/null && qemu_at_least qemu-system-x86_64 9 1; then
		QEMU_MIG=$(command -v qemu-system-x86_64)
		return 0
	fi
	[ -f "$QEMU_MIG_DIR/.complete" ] && qemu_at_least "$QEMU_MIG_DIR/qemu-system-x86_64" 9 1 ||
		return 1
	QEMU_MIG=$QEMU_MIG_DIR/qemu-system-x86_64
}

# _backports_deb PKG DIR: prints the path of PKG's bookworm-backports .deb,
# from apt's cache or downloaded into DIR.
_backports_deb() {
	local p=$1 dir=$2 ver
	ver=$(apt-cache madison "$p" 2>/dev/null |
		awk -F'|' -v s="$BACKPORTS/" 'index($3, s) { gsub(/ /, "", $2); print $2; exit }')
	[ -n "$ver" ] || { log "no $p in $BACKPORTS"; return 1; }
	_apt_deb "$p" "$ver" "$dir"
}

# _apt_deb PKG VERSION DIR: the .deb of PKG at VERSION, from apt's cache or
# downloaded into DIR.
_apt_deb() {
	local p=$1 ver=$2 dir=$3 f
	for f in "/var/cache/apt/archives/${p}_${ver/:/%3a}_"*.deb "$dir/${p}_${ver/:/%3a}_"*.deb; do
		[ -f "$f" ] && { echo "$f"; return 0; }
	done
	(cd "$dir" && apt_get download "$p=$ver" >&2) || return 1
	for f in "$dir/${p}_${ver/:/%3a}_"*.deb; do
		[ -f "$f" ] && { echo "$f"; return 0; }
	done
	return 1
}

# qemu_mig_kit: real root, outside the namespaces: unless qemu_mig_find
# succeeds, fetch and unpack the private qemu (see above). Elsewhere it does
# nothing; the test then skips if qemu_mig_find fails.
qemu_mig_kit() {
	[ -n "${PASST_TEST_HERMETIC:-}" ] && return 0
	qemu_mig_find && return 0
	_is_real_root && command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null ||
		return 0
	add_backports_source || return 0
	apt-cache madison qemu-system-x86 2>/dev/null | grep -q "$BACKPORTS/" ||
		apt_get update > /dev/null
	local debs=$QEMU_MIG_DIR.debs new=$QEMU_MIG_DIR.new p f dep ver
	rm -rf "$new"
	mkdir -p "$debs" "$new/root" || return 0
	for p in "${QEMU_MIG_PKGS[@]}"; do
		f=$(_backports_deb "$p" "$debs") || { log "cannot fetch $p from $BACKPORTS"; return 0; }
		log "unpacking $(basename "$f")"
		dpkg-deb -x "$f" "$new/root" || return 0
	done
	# Libraries the system lacks: the Depends of qemu-system-x86 that are
	# not installed (first of each alternative), unpacked alongside.
	f=$(_backports_deb qemu-system-x86 "$debs")
	for dep in $(dpkg-deb -f "$f" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/ //g'); do
		case $dep in qemu-* | seabios | ipxe-qemu) continue ;; esac
		dpkg-query -W -f='${Status}' "$dep" 2>/dev/null | grep -q "ok installed" && continue
		ver=$(apt-cache policy "$dep" 2>/dev/null | awk '$1 == "Candidate:" { print $2 }')
		if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
			log "no candidate for $dep"
			return 0
		fi
		f=$(_apt_deb "$dep" "$ver" "$debs") || { log "cannot fetch $dep"; return 0; }
		log "unpacking the library package $(basename "$f")"
		dpkg-deb -x "$f" "$new/root" || return 0
	done
	cat > "$new/qemu-system-x86_64" <<'SH'
#!/bin/sh
# Runs the qemu unpacked beside this script (guest_lib.sh: qemu_mig_kit).
R=$(dirname "$(readlink -f "$0")")/root
L=$R/usr/lib/x86_64-linux-gnu:$R/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH="$L${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export QEMU_MODULE_DIR="$R/usr/lib/x86_64-linux-gnu/qemu"
exec "$R/usr/bin/qemu-system-x86_64" -L "$R/usr/share/qemu" -L "$R/usr/share/seabios" "$@"
SH
	chmod 755 "$new/qemu-system-x86_64"
	if LD_LIBRARY_PATH=$new/root/usr/lib/x86_64-linux-gnu:$new/root/lib/x86_64-linux-gnu \
	   ldd "$new/root/usr/bin/qemu-system-x86_64" | grep 'not found' >&2; then
		log "the private qemu lacks libraries (above)"
		return 0
	fi
	qemu_at_least "$new/qemu-system-x86_64" 9 1 || { log "the private qemu does not run"; return 0; }
	touch "$new/.complete"
	rm -rf "$QEMU_MIG_DIR"
	mv "$new" "$QEMU_MIG_DIR"
	log "private qemu: $("$QEMU_MIG_DIR/qemu-system-x86_64" --version | head -n 1)"
}
