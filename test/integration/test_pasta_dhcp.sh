#!/bin/bash
# shellcheck source-path=SCRIPTDIR disable=SC2016
# pasta without --config-net: the namespace configures itself through the
# tap device. DHCPv4 with busybox udhcpc and ISC dhclient, DHCPv6 with
# dhclient -6, SLAAC from our router advertisements.
# pasta hands out resolvers and the search list only with --dhcp-dns and
# --dhcp-search (the namespace shares the host's resolv.conf otherwise);
# the hermetic host's resolvers are not loopback, so they go out as they are.
. "$(dirname "$0")/lib.sh"

need_pkg jq jq
need_pkg busybox busybox-static
need_pkg dhclient isc-dhcp-client
need_cmd ip timeout
hermetic_host
[ -x "$PASTA" ] || fail "no pasta binary at $PASTA (build first)"
busybox udhcpc --help > /dev/null 2>&1 || skip "busybox without udhcpc"

d=$(new_tmpdir)

# Scripts the DHCP clients call: they only record what they were given.
cat > "$d/udhcpc.sh" <<'E'
#!/bin/sh
out=$(dirname "$0")/rec.udhcpc.$1
for v in ip subnet router mtu dns search domain; do
	eval "echo \"$v=\${$v}\""
done > "$out"
E
cat > "$d/dhclient.sh" <<'E'
#!/bin/sh
out=$(dirname "$0")/rec.dhclient.$reason
for v in new_ip_address new_subnet_mask new_routers new_interface_mtu \
	 new_domain_name_servers new_domain_search new_ip6_address new_ip6_prefixlen \
	 new_dhcp6_name_servers new_dhcp6_domain_search; do
	eval "echo \"$v=\${$v}\""
done > "$out"
E
chmod +x "$d/udhcpc.sh" "$d/dhclient.sh"

# val FILE NAME: the value recorded for NAME.
val() {
	[ -f "$1" ] || fail "the DHCP client did not call its script ($(basename "$1") missing)"
	sed -n "s/^$2=//p" "$1"
}

# in_ns SCRIPT_BODY PASTA_OPTION...: runs sh -c SCRIPT_BODY in a new pasta
# namespace (no --config-net); $0 is the temp dir, $1 the interface. The
# output, with pasta's start-up summary (-d: spawning a command, pasta is
# quiet otherwise), goes to $d/ns.log.
in_ns() {
	local body=$1
	shift
	timeout 60 "$PASTA" -d "$@" -- sh -c "$body" "$d" "$HOST_IF" > "$d/ns.log" 2>&1
	local rc=$?
	[ "$rc" = 0 ] || fail "pasta $* exited with $rc; output: $(cat "$d/ns.log")"
}

# ---- DHCPv4, with resolvers and search list ------------------------------
in_ns '
ip link set "$1" up || exit 10
timeout 20 busybox udhcpc -i "$1" -n -q -f -t 3 -s "$0/udhcpc.sh" || exit 11
timeout 30 dhclient -4 -1 -v -sf "$0/dhclient.sh" -pf "$0/d4.pid" -lf "$0/d4.lease" "$1" ||
	exit 12
' --dhcp-dns --dhcp-search

f=$d/rec.udhcpc.bound
check_eq "$(val "$f" ip)" "$HOST_ADDR4" "udhcpc: ip"
check_eq "$(val "$f" subnet)" 255.255.255.0 "udhcpc: subnet"
check_eq "$(val "$f" router)" "$HOST_GW4" "udhcpc: router"
check_eq "$(val "$f" mtu)" 65520 "udhcpc: mtu"
check_eq "$(val "$f" dns)" "$HOST_DNS4" "udhcpc: dns"
check_eq "$(val "$f" search)" "$HOST_SEARCH" "udhcpc: search"

