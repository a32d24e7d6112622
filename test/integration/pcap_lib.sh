# shellcheck shell=bash
# Checks of a --pcap capture, shared by test_pcap_backends.sh and
# test_passt_guest.sh (which captures its vhost-user and stream boots, so
# that those backends are checked without booting a guest twice). Source
# after lib.sh; needs tshark (need_pkg tshark tshark before hermetic_host).
#
# pcap_check LABEL CAP [LOG]: CAP must be a capture tshark reads without a
# warning (only its note about running as root is expected: in the user
# namespace it can't drop privileges) and without malformed packets (up to
# the transport headers, and DHCP, DHCPv6 and DNS); with
# frames both ways: out, from our MAC 9a:55:9a:55:9a:55, and in, from any
# other; IPv4, TCP, UDP and ICMPv6 checksums must all be valid (a GSO frame
# is recorded whole, with the checksum the guest's kernel would compute).
# With LOG (the daemon's -d output, after it exited), the counts must equal
# its own "tap: N frames in, M out" counters. Prints a summary line; calls
# fail on the first problem. Leaves the counts in PCAP_IN and PCAP_OUT.
PCAP_OUR_MAC=9a:55:9a:55:9a:55

pcap_check() {
	local label=$1 cap=$2 log=${3:-} t
	t=$(mktemp -d)
	[ -s "$cap" ] || fail "$label: no capture file $cap"
	tshark -r "$cap" -n -T fields -e eth.src > "$t/src" 2> "$t/err" ||
		fail "$label: tshark -r: $(head -n 5 "$t/err")"
	grep -v -i 'running as user "root"' "$t/err" > "$t/warn"
	[ -s "$t/warn" ] && fail "$label: tshark warnings: $(head -n 5 "$t/warn")"
	PCAP_OUT=$(grep -c -x "$PCAP_OUR_MAC" "$t/src")
	PCAP_IN=$(grep -c -v -x "$PCAP_OUR_MAC" "$t/src")
	log "$label: $(wc -l < "$t/src") frames captured: $PCAP_IN in, $PCAP_OUT out (from $PCAP_OUR_MAC)"
	[ "$PCAP_IN" -gt 0 ] || fail "$label: no frame from the guest in the capture"
	[ "$PCAP_OUT" -gt 0 ] || fail "$label: no frame to the guest in the capture"

	# Payloads (random test data) are decoded as plain data: a dissector
	# picked by port (IPA on 5000...) would call them malformed.
	tshark -r "$cap" -n -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE \
		-o udp.check_checksum:TRUE -d tcp.port==1-65535,data -d udp.port==1024-65535,data \
		-Y '_ws.malformed || ip.checksum.status == 0 || tcp.checksum.status == 0 ||
		    udp.checksum.status == 0 || icmpv6.checksum.status == 0' \
		> "$t/bad" 2> "$t/err" || fail "$label: tshark -Y: $(head -n 5 "$t/err")"
	[ -s "$t/bad" ] && fail "$label: $(wc -l < "$t/bad") malformed frame(s) or bad checksum(s) in the capture, e.g. $(head -n 3 "$t/bad")"

	if [ -n "$log" ]; then
		local line fin fout
		line=$(grep -o 'tap: [0-9]* frames in, [0-9]* out' "$log" | tail -n 1)
		[ -n "$line" ] || fail "$label: no frame counters in the daemon's log $log"
		fin=$(echo "$line" | sed 's/tap: \([0-9]*\) frames in, \([0-9]*\) out/\1/')
		fout=$(echo "$line" | sed 's/tap: \([0-9]*\) frames in, \([0-9]*\) out/\2/')
		check_eq "$PCAP_IN" "$fin" "$label: frames in, captured vs the daemon's counter"
		check_eq "$PCAP_OUT" "$fout" "$label: frames out, captured vs the daemon's counter"
	fi
	rm -rf "$t"
}
