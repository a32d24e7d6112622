// NDP option helpers; see include/passt/net/icmpv6.h.
#include "passt/net/icmpv6.h"

namespace passt::ndp {

bool options_valid(std::span<const std::byte> opts) {
	return for_each_option(opts, [](const Option &) { return true; });
}

std::optional<Option> find_option(std::span<const std::byte> opts, uint8_t type) {
	std::optional<Option> found;
	for_each_option(opts, [&](const Option &o) {
		if (o.type != type)
			return true;
		found = o;
		return false;
	});
	return found;
}

std::optional<MacAddr> option_lladdr(const Option &o) {
	if ((o.type != opt_source_lladdr && o.type != opt_target_lladdr) || o.bytes.size() < 8)
		return std::nullopt;
	MacAddr m;
	for (size_t i = 0; i < 6; i++)
		m.b[i] = uint8_t(o.bytes[2 + i]);
	return m;
}

} // namespace passt::ndp
