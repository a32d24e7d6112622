// passt::err/warn next to <err.h>'s ::err/::warn: inside namespace passt the
// short names resolve to ours; with a global using-directive, the log_*
// aliases avoid the ambiguity. This file mostly checks that it compiles.
#include <err.h>

#include <gtest/gtest.h>

#include <string>

#include <fcntl.h>
#include <unistd.h>

#include "passt/core/log.h"

namespace passt {
namespace {
void log_from_inside(int v) {
	err("inside err %d", v);
	warn("inside warn %d", v);
}
} // namespace
} // namespace passt

using namespace passt;

TEST(CoreLogErrH, ShortNamesInsideNamespaceAndAliasesOutside) {
	log_close();
	char path[] = "/tmp/passt-core-errh-XXXXXX";
	int fd = mkstemp(path);
	ASSERT_GE(fd, 0);
	fflush(stderr);
	int saved = dup(2);
	dup2(fd, 2);
	passt::log_from_inside(3);
	log_err("alias err");
	log_warn("alias warn");
	dup2(saved, 2);
	close(saved);
	std::string out(4096, '\0');
	ssize_t n = pread(fd, out.data(), out.size(), 0);
	close(fd);
	unlink(path);
	ASSERT_GT(n, 0);
	out.resize(size_t(n));
	for (const char *s : {"inside err 3", "inside warn 3", "alias err", "alias warn"})
		EXPECT_NE(out.find(s), std::string::npos) << s;
	// libc's err() would have prefixed the program name and exited.
	EXPECT_EQ(out.find("unit_tests:"), std::string::npos);
}
