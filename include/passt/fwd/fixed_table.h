// Fixed-capacity storage for forwarding rules, so that rules can be parsed
// and replaced at run time (the control socket, -c) without allocating:
// the daemon never touches the heap once the sandbox is entered.
//
// FixedTable<T, N> is the part of std::vector's interface the rules' users
// need (size, indexing, iteration, push_back, erase, clear); a full table
// refuses push_back() (returns false) instead of growing. IfName is an
// interface name in a char array of IFNAMSIZ bytes, always NUL-terminated.
#pragma once

#include <cstddef>
#include <cstring>
#include <initializer_list>
#include <string_view>

namespace passt {

template <typename T, size_t N> class FixedTable {
public:
	static constexpr size_t CAPACITY = N;

	FixedTable() = default;
	// Up to N elements of l (tests, tables written out).
	FixedTable(std::initializer_list<T> l) {
		for (const T &x : l)
			push_back(x);
	}

	size_t size() const { return n_; }
	bool empty() const { return n_ == 0; }
	bool full() const { return n_ >= N; }
	static constexpr size_t capacity() { return N; }
	T &operator[](size_t i) { return v_[i]; }
	const T &operator[](size_t i) const { return v_[i]; }
	T *begin() { return v_; }
	T *end() { return v_ + n_; }
	const T *begin() const { return v_; }
	const T *end() const { return v_ + n_; }
	T &back() { return v_[n_ - 1]; }
	const T &back() const { return v_[n_ - 1]; }

	// Appends x; false (and nothing stored) when full.
	bool push_back(const T &x) {
		if (n_ >= N)
			return false;
		v_[n_++] = x;
		return true;
	}
	// Removes element i, keeping the order of the others.
	void erase_at(size_t i) {
		if (i >= n_)
			return;
		for (size_t j = i + 1; j < n_; j++)
			v_[j - 1] = v_[j];
		v_[--n_] = T{};
	}
	void clear() {
		for (size_t i = 0; i < n_; i++)
			v_[i] = T{};
		n_ = 0;
	}
	bool operator==(const FixedTable &o) const {
		if (n_ != o.n_)
			return false;
		for (size_t i = 0; i < n_; i++)
			if (!(v_[i] == o.v_[i]))
				return false;
		return true;
	}

private:
	T v_[N] = {};
	size_t n_ = 0;
};

// An interface name: at most IFNAMSIZ - 1 (15) characters.
struct IfName {
	static constexpr size_t SIZE = 16; // IFNAMSIZ
	char s[SIZE] = {};

	IfName() = default;
	IfName(const char *p) { assign(p ? std::string_view(p) : std::string_view()); }
	// Stores name; false (and empty) if it is longer than 15 characters.
	bool assign(std::string_view name) {
		std::memset(s, 0, SIZE);
		if (name.size() >= SIZE)
			return false;
		std::memcpy(s, name.data(), name.size());
		return true;
	}
	const char *c_str() const { return s; }
	size_t size() const { return strnlen(s, SIZE); }
	bool empty() const { return !s[0]; }
	void clear() { std::memset(s, 0, SIZE); }
	std::string_view view() const { return std::string_view(s, size()); }
	bool operator==(const IfName &o) const { return view() == o.view(); }
	bool operator==(std::string_view o) const { return view() == o; }
	bool operator==(const char *o) const { return view() == std::string_view(o); }
};

} // namespace passt
