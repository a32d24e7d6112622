// --help, --version and --print-capabilities output.
//
// The help text names every option the parser accepts in that mode; a unit
// test checks both ways against the parser and doc/passt.1, so keep the
// "  -x, --long ARG" layout: one option per line, long names spelled out.
//
// #syscalls:init write newfstatat ioctl
#include "passt/conf/conf.h"

#ifndef PASST_VERSION
#define PASST_VERSION "unknown"
#endif

namespace passt {

// One long function on purpose: it is the help text, laid out as printed,
// so that it reads (and is kept in step with doc/passt.1) as one page.
std::string usage_text(Mode mode) {
	bool pasta = mode == Mode::Pasta;
	const char *peer = pasta ? "namespace" : "guest";
	std::string t;

	if (pasta) {
		t += "Usage: pasta [OPTION]... [COMMAND [ARG]...]\n"
		     "       pasta [OPTION]... PID\n"
		     "       pasta [OPTION]... --netns PATH|NAME\n"
		     "\n"
		     "Give a network namespace user-mode connectivity through a tap device.\n"
		     "Without PID or --netns, start COMMAND (default: a shell) in new user,\n"
		     "network, PID, UTS and IPC namespaces and connect those.\n";
	} else {
		t += "Usage: passt [OPTION]...\n"
		     "\n"
		     "Give a virtual machine user-mode connectivity over a UNIX domain socket\n"
		     "(qemu -netdev stream) or vhost-user (--vhost-user).\n";
	}

	t += "\nGeneral:\n"
	     "  -d, --debug               Log debug messages too\n"
	     "      --trace               Log every packet as well (implies --debug)\n"
	     "      --stats DELAY         Show event statistics, at most every DELAY\n"
	     "                            seconds (needs --foreground)\n"
	     "  -q, --quiet               Only log warnings and errors\n"
	     "  -f, --foreground          Stay in the foreground (default: daemonise)\n"
	     "  -e, --stderr              Deprecated, kept for compatibility\n"
	     "  -l, --log-file PATH       Log to PATH, not to the system log\n"
	     "      --log-size BYTES      Keep the log file below BYTES (default: 1 MiB)\n"
	     "      --runas UID[:GID]     Switch to this user and group, numeric or by\n"
	     "                            name, once set up (default, if started as\n"
	     "                            root: nobody); the sandbox is always on\n"
	     "  -c, --conf-path PATH      UNIX socket (mode 0600) through which pesto(1)\n"
	     "                            changes the forwarding rules at run time\n"
	     "  -h, --help                Show this text and exit\n"
	     "      --version             Show the version and exit\n"
	     "      --print-capabilities  Print vhost-user back-end capabilities (JSON)\n"
	     "                            and exit\n"
	     "  -p, --pcap FILE           Capture ";
	t += peer;
	t += "-side frames to FILE (pcap format)\n"
	     "  -P, --pid FILE            Write our PID to FILE\n"
	     "  -F, --fd FD               Use the already connected socket FD\n"
	     "                            (exit once it is closed)\n";

	if (!pasta) {
		t += "\nConnection to the hypervisor:\n"
		     "  -s, --socket PATH         UNIX domain socket to listen on; also\n"
		     "      --socket-path PATH    (default: first free /tmp/passt_N.socket)\n"
		     "      --vhost-user          Speak vhost-user on that socket\n"
		     "      --repair-path PATH    Socket for passt-repair (vhost-user; default:\n"
		     "                            socket path with \".repair\", \"none\": off)\n"
		     "      --migrate-exit        Deprecated: exit after migrating away\n"
		     "      --migrate-no-linger   Deprecated: close sockets after migration\n"
		     "  -1, --one-off             Exit when the first client disconnects\n";
	}

	t += "\nAddresses and routes:\n"
	     "  -m, --mtu MTU             MTU to advertise, 0: none (default: 65520)\n"
	     "  -a, --address ADDR[/LEN]  Address for the ";
	t += peer;
	t += ", IPv4 or IPv6, once per\n"
	     "                            version (default: the host's)\n"
	     "  -n, --netmask MASK        IPv4 netmask, dotted or prefix length\n"
	     "  -M, --mac-addr ADDR       Our MAC address (default: 9a:55:9a:55:9a:55)\n"
	     "  -g, --gateway ADDR        Default gateway, IPv4 or IPv6, once per\n"
	     "                            version (default: the host's)\n"
	     "  -i, --interface NAME      Host interface to copy addresses and routes\n"
	     "                            from (default: the default-route one)\n"
	     "  -o, --outbound ADDR       Source address for outbound sockets, once\n"
	     "                            per IP version (default: routing decides)\n"
	     "      --outbound-if4 NAME   Bind outbound IPv4 sockets to interface NAME\n"
	     "      --outbound-if6 NAME   Bind outbound IPv6 sockets to interface NAME\n"
	     "  -4, --ipv4-only           Use IPv4 only\n"
	     "  -6, --ipv6-only           Use IPv6 only\n"
	     "      --map-host-loopback ADDR\n"
	     "                            Address that reaches the host's loopback,\n"
	     "                            \"none\" for no such address (default: the\n"
	     "                            gateway)\n"
	     "      --map-guest-addr ADDR Address that reaches the host's own global\n"
	     "                            address, \"none\" to disable (default: none)\n"
	     "      --no-map-gw           Don't map the gateway to the host\n";

	t += "\nDNS and host names:\n"
	     "  -D, --dns ADDR            Resolver to advertise, repeatable, \"none\" for\n"
	     "                            none (default: from /etc/resolv.conf)\n"
	     "      --dns-forward ADDR    Send DNS queries for ADDR to the host resolver\n"
	     "      --dns-host ADDR       That host resolver (default: first one of\n"
	     "                            /etc/resolv.conf)\n"
	     "  -S, --search LIST         Search domains, blank-separated, \"none\" for\n"
	     "                            none (default: from /etc/resolv.conf)\n"
	     "  -H, --hostname NAME       Host name to hand out with DHCP\n"
	     "      --fqdn NAME           FQDN to hand out with DHCP and DHCPv6\n";
	if (pasta)
		t += "      --dhcp-dns            Do advertise resolvers with DHCP, DHCPv6, NDP\n"
		     "      --dhcp-search         Do advertise search domains likewise\n";
	else
		t += "      --no-dhcp-dns         Don't advertise resolvers with DHCP, DHCPv6, "
		     "NDP\n"
		     "      --no-dhcp-search      Don't advertise search domains likewise\n";

	t += "\nProtocols and services:\n"
	     "      --no-tcp              Disable TCP\n"
	     "      --no-udp              Disable UDP\n"
	     "      --no-icmp             Disable ICMP and ICMPv6 echo (implies --no-ndp)\n"
	     "      --no-dhcp             Disable the DHCP server\n"
	     "      --no-ndp              Disable neighbour discovery replies\n"
	     "      --no-dhcpv6           Disable the DHCPv6 server\n"
	     "      --no-ra               Disable router advertisements\n"
	     "      --freebind            Allow any listening address in -t and -u\n"
	     "      --chroot-fallback     Use chroot() if pivot_root() fails\n";

	t += "\nPort forwarding:\n"
	     "  -t, --tcp-ports SPEC      TCP ports to forward from the host to the\n"
	     "                            ";
	t += peer;
	t += ", repeatable (default: ";
	t += pasta ? "auto" : "none";
	t += ")\n"
	     "  -u, --udp-ports SPEC      The same for UDP\n"
	     "    SPEC is \"none\", or [ADDR][%IF]/ followed by a comma-separated list of:\n"
	     "      FIRST[-LAST][:[TO_ADDR/]TO_FIRST[-TO_LAST]]   ports, maybe remapped\n"
	     "      FIRST[-LAST]:TO_ADDR                          ports, to another address\n"
	     "      ~FIRST[-LAST]                                 ports to leave out\n"
	     "      all[:TO_ADDR]                                 all non-ephemeral ports\n";
	if (pasta)
		t += "      auto                                          only ports bound in\n"
		     "                                                    the namespace\n";
	t += "    Only exclusions (or nothing but \"all\") forward every other port.\n"
	     "    Examples: -t 22   -t 2222:22   -t 192.0.2.1/80   -t 1000-2000,~1500\n";

	if (pasta) {
		t += "\nNamespace:\n"
		     "  -T, --tcp-ns SPEC         TCP ports to forward from the namespace to\n"
		     "                            the host's loopback (default: auto)\n"
		     "  -U, --udp-ns SPEC         The same for UDP (default: auto)\n"
		     "    For -T and -U, auto forwards the ports bound on the host's\n"
		     "    loopback or unspecified address\n"
		     "  -I, --ns-ifname NAME      Name of the tap interface in the namespace\n"
		     "                            (default: the host's uplink name, or tap0)\n"
		     "      --ns-mac-addr ADDR    MAC address of that interface\n"
		     "      --config-net          Set up addresses and routes in the namespace\n"
		     "      --no-copy-routes      Deprecated: only set up the default route\n"
		     "      --no-copy-addrs       Deprecated: only set up one address\n"
		     "      --userns PATH         User namespace to join\n"
		     "      --netns PATH|NAME     Network namespace to join (NAME: in /run/netns)\n"
		     "      --netns-only          Don't join or create a user namespace\n"
		     "      --no-netns-quit       Keep running if the namespace goes away\n"
		     "      --no-pidns            Don't give COMMAND its own PID namespace\n"
		     "      --host-lo-to-ns-lo    Deliver forwarded connections from the host's\n"
		     "                            loopback to the namespace's loopback\n"
		     "      --no-splice           Don't bypass the tap device for inbound local\n"
		     "                            traffic (-t, -u)\n"
		     "      --splice-only         No tap device: only forward loopback traffic\n";
	}
	return t;
}

void usage(Mode mode, FILE *f) { std::fputs(usage_text(mode).c_str(), f); }

void print_version(Mode mode, FILE *f) {
	std::fprintf(f,
		     "%s " PASST_VERSION "\n"
		     "A C++ implementation of passt and pasta.\n"
		     "License: GNU GPL version 2 or later "
		     "<https://www.gnu.org/licenses/old-licenses/gpl-2.0.html>.\n"
		     "This is free software: you are free to change and redistribute it.\n"
		     "There is NO WARRANTY, to the extent permitted by law.\n",
		     mode_name(mode));
}

void print_capabilities(FILE *f) { std::fputs("{\n  \"type\": \"net\"\n}\n", f); }

} // namespace passt
