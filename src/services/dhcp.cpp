// DHCPv4 server (RFC 2131, options RFC 2132) for the tap side.
//
// Theory of operation
// -------------------
// There is exactly one client, the guest, and exactly one address to give
// it: Config::ip4.addr. So the server keeps no leases and no state at all:
// every request is answered from the configuration alone, with an infinite
// lease (no T1/T2: the client never renews).
//
//   DISCOVER  -> OFFER (or ACK with option 80 if the client asked for Rapid
//                Commit, RFC 4039)
//   REQUEST   -> ACK if the address the client asks for (option 50, else
//                ciaddr) is the configured one or it names none, NAK if it is
//                another one, nothing if it chose another server (option 54
//                present and not ours)
//   INFORM    -> ACK carrying configuration only: yiaddr 0, no lease time
//   DECLINE, RELEASE, server-to-client types, unknown types -> ignored
//   no option 53 (plain BOOTP, RFC 951/1534) -> BOOTREPLY without the
//                DHCP-only options
//
// We act as the gateway: the server identifier (option 54) and the source
// address of replies are Config::ip4.gw, as in the C passt; siaddr (the
// "next server" for network boot) is 0. Replies carry the subnet mask,
// router, DNS servers (6), host name (12), interface MTU (26), domain search
// list (119, RFC 3397, DNS wire format with compression pointers, split over
// several instances past 255 bytes as RFC 3396 says), Client FQDN (81, only
// to clients that sent or asked for it, RFC 4702 4) and, if the gateway is
// outside the guest's subnet, classless static routes (121, RFC 3442) to it:
// gw/32 on-link and the default route via gw (clients that take option 121
// ignore option 3). No domain name option (15), like the C passt.
//
// Sizes: the reply fits what the client can take, a 576-byte IP datagram
// unless option 57 says more (we never exceed 1500 bytes nor our MTU), and
// options that do not fit are dropped, least important first (search
// domains, cut at a name boundary, then FQDN, host name). A reply is
// padded to the 300-byte BOOTP minimum. Option 53 comes first unless the
// client's parameter request list (55) places it; then the options in the
// order of that list; then the rest by code.
//
// Destination (RFC 2131 4.1): through a relay (giaddr set) to the relay's
// port 67; NAKs broadcast; to ciaddr if the client has one; broadcast
// (255.255.255.255, ff:ff:ff:ff:ff:ff) if the client set the broadcast flag;
// otherwise unicast to yiaddr at chaddr.
//
// Options are read and written with the TLV reader and writer of
// passt/net/tlv.h (format tlv::Dhcp4); option overload (52) is not honoured:
// options in sname and file are not read.
//
// Checksums of requests are not verified: with tap offloads the kernel may
// hand us a UDP checksum that is only partially computed, and the tap link
// does not corrupt frames.
#include "passt/services/dhcp.h"

#include <algorithm>
#include <bitset>
#include <cstring>
#include <string_view>

#include "passt/conf/config.h"
#include "passt/core/log.h"
#include "passt/net/build.h"
#include "passt/net/eth.h"
#include "passt/net/ip4.h"
#include "passt/net/tlv.h"
#include "passt/net/udp.h"
#include "passt/tap/output.h"

