// Domain names in DNS wire format (RFC 1035 3.1), as carried by the NDP
// DNSSL option (RFC 8106 5.2), the DHCPv6 Domain Search List and Client
// FQDN options (RFC 3646 4, RFC 4704) and DHCPv4 option 119 (RFC 3397):
// a sequence of labels, each one length byte (1-63) and that many bytes,
// ending with the zero-length root label. No compression is ever written.
//
// Text names are dotted ("example.com", a trailing dot is allowed and
// changes nothing); "" and "." are the root name. Labels may hold any byte
// but '.', as resolv.conf and the command line give them. Nothing here
// allocates.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace passt {

// Longest encoded name, length bytes and root label included (RFC 1035 2.3.4).
inline constexpr size_t dns_name_max = 255;
// Longest label.
inline constexpr size_t dns_label_max = 63;

// Bytes dns_name_encode() writes for name, or 0 if it can't be encoded
// (empty label as in "a..b" or ".a", label over 63 bytes, over 255 bytes).
size_t dns_name_encoded_len(std::string_view name);

// Write name at the start of out. Returns the bytes written, or 0 (out
// untouched) if the name can't be encoded or doesn't fit.
size_t dns_name_encode(std::string_view name, std::span<std::byte> out);

// Encode a search list: each name in order, one after the other. Names that
// can't be encoded and the root name (meaningless in a search list) are
// skipped; encoding stops at the first name that doesn't fit in what is left
// of out. Returns the total bytes written.
size_t dns_search_encode(std::span<const std::string> names, std::span<std::byte> out);

// Result of decoding one name.
struct DnsNameDecoded {
	size_t consumed; // wire bytes, root label included
	size_t text_len; // dotted text written (no trailing dot, no NUL)
};

// Decode one uncompressed name at the start of in into dotted text (no
// trailing dot; the root gives ""). nullopt if the name runs off the end of
// in, uses compression or the reserved label types, is longer than 255
// bytes, or the text doesn't fit in text. For parsers and tests.
std::optional<DnsNameDecoded> dns_name_decode(std::span<const std::byte> in, std::span<char> text);

} // namespace passt
