#!/bin/bash
# Runs the integration tests: every test/integration/test_*.sh (or the ones
# named), each under `timeout`, and prints PASS / FAIL / SKIP per test and a
# summary. Exit status 1 if any test failed.
#
#   run.sh [-t SECONDS] [-v] [NAME...]
#     -t SECONDS  per-test timeout (default: $PASST_TEST_TIMEOUT or 300)
#     -v          print every test's output, not only failed ones
#     NAME        test_foo.sh, test_foo or foo
# Logs are kept in $PASST_TEST_LOGDIR if set (one NAME.log per test).
# A test that needs longer than the default (several qemu boots under TCG)
# says so in a line "# run.sh timeout: SECONDS" of its own; it gets the
# larger of that and the default.

set -u
cd "$(dirname "$0")" || exit 1

timeout_s=${PASST_TEST_TIMEOUT:-300}
verbose=0
while getopts "t:v" opt; do
	case $opt in
	t) timeout_s=$OPTARG ;;
	v) verbose=1 ;;
	*) echo "usage: $0 [-t SECONDS] [-v] [NAME...]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))

tests=()
if [ $# -eq 0 ]; then
	for t in test_*.sh; do
		[ -e "$t" ] && tests+=("$t")
	done
else
	for n in "$@"; do
		n=${n%.sh}
		n=${n#test_}
		[ -f "test_$n.sh" ] || { echo "no such test: $n" >&2; exit 2; }
		tests+=("test_$n.sh")
	done
fi
if [ ${#tests[@]} -eq 0 ]; then
	echo "no tests found" >&2
	exit 1
fi

if [ -n "${PASST_TEST_LOGDIR:-}" ]; then
	logdir=$PASST_TEST_LOGDIR
	mkdir -p "$logdir" || exit 1
else
	logdir=$(mktemp -d) || exit 1
	trap 'rm -rf "$logdir"' EXIT
fi

pass=0 failed=0 skipped=0
failed_names=()
for t in "${tests[@]}"; do
	name=${t%.sh}
	log="$logdir/$name.log"
	t_timeout=$timeout_s
	own=$(sed -n 's/^# run\.sh timeout: \([0-9][0-9]*\)$/\1/p' "$t" | head -n 1)
	[ -n "$own" ] && [ "$own" -gt "$t_timeout" ] && t_timeout=$own
	start=$SECONDS
	timeout --kill-after=10 "$t_timeout" bash "$t" > "$log" 2>&1 < /dev/null
	rc=$?
	dur=$(( SECONDS - start ))
	case $rc in
	0)
		result=PASS
		pass=$((pass + 1))
		;;
	77)
		reason=$(sed -n 's/^SKIP: [^:]*: //p' "$log" | tail -n 1)
		result="SKIP${reason:+ ($reason)}"
		skipped=$((skipped + 1))
		;;
	124 | 137)
		result="FAIL (timeout after ${t_timeout}s)"
		failed=$((failed + 1))
		failed_names+=("$name")
		;;
	*)
		result="FAIL (exit status $rc)"
		failed=$((failed + 1))
		failed_names+=("$name")
		;;
	esac
	printf '%-40s %s [%ds]\n' "$name" "$result" "$dur"
	if [ "$verbose" = 1 ] || [ "${result#FAIL}" != "$result" ]; then
		sed 's/^/    | /' "$log"
	fi
done

echo "----"
echo "$pass passed, $failed failed, $skipped skipped (of ${#tests[@]})"
if [ "$failed" -gt 0 ]; then
	echo "failed: ${failed_names[*]}"
	# Again at the very end, where a CI log cut to its tail still shows why.
	for name in "${failed_names[@]}"; do
		echo "---- last 60 lines of $name"
		tail -n 60 "$logdir/$name.log" | sed 's/^/    | /'
	done
	echo "failed: ${failed_names[*]}"
	exit 1
fi
exit 0
