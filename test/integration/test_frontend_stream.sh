#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# passt's stream back-end with no qemu: build/frontend (test/perf/frontend.cpp)
# connects a tap device in a new network namespace to passt -s, and that
# namespace's kernel is the guest. Checks, IPv4 and IPv6 each:
#   - ping from the guest to the gateway (ICMP echo through passt's ping
#     sockets to the host)
#   - guest -> host: socat in the guest sends 4 MiB of random bytes to the
#     gateway, which passt maps to the host's loopback where socat listens;
#     the file received is byte-for-byte the one sent
#   - host -> guest: socat on the host sends 4 MiB to 127.0.0.1 / ::1 port
#     5021, which passt forwards (-t 5021) to a socat listening in the
#     guest; same comparison
# and that the front-end counted frames both ways. This is also the test of
# the harness that test/perf/bench.sh uses for its passt rows. With
# FE_MODE=vhost-user (test_frontend_vhost_user.sh), the same over passt
# --vhost-user with the front-end's virtqueues; FE_TEST_MTU (default 65520)
# sets passt's -m and the tap's MTU.
. "$(dirname "$0")/lib.sh"
need_cmd ip timeout nsenter cmp
need_pkg socat socat
hermetic_host
. "$(dirname "$0")/frontend_lib.sh"
[ -x "$PASST" ] || fail "no passt binary at $PASST (build first)"
[ -x "$FRONTEND" ] || fail "no front-end at $FRONTEND (make perf-tools)"

d=$(new_tmpdir)
head -c $((4 << 20)) /dev/urandom > "$d/src"

FE_MODE=${FE_MODE:-stream}
case $FE_MODE in
stream) mode= ;;
vhost-user) mode=--vhost-user ;;
*) fail "FE_MODE: stream or vhost-user, not '$FE_MODE'" ;;
esac
MTU=${FE_TEST_MTU:-65520}
log "back-end: $FE_MODE, MTU $MTU"
bg_start sh -c "exec '$PASST' $mode -f -m $MTU -s '$d/p.sock' -t 5021 > '$d/passt.log' 2>&1"
passt_pid=$BG_PID
wait_for "[ -S '$d/p.sock' ]" 10 || fail "passt did not create its socket: $(cat "$d/passt.log")"
fe_start "$d/p.sock" "$d/fe.log" -m "$MTU"
fe_exec ip link show "$FE_IF" | grep -q "mtu $MTU " || fail "tap MTU is not $MTU"

for gw in "$HOST_GW4" "$HOST_GW6"; do
	fe_exec ping -c 1 -W 5 "$gw" > /dev/null || fail "ping $gw from the guest"
done

# guest -> host: to the gateway, which is the host's loopback
n=0
for fam in 4 6; do
	n=$((n + 1))
	if [ "$fam" = 4 ]; then gw=$HOST_GW4; lo=127.0.0.1; else gw="[$HOST_GW6]"; lo="[::1]"; fi
	bg_start socat -u "TCP$fam-LISTEN:$((5030 + n)),bind=$lo,reuseaddr" "OPEN:$d/out$n,creat,trunc"
	lst=$BG_PID
	wait_for "ss -ltn | grep -q ':$((5030 + n)) '" 10 || fail "host listener $lo"
	fe_exec timeout 60 socat -u "OPEN:$d/src" "TCP:$gw:$((5030 + n))" ||
		fail "guest -> host $gw: socat failed"
	wait_for "! kill -0 $lst" 30 || fail "guest -> host $gw: receiver did not finish"
	cmp "$d/src" "$d/out$n" || fail "guest -> host $gw: data differ"
	log "guest -> host via $gw: 4 MiB byte-exact"
done

# host -> guest: inbound forwarding of port 5021 to the guest's listener
for lo in 127.0.0.1 ::1; do
	n=$((n + 1))
	rm -f "$d/in$n"
	bg_start nsenter -t "$FE_PID" -n -- socat -u TCP6-LISTEN:5021,ipv6only=0,reuseaddr \
		"OPEN:$d/in$n,creat,trunc"
	lst=$BG_PID
	wait_for "fe_exec ss -ltn | grep -q ':5021 '" 10 || fail "guest listener"
	addr=$lo
	[ "$lo" = ::1 ] && addr="[::1]"
	timeout 60 socat -u "OPEN:$d/src" "TCP:$addr:5021" || fail "host -> guest $lo: socat failed"
	wait_for "! kill -0 $lst" 30 || fail "host -> guest $lo: receiver did not finish"
	cmp "$d/src" "$d/in$n" || fail "host -> guest $lo: data differ"
	log "host -> guest via $lo: 4 MiB byte-exact"
done

kill -0 "$passt_pid" || fail "passt exited: $(tail -n 20 "$d/passt.log")"
bg_stop "$FE_PID"
counts=$(cat "$d/fe.log")
log "$counts"
echo "$counts" | grep -Eq 'to passt [1-9][0-9]* frames.*from passt [1-9][0-9]* frames' ||
	fail "front-end counters: $counts"
exit 0
