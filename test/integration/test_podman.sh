#!/bin/bash
# shellcheck source-path=SCRIPTDIR disable=SC2016
# Replays what Podman 5 runs for a rootless container with pasta networking
# (Podman 4.3.1 on Debian 12 has no pasta mode and can't start containers
# here). Podman (containers/common libnetwork/pasta) builds the command line
# as
#   --config-net [-t HOSTIP/H-H:C-C ...] [-u HOSTIP/H-H:C-C ...]
#   --dns-forward 169.254.1.1 [-t none] [-u none] -T none -U none
#   --no-map-gw --quiet --netns PATH --map-guest-addr 169.254.1.2
# (port options come first, "none" only for kinds without ports, and
# --map-guest-addr last), where PATH is a network namespace bind-mounted on
# a file, /run/user/UID/netns/netns-UUID. It runs that with
# exec.Command().CombinedOutput(), so it waits both for pasta to return and
# for the end of its stdout/stderr pipe; any output is logged as warnings.
# Then it reads the namespace's addresses at once, writes 169.254.1.1 to
# the container's resolv.conf and 169.254.1.2 as host.containers.internal.
# It stops pasta by unmounting and removing PATH (or pasta is killed).
#
# Cases: 1. the default command line; 2. with Podman's port forms (-p
# 127.0.0.1:8080:80/tcp and /udp); 3. the newer form, which adds --pid FILE
# (before --netns), reads the PID at once, removes FILE's directory and
# stops pasta with SIGTERM; 4. case 1 again as Podman really runs rootless,
# as root of an unprivileged user's own user and mount namespaces.
# Checked:
# - pasta returns with status 0, having printed nothing, and its output
#   pipe is closed (else Podman would wait forever); one pasta daemon (the
#   process holding the tap) stays in the background;
# - when it returns the namespace is ready: addresses, routes, the tap link
#   up with carrier, the forwarded ports listening on 127.0.0.1 only;
# - DNS to 169.254.1.1 in the namespace reaches the host's resolver (from
#   /etc/resolv.conf: a stub on 127.0.0.53 that the test runs) and the
#   answer comes back from 169.254.1.1;
# - TCP to 169.254.1.2 reaches a listener bound only to the host's address
#   the namespace was given (192.0.2.2, see --map-guest-addr in passt(1)),
#   byte-exact both ways;
# - host 127.0.0.1:8080 reaches port 80 in the namespace: a TCP transfer
#   both ways (cmp) and a UDP datagram with its reply;
# - pasta exits within 5 s once PATH is unmounted and removed, as Podman's
#   cleanup does, and within 1 s of SIGTERM (Podman's other way), leaving
#   no process of its own behind.
. "$(dirname "$0")/lib.sh"

need_pkg socat socat
need_cmd ip ss unshare nsenter timeout mount umount python3 cmp head pgrep stat
hermetic_host
[ -x "$PASTA" ] || fail "no pasta binary at $PASTA (build first)"

DNS_STUB=127.0.0.53
DNS_FWD=169.254.1.1
MAP_GUEST=169.254.1.2
ANSWER=203.0.113.7

alive() { # PID: exists and is not a zombie
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)
	[ -n "$st" ] && [ "$st" != Z ]
}

# ---- the namespace, as Podman makes it --------------------------------------
# Podman: a shared bind mount of /run/user/UID/netns on itself, then an empty
# file netns-UUID there with a new network namespace bind-mounted on it.
# make_nsdir BASE: sets that up under BASE, leaves the directory in NSDIR.
make_nsdir() {
	NSDIR=$1/run/user/$(id -u)/netns
	check mkdir -p "$NSDIR"
	check mount --bind "$NSDIR" "$NSDIR"
	check mount --make-shared "$NSDIR"
	on_cleanup "for f in '$NSDIR'/netns-*; do [ -e \"\$f\" ] && del_netns \"\$f\"; done;
		umount -l '$NSDIR'; true"
}

