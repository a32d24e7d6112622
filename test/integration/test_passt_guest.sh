#!/bin/bash
# shellcheck source-path=SCRIPTDIR disable=SC2016
# passt with a real qemu guest (TCG), two boots against one passt (no -1:
# the second boot checks that a client that went away is cleaned up and the
# next one accepted), which is then stopped with SIGTERM. Backend: qemu's
# -netdev stream socket, or with GUEST_BACKEND=vhost-user (as
# test_passt_vhost_user.sh runs it) passt --vhost-user, guest RAM shared as
# a memfd and frames in the guest's virtqueues. The same checks for both:
#
# Boot 1 asserts:
#   - DHCP: the lease is 192.0.2.2/24, router 192.0.2.1, MTU option 65520
#     (the values udhcpc handed to its script), and eth0's MTU is 65520
#   - SLAAC: a global address in 2001:db8::/64 from our RA, default route
#     via a link-local (fe80::) router
#   - ping to the gateway 192.0.2.1 and ping6 to 2001:db8::1 (both answered
#     by the host's loopback through ping sockets)
#   - TCP guest -> host: 8 MiB of random data to the gateway's port 5000,
#     received by a listener on the host's 127.0.0.1; MD5 and length equal
#   - TCP host -> guest, guest connects: the guest connects to the gateway's
#     port 5001, the host listener sends 8 MiB; MD5 and length equal
#   - TCP host -> guest, host connects: passt -t 5002; a listener in the
#     guest (busybox nc -l); the host connects to 127.0.0.1:5002 and sends
#     8 MiB; MD5 and length equal
#   - UDP guest -> host: the guest sends to 192.0.2.1:5003 and
#     [2001:db8::1]:5003, a host echo on 127.0.0.1 / ::1 answers, the guest
#     checks the reply
#   - UDP host -> guest: passt -u 5004; an echo in the guest; the host sends
#     to 127.0.0.1:5004 and checks the reply
#   - vhost-user only: the guest's /sys/class/net/eth0/device/features shows
#     CSUM, GUEST_CSUM, GUEST/HOST_TSO4/6, MRG_RXBUF and EVENT_IDX on
# Boot 2 (same passt): DHCP lease, SLAAC and ping again. vhost-user only:
#   this guest's device has guest_tso6=off,host_tso6=off (a guest that
#   segments IPv4 only), its features show that, it runs at MTU 1500, and
#   8 MiB host -> guest over IPv4 (from the host's 127.0.0.1:5011) and each
#   way over IPv6 (to a listener on the host's ::1 port 5010, from the
#   host's [::1]:5002 through -t) arrive intact; in passt's capture, the
#   IPv4 data went to the guest in GSO frames, the IPv6 data in frames of
#   at most one MTU
# Then SIGTERM: passt exits (status 0 or 143) and removes its socket file.
# passt runs with --pcap and -d: the capture of both boots must hold frames
# both ways, valid, as many as passt's own counters say (pcap_check in
# pcap_lib.sh; test_pcap_backends.sh does the same for pasta and for the
# stream protocol without a guest).
#
# Usage: test/integration/test_passt_guest.sh   (PASST=path/to/passt to override)
#        GUEST_BACKEND=vhost-user test/integration/test_passt_guest.sh
# Uses test/integration/lib.sh (hermetic host); runs in about 40 s (under a
# minute with another qemu on the machine); every wait is bounded so that a
# broken daemon fails it in under 4 minutes.
# A qemu guest under TCG; slow on a loaded machine:
# run.sh timeout: 600
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/guest_lib.sh"
. "$(dirname "$0")/pcap_lib.sh"

guest_kit
need_pkg tshark tshark
need_cmd ip timeout python3 qemu-system-x86_64
hermetic_host
[ -x "$PASST" ] || fail "no passt binary at $PASST (build first)"

d=$(new_tmpdir)
# GUEST_KEEP_DIR=DIR: copy consoles and logs there at exit (debugging; DIR
# must be outside /tmp, which is private to the hermetic host).
if [ -n "${GUEST_KEEP_DIR:-}" ]; then
	on_cleanup 'mkdir -p "$GUEST_KEEP_DIR" && cp -r "$d"/. "$GUEST_KEEP_DIR"/'
