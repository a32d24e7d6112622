# passt / pasta, C++ implementation. See README.md.
#
#   make              build ./passt, the ./pasta symlink and ./pesto (the
#                     client of -c/--conf-path, tools/pesto)
#   make check        install missing test packages, run every test suite
#   make unit         googletest unit tests only
#   make asan         unit tests under AddressSanitizer + UBSan
#   make fuzz         build the libFuzzer targets (clang) and run each briefly
#   make lint         the format check, clang-tidy and cppcheck over the sources
#   make format       lay out the C++ sources as .clang-format says
#   make syscalls-check  every libc call's system calls are in a #syscalls line
#   make perf-tools   build/frontend, the qemu-free passt front-end, and
#                     build/connrate, a connection-rate probe (test/perf)
#   make install      install stripped binaries (pasta as a copy), their debug
#                     information under DEBUGDIR, and the man page

CXX      ?= g++
PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
MANDIR   ?= $(PREFIX)/share/man
VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo unknown)

WARN     := -Wall -Wextra -Werror -Wshadow -Wno-missing-field-initializers
CXXFLAGS ?= -O2 -g
BASEFLAGS = -std=c++20 $(WARN) -Iinclude -I$(B)/gen -D_GNU_SOURCE -DPASST_VERSION='"$(VERSION)"' \
	    -fstack-protector-strong -D_FORTIFY_SOURCE=2 -MMD -MP
# The daemon needs neither exceptions nor RTTI; tests (googletest) do.
# One section per function and object, so that the daemon's link
# (--gc-sections) drops what nothing reaches, ours and libstdc++'s.
DAEMONFLAGS = -fno-exceptions -fno-rtti -ffunction-sections -fdata-sections

# The daemon links libstdc++ and libgcc statically, so that it needs only
# libc and the dynamic loader at run time, as the C passt does: what it uses
# of them is small (operator new/delete, static-local guards, the
# __throw_* helpers of inlined containers and the terminate path behind
# them; no iostream or locale). Not under a sanitizer, whose runtime wants
# the shared libstdc++. Measured on Debian 12, g++ 12, x86_64 (text from
# size ./passt; file size as built with -g, and stripped; NEEDED):
#   before, shared:  text 423761, 7944184 B, stripped 442840 B;
#                    libstdc++.so.6 libgcc_s.so.1 libc.so.6
#   static + gc:     text 492263, 8076552 B, stripped 513016 B;
#                    libc.so.6 ld-linux-x86-64.so.2 (_dl_find_object and
#                    __tls_get_addr, for libgcc's unwinder and libsupc++)
# Of the 68 kB more, most is the exception and terminate machinery behind the
# __throw_* helpers, operator new and the static-local guards (the unwinder,
# the demangler of the verbose terminate handler).
DAEMON_LDFLAGS = -pie -Wl,-z,relro,-z,now -Wl,--gc-sections \
	$(if $(findstring -fsanitize,$(CXXFLAGS)),,-static-libstdc++ -static-libgcc)

