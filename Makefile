# passt / pasta, C++ implementation. See README.md.
#
#   make              build ./passt and the ./pasta symlink
#   make check        install missing test packages, run every test suite
#   make unit         googletest unit tests only
#   make asan         unit tests under AddressSanitizer + UBSan
#   make fuzz         build the libFuzzer targets (clang) and run each briefly
#   make lint         clang-tidy and cppcheck over the sources
#   make syscalls-check  every libc call's system calls are in a #syscalls line
#   make install      install binaries (pasta as a copy) and man page

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
DAEMONFLAGS = -fno-exceptions -fno-rtti

B        := build
LIB_SRCS := $(shell find src -name '*.cpp' ! -name main.cpp | sort)
LIB_OBJS := $(LIB_SRCS:%.cpp=$(B)/obj/%.o)
UNIT_SRCS:= $(sort $(wildcard test/unit/*.cpp))
UNIT_OBJS:= $(UNIT_SRCS:%.cpp=$(B)/obj/%.o)

GTEST_LIBS := -lgtest -lgtest_main -lpthread
NPROC    := $(shell nproc 2>/dev/null || echo 2)

.PHONY: all clean check unit asan fuzz lint install integration deps syscalls-check
all: passt pasta

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
	$(CXX) $(BASEFLAGS) $(CXXFLAGS) -Wno-shadow -c $< -o $@

$(B)/libpasst.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

passt: $(B)/obj/src/main.o $(B)/libpasst.a
	$(CXX) $(CXXFLAGS) -pie -Wl,-z,relro,-z,now -o $@ $^

pasta: passt
	ln -sf passt pasta

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

integration: all
	test/integration/run.sh

# Each target runs FUZZ_SECONDS (default 20) from its seeds; a crash fails.
fuzz:
	test/fuzz/run.sh

# Fails if an object calls a libc function whose system calls its source
# does not list (test/seccomp/libc_calls.tsv maps functions to calls).
syscalls-check: $(B)/obj/src/main.o $(LIB_OBJS)
	test/seccomp/check_syscalls.sh $(B)

check: deps
	$(MAKE) -j$(NPROC) all
	$(MAKE) syscalls-check
	$(MAKE) -j$(NPROC) unit
	$(MAKE) -j$(NPROC) asan
	$(MAKE) fuzz
	$(MAKE) integration

lint:
	test/lint.sh

# pasta is installed as a copy, not a link: AppArmor and SELinux pick a
# profile by the file executed (after links, and by inode), and pasta has
# its own (contrib/).
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 755 passt $(DESTDIR)$(BINDIR)/passt
	install -m 755 passt $(DESTDIR)$(BINDIR)/pasta
	install -m 644 doc/passt.1 $(DESTDIR)$(MANDIR)/man1/passt.1
	ln -sf passt.1 $(DESTDIR)$(MANDIR)/man1/pasta.1

clean:
	rm -rf build passt pasta

-include $(shell find $(B) -name '*.d' 2>/dev/null)
