# shellcheck shell=sh
# Default guest test (sourced by /init after DHCP): reports the link and
# its configuration for the host to check (GUEST-LINK, GUEST-IP6), checks
# that SLAAC from the router advertisement gave a global IPv6 address and a
# default route via a link-local router, and that the IPv4 gateway answers
# ping.
ip -o addr show dev eth0
ip route
ip -6 route
echo "GUEST-LINK mtu=$(cat /sys/class/net/eth0/mtu)"
result link ip -o addr show dev eth0

# SLAAC: the kernel's RS at link-up got an RA; duplicate address detection
# takes a second or so before the address stops being tentative.
i=0
while [ $i -lt 100 ]; do
	a6=$(ip -6 -o addr show dev eth0 scope global | grep -v tentative |
	     sed -n 's/.* inet6 \([^ ]*\) .*/\1/p' | head -n 1)
	r6=$(ip -6 route show default dev eth0 | sed -n 's/.*via \([^ ]*\) .*/\1/p' | head -n 1)
	[ -n "$a6" ] && [ -n "$r6" ] && break
	sleep 0.1
	i=$((i + 1))
done
echo "GUEST-IP6 addr=$a6 router=$r6"
result ipv6-slaac test -n "$a6"
case "$r6" in
fe80::*) echo "GUEST-RESULT ipv6-route PASS" ;;
*) echo "GUEST-RESULT ipv6-route FAIL no default route via a link-local router" ;;
esac

if [ -n "${DHCP_ROUTER:-}" ]; then
	result ping-gw ping -c 3 -W 3 "$DHCP_ROUTER"
fi
