// alloc_guard: an LD_PRELOAD library that makes "no heap after the sandbox"
// a checked property (issue 10, item 5; used by test/integration/
// test_no_heap.sh, which builds it with
//	cc -shared -fPIC -O2 -o alloc_guard.so alloc_guard.c -ldl).
//
// It interposes every allocator entry point of glibc (malloc, calloc,
// realloc, reallocarray, aligned_alloc, posix_memalign, memalign, valloc,
// pvalloc; operator new of libstdc++ calls malloc, so it is caught too) and
// prctl(). The daemon enters its sandbox with prctl(PR_SET_NO_NEW_PRIVS)
// immediately followed by the seccomp filter: that prctl() arms the guard
// (in whichever process makes it: pasta's namespace helper arms its own).
// Once armed, any allocation writes
//	alloc_guard: malloc(24) after the sandbox was entered, pid 1234
// and a few "alloc_guard:   #N module+0xOFFSET" lines (feed them to
// addr2line -e MODULE) to fd 2, then ends the process with status 99. The
// report uses write(2) and exit_group(2) only (both in every seccomp
// allowlist) and no stdio, no heap. free() is never flagged. With
// ALLOC_GUARD_NOTE=1 in the environment, arming writes
//	alloc-guard: armed, pid 1234
// (another prefix: not a failure), so that a test can tell that the
// sandbox was entered at all.
//
// Before arming, calls go to the real functions (dlsym(RTLD_NEXT)). dlsym
// may itself call calloc/malloc while we resolve: those get memory from a
// small static bump buffer, which free() and realloc() recognise.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static void *(*real_aligned_alloc)(size_t, size_t);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_memalign)(size_t, size_t);
static void *(*real_valloc)(size_t);
static void *(*real_pvalloc)(size_t);
static void *(*real_reallocarray)(void *, size_t, size_t);
static int (*real_prctl)(int, unsigned long, unsigned long, unsigned long, unsigned long);

static volatile int armed;  // set by prctl(PR_SET_NO_NEW_PRIVS)
static int armed_pid;       // getpid() may not be allowed under seccomp
static int resolving;       // inside dlsym(): allocate from bump[]
static int reporting;       // inside the report: allocate from bump[]
static int note_arming;     // ALLOC_GUARD_NOTE=1: say so when armed

// Bump buffer for dlsym()'s own allocations (and backtrace()'s, should it
// make any while reporting). Never freed; 16-byte aligned chunks.
static _Alignas(16) char bump[16384];
static size_t bump_used;

static int in_bump(const void *p) {
	return (const char *)p >= bump && (const char *)p < bump + sizeof(bump);
}

static void *bump_alloc(size_t n) {
	n = (n + 15) & ~(size_t)15;
	if (n > sizeof(bump) - bump_used)
		return NULL;
	void *p = bump + bump_used;
	bump_used += n;
	return p; // static storage: already zero, as calloc wants
}

static void resolve(void) {
	if (real_malloc)
		return;
	resolving = 1;
	real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
	real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
	real_aligned_alloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "aligned_alloc");
	real_posix_memalign = (int (*)(void **, size_t, size_t))dlsym(RTLD_NEXT, "posix_memalign");
	real_memalign = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "memalign");
	real_valloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "valloc");
	real_pvalloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "pvalloc");
	real_reallocarray = (void *(*)(void *, size_t, size_t))dlsym(RTLD_NEXT, "reallocarray");
	real_prctl = (int (*)(int, unsigned long, unsigned long, unsigned long,
			      unsigned long))dlsym(RTLD_NEXT, "prctl");
	real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc"); // last: the "done" mark
	resolving = 0;
}