# new_netns: creates one in NSDIR, leaves its path in NSPATH.
new_netns() {
	NSPATH=$NSDIR/netns-$(cat /proc/sys/kernel/random/uuid)
	check touch "$NSPATH"
	check unshare --net="$NSPATH" true
	[ "$(stat -f -c %T "$NSPATH")" = nsfs ] || fail "$NSPATH is not a namespace bind mount"
}

# Podman's cleanup: unmount (detached) and remove.
del_netns() {
	umount -l "$1" 2>/dev/null
	rm -f "$1"
}

in_ns() { nsenter --net="$NSPATH" "$@"; }

# serving_pids: the pasta processes started for NSPATH.
serving_pids() {
	local p
	for p in $(pgrep -x pasta); do
		tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -qF -- "--netns $NSPATH " &&
			alive "$p" && echo "$p"
	done
}

# pasta_pid: the daemon among them, the one holding the tap device (Podman 5
# passes no --pid; helper processes of the daemon may carry its command line).
pasta_pid() {
	local p f
	for p in $(serving_pids); do
		for f in "/proc/$p/fd"/*; do
			if [ "$(readlink "$f" 2>/dev/null)" = /dev/net/tun ]; then
				echo "$p"
				break
			fi
		done
	done
}

# start_pasta TAG ARG...: runs pasta as Podman does, checks it returned 0
# silently with its pipe closed, leaves the daemon's PID in PID. Output in
# $W/TAG.out.
start_pasta() {
	local tag=$1 res n
	shift
	log "$tag: pasta $*"
	res=$(python3 "$D/run_like_podman.py" "$W/$tag.out" "$PASTA" "$@")
	case $res in
	hang) fail "$tag: pasta did not return within 20 s" ;;
	pipe-open*) fail "$tag: pasta returned (status ${res#pipe-open }) but its" \
		"stdout/stderr pipe stayed open 20 s: Podman's CombinedOutput() would never return" ;;
	esac
	check_eq "$res" 0 "$tag: exit status of pasta (output: $(cat "$W/$tag.out"))"
	check_eq "$(cat "$W/$tag.out")" "" "$tag: output of pasta --quiet"
	PID=$(pasta_pid)
	n=$(echo "$PID" | grep -c .)
	check_eq "$n" 1 "$tag: pasta daemons serving $NSPATH after it returned"
}

# check_ready TAG: the namespace as Podman reads it right after pasta returns.
check_ready() {
	local tag=$1 flags
	check_eq "$(in_ns ip -o -4 addr show dev "$HOST_IF" | awk '{ print $4 }')" \
		"$HOST_ADDR4/$HOST_PREFIX4" "$tag: IPv4 address in the namespace"
	check_eq "$(in_ns ip -o -6 addr show dev "$HOST_IF" scope global |
		awk '{ print $4 }')" "$HOST_ADDR6/$HOST_PREFIX6" "$tag: IPv6 address in the namespace"
	in_ns ip -6 addr show dev "$HOST_IF" scope global | grep -q tentative &&
		fail "$tag: global IPv6 address still tentative"
	check_eq "$(in_ns ip -4 route show default | awk '{ $1 = $1; print }')" \
		"default via $HOST_GW4 dev $HOST_IF" "$tag: IPv4 default route"
	in_ns ip -6 route show default | grep -q "^default via $HOST_GW6 dev $HOST_IF" ||
		fail "$tag: IPv6 default route: '$(in_ns ip -6 route show default)'"
	flags=$(in_ns ip -o link show dev "$HOST_IF" | sed -n 's/^[^<]*<\([^>]*\)>.*/\1/p')
	case ",$flags," in
	*,UP,*) ;;
	*) fail "$tag: $HOST_IF not up: <$flags>" ;;
	esac
	case ",$flags," in
	*,LOWER_UP,*) ;;
	*) fail "$tag: $HOST_IF has no carrier (nothing holds the tap): <$flags>" ;;
	esac
	in_ns ip -o link show dev lo | grep -q '[<,]UP[,>]' || fail "$tag: lo down in the namespace"
}

