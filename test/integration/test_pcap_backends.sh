#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# --pcap records every frame both ways, whatever the tap backend: the tap
# layer captures at its two doors (src/tap/tap.cpp), not each backend.
#   - pasta (tun backend, with offloads): ping to the gateway, TCP 4 MiB
#     host -> namespace (GSO frames of up to 64 KiB towards the namespace,
#     with partial checksums in their virtio-net header) and 4 MiB
#     namespace -> host; data checked with cmp
#   - passt, qemu stream socket: passt_protocol.py as the guest (ARP, DHCP,
#     a TCP connection with data to a host listener)
# For each, pcap_check (pcap_lib.sh): tshark reads the file without
# warnings or malformed packets, all checksums valid (GSO frames recorded
# whole and completed), frames from our MAC (to the guest) and from the
# guest both counted > 0, and both counts equal to the daemon's own
# counters ("tap: N frames in, M out", printed at exit with -d).
# passt --vhost-user (and the stream backend with a real guest) are checked
# the same way by test_passt_vhost_user.sh / test_passt_guest.sh, which
# capture their guest boots: a TCG boot costs a minute, so it is not
# repeated here.
# Uses test/integration/lib.sh (hermetic host); runs in about 10 s.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pcap_lib.sh"

need_pkg tshark tshark
need_pkg socat socat
need_pkg ping iputils-ping
need_cmd ip ss cmp head timeout python3
hermetic_host
[ -x "$PASST" ] || fail "no passt binary at $PASST (build first)"

d=$(new_tmpdir)
head -c $((4 << 20)) /dev/urandom > "$d/data" || fail "can't create the data file"

# ---- pasta: tun ---------------------------------------------------------
# host -> namespace: the namespace connects to the gateway (the host's
# loopback), whose listener sends the file; namespace -> host on a second
# port, received into a file.
bg_start sh -c "exec socat -u OPEN:$d/data TCP4-LISTEN:5020,bind=127.0.0.1,reuseaddr"
bg_start sh -c "exec socat -u TCP4-LISTEN:5021,bind=127.0.0.1,reuseaddr OPEN:$d/up,creat,trunc"
wait_for "ss -ltn | grep -q ':5020 ' && ss -ltn | grep -q ':5021 '" 10 || fail "host listeners"
timeout 60 "$PASTA" -d -f -m 1500 -p "$d/tun.pcap" --config-net -- sh -c "
	ping -c 2 -W 2 $HOST_GW4 > $d/ping.out || exit 1
	socat -u TCP4:$HOST_GW4:5020 OPEN:$d/down,creat,trunc || exit 2
	socat -u OPEN:$d/data TCP4:$HOST_GW4:5021 || exit 3
	for i in \$(seq 100); do [ \"\$(stat -c %s $d/up 2>/dev/null)\" = $((4 << 20)) ] && exit 0; sleep 0.1; done
	exit 4" > "$d/tun.log" 2>&1 || fail "pasta: the command failed ($?): $(tail -n 20 "$d/tun.log")"
cmp "$d/data" "$d/down" || fail "pasta: host -> namespace data differs"
cmp "$d/data" "$d/up" || fail "pasta: namespace -> host data differs"
pcap_check "pasta (tun)" "$d/tun.pcap" "$d/tun.log"
# the transfer towards the namespace went out as GSO frames, recorded whole
big=$(tshark -r "$d/tun.pcap" -n -Y "eth.src == $PCAP_OUR_MAC && frame.len > 1514" \
	-T fields -e frame.len 2>/dev/null | wc -l)
log "pasta (tun): $big frame(s) to the namespace longer than 1514 bytes"
[ "$big" -gt 0 ] || fail "pasta (tun): no GSO frame in the capture"

# ---- passt: qemu stream socket --------------------------------------------
bg_start sh -c "exec '$PASST' -d -f -1 -p '$d/stream.pcap' -s '$d/stream.sock' > '$d/stream.log' 2>&1"
passt_pid=$BG_PID
wait_for "[ -S '$d/stream.sock' ]" 10 || fail "passt did not create its socket: $(cat "$d/stream.log")"
timeout 60 python3 "$PASST_ROOT/test/integration/passt_protocol.py" "$d/stream.sock" full 5022 \
	"$PCAP_OUR_MAC" > "$d/stream.out" 2>&1 ||
	fail "passt_protocol.py: $(cat "$d/stream.out"); passt said: $(tail -n 20 "$d/stream.log")"
wait_for "! kill -0 $passt_pid" 10 || fail "passt -1 still running after the client left"
pcap_check "passt (stream)" "$d/stream.pcap" "$d/stream.log"

exit 0