f=$d/rec.dhclient.BOUND
check_eq "$(val "$f" new_ip_address)" "$HOST_ADDR4" "dhclient: new_ip_address"
check_eq "$(val "$f" new_subnet_mask)" 255.255.255.0 "dhclient: new_subnet_mask"
check_eq "$(val "$f" new_routers)" "$HOST_GW4" "dhclient: new_routers"
check_eq "$(val "$f" new_interface_mtu)" 65520 "dhclient: new_interface_mtu"
check_eq "$(val "$f" new_domain_name_servers)" "$HOST_DNS4" "dhclient: new_domain_name_servers"
# dhclient prints domain-search names fully qualified
check_eq "$(val "$f" new_domain_search)" "$HOST_SEARCH." "dhclient: new_domain_search"

# ---- DHCPv4 by default: no resolvers, no search list; -m changes the MTU ----
rm -f "$d"/rec.*
in_ns '
ip link set "$1" up || exit 10
timeout 20 busybox udhcpc -i "$1" -n -q -f -t 3 -s "$0/udhcpc.sh" || exit 11
' -m 1500
f=$d/rec.udhcpc.bound
check_eq "$(val "$f" ip)" "$HOST_ADDR4" "udhcpc (defaults): ip"
check_eq "$(val "$f" router)" "$HOST_GW4" "udhcpc (defaults): router"
check_eq "$(val "$f" mtu)" 1500 "udhcpc with -m 1500: mtu"
check_eq "$(val "$f" dns)" "" "udhcpc without --dhcp-dns: dns"
check_eq "$(val "$f" search)" "" "udhcpc without --dhcp-search: search"

# ---- -a / -n / -g: handed out as given ------------------------------------
rm -f "$d"/rec.*
in_ns '
ip link set "$1" up || exit 10
timeout 20 busybox udhcpc -i "$1" -n -q -f -t 3 -s "$0/udhcpc.sh" || exit 11
' -a 192.0.2.77 -n 16 -g 192.0.2.9
f=$d/rec.udhcpc.bound
check_eq "$(val "$f" ip)" 192.0.2.77 "udhcpc with -a 192.0.2.77: ip"
check_eq "$(val "$f" subnet)" 255.255.0.0 "udhcpc with -n 16: subnet"
check_eq "$(val "$f" router)" 192.0.2.9 "udhcpc with -g 192.0.2.9: router"

# ---- --no-dhcp: no lease -------------------------------------------------
rm -f "$d"/rec.*
in_ns '
ip link set "$1" up || exit 10
timeout 20 busybox udhcpc -i "$1" -n -q -f -t 2 -T 1 -s "$0/udhcpc.sh" && exit 11
exit 0
' --no-dhcp
[ -f "$d/rec.udhcpc.bound" ] && fail "udhcpc got a lease with --no-dhcp"

# ---- DHCPv6 --------------------------------------------------------------
# dhclient -6 binds to the link-local address: wait until DAD is over.
rm -f "$d"/rec.*
in_ns '
ip link set "$1" up || exit 10
i=0
until ip -6 addr show dev "$1" scope link | grep -q "inet6" &&
      ! ip -6 addr show dev "$1" scope link | grep -q tentative; do
	i=$((i + 1)); [ $i -gt 50 ] && exit 13; sleep 0.1
done
timeout 30 dhclient -6 -1 -v -sf "$0/dhclient.sh" -pf "$0/d6.pid" -lf "$0/d6.lease" "$1" ||
	exit 12
' --dhcp-dns --dhcp-search
f=$d/rec.dhclient.BOUND6
check_eq "$(val "$f" new_ip6_address)" "$HOST_ADDR6" "dhclient -6: new_ip6_address"
check_eq "$(val "$f" new_dhcp6_name_servers)" "$HOST_DNS6" "dhclient -6: new_dhcp6_name_servers"
check_eq "$(val "$f" new_dhcp6_domain_search)" "$HOST_SEARCH." "dhclient -6: new_dhcp6_domain_search"

