// pasta's tap device backend; see include/passt/tap/tap_tun.h.
//
// #syscalls:pasta read writev
#include "passt/tap/tap_tun.h"

#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "passt/core/log.h"
#include "passt/core/pcap.h"
#include "passt/net/eth.h"
#include "passt/net/ip4.h"
#include "passt/net/checksum.h"
#include "passt/tap/udp_gso.h"
#include "passt/tap/vnet.h"

namespace passt {

static_assert(sizeof(VirtioNetHdr) == TunBackend::VNET_HDR_LEN);

bool tap_complete_partial_csum(std::span<std::byte> frame, size_t start, size_t offset) {
	be16 final;
	if (!tap_partial_csum(frame, start, offset, final))
		return false;
	std::memcpy(frame.data() + start + offset, &final.raw, 2);
	return true;
}

bool tap_partial_csum_skippable(std::span<const std::byte> frame, size_t start, size_t offset) {
	constexpr size_t eth = 14, tcp_csum = 16, tcp_hlen = 20;
	if (pcap_enabled() || offset != tcp_csum || frame.size() < eth + 1 || start < eth ||
	    start > frame.size() || frame.size() - start < tcp_hlen)
		return false;
	const uint16_t type = uint16_t(uint16_t(frame[12]) << 8 | uint16_t(frame[13]));
	const uint8_t version = uint8_t(frame[eth]) >> 4;
	if (type == ethertype::ipv4 && version == 4 && frame.size() >= eth + 20)
		return uint8_t(frame[eth + 9]) == ipproto::tcp &&
		       start == eth + 4 * (size_t(frame[eth]) & 0x0f);
	if (type == ethertype::ipv6 && version == 6 && frame.size() >= eth + 40)
		return uint8_t(frame[eth + 6]) == ipproto::tcp && start == eth + 40;
	return false;
}

TunBackend::TunBackend(int fd, bool vnet_hdr, TapStats *stats)
	: TapBackend(stats), fd_(fd), vnet_hdr_(vnet_hdr) {}

int TunBackend::attach(int fd) {
	detach();
	if (loop_) {
		int rc = loop_->add(fd, EPOLLIN, EpollRef{RefKind::TapTun, fd, 0});
		if (rc < 0)
			return rc;
	}
	fd_ = fd;
	return 0;
}

void TunBackend::detach() {
	if (fd_ >= 0 && loop_)
		loop_->remove(fd_);
	fd_ = -1;
}

std::span<const RefKind> TunBackend::event_kinds() const {
	static constexpr RefKind kinds[] = {RefKind::TapTun};
	return kinds;
}

TapEvent TunBackend::handle_event(EpollRef, uint32_t events) {
	if (events & (EPOLLERR | EPOLLHUP))
		return {TapEvent::Gone, 0};
	return {TapEvent::Read, 0};
}

int TunBackend::read_batch(Pool &pool) {
	pool.reset();
	size_t used = 0;
	const size_t hdr = vnet_hdr_ ? VNET_HDR_LEN : 0;
	// With the header, a frame may be a UDP GSO one that becomes up to
	// UDP_GSO_MAX_SEGS frames, written in place: keep the room and the
	// pool slots for that before each read (an empty pool reads anyway).
	const size_t room = MAX_FRAME + (vnet_hdr_ ? UDP_GSO_EXTRA_ROOM : 0);
	const size_t slots = vnet_hdr_ ? UDP_GSO_MAX_SEGS : 1;

	while (!pool.full() && sizeof(buf_) - used >= room &&
	       (pool.empty() || pool.capacity() - pool.size() >= slots)) {
		ssize_t n = read(fd_, buf_ + used, MAX_FRAME);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -errno;
		}
		if (n == 0)
			return -ENODEV;
		if (size_t(n) <= hdr) {
			stats_->malformed++;
			continue;
		}

		std::span<std::byte> frame(buf_ + used + hdr, size_t(n) - hdr);
		if (vnet_hdr_) {
			VirtioNetHdr vh;
			std::memcpy(&vh, buf_ + used, sizeof(vh));
			if (is_udp_gso(vh)) {
				// Its segments, or nothing if it was dropped.
				if (size_t len = read_udp_gso(pool, vh, used + hdr, frame.size()))
					used += (hdr + len + 7) & ~size_t(7);
				continue;
			}
			const size_t cs = vnet::le(vh.csum_start), co = vnet::le(vh.csum_offset);
			if ((vh.flags & vnet::F_NEEDS_CSUM) &&
			    !tap_partial_csum_skippable(frame, cs, co) &&
			    !tap_complete_partial_csum(frame, cs, co)) {
				stats_->malformed++;
				continue;
			}
		}
		pool.add(frame);
		// Keep the next frame's start 8-byte aligned for the parsers.
		used += (size_t(n) + 7) & ~size_t(7);
	}
	return int(pool.size());
}

size_t TunBackend::read_udp_gso(Pool &pool, const VirtioNetHdr &vh, size_t at, size_t len) {
	std::span<std::byte> segs[UDP_GSO_MAX_SEGS];
	const size_t free_slots = pool.capacity() - pool.size();
	UdpGsoResult r = udp_gso_split(
		std::span<std::byte>(buf_ + at, sizeof(buf_) - at), len, vh,
		std::span(segs, free_slots < UDP_GSO_MAX_SEGS ? free_slots : UDP_GSO_MAX_SEGS));
	if (r.error) {
		stats_->malformed++;
		debug_rl("tap: dropping UDP GSO frame of %zu bytes (gso_size %u): %s", len,
			 unsigned(vnet::le(vh.gso_size)), r.error);
		return 0;
	}
	stats_->udp_gso_frames++;
	debug_rl("tap: UDP GSO frame of %zu bytes, gso_size %u: %zu datagrams", len,
		 unsigned(vnet::le(vh.gso_size)), r.segs);
	for (size_t i = 0; i < r.segs; i++)
		pool.add(segs[i]);
	return size_t(segs[r.segs - 1].data() + segs[r.segs - 1].size() - (buf_ + at));
}

VirtioNetHdr tap_vnet_hdr(const TapFrame &f) {
	VirtioNetHdr vh{};
	if (f.needs_csum) {
		vh.flags = vnet::F_NEEDS_CSUM;
		vh.csum_start = htole16(f.csum_start);
		vh.csum_offset = htole16(f.csum_offset);
	}
	if (f.gso_type) {
		vh.gso_type = f.gso_type;
		vh.gso_size = htole16(f.gso_size);
		vh.hdr_len = htole16(f.hdr_len);
	}
	return vh;
}

bool TunBackend::xmit(const TapFrame &f) {
	VirtioNetHdr vh = tap_vnet_hdr(f);
	iovec iov[2] = {
		{&vh, sizeof(vh)},
		{const_cast<std::byte *>(f.frame.data()), f.frame.size()},
	};
	const int first = vnet_hdr_ ? 0 : 1;
	ssize_t n;
	do
		n = writev(fd_, iov + first, 2 - first);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		debug_rl("tap: dropping frame towards the namespace: %s", strerror(errno));
		return false;
	}
	return true;
}

} // namespace passt
