// Domain names in DNS wire format; see include/passt/services/dns_name.h.
//
// Theory of operation: encoding is two passes over the text, one to check
// every label and compute the size (so that nothing is written for a name
// that turns out invalid or too long), one to copy. A name is cut into
// labels at each '.'; a single trailing '.' denotes the root and adds no
// label.
#include "passt/services/dns_name.h"

#include <cstring>

namespace passt {

namespace {

// The name without its one optional trailing dot; "." becomes "".
std::string_view strip_root_dot(std::string_view name) {
	if (!name.empty() && name.back() == '.')
		name.remove_suffix(1);
	return name;
}

} // namespace

size_t dns_name_encoded_len(std::string_view name) {
	name = strip_root_dot(name);
	if (name.empty())
		return 1;

	size_t total = 1; // root label
	while (true) {
		size_t dot = name.find('.');
		size_t label = dot == std::string_view::npos ? name.size() : dot;
		if (label == 0 || label > dns_label_max)
			return 0;
		total += 1 + label;
		if (total > dns_name_max)
			return 0;
		if (dot == std::string_view::npos)
			break;
		name.remove_prefix(dot + 1);
		if (name.empty()) // "a.." : empty label before the root dot
			return 0;
	}
	return total;
}

size_t dns_name_encode(std::string_view name, std::span<std::byte> out) {
	size_t len = dns_name_encoded_len(name);
	if (!len || len > out.size())
		return 0;

	name = strip_root_dot(name);
	size_t pos = 0;
	while (!name.empty()) {
		size_t dot = name.find('.');
		size_t label = dot == std::string_view::npos ? name.size() : dot;
		out[pos++] = std::byte(label);
		std::memcpy(out.data() + pos, name.data(), label);
		pos += label;
		name.remove_prefix(dot == std::string_view::npos ? name.size() : dot + 1);
	}
	out[pos++] = std::byte{0};
	return pos;
}

size_t dns_search_encode(std::span<const std::string> names, std::span<std::byte> out) {
	size_t pos = 0;
	for (const std::string &n : names) {
		size_t len = dns_name_encoded_len(n);
		if (len <= 1) // invalid, or the root
			continue;
		if (len > out.size() - pos)
			break;
		pos += dns_name_encode(n, out.subspan(pos));
	}
	return pos;
}

std::optional<DnsNameDecoded> dns_name_decode(std::span<const std::byte> in, std::span<char> text) {
	size_t pos = 0, tlen = 0;
	while (true) {
		if (pos >= in.size())
			return std::nullopt;
		size_t label = size_t(in[pos]);
		if (label & 0xc0) // compression pointer or reserved type
			return std::nullopt;
		if (pos + 1 + label > dns_name_max)
			return std::nullopt;
		if (label == 0)
			return DnsNameDecoded{pos + 1, tlen};
		if (label > in.size() - pos - 1)
			return std::nullopt;
		size_t need = label + (tlen ? 1 : 0);
		if (need > text.size() - tlen)
			return std::nullopt;
		if (tlen)
			text[tlen++] = '.';
		std::memcpy(text.data() + tlen, in.data() + pos + 1, label);
		tlen += label;
		pos += 1 + label;
	}
}

} // namespace passt
