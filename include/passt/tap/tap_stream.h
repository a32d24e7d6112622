// passt's backend: qemu's "-netdev stream" UNIX domain socket.
//
// Theory of operation. On the socket, every Ethernet frame is preceded by
// its length as a 4-byte big-endian number, nothing else: no headers, no
// offloads. One client (qemu) is served at a time.
//
// Input: read_batch() first handles what an earlier call left in the input
// buffer (frames that did not fit the Pool, a frame cut by the end of a
// read), then recv()s as much as is available into the rest of one large
// buffer and splits it into frames, each added to the Pool as a view into
// the buffer, until the socket is drained or the Pool is full. A frame cut
// across reads stays where it is until the next call, which first moves the
// unparsed tail to the start of the buffer (the previous batch has been
// consumed by then). A length of 0 or above MAX_FRAME, or end of file, is
// an error for the whole connection: the stream can't be resynchronised, so
// the caller closes it (detach()); complete frames that arrived before the
// end of file or an error are returned first, and the next call reports it.
//
// Output: send_frame() copies the length prefix and the frame to the end of
// an output buffer; flush() hands all queued bytes to the kernel in one
// send(). Nothing queued is ever dropped once accepted: if the socket buffer
// fills, the unsent bytes, whatever frame boundary they start at, stay
// queued in order and go first on the next flush() (on EPOLLOUT, which the
// backend arms itself when given the event loop), so frame boundaries on the
// wire always hold. A frame is refused (send_frame() returns false,
// counted in out_dropped) only when the output buffer can't take it even
// after a flush: TCP then retransmits, and callers that care (TCP) use
// send_frames()' return value to advance only over accepted frames.
// last_flush_frames() tells how many frames the last flush() completed.
// Capture and counters are the tap layer's (tap/backend.h); the backend
// counts in out_dropped the frames it had accepted and then lost (queued
// when the connection closed or broke). Events on the socket
// (RefKind::TapStream): EPOLLOUT flushes, anything else means read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "passt/core/epoll.h"
#include "passt/net/pool.h"
#include "passt/tap/backend.h"
#include "passt/tap/tap.h"

namespace passt {

class StreamBackend final : public TapBackend {
public:
	// Largest frame accepted either way: a 65535-byte IP packet plus a
	// 14-byte Ethernet header (qemu's virtio-net never sends more).
	static constexpr size_t MAX_FRAME = 65535 + 14;
	static constexpr size_t LEN_PREFIX = 4;
	static constexpr size_t IN_BUF_SIZE = 8 << 20;
	static constexpr size_t OUT_BUF_SIZE = 8 << 20;

	explicit StreamBackend(TapStats *stats);
	~StreamBackend();

	// With a loop (set_event_loop()), attach() registers the socket
	// (RefKind::TapStream, EPOLLIN | EPOLLRDHUP), flush() arms and
	// disarms EPOLLOUT while bytes are pending, and detach() removes it.
	// Without one, the caller polls.

	// Take ownership of a connected stream socket (accepted, or from
	// --fd), make it non-blocking and reset all buffers. A previous
	// connection is detached first. Returns 0 or -errno (fd then closed).
	int attach(int fd) override;
	// Close the connection, dropping what is queued either way (queued
	// output frames are counted in out_dropped).
	void detach() override;
	bool connected() const override { return fd_ >= 0; }
	int fd() const { return fd_; }
	std::span<const RefKind> event_kinds() const override;
	TapEvent handle_event(EpollRef ref, uint32_t events) override;

	RefKind listen_kind() const override { return RefKind::TapStreamListen; }
	std::string qemu_hint(const std::string &path) const override;

	// The region read_batch() fills: give it to the Pool.
	std::span<std::byte> region() override { return {ibuf_, sizeof(ibuf_)}; }

	// Read available frames into pool (reset first). Returns the number
	// of frames (0: nothing complete yet), or, with the pool empty, a
	// negative error after which the caller must detach():
	//   -EPROTO      a length of 0 or above MAX_FRAME (logged)
	//   -ESHUTDOWN   the peer closed the connection (end of file)
	//   -ENOTCONN    not connected
	//   -errno       from recv()
	// If the pool is returned full, call again: frames may be waiting in
	// the buffer that no epoll event will announce.
	int read_batch(Pool &pool) override;

	// Write out everything queued (pending remainder first) in one send().
	// send_frames() queues its frames (those asking for offloads are
	// refused: the stream carries none), then calls this.
	void flush() override;

	// Frames whose last byte went out in the last flush().
	size_t last_flush_frames() const { return last_flush_frames_; }
	// Bytes queued but not yet written (including a partly written frame).
	size_t pending_bytes() const { return out_tail_ - out_head_; }
	// Frames accepted and not yet completely written.
	size_t pending_frames() const { return out_frames_; }
	// A send() failed with something other than EAGAIN: output is off
	// until the next attach() (the read side reports the disconnect).
	bool output_broken() const { return out_broken_; }

private:
	// Copy the length prefix and the frame to the end of the output.
	bool xmit(const TapFrame &f) override;
	void xmit_end() override { flush(); }
	void compact_output();
	void update_epollout();

	int fd_ = -1;
	bool epollout_ = false;

	// Input: [in_parse_, in_len_) holds bytes read but not yet returned
	// as frames (complete frames left over, then possibly a partial one).
	size_t in_len_ = 0;
	size_t in_parse_ = 0;

	// Output: [out_head_, out_tail_) queued; out_cur_left_ bytes at
	// out_head_ finish a partly written frame (0: head at a boundary).
	size_t out_head_ = 0;
	size_t out_tail_ = 0;
	size_t out_cur_left_ = 0;
	size_t out_frames_ = 0;
	size_t last_flush_frames_ = 0;
	bool out_broken_ = false;

	alignas(64) std::byte ibuf_[IN_BUF_SIZE];
	alignas(64) std::byte obuf_[OUT_BUF_SIZE];
};

// Open the listening socket for qemu. With a path (-s), bind there; a
// socket file nobody listens on (stale) is replaced, a live one is an
// error (-EADDRINUSE), as is an existing non-socket file (-EEXIST).
// Without, try DIR/passt_1.socket .. DIR/passt_64.socket (DIR: /tmp, or
// dir for tests) and take the first one free or stale. The socket is
// non-blocking and close-on-exec. Returns the fd, or -errno (-EADDRINUSE
// if all candidates are live); chosen_path receives the path bound.
constexpr unsigned TAP_STREAM_AUTO_MAX = 64;
int tap_stream_listen(const std::string &path, std::string &chosen_path,
		      const std::string &dir = "/tmp");

// True if something accepts connections on the UNIX socket at path: first
// looked up in /proc/net/unix (no side effect), else probed with connect()
// (a live server then sees a connection opened and closed at once).
bool tap_stream_path_live(const std::string &path);

// Accept one client: non-blocking, close-on-exec, with socket buffers
// enlarged (best effort). Returns the fd or -errno (-EAGAIN: none).
int tap_stream_accept(int listen_fd);

// The lines telling the user how to connect qemu to path.
std::string tap_stream_qemu_hint(const std::string &path);

} // namespace passt