fi
MIB=8
BYTES=$((MIB << 20))
guest_host_helpers "$d"

bg_start sh -c "exec python3 '$d/srv.py' $BYTES > '$d/srv.log' 2>&1"
wait_for "grep -q READY '$d/srv.log'" 10 || fail "host server: $(cat "$d/srv.log")"

sock=$d/passt.sock
# vhost-user: boot 1 also prints the feature bits its virtio-net device
# negotiated (a 0/1 string, bit 0 first), checked after it.
FEATURES_CMD=
case ${GUEST_BACKEND:-stream} in
stream) PASST_MODE='' QEMU_MODE='' ;;
vhost-user)
	PASST_MODE=--vhost-user QEMU_MODE=-u
	FEATURES_CMD='echo "GUEST-FEATURES $(cat /sys/class/net/eth0/device/features)"'
	;;
*) fail "GUEST_BACKEND: stream or vhost-user, not '$GUEST_BACKEND'" ;;
esac
bg_start sh -c "exec '$PASST' $PASST_MODE -d -f -p '$d/passt.pcap' -s '$sock' -t 5002 -u 5004 \
	> '$d/passt.log' 2>&1"
passt_pid=$BG_PID
wait_for "[ -S '$sock' ]" 10 || fail "passt did not create $sock: $(cat "$d/passt.log")"

# boot N CMD TIMEOUT [PROPS]: start a guest running CMD (console in
# $d/console.N, written live; PROPS: more virtio-net-pci properties),
# leaves its PID in qpid.
boot() {
	bg_start sh -c "exec '$PASST_ROOT/test/guest/run_qemu.sh' $QEMU_MODE -d '$GUEST_DIR' -t $3 \
		${4:+-n '$4'} -c '$2' '$sock' > '$d/console.$1' 2> '$d/qemu.$1.err'"
	qpid=$BG_PID
}

# wait_guest PID: wait for qemu to end; leaves its exit status in qrc.
wait_guest() {
	wait "$1"
	qrc=$?
}

# ---- boot 1: everything -------------------------------------------------
cmd1="tcp_out \$DHCP_ROUTER 5000 $MIB
tcp_in \$DHCP_ROUTER 5001
tcp_listen 5002
udp_out udp-out-4 192.0.2.1 5003
udp_out udp-out-6 2001:db8::1 5003
udp_in 5004
result ping6-gw ping6 -c 3 -W 3 2001:db8::1
$FEATURES_CMD"
c1=$d/console.1
start=$SECONDS
boot 1 "$cmd1" 150
wait_for "grep -q '^GUEST-READY tcp-listen' '$c1' || ! kill -0 $qpid" 140
if grep -q '^GUEST-READY tcp-listen' "$c1"; then
	timeout 90 python3 "$d/push.py" 5002 "$BYTES" > "$d/push.log" 2>&1 ||
		bad "host -> guest connection to 127.0.0.1:5002: $(cat "$d/push.log")"
else
	bad "the guest never listened on 5002"
fi
wait_for "grep -q '^GUEST-READY udp-in' '$c1' || ! kill -0 $qpid" 60
if grep -q '^GUEST-READY udp-in' "$c1"; then
	python3 "$d/udp_ping.py" 5004 > "$d/udp_in.log" 2>&1 ||
		bad "host -> guest UDP to 127.0.0.1:5004: $(cat "$d/udp_in.log")"
	expect_eq "$(cat "$d/udp_in.log")" "UDP-IN echo:host-ping" "reply from the guest's UDP echo"
else
	bad "the guest's UDP echo on 5004 never started"
fi
wait_guest "$qpid"
log "boot 1: guest ran for $((SECONDS - start)) s (TCG), run_qemu status $qrc"
grep '^GUEST-' "$c1" | sed 's/^/    /' >&2

guest_check_common "$c1"
for r in tcp-out tcp-in tcp-listen udp-out-4 udp-out-6 udp-in ping6-gw; do
	expect_result "$c1" $r
done
grep -q '^GUEST-DONE' "$c1" || bad "boot 1: the guest did not finish: $(tail -n 5 "$c1")"
expect_eq "$qrc" 0 "boot 1: run_qemu status"

