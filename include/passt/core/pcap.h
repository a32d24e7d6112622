// Packet capture of every frame crossing the tap interface (-p/--pcap).
// The only callers are the tap layer's two doors (src/tap/tap.cpp), which
// every frame of every backend passes, once, either way.
//
// Theory of operation: classic libpcap file format, as read by tcpdump and
// wireshark. A 24-byte global header, then per frame a 16-byte record
// header (seconds, nanoseconds, captured length, original length) followed
// by the captured bytes:
//   global header: magic 0xa1b23c4d (nanosecond timestamps, written in host
//     byte order: readers detect the order from the magic), version 2.4,
//     thiszone 0, sigfigs 0, snaplen PCAP_SNAPLEN, linktype 1 (Ethernet).
// Frames longer than PCAP_SNAPLEN are cut: caplen = PCAP_SNAPLEN, len =
// the full length. Frames are written with one writev() each straight from
// the caller's iovecs (no copy), skipping `offset` leading bytes: the
// stream backend's 4-byte length prefix or a virtio-net header.
// Timestamps are wall-clock (CLOCK_REALTIME): callers pass a realtime ts
// (never the loop's monotonic "now"), or use the overloads without one.
// A write error is logged once and capture is turned off: never fatal.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>

#include <sys/uio.h>

namespace passt {

constexpr uint32_t PCAP_MAGIC_NS = 0xa1b23c4d;
constexpr uint16_t PCAP_VERSION_MAJOR = 2;
constexpr uint16_t PCAP_VERSION_MINOR = 4;
constexpr uint32_t PCAP_LINKTYPE_ETHERNET = 1;
// Twice the largest frame we can see (a 64 KiB GSO packet plus Ethernet
// header), so no real frame is cut. Not libpcap's 262144 maximum: tcpdump
// rejects records whose original length exceeds that maximum, so a
// smaller snaplen keeps cut frames (len in (131072, 262144]) readable.
constexpr uint32_t PCAP_SNAPLEN = 131072;

// Create (truncate) path and write the global header. Returns 0 or -errno;
// on error capture stays off and the error is logged.
int pcap_open(const char *path);
// Same on an already open descriptor (taken over; closed by pcap_close()).
int pcap_open_fd(int fd);
void pcap_close();
bool pcap_enabled();

// Capture one frame held in iov[0..iovcnt), starting offset bytes in.
void pcap_frame(const iovec *iov, size_t iovcnt, size_t offset, const timespec &ts);
void pcap_frame(const iovec *iov, size_t iovcnt, size_t offset);
// Capture one contiguous frame.
void pcap_buf(const void *data, size_t len, const timespec &ts);
void pcap_buf(const void *data, size_t len);
// Capture n frames, frame i made of iov[i * parts .. (i + 1) * parts),
// each starting offset bytes in; all get the same timestamp.
void pcap_frames(const iovec *iov, size_t parts, size_t n, size_t offset, const timespec &ts);
void pcap_frames(const iovec *iov, size_t parts, size_t n, size_t offset);

} // namespace passt
