// DHCPv6 server (RFC 8415) towards the guest.
//
// Theory of operation
//
// There is one client and one address to give (Config::ip6.addr), so the
// server keeps no bindings: every answer is computed from the message and
// the configuration alone. Messages arrive from the client port 546 at
// All_DHCP_Relay_Agents_and_Servers (ff02::1:2) or at our link-local
// address; answers go from our link-local address, port 547, to the
// client's source address and MAC, port 546.
//
//   Solicit             -> Advertise (Preference 255, so that the client
//                          asks at once), or Reply with Rapid Commit if the
//                          client sent Rapid Commit (RFC 8415 18.3.1)
//   Request, Renew,
//   Rebind              -> Reply
//   Confirm             -> Reply, status Success if every address listed is
//                          ours, NotOnLink otherwise, nothing if it lists no
//                          address (18.3.3)
//   Release, Decline    -> Reply, status Success (18.3.7, 18.3.8)
//   Information-request -> Reply with configuration only (18.3.6)
//
// Address assignment: the first IA_NA of the message gets our address with
// infinite lifetimes and T1/T2 (as the C passt; the address never changes);
// any further IA_NA, every IA_TA and IA_PD get status NoAddrsAvail /
// NoPrefixAvail inside the IA. A Renew or Rebind that lists other addresses
// gets them back with zero lifetimes, so the client drops them (18.3.4/5).
// A Solicit with no IA_NA, or when we have no address, gets an Advertise
// with just status NoAddrsAvail (18.3.1).
//
// Configuration options: DNS Recursive Name Servers (23) and Domain Search
// List (24, RFC 3646) unless --no-dhcp-dns / --no-dhcp-search, and Client
// FQDN (39, RFC 4704) with --fqdn. We update no DNS records; like the C
// passt we set the O flag when the client asked us to (S) and no flag
// otherwise. Options that would push the reply over the IPv6 minimum MTU are
// left out; a reply whose identifiers and IAs alone don't fit (a client
// message stuffed with IAs) is not sent.
//
// Identifiers (16 and 21.2/21.3): every message but Information-request
// needs exactly one Client Identifier; Request, Renew, Release and Decline
// must carry our Server Identifier; Solicit, Confirm and Rebind must carry
// none; an Information-request may carry ours. Anything else is dropped.
// Our DUID is a DUID-LL of our MAC address (see dhcpv6.h).
//
// Parsing is bounds-checked throughout (passt/net/tlv.h, tlv::Dhcp6, one
// reader per level of nesting): an option whose length runs past
// its container (message, IA, IA Address), a truncated IA or IA Address or
// an oversized DUID drops the whole message. The UDP checksum is not
// checked: guests with checksum offload hand over frames whose checksum
// holds only the pseudo-header sum (Linux veth, virtio-net), and the C
// passt does not check it either.
#include "passt/services/dhcpv6.h"

#include <cstring>
#include <optional>

#include "passt/conf/config.h"
#include "passt/core/log.h"
#include "passt/net/build.h"
#include "passt/net/eth.h"
#include "passt/net/ip6.h"
#include "passt/net/tlv.h"
#include "passt/net/udp.h"
#include "passt/services/dns_name.h"
#include "passt/services/ndp.h"
#include "passt/tap/output.h"