wait_for "grep -q SOURCE '$d/srv.log' && grep -q SINK '$d/srv.log'" 10 ||
	bad "host server incomplete: $(cat "$d/srv.log")"
tcp_out=$(sed -n 's/^GUEST-TCP-OUT //p' "$c1")
expect_eq "$(sed -n 's/^SINK //p' "$d/srv.log")" "$tcp_out" "guest -> host TCP (host got vs guest sent)"
expect_eq "${tcp_out%% *}" "$BYTES" "guest -> host TCP size"
expect_eq "$(sed -n 's/^GUEST-TCP-IN //p' "$c1")" "$(sed -n 's/^SOURCE //p' "$d/srv.log")" \
	"host -> guest TCP, guest connected (guest got vs host sent)"
expect_eq "$(sed -n 's/^GUEST-TCP-LISTEN //p' "$c1")" "$(sed -n 's/^PUSH //p' "$d/push.log")" \
	"host -> guest TCP via -t (guest got vs host sent)"
grep -q "^UDP-ECHO 127.0.0.1 guest-192.0.2.1" "$d/srv.log" || bad "no IPv4 datagram at the host echo"
grep -q "^UDP-ECHO ::1 guest-2001:db8::1" "$d/srv.log" || bad "no IPv6 datagram at the host echo"
if [ -n "$FEATURES_CMD" ]; then
	# The offloads both ways, MRG_RXBUF and the event index must be on in
	# the guest's driver: the transfers above ran with them.
	feats=$(sed -n 's/^GUEST-FEATURES //p' "$c1" | tr -d '\r')
	log "guest virtio-net features: $feats"
	for bit in 0:CSUM 1:GUEST_CSUM 7:GUEST_TSO4 8:GUEST_TSO6 11:HOST_TSO4 12:HOST_TSO6 \
		15:MRG_RXBUF 29:EVENT_IDX; do
		[ "${feats:${bit%%:*}:1}" = 1 ] || bad "guest virtio-net lacks ${bit#*:}: '$feats'"
	done
fi

# ---- boot 2: a new guest on the same passt --------------------------------
# vhost-user: this guest segments IPv4 only (qemu's guest_tso6=off and
# host_tso6=off take GUEST_TSO6 and HOST_TSO6 away) and runs at MTU 1500,
# where a 64 KiB frame needs segmentation: passt sends it IPv4 data in GSO
# frames and IPv6 data one MTU per frame, all of it intact.
kill -0 "$passt_pid" 2>/dev/null || fail "passt (no -1) exited with the first guest: $(cat "$d/passt.log")"
c2=$d/console.2
start=$SECONDS
if [ -n "$FEATURES_CMD" ]; then
	head -c "$BYTES" /dev/urandom > "$d/src4"
	bg_start socat -u "OPEN:$d/src4" TCP4-LISTEN:5011,bind=127.0.0.1,reuseaddr
	src4=$BG_PID
	bg_start socat -u TCP6-LISTEN:5010,bind=[::1],reuseaddr "OPEN:$d/sink6,creat,trunc"
	sink6=$BG_PID
	boot 2 "ip link set eth0 mtu 1500
tcp_in \$DHCP_ROUTER 5011
tcp_out 2001:db8::1 5010 $MIB
tcp_listen 5002
result ping6-gw ping6 -c 2 -W 3 2001:db8::1
$FEATURES_CMD" 150 guest_tso6=off,host_tso6=off
	wait_for "grep -q '^GUEST-READY tcp-listen' '$c2' || ! kill -0 $qpid" 140
	if grep -q '^GUEST-READY tcp-listen' "$c2"; then
		timeout 90 python3 "$d/push.py" 5002 "$BYTES" ::1 > "$d/push6.log" 2>&1 ||
			bad "host -> guest connection to [::1]:5002: $(cat "$d/push6.log")"
	else
		bad "boot 2: the guest never listened on 5002"
	fi
else
	boot 2 "result ping6-gw ping6 -c 2 -W 3 2001:db8::1" 60
