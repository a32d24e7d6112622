#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# Out of descriptors, new flows from the guest are refused out loud: pasta,
# started with a low RLIMIT_NOFILE, opens UDP flows for the namespace until
# socket() fails with EMFILE. Every later new flow must be refused at once:
# UDP with an ICMP/ICMPv6 "administratively prohibited" (the application
# sees EHOSTUNREACH / EACCES instead of waiting for a reply), TCP with an
# RST (ECONNREFUSED), ping with the same ICMP error; the log line saying so
# is rate-limited, and pasta keeps running.
. "$(dirname "$0")/lib.sh"

need_cmd python3 prlimit timeout socat ping
hermetic_host
[ -x "$PASTA" ] || fail "no pasta binary at $PASTA (build first)"

d=$(new_tmpdir)
LIMIT=64
COUNT=150
peer="python3 $(dirname "$(realpath "$0")")/refuse_peer.py"

$peer echo 6000 "$d/echo_ready" &
wait_for "test -e $d/echo_ready" 10 || fail "the UDP echo server did not start"
socat -u TCP-LISTEN:6001,fork,reuseaddr OPEN:/dev/null &
wait_for "ss -Htln | grep -q ':6001 '" 10 || fail "the TCP listener did not start"

printf '%s\n' \
	"$peer flows $HOST_GW4 6000 $COUNT > $d/udp4" \
	"$peer flows $HOST_GW6 6000 $COUNT > $d/udp6" \
	"$peer connect $HOST_GW4 6001 > $d/tcp4" \
	"ping -c 1 -W 3 $HOST_GW4 > $d/ping4 2>&1" \
	"ping -6 -c 1 -W 3 $HOST_GW6 > $d/ping6 2>&1" \
	"touch $d/ns_done" > "$d/ns.sh"
prlimit --nofile=$LIMIT:$LIMIT timeout 120 "$PASTA" -f --config-net \
	-t none -u none -T none -U none -- sh "$d/ns.sh" \
	> /dev/null 2> "$d/pasta.err" < /dev/null
rc=$?
[ -e "$d/ns_done" ] || fail "the namespace side did not finish (pasta status $rc): $(tail -5 "$d/pasta.err")"
[ "$rc" = 0 ] || fail "pasta exited with $rc: $(tail -5 "$d/pasta.err")"

udp4=$(cat "$d/udp4")
udp6=$(cat "$d/udp6")
log "UDP/IPv4 flows: $udp4"
log "UDP/IPv6 flows: $udp6"
log "TCP connect: $(cat "$d/tcp4")"
# count KEY LINE: the number after KEY= in LINE, 0 if absent.
count() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | grep . || echo 0; }

[ "$(count echo "$udp4")" -ge 1 ] || fail "no UDP/IPv4 flow worked before descriptors ran out: $udp4"
[ "$(count EHOSTUNREACH "$udp4")" -ge 1 ] ||
	fail "UDP/IPv4 flows past the limit were not refused with an ICMP error: $udp4"
[ "$(count EACCES "$udp6")" -ge 1 ] ||
	fail "UDP/IPv6 flows past the limit were not refused with an ICMPv6 error: $udp6"
for line in "$udp4" "$udp6"; do
	[ "$(count timeout "$line")" = 0 ] || fail "datagrams left unanswered: $line"
	[ "$(count corrupt "$line")" = 0 ] || fail "echo corrupted: $line"
done

read -r what ms < "$d/tcp4"
[ "$what" = ECONNREFUSED ] || fail "TCP connect out of descriptors: expected ECONNREFUSED, got $what"
[ "$ms" -lt 2000 ] || fail "TCP refusal took $ms ms"

grep -q "Packet filtered" "$d/ping4" || fail "ping: no ICMP error: $(cat "$d/ping4")"
grep -qi "prohibited" "$d/ping6" || fail "ping -6: no ICMPv6 error: $(cat "$d/ping6")"

refused=$(($(count EHOSTUNREACH "$udp4") + $(count EACCES "$udp6")))
lines=$(grep -c "UDP: can't open socket" "$d/pasta.err")
log "UDP refusals: $refused, log lines about them: $lines"
grep -q "Too many open files" "$d/pasta.err" || fail "no log line names the cause"
[ "$lines" -lt "$refused" ] || fail "the log line is not rate-limited: $lines lines for $refused refusals"
exit 0
