// Helpers for the libFuzzer targets in test/fuzz.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

// Invariant violated: crash so that libFuzzer records the input.
#define FUZZ_CHECK(cond)                  \
	do {                              \
		if (!(cond))              \
			__builtin_trap(); \
	} while (0)

namespace passt::fuzz {

// A writable copy of the input in a heap block of exactly its size, so that
// ASan reports any access past the end (the libFuzzer buffer is const).
class Input {
public:
	Input(const uint8_t *data, size_t size)
		: p_(static_cast<std::byte *>(std::malloc(size ? size : 1))), n_(size) {
		if (size)
			std::memcpy(p_, data, size);
	}
	~Input() { std::free(p_); }
	Input(const Input &) = delete;
	Input &operator=(const Input &) = delete;
	std::span<std::byte> span() { return {p_, n_}; }
	std::span<const std::byte> cspan() const { return {p_, n_}; }

private:
	std::byte *p_;
	size_t n_;
};

// Keep computed values alive so the optimiser cannot drop the accessors.
inline void sink(uint64_t v) {
	static volatile uint64_t s;
	s = s + v;
}

// inner lies within outer.
template <class A, class B> bool within(std::span<A> inner, std::span<B> outer) {
	auto i0 = reinterpret_cast<uintptr_t>(inner.data());
	auto o0 = reinterpret_cast<uintptr_t>(outer.data());
	return inner.empty() ||
	       (i0 >= o0 && i0 - o0 <= outer.size() && inner.size() <= outer.size() - (i0 - o0));
}

// Cursor over the fuzzer's input.
struct Reader {
	const uint8_t *p;
	size_t n;
	bool empty() const { return n == 0; }
	uint8_t u8() {
		if (!n)
			return 0;
		n--;
		return *p++;
	}
	uint16_t u16() {
		uint16_t lo = u8();
		return uint16_t(lo | (u8() << 8));
	}
	// Up to len bytes (fewer at the end of the input).
	std::span<const uint8_t> take(size_t len) {
		if (len > n)
			len = n;
		std::span<const uint8_t> s(p, len);
		p += len;
		n -= len;
		return s;
	}
};

} // namespace passt::fuzz
