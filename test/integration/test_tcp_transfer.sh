#!/bin/bash
# TCP bulk transfers through pasta, checked with cmp: a 64 MiB and a small
# file, IPv4 and IPv6, both directions, over the tap path and over the
# spliced loopback bypass.
#
# Tap path, namespace -> host: socat in the namespace connects to the
# gateway address (192.0.2.1 / 2001:db8::1), which pasta maps to the host's
# loopback, where a socat listener bound to 127.0.0.1 / ::1 writes the file.
# Tap path, host -> namespace: pasta runs with -t PORT; socat on the host
# connects to the host's own non-loopback address (192.0.2.2 / 2001:db8::2)
# at PORT, which pasta's listener (bound to any address) accepts and
# forwards over the tap device to a socat listener in the namespace (the
# connection arrives there from the gateway address).
# Splice, namespace -> host: pasta -T PORT, socat in the namespace connects
# to its own loopback at PORT. Splice, host -> namespace: -t PORT, socat on
# the host connects to 127.0.0.1 / ::1 (a loopback source is spliced to
# the namespace's loopback). test_tcp_splice.sh checks the splice path in
# more depth.
. "$(dirname "$0")/lib.sh"

need_pkg socat socat
need_cmd ip ss cmp head
hermetic_host
[ -x "$PASTA" ] || skip "no pasta binary at $PASTA (run make)"

d=$(new_tmpdir)
head -c $((64 << 20)) /dev/urandom > "$d/big" || fail "can't create the big file"
head -c 1000 /dev/urandom > "$d/small" || fail "can't create the small file"
port=10000

# ns_to_host FAMILY FILE [splice]
ns_to_host() {
	local fam=$1 file=$2 path=${3:-tap} lo gw addr opt=()
	port=$((port + 1))
	if [ "$fam" = 4 ]; then lo=127.0.0.1; gw=$HOST_GW4; addr=$gw
	else lo=::1; gw=$HOST_GW6; addr="[$gw]"; fi
	if [ "$path" = splice ]; then
		opt=(-T "$port"); addr=$lo
		[ "$fam" = 6 ] && addr="[$lo]"
	fi
	rm -f "$d/out" "$d/done"
	bg_start sh -c "socat -u TCP$fam-LISTEN:$port,bind=$lo,reuseaddr \
		OPEN:$d/out,creat,trunc; touch $d/done"
	wait_for "ss -ltn | grep -q ':$port '" 10 || fail "host listener on $port"
	timeout 120 "$PASTA" --config-net -f -q "${opt[@]}" -- sh -c "
		socat -u OPEN:$d/$file TCP$fam:$addr:$port || exit 1
		for i in \$(seq 600); do [ -e $d/done ] && exit 0; sleep 0.1; done
		exit 2" || fail "IPv$fam ns->host $file ($path): pasta or socat failed ($?)"
	cmp "$d/$file" "$d/out" || fail "IPv$fam ns->host $file ($path): data differs"
	log "IPv$fam namespace -> host, $file, $path: ok"
}

# host_to_ns FAMILY FILE [splice]: the host connects to its own address
# (tap path) or to the loopback (splice)
host_to_ns() {
	local fam=$1 file=$2 path=${3:-tap} lo six=""
	port=$((port + 1))
	if [ "$fam" = 4 ]; then lo=$HOST_ADDR4; else lo="[$HOST_ADDR6]"; six=",ipv6only=1"; fi
	if [ "$path" = splice ]; then
		if [ "$fam" = 4 ]; then lo=127.0.0.1; else lo="[::1]"; fi
	fi
	rm -f "$d/out" "$d/ready"
	bg_start sh -c "for i in \$(seq 300); do [ -e $d/ready ] && break; sleep 0.1; done
		exec socat -u OPEN:$d/$file TCP$fam:$lo:$port"
	timeout 120 "$PASTA" --config-net -f -q -t "$port" -- sh -c "
		socat -u TCP$fam-LISTEN:$port,reuseaddr$six OPEN:$d/out,creat,trunc &
		pid=\$!
		for i in \$(seq 100); do
			ss -ltn | grep -q ':$port ' && break; sleep 0.05
		done
		touch $d/ready
		wait \$pid" || fail "IPv$fam host->ns $file ($path): pasta or socat failed ($?)"
	cmp "$d/$file" "$d/out" || fail "IPv$fam host->ns $file ($path): data differs"
	log "IPv$fam host -> namespace, $file, $path: ok"
}

for fam in 4 6; do
	for file in small big; do
		for path in tap splice; do
			ns_to_host "$fam" "$file" "$path"
			host_to_ns "$fam" "$file" "$path"
		done
	done
done
exit 0
