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
# Then a guest that segments one family only (-o 4: no GUEST_TSO6 and
# HOST_TSO6, as qemu's guest_tso6=off gives; -o 6 the other way), at MTU
# 1500, each family: byte-exact again, GSO frames both ways for the family
# it segments, and none, no frame over one MTU, for the other.
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

# xfer MTU FAM: 64 MiB guest -> host and host -> guest over IPv4 or IPv6,
# byte-exact, through the passt and front-end running now.
xfer() {
	local mtu=$1 fam=$2 gw lo port lst
	if [ "$fam" = 4 ]; then gw=$HOST_GW4; lo=127.0.0.1; else gw="[$HOST_GW6]"; lo="[::1]"; fi
	port=$((5030 + fam))
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
}

# start NAME MTU FE_OPTION...: passt on NAME.sock, the front-end on it.
start() {
	local name=$1 mtu=$2
	shift 2
	bg_start sh -c "exec '$PASST' --vhost-user -f -m $mtu -s '$d/$name.sock' -t 5021 \
		> '$d/$name.log' 2>&1"
	passt_pid=$BG_PID
	wait_for "[ -S '$d/$name.sock' ]" 10 || fail "passt did not create its socket"
	fe_start "$d/$name.sock" "$d/fe-$name.log" -m "$mtu" "$@"
	feat=$(grep -o 'features 0x[0-9a-f]*' "$d/fe-$name.log")
	feat=$((${feat#features }))
}

# stop NAME: the front-end goes, then passt; sets rx_gso rx_max tx_gso
# tx_max from passt's report (frames to the guest, from it), and checks
# that frames to the guest were read from the host socket straight into its
# buffers (zero copy: every session here negotiates GUEST_CSUM).
stop() {
	kill -0 "$passt_pid" || fail "passt exited: $(tail -n 20 "$d/$1.log")"
	bg_stop "$FE_PID"
	wait_for "grep -q 'front-end gone' '$d/$1.log'" 10 ||
		fail "passt did not see the front-end go: $(cat "$d/$1.log")"
	line=$(grep 'front-end gone' "$d/$1.log" | tail -n 1)
	log "passt: $line"
	echo "$line" | grep -q ' 0 bad headers' || fail "$1: headers refused: $line"
	local rx tx
	rx=$(echo "$line" | sed -n 's/.*refused, \([0-9]*\) with GSO, longest \([0-9]*\) bytes; from.*/\1 \2/p')
	tx=$(echo "$line" | sed -n 's/.*bad headers, \([0-9]*\) with GSO, longest \([0-9]*\) bytes,.*/\1 \2/p')
	read -r rx_gso rx_max <<< "$rx"
	rx_direct=$(echo "$line" | sed -n 's/.*frames to it: \([0-9]*\) read in place.*/\1/p')
	[ "${rx_direct:-0}" -gt 0 ] || fail "$1: no frame to the guest read in place: $line"
	read -r tx_gso tx_max <<< "$tx"
	[ -n "$rx_max" ] && [ -n "$tx_max" ] || fail "$1: no GSO figures in: $line"
	bg_stop "$passt_pid"
}

for mtu in 65520 1500; do
	start "p$mtu" "$mtu" -O -E
	# CSUM, GUEST_CSUM, GUEST_TSO4/6, HOST_TSO4/6, EVENT_IDX
	[ $((feat & 0x20001983)) = $((0x20001983)) ] || fail "MTU $mtu: negotiated $feat"
	xfer "$mtu" 4
	xfer "$mtu" 6
	stop "p$mtu"
	# At MTU 65520 a 64 KiB segment needs no GSO; at 1500 it does.
	min_gso=0
	[ "$mtu" = 1500 ] && min_gso=1
	if [ "$rx_gso" -lt $min_gso ] || [ "$rx_max" -le 30000 ]; then
		fail "MTU $mtu: no large frames to the guest: $line"
	fi
	if [ "$tx_gso" -lt $min_gso ] || [ "$tx_max" -le 30000 ]; then
		fail "MTU $mtu: no large frames from the guest: $line"
	fi
done

for tso in 4 6; do
	for fam in 4 6; do
		start "o$tso-$fam" 1500 -o "$tso" -E
		# CSUM, GUEST_CSUM, and GUEST_TSO4 with HOST_TSO4 (0x880) or
		# GUEST_TSO6 with HOST_TSO6 (0x1100), not the other two.
		if [ "$tso" = 4 ]; then want=0x883; not=0x1100; else want=0x1103; not=0x880; fi
		[ $((feat & (want | not))) = $((want)) ] ||
			fail "-o $tso: negotiated $(printf 0x%x "$feat")"
		xfer 1500 "$fam"
		stop "o$tso-$fam"
		if [ "$fam" = "$tso" ]; then
			[ "$rx_gso" -ge 1 ] && [ "$tx_gso" -ge 1 ] ||
				fail "-o $tso, IPv$fam: no GSO frames both ways: $line"
		else
			[ "$rx_gso" = 0 ] && [ "$rx_max" -le 1514 ] ||
				fail "-o $tso, IPv$fam: frames to the guest beyond its offloads: $line"
			[ "$tx_gso" = 0 ] && [ "$tx_max" -le 1514 ] ||
				fail "-o $tso, IPv$fam: frames from the guest beyond its offloads: $line"
		fi
		log "-o $tso (IPv$tso segmented only), IPv$fam: GSO frames to the guest $rx_gso (longest $rx_max), from it $tx_gso (longest $tx_max)"
	done
done
exit 0
