#!/bin/bash
# shellcheck source-path=SCRIPTDIR disable=SC2016
# No heap after the sandbox (issue 10, item 5): the daemon runs a full
# workload with test/alloc_guard/alloc_guard.c preloaded, which ends the
# process with status 99 and an "alloc_guard: FUNCTION(SIZE) after the
# sandbox was entered" line (and a backtrace) on the first malloc, calloc,
# realloc, operator new... once prctl(PR_SET_NO_NEW_PRIVS) was called, as
# the sandbox's last stage does. Asserted: no such line, no status 99, and
# the guard was armed at all (its "alloc-guard: armed" note, and Seccomp 2 /
# NoNewPrivs 1 in the daemon's /proc status).
#
# 0. Self-check: the guard is built here (cc -shared ... -ldl) with two small
#    programs; malloc after PR_SET_NO_NEW_PRIVS under a write/exit_group-only
#    seccomp filter, and C++ new after it, must end with 99 and the line;
#    free after it must not.
# 1. One pasta (-t/-u/-T/-U auto, --debug) spawning a command that runs,
#    on request, what the namespace side needs (a FIFO of command lines):
#    - TCP tap path, cmp'd: 4 MiB namespace -> host (IPv4 and IPv6, to the
#      gateway, a host listener on 127.0.0.1 / ::1) and 4 MiB host -> ns
#      (IPv4 and IPv6, to the host's own address, through the -t auto
#      listener that follows a listener started in the namespace)
#    - TCP loopback bypass (splice), cmp'd: 4 MiB each way over 127.0.0.1
#      (-T auto follows the host listener, -t auto the namespace one)
#    - 1000 short TCP connections (echo of one line each) from the namespace
#      in batches of 100 in parallel, over the tap path, and 1000 more over
#      the splice path
#    - UDP echoes both ways (tap and splice), payloads compared
#    - ICMP and ICMPv6 echo to the gateway
#    - auto rescans: 3 rounds of 300 TCP and 20 UDP ports bound in the
#      namespace (600 host listeners, more than any small reserve), plus
#      20 TCP and UDP ports on the host's loopback, waited for on the other
#      side and closed again
#    then the command exits and pasta with it: status 0, not 99.
# 2. passt with a real qemu guest, stream and vhost-user back-ends: the flow
#    of test_passt_guest.sh (DHCP, SLAAC, ping, 8 MiB TCP each way, UDP, a
#    second boot, SIGTERM) with PASST pointing at a wrapper that preloads
#    the guard and copies passt's stderr to a log checked here.
# The two guest flows take 100 s on an idle machine and near 300 s (the
# default per-test limit) on a loaded one:
# run.sh timeout: 900
. "$(dirname "$0")/lib.sh"

GUEST_DIR=${GUEST_DIR:-$PASST_ROOT/build/guest}
if [ -z "${PASST_TEST_HERMETIC:-}" ]; then
	# Before entering the hermetic host: apt-get needs the real network.
	NO_HEAP_GUEST_KIT=1
	"$PASST_ROOT/test/guest/build_initramfs.sh" "$GUEST_DIR" >&2 || NO_HEAP_GUEST_KIT=0
	export NO_HEAP_GUEST_KIT
fi
need_pkg socat socat
need_pkg ping iputils-ping
need_pkg cc gcc
need_pkg g++ g++
need_cmd ip ss cmp head python3 timeout
hermetic_host
[ -x "$PASTA" ] || fail "no pasta binary at $PASTA (build first)"
[ -x "$PASST" ] || fail "no passt binary at $PASST (build first)"
t_start=$SECONDS

d=$(new_tmpdir)
chmod 755 "$d"
so=$d/alloc_guard.so

# ---- 0. the guard, and proof that it bites -----------------------------------
cc -shared -fPIC -O2 -Wall -o "$so" "$PASST_ROOT/test/alloc_guard/alloc_guard.c" -ldl ||
	fail "can't build the guard"
