// TLV option reader and writer (passt/net/tlv.h) in its three formats:
// fixed byte arrays read and written, malformed and truncated input.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "net_test_util.h"
#include "passt/net/tlv.h"

namespace passt {
namespace {

using test::hex;
using Bytes = std::vector<std::byte>;

Bytes to_vec(std::span<const std::byte> s) { return Bytes(s.begin(), s.end()); }

// Every option of s, and the error the walk ended with.
template <class F>
std::vector<tlv::Option> read_all(std::span<const std::byte> s, tlv::Error *err = nullptr) {
	std::vector<tlv::Option> v;
	tlv::Reader<F> r(s);
	while (auto o = r.next())
		v.push_back(*o);
	if (err)
		*err = r.error();
	return v;
}

template <class F> tlv::Error error_of(std::span<const std::byte> s) {
	tlv::Error e;
	read_all<F>(s, &e);
	return e;
}

// ---- DHCPv4: 1-byte code and length, pad 0, end 255 ----

TEST(NetTlvDhcp4, ReadsOptionsSkipsPadStopsAtEnd) {
	auto b = hex("00 00 3501 01 3703 010306 00 5000 ff 3501 02");
	auto v = read_all<tlv::Dhcp4>(b);
	ASSERT_EQ(v.size(), 3u);
	EXPECT_EQ(v[0].code, 53);
	EXPECT_EQ(to_vec(v[0].data), hex("01"));
	EXPECT_EQ(v[0].bytes.data(), b.data() + 2);
	EXPECT_EQ(v[0].bytes.size(), 3u);
	EXPECT_EQ(v[1].code, 55);
	EXPECT_EQ(to_vec(v[1].data), hex("010306"));
	EXPECT_EQ(v[2].code, 80); // zero length is fine in DHCP
	EXPECT_TRUE(v[2].data.empty());
	EXPECT_EQ(error_of<tlv::Dhcp4>(b), tlv::Error::none); // what follows end is not read
}

TEST(NetTlvDhcp4, RejectsTruncatedAndOverrunningOptions) {
	EXPECT_EQ(error_of<tlv::Dhcp4>(hex("3501 01 37")), tlv::Error::truncated);
	EXPECT_EQ(error_of<tlv::Dhcp4>(hex("3505 01020304")), tlv::Error::overrun);
	EXPECT_EQ(error_of<tlv::Dhcp4>(hex("00 00 ff")), tlv::Error::none);
	EXPECT_EQ(error_of<tlv::Dhcp4>(hex("0000")), tlv::Error::none); // pads only
	EXPECT_EQ(error_of<tlv::Dhcp4>({}), tlv::Error::none);
	// The options before the bad one were given, none after.
	tlv::Error e;
	auto v = read_all<tlv::Dhcp4>(hex("3501 01 0cff 41 3501 01"), &e);
	EXPECT_EQ(v.size(), 1u);
	EXPECT_EQ(e, tlv::Error::overrun);
	EXPECT_STREQ(tlv::error_text(e), "option length runs past the end");
}

TEST(NetTlvDhcp4, WriterSplitsLongOptionsAndEnds) {
	std::byte buf[600];
	tlv::Writer<tlv::Dhcp4> w(buf);
	Bytes longdata(300);
	for (size_t i = 0; i < longdata.size(); i++)
		longdata[i] = std::byte(i);
	EXPECT_TRUE(w.add(53, std::array<uint8_t, 1>{5}));
	EXPECT_TRUE(w.add(119, longdata)); // RFC 3396: 255 + 45
	EXPECT_TRUE(w.add(80));
	w.end();
	ASSERT_FALSE(w.overflow());
	ASSERT_EQ(w.len(), 3u + 257 + 47 + 2 + 1);
	EXPECT_EQ(tlv::wire_len<tlv::Dhcp4>(300), 257u + 47);
	auto out = std::span<const std::byte>(buf, w.len());
	EXPECT_EQ(to_vec(out.first(5)), hex("3501 05 77ff"));
	EXPECT_EQ(to_vec(out.subspan(3 + 257, 2)), hex("772d"));
	EXPECT_EQ(to_vec(out.last(3)), hex("5000 ff"));

	// Read back: the two instances concatenate to the original data.
	auto v = read_all<tlv::Dhcp4>(out);
	ASSERT_EQ(v.size(), 4u);
	EXPECT_EQ(v[1].code, 119);
	EXPECT_EQ(v[2].code, 119);
	Bytes joined = to_vec(v[1].data);
	joined.insert(joined.end(), v[2].data.begin(), v[2].data.end());
	EXPECT_EQ(joined, longdata);
}

// ---- DHCPv6: 2-byte code and length, nested options ----

// IA_NA (IAID 1, T1 2, T2 3) holding an IA Address holding a Status Code.
TEST(NetTlvDhcp6, ReadsNestedOptions) {
	auto b = hex("0001 000a 0003000152540012 3456"
		     "0003 002e 00000001 00000002 00000003"
		     "  0005 001e 20010db8000000000000000000000005 ffffffff ffffffff"
		     "    000d 0002 0000"
		     "000e 0000");
	auto v = read_all<tlv::Dhcp6>(b);
	ASSERT_EQ(v.size(), 3u);
	EXPECT_EQ(v[0].code, 1);
	EXPECT_EQ(v[0].data.size(), 10u);
	EXPECT_EQ(v[0].bytes.size(), 14u);
	EXPECT_EQ(v[1].code, 3);
	EXPECT_EQ(v[2].code, 14);
	EXPECT_TRUE(v[2].data.empty());

	auto inner = read_all<tlv::Dhcp6>(v[1].data.subspan(12));
	ASSERT_EQ(inner.size(), 1u);
	EXPECT_EQ(inner[0].code, 5);
	auto status = read_all<tlv::Dhcp6>(inner[0].data.subspan(24));
	ASSERT_EQ(status.size(), 1u);
	EXPECT_EQ(status[0].code, 13);
	EXPECT_EQ(to_vec(status[0].data), hex("0000"));
}

TEST(NetTlvDhcp6, RejectsTruncatedAndOverrunning) {
	EXPECT_EQ(error_of<tlv::Dhcp6>(hex("0001")), tlv::Error::truncated);
	EXPECT_EQ(error_of<tlv::Dhcp6>(hex("000e 00")), tlv::Error::truncated);
	EXPECT_EQ(error_of<tlv::Dhcp6>(hex("0001 0004 010203")), tlv::Error::overrun);
	EXPECT_EQ(error_of<tlv::Dhcp6>(hex("0001 ffff")), tlv::Error::overrun);
	// No pad or end in DHCPv6: 0 and 255 are ordinary codes.
	auto v = read_all<tlv::Dhcp6>(hex("0000 0000 00ff 0001 ff"));
	ASSERT_EQ(v.size(), 2u);
	EXPECT_EQ(v[0].code, 0);
	EXPECT_EQ(v[1].code, 255);
	EXPECT_EQ(error_of<tlv::Dhcp6>(hex("ff")), tlv::Error::truncated);
}

TEST(NetTlvDhcp6, WriterNestsAndRollsBack) {
	std::byte buf[64];
	tlv::Writer<tlv::Dhcp6> w(buf);
	size_t ia = w.open(3);
	w.put32(1);
	w.put32(2);
	w.put32(3);
	size_t addr = w.open(5);
	w.put(Bytes(16, std::byte(0x20)));
	w.put32(0xffffffff);
	w.put32(0xffffffff);
	w.close(addr);
	w.close(ia);
	ASSERT_FALSE(w.overflow());
	auto out = to_vec(std::span<const std::byte>(buf, w.len()));
	EXPECT_EQ(out, hex("0003 0028 00000001 00000002 00000003 0005 0018"
			   "20202020202020202020202020202020 ffffffff ffffffff"));
	auto v = read_all<tlv::Dhcp6>(out);
	ASSERT_EQ(v.size(), 1u);
	EXPECT_EQ(v[0].data.size(), 40u);
	ASSERT_EQ(w.len(), 44u);

	// 20 bytes left: a 24-byte option doesn't fit, sticks, rolls back.
	auto m = w.mark();
	size_t at = w.open(23);
	w.put(Bytes(16));
	EXPECT_FALSE(w.overflow());
	w.put(Bytes(4)); // 4 + 16 + 4 = 24 > 20
	EXPECT_TRUE(w.overflow());
	EXPECT_EQ(w.room(), 0u);
	w.put8(1); // ignored while overflowed, even if it would fit
	w.close(at);
	EXPECT_EQ(w.len(), 44u + 20);
	w.rollback(m);
	EXPECT_FALSE(w.overflow());
	EXPECT_EQ(w.len(), 44u);
	EXPECT_EQ(to_vec(std::span<const std::byte>(buf, w.len())), out);

	// add() writes all or nothing, without leaving overflow set.
	EXPECT_FALSE(w.add(24, Bytes(17)));
	EXPECT_FALSE(w.overflow());
	EXPECT_EQ(w.len(), 44u);
	EXPECT_TRUE(w.add(24, Bytes(16)));
	EXPECT_EQ(w.len(), 64u);
	EXPECT_EQ(w.room(), 0u);
}

// ---- NDP: length in units of 8 bytes with the header, 0 invalid ----

TEST(NetTlvNdp, ReadsOptionsInUnitsOfEight) {
	auto b = hex("0101 525400123456"
		     "1903 0000ffffffff 20010db8000000000000000000000053");
	auto v = read_all<tlv::Ndp>(b);
	ASSERT_EQ(v.size(), 2u);
	EXPECT_EQ(v[0].code, 1);
	EXPECT_EQ(to_vec(v[0].data), hex("525400123456"));
	EXPECT_EQ(v[0].bytes.size(), 8u);
	EXPECT_EQ(v[1].code, 25);
	EXPECT_EQ(v[1].bytes.size(), 24u);
	EXPECT_EQ(v[1].data.size(), 22u);
	EXPECT_TRUE(tlv::valid<tlv::Ndp>(b));
	auto rdnss = tlv::find<tlv::Ndp>(b, 25);
	ASSERT_TRUE(rdnss);
	EXPECT_EQ(rdnss->bytes.data(), b.data() + 8);
	EXPECT_FALSE(tlv::find<tlv::Ndp>(b, 5));
}

TEST(NetTlvNdp, RejectsZeroLengthTruncatedAndOverrunning) {
	EXPECT_EQ(error_of<tlv::Ndp>(hex("0100 525400123456")), tlv::Error::bad_length);
	EXPECT_EQ(error_of<tlv::Ndp>(hex("01")), tlv::Error::truncated);
	EXPECT_EQ(error_of<tlv::Ndp>(hex("0102 525400123456")), tlv::Error::overrun);
	EXPECT_EQ(error_of<tlv::Ndp>(hex("0101 5254001234")), tlv::Error::overrun);
	// No pad: type 0 is an ordinary (unknown) option.
	EXPECT_EQ(read_all<tlv::Ndp>(hex("0001 000000000000")).size(), 1u);
	EXPECT_FALSE(tlv::valid<tlv::Ndp>(hex("0101 525400123456 0500 00000000")));
	// find() does not look past a malformed option.
	EXPECT_FALSE(tlv::find<tlv::Ndp>(hex("0500 0000 0000 0000 0101 525400123456"), 1));
	// for_each: a walk that f stops is not failed by what comes after.
	size_t seen = 0;
	EXPECT_TRUE(
		tlv::for_each<tlv::Ndp>(hex("0101 525400123456 0500"), [&](const tlv::Option &) {
			seen++;
			return false;
		}));
	EXPECT_EQ(seen, 1u);
}

TEST(NetTlvNdp, WriterPadsToEightAndChecksTheLengthField) {
	std::byte buf[2100];
	tlv::Writer<tlv::Ndp> w(std::span(buf, 40));
	EXPECT_TRUE(w.add(1, std::array<uint8_t, 6>{0x52, 0x54, 0, 0x12, 0x34, 0x56}));
	size_t at = w.open(31); // DNSSL: reserved, lifetime, "a.b" in wire format
	w.zeros(2);
	w.put32(0xffffffff);
	w.put(hex("0161 0162 00"));
	w.close(at);
	ASSERT_FALSE(w.overflow());
	auto out = to_vec(std::span<const std::byte>(buf, w.len()));
	EXPECT_EQ(out, hex("0101 525400123456 1f02 0000ffffffff 0161016200 000000"));
	auto v = read_all<tlv::Ndp>(out);
	ASSERT_EQ(v.size(), 2u);
	EXPECT_EQ(v[1].code, 31);
	EXPECT_EQ(v[1].bytes.size(), 16u);

	// 16 bytes left: 14 bytes of data fit, 15 don't (padding included).
	EXPECT_FALSE(w.add(3, Bytes(15)));
	EXPECT_EQ(w.len(), 24u);
	EXPECT_TRUE(w.add(3, Bytes(14)));
	EXPECT_EQ(w.len(), 40u);

	// The length field holds at most 255 units: 2040 bytes in all.
	tlv::Writer<tlv::Ndp> big(buf);
	EXPECT_TRUE(big.add(25, Bytes(2038)));
	EXPECT_EQ(big.len(), 2040u);
	EXPECT_EQ(uint8_t(buf[1]), 255);
	tlv::Writer<tlv::Ndp> too_big(buf);
	EXPECT_FALSE(too_big.add(25, Bytes(2039)));
	EXPECT_EQ(too_big.len(), 0u);
}

// ---- sizing, and properties on every format ----

// max_data(avail) is data whose wire_len() fits in avail, the most there is
// (split formats: within one header of it, see tlv.h).
template <class F> void check_sizing(size_t field_max_data) {
	for (size_t avail = 0; avail < 3000; avail++) {
		size_t n = tlv::max_data<F>(avail);
		if (n) {
			EXPECT_LE(tlv::wire_len<F>(n), avail) << avail;
		}
		EXPECT_LE(n, field_max_data);
		size_t slack = F::split ? tlv::hdr_len<F> : 0;
		if (n < field_max_data) {
			EXPECT_GT(tlv::wire_len<F>(n + slack + 1), avail) << avail;
		}
	}
}

TEST(NetTlv, MaxDataIsTheLargestThatFits) {
	check_sizing<tlv::Dhcp4>(SIZE_MAX);
	check_sizing<tlv::Dhcp6>(0xffff);
	check_sizing<tlv::Ndp>(255 * 8 - 2);
	EXPECT_EQ(tlv::wire_len<tlv::Dhcp4>(0), 2u);
	EXPECT_EQ(tlv::wire_len<tlv::Dhcp4>(255), 257u);
	EXPECT_EQ(tlv::wire_len<tlv::Dhcp4>(256), 260u);
	EXPECT_EQ(tlv::max_data<tlv::Dhcp4>(259), 255u);
	EXPECT_EQ(tlv::max_data<tlv::Dhcp4>(256), 252u); // 254 would fit: the slack
	EXPECT_EQ(tlv::max_data<tlv::Dhcp4>(1), 0u);
	EXPECT_EQ(tlv::wire_len<tlv::Dhcp6>(0), 4u);
	EXPECT_EQ(tlv::max_data<tlv::Dhcp6>(100000), 0xffffu);
	EXPECT_EQ(tlv::wire_len<tlv::Ndp>(6), 8u);
	EXPECT_EQ(tlv::wire_len<tlv::Ndp>(7), 16u);
	EXPECT_EQ(tlv::max_data<tlv::Ndp>(15), 6u);
	EXPECT_EQ(tlv::max_data<tlv::Ndp>(7), 0u);
}

// Cutting well-formed options anywhere but at an option boundary is an error.
template <class F> void check_truncation(const Bytes &b, const std::vector<size_t> &bounds) {
	for (size_t n = 0; n <= b.size(); n++) {
		tlv::Error e = error_of<F>(std::span(b).first(n));
		bool boundary = std::find(bounds.begin(), bounds.end(), n) != bounds.end();
		EXPECT_EQ(e == tlv::Error::none, boundary) << n;
	}
}

TEST(NetTlv, TruncationIsRejected) {
	check_truncation<tlv::Dhcp4>(hex("3501 01 3703 010306 5000"), {0, 3, 8, 10});
	check_truncation<tlv::Dhcp6>(hex("0001 0002 abcd 000e 0000"), {0, 6, 10});
	check_truncation<tlv::Ndp>(hex("0101 525400123456 0501 000000000000"), {0, 8, 16});
}

// On random bytes the reader terminates, its options lie one after the
// other within the input, and it stops only at the end, at an end option
// or on an error.
template <class F> void check_random(std::mt19937 &rng) {
	for (int round = 0; round < 3000; round++) {
		Bytes b(rng() % 64);
		for (auto &x : b)
			x = std::byte(rng() % 4 == 0 ? rng() % 4 : rng());
		tlv::Reader<F> r(b);
		const std::byte *pos = b.data();
		const std::byte *end = b.data() + b.size();
		size_t count = 0;
		while (auto o = r.next()) {
			ASSERT_LT(count++, b.size());
			while (F::pad >= 0 && pos < o->bytes.data() && int(uint8_t(*pos)) == F::pad)
				pos++;
			ASSERT_EQ(o->bytes.data(), pos);
			ASSERT_LE(o->bytes.size(), size_t(end - pos));
			ASSERT_EQ(o->data.data(), pos + tlv::hdr_len<F>);
			ASSERT_EQ(o->data.size() + tlv::hdr_len<F>, o->bytes.size());
			pos += o->bytes.size();
		}
		EXPECT_FALSE(r.next());
	}
}

TEST(NetTlv, RandomInputStaysInBounds) {
	std::mt19937 rng(12);
	check_random<tlv::Dhcp4>(rng);
	check_random<tlv::Dhcp6>(rng);
	check_random<tlv::Ndp>(rng);
}

} // namespace
} // namespace passt
