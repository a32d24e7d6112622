#!/bin/sh
# The format check (.clang-format), then static analysis: clang-tidy
# (checks in .clang-tidy) and cppcheck over the daemon's sources. Any
# finding fails; every file is checked before failing.
set -eu
cd "$(dirname "$0")/.."

# Layout first (.clang-format; `make format` fixes what this reports).
CLANG_FORMAT=${CLANG_FORMAT:-clang-format-16}
echo "lint: $CLANG_FORMAT --dry-run"
find src include test -name '*.cpp' -o -name '*.h' | sort |
	xargs "$CLANG_FORMAT" --dry-run --Werror --style=file

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
# The seccomp allowlists src/host/isolation.cpp includes (see the Makefile).
mkdir -p "$OUT/gen/passt"
sh src/host/gen_seccomp.sh "$OUT/gen/passt/seccomp_list.h" src include
FLAGS="-std=c++20 -Iinclude -I$OUT/gen -D_GNU_SOURCE -DPASST_VERSION=\"lint\""
JOBS=$(nproc 2>/dev/null || echo 2)

find src -name '*.cpp' | sort > "$OUT/files"
echo "lint: clang-tidy on $(wc -l < "$OUT/files") files"
# Each file's findings go to its own log; a non-empty failing log is reported.
# shellcheck disable=SC2016
xargs -P "$JOBS" -I{} sh -c '
	log="$2/$(echo "$1" | tr / _).log"
	clang-tidy --quiet "$1" -- $3 > "$log" 2>&1 || echo "$1" >> "$2/failed"
' sh {} "$OUT" "$FLAGS" < "$OUT/files"

if [ -s "$OUT/failed" ]; then
	for f in $(sort "$OUT/failed"); do
		echo "clang-tidy: findings in $f:"
		grep -E "(warning|error):" "$OUT/$(echo "$f" | tr / _).log" | head -20
	done
	exit 1
fi

echo "lint: cppcheck"
# passedByValue is off: cppcheck asks for const references to Ipv4Addr (4
# bytes) and the like, which are value types meant to be copied; clang-tidy's
# performance-unnecessary-value-param still catches real expensive copies.
cppcheck --quiet --std=c++20 -Iinclude -I"$OUT/gen" -D_GNU_SOURCE --language=c++ \
	--enable=warning,performance,portability --inline-suppr \
	--suppress=missingIncludeSystem --suppress=passedByValue --error-exitcode=1 src
echo "lint: clean"
