#!/bin/bash
# shellcheck source-path=SCRIPTDIR disable=SC2016
# pasta -p FILE: frames on the tap device are captured in a pcap file that
# tcpdump and tshark read without complaint: ARP, the ICMP echo request from
# the namespace and pasta's reply, in that order, the reply from the MAC
# address pasta reports in its start-up summary (printed with -d: spawning a
# command, pasta is quiet otherwise), the C passt's 9a:55:9a:55:9a:55.
. "$(dirname "$0")/lib.sh"

need_pkg tcpdump tcpdump
need_pkg ping iputils-ping
need_cmd ip timeout
hermetic_host
[ -x "$PASTA" ] || fail "no pasta binary at $PASTA (build first)"

d=$(new_tmpdir)
cap=$d/cap.pcap

timeout 30 "$PASTA" -d -p "$cap" --config-net -- ping -c1 -W2 192.0.2.1 > "$d/log" 2>&1 ||
	fail "pasta -p ... -- ping: $(cat "$d/log")"
[ -s "$cap" ] || fail "no capture file"
mac=$(sed -n '/^MAC:/,/^[^ ]/s/^ *host: \([0-9a-f:]*\)$/\1/p' "$d/log")
[[ $mac =~ ^([0-9a-f]{2}:){5}[0-9a-f]{2}$ ]] || fail "no MAC address in pasta's summary: $(cat "$d/log")"
check_eq "$mac" 9a:55:9a:55:9a:55 "our MAC address without -M"

tcpdump -r "$cap" -nn -e > "$d/dump" 2> "$d/dump.err" || fail "tcpdump -r: $(cat "$d/dump.err")"
# the only thing on stderr is the header line
grep -v '^reading from file .*, link-type EN10MB (Ethernet), snapshot length [0-9]*$' \
	"$d/dump.err" > "$d/warnings"
[ -s "$d/warnings" ] && fail "tcpdump warnings: $(cat "$d/warnings")"
grep -q 'link-type EN10MB' "$d/dump.err" || fail "not an Ethernet capture: $(cat "$d/dump.err")"

req=$(grep -n 'IPv4.*192.0.2.2 > 192.0.2.1: ICMP echo request' "$d/dump" | cut -d: -f1 | head -n1)
rep=$(grep -n 'IPv4.*192.0.2.1 > 192.0.2.2: ICMP echo reply' "$d/dump" | cut -d: -f1 | head -n1)
[ -n "$req" ] || fail "no echo request in the capture: $(cat "$d/dump")"
[ -n "$rep" ] || fail "no echo reply in the capture: $(cat "$d/dump")"
[ "$req" -lt "$rep" ] || fail "echo reply before the request: $(cat "$d/dump")"
check_eq "$(grep -c 'ICMP echo request' "$d/dump")" 1 "echo requests in the capture"
check_eq "$(grep -c 'ICMP echo reply' "$d/dump")" 1 "echo replies in the capture"
# the reply comes from pasta's MAC address, which ARP resolved the gateway to
grep 'ICMP echo reply' "$d/dump" | grep -q "^[0-9:.]* $mac > " ||
	fail "echo reply not from $mac: $(grep 'echo reply' "$d/dump")"
# (an ARP reply for the gateway, or pasta's own request from the gateway's
# address, which the namespace learns from)
grep -Eq "^[0-9:.]* $mac > .*ethertype ARP .*(Reply 192\.0\.2\.1 is-at $mac|tell 192\.0\.2\.1)" \
	"$d/dump" || fail "no ARP from pasta for the gateway in the capture: $(cat "$d/dump")"
# request and reply match (same id and sequence)
idseq() { sed -n "s/.*ICMP echo $1, \(id [0-9]*, seq [0-9]*\),.*/\1/p" "$d/dump"; }
check_eq "$(idseq reply)" "$(idseq request)" "id and seq of the reply"

# tshark, if there, checks the file format more strictly
if command -v tshark > /dev/null 2>&1; then
	tshark -r "$cap" -n -Y icmp -T fields -e icmp.type -e ip.src -e ip.dst \
		> "$d/tshark" 2> "$d/tshark.err" || fail "tshark -r: $(cat "$d/tshark.err")"
	grep -v -i 'running as user "root"' "$d/tshark.err" > "$d/tshark.warn"
	[ -s "$d/tshark.warn" ] && fail "tshark warnings: $(cat "$d/tshark.warn")"
	check_eq "$(tr '\t' ' ' < "$d/tshark" | paste -sd ',')" \
		"8 192.0.2.2 192.0.2.1,0 192.0.2.1 192.0.2.2" "tshark: ICMP in the capture"
fi

# a file that can't be created is an error, before the command runs
timeout 30 "$PASTA" -q -p "$d/no/such/dir/cap.pcap" --config-net -- touch "$d/ran" \
	> "$d/log2" 2>&1 && fail "pasta -p with an impossible path succeeded"
[ -e "$d/ran" ] && log "note: the command ran although the capture file can't be opened"

exit 0