fi
wait_guest "$qpid"
log "boot 2: guest ran for $((SECONDS - start)) s (TCG), run_qemu status $qrc"
guest_check_common "$c2"
expect_result "$c2" ping6-gw
expect_eq "$qrc" 0 "boot 2: run_qemu status"
if [ -n "$FEATURES_CMD" ]; then
	for r in tcp-in tcp-out tcp-listen; do
		expect_result "$c2" $r
	done
	expect_eq "$(sed -n 's/^GUEST-TCP-IN //p' "$c2")" \
		"$(wc -c < "$d/src4") $(md5sum < "$d/src4" | cut -d' ' -f1)" \
		"boot 2: host -> guest TCP over IPv4 (guest got vs host sent)"
	wait_for "! kill -0 $sink6" 10 || bad "boot 2: the IPv6 sink did not finish"
	expect_eq "$(wc -c < "$d/sink6") $(md5sum < "$d/sink6" | cut -d' ' -f1)" \
		"$(sed -n 's/^GUEST-TCP-OUT //p' "$c2")" \
		"boot 2: guest -> host TCP over IPv6 (host got vs guest sent)"
	expect_eq "$(sed -n 's/^GUEST-TCP-LISTEN //p' "$c2")" "$(sed -n 's/^PUSH //p' "$d/push6.log")" \
		"boot 2: host -> guest TCP over IPv6 via -t (guest got vs host sent)"
	feats=$(sed -n 's/^GUEST-FEATURES //p' "$c2" | tr -d '\r')
	log "boot 2: guest virtio-net features: $feats"
	for bit in 0:1:CSUM 1:1:GUEST_CSUM 7:1:GUEST_TSO4 8:0:GUEST_TSO6 11:1:HOST_TSO4 \
		12:0:HOST_TSO6; do
		b=${bit%%:*} v=${bit#*:}
		[ "${feats:$b:1}" = "${v%%:*}" ] || bad "boot 2: guest virtio-net ${v#*:} is not ${v%%:*}: '$feats'"
	done
	# The capture holds frames as passt handed them to the guest (a GSO
	# frame whole): the longest of each transfer's data direction.
	kill -0 "$src4" 2>/dev/null && bad "boot 2: the IPv4 source is still running"
	longest() {
		tshark -r "$d/passt.pcap" -Y "$1" -T fields -e frame.len 2>/dev/null | sort -n | tail -n 1
	}
	l4=$(longest 'ip && tcp.srcport == 5011')
	l6=$(longest 'ipv6 && (tcp.dstport == 5002 || tcp.srcport == 5010)')
	log "boot 2: longest frame to the guest, IPv4: ${l4:-none}, IPv6: ${l6:-none}"
	[ "${l4:-0}" -gt 1514 ] || bad "boot 2: no IPv4 GSO frame to the guest (longest ${l4:-none})"
	[ -n "$l6" ] && [ "$l6" -le 1514 ] || bad "boot 2: IPv6 frames to the guest over its MTU: ${l6:-none}"
	wait_for "[ \$(grep -c 'front-end gone' '$d/passt.log') -ge 2 ]" 10 ||
		bad "boot 2: passt did not report the guest gone"
	line=$(grep 'front-end gone' "$d/passt.log" | tail -n 1)
	log "boot 2: passt: $line"
	echo "$line" | grep -q ' 0 bad headers' || bad "boot 2: headers refused: $line"
fi

# ---- SIGTERM ----------------------------------------------------------------
kill -TERM "$passt_pid"
wait_for "! kill -0 $passt_pid" 10 || fail "passt still running 10 s after SIGTERM"
wait "$passt_pid"
prc=$?
log "passt exit status after SIGTERM: $prc"
[ "$prc" = 0 ] || [ "$prc" = 143 ] || bad "passt exit status after SIGTERM: $prc"
[ ! -e "$sock" ] || bad "socket file left behind after SIGTERM"

if [ "$nbad" -gt 0 ]; then
	sed 's/^/    passt: /' "$d/passt.log" | tail -n 30 >&2
	fail "$nbad check(s) failed"
fi
pcap_check "passt (${GUEST_BACKEND:-stream}, guest)" "$d/passt.pcap" "$d/passt.log"
exit 0