B        := build
# src/repair/ is the passt-repair helper, a program of its own.
LIB_SRCS := $(shell find src -name '*.cpp' ! -name main.cpp ! -path 'src/repair/*' | sort)
LIB_OBJS := $(LIB_SRCS:%.cpp=$(B)/obj/%.o)
UNIT_SRCS:= $(sort $(wildcard test/unit/*.cpp test/support/*.cpp))
UNIT_OBJS:= $(UNIT_SRCS:%.cpp=$(B)/obj/%.o)

GTEST_LIBS := -lgtest -lgtest_main -lpthread
NPROC    := $(shell nproc 2>/dev/null || echo 2)

.PHONY: all clean check unit asan fuzz lint format install integration deps syscalls-check \
	perf-tools
all: passt pasta passt-repair pesto

# The seccomp allowlists, from the "#syscalls" lines next to the code that
# makes each call (see src/host/gen_seccomp.sh).
SECCOMP_LIST := $(B)/gen/passt/seccomp_list.h
$(SECCOMP_LIST): src/host/gen_seccomp.sh $(shell find src include -name '*.cpp' -o -name '*.h')
	@mkdir -p $(dir $@)
	sh src/host/gen_seccomp.sh $@ src include
$(B)/obj/src/host/isolation.o: $(SECCOMP_LIST)

$(B)/obj/src/%.o: src/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(BASEFLAGS) $(DAEMONFLAGS) $(CXXFLAGS) -c $< -o $@

$(B)/obj/test/%.o: test/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(BASEFLAGS) -Itest $(CXXFLAGS) -Wno-shadow -c $< -o $@

$(B)/libpasst.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

passt: $(B)/obj/src/main.o $(B)/libpasst.a
	$(CXX) $(CXXFLAGS) $(DAEMON_LDFLAGS) -o $@ $^

pasta: passt
	ln -sf passt pasta

# The TCP_REPAIR helper (doc/passt-repair.1): its own main, the sandbox
# building blocks of libpasst.
passt-repair: $(B)/obj/src/repair/passt_repair.o $(B)/libpasst.a
	$(CXX) $(CXXFLAGS) $(DAEMON_LDFLAGS) -o $@ $^

# The control socket's client: the protocol's encoder and decoder and libc.
pesto: $(B)/obj/tools/pesto/pesto.o $(B)/obj/src/control/proto.o
	$(CXX) $(CXXFLAGS) -pie -Wl,-z,relro,-z,now -o $@ $^

$(B)/obj/tools/%.o: tools/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(BASEFLAGS) $(CXXFLAGS) -fPIE -c $< -o $@

$(B)/unit_tests: $(UNIT_OBJS) $(B)/libpasst.a
	$(CXX) $(CXXFLAGS) -o $@ $^ $(GTEST_LIBS)

unit: $(B)/unit_tests
	$(B)/unit_tests --gtest_brief=1

# Sanitizer build: its own object tree so it never mixes with the release one.
# (vptr checks need RTTI, which the daemon's objects are built without.)
asan:
	$(MAKE) B=build/asan \
		CXXFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize=vptr -fno-sanitize-recover=all" \
		build/asan/unit_tests
	ASAN_OPTIONS=detect_leaks=1 build/asan/unit_tests --gtest_brief=1

deps:
	test/install-deps.sh

# Tools for benchmarks and tests, not installed: the qemu-free front-end
# (test/perf/frontend.cpp) that test/perf/bench.sh and the integration
# tests connect to passt, and the connection-rate probe of bench.sh's
# latency rows. libc and libstdc++ only.
perf-tools: $(B)/frontend $(B)/connrate

$(B)/frontend: test/perf/frontend.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(BASEFLAGS) $(CXXFLAGS) -o $@ $<

# TCP connections a second through a path (bench.sh's latency rows).
$(B)/connrate: test/perf/connrate.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(BASEFLAGS) $(CXXFLAGS) -o $@ $<

# test_repair.sh's driver: the daemon's side of passt-repair and of
# TCP_REPAIR (src/migrate), on live sockets.
$(B)/repair_driver: test/integration/repair_driver.cpp $(B)/libpasst.a
	@mkdir -p $(dir $@)
	$(CXX) $(BASEFLAGS) $(CXXFLAGS) -o $@ $< $(B)/libpasst.a

integration: all perf-tools $(B)/repair_driver
	test/integration/run.sh

# Each target runs FUZZ_SECONDS (default 20) from its seeds; a crash fails.
fuzz:
	test/fuzz/run.sh

# Fails if an object calls a libc function whose system calls its source
# does not list (test/seccomp/libc_calls.tsv maps functions to calls).
syscalls-check: $(B)/obj/src/main.o $(LIB_OBJS)
	test/seccomp/check_syscalls.sh $(B)

check: deps
	$(MAKE) -j$(NPROC) all perf-tools
	$(MAKE) syscalls-check
	$(MAKE) -j$(NPROC) unit
	$(MAKE) -j$(NPROC) asan
	$(MAKE) fuzz
	$(MAKE) integration

lint:
	test/lint.sh

# clang-format 16 (Debian 12: apt-get install clang-format-16); other
# versions lay out a few constructs differently.
CLANG_FORMAT ?= clang-format-16
FORMAT_SRCS = $(shell find src include test tools -name '*.cpp' -o -name '*.h' | sort)
format:
	$(CLANG_FORMAT) -i --style=file $(FORMAT_SRCS)

# The installed binary carries no debug information (-g is 94% of ./passt);
# the build tree's keeps it for development and tests. Rather than throw it
# away, it goes to a separate file where gdb and the core dump tools look for
# it, named by a .gnu_debuglink in the binary (same directory under
# DEBUGDIR as the binary under /): a crash report from an installed binary
# can still be read. --strip-unneeded keeps the dynamic symbols.
OBJCOPY  ?= objcopy
STRIP    ?= strip
DEBUGDIR ?= /usr/lib/debug
$(B)/passt.debug: passt
	@mkdir -p $(dir $@)
	$(OBJCOPY) --only-keep-debug passt $@
$(B)/passt.stripped: passt $(B)/passt.debug
	$(OBJCOPY) --strip-unneeded --add-gnu-debuglink=$(B)/passt.debug passt $@

# pasta is installed as a copy, not a link: AppArmor and SELinux pick a
# profile by the file executed (after links, and by inode), and pasta has
# its own (contrib/). Both copies name the one passt.debug beside them.
install: all $(B)/passt.stripped $(B)/passt.debug
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(DEBUGDIR)$(BINDIR)
	install -m 755 $(B)/passt.stripped $(DESTDIR)$(BINDIR)/passt
	install -m 755 $(B)/passt.stripped $(DESTDIR)$(BINDIR)/pasta
	install -m 755 -s pesto $(DESTDIR)$(BINDIR)/pesto
	install -m 644 doc/pesto.1 $(DESTDIR)$(MANDIR)/man1/pesto.1
	install -m 644 $(B)/passt.debug $(DESTDIR)$(DEBUGDIR)$(BINDIR)/passt.debug
	install -m 644 doc/passt.1 $(DESTDIR)$(MANDIR)/man1/passt.1
	$(STRIP) -o $(DESTDIR)$(BINDIR)/passt-repair passt-repair
	chmod 755 $(DESTDIR)$(BINDIR)/passt-repair
	install -m 644 doc/passt-repair.1 $(DESTDIR)$(MANDIR)/man1/passt-repair.1
	ln -sf passt.1 $(DESTDIR)$(MANDIR)/man1/pasta.1

clean:
	rm -rf build passt pasta passt-repair pesto

-include $(shell find $(B) -name '*.d' 2>/dev/null)
