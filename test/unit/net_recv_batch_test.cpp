// RecvBatch: one recvmmsg() into fixed slots at an offset, with sources.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "passt/core/util.h"
#include "passt/net/recv_batch.h"

using namespace passt;

namespace {

RecvBatch<4, 64> batch; // static, as in the translators

// A UDP socket bound to 127.0.0.1 on an ephemeral port; port set.
Fd bound_udp(uint16_t &port) {
	Fd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
	sockaddr_in a{};
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t l = sizeof(a);
	if (!s.valid() || bind(s.get(), reinterpret_cast<sockaddr *>(&a), l) < 0 ||
	    getsockname(s.get(), reinterpret_cast<sockaddr *>(&a), &l) < 0)
		return Fd();
	port = ntohs(a.sin_port);
	return s;
}

} // namespace

TEST(NetRecvBatch, SlotsOffsetsNamesAndTruncation) {
	uint16_t rport = 0, sport = 0;
	Fd r = bound_udp(rport), s = bound_udp(sport);
	ASSERT_TRUE(r.valid());
	ASSERT_TRUE(s.valid());
	sockaddr_in to{};
	to.sin_family = AF_INET;
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	to.sin_port = htons(rport);
	const std::string msgs[] = {"first", "", std::string(40, 'x')};
	for (const std::string &m : msgs)
		ASSERT_EQ(sendto(s.get(), m.data(), m.size(), 0, reinterpret_cast<sockaddr *>(&to),
				 sizeof(to)),
			  ssize_t(m.size()));

	// Offset 16, 32 bytes each: the third datagram is cut to 32 bytes.
	std::memset(batch.buf, 0xee, sizeof(batch.buf));
	ASSERT_EQ(batch.recv(r.get(), 16, 32, true), 3);
	EXPECT_EQ(std::string(reinterpret_cast<char *>(batch.buf[0] + 16), batch.len(0)), "first");
	EXPECT_EQ(batch.len(1), 0u);
	EXPECT_EQ(batch.len(2), 32u);
	EXPECT_FALSE(batch.truncated(0));
	EXPECT_FALSE(batch.truncated(1));
	EXPECT_TRUE(batch.truncated(2));
	EXPECT_EQ(batch.buf[0][15], std::byte{0xee}); // nothing written before the offset
	InAny addr;
	uint16_t port = 0;
	ASSERT_TRUE(sockaddr_to(batch.names[2], addr, port));
	EXPECT_EQ(port, sport);
	EXPECT_TRUE(addr.is_v4());

	// Nothing waiting: 0, not an error. A bad descriptor: -EBADF.
	EXPECT_EQ(batch.recv(r.get(), 0, 64, false), 0);
	EXPECT_EQ(batch.recv(-1, 0, 64, false), -EBADF);
}
