// A TapOutput for unit tests: keeps a copy of every frame it is given, can
// be told to refuse frames (as a full backend does), and counts flushes.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "passt/tap/output.h"

namespace passt::test {

class CaptureTap final : public TapOutput {
public:
	bool send_frame(std::span<const std::byte> frame) override {
		if (refuse)
			return false;
		frames.emplace_back(frame.begin(), frame.end());
		return true;
	}
	void flush() override { flushes++; }

	std::vector<std::vector<std::byte>> frames;
	bool refuse = false; // refuse every frame from now on
	unsigned flushes = 0;
};

} // namespace passt::test