# check_dns TAG: a query to 169.254.1.1 in the namespace is answered by the
# stub on the host's loopback, which saw it.
check_dns() {
	local tag=$1 ans
	ans=$(in_ns timeout 10 python3 "$D/dns.py" query "$DNS_FWD" "$tag.test.example" 2>&1)
	check_eq "$ans" "$ANSWER" "$tag: A record for $tag.test.example via $DNS_FWD"
	grep -q "^$tag\.test\.example 1\$" "$D/dns.log" ||
		fail "$tag: the host's resolver did not see the query: $(cat "$D/dns.log")"
}

# check_map_guest TAG PORT: TCP from the namespace to 169.254.1.2 reaches a
# listener bound only to the host's address that the namespace was given,
# byte-exact both ways.
check_map_guest() {
	local tag=$1 port=$2 srv
	rm -f "$W/got_fwd" "$W/got_back"
	bg_start sh -c "exec timeout 30 socat -t 10 TCP-LISTEN:$port,bind=$HOST_ADDR4,reuseaddr \
		SYSTEM:'cat > $W/got_fwd; cat $D/data_back' 2> '$W/mg_srv.log'"
	srv=$BG_PID
	wait_for "ss -Htln 'sport = :$port' | grep -q '$HOST_ADDR4:$port'" 10 ||
		fail "$tag: listener on $HOST_ADDR4:$port did not start"
	in_ns timeout 30 socat -t 10 "OPEN:$D/data,rdonly!!OPEN:$W/got_back,creat,trunc,wronly" \
		"TCP:$MAP_GUEST:$port" 2> "$W/mg_cli.log" ||
		fail "$tag: connection to $MAP_GUEST:$port from the namespace: $(cat "$W/mg_cli.log")"
	wait_for "! alive $srv" 10
	cmp -s "$D/data" "$W/got_fwd" || fail "$tag: namespace -> host via $MAP_GUEST:" \
		"data differs ($(stat -c %s "$W/got_fwd" 2>/dev/null) of $(stat -c %s "$D/data") bytes)"
	cmp -s "$D/data_back" "$W/got_back" || fail "$tag: host -> namespace via $MAP_GUEST:" \
		"data differs ($(stat -c %s "$W/got_back" 2>/dev/null) of" \
		"$(stat -c %s "$D/data_back") bytes)"
}

# stopped_within PID SECONDS: true if PID ends within that time.
stopped_within() {
	local i
	for (( i = 0; i < $2 * 10; i++ )); do
		alive "$1" || return 0
		sleep 0.1
	done
	! alive "$1"
}

# default_case TAG PORT: Podman's default command line in a new namespace,
# the checks, then Podman's cleanup (unmount and remove the file).
default_case() {
	local tag=$1 port=$2 pid
	new_netns
	start_pasta "$tag" --config-net --dns-forward "$DNS_FWD" -t none -u none -T none -U none \
		--no-map-gw --quiet --netns "$NSPATH" --map-guest-addr "$MAP_GUEST"
	pid=$PID
	check_ready "$tag"
	# no port forwarded: nothing listens on the host (the stub is UDP)
	check_eq "$(ss -Htln | awk '{ print $4 }' | tr '\n' ' ')" "" "$tag: TCP listeners on the host"
	check_dns "$tag"
	check_map_guest "$tag" "$port"
	alive "$pid" || fail "$tag: pasta exited during the checks"

	del_netns "$NSPATH"
	stopped_within "$pid" 5 || fail "$tag: pasta still running 5 s after $NSPATH was" \
		"unmounted and removed"
	wait_for '[ -z "$(serving_pids)" ]' 2 ||
		fail "$tag: pasta processes left after the daemon exited: $(serving_pids)"
}

# ---- 4. (run by case 4 below) a rootless user's own namespaces --------------
# As Podman runs rootless: in the user's user and mount namespace, as its
# root, with the network namespace made there.
if [ "${1:-}" = rootless-inner ]; then
	D=$2
	W=$3
	make_nsdir "$W"
	default_case rootless 9002
	exit 0
