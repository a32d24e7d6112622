#include "passt/net/sockaddr.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

using namespace passt;

TEST(SockAddr, V4RoundTrip) {
	SockAddr sa;
	ASSERT_EQ(sockaddr_from(sa, *InAny::parse("192.0.2.7"), 8080), sizeof(sockaddr_in));
	EXPECT_EQ(sa.sin.sin_family, AF_INET);
	EXPECT_EQ(ntohs(sa.sin.sin_port), 8080);
	EXPECT_EQ(ntohl(sa.sin.sin_addr.s_addr), 0xc0000207u);
	InAny a;
	uint16_t port = 0;
	uint32_t scope = 99;
	ASSERT_TRUE(sockaddr_to(sa, a, port, scope));
	EXPECT_EQ(a, *InAny::parse("192.0.2.7"));
	EXPECT_EQ(port, 8080);
	EXPECT_EQ(scope, 0u);
}

TEST(SockAddr, V6ScopeOnlyForLinkLocal) {
	SockAddr sa;
	ASSERT_EQ(sockaddr_from(sa, *InAny::parse("fe80::1"), 53, 7), sizeof(sockaddr_in6));
	EXPECT_EQ(sa.sin6.sin6_scope_id, 7u);
	sockaddr_from(sa, *InAny::parse("2001:db8::1"), 53, 7);
	EXPECT_EQ(sa.sin6.sin6_scope_id, 0u);
	InAny a;
	uint16_t port = 0;
	ASSERT_TRUE(sockaddr_to(sa, a, port));
	EXPECT_EQ(a, *InAny::parse("2001:db8::1"));
	EXPECT_EQ(port, 53);
}

TEST(SockAddr, V4MappedComesBackAsV4) {
	SockAddr sa{};
	sa.sin6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::ffff:198.51.100.9", &sa.sin6.sin6_addr);
	InAny a;
	uint16_t port;
	ASSERT_TRUE(sockaddr_to(sa, a, port));
	EXPECT_TRUE(a.is_v4());
	EXPECT_EQ(a.v4(), *Ipv4Addr::parse("198.51.100.9"));
}

TEST(SockAddr, OtherFamilyRefused) {
	SockAddr sa{};
	sa.sa.sa_family = AF_UNIX;
	InAny a = *InAny::parse("192.0.2.1");
	uint16_t port = 5;
	EXPECT_FALSE(sockaddr_to(sa, a, port));
	EXPECT_EQ(a, *InAny::parse("192.0.2.1"));
	EXPECT_EQ(port, 5);
}

TEST(SockAddr, Loopback) {
	SockAddr sa;
	ASSERT_EQ(sockaddr_loopback(sa, false, 5201), sizeof(sockaddr_in));
	EXPECT_EQ(sa.sin.sin_family, AF_INET);
	EXPECT_EQ(ntohl(sa.sin.sin_addr.s_addr), uint32_t(INADDR_LOOPBACK));
	EXPECT_EQ(ntohs(sa.sin.sin_port), 5201);
	ASSERT_EQ(sockaddr_loopback(sa, true, 53), sizeof(sockaddr_in6));
	EXPECT_EQ(sa.sin6.sin6_family, AF_INET6);
	EXPECT_TRUE(IN6_IS_ADDR_LOOPBACK(&sa.sin6.sin6_addr));
	EXPECT_EQ(ntohs(sa.sin6.sin6_port), 53);
}
