// Tests for the DNS wire-format name encoder/decoder.
#include "passt/services/dns_name.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace passt;

namespace {

std::vector<uint8_t> enc(std::string_view name, size_t room = 512) {
	std::vector<std::byte> out(room, std::byte{0xaa});
	size_t n = dns_name_encode(name, out);
	std::vector<uint8_t> r;
	for (size_t i = 0; i < n; i++)
		r.push_back(uint8_t(out[i]));
	return r;
}

std::vector<uint8_t> bytes(std::initializer_list<int> l) {
	std::vector<uint8_t> r;
	for (int v : l)
		r.push_back(uint8_t(v));
	return r;
}

std::vector<uint8_t> wire(std::string_view s) {
	std::vector<uint8_t> r(s.begin(), s.end());
	return r;
}

} // namespace

TEST(DnsName, EncodesLabels) {
	EXPECT_EQ(enc("example.com"), wire(std::string("\x07"
						       "example"
						       "\x03"
						       "com"
						       "\0",
						       13)));
	EXPECT_EQ(enc("a.b.c"), bytes({1, 'a', 1, 'b', 1, 'c', 0}));
	EXPECT_EQ(dns_name_encoded_len("example.com"), 13u);
}

TEST(DnsName, TrailingDotIsTheSameName) {
	EXPECT_EQ(enc("example.com."), enc("example.com"));
	EXPECT_EQ(dns_name_encoded_len("example.com."), 13u);
}

TEST(DnsName, RootName) {
	EXPECT_EQ(enc(""), bytes({0}));
	EXPECT_EQ(enc("."), bytes({0}));
	EXPECT_EQ(dns_name_encoded_len("."), 1u);
}

TEST(DnsName, RejectsEmptyLabels) {
	for (const char *bad : {"a..b", ".a", "..", "a..", "..."}) {
		EXPECT_EQ(dns_name_encoded_len(bad), 0u) << bad;
		EXPECT_TRUE(enc(bad).empty()) << bad;
	}
}

TEST(DnsName, LabelLengthLimit) {
	std::string l63(63, 'x'), l64(64, 'x');
	EXPECT_EQ(dns_name_encoded_len(l63 + ".com"), 1 + 63 + 1 + 3 + 1u);
	EXPECT_EQ(dns_name_encoded_len(l64 + ".com"), 0u);
	EXPECT_EQ(dns_name_encoded_len("com." + l64), 0u);
}

TEST(DnsName, TotalLengthLimit) {
	// Four labels of 63: 4 * 64 + 1 = 257 > 255. Three of 63 plus one of
	// 61: 3 * 64 + 62 + 1 = 255, the largest allowed.
	std::string l63(63, 'a');
	std::string ok = l63 + "." + l63 + "." + l63 + "." + std::string(61, 'b');
	std::string too_long = l63 + "." + l63 + "." + l63 + "." + std::string(62, 'b');
	EXPECT_EQ(dns_name_encoded_len(ok), 255u);
	EXPECT_EQ(enc(ok).size(), 255u);
	EXPECT_EQ(dns_name_encoded_len(too_long), 0u);
	EXPECT_TRUE(enc(too_long).empty());
}

TEST(DnsName, DoesNotWriteWhenOutIsTooSmall) {
	std::vector<std::byte> out(12, std::byte{0xaa}); // needs 13
	EXPECT_EQ(dns_name_encode("example.com", out), 0u);
	for (std::byte b : out)
		EXPECT_EQ(b, std::byte{0xaa});
	std::vector<std::byte> exact(13);
	EXPECT_EQ(dns_name_encode("example.com", exact), 13u);
}

TEST(DnsName, SearchListSkipsInvalidAndRoot) {
	std::vector<std::string> names = {"a.b", "", "bad..name", ".", std::string(70, 'x'), "c"};
	std::vector<std::byte> out(64);
	size_t n = dns_search_encode(names, out);
	ASSERT_EQ(n, 5u + 3u);
	std::vector<uint8_t> got;
	for (size_t i = 0; i < n; i++)
		got.push_back(uint8_t(out[i]));
	EXPECT_EQ(got, bytes({1, 'a', 1, 'b', 0, 1, 'c', 0}));
}

TEST(DnsName, SearchListStopsWhenFull) {
	std::vector<std::string> names = {"aaaa", "bbbbbbbb", "c"};
	std::vector<std::byte> out(12); // "aaaa" takes 6, "bbbbbbbb" needs 10
	EXPECT_EQ(dns_search_encode(names, out), 6u);
	EXPECT_EQ(dns_search_encode(names, std::span<std::byte>()), 0u);
	std::vector<std::string> none;
	EXPECT_EQ(dns_search_encode(none, out), 0u);
}

TEST(DnsName, DecodeRoundTrip) {
	for (std::string name : std::vector<std::string>{"example.com", "a", "x.y.z.w",
							 std::string(63, 'q') + ".org"}) {
		std::vector<std::byte> w(300);
		size_t n = dns_name_encode(name, w);
		ASSERT_GT(n, 0u) << name;
		char text[300];
		auto d = dns_name_decode(std::span<const std::byte>(w.data(), n), text);
		ASSERT_TRUE(d) << name;
		EXPECT_EQ(d->consumed, n);
		EXPECT_EQ(std::string(text, d->text_len), name);
	}
}

TEST(DnsName, DecodeRoot) {
	std::byte root[1] = {std::byte{0}};
	char text[4];
	auto d = dns_name_decode(root, text);
	ASSERT_TRUE(d);
	EXPECT_EQ(d->consumed, 1u);
	EXPECT_EQ(d->text_len, 0u);
}

TEST(DnsName, DecodeRejectsMalformed) {
	char text[300];
	auto dec = [&](std::vector<uint8_t> v) {
		std::vector<std::byte> b;
		for (uint8_t x : v)
			b.push_back(std::byte(x));
		return dns_name_decode(b, text).has_value();
	};
	EXPECT_FALSE(dec({}));            // nothing
	EXPECT_FALSE(dec({3, 'a', 'b'})); // label runs off the end
	EXPECT_FALSE(dec({1, 'a'}));      // no root label
	EXPECT_FALSE(dec({0xc0, 0x0c}));  // compression pointer
	EXPECT_FALSE(dec({0x41, 'a'}));   // reserved label type
	std::vector<uint8_t> long_name;
	for (int i = 0; i < 5; i++) {
		long_name.push_back(63);
		long_name.insert(long_name.end(), 63, 'a');
	}
	long_name.push_back(0);
	EXPECT_FALSE(dec(long_name)); // 321 bytes > 255
	EXPECT_TRUE(dec({1, 'a', 0}));
}

TEST(DnsName, DecodeRejectsSmallText) {
	std::vector<std::byte> w(32);
	size_t n = dns_name_encode("abc.de", w);
	char small[5]; // "abc.de" needs 6
	EXPECT_FALSE(dns_name_decode(std::span<const std::byte>(w.data(), n), small));
	char fits[6];
	EXPECT_TRUE(dns_name_decode(std::span<const std::byte>(w.data(), n), fits));
}
