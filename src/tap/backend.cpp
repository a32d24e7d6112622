// Which tap backend serves which mode; see include/passt/tap/backend.h.
#include "passt/tap/backend.h"

#include "passt/tap/tap_stream.h"
#include "passt/tap/tap_tun.h"
#include "passt/tap/vhost_user.h"

namespace passt {

std::unique_ptr<TapBackend> tap_backend_new(Mode mode, TapStats *stats) {
	switch (mode) {
	case Mode::Pasta: return std::make_unique<TunBackend>(-1, true, stats);
	case Mode::Passt: return std::make_unique<StreamBackend>(stats);
	case Mode::VhostUser: return std::make_unique<VhostUserBackend>(stats);
	}
	return nullptr;
}

} // namespace passt