fi

# ---- set-up -----------------------------------------------------------------
D=$(new_unpriv_tmpdir)   # readable by the rootless case
chmod 755 "$D"
W=$D

# the host's resolver: a stub on loopback, named by resolv.conf (we are in
# the hermetic host's own mount namespace: the bind mount is ours)
printf 'nameserver %s\nsearch %s\n' "$DNS_STUB" "$HOST_SEARCH" > "$D/resolv.conf"
chmod 644 "$D/resolv.conf"
check mount --bind "$D/resolv.conf" "$(realpath -m /etc/resolv.conf)"
on_cleanup 'umount -l "$(realpath -m /etc/resolv.conf)"'
check_eq "$(awk '$1 == "nameserver" { print $2; exit }' /etc/resolv.conf)" "$DNS_STUB" \
	"first nameserver of /etc/resolv.conf"

cat > "$D/dns.py" << 'EOF'
# stub ADDR READYFILE LOGFILE ANSWER: answers every A query with ANSWER,
#   logs "QNAME QTYPE" per query. Ends after 120 s.
# query SERVER QNAME: prints the A records of the answer (3 tries, 2 s each).
import os, select, socket, struct, sys, time

def qname_at(msg, off):
    labels = []
    while True:
        n = msg[off]
        off += 1
        if n == 0:
            return '.'.join(labels), off
        labels.append(msg[off:off + n].decode('ascii', 'replace'))
        off += n

def encode_name(name):
    out = b''
    for label in name.strip('.').split('.'):
        out += bytes([len(label)]) + label.encode()
    return out + b'\0'

if sys.argv[1] == 'stub':
    addr, ready, log, answer = sys.argv[2:6]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, 53))
    open(ready, 'w').close()
    end = time.time() + 120
    while time.time() < end:
        if not select.select([s], [], [], 1)[0]:
            continue
        msg, peer = s.recvfrom(4096)
        if len(msg) < 12:
            continue
        qid, flags, qd = struct.unpack('!HHH', msg[:6])
        name, off = qname_at(msg, 12)
        qtype, qclass = struct.unpack('!HH', msg[off:off + 4])
        with open(log, 'a') as f:
            f.write('%s %d\n' % (name, qtype))
        question = msg[12:off + 4]
        if qtype == 1:
            rr = b'\xc0\x0c' + struct.pack('!HHIH', 1, 1, 60, 4) + socket.inet_aton(answer)
            an = 1
        else:
            rr, an = b'', 0
        s.sendto(struct.pack('!HHHHHH', qid, 0x8180, 1, an, 0, 0) + question + rr, peer)
elif sys.argv[1] == 'query':
    server, name = sys.argv[2], sys.argv[3]
    qid = struct.unpack('!H', os.urandom(2))[0]
    q = struct.pack('!HHHHHH', qid, 0x0100, 1, 0, 0, 0) + encode_name(name) + \
        struct.pack('!HH', 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((server, 53))   # replies from any other address are not ours
    for _ in range(3):
        s.send(q)
        if not select.select([s], [], [], 2)[0]:
            continue
        r = s.recv(4096)
        rid, flags, qd, an = struct.unpack('!HHHH', r[:8])
        if rid != qid:
            continue
        if flags & 0xf:
            sys.exit('rcode %d' % (flags & 0xf))
        _, off = qname_at(r, 12)
        off += 4
        for _ in range(an):
            if r[off] & 0xc0 == 0xc0:
                off += 2
            else:
                _, off = qname_at(r, off)
            rtype, rclass, ttl, rdlen = struct.unpack('!HHIH', r[off:off + 10])
            off += 10
            if rtype == 1 and rdlen == 4:
                print(socket.inet_ntoa(r[off:off + 4]))
            off += rdlen
        sys.exit(0)
    sys.exit('no answer from %s' % server)
EOF

# Podman's way of calling: stdout and stderr on one pipe, wait for the exit
# status and for the pipe's end. Prints the exit status, or "hang" if pasta
# did not return, or "pipe-open STATUS" if it returned but the pipe stayed
# open (a daemon still holding it); the output goes to OUTFILE.
cat > "$D/run_like_podman.py" << 'EOF'
import subprocess, sys, time
out_file, argv = sys.argv[1], sys.argv[2:]
p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                     stderr=subprocess.STDOUT)
try:
    out, _ = p.communicate(timeout=20)
    res = str(p.returncode)