namespace passt {

namespace {

using namespace dhcpv6;

Dhcpv6Stats stats;

// Replies stay within the IPv6 minimum MTU.
constexpr size_t payload_max = 1280 - Ip6View::hdr_len - UdpView::hdr_len;
constexpr size_t duid_max = 130; // RFC 8415 11.1, type code included
constexpr size_t hdr_len = 4;    // message type, transaction ID

using Opt = tlv::Option;
using Writer = tlv::Writer<tlv::Dhcp6>;

// Call f(Opt) for each option until f returns false; false if malformed.
template <class F> bool for_each_opt(std::span<const std::byte> opts, F &&f) {
	return tlv::for_each<tlv::Dhcp6>(opts, f);
}

// Fixed part of each IA option, before its own options.
size_t ia_fixed_len(uint16_t code) { return code == opt_ia_ta ? 4 : 12; }

bool is_ia(uint16_t code) { return code == opt_ia_na || code == opt_ia_ta || code == opt_ia_pd; }

// Check an IA option's layout: fixed part, well-formed sub-options, IA
// Addresses of at least 24 bytes with well-formed options of their own.
bool ia_valid(const Opt &ia) {
	size_t fixed = ia_fixed_len(ia.code);
	if (ia.data.size() < fixed)
		return false;
	bool ok = true;
	bool walked = for_each_opt(ia.data.subspan(fixed), [&](const Opt &o) {
		if (o.code == opt_iaaddr &&
		    (o.data.size() < 24 || !tlv::valid<tlv::Dhcp6>(o.data.subspan(24))))
			ok = false;
		return ok;
	});
	return walked && ok;
}

// What we need from a client message.
struct ClientMsg {
	uint8_t type = 0;
	std::span<const std::byte> xid;
	std::span<const std::byte> opts;
	std::optional<std::span<const std::byte>> client_id; // whole option
	std::optional<std::span<const std::byte>> server_id; // DUID only
	bool rapid_commit = false;
	bool has_ia = false; // any IA_NA, IA_TA or IA_PD
	bool has_ia_na = false;
	uint8_t fqdn_flags = 0;
};

// Parse and validate the options of msg. nullopt if malformed.
std::optional<ClientMsg> parse(std::span<const std::byte> msg) {
	if (msg.size() < hdr_len)
		return std::nullopt;
	ClientMsg m;
	m.type = uint8_t(msg[0]);
	m.xid = msg.subspan(1, 3);
	m.opts = msg.subspan(hdr_len);

	bool ok = true;
	bool walked = for_each_opt(m.opts, [&](const Opt &o) {
		switch (o.code) {
		case opt_clientid:
			if (m.client_id || o.data.size() < 2 || o.data.size() > duid_max)
				ok = false;
			m.client_id = o.bytes;
			break;
		case opt_serverid:
			if (m.server_id || o.data.size() < 2 || o.data.size() > duid_max)
				ok = false;
			m.server_id = o.data;
			break;
		case opt_ia_na:
		case opt_ia_ta:
		case opt_ia_pd:
			if (!ia_valid(o))
				ok = false;
			m.has_ia = true;
			m.has_ia_na |= o.code == opt_ia_na;
			break;
		case opt_rapid_commit: m.rapid_commit = true; break;
		case opt_client_fqdn:
			if (!o.data.empty())
				m.fqdn_flags = uint8_t(o.data[0]);
			break;
		default: break;
		}
		return ok;
	});
	if (!walked || !ok)
		return std::nullopt;
	return m;
}

// Status codes with our own short messages.
const char *status_text(uint16_t code) {
	switch (code) {
	case status_success: return "";
	case status_no_addrs_avail: return "no address available for this IA";
	case status_not_on_link: return "address not in use on this link";
	case status_no_prefix_avail: return "no prefix delegation";
	default: return "";
	}
}

void put_status(Writer &w, uint16_t code) {
	size_t at = w.open(opt_status_code);
	w.put16(code);
	const char *t = status_text(code);
	w.put(std::as_bytes(std::span(t, std::strlen(t))));
	w.close(at);
}

void put_iaaddr(Writer &w, const Ipv6Addr &a, uint32_t pref, uint32_t valid) {
	size_t at = w.open(opt_iaaddr);
	w.put(a.b);
	w.put32(pref);
	w.put32(valid);
	w.close(at);
}

// The IA options of the reply, one per IA of the request (see the top of
// the file). invalidate_others: list the client's other addresses with zero
// lifetimes (Renew, Rebind). Returns true if our address was given.
bool put_ias(const Config &c, Writer &w, const ClientMsg &m, bool invalidate_others) {
	bool have_addr = !c.ip6.addr.is_unspecified();
	bool given = false;
	for_each_opt(m.opts, [&](const Opt &ia) {
		if (!is_ia(ia.code))
			return true;
		size_t at = w.open(ia.code);
		w.put(ia.data.first(4)); // IAID
		if (ia.code == opt_ia_na && have_addr && !given) {
			w.put32(infinite); // T1
			w.put32(infinite); // T2
			put_iaaddr(w, c.ip6.addr, infinite, infinite);
			for_each_opt(ia.data.subspan(12), [&](const Opt &o) {
				if (!invalidate_others || o.code != opt_iaaddr)
					return true;
				Ipv6Addr a;
				std::memcpy(a.b.data(), o.data.data(), 16);
				if (a != c.ip6.addr)
					put_iaaddr(w, a, 0, 0);
				return true;
			});
			given = true;
		} else {
			if (ia.code != opt_ia_ta) {
				w.put32(0);
				w.put32(0);
			}
			put_status(w, ia.code == opt_ia_pd ? status_no_prefix_avail
							   : status_no_addrs_avail);
		}
		w.close(at);
		return true;
	});
	return given;
}

// DNS servers, search list and FQDN, each left out if it doesn't fit.
void put_config(const Config &c, Writer &w, const ClientMsg &m) {
	if (w.overflow())
		return;
	if (!c.no_dhcp_dns) {
		Writer::Mark mark = w.mark();
		size_t at = w.open(opt_dns_servers);
		for (const Ipv6Addr &a : c.ip6.dns)
			if (!a.is_unspecified() && w.room() >= 16)
				w.put(a.b);
		w.close(at);
		if (w.overflow() || w.len() == at + 4)
			w.rollback(mark);
	}

	if (!c.no_dhcp_dns_search && !c.dns_search.empty() && w.room() > 4) {
		Writer::Mark mark = w.mark();
		size_t at = w.open(opt_domain_list);
		std::byte names[payload_max];
		size_t n = dns_search_encode(c.dns_search, std::span<std::byte>(names, w.room()));
		w.put(std::span<const std::byte>(names, n));
		w.close(at);
		if (w.overflow() || !n)
			w.rollback(mark);
	}

	if (!c.fqdn.empty()) {
		Writer::Mark mark = w.mark();
		size_t at = w.open(opt_client_fqdn);
		w.put8((m.fqdn_flags & fqdn_s) ? fqdn_o : 0);
		std::byte name[dns_name_max];
		size_t n = dns_name_encode(c.fqdn, name);
		w.put(std::span<const std::byte>(name, n));
		w.close(at);
		if (w.overflow() || !n) {
			if (!n)
				debug_rl("DHCPv6: can't encode FQDN '%s', not sent",
					 c.fqdn.c_str());
			w.rollback(mark);
		}
	}
}

bool duid_is_ours(const Config &c, std::span<const std::byte> duid) {
	auto ours = dhcpv6_server_duid(c);
	return duid.size() == ours.size() &&
	       std::memcmp(duid.data(), ours.data(), ours.size()) == 0;
}

// Addresses listed in the IAs of a Confirm: 0 none, 1 all ours, -1 any other.
int confirm_check(const Config &c, const ClientMsg &m) {
	int result = 0;
	for_each_opt(m.opts, [&](const Opt &ia) {
		if (ia.code != opt_ia_na && ia.code != opt_ia_ta)
			return true;
		for_each_opt(ia.data.subspan(ia_fixed_len(ia.code)), [&](const Opt &o) {
			if (o.code != opt_iaaddr)
				return true;
			Ipv6Addr a;
			std::memcpy(a.b.data(), o.data.data(), 16);
			if (a == c.ip6.addr && !a.is_unspecified()) {
				if (!result)
					result = 1;
			} else {
				result = -1;
			}
			return true;
		});
		return true;
	});
	return result;
}

bool drop_malformed(const char *why, uint8_t type) {
	stats.malformed++;
	debug_rl("DHCPv6: dropping message type %u: %s", type, why);
	return true;
}

// Identifier rules (RFC 8415 16): whether client message m may be
// answered, is for some other server (ignored) or is malformed (why).
enum class IdVerdict { Serve, Ignore, Malformed };
IdVerdict check_ids(const Config &c, const ClientMsg &m, const char **why) {
	bool need_client_id = true, server_id_ok;
	switch (m.type) {
	case msg_solicit:
	case msg_confirm:
	case msg_rebind: server_id_ok = !m.server_id; break;
	case msg_request:
	case msg_renew:
	case msg_release:
	case msg_decline: server_id_ok = m.server_id && duid_is_ours(c, *m.server_id); break;
	case msg_information_request:
		need_client_id = false;
		server_id_ok = !m.server_id || duid_is_ours(c, *m.server_id);
		if (m.has_ia) {
			*why = "IA in Information-request";
			return IdVerdict::Malformed;
		}
		break;
	default: return IdVerdict::Ignore; // server and relay messages
	}
	if (need_client_id && !m.client_id) {
		*why = "no Client Identifier";
		return IdVerdict::Malformed;
	}
	if (!server_id_ok) {
		debug_rl("DHCPv6: message type %u not for us (Server Identifier)", m.type);
		return IdVerdict::Ignore; // for another server, or misplaced Server ID
	}
	return IdVerdict::Serve;
}

// The options of the answer to m after the identifiers, into w. Returns
// false if m gets no answer at all; *assigned: the guest now holds our
// address.
bool put_answer(const Config &c, Writer &w, const ClientMsg &m, bool *assigned) {
	*assigned = false;
	switch (m.type) {
	case msg_solicit:
		if (!m.has_ia_na || c.ip6.addr.is_unspecified()) {
			put_status(w, status_no_addrs_avail);
			break;
		}
		if (m.rapid_commit)
			w.add(opt_rapid_commit);
		else
			w.add(opt_preference, std::array<uint8_t, 1>{255});
		*assigned = put_ias(c, w, m, false) && m.rapid_commit;
		put_config(c, w, m);
		break;
	case msg_request:
	case msg_renew:
	case msg_rebind:
		*assigned = put_ias(c, w, m, m.type != msg_request);
		put_config(c, w, m);
		break;
	case msg_confirm: {
		int r = confirm_check(c, m);
		if (!r)
			return false; // no addresses: RFC 8415 18.3.3 wants silence
		put_status(w, r > 0 ? status_success : status_not_on_link);
		break;
	}
	case msg_release: put_status(w, status_success); break;
	case msg_decline:
		warn_rl("DHCPv6: guest declined %s (in use on its link?)",
			c.ip6.addr.text().c_str());
		put_status(w, status_success);
		break;
	case msg_information_request: put_config(c, w, m); break;
	}
	return true;
}

} // namespace

std::array<std::byte, duid_len> dhcpv6_server_duid(const Config &c) {
	std::array<std::byte, duid_len> d{};
	store_be16(d.data(), 3);     // DUID-LL
	store_be16(d.data() + 2, 1); // hardware type: Ethernet
	std::memcpy(d.data() + 4, c.our_tap_mac.b.data(), 6);
	return d;
}

bool dhcpv6_input(const Config &c, TapState &st, std::span<const std::byte> frame, TapOutput &out) {
	auto eth = ConstEthView::parse(frame);
	if (!eth || eth->ethertype() != ethertype::ipv6)
		return false;
	auto ip = ConstIp6View::parse(eth->payload());
	if (!ip || ip->proto() != ipproto::udp || ip->is_fragment())
		return false;
	auto udp = ConstUdpView::parse(ip->l4());
	if (!udp || udp->dport() != server_port)
		return false;
	const Ipv6Addr saddr = ip->saddr(), daddr = ip->daddr();
	const Ipv6Addr our_ll = ndp_our_ll(c);
	if (daddr != all_servers() && daddr != our_ll)
		return false;

	// From here on the frame is ours: answered or dropped.
	if (c.no_dhcpv6 || !c.ip6.enabled) {
		stats.ignored++;
		return true;
	}
	const MacAddr src_mac = eth->src();
	if (udp->sport() != client_port) {
		stats.ignored++; // relay agents talk from port 547: not served
		return true;
	}
	if (saddr.is_unspecified() || saddr.is_multicast() || src_mac.is_multicast() ||
	    src_mac.is_zero())
		return drop_malformed("bad source address", 0);

	auto m = parse(udp->payload());
	if (!m)
		return drop_malformed("malformed options",
				      udp->payload().empty() ? 0 : uint8_t(udp->payload()[0]));

	const char *why = nullptr;
	switch (check_ids(c, *m, &why)) {
	case IdVerdict::Serve: break;
	case IdVerdict::Ignore: stats.ignored++; return true;
	case IdVerdict::Malformed: return drop_malformed(why, m->type);
	}

	st.guest_mac = src_mac;
	st.guest_mac_seen = true;
	if (saddr.is_link_local())
		st.addr6_ll_seen = saddr;

	std::byte buf[frame::udp6_payload_off + payload_max];
	Writer w(std::span<std::byte>(buf + frame::udp6_payload_off, payload_max));
	uint8_t reply_type = msg_reply;
	if (m->type == msg_solicit && !m->rapid_commit)
		reply_type = msg_advertise;
	w.put8(reply_type);
	w.put(m->xid);
	w.add(opt_serverid, dhcpv6_server_duid(c)); // always fits: first
	if (m->client_id)
		w.put(*m->client_id);

	bool assigned;
	if (!put_answer(c, w, *m, &assigned)) {
		stats.ignored++;
		return true;
	}

	if (w.overflow()) {
		// Only a client message stuffed with IAs gets here.
		return drop_malformed("reply too long", m->type);
	}
	size_t n = build_udp6_inplace(std::span<std::byte>(buf), src_mac, c.our_tap_mac, our_ll,
				      saddr, server_port, client_port, w.len());
	if (!n || !out.send_frame(std::span<const std::byte>(buf, n))) {
		stats.send_failed++;
		return true;
	}
	stats.replies++;
	info_rl("DHCPv6: received message type %u, sent %s", m->type,
		reply_type == msg_advertise ? "Advertise" : "Reply");
	if (assigned)
		st.addr6_seen = c.ip6.addr;
	return true;
}

const Dhcpv6Stats &dhcpv6_stats() { return stats; }
void dhcpv6_stats_reset() { stats = Dhcpv6Stats{}; }

} // namespace passt
