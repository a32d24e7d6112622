#!/bin/bash
# shellcheck source-path=SCRIPTDIR disable=SC2016
# pasta --config-net: the namespace interface gets the host's addresses,
# routes and name (veth0 in the hermetic host), MTU 65520 by default, lo is
# up; -I/--ns-ifname, -m, -a/-n, --no-copy-routes change what is set up.
. "$(dirname "$0")/lib.sh"

need_pkg jq jq
need_cmd ip
hermetic_host
[ -x "$PASTA" ] || fail "no pasta binary at $PASTA (build first)"

# Extra routes on the template interface, to see which ones are copied.
check ip route add 198.51.100.0/24 via 192.0.2.254 dev "$HOST_IF"
check ip -6 route add 2001:db8:5::/64 via 2001:db8::fe dev "$HOST_IF"

out=$(new_tmpdir)

# ns_dump TAG PASTA_OPTION...: runs pasta --config-net with the options and
# stores the namespace's `ip -j` views in $out/TAG.{addr,route4,route6,link}.
ns_dump() {
	local tag=$1
	shift
	rm -f "$out/$tag".*
	timeout 20 "$PASTA" -q --config-net "$@" -- sh -c '
		ip -j addr > "$0.addr" && ip -j -4 route > "$0.route4" &&
		ip -j -6 route > "$0.route6" && ip -j link > "$0.link"' \
		"$out/$tag" > "$out/$tag.log" 2>&1
	local rc=$?
	[ "$rc" = 0 ] || fail "pasta $* exited with $rc: $(cat "$out/$tag.log")"
	local f
	for f in addr route4 route6 link; do
		jq -e . "$out/$tag.$f" > /dev/null || fail "pasta $*: no valid ip -j output ($f)"
	done
}

# q TAG.FILE JQ_FILTER: jq -r on a stored dump.
q() {
	jq -r "$2" "$out/$1"
}

