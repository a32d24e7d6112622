// Options that set one field each, by group: logging, general (files,
// --runas, the back-end socket, vhost-user migration), protocol and service
// switches, and port forwarding (kept for derive_ports()).
//
// #syscalls:init socket connect close newfstatat openat read lseek
#include "parser.h"

#include <climits>
#include <cstring>
#include <grp.h>
#include <pwd.h>

namespace passt::conf_detail {

bool Parser::apply_log(int id, const char *arg) {
	unsigned long v;
	switch (id) {
	case 'd':
		c_.log_level = c_.log_level > 1 ? c_.log_level : 1;
		c_.quiet = false;
		break;
	case O_TRACE:
		c_.log_level = 2;
		c_.quiet = false;
		break;
	case 'q':
		c_.quiet = true;
		c_.log_level = 0;
		break;
	case O_STATS:
		if (!parse_ulong(arg, true, UINT_MAX, v))
			return bad_arg("delay", id, arg);
		c_.stats_delay = unsigned(v);
		stats_given_ = true;
		break;
	case 'f': c_.foreground = true; break;
	case 'e':
		c_.log_stderr = true;
		warn("--stderr is deprecated and will be removed");
		break;
	case 'l': return set_path(c_.log_file, id, arg, PATH_MAX - 1);
	case O_LOG_SIZE:
		if (!parse_ulong(arg, true, ULONG_MAX, v) || v < CONF_LOG_SIZE_MIN)
			return fail("invalid size for " + opt_name(id) + " (minimum " +
				    std::to_string(CONF_LOG_SIZE_MIN) + "): " + arg);
		c_.log_size = v;
		break;
	default: return unhandled(id);
	}
	return true;
}

bool Parser::apply_general(int id, const char *arg, ParseStatus &stop) {
	unsigned long v;
	switch (id) {
	case O_RUNAS: return parse_runas(arg);
	case 'c': return set_path(c_.conf_path, id, arg, CONF_UNIX_PATH_MAX);
	case 'h': stop = ParseStatus::Help; break;
	case O_VERSION: stop = ParseStatus::Version; break;
	case O_PRINT_CAPS: stop = ParseStatus::PrintCapabilities; break;
	case 'p': return set_path(c_.pcap_file, id, arg, PATH_MAX - 1);
	case 'P': return set_path(c_.pid_file, id, arg, PATH_MAX - 1);
	case 'F':
		if (!parse_ulong(arg, true, INT_MAX, v))
			return bad_arg("file descriptor", id, arg);
		c_.fd = int(v);
		c_.one_off = true;
		c_.socket_path.clear();
		break;
	case 's':
		if (!set_path(c_.socket_path, id, arg, CONF_UNIX_PATH_MAX))
			return false;
		c_.fd = -1;
		break;
	case O_VHOST_USER: break; // mode already switched
	case O_REPAIR_PATH: return set_path(c_.repair_path, id, arg, CONF_UNIX_PATH_MAX);
	case O_MIGRATE_EXIT:
		c_.migrate_exit = true;
		warn("--migrate-exit is deprecated and will be removed");
		break;
	case O_MIGRATE_NO_LINGER:
		c_.migrate_no_linger = true;
		warn("--migrate-no-linger is deprecated and will be removed");
		break;
	case '1': c_.one_off = true; break;
	default: return unhandled(id);
	}
	return true;
}

bool Parser::apply_switch(int id) {
	switch (id) {
	case O_NO_TCP: c_.no_tcp = true; break;
	case O_NO_UDP: c_.no_udp = true; break;
	case O_NO_ICMP: c_.no_icmp = true; break;
	case O_NO_DHCP: c_.no_dhcp = true; break;
	case O_NO_NDP: c_.no_ndp = true; break;
	case O_NO_DHCPV6: c_.no_dhcpv6 = true; break;
	case O_NO_RA: c_.no_ra = true; break;
	case O_FREEBIND: c_.freebind = true; break;
	case O_CHROOT_FALLBACK: c_.chroot_fallback = true; break;
	default: return unhandled(id);
	}
	return true;
}

bool Parser::apply_forward(int id, const char *arg) {
	switch (id) {
	case 't':
	case 'u':
	case 'T':
	case 'U': {
		// Parsed once the IP versions in use are known
		static const char names[] = "tuTU";
		fwd_given_[std::strchr(names, id) - names] = true;
		fwd_specs_.emplace_back(char(id), arg);
		break;
	}
	default: return unhandled(id);
	}
	return true;
}

bool Parser::set_path(std::string &dst, int id, const char *arg, size_t max) {
	size_t len = std::strlen(arg);
	if (!len)
		return fail("empty path for " + opt_name(id));
	if (len > max)
		return fail("path too long for " + opt_name(id) + " (maximum " +
			    std::to_string(max) + " bytes): " + arg);
	dst = arg;
	return true;
}

bool Parser::set_ifname(std::string &dst, int id, const char *arg) {
	size_t len = std::strlen(arg);
	if (!len || len > 15 || std::strchr(arg, '/') || !std::strcmp(arg, ".") ||
	    !std::strcmp(arg, ".."))
		return bad_arg("interface name", id, arg);
	dst = arg;
	return true;
}

// --runas UID|UID:GID|LOGIN|LOGIN:GROUP
bool Parser::parse_runas(const char *arg) {
	std::string s(arg);
	std::string user = s, group;
	bool has_group = false;
	size_t colon = s.find(':');
	if (colon != std::string::npos) {
		user = s.substr(0, colon);
		group = s.substr(colon + 1);
		has_group = true;
	}
	if (user.empty() || (has_group && group.empty()))
		return bad_arg("user or group", O_RUNAS, arg);
	unsigned long v;
	uint32_t uid, gid;
	if (parse_ulong(user, true, UINT32_MAX - 1, v)) {
		uid = gid = uint32_t(v);
	} else {
		struct passwd *pw = getpwnam(user.c_str());
		// As the C passt: a login name must not resolve to root
		if (!pw || !pw->pw_uid)
			return bad_arg("user", O_RUNAS, arg);
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	if (has_group) {
		if (parse_ulong(group, true, UINT32_MAX - 1, v)) {
			gid = uint32_t(v);
		} else {
			struct group *gr = getgrnam(group.c_str());
			if (!gr)
				return bad_arg("group", O_RUNAS, arg);
			gid = gr->gr_gid;
		}
	}
	c_.runas = s;
	c_.runas_uid = uid;
	c_.runas_gid = gid;
	return true;
}

} // namespace passt::conf_detail
