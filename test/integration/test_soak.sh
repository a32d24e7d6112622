#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# Churn: many short TCP connections both ways (namespace -> host over the
# tap, host -> namespace over the tap and over the loopback bypass), then
# UDP flows from their own source ports and ICMP echo sessions, through
# one daemonised pasta. Afterwards the daemon's descriptors must be back to
# their count before the churn (every flow holds at least one socket, so
# that also means no flow is left in the table) and its RSS within a small
# margin of where it started. Every exchange is checked (echoed bytes).
#
# Short by default; SOAK_TCP=100000 SOAK_UDP=5000 test/integration/run.sh
# -t 7200 test_soak for the long form. Prints the counts; no timing
# assertions. UDP and ICMP flows end at their idle timeouts (180 s and
# 60 s), which the test waits out.
# run.sh timeout: 600
. "$(dirname "$0")/lib.sh"

need_cmd python3 ping timeout
hermetic_host
[ -x "$PASTA" ] || fail "no pasta binary at $PASTA (build first)"

TCP_N=${SOAK_TCP:-2000}
UDP_N=${SOAK_UDP:-300}
ICMP_N=${SOAK_ICMP:-20}
PEER="python3 $(dirname "$0")/soak_peer.py"
# RSS may grow by this much (KiB): the first use of pages of tables that
# are allocated at start-up but not touched until flows use them.
RSS_MARGIN_KB=${SOAK_RSS_MARGIN_KB:-2048}
FD_MARGIN=2

d=$(new_tmpdir)

# await FILE SECONDS: wait for FILE to exist.
await() {
	wait_for "test -e $1" "$2" || fail "timed out waiting for $(basename "$1")"
}

fds() { ls "/proc/$pid/fd" | wc -l; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"; }

$PEER serve 5201 "$d/host_ready" &
await "$d/host_ready" 10

# The namespace side: an echo server, then its share of the churn on cue.
cat > "$d/ns.sh" <<EOF
$PEER serve 5202 $d/ns_ready &
while [ ! -e $d/go ]; do sleep 0.1; done
$PEER tcp $HOST_GW4 5201 $TCP_N > $d/ns_tcp4.out; echo \$? > $d/ns_tcp4.rc
$PEER tcp $HOST_GW6 5201 $TCP_N > $d/ns_tcp6.out; echo \$? > $d/ns_tcp6.rc
$PEER udp $HOST_GW4 5201 $UDP_N > $d/ns_udp4.out; echo \$? > $d/ns_udp4.rc
$PEER udp $HOST_GW6 5201 $UDP_N > $d/ns_udp6.out; echo \$? > $d/ns_udp6.rc
ok=0
for i in \$(seq $ICMP_N); do
	ping -c 1 -W 2 $HOST_GW4 > /dev/null 2>&1 && ok=\$((ok + 1))
	ping -6 -c 1 -W 2 $HOST_GW6 > /dev/null 2>&1 && ok=\$((ok + 1))
done
echo \$ok > $d/ns_icmp.out
touch $d/ns_done
while [ ! -e $d/finish ]; do sleep 0.1; done
EOF

# Daemonised, as Podman and scripts run it: the PID file names the daemon.
"$PASTA" --config-net -q -t 5202 -P "$d/pid" -- sh "$d/ns.sh" \
	> "$d/pasta.out" 2> "$d/pasta.err" < /dev/null &
on_cleanup "touch $d/finish"
await "$d/ns_ready" 20
await "$d/pid" 5
pid=$(cat "$d/pid")
[ -r "/proc/$pid/fd" ] || fail "can't read the daemon's descriptors (/proc/$pid/fd)"
fd0=$(fds) rss0=$(rss_kb)
log "before: $fd0 descriptors, RSS $rss0 KiB"

touch "$d/go"
$PEER tcp "$HOST_ADDR4" 5202 "$TCP_N" > "$d/host_tcp4.out" || fail "host -> ns TCP (tap, IPv4): $(cat "$d/host_tcp4.out")"
$PEER tcp "$HOST_ADDR6" 5202 "$TCP_N" > "$d/host_tcp6.out" || fail "host -> ns TCP (tap, IPv6): $(cat "$d/host_tcp6.out")"
$PEER tcp 127.0.0.1 5202 "$TCP_N" > "$d/host_lo4.out" || fail "host -> ns TCP (splice, IPv4): $(cat "$d/host_lo4.out")"
$PEER tcp ::1 5202 "$TCP_N" > "$d/host_lo6.out" || fail "host -> ns TCP (splice, IPv6): $(cat "$d/host_lo6.out")"
await "$d/ns_done" 600
peak_fd=$(fds)

for f in ns_tcp4 ns_tcp6 ns_udp4 ns_udp6; do
	check_eq "$(cat "$d/$f.rc")" 0 "$f: $(cat "$d/$f.out")"
done
icmp_ok=$(cat "$d/ns_icmp.out")
check_eq "$icmp_ok" $((2 * ICMP_N)) "echo replies (IPv4 and IPv6)"
for f in host_tcp4 host_tcp6 host_lo4 host_lo6 ns_tcp4 ns_tcp6 ns_udp4 ns_udp6; do
	log "$(cat "$d/$f.out")"
done
log "ICMP: $icmp_ok of $((2 * ICMP_N)) echo replies"
log "after the churn: $peak_fd descriptors (UDP and ICMP flows still open)"

# UDP (180 s) and ICMP (60 s) flows end when idle; TCP ones are gone by now.
wait_for "[ \$(fds) -le $((fd0 + FD_MARGIN)) ]" 240
fd1=$(fds) rss1=$(rss_kb)
log "at the end: $fd1 descriptors (before: $fd0), RSS $rss1 KiB (before: $rss0 KiB)"
[ "$fd1" -le $((fd0 + FD_MARGIN)) ] || fail "descriptors: $fd1 at the end, $fd0 before: flows or sockets leaked"
[ "$rss1" -le $((rss0 + RSS_MARGIN_KB)) ] || fail "RSS: $rss1 KiB at the end, $rss0 KiB before"
kill -0 "$pid" 2> /dev/null || fail "the daemon is gone"

touch "$d/finish"
wait_for "! kill -0 $pid" 10 || fail "pasta did not exit after its command"
exit 0