except subprocess.TimeoutExpired:
    res = 'hang' if p.poll() is None else 'pipe-open %d' % p.returncode
    if p.poll() is None:
        p.kill()
        p.wait()
    out = b''
    p.stdout.close()
open(out_file, 'wb').write(out)
print(res)
EOF

cat > "$D/udp.py" << 'EOF'
import select, socket, sys, time
if sys.argv[1] == 'echo':   # PORT READYFILE LOGFILE: answers "re:" + datagram, 3 times
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('0.0.0.0', int(sys.argv[2])))
    open(sys.argv[3], 'w').close()
    end, n = time.time() + 30, 0
    while n < 3 and time.time() < end:
        if select.select([s], [], [], 1)[0]:
            m, peer = s.recvfrom(65535)
            open(sys.argv[4], 'ab').write(m + b'\n')
            s.sendto(b're:' + m, peer)
            n += 1
else:                       # send ADDR PORT: one datagram, prints the reply
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((sys.argv[2], int(sys.argv[3])))
    msg = b'podman-udp-' + bytes(range(256)) * 4
    for _ in range(3):
        s.send(msg)
        if select.select([s], [], [], 2)[0]:
            r = s.recv(65535)
            sys.exit(0 if r == b're:' + msg else 'wrong reply: %d bytes' % len(r))
    sys.exit('no reply')
EOF

bg_start python3 "$D/dns.py" stub "$DNS_STUB" "$D/dns_ready" "$D/dns.log" "$ANSWER"
wait_for "test -e '$D/dns_ready'" 10 || fail "DNS stub did not start"

