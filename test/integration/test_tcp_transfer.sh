#!/bin/bash
# TCP bulk transfers through pasta's tap path, checked with cmp: a 64 MiB
# and a small file, IPv4 and IPv6, both directions.
#
# Namespace -> host: socat in the namespace connects to the gateway address
# (192.0.2.1 / 2001:db8::1), which pasta maps to the host's loopback, where
# a socat listener bound to 127.0.0.1 / ::1 writes the file out.
# Host -> namespace: pasta runs with -t PORT; socat on the host connects to
# 127.0.0.1:PORT / [::1]:PORT, which pasta's own listener accepts and
# forwards over the tap device to a socat listener in the namespace (the
# connection arrives there from the gateway address). pasta has no spliced
# loopback bypass for -t here, so this is the tap path too.
. "$(dirname "$0")/lib.sh"

need_pkg socat socat
need_cmd ip ss cmp head
hermetic_host
[ -x "$PASTA" ] || skip "no pasta binary at $PASTA (run make)"

d=$(new_tmpdir)
head -c $((64 << 20)) /dev/urandom > "$d/big" || fail "can't create the big file"
head -c 1000 /dev/urandom > "$d/small" || fail "can't create the small file"
port=10000

# ns_to_host FAMILY FILE
ns_to_host() {
	local fam=$1 file=$2 lo gw addr
	port=$((port + 1))
	if [ "$fam" = 4 ]; then lo=127.0.0.1; gw=$HOST_GW4; addr=$gw
	else lo=::1; gw=$HOST_GW6; addr="[$gw]"; fi
	rm -f "$d/out" "$d/done"
	bg_start sh -c "socat -u TCP$fam-LISTEN:$port,bind=$lo,reuseaddr \
		OPEN:$d/out,creat,trunc; touch $d/done"
	wait_for "ss -ltn | grep -q ':$port '" 10 || fail "host listener on $port"
	timeout 120 "$PASTA" --config-net -f -q -- sh -c "
		socat -u OPEN:$d/$file TCP$fam:$addr:$port || exit 1
		for i in \$(seq 600); do [ -e $d/done ] && exit 0; sleep 0.1; done
		exit 2" || fail "IPv$fam ns->host $file: pasta or socat failed ($?)"
	cmp "$d/$file" "$d/out" || fail "IPv$fam ns->host $file: data differs"
	log "IPv$fam namespace -> host, $file: ok"
}

# host_to_ns FAMILY FILE
host_to_ns() {
	local fam=$1 file=$2 lo six=""
	port=$((port + 1))
	if [ "$fam" = 4 ]; then lo=127.0.0.1; else lo="[::1]"; six=",ipv6only=1"; fi
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
		wait \$pid" || fail "IPv$fam host->ns $file: pasta or socat failed ($?)"
	cmp "$d/$file" "$d/out" || fail "IPv$fam host->ns $file: data differs"
	log "IPv$fam host -> namespace, $file: ok"
}

for fam in 4 6; do
	for file in small big; do
		ns_to_host "$fam" "$file"
		host_to_ns "$fam" "$file"
	done
done
exit 0