cat > "$d/self.c" <<'EOF'
/* malloc after PR_SET_NO_NEW_PRIVS, under a seccomp filter as strict as
 * can be (write, exit_group): the guard must end us with 99. "free": only
 * a free() after arming, which must pass (status 0). */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv) {
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_write, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit_group, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };
	char *volatile p = malloc(64); /* volatile: not optimised away */
	int free_only = argc > 1 && !strcmp(argv[1], "free");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		return 2;
	free(p);
	if (!free_only)
		p = malloc(123);
	syscall(SYS_exit_group, free_only ? 0 : 3);
}
EOF
cat > "$d/selfxx.cpp" <<'EOF'
// operator new after PR_SET_NO_NEW_PRIVS: libstdc++ calls malloc.
#include <sys/prctl.h>
int main() {
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return 2;
	int *volatile p = new int[1000];
	return p ? 3 : 4;
}
EOF
cc -O2 -o "$d/self" "$d/self.c" || fail "can't build the self-check"
g++ -O2 -o "$d/selfxx" "$d/selfxx.cpp" || fail "can't build the C++ self-check"
LD_PRELOAD=$so "$d/self" 2> "$d/self.err"
rc=$?
[ "$rc" = 99 ] || fail "self-check: malloc after the sandbox: status $rc, not 99 ($(cat "$d/self.err"))"
grep -q '^alloc_guard: malloc(123) after the sandbox was entered, pid [0-9]*$' "$d/self.err" ||
	fail "self-check: no guard line for malloc: $(cat "$d/self.err")"
LD_PRELOAD=$so "$d/selfxx" 2> "$d/selfxx.err"
rc=$?
[ "$rc" = 99 ] || fail "self-check: new after the sandbox: status $rc, not 99 ($(cat "$d/selfxx.err"))"
grep -q '^alloc_guard: malloc(4000) after the sandbox was entered' "$d/selfxx.err" ||
	fail "self-check: no guard line for new: $(cat "$d/selfxx.err")"
ALLOC_GUARD_NOTE=1 LD_PRELOAD=$so "$d/self" free 2> "$d/free.err"
rc=$?
[ "$rc" = 0 ] || fail "self-check: free after the sandbox: status $rc ($(cat "$d/free.err"))"
grep -q '^alloc_guard:' "$d/free.err" && fail "self-check: free was flagged: $(cat "$d/free.err")"
grep -q '^alloc-guard: armed, pid' "$d/free.err" || fail "self-check: no arming note"
log "self-check: the guard ends malloc and new after PR_SET_NO_NEW_PRIVS with 99, lets free pass"

# ---- 1. pasta ------------------------------------------------------------------
MIB=4
for f in 4 6; do
	head -c $((MIB << 20)) /dev/urandom > "$d/out$f" || fail "can't create the data"
	head -c $((MIB << 20)) /dev/urandom > "$d/in$f" || fail "can't create the data"
done
head -c $((MIB << 20)) /dev/urandom > "$d/sp_out"
head -c $((MIB << 20)) /dev/urandom > "$d/sp_in"
bytes=0

cat > "$d/tool.py" <<'EOF'
import os, selectors, socket, sys, time

def fam(addr):
    return socket.AF_INET6 if ':' in addr else socket.AF_INET

cmd = sys.argv[1]
if cmd == 'tcp-echo':          # ADDR PORT READY: echo every connection
    addr, port = sys.argv[2], int(sys.argv[3])
    ls = socket.socket(fam(addr), socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(512)
    ls.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ)
    open(sys.argv[4], 'w').close()
    while True:
        for k, _ in sel.select():
            s = k.fileobj
            if s is ls:
                try:
                    c, _ = ls.accept()
                except OSError:
                    continue
                c.setblocking(False)
                sel.register(c, selectors.EVENT_READ)
                continue
            try:
                b = s.recv(65536)
            except OSError:
                b = b''
            if b:
                s.send(b)
            else:
                sel.unregister(s)
                s.close()
