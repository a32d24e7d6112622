// A fake host socket layer for the flow fuzz targets (fuzz_tcp_flow,
// fuzz_udp_flow, fuzz_icmp_flow), defined in fake_sock.cpp.
//
// fake_sock.cpp defines the libc socket calls the translators make
// (socket, close, bind, listen, accept4, connect, get/setsockopt,
// getsockname, getpeername, ioctl, send, sendto, sendmsg, sendmmsg, recv,
// recvfrom, recvmsg, recvmmsg, shutdown, epoll_ctl): the sanitizers'
// interceptors are weak, these win. Once fake_ready is set, socket() hands
// out a real descriptor (an eventfd, so that close() and descriptor reuse
// behave as the kernel's) that every other call treats as a fake socket
// whose behaviour the harness chooses through the FakeSock record below;
// descriptors that are not fake go to the kernel. epoll_ctl() on a fake
// socket only records what was asked: the harness delivers events itself.
// Nothing leaves the process.
//
// Stream sockets: connect() succeeds, is in progress or fails
// (fake_next_connect); send() takes up to `room` bytes; the host peer's
// byte stream is fake_stream_byte(tag, offset), of which rx_total bytes
// have arrived; end of file and reset are flags. A listening socket's
// accept4() yields `backlog` new fake sockets whose peer is `accept_peer`.
// A socket not bound, or bound to port 0, gets the next port of
// fake_next_port; an unbound one the loopback address of its family.
//
// Datagram sockets (UDP, ping): a FIFO of arriving datagrams (source,
// length, the first bytes chosen by the harness and the rest a pattern,
// or an error to report instead); sends are counted and checked by an
// optional hook, and fail with send_err for the next send_err_n
// datagrams (0: for as long as send_err is set).
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>

namespace passt::fuzz {

inline constexpr int FAKE_MAXFD = 1024;
inline constexpr unsigned FAKE_RXQ = 8;   // datagrams queued per socket at most
inline constexpr unsigned FAKE_HEAD = 64; // harness-chosen bytes of a datagram

struct FakeDgram {
	uint32_t len = 0; // whole datagram
	uint32_t head_len = 0;
	uint8_t head[FAKE_HEAD] = {};
	sockaddr_storage src{};
	socklen_t src_len = 0;
	int err = 0; // nonzero: the receive call fails with this instead
};

struct FakeSock {
	bool open = false;
	int family = AF_INET, type = SOCK_STREAM, protocol = 0;
	unsigned tag = 0; // harness's: which connection or flow (fake_tag at socket())
	int so_error = 0; // SO_ERROR, cleared when read
	int send_err = 0; // sends fail with this
	unsigned send_err_n = 0;
	bool bound = false, connected = false, listening = false;
	sockaddr_storage local{}, peer{};

	// Stream.
	uint32_t room = 65536; // send() takes up to this many bytes
	uint32_t sndbuf = 212992;
	uint64_t accepted = 0; // bytes send() took
	bool shut_wr = false;
	uint64_t rx_total = 0, rx_consumed = 0; // the host peer's stream
	int peek_off = -1;                      // SO_PEEK_OFF, -1: off
	bool rx_eof = false, rx_rst = false;
	// Listening stream socket: connections waiting, and what they look like.
	unsigned backlog = 0;
	sockaddr_storage accept_peer{}, accept_local{}; // local: the listener's if unset
	unsigned accept_tag = 0;

	// Datagram.
	FakeDgram rxq[FAKE_RXQ];
	unsigned rxq_head = 0, rxq_n = 0;
	uint64_t dgrams_sent = 0, dgram_bytes_sent = 0;

	bool in_epoll = false;
	uint32_t events = 0;
	uint64_t data = 0;

	uint64_t user = 0; // the harness's, zero for a new socket
};

extern FakeSock fake[FAKE_MAXFD];
extern int fake_hi;             // above the highest descriptor ever made fake
extern bool fake_ready;         // only sockets made after this is set are fake
extern int fake_next_connect;   // connect(): 0, EINPROGRESS, or an error
extern unsigned fake_tag;       // tag given to the next socket()
extern int fake_socket_err;     // the next socket() fails with this (once)
extern uint16_t fake_next_port; // next port for a socket bound to port 0 (50000-59999)

// Checks a datagram sent on s to dst (null: connected) before it counts;
// returns 0 to take it, or an errno to fail the send with. Null: take all.
extern int (*fake_on_send)(FakeSock &s, const void *buf, size_t len, const sockaddr *dst,
			   socklen_t dst_len);

FakeSock *fake_sock(int fd); // null if fd is not a fake socket
int fake_fd(const FakeSock &s);
unsigned fake_open_count();
// The n-th open fake socket (mod the count), or null if there is none.
FakeSock *fake_nth(unsigned n);

// The host peer's stream byte i on a stream socket tagged tag, and byte i
// of a datagram past its harness-chosen head.
uint8_t fake_stream_byte(unsigned tag, uint64_t i);
uint8_t fake_dgram_byte(uint32_t len, uint32_t i);

// Queue a datagram (false if the queue is full).
bool fake_push_dgram(FakeSock &s, const FakeDgram &d);

} // namespace passt::fuzz