# by default, no resolvers and no search list with DHCPv6 either
rm -f "$d"/rec.*
in_ns '
ip link set "$1" up || exit 10
i=0
until ip -6 addr show dev "$1" scope link | grep -q "inet6" &&
      ! ip -6 addr show dev "$1" scope link | grep -q tentative; do
	i=$((i + 1)); [ $i -gt 50 ] && exit 13; sleep 0.1
done
timeout 30 dhclient -6 -1 -v -sf "$0/dhclient.sh" -pf "$0/d6.pid" -lf "$0/d6b.lease" "$1" ||
	exit 12
'
f=$d/rec.dhclient.BOUND6
check_eq "$(val "$f" new_ip6_address)" "$HOST_ADDR6" "dhclient -6 (defaults): new_ip6_address"
check_eq "$(val "$f" new_dhcp6_name_servers)" "" "dhclient -6 without --dhcp-dns: name servers"
check_eq "$(val "$f" new_dhcp6_domain_search)" "" "dhclient -6 without --dhcp-search: search"

# ---- SLAAC from router advertisements ----------------------------------
# The address must show up within 5 s of the link coming up (RS, RA), and be
# usable (DAD done) soon after; the default route points to our link-local
# router address, which pasta prints at start-up.
in_ns '
echo 2 > /proc/sys/net/ipv6/conf/"$1"/accept_ra
echo 1 > /proc/sys/net/ipv6/conf/"$1"/autoconf
ip link set "$1" up || exit 10
i=0
until ip -6 addr show dev "$1" scope global | grep -q "inet6 2001:db8::"; do
	i=$((i + 1)); [ $i -gt 50 ] && exit 14; sleep 0.1
done
i=0
until ip -6 addr show dev "$1" scope global | grep "inet6 2001:db8::" | grep -vq tentative; do
	i=$((i + 1)); [ $i -gt 50 ] && exit 15; sleep 0.1
done
ip -j -6 addr show dev "$1" > "$0/slaac.addr"
ip -j -6 route show default > "$0/slaac.route"
'
prefix=$(jq -r '[.[0].addr_info[] | select(.scope == "global") |
	select(.local | startswith("2001:db8::")) | .prefixlen] | join(",")' "$d/slaac.addr")
check_eq "$prefix" 64 "prefix length of the SLAAC address"
flags=$(jq -r '[.[0].addr_info[] | select(.scope == "global") |
	((.dynamic // false) and (.mngtmpaddr // false))] | join(",")' "$d/slaac.addr")
check_eq "$flags" true "SLAAC address is dynamic, mngtmpaddr"
slaac=$(jq -r '.[0].addr_info[] | select(.scope == "global") | .local' "$d/slaac.addr")
[ "$slaac" != "$HOST_ADDR6" ] || fail "SLAAC gave the host's own address $slaac"
# the router is the link-local address pasta announces in its summary
ll=$(sed -n 's/^ *our link-local: //p' "$d/ns.log")
case $ll in
fe80::*) ;;
*) fail "no link-local address in pasta's summary: $(cat "$d/ns.log")" ;;
esac
gw=$(jq -r '[.[] | "\(.gateway) \(.dev) \(.protocol)"] | join(",")' "$d/slaac.route")
check_eq "$gw" "$ll $HOST_IF ra" "IPv6 default route from the RA"

# ---- --no-ra: no SLAAC address, no default route ------------------------
rm -f "$d"/slaac.*
in_ns '
ip link set "$1" up || exit 10
sleep 4
ip -j -6 addr show dev "$1" > "$0/slaac.addr"
ip -j -6 route show default > "$0/slaac.route"
' --no-ra
check_eq "$(jq -r '[.[0].addr_info[] | select(.scope == "global")] | length' "$d/slaac.addr")" 0 \
	"global IPv6 addresses with --no-ra"
check_eq "$(jq -r 'length' "$d/slaac.route")" 0 "IPv6 default routes with --no-ra"

exit 0
