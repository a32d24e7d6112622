// pcap writer, see include/passt/core/pcap.h for the format and the rules.
//
// #syscalls:init openat
#include "passt/core/pcap.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "passt/core/log.h"
#include "passt/core/util.h"

namespace passt {

namespace {

struct PcapGlobalHeader {
	uint32_t magic;
	uint16_t version_major;
	uint16_t version_minor;
	int32_t thiszone;
	uint32_t sigfigs;
	uint32_t snaplen;
	uint32_t linktype;
};
static_assert(sizeof(PcapGlobalHeader) == 24);

struct PcapRecordHeader {
	uint32_t ts_sec;
	uint32_t ts_nsec;
	uint32_t caplen;
	uint32_t len;
};
static_assert(sizeof(PcapRecordHeader) == 16);

// Descriptors per writev(): record header plus frame parts. Frames with
// more parts are written with several calls.
constexpr size_t PCAP_IOV_BATCH = 64;

int pcap_fd = -1;

void pcap_fail(int error) {
	err("pcap: write failed: %s, capture disabled", strerror(error));
	pcap_close();
}

// Flush out[0..*cnt), resetting *cnt. Returns false (capture off) on error.
bool flush(iovec *out, size_t *cnt) {
	int rc = writev_all(pcap_fd, out, *cnt);
	*cnt = 0;
	if (rc < 0) {
		pcap_fail(-rc);
		return false;
	}
	return true;
}

void write_frame(const iovec *iov, size_t iovcnt, size_t offset, const timespec &ts) {
	size_t total = iov_length(iov, iovcnt);
	if (offset >= total)
		return; // nothing (or less than the prefix) to capture

	size_t len = total - offset;
	size_t caplen = len > PCAP_SNAPLEN ? PCAP_SNAPLEN : len;

	PcapRecordHeader rh;
	rh.ts_sec = uint32_t(ts.tv_sec);
	rh.ts_nsec = uint32_t(ts.tv_nsec);
	rh.caplen = uint32_t(caplen);
	rh.len = len > UINT32_MAX ? UINT32_MAX : uint32_t(len);

	iovec out[PCAP_IOV_BATCH];
	size_t cnt = 0;
	out[cnt++] = iovec{&rh, sizeof(rh)};

	size_t skip = offset, left = caplen;
	for (size_t i = 0; i < iovcnt && left; i++) {
		size_t l = iov[i].iov_len;
		if (skip >= l) {
			skip -= l;
			continue;
		}
		size_t take = l - skip;
		if (take > left)
			take = left;
		if (cnt == PCAP_IOV_BATCH && !flush(out, &cnt))
			return;
		out[cnt++] = iovec{static_cast<char *>(iov[i].iov_base) + skip, take};
		left -= take;
		skip = 0;
	}
	flush(out, &cnt);
}

} // namespace

int pcap_open_fd(int fd) {
	pcap_close();
	if (fd < 0)
		return -EBADF;
	PcapGlobalHeader gh;
	gh.magic = PCAP_MAGIC_NS;
	gh.version_major = PCAP_VERSION_MAJOR;
	gh.version_minor = PCAP_VERSION_MINOR;
	gh.thiszone = 0;
	gh.sigfigs = 0;
	gh.snaplen = PCAP_SNAPLEN;
	gh.linktype = PCAP_LINKTYPE_ETHERNET;
	int rc = write_all(fd, &gh, sizeof(gh));
	if (rc < 0) {
		err("pcap: can't write header: %s", strerror(-rc));
		close(fd);
		return rc;
	}
	pcap_fd = fd;
	return 0;
}

int pcap_open(const char *path) {
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, S_IRUSR | S_IWUSR);
	if (fd < 0) {
		int e = errno;
		err("pcap: can't open %s: %s", path, strerror(e));
		return -e;
	}
	int rc = pcap_open_fd(fd);
	if (rc == 0)
		info("Saving packet capture to %s", path);
	return rc;
}

void pcap_close() {
	if (pcap_fd >= 0)
		close(pcap_fd);
	pcap_fd = -1;
}

bool pcap_enabled() { return pcap_fd >= 0; }

void pcap_frame(const iovec *iov, size_t iovcnt, size_t offset, const timespec &ts) {
	if (pcap_fd < 0)
		return;
	write_frame(iov, iovcnt, offset, ts);
}

void pcap_frame(const iovec *iov, size_t iovcnt, size_t offset) {
	if (pcap_fd < 0)
		return;
	write_frame(iov, iovcnt, offset, now_realtime());
}

void pcap_buf(const void *data, size_t len, const timespec &ts) {
	if (pcap_fd < 0)
		return;
	iovec iov{const_cast<void *>(data), len};
	write_frame(&iov, 1, 0, ts);
}

void pcap_buf(const void *data, size_t len) {
	if (pcap_fd < 0)
		return;
	pcap_buf(data, len, now_realtime());
}

void pcap_frames(const iovec *iov, size_t parts, size_t n, size_t offset, const timespec &ts) {
	for (size_t i = 0; i < n && pcap_fd >= 0; i++)
		write_frame(iov + i * parts, parts, offset, ts);
}

void pcap_frames(const iovec *iov, size_t parts, size_t n, size_t offset) {
	if (pcap_fd < 0)
		return;
	pcap_frames(iov, parts, n, offset, now_realtime());
}

} // namespace passt