head -c $((4 << 20)) /dev/urandom > "$D/data" || fail "can't create test data"
head -c $((1 << 20)) /dev/urandom > "$D/data_back" || fail "can't create test data"
chmod 644 "$D"/*.py "$D/data" "$D/data_back"

make_nsdir "$D"

# ---- 1. Podman's default command line ---------------------------------------
default_case default 9000

# ---- 2. with Podman's port forms (-p 127.0.0.1:8080:80/tcp, .../udp) ----------
new_netns
start_pasta ports --config-net -t 127.0.0.1/8080-8080:80-80 -u 127.0.0.1/8080-8080:80-80 \
	--dns-forward "$DNS_FWD" -T none -U none --no-map-gw --quiet --netns "$NSPATH" \
	--map-guest-addr "$MAP_GUEST"
pid=$PID
check_ready ports

# the forwarded ports are there when pasta returns, on 127.0.0.1 only
check_eq "$(ss -Htln 'sport = :8080' | awk '{ print $4 }')" "127.0.0.1:8080" \
	"ports: TCP listeners for port 8080 on the host"
check_eq "$(ss -Huln 'sport = :8080' | awk '{ print $4 }')" "127.0.0.1:8080" \
	"ports: UDP sockets for port 8080 on the host"

# TCP: host 127.0.0.1:8080 -> namespace port 80, both ways byte-exact
rm -f "$D/got_fwd" "$D/got_back"
bg_start nsenter --net="$NSPATH" sh -c "exec timeout 30 socat -t 10 TCP-LISTEN:80,reuseaddr \
	SYSTEM:'cat > $D/got_fwd; cat $D/data_back' 2> '$D/p_srv.log'"
srv=$BG_PID
wait_for "in_ns ss -Htln 'sport = :80' | grep -q ':80'" 10 ||
	fail "ports: listener on port 80 in the namespace did not start"
timeout 30 socat -t 10 "OPEN:$D/data,rdonly!!OPEN:$D/got_back,creat,trunc,wronly" \
	TCP:127.0.0.1:8080 2> "$D/p_cli.log" ||
	fail "ports: TCP to 127.0.0.1:8080 on the host: $(cat "$D/p_cli.log")"
wait_for "! alive $srv" 10
cmp -s "$D/data" "$D/got_fwd" || fail "ports: TCP host:8080 -> namespace:80: data differs" \
	"($(stat -c %s "$D/got_fwd" 2>/dev/null) of $(stat -c %s "$D/data") bytes)"
cmp -s "$D/data_back" "$D/got_back" || fail "ports: TCP namespace:80 -> host:8080: data" \
	"differs ($(stat -c %s "$D/got_back" 2>/dev/null) of $(stat -c %s "$D/data_back") bytes)"

# UDP: a datagram to host 127.0.0.1:8080 reaches port 80 in the namespace,
# the reply comes back to the sender from 127.0.0.1:8080
rm -f "$D/udp_ready" "$D/udp.log"
bg_start nsenter --net="$NSPATH" python3 "$D/udp.py" echo 80 "$D/udp_ready" "$D/udp.log"
wait_for "test -e '$D/udp_ready'" 10 || fail "ports: UDP server in the namespace did not start"
out=$(timeout 20 python3 "$D/udp.py" send 127.0.0.1 8080 2>&1) ||
	fail "ports: UDP to 127.0.0.1:8080 on the host: $out (the namespace received" \
	"$(wc -l < "$D/udp.log" 2>/dev/null || echo 0) datagrams)"

# DNS and --map-guest-addr work with these options too
check_dns ports
check_map_guest ports 9001
alive "$pid" || fail "ports: pasta exited during the checks"

# Podman's other way to stop it: SIGTERM to the PID
kill -TERM "$pid"
stopped_within "$pid" 1 || fail "ports: pasta still running 1 s after SIGTERM"
wait_for '[ -z "$(serving_pids)" ]' 2 ||
	fail "ports: pasta processes left after the daemon exited: $(serving_pids)"
ss -Htln 'sport = :8080' | grep -q . && fail "ports: port 8080 still bound after pasta exited"
del_netns "$NSPATH"

# ---- 3. newer Podman: --pid FILE, read at once, its directory removed ---------
# (later containers/common: --map-guest-addr before --pid, --netns last; the
# PID file is in a directory of its own that Podman removes once it has read
# it, and it stops pasta with SIGTERM to that PID)
new_netns
pdir=$(mktemp -d -p "$D" pasta.XXXXXX)
start_pasta pidfile --config-net --dns-forward "$DNS_FWD" -t none -u none -T none -U none \
	--no-map-gw --quiet --map-guest-addr "$MAP_GUEST" --pid "$pdir/pasta.pid" --netns "$NSPATH"
pid=$PID
check_eq "$(cat "$pdir/pasta.pid" 2>/dev/null)" "$pid" "pidfile: PID in the PID file when pasta returned"
check_ready pidfile
rm -rf "$pdir"
check_dns pidfile
alive "$pid" || fail "pidfile: pasta exited during the checks"
kill -TERM "$pid"
stopped_within "$pid" 1 || fail "pidfile: pasta still running 1 s after SIGTERM"
wait_for '[ -z "$(serving_pids)" ]' 2 ||
	fail "pidfile: pasta processes left after the daemon exited: $(serving_pids)"
del_netns "$NSPATH"

# ---- 4. rootless: the default case in an unprivileged user's namespaces -----
if can_unprivileged; then
	w=$(new_unpriv_tmpdir)
	as_unprivileged unshare --user --map-root-user --mount --propagation private -- \
		"$BASH" "$TEST_SCRIPT" rootless-inner "$D" "$w" 2> "$w/inner.log"
	rc=$?
	cat "$w/inner.log" >&2
	[ "$rc" = 0 ] || fail "rootless case: exit status $rc"
else
	log "cannot run as an unprivileged user here: rootless case skipped"
fi

exit 0