links() { q "$1.link" '[.[].ifname] | sort | join(" ")'; }
addrs4() { # TAG IF
	q "$1.addr" "[.[] | select(.ifname == \"$2\") | .addr_info[] |
		select(.family == \"inet\") | \"\(.local)/\(.prefixlen)\"] | sort | join(\" \")"
}
addrs6() { # TAG IF: global ones
	q "$1.addr" "[.[] | select(.ifname == \"$2\") | .addr_info[] |
		select(.family == \"inet6\" and .scope == \"global\") |
		\"\(.local)/\(.prefixlen)\"] | sort | join(\" \")"
}
defroute() { # TAG.route4|route6
	q "$1" '[.[] | select(.dst == "default") | "\(.gateway) \(.dev)"] | join(",")'
}
routes() { # TAG.route4|route6: non-default destinations with a gateway
	q "$1" '[.[] | select(.dst != "default" and .gateway != null) |
		"\(.dst) \(.gateway) \(.dev)"] | sort | join(",")'
}
mtu() { q "$1.link" ".[] | select(.ifname == \"$2\") | .mtu"; }
is_up() { q "$1.link" ".[] | select(.ifname == \"$2\") | .flags | index(\"UP\") != null"; }

# ---- defaults ----------------------------------------------------------
ns_dump def
check_eq "$(links def)" "lo $HOST_IF" "links in the namespace"
check_eq "$(is_up def lo)" true "lo up"
check_eq "$(is_up def "$HOST_IF")" true "$HOST_IF up"
check_eq "$(mtu def "$HOST_IF")" 65520 "default MTU"
check_eq "$(addrs4 def "$HOST_IF")" "$HOST_ADDR4/$HOST_PREFIX4" "IPv4 addresses"
check_eq "$(addrs6 def "$HOST_IF")" "$HOST_ADDR6/$HOST_PREFIX6" "IPv6 addresses"
check_eq "$(addrs4 def lo)" "127.0.0.1/8" "lo address"
check_eq "$(defroute def.route4)" "$HOST_GW4 $HOST_IF" "IPv4 default route"
check_eq "$(defroute def.route6)" "$HOST_GW6 $HOST_IF" "IPv6 default route"
check_eq "$(routes def.route4)" "198.51.100.0/24 192.0.2.254 $HOST_IF" "copied IPv4 routes"
check_eq "$(routes def.route6)" "2001:db8:5::/64 2001:db8::fe $HOST_IF" "copied IPv6 routes"
# the IPv6 address is usable at once (not tentative)
check_eq "$(q def.addr '[.[].addr_info[] | select(.local == "2001:db8::2") |
	.tentative // false] | join(",")')" false "2001:db8::2 not tentative"

# ---- --ns-ifname / -I --------------------------------------------------
ns_dump ifname --ns-ifname foo
check_eq "$(links ifname)" "foo lo" "links with --ns-ifname foo"
check_eq "$(addrs4 ifname foo)" "$HOST_ADDR4/$HOST_PREFIX4" "IPv4 address on foo"
check_eq "$(addrs6 ifname foo)" "$HOST_ADDR6/$HOST_PREFIX6" "IPv6 address on foo"
check_eq "$(defroute ifname.route4)" "$HOST_GW4 foo" "IPv4 default route on foo"
check_eq "$(defroute ifname.route6)" "$HOST_GW6 foo" "IPv6 default route on foo"

ns_dump ifname_short -I bar
check_eq "$(links ifname_short)" "bar lo" "links with -I bar"
check_eq "$(is_up ifname_short bar)" true "bar up"

# ---- -m / --mtu ----------------------------------------------------------
ns_dump mtu -m 1500
check_eq "$(mtu mtu "$HOST_IF")" 1500 "MTU with -m 1500"
ns_dump mtu_long --mtu 9000
check_eq "$(mtu mtu_long "$HOST_IF")" 9000 "MTU with --mtu 9000"

# ---- -a / -n -------------------------------------------------------------
ns_dump addr -a 192.0.2.77 -n 24
check_eq "$(addrs4 addr "$HOST_IF")" "192.0.2.77/24" "IPv4 address with -a 192.0.2.77 -n 24"
check_eq "$(addrs6 addr "$HOST_IF")" "$HOST_ADDR6/$HOST_PREFIX6" "IPv6 address with -a (IPv4)"
check_eq "$(defroute addr.route4)" "$HOST_GW4 $HOST_IF" "IPv4 default route with -a"

ns_dump mask -a 192.0.2.77 -n 255.255.0.0
check_eq "$(addrs4 mask "$HOST_IF")" "192.0.2.77/16" "IPv4 address with a dotted netmask"

ns_dump addr6 -a 2001:db8::77
check_eq "$(addrs6 addr6 "$HOST_IF")" "2001:db8::77/64" "IPv6 address with -a 2001:db8::77"
check_eq "$(addrs4 addr6 "$HOST_IF")" "$HOST_ADDR4/$HOST_PREFIX4" "IPv4 address with -a (IPv6)"

# ---- -g ------------------------------------------------------------------
ns_dump gw -g 192.0.2.9
check_eq "$(defroute gw.route4)" "192.0.2.9 $HOST_IF" "IPv4 default route with -g"
check_eq "$(defroute gw.route6)" "$HOST_GW6 $HOST_IF" "IPv6 default route with -g (IPv4)"

# ---- --no-copy-routes ----------------------------------------------------
ns_dump nocopy --no-copy-routes
check_eq "$(defroute nocopy.route4)" "$HOST_GW4 $HOST_IF" "IPv4 default route, --no-copy-routes"
check_eq "$(defroute nocopy.route6)" "$HOST_GW6 $HOST_IF" "IPv6 default route, --no-copy-routes"
check_eq "$(routes nocopy.route4)" "" "IPv4 routes with a gateway, --no-copy-routes"
check_eq "$(routes nocopy.route6)" "" "IPv6 routes with a gateway, --no-copy-routes"

# ---- -4 / -6: one IP version only --------------------------------------
ns_dump v4 -4
check_eq "$(addrs4 v4 "$HOST_IF")" "$HOST_ADDR4/$HOST_PREFIX4" "IPv4 address with -4"
check_eq "$(addrs6 v4 "$HOST_IF")" "" "global IPv6 addresses with -4"
check_eq "$(defroute v4.route6)" "" "IPv6 default route with -4"
ns_dump v6 -6
check_eq "$(addrs4 v6 "$HOST_IF")" "" "IPv4 addresses with -6"
check_eq "$(addrs6 v6 "$HOST_IF")" "$HOST_ADDR6/$HOST_PREFIX6" "IPv6 address with -6"
check_eq "$(defroute v6.route4)" "" "IPv4 default route with -6"

# ---- --ns-mac-addr -------------------------------------------------------
ns_dump mac --ns-mac-addr 02:11:22:33:44:55
check_eq "$(q mac.link ".[] | select(.ifname == \"$HOST_IF\") | .address")" \
	02:11:22:33:44:55 "MAC address with --ns-mac-addr"

# ---- without --config-net: lo up, the tap interface there but down --------
rm -f "$out"/plain.*
timeout 20 "$PASTA" -q -- sh -c 'ip -j addr > "$0.addr"; ip -j link > "$0.link"' \
	"$out/plain" > "$out/plain.log" 2>&1 || fail "pasta without --config-net: $(cat "$out/plain.log")"
check_eq "$(links plain)" "lo $HOST_IF" "links without --config-net"
check_eq "$(is_up plain lo)" true "lo up without --config-net"
check_eq "$(is_up plain "$HOST_IF")" false "$HOST_IF down without --config-net"
check_eq "$(addrs4 plain "$HOST_IF")" "" "no IPv4 address without --config-net"

# ---- as an unprivileged user (pasta's usual case) -------------------------
if can_unprivileged; then
	u=$(new_unpriv_tmpdir)
	as_unprivileged timeout 20 "$PASTA" -q --config-net -- sh -c '
		ip -j addr > "$0/unpriv.addr" && ip -j -4 route > "$0/unpriv.route4" &&
		ip -j link > "$0/unpriv.link"' "$u" > "$u/log" 2>&1 ||
		fail "unprivileged pasta --config-net: $(cat "$u/log")"
	cp "$u"/unpriv.* "$out/" || fail "no output from unprivileged pasta"
	check_eq "$(addrs4 unpriv "$HOST_IF")" "$HOST_ADDR4/$HOST_PREFIX4" "IPv4 address, unprivileged"
	check_eq "$(addrs6 unpriv "$HOST_IF")" "$HOST_ADDR6/$HOST_PREFIX6" "IPv6 address, unprivileged"
	check_eq "$(defroute unpriv.route4)" "$HOST_GW4 $HOST_IF" "IPv4 default route, unprivileged"
	check_eq "$(mtu unpriv "$HOST_IF")" 65520 "MTU, unprivileged"
else
	log "cannot run as an unprivileged user here: that part skipped"
fi

exit 0
