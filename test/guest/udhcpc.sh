#!/bin/sh
# shellcheck disable=SC2154 # udhcpc sets interface, ip, mask, router, mtu, dns
# udhcpc event script: apply the lease (address, prefix, router, MTU, DNS)
# to $interface and record it in /tmp/dhcp.env for the tests. Only IPv4
# addresses are flushed: the link-local and SLAAC IPv6 addresses stay.
case "$1" in
deconfig)
	ip -4 addr flush dev "$interface"
	ip link set "$interface" up
	;;
bound | renew)
	prefix=${mask:-}
	if [ -z "$prefix" ]; then
		# Count the bits of a dotted netmask.
		prefix=0
		for o in $(echo "${subnet:-255.255.255.0}" | tr . ' '); do
			while [ "$o" -gt 0 ]; do
				prefix=$((prefix + (o & 1)))
				o=$((o >> 1))
			done
		done
	fi
	[ -n "${mtu:-}" ] && ip link set dev "$interface" mtu "$mtu"
	ip -4 addr flush dev "$interface"
	ip addr add "$ip/$prefix" dev "$interface"
	if [ -n "${router:-}" ]; then
		for r in $router; do
			ip route add default via "$r" dev "$interface" && break
		done
	fi
	: > /etc/resolv.conf
	for d in ${dns:-}; do echo "nameserver $d" >> /etc/resolv.conf; done
	{
		echo "DHCP_IP=$ip"
		echo "DHCP_PREFIX=$prefix"
		echo "DHCP_ROUTER='${router%% *}'"
		echo "DHCP_MTU='${mtu:-}'"
		echo "DHCP_DNS='${dns:-}'"
	} > /tmp/dhcp.env
	echo "GUEST-DHCP ip=$ip/$prefix router=${router:-} mtu=${mtu:-} dns=${dns:-} domain=${domain:-}"
	;;
esac
exit 0
