#!/bin/bash
# shellcheck source-path=SCRIPTDIR
# run.sh timeout: 400
# passt --vhost-user with offloads and the event index, build/frontend as
# the front-end (-O: VIRTIO_NET_F_CSUM, HOST_TSO4/6, GUEST_CSUM,
# GUEST_TSO4/6, and TUNSETOFFLOAD on its tap; -E: VIRTIO_RING_F_EVENT_IDX).
# At MTU 65520 and 1500, IPv4 and IPv6 each: 64 MiB guest -> host and 64 MiB
# host -> guest, byte-exact. Then passt's report when the front-end goes
# must show frames of more than 30000 bytes both ways, and at MTU 1500
# TCP GSO ones: the namespace's TSO segments reached the TCP translator
# whole, and passt's went to the guest's RX buffers as large frames with a
# GSO header.
. "$(dirname "$0")/lib.sh"
need_cmd ip timeout nsenter cmp
need_pkg socat socat
hermetic_host
. "$(dirname "$0")/frontend_lib.sh"
[ -x "$PASST" ] || fail "no passt binary at $PASST (build first)"
[ -x "$FRONTEND" ] || fail "no front-end at $FRONTEND (make perf-tools)"
FE_MODE=vhost-user

d=$(new_tmpdir)
head -c $((64 << 20)) /dev/urandom > "$d/src"

for mtu in 65520 1500; do
	bg_start sh -c "exec '$PASST' --vhost-user -f -m $mtu -s '$d/p$mtu.sock' -t 5021 \
		> '$d/p$mtu.log' 2>&1"
	passt_pid=$BG_PID
	wait_for "[ -S '$d/p$mtu.sock' ]" 10 || fail "passt did not create its socket"
	fe_start "$d/p$mtu.sock" "$d/fe$mtu.log" -m "$mtu" -O -E
	feat=$(grep -o 'features 0x[0-9a-f]*' "$d/fe$mtu.log")
	# CSUM, GUEST_CSUM, GUEST_TSO4/6, HOST_TSO4/6, EVENT_IDX
	[ $(( ${feat#features } & 0x20001983 )) = $((0x20001983)) ] ||
		fail "MTU $mtu: negotiated $feat"
	n=0
	for fam in 4 6; do
		n=$((n + 1))
		if [ "$fam" = 4 ]; then gw=$HOST_GW4; lo=127.0.0.1; else gw="[$HOST_GW6]"; lo="[::1]"; fi
		port=$((5030 + n))
		rm -f "$d/out"
		bg_start socat -u "TCP$fam-LISTEN:$port,bind=$lo,reuseaddr" "OPEN:$d/out,creat,trunc"
		lst=$BG_PID
		wait_for "ss -ltn | grep -q ':$port '" 10 || fail "host listener $lo"
		fe_exec timeout 120 socat -u "OPEN:$d/src" "TCP:$gw:$port" ||
			fail "MTU $mtu: guest -> host $gw: socat failed"
		wait_for "! kill -0 $lst" 60 || fail "MTU $mtu: guest -> host $gw: receiver did not finish"
		cmp "$d/src" "$d/out" || fail "MTU $mtu: guest -> host $gw: data differ"
		log "MTU $mtu, guest -> host via $gw: 64 MiB byte-exact"

		rm -f "$d/in"
		bg_start nsenter -t "$FE_PID" -n -- socat -u "TCP$fam-LISTEN:5021,reuseaddr" \
			"OPEN:$d/in,creat,trunc"
		lst=$BG_PID
		wait_for "fe_exec ss -ltn | grep -q ':5021 '" 10 || fail "guest listener"
		timeout 120 socat -u "OPEN:$d/src" "TCP:$lo:5021" ||
			fail "MTU $mtu: host -> guest $lo: socat failed"
		wait_for "! kill -0 $lst" 60 || fail "MTU $mtu: host -> guest $lo: receiver did not finish"
		cmp "$d/src" "$d/in" || fail "MTU $mtu: host -> guest $lo: data differ"
		log "MTU $mtu, host -> guest via $lo: 64 MiB byte-exact"
	done
	kill -0 "$passt_pid" || fail "passt exited: $(tail -n 20 "$d/p$mtu.log")"
	bg_stop "$FE_PID"
	wait_for "grep -q 'front-end gone' '$d/p$mtu.log'" 10 || fail "passt did not see the front-end go: $(cat "$d/p$mtu.log")"
	line=$(grep 'front-end gone' "$d/p$mtu.log" | tail -n 1)
	log "passt: $line"
	rx_gso=$(echo "$line" | sed -n 's/.*refused, \([0-9]*\) with GSO, longest \([0-9]*\) bytes; from.*/\1 \2/p')
	tx_gso=$(echo "$line" | sed -n 's/.*bad headers, \([0-9]*\) with GSO, longest \([0-9]*\) bytes,.*/\1 \2/p')
	# shellcheck disable=SC2086 # split into the four numbers
	set -- $rx_gso $tx_gso
	# At MTU 65520 a 64 KiB segment needs no GSO; at 1500 it does.
	min_gso=0
	[ "$mtu" = 1500 ] && min_gso=1
	if [ "${1:-0}" -lt $min_gso ] || [ "${2:-0}" -le 30000 ]; then
		fail "MTU $mtu: no large frames to the guest: $line"
	fi
	if [ "${3:-0}" -lt $min_gso ] || [ "${4:-0}" -le 30000 ]; then
		fail "MTU $mtu: no large frames from the guest: $line"
	fi
	echo "$line" | grep -q ' 0 bad headers' || fail "MTU $mtu: headers refused: $line"
	bg_stop "$passt_pid"
done
exit 0
