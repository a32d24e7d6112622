#!/bin/bash
# Build every test/fuzz/fuzz_*.cpp as a libFuzzer target (clang, ASan + UBSan)
# and run each one briefly; exit 1 if a target fails to build or finds a crash.
#
# Every target is linked against an archive of src/net/*.cpp and
# src/services/*.cpp (only the members it needs are pulled in). A target that
# needs more declares it in a comment line of its own source:
#     // FUZZ_SRCS: src/services/dhcp.cpp src/core/log.cpp
# A target taking whole frames (up to 64 KiB) asks for a larger input limit
# than the default -max_len=2048 the same way:
#     // FUZZ_MAX_LEN: 65600
# Seeds: test/fuzz/seeds/<target>.hex, one input per line as hex ('#' comments).
#
# Environment: FUZZ_SECONDS (run time per target, default 20), FUZZ_TARGETS
# (names to run, default all), FUZZ_CXX (default clang++), FUZZ_OUT (build
# directory, default build/fuzz; the corpus kept there grows across runs).
set -u
cd "$(dirname "$0")/../.." || exit 1

OUT=${FUZZ_OUT:-build/fuzz}
SECS=${FUZZ_SECONDS:-20}
CXX=${FUZZ_CXX:-clang++}
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"
CXXFLAGS="-std=c++20 -O1 -g -Iinclude -Itest -Itest/fuzz -D_GNU_SOURCE -DPASST_VERSION=\"fuzz\" $SAN"
RT_PKG=libclang-rt-14-dev

mkdir -p "$OUT/obj" "$OUT/bin" "$OUT/logs" "$OUT/corpus" "$OUT/seeds" "$OUT/artifacts"

# --- toolchain probe -------------------------------------------------------
if ! command -v "$CXX" >/dev/null 2>&1; then
	echo "fuzz: $CXX not found (apt-get install clang-14 $RT_PKG)" >&2
	exit 1
fi
printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char *, unsigned long) { return 0; }\n' \
	>"$OUT/probe.cpp"
if ! "$CXX" -fsanitize=fuzzer,address,undefined "$OUT/probe.cpp" -o "$OUT/probe" \
	>"$OUT/logs/probe.log" 2>&1; then
	echo "fuzz: $CXX cannot link -fsanitize=fuzzer: the libFuzzer runtime" \
	     "(libclang_rt.fuzzer) is missing; install it with: apt-get install $RT_PKG" >&2
	cat "$OUT/logs/probe.log" >&2
	exit 1
fi

# --- compile ---------------------------------------------------------------
# Object path for a source; rebuilt when the source or any header is newer.
obj_of() { echo "$OUT/obj/${1%.cpp}.o"; }
compile() {
	local src=$1 obj
	obj=$(obj_of "$src")
	if [ -f "$obj" ] && [ "$obj" -nt "$src" ] &&
	   [ -z "$(find include test/fuzz -name '*.h' -newer "$obj" -print -quit)" ]; then
		return 0
	fi
	mkdir -p "$(dirname "$obj")"
	if ! $CXX $CXXFLAGS -fsanitize=fuzzer-no-link -c "$src" -o "$obj" \
		>"$OUT/logs/compile.log" 2>&1; then
		echo "fuzz: FAILED to compile $src" >&2
		cat "$OUT/logs/compile.log" >&2
		rm -f "$obj"
		return 1
	fi
}

failed=()
common=()
for src in src/net/*.cpp src/services/*.cpp; do
	[ -f "$src" ] || continue
	if compile "$src"; then
		common+=("$(obj_of "$src")")
	else
		failed+=("compile:$src")
	fi
done
rm -f "$OUT/libfuzzsrc.a"
ar rcs "$OUT/libfuzzsrc.a" "${common[@]}"

# --- hex seeds -> files ----------------------------------------------------
make_seeds() {
	local name=$1 hexfile=test/fuzz/seeds/$1.hex dir=$OUT/seeds/$1 i=0 line
	[ -f "$hexfile" ] || return 1
	rm -rf "$dir"
	mkdir -p "$dir"
	while read -r line; do
		case "$line" in '' | '#'*) continue ;; esac
		i=$((i + 1))
		printf '%b' "$(printf '%s' "$line" | tr -d ' ' | sed 's/../\\x&/g')" >"$dir/seed$i"
	done <"$hexfile"
	return 0
}

# --- build and run each target ----------------------------------------------
results=()
for tsrc in test/fuzz/fuzz_*.cpp; do
	name=$(basename "$tsrc" .cpp)
	if [ -n "${FUZZ_TARGETS:-}" ] && ! [[ " $FUZZ_TARGETS " == *" $name "* ]]; then
		continue
	fi
	objs=()
	ok=1
	compile "$tsrc" || ok=0
	objs+=("$(obj_of "$tsrc")")
	for extra in $(sed -n 's#^//[[:space:]]*FUZZ_SRCS:##p' "$tsrc"); do
		if [ ! -f "$extra" ]; then
			echo "fuzz: $name: FUZZ_SRCS file $extra not found" >&2
			ok=0
			continue
		fi
		compile "$extra" || ok=0
		objs+=("$(obj_of "$extra")")
	done
	if [ $ok = 1 ] && ! $CXX $SAN -fsanitize=fuzzer "${objs[@]}" "$OUT/libfuzzsrc.a" \
		-o "$OUT/bin/$name" >"$OUT/logs/$name.link.log" 2>&1; then
		echo "fuzz: FAILED to link $name" >&2
		cat "$OUT/logs/$name.link.log" >&2
		ok=0
	fi
	if [ $ok = 0 ]; then
		failed+=("build:$name")
		results+=("$name: BUILD FAILED")
		continue
	fi

	mkdir -p "$OUT/corpus/$name"
	dirs=("$OUT/corpus/$name")
	make_seeds "$name" && dirs+=("$OUT/seeds/$name")
	maxlen=$(sed -n 's#^//[[:space:]]*FUZZ_MAX_LEN:[[:space:]]*\([0-9]*\).*#\1#p' "$tsrc" | head -n 1)
	echo "fuzz: running $name for ${SECS}s (max_len ${maxlen:-2048})"
	if "$OUT/bin/$name" -max_len="${maxlen:-2048}" -max_total_time="$SECS" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$OUT/artifacts/$name-" "${dirs[@]}" \
		>"$OUT/logs/$name.log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/logs/$name.log")
		results+=("$name: ok (${runs:-?} runs)")
	else
		echo "fuzz: $name FAILED; log tail ($OUT/logs/$name.log):" >&2
		tail -n 40 "$OUT/logs/$name.log" >&2
		failed+=("run:$name")
		results+=("$name: CRASH (see $OUT/artifacts/$name-*)")
	fi
done

echo "fuzz results:"
for r in "${results[@]}"; do
	echo "  $r"
done
if [ ${#failed[@]} -ne 0 ]; then
	echo "fuzz: failures: ${failed[*]}" >&2
	exit 1
fi
exit 0