// Appends s, or the decimal (hex) digits of v, to buf at *len.
static void put_str(char *buf, size_t *len, size_t cap, const char *s) {
	while (*s && *len < cap)
		buf[(*len)++] = *s++;
}
static void put_num(char *buf, size_t *len, size_t cap, uintptr_t v, unsigned base) {
	char d[24];
	int n = 0;
	do {
		d[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (n && *len < cap)
		buf[(*len)++] = d[--n];
}

// One line on fd 2: head, then "(size)" if what is set, then tail and the pid.
static void say(const char *head, const char *what, size_t size, const char *tail) {
	char line[256];
	size_t len = 0;
	put_str(line, &len, sizeof(line), head);
	if (what) {
		put_str(line, &len, sizeof(line), what);
		put_str(line, &len, sizeof(line), "(");
		put_num(line, &len, sizeof(line), size, 10);
		put_str(line, &len, sizeof(line), ")");
	}
	put_str(line, &len, sizeof(line), tail);
	put_num(line, &len, sizeof(line), (uintptr_t)armed_pid, 10);
	put_str(line, &len, sizeof(line), "\n");
	(void)!write(2, line, len);
}

// The report, then exit_group(99). what is the function's name, size the
// size asked for.
__attribute__((noreturn, noinline)) static void report(const char *what, size_t size) {
	char line[512];
	size_t len;
	reporting = 1;
	say("alloc_guard: ", what, size, " after the sandbox was entered, pid ");

	// Where from: the unwinder was loaded at start-up (see init()), so
	// this makes no system call beyond the writes.
	void *pcs[16];
	int n = backtrace(pcs, 16);
	for (int i = 1; i < n; i++) { // 0 is report() itself
		Dl_info di;
		len = 0;
		put_str(line, &len, sizeof(line), "alloc_guard:   #");
		put_num(line, &len, sizeof(line), (uintptr_t)i, 10);
		put_str(line, &len, sizeof(line), " ");
		if (dladdr(pcs[i], &di) && di.dli_fname) {
			put_str(line, &len, sizeof(line), di.dli_fname);
			put_str(line, &len, sizeof(line), "+0x");
			// -1: the call instruction, not the one after it
			put_num(line, &len, sizeof(line),
				(uintptr_t)pcs[i] - 1 - (uintptr_t)di.dli_fbase, 16);
		} else {
			put_str(line, &len, sizeof(line), "0x");
			put_num(line, &len, sizeof(line), (uintptr_t)pcs[i], 16);
		}
		put_str(line, &len, sizeof(line), "\n");
		(void)!write(2, line, len);
	}
	syscall(SYS_exit_group, 99);
	__builtin_unreachable();
}

#define GUARD(name, size)                                                                  \
	do {                                                                               \
		if (resolving || reporting)                                                \
			return bump_alloc(size);                                           \
		if (armed)                                                                 \
			report(name, size);                                                \
		resolve();                                                                 \
	} while (0)

void *malloc(size_t n) {
	GUARD("malloc", n);
	return real_malloc(n);
}

void *calloc(size_t k, size_t n) {
	GUARD("calloc", k * n);
	return real_calloc(k, n);
}

void *realloc(void *p, size_t n) {
	GUARD("realloc", n);
	if (in_bump(p)) { // from dlsym's time: copy out (its size is unknown,
		void *q = real_malloc(n); // but the buffer's end bounds it)
		if (q) {
			size_t left = (size_t)(bump + sizeof(bump) - (char *)p);
			memcpy(q, p, n < left ? n : left);
		}
		return q;
	}
	return real_realloc(p, n);
}

void *reallocarray(void *p, size_t k, size_t n) {
	GUARD("reallocarray", k * n);
	if (in_bump(p))
		return realloc(p, k * n);
	return real_reallocarray(p, k, n);
}

void free(void *p) {
	if (!p || in_bump(p))
		return;
	resolve();
	real_free(p);
}

void *aligned_alloc(size_t a, size_t n) {
	GUARD("aligned_alloc", n);
	return real_aligned_alloc(a, n);
}

void *memalign(size_t a, size_t n) {
	GUARD("memalign", n);
	return real_memalign(a, n);
}

void *valloc(size_t n) {
	GUARD("valloc", n);
	return real_valloc(n);
}

void *pvalloc(size_t n) {
	GUARD("pvalloc", n);
	return real_pvalloc(n);
}

int posix_memalign(void **out, size_t a, size_t n) {
	if (resolving || reporting) {
		*out = bump_alloc(n);
		return *out ? 0 : ENOMEM;
	}
	if (armed)
		report("posix_memalign", n);
	resolve();
	return real_posix_memalign(out, a, n);
}

// prctl(2) is variadic in glibc; every option takes at most four more
// unsigned long arguments, and reading absent ones is harmless on the ABIs
// we build for.
int prctl(int option, ...) {
	va_list ap;
	va_start(ap, option);
	unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long),
		      a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
	va_end(ap);
	resolve();
	int rc = real_prctl(option, a2, a3, a4, a5);
	if (option == PR_SET_NO_NEW_PRIVS && a2 == 1 && rc == 0) {
		armed_pid = getpid(); // now, before seccomp can forbid it
		armed = 1;
		if (note_arming)
			say("alloc-guard: armed", NULL, 0, ", pid ");
	}
	return rc;
}

// At load time, with the file system still there: resolve the real
// functions and load the unwinder (backtrace() dlopens libgcc_s on first
// use, which would need open(2) under seccomp).
__attribute__((constructor)) static void init(void) {
	void *pc[2];
	const char *note = getenv("ALLOC_GUARD_NOTE");
	resolve();
	backtrace(pc, 2);
	note_arming = note && note[0] == '1';
}