elif cmd == 'swarm':           # ADDR PORT N BATCH: N connections, BATCH at once
    addr, port, n, batch = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    ok = bad = 0
    t0 = time.time()
    for first in range(0, n, batch):
        sel = selectors.DefaultSelector()
        want = {}
        for i in range(first, min(n, first + batch)):
            s = socket.socket(fam(addr), socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex((addr, port))
            want[s] = b'conn %d\n' % i
            sel.register(s, selectors.EVENT_WRITE)
        got = {s: b'' for s in want}
        end = time.time() + 20
        while sel.get_map() and time.time() < end:
            for k, ev in sel.select(1):
                s = k.fileobj
                if ev & selectors.EVENT_WRITE:
                    if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                        bad += 1
                        sel.unregister(s)
                        s.close()
                        continue
                    s.send(want[s])
                    sel.modify(s, selectors.EVENT_READ)
                    continue
                try:
                    b = s.recv(100)
                except OSError:
                    b = b''
                got[s] += b
                if got[s] == want[s] or not b:
                    ok += got[s] == want[s]
                    bad += got[s] != want[s]
                    sel.unregister(s)
                    s.close()
        for k in list(sel.get_map().values()):
            bad += 1
            k.fileobj.close()
    print('%d of %d connections echoed, %d failed, in %.1f s' % (ok, n, bad, time.time() - t0))
    sys.exit(0 if ok == n else 1)
elif cmd == 'udp-echo':        # ADDR PORT READY
    s = socket.socket(fam(sys.argv[2]), socket.SOCK_DGRAM)
    s.bind((sys.argv[2], int(sys.argv[3])))
    open(sys.argv[4], 'w').close()
    while True:
        b, peer = s.recvfrom(65535)
        s.sendto(b, peer)
elif cmd == 'udp-check':       # ADDR PORT N: N datagrams, each echoed back intact
    addr, port, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    s = socket.socket(fam(addr), socket.SOCK_DGRAM)
    s.settimeout(1)
    ok = 0
    for i in range(n):
        data = bytes(((i * 31 + j * 7) & 0xff) for j in range((i * 997) % 9000))
        for attempt in range(5):   # the first ones may race the rescan
            s.sendto(data, (addr, port))
            try:
                if s.recv(65535) == data:
                    ok += 1
                    break
            except (socket.timeout, ConnectionRefusedError):
                pass
    print('udp %d of %d echoed' % (ok, n))
    # This test is about the heap, not delivery (test_udp.sh checks that
    # exactly): one datagram in 40 may stay unanswered under load. (Seen
    # once: 199 of 200, IPv6 through the tap path; not yet explained.)
    sys.exit(0 if ok >= n - n // 40 else 1)
elif cmd == 'bind-many':       # tcp|udp FIRST N READY STOP: dual-stack, until STOP
    proto, first, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    socks = []
    for p in range(first, first + n):
        s = socket.socket(socket.AF_INET6,
                          socket.SOCK_STREAM if proto == 'tcp' else socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(('::', p))
        if proto == 'tcp':
            s.listen(4)
        socks.append(s)
    open(sys.argv[5], 'w').close()
    while not os.path.exists(sys.argv[6]):
        time.sleep(0.05)
    for s in socks:
        s.close()
elif cmd == 'count':           # tcp|udp FIRST N: listening sockets on those ports
    proto, first, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    c = 0
    for f in ('tcp', 'tcp6') if proto == 'tcp' else ('udp', 'udp6'):
        try:
            lines = open('/proc/net/' + f).read().splitlines()[1:]
        except OSError:
            continue
        for l in lines:
            x = l.split()
            port = int(x[1].rsplit(':', 1)[1], 16)
            listening = x[3] == ('0A' if proto == 'tcp' else '07')
            if listening and first <= port < first + n and x[2].endswith(':0000'):
                c += 1
    print(c)
EOF

# The namespace side: runs each line "ID COMMAND" written to the FIFO,
# output in ns.ID.out, status in ns.ID.rc; "quit" ends it (and pasta).
cat > "$d/ns.sh" <<'EOF'
d=$1
cd "$d" || exit 1
exec 3<> "$d/ns.fifo"
touch "$d/ns_up"
while read -r id cmd <&3; do
	[ "$id" = quit ] && exit 0
	sh -c "$cmd" > "$d/ns.$id.out" 2>&1 < /dev/null
	echo $? > "$d/ns.$id.rc.tmp" && mv "$d/ns.$id.rc.tmp" "$d/ns.$id.rc"
done
EOF
mkfifo "$d/ns.fifo"
ns_id=

# in_ns TIMEOUT_S COMMAND: runs COMMAND (sh) in the namespace, waits for it;
# its status is returned, its output is in $d/ns.$ns_id.out. (The id is a
# fresh file name: in_ns also runs in subshells, $(...).)
in_ns() {
	ns_id=$(mktemp -u -p "$d" XXXXXXXX) && ns_id=${ns_id##*/}
	printf '%s %s\n' "$ns_id" "$2" > "$d/ns.fifo"
	wait_for "[ -e '$d/ns.$ns_id.rc' ]" "$1" || fail "namespace command timed out: $2"
	return "$(cat "$d/ns.$ns_id.rc")"
}
ns_out() {
	cat "$d/ns.$ns_id.out"
}

# host_count / ns_count tcp|udp FIRST N: how many listening sockets (any
# family, wildcard or loopback) are bound to ports FIRST..FIRST+N-1.
host_count() {
	python3 "$d/tool.py" count "$@"
}
ns_count() {
	in_ns 10 "python3 tool.py count $*" >/dev/null
	ns_out
}

bg_start sh -c "ALLOC_GUARD_NOTE=1 LD_PRELOAD='$so' exec '$PASTA' --config-net -f -d \
	-t auto -u auto -T auto -U auto -- env -u LD_PRELOAD sh '$d/ns.sh' '$d' \
	> '$d/pasta.log' 2>&1"
pasta_pid=$BG_PID
on_cleanup "echo quit > '$d/ns.fifo' &"
on_cleanup "if grep -q '^alloc_guard:' '$d/pasta.log'; then echo 'pasta allocated after the sandbox:' >&2; \
	grep -A16 '^alloc_guard:' '$d/pasta.log' >&2; else tail -n 20 '$d/pasta.log' >&2; fi"
wait_for "[ -e '$d/ns_up' ]" 20 || fail "pasta did not start the command: $(tail "$d/pasta.log")"
# The command may start before pasta's last sandbox stage: wait for it.
wait_for "grep -q '^Seccomp:[[:space:]]*2' /proc/$pasta_pid/status" 10 ||
	fail "pasta runs without a seccomp filter: the guard would check nothing"
grep -q "^NoNewPrivs:[[:space:]]*1" "/proc/$pasta_pid/status" || fail "pasta: NoNewPrivs is not 1"
wait_for "grep -q '^alloc-guard: armed' '$d/pasta.log'" 5 || fail "the guard was not armed in pasta"
log "pasta $pasta_pid: sandboxed (NoNewPrivs 1, Seccomp 2), guard armed"

# -- TCP, tap path, namespace -> host: to the gateway, host's loopback
for f in 4 6; do
	if [ $f = 4 ]; then lo=127.0.0.1 gw=$HOST_GW4; else lo="[::1]" gw="[$HOST_GW6]"; fi
	port=$((31000 + f))
	bg_start sh -c "exec socat -u TCP$f-LISTEN:$port,bind=$lo,reuseaddr OPEN:$d/got_out$f,creat,trunc"
	sink=$BG_PID
	wait_for "ss -Htln 'sport = :$port' | grep -q ." 10 || fail "host listener $port"
	in_ns 60 "socat -u OPEN:out$f TCP$f:$gw:$port" || fail "IPv$f ns -> host: $(ns_out)"
	wait_for "! kill -0 $sink" 20 || fail "IPv$f ns -> host: sink did not finish"
	cmp "$d/out$f" "$d/got_out$f" || fail "IPv$f ns -> host (tap): data differs"
	bytes=$((bytes + (MIB << 20)))
done
log "TCP tap namespace -> host: $MIB MiB IPv4 + $MIB MiB IPv6, identical"

# -- TCP, tap path, host -> namespace: -t auto follows a namespace listener
port=31010
in_ns 10 "socat -u TCP6-LISTEN:$port,ipv6only=0,reuseaddr,fork OPEN:got_in,creat,append \
	> sink.log 2>&1 & echo \$! > sink.pid" || fail "namespace sink: $(ns_out)"
wait_for "[ \$(host_count tcp $port 1) = 2 ]" 10 || fail "-t auto: host does not listen on $port"
for f in 4 6; do
	if [ $f = 4 ]; then a=$HOST_ADDR4; else a="[$HOST_ADDR6]"; fi
	rm -f "$d/got_in"
	timeout 60 socat -u "OPEN:$d/in$f" "TCP$f:$a:$port" || fail "IPv$f host -> ns: socat"
	wait_for "cmp -s '$d/in$f' '$d/got_in'" 20 || fail "IPv$f host -> ns (tap): data differs"
	bytes=$((bytes + (MIB << 20)))
done
log "TCP tap host -> namespace (-t auto): $MIB MiB IPv4 + $MIB MiB IPv6, identical"

# -- TCP, splice, host -> namespace: the same listener, from 127.0.0.1
rm -f "$d/got_in"
timeout 60 socat -u "OPEN:$d/sp_in" "TCP4:127.0.0.1:$port" || fail "splice host -> ns: socat"
wait_for "cmp -s '$d/sp_in' '$d/got_in'" 20 || fail "host -> ns (splice): data differs"
bytes=$((bytes + (MIB << 20)))
in_ns 10 'kill $(cat sink.pid)'
wait_for "[ \$(host_count tcp $port 1) = 0 ]" 10 || fail "-t auto: host still listens on $port"

# -- TCP, splice, namespace -> host: -T auto follows a host listener
port=31020
bg_start sh -c "exec socat -u TCP4-LISTEN:$port,bind=127.0.0.1,reuseaddr OPEN:$d/got_sp,creat,trunc"
sink=$BG_PID
wait_for "[ \"\$(ns_count tcp $port 1)\" -ge 1 ]" 10 || fail "-T auto: namespace has no $port"
in_ns 60 "socat -u OPEN:sp_out TCP4:127.0.0.1:$port" || fail "splice ns -> host: $(ns_out)"
wait_for "! kill -0 $sink" 20 || fail "splice ns -> host: sink did not finish"
cmp "$d/sp_out" "$d/got_sp" || fail "ns -> host (splice): data differs"
bytes=$((bytes + (MIB << 20)))
log "TCP splice: $MIB MiB host -> namespace, $MIB MiB namespace -> host, identical"
grep -q "TCP splice: flow .*: namespace port $port -> host port $port" "$d/pasta.log" ||
	fail "the namespace -> host loopback connection was not spliced"

# -- 1000 connections, tap path and splice
port=31030
bg_start python3 "$d/tool.py" tcp-echo 127.0.0.1 $port "$d/echo_up"
wait_for "[ -e '$d/echo_up' ]" 10 || fail "host echo server"
wait_for "[ \"\$(ns_count tcp $port 1)\" -ge 1 ]" 10 || fail "-T auto: namespace has no $port"
in_ns 120 "python3 tool.py swarm $HOST_GW4 $port 1000 100" || fail "swarm (tap): $(ns_out)"
log "tap path: $(ns_out)"
in_ns 120 "python3 tool.py swarm 127.0.0.1 $port 1000 100" || fail "swarm (splice): $(ns_out)"
log "splice: $(ns_out)"
conns=2000

# -- UDP both ways, tap and splice
port=31040
bg_start python3 "$d/tool.py" udp-echo 127.0.0.1 $port "$d/u4_up"
bg_start python3 "$d/tool.py" udp-echo ::1 $port "$d/u6_up"
wait_for "[ -e '$d/u4_up' ] && [ -e '$d/u6_up' ]" 10 || fail "host UDP echo servers"
in_ns 60 "python3 tool.py udp-check $HOST_GW4 $port 200 && \
	python3 tool.py udp-check $HOST_GW6 $port 200" || fail "UDP ns -> host (tap): $(ns_out)"
wait_for "[ \"\$(ns_count udp $port 1)\" -ge 1 ]" 10 || fail "-U auto: namespace has no $port"
in_ns 60 "python3 tool.py udp-check 127.0.0.1 $port 200" ||
	fail "UDP ns -> host (splice): $(ns_out)"
port=31041
in_ns 10 "python3 tool.py udp-echo :: $port ns_u_up > /dev/null 2>&1 & echo \$! > u.pid" ||
	fail "namespace UDP echo"
wait_for "[ \"\$(host_count udp $port 1)\" -ge 1 ]" 10 || fail "-u auto: host has no $port"
python3 "$d/tool.py" udp-check $HOST_ADDR4 $port 200 > /dev/null || fail "UDP host -> ns (tap)"
python3 "$d/tool.py" udp-check 127.0.0.1 $port 200 > /dev/null || fail "UDP host -> ns (splice)"
in_ns 10 'kill $(cat u.pid)'
log "UDP: 200 datagrams (0-9000 bytes) echoed each: ns -> host IPv4, IPv6 (tap), IPv4 (splice); host -> ns (tap, splice)"
udp=1000

# -- ICMP
in_ns 30 "ping -c 10 -i 0.05 -W 2 $HOST_GW4 && ping -6 -c 10 -i 0.05 -W 2 $HOST_GW6" ||
	fail "ping: $(ns_out)"
log "ICMP: 10 echoes each to $HOST_GW4 and $HOST_GW6 answered"

# -- auto rescans: many ports come and go on both sides
# (below the ephemeral range, 32768 up, which our own flows' sockets use)
TP=20000 NT=300 UP=21000 NU=20 HP=22000 NH=20
for round in 1 2 3; do
	rm -f "$d/stop" "$d/t_up" "$d/u_up" "$d/ht_up" "$d/hu_up"
	in_ns 10 "python3 tool.py bind-many tcp $TP $NT t_up stop > bt.log 2>&1 & \
		python3 tool.py bind-many udp $UP $NU u_up stop > bu.log 2>&1 &" ||
		fail "namespace listeners"
	bg_start python3 "$d/tool.py" bind-many tcp $HP $NH "$d/ht_up" "$d/stop"
	bg_start python3 "$d/tool.py" bind-many udp $HP $NH "$d/hu_up" "$d/stop"
	wait_for "[ -e '$d/t_up' ] && [ -e '$d/u_up' ]" 10 || fail "namespace listeners: $(cat "$d/bt.log" "$d/bu.log")"
	wait_for "[ \$(host_count tcp $TP $NT) = $((2 * NT)) ] && [ \$(host_count udp $UP $NU) = $((2 * NU)) ]" 15 ||
		fail "round $round: host has $(host_count tcp $TP $NT) TCP, $(host_count udp $UP $NU) UDP of the namespace's ports"
	wait_for "[ \"\$(ns_count tcp $HP $NH)\" -ge $NH ] && [ \"\$(ns_count udp $HP $NH)\" -ge $NH ]" 15 ||
		fail "round $round: namespace has $(ns_count tcp $HP $NH) TCP, $(ns_count udp $HP $NH) UDP of the host's ports"
	touch "$d/stop"
	wait_for "[ \$(host_count tcp $TP $NT) = 0 ] && [ \$(host_count udp $UP $NU) = 0 ]" 15 ||
		fail "round $round: host still has $(host_count tcp $TP $NT) TCP listeners"
	wait_for "[ \"\$(ns_count tcp $HP $NH)\" = 0 ] && [ \"\$(ns_count udp $HP $NH)\" = 0 ]" 15 ||
		fail "round $round: namespace still has the host's ports"
done
log "auto: 3 rounds of $NT TCP + $NU UDP namespace ports ($((2 * NT + 2 * NU)) host sockets) and $NH + $NH host ports, followed both ways"

# -- the end: the command exits, so does pasta
kill -0 "$pasta_pid" 2>/dev/null || fail "pasta died during the run"
echo quit > "$d/ns.fifo"
wait_for "! kill -0 $pasta_pid" 10 || fail "pasta did not exit with its command"
wait "$pasta_pid"
rc=$?
log "pasta: $((bytes >> 20)) MiB over TCP checked with cmp, $conns connections, $udp datagrams,"
log "  20 pings, 3 port rescan rounds in $((SECONDS - t_start)) s; exit status $rc"
# From here on, a failed check is recorded and the rest still runs.
nbad=0
bad() {
	log "FAIL: $*"
	nbad=$((nbad + 1))
}
if grep -q '^alloc_guard:' "$d/pasta.log"; then
	bad "pasta allocated after the sandbox: $(grep -A8 '^alloc_guard:' "$d/pasta.log")"
elif [ "$rc" = 99 ]; then
	bad "pasta (or its helper) ended with the guard's status 99"
elif [ "$rc" = 159 ]; then
	bad "pasta was killed by SIGSYS (a system call outside its seccomp allowlist) at exit"
elif [ "$rc" != 0 ]; then
	bad "pasta exited with status $rc: $(tail -n 5 "$d/pasta.log")"
else
	log "pasta: no allocation after the sandbox, exit status 0"
fi

# ---- 2. passt with a qemu guest, stream and vhost-user ------------------------
if [ "${NO_HEAP_GUEST_KIT:-1}" = 0 ] || [ ! -e "$GUEST_DIR/vmlinuz" ]; then
	log "SKIPPED the qemu guest parts: no guest kit ($GUEST_DIR)"
	[ "$nbad" = 0 ] || fail "$nbad check(s) failed"
	exit 0
fi
# Each back-end in a hermetic host of its own (as run.sh runs the guest
# tests: the first run's TIME_WAIT sockets would hold the second's ports),
# which hides our /tmp: the guard, a copy of passt and the wrapper that
# test_passt_guest.sh runs as PASST go to a directory under build/. The
# wrapper preloads the guard and copies passt's stderr to guard.log; exec,
# so that the PID the test signals is passt's.
mkdir -p "$PASST_ROOT/build" || fail "no build directory"
g=$(mktemp -d -p "$PASST_ROOT/build" no_heap.XXXXXX) || fail "can't create a directory in build/"
on_cleanup "rm -rf '$g'"
chmod 755 "$g"
mkdir "$g/bin"
{ cp "$so" "$g/alloc_guard.so" && cp "$PASST" "$g/bin/passt"; } || fail "can't copy passt"
cat > "$g/passt" <<EOF
#!/bin/bash
exec 2> >(tee -a '$g/guard.log' >&2)
ALLOC_GUARD_NOTE=1 LD_PRELOAD='$g/alloc_guard.so' exec '$g/bin/passt' "\$@"
EOF
chmod 755 "$g/passt"
for backend in stream vhost-user; do
	: > "$g/guard.log"
	t0=$SECONDS
	env -u PASST_TEST_HERMETIC GUEST_BACKEND=$backend PASST="$g/passt" GUEST_DIR="$GUEST_DIR" \
		timeout 240 bash "$PASST_ROOT/test/integration/test_passt_guest.sh" > "$d/guest.log" 2>&1
	rc=$?
	sleep 0.2 # tee's last lines
	cp "$g/guard.log" "$d/guard.log"
	if grep -q '^alloc_guard:' "$d/guard.log"; then
		bad "passt ($backend) allocated after the sandbox: $(grep -A8 '^alloc_guard:' "$d/guard.log")"
	elif [ "$rc" = 77 ]; then
		log "SKIPPED passt $backend: $(tail -n 1 "$d/guest.log")"
	elif [ "$rc" != 0 ]; then
		bad "guest test ($backend) failed ($rc): $(grep -E 'FAIL|exit status|SIGSYS|Bad system' "$d/guest.log" | head -n 20)"
	elif ! grep -q '^alloc-guard: armed' "$d/guard.log"; then
		bad "the guard was not armed in passt ($backend)"
	else
		log "passt $backend: guest flow passed in $((SECONDS - t0)) s, no allocation after the sandbox"
	fi
done
log "total $((SECONDS - t_start)) s"
[ "$nbad" = 0 ] || fail "$nbad check(s) failed"
exit 0
