#!/bin/sh
# Static analysis: clang-tidy (checks in .clang-tidy) and cppcheck over the
# daemon's sources. Any finding fails.
set -eu
cd "$(dirname "$0")/.."

FLAGS="-std=c++20 -Iinclude -D_GNU_SOURCE -DPASST_VERSION=\"lint\""
SRCS=$(find src -name '*.cpp' | sort)
JOBS=$(nproc 2>/dev/null || echo 2)

echo "lint: clang-tidy on $(echo "$SRCS" | wc -l) files"
# shellcheck disable=SC2086
printf '%s\n' $SRCS | xargs -P "$JOBS" -I{} sh -c \
	"clang-tidy --quiet {} -- $FLAGS 2>/dev/null || { echo 'clang-tidy: {} failed'; exit 255; }"

echo "lint: cppcheck"
cppcheck --quiet --std=c++20 -Iinclude -D_GNU_SOURCE --language=c++ \
	--enable=warning,performance,portability --inline-suppr \
	--suppress=missingIncludeSystem --error-exitcode=1 src
echo "lint: clean"
