#!/bin/bash
# Every system call the daemon's code can make must be in a "#syscalls" line
# of the file that makes it (see src/host/gen_seccomp.sh), or the seccomp
# filter kills the daemon in front of a user. This check fails when it is
# not so, at least for calls made through libc:
#
#   test/seccomp/check_syscalls.sh [BUILD_DIR]     (default: build; run make)
#
# For each object BUILD_DIR/obj/src/X.o of the daemon, the functions it
# calls that no object of ours defines (nm -u) are looked up in
# test/seccomp/libc_calls.tsv, which says what system calls each makes;
# every one of those must appear among the "#syscalls" lines (any mode,
# init or helper) of src/X.cpp or of a project header it includes (from its
# -MMD dependency file). A function missing from the table fails too: it
# has to be classified first. syscall(SYS_name, ...) calls are read from the
# source. One line per problem, then a summary; exit 1 on any problem.
#
# It also prints the allowlist of each mode as this architecture's
# preprocessor resolves it, and notes names that are no system call here
# (expected for another architecture's names, or a typo).
set -u
cd "$(dirname "$0")/../.." || exit 1

B=${1:-build}
TABLE=test/seccomp/libc_calls.tsv
GEN=src/host/gen_seccomp.sh
CXX=${CXX:-g++}
RE_LINE='^[[:space:]]*//[[:space:]]*#syscalls([:[:space:]]|$)'

mapfile -t objs < <(find "$B/obj/src" -name '*.o' 2>/dev/null | LC_ALL=C sort)
if [ ${#objs[@]} -eq 0 ]; then
	echo "check_syscalls: no objects under $B/obj/src: run make first" >&2
	exit 1
fi

problems=0
problem() {
	echo "$*"
	problems=$((problems + 1))
}

# The table's glibc assumptions must hold for this libc.
min=$(sed -n 's/^#min-glibc[[:space:]]*//p' "$TABLE")
have=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
if [ -n "$min" ] && [ -n "$have" ] &&
   [ "$(printf '%s\n%s\n' "$min" "$have" | sort -V | head -n1)" != "$min" ]; then
	problem "$TABLE: written for glibc >= $min, this is $have: check its rows with strace"
fi

# symbol -> "call,call" or "-"
declare -A table
while read -r sym calls _; do
	table[$sym]=$calls
done < <(sed -e 's/#.*//' "$TABLE" | awk 'NF >= 2 {print $1, $2}')

# Every symbol an object of ours defines.
declare -A ours
while read -r sym; do
	ours[$sym]=1
done < <(nm --defined-only "${objs[@]}" 2>/dev/null | awk 'NF == 3 {print $3}' | sort -u)

# Names in the #syscalls lines of the given files, one per line.
annotated() {
	grep -hE "$RE_LINE" "$@" 2>/dev/null |
		sed -E 's|^[[:space:]]*//[[:space:]]*#syscalls(:[^[:space:]]*)?||' |
		tr -s '[:blank:]|' '\n' | grep -v '^$' | sort -u
}

checked=0
calls_seen=0
for o in "${objs[@]}"; do
	rel=${o#"$B"/obj/}
	src=${rel%.o}.cpp
	if [ ! -f "$src" ]; then
		echo "note: $o: no $src (stale object), skipped"
		continue
	fi
	files=("$src")
	dep=${o%.o}.d
	if [ -f "$dep" ]; then
		while read -r h; do
			[ "$h" != "$src" ] && [ -f "$h" ] && files+=("$h")
		done < <(sed -e 's/\\$//' -e 's/^[^:]*://' "$dep" | tr ' ' '\n' |
			 grep -E '^(include|src)/' | sort -u)
	fi
	declare -A have_call=()
	while read -r n; do
		have_call[$n]=1
	done < <(annotated "${files[@]}")

	while read -r sym; do
		[ -n "$sym" ] || continue
		[ -n "${ours[$sym]:-}" ] && continue
		if [ -z "${table[$sym]+x}" ]; then
			problem "$src: $sym: not in $TABLE: classify it (which system calls does it make?)"
			continue
		fi
		want=${table[$sym]}
		if [ "$sym" = syscall ]; then
			want=$(grep -ohE 'syscall\([[:space:]]*(SYS|__NR)_[a-z0-9_]+' "${files[@]}" |
			       sed -E 's/.*(SYS|__NR)_//' | sort -u | paste -sd, -)
		fi
		[ "$want" = - ] && continue
		IFS=, read -ra list <<<"$want"
		for call in "${list[@]}"; do
			calls_seen=$((calls_seen + 1))
			[ -n "${have_call[$call]:-}" ] && continue
			problem "$src: $sym() makes $call: list it in a #syscalls line of $src (:init if only before the sandbox)"
		done
	done < <(nm -u "$o" | awk '{print $NF}' | sed 's/@.*//' | sort -u)
	unset have_call
	checked=$((checked + 1))
done

# The daemon links libstdc++ and libgcc statically: the libc functions the
# binary imports that no object of ours does are theirs, reached only
# through the runtime entry points classified above. Shown, not checked.
bin=${PASST_BIN:-passt}
if [ "$B" = build ] && [ -f "$bin" ]; then
	runtime=$(nm -D -u "$bin" 2>/dev/null | awk '{print $NF}' | sed 's/@.*//' | sort -u |
		  comm -23 - <(nm -u "${objs[@]}" 2>/dev/null | awk '$1 == "U" {print $2}' |
			       sed 's/@.*//' | sort -u) |
		  grep -vE '^(__libc_start_main|__cxa_finalize|__gmon_start__|_ITM_.*)$' |
		  paste -sd' ' -)
	[ -n "$runtime" ] && echo "note: $bin imports for its static C++ runtime: $runtime"
fi

# The allowlists as this architecture resolves them.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if sh "$GEN" "$tmp/seccomp_list.h" src include; then
	arch=$(uname -m)
	"$CXX" -E -P -x c++ "$tmp/seccomp_list.h" 2>/dev/null | awk -v arch="$arch" '
		/inline constexpr Entry/ { m = $4; sub(/\[\].*/, "", m); n = 0; l = ""; next }
		/^\{[0-9]+, "/ { split($0, f, "\""); l = l " " f[2]; n++; next }
		/^\};/ && m != "" { printf "allowlist %s (%s): %d:%s\n", m, arch, n, l; m = "" }'
	# Names in filter lines that this architecture does not have.
	printf '#include <sys/syscall.h>\n' | "$CXX" -E -dM -x c++ - 2>/dev/null |
		sed -n 's/^#define __NR_\([a-z0-9_]*\) .*/\1/p' | sort -u >"$tmp/nr"
	grep -rhE --include='*.cpp' --include='*.h' "$RE_LINE" src include |
		grep -vE '#syscalls:(init|helper)([[:space:]]|$)' |
		sed -E 's|^[[:space:]]*//[[:space:]]*#syscalls(:[^[:space:]]*)?||' |
		tr -s '[:blank:]|' '\n' | grep -v '^$' | sort -u >"$tmp/used"
	unknown=$(comm -23 "$tmp/used" "$tmp/nr" | paste -sd' ' -)
	[ -n "$unknown" ] && echo "note: not system calls on $(uname -m) (left out here): $unknown"
else
	problem "$GEN failed on the #syscalls lines"
fi

echo "check_syscalls: $checked objects, $calls_seen libc system calls checked, $problems problem(s)"
[ "$problems" -eq 0 ]