namespace passt {

using dhcp::MsgType;
namespace opt = dhcp::opt;

namespace {

DhcpStats stats;

uint8_t u8(std::byte b) { return static_cast<uint8_t>(b); }

Ipv4Addr addr_at(std::span<const std::byte> s, size_t off) {
	Ipv4Addr a;
	std::memcpy(a.b.data(), s.data() + off, 4);
	return a;
}

void put_addr(std::span<std::byte> s, size_t off, const Ipv4Addr &a) {
	std::memcpy(s.data() + off, a.b.data(), 4);
}

char lower(char ch) { return (ch >= 'A' && ch <= 'Z') ? char(ch - 'A' + 'a') : ch; }

// A name without its optional trailing dot, if it can be encoded: labels of
// 1 to 63 bytes, at most 255 bytes in wire format.
std::optional<std::string_view> valid_name(std::string_view n) {
	if (!n.empty() && n.back() == '.')
		n.remove_suffix(1);
	if (n.empty())
		return std::nullopt;
	size_t wire = 1; // root label
	for (std::string_view rest = n;;) {
		size_t dot = rest.find('.');
		size_t len = dot == std::string_view::npos ? rest.size() : dot;
		if (len == 0 || len > 63)
			return std::nullopt;
		wire += 1 + len;
		if (dot == std::string_view::npos)
			break;
		rest.remove_prefix(dot + 1);
	}
	if (wire > 255)
		return std::nullopt;
	return n;
}

// Whether the complete wire-format name at buf[off] (pointers followed) is
// the dotted name rest, ignoring ASCII case.
bool wire_equals(std::span<const std::byte> buf, size_t off, std::string_view rest) {
	for (unsigned steps = 0; steps < 512; steps++) {
		if (off >= buf.size())
			return false;
		uint8_t l = u8(buf[off]);
		if ((l & 0xc0) == 0xc0) {
			if (off + 1 >= buf.size())
				return false;
			size_t to = (size_t(l & 0x3f) << 8) | u8(buf[off + 1]);
			if (to >= off) // only backward pointers: no loops
				return false;
			off = to;
			continue;
		}
		if (l == 0)
			return rest.empty();
		if (rest.empty() || l > 63 || off + 1 + l > buf.size())
			return false;
		size_t dot = rest.find('.');
		size_t len = dot == std::string_view::npos ? rest.size() : dot;
		if (len != l)
			return false;
		for (size_t i = 0; i < len; i++)
			if (lower(char(buf[off + 1 + i])) != lower(rest[i]))
				return false;
		rest.remove_prefix(dot == std::string_view::npos ? len : dot + 1);
		off += 1 + l;
	}
	return false;
}

// One option of a reply under construction.
struct Cand {
	uint8_t code;
	uint8_t prio; // 0: always fits, higher: dropped first
	std::span<const std::byte> data;
	bool take = false;
	bool emitted = false;
};

const char *action_name(DhcpAction a) {
	switch (a) {
	case DhcpAction::Offer: return "offer";
	case DhcpAction::Ack: return "ack";
	case DhcpAction::Nak: return "nak";
	case DhcpAction::InformAck: return "ack to inform";
	case DhcpAction::BootpReply: return "BOOTP reply";
	case DhcpAction::Ignore: break;
	}
	return "none";
}

} // namespace

bool DhcpRequest::requested(uint8_t code) const {
	return std::find(param_list.begin(), param_list.begin() + param_list_len, code) !=
	       param_list.begin() + param_list_len;
}

std::optional<DhcpRequest> dhcp_parse(std::span<const std::byte> msg, const char **why) {
	auto fail = [why](const char *w) -> std::optional<DhcpRequest> {
		if (why)
			*why = w;
		return std::nullopt;
	};
	if (msg.size() < dhcp::options_off)
		return fail("message too short");
	if (u8(msg[0]) != dhcp::bootrequest)
		return fail("not a BOOTREQUEST");
	if (u8(msg[1]) != 1 || u8(msg[2]) != 6)
		return fail("hardware type or length not Ethernet");
	if (load_be32(msg.data() + dhcp::cookie_off) != dhcp::magic_cookie)
		return fail("no magic cookie");

	DhcpRequest r;
	r.htype = u8(msg[1]);
	r.hlen = u8(msg[2]);
	r.hops = u8(msg[3]);
	r.xid = load_be32(msg.data() + 4);
	r.secs = load_be16(msg.data() + 8);
	r.flags = load_be16(msg.data() + 10);
	r.ciaddr = addr_at(msg, 12);
	r.yiaddr = addr_at(msg, 16);
	r.siaddr = addr_at(msg, 20);
	r.giaddr = addr_at(msg, 24);
	std::memcpy(r.chaddr.data(), msg.data() + dhcp::chaddr_off, r.chaddr.size());

	std::bitset<256> seen;
	tlv::Reader<tlv::Dhcp4> options(msg.subspan(dhcp::options_off));
	while (auto o = options.next()) {
		uint8_t code = uint8_t(o->code);
		auto val = o->data;
		size_t len = val.size();

		bool dup = seen[code];
		seen[code] = true;
		switch (code) {
		case opt::msg_type:
			if (len != 1 || dup || u8(val[0]) == 0)
				return fail("bad message type option");
			r.type = MsgType(u8(val[0]));
			break;
		case opt::requested_addr:
			if (len != 4 || dup)
				return fail("bad requested address option");
			r.requested_addr = addr_at(val, 0);
			break;
		case opt::server_id:
			if (len != 4 || dup)
				return fail("bad server identifier option");
			r.server_id = addr_at(val, 0);
			break;
		case opt::max_msg_size:
			if (len != 2 || dup)
				return fail("bad maximum message size option");
			r.max_msg_size = load_be16(val.data());
			break;
		case opt::rapid_commit:
			if (len != 0)
				return fail("bad rapid commit option");
			r.rapid_commit = true;
			break;
		case opt::client_fqdn: r.client_fqdn = true; break;
		case opt::param_list:
			for (size_t k = 0; k < len && r.param_list_len < r.param_list.size(); k++)
				r.param_list[r.param_list_len++] = u8(val[k]);
			break;
		default: break;
		}
	}
	if (options.error() != tlv::Error::none)
		return fail(tlv::error_text(options.error()));
	return r;
}

DhcpAction dhcp_decide(const Config &c, const DhcpRequest &req) {
	if (c.no_dhcp || !c.ip4.enabled || c.ip4.addr.is_unspecified())
		return DhcpAction::Ignore;

	switch (req.type) {
	case MsgType::None: return DhcpAction::BootpReply;
	case MsgType::Discover: return req.rapid_commit ? DhcpAction::Ack : DhcpAction::Offer;
	case MsgType::Request: {
		// SELECTING: the client answers an offer, maybe another server's.
		if (req.server_id && *req.server_id != c.ip4.gw)
			return DhcpAction::Ignore;
		// INIT-REBOOT names the address in option 50, RENEWING and
		// REBINDING in ciaddr. Naming none at all is not valid, but the
		// address is ours to give: acknowledge it.
		Ipv4Addr want = req.requested_addr ? *req.requested_addr : req.ciaddr;
		if (!want.is_unspecified() && want != c.ip4.addr)
			return DhcpAction::Nak;
		return DhcpAction::Ack;
	}
	case MsgType::Inform: return DhcpAction::InformAck;
	default: return DhcpAction::Ignore;
	}
}

DhcpDest dhcp_reply_dest(const DhcpRequest &req, DhcpAction act, Ipv4Addr yiaddr,
			 const MacAddr &peer) {
	MacAddr ch = req.client_mac();
	if (ch.is_zero() || ch.is_multicast())
		ch = peer;
	if (!req.giaddr.is_unspecified())
		return DhcpDest{req.giaddr, peer, dhcp::server_port};
	if (act == DhcpAction::Nak)
		return DhcpDest{Ipv4Addr::broadcast(), MacAddr::broadcast(), dhcp::client_port};
	if (!req.ciaddr.is_unspecified())
		return DhcpDest{req.ciaddr, ch, dhcp::client_port};
	if (req.broadcast() || yiaddr.is_unspecified())
		return DhcpDest{Ipv4Addr::broadcast(), MacAddr::broadcast(), dhcp::client_port};
	return DhcpDest{yiaddr, ch, dhcp::client_port};
}

size_t dhcp_encode_names(std::span<const std::string> names, std::span<std::byte> out,
			 bool compress) {
	// Offsets of the labels written so far, each the start of a complete
	// name (suffix) that later names may point to.
	std::array<uint16_t, 512> suffix;
	size_t nsuffix = 0;
	size_t pos = 0;

	for (const std::string &s : names) {
		auto name = valid_name(s);
		if (!name)
			continue;
		size_t p = pos, nsuffix_before = nsuffix;
		bool fits = true, pointed = false;
		std::string_view rest = *name;
		while (!rest.empty()) {
			if (compress) {
				auto done = std::span<const std::byte>(out.data(), pos);
				for (size_t k = 0; k < nsuffix_before && !pointed; k++) {
					if (!wire_equals(done, suffix[k], rest))
						continue;
					if (out.size() - p < 2) {
						fits = false;
						break;
					}
					out[p++] = std::byte(0xc0 | (suffix[k] >> 8));
					out[p++] = std::byte(suffix[k] & 0xff);
					pointed = true;
				}
				if (pointed || !fits)
					break;
			}
			size_t dot = rest.find('.');
			size_t len = dot == std::string_view::npos ? rest.size() : dot;
			if (out.size() - p < 1 + len) {
				fits = false;
				break;
			}
			if (compress && p < 0x3fff && nsuffix < suffix.size())
				suffix[nsuffix++] = uint16_t(p);
			out[p++] = std::byte(len);
			std::memcpy(out.data() + p, rest.data(), len);
			p += len;
			rest.remove_prefix(dot == std::string_view::npos ? len : dot + 1);
		}
		if (fits && !pointed) {
			if (out.size() - p < 1)
				fits = false;
			else
				out[p++] = std::byte(0);
		}
		if (!fits)
			break; // later names are dropped: suffixes recorded for this one die too
		pos = p;
	}
	return pos;
}

size_t dhcp_build_reply(const Config &c, const DhcpRequest &req, DhcpAction act,
			std::span<std::byte> out) {
	if (act == DhcpAction::Ignore)
		return 0;

	// Largest message the client takes, as an IP datagram, then as BOOTP.
	size_t max_ip = std::max<size_t>(dhcp::min_max_ip_len, req.max_msg_size);
	max_ip = std::min(max_ip, dhcp::max_reply_ip_len);
	if (c.mtu >= dhcp::min_max_ip_len && c.mtu < max_ip)
		max_ip = c.mtu;
	size_t msg_max = std::min(max_ip - 20 - 8, out.size());
	if (msg_max < dhcp::min_msg_len)
		return 0;
	size_t opt_space = msg_max - dhcp::options_off - 1; // end option
	std::memset(out.data(), 0, msg_max);

	bool nak = act == DhcpAction::Nak;
	bool dhcp_msg = act != DhcpAction::BootpReply;
	bool assign =
		act == DhcpAction::Offer || act == DhcpAction::Ack || act == DhcpAction::BootpReply;

	// Fixed part.
	uint16_t flags = req.flags;
	if (nak && !req.giaddr.is_unspecified())
		flags |= dhcp::flag_broadcast; // RFC 2131 4.3.2: relay broadcasts it
	out[0] = std::byte(dhcp::bootreply);
	out[1] = std::byte(req.htype);
	out[2] = std::byte(req.hlen);
	store_be32(out.data() + 4, req.xid);
	store_be16(out.data() + 10, flags);
	if (act == DhcpAction::Ack || act == DhcpAction::InformAck || act == DhcpAction::BootpReply)
		put_addr(out, 12, req.ciaddr);
	if (assign)
		put_addr(out, 16, c.ip4.addr);
	put_addr(out, 24, req.giaddr);
	std::memcpy(out.data() + dhcp::chaddr_off, req.chaddr.data(), req.chaddr.size());
	store_be32(out.data() + dhcp::cookie_off, dhcp::magic_cookie);

	// Option values.
	std::byte type[1], server_id[4], lease[4], mask[4], router[4], mtu[2];
	std::byte routes[14], dns[63 * 4], fqdn[3 + 255];
	static constexpr char nak_text[] = "requested address is not the one assigned";
	switch (act) {
	case DhcpAction::Offer: type[0] = std::byte(MsgType::Offer); break;
	case DhcpAction::Nak: type[0] = std::byte(MsgType::Nak); break;
	default: type[0] = std::byte(MsgType::Ack); break;
	}
	put_addr(server_id, 0, c.ip4.gw);
	store_be32(lease, 0xffffffff);
	put_addr(mask, 0, Ipv4Addr::netmask(c.ip4.prefix_len));
	put_addr(router, 0, c.ip4.gw);

	std::array<Cand, 16> cand;
	size_t n = 0;
	auto add = [&](uint8_t code, uint8_t prio, std::span<const std::byte> data) {
		cand[n++] = Cand{code, prio, data};
	};
	bool have_gw = !c.ip4.gw.is_unspecified();

	if (!nak) {
		add(opt::subnet_mask, 0, mask);
		if (have_gw)
			add(opt::router, 0, router);
		size_t ndns = 0;
		if (!c.no_dhcp_dns && !c.no_dns)
			for (const Ipv4Addr &a : c.ip4.dns)
				if (!a.is_unspecified() && ndns < 63)
					put_addr(dns, 4 * ndns++, a);
		if (ndns)
			add(opt::dns, 1, std::span<const std::byte>(dns, 4 * ndns));
		if (!c.hostname.empty() && c.hostname.size() <= 255)
			add(opt::hostname, 2, std::as_bytes(std::span<const char>(c.hostname)));
		if (c.mtu >= 68 && c.mtu <= 0xffff) {
			store_be16(mtu, uint16_t(c.mtu));
			add(opt::mtu, 1, mtu);
		}
	}
	if (dhcp_msg && (act == DhcpAction::Offer || act == DhcpAction::Ack))
		add(opt::lease_time, 0, lease);
	if (dhcp_msg) {
		add(opt::msg_type, 0, type);
		add(opt::server_id, 0, server_id);
	}
	if (nak)
		add(opt::message, 0,
		    std::as_bytes(std::span<const char>(nak_text, sizeof(nak_text) - 1)));
	if (act == DhcpAction::Ack && req.type == MsgType::Discover && req.rapid_commit)
		add(opt::rapid_commit, 0, {});
	if (!nak && dhcp_msg && !c.fqdn.empty() &&
	    (req.client_fqdn || req.requested(opt::client_fqdn))) {
		// RFC 4702: flags with E set (wire format name), RCODE1/2 255.
		fqdn[0] = std::byte(0x04);
		fqdn[1] = fqdn[2] = std::byte(0xff);
		size_t len =
			dhcp_encode_names(std::span<const std::string>(&c.fqdn, 1),
					  std::span<std::byte>(fqdn + 3, sizeof(fqdn) - 3), false);
		if (len)
			add(opt::client_fqdn, 3, std::span<const std::byte>(fqdn, 3 + len));
	}
	if (!nak && have_gw && !c.ip4.gw.same_prefix(c.ip4.addr, c.ip4.prefix_len)) {
		// gw/32 via 0.0.0.0 (on-link), then 0.0.0.0/0 via gw.
		routes[0] = std::byte(32);
		put_addr(routes, 1, c.ip4.gw);
		put_addr(routes, 5, Ipv4Addr{});
		routes[9] = std::byte(0);
		put_addr(routes, 10, c.ip4.gw);
		add(opt::classless_routes, 0, routes);
	}

	// Choose what fits, most important first.
	size_t used = 0;
	for (uint8_t prio = 0; prio <= 3; prio++) {
		for (size_t k = 0; k < n; k++) {
			size_t size = tlv::wire_len<tlv::Dhcp4>(cand[k].data.size());
			if (cand[k].prio == prio && used + size <= opt_space) {
				cand[k].take = true;
				used += size;
			}
		}
	}
	// The search list gets what is left, cut at a name boundary.
	std::byte search[1200];
	if (!nak && !c.no_dhcp_dns_search && !c.no_dns_search && !c.dns_search.empty()) {
		size_t room = std::min(tlv::max_data<tlv::Dhcp4>(opt_space - used), sizeof(search));
		size_t len =
			dhcp_encode_names(c.dns_search, std::span<std::byte>(search, room), true);
		if (len) {
			cand[n++] = Cand{opt::domain_search, 4,
					 std::span<const std::byte>(search, len), true};
		}
	}
	// Keep the candidates in code order for the last emission pass.
	std::sort(cand.begin(), cand.begin() + n,
		  [](const Cand &a, const Cand &b) { return a.code < b.code; });

	// They fit (opt_space), so the writer never overflows here.
	tlv::Writer<tlv::Dhcp4> w(out.subspan(dhcp::options_off, msg_max - dhcp::options_off));
	auto emit_code = [&](uint8_t code) {
		for (size_t k = 0; k < n; k++)
			if (cand[k].code == code && cand[k].take && !cand[k].emitted) {
				w.add(code, cand[k].data);
				cand[k].emitted = true;
			}
	};
	if (!req.requested(opt::msg_type))
		emit_code(opt::msg_type);
	for (size_t k = 0; k < req.param_list_len; k++)
		emit_code(req.param_list[k]);
	for (size_t k = 0; k < n; k++)
		emit_code(cand[k].code);
	w.end();

	return std::max(dhcp::options_off + w.len(), dhcp::min_msg_len);
}

bool dhcp_input(const Config &c, TapState &st, std::span<const std::byte> frame, TapOutput &out) {
	auto eth = ConstEthView::parse(frame);
	if (!eth || eth->ethertype() != ethertype::ipv4)
		return false;
	auto ip = ConstIp4View::parse(eth->payload());
	if (!ip || ip->protocol() != ipproto::udp || ip->frag_offset())
		return false;
	auto l4 = ip->payload();
	if (l4.size() < UdpView::hdr_len || load_be16(l4.data() + 2) != dhcp::server_port)
		return false;

	// UDP to port 67: ours from here on.
	auto udp = ConstUdpView::parse(l4);
	if (ip->mf() || !udp) {
		stats.malformed++;
		debug_rl("DHCP: dropping fragmented or truncated datagram");
		return true;
	}
	if (c.no_dhcp) {
		stats.ignored++;
		return true;
	}
	const char *why = "";
	auto req = dhcp_parse(udp->payload(), &why);
	if (!req) {
		stats.malformed++;
		debug_rl("DHCP: dropping malformed message: %s", why);
		return true;
	}

	MacAddr chaddr = req->client_mac();
	if (!chaddr.is_zero() && !chaddr.is_multicast()) {
		st.guest_mac = chaddr;
		st.guest_mac_seen = true;
	}

	DhcpAction act = dhcp_decide(c, *req);
	if (act == DhcpAction::Ignore) {
		stats.ignored++;
		debug_rl("DHCP: no reply to message type %u from %s", unsigned(req->type),
			 chaddr.text().c_str());
		return true;
	}

	std::array<std::byte, 14 + dhcp::max_reply_ip_len> buf;
	auto msg = std::span<std::byte>(buf).subspan(frame::udp4_payload_off);
	size_t len = dhcp_build_reply(c, *req, act, msg);
	Ipv4Addr yiaddr =
		act == DhcpAction::InformAck || act == DhcpAction::Nak ? Ipv4Addr{} : c.ip4.addr;
	DhcpDest dst = dhcp_reply_dest(*req, act, yiaddr, eth->src());
	size_t flen = len ? build_udp4_inplace(buf, dst.mac, c.our_tap_mac, c.ip4.gw, dst.ip,
					       dhcp::server_port, dst.port, len)
			  : 0;
	if (!flen || !out.send_frame(std::span<const std::byte>(buf.data(), flen))) {
		stats.send_failed++;
		debug_rl("DHCP: could not send %s", action_name(act));
		return true;
	}
	switch (act) {
	case DhcpAction::Offer: stats.offers++; break;
	case DhcpAction::Nak: stats.naks++; break;
	default: stats.acks++; break;
	}
	info_rl("DHCP: %s to %s, %s", action_name(act), chaddr.text().c_str(),
		act == DhcpAction::Nak ? "address refused" : c.ip4.addr.text().c_str());
	return true;
}

const DhcpStats &dhcp_stats() { return stats; }
void dhcp_stats_reset() { stats = DhcpStats{}; }

} // namespace passt
